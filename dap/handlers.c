/* handlers.c - the request table and the dispatcher.
 *
 * The dispatcher alone builds response envelopes: request_seq, command,
 * success, and on failure message plus body.error {id, format, showUser}.
 * It checks the session state a handler needs before calling it and answers
 * unknown commands with "not supported".  `initialize` derives its
 * capabilities from the `cap` column, so kdap never advertises a request it
 * has no handler for.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "msg.h"
#include "session_int.h"
#include "utf8.h"

/* Sorted by command (strcmp order); test_handlers checks it. */
static const struct dap_handler handlers[] = {
    /* command                  fn                                flags  cap */
    {"attach", dap__req_attach, DAP_H_ANY_STATE, NULL},
    {"configurationDone", dap__req_configuration_done, 0,
     "supportsConfigurationDoneRequest"},
    {"continue", dap__req_forward, DAP_H_FWD | DAP_H_RESUMES, NULL},
    {"dataBreakpointInfo", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS, "supportsDataBreakpoints"},
    {"disassemble", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS, "supportsDisassembleRequest"},
    {"disconnect", dap__req_disconnect, DAP_H_ANY_STATE, NULL},
    {"evaluate", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS,
     "supportsEvaluateForHovers"},
    {"exceptionInfo", dap__req_forward, DAP_H_FWD, "supportsExceptionInfoRequest"},
    {"initialize", dap__req_initialize, DAP_H_ANY_STATE, NULL},
    {"launch", dap__req_launch, DAP_H_ANY_STATE, NULL},
    {"loadedSources", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS, "supportsLoadedSourcesRequest"},
    {"next", dap__req_forward, DAP_H_FWD | DAP_H_RESUMES,
     "supportsSteppingGranularity"},
    {"pause", dap__req_forward, DAP_H_FWD, NULL},
    {"readMemory", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS, "supportsReadMemoryRequest"},
    {"scopes", dap__req_forward, DAP_H_FWD, NULL},
    {"setBreakpoints", dap__req_set_breakpoints, 0, NULL},
    {"setDataBreakpoints", dap__req_forward, DAP_H_FWD | DAP_H_FOCUS, NULL},
    {"setExceptionBreakpoints", dap__req_set_exception_breakpoints, 0, NULL},
    {"setFunctionBreakpoints", dap__req_set_function_breakpoints, 0,
     "supportsFunctionBreakpoints"},
    {"setVariable", dap__req_forward, DAP_H_FWD, "supportsSetVariable"},
    {"source", dap__req_source, 0, NULL},
    {"stackTrace", dap__req_forward, DAP_H_FWD,
     "supportsDelayedStackTraceLoading"},
    {"stepIn", dap__req_forward, DAP_H_FWD | DAP_H_RESUMES, NULL},
    {"stepOut", dap__req_forward, DAP_H_FWD | DAP_H_RESUMES, NULL},
    {"terminate", dap__req_terminate, 0, "supportsTerminateRequest"},
    {"threads", dap__req_threads, 0, NULL},
    {"variables", dap__req_forward, DAP_H_FWD, NULL},
};

#define NHANDLERS (sizeof(handlers) / sizeof(handlers[0]))

static int cmp_handler(const void *key, const void *elem)
{
    return strcmp(key, ((const struct dap_handler *)elem)->command);
}

const struct dap_handler *dap__handler_find(const char *command)
{
    return bsearch(command, handlers, NHANDLERS, sizeof(handlers[0]),
                   cmp_handler);
}

size_t dap__handler_count(void)
{
    return NHANDLERS;
}

const struct dap_handler *dap__handler_at(size_t i)
{
    return i < NHANDLERS ? &handlers[i] : NULL;
}

/* ---- responses --------------------------------------------------------- */

static void request_free(dap_session *s, struct dap_request *req)
{
    if (req->prev != NULL)
        req->prev->next = req->next;
    else if (s->live == req)
        s->live = req->next;
    if (req->next != NULL)
        req->next->prev = req->prev;
    json_decref(req->args);
    json_decref(req->parts);
    json_decref(req->extra);
    free(req->command);
    free(req);
}

void dap__respond(dap_session *s, struct dap_request *req, json_t *body_new)
{
    dap__send(s, dap_msg_response_new(req->seq, req->command, body_new));
    request_free(s, req);
}

static void respond_err_text(dap_session *s, struct dap_request *req,
                             int code, const char *text)
{
    const char *raw = NULL;

    /* DAP's well-known short messages, which clients act on. */
    if (code == DAP_ECANCELLED)
        raw = "cancelled";
    else if (code == DAP_ENOTSTOPPED)
        raw = "notStopped";
    DAP_LOGI("request %s (seq %lld) failed: %s", req->command,
             (long long)req->seq, text);
    dap__send(s, dap_msg_error_new(req->seq, req->command, code, raw, text));
    request_free(s, req);
}

void dap__respond_err(dap_session *s, struct dap_request *req, int code,
                      const char *fmt, ...)
{
    char text[512];
    va_list ap;

    va_start(ap, fmt);
    dap_utf8_vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    respond_err_text(s, req, code, text);
}

void dap__respond_backend_err(dap_session *s, struct dap_request *req,
                              struct dap_service *svc, int status,
                              const struct dap_error *err)
{
    const char *msg = err != NULL && err->msg[0] ? err->msg
                                                 : dap_strerror(status);

    /* With one service its name adds nothing, but a lost connection says
     * whose. */
    if (s->nsvc > 1 || status == DAP_ECLOSED || status == DAP_ECONNECT)
        dap__respond_err(s, req, status, "service \"%s\": %s", svc->name,
                         msg);
    else
        dap__respond_err(s, req, status, "%s", msg);
}

/* ---- dispatch ---------------------------------------------------------- */

/* The first string of v holding a NUL ("\u0000", which the parser lets
 * through so that the request can be answered): 1 and its place in path
 * ("arguments.source.path"), else 0.  kdap hands strings on as C
 * strings, which a NUL would silently cut, so no request may carry one;
 * object keys cannot (jansson refuses them whatever the flags). */
static int nul_string_at(json_t *v, char *path, size_t cap, size_t len)
{
    const char *key;
    json_t *e;
    size_t i;

    if (json_is_string(v))
        return memchr(json_string_value(v), '\0', json_string_length(v)) !=
               NULL;
    if (json_is_object(v)) {
        json_object_foreach(v, key, e)
        {
            size_t n = len + dap_utf8_snprintf(path + len, cap - len, "%s%s",
                                               len > 0 ? "." : "", key);
            if (nul_string_at(e, path, cap, n))
                return 1;
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e)
        {
            size_t n = len + dap_utf8_snprintf(path + len, cap - len, "[%zu]",
                                               i);
            if (nul_string_at(e, path, cap, n))
                return 1;
        }
    }
    path[len] = '\0';
    return 0;
}

/* Answer a request that holds a NUL, its command echoed as sent (NUL and
 * all: the editor pairs the answer with its request). */
static void refuse_nul(dap_session *s, struct dap_request *req, json_t *msg,
                       const char *where)
{
    char text[512];
    json_t *m;

    dap_utf8_snprintf(text, sizeof(text),
                      "the request holds a NUL character (\\u0000) in "
                      "\"%s\": kdap takes no NUL in DAP strings; remove it",
                      where);
    DAP_LOGI("request %s (seq %lld) failed: %s", req->command,
             (long long)req->seq, text);
    m = dap_msg_error_new(req->seq, req->command, DAP_EINVAL, NULL, text);
    if (m != NULL && json_is_string(json_object_get(msg, "command")))
        json_object_set(m, "command", json_object_get(msg, "command"));
    dap__send(s, m);
    request_free(s, req);
}

void dap__dispatch(dap_session *s, json_t *msg)
{
    const char *type = json_string_value(json_object_get(msg, "type"));
    json_t *jseq = json_object_get(msg, "seq");
    json_t *jcmd = json_object_get(msg, "command");
    json_t *args = json_object_get(msg, "arguments");
    const struct dap_handler *h;
    struct dap_request *req;
    json_t *body = NULL;
    int rc;

    if (type != NULL && strcmp(type, "response") == 0) {
        DAP_LOGD("ignoring a response from the editor (no reverse requests "
                 "are pending)");
        return;
    }
    if (type != NULL && strcmp(type, "request") != 0) {
        DAP_LOGE("ignoring a message of type \"%s\" from the editor", type);
        return;
    }
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        DAP_LOGE("out of memory");
        return;
    }
    req->s = s;
    req->seq = json_is_integer(jseq) ? json_integer_value(jseq) : 0;
    req->command = strdup(json_is_string(jcmd) ? json_string_value(jcmd) : "");
    req->next = s->live;
    if (s->live != NULL)
        s->live->prev = req;
    s->live = req;

    if (type == NULL) {
        dap__respond_err(s, req, DAP_EPROTO,
                         "message without \"type\": requests need "
                         "\"type\": \"request\"");
        return;
    }
    if (!json_is_integer(jseq) || json_integer_value(jseq) < 0) {
        dap__respond_err(s, req, DAP_EPROTO,
                         "request without a valid \"seq\": every request "
                         "needs an integer seq");
        return;
    }
    {
        char where[256];
        if (nul_string_at(msg, where, sizeof(where), 0)) {
            refuse_nul(s, req, msg, where);
            return;
        }
    }
    if (!json_is_string(jcmd)) {
        dap__respond_err(s, req, DAP_EPROTO,
                         "request without \"command\": say which request "
                         "this is");
        return;
    }
    if (args != NULL && !json_is_object(args) && !json_is_null(args)) {
        dap__respond_err(s, req, DAP_EINVAL,
                         "\"arguments\" of '%s' must be an object",
                         req->command);
        return;
    }
    h = dap__handler_find(req->command);
    if (h == NULL) {
        dap__respond_err(s, req, DAP_EUNSUPPORTED,
                         "the request '%s' is not supported by kdap",
                         req->command);
        return;
    }
    req->h = h;
    if (s->state == SS_STOPPING || s->state == SS_DONE) {
        if (strcmp(req->command, "disconnect") != 0) {
            dap__respond_err(s, req, DAP_ESTATE,
                             "the session is ending; '%s' was not run",
                             req->command);
            return;
        }
    } else if (!(h->flags & DAP_H_ANY_STATE) && s->state != SS_ATTACHED) {
        dap__respond_err(s, req, DAP_ESTATE,
                         "'%s' needs an attached session: send 'attach' "
                         "first",
                         req->command);
        return;
    }
    req->args = json_is_object(args) ? json_deep_copy(args) : json_object();
    rc = h->fn(s, req, req->args, &body);
    if (rc == DAP_PENDING)
        return;
    if (rc < 0) {
        json_decref(body);
        respond_err_text(s, req, rc,
                         req->err.msg[0] ? req->err.msg : dap_strerror(rc));
        return;
    }
    dap__respond(s, req, body);
}
