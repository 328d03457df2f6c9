/* Signing keys: kid -> {"alg","state","created_at","activated_at","retire_after","sealed"}, the
 * sealed private key as base64. keys/ gives them meaning; storage only keeps the bytes. */
#include "storage/internal.h"

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

static int key_decode(const MDB_val *k, const MDB_val *data, struct store_signing_key *out)
{
    struct store_signing_key key = {0};
    json_t *obj = NULL;
    int64_t state = -1;
    int rc = STORE_ECORRUPT;

    if (k->mv_size == 0 || k->mv_size >= STORE_KID_MAX)
        goto out;
    memcpy(key.kid, k->mv_data, k->mv_size);
    rc = codec_load(data->mv_data, data->mv_size, &obj);
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
        store_corrupt(DB_SIGNING_KEYS, k->mv_data, k->mv_size);
    return rc;
}

int store_key_put(struct store_txn *txn, const struct store_signing_key *key)
{
    MDB_val k, data;
    char *buf = NULL;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!key_valid(key))
        return STORE_EINVAL;
    rc = key_encode(key, &buf, &data.mv_size);
    if (rc)
        goto out;
    data.mv_data = buf;
    k.mv_data = (void *)key->kid;
    k.mv_size = strlen(key->kid);
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_SIGNING_KEYS], &k, &data, 0),
                       "put signing key");
out:
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
    MDB_cursor *cur = NULL;
    MDB_val k, data;
    MDB_stat stat;
    size_t count = 0;
    int rc, mrc;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn)
        return STORE_EINVAL;
    rc = store_mdb_err(txn, mdb_stat(txn->txn, txn->st->dbi[DB_SIGNING_KEYS], &stat),
                       "stat signing keys");
    if (rc || stat.ms_entries == 0)
        goto out;
    list = calloc(stat.ms_entries, sizeof *list);
    if (!list) {
        rc = STORE_ENOMEM;
        goto out;
    }
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_SIGNING_KEYS], &cur),
                       "cursor signing keys");
    if (rc)
        goto out;
    mrc = mdb_cursor_get(cur, &k, &data, MDB_FIRST);
    while (mrc == MDB_SUCCESS && count < stat.ms_entries) {
        rc = key_decode(&k, &data, &list[count]);
        if (rc)
            goto out;
        count++;
        mrc = mdb_cursor_get(cur, &k, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND) {
        rc = store_mdb_err(txn, mrc, "list signing keys");
        goto out;
    }
    /* kids are thumbprints, not times: order by creation */
    if (count > 1)
        qsort(list, count, sizeof *list, key_older);
out:
    if (cur)
        mdb_cursor_close(cur);
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
    MDB_val k;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!str_fits_nonempty(kid, STORE_KID_MAX))
        return STORE_EINVAL;
    k.mv_data = (void *)kid;
    k.mv_size = strlen(kid);
    return store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_SIGNING_KEYS], &k, NULL),
                         "delete signing key");
}
