/* Unit tests of server/core/fetch.c, idpd's outbound HTTPS, against a small HTTP server of the
 * test's own on 127.0.0.1 that answers well, slowly, hugely, or redirects: every request ends
 * within its timeout and body cap, and no redirect leaves the origin it was sent to. */
#include "harness.h"
#include "server/core/core.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- the test's HTTP server ---- */

struct upstream {
    int fd;
    unsigned port;
    pthread_t thread;
    atomic_int stop;
    atomic_int requests;
    char last_body[256];
};

struct conn {
    struct upstream *u;
    int fd;
};

static void send_all(int fd, const char *s, size_t len)
{
    while (len) {
        ssize_t n = send(fd, s, len, MSG_NOSIGNAL);
        if (n <= 0)
            return;
        s += n;
        len -= (size_t)n;
    }
}

static void answer(int fd, const char *status, const char *headers, const char *body)
{
    char head[512];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %s\r\nContent-Length: %zu\r\n%sConnection: close\r\n\r\n", status,
                     strlen(body), headers);
    send_all(fd, head, (size_t)n);
    send_all(fd, body, strlen(body));
}

static void *serve_conn(void *arg)
{
    struct conn *c = arg;
    struct upstream *u = c->u;
    char req[4096] = "", path[256] = "";
    size_t len = 0;
    /* the request line and headers (and a small body), within a second */
    struct pollfd p = {.fd = c->fd, .events = POLLIN};
    while (len < sizeof req - 1 && poll(&p, 1, 1000) > 0) {
        ssize_t n = recv(c->fd, req + len, sizeof req - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        req[len] = '\0';
        char *end = strstr(req, "\r\n\r\n");
        if (end && (strncmp(req, "POST", 4) != 0 || strlen(end + 4) > 0))
            break;
    }
    atomic_fetch_add(&u->requests, 1);
    sscanf(req, "%*s %255s", path);
    char *body = strstr(req, "\r\n\r\n");
    snprintf(u->last_body, sizeof u->last_body, "%s", body ? body + 4 : "");
    char loc[128];
    if (strcmp(path, "/ok") == 0) {
        answer(c->fd, "200 OK",
               "Content-Type: application/json\r\nCache-Control: public, max-age=300\r\n",
               "{\"ok\":true}");
    } else if (strcmp(path, "/nostore") == 0) {
        answer(c->fd, "200 OK", "Cache-Control: no-store, max-age=60\r\n", "x");
    } else if (strcmp(path, "/empty") == 0) {
        answer(c->fd, "204 No Content", "", "");
    } else if (strcmp(path, "/post") == 0) {
        answer(c->fd, strncmp(req, "POST", 4) == 0 ? "200 OK" : "405 Method Not Allowed", "",
               "posted");
    } else if (strcmp(path, "/big") == 0) {
        /* 5 MB announced and sent: the client must give up at its cap */
        static char chunk[65536];
        memset(chunk, 'a', sizeof chunk);
        char head[256];
        int n =
            snprintf(head, sizeof head,
                     "HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", 5 << 20);
        send_all(c->fd, head, (size_t)n);
        for (int i = 0; i < (5 << 20) / (int)sizeof chunk; i++)
            send_all(c->fd, chunk, sizeof chunk);
    } else if (strcmp(path, "/chunked-big") == 0) {
        /* no length announced: the cap must hold while the body streams */
        static char chunk[65536];
        memset(chunk, 'b', sizeof chunk);
        char head[] = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n";
        send_all(c->fd, head, sizeof head - 1);
        for (int i = 0; i < 80; i++)
            send_all(c->fd, chunk, sizeof chunk);
    } else if (strcmp(path, "/hang") == 0) {
        /* says nothing until the client goes away (or the test ends) */
        char b;
        while (!atomic_load(&u->stop) && poll(&p, 1, 100) >= 0)
            if (p.revents && recv(c->fd, &b, 1, 0) <= 0)
                break;
    } else if (strcmp(path, "/same") == 0) {
        answer(c->fd, "302 Found", "Location: /ok\r\n", "");
    } else if (strcmp(path, "/loop") == 0) {
        answer(c->fd, "302 Found", "Location: /loop\r\n", "");
    } else if (strcmp(path, "/other-host") == 0) {
        snprintf(loc, sizeof loc, "Location: http://127.0.0.2:%u/ok\r\n", u->port);
        answer(c->fd, "302 Found", loc, "");
    } else if (strcmp(path, "/other-port") == 0) {
        snprintf(loc, sizeof loc, "Location: http://127.0.0.1:%u/ok\r\n", u->port + 1);
        answer(c->fd, "302 Found", loc, "");
    } else if (strcmp(path, "/other-scheme") == 0) {
        snprintf(loc, sizeof loc, "Location: https://127.0.0.1:%u/ok\r\n", u->port);
        answer(c->fd, "302 Found", loc, "");
    } else if (strcmp(path, "/post-redirect") == 0) {
        answer(c->fd, "307 Temporary Redirect", "Location: /post\r\n", "");
    } else {
        answer(c->fd, "404 Not Found", "", "no");
    }
    close(c->fd);
    free(c);
    return NULL;
}

static void *accept_loop(void *arg)
{
    struct upstream *u = arg;
    struct pollfd p = {.fd = u->fd, .events = POLLIN};
    while (!atomic_load(&u->stop)) {
        if (poll(&p, 1, 100) <= 0)
            continue;
        int fd = accept(u->fd, NULL, NULL);
        struct conn *c = fd >= 0 ? malloc(sizeof *c) : NULL;
        pthread_t t;
        if (!c) {
            if (fd >= 0)
                close(fd);
            continue;
        }
        *c = (struct conn){u, fd};
        if (pthread_create(&t, NULL, serve_conn, c) == 0)
            pthread_detach(t);
        else
            close(fd), free(c);
    }
    return NULL;
}

static void upstream_stop(void *arg)
{
    struct upstream *u = arg;
    atomic_store(&u->stop, 1);
    pthread_join(u->thread, NULL);
    close(u->fd);
    usleep(200000); /* the connection threads see stop within 100 ms */
    free(u);
}

static struct upstream *upstream_start(void)
{
    struct upstream *u = calloc(1, sizeof *u);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t alen = sizeof a;
    if (!u || (u->fd = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
        bind(u->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(u->fd, 16) != 0 ||
        getsockname(u->fd, (struct sockaddr *)&a, &alen) != 0) {
        free(u);
        return NULL;
    }
    u->port = ntohs(a.sin_port);
    if (pthread_create(&u->thread, NULL, accept_loop, u) != 0) {
        close(u->fd);
        free(u);
        return NULL;
    }
    th_defer(upstream_stop, u);
    return u;
}

/* ---- the cases ---- */

static const struct srv_fetch_opts opts = {
    .plain_loopback = 1, .timeout_ms = 1500, .max_body = 1 << 20};

static int fetch(struct upstream *u, const char *path, const char *form, struct srv_fetch_result *r,
                 char *why)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", u->port, path);
    return srv_fetch(&opts, url, NULL, form, r, why, 256);
}

TEST(answers_with_their_status_type_and_cache_age)
{
    struct upstream *u = upstream_start();
    struct srv_fetch_result r;
    char why[256];
    CHECK(u != NULL);
    CHECK_INT(fetch(u, "/ok", NULL, &r, why), SRV_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"ok\":true}");
    CHECK_INT(r.len, 11);
    CHECK_STR(r.content_type, "application/json");
    CHECK_INT(r.max_age, 300);
    srv_fetch_result_clear(&r);
    CHECK_INT(fetch(u, "/nostore", NULL, &r, why), SRV_OK);
    CHECK_INT(r.max_age, 0);
    srv_fetch_result_clear(&r);
    CHECK_INT(fetch(u, "/empty", NULL, &r, why), SRV_OK);
    CHECK_INT(r.status, 204);
    CHECK_STR(r.body, "");
    srv_fetch_result_clear(&r);
    CHECK_INT(fetch(u, "/nothing", NULL, &r, why), SRV_OK); /* a status is an answer */
    CHECK_INT(r.status, 404);
    srv_fetch_result_clear(&r);
    CHECK_INT(fetch(u, "/post", "code=abc&x=1", &r, why), SRV_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(u->last_body, "code=abc&x=1");
    srv_fetch_result_clear(&r);
}

TEST(slow_and_huge_upstreams_end_within_the_bounds)
{
    struct upstream *u = upstream_start();
    struct srv_fetch_result r;
    char why[256];
    CHECK(u != NULL);
    double t0 = srv_now_ms();
    CHECK_INT(fetch(u, "/hang", NULL, &r, why), SRV_ERUNTIME);
    double took = srv_now_ms() - t0;
    CHECK_MSG(took >= 1400 && took < 3000, "the hang took %.0f ms", took);
    CHECK(why[0] != '\0');
    CHECK(r.body == NULL);
    CHECK_INT(fetch(u, "/big", NULL, &r, why), SRV_ERUNTIME);
    CHECK_MSG(strstr(why, "larger than") != NULL, "why: %s", why);
    CHECK_INT(fetch(u, "/chunked-big", NULL, &r, why), SRV_ERUNTIME);
    CHECK_MSG(strstr(why, "larger than") != NULL, "why: %s", why);
    CHECK(r.body == NULL);
    /* nobody listening */
    struct srv_fetch_result r2;
    CHECK_INT(srv_fetch(&opts, "http://127.0.0.1:1/ok", NULL, NULL, &r2, why, sizeof why),
              SRV_ERUNTIME);
}

TEST(redirects_stay_on_their_origin)
{
    struct upstream *u = upstream_start();
    struct srv_fetch_result r;
    char why[256];
    CHECK(u != NULL);
    CHECK_INT(fetch(u, "/same", NULL, &r, why), SRV_OK);
    CHECK_INT(r.status, 200);
    CHECK_STR(r.body, "{\"ok\":true}");
    srv_fetch_result_clear(&r);
    static const char *const refused[] = {"/other-host", "/other-port", "/other-scheme", "/loop"};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        int before = atomic_load(&u->requests);
        CHECK_INT(fetch(u, refused[i], NULL, &r, why), SRV_ERUNTIME);
        CHECK(r.body == NULL);
        CHECK_MSG(why[0] != '\0', "%s", refused[i]);
        /* the loop is followed three times, then refused; the others not once */
        CHECK_INT(atomic_load(&u->requests) - before, strcmp(refused[i], "/loop") == 0 ? 4 : 1);
    }
    /* a POST is never redirected: the code or secret it carries stays where it was sent */
    CHECK_INT(fetch(u, "/post-redirect", "code=abc", &r, why), SRV_ERUNTIME);
    CHECK_MSG(strstr(why, "POST") != NULL, "why: %s", why);
}

TEST(only_https_unless_loopback_is_allowed)
{
    struct srv_fetch_result r;
    char why[256];
    struct srv_fetch_opts strict = opts;
    strict.plain_loopback = 0;
    static const char *const bad[] = {"http://example.com/",
                                      "ftp://127.0.0.1/x",
                                      "file:///etc/passwd",
                                      "gopher://127.0.0.1/",
                                      "not a url",
                                      "//127.0.0.1/x",
                                      ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK_MSG(srv_fetch(&opts, bad[i], NULL, NULL, &r, why, sizeof why) == SRV_EINVAL, "%s",
                  bad[i]);
        CHECK(why[0] != '\0');
    }
    /* without the setting, loopback over plain HTTP is refused too, before any connection */
    struct upstream *u = upstream_start();
    CHECK(u != NULL);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/ok", u->port);
    CHECK_INT(srv_fetch(&strict, url, NULL, NULL, &r, why, sizeof why), SRV_EINVAL);
    CHECK_INT(atomic_load(&u->requests), 0);
}

TEST(cache_control_max_age)
{
    CHECK_INT(srv_cache_max_age("max-age=300"), 300);
    CHECK_INT(srv_cache_max_age("public, max-age=60, must-revalidate"), 60);
    CHECK_INT(srv_cache_max_age("no-store"), 0);
    CHECK_INT(srv_cache_max_age("max-age=60, no-cache"), 0);
    CHECK_INT(srv_cache_max_age("max-age="), 0);
    CHECK_INT(srv_cache_max_age("max-age=x"), 0);
    CHECK_INT(srv_cache_max_age(""), 0);
    CHECK_INT(srv_cache_max_age(NULL), 0);
    CHECK(srv_cache_max_age("max-age=99999999999999999999") <= 1000000000);
}

int main(int argc, char **argv)
{
    th_init(argc, argv);
    RUN(answers_with_their_status_type_and_cache_age);
    RUN(slow_and_huge_upstreams_end_within_the_bounds);
    RUN(redirects_stay_on_their_origin);
    RUN(only_https_unless_loopback_is_allowed);
    RUN(cache_control_max_age);
    return th_done();
}
