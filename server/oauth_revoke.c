/* POST /oauth/revoke (RFC 7009). An access token goes on the denylist until it expires. Tokens
 * that are not idpd's, malformed or already expired answer 200 and change nothing (§2.2). */
#define LOG_MODULE "oauth"

#include <string.h>

#include "server/internal.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

struct deny {
    const char *jti;
    int64_t exp;
};

static int deny_txn(struct store_txn *txn, void *arg)
{
    struct deny *d = arg;
    return store_deny_add(txn, d->jti, d->exp);
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
    enum srv_token_state st = srv_token_check(ctx, token, strlen(token), &claims);
    if (st == SRV_TOKEN_ACTIVE || st == SRV_TOKEN_NO_PRINCIPAL || st == SRV_TOKEN_REVOKED) {
        const char *owner = json_string_value(json_object_get(claims, "client_id"));
        if (!owner || strcmp(owner, call->client.sa.id) != 0) {
            json_decref(claims);
            srv_reply_oauth_error(rq, 400, "unauthorized_client",
                                  "the token was not issued to this client");
            return;
        }
        struct deny d = {json_string_value(json_object_get(claims, "jti")),
                         json_integer_value(json_object_get(claims, "exp"))};
        int src = store_write(ctx->store, deny_txn, &d);
        if (src != STORE_OK) {
            LOG(SRV_LOG_ERROR, "denylist write failed: %s", store_strerror(src));
            json_decref(claims);
            srv_reply_oauth_error(rq, 503, "temporarily_unavailable", "revocation failed");
            return;
        }
        LOG(SRV_LOG_INFO, "access token %s revoked by %s", d.jti, call->client.sa.id);
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
