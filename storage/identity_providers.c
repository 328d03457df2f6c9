/* Identity providers: id -> {"name","type","config","sealed_secret","created_at","updated_at"},
 * config kept as the JSON object it is. Index, written in the transaction that writes the
 * record:
 *   identity_provider_names  name -> id  (a name is unique; identities and applications use it)
 * The name never changes: the identities of its users are named after it ("oidc:<name>"). */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

int config_load(const char *text, json_t **obj)
{
    size_t len = text ? strnlen(text, STORE_IDP_CONFIG_MAX + 1) : 0;
    *obj = NULL;
    if (len < 2 || len > STORE_IDP_CONFIG_MAX)
        return STORE_EINVAL;
    *obj = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
    if (!*obj || !json_is_object(*obj)) {
        json_decref(*obj);
        *obj = NULL;
        return STORE_EINVAL;
    }
    return STORE_OK;
}

static int idp_valid(const struct store_identity_provider *p)
{
    return p && id_valid(p->id) && word_valid(p->name, STORE_IDP_NAME_MAX, "0123456789-") &&
           (strcmp(p->type, "oidc") == 0 || strcmp(p->type, "jwt") == 0) &&
           p->sealed_len <= STORE_IDP_SEALED_MAX && p->created_at >= 0 && p->updated_at >= 0;
}

void store_identity_provider_clear(struct store_identity_provider *p)
{
    if (!p)
        return;
    free(p->config);
    memset(p, 0, sizeof *p);
}

static int idp_encode(const struct store_identity_provider *p, char **buf, size_t *len)
{
    json_t *obj = json_object(), *config = NULL;
    int rc = obj ? config_load(p->config, &config) : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "name", p->name);
    if (!rc)
        rc = codec_set_str(obj, "type", p->type);
    if (!rc)
        rc = json_object_set(obj, "config", config) ? STORE_ENOMEM : STORE_OK;
    if (!rc)
        rc = codec_set_b64(obj, "sealed_secret", p->sealed_secret, p->sealed_len);
    if (!rc)
        rc = codec_set_int(obj, "created_at", p->created_at);
    if (!rc)
        rc = codec_set_int(obj, "updated_at", p->updated_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(config);
    json_decref(obj);
    return rc;
}

static int idp_decode(const struct kv_val *key, const struct kv_val *val,
                      struct store_identity_provider *out)
{
    json_t *obj = NULL, *config;
    uint8_t *sealed = NULL;
    size_t config_len;
    int rc = STORE_ECORRUPT;
    memset(out, 0, sizeof *out);
    if (key->len == 0 || key->len >= sizeof out->id)
        goto out;
    memcpy(out->id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "name", out->name, sizeof out->name);
    if (!rc)
        rc = codec_get_str(obj, "type", out->type, sizeof out->type);
    if (!rc)
        rc = codec_get_b64(obj, "sealed_secret", STORE_IDP_SEALED_MAX, &sealed, &out->sealed_len);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "updated_at", &out->updated_at);
    if (rc)
        goto out;
    memcpy(out->sealed_secret, sealed, out->sealed_len);
    config = json_object_get(obj, "config");
    out->config = json_is_object(config) ? json_dumps(config, JSON_COMPACT) : NULL;
    config_len = out->config ? strlen(out->config) : 0;
    rc = config_len >= 2 && config_len <= STORE_IDP_CONFIG_MAX && idp_valid(out) ? STORE_OK
                                                                                 : STORE_ECORRUPT;
out:
    free(sealed);
    json_decref(obj);
    if (rc) {
        if (rc == STORE_ECORRUPT)
            store_corrupt(DB_IDPS, key->data, key->len);
        store_identity_provider_clear(out);
    }
    return rc;
}

static int idp_write(struct store_txn *txn, const struct store_identity_provider *p,
                     enum kv_put how)
{
    struct kv_val val = {0};
    char *buf = NULL;
    int rc = idp_encode(p, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_IDPS, kv_str(p->id), val, how);
    }
    free(buf);
    return rc;
}

int store_idp_insert(struct store_txn *txn, const struct store_identity_provider *p)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!idp_valid(p))
        return STORE_EINVAL;
    rc = idp_write(txn, p, KV_INSERT);
    return rc ? rc : kv_insert(txn, DB_IDP_NAMES, kv_str(p->name), kv_str(p->id));
}

int store_idp_update(struct store_txn *txn, const struct store_identity_provider *p)
{
    struct store_identity_provider old;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!idp_valid(p))
        return STORE_EINVAL;
    rc = store_idp_get(txn, p->id, &old);
    if (rc)
        return rc;
    if (strcmp(old.name, p->name) != 0 || strcmp(old.type, p->type) != 0)
        rc = STORE_EINVAL;
    store_identity_provider_clear(&old);
    return rc ? rc : idp_write(txn, p, KV_UPDATE);
}

int store_idp_get(struct store_txn *txn, const char *id, struct store_identity_provider *out)
{
    struct kv_val key, val;
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    key = kv_str(id);
    rc = kv_get(txn, DB_IDPS, key, &val);
    return rc ? rc : idp_decode(&key, &val, out);
}

int store_idp_find_name(struct store_txn *txn, const char *name, char id[STORE_ID_MAX])
{
    struct kv_val val;
    int rc;
    id[0] = '\0';
    if (!txn || !str_fits_nonempty(name, STORE_IDP_NAME_MAX))
        return STORE_EINVAL;
    rc = kv_get(txn, DB_IDP_NAMES, kv_str(name), &val);
    if (rc)
        return rc;
    if (val.len == 0 || val.len >= STORE_ID_MAX)
        return store_corrupt(DB_IDP_NAMES, name, strlen(name));
    memcpy(id, val.data, val.len);
    id[val.len] = '\0';
    return STORE_OK;
}

int store_idp_delete(struct store_txn *txn, const char *id)
{
    struct store_identity_provider old;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = store_idp_get(txn, id, &old);
    if (rc)
        return rc;
    rc = kv_del(txn, DB_IDP_NAMES, kv_str(old.name));
    if (!rc)
        rc = kv_del(txn, DB_IDPS, kv_str(id));
    store_identity_provider_clear(&old);
    return rc;
}

static int idp_decode_any(const struct kv_val *key, const struct kv_val *val, void *out)
{
    return idp_decode(key, val, out);
}

static void idp_clear_any(void *item)
{
    store_identity_provider_clear(item);
}

int store_idp_list(struct store_txn *txn, const char *after, size_t limit,
                   struct store_identity_provider **items, size_t *n)
{
    static const struct store_list_kind kind = {sizeof(**items), idp_decode_any, idp_clear_any,
                                                "list identity providers"};
    return store_list_records(txn, DB_IDPS, after, limit, &kind, (void **)items, n);
}

void store_idp_list_free(struct store_identity_provider *items, size_t n)
{
    for (size_t i = 0; items && i < n; i++)
        store_identity_provider_clear(&items[i]);
    free(items);
}

int store_identity_provider_used(struct store_txn *txn, const char *provider, int *used)
{
    char buf[STORE_PROVIDER_MAX + 1];
    struct kv_cursor *cur = NULL;
    struct kv_val prefix = {buf, 0}, key;
    int started = 0, rc;
    *used = 0;
    if (!txn || !str_fits_nonempty(provider, STORE_PROVIDER_MAX))
        return STORE_EINVAL;
    prefix.len = strlen(provider) + 1; /* "<provider>\0" starts each of its index keys */
    memcpy(buf, provider, prefix.len);
    rc = kv_cursor_open(txn, DB_IDENTITIES_BY_PROVIDER, &cur);
    if (!rc)
        rc = kv_prefix_next(cur, prefix, &started, &key, NULL);
    kv_cursor_close(cur);
    if (rc == STORE_OK)
        *used = 1;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}
