#include "harness.h"

#include <ftw.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <unistd.h>

int th_failed_cases, th_passed_cases, th_case_failed;
const char *th_only;
static char tmpdir[256];

struct deferred {
    void (*fn)(void *arg);
    void *arg;
};
static struct deferred *deferred;
static size_t ndeferred, deferred_cap;

void th_init(int argc, char **argv)
{
    th_only = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int th_done(void)
{
    printf("%d passed, %d failed\n", th_passed_cases, th_failed_cases);
    if (th_only && th_passed_cases + th_failed_cases == 0) {
        fprintf(stderr, "no case named %s\n", th_only);
        return 1;
    }
    return th_failed_cases ? 1 : 0;
}

const char *th_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/idpd-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
    return tmpdir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void th_case_setup(void)
{
    tmpdir[0] = '\0';
}

void th_defer(void (*fn)(void *arg), void *arg)
{
    if (ndeferred == deferred_cap) {
        size_t cap = deferred_cap ? deferred_cap * 2 : 64;
        struct deferred *d = realloc(deferred, cap * sizeof *d);
        if (!d) {
            perror("th_defer");
            abort();
        }
        deferred = d;
        deferred_cap = cap;
    }
    deferred[ndeferred++] = (struct deferred){fn, arg};
}

void th_case_teardown(void)
{
    while (ndeferred > 0) {
        struct deferred d = deferred[--ndeferred];
        d.fn(d.arg);
    }
    free(deferred);
    deferred = NULL;
    deferred_cap = 0;
    if (tmpdir[0])
        nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}

/* ---- stores on the test cluster ---- */

int th_on_postgres(void)
{
    const char *s = getenv("IDPD_TEST_STORE");
    return s && strcmp(s, "postgres") == 0;
}

struct pg_db {
    char name[64];
    char uri[1024];
};

static PGconn *pg_admin(void)
{
    const char *base = getenv("IDPD_TEST_PG");
    PGconn *c;
    if (!base) {
        fprintf(stderr, "  IDPD_TEST_PG is not set (tests/postgres/cluster start prints it)\n");
        return NULL;
    }
    c = PQconnectdb(base);
    if (PQstatus(c) != CONNECTION_OK) {
        fprintf(stderr, "  cannot reach the test cluster: %s", PQerrorMessage(c));
        PQfinish(c);
        return NULL;
    }
    return c;
}

static int pg_exec(PGconn *c, const char *sql)
{
    PGresult *r = PQexec(c, sql);
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "  %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    return ok;
}

static void drop_db(void *arg)
{
    struct pg_db *db = arg;
    char sql[128];
    PGconn *c = pg_admin();
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", db->name);
    if (c && !pg_exec(c, sql))
        th_case_failed = 1;
    PQfinish(c);
    free(db);
}

const char *th_pg_database(void)
{
    static unsigned counter;
    const char *base = getenv("IDPD_TEST_PG"), *q;
    struct pg_db *db = calloc(1, sizeof *db);
    char sql[128];
    PGconn *c = NULL;
    if (!db)
        goto fail;
    snprintf(db->name, sizeof db->name, "t%ld_%u", (long)getpid(), ++counter);
    c = pg_admin();
    if (!c)
        goto fail;
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", db->name);
    if (!pg_exec(c, sql))
        goto fail;
    PQfinish(c);
    c = NULL;
    /* the base URI names the "postgres" database: "postgresql:///postgres?host=…" */
    q = strstr(base, "/postgres");
    if (!q) {
        fprintf(stderr, "  IDPD_TEST_PG must name the database postgres\n");
        goto fail;
    }
    snprintf(db->uri, sizeof db->uri, "%.*s/%s%s", (int)(q - base), base, db->name,
             q + strlen("/postgres"));
    th_defer(drop_db, db);
    return db->uri;
fail:
    PQfinish(c);
    free(db);
    th_case_failed = 1;
    return NULL;
}

#define STORES_MAX 32

static struct {
    char dir[512];
    const char *uri; /* th_pg_database()'s, valid until the case ends */
} stores[STORES_MAX];
static char stores_case[512]; /* th_tmpdir() of the case the table belongs to */

const char *th_store_for(const char *dir)
{
    if (!th_on_postgres())
        return dir;
    if (strcmp(stores_case, th_tmpdir()) != 0) {
        memset(stores, 0, sizeof stores);
        snprintf(stores_case, sizeof stores_case, "%s", th_tmpdir());
    }
    for (size_t i = 0; i < STORES_MAX; i++) {
        if (stores[i].uri && strcmp(stores[i].dir, dir) == 0)
            return stores[i].uri;
        if (!stores[i].uri) {
            const char *uri = th_pg_database();
            if (uri) {
                snprintf(stores[i].dir, sizeof stores[i].dir, "%s", dir);
                stores[i].uri = uri;
            }
            return uri;
        }
    }
    fprintf(stderr, "  more than %d stores in one case\n", STORES_MAX);
    th_case_failed = 1;
    return NULL;
}
