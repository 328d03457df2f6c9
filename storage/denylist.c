/* Access-token denylist: jti -> 8-byte big-endian exp, and an expiry index (expiry.c)
 * exp || jti -> "" ordered by expiry, so the sweep reads only the entries it removes. */
#include "storage/kv.h"

#include <string.h>

static int jti_key(const char *jti, struct kv_val *key)
{
    if (!str_fits_nonempty(jti, STORE_JTI_MAX + 1))
        return STORE_EINVAL;
    *key = kv_str(jti);
    return STORE_OK;
}

int store_deny_add(struct store_txn *txn, const char *jti, int64_t exp)
{
    uint8_t exp_buf[8];
    struct kv_val key, val;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = jti_key(jti, &key);
    if (rc)
        return rc;
    if (exp < 0)
        return STORE_EINVAL;
    rc = kv_get(txn, DB_DENYLIST, key, &val);
    if (rc == STORE_OK) {
        uint64_t old;
        if (val.len != 8)
            return store_corrupt(DB_DENYLIST, key.data, key.len);
        old = be64_get(val.data); /* read now: the writes below end the life of val */
        if (old >= (uint64_t)exp)
            return STORE_OK; /* already denied at least as long */
        rc = expiry_del(txn, DB_DENYLIST_BY_EXP, (int64_t)old, key.data, key.len);
    } else if (rc == STORE_NOTFOUND) {
        rc = STORE_OK;
    }
    if (rc)
        return rc;
    be64_put(exp_buf, (uint64_t)exp);
    rc = kv_put(txn, DB_DENYLIST, key, (struct kv_val){exp_buf, sizeof exp_buf});
    return rc ? rc : expiry_put(txn, DB_DENYLIST_BY_EXP, exp, key.data, key.len);
}

int store_deny_claim(struct store_txn *txn, const char *jti, int64_t exp)
{
    uint8_t exp_buf[8];
    struct kv_val key;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = jti_key(jti, &key);
    if (rc)
        return rc;
    if (exp < 0)
        return STORE_EINVAL;
    be64_put(exp_buf, (uint64_t)exp);
    rc = kv_insert(txn, DB_DENYLIST, key, (struct kv_val){exp_buf, sizeof exp_buf});
    return rc ? rc : expiry_put(txn, DB_DENYLIST_BY_EXP, exp, key.data, key.len);
}

int store_deny_has(struct store_txn *txn, const char *jti, int *denied)
{
    struct kv_val key, val;
    int rc;

    if (!txn || !denied)
        return STORE_EINVAL;
    *denied = 0;
    rc = jti_key(jti, &key);
    if (rc)
        return rc;
    rc = kv_get(txn, DB_DENYLIST, key, &val);
    if (rc == STORE_OK)
        *denied = 1;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* An expired index entry's jti: forgotten when its deny has run out by *now (store_deny_add
 * moves the entry of a deny it extends, so it always has). A gone or unreadable record is left
 * alone; every entry counts as removed. */
static int deny_drop(struct store_txn *txn, const void *jti, size_t len, void *arg)
{
    const int64_t *now = arg;
    struct kv_val key = {jti, len}, val;
    int rc;

    if (len > STORE_JTI_MAX)
        return store_corrupt(DB_DENYLIST_BY_EXP, "", 0);
    rc = kv_get(txn, DB_DENYLIST, key, &val);
    if (rc == STORE_OK && val.len == 8 && be64_get(val.data) <= (uint64_t)*now)
        rc = kv_del(txn, DB_DENYLIST, key);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_deny_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    if (now < 0)
        return STORE_OK;
    return expiry_sweep(txn, DB_DENYLIST_BY_EXP, now, deny_drop, &now, removed);
}
