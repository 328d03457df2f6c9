/* Argon2 runs off the HTTP threads: a cheap request overtakes an expensive one on a single HTTP
 * thread, a full worker queue answers 503 with Retry-After, and concurrent requests each get
 * their own answer. These are ordering checks, not timing claims. */
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "support.h"

static const char *const heavy_env[] = {"IDPD_ARGON2_MEMORY_KIB=262144", "IDPD_ARGON2_ITERATIONS=3",
                                        NULL};
static const char *const roles[] = {"reader", NULL};

static CURL *token_easy(struct ts_server *s, const struct ts_account *a, struct ts_resp **out)
{
    const char **h = ts_keep(calloc(2, sizeof *h));
    h[0] = ts_basic(a);
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .headers = h,
                        .body = "grant_type=client_credentials"};
    return ts_easy(s, &rq, out);
}

/* One HTTP thread, one worker, no cache, an expensive secret: /healthz sent while the token
 * request's Argon2 runs completes first. */
TEST(healthz_overtakes_argon2)
{
    const char *env[] = {"IDPD_HTTP_THREADS=1", "IDPD_WORKERS=1", "IDPD_SECRET_CACHE_TTL=0",
                         heavy_env[0],          heavy_env[1],     NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "heavy", roles, heavy_env, &a), 0);

    struct ts_resp *tok_r = NULL, *health_r = NULL;
    CURL *tok_e = token_easy(s, &a, &tok_r);
    struct ts_req hq = {.path = "/healthz"};
    CURL *health_e = ts_easy(s, &hq, &health_r);
    CURLM *m = curl_multi_init();
    CHECK(m);
    curl_multi_add_handle(m, tok_e);
    int running = 1, added = 0, done = 0, first = -1;
    CURLcode res[2] = {CURLE_GOT_NOTHING, CURLE_GOT_NOTHING};
    while (running || !added) {
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            int which = msg->easy_handle == health_e;
            res[which] = msg->data.result;
            if (first < 0)
                first = which;
            done++;
        }
        /* once the token request is on the wire, send /healthz beside it */
        curl_off_t up = 0;
        curl_easy_getinfo(tok_e, CURLINFO_SIZE_UPLOAD_T, &up);
        if (!added && (up >= (curl_off_t)strlen("grant_type=client_credentials") || done)) {
            usleep(50 * 1000); /* let the server read it and hand it to the worker */
            curl_multi_add_handle(m, health_e);
            added = 1;
            running = 1;
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 20, NULL);
    }
    curl_multi_remove_handle(m, tok_e);
    curl_multi_remove_handle(m, health_e);
    curl_multi_cleanup(m);
    ts_easy_done(tok_e, tok_r, res[0]);
    ts_easy_done(health_e, health_r, res[1]);
    CHECK_INT(done, 2);
    CHECK_INT(tok_r->status, 200);
    CHECK(ts_jstr(tok_r->json, "access_token") != NULL);
    CHECK_INT(health_r->status, 200);
    CHECK_STR(health_r->body, "{\"status\":\"ok\"}");
    CHECK_MSG(first == 1, "the token request finished before /healthz");
}

/* One worker and a queue of one: of six simultaneous uncached requests, at least one is refused
 * with 503 + Retry-After and at least one is served; nothing else happens. */
TEST(full_worker_queue_503)
{
    const char *env[] = {"IDPD_HTTP_THREADS=1",
                         "IDPD_WORKERS=1",
                         "IDPD_WORKER_QUEUE=1",
                         "IDPD_SECRET_CACHE_TTL=0",
                         heavy_env[0],
                         heavy_env[1],
                         NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "heavy", roles, heavy_env, &a), 0);
    enum { N = 6 };
    CURL *e[N];
    struct ts_resp *r[N];
    for (int i = 0; i < N; i++)
        e[i] = token_easy(s, &a, &r[i]);
    ts_multi_run(e, r, N, NULL);
    int ok = 0, busy = 0;
    for (int i = 0; i < N; i++) {
        if (r[i]->status == 200) {
            CHECK(ts_jstr(r[i]->json, "access_token") != NULL);
            ok++;
        } else {
            CHECK_OAUTH_ERROR(r[i], 503, "temporarily_unavailable");
            CHECK_STR(ts_header(r[i], "Retry-After"), "1");
            busy++;
        }
    }
    CHECK_MSG(ok >= 1 && busy >= 1, "%d served, %d refused", ok, busy);
    /* once the queue drains, the same client is served again */
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
}

/* One address over its share of the Argon2 queue (issue 12, finding 3): refused with 429 and
 * Retry-After, never 503, without hashing, and held back about a second, so a client that asks
 * again at once cannot spin the server; the others of that address are served. */
TEST(over_share_refused_late)
{
    const char *env[] = {"IDPD_WORKERS=1",
                         "IDPD_WORKER_QUEUE_PER_ADDRESS=1",
                         "IDPD_SECRET_CACHE_TTL=0",
                         heavy_env[0],
                         heavy_env[1],
                         NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "heavy", roles, heavy_env, &a), 0);
    enum { N = 6 };
    CURL *e[N];
    struct ts_resp *r[N];
    for (int i = 0; i < N; i++)
        e[i] = token_easy(s, &a, &r[i]);
    ts_multi_run(e, r, N, NULL);
    int ok = 0, refused = 0;
    for (int i = 0; i < N; i++) {
        if (r[i]->status == 200) {
            ok++;
            continue;
        }
        CHECK_MSG(r[i]->status == 429, "status %ld: %s", r[i]->status, r[i]->body);
        CHECK_STR(ts_jstr(r[i]->json, "error"), "temporarily_unavailable");
        CHECK_STR(ts_header(r[i], "Retry-After"), "1");
        refused++;
    }
    CHECK_MSG(ok >= 1 && refused >= 1, "%d served, %d refused", ok, refused);
    /* every refusal was held back about a second (the server's own measure of each request) */
    CHECK(ts_log_wait(s, "\"status\":429", 5000));
    json_t *reqs = ts_log_requests(s);
    size_t late = 0, i;
    json_t *line;
    json_array_foreach(reqs, i, line)
    {
        if (json_integer_value(json_object_get(line, "status")) == 429) {
            double ms = json_real_value(json_object_get(line, "duration_ms"));
            CHECK_MSG(ms >= 900, "a refusal answered after %.1f ms", ms);
            late++;
        }
    }
    CHECK_INT(late, refused);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
}

/* Many simultaneous requests from two accounts, right and wrong secrets mixed, no cache: every
 * answer belongs to its own request. */
TEST(concurrent_requests_keep_their_answers)
{
    const char *env[] = {"IDPD_SECRET_CACHE_TTL=0", NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account acc[2], wrong[2];
    CHECK_INT(ts_sa_create(s->data, "one", roles, NULL, &acc[0]), 0);
    CHECK_INT(ts_sa_create(s->data, "two", roles, NULL, &acc[1]), 0);
    for (int k = 0; k < 2; k++) {
        wrong[k] = acc[k];
        wrong[k].secret[15] = wrong[k].secret[15] == 'w' ? 'v' : 'w';
    }
    enum { N = 16 };
    CURL *e[N];
    struct ts_resp *r[N];
    for (int i = 0; i < N; i++) {
        if (i % 4 == 3) {
            struct ts_req hq = {.path = "/healthz"};
            e[i] = ts_easy(s, &hq, &r[i]);
        } else {
            e[i] = token_easy(s, i % 4 == 2 ? &wrong[i / 4 % 2] : &acc[i % 2], &r[i]);
        }
    }
    ts_multi_run(e, r, N, NULL);
    const char *jtis[N] = {0};
    for (int i = 0; i < N; i++) {
        if (i % 4 == 3) {
            CHECK_INT(r[i]->status, 200);
            CHECK_STR(r[i]->body, "{\"status\":\"ok\"}");
        } else if (i % 4 == 2) {
            CHECK_OAUTH_ERROR(r[i], 401, "invalid_client");
        } else {
            json_t *h, *p;
            CHECK_MSG(r[i]->status == 200, "request %d: %ld %s", i, r[i]->status, r[i]->body);
            CHECK(ts_jwt_decode(ts_jstr(r[i]->json, "access_token"), &h, &p) == 0);
            CHECK_STR(ts_jstr(p, "sub"), acc[i % 2].id);
            jtis[i] = ts_jstr(p, "jti");
            for (int k = 0; k < i; k++)
                CHECK(!jtis[k] || strcmp(jtis[k], jtis[i]) != 0);
        }
    }
}

/* With the default cache, a burst of requests for one client: all served, all distinct. */
TEST(parallel_cached_tokens)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "burst", roles, NULL, &a), 0);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200); /* warm the cache */
    enum { N = 24 };
    CURL *e[N];
    struct ts_resp *r[N];
    for (int i = 0; i < N; i++)
        e[i] = token_easy(s, &a, &r[i]);
    ts_multi_run(e, r, N, NULL);
    struct ts_resp *jwks = ts_get(s, "/jwks");
    const char *jtis[N] = {0};
    for (int i = 0; i < N; i++) {
        json_t *h, *p;
        CHECK_MSG(r[i]->status == 200, "request %d: %ld %s", i, r[i]->status, r[i]->body);
        const char *tok = ts_jstr(r[i]->json, "access_token");
        CHECK(ts_jwt_decode(tok, &h, &p) == 0);
        CHECK(ts_es256_verify(tok, ts_jwks_key(jwks->json, ts_jstr(h, "kid"))));
        jtis[i] = ts_jstr(p, "jti");
        for (int k = 0; k < i; k++)
            CHECK(strcmp(jtis[k], jtis[i]) != 0);
    }
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(healthz_overtakes_argon2);
    RUN(full_worker_queue_503);
    RUN(over_share_refused_late);
    RUN(concurrent_requests_keep_their_answers);
    RUN(parallel_cached_tokens);
    return ts_done();
}
