/* Audit events (DESIGN.md §6): who did what to whom, from where, and whether it worked. */
#define LOG_MODULE "audit"

#include <stdio.h>
#include <string.h>

#include "server/core/core.h"

int srv_audit_event_fill(struct store_audit_event *ev, const char *type, const char *actor,
                         const char *target, const char *client_ip, int success, const char *detail)
{
    memset(ev, 0, sizeof *ev);
    if (crypto_id_new("evt", ev->id, sizeof ev->id) != CRYPTO_OK)
        return STORE_EINVAL;
    ev->time = srv_now();
    snprintf(ev->type, sizeof ev->type, "%s", type);
    snprintf(ev->actor, sizeof ev->actor, "%s", actor ? actor : "");
    snprintf(ev->target, sizeof ev->target, "%s", target ? target : "");
    snprintf(ev->client_ip, sizeof ev->client_ip, "%s", client_ip ? client_ip : "");
    snprintf(ev->result, sizeof ev->result, "%s", success ? "success" : "failure");
    snprintf(ev->detail, sizeof ev->detail, "%s", detail ? detail : "");
    return STORE_OK;
}

int srv_audit(struct store_txn *txn, const char *type, const char *actor, const char *target,
              const char *client_ip, int success, const char *detail)
{
    struct store_audit_event ev;
    int rc = srv_audit_event_fill(&ev, type, actor, target, client_ip, success, detail);
    return rc ? rc : store_audit_append(txn, &ev);
}

struct audit_args {
    const char *type, *actor, *target, *ip, *detail;
    int success;
};

static int audit_txn(struct store_txn *txn, void *arg)
{
    struct audit_args *a = arg;
    return srv_audit(txn, a->type, a->actor, a->target, a->ip, a->success, a->detail);
}

void srv_audit_now(struct srv_ctx *ctx, const char *type, const char *actor, const char *target,
                   const char *client_ip, int success, const char *detail)
{
    struct audit_args a = {type, actor, target, client_ip, detail, success};
    int rc = store_write(ctx->store, audit_txn, &a);
    if (rc != STORE_OK)
        LOG(SRV_LOG_ERROR, "audit event %s could not be written: %s", type, store_strerror(rc));
}
