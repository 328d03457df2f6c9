/* Restart persistence: keys, accounts and tokens survive a clean stop and start on the same data
 * folder. The issuer is fixed with --issuer, since with --listen 127.0.0.1:0 the default issuer
 * names a port that changes from run to run. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "support.h"

static const char *const intro_roles[] = {"idp:introspect", NULL};
static const char *const app_roles[] = {"deployer", NULL};

TEST(restart_keeps_keys_accounts_and_tokens)
{
    const char *data = ts_path("data");
    const char *args[] = {"--issuer", "http://idpd.restart.test", NULL};
    struct ts_opts o = {.data = data, .args = args};
    struct ts_server *s1 = ts_start(&o);
    CHECK(s1);
    struct ts_account caller, app;
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    CHECK_INT(ts_sa_create(data, "app", app_roles, NULL, &app), 0);
    const char *tok = ts_token_str(s1, &app);
    CHECK(tok);
    const char *revoked = ts_token_str(s1, &app);
    CHECK(revoked);
    CHECK_INT(ts_revoke(s1, &app, revoked)->status, 200);
    struct ts_resp *jwks1 = ts_get(s1, "/jwks");
    CHECK_INT(jwks1->status, 200);
    CHECK_INT(ts_stop(s1), 0);
    CHECK(strstr(ts_log(s1), "\"msg\":\"stopped\"") != NULL);

    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    struct ts_resp *jwks2 = ts_get(s2, "/jwks");
    CHECK_INT(jwks2->status, 200);
    json_t *k1 = json_object_get(jwks1->json, "keys"), *k2 = json_object_get(jwks2->json, "keys");
    CHECK_INT(json_array_size(k1), 2);
    CHECK_INT(json_array_size(k2), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *kid = ts_jstr(json_array_get(k1, i), "kid");
        json_t *same = ts_jwks_key(jwks2->json, kid);
        CHECK_MSG(same != NULL, "kid %s gone after restart", kid);
        CHECK(json_equal(same, json_array_get(k1, i)));
    }
    /* the token issued before the restart is still active, and still verifies offline */
    struct ts_resp *r = ts_introspect(s2, &caller, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "sub"), app.id);
    json_t *h, *p;
    CHECK(ts_jwt_decode(tok, &h, &p) == 0);
    CHECK(ts_es256_verify(tok, ts_jwks_key(jwks2->json, ts_jstr(h, "kid"))));
    /* the revoked one stays revoked */
    CHECK_INACTIVE(ts_introspect(s2, &caller, revoked));
    /* the same credentials still work, and new tokens use the same key */
    const char *tok2 = ts_token_str(s2, &app);
    CHECK(tok2);
    json_t *h2, *p2;
    CHECK(ts_jwt_decode(tok2, &h2, &p2) == 0);
    CHECK_STR(ts_jstr(h2, "kid"), ts_jstr(h, "kid"));
    CHECK_STR(ts_jstr(p2, "iss"), "http://idpd.restart.test");
    CHECK_INT(ts_stop(s2), 0);
}

static const char *const app_grants[] = {"password", "refresh_token",
                                         "urn:idpd:grant-type:anonymous", NULL};

/* Users, identities, sessions and their refresh tokens live in the data folder: after a restart
 * the same refresh tokens rotate, access tokens of live sessions still work, the password still
 * logs in, and a rotated-away token still counts as reuse. */
TEST(restart_keeps_users_and_sessions)
{
    const char *data = ts_path("data");
    const char *args[] = {"--issuer", "http://idpd.restart.test", "--allow-registration", NULL};
    struct ts_opts o = {.data = data, .args = args};
    struct ts_server *s1 = ts_start(&o);
    CHECK(s1);
    struct ts_account app, caller;
    CHECK_INT(ts_app_create(data, "web", app_grants, NULL, &app), 0);
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    struct ts_resp *reg = ts_register(s1, app.id, "Lin@Example.com", "persistent password");
    CHECK_INT(reg->status, 201);
    const char *uid = ts_jstr(reg->json, "id");
    struct ts_resp *l1 = ts_login(s1, app.id, "lin@example.com", "persistent password", NULL);
    struct ts_resp *l2 = ts_login(s1, app.id, "lin@example.com", "persistent password", NULL);
    struct ts_resp *anon = ts_anonymous(s1, app.id);
    CHECK_INT(l1->status, 200);
    CHECK_INT(l2->status, 200);
    CHECK_INT(anon->status, 200);
    /* l2's first refresh token is rotated away before the stop */
    struct ts_resp *l2r = ts_refresh(s1, app.id, ts_jstr(l2->json, "refresh_token"), NULL);
    CHECK_INT(l2r->status, 200);
    struct ts_resp *me1 = ts_bearer(s1, "GET", "/v1/me", ts_jstr(l1->json, "access_token"), NULL);
    CHECK_INT(me1->status, 200);
    CHECK_INT(ts_stop(s1), 0);

    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    /* the access token from before still works, and shows the same user */
    const char *at1 = ts_jstr(l1->json, "access_token");
    struct ts_resp *me2 = ts_bearer(s2, "GET", "/v1/me", at1, NULL);
    CHECK_INT(me2->status, 200);
    CHECK(json_equal(me1->json, me2->json));
    CHECK(json_is_true(json_object_get(ts_introspect(s2, &caller, at1)->json, "active")));
    /* the refresh token from before rotates; the new access token works */
    struct ts_resp *r = ts_refresh(s2, app.id, ts_jstr(l1->json, "refresh_token"), NULL);
    CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    json_t *h, *c, *c1;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &h, &c) == 0);
    CHECK(ts_jwt_decode(at1, &h, &c1) == 0);
    CHECK_STR(ts_jstr(c, "sub"), uid);
    CHECK_STR(ts_jstr(c, "sid"), ts_jstr(c1, "sid"));
    CHECK_STR(ts_jstr(c, "iss"), "http://idpd.restart.test");
    struct ts_resp *me3 = ts_bearer(s2, "GET", "/v1/me", ts_jstr(r->json, "access_token"), NULL);
    CHECK_INT(me3->status, 200);
    CHECK_STR(ts_jstr(me3->json, "email"), "Lin@Example.com");
    struct ts_resp *ss =
        ts_bearer(s2, "GET", "/v1/me/sessions", ts_jstr(r->json, "access_token"), NULL);
    CHECK_INT(json_array_size(json_object_get(ss->json, "items")), 2);
    /* the anonymous user's session too */
    struct ts_resp *ar = ts_refresh(s2, app.id, ts_jstr(anon->json, "refresh_token"), NULL);
    CHECK_INT(ar->status, 200);
    /* the token rotated away before the stop is still reuse: it ends l2's session */
    CHECK_OAUTH_ERROR(ts_refresh(s2, app.id, ts_jstr(l2->json, "refresh_token"), NULL), 400,
                      "invalid_grant");
    CHECK_OAUTH_ERROR(ts_refresh(s2, app.id, ts_jstr(l2r->json, "refresh_token"), NULL), 400,
                      "invalid_grant");
    /* the password still logs in; the email is still taken */
    struct ts_resp *l3 = ts_login(s2, app.id, "LIN@example.com", "persistent password", NULL);
    CHECK_INT(l3->status, 200);
    CHECK(ts_jwt_decode(ts_jstr(l3->json, "access_token"), &h, &c) == 0);
    CHECK_STR(ts_jstr(c, "sub"), uid);
    CHECK_OAUTH_ERROR(ts_login(s2, app.id, "lin@example.com", "wrong password", NULL), 400,
                      "invalid_grant");
    CHECK_PROBLEM(ts_register(s2, app.id, "lin@example.com", "another password"), 409);
    CHECK_INT(ts_stop(s2), 0);
}

/* A token is tied to its issuer: the same folder served under another issuer refuses it. */
TEST(restart_under_other_issuer)
{
    const char *data = ts_path("data");
    const char *args1[] = {"--issuer", "http://one.test", NULL};
    const char *args2[] = {"--issuer", "http://two.test", NULL};
    struct ts_opts o1 = {.data = data, .args = args1}, o2 = {.data = data, .args = args2};
    struct ts_server *s1 = ts_start(&o1);
    CHECK(s1);
    struct ts_account caller, app;
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    CHECK_INT(ts_sa_create(data, "app", app_roles, NULL, &app), 0);
    const char *tok = ts_token_str(s1, &app);
    CHECK(tok);
    CHECK_INT(ts_stop(s1), 0);
    struct ts_server *s2 = ts_start(&o2);
    CHECK(s2);
    CHECK_INACTIVE(ts_introspect(s2, &caller, tok));
    CHECK_INT(ts_token(s2, &app, NULL)->status, 200);
}

/* SIGINT stops the server as cleanly as SIGTERM; a stop with a request in flight too. */
TEST(clean_stop)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_account app;
    CHECK_INT(ts_sa_create(s->data, "app", app_roles, NULL, &app), 0);
    CHECK(ts_token_str(s, &app));
    CHECK(kill(s->pid, SIGINT) == 0);
    CHECK(ts_log_wait(s, "\"msg\":\"stopped\"", 30000));
    CHECK(strstr(ts_log(s), "signal 2") != NULL);
    CHECK_INT(ts_stop(s), 0);

    struct ts_opts o = {.data = s->data};
    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    /* a token request (Argon2 on a worker) racing the stop */
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .headers = (const char *[]){ts_basic(&app), NULL},
                        .body = "grant_type=client_credentials"};
    struct ts_resp *resp = NULL;
    CURL *e = ts_easy(s2, &rq, &resp);
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, e);
    int running = 1;
    for (int i = 0; i < 20 && running; i++) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 5, NULL);
    }
    kill(s2->pid, SIGTERM);
    while (running) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    CURLMsg *msg;
    int left;
    CURLcode res = CURLE_OK;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(m, e);
    curl_multi_cleanup(m);
    ts_easy_done(e, resp, res);
    CHECK_INT(ts_stop(s2), 0);
    /* answered or refused, never half-way: a 200 carries a token */
    if (resp->status == 200)
        CHECK(ts_jstr(resp->json, "access_token") != NULL);
}

static void close_fd(void *p)
{
    close(*(int *)p);
    free(p);
}

/* A TCP connection to the server, closed when the case ends; -1 on failure. */
static int connect_to(struct ts_server *s)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int *keep = malloc(sizeof *keep);
    if (!keep) {
        close(fd);
        return -1;
    }
    *keep = fd;
    th_defer(close_fd, keep);
    return fd;
}

/* Everything the server sends until it closes the connection (30 s at most). */
static const char *read_all(int fd)
{
    char *out = NULL, buf[4096];
    size_t len = 0;
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        ssize_t n = poll(&p, 1, 30000) > 0 ? recv(fd, buf, sizeof buf, 0) : 0;
        char *more = n > 0 ? realloc(out, len + (size_t)n + 1) : NULL;
        if (!more)
            break;
        memcpy(more + len, buf, (size_t)n);
        len += (size_t)n;
        more[len] = '\0';
        out = more;
    }
    return out ? ts_keep(out) : "";
}

/* Requests whose last byte arrives as the server stops: each is answered (200 with a token, or
 * 503) or its connection is closed, and the server exits cleanly. A request that reached the
 * worker pool after the stop had freed it used to crash the server (clean_stop hit it now and
 * then under load); the rounds move the last byte across the stop. */
TEST(stop_while_requests_arrive)
{
    const char *data = ts_path("data");
    struct ts_opts o = {.data = data};
    struct ts_account app;
    const char *body = "grant_type=client_credentials";
    for (int round = 0; round < 6; round++) {
        struct ts_server *s = ts_start(&o);
        CHECK(s);
        if (round == 0)
            CHECK_INT(ts_sa_create(data, "app", app_roles, NULL, &app), 0);
        const char *req = ts_printf("POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                                    "Content-Type: application/x-www-form-urlencoded\r\n"
                                    "Content-Length: %zu\r\n\r\n%.*s",
                                    ts_basic(&app), strlen(body), (int)strlen(body) - 1, body);
        int fds[6];
        for (size_t i = 0; i < 6; i++) {
            fds[i] = connect_to(s);
            CHECK(fds[i] >= 0);
            CHECK(send(fds[i], req, strlen(req), MSG_NOSIGNAL) == (ssize_t)strlen(req));
        }
        usleep(50000); /* the server has the headers and waits for the last byte */
        CHECK(kill(s->pid, SIGTERM) == 0);
        usleep((useconds_t)round * 600);
        for (size_t i = 0; i < 6; i++)
            send(fds[i], body + strlen(body) - 1, 1, MSG_NOSIGNAL); /* may find it closed */
        for (size_t i = 0; i < 6; i++) {
            const char *resp = read_all(fds[i]);
            const char *sep = strstr(resp, "\r\n\r\n");
            int ok =
                !resp[0] || strncmp(resp, "HTTP/1.1 503 ", 13) == 0 ||
                (strncmp(resp, "HTTP/1.1 200 ", 13) == 0 && sep && strstr(sep, "\"access_token\""));
            CHECK_MSG(ok, "round %d: %.300s", round, resp);
        }
        CHECK_INT(ts_stop(s), 0);
    }
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(restart_keeps_keys_accounts_and_tokens);
    RUN(restart_keeps_users_and_sessions);
    RUN(restart_under_other_issuer);
    RUN(clean_stop);
    RUN(stop_while_requests_arrive);
    return ts_done();
}
