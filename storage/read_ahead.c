/* store_read_ahead(): the records a transaction names, as tables and keys for
 * kv_read_ahead(). */
#include "storage/kv.h"

void store_read_ahead(struct store_txn *txn, const struct store_record_ref *refs, size_t n)
{
    static const enum store_db table[] = {
        [STORE_REC_DENYLIST] = DB_DENYLIST,
        [STORE_REC_SERVICE_ACCOUNT] = DB_SERVICE_ACCOUNTS,
        [STORE_REC_USER] = DB_USERS,
        [STORE_REC_SESSION] = DB_SESSIONS,
    };
    enum store_db dbs[KV_AHEAD_MAX];
    struct kv_val keys[KV_AHEAD_MAX];
    size_t k = 0;

    if (!txn || !refs)
        return;
    for (size_t i = 0; i < n && k < KV_AHEAD_MAX; i++) {
        if (!refs[i].id || !refs[i].id[0] || (unsigned)refs[i].kind >= sizeof table / sizeof *table)
            continue;
        dbs[k] = table[refs[i].kind];
        keys[k++] = kv_str(refs[i].id);
    }
    kv_read_ahead(txn, k, dbs, keys);
}
