/* idpd backup [--data DIR] FILE: an online, compacted copy of the data folder's LMDB environment
 * (DESIGN.md §7, §9), taken while servers keep serving from it. A PostgreSQL store is refused:
 * pg_dump is its tool, and `idpd store copy` makes an LMDB copy of it. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void backup_usage(FILE *out)
{
    fprintf(out,
            "usage: idpd backup [options] FILE\n"
            "Writes a consistent, compacted copy of the data folder's store to FILE (a new file,\n"
            "mode 0600) while servers keep running. To restore, put FILE as data.mdb into an\n"
            "empty folder, together with master.key (or set IDPD_MASTER_KEY): the signing keys\n"
            "in the copy stay sealed with it. Prints {\"file\":…,\"bytes\":…}.\n"
            "A PostgreSQL store is backed up with pg_dump (e.g. pg_dump --schema=idpd), or\n"
            "copied to LMDB with idpd store copy --from postgres://… --to lmdb:DIR.\n");
}

int srv_cmd_backup(int argc, char **argv)
{
    struct srv_config cfg;
    struct store *st = NULL;
    struct stat sb;
    char mdb[sizeof cfg.store + 16];
    int rc = SRV_EXIT_RUNTIME, src;
    if (srv_config_load(&cfg, SRV_CFG_DATA, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        backup_usage(stdout);
        srv_config_usage(stdout, SRV_CFG_DATA);
        return SRV_EXIT_OK;
    }
    if (argc != 2 || argv[1][0] == '\0') {
        fprintf(stderr, "usage: idpd backup [--data DIR] FILE\n");
        return SRV_EXIT_USAGE;
    }
    const char *file = argv[1];
    /* The store the server would use: --store (or IDPD_STORE) when given, else the data folder.
     * The URI is never printed: it may hold a password. */
    const char *dir = cfg.store[0] ? cfg.store : cfg.data_dir;
    if (strncmp(dir, "postgres://", 11) == 0 || strncmp(dir, "postgresql://", 13) == 0) {
        fprintf(stderr, "idpd backup: the store is on PostgreSQL, which idpd backup does not copy: "
                        "back it up with pg_dump (e.g. pg_dump --schema=idpd), or make an LMDB "
                        "copy with idpd store copy --from postgres://… --to lmdb:DIR\n");
        return SRV_EXIT_RUNTIME;
    }
    if (strncmp(dir, "lmdb:", 5) == 0)
        dir += 5;
    /* A backup reads an existing store; it must not create one where the folder is empty. */
    snprintf(mdb, sizeof mdb, "%s/data.mdb", dir);
    if (stat(mdb, &sb) != 0) {
        fprintf(stderr, "idpd backup: no store in %s: %s\n", dir, strerror(errno));
        return SRV_EXIT_RUNTIME;
    }
    if ((src = store_open(dir, NULL, &st)) != STORE_OK) {
        fprintf(stderr, "idpd backup: cannot open the store in %s: %s\n", dir, store_strerror(src));
        return SRV_EXIT_RUNTIME;
    }
    src = store_backup(st, file);
    if (src == STORE_EXISTS)
        fprintf(stderr, "idpd backup: %s exists; a backup never overwrites a file\n", file);
    else if (src != STORE_OK)
        fprintf(stderr, "idpd backup: cannot write %s: %s\n", file, store_strerror(src));
    else if (stat(file, &sb) != 0)
        fprintf(stderr, "idpd backup: %s: %s\n", file, strerror(errno));
    else {
        json_t *o = json_pack("{s:s, s:I}", "file", file, "bytes", (json_int_t)sb.st_size);
        if (o && json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 &&
            fputc('\n', stdout) != EOF && fflush(stdout) == 0)
            rc = SRV_EXIT_OK;
        json_decref(o);
    }
    store_close(st);
    return rc;
}
