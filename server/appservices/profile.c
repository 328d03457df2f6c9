/* GET /auth/profile: the user as the SDKs read it (they need type, identities and data before a
 * login resolves). DELETE /auth/delete: the user deletes itself, with everything that hangs off
 * it, in one transaction. Both with an access token. */
#define LOG_MODULE "appservices"

#include <string.h>

#include "server/appservices/appservices.h"

struct profile_args {
    const char *user_id;
    struct store_user user;
    struct store_identity idns[STORE_IDENTITIES_MAX];
    size_t n;
};

static int profile_txn(struct store_txn *txn, void *arg)
{
    struct profile_args *a = arg;
    store_user_clear(&a->user);
    int rc = store_user_get(txn, a->user_id, &a->user);
    return rc ? rc : store_identity_list(txn, a->user_id, a->idns, STORE_IDENTITIES_MAX, &a->n);
}

void srv_as_profile(struct srv_request *rq)
{
    struct srv_as_caller c;
    struct profile_args a = {0};
    if (srv_as_access_or_error(rq, &c) != SRV_OK)
        return;
    a.user_id = c.user_id;
    int rc = store_read(srv_rq_ctx(rq)->store, profile_txn, &a);
    if (rc == STORE_NOTFOUND) { /* deleted since the token was checked */
        srv_reply_app_error(rq, 401, "InvalidSession", "invalid session: the user is gone");
        goto out;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the profile cannot be read now");
        goto out;
    }
    json_t *idns = json_array(), *data = json_object();
    for (size_t i = 0; idns && i < a.n; i++) {
        json_t *one = json_pack("{s:s, s:s, s:s}", "id", a.idns[i].id, "provider_type",
                                a.idns[i].provider, "provider_id", a.idns[i].provider);
        if (one && strcmp(a.idns[i].provider, "local-userpass") == 0)
            json_object_set_new(one, "provider_data", json_pack("{s:s}", "email", a.user.email));
        json_array_append_new(idns, one);
    }
    if (data && a.user.email[0])
        json_object_set_new(data, "email", json_string(a.user.email));
    if (data && a.user.name[0])
        json_object_set_new(data, "name", json_string(a.user.name));
    srv_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:o, s:o, s:s}", "user_id", a.user.id, "domain_id",
                             c.client_id ? c.client_id : "", "identities", idns, "data", data,
                             "type", "normal"),
                   NULL);
out:
    store_user_clear(&a.user);
    crypto_wipe(a.idns, sizeof a.idns);
    srv_as_caller_clear(&c);
}

struct delete_args {
    struct srv_request *rq;
    const char *user_id;
};

static int delete_txn(struct store_txn *txn, void *arg)
{
    struct delete_args *a = arg;
    int rc = store_user_delete(txn, a->user_id);
    return rc ? rc
              : srv_audit(txn, "user.delete", a->user_id, a->user_id, srv_rq_client_ip(a->rq), 1,
                          "by the user (App Services client API)");
}

void srv_as_delete_user(struct srv_request *rq)
{
    struct srv_as_caller c;
    if (srv_as_access_or_error(rq, &c) != SRV_OK)
        return;
    struct delete_args a = {rq, c.user_id};
    int rc = store_write(srv_rq_ctx(rq)->store, delete_txn, &a);
    if (rc == STORE_NOTFOUND)
        srv_reply_app_error(rq, 401, "InvalidSession", "invalid session: the user is gone");
    else if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the user could not be deleted");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
    srv_as_caller_clear(&c);
}
