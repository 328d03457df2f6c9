/* Deadlines and admission for open connections, after Apache's mod_reqtimeout. A request's line
 * and headers must be in within header_timeout of the connection opening (or answering its
 * previous request); its body within body_timeout, extended by one second per body_min_rate
 * bytes received, up to body_timeout_max. A reaper thread shuts down what is late. When the table
 * is nearly full, an address that already holds a few connections is refused, while one holding
 * fewer is admitted and the slowest connection still waiting for its client makes room for it.
 *
 * Knows nothing of libmicrohttpd: http.c reports connections opening and closing (with their
 * socket and address) and the phases of their requests. */
#define LOG_MODULE "conn_guard"

#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "server/http/http.h"

#define TICK_MS 250
/* Above the soft limit an address holding this many connections gets no more. */
#define FEW 4
/* family byte, then the IPv4 address or the /64 of an IPv6 one */
#define KEY_LEN 9

enum conn_phase { CP_HEADERS, CP_BODY, CP_HANDLING };

struct addr_slot {
    struct addr_slot *next;
    uint8_t key[KEY_LEN];
    unsigned n; /* open connections of this address, shut ones included */
};

struct srv_conn {
    struct srv_conn_guard *g;
    /* Under g->lock. */
    struct srv_conn *prev, *next;
    struct addr_slot *addr;
    int fd;
    int shut; /* shut down by the guard; libmicrohttpd has not closed it yet */
    /* Written by the connection's HTTP thread without a lock, read by the reaper. */
    _Atomic int phase;
    _Atomic int64_t since_ms;    /* when the phase began */
    _Atomic int64_t deadline_ms; /* 0 = none */
    /* The connection's HTTP thread only. */
    int64_t body_start_ms;
    uint64_t body_bytes;
};

struct srv_conn_guard {
    int64_t header_ms, body_ms, body_max_ms, min_rate;
    unsigned max;       /* max_connections */
    unsigned soft;      /* above it, only addresses holding fewer than FEW are admitted */
    unsigned keep_free; /* the reaper keeps this many slots free for newcomers */
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t reaper;
    int reaper_running, stopping;
    struct srv_conn *head;
    unsigned total;                       /* open connections, shut ones included */
    unsigned shut;                        /* of them, shut down and not closed yet */
    unsigned long refused, late, evicted; /* since the last log line */
    size_t nbuckets;                      /* a power of two */
    struct addr_slot **buckets;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* IPv6 clients are grouped by /64: one host usually holds a whole /64, and would otherwise count
 * as 2^64 addresses. An IPv4-mapped address counts as its IPv4 address. */
static void addr_key(const struct sockaddr *sa, uint8_t key[KEY_LEN])
{
    memset(key, 0, KEY_LEN);
    if (sa && sa->sa_family == AF_INET) {
        key[0] = 4;
        memcpy(key + 1, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa && sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(a)) {
            key[0] = 4;
            memcpy(key + 1, a->s6_addr + 12, 4);
        } else {
            key[0] = 6;
            memcpy(key + 1, a->s6_addr, 8);
        }
    }
}

static int key_equal(const uint8_t *a, const uint8_t *b)
{
    for (size_t i = 0; i < KEY_LEN; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

static struct addr_slot **bucket_of(struct srv_conn_guard *g, const uint8_t key[KEY_LEN])
{
    uint32_t hash = 2166136261u; /* FNV-1a */
    for (size_t i = 0; i < KEY_LEN; i++)
        hash = (hash ^ key[i]) * 16777619u;
    return &g->buckets[hash & (g->nbuckets - 1)];
}

/* Under g->lock. With create, NULL only when out of memory. */
static struct addr_slot *slot_find(struct srv_conn_guard *g, const uint8_t key[KEY_LEN], int create)
{
    struct addr_slot **b = bucket_of(g, key);
    for (struct addr_slot *s = *b; s; s = s->next)
        if (key_equal(s->key, key))
            return s;
    if (!create)
        return NULL;
    struct addr_slot *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    memcpy(s->key, key, KEY_LEN);
    s->next = *b;
    *b = s;
    return s;
}

static void slot_release(struct srv_conn_guard *g, struct addr_slot *s)
{
    if (!s || --s->n > 0)
        return;
    for (struct addr_slot **p = bucket_of(g, s->key); *p; p = &(*p)->next)
        if (*p == s) {
            *p = s->next;
            free(s);
            return;
        }
}

/* Under g->lock, which also keeps the socket open: libmicrohttpd reports a connection closed
 * (srv_conn_close, which takes the lock) before it closes its socket, so fd cannot have been
 * reused by another connection yet. shutdown(), not close(): the socket stays libmicrohttpd's,
 * which sees the end of the stream and closes the connection itself. */
static void shut_down(struct srv_conn_guard *g, struct srv_conn *c)
{
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RDWR);
    c->shut = 1;
    g->shut++;
}

static int waiting_for_client(const struct srv_conn *c)
{
    return !c->shut && atomic_load_explicit(&c->phase, memory_order_relaxed) != CP_HANDLING;
}

/* Under g->lock: shuts down the connection that waits for its client and whose address holds the
 * most connections, the one waiting longest among those. 0 when none waits. */
static int evict_slowest(struct srv_conn_guard *g)
{
    struct srv_conn *best = NULL;
    int64_t best_since = 0;
    for (struct srv_conn *c = g->head; c; c = c->next) {
        if (!waiting_for_client(c))
            continue;
        int64_t since = atomic_load_explicit(&c->since_ms, memory_order_relaxed);
        unsigned n = c->addr ? c->addr->n : 0, best_n = best && best->addr ? best->addr->n : 0;
        if (!best || n > best_n || (n == best_n && since < best_since)) {
            best = c;
            best_since = since;
        }
    }
    if (!best)
        return 0;
    shut_down(g, best);
    g->evicted++;
    return 1;
}

static void *reaper_main(void *arg)
{
    struct srv_conn_guard *g = arg;
    int64_t last_log = now_ms();
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += TICK_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&g->cond, &g->lock, &ts);
        if (g->stopping)
            break;
        int64_t now = now_ms();
        for (struct srv_conn *c = g->head; c; c = c->next) {
            int64_t deadline = atomic_load_explicit(&c->deadline_ms, memory_order_relaxed);
            if (waiting_for_client(c) && deadline && now > deadline) {
                shut_down(g, c);
                g->late++;
            }
        }
        /* Many addresses with a few connections each are not refused; keep room anyway. */
        while (g->total - g->shut + g->keep_free > g->max && evict_slowest(g))
            ;
        if ((g->refused || g->late || g->evicted) && now - last_log >= 1000) {
            unsigned long refused = g->refused, late = g->late, evicted = g->evicted;
            g->refused = g->late = g->evicted = 0;
            last_log = now;
            pthread_mutex_unlock(&g->lock);
            LOG(SRV_LOG_WARN,
                "connections: %lu refused (table nearly full), %lu closed late, %lu evicted",
                refused, late, evicted);
            pthread_mutex_lock(&g->lock);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

int srv_conn_guard_start(const struct srv_config *cfg, struct srv_conn_guard **out)
{
    struct srv_conn_guard *g = calloc(1, sizeof *g);
    pthread_condattr_t ca;
    int rc = SRV_ENOMEM;
    if (!g)
        goto out;
    g->header_ms = cfg->header_timeout * 1000;
    g->body_ms = cfg->body_timeout * 1000;
    g->body_max_ms = cfg->body_timeout_max * 1000;
    g->min_rate = cfg->body_min_rate;
    g->max = cfg->max_connections;
    unsigned reserve = g->max / 8 ? g->max / 8 : 1;
    g->soft = g->max - reserve;
    g->keep_free = reserve / 4 ? reserve / 4 : 1;
    for (g->nbuckets = 64; g->nbuckets < g->max; g->nbuckets *= 2)
        ;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->cond, &ca);
    pthread_condattr_destroy(&ca);
    if (!(g->buckets = calloc(g->nbuckets, sizeof *g->buckets)))
        goto out;
    rc = SRV_ERUNTIME;
    if (pthread_create(&g->reaper, NULL, reaper_main, g) != 0)
        goto out;
    g->reaper_running = 1;
    *out = g;
    g = NULL;
    rc = SRV_OK;
out:
    srv_conn_guard_stop(g);
    return rc;
}

void srv_conn_guard_stop(struct srv_conn_guard *g)
{
    if (!g)
        return;
    if (g->reaper_running) {
        pthread_mutex_lock(&g->lock);
        g->stopping = 1;
        pthread_cond_signal(&g->cond);
        pthread_mutex_unlock(&g->lock);
        pthread_join(g->reaper, NULL);
    }
    /* libmicrohttpd has stopped and reported every connection closed: the table is empty. */
    for (size_t i = 0; g->buckets && i < g->nbuckets; i++)
        while (g->buckets[i]) {
            struct addr_slot *s = g->buckets[i];
            g->buckets[i] = s->next;
            free(s);
        }
    free(g->buckets);
    pthread_cond_destroy(&g->cond);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

int srv_conn_guard_admit(struct srv_conn_guard *g, const struct sockaddr *sa)
{
    uint8_t key[KEY_LEN];
    int admit = 1;
    addr_key(sa, key);
    pthread_mutex_lock(&g->lock);
    if (g->total - g->shut >= g->soft) {
        struct addr_slot *s = slot_find(g, key, 0);
        if (s && s->n >= FEW) {
            admit = 0;
            g->refused++;
        } else {
            evict_slowest(g);
        }
    }
    pthread_mutex_unlock(&g->lock);
    return admit;
}

struct srv_conn *srv_conn_open(struct srv_conn_guard *g, int fd, const struct sockaddr *sa)
{
    uint8_t key[KEY_LEN];
    struct srv_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL; /* the connection goes unguarded, as it would have before */
    c->g = g;
    c->fd = fd;
    srv_conn_idle(c);
    addr_key(sa, key);
    pthread_mutex_lock(&g->lock);
    if ((c->addr = slot_find(g, key, 1)))
        c->addr->n++;
    c->next = g->head;
    if (g->head)
        g->head->prev = c;
    g->head = c;
    g->total++;
    pthread_mutex_unlock(&g->lock);
    return c;
}

void srv_conn_close(struct srv_conn *c)
{
    if (!c)
        return;
    struct srv_conn_guard *g = c->g;
    pthread_mutex_lock(&g->lock);
    if (c->prev)
        c->prev->next = c->next;
    else
        g->head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    g->total--;
    if (c->shut)
        g->shut--;
    slot_release(g, c->addr);
    pthread_mutex_unlock(&g->lock);
    free(c);
}

/* The per-request calls below are a few relaxed stores by the connection's own HTTP thread. */

void srv_conn_idle(struct srv_conn *c)
{
    if (!c)
        return;
    int64_t now = now_ms();
    atomic_store_explicit(&c->deadline_ms, now + c->g->header_ms, memory_order_relaxed);
    atomic_store_explicit(&c->since_ms, now, memory_order_relaxed);
    atomic_store_explicit(&c->phase, CP_HEADERS, memory_order_relaxed);
}

void srv_conn_body_begin(struct srv_conn *c)
{
    if (!c)
        return;
    int64_t now = now_ms();
    c->body_start_ms = now;
    c->body_bytes = 0;
    atomic_store_explicit(&c->deadline_ms, now + c->g->body_ms, memory_order_relaxed);
    atomic_store_explicit(&c->since_ms, now, memory_order_relaxed);
    atomic_store_explicit(&c->phase, CP_BODY, memory_order_relaxed);
}

void srv_conn_body_received(struct srv_conn *c, size_t n)
{
    if (!c)
        return;
    const struct srv_conn_guard *g = c->g;
    c->body_bytes += n;
    int64_t grace = (int64_t)(c->body_bytes / (uint64_t)g->min_rate) * 1000;
    if (g->body_ms + grace > g->body_max_ms)
        grace = g->body_max_ms - g->body_ms;
    atomic_store_explicit(&c->deadline_ms, c->body_start_ms + g->body_ms + grace,
                          memory_order_relaxed);
}

void srv_conn_handling(struct srv_conn *c)
{
    if (!c)
        return;
    atomic_store_explicit(&c->phase, CP_HANDLING, memory_order_relaxed);
    atomic_store_explicit(&c->deadline_ms, 0, memory_order_relaxed);
}
