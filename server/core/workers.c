/* A bounded pool of worker threads for CPU-heavy work (Argon2), so no HTTP thread waits behind
 * it. The workers run at the lowest priority (SCHED_IDLE, or a nice value): when a login storm
 * keeps them busy, the scheduler still hands a core to an HTTP thread as soon as a request
 * arrives, so JWKS and client-credentials latency stay near what they are without the storm
 * (bench/run measures it). The price is paid by the storm: Argon2 gets what cores are left.
 *
 * The queue is shared fairly (issue 12): each job belongs to a source (the client's address, an
 * IPv6 /64) and may name an account. A source may hold at most per_source waiting jobs and an
 * account per_account; beyond, the caller answers 429 at once, without hashing. Jobs
 * are taken round-robin over the sources that have some waiting, so a quiet client's login waits
 * behind one job per busy source rather than behind the whole storm.
 *
 * The queue capacity is enforced by reservation: a request reserves its slot before it suspends
 * its connection, so submitting can never fail half-way. Sources and accounts are kept as 64-bit
 * keyed hashes (SHA-256 under a per-process random salt), so no one can aim a name at another's
 * share. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/core/core.h"

struct job {
    void (*fn)(void *arg);
    void *arg;
    struct share *source, *account;
    struct job *next;
};

/* A source's or an account's slots in use (reserved or queued; a running job holds none).
 * Sources also keep their waiting jobs and sit in the round-robin ring while they have some. */
struct share {
    uint64_t key;
    unsigned used;
    struct job *head, *tail;
    struct share *ring_next; /* in the ring of sources with waiting jobs */
    int in_ring;
    struct share *chain; /* hash bucket, or free list */
};

struct srv_workers {
    int idle; /* SCHED_IDLE, applied by each worker thread to itself */
    int nice; /* else this nice value */
    unsigned per_source, per_account;
    uint8_t salt[16];
    pthread_mutex_t lock;
    pthread_cond_t ready;
    unsigned cap, count, reserved;
    struct job *jobs, *free_jobs;
    struct share *shares, *free_shares, **buckets;
    size_t nbuckets;
    struct share *ring_head, *ring_tail;
    int stopping;
    int drained; /* the threads are joined */
    unsigned nthreads;
    pthread_t *threads;
};

static uint64_t share_key(const struct srv_workers *w, char tag, const char *name)
{
    uint8_t buf[16 + 1 + 512], d[CRYPTO_SHA256_LEN];
    size_t n = strlen(name);
    if (n > 512)
        n = 512;
    memcpy(buf, w->salt, 16);
    buf[16] = (uint8_t)tag;
    memcpy(buf + 17, name, n);
    crypto_sha256(buf, 17 + n, d);
    uint64_t k = 0;
    for (int i = 0; i < 8; i++)
        k = k << 8 | d[i];
    return k;
}

/* The share of key, made when absent (the pool holds two per slot, so it never runs out). */
static struct share *share_get(struct srv_workers *w, uint64_t key)
{
    struct share **b = &w->buckets[key & (w->nbuckets - 1)];
    for (struct share *s = *b; s; s = s->chain)
        if (s->key == key)
            return s;
    struct share *s = w->free_shares;
    w->free_shares = s->chain;
    memset(s, 0, sizeof *s);
    s->key = key;
    s->chain = *b;
    *b = s;
    return s;
}

static void share_put(struct srv_workers *w, struct share *s)
{
    if (!s || --s->used > 0)
        return;
    struct share **p = &w->buckets[s->key & (w->nbuckets - 1)];
    while (*p != s)
        p = &(*p)->chain;
    *p = s->chain;
    s->chain = w->free_shares;
    w->free_shares = s;
}

static void ring_append(struct srv_workers *w, struct share *s)
{
    s->ring_next = NULL;
    s->in_ring = 1;
    if (w->ring_tail)
        w->ring_tail->ring_next = s;
    else
        w->ring_head = s;
    w->ring_tail = s;
}

/* The next job, round-robin over the sources: a source with more waiting goes to the back. */
static struct job *take(struct srv_workers *w)
{
    struct share *s = w->ring_head;
    w->ring_head = s->ring_next;
    if (!w->ring_head)
        w->ring_tail = NULL;
    s->in_ring = 0;
    struct job *j = s->head;
    s->head = j->next;
    if (!s->head)
        s->tail = NULL;
    else
        ring_append(w, s);
    w->count--;
    return j;
}

static void *worker_main(void *arg)
{
    struct srv_workers *w = arg;
    /* SCHED_IDLE: a waking HTTP thread preempts the worker at once, instead of waiting up to a
     * scheduler tick as it may behind a merely niced one. Otherwise (worker_idle off) a nice
     * value, which on Linux belongs to a thread. Neither needs a privilege; should either fail,
     * the worker runs at normal priority, which is correct, only less isolated. */
    if (w->idle) {
        struct sched_param sp = {0};
        (void)pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
    } else if (w->nice) {
        (void)setpriority(PRIO_PROCESS, (id_t)gettid(), w->nice);
    }
    for (;;) {
        pthread_mutex_lock(&w->lock);
        while (w->count == 0 && !(w->stopping && w->reserved == 0))
            pthread_cond_wait(&w->ready, &w->lock);
        if (w->count == 0) { /* stopping and nothing more will come */
            pthread_mutex_unlock(&w->lock);
            return NULL;
        }
        /* The slot and the shares are given back as the job starts: the job's own answer may
         * bring the client's next request before this thread would take the lock again. */
        struct job *j = take(w);
        void (*fn)(void *) = j->fn;
        void *job_arg = j->arg;
        share_put(w, j->source);
        share_put(w, j->account);
        j->next = w->free_jobs;
        w->free_jobs = j;
        w->reserved--;
        pthread_mutex_unlock(&w->lock);
        fn(job_arg);
        pthread_mutex_lock(&w->lock);
        if (w->stopping && w->reserved == 0)
            pthread_cond_broadcast(&w->ready);
        pthread_mutex_unlock(&w->lock);
    }
}

int srv_workers_start(const struct srv_workers_config *cfg, struct srv_workers **out)
{
    struct srv_workers *w = calloc(1, sizeof *w);
    if (!w)
        return SRV_ERUNTIME;
    w->idle = cfg->idle;
    w->nice = (int)cfg->nice;
    w->per_source = cfg->per_source ? cfg->per_source : cfg->queue_cap;
    w->per_account = cfg->per_account ? cfg->per_account : cfg->queue_cap;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    w->cap = cfg->queue_cap;
    for (w->nbuckets = 16; w->nbuckets < 2 * (size_t)w->cap; w->nbuckets *= 2)
        ;
    w->jobs = calloc(w->cap, sizeof *w->jobs);
    w->shares = calloc(2 * (size_t)w->cap, sizeof *w->shares);
    w->buckets = calloc(w->nbuckets, sizeof *w->buckets);
    w->threads = calloc(cfg->threads, sizeof *w->threads);
    if (!w->jobs || !w->shares || !w->buckets || !w->threads ||
        crypto_random(w->salt, sizeof w->salt) != CRYPTO_OK)
        goto fail;
    for (unsigned i = 0; i < w->cap; i++) {
        w->jobs[i].next = w->free_jobs;
        w->free_jobs = &w->jobs[i];
    }
    for (size_t i = 0; i < 2 * (size_t)w->cap; i++) {
        w->shares[i].chain = w->free_shares;
        w->free_shares = &w->shares[i];
    }
    for (; w->nthreads < cfg->threads; w->nthreads++)
        if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) != 0)
            goto fail;
    *out = w;
    return SRV_OK;
fail:
    srv_workers_stop(w);
    return SRV_ERUNTIME;
}

enum srv_workers_admit srv_workers_reserve(struct srv_workers *w, const char *source,
                                           const char *account, struct srv_work_slot *slot)
{
    uint64_t skey = share_key(w, 's', source ? source : "");
    uint64_t akey = account ? share_key(w, 'a', account) : 0;
    enum srv_workers_admit rc = SRV_WORKERS_OK;
    memset(slot, 0, sizeof *slot);
    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->reserved >= w->cap) {
        rc = SRV_WORKERS_FULL;
        goto out;
    }
    struct share *s = share_get(w, skey);
    struct share *a = account ? share_get(w, akey) : NULL;
    if (s->used >= w->per_source || (a && a->used >= w->per_account)) {
        /* just made ones hold nothing: give them back */
        s->used++;
        share_put(w, s);
        if (a) {
            a->used++;
            share_put(w, a);
        }
        rc = SRV_WORKERS_SHARE;
        goto out;
    }
    s->used++;
    if (a)
        a->used++;
    w->reserved++;
    slot->source = s;
    slot->account = a;
out:
    pthread_mutex_unlock(&w->lock);
    return rc;
}

void srv_workers_submit(struct srv_workers *w, const struct srv_work_slot *slot,
                        void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&w->lock);
    struct job *j = w->free_jobs;
    w->free_jobs = j->next;
    *j = (struct job){fn, arg, slot->source, slot->account, NULL};
    struct share *s = slot->source;
    if (s->tail)
        s->tail->next = j;
    else
        s->head = j;
    s->tail = j;
    if (!s->in_ring)
        ring_append(w, s);
    w->count++;
    pthread_cond_signal(&w->ready);
    pthread_mutex_unlock(&w->lock);
}

void srv_workers_drain(struct srv_workers *w)
{
    if (!w || w->drained)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1; /* reserved jobs still run: their connections wait to be resumed */
    pthread_cond_broadcast(&w->ready);
    pthread_mutex_unlock(&w->lock);
    for (unsigned i = 0; i < w->nthreads; i++)
        pthread_join(w->threads[i], NULL);
    w->drained = 1;
}

void srv_workers_stop(struct srv_workers *w)
{
    if (!w)
        return;
    srv_workers_drain(w);
    pthread_cond_destroy(&w->ready);
    pthread_mutex_destroy(&w->lock);
    free(w->jobs);
    free(w->shares);
    free(w->buckets);
    free(w->threads);
    free(w);
}
