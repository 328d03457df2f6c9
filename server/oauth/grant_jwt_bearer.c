/* grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer with assertion=<JWT> (RFC 7523 §2.1):
 * an application exchanges a token of an issuer it trusts (an identity provider of type jwt it
 * names in identity_providers) for idpd's tokens of the user with identity
 * ("custom-jwt:<provider>", the token's subject claim), made on first use. The assertion must
 * carry a jti, used once (the denylist keeps it until the assertion expires), and live at most
 * an hour. Claims the provider names are copied into the user's metadata. Every refusal is
 * answered invalid_grant and audited as token.refused. */
#define LOG_MODULE "oauth"

#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

#define GRANT "urn:ietf:params:oauth:grant-type:jwt-bearer"

struct pick {
    const struct store_application *app;
    const char *iss;
    struct srv_idp *idp;
    int found;
};

/* The application's jwt provider whose issuer is iss, into p->idp. */
static int pick_txn(struct store_txn *txn, void *arg)
{
    struct pick *p = arg;
    p->found = 0;
    srv_idp_clear(p->idp);
    for (size_t i = 0; i < p->app->nidps; i++) {
        struct store_identity_provider rec;
        char id[STORE_ID_MAX];
        int rc = store_idp_find_name(txn, p->app->idps[i], id);
        if (rc == STORE_NOTFOUND)
            continue;
        if (rc == STORE_OK)
            rc = store_idp_get(txn, id, &rec);
        if (rc != STORE_OK)
            return rc;
        if (strcmp(rec.type, "jwt") == 0 && srv_idp_load(&rec, p->idp) == SRV_OK &&
            strcmp(p->idp->trust.issuer, p->iss) == 0) {
            store_identity_provider_clear(&rec);
            p->found = 1;
            return STORE_OK;
        }
        srv_idp_clear(p->idp);
        store_identity_provider_clear(&rec);
    }
    return STORE_OK;
}

/* The claims the provider copies into the user's metadata, as an object's text; NULL when none
 * is present. */
static char *metadata_of(const struct srv_idp *idp, json_t *claims)
{
    json_t *m = json_object();
    char *text = NULL;
    for (size_t i = 0; m && i < idp->nmetadata; i++) {
        json_t *v = json_object_get(claims, idp->metadata_claims[i]);
        if (v)
            json_object_set(m, idp->metadata_claims[i], v);
    }
    if (m && json_object_size(m))
        text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return text;
}

static void verified(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_jwt_grant *g = call->jwt;
    struct srv_federated_login *f = &g->login;
    const char *sub;
    char *metadata = NULL;
    int rc;
    if (g->rc == SRV_ERUNTIME || g->rc == SRV_ENOMEM) {
        srv_reply_oauth_error(rq, 503, "temporarily_unavailable",
                              "the issuer's keys cannot be had now; retry shortly");
        return;
    }
    if (g->rc != SRV_OK) {
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant", g->why);
        return;
    }
    sub = json_string_value(json_object_get(g->a.claims, g->idp.subject_claim));
    if (!sub || !*sub || strlen(sub) >= sizeof f->subject) {
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "the assertion's subject claim is missing or not a usable string");
        return;
    }
    if (!g->a.jti) {
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "the assertion has no jti: it could be replayed");
        return;
    }
    f->client_id = call->client.id;
    f->scope = srv_form_get(&call->form, "scope");
    f->amr = "ext";
    srv_idp_provider(g->idp.type, g->idp.name, f->provider);
    snprintf(f->subject, sizeof f->subject, "%s", sub);
    f->metadata = metadata = metadata_of(&g->idp, g->a.claims);
    f->create_users = 1;
    srv_assertion_jti_key(&g->a, g->idp.trust.issuer, f->jti_key);
    f->jti_exp = g->a.exp + 60; /* the leeway the check allowed */
    rc = srv_federated_login(rq, f);
    f->metadata = NULL;
    free(metadata);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the sign-in could not be stored; retry shortly");
        return;
    }
    switch (f->outcome) {
    case SRV_FED_OK:
        srv_reply_session_tokens(rq, &f->user, &f->session, f->refresh, NULL, &f->roles);
        return;
    case SRV_FED_REPLAYED:
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "the assertion was used already (jti)");
        return;
    case SRV_FED_DISABLED:
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant", "the user is disabled");
        return;
    case SRV_FED_NO_USER:
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant", "no such user");
        return;
    case SRV_FED_METADATA_TOO_BIG:
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "the claims copied would make the user's metadata too large");
        return;
    }
}

void srv_grant_jwt_bearer(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    const char *assertion = srv_form_get(&call->form, "assertion");
    json_t *peek = NULL;
    if (!srv_app_allows_or_error(rq, &call->client, GRANT))
        return;
    if (!assertion) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "assertion is required");
        return;
    }
    if (srv_user_scope_valid_or_error(rq, srv_form_get(&call->form, "scope")) != SRV_OK)
        return;
    if (!(call->jwt = calloc(1, sizeof *call->jwt))) {
        srv_reply_oauth_error(rq, 500, "server_error", "out of memory");
        return;
    }
    if (!(peek = srv_jwt_peek(assertion))) {
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "the assertion is not a JWT with an issuer");
        return;
    }
    struct pick p = {&call->client.app, json_string_value(json_object_get(peek, "iss")),
                     &call->jwt->idp, 0};
    int rc = store_read(srv_rq_ctx(rq)->store, pick_txn, &p);
    json_decref(peek);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the application's providers cannot be read now");
        return;
    }
    if (!p.found) {
        srv_assertion_refused(rq, call->client.id, 400, "invalid_grant",
                              "this application trusts no issuer of that name");
        return;
    }
    call->jwt->token = assertion;
    call->jwt->trust = &call->jwt->idp.trust;
    call->jwt->audience = NULL; /* the provider's */
    call->jwt->then = verified;
    srv_assertion_check(rq, call->jwt);
}
