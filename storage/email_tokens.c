/* One-time email tokens (verify an email, reset a password, change an email): SHA-256 of the
 * token (32 bytes) -> {"purpose","user_id","email","created_at","expires_at"}; the token itself
 * is never stored. Indexes, written in the transaction that writes the record:
 *   email_tokens_by_exp   be64(expires_at) || hash -> ""  (expiry.c; the sweep removes them)
 *   email_tokens_by_user  "<user_id>/" || hash -> ""  (a user's tokens are a range)
 * A record is never rewritten: using the token deletes it with its entries. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define HASH_LEN STORE_REFRESH_HASH_LEN

/* "<user_id>/" || hash */
struct user_key {
    uint8_t buf[STORE_ID_MAX + HASH_LEN];
    struct kv_val val;
};

static int purpose_valid(const char *purpose)
{
    return word_valid(purpose, STORE_EMAIL_PURPOSE_MAX, "-");
}

static int token_valid(const struct store_email_token *t)
{
    return t && purpose_valid(t->purpose) && id_valid(t->user_id) &&
           str_fits_nonempty(t->email, STORE_EMAIL_MAX) && t->created_at >= 0 && t->expires_at >= 0;
}

/* STORE_EINVAL unless user_id is valid. */
static int user_key(const char *user_id, const uint8_t *hash, struct user_key *k)
{
    struct pair_key prefix;
    int rc = pair_key(user_id, NULL, &prefix);
    if (rc)
        return rc;
    memcpy(k->buf, prefix.val.data, prefix.val.len);
    memcpy(k->buf + prefix.val.len, hash, HASH_LEN);
    k->val = (struct kv_val){k->buf, prefix.val.len + HASH_LEN};
    return STORE_OK;
}

static int token_encode(const struct store_email_token *t, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    if (!rc)
        rc = codec_set_str(obj, "purpose", t->purpose);
    if (!rc)
        rc = codec_set_str(obj, "user_id", t->user_id);
    if (!rc)
        rc = codec_set_str(obj, "email", t->email);
    if (!rc)
        rc = codec_set_int(obj, "created_at", t->created_at);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", t->expires_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int token_decode(const struct kv_val *key, const struct kv_val *val,
                        struct store_email_token *out)
{
    json_t *obj = NULL;
    int rc;
    memset(out, 0, sizeof *out);
    rc = hashed_load(key, val, out->hash, &obj);
    if (!rc)
        rc = codec_get_str(obj, "purpose", out->purpose, sizeof out->purpose);
    if (!rc)
        rc = codec_get_str(obj, "user_id", out->user_id, sizeof out->user_id);
    if (!rc)
        rc = codec_get_str(obj, "email", out->email, sizeof out->email);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &out->expires_at);
    if (!rc && !token_valid(out))
        rc = STORE_ECORRUPT;
    return hashed_done(DB_EMAIL_TOKENS, rc, obj, out, sizeof *out);
}

int store_email_token_insert(struct store_txn *txn, const struct store_email_token *t)
{
    struct user_key uk;
    struct kv_val val = {0};
    char *buf = NULL;
    int rc = store_txn_writable(txn);
    if (rc)
        goto out;
    if (!token_valid(t)) {
        rc = STORE_EINVAL;
        goto out;
    }
    rc = user_key(t->user_id, t->hash, &uk);
    if (!rc)
        rc = token_encode(t, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_insert(txn, DB_EMAIL_TOKENS, (struct kv_val){t->hash, HASH_LEN}, val);
    }
    if (!rc)
        rc = expiry_put(txn, DB_EMAIL_TOKENS_BY_EXP, t->expires_at, t->hash, HASH_LEN);
    if (!rc)
        rc = kv_put(txn, DB_EMAIL_TOKENS_BY_USER, uk.val, (struct kv_val){"", 0});
out:
    free(buf);
    return rc;
}

int store_email_token_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                          struct store_email_token *out)
{
    struct kv_val key, val;
    int rc;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    rc = hashed_get(txn, DB_EMAIL_TOKENS, hash, &key, &val);
    return rc ? rc : token_decode(&key, &val, out);
}

/* Deletes t (as read in this transaction) with its user entry and, unless the sweep deletes it
 * itself, its expiry entry. The record's row is deleted, which on PostgreSQL makes two
 * transactions that use one token collide: the second reruns and finds it gone. */
static int token_remove(struct store_txn *txn, const struct store_email_token *t, int with_expiry)
{
    struct user_key uk;
    int rc = user_key(t->user_id, t->hash, &uk);
    if (!rc)
        rc = kv_del(txn, DB_EMAIL_TOKENS_BY_USER, uk.val);
    if (rc == STORE_NOTFOUND) /* a lost index entry: the record goes all the same */
        rc = STORE_OK;
    if (!rc && with_expiry)
        rc = expiry_del(txn, DB_EMAIL_TOKENS_BY_EXP, t->expires_at, t->hash, HASH_LEN);
    return rc ? rc : kv_del(txn, DB_EMAIL_TOKENS, (struct kv_val){t->hash, HASH_LEN});
}

int store_email_token_delete(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN])
{
    struct store_email_token t;
    int rc = store_txn_writable(txn);
    if (!rc)
        rc = store_email_token_get(txn, hash, &t);
    return rc ? rc : token_remove(txn, &t, 1);
}

/* On PostgreSQL each token this deletes is a row it deletes, so a transaction that uses one of
 * them meanwhile collides with this one. A token of another purpose is read and left alone with
 * nothing written: a purpose never changes, so there is no decision to protect. Nor is the
 * user's record touched: a token inserted meanwhile is not seen and stays, as if it had been
 * inserted just after, which is a serial order too. Only callers that delete and then insert
 * in one transaction (a new link replaces the old ones) can then end with two new tokens, one
 * per transaction, where one after the other would leave one; a caller that needs at most one
 * also writes a row both transactions share, such as the user's record. */
int store_email_tokens_delete_user(struct store_txn *txn, const char *user_id, const char *purpose,
                                   size_t *n)
{
    struct store_email_token t;
    struct pair_key prefix;
    struct kv_cursor *cur = NULL;
    struct kv_val key, at = {0};
    enum kv_move how = KV_GE;
    uint8_t last[STORE_ID_MAX + HASH_LEN];
    size_t count = 0;
    int rc;

    if (n)
        *n = 0;
    rc = store_txn_writable(txn);
    if (!rc && purpose && !purpose_valid(purpose))
        rc = STORE_EINVAL;
    if (!rc)
        rc = pair_key(user_id, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, DB_EMAIL_TOKENS_BY_USER, &cur);
    if (!rc)
        at = prefix.val;
    /* From the prefix, then past the last entry looked at (entries of other purposes stay):
     * no reliance on where a cursor lands after a delete. */
    while (!rc && (rc = kv_move(cur, how, &at, &key, NULL)) == STORE_OK) {
        how = KV_GT;
        if (!pair_has_prefix(&key, &prefix)) {
            rc = STORE_NOTFOUND; /* past the user's entries */
            break;
        }
        if (key.len != prefix.val.len + HASH_LEN) {
            rc = store_corrupt(DB_EMAIL_TOKENS_BY_USER, "", 0); /* holds a hash: not logged */
            break;
        }
        /* copied: the deletes below end the life of key */
        memcpy(last, key.data, key.len);
        at = (struct kv_val){last, key.len};
        rc = store_email_token_get(txn, last + prefix.val.len, &t);
        if (rc == STORE_NOTFOUND) { /* an entry without its record: drop it */
            rc = kv_del(txn, DB_EMAIL_TOKENS_BY_USER, at);
        } else if (!rc && strcmp(t.user_id, user_id) != 0) {
            rc = store_corrupt(DB_EMAIL_TOKENS_BY_USER, "", 0);
        } else if (!rc && (!purpose || strcmp(t.purpose, purpose) == 0)) {
            rc = token_remove(txn, &t, 1);
            if (!rc)
                count++;
        }
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    kv_cursor_close(cur);
    if (!rc && n)
        *n = count;
    return rc;
}

static int token_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    struct store_email_token t;
    int rc = len == HASH_LEN ? store_email_token_get(txn, key, &t) : STORE_NOTFOUND;
    return rc ? rc : token_remove(txn, &t, 0);
}

int store_email_tokens_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    return expiry_sweep(txn, DB_EMAIL_TOKENS_BY_EXP, now, token_drop, NULL, removed);
}
