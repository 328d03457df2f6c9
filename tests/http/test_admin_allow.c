/* admin_allow: an instance-wide list of networks that may reach /admin/v1 (IP access lists in
 * the seeds). Others get 403 before any token is looked at; the other endpoints stay open; a
 * list that does not parse stops the start. */
#include <string.h>

#include "support.h"

static const char *const admin_roles[] = {"idp:admin", NULL};

TEST(only_listed_networks_reach_the_admin_api)
{
    static const char *const env[] = {"IDPD_ADMIN_ALLOW=10.0.0.0/8, 127.0.0.2", NULL};
    const char *data = ts_path("data");
    struct ts_account admin;
    CHECK_INT(ts_sa_create(data, "admin", admin_roles, NULL, &admin), 0);
    struct ts_opts o = {.data = data, .env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    /* the token endpoint is not the admin API: open to 127.0.0.1 */
    const char *tok = ts_token_str(s, &admin);
    CHECK(tok);
    const char *bearer = ts_printf("Authorization: Bearer %s", tok);
    /* 127.0.0.1 is not listed: refused with a valid admin token, and without one */
    struct ts_resp *r = ts_bearer(s, "GET", "/admin/v1/users", tok, NULL);
    CHECK_PROBLEM(r, 403);
    CHECK(strstr(ts_jstr(r->json, "detail"), "not open to this address") != NULL);
    CHECK_PROBLEM(ts_bearer(s, "GET", "/admin/v1/users", NULL, NULL), 403);
    CHECK_PROBLEM(ts_bearer(s, "POST", "/admin/v1/users", tok, "{\"email\":\"x@example.com\"}"),
                  403);
    /* 127.0.0.2 is listed */
    CHECK_INT(ts_status_from(s, "127.0.0.2", "GET", "/admin/v1/users", bearer, NULL), 200);
    CHECK_INT(ts_status_from(s, "127.0.0.2", "GET", "/admin/v1/users", NULL, NULL), 401);
    /* the refused POST created nothing */
    CHECK_INT(ts_status_from(s, "127.0.0.2", "GET", "/admin/v1/users?email=x%40example.com", bearer,
                             NULL),
              200);
    r = ts_get(s, "/jwks");
    CHECK_INT(r->status, 200);
    CHECK_INT(ts_stop(s), 0);
}

TEST(a_bad_list_stops_the_start)
{
    static const char *const bad[][3] = {
        {"serve", "--admin-allow", "10.0.0.1/8"}, /* host bits set */
        {"serve", "--admin-allow", "not-a-network"},
        {"serve", "--admin-allow", ","},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *args[] = {bad[i][0],     "--data",  ts_path("data"), "--listen",
                              "127.0.0.1:0", bad[i][1], bad[i][2],       NULL};
        struct ts_cmd *c = ts_run(args, NULL);
        CHECK_INT(c->status, 2);
        CHECK(strstr(c->err, "admin_allow") != NULL);
    }
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(only_listed_networks_reach_the_admin_api);
    RUN(a_bad_list_stops_the_start);
    return ts_done();
}
