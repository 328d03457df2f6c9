/* POST /oauth/device_authorization (RFC 8628 §3.1, §3.2): a command-line tool asks for a device
 * code, which it polls the token endpoint with (grant_device.c), and a user code, which its user
 * enters on the device page (pages/device.c). */
#define LOG_MODULE "device"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

#define DEVICE_GRANT "urn:ietf:params:oauth:grant-type:device_code"

static const char *const no_store[] = {"Cache-Control", "no-store", "Pragma", "no-cache", NULL};

/* The request remembers how many wrong user codes were tried before it began (login_guard.c). */
static int insert_txn(struct store_txn *txn, void *arg)
{
    struct store_device_code *d = arg;
    int rc = srv_device_guesses(txn, &d->guesses_at_start);
    return rc ? rc : store_device_insert(txn, d);
}

/* Fills d with new codes and stores it, trying other user codes when one is taken. */
static int new_request(struct srv_ctx *ctx, struct store_device_code *d,
                       char device[SRV_REFRESH_LEN])
{
    uint8_t raw[32];
    int rc = STORE_EXISTS;
    for (int attempt = 0; attempt < 5 && rc == STORE_EXISTS; attempt++) {
        if (crypto_random(raw, sizeof raw) != CRYPTO_OK ||
            crypto_b64url_encode(raw, sizeof raw, device, SRV_REFRESH_LEN, NULL) != CRYPTO_OK)
            return STORE_EINVAL;
        crypto_sha256(device, strlen(device), d->hash);
        if (srv_user_code_new(d->user_code) != SRV_OK)
            return STORE_EINVAL;
        rc = store_write(ctx->store, insert_txn, d);
    }
    crypto_wipe(raw, sizeof raw);
    return rc;
}

static void authorize_device(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_ctx *ctx = srv_rq_ctx(rq);
    const char *scope = srv_form_get(&call->form, "scope");
    struct store_device_code d = {0};
    char device[SRV_REFRESH_LEN], shown[SRV_USER_CODE_LEN + 2], uri[1200], complete[1300];
    if (!srv_app_allows_or_error(rq, &call->client, DEVICE_GRANT) ||
        srv_user_scope_valid_or_error(rq, scope) != SRV_OK)
        return;
    snprintf(d.client_id, sizeof d.client_id, "%s", call->client.id);
    snprintf(d.scope, sizeof d.scope, "%s", scope ? scope : "");
    d.status = STORE_DEVICE_PENDING;
    d.expires_at = srv_now() + ctx->cfg->device_code_ttl;
    d.interval = ctx->cfg->device_poll_interval;
    int rc = new_request(ctx, &d, device);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the request could not be saved");
        return;
    }
    srv_user_code_display(d.user_code, shown);
    snprintf(uri, sizeof uri, "%s/device", ctx->issuer);
    snprintf(complete, sizeof complete, "%s?user_code=%s", uri, shown);
    srv_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:s, s:s, s:I, s:I}", "device_code", device, "user_code",
                             shown, "verification_uri", uri, "verification_uri_complete", complete,
                             "expires_in", (json_int_t)ctx->cfg->device_code_ttl, "interval",
                             (json_int_t)d.interval),
                   no_store);
    crypto_wipe(device, sizeof device);
}

void srv_handle_device_authorization(struct srv_request *rq)
{
    if (srv_rate_limited_reply(rq, SRV_RATE_TOKEN) || !srv_oauth_call_begin_or_error(rq))
        return;
    srv_client_authenticate(rq, authorize_device);
}
