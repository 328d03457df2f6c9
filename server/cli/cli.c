/* The idpd command line: dispatch to the commands of DESIGN.md §9. */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: idpd <command> [options]\n"
                 "  serve                       run the HTTP server\n"
                 "  service-account create      create a service account and its first secret\n"
                 "  application create          create an application (an SDK's OAuth client)\n"
                 "  bootstrap-admin             create the first idp:admin user (password on "
                 "stdin)\n"
                 "  keys rotate                 make the next signing key active\n"
                 "  backup FILE                 copy the store online, compacted, to FILE\n"
                 "  store copy --from S --to S  copy a store into an empty one (LMDB, "
                 "PostgreSQL)\n"
                 "  version                     print the version\n"
                 "Run idpd <command> --help for a command's options.\n");
}

int srv_main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SRV_EXIT_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "serve") == 0)
        return srv_cmd_serve(argc - 1, argv + 1);
    if (strcmp(cmd, "service-account") == 0)
        return srv_cmd_service_account(argc - 1, argv + 1);
    if (strcmp(cmd, "application") == 0)
        return srv_cmd_application(argc - 1, argv + 1);
    if (strcmp(cmd, "bootstrap-admin") == 0)
        return srv_cmd_bootstrap_admin(argc - 1, argv + 1);
    if (strcmp(cmd, "keys") == 0)
        return srv_cmd_keys(argc - 1, argv + 1);
    if (strcmp(cmd, "backup") == 0)
        return srv_cmd_backup(argc - 1, argv + 1);
    if (strcmp(cmd, "store") == 0)
        return srv_cmd_store(argc - 1, argv + 1);
    if (strcmp(cmd, "version") == 0 || strcmp(cmd, "--version") == 0) {
        printf("idpd %s (OpenSSL %s, libmicrohttpd %s)\n", IDPD_VERSION,
               OpenSSL_version(OPENSSL_VERSION_STRING), srv_http_version());
        return SRV_EXIT_OK;
    }
    if (strcmp(cmd, "help") == 0 || strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0) {
        usage(stdout);
        return SRV_EXIT_OK;
    }
    fprintf(stderr, "idpd: unknown command \"%s\"\n", cmd);
    usage(stderr);
    return SRV_EXIT_USAGE;
}
