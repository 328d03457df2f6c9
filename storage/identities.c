/* Identities: "<user_id>/<identity_id>" -> {"provider","provider_id","phc","created_at"}, so a
 * user's identities are one key range. Two indexes: identity id -> user id (ids are unique across
 * users), and "<provider>\0<provider_id>" -> "<user_id>/<identity_id>" (a provider name holds no
 * NUL, so the pair is unambiguous). provider_id is stored exactly as given: the caller
 * lower-cases emails. */
#include "storage/internal.h"

#include <stdlib.h>
#include <string.h>

#define PROVIDER_KEY_MAX (STORE_PROVIDER_MAX + STORE_EMAIL_MAX)

struct provider_key {
    char buf[PROVIDER_KEY_MAX];
    MDB_val val;
};

static int identity_valid(const struct store_identity *idn)
{
    return idn && id_valid(idn->id) && id_valid(idn->user_id) &&
           str_fits_nonempty(idn->provider, STORE_PROVIDER_MAX) &&
           str_fits_nonempty(idn->provider_id, STORE_EMAIL_MAX) &&
           str_fits(idn->phc, STORE_PHC_MAX);
}

/* Callers have checked both strings. */
static void provider_key(const char *provider, const char *provider_id, struct provider_key *k)
{
    size_t plen = strlen(provider), ilen = strlen(provider_id);
    memcpy(k->buf, provider, plen);
    k->buf[plen] = '\0';
    memcpy(k->buf + plen + 1, provider_id, ilen);
    k->val.mv_data = k->buf;
    k->val.mv_size = plen + 1 + ilen;
}

static int identity_encode(const struct store_identity *idn, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "provider", idn->provider);
    if (!rc)
        rc = codec_set_str(obj, "provider_id", idn->provider_id);
    if (!rc)
        rc = codec_set_str(obj, "phc", idn->phc);
    if (!rc)
        rc = codec_set_int(obj, "created_at", idn->created_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int identity_decode(const MDB_val *key, const MDB_val *data, struct store_identity *out)
{
    struct store_identity idn = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (pair_split(key->mv_data, key->mv_size, idn.user_id, idn.id))
        goto out;
    rc = codec_load(data->mv_data, data->mv_size, &obj);
    if (!rc)
        rc = codec_get_str(obj, "provider", idn.provider, sizeof idn.provider);
    if (!rc)
        rc = codec_get_str(obj, "provider_id", idn.provider_id, sizeof idn.provider_id);
    if (!rc)
        rc = codec_get_str(obj, "phc", idn.phc, sizeof idn.phc);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &idn.created_at);
    if (!rc && (idn.provider[0] == '\0' || idn.provider_id[0] == '\0'))
        rc = STORE_ECORRUPT;
    if (!rc)
        *out = idn;
out:
    json_decref(obj);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_IDENTITIES, key->mv_data, key->mv_size);
    return rc;
}

/* Reads the identity stored under k into *out. */
static int identity_read(struct store_txn *txn, const struct pair_key *k,
                         struct store_identity *out)
{
    MDB_val key = k->val, data;
    int rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_IDENTITIES], &key, &data),
                           "get identity");
    if (rc)
        return rc;
    return identity_decode(&key, &data, out);
}

static int identity_put(struct store_txn *txn, const struct store_identity *idn,
                        const struct pair_key *k)
{
    MDB_val key = k->val, data;
    char *buf = NULL;
    int rc = identity_encode(idn, &buf, &data.mv_size);

    if (rc)
        goto out;
    data.mv_data = buf;
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_IDENTITIES], &key, &data, 0),
                       "put identity");
out:
    free(buf);
    return rc;
}

/* Removes the two index entries of an identity already read (the record is the caller's). The
 * provider entry goes only when it still names this identity. */
static int identity_unindex(struct store_txn *txn, const struct store_identity *idn,
                            const struct pair_key *k)
{
    struct provider_key pk;
    MDB_val key, data;
    int rc, mrc;

    key.mv_data = (void *)idn->id;
    key.mv_size = strlen(idn->id);
    mrc = mdb_del(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_ID], &key, NULL);
    rc = store_mdb_err(txn, mrc, "delete identity id index");
    if (rc && rc != STORE_NOTFOUND)
        return rc;
    provider_key(idn->provider, idn->provider_id, &pk);
    mrc = mdb_get(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_PROVIDER], &pk.val, &data);
    if (mrc == MDB_SUCCESS && data.mv_size == k->val.mv_size &&
        memcmp(data.mv_data, k->val.mv_data, data.mv_size) == 0)
        mrc = mdb_del(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_PROVIDER], &pk.val, NULL);
    rc = store_mdb_err(txn, mrc, "delete identity provider index");
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* How many identities user_id holds. */
static int identities_count(struct store_txn *txn, const struct pair_key *prefix, size_t *n)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, mrc;

    *n = 0;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_IDENTITIES], &cur),
                       "cursor identities");
    if (rc)
        return rc;
    key = prefix->val;
    mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
    while (mrc == MDB_SUCCESS && pair_has_prefix(&key, prefix)) {
        (*n)++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "count identities");
    mdb_cursor_close(cur);
    return rc;
}

int store_identity_insert(struct store_txn *txn, const struct store_identity *idn)
{
    struct pair_key k, prefix;
    struct provider_key pk;
    MDB_val key, data;
    size_t n;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!identity_valid(idn))
        return STORE_EINVAL;
    rc = pair_key(idn->user_id, idn->id, &k);
    if (!rc)
        rc = pair_key(idn->user_id, NULL, &prefix);
    if (!rc)
        rc = store_user_exists(txn, idn->user_id);
    if (rc)
        return rc;
    /* Every check before any write: a refused insert leaves the transaction as it was. */
    key.mv_data = (void *)idn->id;
    key.mv_size = strlen(idn->id);
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_ID], &key, &data),
                       "get identity id index");
    if (rc == STORE_OK)
        return STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        return rc;
    provider_key(idn->provider, idn->provider_id, &pk);
    rc = store_mdb_err(txn,
                       mdb_get(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_PROVIDER], &pk.val, &data),
                       "get identity provider index");
    if (rc == STORE_OK)
        return STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        return rc;
    rc = identities_count(txn, &prefix, &n);
    if (rc)
        return rc;
    if (n >= STORE_IDENTITIES_MAX)
        return STORE_EINVAL;

    rc = identity_put(txn, idn, &k);
    if (rc)
        return rc;
    data.mv_data = (void *)idn->user_id;
    data.mv_size = strlen(idn->user_id);
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_ID], &key, &data, 0),
                       "put identity id index");
    if (rc)
        return rc;
    data = k.val;
    return store_mdb_err(
        txn, mdb_put(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_PROVIDER], &pk.val, &data, 0),
        "put identity provider index");
}

int store_identity_update(struct store_txn *txn, const struct store_identity *idn)
{
    struct store_identity old;
    struct pair_key k;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    /* Only phc changes; provider, provider_id and created_at stay as stored. */
    if (!idn || !str_fits(idn->phc, STORE_PHC_MAX))
        return STORE_EINVAL;
    rc = pair_key(idn->user_id, idn->id, &k);
    if (!rc)
        rc = identity_read(txn, &k, &old);
    if (rc)
        return rc;
    memcpy(old.phc, idn->phc, strlen(idn->phc) + 1);
    return identity_put(txn, &old, &k);
}

int store_identity_find(struct store_txn *txn, const char *provider, const char *provider_id,
                        struct store_identity *out)
{
    struct provider_key pk;
    struct pair_key k;
    MDB_val data;
    int rc;

    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !str_fits_nonempty(provider, STORE_PROVIDER_MAX) ||
        !str_fits_nonempty(provider_id, STORE_EMAIL_MAX))
        return STORE_EINVAL;
    provider_key(provider, provider_id, &pk);
    rc = store_mdb_err(txn,
                       mdb_get(txn->txn, txn->st->dbi[DB_IDENTITIES_BY_PROVIDER], &pk.val, &data),
                       "get identity provider index");
    if (rc)
        return rc;
    if (data.mv_size == 0 || data.mv_size >= sizeof k.buf)
        return store_corrupt(DB_IDENTITIES_BY_PROVIDER, provider, strlen(provider));
    memcpy(k.buf, data.mv_data, data.mv_size);
    k.val.mv_data = k.buf;
    k.val.mv_size = data.mv_size;
    rc = identity_read(txn, &k, out);
    if (rc == STORE_NOTFOUND) /* an index entry without its record */
        rc = store_corrupt(DB_IDENTITIES_BY_PROVIDER, provider, strlen(provider));
    return rc;
}

static int identity_older(const void *a, const void *b)
{
    const struct store_identity *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

static int identity_decode_owned(const MDB_val *key, size_t prefix_len, const MDB_val *data,
                                 void *out)
{
    (void)prefix_len;
    return identity_decode(key, data, out);
}

int store_identity_list(struct store_txn *txn, const char *user_id, struct store_identity *out,
                        size_t cap, size_t *n)
{
    static const struct store_owned_kind kind = {sizeof *out, STORE_IDENTITIES_MAX,
                                                 identity_decode_owned, identity_older,
                                                 "list identities"};
    return store_list_owned(txn, DB_IDENTITIES, user_id, &kind, out, cap, n);
}

int store_identity_delete(struct store_txn *txn, const char *user_id, const char *id)
{
    struct store_identity idn;
    struct pair_key k;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = id ? pair_key(user_id, id, &k) : STORE_EINVAL;
    if (!rc)
        rc = identity_read(txn, &k, &idn); /* NOTFOUND too for another user's identity */
    if (!rc)
        rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_IDENTITIES], &k.val, NULL),
                           "delete identity");
    if (!rc)
        rc = identity_unindex(txn, &idn, &k);
    return rc;
}

int store_identities_delete_all(struct store_txn *txn, const char *user_id)
{
    struct store_identity idn;
    struct pair_key prefix, k;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, mrc;

    rc = pair_key(user_id, NULL, &prefix);
    if (rc)
        return rc;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_IDENTITIES], &cur),
                       "cursor identities");
    if (rc)
        return rc;
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    for (;;) {
        key = prefix.val;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
        if (mrc != MDB_SUCCESS || !pair_has_prefix(&key, &prefix))
            break;
        /* decoded (copied) first: key and data point into a page the deletes change */
        rc = identity_decode(&key, &data, &idn);
        if (!rc)
            rc = pair_key(idn.user_id, idn.id, &k);
        if (rc)
            goto out;
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        rc = identity_unindex(txn, &idn, &k);
        if (rc)
            goto out;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "delete identities");
out:
    mdb_cursor_close(cur);
    return rc;
}
