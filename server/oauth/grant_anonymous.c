/* grant_type=urn:idpd:grant-type:anonymous: an application starts a user with no credentials
 * (Atlas App Services' anonymous provider). The user, its anon-user identity, the session and
 * the audit event are one write transaction. The user can later link an email/password identity
 * and keep its id and everything attached to it. */
#define LOG_MODULE "oauth"

#include <stdio.h>
#include <string.h>

#include "server/oauth/oauth.h"

struct anon_args {
    struct srv_request *rq;
    struct store_user *user;
    struct store_identity *identity;
    struct store_session *session;
    struct srv_session_roles roles;
};

static int anon_txn(struct store_txn *txn, void *arg)
{
    struct anon_args *a = arg;
    int rc = store_user_insert(txn, a->user);
    if (rc == STORE_OK)
        rc = store_identity_insert(txn, a->identity);
    if (rc == STORE_OK)
        rc = store_session_insert(txn, a->session);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.login", a->user->id, a->session->id, srv_rq_client_ip(a->rq), 1,
                       "anon-user (new user)");
    if (rc == STORE_OK)
        rc = srv_session_roles_txn(txn, a->user->id, &a->roles);
    return rc;
}

void srv_grant_anonymous(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct store_user user = {0};
    struct store_identity identity = {0};
    struct store_session session;
    struct anon_args a = {rq, &user, &identity, &session, {0}};
    char refresh[SRV_REFRESH_LEN] = "";
    const char *scope = srv_form_get(&call->form, "scope");
    if (!srv_app_allows_or_error(rq, &call->client, "urn:idpd:grant-type:anonymous") ||
        srv_user_scope_valid_or_error(rq, scope) != SRV_OK)
        return;
    user.created_at = user.updated_at = identity.created_at = srv_now();
    user.anonymous = 1;
    snprintf(identity.provider, sizeof identity.provider, "anon-user");
    if (crypto_id_new("usr", user.id, sizeof user.id) != CRYPTO_OK ||
        crypto_id_new("idn", identity.id, sizeof identity.id) != CRYPTO_OK ||
        crypto_id_new("anon", identity.provider_id, sizeof identity.provider_id) != CRYPTO_OK ||
        srv_session_new(rq, user.id, call->client.id, "anon", scope, &session, refresh) != SRV_OK) {
        srv_reply_oauth_error(rq, 500, "server_error", "no user could be made");
        goto out;
    }
    memcpy(identity.user_id, user.id, sizeof identity.user_id);
    int rc = store_write(ctx->store, anon_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the user could not be saved");
        goto out;
    }
    srv_reply_session_tokens(rq, &user, &session, refresh, srv_form_get(&call->form, "nonce"),
                             &a.roles);
out:
    srv_session_roles_clear(&a.roles);
    crypto_wipe(refresh, sizeof refresh);
}
