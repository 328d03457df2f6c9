/* Unit tests of the records storage/ keeps for the App Services client API: user API keys,
 * registrations waiting for their first login, applications by App Services id, and sessions
 * whose refresh token does not rotate. Each case opens a fresh store: LMDB in th_tmpdir(), or a
 * database of the test cluster with IDPD_TEST_STORE=postgres (CTest runs the suite both ways). */
#include "harness.h"
#include "storage/storage.h"

#include <stdlib.h>

static int open_store(struct store **st)
{
    const char *w = th_store_for(th_tmpdir());
    return store_open(w ? w : "", NULL, st);
}

/* One store call in one transaction: the cases name it with a small op. */
enum op {
    USER_INSERT,
    USER_DELETE,
    KEY_INSERT,
    KEY_GET,
    KEY_LIST,
    KEY_UPDATE,
    KEY_DELETE,
    PENDING_PUT,
    PENDING_GET,
    PENDING_DELETE,
    APP_INSERT,
    APP_UPDATE,
    APP_DELETE,
    APP_FIND,
    SESSION_INSERT,
    SESSION_GET,
    SESSION_TOUCH,
};

struct call {
    enum op op;
    const char *id, *user_id;
    int64_t now, idle;
    struct store_user user;
    struct store_api_key key;
    struct store_api_key keys[STORE_API_KEYS_MAX + 2];
    size_t n;
    struct store_pending_user pending;
    struct store_application app;
    char app_id[STORE_ID_MAX];
    struct store_session session;
};

static int call_cb(struct store_txn *txn, void *arg)
{
    struct call *c = arg;
    switch (c->op) {
    case USER_INSERT:
        return store_user_insert(txn, &c->user);
    case USER_DELETE:
        return store_user_delete(txn, c->id);
    case KEY_INSERT:
        return store_api_key_insert(txn, &c->key);
    case KEY_GET:
        return store_api_key_get(txn, c->id, &c->key);
    case KEY_LIST:
        return store_api_key_list(txn, c->user_id, c->keys, sizeof c->keys / sizeof c->keys[0],
                                  &c->n);
    case KEY_UPDATE:
        return store_api_key_update(txn, &c->key);
    case KEY_DELETE:
        return store_api_key_delete(txn, c->user_id, c->id);
    case PENDING_PUT:
        return store_pending_put(txn, &c->pending);
    case PENDING_GET:
        return store_pending_get(txn, c->id, &c->pending);
    case PENDING_DELETE:
        return store_pending_delete(txn, c->id);
    case APP_INSERT:
        return store_app_insert(txn, &c->app);
    case APP_UPDATE:
        return store_app_update(txn, &c->app);
    case APP_DELETE:
        return store_app_delete(txn, c->id);
    case APP_FIND:
        return store_app_find_services_id(txn, c->id, c->app_id);
    case SESSION_INSERT:
        return store_session_insert(txn, &c->session);
    case SESSION_GET:
        return store_session_get(txn, c->id, &c->session);
    case SESSION_TOUCH:
        return store_session_touch(txn, c->id, c->now, c->idle);
    }
    return STORE_EINVAL;
}

/* Runs c in a write transaction (a read one for the getters). */
static int run(struct store *st, struct call *c)
{
    int read = c->op == KEY_GET || c->op == KEY_LIST || c->op == PENDING_GET || c->op == APP_FIND ||
               c->op == SESSION_GET;
    return read ? store_read(st, call_cb, c) : store_write(st, call_cb, c);
}

static struct call *new_call(enum op op)
{
    struct call *c = calloc(1, sizeof *c);
    if (c)
        c->op = op;
    return c;
}

static int add_user(struct store *st, const char *id, const char *email)
{
    struct call *c = new_call(USER_INSERT);
    snprintf(c->user.id, sizeof c->user.id, "%s", id);
    snprintf(c->user.email, sizeof c->user.email, "%s", email);
    c->user.created_at = c->user.updated_at = 1700000000;
    int rc = run(st, c);
    free(c);
    return rc;
}

/* Key number i of user_id: id "0000…i" (24 hex), name "key i". */
static void make_key(struct store_api_key *k, const char *user_id, unsigned i)
{
    memset(k, 0, sizeof *k);
    snprintf(k->id, sizeof k->id, "%024x", i);
    snprintf(k->user_id, sizeof k->user_id, "%s", user_id);
    snprintf(k->name, sizeof k->name, "key %u", i);
    snprintf(k->phc, sizeof k->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$k%u", i);
    k->created_at = 1700000000 + i;
}

static int key_insert(struct store *st, const char *user_id, unsigned i)
{
    struct call *c = new_call(KEY_INSERT);
    make_key(&c->key, user_id, i);
    int rc = run(st, c);
    free(c);
    return rc;
}

static int key_get(struct store *st, unsigned i, struct store_api_key *out)
{
    struct call *c = new_call(KEY_GET);
    char id[STORE_API_KEY_ID_MAX];
    snprintf(id, sizeof id, "%024x", i);
    c->id = id;
    int rc = run(st, c);
    if (out)
        *out = c->key;
    free(c);
    return rc;
}

static size_t key_count(struct store *st, const char *user_id)
{
    struct call *c = new_call(KEY_LIST);
    c->user_id = user_id;
    size_t n = run(st, c) == STORE_OK ? c->n : (size_t)-1;
    free(c);
    return n;
}

TEST(api_keys_round_trip_limit_and_names)
{
    struct store *st = NULL;
    struct store_api_key got;
    struct call *c = new_call(KEY_INSERT);
    CHECK_INT(open_store(&st), STORE_OK);
    CHECK_INT(add_user(st, "usr_a", "a@example.com"), STORE_OK);
    CHECK_INT(add_user(st, "usr_b", "b@example.com"), STORE_OK);

    CHECK_INT(key_insert(st, "usr_a", 1), STORE_OK);
    CHECK_INT(key_get(st, 1, &got), STORE_OK);
    CHECK_STR(got.id, "000000000000000000000001");
    CHECK_STR(got.user_id, "usr_a");
    CHECK_STR(got.name, "key 1");
    CHECK_STR(got.phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$k1");
    CHECK_INT(got.disabled, 0);
    CHECK_INT(got.created_at, 1700000001);
    CHECK_INT(got.last_used_at, 0);

    /* the id is taken (by any user), a name is taken within one user only */
    CHECK_INT(key_insert(st, "usr_b", 1), STORE_EXISTS);
    make_key(&c->key, "usr_a", 2);
    snprintf(c->key.name, sizeof c->key.name, "key 1");
    CHECK_INT(run(st, c), STORE_EXISTS);
    make_key(&c->key, "usr_b", 2);
    snprintf(c->key.name, sizeof c->key.name, "key 1");
    CHECK_INT(run(st, c), STORE_OK);
    /* a user that does not exist holds no key */
    CHECK_INT(key_insert(st, "usr_none", 3), STORE_NOTFOUND);
    /* bad records: an id that is not 24 lower-case hex digits, an empty name or hash */
    make_key(&c->key, "usr_a", 3);
    c->key.id[5] = 'A';
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_key(&c->key, "usr_a", 3);
    c->key.id[23] = '\0';
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_key(&c->key, "usr_a", 3);
    c->key.name[0] = '\0';
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_key(&c->key, "usr_a", 3);
    c->key.phc[0] = '\0';
    CHECK_INT(run(st, c), STORE_EINVAL);
    CHECK_INT(key_get(st, 3, NULL), STORE_NOTFOUND);

    /* twenty keys a user, oldest first */
    for (unsigned i = 3; i <= STORE_API_KEYS_MAX; i++)
        CHECK_INT(key_insert(st, "usr_a", i), STORE_OK);
    CHECK_INT(key_count(st, "usr_a"), STORE_API_KEYS_MAX - 1); /* 2 went to usr_b */
    CHECK_INT(key_insert(st, "usr_a", 21), STORE_OK);
    CHECK_INT(key_insert(st, "usr_a", 22), STORE_EINVAL);
    CHECK_INT(key_count(st, "usr_a"), STORE_API_KEYS_MAX);
    struct call *l = new_call(KEY_LIST);
    l->user_id = "usr_a";
    CHECK_INT(run(st, l), STORE_OK);
    CHECK_STR(l->keys[0].name, "key 1");
    CHECK_STR(l->keys[STORE_API_KEYS_MAX - 1].name, "key 21");
    for (size_t i = 1; i < l->n; i++)
        CHECK(l->keys[i - 1].created_at <= l->keys[i].created_at);
    free(l);

    /* update rewrites disabled and last use, nothing else */
    make_key(&c->key, "usr_a", 1);
    c->op = KEY_UPDATE;
    c->key.disabled = 1;
    c->key.last_used_at = 1800000000;
    snprintf(c->key.name, sizeof c->key.name, "renamed");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(key_get(st, 1, &got), STORE_OK);
    CHECK_INT(got.disabled, 1);
    CHECK_INT(got.last_used_at, 1800000000);
    CHECK_STR(got.name, "key 1");
    /* another user's key is not found, to update or delete */
    snprintf(c->key.user_id, sizeof c->key.user_id, "usr_b");
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->op = KEY_DELETE;
    c->user_id = "usr_b";
    c->id = "000000000000000000000001";
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->user_id = "usr_a";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    CHECK_INT(key_get(st, 1, NULL), STORE_NOTFOUND);
    /* its name is free again */
    CHECK_INT(key_insert(st, "usr_a", 1), STORE_OK);

    /* a read transaction writes nothing */
    c->op = KEY_INSERT;
    make_key(&c->key, "usr_b", 200);
    CHECK_INT(store_read(st, call_cb, c), STORE_EINVAL);

    /* the user's end takes its keys, and no one else's */
    c->op = USER_DELETE;
    c->id = "usr_a";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(key_count(st, "usr_a"), 0);
    CHECK_INT(key_get(st, 1, NULL), STORE_NOTFOUND);
    CHECK_INT(key_get(st, 21, NULL), STORE_NOTFOUND);
    CHECK_INT(key_get(st, 2, &got), STORE_OK);
    CHECK_STR(got.user_id, "usr_b");
    free(c);
    store_close(st);
}

static void make_pending(struct store_pending_user *p, const char *email, const char *id,
                         int64_t expires_at)
{
    memset(p, 0, sizeof *p);
    snprintf(p->email_key, sizeof p->email_key, "%s", email);
    snprintf(p->email, sizeof p->email, "%s", email);
    snprintf(p->id, sizeof p->id, "%s", id);
    snprintf(p->phc, sizeof p->phc, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$%s", id);
    snprintf(p->client_id, sizeof p->client_id, "app_realm");
    p->created_at = 10;
    p->expires_at = expires_at;
}

TEST(pending_users_replace_expire_and_go)
{
    struct store *st = NULL;
    struct call *c = new_call(PENDING_PUT);
    size_t removed = 0;
    CHECK_INT(open_store(&st), STORE_OK);

    make_pending(&c->pending, "p@example.com", "pnd_1", 100);
    CHECK_INT(run(st, c), STORE_OK);
    c->op = PENDING_GET;
    c->id = "p@example.com";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(c->pending.id, "pnd_1");
    CHECK_STR(c->pending.email, "p@example.com");
    CHECK_STR(c->pending.client_id, "app_realm");
    CHECK_INT(c->pending.confirmed, 0);
    CHECK_INT(c->pending.expires_at, 100);

    /* a new registration replaces it, and its expiry: the sweep at 100 leaves the new one */
    c->op = PENDING_PUT;
    make_pending(&c->pending, "p@example.com", "pnd_2", 200);
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(store_sweep(st, 150, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    c->op = PENDING_GET;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(c->pending.id, "pnd_2");

    /* confirmed, kept until its first login: no sweep takes it */
    c->op = PENDING_PUT;
    c->pending.confirmed = 1;
    c->pending.expires_at = 0;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(store_sweep(st, 1000000, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    c->op = PENDING_GET;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(c->pending.confirmed, 1);

    /* another, swept at its expiry */
    c->op = PENDING_PUT;
    make_pending(&c->pending, "q@example.com", "pnd_3", 300);
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(store_sweep(st, 299, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 300, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    c->op = PENDING_GET;
    c->id = "q@example.com";
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    CHECK_INT(c->pending.id[0], 0);

    /* deleted (its first login) */
    c->op = PENDING_DELETE;
    c->id = "p@example.com";
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_INT(run(st, c), STORE_NOTFOUND);

    /* bad records change nothing */
    c->op = PENDING_PUT;
    make_pending(&c->pending, "r@example.com", "pnd_4", 100);
    c->pending.phc[0] = '\0';
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_pending(&c->pending, "r@example.com", "pnd/4", 100);
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_pending(&c->pending, "r@example.com", "pnd_4", -1);
    CHECK_INT(run(st, c), STORE_EINVAL);
    make_pending(&c->pending, "", "pnd_4", 100);
    CHECK_INT(run(st, c), STORE_EINVAL);
    c->op = PENDING_GET;
    c->id = "r@example.com";
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    free(c);
    store_close(st);
}

static void make_app(struct store_application *app, const char *id, const char *services_id)
{
    memset(app, 0, sizeof *app);
    snprintf(app->id, sizeof app->id, "%s", id);
    snprintf(app->name, sizeof app->name, "app %s", id);
    app->ngrants = 1;
    snprintf(app->grants[0], sizeof app->grants[0], "password");
    snprintf(app->app_services_id, sizeof app->app_services_id, "%s", services_id);
}

static const char *find_app(struct store *st, const char *services_id, int *rc)
{
    static char id[STORE_ID_MAX];
    struct call *c = new_call(APP_FIND);
    c->id = services_id;
    *rc = run(st, c);
    memcpy(id, c->app_id, sizeof id);
    free(c);
    return id;
}

TEST(app_services_ids_are_unique_and_indexed)
{
    struct store *st = NULL;
    struct call *c = new_call(APP_INSERT);
    int rc;
    CHECK_INT(open_store(&st), STORE_OK);

    make_app(&c->app, "app_1", "myapp-abcde");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(find_app(st, "myapp-abcde", &rc), "app_1");
    CHECK_INT(rc, STORE_OK);
    /* taken by another application: refused, and nothing of app_2 stored */
    make_app(&c->app, "app_2", "myapp-abcde");
    CHECK_INT(run(st, c), STORE_EXISTS);
    make_app(&c->app, "app_2", "");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(find_app(st, "myapp-abcde", &rc), "app_1");
    /* app_2 takes another id; then app_1's cannot be taken by it */
    c->op = APP_UPDATE;
    make_app(&c->app, "app_2", "other-xyz");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(find_app(st, "other-xyz", &rc), "app_2");
    make_app(&c->app, "app_2", "myapp-abcde");
    CHECK_INT(run(st, c), STORE_EXISTS);
    CHECK_STR(find_app(st, "other-xyz", &rc), "app_2");
    CHECK_INT(rc, STORE_OK);
    /* app_1 changes its id: the old one is free */
    make_app(&c->app, "app_1", "renamed-12345");
    CHECK_INT(run(st, c), STORE_OK);
    find_app(st, "myapp-abcde", &rc);
    CHECK_INT(rc, STORE_NOTFOUND);
    CHECK_STR(find_app(st, "renamed-12345", &rc), "app_1");
    /* an update that keeps its id keeps its entry */
    snprintf(c->app.name, sizeof c->app.name, "new name");
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(find_app(st, "renamed-12345", &rc), "app_1");
    /* delete takes the entry */
    c->op = APP_DELETE;
    c->id = "app_1";
    CHECK_INT(run(st, c), STORE_OK);
    find_app(st, "renamed-12345", &rc);
    CHECK_INT(rc, STORE_NOTFOUND);
    find_app(st, "", &rc);
    CHECK_INT(rc, STORE_EINVAL);
    free(c);
    store_close(st);
}

TEST(session_device_id_round_trips_and_touch_keeps_the_hash)
{
    struct store *st = NULL;
    struct call *c = new_call(SESSION_INSERT);
    size_t removed = 0;
    CHECK_INT(open_store(&st), STORE_OK);
    CHECK_INT(add_user(st, "usr_a", "a@example.com"), STORE_OK);

    struct store_session *s = &c->session;
    snprintf(s->id, sizeof s->id, "ses_1");
    snprintf(s->user_id, sizeof s->user_id, "usr_a");
    snprintf(s->client_id, sizeof s->client_id, "app_realm");
    snprintf(s->amr, sizeof s->amr, "pwd");
    snprintf(s->device_id, sizeof s->device_id, "65a0000000000000000000dd");
    s->created_at = s->last_used_at = 100;
    s->idle_expires_at = 200;
    s->absolute_expires_at = 1000;
    memset(s->refresh_hash, 7, sizeof s->refresh_hash);
    CHECK_INT(run(st, c), STORE_OK);

    c->op = SESSION_TOUCH;
    c->id = "ses_1";
    c->now = 150;
    c->idle = 400;
    CHECK_INT(run(st, c), STORE_OK);
    memset(s, 0, sizeof *s);
    c->op = SESSION_GET;
    CHECK_INT(run(st, c), STORE_OK);
    CHECK_STR(s->device_id, "65a0000000000000000000dd");
    CHECK_INT(s->last_used_at, 150);
    CHECK_INT(s->idle_expires_at, 400);
    CHECK_INT(s->refresh_hash[0], 7);
    /* the sweep goes by the new idle expiry: not at 200, at 400 */
    CHECK_INT(store_sweep(st, 399, &removed), STORE_OK);
    CHECK_INT(removed, 0);
    CHECK_INT(store_sweep(st, 400, &removed), STORE_OK);
    CHECK_INT(removed, 1);
    c->op = SESSION_TOUCH;
    CHECK_INT(run(st, c), STORE_NOTFOUND);
    c->id = "bad/id";
    CHECK_INT(run(st, c), STORE_EINVAL);
    free(c);
    store_close(st);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(api_keys_round_trip_limit_and_names);
    RUN(pending_users_replace_expire_and_go);
    RUN(app_services_ids_are_unique_and_indexed);
    RUN(session_device_id_round_trips_and_touch_keeps_the_hash);
    return th_done();
}
