/* Self-service with a user's access token: the profile, OIDC userinfo, bearer errors, the
 * session list, ending a session, and changing the password (which ends the other sessions). */
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token",
                                         "urn:idpd:grant-type:anonymous", NULL};
static const char *const on[] = {"--allow-registration", NULL};

#define EMAIL "Katherine.Johnson@Example.org"
#define PASSWORD "orbital mechanics"

struct fixture {
    struct ts_server *s;
    struct ts_account app;
    const char *user_id;
};

static const char *register_user(struct fixture *f, const char *email, const char *password,
                                 const char *name)
{
    json_t *j = ts_keep_json(json_pack("{s:s, s:s, s:s, s:s?}", "client_id", f->app.id, "email",
                                       email, "password", password, "name", name));
    struct ts_resp *r =
        ts_bearer(f->s, "POST", "/v1/register", NULL, ts_keep(json_dumps(j, JSON_COMPACT)));
    if (r->status != 201)
        fprintf(stderr, "  register %s: %ld %s\n", email, r->status, r->body);
    return r->status == 201 ? ts_jstr(r->json, "id") : NULL;
}

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on};
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "mobile", app_grants, NULL, &f->app) == 0 &&
           (f->user_id = register_user(f, EMAIL, PASSWORD, "Katherine Johnson")) != NULL;
}

struct tokens {
    const char *at, *rt, *sid;
};

static int tokens_of(struct ts_resp *r, struct tokens *t)
{
    json_t *h, *c;
    t->at = ts_jstr(r->json, "access_token");
    t->rt = ts_jstr(r->json, "refresh_token");
    if (r->status != 200 || !t->at || !t->rt || ts_jwt_decode(t->at, &h, &c) != 0) {
        fprintf(stderr, "  not a token answer: %ld %s\n", r->status, r->body);
        return 0;
    }
    t->sid = ts_jstr(c, "sid");
    return t->sid != NULL;
}

/* Logs in with a User-Agent so the session shows it. */
static int login_as(struct fixture *f, const char *email, const char *password, const char *ua,
                    struct tokens *t)
{
    const char *h[] = {ts_printf("User-Agent: %s", ua), NULL};
    return tokens_of(ts_post(f->s, "/oauth/token", h,
                             ts_printf("grant_type=password&client_id=%s&username=%s&password=%s",
                                       f->app.id, ts_form_escape(email), ts_form_escape(password))),
                     t);
}

static int login(struct fixture *f, struct tokens *t)
{
    return login_as(f, EMAIL, PASSWORD, "test-me/1.0", t);
}

static json_t *sessions(struct fixture *f, const char *at)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", "/v1/me/sessions", at, NULL);
    return r->status == 200 ? json_object_get(r->json, "items") : NULL;
}

TEST(me_profile)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t;
    CHECK(login(&f, &t));
    struct ts_resp *r = ts_bearer(f.s, "GET", "/v1/me", t.at, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_jstr(r->json, "id"), f.user_id);
    CHECK_STR(ts_jstr(r->json, "email"), EMAIL);
    CHECK_STR(ts_jstr(r->json, "name"), "Katherine Johnson");
    CHECK_STR(ts_jstr(r->json, "status"), "active");
    CHECK(json_is_false(json_object_get(r->json, "anonymous")));
    CHECK(ts_jint(r->json, "created_at") > 1600000000LL);
    CHECK(json_is_object(json_object_get(r->json, "metadata")));
    json_t *idns = json_object_get(r->json, "identities");
    CHECK_INT(json_array_size(idns), 1);
    CHECK(strncmp(ts_jstr(json_array_get(idns, 0), "id"), "idn_", 4) == 0);
    CHECK_STR(ts_jstr(json_array_get(idns, 0), "provider"), "local-userpass");
    CHECK(ts_jint(json_array_get(idns, 0), "created_at") > 1600000000LL);
    json_t *teams = json_object_get(r->json, "teams");
    CHECK(json_is_array(teams));
    CHECK_INT(json_array_size(teams), 0);
    CHECK(!strstr(r->body, "argon2") && !strstr(r->body, "password"));
    /* HEAD answers like GET, without a body */
    struct ts_req head = {.method = "HEAD",
                          .path = "/v1/me",
                          .headers =
                              (const char *[]){ts_printf("Authorization: Bearer %s", t.at), NULL}};
    struct ts_resp *hr = ts_do(f.s, &head);
    CHECK_INT(hr->status, 200);
    CHECK_INT(hr->len, 0);
}

TEST(userinfo_get_and_post)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t;
    CHECK(login(&f, &t));
    struct ts_resp *g = ts_bearer(f.s, "GET", "/userinfo", t.at, NULL);
    struct ts_resp *p = ts_bearer(f.s, "POST", "/userinfo", t.at, NULL);
    struct ts_resp *both[] = {g, p};
    for (size_t i = 0; i < 2; i++) {
        struct ts_resp *r = both[i];
        CHECK_MSG(r->status == 200, "%s: %ld %s", i ? "POST" : "GET", r->status, r->body);
        CHECK_STR(ts_header(r, "Content-Type"), "application/json");
        CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
        CHECK_STR(ts_jstr(r->json, "sub"), f.user_id);
        CHECK_STR(ts_jstr(r->json, "email"), EMAIL);
        CHECK(json_is_false(json_object_get(r->json, "email_verified")));
        CHECK_STR(ts_jstr(r->json, "name"), "Katherine Johnson");
        CHECK(ts_jint(r->json, "updated_at") > 1600000000LL);
    }
    CHECK(json_equal(g->json, p->json));
    /* an anonymous user has a sub and nothing more to tell */
    struct tokens a;
    CHECK(tokens_of(ts_anonymous(f.s, f.app.id), &a));
    struct ts_resp *ar = ts_bearer(f.s, "GET", "/userinfo", a.at, NULL);
    CHECK_INT(ar->status, 200);
    CHECK(ts_jstr(ar->json, "sub") && strncmp(ts_jstr(ar->json, "sub"), "usr_", 4) == 0);
    CHECK(!json_object_get(ar->json, "email") && !json_object_get(ar->json, "email_verified"));
}

TEST(bearer_errors)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t;
    CHECK(login(&f, &t));
    struct ts_account sa;
    static const char *const sa_roles[] = {"idp:introspect", NULL};
    CHECK_INT(ts_sa_create(f.s->data, "svc", sa_roles, NULL, &sa), 0);
    const char *sa_token = ts_token_str(f.s, &sa);
    CHECK(sa_token);
    json_t *h, *c;
    CHECK(ts_jwt_decode(t.at, &h, &c) == 0);
    /* the user's own claims under a key idpd does not have */
    const char *forged = ts_jws_es256_foreign(ts_keep(json_dumps(h, JSON_COMPACT)),
                                              ts_keep(json_dumps(c, JSON_COMPACT)));
    CHECK(forged);
    static const char *const paths[][2] = {{"GET", "/v1/me"},
                                           {"GET", "/userinfo"},
                                           {"POST", "/userinfo"},
                                           {"GET", "/v1/me/sessions"},
                                           {"DELETE", "/v1/me/sessions/ses_x"},
                                           {"POST", "/v1/me/password"},
                                           {"POST", "/v1/me/identities"},
                                           {"DELETE", "/v1/me/identities/idn_x"}};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const char *m = paths[i][0], *p = paths[i][1];
        /* no token: a challenge without an error (RFC 6750 §3.1) */
        CHECK_BEARER_401(ts_bearer(f.s, m, p, NULL, NULL), "");
        struct ts_req basic = {
            .method = m, .path = p, .headers = (const char *[]){ts_basic(&sa), NULL}};
        CHECK_BEARER_401(ts_do(f.s, &basic), "");
        /* a token that is not one of idpd's access tokens */
        static const char *const bad[] = {"garbage", "a.b.c", ""};
        for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
            struct ts_resp *r = ts_bearer(f.s, m, p, bad[k], NULL);
            CHECK_MSG(r->status == 401, "%s %s with \"%s\": %ld", m, p, bad[k], r->status);
            if (bad[k][0])
                CHECK_BEARER_401(r, ", error=\"invalid_token\"");
        }
        CHECK_BEARER_401(ts_bearer(f.s, m, p, forged, NULL), ", error=\"invalid_token\"");
        /* a service account's valid token: authenticated, but these endpoints are users' */
        struct ts_resp *r = ts_bearer(f.s, m, p, sa_token, NULL);
        CHECK_MSG(r->status == 403, "%s %s: %ld %s", m, p, r->status, r->body);
        CHECK_PROBLEM(r, 403);
    }
    /* tokens signed with idpd's own key: a copy of the user's claims is fine; expired, of a
     * session that does not exist, of a user that does not exist, or of another issuer, not */
    struct keys *kr = ts_keys_open(f.s->data);
    CHECK(kr);
    json_t *copy = ts_keep_json(json_deep_copy(c));
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me",
                        ts_keys_sign(kr, "at+jwt", ts_keep(json_dumps(copy, JSON_COMPACT))), NULL)
                  ->status,
              200);
    const char *edits[][2] = {{"exp", NULL},
                              {"sid", "ses_00000000000000000000000000"},
                              {"sub", "usr_00000000000000000000000000"},
                              {"iss", "http://elsewhere.test"}};
    for (size_t i = 0; i < sizeof edits / sizeof edits[0]; i++) {
        json_t *e = ts_keep_json(json_deep_copy(c));
        if (edits[i][1])
            json_object_set_new(e, edits[i][0], json_string(edits[i][1]));
        else /* expired a minute ago */
            json_object_set_new(e, "exp", json_integer(ts_jint(c, "iat") - 60));
        const char *tok = ts_keys_sign(kr, "at+jwt", ts_keep(json_dumps(e, JSON_COMPACT)));
        CHECK(tok);
        struct ts_resp *r = ts_bearer(f.s, "GET", "/v1/me", tok, NULL);
        CHECK_MSG(r->status == 401, "%s: %ld %s", edits[i][0], r->status, r->body);
        CHECK_BEARER_401(r, ", error=\"invalid_token\"");
    }
    /* an ID token is not an access token, even with the same claims */
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me",
                               ts_keys_sign(kr, "JWT", ts_keep(json_dumps(copy, JSON_COMPACT))),
                               NULL),
                     ", error=\"invalid_token\"");
    /* the user's token still works */
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", t.at, NULL)->status, 200);
}

TEST(session_list)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t1, t2;
    CHECK(login_as(&f, EMAIL, PASSWORD, "phone/1.0", &t1));
    CHECK(login_as(&f, EMAIL, PASSWORD, "laptop/2.0", &t2));
    json_t *items = sessions(&f, t1.at);
    CHECK(items);
    CHECK_INT(json_array_size(items), 2);
    int current = 0;
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(items, i);
        const char *id = ts_jstr(s, "id");
        CHECK(id && (strcmp(id, t1.sid) == 0 || strcmp(id, t2.sid) == 0));
        CHECK_STR(ts_jstr(s, "client_id"), f.app.id);
        CHECK_STR(ts_jstr(s, "amr"), "pwd");
        CHECK_STR(ts_jstr(s, "client_ip"), "127.0.0.1");
        CHECK_STR(ts_jstr(s, "user_agent"), strcmp(id, t1.sid) == 0 ? "phone/1.0" : "laptop/2.0");
        CHECK(ts_jint(s, "created_at") > 1600000000LL);
        CHECK(ts_jint(s, "idle_expires_at") > ts_jint(s, "created_at"));
        CHECK(ts_jint(s, "absolute_expires_at") >= ts_jint(s, "idle_expires_at"));
        CHECK(!json_object_get(s, "refresh_hash") && !json_object_get(s, "refresh_token"));
        json_t *cur = json_object_get(s, "current");
        CHECK(json_is_boolean(cur));
        if (json_is_true(cur)) {
            current++;
            CHECK_STR(id, t1.sid);
        }
    }
    CHECK_INT(current, 1);
    /* seen from the other session, the other one is current */
    items = sessions(&f, t2.at);
    CHECK_INT(json_array_size(items), 2);
    for (size_t i = 0; i < 2; i++) {
        json_t *s = json_array_get(items, i);
        CHECK(json_is_true(json_object_get(s, "current")) ==
              (strcmp(ts_jstr(s, "id"), t2.sid) == 0));
    }
    /* another user sees only its own */
    CHECK(register_user(&f, "other@example.org", "another password", NULL));
    struct tokens o;
    CHECK(login_as(&f, "other@example.org", "another password", "x", &o));
    items = sessions(&f, o.at);
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), o.sid);
}

TEST(end_a_session)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t1, t2;
    CHECK(login(&f, &t1));
    CHECK(login(&f, &t2));
    struct ts_resp *r =
        ts_bearer(f.s, "DELETE", ts_printf("/v1/me/sessions/%s", t2.sid), t1.at, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    /* the ended session's tokens are refused */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t2.rt, NULL), 400, "invalid_grant");
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t2.at, NULL), ", error=\"invalid_token\"");
    /* the caller's goes on */
    json_t *items = sessions(&f, t1.at);
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), t1.sid);
    /* a second time, or an unknown id: 404 */
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", ts_printf("/v1/me/sessions/%s", t2.sid), t1.at, NULL),
                  404);
    CHECK_PROBLEM(
        ts_bearer(f.s, "DELETE", "/v1/me/sessions/ses_00000000000000000000000000", t1.at, NULL),
        404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", "/v1/me/sessions/garbage", t1.at, NULL), 404);
    CHECK_INT(json_array_size(sessions(&f, t1.at)), 1);
    /* ending one's own session is logging out */
    r = ts_bearer(f.s, "DELETE", ts_printf("/v1/me/sessions/%s", t1.sid), t1.at, NULL);
    CHECK_INT(r->status, 204);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t1.at, NULL), ", error=\"invalid_token\"");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, t1.rt, NULL), 400, "invalid_grant");
}

TEST(end_another_users_session_404)
{
    struct fixture f;
    CHECK(setup(&f));
    CHECK(register_user(&f, "mallory@example.org", "mallory's password", NULL));
    struct tokens victim, attacker;
    CHECK(login(&f, &victim));
    CHECK(login_as(&f, "mallory@example.org", "mallory's password", "x", &attacker));
    struct ts_resp *r =
        ts_bearer(f.s, "DELETE", ts_printf("/v1/me/sessions/%s", victim.sid), attacker.at, NULL);
    CHECK_PROBLEM(r, 404);
    /* exactly what an unknown session answers: nothing tells that it exists */
    struct ts_resp *unknown = ts_bearer(
        f.s, "DELETE", "/v1/me/sessions/ses_00000000000000000000000000", attacker.at, NULL);
    CHECK_STR(r->body, unknown->body);
    /* the victim's session survives */
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", victim.at, NULL)->status, 200);
    json_t *items = sessions(&f, victim.at);
    CHECK_INT(json_array_size(items), 1);
    CHECK_STR(ts_jstr(json_array_get(items, 0), "id"), victim.sid);
    struct tokens v1;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, victim.rt, NULL), &v1));
}

static struct ts_resp *change_password(struct fixture *f, const char *at, const char *current,
                                       const char *next)
{
    json_t *j =
        ts_keep_json(json_pack("{s:s, s:s}", "current_password", current, "new_password", next));
    return ts_bearer(f->s, "POST", "/v1/me/password", at, ts_keep(json_dumps(j, JSON_COMPACT)));
}

TEST(password_change)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens cur, other;
    CHECK(login(&f, &cur));
    CHECK(login(&f, &other));
    /* the wrong current password: 403 and nothing changes */
    CHECK_PROBLEM(change_password(&f, cur.at, "not my password", "a brand new one"), 403);
    struct tokens other1, check;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, other.rt, NULL), &other1));
    CHECK(login(&f, &check)); /* the old password still logs in */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, EMAIL, "a brand new one", NULL), 400,
                      "invalid_grant");
    /* bad requests: 400 (415 for a form), and nothing changes */
    char big[1030];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK_PROBLEM(change_password(&f, cur.at, PASSWORD, "short"), 400);
    CHECK_PROBLEM(change_password(&f, cur.at, PASSWORD, "1234567"), 400);
    CHECK_PROBLEM(change_password(&f, cur.at, PASSWORD, big), 400);
    CHECK_PROBLEM(change_password(&f, cur.at, PASSWORD, ""), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/password", cur.at,
                            "{\"current_password\":\"" PASSWORD "\"}"),
                  400);
    struct ts_resp *unknown =
        ts_bearer(f.s, "POST", "/v1/me/password", cur.at,
                  "{\"current_password\":\"" PASSWORD "\",\"new_password\":\"a brand new one\","
                  "\"confirm\":\"a brand new one\"}");
    CHECK_PROBLEM(unknown, 400);
    CHECK(strstr(ts_jstr(unknown->json, "detail"), "confirm") != NULL);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/password", cur.at,
                            "{\"current_password\":\"" PASSWORD "\",\"new_password\":\"bad\xff"
                            "utf8 password\"}"),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/password", cur.at, "{\"current_password\":"), 400);
    struct ts_req form = {.method = "POST",
                          .path = "/v1/me/password",
                          .headers =
                              (const char *[]){ts_printf("Authorization: Bearer %s", cur.at), NULL},
                          .body = "current_password=x&new_password=yyyyyyyyyy"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
    CHECK(login(&f, &check));
    CHECK_INT(json_array_size(sessions(&f, cur.at)), 4); /* cur, other, two checks */

    /* the right one: 204; the other sessions end, this one goes on */
    struct ts_resp *r = change_password(&f, cur.at, PASSWORD, "a brand new one");
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, EMAIL, PASSWORD, NULL), 400, "invalid_grant");
    struct tokens fresh;
    CHECK(tokens_of(ts_login(f.s, f.app.id, EMAIL, "a brand new one", NULL), &fresh));
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, other1.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, check.rt, NULL), 400, "invalid_grant");
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", other1.at, NULL), ", error=\"invalid_token\"");
    CHECK_INT(ts_bearer(f.s, "GET", "/v1/me", cur.at, NULL)->status, 200);
    struct tokens cur1;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, cur.rt, NULL), &cur1));
    CHECK_STR(cur1.sid, cur.sid);
    json_t *items = sessions(&f, cur1.at);
    CHECK_INT(json_array_size(items), 2); /* the current one and the fresh login */
    /* the old password no longer proves anything */
    CHECK_PROBLEM(change_password(&f, cur1.at, PASSWORD, "yet another one"), 403);
}

TEST(anonymous_user_has_no_password_409)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens a;
    CHECK(tokens_of(ts_anonymous(f.s, f.app.id), &a));
    struct ts_resp *r = change_password(&f, a.at, "anything at all", "a brand new one");
    CHECK_PROBLEM(r, 409);
    struct ts_resp *me = ts_bearer(f.s, "GET", "/v1/me", a.at, NULL);
    CHECK_INT(me->status, 200);
    CHECK(json_is_true(json_object_get(me->json, "anonymous")));
    CHECK_INT(json_array_size(json_object_get(me->json, "identities")), 1);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(me_profile);
    RUN(userinfo_get_and_post);
    RUN(bearer_errors);
    RUN(session_list);
    RUN(end_a_session);
    RUN(end_another_users_session_404);
    RUN(password_change);
    RUN(anonymous_user_has_no_password_409);
    return ts_done();
}
