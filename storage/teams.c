/* Teams: id -> {"name","scope","description","created_at","updated_at","roles"}; the id is the
 * key only. Indexes, all written in the transaction that writes the record:
 *   teams_by_name  MDB_DUPSORT: scope || "\0" -> sorted duplicates lower(name) || "\0" || id.
 *                  Together: (scope, name with ASCII letters lower-cased) -> id, so a name is
 *                  unique within its scope ignoring case. Split at the NUL because scope and
 *                  name may each be 256 bytes and an LMDB key at most 511; names and scopes hold
 *                  no NUL, so the split is unambiguous.
 *   team_members   "<team_id>/<user_id>" -> ""  (a team's members are a range)
 *   user_teams     "<user_id>/<team_id>" -> ""  (a user's teams are a range)
 * The two membership databases always hold the same pairs, each entry mirrored in the other. */
#include "storage/internal.h"

#include <stdlib.h>
#include <string.h>

#define NAME_DUP_MAX (STORE_NAME_MAX + STORE_ID_MAX) /* lower(name) \0 id, incl. a spare byte */

/* An entry of teams_by_name. data is lower(name) || "\0", followed by the id when one was
 * given; prefix_len is the length without the id. */
struct name_key {
    char scope[STORE_NAME_MAX]; /* scope || "\0" */
    char dup[NAME_DUP_MAX];
    MDB_val key, data;
    size_t prefix_len;
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

/* Callers have checked the strings (team_valid() or a decoded record); id may be NULL. */
static void name_key(const char *scope, const char *name, const char *id, struct name_key *k)
{
    size_t slen = strlen(scope), nlen = strlen(name), i;

    memcpy(k->scope, scope, slen + 1);
    k->key.mv_data = k->scope;
    k->key.mv_size = slen + 1; /* never empty, as LMDB needs */
    for (i = 0; i < nlen; i++)
        k->dup[i] = name[i] >= 'A' && name[i] <= 'Z' ? (char)(name[i] - 'A' + 'a') : name[i];
    k->dup[nlen] = '\0';
    k->prefix_len = nlen + 1;
    k->data.mv_data = k->dup;
    k->data.mv_size = k->prefix_len;
    if (id) {
        size_t ilen = strlen(id);
        memcpy(k->dup + k->prefix_len, id, ilen);
        k->data.mv_size += ilen;
    }
}

static int name_key_equal(const struct name_key *a, const struct name_key *b)
{
    return a->key.mv_size == b->key.mv_size &&
           memcmp(a->key.mv_data, b->key.mv_data, a->key.mv_size) == 0 &&
           a->prefix_len == b->prefix_len && memcmp(a->dup, b->dup, a->prefix_len) == 0;
}

/* The id of the team holding k's (scope, name); STORE_NOTFOUND when none. */
static int name_owner(struct store_txn *txn, const struct name_key *k, char team_id[STORE_ID_MAX])
{
    MDB_cursor *cur = NULL;
    MDB_val key = k->key, data = {.mv_size = k->prefix_len, .mv_data = (void *)k->dup};
    size_t len;
    int rc, mrc;

    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_TEAMS_BY_NAME], &cur),
                       "cursor team names");
    if (rc)
        return rc;
    /* the first duplicate >= lower(name) || "\0": this name's entry, when there is one */
    mrc = mdb_cursor_get(cur, &key, &data, MDB_GET_BOTH_RANGE);
    if (mrc == MDB_SUCCESS &&
        (data.mv_size < k->prefix_len || memcmp(data.mv_data, k->dup, k->prefix_len) != 0))
        mrc = MDB_NOTFOUND;
    rc = store_mdb_err(txn, mrc, "get team name");
    if (rc)
        goto out;
    len = data.mv_size - k->prefix_len;
    if (len == 0 || len >= STORE_ID_MAX ||
        memchr((const char *)data.mv_data + k->prefix_len, '\0', len)) {
        rc = store_corrupt(DB_TEAMS_BY_NAME, k->key.mv_data, k->key.mv_size - 1);
        goto out;
    }
    memcpy(team_id, (const char *)data.mv_data + k->prefix_len, len);
    team_id[len] = '\0';
out:
    mdb_cursor_close(cur);
    return rc;
}

static int name_put(struct store_txn *txn, const struct name_key *k)
{
    MDB_val key = k->key, data = k->data;
    return store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_TEAMS_BY_NAME], &key, &data, 0),
                         "put team name");
}

/* Removes exactly k's entry (built with an id); one already gone is fine. */
static int name_del(struct store_txn *txn, const struct name_key *k)
{
    MDB_val key = k->key, data = k->data;
    int rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_TEAMS_BY_NAME], &key, &data),
                           "delete team name");
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

static int team_decode(const MDB_val *key, const MDB_val *data, struct store_team *out)
{
    struct store_team t = {0};
    json_t *obj = NULL;
    int rc = STORE_ECORRUPT;

    if (key->mv_size == 0 || key->mv_size >= STORE_ID_MAX)
        goto out;
    memcpy(t.id, key->mv_data, key->mv_size);
    rc = codec_load(data->mv_data, data->mv_size, &obj);
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
        store_corrupt(DB_TEAMS, key->mv_data, key->mv_size);
    return rc;
}

static void team_key(const char *id, MDB_val *key)
{
    key->mv_data = (void *)id;
    key->mv_size = strlen(id);
}

/* STORE_OK when the team exists, STORE_NOTFOUND when not. */
static int team_exists(struct store_txn *txn, const char *id)
{
    MDB_val key, data;
    team_key(id, &key);
    return store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_TEAMS], &key, &data), "get team");
}

/* Reads and decodes the team of id into *out (clear it with store_team_clear()). */
static int team_read(struct store_txn *txn, const char *id, struct store_team *out)
{
    MDB_val key, data;
    int rc;

    team_key(id, &key);
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_TEAMS], &key, &data), "get team");
    if (rc)
        return rc;
    return team_decode(&key, &data, out);
}

static int team_put(struct store_txn *txn, const char *id, const char *buf, size_t len)
{
    MDB_val key, data = {.mv_size = len, .mv_data = (void *)buf};
    team_key(id, &key);
    return store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_TEAMS], &key, &data, 0),
                         "put team");
}

/* A membership entry with an empty value. */
static int pair_put(struct store_txn *txn, enum store_db db, const struct pair_key *k)
{
    MDB_val key = k->val, empty = {0};
    return store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[db], &key, &empty, 0),
                         "put membership");
}

/* Deletes a membership entry; STORE_NOTFOUND when it is not there. */
static int pair_del(struct store_txn *txn, enum store_db db, const struct pair_key *k)
{
    MDB_val key = k->val;
    return store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[db], &key, NULL), "delete membership");
}

/* Deletes every entry "<owner>/<other>" of db and its mirror "<other>/<owner>" in mirror: all
 * memberships of a team (team_members, user_teams) or of a user (the other way round). */
static int pairs_delete_all(struct store_txn *txn, enum store_db db, enum store_db mirror,
                            const char *owner)
{
    struct pair_key prefix, back;
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, mrc;

    rc = pair_key(owner, NULL, &prefix);
    if (rc)
        return rc;
    rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur), "cursor memberships");
    if (rc)
        return rc;
    /* Seek afresh after each delete rather than rely on where a cursor lands after one. */
    for (;;) {
        char first[STORE_ID_MAX], other[STORE_ID_MAX];
        key = prefix.val;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
        if (mrc != MDB_SUCCESS || !pair_has_prefix(&key, &prefix))
            break;
        /* split (copied) first: key points into a page the deletes change */
        if (pair_split(key.mv_data, key.mv_size, first, other)) {
            rc = store_corrupt(db, key.mv_data, key.mv_size);
            goto out;
        }
        mrc = mdb_cursor_del(cur, 0);
        if (mrc)
            break;
        rc = pair_key(other, owner, &back);
        if (!rc)
            rc = pair_del(txn, mirror, &back);
        if (rc == STORE_NOTFOUND) /* the mirror entry was already gone */
            rc = STORE_OK;
        if (rc)
            goto out;
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "delete memberships");
out:
    mdb_cursor_close(cur);
    return rc;
}

int store_user_teams_delete_all(struct store_txn *txn, const char *user_id)
{
    return pairs_delete_all(txn, DB_USER_TEAMS, DB_TEAM_MEMBERS, user_id);
}

int store_team_insert(struct store_txn *txn, const struct store_team *t)
{
    char owner[STORE_ID_MAX];
    struct name_key nk;
    char *buf = NULL;
    size_t len;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!team_valid(t))
        return STORE_EINVAL;
    rc = team_encode(t, &buf, &len);
    if (rc)
        goto out;
    /* Both checks before any write: a refused insert leaves the transaction as it was. */
    rc = team_exists(txn, t->id);
    if (rc == STORE_OK)
        rc = STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        goto out;
    name_key(t->scope, t->name, t->id, &nk);
    rc = name_owner(txn, &nk, owner);
    if (rc == STORE_OK)
        rc = STORE_EXISTS;
    if (rc != STORE_NOTFOUND)
        goto out;
    rc = name_put(txn, &nk);
    if (!rc)
        rc = team_put(txn, t->id, buf, len);
out:
    free(buf);
    return rc;
}

int store_team_update(struct store_txn *txn, const struct store_team *t)
{
    struct store_team old = {0};
    struct name_key old_nk, new_nk;
    char owner[STORE_ID_MAX];
    char *buf = NULL;
    size_t len;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!team_valid(t))
        return STORE_EINVAL;
    rc = team_encode(t, &buf, &len);
    if (!rc)
        rc = team_read(txn, t->id, &old);
    if (rc)
        goto out;
    name_key(old.scope, old.name, old.id, &old_nk);
    name_key(t->scope, t->name, t->id, &new_nk);
    /* A name changed only in case keeps its index entry; the record takes the new spelling. */
    if (!name_key_equal(&old_nk, &new_nk)) {
        rc = name_owner(txn, &new_nk, owner);
        if (rc == STORE_OK && strcmp(owner, t->id) != 0)
            rc = STORE_EXISTS;
        else if (rc == STORE_OK || rc == STORE_NOTFOUND)
            rc = STORE_OK;
        if (!rc)
            rc = name_del(txn, &old_nk);
        if (!rc)
            rc = name_put(txn, &new_nk);
        if (rc)
            goto out;
    }
    rc = team_put(txn, t->id, buf, len);
out:
    store_team_clear(&old);
    free(buf);
    return rc;
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
    MDB_val key;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = team_read(txn, id, &t); /* for its name */
    if (rc)
        goto out;
    name_key(t.scope, t.name, t.id, &nk);
    rc = name_del(txn, &nk);
    if (!rc)
        rc = pairs_delete_all(txn, DB_TEAM_MEMBERS, DB_USER_TEAMS, id);
    if (rc)
        goto out;
    team_key(id, &key);
    rc = store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_TEAMS], &key, NULL), "delete team");
out:
    store_team_clear(&t);
    return rc;
}

static int team_decode_any(const MDB_val *key, const MDB_val *data, void *out)
{
    return team_decode(key, data, out);
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

/* How many teams user_id belongs to. */
static int user_teams_count(struct store_txn *txn, const struct pair_key *prefix, size_t *n)
{
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    int rc, mrc;

    *n = 0;
    rc = store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[DB_USER_TEAMS], &cur),
                       "cursor user teams");
    if (rc)
        return rc;
    key = prefix->val;
    mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
    while (mrc == MDB_SUCCESS && pair_has_prefix(&key, prefix)) {
        (*n)++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "count user teams");
    mdb_cursor_close(cur);
    return rc;
}

int store_member_add(struct store_txn *txn, const char *team_id, const char *user_id)
{
    struct pair_key member, back, prefix;
    MDB_val key, data;
    size_t n;
    int rc = store_txn_writable(txn);

    if (!rc)
        rc = user_id ? pair_key(team_id, user_id, &member) : STORE_EINVAL;
    if (!rc)
        rc = pair_key(user_id, team_id, &back);
    if (!rc)
        rc = pair_key(user_id, NULL, &prefix);
    if (!rc)
        rc = team_exists(txn, team_id);
    if (!rc)
        rc = store_user_exists(txn, user_id);
    if (rc)
        return rc;
    key = member.val;
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_TEAM_MEMBERS], &key, &data),
                       "get membership");
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
    MDB_cursor *cur = NULL;
    MDB_val key, data;
    size_t count = 0, alloc = 0;
    int rc, mrc;

    rc = pair_key(owner, NULL, &prefix);
    if (!rc)
        rc = pair_key(owner, after, &from); /* "<owner>/" when after is NULL */
    if (rc)
        return rc;
    if (limit == 0)
        return STORE_OK;
    rc =
        store_mdb_err(txn, mdb_cursor_open(txn->txn, txn->st->dbi[db], &cur), "cursor memberships");
    if (rc)
        return rc;
    key = from.val;
    mrc = mdb_cursor_get(cur, &key, &data, MDB_SET_RANGE);
    if (mrc == MDB_SUCCESS && after && key.mv_size == from.val.mv_size &&
        memcmp(key.mv_data, from.val.mv_data, key.mv_size) == 0)
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    while (mrc == MDB_SUCCESS && count < limit && pair_has_prefix(&key, &prefix)) {
        char first[STORE_ID_MAX];
        if (count == alloc) {
            size_t grown = alloc ? alloc * 2 : 16;
            char(*p)[STORE_ID_MAX];
            if (grown > limit)
                grown = limit;
            p = realloc(list, grown * sizeof *list);
            if (!p) {
                rc = STORE_ENOMEM;
                goto out;
            }
            list = p;
            alloc = grown;
        }
        if (pair_split(key.mv_data, key.mv_size, first, list[count])) {
            rc = store_corrupt(db, key.mv_data, key.mv_size);
            goto out;
        }
        count++;
        mrc = mdb_cursor_get(cur, &key, &data, MDB_NEXT);
    }
    if (mrc != MDB_SUCCESS && mrc != MDB_NOTFOUND)
        rc = store_mdb_err(txn, mrc, "list memberships");
out:
    mdb_cursor_close(cur);
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
