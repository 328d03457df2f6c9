/* bench-mhd: the libmicrohttpd ceilings of bench/run. It runs libmicrohttpd the way idpd does
 * (thread pool of 4 on epoll, suspend/resume allowed) and answers every request:
 *   fixed  a constant 64-byte JSON body (what serving a pre-rendered document can reach);
 *   sign   a fresh ES256 JWT per request from a key parsed once (what issuing a token can reach:
 *          the HTTP and signing cost without client authentication, claims or audit).
 * Usage: bench-mhd fixed|sign  (listens on 127.0.0.1, an ephemeral port, printed as {"port":N};
 * stops on SIGTERM or SIGINT). Loopback only: it is a measuring stick, not a server. */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/crypto.h"

static const char fixed_body[] = "{\"status\":\"ok\",\"padding\":\"0123456789abcdef0123456789\"}\n";
static EVP_PKEY *sign_key;
static int sign_mode;

/* Header {"alg":"ES256","typ":"at+jwt","kid":"bench"} in base64url. */
static const char jwt_header[] = "eyJhbGciOiJFUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImJlbmNoIn0";

static int der_to_raw(const unsigned char *der, size_t der_len, unsigned char raw[64])
{
    const unsigned char *p = der;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    if (!sig)
        return -1;
    const BIGNUM *r, *s;
    ECDSA_SIG_get0(sig, &r, &s);
    int ok = BN_bn2binpad(r, raw, 32) == 32 && BN_bn2binpad(s, raw + 32, 32) == 32;
    ECDSA_SIG_free(sig);
    return ok ? 0 : -1;
}

/* Signs a token with the claims an idpd client-credentials token carries, so the signed input is
 * the same size. Returns a malloc'd JSON body or NULL. */
static char *sign_token(size_t *len)
{
    unsigned char jti[16], der[80], raw[64];
    char jti_b64[32], claims[512], claims_b64[700], sig_b64[96], *body = NULL;
    size_t der_len = sizeof der;
    EVP_MD_CTX *md = NULL;
    if (RAND_bytes(jti, sizeof jti) != 1)
        return NULL;
    crypto_b64url_encode(jti, sizeof jti, jti_b64, sizeof jti_b64, NULL);
    long now = (long)time(NULL);
    int n =
        snprintf(claims, sizeof claims,
                 "{\"iss\":\"http://127.0.0.1:8080\",\"sub\":\"sa_01JBENCHBENCHBENCHBENCHBENC\","
                 "\"aud\":\"http://127.0.0.1:8080\",\"client_id\":\"sa_01JBENCHBENCHBENCHBENCHBENC"
                 "\",\"iat\":%ld,\"nbf\":%ld,\"exp\":%ld,\"jti\":\"%s\",\"scope\":\"idp:"
                 "introspect\",\"roles\":[\"idp:introspect\"],\"principal_type\":\"service_"
                 "account\"}",
                 now, now, now + 3600, jti_b64);
    if (n < 0 || (size_t)n >= sizeof claims)
        return NULL;
    crypto_b64url_encode(claims, (size_t)n, claims_b64, sizeof claims_b64, NULL);
    char input[800];
    int in_len = snprintf(input, sizeof input, "%s.%s", jwt_header, claims_b64);
    if (!(md = EVP_MD_CTX_new()) ||
        EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, sign_key) != 1 ||
        EVP_DigestSign(md, der, &der_len, (const unsigned char *)input, (size_t)in_len) != 1 ||
        der_to_raw(der, der_len, raw) != 0)
        goto out;
    crypto_b64url_encode(raw, sizeof raw, sig_b64, sizeof sig_b64, NULL);
    size_t cap = (size_t)in_len + strlen(sig_b64) + 128;
    if (!(body = malloc(cap)))
        goto out;
    *len = (size_t)snprintf(body, cap,
                            "{\"access_token\":\"%s.%s\",\"token_type\":\"Bearer\","
                            "\"expires_in\":3600}",
                            input, sig_b64);
out:
    EVP_MD_CTX_free(md);
    return body;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **state)
{
    static int marker;
    if (!*state) { /* first call: headers only */
        *state = &marker;
        return MHD_YES;
    }
    if (*upload_size) { /* the body is read and dropped, as idpd reads a form */
        *upload_size = 0;
        return MHD_YES;
    }
    struct MHD_Response *r;
    if (sign_mode) {
        size_t len = 0;
        char *body = sign_token(&len);
        if (!body)
            return MHD_NO;
        r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    } else {
        r = MHD_create_response_from_buffer(sizeof fixed_body - 1, (void *)fixed_body,
                                            MHD_RESPMEM_PERSISTENT);
    }
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, "Content-Type", "application/json");
    enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static volatile sig_atomic_t stop;
static void on_signal(int sig)
{
    stop = sig;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "fixed") && strcmp(argv[1], "sign"))) {
        fprintf(stderr, "usage: bench-mhd fixed|sign\n");
        return 2;
    }
    sign_mode = !strcmp(argv[1], "sign");
    if (sign_mode && !(sign_key = EVP_EC_gen("P-256"))) {
        fprintf(stderr, "bench-mhd: cannot generate a P-256 key\n");
        return 1;
    }
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME, 0, NULL, NULL,
        on_request, NULL, MHD_OPTION_SOCK_ADDR, &addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
        MHD_OPTION_CONNECTION_TIMEOUT, 30u, MHD_OPTION_CONNECTION_LIMIT, 4096u, MHD_OPTION_END);
    if (!d) {
        fprintf(stderr, "bench-mhd: cannot start libmicrohttpd\n");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("{\"port\":%u}\n", info ? info->port : 0);
    fflush(stdout);
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    while (!stop)
        pause();
    MHD_stop_daemon(d);
    EVP_PKEY_free(sign_key);
    return 0;
}
