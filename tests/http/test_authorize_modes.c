/* Authorization request parameters idpd does not implement (issue 12, finding 14) are refused,
 * never ignored: `request` answers request_not_supported and `request_uri`
 * request_uri_not_supported (RFC 9101, OIDC Core §6), a response_mode other than query
 * invalid_request, each through the redirect URI once the client and it are trusted; discovery
 * says so. */
#include <string.h>

#include "support.h"

#define REDIRECT "http://127.0.0.1:7777/cb"
#define CHALLENGE "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
/* an unsigned request object {"alg":"none"}.{"response_type":"code"}. */
#define REQUEST_OBJECT "eyJhbGciOiJub25lIn0.eyJyZXNwb25zZV90eXBlIjoiY29kZSJ9."

struct fx {
    struct ts_server *s;
    struct ts_account app;
};

static int fx_start(struct fx *f)
{
    const char *data = ts_path("data");
    const char *more[] = {"--name",         "Shop",   "--grant",       "authorization_code",
                          "--redirect-uri", REDIRECT, "--first-party", NULL};
    memset(f, 0, sizeof *f);
    if (!ts_app_create_with(data, more, &f->app))
        return 0;
    struct ts_opts o = {.data = data};
    return (f->s = ts_start(&o)) != NULL;
}

static const char *authorize_path(const char *client_id, const char *redirect, const char *extra)
{
    return ts_printf("/oauth/authorize?client_id=%s&redirect_uri=%s&response_type=code"
                     "&code_challenge=" CHALLENGE "&code_challenge_method=S256&state=st%%20ate"
                     "&scope=openid%s",
                     client_id, ts_form_escape(redirect), extra);
}

static struct ts_resp *get(struct fx *f, const char *path)
{
    struct ts_browser *b = ts_browser_new();
    struct ts_req r = {.path = path};
    return ts_browser_do(f->s, b, &r);
}

TEST(unsupported_parameters_are_redirected_errors)
{
    struct fx f;
    CHECK(fx_start(&f));
    static const struct {
        const char *extra, *error;
    } cases[] = {
        {"&request=" REQUEST_OBJECT, "request_not_supported"},
        {"&request_uri=https%3A%2F%2Fshop.example%2Freq%2F1", "request_uri_not_supported"},
        {"&request_uri=urn%3Aietf%3Aparams%3Aoauth%3Arequest_uri%3Ax", "request_uri_not_supported"},
        {"&response_mode=fragment", "invalid_request"},
        {"&response_mode=form_post", "invalid_request"},
        {"&response_mode=query.jwt", "invalid_request"},
        {"&response_mode=QUERY", "invalid_request"},
        /* with request and response_mode both wrong, the request is named */
        {"&response_mode=fragment&request=" REQUEST_OBJECT, "request_not_supported"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct ts_resp *r = get(&f, authorize_path(f.app.id, REDIRECT, cases[i].extra));
        const char *loc = ts_header(r, "Location");
        CHECK_MSG(r->status == 303 && loc, "%s: %ld", cases[i].extra, r->status);
        /* in the query, never a fragment, whatever response_mode asked */
        CHECK_MSG(strncmp(loc, REDIRECT "?", strlen(REDIRECT) + 1) == 0, "%s", loc);
        CHECK(strchr(loc, '#') == NULL);
        CHECK_STR(ts_url_param(loc, "error"), cases[i].error);
        CHECK(ts_url_param(loc, "error_description") != NULL);
        CHECK_STR(ts_url_param(loc, "state"), "st ate");
        CHECK_STR(ts_url_param(loc, "iss"), f.s->issuer);
        CHECK(ts_url_param(loc, "code") == NULL);
    }
    /* query, and empty values (omitted, RFC 6749 §3.1), go on to the login page */
    static const char *const fine[] = {"&response_mode=query",
                                       "&request=", "&request_uri=", "&response_mode="};
    for (size_t i = 0; i < sizeof fine / sizeof fine[0]; i++) {
        struct ts_resp *r = get(&f, authorize_path(f.app.id, REDIRECT, fine[i]));
        CHECK_MSG(r->status == 200, "%s: %ld", fine[i], r->status);
        CHECK(ts_header(r, "Location") == NULL);
    }
    /* before the redirect URI is trusted, nothing is sent anywhere: the error page */
    struct ts_resp *r =
        get(&f, authorize_path(f.app.id, "https://evil.example/cb", "&request=" REQUEST_OBJECT));
    CHECK_INT(r->status, 400);
    CHECK(ts_header(r, "Location") == NULL);
    /* a repeated parameter is refused before anything is trusted (RFC 6749 §3.1): a page too */
    r = get(&f, authorize_path(f.app.id, REDIRECT, "&response_mode=query&response_mode=fragment"));
    CHECK_INT(r->status, 400);
    CHECK(ts_header(r, "Location") == NULL);
    CHECK_INT(ts_stop(f.s), 0);
}

TEST(discovery_says_query_only_and_no_request_objects)
{
    struct fx f;
    CHECK(fx_start(&f));
    static const char *const paths[] = {"/.well-known/openid-configuration",
                                        "/.well-known/oauth-authorization-server"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        struct ts_req rq = {.path = paths[i]};
        struct ts_resp *r = ts_do(f.s, &rq);
        CHECK_INT(r->status, 200);
        CHECK_STR(ts_jarray_join(json_object_get(r->json, "response_modes_supported")), "query");
        CHECK(json_is_false(json_object_get(r->json, "request_parameter_supported")));
        CHECK(json_is_false(json_object_get(r->json, "request_uri_parameter_supported")));
    }
    CHECK_INT(ts_stop(f.s), 0);
}

int main(int argc, char **argv)
{
    ts_init(argc, argv);
    RUN(unsupported_parameters_are_redirected_errors);
    RUN(discovery_says_query_only_and_no_request_objects);
    return th_done();
}
