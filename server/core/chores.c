/* Background chores: one log line when a chore starts failing and one when it works again, so a
 * database outage of an hour is two lines per chore, not thousands. */
#include "server/core/core.h"

int srv_chore_done(struct srv_chore *c, int ok, const char *why)
{
    if (ok) {
        if (c->failures)
            srv_log_fmt(SRV_LOG_INFO, c->module, "%s works again after %llu failed run(s)", c->name,
                        (unsigned long long)c->failures);
        c->failures = 0;
        return ok;
    }
    if (c->failures++ == 0)
        srv_log_fmt(SRV_LOG_WARN, c->module, "%s failed: %s; it runs again at its next turn",
                    c->name, why ? why : "unknown error");
    return ok;
}
