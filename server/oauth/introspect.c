/* POST /oauth/introspect (RFC 7662). The caller is a service account holding idp:introspect or
 * idp:admin. Anything but a good token answers {"active":false} and nothing more. */
#include <string.h>

#include "server/oauth/oauth.h"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

static int holds_role(const struct store_service_account *sa, const char *role)
{
    for (size_t i = 0; i < sa->nroles; i++)
        if (strcmp(sa->roles[i], role) == 0)
            return 1;
    return 0;
}

static void introspect(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    const struct store_service_account *sa = &call->client.sa;
    const char *token = srv_form_get(&call->form, "token");
    json_t *claims = NULL;
    if (!holds_role(sa, "idp:introspect") && !holds_role(sa, "idp:admin")) {
        srv_reply_oauth_error(rq, 403, "access_denied",
                              "introspection requires the idp:introspect or idp:admin role");
        return;
    }
    if (!token) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "token is required");
        return;
    }
    enum srv_token_state st = srv_token_check(srv_rq_ctx(rq), token, strlen(token), NULL, &claims);
    if (st == SRV_TOKEN_UNAVAILABLE) {
        json_decref(claims);
        srv_reply_oauth_error(rq, 503, "temporarily_unavailable",
                              "the token cannot be checked now");
        return;
    }
    if (st != SRV_TOKEN_ACTIVE) {
        json_decref(claims);
        srv_reply_json(rq, 200, json_pack("{s:b}", "active", 0), no_store);
        return;
    }
    json_t *body = json_pack("{s:b, s:s}", "active", 1, "token_type", "Bearer");
    static const char *const copied[] = {
        "scope", "client_id",      "sub",   "aud", "iss",      "exp", "iat",
        "jti",   "principal_type", "roles", "sid", "auth_time"};
    for (size_t i = 0; body && i < sizeof copied / sizeof copied[0]; i++) {
        json_t *v = json_object_get(claims, copied[i]);
        if (v)
            json_object_set(body, copied[i], v);
    }
    json_decref(claims);
    srv_reply_json(rq, 200, body, no_store);
}

void srv_handle_introspect(struct srv_request *rq)
{
    if (srv_rate_limited_reply(rq, SRV_RATE_INTROSPECT) || !srv_oauth_call_begin_or_error(rq))
        return;
    srv_client_authenticate(rq, introspect);
}
