/* Failed logins for the brute-force defence: opaque key -> count, last failure, lock end, expiry
 * (four 8-byte big-endian integers), and an expiry index (expiry.c) expiry || key -> "" ordered
 * by expiry, so the sweep reads only what it removes. The server makes the key from the login
 * name and the client address; storage never sees either. */
#include "storage/kv.h"

#include <string.h>

#define VALUE_LEN 32

static int decode(const struct kv_val *key, const struct kv_val *val,
                  struct store_login_failures *out)
{
    const uint8_t *p = val->data;
    if (val->len != VALUE_LEN)
        return store_corrupt(DB_LOGIN_FAILURES, key->data, key->len);
    out->count = be64_get(p);
    out->last_failure_at = (int64_t)be64_get(p + 8);
    out->locked_until = (int64_t)be64_get(p + 16);
    out->expires_at = (int64_t)be64_get(p + 24);
    return STORE_OK;
}

int store_login_failures_get(struct store_txn *txn, const char *key,
                             struct store_login_failures *out)
{
    struct kv_val k, val;
    int rc;
    if (!txn || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if ((rc = opaque_key(key, &k)) != STORE_OK)
        return rc;
    rc = kv_get(txn, DB_LOGIN_FAILURES, k, &val);
    return rc ? rc : decode(&k, &val, out);
}

/* Removes key's record and its index entry; STORE_OK when there was none. */
static int remove_record(struct store_txn *txn, struct kv_val k)
{
    struct store_login_failures old = {0};
    struct kv_val val;
    int rc = kv_get(txn, DB_LOGIN_FAILURES, k, &val);
    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    /* decoded into old: the deletes below end the life of val */
    if (rc || (rc = decode(&k, &val, &old)) != STORE_OK)
        return rc;
    /* put never indexes a negative expiry: such a (corrupt) record has no entry to remove */
    if (old.expires_at >= 0)
        rc = expiry_del(txn, DB_LOGIN_FAILURES_BY_EXP, old.expires_at, k.data, k.len);
    return rc ? rc : kv_del(txn, DB_LOGIN_FAILURES, k);
}

int store_login_failures_put(struct store_txn *txn, const char *key,
                             const struct store_login_failures *f)
{
    struct kv_val k;
    uint8_t value[VALUE_LEN];
    int rc = store_txn_writable(txn);
    if (!rc && !f)
        rc = STORE_EINVAL;
    if (!rc)
        rc = opaque_key(key, &k);
    if (rc)
        return rc;
    if (f->last_failure_at < 0 || f->locked_until < 0 || f->expires_at < 0)
        return STORE_EINVAL;
    if ((rc = remove_record(txn, k)) != STORE_OK)
        return rc;
    be64_put(value, f->count);
    be64_put(value + 8, (uint64_t)f->last_failure_at);
    be64_put(value + 16, (uint64_t)f->locked_until);
    be64_put(value + 24, (uint64_t)f->expires_at);
    rc = kv_put(txn, DB_LOGIN_FAILURES, k, (struct kv_val){value, sizeof value});
    return rc ? rc : expiry_put(txn, DB_LOGIN_FAILURES_BY_EXP, f->expires_at, k.data, k.len);
}

int store_login_failures_delete(struct store_txn *txn, const char *key)
{
    struct kv_val k;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = opaque_key(key, &k);
    return rc ? rc : remove_record(txn, k);
}

/* An expired index entry's record: a record has one entry, under its expiry, so it goes. Every
 * entry counts as removed, even one whose record is gone already. */
static int failures_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    int rc;
    if (len > STORE_LOGIN_KEY_MAX)
        return store_corrupt(DB_LOGIN_FAILURES_BY_EXP, "", 0);
    rc = kv_del(txn, DB_LOGIN_FAILURES, (struct kv_val){key, len});
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

int store_login_failures_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    if (now < 0)
        return STORE_OK;
    return expiry_sweep(txn, DB_LOGIN_FAILURES_BY_EXP, now, failures_drop, NULL, removed);
}
