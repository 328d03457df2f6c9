/* /admin/v1/teams…: team CRUD, names unique per scope ignoring case, members, who may do what,
 * bad input that changes nothing, and team roles in a member's next token (gone once the team
 * is). */
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
static const char *const on[] = {"--allow-registration", NULL};

#define PASSWORD "correct horse battery"

struct fixture {
    struct ts_server *s;
    const char *admin, *user_admin, *auditor, *plain; /* access tokens */
    struct ts_account app;
};

/* A service account holding role (NULL: none) and its access token. */
static const char *caller(struct fixture *f, const char *name, const char *role)
{
    const char *roles[] = {role, NULL};
    struct ts_account a;
    if (ts_sa_create(f->s->data, name, role ? roles : NULL, NULL, &a) != 0)
        return NULL;
    return ts_token_str(f->s, &a);
}

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on};
    memset(f, 0, sizeof *f);
    f->s = ts_start(&o);
    return f->s && (f->admin = caller(f, "admin", "idp:admin")) != NULL &&
           (f->user_admin = caller(f, "user-admin", "idp:user-admin")) != NULL &&
           (f->auditor = caller(f, "auditor", "idp:auditor")) != NULL &&
           (f->plain = caller(f, "plain", NULL)) != NULL &&
           ts_app_create(f->s->data, "mobile", app_grants, NULL, &f->app) == 0;
}

static const char *dump(json_t *j)
{
    return j ? ts_keep(json_dumps(ts_keep_json(j), JSON_COMPACT)) : NULL;
}

static struct ts_resp *call(struct fixture *f, const char *method, const char *path,
                            const char *token, const char *body)
{
    return ts_bearer(f->s, method, path, token, body);
}

/* POST /admin/v1/teams as admin; the new team's id, or NULL. */
static const char *create_team(struct fixture *f, const char *body)
{
    struct ts_resp *r = call(f, "POST", "/admin/v1/teams", f->admin, body);
    if (r->status != 201)
        fprintf(stderr, "  create team %s: %ld %s\n", body, r->status, r->body);
    return r->status == 201 ? ts_jstr(r->json, "id") : NULL;
}

/* Registers an email/password user; its id, or NULL. */
static const char *register_user(struct fixture *f, const char *email, const char *name)
{
    const char *body = dump(json_pack("{s:s, s:s, s:s, s:s?}", "client_id", f->app.id, "email",
                                      email, "password", PASSWORD, "name", name));
    struct ts_resp *r = call(f, "POST", "/v1/register", NULL, body);
    if (r->status != 201)
        fprintf(stderr, "  register %s: %ld %s\n", email, r->status, r->body);
    return r->status == 201 ? ts_jstr(r->json, "id") : NULL;
}

static const char *team_path(const char *id)
{
    return ts_printf("/admin/v1/teams/%s", id);
}

static const char *member_path(const char *team, const char *user)
{
    return ts_printf("/admin/v1/teams/%s/members/%s", team, user);
}

/* The body of GET path as admin when it answers 200, else NULL. */
static json_t *get_json(struct fixture *f, const char *path)
{
    struct ts_resp *r = call(f, "GET", path, f->admin, NULL);
    if (r->status != 200)
        fprintf(stderr, "  GET %s: %ld %s\n", path, r->status, r->body);
    return r->status == 200 ? r->json : NULL;
}

/* How many teams GET /admin/v1/teams lists (-1 on error). */
static long team_count(struct fixture *f)
{
    json_t *j = get_json(f, "/admin/v1/teams?limit=500");
    return j ? (long)json_array_size(json_object_get(j, "items")) : -1;
}

/* The ids of a list answer's items under key, joined with ",". */
static const char *item_ids(json_t *list, const char *key)
{
    json_t *ids = ts_keep_json(json_array()), *v;
    size_t i;
    json_array_foreach(json_object_get(list, "items"), i, v)
        json_array_append_new(ids, json_string(ts_jstr(v, key)));
    return ts_jarray_join(ids);
}

/* The roles claim of a fresh password login's access token, joined with ",". */
static const char *login_roles(struct fixture *f, const char *email)
{
    json_t *h, *c;
    struct ts_resp *r = ts_login(f->s, f->app.id, email, PASSWORD, NULL);
    const char *at = ts_jstr(r->json, "access_token");
    if (r->status != 200 || !at || ts_jwt_decode(at, &h, &c) != 0) {
        fprintf(stderr, "  login %s: %ld %s\n", email, r->status, r->body);
        return NULL;
    }
    return ts_jarray_join(json_object_get(c, "roles"));
}

/* A problem whose detail contains needle. */
#define CHECK_PROBLEM_SAYS(resp, st, needle)                                                       \
    do {                                                                                           \
        const struct ts_resp *r_ = (resp);                                                         \
        CHECK_PROBLEM(r_, st);                                                                     \
        CHECK_MSG(strstr(ts_jstr(r_->json, "detail"), (needle)) != NULL,                           \
                  "detail \"%s\" does not say \"%s\"", ts_jstr(r_->json, "detail"), (needle));     \
    } while (0)

TEST(team_crud)
{
    struct fixture f;
    CHECK(setup(&f));
    /* create: roles are validated, de-duplicated and sorted */
    struct ts_resp *r = call(&f, "POST", "/admin/v1/teams", f.admin,
                             "{\"name\":\"Platform\",\"scope\":\"org_acme\",\"description\":"
                             "\"Runs the platform\",\"roles\":[\"readWrite@ecommerce\","
                             "\"PROJECT_OWNER@proj_prod\",\"readWrite@ecommerce\"]}");
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    const char *id = ts_jstr(r->json, "id");
    CHECK(id && strncmp(id, "team_", 5) == 0);
    CHECK_STR(ts_jstr(r->json, "name"), "Platform");
    CHECK_STR(ts_jstr(r->json, "scope"), "org_acme");
    CHECK_STR(ts_jstr(r->json, "description"), "Runs the platform");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")),
              "PROJECT_OWNER@proj_prod,readWrite@ecommerce");
    long long created = ts_jint(r->json, "created_at");
    CHECK(created > 1600000000LL);
    CHECK_INT(ts_jint(r->json, "updated_at"), created);
    CHECK_INT(json_object_size(r->json), 7);
    const char *created_body = r->body;

    /* get answers the same record */
    struct ts_resp *g = call(&f, "GET", team_path(id), f.admin, NULL);
    CHECK_INT(g->status, 200);
    CHECK_STR(g->body, created_body);

    /* only a name: the global scope, no description, no roles */
    r = call(&f, "POST", "/admin/v1/teams", f.admin, "{\"name\":\"Équipe sûre\"}");
    CHECK_INT(r->status, 201);
    const char *id2 = ts_jstr(r->json, "id");
    CHECK_STR(ts_jstr(r->json, "name"), "Équipe sûre");
    CHECK_STR(ts_jstr(r->json, "scope"), "");
    CHECK_STR(ts_jstr(r->json, "description"), "");
    CHECK_INT(json_array_size(json_object_get(r->json, "roles")), 0);
    CHECK(strcmp(id, id2) < 0); /* ids sort in creation order */

    /* list, in creation order */
    json_t *list = get_json(&f, "/admin/v1/teams");
    CHECK(list);
    CHECK_STR(item_ids(list, "id"), ts_printf("%s,%s", id, id2));
    CHECK(json_is_null(json_object_get(list, "next")));
    CHECK_STR(ts_jstr(json_array_get(json_object_get(list, "items"), 0), "name"), "Platform");

    /* patch: name and description; scope and roles stay */
    r = call(&f, "PATCH", team_path(id), f.admin,
             "{\"name\":\"Platform Team\",\"description\":\"\"}");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "id"), id);
    CHECK_STR(ts_jstr(r->json, "name"), "Platform Team");
    CHECK_STR(ts_jstr(r->json, "scope"), "org_acme");
    CHECK_STR(ts_jstr(r->json, "description"), "");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")),
              "PROJECT_OWNER@proj_prod,readWrite@ecommerce");
    CHECK_INT(ts_jint(r->json, "created_at"), created);
    CHECK(ts_jint(r->json, "updated_at") >= created);
    g = call(&f, "GET", team_path(id), f.admin, NULL);
    CHECK_INT(g->status, 200);
    CHECK_STR(g->body, r->body);

    /* patch: move to another scope */
    r = call(&f, "PATCH", team_path(id), f.admin, "{\"scope\":\"org_other\"}");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "scope"), "org_other");
    CHECK_STR(ts_jstr(r->json, "name"), "Platform Team");

    /* delete, then it is gone */
    r = call(&f, "DELETE", team_path(id), f.admin, NULL);
    CHECK_INT(r->status, 204);
    CHECK_INT(r->len, 0);
    CHECK_PROBLEM(call(&f, "GET", team_path(id), f.admin, NULL), 404);
    CHECK_PROBLEM(call(&f, "DELETE", team_path(id), f.admin, NULL), 404);
    list = get_json(&f, "/admin/v1/teams");
    CHECK(list);
    CHECK_STR(item_ids(list, "id"), id2);
}

TEST(team_names_unique_per_scope_ignoring_case)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *a = create_team(&f, "{\"name\":\"Platform\"}");
    CHECK(a);
    /* the same name in another case, same (global) scope */
    CHECK_PROBLEM_SAYS(call(&f, "POST", "/admin/v1/teams", f.admin, "{\"name\":\"PLATFORM\"}"), 409,
                       "global scope");
    CHECK_PROBLEM(
        call(&f, "POST", "/admin/v1/teams", f.admin, "{\"name\":\"platform\",\"scope\":\"\"}"),
        409);
    CHECK_INT(team_count(&f), 1);
    /* another scope is fine, and there the name is taken too */
    const char *b = create_team(&f, "{\"name\":\"platform\",\"scope\":\"org_b\"}");
    CHECK(b);
    CHECK_PROBLEM_SAYS(
        call(&f, "POST", "/admin/v1/teams", f.admin, "{\"name\":\"PlatForm\",\"scope\":\"org_b\"}"),
        409, "org_b");
    /* a scope differs by case: scopes are compared exactly */
    CHECK(create_team(&f, "{\"name\":\"Platform\",\"scope\":\"ORG_B\"}"));
    CHECK_INT(team_count(&f), 3);

    /* patch into a taken (scope, name): 409, nothing changes */
    struct ts_resp *before = call(&f, "GET", team_path(b), f.admin, NULL);
    CHECK_INT(before->status, 200);
    CHECK_PROBLEM(call(&f, "PATCH", team_path(b), f.admin, "{\"scope\":\"\"}"), 409);
    CHECK_PROBLEM(
        call(&f, "PATCH", team_path(a), f.admin, "{\"name\":\"PLATFORM\",\"scope\":\"org_b\"}"),
        409);
    struct ts_resp *after = call(&f, "GET", team_path(b), f.admin, NULL);
    CHECK_STR(after->body, before->body);
    CHECK_STR(ts_jstr(get_json(&f, team_path(a)), "name"), "Platform");
    CHECK_STR(ts_jstr(get_json(&f, team_path(a)), "scope"), "");

    /* a team may change the case of its own name */
    struct ts_resp *r = call(&f, "PATCH", team_path(a), f.admin, "{\"name\":\"PLATFORM\"}");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "name"), "PLATFORM");
    /* a renamed team frees its old name; a deleted one too */
    CHECK(call(&f, "PATCH", team_path(b), f.admin, "{\"name\":\"Ops\"}")->status == 200);
    CHECK(create_team(&f, "{\"name\":\"Platform\",\"scope\":\"org_b\"}"));
    CHECK_INT(call(&f, "DELETE", team_path(a), f.admin, NULL)->status, 204);
    CHECK(create_team(&f, "{\"name\":\"platform\"}"));
}

TEST(team_bad_input_changes_nothing)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_team(&f, "{\"name\":\"Platform\",\"description\":\"d\"}");
    CHECK(id);
    struct ts_resp *before = call(&f, "GET", team_path(id), f.admin, NULL);
    CHECK_INT(before->status, 200);
    char long_name[258];
    memset(long_name, 'n', 257);
    long_name[257] = '\0';
    char long_desc[1026];
    memset(long_desc, 'd', 1025);
    long_desc[1025] = '\0';
    const char *bad_creates[][2] = {
        {"{\"name\":", "not valid JSON"},
        {"[\"name\"]", "JSON object"},
        {"{\"name\":\"x\",\"colour\":\"blue\"}", "colour"},
        {"{\"name\":\"x\",\"name\":\"y\"}", "not valid JSON"},
        {"{}", "name is required"},
        {"{\"scope\":\"org\"}", "name is required"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":42}", "name must be a string"},
        {ts_printf("{\"name\":\"%s\"}", long_name), "name"},
        {"{\"name\":\"tab\\tname\"}", "name"},
        {"{\"name\":\"nul\\u0000name\"}", "JSON"},
        {"{\"name\":\"x\",\"scope\":\"a\\u0001b\"}", "scope"},
        {ts_printf("{\"name\":\"x\",\"scope\":\"%s\"}", long_name), "scope"},
        {"{\"name\":\"x\",\"scope\":7}", "scope"},
        {ts_printf("{\"name\":\"x\",\"description\":\"%s\"}", long_desc), "description"},
        {"{\"name\":\"x\",\"roles\":\"admin\"}", "roles must be an array"},
        {"{\"name\":\"x\",\"roles\":[\"has space\"]}", "roles[0]"},
        {"{\"name\":\"x\",\"roles\":[\"ok\",5]}", "roles[1]"},
    };
    for (size_t i = 0; i < sizeof bad_creates / sizeof bad_creates[0]; i++) {
        struct ts_resp *r = call(&f, "POST", "/admin/v1/teams", f.admin, bad_creates[i][0]);
        CHECK_MSG(r->status == 400, "%s: %ld %s", bad_creates[i][0], r->status, r->body);
        CHECK_PROBLEM_SAYS(r, 400, bad_creates[i][1]);
    }
    /* not JSON at all */
    struct ts_req form = {
        .method = "POST",
        .path = "/admin/v1/teams",
        .headers = (const char *[]){ts_printf("Authorization: Bearer %s", f.admin), NULL},
        .body = "name=x"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
    CHECK_INT(team_count(&f), 1);

    const char *bad_patches[][2] = {
        {"{\"name\":", "not valid JSON"},
        {"{\"roles\":[\"x\"]}", "roles"},
        {"{\"id\":\"team_x\"}", "id"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":null,\"scope\":\"bad\\u007fscope\"}", "scope"},
        {ts_printf("{\"description\":\"%s\"}", long_desc), "description"},
    };
    for (size_t i = 0; i < sizeof bad_patches / sizeof bad_patches[0]; i++) {
        struct ts_resp *r = call(&f, "PATCH", team_path(id), f.admin, bad_patches[i][0]);
        CHECK_MSG(r->status == 400, "%s: %ld %s", bad_patches[i][0], r->status, r->body);
        CHECK_PROBLEM_SAYS(r, 400, bad_patches[i][1]);
    }
    struct ts_resp *after = call(&f, "GET", team_path(id), f.admin, NULL);
    CHECK_STR(after->body, before->body);

    /* list parameters */
    CHECK_PROBLEM_SAYS(call(&f, "GET", "/admin/v1/teams?limit=0", f.admin, NULL), 400, "limit");
    CHECK_PROBLEM_SAYS(call(&f, "GET", "/admin/v1/teams?limit=501", f.admin, NULL), 400, "limit");
    CHECK_PROBLEM_SAYS(call(&f, "GET", "/admin/v1/teams?name=x", f.admin, NULL), 400, "name");
    CHECK_PROBLEM_SAYS(call(&f, "GET", "/admin/v1/teams?after=bogus", f.admin, NULL), 400, "after");
    CHECK_PROBLEM_SAYS(
        call(&f, "GET", ts_printf("/admin/v1/teams/%s/members?limit=x", id), f.admin, NULL), 400,
        "limit");
}

TEST(team_not_found)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_team(&f, "{\"name\":\"Platform\"}");
    const char *user = register_user(&f, "ada@example.org", "Ada");
    CHECK(id && user);
    const char *missing[] = {"team_01hzzzzzzzzzzzzzzzzzzzzzzz", "nope",
                             "team_0123456789012345678901234567890123456789012345678901234567"};
    for (size_t i = 0; i < sizeof missing / sizeof missing[0]; i++) {
        const char *p = team_path(missing[i]);
        CHECK_PROBLEM_SAYS(call(&f, "GET", p, f.admin, NULL), 404, "team");
        CHECK_PROBLEM_SAYS(call(&f, "PATCH", p, f.admin, "{\"name\":\"x\"}"), 404, "team");
        CHECK_PROBLEM_SAYS(call(&f, "DELETE", p, f.admin, NULL), 404, "team");
        CHECK_PROBLEM_SAYS(call(&f, "GET", ts_printf("%s/members", p), f.admin, NULL), 404, "team");
        CHECK_PROBLEM_SAYS(call(&f, "PUT", member_path(missing[i], user), f.admin, NULL), 404,
                           "team");
        CHECK_PROBLEM_SAYS(call(&f, "DELETE", member_path(missing[i], user), f.admin, NULL), 404,
                           "team");
    }
    /* a user that does not exist, or is not a member */
    CHECK_PROBLEM_SAYS(
        call(&f, "PUT", member_path(id, "usr_01hzzzzzzzzzzzzzzzzzzzzzzz"), f.admin, NULL), 404,
        "user");
    CHECK_PROBLEM_SAYS(call(&f, "PUT", member_path(id, "x"), f.admin, NULL), 404, "user");
    CHECK_PROBLEM_SAYS(call(&f, "DELETE", member_path(id, user), f.admin, NULL), 404, "member");
    json_t *members = get_json(&f, ts_printf("/admin/v1/teams/%s/members", id));
    CHECK(members);
    CHECK_INT(json_array_size(json_object_get(members, "items")), 0);
    CHECK_INT(team_count(&f), 1);
}

TEST(team_authorization)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *id = create_team(&f, "{\"name\":\"Platform\"}");
    const char *user = register_user(&f, "ada@example.org", "Ada");
    CHECK(id && user);
    CHECK_INT(call(&f, "PUT", member_path(id, user), f.admin, NULL)->status, 204);
    struct ts_resp *before = call(&f, "GET", team_path(id), f.admin, NULL);
    CHECK_INT(before->status, 200);
    const char *members = ts_printf("/admin/v1/teams/%s/members", id);
    const char *reads[] = {"/admin/v1/teams", team_path(id), members};
    struct {
        const char *method, *path, *body;
    } writes[] = {
        {"POST", "/admin/v1/teams", "{\"name\":\"Other\"}"},
        {"PATCH", team_path(id), "{\"name\":\"Renamed\"}"},
        {"DELETE", team_path(id), NULL},
        {"PUT", member_path(id, user), NULL},
        {"DELETE", member_path(id, user), NULL},
    };
    /* no token: 401 everywhere; a bad token: 401 invalid_token */
    for (size_t i = 0; i < 3; i++)
        CHECK_BEARER_401(call(&f, "GET", reads[i], NULL, NULL), "");
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        CHECK_BEARER_401(call(&f, writes[i].method, writes[i].path, NULL, writes[i].body), "");
        CHECK_BEARER_401(call(&f, writes[i].method, writes[i].path, "not.a.token", writes[i].body),
                         ", error=\"invalid_token\"");
    }
    /* the auditor reads; a plain account reads nothing */
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(call(&f, "GET", reads[i], f.auditor, NULL)->status, 200);
        CHECK_INT(call(&f, "GET", reads[i], f.user_admin, NULL)->status, 200);
        CHECK_PROBLEM(call(&f, "GET", reads[i], f.plain, NULL), 403);
    }
    json_t *m = ts_keep_json(json_loads(call(&f, "GET", members, f.auditor, NULL)->body, 0, NULL));
    CHECK_STR(item_ids(m, "user_id"), user);
    /* neither changes anything */
    for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++) {
        CHECK_PROBLEM_SAYS(call(&f, writes[i].method, writes[i].path, f.auditor, writes[i].body),
                           403, "idp:user-admin");
        CHECK_PROBLEM(call(&f, writes[i].method, writes[i].path, f.plain, writes[i].body), 403);
    }
    CHECK_STR(call(&f, "GET", team_path(id), f.admin, NULL)->body, before->body);
    CHECK_INT(team_count(&f), 1);
    m = get_json(&f, members);
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), user);

    /* idp:user-admin manages teams and members, but grants no idp:* role */
    struct ts_resp *r = call(&f, "POST", "/admin/v1/teams", f.user_admin,
                             "{\"name\":\"Auditors\",\"roles\":[\"idp:auditor\"]}");
    CHECK_PROBLEM_SAYS(r, 403, "idp:auditor");
    CHECK_INT(team_count(&f), 1);
    r = call(&f, "POST", "/admin/v1/teams", f.user_admin,
             "{\"name\":\"Shop\",\"roles\":[\"readWrite@ecommerce\"]}");
    CHECK_INT(r->status, 201);
    const char *shop = ts_jstr(r->json, "id");
    CHECK_INT(call(&f, "PATCH", team_path(shop), f.user_admin, "{\"description\":\"d\"}")->status,
              200);
    CHECK_INT(call(&f, "PUT", member_path(shop, user), f.user_admin, NULL)->status, 204);
    CHECK_INT(call(&f, "DELETE", member_path(shop, user), f.user_admin, NULL)->status, 204);
    CHECK_INT(call(&f, "DELETE", team_path(shop), f.user_admin, NULL)->status, 204);
    /* idp:admin may */
    r = call(&f, "POST", "/admin/v1/teams", f.admin,
             "{\"name\":\"Auditors\",\"roles\":[\"idp:auditor\"]}");
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "idp:auditor");
}

TEST(team_members)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *team = create_team(&f, "{\"name\":\"Platform\"}");
    const char *u1 = register_user(&f, "ada@example.org", "Ada Lovelace");
    const char *u2 = register_user(&f, "grace@example.org", NULL);
    const char *u3 = register_user(&f, "edsger@example.org", "Edsger");
    CHECK(team && u1 && u2 && u3);
    const char *members = ts_printf("/admin/v1/teams/%s/members", team);

    json_t *m = get_json(&f, members);
    CHECK(m);
    CHECK_INT(json_array_size(json_object_get(m, "items")), 0);
    CHECK(json_is_null(json_object_get(m, "next")));

    /* added in another order; PUT again is fine */
    const char *order[] = {u3, u1, u2, u1};
    for (size_t i = 0; i < 4; i++) {
        struct ts_resp *r = call(&f, "PUT", member_path(team, order[i]), f.admin, NULL);
        CHECK_INT(r->status, 204);
        CHECK_INT(r->len, 0);
    }
    m = get_json(&f, members);
    CHECK(m);
    json_t *items = json_object_get(m, "items");
    CHECK_INT(json_array_size(items), 3);
    CHECK_STR(item_ids(m, "user_id"), ts_printf("%s,%s,%s", u1, u2, u3)); /* by user id */
    CHECK_STR(ts_jstr(json_array_get(items, 0), "email"), "ada@example.org");
    CHECK_STR(ts_jstr(json_array_get(items, 0), "name"), "Ada Lovelace");
    /* the member sees the team in its own profile */
    json_t *h, *c;
    struct ts_resp *lr = ts_login(f.s, f.app.id, "ada@example.org", PASSWORD, NULL);
    const char *at = ts_jstr(lr->json, "access_token");
    CHECK(at && ts_jwt_decode(at, &h, &c) == 0);
    struct ts_resp *me = ts_bearer(f.s, "GET", "/v1/me", at, NULL);
    CHECK_INT(me->status, 200);
    json_t *teams = json_object_get(me->json, "teams");
    CHECK_INT(json_array_size(teams), 1);
    CHECK_STR(ts_jstr(json_array_get(teams, 0), "id"), team);
    CHECK_STR(ts_jstr(json_array_get(teams, 0), "name"), "Platform");
    CHECK_INT(json_object_size(json_array_get(items, 0)), 3);
    CHECK_STR(ts_jstr(json_array_get(items, 1), "email"), "grace@example.org");
    CHECK(json_is_null(json_object_get(json_array_get(items, 1), "name")));
    CHECK(json_is_null(json_object_get(m, "next")));

    /* the user shows the team */
    json_t *u = get_json(&f, ts_printf("/admin/v1/users/%s", u1));
    CHECK(u);
    CHECK_STR(ts_jarray_join(json_object_get(u, "teams")), team);

    /* paging */
    m = get_json(&f, ts_printf("%s?limit=2", members));
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), ts_printf("%s,%s", u1, u2));
    const char *next = ts_jstr(m, "next");
    CHECK(next);
    m = get_json(&f, ts_printf("%s?limit=2&after=%s", members, next));
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), u3);
    CHECK(json_is_null(json_object_get(m, "next")));
    /* a cursor of one team's members is not one of another's */
    const char *other = create_team(&f, "{\"name\":\"Other\"}");
    CHECK(other);
    CHECK_PROBLEM_SAYS(call(&f, "GET",
                            ts_printf("/admin/v1/teams/%s/members?after=%s", other, next), f.admin,
                            NULL),
                       400, "after");

    /* remove one; again is a 404 that changes nothing */
    CHECK_INT(call(&f, "DELETE", member_path(team, u2), f.admin, NULL)->status, 204);
    CHECK_PROBLEM_SAYS(call(&f, "DELETE", member_path(team, u2), f.admin, NULL), 404, "member");
    m = get_json(&f, members);
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), ts_printf("%s,%s", u1, u3));

    /* a deleted user leaves the team */
    CHECK_INT(call(&f, "DELETE", ts_printf("/admin/v1/users/%s", u3), f.admin, NULL)->status, 204);
    m = get_json(&f, members);
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), u1);
}

TEST(team_delete_removes_memberships)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *team = create_team(&f, "{\"name\":\"Platform\"}");
    const char *keep = create_team(&f, "{\"name\":\"Keep\"}");
    const char *u1 = register_user(&f, "ada@example.org", "Ada");
    const char *u2 = register_user(&f, "grace@example.org", "Grace");
    CHECK(team && keep && u1 && u2);
    CHECK_INT(call(&f, "PUT", member_path(team, u1), f.admin, NULL)->status, 204);
    CHECK_INT(call(&f, "PUT", member_path(team, u2), f.admin, NULL)->status, 204);
    CHECK_INT(call(&f, "PUT", member_path(keep, u1), f.admin, NULL)->status, 204);

    CHECK_INT(call(&f, "DELETE", team_path(team), f.user_admin, NULL)->status, 204);
    CHECK_PROBLEM(call(&f, "GET", ts_printf("/admin/v1/teams/%s/members", team), f.admin, NULL),
                  404);
    json_t *u = get_json(&f, ts_printf("/admin/v1/users/%s", u1));
    CHECK(u);
    CHECK_STR(ts_jarray_join(json_object_get(u, "teams")), keep);
    u = get_json(&f, ts_printf("/admin/v1/users/%s", u2));
    CHECK(u);
    CHECK_INT(json_array_size(json_object_get(u, "teams")), 0);
    /* the other team keeps its member; the name is free again, with no members */
    json_t *m = get_json(&f, ts_printf("/admin/v1/teams/%s/members", keep));
    CHECK(m);
    CHECK_STR(item_ids(m, "user_id"), u1);
    const char *again = create_team(&f, "{\"name\":\"platform\"}");
    CHECK(again);
    m = get_json(&f, ts_printf("/admin/v1/teams/%s/members", again));
    CHECK(m);
    CHECK_INT(json_array_size(json_object_get(m, "items")), 0);
}

TEST(team_roles_in_next_token)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *user = register_user(&f, "ada@example.org", "Ada");
    const char *team = create_team(&f, "{\"name\":\"Shop\"}");
    const char *other = create_team(&f, "{\"name\":\"Ops\",\"roles\":[\"deploy@prod\"]}");
    CHECK(user && team && other);
    CHECK_STR(login_roles(&f, "ada@example.org"), "");

    CHECK_INT(call(&f, "PUT", member_path(team, user), f.user_admin, NULL)->status, 204);
    struct ts_resp *r = call(&f, "PUT", ts_printf("/admin/v1/teams/%s/roles", team), f.user_admin,
                             "{\"roles\":[\"readWrite@ecommerce\"]}");
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jarray_join(json_object_get(get_json(&f, team_path(team)), "roles")),
              "readWrite@ecommerce");
    CHECK_STR(login_roles(&f, "ada@example.org"), "readWrite@ecommerce");

    /* two teams: the union, sorted; leaving one drops its roles from the next token */
    CHECK_INT(call(&f, "PUT", member_path(other, user), f.admin, NULL)->status, 204);
    CHECK_STR(login_roles(&f, "ada@example.org"), "deploy@prod,readWrite@ecommerce");
    CHECK_INT(call(&f, "DELETE", member_path(other, user), f.admin, NULL)->status, 204);
    CHECK_STR(login_roles(&f, "ada@example.org"), "readWrite@ecommerce");

    /* deleting the team: its roles are gone from the next token */
    CHECK_INT(call(&f, "DELETE", team_path(team), f.admin, NULL)->status, 204);
    CHECK_STR(login_roles(&f, "ada@example.org"), "");
}

TEST(team_list_paging_and_scope)
{
    struct fixture f;
    CHECK(setup(&f));
    const char *ids[6];
    const char *bodies[] = {"{\"name\":\"a\",\"scope\":\"org_a\"}", "{\"name\":\"b\"}",
                            "{\"name\":\"c\",\"scope\":\"org_a\"}", "{\"name\":\"d\"}",
                            "{\"name\":\"e\",\"scope\":\"org_a\"}", "{\"name\":\"f\"}"};
    for (size_t i = 0; i < 6; i++)
        CHECK((ids[i] = create_team(&f, bodies[i])) != NULL);

    /* every team, two at a time */
    const char *after = NULL;
    json_t *seen = ts_keep_json(json_array());
    for (int page = 0; page < 4; page++) {
        json_t *l = get_json(&f, after ? ts_printf("/admin/v1/teams?limit=2&after=%s", after)
                                       : "/admin/v1/teams?limit=2");
        CHECK(l);
        json_t *v;
        size_t i;
        json_array_foreach(json_object_get(l, "items"), i, v)
            json_array_append_new(seen, json_string(ts_jstr(v, "id")));
        after = ts_jstr(l, "next");
        if (!after)
            break;
    }
    CHECK(after == NULL);
    CHECK_STR(ts_jarray_join(seen),
              ts_printf("%s,%s,%s,%s,%s,%s", ids[0], ids[1], ids[2], ids[3], ids[4], ids[5]));

    /* one scope */
    json_t *l = get_json(&f, "/admin/v1/teams?scope=org_a");
    CHECK(l);
    CHECK_STR(item_ids(l, "id"), ts_printf("%s,%s,%s", ids[0], ids[2], ids[4]));
    CHECK(json_is_null(json_object_get(l, "next")));
    l = get_json(&f, "/admin/v1/teams?scope=org_a&limit=2");
    CHECK(l);
    CHECK_STR(item_ids(l, "id"), ts_printf("%s,%s", ids[0], ids[2]));
    const char *next = ts_jstr(l, "next");
    CHECK(next);
    l = get_json(&f, ts_printf("/admin/v1/teams?scope=org_a&limit=2&after=%s", next));
    CHECK(l);
    CHECK_STR(item_ids(l, "id"), ids[4]);
    CHECK(json_is_null(json_object_get(l, "next")));
    /* the global scope is scope= */
    l = get_json(&f, "/admin/v1/teams?scope=");
    CHECK(l);
    CHECK_STR(item_ids(l, "id"), ts_printf("%s,%s,%s", ids[1], ids[3], ids[5]));
    l = get_json(&f, "/admin/v1/teams?scope=nobody");
    CHECK(l);
    CHECK_INT(json_array_size(json_object_get(l, "items")), 0);
    /* a cursor belongs to its filter */
    CHECK_PROBLEM_SAYS(call(&f, "GET",
                            ts_printf("/admin/v1/teams?scope=org_b&limit=2&after=%s", next),
                            f.admin, NULL),
                       400, "after");
    CHECK_PROBLEM_SAYS(
        call(&f, "GET", ts_printf("/admin/v1/teams?limit=2&after=%s", next), f.admin, NULL), 400,
        "after");
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(team_crud);
    RUN(team_names_unique_per_scope_ignoring_case);
    RUN(team_bad_input_changes_nothing);
    RUN(team_not_found);
    RUN(team_authorization);
    RUN(team_members);
    RUN(team_delete_removes_memberships);
    RUN(team_roles_in_next_token);
    RUN(team_list_paging_and_scope);
    return ts_done();
}
