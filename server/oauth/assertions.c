/* Another issuer's assertions at the token endpoint: the JWT bearer grant (RFC 7523 §2.1) and
 * client assertions (§2.2). The signature is checked with the issuer's keys from the cache on
 * the HTTP thread; only when they must be fetched (first use, expiry, an unknown kid) does the
 * check move to a fetch worker, so a slow issuer holds no HTTP thread and no Argon2 worker. */
#define LOG_MODULE "oauth"

#include <stdlib.h>
#include <string.h>

#include "server/oauth/oauth.h"

void srv_jwt_grant_free(struct srv_jwt_grant *g)
{
    if (!g)
        return;
    srv_idp_clear(&g->idp);
    srv_assertion_clear(&g->a);
    srv_federated_login_clear(&g->login);
    free(g);
}

static void check_work(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    struct srv_jwt_grant *g = call->jwt;
    g->rc = srv_assertion_verify(srv_rq_ctx(rq), g->trust, g->audience, g->token, SRV_MAY_FETCH,
                                 &g->a, g->why, sizeof g->why);
}

static void check_done(struct srv_request *rq)
{
    struct srv_oauth_call *call = srv_rq_state(rq);
    call->jwt->then(rq);
}

void srv_assertion_check(struct srv_request *rq, struct srv_jwt_grant *g)
{
    g->rc = srv_assertion_verify(srv_rq_ctx(rq), g->trust, g->audience, g->token, SRV_MEMORY_ONLY,
                                 &g->a, g->why, sizeof g->why);
    if (g->rc == SRV_EAGAIN)
        srv_defer_fetch(rq, check_work, check_done);
    else
        g->then(rq);
}

json_t *srv_jwt_peek(const char *token)
{
    const char *dot = strchr(token, '.'), *end = dot ? strchr(dot + 1, '.') : NULL;
    size_t len = end ? (size_t)(end - dot - 1) : 0, n = 0;
    char *payload = NULL;
    json_t *claims = NULL;
    if (!end || len == 0 || len > KEYS_FOREIGN_JWT_MAX || !(payload = malloc(len)))
        goto out;
    if (crypto_b64url_decode(dot + 1, len, payload, len, &n) == CRYPTO_OK)
        claims = json_loadb(payload, n, JSON_REJECT_DUPLICATES, NULL);
    if (!json_is_object(claims) || !json_is_string(json_object_get(claims, "iss"))) {
        json_decref(claims);
        claims = NULL;
    }
out:
    free(payload);
    return claims;
}

void srv_assertion_refused(struct srv_request *rq, const char *actor, int status, const char *error,
                           const char *why)
{
    srv_audit_enqueue(srv_rq_ctx(rq), "token.refused", actor, actor, srv_rq_client_ip(rq), 0, why);
    srv_reply_oauth_error(rq, status, error, "%s", why);
}
