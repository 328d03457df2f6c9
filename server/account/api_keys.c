/* A user's API keys (/v1/me/api-keys): long-lived credentials a program signs in with as the
 * user (grant urn:idpd:grant-type:api-key, or the App Services client API's api-key provider).
 * At most STORE_API_KEYS_MAX a user, names unique among them, none for an anonymous user; the key
 * is shown once, at creation, and stored only as its Argon2id hash. Disabling a key stops its
 * logins; sessions it opened run on until they end, like a password's after a change of it. */
#define LOG_MODULE "me"

#include <stdlib.h>
#include <string.h>

#include "server/account/account.h"

static const char via[] = "self-service API";

static json_t *key_json(const struct store_api_key *k, const char *key)
{
    json_t *o = json_pack("{s:s, s:s, s:b, s:I, s:I}", "id", k->id, "name", k->name, "disabled",
                          k->disabled, "created_at", (json_int_t)k->created_at, "last_used_at",
                          (json_int_t)k->last_used_at);
    if (o && key)
        json_object_set_new(o, "key", json_string(key));
    return o;
}

struct holder {
    const char *user_id;
    int anonymous;
};

static int holder_txn(struct store_txn *txn, void *arg)
{
    struct holder *h = arg;
    struct store_user u = {0};
    int rc = store_user_get(txn, h->user_id, &u);
    h->anonymous = u.anonymous;
    store_user_clear(&u);
    return rc;
}

/* The caller, a user that is not anonymous; else answered. */
static int caller_or_error(struct srv_request *rq, struct srv_user_caller *c)
{
    if (srv_bearer_user_or_error(rq, c) != SRV_OK)
        return SRV_ERESPONDED;
    struct holder h = {c->user_id, 0};
    int rc = store_read(srv_rq_ctx(rq)->store, holder_txn, &h);
    if (rc == STORE_OK && !h.anonymous)
        return SRV_OK;
    if (rc == STORE_OK)
        srv_reply_problem(rq, 403, "an anonymous user holds no API keys: link an identity first");
    else if (rc == STORE_NOTFOUND)
        srv_reply_bearer_challenge(rq, "invalid_token", "the user is deleted");
    else
        srv_reply_store_failure(rq, rc, "the user cannot be read now");
    srv_user_caller_clear(c);
    return SRV_ERESPONDED;
}

void srv_handle_me_api_keys(struct srv_request *rq)
{
    struct srv_user_caller c;
    struct store_api_key keys[STORE_API_KEYS_MAX];
    size_t n = 0;
    if (caller_or_error(rq, &c) != SRV_OK)
        return;
    int rc = srv_api_keys_read(rq, c.user_id, keys, &n);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the keys cannot be read now");
    } else {
        json_t *items = json_array();
        for (size_t i = 0; items && i < n; i++)
            json_array_append_new(items, key_json(&keys[i], NULL));
        srv_reply_json(rq, 200, json_pack("{s:o}", "items", items), NULL);
    }
    crypto_wipe(keys, sizeof keys);
    srv_user_caller_clear(&c);
}

static void one(struct srv_request *rq, struct srv_user_caller *c, enum srv_api_key_op op)
{
    struct store_api_key key;
    int missing = 0;
    int rc = srv_api_key_apply(rq, c->user_id, op, via, &key, &missing);
    if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the key cannot be reached now");
    else if (missing)
        srv_reply_problem(rq, 404, "no such API key");
    else if (op == SRV_KEY_DELETE)
        srv_reply(rq, 204, NULL, "", 0, NULL);
    else
        srv_reply_json(rq, 200, key_json(&key, NULL), NULL);
    crypto_wipe(&key, sizeof key);
}

void srv_handle_me_api_key_get(struct srv_request *rq)
{
    struct srv_user_caller c;
    if (caller_or_error(rq, &c) != SRV_OK)
        return;
    one(rq, &c, SRV_KEY_GET);
    srv_user_caller_clear(&c);
}

void srv_handle_me_api_key_delete(struct srv_request *rq)
{
    struct srv_user_caller c;
    if (caller_or_error(rq, &c) != SRV_OK)
        return;
    one(rq, &c, SRV_KEY_DELETE);
    srv_user_caller_clear(&c);
}

void srv_handle_me_api_key_patch(struct srv_request *rq)
{
    static const char *const fields[] = {"disabled", NULL};
    struct srv_user_caller c;
    json_t *body = NULL;
    if (caller_or_error(rq, &c) != SRV_OK)
        return;
    if (srv_json_parse_or_error(rq, fields, &body) != SRV_OK)
        goto out;
    json_t *disabled = json_object_get(body, "disabled");
    if (!json_is_boolean(disabled)) {
        srv_reply_problem(rq, 400, "disabled must be true or false");
        goto out;
    }
    one(rq, &c, json_is_true(disabled) ? SRV_KEY_DISABLE : SRV_KEY_ENABLE);
out:
    json_decref(body);
    srv_user_caller_clear(&c);
}

/* ---- create: Argon2 of the new key on a worker (signin/api_key_create.c) ---- */

struct create {
    struct srv_user_caller caller;
    json_t *body;
    struct srv_key_create make;
};

static void create_free(void *state)
{
    struct create *c = state;
    if (!c)
        return;
    srv_user_caller_clear(&c->caller);
    json_decref(c->body);
    crypto_wipe(c, sizeof *c);
    free(c);
}

static void after_create(struct srv_request *rq)
{
    static const char *const no_store[] = {"Cache-Control", "no-store", NULL};
    struct srv_key_create *m = &((struct create *)srv_rq_state(rq))->make;
    if (m->rc == STORE_ENOMEM)
        srv_reply_problem(rq, 500, "no key could be made");
    else if (m->rc != STORE_OK)
        srv_reply_store_failure(rq, m->rc, "the key could not be saved");
    else if (m->outcome == SRV_KEY_NAME_TAKEN)
        srv_reply_problem(rq, 409, "the user has an API key of that name");
    else if (m->outcome == SRV_KEY_FULL)
        srv_reply_problem(rq, 409, "a user holds at most %d API keys: delete one first",
                          STORE_API_KEYS_MAX);
    else if (m->outcome == SRV_KEY_USER_GONE)
        srv_reply_bearer_challenge(rq, "invalid_token", "the user is deleted");
    else
        srv_reply_json(rq, 201, key_json(&m->rec, m->key), no_store);
}

void srv_handle_me_api_keys_create(struct srv_request *rq)
{
    static const char *const fields[] = {"name", NULL};
    const char *name = NULL;
    struct create *c = calloc(1, sizeof *c);
    if (!c) {
        srv_reply_problem(rq, 500, "out of memory");
        return;
    }
    srv_rq_set_state(rq, c, create_free);
    if (caller_or_error(rq, &c->caller) != SRV_OK ||
        srv_json_parse_or_error(rq, fields, &c->body) != SRV_OK ||
        srv_json_string_or_error(rq, c->body, "name", 1, STORE_NAME_MAX - 1, &name) != SRV_OK)
        return;
    if (!srv_name_valid(name)) {
        srv_reply_problem(rq, 400,
                          "name must be 1 to 256 bytes of text without control "
                          "characters");
        return;
    }
    snprintf(c->make.rec.name, sizeof c->make.rec.name, "%s", name);
    snprintf(c->make.rec.user_id, sizeof c->make.rec.user_id, "%s", c->caller.user_id);
    c->make.via = via;
    c->make.done = after_create;
    srv_api_key_create(rq, &c->make);
}
