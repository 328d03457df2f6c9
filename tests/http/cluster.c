/* Runs tests/postgres/cluster for a case's own cluster (cluster.h). The script's path comes from
 * the build (IDPD_SOURCE_DIR); its stderr goes to the test's, its stdout (the URI) is read. */
#include "cluster.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "support.h"

#ifndef IDPD_SOURCE_DIR
#error "IDPD_SOURCE_DIR must name the source tree (tests/http/CMakeLists.txt)"
#endif
#define SCRIPT IDPD_SOURCE_DIR "/tests/postgres/cluster"

/* Runs `cluster cmd dir`; its first line of output goes into out (may be NULL). Returns its exit
 * status, or -1 when it could not be run. */
static int run(const char *cmd, const char *dir, char *out, size_t cap)
{
    int fds[2], wstatus = 0;
    size_t len = 0;
    /* close-on-exec: only the script's stdout may hold the pipe, or the server it starts in the
     * background would keep it open and the read below would never end */
    if (pipe2(fds, O_CLOEXEC) != 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        char *const argv[] = {(char *)SCRIPT, (char *)cmd, (char *)dir, NULL};
        if (dup2(fds[1], 1) < 0)
            _exit(126);
        execv(SCRIPT, argv);
        _exit(127);
    }
    close(fds[1]);
    for (;;) {
        char buf[512];
        ssize_t n = read(fds[0], buf, sizeof buf);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        for (ssize_t i = 0; out && i < n && len + 1 < cap; i++)
            out[len++] = buf[i];
    }
    close(fds[0]);
    while (waitpid(pid, &wstatus, 0) < 0)
        if (errno != EINTR)
            return -1;
    if (out && cap) {
        out[len] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1;
}

static int run_or_say(const char *cmd, struct ts_cluster *c)
{
    int st = run(cmd, c->dir, NULL, 0);
    if (st != 0)
        fprintf(stderr, "  %s %s %s exited %d\n", SCRIPT, cmd, c->dir, st);
    return st;
}

static void cluster_stop(void *arg)
{
    struct ts_cluster *c = arg;
    if (run("stop", c->dir, NULL, 0) != 0) {
        fprintf(stderr, "  %s stop %s failed\n", SCRIPT, c->dir);
        th_case_failed = 1;
    }
}

struct ts_cluster *ts_cluster_start(const char *name)
{
    struct ts_cluster *c = ts_keep(calloc(1, sizeof *c));
    if (!c)
        return NULL;
    snprintf(c->dir, sizeof c->dir, "%s", ts_path(name));
    /* As root the cluster runs as nobody (PostgreSQL refuses root), which must be able to pass
     * through the case's folder to its own; it still cannot list or read the others. */
    if (geteuid() == 0 && chmod(th_tmpdir(), 0711) != 0) {
        perror("  chmod");
        return NULL;
    }
    int st = run("start", c->dir, c->uri, sizeof c->uri);
    /* the script removes nothing it did not finish: stop cleans up either way */
    th_defer(cluster_stop, c);
    if (st != 0 || strncmp(c->uri, "postgresql://", 13) != 0) {
        fprintf(stderr, "  %s start %s exited %d, printed \"%s\"\n", SCRIPT, c->dir, st, c->uri);
        return NULL;
    }
    return c;
}

int ts_cluster_down(struct ts_cluster *c)
{
    return run_or_say("down", c);
}

int ts_cluster_up(struct ts_cluster *c)
{
    char uri[sizeof c->uri];
    int st = run("up", c->dir, uri, sizeof uri);
    if (st != 0 || strcmp(uri, c->uri) != 0) {
        fprintf(stderr, "  %s up %s exited %d, printed \"%s\"\n", SCRIPT, c->dir, st, uri);
        return st ? st : -1;
    }
    return 0;
}

int ts_cluster_freeze(struct ts_cluster *c)
{
    return run_or_say("freeze", c);
}

int ts_cluster_thaw(struct ts_cluster *c)
{
    return run_or_say("thaw", c);
}
