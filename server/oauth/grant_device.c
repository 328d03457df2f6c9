/* grant_type=urn:ietf:params:oauth:grant-type:device_code (RFC 8628 §3.4, §3.5): a device polls
 * until its user approved or denied on /device. Each poll is written (its time), so a device
 * that polls faster than its interval gets slow_down and 5 s more to wait, as the RFC says. An
 * approved request becomes a session of the application (standalone: signing out of the
 * browser that approved it does not end it) and is removed, so its device code works once. The
 * session and its refresh token are made in that write, only then: a pending poll makes none. */
#define LOG_MODULE "oauth"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "server/oauth/oauth.h"

enum outcome { TOKENS, UNKNOWN, EXPIRED, PENDING, SLOW_DOWN, DENIED, USER_GONE, NO_SESSION };

struct poll {
    struct srv_request *rq;
    const char *client_id;
    uint8_t hash[STORE_REFRESH_HASH_LEN];
    struct store_device_code d;
    struct store_session session; /* made only once the request is approved */
    char refresh[SRV_REFRESH_LEN];
    struct store_user user;
    struct srv_session_roles roles;
    enum outcome outcome;
};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int poll_txn(struct store_txn *txn, void *arg)
{
    struct poll *p = arg;
    int64_t ms = now_ms();
    store_user_clear(&p->user);
    int rc = store_device_get(txn, p->hash, &p->d);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && strcmp(p->d.client_id, p->client_id) != 0)) {
        p->outcome = UNKNOWN; /* another client's device code is none of its business */
        return STORE_OK;
    }
    if (rc)
        return rc;
    uint64_t guesses = 0;
    if ((rc = srv_device_guesses(txn, &guesses)) != STORE_OK)
        return rc;
    if (p->d.expires_at <= ms / 1000) {
        p->outcome = EXPIRED;
        return STORE_OK;
    }
    if (p->d.status == STORE_DEVICE_PENDING &&
        srv_device_guessed_out(srv_rq_ctx(p->rq)->cfg, &p->d, guesses)) {
        /* so many wrong codes were tried while it waited that its own may have been found */
        p->outcome = EXPIRED;
        return store_device_delete(txn, p->hash);
    }
    if (p->d.last_poll_ms && ms - p->d.last_poll_ms < p->d.interval * 1000) {
        p->outcome = SLOW_DOWN;
        p->d.interval += 5;
        p->d.last_poll_ms = ms;
        return store_device_update(txn, &p->d);
    }
    p->d.last_poll_ms = ms;
    if (p->d.status == STORE_DEVICE_PENDING) {
        p->outcome = PENDING;
        return store_device_update(txn, &p->d);
    }
    if (p->d.status == STORE_DEVICE_DENIED) {
        p->outcome = DENIED;
        return store_device_delete(txn, p->hash);
    }
    rc = store_user_get(txn, p->d.user_id, &p->user);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && p->user.status != STORE_USER_ACTIVE)) {
        p->outcome = USER_GONE;
        return store_device_delete(txn, p->hash);
    }
    if (rc)
        return rc;
    if (srv_session_new(p->rq, p->d.user_id, p->client_id, "pwd", p->d.scope, &p->session,
                        p->refresh) != SRV_OK) {
        p->outcome = NO_SESSION;
        return STORE_EINVAL; /* aborts: the request stays approved for the next poll */
    }
    p->session.created_at = p->d.auth_time; /* the session's created_at is its auth_time */
    if ((rc = store_device_delete(txn, p->hash)) != STORE_OK ||
        (rc = store_session_insert(txn, &p->session)) != STORE_OK)
        return rc;
    p->outcome = TOKENS;
    rc = srv_audit(txn, "session.create", p->d.user_id, p->session.id, srv_rq_client_ip(p->rq), 1,
                   "device authorization");
    return rc ? rc : srv_session_roles_txn(txn, p->d.user_id, &p->roles);
}

void srv_grant_device(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    const char *device = srv_form_get(&call->form, "device_code");
    struct poll p = {.rq = rq, .client_id = call->client.id};
    if (!srv_app_allows_or_error(rq, &call->client, "urn:ietf:params:oauth:grant-type:device_code"))
        return;
    if (!device) {
        srv_reply_oauth_error(rq, 400, "invalid_request", "device_code is required");
        return;
    }
    crypto_sha256(device, strlen(device), p.hash);
    int rc = store_write(srv_rq_ctx(rq)->store, poll_txn, &p);
    if (p.outcome == NO_SESSION) {
        srv_reply_oauth_error(rq, 500, "server_error", "no session could be made");
    } else if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the poll could not be saved");
    } else if (p.outcome == TOKENS) {
        srv_reply_session_tokens(rq, &p.user, &p.session, p.refresh, NULL, &p.roles);
    } else if (p.outcome == PENDING) {
        srv_reply_oauth_error(rq, 400, "authorization_pending", "the user has not answered yet");
    } else if (p.outcome == SLOW_DOWN) {
        srv_reply_oauth_error(rq, 400, "slow_down", "poll at most every %lld seconds",
                              (long long)p.d.interval);
    } else if (p.outcome == DENIED) {
        srv_reply_oauth_error(rq, 400, "access_denied", "the user denied the device");
    } else if (p.outcome == EXPIRED) {
        srv_reply_oauth_error(rq, 400, "expired_token", "the device code has expired");
    } else {
        srv_reply_oauth_error(rq, 400, "invalid_grant", "the device code is not valid");
    }
    srv_session_roles_clear(&p.roles);
    store_user_clear(&p.user);
    crypto_wipe(p.refresh, sizeof p.refresh);
}
