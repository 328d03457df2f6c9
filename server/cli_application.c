/* idpd application create --name N --grant G… [--redirect-uri U]… [--origin O]…
 *                          [--type public|confidential] [--data DIR]
 * Applications are the OAuth clients of SDKs and apps. A public application (the default: an SDK
 * cannot keep a secret) names itself with its client_id alone; a confidential one gets a secret,
 * shown once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/internal.h"

static const char *const known_grants[] = {"password", "refresh_token",
                                           "urn:idpd:grant-type:anonymous", NULL};

static void app_usage(FILE *out)
{
    fprintf(out, "usage: idpd application create --name NAME --grant GRANT... "
                 "[--redirect-uri URI]... [--origin ORIGIN]... [--type public|confidential] "
                 "[options]\n"
                 "GRANT: password, refresh_token, urn:idpd:grant-type:anonymous.\n"
                 "Prints {\"client_id\"} (and \"client_secret\", once, for a confidential "
                 "application).\n");
    srv_config_usage(out, SRV_CFG_DATA);
}

static int insert_txn(struct store_txn *txn, void *arg)
{
    return store_app_insert(txn, arg);
}

/* Adds v to list[*n] (de-duplicated); 0 and a message when the list is full or v too long. */
static int add_unique(char (*list)[STORE_URI_MAX], size_t *n, size_t max, size_t width,
                      const char *v, const char *what)
{
    for (size_t i = 0; i < *n; i++)
        if (strcmp(list[i], v) == 0)
            return 1;
    if (*n == max || strlen(v) >= width || !srv_utf8_valid(v, strlen(v)) || !*v) {
        fprintf(stderr, "idpd application: at most %zu %s of at most %zu bytes each\n", max, what,
                width - 1);
        return 0;
    }
    memcpy(list[(*n)++], v, strlen(v) + 1);
    return 1;
}

static int create_app(const struct srv_config *cfg, int argc, char **argv)
{
    struct store_application *app = calloc(1, sizeof *app);
    struct srv_ctx ctx = {0};
    char secret[SRV_SECRET_LEN] = "";
    const char *name = NULL;
    char grants[STORE_GRANTS_MAX][STORE_URI_MAX];
    size_t ngrants = 0;
    int rc = SRV_EXIT_USAGE;
    if (!app)
        return SRV_EXIT_RUNTIME;
    for (int i = 2; i < argc; i++) {
        const char *flag = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(flag, "--help") == 0) {
            app_usage(stdout);
            rc = SRV_EXIT_OK;
            goto out;
        }
        if (!v || strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "idpd application: unexpected argument \"%s\"\n", flag);
            app_usage(stderr);
            goto out;
        }
        i++;
        if (strcmp(flag, "--name") == 0) {
            name = v;
        } else if (strcmp(flag, "--type") == 0) {
            if (strcmp(v, "public") != 0 && strcmp(v, "confidential") != 0) {
                fprintf(stderr, "idpd application: --type is public or confidential\n");
                goto out;
            }
            app->type = strcmp(v, "confidential") == 0 ? STORE_APP_CONFIDENTIAL : STORE_APP_PUBLIC;
        } else if (strcmp(flag, "--grant") == 0) {
            size_t k = 0;
            while (known_grants[k] && strcmp(known_grants[k], v) != 0)
                k++;
            if (!known_grants[k]) {
                fprintf(stderr, "idpd application: unknown grant \"%s\"\n", v);
                goto out;
            }
            if (!add_unique(grants, &ngrants, STORE_GRANTS_MAX, STORE_GRANT_MAX, v, "grants"))
                goto out;
        } else if (strcmp(flag, "--redirect-uri") == 0) {
            if (!add_unique(app->redirect_uris, &app->nredirect_uris, STORE_URIS_MAX, STORE_URI_MAX,
                            v, "redirect URIs"))
                goto out;
        } else if (strcmp(flag, "--origin") == 0) {
            if (!add_unique(app->origins, &app->norigins, STORE_URIS_MAX, STORE_URI_MAX, v,
                            "origins"))
                goto out;
        } else {
            fprintf(stderr, "idpd application: unknown option \"%s\"\n", flag);
            app_usage(stderr);
            goto out;
        }
    }
    if (!name || !srv_name_valid(name)) {
        fprintf(stderr, "idpd application: --name is required (1..256 bytes of UTF-8 text)\n");
        goto out;
    }
    if (ngrants == 0) {
        fprintf(stderr, "idpd application: at least one --grant is required\n");
        goto out;
    }
    for (size_t i = 0; i < ngrants; i++)
        memcpy(app->grants[i], grants[i], STORE_GRANT_MAX);
    app->ngrants = ngrants;
    snprintf(app->name, sizeof app->name, "%s", name);
    rc = SRV_EXIT_RUNTIME;
    if (srv_ctx_open(&ctx, cfg) != SRV_OK || crypto_id_new("app", app->id, sizeof app->id))
        goto out;
    app->created_at = app->updated_at = srv_now();
    if (app->type == STORE_APP_CONFIDENTIAL) {
        struct store_secret rec;
        /* Same shape and hashing as a service account's secret; an application has one. */
        if (srv_secret_new(&cfg->argon2, app->id, SRV_SECRET_HOURS_MAX, &rec, secret) != SRV_OK)
            goto out;
        memcpy(app->phc, rec.phc, sizeof app->phc);
        memcpy(app->hint, rec.hint, sizeof app->hint);
        crypto_wipe(&rec, sizeof rec);
    }
    int src = store_write(ctx.store, insert_txn, app);
    if (src != STORE_OK) {
        fprintf(stderr, "idpd application: cannot store the application: %s\n",
                store_strerror(src));
        goto out;
    }
    json_t *o = json_pack("{s:s}", "client_id", app->id);
    if (o && secret[0])
        json_object_set_new(o, "client_secret", json_string(secret));
    if (!o || json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        json_decref(o);
        goto out;
    }
    json_decref(o);
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? SRV_EXIT_OK : SRV_EXIT_RUNTIME;
out:
    crypto_wipe(secret, sizeof secret);
    srv_ctx_close(&ctx);
    free(app);
    return rc;
}

int srv_cmd_application(int argc, char **argv)
{
    struct srv_config cfg;
    if (srv_config_load(&cfg, SRV_CFG_DATA, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc >= 2 && strcmp(argv[1], "create") == 0)
        return create_app(&cfg, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        app_usage(stdout);
        return SRV_EXIT_OK;
    }
    app_usage(stderr);
    return SRV_EXIT_USAGE;
}
