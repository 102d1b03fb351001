/* req_breakpoints.c - breakpoints across services, and configurationDone.
 *
 * setBreakpoints "sets multiple breakpoints for a single source and clears
 * all previous breakpoints in that source".  The file decides which
 * services get it: those whose path mapping covers it (a service without
 * mapping rules takes every file).  Each gets the file under its own remote
 * path; the answers are merged entry by entry (the response must have the
 * request's length and order): an entry is verified if any service verified
 * it, and one kdap breakpoint id stands for the breakpoints of all services,
 * so `breakpoint` events and hitBreakpointIds from any of them name it.
 *
 * setFunctionBreakpoints goes to every service and merges the same way.
 * setExceptionBreakpoints splits the filters by their runtime prefix
 * ("node:uncaught" goes to node services as "uncaught").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fanout.h"
#include "log.h"
#include "utf8.h"

/* Breakpoints per request.  Far more than any editor sets in one file, few
 * enough that the answer (an entry per breakpoint, from every service)
 * stays well inside a DAP message and the debuggers are not asked to plant
 * a hundred thousand at once. */
#define MAX_BREAKPOINTS 10000

static int check_count(struct dap_request *req, size_t n)
{
    if (n <= MAX_BREAKPOINTS)
        return 0;
    return dap_error_set(&req->err, DAP_ETOOBIG,
                         "%s: %zu breakpoints in one request; at most %d are "
                         "accepted",
                         req->command, n, MAX_BREAKPOINTS);
}

/* ---- merging ----------------------------------------------------------- */

/* Merge the `breakpoints` arrays of every part into one of `n` entries. */
static json_t *merge_breakpoints(dap_session *s, struct dap_request *req,
                                 size_t n, const char *what)
{
    json_t *parts = req->parts;
    size_t np = json_array_size(parts);
    json_t *merged = json_array();
    json_t **remote_ids = calloc(np ? np : 1, sizeof(json_t *));
    json_t **arrays = calloc(np ? np : 1, sizeof(json_t *));
    const char *first_error = NULL;

    if (remote_ids == NULL || arrays == NULL || merged == NULL)
        goto fail;
    /* Remember each backend's own ids, then translate each part. */
    for (size_t j = 0; j < np; j++) {
        json_t *part = json_array_get(parts, j);
        struct dap_service *svc = dap__part_service(s, part);
        json_t *bps;
        json_t *b;
        size_t i;

        if (svc == NULL)
            continue;
        if (!dap__part_ok(part)) {
            if (first_error == NULL)
                first_error = dap__part_error(part);
            DAP_LOGW("service %s: %s failed: %s", svc->name, what,
                     dap__part_error(part));
            continue;
        }
        bps = json_object_get(dap__part_body(part), "breakpoints");
        if (!json_is_array(bps))
            continue;
        remote_ids[j] = json_array();
        json_array_foreach(bps, i, b)
            json_array_append(remote_ids[j], json_object_get(b, "id"));
        json_t *wrap = json_pack("{s:O}", "breakpoints", bps);
        if (dap__remap_to_client(s, svc, wrap) == 0)
            arrays[j] = json_incref(json_object_get(wrap, "breakpoints"));
        json_decref(wrap);
    }
    for (size_t i = 0; i < n; i++) {
        json_t *best = NULL;
        size_t w = 0;
        for (size_t j = 0; j < np; j++) {
            json_t *e = arrays[j] != NULL ? json_array_get(arrays[j], i) : NULL;
            if (e == NULL)
                continue;
            if (best == NULL ||
                (!json_is_true(json_object_get(best, "verified")) &&
                 json_is_true(json_object_get(e, "verified")))) {
                best = e;
                w = j;
            }
        }
        if (best == NULL) {
            char msg[300];
            dap_utf8_snprintf(msg, sizeof(msg), "%s",
                     first_error != NULL ? first_error
                                         : "no service accepted this "
                                           "breakpoint");
            json_array_append_new(merged,
                                  json_pack("{s:b, s:s}", "verified", 0,
                                            "message", msg));
            continue;
        }
        best = json_deep_copy(best);
        json_t *lid = json_object_get(best, "id");
        /* The other services' breakpoints for this entry are the same kdap
         * breakpoint. */
        for (size_t j = 0; j < np && json_is_integer(lid); j++) {
            json_t *rid;
            if (j == w || remote_ids[j] == NULL)
                continue;
            rid = json_array_get(remote_ids[j], i);
            if (!json_is_integer(rid))
                continue;
            struct dap_service *svc =
                dap__part_service(s, json_array_get(parts, j));
            if (dap_idmap_alias(&s->bps, svc->id, json_integer_value(rid),
                                (int32_t)json_integer_value(lid)) < 0)
                DAP_LOGE("out of memory mapping breakpoint ids");
        }
        json_array_append_new(merged, best);
    }
    for (size_t j = 0; j < np; j++) {
        json_decref(remote_ids[j]);
        json_decref(arrays[j]);
    }
    free(remote_ids);
    free(arrays);
    return merged;
fail:
    free(remote_ids);
    free(arrays);
    json_decref(merged);
    return NULL;
}

static size_t requested_count(json_t *args)
{
    json_t *bps = json_object_get(args, "breakpoints");

    if (json_is_array(bps))
        return json_array_size(bps);
    return json_array_size(json_object_get(args, "lines"));
}

static void breakpoints_done(dap_session *s, struct dap_request *req)
{
    json_t *merged =
        merge_breakpoints(s, req, requested_count(req->args), req->command);

    if (merged == NULL) {
        dap__respond_err(s, req, DAP_ENOMEM, "out of memory");
        return;
    }
    dap__respond(s, req, json_pack("{s:o}", "breakpoints", merged));
}

/* ---- setBreakpoints ---------------------------------------------------- */

static json_t *source_args(dap_session *s, struct dap_request *req,
                           struct dap_service *svc)
{
    json_t *source = json_object_get(req->args, "source");
    const char *path = json_string_value(json_object_get(source, "path"));
    json_int_t ref =
        json_integer_value(json_object_get(source, "sourceReference"));
    struct dap_service *owner = NULL;
    struct dap_error err;
    json_t *args;

    if (ref > 0) {
        /* A source only one service knows: route by its id. */
        args = json_deep_copy(req->args);
        if (dap__remap_to_backend(s, args, &owner, &err) < 0 ||
            owner != svc) {
            json_decref(args);
            return NULL;
        }
        return args;
    }
    if (path == NULL || !dap_pathmap_owns(&svc->paths, path))
        return NULL;
    args = json_deep_copy(req->args);
    /* Only line bases to translate here: no ids in these arguments. */
    if (dap__remap_to_backend(s, args, &owner, &err) < 0) {
        json_decref(args);
        return NULL;
    }
    dap__paths_to_backend(svc, args);
    return args;
}

int dap__req_set_breakpoints(dap_session *s, struct dap_request *req,
                             json_t *args, json_t **body)
{
    json_t *source = json_object_get(args, "source");
    json_t *bps = json_object_get(args, "breakpoints");
    const char *path = json_string_value(json_object_get(source, "path"));
    size_t owners = 0;
    json_t *b;
    size_t i;

    if (!json_is_object(source) ||
        (path == NULL &&
         json_integer_value(json_object_get(source, "sourceReference")) <= 0))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "setBreakpoints needs \"source\" with a "
                             "\"path\" (or a sourceReference)");
    if (bps != NULL && !json_is_array(bps))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "setBreakpoints: \"breakpoints\" must be an "
                             "array of {\"line\": N}");
    if (check_count(req, requested_count(args)) < 0)
        return req->err.code;
    json_array_foreach(bps, i, b)
    {
        if (!json_is_integer(json_object_get(b, "line")))
            return dap_error_set(&req->err, DAP_EINVAL,
                                 "setBreakpoints: breakpoints[%zu] needs an "
                                 "integer \"line\"",
                                 i);
    }
    if (path != NULL) {
        for (size_t k = 0; k < s->nsvc; k++)
            owners += s->svc[k]->state == SVC_READY &&
                      dap_pathmap_owns(&s->svc[k]->paths, path);
        if (owners == 0) {
            /* Nobody runs this file: every entry unverified, with why. */
            json_t *out = json_array();
            char msg[512];
            dap_utf8_snprintf(msg, sizeof(msg),
                     "no service of this session maps %s: set localRoot/"
                     "remoteRoot (or substitutePath) of the service that "
                     "runs it",
                     path);
            for (size_t k = 0; k < requested_count(args); k++)
                json_array_append_new(out,
                                      json_pack("{s:b, s:s, s:s}", "verified",
                                                0, "message", msg, "reason",
                                                "pending"));
            *body = json_pack("{s:o}", "breakpoints", out);
            return 0;
        }
    }
    return dap__fanout(s, req, "setBreakpoints", source_args,
                       breakpoints_done);
}

/* ---- setFunctionBreakpoints -------------------------------------------- */

static json_t *copy_args(dap_session *s, struct dap_request *req,
                         struct dap_service *svc)
{
    (void)s;
    (void)svc;
    return json_deep_copy(req->args);
}

int dap__req_set_function_breakpoints(dap_session *s, struct dap_request *req,
                                      json_t *args, json_t **body)
{
    json_t *bps = json_object_get(args, "breakpoints");
    json_t *b;
    size_t i;

    (void)body;
    if (!json_is_array(bps))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "setFunctionBreakpoints needs \"breakpoints\": "
                             "[{\"name\": FUNCTION}]");
    if (check_count(req, json_array_size(bps)) < 0)
        return req->err.code;
    json_array_foreach(bps, i, b)
    {
        if (!json_is_string(json_object_get(b, "name")))
            return dap_error_set(&req->err, DAP_EINVAL,
                                 "setFunctionBreakpoints: breakpoints[%zu] "
                                 "needs a string \"name\"",
                                 i);
    }
    return dap__fanout(s, req, "setFunctionBreakpoints", copy_args,
                       breakpoints_done);
}

/* ---- setExceptionBreakpoints ------------------------------------------- */

static json_t *exception_args(dap_session *s, struct dap_request *req,
                              struct dap_service *svc)
{
    json_t *filters = json_object_get(req->args, "filters");
    json_t *mine = json_array();
    json_t *f;
    size_t i;
    size_t rl = strlen(svc->runtime);

    (void)s;
    json_array_foreach(filters, i, f)
    {
        const char *id = json_string_value(f);
        if (id == NULL)
            continue;
        if (strncmp(id, svc->runtime, rl) == 0 && id[rl] == ':')
            json_array_append_new(mine, json_string(id + rl + 1));
    }
    return json_pack("{s:o}", "filters", mine);
}

static void exception_done(dap_session *s, struct dap_request *req)
{
    json_t *part;
    size_t i;

    json_array_foreach(req->parts, i, part)
    {
        if (!dap__part_ok(part)) {
            struct dap_service *svc = dap__part_service(s, part);
            dap__respond_err(s, req, dap__part_status(part),
                             "service \"%s\": %s",
                             svc != NULL ? svc->name : "?",
                             dap__part_error(part));
            return;
        }
    }
    dap__respond(s, req, NULL);
}

int dap__req_set_exception_breakpoints(dap_session *s, struct dap_request *req,
                                       json_t *args, json_t **body)
{
    json_t *filters = json_object_get(args, "filters");

    (void)body;
    if (!json_is_array(filters))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "setExceptionBreakpoints needs \"filters\": "
                             "[...] (may be empty)");
    return dap__fanout(s, req, "setExceptionBreakpoints", exception_args,
                       exception_done);
}

/* ---- configurationDone ------------------------------------------------- */

static json_t *no_args(dap_session *s, struct dap_request *req,
                       struct dap_service *svc)
{
    (void)s;
    (void)req;
    (void)svc;
    return json_null();
}

int dap__req_configuration_done(dap_session *s, struct dap_request *req,
                                json_t *args, json_t **body)
{
    (void)args;
    (void)body;
    return dap__fanout(s, req, "configurationDone", no_args, exception_done);
}
