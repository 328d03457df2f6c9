/* Teams: id -> {"name","scope","description","created_at","updated_at","roles"}; the id is the
 * key only. Indexes, all written in the transaction that writes the record:
 *   team_names    SHA-256(scope || "\0" || lower(name)) -> id, lower() turning ASCII letters
 *                 only to lower case: a name is unique within its scope ignoring ASCII case, the
 *                 record keeps its spelling. Hashed because scope and name may each be 256 bytes
 *                 and a key at most 511 (KV_KEY_MAX); one key per (scope, name) because a
 *                 table has no duplicate keys. Scopes hold no NUL, so the hashed string is
 *                 unambiguous; SHA-256 makes two different ones sharing a key out of reach.
 *   team_members  "<team_id>/<user_id>" -> ""  (a team's members are a range)
 *   user_teams    "<user_id>/<team_id>" -> ""  (a user's teams are a range)
 * The two membership tables always hold the same pairs, each entry mirrored in the other. */
#include "storage/kv.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_KEY_LEN 32 /* SHA-256 */

/* The team_names key of a (scope, name). */
struct name_key {
    unsigned char hash[NAME_KEY_LEN];
    struct kv_val val;
};

void store_team_clear(struct store_team *t)
{
    if (!t)
        return;
    free(t->roles);
    memset(t, 0, sizeof *t);
}

static int team_valid(const struct store_team *t)
{
    return t && id_valid(t->id) && str_fits_nonempty(t->name, STORE_NAME_MAX) &&
           str_fits(t->scope, STORE_NAME_MAX) && str_fits(t->description, STORE_TEXT_MAX) &&
           roles_valid(t->roles, t->nroles);
}

/* Callers have checked the strings (team_valid() or a decoded record), so both fit. */
static int name_key(const char *scope, const char *name, struct name_key *k)
{
    char buf[2 * STORE_NAME_MAX]; /* scope || "\0" || lower(name) */
    size_t slen = strlen(scope), nlen = strlen(name);
    char *lower = buf + slen + 1;
    unsigned int len = 0;

    memcpy(buf, scope, slen + 1);
    for (size_t i = 0; i < nlen; i++)
        lower[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    if (!EVP_Digest(buf, slen + 1 + nlen, k->hash, &len, EVP_sha256(), NULL) ||
        len != sizeof k->hash) {
        fprintf(stderr, "storage: team_names: SHA-256 failed\n");
        return STORE_EIO;
    }
    k->val = (struct kv_val){k->hash, sizeof k->hash};
    return STORE_OK;
}

/* An entry of team_names that does not hold an id; its key is logged in hex (it is a hash). */
static int name_corrupt(const struct name_key *k)
{
    char hex[2 * NAME_KEY_LEN + 1];
    for (size_t i = 0; i < NAME_KEY_LEN; i++)
        snprintf(hex + 2 * i, 3, "%02x", k->hash[i]);
    return store_corrupt(DB_TEAM_NAMES, hex, 2 * NAME_KEY_LEN);
}

/* The id of the team holding k's (scope, name) into team_id; STORE_NOTFOUND when none. */
static int name_owner(struct store_txn *txn, const struct name_key *k, char team_id[STORE_ID_MAX])
{
    struct kv_val val;
    int rc = kv_get(txn, DB_TEAM_NAMES, k->val, &val);

    if (rc)
        return rc;
    if (val.len == 0 || val.len >= STORE_ID_MAX || memchr(val.data, '\0', val.len))
        return name_corrupt(k);
    memcpy(team_id, val.data, val.len);
    team_id[val.len] = '\0';
    return id_valid(team_id) ? STORE_OK : name_corrupt(k);
}

/* Gives k's (scope, name) to team id: STORE_EXISTS, and nothing written, when another team holds
 * it; STORE_OK when id holds it already. */
static int name_claim(struct store_txn *txn, const struct name_key *k, const char *id)
{
    char owner[STORE_ID_MAX];
    int rc = name_owner(txn, k, owner);

    if (rc == STORE_OK)
        return strcmp(owner, id) == 0 ? STORE_OK : STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        return rc;
    return kv_put(txn, DB_TEAM_NAMES, k->val, kv_str(id));
}

/* Frees k's (scope, name) when team id holds it; gone already, or another team's, is STORE_OK
 * and left alone. */
static int name_release(struct store_txn *txn, const struct name_key *k, const char *id)
{
    struct kv_val val;
    size_t len = strlen(id);
    int rc = kv_get(txn, DB_TEAM_NAMES, k->val, &val);

    if (rc == STORE_OK && val.len == len && memcmp(val.data, id, len) == 0)
        rc = kv_del(txn, DB_TEAM_NAMES, k->val);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int team_encode(const struct store_team *t, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "name", t->name);
    if (!rc)
        rc = codec_set_str(obj, "scope", t->scope);
    if (!rc)
        rc = codec_set_str(obj, "description", t->description);
    if (!rc)
        rc = codec_set_int(obj, "created_at", t->created_at);
    if (!rc)
        rc = codec_set_int(obj, "updated_at", t->updated_at);
    if (!rc)
        rc = codec_set_roles(obj, "roles", t->roles, t->nroles);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

static int team_decode(const struct kv_val *key, const struct kv_val *val, struct store_team *out)
{
    struct store_team t = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(t.id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "name", t.name, sizeof t.name);
    if (!rc)
        rc = codec_get_str(obj, "scope", t.scope, sizeof t.scope);
    if (!rc)
        rc = codec_get_str(obj, "description", t.description, sizeof t.description);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &t.created_at);
    if (!rc)
        rc = codec_get_int(obj, "updated_at", &t.updated_at);
    if (!rc && (t.name[0] == '\0' || !id_valid(t.id)))
        rc = STORE_ECORRUPT;
    if (!rc)
        rc = codec_get_roles(obj, "roles", &t.roles, &t.nroles);
    if (rc)
        goto out;
    *out = t;
    t.roles = NULL;
out:
    json_decref(obj);
    free(t.roles);
    if (rc == STORE_ECORRUPT)
        store_corrupt(DB_TEAMS, key->data, key->len);
    return rc;
}

/* STORE_OK when the team exists, STORE_NOTFOUND when not. */
static int team_exists(struct store_txn *txn, const char *id)
{
    struct kv_val val;
    return kv_get(txn, DB_TEAMS, kv_str(id), &val);
}

/* Reads and decodes the team of id into *out (clear it with store_team_clear()). */
static int team_read(struct store_txn *txn, const char *id, struct store_team *out)
{
    struct kv_val key = kv_str(id), val;
    int rc = kv_get(txn, DB_TEAMS, key, &val);
    return rc ? rc : team_decode(&key, &val, out);
}

/* A membership entry with an empty value. */
static int pair_put(struct store_txn *txn, enum store_db db, const struct pair_key *k)
{
    return kv_put(txn, db, k->val, (struct kv_val){"", 0});
}

/* Deletes a membership entry; STORE_NOTFOUND when it is not there. */
static int pair_del(struct store_txn *txn, enum store_db db, const struct pair_key *k)
{
    return kv_del(txn, db, k->val);
}

/* Deletes every entry "<owner>/<other>" of db and its mirror "<other>/<owner>" in mirror: all
 * memberships of a team (team_members, user_teams) or of a user (the other way round). */
static int pairs_delete_all(struct store_txn *txn, enum store_db db, enum store_db mirror,
                            const char *owner)
{
    struct pair_key prefix, back;
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    int rc;

    rc = pair_key(owner, NULL, &prefix);
    if (!rc)
        rc = kv_cursor_open(txn, db, &cur);
    if (rc)
        return rc;
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    while ((rc = kv_move(cur, KV_GE, &prefix.val, &key, NULL)) == STORE_OK &&
           pair_has_prefix(&key, &prefix)) {
        char first[STORE_ID_MAX], other[STORE_ID_MAX];
        /* split (copied) first: the deletes end the life of what key points to */
        if (pair_split(key.data, key.len, first, other)) {
            rc = store_corrupt(db, key.data, key.len);
            goto out;
        }
        rc = kv_cursor_del(cur);
        if (!rc)
            rc = pair_key(other, owner, &back);
        if (!rc && (rc = pair_del(txn, mirror, &back)) == STORE_NOTFOUND)
            rc = STORE_OK; /* the mirror entry was already gone */
        if (rc)
            goto out;
    }
    if (rc == STORE_NOTFOUND) /* the end of the table */
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    return rc;
}

int store_user_teams_delete_all(struct store_txn *txn, const char *user_id)
{
    return pairs_delete_all(txn, DB_USER_TEAMS, DB_TEAM_MEMBERS, user_id);
}

/* store_team_insert() (insert = 1) and store_team_update(). */
static int team_write(struct store_txn *txn, const struct store_team *t, int insert)
{
    struct store_team old = {0};
    struct name_key old_nk, new_nk;
    char *buf = NULL;
    size_t len;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!team_valid(t))
        return STORE_EINVAL;
    rc = team_encode(t, &buf, &len);
    if (!rc)
        rc = name_key(t->scope, t->name, &new_nk);
    if (rc)
        goto out;
    /* Every check before any write: a refused insert or update leaves the transaction as it
     * was (name_claim() writes nothing when it refuses). */
    if (insert) {
        rc = team_exists(txn, t->id);
        if (rc == STORE_OK)
            rc = STORE_EXISTS;
        else if (rc == STORE_NOTFOUND)
            rc = name_claim(txn, &new_nk, t->id);
    } else {
        rc = team_read(txn, t->id, &old);
        if (!rc)
            rc = name_key(old.scope, old.name, &old_nk);
        /* A name changed only in case keeps its index entry; the record takes the new
         * spelling. */
        if (!rc && memcmp(old_nk.hash, new_nk.hash, NAME_KEY_LEN) != 0) {
            rc = name_claim(txn, &new_nk, t->id);
            if (!rc)
                rc = name_release(txn, &old_nk, t->id);
        }
    }
    if (!rc)
        rc = kv_write(txn, DB_TEAMS, kv_str(t->id), (struct kv_val){buf, len},
                      insert ? KV_INSERT : KV_UPDATE);
out:
    store_team_clear(&old);
    free(buf);
    return rc;
}

int store_team_insert(struct store_txn *txn, const struct store_team *t)
{
    return team_write(txn, t, 1);
}

int store_team_update(struct store_txn *txn, const struct store_team *t)
{
    return team_write(txn, t, 0);
}

int store_team_get(struct store_txn *txn, const char *id, struct store_team *out)
{
    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    return team_read(txn, id, out);
}

int store_team_delete(struct store_txn *txn, const char *id)
{
    struct store_team t = {0};
    struct name_key nk;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = team_read(txn, id, &t); /* for its name */
    if (!rc)
        rc = name_key(t.scope, t.name, &nk);
    if (!rc)
        rc = name_release(txn, &nk, id);
    if (!rc)
        rc = pairs_delete_all(txn, DB_TEAM_MEMBERS, DB_USER_TEAMS, id);
    if (!rc)
        rc = kv_del(txn, DB_TEAMS, kv_str(id));
    store_team_clear(&t);
    return rc;
}

/* Two stored teams with one (scope, lower(name)): a store the schema 4 index never allowed. */
static int names_collide(struct store_txn *txn, const struct name_key *k, const char *id)
{
    char other[STORE_ID_MAX];
    int rc = name_owner(txn, k, other);

    if (rc)
        return rc;
    fprintf(stderr, "storage: corrupt records in teams: %s and %s share a name in one scope\n",
            other, id);
    return STORE_ECORRUPT;
}

int store_team_names_index_all(struct store_txn *txn)
{
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    enum kv_move how = KV_FIRST;
    int rc = kv_cursor_open(txn, DB_TEAMS, &cur);

    while (!rc && (rc = kv_move(cur, how, NULL, &key, &val)) == STORE_OK) {
        struct store_team t = {0};
        struct name_key nk;
        how = KV_NEXT;
        /* decoded (copied) first: the write ends the life of key and val */
        rc = team_decode(&key, &val, &t);
        if (!rc)
            rc = name_key(t.scope, t.name, &nk);
        if (!rc)
            rc = name_claim(txn, &nk, t.id);
        if (rc == STORE_EXISTS)
            rc = names_collide(txn, &nk, t.id);
        store_team_clear(&t);
        if (rc)
            goto out;
    }
    if (rc == STORE_NOTFOUND) /* past the last team */
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    return rc;
}

static int team_decode_any(const struct kv_val *key, const struct kv_val *val, void *out)
{
    return team_decode(key, val, out);
}

static void team_clear_any(void *item)
{
    store_team_clear(item);
}

int store_team_list(struct store_txn *txn, const char *after, size_t limit,
                    struct store_team **items, size_t *n)
{
    static const struct store_list_kind kind = {sizeof(**items), team_decode_any, team_clear_any,
                                                "list teams"};
    void *list = NULL;
    if (!items)
        return STORE_EINVAL;
    int rc = store_list_records(txn, DB_TEAMS, after, limit, &kind, &list, n);
    *items = list;
    return rc;
}

void store_team_list_free(struct store_team *items, size_t n)
{
    if (!items)
        return;
    for (size_t i = 0; i < n; i++)
        store_team_clear(&items[i]);
    free(items);
}

/* How many teams user_id belongs to (prefix: "<user_id>/"). */
static int user_teams_count(struct store_txn *txn, const struct pair_key *prefix, size_t *n)
{
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    int rc;

    *n = 0;
    rc = kv_cursor_open(txn, DB_USER_TEAMS, &cur);
    if (rc)
        return rc;
    rc = kv_move(cur, KV_GE, &prefix->val, &key, NULL);
    while (rc == STORE_OK && pair_has_prefix(&key, prefix)) {
        (*n)++;
        rc = kv_move(cur, KV_NEXT, NULL, &key, NULL);
    }
    if (rc == STORE_NOTFOUND) /* the end of the table */
        rc = STORE_OK;
    kv_cursor_close(cur);
    return rc;
}

int store_member_add(struct store_txn *txn, const char *team_id, const char *user_id)
{
    struct pair_key member, back, prefix;
    struct kv_val val;
    size_t n;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = user_id ? pair_key(team_id, user_id, &member) : STORE_EINVAL;
    if (!rc)
        rc = pair_key(user_id, team_id, &back);
    if (!rc)
        rc = pair_key(user_id, NULL, &prefix);
    /* both rows, so an add collides with the team's or the user's deletion, and with another
     * add counting the user's teams */
    if (!rc)
        rc = kv_touch(txn, DB_TEAMS, kv_str(team_id));
    if (!rc)
        rc = store_user_touch(txn, user_id);
    if (rc)
        return rc;
    rc = kv_get(txn, DB_TEAM_MEMBERS, member.val, &val);
    if (rc == STORE_OK) /* already a member */
        return STORE_OK;
    if (rc != STORE_NOTFOUND)
        return rc;
    rc = user_teams_count(txn, &prefix, &n);
    if (rc)
        return rc;
    if (n >= STORE_TEAMS_PER_USER_MAX)
        return STORE_EINVAL;
    rc = pair_put(txn, DB_TEAM_MEMBERS, &member);
    if (!rc)
        rc = pair_put(txn, DB_USER_TEAMS, &back);
    return rc;
}

int store_member_remove(struct store_txn *txn, const char *team_id, const char *user_id)
{
    struct pair_key member, back;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = user_id ? pair_key(team_id, user_id, &member) : STORE_EINVAL;
    if (!rc)
        rc = pair_key(user_id, team_id, &back);
    if (!rc)
        rc = pair_del(txn, DB_TEAM_MEMBERS, &member); /* STORE_NOTFOUND: not a member */
    if (rc)
        return rc;
    rc = pair_del(txn, DB_USER_TEAMS, &back);
    return rc == STORE_NOTFOUND ? STORE_OK : rc; /* the mirror entry was already gone */
}

/* Collects the second ids of the entries "<owner>/<id>" of db with id > after (after NULL: all),
 * at most limit, in key order; *ids is malloc'd (NULL when there are none). */
static int pairs_list(struct store_txn *txn, enum store_db db, const char *owner, const char *after,
                      size_t limit, char (**ids)[STORE_ID_MAX], size_t *n)
{
    char(*list)[STORE_ID_MAX] = NULL;
    struct pair_key prefix, from;
    struct kv_cursor *cur = NULL;
    struct kv_val key;
    size_t count = 0, cap = 0;
    int rc;

    rc = pair_key(owner, NULL, &prefix);
    if (!rc)
        rc = pair_key(owner, after, &from); /* "<owner>/" when after is NULL */
    if (rc)
        return rc;
    if (limit == 0)
        return STORE_OK;
    rc = kv_cursor_open(txn, db, &cur);
    if (rc)
        return rc;
    /* past "<owner>/<after>", or past "<owner>/", which is no entry */
    rc = kv_move(cur, KV_GT, &from.val, &key, NULL);
    while (rc == STORE_OK && count < limit && pair_has_prefix(&key, &prefix)) {
        char first[STORE_ID_MAX];
        rc = list_room(&list, &cap, count, sizeof *list, limit);
        if (!rc && pair_split(key.data, key.len, first, list[count]))
            rc = store_corrupt(db, key.data, key.len);
        if (rc)
            goto out;
        count++;
        rc = kv_move(cur, KV_NEXT, NULL, &key, NULL);
    }
    if (rc == STORE_NOTFOUND) /* the end of the table */
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    if (rc || count == 0) {
        free(list);
    } else {
        *ids = list;
        *n = count;
    }
    return rc;
}

int store_member_list(struct store_txn *txn, const char *team_id, const char *after, size_t limit,
                      char (**ids)[STORE_ID_MAX], size_t *n)
{
    int rc;

    if (!ids || !n)
        return STORE_EINVAL;
    *ids = NULL;
    *n = 0;
    if (!txn || !id_valid(team_id) || (after && after[0] && !id_valid(after)))
        return STORE_EINVAL;
    rc = team_exists(txn, team_id);
    if (rc)
        return rc;
    return pairs_list(txn, DB_TEAM_MEMBERS, team_id, after && after[0] ? after : NULL, limit, ids,
                      n);
}

int store_user_teams(struct store_txn *txn, const char *user_id, char (**ids)[STORE_ID_MAX],
                     size_t *n)
{
    if (!ids || !n)
        return STORE_EINVAL;
    *ids = NULL;
    *n = 0;
    if (!txn)
        return STORE_EINVAL;
    return pairs_list(txn, DB_USER_TEAMS, user_id, NULL, SIZE_MAX, ids, n);
}
