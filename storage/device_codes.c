/* Device codes (RFC 8628): SHA-256 of the device code (32 bytes) -> {"user_code","client_id",
 * "scope","status","user_id","auth_time","expires_at","interval","last_poll_ms",
 * "guesses_at_start"}; the last is absent in records written before it existed (read as 0).
 * Indexes, written in the transaction that writes the record:
 *   user_codes           user code -> the 32-byte hash  (the page finds the request by it)
 *   device_codes_by_exp  be64(expires_at) || hash -> ""  (expiry.c; the sweep removes them) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define HASH_LEN STORE_REFRESH_HASH_LEN

static int device_valid(const struct store_device_code *d)
{
    return d && str_fits_nonempty(d->user_code, STORE_USER_CODE_MAX) && id_valid(d->client_id) &&
           str_fits(d->scope, STORE_SCOPE_MAX) && d->status >= STORE_DEVICE_PENDING &&
           d->status <= STORE_DEVICE_DENIED &&
           (d->status == STORE_DEVICE_PENDING ? d->user_id[0] == '\0' : id_valid(d->user_id)) &&
           d->expires_at >= 0 && d->interval > 0 && d->last_poll_ms >= 0;
}

static int device_encode(const struct store_device_code *d, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "user_code", d->user_code);
    if (!rc)
        rc = codec_set_str(obj, "client_id", d->client_id);
    if (!rc)
        rc = codec_set_str(obj, "scope", d->scope);
    if (!rc)
        rc = codec_set_int(obj, "status", d->status);
    if (!rc)
        rc = codec_set_str(obj, "user_id", d->user_id);
    if (!rc)
        rc = codec_set_int(obj, "auth_time", d->auth_time);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", d->expires_at);
    if (!rc)
        rc = codec_set_int(obj, "interval", d->interval);
    if (!rc)
        rc = codec_set_int(obj, "last_poll_ms", d->last_poll_ms);
    if (!rc)
        rc = codec_set_int(obj, "guesses_at_start", (int64_t)d->guesses_at_start);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int device_decode(const struct kv_val *key, const struct kv_val *val,
                         struct store_device_code *out)
{
    json_t *obj = NULL;
    int64_t status = -1;
    int rc;
    memset(out, 0, sizeof *out);
    rc = hashed_load(key, val, out->hash, &obj);
    if (!rc)
        rc = codec_get_str(obj, "user_code", out->user_code, sizeof out->user_code);
    if (!rc)
        rc = codec_get_str(obj, "client_id", out->client_id, sizeof out->client_id);
    if (!rc)
        rc = codec_get_str(obj, "scope", out->scope, sizeof out->scope);
    if (!rc)
        rc = codec_get_int(obj, "status", &status);
    if (!rc)
        rc = codec_get_str(obj, "user_id", out->user_id, sizeof out->user_id);
    if (!rc)
        rc = codec_get_int(obj, "auth_time", &out->auth_time);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &out->expires_at);
    if (!rc)
        rc = codec_get_int(obj, "interval", &out->interval);
    if (!rc)
        rc = codec_get_int(obj, "last_poll_ms", &out->last_poll_ms);
    int64_t start = 0;
    if (!rc && json_object_get(obj, "guesses_at_start"))
        rc = codec_get_int(obj, "guesses_at_start", &start);
    if (!rc && start < 0)
        rc = STORE_ECORRUPT;
    out->guesses_at_start = (uint64_t)start;
    out->status = (int)status;
    if (!rc &&
        (status < STORE_DEVICE_PENDING || status > STORE_DEVICE_DENIED || !device_valid(out)))
        rc = STORE_ECORRUPT;
    return hashed_done(DB_DEVICE_CODES, rc, obj, out, sizeof *out);
}

/* Writes the record; with insert, STORE_EXISTS when its hash is taken. */
static int device_put(struct store_txn *txn, const struct store_device_code *d, int insert)
{
    struct kv_val key = {d->hash, HASH_LEN}, val;
    char *buf = NULL;
    int rc = device_encode(d, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_DEVICE_CODES, key, val, insert ? KV_INSERT : KV_UPDATE);
    }
    free(buf);
    return rc;
}

int store_device_insert(struct store_txn *txn, const struct store_device_code *d)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!device_valid(d) || d->status != STORE_DEVICE_PENDING)
        return STORE_EINVAL;
    rc = kv_insert(txn, DB_USER_CODES, kv_str(d->user_code), (struct kv_val){d->hash, HASH_LEN});
    if (!rc)
        rc = device_put(txn, d, 1);
    return rc ? rc : expiry_put(txn, DB_DEVICE_CODES_BY_EXP, d->expires_at, d->hash, HASH_LEN);
}

int store_device_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                     struct store_device_code *out)
{
    struct kv_val key, val;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = hashed_get(txn, DB_DEVICE_CODES, hash, &key, &val);
    return rc ? rc : device_decode(&key, &val, out);
}

int store_device_find(struct store_txn *txn, const char *user_code, struct store_device_code *out)
{
    struct kv_val key, hash;
    uint8_t h[HASH_LEN];
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !user_code || !str_fits_nonempty(user_code, STORE_USER_CODE_MAX))
        return STORE_NOTFOUND;
    key = kv_str(user_code);
    rc = kv_get(txn, DB_USER_CODES, key, &hash);
    if (rc)
        return rc;
    if (hash.len != HASH_LEN)
        return store_corrupt(DB_USER_CODES, key.data, key.len);
    memcpy(h, hash.data, HASH_LEN);
    return store_device_get(txn, h, out);
}

int store_device_update(struct store_txn *txn, const struct store_device_code *d)
{
    struct store_device_code old;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!device_valid(d))
        return STORE_EINVAL;
    rc = store_device_get(txn, d->hash, &old);
    if (rc)
        return rc;
    if (strcmp(old.user_code, d->user_code) != 0 || old.expires_at != d->expires_at)
        return STORE_EINVAL;
    return device_put(txn, d, 0);
}

/* Removes the record and its user code; the expiry entry goes with the sweep or here. */
static int device_remove(struct store_txn *txn, const uint8_t *hash, int with_expiry)
{
    struct store_device_code d;
    int rc = store_device_get(txn, hash, &d);
    if (rc)
        return rc;
    rc = kv_del(txn, DB_USER_CODES, kv_str(d.user_code));
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    if (!rc && with_expiry)
        rc = expiry_del(txn, DB_DEVICE_CODES_BY_EXP, d.expires_at, hash, HASH_LEN);
    return rc ? rc : kv_del(txn, DB_DEVICE_CODES, (struct kv_val){hash, HASH_LEN});
}

int store_device_delete(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN])
{
    int rc = store_txn_writable(txn);
    return rc ? rc : device_remove(txn, hash, 1);
}

static int device_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    return len == HASH_LEN ? device_remove(txn, key, 0) : STORE_NOTFOUND;
}

int store_devices_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    return expiry_sweep(txn, DB_DEVICE_CODES_BY_EXP, now, device_drop, NULL, removed);
}
