/* The store whatever its backend: choosing the backend from the location, the callback rules
 * (no nesting on one store), error names, and the calls storage.h promises, passed to the
 * backend. */
#include "storage/backend.h"

#include <stdio.h>
#include <string.h>

/* The stores whose callbacks this thread is running, innermost first: one frame on the stack of
 * each store_run_callback() under way. A nested store_read()/store_write() on one of them would
 * wait for a lock or a connection its own transaction holds (LMDB's resize lock, a PostgreSQL
 * connection of a full pool): refuse it instead. A transaction on another store may nest; that
 * is how store_copy() writes one store while it reads another. */
struct callback_frame {
    const struct store *st;
    const struct callback_frame *outer;
};
static __thread const struct callback_frame *running;

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

int store_in_callback(const struct store *st)
{
    for (const struct callback_frame *f = running; f; f = f->outer)
        if (!st || f->st == st)
            return 1;
    return 0;
}

int store_run_callback(int (*fn)(struct store_txn *txn, void *arg), struct store_txn *txn,
                       void *arg)
{
    struct callback_frame frame = {.st = txn->st, .outer = running};
    int rc;
    running = &frame;
    rc = fn(txn, arg);
    running = frame.outer; /* the state before, which may be a callback of another store */
    return rc;
}

/* The scheme of a PostgreSQL connection URI, as libpq accepts it. */
static int is_postgres_url(const char *where)
{
    return strncmp(where, "postgres://", 11) == 0 || strncmp(where, "postgresql://", 13) == 0;
}

int store_open(const char *where, const struct store_options *opts, struct store **out)
{
    if (!where || !out || store_in_callback(NULL))
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
    if (!st || !fn || store_in_callback(st))
        return STORE_EINVAL;
    return st->be->read(st, fn, arg);
}

int store_write(struct store *st, int (*fn)(struct store_txn *txn, void *arg), void *arg)
{
    if (!st || !fn || store_in_callback(st))
        return STORE_EINVAL;
    return st->be->write(st, fn, arg);
}

int store_backup(struct store *st, const char *path)
{
    if (!st || !path || store_in_callback(st))
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
