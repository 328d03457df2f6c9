/* Expiry indexes: be64(expires_at) || record key -> "", ordered by time, so a sweep reads only
 * what it removes. Records that expire (authorization codes, device codes) keep one beside
 * their database and write both in one transaction. */
#include "storage/kv.h"

#include <string.h>

#define EXPIRY_KEY_MAX KV_KEY_MAX

static int expiry_key(int64_t expires, const void *key, size_t len, uint8_t buf[EXPIRY_KEY_MAX],
                      struct kv_val *out)
{
    if (expires < 0 || len == 0 || len > EXPIRY_KEY_MAX - 8)
        return STORE_EINVAL;
    be64_put(buf, (uint64_t)expires);
    memcpy(buf + 8, key, len);
    out->data = buf;
    out->len = 8 + len;
    return STORE_OK;
}

int expiry_put(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    struct kv_val k;
    int rc = expiry_key(expires, key, len, buf, &k);
    return rc ? rc : kv_put(txn, index, k, (struct kv_val){"", 0});
}

int expiry_del(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    struct kv_val k;
    int rc = expiry_key(expires, key, len, buf, &k);
    if (!rc)
        rc = kv_del(txn, index, k);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int hashed_get(struct store_txn *txn, enum store_db db, const uint8_t *hash, struct kv_val *key,
               struct kv_val *val)
{
    if (!txn || !hash)
        return STORE_EINVAL;
    *key = (struct kv_val){hash, 32};
    return kv_get(txn, db, *key, val);
}

int hashed_load(const struct kv_val *key, const struct kv_val *val, uint8_t *hash, json_t **obj)
{
    *obj = NULL;
    if (key->len != 32)
        return STORE_ECORRUPT;
    memcpy(hash, key->data, 32);
    return codec_load(val->data, val->len, obj);
}

int hashed_done(enum store_db db, int rc, json_t *obj, void *out, size_t size)
{
    json_decref(obj);
    if (rc) {
        memset(out, 0, size);
        if (rc == STORE_ECORRUPT)
            store_corrupt(db, "", 0);
    }
    return rc;
}

int expiry_sweep(struct store_txn *txn, enum store_db index, int64_t now,
                 int (*drop)(struct store_txn *txn, const void *key, size_t len, void *arg),
                 void *arg, size_t *removed)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    struct kv_cursor *cur = NULL;
    struct kv_val k;
    int rc = kv_cursor_open(txn, index, &cur);
    /* Always the earliest entry: no reliance on where a cursor lands after a delete. */
    while (!rc && (rc = kv_move(cur, KV_FIRST, NULL, &k, NULL)) == STORE_OK) {
        if (k.len <= 8 || k.len > EXPIRY_KEY_MAX) {
            rc = store_corrupt(index, "", 0);
            break;
        }
        if ((int64_t)be64_get(k.data) > now)
            break;
        /* copied: the deletes below end the life of what k points to */
        size_t len = k.len;
        memcpy(buf, k.data, len);
        k.data = buf;
        rc = drop(txn, buf + 8, len - 8, arg);
        if (rc == STORE_NOTFOUND) /* the entry of a record that is gone */
            rc = STORE_OK;
        else if (!rc && removed)
            (*removed)++;
        if (!rc)
            rc = kv_del(txn, index, k);
        if (rc == STORE_NOTFOUND) /* drop removed it already */
            rc = STORE_OK;
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}
