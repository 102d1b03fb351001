/* req_initialize.c - "The initialize request is sent as the first request
 * from the client to the debug adapter in order to configure it with client
 * capabilities and to retrieve capabilities from the debug adapter."
 *
 * Capabilities come from the handler table (a request kdap has no handler
 * for is never advertised) plus the features handlers implement inside
 * requests they do handle (conditions, hit counts and log points travel in
 * setBreakpoints and are honoured by every backend kdap drives).
 */
#include <stdio.h>
#include <string.h>

#include "../adapters/adapter.h"
#include "session_int.h"

int dap__req_initialize(dap_session *s, struct dap_request *req, json_t *args,
                        json_t **body)
{
    const char *path_format = "path";
    int lines1 = 1, cols1 = 1, progress = 0, vartype = 0;
    json_error_t jerr;
    json_t *caps;
    json_t *filters;

    if (s->state != SS_NEW)
        return dap_error_set(&req->err, DAP_ESTATE,
                             "initialize was already sent in this session");
    if (json_unpack_ex(args, &jerr, 0,
                       "{s?s, s?b, s?b, s?b, s?b}", "pathFormat",
                       &path_format, "linesStartAt1", &lines1,
                       "columnsStartAt1", &cols1, "supportsProgressReporting",
                       &progress, "supportsVariableType", &vartype) < 0)
        return dap_error_set(&req->err, DAP_EINVAL,
                             "initialize: %s (check the argument types)",
                             jerr.text);
    if (strcmp(path_format, "path") != 0)
        return dap_error_set(&req->err, DAP_EUNSUPPORTED,
                             "initialize: pathFormat \"%s\" is not supported; "
                             "kdap works with \"path\"",
                             path_format);
    s->lines_start_at_1 = lines1;
    s->columns_start_at_1 = cols1;
    s->client_progress = progress;
    s->client_var_type = vartype;

    caps = json_pack("{s:b, s:b, s:b, s:b}", "supportsConditionalBreakpoints",
                     1, "supportsHitConditionalBreakpoints", 1,
                     "supportsLogPoints", 1, "supportTerminateDebuggee", 1);
    for (size_t i = 0; i < dap__handler_count(); i++) {
        const struct dap_handler *h = dap__handler_at(i);
        if (h->cap != NULL)
            json_object_set_new(caps, h->cap, json_true());
    }
    /* Exception filters of every runtime, prefixed so that one session
     * with several runtimes can tell them apart ("node:uncaught"). */
    filters = json_array();
    const struct adapter_kind *k;
    for (size_t r = 0; (k = adapter_kind_at(r)) != NULL; r++) {
        for (size_t f = 0; k->exception_filters[f] != NULL; f++) {
            char id[64];
            snprintf(id, sizeof(id), "%s:%s", k->runtime,
                     k->exception_filters[f]);
            json_array_append_new(filters,
                                  json_pack("{s:s, s:s}", "filter", id,
                                            "label", id));
        }
    }
    json_object_set_new(caps, "exceptionBreakpointFilters", filters);
    dap__set_state(s, SS_READY);
    *body = caps;
    return 0;
}
