/* Failed logins for the brute-force defence: opaque key -> count, last failure, lock end, expiry
 * (four 8-byte big-endian integers), and an index expiry || key -> "" ordered by expiry, so the
 * sweep reads only what it removes. The server makes the key from the login name and the client
 * address; storage never sees either. */
#include "storage/internal.h"

#include <string.h>

#define VALUE_LEN 32
#define INDEX_KEY_MAX (8 + STORE_LOGIN_KEY_MAX)

static int login_key(const char *key, MDB_val *out)
{
    if (!str_fits_nonempty(key, STORE_LOGIN_KEY_MAX + 1))
        return STORE_EINVAL;
    out->mv_data = (void *)key;
    out->mv_size = strlen(key);
    return STORE_OK;
}

static void index_key(uint64_t expires, const MDB_val *key, uint8_t buf[INDEX_KEY_MAX],
                      MDB_val *out)
{
    be64_put(buf, expires);
    memcpy(buf + 8, key->mv_data, key->mv_size);
    out->mv_data = buf;
    out->mv_size = 8 + key->mv_size;
}

static int decode(const MDB_val *key, const MDB_val *data, struct store_login_failures *out)
{
    const uint8_t *p = data->mv_data;
    if (data->mv_size != VALUE_LEN)
        return store_corrupt(DB_LOGIN_FAILURES, key->mv_data, key->mv_size);
    out->count = be64_get(p);
    out->last_failure_at = (int64_t)be64_get(p + 8);
    out->locked_until = (int64_t)be64_get(p + 16);
    out->expires_at = (int64_t)be64_get(p + 24);
    return STORE_OK;
}

int store_login_failures_get(struct store_txn *txn, const char *key,
                             struct store_login_failures *out)
{
    MDB_val k, data;
    int rc;
    if (!txn || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if ((rc = login_key(key, &k)) != STORE_OK)
        return rc;
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES], &k, &data),
                       "get login failures");
    return rc ? rc : decode(&k, &data, out);
}

/* Removes key's record and its index entry; STORE_OK when there was none. */
static int remove_record(struct store_txn *txn, const MDB_val *k)
{
    MDB_val data, index;
    uint8_t index_buf[INDEX_KEY_MAX];
    struct store_login_failures old = {0};
    MDB_dbi list = txn->st->dbi[DB_LOGIN_FAILURES];
    int rc = store_mdb_err(txn, mdb_get(txn->txn, list, (MDB_val *)k, &data), "get login failures");
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc || (rc = decode(k, &data, &old)) != STORE_OK)
        return rc;
    index_key((uint64_t)old.expires_at, k, index_buf, &index);
    rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES_BY_EXP], &index, NULL),
                       "delete login failures index");
    if (rc && rc != STORE_NOTFOUND)
        return rc;
    return store_mdb_err(txn, mdb_del(txn->txn, list, (MDB_val *)k, NULL), "delete login failures");
}

int store_login_failures_put(struct store_txn *txn, const char *key,
                             const struct store_login_failures *f)
{
    MDB_val k, data, index, empty = {0};
    uint8_t value[VALUE_LEN], index_buf[INDEX_KEY_MAX];
    int rc = store_txn_writable(txn);
    if (!rc && !f)
        rc = STORE_EINVAL;
    if (!rc)
        rc = login_key(key, &k);
    if (rc)
        return rc;
    if (f->last_failure_at < 0 || f->locked_until < 0 || f->expires_at < 0)
        return STORE_EINVAL;
    if ((rc = remove_record(txn, &k)) != STORE_OK)
        return rc;
    be64_put(value, f->count);
    be64_put(value + 8, (uint64_t)f->last_failure_at);
    be64_put(value + 16, (uint64_t)f->locked_until);
    be64_put(value + 24, (uint64_t)f->expires_at);
    data.mv_data = value;
    data.mv_size = sizeof value;
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES], &k, &data, 0),
                       "put login failures");
    if (rc)
        return rc;
    index_key((uint64_t)f->expires_at, &k, index_buf, &index);
    return store_mdb_err(
        txn, mdb_put(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES_BY_EXP], &index, &empty, 0),
        "put login failures index");
}

int store_login_failures_delete(struct store_txn *txn, const char *key)
{
    MDB_val k;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = login_key(key, &k);
    return rc ? rc : remove_record(txn, &k);
}

int store_login_failures_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    MDB_cursor *cur = NULL;
    MDB_val index, data, k;
    char key_buf[STORE_LOGIN_KEY_MAX];
    int rc, mrc;
    if (now < 0)
        return STORE_OK;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES_BY_EXP], &cur),
                       "cursor login failures index");
    if (rc)
        return rc;
    /* Always the first (earliest) entry: no reliance on where a cursor lands after a delete. */
    for (;;) {
        mrc = mdb_cursor_get(cur, &index, &data, MDB_FIRST);
        if (mrc)
            break;
        if (index.mv_size <= 8 || index.mv_size > INDEX_KEY_MAX) {
            rc = store_corrupt(DB_LOGIN_FAILURES_BY_EXP, "", 0);
            goto out;
        }
        uint64_t expires = be64_get(index.mv_data);
        if (expires > (uint64_t)now)
            break;
        k.mv_size = index.mv_size - 8; /* copied: the deletes below change pages */
        memcpy(key_buf, (const uint8_t *)index.mv_data + 8, k.mv_size);
        k.mv_data = key_buf;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        mrc = mdb_del(txn->txn, txn->st->dbi[DB_LOGIN_FAILURES], &k, NULL);
        if (mrc && mrc != MDB_NOTFOUND)
            break;
        mrc = MDB_SUCCESS;
        (*removed)++;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "sweep login failures");
out:
    mdb_cursor_close(cur);
    return rc;
}
