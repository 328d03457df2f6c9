/* Support for the black-box HTTP tests (see support.h). */
#include "support.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "keys/keys.h"
#include "storage/storage.h"

extern char **environ;

#define START_TIMEOUT_MS 60000
#define STOP_TIMEOUT_MS 30000
#define CMD_TIMEOUT_MS 120000
#define LOG_DUMP_MAX 12000

static const char *idpd_bin;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1000.0 + (double)ts.tv_nsec / 1e6;
}

static void die(const char *what)
{
    perror(what);
    abort();
}

void ts_init(int argc, char **argv)
{
    th_init(argc, argv);
    idpd_bin = getenv("IDPD_BIN");
    if (!idpd_bin || !*idpd_bin) {
        fprintf(stderr, "IDPD_BIN must name the idpd binary\n");
        exit(2);
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fprintf(stderr, "curl_global_init failed\n");
        exit(2);
    }
    signal(SIGPIPE, SIG_IGN);
}

int ts_done(void)
{
    int rc = th_done();
    curl_global_cleanup();
    return rc;
}

/* ---- case-owned memory ---- */

static void free_cb(void *p)
{
    free(p);
}

static void decref_cb(void *p)
{
    json_decref(p);
}

void *ts_keep(void *p)
{
    if (!p)
        die("out of memory");
    th_defer(free_cb, p);
    return p;
}

json_t *ts_keep_json(json_t *j)
{
    if (j)
        th_defer(decref_cb, j);
    return j;
}

char *ts_printf(const char *fmt, ...)
{
    char *s = NULL;
    va_list ap;
    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        s = NULL;
    va_end(ap);
    return ts_keep(s);
}

const char *ts_path(const char *name)
{
    const char *p = ts_printf("%s/%s", th_tmpdir(), name);
    struct stat st;
    for (int i = 2; lstat(p, &st) == 0; i++)
        p = ts_printf("%s/%s-%d", th_tmpdir(), name, i);
    return p;
}

/* ---- growing buffers ---- */

static void buf_add(char **buf, size_t *len, size_t *cap, const char *p, size_t n)
{
    if (*len + n + 1 > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n + 1)
            c *= 2;
        char *nb = realloc(*buf, c);
        if (!nb)
            die("realloc");
        *buf = nb;
        *cap = c;
    }
    memcpy(*buf + *len, p, n);
    *len += n;
    (*buf)[*len] = '\0';
}

/* ---- child processes ---- */

/* The environment of a child: ours without IDPD_*, then extra, then, on PostgreSQL
 * (IDPD_TEST_STORE=postgres), IDPD_STORE naming the database th_store_for() keeps for the data
 * folder in argv ("--data DIR"), so every idpd of a case that shares a folder shares a store.
 * Built before fork() so the child only makes async-signal-safe calls. */
char **ts_child_env(char **argv, const char *const *extra)
{
    size_t n = 0, k = 0;
    /* idpd's default ./data, run in the case's folder */
    const char *store = NULL, *data = ts_printf("%s/data", th_tmpdir());
    for (char **a = argv; *a; a++)
        if (strcmp(*a, "--data") == 0 && a[1])
            data = a[1];
    if (th_on_postgres()) {
        const char *uri = th_store_for(data);
        if (uri)
            store = ts_printf("IDPD_STORE=%s", uri);
    }
    for (char **e = environ; *e; e++)
        n++;
    for (size_t i = 0; extra && extra[i]; i++)
        n++;
    char **env = ts_keep(calloc(n + 2, sizeof *env));
    for (char **e = environ; *e; e++)
        if (strncmp(*e, "IDPD_", 5) != 0)
            env[k++] = *e;
    /* first match wins (getenv): a case's own IDPD_STORE comes before ours */
    for (size_t i = 0; extra && extra[i]; i++)
        env[k++] = (char *)extra[i];
    if (store)
        env[k++] = (char *)store;
    env[k] = NULL;
    return env;
}

static char **child_argv(const char *const *pre, const char *const *args)
{
    size_t n = 1, k = 0;
    for (size_t i = 0; pre && pre[i]; i++)
        n++;
    for (size_t i = 0; args && args[i]; i++)
        n++;
    char **argv = ts_keep(calloc(n + 1, sizeof *argv));
    argv[k++] = (char *)idpd_bin;
    for (size_t i = 0; pre && pre[i]; i++)
        argv[k++] = (char *)pre[i];
    for (size_t i = 0; args && args[i]; i++)
        argv[k++] = (char *)args[i];
    argv[k] = NULL;
    return argv;
}

/* Forks and execs idpd with stdin from in_fd (-1: /dev/null), stdout to out_fd and stderr to
 * err_fd, in the case's folder. The child dies with us (PR_SET_PDEATHSIG). */
static pid_t spawn(char **argv, char **envp, int in_fd, int out_fd, int err_fd)
{
    const char *dir = th_tmpdir();
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
        if (in < 0 || dup2(in, 0) < 0 || dup2(out_fd, 1) < 0 || dup2(err_fd, 2) < 0)
            _exit(126);
        if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0 || getppid() != parent)
            _exit(126);
        if (chdir(dir) != 0)
            _exit(126);
        execve(argv[0], argv, envp);
        _exit(127);
    }
    return pid;
}

static int decode_status(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return 128 + WTERMSIG(wstatus);
    return -1;
}

/* Waits up to timeout_ms for pid; then SIGKILL. Returns the decoded status. */
static int wait_child(pid_t pid, double timeout_ms)
{
    double until = now_ms() + timeout_ms;
    int wstatus = 0;
    for (;;) {
        pid_t r = waitpid(pid, &wstatus, WNOHANG);
        if (r == pid)
            return decode_status(wstatus);
        if (r < 0 && errno != EINTR)
            return -1;
        if (now_ms() > until) {
            fprintf(stderr, "  process %d did not exit in time: SIGKILL\n", (int)pid);
            kill(pid, SIGKILL);
            while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
                ;
            return decode_status(wstatus);
        }
        usleep(5000);
    }
}

/* ---- the server ---- */

static void *reader_main(void *arg)
{
    struct ts_server *s = arg;
    char buf[8192];
    for (;;) {
        ssize_t n = read(s->fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        pthread_mutex_lock(&s->lock);
        if (n <= 0) {
            s->eof = 1;
        } else {
            buf_add(&s->log, &s->log_len, &s->log_cap, buf, (size_t)n);
        }
        pthread_cond_broadcast(&s->cond);
        pthread_mutex_unlock(&s->lock);
        if (n <= 0)
            return NULL;
    }
}

static void dump_log(struct ts_server *s)
{
    pthread_mutex_lock(&s->lock);
    const char *p = s->log ? s->log : "";
    size_t len = s->log_len;
    if (len > LOG_DUMP_MAX)
        p += len - LOG_DUMP_MAX;
    fprintf(stderr, "  ---- server %d (port %u) log%s ----\n%s  ---- end of log ----\n",
            (int)s->pid, s->port, len > LOG_DUMP_MAX ? " (tail)" : "", p);
    pthread_mutex_unlock(&s->lock);
}

static void server_cleanup(void *arg)
{
    struct ts_server *s = arg;
    if (s->running) {
        int st = ts_stop(s);
        if (st != 0) {
            fprintf(stderr, "  server on port %u exited with status %d at the end of the case\n",
                    s->port, st);
            th_case_failed = 1;
        }
    }
    if (th_case_failed)
        dump_log(s);
    pthread_join(s->reader, NULL);
    close(s->fd);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->cond);
    free(s->log);
    free(s);
}

/* The port of the "listening" line in the log, 0 while there is none. */
static unsigned find_listening(struct ts_server *s)
{
    unsigned port = 0;
    for (const char *p = s->log; p && *p && !port;) {
        const char *nl = strchr(p, '\n');
        if (!nl)
            break; /* a partial line: wait for the rest */
        if (memmem(p, (size_t)(nl - p), "\"msg\":\"listening\"", 17)) {
            json_t *line = json_loadb(p, (size_t)(nl - p), 0, NULL);
            json_int_t v = json_integer_value(json_object_get(line, "port"));
            const char *iss = json_string_value(json_object_get(line, "issuer"));
            if (v > 0 && v < 65536) {
                port = (unsigned)v;
                snprintf(s->issuer, sizeof s->issuer, "%s", iss ? iss : "");
            }
            json_decref(line);
        }
        p = nl + 1;
    }
    return port;
}

struct ts_server *ts_start(const struct ts_opts *o)
{
    struct ts_opts none = {0};
    int fds[2];
    if (!o)
        o = &none;
    struct ts_server *s = calloc(1, sizeof *s);
    if (!s)
        die("calloc");
    const char *data = o->data ? o->data : ts_path("data");
    snprintf(s->data, sizeof s->data, "%s", data);
    const char *pre[] = {"serve", "--listen", "127.0.0.1:0", "--data", s->data, NULL};
    char **argv = child_argv(pre, o->args);
    char **envp = ts_child_env(argv, o->env);
    if (pipe2(fds, O_CLOEXEC) != 0)
        die("pipe2");
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->cond, NULL);
    s->fd = fds[0];
    s->pid = spawn(argv, envp, -1, fds[1], fds[1]);
    s->running = 1;
    close(fds[1]);
    if (pthread_create(&s->reader, NULL, reader_main, s) != 0)
        die("pthread_create");
    th_defer(server_cleanup, s);

    double until = now_ms() + START_TIMEOUT_MS;
    pthread_mutex_lock(&s->lock);
    while (!(s->port = find_listening(s)) && !s->eof && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    if (!s->port) {
        fprintf(stderr, "  idpd serve did not report listening\n");
        int st = ts_stop(s);
        fprintf(stderr, "  it exited with status %d\n", st);
        dump_log(s);
        return NULL;
    }
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u", s->port);
    return s;
}

int ts_stop(struct ts_server *s)
{
    if (!s->running)
        return s->status;
    kill(s->pid, SIGTERM);
    s->status = wait_child(s->pid, STOP_TIMEOUT_MS);
    s->running = 0;
    /* The pipe reaches EOF once the server is gone: then the log is complete. */
    pthread_mutex_lock(&s->lock);
    double until = now_ms() + 5000;
    while (!s->eof && now_ms() < until) {
        pthread_mutex_unlock(&s->lock);
        usleep(2000);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return s->status;
}

const char *ts_log(struct ts_server *s)
{
    pthread_mutex_lock(&s->lock);
    char *copy = strdup(s->log ? s->log : "");
    pthread_mutex_unlock(&s->lock);
    return ts_keep(copy);
}

int ts_log_wait(struct ts_server *s, const char *needle, int timeout_ms)
{
    double until = now_ms() + timeout_ms;
    int found;
    pthread_mutex_lock(&s->lock);
    while (!(found = s->log && strstr(s->log, needle) != NULL) && !s->eof && now_ms() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000;
        if (ts.tv_nsec >= 1000000000) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->cond, &s->lock, &ts);
    }
    pthread_mutex_unlock(&s->lock);
    return found;
}

json_t *ts_log_requests(struct ts_server *s)
{
    const char *log = ts_log(s);
    json_t *out = ts_keep_json(json_array());
    for (const char *p = log; *p;) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        json_t *line = json_loadb(p, n, 0, NULL);
        const char *msg = json_string_value(json_object_get(line, "msg"));
        if (msg && strcmp(msg, "request") == 0)
            json_array_append(out, line);
        json_decref(line);
        p += n + (nl ? 1 : 0);
    }
    return out;
}

/* ---- the command line ---- */

struct ts_cmd *ts_run(const char *const *args, const char *const *env)
{
    return ts_run_input(args, env, NULL);
}

struct ts_cmd *ts_run_input(const char *const *args, const char *const *env, const char *input)
{
    struct ts_cmd *c = ts_keep(calloc(1, sizeof *c));
    int in[2] = {-1, -1}, out[2], err[2];
    char *obuf = NULL, *ebuf = NULL;
    size_t olen = 0, ocap = 0, elen = 0, ecap = 0;
    char **argv = child_argv(NULL, args);
    char **envp = ts_child_env(argv, env);
    if ((input && pipe2(in, O_CLOEXEC) != 0) || pipe2(out, O_CLOEXEC) != 0 ||
        pipe2(err, O_CLOEXEC) != 0)
        die("pipe2");
    pid_t pid = spawn(argv, envp, in[0], out[1], err[1]);
    close(out[1]);
    close(err[1]);
    if (input) {
        /* all of it, then EOF: the inputs of the tests fit the pipe */
        size_t left = strlen(input), off = 0;
        close(in[0]);
        signal(SIGPIPE, SIG_IGN); /* a child that exits early must not kill the test */
        while (left > 0) {
            ssize_t n = write(in[1], input + off, left);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                break;
            off += (size_t)n;
            left -= (size_t)n;
        }
        close(in[1]);
    }
    struct pollfd pf[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    double until = now_ms() + CMD_TIMEOUT_MS;
    int open_fds = 2;
    while (open_fds > 0 && now_ms() < until) {
        if (poll(pf, 2, 100) < 0 && errno != EINTR)
            die("poll");
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t n = read(pf[i].fd, buf, sizeof buf);
            if (n > 0) {
                if (i == 0)
                    buf_add(&obuf, &olen, &ocap, buf, (size_t)n);
                else
                    buf_add(&ebuf, &elen, &ecap, buf, (size_t)n);
            } else if (n == 0 || errno != EINTR) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    c->status = wait_child(pid, open_fds > 0 ? 0 : CMD_TIMEOUT_MS);
    c->out = ts_keep(obuf ? obuf : strdup(""));
    c->err = ts_keep(ebuf ? ebuf : strdup(""));
    return c;
}

int ts_sa_create(const char *data, const char *name, const char *const *roles,
                 const char *const *env, struct ts_account *out)
{
    const char *args[64] = {"service-account", "create", "--data", data, "--name", name};
    size_t n = 6;
    for (size_t i = 0; roles && roles[i] && n + 3 < 64; i++) {
        args[n++] = "--role";
        args[n++] = roles[i];
    }
    args[n] = NULL;
    struct ts_cmd *c = ts_run(args, env);
    if (c->status != 0) {
        fprintf(stderr, "  service-account create exited %d: %s", c->status, c->err);
        return c->status;
    }
    json_t *j = ts_keep_json(json_loads(c->out, 0, NULL));
    const char *id = ts_jstr(j, "client_id"), *secret = ts_jstr(j, "client_secret");
    if (!id || !secret || strlen(id) >= sizeof out->id || strlen(secret) >= sizeof out->secret) {
        fprintf(stderr, "  service-account create printed %s\n", c->out);
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->secret, sizeof out->secret, "%s", secret);
    return 0;
}

int ts_app_create(const char *data, const char *name, const char *const *grants, const char *type,
                  struct ts_account *out)
{
    const char *args[64] = {"application", "create", "--data", data, "--name", name};
    size_t n = 6;
    for (size_t i = 0; grants && grants[i] && n + 5 < 64; i++) {
        args[n++] = "--grant";
        args[n++] = grants[i];
    }
    if (type) {
        args[n++] = "--type";
        args[n++] = type;
    }
    args[n] = NULL;
    struct ts_cmd *c = ts_run(args, NULL);
    if (c->status != 0) {
        fprintf(stderr, "  application create exited %d: %s", c->status, c->err);
        return c->status;
    }
    json_t *j = ts_keep_json(json_loads(c->out, 0, NULL));
    const char *id = ts_jstr(j, "client_id"), *secret = ts_jstr(j, "client_secret");
    if (!id || strlen(id) >= sizeof out->id || (secret && strlen(secret) >= sizeof out->secret)) {
        fprintf(stderr, "  application create printed %s\n", c->out);
        return -1;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->secret, sizeof out->secret, "%s", secret ? secret : "");
    return 0;
}

int ts_app_create_with(const char *data, const char *const *more, struct ts_account *out)
{
    const char *argv[64] = {"application", "create", "--data", data};
    size_t n = 4;
    for (size_t i = 0; more[i] && n + 1 < 64; i++)
        argv[n++] = more[i];
    argv[n] = NULL;
    struct ts_cmd *c = ts_run(argv, NULL);
    const char *id = ts_jstr(ts_keep_json(json_loads(c->out, 0, NULL)), "client_id");
    if (c->status != 0 || !id || strlen(id) >= sizeof out->id) {
        fprintf(stderr, "  application create exited %d: %s", c->status, c->err);
        return 0;
    }
    snprintf(out->id, sizeof out->id, "%s", id);
    out->secret[0] = '\0';
    return 1;
}

/* ---- HTTP ---- */

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    struct ts_resp *r = ud;
    buf_add(&r->body, &r->len, &r->bcap, p, size * n);
    return size * n;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    struct ts_resp *r = ud;
    size_t hlen = r->headers ? strlen(r->headers) : 0;
    if (size * n >= 5 && strncmp(p, "HTTP/", 5) == 0)
        hlen = 0; /* a new response (after 100 Continue): keep only the last one's headers */
    buf_add(&r->headers, &hlen, &r->hcap, p, size * n);
    return size * n;
}

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    struct ts_resp *r = ud;
    size_t left = r->upload_len - r->upload_pos, chunk = size * n;
    if (chunk > 16384)
        chunk = 16384; /* several chunks */
    if (chunk > left)
        chunk = left;
    memcpy(p, r->upload + r->upload_pos, chunk);
    r->upload_pos += chunk;
    return chunk;
}

static void resp_free(void *arg)
{
    struct ts_resp *r = arg;
    curl_slist_free_all(r->slist);
    json_decref(r->json);
    free(r->headers);
    free(r->body);
    free(r);
}

CURL *ts_easy(struct ts_server *s, const struct ts_req *rq, struct ts_resp **out)
{
    struct ts_resp *r = calloc(1, sizeof *r);
    CURL *e = curl_easy_init();
    if (!r || !e)
        die("curl_easy_init");
    th_defer(resp_free, r);
    const char *method = rq->method ? rq->method : rq->body ? "POST" : "GET";
    size_t blen = rq->body ? (rq->body_len ? rq->body_len : strlen(rq->body)) : 0;
    curl_easy_setopt(e, CURLOPT_URL, ts_printf("%s%s", s->url, rq->path));
    curl_easy_setopt(e, CURLOPT_PROXY, "");
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
    for (size_t i = 0; rq->headers && rq->headers[i]; i++)
        r->slist = curl_slist_append(r->slist, rq->headers[i]);
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        if (rq->chunked) {
            r->upload = rq->body ? rq->body : "";
            r->upload_len = blen;
            curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
            curl_easy_setopt(e, CURLOPT_READDATA, r);
            r->slist = curl_slist_append(r->slist, "Transfer-Encoding: chunked");
        } else {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? rq->body : "");
        }
    } else if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L); /* a HEAD answer has headers only */
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
        if (rq->body) {
            curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)blen);
            curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body);
        }
    }
    if (rq->content_type && !rq->content_type[0])
        r->slist = curl_slist_append(r->slist, "Content-Type:");
    else if (rq->content_type)
        r->slist = curl_slist_append(r->slist, ts_printf("Content-Type: %s", rq->content_type));
    else if (rq->body)
        r->slist = curl_slist_append(r->slist, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->slist);
    *out = r;
    return e;
}

void ts_easy_done(CURL *e, struct ts_resp *r, CURLcode result)
{
    r->curl = result;
    curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &r->status);
    if (result != CURLE_OK)
        r->status = 0;
    if (!r->body)
        buf_add(&r->body, &r->len, &r->bcap, "", 0);
    if (r->len)
        r->json = json_loadb(r->body, r->len, 0, NULL);
    curl_easy_cleanup(e);
}

void ts_multi_run(CURL **easies, struct ts_resp **resps, size_t n, size_t *order)
{
    CURLM *m = curl_multi_init();
    CURLcode *res = ts_keep(calloc(n ? n : 1, sizeof *res));
    size_t done = 0;
    int running = 0;
    if (!m)
        die("curl_multi_init");
    for (size_t i = 0; i < n; i++) {
        res[i] = CURLE_GOT_NOTHING;
        curl_easy_setopt(easies[i], CURLOPT_PRIVATE, (void *)(uintptr_t)i);
        curl_multi_add_handle(m, easies[i]);
    }
    do {
        CURLMsg *msg;
        int left;
        curl_multi_perform(m, &running);
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE)
                continue;
            void *priv = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
            size_t i = (size_t)(uintptr_t)priv;
            res[i] = msg->data.result;
            if (order && done < n)
                order[done] = i;
            done++;
        }
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    } while (running);
    for (size_t i = 0; i < n; i++) {
        curl_multi_remove_handle(m, easies[i]);
        ts_easy_done(easies[i], resps[i], res[i]);
    }
    curl_multi_cleanup(m);
}

struct ts_resp *ts_do(struct ts_server *s, const struct ts_req *rq)
{
    struct ts_resp *r = NULL;
    CURL *e = ts_easy(s, rq, &r);
    ts_easy_done(e, r, curl_easy_perform(e));
    return r;
}

struct ts_browser {
    CURLSH *share;
};

static void browser_free(void *p)
{
    struct ts_browser *b = p;
    curl_share_cleanup(b->share);
    free(b);
}

struct ts_browser *ts_browser_new(void)
{
    struct ts_browser *b = calloc(1, sizeof *b);
    if (!b || !(b->share = curl_share_init()))
        die("curl_share_init");
    curl_share_setopt(b->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_COOKIE);
    th_defer(browser_free, b);
    return b;
}

struct ts_resp *ts_browser_do(struct ts_server *s, struct ts_browser *b, const struct ts_req *rq)
{
    struct ts_resp *r = NULL;
    CURL *e = ts_easy(s, rq, &r);
    curl_easy_setopt(e, CURLOPT_SHARE, b->share);
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, ""); /* the cookie engine, nothing read from disk */
    ts_easy_done(e, r, curl_easy_perform(e));
    return r;
}

const char *ts_browser_cookie(struct ts_browser *b, const char *name)
{
    CURL *e = curl_easy_init();
    struct curl_slist *list = NULL, *it;
    const char *found = NULL;
    if (!e)
        die("curl_easy_init");
    curl_easy_setopt(e, CURLOPT_SHARE, b->share);
    curl_easy_setopt(e, CURLOPT_COOKIEFILE, "");
    curl_easy_getinfo(e, CURLINFO_COOKIELIST, &list);
    /* Netscape format: domain, flag, path, secure, expiry, name, value; tab-separated */
    for (it = list; it && !found; it = it->next) {
        const char *f = it->data;
        for (int i = 0; i < 5 && f; i++)
            f = strchr(f, '\t') ? strchr(f, '\t') + 1 : NULL;
        size_t n = strlen(name);
        if (f && strncmp(f, name, n) == 0 && f[n] == '\t' && f[n + 1])
            found = ts_printf("%s", f + n + 1);
    }
    curl_slist_free_all(list);
    curl_easy_cleanup(e);
    return found;
}

const char *ts_html_field(const char *html, const char *name)
{
    const char *p = strstr(html, ts_printf("name=\"%s\"", name));
    const char *v = p ? strstr(p, "value=\"") : NULL;
    const char *end = v ? strchr(v + 7, '"') : NULL;
    const char *tag_end = p ? strchr(p, '>') : NULL;
    if (!end || !tag_end || v > tag_end)
        return NULL;
    char *out = ts_keep(calloc(1, (size_t)(end - v)));
    size_t o = 0;
    static const char *const ents[][2] = {
        {"&amp;", "&"}, {"&lt;", "<"}, {"&gt;", ">"}, {"&quot;", "\""}, {"&#39;", "'"}};
    for (const char *q = v + 7; q < end;) {
        size_t k = 0;
        for (; k < sizeof ents / sizeof ents[0]; k++)
            if (strncmp(q, ents[k][0], strlen(ents[k][0])) == 0)
                break;
        if (k < sizeof ents / sizeof ents[0]) {
            out[o++] = ents[k][1][0];
            q += strlen(ents[k][0]);
        } else {
            out[o++] = *q++;
        }
    }
    return out;
}

const char *ts_url_param(const char *url, const char *name)
{
    const char *q = strchr(url, '?');
    size_t n = strlen(name);
    for (const char *p = q; p && *p;) {
        p++;
        if (strncmp(p, name, n) == 0 && p[n] == '=') {
            const char *v = p + n + 1;
            size_t len = strcspn(v, "&#");
            int outlen = 0;
            CURL *e = curl_easy_init();
            char *dec = e ? curl_easy_unescape(e, v, (int)len, &outlen) : NULL;
            const char *out = dec ? ts_printf("%s", dec) : NULL;
            curl_free(dec);
            curl_easy_cleanup(e);
            return out;
        }
        p = strchr(p, '&');
    }
    return NULL;
}

struct ts_resp *ts_get(struct ts_server *s, const char *path)
{
    struct ts_req rq = {.path = path};
    return ts_do(s, &rq);
}

struct ts_resp *ts_post(struct ts_server *s, const char *path, const char *const *headers,
                        const char *form)
{
    struct ts_req rq = {.method = "POST", .path = path, .headers = headers, .body = form};
    return ts_do(s, &rq);
}

const char *ts_header(const struct ts_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    for (const char *p = r->headers; p && *p;) {
        const char *eol = strstr(p, "\r\n");
        size_t llen = eol ? (size_t)(eol - p) : strlen(p);
        if (llen > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
            const char *v = p + nlen + 1;
            while (*v == ' ' || *v == '\t')
                v++;
            size_t vlen = llen - (size_t)(v - p);
            while (vlen && (v[vlen - 1] == ' ' || v[vlen - 1] == '\t'))
                vlen--;
            return ts_printf("%.*s", (int)vlen, v);
        }
        p += llen + (eol ? 2 : 0);
    }
    return NULL;
}

const char *ts_basic_header(const char *pair)
{
    size_t len = strlen(pair);
    char *b64 = ts_keep(malloc(4 * ((len + 2) / 3) + 1));
    EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)pair, (int)len);
    return ts_printf("Authorization: Basic %s", b64);
}

const char *ts_basic(const struct ts_account *a)
{
    return ts_basic_header(ts_printf("%s:%s", a->id, a->secret));
}

struct ts_resp *ts_token(struct ts_server *s, const struct ts_account *a, const char *extra)
{
    const char *h[] = {ts_basic(a), NULL};
    return ts_post(
        s, "/oauth/token", h,
        ts_printf("grant_type=client_credentials%s%s", extra ? "&" : "", extra ? extra : ""));
}

const char *ts_token_str(struct ts_server *s, const struct ts_account *a)
{
    struct ts_resp *r = ts_token(s, a, NULL);
    if (r->status != 200) {
        fprintf(stderr, "  token request: %ld %s\n", r->status, r->body);
        return NULL;
    }
    return ts_jstr(r->json, "access_token");
}

/* token is form-encoded: tokens are base64url and dots, but forged ones may hold anything. */
const char *ts_form_escape(const char *s)
{
    CURL *e = curl_easy_init();
    char *esc = curl_easy_escape(e, s, (int)strlen(s));
    char *copy = ts_keep(strdup(esc ? esc : ""));
    curl_free(esc);
    curl_easy_cleanup(e);
    return copy;
}

struct ts_resp *ts_introspect(struct ts_server *s, const struct ts_account *caller,
                              const char *token)
{
    const char *h[] = {ts_basic(caller), NULL};
    return ts_post(s, "/oauth/introspect", h, ts_printf("token=%s", ts_form_escape(token)));
}

struct ts_resp *ts_revoke(struct ts_server *s, const struct ts_account *caller, const char *token)
{
    const char *h[] = {ts_basic(caller), NULL};
    return ts_post(s, "/oauth/revoke", h, ts_printf("token=%s", ts_form_escape(token)));
}

/* ---- users ---- */

struct ts_resp *ts_bearer(struct ts_server *s, const char *method, const char *path,
                          const char *bearer, const char *json)
{
    const char *h[] = {bearer ? ts_printf("Authorization: Bearer %s", bearer) : NULL, NULL};
    struct ts_req rq = {.method = method,
                        .path = path,
                        .headers = h,
                        .body = json,
                        .content_type = json ? "application/json" : NULL};
    return ts_do(s, &rq);
}

struct ts_resp *ts_register(struct ts_server *s, const char *client_id, const char *email,
                            const char *password)
{
    json_t *j = ts_keep_json(
        json_pack("{s:s, s:s, s:s}", "client_id", client_id, "email", email, "password", password));
    char *body = j ? ts_keep(json_dumps(j, JSON_COMPACT)) : NULL;
    return ts_bearer(s, "POST", "/v1/register", NULL, body);
}

struct ts_resp *ts_login(struct ts_server *s, const char *client_id, const char *email,
                         const char *password, const char *extra)
{
    return ts_post(s, "/oauth/token", NULL,
                   ts_printf("grant_type=password&client_id=%s&username=%s&password=%s%s%s",
                             ts_form_escape(client_id), ts_form_escape(email),
                             ts_form_escape(password), extra ? "&" : "", extra ? extra : ""));
}

struct ts_resp *ts_refresh(struct ts_server *s, const char *client_id, const char *refresh_token,
                           const char *extra)
{
    return ts_post(s, "/oauth/token", NULL,
                   ts_printf("grant_type=refresh_token&client_id=%s&refresh_token=%s%s%s",
                             ts_form_escape(client_id), ts_form_escape(refresh_token),
                             extra ? "&" : "", extra ? extra : ""));
}

struct ts_resp *ts_anonymous(struct ts_server *s, const char *client_id)
{
    return ts_post(s, "/oauth/token", NULL,
                   ts_printf("grant_type=urn%%3Aidpd%%3Agrant-type%%3Aanonymous&client_id=%s",
                             ts_form_escape(client_id)));
}

struct ts_resp *ts_revoke_public(struct ts_server *s, const char *client_id, const char *token)
{
    return ts_post(
        s, "/oauth/revoke", NULL,
        ts_printf("client_id=%s&token=%s", ts_form_escape(client_id), ts_form_escape(token)));
}

/* ---- JSON ---- */

const char *ts_jstr(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

long long ts_jint(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long long)json_integer_value(v) : LLONG_MIN;
}

int ts_jarray_has(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (json_is_string(v) && strcmp(json_string_value(v), s) == 0)
            return 1;
    }
    return 0;
}

const char *ts_jarray_join(json_t *arr)
{
    size_t i, len = 0, cap = 0;
    json_t *v;
    char *out = NULL;
    if (!json_is_array(arr))
        return NULL;
    buf_add(&out, &len, &cap, "", 0);
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            free(out);
            return NULL;
        }
        if (i)
            buf_add(&out, &len, &cap, ",", 1);
        buf_add(&out, &len, &cap, json_string_value(v), strlen(json_string_value(v)));
    }
    return ts_keep(out);
}

/* ---- JWT ---- */

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *ts_b64url_encode(const void *in, size_t len)
{
    const unsigned char *p = in;
    char *out = ts_keep(malloc(len / 3 * 4 + 5));
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
        out[o++] = b64url_alphabet[v & 63];
    }
    if (len - i == 1) {
        unsigned v = (unsigned)p[i] << 16;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
    } else if (len - i == 2) {
        unsigned v = (unsigned)p[i] << 16 | (unsigned)p[i + 1] << 8;
        out[o++] = b64url_alphabet[v >> 18 & 63];
        out[o++] = b64url_alphabet[v >> 12 & 63];
        out[o++] = b64url_alphabet[v >> 6 & 63];
    }
    out[o] = '\0';
    return out;
}

char *ts_b64url_decode(const char *s, size_t len, size_t *outlen)
{
    if (len % 4 == 1)
        return NULL;
    unsigned char *out = malloc(len / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    if (!out)
        die("malloc");
    for (size_t i = 0; i < len; i++) {
        const char *c = s[i] ? strchr(b64url_alphabet, s[i]) : NULL;
        if (!c) {
            free(out);
            return NULL;
        }
        acc = acc << 6 | (unsigned)(c - b64url_alphabet);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return ts_keep(out);
}

int ts_jwt_decode(const char *token, json_t **header, json_t **payload)
{
    const char *d1 = token ? strchr(token, '.') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    size_t hl = 0, pl = 0;
    if (!d2 || strchr(d2 + 1, '.'))
        return -1;
    char *h = ts_b64url_decode(token, (size_t)(d1 - token), &hl);
    char *p = ts_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &pl);
    if (!h || !p)
        return -1;
    *header = ts_keep_json(json_loadb(h, hl, JSON_REJECT_DUPLICATES, NULL));
    *payload = ts_keep_json(json_loadb(p, pl, JSON_REJECT_DUPLICATES, NULL));
    return json_is_object(*header) && json_is_object(*payload) ? 0 : -1;
}

json_t *ts_jwks_key(json_t *jwks, const char *kid)
{
    size_t i;
    json_t *k;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *v = ts_jstr(k, "kid");
        if (v && kid && strcmp(v, kid) == 0)
            return k;
    }
    return NULL;
}

/* An EC P-256 public key from the JWK's x and y. */
static EVP_PKEY *ec_public_key(json_t *jwk)
{
    const char *x = ts_jstr(jwk, "x"), *y = ts_jstr(jwk, "y");
    size_t xl = 0, yl = 0;
    char *xb = x ? ts_b64url_decode(x, strlen(x), &xl) : NULL;
    char *yb = y ? ts_b64url_decode(y, strlen(y), &yl) : NULL;
    unsigned char point[65];
    EVP_PKEY *pkey = NULL;
    if (!xb || !yb || xl != 32 || yl != 32)
        return NULL;
    point[0] = 0x04;
    memcpy(point + 1, xb, 32);
    memcpy(point + 33, yb, 32);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
    if (bld && ctx &&
        OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) &&
        OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, point, sizeof point) &&
        (params = OSSL_PARAM_BLD_to_param(bld)) && EVP_PKEY_fromdata_init(ctx) == 1)
        EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    EVP_PKEY_CTX_free(ctx);
    return pkey;
}

int ts_es256_verify(const char *token, json_t *jwk)
{
    const char *d1 = token ? strchr(token, '.') : NULL;
    const char *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    size_t sl = 0;
    int ok = 0;
    char *sig = d2 ? ts_b64url_decode(d2 + 1, strlen(d2 + 1), &sl) : NULL;
    EVP_PKEY *pkey = ec_public_key(jwk);
    ECDSA_SIG *es = ECDSA_SIG_new();
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char *der = NULL;
    if (sig && sl == 64 && pkey && es && md) {
        BIGNUM *r = BN_bin2bn((unsigned char *)sig, 32, NULL);
        BIGNUM *s = BN_bin2bn((unsigned char *)sig + 32, 32, NULL);
        if (r && s && ECDSA_SIG_set0(es, r, s) == 1) {
            int dl = i2d_ECDSA_SIG(es, &der);
            ok = dl > 0 && EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
                 EVP_DigestVerify(md, der, (size_t)dl, (const unsigned char *)token,
                                  (size_t)(d2 - token)) == 1;
        } else {
            BN_free(r);
            BN_free(s);
        }
    }
    OPENSSL_free(der);
    EVP_MD_CTX_free(md);
    ECDSA_SIG_free(es);
    EVP_PKEY_free(pkey);
    return ok;
}

const char *ts_jwk_thumbprint(json_t *jwk)
{
    const char *canon =
        ts_printf("{\"crv\":\"%s\",\"kty\":\"%s\",\"x\":\"%s\",\"y\":\"%s\"}", ts_jstr(jwk, "crv"),
                  ts_jstr(jwk, "kty"), ts_jstr(jwk, "x"), ts_jstr(jwk, "y"));
    unsigned char d[32];
    unsigned dl = 0;
    if (EVP_Digest(canon, strlen(canon), d, &dl, EVP_sha256(), NULL) != 1 || dl != 32)
        return NULL;
    return ts_b64url_encode(d, 32);
}

static const char *signing_input(const char *header, const char *payload)
{
    return ts_printf("%s.%s", ts_b64url_encode(header, strlen(header)),
                     ts_b64url_encode(payload, strlen(payload)));
}

const char *ts_jws_unsigned(const char *header, const char *payload)
{
    return ts_printf("%s.", signing_input(header, payload));
}

const char *ts_jws_hs256(const char *header, const char *payload, const void *key, size_t keylen)
{
    const char *in = signing_input(header, payload);
    unsigned char mac[64];
    size_t ml = 0;
    if (!EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, keylen, (const unsigned char *)in,
                   strlen(in), mac, sizeof mac, &ml))
        return NULL;
    return ts_printf("%s.%s", in, ts_b64url_encode(mac, ml));
}

const char *ts_jws_es256_foreign(const char *header, const char *payload)
{
    const char *in = signing_input(header, payload), *out = NULL;
    EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char der[128], raw[64];
    size_t dl = sizeof der;
    ECDSA_SIG *es = NULL;
    const BIGNUM *r, *s;
    if (pkey && md && EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, pkey) == 1 &&
        EVP_DigestSign(md, der, &dl, (const unsigned char *)in, strlen(in)) == 1) {
        const unsigned char *p = der;
        es = d2i_ECDSA_SIG(NULL, &p, (long)dl);
        if (es) {
            ECDSA_SIG_get0(es, &r, &s);
            if (BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32)
                out = ts_printf("%s.%s", in, ts_b64url_encode(raw, 64));
        }
    }
    ECDSA_SIG_free(es);
    EVP_MD_CTX_free(md);
    EVP_PKEY_free(pkey);
    return out;
}

/* ---- libidp on a data folder ---- */

struct opened {
    struct store *st;
    struct keys *kr;
};

static void opened_close(void *arg)
{
    struct opened *o = arg;
    keys_close(o->kr);
    store_close(o->st);
    free(o);
}

struct keys *ts_keys_open(const char *data)
{
    uint8_t master[KEYS_MASTER_LEN];
    struct keys_options ko = {.alg = "ES256", .token_ttl = 3600};
    struct opened *o = calloc(1, sizeof *o);
    int rc;
    if (!o)
        die("calloc");
    if (mkdir(data, 0700) != 0 && errno != EEXIST)
        die("mkdir");
    if ((rc = store_open(th_store_for(data), NULL, &o->st)) != STORE_OK) {
        fprintf(stderr, "  store_open(%s): %s\n", data, store_strerror(rc));
        free(o);
        return NULL;
    }
    if ((rc = keys_master_load(data, NULL, master)) != KEYS_OK ||
        (rc = keys_open(o->st, master, &ko, &o->kr)) != KEYS_OK) {
        fprintf(stderr, "  keys on %s: %s\n", data, keys_strerror(rc));
        store_close(o->st);
        free(o);
        return NULL;
    }
    th_defer(opened_close, o);
    return o->kr;
}

const char *ts_keys_sign(struct keys *kr, const char *typ, const char *claims)
{
    char *tok = NULL;
    int rc = keys_jwt_sign(kr, typ, claims, strlen(claims), &tok);
    if (rc != KEYS_OK) {
        fprintf(stderr, "  keys_jwt_sign: %s\n", keys_strerror(rc));
        return NULL;
    }
    return ts_keep(tok);
}

static int delete_txn(struct store_txn *txn, void *arg)
{
    return store_sa_delete(txn, arg);
}

int ts_store_sa_delete(const char *data, const char *id)
{
    struct store *st = NULL;
    int rc = store_open(th_store_for(data), NULL, &st);
    if (rc == STORE_OK)
        rc = store_write(st, delete_txn, (void *)id);
    if (st)
        store_close(st);
    return rc;
}

struct phc_read {
    const char *email;
    struct store_identity idn;
};

static int phc_txn(struct store_txn *txn, void *arg)
{
    struct phc_read *r = arg;
    return store_identity_find(txn, "local-userpass", r->email, &r->idn);
}

const char *ts_store_password_phc(const char *data, const char *email)
{
    struct store *st = NULL;
    struct phc_read r = {.email = email};
    int rc = store_open(th_store_for(data), NULL, &st);
    if (rc == STORE_OK)
        rc = store_read(st, phc_txn, &r);
    if (st)
        store_close(st);
    return rc == STORE_OK ? ts_printf("%s", r.idn.phc) : NULL;
}

long ts_status_from(struct ts_server *s, const char *from, const char *method, const char *path,
                    const char *header, const char *body)
{
    const char *headers[] = {header, NULL};
    struct ts_req rq = {
        .method = method, .path = path, .headers = header ? headers : NULL, .body = body};
    struct ts_resp *r;
    CURL *e = ts_easy(s, &rq, &r);
    curl_easy_setopt(e, CURLOPT_INTERFACE, from);
    ts_easy_done(e, r, curl_easy_perform(e));
    return r->status;
}
