/* Self-service for a logged-in user: the profile, OIDC userinfo, and the user's sessions. */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

struct profile {
    const char *user_id;
    struct store_user user;
    struct store_identity idns[STORE_IDENTITIES_MAX];
    size_t n;
    struct store_team *teams; /* the teams the user belongs to */
    size_t nteams;
};

static void profile_clear(struct profile *p)
{
    store_user_clear(&p->user);
    store_team_list_free(p->teams, p->nteams);
    p->teams = NULL;
    p->nteams = 0;
}

static int profile_txn(struct store_txn *txn, void *arg)
{
    struct profile *p = arg;
    char(*ids)[STORE_ID_MAX] = NULL;
    size_t nids = 0;
    profile_clear(p);
    int rc = store_user_get(txn, p->user_id, &p->user);
    if (rc == STORE_OK)
        rc = store_identity_list(txn, p->user_id, p->idns, STORE_IDENTITIES_MAX, &p->n);
    if (rc == STORE_OK)
        rc = store_user_teams(txn, p->user_id, &ids, &nids);
    if (rc == STORE_OK && nids && !(p->teams = calloc(nids, sizeof *p->teams)))
        rc = STORE_ENOMEM;
    for (size_t i = 0; rc == STORE_OK && i < nids; i++) {
        rc = store_team_get(txn, ids[i], &p->teams[p->nteams]);
        if (rc == STORE_OK)
            p->nteams++;
        else if (rc == STORE_NOTFOUND)
            rc = STORE_OK;
    }
    free(ids);
    return rc;
}

/* Reads the caller's profile; answers 503 itself when the store fails. (The user exists: bearer
 * authentication just checked it in its own read.) */
static int read_profile_or_error(struct srv_request *rq, struct profile *p)
{
    int rc = store_read(srv_rq_ctx(rq)->store, profile_txn, p);
    if (rc == STORE_NOTFOUND) {
        srv_reply_problem(rq, 404, "the user no longer exists");
        return SRV_ERESPONDED;
    }
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

/* Answers with the caller's profile: authenticates the bearer token, reads the profile and hands
 * it to reply, which answers. /v1/me and /userinfo are both this, with their own reply. */
static void with_profile(struct srv_request *rq,
                         void (*reply)(struct srv_request *rq, const struct profile *p))
{
    struct srv_user_caller caller;
    struct profile *p = NULL; /* ours, freed at out; on the heap: a user and all its identities */
    if (srv_bearer_user_or_error(rq, &caller) != SRV_OK)
        return;
    p = calloc(1, sizeof *p);
    if (!p) {
        srv_reply_problem(rq, 500, "out of memory");
        goto out;
    }
    p->user_id = caller.user_id;
    if (read_profile_or_error(rq, p) != SRV_OK)
        goto out;
    reply(rq, p);
out:
    if (p)
        profile_clear(p);
    free(p);
    srv_user_caller_clear(&caller);
}

static void reply_me(struct srv_request *rq, const struct profile *p)
{
    json_t *body = srv_user_json(&p->user, p->idns, p->n);
    json_t *teams = json_array();
    for (size_t i = 0; i < p->nteams; i++)
        json_array_append_new(teams, json_pack("{s:s, s:s, s:s}", "id", p->teams[i].id, "name",
                                               p->teams[i].name, "scope", p->teams[i].scope));
    if (body)
        json_object_set_new(body, "teams", teams);
    else
        json_decref(teams);
    srv_reply_json(rq, 200, body, NULL);
}

void srv_handle_me(struct srv_request *rq)
{
    with_profile(rq, reply_me);
}

/* OIDC Core §5.3: the standard claims idpd holds. */
static void reply_userinfo(struct srv_request *rq, const struct profile *p)
{
    json_t *body =
        json_pack("{s:s, s:I}", "sub", p->user.id, "updated_at", (json_int_t)p->user.updated_at);
    if (body && p->user.email[0]) {
        json_object_set_new(body, "email", json_string(p->user.email));
        json_object_set_new(body, "email_verified", json_boolean(p->user.email_verified));
    }
    if (body && p->user.name[0])
        json_object_set_new(body, "name", json_string(p->user.name));
    const char *headers[] = {"Cache-Control", "no-store", NULL};
    srv_reply_json(rq, 200, body, headers);
}

void srv_handle_userinfo(struct srv_request *rq)
{
    with_profile(rq, reply_userinfo);
}

struct sessions {
    const char *user_id;
    struct store_session *items;
    size_t n;
};

static int sessions_txn(struct store_txn *txn, void *arg)
{
    struct sessions *s = arg;
    free(s->items);
    s->items = NULL;
    return store_session_list(txn, s->user_id, &s->items, &s->n);
}

void srv_handle_me_sessions(struct srv_request *rq)
{
    struct srv_user_caller caller;
    struct sessions s = {0};
    if (srv_bearer_user_or_error(rq, &caller) != SRV_OK)
        return;
    s.user_id = caller.user_id;
    int rc = store_read(srv_rq_ctx(rq)->store, sessions_txn, &s);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the store cannot be read");
        goto out;
    }
    json_t *items = json_array();
    int64_t now = srv_now();
    for (size_t i = 0; items && i < s.n; i++)
        if (s.items[i].idle_expires_at > now && s.items[i].absolute_expires_at > now)
            json_array_append_new(
                items, srv_session_json(&s.items[i], strcmp(s.items[i].id, caller.sid) == 0));
    srv_reply_json(rq, 200, json_pack("{s:o}", "items", items), NULL);
out:
    free(s.items);
    srv_user_caller_clear(&caller);
}

struct end {
    struct srv_request *rq;
    const char *user_id;
    const char *sid;
    int found;
};

static int end_txn(struct store_txn *txn, void *arg)
{
    struct end *e = arg;
    struct store_session s;
    int rc = store_session_get(txn, e->sid, &s);
    if (rc == STORE_NOTFOUND || (rc == STORE_OK && strcmp(s.user_id, e->user_id) != 0))
        return STORE_OK; /* another user's session is as unknown as a missing one */
    if (rc == STORE_OK)
        rc = store_session_delete(txn, e->sid);
    if (rc == STORE_OK)
        rc = srv_audit(txn, "session.end", e->user_id, e->sid, srv_rq_client_ip(e->rq), 1,
                       "ended by the user");
    e->found = rc == STORE_OK;
    return rc;
}

void srv_handle_me_session_delete(struct srv_request *rq)
{
    struct srv_user_caller caller;
    char sid[STORE_ID_MAX];
    if (srv_bearer_user_or_error(rq, &caller) != SRV_OK)
        return;
    srv_rq_param(rq, 0, sid, sizeof sid);
    struct end e = {rq, caller.user_id, sid, 0};
    int rc = sid[0] ? store_write(srv_rq_ctx(rq)->store, end_txn, &e) : STORE_OK;
    if (rc != STORE_OK && rc != STORE_EINVAL)
        srv_reply_store_failure(rq, rc, "the session could not be ended");
    else if (!e.found)
        srv_reply_problem(rq, 404, "no such session");
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
    srv_user_caller_clear(&caller);
}
