/* /admin/v1/users…, /admin/v1/sessions/{sid}: users and their sessions, for idp:admin and
 * idp:user-admin (read: also idp:auditor). Every change is one write transaction with its audit
 * event; disabling a user ends its sessions in that same transaction. */
#define LOG_MODULE "admin"

#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

static const char *const list_filters[] = {"email", "status", NULL};

/* The user as the admin API shows it: the profile, direct roles, and (when given) identities. */
static json_t *user_json(const struct store_user *u, const struct store_identity *idns, size_t n)
{
    json_t *j = srv_user_json(u, idns, n);
    json_t *roles = json_array();
    for (size_t i = 0; i < u->nroles; i++)
        json_array_append_new(roles, json_string(u->roles[i]));
    if (j)
        json_object_set_new(j, "roles", roles);
    else
        json_decref(roles);
    return j;
}

/* ---- list ---- */

struct list_args {
    struct srv_admin_page page;
    struct store_user_filter filter;
    struct store_user *items;
};

static int list_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct list_args *a = arg;
    store_user_list_free(a->items, page->n);
    a->items = NULL;
    page->n = 0;
    int rc =
        store_user_search(txn, &a->filter, page->after, page->limit, 0, &a->items, &page->n, NULL);
    snprintf(page->next, sizeof page->next, "%s",
             rc == STORE_OK && page->n == page->limit ? a->items[page->n - 1].id : "");
    return rc;
}

static json_t *list_item(const void *arg, size_t i)
{
    const struct list_args *a = arg;
    return user_json(&a->items[i], NULL, 0);
}

static const struct srv_admin_list users = {list_filters, "user list", list_walk, list_item};

void srv_admin_users_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct list_args a = {.filter = {NULL, -1}};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &users, &a.page) != SRV_OK)
        return;
    const char *status = srv_rq_query(rq, "status");
    if (status && strcmp(status, "active") != 0 && strcmp(status, "disabled") != 0) {
        srv_reply_problem(rq, 400, "status must be active or disabled");
        return;
    }
    a.filter.status = !status ? -1 : strcmp(status, "active") == 0 ? 0 : 1;
    a.filter.email_prefix = srv_rq_query(rq, "email");
    if (srv_admin_list_walk_or_error(rq, &users, &a.page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &users, &a.page, &a);
    store_user_list_free(a.items, a.page.n);
}

/* ---- get ---- */

struct get_args {
    const char *id;
    struct store_user user;
    struct store_identity idns[STORE_IDENTITIES_MAX];
    size_t nidns;
    char (*teams)[STORE_ID_MAX];
    size_t nteams;
};

static int get_txn(struct store_txn *txn, void *arg)
{
    struct get_args *g = arg;
    store_user_clear(&g->user);
    free(g->teams);
    g->teams = NULL;
    int rc = store_user_get(txn, g->id, &g->user);
    if (rc == STORE_OK)
        rc = store_identity_list(txn, g->id, g->idns, STORE_IDENTITIES_MAX, &g->nidns);
    if (rc == STORE_OK)
        rc = store_user_teams(txn, g->id, &g->teams, &g->nteams);
    return rc;
}

/* Answers the user with identities and team ids (status 200, or code for a create). */
static void reply_user(struct srv_request *rq, const char *id, unsigned code)
{
    struct get_args *g = calloc(1, sizeof *g);
    if (!g) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    g->id = id;
    if (srv_admin_read_or_error(rq, "user", get_txn, g) == SRV_OK) {
        json_t *j = user_json(&g->user, g->idns, g->nidns);
        json_t *teams = json_array();
        for (size_t i = 0; i < g->nteams; i++)
            json_array_append_new(teams, json_string(g->teams[i]));
        json_object_set_new(j, "teams", teams);
        srv_reply_json(rq, code, j, NULL);
    }
    store_user_clear(&g->user);
    free(g->teams);
    crypto_wipe(g->idns, sizeof g->idns);
    free(g);
}

void srv_admin_users_get(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    reply_user(rq, id, 200);
}

/* ---- create and patch (both may set a password, hashed on a worker) ---- */

struct edit {
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX]; /* the user being edited; made by create */
    json_t *body;
    const char *email, *name, *password;
    char key[STORE_EMAIL_MAX]; /* the email's key (srv_email_key), when email is given */
    json_t *metadata;
    char phc[STORE_PHC_MAX];
    int hashed;
    int create;
};

static void edit_free(void *state)
{
    struct edit *e = state;
    if (!e)
        return;
    json_decref(e->body);
    crypto_wipe(e, sizeof *e);
    free(e);
}

static void hash_work(struct srv_request *rq)
{
    struct edit *e = srv_rq_state(rq);
    e->hashed = crypto_password_hash(&srv_rq_ctx(rq)->cfg->argon2, e->password, strlen(e->password),
                                     e->phc, sizeof e->phc) == CRYPTO_OK;
}

/* Finds the user's local-userpass identity; *found = 0 when it has none. */
static int password_identity(struct store_txn *txn, const char *user_id, struct store_identity *out,
                             int *found)
{
    struct store_identity idns[STORE_IDENTITIES_MAX];
    size_t n = 0;
    int rc = store_identity_list(txn, user_id, idns, STORE_IDENTITIES_MAX, &n);
    *found = 0;
    for (size_t i = 0; rc == STORE_OK && i < n; i++)
        if (strcmp(idns[i].provider, "local-userpass") == 0) {
            *out = idns[i];
            *found = 1;
        }
    crypto_wipe(idns, sizeof idns);
    return rc;
}

struct edit_args {
    struct srv_request *rq;
    struct edit *e;
    int conflict; /* the email belongs to another user */
};

/* Applies the edit: user record, email index and the password identity move together. */
static int edit_txn(struct store_txn *txn, void *arg)
{
    struct edit_args *a = arg;
    struct edit *e = a->e;
    struct store_user u = {0};
    struct store_identity idn = {0};
    char holder[STORE_ID_MAX];
    int has_password = 0, rc;
    int64_t now = srv_now();
    if (e->create) {
        u.created_at = now;
        snprintf(u.id, sizeof u.id, "%s", e->id);
    } else if ((rc = srv_admin_guard_user(txn, &e->caller, e->id)) != STORE_OK ||
               (rc = store_user_get(txn, e->id, &u)) != STORE_OK) {
        goto out;
    }
    if ((rc = password_identity(txn, e->id, &idn, &has_password)) != STORE_OK)
        goto out;
    if (e->email) {
        rc = store_user_find_email(txn, e->key, holder);
        if (rc == STORE_OK && strcmp(holder, e->id) != 0) {
            a->conflict = 1;
            rc = STORE_OK;
            goto out;
        }
        if (rc != STORE_OK && rc != STORE_NOTFOUND)
            goto out;
        char was[STORE_EMAIL_MAX];
        srv_user_email_key(&u, was);
        if (strcmp(was, e->key) != 0)
            u.email_verified = 0; /* an address an admin typed is not one the user proved */
        snprintf(u.email, sizeof u.email, "%s", e->email);
        memcpy(u.email_key, e->key, sizeof u.email_key);
        u.anonymous = 0;
    }
    if (e->name)
        snprintf(u.name, sizeof u.name, "%s", e->name);
    if (e->metadata) {
        free(u.metadata);
        u.metadata = json_dumps(e->metadata, JSON_COMPACT);
    }
    u.updated_at = now;
    rc = e->create ? store_user_insert(txn, &u) : store_user_update(txn, &u);
    if (rc != STORE_OK)
        goto out;
    /* The password identity follows the email; a new password replaces the hash and, as a
     * reset, ends the user's sessions. */
    if (has_password && (e->email || e->password)) {
        if ((rc = store_identity_delete(txn, e->id, idn.id)) != STORE_OK)
            goto out;
        if (e->email)
            memcpy(idn.provider_id, e->key, sizeof idn.provider_id);
        if (e->password)
            memcpy(idn.phc, e->phc, sizeof idn.phc);
        rc = store_identity_insert(txn, &idn);
    } else if (e->password) {
        if (!u.email[0]) {
            rc = STORE_EINVAL; /* a password identity needs an email */
            goto out;
        }
        memset(&idn, 0, sizeof idn);
        snprintf(idn.user_id, sizeof idn.user_id, "%s", e->id);
        snprintf(idn.provider, sizeof idn.provider, "local-userpass");
        /* the key the email index holds; a record older than email_key holds the old key */
        if (u.email_key[0])
            memcpy(idn.provider_id, u.email_key, sizeof idn.provider_id);
        else
            srv_email_key_legacy(u.email, idn.provider_id);
        memcpy(idn.phc, e->phc, sizeof idn.phc);
        idn.created_at = now;
        rc = crypto_id_new("idn", idn.id, sizeof idn.id) == CRYPTO_OK ? STORE_OK : STORE_EINVAL;
        if (rc == STORE_OK)
            rc = store_identity_insert(txn, &idn);
    }
    if (rc == STORE_OK && e->password && !e->create)
        rc = store_session_delete_user(txn, e->id, NULL, NULL);
    if (rc == STORE_OK)
        rc = srv_audit(txn, e->create ? "admin.user.create" : "admin.user.update", e->caller.id,
                       e->id, srv_rq_client_ip(a->rq), 1, e->password ? "password set" : NULL);
out:
    store_user_clear(&u);
    crypto_wipe(&idn, sizeof idn);
    return rc;
}

static void apply_edit(struct srv_request *rq)
{
    struct edit *e = srv_rq_state(rq);
    struct edit_args a = {rq, e, 0};
    if (e->password && !e->hashed) {
        srv_reply_problem(rq, 500, "the password could not be hashed");
        return;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, edit_txn, &a);
    if (rc == STORE_OK && a.conflict)
        srv_reply_problem(rq, 409, "the email belongs to another user");
    else if (rc == STORE_EXISTS)
        srv_reply_problem(rq, 409, "the email belongs to another user");
    else if (rc == STORE_EINVAL && e->password)
        srv_reply_problem(rq, 400, "a password needs the user to have an email");
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc, "user");
    else
        reply_user(rq, e->id, e->create ? 201 : 200);
}

/* Parses and checks the members create and patch share. */
static int parse_edit_or_error(struct srv_request *rq, struct edit *e)
{
    static const char *const fields[] = {"email", "name", "password", "metadata", NULL};
    if (srv_json_parse_or_error(rq, fields, &e->body) != SRV_OK ||
        srv_json_string_or_error(rq, e->body, "email", e->create, STORE_EMAIL_MAX - 1, &e->email) ||
        srv_json_string_or_error(rq, e->body, "name", 0, STORE_NAME_MAX - 1, &e->name) ||
        srv_json_string_or_error(rq, e->body, "password", 0, SRV_PASSWORD_MAX, &e->password))
        return SRV_ERESPONDED;
    enum srv_email_err erc = e->email ? srv_email_key(e->email, e->key) : SRV_EMAIL_OK;
    if (erc != SRV_EMAIL_OK) {
        srv_reply_problem(rq, erc == SRV_EMAIL_EINTERNAL ? 500 : 400, "%s",
                          srv_email_strerror(erc));
        return SRV_ERESPONDED;
    }
    if (e->name && !srv_name_valid(e->name)) {
        srv_reply_problem(rq, 400, "name must be 1 to 256 bytes of text");
        return SRV_ERESPONDED;
    }
    if (e->password && !srv_password_valid(e->password)) {
        srv_reply_problem(rq, 400, "password must be %d to %d bytes of UTF-8", SRV_PASSWORD_MIN,
                          SRV_PASSWORD_MAX);
        return SRV_ERESPONDED;
    }
    e->metadata = json_object_get(e->body, "metadata");
    if (e->metadata && !json_is_object(e->metadata)) {
        srv_reply_problem(rq, 400, "metadata must be a JSON object");
        return SRV_ERESPONDED;
    }
    if (e->metadata) {
        char *text = json_dumps(e->metadata, JSON_COMPACT);
        size_t len = text ? strlen(text) : 0;
        free(text);
        if (len > STORE_METADATA_MAX) {
            srv_reply_problem(rq, 400, "metadata is larger than %d bytes", STORE_METADATA_MAX);
            return SRV_ERESPONDED;
        }
    }
    return SRV_OK;
}

static void edit_user(struct srv_request *rq, int create)
{
    struct edit *e = srv_admin_state_new_or_error(rq, sizeof *e, edit_free);
    if (!e)
        return;
    e->create = create;
    if (srv_admin_caller_or_error(rq, SRV_NEED_USERS_WRITE, &e->caller) != SRV_OK ||
        parse_edit_or_error(rq, e) != SRV_OK)
        return;
    if (create) {
        if (crypto_id_new("usr", e->id, sizeof e->id) != CRYPTO_OK) {
            srv_reply_problem(rq, 500, "no id could be made");
            return;
        }
    } else {
        srv_rq_param(rq, 0, e->id, sizeof e->id);
        if (!e->id[0]) { /* longer than any id: no such user */
            srv_reply_problem(rq, 404, "no such user");
            return;
        }
    }
    if (e->password)
        srv_defer(rq, hash_work, apply_edit);
    else
        apply_edit(rq);
}

void srv_admin_users_create(struct srv_request *rq)
{
    edit_user(rq, 1);
}

void srv_admin_users_patch(struct srv_request *rq)
{
    edit_user(rq, 0);
}

/* ---- delete, disable, enable, sessions ---- */

enum op { OP_DELETE, OP_DISABLE, OP_ENABLE, OP_END_SESSIONS, OP_END_SESSION };

struct op_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
    enum op op;
    size_t ended;
};

static int op_txn(struct store_txn *txn, void *arg)
{
    struct op_args *a = arg;
    struct store_user u = {0};
    struct store_session s;
    const char *type = NULL, *target = a->id;
    char detail[64] = "";
    int rc = a->op == OP_END_SESSION ? STORE_OK : srv_admin_guard_user(txn, a->caller, a->id);
    if (rc != STORE_OK)
        return rc;
    switch (a->op) {
    case OP_DELETE:
        rc = store_user_delete(txn, a->id);
        type = "admin.user.delete";
        break;
    case OP_DISABLE:
    case OP_ENABLE:
        rc = store_user_get(txn, a->id, &u);
        if (rc != STORE_OK)
            break;
        u.status = a->op == OP_DISABLE ? STORE_USER_DISABLED : STORE_USER_ACTIVE;
        u.updated_at = srv_now();
        rc = store_user_update(txn, &u);
        /* Disabling ends every session in the same transaction. */
        if (rc == STORE_OK && a->op == OP_DISABLE)
            rc = store_session_delete_user(txn, a->id, NULL, &a->ended);
        type = a->op == OP_DISABLE ? "admin.user.disable" : "admin.user.enable";
        break;
    case OP_END_SESSIONS:
        rc = store_user_get(txn, a->id, &u);
        if (rc == STORE_OK)
            rc = store_session_delete_user(txn, a->id, NULL, &a->ended);
        type = "admin.sessions.end";
        break;
    case OP_END_SESSION:
        rc = store_session_get(txn, a->id, &s);
        if (rc == STORE_OK)
            rc = srv_admin_guard_user(txn, a->caller, s.user_id);
        if (rc == STORE_OK)
            rc = store_session_delete(txn, a->id);
        type = "admin.session.end";
        break;
    }
    if (a->ended)
        snprintf(detail, sizeof detail, "%zu sessions ended", a->ended);
    if (rc == STORE_OK)
        rc = srv_audit(txn, type, a->caller->id, target, srv_rq_client_ip(a->rq), 1, detail);
    store_user_clear(&u);
    return rc;
}

static void user_op(struct srv_request *rq, enum op op)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_USERS_WRITE, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct op_args a = {rq, &caller, id, op, 0};
    if (srv_admin_write_or_error(rq, op == OP_END_SESSION ? "session" : "user", op_txn, &a) !=
        SRV_OK)
        return;
    if (op == OP_DISABLE || op == OP_ENABLE)
        reply_user(rq, id, 200);
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
}

void srv_admin_users_delete(struct srv_request *rq)
{
    user_op(rq, OP_DELETE);
}

void srv_admin_users_disable(struct srv_request *rq)
{
    user_op(rq, OP_DISABLE);
}

void srv_admin_users_enable(struct srv_request *rq)
{
    user_op(rq, OP_ENABLE);
}

void srv_admin_users_sessions_delete(struct srv_request *rq)
{
    user_op(rq, OP_END_SESSIONS);
}

void srv_admin_session_delete(struct srv_request *rq)
{
    user_op(rq, OP_END_SESSION);
}

struct sessions_args {
    const char *id;
    struct store_session *items;
    size_t n;
};

static int sessions_txn(struct store_txn *txn, void *arg)
{
    struct sessions_args *a = arg;
    struct store_user u = {0};
    free(a->items);
    a->items = NULL;
    int rc = store_user_get(txn, a->id, &u);
    store_user_clear(&u);
    return rc ? rc : store_session_list(txn, a->id, &a->items, &a->n);
}

void srv_admin_users_sessions(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct sessions_args a = {id, NULL, 0};
    if (srv_admin_read_or_error(rq, "user", sessions_txn, &a) == SRV_OK) {
        json_t *items = json_array();
        int64_t now = srv_now();
        for (size_t i = 0; i < a.n; i++)
            if (a.items[i].idle_expires_at > now && a.items[i].absolute_expires_at > now)
                json_array_append_new(items, srv_session_json(&a.items[i], 0));
        srv_reply_json(rq, 200, srv_list_json(items, NULL), NULL);
    }
    free(a.items);
}
