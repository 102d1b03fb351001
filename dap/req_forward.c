/* req_forward.c - requests that belong to exactly one service.
 *
 * The ids in the arguments (threadId, frameId, variablesReference,
 * sourceReference) name the service; remap.c translates them and the paths,
 * the backend answers in its own terms, and the answer is translated back.
 * Requests that resume a program (continue, next, stepIn, stepOut) first
 * invalidate that service's frame and variable ids: DAP says they are only
 * valid while stopped, and a stale id must fail rather than name something
 * else.
 */
#include <string.h>

#include "log.h"
#include "session_int.h"

static void forward_done(void *data, int status, json_t *answer,
                         const struct dap_error *err)
{
    struct dap_request *req = data;
    dap_session *s = req->s;
    struct dap_service *svc = req->svc;
    json_t *body;

    if (status < 0) {
        dap__respond_backend_err(s, req, svc, status, err);
        return;
    }
    body = json_incref(answer); /* remapped in place */
    if (body != NULL && dap__remap_to_client(s, svc, body) < 0) {
        json_decref(body);
        dap__respond_err(s, req, DAP_ENOMEM, "out of memory");
        return;
    }
    if (req->h->flags & DAP_H_RESUMES) {
        svc->stopped = 0;
        if (s->nsvc > 1 && strcmp(req->command, "continue") == 0) {
            if (body == NULL)
                body = json_object();
            /* Only this service resumed: the editor must not think the
             * others did. */
            json_object_set_new(body, "allThreadsContinued", json_false());
        }
    }
    dap__respond(s, req, body);
}

/* The service a request without ids goes to, or NULL. */
static struct dap_service *pick_default(dap_session *s, unsigned flags)
{
    struct dap_service *only = NULL;
    size_t alive = 0;

    if ((flags & DAP_H_FOCUS) && s->focused != NULL &&
        s->focused->state == SVC_READY)
        return s->focused;
    for (size_t i = 0; i < s->nsvc; i++) {
        if (s->svc[i]->state == SVC_READY) {
            alive++;
            if (only == NULL)
                only = s->svc[i];
        }
    }
    if (alive == 1 || (flags & DAP_H_FOCUS))
        return only;
    return NULL;
}

/* The argument each forwarded request cannot do without, and its type:
 * checked here so that a malformed request gets kdap's clear error instead
 * of whatever the backend makes of it. */
static const struct {
    const char *command;
    const char *key;
    json_type type;
} required[] = {
    {"continue", "threadId", JSON_INTEGER},
    {"evaluate", "expression", JSON_STRING},
    {"exceptionInfo", "threadId", JSON_INTEGER},
    {"next", "threadId", JSON_INTEGER},
    {"pause", "threadId", JSON_INTEGER},
    {"scopes", "frameId", JSON_INTEGER},
    {"setVariable", "variablesReference", JSON_INTEGER},
    {"setVariable", "name", JSON_STRING},
    {"setVariable", "value", JSON_STRING},
    {"stackTrace", "threadId", JSON_INTEGER},
    {"stepIn", "threadId", JSON_INTEGER},
    {"stepOut", "threadId", JSON_INTEGER},
    {"variables", "variablesReference", JSON_INTEGER},
};

static int check_args(struct dap_request *req, json_t *args)
{
    for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
        json_t *v;
        if (strcmp(required[i].command, req->command) != 0)
            continue;
        v = json_object_get(args, required[i].key);
        if (v == NULL || json_typeof(v) != required[i].type)
            return dap_error_set(&req->err, DAP_EINVAL,
                                 "'%s' needs \"%s\" as %s", req->command,
                                 required[i].key,
                                 required[i].type == JSON_INTEGER
                                     ? "an integer"
                                     : "a string");
    }
    return 0;
}

int dap__req_forward(dap_session *s, struct dap_request *req, json_t *args,
                     json_t **body)
{
    struct dap_service *svc = NULL;
    int rc;

    (void)body;
    rc = check_args(req, args);
    if (rc < 0)
        return rc;
    rc = dap__remap_to_backend(s, args, &svc, &req->err);
    if (rc < 0)
        return rc;
    if (svc == NULL)
        svc = pick_default(s, req->h->flags);
    if (svc == NULL)
        return dap_error_set(&req->err, DAP_EINVAL,
                             "'%s' must say which thread, frame or variable "
                             "it is about (threadId, frameId or "
                             "variablesReference): this session debugs "
                             "several services",
                             req->command);
    if (svc->state != SVC_READY)
        return dap_error_set(&req->err, DAP_ECLOSED,
                             "service \"%s\" is no longer attached",
                             svc->name);
    dap__paths_to_backend(svc, args);
    if (req->h->flags & DAP_H_RESUMES)
        dap__reset_stopped_ids(s, svc);
    req->svc = svc;
    rc = adapter_request(svc->ad, req->command, args, forward_done, req);
    if (rc < 0)
        return dap_error_set(&req->err, rc, "service \"%s\": %s", svc->name,
                             dap_strerror(rc));
    return DAP_PENDING;
}
