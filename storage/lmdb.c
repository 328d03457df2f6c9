/* The LMDB backend: one environment in the data folder, a named database per table, map growth,
 * group commit, and the cursor moves of kv.h on LMDB's cursors. */
#include "storage/backend.h"

#include <errno.h>
#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct write_op; /* a queued store_write() */

struct lmdb_store {
    struct store base;
    MDB_env *env;
    MDB_dbi dbi[DB_COUNT];
    size_t map_size;     /* this process's current map size; guarded by resize_lock */
    size_t map_size_max; /* growth stops here */
    /* Every transaction holds this for reading; only a map resize takes it for writing, because
     * mdb_env_set_mapsize() requires that no transaction of this process is open. Writers are
     * preferred so a steady stream of readers cannot starve a resize. */
    pthread_rwlock_t resize_lock;
    /* Group commit (store_write): queued writes, whether a leader is committing, and counts. */
    pthread_mutex_t group_lock;
    pthread_cond_t group_done;
    struct write_op *group_head, **group_tail;
    int group_leader;
    uint64_t writes;  /* store_write() calls */
    uint64_t batches; /* the transactions (commits or aborts) that served them */
};

static struct lmdb_store *L(struct store *st)
{
    return (struct lmdb_store *)st;
}

/* A transaction's impl is its MDB_txn. */
static MDB_txn *TX(const struct store_txn *txn)
{
    return txn->impl;
}

#define DEFAULT_MAP_SIZE ((size_t)64 << 20)
#define DEFAULT_MAP_SIZE_MAX ((size_t)64 << 30)
/* Another process may grow the map again between our adopting its size and our next begin. */
#define RESIZED_RETRIES 8

/* Translates an LMDB result: MDB_NOTFOUND -> STORE_NOTFOUND, MDB_KEYEXIST -> STORE_EXISTS,
 * MDB_MAP_FULL -> STORE_ERERUN (and marks txn, which may be NULL), ENOMEM -> STORE_ENOMEM,
 * anything else -> STORE_EIO after one "storage: what: reason" line on stderr. */
static int store_mdb_err(struct store_txn *txn, int mrc, const char *what)
{
    switch (mrc) {
    case MDB_SUCCESS:
        return STORE_OK;
    case MDB_NOTFOUND:
        return STORE_NOTFOUND;
    case MDB_KEYEXIST:
        return STORE_EXISTS;
    case MDB_MAP_FULL:
        if (txn)
            txn->rerun = 1;
        return STORE_ERERUN;
    case ENOMEM:
        return STORE_ENOMEM;
    }
    fprintf(stderr, "storage: %s: %s\n", what, mdb_strerror(mrc));
    return STORE_EIO;
}

static int lock_shared(struct store *st)
{
    int err = pthread_rwlock_rdlock(&L(st)->resize_lock);
    if (err) {
        fprintf(stderr, "storage: resize lock: %s\n", strerror(err));
        return STORE_EIO;
    }
    return STORE_OK;
}

/* Sets this process's map size. Caller holds resize_lock for writing (or is store_open()). */
static int set_map_size(struct store *st, size_t size)
{
    MDB_envinfo info;
    int mrc = mdb_env_set_mapsize(L(st)->env, size);
    if (mrc)
        return store_mdb_err(NULL, mrc, "mdb_env_set_mapsize");
    /* LMDB rounds up to the data already used (and size 0 means the size in the file). */
    mrc = mdb_env_info(L(st)->env, &info);
    if (mrc)
        return store_mdb_err(NULL, mrc, "mdb_env_info");
    L(st)->map_size = info.me_mapsize;
    return STORE_OK;
}

/* Takes the map size recorded in the data file when it is larger than ours: another process has
 * grown the map. LMDB has no call that only reads it, so set it and go back when smaller.
 * Caller holds resize_lock for writing (or is store_open()). */
static int adopt_file_map_size(struct store *st)
{
    size_t ours = L(st)->map_size;
    int rc = set_map_size(st, 0);
    if (rc == STORE_OK && L(st)->map_size < ours)
        rc = set_map_size(st, ours);
    return rc;
}

static int adopt_file_map_size_locked(struct store *st)
{
    int rc, err = pthread_rwlock_wrlock(&L(st)->resize_lock);
    if (err) {
        fprintf(stderr, "storage: resize lock: %s\n", strerror(err));
        return STORE_EIO;
    }
    rc = adopt_file_map_size(st);
    pthread_rwlock_unlock(&L(st)->resize_lock);
    return rc;
}

/* Doubles the map (up to map_size_max) after a transaction that began with a map of seen bytes
 * ran out of room. Does nothing when another thread or process grew it meanwhile. */
static int grow_map(struct store *st, size_t seen)
{
    int rc = STORE_OK, err = pthread_rwlock_wrlock(&L(st)->resize_lock);
    if (err) {
        fprintf(stderr, "storage: resize lock: %s\n", strerror(err));
        return STORE_EIO;
    }
    if (L(st)->map_size != seen)
        goto out; /* another thread of this process grew it */
    rc = adopt_file_map_size(st);
    if (rc || L(st)->map_size > seen)
        goto out; /* another process grew it */
    if (seen >= L(st)->map_size_max) {
        fprintf(stderr, "storage: map full at its maximum of %zu bytes\n", L(st)->map_size_max);
        rc = STORE_EIO;
        goto out;
    }
    rc = set_map_size(st, seen > L(st)->map_size_max / 2 ? L(st)->map_size_max : seen * 2);
out:
    pthread_rwlock_unlock(&L(st)->resize_lock);
    return rc;
}

/* Begins a transaction holding resize_lock for reading; *seen receives the map size it runs
 * with. On success the caller ends the transaction and then unlocks. */
static int txn_begin(struct store *st, unsigned flags, MDB_txn **txn, size_t *seen)
{
    int rc = STORE_OK;
    for (int attempt = 0;; attempt++) {
        rc = lock_shared(st);
        if (rc)
            break;
        int mrc = mdb_txn_begin(L(st)->env, NULL, flags, txn);
        if (mrc == MDB_SUCCESS) {
            *seen = L(st)->map_size;
            break;
        }
        pthread_rwlock_unlock(&L(st)->resize_lock);
        /* MDB_MAP_RESIZED: another process grew the map past ours; take its size and retry. */
        if (mrc != MDB_MAP_RESIZED || attempt == RESIZED_RETRIES) {
            rc = store_mdb_err(NULL, mrc, "mdb_txn_begin");
            break;
        }
        rc = adopt_file_map_size_locked(st);
        if (rc)
            break;
    }
    return rc;
}

static int lmdb_read(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    struct store_txn txn = {.st = st};
    size_t seen;
    int rc;

    rc = txn_begin(st, MDB_RDONLY, (MDB_txn **)&txn.impl, &seen);
    if (rc)
        return rc;
    rc = store_run_callback(fn, &txn, arg);
    mdb_txn_abort(TX(&txn));
    pthread_rwlock_unlock(&L(st)->resize_lock);
    return rc;
}

/* ---- store_write: group commit ----
 * Every write transaction costs LMDB's durable commit (two fdatasyncs), which serialises writers
 * at a few thousand commits per second. Concurrent writers are therefore committed together:
 * the first to arrive becomes the leader, takes every queued write, runs each callback in its
 * own nested transaction (so one callback's failure undoes only its own changes) and commits
 * once for all of them. Each caller returns only after the commit that holds its change, so a
 * write acknowledged is a write on disk, as before; a write alone is a plain transaction. */

struct write_op {
    int (*fn)(struct store_txn *txn, void *arg);
    void *arg;
    int rc;
    int done;
    struct write_op *next;
};

/* Runs fn in child, a nested transaction of parent (or in parent itself when child is NULL).
 * Returns 1 when LMDB ran out of map, which dooms the whole batch. */
static int run_op(struct store *st, struct store_txn *parent, struct write_op *op, int nested)
{
    struct store_txn child = {.st = st, .write = 1};
    struct store_txn *t = parent;
    if (nested) {
        int mrc = mdb_txn_begin(L(st)->env, TX(parent), 0, (MDB_txn **)&child.impl);
        if (mrc) {
            op->rc = store_mdb_err(&child, mrc, "mdb_txn_begin (nested)");
            return child.rerun;
        }
        t = &child;
    }
    op->rc = store_run_callback(op->fn, t, op->arg);
    if (t->rerun || op->rc == STORE_ERERUN) {
        if (nested)
            mdb_txn_abort(TX(&child));
        return 1;
    }
    if (nested) {
        if (op->rc == STORE_OK)
            op->rc = store_mdb_err(&child, mdb_txn_commit(TX(&child)), "mdb_txn_commit (nested)");
        else
            mdb_txn_abort(TX(&child));
        return child.rerun;
    }
    return 0;
}

static void fail_all(struct write_op *batch, int rc)
{
    for (struct write_op *op = batch; op; op = op->next)
        op->rc = rc;
}

static void run_batch(struct store *st, struct write_op *batch)
{
    int nested = batch->next != NULL;
    for (;;) {
        struct store_txn parent = {.st = st, .write = 1};
        size_t seen;
        int rc = txn_begin(st, 0, (MDB_txn **)&parent.impl, &seen), map_full = 0, any_ok = 0;
        if (rc) {
            fail_all(batch, rc);
            return;
        }
        for (struct write_op *op = batch; op && !map_full; op = op->next) {
            map_full = run_op(st, &parent, op, nested);
            any_ok |= op->rc == STORE_OK;
        }
        if (!map_full && any_ok) {
            rc = store_mdb_err(&parent, mdb_txn_commit(TX(&parent)), "mdb_txn_commit");
            map_full = parent.rerun;
            if (rc && !map_full)
                for (struct write_op *op = batch; op; op = op->next)
                    if (op->rc == STORE_OK)
                        op->rc = rc; /* nothing of the batch is on disk */
        } else {
            mdb_txn_abort(TX(&parent));
        }
        pthread_rwlock_unlock(&L(st)->resize_lock);
        if (!map_full)
            return;
        /* Out of map: grow it and run the whole batch again (callbacks are re-runnable). */
        rc = grow_map(st, seen);
        if (rc) {
            fail_all(batch, rc);
            return;
        }
    }
}

static int lmdb_write(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    struct write_op op = {.fn = fn, .arg = arg};
    pthread_mutex_lock(&L(st)->group_lock);
    *L(st)->group_tail = &op;
    L(st)->group_tail = &op.next;
    L(st)->writes++;
    while (!op.done) {
        if (L(st)->group_leader) {
            pthread_cond_wait(&L(st)->group_done, &L(st)->group_lock);
            continue;
        }
        struct write_op *batch = L(st)->group_head;
        L(st)->group_head = NULL;
        L(st)->group_tail = &L(st)->group_head;
        L(st)->group_leader = 1;
        pthread_mutex_unlock(&L(st)->group_lock);
        run_batch(st, batch);
        pthread_mutex_lock(&L(st)->group_lock);
        /* The owners wait for this lock, so their ops stay valid until it is released. */
        for (struct write_op *o = batch; o; o = o->next)
            o->done = 1;
        L(st)->batches++;
        L(st)->group_leader = 0;
        pthread_cond_broadcast(&L(st)->group_done);
    }
    pthread_mutex_unlock(&L(st)->group_lock);
    return op.rc;
}

static void lmdb_write_stats(struct store *st, uint64_t *writes, uint64_t *batches)
{
    pthread_mutex_lock(&L(st)->group_lock);
    *writes = L(st)->writes;
    *batches = L(st)->batches;
    pthread_mutex_unlock(&L(st)->group_lock);
}

static int lmdb_backup(struct store *st, const char *path)
{
    int fd, rc = STORE_OK;
    /* O_EXCL: a backup never overwrites anything; 0600 whatever the umask, as the data is. */
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        rc = errno == EEXIST ? STORE_EXISTS : STORE_EIO;
        fprintf(stderr, "storage: cannot create %s: %s\n", path, strerror(errno));
        return rc;
    }
    if (fchmod(fd, 0600) != 0) {
        fprintf(stderr, "storage: chmod %s: %s\n", path, strerror(errno));
        rc = STORE_EIO;
        goto out;
    }
    for (int attempt = 0;; attempt++) {
        /* The copy runs in a read transaction of its own, so it holds the map like one. */
        if ((rc = lock_shared(st)) != STORE_OK)
            goto out;
        int mrc = mdb_env_copyfd2(L(st)->env, fd, MDB_CP_COMPACT);
        pthread_rwlock_unlock(&L(st)->resize_lock);
        if (mrc == MDB_SUCCESS)
            break;
        /* Another process grew the map: take its size, start the file again. */
        if (mrc != MDB_MAP_RESIZED || attempt == RESIZED_RETRIES ||
            adopt_file_map_size_locked(st) != STORE_OK || ftruncate(fd, 0) != 0 ||
            lseek(fd, 0, SEEK_SET) != 0) {
            rc = store_mdb_err(NULL, mrc, "mdb_env_copyfd2");
            goto out;
        }
    }
    if (fsync(fd) != 0) {
        fprintf(stderr, "storage: fsync %s: %s\n", path, strerror(errno));
        rc = STORE_EIO;
    }
out:
    if (close(fd) != 0 && rc == STORE_OK)
        rc = STORE_EIO;
    if (rc != STORE_OK)
        unlink(path);
    return rc;
}

static uint64_t lmdb_generation(struct store *st, enum store_scope scope)
{
    (void)scope; /* one counter for all: the last transaction id */
    MDB_envinfo info;
    int mrc;
    if (store_in_callback(st)) /* this thread already holds resize_lock */
        return mdb_env_info(L(st)->env, &info) == MDB_SUCCESS ? (uint64_t)info.me_last_txnid : 0;
    /* The meta pages live in the map, which a resize replaces: read them under resize_lock. */
    if (lock_shared(st))
        return 0;
    mrc = mdb_env_info(L(st)->env, &info);
    pthread_rwlock_unlock(&L(st)->resize_lock);
    return mrc == MDB_SUCCESS ? (uint64_t)info.me_last_txnid : 0;
}

static uint64_t lmdb_txn_generation(const struct store_txn *txn, enum store_scope scope)
{
    (void)scope;
    return TX(txn) ? (uint64_t)mdb_txn_id(TX(txn)) : 0;
}

static size_t lmdb_map_size(struct store *st)
{
    size_t size;
    if (store_in_callback(st))
        return L(st)->map_size; /* this thread already holds resize_lock */
    if (lock_shared(st))
        return 0;
    size = L(st)->map_size;
    pthread_rwlock_unlock(&L(st)->resize_lock);
    return size;
}

/* ---- the key-value calls ---- */

static MDB_val mval(struct kv_val v)
{
    return (MDB_val){.mv_size = v.len, .mv_data = (void *)v.data};
}

static struct kv_val kval(MDB_val v)
{
    return (struct kv_val){.data = v.mv_data, .len = v.mv_size};
}

/* "get users" and the like, for the error line. */
static int table_err(struct store_txn *txn, int mrc, const char *op, enum store_db db)
{
    char what[64];
    if (mrc == MDB_SUCCESS || mrc == MDB_NOTFOUND || mrc == MDB_KEYEXIST)
        return store_mdb_err(txn, mrc, op);
    snprintf(what, sizeof what, "%s %s", op, store_db_names[db]);
    return store_mdb_err(txn, mrc, what);
}

static int lmdb_get(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val *val)
{
    MDB_val k = mval(key), v;
    int rc = table_err(txn, mdb_get(TX(txn), L(txn->st)->dbi[db], &k, &v), "get", db);
    if (rc == STORE_OK)
        *val = kval(v);
    return rc;
}

static int lmdb_put(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val,
                    enum kv_put how)
{
    MDB_val k = mval(key), v = mval(val), old;
    if (how == KV_UPDATE) {
        int rc = table_err(txn, mdb_get(TX(txn), L(txn->st)->dbi[db], &k, &old), "get", db);
        if (rc)
            return rc;
    }
    return table_err(
        txn, mdb_put(TX(txn), L(txn->st)->dbi[db], &k, &v, how == KV_INSERT ? MDB_NOOVERWRITE : 0),
        "put", db);
}

static int lmdb_del(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    MDB_val k = mval(key);
    return table_err(txn, mdb_del(TX(txn), L(txn->st)->dbi[db], &k, NULL), "delete", db);
}

struct lmdb_cursor {
    struct kv_cursor base;
    MDB_cursor *mc;
};

static int lmdb_cursor_open(struct store_txn *txn, enum store_db db, struct kv_cursor **out)
{
    struct lmdb_cursor *c = calloc(1, sizeof *c);
    int rc;
    if (!c)
        return STORE_ENOMEM;
    c->base.txn = txn;
    c->base.db = db;
    rc = table_err(txn, mdb_cursor_open(TX(txn), L(txn->st)->dbi[db], &c->mc), "cursor", db);
    if (rc) {
        free(c);
        return rc;
    }
    *out = &c->base;
    return STORE_OK;
}

static void lmdb_cursor_close(struct kv_cursor *cur)
{
    struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
    mdb_cursor_close(c->mc);
    free(c);
}

static int cursor_get(MDB_cursor *mc, const struct kv_val *at, MDB_val *k, MDB_val *v,
                      enum kv_move how)
{
    int mrc;
    switch (how) {
    case KV_FIRST:
        return mdb_cursor_get(mc, k, v, MDB_FIRST);
    case KV_LAST:
        return mdb_cursor_get(mc, k, v, MDB_LAST);
    case KV_NEXT:
        return mdb_cursor_get(mc, k, v, MDB_NEXT);
    case KV_PREV:
        return mdb_cursor_get(mc, k, v, MDB_PREV);
    case KV_GE:
        *k = mval(*at);
        return mdb_cursor_get(mc, k, v, MDB_SET_RANGE);
    case KV_GT:
        *k = mval(*at);
        mrc = mdb_cursor_get(mc, k, v, MDB_SET_RANGE);
        if (mrc == MDB_SUCCESS && k->mv_size == at->len &&
            memcmp(k->mv_data, at->data, at->len) == 0)
            mrc = mdb_cursor_get(mc, k, v, MDB_NEXT);
        return mrc;
    case KV_BEFORE:
        *k = mval(*at);
        mrc = mdb_cursor_get(mc, k, v, MDB_SET_RANGE);
        if (mrc == MDB_SUCCESS)
            return mdb_cursor_get(mc, k, v, MDB_PREV);
        if (mrc == MDB_NOTFOUND) /* every key is < at */
            return mdb_cursor_get(mc, k, v, MDB_LAST);
        return mrc;
    }
    return EINVAL;
}

static int lmdb_move(struct kv_cursor *cur, enum kv_move how, const struct kv_val *at,
                     struct kv_val *key, struct kv_val *val)
{
    struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
    MDB_val k, v;
    int rc = table_err(cur->txn, cursor_get(c->mc, at, &k, &v, how), "walk", cur->db);
    if (rc == STORE_OK) {
        *key = kval(k);
        *val = kval(v);
    }
    return rc;
}

static int lmdb_cursor_del(struct kv_cursor *cur)
{
    struct lmdb_cursor *c = (struct lmdb_cursor *)cur;
    return table_err(cur->txn, mdb_cursor_del(c->mc, 0), "delete", cur->db);
}

/* The enum's slot of a table name, or DB_COUNT for a table it no longer names. */
static enum store_db table_slot(const char *name)
{
    for (int db = 0; db < DB_COUNT; db++)
        if (strcmp(store_db_names[db], name) == 0)
            return (enum store_db)db;
    return DB_COUNT;
}

static int lmdb_table_create(struct store_txn *txn, const char *name)
{
    enum store_db db = table_slot(name);
    MDB_dbi dbi;
    int rc = store_mdb_err(txn, mdb_dbi_open(TX(txn), name, MDB_CREATE, &dbi), name);
    if (rc == STORE_OK && db != DB_COUNT)
        L(txn->st)->dbi[db] = dbi; /* later steps of the same upgrade may write it */
    return rc;
}

static int lmdb_table_drop(struct store_txn *txn, const char *name)
{
    MDB_dbi dbi;
    int mrc = mdb_dbi_open(TX(txn), name, 0, &dbi);
    if (mrc == MDB_NOTFOUND)
        return STORE_OK;
    if (mrc == MDB_SUCCESS)
        mrc = mdb_drop(TX(txn), dbi, 1);
    return store_mdb_err(txn, mrc, name);
}

static int lmdb_tables_open(struct store_txn *txn)
{
    for (int db = 0; db < DB_COUNT; db++) {
        unsigned flags = 0;
        /* 0: LMDB keeps the flags a database was created with */
        int mrc = mdb_dbi_open(TX(txn), store_db_names[db], 0, &L(txn->st)->dbi[db]);
        if (mrc == MDB_NOTFOUND) {
            fprintf(stderr, "storage: database %s is missing\n", store_db_names[db]);
            return STORE_ECORRUPT;
        }
        if (mrc == MDB_SUCCESS)
            mrc = mdb_dbi_flags(TX(txn), L(txn->st)->dbi[db], &flags);
        if (mrc)
            return store_mdb_err(txn, mrc, store_db_names[db]);
        if (flags & MDB_DUPSORT) {
            fprintf(stderr, "storage: database %s holds duplicate keys\n", store_db_names[db]);
            return STORE_ECORRUPT;
        }
    }
    return STORE_OK;
}

static int lmdb_ready(struct store *st)
{
    (void)st;
    return STORE_OK;
}

static void lmdb_close(struct store *st);

static const struct kv_backend lmdb_backend = {
    .name = "lmdb",
    .read = lmdb_read,
    .write = lmdb_write,
    .get = lmdb_get,
    .put = lmdb_put,
    .del = lmdb_del,
    .cursor_open = lmdb_cursor_open,
    .cursor_close = lmdb_cursor_close,
    .move = lmdb_move,
    .cursor_del = lmdb_cursor_del,
    .table_create = lmdb_table_create,
    .table_drop = lmdb_table_drop,
    .tables_open = lmdb_tables_open,
    .generation = lmdb_generation,
    .txn_generation = lmdb_txn_generation,
    .backup = lmdb_backup,
    .map_size = lmdb_map_size,
    .write_stats = lmdb_write_stats,
    .ready = lmdb_ready,
    .close = lmdb_close,
};

/* Binds the tables that exist already, so schema steps may read and write the tables of earlier
 * steps; the steps create the rest. */
static int bind_existing(struct store_txn *txn)
{
    for (int db = 0; db < DB_COUNT; db++) {
        int mrc = mdb_dbi_open(TX(txn), store_db_names[db], 0, &L(txn->st)->dbi[db]);
        if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
            return store_mdb_err(txn, mrc, store_db_names[db]);
    }
    return STORE_OK;
}

static int open_cb(struct store_txn *txn, void *arg)
{
    int rc = bind_existing(txn);
    (void)arg;
    return rc ? rc : store_schema_open(txn);
}

static size_t round_up(size_t n, size_t to)
{
    return (n + to - 1) / to * to;
}

int store_lmdb_open(const char *dir, const struct store_options *opts, struct store **out)
{
    struct store *st = NULL;
    pthread_rwlockattr_t attr;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    size_t map_size = opts && opts->map_size ? opts->map_size : DEFAULT_MAP_SIZE;
    size_t map_size_max = opts && opts->map_size_max ? opts->map_size_max : DEFAULT_MAP_SIZE_MAX;
    int rc, mrc, lock_ready = 0;

    map_size = round_up(map_size, page);
    map_size_max = map_size_max / page * page;
    if (map_size > map_size_max)
        return STORE_EINVAL;

    st = calloc(1, sizeof(struct lmdb_store));
    if (!st)
        return STORE_ENOMEM;
    st->be = &lmdb_backend;
    L(st)->map_size_max = map_size_max;
    pthread_mutex_init(&L(st)->group_lock, NULL);
    pthread_cond_init(&L(st)->group_done, NULL);
    L(st)->group_tail = &L(st)->group_head;
    if (pthread_rwlockattr_init(&attr)) {
        rc = STORE_ENOMEM;
        goto out;
    }
    pthread_rwlockattr_setkind_np(&attr, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    lock_ready = pthread_rwlock_init(&L(st)->resize_lock, &attr) == 0;
    pthread_rwlockattr_destroy(&attr);
    if (!lock_ready) {
        rc = STORE_ENOMEM;
        goto out;
    }

    mrc = mdb_env_create(&L(st)->env);
    if (mrc) {
        rc = store_mdb_err(NULL, mrc, "mdb_env_create");
        goto out;
    }
    mrc = mdb_env_set_maxdbs(L(st)->env, STORE_MAX_DBS);
    if (!mrc)
        mrc = mdb_env_set_mapsize(L(st)->env, map_size);
    if (mrc) {
        rc = store_mdb_err(NULL, mrc, "mdb_env_set_mapsize");
        goto out;
    }
    /* MDB_NOTLS: read transactions belong to the callback, not to a thread's reader slot. */
    mrc = mdb_env_open(L(st)->env, dir, MDB_NOTLS, 0600);
    if (mrc) {
        fprintf(stderr, "storage: cannot open %s: %s\n", dir, mdb_strerror(mrc));
        rc = mrc == ENOMEM ? STORE_ENOMEM : STORE_EIO;
        goto out;
    }
    L(st)->map_size = map_size;
    /* A process that died inside a read transaction leaves its reader slot behind, which pins
     * old pages and makes the file grow; clear such slots once here. */
    mdb_reader_check(L(st)->env, NULL);
    /* LMDB opens with the size we configured (rounded up to the data); a file grown earlier, by
     * us or another process, records a larger size, which we keep. */
    rc = adopt_file_map_size(st);
    if (rc)
        goto out;
    rc = lmdb_write(st, open_cb, NULL);
    if (rc)
        goto out;
    *out = st;
    st = NULL;
out:
    if (st) {
        if (L(st)->env)
            mdb_env_close(L(st)->env);
        if (lock_ready)
            pthread_rwlock_destroy(&L(st)->resize_lock);
        pthread_mutex_destroy(&L(st)->group_lock);
        pthread_cond_destroy(&L(st)->group_done);
        free(st);
    }
    return rc;
}

static void lmdb_close(struct store *st)
{
    mdb_env_close(L(st)->env);
    pthread_rwlock_destroy(&L(st)->resize_lock);
    pthread_mutex_destroy(&L(st)->group_lock);
    pthread_cond_destroy(&L(st)->group_done);
    free(st);
}
