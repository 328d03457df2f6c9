/* The store whatever its backend: choosing the backend from the location, the callback rules
 * (no nesting), error names, and the calls storage.h promises, passed to the backend. */
#include "storage/backend.h"

#include <stdio.h>
#include <string.h>

/* Set while this thread runs a callback. A nested store_read()/store_write() would wait for a
 * lock or a connection its own transaction holds: refuse it instead. */
static __thread int in_callback;

const char *store_strerror(int rc)
{
    switch (rc) {
    case STORE_OK:
        return "ok";
    case STORE_NOTFOUND:
        return "not found";
    case STORE_EXISTS:
        return "already exists";
    case STORE_EINVAL:
        return "invalid argument";
    case STORE_ENOMEM:
        return "out of memory";
    case STORE_EIO:
        return "storage I/O error";
    case STORE_ECORRUPT:
        return "stored record is corrupt";
    case STORE_EVERSION:
        return "data written by a newer version";
    case STORE_EUNAVAILABLE:
        return "database unavailable";
    case STORE_ERERUN:
        return "transaction must run again";
    }
    return "unknown storage error";
}

int store_corrupt(enum store_db db, const void *key, size_t key_len)
{
    /* Keys are ids, kids and jtis: printable, and none of them a secret. */
    if (key_len > 128)
        key_len = 128;
    fprintf(stderr, "storage: corrupt record in %s: %.*s\n", store_db_names[db], (int)key_len,
            (const char *)key);
    return STORE_ECORRUPT;
}

int store_txn_writable(const struct store_txn *txn)
{
    return txn && txn->write ? STORE_OK : STORE_EINVAL;
}

int store_in_callback(void)
{
    return in_callback;
}

int store_run_callback(int (*fn)(struct store_txn *txn, void *arg), struct store_txn *txn,
                       void *arg)
{
    int rc;
    in_callback = 1;
    rc = fn(txn, arg);
    in_callback = 0;
    return rc;
}

/* The scheme of a PostgreSQL connection URI, as libpq accepts it. */
static int is_postgres_url(const char *where)
{
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

int store_open(const char *where, const struct store_options *opts, struct store **out)
{
    if (!where || !out || in_callback)
        return STORE_EINVAL;
    *out = NULL;
    if (is_postgres_url(where))
        return store_postgres_open(where, opts, out);
    if (strncmp(where, "lmdb:", 5) == 0)
        where += 5;
    if (!where[0])
        return STORE_EINVAL;
    return store_lmdb_open(where, opts, out);
}

void store_close(struct store *st)
{
    if (st)
        st->be->close(st);
}

const char *store_backend(const struct store *st)
{
    return st ? st->be->name : "";
}

int store_read(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    if (!st || !fn || in_callback)
        return STORE_EINVAL;
    return st->be->read(st, fn, arg);
}

int store_write(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    if (!st || !fn || in_callback)
        return STORE_EINVAL;
    return st->be->write(st, fn, arg);
}

int store_backup(struct store *st, const char *path)
{
    if (!st || !path || in_callback)
        return STORE_EINVAL;
    return st->be->backup(st, path);
}

uint64_t store_generation(struct store *st)
{
    return store_scope_generation(st, STORE_SCOPE_ALL);
}

uint64_t store_txn_generation(const struct store_txn *txn)
{
    return store_txn_scope_generation(txn, STORE_SCOPE_ALL);
}

uint64_t store_scope_generation(struct store *st, enum store_scope scope)
{
    return st ? st->be->generation(st, scope) : 0;
}

uint64_t store_txn_scope_generation(const struct store_txn *txn, enum store_scope scope)
{
    return txn ? txn->st->be->txn_generation(txn, scope) : 0;
}

void store_write_stats(struct store *st, uint64_t *writes, uint64_t *batches)
{
    st->be->write_stats(st, writes, batches);
}

size_t store_map_size(struct store *st)
{
    return st ? st->be->map_size(st) : 0;
}

int store_ready(struct store *st)
{
    return st ? st->be->ready(st) : STORE_EINVAL;
}
