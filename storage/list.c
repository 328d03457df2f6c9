/* The walks behind every list: records of a table whose keys are ids, paged by id; and the
 * records one owner holds under "<owner>/<id>" keys. */
#include <stdlib.h>
#include <string.h>

#include "storage/kv.h"

#define LIST_FIRST_ROOM 16

int list_room(void *items, size_t *cap, size_t count, size_t size, size_t limit)
{
    void **list = items;
    size_t grown;
    char *p;
    if (count < *cap)
        return STORE_OK;
    /* Grow as records come, so a large limit over a small table allocates little. */
    grown = *cap ? *cap * 2 : LIST_FIRST_ROOM;
    if (limit && grown > limit)
        grown = limit;
    if (grown <= count || grown > SIZE_MAX / size)
        return STORE_ENOMEM;
    p = realloc(*list, grown * size);
    if (!p)
        return STORE_ENOMEM;
    memset(p + *cap * size, 0, (grown - *cap) * size);
    *list = p;
    *cap = grown;
    return STORE_OK;
}

int store_list_records(struct store_txn *txn, enum store_db db, const char *after, size_t limit,
                       const struct store_list_kind *kind, void **items, size_t *n)
{
    char *list = NULL;
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    size_t count = 0, cap = 0;
    int rc;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (after && !str_fits(after, STORE_ID_MAX)))
        return STORE_EINVAL;
    if (limit == 0)
        return STORE_OK;
    rc = kv_cursor_open(txn, db, &cur);
    if (rc)
        goto out;
    rc = cursor_first_after(cur, after, &key, &val);
    while (rc == STORE_OK && count < limit) {
        rc = list_room(&list, &cap, count, kind->size, limit);
        if (!rc)
            rc = kind->decode(&key, &val, list + count * kind->size);
        if (rc)
            goto out;
        count++;
        if (count < limit)
            rc = kv_move(cur, KV_NEXT, NULL, &key, &val);
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    if (rc || count == 0) {
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
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    size_t count = 0, alloc = 0;
    int rc, started = 0;

    if (!n)
        return STORE_EINVAL;
    *n = 0;
    if (!txn || (cap && !out))
        return STORE_EINVAL;
    rc = pair_key(owner, NULL, &prefix);
    if (rc)
        return rc;
    rc = kv_cursor_open(txn, db, &cur);
    if (rc)
        goto out;
    /* Collect all, then sort: "oldest first" is by created_at, which key (id) order only
     * approximates. An owner holds few such records (the callers' bounds). */
    while ((rc = kv_prefix_next(cur, prefix.val, &started, &key, &val)) == STORE_OK) {
        rc = list_room(&all, &alloc, count, kind->size, 0);
        if (!rc)
            rc = kind->decode(&key, prefix.val.len, &val, all + count * kind->size);
        if (rc)
            goto out;
        count++;
    }
    if (rc != STORE_NOTFOUND)
        goto out;
    rc = STORE_OK;
    if (count > 1)
        qsort(all, count, kind->size, kind->older);
    *n = count < cap ? count : cap;
    if (*n)
        memcpy(out, all, *n * kind->size);
out:
    kv_cursor_close(cur);
    free(all);
    return rc;
}
