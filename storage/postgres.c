/* The PostgreSQL backend: several idpd nodes on one database.
 *
 * Tables: one per enum store_db, in the schema "idpd": (key bytea PRIMARY KEY, value bytea), so a
 * range walk is a btree range scan in bytea order, which is LMDB's order. Statements are
 * prepared once per connection, the first time a connection needs them; parameters and results
 * travel in binary, so keys and values are never escaped.
 *
 * Transactions: store_write() is one REPEATABLE READ transaction (snapshot isolation): two
 * transactions that write one row collide, and the later one gets 40001. idpd's callbacks read,
 * decide and write, and the record files make every decision rest on a row the transaction also
 * writes (kv.h: kv_update() rewrites what was read, kv_touch() writes the parent whose children
 * a walk counted or removed), which makes them behave as under SERIALIZABLE without its
 * page-level predicate locks: those made ~70 % of refresh rotations fail and rerun, all
 * colliding on the same few index pages. SQLSTATE 40001 and 40P01 run the callback again, on
 * the same connection, after a short random wait. store_read() is a REPEATABLE READ READ ONLY
 * transaction: one snapshot, as LMDB's readers see.
 *
 * Time bounds: every call on a connection waits at most timeout_ms (the connection is dropped
 * after that, which also makes the server abort its transaction); a call that finds the
 * database unreachable answers STORE_EUNAVAILABLE and nothing of the transaction is written.
 * A later call reconnects by itself.
 *
 * Other nodes: every write transaction that wrote something sends NOTIFY idpd_commits with this
 * process's node id and whether it wrote clients (":c") or not (":o"); a listener thread
 * advances the local generations (all, and the clients' for ":c") when another node's
 * notification arrives, and both after any gap in listening (a reconnect), and every tick while
 * it cannot listen, so caches validated by store_scope_generation() never outlive another
 * node's commit by more than the time the notification takes, or a listener tick when
 * notifications were lost. */
#include "storage/backend.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define SCHEMA "idpd"
#define CHANNEL "idpd_commits"
#define DEFAULT_CONNECTIONS 8
#define DEFAULT_TIMEOUT_MS 5000
#define LISTEN_TICK_MS 250   /* how often the listener checks its connection */
#define PING_EVERY_TICKS 4   /* … and proves it alive with a query (once a second) */
#define BATCH_FIRST 8        /* rows a cursor fetches at first … */
#define BATCH_MAX 256        /* … doubling up to this while it walks on */
#define MIGRATION_LOCK 7306  /* pg_advisory_lock key: schema upgrades, one node at a time */
#define NODE_ID_LEN 16       /* hex characters */
#define PENDING_MAX 32       /* statements a transaction may send before it reads their answers */
#define INSERT_ROWS_MAX 1000 /* rows per multi-row INSERT: 2,000 of 65,535 parameters */

/* Statements, prepared per connection and table as "<op><table>". */
enum pg_op {
    OP_GET,
    OP_PUT,
    OP_INSERT,
    OP_UPDATE,
    OP_TOUCH,
    OP_DEL,
    OP_FIRST, /* the walks, from here on, take a row limit first */
    OP_LAST,
    OP_GE,
    OP_GT,
    OP_LT,
    OP_COUNT
};

/* Each statement is head, the table's name, tail. */
static const char *const op_sql[OP_COUNT][2] = {
    [OP_GET] = {"SELECT value FROM " SCHEMA ".", " WHERE key = $1"},
    [OP_PUT] = {"INSERT INTO " SCHEMA ".",
                " (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = "
                "EXCLUDED.value"},
    [OP_INSERT] = {"INSERT INTO " SCHEMA ".",
                   " (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING"},
    [OP_UPDATE] = {"UPDATE " SCHEMA ".", " SET value = $2 WHERE key = $1"},
    /* a new row version, which is what makes two touching transactions collide */
    [OP_TOUCH] = {"UPDATE " SCHEMA ".", " SET value = value WHERE key = $1"},
    [OP_DEL] = {"DELETE FROM " SCHEMA ".", " WHERE key = $1"},
    [OP_FIRST] = {"SELECT key, value FROM " SCHEMA ".", " ORDER BY key LIMIT $1"},
    [OP_LAST] = {"SELECT key, value FROM " SCHEMA ".", " ORDER BY key DESC LIMIT $1"},
    [OP_GE] = {"SELECT key, value FROM " SCHEMA ".", " WHERE key >= $2 ORDER BY key LIMIT $1"},
    [OP_GT] = {"SELECT key, value FROM " SCHEMA ".", " WHERE key > $2 ORDER BY key LIMIT $1"},
    [OP_LT] = {"SELECT key, value FROM " SCHEMA ".", " WHERE key < $2 ORDER BY key DESC LIMIT $1"},
};
static const char op_letter[OP_COUNT] = {'g', 'p', 'i', 'u', 't', 'd', 'f', 'l', 'e', 'x', 'y'};

struct pg_conn {
    PGconn *pg;  /* NULL until connected, and after it broke */
    int fresh;   /* connected for the transaction about to begin */
    int pending; /* a read's COMMIT went out and its answer is still to be read */
    unsigned char prepared[DB_COUNT][OP_COUNT];
    struct pg_conn *next_idle;
};

struct pg_store {
    struct store base;
    char *url;
    unsigned timeout_ms;
    char node_id[NODE_ID_LEN + 1];

    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    struct pg_conn *conns; /* [max] */
    unsigned max, opened;  /* slots, slots handed out so far */
    struct pg_conn *idle;

    _Atomic uint64_t generation[2]; /* by enum store_scope */
    _Atomic uint64_t writes, attempts;
    _Atomic int reachable; /* what the last connection attempt or call found */

    pthread_t listener;
    int listener_started;
    struct pg_conn listen; /* the listener thread's, once it started */
    int stop_pipe[2];
};

/* A statement sent in a pipeline, so its answer can be read and judged. */
enum slot_kind {
    SLOT_BEGIN,
    SLOT_PREPARE, /* c->prepared[db][op] was set when it went out, and is undone if it failed */
    SLOT_WRITE,   /* a kv_put whose answer nothing waits for */
    SLOT_STATEMENT,
    SLOT_COMMIT, /* COMMIT, or the NOTIFY before it */
};
struct pg_slot {
    unsigned char kind, op;
    short db;
};

struct pg_txn {
    struct pg_store *ps;
    struct pg_conn *c;
    struct pg_memo *memo; /* the keys kv_get read or the transaction wrote, newest last */
    size_t nmemo, capmemo;
    uint64_t writes;   /* writes in this transaction so far: cursors refetch after one */
    int wrote_clients; /* a write to a table of STORE_SCOPE_CLIENTS */
    const char *begin_sql;
    int begun;                        /* BEGIN went out (with the first statement) and succeeded */
    struct pg_slot sent[PENDING_MAX]; /* statements in the open pipeline, answers unread */
    int nsent;
    uint64_t generation[2];
    int unavailable; /* the connection broke: the transaction is lost */
};

/* What one key holds inside the transaction, as read or as written: a second kv_get of it (a
 * refresh reads its session, its token and its user twice, in different record functions)
 * answers from here without a round trip, and the transaction's own writes keep it current, so
 * it never disagrees with the database inside the transaction. Key and value share one
 * allocation, which ends with the next write of that key (kv.h allows any write). */
struct pg_memo {
    enum store_db db;
    int present;
    size_t klen, vlen;
    unsigned char *key; /* then the value, at key + klen */
};

struct pg_cursor {
    struct kv_cursor base;
    PGresult *batch;
    int row, rows;
    int backward;   /* the batch runs in descending key order */
    int exhausted;  /* the batch held every remaining row in its direction */
    int positioned; /* last holds the key under the cursor */
    unsigned want;  /* rows the next fetch asks for */
    uint64_t writes_seen;
    unsigned char last[KV_KEY_MAX];
    size_t last_len;
};

static struct pg_store *pg_of(struct store *st)
{
    return (struct pg_store *)st;
}

/* A commit happened, or may have: every generation moves on, the clients' only when clients may
 * have changed. */
static void advance(struct pg_store *ps, int clients)
{
    atomic_fetch_add(&ps->generation[STORE_SCOPE_ALL], 1);
    if (clients)
        atomic_fetch_add(&ps->generation[STORE_SCOPE_CLIENTS], 1);
}

static struct pg_txn *txn_of(const struct store_txn *txn)
{
    return txn->impl;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- one connection: connect and call, each within a deadline ---- */

static void conn_drop(struct pg_conn *c)
{
    if (c->pg)
        PQfinish(c->pg);
    c->pg = NULL;
    memset(c->prepared, 0, sizeof c->prepared);
}

/* Waits until fd is ready for events or the deadline passes; 0 when ready. */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        struct pollfd p = {.fd = fd, .events = events};
        if (left <= 0)
            return -1;
        int n = poll(&p, 1, (int)(left > 1000 ? 1000 : left));
        if (n > 0)
            return 0;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

static int simple(struct pg_store *ps, struct pg_conn *c, struct store_txn *txn, const char *sql);

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static int connect_within(struct pg_store *ps, struct pg_conn *c, int64_t deadline)
{
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    static const char *const keys[] = {"application_name", "dbname", NULL};
    const char *values[] = {"idpd", ps->url, NULL};
    conn_drop(c);
    /* dbname holds the whole URI (expand_dbname); what it names overrides application_name */
    c->pg = PQconnectStartParams(keys, values, 1);
    if (!c->pg)
        return STORE_ENOMEM;
    if (PQstatus(c->pg) == CONNECTION_BAD)
        goto fail;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED)
            goto fail;
        if (wait_fd(PQsocket(c->pg), st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline)) {
            /* once per outage, as below: a hung server makes every attempt end here */
            if (atomic_exchange(&ps->reachable, 0))
                fprintf(stderr, "storage: postgres: no connection within %u ms\n", ps->timeout_ms);
            conn_drop(c);
            return STORE_EUNAVAILABLE;
        }
        st = PQconnectPoll(c->pg);
    }
    if (PQsetnonblocking(c->pg, 1) != 0)
        goto fail;
    /* NOTICEs ("already exists, skipping") are no news to an operator */
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    /* A node that stops mid-transaction (frozen, partitioned) must not hold its locks for
     * long: the server ends such a session. */
    if (simple(ps, c, NULL, "SET idle_in_transaction_session_timeout = '30s'") != STORE_OK) {
        conn_drop(c);
        return STORE_EUNAVAILABLE;
    }
    if (!atomic_exchange(&ps->reachable, 1))
        fprintf(stderr, "storage: postgres: connected again\n");
    c->fresh = 1;
    return STORE_OK;
fail:
    /* libpq's message names the host and the reason, never the password */
    if (atomic_exchange(&ps->reachable, 0))
        fprintf(stderr, "storage: postgres: cannot connect: %s", PQerrorMessage(c->pg));
    conn_drop(c);
    return STORE_EUNAVAILABLE;
}

/* Sends what libpq holds for c, within the deadline. 0, or -1. */
static int flush_out(struct pg_conn *c, int64_t deadline)
{
    int flushed;
    while ((flushed = PQflush(c->pg)) == 1)
        if (wait_fd(PQsocket(c->pg), POLLOUT, deadline))
            return -1;
    return flushed < 0 ? -1 : 0;
}

/* The next result on c into *r (NULL: the end of one statement's results), waiting for it
 * within the deadline. 0, or -1 when the connection broke or the time ran out. */
static int next_result(struct pg_conn *c, int64_t deadline, PGresult **r)
{
    *r = NULL;
    while (PQisBusy(c->pg))
        if (wait_fd(PQsocket(c->pg), POLLIN, deadline) || !PQconsumeInput(c->pg))
            return -1;
    *r = PQgetResult(c->pg);
    return 0;
}

/* c broke, or gave no answer in time: said once an outage, and dropped. */
static void conn_lost(struct pg_store *ps, struct pg_conn *c)
{
    if (atomic_exchange(&ps->reachable, 0))
        fprintf(stderr, "storage: postgres: connection lost or no answer within %u ms\n",
                ps->timeout_ms);
    conn_drop(c);
}

/* Waits for the answer to what was sent on c, within the deadline; returns the last result
 * (NULL when the connection broke or the time ran out: c is then dropped). */
static PGresult *await(struct pg_store *ps, struct pg_conn *c, int64_t deadline)
{
    PGresult *last = NULL, *r;
    if (flush_out(c, deadline))
        goto lost;
    for (;;) {
        if (next_result(c, deadline, &r))
            goto lost;
        if (!r)
            break;
        PQclear(last);
        last = r;
    }
    if (!last || PQstatus(c->pg) == CONNECTION_BAD)
        goto lost;
    return last;
lost:
    PQclear(last);
    conn_lost(ps, c);
    return NULL;
}

/* Classifies a result: STORE_OK, STORE_ERERUN (serialisation failure, deadlock: marks txn),
 * STORE_EUNAVAILABLE (the server is going away), STORE_EIO after one line on stderr. */
static int result_rc(struct store_txn *txn, PGresult *r, const char *what)
{
    ExecStatusType s = PQresultStatus(r);
    const char *state, *msg;
    if (s == PGRES_COMMAND_OK || s == PGRES_TUPLES_OK)
        return STORE_OK;
    state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (!state)
        state = "";
    if (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
        (strcmp(state, "25P02") == 0 && txn && txn->rerun)) {
        if (txn)
            txn->rerun = 1;
        return STORE_ERERUN;
    }
    /* class 08: connection exception; 57P0x: shutdown, crash, cannot connect now */
    if (strncmp(state, "08", 2) == 0 || strncmp(state, "57P", 3) == 0)
        return STORE_EUNAVAILABLE;
    /* the primary message only: a DETAIL line may quote a key */
    msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    fprintf(stderr, "storage: postgres: %s: %s (SQLSTATE %s)\n", what, msg ? msg : "error", state);
    return STORE_EIO;
}

/* Runs a statement without parameters (BEGIN, COMMIT, DDL) and returns its result code. */
static int simple(struct pg_store *ps, struct pg_conn *c, struct store_txn *txn, const char *sql)
{
    PGresult *r;
    int rc;
    if (!c->pg || !PQsendQuery(c->pg, sql))
        goto lost;
    r = await(ps, c, now_ms() + ps->timeout_ms);
    if (!r)
        goto lost;
    rc = result_rc(txn, r, sql);
    PQclear(r);
    if (rc == STORE_EUNAVAILABLE) /* the server is going away: this session is over */
        conn_drop(c);
    return rc;
lost:
    conn_drop(c);
    return STORE_EUNAVAILABLE;
}

/* Reads the answers of n statements sent in one pipeline and its sync: res[i] receives the
 * first result of statement i (the caller clears them). 0, or -1 when the connection broke or
 * the time ran out (c is then dropped, and res[] cleared). Leaves pipeline mode. */
static int collect(struct pg_store *ps, struct pg_conn *c, int64_t deadline, PGresult **res, int n)
{
    int i = 0;
    PGresult *r;
    if (flush_out(c, deadline))
        goto lost;
    for (;;) {
        if (next_result(c, deadline, &r))
            goto lost;
        if (!r) { /* the end of one statement's results */
            i++;
            continue;
        }
        if (PQresultStatus(r) == PGRES_PIPELINE_SYNC) {
            PQclear(r);
            break;
        }
        if (i < n && !res[i])
            res[i] = r;
        else
            PQclear(r);
    }
    if (!PQexitPipelineMode(c->pg) || PQstatus(c->pg) == CONNECTION_BAD)
        goto lost;
    return 0;
lost:
    for (int k = 0; k < n; k++) {
        PQclear(res[k]);
        res[k] = NULL;
    }
    conn_lost(ps, c);
    return -1;
}

/* ---- the pipeline: statements go out together, their answers are read together ----
 *
 * A write transaction's kv_put() has nothing to answer but an error, so it is sent and not
 * waited for; its answer is read with the next statement that has something to answer (a read,
 * a delete, an update, COMMIT), in the same round trip. The transaction's BEGIN and a statement's
 * first PREPARE on a connection go out the same way. A refresh rotation's six writes in a row
 * cost one round trip, not six. An error in a write sent earlier is the error of the statement
 * whose answer came with it: the transaction is doomed either way (kv.h). */

/* Queues a statement: out on the wire, its slot recorded. */
static int queue(struct pg_txn *t, enum slot_kind kind, enum store_db db, enum pg_op op)
{
    if (t->nsent == PENDING_MAX)
        return -1;
    t->sent[t->nsent++] =
        (struct pg_slot){.kind = (unsigned char)kind, .op = (unsigned char)op, .db = (short)db};
    return 0;
}

/* Sends op on table db in the pipeline, after BEGIN when the transaction has not begun and after
 * its PREPARE when the connection has not prepared it. 0, or -1 when the connection broke (it is
 * dropped). */
static int send_op(struct pg_txn *t, enum slot_kind kind, enum store_db db, enum pg_op op, int n,
                   const char *const *values, const int *lengths, const int *formats)
{
    struct pg_conn *c = t->c;
    char name[16], sql[256];
    if (t->nsent + 3 > PENDING_MAX)
        return -1; /* the callers settle() before the pipeline is this full */
    if (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg))
        goto lost;
    if (!t->begun && !(t->nsent && t->sent[0].kind == SLOT_BEGIN)) {
        if (!PQsendQueryParams(c->pg, t->begin_sql, 0, NULL, NULL, NULL, NULL, 0))
            goto lost;
        queue(t, SLOT_BEGIN, db, op);
    }
    snprintf(name, sizeof name, "%c%d", op_letter[op], (int)db);
    if (!c->prepared[db][op]) {
        snprintf(sql, sizeof sql, "%s%s%s", op_sql[op][0], store_db_names[db], op_sql[op][1]);
        if (!PQsendPrepare(c->pg, name, sql, 0, NULL))
            goto lost;
        c->prepared[db][op] = 1;
        queue(t, SLOT_PREPARE, db, op);
    }
    if (!PQsendQueryPrepared(c->pg, name, n, values, lengths, formats, 1))
        goto lost;
    queue(t, kind, db, op);
    return 0;
lost:
    conn_drop(c);
    return -1;
}

/* Ends the pipeline with a sync and reads every answer in it into res[] (t->sent[] says what
 * each was), which the caller clears. The first failure is the result (classified by
 * result_rc(), which marks a rerun); statements after it were skipped by the server. */
static int settle_into(struct store_txn *txn, PGresult **res)
{
    struct pg_txn *t = txn_of(txn);
    struct pg_conn *c = t->c;
    int n = t->nsent, rc = STORE_OK;

    if (!n)
        return STORE_OK;
    t->nsent = 0;
    if (!c->pg || !PQpipelineSync(c->pg) ||
        collect(t->ps, c, now_ms() + t->ps->timeout_ms, res, n)) {
        conn_drop(c);
        t->unavailable = 1;
        return STORE_EUNAVAILABLE;
    }
    for (int i = 0; i < n; i++) {
        const struct pg_slot *sl = &t->sent[i];
        int ok = res[i] && (PQresultStatus(res[i]) == PGRES_COMMAND_OK ||
                            PQresultStatus(res[i]) == PGRES_TUPLES_OK);
        if (sl->kind == SLOT_PREPARE && !ok)
            c->prepared[sl->db][sl->op] = 0;
        if (sl->kind == SLOT_BEGIN && ok)
            t->begun = 1;
        if (rc == STORE_OK && !ok)
            rc = !res[i] ? STORE_EIO
                         : result_rc(txn, res[i],
                                     sl->kind == SLOT_BEGIN    ? "BEGIN"
                                     : sl->kind == SLOT_COMMIT ? "COMMIT"
                                                               : store_db_names[sl->db]);
    }
    if (rc == STORE_EUNAVAILABLE) {
        conn_drop(c);
        t->unavailable = 1;
    }
    return rc;
}

/* settle_into(), keeping only the last statement's result in *last (when not NULL), if all
 * went well; the caller clears it. */
static int settle(struct store_txn *txn, PGresult **last)
{
    PGresult *res[PENDING_MAX] = {NULL};
    int n = txn_of(txn)->nsent;
    int rc = settle_into(txn, res);
    if (last)
        *last = NULL;
    if (rc == STORE_OK && last && n) {
        *last = res[n - 1];
        res[n - 1] = NULL;
    }
    for (int i = 0; i < n; i++)
        PQclear(res[i]);
    return rc;
}

/* Sends op with its parameters and reads its answer with everything queued before it. */
static int send_and_settle(struct store_txn *txn, enum store_db db, enum pg_op op, int n,
                           const char *const *values, const int *lengths, const int *formats,
                           PGresult **out)
{
    struct pg_txn *t = txn_of(txn);
    int rc = t->nsent + 3 > PENDING_MAX ? settle(txn, NULL) : STORE_OK;
    if (rc)
        return rc;
    if (send_op(t, SLOT_STATEMENT, db, op, n, values, lengths, formats)) {
        t->nsent = 0;
        t->unavailable = 1;
        return STORE_EUNAVAILABLE;
    }
    return settle(txn, out);
}

/* The parameters of op: for walks the row limit first (text), then up to two keys or values
 * (binary). */
static int params(enum pg_op op, unsigned limit, char *limit_text, const struct kv_val *p1,
                  const struct kv_val *p2, const char **values, int *lengths, int *formats)
{
    int n = 0;
    if (op >= OP_FIRST) {
        snprintf(limit_text, 16, "%u", limit);
        values[n] = limit_text;
        lengths[n] = 0;
        formats[n++] = 0;
    }
    for (const struct kv_val *p = p1; p; p = p == p1 ? p2 : NULL) {
        values[n] = p->len ? p->data : "";
        lengths[n] = (int)p->len;
        formats[n++] = 1;
    }
    return n;
}

/* Runs op on table db of the transaction's connection with up to two binary parameters (and,
 * for walks, the row limit first). *out receives the result, which the caller clears. */
static int call(struct store_txn *txn, enum store_db db, enum pg_op op, unsigned limit,
                const struct kv_val *p1, const struct kv_val *p2, PGresult **out)
{
    struct pg_txn *t = txn_of(txn);
    struct pg_store *ps = t->ps;
    const char *values[3];
    int lengths[3], formats[3], n, rc;
    char limit_text[16];

    *out = NULL;
    if (t->unavailable)
        return STORE_EUNAVAILABLE;
    if (!t->c->pg) {
        /* lost before this transaction sent anything: connect again; lost within it: over */
        if (t->begun || connect_within(ps, t->c, now_ms() + ps->timeout_ms) != STORE_OK) {
            t->unavailable = 1;
            return STORE_EUNAVAILABLE;
        }
    }
    n = params(op, limit, limit_text, p1, p2, values, lengths, formats);
    if (t->begun)
        return send_and_settle(txn, db, op, n, values, lengths, formats, out);
    int64_t start = now_ms();
    int fresh = t->c->fresh;
    t->c->fresh = 0;
    rc = send_and_settle(txn, db, op, n, values, lengths, formats, out);
    /* A pooled connection may have died while it waited (the database restarted): one that
     * failed at once is replaced and the statement sent again, so a restart costs no request a
     * 503. One that gave no answer in time meets a database that hangs, and waiting again
     * would double the time a request takes to learn it. */
    if (rc == STORE_EUNAVAILABLE && !fresh && now_ms() - start < ps->timeout_ms / 4 &&
        connect_within(ps, t->c, start + ps->timeout_ms) == STORE_OK) {
        t->c->fresh = 0;
        t->unavailable = 0;
        rc = send_and_settle(txn, db, op, n, values, lengths, formats, out);
    }
    return rc;
}

/* A kv_put() of a transaction that has begun: sent, not waited for (see the pipeline above). */
static int call_deferred(struct store_txn *txn, enum store_db db, const struct kv_val *key,
                         const struct kv_val *val)
{
    struct pg_txn *t = txn_of(txn);
    const char *values[2];
    int lengths[2], formats[2], n;
    char limit_text[16];
    if (t->unavailable || !t->c->pg) {
        t->unavailable = 1;
        return STORE_EUNAVAILABLE;
    }
    if (t->nsent + 3 > PENDING_MAX) {
        int rc = settle(txn, NULL);
        if (rc)
            return rc;
    }
    n = params(OP_PUT, 0, limit_text, key, val, values, lengths, formats);
    if (send_op(t, SLOT_WRITE, db, OP_PUT, n, values, lengths, formats)) {
        t->nsent = 0;
        t->unavailable = 1;
        return STORE_EUNAVAILABLE;
    }
    return STORE_OK;
}

/* ---- the pool ---- */

static int acquire(struct pg_store *ps, struct pg_conn **out)
{
    int64_t deadline = now_ms() + ps->timeout_ms;
    struct timespec until;
    struct pg_conn *c = NULL;
    int rc = STORE_OK;

    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += ps->timeout_ms / 1000;
    until.tv_nsec += (long)(ps->timeout_ms % 1000) * 1000000;
    if (until.tv_nsec >= 1000000000) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000;
    }
    pthread_mutex_lock(&ps->pool_lock);
    while (!ps->idle && ps->opened == ps->max)
        if (pthread_cond_timedwait(&ps->pool_cond, &ps->pool_lock, &until) == ETIMEDOUT)
            break;
    if (ps->idle) {
        c = ps->idle;
        ps->idle = c->next_idle;
    } else if (ps->opened < ps->max) {
        c = &ps->conns[ps->opened++];
    }
    pthread_mutex_unlock(&ps->pool_lock);
    if (!c) {
        fprintf(stderr, "storage: postgres: no free connection within %u ms\n", ps->timeout_ms);
        return STORE_EUNAVAILABLE;
    }
    if (!c->pg || PQstatus(c->pg) != CONNECTION_OK)
        rc = connect_within(ps, c, deadline);
    *out = c;
    return rc; /* on failure the caller still releases c */
}

static void release(struct pg_store *ps, struct pg_conn *c)
{
    pthread_mutex_lock(&ps->pool_lock);
    c->next_idle = ps->idle;
    ps->idle = c;
    pthread_cond_signal(&ps->pool_cond);
    pthread_mutex_unlock(&ps->pool_lock);
}

/* ---- transactions ---- */

static void memo_clear(struct pg_txn *t)
{
    for (size_t i = 0; i < t->nmemo; i++)
        free(t->memo[i].key);
    t->nmemo = 0;
}

static struct pg_memo *memo_find(struct pg_txn *t, enum store_db db, struct kv_val key)
{
    for (size_t i = t->nmemo; i-- > 0;) {
        struct pg_memo *m = &t->memo[i];
        if (m->db == db && m->klen == key.len && memcmp(m->key, key.data, key.len) == 0)
            return m;
    }
    return NULL;
}

/* Forgets what the transaction knew of key (a write whose outcome it cannot tell). */
static void memo_forget(struct pg_txn *t, enum store_db db, struct kv_val key)
{
    struct pg_memo *m = memo_find(t, db, key);
    if (!m)
        return;
    free(m->key);
    *m = t->memo[--t->nmemo];
}

/* Records that key holds val (present) or nothing; on a shortage it only forgets, which costs a
 * round trip later and nothing else. */
static void memo_set(struct pg_txn *t, enum store_db db, struct kv_val key, int present,
                     const void *val, size_t vlen)
{
    struct pg_memo *m;
    unsigned char *buf;
    memo_forget(t, db, key);
    if (!present)
        vlen = 0;
    if (t->nmemo == t->capmemo) {
        size_t cap = t->capmemo ? t->capmemo * 2 : 16;
        struct pg_memo *grown = realloc(t->memo, cap * sizeof *grown);
        if (!grown)
            return;
        t->memo = grown;
        t->capmemo = cap;
    }
    buf = malloc(key.len + vlen + 1); /* + 1: an empty value still gets a pointer */
    if (!buf)
        return;
    memcpy(buf, key.data, key.len);
    if (vlen)
        memcpy(buf + key.len, val, vlen);
    m = &t->memo[t->nmemo++];
    *m = (struct pg_memo){.db = db, .present = present, .klen = key.len, .vlen = vlen, .key = buf};
}

/* Sleeps a little before a rerun, longer after each, so colliding writers spread out. */
static void backoff(unsigned attempt)
{
    unsigned cap_us = 200u << (attempt < 6 ? attempt : 6), r = 0;
    if (getrandom(&r, sizeof r, 0) != sizeof r)
        r = (unsigned)now_ms();
    usleep(50 + r % cap_us);
}

/* Reads the answer to a read's COMMIT, sent without waiting at the end of the transaction
 * that used c before; it has usually arrived meanwhile. A connection lost there is dropped, and
 * the next statement connects again. */
static void read_commit_answer(struct pg_store *ps, struct pg_conn *c)
{
    PGresult *r;
    if (!c->pending)
        return;
    c->pending = 0;
    r = c->pg ? await(ps, c, now_ms() + ps->timeout_ms) : NULL;
    PQclear(r);
}

/* For the statements that do not go through the pipeline (a multi-row insert, DDL, listing
 * tables, a ping): the answers still unread, then BEGIN alone if the transaction has not
 * begun. */
static int ensure_begun(struct store_txn *txn)
{
    struct pg_txn *t = txn_of(txn);
    int rc = settle(txn, NULL);
    if (rc || t->begun)
        return rc;
    t->c->fresh = 0;
    if (!t->c->pg && connect_within(t->ps, t->c, now_ms() + t->ps->timeout_ms) != STORE_OK) {
        t->unavailable = 1;
        return STORE_EUNAVAILABLE;
    }
    rc = simple(t->ps, t->c, txn, t->begin_sql);
    if (rc == STORE_OK)
        t->begun = 1;
    else if (rc == STORE_EUNAVAILABLE)
        t->unavailable = 1;
    return rc;
}

/* COMMIT of a write transaction in one round trip with the writes still unanswered and, when
 * payload is not NULL, the NOTIFY of other nodes (delivered at commit, and only if it succeeds). */
static int commit_write(struct store_txn *txn, const char *payload)
{
    struct pg_txn *t = txn_of(txn);
    struct pg_conn *c = t->c;
    const char *values[2] = {CHANNEL, payload};
    int rc = t->nsent + 2 > PENDING_MAX ? settle(txn, NULL) : STORE_OK;
    if (rc)
        return rc;
    if (!c->pg || (PQpipelineStatus(c->pg) == PQ_PIPELINE_OFF && !PQenterPipelineMode(c->pg)))
        goto lost;
    if (payload) {
        if (!PQsendQueryParams(c->pg, "SELECT pg_notify($1, $2)", 2, NULL, values, NULL, NULL, 0))
            goto lost;
        queue(t, SLOT_COMMIT, 0, 0);
    }
    if (!PQsendQueryParams(c->pg, "COMMIT", 0, NULL, NULL, NULL, NULL, 0))
        goto lost;
    queue(t, SLOT_COMMIT, 0, 0);
    return settle(txn, NULL);
lost:
    conn_drop(c);
    t->nsent = 0;
    t->unavailable = 1;
    return STORE_EUNAVAILABLE;
}

static int run(struct store *st, int write, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    struct pg_store *ps = pg_of(st);
    struct pg_conn *c = NULL;
    struct pg_txn t = {.ps = ps};
    struct store_txn txn = {.st = st, .impl = &t, .write = write};
    int64_t deadline = now_ms() + ps->timeout_ms;
    int rc;

    if (write)
        atomic_fetch_add(&ps->writes, 1);
    rc = acquire(ps, &c);
    if (rc)
        goto out;
    t.c = c;
    for (unsigned attempt = 0;; attempt++) {
        if (write)
            atomic_fetch_add(&ps->attempts, 1);
        t.generation[STORE_SCOPE_ALL] = atomic_load(&ps->generation[STORE_SCOPE_ALL]);
        t.generation[STORE_SCOPE_CLIENTS] = atomic_load(&ps->generation[STORE_SCOPE_CLIENTS]);
        t.writes = 0;
        t.wrote_clients = 0;
        txn.rerun = 0;
        t.begun = 0;
        t.begin_sql = write ? "BEGIN ISOLATION LEVEL REPEATABLE READ"
                            : "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
        read_commit_answer(ps, c);
        /* BEGIN goes out with the first statement (send_op) */
        memo_clear(&t);
        rc = store_run_callback(fn, &txn, arg);
        if (t.unavailable) {
            rc = STORE_EUNAVAILABLE;
            break;
        }
        if (!t.begun) {
            /* no statement reached the database: nothing to end */
        } else if (!write) {
            /* a snapshot has nothing to commit: COMMIT goes out now and its answer is read
             * when the connection is used next (read_commit_answer), so a read costs one round
             * trip */
            if (PQsendQuery(c->pg, "COMMIT") && PQflush(c->pg) >= 0)
                c->pending = 1;
            else
                conn_drop(c);
        } else if (rc == STORE_OK && !txn.rerun) {
            /* the payload: who committed, and whether clients changed */
            char payload[NODE_ID_LEN + 3];
            snprintf(payload, sizeof payload, "%s:%c", ps->node_id, t.wrote_clients ? 'c' : 'o');
            rc = commit_write(&txn, t.writes ? payload : NULL);
            if (rc == STORE_OK && t.writes)
                advance(ps, t.wrote_clients);
        } else {
            /* the writes still unanswered first: ROLLBACK goes outside the pipeline */
            int rb = settle(&txn, NULL);
            if (rb != STORE_EUNAVAILABLE)
                rb = simple(ps, c, NULL, "ROLLBACK");
            if (rb == STORE_EUNAVAILABLE)
                rc = rb;
        }
        /* a failed COMMIT or NOTIFY may leave the transaction open: end it */
        if (c->pg && !c->pending && PQtransactionStatus(c->pg) != PQTRANS_IDLE &&
            simple(ps, c, NULL, "ROLLBACK") == STORE_EUNAVAILABLE)
            rc = STORE_EUNAVAILABLE;
        if (!txn.rerun || rc == STORE_EUNAVAILABLE)
            break;
        if (now_ms() >= deadline) {
            fprintf(stderr, "storage: postgres: transaction still conflicting after %u ms\n",
                    ps->timeout_ms);
            rc = STORE_EUNAVAILABLE;
            break;
        }
        backoff(attempt);
    }
out:
    memo_clear(&t);
    free(t.memo);
    if (c)
        release(ps, c);
    if (rc == STORE_ERERUN)
        rc = STORE_EUNAVAILABLE;
    return rc;
}

static int pg_read(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    return run(st, 0, fn, arg);
}

static int pg_write(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    return run(st, 1, fn, arg);
}

/* ---- the key-value calls ---- */

static int is_client_table(enum store_db db)
{
    return db == DB_SERVICE_ACCOUNTS || db == DB_SECRETS || db == DB_APPLICATIONS;
}

static void wrote(struct store_txn *txn, enum store_db db)
{
    struct pg_txn *t = txn_of(txn);
    t->writes++;
    t->wrote_clients |= is_client_table(db);
}

static int pg_get(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val *val)
{
    struct pg_txn *t = txn_of(txn);
    struct pg_memo *m = memo_find(t, db, key);
    PGresult *r;
    int rc;
    if (!m) {
        rc = call(txn, db, OP_GET, 0, &key, NULL, &r);
        if (rc)
            return rc;
        if (PQntuples(r))
            memo_set(t, db, key, 1, PQgetvalue(r, 0, 0), (size_t)PQgetlength(r, 0, 0));
        else
            memo_set(t, db, key, 0, NULL, 0);
        m = memo_find(t, db, key);
        if (!m) { /* no memory to remember it: that is no answer either */
            PQclear(r);
            return STORE_ENOMEM;
        }
        PQclear(r);
    }
    if (!m->present)
        return STORE_NOTFOUND;
    val->data = m->key + m->klen;
    val->len = m->vlen;
    return STORE_OK;
}

/* The gets go out in one pipeline (after BEGIN, when it is the transaction's first word) and
 * their answers go into the memo, where pg_get() finds them. Only at a clean point (nothing
 * pending), and a failure leaves the gets to find it again: a stale pooled connection that
 * failed at once is then replaced by the get's own first statement. */
static void pg_read_ahead(struct store_txn *txn, size_t n, const enum store_db *dbs,
                          const struct kv_val *keys)
{
    struct pg_txn *t = txn_of(txn);
    PGresult *res[PENDING_MAX] = {NULL};
    size_t key_of[PENDING_MAX]; /* the key each get in the pipeline asked for */
    const char *values[1];
    int lengths[1], formats[1] = {1}, sent, rc;
    int64_t start = now_ms();

    if (t->unavailable || t->nsent || !t->c->pg)
        return;
    for (size_t i = 0; i < n; i++) {
        if (memo_find(t, dbs[i], keys[i]))
            continue;
        values[0] = keys[i].data;
        lengths[0] = (int)keys[i].len;
        if (send_op(t, SLOT_STATEMENT, dbs[i], OP_GET, 1, values, lengths, formats)) {
            t->nsent = 0;
            goto failed;
        }
        key_of[t->nsent - 1] = i;
    }
    sent = t->nsent;
    rc = settle_into(txn, res);
    for (int i = 0; rc == STORE_OK && i < sent; i++) {
        size_t k = key_of[i];
        if (t->sent[i].kind != SLOT_STATEMENT)
            continue;
        if (PQntuples(res[i]))
            memo_set(t, dbs[k], keys[k], 1, PQgetvalue(res[i], 0, 0),
                     (size_t)PQgetlength(res[i], 0, 0));
        else
            memo_set(t, dbs[k], keys[k], 0, NULL, 0);
    }
    for (int i = 0; i < sent; i++)
        PQclear(res[i]);
    if (rc != STORE_EUNAVAILABLE)
        return;
failed:
    /* as call() does for a first statement: retry at once only after a fast failure */
    if (!t->begun && now_ms() - start < t->ps->timeout_ms / 4)
        t->unavailable = 0;
}

static int pg_put(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val,
                  enum kv_put how)
{
    static const enum pg_op ops[] = {
        [KV_UPSERT] = OP_PUT, [KV_INSERT] = OP_INSERT, [KV_UPDATE] = OP_UPDATE};
    PGresult *r;
    int rc;
    if (how == KV_UPSERT && txn_of(txn)->begun) { /* nothing to answer: not waited for */
        rc = call_deferred(txn, db, &key, &val);
        if (!rc) {
            wrote(txn, db);
            memo_set(txn_of(txn), db, key, 1, val.data, val.len);
        }
        return rc;
    }
    rc = call(txn, db, ops[how], 0, &key, &val, &r);
    if (rc)
        return rc;
    wrote(txn, db);
    if (how == KV_INSERT && strcmp(PQcmdTuples(r), "0") == 0) {
        rc = STORE_EXISTS;
        memo_forget(txn_of(txn), db, key); /* the value there is not ours */
    } else if (how == KV_UPDATE && strcmp(PQcmdTuples(r), "0") == 0) {
        rc = STORE_NOTFOUND;
        memo_set(txn_of(txn), db, key, 0, NULL, 0);
    } else {
        memo_set(txn_of(txn), db, key, 1, val.data, val.len);
    }
    PQclear(r);
    return rc;
}

/* One multi-row INSERT per INSERT_ROWS_MAX entries: PostgreSQL spends ~40 us a statement and
 * a few a row, so a batch of 2,048 audit events costs 3 statements, not 2,048. Sent unprepared:
 * batches differ in size, and the parse is nothing beside the rows. */
static int pg_insert_many(struct store_txn *txn, enum store_db db, size_t n,
                          const struct kv_val *keys, const struct kv_val *vals)
{
    struct pg_txn *t = txn_of(txn);
    size_t rows = n < INSERT_ROWS_MAX ? n : INSERT_ROWS_MAX;
    size_t cap = 96 + strlen(store_db_names[db]) + rows * 24;
    char *sql = malloc(cap);
    const char **values = malloc(2 * rows * sizeof *values);
    int *lengths = malloc(2 * rows * sizeof *lengths);
    int *formats = malloc(2 * rows * sizeof *formats);
    int rc = STORE_ENOMEM;
    PGresult *r;

    if (!sql || !values || !lengths || !formats)
        goto out;
    rc = t->unavailable ? STORE_EUNAVAILABLE : ensure_begun(txn);
    for (size_t done = 0; rc == STORE_OK && done < n; done += rows) {
        size_t m = n - done < rows ? n - done : rows;
        int len = snprintf(sql, cap, "INSERT INTO " SCHEMA ".%s (key, value) VALUES ",
                           store_db_names[db]);
        for (size_t i = 0; i < m; i++) {
            const struct kv_val *k = &keys[done + i], *v = &vals[done + i];
            len += snprintf(sql + len, cap - (size_t)len, "%s($%zu, $%zu)", i ? ", " : "",
                            2 * i + 1, 2 * i + 2);
            values[2 * i] = k->data;
            lengths[2 * i] = (int)k->len;
            values[2 * i + 1] = v->len ? v->data : "";
            lengths[2 * i + 1] = (int)v->len;
            formats[2 * i] = formats[2 * i + 1] = 1;
            memo_forget(t, db, *k);
        }
        snprintf(sql + len, cap - (size_t)len, " ON CONFLICT DO NOTHING");
        if (!PQsendQueryParams(t->c->pg, sql, (int)(2 * m), NULL, values, lengths, formats, 1) ||
            !(r = await(t->ps, t->c, now_ms() + t->ps->timeout_ms))) {
            t->unavailable = 1;
            conn_drop(t->c);
            rc = STORE_EUNAVAILABLE;
            break;
        }
        rc = result_rc(txn, r, store_db_names[db]);
        if (rc == STORE_OK) {
            wrote(txn, db);
            if (strtoull(PQcmdTuples(r), NULL, 10) != m)
                rc = STORE_EXISTS;
        } else if (rc == STORE_EUNAVAILABLE) {
            t->unavailable = 1;
            conn_drop(t->c);
        }
        PQclear(r);
    }
out:
    free(sql);
    free(values);
    free(lengths);
    free(formats);
    return rc;
}

/* A statement on one key that answers how many rows it wrote (touch, delete): STORE_NOTFOUND for
 * none. gone: the key holds nothing afterwards, whatever it held. */
static int keyed_write(struct store_txn *txn, enum store_db db, enum pg_op op, struct kv_val key,
                       int gone)
{
    PGresult *r;
    int rc = call(txn, db, op, 0, &key, NULL, &r);
    if (rc)
        return rc;
    wrote(txn, db);
    if (strcmp(PQcmdTuples(r), "0") == 0)
        rc = STORE_NOTFOUND;
    if (gone || rc == STORE_NOTFOUND)
        memo_set(txn_of(txn), db, key, 0, NULL, 0);
    PQclear(r);
    return rc;
}

static int pg_touch(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    return keyed_write(txn, db, OP_TOUCH, key, 0);
}

static int pg_del(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    return keyed_write(txn, db, OP_DEL, key, 1);
}

static int pg_cursor_open(struct store_txn *txn, enum store_db db, struct kv_cursor **out)
{
    struct pg_cursor *c = calloc(1, sizeof *c);
    if (!c)
        return STORE_ENOMEM;
    c->base.txn = txn;
    c->base.db = db;
    *out = &c->base;
    return STORE_OK;
}

static void pg_cursor_close(struct kv_cursor *cur)
{
    struct pg_cursor *c = (struct pg_cursor *)cur;
    PQclear(c->batch);
    free(c);
}

/* Lands on row c->row of the batch. */
static int land(struct pg_cursor *c, struct kv_val *key, struct kv_val *val)
{
    size_t len = (size_t)PQgetlength(c->batch, c->row, 0);
    if (len == 0 || len > KV_KEY_MAX)
        return store_corrupt(c->base.db, "", 0);
    memcpy(c->last, PQgetvalue(c->batch, c->row, 0), len);
    c->last_len = len;
    c->positioned = 1;
    key->data = PQgetvalue(c->batch, c->row, 0);
    key->len = len;
    val->data = PQgetvalue(c->batch, c->row, 1);
    val->len = (size_t)PQgetlength(c->batch, c->row, 1);
    return STORE_OK;
}

/* Fetches a new batch with op from `from` (NULL for OP_FIRST/OP_LAST) and lands on its first
 * row. want grows while a walk goes on in one direction. */
static int fetch(struct pg_cursor *c, enum pg_op op, const struct kv_val *from, int fresh,
                 struct kv_val *key, struct kv_val *val)
{
    struct pg_txn *t = txn_of(c->base.txn);
    PGresult *r;
    int rc;
    c->want = fresh || !c->want ? BATCH_FIRST : c->want * 2 > BATCH_MAX ? BATCH_MAX : c->want * 2;
    rc = call(c->base.txn, c->base.db, op, c->want, from, NULL, &r);
    PQclear(c->batch);
    c->batch = NULL;
    c->positioned = 0;
    if (rc)
        return rc;
    c->batch = r;
    c->rows = PQntuples(r);
    c->row = 0;
    c->backward = op == OP_LAST || op == OP_LT;
    c->exhausted = (unsigned)c->rows < c->want;
    c->writes_seen = t->writes;
    if (c->rows == 0)
        return STORE_NOTFOUND;
    return land(c, key, val);
}

static int step(struct pg_cursor *c, int backward, struct kv_val *key, struct kv_val *val)
{
    struct pg_txn *t = txn_of(c->base.txn);
    struct kv_val from;
    if (!c->positioned)
        return STORE_NOTFOUND;
    /* The batch still tells the truth unless this transaction wrote since it was fetched. */
    if (c->batch && c->backward == backward && c->writes_seen == t->writes) {
        if (c->row + 1 < c->rows) {
            c->row++;
            return land(c, key, val);
        }
        if (c->exhausted) {
            c->positioned = 0;
            return STORE_NOTFOUND;
        }
    }
    from = (struct kv_val){c->last, c->last_len};
    return fetch(c, backward ? OP_LT : OP_GT, &from, c->backward != backward, key, val);
}

static int pg_move(struct kv_cursor *cur, enum kv_move how, const struct kv_val *at,
                   struct kv_val *key, struct kv_val *val)
{
    struct pg_cursor *c = (struct pg_cursor *)cur;
    switch (how) {
    case KV_FIRST:
        return fetch(c, OP_FIRST, NULL, 1, key, val);
    case KV_LAST:
        return fetch(c, OP_LAST, NULL, 1, key, val);
    case KV_GE:
        return fetch(c, OP_GE, at, 1, key, val);
    case KV_GT:
        return fetch(c, OP_GT, at, 1, key, val);
    case KV_BEFORE:
        return fetch(c, OP_LT, at, 1, key, val);
    case KV_NEXT:
        return step(c, 0, key, val);
    case KV_PREV:
        return step(c, 1, key, val);
    }
    return STORE_EINVAL;
}

static int pg_cursor_del(struct kv_cursor *cur)
{
    struct pg_cursor *c = (struct pg_cursor *)cur;
    if (!c->positioned)
        return STORE_NOTFOUND;
    /* c->last keeps the key: the next step goes on from there */
    return pg_del(cur->txn, cur->db, (struct kv_val){c->last, c->last_len});
}

/* ---- tables ---- */

static int name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 48)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!((name[i] >= 'a' && name[i] <= 'z') || name[i] == '_' ||
              (name[i] >= '0' && name[i] <= '9')))
            return 0;
    return 1;
}

static int ddl(struct store_txn *txn, const char *head, const char *name, const char *tail)
{
    struct pg_txn *t = txn_of(txn);
    char sql[256];
    int rc;
    if (!name_ok(name))
        return STORE_EINVAL;
    snprintf(sql, sizeof sql, "%s%s%s", head, name, tail);
    rc = ensure_begun(txn);
    if (!rc)
        rc = simple(t->ps, t->c, txn, sql);
    if (rc == STORE_EUNAVAILABLE)
        t->unavailable = 1;
    if (rc == STORE_OK)
        wrote(txn, DB_COUNT);
    memo_clear(t);
    t->wrote_clients = 1; /* a schema step may rewrite anything */
    return rc;
}

static int pg_table_create(struct store_txn *txn, const char *name)
{
    return ddl(txn, "CREATE TABLE IF NOT EXISTS " SCHEMA ".", name,
               " (key bytea PRIMARY KEY, value bytea NOT NULL)");
}

static int pg_table_drop(struct store_txn *txn, const char *name)
{
    return ddl(txn, "DROP TABLE IF EXISTS " SCHEMA ".", name, "");
}

static int pg_tables_open(struct store_txn *txn)
{
    struct pg_txn *t = txn_of(txn);
    PGresult *r;
    int rc;
    rc = ensure_begun(txn);
    if (rc)
        return rc;
    if (!PQsendQuery(t->c->pg, "SELECT tablename FROM pg_tables WHERE schemaname = '" SCHEMA "'"))
        return STORE_EUNAVAILABLE;
    r = await(t->ps, t->c, now_ms() + t->ps->timeout_ms);
    if (!r)
        return STORE_EUNAVAILABLE;
    rc = result_rc(txn, r, "list tables");
    for (int db = 0; rc == STORE_OK && db < DB_COUNT; db++) {
        int found = 0;
        for (int i = 0; i < PQntuples(r) && !found; i++)
            found = strcmp(PQgetvalue(r, i, 0), store_db_names[db]) == 0;
        if (!found) {
            fprintf(stderr, "storage: table " SCHEMA ".%s is missing\n", store_db_names[db]);
            rc = STORE_ECORRUPT;
        }
    }
    PQclear(r);
    return rc;
}

/* ---- generation, listener, the rest ---- */

static uint64_t pg_generation(struct store *st, enum store_scope scope)
{
    return atomic_load(&pg_of(st)->generation[scope]);
}

static uint64_t pg_txn_generation(const struct store_txn *txn, enum store_scope scope)
{
    return txn_of(txn)->generation[scope];
}

static int pg_backup(struct store *st, const char *path)
{
    (void)st;
    (void)path;
    fprintf(stderr, "storage: a PostgreSQL store is backed up with pg_dump (or copied to LMDB "
                    "with `idpd store copy`)\n");
    return STORE_EINVAL;
}

static size_t pg_map_size(struct store *st)
{
    (void)st;
    return 0;
}

static void pg_write_stats(struct store *st, uint64_t *writes, uint64_t *batches)
{
    *writes = atomic_load(&pg_of(st)->writes);
    *batches = atomic_load(&pg_of(st)->attempts);
}

static int ping_txn(struct store_txn *txn, void *arg)
{
    struct pg_txn *t = txn_of(txn);
    (void)arg;
    int rc = ensure_begun(txn);
    return rc ? rc : simple(t->ps, t->c, txn, "SELECT 1");
}

static int pg_ready(struct store *st)
{
    return pg_read(st, ping_txn, NULL);
}

/* One round of the listener: connects (and LISTENs) when it must, then waits a tick for
 * notifications. Any gap in listening advances the generation: what other nodes committed
 * meanwhile is unknown. */
/* Connects c and LISTENs on it. */
static int listen_connect(struct pg_store *ps, struct pg_conn *c)
{
    int rc = connect_within(ps, c, now_ms() + ps->timeout_ms);
    if (rc == STORE_OK)
        rc = simple(ps, c, NULL, "LISTEN " CHANNEL);
    if (rc != STORE_OK)
        conn_drop(c);
    return rc;
}

static void listen_tick(struct pg_store *ps, struct pg_conn *c, unsigned *ticks)
{
    struct pollfd p[2] = {{.fd = ps->stop_pipe[0], .events = POLLIN}};
    PGnotify *n;
    int64_t deadline;

    if (!c->pg) {
        /* a gap in listening, however it ends: what others committed in it is unknown */
        advance(ps, 1);
        if (listen_connect(ps, c) != STORE_OK) {
            poll(p, 1, LISTEN_TICK_MS);
            return;
        }
    }
    p[1] = (struct pollfd){.fd = PQsocket(c->pg), .events = POLLIN};
    if (poll(p, 2, LISTEN_TICK_MS) > 0 && (p[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
        !PQconsumeInput(c->pg)) {
        conn_drop(c);
        return;
    }
    while ((n = PQnotifies(c->pg)) != NULL) {
        /* "<node id>:c" or ":o": another node's commit, with or without clients */
        if (strncmp(n->extra, ps->node_id, NODE_ID_LEN) != 0)
            advance(ps, strcmp(n->extra + strnlen(n->extra, NODE_ID_LEN), ":o") != 0);
        PQfreemem(n);
    }
    /* A connection that died without a word (a machine gone, a cable cut) shows only when
     * asked something. */
    if (++*ticks % PING_EVERY_TICKS == 0) {
        deadline = now_ms() + (ps->timeout_ms < 1000 ? ps->timeout_ms : 1000);
        PGresult *r = PQsendQuery(c->pg, "SELECT 1") ? await(ps, c, deadline) : NULL;
        if (!r)
            conn_drop(c);
        PQclear(r);
    }
}

static void *listener_main(void *arg)
{
    struct pg_store *ps = arg;
    unsigned ticks = 0;
    char b;
    for (;;) {
        struct pollfd p = {.fd = ps->stop_pipe[0], .events = POLLIN};
        if (poll(&p, 1, 0) > 0 && read(ps->stop_pipe[0], &b, 1) >= 0)
            break;
        listen_tick(ps, &ps->listen, &ticks);
    }
    return NULL;
}

static void pg_close(struct store *st)
{
    struct pg_store *ps = pg_of(st);
    if (ps->listener_started) {
        (void)!write(ps->stop_pipe[1], "x", 1);
        pthread_join(ps->listener, NULL);
    }
    if (ps->stop_pipe[0] >= 0) {
        close(ps->stop_pipe[0]);
        close(ps->stop_pipe[1]);
    }
    conn_drop(&ps->listen);
    for (unsigned i = 0; ps->conns && i < ps->max; i++)
        conn_drop(&ps->conns[i]);
    free(ps->conns);
    pthread_mutex_destroy(&ps->pool_lock);
    pthread_cond_destroy(&ps->pool_cond);
    free(ps->url);
    free(ps);
}

static const struct kv_backend pg_backend = {
    .name = "postgres",
    .read = pg_read,
    .write = pg_write,
    .get = pg_get,
    .put = pg_put,
    .touch = pg_touch,
    .read_ahead = pg_read_ahead,
    .insert_many = pg_insert_many,
    .del = pg_del,
    .cursor_open = pg_cursor_open,
    .cursor_close = pg_cursor_close,
    .move = pg_move,
    .cursor_del = pg_cursor_del,
    .table_create = pg_table_create,
    .table_drop = pg_table_drop,
    .tables_open = pg_tables_open,
    .generation = pg_generation,
    .txn_generation = pg_txn_generation,
    .backup = pg_backup,
    .map_size = pg_map_size,
    .write_stats = pg_write_stats,
    .ready = pg_ready,
    .close = pg_close,
};

static int schema_cb(struct store_txn *txn, void *arg)
{
    (void)arg;
    return store_schema_open(txn);
}

/* Creates the schema and brings it to STORE_SCHEMA_VERSION, holding an advisory lock on a
 * connection of its own meanwhile, so nodes starting together upgrade once, one after another:
 * the second finds the version written and does nothing. */
static int migrate(struct pg_store *ps)
{
    struct pg_conn lock = {0};
    char sql[96];
    int rc = connect_within(ps, &lock, now_ms() + ps->timeout_ms);
    if (rc)
        goto out;
    snprintf(sql, sizeof sql, "SELECT pg_advisory_lock(%d)", MIGRATION_LOCK);
    rc = simple(ps, &lock, NULL, sql);
    if (!rc)
        rc = simple(ps, &lock, NULL, "CREATE SCHEMA IF NOT EXISTS " SCHEMA);
    if (!rc)
        rc = pg_write(&ps->base, schema_cb, NULL);
    /* the lock ends with its session */
out:
    conn_drop(&lock);
    return rc;
}

int store_postgres_open(const char *url, const struct store_options *opts, struct store **out)
{
    struct pg_store *ps = calloc(1, sizeof *ps);
    unsigned char id[NODE_ID_LEN / 2];
    int rc;

    if (!ps)
        return STORE_ENOMEM;
    ps->base.be = &pg_backend;
    ps->stop_pipe[0] = ps->stop_pipe[1] = -1;
    ps->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : DEFAULT_TIMEOUT_MS;
    ps->max = opts && opts->connections ? opts->connections : DEFAULT_CONNECTIONS;
    pthread_mutex_init(&ps->pool_lock, NULL);
    pthread_cond_init(&ps->pool_cond, NULL);
    ps->url = strdup(url);
    ps->conns = calloc(ps->max, sizeof *ps->conns);
    if (!ps->url || !ps->conns) {
        rc = STORE_ENOMEM;
        goto out;
    }
    if (getrandom(id, sizeof id, 0) != sizeof id || pipe(ps->stop_pipe) != 0) {
        rc = STORE_EIO;
        goto out;
    }
    for (size_t i = 0; i < sizeof id; i++)
        snprintf(ps->node_id + 2 * i, 3, "%02x", id[i]);
    atomic_store(&ps->generation[STORE_SCOPE_ALL], 1);
    atomic_store(&ps->generation[STORE_SCOPE_CLIENTS], 1);
    atomic_store(&ps->reachable, 1);
    rc = migrate(ps);
    /* listening before the store is handed out: no commit of another node can fall between
     * the caller's first read and the first notification */
    if (!rc)
        rc = listen_connect(ps, &ps->listen);
    if (rc)
        goto out;
    if (pthread_create(&ps->listener, NULL, listener_main, ps) != 0) {
        rc = STORE_ENOMEM;
        goto out;
    }
    ps->listener_started = 1;
    *out = &ps->base;
    ps = NULL;
out:
    if (ps)
        pg_close(&ps->base);
    return rc;
}
