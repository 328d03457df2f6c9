/* Identities: "<user_id>/<identity_id>" -> {"provider","provider_id","phc","created_at"}, so a
 * user's identities are one key range. Two indexes: identity id -> user id (ids are unique across
 * users), and "<provider>\0<provider_id>" -> "<user_id>/<identity_id>" (a provider name holds no
 * NUL, so the pair is unambiguous). provider_id is stored exactly as given: the caller
 * lower-cases emails. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define PROVIDER_KEY_MAX (STORE_PROVIDER_MAX + STORE_EMAIL_MAX)

struct provider_key {
    char buf[PROVIDER_KEY_MAX];
    struct kv_val val;
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
    k->val.data = k->buf;
    k->val.len = plen + 1 + ilen;
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

static int identity_decode(const struct kv_val *key, const struct kv_val *val,
                           struct store_identity *out)
{
    struct store_identity idn = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (pair_split(key->data, key->len, idn.user_id, idn.id))
        goto out;
    rc = codec_load(val->data, val->len, &obj);
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
        store_corrupt(DB_IDENTITIES, key->data, key->len);
    return rc;
}

/* Reads the identity stored under k into *out. */
static int identity_read(struct store_txn *txn, const struct pair_key *k,
                         struct store_identity *out)
{
    struct kv_val val;
    int rc = kv_get(txn, DB_IDENTITIES, k->val, &val);
    return rc ? rc : identity_decode(&k->val, &val, out);
}

static int identity_put(struct store_txn *txn, const struct store_identity *idn,
                        const struct pair_key *k, enum kv_put how)
{
    struct kv_val val;
    char *buf = NULL;
    int rc = identity_encode(idn, &buf, &val.len);

    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_IDENTITIES, k->val, val, how);
    }
    free(buf);
    return rc;
}

/* Writes the two index entries of an identity stored under k. */
static int identity_index(struct store_txn *txn, const struct store_identity *idn,
                          const struct pair_key *k)
{
    struct provider_key pk;
    int rc = kv_put(txn, DB_IDENTITIES_BY_ID, kv_str(idn->id), kv_str(idn->user_id));

    if (rc)
        return rc;
    provider_key(idn->provider, idn->provider_id, &pk);
    return kv_put(txn, DB_IDENTITIES_BY_PROVIDER, pk.val, k->val);
}

/* Removes the two index entries of an identity already read (the record is the caller's). The
 * provider entry goes only when it still names this identity. */
static int identity_unindex(struct store_txn *txn, const struct store_identity *idn,
                            const struct pair_key *k)
{
    struct provider_key pk;
    struct kv_val val;
    int rc = kv_del(txn, DB_IDENTITIES_BY_ID, kv_str(idn->id));

    if (rc && rc != STORE_NOTFOUND)
        return rc;
    provider_key(idn->provider, idn->provider_id, &pk);
    rc = kv_get(txn, DB_IDENTITIES_BY_PROVIDER, pk.val, &val);
    /* val is compared before the delete ends its life */
    if (rc == STORE_OK && val.len == k->val.len && memcmp(val.data, k->val.data, val.len) == 0)
        rc = kv_del(txn, DB_IDENTITIES_BY_PROVIDER, pk.val);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* STORE_OK when db holds no entry under key, STORE_EXISTS when it does. */
static int key_free(struct store_txn *txn, enum store_db db, struct kv_val key)
{
    struct kv_val val;
    int rc = kv_get(txn, db, key, &val);
    if (rc == STORE_OK)
        return STORE_EXISTS;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* How many identities the owner of prefix holds. */
static int identities_count(struct store_txn *txn, const struct pair_key *prefix, size_t *n)
{
    struct kv_cursor *cur = NULL;
    int rc, started = 0;

    *n = 0;
    rc = kv_cursor_open(txn, DB_IDENTITIES, &cur);
    while (!rc && (rc = kv_prefix_next(cur, prefix->val, &started, NULL, NULL)) == STORE_OK)
        (*n)++;
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}

int store_identity_insert(struct store_txn *txn, const struct store_identity *idn)
{
    struct pair_key k, prefix;
    struct provider_key pk;
    size_t n;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!identity_valid(idn))
        return STORE_EINVAL;
    rc = pair_key(idn->user_id, idn->id, &k);
    if (!rc)
        rc = pair_key(idn->user_id, NULL, &prefix);
    if (!rc) /* the limit is a count: collide with other inserts, deletes and the user's end */
        rc = store_user_touch(txn, idn->user_id);
    /* Every check before any other write: a refused insert leaves the transaction as it was. */
    if (!rc)
        rc = key_free(txn, DB_IDENTITIES_BY_ID, kv_str(idn->id));
    if (!rc) {
        provider_key(idn->provider, idn->provider_id, &pk);
        rc = key_free(txn, DB_IDENTITIES_BY_PROVIDER, pk.val);
    }
    if (!rc)
        rc = identities_count(txn, &prefix, &n);
    if (!rc && n >= STORE_IDENTITIES_MAX)
        rc = STORE_EINVAL;
    if (!rc)
        rc = identity_put(txn, idn, &k, KV_UPSERT);
    if (!rc)
        rc = identity_index(txn, idn, &k);
    return rc;
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
    return identity_put(txn, &old, &k, KV_UPDATE);
}

int store_identity_find(struct store_txn *txn, const char *provider, const char *provider_id,
                        struct store_identity *out)
{
    struct provider_key pk;
    struct pair_key k;
    struct kv_val val;
    int rc;

    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !str_fits_nonempty(provider, STORE_PROVIDER_MAX) ||
        !str_fits_nonempty(provider_id, STORE_EMAIL_MAX))
        return STORE_EINVAL;
    provider_key(provider, provider_id, &pk);
    rc = kv_get(txn, DB_IDENTITIES_BY_PROVIDER, pk.val, &val);
    if (rc)
        return rc;
    if (val.len == 0 || val.len >= sizeof k.buf)
        return store_corrupt(DB_IDENTITIES_BY_PROVIDER, provider, strlen(provider));
    memcpy(k.buf, val.data, val.len);
    k.val.data = k.buf;
    k.val.len = val.len;
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

static int identity_decode_owned(const struct kv_val *key, size_t prefix_len,
                                 const struct kv_val *val, void *out)
{
    (void)prefix_len;
    return identity_decode(key, val, out);
}

int store_identity_list(struct store_txn *txn, const char *user_id, struct store_identity *out,
                        size_t cap, size_t *n)
{
    static const struct store_owned_kind kind = {sizeof *out, identity_decode_owned, identity_older,
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
    if (!rc) /* "never the last identity" is a count: collide with the other deletes */
        rc = store_user_touch(txn, user_id);
    if (!rc)
        rc = identity_read(txn, &k, &idn); /* NOTFOUND too for another user's identity */
    if (!rc)
        rc = kv_del(txn, DB_IDENTITIES, k.val);
    if (!rc)
        rc = identity_unindex(txn, &idn, &k);
    return rc;
}

int store_identities_delete_all(struct store_txn *txn, const char *user_id)
{
    struct store_identity idn;
    struct pair_key prefix, k;
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    int rc = pair_key(user_id, NULL, &prefix);

    if (!rc)
        rc = kv_cursor_open(txn, DB_IDENTITIES, &cur);
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    while (!rc && (rc = kv_move(cur, KV_GE, &prefix.val, &key, &val)) == STORE_OK &&
           pair_has_prefix(&key, &prefix)) {
        /* decoded (copied) first: the deletes end the life of key and val */
        rc = identity_decode(&key, &val, &idn);
        if (!rc)
            rc = pair_key(idn.user_id, idn.id, &k);
        if (!rc)
            rc = kv_cursor_del(cur);
        if (!rc)
            rc = identity_unindex(txn, &idn, &k);
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}
