/* meta: small named counters, each an 8-byte big-endian uint64. */
#include "storage/kv.h"

#include <string.h>

static int meta_key(const char *name, struct kv_val *key)
{
    if (!str_fits_nonempty(name, STORE_META_NAME_MAX + 1))
        return STORE_EINVAL;
    *key = kv_str(name);
    return STORE_OK;
}

int store_meta_get(struct store_txn *txn, const char *name, uint64_t *value)
{
    struct kv_val key, val;
    int rc;

    if (!txn || !value)
        return STORE_EINVAL;
    rc = meta_key(name, &key);
    if (!rc)
        rc = kv_get(txn, DB_META, key, &val);
    if (rc)
        return rc;
    if (val.len != 8)
        return store_corrupt(DB_META, key.data, key.len);
    *value = be64_get(val.data);
    return STORE_OK;
}

int store_meta_put(struct store_txn *txn, const char *name, uint64_t value)
{
    uint8_t buf[8];
    struct kv_val key;
    int rc = meta_key(name, &key);

    if (rc)
        return rc;
    be64_put(buf, value);
    return kv_put(txn, DB_META, key, (struct kv_val){buf, sizeof buf});
}
