/* server/admin/: the admin API (/admin/v1): the admin guard, users and their sessions, teams,
 * role grants, service accounts with secrets, access lists and federated credentials,
 * applications, identity providers, signing keys and the audit log. Includes http and core. */
#ifndef IDPD_SERVER_ADMIN_H
#define IDPD_SERVER_ADMIN_H

#include "server/http/http.h"

/* ---- what the room offers the others ---- */

/* The routes (server/routes.c). */
void srv_admin_apps_create(struct srv_request *rq);
void srv_admin_apps_delete(struct srv_request *rq);
void srv_admin_apps_get(struct srv_request *rq);
void srv_admin_apps_list(struct srv_request *rq);
void srv_admin_apps_patch(struct srv_request *rq);
void srv_admin_audit_list(struct srv_request *rq);
void srv_admin_fics_create(struct srv_request *rq);
void srv_admin_fics_delete(struct srv_request *rq);
void srv_admin_fics_list(struct srv_request *rq);
void srv_admin_idps_create(struct srv_request *rq);
void srv_admin_idps_delete(struct srv_request *rq);
void srv_admin_idps_get(struct srv_request *rq);
void srv_admin_idps_list(struct srv_request *rq);
void srv_admin_idps_patch(struct srv_request *rq);
void srv_admin_keys_list(struct srv_request *rq);
void srv_admin_keys_rotate(struct srv_request *rq);
void srv_admin_roles_get(struct srv_request *rq);
void srv_admin_roles_put(struct srv_request *rq);
void srv_admin_sa_acl_get(struct srv_request *rq);
void srv_admin_sa_acl_put(struct srv_request *rq);
void srv_admin_sa_create(struct srv_request *rq);
void srv_admin_sa_delete(struct srv_request *rq);
void srv_admin_sa_get(struct srv_request *rq);
void srv_admin_sa_list(struct srv_request *rq);
void srv_admin_sa_patch(struct srv_request *rq);
void srv_admin_sa_secret_create(struct srv_request *rq);
void srv_admin_sa_secret_delete(struct srv_request *rq);
void srv_admin_sa_secrets(struct srv_request *rq);
void srv_admin_session_delete(struct srv_request *rq);
void srv_admin_teams_create(struct srv_request *rq);
void srv_admin_teams_delete(struct srv_request *rq);
void srv_admin_teams_get(struct srv_request *rq);
void srv_admin_teams_list(struct srv_request *rq);
void srv_admin_teams_member_delete(struct srv_request *rq);
void srv_admin_teams_member_put(struct srv_request *rq);
void srv_admin_teams_members(struct srv_request *rq);
void srv_admin_teams_patch(struct srv_request *rq);
void srv_admin_users_create(struct srv_request *rq);
void srv_admin_users_delete(struct srv_request *rq);
void srv_admin_users_disable(struct srv_request *rq);
void srv_admin_users_enable(struct srv_request *rq);
void srv_admin_users_password_reset(struct srv_request *rq);
void srv_admin_users_verification(struct srv_request *rq);
void srv_admin_users_get(struct srv_request *rq);
void srv_admin_users_list(struct srv_request *rq);
void srv_admin_users_patch(struct srv_request *rq);
void srv_admin_users_sessions(struct srv_request *rq);
void srv_admin_users_sessions_delete(struct srv_request *rq);

/* The signing keys (keys.c), shown and rotated by the API and by `idpd keys` (cli/). */
/* The signing keys as the admin API and `idpd keys rotate` show them (keys.c): an array
 * of {"kid","alg","state","created_at","activated_at","retire_after"}, null for a time that is
 * 0. Returns a new reference. */
json_t *srv_keys_json(const struct keys_info *items, size_t n);
/* The kid (and activated_at, may be NULL) of the ring's active key. KEYS_EKID when none. */
int srv_keys_active(struct keys *kr, char kid[KEYS_KID_MAX], int64_t *activated_at);
/* Seconds the next key must have been published before a rotation may make it sign:
 * jwks_max_age (a verifier may hold the JWKS it fetched just before the key appeared that long)
 * plus keys_refresh_interval (a process other than the one that made the key, another node or
 * the server beside `idpd keys rotate`, publishes it only at its next check). */
int64_t srv_keys_min_published(const struct srv_config *cfg);
/* Rotates the keys with the audit event of type (target: the new active kid) in the rotation's
 * own write transaction. actor, client_ip and detail may be "" or NULL. Returns enum keys_err:
 * KEYS_ETOOSOON (nothing rotated, *ready_at = the first second it may) when the next key has
 * been published for less than srv_keys_min_published() and force is 0. With force such a
 * rotation happens anyway and its audit detail says "forced" and how young the key was; a
 * forced rotation of a key published long enough is an ordinary one. */
int srv_keys_rotate_audited(struct srv_ctx *ctx, const char *type, const char *actor,
                            const char *client_ip, const char *detail, int force,
                            int64_t *ready_at);

/* ---- inside the room: the guard and the shapes every resource shares (admin.c) ---- */

/* What an admin route needs (DESIGN.md §4): the built-in roles that satisfy each. */
enum srv_admin_need {
    SRV_NEED_READ,        /* idp:admin, idp:user-admin, idp:auditor: read users, teams, SAs… */
    SRV_NEED_USERS_WRITE, /* idp:admin, idp:user-admin: change users, sessions, teams, members */
    SRV_NEED_ADMIN,       /* idp:admin: service accounts, applications, keys */
    SRV_NEED_AUDIT_READ,  /* idp:admin, idp:auditor: the audit log */
};

struct srv_admin_caller {
    char id[STORE_ID_MAX]; /* usr_… or sa_…: the actor of audit events */
    int is_admin;          /* holds idp:admin (may grant idp:* roles) */
};

/* Authenticates a bearer access token of a user or service account and checks, against the
 * roles the principal holds now (not the ones its token was issued with, so a revoked grant
 * takes effect at once), that it may do need. 401 / 403 problem+json otherwise. */
int srv_admin_caller_or_error(struct srv_request *rq, enum srv_admin_need need,
                              struct srv_admin_caller *out);

/* Reads ?limit= (1..500, default 100) and ?after= (an opaque cursor made by srv_cursor_make for
 * the same list and filters: a cursor that was altered or made for other filters is a 400) and
 * refuses query parameters not named in allowed (NULL-terminated; limit and after are always
 * allowed). *after receives the last id of the previous page, or "". */
int srv_list_params_or_error(struct srv_request *rq, const char *const *allowed, size_t *limit,
                             char after[STORE_ID_MAX]);
/* The opaque cursor that continues the list after last_id. Bound to the path and the query
 * filters (allowed, as given to srv_list_params_or_error) of rq, authenticated with a
 * per-process key. Returns a malloc'd string. */
char *srv_cursor_make(struct srv_request *rq, const char *const *allowed, const char *last_id);
/* {"items": items, "next": cursor or null}; takes ownership of items. */
json_t *srv_list_json(json_t *items, char *next);

/* ---- the shapes of the resource routes (admin.c): list, read or change one, keep state ---- */

/* One page of an admin list: what the query asks (srv_admin_page_or_error) and what the walk
 * found. */
struct srv_admin_page {
    size_t limit;             /* ?limit= */
    char after[STORE_ID_MAX]; /* ?after=: the id the previous page ended at, or "" */
    size_t n;                 /* the walk: how many items the page holds */
    char next[STORE_ID_MAX];  /* the walk: the id the next page starts after; "" on the last */
};

/* What one admin list is; a static const per list. */
struct srv_admin_list {
    const char *const *filters; /* its query filters besides limit and after; NULL: none */
    const char *what;           /* names it in a store error: "user list" */
    /* Walks one page in a read transaction: the items into arg (the handler's), their count into
     * page->n, where the next page starts into page->next. Re-runnable: frees the items an
     * earlier run left. Returns STORE_*. */
    int (*walk)(struct store_txn *txn, void *arg, struct srv_admin_page *page);
    /* The page's i-th item as the API shows it: a new reference. */
    json_t *(*item_json)(const void *arg, size_t i);
};

/* Reads the query of a list route into page: srv_list_params_or_error with list->filters, so
 * the cursor srv_admin_list_reply makes is bound to the filters read. Answers 400 itself. */
int srv_admin_page_or_error(struct srv_request *rq, const struct srv_admin_list *list,
                            struct srv_admin_page *page);
/* Walks page with list->walk (arg is passed on) in one read transaction. Answers the store
 * error naming list->what itself. The items are arg's: the handler frees them. */
int srv_admin_list_walk_or_error(struct srv_request *rq, const struct srv_admin_list *list,
                                 struct srv_admin_page *page, void *arg);
/* Answers 200 {"items":[…],"next":cursor or null} for the page walked. */
void srv_admin_list_reply(struct srv_request *rq, const struct srv_admin_list *list,
                          const struct srv_admin_page *page, const void *arg);

/* Runs txn(arg) in one read (srv_admin_read_or_error) or write (srv_admin_write_or_error)
 * transaction about the resource a path names, once anything else the request sent is checked.
 * SRV_OK, or the store error is answered as srv_reply_store_error(rq, rc, what) does, with
 * STORE_EINVAL as STORE_NOTFOUND: an id that cannot exist is as unknown as a missing one. */
int srv_admin_read_or_error(struct srv_request *rq, const char *what,
                            int (*txn)(struct store_txn *txn, void *arg), void *arg);
int srv_admin_write_or_error(struct srv_request *rq, const char *what,
                             int (*txn)(struct store_txn *txn, void *arg), void *arg);

/* The request's state for a change that may wait for a worker (srv_defer): size zeroed bytes,
 * released with free_fn when the request ends (srv_rq_set_state). NULL when it answered 500. */
void *srv_admin_state_new_or_error(struct srv_request *rq, size_t size, void (*free_fn)(void *));

/* Reads arr, a JSON array of role strings (validated, at most STORE_ROLES_MAX, de-duplicated,
 * sorted), as a member "roles" of a larger body. When caller is not NULL, only an idp:admin
 * caller may name idp:* roles (403); with NULL the caller checks that itself (a PUT of roles
 * compares the idp:* roles before and after). Answers 400/403 itself. *roles is malloc'd. */
int srv_roles_json_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                            json_t *arr, char (**roles)[STORE_ROLE_MAX], size_t *n);
/* Parses {"roles":[…]} (validated role strings, at most STORE_ROLES_MAX, de-duplicated).
 * Only an idp:admin caller may grant idp:* roles. *roles is malloc'd (free()). */
int srv_roles_parse_or_error(struct srv_request *rq, const struct srv_admin_caller *caller,
                             char (**roles)[STORE_ROLE_MAX], size_t *n);
/* 404 problem when rc is STORE_NOTFOUND, 409 when STORE_EXISTS, 400 when STORE_EINVAL, 403 when
 * SRV_TXN_FORBIDDEN, otherwise (the database unreachable, storage failing) 503 with Retry-After
 * as srv_reply_store_failure answers it; what names the resource in the detail. */
void srv_reply_store_error(struct srv_request *rq, int rc, const char *what);

/* What a transaction callback returns when the caller may not make the change: store_write()
 * aborts and passes it on, so nothing is written. Distinct from every STORE_* code. */
#define SRV_TXN_FORBIDDEN 1000

/* Privilege guard, inside a transaction: a caller without idp:admin may not act on a user who
 * holds an idp:* role (directly or through a team), nor change a team that grants one, so an
 * idp:user-admin cannot take over or lock out an admin (reset its password, disable it, put
 * itself in an admin team). STORE_OK when allowed or when the principal does not exist (the
 * caller's own code answers 404), SRV_TXN_FORBIDDEN when not. */
int srv_admin_guard_user(struct store_txn *txn, const struct srv_admin_caller *caller,
                         const char *user_id);
int srv_admin_guard_team(const struct srv_admin_caller *caller, const struct store_team *team);

#endif
