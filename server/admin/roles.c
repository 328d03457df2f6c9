/* GET|PUT /admin/v1/{users|teams|service-accounts}/{id}/roles: a principal's direct role grants,
 * replaced as a set. Only idp:admin adds or removes idp:* grants, or changes any role of a user
 * holding an idp:* role or of a team granting one; idp:user-admin manages the roles of the other
 * users and teams. */
#define LOG_MODULE "admin"

#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

enum kind { USER, TEAM, SERVICE_ACCOUNT };

static enum kind kind_of(struct srv_request *rq)
{
    const char *p = srv_rq_path(rq);
    return strncmp(p, "/admin/v1/users/", 16) == 0   ? USER
           : strncmp(p, "/admin/v1/teams/", 16) == 0 ? TEAM
                                                     : SERVICE_ACCOUNT;
}

static const char *const what[] = {"user", "team", "service account"};

struct roles_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    enum kind kind;
    const char *id;
    char (*roles)[STORE_ROLE_MAX]; /* read: what is stored; write: the new set */
    size_t n;
    char (*effective)[STORE_ROLE_MAX];
    size_t neffective;
    int write;
    int touches_idp; /* the change adds or removes an idp:* role */
};

/* 1 when the idp:* roles of a and b differ. */
static int idp_differs(char (*a)[STORE_ROLE_MAX], size_t na, char (*b)[STORE_ROLE_MAX], size_t nb)
{
    for (int pass = 0; pass < 2; pass++) {
        char(*x)[STORE_ROLE_MAX] = pass ? b : a, (*y)[STORE_ROLE_MAX] = pass ? a : b;
        size_t nx = pass ? nb : na, ny = pass ? na : nb;
        for (size_t i = 0; i < nx; i++) {
            int found = 0;
            if (strncmp(x[i], "idp:", 4) != 0)
                continue;
            for (size_t k = 0; k < ny && !found; k++)
                found = strcmp(x[i], y[k]) == 0;
            if (!found)
                return 1;
        }
    }
    return 0;
}

/* Swaps the sets: the record takes roles and n, and they take the record's old ones. */
static void swap_roles(char (**rec)[STORE_ROLE_MAX], size_t *nrec, char (**roles)[STORE_ROLE_MAX],
                       size_t *n)
{
    char(*tmp)[STORE_ROLE_MAX] = *rec;
    size_t ntmp = *nrec;
    *rec = *roles;
    *nrec = *n;
    *roles = tmp;
    *n = ntmp;
}

static int roles_txn(struct store_txn *txn, void *arg)
{
    struct roles_args *a = arg;
    struct store_user u = {0};
    struct store_team t = {0};
    struct store_service_account sa = {0};
    char(**rec)[STORE_ROLE_MAX] = NULL;
    size_t *nrec = NULL;
    int rc = a->kind == USER   ? store_user_get(txn, a->id, &u)
             : a->kind == TEAM ? store_team_get(txn, a->id, &t)
                               : store_sa_get(txn, a->id, &sa);
    if (rc != STORE_OK)
        goto out;
    rec = a->kind == USER ? &u.roles : a->kind == TEAM ? &t.roles : &sa.roles;
    nrec = a->kind == USER ? &u.nroles : a->kind == TEAM ? &t.nroles : &sa.nroles;
    if (!a->write) {
        swap_roles(rec, nrec, &a->roles, &a->n); /* hand the stored set out */
        if (a->kind != TEAM) {
            free(a->effective);
            rc = srv_effective_roles(txn, a->kind == USER ? "user" : "service_account", a->id,
                                     &a->effective, &a->neffective);
        }
        goto out;
    }
    /* The guard of every other admin write: a caller without idp:admin leaves alone the roles
     * of a user who holds an idp:* role (itself included) and of a team that grants one. */
    if (a->kind == USER && (rc = srv_admin_guard_user(txn, a->caller, a->id)) != STORE_OK)
        goto out;
    if (a->kind == TEAM && (rc = srv_admin_guard_team(a->caller, &t)) != STORE_OK)
        goto out;
    if (!a->caller->is_admin && idp_differs(*rec, *nrec, a->roles, a->n)) {
        a->touches_idp = 1;
        goto out;
    }
    swap_roles(rec, nrec, &a->roles, &a->n);
    if (a->kind == USER)
        u.updated_at = srv_now();
    else if (a->kind == TEAM)
        t.updated_at = srv_now();
    else
        sa.updated_at = srv_now();
    rc = a->kind == USER   ? store_user_update(txn, &u)
         : a->kind == TEAM ? store_team_update(txn, &t)
                           : store_sa_update(txn, &sa);
    swap_roles(rec, nrec, &a->roles, &a->n); /* the new set back to the caller for the answer */
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.roles.update", a->caller->id, a->id, srv_rq_client_ip(a->rq), 1,
                       what[a->kind]);
out:
    store_user_clear(&u);
    store_team_clear(&t);
    store_service_account_clear(&sa);
    return rc;
}

static json_t *roles_json(char (*roles)[STORE_ROLE_MAX], size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_string(roles[i]));
    return arr;
}

static void roles(struct srv_request *rq, int write)
{
    struct srv_admin_caller caller;
    enum kind kind = kind_of(rq);
    char id[STORE_ID_MAX];
    enum srv_admin_need need = !write                    ? SRV_NEED_READ
                               : kind == SERVICE_ACCOUNT ? SRV_NEED_ADMIN
                                                         : SRV_NEED_USERS_WRITE;
    struct roles_args a = {.rq = rq, .caller = &caller, .kind = kind, .id = id, .write = write};
    if (srv_admin_caller_or_error(rq, need, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    /* No idp:* check while parsing: roles_txn compares the idp:* roles before and after. */
    if (write && srv_roles_parse_or_error(rq, NULL, &a.roles, &a.n) != SRV_OK)
        return;
    /* the roles were checked: what is left invalid is an id that cannot exist */
    int rc = write ? srv_admin_write_or_error(rq, what[kind], roles_txn, &a)
                   : srv_admin_read_or_error(rq, what[kind], roles_txn, &a);
    if (rc != SRV_OK)
        goto out;
    if (a.touches_idp) {
        srv_reply_problem(rq, 403, "only idp:admin may add or remove idp:* roles");
        goto out;
    }
    json_t *body = json_pack("{s:o}", "roles", roles_json(a.roles, a.n));
    if (body && !write && kind != TEAM)
        json_object_set_new(body, "effective_roles", roles_json(a.effective, a.neffective));
    srv_reply_json(rq, 200, body, NULL);
out:
    free(a.roles);
    free(a.effective);
}

void srv_admin_roles_get(struct srv_request *rq)
{
    roles(rq, 0);
}

void srv_admin_roles_put(struct srv_request *rq)
{
    roles(rq, 1);
}
