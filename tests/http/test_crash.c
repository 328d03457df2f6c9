/* Crash safety: writers create users, service-account secrets and login sessions from several
 * threads (so commits are grouped) while the server is killed with SIGKILL at random moments.
 * After each restart on the same data folder, every write that was answered 2xx is there and
 * consistent (a user's email index finds the same user, a secret authenticates, a session's
 * refresh token rotates), and whatever the store holds is whole (every listed user is found by
 * its email). Graceful SIGTERM is covered by test_restart.c. */
#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

#define WRITERS 4
#define MAX_ACKED 4096
#define ROUNDS 6
#define ACKED_PER_ROUND 10 /* writes a round acknowledges before its SIGKILL may come */

static const char *const admin_roles[] = {"idp:admin", NULL};
static const char *const grants[] = {"password", "refresh_token", NULL};

enum kind { USER, SECRET, SESSION };

struct acked {
    enum kind kind;
    char a[160]; /* USER: email; SECRET: the secret; SESSION: the refresh token */
    char b[64];  /* USER: user id; SECRET: -; SESSION: - */
};

struct run {
    const char *base;  /* http://127.0.0.1:PORT */
    const char *admin; /* "Authorization: Bearer …" */
    const char *sa_id; /* the account secrets are added to */
    const char *sa_path;
    const char *app_id;
    int round;
    atomic_int stop;
    pthread_mutex_t lock;
    struct acked *acked;
    size_t nacked;
};

struct buf {
    char data[4096];
    size_t len;
};

static size_t keep(char *p, size_t size, size_t n, void *arg)
{
    struct buf *b = arg;
    size_t take = size * n;
    if (take > sizeof b->data - 1 - b->len)
        take = sizeof b->data - 1 - b->len;
    memcpy(b->data + b->len, p, take);
    b->len += take;
    b->data[b->len] = '\0';
    return size * n;
}

/* One request; the status (0 when the connection failed) and the body in *b. */
static long call(CURL *e, const char *url, const char *header, const char *ctype, const char *body,
                 struct buf *b)
{
    struct curl_slist *h = NULL;
    long status = 0;
    b->len = 0;
    b->data[0] = '\0';
    if (header)
        h = curl_slist_append(h, header);
    if (ctype)
        h = curl_slist_append(h, ctype);
    curl_easy_reset(e);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    if (curl_easy_perform(e) == CURLE_OK)
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    return status;
}

static void record(struct run *r, enum kind k, const char *a, const char *b)
{
    pthread_mutex_lock(&r->lock);
    if (r->nacked < MAX_ACKED) {
        struct acked *x = &r->acked[r->nacked++];
        x->kind = k;
        snprintf(x->a, sizeof x->a, "%s", a);
        snprintf(x->b, sizeof x->b, "%s", b ? b : "");
    }
    pthread_mutex_unlock(&r->lock);
}

struct writer {
    struct run *r;
    int id;
};

static void *writer_main(void *arg)
{
    struct writer *w = arg;
    struct run *r = w->r;
    CURL *e = curl_easy_init();
    struct buf b;
    const char *json = "Content-Type: application/json";
    for (int i = 0; e && !atomic_load(&r->stop) && i < 10000; i++) {
        char email[128], body[512], url[256];
        snprintf(email, sizeof email, "r%d-w%d-%d@crash.test", r->round, w->id, i);
        switch (i % 3) {
        case 0: /* a user: record and email index */
            snprintf(url, sizeof url, "%s/admin/v1/users", r->base);
            snprintf(body, sizeof body, "{\"email\":\"%s\",\"password\":\"crash password\"}",
                     email);
            if (call(e, url, r->admin, json, body, &b) == 201) {
                json_t *j = json_loads(b.data, 0, NULL);
                record(r, USER, email, json_string_value(json_object_get(j, "id")));
                json_decref(j);
            }
            break;
        case 1: /* a secret of the shared account */
            snprintf(url, sizeof url, "%s%s/secrets", r->base, r->sa_path);
            if (call(e, url, r->admin, json, "{}", &b) == 201) {
                json_t *j = json_loads(b.data, 0, NULL);
                const char *secret = json_string_value(json_object_get(j, "client_secret"));
                if (secret)
                    record(r, SECRET, secret, NULL);
                json_decref(j);
            }
            break;
        default: { /* a session: log in as the user this writer made last */
            char prev[128];
            snprintf(prev, sizeof prev, "r%d-w%d-%d%%40crash.test", r->round, w->id, i - 2);
            snprintf(url, sizeof url, "%s/oauth/token", r->base);
            snprintf(body, sizeof body,
                     "grant_type=password&client_id=%s&username=%s&password=crash+password",
                     r->app_id, prev);
            if (call(e, url, NULL, NULL, body, &b) == 200) {
                json_t *j = json_loads(b.data, 0, NULL);
                const char *rt = json_string_value(json_object_get(j, "refresh_token"));
                if (rt)
                    record(r, SESSION, rt, NULL);
                json_decref(j);
            }
            break;
        }
        }
    }
    if (e)
        curl_easy_cleanup(e);
    return NULL;
}

/* Checks one acknowledged write against the restarted server; 1 when it is there and whole. A
 * session is checked by rotating it, and its new refresh token replaces the old in x. */
static int verify(struct ts_server *s, struct run *r, const char *admin_tok, struct acked *x)
{
    if (x->kind == USER) {
        struct ts_resp *byid =
            ts_bearer(s, "GET", ts_printf("/admin/v1/users/%s", x->b), admin_tok, NULL);
        struct ts_resp *byemail = ts_bearer(
            s, "GET", ts_printf("/admin/v1/users?email=%s", ts_form_escape(x->a)), admin_tok, NULL);
        json_t *items = json_object_get(byemail->json, "items");
        return byid->status == 200 && strcmp(ts_jstr(byid->json, "email"), x->a) == 0 &&
               byemail->status == 200 && json_array_size(items) == 1 &&
               strcmp(ts_jstr(json_array_get(items, 0), "id"), x->b) == 0;
    }
    if (x->kind == SECRET) {
        struct ts_account a;
        snprintf(a.id, sizeof a.id, "%s", r->sa_id);
        snprintf(a.secret, sizeof a.secret, "%.*s", (int)sizeof a.secret - 1, x->a);
        return ts_token(s, &a, NULL)->status == 200;
    }
    /* the session rotates: keep its newest refresh token for the next round's check */
    struct ts_resp *rr = ts_refresh(s, r->app_id, x->a, NULL);
    const char *next = rr->status == 200 ? ts_jstr(rr->json, "refresh_token") : NULL;
    if (next)
        snprintf(x->a, sizeof x->a, "%s", next);
    return next != NULL;
}

/* Every user the store lists is found by its email, as the same user: no half-written one. */
static int all_users_whole(struct ts_server *s, const char *admin_tok, size_t *count)
{
    const char *cursor = NULL;
    *count = 0;
    for (int page = 0; page < 100; page++) {
        struct ts_resp *r =
            ts_bearer(s, "GET",
                      cursor ? ts_printf("/admin/v1/users?limit=100&after=%s", cursor)
                             : "/admin/v1/users?limit=100",
                      admin_tok, NULL);
        if (r->status != 200)
            return 0;
        json_t *items = json_object_get(r->json, "items"), *u;
        size_t i;
        json_array_foreach(items, i, u)
        {
            const char *email = ts_jstr(u, "email");
            (*count)++;
            if (!email || !*email)
                continue;
            struct ts_resp *q =
                ts_bearer(s, "GET", ts_printf("/admin/v1/users?email=%s", ts_form_escape(email)),
                          admin_tok, NULL);
            json_t *found = json_object_get(q->json, "items");
            if (q->status != 200 || json_array_size(found) != 1 ||
                strcmp(ts_jstr(json_array_get(found, 0), "id"), ts_jstr(u, "id")) != 0)
                return 0;
        }
        cursor = ts_jstr(r->json, "next");
        if (!cursor)
            return 1;
        cursor = ts_form_escape(cursor);
    }
    return 0;
}

TEST(acknowledged_writes_survive_sigkill)
{
    /* a login of a user whose creation the kill lost fails: no budget may stop the others */
    static const char *const env[] = {"IDPD_RATE_LIMIT_TOKEN=0", "IDPD_LOGIN_LOCKOUT_THRESHOLD=0",
                                      "IDPD_LOGIN_ADDRESS_THRESHOLD=0",
                                      "IDPD_LOGIN_ACCOUNT_THRESHOLD=0", NULL};
    const char *data = ts_path("data");
    struct ts_account admin, sa, app;
    CHECK_INT(ts_sa_create(data, "admin", admin_roles, NULL, &admin), 0);
    CHECK_INT(ts_sa_create(data, "worker", NULL, NULL, &sa), 0);
    CHECK_INT(ts_app_create(data, "sdk", grants, NULL, &app), 0);
    struct ts_opts o = {.data = data, .env = env};
    struct run r = {.sa_id = sa.id, .app_id = app.id};
    r.sa_path = ts_printf("/admin/v1/service-accounts/%s", sa.id);
    r.acked = ts_keep(calloc(MAX_ACKED, sizeof *r.acked));
    pthread_mutex_init(&r.lock, NULL);
    srand48((long)time(NULL));
    size_t checked = 0, users = 0;
    for (int round = 0; round < ROUNDS; round++) {
        struct ts_server *s = ts_start(&o);
        CHECK(s);
        if (!s)
            break;
        /* what the rounds before acknowledged is all there after the crash */
        const char *tok = ts_token_str(s, &admin);
        CHECK(tok);
        for (size_t i = 0; i < r.nacked; i++) {
            CHECK_MSG(verify(s, &r, tok, &r.acked[i]), "round %d: acknowledged write %zu (%s) lost",
                      round, i,
                      r.acked[i].kind == USER     ? "user"
                      : r.acked[i].kind == SECRET ? "secret"
                                                  : "session");
            checked++;
        }
        CHECK(all_users_whole(s, tok, &users));
        if (round == ROUNDS - 1) {
            CHECK_INT(ts_stop(s), 0);
            break;
        }
        /* write from several threads, then SIGKILL at a random moment */
        r.base = s->url;
        r.admin = ts_printf("Authorization: Bearer %s", tok);
        r.round = round;
        atomic_store(&r.stop, 0);
        pthread_t th[WRITERS];
        struct writer w[WRITERS];
        for (int i = 0; i < WRITERS; i++) {
            w[i] = (struct writer){&r, i};
            CHECK_INT(pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
        }
        /* Kill at a random moment once this round has acknowledged some writes: every write
         * runs Argon2, which a ThreadSanitizer build on two cores does a few times a second, so a
         * fixed window could end before any was answered. */
        pthread_mutex_lock(&r.lock);
        size_t before = r.nacked;
        pthread_mutex_unlock(&r.lock);
        for (int waited = 0; waited < 300; waited++) {
            pthread_mutex_lock(&r.lock);
            size_t now_acked = r.nacked;
            pthread_mutex_unlock(&r.lock);
            if (now_acked >= before + ACKED_PER_ROUND)
                break;
            usleep(50 * 1000); /* at most 15 s */
        }
        usleep((useconds_t)(lrand48() % 700) * 1000);
        CHECK_INT(kill(s->pid, SIGKILL), 0);
        CHECK_INT(ts_stop(s), 128 + SIGKILL);
        atomic_store(&r.stop, 1);
        for (int i = 0; i < WRITERS; i++)
            pthread_join(th[i], NULL);
    }
    /* the crashes interrupted real work: many writes were acknowledged and then checked */
    CHECK_MSG(r.nacked >= 50 && checked >= r.nacked, "%zu acknowledged, %zu checked", r.nacked,
              checked);
    CHECK(users >= 1);
    printf("# %zu acknowledged writes checked after %d SIGKILLs; %zu users listed\n", r.nacked,
           ROUNDS - 1, users);
    pthread_mutex_destroy(&r.lock);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(acknowledged_writes_survive_sigkill);
    return ts_done();
}
