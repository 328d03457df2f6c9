/* Authorization codes: SHA-256 of the code (32 bytes) -> {"client_id","redirect_uri","user_id",
 * "browser_session","scope","nonce","code_challenge","auth_time","expires_at","session_id"}.
 * Index, written in the transaction that writes the record:
 *   auth_codes_by_exp  be64(expires_at) || hash -> ""  (expiry.c; the sweep removes them) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define HASH_LEN STORE_REFRESH_HASH_LEN

static int code_valid(const struct store_auth_code *c)
{
    return c && id_valid(c->client_id) && str_fits_nonempty(c->redirect_uri, STORE_URI_MAX) &&
           id_valid(c->user_id) && id_valid(c->browser_session) &&
           str_fits(c->scope, STORE_SCOPE_MAX) && str_fits(c->nonce, STORE_NONCE_MAX) &&
           str_fits_nonempty(c->code_challenge, STORE_CHALLENGE_MAX) &&
           (c->session_id[0] == '\0' || id_valid(c->session_id)) && c->expires_at >= 0;
}

static int code_encode(const struct store_auth_code *c, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;
    const char *const names[] = {"client_id", "redirect_uri", "user_id",        "browser_session",
                                 "scope",     "nonce",        "code_challenge", "session_id"};
    const char *const values[] = {c->client_id,       c->redirect_uri, c->user_id,
                                  c->browser_session, c->scope,        c->nonce,
                                  c->code_challenge,  c->session_id};
    for (size_t i = 0; !rc && i < sizeof names / sizeof names[0]; i++)
        rc = codec_set_str(obj, names[i], values[i]);
    if (!rc)
        rc = codec_set_int(obj, "auth_time", c->auth_time);
    if (!rc)
        rc = codec_set_int(obj, "expires_at", c->expires_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int code_decode(const struct kv_val *key, const struct kv_val *val,
                       struct store_auth_code *out)
{
    struct store_auth_code *c = out;
    json_t *obj = NULL;
    int rc;
    struct {
        const char *name;
        char *dst;
        size_t cap;
    } fields[] = {
        {"client_id", c->client_id, sizeof c->client_id},
        {"redirect_uri", c->redirect_uri, sizeof c->redirect_uri},
        {"user_id", c->user_id, sizeof c->user_id},
        {"browser_session", c->browser_session, sizeof c->browser_session},
        {"scope", c->scope, sizeof c->scope},
        {"nonce", c->nonce, sizeof c->nonce},
        {"code_challenge", c->code_challenge, sizeof c->code_challenge},
        {"session_id", c->session_id, sizeof c->session_id},
    };
    memset(out, 0, sizeof *out);
    rc = hashed_load(key, val, c->hash, &obj);
    for (size_t i = 0; !rc && i < sizeof fields / sizeof fields[0]; i++)
        rc = codec_get_str(obj, fields[i].name, fields[i].dst, fields[i].cap);
    if (!rc)
        rc = codec_get_int(obj, "auth_time", &c->auth_time);
    if (!rc)
        rc = codec_get_int(obj, "expires_at", &c->expires_at);
    if (!rc && !code_valid(c))
        rc = STORE_ECORRUPT;
    return hashed_done(DB_AUTH_CODES, rc, obj, out, sizeof *out);
}

/* Writes the record; with insert, STORE_EXISTS when its hash is taken. */
static int code_put(struct store_txn *txn, const struct store_auth_code *c, int insert)
{
    struct kv_val key = {c->hash, HASH_LEN}, val;
    char *buf = NULL;
    int rc = code_encode(c, &buf, &val.len);
    if (!rc) {
        val.data = buf;
        rc = kv_write(txn, DB_AUTH_CODES, key, val, insert ? KV_INSERT : KV_UPDATE);
    }
    free(buf);
    return rc;
}

int store_code_insert(struct store_txn *txn, const struct store_auth_code *code)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!code_valid(code) || code->session_id[0])
        return STORE_EINVAL;
    rc = code_put(txn, code, 1);
    return rc ? rc : expiry_put(txn, DB_AUTH_CODES_BY_EXP, code->expires_at, code->hash, HASH_LEN);
}

int store_code_get(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                   struct store_auth_code *out)
{
    struct kv_val key, val;
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    int rc = hashed_get(txn, DB_AUTH_CODES, hash, &key, &val);
    return rc ? rc : code_decode(&key, &val, out);
}

int store_code_mark_used(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                         const char *session_id)
{
    struct store_auth_code c;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!hash || !id_valid(session_id))
        return STORE_EINVAL;
    rc = store_code_get(txn, hash, &c);
    if (rc)
        return rc;
    if (c.session_id[0])
        return STORE_EXISTS;
    memcpy(c.session_id, session_id, strlen(session_id) + 1);
    return code_put(txn, &c, 0);
}

static int code_drop(struct store_txn *txn, const void *key, size_t len, void *arg)
{
    return kv_del(txn, DB_AUTH_CODES, (struct kv_val){key, len});
}

int store_codes_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    return expiry_sweep(txn, DB_AUTH_CODES_BY_EXP, now, code_drop, NULL, removed);
}
