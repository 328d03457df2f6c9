/* The key-value calls of kv.h: argument checks, then the transaction's backend. */
#include "storage/backend.h"

#include <string.h>

struct kv_val kv_str(const char *s)
{
    return (struct kv_val){.data = s, .len = strlen(s)};
}

static int key_ok(struct kv_val key)
{
    return key.data && key.len > 0 && key.len <= KV_KEY_MAX;
}

void kv_read_ahead(struct store_txn *txn, size_t n, const enum store_db *dbs,
                   const struct kv_val *keys)
{
    enum store_db d[KV_AHEAD_MAX];
    struct kv_val k[KV_AHEAD_MAX];
    size_t m = 0;
    if (!txn || !dbs || !keys || !txn->st->be->read_ahead)
        return;
    for (size_t i = 0; i < n && m < KV_AHEAD_MAX; i++)
        if (key_ok(keys[i]) && dbs[i] >= 0 && dbs[i] < DB_COUNT) {
            d[m] = dbs[i];
            k[m++] = keys[i];
        }
    if (m)
        txn->st->be->read_ahead(txn, m, d, k);
}

int kv_get(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val *val)
{
    if (!txn || !val || !key_ok(key))
        return STORE_EINVAL;
    return txn->st->be->get(txn, db, key, val);
}

int kv_write(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val,
             enum kv_put how)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!key_ok(key) || (val.len && !val.data) || how < KV_UPSERT || how > KV_UPDATE)
        return STORE_EINVAL;
    return txn->st->be->put(txn, db, key, val, how);
}

int kv_put(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val)
{
    return kv_write(txn, db, key, val, KV_UPSERT);
}

int kv_insert(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val)
{
    return kv_write(txn, db, key, val, KV_INSERT);
}

int kv_update(struct store_txn *txn, enum store_db db, struct kv_val key, struct kv_val val)
{
    return kv_write(txn, db, key, val, KV_UPDATE);
}

int kv_touch(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    struct kv_val val;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!key_ok(key))
        return STORE_EINVAL;
    if (txn->st->be->touch)
        return txn->st->be->touch(txn, db, key);
    return txn->st->be->get(txn, db, key, &val);
}

int kv_insert_many(struct store_txn *txn, enum store_db db, size_t n, const struct kv_val *keys,
                   const struct kv_val *vals)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (n && (!keys || !vals))
        return STORE_EINVAL;
    for (size_t i = 0; i < n; i++)
        if (!key_ok(keys[i]) || (vals[i].len && !vals[i].data))
            return STORE_EINVAL;
    if (!n)
        return STORE_OK;
    if (txn->st->be->insert_many)
        return txn->st->be->insert_many(txn, db, n, keys, vals);
    for (size_t i = 0; i < n && rc == STORE_OK; i++)
        rc = txn->st->be->put(txn, db, keys[i], vals[i], KV_INSERT);
    return rc;
}

int kv_del(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!key_ok(key))
        return STORE_EINVAL;
    return txn->st->be->del(txn, db, key);
}

int kv_cursor_open(struct store_txn *txn, enum store_db db, struct kv_cursor **out)
{
    if (!out)
        return STORE_EINVAL;
    *out = NULL;
    if (!txn)
        return STORE_EINVAL;
    return txn->st->be->cursor_open(txn, db, out);
}

void kv_cursor_close(struct kv_cursor *cur)
{
    if (cur)
        cur->txn->st->be->cursor_close(cur);
}

int kv_move(struct kv_cursor *cur, enum kv_move how, const struct kv_val *at, struct kv_val *key,
            struct kv_val *val)
{
    struct kv_val k, v;
    if (!cur)
        return STORE_EINVAL;
    if ((how == KV_GE || how == KV_GT || how == KV_BEFORE) && (!at || !key_ok(*at)))
        return STORE_EINVAL;
    return cur->txn->st->be->move(cur, how, at, key ? key : &k, val ? val : &v);
}

int kv_cursor_del(struct kv_cursor *cur)
{
    int rc = cur ? store_txn_writable(cur->txn) : STORE_EINVAL;
    return rc ? rc : cur->txn->st->be->cursor_del(cur);
}

int kv_prefix_next(struct kv_cursor *cur, struct kv_val prefix, int *started, struct kv_val *key,
                   struct kv_val *val)
{
    struct kv_val k;
    int rc;
    if (!started)
        return STORE_EINVAL;
    if (!key)
        key = &k;
    rc = kv_move(cur, *started ? KV_NEXT : KV_GE, &prefix, key, val);
    *started = 1;
    if (rc == STORE_OK &&
        (key->len < prefix.len || memcmp(key->data, prefix.data, prefix.len) != 0))
        rc = STORE_NOTFOUND;
    return rc;
}

int kv_table_create(struct store_txn *txn, const char *name)
{
    int rc = store_txn_writable(txn);
    return rc ? rc : txn->st->be->table_create(txn, name);
}

int kv_table_drop(struct store_txn *txn, const char *name)
{
    int rc = store_txn_writable(txn);
    return rc ? rc : txn->st->be->table_drop(txn, name);
}

int kv_table_empty(struct store_txn *txn, enum store_db db, int *empty)
{
    struct kv_cursor *cur = NULL;
    int rc = kv_cursor_open(txn, db, &cur);
    if (rc)
        return rc;
    rc = kv_move(cur, KV_FIRST, NULL, NULL, NULL);
    kv_cursor_close(cur);
    if (rc == STORE_OK || rc == STORE_NOTFOUND) {
        *empty = rc == STORE_NOTFOUND;
        rc = STORE_OK;
    }
    return rc;
}
