/* User API keys: "<user_id>/<key_id>" -> {"name","phc","disabled","created_at","last_used_at"},
 * so a user's keys are one key range (at most STORE_API_KEYS_MAX, their names unique among
 * them). Index, written in the transaction that writes the record:
 *   api_keys_by_id  key id -> user id  (a login names the key, not its user) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

static int key_id_valid(const char *id)
{
    if (!str_fits_nonempty(id, STORE_API_KEY_ID_MAX) || strlen(id) != STORE_API_KEY_ID_MAX - 1)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f')))
            return 0;
    return 1;
}

static int api_key_valid(const struct store_api_key *k)
{
    return k && key_id_valid(k->id) && id_valid(k->user_id) &&
           str_fits_nonempty(k->name, STORE_NAME_MAX) && str_fits_nonempty(k->phc, STORE_PHC_MAX) &&
           (k->disabled == 0 || k->disabled == 1) && k->created_at >= 0 && k->last_used_at >= 0;
}

static int api_key_encode(const struct store_api_key *k, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "name", k->name);
    if (!rc)
        rc = codec_set_str(obj, "phc", k->phc);
    if (!rc)
        rc = codec_set_bool(obj, "disabled", k->disabled);
    if (!rc)
        rc = codec_set_int(obj, "created_at", k->created_at);
    if (!rc)
        rc = codec_set_int(obj, "last_used_at", k->last_used_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int api_key_decode(const struct kv_val *key, const struct kv_val *val,
                          struct store_api_key *out)
{
    char id[STORE_ID_MAX];
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    if (pair_split(key->data, key->len, out->user_id, id) || strlen(id) >= sizeof out->id)
        goto out;
    memcpy(out->id, id, strlen(id) + 1);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "name", out->name, sizeof out->name);
    if (!rc)
        rc = codec_get_str(obj, "phc", out->phc, sizeof out->phc);
    if (!rc)
        rc = codec_get_bool(obj, "disabled", &out->disabled);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "last_used_at", &out->last_used_at);
    if (!rc && !api_key_valid(out))
        rc = STORE_ECORRUPT;
out:
    json_decref(obj);
    if (rc) {
        if (rc == STORE_ECORRUPT)
            store_corrupt(DB_API_KEYS, key->data, key->len);
        memset(out, 0, sizeof *out);
    }
    return rc;
}

static int api_key_read(struct store_txn *txn, const struct pair_key *k, struct store_api_key *out)
{
    struct kv_val val;
    int rc = kv_get(txn, DB_API_KEYS, k->val, &val);
    return rc ? rc : api_key_decode(&k->val, &val, out);
}

static int api_key_write(struct store_txn *txn, const struct store_api_key *k,
                         const struct pair_key *pk, enum kv_put how)
{
    struct kv_val val = {0};
    char *buf = NULL;
    int rc = api_key_encode(k, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_API_KEYS, pk->val, val, how);
    }
    free(buf);
    return rc;
}

static int api_key_decode_owned(const struct kv_val *key, size_t prefix_len,
                                const struct kv_val *val, void *out)
{
    (void)prefix_len;
    return api_key_decode(key, val, out);
}

static int api_key_older(const void *a, const void *b)
{
    const struct store_api_key *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

int store_api_key_list(struct store_txn *txn, const char *user_id, struct store_api_key *out,
                       size_t cap, size_t *n)
{
    static const struct store_owned_kind kind = {sizeof *out, api_key_decode_owned, api_key_older,
                                                 "list API keys"};
    return store_list_owned(txn, DB_API_KEYS, user_id, &kind, out, cap, n);
}

int store_api_key_insert(struct store_txn *txn, const struct store_api_key *k)
{
    struct store_api_key *held = NULL;
    struct pair_key pk;
    struct kv_val val;
    size_t n = 0;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!api_key_valid(k))
        return STORE_EINVAL;
    rc = pair_key(k->user_id, k->id, &pk);
    /* the limit and the names are counts over the user's keys: collide with the user's other
     * writers and its end */
    if (!rc)
        rc = store_user_touch(txn, k->user_id);
    if (!rc) {
        rc = kv_get(txn, DB_API_KEYS_BY_ID, kv_str(k->id), &val);
        rc = rc == STORE_OK ? STORE_EXISTS : rc == STORE_NOTFOUND ? STORE_OK : rc;
    }
    if (!rc && !(held = calloc(STORE_API_KEYS_MAX, sizeof *held)))
        rc = STORE_ENOMEM;
    if (!rc)
        rc = store_api_key_list(txn, k->user_id, held, STORE_API_KEYS_MAX, &n);
    for (size_t i = 0; !rc && i < n; i++)
        if (strcmp(held[i].name, k->name) == 0)
            rc = STORE_EXISTS;
    if (!rc && n >= STORE_API_KEYS_MAX)
        rc = STORE_EINVAL;
    if (!rc)
        rc = api_key_write(txn, k, &pk, KV_INSERT);
    if (!rc)
        rc = kv_put(txn, DB_API_KEYS_BY_ID, kv_str(k->id), kv_str(k->user_id));
    free(held);
    return rc;
}

int store_api_key_get(struct store_txn *txn, const char *id, struct store_api_key *out)
{
    char user_id[STORE_ID_MAX];
    struct pair_key pk;
    struct kv_val val;
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !key_id_valid(id))
        return STORE_EINVAL;
    rc = kv_get(txn, DB_API_KEYS_BY_ID, kv_str(id), &val);
    if (rc)
        return rc;
    if (val.len == 0 || val.len >= sizeof user_id)
        return store_corrupt(DB_API_KEYS_BY_ID, id, strlen(id));
    memcpy(user_id, val.data, val.len);
    user_id[val.len] = '\0';
    rc = pair_key(user_id, id, &pk);
    if (!rc)
        rc = api_key_read(txn, &pk, out);
    if (rc == STORE_NOTFOUND || rc == STORE_EINVAL) /* an index entry without its record */
        rc = store_corrupt(DB_API_KEYS_BY_ID, id, strlen(id));
    return rc;
}

int store_api_key_update(struct store_txn *txn, const struct store_api_key *k)
{
    struct store_api_key old;
    struct pair_key pk;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!k || !key_id_valid(k->id) || (k->disabled != 0 && k->disabled != 1) || k->last_used_at < 0)
        return STORE_EINVAL;
    rc = pair_key(k->user_id, k->id, &pk);
    if (!rc)
        rc = api_key_read(txn, &pk, &old);
    if (rc)
        return rc;
    old.disabled = k->disabled;
    old.last_used_at = k->last_used_at;
    return api_key_write(txn, &old, &pk, KV_UPDATE);
}

int store_api_key_delete(struct store_txn *txn, const char *user_id, const char *id)
{
    struct store_api_key old;
    struct pair_key pk;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = key_id_valid(id) ? pair_key(user_id, id, &pk) : STORE_EINVAL;
    if (!rc)
        rc = store_user_touch(txn, user_id);
    if (!rc)
        rc = api_key_read(txn, &pk, &old); /* NOTFOUND too for another user's key */
    if (!rc)
        rc = kv_del(txn, DB_API_KEYS, pk.val);
    if (!rc)
        rc = kv_del(txn, DB_API_KEYS_BY_ID, kv_str(id));
    return rc;
}

int store_api_keys_delete_all(struct store_txn *txn, const char *user_id)
{
    struct store_api_key k;
    struct pair_key prefix;
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    int rc = pair_key(user_id, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, DB_API_KEYS, &cur);
    /* seek afresh after each delete, as identities.c does */
    while (!rc && (rc = kv_move(cur, KV_GE, &prefix.val, &key, &val)) == STORE_OK &&
           pair_has_prefix(&key, &prefix)) {
        rc = api_key_decode(&key, &val, &k); /* copied: the deletes end key and val */
        if (!rc)
            rc = kv_cursor_del(cur);
        if (!rc)
            rc = kv_del(txn, DB_API_KEYS_BY_ID, kv_str(k.id));
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}
