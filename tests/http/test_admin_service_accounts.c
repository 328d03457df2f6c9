/* /admin/v1/service-accounts…: accounts, secrets (shown once, two live at most, deletion at once)
 * and access lists, as each admin role may use them, and what the token endpoint does with them.
 * Audit events are read straight from the data folder (LMDB lets this process read beside the
 * server) to check they exist and never hold a secret. */
#include <limits.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "storage/storage.h"
#include "support.h"

#define BASE "/admin/v1/service-accounts"

/* A server with one account of each kind of caller, and their access tokens. */
struct fx {
    struct ts_server *s;
    struct ts_account admin, uadmin, auditor, plain;
    const char *admin_tok, *uadmin_tok, *auditor_tok, *plain_tok;
};

static int fx_start(struct fx *f)
{
    static const char *const admin[] = {"idp:admin", NULL};
    static const char *const uadmin[] = {"idp:user-admin", NULL};
    static const char *const auditor[] = {"idp:auditor", NULL};
    static const char *const plain[] = {"reader", NULL};
    memset(f, 0, sizeof *f);
    f->s = ts_start(NULL);
    if (!f->s || ts_sa_create(f->s->data, "admin", admin, NULL, &f->admin) != 0 ||
        ts_sa_create(f->s->data, "user-admin", uadmin, NULL, &f->uadmin) != 0 ||
        ts_sa_create(f->s->data, "auditor", auditor, NULL, &f->auditor) != 0 ||
        ts_sa_create(f->s->data, "plain", plain, NULL, &f->plain) != 0)
        return 0;
    f->admin_tok = ts_token_str(f->s, &f->admin);
    f->uadmin_tok = ts_token_str(f->s, &f->uadmin);
    f->auditor_tok = ts_token_str(f->s, &f->auditor);
    f->plain_tok = ts_token_str(f->s, &f->plain);
    return f->admin_tok && f->uadmin_tok && f->auditor_tok && f->plain_tok;
}

/* POST BASE with body as the admin; on 201 fills *acct (id and first secret). */
static struct ts_resp *create_sa(struct fx *f, const char *body, struct ts_account *acct)
{
    struct ts_resp *r = ts_bearer(f->s, "POST", BASE, f->admin_tok, body);
    if (acct && r->status == 201 && ts_jstr(r->json, "id") && ts_jstr(r->json, "client_secret")) {
        snprintf(acct->id, sizeof acct->id, "%s", ts_jstr(r->json, "id"));
        snprintf(acct->secret, sizeof acct->secret, "%s", ts_jstr(r->json, "client_secret"));
    }
    return r;
}

static const char *path(const char *id, const char *rest)
{
    return ts_printf(BASE "/%s%s", id, rest ? rest : "");
}

/* An account with another secret. */
static struct ts_account with_secret(const struct ts_account *a, const char *secret)
{
    struct ts_account b = *a;
    snprintf(b.secret, sizeof b.secret, "%s", secret);
    return b;
}

/* The detail of a problem answer, or "". */
static const char *detail(const struct ts_resp *r)
{
    const char *d = ts_jstr(r->json, "detail");
    return d ? d : "";
}

/* How many accounts GET BASE lists (limit 500). */
static long count_accounts(struct fx *f)
{
    struct ts_resp *r = ts_bearer(f->s, "GET", BASE "?limit=500", f->admin_tok, NULL);
    json_t *items = json_object_get(r->json, "items");
    return r->status == 200 && json_is_array(items) ? (long)json_array_size(items) : -1;
}

/* ---- audit events read from the data folder ---- */

struct audit_read {
    struct store_audit_event *items;
    size_t n;
};

static int audit_txn(struct store_txn *txn, void *arg)
{
    struct audit_read *a = arg;
    free(a->items);
    a->items = NULL;
    return store_audit_list(txn, NULL, 100000, &a->items, &a->n);
}

/* Every event, newest first, as [{"type","actor","target","result","detail","client_ip"}…]. */
static json_t *audit_events(struct ts_server *s)
{
    struct store *st = NULL;
    struct audit_read a = {0};
    json_t *arr = ts_keep_json(json_array());
    if (store_open(th_store_for(s->data), NULL, &st) != STORE_OK ||
        store_read(st, audit_txn, &a) != STORE_OK)
        a.n = 0;
    for (size_t i = 0; i < a.n; i++)
        json_array_append_new(arr,
                              json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "type", a.items[i].type,
                                        "actor", a.items[i].actor, "target", a.items[i].target,
                                        "result", a.items[i].result, "detail", a.items[i].detail,
                                        "client_ip", a.items[i].client_ip));
    free(a.items);
    if (st)
        store_close(st);
    return arr;
}

/* The first (newest) event of type with target (NULL = any), or NULL. */
static json_t *find_event(json_t *events, const char *type, const char *target)
{
    size_t i;
    json_t *e;
    json_array_foreach(events, i, e)
    {
        if (strcmp(ts_jstr(e, "type"), type) == 0 &&
            (!target || strcmp(ts_jstr(e, "target"), target) == 0))
            return e;
    }
    return NULL;
}

/* Waits up to 5 s for an event (queued events are written about once a second). */
static json_t *wait_event(struct ts_server *s, const char *type, const char *target,
                          const char *detail_is)
{
    for (int i = 0; i < 50; i++) {
        json_t *events = audit_events(s);
        size_t k;
        json_t *e;
        json_array_foreach(events, k, e)
        {
            if (strcmp(ts_jstr(e, "type"), type) == 0 &&
                (!target || strcmp(ts_jstr(e, "target"), target) == 0) &&
                (!detail_is || strcmp(ts_jstr(e, "detail"), detail_is) == 0))
                return e;
        }
        usleep(100 * 1000);
    }
    return NULL;
}

/* 1 when no event's text holds needle. */
static int no_event_holds(struct ts_server *s, const char *needle)
{
    char *text = ts_keep(json_dumps(audit_events(s), JSON_COMPACT));
    return text && !strstr(text, needle);
}

/* ---- cases ---- */

TEST(create_shows_the_secret_once)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    time_t before = time(NULL);
    struct ts_resp *r =
        create_sa(&f,
                  "{\"name\":\"ci-pipeline\",\"description\":\"builds\",\"roles\":[\"reader\","
                  "\"idp:introspect\",\"reader\"],\"secret_expires_in_hours\":24}",
                  &a);
    CHECK_MSG(r->status == 201, "status %ld: %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Content-Type"), "application/json");
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_INT(json_object_size(r->json), 10);
    CHECK(strncmp(a.id, "sa_", 3) == 0);
    CHECK_STR(ts_jstr(r->json, "client_id"), a.id);
    CHECK_STR(ts_jstr(r->json, "name"), "ci-pipeline");
    CHECK_STR(ts_jstr(r->json, "description"), "builds");
    CHECK(json_is_false(json_object_get(r->json, "disabled")));
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "idp:introspect,reader");
    CHECK(ts_jint(r->json, "created_at") >= before && ts_jint(r->json, "created_at") <= time(NULL));
    CHECK_INT(ts_jint(r->json, "updated_at"), ts_jint(r->json, "created_at"));
    CHECK(strncmp(a.secret, "idpsec_", 7) == 0);
    CHECK_INT(strlen(a.secret), 7 + 43);
    json_t *sec = json_object_get(r->json, "secret");
    CHECK_INT(json_object_size(sec), 4);
    CHECK(strncmp(ts_jstr(sec, "id"), "sec_", 4) == 0);
    CHECK_INT(ts_jint(sec, "expires_at") - ts_jint(sec, "created_at"), 24 * 3600);
    CHECK_STR(ts_jstr(sec, "masked"), ts_printf("idpsec_****%s", a.secret + strlen(a.secret) - 4));
    const char *sec_id = ts_printf("%s", ts_jstr(sec, "id"));

    /* GET, the list and the secrets never show it again. */
    r = ts_bearer(f.s, "GET", path(a.id, NULL), f.admin_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(json_object_size(r->json), 8);
    CHECK_STR(ts_jstr(r->json, "id"), a.id);
    CHECK_STR(ts_jstr(r->json, "client_id"), a.id);
    CHECK_STR(ts_jstr(r->json, "name"), "ci-pipeline");
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "idp:introspect,reader");
    CHECK(!strstr(r->body, a.secret) && !json_object_get(r->json, "client_secret"));
    r = ts_bearer(f.s, "GET", BASE, f.admin_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK(!strstr(r->body, a.secret) && strstr(r->body, a.id));
    r = ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.admin_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK(!strstr(r->body, a.secret) && !strstr(r->body, "argon2"));
    CHECK_INT(json_array_size(json_object_get(r->json, "items")), 1);
    CHECK_STR(ts_jstr(json_array_get(json_object_get(r->json, "items"), 0), "id"), sec_id);

    /* The secret works at the token endpoint, with the roles granted. */
    r = ts_token(f.s, &a, NULL);
    CHECK_MSG(r->status == 200, "token %ld: %s", r->status, r->body);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) == 0);
    CHECK_STR(ts_jstr(claims, "sub"), a.id);
    CHECK_STR(ts_jarray_join(json_object_get(claims, "roles")), "idp:introspect,reader");

    /* One audit event, naming the actor and the account, never the secret. */
    json_t *e = find_event(audit_events(f.s), "admin.service_account.create", a.id);
    CHECK(e);
    CHECK_STR(ts_jstr(e, "actor"), f.admin.id);
    CHECK_STR(ts_jstr(e, "result"), "success");
    CHECK_STR(ts_jstr(e, "client_ip"), "127.0.0.1");
    CHECK(no_event_holds(f.s, a.secret));
    CHECK(no_event_holds(f.s, "idpsec_"));
}

/* The token.issue events of account id: their number in *n, the tokens they count in *tokens. */
static void token_events(struct ts_server *s, const char *id, size_t *n, unsigned long *tokens)
{
    json_t *e;
    size_t k;
    *n = 0;
    *tokens = 0;
    json_array_foreach(audit_events(s), k, e)
    {
        unsigned long c = 0;
        char first[32] = "", last[32] = "";
        if (strcmp(ts_jstr(e, "type"), "token.issue") != 0 || strcmp(ts_jstr(e, "target"), id))
            continue;
        (*n)++;
        if (sscanf(ts_jstr(e, "detail"), "%lu token%*[s] issued from %31s to %31s", &c, first,
                   last) == 3 ||
            sscanf(ts_jstr(e, "detail"), "%lu token issued from %31s to %31s", &c, first, last) ==
                3)
            *tokens += c;
        CHECK_STR(ts_jstr(e, "actor"), id);
        CHECK_STR(ts_jstr(e, "result"), "success");
    }
}

/* Tokens issued are counted into one event per account, address and interval; 0 keeps one
 * event per token (with its jti); a count not yet due is written when the server stops. */
TEST(token_issue_is_counted)
{
    static const char *const roles[] = {"reader", NULL};
    static const char *const every_second[] = {"IDPD_AUDIT_TOKEN_INTERVAL=1", NULL};
    static const char *const each[] = {"IDPD_AUDIT_TOKEN_INTERVAL=0", NULL};
    struct ts_opts o = {.env = every_second};
    struct ts_account a;
    size_t n = 0;
    unsigned long tokens = 0;
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    CHECK_INT(ts_sa_create(s->data, "counted", roles, NULL, &a), 0);
    for (int i = 0; i < 5; i++)
        CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    for (int i = 0; i < 50 && tokens < 5; i++) {
        usleep(100 * 1000);
        token_events(s, a.id, &n, &tokens);
    }
    CHECK_INT(tokens, 5);
    CHECK(n >= 1 && n < 5); /* counted: more than one only when the five straddle intervals */
    CHECK(no_event_holds(s, a.secret));
    CHECK_INT(ts_stop(s), 0);

    /* the default (60 s): nothing yet, then all of it at a clean stop */
    o = (struct ts_opts){.data = s->data};
    s = ts_start(&o);
    CHECK(s);
    for (int i = 0; i < 3; i++)
        CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    usleep(1500 * 1000);
    token_events(s, a.id, &n, &tokens);
    CHECK_INT(tokens, 5);
    CHECK_INT(ts_stop(s), 0);
    s = ts_start(&o);
    CHECK(s);
    token_events(s, a.id, &n, &tokens);
    CHECK_INT(tokens, 8);
    CHECK_INT(ts_stop(s), 0);

    /* 0: one event per token, naming its jti */
    o = (struct ts_opts){.data = s->data, .env = each};
    s = ts_start(&o);
    CHECK(s);
    json_t *hdr, *claims;
    CHECK(ts_jwt_decode(ts_token_str(s, &a), &hdr, &claims) == 0);
    CHECK(wait_event(s, "token.issue", a.id, ts_jstr(claims, "jti")));
    CHECK_INT(ts_stop(s), 0);
}

TEST(list_pages_with_cursors)
{
    struct fx f;
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"one\"}", NULL)->status, 201);
    CHECK_INT(create_sa(&f, "{\"name\":\"two\"}", NULL)->status, 201);
    CHECK_INT(count_accounts(&f), 6);

    /* limit=1 walks every account once, in creation order, then ends. */
    const char *after = NULL;
    json_t *seen = ts_keep_json(json_array());
    for (int page = 0; page < 10; page++) {
        const char *p =
            after ? ts_printf(BASE "?limit=1&after=%s", ts_form_escape(after)) : BASE "?limit=1";
        struct ts_resp *r = ts_bearer(f.s, "GET", p, f.admin_tok, NULL);
        CHECK_MSG(r->status == 200, "page %d: %ld %s", page, r->status, r->body);
        CHECK_INT(json_object_size(r->json), 2);
        json_t *items = json_object_get(r->json, "items"), *next = json_object_get(r->json, "next");
        if (json_array_size(items) == 0) {
            CHECK(json_is_null(next));
            break;
        }
        CHECK_INT(json_array_size(items), 1);
        CHECK(json_is_string(next));
        json_array_append(seen, json_object_get(json_array_get(items, 0), "name"));
        after = ts_printf("%s", json_string_value(next));
    }
    CHECK_STR(ts_jarray_join(seen), "admin,user-admin,auditor,plain,one,two");

    /* A cursor changed by one character, or carried to another list, is refused. */
    struct ts_resp *r = ts_bearer(f.s, "GET", BASE "?limit=1", f.admin_tok, NULL);
    char *cursor = ts_printf("%s", ts_jstr(r->json, "next"));
    cursor[0] = cursor[0] == 'A' ? 'B' : 'A';
    CHECK_PROBLEM(ts_bearer(f.s, "GET", ts_printf(BASE "?after=%s", ts_form_escape(cursor)),
                            f.admin_tok, NULL),
                  400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE "?after=garbage", f.admin_tok, NULL), 400);
    r = ts_bearer(f.s, "GET", BASE "?limit=1", f.admin_tok, NULL);
    CHECK_PROBLEM(
        ts_bearer(f.s, "GET",
                  ts_printf("/admin/v1/users?after=%s", ts_form_escape(ts_jstr(r->json, "next"))),
                  f.admin_tok, NULL),
        400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE "?limit=0", f.admin_tok, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE "?limit=501", f.admin_tok, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE "?limit=x", f.admin_tok, NULL), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE "?email=a", f.admin_tok, NULL), 400);
    r = ts_bearer(f.s, "GET", BASE "?limit=500", f.admin_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK(json_is_null(json_object_get(r->json, "next")));
}

TEST(get_patch_delete)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"old\",\"description\":\"d\"}", &a)->status, 201);
    const char *unknown = "sa_00000000000000000000000000";
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path(unknown, NULL), f.admin_tok, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", path(unknown, NULL), f.admin_tok, "{\"name\":\"x\"}"),
                  404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", path(unknown, NULL), f.admin_tok, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path("not-an-id", NULL), f.admin_tok, NULL), 404);

    struct ts_resp *r = ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok,
                                  "{\"name\":\"new name\",\"description\":\"\"}");
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    CHECK_INT(json_object_size(r->json), 8);
    CHECK_STR(ts_jstr(r->json, "name"), "new name");
    CHECK_STR(ts_jstr(r->json, "description"), "");
    CHECK(json_is_false(json_object_get(r->json, "disabled")));
    r = ts_bearer(f.s, "GET", path(a.id, NULL), f.admin_tok, NULL);
    CHECK_STR(ts_jstr(r->json, "name"), "new name");
    CHECK(wait_event(f.s, "admin.service_account.update", a.id, NULL));

    /* Bad patches change nothing. */
    r = ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"disabled\":\"yes\"}");
    CHECK_PROBLEM(r, 400);
    r = ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"bogus\":1,\"name\":\"z\"}");
    CHECK_PROBLEM(r, 400);
    CHECK(strstr(detail(r), "bogus"));
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"name\":\"\"}"), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"name\":"), 400);
    r = ts_bearer(f.s, "GET", path(a.id, NULL), f.admin_tok, NULL);
    CHECK_STR(ts_jstr(r->json, "name"), "new name");
    CHECK(json_is_false(json_object_get(r->json, "disabled")));

    /* Delete: 204, then gone everywhere, its cached secret included. */
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);
    r = ts_bearer(f.s, "DELETE", path(a.id, NULL), f.admin_tok, NULL);
    CHECK_INT(r->status, 204);
    CHECK_INT(r->len, 0);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path(a.id, NULL), f.admin_tok, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", path(a.id, NULL), f.admin_tok, NULL), 404);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.admin_tok, NULL), 404);
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 401, "invalid_client");
    json_t *e = find_event(audit_events(f.s), "admin.service_account.delete", a.id);
    CHECK(e);
    CHECK_STR(ts_jstr(e, "actor"), f.admin.id);
}

TEST(disable_takes_effect_at_once)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"worker\"}", &a)->status, 201);
    const char *tok = ts_token_str(f.s, &a); /* also puts the secret into the cache */
    CHECK(tok);
    struct ts_resp *r = ts_introspect(f.s, &f.admin, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));

    r = ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"disabled\":true}");
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "disabled")));
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 401, "invalid_client");
    CHECK_INACTIVE(ts_introspect(f.s, &f.admin, tok));
    json_t *e = wait_event(f.s, "admin.service_account.update", a.id, "disabled");
    CHECK(e);

    r = ts_bearer(f.s, "PATCH", path(a.id, NULL), f.admin_tok, "{\"disabled\":false}");
    CHECK_INT(r->status, 200);
    CHECK(json_is_false(json_object_get(r->json, "disabled")));
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);
}

/* The roles claim of a fresh token of a, joined with commas; NULL when none was issued. */
static const char *token_roles(struct fx *f, struct ts_account *a)
{
    json_t *hdr = NULL, *claims = NULL;
    struct ts_resp *r = ts_token(f->s, a, NULL);
    if (r->status != 200 || ts_jwt_decode(ts_jstr(r->json, "access_token"), &hdr, &claims) != 0)
        return NULL;
    return ts_jarray_join(json_object_get(claims, "roles"));
}

/* Client authentication keeps decoded accounts in memory: every change must still show in the
 * very next token. */
TEST(changes_show_in_the_next_token)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"reader\",\"roles\":[\"app:read\"]}", &a)->status, 201);
    for (int i = 0; i < 3; i++) /* the first reads the store, the others may be served cached */
        CHECK_STR(token_roles(&f, &a), "app:read");
    struct ts_resp *r = ts_bearer(f.s, "PUT", path(a.id, "/roles"), f.admin_tok,
                                  "{\"roles\":[\"app:read\",\"app:write\"]}");
    CHECK_INT(r->status, 200);
    CHECK_STR(token_roles(&f, &a), "app:read,app:write");
    /* an access list that leaves out loopback refuses the next request */
    r = ts_bearer(f.s, "PUT", path(a.id, "/access-list"), f.admin_tok,
                  "{\"entries\":[{\"cidr\":\"192.0.2.0/24\"}]}");
    CHECK_INT(r->status, 200);
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 400, "unauthorized_client");
    /* a deleted secret authenticates nothing */
    r = ts_bearer(f.s, "PUT", path(a.id, "/access-list"), f.admin_tok, "{\"entries\":[]}");
    CHECK_INT(r->status, 200);
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);
    r = ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.admin_tok, NULL);
    const char *sid = json_string_value(
        json_object_get(json_array_get(json_object_get(r->json, "items"), 0), "id"));
    CHECK(sid);
    char secret_path[256];
    snprintf(secret_path, sizeof secret_path, "/secrets/%s", sid ? sid : "");
    CHECK_INT(ts_bearer(f.s, "DELETE", path(a.id, secret_path), f.admin_tok, NULL)->status, 204);
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 401, "invalid_client");
}

TEST(secret_rotation)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    struct ts_resp *r = create_sa(&f, "{\"name\":\"rotating\"}", &a);
    CHECK_INT(r->status, 201);
    const char *first_id = ts_printf("%s", ts_jstr(json_object_get(r->json, "secret"), "id"));
    CHECK_INT(ts_jint(json_object_get(r->json, "secret"), "expires_at") -
                  ts_jint(json_object_get(r->json, "secret"), "created_at"),
              2160 * 3600);
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200); /* cached from now on */

    /* Out-of-range lifetimes and bad bodies are refused before anything is made. */
    CHECK_PROBLEM(
        ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, "{\"expires_in_hours\":7}"),
        400);
    CHECK_PROBLEM(
        ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, "{\"expires_in_hours\":8761}"),
        400);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok,
                            "{\"expires_in_hours\":\"24\"}"),
                  400);
    CHECK_PROBLEM(
        ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, "{\"expires_in\":24}"), 400);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", path("sa_00000000000000000000000000", "/secrets"),
                            f.admin_tok, "{}"),
                  404);

    /* A second secret: both work (rotation without downtime). */
    r = ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, "{\"expires_in_hours\":8}");
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_STR(ts_header(r, "Cache-Control"), "no-store");
    CHECK_INT(json_object_size(r->json), 5);
    const char *second = ts_printf("%s", ts_jstr(r->json, "client_secret"));
    const char *second_id = ts_printf("%s", ts_jstr(r->json, "id"));
    CHECK(strncmp(second, "idpsec_", 7) == 0 && strcmp(second, a.secret) != 0);
    CHECK(strncmp(second_id, "sec_", 4) == 0);
    CHECK_INT(ts_jint(r->json, "expires_at") - ts_jint(r->json, "created_at"), 8 * 3600);
    CHECK_STR(ts_jstr(r->json, "masked"), ts_printf("idpsec_****%s", second + strlen(second) - 4));
    struct ts_account b = with_secret(&a, second);
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);
    CHECK_INT(ts_token(f.s, &b, NULL)->status, 200);

    /* A third live one is refused, with or without a body. */
    r = ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, "{}");
    CHECK_PROBLEM(r, 409);
    CHECK_PROBLEM(ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, NULL), 409);

    /* GET: metadata only; last_used_at set on the secrets used, never the secret. */
    r = ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.auditor_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK_INT(json_object_size(r->json), 1);
    json_t *items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 2);
    CHECK(!strstr(r->body, a.secret) && !strstr(r->body, second) && !strstr(r->body, "argon2"));
    for (size_t i = 0; i < 2; i++) {
        json_t *it = json_array_get(items, i);
        CHECK_INT(json_object_size(it), 6);
        CHECK_STR(ts_jstr(it, "id"), i == 0 ? first_id : second_id);
        CHECK(json_is_integer(json_object_get(it, "last_used_at")));
        CHECK(ts_jint(it, "last_used_at") >= ts_jint(it, "created_at"));
        CHECK(json_is_false(json_object_get(it, "expired")));
        CHECK(strncmp(ts_jstr(it, "masked"), "idpsec_****", 11) == 0);
    }

    /* Deleting the first makes it fail at once, although it was cached; the second goes on. */
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE", path(a.id, "/secrets/sec_00000000000000000000000000"),
                            f.admin_tok, NULL),
                  404);
    CHECK_PROBLEM(ts_bearer(f.s, "DELETE",
                            ts_printf(BASE "/sa_00000000000000000000000000/secrets/%s", first_id),
                            f.admin_tok, NULL),
                  404);
    r = ts_bearer(f.s, "DELETE", path(a.id, ts_printf("/secrets/%s", first_id)), f.admin_tok, NULL);
    CHECK_INT(r->status, 204);
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 401, "invalid_client");
    CHECK_INT(ts_token(f.s, &b, NULL)->status, 200);
    CHECK_PROBLEM(
        ts_bearer(f.s, "DELETE", path(a.id, ts_printf("/secrets/%s", first_id)), f.admin_tok, NULL),
        404);

    /* Room for one more again: a POST without a body takes the defaults. */
    r = ts_bearer(f.s, "POST", path(a.id, "/secrets"), f.admin_tok, NULL);
    CHECK_MSG(r->status == 201, "%ld %s", r->status, r->body);
    CHECK_INT(ts_jint(r->json, "expires_at") - ts_jint(r->json, "created_at"), 2160 * 3600);
    const char *third_id = ts_printf("%s", ts_jstr(r->json, "id"));
    r = ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.admin_tok, NULL);
    items = json_object_get(r->json, "items");
    CHECK_INT(json_array_size(items), 2);
    CHECK_STR(ts_jstr(json_array_get(items, 1), "id"), third_id);
    CHECK(json_is_null(json_object_get(json_array_get(items, 1), "last_used_at")));

    json_t *e = find_event(audit_events(f.s), "admin.secret.delete", a.id);
    CHECK(e);
    CHECK_STR(ts_jstr(e, "detail"), first_id);
    CHECK(find_event(audit_events(f.s), "admin.secret.create", a.id));
    CHECK(no_event_holds(f.s, second));
    CHECK(no_event_holds(f.s, a.secret));
}

/* PUT the access list and check the answer is exactly want (a JSON text). */
static int put_acl(struct fx *f, const char *id, const char *body, const char *want)
{
    struct ts_resp *r = ts_bearer(f->s, "PUT", path(id, "/access-list"), f->admin_tok, body);
    if (r->status != 200 || strcmp(r->body, want) != 0) {
        fprintf(stderr, "  PUT %s: %ld %s, expected %s\n", body, r->status, r->body, want);
        return 0;
    }
    return 1;
}

TEST(access_list)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"fenced\"}", &a)->status, 201);
    struct ts_resp *r = ts_bearer(f.s, "GET", path(a.id, "/access-list"), f.uadmin_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK_STR(r->body, "{\"entries\":[]}");
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200); /* cached: the list still applies */

    /* Only another network: loopback is refused. */
    CHECK(put_acl(&f, a.id, "{\"entries\":[{\"cidr\":\"10.0.0.0/8\",\"comment\":\"office\"}]}",
                  "{\"entries\":[{\"cidr\":\"10.0.0.0/8\",\"comment\":\"office\"}]}"));
    r = ts_token(f.s, &a, NULL);
    CHECK_OAUTH_ERROR(r, 400, "unauthorized_client");
    CHECK_STR(ts_jstr(r->json, "error_description"),
              "the request comes from outside this service account's access list");
    json_t *e = wait_event(f.s, "token.refused", a.id, NULL);
    CHECK(e);
    CHECK_STR(ts_jstr(e, "result"), "failure");
    CHECK_STR(ts_jstr(e, "client_ip"), "127.0.0.1");
    CHECK(find_event(audit_events(f.s), "admin.access_list.update", a.id));

    CHECK(put_acl(&f, a.id, "{\"entries\":[{\"cidr\":\"127.0.0.0/8\"}]}",
                  "{\"entries\":[{\"cidr\":\"127.0.0.0/8\",\"comment\":\"\"}]}"));
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);
    CHECK(put_acl(&f, a.id, "{\"entries\":[]}", "{\"entries\":[]}"));
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);

    /* IPv6: accepted, canonical; an IPv6-only list refuses an IPv4 caller. */
    CHECK(put_acl(&f, a.id, "{\"entries\":[{\"cidr\":\"::1/128\",\"comment\":\"v6 loopback\"}]}",
                  "{\"entries\":[{\"cidr\":\"::1/128\",\"comment\":\"v6 loopback\"}]}"));
    CHECK_OAUTH_ERROR(ts_token(f.s, &a, NULL), 400, "unauthorized_client");
    /* A bare address is one host; IPv4-mapped IPv6 is read as IPv4. */
    CHECK(put_acl(&f, a.id,
                  "{\"entries\":[{\"cidr\":\"2001:DB8:0::/32\"},{\"cidr\":\"127.0.0.1\"},"
                  "{\"cidr\":\"::ffff:192.168.0.0/112\"}]}",
                  "{\"entries\":[{\"cidr\":\"2001:db8::/32\",\"comment\":\"\"},{\"cidr\":"
                  "\"127.0.0.1/32\",\"comment\":\"\"},{\"cidr\":\"192.168.0.0/16\",\"comment\":"
                  "\"\"}]}"));
    CHECK_INT(ts_token(f.s, &a, NULL)->status, 200);

    /* Invalid entries: 400 naming the index, and the list stays as it was. */
    const char *bad[] = {
        "{\"entries\":[{\"cidr\":\"10.0.0.0/33\"}]}",
        "{\"entries\":[{\"cidr\":\"127.0.0.1\"},{\"cidr\":\"nonsense\"}]}",
        "{\"entries\":[{\"cidr\":\"10.1.0.0/8\"}]}",
        "{\"entries\":[{\"cidr\":\"::1/129\"}]}",
        "{\"entries\":[{\"cidr\":\"10.0.0.0/\"}]}",
        "{\"entries\":[{\"cidr\":\"fe80::1%eth0/128\"}]}",
        "{\"entries\":[{\"comment\":\"no cidr\"}]}",
        "{\"entries\":[{\"cidr\":\"10.0.0.0/8\",\"note\":\"x\"}]}",
        "{\"entries\":[\"10.0.0.0/8\"]}",
        "{\"entries\":{}}",
        "{\"cidrs\":[]}",
    };
    const int index[] = {0, 1, 0, 0, 0, 0, 0, 0, 0, -1, -1};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        r = ts_bearer(f.s, "PUT", path(a.id, "/access-list"), f.admin_tok, bad[i]);
        CHECK_PROBLEM(r, 400);
        if (index[i] >= 0)
            CHECK_MSG(strstr(detail(r), ts_printf("entries[%d]", index[i])), "%s: %s", bad[i],
                      detail(r));
    }
    const char *long_comment = ts_printf("{\"entries\":[{\"cidr\":\"10.0.0.0/8\",\"comment\":"
                                         "\"%0257d\"}]}",
                                         0);
    CHECK_PROBLEM(ts_bearer(f.s, "PUT", path(a.id, "/access-list"), f.admin_tok, long_comment),
                  400);
    json_t *many = ts_keep_json(json_pack("{s:[]}", "entries"));
    for (int i = 0; i < 65; i++)
        json_array_append_new(json_object_get(many, "entries"),
                              json_pack("{s:s}", "cidr", ts_printf("10.0.%d.0/24", i)));
    CHECK_PROBLEM(ts_bearer(f.s, "PUT", path(a.id, "/access-list"), f.admin_tok,
                            ts_keep(json_dumps(many, JSON_COMPACT))),
                  400);
    r = ts_bearer(f.s, "GET", path(a.id, "/access-list"), f.auditor_tok, NULL);
    CHECK_INT(r->status, 200);
    CHECK(strstr(r->body, "\"127.0.0.1/32\"") && strstr(r->body, "2001:db8::/32"));
    CHECK_INT(json_array_size(json_object_get(r->json, "entries")), 3);
    CHECK_PROBLEM(ts_bearer(f.s, "PUT", path("sa_00000000000000000000000000", "/access-list"),
                            f.admin_tok, "{\"entries\":[]}"),
                  404);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path("sa_00000000000000000000000000", "/access-list"),
                            f.admin_tok, NULL),
                  404);
}

TEST(roles_allow_and_refuse)
{
    struct fx f;
    struct ts_account a = {0};
    CHECK(fx_start(&f));
    CHECK_INT(create_sa(&f, "{\"name\":\"target\"}", &a)->status, 201);
    const char *readers[] = {f.uadmin_tok, f.auditor_tok, f.admin_tok};
    for (size_t i = 0; i < 3; i++) {
        CHECK_INT(ts_bearer(f.s, "GET", BASE, readers[i], NULL)->status, 200);
        CHECK_INT(ts_bearer(f.s, "GET", path(a.id, NULL), readers[i], NULL)->status, 200);
        CHECK_INT(ts_bearer(f.s, "GET", path(a.id, "/secrets"), readers[i], NULL)->status, 200);
        CHECK_INT(ts_bearer(f.s, "GET", path(a.id, "/access-list"), readers[i], NULL)->status, 200);
    }
    const char *writers_refused[] = {f.uadmin_tok, f.auditor_tok, f.plain_tok};
    for (size_t i = 0; i < 3; i++) {
        const char *t = writers_refused[i];
        CHECK_PROBLEM(ts_bearer(f.s, "POST", BASE, t, "{\"name\":\"x\"}"), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "PATCH", path(a.id, NULL), t, "{\"disabled\":true}"), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "DELETE", path(a.id, NULL), t, NULL), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "POST", path(a.id, "/secrets"), t, "{}"), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "DELETE", path(a.id, "/secrets/sec_x"), t, NULL), 403);
        CHECK_PROBLEM(ts_bearer(f.s, "PUT", path(a.id, "/access-list"), t, "{\"entries\":[]}"),
                      403);
    }
    CHECK_PROBLEM(ts_bearer(f.s, "GET", BASE, f.plain_tok, NULL), 403);
    CHECK_PROBLEM(ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.plain_tok, NULL), 403);
    CHECK_BEARER_401(ts_bearer(f.s, "GET", BASE, NULL, NULL), "");
    CHECK_BEARER_401(ts_bearer(f.s, "POST", BASE, NULL, "{\"name\":\"x\"}"), "");
    CHECK_BEARER_401(ts_bearer(f.s, "GET", BASE, "not.a.token", NULL), ", error=\"invalid_token\"");
    /* Nothing changed: still 5 accounts, the target enabled with its one secret. */
    CHECK_INT(count_accounts(&f), 5);
    struct ts_resp *r = ts_bearer(f.s, "GET", path(a.id, NULL), f.admin_tok, NULL);
    CHECK(json_is_false(json_object_get(r->json, "disabled")));
    r = ts_bearer(f.s, "GET", path(a.id, "/secrets"), f.admin_tok, NULL);
    CHECK_INT(json_array_size(json_object_get(r->json, "items")), 1);
    /* An idp:admin may grant idp:* roles at creation. */
    r = create_sa(&f, "{\"name\":\"second admin\",\"roles\":[\"idp:admin\"]}", NULL);
    CHECK_INT(r->status, 201);
    CHECK_STR(ts_jarray_join(json_object_get(r->json, "roles")), "idp:admin");
}

TEST(bad_input_creates_nothing)
{
    struct fx f;
    CHECK(fx_start(&f));
    const struct {
        const char *body;
        const char *in_detail;
    } bad[] = {
        {"{\"name\":", NULL},
        {"[]", NULL},
        {"{\"name\":\"x\",\"bogus\":true}", "bogus"},
        {"{\"description\":\"no name\"}", "name"},
        {"{\"name\":\"\"}", "name"},
        {"{\"name\":\"x\",\"name\":\"y\"}", NULL},
        {"{\"name\":\"x\",\"roles\":\"reader\"}", "roles"},
        {"{\"name\":\"x\",\"roles\":[\"has space\"]}", "roles[0]"},
        {"{\"name\":\"x\",\"roles\":[\"ok\",7]}", "roles[1]"},
        {"{\"name\":\"x\",\"secret_expires_in_hours\":7}", "secret_expires_in_hours"},
        {"{\"name\":\"x\",\"secret_expires_in_hours\":8761}", "secret_expires_in_hours"},
        {"{\"name\":\"x\",\"secret_expires_in_hours\":24.5}", "secret_expires_in_hours"},
        {"{\"name\":\"x\",\"description\":5}", "description"},
        {"{\"name\":\"x\",\"disabled\":true}", "disabled"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        struct ts_resp *r = ts_bearer(f.s, "POST", BASE, f.admin_tok, bad[i].body);
        CHECK_PROBLEM(r, 400);
        if (bad[i].in_detail)
            CHECK_MSG(strstr(detail(r), bad[i].in_detail), "%s: %s", bad[i].body, detail(r));
    }
    struct ts_req rq = {
        .method = "POST",
        .path = BASE,
        .headers = (const char *[]){ts_printf("Authorization: Bearer %s", f.admin_tok), NULL},
        .body = "name=x",
        .content_type = "application/x-www-form-urlencoded"};
    CHECK_PROBLEM(ts_do(f.s, &rq), 415);
    CHECK_INT(count_accounts(&f), 4);
    CHECK(!find_event(audit_events(f.s), "admin.service_account.create", NULL));
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(create_shows_the_secret_once);
    RUN(token_issue_is_counted);
    RUN(list_pages_with_cursors);
    RUN(get_patch_delete);
    RUN(disable_takes_effect_at_once);
    RUN(changes_show_in_the_next_token);
    RUN(secret_rotation);
    RUN(access_list);
    RUN(roles_allow_and_refuse);
    RUN(bad_input_creates_nothing);
    return ts_done();
}
