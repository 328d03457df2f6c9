/* Expiry indexes: be64(expires_at) || record key -> "", ordered by time, so a sweep reads only
 * what it removes. Records that expire (authorization codes, device codes) keep one beside
 * their database and write both in one transaction. */
#include "storage/internal.h"

#include <string.h>

#define EXPIRY_KEY_MAX 512 /* LMDB's key limit, with the 8 bytes of time */

static int expiry_key(int64_t expires, const void *key, size_t len, uint8_t buf[EXPIRY_KEY_MAX],
                      MDB_val *out)
{
    if (expires < 0 || len == 0 || len > EXPIRY_KEY_MAX - 8 - 1)
        return STORE_EINVAL;
    be64_put(buf, (uint64_t)expires);
    memcpy(buf + 8, key, len);
    out->mv_data = buf;
    out->mv_size = 8 + len;
    return STORE_OK;
}

int expiry_put(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    MDB_val k, empty = {0};
    int rc = expiry_key(expires, key, len, buf, &k);
    return rc ? rc
              : store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[index], &k, &empty, 0),
                              "put expiry");
}

int expiry_del(struct store_txn *txn, enum store_db index, int64_t expires, const void *key,
               size_t len)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    MDB_val k;
    int rc = expiry_key(expires, key, len, buf, &k);
    if (!rc)
        rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[index], &k, NULL), "del expiry");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int hashed_get(struct store_txn *txn, enum store_db db, const uint8_t *hash, MDB_val *key,
               MDB_val *data)
{
    if (!txn || !hash)
        return STORE_EINVAL;
    key->mv_size = 32;
    key->mv_data = (void *)hash;
    return store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[db], key, data), store_db_names[db]);
}

int expiry_sweep(struct store_txn *txn, enum store_db index, int64_t now,
                 int (*drop)(struct store_txn *txn, const void *key, size_t len, void *arg),
                 void *arg, size_t *removed)
{
    uint8_t buf[EXPIRY_KEY_MAX];
    MDB_cursor *cur = NULL;
    MDB_val k, data;
    int rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[index], &cur), "cursor expiry");
    int mrc = MDB_NOTFOUND;
    if (rc)
        return rc;
    /* Always the earliest entry: no reliance on where a cursor lands after a delete. */
    while (!rc && (mrc = mdb_cursor_get(cur, &k, &data, MDB_FIRST)) == MDB_SUCCESS) {
        if (k.mv_size <= 8 || k.mv_size > EXPIRY_KEY_MAX) {
            rc = store_corrupt(index, "", 0);
            break;
        }
        if ((int64_t)be64_get(k.mv_data) > now)
            break;
        /* copied: the deletes below change the page k points into */
        size_t len = k.mv_size;
        memcpy(buf, k.mv_data, len);
        k.mv_data = buf;
        rc = drop(txn, buf + 8, len - 8, arg);
        if (rc == STORE_NOTFOUND) /* the entry of a record that is gone */
            rc = STORE_OK;
        else if (!rc && removed)
            (*removed)++;
        if (!rc)
            rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[index], &k, NULL), "del expiry");
        if (rc == STORE_NOTFOUND) /* drop removed it already */
            rc = STORE_OK;
    }
    if (!rc && mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "sweep expiry");
    mdb_cursor_close(cur);
    return rc;
}
