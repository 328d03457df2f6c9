/* Registrations waiting for their first login: email key -> {"id","email","phc","client_id",
 * "confirmed","email_verified","created_at","expires_at"}. Index, written in the transaction that
 * writes the record: pending_users_by_exp  be64(expires_at) || email key -> ""  (expiry.c; the
 * sweep removes them); a record kept until its first login (expires_at 0) has none. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

static int pending_valid(const struct store_pending_user *p)
{
    return p && (p->email_verified == 0 || (p->email_verified == 1 && p->confirmed)) &&
           str_fits_nonempty(p->email_key, STORE_EMAIL_MAX) && id_valid(p->id) &&
           str_fits_nonempty(p->email, STORE_EMAIL_MAX) &&
           str_fits_nonempty(p->phc, STORE_PHC_MAX) && id_valid(p->client_id) &&
           (p->confirmed == 0 || p->confirmed == 1) && p->created_at >= 0 && p->expires_at >= 0;
}

static int pending_encode(const struct store_pending_user *p, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "id", p->id);
    if (!rc)
        rc = codec_set_str(obj, "email", p->email);
    if (!rc)
        rc = codec_set_str(obj, "phc", p->phc);
    if (!rc)
        rc = codec_set_str(obj, "client_id", p->client_id);
    if (!rc)
        rc = codec_set_bool(obj, "confirmed", p->confirmed);
    if (!rc)
        rc = codec_set_bool(obj, "email_verified", p->email_verified);
    if (!rc)
        rc = codec_set_int(obj, "created_at", p->created_at);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", p->expires_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int pending_decode(const struct kv_val *key, const struct kv_val *val,
                          struct store_pending_user *out)
{
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    if (key->len == 0 || key->len >= sizeof out->email_key)
        goto out;
    memcpy(out->email_key, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "id", out->id, sizeof out->id);
    if (!rc)
        rc = codec_get_str(obj, "email", out->email, sizeof out->email);
    if (!rc)
        rc = codec_get_str(obj, "phc", out->phc, sizeof out->phc);
    if (!rc)
        rc = codec_get_str(obj, "client_id", out->client_id, sizeof out->client_id);
    if (!rc)
        rc = codec_get_bool(obj, "confirmed", &out->confirmed);
    if (!rc)
        rc = codec_get_bool(obj, "email_verified", &out->email_verified);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &out->expires_at);
    if (!rc && !pending_valid(out))
        rc = STORE_ECORRUPT;
out:
    json_decref(obj);
    if (rc) {
        memset(out, 0, sizeof *out);
        if (rc == STORE_ECORRUPT) /* the key is an address: not logged */
            store_corrupt(DB_PENDING_USERS, "", 0);
    }
    return rc;
}

/* Removes the record of a decoded p with its expiry entry. */
static int pending_remove(struct store_txn *txn, const struct store_pending_user *p)
{
    struct kv_val key = kv_str(p->email_key);
    int rc = p->expires_at
                 ? expiry_del(txn, DB_PENDING_USERS_BY_EXP, p->expires_at, key.data, key.len)
                 : STORE_OK;
    return rc ? rc : kv_del(txn, DB_PENDING_USERS, key);
}

int store_pending_put(struct store_txn *txn, const struct store_pending_user *p)
{
    struct store_pending_user old;
    struct kv_val key, val = {0};
    char *buf = NULL;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!pending_valid(p))
        return STORE_EINVAL;
    key = kv_str(p->email_key);
    rc = store_pending_get(txn, p->email_key, &old);
    if (rc == STORE_OK && old.expires_at)
        rc = expiry_del(txn, DB_PENDING_USERS_BY_EXP, old.expires_at, key.data, key.len);
    else if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    if (!rc)
        rc = pending_encode(p, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_put(txn, DB_PENDING_USERS, key, val);
    }
    if (!rc && p->expires_at)
        rc = expiry_put(txn, DB_PENDING_USERS_BY_EXP, p->expires_at, key.data, key.len);
    free(buf);
    return rc;
}

int store_pending_get(struct store_txn *txn, const char *email_key, struct store_pending_user *out)
{
    struct kv_val key, val;
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !str_fits_nonempty(email_key, STORE_EMAIL_MAX))
        return STORE_EINVAL;
    key = kv_str(email_key);
    rc = kv_get(txn, DB_PENDING_USERS, key, &val);
    return rc ? rc : pending_decode(&key, &val, out);
}

int store_pending_delete(struct store_txn *txn, const char *email_key)
{
    struct store_pending_user p;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = store_pending_get(txn, email_key, &p);
    if (!rc)
        rc = pending_remove(txn, &p);
    return rc;
}

static int pending_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    struct store_pending_user p;
    char email_key[STORE_EMAIL_MAX];
    int rc = STORE_NOTFOUND;
    (void)arg;
    if (len == 0 || len >= sizeof email_key)
        return rc;
    memcpy(email_key, key, len);
    email_key[len] = '\0';
    /* store_pending_put() moves the entry with the record, so the entry is the record's own */
    rc = store_pending_get(txn, email_key, &p);
    return rc ? rc : pending_remove(txn, &p);
}

int store_pending_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    return expiry_sweep(txn, DB_PENDING_USERS_BY_EXP, now, pending_drop, NULL, removed);
}
