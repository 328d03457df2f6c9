/* /admin/v1/applications…: the OAuth clients of SDKs and apps. idp:admin changes them; every
 * admin role reads them. Every change is one write transaction with its audit event. A
 * confidential application's secret is made at creation (Argon2 on a worker) and answered once;
 * the type is fixed after creation. What a valid application holds is checked by applications.c,
 * which the command line shares. */
#define LOG_MODULE "admin"

#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

/* n strings kept in slots of stride bytes from items */
static json_t *strings_json(const char *items, size_t stride, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_string(items + i * stride));
    return arr;
}

/* The application as the API shows it: never its secret's hash or hint. */
static json_t *app_json(struct store_application *a)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:b, s:o, s:s*, s:o, s:I, s:I}", "id",
                     a->id, "client_id", a->id, "name", a->name, "type",
                     a->type == STORE_APP_CONFIDENTIAL ? "confidential" : "public", "grant_types",
                     strings_json(a->grants[0], STORE_GRANT_MAX, a->ngrants), "redirect_uris",
                     strings_json(a->redirect_uris[0], STORE_URI_MAX, a->nredirect_uris),
                     "allowed_origins", strings_json(a->origins[0], STORE_ORIGIN_MAX, a->norigins),
                     "first_party", a->first_party, "post_logout_redirect_uris",
                     strings_json(a->post_logout_uris[0], STORE_URI_MAX, a->npost_logout_uris),
                     "app_services_id", a->app_services_id[0] ? a->app_services_id : NULL,
                     "identity_providers", strings_json(a->idps[0], STORE_IDP_NAME_MAX, a->nidps),
                     "created_at", (json_int_t)a->created_at, "updated_at",
                     (json_int_t)a->updated_at);
}

/* ---- list and get ---- */

struct list_args {
    struct srv_admin_page page;
    struct store_application *items;
};

static int list_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct list_args *a = arg;
    free(a->items);
    a->items = NULL;
    page->n = 0;
    int rc = store_app_list(txn, page->after, page->limit, &a->items, &page->n);
    snprintf(page->next, sizeof page->next, "%s",
             rc == STORE_OK && page->n == page->limit ? a->items[page->n - 1].id : "");
    return rc;
}

static json_t *list_item(const void *arg, size_t i)
{
    const struct list_args *a = arg;
    return app_json(&a->items[i]);
}

static const struct srv_admin_list apps = {NULL, "application list", list_walk, list_item};

void srv_admin_apps_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct list_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &apps, &a.page) != SRV_OK)
        return;
    if (srv_admin_list_walk_or_error(rq, &apps, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &apps, &a.page, &a);
    free(a.items);
}

struct get_args {
    const char *id;
    struct store_application app;
};

static int get_txn(struct store_txn *txn, void *arg)
{
    struct get_args *g = arg;
    return store_app_get(txn, g->id, &g->app);
}

void srv_admin_apps_get(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    struct get_args *g = NULL;
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    if (!(g = calloc(1, sizeof *g))) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    g->id = id;
    if (srv_admin_read_or_error(rq, "application", get_txn, g) == SRV_OK)
        srv_reply_json(rq, 200, app_json(&g->app), NULL);
    crypto_wipe(g, sizeof *g);
    free(g);
}

/* ---- create and patch ---- */

struct edit {
    struct srv_admin_caller caller;
    json_t *body;
    struct store_application in;  /* create: the new record; patch: the members sent */
    struct store_application app; /* patch: the record as stored after the change */
    int set_name, set_grants, set_uris, set_origins, set_first_party, set_logout_uris;
    int set_app_services_id, set_idps;
    char missing_idp[STORE_IDP_NAME_MAX]; /* a provider named that does not exist */
    int create;
    int hashed; /* create, confidential: the secret was made */
    char secret[SRV_SECRET_LEN];
    struct srv_request *rq;
};

static void edit_free(void *state)
{
    struct edit *e = state;
    if (!e)
        return;
    json_decref(e->body);
    crypto_wipe(e, sizeof *e);
    free(e);
}

/* Reads member name as an array of strings into one of e->in's lists. *set = 1 when present
 * (absent or null: left unset). */
static int list_or_error(struct srv_request *rq, struct edit *e, const char *name,
                         enum srv_app_list list, int *set)
{
    json_t *arr = json_object_get(e->body, name), *v;
    size_t i;
    char why[200];
    *set = 0;
    if (!arr || json_is_null(arr))
        return SRV_OK;
    if (!json_is_array(arr)) {
        srv_reply_problem(rq, 400, "%s must be an array of strings", name);
        return SRV_ERESPONDED;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v) || strlen(json_string_value(v)) != json_string_length(v)) {
            srv_reply_problem(rq, 400, "%s[%zu] must be a string", name, i);
            return SRV_ERESPONDED;
        }
        if (!srv_app_add(&e->in, list, json_string_value(v), why, sizeof why)) {
            srv_reply_problem(rq, 400, "%s[%zu] is %s", name, i, why);
            return SRV_ERESPONDED;
        }
    }
    *set = 1;
    return SRV_OK;
}

/* "identity_providers": the names of the providers its users may sign in with (each must exist
 * when the change is written: providers_exist). */
static int idps_or_error(struct srv_request *rq, struct edit *e)
{
    json_t *arr = json_object_get(e->body, "identity_providers"), *v;
    size_t i;
    if (!arr || json_is_null(arr))
        return SRV_OK;
    if (!json_is_array(arr) || json_array_size(arr) > STORE_APP_IDPS_MAX) {
        srv_reply_problem(rq, 400, "identity_providers must be an array of at most %d names",
                          STORE_APP_IDPS_MAX);
        return SRV_ERESPONDED;
    }
    json_array_foreach(arr, i, v)
    {
        const char *name = json_string_value(v);
        size_t k = 0;
        if (!name || json_string_length(v) == 0 || json_string_length(v) >= STORE_IDP_NAME_MAX ||
            strlen(name) != json_string_length(v)) {
            srv_reply_problem(rq, 400, "identity_providers[%zu] must be a provider's name", i);
            return SRV_ERESPONDED;
        }
        while (k < e->in.nidps && strcmp(e->in.idps[k], name) != 0)
            k++;
        if (k == e->in.nidps) /* named twice: once */
            memcpy(e->in.idps[e->in.nidps++], name, json_string_length(v) + 1);
    }
    e->set_idps = 1;
    return SRV_OK;
}

#define NO_SUCH_IDP 1003 /* a transaction met a provider name that is not there */

/* Every provider app names exists; NO_SUCH_IDP (the name in e->missing_idp) when one does not. */
static int providers_exist(struct store_txn *txn, struct edit *e,
                           const struct store_application *app)
{
    char id[STORE_ID_MAX];
    for (size_t i = 0; i < app->nidps; i++) {
        int rc = store_idp_find_name(txn, app->idps[i], id);
        if (rc == STORE_NOTFOUND || rc == STORE_EINVAL) {
            memcpy(e->missing_idp, app->idps[i], sizeof e->missing_idp);
            return NO_SUCH_IDP;
        }
        if (rc != STORE_OK)
            return rc;
    }
    return STORE_OK;
}

/* Answers a failed create or patch. */
static void edit_failed(struct srv_request *rq, const struct edit *e, int rc)
{
    if (rc == NO_SUCH_IDP)
        srv_reply_problem(rq, 400, "identity_providers: there is no identity provider named %s",
                          e->missing_idp);
    else
        srv_reply_store_error(rq, rc, "application");
}

static int parse_edit_or_error(struct srv_request *rq, struct edit *e)
{
    static const char *const fields[] = {"name",
                                         "type",
                                         "grant_types",
                                         "redirect_uris",
                                         "allowed_origins",
                                         "first_party",
                                         "post_logout_redirect_uris",
                                         "app_services_id",
                                         "identity_providers",
                                         NULL};
    const char *name = NULL, *type = NULL;
    char why[200];
    if (srv_json_parse_or_error(rq, fields, &e->body) != SRV_OK ||
        srv_json_string_or_error(rq, e->body, "name", e->create, STORE_NAME_MAX - 1, &name) !=
            SRV_OK)
        return SRV_ERESPONDED;
    if (!e->create && json_object_get(e->body, "type")) {
        srv_reply_problem(rq, 400, "type is fixed when the application is created");
        return SRV_ERESPONDED;
    }
    if (srv_json_string_or_error(rq, e->body, "type", 0, 32, &type) != SRV_OK)
        return SRV_ERESPONDED;
    if (type && strcmp(type, "public") != 0 && strcmp(type, "confidential") != 0) {
        srv_reply_problem(rq, 400, "type must be public or confidential");
        return SRV_ERESPONDED;
    }
    e->in.type =
        type && strcmp(type, "confidential") == 0 ? STORE_APP_CONFIDENTIAL : STORE_APP_PUBLIC;
    if (name && !srv_name_valid(name)) {
        srv_reply_problem(rq, 400, "name must be 1 to 256 bytes of text");
        return SRV_ERESPONDED;
    }
    if (name) {
        snprintf(e->in.name, sizeof e->in.name, "%s", name);
        e->set_name = 1;
    }
    if (list_or_error(rq, e, "grant_types", SRV_APP_GRANTS, &e->set_grants) != SRV_OK ||
        list_or_error(rq, e, "redirect_uris", SRV_APP_REDIRECT_URIS, &e->set_uris) != SRV_OK ||
        list_or_error(rq, e, "allowed_origins", SRV_APP_ORIGINS, &e->set_origins) != SRV_OK ||
        list_or_error(rq, e, "post_logout_redirect_uris", SRV_APP_POST_LOGOUT_URIS,
                      &e->set_logout_uris) != SRV_OK)
        return SRV_ERESPONDED;
    json_t *fp = json_object_get(e->body, "first_party");
    if (fp && !json_is_null(fp)) {
        if (!json_is_boolean(fp)) {
            srv_reply_problem(rq, 400, "first_party must be true or false");
            return SRV_ERESPONDED;
        }
        e->in.first_party = json_is_true(fp);
        e->set_first_party = 1;
    }
    json_t *asid = json_object_get(e->body, "app_services_id");
    if (asid) { /* null clears it */
        const char *v = json_string_value(asid);
        if (!json_is_null(asid) && (!v || !srv_app_services_id_valid(v))) {
            srv_reply_problem(rq, 400,
                              "app_services_id must be 1 to 64 ASCII letters, digits, '-', '_' "
                              "or '.', or null");
            return SRV_ERESPONDED;
        }
        snprintf(e->in.app_services_id, sizeof e->in.app_services_id, "%s", v ? v : "");
        e->set_app_services_id = 1;
    }
    if (idps_or_error(rq, e) != SRV_OK)
        return SRV_ERESPONDED;
    if ((e->create || e->set_grants) && e->in.ngrants == 0) {
        srv_reply_problem(rq, 400, "grant_types must be a non-empty array of grant types");
        return SRV_ERESPONDED;
    }
    if (e->create && !srv_app_check(&e->in, why, sizeof why)) {
        srv_reply_problem(rq, 400, "%s", why);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

static int create_txn(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    int rc = providers_exist(txn, e, &e->in);
    if (rc == STORE_OK)
        rc = store_app_insert(txn, &e->in);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.application.create", e->caller.id, e->in.id,
                       srv_rq_client_ip(e->rq), 1,
                       e->in.type == STORE_APP_CONFIDENTIAL ? "confidential" : "public");
    return rc;
}

static void secret_work(struct srv_request *rq)
{
    struct edit *e = srv_rq_state(rq);
    e->hashed = srv_app_secret_new(&srv_rq_ctx(rq)->cfg->argon2, &e->in, e->secret) == SRV_OK;
}

static void create_store(struct srv_request *rq)
{
    static const char *const no_store[] = {"Cache-Control", "no-store", NULL};
    struct edit *e = srv_rq_state(rq);
    e->rq = rq;
    if (e->in.type == STORE_APP_CONFIDENTIAL && !e->hashed) {
        srv_reply_problem(rq, 500, "the secret could not be made");
        return;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, create_txn, e);
    if (rc != STORE_OK) {
        edit_failed(rq, e, rc);
        return;
    }
    json_t *j = app_json(&e->in);
    if (j && e->in.type == STORE_APP_CONFIDENTIAL)
        json_object_set_new(j, "client_secret", json_string(e->secret));
    srv_reply_json(rq, 201, j, no_store);
}

void srv_admin_apps_create(struct srv_request *rq)
{
    struct edit *e = srv_admin_state_new_or_error(rq, sizeof *e, edit_free);
    if (!e)
        return;
    e->create = 1;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &e->caller) != SRV_OK ||
        parse_edit_or_error(rq, e) != SRV_OK)
        return;
    if (crypto_id_new("app", e->in.id, sizeof e->in.id) != CRYPTO_OK) {
        srv_reply_problem(rq, 500, "no id could be made");
        return;
    }
    e->in.created_at = e->in.updated_at = srv_now();
    if (e->in.type == STORE_APP_CONFIDENTIAL)
        srv_defer(rq, secret_work, create_store);
    else
        create_store(rq);
}

/* Applies the members sent to the stored record; the detail names what changed. */
static int patch_txn(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_application *a = &e->app;
    char detail[128] = "";
    int rc = store_app_get(txn, e->in.id, a);
    if (rc != STORE_OK)
        return rc == STORE_EINVAL ? STORE_NOTFOUND : rc;
    if (e->set_name)
        memcpy(a->name, e->in.name, sizeof a->name);
    if (e->set_grants) {
        memcpy(a->grants, e->in.grants, sizeof a->grants);
        a->ngrants = e->in.ngrants;
    }
    if (e->set_uris) {
        memcpy(a->redirect_uris, e->in.redirect_uris, sizeof a->redirect_uris);
        a->nredirect_uris = e->in.nredirect_uris;
    }
    if (e->set_origins) {
        memcpy(a->origins, e->in.origins, sizeof a->origins);
        a->norigins = e->in.norigins;
    }
    if (e->set_first_party)
        a->first_party = e->in.first_party;
    if (e->set_app_services_id)
        memcpy(a->app_services_id, e->in.app_services_id, sizeof a->app_services_id);
    if (e->set_logout_uris) {
        memcpy(a->post_logout_uris, e->in.post_logout_uris, sizeof a->post_logout_uris);
        a->npost_logout_uris = e->in.npost_logout_uris;
    }
    if (e->set_idps) {
        memcpy(a->idps, e->in.idps, sizeof a->idps);
        a->nidps = e->in.nidps;
        if ((rc = providers_exist(txn, e, a)) != STORE_OK)
            return rc;
    }
    a->updated_at = srv_now();
    snprintf(detail, sizeof detail, "%s%s%s%s%s%s%s%s", e->set_name ? " name" : "",
             e->set_grants ? " grant_types" : "", e->set_uris ? " redirect_uris" : "",
             e->set_origins ? " allowed_origins" : "", e->set_first_party ? " first_party" : "",
             e->set_logout_uris ? " post_logout_redirect_uris" : "",
             e->set_app_services_id ? " app_services_id" : "",
             e->set_idps ? " identity_providers" : "");
    rc = store_app_update(txn, a);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.application.update", e->caller.id, a->id,
                       srv_rq_client_ip(e->rq), 1, detail[0] ? detail + 1 : "nothing");
    return rc;
}

void srv_admin_apps_patch(struct srv_request *rq)
{
    struct edit *e = srv_admin_state_new_or_error(rq, sizeof *e, edit_free);
    if (!e)
        return;
    e->rq = rq;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &e->caller) != SRV_OK ||
        parse_edit_or_error(rq, e) != SRV_OK)
        return;
    srv_rq_param(rq, 0, e->in.id, sizeof e->in.id);
    int rc = store_write(srv_rq_ctx(rq)->store, patch_txn, e);
    if (rc != STORE_OK)
        edit_failed(rq, e, rc);
    else
        srv_reply_json(rq, 200, app_json(&e->app), NULL);
}

/* ---- delete ---- */

struct delete_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
};

static int delete_txn(struct store_txn *txn, void *arg)
{
    struct delete_args *a = arg;
    int rc = store_app_delete(txn, a->id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.application.delete", a->caller->id, a->id,
                       srv_rq_client_ip(a->rq), 1, NULL);
    return rc;
}

void srv_admin_apps_delete(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct delete_args a = {rq, &caller, id};
    if (srv_admin_write_or_error(rq, "application", delete_txn, &a) == SRV_OK)
        srv_reply(rq, 204, NULL, "", 0, NULL);
}
