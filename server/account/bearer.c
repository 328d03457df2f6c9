/* Bearer authentication of idpd's own user endpoints (RFC 6750): the access token must verify,
 * be a user's, and its session and user must still be good, so logout, disable and delete take
 * effect at once rather than when the token expires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/account/account.h"

int srv_bearer_user_or_error(struct srv_request *rq, struct srv_user_caller *out)
{
    const char *auth = srv_rq_header(rq, "Authorization");
    json_t *claims = NULL;
    memset(out, 0, sizeof *out);
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_reply_bearer_challenge(rq, NULL, "a bearer access token is required");
        return SRV_ERESPONDED;
    }
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    enum srv_token_state st =
        srv_token_check(srv_rq_ctx(rq), token, strlen(token), srv_rq_ctx(rq)->issuer, &claims);
    if (st == SRV_TOKEN_UNAVAILABLE) {
        json_decref(claims);
        srv_reply_problem(rq, 503, "the token cannot be checked now; retry shortly");
        return SRV_ERESPONDED;
    }
    if (st != SRV_TOKEN_ACTIVE) {
        json_decref(claims);
        srv_reply_bearer_challenge(rq, "invalid_token",
                                   st == SRV_TOKEN_EXPIRED   ? "the access token has expired"
                                   : st == SRV_TOKEN_REVOKED ? "the access token was revoked"
                                   : st == SRV_TOKEN_AUDIENCE
                                       ? "the access token is for another audience: ask for one "
                                         "with resource set to idpd's issuer"
                                   : st == SRV_TOKEN_NO_PRINCIPAL
                                       ? "the session has ended or the user is disabled or deleted"
                                       : "the access token is not valid");
        return SRV_ERESPONDED;
    }
    if (!srv_cors_client_or_error(rq, json_string_value(json_object_get(claims, "client_id")))) {
        json_decref(claims);
        return SRV_ERESPONDED;
    }
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
