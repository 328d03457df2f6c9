/* Per-address token buckets on /oauth/token, /oauth/introspect and /v1/register: a burst of
 * twice the rate goes through, then 429 with Retry-After in the endpoint's error shape; the
 * bucket refills; another address has its own; 0 turns a limit off. */
#include <string.h>
#include <unistd.h>

#include "support.h"

static const char *const roles[] = {"idp:introspect", NULL};
static const char *const grants[] = {"password", NULL};
static const char *const reg_args[] = {"--allow-registration", NULL};

/* Sends n token requests; returns how many were 200 before the first 429 (-1 on anything
 * else), and the first 429 in *limited. */
static int burst(struct ts_server *s, struct ts_account *a, int n, struct ts_resp **limited)
{
    int ok = 0;
    *limited = NULL;
    for (int i = 0; i < n; i++) {
        struct ts_resp *r = ts_token(s, a, NULL);
        if (r->status == 429) {
            *limited = r;
            return ok;
        }
        if (r->status != 200)
            return -1;
        ok++;
    }
    return ok;
}

/* A server on a fresh folder with env, and a service account *a that may introspect. */
static struct ts_server *start_with(const char *const *env, struct ts_account *a)
{
    const char *data = ts_path("data");
    struct ts_opts o = {.data = data, .env = env};
    if (ts_sa_create(data, "caller", roles, NULL, a) != 0)
        return NULL;
    return ts_start(&o);
}

TEST(token_endpoint_bucket)
{
    static const char *const env[] = {"IDPD_RATE_LIMIT_TOKEN=5", NULL};
    struct ts_account a;
    struct ts_server *s = start_with(env, &a);
    CHECK(s);
    if (!s)
        return;
    struct ts_resp *r;
    int ok = burst(s, &a, 40, &r);
    /* a full bucket holds 10; a little refills while the burst runs */
    CHECK_MSG(ok >= 10 && ok < 20, "%d requests went through", ok);
    CHECK(r != NULL);
    if (r) {
        CHECK_STR(ts_jstr(r->json, "error"), "temporarily_unavailable");
        CHECK_STR(ts_header(r, "Retry-After"), "1");
        CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    }
    /* another address has a bucket of its own */
    CHECK_INT(ts_status_from(s, "127.0.0.2", "POST", "/oauth/token", ts_basic(&a),
                             "grant_type=client_credentials"),
              200);
    /* a second later five more tokens are back */
    usleep(1100 * 1000);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

TEST(introspect_and_register_buckets)
{
    static const char *const env[] = {"IDPD_RATE_LIMIT_INTROSPECT=1", "IDPD_RATE_LIMIT_REGISTER=1",
                                      NULL};
    const char *data = ts_path("data");
    struct ts_opts o = {.data = data, .env = env, .args = reg_args};
    struct ts_account a, app;
    CHECK_INT(ts_sa_create(data, "caller", roles, NULL, &a), 0);
    CHECK_INT(ts_app_create(data, "sdk", grants, NULL, &app), 0);
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    const char *tok = ts_token_str(s, &a);
    CHECK(tok);
    int introspected = 0;
    struct ts_resp *r = NULL;
    for (int i = 0; i < 10; i++) {
        r = ts_introspect(s, &a, tok);
        if (r->status != 200)
            break;
        introspected++;
    }
    CHECK(introspected >= 2 && introspected < 5);
    CHECK_INT(r->status, 429);
    CHECK_STR(ts_jstr(r->json, "error"), "temporarily_unavailable");
    CHECK(ts_header(r, "Retry-After") != NULL);

    int registered = 0;
    for (int i = 0; i < 10; i++) {
        r = ts_register(s, app.id, ts_printf("user%d@example.com", i), "a good password");
        if (r->status != 201)
            break;
        registered++;
    }
    CHECK(registered >= 2 && registered < 5);
    /* /v1/register answers problem+json, as the rest of /v1 */
    CHECK_INT(r->status, 429);
    CHECK(strstr(ts_header(r, "Content-Type"), "application/problem+json") != NULL);
    CHECK_INT(ts_jint(r->json, "status"), 429);
    CHECK(ts_header(r, "Retry-After") != NULL);
    /* the refused registration created nothing: the email is still free */
    usleep(2100 * 1000);
    CHECK_INT(ts_register(s, app.id, ts_printf("user%d@example.com", registered), "a good password")
                  ->status,
              201);
    CHECK_INT(ts_stop(s), 0);
}

TEST(zero_is_off)
{
    static const char *const env[] = {"IDPD_RATE_LIMIT_TOKEN=0", NULL};
    struct ts_account a;
    struct ts_server *s = start_with(env, &a);
    CHECK(s);
    if (!s)
        return;
    struct ts_resp *r;
    CHECK_INT(burst(s, &a, 60, &r), 60);
    CHECK_INT(ts_stop(s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(token_endpoint_bucket);
    RUN(introspect_and_register_buckets);
    RUN(zero_is_off);
    return ts_done();
}
