/* Signing keys: kid -> {"alg","state","created_at","activated_at","retire_after","sealed"}, the
 * sealed private key as base64. keys/ gives them meaning; storage only keeps the bytes. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define ALG_MAX sizeof(((struct store_signing_key *)0)->alg)

static int key_valid(const struct store_signing_key *key)
{
    return key && str_fits_nonempty(key->kid, STORE_KID_MAX) &&
           str_fits_nonempty(key->alg, ALG_MAX) && key->state >= STORE_KEY_NEXT &&
           key->state <= STORE_KEY_RETIRED && key->sealed && key->sealed_len > 0 &&
           key->sealed_len <= STORE_SEALED_MAX;
}

static int key_encode(const struct store_signing_key *key, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "alg", key->alg);
    if (!rc)
        rc = codec_set_int(obj, "state", key->state);
    if (!rc)
        rc = codec_set_int(obj, "created_at", key->created_at);
    if (!rc)
        rc = codec_set_int(obj, "activated_at", key->activated_at);
    if (!rc)
        rc = codec_set_int(obj, "retire_after", key->retire_after);
    if (!rc)
        rc = codec_set_b64(obj, "sealed", key->sealed, key->sealed_len);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int key_decode(const struct kv_val *k, const struct kv_val *val,
                      struct store_signing_key *out)
{
    struct store_signing_key key = {0};
    json_t *obj = NULL;
    int64_t state = -1;
    int rc = STORE_ECORRUPT;

    if (k->len == 0 || k->len >= STORE_KID_MAX)
        goto out;
    memcpy(key.kid, k->data, k->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "alg", key.alg, sizeof key.alg);
    if (!rc)
        rc = codec_get_int(obj, "state", &state);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &key.created_at);
    if (!rc)
        rc = codec_get_int(obj, "activated_at", &key.activated_at);
    if (!rc)
        rc = codec_get_int(obj, "retire_after", &key.retire_after);
    if (!rc && (state < STORE_KEY_NEXT || state > STORE_KEY_RETIRED || key.alg[0] == '\0'))
        rc = STORE_ECORRUPT;
    if (!rc)
        rc = codec_get_b64(obj, "sealed", STORE_SEALED_MAX, &key.sealed, &key.sealed_len);
    if (!rc && key.sealed_len == 0)
        rc = STORE_ECORRUPT;
    if (rc)
        goto out;
    key.state = (int)state;
    *out = key;
    key.sealed = NULL;
out:
    free(key.sealed);
    json_decref(obj);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_SIGNING_KEYS, k->data, k->len);
    return rc;
}

int store_key_put(struct store_txn *txn, const struct store_signing_key *key)
{
    struct kv_val val;
    char *buf = NULL;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!key_valid(key))
        return STORE_EINVAL;
    rc = key_encode(key, &buf, &val.len);
    if (rc)
        return rc;
    val.data = buf;
    rc = kv_put(txn, DB_SIGNING_KEYS, kv_str(key->kid), val);
    free(buf);
    return rc;
}

static int key_older(const void *a, const void *b)
{
    const struct store_signing_key *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->kid, y->kid);
}

int store_key_list(struct store_txn *txn, struct store_signing_key **items, size_t *n)
{
    struct store_signing_key *list = NULL;
    struct kv_cursor *cur = NULL;
    struct kv_val k, val;
    size_t count = 0, cap = 0;
    int rc;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn)
        return STORE_EINVAL;
    rc = kv_cursor_open(txn, DB_SIGNING_KEYS, &cur);
    if (rc)
        goto out;
    for (rc = kv_move(cur, KV_FIRST, NULL, &k, &val); rc == STORE_OK;
         rc = kv_move(cur, KV_NEXT, NULL, &k, &val)) {
        if ((rc = list_room(&list, &cap, count, sizeof *list, 0)) != STORE_OK ||
            (rc = key_decode(&k, &val, &list[count])) != STORE_OK)
            goto out;
        count++;
    }
    if (rc != STORE_NOTFOUND)
        goto out;
    rc = STORE_OK;
    /* kids are thumbprints, not times: order by creation */
    if (count > 1)
        qsort(list, count, sizeof *list, key_older);
out:
    kv_cursor_close(cur);
    if (rc) {
        store_key_list_free(list, count);
    } else {
        *items = list;
        *n = count;
    }
    return rc;
}

void store_key_list_free(struct store_signing_key *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        free(items[i].sealed);
    free(items);
}

int store_key_delete(struct store_txn *txn, const char *kid)
{
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!str_fits_nonempty(kid, STORE_KID_MAX))
        return STORE_EINVAL;
    return kv_del(txn, DB_SIGNING_KEYS, kv_str(kid));
}
