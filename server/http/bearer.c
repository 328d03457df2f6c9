/* Bearer tokens of idpd's own APIs (RFC 6750): reading "Authorization: Bearer …", checking the
 * access token, and the challenge a refused one is answered with. What the token may then do is
 * the caller's: the admin API reads the principal's roles, /v1 wants a user. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http/http.h"

int srv_bearer_token_or_error(struct srv_request *rq, const char *audience,
                              const struct srv_bearer_refusals *words, json_t **claims)
{
    const char *auth = srv_rq_header(rq, "Authorization");
    *claims = NULL;
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        srv_reply_bearer_challenge(rq, NULL, "a bearer access token is required");
        return SRV_ERESPONDED;
    }
    const char *token = auth + 7;
    while (*token == ' ')
        token++;
    enum srv_token_state st =
        srv_token_check(srv_rq_ctx(rq), token, strlen(token), audience, claims);
    if (st == SRV_TOKEN_UNAVAILABLE) {
        srv_reply_problem(rq, 503, "the token cannot be checked now; retry shortly");
        goto refused;
    }
    if (st != SRV_TOKEN_ACTIVE) {
        const char *detail = st == SRV_TOKEN_EXPIRED        ? words->expired
                             : st == SRV_TOKEN_REVOKED      ? words->revoked
                             : st == SRV_TOKEN_NO_PRINCIPAL ? words->no_principal
                             : st == SRV_TOKEN_AUDIENCE     ? words->audience
                                                            : NULL;
        srv_reply_bearer_challenge(rq, "invalid_token", detail ? detail : words->invalid);
        goto refused;
    }
    /* The token names its client: a cross-origin caller must be one of that client's origins. */
    if (!srv_cors_client_or_error(rq, json_string_value(json_object_get(*claims, "client_id"))))
        goto refused;
    return SRV_OK;
refused:
    json_decref(*claims);
    *claims = NULL;
    return SRV_ERESPONDED;
}
