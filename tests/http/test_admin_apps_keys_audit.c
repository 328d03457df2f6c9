/* The admin API on applications (/admin/v1/applications…), signing keys (/admin/v1/keys,
 * …/rotate, `idpd keys rotate`, automatic rotation) and the audit log (/admin/v1/audit-events,
 * retention), the settings behind them, and `idpd bootstrap-admin`: who may call what, success
 * and refusal, and that a refused request changes nothing. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"
#include "keys/keys.h"
#include "storage/storage.h"
#include "support.h"

static const char *const r_admin[] = {"idp:admin", NULL};
static const char *const r_uadmin[] = {"idp:user-admin", NULL};
static const char *const r_auditor[] = {"idp:auditor", NULL};
static const char *const r_intro[] = {"idp:introspect", NULL};
static const char *const pw_grants[] = {"password", "refresh_token", NULL};

#define USER_PASSWORD "a password nobody logs"
#define BOOT_PASSWORD "first admin's long password"

struct fixture {
    struct ts_server *s;
    struct ts_account admin, uadmin, auditor, plain, intro; /* service accounts */
    const char *t_admin, *t_uadmin, *t_auditor, *t_plain;
};

static int make_sa(struct fixture *f, const char *name, const char *const *roles,
                   struct ts_account *a, const char **token)
{
    if (ts_sa_create(f->s->data, name, roles, NULL, a) != 0)
        return 0;
    if (!token)
        return 1;
    *token = ts_token_str(f->s, a);
    return *token != NULL;
}

static int setup_with(struct fixture *f, const struct ts_opts *o)
{
    memset(f, 0, sizeof *f);
    f->s = ts_start(o);
    return f->s && make_sa(f, "admin", r_admin, &f->admin, &f->t_admin) &&
           make_sa(f, "user-admin", r_uadmin, &f->uadmin, &f->t_uadmin) &&
           make_sa(f, "auditor", r_auditor, &f->auditor, &f->t_auditor) &&
           make_sa(f, "plain", NULL, &f->plain, &f->t_plain) &&
           make_sa(f, "introspector", r_intro, &f->intro, NULL);
}

static int setup(struct fixture *f)
{
    return setup_with(f, NULL);
}

/* ---- helpers ---- */

static const char *js(json_t *j)
{
    if (!j)
        return NULL;
    ts_keep_json(j);
    return ts_keep(json_dumps(j, JSON_COMPACT));
}

static json_t *items_of(struct ts_resp *r)
{
    return r && r->status == 200 ? json_object_get(r->json, "items") : NULL;
}

/* GET path as the admin; the items, or NULL (with the answer printed). */
static json_t *snap(struct fixture *f, const char *path)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", path, f->t_admin, NULL);
    if (r->status != 200)
        fprintf(stderr, "  GET %s: %ld %s\n", path, r->status, r->body);
    return items_of(r);
}

static long long now_s(void)
{
    return (long long)time(NULL);
}

/* The item of arr whose member key is value, or NULL. */
static json_t *find(json_t *arr, const char *key, const char *value)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (ts_jstr(v, key) && strcmp(ts_jstr(v, key), value) == 0)
            return v;
    }
    return NULL;
}

/* How many items of arr have member key equal to value. */
static size_t count(json_t *arr, const char *key, const char *value)
{
    size_t i, n = 0;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        n += ts_jstr(v, key) && strcmp(ts_jstr(v, key), value) == 0;
    }
    return n;
}

static int is_null(json_t *o, const char *key)
{
    return json_is_null(json_object_get(o, key));
}

static const char *app_path(const char *id)
{
    return ts_printf("/admin/v1/applications/%s", id);
}

/* ---- applications ---- */

#define WEB_APP                                                                                    \
    "{\"name\":\"Web shop\",\"grant_types\":[\"password\",\"refresh_token\"],"                     \
    "\"redirect_uris\":[\"https://shop.example.org/cb\",\"com.example.shop:/oauth\"],"             \
    "\"allowed_origins\":[\"https://shop.example.org\",\"http://localhost:3000\"],"                \
    "\"post_logout_redirect_uris\":[\"https://shop.example.org/bye\"]}"

TEST(apps_crud_and_roles)
{
    struct fixture f;
    CHECK(setup(&f));
    long long before = now_s();
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin, WEB_APP);
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    const char *id = ts_jstr(r->json, "id");
    CHECK(id && strncmp(id, "app_", 4) == 0);
    CHECK_STR(ts_jstr(r->json, "client_id"), id);
    CHECK_STR(ts_jstr(r->json, "name"), "Web shop");
    CHECK_STR(ts_jstr(r->json, "type"), "public");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "grant_types")), "password,refresh_token");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "redirect_uris")),
              "https://shop.example.org/cb,com.example.shop:/oauth");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "allowed_origins")),
              "https://shop.example.org,http://localhost:3000");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "post_logout_redirect_uris")),
              "https://shop.example.org/bye");
    CHECK(json_is_false(json_object_get(r->json, "first_party")));
    CHECK(ts_jint(r->json, "created_at") >= before && ts_jint(r->json, "created_at") <= now_s());
    CHECK_INT(ts_jint(r->json, "updated_at"), ts_jint(r->json, "created_at"));
    /* identity_providers is [] until it names some; no client_secret for a public application */
    CHECK_INT(json_array_size(json_object_get(r->json, "identity_providers")), 0);
    CHECK_INT(json_object_size(r->json), 12);
    const char *created = js(json_incref(r->json));

    /* every admin role reads it, the same as created */
    const char *readers[] = {f.t_admin, f.t_uadmin, f.t_auditor};
    for (size_t i = 0; i < 3; i++) {
        r = ts_bearer(f.s, "GET", app_path(id), readers[i], NULL);
        CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
        CHECK_STR(js(json_incref(r->json)), created);
        r = ts_bearer(f.s, "GET", "/admin/v1/applications", readers[i], NULL);
        CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
        CHECK_INT(json_array_size(items_of(r)), 1);
        CHECK_STR(js(json_incref(json_array_get(items_of(r), 0))), created);
        CHECK(is_null(r->json, "next"));
    }

    /* only idp:admin changes them; refusals change nothing */
    const char *refused[] = {f.t_uadmin, f.t_auditor, f.t_plain};
    for (size_t i = 0; i < 3; i++) {
        CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/applications", refused[i], WEB_APP), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), refused[i], "{\"name\":\"x\"}"), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "DELETE", app_path(id), refused[i], NULL), 403);
    }
    CHECK_PROBLEM(ts_bearer(f.s, "GET", app_path(id), f.t_plain, NULL), 403);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications", f.t_plain, NULL), 403);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/admin/v1/applications", NULL, NULL), "");
    CHECK_BEARER_401(ts_bearer(f.s, "POST", "/admin/v1/applications", NULL, WEB_APP), "");
    CHECK_BEARER_401(ts_bearer(f.s, "DELETE", app_path(id), "not.a.token", NULL),
                     ", error=\"invalid_token\"");
    CHECK_INT(json_array_size(snap(&f, "/admin/v1/applications")), 1);
    r = ts_bearer(f.s, "GET", app_path(id), f.t_admin, NULL);
    CHECK_STR(js(json_incref(r->json)), created);

    /* patch: only the members sent change; lists are replaced; an origin is kept as browsers
     * send it (lower case, no default port) */
    sleep(1); /* so updated_at moves */
    r = ts_bearer(f.s, "PATCH", app_path(id), f.t_admin,
                  "{\"name\":\"Web shop 2\",\"redirect_uris\":[],"
                  "\"allowed_origins\":[\"HTTPS://WWW.Example.org:443\"]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "id"), id);
    CHECK_STR(ts_jstr(r->json, "name"), "Web shop 2");
    CHECK_STR(ts_jstr(r->json, "type"), "public");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "grant_types")), "password,refresh_token");
    CHECK_INT(json_array_size(json_object_get(r->json, "redirect_uris")), 0);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "allowed_origins")),
              "https://www.example.org");
    json_t *c = ts_keep_json(json_loads(created, 0, NULL));
    CHECK_INT(ts_jint(r->json, "created_at"), ts_jint(c, "created_at"));
    CHECK(ts_jint(r->json, "updated_at") > ts_jint(r->json, "created_at"));
    r = ts_bearer(f.s, "PATCH", app_path(id), f.t_admin,
                  "{\"grant_types\":[\"password\"],\"first_party\":true,"
                  "\"post_logout_redirect_uris\":[]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "grant_types")), "password");
    CHECK(json_is_true(json_object_get(r->json, "first_party")));
    CHECK_INT(json_array_size(json_object_get(r->json, "post_logout_redirect_uris")), 0);
    CHECK_STR(ts_jstr(r->json, "name"), "Web shop 2");
    r = ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "allowed_origins")),
              "https://www.example.org");

    /* the type is fixed; bad patches change nothing */
    const char *now_json =
        js(json_incref(ts_bearer(f.s, "GET", app_path(id), f.t_admin, NULL)->json));
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"type\":\"confidential\"}"),
                  400);
    CHECK_PROBLEM(
        ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"name\":\"y\",\"type\":\"public\"}"),
        400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"grant_types\":[]}"), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin,
                            "{\"grant_types\":[\"client_credentials\"]}"),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"name\":\"\"}"), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"client_id\":\"app_x\"}"),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin,
                            "{\"name\":\"z\",\"redirect_uris\":[\"no scheme\"]}"),
                  400);
    r = ts_bearer(f.s, "GET", app_path(id), f.t_admin, NULL);
    CHECK_STR(js(json_incref(r->json)), now_json);

    /* delete, then it is gone everywhere */
    r = ts_bearer(f.s, "DELETE", app_path(id), f.t_admin, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", app_path(id), f.t_admin, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", app_path(id), f.t_admin, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", app_path(id), f.t_admin, "{\"name\":\"x\"}"), 404);
    CHECK_INT(json_array_size(snap(&f, "/admin/v1/applications")), 0);
    /* ids that cannot exist are 404 too */
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications/nope", f.t_admin, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", app_path(f.admin.id), f.t_admin, NULL), 404);
    const char *long_id = ts_printf("/admin/v1/applications/app_%0200d", 7);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", long_id, f.t_admin, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", long_id, f.t_admin, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", long_id, f.t_admin, "{\"name\":\"x\"}"), 404);
}

TEST(apps_confidential_secret_once)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                                  "{\"name\":\"Back office\",\"type\":\"confidential\","
                                  "\"grant_types\":[\"password\"]}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_STR(ts_jstr(r->json, "type"), "confidential");
    CHECK_INT(json_object_size(r->json), 13);
    const char *secret = ts_jstr(r->json, "client_secret");
    CHECK(secret && strncmp(secret, "idpsec_", 7) == 0 && strlen(secret) == 50);
    struct ts_account app;
    snprintf(app.id, sizeof app.id, "%s", ts_jstr(r->json, "id"));
    snprintf(app.secret, sizeof app.secret, "%s", secret);

    /* never shown again (a key "phc…", not the letters: a random id holds them 1 time in 1,000) */
    r = ts_bearer(f.s, "GET", app_path(app.id), f.t_admin, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK(!strstr(r->body, secret) && !strstr(r->body, "secret") && !strstr(r->body, "\"phc"));
    CHECK_INT(json_object_size(r->json), 12);
    r = ts_bearer(f.s, "GET", "/admin/v1/applications", f.t_admin, NULL);
    CHECK(!strstr(r->body, secret) && !strstr(r->body, "secret"));
    r = ts_bearer(f.s, "PATCH", app_path(app.id), f.t_admin, "{\"name\":\"Back office 2\"}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "type"), "confidential");
    CHECK(!strstr(r->body, "secret"));

    /* the secret works: a user logs in through the application with client_secret_basic */
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  "{\"email\":\"ada@example.org\",\"password\":\"" USER_PASSWORD "\"}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *form = ts_printf("grant_type=password&username=ada%%40example.org&password=%s",
                                 ts_form_escape(USER_PASSWORD));
    const char *h[] = {ts_basic(&app), NULL};
    r = ts_post(f.s, "/oauth/token", h, form);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "client_id"), app.id);
    /* a wrong secret, or none, is refused */
    struct ts_account wrong = app;
    wrong.secret[10] = wrong.secret[10] == 'A' ? 'B' : 'A';
    const char *hw[] = {ts_basic(&wrong), NULL};
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", hw, form), 401, "invalid_client");
    CHECK_OAUTH_ERROR(
        ts_post(f.s, "/oauth/token", NULL, ts_printf("%s&client_id=%s", form, app.id)), 401,
        "invalid_client");
}

TEST(apps_bad_input_changes_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    static const char *const bad[] = {
        "{\"name\":\"x\",\"grant_types\":[\"password\",\"client_credentials\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"authorization_code\"]}",
        "{\"name\":\"x\",\"grant_types\":[]}",
        "{\"name\":\"x\"}",
        "{\"name\":\"x\",\"grant_types\":\"password\"}",
        "{\"name\":\"x\",\"grant_types\":[1]}",
        "{\"name\":\"x\",\"grant_types\":[\"pass\\u0000word\"]}",
        "{\"grant_types\":[\"password\"]}",
        "{\"name\":\"\",\"grant_types\":[\"password\"]}",
        "{\"name\":\"a\\u0001b\",\"grant_types\":[\"password\"]}",
        "{\"name\":7,\"grant_types\":[\"password\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"type\":\"secret\"}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"type\":\"\"}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"client_secret\":\"s\"}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"redirect_uris\":[\"no scheme\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"redirect_uris\":[\"/relative\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"redirect_uris\":[\"https://a/cb#frag\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"redirect_uris\":[\"\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"redirect_uris\":\"https://a/cb\"}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"allowed_origins\":[\"https://a/path\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"allowed_origins\":[\"a.example\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"allowed_origins\":[\"https://\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"allowed_origins\":[\"https://u@a\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"allowed_origins\":[\"https://"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaa\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"first_party\":\"yes\"}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"],\"post_logout_redirect_uris\":[\"/out\"]}",
        "{\"name\":\"x\",\"grant_types\":[\"password\"]",
        "[]",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin, bad[i]);
        CHECK_MSG(r->status == 400, "body %s: %ld %s", bad[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    /* the problem names what is wrong */
    struct ts_resp *r =
        ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"x\",\"grant_types\":[\"password\",\"client_credentials\"]}");
    CHECK_MSG(strstr(ts_jstr(r->json, "detail"), "grant_types[1]") != NULL, "%s", r->body);
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"x\",\"grant_types\":[\"password\"],\"colour\":\"red\"}");
    CHECK_PROBLEM(r, 400);
    CHECK_MSG(strstr(ts_jstr(r->json, "detail"), "colour") != NULL, "%s", r->body);
    /* too many redirect URIs */
    json_t *uris = json_array();
    for (int i = 0; i < 17; i++)
        json_array_append_new(uris, json_string(ts_printf("https://a.example/cb%d", i)));
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  js(json_pack("{s:s, s:[s], s:o}", "name", "x", "grant_types", "password",
                               "redirect_uris", uris)));
    CHECK_PROBLEM(r, 400);
    /* a URI one byte too long */
    char *longuri = ts_keep(malloc(1100));
    memset(longuri, 'a', 1099);
    memcpy(longuri, "https://a/", 10);
    longuri[1025] = '\0';
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  js(json_pack("{s:s, s:[s], s:[s]}", "name", "x", "grant_types", "password",
                               "redirect_uris", longuri)));
    CHECK_PROBLEM(r, 400);
    longuri[1024] = '\0'; /* 1024 bytes is allowed */
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  js(json_pack("{s:s, s:[s], s:[s]}", "name", "x", "grant_types", "password",
                               "redirect_uris", longuri)));
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *id = ts_jstr(r->json, "id");
    /* nothing else was made */
    json_t *all = snap(&f, "/admin/v1/applications");
    CHECK_INT(json_array_size(all), 1);
    CHECK_STR(ts_jstr(json_array_get(all, 0), "id"), id);
    /* repeats are kept once; the smallest create answers public */
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"y\",\"grant_types\":[\"urn:idpd:grant-type:anonymous\","
                  "\"urn:idpd:grant-type:anonymous\"]}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "grant_types")),
              "urn:idpd:grant-type:anonymous");
    CHECK_STR(ts_jstr(r->json, "type"), "public");
    CHECK_INT(json_array_size(json_object_get(r->json, "redirect_uris")), 0);
    CHECK_INT(json_array_size(json_object_get(r->json, "allowed_origins")), 0);
}

TEST(apps_list_paging)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *ids[3];
    for (int i = 0; i < 3; i++) {
        struct ts_resp *r =
            ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                      ts_printf("{\"name\":\"app %d\",\"grant_types\":[\"password\"]}", i));
        CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
        ids[i] = ts_jstr(r->json, "id");
    }
    /* an application made by the command line is listed too */
    struct ts_account cli;
    CHECK(ts_app_create(f.s->data, "from the CLI", pw_grants, NULL, &cli) == 0);
    json_t *all = snap(&f, "/admin/v1/applications");
    CHECK_INT(json_array_size(all), 4);
    for (int i = 0; i < 3; i++)
        CHECK_STR(ts_jstr(json_array_get(all, (size_t)i), "id"), ids[i]); /* creation order */
    CHECK_STR(ts_jstr(json_array_get(all, 3), "id"), cli.id);
    CHECK_STR(ts_jstr(json_array_get(all, 3), "name"), "from the CLI");

    /* limit=1 and next walk them all, in order */
    const char *path = "/admin/v1/applications?limit=1";
    size_t seen = 0;
    for (int guard = 0; path && guard < 10; guard++) {
        struct ts_resp *r = ts_bearer(f.s, "GET", path, f.t_auditor, NULL);
        CHECK_MSG(r->status == 200, "%s: %ld %s", path, r->status, r->body);
        json_t *it = items_of(r);
        const char *next = ts_jstr(r->json, "next");
        if (json_array_size(it) == 0) {
            CHECK(is_null(r->json, "next"));
            break;
        }
        CHECK_INT(json_array_size(it), 1);
        CHECK_STR(ts_jstr(json_array_get(it, 0), "id"), ts_jstr(json_array_get(all, seen), "id"));
        seen++;
        CHECK(next != NULL);
        path = ts_printf("/admin/v1/applications?limit=1&after=%s", next);
    }
    CHECK_INT(seen, 4);
    /* limits and cursors that are wrong */
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications?limit=0", f.t_admin, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications?limit=501", f.t_admin, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications?limit=x", f.t_admin, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications?name=x", f.t_admin, NULL), 400);
    struct ts_resp *r = ts_bearer(f.s, "GET", "/admin/v1/applications?limit=2", f.t_admin, NULL);
    const char *next = ts_jstr(r->json, "next");
    CHECK(next != NULL);
    char *bad = ts_keep(strdup(next));
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    CHECK_PROBLEM(
        ts_bearer(f.s, "GET", ts_printf("/admin/v1/applications?after=%s", bad), f.t_admin, NULL),
        400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/applications?after=junk", f.t_admin, NULL), 400);
    /* a cursor of another list is refused */
    CHECK_PROBLEM(
        ts_bearer(f.s, "GET", ts_printf("/admin/v1/users?after=%s", next), f.t_admin, NULL), 400);
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/applications?limit=2&after=%s", next), f.t_admin,
                  NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 2);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "id"), ids[2]);
}

TEST(app_by_api_used_for_password_login)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r =
        ts_bearer(f.s, "POST", "/admin/v1/users", f.t_admin,
                  "{\"email\":\"grace@example.org\",\"password\":\"" USER_PASSWORD "\"}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *user_id = ts_jstr(r->json, "id");
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"SDK\",\"grant_types\":[\"password\",\"refresh_token\"]}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *app = ts_jstr(r->json, "client_id");

    r = ts_login(f.s, app, "grace@example.org", USER_PASSWORD, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "sub"), user_id);
    CHECK_STR(ts_jstr(claims, "client_id"), app);
    const char *refresh = ts_jstr(r->json, "refresh_token");
    CHECK(refresh != NULL);

    /* the grants the application holds decide: without password it may only refresh */
    r = ts_bearer(f.s, "PATCH", app_path(app), f.t_admin, "{\"grant_types\":[\"refresh_token\"]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_OAUTH_ERROR(ts_login(f.s, app, "grace@example.org", USER_PASSWORD, NULL), 400,
                      "unauthorized_client");
    r = ts_refresh(f.s, app, refresh, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    refresh = ts_jstr(r->json, "refresh_token");

    /* a deleted application is no client at all */
    r = ts_bearer(f.s, "DELETE", app_path(app), f.t_admin, NULL);
    CHECK_INT(r->status, 204);
    CHECK_OAUTH_ERROR(ts_login(f.s, app, "grace@example.org", USER_PASSWORD, NULL), 401,
                      "invalid_client");
    r = ts_refresh(f.s, app, refresh, NULL);
    CHECK_MSG(r->status == 400 || r->status == 401, "%ld %s", r->status, r->body);
}

/* ---- keys ---- */

static json_t *key_in_state(json_t *keys, const char *state)
{
    return find(keys, "state", state);
}

static json_t *jwks(struct fixture *f)
{
    struct ts_resp *r = ts_get(f->s, "/jwks");
    return r->status == 200 ? r->json : NULL;
}

/* The body of a rotation that must not wait for the next key's publication. */
#define FORCE "{\"force\":true}"

TEST(keys_list_and_rotate_keep_old_tokens)
{
    struct fixture f;
    CHECK(setup(&f));
    long long t0 = now_s();
    /* active and next, for every reader */
    const char *readers[] = {f.t_admin, f.t_uadmin, f.t_auditor};
    json_t *keys = NULL;
    for (size_t i = 0; i < 3; i++) {
        struct ts_resp *r = ts_bearer(f.s, "GET", "/admin/v1/keys", readers[i], NULL);
        CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
        keys = items_of(r);
        CHECK(is_null(r->json, "next"));
    }
    CHECK_INT(json_array_size(keys), 2);
    json_t *active = key_in_state(keys, "active"), *next = key_in_state(keys, "next");
    CHECK(active && next);
    const char *kid_a = ts_jstr(active, "kid"), *kid_n = ts_jstr(next, "kid");
    CHECK(kid_a && kid_n && strcmp(kid_a, kid_n) != 0);
    CHECK_STR(ts_jstr(active, "alg"), "ES256");
    CHECK_STR(ts_jstr(next, "alg"), "ES256");
    CHECK_INT(json_object_size(active), 6);
    CHECK(ts_jint(active, "created_at") > 0 && ts_jint(active, "created_at") <= t0);
    CHECK(ts_jint(active, "activated_at") > 0);
    CHECK(is_null(active, "retire_after"));
    CHECK(ts_jint(next, "created_at") > 0);
    CHECK(is_null(next, "activated_at") && is_null(next, "retire_after"));
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/keys", f.t_plain, NULL), 403);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/admin/v1/keys", NULL, NULL), "");

    /* a token signed before the rotation */
    const char *old_token = ts_token_str(f.s, &f.admin);
    json_t *hdr, *claims;
    CHECK(old_token && ts_jwt_decode(old_token, &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(hdr, "kid"), kid_a);

    /* only idp:admin rotates; a refusal changes nothing */
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_uadmin, NULL), 403);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_auditor, NULL), 403);
    CHECK_BEARER_401(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", NULL, NULL), "");
    CHECK_INT(json_array_size(snap(&f, "/admin/v1/keys")), 2);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid_a);

    /* the next key was made at start, moments ago: only force rotates to it now (the wait
     * itself is keys_rotation_waits_for_publication's) */
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, FORCE);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    keys = items_of(r);
    CHECK_INT(json_array_size(keys), 3);
    /* the pre-published next key signs now; the old one is retired; a new next key exists */
    CHECK_STR(ts_jstr(key_in_state(keys, "active"), "kid"), kid_n);
    json_t *retired = find(keys, "kid", kid_a);
    CHECK(retired != NULL);
    CHECK_STR(ts_jstr(retired, "state"), "retired");
    /* it keeps verifying until every token it signed has expired (one hour, plus leeway) */
    CHECK(ts_jint(retired, "retire_after") >= t0 + 3600);
    CHECK(ts_jint(retired, "retire_after") <= now_s() + 3600 + 300);
    json_t *new_next = key_in_state(keys, "next");
    CHECK(new_next != NULL);
    const char *kid_nn = ts_jstr(new_next, "kid");
    CHECK(strcmp(kid_nn, kid_a) != 0 && strcmp(kid_nn, kid_n) != 0);
    CHECK(ts_jint(key_in_state(keys, "active"), "activated_at") >= t0);
    /* GET shows the same */
    CHECK_STR(js(json_incref(snap(&f, "/admin/v1/keys"))), js(json_incref(keys)));

    /* the JWKS of this server holds all three at once */
    json_t *set = jwks(&f);
    CHECK(set != NULL);
    CHECK_INT(json_array_size(json_object_get(set, "keys")), 3);
    CHECK(ts_jwks_key(set, kid_a) && ts_jwks_key(set, kid_n) && ts_jwks_key(set, kid_nn));
    /* the old token still verifies against the published key, and introspects active */
    CHECK(ts_es256_verify(old_token, ts_jwks_key(set, kid_a)) == 1);
    CHECK(ts_es256_verify(old_token, ts_jwks_key(set, kid_n)) == 0);
    r = ts_introspect(f.s, &f.intro, old_token);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    /* and still works on the admin API */
    r = ts_bearer(f.s, "GET", "/admin/v1/keys", old_token, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);

    /* new tokens carry the new kid */
    const char *new_token = ts_token_str(f.s, &f.admin);
    CHECK(new_token && ts_jwt_decode(new_token, &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(hdr, "kid"), kid_n);
    CHECK(ts_es256_verify(new_token, ts_jwks_key(set, kid_n)) == 1);
    r = ts_introspect(f.s, &f.intro, new_token);
    CHECK(json_is_true(json_object_get(r->json, "active")));

    /* the rotation is audited with the new active kid */
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.keys.rotate", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 1);
    json_t *ev = json_array_get(items_of(r), 0);
    CHECK_STR(ts_jstr(ev, "actor"), f.admin.id);
    CHECK_STR(ts_jstr(ev, "target"), kid_n);
    CHECK_STR(ts_jstr(ev, "result"), "success");
    CHECK(strncmp(ts_jstr(ev, "detail"), "forced: ", 8) == 0);

    /* a second rotation retires the second key; the first stays published */
    r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, FORCE);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 4);
    CHECK_STR(ts_jstr(key_in_state(items_of(r), "active"), "kid"), kid_nn);
    set = jwks(&f);
    CHECK(ts_es256_verify(old_token, ts_jwks_key(set, kid_a)) == 1);
    CHECK(ts_es256_verify(new_token, ts_jwks_key(set, kid_n)) == 1);
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, old_token)->json, "active")));
}

static const char *const fast_refresh[] = {"IDPD_KEYS_REFRESH_INTERVAL=1", NULL};

TEST(keys_rotate_cli_while_serving)
{
    struct fixture f;
    struct ts_opts o = {.env = fast_refresh};
    CHECK(setup_with(&f, &o));
    json_t *keys = snap(&f, "/admin/v1/keys");
    const char *kid_a = ts_jstr(key_in_state(keys, "active"), "kid");
    const char *kid_n = ts_jstr(key_in_state(keys, "next"), "kid");
    CHECK(kid_a && kid_n);
    const char *old_token = ts_token_str(f.s, &f.admin);
    CHECK(old_token != NULL);

    /* the next key was made at start: too young to sign (jwks_max_age 300 s by default) */
    const char *young[] = {"keys", "rotate", "--data", f.s->data, NULL};
    struct ts_cmd *c = ts_run(young, NULL);
    CHECK_MSG(c->status == 1, "exit %d; stderr %s", c->status, c->err);
    CHECK_STR(c->out, "");
    CHECK_MSG(strstr(c->err, "--force") != NULL, "stderr %s", c->err);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid_a);

    const char *args[] = {"keys", "rotate", "--data", f.s->data, "--force", NULL};
    c = ts_run(args, NULL);
    CHECK_MSG(c->status == 0, "exit %d; stderr %s", c->status, c->err);
    /* it prints the key list */
    json_t *out = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK_MSG(out && json_object_size(out) == 1, "stdout %s", c->out);
    json_t *list = json_object_get(out, "keys");
    CHECK_INT(json_array_size(list), 3);
    CHECK_STR(ts_jstr(key_in_state(list, "active"), "kid"), kid_n);
    CHECK_STR(ts_jstr(find(list, "kid", kid_a), "state"), "retired");
    CHECK(ts_jint(find(list, "kid", kid_a), "retire_after") > now_s());
    const char *kid_nn = ts_jstr(key_in_state(list, "next"), "kid");
    CHECK(kid_nn != NULL);
    CHECK_INT(json_object_size(key_in_state(list, "next")), 6);
    CHECK(!strstr(c->out, "\"d\"") && !strstr(c->out, "private"));

    /* within keys_refresh_interval the server publishes the new next key */
    json_t *set = NULL;
    for (int i = 0; i < 100; i++) {
        set = jwks(&f);
        if (set && ts_jwks_key(set, kid_nn))
            break;
        usleep(100 * 1000);
    }
    CHECK_MSG(set && ts_jwks_key(set, kid_nn), "the JWKS never showed %s", kid_nn);
    CHECK(ts_jwks_key(set, kid_a) && ts_jwks_key(set, kid_n));
    CHECK(ts_es256_verify(old_token, ts_jwks_key(set, kid_a)) == 1);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid_n);
    json_t *hdr, *claims;
    const char *new_token = ts_token_str(f.s, &f.admin);
    CHECK(new_token && ts_jwt_decode(new_token, &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(hdr, "kid"), kid_n);
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, old_token)->json, "active")));
    /* the command line's rotation is audited too */
    struct ts_resp *r =
        ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.keys.rotate", f.t_admin, NULL);
    CHECK_INT(json_array_size(items_of(r)), 1);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "target"), kid_n);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "actor"), "");
    CHECK(strncmp(ts_jstr(json_array_get(items_of(r), 0), "detail"),
                  "from the command line, forced: ", 31) == 0);

    /* usage errors */
    const char *bad[] = {"keys", "turn", "--data", f.s->data, NULL};
    CHECK_INT(ts_run(bad, NULL)->status, 2);
    const char *twice[] = {"keys", "rotate", "--force", "--force", "--data", f.s->data, NULL};
    CHECK_INT(ts_run(twice, NULL)->status, 2);
    const char *none[] = {"keys", NULL};
    CHECK_INT(ts_run(none, NULL)->status, 2);
}

/* Rotation activates only a next key every verifier can know: one in the JWKS for jwks_max_age
 * (a verifier's cache) + keys_refresh_interval (other processes' reload), here 1 + 1 s. A quick
 * second rotation is 409 and changes nothing; force activates anyway and says so in the audit
 * log; a key published long enough rotates without force. */
TEST(keys_rotation_waits_for_publication)
{
    static const char *const env[] = {"IDPD_JWKS_MAX_AGE=1", "IDPD_KEYS_REFRESH_INTERVAL=1", NULL};
    struct fixture f;
    struct ts_opts o = {.env = env};
    CHECK(setup_with(&f, &o));
    CHECK_STR(ts_header(ts_get(f.s, "/jwks"), "Cache-Control"), "public, max-age=1");
    /* the first next key, made at start, has been published long enough by now (its wait is
     * 2 s, counted in whole seconds: 3) */
    sleep(3);
    const char *kid_n = ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "next"), "kid");
    CHECK(kid_n != NULL);
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(key_in_state(items_of(r), "active"), "kid"), kid_n);
    const char *kid_nn = ts_jstr(key_in_state(items_of(r), "next"), "kid");
    CHECK(kid_nn && strcmp(kid_nn, kid_n) != 0);
    const char *before = js(json_incref(items_of(r)));

    /* at once again: the next key was published 0 s ago; 409 and nothing changes */
    r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, NULL);
    CHECK_PROBLEM(r, 409);
    CHECK(strstr(ts_jstr(r->json, "detail"), "force") != NULL);
    const char *retry = ts_header(r, "Retry-After");
    long wait = retry ? strtol(retry, NULL, 10) : 0;
    CHECK_MSG(wait >= 1 && wait <= 3, "Retry-After %s", retry ? retry : "(none)");
    CHECK(ts_jint(r->json, "ready_at") > now_s() && ts_jint(r->json, "ready_at") <= now_s() + 3);
    CHECK_STR(js(json_incref(snap(&f, "/admin/v1/keys"))), before);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid_n);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, "{\"force\":false}"),
                  409);
    /* a body that is not {"force": boolean} is refused before anything happens */
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, "{\"force\":1}"), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, "{\"now\":true}"),
                  400);
    CHECK_STR(js(json_incref(snap(&f, "/admin/v1/keys"))), before);
    /* only the first rotation is in the audit log, not forced */
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.keys.rotate", f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 1);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "target"), kid_n);
    CHECK(strstr(r->body, "forced") == NULL);

    /* force: the young key signs now, and the audit event says it was forced */
    r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", f.t_admin, FORCE);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(key_in_state(items_of(r), "active"), "kid"), kid_nn);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(ts_token_str(f.s, &f.admin), &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(hdr, "kid"), kid_nn);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.keys.rotate", f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 2);
    json_t *ev = json_array_get(items_of(r), 0);
    CHECK_STR(ts_jstr(ev, "target"), kid_nn);
    CHECK_STR(ts_jstr(ev, "actor"), f.admin.id);
    CHECK_MSG(strncmp(ts_jstr(ev, "detail"), "forced: ", 8) == 0, "detail %s",
              ts_jstr(ev, "detail"));
}

TEST(keys_automatic_rotation)
{
    /* a ring whose active key has signed for two hours already */
    const char *data = ts_path("data");
    struct keys *kr = ts_keys_open(data);
    CHECK(kr != NULL);
    CHECK_INT(keys_rotate(kr, (int64_t)time(NULL) - 7200), KEYS_OK);
    struct keys_info *info = NULL;
    size_t n = 0;
    CHECK_INT(keys_list(kr, &info, &n), KEYS_OK);
    ts_keep(info);
    char kid_a[KEYS_KID_MAX] = "", kid_n[KEYS_KID_MAX] = "";
    for (size_t i = 0; i < n; i++) {
        if (strcmp(info[i].state, "active") == 0)
            snprintf(kid_a, sizeof kid_a, "%s", info[i].kid);
        if (strcmp(info[i].state, "next") == 0)
            snprintf(kid_n, sizeof kid_n, "%s", info[i].kid);
    }
    CHECK(kid_a[0] && kid_n[0]);

    static const char *const env[] = {"IDPD_KEYS_REFRESH_INTERVAL=1",
                                      "IDPD_KEY_ROTATION_INTERVAL=3600", NULL};
    struct fixture f;
    struct ts_opts o = {.data = data, .env = env};
    CHECK(setup_with(&f, &o));
    /* within a refresh interval or two the next key becomes active */
    json_t *keys = NULL;
    for (int i = 0; i < 100; i++) {
        keys = snap(&f, "/admin/v1/keys");
        const char *kid = ts_jstr(key_in_state(keys, "active"), "kid");
        if (kid && strcmp(kid, kid_n) == 0)
            break;
        usleep(100 * 1000);
    }
    CHECK_STR(ts_jstr(key_in_state(keys, "active"), "kid"), kid_n);
    CHECK(ts_jint(key_in_state(keys, "active"), "activated_at") >= now_s() - 30);
    const char *kid_nn = ts_jstr(key_in_state(keys, "next"), "kid");
    CHECK(kid_nn && strcmp(kid_nn, kid_a) != 0);
    CHECK(ts_jwks_key(jwks(&f), kid_nn) != NULL);
    CHECK(ts_log_wait(f.s, "rotated automatically", 5000));
    struct ts_resp *r =
        ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=keys.rotate", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 1);
    json_t *ev = json_array_get(items_of(r), 0);
    CHECK_STR(ts_jstr(ev, "actor"), "");
    CHECK_STR(ts_jstr(ev, "target"), kid_n);
    CHECK_STR(ts_jstr(ev, "detail"), "automatic");
    /* the fresh active key is not rotated again */
    sleep(3);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid_n);
    CHECK_INT(json_array_size(items_of(ts_bearer(
                  f.s, "GET", "/admin/v1/audit-events?type=keys.rotate", f.t_auditor, NULL))),
              1);
}

TEST(keys_rotation_off_by_default)
{
    /* the same old ring, without the setting: nothing rotates */
    const char *data = ts_path("data");
    struct keys *kr = ts_keys_open(data);
    CHECK(kr != NULL);
    CHECK_INT(keys_rotate(kr, (int64_t)time(NULL) - 7200), KEYS_OK);
    struct fixture f;
    struct ts_opts o = {.data = data, .env = fast_refresh};
    CHECK(setup_with(&f, &o));
    const char *kid = ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid");
    CHECK(kid != NULL);
    sleep(3);
    CHECK_STR(ts_jstr(key_in_state(snap(&f, "/admin/v1/keys"), "active"), "kid"), kid);
    CHECK(strstr(ts_log(f.s), "rotated automatically") == NULL);
}

/* ---- audit ---- */

/* 1 when the items' ids strictly decrease and their times do not increase: newest first. */
static int newest_first(json_t *items)
{
    for (size_t i = 1; i < json_array_size(items); i++) {
        json_t *a = json_array_get(items, i - 1), *b = json_array_get(items, i);
        if (strcmp(ts_jstr(a, "id"), ts_jstr(b, "id")) <= 0 ||
            ts_jint(a, "time") < ts_jint(b, "time"))
            return 0;
    }
    return 1;
}

/* Every item's id, "a,b,c". */
static const char *ids_of(json_t *items)
{
    json_t *ids = ts_keep_json(json_array());
    size_t i;
    json_t *v;
    json_array_foreach(items, i, v)
    {
        json_array_append_new(ids, json_string(ts_jstr(v, "id")));
    }
    return ts_jarray_join(ids);
}

/* Follows next with limit=1 from path (which has a '?'); every item's id, "a,b,c". */
static const char *walk(struct fixture *f, const char *path, int *pages)
{
    json_t *ids = ts_keep_json(json_array());
    const char *p = ts_printf("%s&limit=1", path);
    *pages = 0;
    for (int guard = 0; p && guard < 100; guard++) {
        struct ts_resp *r = ts_bearer(f->s, "GET", p, f->t_auditor, NULL);
        if (r->status != 200 || json_array_size(items_of(r)) > 1) {
            fprintf(stderr, "  walk %s: %ld %s\n", p, r->status, r->body);
            return NULL;
        }
        (*pages)++;
        if (json_array_size(items_of(r)) == 1)
            json_array_append_new(ids, json_string(ts_jstr(json_array_get(items_of(r), 0), "id")));
        const char *next = ts_jstr(r->json, "next");
        p = next ? ts_printf("%s&limit=1&after=%s", path, next) : NULL;
    }
    return ts_jarray_join(ids);
}

TEST(audit_events_filters_paging_no_secrets)
{
    struct fixture f;
    CHECK(setup(&f));
    long long t0 = now_s();
    /* some mutations */
    struct ts_resp *r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin, WEB_APP);
    CHECK_INT(r->status, 201);
    const char *app = ts_jstr(r->json, "id");
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", f.t_admin,
                  "{\"name\":\"conf\",\"type\":\"confidential\",\"grant_types\":[\"password\"]}");
    CHECK_INT(r->status, 201);
    const char *conf = ts_jstr(r->json, "id"), *conf_secret = ts_jstr(r->json, "client_secret");
    CHECK(conf_secret != NULL);
    r = ts_bearer(f.s, "POST", "/admin/v1/users", f.t_uadmin,
                  "{\"email\":\"lin@example.org\",\"password\":\"" USER_PASSWORD "\"}");
    CHECK_INT(r->status, 201);
    const char *user = ts_jstr(r->json, "id");
    r = ts_bearer(f.s, "PATCH", app_path(app), f.t_admin, "{\"name\":\"renamed\"}");
    CHECK_INT(r->status, 200);
    r = ts_bearer(f.s, "DELETE", app_path(app), f.t_admin, NULL);
    CHECK_INT(r->status, 204);
    /* a refused call is no mutation */
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", app_path(conf), f.t_uadmin, NULL), 403);
    r = ts_login(f.s, conf, "lin@example.org", USER_PASSWORD, NULL); /* fails: no secret */
    CHECK(r->status != 200);

    /* the whole log, newest first */
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    json_t *all = items_of(r);
    CHECK(json_array_size(all) >= 5);
    CHECK(newest_first(all));
    CHECK(is_null(r->json, "next"));
    json_t *e0 = json_array_get(all, 0);
    CHECK_INT(json_object_size(e0), 8);
    CHECK(ts_jstr(e0, "id") && strncmp(ts_jstr(e0, "id"), "evt_", 4) == 0);
    /* the admin API's mutations, in the order they were made, newest first */
    json_t *mine = ts_keep_json(json_array());
    size_t i;
    json_t *ev;
    json_array_foreach(all, i, ev)
    {
        if (strncmp(ts_jstr(ev, "type"), "admin.", 6) == 0 && ts_jstr(ev, "actor")[0])
            json_array_append(mine, ev); /* the API's, not the command line's */
    }
    CHECK_INT(json_array_size(mine), 5);
    const char *types[] = {"admin.application.delete", "admin.application.update",
                           "admin.user.create", "admin.application.create",
                           "admin.application.create"};
    const char *targets[] = {app, app, user, conf, app};
    const char *actors[] = {f.admin.id, f.admin.id, f.uadmin.id, f.admin.id, f.admin.id};
    for (size_t k = 0; k < 5; k++) {
        json_t *e = json_array_get(mine, k);
        CHECK_STR(ts_jstr(e, "type"), types[k]);
        CHECK_STR(ts_jstr(e, "target"), targets[k]);
        CHECK_STR(ts_jstr(e, "actor"), actors[k]);
        CHECK_STR(ts_jstr(e, "result"), "success");
        CHECK_STR(ts_jstr(e, "client_ip"), "127.0.0.1");
        CHECK(ts_jint(e, "time") >= t0 && ts_jint(e, "time") <= now_s());
    }
    CHECK_STR(ts_jstr(json_array_get(mine, 1), "detail"), "name");
    CHECK_STR(ts_jstr(json_array_get(mine, 3), "detail"), "confidential");

    /* no secret, password or token anywhere: not in any detail, not in the body */
    const char *never[] = {conf_secret,      USER_PASSWORD, f.admin.secret, f.uadmin.secret,
                           f.auditor.secret, f.t_admin,     f.t_uadmin};
    for (size_t k = 0; k < sizeof never / sizeof never[0]; k++) {
        CHECK_MSG(strstr(r->body, never[k]) == NULL, "the audit log holds a secret: %s", r->body);
        json_array_foreach(all, i, ev)
        {
            CHECK(strstr(ts_jstr(ev, "detail"), never[k]) == NULL);
        }
    }
    CHECK(strstr(r->body, "idpsec_") == NULL);
    CHECK(strstr(r->body, "$argon2") == NULL);

    /* filters */
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.application.create", f.t_admin,
                  NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 2);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "target"), conf);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 1), "target"), app);
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?target=%s", app), f.t_auditor,
                  NULL);
    CHECK_INT(json_array_size(items_of(r)), 3);
    CHECK_INT(count(items_of(r), "target", app), 3);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "type"), "admin.application.delete");
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 2), "type"), "admin.application.create");
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?actor=%s", f.uadmin.id),
                  f.t_auditor, NULL);
    json_t *by_uadmin = items_of(r);
    CHECK(find(by_uadmin, "type", "admin.user.create") != NULL);
    CHECK_INT(count(by_uadmin, "actor", f.uadmin.id), json_array_size(by_uadmin));
    r = ts_bearer(f.s, "GET",
                  ts_printf("/admin/v1/audit-events?actor=%s&type=admin.user.create&target=%s",
                            f.uadmin.id, user),
                  f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 1);
    r = ts_bearer(f.s, "GET",
                  ts_printf("/admin/v1/audit-events?actor=%s&type=admin.user.create", f.admin.id),
                  f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 0);
    CHECK(is_null(r->json, "next"));
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=no.such.type", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 0);
    /* since: seconds; the future holds nothing, 0 everything */
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?since=%lld", now_s() + 100),
                  f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 0);
    CHECK(is_null(r->json, "next"));
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?since=0", f.t_auditor, NULL);
    CHECK(json_array_size(items_of(r)) >= json_array_size(all));
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?since=%lld", t0), f.t_auditor,
                  NULL);
    CHECK(json_array_size(items_of(r)) >= 5);
    json_array_foreach(items_of(r), i, ev)
    {
        CHECK(ts_jint(ev, "time") >= t0);
    }
    static const char *const bad_q[] = {
        "since=-1",   "since=abc",  "since=1.5", "since=",    "since=99999999999999999999",
        "since=+5",   "since=%205", "limit=0",   "limit=501", "colour=red",
        "after=nope",
    };
    for (size_t k = 0; k < sizeof bad_q / sizeof bad_q[0]; k++)
        CHECK_PROBLEM(ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?%s", bad_q[k]),
                                f.t_auditor, NULL),
                      400);
    char longtype[80];
    memset(longtype, 'x', sizeof longtype - 1);
    longtype[sizeof longtype - 1] = '\0';
    CHECK_PROBLEM(ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?type=%s", longtype),
                            f.t_auditor, NULL),
                  400);

    /* paging with limit=1 and next: the same events, in the same order */
    int pages = 0;
    const char *walked = walk(&f, ts_printf("/admin/v1/audit-events?target=%s", app), &pages);
    CHECK(walked != NULL);
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?target=%s", app), f.t_auditor,
                  NULL);
    CHECK_STR(walked, ids_of(items_of(r)));
    CHECK(pages == 3 || pages == 4);
    walked = walk(&f, "/admin/v1/audit-events?type=admin.application.create", &pages);
    CHECK_STR(walked, ids_of(items_of(ts_bearer(
                          f.s, "GET", "/admin/v1/audit-events?type=admin.application.create",
                          f.t_auditor, NULL))));
    /* a cursor that was tampered with, or carried to other filters, is refused */
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?target=%s&limit=1", app),
                  f.t_auditor, NULL);
    const char *next = ts_jstr(r->json, "next");
    CHECK(next != NULL);
    char *bad = ts_keep(strdup(next));
    bad[0] = bad[0] == 'A' ? 'B' : 'A';
    CHECK_PROBLEM(ts_bearer(f.s, "GET",
                            ts_printf("/admin/v1/audit-events?target=%s&after=%s", app, bad),
                            f.t_auditor, NULL),
                  400);
    bad = ts_keep(strdup(next));
    bad[strlen(bad) - 3] = bad[strlen(bad) - 3] == 'A' ? 'B' : 'A';
    CHECK_PROBLEM(ts_bearer(f.s, "GET",
                            ts_printf("/admin/v1/audit-events?target=%s&after=%s", app, bad),
                            f.t_auditor, NULL),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET",
                            ts_printf("/admin/v1/audit-events?target=%s&after=%s", user, next),
                            f.t_auditor, NULL),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?after=%s", next),
                            f.t_auditor, NULL),
                  400);
    r = ts_bearer(f.s, "GET", ts_printf("/admin/v1/audit-events?target=%s&after=%s", app, next),
                  f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 2);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "type"), "admin.application.update");
}

TEST(audit_roles)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r = ts_bearer(f.s, "GET", "/admin/v1/audit-events", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events", f.t_admin, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events", f.t_uadmin, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK(strstr(ts_jstr(r->json, "detail"), "idp:auditor") != NULL);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", "/admin/v1/audit-events", f.t_plain, NULL), 403);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/admin/v1/audit-events", NULL, NULL), "");
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/audit-events", f.t_admin, "{}"), 405);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", "/admin/v1/audit-events", f.t_admin, NULL), 405);
}

struct old_events {
    int64_t now;
};

static int append_txn(struct store_txn *txn, void *arg)
{
    struct old_events *o = arg;
    struct store_audit_event ev = {0};
    const int64_t ages[] = {100 * 86400, 10 * 86400}; /* oldest first: ids sort by creation */
    const char *types[] = {"test.old", "test.recent"};
    for (int i = 0; i < 2; i++) {
        memset(&ev, 0, sizeof ev);
        if (crypto_id_new("evt", ev.id, sizeof ev.id) != CRYPTO_OK)
            return STORE_EINVAL;
        ev.time = o->now - ages[i];
        snprintf(ev.type, sizeof ev.type, "%s", types[i]);
        snprintf(ev.result, sizeof ev.result, "success");
        int rc = store_audit_append(txn, &ev);
        if (rc != STORE_OK)
            return rc;
        usleep(5000); /* the next id sorts after this one */
    }
    return STORE_OK;
}

TEST(audit_retention_sweeps_old_events)
{
    const char *data = ts_path("data");
    struct store *st = NULL;
    struct old_events o = {(int64_t)time(NULL)};
    CHECK(mkdir(data, 0700) == 0);
    CHECK_INT(store_open(th_store_for(data), NULL, &st), STORE_OK);
    int rc = store_write(st, append_txn, &o);
    store_close(st);
    CHECK_INT(rc, STORE_OK);

    struct fixture f;
    struct ts_opts opts = {.data = data};
    CHECK(setup_with(&f, &opts));
    CHECK(ts_log_wait(f.s, "audit retention removed 1 events older than 90 days", 10000));
    struct ts_resp *r =
        ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=test.old", f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 0);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=test.recent", f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 1);
    CHECK_STR(ts_jstr(json_array_get(items_of(r), 0), "result"), "success");
    CHECK_INT(ts_stop(f.s), 0);

    /* a shorter retention takes the recent one too */
    static const char *const env[] = {"IDPD_AUDIT_RETENTION_DAYS=5", NULL};
    opts.env = env;
    struct ts_server *s = ts_start(&opts);
    CHECK(s != NULL);
    CHECK(ts_log_wait(s, "audit retention removed 1 events older than 5 days", 10000));
    r = ts_bearer(s, "GET", "/admin/v1/audit-events?type=test.recent", ts_token_str(s, &f.auditor),
                  NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(items_of(r)), 0);
}

struct filler {
    int64_t now;
    size_t n;
};

/* One "test.needle" event, then n "test.filler" events after it (all recent). */
static int filler_txn(struct store_txn *txn, void *arg)
{
    struct filler *fl = arg;
    struct store_audit_event ev;
    for (size_t i = 0; i <= fl->n; i++) {
        memset(&ev, 0, sizeof ev);
        if (crypto_id_new("evt", ev.id, sizeof ev.id) != CRYPTO_OK)
            return STORE_EINVAL;
        ev.time = fl->now;
        snprintf(ev.type, sizeof ev.type, "%s", i == 0 ? "test.needle" : "test.filler");
        snprintf(ev.result, sizeof ev.result, "success");
        int rc = store_audit_append(txn, &ev);
        if (rc != STORE_OK)
            return rc;
        if (i == 0)
            usleep(5000); /* the fillers' ids sort after the needle's */
    }
    return STORE_OK;
}

TEST(audit_long_log_pages_by_cursor)
{
    /* more events than one request looks at, the only match the oldest */
    const char *data = ts_path("data");
    struct store *st = NULL;
    struct filler fl = {(int64_t)time(NULL), 12000};
    CHECK(mkdir(data, 0700) == 0);
    CHECK_INT(store_open(th_store_for(data), NULL, &st), STORE_OK);
    int rc = store_write(st, filler_txn, &fl);
    store_close(st);
    CHECK_INT(rc, STORE_OK);
    struct fixture f;
    struct ts_opts o = {.data = data};
    CHECK(setup_with(&f, &o));

    /* a page may come back short, even empty, with a cursor to go on; the needle is found */
    const char *path = "/admin/v1/audit-events?type=test.needle&limit=5";
    const char *found = NULL;
    int pages = 0;
    for (; path && pages < 10; pages++) {
        struct ts_resp *r = ts_bearer(f.s, "GET", path, f.t_auditor, NULL);
        CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
        if (json_array_size(items_of(r)) == 1)
            found = ts_jstr(json_array_get(items_of(r), 0), "type");
        CHECK(json_array_size(items_of(r)) <= 1);
        const char *next = ts_jstr(r->json, "next");
        path = next ? ts_printf("/admin/v1/audit-events?type=test.needle&limit=5&after=%s", next)
                    : NULL;
    }
    CHECK_STR(found, "test.needle");
    CHECK(path == NULL);
    CHECK(pages >= 2); /* the first request cannot have looked at all 12,000 */
    /* unfiltered pages are full and walk on */
    struct ts_resp *r =
        ts_bearer(f.s, "GET", "/admin/v1/audit-events?limit=500", f.t_auditor, NULL);
    CHECK_INT(json_array_size(items_of(r)), 500);
    CHECK(ts_jstr(r->json, "next") != NULL);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=test.filler&limit=500", f.t_auditor,
                  NULL);
    CHECK_INT(json_array_size(items_of(r)), 500);
    CHECK_INT(count(items_of(r), "type", "test.filler"), 500);
}

TEST(settings_bounds)
{
    static const char *const bad[] = {
        "IDPD_AUDIT_RETENTION_DAYS=0",     "IDPD_AUDIT_RETENTION_DAYS=3651",
        "IDPD_AUDIT_RETENTION_DAYS=x",     "IDPD_KEY_ROTATION_INTERVAL=1",
        "IDPD_KEY_ROTATION_INTERVAL=3599", "IDPD_KEY_ROTATION_INTERVAL=31536001",
        "IDPD_KEY_ROTATION_INTERVAL=-1",   "IDPD_AUDIT_TOKEN_INTERVAL=-1",
        "IDPD_AUDIT_TOKEN_INTERVAL=3601",  "IDPD_AUDIT_TOKEN_INTERVAL=x",
    };
    const char *data = ts_path("data");
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", data, NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {bad[i], NULL};
        struct ts_cmd *c = ts_run(args, env);
        CHECK_MSG(c->status == 2, "%s: exit %d; stderr %s", bad[i], c->status, c->err);
        CHECK_MSG(strstr(c->err, "must be") != NULL, "%s: stderr %s", bad[i], c->err);
    }
    /* the bounds themselves are fine, also from a config file */
    const char *cfg = ts_path("idpd.json");
    FILE *fp = fopen(cfg, "w");
    CHECK(fp != NULL);
    fputs("{\"audit_retention_days\":3650,\"key_rotation_interval\":31536000,"
          "\"audit_token_interval\":3600}",
          fp);
    fclose(fp);
    struct ts_server *s =
        ts_start(&(struct ts_opts){.args = (const char *const[]){"--config", cfg, NULL}});
    CHECK(s != NULL);
    CHECK_INT(ts_stop(s), 0);
    static const char *const good[] = {"IDPD_AUDIT_RETENTION_DAYS=1",
                                       "IDPD_KEY_ROTATION_INTERVAL=3600",
                                       "IDPD_AUDIT_TOKEN_INTERVAL=1", NULL};
    s = ts_start(&(struct ts_opts){.env = good});
    CHECK(s != NULL);
    CHECK_INT(ts_stop(s), 0);
    fp = fopen(cfg, "w");
    CHECK(fp != NULL);
    fputs("{\"key_rotation_interval\":\"3600\"}", fp);
    fclose(fp);
    const char *with_cfg[] = {"serve", "--listen", "127.0.0.1:0", "--data",
                              data,    "--config", cfg,           NULL};
    CHECK_INT(ts_run(with_cfg, NULL)->status, 2);
}

/* ---- bootstrap-admin ---- */

/* `idpd bootstrap-admin --data data --email email` with input on stdin (NULL: none); stdout
 * into *out, stderr into *err. Returns the exit status. */
static int run_stdin(const char *data, const char *email, const char *input, const char **out,
                     const char **err)
{
    const char *args[] = {"bootstrap-admin", "--data", data, "--email", email, NULL};
    struct ts_cmd *c = ts_run_input(args, NULL, input);
    *out = c->out;
    *err = c->err;
    return c->status;
}

TEST(bootstrap_admin_cli)
{
    const char *data = ts_path("data"), *out, *err;
    int st = run_stdin(data, "Root@Example.org", BOOT_PASSWORD "\n", &out, &err);
    CHECK_MSG(st == 0, "exit %d; stderr %s", st, err);
    json_t *j = ts_keep_json(json_loads(out, 0, NULL));
    CHECK_MSG(j && json_object_size(j) == 1, "stdout %s", out);
    const char *id = ts_jstr(j, "id");
    CHECK(id && strncmp(id, "usr_", 4) == 0);
    CHECK(!strstr(out, BOOT_PASSWORD) && !strstr(err, BOOT_PASSWORD));

    /* that user logs in through an application with the password grant and runs the admin API */
    struct fixture f;
    struct ts_opts o = {.data = data};
    CHECK(setup_with(&f, &o));
    struct ts_account app;
    CHECK(ts_app_create(data, "console", pw_grants, NULL, &app) == 0);
    struct ts_resp *r = ts_login(f.s, app.id, "root@example.org", BOOT_PASSWORD, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    const char *at = ts_jstr(r->json, "access_token");
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(at, &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "sub"), id);
    CHECK_STR(ts_jstr(claims, "principal_type"), "user");
    CHECK(ts_jarray_has(json_object_get(claims, "roles"), "idp:admin"));
    r = ts_bearer(f.s, "POST", "/admin/v1/applications", at,
                  "{\"name\":\"made by root\",\"grant_types\":[\"password\"]}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *made = ts_jstr(r->json, "id");
    r = ts_bearer(f.s, "POST", "/admin/v1/keys/rotate", at, FORCE);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    r = ts_bearer(f.s, "GET", "/admin/v1/audit-events", at, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *boot = find(items_of(r), "type", "admin.bootstrap");
    CHECK(boot != NULL);
    CHECK_STR(ts_jstr(boot, "target"), id);
    CHECK_STR(ts_jstr(boot, "actor"), "");
    json_t *ev = find(items_of(r), "type", "admin.application.create");
    CHECK(ev != NULL);
    CHECK_STR(ts_jstr(ev, "actor"), id);
    CHECK_STR(ts_jstr(ev, "target"), made);
    CHECK(strstr(r->body, BOOT_PASSWORD) == NULL);

    /* a second bootstrap is refused (1), also while the server runs, and makes nobody */
    st = run_stdin(data, "second@example.org", "another long password\n", &out, &err);
    CHECK_MSG(st == 1, "exit %d; stdout %s; stderr %s", st, out, err);
    CHECK_STR(out, "");
    CHECK(strstr(err, "exists") != NULL);
    CHECK_OAUTH_ERROR(ts_login(f.s, app.id, "second@example.org", "another long password", NULL),
                      400, "invalid_grant");
    r = ts_bearer(f.s, "GET", "/admin/v1/users", at, NULL);
    CHECK_INT(json_array_size(items_of(r)), 1);

    /* no password on stdin: 2; a line longer than any password: 2 */
    const char *fresh = ts_path("fresh");
    st = run_stdin(fresh, "a@example.org", NULL, &out, &err);
    CHECK_MSG(st == 2, "exit %d; stderr %s", st, err);
    CHECK_STR(out, "");
    CHECK(strstr(err, "stdin") != NULL);
    st = run_stdin(fresh, "a@example.org", "", &out, &err);
    CHECK_MSG(st == 2, "exit %d; stderr %s", st, err);
    char *huge = ts_keep(malloc(3000));
    memset(huge, 'p', 2998);
    huge[2998] = '\n';
    huge[2999] = '\0';
    st = run_stdin(fresh, "a@example.org", huge, &out, &err);
    CHECK_MSG(st == 2, "exit %d; stderr %s", st, err);
    /* the longest password there is works, with a CRLF line end */
    huge[1024] = '\r';
    huge[1025] = '\n';
    huge[1026] = '\0';
    st = run_stdin(fresh, "a@example.org", huge, &out, &err);
    CHECK_MSG(st == 0, "exit %d; stderr %s", st, err);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(apps_crud_and_roles);
    RUN(apps_confidential_secret_once);
    RUN(apps_bad_input_changes_nothing);
    RUN(apps_list_paging);
    RUN(app_by_api_used_for_password_login);
    RUN(keys_list_and_rotate_keep_old_tokens);
    RUN(keys_rotate_cli_while_serving);
    RUN(keys_rotation_waits_for_publication);
    RUN(keys_automatic_rotation);
    RUN(keys_rotation_off_by_default);
    RUN(audit_events_filters_paging_no_secrets);
    RUN(audit_roles);
    RUN(audit_retention_sweeps_old_events);
    RUN(audit_long_log_pages_by_cursor);
    RUN(settings_bounds);
    RUN(bootstrap_admin_cli);
    return ts_done();
}
