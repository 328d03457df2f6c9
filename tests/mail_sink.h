/* A real SMTP server for the tests: Debian's aiosmtpd (python3-aiosmtpd, installed by
 * scripts/setup) run as a sink that writes every message it accepts into a maildir. Started by
 * PID and stopped by it when the case ends (th_defer). Loopback only. */
#ifndef IDPD_TESTS_MAIL_SINK_H
#define IDPD_TESTS_MAIL_SINK_H

#include <stddef.h>
#include <sys/types.h>

struct th_sink {
    pid_t pid;      /* 0 while stopped */
    unsigned port;  /* 127.0.0.1:port */
    char dir[1024]; /* the maildir; messages land in dir/new */
    char url[64];   /* smtp://127.0.0.1:port */
};

/* A free loopback TCP port (bound, read and closed: whoever binds it next gets it). 0 on failure.
 */
unsigned th_free_port(void);
/* Starts a sink on port (0: a free one) into a fresh maildir under th_tmpdir(). NULL when it did
 * not listen within 10 s. Stopped when the case ends. */
struct th_sink *th_sink_start(unsigned port);
/* Starts s again on its port and maildir (after th_sink_stop). 0 when it listens. */
int th_sink_restart(struct th_sink *s);
/* Stops s (SIGTERM, waited for). */
void th_sink_stop(struct th_sink *s);
/* How many messages s holds for to (NULL: any), at most 10 s waited for want of them (0: no
 * wait). *last (may be NULL) receives the newest such message, malloc'd (free()). */
int th_sink_count(struct th_sink *s, const char *to, int want, int timeout_ms, char **last);
/* The first URL in message's text part that starts with prefix (e.g. "http://127.0.0.1:8080/
 * reset-password?token="), quoted-printable decoded; malloc'd, NULL when there is none. */
char *th_mail_link(const char *message, const char *prefix);
/* The value of header name in message (unfolded, RFC 2047 left as is); malloc'd or NULL. */
char *th_mail_header(const char *message, const char *name);

#endif
