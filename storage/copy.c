/* store_copy(): every table of one store into another, whatever their backends, from one read
 * transaction of the source, in bounded write transactions of the target.
 *
 * The read callback of `from` calls store_write() on `to` once per batch; env.c lets a
 * transaction of another store nest (store_run_callback keeps a frame per store). A batch
 * callback may run again (LMDB's map grows, PostgreSQL retries a serialisation failure), so it
 * starts each run from where its batch starts, re-seeking the source cursors, and only the
 * caller moves that start on, after the batch committed. */
#include "storage/backend.h"

#include <stdio.h>
#include <string.h>

#define COPY_BATCH 1000 /* entries per write transaction of the target */

/* The next entry to copy: the first of table db whose key is >= key, or the table's first when
 * key_len is 0; db == DB_COUNT when every table is copied. */
struct copy_pos {
    int db;
    unsigned char key[KV_KEY_MAX];
    size_t key_len;
};

struct copy {
    struct store *to;
    struct store_txn *src;  /* from's read transaction */
    struct copy_pos at;     /* where the next batch starts: moved on after each commit */
    struct copy_pos end;    /* where the batch under way stopped */
    uint64_t batch_entries; /* entries the batch under way wrote */
    uint64_t entries;       /* entries committed */
    uint64_t batches;       /* batches committed */
};

/* An error of the source's transaction. A read transaction has nothing to retry, but were the
 * backend to ask for a rerun it would be the source's, not the target's: store_write() of the
 * target must not take it for its own (LMDB would grow its map and run the batch again). */
static int source_rc(int rc)
{
    if (rc != STORE_ERERUN)
        return rc;
    fprintf(stderr, "storage: copy: the source's read transaction failed\n");
    return STORE_EIO;
}

/* The schema version of the store txn belongs to into *version. */
static int schema_version(struct store_txn *txn, uint64_t *version)
{
    int rc = store_meta_get(txn, STORE_SCHEMA_KEY, version);
    if (rc == STORE_NOTFOUND) /* store_open() writes it before anything else can run */
        rc = store_corrupt(DB_META, STORE_SCHEMA_KEY, strlen(STORE_SCHEMA_KEY));
    return rc;
}

/* STORE_OK when the target (txn) holds nothing but the schema version store_open() wrote, the
 * same as the source's; STORE_EXISTS when it holds anything else. */
static int target_is_empty(struct copy *c, struct store_txn *txn)
{
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    uint64_t ours = 0, theirs = 0;
    int rc = STORE_OK, empty = 1;

    for (int db = 0; db < DB_COUNT && empty && rc == STORE_OK; db++)
        if (db != DB_META)
            rc = kv_table_empty(txn, (enum store_db)db, &empty);
    if (rc == STORE_OK && !empty)
        rc = STORE_EXISTS;
    if (rc)
        goto out;
    /* meta: the schema version alone; any other entry (the key ring's epoch) is a record */
    rc = kv_cursor_open(txn, DB_META, &cur);
    if (rc)
        goto out;
    for (rc = kv_move(cur, KV_FIRST, NULL, &key, &val); rc == STORE_OK;
         rc = kv_move(cur, KV_NEXT, NULL, &key, &val))
        if (key.len != strlen(STORE_SCHEMA_KEY) ||
            memcmp(key.data, STORE_SCHEMA_KEY, key.len) != 0) {
            rc = STORE_EXISTS;
            break;
        }
    if (rc != STORE_NOTFOUND)
        goto out;
    rc = schema_version(txn, &theirs);
    if (rc == STORE_OK)
        rc = source_rc(schema_version(c->src, &ours));
    if (rc == STORE_OK && ours != theirs) {
        fprintf(stderr, "storage: copy: schema version %llu cannot be copied onto %llu\n",
                (unsigned long long)ours, (unsigned long long)theirs);
        rc = STORE_EVERSION;
    }
out:
    kv_cursor_close(cur);
    return rc;
}

/* Copies table c->end.db from c->end on until the table ends or the batch is full, and leaves
 * in c->end where the next entry is. */
static int copy_table(struct copy *c, struct store_txn *txn)
{
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    enum store_db db = (enum store_db)c->end.db;
    int rc = source_rc(kv_cursor_open(c->src, db, &cur));

    if (rc)
        goto out;
    if (c->end.key_len) {
        struct kv_val at = {c->end.key, c->end.key_len};
        rc = source_rc(kv_move(cur, KV_GE, &at, &key, &val));
    } else {
        rc = source_rc(kv_move(cur, KV_FIRST, NULL, &key, &val));
    }
    while (rc == STORE_OK && c->batch_entries < COPY_BATCH) {
        /* meta replaces the target's schema version; anything else found taken would mean
         * another writer on the target: stop rather than mix two stores */
        rc = db == DB_META ? kv_put(txn, db, key, val) : kv_insert(txn, db, key, val);
        if (rc)
            break;
        c->batch_entries++;
        rc = source_rc(kv_move(cur, KV_NEXT, NULL, &key, &val));
    }
    if (rc == STORE_OK && key.len > sizeof c->end.key) {
        rc = store_corrupt(db, key.data, key.len);
    } else if (rc == STORE_OK) { /* the batch is full: key is the first entry of the next one */
        memcpy(c->end.key, key.data, key.len);
        c->end.key_len = key.len;
    } else if (rc == STORE_NOTFOUND) {
        c->end.db++;
        c->end.key_len = 0;
        rc = STORE_OK;
    }
out:
    kv_cursor_close(cur);
    return rc;
}

/* One write transaction of the target. Runs again from c->at when the backend retries it. */
static int copy_batch(struct store_txn *txn, void *arg)
{
    struct copy *c = arg;
    int rc = STORE_OK;

    c->end = c->at;
    c->batch_entries = 0;
    if (c->batches == 0)
        rc = target_is_empty(c, txn);
    while (rc == STORE_OK && c->end.db < DB_COUNT && c->batch_entries < COPY_BATCH)
        rc = copy_table(c, txn);
    return rc;
}

/* The read transaction of the source: the snapshot every batch copies from. */
static int copy_snapshot(struct store_txn *txn, void *arg)
{
    struct copy *c = arg;
    int rc = STORE_OK;

    /* A backend that ran this callback again would hand over another snapshot, which must not
     * be mixed with what the target committed from the first. */
    if (c->batches) {
        fprintf(stderr, "storage: copy: the source's snapshot ended after %llu entries\n",
                (unsigned long long)c->entries);
        return STORE_EIO;
    }
    c->src = txn;
    memset(&c->at, 0, sizeof c->at);
    while (rc == STORE_OK && c->at.db < DB_COUNT) {
        rc = store_write(c->to, copy_batch, c);
        if (rc == STORE_OK) {
            c->at = c->end;
            c->entries += c->batch_entries;
            c->batches++;
        }
    }
    return rc;
}

int store_copy(struct store *from, struct store *to, uint64_t *entries)
{
    struct copy c = {.to = to};
    int rc;

    if (entries)
        *entries = 0;
    if (!from || !to || from == to)
        return STORE_EINVAL;
    rc = store_read(from, copy_snapshot, &c);
    if (entries)
        *entries = c.entries;
    return rc;
}
