/* One JSON object per line on stderr. Lines are written with a single fputs on a locked stream,
 * so lines from different threads never interleave. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server/core/core.h"

enum srv_log_level srv_log_min = SRV_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error", "notice"};

int srv_log_set_level(const char *name)
{
    for (int i = 0; i < 4; i++) {
        if (strcmp(name, level_names[i]) == 0) {
            srv_log_min = (enum srv_log_level)i;
            return SRV_OK;
        }
    }
    return SRV_EUSAGE;
}

void srv_log_json(enum srv_log_level lvl, const char *module, const char *msg, json_t *fields)
{
    if (lvl < srv_log_min)
        return;
    struct timespec ts;
    struct tm tm;
    char when[40];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    size_t n = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + n, sizeof when - n, ".%03ldZ", ts.tv_nsec / 1000000);
    json_t *line = json_pack("{s:s, s:s, s:s, s:s}", "ts", when, "level", level_names[lvl],
                             "module", module, "msg", msg);
    if (!line)
        return;
    if (fields)
        json_object_update(line, fields);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(9));
    json_decref(line);
    if (!text)
        return;
    flockfile(stderr);
    fputs(text, stderr);
    fputc('\n', stderr);
    funlockfile(stderr);
    free(text);
}

void srv_log_fmt(enum srv_log_level lvl, const char *module, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_log_json(lvl, module, msg, NULL);
}

void srv_log_store(const char *module, int rc, const char *fmt, ...)
{
    enum srv_log_level lvl = rc == STORE_EUNAVAILABLE ? SRV_LOG_DEBUG : SRV_LOG_ERROR;
    char msg[1024];
    va_list ap;
    if (lvl < srv_log_min)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    srv_log_fmt(lvl, module, "%s: %s", msg, store_strerror(rc));
}
