/* Unit tests of storage/: each case opens a fresh LMDB environment in th_tmpdir(). */
#include "harness.h"
#include "storage/storage.h"

/* Only corrupt_records_are_refused uses LMDB directly, to plant records storage would never
 * write. */
#include <lmdb.h>

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

static int open_small(struct store **st)
{
    struct store_options opts = {.map_size = SMALL_MAP};
    return store_open(th_tmpdir(), &opts, st);
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

    CHECK_INT(store_open(th_tmpdir(), NULL, &st), STORE_OK);
    CHECK(st != NULL);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, STORE_SCHEMA_VERSION);
    CHECK_INT(m.value, 1);
    CHECK_INT(store_map_size(st), (size_t)64 << 20);
    store_close(st);

    CHECK_INT(stat(subpath("data.mdb"), &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(stat(subpath("lock.mdb"), &sb), 0);
    CHECK_INT(sb.st_mode & 0777, 0600);

    st = NULL;
    m.value = 0;
    CHECK_INT(store_open(th_tmpdir(), NULL, &st), STORE_OK);
    CHECK_INT(store_read(st, meta_get_cb, &m), STORE_OK);
    CHECK_INT(m.value, 1);
    store_close(st);
}

TEST(newer_schema_is_refused)
{
    struct store *st = NULL;
    struct meta m = {.name = "schema_version", .value = 99};

    CHECK_INT(store_open(th_tmpdir(), NULL, &st), STORE_OK);
    CHECK_INT(store_write(st, meta_put_cb, &m), STORE_OK);
    store_close(st);
    st = (struct store *)1;
    CHECK_INT(store_open(th_tmpdir(), NULL, &st), STORE_EVERSION);
    CHECK(st == NULL);
}

TEST(open_missing_dir_is_eio)
{
    struct store *st = (struct store *)1;
    CHECK_INT(store_open(subpath("missing"), NULL, &st), STORE_EIO);
    CHECK(st == NULL);
}

TEST(open_regular_file_is_eio)
{
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
    CHECK_INT(store_open(th_tmpdir(), NULL, NULL), STORE_EINVAL);
    CHECK_INT(store_open(th_tmpdir(), &opts, &st), STORE_EINVAL);
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
    static const int codes[] = {STORE_OK,       STORE_NOTFOUND, STORE_EXISTS,
                                STORE_EINVAL,   STORE_ENOMEM,   STORE_EIO,
                                STORE_ECORRUPT, STORE_EVERSION, STORE_EMAPFULL};
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
    struct store *st = NULL;
    struct store_options opts = {.map_size = SMALL_MAP, .map_size_max = 2 * SMALL_MAP};
    struct meta m = {.name = "schema_version"};
    int inserted = 0, rc = STORE_OK;

    CHECK_INT(store_open(th_tmpdir(), &opts, &st), STORE_OK);
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
    CHECK_INT(m.value, 1);
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

TEST(readers_run_while_the_map_grows)
{
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

static int raw_put(const char *db, const char *key, const void *val, size_t len)
{
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    MDB_dbi dbi;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key};
    MDB_val v = {.mv_size = len, .mv_data = (void *)val};
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
        mrc = mdb_put(txn, dbi, &k, &v, 0);
    if (!mrc)
        mrc = mdb_txn_commit(txn);
    else if (txn)
        mdb_txn_abort(txn);
    mdb_env_close(env);
    return mrc;
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
    CHECK_INT(store_open(th_tmpdir(), NULL, &st), STORE_ECORRUPT);
    CHECK(st == NULL);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
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
    RUN(readers_run_while_the_map_grows);
    RUN(another_process_grows_the_map);
    RUN(corrupt_records_are_refused);
    return th_done();
}
