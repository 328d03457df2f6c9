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
    struct srv_admin_page page;
    struct store_audit_filter filter;
    struct store_audit_event *items;
    char scanned_to[STORE_ID_MAX];
};

/* Newest first from the cursor; the next page starts after the last event on a full page, or
 * after the last one looked at when the walk stopped at SCAN_MAX with older events left. */
static int search_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct search_args *a = arg;
    struct store_audit_event *older = NULL;
    size_t nolder = 0;
    free(a->items);
    a->items = NULL;
    page->n = 0;
    page->next[0] = '\0';
    int rc = store_audit_search(txn, &a->filter, page->after, page->limit, SCAN_MAX, &a->items,
                                &page->n, a->scanned_to);
    if (rc == STORE_OK && page->n == page->limit)
        snprintf(page->next, sizeof page->next, "%s", a->items[page->n - 1].id);
    if (rc != STORE_OK || page->n == page->limit || !a->scanned_to[0])
        return rc;
    /* A short page: the walk reached the end, passed since, or stopped at SCAN_MAX. Only in the
     * last case is there an event after scanned_to that may still match. */
    rc = store_audit_list(txn, a->scanned_to, 1, &older, &nolder);
    if (rc == STORE_OK && nolder == 1 && older[0].time >= a->filter.since)
        snprintf(page->next, sizeof page->next, "%s", a->scanned_to);
    free(older);
    return rc;
}

static json_t *search_item(const void *arg, size_t i)
{
    const struct search_args *a = arg;
    return event_json(&a->items[i]);
}

static const struct srv_admin_list events = {list_filters, "audit log", search_walk, search_item};

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
    struct search_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_AUDIT_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &events, &a.page) != SRV_OK ||
        filter_or_error(rq, "type", STORE_EVENT_TYPE_MAX, &a.filter.type) != SRV_OK ||
        filter_or_error(rq, "actor", STORE_ID_MAX, &a.filter.actor) != SRV_OK ||
        filter_or_error(rq, "target", STORE_ID_MAX, &a.filter.target) != SRV_OK ||
        since_or_error(rq, &a.filter.since) != SRV_OK)
        return;
    if (srv_admin_list_walk_or_error(rq, &events, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &events, &a.page, &a);
    free(a.items);
}
