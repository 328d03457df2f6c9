/* POST /api/client/v2.0/app/{app_id}/auth/providers/{provider}/login[?link=true]: a login with
 * anon-user {}, local-userpass {username, password} or api-key {key}, each allowed when the
 * application has the idpd grant type it maps to (app.c). The answer is
 * {user_id, access_token, refresh_token, device_id} (tokens.c). With ?link=true the identity
 * joins the caller of the access token instead (link.c). Other providers of App Services
 * (custom-token, custom-function, oauth2-*) are answered AuthProviderNotFound. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

struct login {
    struct store_application *app;
    json_t *body;
    char device_id[STORE_DEVICE_ID_MAX];
    struct srv_login password;
    struct srv_key_login key;
    struct srv_as_link *link;
};

static void login_free(void *state)
{
    struct login *l = state;
    if (!l)
        return;
    free(l->app);
    json_decref(l->body);
    srv_login_clear(&l->password);
    srv_key_login_clear(&l->key);
    srv_as_link_free(l->link);
    crypto_wipe(l, sizeof *l);
    free(l);
}

/* ---- how password and API-key logins answer here ---- */

static void refused(struct srv_request *rq)
{
    srv_reply_app_error(rq, 401, "InvalidPassword", "invalid username/password");
}

static void refused_key(struct srv_request *rq)
{
    srv_reply_app_error(rq, 401, "AuthError", "invalid API key");
}

static void disabled(struct srv_request *rq)
{
    srv_reply_app_error(rq, 401, "UserDisabled", "user disabled");
}

static void locked(struct srv_request *rq, int64_t wait)
{
    char why[96];
    snprintf(why, sizeof why, "too many failed logins: try again in %lld s", (long long)wait);
    srv_reply_too_many(rq, wait, why);
}

static void unavailable(struct srv_request *rq)
{
    srv_reply_app_error(rq, 503, "ServiceUnavailable", "the login cannot be checked now; retry");
}

static void unverified(struct srv_request *rq)
{
    srv_reply_app_error(rq, 401, "AuthError", "confirmation required");
}

static int session(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN])
{
    struct login *l = srv_rq_state(rq);
    const char *amr = l->key.ops ? "api-key" : "pwd";
    if (srv_session_new(rq, user_id, l->app->id, amr, NULL, s, refresh) != SRV_OK) {
        srv_reply_app_error(rq, 500, "InternalServerError", "no session could be made");
        return SRV_ERUNTIME;
    }
    memcpy(s->device_id, l->device_id, sizeof s->device_id);
    return SRV_OK;
}

static void done(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh)
{
    struct login *l = srv_rq_state(rq);
    srv_as_reply_tokens(rq, u, s, refresh, l->key.ops ? &l->key.roles : &l->password.roles, 0);
}

static const struct srv_password_ops password_ops = {
    .refused = refused,
    .disabled = disabled,
    .locked = locked,
    .unavailable = unavailable,
    .unverified = unverified,
    .session = session,
    .done = done,
    .pending = 1,
};

static const struct srv_password_ops key_ops = {
    .refused = refused_key,
    .disabled = disabled,
    .locked = locked,
    .unavailable = unavailable,
    .unverified = unverified,
    .session = session,
    .done = done,
};

static void anonymous(struct srv_request *rq, struct login *l)
{
    struct srv_anonymous a;
    int rc = srv_anonymous_login(rq, l->app->id, NULL, l->device_id, &a);
    if (rc == STORE_OK)
        srv_as_reply_tokens(rq, &a.user, &a.session, a.refresh, &a.roles, 0);
    else if (rc == STORE_ENOMEM)
        srv_reply_app_error(rq, 500, "InternalServerError", "no user could be made");
    else
        srv_reply_store_failure(rq, rc, "the user could not be saved");
    srv_anonymous_clear(&a);
}

/* A required string member of the body, 1..max bytes. */
static int string_or_error(struct srv_request *rq, json_t *body, const char *name, size_t max,
                           const char **out)
{
    json_t *v = json_object_get(body, name);
    *out = json_string_value(v);
    if (!*out || json_string_length(v) == 0 || json_string_length(v) > max ||
        strlen(*out) != json_string_length(v)) {
        srv_reply_app_error(rq, 400, "BadRequest", "%s must be a non-empty string", name);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

void srv_as_login(struct srv_request *rq)
{
    static const char *const anon_fields[] = {NULL};
    static const char *const password_fields[] = {"username", "password", NULL};
    static const char *const key_fields[] = {"key", NULL};
    char provider[64];
    const char *link = srv_rq_query(rq, "link"), *a = NULL, *b = NULL;
    struct login *l = calloc(1, sizeof *l);
    if (!l) {
        srv_reply_app_error(rq, 500, "InternalServerError", "out of memory");
        return;
    }
    srv_rq_set_state(rq, l, login_free);
    if (srv_as_app_or_error(rq, &l->app) != SRV_OK)
        return;
    srv_rq_param(rq, 1, provider, sizeof provider);
    if (!srv_as_provider_enabled(l->app, provider)) {
        srv_reply_app_error(rq, 400, "AuthProviderNotFound",
                            "authentication via '%s' is unsupported", provider);
        return;
    }
    int anon = strcmp(provider, "anon-user") == 0, key = strcmp(provider, "api-key") == 0;
    const char *const *fields = anon ? anon_fields : key ? key_fields : password_fields;
    if (srv_as_body_or_error(rq, fields, &l->body) != SRV_OK)
        return;
    if (!anon && (key ? string_or_error(rq, l->body, "key", SRV_API_KEY_LEN, &a)
                      : string_or_error(rq, l->body, "username", STORE_EMAIL_MAX - 1, &a) ||
                            string_or_error(rq, l->body, "password", SRV_PASSWORD_MAX, &b)))
        return;
    if (link && strcmp(link, "true") == 0) {
        if (strcmp(provider, "local-userpass") != 0) {
            srv_reply_app_error(rq, 400, "InvalidParameter",
                                "only an email/password identity can be linked to a user");
            return;
        }
        srv_as_link_password(rq, l->app, a, b, &l->link);
        return;
    }
    if (link && strcmp(link, "false") != 0) {
        srv_reply_app_error(rq, 400, "InvalidParameter", "link must be true or false");
        return;
    }
    if (srv_as_device_id(l->body, l->device_id) != SRV_OK) {
        srv_reply_app_error(rq, 500, "InternalServerError", "no device id could be made");
        return;
    }
    if (anon)
        anonymous(rq, l);
    else if (key)
        srv_api_key_login(rq, &l->key, a, &key_ops);
    else
        srv_password_login(rq, &l->password, a, b, &password_ops);
}
