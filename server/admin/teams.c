/* /admin/v1/teams…: teams and their members, for idp:admin and idp:user-admin (read: also
 * idp:auditor). Every change is one write transaction with its audit event. A team's role grants
 * are replaced through /admin/v1/teams/{id}/roles (roles.c); members receive them in their
 * next token (srv_effective_roles reads the teams when a token is issued). */
#define LOG_MODULE "admin"

#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

#define SCAN_MAX 5000 /* teams looked at by one filtered list request */

static const char *const list_filters[] = {"scope", NULL};

static json_t *team_json(const struct store_team *t)
{
    json_t *roles = json_array();
    for (size_t i = 0; i < t->nroles; i++)
        json_array_append_new(roles, json_string(t->roles[i]));
    return json_pack("{s:s, s:s, s:s, s:s, s:o, s:I, s:I}", "id", t->id, "name", t->name, "scope",
                     t->scope, "description", t->description, "roles", roles, "created_at",
                     (json_int_t)t->created_at, "updated_at", (json_int_t)t->updated_at);
}

/* Reads member name as a string of 0..max bytes without NUL (absent or null: *out = NULL).
 * Unlike srv_json_string_or_error, "" is a value: the global scope, no description. */
static int text_or_error(struct srv_request *rq, json_t *obj, const char *name, size_t max,
                         const char **out)
{
    json_t *v = json_object_get(obj, name);
    *out = NULL;
    if (!v || json_is_null(v))
        return SRV_OK;
    if (!json_is_string(v) || json_string_length(v) > max ||
        strlen(json_string_value(v)) != json_string_length(v)) {
        srv_reply_problem(rq, 400, "%s must be a string of at most %zu bytes", name, max);
        return SRV_ERESPONDED;
    }
    *out = json_string_value(v);
    return SRV_OK;
}

/* ---- list ---- */

struct list_args {
    struct srv_admin_page page;
    const char *scope;        /* NULL: every team */
    struct store_team *items; /* the matching teams, at most limit */
};

/* Walks from the cursor with page->next as the last team looked at; it stays the cursor when
 * teams after it may match. */
static int list_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct list_args *a = arg;
    struct store_team *batch = NULL;
    size_t nbatch = 0, scanned = 0;
    int rc = STORE_OK, more = 0;
    store_team_list_free(a->items, page->n);
    page->n = 0;
    a->items = calloc(page->limit, sizeof *a->items);
    if (!a->items)
        return STORE_ENOMEM;
    snprintf(page->next, sizeof page->next, "%s", page->after);
    /* Without a filter this is one batch; with one, batches until the page is full, the teams
     * run out, or SCAN_MAX teams were looked at (then a short page still has a next cursor). */
    for (;;) {
        size_t want = page->limit - page->n;
        rc = store_team_list(txn, page->next, want, &batch, &nbatch);
        if (rc != STORE_OK)
            break;
        for (size_t i = 0; i < nbatch; i++) {
            snprintf(page->next, sizeof page->next, "%s", batch[i].id);
            if (a->scope && strcmp(batch[i].scope, a->scope) != 0)
                continue;
            a->items[page->n++] = batch[i];
            memset(&batch[i], 0, sizeof batch[i]); /* moved */
        }
        store_team_list_free(batch, nbatch);
        batch = NULL;
        scanned += nbatch;
        more = nbatch == want;
        if (!more || page->n == page->limit || scanned >= SCAN_MAX)
            break;
    }
    if (!more)
        page->next[0] = '\0';
    return rc;
}

static json_t *list_item(const void *arg, size_t i)
{
    const struct list_args *a = arg;
    return team_json(&a->items[i]);
}

static const struct srv_admin_list teams = {list_filters, "team list", list_walk, list_item};

void srv_admin_teams_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct list_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &teams, &a.page) != SRV_OK)
        return;
    a.scope = srv_rq_query(rq, "scope");
    if (srv_admin_list_walk_or_error(rq, &teams, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &teams, &a.page, &a);
    store_team_list_free(a.items, a.page.n);
}

/* ---- get ---- */

struct get_args {
    const char *id;
    struct store_team team;
};

static int get_txn(struct store_txn *txn, void *arg)
{
    struct get_args *g = arg;
    store_team_clear(&g->team);
    return store_team_get(txn, g->id, &g->team);
}

void srv_admin_teams_get(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct get_args g = {.id = id};
    if (srv_admin_read_or_error(rq, "team", get_txn, &g) == SRV_OK)
        srv_reply_json(rq, 200, team_json(&g.team), NULL);
    store_team_clear(&g.team);
}

/* ---- create and patch ---- */

struct edit {
    struct srv_request *rq;
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX]; /* made by create */
    int create;
    json_t *body;
    const char *name, *scope, *description; /* borrowed from body; NULL: unchanged */
    char (*roles)[STORE_ROLE_MAX];          /* create only */
    size_t nroles;
    struct store_team team; /* the team as written, for the answer */
};

/* Parses and checks the members create and patch share. */
static int parse_edit_or_error(struct srv_request *rq, struct edit *e)
{
    static const char *const create_fields[] = {"name", "scope", "description", "roles", NULL};
    static const char *const patch_fields[] = {"name", "scope", "description", NULL};
    if (srv_json_parse_or_error(rq, e->create ? create_fields : patch_fields, &e->body) != SRV_OK ||
        srv_json_string_or_error(rq, e->body, "name", e->create, STORE_NAME_MAX - 1, &e->name) ||
        text_or_error(rq, e->body, "scope", STORE_NAME_MAX - 1, &e->scope) ||
        text_or_error(rq, e->body, "description", STORE_TEXT_MAX - 1, &e->description))
        return SRV_ERESPONDED;
    if (e->name && !srv_name_valid(e->name)) {
        srv_reply_problem(rq, 400,
                          "name must be 1 to 256 bytes of text without control characters");
        return SRV_ERESPONDED;
    }
    if (e->scope && e->scope[0] && !srv_name_valid(e->scope)) {
        srv_reply_problem(rq, 400,
                          "scope must be 0 to 256 bytes of text without control characters");
        return SRV_ERESPONDED;
    }
    json_t *roles = json_object_get(e->body, "roles");
    if (e->create && roles && !json_is_null(roles) &&
        srv_roles_json_or_error(rq, &e->caller, roles, &e->roles, &e->nroles) != SRV_OK)
        return SRV_ERESPONDED;
    return SRV_OK;
}

static int edit_txn(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_team *t = &e->team;
    char detail[64] = "";
    int64_t now = srv_now();
    int rc;
    store_team_clear(t);
    if (e->create) {
        snprintf(t->id, sizeof t->id, "%s", e->id);
        t->created_at = now;
        if (e->nroles) {
            t->roles = malloc(e->nroles * sizeof *t->roles);
            if (!t->roles)
                return STORE_ENOMEM;
            memcpy(t->roles, e->roles, e->nroles * sizeof *t->roles);
            t->nroles = e->nroles;
        }
    } else if ((rc = store_team_get(txn, e->id, t)) != STORE_OK ||
               (rc = srv_admin_guard_team(&e->caller, t)) != STORE_OK) {
        return rc;
    }
    if (e->name)
        snprintf(t->name, sizeof t->name, "%s", e->name);
    if (e->scope)
        snprintf(t->scope, sizeof t->scope, "%s", e->scope);
    if (e->description)
        snprintf(t->description, sizeof t->description, "%s", e->description);
    t->updated_at = now;
    if (!e->create)
        snprintf(detail, sizeof detail, "changed:%s%s%s", e->name ? " name" : "",
                 e->scope ? " scope" : "", e->description ? " description" : "");
    rc = e->create ? store_team_insert(txn, t) : store_team_update(txn, t);
    if (rc == STORE_OK)
        rc = srv_audit(txn, e->create ? "admin.team.create" : "admin.team.update", e->caller.id,
                       e->id, srv_rq_client_ip(e->rq), 1, e->create ? NULL : detail);
    return rc;
}

static void edit_team(struct srv_request *rq, int create)
{
    struct edit e = {.rq = rq, .create = create};
    if (srv_admin_caller_or_error(rq, SRV_NEED_USERS_WRITE, &e.caller) != SRV_OK ||
        parse_edit_or_error(rq, &e) != SRV_OK)
        goto out;
    if (create) {
        if (crypto_id_new("team", e.id, sizeof e.id) != CRYPTO_OK) {
            srv_reply_problem(rq, 500, "no id could be made");
            goto out;
        }
    } else {
        srv_rq_param(rq, 0, e.id, sizeof e.id);
    }
    int rc = store_write(srv_rq_ctx(rq)->store, edit_txn, &e);
    if (rc == STORE_EINVAL && !create) /* an id that cannot exist */
        rc = STORE_NOTFOUND;
    if (rc == STORE_EXISTS)
        srv_reply_problem(rq, 409, "a team of that name (ignoring case) exists in %s%s%s",
                          e.team.scope[0] ? "scope \"" : "the global scope", e.team.scope,
                          e.team.scope[0] ? "\"" : "");
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc, "team");
    else
        srv_reply_json(rq, create ? 201 : 200, team_json(&e.team), NULL);
out:
    store_team_clear(&e.team);
    free(e.roles);
    json_decref(e.body);
}

void srv_admin_teams_create(struct srv_request *rq)
{
    edit_team(rq, 1);
}

void srv_admin_teams_patch(struct srv_request *rq)
{
    edit_team(rq, 0);
}

/* ---- delete, member add and remove ---- */

enum op { OP_DELETE, OP_MEMBER_ADD, OP_MEMBER_REMOVE };

struct op_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    enum op op;
    const char *team_id, *user_id;
    const char *missing; /* what a STORE_NOTFOUND names */
};

static int op_txn(struct store_txn *txn, void *arg)
{
    struct op_args *a = arg;
    struct store_team t = {0};
    struct store_user u = {0};
    char detail[STORE_ID_MAX + 8] = "";
    const char *type = NULL;
    int rc;
    a->missing = "team";
    rc = store_team_get(txn, a->team_id, &t);
    if (rc == STORE_OK)
        rc = srv_admin_guard_team(a->caller, &t);
    if (rc == STORE_OK && a->op != OP_DELETE) {
        a->missing = "user";
        rc = srv_admin_guard_user(txn, a->caller, a->user_id);
        a->missing = "team";
    }
    if (rc != STORE_OK)
        goto out;
    switch (a->op) {
    case OP_DELETE:
        rc = store_team_delete(txn, a->team_id); /* and every membership in it */
        type = "admin.team.delete";
        break;
    case OP_MEMBER_ADD:
        a->missing = "user";
        rc = store_user_get(txn, a->user_id, &u);
        if (rc == STORE_EINVAL)
            rc = STORE_NOTFOUND;
        if (rc == STORE_OK)
            rc = store_member_add(txn, a->team_id, a->user_id); /* a member already: OK */
        type = "admin.team.member_add";
        break;
    case OP_MEMBER_REMOVE:
        a->missing = "member of this team";
        rc = store_member_remove(txn, a->team_id, a->user_id);
        if (rc == STORE_EINVAL)
            rc = STORE_NOTFOUND;
        type = "admin.team.member_remove";
        break;
    }
    if (a->op != OP_DELETE)
        snprintf(detail, sizeof detail, "user %s", a->user_id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, type, a->caller->id, a->team_id, srv_rq_client_ip(a->rq), 1,
                       detail[0] ? detail : NULL);
out:
    store_team_clear(&t);
    store_user_clear(&u);
    return rc;
}

static void team_op(struct srv_request *rq, enum op op)
{
    struct srv_admin_caller caller;
    char team_id[STORE_ID_MAX], user_id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_USERS_WRITE, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, team_id, sizeof team_id);
    srv_rq_param(rq, 1, user_id, sizeof user_id);
    struct op_args a = {rq, &caller, op, team_id, user_id, "team"};
    int rc = store_write(srv_rq_ctx(rq)->store, op_txn, &a);
    if (rc == STORE_EINVAL && strcmp(a.missing, "team") == 0) /* an id that cannot exist */
        rc = STORE_NOTFOUND;
    if (rc == STORE_EINVAL && op == OP_MEMBER_ADD)
        srv_reply_problem(rq, 409, "the user is already in %d teams, the most one user may join",
                          STORE_TEAMS_PER_USER_MAX);
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc, a.missing);
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
}

void srv_admin_teams_delete(struct srv_request *rq)
{
    team_op(rq, OP_DELETE);
}

void srv_admin_teams_member_put(struct srv_request *rq)
{
    team_op(rq, OP_MEMBER_ADD);
}

void srv_admin_teams_member_delete(struct srv_request *rq)
{
    team_op(rq, OP_MEMBER_REMOVE);
}

/* ---- members ---- */

struct member {
    char user_id[STORE_ID_MAX];
    char email[STORE_EMAIL_MAX];
    char name[STORE_NAME_MAX];
};

struct members_args {
    struct srv_admin_page page;
    const char *team_id;
    struct member *items;
};

static int members_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct members_args *a = arg;
    char(*ids)[STORE_ID_MAX] = NULL;
    size_t nids = 0;
    free(a->items);
    a->items = NULL;
    page->n = 0;
    page->next[0] = '\0';
    int rc = store_member_list(txn, a->team_id, page->after[0] ? page->after : NULL, page->limit,
                               &ids, &nids);
    if (rc == STORE_OK && nids) {
        a->items = calloc(nids, sizeof *a->items);
        if (!a->items)
            rc = STORE_ENOMEM;
    }
    for (size_t i = 0; rc == STORE_OK && i < nids; i++) {
        struct store_user u = {0};
        rc = store_user_get(txn, ids[i], &u);
        if (rc == STORE_NOTFOUND) { /* memberships go with the user; never expected */
            rc = STORE_OK;
            continue;
        }
        if (rc == STORE_OK) {
            struct member *m = &a->items[page->n++];
            snprintf(m->user_id, sizeof m->user_id, "%s", u.id);
            snprintf(m->email, sizeof m->email, "%s", u.email);
            snprintf(m->name, sizeof m->name, "%s", u.name);
        }
        store_user_clear(&u);
    }
    /* A full page may have more after its last member id. */
    if (rc == STORE_OK && nids == page->limit)
        snprintf(page->next, sizeof page->next, "%s", ids[nids - 1]);
    free(ids);
    return rc == STORE_EINVAL ? STORE_NOTFOUND : rc; /* a team id that cannot exist */
}

static json_t *member_item(const void *arg, size_t i)
{
    const struct member *m = &((const struct members_args *)arg)->items[i];
    return json_pack("{s:s, s:s?, s:s?}", "user_id", m->user_id, "email",
                     m->email[0] ? m->email : NULL, "name", m->name[0] ? m->name : NULL);
}

static const struct srv_admin_list members = {NULL, "team", members_walk, member_item};

void srv_admin_teams_members(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char team_id[STORE_ID_MAX];
    struct members_args a = {.team_id = team_id};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &members, &a.page) != SRV_OK)
        return;
    srv_rq_param(rq, 0, team_id, sizeof team_id);
    if (srv_admin_list_walk_or_error(rq, &members, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &members, &a.page, &a);
    free(a.items);
}
