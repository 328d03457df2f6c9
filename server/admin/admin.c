/* What every admin route shares: who the caller is and what it may do, list paging with
 * tamper-evident cursors, the shapes of the resource routes (a list, one read or change, a
 * request's state), role-grant bodies, and storage errors as problem+json. */
#define LOG_MODULE "admin"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

#define LIMIT_DEFAULT 100
#define LIMIT_MAX 500

struct caller_roles {
    const char *type, *id;
    char (*roles)[STORE_ROLE_MAX];
    size_t n;
};

static int caller_roles_txn(struct store_txn *txn, void *arg)
{
    struct caller_roles *c = arg;
    free(c->roles);
    return srv_effective_roles(txn, c->type, c->id, &c->roles, &c->n);
}

static int holds(const struct caller_roles *c, const char *role)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->roles[i], role) == 0)
            return 1;
    return 0;
}

/* The admin API's one wording for every refused token but one of another audience. */
static const struct srv_bearer_refusals refusals = {
    .invalid = "the access token is not valid, expired or revoked",
    .audience = "the access token is for another audience: ask for one with resource set to "
                "idpd's issuer",
};

int srv_admin_caller_or_error(struct srv_request *rq, enum srv_admin_need need,
                              struct srv_admin_caller *out)
{
    json_t *claims = NULL;
    struct caller_roles cr = {0};
    int rc = SRV_ERESPONDED;
    memset(out, 0, sizeof *out);
    if (srv_bearer_token_or_error(rq, srv_rq_ctx(rq)->issuer, &refusals, &claims) != SRV_OK)
        goto out;
    cr.type = json_string_value(json_object_get(claims, "principal_type"));
    cr.id = json_string_value(json_object_get(claims, "sub"));
    int src = store_read(srv_rq_ctx(rq)->store, caller_roles_txn, &cr);
    if (src == STORE_NOTFOUND) {
        srv_reply_bearer_challenge(rq, "invalid_token", "the token's principal no longer exists");
        goto out;
    }
    if (src != STORE_OK) {
        srv_reply_store_failure(rq, src, "the roles cannot be read now; retry shortly");
        goto out;
    }
    int admin = holds(&cr, "idp:admin"), user_admin = holds(&cr, "idp:user-admin"),
        auditor = holds(&cr, "idp:auditor");
    int allowed = admin || (need == SRV_NEED_READ && (user_admin || auditor)) ||
                  (need == SRV_NEED_USERS_WRITE && user_admin) ||
                  (need == SRV_NEED_AUDIT_READ && auditor);
    srv_rq_log_client(rq, json_string_value(json_object_get(claims, "client_id")));
    if (!allowed) {
        srv_reply_problem(rq, 403, "%s needs %s", srv_rq_path(rq),
                          need == SRV_NEED_ADMIN         ? "idp:admin"
                          : need == SRV_NEED_AUDIT_READ  ? "idp:admin or idp:auditor"
                          : need == SRV_NEED_USERS_WRITE ? "idp:admin or idp:user-admin"
                                                         : "an idp:* role");
        goto out;
    }
    snprintf(out->id, sizeof out->id, "%s", cr.id);
    out->is_admin = admin;
    rc = SRV_OK;
out:
    free(cr.roles);
    json_decref(claims);
    return rc;
}

/* MAC over the path, the query filters (every parameter but after and limit, in a fixed order)
 * and the last id, so a cursor cannot be edited or carried to another list or filter. */
static void cursor_mac(struct srv_request *rq, const char *const *allowed, const char *last_id,
                       uint8_t mac[CRYPTO_SHA256_LEN])
{
    char buf[4096];
    size_t used = (size_t)snprintf(buf, sizeof buf, "%s\n", srv_rq_path(rq));
    for (size_t i = 0; allowed && allowed[i] && used < sizeof buf; i++) {
        const char *v = srv_rq_query(rq, allowed[i]);
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s=%s\n", allowed[i], v ? v : "");
    }
    if (used < sizeof buf)
        used += (size_t)snprintf(buf + used, sizeof buf - used, "%s", last_id);
    if (used > sizeof buf)
        used = sizeof buf;
    crypto_hmac_sha256(srv_rq_ctx(rq)->cursor_key, sizeof srv_rq_ctx(rq)->cursor_key, buf, used,
                       mac);
}

int srv_list_params_or_error(struct srv_request *rq, const char *const *allowed, size_t *limit,
                             char after[STORE_ID_MAX])
{
    static const char *const base[] = {"limit", "after", NULL};
    const char *all[16];
    char unknown[64];
    size_t k = 0;
    for (size_t i = 0; base[i]; i++)
        all[k++] = base[i];
    for (size_t i = 0; allowed && allowed[i] && k + 1 < sizeof all / sizeof all[0]; i++)
        all[k++] = allowed[i];
    all[k] = NULL;
    after[0] = '\0';
    *limit = LIMIT_DEFAULT;
    if (srv_rq_query_unknown(rq, all, unknown, sizeof unknown)) {
        srv_reply_problem(rq, 400, "unknown query parameter: %s", unknown);
        return SRV_ERESPONDED;
    }
    const char *l = srv_rq_query(rq, "limit");
    if (l) {
        char *end = NULL;
        long v = strtol(l, &end, 10);
        if (!*l || *end || v < 1 || v > LIMIT_MAX) {
            srv_reply_problem(rq, 400, "limit must be an integer from 1 to %d", LIMIT_MAX);
            return SRV_ERESPONDED;
        }
        *limit = (size_t)v;
    }
    const char *c = srv_rq_query(rq, "after");
    if (c && *c) {
        const char *dot = strchr(c, '.');
        uint8_t mac[CRYPTO_SHA256_LEN], got[CRYPTO_SHA256_LEN];
        size_t idlen = 0, maclen = 0;
        if (!dot ||
            crypto_b64url_decode(c, (size_t)(dot - c), after, STORE_ID_MAX - 1, &idlen) != 0 ||
            crypto_b64url_decode(dot + 1, strlen(dot + 1), got, sizeof got, &maclen) != 0 ||
            maclen != 16) {
            after[0] = '\0';
            srv_reply_problem(rq, 400, "after is not a cursor this list returned");
            return SRV_ERESPONDED;
        }
        after[idlen] = '\0';
        cursor_mac(rq, allowed, after, mac);
        if (!crypto_memeq(mac, got, 16) || strlen(after) != idlen) {
            after[0] = '\0';
            srv_reply_problem(rq, 400,
                              "after is not a cursor this list returned (altered, from "
                              "another list or filter, or from before a restart)");
            return SRV_ERESPONDED;
        }
    }
    return SRV_OK;
}

char *srv_cursor_make(struct srv_request *rq, const char *const *allowed, const char *last_id)
{
    uint8_t mac[CRYPTO_SHA256_LEN];
    char id64[96], mac64[32];
    cursor_mac(rq, allowed, last_id, mac);
    if (crypto_b64url_encode(last_id, strlen(last_id), id64, sizeof id64, NULL) != CRYPTO_OK ||
        crypto_b64url_encode(mac, 16, mac64, sizeof mac64, NULL) != CRYPTO_OK)
        return NULL;
    size_t len = strlen(id64) + 1 + strlen(mac64) + 1;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s.%s", id64, mac64);
    return out;
}

json_t *srv_list_json(json_t *items, char *next)
{
    json_t *j = json_pack("{s:o, s:s?}", "items", items ? items : json_array(), "next", next);
    free(next);
    return j;
}

int srv_admin_page_or_error(struct srv_request *rq, const struct srv_admin_list *list,
                            struct srv_admin_page *page)
{
    memset(page, 0, sizeof *page);
    return srv_list_params_or_error(rq, list->filters, &page->limit, page->after);
}

struct walk {
    const struct srv_admin_list *list;
    struct srv_admin_page *page;
    void *arg;
};

static int walk_txn(struct store_txn *txn, void *arg)
{
    struct walk *w = arg;
    return w->list->walk(txn, w->arg, w->page);
}

int srv_admin_list_walk_or_error(struct srv_request *rq, const struct srv_admin_list *list,
                                 struct srv_admin_page *page, void *arg)
{
    struct walk w = {list, page, arg};
    int rc = store_read(srv_rq_ctx(rq)->store, walk_txn, &w);
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, list->what);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

void srv_admin_list_reply(struct srv_request *rq, const struct srv_admin_list *list,
                          const struct srv_admin_page *page, const void *arg)
{
    json_t *items = json_array();
    for (size_t i = 0; i < page->n; i++)
        json_array_append_new(items, list->item_json(arg, i));
    char *next = page->next[0] ? srv_cursor_make(rq, list->filters, page->next) : NULL;
    srv_reply_json(rq, 200, srv_list_json(items, next), NULL);
}

static int txn_or_error(struct srv_request *rq, int write, const char *what,
                        int (*txn)(struct store_txn *txn, void *arg), void *arg)
{
    struct store *st = srv_rq_ctx(rq)->store;
    int rc = write ? store_write(st, txn, arg) : store_read(st, txn, arg);
    if (rc == STORE_EINVAL) /* an id that cannot exist */
        rc = STORE_NOTFOUND;
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, what);
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

int srv_admin_read_or_error(struct srv_request *rq, const char *what,
                            int (*txn)(struct store_txn *txn, void *arg), void *arg)
{
    return txn_or_error(rq, 0, what, txn, arg);
}

int srv_admin_write_or_error(struct srv_request *rq, const char *what,
                             int (*txn)(struct store_txn *txn, void *arg), void *arg)
{
    return txn_or_error(rq, 1, what, txn, arg);
}

void *srv_admin_state_new_or_error(struct srv_request *rq, size_t size, void (*free_fn)(void *))
{
    void *state = calloc(1, size);
    if (!state) {
        srv_reply_problem(rq, 500, "out of memory");
        return NULL;
    }
    srv_rq_set_state(rq, state, free_fn);
    return state;
}

int srv_roles_json_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                            json_t *arr, char (**roles)[STORE_ROLE_MAX], size_t *n)
{
    json_t *v;
    size_t i;
    int rc = SRV_ERESPONDED;
    *roles = NULL;
    *n = 0;
    if (!json_is_array(arr)) {
        srv_reply_problem(rq, 400, "roles must be an array of strings");
        goto out;
    }
    if (json_array_size(arr) > STORE_ROLES_MAX) {
        srv_reply_problem(rq, 400, "at most %d roles per principal", STORE_ROLES_MAX);
        goto out;
    }
    *roles = calloc(json_array_size(arr) + 1, sizeof **roles);
    if (!*roles) {
        srv_reply_problem(rq, 500, "out of memory");
        goto out;
    }
    json_array_foreach(arr, i, v)
    {
        const char *r = json_string_value(v);
        if (!r || strlen(r) != json_string_length(v) || !srv_role_valid(r)) {
            srv_reply_problem(rq, 400,
                              "roles[%zu] is not a role: NAME or NAME@scope, printable ASCII "
                              "without spaces, at most 128 bytes",
                              i);
            goto out;
        }
        if (caller && strncmp(r, "idp:", 4) == 0 && !caller->is_admin) {
            srv_reply_problem(rq, 403, "only idp:admin may grant %s", r);
            goto out;
        }
        int dup = 0;
        for (size_t k = 0; k < *n; k++)
            dup |= strcmp((*roles)[k], r) == 0;
        if (!dup)
            snprintf((*roles)[(*n)++], STORE_ROLE_MAX, "%s", r);
    }
    srv_roles_sort(*roles, *n);
    rc = SRV_OK;
out:
    if (rc != SRV_OK) {
        free(*roles);
        *roles = NULL;
        *n = 0;
    }
    return rc;
}

int srv_roles_parse_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                             char (**roles)[STORE_ROLE_MAX], size_t *n)
{
    static const char *const fields[] = {"roles", NULL};
    json_t *body = NULL;
    *roles = NULL;
    *n = 0;
    if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK)
        return SRV_ERESPONDED;
    int rc = srv_roles_json_or_error(rq, caller, json_object_get(body, "roles"), roles, n);
    json_decref(body);
    return rc;
}

static int holds_idp(char (*roles)[STORE_ROLE_MAX], size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strncmp(roles[i], "idp:", 4) == 0)
            return 1;
    return 0;
}

int srv_admin_guard_user(struct store_txn *txn, const struct srv_admin_caller *caller,
                         const char *user_id)
{
    char(*roles)[STORE_ROLE_MAX] = NULL;
    size_t n = 0;
    if (caller->is_admin)
        return STORE_OK;
    int rc = srv_effective_roles(txn, "user", user_id, &roles, &n);
    if (rc == STORE_OK && holds_idp(roles, n))
        rc = SRV_TXN_FORBIDDEN;
    free(roles);
    return rc == STORE_NOTFOUND || rc == STORE_EINVAL ? STORE_OK : rc;
}

int srv_admin_guard_team(const struct srv_admin_caller *caller, const struct store_team *team)
{
    return caller->is_admin || !holds_idp(team->roles, team->nroles) ? STORE_OK : SRV_TXN_FORBIDDEN;
}

void srv_reply_store_error(struct srv_request *rq, int rc, const char *what)
{
    if (rc == SRV_TXN_FORBIDDEN)
        srv_reply_problem(rq, 403,
                          "only idp:admin may act on a %s that holds or grants an idp:* "
                          "role",
                          what);
    else if (rc == STORE_NOTFOUND)
        srv_reply_problem(rq, 404, "no such %s", what);
    else if (rc == STORE_EXISTS)
        srv_reply_problem(rq, 409, "the %s conflicts with an existing one", what);
    else if (rc == STORE_EINVAL)
        srv_reply_problem(rq, 400, "the %s is not valid", what);
    else
        srv_reply_store_failure(rq, rc, "the store failed; nothing changed");
}
