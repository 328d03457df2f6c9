/* Sign-in by another issuer's word: the user whose identity (provider, subject) the verified
 * token names, made on first use when the provider allows it. The assertion's single use (its
 * jti), the user and identity when new, the metadata copied from its claims, the session and the
 * audit event are one write transaction. The JWT bearer grant uses it now; the upstream OIDC
 * login (pages/) will too. A user is never found by email here: two accounts are never merged. */
#include <string.h>

#include "server/signin/signin.h"

struct fed_args {
    struct srv_request *rq;
    struct srv_federated_login *f;
};

/* The user's metadata with the claims' members set over it. */
static int metadata_merge(struct store_user *u, const char *claims_text)
{
    json_t *have = u->metadata ? json_loads(u->metadata, 0, NULL) : json_object();
    json_t *add = json_loads(claims_text, 0, NULL);
    char *text = NULL;
    int rc = STORE_ENOMEM;
    if (json_is_object(have) && json_is_object(add) && json_object_update(have, add) == 0 &&
        (text = json_dumps(have, JSON_COMPACT))) {
        rc = strlen(text) <= STORE_METADATA_MAX ? STORE_OK : STORE_EINVAL;
        if (rc == STORE_OK) {
            free(u->metadata);
            u->metadata = text;
            text = NULL;
        }
    }
    free(text);
    json_decref(have);
    json_decref(add);
    return rc;
}

static int fed_txn(struct store_txn *txn, void *arg)
{
    struct fed_args *x = arg;
    struct srv_federated_login *f = x->f;
    struct store_identity idn;
    char detail[STORE_PROVIDER_MAX + 16];
    int rc = STORE_OK;
    f->outcome = SRV_FED_OK;
    f->created = 0;
    store_user_clear(&f->user);
    if (f->jti_key[0]) {
        rc = store_deny_claim(txn, f->jti_key, f->jti_exp);
        if (rc == STORE_EXISTS) {
            f->outcome = SRV_FED_REPLAYED;
            return SRV_FED_ABORT;
        }
    }
    if (rc == STORE_OK)
        rc = store_identity_find(txn, f->provider, f->subject, &idn);
    if (rc == STORE_OK) {
        rc = store_user_get(txn, idn.user_id, &f->user);
        if (rc == STORE_OK && f->user.status != STORE_USER_ACTIVE) {
            f->outcome = SRV_FED_DISABLED;
            return SRV_FED_ABORT;
        }
    } else if (rc == STORE_NOTFOUND) {
        if (!f->create_users) {
            f->outcome = SRV_FED_NO_USER;
            return SRV_FED_ABORT;
        }
        memset(&idn, 0, sizeof idn);
        f->user.created_at = f->user.updated_at = idn.created_at = srv_now();
        memcpy(f->user.id, f->new_user_id, sizeof f->user.id);
        memcpy(idn.id, f->new_identity_id, sizeof idn.id);
        memcpy(idn.user_id, f->user.id, sizeof idn.user_id);
        snprintf(idn.provider, sizeof idn.provider, "%s", f->provider);
        snprintf(idn.provider_id, sizeof idn.provider_id, "%s", f->subject);
        rc = f->metadata ? metadata_merge(&f->user, f->metadata) : STORE_OK;
        if (rc == STORE_OK)
            rc = store_user_insert(txn, &f->user);
        if (rc == STORE_OK)
            rc = store_identity_insert(txn, &idn);
        f->created = 1;
    }
    if (rc == STORE_OK && !f->created && f->metadata) {
        rc = metadata_merge(&f->user, f->metadata);
        if (rc == STORE_OK) {
            f->user.updated_at = srv_now();
            rc = store_user_update(txn, &f->user);
        }
    }
    if (rc == STORE_EINVAL && f->metadata) {
        f->outcome = SRV_FED_METADATA_TOO_BIG;
        return SRV_FED_ABORT;
    }
    if (rc != STORE_OK)
        return rc;
    memcpy(f->session.user_id, f->user.id, sizeof f->session.user_id);
    rc = store_session_insert(txn, &f->session);
    snprintf(detail, sizeof detail, "%s%s", f->provider, f->created ? " (new user)" : "");
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.login", f->user.id, f->session.id, srv_rq_client_ip(x->rq), 1,
                       detail);
    if (rc == STORE_OK)
        rc = srv_session_roles_txn(txn, f->user.id, &f->roles);
    return rc;
}

int srv_federated_login(struct srv_request *rq, struct srv_federated_login *f)
{
    struct fed_args x = {rq, f};
    /* ids made once, outside the transaction, so a re-run keeps them */
    if (crypto_id_new("usr", f->new_user_id, sizeof f->new_user_id) != CRYPTO_OK ||
        crypto_id_new("idn", f->new_identity_id, sizeof f->new_identity_id) != CRYPTO_OK ||
        srv_session_new(rq, f->new_user_id, f->client_id, f->amr, f->scope, &f->session,
                        f->refresh) != SRV_OK)
        return STORE_ENOMEM;
    int rc = store_write(srv_rq_ctx(rq)->store, fed_txn, &x);
    return rc == SRV_FED_ABORT ? STORE_OK : rc;
}

void srv_federated_login_clear(struct srv_federated_login *f)
{
    srv_session_roles_clear(&f->roles);
    store_user_clear(&f->user);
    crypto_wipe(f, sizeof *f);
}
