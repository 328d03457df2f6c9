/* /admin/v1/service-accounts…: service accounts, their secrets and access lists. Reads need an
 * idp:* role (idp:admin, idp:user-admin, idp:auditor); changes need idp:admin. Every change is
 * one write transaction with its audit event, and no event ever holds a secret.
 *
 * Secrets (DESIGN.md §6) are made on a worker (Argon2id) and shown once, in the answer that
 * creates them. An account holds at most two live secrets, for rotation without downtime; the
 * limit is checked inside the write transaction, so two concurrent requests cannot make a
 * third. Disabling or deleting an account, or deleting a secret, also clears the verified-secret
 * cache once committed (the token endpoint re-reads the account and its secrets on every request
 * anyway, so the change takes effect at once). */
#define LOG_MODULE "admin"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

#define LIVE_SECRETS_MAX 2
#define COMMENT_MAX 256 /* bytes of an access-list comment */

static const char *const no_store[] = {"Cache-Control", "no-store", NULL};
static const char *const no_filters[] = {NULL};

/* ---- JSON views ---- */

static json_t *sa_json(const struct store_service_account *sa)
{
    json_t *roles = json_array();
    for (size_t i = 0; i < sa->nroles; i++)
        json_array_append_new(roles, json_string(sa->roles[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:I, s:I}", "id", sa->id, "client_id", sa->id,
                     "name", sa->name, "description", sa->description, "disabled", sa->disabled,
                     "roles", roles, "created_at", (json_int_t)sa->created_at, "updated_at",
                     (json_int_t)sa->updated_at);
}

/* A secret's metadata: never the secret or its hash. */
static json_t *secret_json(const struct store_secret *sec, int64_t now)
{
    json_t *j = json_pack("{s:s, s:I, s:I, s:s, s:b}", "id", sec->id, "created_at",
                          (json_int_t)sec->created_at, "expires_at", (json_int_t)sec->expires_at,
                          "masked", sec->masked, "expired", sec->expires_at <= now);
    if (j)
        json_object_set_new(j, "last_used_at",
                            sec->last_used_at ? json_integer(sec->last_used_at) : json_null());
    return j;
}

static json_t *acl_json(const struct store_service_account *sa)
{
    json_t *entries = json_array();
    for (size_t i = 0; i < sa->nacl; i++)
        json_array_append_new(entries, json_pack("{s:s, s:s}", "cidr", sa->acl[i].cidr, "comment",
                                                 sa->acl[i].comment));
    return json_pack("{s:o}", "entries", entries);
}

/* ---- shared parsing ---- */

/* Member name as hours of validity, SRV_SECRET_HOURS_MIN..MAX; *out = the default when absent. */
static int hours_or_error(struct srv_request *rq, json_t *obj, const char *name, int64_t *out)
{
    json_t *v = json_object_get(obj, name);
    *out = SRV_SECRET_HOURS_DEFAULT;
    if (!v || json_is_null(v))
        return SRV_OK;
    if (!json_is_integer(v) || json_integer_value(v) < SRV_SECRET_HOURS_MIN ||
        json_integer_value(v) > SRV_SECRET_HOURS_MAX) {
        srv_reply_problem(rq, 400, "%s must be an integer from %d to %d", name,
                          SRV_SECRET_HOURS_MIN, SRV_SECRET_HOURS_MAX);
        return SRV_ERESPONDED;
    }
    *out = json_integer_value(v);
    return SRV_OK;
}

/* "description": 0..1024 bytes of text (may be empty, to clear it); *out borrowed, NULL when
 * absent. */
static int description_or_error(struct srv_request *rq, json_t *obj, const char **out)
{
    json_t *v = json_object_get(obj, "description");
    *out = NULL;
    if (!v || json_is_null(v))
        return SRV_OK;
    if (!json_is_string(v) || json_string_length(v) >= STORE_TEXT_MAX ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        srv_reply_problem(rq, 400, "description must be a string of at most %d bytes",
                          STORE_TEXT_MAX - 1);
        return SRV_ERESPONDED;
    }
    *out = json_string_value(v);
    return SRV_OK;
}

static int name_or_error(struct srv_request *rq, json_t *obj, int required, const char **out)
{
    if (srv_json_string_or_error(rq, obj, "name", required, STORE_NAME_MAX - 1, out) != SRV_OK)
        return SRV_ERESPONDED;
    if (*out && !srv_name_valid(*out)) {
        srv_reply_problem(rq, 400, "name must be 1 to 256 bytes of text");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

/* An id from the path that is not well formed cannot exist. */
static int not_found_if_invalid(int rc)
{
    return rc == STORE_EINVAL ? STORE_NOTFOUND : rc;
}

/* How many of secs[0..n) are live (expire after now). */
static size_t live_count(const struct store_secret *secs, size_t n, int64_t now)
{
    size_t live = 0;
    for (size_t i = 0; i < n; i++)
        live += secs[i].expires_at > now;
    return live;
}

/* ---- list and get ---- */

struct list_args {
    struct srv_admin_page page;
    struct store_service_account *items;
};

static int list_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct list_args *a = arg;
    store_sa_list_free(a->items, page->n);
    a->items = NULL;
    page->n = 0;
    int rc = store_sa_list(txn, page->after, page->limit, &a->items, &page->n);
    snprintf(page->next, sizeof page->next, "%s",
             rc == STORE_OK && page->n == page->limit ? a->items[page->n - 1].id : "");
    return rc;
}

static json_t *list_item(const void *arg, size_t i)
{
    const struct list_args *a = arg;
    return sa_json(&a->items[i]);
}

static const struct srv_admin_list accounts = {no_filters, "service account list", list_walk,
                                               list_item};

void srv_admin_sa_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct list_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &accounts, &a.page) != SRV_OK)
        return;
    if (srv_admin_list_walk_or_error(rq, &accounts, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &accounts, &a.page, &a);
    store_sa_list_free(a.items, a.page.n);
}

struct get_args {
    const char *id;
    struct store_service_account sa;
    struct store_secret secs[STORE_SECRETS_MAX]; /* with_secrets */
    size_t nsecs;
    int with_secrets;
};

static int get_txn(struct store_txn *txn, void *arg)
{
    struct get_args *g = arg;
    store_service_account_clear(&g->sa);
    g->nsecs = 0;
    int rc = not_found_if_invalid(store_sa_get(txn, g->id, &g->sa));
    if (rc == STORE_OK && g->with_secrets)
        rc = store_secret_list(txn, g->id, g->secs, STORE_SECRETS_MAX, &g->nsecs);
    return rc;
}

/* Reads the account of path parameter 0 (and its secrets) for a read route; answers 404 or 503
 * itself. The caller clears g->sa and wipes g->secs. */
static int get_or_error(struct srv_request *rq, struct get_args *g, char id[STORE_ID_MAX])
{
    struct srv_admin_caller caller;
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return SRV_ERESPONDED;
    srv_rq_param(rq, 0, id, STORE_ID_MAX);
    g->id = id;
    return srv_admin_read_or_error(rq, "service account", get_txn, g);
}

void srv_admin_sa_get(struct srv_request *rq)
{
    struct get_args g = {0};
    char id[STORE_ID_MAX];
    if (get_or_error(rq, &g, id) == SRV_OK)
        srv_reply_json(rq, 200, sa_json(&g.sa), NULL);
    store_service_account_clear(&g.sa);
}

void srv_admin_sa_secrets(struct srv_request *rq)
{
    struct get_args *g = calloc(1, sizeof *g);
    char id[STORE_ID_MAX];
    if (!g) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    g->with_secrets = 1;
    if (get_or_error(rq, g, id) == SRV_OK) {
        int64_t now = srv_now();
        json_t *items = json_array();
        for (size_t i = 0; i < g->nsecs; i++)
            json_array_append_new(items, secret_json(&g->secs[i], now));
        srv_reply_json(rq, 200, json_pack("{s:o}", "items", items), NULL);
    }
    store_service_account_clear(&g->sa);
    crypto_wipe(g->secs, sizeof g->secs);
    free(g);
}

void srv_admin_sa_acl_get(struct srv_request *rq)
{
    struct get_args g = {0};
    char id[STORE_ID_MAX];
    if (get_or_error(rq, &g, id) == SRV_OK)
        srv_reply_json(rq, 200, acl_json(&g.sa), NULL);
    store_service_account_clear(&g.sa);
}

/* ---- create: the account and its first secret ---- */

struct create {
    struct srv_admin_caller caller;
    struct store_service_account sa;
    struct store_secret secret;
    char plain[SRV_SECRET_LEN]; /* shown once, wiped with the state */
    int64_t hours;
    int made;
};

static void create_free(void *state)
{
    struct create *c = state;
    if (!c)
        return;
    store_service_account_clear(&c->sa);
    crypto_wipe(c, sizeof *c);
    free(c);
}

struct create_args {
    struct srv_request *rq;
    struct create *c;
};

static int create_txn(struct store_txn *txn, void *arg)
{
    struct create_args *a = arg;
    char detail[80];
    int rc = store_sa_insert(txn, &a->c->sa);
    if (rc == STORE_OK)
        rc = store_secret_insert(txn, &a->c->secret);
    snprintf(detail, sizeof detail, "first secret %s", a->c->secret.id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.service_account.create", a->c->caller.id, a->c->sa.id,
                       srv_rq_client_ip(a->rq), 1, detail);
    return rc;
}

static void create_work(struct srv_request *rq)
{
    struct create *c = srv_rq_state(rq);
    c->made = srv_secret_new(&srv_rq_ctx(rq)->cfg->argon2, c->sa.id, c->hours, &c->secret,
                             c->plain) == SRV_OK;
}

static void create_store(struct srv_request *rq)
{
    struct create *c = srv_rq_state(rq);
    struct create_args a = {rq, c};
    if (!c->made) {
        srv_reply_problem(rq, 500, "no secret could be made");
        return;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, create_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, "service account");
        return;
    }
    json_t *body = sa_json(&c->sa);
    json_t *secret = json_pack("{s:s, s:I, s:I, s:s}", "id", c->secret.id, "created_at",
                               (json_int_t)c->secret.created_at, "expires_at",
                               (json_int_t)c->secret.expires_at, "masked", c->secret.masked);
    if (body) {
        json_object_set_new(body, "client_secret", json_string(c->plain));
        json_object_set_new(body, "secret", secret);
    } else {
        json_decref(secret);
    }
    srv_reply_json(rq, 201, body, no_store);
}

void srv_admin_sa_create(struct srv_request *rq)
{
    static const char *const fields[] = {"name", "description", "roles", "secret_expires_in_hours",
                                         NULL};
    const char *name, *description;
    json_t *body = NULL, *roles;
    struct create *c = srv_admin_state_new_or_error(rq, sizeof *c, create_free);
    if (!c)
        return;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &c->caller) != SRV_OK ||
        srv_json_parse_or_error(rq, fields, &body) != SRV_OK)
        return;
    if (name_or_error(rq, body, 1, &name) != SRV_OK ||
        description_or_error(rq, body, &description) != SRV_OK ||
        hours_or_error(rq, body, "secret_expires_in_hours", &c->hours) != SRV_OK)
        goto out;
    roles = json_object_get(body, "roles");
    if (roles && !json_is_null(roles) &&
        srv_roles_json_or_error(rq, &c->caller, roles, &c->sa.roles, &c->sa.nroles) != SRV_OK)
        goto out;
    if (crypto_id_new("sa", c->sa.id, sizeof c->sa.id) != CRYPTO_OK) {
        srv_reply_problem(rq, 500, "no id could be made");
        goto out;
    }
    snprintf(c->sa.name, sizeof c->sa.name, "%s", name);
    snprintf(c->sa.description, sizeof c->sa.description, "%s", description ? description : "");
    c->sa.created_at = c->sa.updated_at = srv_now();
    srv_defer(rq, create_work, create_store);
out:
    json_decref(body);
}

/* ---- patch and delete ---- */

struct change_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
    int remove;
    const char *name, *description;
    int disabled;                    /* -1 = unchanged */
    struct store_service_account sa; /* patch: the record as stored */
};

static int change_txn(struct store_txn *txn, void *arg)
{
    struct change_args *a = arg;
    char detail[64] = "";
    int rc;
    store_service_account_clear(&a->sa);
    if (a->remove) {
        rc = not_found_if_invalid(store_sa_delete(txn, a->id));
        if (rc == STORE_OK)
            rc = srv_audit(txn, "admin.service_account.delete", a->caller->id, a->id,
                           srv_rq_client_ip(a->rq), 1, NULL);
        return rc;
    }
    rc = not_found_if_invalid(store_sa_get(txn, a->id, &a->sa));
    if (rc != STORE_OK)
        return rc;
    if (a->name)
        snprintf(a->sa.name, sizeof a->sa.name, "%s", a->name);
    if (a->description)
        snprintf(a->sa.description, sizeof a->sa.description, "%s", a->description);
    if (a->disabled >= 0) {
        if (a->sa.disabled != a->disabled)
            snprintf(detail, sizeof detail, "%s", a->disabled ? "disabled" : "enabled");
        a->sa.disabled = a->disabled;
    }
    a->sa.updated_at = srv_now();
    rc = store_sa_update(txn, &a->sa);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.service_account.update", a->caller->id, a->id,
                       srv_rq_client_ip(a->rq), 1, detail);
    return rc;
}

static void change(struct srv_request *rq, int remove)
{
    static const char *const fields[] = {"name", "description", "disabled", NULL};
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    json_t *body = NULL;
    struct change_args a = {
        .rq = rq, .caller = &caller, .id = id, .remove = remove, .disabled = -1};
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    if (!remove) {
        if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK)
            return;
        if (name_or_error(rq, body, 0, &a.name) != SRV_OK ||
            description_or_error(rq, body, &a.description) != SRV_OK)
            goto out;
        json_t *d = json_object_get(body, "disabled");
        if (d && !json_is_boolean(d)) {
            srv_reply_problem(rq, 400, "disabled must be true or false");
            goto out;
        }
        if (d)
            a.disabled = json_is_true(d);
    }
    int rc = store_write(srv_rq_ctx(rq)->store, change_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, "service account");
        goto out;
    }
    /* After the commit: a request that raced the write re-reads the account and fails. */
    if (remove || a.sa.disabled)
        srv_secret_cache_forget(srv_rq_ctx(rq)->secret_cache, id);
    if (remove)
        srv_reply(rq, 204, NULL, "", 0, NULL);
    else
        srv_reply_json(rq, 200, sa_json(&a.sa), NULL);
out:
    store_service_account_clear(&a.sa);
    json_decref(body);
}

void srv_admin_sa_patch(struct srv_request *rq)
{
    change(rq, 0);
}

void srv_admin_sa_delete(struct srv_request *rq)
{
    change(rq, 1);
}

/* ---- secrets: add and delete ---- */

struct secret_add {
    struct srv_admin_caller caller;
    char sa_id[STORE_ID_MAX];
    int64_t hours;
    struct store_secret rec;
    char plain[SRV_SECRET_LEN]; /* shown once, wiped with the state */
    int made;
    int full; /* the account holds LIVE_SECRETS_MAX live secrets */
    struct srv_request *rq;
};

static void secret_add_free(void *state)
{
    struct secret_add *s = state;
    if (!s)
        return;
    crypto_wipe(s, sizeof *s);
    free(s);
}

/* Before Argon2 (a read) and again in the write: the account exists and holds fewer than two
 * live secrets. With write, makes room for the record when the account holds STORE_SECRETS_MAX
 * secrets by deleting expired ones, oldest first (they can never be used again), then inserts
 * it with its audit event. Re-runnable. */
static int secret_add_txn(struct store_txn *txn, void *arg, int write)
{
    struct secret_add *s = arg;
    struct store_service_account sa = {0};
    struct store_secret secs[STORE_SECRETS_MAX];
    size_t n = 0;
    int64_t now = srv_now();
    int rc = not_found_if_invalid(store_sa_get(txn, s->sa_id, &sa));
    store_service_account_clear(&sa);
    if (rc == STORE_OK)
        rc = store_secret_list(txn, s->sa_id, secs, STORE_SECRETS_MAX, &n);
    if (rc != STORE_OK)
        goto out;
    s->full = live_count(secs, n, now) >= LIVE_SECRETS_MAX;
    if (s->full) {
        rc = STORE_EXISTS; /* abort: nothing is written */
        goto out;
    }
    if (!write)
        goto out;
    size_t held = n;
    for (size_t i = 0; i < n && rc == STORE_OK && held >= STORE_SECRETS_MAX; i++)
        if (secs[i].expires_at <= now) {
            rc = store_secret_delete(txn, s->sa_id, secs[i].id);
            held--;
        }
    if (rc == STORE_OK)
        rc = store_secret_insert(txn, &s->rec);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.secret.create", s->caller.id, s->sa_id, srv_rq_client_ip(s->rq),
                       1, s->rec.id);
out:
    crypto_wipe(secs, sizeof secs);
    return rc;
}

static int secret_check_txn(struct store_txn *txn, void *arg)
{
    return secret_add_txn(txn, arg, 0);
}

static int secret_write_txn(struct store_txn *txn, void *arg)
{
    return secret_add_txn(txn, arg, 1);
}

static void secret_add_error(struct srv_request *rq, const struct secret_add *s, int rc)
{
    if (s->full)
        srv_reply_problem(rq, 409,
                          "the service account already holds %d live secrets; delete one first",
                          LIVE_SECRETS_MAX);
    else
        srv_reply_store_error(rq, rc, "service account");
}

static void secret_add_work(struct srv_request *rq)
{
    struct secret_add *s = srv_rq_state(rq);
    s->made = srv_secret_new(&srv_rq_ctx(rq)->cfg->argon2, s->sa_id, s->hours, &s->rec, s->plain) ==
              SRV_OK;
}

static void secret_add_store(struct srv_request *rq)
{
    struct secret_add *s = srv_rq_state(rq);
    s->rq = rq;
    if (!s->made) {
        srv_reply_problem(rq, 500, "no secret could be made");
        return;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, secret_write_txn, s);
    if (rc != STORE_OK) {
        secret_add_error(rq, s, rc);
        return;
    }
    json_t *body = json_pack("{s:s, s:s, s:I, s:I, s:s}", "id", s->rec.id, "client_secret",
                             s->plain, "created_at", (json_int_t)s->rec.created_at, "expires_at",
                             (json_int_t)s->rec.expires_at, "masked", s->rec.masked);
    srv_reply_json(rq, 201, body, no_store);
}

void srv_admin_sa_secret_create(struct srv_request *rq)
{
    static const char *const fields[] = {"expires_in_hours", NULL};
    json_t *body = NULL;
    struct secret_add *s = srv_admin_state_new_or_error(rq, sizeof *s, secret_add_free);
    if (!s)
        return;
    s->rq = rq;
    s->hours = SRV_SECRET_HOURS_DEFAULT;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &s->caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, s->sa_id, sizeof s->sa_id);
    /* The body is optional: none at all means the defaults. */
    if (srv_json_optional_or_error(rq, fields, &body) != SRV_OK)
        return;
    if (body && hours_or_error(rq, body, "expires_in_hours", &s->hours) != SRV_OK)
        goto out;
    /* Refuse what the write would refuse before spending an Argon2 run on it. */
    int rc = store_read(srv_rq_ctx(rq)->store, secret_check_txn, s);
    if (rc != STORE_OK) {
        secret_add_error(rq, s, rc);
        goto out;
    }
    srv_defer(rq, secret_add_work, secret_add_store);
out:
    json_decref(body);
}

struct secret_del_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *sa_id, *secret_id;
    int no_account;
};

static int secret_del_txn(struct store_txn *txn, void *arg)
{
    struct secret_del_args *a = arg;
    struct store_service_account sa = {0};
    int rc = not_found_if_invalid(store_sa_get(txn, a->sa_id, &sa));
    store_service_account_clear(&sa);
    a->no_account = rc == STORE_NOTFOUND;
    if (rc == STORE_OK)
        rc = not_found_if_invalid(store_secret_delete(txn, a->sa_id, a->secret_id));
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.secret.delete", a->caller->id, a->sa_id, srv_rq_client_ip(a->rq),
                       1, a->secret_id);
    return rc;
}

void srv_admin_sa_secret_delete(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char sa_id[STORE_ID_MAX], secret_id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, sa_id, sizeof sa_id);
    srv_rq_param(rq, 1, secret_id, sizeof secret_id);
    struct secret_del_args a = {rq, &caller, sa_id, secret_id, 0};
    int rc = store_write(srv_rq_ctx(rq)->store, secret_del_txn, &a);
    if (rc != STORE_OK) {
        srv_reply_store_error(rq, rc, a.no_account ? "service account" : "secret");
        return;
    }
    srv_secret_cache_forget(srv_rq_ctx(rq)->secret_cache, sa_id);
    srv_reply(rq, 204, NULL, "", 0, NULL);
}

/* ---- access list ---- */

/* Parses {"entries":[{"cidr","comment"}…]} into acl[0..*n) with each CIDR in canonical form.
 * acl holds STORE_ACL_MAX entries. */
static int acl_parse_or_error(struct srv_request *rq, struct store_acl_entry *acl, size_t *n)
{
    static const char *const fields[] = {"entries", NULL};
    json_t *body = NULL, *entries, *e;
    size_t i;
    int rc = SRV_ERESPONDED;
    *n = 0;
    if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK)
        return SRV_ERESPONDED;
    entries = json_object_get(body, "entries");
    if (!json_is_array(entries)) {
        srv_reply_problem(rq, 400, "entries must be an array of {\"cidr\",\"comment\"} objects");
        goto out;
    }
    if (json_array_size(entries) > STORE_ACL_MAX) {
        srv_reply_problem(rq, 400, "at most %d access-list entries", STORE_ACL_MAX);
        goto out;
    }
    json_array_foreach(entries, i, e)
    {
        const char *key, *why = NULL, *text, *comment = "";
        json_t *v, *cidr = json_object_get(e, "cidr"), *cm = json_object_get(e, "comment");
        struct srv_cidr parsed;
        if (!json_is_object(e)) {
            srv_reply_problem(rq, 400, "entries[%zu] must be an object", i);
            goto out;
        }
        json_object_foreach(e, key, v)
        {
            if (strcmp(key, "cidr") != 0 && strcmp(key, "comment") != 0) {
                srv_reply_problem(rq, 400, "entries[%zu]: unknown member: %.64s", i, key);
                goto out;
            }
        }
        text = json_string_value(cidr);
        if (!text || strlen(text) != json_string_length(cidr)) {
            srv_reply_problem(rq, 400, "entries[%zu].cidr is required and must be a string", i);
            goto out;
        }
        if (!srv_cidr_parse(text, &parsed, &why)) {
            srv_reply_problem(rq, 400, "entries[%zu].cidr \"%.64s\": %s", i, text, why);
            goto out;
        }
        if (cm && !json_is_null(cm)) {
            comment = json_string_value(cm);
            int ok = comment && strlen(comment) == json_string_length(cm) &&
                     strlen(comment) <= COMMENT_MAX;
            for (const unsigned char *p = (const unsigned char *)comment; ok && *p; p++)
                ok = *p >= 0x20 && *p != 0x7f;
            if (!ok) {
                srv_reply_problem(rq, 400,
                                  "entries[%zu].comment must be text of at most %d bytes without "
                                  "control characters",
                                  i, COMMENT_MAX);
                goto out;
            }
        }
        srv_cidr_format(&parsed, acl[i].cidr);
        snprintf(acl[i].comment, sizeof acl[i].comment, "%s", comment);
    }
    *n = json_array_size(entries);
    rc = SRV_OK;
out:
    json_decref(body);
    return rc;
}

struct acl_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
    struct store_acl_entry *acl;
    size_t n;
    struct store_service_account sa; /* as stored after the write */
};

static int acl_txn(struct store_txn *txn, void *arg)
{
    struct acl_args *a = arg;
    char detail[32];
    store_service_account_clear(&a->sa);
    int rc = not_found_if_invalid(store_sa_get(txn, a->id, &a->sa));
    if (rc != STORE_OK)
        return rc;
    free(a->sa.acl);
    a->sa.acl = NULL;
    a->sa.nacl = a->n;
    if (a->n) {
        a->sa.acl = calloc(a->n, sizeof *a->sa.acl);
        if (!a->sa.acl)
            return STORE_ENOMEM;
        memcpy(a->sa.acl, a->acl, a->n * sizeof *a->acl);
    }
    a->sa.updated_at = srv_now();
    rc = store_sa_update(txn, &a->sa);
    snprintf(detail, sizeof detail, "%zu entries", a->n);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.access_list.update", a->caller->id, a->id,
                       srv_rq_client_ip(a->rq), 1, detail);
    return rc;
}

void srv_admin_sa_acl_put(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    struct acl_args a = {.rq = rq, .caller = &caller, .id = id};
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    a.acl = calloc(STORE_ACL_MAX, sizeof *a.acl);
    if (!a.acl) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    if (acl_parse_or_error(rq, a.acl, &a.n) != SRV_OK)
        goto out;
    int rc = store_write(srv_rq_ctx(rq)->store, acl_txn, &a);
    if (rc != STORE_OK)
        srv_reply_store_error(rq, rc, "service account");
    else
        srv_reply_json(rq, 200, acl_json(&a.sa), NULL);
out:
    store_service_account_clear(&a.sa);
    free(a.acl);
}
