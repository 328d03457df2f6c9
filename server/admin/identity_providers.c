/* /admin/v1/identity-providers…: other issuers whose users sign in to idpd (type "oidc": an
 * OpenID provider users are sent to; type "jwt": an issuer whose tokens applications exchange,
 * RFC 7523). Reads need an idp:* role, changes idp:admin; every change is one write transaction
 * with its audit event.
 *
 * The client secret is sealed (AES-256-GCM under a key derived from the master key, the
 * provider's id as associated data, so a sealed secret cannot be moved to another provider) and
 * never shown again: the API says only whether there is one. Name, type and issuer are fixed:
 * users' identities are named after the provider and their subjects are the issuer's. A provider
 * cannot be deleted while a user still signs in with it. */
#define LOG_MODULE "admin"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/admin/admin.h"

static const char *const no_filters[] = {NULL};

static json_t *idp_json(const struct store_identity_provider *rec)
{
    json_t *j = json_loads(rec->config, 0, NULL);
    if (!j)
        return NULL;
    json_object_set_new(j, "id", json_string(rec->id));
    json_object_set_new(j, "name", json_string(rec->name));
    json_object_set_new(j, "type", json_string(rec->type));
    if (strcmp(rec->type, "oidc") == 0)
        json_object_set_new(j, "has_client_secret", json_boolean(rec->sealed_len > 0));
    json_object_set_new(j, "created_at", json_integer(rec->created_at));
    json_object_set_new(j, "updated_at", json_integer(rec->updated_at));
    return j;
}

/* ---- list and get ---- */

struct list_args {
    struct store_identity_provider *items;
};

static int list_walk(struct store_txn *txn, void *arg, struct srv_admin_page *page)
{
    struct list_args *a = arg;
    store_idp_list_free(a->items, page->n);
    a->items = NULL;
    page->n = 0;
    int rc = store_idp_list(txn, page->after, page->limit, &a->items, &page->n);
    snprintf(page->next, sizeof page->next, "%s",
             rc == STORE_OK && page->n == page->limit ? a->items[page->n - 1].id : "");
    return rc;
}

static json_t *list_item(const void *arg, size_t i)
{
    const struct list_args *a = arg;
    return idp_json(&a->items[i]);
}

static const struct srv_admin_list providers = {no_filters, "identity provider list", list_walk,
                                                list_item};

void srv_admin_idps_list(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    struct srv_admin_page page = {0};
    struct list_args a = {0};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK ||
        srv_admin_page_or_error(rq, &providers, &page) != SRV_OK)
        return;
    if (srv_admin_list_walk_or_error(rq, &providers, &page, &a) == SRV_OK)
        srv_admin_list_reply(rq, &providers, &page, &a);
    store_idp_list_free(a.items, page.n);
}

struct get_args {
    const char *id;
    struct store_identity_provider rec;
};

static int get_txn(struct store_txn *txn, void *arg)
{
    struct get_args *g = arg;
    store_identity_provider_clear(&g->rec);
    return store_idp_get(txn, g->id, &g->rec);
}

void srv_admin_idps_get(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    struct get_args g = {.id = id};
    if (srv_admin_caller_or_error(rq, SRV_NEED_READ, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    if (srv_admin_read_or_error(rq, "identity provider", get_txn, &g) == SRV_OK)
        srv_reply_json(rq, 200, idp_json(&g.rec), NULL);
    store_identity_provider_clear(&g.rec);
}

/* ---- create, change, delete ---- */

struct edit {
    struct srv_request *rq;
    struct srv_admin_caller caller;
    json_t *body;
    char id[STORE_ID_MAX];
    struct srv_idp idp;
    const char *secret; /* borrowed from body; NULL: unchanged (patch) or none (create) */
    struct store_identity_provider rec; /* as written */
    char why[256];                      /* patch: the body refused against the stored record */
};

/* The record of e->idp, its secret sealed under the provider's id when one was given (else the
 * sealed bytes of old, if any, are kept). */
static int record_of(struct edit *e, const struct store_identity_provider *old)
{
    struct store_identity_provider *r = &e->rec;
    store_identity_provider_clear(r);
    memcpy(r->id, e->id, sizeof r->id);
    memcpy(r->name, e->idp.name, sizeof r->name);
    memcpy(r->type, e->idp.type, sizeof r->type);
    if (!(r->config = srv_idp_config(&e->idp)))
        return STORE_ENOMEM;
    if (e->secret) {
        const uint8_t *key = srv_rq_ctx(e->rq)->idp_key;
        if (crypto_aead_seal(key, r->id, strlen(r->id), e->secret, strlen(e->secret),
                             r->sealed_secret, sizeof r->sealed_secret,
                             &r->sealed_len) != CRYPTO_OK)
            return STORE_ENOMEM;
    } else if (old) {
        memcpy(r->sealed_secret, old->sealed_secret, old->sealed_len);
        r->sealed_len = old->sealed_len;
    }
    r->created_at = old ? old->created_at : srv_now();
    r->updated_at = srv_now();
    return STORE_OK;
}

static void edit_free(void *state)
{
    struct edit *e = state;
    if (!e)
        return;
    json_decref(e->body);
    srv_idp_clear(&e->idp);
    store_identity_provider_clear(&e->rec);
    crypto_wipe(e, sizeof *e);
    free(e);
}

static struct edit *edit_begin_or_error(struct srv_request *rq)
{
    struct edit *e = srv_admin_state_new_or_error(rq, sizeof *e, edit_free);
    if (!e)
        return NULL;
    e->rq = rq;
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &e->caller) != SRV_OK ||
        srv_json_parse_or_error(rq, srv_idp_fields, &e->body) != SRV_OK)
        return NULL;
    return e;
}

static int create_txn(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    int rc = store_idp_insert(txn, &e->rec);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.identity_provider.create", e->caller.id, e->id,
                       srv_rq_client_ip(e->rq), 1, e->rec.name);
    return rc;
}

void srv_admin_idps_create(struct srv_request *rq)
{
    struct edit *e = edit_begin_or_error(rq);
    char why[256];
    if (!e)
        return;
    if (srv_idp_parse(srv_rq_ctx(rq)->cfg, e->body, NULL, &e->idp, &e->secret, why, sizeof why) !=
        SRV_OK) {
        srv_reply_problem(rq, 400, "%s", why);
        return;
    }
    if (crypto_id_new("idp", e->id, sizeof e->id) != CRYPTO_OK || record_of(e, NULL) != STORE_OK) {
        srv_reply_problem(rq, 500, "the provider could not be made");
        return;
    }
    int rc = store_write(srv_rq_ctx(rq)->store, create_txn, e);
    if (rc == STORE_EXISTS)
        srv_reply_problem(rq, 409, "an identity provider named %s exists", e->rec.name);
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc, "identity provider");
    else
        srv_reply_json(rq, 201, idp_json(&e->rec), NULL);
}

#define PATCH_REFUSED 1001 /* patch_txn: the body does not apply to the stored provider */

static int patch_txn(struct store_txn *txn, void *arg)
{
    struct edit *e = arg;
    struct store_identity_provider old;
    struct srv_idp base;
    char detail[STORE_IDP_NAME_MAX + 16];
    int rc = store_idp_get(txn, e->id, &old);
    if (rc != STORE_OK)
        return rc;
    srv_idp_clear(&e->idp);
    rc = srv_idp_load(&old, &base) == SRV_OK ? STORE_OK : STORE_ECORRUPT;
    if (rc == STORE_OK && srv_idp_parse(srv_rq_ctx(e->rq)->cfg, e->body, &base, &e->idp, &e->secret,
                                        e->why, sizeof e->why) != SRV_OK)
        rc = PATCH_REFUSED;
    if (rc == STORE_OK)
        rc = record_of(e, &old);
    if (rc == STORE_OK)
        rc = store_idp_update(txn, &e->rec);
    snprintf(detail, sizeof detail, "%s%s", old.name, e->secret ? " client_secret" : "");
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.identity_provider.update", e->caller.id, e->id,
                       srv_rq_client_ip(e->rq), 1, detail);
    srv_idp_clear(&base);
    store_identity_provider_clear(&old);
    return rc;
}

void srv_admin_idps_patch(struct srv_request *rq)
{
    struct edit *e = edit_begin_or_error(rq);
    if (!e)
        return;
    srv_rq_param(rq, 0, e->id, sizeof e->id);
    int rc = store_write(srv_rq_ctx(rq)->store, patch_txn, e);
    if (rc == PATCH_REFUSED)
        srv_reply_problem(rq, 400, "%s", e->why);
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc == STORE_EINVAL ? STORE_NOTFOUND : rc, "identity provider");
    else
        srv_reply_json(rq, 200, idp_json(&e->rec), NULL);
}

#define IN_USE 1002 /* delete_txn: users still sign in with the provider */

struct delete_args {
    struct srv_request *rq;
    const struct srv_admin_caller *caller;
    const char *id;
};

static int delete_txn(struct store_txn *txn, void *arg)
{
    struct delete_args *a = arg;
    struct store_identity_provider rec;
    char provider[STORE_PROVIDER_MAX], name[STORE_IDP_NAME_MAX];
    int used = 0;
    int rc = store_idp_get(txn, a->id, &rec);
    if (rc != STORE_OK)
        return rc;
    srv_idp_provider(rec.type, rec.name, provider);
    memcpy(name, rec.name, sizeof name);
    store_identity_provider_clear(&rec);
    rc = store_identity_provider_used(txn, provider, &used);
    if (rc == STORE_OK && used)
        rc = IN_USE;
    if (rc == STORE_OK)
        rc = store_idp_delete(txn, a->id);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "admin.identity_provider.delete", a->caller->id, a->id,
                       srv_rq_client_ip(a->rq), 1, name);
    return rc;
}

void srv_admin_idps_delete(struct srv_request *rq)
{
    struct srv_admin_caller caller;
    char id[STORE_ID_MAX];
    if (srv_admin_caller_or_error(rq, SRV_NEED_ADMIN, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, id, sizeof id);
    struct delete_args a = {rq, &caller, id};
    int rc = store_write(srv_rq_ctx(rq)->store, delete_txn, &a);
    if (rc == IN_USE)
        srv_reply_problem(rq, 409,
                          "users still sign in with this provider: unlink their identities or "
                          "delete them first");
    else if (rc != STORE_OK)
        srv_reply_store_error(rq, rc == STORE_EINVAL ? STORE_NOTFOUND : rc, "identity provider");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
}
