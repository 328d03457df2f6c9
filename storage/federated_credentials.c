/* Federated credentials of service accounts: "<sa_id>/<fic_id>" -> {"config","created_at"}, so
 * an account's credentials are one key range (at most STORE_FEDERATED_MAX). */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

void store_federated_credential_clear(struct store_federated_credential *f)
{
    if (!f)
        return;
    free(f->config);
    memset(f, 0, sizeof *f);
}

static int federated_decode(const struct kv_val *key, const struct kv_val *val,
                            struct store_federated_credential *out)
{
    json_t *obj = NULL, *config;
    size_t len;
    int rc = STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    if (pair_split(key->data, key->len, out->sa_id, out->id))
        goto out;
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (rc)
        goto out;
    config = json_object_get(obj, "config");
    out->config = json_is_object(config) ? json_dumps(config, JSON_COMPACT) : NULL;
    len = out->config ? strlen(out->config) : 0;
    rc =
        len >= 2 && len <= STORE_IDP_CONFIG_MAX && out->created_at >= 0 ? STORE_OK : STORE_ECORRUPT;
out:
    json_decref(obj);
    if (rc) {
        if (rc == STORE_ECORRUPT)
            store_corrupt(DB_FEDERATED, key->data, key->len);
        store_federated_credential_clear(out);
    }
    return rc;
}

void store_federated_list_free(struct store_federated_credential *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        store_federated_credential_clear(&items[i]);
    free(items);
}

static int federated_older(const void *a, const void *b)
{
    const struct store_federated_credential *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

int store_federated_list(struct store_txn *txn, const char *sa_id,
                         struct store_federated_credential **items, size_t *n)
{
    struct store_federated_credential *all = NULL;
    struct kv_cursor *cur = NULL;
    struct pair_key prefix;
    struct kv_val key, val;
    size_t count = 0, cap = 0;
    int started = 0, rc;
    *items = NULL;
    *n = 0;
    if (!txn)
        return STORE_EINVAL;
    rc = pair_key(sa_id, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, DB_FEDERATED, &cur);
    while (!rc && (rc = kv_prefix_next(cur, prefix.val, &started, &key, &val)) == STORE_OK) {
        rc = list_room(&all, &cap, count, sizeof *all, 0);
        if (!rc)
            rc = federated_decode(&key, &val, &all[count]);
        if (!rc)
            count++;
    }
    kv_cursor_close(cur);
    if (rc != STORE_NOTFOUND) {
        store_federated_list_free(all, count);
        return rc;
    }
    if (count > 1)
        qsort(all, count, sizeof *all, federated_older);
    *items = all;
    *n = count;
    return STORE_OK;
}

int store_federated_insert(struct store_txn *txn, const struct store_federated_credential *f)
{
    struct store_federated_credential *held = NULL;
    struct pair_key pk;
    struct kv_val val = {0};
    json_t *obj = NULL, *config = NULL;
    char *buf = NULL;
    size_t n = 0;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!f || f->created_at < 0 || config_load(f->config, &config))
        return STORE_EINVAL;
    rc = pair_key(f->sa_id, f->id, &pk);
    /* the bound is a count over the account's credentials: collide with its other writers */
    if (!rc)
        rc = kv_touch(txn, DB_SERVICE_ACCOUNTS, kv_str(f->sa_id));
    if (!rc)
        rc = store_federated_list(txn, f->sa_id, &held, &n);
    store_federated_list_free(held, n);
    if (!rc && n >= STORE_FEDERATED_MAX)
        rc = STORE_EINVAL;
    if (!rc)
        rc = (obj = json_object()) ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = json_object_set(obj, "config", config) ? STORE_ENOMEM : STORE_OK;
    if (!rc)
        rc = codec_set_int(obj, "created_at", f->created_at);
    if (!rc)
        rc = codec_dump(obj, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_insert(txn, DB_FEDERATED, pk.val, val);
    }
    free(buf);
    json_decref(config);
    json_decref(obj);
    return rc;
}

int store_federated_delete(struct store_txn *txn, const char *sa_id, const char *id)
{
    struct pair_key pk;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = pair_key(sa_id, id, &pk);
    return rc ? rc : kv_del(txn, DB_FEDERATED, pk.val);
}

int store_federated_delete_all(struct store_txn *txn, const char *sa_id)
{
    struct kv_cursor *cur = NULL;
    struct pair_key prefix;
    struct kv_val key;
    int rc = pair_key(sa_id, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, DB_FEDERATED, &cur);
    /* seek afresh after each delete, as store_secrets_delete_all() does */
    while (!rc && (rc = kv_move(cur, KV_GE, &prefix.val, &key, NULL)) == STORE_OK &&
           pair_has_prefix(&key, &prefix))
        rc = kv_cursor_del(cur);
    kv_cursor_close(cur);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
