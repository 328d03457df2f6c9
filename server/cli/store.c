/* idpd store copy --from STORE --to STORE: every record, index and audit event of one store,
 * from one consistent snapshot, into another that is empty; LMDB and PostgreSQL either way
 * (DESIGN.md §9). A PostgreSQL URI may hold a password: it is never printed. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "server/account/account.h"
#include "server/admin/admin.h"
#include "server/cli/cli.h"
#include "server/oauth/oauth.h"
#include "server/pages/pages.h"

static void store_usage(FILE *out)
{
    fprintf(
        out,
        "usage: idpd store copy --from STORE --to STORE [--config FILE]\n"
        "Copies every record, index and audit event of one store, from one consistent\n"
        "snapshot, into another that must be empty (exit 1, nothing written, when it is\n"
        "not). STORE is lmdb:DIR (a data folder; a missing --to folder is made, mode 0700)\n"
        "or a PostgreSQL URI, postgres://… or postgresql://… (keep its password in\n"
        "PGPASSFILE: a flag shows in ps). Servers may go on serving from the source; nothing\n"
        "may write to the target until the copy is done. Signing keys stay sealed: a server\n"
        "on the copy needs the same master key (master.key or IDPD_MASTER_KEY).\n"
        "Prints {\"from\":…,\"to\":…,\"entries\":N}; store_timeout_ms applies to PostgreSQL.\n");
}

/* One side of the copy, as given. */
struct place {
    const char *flag;  /* "--from", "--to" */
    const char *where; /* store_open()'s argument */
    const char *dir;   /* LMDB: the folder; NULL for PostgreSQL */
    char label[4200];  /* for messages: "lmdb:DIR" or "PostgreSQL", never the URI */
};

static int is_postgres(const char *v)
{
    return strncmp(v, "postgres://", 11) == 0 || strncmp(v, "postgresql://", 13) == 0;
}

/* Fills p from a flag's value; SRV_EXIT_USAGE (and a message) when it names no store. */
static int place_parse(struct place *p, const char *v)
{
    p->where = v;
    if (is_postgres(v)) {
        p->dir = NULL;
        snprintf(p->label, sizeof p->label, "PostgreSQL");
        return SRV_EXIT_OK;
    }
    p->dir = strncmp(v, "lmdb:", 5) == 0 ? v + 5 : v;
    if (!p->dir[0] || strstr(v, "://")) {
        fprintf(stderr, "idpd store copy: %s takes lmdb:DIR or a postgres:// URI\n", p->flag);
        return SRV_EXIT_USAGE;
    }
    snprintf(p->label, sizeof p->label, "lmdb:%s", p->dir);
    return SRV_EXIT_OK;
}

/* The value of the flag at argv[*i] ("--from X" or "--from=X") into *v; 0 when argv[*i] is not
 * that flag, -1 (and a message) when its value is missing. */
static int flag_value(const char *flag, int argc, char **argv, int *i, const char **v)
{
    size_t n = strlen(flag);
    if (strncmp(argv[*i], flag, n) != 0)
        return 0;
    if (argv[*i][n] == '=') {
        *v = argv[*i] + n + 1;
        return 1;
    }
    if (argv[*i][n] != '\0')
        return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "idpd store copy: %s needs a value\n", flag);
        return -1;
    }
    *v = argv[++*i];
    return 1;
}

/* Opens one side: the source must exist already; a missing target folder is made. */
static int place_open(struct place *p, int source, const struct store_options *so,
                      struct store **st)
{
    struct stat sb;
    char mdb[4200];
    int src;
    if (p->dir && source) {
        /* a copy reads an existing store; it must not make one where there is none */
        snprintf(mdb, sizeof mdb, "%s/data.mdb", p->dir);
        if (stat(mdb, &sb) != 0) {
            fprintf(stderr, "idpd store copy: no store in %s: %s\n", p->dir, strerror(errno));
            return SRV_EXIT_RUNTIME;
        }
    } else if (p->dir && mkdir(p->dir, 0700) != 0 && errno != EEXIST) {
        fprintf(stderr, "idpd store copy: cannot make %s: %s\n", p->dir, strerror(errno));
        return SRV_EXIT_RUNTIME;
    }
    src = store_open(p->where, so, st);
    if (src != STORE_OK) {
        fprintf(stderr, "idpd store copy: cannot open the %s store (%s): %s\n",
                source ? "source" : "target", p->label, store_strerror(src));
        return SRV_EXIT_RUNTIME;
    }
    return SRV_EXIT_OK;
}

/* 1 when both sides name one LMDB folder (which one process must not open twice) or one URI. */
static int same_store(const struct place *a, const struct place *b)
{
    struct stat sa, sb;
    if (!a->dir || !b->dir)
        return !a->dir && !b->dir && strcmp(a->where, b->where) == 0;
    if (stat(a->dir, &sa) != 0 || stat(b->dir, &sb) != 0)
        return 0; /* a missing target is another folder */
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int store_copy_cmd(const struct srv_config *cfg, int argc, char **argv)
{
    struct place from = {.flag = "--from"}, to = {.flag = "--to"};
    const char *fv = NULL, *tv = NULL;
    struct store *src_st = NULL, *dst_st = NULL;
    struct store_options so = {.timeout_ms = (unsigned)cfg->store_timeout_ms, .connections = 2};
    uint64_t entries = 0;
    json_t *o = NULL;
    int rc, src, r;

    for (int i = 2; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            store_usage(stdout);
            return SRV_EXIT_OK;
        }
        if ((r = flag_value("--from", argc, argv, &i, &fv)) == 0)
            r = flag_value("--to", argc, argv, &i, &tv);
        if (r < 0)
            return SRV_EXIT_USAGE;
        if (r == 0) {
            fprintf(stderr, "idpd store copy: unknown argument \"%s\"\n", argv[i]);
            store_usage(stderr);
            return SRV_EXIT_USAGE;
        }
    }
    if (!fv || !tv) {
        fprintf(stderr, "idpd store copy: --from and --to are required\n");
        store_usage(stderr);
        return SRV_EXIT_USAGE;
    }
    if (place_parse(&from, fv) != SRV_EXIT_OK || place_parse(&to, tv) != SRV_EXIT_OK)
        return SRV_EXIT_USAGE;
    if (same_store(&from, &to)) {
        fprintf(stderr, "idpd store copy: --from and --to name the same store\n");
        return SRV_EXIT_RUNTIME;
    }
    rc = place_open(&from, 1, &so, &src_st);
    if (rc == SRV_EXIT_OK)
        rc = place_open(&to, 0, &so, &dst_st);
    if (rc != SRV_EXIT_OK)
        goto out;
    rc = SRV_EXIT_RUNTIME;
    src = store_copy(src_st, dst_st, &entries);
    if (src == STORE_EXISTS && entries == 0) {
        fprintf(stderr,
                "idpd store copy: the target store (%s) is not empty; nothing was written. "
                "Copy into a new folder or an empty database.\n",
                to.label);
        goto out;
    }
    if (src != STORE_OK) {
        fprintf(stderr,
                "idpd store copy: the copy stopped after %llu entries: %s. The target (%s) "
                "holds a partial copy: empty it before trying again.\n",
                (unsigned long long)entries, store_strerror(src), to.label);
        goto out;
    }
    o = json_pack("{s:s, s:s, s:I}", "from", store_backend(src_st), "to", store_backend(dst_st),
                  "entries", (json_int_t)entries);
    if (o && json_dumpf(o, stdout, JSON_COMPACT | JSON_PRESERVE_ORDER) == 0 &&
        fputc('\n', stdout) != EOF && fflush(stdout) == 0)
        rc = SRV_EXIT_OK;
out:
    json_decref(o);
    store_close(dst_st);
    store_close(src_st);
    return rc;
}

int srv_cmd_store(int argc, char **argv)
{
    struct srv_config cfg;
    /* no setting is a flag here; the file and the environment give store_timeout_ms */
    if (srv_config_load(&cfg, 0, &argc, argv) != SRV_OK)
        return SRV_EXIT_USAGE;
    if (argc >= 2 && strcmp(argv[1], "copy") == 0)
        return store_copy_cmd(&cfg, argc, argv);
    if (argc == 2 && strcmp(argv[1], "--help") == 0) {
        store_usage(stdout);
        return SRV_EXIT_OK;
    }
    store_usage(stderr);
    return SRV_EXIT_USAGE;
}
