/* Slow clients cannot hold the server: a request's headers have a total deadline
 * (header_timeout) however often the client sends a byte, a body must keep to body_min_rate
 * after body_timeout, and when the connection table nearly fills, addresses that hold many
 * connections are refused while a client from a quiet address is still served at once. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000.0 + ts.tv_nsec / 1e6;
}

/* A TCP connection to the server from local address from; -1 on failure. */
static int connect_from(struct ts_server *s, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in src = {.sin_family = AF_INET}, dst = {.sin_family = AF_INET};
    inet_pton(AF_INET, from, &src.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    dst.sin_port = htons((uint16_t)s->port);
    if (fd < 0 || bind(fd, (struct sockaddr *)&src, sizeof src) != 0 ||
        connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

static int send_str(int fd, const char *s)
{
    return send(fd, s, strlen(s), MSG_NOSIGNAL) == (ssize_t)strlen(s);
}

/* 1 when the server has ended fd's stream (read end, or reset), without waiting; data it sent
 * is read and dropped. */
static int ended(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    char buf[512];
    if (poll(&p, 1, 0) != 1)
        return 0;
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* Reads what fd receives within ms into buf (at most cap - 1 bytes, NUL-terminated) until the
 * stream ends or a whole "{...}" body arrived; the bytes read. */
static size_t read_answer(int fd, char *buf, size_t cap, int ms)
{
    size_t len = 0;
    double until = now_ms() + ms;
    buf[0] = '\0';
    while (len + 1 < cap && now_ms() < until) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(until - now_ms()) + 1) != 1)
            break;
        ssize_t n = recv(fd, buf + len, cap - 1 - len, 0);
        if (n <= 0)
            break;
        len += (size_t)n;
        buf[len] = '\0';
        const char *body = strstr(buf, "\r\n\r\n");
        if (body && strchr(body, '}'))
            break;
    }
    return len;
}

/* A request line and then one more header line every 300 ms: closed once header_timeout (2 s)
 * has passed since the connection opened, although connection_timeout (30 s) never runs out. */
TEST(headers_have_a_total_deadline)
{
    static const char *const env[] = {"IDPD_HEADER_TIMEOUT=2", "IDPD_CONNECTION_TIMEOUT=30", NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    int fd = connect_from(s, "127.0.0.1");
    CHECK(fd >= 0);
    double start = now_ms(), closed_at = 0;
    CHECK(send_str(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n"));
    for (int i = 0; i < 20 && !closed_at; i++) { /* 6 s at most */
        usleep(300 * 1000);
        if (ended(fd) || !send_str(fd, "X-Slow: 1\r\n"))
            closed_at = now_ms();
    }
    close(fd);
    CHECK_MSG(closed_at > 0, "a request whose headers trickled in for 6 s stayed open");
    CHECK_MSG(closed_at == 0 || (closed_at - start > 1500 && closed_at - start < 4500),
              "closed after %.0f ms, header_timeout is 2 s", closed_at - start);

    /* an idle keep-alive connection gets the same deadline for its next request */
    fd = connect_from(s, "127.0.0.1");
    char buf[1024];
    CHECK(send_str(fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    read_answer(fd, buf, sizeof buf, 2000);
    CHECK(strncmp(buf, "HTTP/1.1 200", 12) == 0);
    CHECK(strstr(buf, "{\"status\":\"ok\"}") != NULL);
    start = now_ms();
    closed_at = 0;
    for (int i = 0; i < 60 && !closed_at; i++) { /* 6 s at most */
        usleep(100 * 1000);
        if (ended(fd))
            closed_at = now_ms();
    }
    close(fd);
    CHECK_MSG(closed_at > 0 && closed_at - start < 4500,
              "an idle keep-alive connection stayed open %.0f ms",
              (closed_at ? closed_at : now_ms()) - start);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

/* A body announced as 60000 bytes that comes at 200 B/s is cut once body_timeout (2 s), plus a
 * second per 1024 bytes received, has passed; one that comes at 8 KiB/s outlasts body_timeout
 * and is answered. */
TEST(bodies_have_a_rate_floor)
{
    static const char *const env[] = {"IDPD_BODY_TIMEOUT=2", "IDPD_BODY_MIN_RATE=1024",
                                      "IDPD_CONNECTION_TIMEOUT=30", NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    const char head[] = "POST /v1/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n";
    char chunk[4097];
    memset(chunk, ' ', sizeof chunk - 1);
    chunk[sizeof chunk - 1] = '\0';

    int fd = connect_from(s, "127.0.0.1");
    CHECK(fd >= 0);
    double start = now_ms(), closed_at = 0;
    CHECK(send_str(fd, ts_printf(head, 60000)));
    for (int i = 0; i < 24 && !closed_at; i++) { /* 6 s at most */
        usleep(250 * 1000);
        if (ended(fd) || send(fd, chunk, 50, MSG_NOSIGNAL) != 50)
            closed_at = now_ms();
    }
    close(fd);
    CHECK_MSG(closed_at > 0, "a body trickling at 200 B/s for 6 s was still read");
    CHECK_MSG(closed_at == 0 || (closed_at - start > 1500 && closed_at - start < 4500),
              "closed after %.0f ms, body_timeout is 2 s", closed_at - start);

    /* 5 x 4096 bytes, one every 600 ms: 3 s in all, inside 2 s + 20 s earned */
    fd = connect_from(s, "127.0.0.1");
    CHECK(fd >= 0);
    CHECK(send_str(fd, ts_printf(head, 5 * 4096)));
    int sent = 0;
    for (int i = 0; i < 5; i++) {
        usleep(600 * 1000);
        sent += send(fd, chunk, 4096, MSG_NOSIGNAL) == 4096;
    }
    CHECK_INT(sent, 5);
    char buf[2048];
    read_answer(fd, buf, sizeof buf, 3000);
    close(fd);
    /* the handler runs once the body is in whole: its 403 (registration is off) shows it did */
    CHECK_MSG(strncmp(buf, "HTTP/1.1 403", 12) == 0, "answer: %.80s", buf);
    CHECK(strstr(buf, "application/problem+json") != NULL);
    CHECK(strstr(buf, "allow_registration") != NULL);
    CHECK_INT(ts_stop(s), 0);
}

enum { ATTACK_ADDRS = 10, PER_ADDR = 30, ATTACKERS = ATTACK_ADDRS * PER_ADDR };

struct attacker {
    int fd;
    double last_line;
};

/* The review's attack, scaled down: 300 connections from ten addresses (30 each, well under
 * max_connections_per_ip) against max_connections=200, each sending a header line every second
 * and reconnecting whenever it is closed. Throughout 15 s, a GET /healthz from a quiet address
 * every 250 ms is answered in under 1 s. */
TEST(slow_headers_cannot_fill_the_table)
{
    static const char *const env[] = {"IDPD_MAX_CONNECTIONS=200", "IDPD_LOG_LEVEL=warn", NULL};
    struct ts_opts o = {.env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    struct attacker *a = ts_keep(calloc(ATTACKERS, sizeof *a));
    char from[ATTACK_ADDRS][16];
    for (int i = 0; i < ATTACK_ADDRS; i++)
        snprintf(from[i], sizeof from[i], "127.0.0.%d", 2 + i);
    for (int i = 0; i < ATTACKERS; i++)
        a[i].fd = -1;
    int probes = 0, slow = 0, reconnects = 0;
    double worst = 0, start = now_ms();
    const char probe[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    for (int tick = 0; tick < 60 && now_ms() - start < 20000; tick++) {
        double tick_start = now_ms();
        int opened = 0;
        for (int i = 0; i < ATTACKERS; i++) {
            struct attacker *c = &a[i];
            if (c->fd >= 0 && ended(c->fd)) {
                close(c->fd);
                c->fd = -1;
            }
            /* at most 100 (re)connections a tick keeps the test's own work bounded */
            if (c->fd < 0 && opened < 100) {
                opened++;
                c->fd = connect_from(s, from[i % ATTACK_ADDRS]);
                if (c->fd >= 0 &&
                    !send_str(c->fd, "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")) {
                    close(c->fd);
                    c->fd = -1;
                }
                c->last_line = now_ms();
                reconnects += tick > 0;
            } else if (c->fd >= 0 && now_ms() - c->last_line >= 1000) {
                if (!send_str(c->fd, "X-Slow: 1\r\n")) {
                    close(c->fd);
                    c->fd = -1;
                }
                c->last_line = now_ms();
            }
        }
        int fd = connect_from(s, "127.0.0.40");
        double sent = now_ms();
        char buf[1024] = "";
        if (fd >= 0 && send_str(fd, probe))
            read_answer(fd, buf, sizeof buf, 1000);
        double took = now_ms() - sent;
        if (fd >= 0)
            close(fd);
        probes++;
        if (took > worst)
            worst = took;
        if (strncmp(buf, "HTTP/1.1 200", 12) != 0 || !strstr(buf, "{\"status\":\"ok\"}") ||
            took >= 1000) {
            slow++;
            if (slow <= 3)
                fprintf(stderr, "# probe %d at %.1f s: %.0f ms, answer \"%.12s\"\n", probes,
                        (sent - start) / 1000, took, buf);
        }
        double left = 250 - (now_ms() - tick_start);
        if (left > 0)
            usleep((useconds_t)(left * 1000));
    }
    for (int i = 0; i < ATTACKERS; i++)
        if (a[i].fd >= 0)
            close(a[i].fd);
    CHECK_MSG(probes >= 40, "only %d probes in the time", probes);
    CHECK_MSG(slow == 0, "%d of %d probes from a quiet address took 1 s or more (worst %.0f ms)",
              slow, probes, worst);
    /* the attack was real: the server refused or closed attacking connections all along */
    CHECK_MSG(reconnects > ATTACKERS, "attackers had to reconnect only %d times", reconnects);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    CHECK(ts_log_wait(s, "refused (table nearly full)", 2000));
    CHECK_INT(ts_stop(s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(headers_have_a_total_deadline);
    RUN(bodies_have_a_rate_floor);
    RUN(slow_headers_cannot_fill_the_table);
    return ts_done();
}
