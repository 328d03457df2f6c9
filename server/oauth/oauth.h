/* server/oauth/: the OAuth 2.0 / OIDC endpoints a client calls: the token endpoint and one file
 * per grant, client authentication and its caches, introspection, revocation, device
 * authorization, discovery and the JWKS. Includes signin, http and core. */
#ifndef IDPD_SERVER_OAUTH_H
#define IDPD_SERVER_OAUTH_H

#include "server/signin/signin.h"

/* ---- what the room offers the others ---- */

/* The routes (server/routes.c). */
void srv_handle_discovery(struct srv_request *rq);
void srv_handle_jwks(struct srv_request *rq);
void srv_handle_token(struct srv_request *rq);
void srv_handle_introspect(struct srv_request *rq);
void srv_handle_revoke(struct srv_request *rq);
void srv_handle_device_authorization(struct srv_request *rq);

/* Renders the discovery document and the JWKS and publishes them (srv_http_set_document); the
 * JWKS again whenever the key ring changes (set as ctx->keys_changed by cli/serve.c). */
int srv_discovery_publish(struct srv_ctx *ctx);
int srv_jwks_publish(struct srv_ctx *ctx);
/* Renders the OpenID/OAuth metadata document (malloc'd). */
char *srv_discovery_render(const char *issuer, const char *alg, size_t *len);

/* ---- decoded service accounts for client authentication (client_cache.c); cli/serve.c makes
 * ctx->client_cache ---- */

/* What client authentication reads about a service account and its matching secret. */
struct srv_client_record {
    struct store_service_account sa; /* owned */
    char secret_id[STORE_ID_MAX];
    char phc[STORE_PHC_MAX];
    int64_t secret_last_used_at;
};
struct srv_client_cache;
int srv_client_cache_new(struct srv_client_cache **out);
void srv_client_cache_free(struct srv_client_cache *c);
/* 1 and a copy in *out (clear out->sa) when the cache holds client_id's record for a secret with
 * this hint, read at exactly this store generation, and the secret is live at now; else 0. */
int srv_client_cache_get(struct srv_client_cache *c, uint64_t generation, const char *client_id,
                         const char *hint, int64_t now, struct srv_client_record *out);
/* Remembers rec (copied) as read at generation, for a secret with this hint and expiry. */
void srv_client_cache_put(struct srv_client_cache *c, uint64_t generation, const char *hint,
                          int64_t secret_expires_at, const struct srv_client_record *rec);

/* ---- OAuth client authentication (client_auth.c) ---- */

enum srv_client_kind { SRV_CLIENT_SERVICE_ACCOUNT = 1, SRV_CLIENT_APPLICATION = 2 };

struct srv_client {
    char id[STORE_ID_MAX];
    char *secret; /* owned, wiped when the call ends; NULL for a public application */
    size_t secret_len;
    char secret_id[STORE_ID_MAX];    /* the record the secret is checked against, "" if none */
    char phc[STORE_PHC_MAX];         /* its hash, or the dummy hash */
    int verified;                    /* Argon2 said yes */
    int64_t secret_last_used_at;     /* the stored last_used_at of secret_id (0 = never) */
    int kind;                        /* enum srv_client_kind, once authenticated */
    struct store_service_account sa; /* kind SERVICE_ACCOUNT */
    struct store_application app;    /* kind APPLICATION */
};

/* One call to an OAuth endpoint: its form and client, kept across the Argon2 suspension. */
struct srv_oauth_call {
    struct srv_form form;
    struct srv_client client;
    srv_handler next;
    struct srv_login login;
    struct srv_key_login key_login;
    char audience[1024];       /* the aud of the tokens this call issues, checked before any work */
    struct srv_jwt_grant *jwt; /* grant_jwt_bearer.c and client assertions: owned */
};

/* 1 when the caller is an application allowed to use grant; otherwise answers
 * unauthorized_client itself and returns 0. */
int srv_app_allows_or_error(struct srv_request *rq, const struct srv_client *c, const char *grant);

/* Parses the form body into a call owned by rq (srv_rq_state). NULL when it answered an error. */
struct srv_oauth_call *srv_oauth_call_begin_or_error(struct srv_request *rq);
/* Authenticates the caller, then calls next(rq) with call->client filled: a service account or
 * a confidential application by its secret (client_secret_basic or client_secret_post), a public
 * application by its client_id alone (auth method none). Answers invalid_client (401) or
 * invalid_request itself, and 503 temporarily_unavailable when the client cannot be read (the
 * database down): that is no verdict on its credentials. An unknown client costs the same Argon2
 * run as a wrong secret. */
void srv_client_authenticate(struct srv_request *rq, srv_handler next);

/* ---- inside the room: the grants (token.c dispatches to them) ---- */

/* Signs the tokens of a user session and answers them: access token (with roles, read in the
 * transaction that stored the session: srv_session_roles_txn), refresh token, ID token when the
 * session's scope has openid, for the call's audience (session_tokens.c). Reads no store.
 * Answers server_error itself on failure. */
void srv_reply_session_tokens(struct srv_request *rq, const struct store_user *u,
                              const struct store_session *s, const char *refresh, const char *nonce,
                              const struct srv_session_roles *roles);

void srv_grant_password(struct srv_request *rq);
void srv_grant_code(struct srv_request *rq);
void srv_grant_device(struct srv_request *rq);
void srv_grant_anonymous(struct srv_request *rq);
void srv_grant_refresh(struct srv_request *rq);
void srv_grant_api_key(struct srv_request *rq);
void srv_grant_jwt_bearer(struct srv_request *rq);

/* ---- another issuer's assertions (assertions.c): the JWT bearer grant and client assertions */

/* What checking one assertion keeps across the wait for the issuer's keys. */
struct srv_jwt_grant {
    const char *token;             /* borrowed from the call's form */
    struct srv_idp idp;            /* the provider the assertion's issuer names */
    const struct srv_trust *trust; /* the one being checked */
    const char *audience;
    struct srv_assertion a;
    int rc; /* of srv_assertion_verify */
    char why[256];
    srv_handler then;
    struct srv_federated_login login;
};
void srv_jwt_grant_free(struct srv_jwt_grant *g);
/* Verifies g->token against g->trust (audience g->audience), from the key cache on this thread
 * or, when the issuer's keys must be fetched, on a fetch worker; then calls g->then(rq) with
 * g->rc and g->a set. */
void srv_assertion_check(struct srv_request *rq, struct srv_jwt_grant *g);
/* The claims of a compact JWS, unverified: only to pick whose keys to verify it with. NULL
 * when it has no object of claims with a string iss. */
json_t *srv_jwt_peek(const char *token);
/* Audits a refused assertion (token.refused, why as the detail) and answers error. */
void srv_assertion_refused(struct srv_request *rq, const char *actor, int status, const char *error,
                           const char *why);

#endif
