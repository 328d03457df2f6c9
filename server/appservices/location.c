/* GET /api/client/v2.0/app/{app_id}/location: where the SDK sends every later call. hostname is
 * the issuer without a trailing slash (the SDKs append the API's paths to it as it is),
 * ws_hostname its WebSocket form, which native SDKs require although idpd serves no sync. */
#include <stdlib.h>
#include <string.h>

#include "server/appservices/appservices.h"

void srv_as_location(struct srv_request *rq)
{
    struct store_application *app = NULL;
    char host[1024], ws[1024 + 8];
    if (srv_as_app_or_error(rq, &app) != SRV_OK)
        return;
    snprintf(host, sizeof host, "%s", srv_rq_ctx(rq)->issuer);
    for (size_t n = strlen(host); n > 0 && host[n - 1] == '/'; n--)
        host[n - 1] = '\0';
    if (strncmp(host, "https://", 8) == 0)
        snprintf(ws, sizeof ws, "wss://%s", host + 8);
    else if (strncmp(host, "http://", 7) == 0)
        snprintf(ws, sizeof ws, "ws://%s", host + 7);
    else
        snprintf(ws, sizeof ws, "%s", host);
    srv_reply_json(rq, 200,
                   json_pack("{s:s, s:s, s:s, s:s}", "deployment_model", "GLOBAL", "location",
                             "idpd", "hostname", host, "ws_hostname", ws),
                   NULL);
    free(app);
}
