/* meta: small named counters, each an 8-byte big-endian uint64. */
#include "storage/internal.h"

#include <string.h>

static int meta_key(const char *name, MDB_val *key)
{
    if (!str_fits_nonempty(name, STORE_META_NAME_MAX + 1))
        return STORE_EINVAL;
    key->mv_data = (void *)name;
    key->mv_size = strlen(name);
    return STORE_OK;
}

int store_meta_get(struct store_txn *txn, const char *name, uint64_t *value)
{
    MDB_val key, data;
    int rc;

    if (!txn || !value)
        return STORE_EINVAL;
    rc = meta_key(name, &key);
    if (rc)
        return rc;
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_META], &key, &data), "meta get");
    if (rc)
        return rc;
    if (data.mv_size != 8)
        return store_corrupt(DB_META, key.mv_data, key.mv_size);
    *value = be64_get(data.mv_data);
    return STORE_OK;
}

int store_meta_put(struct store_txn *txn, const char *name, uint64_t value)
{
    uint8_t buf[8];
    MDB_val key, data = {.mv_size = sizeof buf, .mv_data = buf};
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = meta_key(name, &key);
    if (rc)
        return rc;
    be64_put(buf, value);
    return store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_META], &key, &data, 0), "meta put");
}
