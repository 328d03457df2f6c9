/* POST /oauth/revoke (RFC 7009). A refresh token ends its session (logout); an access token goes
 * on the denylist until it expires. Tokens that are not idpd's, malformed or already expired
 * answer 200 and change nothing (§2.2). A client revokes only what was issued to it. */
#define LOG_MODULE "oauth"

#include <stdio.h>
#include <string.h>

#include "server/oauth/oauth.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

struct deny {
    const char *jti;
    int64_t exp;
    const char *client_id;
    const char *sub;
    const char *ip;
};

static int deny_txn(struct store_txn *txn, void *arg)
{
    struct deny *d = arg;
    char detail[96];
    int rc = store_deny_add(txn, d->jti, d->exp);
    snprintf(detail, sizeof detail, "access token %s", d->jti); /* the jti names, never grants */
    return rc ? rc : srv_audit(txn, "token.revoke", d->client_id, d->sub, d->ip, 1, detail);
}

struct end_session {
    struct srv_request *rq;
    const char *client_id;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    int other_client;
};

static int end_session_txn(struct store_txn *txn, void *arg)
{
    struct end_session *e = arg;
    struct store_session s;
    char sid[STORE_ID_MAX];
    int superseded = 0;
    int rc = store_session_find_refresh(txn, e->hash, sid, &superseded);
    if (rc == STORE_NOTFOUND)
        return STORE_OK; /* unknown or already ended: nothing to do */
    if (rc == STORE_OK)
        rc = store_session_get(txn, sid, &s);
    if (rc != STORE_OK)
        return rc;
    if (s.browser) /* an SSO cookie is no refresh token: unknown, as RFC 7009 answers those */
        return STORE_OK;
    if (strcmp(s.client_id, e->client_id) != 0) {
        e->other_client = 1;
        return STORE_OK;
    }
    rc = store_session_delete(txn, sid);
    return rc ? rc
              : srv_audit(txn, "session.revoke", s.user_id, sid, srv_rq_client_ip(e->rq), 1,
                          "refresh token revoked by its application");
}

/* Refresh tokens are opaque and carry no dot; idpd's access tokens are JWTs. */
static void revoke_refresh(struct srv_request *rq, const char *token)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct end_session e = {rq, call->client.id, {0}, 0};
    crypto_sha256(token, strlen(token), e.hash);
    int src = store_write(srv_rq_ctx(rq)->store, end_session_txn, &e);
    if (src != STORE_OK) {
        srv_reply_store_failure(rq, src, "revocation failed");
        return;
    }
    if (e.other_client) {
        srv_reply_oauth_error(rq, 400, "unauthorized_client",
                              "the token was not issued to this client");
        return;
    }
    srv_reply(rq, 200, NULL, "", 0, no_store);
}

static void revoke(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *token = srv_form_get(&call->form, "token");
    json_t *claims = NULL;
    if (!token) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "token is required");
        return;
    }
    if (!strchr(token, '.')) {
        revoke_refresh(rq, token);
        return;
    }
    enum srv_token_state st = srv_token_check(ctx, token, strlen(token), NULL, &claims);
    if (st == SRV_TOKEN_UNAVAILABLE) {
        json_decref(claims);
        srv_reply_oauth_error(rq, 503, "temporarily_unavailable",
                              "the token cannot be checked now");
        return;
    }
    if (st == SRV_TOKEN_ACTIVE || st == SRV_TOKEN_NO_PRINCIPAL || st == SRV_TOKEN_REVOKED) {
        const char *owner = json_string_value(json_object_get(claims, "client_id"));
        if (!owner || strcmp(owner, call->client.id) != 0) {
            json_decref(claims);
            srv_reply_oauth_error(rq, 400, "unauthorized_client",
                                  "the token was not issued to this client");
            return;
        }
        struct deny d = {json_string_value(json_object_get(claims, "jti")),
                         json_integer_value(json_object_get(claims, "exp")), call->client.id,
                         json_string_value(json_object_get(claims, "sub")), srv_rq_client_ip(rq)};
        int src = store_write(ctx->store, deny_txn, &d);
        if (src != STORE_OK) {
            json_decref(claims);
            srv_reply_store_failure(rq, src, "revocation failed");
            return;
        }
        LOG(SRV_LOG_INFO, "access token %s revoked by %s", d.jti, call->client.id);
    }
    json_decref(claims);
    srv_reply(rq, 200, NULL, "", 0, no_store);
}

void srv_handle_revoke(struct srv_request *rq)
{
    if (!srv_oauth_call_begin_or_error(rq))
        return;
    srv_client_authenticate(rq, revoke);
}
