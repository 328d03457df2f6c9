/* Audit events: id -> {"time","type","actor","target","client_ip","result","detail"}. Event
 * ids are time-sortable ("evt_…"), so key order is time order and the newest is the last key.
 * Events are only appended, never changed; retention (store_audit_expire) deletes the oldest. */
#include "storage/internal.h"

#include <stdlib.h>
#include <string.h>

#define RESULT_MAX sizeof(((struct store_audit_event *)0)->result)

static int result_valid(const char *result)
{
    return strcmp(result, "success") == 0 || strcmp(result, "failure") == 0;
}

static int event_valid(const struct store_audit_event *ev)
{
    return ev && id_valid(ev->id) && str_fits_nonempty(ev->type, STORE_EVENT_TYPE_MAX) &&
           str_fits(ev->actor, STORE_ID_MAX) && str_fits(ev->target, STORE_ID_MAX) &&
           str_fits(ev->client_ip, STORE_IP_MAX) && str_fits(ev->result, RESULT_MAX) &&
           result_valid(ev->result) && str_fits(ev->detail, STORE_DETAIL_MAX);
}

static int event_encode(const struct store_audit_event *ev, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_int(obj, "time", ev->time);
    if (!rc)
        rc = codec_set_str(obj, "type", ev->type);
    if (!rc)
        rc = codec_set_str(obj, "actor", ev->actor);
    if (!rc)
        rc = codec_set_str(obj, "target", ev->target);
    if (!rc)
        rc = codec_set_str(obj, "client_ip", ev->client_ip);
    if (!rc)
        rc = codec_set_str(obj, "result", ev->result);
    if (!rc)
        rc = codec_set_str(obj, "detail", ev->detail);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int event_decode(const MDB_val *key, const MDB_val *data, struct store_audit_event *out)
{
    struct store_audit_event ev = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (key->mv_size == 0 || key->mv_size >= STORE_ID_MAX)
        goto out;
    memcpy(ev.id, key->mv_data, key->mv_size);
    rc = codec_load(data->mv_data, data->mv_size, &obj);
    if (!rc)
        rc = codec_get_int(obj, "time", &ev.time);
    if (!rc)
        rc = codec_get_str(obj, "type", ev.type, sizeof ev.type);
    if (!rc)
        rc = codec_get_str(obj, "actor", ev.actor, sizeof ev.actor);
    if (!rc)
        rc = codec_get_str(obj, "target", ev.target, sizeof ev.target);
    if (!rc)
        rc = codec_get_str(obj, "client_ip", ev.client_ip, sizeof ev.client_ip);
    if (!rc)
        rc = codec_get_str(obj, "result", ev.result, sizeof ev.result);
    if (!rc)
        rc = codec_get_str(obj, "detail", ev.detail, sizeof ev.detail);
    if (!rc && !event_valid(&ev))
        rc = STORE_ECORRUPT;
    if (!rc)
        *out = ev;
out:
    json_decref(obj);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_AUDIT, key->mv_data, key->mv_size);
    return rc;
}

int store_audit_append(struct store_txn *txn, const struct store_audit_event *ev)
{
    MDB_val key, data;
    char *buf = NULL;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!event_valid(ev))
        return STORE_EINVAL;
    rc = event_encode(ev, &buf, &data.mv_size);
    if (rc)
        goto out;
    data.mv_data = buf;
    key.mv_data = (void *)ev->id;
    key.mv_size = strlen(ev->id);
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_AUDIT], &key, &data, MDB_NOOVERWRITE),
                       "put audit event");
out:
    free(buf);
    return rc;
}

/* Positions cur on the newest key < before (the newest key when before is NULL or ""); returns
 * LMDB's code. */
static int cursor_last_before(MDB_cursor *cur, const char *before, MDB_val *key, MDB_val *data)
{
    int mrc;
    if (!before || !before[0])
        return mdb_cursor_get(cur, key, data, MDB_LAST);
    /* the first key >= before, then one back */
    key->mv_data = (void *)before;
    key->mv_size = strlen(before);
    mrc = mdb_cursor_get(cur, key, data, MDB_SET_RANGE);
    if (mrc == MDB_SUCCESS)
        return mdb_cursor_get(cur, key, data, MDB_PREV);
    if (mrc == MDB_NOTFOUND) /* every key is < before */
        return mdb_cursor_get(cur, key, data, MDB_LAST);
    return mrc;
}

int store_audit_list(struct store_txn *txn, const char *before, size_t limit,
                     struct store_audit_event **items, size_t *n)
{
    struct store_audit_event *list = NULL;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    MDB_stat stat;
    size_t count = 0, cap;
    int rc, mrc;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (before && !str_fits(before, STORE_ID_MAX)))
        return STORE_EINVAL;
    rc = store_mdb_err(txn, mdb_stat(txn->txn, txn->st->dbi[DB_AUDIT], &stat), "stat audit");
    if (rc)
        goto out;
    /* Allocate no more than there are records, whatever limit the caller asked for. */
    cap = limit < stat.ms_entries ? limit : stat.ms_entries;
    if (cap == 0)
        goto out;
    list = calloc(cap, sizeof *list);
    if (!list) {
        rc = STORE_ENOMEM;
        goto out;
    }
    rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_AUDIT], &cur), "cursor audit");
    if (rc)
        goto out;
    mrc = cursor_last_before(cur, before, &key, &data);
    while (mrc == MDB_SUCCESS && count < cap) {
        rc = event_decode(&key, &data, &list[count]);
        if (rc)
            goto out;
        count++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_PREV);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "list audit events");
out:
    if (cur)
        mdb_cursor_close(cur);
    if (rc || count == 0) {
        free(list);
    } else {
        *items = list;
        *n = count;
    }
    return rc;
}

static int event_matches(const struct store_audit_event *ev, const struct store_audit_filter *f)
{
    return !f || ((!f->type || strcmp(ev->type, f->type) == 0) &&
                  (!f->actor || strcmp(ev->actor, f->actor) == 0) &&
                  (!f->target || strcmp(ev->target, f->target) == 0));
}

static int filter_valid(const struct store_audit_filter *f)
{
    return !f || ((!f->type || str_fits(f->type, STORE_EVENT_TYPE_MAX)) &&
                  (!f->actor || str_fits(f->actor, STORE_ID_MAX)) &&
                  (!f->target || str_fits(f->target, STORE_ID_MAX)));
}

int store_audit_search(struct store_txn *txn, const struct store_audit_filter *filter,
                       const char *before, size_t limit, size_t scan_max,
                       struct store_audit_event **items, size_t *n, char scanned_to[STORE_ID_MAX])
{
    struct store_audit_event *list = NULL, ev;
    char last[STORE_ID_MAX] = "";
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    MDB_stat stat;
    size_t count = 0, scanned = 0, cap;
    int rc, mrc;

    if (scanned_to)
        scanned_to[0] = '\0';
    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (before && !str_fits(before, STORE_ID_MAX)) || !filter_valid(filter))
        return STORE_EINVAL;
    rc = store_mdb_err(txn, mdb_stat(txn->txn, txn->st->dbi[DB_AUDIT], &stat), "stat audit");
    if (rc)
        goto out;
    /* Allocate no more than there are records or may be looked at, whatever limit says. */
    cap = limit < stat.ms_entries ? limit : stat.ms_entries;
    if (scan_max && scan_max < cap)
        cap = scan_max;
    if (cap == 0)
        goto out;
    list = calloc(cap, sizeof *list);
    if (!list) {
        rc = STORE_ENOMEM;
        goto out;
    }
    rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_AUDIT], &cur), "cursor audit");
    if (rc)
        goto out;
    mrc = cursor_last_before(cur, before, &key, &data);
    while (mrc == MDB_SUCCESS && count < cap && (scan_max == 0 || scanned < scan_max)) {
        rc = event_decode(&key, &data, &ev);
        if (rc)
            goto out;
        scanned++;
        memcpy(last, ev.id, sizeof last);
        /* ids are time-ordered: nothing older than this one can follow */
        if (filter && filter->since && ev.time < filter->since)
            break;
        if (event_matches(&ev, filter))
            list[count++] = ev;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_PREV);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "search audit events");
out:
    if (cur)
        mdb_cursor_close(cur);
    if (rc || count == 0) {
        free(list);
    } else {
        *items = list;
        *n = count;
    }
    if (!rc && scanned_to)
        memcpy(scanned_to, last, STORE_ID_MAX);
    return rc;
}

struct expire {
    int64_t before;
    size_t removed;
};

static int expire_cb(struct store_txn *txn, void *arg)
{
    struct expire *ex = arg;
    struct store_audit_event ev;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, mrc;

    ex->removed = 0; /* the callback may run again after the map grows */
    rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_AUDIT], &cur), "cursor audit");
    if (rc)
        return rc;
    /* Always take the first (oldest) event: no reliance on where a cursor lands after a
     * delete. */
    for (;;) {
        mrc = mdb_cursor_get(cur, &key, &data, MDB_FIRST);
        if (mrc)
            break;
        rc = event_decode(&key, &data, &ev);
        if (rc)
            goto out;
        if (ev.time >= ex->before)
            break;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        ex->removed++;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "expire audit events");
out:
    mdb_cursor_close(cur);
    return rc;
}

int store_audit_expire(struct store *st, int64_t before, size_t *removed)
{
    struct expire ex = {.before = before};
    int rc = store_write(st, expire_cb, &ex);
    if (removed)
        *removed = rc ? 0 : ex.removed;
    return rc;
}
