/* Service-account secrets: "<sa_id>/<sec_id>" -> {"phc","hint","masked","created_at",
 * "expires_at","last_used_at"}. Ids hold no '/', so one account's secrets are exactly the keys
 * that start with "<sa_id>/". */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

static int secret_valid(const struct store_secret *sec)
{
    return sec && id_valid(sec->id) && id_valid(sec->sa_id) &&
           str_fits_nonempty(sec->phc, sizeof sec->phc) && str_fits(sec->hint, sizeof sec->hint) &&
           str_fits(sec->masked, sizeof sec->masked);
}

static int secret_encode(const struct store_secret *sec, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "phc", sec->phc);
    if (!rc)
        rc = codec_set_str(obj, "hint", sec->hint);
    if (!rc)
        rc = codec_set_str(obj, "masked", sec->masked);
    if (!rc)
        rc = codec_set_int(obj, "created_at", sec->created_at);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", sec->expires_at);
    if (!rc)
        rc = codec_set_int(obj, "last_used_at", sec->last_used_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

/* prefix_len: length of "<sa_id>/" at the start of the key. */
static int secret_decode(const struct kv_val *key, size_t prefix_len, const struct kv_val *val,
                         struct store_secret *out)
{
    struct store_secret sec = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (prefix_len < 2 || prefix_len - 1 >= STORE_ID_MAX || key->len <= prefix_len ||
        key->len - prefix_len >= STORE_ID_MAX)
        goto out;
    memcpy(sec.sa_id, key->data, prefix_len - 1);
    memcpy(sec.id, (const char *)key->data + prefix_len, key->len - prefix_len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "phc", sec.phc, sizeof sec.phc);
    if (!rc)
        rc = codec_get_str(obj, "hint", sec.hint, sizeof sec.hint);
    if (!rc)
        rc = codec_get_str(obj, "masked", sec.masked, sizeof sec.masked);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &sec.created_at);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &sec.expires_at);
    if (!rc)
        rc = codec_get_int(obj, "last_used_at", &sec.last_used_at);
    if (!rc)
        *out = sec;
out:
    json_decref(obj);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_SECRETS, key->data, key->len);
    return rc;
}

/* Writes sec under k: a new secret (STORE_EXISTS when the key is taken) or a replacement. */
static int secret_put(struct store_txn *txn, const struct store_secret *sec,
                      const struct pair_key *k, int insert)
{
    struct kv_val val;
    char *buf = NULL;
    int rc = secret_encode(sec, &buf, &val.len);

    if (rc)
        return rc;
    val.data = buf;
    rc = kv_write(txn, DB_SECRETS, k->val, val, insert ? KV_INSERT : KV_UPDATE);
    free(buf);
    return rc;
}

/* How many secrets sa_id holds. */
static int secrets_count(struct store_txn *txn, const char *sa_id, size_t *n)
{
    struct pair_key prefix;
    struct kv_cursor *cur = NULL;
    int rc, started = 0;

    *n = 0;
    rc = pair_key(sa_id, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, DB_SECRETS, &cur);
    while (!rc && (rc = kv_prefix_next(cur, prefix.val, &started, NULL, NULL)) == STORE_OK)
        (*n)++;
    if (rc == STORE_NOTFOUND) /* past the account's last secret */
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}

int store_secret_insert(struct store_txn *txn, const struct store_secret *sec)
{
    struct pair_key k;
    struct kv_val val;
    size_t n;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!secret_valid(sec))
        return STORE_EINVAL;
    rc = pair_key(sec->sa_id, sec->id, &k);
    if (rc)
        return rc;
    /* the limit is a count: collide with other inserts and with the account's deletion */
    rc = kv_touch(txn, DB_SERVICE_ACCOUNTS, kv_str(sec->sa_id));
    if (rc)
        return rc;
    /* A taken id is STORE_EXISTS even when the account is full. */
    rc = kv_get(txn, DB_SECRETS, k.val, &val);
    if (rc == STORE_OK)
        return STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        return rc;
    rc = secrets_count(txn, sec->sa_id, &n);
    if (rc)
        return rc;
    if (n >= STORE_SECRETS_MAX)
        return STORE_EINVAL;
    return secret_put(txn, sec, &k, 1);
}

static int secret_older(const void *a, const void *b)
{
    const struct store_secret *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int secret_decode_owned(const struct kv_val *key, size_t prefix_len,
                               const struct kv_val *val, void *out)
{
    return secret_decode(key, prefix_len, val, out);
}

int store_secret_list(struct store_txn *txn, const char *sa_id, struct store_secret *out,
                      size_t cap, size_t *n)
{
    static const struct store_owned_kind kind = {sizeof *out, secret_decode_owned, secret_older,
                                                 "list secrets"};
    return store_list_owned(txn, DB_SECRETS, sa_id, &kind, out, cap, n);
}

int store_secret_delete(struct store_txn *txn, const char *sa_id, const char *secret_id)
{
    struct pair_key k;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = secret_id ? pair_key(sa_id, secret_id, &k) : STORE_EINVAL;
    if (rc)
        return rc;
    return kv_del(txn, DB_SECRETS, k.val);
}

int store_secret_touch(struct store_txn *txn, const char *sa_id, const char *secret_id,
                       int64_t when)
{
    struct store_secret sec;
    struct pair_key k;
    struct kv_val val;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = secret_id ? pair_key(sa_id, secret_id, &k) : STORE_EINVAL;
    if (rc)
        return rc;
    /* decoded into sec, a copy: the write below ends the life of val */
    rc = kv_get(txn, DB_SECRETS, k.val, &val);
    if (!rc)
        rc = secret_decode(&k.val, strlen(sa_id) + 1, &val, &sec);
    if (rc)
        return rc;
    sec.last_used_at = when;
    return secret_put(txn, &sec, &k, 0);
}

int store_secrets_delete_all(struct store_txn *txn, const char *sa_id)
{
    struct pair_key prefix;
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    int rc = pair_key(sa_id, NULL, &prefix);

    if (!rc)
        rc = kv_cursor_open(txn, DB_SECRETS, &cur);
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    while (!rc && (rc = kv_move(cur, KV_GE, &prefix.val, &key, NULL)) == STORE_OK &&
           pair_has_prefix(&key, &prefix))
        rc = kv_cursor_del(cur);
    if (rc == STORE_NOTFOUND) /* the table ends: no secret is left */
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}
