/* The brute-force budgets beyond the (name, address) lockout (issue 12, findings 4 and 5):
 * - POST /v1/me/password: a wrong current_password counts as a failed login of the user's email,
 *   so a stolen access token cannot guess the password online;
 * - one address trying many names waits (the per-address budget);
 * - many addresses guessing one account wait once they failed on it, while the owner from a
 *   clean address is not slowed (the per-account budget). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static const char *const grants[] = {"password", "refresh_token", NULL};
static const char *const args[] = {"--allow-registration", NULL};

#define OWNER "owner@example.com"
#define RIGHT "the right password"

struct fx {
    struct ts_server *s;
    struct ts_account app;
};

static int fx_start(struct fx *f, const char *const *env)
{
    const char *data = ts_path("data");
    struct ts_opts o = {.data = data, .env = env, .args = args};
    if (ts_app_create(data, "sdk", grants, NULL, &f->app) != 0 || !(f->s = ts_start(&o)))
        return 0;
    return ts_register(f->s, f->app.id, OWNER, RIGHT)->status == 201;
}

static const char *login_form(struct fx *f, const char *email, const char *password)
{
    return ts_printf("grant_type=password&client_id=%s&username=%s&password=%s", f->app.id,
                     ts_form_escape(email), ts_form_escape(password));
}

static long login_from(struct fx *f, const char *from, const char *email, const char *password)
{
    return ts_status_from(f->s, from, "POST", "/oauth/token", NULL, login_form(f, email, password));
}

static struct ts_resp *change(struct fx *f, const char *token, const char *current)
{
    json_t *j = ts_keep_json(
        json_pack("{s:s, s:s}", "current_password", current, "new_password", "a new password"));
    return ts_bearer(f->s, "POST", "/v1/me/password", token, ts_keep(json_dumps(j, JSON_COMPACT)));
}

/* Finding 4: 15 wrong current passwords were 15 × 403 and the right one then took the account. */
TEST(password_change_counts_toward_the_lockout)
{
    static const char *const env[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=3", "IDPD_LOGIN_LOCKOUT_BASE=2",
                                      NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    struct ts_resp *r = ts_login(f.s, f.app.id, OWNER, RIGHT, NULL);
    CHECK_INT(r->status, 200);
    const char *token = ts_jstr(r->json, "access_token");
    for (int i = 0; i < 3; i++)
        CHECK_PROBLEM(change(&f, token, "a guess"), 403);
    /* now waiting: the right password changes nothing either, and no Argon2 runs for it */
    r = change(&f, token, RIGHT);
    CHECK_PROBLEM(r, 429);
    CHECK_STR(ts_header(r, "Retry-After"), "2");
    /* the same budget as logins: the password grant from this address waits too */
    r = ts_login(f.s, f.app.id, OWNER, RIGHT, NULL);
    CHECK_INT(r->status, 429);
    CHECK_STR(ts_jstr(r->json, "error"), "temporarily_unavailable");
    /* the password did not change: after the wait the old one still logs in */
    usleep(2100 * 1000);
    CHECK_INT(ts_login(f.s, f.app.id, OWNER, RIGHT, NULL)->status, 200);
    /* and the right current password then changes it */
    CHECK_INT(change(&f, token, RIGHT)->status, 204);
    CHECK_INT(ts_login(f.s, f.app.id, OWNER, "a new password", NULL)->status, 200);
    CHECK_INT(ts_stop(f.s), 0);
}

/* Finding 5: one address, many names. 40 names from one address were 40 × invalid_grant. */
TEST(one_address_many_names_waits)
{
    static const char *const env[] = {"IDPD_LOGIN_ADDRESS_THRESHOLD=6", "IDPD_LOGIN_LOCKOUT_BASE=2",
                                      NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    for (int i = 0; i < 6; i++)
        CHECK_INT(login_from(&f, "127.0.0.3", ts_printf("name%d@example.com", i), "guess"), 400);
    /* a seventh name from that address waits, and so does the owner's right password there */
    CHECK_INT(login_from(&f, "127.0.0.3", "name7@example.com", "guess"), 429);
    CHECK_INT(login_from(&f, "127.0.0.3", OWNER, RIGHT), 429);
    /* another address is not held up */
    CHECK_INT(login_from(&f, "127.0.0.4", "name8@example.com", "guess"), 400);
    CHECK_INT(login_from(&f, "127.0.0.4", OWNER, RIGHT), 200);
    /* a success of the attacker's own does not reset the address's budget */
    usleep(2100 * 1000);
    CHECK_INT(login_from(&f, "127.0.0.3", OWNER, RIGHT), 200);
    CHECK_INT(login_from(&f, "127.0.0.3", "name9@example.com", "guess"), 400);
    CHECK_INT(login_from(&f, "127.0.0.3", "name10@example.com", "guess"), 429);
    CHECK_INT(ts_stop(f.s), 0);
}

/* Finding 5: many addresses, one account. Each address fails once; then every address that
 * failed on the account waits, and the owner from a clean address logs in at once. */
TEST(many_addresses_one_account_slows_not_locks)
{
    static const char *const env[] = {"IDPD_LOGIN_ACCOUNT_THRESHOLD=8", "IDPD_LOGIN_LOCKOUT_BASE=1",
                                      "IDPD_LOGIN_ACCOUNT_MAX=2", NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    for (int i = 0; i < 8; i++)
        CHECK_INT(login_from(&f, ts_printf("127.0.1.%d", 10 + i), OWNER, "guess"), 400);
    /* every address that failed on it waits now, whichever it is */
    CHECK_INT(login_from(&f, "127.0.1.10", OWNER, "guess"), 429);
    CHECK_INT(login_from(&f, "127.0.1.17", OWNER, RIGHT), 429);
    /* the owner from an address that never failed on it is not slowed */
    CHECK_INT(login_from(&f, "127.0.1.99", OWNER, RIGHT), 200);
    /* other accounts are not affected */
    CHECK_INT(login_from(&f, "127.0.1.10", "someone@example.com", "guess"), 400);
    /* the wait grows per failure but stays at most login_account_max: it slows, never locks */
    for (int round = 0; round < 3; round++) {
        usleep(2100 * 1000);
        CHECK_INT(login_from(&f, "127.0.1.11", OWNER, "guess"), 400);
        CHECK_INT(login_from(&f, "127.0.1.12", OWNER, RIGHT), 429);
    }
    usleep(2100 * 1000);
    CHECK_INT(login_from(&f, "127.0.1.12", OWNER, RIGHT), 200);
    CHECK_INT(ts_stop(f.s), 0);
}

/* The account's budget holds with the (name, address) lockout turned off: it still learns which
 * addresses failed on the account. */
TEST(account_budget_without_the_pair_lockout)
{
    static const char *const env[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=0",
                                      "IDPD_LOGIN_ACCOUNT_THRESHOLD=3",
                                      "IDPD_LOGIN_LOCKOUT_BASE=30", NULL};
    struct fx f;
    CHECK(fx_start(&f, env));
    for (int i = 0; i < 3; i++)
        CHECK_INT(login_from(&f, ts_printf("127.0.2.%d", 10 + i), OWNER, "guess"), 400);
    CHECK_INT(login_from(&f, "127.0.2.10", OWNER, RIGHT), 429);
    CHECK_INT(login_from(&f, "127.0.2.99", OWNER, RIGHT), 200);
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(password_change_counts_toward_the_lockout);
    RUN(one_address_many_names_waits);
    RUN(many_addresses_one_account_slows_not_locks);
    RUN(account_budget_without_the_pair_lockout);
    return ts_done();
}
