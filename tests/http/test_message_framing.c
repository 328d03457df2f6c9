/* RFC 9112 §6.1: a request with both Content-Length and Transfer-Encoding may be framed one way
 * by a proxy in front and another way here (request smuggling). It is answered 400 with
 * Connection: close, and the connection really closes: whatever follows on it is not read as a
 * second request. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "support.h"

static const char *const roles[] = {"deployer", NULL};

/* Sends req on a new connection and reads until the server ends the stream, 5 s at most.
 * *eof says whether it did end. The bytes read, NUL-terminated, case-owned. */
static char *exchange(struct ts_server *s, const char *req, int *eof)
{
    enum { CAP = 16384 };
    char *buf = ts_keep(calloc(1, CAP));
    size_t len = 0;
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s->port)};
    inet_pton(AF_INET, "127.0.0.1", &dst.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    *eof = 0;
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof dst) != 0 ||
        send(fd, req, strlen(req), MSG_NOSIGNAL) != (ssize_t)strlen(req)) {
        if (fd >= 0)
            close(fd);
        return buf;
    }
    for (int i = 0; i < 50 && len + 1 < CAP; i++) { /* 50 x 100 ms */
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) != 1)
            continue;
        ssize_t n = recv(fd, buf + len, CAP - 1 - len, 0);
        if (n <= 0) {
            *eof = 1;
            break;
        }
        len += (size_t)n;
    }
    close(fd);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The body of the one answer in buf, parsed (case-owned), or NULL. */
static json_t *body_json(const char *buf)
{
    const char *body = strstr(buf, "\r\n\r\n");
    return body ? ts_keep_json(json_loads(body + 4, JSON_DISABLE_EOF_CHECK, NULL)) : NULL;
}

TEST(content_length_and_transfer_encoding_400_and_close)
{
    const char *data = ts_path("data");
    struct ts_account sa;
    CHECK_INT(ts_sa_create(data, "deployer", roles, NULL, &sa), 0);
    struct ts_opts o = {.data = data};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    /* A proxy that goes by Content-Length sees one request whose body is "0\r\n\r\n"; a server
     * that goes by chunked sees two. */
    int eof = 0;
    char *buf = exchange(s,
                         "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 5\r\n"
                         "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                         "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                         &eof);
    CHECK_MSG(strncmp(buf, "HTTP/1.1 400", 12) == 0, "answer: %.60s", buf);
    CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(buf, "\r\nContent-Type: application/problem+json\r\n") != NULL);
    json_t *j = body_json(buf);
    CHECK_INT(ts_jint(j, "status"), 400);
    CHECK(ts_jstr(j, "detail") && strstr(ts_jstr(j, "detail"), "Transfer-Encoding"));
    CHECK_MSG(count(buf, "HTTP/1.1 ") == 1, "the smuggled request was answered: %s", buf);
    CHECK_MSG(eof, "the connection stayed open");

    /* on /oauth/ the answer is RFC 6749's invalid_request, and no token is issued */
    const char *form = "grant_type=client_credentials";
    buf = exchange(s,
                   ts_printf("POST /oauth/token HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n"
                             "Content-Type: application/x-www-form-urlencoded\r\n"
                             "Content-Length: %zu\r\nTransfer-Encoding: chunked\r\n\r\n"
                             "%zx\r\n%s\r\n0\r\n\r\n"
                             "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
                             ts_basic(&sa), strlen(form), strlen(form), form),
                   &eof);
    CHECK_MSG(strncmp(buf, "HTTP/1.1 400", 12) == 0, "answer: %.60s", buf);
    CHECK(strstr(buf, "\r\nConnection: close\r\n") != NULL);
    CHECK(strstr(buf, "\r\nContent-Type: application/json\r\n") != NULL);
    j = body_json(buf);
    CHECK_STR(ts_jstr(j, "error"), "invalid_request");
    CHECK(ts_jstr(j, "access_token") == NULL);
    CHECK_INT(count(buf, "HTTP/1.1 "), 1);
    CHECK(eof);

    /* either alone is served as before */
    struct ts_req rq = {
        .path = "/oauth/token", .body = form, .headers = (const char *[]){ts_basic(&sa), NULL}};
    CHECK_INT(ts_do(s, &rq)->status, 200);
    rq.chunked = 1;
    CHECK_INT(ts_do(s, &rq)->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(content_length_and_transfer_encoding_400_and_close);
    return ts_done();
}
