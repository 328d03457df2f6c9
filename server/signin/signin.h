/* server/signin/: what the rooms that sign users in share. Password logins and their
 * brute-force budgets (the token endpoint, the login page and the device page answer the same
 * check in their own way), wrong device user codes, and new user sessions with the token answer
 * (every user grant, the pages' code exchange, the self-service API). Includes http and core. */
#ifndef IDPD_SERVER_SIGNIN_H
#define IDPD_SERVER_SIGNIN_H

#include "server/http/http.h"

/* ---- the brute-force defence of password logins (login_guard.c) ----
 * Failures are counted in the store (a restart forgets nothing), in three budgets: per login name
 * and address (the lockout proper), per address across names, and per account across addresses.
 * IPv6 addresses count by their /64. */
#define SRV_LOGIN_KEY_LEN 64 /* hex of SHA-256 */
struct srv_login_guard {
    char pair[SRV_LOGIN_KEY_LEN + 1];    /* (name, address): no name or address in clear */
    char address[SRV_LOGIN_KEY_LEN + 1]; /* the address (its /64) */
    char account[SRV_LOGIN_KEY_LEN + 1]; /* the name */
};
/* The keys of a login as email from ip (the request's client address). */
void srv_login_guard_init(struct srv_login_guard *g, const char *email, const char *ip);
/* *wait receives the seconds (rounded up) an attempt must still wait before it may be checked:
 * the longest of the pair's wait, the address's, and the account's when this address already
 * failed on it (so the owner elsewhere is never slowed by it); 0 when none applies. One read
 * transaction. STORE_OK, or the store's error when the budgets cannot be read: the attempt is
 * then not checked at all (answered 503), so an outage neither opens a way around the budgets nor
 * costs a second wait for the store. */
int srv_login_guard_wait(struct srv_request *rq, const struct srv_login_guard *g, int64_t *wait);
/* In the transaction of a failed attempt: counts it in every budget and, past a threshold, sets
 * the wait (audited as user.lockout with user_id, which may be NULL). */
int srv_login_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                               const struct srv_login_guard *g, const char *user_id);
/* In the transaction of a success: forgets the pair's failures. The address and account budgets
 * are not reset by a success (an attacker would log in to an account of their own between
 * guesses); they forget one failure a minute. */
int srv_login_guard_succeeded_txn(struct store_txn *txn, const struct srv_login_guard *g);

/* Wrong user codes on the device page (RFC 8628 §5.1) count per address and per browser (its
 * CSRF token) like failed logins, and in one total: a device request fails once
 * device_code_guess_max wrong codes were tried anywhere since it began, so no one can search the
 * code space while it waits. */
struct srv_code_guard {
    char address[SRV_LOGIN_KEY_LEN + 1];
    char browser[SRV_LOGIN_KEY_LEN + 1]; /* "" without a CSRF cookie */
    char total[SRV_LOGIN_KEY_LEN + 1];
};
void srv_code_guard_init(struct srv_code_guard *g, const char *ip, const char *browser);
/* *wait receives the seconds the address or the browser must still wait before a code is looked
 * at; 0 for none. STORE_OK, or the store's error (as srv_login_guard_wait). */
int srv_code_guard_wait(struct srv_request *rq, const struct srv_code_guard *g, int64_t *wait);
/* In the transaction of a wrong code: counts it (address, browser, total) and audits it. */
int srv_code_guard_failed_txn(struct store_txn *txn, struct srv_request *rq,
                              const struct srv_code_guard *g);
/* The total of wrong codes so far, inside a transaction (0 when none was counted). */
int srv_device_guesses(struct store_txn *txn, uint64_t *total);
/* 1 when d has seen device_code_guess_max wrong codes since it began: it is over. */
int srv_device_guessed_out(const struct srv_config *cfg, const struct store_device_code *d,
                           uint64_t total);

/* ---- password logins (password_login.c) ---- */

/* How a password login answers (password_login.c): the token endpoint in JSON, the login page
 * in HTML. */
struct srv_password_ops {
    /* a wrong email or password, or a disabled user (already audited and counted) */
    void (*refused)(struct srv_request *rq);
    /* the credential is right but the user is disabled (audited; counted as a failed password);
     * NULL: answered as refused. The App Services client API says UserDisabled, and only after
     * the credential was checked, so it tells nothing to someone who does not hold it. */
    void (*disabled)(struct srv_request *rq);
    /* the (name, address) pair waits wait more seconds: nothing was checked */
    void (*locked)(struct srv_request *rq, int64_t wait);
    /* the store failed (nothing was checked, counted or changed); answer 503 */
    void (*unavailable)(struct srv_request *rq);
    /* require_verified_email: the password is right but the address is not verified yet (said
     * only after the password was checked, so it tells nothing to someone who does not know it) */
    void (*unverified)(struct srv_request *rq);
    /* the password is right: fill the session to make for user_id (SRV_OK), or answer */
    int (*session)(struct srv_request *rq, const char *user_id, struct store_session *s,
                   char refresh[SRV_REFRESH_LEN]);
    /* the session is stored (with the user's roles in the login's roles): answer with it */
    void (*done)(struct srv_request *rq, const struct store_user *u, const struct store_session *s,
                 const char *refresh);
    /* 1: an email without an identity may be a registration waiting for its first login
     * (storage's pending users, made by the App Services client API); its right password makes
     * the user. An unconfirmed one answers unverified, after the password was checked. */
    int pending;
};

/* The roles the access token of a new or rotated session carries: its user's effective roles,
 * read inside the write transaction that makes or rotates the session (srv_session_roles_txn),
 * so that the token answer reads nothing after the commit. A store failing between the two would
 * otherwise leave a rotated refresh token, a used code or a session no client was ever given. */
struct srv_session_roles {
    char (*roles)[STORE_ROLE_MAX]; /* owned: srv_session_roles_clear() */
    size_t n;
};

struct srv_login {
    const struct srv_password_ops *ops;
    const char *password;              /* borrowed from the call's form */
    struct store_user user;            /* owned: clear with store_user_clear() */
    struct store_identity identity;    /* the local-userpass identity logged in with */
    int found;                         /* identity and user exist */
    struct store_pending_user pending; /* ops->pending: the registration of the email */
    int pending_found;
    int verified;                   /* the password matched */
    char new_phc[STORE_PHC_MAX];    /* a re-hash under the current parameters, or "" */
    struct srv_login_guard guard;   /* its failed-login budgets */
    struct srv_session_roles roles; /* once logged in: what the token carries (owned) */
};

/* Logs the user of email in with password, answering through ops. l lives in the request's
 * state (it is kept across the Argon2 suspension) and is cleared with srv_login_clear(). */
void srv_password_login(struct srv_request *rq, struct srv_login *l, const char *email,
                        const char *password, const struct srv_password_ops *ops);
/* Releases what l owns and wipes it. */
void srv_login_clear(struct srv_login *l);

/* ---- anonymous users (anonymous.c) ---- */

struct srv_anonymous {
    struct store_user user;
    struct store_identity identity;
    struct store_session session;
    char refresh[SRV_REFRESH_LEN];
    struct srv_session_roles roles;
};
/* Makes a new anonymous user with its anon-user identity and a session of client_id (scope may
 * be NULL; device_id NULL but for the App Services client API) in one write transaction, into
 * *a (clear it with srv_anonymous_clear). STORE_OK, STORE_ENOMEM when no id or token could be
 * made, or the store's error. */
int srv_anonymous_login(struct srv_request *rq, const char *client_id, const char *scope,
                        const char *device_id, struct srv_anonymous *a);
void srv_anonymous_clear(struct srv_anonymous *a);

/* ---- sign-in by another issuer's verified token (federated_login.c) ---- */

enum srv_fed_outcome {
    SRV_FED_OK,               /* signed in (f->created: a new user) */
    SRV_FED_REPLAYED,         /* the assertion's jti was used already */
    SRV_FED_DISABLED,         /* the user is disabled */
    SRV_FED_NO_USER,          /* no such identity, and the provider creates no users */
    SRV_FED_METADATA_TOO_BIG, /* the claims copied would make the metadata too large */
};
#define SRV_FED_ABORT 1010 /* federated_login.c's transaction: an outcome, nothing written */

struct srv_federated_login {
    /* the caller's */
    const char *client_id, *scope, *amr; /* scope may be NULL */
    char provider[STORE_PROVIDER_MAX];   /* "custom-jwt:<name>", "oidc:<name>" */
    char subject[STORE_EMAIL_MAX];
    const char *metadata; /* a JSON object's text whose members go into the user's metadata */
    int create_users;
    char jti_key[SRV_JTI_KEY_MAX]; /* "" for none: else claimed once until jti_exp */
    int64_t jti_exp;
    /* the answer */
    enum srv_fed_outcome outcome;
    int created;
    struct store_user user; /* owned */
    struct store_session session;
    char refresh[SRV_REFRESH_LEN];
    struct srv_session_roles roles;
    char new_user_id[STORE_ID_MAX], new_identity_id[STORE_ID_MAX];
};
/* Signs in f->subject of f->provider in one write transaction: STORE_OK with f->outcome, or the
 * store's error (STORE_ENOMEM when no id or token could be made). */
int srv_federated_login(struct srv_request *rq, struct srv_federated_login *f);
void srv_federated_login_clear(struct srv_federated_login *f);

/* ---- a user's API keys (api_keys.c) ---- */

/* The user's keys, oldest first, into keys (*n of them), in one read transaction. STORE_OK or
 * the store's error. */
int srv_api_keys_read(struct srv_request *rq, const char *user_id,
                      struct store_api_key keys[STORE_API_KEYS_MAX], size_t *n);
/* What a user does with one of its keys; each but GET is audited (api_key.delete, …). */
enum srv_api_key_op { SRV_KEY_GET, SRV_KEY_DELETE, SRV_KEY_ENABLE, SRV_KEY_DISABLE };
/* op on the key the route's first path parameter names, of user_id, in one transaction (a read
 * one for GET): reads it into *key. *missing = 1 (and nothing done) when the user holds no key
 * of that id, another user's included. via (the API) goes into the audit event's detail. */
int srv_api_key_apply(struct srv_request *rq, const char *user_id, enum srv_api_key_op op,
                      const char *via, struct store_api_key *key, int *missing);
enum srv_api_key_made { SRV_KEY_CREATED, SRV_KEY_NAME_TAKEN, SRV_KEY_FULL, SRV_KEY_USER_GONE };

/* A key being made, kept in the request's state across its Argon2 run. */
struct srv_key_create {
    struct store_api_key rec;      /* the caller sets user_id and name */
    const char *via;               /* the API, for the audit event's detail */
    srv_handler done;              /* then called: rc, outcome and key say how it went */
    char key[SRV_API_KEY_LEN];     /* the key, to show once (the state's owner wipes it) */
    int made;                      /* Argon2 ran */
    int rc;                        /* STORE_OK; STORE_ENOMEM when no key could be made */
    enum srv_api_key_made outcome; /* with STORE_OK: made, or why not */
};
/* Makes c's key on a worker and stores it in one write transaction, then calls c->done(rq). */
void srv_api_key_create(struct srv_request *rq, struct srv_key_create *c);

/* ---- user API key logins (api_key_login.c) ---- */

struct srv_key_login {
    const struct srv_password_ops *ops; /* locked and unverified are not used */
    const char *key;                    /* borrowed from the call's body or form */
    struct store_api_key rec;           /* the record the key names */
    struct store_user user;             /* owned: clear with srv_key_login_clear() */
    int found, verified;
    struct srv_session_roles roles; /* once logged in: what the token carries (owned) */
};
/* Logs the user of key in, answering through ops; l lives in the request's state. */
void srv_api_key_login(struct srv_request *rq, struct srv_key_login *l, const char *key,
                       const struct srv_password_ops *ops);
void srv_key_login_clear(struct srv_key_login *l);

/* ---- device user codes (user_codes.c) ---- */

#define SRV_USER_CODE_LEN 8
/* A new random user code (stored form, no dash). */
int srv_user_code_new(char out[STORE_USER_CODE_MAX]);
/* A user code as typed: letters of the alphabet, in any case, with dashes and spaces. Writes
 * the stored form; 0 when it cannot be one. */
int srv_user_code_normalise(const char *in, char out[STORE_USER_CODE_MAX]);
/* The form shown to people: XXXX-XXXX. */
void srv_user_code_display(const char *code, char out[SRV_USER_CODE_LEN + 2]);

/* ---- user sessions (sessions.c) ---- */

/* The scope values a user grant may ask for. */
int srv_user_scope_valid_or_error(struct srv_request *rq, const char *scope);
/* The same check without an answer: SRV_EINVAL with the reason in why. */
int srv_user_scope_check(const char *scope, char *why, size_t cap);

/* Fills a new session for user_id logged in through client_id (ids, times from the configured
 * lifetimes, client IP and user agent of rq) and makes its refresh token. Writes nothing. */
int srv_session_new(struct srv_request *rq, const char *user_id, const char *client_id,
                    const char *amr, const char *scope, struct store_session *s,
                    char refresh[SRV_REFRESH_LEN]);

/* 1 when the space-separated scope holds value. */
int srv_scope_has(const char *scope, const char *value);

/* In the transaction: reads user_id's effective roles into r (struct srv_session_roles, above),
 * freeing what an earlier run of the transaction left there. */
int srv_session_roles_txn(struct store_txn *txn, const char *user_id, struct srv_session_roles *r);
void srv_session_roles_clear(struct srv_session_roles *r);

/* ---- what a mailed link does (recovery.c): shared by the API (account/) and the pages ---- */

/* A password reset in flight, kept in the request's state across its Argon2 run. */
struct srv_reset {
    const char *token, *password; /* borrowed from the request's body or form */
    char phc[STORE_PHC_MAX];
    int hashed;
};
/* On a worker: the hash of r->password, under the configured parameters. */
void srv_reset_hash(struct srv_request *rq, struct srv_reset *r);
/* After it, one write transaction: uses the reset link r->token and gives the user's
 * email/password identity the new hash; every session of the user ends, every other reset link
 * of the user dies, the address counts as verified (the link proved it), and the owner is told
 * by mail (the sender is woken). Audited as user.password_reset. STORE_OK; STORE_NOTFOUND when
 * the link is not a live reset link; STORE_ENOMEM when the hash could not be made; else the
 * store's error. */
int srv_reset_apply(struct srv_request *rq, struct srv_reset *r);
/* STORE_OK when token is a live reset link, STORE_NOTFOUND when not, or the store's error (one
 * read transaction, nothing used): the pages and the API look before they spend Argon2 on a new
 * password for a link that cannot take it. */
int srv_reset_link_check(struct srv_request *rq, const char *token);

/* In txn: uses token as a verification link (the address is verified), an email-change link
 * (the address changes to the one verified; the old address is told) or a registration's
 * confirmation link (srv_registration_confirm_txn). STORE_NOTFOUND when it is none of them;
 * STORE_EXISTS when the new address of a change belongs to another user meanwhile. */
int srv_verify_apply_txn(struct store_txn *txn, struct srv_request *rq, const char *token);

/* ---- registrations waiting for their first login (registration.c) ---- */

/* In txn: uses token as the confirmation link of a registration (its tokenId, when token_id is
 * not NULL, must name it): the registration is confirmed, its address proven, and it is kept
 * until its first login. STORE_NOTFOUND when token is no such live link, or the registration was
 * replaced by a newer one; else the store's error. */
int srv_registration_confirm_txn(struct store_txn *txn, struct srv_request *rq, const char *token,
                                 const char *token_id);
/* In txn: stores p (unconfirmed) to expire with its link after email_verify_ttl, and mails its
 * confirmation link (app: the application's name for the message), the earlier links of p's id
 * dying. */
int srv_registration_mail_txn(struct store_txn *txn, struct srv_request *rq,
                              struct store_pending_user *p, const char *app);

/* A forgotten password (POST /v1/password/forgot, the App Services API's reset/send): for the
 * address whose key is key, through application client_id. One write transaction that counts
 * the address's mail budget and writes an audit event whether the address has an account or
 * not, and mails a reset link (the older ones dying) only to an active user within the budget:
 * the work is the same either way, only the outbox differs, and no one outside sees it. */
struct srv_forgot {
    struct srv_request *rq;
    const char *client_id, *key;
    int app_found; /* out: client_id names an application (else nothing was done) */
};
int srv_forgot_write(struct srv_forgot *f);

/* The name an application goes by in mail (its name, or "" when it has none or is unknown). */
void srv_app_mail_name(struct store_txn *txn, const char *client_id, char name[STORE_NAME_MAX]);

#endif
