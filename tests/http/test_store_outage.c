/* A database outage (issue 14, item 5). While PostgreSQL refuses connections or hangs, every
 * request that needs it answers 503 with Retry-After within the store's timeout and a second:
 * never a hang, a 500, or a 401/400 that would tell a client its credentials are wrong. The JWKS
 * and the discovery document are served from memory, /healthz is live and /readyz is not. Once
 * the database is back, idpd serves again by itself within seconds, and nothing was half-written:
 * the refresh token presented during the outage still rotates, and the logins refused meanwhile
 * counted toward no lockout.
 *
 * PostgreSQL only: each case makes a cluster of its own (cluster.c) and stops, starts and freezes
 * it under the server. On LMDB, which has no outage of this kind, each case passes at once. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "support.h"

#define STORE_TIMEOUT_MS 1000
/* what an answer may take while the database is down: the timeout, and a second to spare */
#define ANSWER_WITHIN_MS (STORE_TIMEOUT_MS + 1000)
#define RECOVERY_MS 10000 /* "within a few seconds" once the database is back */

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* Runs expr (an expression giving a struct ts_resp *) into resp and its duration into ms. */
#define TIMED(resp, ms, expr)                                                                      \
    do {                                                                                           \
        double t0_ = now_ms();                                                                     \
        (resp) = (expr);                                                                           \
        (ms) = now_ms() - t0_;                                                                     \
    } while (0)

/* 503 in time, with Retry-After: 1; an OAuth endpoint's temporarily_unavailable. */
#define CHECK_OUTAGE_OAUTH(r, ms, what)                                                            \
    do {                                                                                           \
        CHECK_OAUTH_ERROR((r), 503, "temporarily_unavailable");                                    \
        CHECK_STR(ts_header((r), "Retry-After"), "1");                                             \
        CHECK_MSG((ms) <= ANSWER_WITHIN_MS, "%s took %.0f ms", (what), (ms));                      \
        printf("# %-32s 503 in %5.0f ms\n", (what), (ms));                                         \
    } while (0)

/* The same for problem+json. */
#define CHECK_OUTAGE_PROBLEM(r, ms, what)                                                          \
    do {                                                                                           \
        CHECK_PROBLEM((r), 503);                                                                   \
        CHECK_STR(ts_header((r), "Retry-After"), "1");                                             \
        CHECK_MSG((ms) <= ANSWER_WITHIN_MS, "%s took %.0f ms", (what), (ms));                      \
        printf("# %-32s 503 in %5.0f ms\n", (what), (ms));                                         \
    } while (0)

static const char *const admin_roles[] = {"idp:admin", "idp:introspect", NULL};
static const char *const user_password = "correct horse battery";

/* One server on a cluster of the case's own, and what the checks need: an admin service account
 * with its token (used, so its secret sits in the caches), another whose secret was never used,
 * a public application, and a user logged in through it. */
struct world {
    struct ts_cluster *pg;
    struct ts_server *s;
    struct ts_account admin, fresh, app;
    const char *admin_token;
    const char *access_token, *refresh_token; /* the user's */
};

/* Fills w; 0 when something failed (and said so). Not a TEST, so it cannot CHECK. */
static int world_make(struct world *w)
{
    const char *data = ts_path("data");
    memset(w, 0, sizeof *w);
    if (!(w->pg = ts_cluster_start("pg")))
        return 0;
    const char *store = ts_printf("IDPD_STORE=%s", w->pg->uri);
    /* One failed login would lock the (name, address) pair for ten minutes: a login refused
     * during the outage that was counted would show at once. The key ring is checked every
     * second, so the outage spans many of its runs. */
    const char *env[] = {store,
                         "IDPD_STORE_TIMEOUT_MS=1000",
                         "IDPD_LOGIN_LOCKOUT_THRESHOLD=1",
                         "IDPD_LOGIN_LOCKOUT_BASE=600",
                         "IDPD_KEYS_REFRESH_INTERVAL=1",
                         NULL};
    const char *args[] = {"--store", w->pg->uri, NULL};
    const char *app_args[] = {"--store",  w->pg->uri, "--name",        "web", "--grant",
                              "password", "--grant",  "refresh_token", NULL};
    if (ts_sa_create(data, "admin", admin_roles, env, &w->admin) != 0 ||
        ts_sa_create(data, "fresh", NULL, env, &w->fresh) != 0 ||
        !ts_app_create_with(data, app_args, &w->app))
        return 0;
    struct ts_opts o = {.data = data, .env = env, .args = args};
    if (!(w->s = ts_start(&o)) || !(w->admin_token = ts_token_str(w->s, &w->admin)))
        return 0;
    const char *body =
        ts_printf("{\"email\":\"ada@example.com\",\"password\":\"%s\"}", user_password);
    struct ts_resp *r = ts_bearer(w->s, "POST", "/admin/v1/users", w->admin_token, body);
    if (r->status != 201) {
        fprintf(stderr, "  user create: %ld %s\n", r->status, r->body);
        return 0;
    }
    r = ts_login(w->s, w->app.id, "ada@example.com", user_password, NULL);
    w->access_token = ts_jstr(r->json, "access_token");
    w->refresh_token = ts_jstr(r->json, "refresh_token");
    if (r->status != 200 || !w->access_token || !w->refresh_token) {
        fprintf(stderr, "  login: %ld %s\n", r->status, r->body);
        return 0;
    }
    return 1;
}

/* What must answer 503 in time while the database is away, and what must answer 200. */
static void check_outage(struct world *w)
{
    struct ts_server *s = w->s;
    struct ts_resp *r;
    double ms;

    /* a secret in no cache: it cannot be checked, which is not a wrong secret */
    TIMED(r, ms, ts_token(s, &w->fresh, NULL));
    CHECK_OUTAGE_OAUTH(r, ms, "client credentials");
    /* a secret in the caches may still be served from them, or not: never a 401 or a 500 */
    TIMED(r, ms, ts_token(s, &w->admin, NULL));
    CHECK_MSG(r->status == 200 || r->status == 503, "cached client credentials: %ld %s", r->status,
              r->body);
    CHECK_MSG(ms <= ANSWER_WITHIN_MS, "cached client credentials took %.0f ms", ms);
    /* a right and a wrong password alike: neither checked nor counted */
    TIMED(r, ms, ts_login(s, w->app.id, "ada@example.com", user_password, NULL));
    CHECK_OUTAGE_OAUTH(r, ms, "password login");
    TIMED(r, ms, ts_login(s, w->app.id, "ada@example.com", "a wrong password", NULL));
    CHECK_OUTAGE_OAUTH(r, ms, "password login, wrong password");
    TIMED(r, ms, ts_refresh(s, w->app.id, w->refresh_token, NULL));
    CHECK_OUTAGE_OAUTH(r, ms, "refresh");
    TIMED(r, ms, ts_introspect(s, &w->admin, w->access_token));
    CHECK_OUTAGE_OAUTH(r, ms, "introspection");
    TIMED(r, ms, ts_bearer(s, "GET", "/v1/me", w->access_token, NULL));
    CHECK_OUTAGE_PROBLEM(r, ms, "GET /v1/me");
    TIMED(r, ms, ts_bearer(s, "GET", "/admin/v1/users", w->admin_token, NULL));
    CHECK_OUTAGE_PROBLEM(r, ms, "GET /admin/v1/users");
    TIMED(r, ms, ts_get(s, "/readyz"));
    CHECK_OUTAGE_PROBLEM(r, ms, "GET /readyz");

    /* what idpd holds in memory: the discovery document, the JWKS it names, liveness */
    TIMED(r, ms, ts_get(s, "/.well-known/openid-configuration"));
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "issuer"), s->issuer);
    const char *jwks_uri = ts_jstr(r->json, "jwks_uri");
    CHECK(jwks_uri && strncmp(jwks_uri, s->issuer, strlen(s->issuer)) == 0);
    TIMED(r, ms, ts_get(s, jwks_uri + strlen(s->issuer)));
    CHECK_INT(r->status, 200);
    CHECK(json_array_size(json_object_get(r->json, "keys")) >= 1);
    CHECK_MSG(ms < 500, "the JWKS took %.0f ms", ms);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
}

/* Polls /readyz until it answers 200; the milliseconds it took, or -1. */
static double wait_ready(struct ts_server *s)
{
    double t0 = now_ms();
    while (now_ms() - t0 < RECOVERY_MS) {
        if (ts_get(s, "/readyz")->status == 200)
            return now_ms() - t0;
        usleep(50 * 1000);
    }
    return -1;
}

/* Everything as before the outage: the refresh token it could not rotate rotates now, the right
 * password logs in (the refusals of the outage locked nothing), the unused secret works. */
static void check_recovered(struct world *w)
{
    struct ts_server *s = w->s;
    struct ts_resp *r = ts_refresh(s, w->app.id, w->refresh_token, NULL);
    CHECK_MSG(r->status == 200, "refresh after the outage: %ld %s", r->status, r->body);
    const char *at = ts_jstr(r->json, "access_token");
    CHECK(at && ts_jstr(r->json, "refresh_token"));
    r = ts_bearer(s, "GET", "/v1/me", at, NULL);
    CHECK_MSG(r->status == 200, "/v1/me: %ld %s", r->status, r->body);
    CHECK_STR(ts_jstr(r->json, "email"), "ada@example.com");
    r = ts_login(s, w->app.id, "ada@example.com", user_password, NULL);
    CHECK_MSG(r->status == 200, "login after the outage: %ld %s", r->status, r->body);
    r = ts_token(s, &w->fresh, NULL);
    CHECK_MSG(r->status == 200, "client credentials: %ld %s", r->status, r->body);
    r = ts_introspect(s, &w->admin, at);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    r = ts_bearer(s, "GET", "/admin/v1/users", w->admin_token, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(json_array_size(json_object_get(r->json, "items")), 1);
}

/* The background chores said once that the key ring could not be read, not at every run, and
 * say that it can again. */
static void check_logged_once(struct world *w)
{
    CHECK(ts_log_wait(w->s, "signing-key refresh works again", 5000));
    const char *log = ts_log(w->s);
    size_t n = 0;
    for (const char *p = log; (p = strstr(p, "signing-key refresh failed")); p++)
        n++;
    CHECK_INT(n, 1);
}

/* One outage: cut the database off (and the cluster's stop undoes it, should a check fail),
 * check the answers while it lasts and for span_ms more, restore it, and check the service
 * comes back by itself; then, with logged_once, that the chores said so once. */
static void outage_round(int (*cut)(struct ts_cluster *), int (*restore)(struct ts_cluster *),
                         unsigned span_ms, const char *restored, int logged_once)
{
    struct world w;
    double ms;
    if (!th_on_postgres()) {
        printf("# LMDB has no database to lose: runs with IDPD_TEST_STORE=postgres\n");
        return;
    }
    CHECK(world_make(&w));
    CHECK_INT(cut(w.pg), 0);
    check_outage(&w);
    if (th_case_failed)
        return;
    usleep(span_ms * 1000);
    CHECK_INT(restore(w.pg), 0);
    CHECK_MSG((ms = wait_ready(w.s)) >= 0, "/readyz still not ready after %d ms", RECOVERY_MS);
    printf("# ready again %.0f ms after the database %s\n", ms, restored);
    check_recovered(&w);
    if (th_case_failed || !logged_once)
        return;
    check_logged_once(&w);
}

TEST(stopped_database_answers_503_then_serves_again)
{
    /* the key ring is checked each second: the outage spans a few of its runs */
    outage_round(ts_cluster_down, ts_cluster_up, 2500, "started", 1);
}

TEST(hung_database_answers_503_within_the_timeout)
{
    outage_round(ts_cluster_freeze, ts_cluster_thaw, 0, "woke", 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(stopped_database_answers_503_then_serves_again);
    RUN(hung_database_answers_503_within_the_timeout);
    return ts_done();
}
