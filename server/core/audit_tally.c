/* Successful token issuance, counted: a service account that asks for 20,000 tokens a second
 * would otherwise append 20,000 audit events a second (6 MB/s, and on PostgreSQL one row each,
 * which made the database the bound of client credentials). Tokens are counted per principal
 * and client address, and each count becomes one "token.issue" event when its interval
 * (audit_token_interval) has passed since its first token, with the count and the first and
 * last time; every refusal, every admin change and every other event is still one event each.
 * An interval of 0 keeps one event per token, with its jti.
 *
 * The counts live in a small open-addressed table under one lock (the HTTP threads add, the
 * main loop's flush each second emits the counts that are due and rebuilds the table without
 * them). A token that finds the table full is one event of its own, so none goes uncounted. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/core.h"

#define TALLY_SLOTS 1024 /* a power of two; at most 3/4 in use */

struct tally {
    char principal[STORE_ID_MAX];
    char client_ip[STORE_IP_MAX];
    uint64_t count;
    int64_t first_ms, last_ms; /* unix milliseconds */
    int used;
};

struct srv_audit_tally {
    pthread_mutex_t lock;
    int64_t interval_ms;
    size_t used;
    struct tally slots[TALLY_SLOTS];
    struct tally spare[TALLY_SLOTS]; /* the table being rebuilt */
};

static int64_t unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static size_t slot_of(const char *principal, const char *client_ip)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a over both, with a separator */
    for (const char *p = principal; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xff) * 1099511628211ULL;
    for (const char *p = client_ip; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return (size_t)h & (TALLY_SLOTS - 1);
}

/* The slot of (principal, client_ip) in slots, or the free slot where it goes. */
static struct tally *find(struct tally *slots, const char *principal, const char *client_ip)
{
    for (size_t i = slot_of(principal, client_ip);; i = (i + 1) & (TALLY_SLOTS - 1)) {
        struct tally *t = &slots[i];
        if (!t->used ||
            (strcmp(t->principal, principal) == 0 && strcmp(t->client_ip, client_ip) == 0))
            return t;
    }
}

int srv_audit_tally_new(int64_t interval_s, struct srv_audit_tally **out)
{
    struct srv_audit_tally *t;
    *out = NULL;
    if (interval_s <= 0)
        return SRV_OK; /* one event per token */
    t = calloc(1, sizeof *t);
    if (!t)
        return SRV_ERUNTIME;
    pthread_mutex_init(&t->lock, NULL);
    t->interval_ms = interval_s * 1000;
    *out = t;
    return SRV_OK;
}

void srv_audit_tally_free(struct srv_audit_tally *t)
{
    if (!t)
        return;
    pthread_mutex_destroy(&t->lock);
    free(t);
}

void srv_audit_token_issued(struct srv_ctx *ctx, const char *principal, const char *client_ip,
                            const char *jti)
{
    struct srv_audit_tally *t = ctx->audit_tally;
    const char *ip = client_ip ? client_ip : "";
    int counted = 0;
    if (t && principal && strlen(principal) < STORE_ID_MAX && strlen(ip) < STORE_IP_MAX) {
        int64_t now = unix_ms();
        pthread_mutex_lock(&t->lock);
        struct tally *s = find(t->slots, principal, ip);
        if (s->used || t->used < TALLY_SLOTS / 4 * 3) {
            if (!s->used) {
                *s = (struct tally){.used = 1, .first_ms = now};
                memcpy(s->principal, principal, strlen(principal) + 1);
                memcpy(s->client_ip, ip, strlen(ip) + 1);
                t->used++;
            }
            s->count++;
            s->last_ms = now;
            counted = 1;
        }
        pthread_mutex_unlock(&t->lock);
    }
    if (!counted)
        srv_audit_enqueue(ctx, "token.issue", principal, principal, client_ip, 1, jti);
}

static void iso_ms(int64_t ms, char *out, size_t cap)
{
    time_t s = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&s, &tm);
    size_t n = strftime(out, cap, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, cap - n, ".%03dZ", (int)(ms % 1000));
}

void srv_audit_tally_emit(struct srv_ctx *ctx, int all)
{
    struct srv_audit_tally *t = ctx->audit_tally;
    struct tally *due = NULL;
    size_t ndue = 0;
    if (!t)
        return;
    int64_t now = unix_ms();
    pthread_mutex_lock(&t->lock);
    if (t->used)
        due = malloc(t->used * sizeof *due);
    /* out of memory: nothing is emitted now, and the counts go on until the next flush */
    if (due) {
        memset(t->spare, 0, sizeof t->spare);
        for (size_t i = 0; i < TALLY_SLOTS; i++) {
            struct tally *s = &t->slots[i];
            if (!s->used)
                continue;
            if (all || now - s->first_ms >= t->interval_ms)
                due[ndue++] = *s;
            else
                *find(t->spare, s->principal, s->client_ip) = *s;
        }
        memcpy(t->slots, t->spare, sizeof t->slots);
        t->used -= ndue;
    }
    pthread_mutex_unlock(&t->lock);
    for (size_t i = 0; i < ndue; i++) {
        char first[32], last[32], detail[STORE_DETAIL_MAX];
        iso_ms(due[i].first_ms, first, sizeof first);
        iso_ms(due[i].last_ms, last, sizeof last);
        snprintf(detail, sizeof detail, "%llu token%s issued from %s to %s",
                 (unsigned long long)due[i].count, due[i].count == 1 ? "" : "s", first, last);
        srv_audit_enqueue(ctx, "token.issue", due[i].principal, due[i].principal, due[i].client_ip,
                          1, detail);
    }
    free(due);
}
