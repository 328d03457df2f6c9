/* storage/backend.h — what a key-value backend (lmdb.c, postgres.c) implements; internal to
 * storage/. env.c and kv.c call through struct kv_backend; nothing else sees a backend. */
#ifndef IDPD_STORAGE_BACKEND_H
#define IDPD_STORAGE_BACKEND_H

#include "storage/kv.h"

struct kv_backend {
    const char *name; /* "lmdb", "postgres" */
    /* Runs fn in a read-only or a write transaction, as store_read()/store_write() promise;
     * the write runs fn again while the backend marks the transaction for a rerun. */
    int (*read)(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg);
    int (*write)(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg);

    int (*get)(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val *val);
    int (*put)(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val,
               enum kv_put how);
    /* kv_read_ahead() of n (<= KV_AHEAD_MAX) valid keys; NULL: nothing to gain */
    void (*read_ahead)(struct store_txn *txn, size_t n, const enum store_db *dbs,
                       const struct kv_val *keys);
    /* kv_touch(); NULL: a kv_get() (enough where writers take turns) */
    int (*touch)(struct store_txn *txn, enum store_db db, struct kv_val key);
    /* NULL: kv_insert_many() calls put once per entry */
    int (*insert_many)(struct store_txn *txn, enum store_db db, size_t n, const struct kv_val *keys,
                       const struct kv_val *vals);
    int (*del)(struct store_txn *txn, enum store_db db, struct kv_val key);

    int (*cursor_open)(struct store_txn *txn, enum store_db db, struct kv_cursor **out);
    void (*cursor_close)(struct kv_cursor *cur);
    int (*move)(struct kv_cursor *cur, enum kv_move how, const struct kv_val *at,
                struct kv_val *key, struct kv_val *val);
    int (*cursor_del)(struct kv_cursor *cur);

    int (*table_create)(struct store_txn *txn, const char *name);
    int (*table_drop)(struct store_txn *txn, const char *name);
    /* After the schema steps: binds every table of enum store_db, STORE_ECORRUPT when one is
     * missing. */
    int (*tables_open)(struct store_txn *txn);

    uint64_t (*generation)(struct store *st, enum store_scope scope);
    uint64_t (*txn_generation)(const struct store_txn *txn, enum store_scope scope);
    int (*backup)(struct store *st, const char *path);
    size_t (*map_size)(struct store *st);
    void (*write_stats)(struct store *st, uint64_t *writes, uint64_t *batches);
    int (*ready)(struct store *st);
    void (*close)(struct store *st);
};

/* Every cursor starts with this. */
struct kv_cursor {
    struct store_txn *txn;
    enum store_db db;
};

/* The backends' openers: *out is a struct store whose be points at the backend. */
int store_lmdb_open(const char *dir, const struct store_options *opts, struct store **out);
int store_postgres_open(const char *url, const struct store_options *opts, struct store **out);

/* Runs fn as a callback of txn->st: marks this thread as inside one for the call (store_read(),
 * store_write() and store_backup() of that store refuse to nest; another store's may), then
 * restores what was marked before. */
int store_run_callback(int (*fn)(struct store_txn *txn, void *arg), struct store_txn *txn,
                       void *arg);
/* 1 while this thread runs a callback of st (of any store when st is NULL). */
int store_in_callback(const struct store *st);

/* The schema steps, run by each backend's open inside its first write transaction. */
int store_schema_open(struct store_txn *txn);

#endif
