/* Audiences (issue 12, finding 1): a token minted for another resource server opens none of
 * idpd's own APIs. idpd's API (/admin/v1, /v1, /userinfo) wants aud = the issuer, which a client
 * asks for with resource=<issuer> when the configured default audience is another API;
 * introspection and revocation still answer for every audience idpd serves. */
#include <string.h>

#include "support.h"

#define OTHER "https://api.other.example"

static const char *const admin_role[] = {"idp:admin", NULL};
static const char *const app_grants[] = {"password", "refresh_token", NULL};

static struct ts_server *start(void)
{
    static const char *const env[] = {"IDPD_AUDIENCE=" OTHER, NULL};
    static const char *const args[] = {"--allow-registration", NULL};
    struct ts_opts o = {.env = env, .args = args};
    return ts_start(&o);
}

static const char *aud_of(const char *token)
{
    json_t *hdr = NULL, *claims = NULL;
    if (!token || ts_jwt_decode(token, &hdr, &claims) != 0)
        return NULL;
    return ts_jstr(claims, "aud");
}

/* A service account holding idp:admin: its default token names the other API and is refused by
 * the admin API; the token it asks for idpd itself is accepted. */
TEST(admin_api_wants_the_issuer)
{
    struct ts_server *s = start();
    CHECK(s);
    struct ts_account sa;
    CHECK_INT(ts_sa_create(s->data, "ops", admin_role, NULL, &sa), 0);

    struct ts_resp *r = ts_token(s, &sa, NULL);
    CHECK_INT(r->status, 200);
    const char *other = ts_jstr(r->json, "access_token");
    CHECK_STR(aud_of(other), OTHER);
    r = ts_token(s, &sa, "resource=" OTHER);
    CHECK_INT(r->status, 200);
    CHECK_STR(aud_of(ts_jstr(r->json, "access_token")), OTHER);

    r = ts_bearer(s, "GET", "/admin/v1/users", other, NULL);
    CHECK_BEARER_401(r, ", error=\"invalid_token\"");
    CHECK(strstr(ts_jstr(r->json, "detail"), "audience") != NULL);
    CHECK_BEARER_401(ts_bearer(s, "GET", "/admin/v1/service-accounts", other, NULL),
                     ", error=\"invalid_token\"");

    r = ts_token(s, &sa, ts_printf("resource=%s", ts_form_escape(s->issuer)));
    CHECK_INT(r->status, 200);
    const char *own = ts_jstr(r->json, "access_token");
    CHECK_STR(aud_of(own), s->issuer);
    CHECK_INT(ts_bearer(s, "GET", "/admin/v1/users", own, NULL)->status, 200);
    /* the audience parameter (RFC 8693's name) works alike */
    r = ts_token(s, &sa, ts_printf("audience=%s", ts_form_escape(s->issuer)));
    CHECK_INT(r->status, 200);
    CHECK_INT(
        ts_bearer(s, "GET", "/admin/v1/users", ts_jstr(r->json, "access_token"), NULL)->status,
        200);

    /* introspection answers for the other API's token, with its audience */
    r = ts_introspect(s, &sa, other);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "aud"), OTHER);
    /* and its owner may revoke it */
    CHECK_INT(ts_revoke(s, &sa, other)->status, 200);
    CHECK_INACTIVE(ts_introspect(s, &sa, other));
}

/* A user's token for the other API opens neither /v1/me nor /userinfo; one for idpd does. */
TEST(user_api_wants_the_issuer)
{
    struct ts_server *s = start();
    CHECK(s);
    struct ts_account app;
    CHECK_INT(ts_app_create(s->data, "mobile", app_grants, NULL, &app), 0);
    CHECK_INT(ts_register(s, app.id, "ada@example.org", "analytical engine")->status, 201);

    struct ts_resp *r = ts_login(s, app.id, "ada@example.org", "analytical engine", "scope=openid");
    CHECK_INT(r->status, 200);
    const char *other = ts_jstr(r->json, "access_token");
    const char *refresh = ts_jstr(r->json, "refresh_token");
    CHECK_STR(aud_of(other), OTHER);
    CHECK_BEARER_401(ts_bearer(s, "GET", "/v1/me", other, NULL), ", error=\"invalid_token\"");
    CHECK_BEARER_401(ts_bearer(s, "GET", "/userinfo", other, NULL), ", error=\"invalid_token\"");
    CHECK_BEARER_401(ts_bearer(s, "GET", "/v1/me/sessions", other, NULL),
                     ", error=\"invalid_token\"");

    const char *issuer = ts_printf("resource=%s", ts_form_escape(s->issuer));
    r = ts_login(s, app.id, "ada@example.org", "analytical engine",
                 ts_printf("scope=openid&%s", issuer));
    CHECK_INT(r->status, 200);
    const char *own = ts_jstr(r->json, "access_token");
    CHECK_STR(aud_of(own), s->issuer);
    r = ts_bearer(s, "GET", "/v1/me", own, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "email"), "ada@example.org");
    CHECK_INT(ts_bearer(s, "GET", "/userinfo", own, NULL)->status, 200);

    /* a refresh may ask for idpd's audience too (RFC 8707 §2.2) */
    r = ts_refresh(s, app.id, refresh, issuer);
    CHECK_INT(r->status, 200);
    CHECK_STR(aud_of(ts_jstr(r->json, "access_token")), s->issuer);
    CHECK_INT(ts_bearer(s, "GET", "/v1/me", ts_jstr(r->json, "access_token"), NULL)->status, 200);

    /* an audience neither configured nor idpd's is still refused */
    CHECK_OAUTH_ERROR(ts_login(s, app.id, "ada@example.org", "analytical engine",
                               "resource=https://api.third.example"),
                      400, "invalid_target");
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(admin_api_wants_the_issuer);
    RUN(user_api_wants_the_issuer);
    return ts_done();
}
