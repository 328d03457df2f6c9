/* idpd service-account create --name N [--role R]… [--description D]
 *                              [--secret-expires-in-hours H] [--data DIR]
 * Works on a data folder a running server uses (LMDB allows several processes). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void sa_usage(FILE *out)
{
    fprintf(out, "usage: idpd service-account create --name NAME [--role ROLE]... "
                 "[--description TEXT] [--secret-expires-in-hours H] [options]\n"
                 "Prints {\"client_id\",\"client_secret\",\"client_secret_expires_at\"}; the "
                 "secret is shown this once.\n");
    srv_config_usage(out, SRV_CFG_DATA);
}

struct create {
    struct store_service_account sa;
    struct store_secret secret;
};

static int create_txn(struct store_txn *txn, void *arg)
{
    struct create *c = arg;
    int rc = store_sa_insert(txn, &c->sa);
    return rc ? rc : store_secret_insert(txn, &c->secret);
}

/* The value after argv[*i], or NULL (and a message) when there is none. */
static const char *flag_value(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc) {
        fprintf(stderr, "idpd service-account: %s needs a value\n", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int create_account(const struct srv_config *cfg, int argc, char **argv)
{
    struct create c = {0};
    struct srv_ctx ctx = {0};
    char secret[SRV_SECRET_LEN] = "";
    const char *name = NULL, *description = "";
    long hours = SRV_SECRET_HOURS_DEFAULT;
    int rc = SRV_EXIT_USAGE;

    c.sa.roles = calloc(STORE_ROLES_MAX, sizeof *c.sa.roles);
    if (!c.sa.roles)
        return SRV_EXIT_RUNTIME;
    for (int i = 2; i < argc; i++) {
        const char *v;
        if (strcmp(argv[i], "--help") == 0) {
            sa_usage(stdout);
            rc = SRV_EXIT_OK;
            goto out;
        } else if (strcmp(argv[i], "--name") == 0) {
            if (!(name = flag_value(argc, argv, &i)))
                goto out;
        } else if (strcmp(argv[i], "--description") == 0) {
            if (!(description = flag_value(argc, argv, &i)))
                goto out;
        } else if (strcmp(argv[i], "--role") == 0) {
            if (!(v = flag_value(argc, argv, &i)))
                goto out;
            if (!srv_role_valid(v)) {
                fprintf(stderr,
                        "idpd service-account: invalid role \"%s\" (NAME or "
                        "NAME@scope, printable, no spaces, at most 128 bytes)\n",
                        v);
                goto out;
            }
            int dup = 0;
            for (size_t k = 0; k < c.sa.nroles; k++)
                dup |= strcmp(c.sa.roles[k], v) == 0;
            if (!dup && c.sa.nroles == STORE_ROLES_MAX) {
                fprintf(stderr, "idpd service-account: at most %d roles\n", STORE_ROLES_MAX);
                goto out;
            }
            if (!dup)
                snprintf(c.sa.roles[c.sa.nroles++], STORE_ROLE_MAX, "%s", v);
        } else if (strcmp(argv[i], "--secret-expires-in-hours") == 0) {
            char *end = NULL;
            if (!(v = flag_value(argc, argv, &i)))
                goto out;
            errno = 0;
            hours = strtol(v, &end, 10);
            if (errno || *end || end == v || hours < SRV_SECRET_HOURS_MIN ||
                hours > SRV_SECRET_HOURS_MAX) {
                fprintf(stderr, "idpd service-account: --secret-expires-in-hours must be %d..%d\n",
                        SRV_SECRET_HOURS_MIN, SRV_SECRET_HOURS_MAX);
                goto out;
            }
        } else {
            fprintf(stderr, "idpd service-account: unknown argument \"%s\"\n", argv[i]);
            sa_usage(stderr);
            goto out;
        }
    }
    if (!name || !srv_name_valid(name)) {
        fprintf(stderr, "idpd service-account: --name is required (1..256 bytes of UTF-8 text)\n");
        goto out;
    }
    if (strlen(description) >= STORE_TEXT_MAX ||
        !srv_utf8_valid(description, strlen(description))) {
        fprintf(stderr,
                "idpd service-account: --description must be at most 1024 bytes of UTF-8\n");
        goto out;
    }
    rc = SRV_EXIT_RUNTIME;
    if (srv_ctx_open(&ctx, cfg) != SRV_OK)
        goto out;
    if (crypto_id_new("sa", c.sa.id, sizeof c.sa.id) != CRYPTO_OK)
        goto out;
    snprintf(c.sa.name, sizeof c.sa.name, "%s", name);
    snprintf(c.sa.description, sizeof c.sa.description, "%s", description);
    c.sa.created_at = c.sa.updated_at = srv_now();
    if (srv_secret_new(&cfg->argon2, c.sa.id, hours, &c.secret, secret) != SRV_OK) {
        fprintf(stderr, "idpd service-account: cannot make a secret\n");
        goto out;
    }
    int src = store_write(ctx.store, create_txn, &c);
    if (src != STORE_OK) {
        fprintf(stderr, "idpd service-account: cannot store the account: %s\n",
                store_strerror(src));
        goto out;
    }
    json_t *outj = json_pack("{s:s, s:s, s:I}", "client_id", c.sa.id, "client_secret", secret,
                             "client_secret_expires_at", (json_int_t)c.secret.expires_at);
    if (!outj || json_dumpf(outj, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) != 0) {
        json_decref(outj);
        goto out;
    }
    json_decref(outj);
    fputc('\n', stdout);
    rc = fflush(stdout) == 0 ? SRV_EXIT_OK : SRV_EXIT_RUNTIME;
out:
    crypto_wipe(secret, sizeof secret);
    store_service_account_clear(&c.sa);
    srv_ctx_close(&ctx);
    return rc;
}

int srv_cmd_service_account(int argc, char **argv)
{
    struct srv_config cfg;
    if (srv_config_load(&cfg, SRV_CFG_DATA, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc >= 2 && strcmp(argv[1], "create") == 0)
        return create_account(&cfg, argc, argv);
    if (argc >= 2 && strcmp(argv[1], "--help") == 0) {
        sa_usage(stdout);
        return SRV_EXIT_OK;
    }
    sa_usage(stderr);
    return SRV_EXIT_USAGE;
}
