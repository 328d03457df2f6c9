/* Batched audit events: the token endpoint issues ~15k tokens a second from the secret cache, and
 * a write transaction per token would cost an fsync each. Events are built at once (id and time,
 * so their order and timestamps are those of the requests) and copied into a bounded queue that
 * is written in one transaction per batch: by the main loop each second, by a flusher thread as
 * soon as the queue is half full, and at shutdown. HTTP threads never wait for the disk (a batch
 * of 2048 events takes ~40 ms to write). Two buffers take turns, so enqueuers keep going while a
 * batch is written; an event that finds the queue full is written at once, so none is lost for
 * want of room.
 *
 * While the database cannot be reached (STORE_EUNAVAILABLE) a batch goes back to the front of the
 * queue and is written at a later flush, once it is back: events wait in memory, the oldest first.
 * Meanwhile an event that finds the queue full is lost (counted, and the count logged once the
 * store answers again) rather than written at once, which would hold its request for the store's
 * timeout; and the failure is logged once, not at every flush (srv_chore_done). */
#define LOG_MODULE "audit"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

struct srv_audit_queue {
    struct srv_ctx *ctx;
    pthread_mutex_t lock; /* guards pending, n, wanted, stop */
    pthread_cond_t wake;  /* wanted or stop was set */
    size_t cap;
    struct store_audit_event *pending; /* filled by enqueuers */
    size_t n;
    int wanted; /* the flusher should write a batch now */
    int stop;
    int failing;      /* the store could not be reached at the last write; guarded by lock */
    uint64_t dropped; /* events lost for want of room while failing; guarded by lock */
    pthread_mutex_t flush_lock;      /* one batch written at a time; guards batch and chore */
    struct store_audit_event *batch; /* being written */
    struct srv_chore chore;
    pthread_t flusher;
    int started;
};

struct batch_args {
    const struct store_audit_event *ev;
    size_t n;
};

/* Re-runnable: store_write() may run it again after growing the map, and an aborted run leaves
 * nothing behind, so appending the same events again is right. */
static int batch_txn(struct store_txn *txn, void *arg)
{
    struct batch_args *a = arg;
    return store_audit_append_many(txn, a->ev, a->n);
}

/* Writes n events in one transaction. Any failure but an unreachable database loses them (with
 * one error line): they would fail again. */
static int write_events(struct store *st, const struct store_audit_event *ev, size_t n)
{
    struct batch_args a = {ev, n};
    int rc = store_write(st, batch_txn, &a);
    if (rc != STORE_OK && rc != STORE_EUNAVAILABLE)
        LOG(SRV_LOG_ERROR, "%zu audit event(s) (the first %s) could not be written: %s", n,
            ev[0].type, store_strerror(rc));
    return rc;
}

/* The n events of the batch the store could not take go back in front of those queued since
 * (they are older); when both do not fit, the newest queued are lost and counted. */
static void requeue(struct srv_audit_queue *q, size_t n)
{
    pthread_mutex_lock(&q->lock);
    size_t kept = q->n < q->cap - n ? q->n : q->cap - n; /* n <= cap: a batch is one buffer */
    memmove(q->pending + n, q->pending, kept * sizeof *q->pending);
    memcpy(q->pending, q->batch, n * sizeof *q->pending);
    q->dropped += q->n - kept;
    q->n = n + kept;
    q->failing = 1;
    pthread_mutex_unlock(&q->lock);
}

/* Swaps the buffers and writes what was pending. */
static void flush_queue(struct srv_audit_queue *q)
{
    uint64_t dropped = 0;
    pthread_mutex_lock(&q->flush_lock);
    pthread_mutex_lock(&q->lock);
    struct store_audit_event *taken = q->pending;
    size_t n = q->n;
    q->pending = q->batch;
    q->batch = taken;
    q->n = 0;
    pthread_mutex_unlock(&q->lock);
    int rc = n ? write_events(q->ctx->store, q->batch, n) : STORE_OK;
    if (rc == STORE_EUNAVAILABLE) {
        requeue(q, n);
    } else if (n) {
        pthread_mutex_lock(&q->lock);
        q->failing = 0;
        dropped = q->dropped;
        q->dropped = 0;
        pthread_mutex_unlock(&q->lock);
    }
    if (n)
        srv_chore_done(&q->chore, rc != STORE_EUNAVAILABLE,
                       "the database cannot be reached; the events wait in memory");
    if (dropped)
        LOG(SRV_LOG_ERROR,
            "%llu audit event(s) were lost: the queue was full while the store could not be "
            "reached",
            (unsigned long long)dropped);
    pthread_mutex_unlock(&q->flush_lock);
}

static void *flusher_main(void *arg)
{
    struct srv_audit_queue *q = arg;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        while (!q->wanted && !q->stop)
            pthread_cond_wait(&q->wake, &q->lock);
        if (q->stop)
            break;
        q->wanted = 0;
        pthread_mutex_unlock(&q->lock);
        flush_queue(q);
        pthread_mutex_lock(&q->lock);
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

static void queue_free(struct srv_audit_queue *q)
{
    if (!q)
        return;
    pthread_mutex_destroy(&q->lock);
    pthread_mutex_destroy(&q->flush_lock);
    pthread_cond_destroy(&q->wake);
    free(q->pending);
    free(q->batch);
    free(q);
}

int srv_audit_queue_start(struct srv_ctx *ctx, size_t cap)
{
    struct srv_audit_queue *q = calloc(1, sizeof *q);
    if (!q || cap < 2)
        goto fail_alloc;
    q->ctx = ctx;
    q->cap = cap;
    q->chore = (struct srv_chore){LOG_MODULE, "audit flush", 0};
    q->pending = calloc(cap, sizeof *q->pending);
    q->batch = calloc(cap, sizeof *q->batch);
    if (!q->pending || !q->batch)
        goto fail_alloc;
    pthread_mutex_init(&q->lock, NULL);
    pthread_mutex_init(&q->flush_lock, NULL);
    pthread_cond_init(&q->wake, NULL);
    if (srv_audit_tally_new(ctx->cfg ? ctx->cfg->audit_token_interval : 0, &ctx->audit_tally) !=
        SRV_OK) {
        queue_free(q);
        return SRV_ERUNTIME;
    }
    if (pthread_create(&q->flusher, NULL, flusher_main, q) != 0) {
        srv_audit_tally_free(ctx->audit_tally);
        ctx->audit_tally = NULL;
        queue_free(q);
        return SRV_ERUNTIME;
    }
    q->started = 1;
    ctx->audit_queue = q;
    return SRV_OK;
fail_alloc:
    if (q) {
        free(q->pending);
        free(q->batch);
    }
    free(q);
    return SRV_ERUNTIME;
}

void srv_audit_queue_stop(struct srv_ctx *ctx)
{
    struct srv_audit_queue *q = ctx->audit_queue;
    if (!q)
        return;
    pthread_mutex_lock(&q->lock);
    q->stop = 1;
    pthread_cond_signal(&q->wake);
    pthread_mutex_unlock(&q->lock);
    if (q->started)
        pthread_join(q->flusher, NULL);
    srv_audit_tally_emit(ctx, 1); /* every count, however young */
    srv_audit_tally_free(ctx->audit_tally);
    ctx->audit_tally = NULL;
    flush_queue(q);
    if (q->n) /* the store still cannot be reached, and no one is left to retry */
        LOG(SRV_LOG_ERROR, "%zu audit event(s) could not be written before stopping", q->n);
    ctx->audit_queue = NULL;
    queue_free(q);
}

void srv_audit_flush(struct srv_ctx *ctx)
{
    srv_audit_tally_emit(ctx, 0);
    if (ctx->audit_queue)
        flush_queue(ctx->audit_queue);
}

void srv_audit_enqueue(struct srv_ctx *ctx, const char *type, const char *actor, const char *target,
                       const char *client_ip, int success, const char *detail)
{
    struct srv_audit_queue *q = ctx->audit_queue;
    struct store_audit_event ev;
    int queued = 0;
    if (srv_audit_event_fill(&ev, type, actor, target, client_ip, success, detail) != STORE_OK) {
        LOG(SRV_LOG_ERROR, "audit event %s: no id could be made", type);
        return;
    }
    if (q) {
        pthread_mutex_lock(&q->lock);
        if (q->n < q->cap) {
            q->pending[q->n++] = ev;
            queued = 1;
            /* while failing, the main loop's flush each second is the retry: a woken flusher
             * would fail again at once */
            if (q->n >= q->cap / 2 && !q->wanted && !q->failing) {
                q->wanted = 1;
                pthread_cond_signal(&q->wake);
            }
        } else if (q->failing) {
            q->dropped++; /* lost, not written at once: see the top of the file */
            queued = 1;
        }
        pthread_mutex_unlock(&q->lock);
    }
    if (queued)
        return;
    int rc = write_events(ctx->store, &ev, 1);
    if (rc == STORE_EUNAVAILABLE && q) {
        pthread_mutex_lock(&q->lock);
        q->failing = 1;
        q->dropped++; /* logged with the flush that writes again */
        pthread_mutex_unlock(&q->lock);
    } else if (rc == STORE_EUNAVAILABLE) {
        LOG(SRV_LOG_ERROR, "audit event %s could not be written: %s", type, store_strerror(rc));
    }
}
