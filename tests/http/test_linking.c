/* Anonymous users and account linking: an anonymous user links an email/password identity and
 * keeps its id; a link that would take another user's email is a 409 that changes neither user;
 * unlinking the last identity is refused; unlinking frees the email. */
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token",
                                         "urn:idpd:grant-type:anonymous", NULL};
static const char *const password_only[] = {"password", "refresh_token", NULL};
static const char *const on[] = {"--allow-registration", NULL};

struct fixture {
    struct ts_server *s;
    struct ts_account app;
};

static int setup(struct fixture *f)
{
    struct ts_opts o = {.args = on};
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "game", app_grants, NULL, &f->app) == 0;
}

struct user {
    const char *id, *at, *rt, *sid;
};

static int tokens_of(struct ts_resp *r, struct user *u)
{
    json_t *h, *c;
    u->at = ts_jstr(r->json, "access_token");
    u->rt = ts_jstr(r->json, "refresh_token");
    if (r->status != 200 || !u->at || !u->rt || ts_jwt_decode(u->at, &h, &c) != 0) {
        fprintf(stderr, "  not a token answer: %ld %s\n", r->status, r->body);
        return 0;
    }
    u->id = ts_jstr(c, "sub");
    u->sid = ts_jstr(c, "sid");
    return u->id && u->sid;
}

static int anonymous(struct fixture *f, struct user *u)
{
    return tokens_of(ts_anonymous(f->s, f->app.id), u);
}

/* Registers email/password and logs in. */
static int registered(struct fixture *f, const char *email, const char *password, struct user *u)
{
    struct ts_resp *r = ts_register(f->s, f->app.id, email, password);
    if (r->status != 201) {
        fprintf(stderr, "  register %s: %ld %s\n", email, r->status, r->body);
        return 0;
    }
    return tokens_of(ts_login(f->s, f->app.id, email, password, NULL), u);
}

static struct ts_resp *link_body(struct fixture *f, const struct user *u, const char *json)
{
    return ts_bearer(f->s, "POST", "/v1/me/identities", u->at, json);
}

static struct ts_resp *link(struct fixture *f, const struct user *u, const char *email,
                            const char *password)
{
    json_t *j = ts_keep_json(json_pack("{s:s, s:s, s:s}", "provider", "local-userpass", "email",
                                       email, "password", password));
    return link_body(f, u, ts_keep(json_dumps(j, JSON_COMPACT)));
}

static json_t *me(struct fixture *f, const struct user *u)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", "/v1/me", u->at, NULL);
    if (r->status != 200)
        fprintf(stderr, "  /v1/me: %ld %s\n", r->status, r->body);
    return r->status == 200 ? r->json : NULL;
}

/* The id of the user's identity of provider, or NULL. */
static const char *identity_of(json_t *profile, const char *provider)
{
    size_t i;
    json_t *idn;
    json_array_foreach(json_object_get(profile, "identities"), i, idn)
    {
        if (ts_jstr(idn, "provider") && strcmp(ts_jstr(idn, "provider"), provider) == 0)
            return ts_jstr(idn, "id");
    }
    return NULL;
}

static const char *sub_of_login(struct fixture *f, const char *email, const char *password)
{
    struct user u;
    return tokens_of(ts_login(f->s, f->app.id, email, password, NULL), &u) ? u.id : NULL;
}

TEST(anonymous_user)
{
    struct fixture f;
    CHECK(setup(&f));
    struct ts_resp *r = ts_anonymous(f.s, f.app.id);
    struct user u;
    CHECK(tokens_of(r, &u));
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK(!json_object_get(r->json, "id_token"));
    json_t *h, *c;
    CHECK(ts_jwt_decode(u.at, &h, &c) == 0);
    CHECK_STR(ts_jstr(h, "typ"), "at+jwt");
    CHECK(ts_es256_verify(u.at, ts_jwks_key(ts_get(f.s, "/jwks")->json, ts_jstr(h, "kid"))));
    CHECK(strncmp(u.id, "usr_", 4) == 0);
    CHECK(strncmp(u.sid, "ses_", 4) == 0);
    CHECK_STR(ts_jstr(c, "principal_type"), "user");
    CHECK_STR(ts_jstr(c, "client_id"), f.app.id);
    CHECK_STR(ts_jarray_join(json_object_get(c, "amr")), "anon");
    CHECK_INT(json_array_size(json_object_get(c, "roles")), 0);
    CHECK(ts_jint(c, "auth_time") > 1600000000LL);
    json_t *p = me(&f, &u);
    CHECK(p);
    CHECK_STR(ts_jstr(p, "id"), u.id);
    CHECK(json_is_true(json_object_get(p, "anonymous")));
    CHECK(!ts_jstr(p, "email"));
    CHECK_INT(json_array_size(json_object_get(p, "identities")), 1);
    CHECK(identity_of(p, "anon-user"));
    /* every anonymous login is a new user */
    struct user u2;
    CHECK(anonymous(&f, &u2));
    CHECK(strcmp(u2.id, u.id) != 0);
    /* the session refreshes like any other */
    struct user u1;
    CHECK(tokens_of(ts_refresh(f.s, f.app.id, u.rt, NULL), &u1));
    CHECK_STR(u1.id, u.id);
    CHECK_STR(u1.sid, u.sid);
    /* with openid, an ID token without email */
    struct ts_resp *ro = ts_post(f.s, "/oauth/token", NULL,
                                 ts_printf("grant_type=urn%%3Aidpd%%3Agrant-type%%3Aanonymous&"
                                           "client_id=%s&scope=openid&nonce=abc",
                                           f.app.id));
    CHECK_INT(ro->status, 200);
    json_t *ih, *ic;
    CHECK(ts_jwt_decode(ts_jstr(ro->json, "id_token"), &ih, &ic) == 0);
    CHECK_STR(ts_jstr(ic, "aud"), f.app.id);
    CHECK_STR(ts_jstr(ic, "nonce"), "abc");
    CHECK(!json_object_get(ic, "email"));
    /* an application without the grant, an unknown scope, an unknown client */
    struct ts_account pw;
    CHECK_INT(ts_app_create(f.s->data, "pw-only", password_only, NULL, &pw), 0);
    CHECK_OAUTH_ERROR(ts_anonymous(f.s, pw.id), 400, "unauthorized_client");
    CHECK_OAUTH_ERROR(ts_post(f.s, "/oauth/token", NULL,
                              ts_printf("grant_type=urn%%3Aidpd%%3Agrant-type%%3Aanonymous&"
                                        "client_id=%s&scope=idp%%3Aadmin",
                                        f.app.id)),
                      400, "invalid_scope");
    CHECK_OAUTH_ERROR(ts_anonymous(f.s, "app_00000000000000000000000000"), 401, "invalid_client");
}

TEST(link_then_log_in_same_sub)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user u;
    CHECK(anonymous(&f, &u));
    struct ts_resp *r = link(&f, &u, "Hedy.Lamarr@Example.net", "frequency hopping");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK(ts_jstr(r->json, "id") && strncmp(ts_jstr(r->json, "id"), "idn_", 4) == 0);
    CHECK_STR(ts_jstr(r->json, "provider"), "local-userpass");
    CHECK(ts_jint(r->json, "created_at") > 1600000000LL);
    CHECK(!strstr(r->body, "argon2") && !strstr(r->body, "frequency"));
    /* the password now logs in as the same user (the email in any case) */
    CHECK_STR(sub_of_login(&f, "hedy.lamarr@example.net", "frequency hopping"), u.id);
    CHECK_STR(sub_of_login(&f, "Hedy.Lamarr@Example.net", "frequency hopping"), u.id);
    json_t *p = me(&f, &u); /* the anonymous session goes on */
    CHECK(p);
    CHECK_STR(ts_jstr(p, "id"), u.id);
    CHECK_STR(ts_jstr(p, "email"), "Hedy.Lamarr@Example.net");
    CHECK(json_is_false(json_object_get(p, "anonymous")));
    CHECK_INT(json_array_size(json_object_get(p, "identities")), 2);
    CHECK(identity_of(p, "anon-user"));
    CHECK_STR(identity_of(p, "local-userpass"), ts_jstr(r->json, "id"));
    /* the email is taken now */
    CHECK_PROBLEM(ts_register(f.s, f.app.id, "HEDY.LAMARR@example.net", "another password"), 409);
}

TEST(link_conflict_changes_neither_user)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user owner, anon;
    CHECK(registered(&f, "carol@example.com", "carol's password", &owner));
    CHECK(anonymous(&f, &anon));
    json_t *owner_before = me(&f, &owner), *anon_before = me(&f, &anon);
    CHECK(owner_before && anon_before);
    static const char *const same[] = {"carol@example.com", "CAROL@EXAMPLE.COM",
                                       "Carol@Example.com"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        struct ts_resp *r = link(&f, &anon, same[i], "anon's password");
        CHECK_MSG(r->status == 409, "%s: %ld %s", same[i], r->status, r->body);
        CHECK_PROBLEM(r, 409);
    }
    /* both users are exactly as they were */
    json_t *owner_after = me(&f, &owner), *anon_after = me(&f, &anon);
    CHECK(owner_after && anon_after);
    CHECK_MSG(json_equal(owner_before, owner_after), "owner changed: %s",
              (char *)ts_keep(json_dumps(owner_after, JSON_COMPACT)));
    CHECK_MSG(json_equal(anon_before, anon_after), "anonymous user changed: %s",
              (char *)ts_keep(json_dumps(anon_after, JSON_COMPACT)));
    CHECK_INT(json_array_size(json_object_get(anon_after, "identities")), 1);
    /* the owner still logs in as itself; the anonymous user's password logs in as no one */
    CHECK_STR(sub_of_login(&f, "carol@example.com", "carol's password"), owner.id);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "carol@example.com", "anon's password", NULL), 400,
                      "invalid_grant");
    /* the anonymous user can still link an email of its own */
    CHECK_INT(link(&f, &anon, "dave@example.com", "dave's password")->status, 201);
    CHECK_STR(sub_of_login(&f, "dave@example.com", "dave's password"), anon.id);
}

TEST(link_when_a_password_exists_409)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user u;
    CHECK(registered(&f, "erin@example.com", "erin's password", &u));
    json_t *before = me(&f, &u);
    CHECK(before);
    CHECK_PROBLEM(link(&f, &u, "erin2@example.com", "another password"), 409);
    CHECK_PROBLEM(link(&f, &u, "erin@example.com", "erin's password"), 409);
    CHECK(json_equal(before, me(&f, &u)));
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "erin2@example.com", "another password", NULL), 400,
                      "invalid_grant");
    CHECK_INT(ts_register(f.s, f.app.id, "erin2@example.com", "another password")->status, 201);
}

TEST(link_bad_input_400)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user u;
    CHECK(anonymous(&f, &u));
    json_t *before = me(&f, &u);
    CHECK(before);
    const struct {
        const char *body;
        int status;
        const char *detail_has;
    } cases[] = {
        {"{\"provider\":\"google\",\"email\":\"g@example.com\",\"password\":\"abcdefgh\"}", 400,
         "provider"},
        {"{\"provider\":\"anon-user\",\"email\":\"g@example.com\",\"password\":\"abcdefgh\"}", 400,
         "provider"},
        {"{\"provider\":\"local-userpass\",\"email\":\"not-an-email\",\"password\":\"abcdefgh\"}",
         400, "email"},
        {"{\"provider\":\"local-userpass\",\"email\":\"g@example.com\",\"password\":\"1234567\"}",
         400, "password"},
        {"{\"provider\":\"local-userpass\",\"email\":\"g@example.com\",\"password\":\"abc\xff"
         "defgh\"}",
         400, NULL},
        {"{\"provider\":\"local-userpass\",\"email\":\"g@example.com\"}", 400, "password"},
        {"{\"email\":\"g@example.com\",\"password\":\"abcdefgh\"}", 400, "provider"},
        {"{\"provider\":\"local-userpass\",\"email\":\"g@example.com\",\"password\":\"abcdefgh\","
         "\"merge\":true}",
         400, "merge"},
        {"{\"provider\":\"local-userpass\",", 400, "JSON"},
        {"[]", 400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_resp *r = link_body(&f, &u, cases[i].body);
        CHECK_MSG(r->status == cases[i].status, "%s: %ld %s", cases[i].body, r->status, r->body);
        CHECK_PROBLEM(r, cases[i].status);
        CHECK_MSG(!cases[i].detail_has || strstr(ts_jstr(r->json, "detail"), cases[i].detail_has),
                  "%s: detail %s", cases[i].body, ts_jstr(r->json, "detail"));
    }
    struct ts_req form = {
        .method = "POST",
        .path = "/v1/me/identities",
        .headers = (const char *[]){ts_printf("Authorization: Bearer %s", u.at), NULL},
        .body = "provider=local-userpass&email=g%40example.com&password=abcdefgh"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
    /* nothing changed, and the email is free */
    CHECK(json_equal(before, me(&f, &u)));
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "g@example.com", "abcdefgh", NULL), 400,
                      "invalid_grant");
    CHECK_INT(link(&f, &u, "g@example.com", "abcdefgh")->status, 201);
}

TEST(unlink_last_identity_409)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user anon, reg;
    CHECK(anonymous(&f, &anon));
    CHECK(registered(&f, "frida@example.com", "frida's password", &reg));
    struct user *users[] = {&anon, &reg};
    for (size_t i = 0; i < 2; i++) {
        json_t *before = me(&f, users[i]);
        CHECK(before);
        const char *idn = ts_jstr(json_array_get(json_object_get(before, "identities"), 0), "id");
        CHECK(idn);
        struct ts_resp *r =
            ts_bearer(f.s, "DELETE", ts_printf("/v1/me/identities/%s", idn), users[i]->at, NULL);
        CHECK_PROBLEM(r, 409);
        CHECK(json_equal(before, me(&f, users[i])));
    }
    CHECK_STR(sub_of_login(&f, "frida@example.com", "frida's password"), reg.id);
}

TEST(unlink_anon_identity_of_linked_user)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user u;
    CHECK(anonymous(&f, &u));
    CHECK_INT(link(&f, &u, "grace@example.com", "grace's password")->status, 201);
    json_t *p = me(&f, &u);
    const char *anon_idn = identity_of(p, "anon-user");
    CHECK(anon_idn);
    struct ts_resp *r =
        ts_bearer(f.s, "DELETE", ts_printf("/v1/me/identities/%s", anon_idn), u.at, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    CHECK_INT(r->len, 0);
    p = me(&f, &u);
    CHECK(p);
    CHECK_INT(json_array_size(json_object_get(p, "identities")), 1);
    CHECK(identity_of(p, "local-userpass"));
    CHECK(json_is_false(json_object_get(p, "anonymous")));
    CHECK_STR(ts_jstr(p, "email"), "grace@example.com");
    CHECK_STR(sub_of_login(&f, "grace@example.com", "grace's password"), u.id);
    /* and now the password identity is the last one */
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE",
                            ts_printf("/v1/me/identities/%s", identity_of(p, "local-userpass")),
                            u.at, NULL),
                  409);
}

TEST(unlink_password_identity_frees_the_email)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user u;
    CHECK(anonymous(&f, &u));
    CHECK_INT(link(&f, &u, "heidi@example.com", "heidi's password")->status, 201);
    CHECK_STR(sub_of_login(&f, "heidi@example.com", "heidi's password"), u.id);
    json_t *p = me(&f, &u);
    const char *pw_idn = identity_of(p, "local-userpass");
    CHECK(pw_idn);
    struct ts_resp *r =
        ts_bearer(f.s, "DELETE", ts_printf("/v1/me/identities/%s", pw_idn), u.at, NULL);
    CHECK_MSG(r->status == 204, "%ld %s", r->status, r->body);
    p = me(&f, &u);
    CHECK(p);
    CHECK_INT(json_array_size(json_object_get(p, "identities")), 1);
    CHECK(identity_of(p, "anon-user"));
    CHECK(json_is_true(json_object_get(p, "anonymous")));
    CHECK(!ts_jstr(p, "email"));
    /* the password logs in as no one; the email can be someone else's now */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "heidi@example.com", "heidi's password", NULL), 400,
                      "invalid_grant");
    struct user other;
    CHECK(registered(&f, "HEIDI@example.com", "the new heidi", &other));
    CHECK(strcmp(other.id, u.id) != 0);
    CHECK_STR(sub_of_login(&f, "heidi@example.com", "the new heidi"), other.id);
    /* the unlinked identity id is gone */
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", ts_printf("/v1/me/identities/%s", pw_idn), u.at, NULL),
                  404);
}

TEST(unlink_another_users_identity_404)
{
    struct fixture f;
    CHECK(setup(&f));
    struct user victim, attacker;
    CHECK(anonymous(&f, &victim));
    CHECK_INT(link(&f, &victim, "ivan@example.com", "ivan's password")->status, 201);
    CHECK(anonymous(&f, &attacker));
    json_t *before = me(&f, &victim);
    CHECK(before);
    size_t i;
    json_t *idn;
    json_array_foreach(json_object_get(before, "identities"), i, idn)
    {
        struct ts_resp *r =
            ts_bearer(f.s, "DELETE", ts_printf("/v1/me/identities/%s", ts_jstr(idn, "id")),
                      attacker.at, NULL);
        CHECK_PROBLEM(r, 404);
    }
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", "/v1/me/identities/idn_00000000000000000000000000",
                            attacker.at, NULL),
                  404);
    CHECK(json_equal(before, me(&f, &victim)));
    CHECK_STR(sub_of_login(&f, "ivan@example.com", "ivan's password"), victim.id);
    CHECK_INT(json_array_size(json_object_get(me(&f, &attacker), "identities")), 1);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(anonymous_user);
    RUN(link_then_log_in_same_sub);
    RUN(link_conflict_changes_neither_user);
    RUN(link_when_a_password_exists_409);
    RUN(link_bad_input_400);
    RUN(unlink_last_identity_409);
    RUN(unlink_anon_identity_of_linked_user);
    RUN(unlink_password_identity_frees_the_email);
    RUN(unlink_another_users_identity_404);
    return ts_done();
}
