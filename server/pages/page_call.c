/* The state of one posted page form (struct srv_page_call), kept across the Argon2 suspension of a
 * sign-in: what the login, consent and device forms share. */
#include <stdlib.h>

#include "server/pages/pages.h"

static void page_call_free(void *state)
{
    struct srv_page_call *call = state;
    if (!call)
        return;
    srv_form_free(&call->form);
    srv_login_clear(&call->login);
    free(call->authz);
    free(call->device);
    free(call);
}

struct srv_page_call *srv_page_call_begin_or_error(struct srv_request *rq)
{
    struct srv_page_call *call = calloc(1, sizeof *call);
    if (!call) {
        srv_reply_oauth_error(rq, 500, "server_error", "out of memory");
        return NULL;
    }
    srv_rq_set_state(rq, call, page_call_free);
    if (srv_form_parse_or_error(rq, &call->form) != SRV_OK)
        return NULL;
    return call;
}
