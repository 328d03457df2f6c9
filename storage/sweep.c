/* The expiry sweep: expired denylist entries, expired sessions (with their refresh hashes and
 * index entries), forgotten failed-login records, expired authorization and device codes,
 * expired email tokens, mail budgets and unconfirmed registrations go in one write
 * transaction. */
#include "storage/internal.h"

struct sweep {
    int64_t now;
    size_t removed;
};

static int sweep_cb(struct store_txn *txn, void *arg)
{
    struct sweep *sw = arg;
    int rc;

    sw->removed = 0; /* the callback may run again after the map grows */
    rc = store_deny_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_sessions_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_login_failures_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_codes_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_devices_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_email_tokens_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_mail_counts_sweep(txn, sw->now, &sw->removed);
    if (!rc)
        rc = store_pending_sweep(txn, sw->now, &sw->removed);
    return rc;
}

int store_sweep(struct store *st, int64_t now, size_t *removed)
{
    struct sweep sw = {.now = now};
    int rc = store_write(st, sweep_cb, &sw);
    if (removed)
        *removed = rc ? 0 : sw.removed;
    return rc;
}
