/* The admin API on users, their sessions and role grants (/admin/v1/users…, /admin/v1/sessions,
 * …/roles), and `idpd bootstrap-admin`: who may call what, every success path and every refusal,
 * and that a refused request changes nothing. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
static const char *const on[] = {"--allow-registration", NULL};
static const char *const r_admin[] = {"idp:admin", NULL};
static const char *const r_uadmin[] = {"idp:user-admin", NULL};
static const char *const r_auditor[] = {"idp:auditor", NULL};
static const char *const r_intro[] = {"idp:introspect", NULL};

#define PASSWORD "correct horse battery"
#define UNKNOWN_USER "/admin/v1/users/usr_00000000000000000000000000"

struct fixture {
    struct ts_server *s;
    struct ts_account app; /* public: password, refresh_token */
    struct ts_account admin, admin2, uadmin, auditor, plain, intro; /* service accounts */
    const char *t_admin, *t_admin2, *t_uadmin, *t_auditor, *t_plain;
};

static int make_sa(struct fixture *f, const char *name, const char *const *roles,
                   struct ts_account *a, const char **token)
{
    if (ts_sa_create(f->s->data, name, roles, NULL, a) != 0)
        return 0;
    if (!token)
        return 1;
    *token = ts_token_str(f->s, a);
    if (!*token)
        fprintf(stderr, "  no token for %s\n", name);
    return *token != NULL;
}

static int setup_on(struct fixture *f, const char *data)
{
    struct ts_opts o = {.data = data, .args = on};
    memset(f, 0, sizeof *f);
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "web", app_grants, NULL, &f->app) == 0 &&
           make_sa(f, "admin", r_admin, &f->admin, &f->t_admin) &&
           make_sa(f, "admin2", r_admin, &f->admin2, &f->t_admin2) &&
           make_sa(f, "user-admin", r_uadmin, &f->uadmin, &f->t_uadmin) &&
           make_sa(f, "auditor", r_auditor, &f->auditor, &f->t_auditor) &&
           make_sa(f, "plain", NULL, &f->plain, &f->t_plain) &&
           make_sa(f, "introspector", r_intro, &f->intro, NULL);
}

static int setup(struct fixture *f)
{
    return setup_on(f, NULL);
}

/* ---- helpers ---- */

/* A JSON body from a json_pack() result, kept for the case. */
static const char *js(json_t *j)
{
    if (!j)
        return NULL;
    ts_keep_json(j);
    return ts_keep(json_dumps(j, JSON_COMPACT));
}

static struct ts_resp *call(struct fixture *f, const char *method, const char *path,
                            const char *token, const char *body)
{
    return ts_bearer(f->s, method, path, token, body);
}

/* GET path as idp:admin; the JSON answer, or NULL (and a message) unless 200. */
static json_t *snap(struct fixture *f, const char *path)
{
    struct ts_resp *r = call(f, "GET", path, f->t_admin, NULL);
    if (r->status != 200 || !r->json) {
        fprintf(stderr, "  GET %s: %ld %s\n", path, r->status, r->body);
        return NULL;
    }
    return r->json;
}

static const char *user_path(const char *id, const char *rest)
{
    return ts_printf("/admin/v1/users/%s%s", id, rest ? rest : "");
}

/* POST /admin/v1/users as idp:admin; the new id or NULL. */
static const char *create_user(struct fixture *f, const char *email, const char *password,
                               const char *name)
{
    struct ts_resp *r = call(
        f, "POST", "/admin/v1/users", f->t_admin,
        js(json_pack("{s:s, s:s?, s:s?}", "email", email, "password", password, "name", name)));
    if (r->status != 201)
        fprintf(stderr, "  create %s: %ld %s\n", email, r->status, r->body);
    return r->status == 201 ? ts_jstr(r->json, "id") : NULL;
}

struct tokens {
    const char *at, *rt, *sid;
    json_t *claims;
};

static int tokens_of(struct ts_resp *r, struct tokens *t)
{
    json_t *h;
    memset(t, 0, sizeof *t);
    t->at = ts_jstr(r->json, "access_token");
    t->rt = ts_jstr(r->json, "refresh_token");
    if (r->status != 200 || !t->at || ts_jwt_decode(t->at, &h, &t->claims) != 0) {
        fprintf(stderr, "  not a token answer: %ld %s\n", r->status, r->body);
        return 0;
    }
    t->sid = ts_jstr(t->claims, "sid");
    return 1;
}

static int login(struct fixture *f, const char *email, const char *password, struct tokens *t)
{
    return tokens_of(ts_login(f->s, f->app.id, email, password, NULL), t) && t->rt && t->sid;
}

static struct ts_resp *put_roles(struct fixture *f, const char *token, const char *path,
                                 const char *body)
{
    return call(f, "PUT", path, token, body);
}

/* The "a,b,c" of GET path's roles member, as idp:admin. */
static const char *roles_of(struct fixture *f, const char *path)
{
    json_t *j = snap(f, path);
    return j ? ts_jarray_join(json_object_get(j, "roles")) : NULL;
}

static size_t nitems(json_t *list)
{
    return json_array_size(json_object_get(list, "items"));
}

/* ---- authorization ---- */

enum route { R_LIST, R_CREATE, R_ROLES, R_END_SESSION, R_COUNT };
static const char *const route_name[] = {"GET /admin/v1/users", "POST /admin/v1/users",
                                         "PUT /admin/v1/users/{id}/roles",
                                         "DELETE /admin/v1/sessions/{sid}"};

/* Calls route k with token; the body and path make each create and grant distinct. */
static struct ts_resp *route(struct fixture *f, enum route k, const char *token, const char *uid,
                             const char *sid, int n)
{
    switch (k) {
    case R_LIST:
        return call(f, "GET", "/admin/v1/users", token, NULL);
    case R_CREATE:
        return call(f, "POST", "/admin/v1/users", token,
                    js(json_pack("{s:s}", "email", ts_printf("matrix-%d@example.org", n))));
    case R_ROLES:
        return put_roles(f, token, user_path(uid, "/roles"),
                         js(json_pack("{s:[s]}", "roles", ts_printf("matrix-%d", n))));
    default:
        return call(f, "DELETE", ts_printf("/admin/v1/sessions/%s", sid), token, NULL);
    }
}

TEST(authorization_refusals_change_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *uid = create_user(&f, "target@example.org", PASSWORD, "Target");
    CHECK(uid);
    struct tokens ut;
    CHECK(login(&f, "target@example.org", PASSWORD, &ut));
    /* a plain user's own valid token */
    const char *plain_user = create_user(&f, "nobody@example.org", PASSWORD, NULL);
    CHECK(plain_user);
    struct tokens pt;
    CHECK(login(&f, "nobody@example.org", PASSWORD, &pt));

    json_t *list0 = snap(&f, "/admin/v1/users");
    json_t *user0 = snap(&f, user_path(uid, NULL));
    json_t *sess0 = snap(&f, user_path(uid, "/sessions"));
    CHECK(list0 && user0 && sess0);
    CHECK_INT(nitems(list0), 2);
    CHECK_INT(nitems(sess0), 1);

    int n = 0;
    for (int k = 0; k < R_COUNT; k++) {
        const char *what = route_name[k];
        struct ts_resp *r = route(&f, k, NULL, uid, ut.sid, n++);
        CHECK_MSG(r->status == 401, "%s without a token: %ld %s", what, r->status, r->body);
        CHECK_BEARER_401(r, "");
        static const char *const bad[] = {"garbage", "a.b.c"};
        for (size_t b = 0; b < 2; b++) {
            r = route(&f, k, bad[b], uid, ut.sid, n++);
            CHECK_MSG(r->status == 401, "%s with %s: %ld %s", what, bad[b], r->status, r->body);
            CHECK_BEARER_401(r, ", error=\"invalid_token\"");
        }
        /* Basic credentials are not a bearer token */
        struct ts_req basic = {.method = k == R_LIST     ? "GET"
                                         : k == R_CREATE ? "POST"
                                         : k == R_ROLES  ? "PUT"
                                                         : "DELETE",
                               .path = k == R_LIST || k == R_CREATE ? "/admin/v1/users"
                                       : k == R_ROLES               ? user_path(uid, "/roles")
                                                      : ts_printf("/admin/v1/sessions/%s", ut.sid),
                               .headers = (const char *[]){ts_basic(&f.admin), NULL}};
        CHECK_BEARER_401(ts_do(f.s, &basic), "");
        /* valid tokens without an idp:* role: a service account and a user */
        const char *noroles[] = {f.t_plain, pt.at};
        for (size_t i = 0; i < 2; i++) {
            r = route(&f, k, noroles[i], uid, ut.sid, n++);
            CHECK_MSG(r->status == 403, "%s as %s: %ld %s", what, i ? "a user" : "plain SA",
                      r->status, r->body);
            CHECK_PROBLEM(r, 403);
        }
        /* idp:auditor reads, changes nothing */
        r = route(&f, k, f.t_auditor, uid, ut.sid, n++);
        if (k == R_LIST) {
            CHECK_MSG(r->status == 200, "%s as auditor: %ld %s", what, r->status, r->body);
            CHECK(json_equal(r->json, list0));
        } else {
            CHECK_MSG(r->status == 403, "%s as auditor: %ld %s", what, r->status, r->body);
            CHECK_PROBLEM(r, 403);
            CHECK(strstr(ts_jstr(r->json, "detail"), "idp:user-admin") != NULL);
        }
    }
    /* nothing changed: the same users, roles and session */
    CHECK(json_equal(snap(&f, "/admin/v1/users"), list0));
    CHECK(json_equal(snap(&f, user_path(uid, NULL)), user0));
    CHECK(json_equal(snap(&f, user_path(uid, "/sessions")), sess0));
    struct tokens ut2;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, ut.rt, NULL), &ut2));

    /* idp:user-admin and idp:admin may do all four */
    const char *allowed[] = {f.t_uadmin, f.t_admin};
    for (size_t i = 0; i < 2; i++) {
        const char *who = i ? "admin" : "user-admin";
        struct tokens s;
        CHECK(login(&f, "target@example.org", PASSWORD, &s));
        struct ts_resp *r = route(&f, R_LIST, allowed[i], uid, NULL, 0);
        CHECK_MSG(r->status == 200, "list as %s: %ld %s", who, r->status, r->body);
        CHECK_INT(nitems(r->json), 2 + i);
        int m = 1000 + (int)i;
        r = route(&f, R_CREATE, allowed[i], uid, NULL, m);
        CHECK_MSG(r->status == 201, "create as %s: %ld %s", who, r->status, r->body);
        CHECK_STR(ts_jstr(r->json, "email"), ts_printf("matrix-%d@example.org", m));
        r = route(&f, R_ROLES, allowed[i], uid, NULL, m);
        CHECK_MSG(r->status == 200, "roles as %s: %ld %s", who, r->status, r->body);
        CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), ts_printf("matrix-%d", m));
        r = route(&f, R_END_SESSION, allowed[i], uid, s.sid, 0);
        CHECK_MSG(r->status == 204, "end session as %s: %ld %s", who, r->status, r->body);
        CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, s.rt, NULL), 400, "invalid_grant");
    }
    CHECK_INT(nitems(snap(&f, "/admin/v1/users")), 4);
    CHECK_STR(roles_of(&f, user_path(uid, "/roles")), "matrix-1001");
}

TEST(revoked_role_takes_effect_at_once)
{
    struct fixture f;
    CHECK(setup(&f));
    /* a service account caller */
    CHECK_INT(call(&f, "GET", "/admin/v1/users", f.t_uadmin, NULL)->status, 200);
    struct ts_resp *r =
        put_roles(&f, f.t_admin2, ts_printf("/admin/v1/service-accounts/%s/roles", f.uadmin.id),
                  "{\"roles\":[]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(r->body, "{\"roles\":[]}");
    r = call(&f, "GET", "/admin/v1/users", f.t_uadmin, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK_PROBLEM(call(&f, "POST", "/admin/v1/users", f.t_uadmin, "{\"email\":\"x@example.org\"}"),
                  403);
    CHECK_INT(nitems(snap(&f, "/admin/v1/users")), 0);

    /* a user caller: granted idp:admin, then not */
    const char *uid = create_user(&f, "boss@example.org", PASSWORD, NULL);
    CHECK(uid);
    r = put_roles(&f, f.t_admin, user_path(uid, "/roles"), "{\"roles\":[\"idp:admin\"]}");
    CHECK_INT(r->status, 200);
    struct tokens t;
    CHECK(login(&f, "boss@example.org", PASSWORD, &t));
    CHECK_STR(ts_jarray_join(json_object_get(t.claims, "roles")), "idp:admin");
    CHECK_INT(call(&f, "GET", "/admin/v1/users", t.at, NULL)->status, 200);
    /* the user takes idp:admin away from the admin service account; the account is refused */
    r = put_roles(&f, t.at, ts_printf("/admin/v1/service-accounts/%s/roles", f.admin2.id),
                  "{\"roles\":[]}");
    CHECK_INT(r->status, 200);
    CHECK_PROBLEM(call(&f, "GET", "/admin/v1/users", f.t_admin2, NULL), 403);
    r = put_roles(&f, f.t_admin, user_path(uid, "/roles"), "{\"roles\":[]}");
    CHECK_INT(r->status, 200);
    /* the token still claims idp:admin, but the store is what counts */
    CHECK_PROBLEM(call(&f, "GET", "/admin/v1/users", t.at, NULL), 403);
    CHECK_PROBLEM(call(&f, "DELETE", user_path(uid, NULL), t.at, NULL), 403);
    CHECK_STR(ts_jstr(snap(&f, user_path(uid, NULL)), "id"), uid);
}

/* ---- users ---- */

TEST(user_create_and_get)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *body = js(json_pack("{s:s, s:s, s:s, s:{s:s, s:i}}", "email",
                                    "Ada.Lovelace@Example.org", "password", PASSWORD, "name",
                                    "Ada Lovelace", "metadata", "plan", "pro", "seats", 3));
    struct ts_resp *r = call(&f, "POST", "/admin/v1/users", f.t_uadmin, body);
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    const char *id = ts_jstr(r->json, "id");
    CHECK(id && strncmp(id, "usr_", 4) == 0);
    CHECK_STR(ts_jstr(r->json, "email"), "Ada.Lovelace@Example.org");
    CHECK_STR(ts_jstr(r->json, "name"), "Ada Lovelace");
    CHECK_STR(ts_jstr(r->json, "status"), "active");
    CHECK(json_is_false(json_object_get(r->json, "anonymous")));
    CHECK(ts_jint(r->json, "created_at") > 1600000000LL);
    CHECK_STR(ts_jstr(json_object_get(r->json, "metadata"), "plan"), "pro");
    CHECK_INT(ts_jint(json_object_get(r->json, "metadata"), "seats"), 3);
    json_t *idns = json_object_get(r->json, "identities");
    CHECK_INT(json_array_size(idns), 1);
    CHECK(strncmp(ts_jstr(json_array_get(idns, 0), "id"), "idn_", 4) == 0);
    CHECK_STR(ts_jstr(json_array_get(idns, 0), "provider"), "local-userpass");
    CHECK(!strstr(r->body, "argon2") && !strstr(r->body, PASSWORD) && !strstr(r->body, "\"phc"));

    /* get: the same record, with teams and roles */
    struct ts_resp *g = call(&f, "GET", user_path(id, NULL), f.t_auditor, NULL);
    CHECK_MSG(g->status == 200, "%ld %s", g->status, g->body);
    CHECK(json_equal(g->json, r->json));
    CHECK(json_is_array(json_object_get(g->json, "teams")));
    CHECK_INT(json_array_size(json_object_get(g->json, "teams")), 0);
    CHECK(json_is_array(json_object_get(g->json, "roles")));
    CHECK_INT(json_array_size(json_object_get(g->json, "roles")), 0);
    CHECK_INT(json_array_size(json_object_get(g->json, "identities")), 1);

    /* the user logs in through an application, with any case of its email */
    struct tokens t;
    CHECK(login(&f, "ada.lovelace@example.org", PASSWORD, &t));
    CHECK_STR(ts_jstr(t.claims, "sub"), id);

    /* unknown ids */
    CHECK_PROBLEM(call(&f, "GET", UNKNOWN_USER, f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "GET", "/admin/v1/users/garbage", f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "GET", "/admin/v1/users/usr_", f.t_auditor, NULL), 404);
}

TEST(user_without_password_then_patch_password)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r = call(&f, "POST", "/admin/v1/users", f.t_admin,
                             "{\"email\":\"grace@example.org\",\"name\":\"Grace\"}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *id = ts_jstr(r->json, "id");
    CHECK(id);
    CHECK(json_is_array(json_object_get(r->json, "identities")));
    CHECK_INT(json_array_size(json_object_get(r->json, "identities")), 0);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "grace@example.org", PASSWORD, NULL), 400,
                      "invalid_grant");
    /* a short password is refused and gives no identity */
    CHECK_PROBLEM(call(&f, "PATCH", user_path(id, NULL), f.t_admin, "{\"password\":\"short\"}"),
                  400);
    CHECK_INT(json_array_size(json_object_get(snap(&f, user_path(id, NULL)), "identities")), 0);

    r = call(&f, "PATCH", user_path(id, NULL), f.t_uadmin, "{\"password\":\"" PASSWORD "\"}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *idns = json_object_get(r->json, "identities");
    CHECK_INT(json_array_size(idns), 1);
    CHECK_STR(ts_jstr(json_array_get(idns, 0), "provider"), "local-userpass");
    CHECK_STR(ts_jstr(r->json, "name"), "Grace");
    struct tokens t;
    CHECK(login(&f, "GRACE@example.org", PASSWORD, &t));
    CHECK_STR(ts_jstr(t.claims, "sub"), id);
}

TEST(user_create_bad_input_changes_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "Taken@Example.org", PASSWORD, "First");
    CHECK(id);
    json_t *list0 = snap(&f, "/admin/v1/users");
    json_t *user0 = snap(&f, user_path(id, NULL));
    CHECK(list0 && user0);

    /* duplicate email, ignoring case */
    struct ts_resp *r = call(&f, "POST", "/admin/v1/users", f.t_admin,
                             "{\"email\":\"taken@example.ORG\",\"password\":\"another one!\"}");
    CHECK_PROBLEM(r, 409);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "taken@example.org", "another one!", NULL), 400,
                      "invalid_grant");

    static const char *const bad400[] = {
        "{\"email\":\"not-an-address\"}",
        "{\"email\":\"\"}",
        "{\"email\":42}",
        "{\"name\":\"no email\"}",
        "{\"email\":\"short@example.org\",\"password\":\"1234567\"}",
        "{\"email\":\"name@example.org\",\"name\":\"\"}",
        "{\"email\":\"meta@example.org\",\"metadata\":[1]}",
        "{\"email\":\"bad-json@example.org\"",
        "[\"email\"]",
        "{\"email\":\"dup@example.org\",\"email\":\"dup2@example.org\"}",
        "",
    };
    for (size_t i = 0; i < sizeof bad400 / sizeof bad400[0]; i++) {
        r = call(&f, "POST", "/admin/v1/users", f.t_admin, bad400[i]);
        CHECK_MSG(r->status == 400, "body %s: %ld %s", bad400[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    /* unknown member: named in the detail */
    r = call(&f, "POST", "/admin/v1/users", f.t_admin,
             "{\"email\":\"colour@example.org\",\"colour\":\"blue\"}");
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "colour") != NULL);
    /* not JSON */
    struct ts_req form = {
        .method = "POST",
        .path = "/admin/v1/users",
        .headers = (const char *[]){ts_printf("Authorization: Bearer %s", f.t_admin), NULL},
        .body = "email=form%40example.org"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
    form.content_type = "text/plain";
    form.body = "{\"email\":\"text@example.org\"}";
    CHECK_PROBLEM(ts_do(f.s, &form), 415);

    CHECK(json_equal(snap(&f, "/admin/v1/users"), list0));
    CHECK(json_equal(snap(&f, user_path(id, NULL)), user0));
    struct tokens t;
    CHECK(login(&f, "taken@example.org", PASSWORD, &t));
}

TEST(user_patch)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "old@example.org", PASSWORD, "Old Name");
    const char *other = create_user(&f, "other@example.org", "other's password", "Other");
    CHECK(id && other);
    struct tokens t;
    CHECK(login(&f, "old@example.org", PASSWORD, &t));

    struct ts_resp *r = call(
        &f, "PATCH", user_path(id, NULL), f.t_uadmin,
        "{\"name\":\"New Name\",\"email\":\"New@Example.org\",\"metadata\":{\"tier\":\"gold\"}}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "id"), id);
    CHECK_STR(ts_jstr(r->json, "name"), "New Name");
    CHECK_STR(ts_jstr(r->json, "email"), "New@Example.org");
    CHECK_STR(ts_jstr(json_object_get(r->json, "metadata"), "tier"), "gold");
    CHECK_INT(json_array_size(json_object_get(r->json, "identities")), 1);
    CHECK(json_equal(snap(&f, user_path(id, NULL)), r->json));
    /* the login moved with the email */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "old@example.org", PASSWORD, NULL), 400,
                      "invalid_grant");
    struct tokens t2;
    CHECK(login(&f, "new@example.org", PASSWORD, &t2));
    CHECK_STR(ts_jstr(t2.claims, "sub"), id);
    /* the old email is free */
    CHECK(create_user(&f, "old@example.org", NULL, NULL));

    /* a patch without the metadata member keeps it */
    r = call(&f, "PATCH", user_path(id, NULL), f.t_admin, "{\"name\":\"Newer\"}");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(json_object_get(r->json, "metadata"), "tier"), "gold");
    CHECK_STR(ts_jstr(r->json, "email"), "New@Example.org");

    /* another user's email, in another case: 409, and nothing changes */
    json_t *u0 = snap(&f, user_path(id, NULL)), *o0 = snap(&f, user_path(other, NULL));
    CHECK(u0 && o0);
    r = call(&f, "PATCH", user_path(id, NULL), f.t_admin,
             "{\"email\":\"OTHER@example.org\",\"name\":\"Thief\"}");
    CHECK_PROBLEM(r, 409);
    CHECK(json_equal(snap(&f, user_path(id, NULL)), u0));
    CHECK(json_equal(snap(&f, user_path(other, NULL)), o0));
    CHECK(login(&f, "new@example.org", PASSWORD, &t2));
    struct tokens t3;
    CHECK(login(&f, "other@example.org", "other's password", &t3));
    CHECK_STR(ts_jstr(t3.claims, "sub"), other);

    /* bad patches: 400, 404, 415; nothing changes */
    static const char *const bad[] = {"{\"email\":\"nope\"}", "{\"colour\":\"red\"}",
                                      "{\"metadata\":\"x\"}",
                                      "{\"name\":", "{\"password\":\"short\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = call(&f, "PATCH", user_path(id, NULL), f.t_admin, bad[i]);
        CHECK_MSG(r->status == 400, "body %s: %ld %s", bad[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    CHECK_PROBLEM(call(&f, "PATCH", UNKNOWN_USER, f.t_admin, "{\"name\":\"x\"}"), 404);
    CHECK_PROBLEM(call(&f, "PATCH", user_path(id, NULL), f.t_auditor, "{\"name\":\"x\"}"), 403);
    CHECK(json_equal(snap(&f, user_path(id, NULL)), u0));
    /* the session of the first login survived every refusal */
    struct tokens t4;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, t.rt, NULL), &t4));
}

TEST(user_delete)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "Leaving@Example.org", PASSWORD, NULL);
    const char *keep = create_user(&f, "staying@example.org", PASSWORD, NULL);
    CHECK(id && keep);
    struct tokens t, k;
    CHECK(login(&f, "leaving@example.org", PASSWORD, &t));
    CHECK(login(&f, "staying@example.org", PASSWORD, &k));
    struct ts_resp *in = ts_introspect(f.s, &f.intro, t.at);
    CHECK_INT(in->status, 200);
    CHECK(json_is_true(json_object_get(in->json, "active")));

    /* refused callers change nothing */
    CHECK_PROBLEM(call(&f, "DELETE", user_path(id, NULL), f.t_auditor, NULL), 403);
    CHECK_PROBLEM(call(&f, "DELETE", user_path(id, NULL), f.t_plain, NULL), 403);
    CHECK_BEARER_401(call(&f, "DELETE", user_path(id, NULL), NULL, NULL), "");
    CHECK_STR(ts_jstr(snap(&f, user_path(id, NULL)), "id"), id);
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, t.at)->json, "active")));

    struct ts_resp *r = call(&f, "DELETE", user_path(id, NULL), f.t_uadmin, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    CHECK_PROBLEM(call(&f, "GET", user_path(id, NULL), f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "GET", user_path(id, "/sessions"), f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "DELETE", user_path(id, NULL), f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "DELETE", UNKNOWN_USER, f.t_admin, NULL), 404);
    /* its tokens are dead */
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, t.at));
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t.at, NULL), ", error=\"invalid_token\"");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "leaving@example.org", PASSWORD, NULL), 400,
                      "invalid_grant");
    /* the other user goes on */
    json_t *list = snap(&f, "/admin/v1/users");
    CHECK_INT(nitems(list), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(list, "items"), 0), "id"), keep);
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, k.at)->json, "active")));
    struct tokens k2;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, k.rt, NULL), &k2));

    /* the email is free again: self-registration takes it, a new user */
    r = ts_register(f.s, f.app.id, "leaving@example.org", "a new password");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    const char *reborn = ts_jstr(r->json, "id");
    CHECK(reborn && strcmp(reborn, id) != 0);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "leaving@example.org", PASSWORD, NULL), 400,
                      "invalid_grant");
    struct tokens t2;
    CHECK(login(&f, "leaving@example.org", "a new password", &t2));
    CHECK_STR(ts_jstr(t2.claims, "sub"), reborn);
    /* and once more through the admin API */
    CHECK_INT(call(&f, "DELETE", user_path(reborn, NULL), f.t_admin, NULL)->status, 204);
    const char *again = create_user(&f, "LEAVING@example.org", PASSWORD, NULL);
    CHECK(again && strcmp(again, reborn) != 0);
    CHECK(login(&f, "leaving@example.org", PASSWORD, &t2));
    CHECK_STR(ts_jstr(t2.claims, "sub"), again);
}

/* ---- list ---- */

TEST(user_list_limits_and_parameters)
{
    struct fixture f;
    CHECK(setup(&f));
    CHECK(create_user(&f, "one@example.org", NULL, NULL));
    CHECK(create_user(&f, "two@example.org", NULL, NULL));
    static const char *const bad[] = {"limit=0",
                                      "limit=501",
                                      "limit=x",
                                      "limit=",
                                      "limit=-1",
                                      "limit=1.5",
                                      "limit=10x",
                                      "status=gone",
                                      "after=xyz",
                                      "after=a.b",
                                      "limit=99999999999999999999"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r =
            call(&f, "GET", ts_printf("/admin/v1/users?%s", bad[i]), f.t_auditor, NULL);
        CHECK_MSG(r->status == 400, "%s: %ld %s", bad[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    struct ts_resp *r = call(&f, "GET", "/admin/v1/users?colour=blue", f.t_admin, NULL);
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(ts_jstr(r->json, "detail"), "colour") != NULL);
    r = call(&f, "GET", "/admin/v1/users?limit=1", f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 1);
    CHECK(json_is_string(json_object_get(r->json, "next")));
    r = call(&f, "GET", "/admin/v1/users?limit=500", f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 2);
    CHECK(json_is_null(json_object_get(r->json, "next")));
    r = call(&f, "GET", "/admin/v1/users", f.t_admin, NULL);
    CHECK_INT(nitems(r->json), 2);
    CHECK(json_is_null(json_object_get(r->json, "next")));
    /* list items: no secrets */
    CHECK(!strstr(r->body, "\"phc") && !strstr(r->body, "argon2"));
}

static void pause_ms(long ms)
{
    struct timespec ts = {0, ms * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

TEST(user_list_paging_and_filters)
{
    struct fixture f;
    CHECK(setup(&f));
    static const char *const emails[] = {"Alpha.1@example.org", "beta.2@example.org",
                                         "ALPHA.3@example.org", "gamma.4@example.org",
                                         "alpha.5@example.org"};
    const char *ids[5];
    for (size_t i = 0; i < 5; i++) {
        CHECK((ids[i] = create_user(&f, emails[i], NULL, NULL)) != NULL);
        pause_ms(3); /* ids sort by creation time, to the millisecond */
    }
    /* pages of two: every user once, in creation order */
    const char *after = NULL, *cursors[3] = {0};
    size_t seen = 0;
    for (int page = 0; page < 3; page++) {
        struct ts_resp *r = call(&f, "GET",
                                 after ? ts_printf("/admin/v1/users?limit=2&after=%s", after)
                                       : "/admin/v1/users?limit=2",
                                 f.t_auditor, NULL);
        CHECK_MSG(r->status == 200, "page %d: %ld %s", page, r->status, r->body);
        json_t *items = json_object_get(r->json, "items");
        CHECK_INT(json_array_size(items), page < 2 ? 2 : 1);
        for (size_t i = 0; i < json_array_size(items); i++) {
            CHECK_STR(ts_jstr(json_array_get(items, i), "id"), ids[seen]);
            CHECK_STR(ts_jstr(json_array_get(items, i), "email"), emails[seen]);
            seen++;
        }
        after = ts_jstr(r->json, "next");
        if (page < 2)
            CHECK(after && after[0]);
        else
            CHECK(json_is_null(json_object_get(r->json, "next")));
        cursors[page] = after;
    }
    CHECK_INT(seen, 5);
    /* the same cursor again: the same page */
    struct ts_resp *r =
        call(&f, "GET", ts_printf("/admin/v1/users?limit=2&after=%s", cursors[0]), f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), ids[2]);
    /* a cursor does not depend on the limit */
    r = call(&f, "GET", ts_printf("/admin/v1/users?limit=500&after=%s", cursors[0]), f.t_admin,
             NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 3);

    /* tampered cursors: each character changed in turn, also in the id part */
    const char *c = cursors[0];
    size_t len = strlen(c);
    CHECK(len > 4 && strchr(c, '.'));
    size_t positions[] = {
        0,           1,      (size_t)(strchr(c, '.') - c) - 1, (size_t)(strchr(c, '.') - c) + 1,
        len / 2 + 3, len - 2};
    for (size_t i = 0; i < sizeof positions / sizeof positions[0]; i++) {
        char *t = ts_printf("%s", c);
        size_t p = positions[i];
        if (t[p] == '.')
            continue;
        t[p] = t[p] == 'A' ? 'B' : 'A';
        r = call(&f, "GET", ts_printf("/admin/v1/users?limit=2&after=%s", t), f.t_admin, NULL);
        CHECK_MSG(r->status == 400, "cursor %s (was %s): %ld %s", t, c, r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    /* a cursor made under one filter is refused under another (and without one) */
    r = call(&f, "GET", "/admin/v1/users?limit=1&email=alpha", f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 1);
    const char *fc = ts_jstr(r->json, "next");
    CHECK(fc);
    CHECK_PROBLEM(call(&f, "GET", ts_printf("/admin/v1/users?limit=1&email=beta&after=%s", fc),
                       f.t_admin, NULL),
                  400);
    CHECK_PROBLEM(call(&f, "GET", ts_printf("/admin/v1/users?limit=1&email=alph&after=%s", fc),
                       f.t_admin, NULL),
                  400);
    CHECK_PROBLEM(
        call(&f, "GET", ts_printf("/admin/v1/users?limit=1&after=%s", fc), f.t_admin, NULL), 400);
    CHECK_PROBLEM(call(&f, "GET", ts_printf("/admin/v1/users?email=beta&after=%s", cursors[0]),
                       f.t_admin, NULL),
                  400);
    /* ...and works under its own */
    r = call(&f, "GET", ts_printf("/admin/v1/users?limit=1&email=alpha&after=%s", fc), f.t_admin,
             NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), ids[2]);

    /* email prefix, ignoring case */
    r = call(&f, "GET", "/admin/v1/users?email=aLpHa", f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 3);
    json_t *items = json_object_get(r->json, "items");
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), ids[0]);
    CHECK_STR(ts_jstr(json_array_get(items, 1), "id"), ids[2]);
    CHECK_STR(ts_jstr(json_array_get(items, 2), "id"), ids[4]);
    CHECK(json_is_null(json_object_get(r->json, "next")));
    r = call(&f, "GET", "/admin/v1/users?email=GAMMA.4%40EXAMPLE.ORG", f.t_admin, NULL);
    CHECK_INT(nitems(r->json), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), ids[3]);
    r = call(&f, "GET", "/admin/v1/users?email=example", f.t_admin,
             NULL); /* a prefix, not a part */
    CHECK_INT(r->status, 200);
    CHECK_INT(nitems(r->json), 0);
    CHECK(json_is_null(json_object_get(r->json, "next")));

    /* status */
    CHECK_INT(call(&f, "POST", user_path(ids[1], "/disable"), f.t_admin, NULL)->status, 200);
    CHECK_INT(call(&f, "POST", user_path(ids[4], "/disable"), f.t_admin, NULL)->status, 200);
    r = call(&f, "GET", "/admin/v1/users?status=disabled", f.t_admin, NULL);
    CHECK_INT(r->status, 200);
    items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 2);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), ids[1]);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "status"), "disabled");
    CHECK_STR(ts_jstr(json_array_get(items, 1), "id"), ids[4]);
    r = call(&f, "GET", "/admin/v1/users?status=active", f.t_admin, NULL);
    CHECK_INT(nitems(r->json), 3);
    r = call(&f, "GET", "/admin/v1/users?status=disabled&email=ALPHA", f.t_admin, NULL);
    CHECK_INT(nitems(r->json), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), ids[4]);
}

/* ---- disable and enable ---- */

TEST(user_disable_takes_effect_at_once)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "lin@example.org", PASSWORD, "Lin");
    const char *other = create_user(&f, "bystander@example.org", PASSWORD, NULL);
    CHECK(id && other);
    struct tokens t1, t2, o;
    CHECK(login(&f, "lin@example.org", PASSWORD, &t1));
    CHECK(login(&f, "lin@example.org", PASSWORD, &t2));
    CHECK(login(&f, "bystander@example.org", PASSWORD, &o));
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, t1.at)->json, "active")));
    CHECK_INT(nitems(snap(&f, user_path(id, "/sessions"))), 2);

    /* refused: nothing happens */
    CHECK_PROBLEM(call(&f, "POST", user_path(id, "/disable"), f.t_auditor, NULL), 403);
    CHECK_STR(ts_jstr(snap(&f, user_path(id, NULL)), "status"), "active");
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", t1.at, NULL)->status, 200);
    CHECK_PROBLEM(
        call(&f, "POST", "/admin/v1/users/usr_00000000000000000000000000/disable", f.t_admin, NULL),
        404);

    struct ts_resp *r = call(&f, "POST", user_path(id, "/disable"), f.t_uadmin, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "id"), id);
    CHECK_STR(ts_jstr(r->json, "status"), "disabled");
    CHECK_STR(ts_jstr(snap(&f, user_path(id, NULL)), "status"), "disabled");
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, t1.at));
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, t2.at));
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t1.at, NULL), ", error=\"invalid_token\"");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t1.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t2.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "lin@example.org", PASSWORD, NULL), 400,
                      "invalid_grant");
    json_t *sess = snap(&f, user_path(id, "/sessions"));
    CHECK(sess);
    CHECK_INT(nitems(sess), 0);
    CHECK(json_is_null(json_object_get(sess, "next")));
    /* disabling twice is harmless */
    CHECK_INT(call(&f, "POST", user_path(id, "/disable"), f.t_admin, NULL)->status, 200);
    /* the bystander is untouched */
    CHECK(json_is_true(json_object_get(ts_introspect(f.s, &f.intro, o.at)->json, "active")));
    struct tokens o2;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, o.rt, NULL), &o2));

    /* enable: logins work again; the ended sessions stay ended */
    CHECK_PROBLEM(call(&f, "POST", user_path(id, "/enable"), f.t_auditor, NULL), 403);
    CHECK_STR(ts_jstr(snap(&f, user_path(id, NULL)), "status"), "disabled");
    r = call(&f, "POST", user_path(id, "/enable"), f.t_uadmin, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "status"), "active");
    struct tokens t3;
    CHECK(login(&f, "lin@example.org", PASSWORD, &t3));
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", t3.at, NULL)->status, 200);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t1.rt, NULL), 400, "invalid_grant");
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, t2.at));
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t2.at, NULL), ", error=\"invalid_token\"");
    sess = snap(&f, user_path(id, "/sessions"));
    CHECK_INT(nitems(sess), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(sess, "items"), 0), "id"), t3.sid);
    CHECK_PROBLEM(
        call(&f, "POST", "/admin/v1/users/usr_00000000000000000000000000/enable", f.t_admin, NULL),
        404);
}

/* ---- sessions ---- */

TEST(user_sessions)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "sam@example.org", PASSWORD, NULL);
    CHECK(id);
    struct tokens a, b;
    CHECK(login(&f, "sam@example.org", PASSWORD, &a));
    CHECK(login(&f, "sam@example.org", PASSWORD, &b));
    struct ts_resp *r = call(&f, "GET", user_path(id, "/sessions"), f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 2);
    int seen_a = 0, seen_b = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(items, i);
        seen_a += strcmp(ts_jstr(s, "id"), a.sid) == 0;
        seen_b += strcmp(ts_jstr(s, "id"), b.sid) == 0;
        CHECK_STR(ts_jstr(s, "client_id"), f.app.id);
        CHECK_STR(ts_jstr(s, "amr"), "pwd");
        CHECK_STR(ts_jstr(s, "client_ip"), "127.0.0.1");
        CHECK(ts_jint(s, "created_at") > 1600000000LL);
        CHECK(!json_object_get(s, "refresh_hash") && !json_object_get(s, "refresh_token"));
    }
    CHECK(seen_a == 1 && seen_b == 1);
    CHECK_PROBLEM(call(&f, "GET", UNKNOWN_USER "/sessions", f.t_admin, NULL), 404);

    /* refused and unknown: nothing ends */
    CHECK_PROBLEM(call(&f, "DELETE", ts_printf("/admin/v1/sessions/%s", a.sid), f.t_auditor, NULL),
                  403);
    CHECK_PROBLEM(call(&f, "DELETE", user_path(id, "/sessions"), f.t_auditor, NULL), 403);
    CHECK_PROBLEM(
        call(&f, "DELETE", "/admin/v1/sessions/ses_00000000000000000000000000", f.t_admin, NULL),
        404);
    CHECK_PROBLEM(call(&f, "DELETE", "/admin/v1/sessions/garbage", f.t_admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "DELETE", UNKNOWN_USER "/sessions", f.t_admin, NULL), 404);
    CHECK_INT(nitems(snap(&f, user_path(id, "/sessions"))), 2);

    /* one session */
    r = call(&f, "DELETE", ts_printf("/admin/v1/sessions/%s", a.sid), f.t_uadmin, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, a.rt, NULL), 400, "invalid_grant");
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, a.at));
    struct tokens b2;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, b.rt, NULL), &b2));
    items = json_object_get(snap(&f, user_path(id, "/sessions")), "items");
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), b.sid);
    CHECK_PROBLEM(call(&f, "DELETE", ts_printf("/admin/v1/sessions/%s", a.sid), f.t_admin, NULL),
                  404);

    /* all of them */
    struct tokens c;
    CHECK(login(&f, "sam@example.org", PASSWORD, &c));
    CHECK_INT(nitems(snap(&f, user_path(id, "/sessions"))), 2);
    r = call(&f, "DELETE", user_path(id, "/sessions"), f.t_uadmin, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    CHECK_INT(nitems(snap(&f, user_path(id, "/sessions"))), 0);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, b2.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, c.rt, NULL), 400, "invalid_grant");
    CHECK_INACTIVE(ts_introspect(f.s, &f.intro, c.at));
    /* the user itself stays and may log in again */
    CHECK_STR(ts_jstr(snap(&f, user_path(id, NULL)), "status"), "active");
    CHECK(login(&f, "sam@example.org", PASSWORD, &c));
    /* no sessions left: still 204 */
    CHECK_INT(call(&f, "DELETE", user_path(id, "/sessions"), f.t_admin, NULL)->status, 204);
}

/* ---- roles ---- */

TEST(user_roles_put_and_next_token)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "rolf@example.org", PASSWORD, NULL);
    CHECK(id);
    struct tokens before;
    CHECK(login(&f, "rolf@example.org", PASSWORD, &before));
    json_t *r0 = json_object_get(before.claims, "roles");
    CHECK(json_is_array(r0) && json_array_size(r0) == 0);

    struct ts_resp *r =
        put_roles(&f, f.t_uadmin, user_path(id, "/roles"),
                  "{\"roles\":[\"readWrite@ecommerce\",\"PROJECT_OWNER@proj_prod\",\"b\",\"b\"]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(r->body, "{\"roles\":[\"PROJECT_OWNER@proj_prod\",\"b\",\"readWrite@ecommerce\"]}");
    /* GET: direct and effective */
    r = call(&f, "GET", user_path(id, "/roles"), f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")),
              "PROJECT_OWNER@proj_prod,b,readWrite@ecommerce");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "effective_roles")),
              "PROJECT_OWNER@proj_prod,b,readWrite@ecommerce");
    CHECK_STR(ts_jarray_join(json_object_get(snap(&f, user_path(id, NULL)), "roles")),
              "PROJECT_OWNER@proj_prod,b,readWrite@ecommerce");
    /* the next token carries them; the earlier one was made before */
    struct tokens t;
    CHECK(login(&f, "rolf@example.org", PASSWORD, &t));
    CHECK_STR(ts_jarray_join(json_object_get(t.claims, "roles")),
              "PROJECT_OWNER@proj_prod,b,readWrite@ecommerce");
    /* ...and so does a refreshed one */
    struct tokens t2;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, before.rt, NULL), &t2));
    CHECK_STR(ts_jarray_join(json_object_get(t2.claims, "roles")),
              "PROJECT_OWNER@proj_prod,b,readWrite@ecommerce");

    /* a role of exactly 128 bytes is fine; the empty set clears */
    char r128[129];
    memset(r128, 'r', 128);
    r128[128] = '\0';
    r = put_roles(&f, f.t_admin, user_path(id, "/roles"), js(json_pack("{s:[s]}", "roles", r128)));
    CHECK_INT(r->status, 200);
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), r128);
    r = put_roles(&f, f.t_admin, user_path(id, "/roles"), "{\"roles\":[]}");
    CHECK_INT(r->status, 200);
    CHECK_STR(r->body, "{\"roles\":[]}");
    CHECK(login(&f, "rolf@example.org", PASSWORD, &t));
    CHECK_INT(json_array_size(json_object_get(t.claims, "roles")), 0);
    /* exactly 100 */
    json_t *hundred = json_array();
    for (int i = 0; i < 100; i++)
        json_array_append_new(hundred, json_string(ts_printf("role-%03d", i)));
    r = put_roles(&f, f.t_admin, user_path(id, "/roles"), js(json_pack("{s:o}", "roles", hundred)));
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_array_size(json_object_get(r->json, "roles")), 100);

    /* unknown principals */
    CHECK_PROBLEM(put_roles(&f, f.t_admin, UNKNOWN_USER "/roles", "{\"roles\":[\"a\"]}"), 404);
    CHECK_PROBLEM(call(&f, "GET", UNKNOWN_USER "/roles", f.t_admin, NULL), 404);
    CHECK_PROBLEM(put_roles(&f, f.t_admin, "/admin/v1/users/garbage/roles", "{\"roles\":[\"a\"]}"),
                  404);
}

TEST(user_roles_bad_input_changes_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "val@example.org", NULL, NULL);
    CHECK(id);
    CHECK_INT(
        put_roles(&f, f.t_admin, user_path(id, "/roles"), "{\"roles\":[\"keep@me\"]}")->status,
        200);
    json_t *before = snap(&f, user_path(id, NULL));
    CHECK(before);
    char r129[130];
    memset(r129, 'r', 129);
    r129[129] = '\0';
    const char *bad_roles[] = {"has space", "",          r129,          "a@",
                               "@b",        "a@b@c",     "caf\xc3\xa9", "tab\there",
                               "del\x7f",   "new\nline", "IDP:admin",   "Idp:auditor"};
    for (size_t i = 0; i < sizeof bad_roles / sizeof bad_roles[0]; i++) {
        struct ts_resp *r = put_roles(&f, f.t_admin, user_path(id, "/roles"),
                                      js(json_pack("{s:[s,s]}", "roles", "fine", bad_roles[i])));
        CHECK_MSG(r->status == 400, "role \"%s\": %ld %s", bad_roles[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    json_t *many = json_array();
    for (int i = 0; i < 101; i++)
        json_array_append_new(many, json_string(ts_printf("role-%03d", i)));
    CHECK_PROBLEM(
        put_roles(&f, f.t_admin, user_path(id, "/roles"), js(json_pack("{s:o}", "roles", many))),
        400);
    static const char *const bad_bodies[] = {"{\"roles\":\"a\"}",
                                             "{\"roles\":[1]}",
                                             "{\"roles\":[null]}",
                                             "{}",
                                             "{\"roles\":[\"a\"],\"x\":1}",
                                             "{\"roles\":[\"a\"]",
                                             "[\"a\"]",
                                             "{\"roles\":[\"a\\u0000b\"]}"};
    for (size_t i = 0; i < sizeof bad_bodies / sizeof bad_bodies[0]; i++) {
        struct ts_resp *r = put_roles(&f, f.t_admin, user_path(id, "/roles"), bad_bodies[i]);
        CHECK_MSG(r->status == 400, "body %s: %ld %s", bad_bodies[i], r->status, r->body);
        CHECK_PROBLEM(r, 400);
    }
    struct ts_req form = {
        .method = "PUT",
        .path = user_path(id, "/roles"),
        .headers = (const char *[]){ts_printf("Authorization: Bearer %s", f.t_admin), NULL},
        .body = "roles=a"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
    CHECK(json_equal(snap(&f, user_path(id, NULL)), before));
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), "keep@me");
}

TEST(user_admin_and_idp_roles)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "ivy@example.org", NULL, NULL);
    CHECK(id);
    /* user-admin may not grant idp:* roles */
    static const char *const grants[] = {"idp:admin", "idp:user-admin", "idp:auditor",
                                         "idp:introspect"};
    for (size_t i = 0; i < 4; i++) {
        struct ts_resp *r = put_roles(&f, f.t_uadmin, user_path(id, "/roles"),
                                      js(json_pack("{s:[s,s]}", "roles", "x", grants[i])));
        CHECK_MSG(r->status == 403, "%s: %ld %s", grants[i], r->status, r->body);
        CHECK_PROBLEM(r, 403);
    }
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), "");
    /* the admin may */
    struct ts_resp *r =
        put_roles(&f, f.t_admin, user_path(id, "/roles"), "{\"roles\":[\"idp:auditor\",\"x\"]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "idp:auditor,x");
    /* user-admin removing idp:auditor (explicitly or by leaving it out): 403, unchanged */
    CHECK_PROBLEM(put_roles(&f, f.t_uadmin, user_path(id, "/roles"), "{\"roles\":[\"y\"]}"), 403);
    CHECK_PROBLEM(put_roles(&f, f.t_uadmin, user_path(id, "/roles"), "{\"roles\":[]}"), 403);
    CHECK_PROBLEM(
        put_roles(&f, f.t_uadmin, user_path(id, "/roles"), "{\"roles\":[\"idp:admin\",\"x\"]}"),
        403);
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), "idp:auditor,x");
    /* the admin takes it away again */
    CHECK_INT(put_roles(&f, f.t_admin, user_path(id, "/roles"), "{\"roles\":[\"x\"]}")->status,
              200);
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), "x");
}

/* Any role change on a user who holds an idp:* role is idp:admin's to make, even one that keeps
 * the idp:* role as it is: a user-admin could otherwise hand an admin (or itself) data-plane roles.
 * The admin's change goes through. */
TEST(user_admin_cannot_change_roles_of_idp_holders)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_user(&f, "keeper@example.org", PASSWORD, NULL);
    CHECK(id);
    CHECK_INT(put_roles(&f, f.t_admin, user_path(id, "/roles"),
                        "{\"roles\":[\"idp:auditor\",\"old@app\"]}")
                  ->status,
              200);
    struct ts_resp *r = put_roles(&f, f.t_uadmin, user_path(id, "/roles"),
                                  "{\"roles\":[\"new@app\",\"idp:auditor\",\"b\"]}");
    CHECK_PROBLEM(r, 403);
    CHECK_STR(roles_of(&f, user_path(id, "/roles")), "idp:auditor,old@app");
    /* nor its own: a user-admin holds idp:user-admin */
    r = put_roles(&f, f.t_admin, user_path(id, "/roles"),
                  "{\"roles\":[\"new@app\",\"idp:auditor\",\"b\"]}");
    CHECK_INT(r->status, 200);
    CHECK_STR(r->body, "{\"roles\":[\"b\",\"idp:auditor\",\"new@app\"]}");
    struct tokens t;
    CHECK(login(&f, "keeper@example.org", PASSWORD, &t));
    CHECK_STR(ts_jarray_join(json_object_get(t.claims, "roles")), "b,idp:auditor,new@app");
}

/* A caller without idp:admin cannot take over or lock out an admin: no password reset, email
 * change, disable, delete or session ending on a user holding idp:* roles (directly or through a
 * team), and no membership changes in a team that grants one. Each refusal changes nothing. */
TEST(user_admin_cannot_act_on_admins)
{
    struct fixture f;
    struct tokens boss_t;
    CHECK(setup(&f));
    const char *boss = create_user(&f, "boss@example.org", PASSWORD, NULL);
    const char *plain = create_user(&f, "plain@example.org", PASSWORD, NULL);
    const char *member = create_user(&f, "member@example.org", PASSWORD, NULL);
    CHECK(boss && plain && member);
    CHECK_INT(
        put_roles(&f, f.t_admin, user_path(boss, "/roles"), "{\"roles\":[\"idp:admin\"]}")->status,
        200);
    CHECK(login(&f, "boss@example.org", PASSWORD, &boss_t));
    json_t *before = snap(&f, user_path(boss, NULL));
    CHECK(before);

    static const char *const methods[] = {"PATCH", "PATCH", "POST", "POST", "DELETE", "DELETE"};
    const char *paths[] = {user_path(boss, NULL),        user_path(boss, NULL),
                           user_path(boss, "/disable"),  user_path(boss, "/enable"),
                           user_path(boss, "/sessions"), user_path(boss, NULL)};
    const char *bodies[] = {"{\"password\":\"taken over!\"}",
                            "{\"email\":\"mine@example.org\"}",
                            NULL,
                            NULL,
                            NULL,
                            NULL};
    for (size_t i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        struct ts_resp *r = call(&f, methods[i], paths[i], f.t_uadmin, bodies[i]);
        CHECK_MSG(r->status == 403, "%s %s: %ld %s", methods[i], paths[i], r->status, r->body);
        CHECK_PROBLEM(r, 403);
    }
    CHECK_PROBLEM(
        call(&f, "DELETE", ts_printf("/admin/v1/sessions/%s", boss_t.sid), f.t_uadmin, NULL), 403);
    /* nothing changed: the same record, the old password, the session still refreshes */
    json_t *after = snap(&f, user_path(boss, NULL));
    CHECK(after && json_equal(before, after));
    struct tokens again;
    CHECK(login(&f, "boss@example.org", PASSWORD, &again));
    CHECK_INT(ts_refresh(f.s, f.app.id, boss_t.rt, NULL)->status, 200);

    /* a team that grants idp:admin: a user-admin may not add anyone to it, nor delete it */
    struct ts_resp *r = call(&f, "POST", "/admin/v1/teams", f.t_admin,
                             "{\"name\":\"root\",\"roles\":[\"idp:admin\"]}");
    CHECK_INT(r->status, 201);
    const char *team = ts_jstr(r->json, "id");
    CHECK(team);
    CHECK_PROBLEM(
        call(&f, "PUT", ts_printf("/admin/v1/teams/%s/members/%s", team, plain), f.t_uadmin, NULL),
        403);
    CHECK_PROBLEM(call(&f, "DELETE", ts_printf("/admin/v1/teams/%s", team), f.t_uadmin, NULL), 403);
    CHECK_INT(nitems(snap(&f, ts_printf("/admin/v1/teams/%s/members", team))), 0);
    /* an admin by team membership is protected like a direct one */
    CHECK_INT(
        call(&f, "PUT", ts_printf("/admin/v1/teams/%s/members/%s", team, member), f.t_admin, NULL)
            ->status,
        204);
    CHECK_PROBLEM(call(&f, "POST", user_path(member, "/disable"), f.t_uadmin, NULL), 403);
    CHECK_PROBLEM(call(&f, "DELETE", ts_printf("/admin/v1/teams/%s/members/%s", team, member),
                       f.t_uadmin, NULL),
                  403);
    /* the same calls on a user without idp:* roles are the user-admin's to make */
    CHECK_INT(call(&f, "POST", user_path(plain, "/disable"), f.t_uadmin, NULL)->status, 200);
    CHECK_INT(call(&f, "PATCH", user_path(plain, NULL), f.t_uadmin, "{\"name\":\"Pat\"}")->status,
              200);
}

TEST(service_account_roles)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *path = ts_printf("/admin/v1/service-accounts/%s/roles", f.plain.id);
    struct ts_resp *r = call(&f, "GET", path, f.t_auditor, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(r->body, "{\"roles\":[],\"effective_roles\":[]}");
    /* user-admin manages users, not service accounts */
    r = put_roles(&f, f.t_uadmin, path, "{\"roles\":[\"reader@billing\"]}");
    CHECK_PROBLEM(r, 403);
    CHECK_PROBLEM(put_roles(&f, f.t_auditor, path, "{\"roles\":[\"reader@billing\"]}"), 403);
    CHECK_PROBLEM(put_roles(&f, f.t_plain, path, "{\"roles\":[\"reader@billing\"]}"), 403);
    CHECK_STR(roles_of(&f, path), "");
    json_t *h, *c;
    CHECK(ts_jwt_decode(ts_token_str(f.s, &f.plain), &h, &c) == 0);
    CHECK_INT(json_array_size(json_object_get(c, "roles")), 0);

    r = put_roles(&f, f.t_admin, path,
                  "{\"roles\":[\"writer@billing\",\"reader@billing\",\"writer@billing\"]}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_STR(r->body, "{\"roles\":[\"reader@billing\",\"writer@billing\"]}");
    r = call(&f, "GET", path, f.t_uadmin, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "effective_roles")),
              "reader@billing,writer@billing");
    const char *tok = ts_token_str(f.s, &f.plain);
    CHECK(tok);
    CHECK(ts_jwt_decode(tok, &h, &c) == 0);
    CHECK_STR(ts_jstr(c, "principal_type"), "service_account");
    CHECK_STR(ts_jarray_join(json_object_get(c, "roles")), "reader@billing,writer@billing");
    /* bad input on a service account: 400 and unchanged */
    CHECK_PROBLEM(put_roles(&f, f.t_admin, path, "{\"roles\":[\"a b\"]}"), 400);
    CHECK_STR(roles_of(&f, path), "reader@billing,writer@billing");
    /* unknown accounts */
    CHECK_PROBLEM(put_roles(&f, f.t_admin,
                            "/admin/v1/service-accounts/sa_00000000000000000000000000/roles",
                            "{\"roles\":[]}"),
                  404);
    CHECK_PROBLEM(call(&f, "GET", "/admin/v1/service-accounts/sa_00000000000000000000000000/roles",
                       f.t_admin, NULL),
                  404);
}

/* ---- bootstrap-admin ---- */

#define BOOT_EMAIL "Root@Example.org"
#define BOOT_PASSWORD "the very first password"

TEST(bootstrap_admin)
{
    const char *data = ts_path("data");
    const char *args[] = {"bootstrap-admin", "--data", data,   "--email",
                          BOOT_EMAIL,        "--name", "Root", NULL};
    struct ts_cmd *c = ts_run_input(args, NULL, BOOT_PASSWORD "\n");
    CHECK_MSG(c->status == 0, "exit %d; stdout %s; stderr %s", c->status, c->out, c->err);
    json_t *j = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK_MSG(j && json_object_size(j) == 1, "stdout %s", c->out);
    const char *id = ts_jstr(j, "id");
    CHECK(id && strncmp(id, "usr_", 4) == 0);
    CHECK(!strstr(c->out, BOOT_PASSWORD) && !strstr(c->err, BOOT_PASSWORD));

    struct fixture f;
    CHECK(setup_on(&f, data));
    /* the admin user logs in through an application and runs the admin API */
    struct tokens t;
    CHECK(login(&f, "root@example.org", BOOT_PASSWORD, &t));
    CHECK_STR(ts_jstr(t.claims, "sub"), id);
    CHECK_STR(ts_jarray_join(json_object_get(t.claims, "roles")), "idp:admin");
    struct ts_resp *r = call(&f, "GET", "/admin/v1/users", t.at, NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(nitems(r->json), 1);
    json_t *u = json_array_get(json_object_get(r->json, "items"), 0);
    CHECK_STR(ts_jstr(u, "id"), id);
    CHECK_STR(ts_jstr(u, "email"), BOOT_EMAIL);
    CHECK_STR(ts_jstr(u, "name"), "Root");
    CHECK_STR(ts_jarray_join(json_object_get(u, "roles")), "idp:admin");
    r = call(&f, "POST", "/admin/v1/users", t.at, "{\"email\":\"second@example.org\"}");
    CHECK_INT(r->status, 201);

    /* a second one is refused, also while the server runs, and changes nothing */
    const char *again[] = {"bootstrap-admin",        "--data", data, "--email",
                           "other-root@example.org", NULL};
    c = ts_run_input(again, NULL, "another first password\n");
    CHECK_MSG(c->status == 1, "exit %d; stdout %s; stderr %s", c->status, c->out, c->err);
    CHECK_MSG(strstr(c->err, "exists") != NULL, "stderr %s", c->err);
    CHECK_STR(c->out, "");
    CHECK_INT(nitems(snap(&f, "/admin/v1/users")), 2);
    CHECK_OAUTH_ERROR(
        ts_login(f.s, f.app.id, "other-root@example.org", "another first password", NULL), 400,
        "invalid_grant");
    /* usage errors: 2, nothing made */
    const char *no_email[] = {"bootstrap-admin", "--data", data, NULL};
    c = ts_run_input(no_email, NULL, BOOT_PASSWORD "\n");
    CHECK_MSG(c->status == 2, "exit %d; stderr %s", c->status, c->err);
    CHECK(c->err[0] != '\0');
    CHECK_STR(c->out, "");
    const char *bad_email[] = {"bootstrap-admin", "--data", data, "--email", "nope", NULL};
    c = ts_run_input(bad_email, NULL, BOOT_PASSWORD "\n");
    CHECK_MSG(c->status == 2, "exit %d; stderr %s", c->status, c->err);
    CHECK_INT(nitems(snap(&f, "/admin/v1/users")), 2);
    CHECK_INT(ts_stop(f.s), 0);

    /* a fresh folder: no password on stdin (empty, or /dev/null), a short one */
    const char *fresh = ts_path("fresh");
    const char *boot[] = {"bootstrap-admin", "--data", fresh, "--email", "a@example.org", NULL};
    c = ts_run_input(boot, NULL, "");
    CHECK_MSG(c->status == 2, "exit %d; stderr %s", c->status, c->err);
    CHECK(strstr(c->err, "stdin") != NULL);
    c = ts_run(boot, NULL);
    CHECK_MSG(c->status == 2, "exit %d; stderr %s", c->status, c->err);
    c = ts_run_input(boot, NULL, "short\n");
    CHECK_MSG(c->status == 2, "exit %d; stderr %s", c->status, c->err);
    CHECK_STR(c->out, "");
    /* ...and then it works there */
    c = ts_run_input(boot, NULL, BOOT_PASSWORD "\n");
    CHECK_MSG(c->status == 0, "exit %d; stderr %s", c->status, c->err);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(authorization_refusals_change_nothing);
    RUN(revoked_role_takes_effect_at_once);
    RUN(user_create_and_get);
    RUN(user_without_password_then_patch_password);
    RUN(user_create_bad_input_changes_nothing);
    RUN(user_patch);
    RUN(user_delete);
    RUN(user_list_limits_and_parameters);
    RUN(user_list_paging_and_filters);
    RUN(user_disable_takes_effect_at_once);
    RUN(user_sessions);
    RUN(user_roles_put_and_next_token);
    RUN(user_roles_bad_input_changes_nothing);
    RUN(user_admin_and_idp_roles);
    RUN(user_admin_cannot_change_roles_of_idp_holders);
    RUN(user_admin_cannot_act_on_admins);
    RUN(service_account_roles);
    RUN(bootstrap_admin);
    return ts_done();
}
