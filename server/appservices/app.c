/* What every call of the App Services client API needs: its application, whether the
 * application allows the provider, the request's body and the device it names. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/appservices/appservices.h"

struct find {
    const char *name;
    struct store_application *app;
};

static int find_txn(struct store_txn *txn, void *arg)
{
    struct find *f = arg;
    char id[STORE_ID_MAX];
    int rc = store_app_find_services_id(txn, f->name, id);
    if (rc == STORE_NOTFOUND && strncmp(f->name, "app_", 4) == 0 && strlen(f->name) < sizeof id)
        snprintf(id, sizeof id, "%s", f->name); /* an application without an App Services id */
    else if (rc != STORE_OK)
        return rc;
    return store_app_get(txn, id, f->app);
}

int srv_as_app_or_error(struct srv_request *rq, struct store_application **app)
{
    char name[STORE_APP_SERVICES_ID_MAX];
    struct find f = {name, NULL};
    int rc = STORE_NOTFOUND;
    *app = NULL;
    srv_rq_param(rq, 0, name, sizeof name);
    if (!(f.app = calloc(1, sizeof *f.app))) {
        srv_reply_app_error(rq, 500, "InternalServerError", "out of memory");
        return SRV_ERESPONDED;
    }
    if (name[0])
        rc = store_read(srv_rq_ctx(rq)->store, find_txn, &f);
    if (rc == STORE_NOTFOUND || rc == STORE_EINVAL) {
        srv_reply_app_error(rq, 404, "AppNotFound", "cannot find app using Client App ID '%s'",
                            name);
        goto refused;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the application cannot be read now");
        goto refused;
    }
    if (!srv_cors_client_or_error(rq, f.app->id))
        goto refused;
    srv_rq_log_client(rq, f.app->id);
    *app = f.app;
    return SRV_OK;
refused:
    free(f.app);
    return SRV_ERESPONDED;
}

static const struct {
    const char *provider, *grant;
} providers[] = {
    {"anon-user", "urn:idpd:grant-type:anonymous"},
    {"local-userpass", "password"},
    {"api-key", "urn:idpd:grant-type:api-key"},
};

int srv_as_provider_enabled(const struct store_application *app, const char *provider)
{
    for (size_t i = 0; i < sizeof providers / sizeof providers[0]; i++) {
        if (strcmp(providers[i].provider, provider) != 0)
            continue;
        for (size_t g = 0; g < app->ngrants; g++)
            if (strcmp(app->grants[g], providers[i].grant) == 0)
                return 1;
    }
    return 0;
}

#define FIELDS_MAX 8

int srv_as_body_or_error(struct srv_request *rq, const char *const *fields, json_t **out)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    const char *all[FIELDS_MAX + 3] = {"options", "provider"};
    size_t n = 2, len = 0;
    char why[256];
    const char *body = srv_rq_body(rq, &len);
    const char *type = srv_rq_header(rq, "Content-Type");
    *out = NULL;
    for (size_t i = 0; fields && fields[i] && n < FIELDS_MAX + 2; i++)
        all[n++] = fields[i];
    if (len == 0) { /* realm-core sends its JSON type with every empty body */
        *out = json_object();
        return *out ? SRV_OK : SRV_ENOMEM;
    }
    if (!type || strncasecmp(type, "application/json", 16) != 0 ||
        (type[16] != '\0' && type[16] != ';' && type[16] != ' ')) {
        srv_reply_app_error(rq, 415, "BadRequest", "the body must be application/json");
        return SRV_ERESPONDED;
    }
    if (srv_json_parse(body, len, all, (size_t)cfg->json_depth_max, (size_t)cfg->json_string_max,
                       out, why, sizeof why) != SRV_OK) {
        srv_reply_app_error(rq, 400, "BadRequest", "%s", why);
        return SRV_ERESPONDED;
    }
    json_t *options = json_object_get(*out, "options");
    json_t *provider = json_object_get(*out, "provider");
    if ((options && !json_is_object(options)) || (provider && !json_is_string(provider))) {
        json_decref(*out);
        *out = NULL;
        srv_reply_app_error(rq, 400, "BadRequest",
                            "options must be an object and provider a string");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

int srv_as_device_id(const json_t *body, char out[STORE_DEVICE_ID_MAX])
{
    json_t *device = json_object_get(json_object_get(body, "options"), "device");
    const char *oid =
        json_string_value(json_object_get(json_object_get(device, "deviceId"), "$oid"));
    if (srv_device_id_valid(oid)) {
        memcpy(out, oid, STORE_DEVICE_ID_MAX);
        return SRV_OK;
    }
    return srv_device_id_new(out);
}
