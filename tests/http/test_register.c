/* POST /v1/register: an application's user signs up with email and password when the operator
 * allows it. Every bad request gets a problem and creates no user: afterwards the same email
 * neither logs in nor is taken. */
#include <stdlib.h>
#include <string.h>

#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
static const char *const on[] = {"--allow-registration", NULL};

struct fixture {
    struct ts_server *s;
    struct ts_account app;
};

/* These cases send dozens of registrations from one address within a second, past the default
 * per-address rate (test_rate_limit.c covers it), and check with dozens of failed logins that
 * nothing was made, past the per-address login budget (test_login_budgets.c covers it): unless a
 * case sets its own environment, both are off. */
static const char *const no_rate_limit[] = {"IDPD_RATE_LIMIT_REGISTER=0",
                                            "IDPD_LOGIN_ADDRESS_THRESHOLD=0", NULL};

static int setup(struct fixture *f, const char *const *args, const char *const *env)
{
    struct ts_opts o = {.args = args, .env = env ? env : no_rate_limit};
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "web", app_grants, NULL, &f->app) == 0;
}

static struct ts_resp *post_json(struct fixture *f, const char *body, size_t len,
                                 const char *content_type)
{
    struct ts_req rq = {.method = "POST",
                        .path = "/v1/register",
                        .body = body,
                        .body_len = len,
                        .content_type = content_type ? content_type : "application/json"};
    return ts_do(f->s, &rq);
}

/* The user record of a 201: id, the email as given, one local-userpass identity, no secret. */
static int check_created(struct ts_resp *r, const char *email, const char *name)
{
#define EXPECT(cond)                                                                               \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "  %s:%d: %s failed; status %ld body %s\n", __FILE__, __LINE__, #cond, \
                    r->status, r->body);                                                           \
            return 0;                                                                              \
        }                                                                                          \
    } while (0)
    EXPECT(r->status == 201);
    EXPECT(ts_header(r, "Content-Type") &&
           strcmp(ts_header(r, "Content-Type"), "application/json") == 0);
    const char *id = ts_jstr(r->json, "id");
    EXPECT(id && strncmp(id, "usr_", 4) == 0 && strlen(id) > 10);
    EXPECT(ts_jstr(r->json, "email") && strcmp(ts_jstr(r->json, "email"), email) == 0);
    if (name)
        EXPECT(ts_jstr(r->json, "name") && strcmp(ts_jstr(r->json, "name"), name) == 0);
    else
        EXPECT(!ts_jstr(r->json, "name")); /* null or absent */
    EXPECT(ts_jstr(r->json, "status") && strcmp(ts_jstr(r->json, "status"), "active") == 0);
    EXPECT(json_is_false(json_object_get(r->json, "anonymous")));
    EXPECT(ts_jint(r->json, "created_at") > 1600000000LL);
    json_t *idns = json_object_get(r->json, "identities");
    EXPECT(json_array_size(idns) == 1);
    json_t *idn = json_array_get(idns, 0);
    EXPECT(ts_jstr(idn, "id") && strncmp(ts_jstr(idn, "id"), "idn_", 4) == 0);
    EXPECT(ts_jstr(idn, "provider") && strcmp(ts_jstr(idn, "provider"), "local-userpass") == 0);
    EXPECT(!strstr(r->body, "argon2") && !strstr(r->body, "password") && !strstr(r->body, "\"phc"));
#undef EXPECT
    return 1;
}

TEST(register_201)
{
    struct fixture f;
    CHECK(setup(&f, on, NULL));
    struct ts_resp *r = ts_register(f.s, f.app.id, "Alice.Liddell@Example.COM", "correct horse");
    CHECK(check_created(r, "Alice.Liddell@Example.COM", NULL));
    const char *id = ts_jstr(r->json, "id");
    /* with a name, and the boundaries: 8 bytes and 1024 bytes of UTF-8 */
    const char *body = ts_printf("{\"client_id\":\"%s\",\"email\":\"bob@example.com\","
                                 "\"password\":\"12345678\",\"name\":\"Bob \\u00e9\"}",
                                 f.app.id);
    struct ts_resp *r2 = post_json(&f, body, 0, NULL);
    CHECK(check_created(r2, "bob@example.com", "Bob \xc3\xa9"));
    CHECK(strcmp(ts_jstr(r2->json, "id"), id) != 0);
    char *long_pw = ts_keep(malloc(1025));
    memset(long_pw, 'p', 1022);
    memcpy(long_pw + 1022, "\xc3\xa9", 3); /* 1024 bytes, ending in a two-byte character */
    CHECK(check_created(ts_register(f.s, f.app.id, "carol@example.com", long_pw),
                        "carol@example.com", NULL));
    /* the users log in: the email in any case, the password exactly */
    struct ts_resp *l = ts_login(f.s, f.app.id, "alice.liddell@example.com", "correct horse", NULL);
    CHECK_MSG(l->status == 200, "login: %ld %s", l->status, l->body);
    json_t *h, *claims;
    CHECK(ts_jwt_decode(ts_jstr(l->json, "access_token"), &h, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "sub"), id);
    CHECK_INT(ts_login(f.s, f.app.id, "bob@example.com", "12345678", NULL)->status, 200);
    CHECK_INT(ts_login(f.s, f.app.id, "carol@example.com", long_pw, NULL)->status, 200);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "bob@example.com", "12345679", NULL), 400,
                      "invalid_grant");
}

TEST(registration_off_by_default_403)
{
    struct fixture f;
    CHECK(setup(&f, NULL, NULL));
    struct ts_resp *r = ts_register(f.s, f.app.id, "dave@example.com", "correct horse");
    CHECK_PROBLEM(r, 403);
    CHECK(strstr(ts_jstr(r->json, "detail"), "allow_registration") != NULL);
    /* nothing was created */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "dave@example.com", "correct horse", NULL), 400,
                      "invalid_grant");
    CHECK_INT(ts_stop(f.s), 0);

    /* IDPD_ALLOW_REGISTRATION=1 turns it on as the flag does; the same folder */
    const char *env[] = {"IDPD_ALLOW_REGISTRATION=1", NULL};
    struct ts_opts o = {.data = f.s->data, .env = env};
    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    CHECK(check_created(ts_register(s2, f.app.id, "dave@example.com", "correct horse"),
                        "dave@example.com", NULL));
    CHECK_INT(ts_login(s2, f.app.id, "dave@example.com", "correct horse", NULL)->status, 200);
    CHECK_INT(ts_stop(s2), 0);

    /* and =0 (or false) keeps it off */
    const char *env_off[] = {"IDPD_ALLOW_REGISTRATION=false", NULL};
    struct ts_opts o3 = {.data = f.s->data, .env = env_off};
    struct ts_server *s3 = ts_start(&o3);
    CHECK(s3);
    CHECK_PROBLEM(ts_register(s3, f.app.id, "erin@example.com", "correct horse"), 403);
}

TEST(taken_email_409)
{
    struct fixture f;
    CHECK(setup(&f, on, NULL));
    struct ts_resp *r = ts_register(f.s, f.app.id, "frank@example.com", "first password");
    CHECK(check_created(r, "frank@example.com", NULL));
    static const char *const same[] = {"frank@example.com", "FRANK@EXAMPLE.COM",
                                       "Frank@Example.com"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        struct ts_resp *dup = ts_register(f.s, f.app.id, same[i], "second password");
        CHECK_PROBLEM(dup, 409);
    }
    /* the first user is unchanged: its password logs in, the second one does not */
    struct ts_resp *l = ts_login(f.s, f.app.id, "frank@example.com", "first password", NULL);
    CHECK_INT(l->status, 200);
    json_t *h, *claims;
    CHECK(ts_jwt_decode(ts_jstr(l->json, "access_token"), &h, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "sub"), ts_jstr(r->json, "id"));
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "frank@example.com", "second password", NULL), 400,
                      "invalid_grant");
    struct ts_resp *me = ts_bearer(f.s, "GET", "/v1/me", ts_jstr(l->json, "access_token"), NULL);
    CHECK_INT(me->status, 200);
    CHECK_STR(ts_jstr(me->json, "email"), "frank@example.com");
    CHECK_INT(json_array_size(json_object_get(me->json, "identities")), 1);
}

/* tpl with its "$APP" replaced by id. */
static const char *with_app(const char *tpl, const char *id)
{
    const char *at = strstr(tpl, "$APP");
    if (!at)
        return tpl;
    return ts_printf("%.*s%s%s", (int)(at - tpl), tpl, id, at + 4);
}

struct bad_case {
    const char *what;
    const char *body; /* "$APP" stands for the client_id */
    int status;
    const char *detail_has; /* NULL: any detail */
};

TEST(bad_input_400_creates_nothing)
{
    struct fixture f;
    CHECK(setup(&f, on, NULL));
    char *pw1025 = ts_keep(malloc(1026)), *pw2000 = ts_keep(malloc(2001));
    memset(pw1025, 'x', 1025);
    pw1025[1025] = '\0';
    memset(pw2000, 'y', 2000);
    pw2000[2000] = '\0';
    const struct bad_case cases[] = {
        {"invalid email",
         "{\"client_id\":\"$APP\",\"email\":\"no-at-sign\",\"password\":\"p4ssw0rd!\"}", 400,
         "email"},
        {"invalid email 2",
         "{\"client_id\":\"$APP\",\"email\":\"a@b@c\",\"password\":\"p4ssw0rd!\"}", 400, "email"},
        {"invalid email 3",
         "{\"client_id\":\"$APP\",\"email\":\"@x.org\",\"password\":\"p4ssw0rd!\"}", 400, "email"},
        {"invalid email 4",
         "{\"client_id\":\"$APP\",\"email\":\"sp ace@x.org\",\"password\":\"p4ssw0rd!\"}", 400,
         "email"},
        {"password 7 bytes",
         "{\"client_id\":\"$APP\",\"email\":\"short@example.com\",\"password\":\"1234567\"}", 400,
         "password"},
        {"password 4 characters, 7 bytes",
         "{\"client_id\":\"$APP\",\"email\":\"short2@example.com\",\"password\":"
         "\"\\u00e9\\u00e9\\u00e9"
         "x\"}",
         400, "password"},
        {"password 1025 bytes",
         ts_printf("{\"client_id\":\"$APP\",\"email\":\"long@example.com\",\"password\":\"%s\"}",
                   pw1025),
         400, "password"},
        {"password 2000 bytes",
         ts_printf("{\"client_id\":\"$APP\",\"email\":\"long2@example.com\",\"password\":\"%s\"}",
                   pw2000),
         400, "password"},
        {"empty password",
         "{\"client_id\":\"$APP\",\"email\":\"empty@example.com\",\"password\":\"\"}", 400,
         "password"},
        {"invalid UTF-8 in the password",
         "{\"client_id\":\"$APP\",\"email\":\"utf8@example.com\",\"password\":\"abc\xff"
         "defgh\"}",
         400, NULL},
        {"invalid UTF-8 in the email",
         "{\"client_id\":\"$APP\",\"email\":\"utf8\xff@example.com\",\"password\":\"abcdefgh\"}",
         400, NULL},
        {"an escaped NUL in the password",
         "{\"client_id\":\"$APP\",\"email\":\"nul@example.com\",\"password\":\"abcd\\u0000efgh\"}",
         400, NULL},
        {"malformed JSON",
         "{\"client_id\":\"$APP\",\"email\":\"broken@example.com\",\"password\":", 400, "JSON"},
        {"trailing garbage",
         "{\"client_id\":\"$APP\",\"email\":\"trail@example.com\",\"password\":\"abcdefgh\"} x",
         400, "JSON"},
        {"duplicate member",
         "{\"client_id\":\"$APP\",\"email\":\"dup@example.com\",\"email\":\"dup2@example.com\","
         "\"password\":\"abcdefgh\"}",
         400, NULL},
        {"not an object", "[\"$APP\",\"array@example.com\",\"abcdefgh\"]", 400, "object"},
        {"unknown member",
         "{\"client_id\":\"$APP\",\"email\":\"unknown@example.com\",\"password\":\"abcdefgh\","
         "\"nickname\":\"x\"}",
         400, "nickname"},
        {"an empty member name (found by fuzz_json)",
         "{\"client_id\":\"$APP\",\"email\":\"empty@example.com\",\"password\":\"abcdefgh\","
         "\"\":{\"pla\":null}}",
         400, "unknown member(s): \"\""},
        {"missing password", "{\"client_id\":\"$APP\",\"email\":\"nopw@example.com\"}", 400,
         "password"},
        {"missing email", "{\"client_id\":\"$APP\",\"password\":\"abcdefgh\"}", 400, "email"},
        {"missing client_id", "{\"email\":\"noclient@example.com\",\"password\":\"abcdefgh\"}", 400,
         "client_id"},
        {"a number for the password",
         "{\"client_id\":\"$APP\",\"email\":\"num@example.com\",\"password\":12345678}", 400,
         "password"},
        {"unknown client_id",
         "{\"client_id\":\"app_00000000000000000000000000\",\"email\":\"noapp@example.com\","
         "\"password\":\"abcdefgh\"}",
         400, "client_id"},
        {"a service account's id",
         "{\"client_id\":\"sa_00000000000000000000000000\",\"email\":\"sa@example.com\","
         "\"password\":\"abcdefgh\"}",
         400, "client_id"},
        {"empty body", "", 400, NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *body = with_app(cases[i].body, f.app.id);
        struct ts_resp *r = post_json(&f, body, 0, NULL);
        CHECK_MSG(r->status == cases[i].status, "%s: status %ld, body %s", cases[i].what, r->status,
                  r->body);
        CHECK_PROBLEM(r, cases[i].status);
        CHECK_MSG(!cases[i].detail_has || strstr(ts_jstr(r->json, "detail"), cases[i].detail_has),
                  "%s: detail %s", cases[i].what, ts_jstr(r->json, "detail"));
    }
    /* the wrong content type: a form body is refused before it is read */
    const char *form =
        ts_printf("client_id=%s&email=form%%40example.com&password=abcdefgh", f.app.id);
    CHECK_PROBLEM(post_json(&f, form, 0, "application/x-www-form-urlencoded"), 415);
    CHECK_PROBLEM(post_json(&f,
                            ts_printf("{\"client_id\":\"%s\",\"email\":\"text@example.com\","
                                      "\"password\":\"abcdefgh\"}",
                                      f.app.id),
                            0, "text/plain"),
                  415);
    CHECK_PROBLEM(post_json(&f,
                            ts_printf("{\"client_id\":\"%s\",\"email\":\"none@example.com\","
                                      "\"password\":\"abcdefgh\"}",
                                      f.app.id),
                            0, ""),
                  415);

    /* nothing was created: none of the emails logs in, and each can still be registered */
    static const char *const emails[] = {
        "short@example.com",   "short2@example.com", "long@example.com",     "long2@example.com",
        "empty@example.com",   "utf8@example.com",   "nul@example.com",      "broken@example.com",
        "trail@example.com",   "dup@example.com",    "dup2@example.com",     "array@example.com",
        "unknown@example.com", "nopw@example.com",   "noclient@example.com", "num@example.com",
        "noapp@example.com",   "sa@example.com",     "form@example.com",     "text@example.com",
        "none@example.com"};
    for (size_t i = 0; i < sizeof emails / sizeof emails[0]; i++) {
        CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, emails[i], "abcdefgh", NULL), 400,
                          "invalid_grant");
        struct ts_resp *r = ts_register(f.s, f.app.id, emails[i], "a good password");
        CHECK_MSG(r->status == 201, "%s: %ld %s", emails[i], r->status, r->body);
    }
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(register_201);
    RUN(registration_off_by_default_403);
    RUN(taken_email_409);
    RUN(bad_input_400_creates_nothing);
    return ts_done();
}
