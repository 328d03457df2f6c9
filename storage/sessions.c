/* Sessions: id ->
 * {"user_id","client_id","amr","scope","created_at","last_used_at","idle_expires_at",
 * "absolute_expires_at","client_ip","user_agent","refresh_hash","browser","parent_id",
 * "device_id"}, the hash in base64; "browser" and "parent_id" came with schema 4 and read as
 * false and "" when absent, "device_id" with schema 7 and reads as "".
 * A browser session ends with the sessions that name it as parent. Indexes,
 * all written in the transaction that writes the record:
 *   sessions_by_user  "<user_id>/<session_id>" -> ""  (a user's sessions are a range)
 *   sessions_by_exp   be64(min(idle, absolute expiry)) || session id -> ""  (for the sweep)
 *   refresh           32-byte hash -> state byte (0 current, 1 superseded) || session id
 *   session_refresh   "<session_id>/" || 64 hex of a hash -> ""  (every hash a session issued,
 *                     current and superseded, so ending the session finds them all) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define AMR_MAX sizeof(((struct store_session *)0)->amr)
#define HASH_LEN STORE_REFRESH_HASH_LEN
#define EXP_KEY_MAX (8 + STORE_ID_MAX)
#define HASH_KEY_MAX (STORE_ID_MAX + 1 + 2 * HASH_LEN)

enum refresh_state { REFRESH_CURRENT = 0, REFRESH_SUPERSEDED = 1 };

struct exp_key {
    uint8_t buf[EXP_KEY_MAX];
    struct kv_val val;
};

struct hash_key {
    char buf[HASH_KEY_MAX];
    struct kv_val val;
};

static int session_valid(const struct store_session *s)
{
    return s && id_valid(s->id) && id_valid(s->user_id) && id_valid(s->client_id) &&
           str_fits_nonempty(s->amr, AMR_MAX) && str_fits(s->scope, STORE_SCOPE_MAX) &&
           str_fits(s->client_ip, STORE_IP_MAX) && str_fits(s->user_agent, STORE_UA_MAX) &&
           s->idle_expires_at >= 0 && s->absolute_expires_at >= 0 &&
           (s->parent_id[0] == '\0' || (id_valid(s->parent_id) && !s->browser)) &&
           str_fits(s->device_id, STORE_DEVICE_ID_MAX);
}

static int64_t session_expiry(const struct store_session *s)
{
    return s->idle_expires_at < s->absolute_expires_at ? s->idle_expires_at
                                                       : s->absolute_expires_at;
}

static void exp_key(uint64_t exp, const char *id, struct exp_key *k)
{
    size_t len = strlen(id);
    be64_put(k->buf, exp);
    memcpy(k->buf + 8, id, len);
    k->val.data = k->buf;
    k->val.len = 8 + len;
}

static void hex_put(const uint8_t *in, size_t len, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* hex_put() undone: 2 * len digits into len bytes; -1 when one is not a lower-case digit. */
static int hex_get(const char *in, size_t len, uint8_t *out)
{
    for (size_t i = 0; i < len; i++) {
        int hi = hex_value(in[2 * i]), lo = hex_value(in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

/* "<id>/" || hex(hash); with hash NULL the prefix "<id>/" of all the session's hashes. */
static void hash_key(const char *id, const uint8_t *hash, struct hash_key *k)
{
    size_t len = strlen(id);
    memcpy(k->buf, id, len);
    k->buf[len++] = '/';
    if (hash) {
        hex_put(hash, HASH_LEN, k->buf + len);
        len += 2 * HASH_LEN;
    }
    k->val.data = k->buf;
    k->val.len = len;
}

static int session_encode(const struct store_session *s, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "user_id", s->user_id);
    if (!rc)
        rc = codec_set_str(obj, "client_id", s->client_id);
    if (!rc)
        rc = codec_set_str(obj, "amr", s->amr);
    if (!rc)
        rc = codec_set_str(obj, "scope", s->scope);
    if (!rc)
        rc = codec_set_int(obj, "created_at", s->created_at);
    if (!rc)
        rc = codec_set_int(obj, "last_used_at", s->last_used_at);
    if (!rc)
        rc = codec_set_int(obj, "idle_expires_at", s->idle_expires_at);
    if (!rc)
        rc = codec_set_int(obj, "absolute_expires_at", s->absolute_expires_at);
    if (!rc)
        rc = codec_set_str(obj, "client_ip", s->client_ip);
    if (!rc)
        rc = codec_set_str(obj, "user_agent", s->user_agent);
    if (!rc)
        rc = codec_set_b64(obj, "refresh_hash", s->refresh_hash, HASH_LEN);
    if (!rc)
        rc = codec_set_bool(obj, "browser", s->browser);
    if (!rc)
        rc = codec_set_str(obj, "parent_id", s->parent_id);
    if (!rc && s->device_id[0])
        rc = codec_set_str(obj, "device_id", s->device_id);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int session_decode(const struct kv_val *key, const struct kv_val *val,
                          struct store_session *out)
{
    struct store_session s = {0};
    json_t *obj = NULL;
    uint8_t *hash = NULL;
    size_t hash_len = 0;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(s.id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "user_id", s.user_id, sizeof s.user_id);
    if (!rc)
        rc = codec_get_str(obj, "client_id", s.client_id, sizeof s.client_id);
    if (!rc)
        rc = codec_get_str(obj, "amr", s.amr, sizeof s.amr);
    if (!rc)
        rc = codec_get_str(obj, "scope", s.scope, sizeof s.scope);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &s.created_at);
    if (!rc)
        rc = codec_get_int(obj, "last_used_at", &s.last_used_at);
    if (!rc)
        rc = codec_get_int(obj, "idle_expires_at", &s.idle_expires_at);
    if (!rc)
        rc = codec_get_int(obj, "absolute_expires_at", &s.absolute_expires_at);
    if (!rc)
        rc = codec_get_str(obj, "client_ip", s.client_ip, sizeof s.client_ip);
    if (!rc)
        rc = codec_get_str(obj, "user_agent", s.user_agent, sizeof s.user_agent);
    if (!rc)
        rc = codec_get_b64(obj, "refresh_hash", HASH_LEN, &hash, &hash_len);
    if (!rc)
        rc = codec_get_bool_opt(obj, "browser", &s.browser);
    if (!rc)
        rc = codec_get_str_opt(obj, "parent_id", s.parent_id, sizeof s.parent_id);
    if (!rc)
        rc = codec_get_str_opt(obj, "device_id", s.device_id, sizeof s.device_id);
    if (rc)
        goto out;
    if (hash_len != HASH_LEN || !session_valid(&s)) {
        rc = STORE_ECORRUPT;
        goto out;
    }
    memcpy(s.refresh_hash, hash, HASH_LEN);
    *out = s;
out:
    free(hash);
    json_decref(obj);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_SESSIONS, key->data, key->len);
    return rc;
}

static int session_read(struct store_txn *txn, const char *id, struct store_session *out)
{
    struct kv_val key = kv_str(id), val;
    int rc = kv_get(txn, DB_SESSIONS, key, &val);
    return rc ? rc : session_decode(&key, &val, out);
}

/* how: KV_UPSERT for a new session, KV_UPDATE for one read in this transaction (kv.h). */
static int session_put(struct store_txn *txn, const struct store_session *s, enum kv_put how)
{
    struct kv_val val;
    char *buf = NULL;
    int rc = session_encode(s, &buf, &val.len);

    if (rc)
        goto out;
    val.data = buf;
    rc = kv_write(txn, DB_SESSIONS, kv_str(s->id), val, how);
out:
    free(buf);
    return rc;
}

/* An index entry with an empty value. */
static int index_put(struct store_txn *txn, enum store_db db, const struct kv_val *key)
{
    return kv_put(txn, db, *key, (struct kv_val){"", 0});
}

/* Deletes an index entry; one already gone is fine. */
static int index_del(struct store_txn *txn, enum store_db db, const struct kv_val *key)
{
    int rc = kv_del(txn, db, *key);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* The session id and state a refresh hash maps to. */
static int refresh_get(struct store_txn *txn, const uint8_t hash[HASH_LEN],
                       char session_id[STORE_ID_MAX], int *state)
{
    struct kv_val val;
    const uint8_t *v;
    int rc = kv_get(txn, DB_REFRESH, (struct kv_val){hash, HASH_LEN}, &val);
    if (rc)
        return rc;
    v = val.data;
    /* The key is a hash of a token: not logged. */
    if (val.len < 2 || val.len - 1 >= STORE_ID_MAX ||
        (v[0] != REFRESH_CURRENT && v[0] != REFRESH_SUPERSEDED) || memchr(v + 1, '\0', val.len - 1))
        return store_corrupt(DB_REFRESH, "", 0);
    *state = v[0];
    memcpy(session_id, v + 1, val.len - 1);
    session_id[val.len - 1] = '\0';
    return STORE_OK;
}

static int refresh_put(struct store_txn *txn, const uint8_t hash[HASH_LEN], int state,
                       const char *session_id)
{
    uint8_t buf[1 + STORE_ID_MAX];
    size_t len = strlen(session_id);

    buf[0] = (uint8_t)state;
    memcpy(buf + 1, session_id, len);
    return kv_put(txn, DB_REFRESH, (struct kv_val){hash, HASH_LEN}, (struct kv_val){buf, 1 + len});
}

/* Deletes a refresh hash when it belongs to session_id. */
static int refresh_del(struct store_txn *txn, const uint8_t hash[HASH_LEN], const char *session_id)
{
    char owner[STORE_ID_MAX];
    int state, rc = refresh_get(txn, hash, owner, &state);

    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc || strcmp(owner, session_id) != 0)
        return rc;
    return kv_del(txn, DB_REFRESH, (struct kv_val){hash, HASH_LEN});
}

/* Adds hash to the session's hashes, in state. */
static int session_hash_add(struct store_txn *txn, const char *session_id,
                            const uint8_t hash[HASH_LEN], int state)
{
    struct hash_key hk;
    int rc = refresh_put(txn, hash, state, session_id);
    if (rc)
        return rc;
    hash_key(session_id, hash, &hk);
    return index_put(txn, DB_SESSION_REFRESH, &hk.val);
}

/* STORE_EXISTS when hash is already issued (to any session). */
static int hash_free(struct store_txn *txn, const uint8_t hash[HASH_LEN])
{
    char owner[STORE_ID_MAX];
    int state, rc = refresh_get(txn, hash, owner, &state);
    if (rc == STORE_OK)
        return STORE_EXISTS;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Removes every refresh hash the session issued. */
static int session_hashes_delete(struct store_txn *txn, const char *session_id)
{
    struct hash_key prefix;
    uint8_t hash[HASH_LEN];
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    int rc;

    hash_key(session_id, NULL, &prefix);
    rc = kv_cursor_open(txn, DB_SESSION_REFRESH, &cur);
    if (rc)
        return rc;
    for (;;) {
        /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
        int started = 0;
        rc = kv_prefix_next(cur, prefix.val, &started, &key, NULL);
        if (rc)
            break;
        if (key.len != prefix.val.len + 2 * HASH_LEN ||
            hex_get((const char *)key.data + prefix.val.len, HASH_LEN, hash)) {
            rc = store_corrupt(DB_SESSION_REFRESH, key.data, key.len);
            goto out;
        }
        /* hash is decoded: the deletes end the life of key */
        rc = kv_cursor_del(cur);
        if (!rc)
            rc = refresh_del(txn, hash, session_id);
        if (rc)
            goto out;
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    return rc;
}

/* Ends a session read into s: its hashes, index entries and record. */
static int session_remove(struct store_txn *txn, const struct store_session *s)
{
    struct pair_key uk;
    struct exp_key ek;
    int rc = session_hashes_delete(txn, s->id);

    if (!rc) /* issued hashes are all in session_refresh; this one only in case */
        rc = refresh_del(txn, s->refresh_hash, s->id);
    if (!rc)
        rc = pair_key(s->user_id, s->id, &uk);
    if (!rc)
        rc = index_del(txn, DB_SESSIONS_BY_USER, &uk.val);
    if (rc)
        return rc;
    exp_key((uint64_t)session_expiry(s), s->id, &ek);
    rc = index_del(txn, DB_SESSIONS_BY_EXP, &ek.val);
    if (rc)
        return rc;
    return kv_del(txn, DB_SESSIONS, kv_str(s->id));
}

/* session_remove(), and for a browser session the sessions that name it as parent. */
static int session_remove_tree(struct store_txn *txn, const struct store_session *s)
{
    struct store_session *all = NULL;
    size_t n = 0;
    int rc = session_remove(txn, s);
    if (rc || !s->browser)
        return rc;
    /* the children are found by a walk: collide with a code exchange adding one */
    rc = store_user_touch(txn, s->user_id);
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
    if (!rc)
        rc = store_session_list(txn, s->user_id, &all, &n);
    for (size_t i = 0; !rc && i < n; i++)
        if (strcmp(all[i].parent_id, s->id) == 0)
            rc = session_remove(txn, &all[i]);
    free(all);
    return rc;
}

int store_session_insert(struct store_txn *txn, const struct store_session *s)
{
    struct store_session old;
    struct pair_key uk;
    struct exp_key ek;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!session_valid(s))
        return STORE_EINVAL;
    rc = pair_key(s->user_id, s->id, &uk);
    if (!rc) /* against ending all the user's sessions at once (store_session_delete_user) */
        rc = store_user_touch(txn, s->user_id);
    if (rc)
        return rc;
    /* Every check before any other write: a refused insert leaves the transaction as it was. */
    rc = session_read(txn, s->id, &old);
    if (rc == STORE_OK)
        return STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        return rc;
    rc = hash_free(txn, s->refresh_hash);
    if (rc)
        return rc;
    rc = session_put(txn, s, KV_UPSERT);
    if (!rc)
        rc = index_put(txn, DB_SESSIONS_BY_USER, &uk.val);
    if (!rc)
        rc = session_hash_add(txn, s->id, s->refresh_hash, REFRESH_CURRENT);
    if (rc)
        return rc;
    exp_key((uint64_t)session_expiry(s), s->id, &ek);
    return index_put(txn, DB_SESSIONS_BY_EXP, &ek.val);
}

int store_session_get(struct store_txn *txn, const char *id, struct store_session *out)
{
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    return session_read(txn, id, out);
}

static int session_older(const void *a, const void *b)
{
    const struct store_session *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

int store_session_list(struct store_txn *txn, const char *user_id, struct store_session **items,
                       size_t *n)
{
    struct store_session *list = NULL;
    struct pair_key prefix;
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    size_t count = 0, cap = 0;
    int rc, started = 0;

    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn)
        return STORE_EINVAL;
    rc = pair_key(user_id, NULL, &prefix);
    if (rc)
        return rc;
    rc = kv_cursor_open(txn, DB_SESSIONS_BY_USER, &cur);
    if (rc)
        goto out;
    /* Only reads inside the walk: key stays valid across the gets of the records. */
    while ((rc = kv_prefix_next(cur, prefix.val, &started, &key, NULL)) == STORE_OK) {
        char owner[STORE_ID_MAX], id[STORE_ID_MAX];
        if (pair_split(key.data, key.len, owner, id)) {
            rc = store_corrupt(DB_SESSIONS_BY_USER, key.data, key.len);
            goto out;
        }
        rc = list_room(&list, &cap, count, sizeof *list, 0);
        if (!rc)
            rc = session_read(txn, id, &list[count]);
        if (rc == STORE_NOTFOUND) /* an index entry without its record */
            rc = store_corrupt(DB_SESSIONS_BY_USER, key.data, key.len);
        if (rc)
            goto out;
        count++;
    }
    if (rc != STORE_NOTFOUND)
        goto out;
    rc = STORE_OK;
    if (count > 1)
        qsort(list, count, sizeof *list, session_older);
out:
    kv_cursor_close(cur);
    if (rc || count == 0) {
        free(list);
    } else {
        *items = list;
        *n = count;
    }
    return rc;
}

/* A use of s (as stored): last_used_at and the idle expiry rewritten, with its expiry entry. */
static int session_renew(struct store_txn *txn, struct store_session *s, int64_t now,
                         int64_t idle_expires_at)
{
    struct exp_key ek;
    int rc;
    exp_key((uint64_t)session_expiry(s), s->id, &ek);
    rc = index_del(txn, DB_SESSIONS_BY_EXP, &ek.val);
    if (rc)
        return rc;
    s->last_used_at = now;
    s->idle_expires_at = idle_expires_at;
    rc = session_put(txn, s, KV_UPDATE);
    if (rc)
        return rc;
    exp_key((uint64_t)session_expiry(s), s->id, &ek);
    return index_put(txn, DB_SESSIONS_BY_EXP, &ek.val);
}

int store_session_rotate(struct store_txn *txn, const char *id,
                         const uint8_t new_hash[STORE_REFRESH_HASH_LEN], int64_t now,
                         int64_t idle_expires_at)
{
    struct store_session s;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id) || !new_hash || idle_expires_at < 0)
        return STORE_EINVAL;
    rc = session_read(txn, id, &s);
    if (!rc)
        rc = hash_free(txn, new_hash);
    /* the old hash stays, superseded, so presenting it again is seen as reuse */
    if (!rc)
        rc = session_hash_add(txn, s.id, s.refresh_hash, REFRESH_SUPERSEDED);
    if (!rc)
        rc = session_hash_add(txn, s.id, new_hash, REFRESH_CURRENT);
    if (rc)
        return rc;
    memcpy(s.refresh_hash, new_hash, HASH_LEN);
    return session_renew(txn, &s, now, idle_expires_at);
}

int store_session_touch(struct store_txn *txn, const char *id, int64_t now, int64_t idle_expires_at)
{
    struct store_session s;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id) || idle_expires_at < 0)
        return STORE_EINVAL;
    rc = session_read(txn, id, &s);
    return rc ? rc : session_renew(txn, &s, now, idle_expires_at);
}

int store_session_find_refresh(struct store_txn *txn, const uint8_t hash[STORE_REFRESH_HASH_LEN],
                               char session_id[STORE_ID_MAX], int *superseded)
{
    int state = 0, rc;

    if (!session_id || !superseded)
        return STORE_EINVAL;
    session_id[0] = '\0';
    *superseded = 0;
    if (!txn || !hash)
        return STORE_EINVAL;
    rc = refresh_get(txn, hash, session_id, &state);
    if (rc) {
        session_id[0] = '\0';
        return rc;
    }
    *superseded = state == REFRESH_SUPERSEDED;
    return STORE_OK;
}

int store_session_delete(struct store_txn *txn, const char *id)
{
    struct store_session s;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = session_read(txn, id, &s);
    if (rc)
        return rc;
    return session_remove_tree(txn, &s);
}

int store_session_reparent(struct store_txn *txn, const char *user_id, const char *from,
                           const char *to)
{
    struct store_session *all = NULL, parent;
    size_t n = 0;
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!id_valid(from) || !id_valid(to))
        return STORE_EINVAL;
    rc = session_read(txn, to, &parent);
    if (rc == STORE_OK && (!parent.browser || strcmp(parent.user_id, user_id) != 0))
        rc = STORE_EINVAL;
    if (!rc) /* the children are found by a walk: collide with whatever adds or ends one */
        rc = store_user_touch(txn, user_id);
    if (!rc)
        rc = store_session_list(txn, user_id, &all, &n);
    for (size_t i = 0; !rc && i < n; i++) {
        if (strcmp(all[i].parent_id, from) != 0)
            continue;
        memcpy(all[i].parent_id, to, strlen(to) + 1);
        rc = session_put(txn, &all[i], KV_UPDATE);
    }
    free(all);
    return rc;
}

/* Moves cur to the first of the user's sessions (prefix: "<user_id>/") other than keep_key
 * (NULL: none), as kv_prefix_next() answers. */
static int first_other(struct kv_cursor *cur, const struct pair_key *prefix,
                       const struct pair_key *keep_key, struct kv_val *key)
{
    int started = 0;
    int rc = kv_prefix_next(cur, prefix->val, &started, key, NULL);
    if (rc == STORE_OK && keep_key && key->len == keep_key->val.len &&
        memcmp(key->data, keep_key->val.data, key->len) == 0)
        rc = kv_prefix_next(cur, prefix->val, &started, key, NULL);
    return rc;
}

int store_session_delete_user(struct store_txn *txn, const char *user_id, const char *keep,
                              size_t *n)
{
    struct store_session s;
    struct pair_key prefix, keep_key;
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    size_t count = 0;
    int rc;

    if (n)
        *n = 0;
    rc = store_txn_writable(txn);
    if (!rc)
        rc = pair_key(user_id, NULL, &prefix);
    if (!rc && keep)
        rc = pair_key(user_id, keep, &keep_key);
    /* the sessions are found by a walk: collide with a login adding one meanwhile (the user may
     * already be gone in this transaction: store_user_delete()) */
    if (!rc && (rc = store_user_touch(txn, user_id)) == STORE_NOTFOUND)
        rc = STORE_OK;
    if (rc)
        return rc;
    rc = kv_cursor_open(txn, DB_SESSIONS_BY_USER, &cur);
    if (rc)
        return rc;
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    while ((rc = first_other(cur, &prefix, keep ? &keep_key : NULL, &key)) == STORE_OK) {
        char owner[STORE_ID_MAX], id[STORE_ID_MAX];
        /* copied out of key, which the first write below ends */
        if (pair_split(key.data, key.len, owner, id)) {
            rc = store_corrupt(DB_SESSIONS_BY_USER, key.data, key.len);
            goto out;
        }
        rc = session_read(txn, id, &s);
        if (rc == STORE_NOTFOUND) {  /* an index entry without its record: drop it */
            rc = kv_cursor_del(cur); /* a get does not move the cursor */
            if (rc)
                goto out;
            continue;
        }
        if (!rc)
            rc = session_remove(txn, &s);
        if (rc)
            goto out;
        count++;
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    if (!rc && n)
        *n = count;
    return rc;
}

int store_sessions_sweep(struct store_txn *txn, int64_t now, size_t *removed)
{
    struct store_session s;
    struct exp_key ek;
    struct kv_cursor *cur = NULL;
    struct kv_val index;
    char id[STORE_ID_MAX];
    int rc;

    if (now < 0)
        return STORE_OK;
    rc = kv_cursor_open(txn, DB_SESSIONS_BY_EXP, &cur);
    if (rc)
        return rc;
    /* Always take the first (earliest) entry: no reliance on where a cursor lands after a
     * delete. */
    while ((rc = kv_move(cur, KV_FIRST, NULL, &index, NULL)) == STORE_OK) {
        uint64_t exp;
        size_t len;
        if (index.len <= 8 || index.len >= EXP_KEY_MAX) {
            rc = store_corrupt(DB_SESSIONS_BY_EXP, "", 0);
            goto out;
        }
        exp = be64_get(index.data);
        if (exp > (uint64_t)now)
            break;
        /* copied: the deletes below end the life of what index points to */
        len = index.len - 8;
        memcpy(id, (const uint8_t *)index.data + 8, len);
        id[len] = '\0';
        if (strlen(id) != len) {
            rc = store_corrupt(DB_SESSIONS_BY_EXP, "", 0);
            goto out;
        }
        rc = session_read(txn, id, &s);
        if (rc == STORE_OK && (uint64_t)session_expiry(&s) == exp) {
            rc = session_remove_tree(txn, &s); /* removes this index entry too */
            if (rc)
                goto out;
            (*removed)++;
            continue;
        }
        if (rc && rc != STORE_NOTFOUND)
            goto out;
        /* an entry of a session that is gone or expires at another time */
        exp_key(exp, id, &ek);
        rc = index_del(txn, DB_SESSIONS_BY_EXP, &ek.val);
        if (rc)
            goto out;
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    return rc;
}
