/* The command line: version, service-account create (usage errors, a fresh folder, beside a
 * running server) and serve's start-up failures, with DESIGN.md §9's exit codes. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "support.h"

static int exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

TEST(version)
{
    const char *args[] = {"version", NULL};
    struct ts_cmd *c = ts_run(args, NULL);
    CHECK_INT(c->status, 0);
    CHECK_MSG(strncmp(c->out, "idpd 0.1.0", 10) == 0, "stdout: %s", c->out);
    const char *args2[] = {"--version", NULL};
    c = ts_run(args2, NULL);
    CHECK_INT(c->status, 0);
    CHECK(strncmp(c->out, "idpd ", 5) == 0);
}

/* serve --help names every flag with what its default really is, never a vague "derived". */
TEST(serve_help_names_defaults)
{
    const char *args[] = {"serve", "--help", NULL};
    struct ts_cmd *c = ts_run(args, NULL);
    CHECK_INT(c->status, 0);
    CHECK_MSG(strstr(c->out, "derived") == NULL, "stdout: %s", c->out);
    CHECK(strstr(c->out, "(default none: plain HTTP)") != NULL);
    CHECK(strstr(c->out, "(default http://HOST:PORT, https:// with --tls-cert)") != NULL);
    CHECK(strstr(c->out, "(default none: any address may reach /admin/v1)") != NULL);
    CHECK(strstr(c->out, "(default 127.0.0.1:8080)") != NULL);
}

TEST(usage_errors_exit_2)
{
    const char *data = ts_path("data");
    const char *no_name[] = {"service-account", "create", "--data", data, NULL};
    const char *bad_role[] = {"service-account", "create", "--data", data, "--name", "x",
                              "--role",          "a b",    NULL};
    const char *bad_role2[] = {"service-account", "create", "--data", data, "--name", "x",
                               "--role",          "a@",     NULL};
    const char *empty_name[] = {"service-account", "create", "--data", data, "--name", "", NULL};
    const char *no_value[] = {"service-account", "create", "--data", data, "--name", NULL};
    const char *unknown_flag[] = {"service-account", "create", "--data", data, "--name", "x",
                                  "--colour",        "blue",   NULL};
    const char *bad_hours[] = {"service-account",           "create", "--data", data, "--name", "x",
                               "--secret-expires-in-hours", "7",      NULL};
    const char *no_verb[] = {"service-account", NULL};
    const char *bad_verb[] = {"service-account", "destroy", NULL};
    const char *unknown_cmd[] = {"frobnicate", NULL};
    const char *bad_env_args[] = {"service-account", "create", "--data", data, "--name", "x", NULL};
    const char *bad_env[] = {"IDPD_ARGON2_MEMORY_KIB=lots", NULL};
    const char *const *cases[] = {no_name,      bad_role,  bad_role2, empty_name, no_value,
                                  unknown_flag, bad_hours, no_verb,   bad_verb,   unknown_cmd};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_cmd *c = ts_run(cases[i], NULL);
        CHECK_MSG(c->status == 2, "case %zu (%s %s …): status %d, stderr %s", i, cases[i][0],
                  cases[i][1] ? cases[i][1] : "", c->status, c->err);
        CHECK_STR(c->out, ""); /* no secret printed */
        CHECK(c->err[0] != '\0');
    }
    struct ts_cmd *c = ts_run(bad_env_args, bad_env);
    CHECK_INT(c->status, 2);
    CHECK(strstr(c->err, "argon2_memory_kib") != NULL);
    const char *none[] = {NULL};
    c = ts_run(none, NULL);
    CHECK_INT(c->status, 2);
    /* a usage error changes nothing: the data folder was never made */
    CHECK(!exists(data));
}

/* A folder that does not exist yet (its parent does) is created and initialised as serve would,
 * and a server then started on it accepts the account. */
TEST(create_on_fresh_folder)
{
    const char *data = ts_path("fresh");
    CHECK(!exists(data));
    const char *args[] = {"service-account", "create",        "--data", data,
                          "--name",          "first",         "--role", "reader",
                          "--description",   "the first one", NULL};
    long long before = (long long)time(NULL);
    struct ts_cmd *c = ts_run(args, NULL);
    CHECK_MSG(c->status == 0, "stderr: %s", c->err);
    json_t *j = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK(json_is_object(j));
    CHECK_INT(json_object_size(j), 3);
    const char *id = ts_jstr(j, "client_id"), *secret = ts_jstr(j, "client_secret");
    CHECK(id && strncmp(id, "sa_", 3) == 0);
    CHECK(secret && strncmp(secret, "idpsec_", 7) == 0);
    CHECK_INT(strlen(secret), 7 + 43);
    long long exp = ts_jint(j, "client_secret_expires_at");
    CHECK(exp >= before + 2160LL * 3600 && exp <= (long long)time(NULL) + 2160LL * 3600);
    /* the secret is printed once, to stdout only */
    CHECK(strstr(c->err, secret) == NULL);

    struct stat st;
    CHECK(stat(data, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(stat(ts_printf("%s/master.key", data), &st) == 0);
    CHECK_INT(st.st_mode & 0777, 0600);
    CHECK(th_on_postgres() || exists(ts_printf("%s/data.mdb", data)));

    struct ts_opts o = {.data = data};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    struct ts_account a;
    snprintf(a.id, sizeof a.id, "%s", id);
    snprintf(a.secret, sizeof a.secret, "%s", secret);
    CHECK_INT(ts_token(s, &a, NULL)->status, 200);
    /* the keys made by the CLI are the ones the server publishes */
    struct keys *kr = ts_keys_open(data);
    CHECK(kr);
    json_t *h, *p;
    CHECK(ts_jwt_decode(ts_keys_sign(kr, "at+jwt", "{}"), &h, &p) == 0);
    CHECK(ts_jwks_key(ts_get(s, "/jwks")->json, ts_jstr(h, "kid")) != NULL);
    /* a second account in the same folder */
    struct ts_account b;
    CHECK_INT(ts_sa_create(data, "second", NULL, NULL, &b), 0);
    CHECK(strcmp(a.id, b.id) != 0);
}

/* The CLI works on the folder of a running server, and the server sees the account at once. */
TEST(create_while_server_runs)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    const char *jwks = ts_get(s, "/jwks")->body;
    for (int i = 0; i < 3; i++) {
        struct ts_account a;
        CHECK_INT(ts_sa_create(s->data, ts_printf("live-%d", i), NULL, NULL, &a), 0);
        struct ts_resp *r = ts_token(s, &a, NULL);
        CHECK_MSG(r->status == 200, "%ld %s", r->status, r->body);
    }
    /* the CLI made no new keys behind the server's back */
    CHECK_STR(ts_get(s, "/jwks")->body, jwks);
}

TEST(serve_bad_data_folder_exit_1)
{
    const char *file = ts_path("plain-file");
    FILE *fp = fopen(file, "w");
    CHECK(fp);
    fputs("not a folder\n", fp);
    fclose(fp);
    const char *under_file = ts_printf("%s/x", file);
    const char *missing_parent = ts_printf("%s/x", ts_path("missing"));
    const char *dirs[] = {under_file, missing_parent, file};
    for (size_t i = 0; i < 3; i++) {
        const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", dirs[i], NULL};
        struct ts_cmd *c = ts_run(args, NULL);
        CHECK_MSG(c->status == 1, "--data %s: status %d, stderr %s", dirs[i], c->status, c->err);
        CHECK_MSG(strstr(c->err, dirs[i]) && strstr(c->err, "data folder"), "stderr: %s", c->err);
        /* and the same for the CLI */
        const char *sa[] = {"service-account", "create", "--data", dirs[i], "--name", "x", NULL};
        c = ts_run(sa, NULL);
        CHECK_MSG(c->status == 1, "create --data %s: status %d, stderr %s", dirs[i], c->status,
                  c->err);
        CHECK_STR(c->out, "");
        CHECK(strstr(c->err, dirs[i]) != NULL);
    }
    CHECK(!exists(missing_parent));
}

TEST(serve_usage_errors_exit_2)
{
    const char *data = ts_path("data");
    const char *bogus[] = {"serve", "--bogus", "--data", data, NULL};
    const char *bad_listen[] = {"serve", "--listen", "127.0.0.1", "--data", data, NULL};
    const char *bad_port[] = {"serve", "--listen", "127.0.0.1:99999", "--data", data, NULL};
    const char *bad_issuer[] = {"serve", "--issuer", "ftp://x", "--data", data, NULL};
    const char *bad_alg[] = {"serve", "--signing-alg", "HS256", "--data", data, NULL};
    const char *no_value[] = {"serve", "--data", NULL};
    const char *const *cases[] = {bogus, bad_listen, bad_port, bad_issuer, bad_alg, no_value};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_cmd *c = ts_run(cases[i], NULL);
        CHECK_MSG(c->status == 2, "case %zu: status %d, stderr %s", i, c->status, c->err);
        CHECK(c->err[0] != '\0');
    }
    const char *env[] = {"IDPD_HTTP_THREADS=0", NULL};
    const char *args[] = {"serve", "--listen", "127.0.0.1:0", "--data", data, NULL};
    struct ts_cmd *c = ts_run(args, env);
    CHECK_INT(c->status, 2);
    CHECK(strstr(c->err, "http_threads") != NULL);
    /* a rotation faster than verifiers refresh their cached JWKS is refused */
    const char *fast[] = {"IDPD_KEY_ROTATION_INTERVAL=3600", "IDPD_JWKS_MAX_AGE=7200", NULL};
    c = ts_run(args, fast);
    CHECK_INT(c->status, 2);
    CHECK(strstr(c->err, "key_rotation_interval") != NULL);
    CHECK(!exists(data));
}

/* A port another server holds: a clear message and exit 1. */
TEST(serve_port_in_use_exit_1)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    const char *listen = ts_printf("127.0.0.1:%u", s->port);
    const char *args[] = {"serve", "--listen", listen, "--data", ts_path("other"), NULL};
    struct ts_cmd *c = ts_run(args, NULL);
    CHECK_INT(c->status, 1);
    CHECK_MSG(strstr(c->err, listen) != NULL, "stderr: %s", c->err);
    CHECK_INT(ts_get(s, "/healthz")->status, 200);
}

/* idpd application create: usage errors exit 2 and print nothing; a public application prints
 * its client_id alone, a confidential one its secret once; the server takes both at once. */
TEST(application_create)
{
    const char *data = ts_path("data");
    const char *no_grant[] = {"application", "create", "--data", data, "--name", "web", NULL};
    const char *bad_grant[] = {"application", "create", "--data",  data,
                               "--name",      "web",    "--grant", "client_credentials",
                               NULL};
    const char *unknown_grant[] = {"application", "create",  "--data",   data, "--name",
                                   "web",         "--grant", "implicit", NULL};
    const char *bad_type[] = {"application", "create",   "--data", data,    "--name", "web",
                              "--grant",     "password", "--type", "other", NULL};
    const char *no_name[] = {"application", "create", "--data", data, "--grant", "password", NULL};
    const char *no_value[] = {"application", "create", "--data",  data,
                              "--name",      "web",    "--grant", NULL};
    const char *unknown_flag[] = {"application", "create",   "--data",   data,   "--name", "web",
                                  "--grant",     "password", "--colour", "blue", NULL};
    const char *bad_verb[] = {"application", "delete", NULL};
    const char *const *cases[] = {no_grant, bad_grant, unknown_grant, bad_type,
                                  no_name,  no_value,  unknown_flag,  bad_verb};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_cmd *c = ts_run(cases[i], NULL);
        CHECK_MSG(c->status == 2, "case %zu: status %d, stderr %s", i, c->status, c->err);
        CHECK_STR(c->out, "");
        CHECK(c->err[0] != '\0');
    }
    CHECK(!exists(data)); /* a usage error changes nothing */

    const char *pub[] = {"application", "create",        "--data",  data,
                         "--name",      "mobile",        "--grant", "password",
                         "--grant",     "refresh_token", "--grant", "urn:idpd:grant-type:anonymous",
                         NULL};
    struct ts_cmd *c = ts_run(pub, NULL);
    CHECK_MSG(c->status == 0, "stderr: %s", c->err);
    json_t *j = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK_INT(json_object_size(j), 1);
    const char *pub_id = ts_jstr(j, "client_id");
    CHECK(pub_id && strncmp(pub_id, "app_", 4) == 0);

    const char *conf[] = {"application", "create",   "--data", data,           "--name", "backend",
                          "--grant",     "password", "--type", "confidential", NULL};
    c = ts_run(conf, NULL);
    CHECK_MSG(c->status == 0, "stderr: %s", c->err);
    json_t *k = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK_INT(json_object_size(k), 2);
    const char *conf_id = ts_jstr(k, "client_id"), *secret = ts_jstr(k, "client_secret");
    CHECK(conf_id && strncmp(conf_id, "app_", 4) == 0 && strcmp(conf_id, pub_id) != 0);
    CHECK(secret && strncmp(secret, "idpsec_", 7) == 0);
    CHECK_INT(strlen(secret), 7 + 43);
    CHECK(strstr(c->err, secret) == NULL);

    /* the running server knows both: the public one names itself, the confidential one must
     * authenticate (a wrong grant is refused only after the client is known) */
    struct ts_opts o = {.data = data};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    CHECK_INT(ts_anonymous(s, pub_id)->status, 200);
    CHECK_OAUTH_ERROR(ts_anonymous(s, conf_id), 401, "invalid_client");
    struct ts_account ca;
    snprintf(ca.id, sizeof ca.id, "%s", conf_id);
    snprintf(ca.secret, sizeof ca.secret, "%s", secret);
    const char *h[] = {ts_basic(&ca), NULL};
    CHECK_OAUTH_ERROR(
        ts_post(s, "/oauth/token", h, "grant_type=urn%3Aidpd%3Agrant-type%3Aanonymous"), 400,
        "unauthorized_client");
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(version);
    RUN(serve_help_names_defaults);
    RUN(usage_errors_exit_2);
    RUN(create_on_fresh_folder);
    RUN(create_while_server_runs);
    RUN(serve_bad_data_folder_exit_1);
    RUN(serve_usage_errors_exit_2);
    RUN(serve_port_in_use_exit_1);
    RUN(application_create);
    return ts_done();
}
