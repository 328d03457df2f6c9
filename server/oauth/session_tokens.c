/* The token answer of every user grant: an access token with the user's effective roles as they
 * are now (team grants count), the refresh token, and an ID token when the session's scope has
 * openid. It reads nothing from the store: the grant's own write transaction read the roles, so
 * once that committed the answer cannot fail for want of the database. */
#include <stdlib.h>

#include "server/oauth/oauth.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

void srv_reply_session_tokens(struct srv_request *rq, const struct store_user *u,
                              const struct store_session *s, const char *refresh, const char *nonce,
                              const struct srv_session_roles *roles)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    struct srv_issued_token tok = {0};
    char *id_token = NULL;
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_principal p = {
        .sub = u->id,
        .principal_type = "user",
        .client_id = s->client_id,
        .scope = s->scope[0] ? s->scope : NULL,
        .audience = call->audience,
        .roles = roles->roles,
        .nroles = roles->n,
        .sid = s->id,
        .auth_time = s->created_at,
        .amr = s->amr,
    };
    if (srv_token_issue(ctx, &p, &tok) != SRV_OK ||
        (srv_scope_has(s->scope, "openid") &&
         srv_id_token_issue(ctx, u, s->client_id, s->id, s->created_at, nonce, &id_token) !=
             SRV_OK)) {
        srv_reply_oauth_error(rq, 500, "server_error", "the tokens could not be signed");
        goto out;
    }
    json_t *body =
        json_pack("{s:s, s:s, s:I, s:s}", "access_token", tok.access_token, "token_type", "Bearer",
                  "expires_in", (json_int_t)(tok.exp - tok.iat), "refresh_token", refresh);
    if (body && id_token)
        json_object_set_new(body, "id_token", json_string(id_token));
    if (body && s->scope[0])
        json_object_set_new(body, "scope", json_string(s->scope));
    srv_reply_json(rq, 200, body, no_store);
out:
    free(tok.access_token);
    free(id_token);
}
