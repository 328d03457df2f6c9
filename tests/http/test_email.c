/* Email: verification, password reset, email change, registration without enumeration, the
 * admin's links, the budgets, and the outbox across an SMTP outage and a crash. Mail goes to a
 * real SMTP server on loopback (aiosmtpd, tests/mail_sink.h); each case reads the link out of
 * the message it received and follows it. */
#include <signal.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mail_sink.h"
#include "support.h"

static const char *const app_grants[] = {"password", "refresh_token", NULL};
#define PW "correct horse battery"
static const char password[] = PW;

struct fixture {
    struct ts_server *s;
    struct th_sink *sink;
    struct ts_account app;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The environment of a server that mails through sink's URL; more (may be NULL) is added. */
static const char *const *mail_env(const char *smtp_url, const char *const *more)
{
    static const char *base[] = {
        "IDPD_SMTP_FROM=idpd@example.org", "IDPD_SMTP_PLAIN_LOOPBACK=1",
        "IDPD_SMTP_RETRY_BASE=1",          "IDPD_ALLOW_REGISTRATION=1",
        "IDPD_RATE_LIMIT_REGISTER=0",      "IDPD_LOGIN_ADDRESS_THRESHOLD=0"};
    size_t nb = sizeof base / sizeof base[0], nm = 0;
    while (more && more[nm])
        nm++;
    const char **env = ts_keep(calloc(nb + nm + 2, sizeof *env));
    env[0] = ts_printf("IDPD_SMTP_URL=%s", smtp_url);
    memcpy(env + 1, base, nb * sizeof *env);
    for (size_t i = 0; i < nm; i++)
        env[1 + nb + i] = more[i];
    return env;
}

/* A server mailing into a fresh sink (started unless sink_down), and an application. */
static int setup_with(struct fixture *f, const char *const *more, int sink_down, const char *data)
{
    memset(f, 0, sizeof *f);
    f->sink = th_sink_start(0);
    if (!f->sink)
        return 0;
    if (sink_down)
        th_sink_stop(f->sink);
    struct ts_opts o = {.env = mail_env(f->sink->url, more), .data = data};
    f->s = ts_start(&o);
    return f->s && ts_app_create(f->s->data, "Acme Shop", app_grants, NULL, &f->app) == 0;
}

static int setup(struct fixture *f, const char *const *more)
{
    return setup_with(f, more, 0, NULL);
}

static struct ts_resp *post(struct ts_server *s, const char *path, const char *json)
{
    struct ts_req rq = {
        .method = "POST", .path = path, .body = json, .content_type = "application/json"};
    return ts_do(s, &rq);
}

static struct ts_resp *forgot(struct fixture *f, const char *email)
{
    return post(f->s, "/v1/password/forgot",
                ts_printf("{\"client_id\":\"%s\",\"email\":\"%s\"}", f->app.id, email));
}

/* The link of the newest message to to (waited for until there are want), for path. */
static const char *link_to(struct fixture *f, const char *to, int want, const char *path)
{
    char *msg = NULL;
    int n = th_sink_count(f->sink, to, want, 15000, &msg);
    /* by path: a message composed before a restart names the server's earlier port */
    char *link = n >= want && msg ? th_mail_link(msg, ts_printf("%s?token=", path)) : NULL;
    free(msg);
    return link ? ts_keep(link) : NULL;
}

static const char *token_of(const char *link)
{
    const char *t = link ? strstr(link, "token=") : NULL;
    return t ? t + 6 : NULL;
}

/* Registers email and follows the verification link: the user can then log in. */
static void register_verified(struct fixture *f, const char *email)
{
    struct ts_resp *r = ts_register(f->s, f->app.id, email, password);
    CHECK_INT(r->status, 202);
    const char *link = link_to(f, email, 1, "/verify-email");
    CHECK(link != NULL);
    r = post(f->s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)));
    CHECK_INT(r->status, 204);
}

static json_t *me(struct ts_server *s, const char *access)
{
    struct ts_resp *r = ts_bearer(s, "GET", "/v1/me", access, NULL);
    return r->status == 200 ? r->json : NULL;
}

TEST(register_mails_a_link_that_verifies_once)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    struct ts_resp *r = ts_register(f.s, f.app.id, "ada@example.org", password);
    CHECK_INT(r->status, 202);
    CHECK_STR(ts_jstr(r->json, "status"), "check your email");
    const char *link = link_to(&f, "ada@example.org", 1, "/verify-email");
    CHECK(link != NULL);
    char *msg = NULL;
    th_sink_count(f.sink, "ada@example.org", 1, 0, &msg);
    ts_keep(msg);
    CHECK(strstr(msg, "Acme Shop") != NULL); /* the application's name */
    CHECK(ts_keep(th_mail_header(msg, "Message-ID")) != NULL);

    /* before: not verified, in /v1/me and in the ID token */
    r = ts_login(f.s, f.app.id, "ada@example.org", password, "&scope=openid");
    CHECK_INT(r->status, 200);
    json_t *p = me(f.s, ts_jstr(r->json, "access_token"));
    CHECK(p && json_is_false(json_object_get(p, "email_verified")));

    /* the page asks first: opening the link uses nothing */
    struct ts_resp *page = ts_get(f.s, ts_printf("/verify-email?token=%s", token_of(link)));
    CHECK_INT(page->status, 200);
    CHECK(strstr(page->body, "Confirm my address") != NULL);

    r = post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)));
    CHECK_INT(r->status, 204);
    r = ts_login(f.s, f.app.id, "ada@example.org", password, "&scope=openid");
    CHECK_INT(r->status, 200);
    p = me(f.s, ts_jstr(r->json, "access_token"));
    CHECK(p && json_is_true(json_object_get(p, "email_verified")));
    json_t *header = NULL, *payload = NULL;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "id_token"), &header, &payload) == 0);
    CHECK(json_is_true(json_object_get(payload, "email_verified")));

    /* a second use, and the page after it */
    r = post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)));
    CHECK_PROBLEM(r, 400);
    /* not a token at all; malformed bodies */
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", "{\"token\":\"nope\"}"), 400);
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", "{\"token\":\"x\",\"more\":1}"), 400);
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", "{}"), 400);
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", "[1]"), 400);
    struct ts_req text = {.method = "POST", .path = "/v1/email/verify", .body = "token=x"};
    CHECK_PROBLEM(ts_do(f.s, &text), 415);
}

TEST(register_of_a_taken_address_answers_alike)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    struct ts_resp *a = ts_register(f.s, f.app.id, "bob@example.org", password);
    CHECK(link_to(&f, "bob@example.org", 1, "/verify-email") != NULL);
    struct ts_resp *b = ts_register(f.s, f.app.id, "BOB@example.org", "another password");
    CHECK_INT(a->status, 202);
    CHECK_INT(b->status, 202);
    CHECK_STR(a->body, b->body);
    CHECK_STR(ts_header(a, "Content-Type"), ts_header(b, "Content-Type"));
    /* the owner is told instead, with no link in it */
    char *msg = NULL;
    CHECK_INT(th_sink_count(f.sink, "bob@example.org", 2, 15000, &msg), 2);
    ts_keep(msg);
    CHECK(strstr(msg, "sign up") != NULL);
    CHECK(th_mail_link(msg, "token=") == NULL);
    /* and the first password is still the one */
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "bob@example.org", "another password", NULL), 400,
                      "invalid_grant");
}

TEST(unverified_login_refused_only_after_the_password)
{
    static const char *const strict[] = {"IDPD_REQUIRE_VERIFIED_EMAIL=1", NULL};
    struct fixture f;
    CHECK(setup(&f, strict));
    CHECK_INT(ts_register(f.s, f.app.id, "cy@example.org", password)->status, 202);
    struct ts_resp *wrong = ts_login(f.s, f.app.id, "cy@example.org", "not the password", NULL);
    CHECK_OAUTH_ERROR(wrong, 400, "invalid_grant");
    struct ts_resp *unknown = ts_login(f.s, f.app.id, "nobody@example.org", password, NULL);
    CHECK_STR(ts_jstr(wrong->json, "error_description"),
              ts_jstr(unknown->json, "error_description"));
    struct ts_resp *right = ts_login(f.s, f.app.id, "cy@example.org", password, NULL);
    CHECK_OAUTH_ERROR(right, 400, "invalid_grant");
    CHECK(strstr(ts_jstr(right->json, "error_description"), "not verified") != NULL);
    const char *link = link_to(&f, "cy@example.org", 1, "/verify-email");
    CHECK_INT(
        post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)))->status,
        204);
    CHECK_INT(ts_login(f.s, f.app.id, "cy@example.org", password, NULL)->status, 200);
}

TEST(reset_sets_the_password_and_ends_every_session)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    register_verified(&f, "dee@example.org");
    struct ts_resp *login = ts_login(f.s, f.app.id, "dee@example.org", password, NULL);
    CHECK_INT(login->status, 200);
    const char *refresh = ts_jstr(login->json, "refresh_token");

    struct ts_resp *r = forgot(&f, "dee@example.org");
    CHECK_INT(r->status, 202);
    const char *link = link_to(&f, "dee@example.org", 2, "/reset-password");
    CHECK(link != NULL);
    const char *tok = token_of(link);
    /* the rules of registration */
    CHECK_PROBLEM(post(f.s, "/v1/password/reset",
                       ts_printf("{\"token\":\"%s\",\"password\":\"short\"}", tok)),
                  400);
    /* a reset link is no verification link */
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", tok)), 400);
    r = post(f.s, "/v1/password/reset",
             ts_printf("{\"token\":\"%s\",\"password\":\"a brand new password\"}", tok));
    CHECK_INT(r->status, 204);
    /* used up */
    CHECK_PROBLEM(post(f.s, "/v1/password/reset",
                       ts_printf("{\"token\":\"%s\",\"password\":\"yet another one\"}", tok)),
                  400);
    /* every session ended; the old password is gone, the new one works */
    CHECK_OAUTH_ERROR(ts_refresh(f.s, f.app.id, refresh, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "dee@example.org", password, NULL), 400,
                      "invalid_grant");
    CHECK_INT(ts_login(f.s, f.app.id, "dee@example.org", "a brand new password", NULL)->status,
              200);
    /* and the owner is told: verification, reset, changed */
    char *msg = NULL;
    CHECK_INT(th_sink_count(f.sink, "dee@example.org", 3, 15000, &msg), 3);
    ts_keep(msg);
    CHECK(th_mail_link(msg, "token=") == NULL);
}

TEST(verification_link_is_no_reset_link)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    CHECK_INT(ts_register(f.s, f.app.id, "eve@example.org", password)->status, 202);
    const char *link = link_to(&f, "eve@example.org", 1, "/verify-email");
    CHECK_PROBLEM(
        post(f.s, "/v1/password/reset",
             ts_printf("{\"token\":\"%s\",\"password\":\"taken over now\"}", token_of(link))),
        400);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "eve@example.org", "taken over now", NULL), 400,
                      "invalid_grant");
    /* and it still verifies: a refused use spends nothing */
    CHECK_INT(
        post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)))->status,
        204);
}

TEST(expired_links_do_nothing)
{
    static const char *const quick[] = {"IDPD_PASSWORD_RESET_TTL=1", "IDPD_EMAIL_VERIFY_TTL=1",
                                        NULL};
    struct fixture f;
    CHECK(setup(&f, quick));
    CHECK_INT(ts_register(f.s, f.app.id, "fay@example.org", password)->status, 202);
    const char *verify = link_to(&f, "fay@example.org", 1, "/verify-email");
    CHECK_INT(forgot(&f, "fay@example.org")->status, 202);
    const char *reset = link_to(&f, "fay@example.org", 2, "/reset-password");
    CHECK(verify && reset);
    sleep(2);
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(verify))),
                  400);
    CHECK_PROBLEM(
        post(f.s, "/v1/password/reset",
             ts_printf("{\"token\":\"%s\",\"password\":\"too late now\"}", token_of(reset))),
        400);
    CHECK_INT(ts_get(f.s, ts_printf("/reset-password?token=%s", token_of(reset)))->status, 400);
    CHECK_INT(ts_login(f.s, f.app.id, "fay@example.org", password, NULL)->status, 200);
}

TEST(forgot_answers_alike_for_unknown_addresses)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    register_verified(&f, "gus@example.org");
    struct ts_resp *known = forgot(&f, "gus@example.org");
    struct ts_resp *unknown = forgot(&f, "nobody@example.org");
    CHECK_INT(known->status, 202);
    CHECK_INT(unknown->status, 202);
    CHECK_STR(known->body, unknown->body);
    CHECK_STR(ts_header(known, "Content-Type"), ts_header(unknown, "Content-Type"));
    CHECK_INT(th_sink_count(f.sink, "gus@example.org", 2, 15000, NULL), 2);
    sleep(1);
    CHECK_INT(th_sink_count(f.sink, "nobody@example.org", 0, 0, NULL), 0);
    /* bad requests are refused for what they are, never for an account */
    CHECK_PROBLEM(post(f.s, "/v1/password/forgot",
                       ts_printf("{\"client_id\":\"%s\",\"email\":\"not an address\"}", f.app.id)),
                  400);
    CHECK_PROBLEM(post(f.s, "/v1/password/forgot",
                       "{\"client_id\":\"app_nope\",\"email\":\"gus@example.org\"}"),
                  400);
    CHECK_PROBLEM(
        post(f.s, "/v1/password/forgot",
             ts_printf("{\"client_id\":\"%s\",\"email\":\"gus@example.org\",\"x\":1}", f.app.id)),
        400);
    CHECK_PROBLEM(post(f.s, "/v1/password/forgot", "{\"email\":\"gus@example.org\"}"), 400);
    struct ts_req form = {.method = "POST", .path = "/v1/password/forgot", .body = "email=x"};
    CHECK_PROBLEM(ts_do(f.s, &form), 415);
}

TEST(budget_per_address_answers_alike)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    register_verified(&f, "hal@example.org"); /* one message */
    struct ts_resp *first = forgot(&f, "hal@example.org");
    for (int i = 0; i < 4; i++) {
        struct ts_resp *r = forgot(&f, "hal@example.org");
        CHECK_INT(r->status, 202);
        CHECK_STR(r->body, first->body);
    }
    /* 3 an hour to one address: the verification and two resets */
    CHECK_INT(th_sink_count(f.sink, "hal@example.org", 3, 15000, NULL), 3);
    sleep(2);
    CHECK_INT(th_sink_count(f.sink, "hal@example.org", 0, 0, NULL), 3);
}

TEST(smtp_outage_neither_fails_nor_slows_the_request)
{
    struct fixture f;
    CHECK(setup_with(&f, NULL, 1, NULL));
    double t0 = now_s();
    struct ts_resp *r = ts_register(f.s, f.app.id, "ivy@example.org", password);
    CHECK_INT(r->status, 202);
    CHECK_MSG(now_s() - t0 < 2.0, "the request took %.2f s", now_s() - t0);
    sleep(2); /* a try or two fail meanwhile */
    CHECK_INT(th_sink_restart(f.sink), 0);
    CHECK(link_to(&f, "ivy@example.org", 1, "/verify-email") != NULL);
    CHECK_INT(th_sink_count(f.sink, "ivy@example.org", 1, 0, NULL), 1);
}

TEST(a_crash_after_the_commit_loses_no_message)
{
    struct fixture f;
    CHECK(setup_with(&f, NULL, 1, NULL));
    CHECK_INT(ts_register(f.s, f.app.id, "jo@example.org", password)->status, 202);
    /* the message waits in the outbox, sealed: no link in the data folder's bytes */
    kill(f.s->pid, SIGKILL);
    ts_stop(f.s);
    const char *dump = ts_printf("%s/data.mdb", f.s->data);
    FILE *fp = fopen(dump, "rb");
    if (fp) { /* LMDB; on PostgreSQL the rows are in the cluster */
        char *buf = ts_keep(malloc(1 << 20));
        size_t n, found = 0;
        while ((n = fread(buf, 1, 1 << 20, fp)) > 0)
            found += memmem(buf, n, "verify-email?token", 18) != NULL;
        fclose(fp);
        CHECK_INT(found, 0);
    }
    CHECK_INT(th_sink_restart(f.sink), 0);
    struct ts_opts o = {.data = f.s->data, .env = mail_env(f.sink->url, NULL)};
    f.s = ts_start(&o);
    CHECK(f.s != NULL);
    const char *link = link_to(&f, "jo@example.org", 1, "/verify-email");
    CHECK(link != NULL);
    CHECK_INT(
        post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)))->status,
        204);
}

TEST(email_change_happens_when_the_new_address_confirms)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    register_verified(&f, "kim@example.org");
    register_verified(&f, "taken@example.org");
    struct ts_resp *login = ts_login(f.s, f.app.id, "kim@example.org", password, NULL);
    const char *access = ts_jstr(login->json, "access_token");
    /* the password proves it is the owner asking */
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/me/email", access,
                            "{\"email\":\"kim@new.example\",\"password\":\"wrong one\"}"),
                  403);
    struct ts_resp *taken = ts_bearer(f.s, "POST", "/v1/me/email", access,
                                      "{\"email\":\"taken@example.org\",\"password\":\"" PW "\"}");
    CHECK_INT(taken->status, 202);
    struct ts_resp *r = ts_bearer(f.s, "POST", "/v1/me/email", access,
                                  "{\"email\":\"kim@new.example\",\"password\":\"" PW "\"}");
    CHECK_INT(r->status, 202);
    CHECK_STR(r->body, taken->body);
    const char *link = link_to(&f, "kim@new.example", 1, "/verify-email");
    CHECK(link != NULL);
    /* nothing changed yet */
    CHECK_STR(ts_jstr(me(f.s, access), "email"), "kim@example.org");
    CHECK_INT(
        post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(link)))->status,
        204);
    json_t *p = me(f.s, access);
    CHECK_STR(ts_jstr(p, "email"), "kim@new.example");
    CHECK(json_is_true(json_object_get(p, "email_verified")));
    /* the old address is told; the new one signs in, the old one no more */
    CHECK_INT(th_sink_count(f.sink, "kim@example.org", 2, 15000, NULL), 2);
    CHECK_INT(ts_login(f.s, f.app.id, "kim@new.example", password, NULL)->status, 200);
    CHECK_OAUTH_ERROR(ts_login(f.s, f.app.id, "kim@example.org", password, NULL), 400,
                      "invalid_grant");
    /* the owner of the taken address heard someone tried it; it got no link */
    char *msg = NULL;
    CHECK_INT(th_sink_count(f.sink, "taken@example.org", 2, 15000, &msg), 2);
    ts_keep(msg);
    CHECK(th_mail_link(msg, "token=") == NULL);
}

TEST(admin_sends_links_and_the_audit_names_them)
{
    static const char *const admin_roles[] = {"idp:admin", NULL};
    struct fixture f;
    struct ts_account admin;
    CHECK(setup(&f, NULL));
    CHECK(ts_sa_create(f.s->data, "ops", admin_roles, NULL, &admin) == 0);
    const char *bearer = ts_token_str(f.s, &admin);
    CHECK_INT(ts_register(f.s, f.app.id, "lou@example.org", password)->status, 202);
    CHECK(link_to(&f, "lou@example.org", 1, "/verify-email") != NULL);
    json_t *list = ts_bearer(f.s, "GET", "/admin/v1/users?email=lou", bearer, NULL)->json;
    const char *uid = ts_jstr(json_array_get(json_object_get(list, "items"), 0), "id");
    CHECK(uid != NULL);

    struct ts_resp *r =
        ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/password-reset", uid), bearer, NULL);
    CHECK_INT(r->status, 202);
    const char *link = link_to(&f, "lou@example.org", 2, "/reset-password");
    CHECK(link != NULL);
    r = ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/verification", uid), bearer, NULL);
    CHECK_INT(r->status, 202);
    CHECK_INT(th_sink_count(f.sink, "lou@example.org", 3, 15000, NULL), 3);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/admin/v1/users/usr_nope/verification", bearer, NULL),
                  404);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/verification", uid), bearer,
                            "{\"x\":1}"),
                  400);
    /* who sent what */
    json_t *audit =
        ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=admin.user.password_reset_sent", bearer,
                  NULL)
            ->json;
    json_t *ev = json_array_get(json_object_get(audit, "items"), 0);
    CHECK_STR(ts_jstr(ev, "actor"), admin.id);
    CHECK_STR(ts_jstr(ev, "target"), uid);
    /* a verified address needs no second verification */
    CHECK_INT(post(f.s, "/v1/email/verify",
                   ts_printf("{\"token\":\"%s\"}",
                             token_of(link_to(&f, "lou@example.org", 3, "/verify-email"))))
                  ->status,
              204);
    CHECK_PROBLEM(
        ts_bearer(f.s, "POST", ts_printf("/admin/v1/users/%s/verification", uid), bearer, NULL),
        409);
}

TEST(resend_replaces_the_link_and_the_pages_refuse_forged_posts)
{
    struct fixture f;
    CHECK(setup(&f, NULL));
    CHECK_INT(ts_register(f.s, f.app.id, "ola@example.org", password)->status, 202);
    const char *first = link_to(&f, "ola@example.org", 1, "/verify-email");
    CHECK(first != NULL);
    struct ts_resp *login = ts_login(f.s, f.app.id, "ola@example.org", password, NULL);
    const char *access = ts_jstr(login->json, "access_token");
    /* no token; an unknown member; then a resend, which replaces the first link */
    CHECK_INT(post(f.s, "/v1/email/verify/send", "{}")->status, 401);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/email/verify/send", access, "{\"x\":1}"), 400);
    CHECK_INT(th_sink_count(f.sink, "ola@example.org", 0, 0, NULL), 1);
    struct ts_resp *r = ts_bearer(f.s, "POST", "/v1/email/verify/send", access, NULL);
    CHECK_INT(r->status, 202);
    CHECK_STR(ts_jstr(r->json, "status"), "sent");
    const char *second = link_to(&f, "ola@example.org", 2, "/verify-email");
    CHECK(second != NULL && strcmp(second, first) != 0);
    CHECK_PROBLEM(post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(first))),
                  400);

    /* the pages: a post without the page's CSRF token changes nothing, a junk token is no link */
    struct ts_resp *forged =
        ts_post(f.s, "/verify-email", NULL, ts_printf("token=%s", token_of(second)));
    CHECK_INT(forged->status, 403);
    CHECK(strstr(forged->body, "expired") != NULL);
    CHECK_INT(ts_get(f.s, "/verify-email?token=junk")->status, 400);
    CHECK_INT(ts_get(f.s, "/reset-password?token=junk")->status, 400);
    CHECK_INT(ts_post(f.s, "/reset-password", NULL,
                      ts_printf("token=%s&password=a+new+password&confirm=a+new+password",
                                token_of(second)))
                  ->status,
              403);
    CHECK(json_is_false(json_object_get(me(f.s, access), "email_verified")));

    /* the newest link works; after it there is nothing left to verify */
    CHECK_INT(
        post(f.s, "/v1/email/verify", ts_printf("{\"token\":\"%s\"}", token_of(second)))->status,
        204);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", "/v1/email/verify/send", access, NULL), 409);
    CHECK_INT(th_sink_count(f.sink, "ola@example.org", 0, 0, NULL), 2);
}

TEST(a_message_that_never_goes_out_is_dropped_and_audited)
{
    static const char *const two_tries[] = {"IDPD_SMTP_MAX_ATTEMPTS=2", NULL};
    static const char *const admin_roles[] = {"idp:admin", NULL};
    struct fixture f;
    struct ts_account admin;
    CHECK(setup_with(&f, two_tries, 1, NULL));
    CHECK(ts_sa_create(f.s->data, "ops", admin_roles, NULL, &admin) == 0);
    CHECK_INT(ts_register(f.s, f.app.id, "max@example.org", password)->status, 202);
    /* tries at once and a second later, then it is given up */
    json_t *ev = NULL;
    for (int i = 0; i < 100 && !ev; i++) {
        usleep(100 * 1000);
        json_t *audit = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=mail.dropped",
                                  ts_token_str(f.s, &admin), NULL)
                            ->json;
        ev = json_array_get(json_object_get(audit, "items"), 0);
    }
    CHECK(ev != NULL);
    CHECK_STR(ts_jstr(ev, "result"), "failure");
    CHECK(strstr(ts_jstr(ev, "detail"), "verify-email after 2 tries") != NULL);
    /* gone: a server that comes up later gets nothing */
    CHECK_INT(th_sink_restart(f.sink), 0);
    sleep(2);
    CHECK_INT(th_sink_count(f.sink, NULL, 0, 0, NULL), 0);
}

TEST(mail_settings_are_checked_at_the_start)
{
    static const char *const bad[][3] = {
        {"IDPD_SMTP_URL=http://127.0.0.1:25", "IDPD_SMTP_FROM=a@example.org", "smtp_url must be"},
        {"IDPD_SMTP_URL=smtp://127.0.0.1:25", "IDPD_SMTP_FROM=", "needs smtp_from"},
        {"IDPD_SMTP_URL=smtp://127.0.0.1:25", "IDPD_SMTP_FROM=a <b@example.org>",
         "needs smtp_from"},
        {"IDPD_SMTP_MAX_ATTEMPTS=0", "IDPD_SMTP_FROM=", "must be"},
        {"IDPD_REGISTRATION_VERIFY=2", "IDPD_SMTP_FROM=", "must be"},
        {"IDPD_REGISTRATION_VERIFY=1", "IDPD_SMTP_FROM=", "needs smtp_url"},
        {"IDPD_REQUIRE_VERIFIED_EMAIL=1", "IDPD_SMTP_FROM=", "needs smtp_url"},
    };
    const char *data = ts_path("data");
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", data, NULL};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *env[] = {bad[i][0], bad[i][1], NULL};
        struct ts_cmd *c = ts_run(args, env);
        CHECK_MSG(c->status == 2, "%s: exit %d; stderr %s", bad[i][0], c->status, c->err);
        CHECK_MSG(strstr(c->err, bad[i][2]) != NULL, "%s: stderr %s", bad[i][0], c->err);
    }
    /* a template folder that is not there, or a template with a typo, stops the start */
    const char *dir = ts_path("mail");
    const char *missing[] = {"IDPD_MAIL_TEMPLATES=/nonexistent/idpd-mail", NULL};
    struct ts_cmd *c = ts_run(args, missing);
    CHECK_MSG(c->status != 0 && strstr(c->err, "not a folder"), "exit %d; %s", c->status, c->err);
    CHECK_INT(mkdir(dir, 0700), 0);
    FILE *fp = fopen(ts_printf("%s/password-reset.txt", dir), "w");
    CHECK(fp != NULL);
    fputs("Reset: {{lnk}}\n", fp);
    fclose(fp);
    const char *typo[] = {ts_printf("IDPD_MAIL_TEMPLATES=%s", dir), NULL};
    c = ts_run(args, typo);
    CHECK_MSG(c->status != 0 && strstr(c->err, "password-reset.txt"), "exit %d; %s", c->status,
              c->err);
    /* and a good one replaces the built-in text */
    fp = fopen(ts_printf("%s/password-reset.txt", dir), "w");
    CHECK(fp != NULL);
    fputs("Hi from {{app}}: {{link}}\n", fp);
    fclose(fp);
    struct fixture f;
    CHECK(setup(&f, typo));
    register_verified(&f, "nia@example.org");
    CHECK_INT(forgot(&f, "nia@example.org")->status, 202);
    char *msg = NULL;
    CHECK_INT(th_sink_count(f.sink, "nia@example.org", 2, 15000, &msg), 2);
    ts_keep(msg);
    CHECK(strstr(msg, "Hi from Acme Shop: ") != NULL);
}

TEST(without_smtp_the_mail_routes_say_so)
{
    struct ts_opts o = {0};
    struct ts_server *s = ts_start(&o);
    struct ts_account app;
    CHECK(s && ts_app_create(s->data, "web", app_grants, NULL, &app) == 0);
    CHECK_PROBLEM(post(s, "/v1/password/forgot",
                       ts_printf("{\"client_id\":\"%s\",\"email\":\"a@example.org\"}", app.id)),
                  501);
    /* and a setting that needs mail stops the start */
    static const char *const env[] = {"IDPD_REQUIRE_VERIFIED_EMAIL=1", NULL};
    struct ts_opts bad = {.env = env};
    struct ts_server *b = ts_start(&bad);
    CHECK(b == NULL || b->status != 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(register_mails_a_link_that_verifies_once);
    RUN(register_of_a_taken_address_answers_alike);
    RUN(unverified_login_refused_only_after_the_password);
    RUN(reset_sets_the_password_and_ends_every_session);
    RUN(verification_link_is_no_reset_link);
    RUN(expired_links_do_nothing);
    RUN(forgot_answers_alike_for_unknown_addresses);
    RUN(budget_per_address_answers_alike);
    RUN(smtp_outage_neither_fails_nor_slows_the_request);
    RUN(a_crash_after_the_commit_loses_no_message);
    RUN(email_change_happens_when_the_new_address_confirms);
    RUN(admin_sends_links_and_the_audit_names_them);
    RUN(resend_replaces_the_link_and_the_pages_refuse_forged_posts);
    RUN(a_message_that_never_goes_out_is_dropped_and_audited);
    RUN(mail_settings_are_checked_at_the_start);
    RUN(without_smtp_the_mail_routes_say_so);
    return ts_done();
}
