/* Applications (OAuth clients of SDKs and apps): id -> {"name","type","phc","hint","grants",
 * "redirect_uris","origins","created_at","updated_at"}. The id is the key only. A public
 * application holds no secret (phc and hint ""); a confidential one always has a phc. */
#include "storage/internal.h"

#include <stdlib.h>
#include <string.h>

#define HINT_MAX sizeof(((struct store_application *)0)->hint)

static int app_valid(const struct store_application *app)
{
    if (!app || !id_valid(app->id) || !str_fits(app->name, STORE_NAME_MAX) ||
        !str_fits(app->phc, STORE_PHC_MAX) || !str_fits(app->hint, HINT_MAX) ||
        !strv_valid(app->grants[0], STORE_GRANT_MAX, app->ngrants, STORE_GRANTS_MAX) ||
        !strv_valid(app->redirect_uris[0], STORE_URI_MAX, app->nredirect_uris, STORE_URIS_MAX) ||
        !strv_valid(app->origins[0], STORE_URI_MAX, app->norigins, STORE_URIS_MAX))
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
        rc = codec_set_strv(obj, "origins", app->origins[0], STORE_URI_MAX, app->norigins);
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
static int app_decode(const MDB_val *key, const MDB_val *data, struct store_application *out)
{
    json_t *obj = NULL;
    int64_t type = -1;
    int rc = STORE_ECORRUPT;

    if (key->mv_size == 0 || key->mv_size >= STORE_ID_MAX)
        goto out;
    memcpy(out->id, key->mv_data, key->mv_size);
    rc = codec_load(data->mv_data, data->mv_size, &obj);
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
        rc = codec_get_strv(obj, "origins", out->origins[0], STORE_URI_MAX, STORE_URIS_MAX,
                            &out->norigins);
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
            store_corrupt(DB_APPLICATIONS, key->mv_data, key->mv_size);
    }
    return rc;
}

static void app_key(const char *id, MDB_val *key)
{
    key->mv_data = (void *)id;
    key->mv_size = strlen(id);
}

/* Writes app under its id: insert (MDB_NOOVERWRITE) or replace (0). */
static int app_put(struct store_txn *txn, const struct store_application *app, unsigned flags)
{
    MDB_val key, data;
    char *buf = NULL;
    int rc = app_encode(app, &buf, &data.mv_size);

    if (rc)
        goto out;
    data.mv_data = buf;
    app_key(app->id, &key);
    rc = store_mdb_err(txn, mdb_put(txn->txn, txn->st->dbi[DB_APPLICATIONS], &key, &data, flags),
                       "put application");
out:
    free(buf);
    return rc;
}

int store_app_insert(struct store_txn *txn, const struct store_application *app)
{
    int rc = store_txn_writable(txn);
    if (rc)
        return rc;
    if (!app_valid(app))
        return STORE_EINVAL;
    return app_put(txn, app, MDB_NOOVERWRITE);
}

int store_app_update(struct store_txn *txn, const struct store_application *app)
{
    MDB_val key, data;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!app_valid(app))
        return STORE_EINVAL;
    app_key(app->id, &key);
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_APPLICATIONS], &key, &data),
                       "get application");
    if (rc)
        return rc;
    return app_put(txn, app, 0);
}

int store_app_get(struct store_txn *txn, const char *id, struct store_application *out)
{
    MDB_val key, data;
    int rc;

    if (!out)
        return STORE_EINVAL;
    memset(out, 0, sizeof *out);
    if (!txn || !id_valid(id))
        return STORE_EINVAL;
    app_key(id, &key);
    rc = store_mdb_err(txn, mdb_get(txn->txn, txn->st->dbi[DB_APPLICATIONS], &key, &data),
                       "get application");
    if (rc)
        return rc;
    return app_decode(&key, &data, out);
}

int store_app_delete(struct store_txn *txn, const char *id)
{
    MDB_val key;
    int rc = store_txn_writable(txn);

    if (rc)
        return rc;
    if (!id_valid(id))
        return STORE_EINVAL;
    app_key(id, &key);
    return store_mdb_err(txn, mdb_del(txn->txn, txn->st->dbi[DB_APPLICATIONS], &key, NULL),
                         "delete application");
}

static int app_decode_any(const MDB_val *key, const MDB_val *data, void *out)
{
    return app_decode(key, data, out);
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
