/* The tests' SMTP sink (mail_sink.h). */
#include "mail_sink.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

unsigned th_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    unsigned port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static int port_open(unsigned port)
{
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0), ok;
    ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

void th_sink_stop(struct th_sink *s)
{
    if (!s || s->pid <= 0)
        return;
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    s->pid = 0;
}

static void stop_at_end(void *arg)
{
    th_sink_stop(arg);
    free(arg);
}

int th_sink_restart(struct th_sink *s)
{
    char listen[32];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", s->port);
    pid_t pid = fork();
    if (pid == 0) {
        /* a test that crashes takes its sink along: no orphan holds the test's output open */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        /* Debian's python, which has aiosmtpd (a python3 earlier in PATH may not) */
        execl("/usr/bin/python3", "python3", "-m", "aiosmtpd", "-n", "-l", listen, "-c",
              "aiosmtpd.handlers.Mailbox", s->dir, (char *)NULL);
        _exit(127);
    }
    if (pid < 0)
        return -1;
    s->pid = pid;
    for (int i = 0; i < 100; i++) {
        if (port_open(s->port))
            return 0;
        if (waitpid(pid, NULL, WNOHANG) == pid) {
            s->pid = 0;
            return -1;
        }
        usleep(100 * 1000);
    }
    return -1;
}

/* dir + sub in a static buffer (one call at a time). */
static const char *ts_dir_sub(const char *dir, const char *sub)
{
    static char path[1100];
    snprintf(path, sizeof path, "%s%s", dir, sub);
    return path;
}

struct th_sink *th_sink_start(unsigned port)
{
    static unsigned seq;
    struct th_sink *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->port = port ? port : th_free_port();
    snprintf(s->dir, sizeof s->dir, "%s/maildir-%u-%u", th_tmpdir(), (unsigned)getpid(), ++seq);
    snprintf(s->url, sizeof s->url, "smtp://127.0.0.1:%u", s->port);
    /* a maildir whole: Python makes the subfolders only of a folder it creates itself */
    static const char *const subs[] = {"", "/tmp", "/new", "/cur"};
    for (size_t i = 0; i < sizeof subs / sizeof subs[0]; i++)
        mkdir(ts_dir_sub(s->dir, subs[i]), 0700);
    th_defer(stop_at_end, s);
    return s->port && th_sink_restart(s) == 0 ? s : NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n - 1 == 0) {
            char *more = realloc(buf, cap * 2);
            if (!more) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = more;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    return buf;
}

/* 1 when message's To header names to (ASCII case ignored). */
static int addressed_to(const char *message, const char *to)
{
    char *v = th_mail_header(message, "To");
    int yes = v && strcasestr(v, to) != NULL;
    free(v);
    return yes;
}

/* When a message arrived, from its maildir name "SECONDS.MMICROSECONDS…" (aiosmtpd's
 * mailbox.Maildir), in microseconds: file times have too coarse a grain for messages a
 * millisecond apart. */
static long long arrival(const char *name)
{
    char *end = NULL;
    long long sec = strtoll(name, &end, 10), usec = 0;
    if (end && end[0] == '.' && end[1] == 'M')
        usec = strtoll(end + 2, NULL, 10);
    return sec * 1000000 + usec;
}

static int count_once(struct th_sink *s, const char *to, char **last)
{
    char path[1600];
    long long newest = -1;
    int n = 0;
    snprintf(path, sizeof path, "%s/new", s->dir);
    DIR *d = opendir(path);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/new/%s", s->dir, e->d_name);
        char *text = slurp(path);
        if (text && (!to || addressed_to(text, to))) {
            n++;
            if (last && arrival(e->d_name) > newest) {
                free(*last);
                *last = text;
                newest = arrival(e->d_name);
                text = NULL;
            }
        }
        free(text);
    }
    if (d)
        closedir(d);
    return n;
}

int th_sink_count(struct th_sink *s, const char *to, int want, int timeout_ms, char **last)
{
    int n = 0;
    for (int waited = 0;; waited += 50) {
        if (last) {
            free(*last);
            *last = NULL;
        }
        n = count_once(s, to, last);
        if (n >= want || waited >= timeout_ms)
            return n;
        usleep(50 * 1000);
    }
}

char *th_mail_header(const char *message, const char *name)
{
    size_t nl = strlen(name);
    for (const char *p = message; p && *p && !(p[0] == '\r' && p[1] == '\n') && *p != '\n';) {
        if (strncasecmp(p, name, nl) == 0 && p[nl] == ':') {
            const char *v = p + nl + 1;
            size_t cap = strlen(v) + 1, n = 0;
            char *out = malloc(cap);
            while (out && *v) {
                if (*v == '\r' || *v == '\n') {
                    const char *next = v + (v[0] == '\r' && v[1] == '\n' ? 2 : 1);
                    if (*next != ' ' && *next != '\t')
                        break;
                    v = next; /* a folded line goes on */
                    continue;
                }
                out[n++] = *v++;
            }
            if (out) {
                out[n] = '\0';
                char *start = out + strspn(out, " \t");
                memmove(out, start, strlen(start) + 1);
            }
            return out;
        }
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    return NULL;
}

static int hexval(int c)
{
    return isdigit(c) ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
}

/* Quoted-printable (RFC 2045 §6.7) undone: soft breaks go, =XX becomes its byte. Other text
 * passes as is, so a part in 7bit or 8bit reads the same. */
static char *qp_decode(const char *in)
{
    size_t n = 0;
    char *out = malloc(strlen(in) + 1);
    for (const char *p = in; out && *p;) {
        if (p[0] == '=' && p[1] == '\r' && p[2] == '\n') {
            p += 3;
        } else if (p[0] == '=' && p[1] == '\n') {
            p += 2;
        } else if (p[0] == '=' && hexval(p[1]) >= 0 && hexval(p[2]) >= 0) {
            out[n++] = (char)(hexval(p[1]) * 16 + hexval(p[2]));
            p += 3;
        } else {
            out[n++] = *p++;
        }
    }
    if (out)
        out[n] = '\0';
    return out;
}

char *th_mail_link(const char *message, const char *prefix)
{
    char *text = qp_decode(message);
    char *link = NULL;
    const char *at = text ? strstr(text, prefix) : NULL;
    if (at) {
        size_t len = strcspn(at, " \t\r\n\"'<>");
        link = strndup(at, len);
    }
    free(text);
    return link;
}
