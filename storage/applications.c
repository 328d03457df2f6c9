/* Applications (OAuth clients of SDKs and apps): id -> {"name","type","phc","hint","grants",
 * "redirect_uris","origins","first_party","post_logout_uris","app_services_id",
 * "identity_providers","created_at","updated_at"}; the two members from schema 4 read as false
 * and [] when absent, the one from schema 7 as "", the one from schema 8 as [] (written only
 * when not empty). The id is the key only. A public
 * application holds no secret (phc and hint ""); a confidential one always has a phc.
 * Index, written in the transaction that writes the record:
 *   app_origins       lower(origin) || "\0" || id -> ""  (who allows a browser origin; the NUL
 *                     ends the origin, so one origin's applications are a range)
 *   app_services_ids  app_services_id -> id  (the App Services client API names apps so) */
#include "storage/kv.h"

#include <stdlib.h>
#include <string.h>

#define HINT_MAX sizeof(((struct store_application *)0)->hint)

static int app_valid(const struct store_application *app)
{
    if (!app || !id_valid(app->id) || !str_fits(app->name, STORE_NAME_MAX) ||
        !str_fits(app->phc, STORE_PHC_MAX) || !str_fits(app->hint, HINT_MAX) ||
        !strv_valid(app->grants[0], STORE_GRANT_MAX, app->ngrants, STORE_GRANTS_MAX) ||
        !strv_valid(app->redirect_uris[0], STORE_URI_MAX, app->nredirect_uris, STORE_URIS_MAX) ||
        !strv_valid(app->origins[0], STORE_ORIGIN_MAX, app->norigins, STORE_URIS_MAX) ||
        !strv_valid(app->post_logout_uris[0], STORE_URI_MAX, app->npost_logout_uris,
                    STORE_URIS_MAX) ||
        !str_fits(app->app_services_id, STORE_APP_SERVICES_ID_MAX) ||
        !strv_valid(app->idps[0], STORE_IDP_NAME_MAX, app->nidps, STORE_APP_IDPS_MAX))
        return 0;
    if (app->type == STORE_APP_PUBLIC)
        return app->phc[0] == '\0' && app->hint[0] == '\0';
    return app->type == STORE_APP_CONFIDENTIAL && app->phc[0] != '\0';
}

static int app_encode(const struct store_application *app, char **buf, size_t *len)
{
    json_t *obj = json_object();
    int rc = obj ? STORE_OK : STORE_ENOMEM;

    if (!rc)
        rc = codec_set_str(obj, "name", app->name);
    if (!rc)
        rc = codec_set_int(obj, "type", app->type);
    if (!rc)
        rc = codec_set_str(obj, "phc", app->phc);
    if (!rc)
        rc = codec_set_str(obj, "hint", app->hint);
    if (!rc)
        rc = codec_set_strv(obj, "grants", app->grants[0], STORE_GRANT_MAX, app->ngrants);
    if (!rc)
        rc = codec_set_strv(obj, "redirect_uris", app->redirect_uris[0], STORE_URI_MAX,
                            app->nredirect_uris);
    if (!rc)
        rc = codec_set_strv(obj, "origins", app->origins[0], STORE_ORIGIN_MAX, app->norigins);
    if (!rc)
        rc = codec_set_bool(obj, "first_party", app->first_party);
    if (!rc)
        rc = codec_set_strv(obj, "post_logout_uris", app->post_logout_uris[0], STORE_URI_MAX,
                            app->npost_logout_uris);
    if (!rc)
        rc = codec_set_str(obj, "app_services_id", app->app_services_id);
    if (!rc && app->nidps)
        rc =
            codec_set_strv(obj, "identity_providers", app->idps[0], STORE_IDP_NAME_MAX, app->nidps);
    if (!rc)
        rc = codec_set_int(obj, "created_at", app->created_at);
    if (!rc)
        rc = codec_set_int(obj, "updated_at", app->updated_at);
    if (!rc)
        rc = codec_dump(obj, buf, len);
    json_decref(obj);
    return rc;
}

/* Decodes into *out, which the caller has zeroed (the struct is large: no copy on the stack). */
static int app_decode(const struct kv_val *key, const struct kv_val *val,
                      struct store_application *out)
{
    json_t *obj = NULL;
    int64_t type = -1;
    int rc = STORE_ECORRUPT;

    if (key->len == 0 || key->len >= STORE_ID_MAX)
        goto out;
    memcpy(out->id, key->data, key->len);
    rc = codec_load(val->data, val->len, &obj);
    if (!rc)
        rc = codec_get_str(obj, "name", out->name, sizeof out->name);
    if (!rc)
        rc = codec_get_int(obj, "type", &type);
    if (!rc)
        rc = codec_get_str(obj, "phc", out->phc, sizeof out->phc);
    if (!rc)
        rc = codec_get_str(obj, "hint", out->hint, sizeof out->hint);
    if (!rc)
        rc = codec_get_strv(obj, "grants", out->grants[0], STORE_GRANT_MAX, STORE_GRANTS_MAX,
                            &out->ngrants);
    if (!rc)
        rc = codec_get_strv(obj, "redirect_uris", out->redirect_uris[0], STORE_URI_MAX,
                            STORE_URIS_MAX, &out->nredirect_uris);
    if (!rc)
        rc = codec_get_strv(obj, "origins", out->origins[0], STORE_ORIGIN_MAX, STORE_URIS_MAX,
                            &out->norigins);
    if (!rc)
        rc = codec_get_bool_opt(obj, "first_party", &out->first_party);
    if (!rc)
        rc = codec_get_strv_opt(obj, "post_logout_uris", out->post_logout_uris[0], STORE_URI_MAX,
                                STORE_URIS_MAX, &out->npost_logout_uris);
    if (!rc)
        rc = codec_get_str_opt(obj, "app_services_id", out->app_services_id,
                               sizeof out->app_services_id);
    if (!rc)
        rc = codec_get_strv_opt(obj, "identity_providers", out->idps[0], STORE_IDP_NAME_MAX,
                                STORE_APP_IDPS_MAX, &out->nidps);
    if (!rc)
        rc = codec_get_int(obj, "created_at", &out->created_at);
    if (!rc)
        rc = codec_get_int(obj, "updated_at", &out->updated_at);
    if (rc)
        goto out;
    out->type = (int)type;
    if ((type != STORE_APP_PUBLIC && type != STORE_APP_CONFIDENTIAL) || !app_valid(out))
        rc = STORE_ECORRUPT;
out:
    json_decref(obj);
    if (rc) {
        memset(out, 0, sizeof *out);
        if (rc == STORE_ECORRUPT)
            store_corrupt(DB_APPLICATIONS, key->data, key->len);
    }
    return rc;
}

/* Writes app under its id: a new record (STORE_EXISTS when the id is taken) or a replacement. */
static int app_put(struct store_txn *txn, const struct store_application *app, int insert)
{
    struct kv_val key = kv_str(app->id), val;
    char *buf = NULL;
    int rc = app_encode(app, &buf, &val.len);

    if (rc)
        return rc;
    val.data = buf;
    rc = kv_write(txn, DB_APPLICATIONS, key, val, insert ? KV_INSERT : KV_UPDATE);
    free(buf);
    return rc;
}

#define ORIGIN_KEY_MAX (STORE_ORIGIN_MAX + STORE_ID_MAX)

/* lower(origin) || "\0", then id when one is given; 0 when origin is empty or does not fit. */
static size_t origin_key(const char *origin, const char *id, char buf[ORIGIN_KEY_MAX])
{
    size_t olen = strlen(origin), ilen = id ? strlen(id) : 0;
    if (olen == 0 || olen >= STORE_ORIGIN_MAX || ilen >= STORE_ID_MAX)
        return 0;
    for (size_t i = 0; i < olen; i++)
        buf[i] = origin[i] >= 'A' && origin[i] <= 'Z' ? (char)(origin[i] - 'A' + 'a') : origin[i];
    buf[olen] = '\0';
    memcpy(buf + olen + 1, id ? id : "", ilen);
    return olen + 1 + ilen;
}

/* Adds or removes the index entries of app's origins and App Services id. Two origins that
 * differ only in case share an entry, so removing one that is gone already is not an error. An
 * App Services id another application holds is STORE_EXISTS. */
static int app_index(struct store_txn *txn, const struct store_application *app, int add)
{
    char buf[ORIGIN_KEY_MAX];
    struct kv_val key = {.data = buf};
    int rc = STORE_OK;
    if (app->app_services_id[0]) {
        key = kv_str(app->app_services_id);
        rc = add ? kv_insert(txn, DB_APP_SERVICES_IDS, key, kv_str(app->id))
                 : kv_del(txn, DB_APP_SERVICES_IDS, key);
        if (rc)
            return rc;
        key = (struct kv_val){.data = buf};
    }
    for (size_t i = 0; i < app->norigins && rc == STORE_OK; i++) {
        if (!(key.len = origin_key(app->origins[i], app->id, buf)))
            return STORE_EINVAL;
        rc = add ? kv_put(txn, DB_APP_ORIGINS, key, (struct kv_val){"", 0})
                 : kv_del(txn, DB_APP_ORIGINS, key);
        if (!add && rc == STORE_NOTFOUND)
            rc = STORE_OK;
    }
    return rc;
}

int store_app_insert(struct store_txn *txn, const struct store_application *app)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!app_valid(app))
        return STORE_EINVAL;
    rc = app_put(txn, app, 1);
    return rc ? rc : app_index(txn, app, 1);
}

/* Removes the origin index entries of the stored record of id (STORE_NOTFOUND when there is
 * none). The record is decoded into a heap copy (the struct is large), so nothing read from the
 * table is held across the deletes. */
static int app_unindex_stored(struct store_txn *txn, const char *id)
{
    struct store_application *old = calloc(1, sizeof *old);
    int rc = old ? store_app_get(txn, id, old) : STORE_ENOMEM;

    if (!rc)
        rc = app_index(txn, old, 0);
    free(old);
    return rc;
}

int store_app_update(struct store_txn *txn, const struct store_application *app)
{
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!app_valid(app))
        return STORE_EINVAL;
    rc = app_unindex_stored(txn, app->id);
    if (!rc)
        rc = app_put(txn, app, 0);
    if (!rc)
        rc = app_index(txn, app, 1);
    return rc;
}

int store_app_get(struct store_txn *txn, const char *id, struct store_application *out)
{
    struct kv_val key, val;
    int rc;

    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    key = kv_str(id);
    rc = kv_get(txn, DB_APPLICATIONS, key, &val);
    if (rc)
        return rc;
    return app_decode(&key, &val, out);
}

int store_app_name_get(struct store_txn *txn, const char *id, char name[STORE_NAME_MAX])
{
    /* decoded whole on the heap, so that a corrupt record is refused as store_app_get refuses
     * it; the copy is ours, freed at out */
    struct store_application *app = NULL;
    int rc = STORE_EINVAL;

    if (!name)
        goto out;
    name[0] = '\0';
    rc = STORE_ENOMEM;
    if (!(app = calloc(1, sizeof *app)))
        goto out;
    rc = store_app_get(txn, id, app);
    if (rc == STORE_OK)
        memcpy(name, app->name, STORE_NAME_MAX);
out:
    free(app);
    return rc;
}

int store_app_delete(struct store_txn *txn, const char *id)
{
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    rc = app_unindex_stored(txn, id);
    return rc ? rc : kv_del(txn, DB_APPLICATIONS, kv_str(id));
}

int store_app_find_services_id(struct store_txn *txn, const char *services_id,
                               char app_id[STORE_ID_MAX])
{
    struct kv_val val;
    int rc;
    if (!app_id)
        return STORE_EINVAL;
    app_id[0] = '\0';
    if (!txn || !str_fits_nonempty(services_id, STORE_APP_SERVICES_ID_MAX))
        return STORE_EINVAL;
    rc = kv_get(txn, DB_APP_SERVICES_IDS, kv_str(services_id), &val);
    if (rc)
        return rc;
    if (val.len == 0 || val.len >= STORE_ID_MAX)
        return store_corrupt(DB_APP_SERVICES_IDS, services_id, strlen(services_id));
    memcpy(app_id, val.data, val.len);
    app_id[val.len] = '\0';
    return STORE_OK;
}

int store_origin_allowed(struct store_txn *txn, const char *origin, const char *app_id)
{
    char buf[ORIGIN_KEY_MAX];
    struct kv_val at = {.data = buf}, key, val;
    struct kv_cursor *cur = NULL;
    int rc;

    if (!txn || !origin || (app_id && !id_valid(app_id)))
        return STORE_EINVAL;
    if (!(at.len = origin_key(origin, app_id, buf)))
        return STORE_NOTFOUND;
    if (app_id)
        return kv_get(txn, DB_APP_ORIGINS, at, &val);
    rc = kv_cursor_open(txn, DB_APP_ORIGINS, &cur);
    if (!rc)
        rc = kv_move(cur, KV_GE, &at, &key, NULL);
    /* the first entry at or after lower(origin) "\0" is one of its own, if it has any */
    if (!rc && (key.len <= at.len || memcmp(key.data, at.data, at.len) != 0))
        rc = STORE_NOTFOUND;
    kv_cursor_close(cur);
    return rc;
}

int store_app_origins_index_all(struct store_txn *txn)
{
    struct store_application *app = calloc(1, sizeof *app);
    struct kv_cursor *cur = NULL;
    struct kv_val key, val;
    int rc = app ? kv_cursor_open(txn, DB_APPLICATIONS, &cur) : STORE_ENOMEM;

    if (rc)
        goto out;
    /* Each record is decoded before its index entries are written: the writes end the life of
     * key and val, though not the cursor's place. */
    for (rc = kv_move(cur, KV_FIRST, NULL, &key, &val); rc == STORE_OK;
         rc = kv_move(cur, KV_NEXT, NULL, &key, &val)) {
        memset(app, 0, sizeof *app);
        if ((rc = app_decode(&key, &val, app)) != STORE_OK ||
            (rc = app_index(txn, app, 1)) != STORE_OK)
            goto out;
    }
    if (rc == STORE_NOTFOUND) /* past the last application */
        rc = STORE_OK;
out:
    kv_cursor_close(cur);
    free(app);
    return rc;
}

static int app_decode_any(const struct kv_val *key, const struct kv_val *val, void *out)
{
    return app_decode(key, val, out);
}

int store_app_list(struct store_txn *txn, const char *after, size_t limit,
                   struct store_application **items, size_t *n)
{
    static const struct store_list_kind kind = {sizeof(**items), app_decode_any, NULL,
                                                "list applications"};
    void *list = NULL;
    if (!items)
        return STORE_EINVAL;
    int rc = store_list_records(txn, DB_APPLICATIONS, after, limit, &kind, &list, n);
    *items = list;
    return rc;
}
