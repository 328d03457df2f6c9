/* The access log: one JSON line per request with method, path, status, duration and (for the
 * OAuth endpoints) client_id; never a secret or a token, at any log level. */
#include <string.h>

#include "support.h"

static const char *const intro_roles[] = {"idp:introspect", NULL};

struct expect {
    const char *method, *path;
    int status;
    const char *client_id; /* NULL: the line has none */
};

TEST(one_log_line_per_request)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_account a;
    CHECK_INT(ts_sa_create(s->data, "logged", intro_roles, NULL, &a), 0);
    struct ts_account wrong = a;
    wrong.secret[8] = wrong.secret[8] == 'Q' ? 'R' : 'Q';

    CHECK_INT(ts_get(s, "/healthz")->status, 200);
    CHECK_INT(ts_get(s, "/jwks")->status, 200);
    const char *tok = ts_token_str(s, &a);
    CHECK(tok);
    CHECK_INT(ts_token(s, &wrong, NULL)->status, 401);
    CHECK_INT(ts_post(s, "/oauth/token", NULL,
                      ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", a.id,
                                a.secret))
                  ->status,
              200);
    CHECK_INT(ts_post(s, "/oauth/token", NULL, "grant_type=foo")->status, 400);
    CHECK_INT(ts_introspect(s, &a, tok)->status, 200);
    CHECK_INT(ts_get(s, "/nope")->status, 404);
    CHECK_INT(ts_get(s, "/oauth/token")->status, 405);
    CHECK_INT(ts_stop(s), 0);

    const struct expect want[] = {
        {"GET", "/healthz", 200, NULL},           {"GET", "/jwks", 200, NULL},
        {"POST", "/oauth/token", 200, a.id},      {"POST", "/oauth/token", 401, a.id},
        {"POST", "/oauth/token", 200, a.id},      {"POST", "/oauth/token", 400, NULL},
        {"POST", "/oauth/introspect", 200, a.id}, {"GET", "/nope", 404, NULL},
        {"GET", "/oauth/token", 405, NULL},
    };
    size_t n = sizeof want / sizeof want[0];
    json_t *lines = ts_log_requests(s);
    CHECK_INT(json_array_size(lines), n);
    int used[sizeof want / sizeof want[0]] = {0};
    size_t i;
    json_t *line;
    json_array_foreach(lines, i, line)
    {
        CHECK_STR(ts_jstr(line, "level"), "info");
        CHECK_STR(ts_jstr(line, "msg"), "request");
        CHECK(ts_jstr(line, "ts") != NULL);
        json_t *dur = json_object_get(line, "duration_ms");
        CHECK(json_is_number(dur) && json_number_value(dur) >= 0);
        /* match it to one expected request (lines of parallel requests may swap places) */
        size_t k = 0;
        for (; k < n; k++) {
            const char *cid = ts_jstr(line, "client_id");
            if (!used[k] && !strcmp(ts_jstr(line, "method"), want[k].method) &&
                !strcmp(ts_jstr(line, "path"), want[k].path) &&
                ts_jint(line, "status") == want[k].status &&
                (want[k].client_id ? cid && !strcmp(cid, want[k].client_id) : !cid))
                break;
        }
        CHECK_MSG(k < n, "unexpected log line %s", (char *)ts_keep(json_dumps(line, JSON_COMPACT)));
        used[k] = 1;
    }
}

/* Secrets, tokens and Authorization values appear nowhere in the server's output, even at debug
 * level and when authentication fails. */
TEST(no_secret_in_logs)
{
    const char *args[] = {"--log-level", "debug", NULL};
    struct ts_opts o = {.args = args};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a, b;
    CHECK_INT(ts_sa_create(s->data, "one", intro_roles, NULL, &a), 0);
    CHECK_INT(ts_sa_create(s->data, "two", NULL, NULL, &b), 0);
    const char *tok = ts_token_str(s, &a);
    CHECK(tok);
    const char *tok_b = ts_token_str(s, &b);
    CHECK(tok_b);
    struct ts_account wrong = a;
    wrong.secret[20] = wrong.secret[20] == 'Z' ? 'Y' : 'Z';
    CHECK_INT(ts_token(s, &wrong, NULL)->status, 401);
    CHECK_INT(ts_post(s, "/oauth/token", NULL,
                      ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", b.id,
                                b.secret))
                  ->status,
              200);
    CHECK_INT(ts_post(s, "/oauth/token", NULL,
                      ts_printf("grant_type=client_credentials&client_id=%s&client_secret=%s", b.id,
                                wrong.secret))
                  ->status,
              401);
    CHECK_INT(ts_introspect(s, &a, tok)->status, 200);
    CHECK_INT(ts_introspect(s, &a, tok_b)->status, 200);
    CHECK_INT(ts_revoke(s, &b, tok_b)->status, 200);
    CHECK_INT(ts_revoke(s, &a, tok_b)->status, 400);
    const char *bearer[] = {ts_printf("Authorization: Bearer %s", tok), NULL};
    CHECK_INT(ts_post(s, "/oauth/token", bearer, "grant_type=client_credentials")->status, 401);
    CHECK_INT(ts_stop(s), 0);

    const char *log = ts_log(s);
    CHECK(strstr(log, "\"msg\":\"request\"") != NULL);
    const char *basic = strstr(ts_basic(&a), "Basic ") + 6;
    const char *wrong_basic = strstr(ts_basic(&wrong), "Basic ") + 6;
    const char *secrets[] = {
        a.secret,    b.secret, wrong.secret, a.secret + 7,          b.secret + 7,           basic,
        wrong_basic, tok,      tok_b,        strrchr(tok, '.') + 1, strrchr(tok_b, '.') + 1};
    for (size_t i = 0; i < sizeof secrets / sizeof secrets[0]; i++)
        CHECK_MSG(strstr(log, secrets[i]) == NULL, "secret %zu appears in the log", i);
    /* client ids are not secret and do name the lines */
    CHECK(strstr(log, a.id) != NULL);
    CHECK(strstr(log, b.id) != NULL);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(one_log_line_per_request);
    RUN(no_secret_in_logs);
    return ts_done();
}
