/* Bearer authentication of idpd's own user endpoints (RFC 6750): the access token must verify,
 * be a user's, and its session and user must still be good, so logout, disable and delete take
 * effect at once rather than when the token expires. */
#include <string.h>

#include "server/account/account.h"

/* /v1 tells the user why its token no longer works: sign in again, or ask for another one. */
static const struct srv_bearer_refusals refusals = {
    .invalid = "the access token is not valid",
    .expired = "the access token has expired",
    .revoked = "the access token was revoked",
    .no_principal = "the session has ended or the user is disabled or deleted",
    .audience = "the access token is for another audience: ask for one with resource set to "
                "idpd's issuer",
};

int srv_bearer_user_or_error(struct srv_request *rq, struct srv_user_caller *out)
{
    json_t *claims = NULL;
    memset(out, 0, sizeof *out);
    if (srv_bearer_token_or_error(rq, srv_rq_ctx(rq)->issuer, &refusals, &claims) != SRV_OK)
        return SRV_ERESPONDED;
    const char *type = json_string_value(json_object_get(claims, "principal_type"));
    if (!type || strcmp(type, "user") != 0) {
        json_decref(claims);
        srv_reply_problem(rq, 403, "this endpoint is for users; a service account has no profile");
        return SRV_ERESPONDED;
    }
    out->claims = claims;
    out->user_id = json_string_value(json_object_get(claims, "sub"));
    out->sid = json_string_value(json_object_get(claims, "sid"));
    out->client_id = json_string_value(json_object_get(claims, "client_id"));
    srv_rq_log_client(rq, out->client_id);
    return SRV_OK;
}

void srv_user_caller_clear(struct srv_user_caller *c)
{
    json_decref(c->claims);
    memset(c, 0, sizeof *c);
}
