/* GET /admin/v1/keys, POST /admin/v1/keys/rotate: the signing keys. Rotation makes the
 * pre-published next key active, retires the active one (it keeps verifying and stays in the
 * JWKS until every token it signed has expired) and makes a new next key; this process serves
 * the new JWKS at once, other processes within keys_refresh_interval. The next key signs only
 * once every verifier can know it: published for jwks_max_age + keys_refresh_interval, else
 * 409, unless the body says {"force":true}. */
#define LOG_MODULE "admin"

#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

static json_t *time_json(int64_t t)
{
    return t ? json_integer((json_int_t)t) : json_null();
}

json_t *srv_keys_json(const struct keys_info *items, size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < n; i++)
        json_array_append_new(arr, json_pack("{s:s, s:s, s:s, s:I, s:o, s:o}", "kid", items[i].kid,
                                             "alg", items[i].alg, "state", items[i].state,
                                             "created_at", (json_int_t)items[i].created_at,
                                             "activated_at", time_json(items[i].activated_at),
                                             "retire_after", time_json(items[i].retire_after)));
    return arr;
}

/* Answers {"items":[…]} with the ring as this process holds it now. */
static void reply_keys(struct srv_request *rq)
{
    struct keys_info *items = NULL;
    size_t n = 0;
    int rc = keys_list(srv_rq_ctx(rq)->keys, &items, &n);
    if (rc != KEYS_OK) {
        LOG(SRV_LOG_ERROR, "listing the signing keys: %s", keys_strerror(rc));
        srv_reply_problem(rq, 503, "the signing keys cannot be read now; retry shortly");
        return;
    }
    srv_reply_json(rq, 200, srv_list_json(srv_keys_json(items, n), NULL), NULL);
    free(items);
}

void srv_admin_keys_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    reply_keys(rq);
}

int srv_keys_active(struct keys *kr, char kid[KEYS_KID_MAX], int64_t *activated_at)
{
    struct keys_info *items = NULL;
    size_t n = 0;
    int rc = keys_list(kr, &items, &n);
    kid[0] = '\0';
    if (activated_at)
        *activated_at = 0;
    for (size_t i = 0; rc == KEYS_OK && i < n; i++)
        if (strcmp(items[i].state, "active") == 0) {
            memcpy(kid, items[i].kid, KEYS_KID_MAX);
            if (activated_at)
                *activated_at = items[i].activated_at;
            break;
        }
    free(items);
    return rc == KEYS_OK && !kid[0] ? KEYS_EKID : rc;
}

struct rotation_audit {
    const char *type, *actor, *client_ip, *detail;
};

static int audit_rotation(struct store_txn *txn, const char *active_kid, void *arg)
{
    const struct rotation_audit *a = arg;
    return srv_audit(txn, a->type, a->actor, active_kid, a->client_ip, 1, a->detail);
}

int64_t srv_keys_min_published(const struct srv_config *cfg)
{
    return cfg->jwks_max_age + cfg->keys_refresh_interval;
}

int srv_keys_rotate_audited(struct srv_ctx *ctx, const char *type, const char *actor,
                            const char *client_ip, const char *detail, int force, int64_t *ready_at)
{
    struct rotation_audit a = {type, actor, client_ip, detail};
    int64_t now = srv_now(), min = srv_keys_min_published(ctx->cfg), ready = 0;
    char forced[256];
    int rc = keys_rotate_with(ctx->keys, now, min, &ready, audit_rotation, &a);
    if (rc == KEYS_ETOOSOON && ready_at)
        *ready_at = ready;
    if (rc != KEYS_ETOOSOON || !force)
        return rc;
    /* ready is published_at + min + 1 (keys.h): say in the audit log how early this was */
    snprintf(forced, sizeof forced,
             "%s%sforced: the next key had been published for %lld s of the %lld s "
             "(jwks_max_age + keys_refresh_interval) verifiers may need to fetch it",
             detail ? detail : "", detail && *detail ? ", " : "",
             (long long)(now - (ready - min - 1)), (long long)min);
    a.detail = forced;
    return keys_rotate_with(ctx->keys, now, 0, NULL, audit_rotation, &a);
}

struct rotation {
    struct srv_admin_caller caller;
    char client_ip[STORE_IP_MAX];
    int force;
    int64_t ready_at; /* KEYS_ETOOSOON: when it may rotate */
    int rc;           /* enum keys_err of the rotation */
};

/* Key generation (RSA especially) is slow: rotate on a worker, not an HTTP thread. */
static void rotate_work(struct srv_request *rq)
{
    struct rotation *r = srv_rq_state(rq);
    r->rc = srv_keys_rotate_audited(srv_rq_ctx(rq), "admin.keys.rotate", r->caller.id, r->client_ip,
                                    NULL, r->force, &r->ready_at);
}

/* 409 problem+json with Retry-After and ready_at (unix seconds) as an extension member. */
static void reply_too_soon(struct srv_request *rq, int64_t ready_at)
{
    const struct srv_config *cfg = srv_rq_ctx(rq)->cfg;
    int64_t wait = ready_at - srv_now();
    char detail[512], secs[24];
    if (wait < 1)
        wait = 1;
    snprintf(detail, sizeof detail,
             "the next key has not been in the JWKS for %lld s yet (jwks_max_age %lld s + "
             "keys_refresh_interval %lld s), so verifiers may not know it; it may become active "
             "in %lld s, or now with {\"force\":true}",
             (long long)srv_keys_min_published(cfg), (long long)cfg->jwks_max_age,
             (long long)cfg->keys_refresh_interval, (long long)wait);
    snprintf(secs, sizeof secs, "%lld", (long long)wait);
    const char *extra[] = {"Retry-After", secs, NULL};
    json_t *body =
        json_pack("{s:s, s:s, s:i, s:s, s:I}", "type", "about:blank", "title", "Conflict", "status",
                  409, "detail", detail, "ready_at", (json_int_t)ready_at);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_reply(rq, 409, "application/problem+json", text, strlen(text), extra);
    free(text);
}

static void rotated(struct srv_request *rq)
{
    struct rotation *r = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    char kid[KEYS_KID_MAX];
    if (r->rc == KEYS_ETOOSOON) {
        /* it may have made a missing next key: publish it */
        srv_keys_changed(ctx);
        reply_too_soon(rq, r->ready_at);
        return;
    }
    if (r->rc != KEYS_OK) {
        LOG(SRV_LOG_ERROR, "key rotation failed: %s", keys_strerror(r->rc));
        srv_reply_problem(rq, 503, "the keys could not be rotated; nothing changed");
        return;
    }
    srv_keys_changed(ctx);
    if (srv_keys_active(ctx->keys, kid, NULL) != KEYS_OK)
        kid[0] = '\0';
    LOG(SRV_LOG_INFO, "signing keys rotated; active kid %s", kid);
    reply_keys(rq);
}

/* The optional body {"force":true|false}; none at all means force = 0. */
static int rotation_body_or_error(struct srv_request *rq, int *force)
{
    static const char *const fields[] = {"force", NULL};
    json_t *body = NULL, *v;
    *force = 0;
    int rc = srv_json_optional_or_error(rq, fields, &body);
    if (rc != SRV_OK || !body)
        goto out;
    v = json_object_get(body, "force");
    if (v && !json_is_boolean(v)) {
        srv_reply_problem(rq, 400, "force must be true or false");
        rc = SRV_ERESPONDED;
        goto out;
    }
    *force = json_is_true(v);
out:
    json_decref(body);
    return rc;
}

void srv_admin_keys_rotate(struct srv_request *rq)
{
    struct rotation *r = srv_admin_state_new_or_error(rq, sizeof *r, free);
    if (!r)
        return;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &r->caller) != SRV_OK)
        return;
    if (rotation_body_or_error(rq, &r->force) != SRV_OK)
        return;
    snprintf(r->client_ip, sizeof r->client_ip, "%s", srv_rq_client_ip(rq));
    srv_defer(rq, rotate_work, rotated);
}
