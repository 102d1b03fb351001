/* fanout.c - one editor request sent to several services, answered once.
 *
 * Used where DAP has no id to route by (threads, configurationDone,
 * breakpoints by file): each selected service gets its own copy of the
 * arguments, and when the last backend has answered the handler's merge
 * function builds the single response.  req->parts holds, per service,
 * {"svc": id, "status": int, "body": response body|absent, "error": text}.
 */
#include <stdlib.h>

#include "fanout.h"
#include "log.h"

struct part_cb {
    struct dap_request *req;
    uint32_t svc;
    dap_fanout_done_fn *done;
};

static void part_done(void *data, int status, json_t *body,
                      const struct dap_error *err)
{
    struct part_cb *p = data;
    struct dap_request *req = p->req;
    json_t *part = json_pack("{s:i, s:i}", "svc", (int)p->svc, "status",
                             status);

    if (status == 0 && body != NULL)
        json_object_set(part, "body", body); /* remapped in place later */
    if (status < 0 && err != NULL)
        json_object_set_new(part, "error", json_string(err->msg));
    json_array_append_new(req->parts, part);
    if (--req->outstanding == 0)
        p->done(req->s, req);
    free(p);
}

int dap__fanout(dap_session *s, struct dap_request *req, const char *command,
                dap_fanout_args_fn *args_fn, dap_fanout_done_fn *done_fn)
{
    size_t sent = 0;

    req->parts = json_array();
    /* Count first so a backend that answers synchronously (it never
     * should) cannot complete the fan-out early. */
    req->outstanding = 1;
    for (size_t i = 0; i < s->nsvc; i++) {
        struct dap_service *svc = s->svc[i];
        struct part_cb *p;
        json_t *args;
        int rc;

        if (svc->state != SVC_READY)
            continue;
        args = args_fn(s, req, svc);
        if (args == NULL)
            continue;
        p = malloc(sizeof(*p));
        if (p == NULL) {
            json_decref(args);
            continue;
        }
        p->req = req;
        p->svc = svc->id;
        p->done = done_fn;
        req->outstanding++;
        rc = adapter_request(svc->ad, command, json_is_null(args) ? NULL : args,
                             part_done, p);
        json_decref(args);
        if (rc < 0) {
            struct dap_error e;
            dap_error_set(&e, rc, "service \"%s\": %s", svc->name,
                          dap_strerror(rc));
            req->outstanding--;
            json_array_append_new(req->parts,
                                  json_pack("{s:i, s:i, s:s}", "svc",
                                            (int)svc->id, "status", rc,
                                            "error", e.msg));
            free(p);
            continue;
        }
        sent++;
    }
    if (--req->outstanding == 0)
        done_fn(s, req);
    (void)sent;
    return DAP_PENDING;
}

struct dap_service *dap__part_service(dap_session *s, json_t *part)
{
    return dap__service_by_id(
        s, (uint32_t)json_integer_value(json_object_get(part, "svc")));
}

int dap__part_ok(json_t *part)
{
    return json_integer_value(json_object_get(part, "status")) == 0;
}

int dap__part_status(json_t *part)
{
    return (int)json_integer_value(json_object_get(part, "status"));
}

json_t *dap__part_body(json_t *part)
{
    return json_object_get(part, "body");
}

const char *dap__part_error(json_t *part)
{
    const char *m = json_string_value(json_object_get(part, "error"));

    return m != NULL ? m : "request failed";
}
