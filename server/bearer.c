/* Bearer authentication of idpd's own user endpoints (RFC 6750): the access token must verify,
 * be a user's, and its session and user must still be good, so logout, disable and delete take
 * effect at once rather than when the token expires. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/internal.h"

void srv_reply_bearer_challenge(struct srv_request *rq, const char *error, const char *detail)
{
    char www[160];
    snprintf(www, sizeof www, "Bearer realm=\"idpd\"%s%s%s", error ? ", error=\"" : "",
             error ? error : "", error ? "\"" : "");
    json_t *body = json_pack("{s:s, s:s, s:i, s:s}", "type", "about:blank", "title", "Unauthorized",
                             "status", 401, "detail", detail);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    const char *headers[] = {"WWW-Authenticate", www, "Cache-Control", "no-store", NULL};
    srv_reply(rq, 401, "application/problem+json", text ? text : "{}", text ? strlen(text) : 2,
              headers);
    free(text);
}

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

json_t *srv_user_json(const struct store_user *u, const struct store_identity *idns, size_t n)
{
    json_t *meta = json_loads(u->metadata ? u->metadata : "{}", 0, NULL);
    json_t *j =
        json_pack("{s:s, s:s?, s:s?, s:s, s:b, s:I, s:I, s:o}", "id", u->id, "email",
                  u->email[0] ? u->email : NULL, "name", u->name[0] ? u->name : NULL, "status",
                  u->status == STORE_USER_ACTIVE ? "active" : "disabled", "anonymous", u->anonymous,
                  "created_at", (json_int_t)u->created_at, "updated_at", (json_int_t)u->updated_at,
                  "metadata", meta ? meta : json_object());
    if (j && idns) {
        json_t *arr = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(arr, json_pack("{s:s, s:s, s:I}", "id", idns[i].id, "provider",
                                                 idns[i].provider, "created_at",
                                                 (json_int_t)idns[i].created_at));
        json_object_set_new(j, "identities", arr);
    }
    return j;
}

json_t *srv_session_json(const struct store_session *s, int current)
{
    json_t *j = json_pack(
        "{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:s, s:s, s:b, s:s}", "id", s->id, "client_id",
        s->client_id, "amr", s->amr, "created_at", (json_int_t)s->created_at, "last_used_at",
        (json_int_t)s->last_used_at, "idle_expires_at", (json_int_t)s->idle_expires_at,
        "absolute_expires_at", (json_int_t)s->absolute_expires_at, "client_ip", s->client_ip,
        "user_agent", s->user_agent, "current", current, "kind", s->browser ? "browser" : "app");
    if (j && s->parent_id[0])
        json_object_set_new(j, "parent_id", json_string(s->parent_id));
    return j;
}
