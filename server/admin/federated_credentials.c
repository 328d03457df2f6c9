/* /admin/v1/service-accounts/{id}/federated-credentials…: the workloads a service account
 * trusts instead of a secret (another issuer's tokens with a given subject and audience: a CI
 * job's OIDC token, a Kubernetes service-account token). Reads need an idp:* role, changes
 * idp:admin; every change is one write transaction with its audit event. A credential is not
 * changed in place: delete it and add another. */
#define LOG_MODULE "admin"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

static json_t *fic_json(const struct store_federated_credential *rec)
{
    json_t *j = json_loads(rec->config, 0, NULL);
    if (!j)
        return NULL;
    json_object_set_new(j, "id", json_string(rec->id));
    json_object_set_new(j, "created_at", json_integer(rec->created_at));
    return j;
}

struct list_args {
    const char *sa_id;
    struct store_federated_credential *items;
    size_t n;
};

static int list_txn(struct store_txn *txn, void *arg)
{
    struct list_args *a = arg;
    struct store_service_account sa = {0};
    store_federated_list_free(a->items, a->n);
    a->items = NULL;
    a->n = 0;
    int rc = store_sa_get(txn, a->sa_id, &sa);
    store_service_account_clear(&sa);
    return rc ? rc : store_federated_list(txn, a->sa_id, &a->items, &a->n);
}

void srv_admin_fics_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char sa_id[STORE_ID_MAX];
    struct list_args a = {sa_id, NULL, 0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, sa_id, sizeof sa_id);
    if (srv_admin_read_or_error(rq, "service account", list_txn, &a) == SRV_OK) {
        json_t *items = json_array();
        for (size_t i = 0; i < a.n; i++)
            json_array_append_new(items, fic_json(&a.items[i]));
        srv_reply_json(rq, 200, json_pack("{s:o}", "items", items), NULL);
    }
    store_federated_list_free(a.items, a.n);
}

struct create_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    struct store_federated_credential rec;
    int full;
};

static int create_txn(struct store_txn *txn, void *arg)
{
    struct create_args *a = arg;
    struct store_service_account sa = {0};
    int rc = store_sa_get(txn, a->rec.sa_id, &sa);
    store_service_account_clear(&sa);
    if (rc == STORE_OK) {
        rc = store_federated_insert(txn, &a->rec);
        a->full = rc == STORE_EINVAL;
    }
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.federated_credential.create", a->caller->id, a->rec.sa_id,
                       srv_rq_client_ip(a->rq), 1, a->rec.id);
    return rc;
}

void srv_admin_fics_create(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct create_args a = {.rq = rq, .caller = &caller};
    struct srv_federated f = {0};
    json_t *body = NULL;
    char why[256];
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK ||
        srv_json_parse_or_error(rq, srv_federated_fields, &body) != SRV_OK)
        goto out;
    if (srv_federated_parse(srv_rq_ctx(rq)->cfg, body, &f, why, sizeof why) != SRV_OK) {
        srv_reply_problem(rq, 400, "%s", why);
        goto out;
    }
    srv_rq_param(rq, 0, a.rec.sa_id, sizeof a.rec.sa_id);
    a.rec.created_at = srv_now();
    if (crypto_id_new("fic", a.rec.id, sizeof a.rec.id) != CRYPTO_OK ||
        !(a.rec.config = srv_federated_config(&f))) {
        srv_reply_problem(rq, 500, "the credential could not be made");
        goto out;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, create_txn, &a);
    if (rc == STORE_EINVAL && a.full)
        srv_reply_problem(rq, 409, "a service account holds at most %d federated credentials",
                          STORE_FEDERATED_MAX);
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc == STORE_EINVAL ? STORE_NOTFOUND : rc, "service account");
    else
        srv_reply_json(rq, 201, fic_json(&a.rec), NULL);
out:
    json_decref(body);
    srv_federated_clear(&f);
    store_federated_credential_clear(&a.rec);
}

struct delete_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *sa_id, *id;
};

static int delete_txn(struct store_txn *txn, void *arg)
{
    struct delete_args *a = arg;
    int rc = store_federated_delete(txn, a->sa_id, a->id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.federated_credential.delete", a->caller->id, a->sa_id,
                       srv_rq_client_ip(a->rq), 1, a->id);
    return rc;
}

void srv_admin_fics_delete(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char sa_id[STORE_ID_MAX], id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, sa_id, sizeof sa_id);
    srv_rq_param(rq, 1, id, sizeof id);
    struct delete_args a = {rq, &caller, sa_id, id};
    if (srv_admin_write_or_error(rq, "federated credential", delete_txn, &a) == SRV_OK)
        srv_reply(rq, 204, NULL, "", 0, NULL);
}
