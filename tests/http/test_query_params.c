/* The query string is checked once, before any handler reads it: a NUL byte (%00) in a name or
 * value, or a parameter given twice, is answered 400 in the endpoint's shape (a problem, an
 * OAuth invalid_request on /oauth/ endpoints, the error page on /oauth/authorize) instead of a
 * handler seeing a value cut at the NUL or only one of the two. */
#include <stdio.h>
#include <string.h>

#include "support.h"

static const char *const admin_roles[] = {"idp:admin", NULL};
#define REDIRECT "https://shop.example/cb"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGMSstw-cM"

static struct ts_resp *bearer_get(struct ts_server *s, const char *token, const char *path)
{
    return ts_bearer(s, "GET", path, token, NULL);
}

TEST(nul_in_query_400)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    if (!s)
        return;
    struct ts_account admin;
    CHECK_INT(ts_sa_create(s->data, "admin", admin_roles, NULL, &admin), 0);
    const char *token = ts_token_str(s, &admin);
    CHECK(token);
    /* one user whose email starts with "a": a filter cut at the NUL would find it */
    struct ts_resp *r = ts_bearer(s, "POST", "/admin/v1/users", token,
                                  "{\"email\":\"a@example.com\",\"password\":\"a good password\"}");
    CHECK_INT(r->status, 201);
    r = bearer_get(s, token, "/admin/v1/users?email=a");
    CHECK_INT(r->status, 200);
    CHECK_INT(json_array_size(json_object_get(r->json, "items")), 1);
    r = bearer_get(s, token, "/admin/v1/users?email=a%00b");
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "NUL") != NULL);
    /* in a name too, and on an endpoint that reads no query at all */
    CHECK_PROBLEM(bearer_get(s, token, "/admin/v1/users?em%00ail=a"), 400);
    CHECK_PROBLEM(ts_get(s, "/healthz?x=%00"), 400);
    CHECK_INT(ts_get(s, "/healthz?x=1")->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

TEST(repeated_query_parameter_400)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    if (!s)
        return;
    struct ts_account admin;
    CHECK_INT(ts_sa_create(s->data, "admin", admin_roles, NULL, &admin), 0);
    const char *token = ts_token_str(s, &admin);
    CHECK(token);
    struct ts_resp *r = bearer_get(s, token, "/admin/v1/users?limit=1&limit=2");
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "repeated") != NULL);
    CHECK_INT(bearer_get(s, token, "/admin/v1/users?limit=1")->status, 200);
    /* /oauth/token reads its form, not the query; a bad query is still refused, OAuth-shaped */
    struct ts_req rq = {.path = "/oauth/token?a=1&a=2",
                        .body = "grant_type=client_credentials",
                        .headers = (const char *[]){ts_basic(&admin), NULL}};
    CHECK_OAUTH_ERROR(ts_do(s, &rq), 400, "invalid_request");
    rq.path = "/oauth/token?scope=%00";
    CHECK_OAUTH_ERROR(ts_do(s, &rq), 400, "invalid_request");
    rq.path = "/oauth/token";
    CHECK_INT(ts_do(s, &rq)->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

/* Before its redirect URI is trusted, /oauth/authorize tells errors on its own page: a state
 * cut at a NUL would otherwise be sent back to the application as something else. */
TEST(authorize_bad_query_is_a_page)
{
    const char *data = ts_path("data");
    const char *more[] = {"--name",         "Shop",   "--grant", "authorization_code",
                          "--redirect-uri", REDIRECT, NULL};
    struct ts_account app;
    CHECK(ts_app_create_with(data, more, &app));
    struct ts_opts o = {.data = data};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    const char *base = ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                                 "&code_challenge=" CHALLENGE "&code_challenge_method=S256",
                                 app.id, ts_form_escape(REDIRECT));
    struct ts_resp *r = ts_get(s, ts_printf("%s&state=ok", base));
    CHECK_INT(r->status, 200); /* the login page */
    r = ts_get(s, ts_printf("%s&state=a%%00b", base));
    CHECK_INT(r->status, 400);
    CHECK(strncmp(ts_header(r, "Content-Type") ? ts_header(r, "Content-Type") : "", "text/html",
                  9) == 0);
    CHECK(strstr(r->body, "NUL") != NULL);
    CHECK(ts_header(r, "Location") == NULL);
    r = ts_get(s, ts_printf("%s&state=a&state=b", base));
    CHECK_INT(r->status, 400);
    CHECK(strstr(r->body, "repeated") != NULL);
    CHECK(ts_header(r, "Location") == NULL);
    CHECK_INT(ts_stop(s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(nul_in_query_400);
    RUN(repeated_query_parameter_400);
    RUN(authorize_bad_query_is_a_page);
    return ts_done();
}
