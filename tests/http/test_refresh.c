/* grant_type=refresh_token and logout: rotation on every use, reuse detection that ends the whole
 * session (its newest refresh token and its access tokens too), tokens bound to their
 * application, scope narrowing, and revocation (RFC 7009) of refresh and access tokens. */
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
static const char *const no_refresh[] = {"password", NULL};
static const char *const on[] = {"--allow-registration", NULL};
static const char *const intro_roles[] = {"idp:introspect", NULL};

#define EMAIL "ada@example.com"
#define PASSWORD "analytical engine"

struct fixture {
    struct ts_server *s;
    struct ts_account a, b;   /* two public applications with password and refresh_token */
    struct ts_account caller; /* a service account holding idp:introspect */
    const char *user_id;
};

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on};
    f->s = ts_start(&o);
    if (!f->s || ts_app_create(f->s->data, "app-a", app_grants, NULL, &f->a) != 0 ||
        ts_app_create(f->s->data, "app-b", app_grants, NULL, &f->b) != 0 ||
        ts_sa_create(f->s->data, "resource-server", intro_roles, NULL, &f->caller) != 0)
        return 0;
    struct ts_resp *r = ts_register(f->s, f->a.id, EMAIL, PASSWORD);
    f->user_id = ts_jstr(r->json, "id");
    return r->status == 201 && f->user_id;
}

struct tokens {
    const char *at, *rt, *sid;
};

/* A successful token answer's tokens (sid from the access token); 0 when it is not one. */
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

static int login(struct fixture *f, const struct ts_account *app, const char *extra,
                 struct tokens *t)
{
    return tokens_of(ts_login(f->s, app->id, EMAIL, PASSWORD, extra), t);
}

/* 200 from /v1/me with this access token. */
static int me_ok(struct fixture *f, const char *at)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", "/v1/me", at, NULL);
    return r->status == 200 && ts_jstr(r->json, "id") &&
           strcmp(ts_jstr(r->json, "id"), f->user_id) == 0;
}

static int active(struct fixture *f, const char *at)
{
    struct ts_resp *r = ts_introspect(f->s, &f->caller, at);
    return r->status == 200 && json_is_true(json_object_get(r->json, "active"));
}

TEST(refresh_rotates)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1, t2;
    CHECK(login(&f, &f.a, NULL, &t0));
    struct ts_resp *r = ts_refresh(f.s, f.a.id, t0.rt, NULL);
    CHECK(tokens_of(r, &t1));
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_STR(ts_jstr(r->json, "token_type"), "Bearer");
    CHECK_INT(ts_jint(r->json, "expires_in"), 3600);
    CHECK(!json_object_get(r->json, "id_token"));
    CHECK(strcmp(t1.rt, t0.rt) != 0);
    CHECK(strcmp(t1.at, t0.at) != 0);
    /* the same session, user, client and login time */
    json_t *h, *c0, *c1;
    CHECK(ts_jwt_decode(t0.at, &h, &c0) == 0 && ts_jwt_decode(t1.at, &h, &c1) == 0);
    CHECK_STR(t1.sid, t0.sid);
    CHECK_STR(ts_jstr(c1, "sub"), f.user_id);
    CHECK_STR(ts_jstr(c1, "client_id"), f.a.id);
    CHECK_STR(ts_jstr(c1, "principal_type"), "user");
    CHECK_INT(ts_jint(c1, "auth_time"), ts_jint(c0, "auth_time"));
    CHECK_STR(ts_jarray_join(json_object_get(c1, "amr")), "pwd");
    CHECK(strcmp(ts_jstr(c1, "jti"), ts_jstr(c0, "jti")) != 0);
    CHECK(ts_es256_verify(t1.at, ts_jwks_key(ts_get(f.s, "/jwks")->json, ts_jstr(h, "kid"))));
    CHECK(me_ok(&f, t1.at));
    CHECK(me_ok(&f, t0.at)); /* an earlier access token of a live session still works */
    /* and again */
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t1.rt, NULL), &t2));
    CHECK(strcmp(t2.rt, t1.rt) != 0 && strcmp(t2.rt, t0.rt) != 0);
    CHECK_STR(t2.sid, t0.sid);
    CHECK(me_ok(&f, t2.at));
    /* the session's last use moved; still one session */
    struct ts_resp *ss = ts_bearer(f.s, "GET", "/v1/me/sessions", t2.at, NULL);
    CHECK_INT(ss->status, 200);
    CHECK_INT(json_array_size(json_object_get(ss->json, "items")), 1);
}

TEST(reuse_ends_the_whole_session)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens other, t0, t1, t2;
    CHECK(login(&f, &f.a, NULL, &other)); /* another session of the same user */
    CHECK(login(&f, &f.a, NULL, &t0));
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t1.rt, NULL), &t2));
    CHECK(active(&f, t2.at));
    /* t0's refresh token was rotated away: presenting it again means it leaked, whatever else
     * the request asks (a scope it could never get does not hide the reuse) */
    struct ts_resp *r = ts_refresh(f.s, f.a.id, t0.rt, "scope=bogus");
    CHECK_OAUTH_ERROR(r, 400, "invalid_grant");
    /* the newest refresh token of the family fails too */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t2.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t1.rt, NULL), 400, "invalid_grant");
    /* and every access token of the session is refused */
    const char *ats[] = {t0.at, t1.at, t2.at};
    for (size_t i = 0; i < 3; i++) {
        CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", ats[i], NULL),
                         ", error=\"invalid_token\"");
        CHECK_BEARER_401(ts_bearer(f.s, "GET", "/userinfo", ats[i], NULL),
                         ", error=\"invalid_token\"");
        CHECK_INACTIVE(ts_introspect(f.s, &f.caller, ats[i]));
    }
    /* the user's other session is untouched */
    CHECK(me_ok(&f, other.at));
    CHECK(active(&f, other.at));
    struct tokens o1;
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, other.rt, NULL), &o1));
    struct ts_resp *ss = ts_bearer(f.s, "GET", "/v1/me/sessions", o1.at, NULL);
    CHECK_INT(json_array_size(json_object_get(ss->json, "items")), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(ss->json, "items"), 0), "id"), other.sid);
}

TEST(refresh_token_of_another_application)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1;
    CHECK(login(&f, &f.a, NULL, &t0));
    struct ts_resp *r = ts_refresh(f.s, f.b.id, t0.rt, NULL);
    CHECK_OAUTH_ERROR(r, 400, "invalid_grant");
    /* an application without the refresh_token grant is refused before the token is looked at */
    struct ts_account c;
    CHECK_INT(ts_app_create(f.s->data, "no-refresh", no_refresh, NULL, &c), 0);
    CHECK_OAUTH_ERROR(ts_refresh(f.s, c.id, t0.rt, NULL), 400, "unauthorized_client");
    /* unknown client, missing or garbage token */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, "app_00000000000000000000000000", t0.rt, NULL), 401,
                      "invalid_client");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL,
                              ts_printf("grant_type=refresh_token&client_id=%s", f.a.id)),
                      400, "invalid_request");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, "not-a-refresh-token", NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t0.at, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL,
                              ts_printf("grant_type=refresh_token&client_id=%s&refresh_token=%s"
                                        "&refresh_token=%s",
                                        f.a.id, t0.rt, t0.rt)),
                      400, "invalid_request");
    /* none of that used or ended the session: it still works for A */
    CHECK(me_ok(&f, t0.at));
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
    CHECK_STR(t1.sid, t0.sid);
    CHECK(me_ok(&f, t1.at));
}

TEST(scope_narrowing)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1, t2, t3;
    CHECK(login(&f, &f.a, "scope=openid", &t0));
    /* wider than granted, or unknown: refused, and the refresh token stays good */
    static const char *const bad[] = {"scope=email", "scope=openid+email", "scope=openid+bogus",
                                      "scope=offline_access"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = ts_refresh(f.s, f.a.id, t0.rt, bad[i]);
        CHECK_MSG(r->status == 400, "%s: %ld %s", bad[i], r->status, r->body);
        CHECK_OAUTH_ERROR(r, 400, "invalid_scope");
    }
    char *many = ts_printf("scope=openid");
    for (int i = 0; i < 300; i++)
        many = ts_printf("%s+openid", many); /* granted values, but too long a scope */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t0.rt, many), 400, "invalid_scope");
    CHECK(me_ok(&f, t0.at));
    struct ts_resp *r = ts_refresh(f.s, f.a.id, t0.rt, "scope=openid");
    CHECK(tokens_of(r, &t1));
    CHECK_STR(ts_jstr(r->json, "scope"), "openid");
    CHECK(ts_jstr(r->json, "id_token"));
    CHECK_STR(t1.sid, t0.sid);
    /* without a scope: the session's */
    r = ts_refresh(f.s, f.a.id, t1.rt, NULL);
    CHECK(tokens_of(r, &t2));
    CHECK_STR(ts_jstr(r->json, "scope"), "openid");
    CHECK(ts_jstr(r->json, "id_token"));

    /* a session of "openid email" narrows to "email" for one refresh; the next one without a
     * scope gets the session's whole scope again (RFC 6749 §6) */
    struct tokens w0;
    CHECK(login(&f, &f.a, "scope=openid+email", &w0));
    r = ts_refresh(f.s, f.a.id, w0.rt, "scope=email");
    CHECK(tokens_of(r, &t3));
    CHECK_STR(ts_jstr(r->json, "scope"), "email");
    CHECK(!json_object_get(r->json, "id_token"));
    json_t *h, *c;
    CHECK(ts_jwt_decode(t3.at, &h, &c) == 0);
    CHECK_STR(ts_jstr(c, "scope"), "email");
    r = ts_refresh(f.s, f.a.id, t3.rt, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "scope"), "openid email");
    CHECK(ts_jstr(r->json, "id_token"));
}

TEST(revoke_refresh_token_logs_out)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1, other;
    CHECK(login(&f, &f.a, NULL, &other));
    CHECK(login(&f, &f.a, NULL, &t0));
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
    struct ts_resp *r = ts_revoke_public(f.s, f.a.id, t1.rt);
    CHECK_INT(r->status, 200);
    CHECK_STR(r->body, "");
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    /* the session has ended: its refresh tokens and access tokens are refused */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t1.rt, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.a.id, t0.rt, NULL), 400, "invalid_grant");
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t1.at, NULL), ", error=\"invalid_token\"");
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t0.at, NULL), ", error=\"invalid_token\"");
    CHECK_BEARER_401(ts_bearer(f.s, "POST", "/userinfo", t1.at, NULL), ", error=\"invalid_token\"");
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t1.at));
    /* revoking again is fine and changes nothing */
    CHECK_INT(ts_revoke_public(f.s, f.a.id, t1.rt)->status, 200);
    /* the other session lives on */
    CHECK(me_ok(&f, other.at));
    struct tokens o1;
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, other.rt, NULL), &o1));
}

TEST(revoke_access_token_keeps_session)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1;
    CHECK(login(&f, &f.a, NULL, &t0));
    struct ts_resp *r = ts_revoke_public(f.s, f.a.id, t0.at);
    CHECK_INT(r->status, 200);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", "/v1/me", t0.at, NULL), ", error=\"invalid_token\"");
    CHECK_INACTIVE(ts_introspect(f.s, &f.caller, t0.at));
    /* the access token is denied, the session is not */
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
    CHECK(me_ok(&f, t1.at));
}

TEST(revoke_another_apps_token_400)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0, t1;
    CHECK(login(&f, &f.a, NULL, &t0));
    CHECK_OAUTH_ERROR(ts_revoke_public(f.s, f.b.id, t0.rt), 400, "unauthorized_client");
    CHECK_OAUTH_ERROR(ts_revoke_public(f.s, f.b.id, t0.at), 400, "unauthorized_client");
    /* a service account may not either */
    CHECK_OAUTH_ERROR(ts_revoke(f.s, &f.caller, t0.rt), 400, "unauthorized_client");
    /* nothing ended */
    CHECK(me_ok(&f, t0.at));
    CHECK(active(&f, t0.at));
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
    CHECK(me_ok(&f, t1.at));
}

TEST(revoke_garbage_200)
{
    struct fixture f;
    CHECK(setup(&f));
    struct tokens t0;
    CHECK(login(&f, &f.a, NULL, &t0));
    static const char *const junk[] = {"garbage", "a.b.c",
                                       "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "x"};
    for (size_t i = 0; i < sizeof junk / sizeof junk[0]; i++) {
        struct ts_resp *r = ts_revoke_public(f.s, f.a.id, junk[i]);
        CHECK_MSG(r->status == 200, "%s: %ld %s", junk[i], r->status, r->body);
        CHECK_STR(r->body, "");
    }
    /* but the request itself must be right */
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", NULL, ts_printf("client_id=%s", f.a.id)), 400,
                      "invalid_request");
    CHECK_OAUTH_ERROR(ts_revoke_public(f.s, "app_00000000000000000000000000", t0.rt), 401,
                      "invalid_client");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", NULL, ts_printf("token=%s", t0.rt)), 401,
                      "invalid_client");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/revoke", NULL,
                              ts_printf("client_id=%s&token=%s&token=%s", f.a.id, t0.rt, t0.rt)),
                      400, "invalid_request");
    /* nothing ended */
    CHECK(me_ok(&f, t0.at));
    struct tokens t1;
    CHECK(tokens_of(ts_refresh(f.s, f.a.id, t0.rt, NULL), &t1));
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(refresh_rotates);
    RUN(reuse_ends_the_whole_session);
    RUN(refresh_token_of_another_application);
    RUN(scope_narrowing);
    RUN(revoke_refresh_token_logs_out);
    RUN(revoke_access_token_keeps_session);
    RUN(revoke_another_apps_token_400);
    RUN(revoke_garbage_200);
    return ts_done();
}
