/* GET /admin/v1/audit-events: the audit log, newest first, for idp:admin and idp:auditor.
 * Filters: type, actor, target (exact) and since (unix seconds). The cursor carries the id of the
 * last event looked at; one request looks at no more than SCAN_MAX events, so a rare filter over
 * a long log answers a short (even empty) page with a next cursor instead of walking it all. */
#define LOG_MODULE "admin"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

#define SCAN_MAX 10000 /* events looked at by one request (at least the largest limit) */

static const char *const list_filters[] = {"type", "actor", "target", "since", NULL};

static json_t *event_json(const struct store_audit_event *ev)
{
    return json_pack("{s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s}", "id", ev->id, "time",
                     (json_int_t)ev->time, "type", ev->type, "actor", ev->actor, "target",
                     ev->target, "client_ip", ev->client_ip, "result", ev->result, "detail",
                     ev->detail);
}

struct search_args {
    struct store_audit_filter filter;
    const char *before;
    size_t limit;
    struct store_audit_event *items;
    size_t n;
    char scanned_to[STORE_ID_MAX];
    int more; /* the walk stopped at SCAN_MAX with older events left to look at */
};

static int search_txn(struct store_txn *txn, void *arg)
{
    struct search_args *a = arg;
    struct store_audit_event *older = NULL;
    size_t nolder = 0;
    free(a->items);
    a->items = NULL;
    a->n = 0;
    a->more = 0;
    int rc = store_audit_search(txn, &a->filter, a->before, a->limit, SCAN_MAX, &a->items, &a->n,
                                a->scanned_to);
    if (rc != STORE_OK || a->n == a->limit || !a->scanned_to[0])
        return rc;
    /* A short page: the walk reached the end, passed since, or stopped at SCAN_MAX. Only in the
     * last case is there an event after scanned_to that may still match. */
    rc = store_audit_list(txn, a->scanned_to, 1, &older, &nolder);
    a->more = rc == STORE_OK && nolder == 1 && older[0].time >= a->filter.since;
    free(older);
    return rc;
}

/* Reads ?since= as unix seconds (an integer >= 0); 0 when absent. */
static int since_or_error(struct srv_request *rq, int64_t *since)
{
    const char *v = srv_rq_query(rq, "since");
    char *end = NULL;
    *since = 0;
    if (!v)
        return SRV_OK;
    errno = 0;
    long long t = strtoll(v, &end, 10);
    if (v[0] < '0' || v[0] > '9' || *end || errno || t < 0) {
        srv_reply_problem(rq, 400, "since must be unix seconds: an integer >= 0");
        return SRV_ERESPONDED;
    }
    *since = t;
    return SRV_OK;
}

/* Reads an exact-match filter; one longer than any stored value could match is a 400. */
static int filter_or_error(struct srv_request *rq, const char *name, size_t cap, const char **out)
{
    *out = srv_rq_query(rq, name);
    if (*out && strlen(*out) >= cap) {
        srv_reply_problem(rq, 400, "%s is longer than %zu bytes", name, cap - 1);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

void srv_admin_audit_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char after[STORE_ID_MAX];
    struct search_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_AUDIT_READ, &caller) != SRV_OK ||
        srv_list_params_or_error(rq, list_filters, &a.limit, after) != SRV_OK ||
        filter_or_error(rq, "type", STORE_EVENT_TYPE_MAX, &a.filter.type) != SRV_OK ||
        filter_or_error(rq, "actor", STORE_ID_MAX, &a.filter.actor) != SRV_OK ||
        filter_or_error(rq, "target", STORE_ID_MAX, &a.filter.target) != SRV_OK ||
        since_or_error(rq, &a.filter.since) != SRV_OK)
        return;
    a.before = after;
    int rc = store_read(srv_rq_ctx(rq)->store, search_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, "audit log");
        goto out;
    }
    json_t *items = json_array();
    for (size_t i = 0; i < a.n; i++)
        json_array_append_new(items, event_json(&a.items[i]));
    char *next = a.n == a.limit ? srv_cursor_make(rq, list_filters, a.items[a.n - 1].id)
                 : a.more       ? srv_cursor_make(rq, list_filters, a.scanned_to)
                                : NULL;
    srv_reply_json(rq, 200, srv_list_json(items, next), NULL);
out:
    free(a.items);
}
