/* A bounded pool of worker threads for CPU-heavy work (Argon2), so no HTTP thread waits behind
 * it. The workers run at the lowest priority (SCHED_IDLE, or a nice value): when a login storm
 * keeps them busy, the scheduler still hands a core to an HTTP thread as soon as a request
 * arrives, so JWKS and client-credentials latency stay near what they are without the storm
 * (bench/run measures it). The price is paid by the storm: Argon2 gets what cores are left. The
 * queue capacity is enforced by reservation: a request reserves its slot before it suspends its
 * connection, so submitting can never fail half-way. */
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "server/internal.h"

struct job {
    void (*fn)(void *arg);
    void *arg;
};

struct srv_workers {
    int idle; /* SCHED_IDLE, applied by each worker thread to itself */
    int nice; /* else this nice value */
    pthread_mutex_t lock;
    pthread_cond_t ready;
    struct job *ring;
    unsigned cap, head, count, reserved;
    int stopping;
    int drained; /* the threads are joined */
    unsigned nthreads;
    pthread_t *threads;
};

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
        struct job j = w->ring[w->head];
        w->head = (w->head + 1) % w->cap;
        w->count--;
        w->reserved--;
        pthread_mutex_unlock(&w->lock);
        j.fn(j.arg);
        pthread_mutex_lock(&w->lock);
        if (w->stopping && w->reserved == 0)
            pthread_cond_broadcast(&w->ready);
        pthread_mutex_unlock(&w->lock);
    }
}

int srv_workers_start(unsigned threads, unsigned queue_cap, int idle, unsigned nice,
                      struct srv_workers **out)
{
    struct srv_workers *w = calloc(1, sizeof *w);
    if (!w)
        return SRV_ERUNTIME;
    w->idle = idle;
    w->nice = (int)nice;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->ready, NULL);
    w->cap = queue_cap;
    w->ring = calloc(queue_cap, sizeof *w->ring);
    w->threads = calloc(threads, sizeof *w->threads);
    if (!w->ring || !w->threads)
        goto fail;
    for (; w->nthreads < threads; w->nthreads++)
        if (pthread_create(&w->threads[w->nthreads], NULL, worker_main, w) != 0)
            goto fail;
    *out = w;
    return SRV_OK;
fail:
    srv_workers_stop(w);
    return SRV_ERUNTIME;
}

int srv_workers_reserve(struct srv_workers *w)
{
    int ok = 0;
    pthread_mutex_lock(&w->lock);
    if (!w->stopping && w->reserved < w->cap) {
        w->reserved++;
        ok = 1;
    }
    pthread_mutex_unlock(&w->lock);
    return ok;
}

void srv_workers_submit(struct srv_workers *w, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&w->lock);
    w->ring[(w->head + w->count) % w->cap] = (struct job){fn, arg};
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
    free(w->ring);
    free(w->threads);
    free(w);
}
