/* idpd bootstrap-admin --email E [--name N] [--data DIR]   (password on stdin)
 * idpd keys rotate [--data DIR]
 * Both work while a server runs on the same folder: the server picks up rotated keys within
 * keys_refresh_interval seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void bootstrap_usage(FILE *out)
{
    fprintf(out, "usage: idpd bootstrap-admin --email EMAIL [--name NAME] [options] "
                 "< password\n"
                 "Creates the first user holding idp:admin; refuses when one exists.\n");
    srv_config_usage(out, SRV_CFG_DATA);
}

struct bootstrap {
    struct store_user user;
    struct store_identity identity;
    int admin_exists;
};

/* 1 in *exists when any user holds idp:admin, directly or through a team. */
static int admin_exists(struct store_txn *txn, int *exists)
{
    char after[STORE_ID_MAX] = "";
    *exists = 0;
    for (;;) {
        struct store_user *items = NULL;
        size_t n = 0;
        int rc = store_user_list(txn, after, 256, &items, &n);
        for (size_t i = 0; rc == STORE_OK && i < n && !*exists; i++) {
            char(*roles)[STORE_ROLE_MAX] = NULL;
            size_t nroles = 0;
            rc = srv_effective_roles(txn, "user", items[i].id, &roles, &nroles);
            for (size_t k = 0; rc == STORE_OK && k < nroles; k++)
                *exists |= strcmp(roles[k], "idp:admin") == 0;
            free(roles);
        }
        if (n)
            snprintf(after, sizeof after, "%s", items[n - 1].id);
        store_user_list_free(items, n);
        if (rc != STORE_OK || *exists || n < 256)
            return rc;
    }
}

static int bootstrap_txn(struct store_txn *txn, void *arg)
{
    struct bootstrap *b = arg;
    /* "no admin yet" is a walk over every user: two bootstraps at once (two nodes) must
     * collide on one row, and the second's rerun then finds the first's admin */
    int rc = store_meta_put(txn, "bootstrap_admin", 1);
    if (rc == STORE_OK)
        rc = admin_exists(txn, &b->admin_exists);
    if (rc != STORE_OK || b->admin_exists)
        return rc;
    rc = store_user_insert(txn, &b->user);
    if (rc == STORE_OK)
        rc = store_identity_insert(txn, &b->identity);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.bootstrap", "", b->user.id, "", 1,
                       "first idp:admin user, from the command line");
    return rc;
}

/* One line of stdin without its line end, into buf (cap bytes). NULL when there is none or it is
 * longer than a password may be; buf is wiped by the caller either way. */
static char *read_password(char *buf, size_t cap)
{
    if (!fgets(buf, (int)cap, stdin))
        return NULL;
    size_t len = strlen(buf);
    if (len == cap - 1 && buf[len - 1] != '\n')
        return NULL; /* too long: the rest is not read */
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        buf[--len] = '\0';
    return buf;
}

int srv_cmd_bootstrap_admin(int argc, char **argv)
{
    struct srv_config cfg;
    struct srv_ctx ctx = {0};
    struct bootstrap *b = NULL;
    const char *email = NULL, *name = NULL, *password;
    char pwbuf[SRV_PASSWORD_MAX + 3]; /* the password, its line end and the NUL */
    char key[STORE_EMAIL_MAX];        /* the email's key (srv_email_key) */
    int rc = SRV_EXIT_USAGE;
    if (srv_config_load(&cfg, SRV_CFG_DATA, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            bootstrap_usage(stdout);
            return SRV_EXIT_OK;
        } else if (strcmp(argv[i], "--email") == 0 && i + 1 < argc) {
            email = argv[++i];
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            name = argv[++i];
        } else {
            fprintf(stderr, "idpd bootstrap-admin: unexpected argument \"%s\"\n", argv[i]);
            bootstrap_usage(stderr);
            return SRV_EXIT_USAGE;
        }
    }
    if (!email) {
        fprintf(stderr, "idpd bootstrap-admin: --email is required and must be an address\n");
        return SRV_EXIT_USAGE;
    }
    enum srv_email_err erc = srv_email_key(email, key);
    if (erc != SRV_EMAIL_OK) {
        fprintf(stderr, "idpd bootstrap-admin: --email: %s\n", srv_email_strerror(erc));
        return erc == SRV_EMAIL_EINTERNAL ? SRV_EXIT_RUNTIME : SRV_EXIT_USAGE;
    }
    if (name && !srv_name_valid(name)) {
        fprintf(stderr, "idpd bootstrap-admin: --name must be 1..256 bytes of text\n");
        return SRV_EXIT_USAGE;
    }
    password = read_password(pwbuf, sizeof pwbuf);
    if (!password || !srv_password_valid(password)) {
        fprintf(stderr, "idpd bootstrap-admin: give the password (%d..%d bytes) on stdin\n",
                SRV_PASSWORD_MIN, SRV_PASSWORD_MAX);
        goto out;
    }
    rc = SRV_EXIT_RUNTIME;
    b = calloc(1, sizeof *b);
    if (!b || srv_ctx_open(&ctx, &cfg) != SRV_OK)
        goto out;
    b->user.roles = calloc(1, sizeof *b->user.roles);
    if (!b->user.roles || crypto_id_new("usr", b->user.id, sizeof b->user.id) != CRYPTO_OK ||
        crypto_id_new("idn", b->identity.id, sizeof b->identity.id) != CRYPTO_OK)
        goto out;
    snprintf(b->user.roles[0], STORE_ROLE_MAX, "idp:admin");
    b->user.nroles = 1;
    snprintf(b->user.email, sizeof b->user.email, "%s", email);
    memcpy(b->user.email_key, key, sizeof b->user.email_key);
    snprintf(b->user.name, sizeof b->user.name, "%s", name ? name : "");
    b->user.created_at = b->user.updated_at = b->identity.created_at = srv_now();
    memcpy(b->identity.user_id, b->user.id, sizeof b->identity.user_id);
    snprintf(b->identity.provider, sizeof b->identity.provider, "local-userpass");
    memcpy(b->identity.provider_id, key, sizeof b->identity.provider_id);
    if (crypto_password_hash(&cfg.argon2, password, strlen(password), b->identity.phc,
                             sizeof b->identity.phc) != CRYPTO_OK)
        goto out;
    int src = store_write(ctx.store, bootstrap_txn, b);
    if (src == STORE_OK && b->admin_exists) {
        fprintf(stderr, "idpd bootstrap-admin: an idp:admin user exists already; use the admin "
                        "API\n");
        goto out;
    }
    if (src != STORE_OK) {
        fprintf(stderr, "idpd bootstrap-admin: cannot create the user: %s\n",
                src == STORE_EXISTS ? "the email is taken" : store_strerror(src));
        goto out;
    }
    printf("{\"id\":\"%s\"}\n", b->user.id);
    rc = fflush(stdout) == 0 ? SRV_EXIT_OK : SRV_EXIT_RUNTIME;
out:
    crypto_wipe(pwbuf, sizeof pwbuf);
    if (b) {
        store_user_clear(&b->user);
        crypto_wipe(b, sizeof *b);
        free(b);
    }
    srv_ctx_close(&ctx);
    return rc;
}

int srv_cmd_keys(int argc, char **argv)
{
    struct srv_config cfg;
    struct srv_ctx ctx = {0};
    struct keys_info *items = NULL;
    char kid[KEYS_KID_MAX];
    size_t n = 0;
    int rc = SRV_EXIT_RUNTIME;
    if (srv_config_load(&cfg, SRV_CFG_DATA, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        fprintf(stdout,
                "usage: idpd keys rotate [--force] [options]\n"
                "The next key becomes active, the active one is retired (it verifies until "
                "its tokens expire), a new next key is made. Prints {\"keys\":[…]}.\n"
                "The next key must have been published for jwks_max_age + keys_refresh_interval "
                "seconds (read from the same config file or environment as the server's); until "
                "then the rotation is refused (exit 1) unless --force.\n");
        srv_config_usage(stdout, SRV_CFG_DATA);
        return SRV_EXIT_OK;
    }
    int force = 0, rotate = 0, bad = 0;
    for (int i = 1; i < argc; i++) {
        if (!rotate && strcmp(argv[i], "rotate") == 0)
            rotate = 1;
        else if (!force && strcmp(argv[i], "--force") == 0)
            force = 1;
        else
            bad = 1;
    }
    if (bad || !rotate) {
        fprintf(stderr, "usage: idpd keys rotate [--force] [--data DIR]\n");
        return SRV_EXIT_USAGE;
    }
    if (srv_ctx_open(&ctx, &cfg) != SRV_OK)
        goto out;
    int64_t ready_at = 0;
    int krc = srv_keys_rotate_audited(&ctx, "admin.keys.rotate", "", "", "from the command line",
                                      force, &ready_at);
    if (krc == KEYS_ETOOSOON) {
        fprintf(stderr,
                "idpd keys rotate: the next key has not been published for %lld s yet "
                "(jwks_max_age + keys_refresh_interval), so verifiers may not know it; retry in "
                "%lld s, or use --force\n",
                (long long)srv_keys_min_published(&cfg), (long long)(ready_at - srv_now()));
        goto out;
    }
    if (krc == KEYS_OK)
        krc = srv_keys_active(ctx.keys, kid, NULL);
    if (krc == KEYS_OK)
        krc = keys_list(ctx.keys, &items, &n);
    if (krc != KEYS_OK) {
        fprintf(stderr, "idpd keys rotate: %s\n", keys_strerror(krc));
        goto out;
    }
    json_t *o = json_pack("{s:o}", "keys", srv_keys_json(items, n));
    if (o && json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 &&
        fputc('\n', stdout) != EOF)
        rc = fflush(stdout) == 0 ? SRV_EXIT_OK : SRV_EXIT_RUNTIME;
    json_decref(o);
out:
    free(items);
    srv_ctx_close(&ctx);
    return rc;
}
