/* The one walk behind every list paged by id: records of a database whose keys are ids, from
 * the first key after `after`, at most `limit`. */
#include <stdlib.h>
#include <string.h>

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

int store_list_owned(struct store_txn *txn, enum store_db db, const char *owner,
                     const struct store_owned_kind *kind, void *out, size_t cap, size_t *n)
{
    char *all = NULL;
    struct pair_key prefix;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    size_t count = 0, alloc = 0;
    int rc, mrc;

    if (!n)
        return STORE_EINVAL;
    *n = 0;
    if (!txn || (cap && !out))
        return STORE_EINVAL;
    rc = pair_key(owner, NULL, &prefix);
    if (rc)
        return rc;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur), kind->what);
    if (rc)
        goto out;
    /* Collect all, then sort: "oldest first" is by created_at, which key (id) order only
     * approximates. An owner holds few such records (the callers' bounds). */
    key = prefix.val;
    mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
    while (mrc == MDB_SUCCESS && pair_has_prefix(&key, &prefix)) {
        if (count == alloc) {
            size_t grown = alloc ? alloc * 2 : kind->initial;
            char *p = realloc(all, grown * kind->size);
            if (!p) {
                rc = STORE_ENOMEM;
                goto out;
            }
            all = p;
            alloc = grown;
        }
        rc = kind->decode(&key, prefix.val.mv_size, &data, all + count * kind->size);
        if (rc)
            goto out;
        count++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(txn, mrc, kind->what);
        goto out;
    }
    if (count > 1)
        qsort(all, count, kind->size, kind->older);
    *n = count < cap ? count : cap;
    if (*n)
        memcpy(out, all, *n * kind->size);
out:
    if (cur)
        mdb_cursor_close(cur);
    free(all);
    return rc;
}
