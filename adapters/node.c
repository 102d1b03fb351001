/* node.c - the Node.js backend: DAP in, Chrome DevTools Protocol out.
 *
 * kdap talks to Node's inspector itself (there is no DAP server for Node
 * that could run standalone here, see docs/protocols.md §7): GET /json/list,
 * a WebSocket to the first "node" target, then CDP.  Translation of the
 * messages themselves is in cdp.c (pure); this file holds the state:
 * - scripts: Debugger.scriptParsed gives scriptId -> url (and a source
 *   map); paused frames carry only the scriptId.  Scripts without a local
 *   file (node:internal, eval) are shown through sourceReference, which is
 *   the script's own number here.
 * - breakpoints: DAP breakpoints per source path, each one
 *   Debugger.setBreakpointByUrl with a urlRegex matching both URL forms
 *   Node uses.  Conditions go to V8; log points are conditions that log
 *   and return false (no pause round trip); hit counts are counted here
 *   on each pause and auto-resume until they match.  Breakpoints in
 *   original sources (TypeScript) are moved to generated positions through
 *   the scripts' source maps; those not loaded yet wait until a script
 *   whose map names the source is parsed.
 * - the pause: Debugger.paused's call frames are cached until
 *   Debugger.resumed; frame ids are indexes into them, variable references
 *   index a table cleared on every pause and resume.
 * - one thread (id 1), named after the target.
 * Every DAP request is answered exactly once, from the loop (responses
 * are queued and sent from a zero timer), also when the inspector goes
 * away.  Detaching removes our breakpoints, resumes, disables the
 * Debugger domain and closes: the node process keeps running.
 */
#include <unistd.h>

#include "../net/get.h"
#include "../net/ws.h"
#include "node_int.h"

static void report_closed(struct node *n, int status, const char *why);

/* ---- responses --------------------------------------------------------- */

static void dreq_free(struct dreq *r)
{
    adapter_xreq_cleanup(&r->x);
    json_decref(r->items);
    free(r);
}

/* From the loop: the answer goes out. */
static void complete_cb(struct adapter_xreq *x)
{
    struct dreq *r = (struct dreq *)x;

    adapter_xreq_reply(x);
    dreq_free(r);
}

static void drained_cb(struct adapter_xlate *x)
{
    struct node *n = x->data;

    if (n->report_closed_later) {
        n->report_closed_later = 0;
        report_closed(n, n->close_status, n->close_err.msg);
    }
}

void node__dreq_ok(struct dreq *r, json_t *body_new)
{
    json_decref(r->x.body);
    r->x.body = body_new;
    adapter_xreq_defer(&r->x);
}

void node__dreq_fail(struct dreq *r, int code, const char *fmt, ...)
{
    char text[sizeof(r->x.msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    adapter_xreq_fail(&r->x, code, "%s", text);
    adapter_xreq_defer(&r->x);
}

static void call_deadline_cb(uv_timer_t *t);

/* Send one CDP request; `params_new` is stolen.  The callback runs once:
 * with the result, or with an error (also when the connection ends, or
 * when the inspector does not answer within the request timeout: a late
 * answer then finds no call and is dropped). */
int node__cdp(struct node *n, const char *method, json_t *params_new,
              cdp_cb *cb, void *data)
{
    struct call *c;
    char *text;
    int rc;

    if (n->ws == NULL) {
        json_decref(params_new);
        return DAP_ECLOSED;
    }
    text = adapter_cdp_request_dump(++n->next_id, method, params_new);
    json_decref(params_new);
    if (text == NULL)
        return DAP_ENOMEM;
    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("-> node %.1500s", text);
    rc = net_ws_send(n->ws, text, strlen(text), 0);
    free(text);
    if (rc < 0)
        return rc;
    if (cb == NULL)
        return 0;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return DAP_ENOMEM;
    c->id = n->next_id;
    c->cb = cb;
    c->data = data;
    c->deadline = uv_now(n->a->loop) + n->req_timeout_ms;
    snprintf(c->method, sizeof(c->method), "%s", method);
    if (!uv_is_active((uv_handle_t *)&n->calltimer))
        uv_timer_start(&n->calltimer, call_deadline_cb, n->req_timeout_ms, 0);
    /* Appended: answers come in order, so the head is the usual match. */
    if (n->calls == NULL) {
        n->calls = c;
    } else {
        struct call *t = n->calls;
        while (t->next != NULL)
            t = t->next;
        t->next = c;
    }
    return 0;
}

/* Unlink and return the call waiting for answer `id`, or NULL. */
static struct call *take_call(struct node *n, int64_t id)
{
    struct call **pp = &n->calls;
    struct call *c;

    while (*pp != NULL && (*pp)->id != id)
        pp = &(*pp)->next;
    c = *pp;
    if (c != NULL)
        *pp = c->next;
    return c;
}

/* Calls are appended with the same timeout, so the earliest deadlines
 * are at the head. */
static void call_deadline_cb(uv_timer_t *t)
{
    struct node *n = t->data;
    uint64_t now = uv_now(n->a->loop);

    while (n->calls != NULL && n->calls->deadline <= now) {
        struct call *c = n->calls;
        char why[200];
        n->calls = c->next;
        DAP_LOGW("node: no answer to %s (call %lld) in time", c->method,
                 (long long)c->id);
        snprintf(why, sizeof(why),
                 "node's inspector did not answer %s within %u s "
                 "(\"requestTimeout\"); is the program busy?",
                 c->method, (n->req_timeout_ms + 999) / 1000);
        n->call_status = DAP_ETIMEDOUT;
        c->cb(n, c->data, NULL, why);
        n->call_status = 0;
        free(c);
    }
    if (n->calls != NULL)
        uv_timer_start(&n->calltimer, call_deadline_cb,
                       n->calls->deadline - now, 0);
}

static void fail_calls(struct node *n, const char *why)
{
    while (n->calls != NULL) {
        struct call *c = n->calls;
        n->calls = c->next;
        n->call_status = DAP_ECLOSED;
        c->cb(n, c->data, NULL, why);
        n->call_status = 0;
        free(c);
    }
}

int node__call_status(struct node *n)
{
    return n->call_status < 0 ? n->call_status : DAP_EBACKEND;
}

/* A CDP call for a request: counts as pending on r; a failed send fails
 * the call at once. */
void node__rcall(struct dreq *r, const char *method, json_t *params_new,
                 cdp_cb *cb)
{
    r->pending++;
    if (node__cdp(r->n, method, params_new, cb, r) < 0)
        cb(r->n, r, NULL, "the inspector connection is closed");
}

/* ---- generic request completions --------------------------------------- */

/* The CDP call answers the request: success with an empty body. */
void node__on_plain(struct node *n, void *data, json_t *result,
                    const char *error)
{
    struct dreq *r = data;

    (void)n;
    (void)result;
    if (error != NULL)
        node__dreq_fail(r, node__call_status(n), "%s", error);
    else
        node__dreq_ok(r, r->x.body != NULL ? json_incref(r->x.body) : NULL);
}

static void req_resume(struct dreq *r, const char *method, const char *hint)
{
    struct node *n = r->n;

    if (n->paused == NULL && strcmp(method, "Debugger.pause") != 0) {
        node__dreq_fail(r, DAP_ENOTSTOPPED, "the program is not paused");
        return;
    }
    n->hint = hint;
    if (strcmp(method, "Debugger.pause") != 0) {
        /* The frames end now, not when Debugger.resumed arrives: a request
         * that follows at once must not use them. */
        node__clear_pause(n);
        n->resume_requested = 1;
        if (strcmp(method, "Debugger.resume") == 0)
            r->x.body = json_pack("{s:b}", "allThreadsContinued", 1);
    }
    node__rcall(r, method,
                strcmp(method, "Debugger.stepInto") == 0
                    ? json_pack("{s:b}", "breakOnAsyncCall", 0)
                    : NULL,
                node__on_plain);
}

/* ---- the request table -------------------------------------------------- */

static const struct {
    const char *command;
    void (*fn)(struct dreq *r);
} requests[] = {
    {"evaluate", node__req_evaluate},
    {"exceptionInfo", node__req_exception_info},
    {"loadedSources", node__req_loaded_sources},
    {"scopes", node__req_scopes},
    {"setBreakpoints", node__req_set_breakpoints},
    {"setExceptionBreakpoints", node__req_set_exceptions},
    {"setFunctionBreakpoints", node__req_set_function_breakpoints},
    {"setVariable", node__req_set_variable},
    {"source", node__req_source},
    {"stackTrace", node__req_stack_trace},
    {"variables", node__req_variables},
};

static void dispatch(struct dreq *r)
{
    struct node *n = r->n;
    const char *c = r->x.command;

    if (strcmp(c, "threads") == 0) {
        node__dreq_ok(r, json_pack("{s:[{s:i, s:s}]}", "threads", "id", THREAD_ID,
                                   "name", n->title ? n->title : "node"));
        return;
    }
    if (strcmp(c, "configurationDone") == 0) {
        node__rcall(r, "Runtime.runIfWaitingForDebugger", NULL, node__on_plain);
        return;
    }
    if (strcmp(c, "continue") == 0) {
        req_resume(r, "Debugger.resume", NULL);
        return;
    }
    if (strcmp(c, "next") == 0) {
        req_resume(r, "Debugger.stepOver", "step");
        return;
    }
    if (strcmp(c, "stepIn") == 0) {
        req_resume(r, "Debugger.stepInto", "step");
        return;
    }
    if (strcmp(c, "stepOut") == 0) {
        req_resume(r, "Debugger.stepOut", "step");
        return;
    }
    if (strcmp(c, "pause") == 0) {
        if (n->paused != NULL) {
            node__dreq_ok(r, NULL);
            return;
        }
        req_resume(r, "Debugger.pause", "pause");
        return;
    }
    for (size_t i = 0; i < sizeof(requests) / sizeof(requests[0]); i++) {
        if (strcmp(requests[i].command, c) == 0) {
            requests[i].fn(r);
            return;
        }
    }
    node__dreq_fail(r, DAP_EUNSUPPORTED, "'%s' is not supported by the node backend", c);
}

static int node_request(adapter *a, const char *command, json_t *args,
                        adapter_response_cb *cb, void *data)
{
    struct node *n = a->impl;
    struct dreq *r;

    if (n->state != N_READY)
        return DAP_ECLOSED;
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return DAP_ENOMEM;
    if (adapter_xreq_init(&r->x, &n->xl, command,
                          json_is_object(args) ? args : NULL, cb, data) < 0) {
        free(r);
        return DAP_ENOMEM;
    }
    r->n = n;
    dispatch(r);
    return 0;
}

/* ---- inbound messages --------------------------------------------------- */

static void on_console(struct node *n, json_t *p)
{
    const char *category;
    char *text = adapter_cdp_console_text(p, &category);
    json_t *frame0 = json_array_get(
        json_object_get(json_object_get(p, "stackTrace"), "callFrames"), 0);
    const char *url = json_string_value(json_object_get(frame0, "url"));
    json_t *body;

    if (text == NULL)
        return;
    if (url != NULL && strcmp(url, ADAPTER_CDP_LOGPOINT_URL) == 0)
        category = "console";
    body = adapter_xlate_output_new(category, text);
    free(text);
    adapter__event(n->a, "output", body);
    json_decref(body);
}

static void on_event(struct node *n, const char *method, json_t *p)
{
    if (strcmp(method, "Debugger.scriptParsed") == 0) {
        node__on_script_parsed(n, p);
    } else if (strcmp(method, "Debugger.paused") == 0) {
        node__on_paused(n, p);
    } else if (strcmp(method, "Debugger.resumed") == 0) {
        node__on_resumed(n);
    } else if (strcmp(method, "Debugger.breakpointResolved") == 0) {
        struct bp *b =
            node__bp_by_cdp(n, json_string_value(json_object_get(p, "breakpointId")));
        json_t *loc = json_object_get(p, "location");
        if (b != NULL && json_is_object(loc)) {
            int line =
                (int)json_integer_value(json_object_get(loc, "lineNumber"));
            int col =
                (int)json_integer_value(json_object_get(loc, "columnNumber"));
            json_decref(
                        node__locate(n, json_string_value(json_object_get(loc, "scriptId")),
                                     &line, &col));
            if (!b->verified || b->actual_line != line) {
                b->verified = 1;
                b->actual_line = line;
                node__bp_event(n, b);
            }
        }
    } else if (n->state == N_READY &&
               strcmp(method, "Runtime.consoleAPICalled") == 0) {
        on_console(n, p);
    } else if (n->state == N_READY &&
               strcmp(method, "Runtime.exceptionThrown") == 0) {
        char *t =
            adapter_cdp_exception_text(json_object_get(p, "exceptionDetails"));
        json_t *body = adapter_xlate_output_new(
            "stderr", t ? t : "Uncaught exception\n");
        free(t);
        adapter__event(n->a, "output", body);
        json_decref(body);
    } else if (strcmp(method, "Runtime.executionContextDestroyed") == 0 &&
               n->state == N_READY) {
        /* The main context ended: the process is exiting, and Node waits
         * ("Waiting for the debugger to disconnect...") until we go. */
        DAP_LOGI("node: execution context destroyed: the process exits");
        n->exiting = 1;
        if (n->ws != NULL)
            net_ws_close(n->ws);
    } else if (strcmp(method, "Inspector.detached") == 0) {
        DAP_LOGW("node: inspector detached: %s",
                 json_string_value(json_object_get(p, "reason")));
    }
}

static void on_ws_message(void *data, net_ws *ws, const uint8_t *msg,
                          size_t len, int binary)
{
    struct node *n = data;
    const char *buf = (const char *)msg;
    struct adapter_cdp_msg m;
    json_t *root;

    (void)ws;
    (void)binary;
    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("<- node %.*s", (int)(len > 1500 ? 1500 : len), buf);
    if (adapter_cdp_parse(buf, len, &root, &m) < 0 &&
        m.kind != ADAPTER_CDP_RESPONSE) {
        DAP_LOGW("node: ignoring a message that is not CDP");
        return;
    }
    if (m.kind == ADAPTER_CDP_RESPONSE) {
        struct call *c = take_call(n, m.id);
        if (c != NULL) {
            c->cb(n, c->data, m.result, m.error);
            free(c);
        } else {
            DAP_LOGD("node: an answer to call %lld, which waits no more",
                     (long long)m.id);
        }
    } else {
        on_event(n, m.method, m.params);
    }
    json_decref(root);
}

/* ---- start -------------------------------------------------------------- */

static void start_failed(struct node *n, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);

static void start_failed(struct node *n, int code, const char *fmt, ...)
{
    struct dap_error e;
    va_list ap;

    e.code = code;
    va_start(ap, fmt);
    vsnprintf(e.msg, sizeof(e.msg), fmt, ap);
    va_end(ap);
    n->state = N_CLOSED;
    n->closed_reported = 1;
    if (n->ws != NULL)
        net_ws_close(n->ws);
    adapter__ready(n->a, code, &e);
}

void node__maybe_ready(struct node *n)
{
    if (n->state != N_ENABLING || !n->enabled_ok || n->maps_loading > 0)
        return;
    n->state = N_READY;
    adapter__ready(n->a, 0, NULL);
}

static void on_debugger_enabled(struct node *n, void *data, json_t *result,
                                const char *error)
{
    (void)data;
    (void)result;
    if (n->state != N_ENABLING)
        return;
    if (error != NULL) {
        start_failed(n, DAP_EBACKEND, "node refused Debugger.enable: %s",
                     error);
        return;
    }
    n->enabled_ok = 1;
    node__maybe_ready(n);
}

static void on_ws_open(void *data, net_ws *ws, const char *subprotocol)
{
    struct node *n = data;

    (void)ws;
    (void)subprotocol;
    n->state = N_ENABLING;
    /* Pipelined: the inspector answers in order. */
    (void)node__cdp(n, "Runtime.enable", NULL, NULL, NULL);
    (void)node__cdp(n, "Debugger.enable",
                    json_pack("{s:f}", "maxScriptsCacheSize", 10e6), NULL, NULL);
    (void)node__cdp(n, "Debugger.setAsyncCallStackDepth",
                    json_pack("{s:i}", "maxDepth", 16), NULL, NULL);
    if (node__cdp(n, "Debugger.setBreakpointsActive", json_pack("{s:b}", "active", 1),
                  on_debugger_enabled, NULL) < 0)
        start_failed(n, DAP_ECLOSED, "the inspector connection closed");
}

static void report_closed(struct node *n, int status, const char *why)
{
    struct dap_error e;

    if (n->closed_reported)
        return;
    n->closed_reported = 1;
    adapter_xlate_drain(&n->xl);
    dap_error_set(&e, status, "%s", why ? why : "closed");
    adapter__closed(n->a, status, &e);
}

static void on_ws_closed(void *data, net_ws *ws, int status,
                         int http_status, const char *body,
                         const struct dap_error *err)
{
    struct node *n = data;
    enum node_state was = n->state;
    char why[300];

    (void)ws;
    (void)http_status; /* err says it */
    (void)body;
    snprintf(why, sizeof(why), "%s", err ? err->msg : "closed");
    n->state = N_CLOSED;
    fail_calls(n, "the inspector connection closed");
    if (n->handles > 0)
        uv_timer_stop(&n->deadline);
    if (was == N_CONNECTING || was == N_ENABLING) {
        if (!n->closed_reported) {
            struct dap_error e;
            n->closed_reported = 1;
            dap_error_set(&e, status < 0 ? status : DAP_ECLOSED,
                          "service \"%s\": cannot open the inspector "
                          "WebSocket at %s:%d: %s",
                          n->a->name, n->host, n->port, why);
            adapter__ready(n->a, e.code, &e);
        }
        return;
    }
    if (was == N_STOPPING) {
        report_closed(n, n->close_status, n->close_err.msg);
        return;
    }
    if (n->exiting)
        report_closed(n, DAP_ECLOSED, "the node process exited");
    else
        report_closed(n, status < 0 ? status : DAP_ECLOSED,
                      status < 0 ? why
                                 : "the inspector closed the "
                                   "connection (the node process "
                                   "exited?)");
}

static int parse_ws_url(const char *url, char *path, size_t plen)
{
    const char *p;

    if (url == NULL || strncmp(url, "ws://", 5) != 0)
        return -1;
    p = strchr(url + 5, '/');
    if (p == NULL || strlen(p) >= plen)
        return -1;
    snprintf(path, plen, "%s", p);
    return 0;
}

static void on_list(void *data, int status, int http_status, const char *body,
                    size_t len, const struct dap_error *err)
{
    struct node *n = data;
    struct net_ws_options o;
    struct net_ws_callbacks cb = {on_ws_open, on_ws_message, NULL,
                                    on_ws_closed, n};
    struct dap_error e;
    json_t *list;
    json_t *t;
    json_t *target = NULL;
    char path[512];
    size_t i;

    n->get = NULL;
    adapter__privsock_free(n->get_sock);
    n->get_sock = NULL;
    if (n->state != N_LISTING)
        return;
    if (status < 0) {
        start_failed(n, status == DAP_ETIMEDOUT ? DAP_ETIMEDOUT : DAP_ECONNECT,
                     "service \"%s\": no Node inspector at %s:%d (%s). "
                     "Start node with --inspect=%s:%d, or send SIGUSR1 to "
                     "a running node process, or fix \"connect\"",
                     n->a->name, n->host, n->port, err->msg, n->host, n->port);
        return;
    }
    if (http_status != 200) {
        start_failed(n, DAP_EBACKEND,
                     "service \"%s\": %s:%d answered /json/list with HTTP "
                     "%d: is this a Node inspector port?",
                     n->a->name, n->host, n->port, http_status);
        return;
    }
    list = json_loadb(body, len, 0, NULL);
    json_array_foreach(list, i, t)
    {
        const char *type = json_string_value(json_object_get(t, "type"));
        if (type != NULL && strcmp(type, "node") == 0 &&
            json_string_value(json_object_get(t, "webSocketDebuggerUrl"))) {
            target = t;
            break;
        }
    }
    if (target == NULL || parse_ws_url(json_string_value(json_object_get(
                                           target, "webSocketDebuggerUrl")),
                                       path, sizeof(path)) < 0) {
        json_decref(list);
        start_failed(n, DAP_EBACKEND,
                     "service \"%s\": the inspector at %s:%d lists no node "
                     "target (is another debugger attached?)",
                     n->a->name, n->host, n->port);
        return;
    }
    free(n->title);
    n->title = strdup(json_string_value(json_object_get(target, "title"))
                          ? json_string_value(json_object_get(target, "title"))
                          : "node");
    json_decref(list);
    memset(&o, 0, sizeof(o));
    o.host = n->host;
    o.port = n->port;
    o.path = path;
    o.host_header = n->host_header;
    o.timeout_ms = WS_TIMEOUT_MS;
    o.max_message = 64u << 20; /* a big source, a big object */
    n->state = N_CONNECTING;
    if (n->a->tunnel.serve_fn != NULL) {
        o.use_fd = 1;
        if (adapter__dial(n->a, &o.fd, &e) < 0) {
            start_failed(n, e.code, "service \"%s\": %s", n->a->name, e.msg);
            return;
        }
    }
    if (net_ws_new(n->a->loop, &o, &cb, &n->ws, &e) < 0)
        start_failed(n, e.code, "service \"%s\": %s", n->a->name, e.msg);
}

static int node_start(adapter *a)
{
    struct node *n = a->impl;
    char path[] = "/json/list";
    const char *sock = NULL;
    struct dap_error e;

    n->state = N_LISTING;
    /* libcurl connects by itself: through the tunnel, to a socket only
     * this process may connect to (adapter__privsock). */
    if (a->tunnel.serve_fn != NULL &&
        adapter__privsock_new(a, (int)getpid(), &n->get_sock, &sock, &e) < 0) {
        DAP_LOGE("service %s: %s", a->name, e.msg);
        return e.code;
    }
    return net_get_start(a->loop, n->host, n->port, sock, path,
                         n->host_header, GET_TIMEOUT_MS, on_list, n, &n->get);
}

/* ---- stop --------------------------------------------------------------- */

static void on_inspector_end(struct node *n, void *data, json_t *result,
                             const char *error)
{
    (void)data;
    (void)result;
    /* Normally no answer: the inspector closes the connection first. */
    if (n->state == N_CLOSED)
        return;
    DAP_LOGW("node: the inspector stayed open after process._debugEnd(): %s",
             error != NULL ? error : "it answered");
    if (n->ws != NULL)
        net_ws_close(n->ws);
}

static void on_detached(struct node *n, void *data, json_t *result,
                        const char *error)
{
    (void)data;
    (void)result;
    (void)error;
    /* The last CDP act: kdap opened the inspector, kdap closes it, so the
     * process does not keep an unauthenticated debugger port for the rest
     * of its life.  The inspector drops the connection (no answer). */
    if (n->close_inspector && n->stop_mode == ADAPTER_DETACH && !n->exiting &&
        node__cdp(n, "Runtime.evaluate",
                  json_pack("{s:s}", "expression", "process._debugEnd()"),
                  on_inspector_end, NULL) == 0)
        return;
    if (n->ws != NULL)
        net_ws_close(n->ws);
}

static void deadline_cb(uv_timer_t *t)
{
    struct node *n = t->data;

    if (n->state != N_STOPPING)
        return;
    dap_error_set(&n->close_err, DAP_ETIMEDOUT,
                  "node did not finish detaching in time");
    n->close_status = DAP_ETIMEDOUT;
    if (n->ws != NULL)
        net_ws_free(n->ws); /* not inside a ws callback: a timer */
    n->ws = NULL;
    n->state = N_CLOSED;
    fail_calls(n, "detaching timed out");
    report_closed(n, n->close_status, n->close_err.msg);
}

static void node_stop(adapter *a, enum adapter_stop_mode mode,
                      unsigned timeout_ms)
{
    struct node *n = a->impl;

    n->stop_mode = mode;
    if (n->state == N_CLOSED)
        return;
    if (n->state != N_READY) {
        /* Not attached yet: abandon the attempt. */
        n->state = N_STOPPING;
        net_get_cancel(n->get);
        n->get = NULL;
        n->close_status = 0;
        snprintf(n->close_err.msg, sizeof(n->close_err.msg), "stopped");
        if (n->ws != NULL) {
            net_ws_close(n->ws);
        } else {
            n->report_closed_later = 1;
            adapter_xlate_kick(&n->xl);
        }
        return;
    }
    n->state = N_STOPPING;
    n->close_status = 0;
    snprintf(n->close_err.msg, sizeof(n->close_err.msg), "detached");
    uv_timer_start(&n->deadline, deadline_cb, timeout_ms, 0);
    /* All pipelined; the inspector runs them in order. */
    for (size_t i = 0; i < n->nbps; i++)
        node__bp_remove_cdp(n, n->bps[i]);
    (void)node__cdp(n, "Debugger.setPauseOnExceptions",
                    json_pack("{s:s}", "state", "none"), NULL, NULL);
    if (n->paused != NULL)
        (void)node__cdp(n, "Debugger.resume", NULL, NULL, NULL);
    if (mode == ADAPTER_TERMINATE)
        (void)node__cdp(n, "Runtime.evaluate",
                        json_pack("{s:s}", "expression",
                                  "setImmediate(() => process.exit(0))"),
                        NULL, NULL);
    (void)node__cdp(n, "Runtime.releaseObjectGroup",
                    json_pack("{s:s}", "objectGroup", OBJECT_GROUP), NULL, NULL);
    (void)node__cdp(n, "Debugger.disable", NULL, NULL, NULL);
    if (node__cdp(n, "Runtime.disable", NULL, on_detached, NULL) < 0 && n->ws != NULL)
        net_ws_close(n->ws);
}

/* ---- new / free --------------------------------------------------------- */

static int node_new(adapter *a, json_t *cfg, struct dap_error *err)
{
    const char *connect = json_string_value(json_object_get(cfg, "connect"));
    const char *hh = json_string_value(json_object_get(cfg, "hostHeader"));
    json_t *ov = json_object_get(cfg, "sourceMapPathOverrides");
    json_t *sm = json_object_get(cfg, "sourceMaps");
    json_t *ci = json_object_get(cfg, "closeInspector");
    struct node *n;
    char buf[300];
    unsigned timeout_ms;
    int rc;

    if (connect == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the node runtime needs \"connect\": "
                             "\"HOST:PORT\" of a Node inspector (node "
                             "--inspect=127.0.0.1:9229 app.js, or kill "
                             "-USR1 PID)");
    if (ov != NULL && !json_is_object(ov))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"sourceMapPathOverrides\" must be an object "
                             "{\"pattern/*\": \"/path/*\"}");
    if (sm != NULL && !json_is_boolean(sm))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"sourceMaps\" must be true or false");
    rc = adapter__request_timeout(cfg, REQUEST_TIMEOUT_MS, &timeout_ms, err);
    if (rc < 0)
        return rc;
    if (ci != NULL && !json_is_boolean(ci))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"closeInspector\" must be true or false");
    n = calloc(1, sizeof(*n));
    if (n == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    rc = adapter__parse_hostport(connect, n->host, sizeof(n->host), &n->port,
                                 err);
    if (rc < 0) {
        free(n);
        return rc;
    }
    /* The inspector accepts only IP literals and localhost as Host; over a
     * tunnel the local address is not the one it listens on, so the
     * header names the loopback with our port unless told otherwise. */
    snprintf(buf, sizeof(buf), "127.0.0.1:%d", n->port);
    n->host_header = strdup(hh != NULL ? hh : buf);
    n->overrides = ov != NULL ? json_incref(ov) : NULL;
    n->source_maps = sm == NULL || json_is_true(sm);
    n->close_inspector = json_is_true(ci);
    n->script_index = json_object();
    n->a = a;
    adapter_xrefs_init(&n->refs, node__varref_free);
    n->req_timeout_ms = timeout_ms;
    adapter_xlate_init(&n->xl, a->loop, complete_cb, drained_cb, n);
    uv_timer_init(a->loop, &n->deadline);
    uv_timer_init(a->loop, &n->calltimer);
    n->deadline.data = n;
    n->calltimer.data = n;
    n->handles = 3;
    a->impl = n;
    return 0;
}

static void handle_closed(uv_handle_t *h)
{
    struct node *n = h->data;

    if (--n->handles == 0)
        free(n);
}

static void node_free(adapter *a)
{
    struct node *n = a->impl;

    if (n == NULL)
        return;
    net_get_cancel(n->get);
    adapter__privsock_free(n->get_sock);
    net_ws_free(n->ws);
    n->ws = NULL;
    /* No callback may run after free: drop pending calls and queued
     * answers without delivering them (the session answered its requests
     * when the backend closed). */
    while (n->calls != NULL) {
        struct call *c = n->calls;
        n->calls = c->next;
        free(c);
    }
    adapter_xlate_cleanup(&n->xl);
    while (n->xl.head != NULL) {
        struct dreq *r = (struct dreq *)n->xl.head;
        n->xl.head = r->x.next_done;
        dreq_free(r);
    }
    node__clear_pause(n);
    adapter_xrefs_cleanup(&n->refs);
    for (size_t i = 0; i < n->nscripts; i++) {
        free(n->scripts[i]->id);
        free(n->scripts[i]->url);
        free(n->scripts[i]->path);
        adapter_srcmap_free(n->scripts[i]->map);
        free(n->scripts[i]);
    }
    free(n->scripts);
    json_decref(n->script_index);
    for (size_t i = 0; i < n->nbps; i++)
        node__bp_free(n->bps[i]);
    free(n->bps);
    json_decref(n->overrides);
    free(n->exception_mode);
    free(n->host_header);
    free(n->title);
    a->impl = NULL;
    adapter_xlate_handle(&n->xl)->data = n; /* for handle_closed */
    uv_close(adapter_xlate_handle(&n->xl), handle_closed);
    uv_close((uv_handle_t *)&n->deadline, handle_closed);
    uv_close((uv_handle_t *)&n->calltimer, handle_closed);
}

const struct adapter_ops adapter__node_ops = {
    .new_fn = node_new,
    .start_fn = node_start,
    .request_fn = node_request,
    .stop_fn = node_stop,
    .free_fn = node_free,
};

/* ---- test hook ----------------------------------------------------------- */

void adapter__node_feed(adapter *a, const char *buf, size_t len);

/* Feed one inspector message as if it came over the WebSocket, in the
 * attached state (no connection: every CDP call then fails cleanly).  For
 * tests/fuzz/fuzz_cdp.c, which proves that hostile inspector messages never
 * crash kdap. */
void adapter__node_feed(adapter *a, const char *buf, size_t len)
{
    struct node *n = a->impl;

    if (n->state == N_NEW)
        n->state = N_READY;
    on_ws_message(n, NULL, (const uint8_t *)buf, len, 0);
}
