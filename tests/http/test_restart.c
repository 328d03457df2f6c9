/* Restart persistence: keys, accounts and tokens survive a clean stop and start on the same data
 * folder. The issuer is fixed with --issuer, since with --listen 127.0.0.1:0 the default issuer
 * names a port that changes from run to run. */
#include <signal.h>
#include <string.h>

#include "support.h"

static const char *const intro_roles[] = {"idp:introspect", NULL};
static const char *const app_roles[] = {"deployer", NULL};

TEST(restart_keeps_keys_accounts_and_tokens)
{
    const char *data = ts_path("data");
    const char *args[] = {"--issuer", "http://idpd.restart.test", NULL};
    struct ts_opts o = {.data = data, .args = args};
    struct ts_server *s1 = ts_start(&o);
    CHECK(s1);
    struct ts_account caller, app;
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    CHECK_INT(ts_sa_create(data, "app", app_roles, NULL, &app), 0);
    const char *tok = ts_token_str(s1, &app);
    CHECK(tok);
    const char *revoked = ts_token_str(s1, &app);
    CHECK(revoked);
    CHECK_INT(ts_revoke(s1, &app, revoked)->status, 200);
    struct ts_resp *jwks1 = ts_get(s1, "/jwks");
    CHECK_INT(jwks1->status, 200);
    CHECK_INT(ts_stop(s1), 0);
    CHECK(strstr(ts_log(s1), "\"msg\":\"stopped\"") != NULL);

    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    struct ts_resp *jwks2 = ts_get(s2, "/jwks");
    CHECK_INT(jwks2->status, 200);
    json_t *k1 = json_object_get(jwks1->json, "keys"), *k2 = json_object_get(jwks2->json, "keys");
    CHECK_INT(json_array_size(k1), 2);
    CHECK_INT(json_array_size(k2), 2);
    for (size_t i = 0; i < 2; i++) {
        const char *kid = ts_jstr(json_array_get(k1, i), "kid");
        json_t *same = ts_jwks_key(jwks2->json, kid);
        CHECK_MSG(same != NULL, "kid %s gone after restart", kid);
        CHECK(json_equal(same, json_array_get(k1, i)));
    }
    /* the token issued before the restart is still active, and still verifies offline */
    struct ts_resp *r = ts_introspect(s2, &caller, tok);
    CHECK_INT(r->status, 200);
    CHECK(json_is_true(json_object_get(r->json, "active")));
    CHECK_STR(ts_jstr(r->json, "sub"), app.id);
    json_t *h, *p;
    CHECK(ts_jwt_decode(tok, &h, &p) == 0);
    CHECK(ts_es256_verify(tok, ts_jwks_key(jwks2->json, ts_jstr(h, "kid"))));
    /* the revoked one stays revoked */
    CHECK_INACTIVE(ts_introspect(s2, &caller, revoked));
    /* the same credentials still work, and new tokens use the same key */
    const char *tok2 = ts_token_str(s2, &app);
    CHECK(tok2);
    json_t *h2, *p2;
    CHECK(ts_jwt_decode(tok2, &h2, &p2) == 0);
    CHECK_STR(ts_jstr(h2, "kid"), ts_jstr(h, "kid"));
    CHECK_STR(ts_jstr(p2, "iss"), "http://idpd.restart.test");
    CHECK_INT(ts_stop(s2), 0);
}

/* A token is tied to its issuer: the same folder served under another issuer refuses it. */
TEST(restart_under_other_issuer)
{
    const char *data = ts_path("data");
    const char *args1[] = {"--issuer", "http://one.test", NULL};
    const char *args2[] = {"--issuer", "http://two.test", NULL};
    struct ts_opts o1 = {.data = data, .args = args1}, o2 = {.data = data, .args = args2};
    struct ts_server *s1 = ts_start(&o1);
    CHECK(s1);
    struct ts_account caller, app;
    CHECK_INT(ts_sa_create(data, "resource-server", intro_roles, NULL, &caller), 0);
    CHECK_INT(ts_sa_create(data, "app", app_roles, NULL, &app), 0);
    const char *tok = ts_token_str(s1, &app);
    CHECK(tok);
    CHECK_INT(ts_stop(s1), 0);
    struct ts_server *s2 = ts_start(&o2);
    CHECK(s2);
    CHECK_INACTIVE(ts_introspect(s2, &caller, tok));
    CHECK_INT(ts_token(s2, &app, NULL)->status, 200);
}

/* SIGINT stops the server as cleanly as SIGTERM; a stop with a request in flight too. */
TEST(clean_stop)
{
    struct ts_server *s = ts_start(NULL);
    CHECK(s);
    struct ts_account app;
    CHECK_INT(ts_sa_create(s->data, "app", app_roles, NULL, &app), 0);
    CHECK(ts_token_str(s, &app));
    CHECK(kill(s->pid, SIGINT) == 0);
    CHECK(ts_log_wait(s, "\"msg\":\"stopped\"", 30000));
    CHECK(strstr(ts_log(s), "signal 2") != NULL);
    CHECK_INT(ts_stop(s), 0);

    struct ts_opts o = {.data = s->data};
    struct ts_server *s2 = ts_start(&o);
    CHECK(s2);
    /* a token request (Argon2 on a worker) racing the stop */
    struct ts_req rq = {.method = "POST",
                        .path = "/oauth/token",
                        .headers = (const char *[]){ts_basic(&app), NULL},
                        .body = "grant_type=client_credentials"};
    struct ts_resp *resp = NULL;
    CURL *e = ts_easy(s2, &rq, &resp);
    CURLM *m = curl_multi_init();
    curl_multi_add_handle(m, e);
    int running = 1;
    for (int i = 0; i < 20 && running; i++) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 5, NULL);
    }
    kill(s2->pid, SIGTERM);
    while (running) {
        curl_multi_perform(m, &running);
        curl_multi_poll(m, NULL, 0, 50, NULL);
    }
    CURLMsg *msg;
    int left;
    CURLcode res = CURLE_OK;
    while ((msg = curl_multi_info_read(m, &left)))
        if (msg->msg == CURLMSG_DONE)
            res = msg->data.result;
    curl_multi_remove_handle(m, e);
    curl_multi_cleanup(m);
    ts_easy_done(e, resp, res);
    CHECK_INT(ts_stop(s2), 0);
    /* answered or refused, never half-way: a 200 carries a token */
    if (resp->status == 200)
        CHECK(ts_jstr(resp->json, "access_token") != NULL);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(restart_keeps_keys_accounts_and_tokens);
    RUN(restart_under_other_issuer);
    RUN(clean_stop);
    return ts_done();
}
