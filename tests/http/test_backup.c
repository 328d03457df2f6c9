/* idpd backup: an online copy while the server serves and writes, mode 0600, never overwriting;
 * a server started on the restored copy (plus the master key) answers with the same users,
 * service accounts and keys, and tokens issued before the backup still verify. A PostgreSQL
 * store (the suite's second run) is refused, pointing to pg_dump and to idpd store copy. */
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support.h"

static const char *const intro_roles[] = {"idp:introspect", NULL};
static const char *const app_roles[] = {"deployer", NULL};
static const char *const user_grants[] = {"password", "refresh_token", NULL};

/* Client-credentials requests in a loop while the backup runs: every token request is a cached
 * verification plus an audit event, so the server keeps writing. Plain libcurl: the case's
 * helpers are not for other threads. */
struct load {
    const char *url;
    const char *userpwd;
    atomic_int stop;
    atomic_int ok, failed;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p, (void)arg;
    return size * n;
}

static void *load_main(void *arg)
{
    struct load *l = arg;
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    curl_easy_setopt(e, CURLOPT_URL, l->url);
    curl_easy_setopt(e, CURLOPT_USERPWD, l->userpwd);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, "grant_type=client_credentials");
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, 10L);
    for (int i = 0; i < 100000 && !atomic_load(&l->stop); i++) {
        long status = 0;
        if (curl_easy_perform(e) == CURLE_OK &&
            curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status == 200)
            atomic_fetch_add(&l->ok, 1);
        else
            atomic_fetch_add(&l->failed, 1);
    }
    curl_easy_cleanup(e);
    return NULL;
}

static int copy_file(const char *from, const char *to, mode_t mode)
{
    char buf[65536];
    size_t n;
    int ok = 1;
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    if (!in || !out)
        ok = 0;
    while (ok && (n = fread(buf, 1, sizeof buf, in)) > 0)
        ok = fwrite(buf, 1, n, out) == n;
    if (in)
        fclose(in);
    if (out && fclose(out) != 0)
        ok = 0;
    return ok && chmod(to, mode) == 0;
}

/* On PostgreSQL the backup is the database's own: idpd backup says so and writes nothing. */
TEST(backup_of_a_postgres_store_points_to_pg_dump)
{
    if (!th_on_postgres())
        return;
    const char *data = ts_path("data"), *file = ts_path("idpd.backup");
    struct ts_account a;
    struct stat sb;
    CHECK_INT(ts_sa_create(data, "a", app_roles, NULL, &a), 0);
    const char *backup[] = {"backup", "--data", data, file, NULL};
    struct ts_cmd *c = ts_run(backup, NULL);
    CHECK_INT(c->status, 1);
    CHECK_MSG(strstr(c->err, "pg_dump") && strstr(c->err, "store copy"), "%s", c->err);
    CHECK(!strstr(c->err, "postgresql://") && !strstr(c->out, "postgresql://"));
    CHECK(stat(file, &sb) != 0);
}

TEST(backup_while_serving_then_restore)
{
    if (th_on_postgres()) /* LMDB's file; backup_of_a_postgres_store_points_to_pg_dump */
        return;
    const char *data = ts_path("data"), *file = ts_path("idpd.backup");
    const char *args[] = {"--issuer", "http://idpd.backup.test", "--allow-registration", NULL};
    struct ts_opts o = {.data = data, .args = args};
    struct ts_server *s1 = ts_start(&o);
    CHECK(s1);
    if (!s1)
        return;
    struct ts_account caller, app, sdk;
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    CHECK_INT(ts_sa_create(data, "deployer", app_roles, NULL, &app), 0);
    CHECK_INT(ts_app_create(data, "sdk", user_grants, NULL, &sdk), 0);
    CHECK_INT(ts_register(s1, sdk.id, "backup@example.com", "a backup password")->status, 201);
    const char *tok = ts_token_str(s1, &app);
    CHECK(tok);
    struct ts_resp *jwks1 = ts_get(s1, "/jwks");
    CHECK_INT(jwks1->status, 200);
    if (th_on_postgres()) {
        /* the server's store is a database (IDPD_STORE): pg_dump's work, or store copy's */
        const char *backup[] = {"backup", "--data", data, file, NULL};
        struct ts_cmd *c = ts_run(backup, NULL);
        CHECK_INT(c->status, 1);
        CHECK(strstr(c->err, "pg_dump --schema=idpd") != NULL);
        CHECK(strstr(c->err, "idpd store copy") != NULL);
        CHECK(strstr(c->err, "host=") == NULL);
        struct stat sb;
        CHECK(stat(file, &sb) != 0);
        CHECK_INT(ts_stop(s1), 0);
        return;
    }

    struct load l = {.url = ts_printf("%s/oauth/token", s1->url),
                     .userpwd = ts_printf("%s:%s", app.id, app.secret)};
    pthread_t th;
    CHECK_INT(pthread_create(&th, NULL, load_main, &l), 0);
    while (atomic_load(&l.ok) < 20 && atomic_load(&l.failed) == 0)
        usleep(1000);
    const char *backup[] = {"backup", "--data", data, file, NULL};
    struct ts_cmd *c = ts_run(backup, NULL);
    int during = atomic_load(&l.ok);
    while (atomic_load(&l.ok) < during + 20 && atomic_load(&l.failed) == 0)
        usleep(1000);
    atomic_store(&l.stop, 1);
    pthread_join(th, NULL);
    CHECK_INT(atomic_load(&l.failed), 0);
    CHECK_INT(c->status, 0);
    json_t *out = ts_keep_json(json_loads(c->out, 0, NULL));
    CHECK_STR(ts_jstr(out, "file"), file);
    struct stat sb;
    CHECK(stat(file, &sb) == 0);
    CHECK_INT(sb.st_mode & 0777, 0600);
    CHECK_INT(ts_jint(out, "bytes"), (long long)sb.st_size);

    /* never overwrites: the second run fails and leaves the first copy as it was */
    c = ts_run(backup, NULL);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "exists") != NULL);
    struct stat sb2;
    CHECK(stat(file, &sb2) == 0 && sb2.st_size == sb.st_size && sb2.st_mtime == sb.st_mtime);
    CHECK_INT(ts_stop(s1), 0);

    /* restore: the copy as data.mdb, with the master key that seals its signing keys */
    const char *data2 = ts_path("restored");
    CHECK(mkdir(data2, 0700) == 0);
    CHECK(copy_file(file, ts_printf("%s/data.mdb", data2), 0600));
    CHECK(copy_file(ts_printf("%s/master.key", data), ts_printf("%s/master.key", data2), 0600));
    struct ts_opts o2 = {.data = data2, .args = args};
    struct ts_server *s2 = ts_start(&o2);
    CHECK(s2);
    if (!s2)
        return;
    struct ts_resp *jwks2 = ts_get(s2, "/jwks");
    CHECK(json_equal(jwks1->json, jwks2->json));
    struct ts_resp *r = ts_introspect(s2, &caller, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "sub"), app.id);
    CHECK(ts_token_str(s2, &app) != NULL);
    r = ts_login(s2, sdk.id, "backup@example.com", "a backup password", NULL);
    CHECK_INT(r->status, 200);
    CHECK_OAUTH_ERROR(ts_login(s2, sdk.id, "backup@example.com", "wrong password", NULL), 400,
                      "invalid_grant");
    CHECK_INT(ts_stop(s2), 0);
}

TEST(backup_refusals)
{
    if (th_on_postgres())
        return;
    const char *empty = ts_path("empty");
    /* LMDB in both runs of the suite: a case's own IDPD_STORE comes first */
    const char *lmdb_empty[] = {ts_printf("IDPD_STORE=lmdb:%s", empty), NULL};
    CHECK(mkdir(empty, 0700) == 0);
    const char *no_store[] = {"backup", "--data", empty, ts_path("x.backup"), NULL};
    struct ts_cmd *c = ts_run(no_store, lmdb_empty);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "no store") != NULL);
    /* the empty folder did not become a store */
    struct stat sb;
    CHECK(stat(ts_printf("%s/data.mdb", empty), &sb) != 0);
    CHECK(stat(ts_path("x.backup"), &sb) != 0);

    const char *no_file[] = {"backup", "--data", empty, NULL};
    CHECK_INT(ts_run(no_file, NULL)->status, 2);
    const char *two_files[] = {"backup", "--data", empty, "a", "b", NULL};
    CHECK_INT(ts_run(two_files, NULL)->status, 2);
    const char *bad_flag[] = {"backup", "--bogus", "a", NULL};
    CHECK_INT(ts_run(bad_flag, NULL)->status, 2);
    const char *help[] = {"backup", "--help", NULL};
    c = ts_run(help, NULL);
    CHECK_INT(c->status, 0);
    CHECK(strstr(c->out, "usage: idpd backup") != NULL);

    /* a folder that cannot be written to loses nothing and leaves no partial file */
    const char *data = ts_path("data");
    const char *lmdb_data[] = {ts_printf("IDPD_STORE=lmdb:%s", data), NULL};
    struct ts_account a;
    CHECK_INT(ts_sa_create(data, "a", app_roles, lmdb_data, &a), 0);
    const char *bad_dir[] = {"backup", "--data", data, ts_path("missing/dir/file"), NULL};
    c = ts_run(bad_dir, lmdb_data);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "cannot") != NULL);

    /* a PostgreSQL store is refused, pointing to pg_dump and to store copy; the URI (and its
     * password) is never printed */
    const char *pg_file = ts_path("pg.backup");
    const char *pg[] = {"backup", "--store",
                        "postgresql://idpd:hunter2-not-printed@127.0.0.1:1/idpd", pg_file, NULL};
    c = ts_run(pg, NULL);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "pg_dump --schema=idpd") != NULL);
    CHECK(strstr(c->err, "idpd store copy") != NULL && strstr(c->err, "--to lmdb:DIR") != NULL);
    CHECK(strstr(c->out, "hunter2") == NULL && strstr(c->err, "hunter2") == NULL);
    CHECK(stat(pg_file, &sb) != 0);
    const char *pg_env[] = {"IDPD_STORE=postgres://idpd:hunter2-not-printed@127.0.0.1:1/idpd",
                            NULL};
    const char *by_env[] = {"backup", pg_file, NULL};
    c = ts_run(by_env, pg_env);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "pg_dump") != NULL);
    CHECK(strstr(c->err, "hunter2") == NULL);
    CHECK(stat(pg_file, &sb) != 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(backup_of_a_postgres_store_points_to_pg_dump);
    RUN(backup_while_serving_then_restore);
    RUN(backup_refusals);
    return ts_done();
}
