/* Mail budgets: opaque key -> {"count","window_start","expires_at"}, one record per address (a
 * destination, a client) and fixed window. The server makes the key and decides what it counts;
 * storage sees neither address. Index, written in the transaction that writes the record:
 *   mail_counts_by_exp  be64(expires_at) || key -> ""  (expiry.c; the sweep removes them) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

static int count_valid(const struct store_mail_count *c)
{
    return c && c->count <= INT64_MAX && c->window_start >= 0 && c->expires_at >= 0;
}

static int count_encode(const struct store_mail_count *c, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_int(obj, "count", (int64_t)c->count);
    if (!rc)
        rc = codec_set_int(obj, "window_start", c->window_start);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", c->expires_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int count_decode(const struct kv_val *val, struct store_mail_count *out)
{
    json_t *obj = NULL;
    int64_t count = -1;
    int rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_int(obj, "count", &count);
    if (!rc)
        rc = codec_get_int(obj, "window_start", &out->window_start);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &out->expires_at);
    out->count = (uint64_t)count;
    if (!rc && (count < 0 || !count_valid(out)))
        rc = STORE_ECORRUPT;
    json_decref(obj);
    if (rc) {
        memset(out, 0, sizeof *out);
        if (rc == STORE_ECORRUPT) /* the key may name an address: not logged */
            store_corrupt(DB_MAIL_COUNTS, "", 0);
    }
    return rc;
}

/* The record of k (valid) into *out, zeroed when there is none. */
static int count_read(struct store_txn *txn, struct kv_val k, struct store_mail_count *out)
{
    struct kv_val val;
    int rc;
    memset(out, 0, sizeof *out);
    rc = kv_get(txn, DB_MAIL_COUNTS, k, &val);
    return rc ? rc : count_decode(&val, out);
}

int store_mail_count_get(struct store_txn *txn, const char *key, struct store_mail_count *out)
{
    struct kv_val k;
    int rc;
    if (!txn || !out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    rc = opaque_key(key, &k);
    return rc ? rc : count_read(txn, k, out);
}

/* A record read here is rewritten with kv_update(), or inserted with kv_insert() when there was
 * none (kv.h): on PostgreSQL two transactions that each read a count and put it plus one
 * collide, and the one that reruns counts on from the other's; nor does a put bring back a
 * record the sweep deleted meanwhile. */
int store_mail_count_put(struct store_txn *txn, const char *key, const struct store_mail_count *c)
{
    struct store_mail_count old;
    struct kv_val k, val = {0};
    char *buf = NULL;
    int existed = 0;
    int rc = store_txn_writable(txn);
    if (!rc && !count_valid(c))
        rc = STORE_EINVAL;
    if (!rc)
        rc = opaque_key(key, &k);
    if (!rc)
        rc = count_encode(c, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = count_read(txn, k, &old);
        existed = rc == STORE_OK;
        if (rc == STORE_NOTFOUND)
            rc = STORE_OK;
    }
    if (!rc && existed && old.expires_at != c->expires_at)
        rc = expiry_del(txn, DB_MAIL_COUNTS_BY_EXP, old.expires_at, k.data, k.len);
    if (!rc)
        rc = kv_write(txn, DB_MAIL_COUNTS, k, val, existed ? KV_UPDATE : KV_INSERT);
    if (!rc)
        rc = expiry_put(txn, DB_MAIL_COUNTS_BY_EXP, c->expires_at, k.data, k.len);
    free(buf);
    return rc;
}

static int count_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    return kv_del(txn, DB_MAIL_COUNTS, (struct kv_val){key, len});
}

int store_mail_counts_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    return expiry_sweep(txn, DB_MAIL_COUNTS_BY_EXP, now, count_drop, NULL, removed);
}
