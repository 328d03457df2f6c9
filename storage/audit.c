/* Audit events: id -> {"time","type","actor","target","client_ip","result","detail"}. Event
 * ids are time-sortable ("evt_…"), so key order is time order and the newest is the last key.
 * Events are only appended, never changed; retention (store_audit_expire) deletes the oldest. */
#include "storage/kv.h"

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

static int event_decode(const struct kv_val *key, const struct kv_val *val,
                        struct store_audit_event *out)
{
    struct store_audit_event ev = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(ev.id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
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
        store_corrupt(DB_AUDIT, key->data, key->len);
    return rc;
}

int store_audit_append_many(struct store_txn *txn, const struct store_audit_event *ev, size_t n)
{
    struct kv_val *keys = NULL, *vals = NULL;
    size_t encoded = 0;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (n && !ev)
        return STORE_EINVAL;
    keys = calloc(n ? n : 1, sizeof *keys);
    vals = calloc(n ? n : 1, sizeof *vals);
    if (!keys || !vals) {
        rc = STORE_ENOMEM;
        goto out;
    }
    for (; encoded < n; encoded++) {
        char *buf = NULL;
        if (!event_valid(&ev[encoded])) {
            rc = STORE_EINVAL;
            goto out;
        }
        rc = event_encode(&ev[encoded], &buf, &vals[encoded].len);
        if (rc)
            goto out;
        vals[encoded].data = buf;
        keys[encoded] = kv_str(ev[encoded].id);
    }
    rc = kv_insert_many(txn, DB_AUDIT, n, keys, vals);
out:
    for (size_t i = 0; vals && i < encoded; i++)
        free((char *)vals[i].data);
    free(keys);
    free(vals);
    return rc;
}

int store_audit_append(struct store_txn *txn, const struct store_audit_event *ev)
{
    return store_audit_append_many(txn, ev, 1);
}

/* Moves cur to the newest key < before (the newest key when before is NULL or ""). */
static int cursor_last_before(struct kv_cursor *cur, const char *before, struct kv_val *key,
                              struct kv_val *val)
{
    struct kv_val at;
    if (!before || !before[0])
        return kv_move(cur, KV_LAST, NULL, key, val);
    at = kv_str(before);
    return kv_move(cur, KV_BEFORE, &at, key, val);
}

/* A listing is a search that keeps every event and has no bound on the walk. */
int store_audit_list(struct store_txn *txn, const char *before, size_t limit,
                     struct store_audit_event **items, size_t *n)
{
    return store_audit_search(txn, NULL, before, limit, 0, items, n, NULL);
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
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    size_t count = 0, scanned = 0, cap = 0, room_max;
    int rc;

    if (scanned_to)
        scanned_to[0] = '\0';
    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (before && !str_fits(before, STORE_ID_MAX)) || !filter_valid(filter))
        return STORE_EINVAL;
    if (limit == 0)
        return STORE_OK;
    /* The list grows with the matches, never past what may be returned or looked at. */
    room_max = scan_max && scan_max < limit ? scan_max : limit;
    rc = kv_cursor_open(txn, DB_AUDIT, &cur);
    if (rc)
        goto out;
    rc = cursor_last_before(cur, before, &key, &val);
    while (rc == STORE_OK) {
        rc = event_decode(&key, &val, &ev);
        if (rc)
            goto out;
        scanned++;
        memcpy(last, ev.id, sizeof last);
        /* ids are time-ordered: nothing older than this one can follow */
        if (filter && filter->since && ev.time < filter->since)
            break;
        if (event_matches(&ev, filter)) {
            rc = list_room(&list, &cap, count, sizeof *list, room_max);
            if (rc)
                goto out;
            list[count++] = ev;
        }
        if (count == limit || (scan_max && scanned == scan_max))
            break;
        rc = kv_move(cur, KV_PREV, NULL, &key, &val);
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
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
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    int rc;

    ex->removed = 0; /* the callback may run again from the start */
    rc = kv_cursor_open(txn, DB_AUDIT, &cur);
    /* Always take the first (oldest) event: no reliance on where a cursor lands after a
     * delete. */
    while (!rc && (rc = kv_move(cur, KV_FIRST, NULL, &key, &val)) == STORE_OK) {
        rc = event_decode(&key, &val, &ev); /* copied: the delete ends key and val */
        if (rc || ev.time >= ex->before)
            break;
        rc = kv_cursor_del(cur);
        if (!rc)
            ex->removed++;
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
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
