/* HTTPS: --tls-cert and --tls-key serve TLS 1.2 and 1.3 (not older, not plain HTTP) with a
 * self-signed certificate made here, and the issuer becomes https://. Bad TLS settings stop the
 * start with a message. */
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "support.h"

static const char *const roles[] = {"deployer", NULL};

/* A P-256 key and a one-hour self-signed certificate for IP 127.0.0.1, as PEM files. */
static int make_cert(const char *cert_path, const char *key_path)
{
    int ok = 0;
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_EXTENSION *san = NULL;
    FILE *cf = NULL, *kf = NULL;
    X509V3_CTX v3;
    if (!k || !x || !X509_set_version(x, 2) || !ASN1_INTEGER_set(X509_get_serialNumber(x), 1) ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -60) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 3600) || !X509_set_pubkey(x, k))
        goto out;
    X509_NAME *name = X509_get_subject_name(x);
    if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"127.0.0.1",
                                    -1, -1, 0) ||
        !X509_set_issuer_name(x, name))
        goto out;
    X509V3_set_ctx_nodb(&v3);
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    if (!(san = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name, "IP:127.0.0.1")) ||
        !X509_add_ext(x, san, -1) || !X509_sign(x, k, EVP_sha256()))
        goto out;
    if (!(cf = fopen(cert_path, "w")) || !(kf = fopen(key_path, "w")) || !PEM_write_X509(cf, x) ||
        !PEM_write_PrivateKey(kf, k, NULL, NULL, 0, NULL, NULL))
        goto out;
    ok = 1;
out:
    if (cf && fclose(cf) != 0)
        ok = 0;
    if (kf && fclose(kf) != 0)
        ok = 0;
    X509_EXTENSION_free(san);
    X509_free(x);
    EVP_PKEY_free(k);
    return ok && chmod(key_path, 0600) == 0;
}

/* GET, or POST when body is set, of url trusting only ca, with TLS versions from min to max
 * (curl's CURL_SSLVERSION_* values). r->curl says whether the transfer worked. */
static struct ts_resp *fetch(struct ts_server *s, const char *url, const char *ca, long versions,
                             const char *userpwd, const char *body)
{
    struct ts_req rq = {.path = "", .body = body};
    struct ts_resp *r;
    CURL *e = ts_easy(s, &rq, &r);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    curl_easy_setopt(e, CURLOPT_SSLVERSION, versions);
    if (userpwd)
        curl_easy_setopt(e, CURLOPT_USERPWD, userpwd);
    ts_easy_done(e, r, curl_easy_perform(e));
    return r;
}

TEST(https_with_tls_1_2_and_1_3_only)
{
    const char *cert = ts_path("cert.pem"), *key = ts_path("key.pem"), *data = ts_path("data");
    CHECK(make_cert(cert, key));
    struct ts_account a;
    CHECK_INT(ts_sa_create(data, "deployer", roles, NULL, &a), 0);
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    struct ts_opts o = {.data = data, .args = args};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    const char *base = ts_printf("https://127.0.0.1:%u", s->port);
    CHECK_STR(s->issuer, base);
    struct ts_resp *r = fetch(s, ts_printf("%s/.well-known/openid-configuration", base), cert,
                              CURL_SSLVERSION_TLSv1_2, NULL, NULL);
    CHECK_INT(r->curl, CURLE_OK);
    CHECK_INT(r->status, 200);
    CHECK_STR(ts_jstr(r->json, "issuer"), base);
    CHECK_STR(ts_jstr(r->json, "token_endpoint"), ts_printf("%s/oauth/token", base));
    /* a token over TLS 1.3 carries the https issuer */
    r = fetch(s, ts_printf("%s/oauth/token", base), cert, CURL_SSLVERSION_TLSv1_3,
              ts_printf("%s:%s", a.id, a.secret), "grant_type=client_credentials");
    CHECK_INT(r->curl, CURLE_OK);
    CHECK_INT(r->status, 200);
    json_t *h, *p;
    CHECK(ts_jwt_decode(ts_jstr(r->json, "access_token"), &h, &p) == 0);
    CHECK_STR(ts_jstr(p, "iss"), base);
    /* TLS 1.2 at most still works; 1.1 at most is refused in the handshake */
    r = fetch(s, ts_printf("%s/jwks", base), cert,
              CURL_SSLVERSION_TLSv1_2 | CURL_SSLVERSION_MAX_TLSv1_2, NULL, NULL);
    CHECK_INT(r->curl, CURLE_OK);
    CHECK_INT(r->status, 200);
    r = fetch(s, ts_printf("%s/jwks", base), cert,
              CURL_SSLVERSION_TLSv1_0 | CURL_SSLVERSION_MAX_TLSv1_1, NULL, NULL);
    CHECK(r->curl != CURLE_OK);
    CHECK_INT(r->status, 0);
    /* plain HTTP on the TLS port gets no answer */
    r = fetch(s, ts_printf("http://127.0.0.1:%u/jwks", s->port), cert, CURL_SSLVERSION_DEFAULT,
              NULL, NULL);
    CHECK(r->curl != CURLE_OK || r->status != 200);
    /* the certificate must be the one trusted: another CA is refused */
    const char *other = ts_path("other.pem"), *other_key = ts_path("other-key.pem");
    CHECK(make_cert(other, other_key));
    r = fetch(s, ts_printf("%s/jwks", base), other, CURL_SSLVERSION_TLSv1_2, NULL, NULL);
    CHECK_INT(r->curl, CURLE_PEER_FAILED_VERIFICATION);
    CHECK_INT(ts_stop(s), 0);
}

/* method path over HTTPS trusting only ca, with a body of content_type and a Cookie header. */
static struct ts_resp *tls_req(struct ts_server *s, const char *ca, const char *path,
                               const char *body, const char *content_type, const char *cookie)
{
    const char *headers[] = {cookie ? ts_printf("Cookie: %s", cookie) : NULL, NULL};
    struct ts_req rq = {
        .path = path, .body = body, .content_type = content_type, .headers = headers};
    struct ts_resp *r;
    CURL *e = ts_easy(s, &rq, &r);
    curl_easy_setopt(e, CURLOPT_URL, ts_printf("%s%s", s->issuer, path));
    curl_easy_setopt(e, CURLOPT_CAINFO, ca);
    ts_easy_done(e, r, curl_easy_perform(e));
    return r;
}

/* The name=value part of a Set-Cookie value. */
static const char *cookie_pair(const char *set_cookie)
{
    return set_cookie ? ts_printf("%.*s", (int)strcspn(set_cookie, ";"), set_cookie) : NULL;
}

/* Over HTTPS the page's cookies take the __Host- prefix and Secure (no Domain, Path=/). */
TEST(https_cookies_are_host_only_and_secure)
{
    const char *cert = ts_path("cert.pem"), *key = ts_path("key.pem"), *data = ts_path("data");
    CHECK(make_cert(cert, key));
    const char *more[] = {"--name",
                          "shop",
                          "--first-party",
                          "--grant",
                          "authorization_code",
                          "--redirect-uri",
                          "https://127.0.0.1:7777/cb",
                          NULL};
    struct ts_account app;
    CHECK(ts_app_create_with(data, more, &app));
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, "--allow-registration", NULL};
    static const char *const env[] = {"IDPD_RATE_LIMIT_REGISTER=0", NULL};
    struct ts_opts o = {.data = data, .args = args, .env = env};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    CHECK_INT(tls_req(s, cert, "/v1/register",
                      ts_printf("{\"client_id\":\"%s\",\"email\":\"tls@example.com\","
                                "\"password\":\"a long password\"}",
                                app.id),
                      "application/json", NULL)
                  ->status,
              201);
    const char *query = ts_printf("client_id=%s&redirect_uri=%s&response_type=code"
                                  "&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
                                  "&code_challenge_method=S256",
                                  app.id, ts_form_escape("https://127.0.0.1:7777/cb"));
    struct ts_resp *page =
        tls_req(s, cert, ts_printf("/oauth/authorize?%s", query), NULL, NULL, NULL);
    CHECK_INT(page->status, 200);
    const char *csrf_set = ts_header(page, "Set-Cookie");
    CHECK(csrf_set && strncmp(csrf_set, "__Host-idpd_csrf=", 17) == 0);
    CHECK(strstr(csrf_set, "; Secure") && strstr(csrf_set, "Path=/") &&
          !strstr(csrf_set, "Domain") && strstr(csrf_set, "SameSite=Strict"));
    const char *csrf = ts_html_field(page->body, "csrf");
    struct ts_resp *r = tls_req(
        s, cert, "/login",
        ts_printf("csrf=%s&%s&email=tls%%40example.com&password=a+long+password", csrf, query),
        NULL, cookie_pair(csrf_set));
    CHECK_INT(r->status, 303);
    const char *sso = ts_header(r, "Set-Cookie");
    CHECK(sso && strncmp(sso, "__Host-idpd_session=", 20) == 0);
    CHECK(strstr(sso, "; Secure") && strstr(sso, "HttpOnly") && strstr(sso, "SameSite=Lax") &&
          strstr(sso, "Path=/") && !strstr(sso, "Domain"));
    /* the cookie signs the browser in: the next authorize gives a code */
    r = tls_req(s, cert, ts_printf("/oauth/authorize?%s", query), NULL, NULL, cookie_pair(sso));
    CHECK_INT(r->status, 303);
    CHECK(ts_url_param(ts_header(r, "Location"), "code") != NULL);
    CHECK_INT(ts_stop(s), 0);
}

/* Over HTTPS every answer (a document, a cached one, an error) carries Strict-Transport-Security
 * with hsts_max_age and no includeSubDomains; hsts_max_age=0 turns it off; plain HTTP never
 * carries it. */
TEST(hsts_over_tls_only)
{
    const char *cert = ts_path("cert.pem"), *key = ts_path("key.pem");
    CHECK(make_cert(cert, key));
    const char *args[] = {"--tls-cert", cert, "--tls-key", key, NULL};
    struct ts_opts o = {.args = args};
    struct ts_server *s = ts_start(&o);
    CHECK(s);
    if (!s)
        return;
    static const char *const paths[] = {"/healthz", "/jwks",  "/.well-known/openid-configuration",
                                        "/nowhere", "/v1/me", NULL};
    static const long statuses[] = {200, 200, 200, 404, 401};
    for (size_t i = 0; paths[i]; i++) {
        struct ts_resp *r = tls_req(s, cert, paths[i], NULL, NULL, NULL);
        CHECK_INT(r->curl, CURLE_OK);
        CHECK_INT(r->status, statuses[i]);
        CHECK_STR(ts_header(r, "Strict-Transport-Security"), "max-age=31536000");
    }
    struct ts_resp *r = tls_req(s, cert, "/oauth/token", "grant_type=nope", NULL, NULL);
    CHECK_INT(r->status, 400);
    CHECK_STR(ts_jstr(r->json, "error"), "unsupported_grant_type");
    CHECK_STR(ts_header(r, "Strict-Transport-Security"), "max-age=31536000");
    CHECK_INT(ts_stop(s), 0);

    static const char *const off[] = {"IDPD_HSTS_MAX_AGE=0", NULL};
    struct ts_opts o_off = {.args = args, .env = off};
    s = ts_start(&o_off);
    CHECK(s);
    if (!s)
        return;
    r = tls_req(s, cert, "/healthz", NULL, NULL, NULL);
    CHECK_INT(r->status, 200);
    CHECK(ts_header(r, "Strict-Transport-Security") == NULL);
    CHECK_INT(ts_stop(s), 0);

    s = ts_start(NULL);
    CHECK(s);
    if (!s)
        return;
    r = ts_get(s, "/healthz");
    CHECK_INT(r->status, 200);
    CHECK_STR(r->body, "{\"status\":\"ok\"}");
    CHECK(ts_header(r, "Strict-Transport-Security") == NULL);
    CHECK_INT(ts_stop(s), 0);
}

TEST(bad_tls_settings_stop_the_start)
{
    const char *cert = ts_path("cert.pem"), *key = ts_path("key.pem");
    CHECK(make_cert(cert, key));
    const char *data = ts_path("data");
    /* one without the other: usage */
    const char *only_cert[] = {"serve",       "--data",     data, "--listen",
                               "127.0.0.1:0", "--tls-cert", cert, NULL};
    struct ts_cmd *c = ts_run(only_cert, NULL);
    CHECK_INT(c->status, 2);
    CHECK(strstr(c->err, "tls_cert and tls_key go together") != NULL);
    /* a key others can read */
    CHECK(chmod(key, 0644) == 0);
    const char *both[] = {"serve",      "--data", data,        "--listen", "127.0.0.1:0",
                          "--tls-cert", cert,     "--tls-key", key,        NULL};
    c = ts_run(both, NULL);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "can be read by others") != NULL);
    /* a certificate that is not PEM */
    CHECK(chmod(key, 0600) == 0);
    FILE *f = fopen(cert, "w");
    CHECK(f && fputs("not a certificate\n", f) >= 0 && fclose(f) == 0);
    c = ts_run(both, NULL);
    CHECK_INT(c->status, 1);
    /* a missing file */
    const char *missing[] = {
        "serve",     "--data", data, "--listen", "127.0.0.1:0", "--tls-cert", ts_path("nope.pem"),
        "--tls-key", key,      NULL};
    c = ts_run(missing, NULL);
    CHECK_INT(c->status, 1);
    CHECK(strstr(c->err, "cannot read TLS certificate") != NULL);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    RUN(https_with_tls_1_2_and_1_3_only);
    RUN(https_cookies_are_host_only_and_secure);
    RUN(hsts_over_tls_only);
    RUN(bad_tls_settings_stop_the_start);
    return ts_done();
}
