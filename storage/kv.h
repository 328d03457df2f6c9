/* storage/kv.h — the ordered key-value store beneath the record files; internal to storage/.
 *
 * A store is a fixed set of named tables (enum store_db). Each maps keys of 1..KV_KEY_MAX bytes
 * to values of any length, ordered by byte (memcmp, then the shorter first: LMDB's default order
 * and PostgreSQL's bytea order, so a range walk sees the same keys on both backends). There are
 * no duplicate keys. Every call runs inside the transaction of a store_read() or store_write()
 * callback and acts on that transaction only.
 *
 * Results: STORE_OK; STORE_NOTFOUND for a missing key or the end of a walk; STORE_EXISTS from
 * kv_insert(); any other STORE_* error after one line on stderr naming the table. A backend
 * error that dooms the transaction (LMDB's map full, PostgreSQL's serialisation failure or
 * deadlock) also marks the transaction, and store_write() runs the callback again from the start
 * whatever it returned; callbacks pass such errors up unchanged.
 *
 * Lifetimes: a value or key a call returns stays valid until the next write (put, insert, del)
 * in the transaction, or its end; a cursor's key and value until that cursor moves again. Copy
 * what must survive. A cursor sees the writes its own transaction made before each move. */
#ifndef IDPD_STORAGE_KV_H
#define IDPD_STORAGE_KV_H

#include <stddef.h>

#include "storage/internal.h"

#define KV_KEY_MAX 511 /* LMDB's limit; PostgreSQL would take more */

/* A key or value from a NUL-terminated string, without the NUL. */
struct kv_val kv_str(const char *s);

int kv_get(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val *val);
/* Creates or replaces the entry. */
int kv_put(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val);
/* Creates the entry; STORE_EXISTS (and nothing written) when the key is taken. */
int kv_insert(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val);
/* Replaces the entry; STORE_NOTFOUND (and nothing written) when there is none. A record the
 * transaction read and now rewrites goes through kv_update(), never kv_put(): on PostgreSQL a
 * kv_put() would bring back an entry that another transaction deleted meanwhile, where
 * kv_update() makes the two collide (storage.h: "Isolation"). */
int kv_update(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val);
/* Writes the entry unchanged; STORE_NOTFOUND when there is none. Two transactions that touch or
 * write one entry collide on PostgreSQL, so a parent row touched by every transaction that adds
 * or removes its children (or counts them) orders them as one writer would. On LMDB, with one
 * writer at a time, it is a lookup. */
int kv_touch(struct store_txn *txn, enum store_db db, struct kv_val key);
/* A hint that the transaction is about to kv_get() these n keys (of tables dbs[i]), none
 * depending on another: PostgreSQL reads them in one round trip and answers the gets that
 * follow from memory. Keys that are not valid are skipped; errors are left to the gets. */
#define KV_AHEAD_MAX 8 /* keys read ahead at most; more are left to their gets */
void kv_read_ahead(struct store_txn *txn, size_t n, const enum store_db *dbs,
                   const struct kv_val *keys);
/* What a write does about an entry that is there, or is not. */
enum kv_put {
    KV_UPSERT, /* kv_put(): create or replace */
    KV_INSERT, /* kv_insert(): STORE_EXISTS when there is one */
    KV_UPDATE, /* kv_update(): STORE_NOTFOUND when there is none */
};
/* kv_put(), kv_insert() or kv_update() as how says, for a record file that writes new and
 * existing records through one function. */
int kv_write(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val,
             enum kv_put how);
/* Creates n entries at once: one statement on PostgreSQL where n kv_insert() calls would be n
 * round trips (a batch of audit events). STORE_EXISTS when a key was taken: some entries may
 * then be written, so the callback must fail and its transaction end with nothing. */
int kv_insert_many(struct store_txn *txn, enum store_db db, size_t n, const struct kv_val *keys,
                   const struct kv_val *vals);
/* STORE_NOTFOUND when there was no such key. */
int kv_del(struct store_txn *txn, enum store_db db, struct kv_val key);

/* Where a cursor moves. */
enum kv_move {
    KV_FIRST,  /* the first key */
    KV_LAST,   /* the last key */
    KV_GE,     /* the first key >= the key given */
    KV_GT,     /* the first key > the key given */
    KV_BEFORE, /* the last key < the key given */
    KV_NEXT,   /* the key after the cursor's */
    KV_PREV,   /* the key before the cursor's */
};

/* A new cursor has no position: its first move is KV_FIRST, KV_LAST, KV_GE, KV_GT or KV_BEFORE. */
struct kv_cursor;
int kv_cursor_open(struct store_txn *txn, enum store_db db, struct kv_cursor **out);
void kv_cursor_close(struct kv_cursor *cur); /* NULL is fine */
/* Moves the cursor and returns the entry it lands on in *key and *val (either may be NULL).
 * `at` is read by KV_GE, KV_GT and KV_BEFORE only. STORE_NOTFOUND when there is no such entry;
 * the cursor then has no position and only KV_FIRST, KV_LAST, KV_GE, KV_GT and KV_BEFORE move
 * it again. */
int kv_move(struct kv_cursor *cur, enum kv_move how, const struct kv_val *at, struct kv_val *key,
            struct kv_val *val);
/* Deletes the entry under the cursor. KV_NEXT then lands on the entry that followed it and
 * KV_PREV on the one that preceded it. */
int kv_cursor_del(struct kv_cursor *cur);

/* Walks keys starting with prefix (which must not be empty), in order: the first call passes
 * *started = 0, each returns STORE_OK with the entry or STORE_NOTFOUND past the last one. */
int kv_prefix_next(struct kv_cursor *cur, struct kv_val prefix, int *started, struct kv_val *key,
                   struct kv_val *val);

/* Schema steps (schema.c) create and drop tables by name, so a step can drop a table the
 * current enum no longer names. kv_table_create of a table that exists is STORE_OK. */
int kv_table_create(struct store_txn *txn, const char *name);
int kv_table_drop(struct store_txn *txn, const char *name);
/* *empty = 1 when the table holds no entry. */
int kv_table_empty(struct store_txn *txn, enum store_db db, int *empty);

#endif
