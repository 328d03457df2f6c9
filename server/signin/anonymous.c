/* Anonymous users (Atlas App Services' anon-user provider): an application starts a user with
 * no credentials. The user, its anon-user identity, the session and the audit event are one write
 * transaction. The token endpoint's grant and the App Services client API share it. */
#include <string.h>

#include "server/signin/signin.h"

struct anon_args {
    struct srv_request *rq;
    struct srv_anonymous *a;
};

static int anon_txn(struct store_txn *txn, void *arg)
{
    struct anon_args *x = arg;
    struct srv_anonymous *a = x->a;
    int rc = store_user_insert(txn, &a->user);
    if (rc == STORE_OK)
        rc = store_identity_insert(txn, &a->identity);
    if (rc == STORE_OK)
        rc = store_session_insert(txn, &a->session);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.login", a->user.id, a->session.id, srv_rq_client_ip(x->rq), 1,
                       "anon-user (new user)");
    if (rc == STORE_OK)
        rc = srv_session_roles_txn(txn, a->user.id, &a->roles);
    return rc;
}

int srv_anonymous_login(struct srv_request *rq, const char *client_id, const char *scope,
                        const char *device_id, struct srv_anonymous *a)
{
    memset(a, 0, sizeof *a);
    a->user.created_at = a->user.updated_at = a->identity.created_at = srv_now();
    a->user.anonymous = 1;
    snprintf(a->identity.provider, sizeof a->identity.provider, "anon-user");
    if (crypto_id_new("usr", a->user.id, sizeof a->user.id) != CRYPTO_OK ||
        crypto_id_new("idn", a->identity.id, sizeof a->identity.id) != CRYPTO_OK ||
        crypto_id_new("anon", a->identity.provider_id, sizeof a->identity.provider_id) !=
            CRYPTO_OK ||
        srv_session_new(rq, a->user.id, client_id, "anon", scope, &a->session, a->refresh) !=
            SRV_OK)
        return STORE_ENOMEM;
    memcpy(a->identity.user_id, a->user.id, sizeof a->identity.user_id);
    if (device_id)
        snprintf(a->session.device_id, sizeof a->session.device_id, "%s", device_id);
    struct anon_args x = {rq, a};
    return store_write(srv_rq_ctx(rq)->store, anon_txn, &x);
}

void srv_anonymous_clear(struct srv_anonymous *a)
{
    srv_session_roles_clear(&a->roles);
    store_user_clear(&a->user);
    crypto_wipe(a, sizeof *a);
}
