/* idpd application create --name N --grant G… [--redirect-uri U]… [--origin O]…
 *                          [--post-logout-redirect-uri U]… [--first-party] [--app-services-id ID]
 *                          [--type public|confidential] [--data DIR]
 * Applications are the OAuth clients of SDKs and apps. A public application (the default: an SDK
 * cannot keep a secret) names itself with its client_id alone; a confidential one gets a secret,
 * shown once. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void app_usage(FILE *out)
{
    fprintf(out, "usage: idpd application create --name NAME --grant GRANT... "
                 "[--redirect-uri URI]... [--origin ORIGIN]... [--post-logout-redirect-uri URI]... "
                 "[--first-party] [--app-services-id ID] [--type public|confidential] [options]\n"
                 "GRANT: authorization_code, urn:ietf:params:oauth:grant-type:device_code, "
                 "password, refresh_token, urn:idpd:grant-type:anonymous, "
                 "urn:idpd:grant-type:api-key.\n"
                 "--app-services-id: the app id its Atlas App Services SDKs use "
                 "(/api/client/v2.0).\n"
                 "--first-party: the platform's own application; its users see no consent page.\n"
                 "Prints {\"client_id\"} (and \"client_secret\", once, for a confidential "
                 "application).\n");
    srv_config_usage(out, SRV_CFG_DATA);
}

static int insert_txn(struct store_txn *txn, void *arg)
{
    return store_app_insert(txn, arg);
}

static int create_app(const struct srv_config *cfg, int argc, char **argv)
{
    struct store_application *app = calloc(1, sizeof *app);
    struct srv_ctx ctx = {0};
    char secret[SRV_SECRET_LEN] = "", why[256];
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
        if (strcmp(flag, "--first-party") == 0) {
            app->first_party = 1;
            continue;
        }
        if (!v || strncmp(flag, "--", 2) != 0) {
            fprintf(stderr, "idpd application: unexpected argument \"%s\"\n", flag);
            app_usage(stderr);
            goto out;
        }
        i++;
        int added = 1;
        if (strcmp(flag, "--name") == 0) {
            if (strlen(v) >= sizeof app->name) {
                fprintf(stderr, "idpd application: --name is at most 256 bytes\n");
                goto out;
            }
            snprintf(app->name, sizeof app->name, "%s", v);
        } else if (strcmp(flag, "--type") == 0) {
            if (strcmp(v, "public") != 0 && strcmp(v, "confidential") != 0) {
                fprintf(stderr, "idpd application: --type is public or confidential\n");
                goto out;
            }
            app->type = strcmp(v, "confidential") == 0 ? STORE_APP_CONFIDENTIAL : STORE_APP_PUBLIC;
        } else if (strcmp(flag, "--app-services-id") == 0) {
            if (!srv_app_services_id_valid(v)) {
                fprintf(stderr, "idpd application: --app-services-id is 1 to 64 ASCII letters, "
                                "digits, '-', '_' or '.'\n");
                goto out;
            }
            snprintf(app->app_services_id, sizeof app->app_services_id, "%s", v);
        } else if (strcmp(flag, "--grant") == 0) {
            added = srv_app_add(app, SRV_APP_GRANTS, v, why, sizeof why);
        } else if (strcmp(flag, "--redirect-uri") == 0) {
            added = srv_app_add(app, SRV_APP_REDIRECT_URIS, v, why, sizeof why);
        } else if (strcmp(flag, "--origin") == 0) {
            added = srv_app_add(app, SRV_APP_ORIGINS, v, why, sizeof why);
        } else if (strcmp(flag, "--post-logout-redirect-uri") == 0) {
            added = srv_app_add(app, SRV_APP_POST_LOGOUT_URIS, v, why, sizeof why);
        } else {
            fprintf(stderr, "idpd application: unknown option \"%s\"\n", flag);
            app_usage(stderr);
            goto out;
        }
        if (!added) {
            fprintf(stderr, "idpd application: %s \"%s\": %s\n", flag, v, why);
            goto out;
        }
    }
    if (!srv_app_check(app, why, sizeof why)) {
        fprintf(stderr, "idpd application: %s (--name NAME, --grant GRANT)\n", why);
        goto out;
    }
    rc = SRV_EXIT_RUNTIME;
    if (srv_ctx_open(&ctx, cfg) != SRV_OK || crypto_id_new("app", app->id, sizeof app->id))
        goto out;
    app->created_at = app->updated_at = srv_now();
    if (app->type == STORE_APP_CONFIDENTIAL &&
        srv_app_secret_new(&cfg->argon2, app, secret) != SRV_OK)
        goto out;
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
