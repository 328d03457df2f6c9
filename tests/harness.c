#include "harness.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

int th_failed_cases, th_passed_cases, th_case_failed;
const char *th_only;
static char tmpdir[256];

struct deferred {
    void (*fn)(void *arg);
    void *arg;
};
static struct deferred *deferred;
static size_t ndeferred, deferred_cap;

void th_init(int argc, char **argv)
{
    th_only = argc > 1 ? argv[1] : NULL;
    setvbuf(stdout, NULL, _IOLBF, 0);
}

int th_done(void)
{
    printf("%d passed, %d failed\n", th_passed_cases, th_failed_cases);
    if (th_only && th_passed_cases + th_failed_cases == 0) {
        fprintf(stderr, "no case named %s\n", th_only);
        return 1;
    }
    return th_failed_cases ? 1 : 0;
}

const char *th_tmpdir(void)
{
    if (tmpdir[0])
        return tmpdir;
    const char *base = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/idpd-test-XXXXXX", base && *base ? base : "/tmp");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        abort();
    }
    return tmpdir;
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

void th_case_setup(void)
{
    tmpdir[0] = '\0';
}

void th_defer(void (*fn)(void *arg), void *arg)
{
    if (ndeferred == deferred_cap) {
        size_t cap = deferred_cap ? deferred_cap * 2 : 64;
        struct deferred *d = realloc(deferred, cap * sizeof *d);
        if (!d) {
            perror("th_defer");
            abort();
        }
        deferred = d;
        deferred_cap = cap;
    }
    deferred[ndeferred++] = (struct deferred){fn, arg};
}

void th_case_teardown(void)
{
    while (ndeferred > 0) {
        struct deferred d = deferred[--ndeferred];
        d.fn(d.arg);
    }
    free(deferred);
    deferred = NULL;
    deferred_cap = 0;
    if (tmpdir[0])
        nftw(tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    tmpdir[0] = '\0';
}
