/* Per-address token buckets in front of the endpoints an attacker can make expensive or noisy:
 * /oauth/token, /oauth/introspect, /v1/register (issue 6). Each (endpoint, address) bucket
 * holds up to two seconds' worth of its rate and refills continuously; an empty bucket answers
 * 429 with Retry-After. The table is fixed in size and in memory: a slot taken over by another
 * address only hands that address a fresh bucket, and the hash is seeded per process so no one
 * can aim collisions. Per process, so N servers on one data folder allow N times the rate. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/http/http.h"

#define SLOTS 4096
#define STRIPES 64
#define ADDR_MAX 64

struct bucket {
    char addr[ADDR_MAX];
    int kind;      /* enum srv_rate; 0 = empty slot */
    double tokens; /* what is left */
    double at;     /* monotonic seconds of the last refill */
};

struct srv_rate_limiter {
    pthread_mutex_t stripes[STRIPES];
    uint64_t seed;
    double rate[SRV_RATE_KINDS]; /* requests per second, 0 = unlimited */
    struct bucket slots[SLOTS];
};

int srv_rate_limiter_new(const struct srv_config *cfg, struct srv_rate_limiter **out)
{
    struct srv_rate_limiter *l = calloc(1, sizeof *l);
    if (!l || crypto_random(&l->seed, sizeof l->seed) != CRYPTO_OK) {
        free(l);
        return SRV_ERUNTIME;
    }
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_init(&l->stripes[i], NULL);
    l->rate[SRV_RATE_TOKEN] = (double)cfg->rate_limit_token;
    l->rate[SRV_RATE_INTROSPECT] = (double)cfg->rate_limit_introspect;
    l->rate[SRV_RATE_REGISTER] = (double)cfg->rate_limit_register;
    *out = l;
    return SRV_OK;
}

void srv_rate_limiter_free(struct srv_rate_limiter *l)
{
    if (!l)
        return;
    for (size_t i = 0; i < STRIPES; i++)
        pthread_mutex_destroy(&l->stripes[i]);
    free(l);
}

static double monotonic_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t slot_of(const struct srv_rate_limiter *l, int kind, const char *addr)
{
    uint64_t h = l->seed ^ (uint64_t)kind * 0x9e3779b97f4a7c15u;
    for (const char *p = addr; *p; p++) {
        h ^= (uint8_t)*p;
        h *= 0x100000001b3u; /* FNV-1a step on a secret starting point */
    }
    h ^= h >> 29;
    return (size_t)(h % SLOTS);
}

/* 0 when the request may go on, else the seconds until a token is back. */
static int64_t take(struct srv_rate_limiter *l, int kind, const char *addr)
{
    double rate = l->rate[kind];
    if (rate <= 0)
        return 0;
    double cap = rate * 2, now = monotonic_s();
    size_t i = slot_of(l, kind, addr);
    int64_t wait = 0;
    pthread_mutex_t *m = &l->stripes[i % STRIPES];
    pthread_mutex_lock(m);
    struct bucket *b = &l->slots[i];
    if (b->kind != kind || strcmp(b->addr, addr) != 0) {
        snprintf(b->addr, sizeof b->addr, "%s", addr);
        b->kind = kind;
        b->tokens = cap;
        b->at = now;
    }
    b->tokens += (now - b->at) * rate;
    if (b->tokens > cap)
        b->tokens = cap;
    b->at = now;
    if (b->tokens >= 1)
        b->tokens -= 1;
    else
        wait = (int64_t)((1 - b->tokens) / rate) + 1;
    pthread_mutex_unlock(m);
    return wait;
}

int srv_rate_limited_reply(struct srv_request *rq, enum srv_rate kind)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    int64_t wait = take(ctx->rate_limiter, kind, srv_rq_client_ip(rq));
    if (!wait)
        return 0;
    srv_reply_too_many(rq, wait, "too many requests from this address; slow down");
    return 1;
}
