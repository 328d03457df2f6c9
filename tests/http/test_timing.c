/* The password grant does not tell which emails exist by its timing: an unknown email is checked
 * against a dummy hash of the same Argon2 cost as a real one. Logs in, interleaved, with an
 * unknown email and with a known email and a wrong password, and asserts the two medians are
 * within a factor of two (the bound: generous enough for a loaded CI machine, far
 * tighter than the gap between an Argon2 run and none). Default Argon2 parameters. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "support.h"

#define ROUNDS 9

static const char *const app_grants[] = {"password", NULL};
static const char *const on[] = {"--allow-registration", NULL};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, size_t n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* One failed login; its wall time in ms, or -1 when the answer is not the invalid_grant. */
static double timed_failure(struct ts_server *s, const char *client_id, const char *email,
                            const char *password, const char **body)
{
    double t0 = now_ms();
    struct ts_resp *r = ts_login(s, client_id, email, password, NULL);
    double t = now_ms() - t0;
    if (r->status != 400 || !ts_jstr(r->json, "error") ||
        strcmp(ts_jstr(r->json, "error"), "invalid_grant") != 0) {
        fprintf(stderr, "  %s: %ld %s\n", email, r->status, r->body);
        return -1;
    }
    *body = r->body;
    return t;
}

TEST(unknown_user_and_wrong_password_cost_the_same)
{
    /* Many failures of one name from one address: the lockout (test_lockout.c) is off here, or
     * it would answer 429 without Argon2 and there would be no timing to compare. */
    static const char *const no_lockout[] = {"IDPD_LOGIN_LOCKOUT_THRESHOLD=0", NULL};
    struct ts_opts o = {.args = on, .env = no_lockout};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account app;
    CHECK_INT(ts_app_create(s->data, "web", app_grants, NULL, &app), 0);
    CHECK_INT(ts_register(s, app.id, "known@example.com", "the right password")->status, 201);
    const char *b1 = NULL, *b2 = NULL;
    /* warm up both paths (the Argon2 threads' buffers, the store's pages) */
    CHECK(timed_failure(s, app.id, "nobody@example.com", "a wrong password", &b1) >= 0);
    CHECK(timed_failure(s, app.id, "known@example.com", "a wrong password", &b2) >= 0);
    CHECK_STR(b1, b2);
    double unknown[ROUNDS], wrong[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        /* alternate which goes first, so a drift in load hits both alike */
        const char *email_a = i % 2 ? "known@example.com" : ts_printf("nobody%d@example.com", i);
        const char *email_b = i % 2 ? ts_printf("nobody%d@example.com", i) : "known@example.com";
        double ta = timed_failure(s, app.id, email_a, "a wrong password", &b1);
        double tb = timed_failure(s, app.id, email_b, "a wrong password", &b2);
        CHECK(ta >= 0 && tb >= 0);
        CHECK_STR(b1, b2);
        unknown[i] = i % 2 ? tb : ta;
        wrong[i] = i % 2 ? ta : tb;
    }
    double mu = median(unknown, ROUNDS), mw = median(wrong, ROUNDS);
    double ratio = mu > mw ? mu / mw : mw / mu;
    printf("# median of %d: unknown user %.1f ms, wrong password %.1f ms, ratio %.2f\n", ROUNDS, mu,
           mw, ratio);
    CHECK_MSG(ratio < 2.0, "medians %.1f ms and %.1f ms differ by %.2fx", mu, mw, ratio);
    /* and both paths do cost an Argon2 run: slower than a request that skips it */
    double fast[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        double t0 = now_ms();
        struct ts_resp *r =
            ts_post(s, "/oauth/token", NULL,
                    ts_printf("grant_type=password&client_id=%s&username=x", app.id));
        fast[i] = now_ms() - t0;
        CHECK_OAUTH_ERROR(r, 400, "invalid_request");
    }
    printf("# median of %d requests without Argon2: %.1f ms\n", ROUNDS, median(fast, ROUNDS));
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(unknown_user_and_wrong_password_cost_the_same);
    return ts_done();
}
