/* Ports in redirect URIs, post-logout redirect URIs and origins (issue 12, finding 13): a port
 * is 1 to 65535, digits only, and never empty after a colon. Refused at registration (admin API
 * create and update, `idpd application create`) and at /oauth/authorize, where a loopback
 * redirect URI otherwise matches any port (RFC 8252 §7.3). */
#include <string.h>

#include "support.h"

#define REDIRECT "http://127.0.0.1:7777/cb"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"

static const char *const r_admin[] = {"idp:admin", NULL};

/* Ports no socket can have, each in a loopback and a remote URI. */
static const char *const bad_ports[] = {":99999", ":0", ":", ":65536", ":-1", ":8o", ":123456"};

struct fx {
    struct ts_server *s;
    struct ts_account app, admin;
    const char *t_admin;
};

static int fx_start(struct fx *f)
{
    const char *data = ts_path("data");
    const char *more[] = {"--name",         "Native", "--grant", "authorization_code",
                          "--redirect-uri", REDIRECT, NULL};
    memset(f, 0, sizeof *f);
    if (!ts_app_create_with(data, more, &f->app) ||
        ts_sa_create(data, "admin", r_admin, NULL, &f->admin) != 0)
        return 0;
    struct ts_opts o = {.data = data};
    f->s = ts_start(&o);
    return f->s && (f->t_admin = ts_token_str(f->s, &f->admin)) != NULL;
}

static const char *authorize_path(const char *client_id, const char *redirect)
{
    return ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                     "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=s",
                     client_id, ts_form_escape(redirect));
}

TEST(authorize_refuses_impossible_loopback_ports)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_browser *b = ts_browser_new();
    /* any real port still matches the loopback redirect URI, as RFC 8252 §7.3 wants */
    static const char *const good[] = {"http://127.0.0.1:1/cb", "http://127.0.0.1:65535/cb",
                                       "http://127.0.0.1/cb", REDIRECT};
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        struct ts_req rq = {.path = authorize_path(f.app.id, good[i])};
        struct ts_resp *r = ts_browser_do(f.s, b, &rq);
        CHECK_MSG(r->status == 200, "%s: %ld", good[i], r->status);
    }
    /* an impossible one is not the registered URI: the error page, no redirect anywhere */
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        const char *uri = ts_printf("http://127.0.0.1%s/cb", bad_ports[i]);
        struct ts_req rq = {.path = authorize_path(f.app.id, uri)};
        struct ts_resp *r = ts_browser_do(f.s, b, &rq);
        CHECK_MSG(r->status == 400, "%s: %ld", uri, r->status);
        CHECK(ts_header(r, "Location") == NULL);
        CHECK_STR(ts_header(r, "Content-Type"), "text/html; charset=utf-8");
        CHECK(strstr(r->body, "not registered") != NULL);
    }
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(admin_api_refuses_impossible_ports)
{
    struct fx f;
    CHECK(fx_start(&f));
    struct ts_resp *r =
        ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"ok\",\"grant_types\":[\"authorization_code\"],"
                  "\"redirect_uris\":[\"http://127.0.0.1:65535/cb\",\"http://[::1]:1/cb\","
                  "\"https://u:p@shop.example:8443/cb\",\"com.example.app:/cb\"],"
                  "\"allowed_origins\":[\"https://shop.example:8443\"],"
                  "\"post_logout_redirect_uris\":[\"https://shop.example:443/bye\"]}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *path = ts_printf("/admin/v1/applications/%s", ts_jstr(r->json, "client_id"));
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        const char *p = bad_ports[i];
        const char *bodies[] = {
            ts_printf("{\"name\":\"x\",\"grant_types\":[\"authorization_code\"],"
                      "\"redirect_uris\":[\"http://127.0.0.1%s/cb\"]}",
                      p),
            ts_printf("{\"name\":\"x\",\"grant_types\":[\"authorization_code\"],"
                      "\"redirect_uris\":[\"https://shop.example%s/cb\"]}",
                      p),
            ts_printf("{\"name\":\"x\",\"grant_types\":[\"authorization_code\"],"
                      "\"redirect_uris\":[\"http://[::1]%s/cb\"]}",
                      p),
            ts_printf("{\"name\":\"x\",\"grant_types\":[\"password\"],"
                      "\"post_logout_redirect_uris\":[\"https://shop.example%s/bye\"]}",
                      p),
            ts_printf("{\"name\":\"x\",\"grant_types\":[\"password\"],"
                      "\"allowed_origins\":[\"https://shop.example%s\"]}",
                      p),
        };
        for (size_t k = 0; k < sizeof bodies / sizeof bodies[0]; k++) {
            r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin, bodies[k]);
            CHECK_PROBLEM(r, 400);
            CHECK_MSG(strstr(ts_jstr(r->json, "detail"), "65535"), "%s: %s", bodies[k],
                      ts_jstr(r->json, "detail"));
        }
        /* the update refuses it too, and changes nothing */
        r = ts_bearer(f.s, "PATCH", path, f.t_admin,
                      ts_printf("{\"redirect_uris\":[\"http://127.0.0.1%s/cb\"]}", p));
        CHECK_PROBLEM(r, 400);
        r = ts_bearer(f.s, "PATCH", path, f.t_admin,
                      ts_printf("{\"allowed_origins\":[\"http://localhost%s\"]}", p));
        CHECK_PROBLEM(r, 400);
    }
    r = ts_bearer(f.s, "GET", path, f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "redirect_uris")),
              "http://127.0.0.1:65535/cb,http://[::1]:1/cb,https://u:p@shop.example:8443/cb,"
              "com.example.app:/cb");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "allowed_origins")),
              "https://shop.example:8443");
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(cli_refuses_impossible_ports)
{
    const char *data = ts_path("data");
    static const char *const flags[] = {"--redirect-uri", "--post-logout-redirect-uri", "--origin"};
    for (size_t i = 0; i < sizeof bad_ports / sizeof bad_ports[0]; i++) {
        for (size_t k = 0; k < sizeof flags / sizeof flags[0]; k++) {
            const char *v =
                ts_printf(k == 2 ? "http://127.0.0.1%s" : "http://127.0.0.1%s/cb", bad_ports[i]);
            const char *args[] = {"application",
                                  "create",
                                  "--data",
                                  data,
                                  "--name",
                                  "x",
                                  "--grant",
                                  "authorization_code",
                                  "--redirect-uri",
                                  k == 0 ? v : REDIRECT,
                                  flags[k],
                                  v,
                                  NULL};
            struct ts_cmd *c = ts_run(args, NULL);
            CHECK_MSG(c->status == 2, "%s %s: exit %d, %s", flags[k], v, c->status, c->out);
            CHECK_MSG(strstr(c->err, "65535"), "%s", c->err);
        }
    }
    /* the real ports pass */
    const char *ok[] = {"application",
                        "create",
                        "--data",
                        data,
                        "--name",
                        "x",
                        "--grant",
                        "authorization_code",
                        "--redirect-uri",
                        "http://127.0.0.1:65535/cb",
                        "--origin",
                        "http://localhost:1",
                        NULL};
    struct ts_cmd *c = ts_run(ok, NULL);
    CHECK_MSG(c->status == 0, "exit %d: %s", c->status, c->err);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(authorize_refuses_impossible_loopback_ports);
    RUN(admin_api_refuses_impossible_ports);
    RUN(cli_refuses_impossible_ports);
    return th_done();
}
