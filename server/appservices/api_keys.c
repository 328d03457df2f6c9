/* User API keys through the App Services client API (/auth/api_keys…), with the session's
 * refresh token as bearer, as the SDKs send it. Objects are {"_id","name","disabled"} and, once,
 * at creation, "key"; _id is a plain 24-hex string (realm-core builds an ObjectId from it).
 * Anonymous users hold no keys. A refusal here is never a 401 but for a gone session: the SDKs
 * log their user out on any 401 to a refresh-token call. */
#define LOG_MODULE "appservices"

#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

static const char *const no_store[] = {"Cache-Control", "no-store", NULL};

static json_t *key_json(const struct store_api_key *k, const char *key)
{
    json_t *o =
        json_pack("{s:s, s:s, s:b}", "_id", k->id, "name", k->name, "disabled", k->disabled);
    if (o && key)
        json_object_set_new(o, "key", json_string(key));
    return o;
}

/* The caller by its refresh token; 403 for an anonymous user. */
static int caller_or_error(struct srv_request *rq, struct store_session *s, struct store_user *u)
{
    if (srv_as_refresh_or_error(rq, s, u) != SRV_OK)
        return SRV_ERESPONDED;
    if (u->anonymous) {
        store_user_clear(u);
        srv_reply_app_error(rq, 403, "Forbidden", "anonymous users cannot hold API keys");
        return SRV_ERESPONDED;
    }
    return SRV_OK;
}

void srv_as_api_keys_list(struct srv_request *rq)
{
    struct store_session s;
    struct store_user u;
    struct store_api_key keys[STORE_API_KEYS_MAX];
    size_t n = 0;
    if (caller_or_error(rq, &s, &u) != SRV_OK)
        return;
    int rc = srv_api_keys_read(rq, u.id, keys, &n);
    if (rc != STORE_OK) {
        srv_reply_store_failure(rq, rc, "the keys cannot be read now");
    } else {
        json_t *list = json_array();
        for (size_t i = 0; list && i < n; i++)
            json_array_append_new(list, key_json(&keys[i], NULL));
        srv_reply_json(rq, 200, list, NULL);
    }
    crypto_wipe(keys, sizeof keys);
    store_user_clear(&u);
}

static const char via[] = "App Services client API";

static void one(struct srv_request *rq, enum srv_api_key_op op)
{
    struct store_session s;
    struct store_user u;
    struct store_api_key key;
    int missing = 0;
    if (caller_or_error(rq, &s, &u) != SRV_OK)
        return;
    int rc = srv_api_key_apply(rq, u.id, op, via, &key, &missing);
    if (rc != STORE_OK)
        srv_reply_store_failure(rq, rc, "the key cannot be reached now");
    else if (missing)
        srv_reply_app_error(rq, 404, "APIKeyNotFound", "API key not found");
    else if (op == SRV_KEY_GET)
        srv_reply_json(rq, 200, key_json(&key, NULL), NULL);
    else
        srv_reply(rq, 204, NULL, "", 0, NULL);
    crypto_wipe(&key, sizeof key);
    store_user_clear(&u);
}

void srv_as_api_key_get(struct srv_request *rq)
{
    one(rq, SRV_KEY_GET);
}

void srv_as_api_key_delete(struct srv_request *rq)
{
    one(rq, SRV_KEY_DELETE);
}

void srv_as_api_key_enable(struct srv_request *rq)
{
    one(rq, SRV_KEY_ENABLE);
}

void srv_as_api_key_disable(struct srv_request *rq)
{
    one(rq, SRV_KEY_DISABLE);
}

/* ---- create: Argon2 of the new key on a worker (signin/api_key_create.c) ---- */

struct create {
    json_t *body;
    struct srv_key_create make;
};

static void create_free(void *state)
{
    struct create *c = state;
    if (!c)
        return;
    json_decref(c->body);
    crypto_wipe(c, sizeof *c);
    free(c);
}

static void after_create(struct srv_request *rq)
{
    struct srv_key_create *m = &((struct create *)srv_rq_state(rq))->make;
    if (m->rc == STORE_ENOMEM)
        srv_reply_app_error(rq, 500, "InternalServerError", "no key could be made");
    else if (m->rc != STORE_OK)
        srv_reply_store_failure(rq, m->rc, "the key could not be saved");
    else if (m->outcome == SRV_KEY_NAME_TAKEN)
        srv_reply_app_error(rq, 409, "APIKeyAlreadyExists", "an API key named '%s' exists",
                            m->rec.name);
    else if (m->outcome == SRV_KEY_FULL)
        srv_reply_app_error(rq, 400, "InvalidParameter", "a user holds at most %d API keys",
                            STORE_API_KEYS_MAX);
    else if (m->outcome == SRV_KEY_USER_GONE)
        srv_reply_app_error(rq, 401, "InvalidSession",
                            "invalid session: failed to find refresh token");
    else
        srv_reply_json(rq, 201, key_json(&m->rec, m->key), no_store);
}

void srv_as_api_keys_create(struct srv_request *rq)
{
    static const char *const fields[] = {"name", NULL};
    struct store_session s;
    struct store_user u;
    struct create *c = calloc(1, sizeof *c);
    if (!c) {
        srv_reply_app_error(rq, 500, "InternalServerError", "out of memory");
        return;
    }
    srv_rq_set_state(rq, c, create_free);
    if (caller_or_error(rq, &s, &u) != SRV_OK)
        return;
    memcpy(c->make.rec.user_id, u.id, sizeof c->make.rec.user_id);
    store_user_clear(&u);
    if (srv_as_body_or_error(rq, fields, &c->body) != SRV_OK)
        return;
    const char *name = json_string_value(json_object_get(c->body, "name"));
    if (!name || !srv_name_valid(name)) {
        srv_reply_app_error(rq, 400, "InvalidParameter",
                            "name must be 1 to 256 bytes of text without control characters");
        return;
    }
    snprintf(c->make.rec.name, sizeof c->make.rec.name, "%s", name);
    c->make.via = via;
    c->make.done = after_create;
    srv_api_key_create(rq, &c->make);
}
