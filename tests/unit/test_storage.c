/* Unit tests of storage/: each case opens a fresh store, an LMDB environment in th_tmpdir() or,
 * with IDPD_TEST_STORE=postgres, a new database of the test cluster (CTest runs the suite both
 * ways). Cases about LMDB's map, files and processes run on LMDB only. */
#include "harness.h"
#include "storage/storage.h"

/* Only the corrupt-record cases use the backends directly, to plant records storage would never
 * write. */
#include <libpq-fe.h>
#include <lmdb.h>

/* The key-value interface beneath the records is tested directly too (both backends). */
#include "storage/kv.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define SMALL_MAP ((size_t)256 << 10)

/* ---- helpers ---- */

static const char *subpath(const char *name)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", th_tmpdir(), name);
    return path;
}

/* The store of the current case: the same one each call within a case, so a case can close
 * and open it again. */
static const char *where(void)
{
    const char *w = th_store_for(th_tmpdir());
    return w ? w : "";
}

/* Cases about LMDB alone say so and pass on PostgreSQL. */
#define LMDB_ONLY()                                                                                \
    do {                                                                                           \
        if (th_on_postgres())                                                                      \
            return;                                                                                \
    } while (0)

static int open_small(struct store **st)
{
    struct store_options opts = {.map_size = SMALL_MAP};
    return store_open(where(), &opts, st);
}

/* An account with nroles roles "role-<i>"; roles are malloc'd, so store_service_account_clear()
 * frees them like a getter's. */
static void make_sa(struct store_service_account *sa, const char *id, size_t nroles)
{
    memset(sa, 0, sizeof *sa);
    snprintf(sa->id, sizeof sa->id, "%s", id);
    snprintf(sa->name, sizeof sa->name, "name of %s", id);
    snprintf(sa->description, sizeof sa->description, "description of %s", id);
    sa->created_at = 1700000000;
    sa->updated_at = 1700000001;
    sa->nroles = nroles;
    sa->roles = nroles ? calloc(nroles, sizeof *sa->roles) : NULL;
    for (size_t i = 0; i < nroles; i++)
        snprintf(sa->roles[i], sizeof sa->roles[i], "role-%zu", i);
}

static void make_secret(struct store_secret *sec, const char *sa_id, const char *id,
                        int64_t created_at)
{
    memset(sec, 0, sizeof *sec);
    snprintf(sec->id, sizeof sec->id, "%s", id);
    snprintf(sec->sa_id, sizeof sec->sa_id, "%s", sa_id);
    snprintf(sec->phc, sizeof sec->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%s", id);
    snprintf(sec->hint, sizeof sec->hint, "0badf00d");
    snprintf(sec->masked, sizeof sec->masked, "idpsec_...%.4s", id);
    sec->created_at = created_at;
    sec->expires_at = created_at + 3600;
}

static int sa_insert_cb(struct store_txn *txn, void *arg)
{
    return store_sa_insert(txn, arg);
}

static int sa_update_cb(struct store_txn *txn, void *arg)
{
    return store_sa_update(txn, arg);
}

static int sa_delete_cb(struct store_txn *txn, void *arg)
{
    return store_sa_delete(txn, arg);
}

struct sa_get {
    const char *id;
    struct store_service_account out;
};

static int sa_get_cb(struct store_txn *txn, void *arg)
{
    struct sa_get *g = arg;
    return store_sa_get(txn, g->id, &g->out);
}

static int sa_get(struct store *st, const char *id, struct store_service_account *out)
{
    struct sa_get g = {.id = id};
    int rc = store_read(st, sa_get_cb, &g);
    *out = g.out;
    return rc;
}

struct sa_list {
    const char *after;
    size_t limit;
    struct store_service_account *items;
    size_t n;
};

static int sa_list_cb(struct store_txn *txn, void *arg)
{
    struct sa_list *l = arg;
    return store_sa_list(txn, l->after, l->limit, &l->items, &l->n);
}

/* Lists and frees; *n receives how many, *first and *last (may be NULL) the ids at the ends. */
static int sa_page(struct store *st, const char *after, size_t limit, size_t *n, char *first,
                   char *last)
{
    struct sa_list l = {.after = after, .limit = limit};
    int rc = store_read(st, sa_list_cb, &l);
    *n = l.n;
    if (first)
        snprintf(first, STORE_ID_MAX, "%s", l.n ? l.items[0].id : "");
    if (last)
        snprintf(last, STORE_ID_MAX, "%s", l.n ? l.items[l.n - 1].id : "");
    store_sa_list_free(l.items, l.n);
    return rc;
}

static int secret_insert_cb(struct store_txn *txn, void *arg)
{
    return store_secret_insert(txn, arg);
}

struct secret_list {
    const char *sa_id;
    size_t cap;
    struct store_secret out[STORE_SECRETS_MAX + 1];
    size_t n;
};

static int secret_list_cb(struct store_txn *txn, void *arg)
{
    struct secret_list *l = arg;
    return store_secret_list(txn, l->sa_id, l->out, l->cap, &l->n);
}

static int secret_count(struct store *st, const char *sa_id, size_t *n)
{
    static struct secret_list l;
    memset(&l, 0, sizeof l);
    l.sa_id = sa_id;
    l.cap = STORE_SECRETS_MAX + 1;
    int rc = store_read(st, secret_list_cb, &l);
    *n = l.n;
    return rc;
}

struct secret_ref {
    const char *sa_id, *id;
    int64_t when;
};

static int secret_delete_cb(struct store_txn *txn, void *arg)
{
    struct secret_ref *r = arg;
    return store_secret_delete(txn, r->sa_id, r->id);
}

static int secret_touch_cb(struct store_txn *txn, void *arg)
{
    struct secret_ref *r = arg;
    return store_secret_touch(txn, r->sa_id, r->id, r->when);
}

struct deny {
    const char *jti;
    int64_t exp;
    int denied;
};

static int deny_add_cb(struct store_txn *txn, void *arg)
{
    struct deny *d = arg;
    return store_deny_add(txn, d->jti, d->exp);
}

static int deny_has_cb(struct store_txn *txn, void *arg)
{
    struct deny *d = arg;
    return store_deny_has(txn, d->jti, &d->denied);
}

static int deny_add(struct store *st, const char *jti, int64_t exp)
{
    struct deny d = {.jti = jti, .exp = exp};
    return store_write(st, deny_add_cb, &d);
}

/* 1 or 0, or -1 on error */
static int deny_has(struct store *st, const char *jti)
{
    struct deny d = {.jti = jti};
    return store_read(st, deny_has_cb, &d) ? -1 : d.denied;
}

struct meta {
    const char *name;
    uint64_t value;
};

static int meta_get_cb(struct store_txn *txn, void *arg)
{
    struct meta *m = arg;
    return store_meta_get(txn, m->name, &m->value);
}

static int meta_put_cb(struct store_txn *txn, void *arg)
{
    struct meta *m = arg;
    return store_meta_put(txn, m->name, m->value);
}

/* Inserts accounts "<prefix><from..from+count>" in one transaction, each with a 200-byte
 * description so a few thousand outgrow a small map. */
struct batch {
    const char *prefix;
    int from, count;
};

static int batch_cb(struct store_txn *txn, void *arg)
{
    struct batch *b = arg;
    int rc = STORE_OK;
    for (int i = b->from; i < b->from + b->count && rc == STORE_OK; i++) {
        struct store_service_account sa;
        char id[STORE_ID_MAX];
        snprintf(id, sizeof id, "%s%06d", b->prefix, i);
        make_sa(&sa, id, 2);
        memset(sa.description, 'd', 200);
        sa.description[200] = '\0';
        rc = store_sa_insert(txn, &sa);
        store_service_account_clear(&sa);
    }
    return rc;
}

static int insert_batches(struct store *st, const char *prefix, int total, int per_txn)
{
    int rc = STORE_OK;
    for (int from = 0; from < total && rc == STORE_OK; from += per_txn) {
        struct batch b = {.prefix = prefix, .from = from, .count = per_txn};
        if (from + per_txn > total)
            b.count = total - from;
        rc = store_write(st, batch_cb, &b);
    }
    return rc;
}

/* ---- environment ---- */

TEST(open_writes_schema_version)
{
    struct store *st = NULL;
    struct meta m = {.name = "schema_version"};
    struct stat sb;

    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK(st != NULL);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    CHECK_INT(m.value, 8);
    CHECK_STR(store_backend(st), th_on_postgres() ? "postgres" : "lmdb");
    CHECK_INT(store_ready(st), STORE_OK);
    CHECK_INT(store_map_size(st), th_on_postgres() ? 0 : (size_t)64 << 20);
    store_close(st);

    if (!th_on_postgres()) {
        CHECK_INT(stat(subpath("data.mdb"), &sb), 0);
        CHECK_INT(sb.st_mode & 0777, 0600);
        CHECK_INT(stat(subpath("lock.mdb"), &sb), 0);
        CHECK_INT(sb.st_mode & 0777, 0600);
    }

    st = NULL;
    m.value = 0;
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    store_close(st);
}

TEST(newer_schema_is_refused)
{
    struct store *st = NULL;
    struct meta m = {.name = "schema_version", .value = 99};

    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = (struct store *)1;
    CHECK_INT(store_open(where(), NULL, &st), STORE_EVERSION);
    CHECK(st == NULL);
}

TEST(open_missing_dir_is_eio)
{
    LMDB_ONLY();
    struct store *st = (struct store *)1;
    CHECK_INT(store_open(subpath("missing"), NULL, &st), STORE_EIO);
    CHECK(st == NULL);
}

TEST(open_regular_file_is_eio)
{
    LMDB_ONLY();
    struct store *st = (struct store *)1;
    int fd = open(subpath("file"), O_CREAT | O_WRONLY, 0600);
    CHECK(fd >= 0);
    close(fd);
    CHECK_INT(store_open(subpath("file"), NULL, &st), STORE_EIO);
    CHECK(st == NULL);
}

TEST(open_bad_arguments)
{
    struct store *st = NULL;
    struct store_options opts = {.map_size = (size_t)2 << 20, .map_size_max = (size_t)1 << 20};
    CHECK_INT(store_open(NULL, NULL, &st), STORE_EINVAL);
    CHECK_INT(store_open(where(), NULL, NULL), STORE_EINVAL);
    if (!th_on_postgres()) /* map sizes are LMDB's */
        CHECK_INT(store_open(where(), &opts, &st), STORE_EINVAL);
    CHECK(st == NULL);
    CHECK_INT(store_read(NULL, meta_get_cb, NULL), STORE_EINVAL);
    CHECK_INT(store_write(NULL, meta_get_cb, NULL), STORE_EINVAL);
    CHECK_INT(store_map_size(NULL), 0);
    store_close(NULL);
}

TEST(meta_round_trip)
{
    struct store *st = NULL;
    struct meta m = {.name = "key_epoch", .value = 0x0102030405060708ull};
    char long_name[66];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    m.value = 0;
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value == 0x0102030405060708ull, 1);
    m.name = "absent";
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_NOTFOUND);
    m.name = "";
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_EINVAL);
    memset(long_name, 'x', 65);
    long_name[65] = '\0';
    m.name = long_name;
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_EINVAL);
    long_name[64] = '\0';
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
}

TEST(strerror_names_every_code)
{
    static const int codes[] = {STORE_OK,           STORE_NOTFOUND, STORE_EXISTS,   STORE_EINVAL,
                                STORE_ENOMEM,       STORE_EIO,      STORE_ECORRUPT, STORE_EVERSION,
                                STORE_EUNAVAILABLE, STORE_ERERUN};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        CHECK(store_strerror(codes[i]) != NULL);
        CHECK(strcmp(store_strerror(codes[i]), store_strerror(-1)) != 0);
    }
    CHECK_STR(store_strerror(STORE_NOTFOUND), "not found");
    CHECK_STR(store_strerror(12345), "unknown storage error");
}

static int insert_in_read_cb(struct store_txn *txn, void *arg)
{
    struct store_service_account sa;
    int rc;
    make_sa(&sa, "sa_ro", 0);
    rc = store_sa_insert(txn, &sa);
    store_service_account_clear(&sa);
    return rc;
}

TEST(read_transaction_refuses_writes)
{
    struct store *st = NULL;
    struct store_service_account out;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, insert_in_read_cb, NULL), STORE_EINVAL);
    CHECK_INT(sa_get(st, "sa_ro", &out), STORE_NOTFOUND);
    store_close(st);
}

static int nested_cb(struct store_txn *txn, void *arg)
{
    struct meta m = {.name = "schema_version"};
    return store_read(arg, meta_get_cb, &m);
}

TEST(nested_transactions_are_refused)
{
    struct store *st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, nested_cb, st), STORE_EINVAL);
    CHECK_INT(store_read(st, nested_cb, st), STORE_EINVAL);
    store_close(st);
}

/* ---- service accounts ---- */

TEST(sa_round_trip_of_every_field)
{
    struct store *st = NULL;
    struct store_service_account sa, got;

    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_01hzyx0000000000000000000", STORE_ROLES_MAX);
    for (size_t i = 0; i < sa.nroles; i++) {
        char head[24];
        /* 128 bytes: a unique head, then one letter */
        memset(sa.roles[i], 'a' + (int)(i % 26), STORE_ROLE_MAX - 1);
        sa.roles[i][STORE_ROLE_MAX - 1] = '\0';
        snprintf(head, sizeof head, "r%03zu@", i);
        memcpy(sa.roles[i], head, 5);
    }
    memset(sa.name, 'n', STORE_NAME_MAX - 1);
    sa.name[STORE_NAME_MAX - 1] = '\0';
    snprintf(sa.description, sizeof sa.description, "CI deployer \"prod\" \\ caf\xc3\xa9 \n tab\t");
    sa.disabled = 1;
    sa.created_at = -42;
    sa.updated_at = INT64_MAX;
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);

    CHECK_INT(sa_get(st, sa.id, &got), STORE_OK);
    CHECK_STR(got.id, sa.id);
    CHECK_STR(got.name, sa.name);
    CHECK_INT(strlen(got.name), 256);
    CHECK_STR(got.description, sa.description);
    CHECK_INT(got.disabled, 1);
    CHECK_INT(got.created_at, -42);
    CHECK_INT(got.updated_at == INT64_MAX, 1);
    CHECK_INT(got.nroles, STORE_ROLES_MAX);
    for (size_t i = 0; i < got.nroles; i++) {
        CHECK_STR(got.roles[i], sa.roles[i]);
        CHECK_INT(strlen(got.roles[i]), 128);
    }
    store_service_account_clear(&got);
    CHECK(got.roles == NULL && got.nroles == 0 && got.id[0] == '\0');
    store_service_account_clear(&sa);
    store_close(st);
}

TEST(sa_without_roles_round_trips)
{
    struct store *st = NULL;
    struct store_service_account sa, got;
    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_noroles", 0);
    sa.name[0] = '\0';
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);
    CHECK_INT(sa_get(st, "sa_noroles", &got), STORE_OK);
    CHECK_INT(got.nroles, 0);
    CHECK(got.roles == NULL);
    CHECK_STR(got.name, "");
    CHECK_INT(got.disabled, 0);
    store_service_account_clear(&got);
    store_close(st);
}

TEST(sa_duplicate_id_is_exists)
{
    struct store *st = NULL;
    struct store_service_account sa, got;

    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_dup", 1);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);
    snprintf(sa.name, sizeof sa.name, "second");
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EXISTS);
    CHECK_INT(sa_get(st, "sa_dup", &got), STORE_OK);
    CHECK_STR(got.name, "name of sa_dup");
    store_service_account_clear(&got);
    store_service_account_clear(&sa);
    store_close(st);
}

TEST(sa_update_replaces_the_record)
{
    struct store *st = NULL;
    struct store_service_account sa, got;

    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_upd", 3);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);
    store_service_account_clear(&sa);

    make_sa(&sa, "sa_upd", 1);
    snprintf(sa.name, sizeof sa.name, "renamed");
    snprintf(sa.roles[0], sizeof sa.roles[0], "idp:admin");
    sa.disabled = 1;
    sa.updated_at = 1800000000;
    CHECK_INT(store_write(st, sa_update_cb, &sa), STORE_OK);
    CHECK_INT(sa_get(st, "sa_upd", &got), STORE_OK);
    CHECK_STR(got.name, "renamed");
    CHECK_INT(got.disabled, 1);
    CHECK_INT(got.created_at, 1700000000);
    CHECK_INT(got.updated_at, 1800000000);
    CHECK_INT(got.nroles, 1);
    CHECK_STR(got.roles[0], "idp:admin");
    store_service_account_clear(&got);

    snprintf(sa.id, sizeof sa.id, "sa_nobody");
    CHECK_INT(store_write(st, sa_update_cb, &sa), STORE_NOTFOUND);
    CHECK_INT(sa_get(st, "sa_nobody", &got), STORE_NOTFOUND);
    store_service_account_clear(&sa);
    store_close(st);
}

TEST(sa_get_missing_is_notfound)
{
    struct store *st = NULL;
    struct store_service_account got;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(sa_get(st, "sa_missing", &got), STORE_NOTFOUND);
    CHECK(got.roles == NULL && got.id[0] == '\0');
    CHECK_INT(store_write(st, sa_delete_cb, "sa_missing"), STORE_NOTFOUND);
    store_close(st);
}

TEST(sa_limits_are_einval)
{
    struct store *st = NULL;
    struct store_service_account sa;
    size_t n;

    CHECK_INT(open_small(&st), STORE_OK);

    make_sa(&sa, "sa_roles", STORE_ROLES_MAX + 1); /* 101 roles */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    store_service_account_clear(&sa);

    make_sa(&sa, "sa_role", 2); /* a 129-byte role fills its buffer with no NUL */
    memset(sa.roles[1], 'r', STORE_ROLE_MAX);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    sa.roles[1][0] = '\0'; /* an empty role */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    store_service_account_clear(&sa);

    make_sa(&sa, "sa_name", 0); /* a 257-byte name */
    memset(sa.name, 'n', STORE_NAME_MAX);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    make_sa(&sa, "sa_desc", 0); /* a 1025-byte description */
    memset(sa.description, 'd', STORE_TEXT_MAX);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);

    make_sa(&sa, "sa_long", 0); /* a 48-byte id */
    memset(sa.id, 'i', STORE_ID_MAX);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    make_sa(&sa, "", 0);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    make_sa(&sa, "sa_a/b", 0); /* '/' would break the secrets' key ranges */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    make_sa(&sa, "sa_flag", 0);
    sa.disabled = 2;
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    make_sa(&sa, "sa_utf8", 0);
    snprintf(sa.name, sizeof sa.name, "bad \xff utf-8");
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);

    /* a 47-byte id is the longest allowed */
    make_sa(&sa, "", 0);
    memset(sa.id, 'i', STORE_ID_MAX - 1);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);

    CHECK_INT(sa_page(st, NULL, 100, &n, NULL, NULL), STORE_OK);
    CHECK_INT(n, 1);
    store_close(st);
}

TEST(sa_list_pages_in_id_order)
{
    struct store *st = NULL;
    struct store_service_account sa;
    char first[STORE_ID_MAX], last[STORE_ID_MAX];
    size_t n;

    CHECK_INT(open_small(&st), STORE_OK);
    /* inserted out of order */
    static const char *ids[] = {"sa_03", "sa_01", "sa_05", "sa_02", "sa_04"};
    for (size_t i = 0; i < 5; i++) {
        make_sa(&sa, ids[i], 1);
        CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);
        store_service_account_clear(&sa);
    }
    CHECK_INT(sa_page(st, NULL, 2, &n, first, last), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_STR(first, "sa_01");
    CHECK_STR(last, "sa_02");
    CHECK_INT(sa_page(st, last, 2, &n, first, last), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_STR(first, "sa_03");
    CHECK_STR(last, "sa_04");
    CHECK_INT(sa_page(st, last, 2, &n, first, last), STORE_OK);
    CHECK_INT(n, 1);
    CHECK_STR(first, "sa_05");
    CHECK_INT(sa_page(st, last, 2, &n, first, last), STORE_OK);
    CHECK_INT(n, 0);
    /* a cursor between two ids, an empty cursor, limit 0 */
    CHECK_INT(sa_page(st, "sa_025", 2, &n, first, last), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_STR(first, "sa_03");
    CHECK_INT(sa_page(st, "", 10, &n, first, last), STORE_OK);
    CHECK_INT(n, 5);
    CHECK_STR(last, "sa_05");
    CHECK_INT(sa_page(st, NULL, 0, &n, NULL, NULL), STORE_OK);
    CHECK_INT(n, 0);
    store_close(st);
}

static int insert_sa_with_secrets(struct store_txn *txn, const char *sa_id, int nsecrets)
{
    struct store_service_account sa;
    int rc;
    make_sa(&sa, sa_id, 0);
    rc = store_sa_insert(txn, &sa);
    for (int i = 0; i < nsecrets && rc == STORE_OK; i++) {
        struct store_secret sec;
        char id[STORE_ID_MAX];
        snprintf(id, sizeof id, "sec_%02d", i);
        make_secret(&sec, sa_id, id, 1000 + i);
        rc = store_secret_insert(txn, &sec);
    }
    return rc;
}

static int two_accounts_cb(struct store_txn *txn, void *arg)
{
    int rc = insert_sa_with_secrets(txn, "sa_1", 2);
    return rc ? rc : insert_sa_with_secrets(txn, "sa_10", 2);
}

TEST(sa_delete_removes_its_secrets)
{
    struct store *st = NULL;
    struct store_service_account got;
    size_t n;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, two_accounts_cb, NULL), STORE_OK);
    CHECK_INT(secret_count(st, "sa_1", &n), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_INT(store_write(st, sa_delete_cb, "sa_1"), STORE_OK);
    CHECK_INT(sa_get(st, "sa_1", &got), STORE_NOTFOUND);
    CHECK_INT(secret_count(st, "sa_1", &n), STORE_OK);
    CHECK_INT(n, 0);
    /* "sa_10" shares the text prefix "sa_1" but not the key prefix "sa_1/" */
    CHECK_INT(sa_get(st, "sa_10", &got), STORE_OK);
    store_service_account_clear(&got);
    CHECK_INT(secret_count(st, "sa_10", &n), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_INT(store_write(st, sa_delete_cb, "sa_1"), STORE_NOTFOUND);
    store_close(st);
}

/* ---- secrets ---- */

static int one_account_cb(struct store_txn *txn, void *arg)
{
    return insert_sa_with_secrets(txn, arg, 0);
}

TEST(secrets_insert_list_touch_delete)
{
    struct store *st = NULL;
    struct store_secret sec;
    static struct secret_list l;
    struct secret_ref ref = {.sa_id = "sa_s"};

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, one_account_cb, "sa_s"), STORE_OK);
    /* created out of id order: the list is by created_at */
    make_secret(&sec, "sa_s", "sec_a", 300);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_OK);
    make_secret(&sec, "sa_s", "sec_c", 100);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_OK);
    make_secret(&sec, "sa_s", "sec_b", 200);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_OK);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_EXISTS);

    memset(&l, 0, sizeof l);
    l.sa_id = "sa_s";
    l.cap = STORE_SECRETS_MAX;
    CHECK_INT(store_read(st, secret_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.out[0].id, "sec_c");
    CHECK_STR(l.out[1].id, "sec_b");
    CHECK_STR(l.out[2].id, "sec_a");
    CHECK_STR(l.out[1].sa_id, "sa_s");
    CHECK_STR(l.out[1].phc, sec.phc);
    CHECK_STR(l.out[1].hint, "0badf00d");
    CHECK_STR(l.out[1].masked, sec.masked);
    CHECK_INT(l.out[1].created_at, 200);
    CHECK_INT(l.out[1].expires_at, 3800);
    CHECK_INT(l.out[1].last_used_at, 0);

    l.cap = 2; /* the oldest two */
    CHECK_INT(store_read(st, secret_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.out[1].id, "sec_b");

    ref.id = "sec_b";
    ref.when = 1234567;
    CHECK_INT(store_write(st, secret_touch_cb, &ref), STORE_OK);
    l.cap = STORE_SECRETS_MAX;
    CHECK_INT(store_read(st, secret_list_cb, &l), STORE_OK);
    CHECK_INT(l.out[1].last_used_at, 1234567);
    CHECK_STR(l.out[1].phc, sec.phc);
    CHECK_INT(l.out[0].last_used_at, 0);

    ref.id = "sec_a";
    CHECK_INT(store_write(st, secret_delete_cb, &ref), STORE_OK);
    CHECK_INT(store_write(st, secret_delete_cb, &ref), STORE_NOTFOUND);
    CHECK_INT(store_write(st, secret_touch_cb, &ref), STORE_NOTFOUND);
    CHECK_INT(store_read(st, secret_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.out[0].id, "sec_c");
    CHECK_STR(l.out[1].id, "sec_b");

    make_secret(&sec, "sa_s", "sec_toolong", 1);
    memset(sec.phc, 'p', sizeof sec.phc);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_EINVAL);
    store_close(st);
}

TEST(secret_for_missing_account_is_notfound)
{
    struct store *st = NULL;
    struct store_secret sec;
    size_t n;
    CHECK_INT(open_small(&st), STORE_OK);
    make_secret(&sec, "sa_ghost", "sec_1", 1);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_NOTFOUND);
    CHECK_INT(secret_count(st, "sa_ghost", &n), STORE_OK);
    CHECK_INT(n, 0);
    store_close(st);
}

TEST(seventeenth_secret_is_einval)
{
    struct store *st = NULL;
    struct store_secret sec;
    size_t n;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, one_account_cb, "sa_many"), STORE_OK);
    for (int i = 0; i < STORE_SECRETS_MAX; i++) {
        char id[STORE_ID_MAX];
        snprintf(id, sizeof id, "sec_%02d", i);
        make_secret(&sec, "sa_many", id, i);
        CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_OK);
    }
    make_secret(&sec, "sa_many", "sec_16", 16);
    CHECK_INT(store_write(st, secret_insert_cb, &sec), STORE_EINVAL);
    CHECK_INT(secret_count(st, "sa_many", &n), STORE_OK);
    CHECK_INT(n, STORE_SECRETS_MAX);
    store_close(st);
}

/* ---- denylist ---- */

TEST(deny_add_and_has)
{
    struct store *st = NULL;
    char jti[66];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(deny_add(st, "jti-1", 1000), STORE_OK);
    CHECK_INT(deny_has(st, "jti-1"), 1);
    CHECK_INT(deny_has(st, "jti-2"), 0);
    CHECK_INT(deny_add(st, "jti-1", 1000), STORE_OK); /* adding again keeps it */
    CHECK_INT(deny_has(st, "jti-1"), 1);

    memset(jti, 'j', 65);
    jti[65] = '\0';
    CHECK_INT(deny_add(st, jti, 1000), STORE_EINVAL);
    jti[64] = '\0';
    CHECK_INT(deny_add(st, jti, 1000), STORE_OK);
    CHECK_INT(deny_has(st, jti), 1);
    CHECK_INT(deny_add(st, "", 1000), STORE_EINVAL);
    CHECK_INT(deny_add(st, "jti-neg", -1), STORE_EINVAL);
    store_close(st);
}

TEST(sweep_removes_only_expired)
{
    struct store *st = NULL;
    size_t removed = 99;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(deny_add(st, "a", 100), STORE_OK);
    CHECK_INT(deny_add(st, "b", 200), STORE_OK);
    CHECK_INT(deny_add(st, "c", 300), STORE_OK);
    CHECK_INT(deny_add(st, "d", 400), STORE_OK);
    CHECK_INT(deny_add(st, "a", 350), STORE_OK); /* a later exp moves a */
    CHECK_INT(deny_add(st, "d", 50), STORE_OK);  /* an earlier one keeps d */

    CHECK_INT(store_sweep(st, 99, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 200, &removed), STORE_OK); /* exp <= now goes */
    CHECK_INT(removed, 1);
    CHECK_INT(deny_has(st, "b"), 0);
    CHECK_INT(deny_has(st, "a"), 1);
    CHECK_INT(deny_has(st, "c"), 1);
    CHECK_INT(store_sweep(st, 350, &removed), STORE_OK);
    CHECK_INT(removed, 2);
    CHECK_INT(deny_has(st, "a"), 0);
    CHECK_INT(deny_has(st, "c"), 0);
    CHECK_INT(deny_has(st, "d"), 1);
    CHECK_INT(store_sweep(st, 350, NULL), STORE_OK);
    CHECK_INT(store_sweep(st, 400, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(deny_has(st, "d"), 0);
    CHECK_INT(store_sweep(st, INT64_MAX, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    store_close(st);
}

TEST(deny_entries_survive_reopen)
{
    struct store *st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(deny_add(st, "jti-keep", 5000), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(deny_has(st, "jti-keep"), 1);
    store_close(st);
}

/* ---- signing keys ---- */

static int key_put_cb(struct store_txn *txn, void *arg)
{
    return store_key_put(txn, arg);
}

static int key_delete_cb(struct store_txn *txn, void *arg)
{
    return store_key_delete(txn, arg);
}

struct key_list {
    struct store_signing_key *items;
    size_t n;
};

static int key_list_cb(struct store_txn *txn, void *arg)
{
    struct key_list *l = arg;
    return store_key_list(txn, &l->items, &l->n);
}

TEST(signing_keys_round_trip)
{
    struct store *st = NULL;
    static uint8_t sealed1[] = {0, 1, 0, 0, 255, 0}, sealed2[] = {0}, sealed3[1000];
    struct store_signing_key k1 = {.kid = "kid-one",
                                   .alg = "ES256",
                                   .state = STORE_KEY_ACTIVE,
                                   .created_at = 100,
                                   .activated_at = 101,
                                   .sealed = sealed1,
                                   .sealed_len = sizeof sealed1};
    struct store_signing_key k2 = {.kid = "kid-two",
                                   .alg = "EdDSA",
                                   .state = STORE_KEY_NEXT,
                                   .created_at = 50,
                                   .sealed = sealed2,
                                   .sealed_len = sizeof sealed2};
    struct store_signing_key k3 = {.kid = "a-kid-three",
                                   .alg = "RS256",
                                   .state = STORE_KEY_RETIRED,
                                   .created_at = 200,
                                   .activated_at = 201,
                                   .retire_after = 9999,
                                   .sealed = sealed3,
                                   .sealed_len = sizeof sealed3};
    struct key_list l = {0};

    for (size_t i = 0; i < sizeof sealed3; i++)
        sealed3[i] = (uint8_t)(i * 7);
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, key_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 0);
    CHECK(l.items == NULL);
    CHECK_INT(store_write(st, key_put_cb, &k1), STORE_OK);
    CHECK_INT(store_write(st, key_put_cb, &k2), STORE_OK);
    CHECK_INT(store_write(st, key_put_cb, &k3), STORE_OK);

    CHECK_INT(store_read(st, key_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 3);
    CHECK_STR(l.items[0].kid, "kid-two"); /* oldest first */
    CHECK_STR(l.items[1].kid, "kid-one");
    CHECK_STR(l.items[2].kid, "a-kid-three");
    CHECK_STR(l.items[1].alg, "ES256");
    CHECK_INT(l.items[1].state, STORE_KEY_ACTIVE);
    CHECK_INT(l.items[1].created_at, 100);
    CHECK_INT(l.items[1].activated_at, 101);
    CHECK_INT(l.items[1].retire_after, 0);
    CHECK_INT(l.items[1].sealed_len, sizeof sealed1);
    CHECK(l.items[1].sealed != sealed1);
    CHECK(memcmp(l.items[1].sealed, sealed1, sizeof sealed1) == 0);
    CHECK_INT(l.items[0].sealed_len, 1);
    CHECK_INT(l.items[0].sealed[0], 0);
    CHECK_STR(l.items[2].alg, "RS256");
    CHECK_INT(l.items[2].state, STORE_KEY_RETIRED);
    CHECK_INT(l.items[2].retire_after, 9999);
    CHECK_INT(l.items[2].sealed_len, sizeof sealed3);
    CHECK(memcmp(l.items[2].sealed, sealed3, sizeof sealed3) == 0);
    store_key_list_free(l.items, l.n);

    /* replace */
    k1.state = STORE_KEY_RETIRED;
    k1.retire_after = 777;
    k1.sealed_len = 2;
    CHECK_INT(store_write(st, key_put_cb, &k1), STORE_OK);
    CHECK_INT(store_write(st, key_delete_cb, "kid-two"), STORE_OK);
    CHECK_INT(store_write(st, key_delete_cb, "kid-two"), STORE_NOTFOUND);
    CHECK_INT(store_read(st, key_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 2);
    CHECK_STR(l.items[0].kid, "kid-one");
    CHECK_INT(l.items[0].state, STORE_KEY_RETIRED);
    CHECK_INT(l.items[0].retire_after, 777);
    CHECK_INT(l.items[0].sealed_len, 2);
    CHECK_INT(l.items[0].sealed[0] == 0 && l.items[0].sealed[1] == 1, 1);
    store_key_list_free(l.items, l.n);

    /* bad keys change nothing */
    k2.sealed_len = 0;
    CHECK_INT(store_write(st, key_put_cb, &k2), STORE_EINVAL);
    k2.sealed_len = 1;
    k2.state = 3;
    CHECK_INT(store_write(st, key_put_cb, &k2), STORE_EINVAL);
    k2.state = STORE_KEY_NEXT;
    k2.kid[0] = '\0';
    CHECK_INT(store_write(st, key_put_cb, &k2), STORE_EINVAL);
    CHECK_INT(store_read(st, key_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 2);
    store_key_list_free(l.items, l.n);
    store_close(st);
}

/* ---- transactions ---- */

static int insert_then_fail_cb(struct store_txn *txn, void *arg)
{
    int rc = insert_sa_with_secrets(txn, "sa_abort", 1);
    return rc ? rc : 42;
}

TEST(failed_callback_changes_nothing)
{
    struct store *st = NULL;
    struct store_service_account got;
    size_t n = 99;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, insert_then_fail_cb, NULL), 42);
    CHECK_INT(sa_get(st, "sa_abort", &got), STORE_NOTFOUND);
    CHECK_INT(secret_count(st, "sa_abort", &n), STORE_OK);
    CHECK_INT(n, 0);
    /* the same callback, succeeding, is all there */
    CHECK_INT(store_write(st, one_account_cb, "sa_abort"), STORE_OK);
    CHECK_INT(sa_get(st, "sa_abort", &got), STORE_OK);
    store_service_account_clear(&got);
    store_close(st);
}

/* ---- map growth ---- */

static int check_all(struct store *st, const char *prefix, int total)
{
    struct sa_list l = {.limit = (size_t)total + 10};
    int rc = store_read(st, sa_list_cb, &l);
    if (rc == STORE_OK && l.n != (size_t)total)
        rc = -1;
    for (size_t i = 0; rc == STORE_OK && i < l.n; i++) {
        char id[STORE_ID_MAX];
        snprintf(id, sizeof id, "%s%06zu", prefix, i);
        if (strcmp(l.items[i].id, id) != 0 || l.items[i].nroles != 2 ||
            strcmp(l.items[i].roles[1], "role-1") != 0 || strlen(l.items[i].description) != 200)
            rc = -2;
    }
    store_sa_list_free(l.items, l.n);
    return rc;
}

TEST(map_grows_when_full)
{
    LMDB_ONLY();
    struct store *st = NULL;
    size_t grown;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_map_size(st), SMALL_MAP);
    /* 5000 records of ~300 bytes: several doublings of 256 KiB */
    CHECK_INT(insert_batches(st, "sa_", 5000, 100), STORE_OK);
    grown = store_map_size(st);
    CHECK_MSG(grown >= 4 * SMALL_MAP, "map is %zu bytes", grown);
    CHECK_INT(check_all(st, "sa_", 5000), STORE_OK);
    store_close(st);

    /* reopened with the small initial size, the env keeps its grown size */
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_map_size(st), grown);
    CHECK_INT(check_all(st, "sa_", 5000), STORE_OK);
    CHECK_INT(insert_batches(st, "sb_", 10, 10), STORE_OK);
    store_close(st);
}

TEST(map_growth_stops_at_max)
{
    LMDB_ONLY();
    struct store *st = NULL;
    struct store_options opts = {.map_size = SMALL_MAP, .map_size_max = 2 * SMALL_MAP};
    struct meta m = {.name = "schema_version"};
    int inserted = 0, rc = STORE_OK;

    CHECK_INT(store_open(where(), &opts, &st), STORE_OK);
    while (rc == STORE_OK && inserted < 100000) {
        struct batch b = {.prefix = "sa_", .from = inserted, .count = 50};
        rc = store_write(st, batch_cb, &b);
        if (rc == STORE_OK)
            inserted += 50;
    }
    CHECK_INT(rc, STORE_EIO);
    CHECK_INT(store_map_size(st), 2 * SMALL_MAP);
    CHECK(inserted > 0);
    /* the failed batch changed nothing; the store still reads and takes small writes */
    CHECK_INT(check_all(st, "sa_", inserted), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    store_close(st);
}

/* ---- group commit ---- */

struct group_writer {
    struct store *st;
    struct meta m;
    int fail;  /* write, then return STORE_EINVAL: the write must vanish */
    int block; /* the first writer: hold the commit until the others have queued */
    uint64_t base_writes;
    int others;
    atomic_int *entered;
    int rc;
};

static int group_cb(struct store_txn *txn, void *arg)
{
    struct group_writer *g = arg;
    int rc = store_meta_put(txn, g->m.name, g->m.value);
    if (g->block) {
        atomic_store(g->entered, 1);
        /* Wait (at most 10 s) until every other writer is queued behind this commit. */
        for (int i = 0; i < 10000; i++) {
            uint64_t writes, batches;
            store_write_stats(g->st, &writes, &batches);
            if (writes >= g->base_writes + 1 + (uint64_t)g->others)
                break;
            usleep(1000);
        }
    }
    return rc == STORE_OK && g->fail ? STORE_EINVAL : rc;
}

static void *group_thread(void *arg)
{
    struct group_writer *g = arg;
    g->rc = store_write(g->st, group_cb, g);
    return NULL;
}

TEST(group_commit_shares_one_commit_and_isolates_failures)
{
    LMDB_ONLY();
    enum { OTHERS = 7 };
    struct store *st = NULL;
    atomic_int entered = 0;
    static const char *names[OTHERS + 1] = {"g0", "g1", "g2", "g3", "g4", "g5", "g6", "g7"};
    struct group_writer w[OTHERS + 1];
    pthread_t th[OTHERS + 1];
    uint64_t writes0, batches0, writes1, batches1;

    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    store_write_stats(st, &writes0, &batches0);
    for (int i = 0; i <= OTHERS; i++)
        w[i] = (struct group_writer){.st = st,
                                     .m = {.name = names[i], .value = 100 + (uint64_t)i},
                                     .fail = i % 2,
                                     .block = i == 0,
                                     .base_writes = writes0,
                                     .others = OTHERS,
                                     .entered = &entered};
    w[0].fail = 0;
    CHECK(pthread_create(&th[0], NULL, group_thread, &w[0]) == 0);
    while (!atomic_load(&entered))
        usleep(1000);
    for (int i = 1; i <= OTHERS; i++)
        CHECK(pthread_create(&th[i], NULL, group_thread, &w[i]) == 0);
    for (int i = 0; i <= OTHERS; i++)
        pthread_join(th[i], NULL);
    store_write_stats(st, &writes1, &batches1);
    /* the first writer alone, then the seven queued behind it in one transaction */
    CHECK_INT(writes1 - writes0, OTHERS + 1);
    CHECK_INT(batches1 - batches0, 2);
    for (int i = 0; i <= OTHERS; i++) {
        struct meta m = {.name = names[i]};
        CHECK_INT(w[i].rc, w[i].fail ? STORE_EINVAL : STORE_OK);
        CHECK_INT(store_read(st, meta_get_cb, &m), w[i].fail ? STORE_NOTFOUND : STORE_OK);
        if (!w[i].fail)
            CHECK_INT(m.value, 100 + i);
    }
    store_close(st);
}

static int generation_cb(struct store_txn *txn, void *arg)
{
    *(uint64_t *)arg = store_txn_generation(txn);
    return STORE_OK;
}

/* The generation names the last commit, by this process or another, and a read transaction sees
 * the generation it started at. */
TEST(generation_follows_every_commit)
{
    struct store *st = NULL;
    uint64_t g0, g1, g2, seen = 0;
    struct meta m = {.name = "gen_test", .value = 1};
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    g0 = store_generation(st);
    CHECK(g0 > 0);
    CHECK_INT(store_read(st, generation_cb, &seen), STORE_OK);
    CHECK_INT(seen, g0);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    g1 = store_generation(st);
    CHECK(g1 > g0);
    /* an aborted write is no commit */
    CHECK_INT(store_write(st, insert_then_fail_cb, NULL), 42);
    CHECK_INT(store_generation(st), g1);
    /* another process commits: this one sees it without any transaction of its own */
    pid_t child = fork();
    if (child == 0) {
        struct store *other = NULL;
        struct meta cm = {.name = "gen_test", .value = 2};
        int ok = store_open(where(), NULL, &other) == STORE_OK &&
                 store_write(other, meta_put_cb, &cm) == STORE_OK;
        store_close(other);
        _exit(ok ? 0 : 1);
    }
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child && WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* PostgreSQL: the other node's NOTIFY reaches this one's listener a moment later */
    for (int i = 0; i < 200 && store_generation(st) == g1; i++)
        usleep(10000);
    g2 = store_generation(st);
    CHECK(g2 > g1);
    CHECK_INT(store_read(st, generation_cb, &seen), STORE_OK);
    CHECK_INT(seen, g2);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, 2);
    store_close(st);
}

/* Nodes that start together on a new database: each open creates or upgrades the schema under
 * an advisory lock, so all succeed and the schema is made once. PostgreSQL only: LMDB forbids
 * opening one environment twice in a process. */
struct racing_open {
    const char *where;
    struct store *st;
    int rc;
};

static void *racing_open_main(void *arg)
{
    struct racing_open *o = arg;
    o->rc = store_open(o->where, NULL, &o->st);
    return NULL;
}

TEST(nodes_opening_together_migrate_once)
{
    if (!th_on_postgres())
        return;
    enum { N = 4 };
    struct racing_open o[N];
    pthread_t th[N];
    struct meta m = {.name = "schema_version"};
    for (int i = 0; i < N; i++) {
        o[i] = (struct racing_open){.where = where()};
        CHECK_INT(pthread_create(&th[i], NULL, racing_open_main, &o[i]), 0);
    }
    for (int i = 0; i < N; i++)
        pthread_join(th[i], NULL);
    for (int i = 0; i < N; i++)
        CHECK_INT(o[i].rc, STORE_OK);
    CHECK_INT(store_read(o[0].st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    CHECK_INT(store_write(o[1].st, one_account_cb, "sa_race"), STORE_OK);
    for (int i = 0; i < N; i++)
        store_close(o[i].st);
}

/* The clients' generation moves with every commit that may change a service account, a secret
 * or an application; on PostgreSQL not with the others (a user, an audit event), so caches of
 * clients survive the traffic of users. */
TEST(clients_generation_moves_with_clients)
{
    struct store *st = NULL;
    struct meta m = {.name = "gen_test", .value = 1};
    uint64_t c0, c1, a0;
    CHECK_INT(open_small(&st), STORE_OK);
    c0 = store_scope_generation(st, STORE_SCOPE_CLIENTS);
    a0 = store_generation(st);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    CHECK(store_generation(st) > a0);
    c1 = store_scope_generation(st, STORE_SCOPE_CLIENTS);
    if (th_on_postgres())
        CHECK_INT(c1, c0);
    else
        CHECK(c1 > c0); /* LMDB: one counter, the last transaction */
    CHECK_INT(store_write(st, one_account_cb, "sa_gen"), STORE_OK);
    CHECK(store_scope_generation(st, STORE_SCOPE_CLIENTS) > c1);
    store_close(st);
}

struct failures_op {
    const char *key;
    struct store_login_failures f;
    int del;
};

static int failures_put_cb(struct store_txn *txn, void *arg)
{
    struct failures_op *o = arg;
    return o->del ? store_login_failures_delete(txn, o->key)
                  : store_login_failures_put(txn, o->key, &o->f);
}

static int failures_get_cb(struct store_txn *txn, void *arg)
{
    struct failures_op *o = arg;
    return store_login_failures_get(txn, o->key, &o->f);
}

TEST(login_failures_put_get_delete_sweep)
{
    struct store *st = NULL;
    size_t removed = 0;
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    struct failures_op a = {.key = "aaaa", .f = {3, 1000, 0, 5000}};
    struct failures_op b = {.key = "bbbb", .f = {6, 1000, 1030, 9000}};
    CHECK_INT(store_write(st, failures_put_cb, &a), STORE_OK);
    CHECK_INT(store_write(st, failures_put_cb, &b), STORE_OK);
    struct failures_op got = {.key = "bbbb"};
    CHECK_INT(store_read(st, failures_get_cb, &got), STORE_OK);
    CHECK_INT(got.f.count, 6);
    CHECK_INT(got.f.last_failure_at, 1000);
    CHECK_INT(got.f.locked_until, 1030);
    CHECK_INT(got.f.expires_at, 9000);
    /* a replaced record moves in the expiry index: a's new expiry is later than b's */
    a.f = (struct store_login_failures){4, 2000, 0, 20000};
    CHECK_INT(store_write(st, failures_put_cb, &a), STORE_OK);
    CHECK_INT(store_sweep(st, 9000, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    got = (struct failures_op){.key = "bbbb"};
    CHECK_INT(store_read(st, failures_get_cb, &got), STORE_NOTFOUND);
    CHECK_INT(got.f.count, 0);
    got = (struct failures_op){.key = "aaaa"};
    CHECK_INT(store_read(st, failures_get_cb, &got), STORE_OK);
    CHECK_INT(got.f.count, 4);
    /* delete: the record and its index entry go; deleting nothing is fine */
    struct failures_op del = {.key = "aaaa", .del = 1};
    CHECK_INT(store_write(st, failures_put_cb, &del), STORE_OK);
    CHECK_INT(store_write(st, failures_put_cb, &del), STORE_OK);
    CHECK_INT(store_read(st, failures_get_cb, &got), STORE_NOTFOUND);
    CHECK_INT(store_sweep(st, INT64_MAX / 2, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    /* bad keys and values */
    char longkey[STORE_LOGIN_KEY_MAX + 2];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    struct failures_op bad = {.key = longkey, .f = {1, 1, 0, 1}};
    CHECK_INT(store_write(st, failures_put_cb, &bad), STORE_EINVAL);
    bad.key = "";
    CHECK_INT(store_write(st, failures_put_cb, &bad), STORE_EINVAL);
    bad = (struct failures_op){.key = "neg", .f = {1, -1, 0, 1}};
    CHECK_INT(store_write(st, failures_put_cb, &bad), STORE_EINVAL);
    store_close(st);
}

/* A version-1 data folder (before failed logins were kept) is brought to the current version. */
TEST(schema_upgrades_from_1)
{
    struct store *st = NULL;
    struct meta m = {.name = "schema_version", .value = 1};
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    struct failures_op a = {.key = "after-upgrade", .f = {1, 1, 0, 100}};
    CHECK_INT(store_write(st, failures_put_cb, &a), STORE_OK);
    store_close(st);
}

struct grow_writer {
    struct store *st;
    const char *prefix;
    int rc;
};

static void *grow_thread(void *arg)
{
    struct grow_writer *g = arg;
    g->rc = insert_batches(g->st, g->prefix, 1000, 20);
    return NULL;
}

/* Batches of several writers that run out of map grow it and run again, all of them. */
TEST(group_commit_grows_the_map)
{
    LMDB_ONLY();
    struct store *st = NULL;
    struct grow_writer g[4] = {
        {.prefix = "sa_a"}, {.prefix = "sa_b"}, {.prefix = "sa_c"}, {.prefix = "sa_d"}};
    pthread_t th[4];
    CHECK_INT(open_small(&st), STORE_OK);
    for (int i = 0; i < 4; i++) {
        g[i].st = st;
        CHECK(pthread_create(&th[i], NULL, grow_thread, &g[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK_INT(g[i].rc, STORE_OK);
    }
    CHECK(store_map_size(st) > SMALL_MAP);
    struct sa_list l = {.limit = 5000};
    CHECK_INT(store_read(st, sa_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 4000);
    store_sa_list_free(l.items, l.n);
    store_close(st);
}

struct reader_ctx {
    struct store *st;
    atomic_int stop;
    atomic_int errors;
    atomic_long reads;
};

static void *reader_main(void *arg)
{
    struct reader_ctx *ctx = arg;
    while (!atomic_load(&ctx->stop)) {
        struct store_service_account got;
        char first[STORE_ID_MAX] = "";
        size_t n = 0;
        int rc = sa_get(ctx->st, "sa_000003", &got);
        store_service_account_clear(&got);
        if (rc == STORE_OK)
            rc = sa_page(ctx->st, NULL, 5, &n, first, NULL);
        if (rc != STORE_OK || n != 5 || strcmp(first, "sa_000000") != 0)
            atomic_fetch_add(&ctx->errors, 1);
        atomic_fetch_add(&ctx->reads, 1);
    }
    return NULL;
}

static void *generation_main(void *arg)
{
    struct reader_ctx *ctx = arg;
    while (!atomic_load(&ctx->stop)) {
        if (store_generation(ctx->st) == 0)
            atomic_fetch_add(&ctx->errors, 1);
        atomic_fetch_add(&ctx->reads, 1);
    }
    return NULL;
}

/* The generation lives in the map's meta pages, which a resize unmaps: reading it must wait. */
TEST(generation_reads_while_the_map_grows)
{
    LMDB_ONLY();
    struct reader_ctx ctx = {0};
    pthread_t readers[2];
    CHECK_INT(open_small(&ctx.st), STORE_OK);
    for (int i = 0; i < 2; i++)
        CHECK_INT(pthread_create(&readers[i], NULL, generation_main, &ctx), 0);
    int rc = insert_batches(ctx.st, "sb_", 6000, 20);
    atomic_store(&ctx.stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(readers[i], NULL);
    CHECK_INT(rc, STORE_OK);
    CHECK(store_map_size(ctx.st) >= 8 * SMALL_MAP);
    CHECK_INT(atomic_load(&ctx.errors), 0);
    CHECK(atomic_load(&ctx.reads) > 0);
    store_close(ctx.st);
}

TEST(readers_run_while_the_map_grows)
{
    LMDB_ONLY();
    struct reader_ctx ctx = {0};
    pthread_t readers[4];
    size_t n;
    int rc;

    CHECK_INT(open_small(&ctx.st), STORE_OK);
    CHECK_INT(insert_batches(ctx.st, "sa_", 10, 10), STORE_OK);
    for (int i = 0; i < 4; i++)
        CHECK_INT(pthread_create(&readers[i], NULL, reader_main, &ctx), 0);
    rc = insert_batches(ctx.st, "sb_", 4000, 100);
    atomic_store(&ctx.stop, 1);
    for (int i = 0; i < 4; i++)
        pthread_join(readers[i], NULL);
    CHECK_INT(rc, STORE_OK);
    CHECK_INT(atomic_load(&ctx.errors), 0);
    CHECK(atomic_load(&ctx.reads) > 0);
    CHECK_MSG(store_map_size(ctx.st) >= 4 * SMALL_MAP, "map is %zu", store_map_size(ctx.st));
    CHECK_INT(sa_page(ctx.st, NULL, 10000, &n, NULL, NULL), STORE_OK);
    CHECK_INT(n, 4010);
    store_close(ctx.st);
}

TEST(another_process_grows_the_map)
{
    LMDB_ONLY();
    struct store *st = NULL;
    pid_t pid;
    int status;
    size_t n;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(insert_batches(st, "sa_", 1, 1), STORE_OK);
    fflush(NULL);
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        /* the child has its own environment on the same folder, as the CLI beside a server */
        struct store *child = NULL;
        int rc = open_small(&child);
        if (rc == STORE_OK)
            rc = insert_batches(child, "sb_", 4000, 200);
        if (rc == STORE_OK && store_map_size(child) < 4 * SMALL_MAP)
            rc = -1;
        store_close(child);
        _exit(rc == STORE_OK ? 0 : 1);
    }
    CHECK_INT(waitpid(pid, &status, 0), pid);
    CHECK(WIFEXITED(status));
    CHECK_INT(WEXITSTATUS(status), 0);

    /* our map is still small; the next transaction meets MDB_MAP_RESIZED and adopts the size */
    CHECK_INT(store_map_size(st), SMALL_MAP);
    CHECK_INT(sa_page(st, NULL, 10000, &n, NULL, NULL), STORE_OK);
    CHECK_INT(n, 4001);
    CHECK(store_map_size(st) >= 4 * SMALL_MAP);
    CHECK_INT(insert_batches(st, "sc_", 100, 100), STORE_OK);
    CHECK_INT(sa_page(st, NULL, 10000, &n, NULL, NULL), STORE_OK);
    CHECK_INT(n, 4101);
    store_close(st);
}

/* ---- corrupt data ---- */

/* Writes one record into db behind the store's back, or drops db whole when key is NULL. */
static int raw_edit_pg(const char *db, const void *key, size_t key_len, const void *val, size_t len)
{
    char sql[256];
    const char *values[2] = {key, val};
    int lengths[2] = {(int)key_len, (int)len}, formats[2] = {1, 1}, ok;
    PGconn *c = PQconnectdb(where());
    PGresult *r;
    if (key)
        snprintf(sql, sizeof sql,
                 "INSERT INTO idpd.%s (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE "
                 "SET value = EXCLUDED.value",
                 db);
    else
        snprintf(sql, sizeof sql, "DROP TABLE idpd.%s", db);
    r = PQexecParams(c, sql, key ? 2 : 0, NULL, values, lengths, formats, 0);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        fprintf(stderr, "  %s: %s", sql, PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return ok ? 0 : -1;
}

static int raw_edit(const char *db, const void *key, size_t key_len, const void *val, size_t len)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {.mv_size = key_len, .mv_data = (void *)key};
    MDB_val v = {.mv_size = len, .mv_data = (void *)val};
    if (th_on_postgres())
        return raw_edit_pg(db, key, key_len, val, len);
    int mrc = mdb_env_create(&env);
    if (!mrc)
        mrc = mdb_env_set_maxdbs(env, 32);
    if (!mrc)
        mrc = mdb_env_open(env, th_tmpdir(), 0, 0600);
    if (!mrc)
        mrc = mdb_txn_begin(env, NULL, 0, &txn);
    if (!mrc)
        mrc = mdb_dbi_open(txn, db, 0, &dbi);
    if (!mrc)
        mrc = key ? mdb_put(txn, dbi, &k, &v, 0) : mdb_drop(txn, dbi, 1);
    if (!mrc)
        mrc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return mrc;
}

static int raw_put_bin(const char *db, const void *key, size_t key_len, const void *val, size_t len)
{
    return raw_edit(db, key, key_len, val, len);
}

static int raw_put(const char *db, const char *key, const void *val, size_t len)
{
    return raw_put_bin(db, key, strlen(key), val, len);
}

TEST(corrupt_records_are_refused)
{
    struct store *st = NULL;
    struct store_service_account got;
    struct key_list kl = {0};
    size_t n;
    static const char *bad_sas[] = {
        "not json",
        "[1,2]",
        "{\"name\":1,\"description\":\"\",\"disabled\":false,\"created_at\":1,\"updated_at\":1,"
        "\"roles\":[]}",
        "{\"name\":\"x\",\"description\":\"\",\"disabled\":0,\"created_at\":1,\"updated_at\":1,"
        "\"roles\":[]}",
        "{\"name\":\"x\",\"description\":\"\",\"disabled\":false,\"created_at\":1,"
        "\"roles\":[]}",
        "{\"name\":\"x\",\"description\":\"\",\"disabled\":false,\"created_at\":1,\"updated_at\":1,"
        "\"roles\":[\"ok\",7]}",
        "{\"name\":\"x\",\"name\":\"y\",\"description\":\"\",\"disabled\":false,\"created_at\":1,"
        "\"updated_at\":1,\"roles\":[]}",
    };

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, one_account_cb, "sa_ok"), STORE_OK);
    store_close(st);

    for (size_t i = 0; i < sizeof bad_sas / sizeof bad_sas[0]; i++) {
        CHECK_INT(raw_put("service_accounts", "sa_bad", bad_sas[i], strlen(bad_sas[i])), 0);
        st = NULL;
        CHECK_INT(open_small(&st), STORE_OK);
        CHECK_MSG(sa_get(st, "sa_bad", &got) == STORE_ECORRUPT, "record %zu", i);
        CHECK_INT(sa_get(st, "sa_ok", &got), STORE_OK);
        store_service_account_clear(&got);
        CHECK_INT(sa_page(st, NULL, 10, &n, NULL, NULL), STORE_ECORRUPT);
        CHECK_INT(n, 0);
        store_close(st);
    }

    static const char bad_key[] = "{\"alg\":\"ES256\",\"state\":1,\"created_at\":1,"
                                  "\"activated_at\":1,\"retire_after\":0,\"sealed\":\"AA=\"}";
    CHECK_INT(raw_put("signing_keys", "kid-bad", bad_key, strlen(bad_key)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, key_list_cb, &kl), STORE_ECORRUPT);
    CHECK(kl.items == NULL && kl.n == 0);
    store_close(st);

    /* a schema version that is not 8 bytes stops the open */
    CHECK_INT(raw_put("meta", "schema_version", "\x01", 1), 0);
    st = (struct store *)1;
    CHECK_INT(store_open(where(), NULL, &st), STORE_ECORRUPT);
    CHECK(st == NULL);
}

/* ---- helpers for applications, users, identities, sessions, audit events ---- */

/* cap - 1 bytes of c, NUL-terminated: a string at its maximum. */
static void fill(char *dst, size_t cap, char c)
{
    memset(dst, c, cap - 1);
    dst[cap - 1] = '\0';
}

/* Like fill(), starting with "<tag><i>|" so strings at their maximum still differ. */
static void fill_head(char *dst, size_t cap, const char *tag, size_t i, char c)
{
    char head[40];
    int n = snprintf(head, sizeof head, "%s%zu|", tag, i);
    fill(dst, cap, c);
    memcpy(dst, head, (size_t)n);
}

/* A distinct hash for every seed. */
static void hash_of(uint8_t h[STORE_REFRESH_HASH_LEN], int seed)
{
    for (int i = 0; i < STORE_REFRESH_HASH_LEN; i++)
        h[i] = (uint8_t)(seed * 31 + i);
    h[0] = (uint8_t)(seed >> 24);
    h[1] = (uint8_t)(seed >> 16);
    h[2] = (uint8_t)(seed >> 8);
    h[3] = (uint8_t)seed;
}

static void make_app(struct store_application *app, const char *id, int type)
{
    memset(app, 0, sizeof *app);
    snprintf(app->id, sizeof app->id, "%s", id);
    snprintf(app->name, sizeof app->name, "app %s", id);
    app->type = type;
    if (type == STORE_APP_CONFIDENTIAL) {
        snprintf(app->phc, sizeof app->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA");
        snprintf(app->hint, sizeof app->hint, "0badf00d");
    }
    app->ngrants = 2;
    snprintf(app->grants[0], sizeof app->grants[0], "password");
    snprintf(app->grants[1], sizeof app->grants[1], "refresh_token");
    app->nredirect_uris = 1;
    snprintf(app->redirect_uris[0], sizeof app->redirect_uris[0], "https://app.example/cb");
    app->created_at = 1700000000;
    app->updated_at = 1700000001;
}

static int app_insert_cb(struct store_txn *txn, void *arg)
{
    return store_app_insert(txn, arg);
}

static int app_update_cb(struct store_txn *txn, void *arg)
{
    return store_app_update(txn, arg);
}

static int app_delete_cb(struct store_txn *txn, void *arg)
{
    return store_app_delete(txn, arg);
}

struct app_get {
    const char *id;
    struct store_application out;
};

static int app_get_cb(struct store_txn *txn, void *arg)
{
    struct app_get *g = arg;
    return store_app_get(txn, g->id, &g->out);
}

/* Copies into *out; the struct is large, so the caller's is static. */
static int app_get(struct store *st, const char *id, struct store_application *out)
{
    static struct app_get g;
    int rc;
    memset(&g, 0, sizeof g);
    g.id = id;
    rc = store_read(st, app_get_cb, &g);
    *out = g.out;
    return rc;
}

struct page {
    const char *after;
    size_t limit;
    void *items;
    size_t n;
};

static int app_list_cb(struct store_txn *txn, void *arg)
{
    struct page *p = arg;
    return store_app_list(txn, p->after, p->limit, (struct store_application **)&p->items, &p->n);
}

static void make_user(struct store_user *u, const char *id, const char *email)
{
    memset(u, 0, sizeof *u);
    snprintf(u->id, sizeof u->id, "%s", id);
    snprintf(u->email, sizeof u->email, "%s", email);
    snprintf(u->name, sizeof u->name, "name of %s", id);
    u->anonymous = email[0] == '\0';
    u->created_at = 1700000000;
    u->updated_at = 1700000001;
}

static int user_insert_cb(struct store_txn *txn, void *arg)
{
    return store_user_insert(txn, arg);
}

static int user_update_cb(struct store_txn *txn, void *arg)
{
    return store_user_update(txn, arg);
}

static int user_delete_cb(struct store_txn *txn, void *arg)
{
    return store_user_delete(txn, arg);
}

static int user_insert(struct store *st, const char *id, const char *email)
{
    struct store_user u;
    make_user(&u, id, email);
    return store_write(st, user_insert_cb, &u);
}

struct user_get {
    const char *id;
    struct store_user out;
};

static int user_get_cb(struct store_txn *txn, void *arg)
{
    struct user_get *g = arg;
    return store_user_get(txn, g->id, &g->out);
}

/* The caller clears *out with store_user_clear(). */
static int user_get(struct store *st, const char *id, struct store_user *out)
{
    struct user_get g = {.id = id};
    int rc = store_read(st, user_get_cb, &g);
    *out = g.out;
    return rc;
}

struct email_find {
    const char *email;
    char user_id[STORE_ID_MAX];
};

static int email_find_cb(struct store_txn *txn, void *arg)
{
    struct email_find *f = arg;
    return store_user_find_email(txn, f->email, f->user_id);
}

/* The id holding email into user_id (STORE_ID_MAX bytes; "" when none). */
static int email_find(struct store *st, const char *email, char *user_id)
{
    struct email_find f = {.email = email};
    int rc = store_read(st, email_find_cb, &f);
    snprintf(user_id, STORE_ID_MAX, "%s", f.user_id);
    return rc;
}

static int user_list_cb(struct store_txn *txn, void *arg)
{
    struct page *p = arg;
    return store_user_list(txn, p->after, p->limit, (struct store_user **)&p->items, &p->n);
}

static void make_identity(struct store_identity *idn, const char *user_id, const char *id,
                          const char *provider, const char *provider_id, int64_t created_at)
{
    memset(idn, 0, sizeof *idn);
    snprintf(idn->id, sizeof idn->id, "%s", id);
    snprintf(idn->user_id, sizeof idn->user_id, "%s", user_id);
    snprintf(idn->provider, sizeof idn->provider, "%s", provider);
    snprintf(idn->provider_id, sizeof idn->provider_id, "%s", provider_id);
    if (strcmp(provider, "local-userpass") == 0)
        snprintf(idn->phc, sizeof idn->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%s", id);
    idn->created_at = created_at;
}

static int identity_insert_cb(struct store_txn *txn, void *arg)
{
    return store_identity_insert(txn, arg);
}

static int identity_update_cb(struct store_txn *txn, void *arg)
{
    return store_identity_update(txn, arg);
}

static int identity_insert(struct store *st, const char *user_id, const char *id,
                           const char *provider, const char *provider_id, int64_t created_at)
{
    struct store_identity idn;
    make_identity(&idn, user_id, id, provider, provider_id, created_at);
    return store_write(st, identity_insert_cb, &idn);
}

struct identity_ref {
    const char *user_id, *id;           /* delete, list */
    const char *provider, *provider_id; /* find */
    struct store_identity out[STORE_IDENTITIES_MAX + 1];
    size_t cap, n;
};

static int identity_find_cb(struct store_txn *txn, void *arg)
{
    struct identity_ref *r = arg;
    return store_identity_find(txn, r->provider, r->provider_id, &r->out[0]);
}

static int identity_delete_cb(struct store_txn *txn, void *arg)
{
    struct identity_ref *r = arg;
    return store_identity_delete(txn, r->user_id, r->id);
}

static int identity_list_cb(struct store_txn *txn, void *arg)
{
    struct identity_ref *r = arg;
    return store_identity_list(txn, r->user_id, r->out, r->cap, &r->n);
}

static int identity_find(struct store *st, const char *provider, const char *provider_id,
                         struct store_identity *out)
{
    static struct identity_ref r;
    int rc;
    memset(&r, 0, sizeof r);
    r.provider = provider;
    r.provider_id = provider_id;
    rc = store_read(st, identity_find_cb, &r);
    *out = r.out[0];
    return rc;
}

static int identity_delete(struct store *st, const char *user_id, const char *id)
{
    static struct identity_ref r;
    memset(&r, 0, sizeof r);
    r.user_id = user_id;
    r.id = id;
    return store_write(st, identity_delete_cb, &r);
}

/* How many identities user_id holds, or -1 on error. */
static long identity_count(struct store *st, const char *user_id)
{
    static struct identity_ref r;
    memset(&r, 0, sizeof r);
    r.user_id = user_id;
    r.cap = STORE_IDENTITIES_MAX + 1;
    return store_read(st, identity_list_cb, &r) ? -1 : (long)r.n;
}

static void make_session(struct store_session *s, const char *id, const char *user_id, int seed,
                         int64_t created_at, int64_t idle_exp, int64_t abs_exp)
{
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "%s", id);
    snprintf(s->user_id, sizeof s->user_id, "%s", user_id);
    snprintf(s->client_id, sizeof s->client_id, "app_sdk");
    snprintf(s->amr, sizeof s->amr, "pwd");
    s->created_at = created_at;
    s->last_used_at = created_at;
    s->idle_expires_at = idle_exp;
    s->absolute_expires_at = abs_exp;
    snprintf(s->client_ip, sizeof s->client_ip, "192.0.2.7");
    snprintf(s->user_agent, sizeof s->user_agent, "test-agent/1.0");
    hash_of(s->refresh_hash, seed);
}

static int session_insert_cb(struct store_txn *txn, void *arg)
{
    return store_session_insert(txn, arg);
}

static int session_delete_cb(struct store_txn *txn, void *arg)
{
    return store_session_delete(txn, arg);
}

static int session_insert(struct store *st, const char *id, const char *user_id, int seed,
                          int64_t created_at, int64_t idle_exp, int64_t abs_exp)
{
    struct store_session s;
    make_session(&s, id, user_id, seed, created_at, idle_exp, abs_exp);
    return store_write(st, session_insert_cb, &s);
}

struct session_get {
    const char *id;
    struct store_session out;
};

static int session_get_cb(struct store_txn *txn, void *arg)
{
    struct session_get *g = arg;
    return store_session_get(txn, g->id, &g->out);
}

static int session_get(struct store *st, const char *id, struct store_session *out)
{
    struct session_get g = {.id = id};
    int rc = store_read(st, session_get_cb, &g);
    *out = g.out;
    return rc;
}

struct rotate {
    const char *id;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    int64_t now, idle;
};

static int rotate_cb(struct store_txn *txn, void *arg)
{
    struct rotate *r = arg;
    return store_session_rotate(txn, r->id, r->hash, r->now, r->idle);
}

static int session_rotate(struct store *st, const char *id, int seed, int64_t now, int64_t idle)
{
    struct rotate r = {.id = id, .now = now, .idle = idle};
    hash_of(r.hash, seed);
    return store_write(st, rotate_cb, &r);
}

struct refresh_find {
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    char session_id[STORE_ID_MAX];
    int superseded;
};

static int refresh_find_cb(struct store_txn *txn, void *arg)
{
    struct refresh_find *f = arg;
    return store_session_find_refresh(txn, f->hash, f->session_id, &f->superseded);
}

/* The session of the hash of seed into session_id ("" when none), its state into *superseded. */
static int refresh_find(struct store *st, int seed, char *session_id, int *superseded)
{
    struct refresh_find f = {.superseded = -1};
    int rc;
    hash_of(f.hash, seed);
    rc = store_read(st, refresh_find_cb, &f);
    snprintf(session_id, STORE_ID_MAX, "%s", f.session_id);
    *superseded = f.superseded;
    return rc;
}

/* 1 when the hash of seed is known, 0 when not, -1 on error. */
static int refresh_known(struct store *st, int seed)
{
    char sid[STORE_ID_MAX];
    int sup, rc = refresh_find(st, seed, sid, &sup);
    return rc == STORE_OK ? 1 : rc == STORE_NOTFOUND ? 0 : -1;
}

struct user_sessions {
    const char *user_id, *keep;
    struct store_session *items;
    size_t n;
};

static int session_list_cb(struct store_txn *txn, void *arg)
{
    struct user_sessions *l = arg;
    return store_session_list(txn, l->user_id, &l->items, &l->n);
}

static int delete_user_sessions_cb(struct store_txn *txn, void *arg)
{
    struct user_sessions *l = arg;
    return store_session_delete_user(txn, l->user_id, l->keep, &l->n);
}

/* How many sessions user_id has, or -1 on error; *first (may be NULL) the oldest's id. */
static long session_count(struct store *st, const char *user_id, char *first)
{
    struct user_sessions l = {.user_id = user_id};
    int rc = store_read(st, session_list_cb, &l);
    if (first)
        snprintf(first, STORE_ID_MAX, "%s", l.n ? l.items[0].id : "");
    free(l.items);
    return rc ? -1 : (long)l.n;
}

static void make_event(struct store_audit_event *ev, const char *id, int64_t time)
{
    memset(ev, 0, sizeof *ev);
    snprintf(ev->id, sizeof ev->id, "%s", id);
    ev->time = time;
    snprintf(ev->type, sizeof ev->type, "user.login");
    snprintf(ev->actor, sizeof ev->actor, "usr_actor");
    snprintf(ev->target, sizeof ev->target, "ses_target");
    snprintf(ev->client_ip, sizeof ev->client_ip, "2001:db8::1");
    snprintf(ev->result, sizeof ev->result, "success");
    snprintf(ev->detail, sizeof ev->detail, "detail of %s", id);
}

static int audit_append_cb(struct store_txn *txn, void *arg)
{
    return store_audit_append(txn, arg);
}

static int audit_list_cb(struct store_txn *txn, void *arg)
{
    struct page *p = arg;
    return store_audit_list(txn, p->after, p->limit, (struct store_audit_event **)&p->items, &p->n);
}

/* Lists events before `before`; writes the ids, newest first, comma-separated into ids. */
static int audit_page(struct store *st, const char *before, size_t limit, char *ids, size_t cap)
{
    struct page p = {.after = before, .limit = limit};
    struct store_audit_event *items;
    int rc = store_read(st, audit_list_cb, &p);
    size_t used = 0;

    items = p.items;
    ids[0] = '\0';
    for (size_t i = 0; i < p.n && used < cap; i++)
        used += (size_t)snprintf(ids + used, cap - used, "%s%s", i ? "," : "", items[i].id);
    free(items);
    return rc;
}

/* ---- applications ---- */

TEST(app_round_trip_at_maximum)
{
    struct store *st = NULL;
    static struct store_application app, got;

    CHECK_INT(open_small(&st), STORE_OK);
    make_app(&app, "", STORE_APP_CONFIDENTIAL);
    fill_head(app.id, STORE_ID_MAX, "app_", 0, 'i');
    fill_head(app.name, STORE_NAME_MAX, "caf\xc3\xa9 \"q\" \\ ", 0, 'n');
    fill_head(app.phc, STORE_PHC_MAX, "$argon2id$", 0, 'p');
    snprintf(app.hint, sizeof app.hint, "89abcdef");
    app.ngrants = STORE_GRANTS_MAX;
    for (size_t i = 0; i < STORE_GRANTS_MAX; i++)
        fill_head(app.grants[i], STORE_GRANT_MAX, "urn:idpd:grant-type:", i, 'g');
    app.nredirect_uris = STORE_URIS_MAX;
    app.norigins = STORE_URIS_MAX;
    for (size_t i = 0; i < STORE_URIS_MAX; i++) {
        fill_head(app.redirect_uris[i], STORE_URI_MAX, "https://r.example/", i, 'r');
        fill_head(app.origins[i], STORE_ORIGIN_MAX, "https://o.example:", i, 'o');
    }
    app.created_at = INT64_MIN;
    app.updated_at = INT64_MAX;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_OK);

    CHECK_INT(app_get(st, app.id, &got), STORE_OK);
    CHECK_STR(got.id, app.id);
    CHECK_INT(strlen(got.id), 47);
    CHECK_STR(got.name, app.name);
    CHECK_INT(strlen(got.name), 256);
    CHECK_INT(got.type, STORE_APP_CONFIDENTIAL);
    CHECK_STR(got.phc, app.phc);
    CHECK_INT(strlen(got.phc), 127);
    CHECK_STR(got.hint, "89abcdef");
    CHECK_INT(got.ngrants, STORE_GRANTS_MAX);
    for (size_t i = 0; i < STORE_GRANTS_MAX; i++) {
        CHECK_STR(got.grants[i], app.grants[i]);
        CHECK_INT(strlen(got.grants[i]), 63);
    }
    CHECK_INT(got.nredirect_uris, STORE_URIS_MAX);
    CHECK_INT(got.norigins, STORE_URIS_MAX);
    for (size_t i = 0; i < STORE_URIS_MAX; i++) {
        CHECK_STR(got.redirect_uris[i], app.redirect_uris[i]);
        CHECK_STR(got.origins[i], app.origins[i]);
        CHECK_INT(strlen(got.origins[i]), 300);
    }
    CHECK(got.created_at == INT64_MIN);
    CHECK(got.updated_at == INT64_MAX);

    /* duplicate id; update to a public client with fewer lists; delete */
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EXISTS);
    make_app(&app, got.id, STORE_APP_PUBLIC);
    app.ngrants = 1;
    snprintf(app.grants[0], sizeof app.grants[0], "urn:idpd:grant-type:anonymous");
    app.nredirect_uris = 0;
    app.updated_at = 1800000000;
    CHECK_INT(store_write(st, app_update_cb, &app), STORE_OK);
    CHECK_INT(app_get(st, app.id, &got), STORE_OK);
    CHECK_INT(got.type, STORE_APP_PUBLIC);
    CHECK_STR(got.phc, "");
    CHECK_STR(got.hint, "");
    CHECK_INT(got.ngrants, 1);
    CHECK_STR(got.grants[0], "urn:idpd:grant-type:anonymous");
    CHECK_INT(got.nredirect_uris, 0);
    CHECK_INT(got.norigins, 0);
    CHECK_INT(got.updated_at, 1800000000);
    CHECK_INT(store_write(st, app_delete_cb, app.id), STORE_OK);
    CHECK_INT(app_get(st, app.id, &got), STORE_NOTFOUND);
    CHECK(got.id[0] == '\0');
    CHECK_INT(store_write(st, app_delete_cb, app.id), STORE_NOTFOUND);
    CHECK_INT(store_write(st, app_update_cb, &app), STORE_NOTFOUND);
    store_close(st);
}

struct app_name_q {
    const char *id;
    char name[STORE_NAME_MAX];
};

static int app_name_cb(struct store_txn *txn, void *arg)
{
    struct app_name_q *q = arg;
    return store_app_name_get(txn, q->id, q->name);
}

/* The name alone answers as the whole record does: the name, NOTFOUND, EINVAL, ECORRUPT, and ""
 * on every error. */
TEST(app_name_get_answers_as_app_get)
{
    struct store *st = NULL;
    static struct store_application app;
    struct app_name_q q = {.id = "app_named"};
    static const char bad[] = "{\"name\":\"shown\",\"type\":0}";

    CHECK_INT(open_small(&st), STORE_OK);
    make_app(&app, "app_named", STORE_APP_PUBLIC);
    fill_head(app.name, STORE_NAME_MAX, "caf\xc3\xa9 ", 0, 'n');
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_OK);
    CHECK_INT(store_read(st, app_name_cb, &q), STORE_OK);
    CHECK_STR(q.name, app.name);
    CHECK_INT(strlen(q.name), STORE_NAME_MAX - 1);
    q.id = "app_none";
    CHECK_INT(store_read(st, app_name_cb, &q), STORE_NOTFOUND);
    CHECK_STR(q.name, "");
    snprintf(q.name, sizeof q.name, "stale");
    q.id = "app/slash";
    CHECK_INT(store_read(st, app_name_cb, &q), STORE_EINVAL);
    CHECK_STR(q.name, "");
    store_close(st);

    /* a record with a readable name but missing members is refused, name and all */
    CHECK_INT(raw_put("applications", "app_bad", bad, strlen(bad)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    snprintf(q.name, sizeof q.name, "stale");
    q.id = "app_bad";
    CHECK_INT(store_read(st, app_name_cb, &q), STORE_ECORRUPT);
    CHECK_STR(q.name, "");
    store_close(st);
}

TEST(app_limits_are_einval)
{
    struct store *st = NULL;
    static struct store_application app, got;
    struct page p = {.limit = 10};

    CHECK_INT(open_small(&st), STORE_OK);
    make_app(&app, "app_type", 2);
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_pub", STORE_APP_PUBLIC); /* a public client holds no secret */
    snprintf(app.phc, sizeof app.phc, "$argon2id$x");
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_conf", STORE_APP_CONFIDENTIAL); /* a confidential one has one */
    app.phc[0] = '\0';
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_grants", STORE_APP_PUBLIC);
    app.ngrants = STORE_GRANTS_MAX + 1;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_grant", STORE_APP_PUBLIC);
    memset(app.grants[1], 'g', STORE_GRANT_MAX); /* 64 bytes, no NUL */
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    app.grants[1][0] = '\0';
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_uris", STORE_APP_PUBLIC);
    app.nredirect_uris = STORE_URIS_MAX + 1;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_uri", STORE_APP_PUBLIC);
    memset(app.redirect_uris[0], 'u', STORE_URI_MAX); /* 1025 bytes */
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_origins", STORE_APP_PUBLIC);
    app.norigins = STORE_URIS_MAX + 1;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_origin", STORE_APP_PUBLIC);
    memset(app.origins[0], 'o', STORE_ORIGIN_MAX); /* 301 bytes */
    app.norigins = 1;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_name", STORE_APP_PUBLIC);
    memset(app.name, 'n', STORE_NAME_MAX);
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app_utf8", STORE_APP_PUBLIC);
    snprintf(app.origins[0], sizeof app.origins[0], "https://\xff");
    app.norigins = 1;
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    make_app(&app, "app/slash", STORE_APP_PUBLIC);
    CHECK_INT(store_write(st, app_insert_cb, &app), STORE_EINVAL);
    CHECK_INT(app_get(st, "app/slash", &got), STORE_EINVAL);

    CHECK_INT(store_read(st, app_list_cb, &p), STORE_OK);
    CHECK_INT(p.n, 0);
    free(p.items);
    store_close(st);
}

struct origin_q {
    const char *origin, *app_id;
};

static int origin_cb(struct store_txn *txn, void *arg)
{
    struct origin_q *q = arg;
    return store_origin_allowed(txn, q->origin, q->app_id);
}

static int origin_allowed(struct store *st, const char *origin, const char *app_id)
{
    struct origin_q q = {origin, app_id};
    return store_read(st, origin_cb, &q);
}

static void app_origins(struct store_application *app, const char *a, const char *b)
{
    app->norigins = 0;
    if (a)
        snprintf(app->origins[app->norigins++], sizeof app->origins[0], "%s", a);
    if (b)
        snprintf(app->origins[app->norigins++], sizeof app->origins[0], "%s", b);
}

/* The origin index answers for one application and for any, follows updates and deletes, and
 * ignores case; an origin is matched whole, never by prefix. */
TEST(app_origins_are_indexed)
{
    struct store *st = NULL;
    static struct store_application a, b;

    CHECK_INT(open_small(&st), STORE_OK);
    make_app(&a, "app_a", STORE_APP_PUBLIC);
    app_origins(&a, "https://shop.example", "http://localhost:3000");
    make_app(&b, "app_b", STORE_APP_PUBLIC);
    app_origins(&b, "https://shop.example", "https://B.example");
    CHECK_INT(store_write(st, app_insert_cb, &a), STORE_OK);
    CHECK_INT(store_write(st, app_insert_cb, &b), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://shop.example", NULL), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://shop.example", "app_a"), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://shop.example", "app_b"), STORE_OK);
    CHECK_INT(origin_allowed(st, "http://localhost:3000", "app_b"), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://b.example", "app_b"), STORE_OK);
    CHECK_INT(origin_allowed(st, "HTTPS://SHOP.EXAMPLE", NULL), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://shop.exampl", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://shop.example.evil", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "http://localhost:300", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://shop.example", "app_none"), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://shop.example", "app/bad"), STORE_EINVAL);

    /* an update replaces the application's entries; the other keeps its own */
    app_origins(&a, "https://new.example", NULL);
    CHECK_INT(store_write(st, app_update_cb, &a), STORE_OK);
    CHECK_INT(origin_allowed(st, "http://localhost:3000", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://shop.example", "app_a"), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://shop.example", NULL), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://new.example", "app_a"), STORE_OK);
    /* a failed update changes nothing */
    a.norigins = STORE_URIS_MAX + 1;
    CHECK_INT(store_write(st, app_update_cb, &a), STORE_EINVAL);
    CHECK_INT(origin_allowed(st, "https://new.example", "app_a"), STORE_OK);
    /* a delete takes the entries with it */
    CHECK_INT(store_write(st, app_delete_cb, "app_b"), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://shop.example", NULL), STORE_NOTFOUND);
    CHECK_INT(origin_allowed(st, "https://b.example", NULL), STORE_NOTFOUND);
    /* two spellings of one origin in one application share an entry */
    app_origins(&a, "https://Twice.example", "https://twice.example");
    CHECK_INT(store_write(st, app_update_cb, &a), STORE_OK);
    CHECK_INT(store_write(st, app_delete_cb, "app_a"), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://twice.example", NULL), STORE_NOTFOUND);
    store_close(st);
}

/* Drops a named database as a data folder from before it existed would lack it. */
static int raw_drop(const char *db)
{
    return raw_edit(db, NULL, 0, NULL, 0);
}

/* A version-2 data folder gets the origin index of the applications it holds. */
TEST(schema_upgrade_to_3_indexes_origins)
{
    struct store *st = NULL;
    static struct store_application a;
    struct meta m = {.name = "schema_version", .value = 2};

    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    make_app(&a, "app_old", STORE_APP_PUBLIC);
    app_origins(&a, "https://old.example", "http://127.0.0.1:8080");
    CHECK_INT(store_write(st, app_insert_cb, &a), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(raw_drop("app_origins"), 0);
    CHECK_INT(store_open(where(), NULL, &st), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    CHECK_INT(origin_allowed(st, "https://old.example", "app_old"), STORE_OK);
    CHECK_INT(origin_allowed(st, "http://127.0.0.1:8080", NULL), STORE_OK);
    CHECK_INT(origin_allowed(st, "https://other.example", NULL), STORE_NOTFOUND);
    store_close(st);
}

TEST(app_list_pages_in_id_order)
{
    struct store *st = NULL;
    static struct store_application app;
    struct store_application *items;
    struct page p = {.limit = 2};

    CHECK_INT(open_small(&st), STORE_OK);
    static const char *ids[] = {"app_3", "app_1", "app_2"};
    for (size_t i = 0; i < 3; i++) {
        make_app(&app, ids[i], (int)(i % 2));
        CHECK_INT(store_write(st, app_insert_cb, &app), STORE_OK);
    }
    CHECK_INT(store_read(st, app_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 2);
    CHECK_STR(items[0].id, "app_1");
    CHECK_INT(items[0].type, STORE_APP_CONFIDENTIAL); /* inserted second */
    CHECK_STR(items[0].hint, "0badf00d");
    CHECK_STR(items[1].id, "app_2");
    CHECK_INT(items[1].type, STORE_APP_PUBLIC);
    CHECK_STR(items[1].grants[1], "refresh_token");
    free(items);
    p.after = "app_2";
    CHECK_INT(store_read(st, app_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 1);
    CHECK_STR(items[0].id, "app_3");
    free(items);
    store_close(st);
}

/* ---- users ---- */

TEST(user_round_trip_at_maximum)
{
    struct store *st = NULL;
    struct store_user u, got;
    char found[STORE_ID_MAX];
    char *metadata = malloc(STORE_METADATA_MAX + 1);

    CHECK(metadata != NULL);
    /* a compact object of exactly STORE_METADATA_MAX bytes: {"k":"xxx…"} */
    memset(metadata, 'x', STORE_METADATA_MAX);
    memcpy(metadata, "{\"k\":\"", 6);
    memcpy(metadata + STORE_METADATA_MAX - 2, "\"}", 2);
    metadata[STORE_METADATA_MAX] = '\0';

    CHECK_INT(open_small(&st), STORE_OK);
    make_user(&u, "", "");
    fill_head(u.id, STORE_ID_MAX, "usr_", 0, 'i');
    fill_head(u.email, STORE_EMAIL_MAX, "Caf\xc3\xa9@", 0, 'e');
    fill_head(u.name, STORE_NAME_MAX, "N\"a\\m\te ", 0, 'n');
    u.status = STORE_USER_DISABLED;
    u.anonymous = 0;
    u.created_at = -5;
    u.updated_at = INT64_MAX;
    u.metadata = metadata;
    u.nroles = STORE_ROLES_MAX;
    u.roles = calloc(STORE_ROLES_MAX, sizeof *u.roles);
    CHECK(u.roles != NULL);
    for (size_t i = 0; i < STORE_ROLES_MAX; i++)
        fill_head(u.roles[i], STORE_ROLE_MAX, "readWrite@db", i, 'r');
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_OK);

    CHECK_INT(user_get(st, u.id, &got), STORE_OK);
    CHECK_STR(got.id, u.id);
    CHECK_STR(got.email, u.email);
    CHECK_INT(strlen(got.email), 320);
    CHECK_STR(got.name, u.name);
    CHECK_INT(strlen(got.name), 256);
    CHECK_INT(got.status, STORE_USER_DISABLED);
    CHECK_INT(got.anonymous, 0);
    CHECK_INT(got.created_at, -5);
    CHECK(got.updated_at == INT64_MAX);
    CHECK_STR(got.metadata, metadata);
    CHECK(got.metadata != metadata);
    CHECK_INT(got.nroles, STORE_ROLES_MAX);
    for (size_t i = 0; i < STORE_ROLES_MAX; i++) {
        CHECK_STR(got.roles[i], u.roles[i]);
        CHECK_INT(strlen(got.roles[i]), 128);
    }
    store_user_clear(&got);
    CHECK(got.metadata == NULL && got.roles == NULL && got.nroles == 0 && got.id[0] == '\0');
    /* the email index holds the lower-cased email: the upper-case 'C' matches 'c' */
    CHECK_INT(email_find(st, u.email, found), STORE_OK);
    CHECK_STR(found, u.id);
    u.email[0] = 'c';
    CHECK_INT(email_find(st, u.email, found), STORE_OK);
    CHECK_STR(found, u.id);
    u.email[0] = 'C';

    /* metadata: NULL reads back as {}; spaces are not kept; one byte over the limit is refused */
    free(u.roles);
    u.roles = NULL;
    u.nroles = 0;
    u.metadata = NULL;
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(user_get(st, u.id, &got), STORE_OK);
    CHECK_STR(got.metadata, "{}");
    CHECK_INT(got.nroles, 0);
    CHECK(got.roles == NULL);
    store_user_clear(&got);
    u.metadata = " { \"plan\" : \"pro\", \"n\" : [1, 2.5, null, true] } ";
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(user_get(st, u.id, &got), STORE_OK);
    CHECK_STR(got.metadata, "{\"plan\":\"pro\",\"n\":[1,2.5,null,true]}");
    store_user_clear(&got);
    metadata = realloc(metadata, STORE_METADATA_MAX + 2);
    CHECK(metadata != NULL);
    memset(metadata, 'x', STORE_METADATA_MAX + 1);
    memcpy(metadata, "{\"k\":\"", 6);
    memcpy(metadata + STORE_METADATA_MAX - 1, "\"}", 2);
    metadata[STORE_METADATA_MAX + 1] = '\0';
    CHECK_INT(strlen(metadata), STORE_METADATA_MAX + 1);
    u.metadata = metadata;
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_EINVAL);
    CHECK_INT(user_get(st, u.id, &got), STORE_OK);
    CHECK_STR(got.metadata, "{\"plan\":\"pro\",\"n\":[1,2.5,null,true]}");
    store_user_clear(&got);
    free(metadata);
    store_close(st);
}

TEST(user_limits_are_einval)
{
    struct store *st = NULL;
    struct store_user u, got;
    char role[2][STORE_ROLE_MAX];
    static const char *bad_metadata[] = {
        "",
        "[]",
        "1",
        "\"s\"",
        "null",
        "{",
        "{} {}",
        "{\"a\":1,\"a\":2}",
        "{\"a\":\"\xff\"}",
        "{\"a\":1e999}",
    };

    CHECK_INT(open_small(&st), STORE_OK);
    for (size_t i = 0; i < sizeof bad_metadata / sizeof bad_metadata[0]; i++) {
        make_user(&u, "usr_meta", "meta@x.com");
        u.metadata = (char *)bad_metadata[i];
        CHECK_MSG(store_write(st, user_insert_cb, &u) == STORE_EINVAL, "metadata %zu", i);
    }
    make_user(&u, "usr_status", "");
    u.status = 2;
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr_anon", "");
    u.anonymous = 2;
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr_email", "");
    memset(u.email, 'e', STORE_EMAIL_MAX); /* 321 bytes */
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr_utf8", "bad\xff@x.com");
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr_name", "");
    memset(u.name, 'n', STORE_NAME_MAX);
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr_roles", "");
    u.nroles = STORE_ROLES_MAX + 1;
    u.roles = role; /* checked before use: the count is refused first */
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    u.nroles = 2;
    snprintf(role[0], sizeof role[0], "idp:admin");
    role[1][0] = '\0';
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    memset(role[1], 'r', STORE_ROLE_MAX);
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    make_user(&u, "usr/slash", "");
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    CHECK_INT(user_get(st, "usr/slash", &got), STORE_EINVAL);
    CHECK_INT(email_find(st, "", u.id), STORE_EINVAL);
    /* nothing of the refused users is there */
    CHECK_INT(user_get(st, "usr_meta", &got), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "meta@x.com", u.id), STORE_NOTFOUND);
    CHECK_STR(u.id, "");
    store_close(st);
}

TEST(user_email_is_unique_ignoring_case)
{
    struct store *st = NULL;
    struct store_user got;
    char found[STORE_ID_MAX];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_alice", "Alice@X.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_alice2", "alice@x.com"), STORE_EXISTS);
    CHECK_INT(user_insert(st, "usr_alice3", "ALICE@X.COM"), STORE_EXISTS);
    CHECK_INT(user_get(st, "usr_alice2", &got), STORE_NOTFOUND);
    CHECK_INT(user_insert(st, "usr_alice", "other@x.com"), STORE_EXISTS);
    CHECK_INT(email_find(st, "other@x.com", found), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "aLiCe@x.CoM", found), STORE_OK);
    CHECK_STR(found, "usr_alice");
    CHECK_INT(user_get(st, "usr_alice", &got), STORE_OK);
    CHECK_STR(got.email, "Alice@X.com"); /* the record keeps the spelling */
    store_user_clear(&got);
    /* only ASCII folds: "É" and "é" are different emails */
    CHECK_INT(user_insert(st, "usr_e1", "\xc3\x89@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_e2", "\xc3\xa9@x.com"), STORE_OK);
    /* anonymous users have no email and any number of them coexist */
    CHECK_INT(user_insert(st, "usr_anon1", ""), STORE_OK);
    CHECK_INT(user_insert(st, "usr_anon2", ""), STORE_OK);
    CHECK_INT(user_get(st, "usr_anon2", &got), STORE_OK);
    CHECK_INT(got.anonymous, 1);
    CHECK_STR(got.email, "");
    store_user_clear(&got);
    store_close(st);
}

TEST(user_update_moves_the_email_index)
{
    struct store *st = NULL;
    struct store_user u, got;
    char found[STORE_ID_MAX];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_a", "alice@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_b", "bob@x.com"), STORE_OK);

    make_user(&u, "usr_a", "carol@x.com");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(email_find(st, "alice@x.com", found), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_a");

    /* another user's email, in any case: refused, nothing changes */
    make_user(&u, "usr_a", "Bob@X.com");
    snprintf(u.name, sizeof u.name, "not applied");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_EXISTS);
    CHECK_INT(user_get(st, "usr_a", &got), STORE_OK);
    CHECK_STR(got.email, "carol@x.com");
    CHECK_STR(got.name, "name of usr_a");
    store_user_clear(&got);
    CHECK_INT(email_find(st, "bob@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_b");

    /* the same email in another case: fine, and the record takes the new spelling */
    make_user(&u, "usr_a", "CAROL@x.com");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(user_get(st, "usr_a", &got), STORE_OK);
    CHECK_STR(got.email, "CAROL@x.com");
    store_user_clear(&got);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_a");

    /* the freed email can be taken by someone else */
    CHECK_INT(user_insert(st, "usr_c", "ALICE@x.com"), STORE_OK);
    CHECK_INT(email_find(st, "alice@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_c");

    /* to no email (anonymous again) and back */
    make_user(&u, "usr_a", "");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_NOTFOUND);
    make_user(&u, "usr_a", "dave@x.com");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(email_find(st, "dave@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_a");

    make_user(&u, "usr_nobody", "nobody@x.com");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "nobody@x.com", found), STORE_NOTFOUND);
    store_close(st);
}

/* server/ gives the key an email is unique under (NFKC_Casefold, issue 12): the index holds it,
 * the record keeps it with the email as typed, and a record without one (older, or a caller that
 * gives none) is indexed under its ASCII-lower-cased email as before. */
TEST(user_email_key_is_the_index)
{
    struct store *st = NULL;
    struct store_user u, got;
    char found[STORE_ID_MAX];

    CHECK_INT(open_small(&st), STORE_OK);
    make_user(&u, "usr_fw",
              "\xef\xbd\x83"
              "arol@x.com"); /* fullwidth c */
    snprintf(u.email_key, sizeof u.email_key, "carol@x.com");
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_OK);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_fw");
    CHECK_INT(email_find(st,
                         "\xef\xbd\x83"
                         "arol@x.com",
                         found),
              STORE_NOTFOUND);
    CHECK_INT(user_get(st, "usr_fw", &got), STORE_OK);
    CHECK_STR(got.email, "\xef\xbd\x83"
                         "arol@x.com");
    CHECK_STR(got.email_key, "carol@x.com");
    store_user_clear(&got);
    /* an ASCII email without a key meets the same index entry */
    CHECK_INT(user_insert(st, "usr_ascii", "Carol@X.com"), STORE_EXISTS);
    /* an update that keeps the record's key (as read) keeps the entry; a new key moves it */
    CHECK_INT(user_get(st, "usr_fw", &got), STORE_OK);
    snprintf(got.name, sizeof got.name, "renamed");
    CHECK_INT(store_write(st, user_update_cb, &got), STORE_OK);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_OK);
    snprintf(got.email, sizeof got.email, "M\xc3\x9cller@x.com");
    snprintf(got.email_key, sizeof got.email_key, "m\xc3\xbcller@x.com");
    CHECK_INT(store_write(st, user_update_cb, &got), STORE_OK);
    store_user_clear(&got);
    CHECK_INT(email_find(st, "carol@x.com", found), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "m\xc3\xbcller@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_fw");
    /* a record made before keys were kept moves from its old key */
    CHECK_INT(user_insert(st, "usr_old", "J\xc3\x96rg@x.com"), STORE_OK);
    CHECK_INT(email_find(st, "j\xc3\x96rg@x.com", found), STORE_OK);
    make_user(&u, "usr_old", "J\xc3\x96rg@x.com");
    snprintf(u.email_key, sizeof u.email_key, "j\xc3\xb6rg@x.com");
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_OK);
    CHECK_INT(email_find(st, "j\xc3\x96rg@x.com", found), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "j\xc3\xb6rg@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_old");
    /* a key without an email is not a user */
    make_user(&u, "usr_bad", "");
    snprintf(u.email_key, sizeof u.email_key, "bad@x.com");
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_EINVAL);
    store_close(st);
}

/* email_verified is kept as given, by insert and update alike; a record written before it was
 * kept has no "email_verified" and reads as 0. */
TEST(user_email_verified_round_trips)
{
    struct store *st = NULL;
    struct store_user u, got;
    static const char old[] =
        "{\"email\":\"old@x.com\",\"name\":\"\",\"status\":0,\"anonymous\":false,"
        "\"created_at\":1,\"updated_at\":1,\"metadata\":{},\"roles\":[]}";
    static const char bad[] =
        "{\"email\":\"bad@x.com\",\"name\":\"\",\"status\":0,\"anonymous\":false,"
        "\"email_verified\":1,\"created_at\":1,\"updated_at\":1,\"metadata\":{},\"roles\":[]}";

    CHECK_INT(open_small(&st), STORE_OK);
    make_user(&u, "usr_v", "v@x.com");
    u.email_verified = 1;
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_OK);
    CHECK_INT(user_get(st, "usr_v", &got), STORE_OK);
    CHECK_INT(got.email_verified, 1);
    /* an update that reads and writes back keeps it; one that clears it clears it */
    snprintf(got.name, sizeof got.name, "renamed");
    CHECK_INT(store_write(st, user_update_cb, &got), STORE_OK);
    store_user_clear(&got);
    CHECK_INT(user_get(st, "usr_v", &got), STORE_OK);
    CHECK_INT(got.email_verified, 1);
    CHECK_STR(got.name, "renamed");
    got.email_verified = 0;
    CHECK_INT(store_write(st, user_update_cb, &got), STORE_OK);
    store_user_clear(&got);
    CHECK_INT(user_get(st, "usr_v", &got), STORE_OK);
    CHECK_INT(got.email_verified, 0);
    store_user_clear(&got);
    u.email_verified = 2;
    CHECK_INT(store_write(st, user_update_cb, &u), STORE_EINVAL);
    store_close(st);

    /* records of an older store: without the member, 0; with one that is not a bool, corrupt */
    CHECK_INT(raw_put("users", "usr_old", old, strlen(old)), 0);
    CHECK_INT(raw_put("users", "usr_bad", bad, strlen(bad)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_get(st, "usr_old", &got), STORE_OK);
    CHECK_STR(got.email, "old@x.com");
    CHECK_INT(got.email_verified, 0);
    /* written back, it has the member */
    got.email_verified = 1;
    CHECK_INT(store_write(st, user_update_cb, &got), STORE_OK);
    store_user_clear(&got);
    CHECK_INT(user_get(st, "usr_old", &got), STORE_OK);
    CHECK_INT(got.email_verified, 1);
    store_user_clear(&got);
    CHECK_INT(user_get(st, "usr_bad", &got), STORE_ECORRUPT);
    store_close(st);
}

TEST(user_list_pages_in_id_order)
{
    struct store *st = NULL;
    struct store_user *items;
    struct page p = {.limit = 2};

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_3", "c@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", "a@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_2", ""), STORE_OK);
    CHECK_INT(store_read(st, user_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 2);
    CHECK_STR(items[0].id, "usr_1");
    CHECK_STR(items[0].email, "a@x.com");
    CHECK_STR(items[0].metadata, "{}");
    CHECK_STR(items[1].id, "usr_2");
    CHECK_INT(items[1].anonymous, 1);
    store_user_list_free(items, p.n);
    p.after = "usr_2";
    p.limit = 10;
    CHECK_INT(store_read(st, user_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 1);
    CHECK_STR(items[0].id, "usr_3");
    store_user_list_free(items, p.n);
    store_close(st);
}

/* ---- identities ---- */

TEST(identity_round_trip_and_uniqueness)
{
    struct store *st = NULL;
    struct store_identity idn, got;
    static struct identity_ref r;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", "one@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_2", "two@x.com"), STORE_OK);

    make_identity(&idn, "usr_1", "", "", "", 300);
    fill_head(idn.id, STORE_ID_MAX, "idn_", 0, 'i');
    fill_head(idn.provider, STORE_PROVIDER_MAX, "prov", 0, 'p');
    fill_head(idn.provider_id, STORE_EMAIL_MAX, "caf\xc3\xa9@", 0, 'e');
    fill_head(idn.phc, STORE_PHC_MAX, "$argon2id$", 0, 'h');
    CHECK_INT(store_write(st, identity_insert_cb, &idn), STORE_OK);
    CHECK_INT(identity_find(st, idn.provider, idn.provider_id, &got), STORE_OK);
    CHECK_STR(got.id, idn.id);
    CHECK_STR(got.user_id, "usr_1");
    CHECK_STR(got.provider, idn.provider);
    CHECK_INT(strlen(got.provider), STORE_PROVIDER_MAX - 1);
    CHECK_STR(got.provider_id, idn.provider_id);
    CHECK_INT(strlen(got.provider_id), 320);
    CHECK_STR(got.phc, idn.phc);
    CHECK_INT(strlen(got.phc), 127);
    CHECK_INT(got.created_at, 300);

    /* (provider, provider_id) is unique across users, and so is the id */
    make_identity(&got, "usr_2", "idn_other", idn.provider, idn.provider_id, 1);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EXISTS);
    make_identity(&got, "usr_2", idn.id, "anon-user", "anon-1", 1);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EXISTS);
    CHECK_INT(identity_count(st, "usr_2"), 0);
    /* the same provider_id at another provider is another identity */
    CHECK_INT(identity_insert(st, "usr_2", "idn_b", "local-userpass", "one@x.com", 200), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_2", "idn_a", "anon-user", "one@x.com", 100), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_2", "idn_c", "local-userpass", "One@x.com", 150),
              STORE_OK); /* provider ids are exact: the caller lower-cases emails */
    /* a missing user */
    CHECK_INT(identity_insert(st, "usr_ghost", "idn_g", "anon-user", "anon-g", 1), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "anon-user", "anon-g", &got), STORE_NOTFOUND);

    /* the user's identities, oldest first; cap cuts the list */
    memset(&r, 0, sizeof r);
    r.user_id = "usr_2";
    r.cap = STORE_IDENTITIES_MAX;
    CHECK_INT(store_read(st, identity_list_cb, &r), STORE_OK);
    CHECK_INT(r.n, 3);
    CHECK_STR(r.out[0].id, "idn_a");
    CHECK_STR(r.out[1].id, "idn_c");
    CHECK_STR(r.out[2].id, "idn_b");
    CHECK_STR(r.out[0].provider, "anon-user");
    CHECK_STR(r.out[0].phc, "");
    CHECK_STR(r.out[2].user_id, "usr_2");
    r.cap = 1;
    CHECK_INT(store_read(st, identity_list_cb, &r), STORE_OK);
    CHECK_INT(r.n, 1);
    CHECK_STR(r.out[0].id, "idn_a");

    /* update writes only the phc */
    make_identity(&got, "usr_2", "idn_b", "ignored", "ignored", 9);
    snprintf(got.phc, sizeof got.phc, "$argon2id$new");
    CHECK_INT(store_write(st, identity_update_cb, &got), STORE_OK);
    CHECK_INT(identity_find(st, "local-userpass", "one@x.com", &got), STORE_OK);
    CHECK_STR(got.id, "idn_b");
    CHECK_STR(got.phc, "$argon2id$new");
    CHECK_INT(got.created_at, 200);
    CHECK_INT(identity_find(st, "ignored", "ignored", &got), STORE_NOTFOUND);
    make_identity(&got, "usr_1", "idn_b", "x", "y", 9); /* another user's identity */
    CHECK_INT(store_write(st, identity_update_cb, &got), STORE_NOTFOUND);

    /* bad arguments */
    make_identity(&got, "usr_1", "idn_e", "", "x", 1);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EINVAL);
    make_identity(&got, "usr_1", "idn_e", "anon-user", "", 1);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EINVAL);
    make_identity(&got, "usr_1", "idn_e", "anon-user", "x", 1);
    memset(got.provider, 'p', STORE_PROVIDER_MAX);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EINVAL);
    make_identity(&got, "usr_1", "idn_e", "anon-user", "x", 1);
    memset(got.provider_id, 'p', STORE_EMAIL_MAX);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EINVAL);
    make_identity(&got, "usr_1", "idn/e", "anon-user", "x", 1);
    CHECK_INT(store_write(st, identity_insert_cb, &got), STORE_EINVAL);
    CHECK_INT(identity_count(st, "usr_1"), 1);
    store_close(st);
}

TEST(identity_of_another_user_is_notfound)
{
    struct store *st = NULL;
    struct store_identity got;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", ""), STORE_OK);
    CHECK_INT(user_insert(st, "usr_2", ""), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_1", "idn_1", "anon-user", "anon-1", 1), STORE_OK);
    CHECK_INT(identity_delete(st, "usr_2", "idn_1"), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "anon-user", "anon-1", &got), STORE_OK);
    CHECK_STR(got.user_id, "usr_1");
    CHECK_INT(identity_delete(st, "usr_1", "idn_1"), STORE_OK);
    CHECK_INT(identity_delete(st, "usr_1", "idn_1"), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "anon-user", "anon-1", &got), STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_1"), 0);
    /* the pair and the id are free again, for anyone */
    CHECK_INT(identity_insert(st, "usr_2", "idn_1", "anon-user", "anon-1", 2), STORE_OK);
    CHECK_INT(identity_find(st, "anon-user", "anon-1", &got), STORE_OK);
    CHECK_STR(got.user_id, "usr_2");
    CHECK_INT(got.created_at, 2);
    store_close(st);
}

TEST(seventeenth_identity_is_einval)
{
    struct store *st = NULL;
    struct store_identity got;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_many", ""), STORE_OK);
    for (int i = 0; i < STORE_IDENTITIES_MAX; i++) {
        char id[STORE_ID_MAX], pid[32];
        snprintf(id, sizeof id, "idn_%02d", i);
        snprintf(pid, sizeof pid, "anon-%02d", i);
        CHECK_INT(identity_insert(st, "usr_many", id, "anon-user", pid, i), STORE_OK);
    }
    CHECK_INT(identity_insert(st, "usr_many", "idn_16", "anon-user", "anon-16", 16), STORE_EINVAL);
    CHECK_INT(identity_find(st, "anon-user", "anon-16", &got), STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_many"), STORE_IDENTITIES_MAX);
    CHECK_INT(identity_delete(st, "usr_many", "idn_03"), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_many", "idn_16", "anon-user", "anon-16", 16), STORE_OK);
    store_close(st);
}

/* ---- sessions ---- */

TEST(session_round_trip_at_maximum)
{
    struct store *st = NULL;
    struct store_session s, got;
    char sid[STORE_ID_MAX], first[STORE_ID_MAX], uid[STORE_ID_MAX];
    int sup;

    CHECK_INT(open_small(&st), STORE_OK);
    make_session(&s, "", "", 1, 1000, 2000, 3000);
    fill_head(s.user_id, STORE_ID_MAX, "usr_", 0, 'u');
    memcpy(uid, s.user_id, sizeof uid);
    CHECK_INT(user_insert(st, s.user_id, ""), STORE_OK);
    fill_head(s.id, STORE_ID_MAX, "ses_", 0, 's');
    fill_head(s.client_id, STORE_ID_MAX, "app_", 0, 'a');
    fill(s.amr, sizeof s.amr, 'm');
    fill_head(s.scope, STORE_SCOPE_MAX, "openid ", 0, 'o');
    fill_head(s.client_ip, STORE_IP_MAX, "2001:db8:", 0, 'f');
    fill_head(s.user_agent, STORE_UA_MAX, "Mozilla/5.0 \"caf\xc3\xa9\" ", 0, 'z');
    s.created_at = -1;
    s.last_used_at = INT64_MAX;
    s.idle_expires_at = INT64_MAX;
    s.absolute_expires_at = 0;
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_OK);
    CHECK_INT(session_get(st, s.id, &got), STORE_OK);
    CHECK_STR(got.id, s.id);
    CHECK_STR(got.user_id, s.user_id);
    CHECK_STR(got.client_id, s.client_id);
    CHECK_STR(got.amr, s.amr);
    CHECK_INT(strlen(got.amr), 15);
    CHECK_STR(got.scope, s.scope);
    CHECK_INT(strlen(got.scope), 256);
    CHECK_STR(got.client_ip, s.client_ip);
    CHECK_INT(strlen(got.client_ip), 45);
    CHECK_STR(got.user_agent, s.user_agent);
    CHECK_INT(strlen(got.user_agent), 256);
    CHECK_INT(got.created_at, -1);
    CHECK(got.last_used_at == INT64_MAX);
    CHECK(got.idle_expires_at == INT64_MAX);
    CHECK_INT(got.absolute_expires_at, 0);
    CHECK(memcmp(got.refresh_hash, s.refresh_hash, STORE_REFRESH_HASH_LEN) == 0);
    CHECK_INT(refresh_find(st, 1, sid, &sup), STORE_OK);
    CHECK_STR(sid, s.id);
    CHECK_INT(sup, 0);
    CHECK_INT(session_count(st, s.user_id, first), 1);
    CHECK_STR(first, s.id);

    /* the id, or the hash, taken */
    s.refresh_hash[0] ^= 1;
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EXISTS);
    s.refresh_hash[0] ^= 1;
    snprintf(s.id, sizeof s.id, "ses_other");
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EXISTS);
    CHECK_INT(session_get(st, "ses_other", &got), STORE_NOTFOUND);
    CHECK_INT(session_count(st, s.user_id, NULL), 1);
    /* a missing user */
    CHECK_INT(session_insert(st, "ses_ghost", "usr_ghost", 2, 1, 2, 3), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 2), 0);
    /* bad arguments */
    make_session(&s, "ses_bad", uid, 3, 1, 2, 3);
    s.amr[0] = '\0';
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    make_session(&s, "ses_bad", uid, 3, 1, -1, 3);
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    make_session(&s, "ses_bad", uid, 3, 1, 2, 3);
    memset(s.user_agent, 'a', STORE_UA_MAX);
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    make_session(&s, "ses_bad", uid, 3, 1, 2, 3);
    memset(s.client_ip, '1', STORE_IP_MAX);
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    make_session(&s, "ses_bad", uid, 3, 1, 2, 3);
    s.client_id[0] = '\0';
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    make_session(&s, "ses_bad", uid, 3, 1, 2, 3);
    snprintf(s.user_agent, sizeof s.user_agent, "bad \xc3 utf-8");
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    CHECK_INT(session_get(st, "ses_bad", &got), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 3), 0);
    store_close(st);
}

TEST(session_rotate_keeps_superseded_hashes)
{
    struct store *st = NULL;
    struct store_session got;
    char sid[STORE_ID_MAX];
    int sup;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_r", ""), STORE_OK);
    CHECK_INT(session_insert(st, "ses_r", "usr_r", 1, 1000, 5000, 9000), STORE_OK);

    CHECK_INT(session_rotate(st, "ses_r", 2, 1500, 6500), STORE_OK);
    CHECK_INT(refresh_find(st, 1, sid, &sup), STORE_OK);
    CHECK_STR(sid, "ses_r");
    CHECK_INT(sup, 1);
    CHECK_INT(refresh_find(st, 2, sid, &sup), STORE_OK);
    CHECK_STR(sid, "ses_r");
    CHECK_INT(sup, 0);
    CHECK_INT(session_get(st, "ses_r", &got), STORE_OK);
    CHECK_INT(got.last_used_at, 1500);
    CHECK_INT(got.idle_expires_at, 6500);
    CHECK_INT(got.absolute_expires_at, 9000);
    CHECK_INT(got.created_at, 1000);
    {
        uint8_t h2[STORE_REFRESH_HASH_LEN];
        hash_of(h2, 2);
        CHECK(memcmp(got.refresh_hash, h2, sizeof h2) == 0);
    }

    CHECK_INT(session_rotate(st, "ses_r", 3, 2000, 7000), STORE_OK);
    CHECK_INT(refresh_find(st, 1, sid, &sup), STORE_OK);
    CHECK_INT(sup, 1);
    CHECK_INT(refresh_find(st, 2, sid, &sup), STORE_OK);
    CHECK_INT(sup, 1);
    CHECK_INT(refresh_find(st, 3, sid, &sup), STORE_OK);
    CHECK_STR(sid, "ses_r");
    CHECK_INT(sup, 0);
    CHECK_INT(session_get(st, "ses_r", &got), STORE_OK);
    CHECK_INT(got.last_used_at, 2000);
    CHECK_INT(got.idle_expires_at, 7000);

    /* a hash already issued cannot come back; nothing changes */
    CHECK_INT(session_rotate(st, "ses_r", 1, 2500, 7500), STORE_EXISTS);
    CHECK_INT(session_rotate(st, "ses_r", 3, 2500, 7500), STORE_EXISTS);
    CHECK_INT(refresh_find(st, 3, sid, &sup), STORE_OK);
    CHECK_INT(sup, 0);
    CHECK_INT(session_get(st, "ses_r", &got), STORE_OK);
    CHECK_INT(got.last_used_at, 2000);
    CHECK_INT(session_rotate(st, "ses_gone", 4, 1, 2), STORE_NOTFOUND);
    CHECK_INT(session_rotate(st, "ses_r", 4, 1, -2), STORE_EINVAL);
    CHECK_INT(refresh_find(st, 4, sid, &sup), STORE_NOTFOUND);
    CHECK_STR(sid, "");
    CHECK_INT(sup, 0);
    store_close(st);
}

TEST(session_delete_removes_every_hash)
{
    struct store *st = NULL;
    struct store_session got;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_d", ""), STORE_OK);
    CHECK_INT(session_insert(st, "ses_d", "usr_d", 1, 1000, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_d2", "usr_d", 11, 1000, 5000, 9000), STORE_OK);
    CHECK_INT(session_rotate(st, "ses_d", 2, 1100, 6000), STORE_OK);
    CHECK_INT(session_rotate(st, "ses_d", 3, 1200, 6000), STORE_OK);
    CHECK_INT(store_write(st, session_delete_cb, "ses_d"), STORE_OK);
    CHECK_INT(session_get(st, "ses_d", &got), STORE_NOTFOUND);
    for (int seed = 1; seed <= 3; seed++)
        CHECK_MSG(refresh_known(st, seed) == 0, "hash %d", seed);
    CHECK_INT(refresh_known(st, 11), 1);
    CHECK_INT(session_count(st, "usr_d", NULL), 1);
    CHECK_INT(store_write(st, session_delete_cb, "ses_d"), STORE_NOTFOUND);
    CHECK_INT(store_write(st, session_delete_cb, "ses/d"), STORE_EINVAL);
    /* the id and the hashes can be used again */
    CHECK_INT(session_insert(st, "ses_d", "usr_d", 2, 2000, 5000, 9000), STORE_OK);
    CHECK_INT(refresh_known(st, 2), 1);
    store_close(st);
}

TEST(session_delete_user_keeps_one)
{
    struct store *st = NULL;
    struct user_sessions l = {0};
    struct store_session got;
    char first[STORE_ID_MAX];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_k", ""), STORE_OK);
    CHECK_INT(user_insert(st, "usr_k2", ""), STORE_OK); /* "usr_k" is a text prefix of it */
    CHECK_INT(session_insert(st, "ses_1", "usr_k", 1, 30, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_2", "usr_k", 2, 20, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_3", "usr_k", 3, 10, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_4", "usr_k2", 4, 10, 5000, 9000), STORE_OK);
    CHECK_INT(session_rotate(st, "ses_1", 5, 40, 5000), STORE_OK);
    CHECK_INT(session_count(st, "usr_k", first), 3);
    CHECK_STR(first, "ses_3"); /* oldest first */

    l.user_id = "usr_k";
    l.keep = "ses_2";
    CHECK_INT(store_write(st, delete_user_sessions_cb, &l), STORE_OK);
    CHECK_INT(l.n, 2);
    CHECK_INT(session_count(st, "usr_k", first), 1);
    CHECK_STR(first, "ses_2");
    CHECK_INT(session_get(st, "ses_1", &got), STORE_NOTFOUND);
    CHECK_INT(session_get(st, "ses_3", &got), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 1), 0);
    CHECK_INT(refresh_known(st, 5), 0);
    CHECK_INT(refresh_known(st, 3), 0);
    CHECK_INT(refresh_known(st, 2), 1);
    CHECK_INT(refresh_known(st, 4), 1);
    CHECK_INT(session_count(st, "usr_k2", NULL), 1);

    l.keep = NULL;
    CHECK_INT(store_write(st, delete_user_sessions_cb, &l), STORE_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(session_count(st, "usr_k", NULL), 0);
    CHECK_INT(refresh_known(st, 2), 0);
    CHECK_INT(store_write(st, delete_user_sessions_cb, &l), STORE_OK);
    CHECK_INT(l.n, 0);
    CHECK_INT(session_count(st, "usr_k2", NULL), 1);
    l.keep = "bad/keep";
    CHECK_INT(store_write(st, delete_user_sessions_cb, &l), STORE_EINVAL);
    store_close(st);
}

TEST(user_delete_cascades)
{
    struct store *st = NULL;
    struct store_user got;
    struct store_identity idn;
    struct store_session ses;
    char found[STORE_ID_MAX];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_del", "Gone@X.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_keep", "kept@x.com"), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_del", "idn_1", "local-userpass", "gone@x.com", 1), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_del", "idn_2", "anon-user", "anon-del", 2), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_keep", "idn_3", "local-userpass", "kept@x.com", 3),
              STORE_OK);
    CHECK_INT(session_insert(st, "ses_1", "usr_del", 1, 10, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_2", "usr_del", 2, 20, 5000, 9000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_3", "usr_keep", 3, 30, 5000, 9000), STORE_OK);
    CHECK_INT(session_rotate(st, "ses_1", 4, 40, 6000), STORE_OK);

    CHECK_INT(store_write(st, user_delete_cb, "usr_del"), STORE_OK);
    CHECK_INT(user_get(st, "usr_del", &got), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "gone@x.com", found), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "local-userpass", "gone@x.com", &idn), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "anon-user", "anon-del", &idn), STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_del"), 0);
    CHECK_INT(session_get(st, "ses_1", &ses), STORE_NOTFOUND);
    CHECK_INT(session_get(st, "ses_2", &ses), STORE_NOTFOUND);
    CHECK_INT(session_count(st, "usr_del", NULL), 0);
    CHECK_INT(refresh_known(st, 1), 0);
    CHECK_INT(refresh_known(st, 2), 0);
    CHECK_INT(refresh_known(st, 4), 0);
    CHECK_INT(store_write(st, user_delete_cb, "usr_del"), STORE_NOTFOUND);

    /* the other user is whole */
    CHECK_INT(user_get(st, "usr_keep", &got), STORE_OK);
    store_user_clear(&got);
    CHECK_INT(email_find(st, "kept@x.com", found), STORE_OK);
    CHECK_INT(identity_find(st, "local-userpass", "kept@x.com", &idn), STORE_OK);
    CHECK_INT(session_get(st, "ses_3", &ses), STORE_OK);
    CHECK_INT(refresh_known(st, 3), 1);

    /* the email, the identities, their ids and the session ids are free again */
    CHECK_INT(user_insert(st, "usr_new", "gone@x.com"), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_new", "idn_1", "local-userpass", "gone@x.com", 5), STORE_OK);
    CHECK_INT(identity_insert(st, "usr_new", "idn_2", "anon-user", "anon-del", 6), STORE_OK);
    CHECK_INT(session_insert(st, "ses_1", "usr_new", 1, 50, 5000, 9000), STORE_OK);
    CHECK_INT(identity_find(st, "local-userpass", "gone@x.com", &idn), STORE_OK);
    CHECK_STR(idn.user_id, "usr_new");
    store_close(st);
}

TEST(sweep_removes_expired_sessions)
{
    struct store *st = NULL;
    struct store_session got;
    size_t removed = 99;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_s", ""), STORE_OK);
    CHECK_INT(deny_add(st, "jti-old1", 100), STORE_OK);
    CHECK_INT(deny_add(st, "jti-old2", 300), STORE_OK);
    CHECK_INT(deny_add(st, "jti-live", 301), STORE_OK);
    /* idle expiry first; absolute expiry first; live at 300 */
    CHECK_INT(session_insert(st, "ses_idle", "usr_s", 1, 0, 100, 1000), STORE_OK);
    CHECK_INT(session_insert(st, "ses_abs", "usr_s", 2, 0, 1000, 300), STORE_OK);
    CHECK_INT(session_insert(st, "ses_live", "usr_s", 3, 0, 400, 900), STORE_OK);
    CHECK_INT(session_rotate(st, "ses_idle", 4, 50, 100), STORE_OK);
    /* a refresh pushes ses_live's idle expiry from 400 to 800: the index moves with it */
    CHECK_INT(session_rotate(st, "ses_live", 5, 350, 800), STORE_OK);

    CHECK_INT(store_sweep(st, 99, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 300, &removed), STORE_OK); /* expiry <= now goes */
    CHECK_INT(removed, 4);
    CHECK_INT(deny_has(st, "jti-old1"), 0);
    CHECK_INT(deny_has(st, "jti-old2"), 0);
    CHECK_INT(deny_has(st, "jti-live"), 1);
    CHECK_INT(session_get(st, "ses_idle", &got), STORE_NOTFOUND);
    CHECK_INT(session_get(st, "ses_abs", &got), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 1), 0);
    CHECK_INT(refresh_known(st, 2), 0);
    CHECK_INT(refresh_known(st, 4), 0);
    CHECK_INT(session_get(st, "ses_live", &got), STORE_OK);
    CHECK_INT(refresh_known(st, 3), 1);
    CHECK_INT(refresh_known(st, 5), 1);
    CHECK_INT(session_count(st, "usr_s", NULL), 1);

    CHECK_INT(store_sweep(st, 500, &removed), STORE_OK); /* past the old idle expiry */
    CHECK_INT(removed, 1);                               /* only jti-live */
    CHECK_INT(session_get(st, "ses_live", &got), STORE_OK);
    CHECK_INT(store_sweep(st, 800, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(session_get(st, "ses_live", &got), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 3), 0);
    CHECK_INT(refresh_known(st, 5), 0);
    CHECK_INT(session_count(st, "usr_s", NULL), 0);
    CHECK_INT(store_sweep(st, INT64_MAX, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    store_close(st);
}

struct reparent {
    const char *user_id, *from, *to;
};

static int reparent_cb(struct store_txn *txn, void *arg)
{
    struct reparent *r = arg;
    return store_session_reparent(txn, r->user_id, r->from, r->to);
}

/* A browser session ends with the sessions of applications that logged in through it, by
 * delete and by the sweep; a session of another parent and a plain one stay. An old record
 * without the schema 4 members reads as a plain session. */
TEST(browser_session_ends_its_children)
{
    struct store *st = NULL;
    struct store_session s, got;
    size_t removed = 0;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_b", ""), STORE_OK);
    make_session(&s, "ses_browser", "usr_b", 1, 10, 1000, 2000);
    s.browser = 1;
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_OK);
    make_session(&s, "ses_browser2", "usr_b", 2, 10, 1000, 2000);
    s.browser = 1;
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_OK);
    const char *children[] = {"ses_child1", "ses_child2"};
    for (int i = 0; i < 2; i++) {
        make_session(&s, children[i], "usr_b", 3 + i, 10, 1000, 2000);
        snprintf(s.parent_id, sizeof s.parent_id, "ses_browser");
        CHECK_INT(store_write(st, session_insert_cb, &s), STORE_OK);
    }
    make_session(&s, "ses_other_child", "usr_b", 5, 10, 1000, 2000);
    snprintf(s.parent_id, sizeof s.parent_id, "ses_browser2");
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_OK);
    CHECK_INT(session_insert(st, "ses_plain", "usr_b", 6, 10, 1000, 2000), STORE_OK);
    CHECK_INT(session_get(st, "ses_child1", &got), STORE_OK);
    CHECK_STR(got.parent_id, "ses_browser");
    CHECK_INT(got.browser, 0);
    CHECK_INT(session_get(st, "ses_browser", &got), STORE_OK);
    CHECK_INT(got.browser, 1);
    /* a browser session has no parent; a parent must be an id */
    make_session(&s, "ses_bad", "usr_b", 7, 10, 1000, 2000);
    s.browser = 1;
    snprintf(s.parent_id, sizeof s.parent_id, "ses_browser");
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);
    s.browser = 0;
    snprintf(s.parent_id, sizeof s.parent_id, "bad/id");
    CHECK_INT(store_write(st, session_insert_cb, &s), STORE_EINVAL);

    /* a child moves to another browser session of its user, and back */
    struct reparent rp = {"usr_b", "ses_browser", "ses_browser2"};
    CHECK_INT(store_write(st, reparent_cb, &rp), STORE_OK);
    CHECK_INT(session_get(st, "ses_child1", &got), STORE_OK);
    CHECK_STR(got.parent_id, "ses_browser2");
    rp = (struct reparent){"usr_b", "ses_browser2", "ses_plain"}; /* not a browser session */
    CHECK_INT(store_write(st, reparent_cb, &rp), STORE_EINVAL);
    rp = (struct reparent){"usr_other", "ses_browser2", "ses_browser"}; /* not that user's */
    CHECK_INT(store_write(st, reparent_cb, &rp), STORE_EINVAL);
    rp = (struct reparent){"usr_b", "ses_browser2", "ses_browser"};
    CHECK_INT(store_write(st, reparent_cb, &rp), STORE_OK);
    CHECK_INT(session_get(st, "ses_child1", &got), STORE_OK);
    CHECK_STR(got.parent_id, "ses_browser");
    CHECK_INT(session_get(st, "ses_other_child", &got), STORE_OK);
    CHECK_STR(got.parent_id, "ses_browser"); /* it was ses_browser2's: it moved too */
    CHECK_INT(store_write(st, session_delete_cb, "ses_browser"), STORE_OK);
    CHECK_INT(session_get(st, "ses_child1", &got), STORE_NOTFOUND);
    CHECK_INT(session_get(st, "ses_child2", &got), STORE_NOTFOUND);
    CHECK_INT(refresh_known(st, 3), 0);
    CHECK_INT(session_count(st, "usr_b", NULL), 2); /* ses_browser2 and ses_plain */
    /* the sweep ends the rest */
    CHECK_INT(store_sweep(st, 1000, &removed), STORE_OK);
    CHECK_INT(session_count(st, "usr_b", NULL), 0);

    /* a record written before schema 4 (the store is closed while it is written) */
    static const char old[] =
        "{\"user_id\":\"usr_b\",\"client_id\":\"app_sdk\",\"amr\":\"pwd\",\"scope\":\"\","
        "\"created_at\":1,\"last_used_at\":1,\"idle_expires_at\":9,\"absolute_expires_at\":9,"
        "\"client_ip\":\"\",\"user_agent\":\"\","
        "\"refresh_hash\":\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"}";
    store_close(st);
    st = NULL;
    CHECK_INT(raw_put("sessions", "ses_old", old, sizeof old - 1), 0);
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(session_get(st, "ses_old", &got), STORE_OK);
    CHECK_INT(got.browser, 0);
    CHECK_STR(got.parent_id, "");
    store_close(st);
}

static int code_insert_cb(struct store_txn *txn, void *arg)
{
    return store_code_insert(txn, arg);
}

struct code_use {
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    const char *session_id;
    struct store_auth_code out;
};

static int code_get_cb(struct store_txn *txn, void *arg)
{
    struct code_use *u = arg;
    return store_code_get(txn, u->hash, &u->out);
}

static int code_use_cb(struct store_txn *txn, void *arg)
{
    struct code_use *u = arg;
    return store_code_mark_used(txn, u->hash, u->session_id);
}

static void make_code(struct store_auth_code *c, int seed, int64_t expires_at)
{
    memset(c, 0, sizeof *c);
    hash_of(c->hash, seed);
    snprintf(c->client_id, sizeof c->client_id, "app_spa");
    snprintf(c->redirect_uri, sizeof c->redirect_uri, "http://127.0.0.1:4000/callback");
    snprintf(c->user_id, sizeof c->user_id, "usr_c");
    snprintf(c->browser_session, sizeof c->browser_session, "ses_browser");
    snprintf(c->scope, sizeof c->scope, "openid email");
    snprintf(c->nonce, sizeof c->nonce, "n-0S6_WzA2Mj");
    snprintf(c->code_challenge, sizeof c->code_challenge,
             "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    c->auth_time = 100;
    c->expires_at = expires_at;
}

/* Authorization codes: stored by hash, read back whole, used once, swept after expiry. */
TEST(auth_codes_are_single_use_and_expire)
{
    struct store *st = NULL;
    static struct store_auth_code c;
    static struct code_use u;
    size_t removed = 0;

    CHECK_INT(open_small(&st), STORE_OK);
    make_code(&c, 1, 160);
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_OK);
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_EXISTS);
    hash_of(u.hash, 1);
    CHECK_INT(store_read(st, code_get_cb, &u), STORE_OK);
    CHECK_STR(u.out.redirect_uri, c.redirect_uri);
    CHECK_STR(u.out.code_challenge, c.code_challenge);
    CHECK_STR(u.out.nonce, c.nonce);
    CHECK_STR(u.out.browser_session, "ses_browser");
    CHECK_INT(u.out.auth_time, 100);
    CHECK_STR(u.out.session_id, "");
    /* the first exchange records its session; a second is refused and changes nothing */
    u.session_id = "ses_tokens";
    CHECK_INT(store_write(st, code_use_cb, &u), STORE_OK);
    u.session_id = "ses_again";
    CHECK_INT(store_write(st, code_use_cb, &u), STORE_EXISTS);
    CHECK_INT(store_read(st, code_get_cb, &u), STORE_OK);
    CHECK_STR(u.out.session_id, "ses_tokens");
    /* bad records */
    make_code(&c, 2, 160);
    c.code_challenge[0] = '\0';
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_EINVAL);
    make_code(&c, 2, 160);
    snprintf(c.session_id, sizeof c.session_id, "ses_x"); /* born used */
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_EINVAL);
    hash_of(u.hash, 3);
    u.session_id = "ses_x";
    CHECK_INT(store_write(st, code_use_cb, &u), STORE_NOTFOUND);
    /* the sweep: at 159 nothing, at 160 the code */
    make_code(&c, 4, 500);
    CHECK_INT(store_write(st, code_insert_cb, &c), STORE_OK);
    CHECK_INT(store_sweep(st, 159, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 160, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    hash_of(u.hash, 1);
    CHECK_INT(store_read(st, code_get_cb, &u), STORE_NOTFOUND);
    hash_of(u.hash, 4);
    CHECK_INT(store_read(st, code_get_cb, &u), STORE_OK);
    store_close(st);
}

struct device_op {
    int op; /* 0 insert, 1 get by hash, 2 find by user code, 3 update, 4 delete */
    struct store_device_code d;
    const char *user_code;
};

static int device_cb(struct store_txn *txn, void *arg)
{
    struct device_op *o = arg;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    memcpy(hash, o->d.hash, sizeof hash);
    switch (o->op) {
    case 0:
        return store_device_insert(txn, &o->d);
    case 1:
        return store_device_get(txn, hash, &o->d);
    case 2:
        return store_device_find(txn, o->user_code, &o->d);
    case 3:
        return store_device_update(txn, &o->d);
    default:
        return store_device_delete(txn, hash);
    }
}

static void make_device(struct store_device_code *d, int seed, const char *user_code,
                        int64_t expires_at)
{
    memset(d, 0, sizeof *d);
    hash_of(d->hash, seed);
    snprintf(d->user_code, sizeof d->user_code, "%s", user_code);
    snprintf(d->client_id, sizeof d->client_id, "app_cli");
    snprintf(d->scope, sizeof d->scope, "openid offline_access");
    d->expires_at = expires_at;
    d->interval = 5;
}

/* Device codes: found by hash and by user code, approved once, user codes unique, deleted
 * whole, swept after expiry. */
TEST(device_codes_round_trip_and_expire)
{
    struct store *st = NULL;
    static struct device_op o;
    size_t removed = 0;

    CHECK_INT(open_small(&st), STORE_OK);
    make_device(&o.d, 1, "BCDFGHJK", 600);
    o.op = 0;
    CHECK_INT(store_write(st, device_cb, &o), STORE_OK);
    CHECK_INT(store_write(st, device_cb, &o), STORE_EXISTS); /* the same user code */
    make_device(&o.d, 2, "BCDFGHJK", 600);
    CHECK_INT(store_write(st, device_cb, &o), STORE_EXISTS);
    make_device(&o.d, 1, "LMNPQRST", 600); /* the same hash */
    CHECK_INT(store_write(st, device_cb, &o), STORE_EXISTS);
    o = (struct device_op){.op = 2, .user_code = "BCDFGHJK"};
    CHECK_INT(store_read(st, device_cb, &o), STORE_OK);
    CHECK_STR(o.d.client_id, "app_cli");
    CHECK_INT(o.d.status, STORE_DEVICE_PENDING);
    o.user_code = "XXXXXXXX";
    CHECK_INT(store_read(st, device_cb, &o), STORE_NOTFOUND);
    /* approval */
    make_device(&o.d, 1, "BCDFGHJK", 600);
    o.d.status = STORE_DEVICE_APPROVED;
    o.op = 3;
    CHECK_INT(store_write(st, device_cb, &o), STORE_EINVAL); /* approved by nobody */
    snprintf(o.d.user_id, sizeof o.d.user_id, "usr_d");
    o.d.auth_time = 42;
    o.d.last_poll_ms = 1000;
    CHECK_INT(store_write(st, device_cb, &o), STORE_OK);
    o.d.expires_at = 700; /* the expiry is fixed */
    CHECK_INT(store_write(st, device_cb, &o), STORE_EINVAL);
    o.op = 1;
    CHECK_INT(store_read(st, device_cb, &o), STORE_OK);
    CHECK_INT(o.d.status, STORE_DEVICE_APPROVED);
    CHECK_STR(o.d.user_id, "usr_d");
    CHECK_INT(o.d.auth_time, 42);
    CHECK_INT(o.d.last_poll_ms, 1000);
    /* delete: record and user code go, so the user code is free again */
    o.op = 4;
    CHECK_INT(store_write(st, device_cb, &o), STORE_OK);
    CHECK_INT(store_write(st, device_cb, &o), STORE_NOTFOUND);
    make_device(&o.d, 3, "BCDFGHJK", 100);
    o.op = 0;
    CHECK_INT(store_write(st, device_cb, &o), STORE_OK);
    CHECK_INT(store_sweep(st, 99, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 100, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    o = (struct device_op){.op = 2, .user_code = "BCDFGHJK"};
    CHECK_INT(store_read(st, device_cb, &o), STORE_NOTFOUND);
    store_close(st);
}

/* Many sessions, each with a long user agent, swept in one transaction from a small map. */
static int many_sessions_cb(struct store_txn *txn, void *arg)
{
    int rc = STORE_OK;
    for (int i = 0; i < 300 && rc == STORE_OK; i++) {
        struct store_session s;
        char id[STORE_ID_MAX];
        snprintf(id, sizeof id, "ses_%04d", i);
        make_session(&s, id, "usr_m", 1000 + i, i, 100 + i, 5000);
        fill(s.user_agent, sizeof s.user_agent, 'a');
        rc = store_session_insert(txn, &s);
        for (int r = 0; r < 3 && rc == STORE_OK; r++) {
            uint8_t h[STORE_REFRESH_HASH_LEN];
            hash_of(h, 5000 + i * 3 + r);
            rc = store_session_rotate(txn, id, h, i, 100 + i);
        }
    }
    return rc;
}

TEST(sweep_of_many_sessions)
{
    struct store *st = NULL;
    size_t removed = 0;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_m", ""), STORE_OK);
    CHECK_INT(store_write(st, many_sessions_cb, NULL), STORE_OK);
    CHECK_INT(session_count(st, "usr_m", NULL), 300);
    CHECK_INT(store_sweep(st, 199, &removed), STORE_OK);
    CHECK_INT(removed, 100);
    CHECK_INT(session_count(st, "usr_m", NULL), 200);
    CHECK_INT(refresh_known(st, 1000), 0);
    CHECK_INT(refresh_known(st, 5000 + 99 * 3 + 2), 0);
    CHECK_INT(refresh_known(st, 5000 + 100 * 3 + 2), 1);
    CHECK_INT(store_write(st, user_delete_cb, "usr_m"), STORE_OK);
    CHECK_INT(session_count(st, "usr_m", NULL), 0);
    CHECK_INT(refresh_known(st, 5000 + 299 * 3 + 2), 0);
    store_close(st);
}

/* ---- audit events ---- */

TEST(audit_lists_newest_first)
{
    struct store *st = NULL;
    struct store_audit_event ev, *items;
    struct page p = {.limit = 1};
    char ids[256];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    static const char *order[] = {"evt_03", "evt_01", "evt_05", "evt_02", "evt_04"};
    for (size_t i = 0; i < 5; i++) {
        make_event(&ev, order[i], 100 + (int64_t)i);
        CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_OK);
    }
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EXISTS);
    CHECK_INT(audit_page(st, NULL, 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_05,evt_04");
    CHECK_INT(audit_page(st, "evt_04", 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_03,evt_02");
    CHECK_INT(audit_page(st, "evt_02", 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_01");
    CHECK_INT(audit_page(st, "evt_01", 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(audit_page(st, "evt_025", 10, ids, sizeof ids), STORE_OK); /* between two */
    CHECK_STR(ids, "evt_02,evt_01");
    CHECK_INT(audit_page(st, "evt_99", 10, ids, sizeof ids), STORE_OK); /* after all */
    CHECK_STR(ids, "evt_05,evt_04,evt_03,evt_02,evt_01");
    CHECK_INT(audit_page(st, "", 3, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_05,evt_04,evt_03");
    CHECK_INT(audit_page(st, NULL, 0, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");

    /* every field, at its maximum */
    make_event(&ev, "", -7);
    fill_head(ev.id, STORE_ID_MAX, "evt_9", 0, 'z');
    fill_head(ev.type, STORE_EVENT_TYPE_MAX, "session.refresh_reuse", 0, 't');
    fill_head(ev.actor, STORE_ID_MAX, "usr_", 0, 'a');
    fill_head(ev.target, STORE_ID_MAX, "ses_", 0, 'g');
    fill_head(ev.client_ip, STORE_IP_MAX, "::ffff:", 0, 'f');
    snprintf(ev.result, sizeof ev.result, "failure");
    fill_head(ev.detail, STORE_DETAIL_MAX, "caf\xc3\xa9 \"x\"\n", 0, 'd');
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_OK);
    CHECK_INT(store_read(st, audit_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 1);
    CHECK_STR(items[0].id, ev.id);
    CHECK_INT(strlen(items[0].id), 47);
    CHECK_STR(items[0].type, ev.type);
    CHECK_INT(strlen(items[0].type), 63);
    CHECK_STR(items[0].actor, ev.actor);
    CHECK_STR(items[0].target, ev.target);
    CHECK_STR(items[0].client_ip, ev.client_ip);
    CHECK_INT(strlen(items[0].client_ip), 45);
    CHECK_STR(items[0].result, "failure");
    CHECK_STR(items[0].detail, ev.detail);
    CHECK_INT(strlen(items[0].detail), 256);
    CHECK_INT(items[0].time, -7);
    free(items);

    /* empty actor, target and ip are fine; the rest is checked */
    make_event(&ev, "evt_00", 1);
    ev.actor[0] = ev.target[0] = ev.client_ip[0] = ev.detail[0] = '\0';
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_OK);
    make_event(&ev, "evt_bad", 1);
    snprintf(ev.result, sizeof ev.result, "maybe");
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EINVAL);
    make_event(&ev, "evt_bad", 1);
    ev.type[0] = '\0';
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EINVAL);
    make_event(&ev, "evt_bad", 1);
    memset(ev.detail, 'd', STORE_DETAIL_MAX);
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EINVAL);
    make_event(&ev, "evt_bad", 1);
    snprintf(ev.detail, sizeof ev.detail, "\xfe");
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EINVAL);
    make_event(&ev, "", 1);
    CHECK_INT(store_write(st, audit_append_cb, &ev), STORE_EINVAL);
    CHECK_INT(audit_page(st, "evt_01", 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_00");
    store_close(st);
}

struct audit_batch {
    struct store_audit_event *ev;
    size_t n;
};

static int audit_append_many_cb(struct store_txn *txn, void *arg)
{
    struct audit_batch *b = arg;
    return store_audit_append_many(txn, b->ev, b->n);
}

static long audit_count(struct store *st)
{
    struct page p = {.limit = 100000};
    long n = store_read(st, audit_list_cb, &p) ? -1 : (long)p.n;
    free(p.items);
    return n;
}

/* A batch is all or nothing, past PostgreSQL's 1,000 rows a statement too. */
TEST(audit_append_many_is_one_write)
{
    struct store *st = NULL;
    struct audit_batch b = {.n = 2500};
    CHECK_INT(open_small(&st), STORE_OK);
    b.ev = calloc(b.n, sizeof *b.ev);
    CHECK(b.ev);
    char id[32];
    for (size_t i = 0; i < b.n; i++) {
        snprintf(id, sizeof id, "evt_%05zu", i);
        make_event(&b.ev[i], id, (int64_t)i);
    }
    CHECK_INT(store_write(st, audit_append_many_cb, &b), STORE_OK);
    CHECK_INT(audit_count(st), 2500);
    char ids[256];
    CHECK_INT(audit_page(st, NULL, 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_02499,evt_02498");
    /* new ids, but the last (in the third statement) is taken: nothing of it stays */
    for (size_t i = 0; i < b.n; i++) {
        snprintf(id, sizeof id, "evt_1%05zu", i);
        make_event(&b.ev[i], id, (int64_t)i);
    }
    make_event(&b.ev[b.n - 1], "evt_00007", 1);
    CHECK_INT(store_write(st, audit_append_many_cb, &b), STORE_EXISTS);
    CHECK_INT(audit_count(st), 2500);
    /* an invalid event anywhere: nothing */
    make_event(&b.ev[b.n - 1], "evt_2", 1);
    b.ev[3].type[0] = '\0';
    CHECK_INT(store_write(st, audit_append_many_cb, &b), STORE_EINVAL);
    CHECK_INT(audit_count(st), 2500);
    b.n = 0;
    CHECK_INT(store_write(st, audit_append_many_cb, &b), STORE_OK);
    free(b.ev);
    store_close(st);
}

/* ---- the mail outbox ---- */

static void make_mail(struct store_mail *m, const char *id, int64_t next_at)
{
    static uint8_t body[] = "Subject: hello\r\n\r\n\0binary\xff";
    memset(m, 0, sizeof *m);
    snprintf(m->id, sizeof m->id, "%s", id);
    snprintf(m->kind, sizeof m->kind, "verify-email");
    snprintf(m->to, sizeof m->to, "ada@example.org");
    m->message = body;
    m->message_len = sizeof body;
    m->created_at = 10;
    m->next_at = next_at;
}

static int mail_insert_cb(struct store_txn *txn, void *arg)
{
    return store_mail_insert(txn, arg);
}

struct mail_op {
    int64_t now, lease, next_at;
    const char *id, *error;
    struct store_mail got;
};

static int mail_claim_cb(struct store_txn *txn, void *arg)
{
    struct mail_op *op = arg;
    store_mail_clear(&op->got);
    return store_mail_claim(txn, op->now, op->lease, &op->got);
}

static int mail_retry_cb(struct store_txn *txn, void *arg)
{
    struct mail_op *op = arg;
    return store_mail_retry(txn, op->id, op->next_at, op->error);
}

static int mail_delete_cb(struct store_txn *txn, void *arg)
{
    return store_mail_delete(txn, arg);
}

static int mail_get_cb(struct store_txn *txn, void *arg)
{
    struct mail_op *op = arg;
    store_mail_clear(&op->got);
    return store_mail_get(txn, op->id, &op->got);
}

/* Claimed in due order (then by id), leased, retried, deleted; a claim takes nothing early. */
TEST(outbox_claims_in_due_order)
{
    struct store *st = NULL;
    struct store_mail m;
    struct mail_op op = {.lease = 30};
    CHECK_INT(open_small(&st), STORE_OK);
    make_mail(&m, "msg_c", 100);
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_OK);
    make_mail(&m, "msg_b", 50);
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_OK);
    make_mail(&m, "msg_a", 50);
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_OK);
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EXISTS);

    op.now = 49;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_NOTFOUND);
    op.now = 60;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_a");
    CHECK_INT(op.got.attempts, 1);
    CHECK_INT(op.got.next_at, 90);
    CHECK_STR(op.got.kind, "verify-email");
    CHECK_STR(op.got.to, "ada@example.org");
    CHECK_INT(op.got.message_len, m.message_len);
    CHECK(memcmp(op.got.message, m.message, m.message_len) == 0);
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_b");
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_NOTFOUND); /* both leased till 90 */

    /* a failed try: due again later, with why */
    op.id = "msg_b";
    op.next_at = 200;
    op.error = "451 4.7.1 try again later";
    CHECK_INT(store_write(st, mail_retry_cb, &op), STORE_OK);
    CHECK_INT(store_read(st, mail_get_cb, &op), STORE_OK);
    CHECK_INT(op.got.next_at, 200);
    CHECK_INT(op.got.attempts, 1);
    CHECK_STR(op.got.last_error, "451 4.7.1 try again later");

    /* a lease that ran out: claimed again, one attempt more */
    op.now = 95;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_a");
    CHECK_INT(op.got.attempts, 2);
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_NOTFOUND); /* msg_c: due at 100 */
    op.now = 100;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_c");
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_NOTFOUND);

    /* delivered: gone for good */
    CHECK_INT(store_write(st, mail_delete_cb, "msg_a"), STORE_OK);
    CHECK_INT(store_write(st, mail_delete_cb, "msg_a"), STORE_NOTFOUND);
    op.id = "msg_a";
    CHECK_INT(store_read(st, mail_get_cb, &op), STORE_NOTFOUND);
    op.now = 1000;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_c");
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_OK);
    CHECK_STR(op.got.id, "msg_b");
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_NOTFOUND);

    /* what is refused changes nothing */
    op.id = "msg_nope";
    CHECK_INT(store_write(st, mail_retry_cb, &op), STORE_NOTFOUND);
    CHECK_INT(store_write(st, mail_delete_cb, "msg_nope"), STORE_NOTFOUND);
    op.lease = 0;
    CHECK_INT(store_write(st, mail_claim_cb, &op), STORE_EINVAL);
    CHECK_INT(store_read(st, mail_claim_cb, &op), STORE_EINVAL);
    make_mail(&m, "msg_d", 1);
    snprintf(m.kind, sizeof m.kind, "Verify");
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EINVAL);
    make_mail(&m, "msg_d", 1);
    m.to[0] = '\0';
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EINVAL);
    make_mail(&m, "msg_d", 1);
    m.message_len = 0;
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EINVAL);
    make_mail(&m, "msg_d", 1);
    m.message_len = STORE_MAIL_MESSAGE_MAX + 1;
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EINVAL);
    make_mail(&m, "msg_d", -1);
    CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_EINVAL);
    op.id = "msg_d";
    CHECK_INT(store_read(st, mail_get_cb, &op), STORE_NOTFOUND);
    store_mail_clear(&op.got);
    store_close(st);
}

#define CLAIMERS 4
#define CLAIMED 40

struct claimer {
    struct store *st;
    char ids[CLAIMED][STORE_ID_MAX];
    size_t n;
    int rc;
};

static void *claimer_main(void *arg)
{
    struct claimer *c = arg;
    struct mail_op op = {.now = 100, .lease = 3600};
    while ((c->rc = store_write(c->st, mail_claim_cb, &op)) == STORE_OK && c->n < CLAIMED)
        memcpy(c->ids[c->n++], op.got.id, sizeof op.got.id);
    store_mail_clear(&op.got);
    return NULL;
}

/* Senders claiming at once (on PostgreSQL, on their own connections, as nodes would) never get
 * the same message while its lease runs: every message is claimed once, by one of them. */
TEST(outbox_claims_are_exclusive)
{
    struct store *st = NULL;
    struct store_mail m;
    struct claimer c[CLAIMERS];
    pthread_t t[CLAIMERS];
    char id[STORE_ID_MAX];
    int seen[CLAIMED] = {0};
    size_t total = 0;
    CHECK_INT(open_small(&st), STORE_OK);
    for (int i = 0; i < CLAIMED; i++) {
        snprintf(id, sizeof id, "msg_%03d", i);
        make_mail(&m, id, i % 3);
        CHECK_INT(store_write(st, mail_insert_cb, &m), STORE_OK);
    }
    for (int i = 0; i < CLAIMERS; i++) {
        memset(&c[i], 0, sizeof c[i]);
        c[i].st = st;
        CHECK(pthread_create(&t[i], NULL, claimer_main, &c[i]) == 0);
    }
    for (int i = 0; i < CLAIMERS; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < CLAIMERS; i++) {
        CHECK_INT(c[i].rc, STORE_NOTFOUND);
        for (size_t k = 0; k < c[i].n; k++) {
            int n = atoi(c[i].ids[k] + 4);
            CHECK(n >= 0 && n < CLAIMED);
            seen[n]++;
            total++;
        }
    }
    CHECK_INT(total, CLAIMED);
    for (int i = 0; i < CLAIMED; i++)
        CHECK_MSG(seen[i] == 1, "msg_%03d claimed %d times", i, seen[i]);
    store_close(st);
}

/* ---- one-time email tokens ---- */

static void make_token(struct store_email_token *t, int seed, const char *purpose,
                       const char *user_id, int64_t expires_at)
{
    memset(t, 0, sizeof *t);
    hash_of(t->hash, seed);
    snprintf(t->purpose, sizeof t->purpose, "%s", purpose);
    snprintf(t->user_id, sizeof t->user_id, "%s", user_id);
    snprintf(t->email, sizeof t->email, "%s@example.org", user_id);
    t->created_at = 10;
    t->expires_at = expires_at;
}

struct token_op {
    enum { TOKEN_INSERT, TOKEN_GET, TOKEN_DELETE, TOKEN_DELETE_USER } op;
    struct store_email_token t;    /* insert: the token; get: the result; get, delete: by t.hash */
    const char *user_id, *purpose; /* delete_user */
    int no_count;                  /* delete_user: n NULL */
    size_t n;
};

static int token_cb(struct store_txn *txn, void *arg)
{
    struct token_op *o = arg;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    memcpy(hash, o->t.hash, sizeof hash);
    switch (o->op) {
    case TOKEN_INSERT:
        return store_email_token_insert(txn, &o->t);
    case TOKEN_GET:
        return store_email_token_get(txn, hash, &o->t);
    case TOKEN_DELETE:
        return store_email_token_delete(txn, hash);
    default:
        return store_email_tokens_delete_user(txn, o->user_id, o->purpose,
                                              o->no_count ? NULL : &o->n);
    }
}

/* The token of seed: STORE_OK (its record in *out, may be NULL) or STORE_NOTFOUND. */
static int token_get(struct store *st, int seed, struct store_email_token *out)
{
    struct token_op o = {.op = TOKEN_GET};
    int rc;
    hash_of(o.t.hash, seed);
    rc = store_read(st, token_cb, &o);
    if (out)
        *out = o.t;
    return rc;
}

static int token_op(struct store *st, int op, struct store_email_token *t)
{
    struct token_op o = {.op = op, .t = *t};
    return store_write(st, token_cb, &o);
}

/* How many tokens delete_user removed into *n; its result. */
static int token_delete_user(struct store *st, const char *user_id, const char *purpose, size_t *n)
{
    struct token_op o = {.op = TOKEN_DELETE_USER, .user_id = user_id, .purpose = purpose, .n = 99};
    int rc = store_write(st, token_cb, &o);
    *n = o.n;
    return rc;
}

/* Stored by hash and read back whole; used once (deleted), refused when malformed, swept after
 * expiry (not before). */
TEST(email_tokens_are_single_use_and_expire)
{
    struct store *st = NULL;
    struct store_email_token t, got;
    size_t removed = 99, n;
    char longer[STORE_EMAIL_PURPOSE_MAX + 1];

    CHECK_INT(open_small(&st), STORE_OK);
    make_token(&t, 1, "verify-email", "usr_a", 100);
    fill(t.email, STORE_EMAIL_MAX, 'e');
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EXISTS);
    CHECK_INT(token_get(st, 1, &got), STORE_OK);
    CHECK(memcmp(got.hash, t.hash, sizeof t.hash) == 0);
    CHECK_STR(got.purpose, "verify-email");
    CHECK_STR(got.user_id, "usr_a");
    CHECK_STR(got.email, t.email);
    CHECK_INT(strlen(got.email), STORE_EMAIL_MAX - 1);
    CHECK_INT(got.created_at, 10);
    CHECK_INT(got.expires_at, 100);
    /* expired, not yet swept: still there (the caller compares expires_at) */
    CHECK_INT(store_sweep(st, 99, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(token_get(st, 1, NULL), STORE_OK);

    /* used up: gone, and a second use finds nothing */
    CHECK_INT(token_op(st, TOKEN_DELETE, &t), STORE_OK);
    CHECK_INT(token_op(st, TOKEN_DELETE, &t), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 1, &got), STORE_NOTFOUND);
    CHECK_INT(got.user_id[0], 0);
    CHECK_INT(token_delete_user(st, "usr_a", NULL, &n), STORE_OK);
    CHECK_INT(n, 0);
    CHECK_INT(store_sweep(st, 1000, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    /* its hash may be issued again */
    make_token(&t, 1, "verify-email", "usr_a", 300);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);

    /* the sweep: at 199 nothing, at 200 the token of 200, not the one of 300 */
    make_token(&t, 2, "password-reset", "usr_a", 200);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);
    CHECK_INT(store_sweep(st, 199, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 200, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(token_get(st, 2, NULL), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 1, NULL), STORE_OK);
    /* swept with its user entry: delete_user finds the one of 300 only */
    CHECK_INT(token_delete_user(st, "usr_a", NULL, &n), STORE_OK);
    CHECK_INT(n, 1);
    CHECK_INT(token_get(st, 1, NULL), STORE_NOTFOUND);
    CHECK_INT(store_sweep(st, 1000, &removed), STORE_OK);
    CHECK_INT(removed, 0);

    /* bad records and arguments change nothing */
    make_token(&t, 3, "Verify-email", "usr_a", 100);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify_email", "usr_a", 100);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "", "usr_a", 100);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    fill(longer, sizeof longer, 'p');
    make_token(&t, 3, "", "usr_a", 100);
    memcpy(t.purpose, longer, sizeof t.purpose); /* no NUL within the field */
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify-email", "", 100);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify-email", "usr/a", 100);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify-email", "usr_a", 100);
    t.email[0] = '\0';
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify-email", "usr_a", -1);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    make_token(&t, 3, "verify-email", "usr_a", 100);
    t.created_at = -1;
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_EINVAL);
    struct token_op ro = {.op = TOKEN_INSERT};
    make_token(&ro.t, 3, "verify-email", "usr_a", 100);
    CHECK_INT(store_read(st, token_cb, &ro), STORE_EINVAL);
    ro.op = TOKEN_DELETE;
    CHECK_INT(store_read(st, token_cb, &ro), STORE_EINVAL);
    CHECK_INT(token_get(st, 3, NULL), STORE_NOTFOUND);
    store_close(st);

    /* a record that cannot be decoded is corrupt */
    uint8_t h[STORE_REFRESH_HASH_LEN];
    static const char bad[] = "{\"purpose\":\"verify-email\",\"user_id\":\"usr_a\",\"email\":\"\","
                              "\"created_at\":1,\"expires_at\":2}";
    hash_of(h, 4);
    CHECK_INT(raw_put_bin("email_tokens", h, sizeof h, bad, strlen(bad)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(token_get(st, 4, &got), STORE_ECORRUPT);
    CHECK_INT(got.purpose[0], 0);
    store_close(st);
}

/* delete_user takes the user's tokens of one purpose, or all of them, and no one else's: not
 * those of a user whose id starts with the same letters. */
TEST(email_tokens_delete_by_user_and_purpose)
{
    struct store *st = NULL;
    struct store_email_token t;
    size_t n, removed = 0;
    static const struct {
        int seed;
        const char *purpose, *user_id;
    } tokens[] = {
        {1, "verify-email", "usr_a"},    {2, "password-reset", "usr_a"},
        {3, "password-reset", "usr_a"},  {4, "email-change", "usr_a"},
        {5, "password-reset", "usr_ab"}, {6, "password-reset", "usr_"},
    };

    CHECK_INT(open_small(&st), STORE_OK);
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        make_token(&t, tokens[i].seed, tokens[i].purpose, tokens[i].user_id, 100 + (int)i);
        CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);
    }
    CHECK_INT(token_delete_user(st, "usr_a", "password-reset", &n), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_INT(token_get(st, 2, NULL), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 3, NULL), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 1, NULL), STORE_OK);
    CHECK_INT(token_get(st, 4, NULL), STORE_OK);
    CHECK_INT(token_get(st, 5, NULL), STORE_OK);
    CHECK_INT(token_get(st, 6, NULL), STORE_OK);
    CHECK_INT(token_delete_user(st, "usr_a", "password-reset", &n), STORE_OK);
    CHECK_INT(n, 0);
    CHECK_INT(token_delete_user(st, "usr_a", "no-such-purpose", &n), STORE_OK);
    CHECK_INT(n, 0);
    /* every purpose */
    CHECK_INT(token_delete_user(st, "usr_a", NULL, &n), STORE_OK);
    CHECK_INT(n, 2);
    CHECK_INT(token_get(st, 1, NULL), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 4, NULL), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 5, NULL), STORE_OK);
    CHECK_INT(token_get(st, 6, NULL), STORE_OK);
    /* a user without tokens; n may be NULL */
    CHECK_INT(token_delete_user(st, "usr_none", NULL, &n), STORE_OK);
    CHECK_INT(n, 0);
    struct token_op o = {.op = TOKEN_DELETE_USER, .user_id = "usr_ab", .no_count = 1};
    CHECK_INT(store_write(st, token_cb, &o), STORE_OK);
    CHECK_INT(token_get(st, 5, NULL), STORE_NOTFOUND);
    /* bad arguments: the walk does not start */
    CHECK_INT(token_delete_user(st, "usr_", "Password-reset", &n), STORE_EINVAL);
    CHECK_INT(n, 0);
    CHECK_INT(token_delete_user(st, "", NULL, &n), STORE_EINVAL);
    CHECK_INT(token_delete_user(st, "usr_/x", NULL, &n), STORE_EINVAL);
    CHECK_INT(store_read(st, token_cb, &o), STORE_EINVAL);
    CHECK_INT(token_get(st, 6, NULL), STORE_OK);
    /* the expiry entries of the deleted tokens went with them: the sweep finds one token */
    CHECK_INT(store_sweep(st, 1000, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    CHECK_INT(token_get(st, 6, NULL), STORE_NOTFOUND);
    store_close(st);
}

/* ---- mail budgets ---- */

struct count_op {
    const char *key;
    struct store_mail_count c; /* put: the record; get: the result */
};

static int count_put_cb(struct store_txn *txn, void *arg)
{
    struct count_op *o = arg;
    return store_mail_count_put(txn, o->key, &o->c);
}

static int count_get_cb(struct store_txn *txn, void *arg)
{
    struct count_op *o = arg;
    return store_mail_count_get(txn, o->key, &o->c);
}

static int count_put(struct store *st, const char *key, uint64_t count, int64_t window_start,
                     int64_t expires_at)
{
    struct count_op o = {.key = key, .c = {count, window_start, expires_at}};
    return store_write(st, count_put_cb, &o);
}

/* The count of key into *out; its result. */
static int count_get(struct store *st, const char *key, struct store_mail_count *out)
{
    struct count_op o = {.key = key, .c = {7, 7, 7}};
    int rc = store_read(st, count_get_cb, &o);
    *out = o.c;
    return rc;
}

/* Created, read, replaced (its expiry entry moving), swept after expiry with the email tokens
 * of the same time and not before; bad keys and values refused. */
TEST(mail_counts_put_get_and_sweep)
{
    struct store *st = NULL;
    struct store_mail_count got;
    struct store_email_token t;
    size_t removed = 0;
    char key[STORE_LOGIN_KEY_MAX + 2];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(count_get(st, "to:a", &got), STORE_NOTFOUND);
    CHECK(got.count == 0 && got.window_start == 0 && got.expires_at == 0);
    CHECK_INT(count_put(st, "to:a", 1, 1000, 4600), STORE_OK);
    CHECK_INT(count_get(st, "to:a", &got), STORE_OK);
    CHECK_INT(got.count, 1);
    CHECK_INT(got.window_start, 1000);
    CHECK_INT(got.expires_at, 4600);
    /* counted on in the window, then a new window with a later expiry */
    CHECK_INT(count_put(st, "to:a", 2, 1000, 4600), STORE_OK);
    CHECK_INT(count_get(st, "to:a", &got), STORE_OK);
    CHECK_INT(got.count, 2);
    CHECK_INT(count_put(st, "to:a", 1, 4700, 8300), STORE_OK);
    CHECK_INT(count_put(st, "ip:b", (uint64_t)INT64_MAX, 1000, 4600), STORE_OK);
    CHECK_INT(count_get(st, "ip:b", &got), STORE_OK);
    CHECK(got.count == (uint64_t)INT64_MAX);
    make_token(&t, 1, "verify-email", "usr_a", 4600);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);
    make_token(&t, 2, "verify-email", "usr_a", 8300);
    CHECK_INT(token_op(st, TOKEN_INSERT, &t), STORE_OK);

    /* the sweep: at 4599 nothing; at 4600 ip:b and the token of 4600 (to:a's old expiry entry
     * moved with it); at 8300 the rest */
    CHECK_INT(store_sweep(st, 4599, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 4600, &removed), STORE_OK);
    CHECK_INT(removed, 2);
    CHECK_INT(count_get(st, "ip:b", &got), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 1, NULL), STORE_NOTFOUND);
    CHECK_INT(count_get(st, "to:a", &got), STORE_OK);
    CHECK_INT(got.count, 1);
    CHECK_INT(got.window_start, 4700);
    CHECK_INT(token_get(st, 2, NULL), STORE_OK);
    CHECK_INT(store_sweep(st, 8300, &removed), STORE_OK);
    CHECK_INT(removed, 2);
    CHECK_INT(count_get(st, "to:a", &got), STORE_NOTFOUND);
    CHECK_INT(token_get(st, 2, NULL), STORE_NOTFOUND);
    /* a swept key starts again */
    CHECK_INT(count_put(st, "to:a", 1, 9000, 12600), STORE_OK);
    CHECK_INT(count_get(st, "to:a", &got), STORE_OK);
    CHECK_INT(got.count, 1);

    /* keys: at most STORE_LOGIN_KEY_MAX bytes, not empty; values: no negative time, no count
     * over INT64_MAX; nothing in a read transaction */
    memset(key, 'k', STORE_LOGIN_KEY_MAX);
    key[STORE_LOGIN_KEY_MAX] = '\0';
    CHECK_INT(count_put(st, key, 3, 1, 2), STORE_OK);
    CHECK_INT(count_get(st, key, &got), STORE_OK);
    CHECK_INT(got.count, 3);
    key[STORE_LOGIN_KEY_MAX] = 'k';
    key[STORE_LOGIN_KEY_MAX + 1] = '\0';
    CHECK_INT(count_put(st, key, 3, 1, 2), STORE_EINVAL);
    CHECK_INT(count_get(st, key, &got), STORE_EINVAL);
    CHECK_INT(count_put(st, "", 3, 1, 2), STORE_EINVAL);
    CHECK_INT(count_get(st, "", &got), STORE_EINVAL);
    CHECK_INT(count_put(st, "to:c", 3, -1, 2), STORE_EINVAL);
    CHECK_INT(count_put(st, "to:c", 3, 1, -1), STORE_EINVAL);
    CHECK_INT(count_put(st, "to:c", (uint64_t)INT64_MAX + 1, 1, 2), STORE_EINVAL);
    struct count_op o = {.key = "to:c", .c = {1, 1, 2}};
    CHECK_INT(store_read(st, count_put_cb, &o), STORE_EINVAL);
    CHECK_INT(count_get(st, "to:c", &got), STORE_NOTFOUND);
    store_close(st);

    /* a record that cannot be decoded is corrupt */
    static const char bad[] = "{\"count\":-1,\"window_start\":1,\"expires_at\":2}";
    CHECK_INT(raw_put("mail_counts", "to:bad", bad, strlen(bad)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(count_get(st, "to:bad", &got), STORE_ECORRUPT);
    CHECK_INT(got.count, 0);
    /* a put over it is refused too: what it replaces must be read */
    CHECK_INT(count_put(st, "to:bad", 1, 1, 2), STORE_ECORRUPT);
    store_close(st);
}

/* ---- transactions and durability ---- */

/* Writes a user with everything attached; arg non-NULL: then fails with 42. */
static int user_with_everything_cb(struct store_txn *txn, void *arg)
{
    struct store_user u;
    struct store_identity idn;
    struct store_session s;
    struct store_audit_event ev;
    static struct store_application app;
    uint8_t h[STORE_REFRESH_HASH_LEN];
    int rc;

    make_app(&app, "app_sdk", STORE_APP_PUBLIC);
    make_user(&u, "usr_all", "All@x.com");
    u.metadata = "{\"tier\":\"gold\"}";
    make_identity(&idn, "usr_all", "idn_all", "local-userpass", "all@x.com", 7);
    make_session(&s, "ses_all", "usr_all", 1, 10, 5000, 9000);
    make_event(&ev, "evt_all", 10);
    hash_of(h, 2);
    rc = store_app_insert(txn, &app);
    if (!rc)
        rc = store_user_insert(txn, &u);
    if (!rc)
        rc = store_identity_insert(txn, &idn);
    if (!rc)
        rc = store_session_insert(txn, &s);
    if (!rc)
        rc = store_session_rotate(txn, "ses_all", h, 20, 6000);
    if (!rc)
        rc = store_audit_append(txn, &ev);
    return rc ? rc : arg ? 42 : STORE_OK;
}

TEST(failed_transaction_leaves_no_user_records)
{
    struct store *st = NULL;
    static struct store_application app;
    struct store_user got;
    struct store_identity idn;
    struct store_session ses;
    char found[STORE_ID_MAX], ids[64];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, user_with_everything_cb, "fail"), 42);
    CHECK_INT(app_get(st, "app_sdk", &app), STORE_NOTFOUND);
    CHECK_INT(user_get(st, "usr_all", &got), STORE_NOTFOUND);
    CHECK_INT(email_find(st, "all@x.com", found), STORE_NOTFOUND);
    CHECK_INT(identity_find(st, "local-userpass", "all@x.com", &idn), STORE_NOTFOUND);
    CHECK_INT(identity_count(st, "usr_all"), 0);
    CHECK_INT(session_get(st, "ses_all", &ses), STORE_NOTFOUND);
    CHECK_INT(session_count(st, "usr_all", NULL), 0);
    CHECK_INT(refresh_known(st, 1), 0);
    CHECK_INT(refresh_known(st, 2), 0);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    /* nor is anything in the way of doing it again */
    CHECK_INT(store_write(st, user_with_everything_cb, NULL), STORE_OK);
    CHECK_INT(email_find(st, "ALL@X.COM", found), STORE_OK);
    CHECK_STR(found, "usr_all");
    store_close(st);
}

TEST(user_records_survive_reopen)
{
    struct store *st = NULL;
    static struct store_application app;
    struct store_user got;
    struct store_identity idn;
    struct store_session ses;
    char found[STORE_ID_MAX], ids[64];
    int sup;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, user_with_everything_cb, NULL), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(app_get(st, "app_sdk", &app), STORE_OK);
    CHECK_INT(app.type, STORE_APP_PUBLIC);
    CHECK_STR(app.grants[0], "password");
    CHECK_INT(user_get(st, "usr_all", &got), STORE_OK);
    CHECK_STR(got.email, "All@x.com");
    CHECK_STR(got.metadata, "{\"tier\":\"gold\"}");
    store_user_clear(&got);
    CHECK_INT(email_find(st, "all@x.com", found), STORE_OK);
    CHECK_STR(found, "usr_all");
    CHECK_INT(identity_find(st, "local-userpass", "all@x.com", &idn), STORE_OK);
    CHECK_STR(idn.id, "idn_all");
    CHECK_INT(idn.created_at, 7);
    CHECK_INT(session_get(st, "ses_all", &ses), STORE_OK);
    CHECK_INT(ses.last_used_at, 20);
    CHECK_INT(ses.idle_expires_at, 6000);
    CHECK_INT(refresh_find(st, 1, found, &sup), STORE_OK);
    CHECK_STR(found, "ses_all");
    CHECK_INT(sup, 1);
    CHECK_INT(refresh_find(st, 2, found, &sup), STORE_OK);
    CHECK_INT(sup, 0);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_all");
    store_close(st);
}

static int user_ops_in_read_cb(struct store_txn *txn, void *arg)
{
    int rc = user_with_everything_cb(txn, NULL);
    if (rc == STORE_EINVAL)
        rc = store_user_delete(txn, "usr_all");
    if (rc == STORE_EINVAL)
        rc = store_session_delete_user(txn, "usr_all", NULL, NULL);
    return rc;
}

TEST(read_transaction_refuses_user_writes)
{
    struct store *st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, user_ops_in_read_cb, NULL), STORE_EINVAL);
    store_close(st);
}

/* ---- corrupt user records ---- */

TEST(corrupt_user_records_are_refused)
{
    struct store *st = NULL;
    static struct store_application app;
    struct store_user got;
    struct store_identity idn;
    struct store_session ses;
    struct page p = {.limit = 10};
    char found[STORE_ID_MAX], ids[64];
    int sup;
    static const char *bad_users[] = {
        "{\"email\":\"\",\"name\":\"\",\"status\":2,\"anonymous\":true,\"created_at\":1,"
        "\"updated_at\":1,\"metadata\":{},\"roles\":[]}",
        "{\"email\":\"\",\"name\":\"\",\"status\":0,\"anonymous\":true,\"created_at\":1,"
        "\"updated_at\":1,\"metadata\":[],\"roles\":[]}",
        "{\"email\":\"\",\"name\":\"\",\"status\":0,\"anonymous\":1,\"created_at\":1,"
        "\"updated_at\":1,\"metadata\":{},\"roles\":[]}",
        "{\"email\":\"\",\"name\":\"\",\"status\":0,\"anonymous\":true,\"created_at\":1,"
        "\"updated_at\":1,\"metadata\":{},\"roles\":[\"\"]}",
        "{\"email\":\"\",\"name\":\"\",\"status\":0,\"anonymous\":true,\"created_at\":1,"
        "\"updated_at\":1,\"roles\":[]}",
        "not json",
    };

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, user_with_everything_cb, NULL), STORE_OK);
    store_close(st);

    for (size_t i = 0; i < sizeof bad_users / sizeof bad_users[0]; i++) {
        CHECK_INT(raw_put("users", "usr_bad", bad_users[i], strlen(bad_users[i])), 0);
        st = NULL;
        CHECK_INT(open_small(&st), STORE_OK);
        CHECK_MSG(user_get(st, "usr_bad", &got) == STORE_ECORRUPT, "user %zu", i);
        CHECK(got.metadata == NULL && got.roles == NULL);
        CHECK_INT(store_read(st, user_list_cb, &p), STORE_ECORRUPT);
        CHECK(p.items == NULL && p.n == 0);
        CHECK_INT(user_get(st, "usr_all", &got), STORE_OK);
        store_user_clear(&got);
        store_close(st);
    }

    /* an application with a type it cannot have, or a public one with a secret */
    static const char bad_app[] = "{\"name\":\"\",\"type\":0,\"phc\":\"x\",\"hint\":\"\","
                                  "\"grants\":[],\"redirect_uris\":[],\"origins\":[],"
                                  "\"created_at\":1,\"updated_at\":1}";
    CHECK_INT(raw_put("applications", "app_sdk", bad_app, strlen(bad_app)), 0);
    static const char bad_identity[] = "{\"provider\":\"local-userpass\",\"provider_id\":\"\","
                                       "\"phc\":\"\",\"created_at\":1}";
    CHECK_INT(raw_put("identities", "usr_all/idn_all", bad_identity, strlen(bad_identity)), 0);
    static const char bad_session[] =
        "{\"user_id\":\"usr_all\",\"client_id\":\"app_sdk\",\"amr\":\"pwd\",\"scope\":\"\","
        "\"created_at\":1,"
        "\"last_used_at\":1,\"idle_expires_at\":1,\"absolute_expires_at\":1,\"client_ip\":\"\","
        "\"user_agent\":\"\",\"refresh_hash\":\"AAAA\"}";
    CHECK_INT(raw_put("sessions", "ses_all", bad_session, strlen(bad_session)), 0);
    static const char bad_event[] = "{\"time\":1,\"type\":\"x\",\"actor\":\"\",\"target\":\"\","
                                    "\"client_ip\":\"\",\"result\":\"maybe\",\"detail\":\"\"}";
    CHECK_INT(raw_put("audit", "evt_all", bad_event, strlen(bad_event)), 0);
    {
        /* a refresh entry whose state byte is neither 0 nor 1 (planted under the hash of 77) */
        uint8_t h[STORE_REFRESH_HASH_LEN];
        hash_of(h, 77);
        CHECK_INT(raw_put_bin("refresh", h, sizeof h, "\x02ses_all", 8), 0);
    }
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(app_get(st, "app_sdk", &app), STORE_ECORRUPT);
    CHECK_INT(identity_find(st, "local-userpass", "all@x.com", &idn), STORE_ECORRUPT);
    CHECK_INT(identity_count(st, "usr_all"), -1);
    CHECK_INT(session_get(st, "ses_all", &ses), STORE_ECORRUPT);
    CHECK_INT(session_count(st, "usr_all", NULL), -1);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_ECORRUPT);
    CHECK_INT(refresh_find(st, 77, found, &sup), STORE_ECORRUPT);
    CHECK_STR(found, "");
    /* the user cannot be deleted around a record that cannot be read: nothing changes */
    CHECK_INT(store_write(st, user_delete_cb, "usr_all"), STORE_ECORRUPT);
    CHECK_INT(user_get(st, "usr_all", &got), STORE_OK);
    store_user_clear(&got);
    store_close(st);
}

/* ---- service-account access lists ---- */

/* An access list of n entries at their maximum: 49-byte CIDRs and 256-byte UTF-8 comments, each
 * distinct. */
static struct store_acl_entry *make_acl(size_t n)
{
    struct store_acl_entry *acl = calloc(n ? n : 1, sizeof *acl);
    for (size_t i = 0; acl && i < n; i++) {
        fill_head(acl[i].cidr, STORE_CIDR_MAX, "2001:db8::", i, '0');
        memcpy(acl[i].cidr + STORE_CIDR_MAX - 5, "/128", 4);
        fill_head(acl[i].comment, STORE_NAME_MAX, "caf\xc3\xa9 \"office\" \\ ", i, 'c');
    }
    return acl;
}

TEST(sa_acl_round_trip_at_maximum)
{
    struct store *st = NULL;
    struct store_service_account sa, got;
    struct sa_list l = {.limit = 10};

    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_acl", 1);
    sa.nacl = STORE_ACL_MAX;
    sa.acl = make_acl(STORE_ACL_MAX);
    CHECK(sa.acl != NULL);
    CHECK_INT(strlen(sa.acl[0].cidr), STORE_CIDR_MAX - 1);
    CHECK_INT(strlen(sa.acl[0].comment), STORE_NAME_MAX - 1);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);

    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_OK);
    CHECK_INT(got.nacl, STORE_ACL_MAX);
    CHECK(got.acl != NULL && got.acl != sa.acl);
    for (size_t i = 0; i < STORE_ACL_MAX; i++) {
        CHECK_STR(got.acl[i].cidr, sa.acl[i].cidr);
        CHECK_STR(got.acl[i].comment, sa.acl[i].comment);
    }
    CHECK_INT(got.nroles, 1);
    CHECK_STR(got.roles[0], "role-0");
    store_service_account_clear(&got);
    CHECK(got.acl == NULL && got.nacl == 0 && got.roles == NULL && got.id[0] == '\0');

    /* listed with its access list too */
    CHECK_INT(store_read(st, sa_list_cb, &l), STORE_OK);
    CHECK_INT(l.n, 1);
    CHECK_INT(l.items[0].nacl, STORE_ACL_MAX);
    CHECK_STR(l.items[0].acl[STORE_ACL_MAX - 1].cidr, sa.acl[STORE_ACL_MAX - 1].cidr);
    store_sa_list_free(l.items, l.n);

    /* one short entry with an empty comment, then none */
    free(sa.acl);
    sa.nacl = 1;
    sa.acl = calloc(1, sizeof *sa.acl);
    CHECK(sa.acl != NULL);
    snprintf(sa.acl[0].cidr, sizeof sa.acl[0].cidr, "10.0.0.0/8");
    CHECK_INT(store_write(st, sa_update_cb, &sa), STORE_OK);
    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_OK);
    CHECK_INT(got.nacl, 1);
    CHECK_STR(got.acl[0].cidr, "10.0.0.0/8");
    CHECK_STR(got.acl[0].comment, "");
    store_service_account_clear(&got);
    free(sa.acl);
    sa.acl = NULL;
    sa.nacl = 0;
    CHECK_INT(store_write(st, sa_update_cb, &sa), STORE_OK);
    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_OK);
    CHECK_INT(got.nacl, 0);
    CHECK(got.acl == NULL);
    store_service_account_clear(&got);
    store_service_account_clear(&sa);
    store_close(st);
}

TEST(sa_acl_limits_are_einval)
{
    struct store *st = NULL;
    struct store_service_account sa, got;

    CHECK_INT(open_small(&st), STORE_OK);
    make_sa(&sa, "sa_acl", 0);
    sa.nacl = STORE_ACL_MAX + 1; /* 65 entries */
    sa.acl = make_acl(STORE_ACL_MAX + 1);
    CHECK(sa.acl != NULL);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_NOTFOUND);

    sa.nacl = 2;
    memset(sa.acl[1].cidr, '1', STORE_CIDR_MAX); /* 50 bytes: no NUL in the field */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    sa.acl[1].cidr[0] = '\0'; /* empty */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    static const char *bad_cidrs[] = {"10.0.0.0/8 ", "10.0.0.0\t/8", "caf\xc3\xa9/8", "\x7f"};
    for (size_t i = 0; i < sizeof bad_cidrs / sizeof bad_cidrs[0]; i++) {
        snprintf(sa.acl[1].cidr, sizeof sa.acl[1].cidr, "%s", bad_cidrs[i]);
        CHECK_MSG(store_write(st, sa_insert_cb, &sa) == STORE_EINVAL, "cidr %zu", i);
    }
    snprintf(sa.acl[1].cidr, sizeof sa.acl[1].cidr, "192.0.2.0/24");
    memset(sa.acl[1].comment, 'c', STORE_NAME_MAX); /* 257 bytes */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    snprintf(sa.acl[1].comment, sizeof sa.acl[1].comment, "bad \xff utf-8");
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);
    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_NOTFOUND);
    free(sa.acl);
    sa.acl = NULL; /* entries promised, none given */
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_EINVAL);

    /* a refused update leaves the stored list as it was */
    sa.nacl = 2;
    sa.acl = make_acl(2);
    CHECK(sa.acl != NULL);
    CHECK_INT(store_write(st, sa_insert_cb, &sa), STORE_OK);
    sa.acl[0].cidr[0] = '\0';
    CHECK_INT(store_write(st, sa_update_cb, &sa), STORE_EINVAL);
    CHECK_INT(sa_get(st, "sa_acl", &got), STORE_OK);
    CHECK_INT(got.nacl, 2);
    CHECK_INT(strlen(got.acl[0].cidr), STORE_CIDR_MAX - 1);
    store_service_account_clear(&got);
    store_service_account_clear(&sa);
    store_close(st);
}

TEST(sa_acl_corrupt_records_are_refused)
{
    struct store *st = NULL;
    struct store_service_account got;
#define SA_HEAD                                                                                    \
    "{\"name\":\"x\",\"description\":\"\",\"disabled\":false,\"created_at\":1,\"updated_at\":1,"   \
    "\"roles\":[]"
    static const char *bad[] = {
        SA_HEAD ",\"acl\":{}}",
        SA_HEAD ",\"acl\":null}",
        SA_HEAD ",\"acl\":[\"10.0.0.0/8\"]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"10.0.0.0/8\"}]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"10.0.0.0/8\",\"comment\":7}]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"\",\"comment\":\"\"}]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"10.0.0.0 /8\",\"comment\":\"\"}]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"10.0.0.0/8\",\"comment\":\"\",\"extra\":1}]}",
        SA_HEAD ",\"acl\":[{\"cidr\":\"0123456789012345678901234567890123456789012345678901\","
                "\"comment\":\"\"}]}",
    };
    static const char no_acl[] = SA_HEAD "}";
    static const char empty_acl[] = SA_HEAD ",\"acl\":[]}";

    CHECK_INT(open_small(&st), STORE_OK);
    store_close(st);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(raw_put("service_accounts", "sa_bad", bad[i], strlen(bad[i])), 0);
        st = NULL;
        CHECK_INT(open_small(&st), STORE_OK);
        CHECK_MSG(sa_get(st, "sa_bad", &got) == STORE_ECORRUPT, "record %zu", i);
        CHECK(got.acl == NULL && got.nacl == 0);
        store_close(st);
    }
    /* 65 entries */
    {
        static char big[8192];
        size_t used = (size_t)snprintf(big, sizeof big, "%s,\"acl\":[", SA_HEAD);
        for (int i = 0; i <= STORE_ACL_MAX; i++)
            used +=
                (size_t)snprintf(big + used, sizeof big - used,
                                 "%s{\"cidr\":\"10.0.0.%d/32\",\"comment\":\"\"}", i ? "," : "", i);
        used += (size_t)snprintf(big + used, sizeof big - used, "]}");
        CHECK(used < sizeof big);
        CHECK_INT(raw_put("service_accounts", "sa_bad", big, used), 0);
        st = NULL;
        CHECK_INT(open_small(&st), STORE_OK);
        CHECK_INT(sa_get(st, "sa_bad", &got), STORE_ECORRUPT);
        store_close(st);
    }
    /* a record without "acl", or with an empty one, has an empty list */
    CHECK_INT(raw_put("service_accounts", "sa_old", no_acl, strlen(no_acl)), 0);
    CHECK_INT(raw_put("service_accounts", "sa_bad", empty_acl, strlen(empty_acl)), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(sa_get(st, "sa_old", &got), STORE_OK);
    CHECK_INT(got.nacl, 0);
    CHECK(got.acl == NULL);
    CHECK_STR(got.name, "x");
    store_service_account_clear(&got);
    CHECK_INT(sa_get(st, "sa_bad", &got), STORE_OK);
    CHECK_INT(got.nacl, 0);
    CHECK(got.acl == NULL);
    store_close(st);
#undef SA_HEAD
}

/* ---- user search ---- */

struct user_search {
    struct store_user_filter filter;
    const struct store_user_filter *fp; /* &filter, or NULL */
    const char *after;
    size_t limit, scan_max;
    char scanned_to[STORE_ID_MAX];
    char ids[512]; /* the ids found, comma-separated */
    size_t n;
};

static int user_search_cb(struct store_txn *txn, void *arg)
{
    struct user_search *s = arg;
    struct store_user *items = NULL;
    size_t used = 0;
    int rc = store_user_search(txn, s->fp, s->after, s->limit, s->scan_max, &items, &s->n,
                               s->scanned_to);
    s->ids[0] = '\0';
    for (size_t i = 0; i < s->n; i++)
        used += (size_t)snprintf(s->ids + used, sizeof s->ids - used, "%s%s", i ? "," : "",
                                 items[i].id);
    store_user_list_free(items, s->n);
    return rc;
}

/* Searches with email prefix and status from after; ids and scanned_to land in *s. */
static int user_search(struct store *st, struct user_search *s, const char *prefix, int status,
                       const char *after, size_t limit, size_t scan_max)
{
    memset(s, 0, sizeof *s);
    s->filter.email_prefix = prefix;
    s->filter.status = status;
    s->fp = &s->filter;
    s->after = after;
    s->limit = limit;
    s->scan_max = scan_max;
    snprintf(s->scanned_to, sizeof s->scanned_to, "untouched");
    return store_read(st, user_search_cb, s);
}

static int user_insert_status(struct store *st, const char *id, const char *email, int status)
{
    struct store_user u;
    make_user(&u, id, email);
    u.status = status;
    return store_write(st, user_insert_cb, &u);
}

TEST(user_search_filters_and_pages)
{
    struct store *st = NULL;
    struct user_search s;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_04", "bob@example.com", STORE_USER_ACTIVE), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_01", "Alice@Example.com", STORE_USER_ACTIVE), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_03", "", STORE_USER_ACTIVE), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_02", "alan@example.com", STORE_USER_DISABLED), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_06", "al@x", STORE_USER_ACTIVE), STORE_OK);
    CHECK_INT(user_insert_status(st, "usr_05", "ALICE2@x.com", STORE_USER_DISABLED), STORE_OK);

    /* prefix, ignoring case both ways */
    CHECK_INT(user_search(st, &s, "al", -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_02,usr_05,usr_06");
    CHECK_STR(s.scanned_to, "usr_06");
    CHECK_INT(user_search(st, &s, "ALI", -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_05");
    CHECK_INT(user_search(st, &s, "alice@example.COM", -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01");
    CHECK_INT(user_search(st, &s, "alice@example.com.au", -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_INT(s.n, 0);
    CHECK_STR(s.scanned_to, "usr_06");
    /* status alone, and both */
    CHECK_INT(user_search(st, &s, NULL, STORE_USER_DISABLED, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_02,usr_05");
    CHECK_INT(user_search(st, &s, "", STORE_USER_ACTIVE, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_03,usr_04,usr_06");
    CHECK_INT(user_search(st, &s, "al", STORE_USER_ACTIVE, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_06");
    CHECK_INT(user_search(st, &s, "AL", STORE_USER_DISABLED, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_02,usr_05");
    /* no filter: everyone, the anonymous user too; a prefix never matches the anonymous "" */
    CHECK_INT(user_search(st, &s, NULL, -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_02,usr_03,usr_04,usr_05,usr_06");
    s.fp = NULL;
    CHECK_INT(store_read(st, user_search_cb, &s), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_02,usr_03,usr_04,usr_05,usr_06");
    CHECK_INT(user_search(st, &s, "a", -1, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_02,usr_05,usr_06");

    /* paging: limit stops the walk at the last match; after continues from there */
    CHECK_INT(user_search(st, &s, "al", -1, NULL, 2, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_01,usr_02");
    CHECK_STR(s.scanned_to, "usr_02");
    CHECK_INT(user_search(st, &s, "al", -1, "usr_02", 2, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_05,usr_06");
    CHECK_STR(s.scanned_to, "usr_06");
    CHECK_INT(user_search(st, &s, "al", -1, "usr_06", 2, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "");
    CHECK_INT(user_search(st, &s, "al", -1, "usr_025", 1, 0), STORE_OK); /* between two ids */
    CHECK_STR(s.ids, "usr_05");
    CHECK_STR(s.scanned_to, "usr_05");
    CHECK_INT(user_search(st, &s, "al", -1, NULL, 0, 0), STORE_OK); /* limit 0: nothing */
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "");

    /* bad arguments */
    CHECK_INT(user_search(st, &s, NULL, 2, NULL, 10, 0), STORE_EINVAL);
    CHECK_STR(s.scanned_to, "");
    CHECK_INT(user_search(st, &s, NULL, -2, NULL, 10, 0), STORE_EINVAL);
    {
        char long_prefix[STORE_EMAIL_MAX + 1];
        fill(long_prefix, sizeof long_prefix, 'a'); /* 321 bytes */
        CHECK_INT(user_search(st, &s, long_prefix, -1, NULL, 10, 0), STORE_EINVAL);
        long_prefix[STORE_EMAIL_MAX - 1] = '\0'; /* 320 bytes: fine, matches nobody */
        CHECK_INT(user_search(st, &s, long_prefix, -1, NULL, 10, 0), STORE_OK);
        CHECK_INT(s.n, 0);
    }
    store_close(st);
}

static int ten_users_cb(struct store_txn *txn, void *arg)
{
    int rc = STORE_OK;
    for (int i = 0; i < 10 && rc == STORE_OK; i++) {
        struct store_user u;
        char id[STORE_ID_MAX], email[64];
        snprintf(id, sizeof id, "usr_%02d", i);
        snprintf(email, sizeof email, "%s%d@x.com", i == 7 ? "match" : "other", i);
        make_user(&u, id, email);
        rc = store_user_insert(txn, &u);
    }
    return rc;
}

TEST(user_search_scan_max_bounds_the_work)
{
    struct store *st = NULL;
    struct user_search s;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, ten_users_cb, NULL), STORE_OK);
    /* one match in ten; three users looked at per call */
    CHECK_INT(user_search(st, &s, "MATCH", -1, NULL, 5, 3), STORE_OK);
    CHECK_INT(s.n, 0);
    CHECK_STR(s.scanned_to, "usr_02");
    CHECK_INT(user_search(st, &s, "MATCH", -1, "usr_02", 5, 3), STORE_OK);
    CHECK_INT(s.n, 0);
    CHECK_STR(s.scanned_to, "usr_05");
    CHECK_INT(user_search(st, &s, "MATCH", -1, "usr_05", 5, 3), STORE_OK);
    CHECK_STR(s.ids, "usr_07");
    CHECK_STR(s.scanned_to, "usr_08");
    CHECK_INT(user_search(st, &s, "MATCH", -1, "usr_08", 5, 3), STORE_OK);
    CHECK_INT(s.n, 0);
    CHECK_STR(s.scanned_to, "usr_09");
    CHECK_INT(user_search(st, &s, "MATCH", -1, "usr_09", 5, 3), STORE_OK);
    CHECK_INT(s.n, 0);
    CHECK_STR(s.scanned_to, "");
    /* unbounded finds it in one call; a bound of one looks at exactly one user */
    CHECK_INT(user_search(st, &s, "match", -1, NULL, 5, 0), STORE_OK);
    CHECK_STR(s.ids, "usr_07");
    CHECK_STR(s.scanned_to, "usr_09");
    CHECK_INT(user_search(st, &s, NULL, -1, "usr_03", 5, 1), STORE_OK);
    CHECK_STR(s.ids, "usr_04");
    CHECK_STR(s.scanned_to, "usr_04");
    /* the limit stops the walk before scan_max does */
    CHECK_INT(user_search(st, &s, "other", -1, NULL, 2, 8), STORE_OK);
    CHECK_STR(s.ids, "usr_00,usr_01");
    CHECK_STR(s.scanned_to, "usr_01");
    store_close(st);
}

/* ---- audit search and expiry ---- */

struct audit_search {
    struct store_audit_filter filter;
    const struct store_audit_filter *fp;
    const char *before;
    size_t limit, scan_max;
    char scanned_to[STORE_ID_MAX];
    char ids[512];
    size_t n;
};

static int audit_search_cb(struct store_txn *txn, void *arg)
{
    struct audit_search *s = arg;
    struct store_audit_event *items = NULL;
    size_t used = 0;
    int rc = store_audit_search(txn, s->fp, s->before, s->limit, s->scan_max, &items, &s->n,
                                s->scanned_to);
    s->ids[0] = '\0';
    for (size_t i = 0; i < s->n; i++)
        used += (size_t)snprintf(s->ids + used, sizeof s->ids - used, "%s%s", i ? "," : "",
                                 items[i].id);
    free(items);
    return rc;
}

static int audit_search(struct store *st, struct audit_search *s, const char *type,
                        const char *actor, const char *target, int64_t since, const char *before,
                        size_t limit, size_t scan_max)
{
    memset(s, 0, sizeof *s);
    s->filter.type = type;
    s->filter.actor = actor;
    s->filter.target = target;
    s->filter.since = since;
    s->fp = &s->filter;
    s->before = before;
    s->limit = limit;
    s->scan_max = scan_max;
    snprintf(s->scanned_to, sizeof s->scanned_to, "untouched");
    return store_read(st, audit_search_cb, s);
}

static int audit_add(struct store *st, const char *id, int64_t time, const char *type,
                     const char *actor, const char *target)
{
    struct store_audit_event ev;
    make_event(&ev, id, time);
    snprintf(ev.type, sizeof ev.type, "%s", type);
    snprintf(ev.actor, sizeof ev.actor, "%s", actor);
    snprintf(ev.target, sizeof ev.target, "%s", target);
    return store_write(st, audit_append_cb, &ev);
}

TEST(audit_search_filters_and_pages)
{
    struct store *st = NULL;
    struct audit_search s;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(audit_add(st, "evt_01", 100, "user.login", "usr_a", "ses_1"), STORE_OK);
    CHECK_INT(audit_add(st, "evt_02", 200, "user.disable", "usr_admin", "usr_a"), STORE_OK);
    CHECK_INT(audit_add(st, "evt_03", 300, "user.login", "usr_b", "ses_2"), STORE_OK);
    CHECK_INT(audit_add(st, "evt_04", 400, "team.create", "sa_ci", "team_x"), STORE_OK);
    CHECK_INT(audit_add(st, "evt_05", 500, "user.login", "usr_a", "ses_3"), STORE_OK);
    CHECK_INT(audit_add(st, "evt_06", 600, "user.enable", "usr_admin", "usr_a"), STORE_OK);

    /* each filter alone, newest first */
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_05,evt_03,evt_01");
    CHECK_STR(s.scanned_to, "evt_01");
    CHECK_INT(audit_search(st, &s, NULL, "usr_admin", NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_06,evt_02");
    CHECK_INT(audit_search(st, &s, NULL, NULL, "usr_a", 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_06,evt_02");
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 400, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_06,evt_05,evt_04");
    CHECK_STR(s.scanned_to, "evt_03"); /* the first older event ends the walk */
    /* combined, and exact (not prefix) matches */
    CHECK_INT(audit_search(st, &s, "user.login", "usr_a", NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_05,evt_01");
    CHECK_INT(audit_search(st, &s, "user.login", "usr_a", "ses_1", 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_01");
    CHECK_INT(audit_search(st, &s, "user.login", "usr_a", NULL, 200, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_05");
    CHECK_INT(audit_search(st, &s, "user", NULL, NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_INT(audit_search(st, &s, NULL, "usr_", NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_06,evt_05,evt_04,evt_03,evt_02,evt_01");
    s.fp = NULL;
    CHECK_INT(store_read(st, audit_search_cb, &s), STORE_OK);
    CHECK_STR(s.ids, "evt_06,evt_05,evt_04,evt_03,evt_02,evt_01");

    /* paging with before */
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 0, NULL, 2, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_05,evt_03");
    CHECK_STR(s.scanned_to, "evt_03");
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 0, "evt_03", 2, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_01");
    CHECK_STR(s.scanned_to, "evt_01");
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 0, "evt_01", 2, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "");
    CHECK_INT(audit_search(st, &s, NULL, "usr_a", NULL, 0, "evt_045", 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_01"); /* evt_03 is usr_b's */
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 0, "", 1, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_06");

    /* scan_max: two events looked at per call */
    CHECK_INT(audit_search(st, &s, NULL, "usr_b", NULL, 0, NULL, 10, 2), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "evt_05");
    CHECK_INT(audit_search(st, &s, NULL, "usr_b", NULL, 0, "evt_05", 10, 2), STORE_OK);
    CHECK_STR(s.ids, "evt_03");
    CHECK_STR(s.scanned_to, "evt_03");
    CHECK_INT(audit_search(st, &s, NULL, "usr_b", NULL, 0, "evt_03", 10, 2), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "evt_01");
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 0, NULL, 0, 0), STORE_OK); /* limit 0 */
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "");

    /* bad arguments */
    {
        char type[STORE_EVENT_TYPE_MAX + 1], id[STORE_ID_MAX + 1];
        fill(type, sizeof type, 't');
        fill(id, sizeof id, 'i');
        CHECK_INT(audit_search(st, &s, type, NULL, NULL, 0, NULL, 10, 0), STORE_EINVAL);
        CHECK_STR(s.scanned_to, "");
        CHECK_INT(audit_search(st, &s, NULL, id, NULL, 0, NULL, 10, 0), STORE_EINVAL);
        CHECK_INT(audit_search(st, &s, NULL, NULL, id, 0, NULL, 10, 0), STORE_EINVAL);
        CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 0, id, 10, 0), STORE_EINVAL);
    }
    store_close(st);
}

TEST(audit_search_since_stops_the_walk)
{
    struct store *st = NULL;
    struct audit_search s;

    /* ids order events; an out-of-order time shows the walk stops rather than filters */
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(audit_add(st, "evt_1", 900, "user.login", "usr_a", ""), STORE_OK);
    CHECK_INT(audit_add(st, "evt_2", 50, "user.login", "usr_a", ""), STORE_OK);
    CHECK_INT(audit_add(st, "evt_3", 300, "user.login", "usr_a", ""), STORE_OK);
    CHECK_INT(audit_add(st, "evt_4", 400, "user.logout", "usr_a", ""), STORE_OK);
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 100, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_3");
    CHECK_STR(s.scanned_to, "evt_2");
    CHECK_INT(audit_search(st, &s, "user.login", NULL, NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_3,evt_2,evt_1");
    /* since equal to an event's time keeps it; a since past everything finds nothing */
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 400, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_4");
    CHECK_STR(s.scanned_to, "evt_3");
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 1000, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "");
    CHECK_STR(s.scanned_to, "evt_4");
    store_close(st);
}

TEST(audit_expire_removes_only_older_events)
{
    struct store *st = NULL;
    struct audit_search s;
    char ids[128];
    size_t removed = 99;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_audit_expire(st, 1000, &removed), STORE_OK); /* nothing to expire */
    CHECK_INT(removed, 0);
    for (int i = 1; i <= 5; i++) {
        char id[16];
        snprintf(id, sizeof id, "evt_%d", i);
        CHECK_INT(audit_add(st, id, 10 * i, "user.login", "usr_a", ""), STORE_OK);
    }
    CHECK_INT(store_audit_expire(st, 30, &removed), STORE_OK);
    CHECK_INT(removed, 2);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_5,evt_4,evt_3");
    CHECK_INT(store_audit_expire(st, 30, &removed), STORE_OK); /* time 30 is not older than 30 */
    CHECK_INT(removed, 0);
    CHECK_INT(store_audit_expire(st, 31, NULL), STORE_OK);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_5,evt_4");
    CHECK_INT(audit_search(st, &s, NULL, NULL, NULL, 0, NULL, 10, 0), STORE_OK);
    CHECK_STR(s.ids, "evt_5,evt_4");
    CHECK_INT(store_audit_expire(st, INT64_MAX, &removed), STORE_OK);
    CHECK_INT(removed, 2);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(store_audit_expire(NULL, 1, &removed), STORE_EINVAL);
    CHECK_INT(removed, 0);
    store_close(st);
}

static int many_events_cb(struct store_txn *txn, void *arg)
{
    int rc = STORE_OK;
    for (int i = 0; i < 3000 && rc == STORE_OK; i++) {
        struct store_audit_event ev;
        char id[32];
        snprintf(id, sizeof id, "evt_%06d", i);
        make_event(&ev, id, i);
        fill(ev.detail, sizeof ev.detail, 'd');
        rc = store_audit_append(txn, &ev);
    }
    return rc;
}

TEST(audit_expire_of_many_events)
{
    struct store *st = NULL;
    char ids[64];
    size_t removed = 0;

    /* one transaction deletes thousands of events, growing the map when it must */
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, many_events_cb, NULL), STORE_OK);
    CHECK_INT(store_audit_expire(st, 2999, &removed), STORE_OK);
    CHECK_INT(removed, 2999);
    CHECK_INT(audit_page(st, NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "evt_002999");
    store_close(st);
}

/* ---- teams and memberships ---- */

static void make_team(struct store_team *t, const char *id, const char *name, const char *scope,
                      size_t nroles)
{
    memset(t, 0, sizeof *t);
    snprintf(t->id, sizeof t->id, "%s", id);
    snprintf(t->name, sizeof t->name, "%s", name);
    snprintf(t->scope, sizeof t->scope, "%s", scope);
    snprintf(t->description, sizeof t->description, "team %s", id);
    t->created_at = 1700000000;
    t->updated_at = 1700000001;
    t->nroles = nroles;
    t->roles = nroles ? calloc(nroles, sizeof *t->roles) : NULL;
    for (size_t i = 0; t->roles && i < nroles; i++)
        snprintf(t->roles[i], sizeof t->roles[i], "readWrite@db%zu", i);
}

static int team_insert_cb(struct store_txn *txn, void *arg)
{
    return store_team_insert(txn, arg);
}

static int team_update_cb(struct store_txn *txn, void *arg)
{
    return store_team_update(txn, arg);
}

static int team_delete_cb(struct store_txn *txn, void *arg)
{
    return store_team_delete(txn, arg);
}

static int team_insert(struct store *st, const char *id, const char *name, const char *scope)
{
    struct store_team t;
    int rc;
    make_team(&t, id, name, scope, 1);
    rc = store_write(st, team_insert_cb, &t);
    store_team_clear(&t);
    return rc;
}

static int team_rename(struct store *st, const char *id, const char *name, const char *scope)
{
    struct store_team t;
    int rc;
    make_team(&t, id, name, scope, 0);
    rc = store_write(st, team_update_cb, &t);
    store_team_clear(&t);
    return rc;
}

struct team_get {
    const char *id;
    struct store_team out;
};

static int team_get_cb(struct store_txn *txn, void *arg)
{
    struct team_get *g = arg;
    return store_team_get(txn, g->id, &g->out);
}

/* The caller clears *out with store_team_clear(). */
static int team_get(struct store *st, const char *id, struct store_team *out)
{
    static struct team_get g;
    int rc;
    memset(&g, 0, sizeof g);
    g.id = id;
    rc = store_read(st, team_get_cb, &g);
    *out = g.out;
    return rc;
}

static int team_list_cb(struct store_txn *txn, void *arg)
{
    struct page *p = arg;
    return store_team_list(txn, p->after, p->limit, (struct store_team **)&p->items, &p->n);
}

struct member_ref {
    const char *team_id, *user_id, *after;
    size_t limit;
    char ids[1024];
    size_t n;
};

static int member_add_cb(struct store_txn *txn, void *arg)
{
    struct member_ref *m = arg;
    return store_member_add(txn, m->team_id, m->user_id);
}

static int member_remove_cb(struct store_txn *txn, void *arg)
{
    struct member_ref *m = arg;
    return store_member_remove(txn, m->team_id, m->user_id);
}

static void join_ids(char (*ids)[STORE_ID_MAX], size_t n, char *out, size_t cap)
{
    size_t used = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n && used < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%s%s", i ? "," : "", ids[i]);
}

static int member_list_cb(struct store_txn *txn, void *arg)
{
    struct member_ref *m = arg;
    char(*ids)[STORE_ID_MAX] = (void *)1;
    int rc = store_member_list(txn, m->team_id, m->after, m->limit, &ids, &m->n);
    join_ids(ids, m->n, m->ids, sizeof m->ids);
    if (m->n == 0 && ids != NULL)
        rc = -1; /* nothing found must leave no allocation behind */
    free(ids);
    return rc;
}

static int user_teams_cb(struct store_txn *txn, void *arg)
{
    struct member_ref *m = arg;
    char(*ids)[STORE_ID_MAX] = (void *)1;
    int rc = store_user_teams(txn, m->user_id, &ids, &m->n);
    join_ids(ids, m->n, m->ids, sizeof m->ids);
    if (m->n == 0 && ids != NULL)
        rc = -1;
    free(ids);
    return rc;
}

static int member_add(struct store *st, const char *team_id, const char *user_id)
{
    struct member_ref m = {.team_id = team_id, .user_id = user_id};
    return store_write(st, member_add_cb, &m);
}

static int member_remove(struct store *st, const char *team_id, const char *user_id)
{
    struct member_ref m = {.team_id = team_id, .user_id = user_id};
    return store_write(st, member_remove_cb, &m);
}

/* The member ids of team_id after `after` (at most limit), comma-separated, into ids. */
static int member_list(struct store *st, const char *team_id, const char *after, size_t limit,
                       char *ids, size_t cap)
{
    struct member_ref m = {.team_id = team_id, .after = after, .limit = limit};
    int rc = store_read(st, member_list_cb, &m);
    snprintf(ids, cap, "%s", m.ids);
    return rc;
}

static int user_teams(struct store *st, const char *user_id, char *ids, size_t cap)
{
    struct member_ref m = {.user_id = user_id};
    int rc = store_read(st, user_teams_cb, &m);
    snprintf(ids, cap, "%s", m.ids);
    return rc;
}

TEST(team_round_trip_at_maximum)
{
    struct store *st = NULL;
    struct store_team t, t2, got, *items;
    struct page p = {.limit = 10};

    CHECK_INT(open_small(&st), STORE_OK);
    make_team(&t, "", "", "", STORE_ROLES_MAX);
    CHECK(t.roles != NULL);
    fill_head(t.id, STORE_ID_MAX, "team_9", 0, 'i');
    /* name and scope at 256 bytes each: together longer than an LMDB key may be */
    fill_head(t.name, STORE_NAME_MAX, "Caf\xc3\xa9 \"Platform\" \\ ", 0, 'N');
    fill_head(t.scope, STORE_NAME_MAX, "org_", 0, 's');
    fill_head(t.description, STORE_TEXT_MAX, "desc\n\t", 0, 'd');
    for (size_t i = 0; i < STORE_ROLES_MAX; i++)
        fill_head(t.roles[i], STORE_ROLE_MAX, "PROJECT_OWNER@proj", i, 'r');
    t.created_at = -3;
    t.updated_at = INT64_MAX;
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_OK);

    CHECK_INT(team_get(st, t.id, &got), STORE_OK);
    CHECK_STR(got.id, t.id);
    CHECK_STR(got.name, t.name);
    CHECK_INT(strlen(got.name), 256);
    CHECK_STR(got.scope, t.scope);
    CHECK_INT(strlen(got.scope), 256);
    CHECK_STR(got.description, t.description);
    CHECK_INT(strlen(got.description), 1024);
    CHECK_INT(got.created_at, -3);
    CHECK(got.updated_at == INT64_MAX);
    CHECK_INT(got.nroles, STORE_ROLES_MAX);
    for (size_t i = 0; i < STORE_ROLES_MAX; i++)
        CHECK_STR(got.roles[i], t.roles[i]);
    store_team_clear(&got);
    CHECK(got.roles == NULL && got.nroles == 0 && got.id[0] == '\0');

    /* a second long name differing only in its last byte, and the same name in lower case */
    make_team(&t2, "team_2", "", "", 0);
    memcpy(t2.name, t.name, sizeof t2.name);
    memcpy(t2.scope, t.scope, sizeof t2.scope);
    t2.name[255] = 'M';
    CHECK_INT(store_write(st, team_insert_cb, &t2), STORE_OK);
    t2.name[255] = 'n';
    snprintf(t2.id, sizeof t2.id, "team_3");
    CHECK_INT(store_write(st, team_insert_cb, &t2), STORE_EXISTS);

    /* a team without roles, in the global scope */
    CHECK_INT(team_insert(st, "team_0", "Global", ""), STORE_OK);
    CHECK_INT(team_get(st, "team_0", &got), STORE_OK);
    CHECK_STR(got.scope, "");
    CHECK_INT(got.nroles, 1);
    CHECK_STR(got.roles[0], "readWrite@db0");
    store_team_clear(&got);
    CHECK_INT(team_get(st, "team_nobody", &got), STORE_NOTFOUND);
    CHECK(got.roles == NULL && got.id[0] == '\0');

    /* listed in id order, paged by after */
    CHECK_INT(store_read(st, team_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 3);
    CHECK_STR(items[0].id, "team_0");
    CHECK_STR(items[1].id, "team_2");
    CHECK_STR(items[2].id, t.id);
    CHECK_INT(items[2].nroles, STORE_ROLES_MAX);
    store_team_list_free(items, p.n);
    p.after = "team_0";
    p.limit = 1;
    CHECK_INT(store_read(st, team_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 1);
    CHECK_STR(items[0].id, "team_2");
    store_team_list_free(items, p.n);
    store_team_clear(&t);
    store_close(st);
}

TEST(team_limits_are_einval)
{
    struct store *st = NULL;
    struct store_team t, *items;
    struct page p = {.limit = 10};

    CHECK_INT(open_small(&st), STORE_OK);
    make_team(&t, "team_x", "", "", 0); /* an empty name */
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "x", "", 0);
    memset(t.name, 'n', STORE_NAME_MAX); /* 257 bytes */
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "x", "", 0);
    memset(t.scope, 's', STORE_NAME_MAX);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "x", "", 0);
    memset(t.description, 'd', STORE_TEXT_MAX);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "bad \xff utf-8", "", 0);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "x", "org_\xc3", 0);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_a/b", "x", "", 0);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "", "x", "", 0);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    make_team(&t, "team_x", "x", "", STORE_ROLES_MAX + 1);
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    t.nroles = 1;
    t.roles[0][0] = '\0';
    CHECK_INT(store_write(st, team_insert_cb, &t), STORE_EINVAL);
    store_team_clear(&t);
    CHECK_INT(store_read(st, team_list_cb, &p), STORE_OK);
    items = p.items;
    CHECK_INT(p.n, 0);
    store_team_list_free(items, p.n);
    /* nothing was left in the name index either */
    CHECK_INT(team_insert(st, "team_x", "x", ""), STORE_OK);
    store_close(st);
}

TEST(team_names_are_unique_within_a_scope)
{
    struct store *st = NULL;
    struct store_team got;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_1", "Platform", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_2", "PLATFORM", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_2", "platform", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_1", "Other", "org_acme"), STORE_EXISTS); /* the id */
    CHECK_INT(team_get(st, "team_2", &got), STORE_NOTFOUND);
    /* scopes are compared exactly; names ignoring ASCII case only */
    CHECK_INT(team_insert(st, "team_2", "platform", "org_other"), STORE_OK);
    CHECK_INT(team_insert(st, "team_3", "Platform", ""), STORE_OK);
    CHECK_INT(team_insert(st, "team_4", "Platform", "ORG_ACME"), STORE_OK);
    CHECK_INT(team_insert(st, "team_5", "pLATFORM", ""), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_5", "Platforms", "org_acme"), STORE_OK); /* a longer name */
    CHECK_INT(team_insert(st, "team_6", "Platfor", "org_acme"), STORE_OK);   /* a shorter one */
    CHECK_INT(team_insert(st, "team_7", "PLATFORMS", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_7", "caf\xc3\xa9", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_8", "CAF\xc3\xa9", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_8", "caf\xc3\x89", "org_acme"), STORE_OK); /* not ASCII */
    CHECK_INT(team_get(st, "team_1", &got), STORE_OK);
    CHECK_STR(got.name, "Platform");
    store_team_clear(&got);
    store_close(st);
}

TEST(team_update_moves_the_name_index)
{
    struct store *st = NULL;
    struct store_team t, got;

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_1", "Platform", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_2", "Data", "org_acme"), STORE_OK);

    /* a rename frees the old name and takes the new one */
    make_team(&t, "team_1", "Infra", "org_acme", 2);
    snprintf(t.description, sizeof t.description, "renamed");
    t.updated_at = 1800000000;
    CHECK_INT(store_write(st, team_update_cb, &t), STORE_OK);
    store_team_clear(&t);
    CHECK_INT(team_get(st, "team_1", &got), STORE_OK);
    CHECK_STR(got.name, "Infra");
    CHECK_STR(got.description, "renamed");
    CHECK_INT(got.updated_at, 1800000000);
    CHECK_INT(got.created_at, 1700000000);
    CHECK_INT(got.nroles, 2);
    CHECK_STR(got.roles[1], "readWrite@db1");
    store_team_clear(&got);
    CHECK_INT(team_insert(st, "team_3", "INFRA", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_3", "platform", "org_acme"), STORE_OK);

    /* only the case changes: the team keeps its entry and the record its new spelling */
    CHECK_INT(team_rename(st, "team_1", "INFRA", "org_acme"), STORE_OK);
    CHECK_INT(team_get(st, "team_1", &got), STORE_OK);
    CHECK_STR(got.name, "INFRA");
    store_team_clear(&got);
    CHECK_INT(team_insert(st, "team_4", "infra", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_rename(st, "team_1", "INFRA", "org_acme"), STORE_OK); /* unchanged */

    /* another team's name is refused and changes nothing */
    CHECK_INT(team_rename(st, "team_1", "data", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_get(st, "team_1", &got), STORE_OK);
    CHECK_STR(got.name, "INFRA");
    store_team_clear(&got);
    CHECK_INT(team_insert(st, "team_4", "Infra", "org_acme"), STORE_EXISTS);

    /* moving to another scope frees the name in the old one */
    CHECK_INT(team_rename(st, "team_1", "Infra", "org_beta"), STORE_OK);
    CHECK_INT(team_insert(st, "team_4", "infra", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_5", "infra", "org_beta"), STORE_EXISTS);

    CHECK_INT(team_rename(st, "team_nobody", "Nobody", ""), STORE_NOTFOUND);
    CHECK_INT(team_insert(st, "team_nobody", "Nobody", ""), STORE_OK); /* the name stayed free */
    store_close(st);
}

TEST(members_add_remove_and_list)
{
    struct store *st = NULL;
    char ids[1024];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_a", "A", ""), STORE_OK);
    CHECK_INT(team_insert(st, "team_b", "B", ""), STORE_OK);
    CHECK_INT(team_insert(st, "team_c", "C", ""), STORE_OK);
    for (int i = 5; i >= 1; i--) {
        char id[16];
        snprintf(id, sizeof id, "usr_%d", i);
        CHECK_INT(user_insert(st, id, ""), STORE_OK);
    }
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");

    /* added out of order; adding again is fine and adds nothing */
    CHECK_INT(member_add(st, "team_a", "usr_3"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_1"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_5"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_2"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_3"), STORE_OK);
    CHECK_INT(member_add(st, "team_c", "usr_3"), STORE_OK);
    CHECK_INT(member_add(st, "team_b", "usr_3"), STORE_OK);
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_1,usr_2,usr_3,usr_5");
    CHECK_INT(user_teams(st, "usr_3", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_a,team_b,team_c");
    CHECK_INT(user_teams(st, "usr_1", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_a");
    CHECK_INT(user_teams(st, "usr_4", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(user_teams(st, "usr_nobody", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");

    /* paging */
    CHECK_INT(member_list(st, "team_a", NULL, 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_1,usr_2");
    CHECK_INT(member_list(st, "team_a", "usr_2", 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_3,usr_5");
    CHECK_INT(member_list(st, "team_a", "usr_5", 2, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(member_list(st, "team_a", "usr_4", 10, ids, sizeof ids), STORE_OK); /* not one */
    CHECK_STR(ids, "usr_5");
    CHECK_INT(member_list(st, "team_a", "", 1, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_1");
    CHECK_INT(member_list(st, "team_a", NULL, 0, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(member_list(st, "team_b", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_3");

    /* missing team or user */
    CHECK_INT(member_add(st, "team_nobody", "usr_1"), STORE_NOTFOUND);
    CHECK_INT(member_add(st, "team_a", "usr_nobody"), STORE_NOTFOUND);
    CHECK_INT(member_list(st, "team_nobody", NULL, 10, ids, sizeof ids), STORE_NOTFOUND);
    CHECK_INT(user_teams(st, "usr_nobody", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");

    /* remove: both directions go; a non-member is NOTFOUND */
    CHECK_INT(member_remove(st, "team_a", "usr_3"), STORE_OK);
    CHECK_INT(member_remove(st, "team_a", "usr_3"), STORE_NOTFOUND);
    CHECK_INT(member_remove(st, "team_a", "usr_4"), STORE_NOTFOUND);
    CHECK_INT(member_remove(st, "team_nobody", "usr_1"), STORE_NOTFOUND);
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_1,usr_2,usr_5");
    CHECK_INT(user_teams(st, "usr_3", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_b,team_c");

    /* bad ids */
    CHECK_INT(member_add(st, "team_a", "usr_a/b"), STORE_EINVAL);
    CHECK_INT(member_add(st, "", "usr_1"), STORE_EINVAL);
    CHECK_INT(member_add(st, "team_a", NULL), STORE_EINVAL);
    CHECK_INT(member_remove(st, "team_a", ""), STORE_EINVAL);
    CHECK_INT(member_list(st, "team_a", "usr/1", 10, ids, sizeof ids), STORE_EINVAL);
    CHECK_INT(member_list(st, "team/a", NULL, 10, ids, sizeof ids), STORE_EINVAL);
    CHECK_INT(user_teams(st, "", ids, sizeof ids), STORE_EINVAL);
    store_close(st);
}

static int many_teams_cb(struct store_txn *txn, void *arg)
{
    int rc = STORE_OK;
    for (int i = 0; i <= STORE_TEAMS_PER_USER_MAX && rc == STORE_OK; i++) {
        struct store_team t;
        char id[STORE_ID_MAX], name[32];
        snprintf(id, sizeof id, "team_%03d", i);
        snprintf(name, sizeof name, "Team %d", i);
        make_team(&t, id, name, "", 0);
        rc = store_team_insert(txn, &t);
        if (!rc && i < STORE_TEAMS_PER_USER_MAX)
            rc = store_member_add(txn, id, "usr_busy");
    }
    return rc;
}

TEST(teams_per_user_are_limited)
{
    struct store *st = NULL;
    struct member_ref m = {.user_id = "usr_busy"};
    char ids[64];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(user_insert(st, "usr_busy", "busy@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_free", "free@x.com"), STORE_OK);
    CHECK_INT(store_write(st, many_teams_cb, NULL), STORE_OK);
    CHECK_INT(store_read(st, user_teams_cb, &m), STORE_OK);
    CHECK_INT(m.n, STORE_TEAMS_PER_USER_MAX);
    /* the 257th team is refused; one the user is in already is still fine */
    CHECK_INT(member_add(st, "team_256", "usr_busy"), STORE_EINVAL);
    CHECK_INT(member_add(st, "team_000", "usr_busy"), STORE_OK);
    CHECK_INT(member_list(st, "team_256", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(member_add(st, "team_256", "usr_free"), STORE_OK);
    /* leaving one team makes room */
    CHECK_INT(member_remove(st, "team_100", "usr_busy"), STORE_OK);
    CHECK_INT(member_add(st, "team_256", "usr_busy"), STORE_OK);
    CHECK_INT(member_list(st, "team_256", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_busy,usr_free");
    store_close(st);
}

TEST(team_delete_removes_memberships)
{
    struct store *st = NULL;
    struct store_team got;
    char ids[256];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_a", "Alpha", "org"), STORE_OK);
    CHECK_INT(team_insert(st, "team_b", "Beta", "org"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", "one@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_2", "two@x.com"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_1"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_2"), STORE_OK);
    CHECK_INT(member_add(st, "team_b", "usr_1"), STORE_OK);

    CHECK_INT(store_write(st, team_delete_cb, "team_a"), STORE_OK);
    CHECK_INT(team_get(st, "team_a", &got), STORE_NOTFOUND);
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_NOTFOUND);
    CHECK_INT(user_teams(st, "usr_1", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_b");
    CHECK_INT(user_teams(st, "usr_2", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(member_remove(st, "team_a", "usr_1"), STORE_NOTFOUND);
    CHECK_INT(store_write(st, team_delete_cb, "team_a"), STORE_NOTFOUND);
    CHECK_INT(store_write(st, team_delete_cb, "team/a"), STORE_EINVAL);

    /* the other team is whole; the id and the name are free again, with no members */
    CHECK_INT(member_list(st, "team_b", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_1");
    CHECK_INT(team_insert(st, "team_a", "alpha", "org"), STORE_OK);
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    store_close(st);
}

TEST(user_delete_removes_memberships)
{
    struct store *st = NULL;
    char ids[256];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_a", "Alpha", ""), STORE_OK);
    CHECK_INT(team_insert(st, "team_b", "Beta", ""), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", "one@x.com"), STORE_OK);
    CHECK_INT(user_insert(st, "usr_2", "two@x.com"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_1"), STORE_OK);
    CHECK_INT(member_add(st, "team_b", "usr_1"), STORE_OK);
    CHECK_INT(member_add(st, "team_a", "usr_2"), STORE_OK);

    CHECK_INT(store_write(st, user_delete_cb, "usr_1"), STORE_OK);
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_2");
    CHECK_INT(member_list(st, "team_b", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(user_teams(st, "usr_1", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(user_teams(st, "usr_2", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_a");
    /* a new user with the same id starts in no team */
    CHECK_INT(user_insert(st, "usr_1", "one@x.com"), STORE_OK);
    CHECK_INT(user_teams(st, "usr_1", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    CHECK_INT(member_list(st, "team_a", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_2");
    store_close(st);
}

/* A team, a user and their membership; arg non-NULL: then fails with 42. */
static int team_with_member_cb(struct store_txn *txn, void *arg)
{
    struct store_team t;
    struct store_user u;
    int rc;

    make_team(&t, "team_tx", "Transient", "org", 3);
    make_user(&u, "usr_tx", "tx@x.com");
    rc = store_team_insert(txn, &t);
    store_team_clear(&t);
    if (!rc)
        rc = store_user_insert(txn, &u);
    if (!rc)
        rc = store_member_add(txn, "team_tx", "usr_tx");
    return rc ? rc : arg ? 42 : STORE_OK;
}

TEST(failed_transaction_leaves_no_team_records)
{
    struct store *st = NULL;
    struct store_team got;
    char ids[64];

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, team_with_member_cb, "fail"), 42);
    CHECK_INT(team_get(st, "team_tx", &got), STORE_NOTFOUND);
    CHECK_INT(member_list(st, "team_tx", NULL, 10, ids, sizeof ids), STORE_NOTFOUND);
    CHECK_INT(user_teams(st, "usr_tx", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "");
    /* the name is free: the same transaction can run again */
    CHECK_INT(store_write(st, team_with_member_cb, NULL), STORE_OK);
    CHECK_INT(member_list(st, "team_tx", NULL, 10, ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "usr_tx");
    CHECK_INT(user_teams(st, "usr_tx", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_tx");

    /* and it survives a reopen */
    store_close(st);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_get(st, "team_tx", &got), STORE_OK);
    CHECK_STR(got.name, "Transient");
    CHECK_INT(got.nroles, 3);
    store_team_clear(&got);
    CHECK_INT(team_insert(st, "team_other", "TRANSIENT", "org"), STORE_EXISTS);
    CHECK_INT(user_teams(st, "usr_tx", ids, sizeof ids), STORE_OK);
    CHECK_STR(ids, "team_tx");
    store_close(st);
}

static int team_ops_in_read_cb(struct store_txn *txn, void *arg)
{
    struct store_team t;
    int rc;
    make_team(&t, "team_r", "R", "", 0);
    rc = store_team_insert(txn, &t);
    if (rc == STORE_EINVAL)
        rc = store_team_update(txn, &t);
    if (rc == STORE_EINVAL)
        rc = store_team_delete(txn, "team_r");
    if (rc == STORE_EINVAL)
        rc = store_member_add(txn, "team_r", "usr_r");
    if (rc == STORE_EINVAL)
        rc = store_member_remove(txn, "team_r", "usr_r");
    return rc;
}

TEST(read_transaction_refuses_team_writes)
{
    struct store *st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, team_ops_in_read_cb, NULL), STORE_EINVAL);
    CHECK_INT(store_audit_expire(st, 1, NULL), STORE_OK);
    store_close(st);
}

TEST(corrupt_team_records_are_refused)
{
    struct store *st = NULL;
    struct store_team got;
    struct page p = {.limit = 10};
    char ids[64];
#define TEAM_TAIL "\"description\":\"\",\"created_at\":1,\"updated_at\":1"
    static const char *bad[] = {
        "not json",
        "[]",
        "{\"name\":\"\",\"scope\":\"\"," TEAM_TAIL ",\"roles\":[]}",
        "{\"name\":1,\"scope\":\"\"," TEAM_TAIL ",\"roles\":[]}",
        "{\"name\":\"x\"," TEAM_TAIL ",\"roles\":[]}",
        "{\"name\":\"x\",\"scope\":\"\"," TEAM_TAIL "}",
        "{\"name\":\"x\",\"scope\":\"\"," TEAM_TAIL ",\"roles\":[\"\"]}",
        "{\"name\":\"x\",\"scope\":\"\",\"description\":\"\",\"created_at\":\"1\","
        "\"updated_at\":1,\"roles\":[]}",
        "{\"name\":\"x\",\"name\":\"y\",\"scope\":\"\"," TEAM_TAIL ",\"roles\":[]}",
        "{\"name\":\"x\\u0000y\",\"scope\":\"\"," TEAM_TAIL ",\"roles\":[]}",
    };
#undef TEAM_TAIL

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_ok", "OK", ""), STORE_OK);
    CHECK_INT(user_insert(st, "usr_1", "one@x.com"), STORE_OK);
    CHECK_INT(member_add(st, "team_ok", "usr_1"), STORE_OK);
    store_close(st);

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_INT(raw_put("teams", "team_bad", bad[i], strlen(bad[i])), 0);
        st = NULL;
        CHECK_INT(open_small(&st), STORE_OK);
        CHECK_MSG(team_get(st, "team_bad", &got) == STORE_ECORRUPT, "team %zu", i);
        CHECK(got.roles == NULL && got.id[0] == '\0');
        CHECK_INT(store_read(st, team_list_cb, &p), STORE_ECORRUPT);
        CHECK(p.items == NULL && p.n == 0);
        /* nor can it be updated or deleted around the record */
        CHECK_INT(team_rename(st, "team_bad", "New", ""), STORE_ECORRUPT);
        CHECK_INT(store_write(st, team_delete_cb, "team_bad"), STORE_ECORRUPT);
        CHECK_INT(team_get(st, "team_ok", &got), STORE_OK);
        store_team_clear(&got);
        store_close(st);
    }

    /* a membership key that is not "<team>/<user>" */
    CHECK_INT(raw_put("team_members", "team_ok/usr_2/x", "", 0), 0);
    CHECK_INT(raw_put("user_teams", "usr_1/team_ok/x", "", 0), 0);
    st = NULL;
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(member_list(st, "team_ok", NULL, 10, ids, sizeof ids), STORE_ECORRUPT);
    CHECK_INT(user_teams(st, "usr_1", ids, sizeof ids), STORE_ECORRUPT);
    CHECK_INT(store_write(st, user_delete_cb, "usr_1"), STORE_ECORRUPT);
    CHECK_INT(store_write(st, team_delete_cb, "team_ok"), STORE_ECORRUPT);
    CHECK_INT(team_get(st, "team_ok", &got), STORE_OK);
    store_team_clear(&got);
    store_close(st);
}

/* A version-4 data folder gets the hashed name index of the teams it holds. */
TEST(schema_upgrade_to_5_indexes_team_names)
{
    struct store *st = NULL;
    struct store_team got;
    struct meta m = {.name = "schema_version", .value = 4};
    static const char dup[] = "{\"name\":\"PLATFORM\",\"scope\":\"org_acme\",\"description\":\"\","
                              "\"created_at\":1,\"updated_at\":1,\"roles\":[]}";

    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(team_insert(st, "team_1", "Platform", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_2", "Data", ""), STORE_OK);
    CHECK_INT(team_insert(st, "team_3", "Data", "org_acme"), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(raw_drop("team_names"), 0);
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    CHECK_INT(team_insert(st, "team_4", "platform", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_4", "DATA", ""), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_4", "data", "org_acme"), STORE_EXISTS);
    CHECK_INT(team_insert(st, "team_4", "data", "org_beta"), STORE_OK);
    CHECK_INT(team_rename(st, "team_1", "Infra", "org_acme"), STORE_OK);
    CHECK_INT(team_insert(st, "team_5", "platform", "org_acme"), STORE_OK);
    CHECK_INT(store_write(st, team_delete_cb, "team_2"), STORE_OK);
    CHECK_INT(team_insert(st, "team_6", "data", ""), STORE_OK);
    CHECK_INT(team_get(st, "team_1", &got), STORE_OK);
    CHECK_STR(got.name, "Infra");
    store_team_clear(&got);
    /* two teams with one name in a scope: the upgrade refuses the store */
    m.value = 4;
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = NULL;
    CHECK_INT(raw_drop("team_names"), 0);
    CHECK_INT(raw_put("teams", "team_9", dup, strlen(dup)), 0);
    CHECK_INT(open_small(&st), STORE_ECORRUPT);
    store_close(st);
}

/* ---- the key-value interface (kv.h), on the audit table of a fresh store ---- */

#define KV_TABLE DB_AUDIT

static struct kv_val kv_lit(const char *s, size_t len)
{
    return (struct kv_val){s, len};
}

struct kv_case {
    int step; /* which part of a test a callback runs */
    char got[64][16];
    size_t got_len[64];
    size_t n;
    int rc;
};

/* Records the key a move landed on. */
static void kv_note(struct kv_case *c, const struct kv_val *k)
{
    if (c->n < 64) {
        size_t len = k->len < 16 ? k->len : 16;
        memcpy(c->got[c->n], k->data, len);
        c->got_len[c->n++] = len;
    }
}

static const char *const ordered_keys[] = {"\x00", "\x00\x00", "\x01", "a",    "ab",      "abc",
                                           "b",    "\x7f",     "\x80", "\xff", "\xff\xff"};
static const size_t ordered_lens[] = {1, 2, 1, 1, 2, 3, 1, 1, 1, 1, 2};
#define NORDERED (sizeof ordered_lens / sizeof ordered_lens[0])

static int kv_fill_cb(struct store_txn *txn, void *arg)
{
    int rc = STORE_OK;
    (void)arg;
    /* inserted out of order */
    for (size_t i = NORDERED; i-- > 0 && !rc;)
        rc = kv_insert(txn, KV_TABLE, kv_lit(ordered_keys[i], ordered_lens[i]),
                       kv_lit(ordered_keys[i], ordered_lens[i]));
    return rc;
}

static int kv_walk_cb(struct store_txn *txn, void *arg)
{
    struct kv_case *c = arg;
    struct kv_cursor *cur = NULL;
    struct kv_val k, v;
    int rc = kv_cursor_open(txn, KV_TABLE, &cur);
    c->n = 0;
    if (rc)
        return rc;
    for (rc = kv_move(cur, c->step ? KV_LAST : KV_FIRST, NULL, &k, &v); rc == STORE_OK;
         rc = kv_move(cur, c->step ? KV_PREV : KV_NEXT, NULL, &k, &v)) {
        if (k.len != v.len || memcmp(k.data, v.data, k.len) != 0)
            rc = STORE_ECORRUPT;
        if (rc)
            break;
        kv_note(c, &k);
    }
    kv_cursor_close(cur);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

/* Keys walk in byte order, shorter first on a common prefix: LMDB's and bytea's order. */
TEST(kv_walks_in_byte_order)
{
    struct store *st = NULL;
    struct kv_case c = {0};
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, kv_fill_cb, NULL), STORE_OK);
    CHECK_INT(store_read(st, kv_walk_cb, &c), STORE_OK);
    CHECK_INT(c.n, NORDERED);
    for (size_t i = 0; i < NORDERED; i++)
        CHECK_MSG(c.got_len[i] == ordered_lens[i] &&
                      memcmp(c.got[i], ordered_keys[i], ordered_lens[i]) == 0,
                  "forward %zu", i);
    c.step = 1;
    CHECK_INT(store_read(st, kv_walk_cb, &c), STORE_OK);
    CHECK_INT(c.n, NORDERED);
    for (size_t i = 0; i < NORDERED; i++)
        CHECK_MSG(c.got_len[i] == ordered_lens[NORDERED - 1 - i] &&
                      memcmp(c.got[i], ordered_keys[NORDERED - 1 - i],
                             ordered_lens[NORDERED - 1 - i]) == 0,
                  "backward %zu", i);
    store_close(st);
}

struct kv_seek {
    enum kv_move how;
    const char *at;
    size_t at_len;
    const char *want; /* NULL: STORE_NOTFOUND */
    size_t want_len;
};

static int kv_seek_cb(struct store_txn *txn, void *arg)
{
    static const struct kv_seek seeks[] = {
        {KV_GE, "a", 1, "a", 1},         {KV_GT, "a", 1, "ab", 2},
        {KV_GE, "aa", 2, "ab", 2},       {KV_GT, "aa", 2, "ab", 2},
        {KV_BEFORE, "a", 1, "\x01", 1},  {KV_BEFORE, "ab", 2, "a", 1},
        {KV_BEFORE, "\x00", 1, NULL, 0}, {KV_GE, "\xff\xff\x00", 3, NULL, 0},
        {KV_GT, "\xff\xff", 2, NULL, 0}, {KV_BEFORE, "\xff\xff\xff", 3, "\xff\xff", 2},
        {KV_GE, "\x00", 1, "\x00", 1},
    };
    struct kv_case *c = arg;
    struct kv_cursor *cur = NULL;
    struct kv_val k, at;
    int rc = kv_cursor_open(txn, KV_TABLE, &cur);
    for (size_t i = 0; !rc && i < sizeof seeks / sizeof seeks[0]; i++) {
        at = kv_lit(seeks[i].at, seeks[i].at_len);
        rc = kv_move(cur, seeks[i].how, &at, &k, NULL);
        if (seeks[i].want ? rc != STORE_OK || k.len != seeks[i].want_len ||
                                memcmp(k.data, seeks[i].want, k.len) != 0
                          : rc != STORE_NOTFOUND) {
            c->n = i;
            rc = STORE_ECORRUPT;
            break;
        }
        rc = STORE_OK;
    }
    /* after NOTFOUND the cursor has no position; a seek places it again */
    if (!rc) {
        at = kv_lit("\xff\xff", 2);
        rc = kv_move(cur, KV_GT, &at, &k, NULL) == STORE_NOTFOUND &&
                     kv_move(cur, KV_NEXT, NULL, &k, NULL) == STORE_NOTFOUND &&
                     kv_move(cur, KV_FIRST, NULL, &k, NULL) == STORE_OK && k.len == 1
                 ? STORE_OK
                 : STORE_ECORRUPT;
    }
    kv_cursor_close(cur);
    return rc;
}

TEST(kv_seeks_land_where_kv_h_says)
{
    struct store *st = NULL;
    struct kv_case c = {0};
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, kv_fill_cb, NULL), STORE_OK);
    CHECK_MSG(store_read(st, kv_seek_cb, &c) == STORE_OK, "seek %zu", c.n);
    store_close(st);
}

static int kv_basics_cb(struct store_txn *txn, void *arg)
{
    struct kv_case *c = arg;
    struct kv_val v;
    int empty = 0;
    (void)c;
    if (kv_table_empty(txn, KV_TABLE, &empty) || !empty)
        return 100;
    if (kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_NOTFOUND)
        return 101;
    if (kv_insert(txn, KV_TABLE, kv_str("k"), kv_str("one")) != STORE_OK)
        return 102;
    if (kv_insert(txn, KV_TABLE, kv_str("k"), kv_str("two")) != STORE_EXISTS)
        return 103;
    if (kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_OK || v.len != 3 ||
        memcmp(v.data, "one", 3) != 0)
        return 104;
    if (kv_put(txn, KV_TABLE, kv_str("k"), kv_lit("", 0)) != STORE_OK)
        return 105;
    if (kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_OK || v.len != 0)
        return 106;
    if (kv_table_empty(txn, KV_TABLE, &empty) || empty)
        return 107;
    if (kv_del(txn, KV_TABLE, kv_str("k")) != STORE_OK)
        return 108;
    if (kv_del(txn, KV_TABLE, kv_str("k")) != STORE_NOTFOUND)
        return 109;
    /* a key read again after the transaction's own writes (PostgreSQL remembers what it read) */
    if (kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_NOTFOUND ||
        kv_put(txn, KV_TABLE, kv_str("k"), kv_str("three")) != STORE_OK ||
        kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_OK || v.len != 5 ||
        kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_OK || memcmp(v.data, "three", 5) != 0)
        return 112;
    struct kv_cursor *cur = NULL;
    struct kv_val at = kv_str("k");
    if (kv_cursor_open(txn, KV_TABLE, &cur) || kv_move(cur, KV_GE, &at, NULL, NULL) ||
        kv_cursor_del(cur) || kv_get(txn, KV_TABLE, kv_str("k"), &v) != STORE_NOTFOUND) {
        kv_cursor_close(cur);
        return 113;
    }
    kv_cursor_close(cur);
    /* kv_update and kv_touch need the entry; neither creates one */
    if (kv_update(txn, KV_TABLE, kv_str("u"), kv_str("x")) != STORE_NOTFOUND ||
        kv_touch(txn, KV_TABLE, kv_str("u")) != STORE_NOTFOUND ||
        kv_get(txn, KV_TABLE, kv_str("u"), &v) != STORE_NOTFOUND)
        return 114;
    if (kv_put(txn, KV_TABLE, kv_str("u"), kv_str("old")) ||
        kv_update(txn, KV_TABLE, kv_str("u"), kv_str("newer")) ||
        kv_touch(txn, KV_TABLE, kv_str("u")) || kv_get(txn, KV_TABLE, kv_str("u"), &v) ||
        v.len != 5 || memcmp(v.data, "newer", 5) != 0 || kv_del(txn, KV_TABLE, kv_str("u")))
        return 115;
    /* keys: 1..511 bytes */
    char big[512];
    memset(big, 'k', sizeof big);
    if (kv_put(txn, KV_TABLE, kv_lit(big, 511), kv_str("v")) != STORE_OK ||
        kv_put(txn, KV_TABLE, kv_lit(big, 512), kv_str("v")) != STORE_EINVAL ||
        kv_put(txn, KV_TABLE, kv_lit(big, 0), kv_str("v")) != STORE_EINVAL)
        return 110;
    /* a value of a megabyte */
    size_t len = (size_t)1 << 20;
    char *huge = malloc(len);
    if (!huge)
        return STORE_ENOMEM;
    for (size_t i = 0; i < len; i++)
        huge[i] = (char)(i * 7);
    int rc = kv_put(txn, KV_TABLE, kv_str("huge"), kv_lit(huge, len));
    if (!rc)
        rc = kv_get(txn, KV_TABLE, kv_str("huge"), &v);
    if (!rc && (v.len != len || memcmp(v.data, huge, len) != 0))
        rc = 111;
    free(huge);
    return rc;
}

static int kv_read_only_cb(struct store_txn *txn, void *arg)
{
    (void)arg;
    return kv_put(txn, KV_TABLE, kv_str("x"), kv_str("y")) == STORE_EINVAL &&
                   kv_del(txn, KV_TABLE, kv_str("x")) == STORE_EINVAL &&
                   kv_update(txn, KV_TABLE, kv_str("x"), kv_str("y")) == STORE_EINVAL &&
                   kv_touch(txn, KV_TABLE, kv_str("x")) == STORE_EINVAL
               ? STORE_OK
               : 200;
}

TEST(kv_get_put_insert_del)
{
    struct store *st = NULL;
    struct kv_case c = {0};
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, kv_basics_cb, &c), STORE_OK);
    CHECK_INT(store_read(st, kv_read_only_cb, NULL), STORE_OK);
    store_close(st);
}

/* Reads ahead, then reads: every get answers as without the hint, found or not, in a read and
 * in a write with writes pending (where PostgreSQL leaves the hint alone). */
static int read_ahead_cb(struct store_txn *txn, void *arg)
{
    const struct store_record_ref refs[] = {
        {STORE_REC_DENYLIST, "jti-ahead"}, {STORE_REC_USER, "usr_ahead"},
        {STORE_REC_SESSION, "ses_ahead"},  {STORE_REC_USER, "usr_none"},
        {STORE_REC_USER, "usr_ahead"},     {STORE_REC_SESSION, NULL},
        {(enum store_record)99, "x"},      {STORE_REC_SERVICE_ACCOUNT, ""},
    };
    struct store_user u = {0};
    struct store_session sess;
    int denied = 0, rc, write = arg != NULL; /* arg: a write, with a write pending */
    if (write && (rc = store_deny_add(txn, "jti-pending", 4000000000)) != STORE_OK)
        return rc;
    store_read_ahead(txn, refs, sizeof refs / sizeof *refs);
    store_read_ahead(txn, NULL, 3);
    rc = store_deny_has(txn, "jti-ahead", &denied);
    if (!rc && !denied)
        rc = 400;
    if (!rc)
        rc = store_user_get(txn, "usr_ahead", &u);
    if (!rc && strcmp(u.email, "ahead@x.com") != 0)
        rc = 401;
    store_user_clear(&u);
    if (!rc && store_user_get(txn, "usr_none", &u) != STORE_NOTFOUND)
        rc = 402;
    if (!rc)
        rc = store_session_get(txn, "ses_ahead", &sess);
    if (!rc && strcmp(sess.user_id, "usr_ahead") != 0)
        rc = 403;
    if (!rc && (store_deny_has(txn, "jti-pending", &denied) != STORE_OK || denied != write))
        rc = 404;
    return rc;
}

TEST(read_ahead_is_only_a_hint)
{
    struct store *st = NULL;
    struct store_user u;
    struct store_session sess;
    struct deny d = {.jti = "jti-ahead", .exp = 4000000000};
    CHECK_INT(open_small(&st), STORE_OK);
    make_user(&u, "usr_ahead", "ahead@x.com");
    CHECK_INT(store_write(st, user_insert_cb, &u), STORE_OK);
    make_session(&sess, "ses_ahead", "usr_ahead", 41, 1000, 4000000000, 4000000000);
    CHECK_INT(store_write(st, session_insert_cb, &sess), STORE_OK);
    CHECK_INT(store_write(st, deny_add_cb, &d), STORE_OK);
    CHECK_INT(store_read(st, read_ahead_cb, NULL), STORE_OK);
    CHECK_INT(store_write(st, read_ahead_cb, "write"), STORE_OK);
    store_close(st);
}

/* Puts in runs of every length up to 40 with a read after each run: on PostgreSQL puts are
 * not waited for, and a read (or the commit) reads their answers, however many are pending. */
static int kv_put_runs_cb(struct store_txn *txn, void *arg)
{
    char key[16], want[16];
    struct kv_val v;
    int rc = STORE_OK, k = 0;
    (void)arg;
    for (int run = 1; run <= 40 && rc == STORE_OK; run++) {
        for (int i = 0; i < run && rc == STORE_OK; i++, k++) {
            snprintf(key, sizeof key, "r%04d", k);
            rc = kv_put(txn, KV_TABLE, kv_str(key), kv_str(key));
        }
        snprintf(key, sizeof key, "r%04d", k - 1);
        if (!rc)
            rc = kv_get(txn, KV_TABLE, kv_str(key), &v);
        if (!rc && (v.len != 5 || memcmp(v.data, key, 5) != 0))
            rc = 300;
    }
    for (int i = 0; rc == STORE_OK && i < 200; i++) { /* and a long run before the commit */
        snprintf(key, sizeof key, "s%04d", i);
        snprintf(want, sizeof want, "v%04d", i);
        rc = kv_put(txn, KV_TABLE, kv_str(key), kv_str(want));
    }
    return rc;
}

/* Many keys (past every batch size), walked while the same transaction deletes and inserts:
 * a walk sees the transaction's own writes, and never a key it deleted. */
static int kv_many_cb(struct store_txn *txn, void *arg)
{
    struct kv_case *c = arg;
    struct kv_cursor *cur = NULL;
    struct kv_val k;
    char key[32];
    int rc = STORE_OK;
    size_t seen = 0;
    if (c->step == 0) {
        for (int i = 0; i < 2000 && !rc; i++) {
            snprintf(key, sizeof key, "m%05d", i);
            rc = kv_put(txn, KV_TABLE, kv_str(key), kv_str(key));
        }
        return rc;
    }
    rc = kv_cursor_open(txn, KV_TABLE, &cur);
    if (rc)
        return rc;
    struct kv_val prefix = kv_str("m");
    int started = 0;
    /* delete every even key through the cursor, the key three ahead of every odd one with
     * kv_del, and add "m<i>x" after each odd key: the walk must land on each "x" key and
     * never on a key deleted ahead of it */
    while ((rc = kv_prefix_next(cur, prefix, &started, &k, NULL)) == STORE_OK) {
        char cur_key[32];
        int i;
        snprintf(cur_key, sizeof cur_key, "%.*s", (int)k.len, (const char *)k.data);
        seen++;
        if (strlen(cur_key) == 7 && cur_key[6] == 'x')
            continue;
        i = atoi(cur_key + 1);
        if (i % 4 == 3) /* deleted ahead by i - 3 */
            return 300;
        if (i % 2 == 0) {
            rc = kv_cursor_del(cur);
        } else {
            snprintf(key, sizeof key, "m%05d", i + 2);
            rc = kv_del(txn, KV_TABLE, kv_str(key));
            if (rc == STORE_NOTFOUND)
                rc = STORE_OK;
            snprintf(key, sizeof key, "m%05dx", i);
            if (!rc)
                rc = kv_put(txn, KV_TABLE, kv_str(key), kv_str(key));
        }
        if (rc)
            break;
    }
    kv_cursor_close(cur);
    c->n = seen;
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

static int kv_count_cb(struct store_txn *txn, void *arg)
{
    struct kv_case *c = arg;
    struct kv_cursor *cur = NULL;
    int rc = kv_cursor_open(txn, KV_TABLE, &cur);
    c->n = 0;
    for (rc = rc ? rc : kv_move(cur, KV_LAST, NULL, NULL, NULL); rc == STORE_OK;
         rc = kv_move(cur, KV_PREV, NULL, NULL, NULL))
        c->n++;
    kv_cursor_close(cur);
    return rc == STORE_NOTFOUND ? STORE_OK : rc;
}

TEST(kv_put_runs_are_all_answered)
{
    struct store *st = NULL;
    struct kv_case c = {0};
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, kv_put_runs_cb, NULL), STORE_OK);
    CHECK_INT(store_read(st, kv_count_cb, &c), STORE_OK);
    CHECK_INT(c.n, 820 + 200);
    store_close(st);
}

TEST(kv_walks_see_their_own_writes)
{
    struct store *st = NULL;
    struct kv_case c = {0};
    CHECK_INT(open_small(&st), STORE_OK);
    CHECK_INT(store_write(st, kv_many_cb, &c), STORE_OK);
    CHECK_INT(store_read(st, kv_count_cb, &c), STORE_OK);
    CHECK_INT(c.n, 2000);
    c.step = 1;
    CHECK_INT(store_write(st, kv_many_cb, &c), STORE_OK);
    /* keys 0..1999: i % 4 == 0 deleted by the cursor, 1 and 2 kept... every odd key i gains
     * "m<i>x" and deletes i + 2 (odd, i % 4 == 3 when i % 4 == 1) */
    CHECK_INT(store_read(st, kv_count_cb, &c), STORE_OK);
    /* left: i % 4 == 1 (500) and its "x" (500), i % 4 == 2 is even: deleted; i % 4 == 3
     * deleted ahead; so 1000 */
    CHECK_INT(c.n, 1000);
    store_close(st);
}

/* Two writers that read and write the same key: on PostgreSQL one meets a serialisation
 * failure and store_write() runs its callback again; both increments land either way. */
struct kv_counter {
    struct store *st;
    int runs;
    int rc;
};

static int kv_increment_cb(struct store_txn *txn, void *arg)
{
    struct kv_counter *k = arg;
    struct kv_val v;
    uint64_t n = 0;
    uint8_t buf[8];
    __atomic_add_fetch(&k->runs, 1, __ATOMIC_SEQ_CST);
    int rc = kv_get(txn, KV_TABLE, kv_str("counter"), &v);
    if (rc == STORE_OK && v.len == 8)
        for (int i = 0; i < 8; i++)
            n = n << 8 | ((const uint8_t *)v.data)[i];
    else if (rc != STORE_NOTFOUND)
        return rc;
    n++;
    for (int i = 7; i >= 0; i--, n >>= 8)
        buf[i] = (uint8_t)n;
    usleep(2000); /* widen the window in which the other writer runs */
    return kv_put(txn, KV_TABLE, kv_str("counter"), kv_lit((const char *)buf, 8));
}

static void *kv_writer(void *arg)
{
    struct kv_counter *k = arg;
    for (int i = 0; i < 25 && !k->rc; i++)
        k->rc = store_write(k->st, kv_increment_cb, k);
    return NULL;
}

static int kv_counter_get_cb(struct store_txn *txn, void *arg)
{
    struct kv_val v;
    uint64_t n = 0;
    int rc = kv_get(txn, KV_TABLE, kv_str("counter"), &v);
    for (size_t i = 0; rc == STORE_OK && i < v.len; i++)
        n = n << 8 | ((const uint8_t *)v.data)[i];
    *(uint64_t *)arg = n;
    return rc;
}

TEST(kv_concurrent_read_modify_write_loses_nothing)
{
    struct store *st = NULL;
    struct kv_counter a = {0}, b = {0};
    pthread_t ta, tb;
    uint64_t n = 0;
    CHECK_INT(open_small(&st), STORE_OK);
    a.st = b.st = st;
    CHECK_INT(pthread_create(&ta, NULL, kv_writer, &a), 0);
    CHECK_INT(pthread_create(&tb, NULL, kv_writer, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    CHECK_INT(a.rc, STORE_OK);
    CHECK_INT(b.rc, STORE_OK);
    CHECK_INT(store_read(st, kv_counter_get_cb, &n), STORE_OK);
    CHECK_INT(n, 50);
    if (th_on_postgres()) {
        uint64_t writes, attempts;
        store_write_stats(st, &writes, &attempts);
        CHECK(attempts >= writes);
    }
    store_close(st);
}

/* A database that cannot be reached: an answer within the timeout, never a hang. */
TEST(unreachable_postgres_is_unavailable)
{
    struct store *st = (struct store *)1;
    struct store_options opts = {.timeout_ms = 500};
    CHECK_INT(store_open("postgresql:///idpd?host=/nonexistent-idpd-socket-dir", &opts, &st),
              STORE_EUNAVAILABLE);
    CHECK(st == NULL);
}

/* ---- store_copy ---- */

/* A transaction of another store may run inside a callback; one of a store whose callback is
 * running may not, however deep. */
struct nest {
    struct store *a, *b;
    int inner_a, inner_b;
};

static int nest_inner_cb(struct store_txn *txn, void *arg)
{
    struct nest *n = arg;
    struct meta m = {.name = "schema_version"};
    (void)txn;
    n->inner_a = store_read(n->a, meta_get_cb, &m);
    n->inner_b = store_write(n->b, meta_get_cb, &m);
    return STORE_OK;
}

static int nest_outer_cb(struct store_txn *txn, void *arg)
{
    struct nest *n = arg;
    (void)txn;
    return store_write(n->b, nest_inner_cb, n);
}

TEST(transactions_of_another_store_nest)
{
    struct store *a = NULL, *b = NULL;
    struct nest n = {.inner_a = -1, .inner_b = -1};
    struct meta m = {.name = "schema_version"};
    CHECK(mkdir(subpath("b"), 0700) == 0);
    CHECK_INT(open_small(&a), STORE_OK);
    CHECK_INT(store_open(th_store_for(subpath("b")), NULL, &b), STORE_OK);
    n.a = a;
    n.b = b;
    CHECK_INT(store_read(a, nest_outer_cb, &n), STORE_OK);
    CHECK_INT(n.inner_a, STORE_EINVAL);
    CHECK_INT(n.inner_b, STORE_EINVAL);
    /* the guard is lifted again on the way out */
    CHECK_INT(store_read(a, meta_get_cb, &m), STORE_OK);
    CHECK_INT(store_read(b, meta_get_cb, &m), STORE_OK);
    store_close(b);
    store_close(a);
}

/* Walks every table of the store txn belongs to beside the same table of c->a's store, inside
 * a read of each (the second nested in the first): the same keys with the same values in the
 * same order, or c->differ_in names the first table that differs. c->entries counts them. */
struct tables_cmp {
    struct store *b;
    struct store_txn *a;
    uint64_t entries;
    int differ_in;
};

static int same_bytes(struct kv_val x, struct kv_val y)
{
    return x.len == y.len && (x.len == 0 || memcmp(x.data, y.data, x.len) == 0);
}

static int tables_cmp_b(struct store_txn *b, void *arg)
{
    struct tables_cmp *c = arg;
    int rc = STORE_OK;
    for (int db = 0; db < DB_COUNT && rc == STORE_OK && c->differ_in < 0; db++) {
        struct kv_cursor *ca = NULL, *cb = NULL;
        struct kv_val ka, va, kb, vb;
        int ra, rb;
        rc = kv_cursor_open(c->a, (enum store_db)db, &ca);
        if (rc == STORE_OK)
            rc = kv_cursor_open(b, (enum store_db)db, &cb);
        if (rc == STORE_OK) {
            ra = kv_move(ca, KV_FIRST, NULL, &ka, &va);
            rb = kv_move(cb, KV_FIRST, NULL, &kb, &vb);
            while (ra == STORE_OK && rb == STORE_OK && same_bytes(ka, kb) && same_bytes(va, vb)) {
                c->entries++;
                ra = kv_move(ca, KV_NEXT, NULL, &ka, &va);
                rb = kv_move(cb, KV_NEXT, NULL, &kb, &vb);
            }
            if (ra != STORE_OK && ra != STORE_NOTFOUND)
                rc = ra;
            else if (rb != STORE_OK && rb != STORE_NOTFOUND)
                rc = rb;
            else if (ra != STORE_NOTFOUND || rb != STORE_NOTFOUND)
                c->differ_in = db;
        }
        kv_cursor_close(cb);
        kv_cursor_close(ca);
    }
    return rc;
}

static int tables_cmp_a(struct store_txn *a, void *arg)
{
    struct tables_cmp *c = arg;
    c->a = a;
    c->entries = 0;
    c->differ_in = -1;
    return store_read(c->b, tables_cmp_b, c);
}

/* -1 when every table of a and b holds the same entries (*entries: how many), else the first
 * table that differs; -2 on a storage error. */
static int tables_differ(struct store *a, struct store *b, uint64_t *entries)
{
    struct tables_cmp c = {.b = b};
    int rc = store_read(a, tables_cmp_a, &c);
    if (rc) {
        fprintf(stderr, "  tables_differ: %s\n", store_strerror(rc));
        return -2;
    }
    if (c.differ_in >= 0)
        fprintf(stderr, "  table %s differs\n", store_db_names[c.differ_in]);
    *entries = c.entries;
    return c.differ_in;
}

static int entries_cb(struct store_txn *txn, void *arg)
{
    uint64_t *n = arg;
    int rc = STORE_OK;
    *n = 0;
    for (int db = 0; db < DB_COUNT && rc == STORE_OK; db++) {
        struct kv_cursor *cur = NULL;
        rc = kv_cursor_open(txn, (enum store_db)db, &cur);
        if (rc == STORE_OK)
            for (rc = kv_move(cur, KV_FIRST, NULL, NULL, NULL); rc == STORE_OK;
                 rc = kv_move(cur, KV_NEXT, NULL, NULL, NULL))
                (*n)++;
        kv_cursor_close(cur);
        if (rc == STORE_NOTFOUND)
            rc = STORE_OK;
    }
    return rc;
}

/* Every entry of every table, or -1 on error. */
static long long entries_of(struct store *st)
{
    uint64_t n = 0;
    return store_read(st, entries_cb, &n) ? -1 : (long long)n;
}

struct copy_fill {
    struct store_service_account sa;
    struct store_secret sec[2];
    struct store_application app;
    struct store_user alice, anon;
    struct store_identity pass, anon_idn;
    struct store_session ses;
    struct store_team team;
    struct store_audit_event ev;
    struct store_signing_key key;
    struct store_login_failures lf;
};

/* Records of every kind, in one transaction. */
static int copy_fill_cb(struct store_txn *txn, void *arg)
{
    struct copy_fill *f = arg;
    int rc = store_sa_insert(txn, &f->sa);
    for (size_t i = 0; i < 2 && !rc; i++)
        rc = store_secret_insert(txn, &f->sec[i]);
    if (!rc)
        rc = store_app_insert(txn, &f->app);
    if (!rc)
        rc = store_user_insert(txn, &f->alice);
    if (!rc)
        rc = store_user_insert(txn, &f->anon);
    if (!rc)
        rc = store_identity_insert(txn, &f->pass);
    if (!rc)
        rc = store_identity_insert(txn, &f->anon_idn);
    if (!rc)
        rc = store_session_insert(txn, &f->ses);
    if (!rc)
        rc = store_team_insert(txn, &f->team);
    if (!rc)
        rc = store_member_add(txn, f->team.id, f->alice.id);
    if (!rc)
        rc = store_audit_append(txn, &f->ev);
    if (!rc)
        rc = store_deny_add(txn, "jti-copied", 4000000000);
    if (!rc)
        rc = store_key_put(txn, &f->key);
    if (!rc)
        rc = store_login_failures_put(txn, "lf-copied", &f->lf);
    if (!rc)
        rc = store_meta_put(txn, "key_epoch", 7);
    return rc;
}

static int copy_fill(struct store *st)
{
    static struct copy_fill f;
    static uint8_t sealed[300];
    int rc;
    memset(&f, 0, sizeof f);
    memset(sealed, 0xa5, sizeof sealed);
    make_sa(&f.sa, "sa_copied", 3);
    make_secret(&f.sec[0], "sa_copied", "sec_1", 1700000000);
    make_secret(&f.sec[1], "sa_copied", "sec_2", 1700000100);
    make_app(&f.app, "app_copied", STORE_APP_CONFIDENTIAL);
    app_origins(&f.app, "https://app.example", "http://localhost:3000");
    make_user(&f.alice, "usr_alice", "Alice@Example.com");
    snprintf(f.alice.email_key, sizeof f.alice.email_key, "alice@example.com");
    make_user(&f.anon, "usr_anon", "");
    make_identity(&f.pass, "usr_alice", "idn_pass", "local-userpass", "alice@example.com",
                  1700000002);
    make_identity(&f.anon_idn, "usr_anon", "idn_anon", "anon-user", "anon-1234", 1700000003);
    make_session(&f.ses, "ses_copied", "usr_alice", 1, 1700000000, 4000000000, 4000000000);
    make_team(&f.team, "team_copied", "Copiers", "org_acme", 2);
    make_event(&f.ev, "evt_copied", 1700000004);
    snprintf(f.key.kid, sizeof f.key.kid, "kid-copied");
    snprintf(f.key.alg, sizeof f.key.alg, "ES256");
    f.key.state = STORE_KEY_ACTIVE;
    f.key.created_at = 1700000000;
    f.key.activated_at = 1700000001;
    f.key.sealed = sealed;
    f.key.sealed_len = sizeof sealed;
    f.lf = (struct store_login_failures){.count = 3,
                                         .last_failure_at = 1700000000123,
                                         .locked_until = 1700000060000,
                                         .expires_at = 4000000000};
    rc = store_write(st, copy_fill_cb, &f);
    /* a rotation leaves a superseded hash and a second session_refresh entry */
    if (!rc)
        rc = session_rotate(st, "ses_copied", 2, 1700000010, 4000000000);
    /* more than one batch of the copy, and on LMDB more than a small map */
    if (!rc)
        rc = insert_batches(st, "sa_bulk_", 2500, 500);
    store_service_account_clear(&f.sa);
    store_team_clear(&f.team);
    return rc;
}

struct copy_reads {
    struct store_service_account sa;
    struct secret_list secrets;
    struct store_user alice, anon;
    struct store_team team;
    struct store_login_failures lf;
    struct key_list keys;
    uint64_t epoch;
};

static int copy_reads_cb(struct store_txn *txn, void *arg)
{
    struct copy_reads *r = arg;
    int rc = store_sa_get(txn, "sa_copied", &r->sa);
    r->secrets.sa_id = "sa_copied";
    r->secrets.cap = STORE_SECRETS_MAX + 1;
    if (!rc)
        rc = store_secret_list(txn, "sa_copied", r->secrets.out, r->secrets.cap, &r->secrets.n);
    if (!rc)
        rc = store_user_get(txn, "usr_alice", &r->alice);
    if (!rc)
        rc = store_user_get(txn, "usr_anon", &r->anon);
    if (!rc)
        rc = store_team_get(txn, "team_copied", &r->team);
    if (!rc)
        rc = store_login_failures_get(txn, "lf-copied", &r->lf);
    if (!rc)
        rc = store_key_list(txn, &r->keys.items, &r->keys.n);
    if (!rc)
        rc = store_meta_get(txn, "key_epoch", &r->epoch);
    return rc;
}

static void copy_reads_clear(struct copy_reads *r)
{
    store_service_account_clear(&r->sa);
    store_user_clear(&r->alice);
    store_user_clear(&r->anon);
    store_team_clear(&r->team);
    store_key_list_free(r->keys.items, r->keys.n);
    memset(r, 0, sizeof *r);
}

static void clear_both(void *arg)
{
    struct copy_reads *r = arg;
    copy_reads_clear(&r[0]);
    copy_reads_clear(&r[1]);
}

/* Every record of a and b reads back the same through the API (CHECKs; a failure ends the
 * case). */
static void check_same_records(struct store *a, struct store *b)
{
    static struct copy_reads r[2];
    static struct store_application app[2];
    struct store_identity idn[2];
    struct store_session ses[2];
    char ids[2][512], sid[2][STORE_ID_MAX];
    int sup[2];
    size_t n[2];
    struct store *st[2] = {a, b};

    memset(r, 0, sizeof r);
    th_defer(clear_both, r);
    for (int i = 0; i < 2; i++) {
        CHECK_INT(store_read(st[i], copy_reads_cb, &r[i]), STORE_OK);
        CHECK_INT(app_get(st[i], "app_copied", &app[i]), STORE_OK);
    }
    /* service account, its roles and secrets */
    CHECK_STR(r[1].sa.name, r[0].sa.name);
    CHECK_STR(r[1].sa.description, r[0].sa.description);
    CHECK_INT(r[1].sa.created_at, r[0].sa.created_at);
    CHECK_INT(r[1].sa.nroles, 3);
    for (size_t k = 0; k < 3; k++)
        CHECK_STR(r[1].sa.roles[k], r[0].sa.roles[k]);
    CHECK_INT(r[1].secrets.n, 2);
    CHECK_INT(r[0].secrets.n, 2);
    for (size_t k = 0; k < 2; k++) {
        CHECK_STR(r[1].secrets.out[k].id, r[0].secrets.out[k].id);
        CHECK_STR(r[1].secrets.out[k].phc, r[0].secrets.out[k].phc);
        CHECK_INT(r[1].secrets.out[k].expires_at, r[0].secrets.out[k].expires_at);
    }
    /* application and its origin index */
    CHECK_STR(app[1].name, app[0].name);
    CHECK_STR(app[1].phc, app[0].phc);
    CHECK_INT(app[1].ngrants, app[0].ngrants);
    CHECK_INT(app[1].norigins, 2);
    CHECK_STR(app[1].origins[1], app[0].origins[1]);
    CHECK_INT(origin_allowed(b, "https://app.example", "app_copied"), STORE_OK);
    /* users, the email index, identities and their indexes */
    CHECK_STR(r[1].alice.email, "Alice@Example.com");
    CHECK_STR(r[1].alice.email_key, r[0].alice.email_key);
    CHECK_STR(r[1].alice.name, r[0].alice.name);
    CHECK_INT(r[1].anon.anonymous, 1);
    CHECK_INT(r[1].anon.updated_at, r[0].anon.updated_at);
    CHECK_INT(email_find(b, "alice@example.com", sid[1]), STORE_OK);
    CHECK_STR(sid[1], "usr_alice");
    for (int i = 0; i < 2; i++)
        CHECK_INT(identity_find(st[i], "local-userpass", "alice@example.com", &idn[i]), STORE_OK);
    CHECK_STR(idn[1].id, idn[0].id);
    CHECK_STR(idn[1].phc, idn[0].phc);
    CHECK_INT(identity_find(b, "anon-user", "anon-1234", &idn[1]), STORE_OK);
    CHECK_STR(idn[1].user_id, "usr_anon");
    CHECK_INT(identity_count(b, "usr_alice"), 1);
    /* the session, its current and superseded refresh hashes, its user index */
    for (int i = 0; i < 2; i++)
        CHECK_INT(session_get(st[i], "ses_copied", &ses[i]), STORE_OK);
    CHECK_STR(ses[1].user_id, ses[0].user_id);
    CHECK_INT(ses[1].last_used_at, ses[0].last_used_at);
    CHECK_INT(ses[1].idle_expires_at, ses[0].idle_expires_at);
    CHECK(memcmp(ses[1].refresh_hash, ses[0].refresh_hash, STORE_REFRESH_HASH_LEN) == 0);
    for (int seed = 1; seed <= 2; seed++) {
        for (int i = 0; i < 2; i++)
            CHECK_INT(refresh_find(st[i], seed, sid[i], &sup[i]), STORE_OK);
        CHECK_STR(sid[1], "ses_copied");
        CHECK_INT(sup[1], sup[0]);
        CHECK_INT(sup[1], seed == 1);
    }
    CHECK_INT(session_count(b, "usr_alice", NULL), 1);
    /* team, its name, its members both ways */
    CHECK_STR(r[1].team.name, r[0].team.name);
    CHECK_INT(r[1].team.nroles, 2);
    CHECK_STR(r[1].team.roles[1], r[0].team.roles[1]);
    CHECK_INT(team_insert(b, "team_other", "copiers", "org_acme"), STORE_EXISTS);
    CHECK_INT(member_list(b, "team_copied", NULL, 10, ids[1], sizeof ids[1]), STORE_OK);
    CHECK_STR(ids[1], "usr_alice");
    CHECK_INT(user_teams(b, "usr_alice", ids[1], sizeof ids[1]), STORE_OK);
    CHECK_STR(ids[1], "team_copied");
    /* audit event, denylist, signing key, failed logins, meta */
    for (int i = 0; i < 2; i++)
        CHECK_INT(audit_page(st[i], NULL, 10, ids[i], sizeof ids[i]), STORE_OK);
    CHECK_STR(ids[1], ids[0]);
    CHECK_STR(ids[1], "evt_copied");
    CHECK_INT(deny_has(b, "jti-copied"), 1);
    CHECK_INT(r[1].keys.n, 1);
    CHECK_STR(r[1].keys.items[0].kid, "kid-copied");
    CHECK_INT(r[1].keys.items[0].state, r[0].keys.items[0].state);
    CHECK_INT(r[1].keys.items[0].sealed_len, r[0].keys.items[0].sealed_len);
    CHECK(memcmp(r[1].keys.items[0].sealed, r[0].keys.items[0].sealed,
                 r[0].keys.items[0].sealed_len) == 0);
    CHECK_INT(r[1].lf.count, 3);
    CHECK_INT(r[1].lf.locked_until, r[0].lf.locked_until);
    CHECK_INT(r[1].epoch, 7);
    /* the bulk of the accounts, paged */
    for (int i = 0; i < 2; i++) {
        CHECK_INT(sa_page(st[i], "sa_bulk_002399", 1000, &n[i], ids[i], NULL), STORE_OK);
        CHECK_INT(n[i], 101); /* sa_bulk_002400..2499, sa_copied */
    }
    CHECK_STR(ids[1], ids[0]);
}

/* store_copy() writes every table of one store into an empty other from one snapshot, in
 * batches (re-run on LMDB, whose small map grows under them), and the copy reads back the same;
 * a target that holds anything, even a meta counter alone, is refused with nothing written. */
TEST(copy_reads_back_every_record)
{
    struct store *src = NULL, *dst = NULL, *used = NULL;
    struct store_options small = {.map_size = SMALL_MAP};
    struct meta m = {.name = "key_epoch", .value = 1};
    uint64_t entries = 99, same = 0;
    long long before;

    CHECK(mkdir(subpath("copy"), 0700) == 0);
    CHECK(mkdir(subpath("used"), 0700) == 0);
    CHECK_INT(open_small(&src), STORE_OK);
    CHECK_INT(copy_fill(src), STORE_OK);
    CHECK_INT(store_open(th_store_for(subpath("copy")), &small, &dst), STORE_OK);
    CHECK_INT(store_copy(src, dst, &entries), STORE_OK);
    CHECK_INT(entries, entries_of(src));
    CHECK(entries > 2500); /* three batches at least */
    if (!th_on_postgres())
        CHECK(store_map_size(dst) > SMALL_MAP);
    CHECK_INT(tables_differ(src, dst, &same), -1);
    CHECK_INT(same, entries);
    check_same_records(src, dst);
    if (th_case_failed)
        return;

    /* a second copy into the copy: refused, and the copy is as it was */
    entries = 99;
    CHECK_INT(store_copy(src, dst, &entries), STORE_EXISTS);
    CHECK_INT(entries, 0);
    CHECK_INT(tables_differ(src, dst, &same), -1);
    CHECK_INT(same, entries_of(src));

    /* a target that holds one meta counter besides its schema version is not empty either */
    CHECK_INT(store_open(th_store_for(subpath("used")), NULL, &used), STORE_OK);
    CHECK_INT(store_write(used, meta_put_cb, &m), STORE_OK);
    before = entries_of(used);
    CHECK_INT(before, 2);
    CHECK_INT(store_copy(src, used, &entries), STORE_EXISTS);
    CHECK_INT(entries_of(used), before);
    m.value = 0;
    CHECK_INT(store_read(used, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, 1);

    CHECK_INT(store_copy(src, src, &entries), STORE_EINVAL);
    CHECK_INT(store_copy(NULL, dst, &entries), STORE_EINVAL);
    CHECK_INT(store_copy(src, NULL, NULL), STORE_EINVAL);
    store_close(used);
    store_close(dst);
    store_close(src);
}

/* Copies of the same store into a store of the other backend and back are the same as the
 * original, whichever backend the suite runs on (the test cluster is needed for PostgreSQL). */
TEST(copy_between_backends)
{
    struct store *src = NULL, *other = NULL, *back = NULL;
    uint64_t entries = 0, back_entries = 0, same = 0;
    const char *other_where, *back_where;

    if (!getenv("IDPD_TEST_PG")) {
        fprintf(stderr, "  (IDPD_TEST_PG is not set: no PostgreSQL store to copy to)\n");
        return;
    }
    CHECK(mkdir(subpath("other"), 0700) == 0);
    CHECK(mkdir(subpath("back"), 0700) == 0);
    /* the backend the suite does not run on for the middle, this one for the end */
    other_where = th_on_postgres() ? subpath("other") : th_pg_database();
    CHECK(other_where != NULL);
    other_where = strdup(other_where);
    th_defer(free, (void *)other_where);
    back_where = th_store_for(subpath("back"));
    CHECK(back_where != NULL);
    CHECK_INT(open_small(&src), STORE_OK);
    CHECK_INT(copy_fill(src), STORE_OK);
    CHECK_INT(store_open(other_where, NULL, &other), STORE_OK);
    CHECK_STR(store_backend(other), th_on_postgres() ? "lmdb" : "postgres");
    CHECK_INT(store_copy(src, other, &entries), STORE_OK);
    CHECK_INT(store_open(back_where, NULL, &back), STORE_OK);
    CHECK_INT(store_copy(other, back, &back_entries), STORE_OK);
    CHECK_INT(back_entries, entries);
    CHECK_INT(tables_differ(src, other, &same), -1);
    CHECK_INT(same, entries);
    CHECK_INT(tables_differ(src, back, &same), -1);
    check_same_records(other, back);
    store_close(back);
    store_close(other);
    store_close(src);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(schema_upgrade_to_5_indexes_team_names);
    RUN(clients_generation_moves_with_clients);
    RUN(nodes_opening_together_migrate_once);
    RUN(kv_walks_in_byte_order);
    RUN(kv_seeks_land_where_kv_h_says);
    RUN(kv_get_put_insert_del);
    RUN(kv_walks_see_their_own_writes);
    RUN(kv_concurrent_read_modify_write_loses_nothing);
    RUN(unreachable_postgres_is_unavailable);
    RUN(open_writes_schema_version);
    RUN(newer_schema_is_refused);
    RUN(open_missing_dir_is_eio);
    RUN(open_regular_file_is_eio);
    RUN(open_bad_arguments);
    RUN(meta_round_trip);
    RUN(strerror_names_every_code);
    RUN(read_transaction_refuses_writes);
    RUN(nested_transactions_are_refused);
    RUN(sa_round_trip_of_every_field);
    RUN(sa_without_roles_round_trips);
    RUN(sa_duplicate_id_is_exists);
    RUN(sa_update_replaces_the_record);
    RUN(sa_get_missing_is_notfound);
    RUN(sa_limits_are_einval);
    RUN(sa_list_pages_in_id_order);
    RUN(sa_delete_removes_its_secrets);
    RUN(secrets_insert_list_touch_delete);
    RUN(secret_for_missing_account_is_notfound);
    RUN(seventeenth_secret_is_einval);
    RUN(deny_add_and_has);
    RUN(sweep_removes_only_expired);
    RUN(deny_entries_survive_reopen);
    RUN(signing_keys_round_trip);
    RUN(failed_callback_changes_nothing);
    RUN(map_grows_when_full);
    RUN(map_growth_stops_at_max);
    RUN(group_commit_shares_one_commit_and_isolates_failures);
    RUN(group_commit_grows_the_map);
    RUN(generation_follows_every_commit);
    RUN(login_failures_put_get_delete_sweep);
    RUN(schema_upgrades_from_1);
    RUN(readers_run_while_the_map_grows);
    RUN(generation_reads_while_the_map_grows);
    RUN(another_process_grows_the_map);
    RUN(corrupt_records_are_refused);
    RUN(app_round_trip_at_maximum);
    RUN(app_name_get_answers_as_app_get);
    RUN(app_limits_are_einval);
    RUN(app_list_pages_in_id_order);
    RUN(app_origins_are_indexed);
    RUN(schema_upgrade_to_3_indexes_origins);
    RUN(user_round_trip_at_maximum);
    RUN(user_limits_are_einval);
    RUN(user_email_is_unique_ignoring_case);
    RUN(user_update_moves_the_email_index);
    RUN(user_email_key_is_the_index);
    RUN(user_email_verified_round_trips);
    RUN(user_list_pages_in_id_order);
    RUN(identity_round_trip_and_uniqueness);
    RUN(identity_of_another_user_is_notfound);
    RUN(seventeenth_identity_is_einval);
    RUN(session_round_trip_at_maximum);
    RUN(session_rotate_keeps_superseded_hashes);
    RUN(session_delete_removes_every_hash);
    RUN(session_delete_user_keeps_one);
    RUN(browser_session_ends_its_children);
    RUN(auth_codes_are_single_use_and_expire);
    RUN(device_codes_round_trip_and_expire);
    RUN(user_delete_cascades);
    RUN(sweep_removes_expired_sessions);
    RUN(sweep_of_many_sessions);
    RUN(audit_lists_newest_first);
    RUN(audit_append_many_is_one_write);
    RUN(outbox_claims_in_due_order);
    RUN(outbox_claims_are_exclusive);
    RUN(email_tokens_are_single_use_and_expire);
    RUN(email_tokens_delete_by_user_and_purpose);
    RUN(mail_counts_put_get_and_sweep);
    RUN(kv_put_runs_are_all_answered);
    RUN(read_ahead_is_only_a_hint);
    RUN(failed_transaction_leaves_no_user_records);
    RUN(user_records_survive_reopen);
    RUN(read_transaction_refuses_user_writes);
    RUN(corrupt_user_records_are_refused);
    RUN(sa_acl_round_trip_at_maximum);
    RUN(sa_acl_limits_are_einval);
    RUN(sa_acl_corrupt_records_are_refused);
    RUN(user_search_filters_and_pages);
    RUN(user_search_scan_max_bounds_the_work);
    RUN(audit_search_filters_and_pages);
    RUN(audit_search_since_stops_the_walk);
    RUN(audit_expire_removes_only_older_events);
    RUN(audit_expire_of_many_events);
    RUN(team_round_trip_at_maximum);
    RUN(team_limits_are_einval);
    RUN(team_names_are_unique_within_a_scope);
    RUN(team_update_moves_the_name_index);
    RUN(members_add_remove_and_list);
    RUN(teams_per_user_are_limited);
    RUN(team_delete_removes_memberships);
    RUN(user_delete_removes_memberships);
    RUN(failed_transaction_leaves_no_team_records);
    RUN(read_transaction_refuses_team_writes);
    RUN(corrupt_team_records_are_refused);
    RUN(transactions_of_another_store_nest);
    RUN(copy_reads_back_every_record);
    RUN(copy_between_backends);
    return th_done();
}
