/* CORS for browser SDKs: only origins an application lists in allowed_origins get
 * Access-Control-Allow-Origin, and a request that names its client only that application's;
 * preflights are answered; everything else cross-origin is refused before it changes anything.
 * Requests without Origin and from the issuer's own origin are untouched. */
#include <string.h>

#include "support.h"

#define SPA "https://spa.example"
#define OTHER "http://localhost:3000"

static const char *const env[] = {"IDPD_RATE_LIMIT_REGISTER=0", NULL};
static const char *const args[] = {"--allow-registration", NULL};
static const char *const admin_roles[] = {"idp:admin", NULL};

struct fx {
    struct ts_server *s;
    const char *data;
    struct ts_account spa, other, sa;
};

/* A public application allowing origin, made with the command line. */
static int app_create(const char *data, const char *name, const char *origin,
                      struct ts_account *out)
{
    const char *more[] = {"--name",        name,       "--grant", "password", "--grant",
                          "refresh_token", "--origin", origin,    NULL};
    return ts_app_create_with(data, more, out);
}

static int fx_start(struct fx *f)
{
    f->data = ts_path("data");
    /* the spa application's origin is given as a person might type it */
    if (!app_create(f->data, "spa", "HTTPS://Spa.Example:443", &f->spa) ||
        !app_create(f->data, "other", OTHER, &f->other) ||
        ts_sa_create(f->data, "robot", admin_roles, NULL, &f->sa) != 0)
        return 0;
    struct ts_opts o = {.data = f->data, .env = env, .args = args};
    if (!(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->spa.id, "ada@example.com", "correct horse battery")->status == 201;
}

/* method path from origin (NULL: no Origin), with one more header line and a body. */
static struct ts_resp *from(struct fx *f, const char *origin, const char *method, const char *path,
                            const char *header, const char *body, const char *content_type)
{
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    if (origin)
        headers[n++] = ts_printf("Origin: %s", origin);
    if (header)
        headers[n++] = header;
    struct ts_req r = {.method = method,
                       .path = path,
                       .headers = headers,
                       .body = body,
                       .content_type = content_type};
    return ts_do(f->s, &r);
}

static struct ts_resp *login_from(struct fx *f, const char *origin, const char *client_id)
{
    return from(f, origin, "POST", "/oauth/token", NULL,
                ts_printf("grant_type=password&client_id=%s&username=ada%%40example.com"
                          "&password=correct+horse+battery",
                          client_id),
                NULL);
}

static struct ts_resp *preflight(struct fx *f, const char *origin, const char *path,
                                 const char *method, const char *headers)
{
    const char *lines[4] = {ts_printf("Access-Control-Request-Method: %s", method), NULL, NULL,
                            NULL};
    size_t n = 1;
    if (origin)
        lines[n++] = ts_printf("Origin: %s", origin);
    if (headers)
        lines[n++] = ts_printf("Access-Control-Request-Headers: %s", headers);
    struct ts_req r = {.method = "OPTIONS", .path = path, .headers = lines};
    return ts_do(f->s, &r);
}

#define CHECK_NO_CORS(resp)                                                                        \
    do {                                                                                           \
        CHECK(ts_header((resp), "Access-Control-Allow-Origin") == NULL);                           \
        CHECK(ts_header((resp), "Access-Control-Allow-Credentials") == NULL);                      \
    } while (0)

#define CHECK_CORS(resp, origin)                                                                   \
    do {                                                                                           \
        CHECK_STR(ts_header((resp), "Access-Control-Allow-Origin"), (origin));                     \
        CHECK(strstr(ts_header((resp), "Vary") ? ts_header((resp), "Vary") : "", "Origin"));       \
        CHECK(ts_header((resp), "Access-Control-Allow-Credentials") == NULL);                      \
    } while (0)

TEST(preflights_are_answered_for_allowed_origins_only)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_resp *r = preflight(&f, SPA, "/oauth/token", "POST", "content-type");
    CHECK_INT(r->status, 204);
    CHECK_CORS(r, SPA);
    CHECK_STR(ts_header(r, "Access-Control-Allow-Methods"), "POST");
    CHECK(strstr(ts_header(r, "Access-Control-Allow-Headers"), "Content-Type") != NULL);
    CHECK_STR(ts_header(r, "Access-Control-Max-Age"), "600");
    CHECK_INT(r->len, 0);
    /* a user endpoint with a bearer token; another application's origin is allowed here too,
     * since a preflight names no client */
    r = preflight(&f, OTHER, "/v1/me/sessions/ses_x", "DELETE", "Authorization");
    CHECK_INT(r->status, 204);
    CHECK_CORS(r, OTHER);
    CHECK_STR(ts_header(r, "Access-Control-Allow-Methods"), "DELETE");
    r = preflight(&f, SPA, "/jwks", "GET", NULL);
    CHECK_INT(r->status, 204);
    CHECK_STR(ts_header(r, "Access-Control-Allow-Methods"), "GET, HEAD");

    /* refused: an origin no application lists, "null", a path or port that is not the origin,
     * a method the path does not take, a header outside the list */
    const char *bad_origins[] = {"https://evil.example", "null", "https://spa.example:8443",
                                 "http://spa.example", "https://spa.example.evil"};
    for (size_t i = 0; i < sizeof bad_origins / sizeof bad_origins[0]; i++) {
        r = preflight(&f, bad_origins[i], "/oauth/token", "POST", "content-type");
        CHECK_OAUTH_ERROR(r, 400, "invalid_request");
        CHECK_NO_CORS(r);
        r = preflight(&f, bad_origins[i], "/v1/me", "GET", "authorization");
        CHECK_PROBLEM(r, 403);
        CHECK_NO_CORS(r);
    }
    r = preflight(&f, SPA, "/oauth/token", "PUT", NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    CHECK_NO_CORS(r);
    r = preflight(&f, SPA, "/v1/me", "GET", "authorization, x-debug");
    CHECK_PROBLEM(r, 403);
    CHECK(strstr(ts_jstr(r->json, "detail"), "header") != NULL);
    CHECK_NO_CORS(r);
    /* a path that is not routed is not found, whatever the origin */
    CHECK_PROBLEM(preflight(&f, SPA, "/nope", "GET", NULL), 404);
    /* OPTIONS that is not a preflight is still not a method of these paths */
    r = from(&f, NULL, "OPTIONS", "/oauth/token", "Access-Control-Request-Method: POST", NULL,
             NULL);
    CHECK_OAUTH_ERROR(r, 405, "invalid_request");
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(a_login_is_answered_to_its_applications_origin_only)
{
    struct fx f;
    CHECK(fx_start(&f));
    /* the spa application from its own origin, stored as browsers write it */
    struct ts_resp *r = login_from(&f, SPA, f.spa.id);
    CHECK_INT(r->status, 200);
    CHECK_CORS(r, SPA);
    CHECK(strstr(ts_header(r, "Access-Control-Expose-Headers"), "WWW-Authenticate") != NULL);
    const char *refresh = ts_jstr(r->json, "refresh_token");
    CHECK(refresh != NULL);
    /* a wrong password is an error the page can read */
    r = from(&f, SPA, "POST", "/oauth/token", NULL,
             ts_printf("grant_type=password&client_id=%s&username=ada%%40example.com"
                       "&password=wrong+password+here",
                       f.spa.id),
             NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_grant");
    CHECK_CORS(r, SPA);

    /* the other application's origin is allowed somewhere, but not for spa: refused, and no
     * session is made (the sessions listed afterwards are the first login's alone) */
    r = login_from(&f, OTHER, f.spa.id);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    CHECK(strstr(ts_jstr(r->json, "error_description"), "origin") != NULL);
    CHECK_NO_CORS(r);
    r = from(&f, OTHER, "POST", "/oauth/token", NULL,
             ts_printf("grant_type=refresh_token&client_id=%s&refresh_token=%s", f.spa.id,
                       ts_form_escape(refresh)),
             NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* an origin nobody allows is refused before the client is looked at */
    r = login_from(&f, "https://evil.example", f.spa.id);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    CHECK_NO_CORS(r);
    /* a service account has no origins: its secret does not belong in a browser */
    r = from(&f, SPA, "POST", "/oauth/token", ts_basic(&f.sa), "grant_type=client_credentials",
             NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    CHECK_NO_CORS(r);
    r = from(&f, SPA, "POST", "/oauth/introspect", ts_basic(&f.sa), "token=x", NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    /* without Origin, and from the issuer's own origin, nothing changes */
    r = from(&f, NULL, "POST", "/oauth/token", ts_basic(&f.sa), "grant_type=client_credentials",
             NULL);
    CHECK_INT(r->status, 200);
    CHECK_NO_CORS(r);
    r = login_from(&f, f.s->issuer, f.spa.id);
    CHECK_INT(r->status, 200);
    CHECK_NO_CORS(r);
    /* the refused refresh left the token usable */
    r = ts_refresh(f.s, f.spa.id, refresh, NULL);
    CHECK_INT(r->status, 200);

    /* the user's endpoints follow the token's application */
    const char *tok = ts_jstr(login_from(&f, SPA, f.spa.id)->json, "access_token");
    const char *bearer = ts_printf("Authorization: Bearer %s", tok);
    r = from(&f, SPA, "GET", "/v1/me", bearer, NULL, NULL);
    CHECK_INT(r->status, 200);
    CHECK_CORS(r, SPA);
    r = from(&f, SPA, "GET", "/userinfo", bearer, NULL, NULL);
    CHECK_INT(r->status, 200);
    CHECK_CORS(r, SPA);
    r = from(&f, OTHER, "GET", "/v1/me", bearer, NULL, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK_NO_CORS(r);
    /* a token that is not good is a 401 the page can see, so an SDK knows to refresh */
    r = from(&f, SPA, "GET", "/v1/me", "Authorization: Bearer not.a.token", NULL, NULL);
    CHECK_INT(r->status, 401);
    CHECK_CORS(r, SPA);
    /* the admin API with a service account's token: refused cross-origin */
    const char *robot = ts_printf("Authorization: Bearer %s", ts_token_str(f.s, &f.sa));
    r = from(&f, SPA, "GET", "/admin/v1/users", robot, NULL, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK_NO_CORS(r);
    CHECK_INT(from(&f, NULL, "GET", "/admin/v1/users", robot, NULL, NULL)->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(registration_and_public_documents)
{
    struct fx f;
    CHECK(fx_start(&f));
    const char *body = ts_printf("{\"client_id\":\"%s\",\"email\":\"bo@example.com\","
                                 "\"password\":\"long enough secret\"}",
                                 f.other.id);
    /* registering through the other application from spa's origin: refused, nobody made */
    struct ts_resp *r = from(&f, SPA, "POST", "/v1/register", NULL, body, "application/json");
    CHECK_PROBLEM(r, 403);
    CHECK_NO_CORS(r);
    r = from(&f, OTHER, "POST", "/v1/register", NULL, body, "application/json");
    CHECK_INT(r->status, 201);
    CHECK_CORS(r, OTHER);

    /* JWKS and discovery: to any allowed origin, naming it; others refused; servers see no
     * CORS header at all, and every cache is told the answer varies with Origin */
    r = from(&f, SPA, "GET", "/jwks", NULL, NULL, NULL);
    CHECK_INT(r->status, 200);
    CHECK_CORS(r, SPA);
    CHECK(ts_jwks_key(r->json,
                      ts_jstr(json_array_get(json_object_get(r->json, "keys"), 0), "kid")) != NULL);
    CHECK_STR(ts_header(r, "Cache-Control"), ts_header(ts_get(f.s, "/jwks"), "Cache-Control"));
    r = from(&f, OTHER, "GET", "/.well-known/openid-configuration", NULL, NULL, NULL);
    CHECK_INT(r->status, 200);
    CHECK_CORS(r, OTHER);
    CHECK_STR(ts_jstr(r->json, "issuer"), f.s->issuer);
    r = from(&f, "https://evil.example", "GET", "/jwks", NULL, NULL, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK_NO_CORS(r);
    r = ts_get(f.s, "/jwks");
    CHECK_INT(r->status, 200);
    CHECK_NO_CORS(r);
    CHECK_STR(ts_header(r, "Vary"), "Origin");
    CHECK_INT(ts_stop(f.s), 0);
}

/* allowed_origins changes take effect at the next request, in this server and from the CLI's. */
TEST(origin_changes_apply_at_once)
{
    struct fx f;
    CHECK(fx_start(&f));
    const char *admin = ts_token_str(f.s, &f.sa);
    CHECK_INT(preflight(&f, SPA, "/oauth/token", "POST", NULL)->status, 204);
    struct ts_resp *r = ts_bearer(f.s, "PATCH", ts_printf("/admin/v1/applications/%s", f.spa.id),
                                  admin, "{\"allowed_origins\":[\"https://new.example\"]}");
    CHECK_INT(r->status, 200);
    CHECK_OAUTH_ERROR(preflight(&f, SPA, "/oauth/token", "POST", NULL), 400, "invalid_request");
    CHECK_OAUTH_ERROR(login_from(&f, SPA, f.spa.id), 400, "invalid_request");
    CHECK_INT(login_from(&f, "https://new.example", f.spa.id)->status, 200);
    /* an application made by the command line beside the running server */
    struct ts_account late;
    CHECK(app_create(f.data, "late", "https://late.example", &late));
    CHECK_INT(preflight(&f, "https://late.example", "/oauth/token", "POST", NULL)->status, 204);
    /* a deleted application's origins go with it */
    CHECK_INT(ts_bearer(f.s, "DELETE", ts_printf("/admin/v1/applications/%s", late.id), admin, NULL)
                  ->status,
              204);
    CHECK_OAUTH_ERROR(preflight(&f, "https://late.example", "/oauth/token", "POST", NULL), 400,
                      "invalid_request");
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(preflights_are_answered_for_allowed_origins_only);
    RUN(a_login_is_answered_to_its_applications_origin_only);
    RUN(registration_and_public_documents);
    RUN(origin_changes_apply_at_once);
    return ts_done();
}
