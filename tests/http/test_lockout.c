/* The brute-force defence of password logins: after login_lockout_threshold failures of one name
 * from one address, attempts wait (429 + Retry-After, no Argon2), the wait doubles per failure,
 * the right password after the wait works, unknown names are treated alike, another address is
 * not affected, a restart forgets nothing, and each lockout is an audit event. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static const char *const grants[] = {"password", "refresh_token", NULL};
static const char *const admin_roles[] = {"idp:admin", NULL};
/* the pair's budget alone; test_login_budgets.c covers the address's and the account's */
static const char *const env_fast[] = {
    "IDPD_LOGIN_LOCKOUT_THRESHOLD=3", "IDPD_LOGIN_LOCKOUT_BASE=1",      "IDPD_LOGIN_LOCKOUT_MAX=4",
    "IDPD_LOGIN_ADDRESS_THRESHOLD=0", "IDPD_LOGIN_ACCOUNT_THRESHOLD=0", NULL};
static const char *const args[] = {"--allow-registration", NULL};

struct fx {
    struct ts_server *s;
    const char *data;
    struct ts_account app;
};

static int fx_start(struct fx *f, const char *const *env)
{
    f->data = ts_path("data");
    struct ts_opts o = {.data = f->data, .env = env, .args = args};
    if (ts_app_create(f->data, "sdk", grants, NULL, &f->app) != 0 || !(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->app.id, "owner@example.com", "the right password")->status == 201;
}

static struct ts_resp *login(struct fx *f, const char *email, const char *password)
{
    return ts_login(f->s, f->app.id, email, password, NULL);
}

#define CHECK_LOCKED(resp, secs)                                                                   \
    do {                                                                                           \
        struct ts_resp *r_ = (resp);                                                               \
        CHECK_INT(r_->status, 429);                                                                \
        CHECK_STR(ts_jstr(r_->json, "error"), "temporarily_unavailable");                          \
        CHECK_STR(ts_header(r_, "Retry-After"), secs);                                             \
        CHECK_STR(ts_header(r_, "Cache-Control"), "no-store");                                     \
    } while (0)

/* The duration the server logged for its nth request (0-based). The line is written when the
 * answer has gone out, so it may trail the client's receipt of it: wait for it. */
static double duration_ms(struct ts_server *s, size_t nth)
{
    for (int i = 0; i < 200; i++) {
        json_t *reqs = ts_log_requests(s);
        if (json_array_size(reqs) > nth)
            return json_real_value(json_object_get(json_array_get(reqs, nth), "duration_ms"));
        usleep(10 * 1000);
    }
    return -1;
}

TEST(lockout_waits_then_lets_the_owner_in)
{
    struct fx f;
    CHECK(fx_start(&f, env_fast));
    double wrong_ms = 1e9, locked_ms = 1e9, d;
    size_t nth = 1; /* request 0 was the registration */
    for (int i = 0; i < 3; i++, nth++) {
        CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
        CHECK((d = duration_ms(f.s, nth)) >= 0);
        if (d < wrong_ms)
            wrong_ms = d;
    }
    /* locked: even the right password waits, and no Argon2 runs for it (the fastest of each
     * kind is compared, so a busy machine does not decide) */
    CHECK_LOCKED(login(&f, "owner@example.com", "the right password"), "1");
    CHECK((d = duration_ms(f.s, nth++)) >= 0);
    if (d < locked_ms)
        locked_ms = d;
    /* the name is compared as stored: case does not dodge the count */
    CHECK_LOCKED(login(&f, "OWNER@example.com", "the right password"), "1");
    CHECK((d = duration_ms(f.s, nth++)) >= 0);
    if (d < locked_ms)
        locked_ms = d;
    CHECK_MSG(locked_ms < wrong_ms / 2, "429 took %.2f ms, a wrong password %.2f", locked_ms,
              wrong_ms);
    usleep(1100 * 1000);
    CHECK_INT(login(&f, "owner@example.com", "the right password")->status, 200);
    /* the success cleared the count: the next failure is a plain one */
    CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_INT(login(&f, "owner@example.com", "the right password")->status, 200);

    /* each failure past the threshold doubles the wait, up to the maximum */
    for (int i = 0; i < 3; i++)
        CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_LOCKED(login(&f, "owner@example.com", "guess"), "1");
    usleep(1100 * 1000);
    CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_LOCKED(login(&f, "owner@example.com", "guess"), "2");
    usleep(2100 * 1000);
    CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_LOCKED(login(&f, "owner@example.com", "guess"), "4");

    /* every lockout is an audit event naming the user */
    struct ts_account admin;
    CHECK_INT(ts_sa_create(f.data, "auditor", admin_roles, NULL, &admin), 0);
    const char *tok = ts_token_str(f.s, &admin);
    struct ts_resp *r = NULL;
    for (int i = 0; i < 50; i++) { /* token.issue events are written in batches each second */
        r = ts_bearer(f.s, "GET", "/admin/v1/audit-events?type=user.lockout", tok, NULL);
        if (r->status == 200 && json_array_size(json_object_get(r->json, "items")) >= 4)
            break;
        usleep(100 * 1000);
    }
    CHECK_INT(r->status, 200);
    json_t *items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 4);
    json_t *e = json_array_get(items, 0);
    CHECK_STR(ts_jstr(e, "client_ip"), "127.0.0.1");
    CHECK(ts_jstr(e, "target") != NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

/* An unknown name is counted and locked like a known one: the answers tell nothing. */
TEST(unknown_names_lock_alike)
{
    struct fx f;
    CHECK(fx_start(&f, env_fast));
    for (int i = 0; i < 3; i++)
        CHECK_OAUTH_ERROR(login(&f, "ghost@example.com", "guess"), 400, "invalid_grant");
    CHECK_LOCKED(login(&f, "ghost@example.com", "guess"), "1");
    /* other names from the same address are not held up */
    CHECK_INT(login(&f, "owner@example.com", "the right password")->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

/* The owner logging in from another address is not held up by an attacker's lockout. */
TEST(another_address_is_not_locked)
{
    struct fx f;
    CHECK(fx_start(&f, env_fast));
    for (int i = 0; i < 3; i++)
        CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_LOCKED(login(&f, "owner@example.com", "the right password"), "1");
    const char *body = ts_printf("grant_type=password&client_id=%s&username=owner%%40example.com"
                                 "&password=the+right+password",
                                 f.app.id);
    CHECK_INT(ts_status_from(f.s, "127.0.0.2", "POST", "/oauth/token", NULL, body), 200);
    CHECK_INT(ts_stop(f.s), 0);
}

/* The counts live in the store: a restart does not reset a lockout. */
TEST(restart_keeps_the_lockout)
{
    static const char *const env_long[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=2",
                                           "IDPD_LOGIN_LOCKOUT_BASE=60", NULL};
    struct fx f;
    CHECK(fx_start(&f, env_long));
    for (int i = 0; i < 2; i++)
        CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    struct ts_resp *r = login(&f, "owner@example.com", "the right password");
    CHECK_INT(r->status, 429);
    CHECK_INT(ts_stop(f.s), 0);
    struct ts_opts o = {.data = f.data, .env = env_long, .args = args};
    CHECK((f.s = ts_start(&o)) != NULL);
    if (!f.s)
        return;
    r = login(&f, "owner@example.com", "the right password");
    CHECK_INT(r->status, 429);
    long long wait = atoll(ts_header(r, "Retry-After") ? ts_header(r, "Retry-After") : "0");
    CHECK(wait > 50 && wait <= 60);
    CHECK_INT(ts_stop(f.s), 0);
}

/* login_lockout_threshold=0 turns the defence off. */
TEST(threshold_zero_is_off)
{
    static const char *const env_off[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=0", NULL};
    struct fx f;
    CHECK(fx_start(&f, env_off));
    for (int i = 0; i < 8; i++)
        CHECK_OAUTH_ERROR(login(&f, "owner@example.com", "guess"), 400, "invalid_grant");
    CHECK_INT(login(&f, "owner@example.com", "the right password")->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(lockout_waits_then_lets_the_owner_in);
    RUN(unknown_names_lock_alike);
    RUN(another_address_is_not_locked);
    RUN(restart_keeps_the_lockout);
    RUN(threshold_zero_is_off);
    return ts_done();
}
