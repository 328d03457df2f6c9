/* Access-token denylist: jti -> 8-byte big-endian exp, and an index exp || jti -> "" ordered by
 * expiry, so the sweep reads only the entries it removes. */
#include "storage/internal.h"

#include <string.h>

#define INDEX_KEY_MAX (8 + STORE_JTI_MAX)

static int jti_key(const char *jti, MDB_val *key)
{
    if (!str_fits_nonempty(jti, STORE_JTI_MAX + 1))
        return STORE_EINVAL;
    key->mv_data = (void *)jti;
    key->mv_size = strlen(jti);
    return STORE_OK;
}

static void index_key(uint64_t exp, const MDB_val *jti, uint8_t buf[INDEX_KEY_MAX], MDB_val *key)
{
    be64_put(buf, exp);
    memcpy(buf + 8, jti->mv_data, jti->mv_size);
    key->mv_data = buf;
    key->mv_size = 8 + jti->mv_size;
}

int store_deny_add(struct store_txn *txn, const char *jti, int64_t exp)
{
    uint8_t exp_buf[8], index_buf[INDEX_KEY_MAX];
    MDB_val key, data, index, empty = {0};
    MDB_dbi list, by_exp;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = jti_key(jti, &key);
    if (rc)
        return rc;
    if (exp < 0)
        return STORE_EINVAL;
    list = txn->st->dbi[DB_DENYLIST];
    by_exp = txn->st->dbi[DB_DENYLIST_BY_EXP];
    rc = store_mdb_err(txn, mdb_get(txn->txn, list, &key, &data), "get denylist");
    if (rc == STORE_OK) {
        uint64_t old;
        if (data.mv_size != 8)
            return store_corrupt(DB_DENYLIST, key.mv_data, key.mv_size);
        old = be64_get(data.mv_data);
        if (old >= (uint64_t)exp)
            return STORE_OK; /* already denied at least as long */
        index_key(old, &key, index_buf, &index);
        rc = store_mdb_err(txn, mdb_del(txn->txn, by_exp, &index, NULL), "delete denylist index");
        if (rc == STORE_NOTFOUND)
            rc = STORE_OK;
    } else if (rc == STORE_NOTFOUND) {
        rc = STORE_OK;
    }
    if (rc)
        return rc;
    be64_put(exp_buf, (uint64_t)exp);
    data.mv_data = exp_buf;
    data.mv_size = sizeof exp_buf;
    rc = store_mdb_err(txn, mdb_put(txn->txn, list, &key, &data, 0), "put denylist");
    if (rc)
        return rc;
    index_key((uint64_t)exp, &key, index_buf, &index);
    return store_mdb_err(txn, mdb_put(txn->txn, by_exp, &index, &empty, 0), "put denylist index");
}

int store_deny_has(struct store_txn *txn, const char *jti, int *denied)
{
    MDB_val key, data;
    int rc;

    if (!txn || !denied)
        return STORE_EINVAL;
    *denied = 0;
    rc = jti_key(jti, &key);
    if (rc)
        return rc;
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_DENYLIST], &key, &data),
                       "get denylist");
    if (rc == STORE_OK)
        *denied = 1;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_deny_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    MDB_dbi list = txn->st->dbi[DB_DENYLIST];
    MDB_cursor *cur = NULL;
    MDB_val index, data, jti;
    char jti_buf[STORE_JTI_MAX];
    int rc, mrc;

    if (now < 0)
        return STORE_OK;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_DENYLIST_BY_EXP], &cur),
                       "cursor denylist index");
    if (rc)
        return rc;
    /* Always take the first (earliest) entry: no reliance on where a cursor lands after a
     * delete. */
    for (;;) {
        uint64_t exp;
        mrc = mdb_cursor_get(cur, &index, &data, MDB_FIRST);
        if (mrc)
            break;
        if (index.mv_size <= 8 || index.mv_size > INDEX_KEY_MAX) {
            rc = store_corrupt(DB_DENYLIST_BY_EXP, "", 0);
            goto out;
        }
        exp = be64_get(index.mv_data);
        if (exp > (uint64_t)now)
            break;
        /* copied: index points into a page and the deletes below change pages */
        jti.mv_size = index.mv_size - 8;
        memcpy(jti_buf, (const uint8_t *)index.mv_data + 8, jti.mv_size);
        jti.mv_data = jti_buf;
        /* Remove the entry only if it still expires at this index time. */
        mrc = mdb_get(txn->txn, list, &jti, &data);
        if (mrc == MDB_SUCCESS && data.mv_size == 8 && be64_get(data.mv_data) == exp)
            mrc = mdb_del(txn->txn, list, &jti, NULL);
        if (mrc && mrc != MDB_NOTFOUND)
            break;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        (*removed)++;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "sweep denylist");
out:
    mdb_cursor_close(cur);
    return rc;
}
