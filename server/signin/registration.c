/* Registrations of the App Services client API that wait for their first login (storage's
 * pending users), confirmed by a mailed link when registration_verify is on. The link is an
 * email token of purpose "confirm-registration" whose owner is the registration's id, so a newer
 * registration of the address (a new id) leaves the older links without effect. Following it
 * marks the registration confirmed and its address proven; the user is made at the first login
 * (signin/password_login.c) or the identity joins the user who links it. */
#define LOG_MODULE "register"

#include <string.h>

#include "server/signin/signin.h"

int srv_registration_confirm_txn(struct store_txn *txn, struct srv_request *rq, const char *token,
                                 const char *token_id)
{
    uint8_t hash[CRYPTO_SHA256_LEN];
    struct store_email_token t;
    struct store_pending_user p;
    char key[STORE_EMAIL_MAX];
    if (!token || strlen(token) != SRV_REFRESH_LEN - 1)
        return STORE_NOTFOUND;
    crypto_sha256(token, strlen(token), hash);
    int rc = store_email_token_get(txn, hash, &t);
    if (rc != STORE_OK)
        return rc;
    if (strcmp(t.purpose, srv_link_purpose_name(SRV_LINK_CONFIRM)) != 0 ||
        t.expires_at <= srv_now() || (token_id && strcmp(token_id, t.user_id) != 0) ||
        srv_email_key(t.email, key) != SRV_EMAIL_OK)
        return STORE_NOTFOUND;
    rc = store_pending_get(txn, key, &p);
    if (rc == STORE_OK && strcmp(p.id, t.user_id) != 0)
        rc = STORE_NOTFOUND; /* registered again since: this link confirms nothing any more */
    if (rc == STORE_OK) {
        p.confirmed = p.email_verified = 1;
        p.expires_at = 0; /* kept until its first login */
        rc = store_pending_put(txn, &p);
    }
    if (rc == STORE_OK)
        rc = store_email_token_delete(txn, hash);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "user.register_confirmed", NULL, p.id, srv_rq_client_ip(rq), 1,
                       "local-userpass: the registration's address is confirmed");
    crypto_wipe(&p, sizeof p);
    return rc;
}

int srv_registration_mail_txn(struct store_txn *txn, struct srv_request *rq,
                              struct store_pending_user *p, const char *app)
{
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    p->expires_at = srv_now() + ctx->cfg->email_verify_ttl;
    int rc = store_pending_put(txn, p);
    if (rc == STORE_OK)
        rc = store_email_tokens_delete_user(txn, p->id, srv_link_purpose_name(SRV_LINK_CONFIRM),
                                            NULL);
    return rc ? rc : srv_link_send_txn(txn, ctx, SRV_LINK_CONFIRM, p->id, p->email, app);
}
