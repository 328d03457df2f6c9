/* Two idpd nodes on one store, behind no proxy (issue 14): what one node commits, the other
 * honours at once. On PostgreSQL the second node has a data folder of its own (the master key
 * comes from IDPD_MASTER_KEY, as on a second machine) and the same database; on LMDB both share
 * one data folder, which is what LMDB allows: processes of one host. */
#include <curl/curl.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cluster.h"
#include "mail_sink.h"
#include "support.h"

static const char *const admin_roles[] = {"idp:admin", NULL};
static const char *const intro_roles[] = {"idp:introspect", NULL};
static const char *const grants[] = {"password", "refresh_token", "urn:idpd:grant-type:anonymous",
                                     NULL};

#define EMAIL "grace@example.com"
#define PASSWORD "compiler of compilers"

struct nodes {
    struct ts_server *a, *b;
    const char *data; /* A's folder */
    struct ts_account admin, intro, app;
    const char *t_admin;
};

/* The master key A made, as IDPD_MASTER_KEY takes it. */
static const char *master_key_of(const char *data)
{
    char text[128] = "";
    int fd = open(ts_printf("%s/master.key", data), O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return NULL;
    text[n] = '\0';
    text[strcspn(text, "\n")] = '\0';
    return ts_printf("%s", text);
}

/* Starts node A on a fresh folder with what the cases share, then node B on the same store:
 * the store of the folder (th_store_for), or the PostgreSQL URI store when it is not NULL. */
static int start_nodes_on(struct nodes *n, const char *const *env, const char *store)
{
    const char *data = ts_path("data");
    /* one issuer for the cluster, as behind a load balancer: each node's own URL would make
     * the other's tokens foreign */
    static const char *const on[] = {"--allow-registration", "--issuer", "http://idpd.cluster.test",
                                     NULL};
    const char *enva[16], *envb[16];
    size_t ka = 0, kb = 0;
    memset(n, 0, sizeof *n);
    n->data = data;
    for (size_t i = 0; env && env[i] && ka < 12; i++)
        enva[ka++] = envb[kb++] = env[i];
    if (store)
        enva[ka++] = ts_printf("IDPD_STORE=%s", store);
    enva[ka] = NULL;
    const char *app_args[] = {"application", "create",  "--data",  data,      "--name",
                              "sdk",         "--grant", grants[0], "--grant", grants[1],
                              "--grant",     grants[2], NULL};
    struct ts_cmd *app = NULL;
    if (ts_sa_create(data, "admin", admin_roles, enva, &n->admin) != 0 ||
        ts_sa_create(data, "introspector", intro_roles, enva, &n->intro) != 0 ||
        (app = ts_run(app_args, enva))->status != 0)
        return 0;
    const char *app_id = ts_jstr(ts_keep_json(json_loads(app->out, 0, NULL)), "client_id");
    if (!app_id || strlen(app_id) >= sizeof n->app.id)
        return 0;
    snprintf(n->app.id, sizeof n->app.id, "%s", app_id);
    struct ts_opts oa = {.data = data, .env = enva, .args = on};
    n->a = ts_start(&oa);
    if (!n->a)
        return 0;
    struct ts_opts ob = {.data = data, .args = on};
    if (th_on_postgres()) {
        /* another machine: its own folder, the cluster's master key, the same database */
        const char *key = master_key_of(data);
        if (!key)
            return 0;
        envb[kb++] = ts_printf("IDPD_MASTER_KEY=%s", key);
        envb[kb++] = ts_printf("IDPD_STORE=%s", store ? store : th_store_for(data));
        ob.data = ts_path("data-b");
    }
    envb[kb] = NULL;
    ob.env = envb;
    n->b = ts_start(&ob);
    n->t_admin = n->b ? ts_token_str(n->a, &n->admin) : NULL;
    return n->b && n->t_admin;
}

static int start_nodes(struct nodes *n, const char *const *env)
{
    return start_nodes_on(n, env, NULL);
}

static int active_on(struct ts_server *s, struct nodes *n, const char *token)
{
    struct ts_resp *r = ts_introspect(s, &n->intro, token);
    if (r->status != 200)
        fprintf(stderr, "  introspection: %ld %s\n", r->status, r->body);
    return r->status == 200 && json_is_true(json_object_get(r->json, "active"));
}

/* A token of A verifies with B's JWKS (the same ring), and B introspects it as active. */
TEST(a_token_of_one_node_verifies_on_the_other)
{
    struct nodes n;
    CHECK(start_nodes(&n, NULL));
    const char *tok = ts_token_str(n.a, &n.admin);
    CHECK(tok);
    json_t *h, *c;
    CHECK_INT(ts_jwt_decode(tok, &h, &c), 0);
    struct ts_resp *jwks = ts_get(n.b, "/jwks");
    CHECK_INT(jwks->status, 200);
    json_t *jwk = ts_jwks_key(jwks->json, ts_jstr(h, "kid"));
    CHECK(jwk);
    CHECK_INT(ts_es256_verify(tok, jwk), 1);
    CHECK(active_on(n.b, &n, tok));
    /* and the other way round */
    const char *tok_b = ts_token_str(n.b, &n.admin);
    CHECK(tok_b);
    CHECK(active_on(n.a, &n, tok_b));
}

/* A refresh token rotated on A is refused on B, and its reuse there ends the session on both:
 * the newest refresh token and the access tokens too. */
TEST(a_rotation_on_one_node_is_final_on_the_other)
{
    struct nodes n;
    CHECK(start_nodes(&n, NULL));
    CHECK_INT(ts_register(n.a, n.app.id, EMAIL, PASSWORD)->status, 201);
    struct ts_resp *l = ts_login(n.a, n.app.id, EMAIL, PASSWORD, NULL);
    CHECK_INT(l->status, 200);
    const char *rt1 = ts_jstr(l->json, "refresh_token");
    struct ts_resp *r2 = ts_refresh(n.a, n.app.id, rt1, NULL);
    CHECK_INT(r2->status, 200);
    const char *rt2 = ts_jstr(r2->json, "refresh_token"), *at2 = ts_jstr(r2->json, "access_token");
    CHECK(active_on(n.b, &n, at2));
    CHECK_OAUTH_ERROR(ts_refresh(n.b, n.app.id, rt1, NULL), 400, "invalid_grant");
    /* reuse ended the session, on both nodes at once */
    CHECK_OAUTH_ERROR(ts_refresh(n.a, n.app.id, rt2, NULL), 400, "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(n.b, n.app.id, rt2, NULL), 400, "invalid_grant");
    CHECK(!active_on(n.a, &n, at2));
    CHECK(!active_on(n.b, &n, at2));
    CHECK_INT(ts_bearer(n.b, "GET", "/v1/me", at2, NULL)->status, 401);
}

/* A user disabled on A gets nothing from B, at once: no /v1/me, no refresh, no login, and the
 * access token introspects as inactive. A revocation on A is final on B the same way. */
TEST(a_disable_on_one_node_holds_on_the_other_at_once)
{
    struct nodes n;
    CHECK(start_nodes(&n, NULL));
    struct ts_resp *reg = ts_register(n.a, n.app.id, EMAIL, PASSWORD);
    CHECK_INT(reg->status, 201);
    const char *uid = ts_jstr(reg->json, "id");
    struct ts_resp *l = ts_login(n.b, n.app.id, EMAIL, PASSWORD, NULL);
    CHECK_INT(l->status, 200);
    const char *at = ts_jstr(l->json, "access_token"), *rt = ts_jstr(l->json, "refresh_token");
    CHECK_INT(ts_bearer(n.b, "GET", "/v1/me", at, NULL)->status, 200);

    struct ts_resp *d =
        ts_bearer(n.a, "POST", ts_printf("/admin/v1/users/%s/disable", uid), n.t_admin, "{}");
    CHECK_MSG(d->status == 200 || d->status == 204, "disable: %ld %s", d->status, d->body);
    /* no waiting: the very next requests to B */
    CHECK_INT(ts_bearer(n.b, "GET", "/v1/me", at, NULL)->status, 401);
    CHECK(!active_on(n.b, &n, at));
    CHECK_OAUTH_ERROR(ts_refresh(n.b, n.app.id, rt, NULL), 400, "invalid_grant");
    CHECK_INT(ts_login(n.b, n.app.id, EMAIL, PASSWORD, NULL)->status, 400);

    /* a revocation on A: the token is inactive on B at once */
    struct ts_resp *anon = ts_anonymous(n.a, n.app.id);
    CHECK_INT(anon->status, 200);
    const char *at_anon = ts_jstr(anon->json, "access_token");
    CHECK(active_on(n.b, &n, at_anon));
    CHECK_INT(ts_revoke_public(n.a, n.app.id, at_anon)->status, 200);
    CHECK(!active_on(n.b, &n, at_anon));
}

/* The same refresh token at A and B at the same moment, twenty times: exactly one wins each
 * time (the other is reuse, which then ends the session). */
TEST(one_refresh_token_at_both_nodes_at_once_wins_once)
{
    struct nodes n;
    CHECK(start_nodes(&n, NULL));
    for (int round = 0; round < 20; round++) {
        struct ts_resp *anon = ts_anonymous(n.a, n.app.id);
        CHECK_INT(anon->status, 200);
        const char *rt = ts_jstr(anon->json, "refresh_token");
        const char *form = ts_printf("grant_type=refresh_token&client_id=%s&refresh_token=%s",
                                     ts_form_escape(n.app.id), ts_form_escape(rt));
        struct ts_req rq = {.method = "POST", .path = "/oauth/token", .body = form};
        struct ts_resp *r[2];
        CURL *e[2] = {ts_easy(n.a, &rq, &r[0]), ts_easy(n.b, &rq, &r[1])};
        ts_multi_run(e, r, 2, NULL);
        int won = (r[0]->status == 200) + (r[1]->status == 200);
        CHECK_MSG(won == 1, "round %d: %ld and %ld", round, r[0]->status, r[1]->status);
        struct ts_resp *lost = r[0]->status == 200 ? r[1] : r[0];
        CHECK_OAUTH_ERROR(lost, 400, "invalid_grant");
    }
}

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

/* How long B goes on accepting a client after A changed it: polls B's token endpoint until it
 * answers 401; the milliseconds it took, or -1 after 5 s. */
static double refused_after(struct nodes *n, const struct ts_account *client, double since)
{
    while (now_ms() - since < 5000) {
        if (ts_token(n->b, client, NULL)->status == 401)
            return now_ms() - since;
        usleep(20 * 1000);
    }
    return -1;
}

/* Client authentication on B stops accepting a deleted secret, or a disabled account, within a
 * second of A's answer (B serves service accounts from a cache; the other node's commit reaches
 * it by notification). */
TEST(a_deleted_secret_or_disabled_account_is_refused_by_the_other_node_within_a_second)
{
    struct nodes n;
    CHECK(start_nodes(&n, NULL));
    struct ts_account sa1, sa2;
    CHECK_INT(ts_sa_create(n.data, "worker-1", NULL, NULL, &sa1), 0);
    CHECK_INT(ts_sa_create(n.data, "worker-2", NULL, NULL, &sa2), 0);
    /* both in B's caches */
    for (int i = 0; i < 3; i++) {
        CHECK_INT(ts_token(n.b, &sa1, NULL)->status, 200);
        CHECK_INT(ts_token(n.b, &sa2, NULL)->status, 200);
    }
    const char *path = ts_printf("/admin/v1/service-accounts/%s/secrets", sa1.id);
    struct ts_resp *list = ts_bearer(n.a, "GET", path, n.t_admin, NULL);
    CHECK_INT(list->status, 200);
    const char *sec = ts_jstr(json_array_get(json_object_get(list->json, "items"), 0), "id");
    CHECK(sec);
    struct ts_resp *del = ts_bearer(n.a, "DELETE", ts_printf("%s/%s", path, sec), n.t_admin, NULL);
    CHECK_MSG(del->status == 204, "delete: %ld %s", del->status, del->body);
    double ms = refused_after(&n, &sa1, now_ms());
    CHECK_MSG(ms >= 0 && ms < 1000, "the deleted secret worked on B for %.0f ms", ms);
    printf("# a deleted secret refused by the other node after %.0f ms\n", ms);

    struct ts_resp *dis =
        ts_bearer(n.a, "PATCH", ts_printf("/admin/v1/service-accounts/%s", sa2.id), n.t_admin,
                  "{\"disabled\":true}");
    CHECK_MSG(dis->status == 200, "disable: %ld %s", dis->status, dis->body);
    ms = refused_after(&n, &sa2, now_ms());
    CHECK_MSG(ms >= 0 && ms < 1000, "the disabled account worked on B for %.0f ms", ms);
    printf("# a disabled account refused by the other node after %.0f ms\n", ms);
}

static json_t *kids_of(struct ts_server *s)
{
    struct ts_resp *r = ts_get(s, "/jwks");
    json_t *kids = ts_keep_json(json_array()), *k;
    size_t i;
    json_array_foreach(json_object_get(r->json, "keys"), i, k)
        json_array_append_new(kids, json_string(ts_jstr(k, "kid")));
    return kids;
}

static const char *kid_of(const char *token)
{
    json_t *h, *c;
    return token && ts_jwt_decode(token, &h, &c) == 0 ? ts_jstr(h, "kid") : NULL;
}

/* A key rotated on A was in B's JWKS before A signed with it, and B signs with it after its
 * next look at the store. */
TEST(a_key_rotated_on_one_node_is_published_by_the_other_first)
{
    static const char *const env[] = {"IDPD_KEYS_REFRESH_INTERVAL=1", NULL};
    struct nodes n;
    CHECK(start_nodes(&n, env));
    json_t *before = kids_of(n.b);
    CHECK(json_array_size(before) >= 2); /* the active key and the next */
    const char *old = kid_of(ts_token_str(n.a, &n.admin));
    CHECK(old);
    struct ts_resp *r =
        ts_bearer(n.a, "POST", "/admin/v1/keys/rotate", n.t_admin, "{\"force\":true}");
    CHECK_MSG(r->status == 200, "rotate: %ld %s", r->status, r->body);
    const char *now_a = kid_of(ts_token_str(n.a, &n.admin));
    CHECK(now_a && strcmp(now_a, old) != 0);
    CHECK_MSG(ts_jarray_has(before, now_a), "B did not publish %s before A signed with it", now_a);
    /* B follows within its refresh interval; until then it signs with a key A publishes */
    const char *now_b = NULL;
    for (int i = 0; i < 50; i++) {
        now_b = kid_of(ts_token_str(n.b, &n.admin));
        CHECK(now_b);
        CHECK(ts_jarray_has(kids_of(n.a), now_b));
        if (strcmp(now_b, now_a) == 0)
            break;
        usleep(100 * 1000);
    }
    CHECK_STR(now_b, now_a);
}

/* ---- SIGKILL of one node under write load ---- */

#define WRITERS 3
#define ACKED_MAX 4096

struct load {
    const char *base, *app_id;
    atomic_int stop;
    pthread_mutex_t lock;
    char (*acked)[2048]; /* access tokens of acknowledged anonymous sign-ups */
    size_t nacked;
};

struct sink {
    char data[8192];
    size_t len;
};

static size_t sink_write(char *p, size_t size, size_t n, void *arg)
{
    struct sink *s = arg;
    size_t len = size * n;
    if (s->len + len < sizeof s->data) {
        memcpy(s->data + s->len, p, len);
        s->len += len;
        s->data[s->len] = '\0';
    }
    return len;
}

/* Anonymous sign-ups (a user and a session per write) until told to stop or A dies. */
static void *writer_main(void *arg)
{
    struct load *l = arg;
    CURL *e = curl_easy_init();
    char url[256], body[256];
    snprintf(url, sizeof url, "%s/oauth/token", l->base);
    snprintf(body, sizeof body, "grant_type=urn%%3Aidpd%%3Agrant-type%%3Aanonymous&client_id=%s",
             l->app_id);
    while (e && !atomic_load(&l->stop)) {
        struct sink s = {.len = 0};
        long status = 0;
        curl_easy_setopt(e, CURLOPT_URL, url);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, sink_write);
        curl_easy_setopt(e, CURLOPT_WRITEDATA, &s);
        curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
        if (curl_easy_perform(e) != CURLE_OK)
            break; /* A is gone */
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
        if (status != 200)
            continue;
        /* the user id is the sub of the access token, read later (ts_* is not thread-safe) */
        json_t *j = json_loads(s.data, 0, NULL);
        const char *at = json_string_value(json_object_get(j, "access_token"));
        pthread_mutex_lock(&l->lock);
        if (at && strlen(at) < sizeof l->acked[0] && l->nacked < ACKED_MAX)
            snprintf(l->acked[l->nacked++], sizeof l->acked[0], "%s", at);
        pthread_mutex_unlock(&l->lock);
        json_decref(j);
    }
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

static size_t acked_now(struct load *l)
{
    pthread_mutex_lock(&l->lock);
    size_t n = l->nacked;
    pthread_mutex_unlock(&l->lock);
    return n;
}

/* SIGKILL of A while it writes: every write A acknowledged is served by B. */
TEST(sigkill_of_one_node_loses_no_acknowledged_write)
{
    static const char *const env[] = {"IDPD_RATE_LIMIT_TOKEN=0", NULL};
    struct nodes n;
    CHECK(start_nodes(&n, env));
    struct load l = {.base = n.a->url, .app_id = n.app.id};
    l.acked = ts_keep(calloc(ACKED_MAX, sizeof *l.acked));
    pthread_mutex_init(&l.lock, NULL);
    pthread_t th[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        CHECK_INT(pthread_create(&th[i], NULL, writer_main, &l), 0);
    for (int waited = 0; waited < 300 && acked_now(&l) < 30; waited++)
        usleep(50 * 1000);
    usleep(200 * 1000); /* in the middle of writes */
    CHECK_INT(kill(n.a->pid, SIGKILL), 0);
    CHECK_INT(ts_stop(n.a), 128 + SIGKILL);
    atomic_store(&l.stop, 1);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    size_t acked = acked_now(&l);
    CHECK_MSG(acked >= 30, "only %zu writes acknowledged before the kill", acked);
    const char *tok = ts_token_str(n.b, &n.admin);
    CHECK(tok);
    for (size_t i = 0; i < acked; i++) {
        json_t *h, *c;
        CHECK_INT(ts_jwt_decode(l.acked[i], &h, &c), 0);
        const char *sub = ts_jstr(c, "sub");
        CHECK(sub);
        struct ts_resp *r = ts_bearer(n.b, "GET", ts_printf("/admin/v1/users/%s", sub), tok, NULL);
        CHECK_MSG(r->status == 200, "acknowledged user %s: %ld on B", sub, r->status);
        /* and its session: the access token is still good on B */
        CHECK(active_on(n.b, &n, l.acked[i]));
    }
    printf("# %zu acknowledged writes of the killed node served by the other\n", acked);
    pthread_mutex_destroy(&l.lock);
}

/* PostgreSQL stopped and started under the writes of both nodes: 503s while it is down, full
 * service after, and every write acknowledged before, during or after is there. PostgreSQL
 * only, on a cluster of the case's own (the shared one serves the other tests). */
TEST(a_database_restart_under_writes_loses_no_acknowledged_write)
{
    if (!th_on_postgres())
        return;
    static const char *const env[] = {"IDPD_RATE_LIMIT_TOKEN=0", "IDPD_STORE_TIMEOUT_MS=1000",
                                      NULL};
    struct ts_cluster *pg = ts_cluster_start("pg");
    CHECK(pg);
    struct nodes n;
    CHECK(start_nodes_on(&n, env, pg->uri));
    struct load la = {.base = n.a->url, .app_id = n.app.id};
    struct load lb = {.base = n.b->url, .app_id = n.app.id};
    la.acked = ts_keep(calloc(ACKED_MAX, sizeof *la.acked));
    lb.acked = ts_keep(calloc(ACKED_MAX, sizeof *lb.acked));
    pthread_mutex_init(&la.lock, NULL);
    pthread_mutex_init(&lb.lock, NULL);
    pthread_t th[2 * WRITERS];
    for (int i = 0; i < WRITERS; i++) {
        CHECK_INT(pthread_create(&th[i], NULL, writer_main, &la), 0);
        CHECK_INT(pthread_create(&th[WRITERS + i], NULL, writer_main, &lb), 0);
    }
    for (int waited = 0; waited < 300 && acked_now(&la) + acked_now(&lb) < 30; waited++)
        usleep(50 * 1000);
    size_t before = acked_now(&la) + acked_now(&lb);
    CHECK_INT(ts_cluster_down(pg), 0);
    size_t stopped = acked_now(&la) + acked_now(&lb);
    usleep(1500 * 1000); /* writes meet the outage: none may be acknowledged */
    size_t during = acked_now(&la) + acked_now(&lb);
    CHECK_MSG(during == stopped, "%zu writes acknowledged with the database down",
              during - stopped);
    CHECK_INT(ts_cluster_up(pg), 0);
    size_t after = during;
    for (int waited = 0; waited < 200 && after < during + 30; waited++) {
        usleep(50 * 1000);
        after = acked_now(&la) + acked_now(&lb);
    }
    atomic_store(&la.stop, 1);
    atomic_store(&lb.stop, 1);
    for (int i = 0; i < 2 * WRITERS; i++)
        pthread_join(th[i], NULL);
    CHECK_MSG(after >= during + 30, "%zu writes acknowledged after the restart", after - during);
    printf("# %zu writes acknowledged before the stop, %zu while it stopped, none while it was "
           "down, %zu after the start\n",
           before, stopped - before, after - during);
    const char *tok = ts_token_str(n.b, &n.admin);
    CHECK(tok);
    struct load *loads[2] = {&la, &lb};
    for (int k = 0; k < 2; k++)
        for (size_t i = 0; i < acked_now(loads[k]); i++) {
            json_t *h, *c;
            CHECK_INT(ts_jwt_decode(loads[k]->acked[i], &h, &c), 0);
            const char *sub = ts_jstr(c, "sub");
            struct ts_resp *r =
                ts_bearer(n.a, "GET", ts_printf("/admin/v1/users/%s", sub), tok, NULL);
            CHECK_MSG(r->status == 200, "acknowledged user %s: %ld", sub, r->status);
        }
    pthread_mutex_destroy(&la.lock);
    pthread_mutex_destroy(&lb.lock);
}

/* Both nodes' senders work one outbox: each message goes out once. The sink starts only after
 * every message is stored and both senders have retried them a few times, so they meet on the
 * same due messages. */
TEST(mail_goes_out_once_from_two_nodes)
{
    struct th_sink *sink = th_sink_start(0);
    CHECK(sink != NULL);
    th_sink_stop(sink);
    const char *env[] = {ts_printf("IDPD_SMTP_URL=%s", sink->url),
                         "IDPD_SMTP_FROM=idpd@example.org",
                         "IDPD_SMTP_PLAIN_LOOPBACK=1",
                         "IDPD_SMTP_RETRY_BASE=1",
                         "IDPD_MAIL_PER_CLIENT=0",
                         "IDPD_RATE_LIMIT_REGISTER=0",
                         NULL};
    struct nodes n;
    CHECK(start_nodes(&n, env));
    enum { USERS = 12 };
    for (int i = 0; i < USERS; i++) {
        struct ts_resp *r =
            ts_register(i % 2 ? n.b : n.a, n.app.id, ts_printf("user%d@example.org", i), PASSWORD);
        CHECK_INT(r->status, 202);
    }
    sleep(3);
    CHECK_INT(th_sink_restart(sink), 0);
    CHECK_INT(th_sink_count(sink, NULL, USERS, 20000, NULL), USERS);
    sleep(3); /* time for a second copy, if either node were to send one */
    CHECK_INT(th_sink_count(sink, NULL, 0, 0, NULL), USERS);
    for (int i = 0; i < USERS; i++)
        CHECK_INT(th_sink_count(sink, ts_printf("user%d@example.org", i), 0, 0, NULL), 1);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(a_token_of_one_node_verifies_on_the_other);
    RUN(a_rotation_on_one_node_is_final_on_the_other);
    RUN(a_disable_on_one_node_holds_on_the_other_at_once);
    RUN(one_refresh_token_at_both_nodes_at_once_wins_once);
    RUN(a_deleted_secret_or_disabled_account_is_refused_by_the_other_node_within_a_second);
    RUN(a_key_rotated_on_one_node_is_published_by_the_other_first);
    RUN(sigkill_of_one_node_loses_no_acknowledged_write);
    RUN(a_database_restart_under_writes_loses_no_acknowledged_write);
    RUN(mail_goes_out_once_from_two_nodes);
    return ts_done();
}
