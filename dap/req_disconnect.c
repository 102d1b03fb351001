/* req_disconnect.c - disconnect and terminate.
 *
 * disconnect: "asks the debug adapter to disconnect from the debuggee (thus
 * ending the debug session) and then to shut down itself".  Attached
 * debuggees keep running unless terminateDebuggee is true; each backend
 * detaches so that nothing it did stays behind (breakpoints removed, the
 * program resumed).  The response comes once every service is done.
 *
 * terminate: "gives the debuggee a chance for terminating itself".  For an
 * attach session that ends the attached processes; the editor only sends it
 * when the user asks for exactly that.
 */
#include <string.h>

#include "session_int.h"

int dap__req_disconnect(dap_session *s, struct dap_request *req, json_t *args,
                        json_t **body)
{
    int terminate = 0;
    json_t *t = json_object_get(args, "terminateDebuggee");

    (void)body;
    if (t != NULL && !json_is_boolean(t))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "disconnect: \"terminateDebuggee\" must be a "
                             "boolean");
    terminate = json_is_true(t);
    if (s->stop_req != NULL)
        return dap_error_set(&req->err, DAP_ESTATE,
                             "a disconnect is already in progress");
    s->stop_req = req;
    if (s->attach_req != NULL) {
        struct dap_request *a = s->attach_req;
        s->attach_req = NULL;
        dap__respond_err(s, a, DAP_ECANCELLED,
                         "cancelled: the editor disconnected");
    }
    if (s->state == SS_STOPPING)
        return DAP_PENDING; /* a shutdown is under way; answer when done */
    dap__stop_all(s, terminate ? ADAPTER_TERMINATE : ADAPTER_DETACH);
    return DAP_PENDING;
}

int dap__req_terminate(dap_session *s, struct dap_request *req, json_t *args,
                       json_t **body)
{
    (void)args;
    (void)body;
    if (s->stop_req != NULL)
        return dap_error_set(&req->err, DAP_ESTATE,
                             "the session is already ending");
    s->stop_req = req;
    dap__stop_all(s, ADAPTER_TERMINATE);
    return DAP_PENDING;
}
