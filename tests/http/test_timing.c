/* The password grant does not tell which emails exist by its timing: an unknown email is checked
 * against a dummy hash of the same Argon2 cost as a real one. Logs in, interleaved, with an
 * unknown email and with a known email and a wrong password, and asserts the two medians are
 * within a factor of two (the bound: generous enough for a loaded CI machine, far
 * tighter than the gap between an Argon2 run and none). Default Argon2 parameters. The same for
 * the mail routes that must not tell which addresses have accounts: a reset asked for a known
 * and an unknown address, a registration of a free and a taken address. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mail_sink.h"
#include "support.h"

#define ROUNDS 9
/* The mail cases cost milliseconds, not an Argon2 run: more rounds steady their medians. */
#define MAIL_ROUNDS 25

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

/* One JSON POST; its wall time in ms, or -1 when the answer is not 202. */
static double timed_202(struct ts_server *s, const char *path, const char *json, const char **body)
{
    struct ts_req rq = {
        .method = "POST", .path = path, .body = json, .content_type = "application/json"};
    double t0 = now_ms();
    struct ts_resp *r = ts_do(s, &rq);
    double t = now_ms() - t0;
    if (r->status != 202) {
        fprintf(stderr, "  %s: %ld %s\n", path, r->status, r->body);
        return -1;
    }
    *body = r->body;
    return t;
}

static const char *client; /* the application of the mail cases */

/* A server that mails into a sink with no budgets, so every known address gets its message, with
 * an application (client) and one registered address, known@example.com. */
static struct ts_server *mailing_server(struct th_sink **sink)
{
    static struct ts_account app;
    *sink = th_sink_start(0);
    if (!*sink)
        return NULL;
    const char **env = ts_keep(calloc(8, sizeof *env));
    env[0] = ts_printf("IDPD_SMTP_URL=%s", (*sink)->url);
    env[1] = "IDPD_SMTP_FROM=idpd@example.org";
    env[2] = "IDPD_SMTP_PLAIN_LOOPBACK=1";
    env[3] = "IDPD_MAIL_PER_ADDRESS=0";
    env[4] = "IDPD_MAIL_PER_CLIENT=0";
    env[5] = "IDPD_RATE_LIMIT_REGISTER=0";
    struct ts_opts o = {.args = on, .env = env};
    struct ts_server *s = ts_start(&o);
    if (!s || ts_app_create(s->data, "web", app_grants, NULL, &app) != 0)
        return NULL;
    client = app.id;
    return ts_register(s, app.id, "known@example.com", "the right password")->status == 202 ? s
                                                                                            : NULL;
}

/* Compares the medians of two kinds of one request, interleaved; the same body throughout. */
static void same_cost(struct ts_server *s, const char *path, const char *(*json_a)(int i),
                      const char *(*json_b)(int i), const char *what_a, const char *what_b)
{
    const char *b1 = NULL, *b2 = NULL;
    double a[MAIL_ROUNDS], b[MAIL_ROUNDS];
    CHECK(timed_202(s, path, json_a(-1), &b1) >= 0); /* warm up both paths */
    CHECK(timed_202(s, path, json_b(-1), &b2) >= 0);
    for (int i = 0; i < MAIL_ROUNDS; i++) {
        double ta, tb;
        if (i % 2) {
            tb = timed_202(s, path, json_b(i), &b2);
            ta = timed_202(s, path, json_a(i), &b1);
        } else {
            ta = timed_202(s, path, json_a(i), &b1);
            tb = timed_202(s, path, json_b(i), &b2);
        }
        CHECK(ta >= 0 && tb >= 0);
        CHECK_STR(b1, b2);
        a[i] = ta;
        b[i] = tb;
    }
    double ma = median(a, MAIL_ROUNDS), mb = median(b, MAIL_ROUNDS);
    double ratio = ma > mb ? ma / mb : mb / ma;
    printf("# %s median of %d: %s %.1f ms, %s %.1f ms, ratio %.2f\n", path, MAIL_ROUNDS, what_a, ma,
           what_b, mb, ratio);
    CHECK_MSG(ratio < 2.0, "medians %.1f ms and %.1f ms differ by %.2fx", ma, mb, ratio);
}

static const char *forgot_known(int i)
{
    (void)i;
    return ts_printf("{\"client_id\":\"%s\",\"email\":\"known@example.com\"}", client);
}

static const char *forgot_unknown(int i)
{
    return ts_printf("{\"client_id\":\"%s\",\"email\":\"nobody%d@example.com\"}", client, i + 1);
}

TEST(forgot_of_known_and_unknown_addresses_cost_the_same)
{
    struct th_sink *sink;
    struct ts_server *s = mailing_server(&sink);
    CHECK(s);
    same_cost(s, "/v1/password/forgot", forgot_known, forgot_unknown, "known", "unknown");
    /* and the known address did get its messages: the registration and every reset */
    CHECK_INT(th_sink_count(sink, "known@example.com", MAIL_ROUNDS + 2, 30000, NULL),
              MAIL_ROUNDS + 2);
}

static const char *register_free(int i)
{
    return ts_printf("{\"client_id\":\"%s\",\"email\":\"new%d@example.com\","
                     "\"password\":\"a wrong password\"}",
                     client, i + 1);
}

static const char *register_taken(int i)
{
    (void)i;
    return ts_printf("{\"client_id\":\"%s\",\"email\":\"known@example.com\","
                     "\"password\":\"a wrong password\"}",
                     client);
}

TEST(register_of_free_and_taken_addresses_cost_the_same)
{
    struct th_sink *sink;
    struct ts_server *s = mailing_server(&sink);
    CHECK(s);
    same_cost(s, "/v1/register", register_free, register_taken, "free", "taken");
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(unknown_user_and_wrong_password_cost_the_same);
    RUN(forgot_of_known_and_unknown_addresses_cost_the_same);
    RUN(register_of_free_and_taken_addresses_cost_the_same);
    return ts_done();
}
