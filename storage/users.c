/* Users: id -> {"email","email_key"?,"name","status","anonymous","created_at","updated_at",
 * "metadata","roles"}, metadata kept as a JSON object inside the record. The id is the key only.
 * Email index: the email's key -> user id. server/ computes the key (NFKC_Casefold, which storage
 * cannot: it uses no Unicode library) and it is kept in the record, so the entry can be moved
 * later. A record without one (made before the key was kept, or with an ASCII email whose key is
 * just its lower case) is indexed under its email with ASCII letters lower-cased, as always, so
 * "Alice@X.com" and "alice@x.com" are one email; an anonymous user's "" is not indexed.
 * "email_verified" (a bool after "anonymous") came later: a record without it reads as false. */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

void store_user_clear(struct store_user *u)
{
    if (!u)
        return;
    free(u->metadata);
    free(u->roles);
    memset(u, 0, sizeof *u);
}

static int user_valid(const struct store_user *u)
{
    return u && id_valid(u->id) && str_fits(u->email, STORE_EMAIL_MAX) &&
           str_fits(u->email_key, STORE_EMAIL_MAX) && (u->email[0] || !u->email_key[0]) &&
           str_fits(u->name, STORE_NAME_MAX) &&
           (u->status == STORE_USER_ACTIVE || u->status == STORE_USER_DISABLED) &&
           (u->anonymous == 0 || u->anonymous == 1) &&
           (u->email_verified == 0 || u->email_verified == 1) && roles_valid(u->roles, u->nroles);
}

/* The metadata text parsed into a new object reference; STORE_EINVAL unless it is one JSON
 * object of at most STORE_METADATA_MAX bytes, as given and as stored (compact). NULL = {}. */
static int metadata_parse(const char *text, json_t **out)
{
    json_error_t err;
    json_t *obj;
    char *compact;
    size_t len;

    if (!text) {
        *out = json_object();
        return *out ? STORE_OK : STORE_ENOMEM;
    }
    if (strnlen(text, STORE_METADATA_MAX + 1) > STORE_METADATA_MAX)
        return STORE_EINVAL;
    obj = json_loads(text, JSON_REJECT_DUPLICATES, &err);
    if (!json_is_object(obj)) {
        json_decref(obj);
        return STORE_EINVAL;
    }
    /* What a getter returns is the compact form; it must fit the limit too ("1e2" grows). */
    compact = json_dumps(obj, JSON_COMPACT);
    len = compact ? strlen(compact) : 0;
    free(compact);
    if (!compact || len > STORE_METADATA_MAX) {
        json_decref(obj);
        return compact ? STORE_EINVAL : STORE_ENOMEM;
    }
    *out = obj;
    return STORE_OK;
}

static int user_encode(const struct store_user *u, char **buf, size_t *len)
{
    json_t *obj = json_object(), *metadata = NULL;
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = metadata_parse(u->metadata, &metadata);
    if (!rc)
        rc = codec_set_str(obj, "email", u->email);
    if (!rc && u->email_key[0]) /* absent = the lower-cased email, as in older records */
        rc = codec_set_str(obj, "email_key", u->email_key);
    if (!rc)
        rc = codec_set_str(obj, "name", u->name);
    if (!rc)
        rc = codec_set_int(obj, "status", u->status);
    if (!rc)
        rc = codec_set_bool(obj, "anonymous", u->anonymous);
    if (!rc)
        rc = codec_set_bool(obj, "email_verified", u->email_verified);
    if (!rc)
        rc = codec_set_int(obj, "created_at", u->created_at);
    if (!rc)
        rc = codec_set_int(obj, "updated_at", u->updated_at);
    if (!rc) {
        rc = json_object_set_new(obj, "metadata", metadata) ? STORE_ENOMEM : STORE_OK;
        metadata = NULL; /* set_new took it, even on failure */
    }
    if (!rc)
        rc = codec_set_roles(obj, "roles", u->roles, u->nroles);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(metadata);
    json_decref(obj);
    return rc;
}

static int user_decode(const struct kv_val *key, const struct kv_val *val, struct store_user *out)
{
    struct store_user u = {0};
    json_t *obj = NULL, *metadata;
    int64_t status = -1;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(u.id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "email", u.email, sizeof u.email);
    if (!rc && json_object_get(obj, "email_key"))
        rc = codec_get_str(obj, "email_key", u.email_key, sizeof u.email_key);
    if (!rc)
        rc = codec_get_str(obj, "name", u.name, sizeof u.name);
    if (!rc)
        rc = codec_get_int(obj, "status", &status);
    if (!rc)
        rc = codec_get_bool(obj, "anonymous", &u.anonymous);
    if (!rc)
        rc = codec_get_bool_opt(obj, "email_verified", &u.email_verified);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &u.created_at);
    if (!rc)
        rc = codec_get_int(obj, "updated_at", &u.updated_at);
    if (!rc && status != STORE_USER_ACTIVE && status != STORE_USER_DISABLED)
        rc = STORE_ECORRUPT;
    if (!rc)
        rc = codec_get_roles(obj, "roles", &u.roles, &u.nroles);
    if (rc)
        goto out;
    u.status = (int)status;
    metadata = json_object_get(obj, "metadata");
    if (!json_is_object(metadata)) {
        rc = STORE_ECORRUPT;
        goto out;
    }
    u.metadata = json_dumps(metadata, JSON_COMPACT);
    if (!u.metadata) {
        rc = STORE_ENOMEM;
        goto out;
    }
    if (strlen(u.metadata) > STORE_METADATA_MAX) {
        rc = STORE_ECORRUPT;
        goto out;
    }
    *out = u;
    u.roles = NULL;
    u.metadata = NULL;
out:
    json_decref(obj);
    free(u.roles);
    free(u.metadata);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_USERS, key->data, key->len);
    return rc;
}

/* The index key of email: ASCII letters lower-cased, other bytes as they are. */
static struct kv_val email_key(const char *email, char buf[STORE_EMAIL_MAX])
{
    size_t i;
    for (i = 0; email[i]; i++)
        buf[i] = email[i] >= 'A' && email[i] <= 'Z' ? (char)(email[i] - 'A' + 'a') : email[i];
    buf[i] = '\0';
    return (struct kv_val){buf, i};
}

/* The index key of a user's email: its email_key when server/ gave one, else email_key(). An
 * email_key is already folded, so email_key() leaves it as it is. Empty for an anonymous user,
 * who is not indexed. */
static struct kv_val user_email_key(const struct store_user *u, char buf[STORE_EMAIL_MAX])
{
    return email_key(u->email_key[0] ? u->email_key : u->email, buf);
}

/* The id the email index holds for key (STORE_NOTFOUND when none). */
static int email_owner(struct store_txn *txn, struct kv_val key, char user_id[STORE_ID_MAX])
{
    struct kv_val val;
    int rc = kv_get(txn, DB_USERS_BY_EMAIL, key, &val);
    if (rc)
        return rc;
    if (val.len == 0 || val.len >= STORE_ID_MAX)
        return store_corrupt(DB_USERS_BY_EMAIL, key.data, key.len);
    memcpy(user_id, val.data, val.len);
    user_id[val.len] = '\0';
    return STORE_OK;
}

/* STORE_OK when the email index has no entry for key or its entry names self (NULL: nobody);
 * STORE_EXISTS when the email belongs to another user. */
static int email_free(struct store_txn *txn, struct kv_val key, const char *self)
{
    char owner[STORE_ID_MAX];
    int rc = email_owner(txn, key, owner);

    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc == STORE_OK && (!self || strcmp(owner, self) != 0))
        return STORE_EXISTS;
    return rc;
}

static int email_put(struct store_txn *txn, struct kv_val key, const char *user_id)
{
    return kv_put(txn, DB_USERS_BY_EMAIL, key, kv_str(user_id));
}

/* Removes the index entry of key when it names user_id (an entry of another user stays). */
static int email_del(struct store_txn *txn, struct kv_val key, const char *user_id)
{
    char owner[STORE_ID_MAX];
    int rc = email_owner(txn, key, owner);

    if (rc == STORE_NOTFOUND)
        return STORE_OK;
    if (rc || strcmp(owner, user_id) != 0)
        return rc;
    return kv_del(txn, DB_USERS_BY_EMAIL, key);
}

/* Reads and decodes the user of id into *out (clear it with store_user_clear()). */
static int user_read(struct store_txn *txn, const char *id, struct store_user *out)
{
    struct kv_val key = kv_str(id), val;
    int rc = kv_get(txn, DB_USERS, key, &val);
    return rc ? rc : user_decode(&key, &val, out);
}

static int user_put(struct store_txn *txn, const char *id, const char *buf, size_t len,
                    enum kv_put how)
{
    return kv_write(txn, DB_USERS, kv_str(id), (struct kv_val){buf, len}, how);
}

int store_user_exists(struct store_txn *txn, const char *user_id)
{
    struct kv_val val;
    return kv_get(txn, DB_USERS, kv_str(user_id), &val);
}

int store_user_touch(struct store_txn *txn, const char *user_id)
{
    return kv_touch(txn, DB_USERS, kv_str(user_id));
}

int store_user_insert(struct store_txn *txn, const struct store_user *u)
{
    char email_buf[STORE_EMAIL_MAX];
    struct kv_val email;
    char *buf = NULL;
    size_t len;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!user_valid(u))
        return STORE_EINVAL;
    rc = user_encode(u, &buf, &len);
    if (rc)
        goto out;
    /* Both checks before any write: a refused insert leaves the transaction as it was. */
    rc = store_user_exists(txn, u->id);
    if (rc == STORE_OK)
        rc = STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        goto out;
    email = user_email_key(u, email_buf);
    rc = email.len ? email_free(txn, email, NULL) : STORE_OK;
    if (!rc && email.len)
        rc = email_put(txn, email, u->id);
    if (!rc)
        rc = user_put(txn, u->id, buf, len, KV_UPSERT);
out:
    free(buf);
    return rc;
}

int store_user_update(struct store_txn *txn, const struct store_user *u)
{
    struct store_user old = {0};
    char old_buf[STORE_EMAIL_MAX], new_buf[STORE_EMAIL_MAX];
    struct kv_val old_email, new_email;
    char *buf = NULL;
    size_t len;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!user_valid(u))
        return STORE_EINVAL;
    rc = user_encode(u, &buf, &len);
    if (!rc)
        rc = user_read(txn, u->id, &old);
    if (rc)
        goto out;
    old_email = user_email_key(&old, old_buf);
    new_email = user_email_key(u, new_buf);
    /* An email changed only in case keeps its index entry; the record takes the new spelling. */
    if (strcmp(old_buf, new_buf) != 0) {
        /* checked before any write: a refused update leaves the transaction as it was */
        if (new_email.len)
            rc = email_free(txn, new_email, u->id);
        if (!rc && old_email.len)
            rc = email_del(txn, old_email, u->id);
        if (!rc && new_email.len)
            rc = email_put(txn, new_email, u->id);
        if (rc)
            goto out;
    }
    rc = user_put(txn, u->id, buf, len, KV_UPDATE);
out:
    store_user_clear(&old);
    free(buf);
    return rc;
}

int store_user_get(struct store_txn *txn, const char *id, struct store_user *out)
{
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    return user_read(txn, id, out);
}

int store_user_find_email(struct store_txn *txn, const char *email, char user_id[STORE_ID_MAX])
{
    char buf[STORE_EMAIL_MAX];

    if (!user_id)
        return STORE_EINVAL;
    user_id[0] = '\0';
    if (!txn || !str_fits_nonempty(email, STORE_EMAIL_MAX))
        return STORE_EINVAL;
    return email_owner(txn, email_key(email, buf), user_id);
}

int store_user_delete(struct store_txn *txn, const char *id)
{
    struct store_user u = {0};
    char email_buf[STORE_EMAIL_MAX];
    struct kv_val email;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = user_read(txn, id, &u); /* for its email */
    if (rc)
        goto out;
    email = user_email_key(&u, email_buf);
    if (email.len)
        rc = email_del(txn, email, id);
    if (!rc)
        rc = store_identities_delete_all(txn, id);
    if (!rc)
        rc = store_session_delete_user(txn, id, NULL, NULL);
    if (!rc)
        rc = store_user_teams_delete_all(txn, id);
    if (!rc) /* its mailed links: they name the address, and the user is gone */
        rc = store_email_tokens_delete_user(txn, id, NULL, NULL);
    if (!rc)
        rc = store_api_keys_delete_all(txn, id);
    if (!rc)
        rc = kv_del(txn, DB_USERS, kv_str(id));
out:
    store_user_clear(&u);
    return rc;
}

static int user_decode_any(const struct kv_val *key, const struct kv_val *val, void *out)
{
    return user_decode(key, val, out);
}

static void user_clear_any(void *item)
{
    store_user_clear(item);
}

int store_user_list(struct store_txn *txn, const char *after, size_t limit,
                    struct store_user **items, size_t *n)
{
    static const struct store_list_kind kind = {sizeof(**items), user_decode_any, user_clear_any,
                                                "list users"};
    void *list = NULL;
    if (!items)
        return STORE_EINVAL;
    int rc = store_list_records(txn, DB_USERS, after, limit, &kind, &list, n);
    *items = list;
    return rc;
}

void store_user_list_free(struct store_user *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        store_user_clear(&items[i]);
    free(items);
}

/* 1 when email starts with prefix, ASCII letters compared ignoring case. */
static int email_has_prefix(const char *email, const char *prefix)
{
    for (size_t i = 0; prefix[i]; i++) {
        char a = email[i], b = prefix[i];
        if (a >= 'A' && a <= 'Z')
            a = (char)(a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char)(b - 'A' + 'a');
        if (a != b) /* also where email ends first */
            return 0;
    }
    return 1;
}

static int user_matches(const struct store_user *u, const struct store_user_filter *filter)
{
    if (!filter)
        return 1;
    if (filter->status != -1 && u->status != filter->status)
        return 0;
    return !filter->email_prefix || email_has_prefix(u->email, filter->email_prefix);
}

int store_user_search(struct store_txn *txn, const struct store_user_filter *filter,
                      const char *after, size_t limit, size_t scan_max, struct store_user **items,
                      size_t *n, char scanned_to[STORE_ID_MAX])
{
    struct store_user *list = NULL, u = {0};
    char last[STORE_ID_MAX] = "";
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    size_t count = 0, scanned = 0, cap = 0, room_max;
    int rc;

    if (scanned_to)
        scanned_to[0] = '\0';
    if (!items || !n)
        return STORE_EINVAL;
    *items = NULL;
    *n = 0;
    if (!txn || (after && !str_fits(after, STORE_ID_MAX)))
        return STORE_EINVAL;
    if (filter && ((filter->email_prefix && !str_fits(filter->email_prefix, STORE_EMAIL_MAX)) ||
                   (filter->status != -1 && filter->status != STORE_USER_ACTIVE &&
                    filter->status != STORE_USER_DISABLED)))
        return STORE_EINVAL;
    if (limit == 0)
        return STORE_OK;
    /* The list grows with the matches, never past what may be returned or looked at. */
    room_max = scan_max && scan_max < limit ? scan_max : limit;
    rc = kv_cursor_open(txn, DB_USERS, &cur);
    if (rc)
        goto out;
    rc = cursor_first_after(cur, after, &key, &val);
    while (rc == STORE_OK) {
        rc = user_decode(&key, &val, &u);
        if (rc)
            goto out;
        scanned++;
        memcpy(last, u.id, sizeof last);
        if (user_matches(&u, filter)) {
            rc = list_room(&list, &cap, count, sizeof *list, room_max);
            if (rc)
                goto out;
            list[count++] = u;
            memset(&u, 0, sizeof u); /* the list owns it now */
        } else {
            store_user_clear(&u);
        }
        if (count == limit || (scan_max && scanned == scan_max))
            break;
        rc = kv_move(cur, KV_NEXT, NULL, &key, &val);
    }
    if (rc == STORE_NOTFOUND)
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    store_user_clear(&u);
    if (rc) {
        store_user_list_free(list, count);
    } else if (count == 0) {
        free(list);
    } else {
        *items = list;
        *n = count;
    }
    if (!rc && scanned_to)
        memcpy(scanned_to, last, STORE_ID_MAX);
    return rc;
}
