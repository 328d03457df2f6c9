/* Every setting in one declarative table: name, type, default, bounds, environment variable and
 * (for some) a command-line flag. Precedence, lowest first: default, --config FILE (a JSON object
 * keyed by setting name), IDPD_* environment variables, command-line flags. Validated once; no
 * other file calls getenv(). */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/core.h"

/* K_INT_OFF: an integer that is 0 (off) or from min to max. */
enum kind { K_STR, K_INT, K_INT_OFF, K_BOOL, K_LISTEN, K_ALG, K_LEVEL };

struct setting {
    const char *name; /* also the config-file key; the flag is --name with '-' for '_' */
    enum kind kind;
    size_t offset; /* into struct srv_config */
    size_t size;   /* K_STR: buffer size; K_INT: sizeof the integer */
    long long min, max;
    const char *def;
    int scope; /* SRV_CFG_* where it is a flag; 0 = file and environment only */
    const char *help;
};

#define OFF(f) offsetof(struct srv_config, f), sizeof(((struct srv_config *)0)->f)

static const struct setting settings[] = {
    {"listen", K_LISTEN, 0, 0, 0, 0, "127.0.0.1:8080", SRV_CFG_SERVE, "HOST:PORT to listen on"},
    {"data", K_STR, OFF(data_dir), 0, 0, "./data", SRV_CFG_SERVE | SRV_CFG_DATA,
     "data folder (created when its parent exists)"},
    {"store", K_STR, OFF(store), 0, 0, "", SRV_CFG_SERVE | SRV_CFG_DATA,
     "where the records live: empty = LMDB in the data folder; postgres://… or postgresql://… "
     "= PostgreSQL, a libpq URI (keep its password in PGPASSFILE: a flag shows in ps)"},
    {"store_timeout_ms", K_INT, OFF(store_timeout_ms), 100, 600000, "5000", 0,
     "milliseconds a request waits for PostgreSQL before it answers 503"},
    {"store_connections", K_INT_OFF, OFF(store_connections), 1, 1024, "0", 0,
     "PostgreSQL connections of this node (0 = http_threads + workers + 4)"},
    {"issuer", K_STR, OFF(issuer), 0, 0, "", SRV_CFG_SERVE, "issuer URL"},
    {"audience", K_STR, OFF(audience), 0, 0, "", 0,
     "comma-separated audiences a token may name; the first is the default"},
    {"signing_alg", K_ALG, OFF(signing_alg), 0, 0, "ES256", SRV_CFG_DATA | SRV_CFG_SERVE,
     "alg of new signing keys: ES256, RS256 or EdDSA"},
    {"log_level", K_LEVEL, OFF(log_level), 0, 0, "info", SRV_CFG_SERVE,
     "debug, info, warn or error"},
    {"access_token_ttl", K_INT, OFF(access_token_ttl), 60, 86400, "3600", 0,
     "access-token lifetime in seconds"},
    {"argon2_memory_kib", K_INT, OFF(argon2.m_kib), 8, 4194304, "19456", 0, "Argon2id memory cost"},
    {"argon2_iterations", K_INT, OFF(argon2.t_cost), 1, 64, "2", 0, "Argon2id time cost"},
    {"argon2_parallelism", K_INT, OFF(argon2.p_lanes), 1, 16, "1", 0, "Argon2id lanes"},
    {"max_connections", K_INT, OFF(max_connections), 16, 65536, "4096", 0,
     "open connections at most; more are closed as they arrive"},
    {"max_connections_per_ip", K_INT_OFF, OFF(max_connections_per_ip), 1, 65536, "128", 0,
     "open connections per client address (0 = no limit)"},
    {"connection_timeout", K_INT, OFF(connection_timeout), 1, 3600, "30", 0,
     "seconds a connection may stay silent, mid-request or idle, before it is closed"},
    {"header_timeout", K_INT, OFF(header_timeout), 1, 3600, "10", 0,
     "seconds from a connection's start or previous answer to the end of its next request's "
     "headers (idle keep-alive connections close after it too)"},
    {"body_timeout", K_INT, OFF(body_timeout), 1, 3600, "10", 0,
     "seconds a request body may take, one more per body_min_rate bytes received"},
    {"body_min_rate", K_INT, OFF(body_min_rate), 1, 1073741824, "1024", 0,
     "bytes of body that earn one more second of body_timeout"},
    {"body_timeout_max", K_INT, OFF(body_timeout_max), 1, 86400, "60", 0,
     "seconds a request body may take at most, however fast it comes"},
    {"header_limit", K_INT, OFF(header_limit), 4096, 1048576, "32768", 0,
     "bytes per connection for the request line and headers (431 beyond)"},
    {"json_depth_max", K_INT, OFF(json_depth_max), 1, 256, "16", 0,
     "nesting levels of a JSON body at most (400 beyond)"},
    {"json_string_max", K_INT, OFF(json_string_max), 64, 1048576, "8192", 0,
     "bytes of one string in a JSON body, as sent, at most (400 beyond)"},
    {"body_limit", K_INT, OFF(body_limit), 1024, 16777216, "65536", 0,
     "largest request body in bytes"},
    {"http_threads", K_INT, OFF(http_threads), 1, 256, "4", 0, "HTTP threads"},
    {"workers", K_INT, OFF(workers), 1, 256, "2", 0, "Argon2 worker threads"},
    {"worker_queue", K_INT, OFF(worker_queue), 1, 65536, "256", 0, "queued Argon2 jobs before 503"},
    {"worker_queue_per_address", K_INT, OFF(worker_queue_per_address), 1, 65536, "32", 0,
     "waiting Argon2 jobs of one client address (IPv6: /64) before 429"},
    {"worker_queue_per_account", K_INT, OFF(worker_queue_per_account), 1, 65536, "4", 0,
     "waiting Argon2 jobs of one login name before 429"},
    {"worker_idle", K_BOOL, OFF(worker_idle), 0, 1, "1", 0,
     "run the Argon2 workers under SCHED_IDLE, so HTTP threads preempt them at once"},
    {"worker_nice", K_INT, OFF(worker_nice), 0, 19, "10", 0,
     "nice value of the Argon2 workers when worker_idle is off"},
    {"secret_cache_ttl", K_INT, OFF(secret_cache_ttl), 0, 300, "300", 0,
     "seconds a verified client secret is remembered (0 = never)"},
    {"jwks_max_age", K_INT, OFF(jwks_max_age), 0, 86400, "300", 0, "JWKS Cache-Control max-age"},
    {"sweep_interval", K_INT, OFF(sweep_interval), 1, 86400, "60", 0,
     "seconds between expiry sweeps"},
    {"keys_refresh_interval", K_INT, OFF(keys_refresh_interval), 1, 3600, "5", 0,
     "seconds between checks for keys rotated by another process"},
    {"allow_registration", K_BOOL, OFF(allow_registration), 0, 1, "0", SRV_CFG_SERVE,
     "let anyone register an email/password user through POST /v1/register"},
    {"session_idle_ttl", K_INT, OFF(session_idle_ttl), 300, 31536000, "2592000", 0,
     "seconds a session lives without a refresh (30 days)"},
    {"session_absolute_ttl", K_INT, OFF(session_absolute_ttl), 300, 315360000, "7776000", 0,
     "seconds a session lives at most (90 days)"},
    {"code_ttl", K_INT, OFF(code_ttl), 1, 600, "60", 0,
     "seconds an authorization code may wait for its exchange"},
    {"device_code_ttl", K_INT, OFF(device_code_ttl), 1, 1800, "600", 0,
     "seconds a device authorization request waits for the user (RFC 8628 expires_in)"},
    {"device_poll_interval", K_INT, OFF(device_poll_interval), 1, 60, "5", 0,
     "seconds a device waits between two polls of the token endpoint"},
    {"audit_retention_days", K_INT, OFF(audit_retention_days), 1, 3650, "90", 0,
     "days audit events are kept"},
    {"audit_token_interval", K_INT_OFF, OFF(audit_token_interval), 1, 3600, "60", 0,
     "seconds of tokens issued to one principal from one address counted into one audit event "
     "(0 = one event per token)"},
    {"key_rotation_interval", K_INT_OFF, OFF(key_rotation_interval), 3600, 31536000, "0", 0,
     "seconds between automatic signing-key rotations (0 = never)"},
    {"login_lockout_threshold", K_INT_OFF, OFF(login_lockout_threshold), 1, 1000, "5", 0,
     "failed logins of one account from one address before each attempt waits (0 = never)"},
    {"login_lockout_base", K_INT, OFF(login_lockout_base), 1, 3600, "1", 0,
     "seconds of the first wait; each further failure doubles it"},
    {"login_lockout_max", K_INT, OFF(login_lockout_max), 1, 86400, "900", 0,
     "seconds a wait grows to at most"},
    {"login_address_threshold", K_INT_OFF, OFF(login_address_threshold), 1, 100000, "20", 0,
     "failed logins from one address, any names, before each attempt from it waits (0 = never)"},
    {"login_account_threshold", K_INT_OFF, OFF(login_account_threshold), 1, 100000, "10", 0,
     "failed logins of one account, any addresses, before each retry from an address that "
     "failed on it waits (0 = never)"},
    {"login_account_max", K_INT, OFF(login_account_max), 1, 3600, "60", 0,
     "seconds a wait of the per-account budget grows to at most"},
    {"device_code_guess_max", K_INT_OFF, OFF(device_code_guess_max), 1, 100000000, "5000", 0,
     "wrong user codes tried anywhere during a device request's life that fail it (0 = never)"},
    {"login_failure_ttl", K_INT, OFF(login_failure_ttl), 60, 31536000, "86400", 0,
     "seconds failed logins are remembered after the last one (or the end of its wait)"},
    {"rate_limit_token", K_INT_OFF, OFF(rate_limit_token), 1, 1000000, "1000", 0,
     "POST /oauth/token requests per second per client address (bursts of twice that; 0 = off)"},
    {"rate_limit_introspect", K_INT_OFF, OFF(rate_limit_introspect), 1, 1000000, "1000", 0,
     "POST /oauth/introspect requests per second per client address (0 = off)"},
    {"tls_cert", K_STR, OFF(tls_cert), 0, 0, "", SRV_CFG_SERVE,
     "PEM certificate (chain) file: serve HTTPS (TLS 1.2 and 1.3) instead of HTTP"},
    {"tls_key", K_STR, OFF(tls_key), 0, 0, "", SRV_CFG_SERVE,
     "PEM private key file of tls_cert (not readable by others)"},
    {"hsts_max_age", K_INT_OFF, OFF(hsts_max_age), 1, 315360000, "31536000", 0,
     "Strict-Transport-Security max-age sent with every HTTPS answer (0 = not sent)"},
    {"admin_allow", K_STR, OFF(admin_allow), 0, 0, "", SRV_CFG_SERVE,
     "comma-separated CIDRs that may reach /admin/v1, e.g. 10.0.0.0/8,::1"},
    {"rate_limit_register", K_INT_OFF, OFF(rate_limit_register), 1, 1000000, "5", 0,
     "POST /v1/register requests per second per client address (0 = off)"},
    {"smtp_url", K_STR, OFF(smtp_url), 0, 0, "", 0,
     "where mail goes: smtp://HOST[:PORT] (STARTTLS required) or smtps://HOST[:PORT]; the "
     "password comes from IDPD_SMTP_PASSWORD only"},
    {"smtp_from", K_STR, OFF(smtp_from), 0, 0, "", 0,
     "the sender address of idpd's mail (required with smtp_url)"},
    {"smtp_user", K_STR, OFF(smtp_user), 0, 0, "", 0, "SMTP user name"},
    {"smtp_plain_loopback", K_BOOL, OFF(smtp_plain_loopback), 0, 1, "0", 0,
     "allow plain SMTP (no TLS) when smtp_url names a loopback address: a local relay"},
    {"smtp_timeout", K_INT, OFF(smtp_timeout), 1, 600, "30", 0,
     "seconds one delivery may take before it counts as a failed try"},
    {"smtp_max_attempts", K_INT, OFF(smtp_max_attempts), 1, 100, "8", 0,
     "tries of one message before it is dropped (audited as mail.dropped)"},
    {"smtp_retry_base", K_INT, OFF(smtp_retry_base), 1, 3600, "30", 0,
     "seconds before a failed message is tried again; doubles each time, an hour at most"},
    {"outbound_plain_loopback", K_BOOL, OFF(outbound_plain_loopback), 0, 1, "0", 0,
     "allow plain http:// to an identity provider on a loopback address (tests); else https only"},
    {"outbound_timeout", K_INT, OFF(outbound_timeout), 1, 60, "5", 0,
     "seconds one request to an identity provider (discovery, keys, code exchange) may take"},
    {"outbound_max_body", K_INT, OFF(outbound_max_body), 1024, 16777216, "1048576", 0,
     "bytes of an identity provider's answer at most"},
    {"fetch_workers", K_INT, OFF(fetch_workers), 1, 256, "4", 0,
     "threads that wait for identity providers, so a slow one holds no Argon2 worker"},
    {"mail_templates", K_STR, OFF(mail_templates), 0, 0, "", 0,
     "folder whose KIND.subject, KIND.txt and KIND.html replace the built-in messages"},
    {"email_verify_ttl", K_INT, OFF(email_verify_ttl), 1, 2592000, "86400", 0,
     "seconds an address-verification (or email-change) link lives"},
    {"password_reset_ttl", K_INT, OFF(password_reset_ttl), 1, 86400, "3600", 0,
     "seconds a password-reset link lives"},
    {"require_verified_email", K_BOOL, OFF(require_verified_email), 0, 1, "0", 0,
     "refuse password logins of addresses not yet verified (needs smtp_url)"},
    {"registration_verify", K_INT, OFF(registration_verify), -1, 1, "-1", 0,
     "1: POST /v1/register answers 202 whether the address is taken or not and says the rest "
     "by mail; 0: 201 or 409 at once; -1: 1 when smtp_url is set"},
    {"mail_per_address", K_INT_OFF, OFF(mail_per_address), 1, 1000, "3", 0,
     "messages an hour to one address (0 = no limit); beyond, requests answer as if sent"},
    {"mail_per_client", K_INT_OFF, OFF(mail_per_client), 1, 1000000, "30", 0,
     "requests that send mail an hour from one client address (0 = no limit)"},
};
#define NSETTINGS (sizeof settings / sizeof settings[0])

/* admin_allow: each comma-separated entry must be a CIDR (or a bare address), as access lists
 * require; a mistake stops the start rather than leave the admin API open or shut. */
static int parse_admin_allow(struct srv_config *cfg)
{
    char buf[sizeof cfg->admin_allow];
    char *save = NULL;
    cfg->admin_allow_n = 0;
    snprintf(buf, sizeof buf, "%s", cfg->admin_allow);
    for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        tok += strspn(tok, " ");
        size_t len = strlen(tok);
        while (len && tok[len - 1] == ' ')
            tok[--len] = '\0';
        const char *why = "";
        if (cfg->admin_allow_n == SRV_ADMIN_ALLOW_MAX) {
            fprintf(stderr, "idpd: admin_allow holds more than %d networks\n", SRV_ADMIN_ALLOW_MAX);
            return SRV_EUSAGE;
        }
        if (!srv_cidr_parse(tok, &cfg->admin_allow_cidrs[cfg->admin_allow_n], &why)) {
            fprintf(stderr, "idpd: admin_allow: \"%s\" is not a network: %s\n", tok, why);
            return SRV_EUSAGE;
        }
        cfg->admin_allow_n++;
    }
    if (cfg->admin_allow[0] && cfg->admin_allow_n == 0) {
        fprintf(stderr, "idpd: admin_allow names no network\n");
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

/* The mail settings hang together: a sender needs a server and a From address, and the features
 * that promise mail need a way to send it. */
static int check_mail(struct srv_config *cfg)
{
    if (cfg->smtp_url[0] && strncmp(cfg->smtp_url, "smtp://", 7) != 0 &&
        strncmp(cfg->smtp_url, "smtps://", 8) != 0) {
        fprintf(stderr, "idpd: smtp_url must be smtp://HOST[:PORT] or smtps://HOST[:PORT]\n");
        return SRV_EUSAGE;
    }
    if (cfg->smtp_url[0] && (!srv_email_valid(cfg->smtp_from) || strpbrk(cfg->smtp_from, "<>,;"))) {
        fprintf(stderr, "idpd: smtp_url needs smtp_from, the address idpd's mail comes from\n");
        return SRV_EUSAGE;
    }
    if (cfg->registration_verify < 0)
        cfg->registration_verify = cfg->smtp_url[0] != '\0';
    if (!cfg->smtp_url[0] && (cfg->registration_verify || cfg->require_verified_email)) {
        fprintf(stderr, "idpd: %s needs smtp_url: without mail no address can be verified\n",
                cfg->registration_verify ? "registration_verify" : "require_verified_email");
        return SRV_EUSAGE;
    }
    return SRV_OK;
}

static int set_value(struct srv_config *cfg, const struct setting *s, const char *value,
                     const char *origin)
{
    char *field = (char *)cfg + s->offset;
    switch (s->kind) {
    case K_STR:
    case K_ALG:
    case K_LEVEL:
        if (strlen(value) >= s->size) {
            fprintf(stderr, "idpd: %s (%s) is too long\n", s->name, origin);
            return SRV_EUSAGE;
        }
        if (s->kind == K_ALG && strcmp(value, "ES256") != 0 && strcmp(value, "RS256") != 0 &&
            strcmp(value, "EdDSA") != 0) {
            fprintf(stderr, "idpd: %s (%s) must be ES256, RS256 or EdDSA\n", s->name, origin);
            return SRV_EUSAGE;
        }
        if (s->kind == K_LEVEL && strcmp(value, "debug") != 0 && strcmp(value, "info") != 0 &&
            strcmp(value, "warn") != 0 && strcmp(value, "error") != 0) {
            fprintf(stderr, "idpd: %s (%s) must be debug, info, warn or error\n", s->name, origin);
            return SRV_EUSAGE;
        }
        memcpy(field, value, strlen(value) + 1);
        return SRV_OK;
    case K_BOOL:
        if (strcmp(value, "1") == 0 || strcmp(value, "true") == 0)
            value = "1";
        else if (strcmp(value, "0") == 0 || strcmp(value, "false") == 0)
            value = "0";
        else {
            fprintf(stderr, "idpd: %s (%s) must be 1, 0, true or false\n", s->name, origin);
            return SRV_EUSAGE;
        }
        /* fall through: stored as an integer */
    case K_INT:
    case K_INT_OFF: {
        char *end = NULL;
        errno = 0;
        long long v = strtoll(value, &end, 10);
        if (errno || end == value || *end ||
            ((v < s->min || v > s->max) && !(s->kind == K_INT_OFF && v == 0))) {
            fprintf(stderr, "idpd: %s (%s) must be %san integer from %lld to %lld\n", s->name,
                    origin, s->kind == K_INT_OFF ? "0 (off) or " : "", s->min, s->max);
            return SRV_EUSAGE;
        }
        /* Integer fields are 4 bytes (unsigned, uint32_t) or 8 (int64_t, size_t); the bounds
         * above keep every value representable in either. */
        if (s->size == sizeof(uint32_t)) {
            uint32_t v32 = (uint32_t)v;
            memcpy(field, &v32, sizeof v32);
        } else {
            int64_t v64 = v;
            memcpy(field, &v64, sizeof v64);
        }
        return SRV_OK;
    }
    case K_LISTEN: {
        /* HOST:PORT, where HOST may be an IPv6 literal in brackets. */
        const char *colon = strrchr(value, ':');
        const char *host = value;
        size_t hlen = colon ? (size_t)(colon - value) : 0;
        char *end = NULL;
        long port = colon ? strtol(colon + 1, &end, 10) : -1;
        if (hlen >= 2 && host[0] == '[' && host[hlen - 1] == ']')
            host++, hlen -= 2;
        if (!colon || hlen == 0 || hlen >= sizeof cfg->listen_host || !end || *end ||
            end == colon + 1 || port < 0 || port > 65535) {
            fprintf(stderr, "idpd: listen (%s) must be HOST:PORT, got \"%s\"\n", origin, value);
            return SRV_EUSAGE;
        }
        memcpy(cfg->listen_host, host, hlen);
        cfg->listen_host[hlen] = '\0';
        cfg->listen_port = (unsigned)port;
        return SRV_OK;
    }
    }
    return SRV_EUSAGE;
}

static int load_file(struct srv_config *cfg, const char *path)
{
    json_error_t err;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    const char *key;
    json_t *v;
    int rc = SRV_EUSAGE;
    if (!root) {
        fprintf(stderr, "idpd: cannot read config %s: %s (line %d)\n", path, err.text, err.line);
        return SRV_EUSAGE;
    }
    if (!json_is_object(root)) {
        fprintf(stderr, "idpd: config %s must be a JSON object\n", path);
        goto out;
    }
    json_object_foreach(root, key, v)
    {
        const struct setting *s = NULL;
        char num[32];
        const char *value = NULL;
        for (size_t i = 0; i < NSETTINGS && !s; i++)
            if (strcmp(settings[i].name, key) == 0)
                s = &settings[i];
        if (!s) {
            fprintf(stderr, "idpd: config %s: unknown setting \"%s\"\n", path, key);
            goto out;
        }
        if (s->kind == K_BOOL && json_is_boolean(v)) {
            value = json_is_true(v) ? "1" : "0";
        } else if ((s->kind == K_INT || s->kind == K_INT_OFF || s->kind == K_BOOL) &&
                   json_is_integer(v)) {
            snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
            value = num;
        } else if (s->kind != K_INT && s->kind != K_INT_OFF && s->kind != K_BOOL &&
                   json_is_string(v)) {
            value = json_string_value(v);
        } else {
            fprintf(stderr, "idpd: config %s: \"%s\" must be %s\n", path, key,
                    s->kind == K_INT || s->kind == K_INT_OFF ? "an integer"
                    : s->kind == K_BOOL                      ? "a boolean"
                                                             : "a string");
            goto out;
        }
        if (set_value(cfg, s, value, path) != SRV_OK)
            goto out;
    }
    rc = SRV_OK;
out:
    json_decref(root);
    return rc;
}

/* "--signing-alg" for setting "signing_alg": compares with '-' standing for '_'. */
static int flag_is(const char *arg, const char *name, size_t *len)
{
    size_t i = 0;
    for (; name[i]; i++)
        if (arg[i] != (name[i] == '_' ? '-' : name[i]))
            return 0;
    *len = i;
    return arg[i] == '\0' || arg[i] == '=';
}

int srv_config_load(struct srv_config *cfg, int scope, int *argc, char **argv)
{
    const char *flag_values[NSETTINGS] = {0};
    const char *config_path = NULL;
    int out = 1;
    memset(cfg, 0, sizeof *cfg);
    /* Take this command's config flags out of argv; leave the rest for the command. */
    for (int i = 1; i < *argc; i++) {
        const char *a = argv[i];
        size_t len = 0;
        int taken = 0;
        if (strcmp(a, "--") == 0) {
            while (i < *argc)
                argv[out++] = argv[i++];
            break;
        }
        if (strncmp(a, "--", 2) == 0) {
            const char *name = a + 2, **slot = NULL;
            if (flag_is(name, "config", &len))
                slot = &config_path;
            for (size_t k = 0; k < NSETTINGS && !slot; k++)
                if ((settings[k].scope & scope) && flag_is(name, settings[k].name, &len))
                    slot = &flag_values[k];
            int is_bool = 0;
            for (size_t k = 0; k < NSETTINGS; k++)
                if (slot == &flag_values[k] && settings[k].kind == K_BOOL)
                    is_bool = 1;
            if (slot && is_bool && name[len] != '=') {
                *slot = "1"; /* --allow-registration */
                taken = 1;
            } else if (slot) {
                if (name[len] == '=') {
                    *slot = name + len + 1;
                } else if (i + 1 < *argc) {
                    *slot = argv[++i];
                } else {
                    fprintf(stderr, "idpd: %s needs a value\n", a);
                    return SRV_EUSAGE;
                }
                taken = 1;
            }
        }
        if (!taken)
            argv[out++] = argv[i];
    }
    *argc = out;
    argv[out] = NULL;

    for (size_t k = 0; k < NSETTINGS; k++)
        if (set_value(cfg, &settings[k], settings[k].def, "default") != SRV_OK)
            return SRV_EUSAGE;
    if (config_path && load_file(cfg, config_path) != SRV_OK)
        return SRV_EUSAGE;
    for (size_t k = 0; k < NSETTINGS; k++) {
        char env[64] = "IDPD_";
        for (size_t i = 0; settings[k].name[i] && i + 6 < sizeof env; i++) {
            char c = settings[k].name[i];
            env[5 + i] = (char)(c >= 'a' && c <= 'z' ? c - 32 : c);
            env[6 + i] = '\0';
        }
        const char *v = getenv(env);
        if (v && *v && set_value(cfg, &settings[k], v, env) != SRV_OK)
            return SRV_EUSAGE;
    }
    for (size_t k = 0; k < NSETTINGS; k++)
        if (flag_values[k] && set_value(cfg, &settings[k], flag_values[k], "flag") != SRV_OK)
            return SRV_EUSAGE;

    const char *mk = getenv("IDPD_MASTER_KEY");
    if (mk && *mk) {
        if (strlen(mk) >= sizeof cfg->master_key) {
            fprintf(stderr, "idpd: IDPD_MASTER_KEY is too long\n");
            return SRV_EUSAGE;
        }
        memcpy(cfg->master_key, mk, strlen(mk) + 1);
    }
    if (cfg->issuer[0] &&
        ((strncmp(cfg->issuer, "https://", 8) != 0 && strncmp(cfg->issuer, "http://", 7) != 0) ||
         strpbrk(cfg->issuer, "?# "))) {
        fprintf(stderr, "idpd: issuer must be an http(s) URL without query or fragment\n");
        return SRV_EUSAGE;
    }
    /* The next key is published one rotation before it signs; a verifier caching the JWKS longer
     * than that could meet a token whose kid it has not fetched yet. */
    if (cfg->key_rotation_interval && cfg->key_rotation_interval < cfg->jwks_max_age) {
        fprintf(stderr,
                "idpd: key_rotation_interval (%lld s) must not be shorter than "
                "jwks_max_age (%lld s)\n",
                (long long)cfg->key_rotation_interval, (long long)cfg->jwks_max_age);
        return SRV_EUSAGE;
    }
    if (cfg->body_timeout_max < cfg->body_timeout) {
        fprintf(stderr,
                "idpd: body_timeout_max (%lld s) must not be shorter than body_timeout "
                "(%lld s)\n",
                (long long)cfg->body_timeout_max, (long long)cfg->body_timeout);
        return SRV_EUSAGE;
    }
    if (parse_admin_allow(cfg) != SRV_OK)
        return SRV_EUSAGE;
    const char *pw = getenv("IDPD_SMTP_PASSWORD");
    if (pw && *pw) {
        if (strlen(pw) >= sizeof cfg->smtp_password) {
            fprintf(stderr, "idpd: IDPD_SMTP_PASSWORD is too long\n");
            return SRV_EUSAGE;
        }
        memcpy(cfg->smtp_password, pw, strlen(pw) + 1);
    }
    if (check_mail(cfg) != SRV_OK)
        return SRV_EUSAGE;
    if (!cfg->tls_cert[0] != !cfg->tls_key[0]) {
        fprintf(stderr, "idpd: tls_cert and tls_key go together\n");
        return SRV_EUSAGE;
    }
    size_t il = strlen(cfg->issuer);
    while (il && cfg->issuer[il - 1] == '/')
        cfg->issuer[--il] = '\0';
    srv_log_set_level(cfg->log_level);
    return SRV_OK;
}

/* What an empty default means, for --help: the value is derived, or the feature is off. */
static const char *empty_default(const char *name)
{
    static const char *const meanings[][2] = {
        {"issuer", "http://HOST:PORT, https:// with --tls-cert"},
        {"audience", "the issuer"},
        {"tls_cert", "none: plain HTTP"},
        {"admin_allow", "none: any address may reach /admin/v1"},
        {"smtp_url", "none: idpd sends no mail"},
        {"mail_templates", "none: the built-in messages"},
    };
    for (size_t i = 0; i < sizeof meanings / sizeof meanings[0]; i++)
        if (strcmp(meanings[i][0], name) == 0)
            return meanings[i][1];
    return "none";
}

void srv_config_usage(FILE *out, int scope)
{
    fprintf(out, "  --config FILE   JSON object of settings\n");
    for (size_t k = 0; k < NSETTINGS; k++) {
        if (!(settings[k].scope & scope))
            continue;
        char flag[64];
        size_t i = 0;
        for (; settings[k].name[i] && i + 1 < sizeof flag; i++)
            flag[i] = settings[k].name[i] == '_' ? '-' : settings[k].name[i];
        flag[i] = '\0';
        const char *def = settings[k].def[0] ? settings[k].def : empty_default(settings[k].name);
        fprintf(out, "  --%-14s %s (default %s)\n", flag, settings[k].help, def);
    }
    fprintf(out,
            "Every setting can also be given as IDPD_<NAME> (e.g. IDPD_ACCESS_TOKEN_TTL) or in "
            "the --config file.\n");
}
