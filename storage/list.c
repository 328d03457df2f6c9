/* The one walk behind every list paged by id: records of a database whose keys are ids, from
 * the first key after `after`, at most `limit`. */
#include <stdlib.h>

#include "storage/internal.h"

int store_list_records(struct store_txn *txn, enum store_db db, const char *after, size_t limit,
                       const struct store_list_kind *kind, void **items, size_t *n)
{
    char *list = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    MDB_stat stat;
    size_t count = 0, cap;
    int rc, mrc;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (after && !str_fits(after, STORE_ID_MAX)))
        return STORE_EINVAL;
    rc = store_mdb_err(txn, mdb_stat(txn->txn, txn->st->dbi[db], &stat), kind->what);
    if (rc)
        goto out;
    /* Allocate no more than there are records, whatever limit the caller asked for. */
    cap = limit < stat.ms_entries ? limit : stat.ms_entries;
    if (cap == 0)
        goto out;
    list = calloc(cap, kind->size);
    if (!list) {
        rc = STORE_ENOMEM;
        goto out;
    }
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur), kind->what);
    if (rc)
        goto out;
    mrc = cursor_first_after(cur, after, &key, &data);
    while (mrc == MDB_SUCCESS && count < cap) {
        rc = kind->decode(&key, &data, list + count * kind->size);
        if (rc)
            goto out;
        count++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, kind->what);
out:
    if (cur)
        mdb_cursor_close(cur);
    if (rc) {
        for (size_t i = 0; kind->clear && i < count; i++)
            kind->clear(list + i * kind->size);
        free(list);
    } else {
        *items = list;
        *n = count;
    }
    return rc;
}
