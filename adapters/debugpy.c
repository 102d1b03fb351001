/* debugpy.c - the Python backend: debugpy's own DAP server, its quirks
 * handled.
 *
 * kdap attaches to a debugpy that listens (`python -m debugpy --listen
 * HOST:PORT app.py`, or `debugpy.listen()` in the program).  What debugpy
 * 1.6 does that the session must not see:
 * - `attach` is answered only after configurationDone, and `initialized`
 *   comes in between: so this backend is ready on `initialized` (or fails on
 *   an attach refused before it), and the late attach response is only
 *   checked;
 * - its `attach` has keys of its own (`connect` is {host, port}, its
 *   `pathMappings` would map paths a second time): kdap sends only the keys
 *   in pass_keys, never the service's object as it is;
 * - events for debugpy's own clients (`debugpyWaitingForServer`, telemetry
 *   output) are dropped; `debugpyAttach` asks the client to open a second
 *   session for a subprocess, which kdap opens only to let it go (see
 *   "subprocesses");
 * - its error responses carry no `body` (the session builds the editor's
 *   error from `message`);
 * - it serves one client: disconnect (terminateDebuggee false) removes
 *   every breakpoint and resumes the program in debugpy itself, so
 *   detaching is that one request;
 * - every answer takes ~44 ms: not on kdap's socket (TCP_NODELAY is set on
 *   it, and debugpy's adapter writes a message in one piece) but inside
 *   debugpy, between the program and debugpy's adapter process.  The
 *   program's side (pydevd) writes each message's header and body with
 *   two send() calls on a socket with Nagle's algorithm on: the body waits
 *   for the header's ACK, which the adapter's kernel delays by its 40 ms
 *   delayed-ACK timer (strace: the body's send returns at once, the
 *   adapter's recv of it 44 ms later).  So at the first stop kdap sets
 *   TCP_NODELAY on pydevd's socket, from inside the program (one evaluate
 *   in the stopped frame; see fix_nagle()); from then on a stackTrace is
 *   about a millisecond.
 */
#include <stdlib.h>
#include <string.h>

#include "../dap/log.h"
#include "adapter_int.h"
#include "dapconn.h"

/* The attach request is answered after configurationDone, which the editor
 * sends when it is done setting breakpoints: no deadline of its own. */
#define ATTACH_TIMEOUT_MS (24u * 3600u * 1000u)

enum debugpy_state {
    P_NEW,
    P_ATTACHING,
    P_READY,
    P_STOPPING,
    P_CLOSED,
};

struct debugpy {
    adapter *a;
    adapter_dapconn *conn;
    char *connect;
    json_t *attach_args;
    struct adapter_dapconn_handshake hs;
    enum debugpy_state state;
    int nagle;                /* 0: pydevd's socket not fixed yet, 1: asked */
    struct release *releases; /* subprocesses being let go */
    uv_timer_t deadline;      /* detach deadline */
    int timer;                /* deadline initialised and not yet closed */
    int stop_status;
    struct dap_error stop_err;
};

static void start_failed(void *data, int status, const struct dap_error *err);
static void on_attach(void *data, int status, json_t *resp,
                      const struct dap_error *err);
/* debugpy's attach keys kdap passes on as the service gives them. */
static const char *const pass_keys[] = {
    "justMyCode",
    "redirectOutput",
    "showReturnValue",
    NULL,
};

static int debugpy_new(adapter *a, json_t *cfg, struct dap_error *err)
{
    const char *connect = json_string_value(json_object_get(cfg, "connect"));
    struct debugpy *p;
    char host[256];
    int port;
    int rc;

    if (connect == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the python runtime needs \"connect\": "
                             "\"HOST:PORT\" of a debugpy that listens "
                             "(python -m debugpy --listen HOST:PORT app.py)");
    rc = adapter__parse_hostport(connect, host, sizeof(host), &port, err);
    if (rc < 0)
        return rc;
    p = calloc(1, sizeof(*p));
    if (p == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    p->a = a;
    p->connect = strdup(connect);
    /* An empty arguments object reaches debugpy's server as none at all,
     * which it refuses: justMyCode is always named (its default);
     * subProcess false (see "subprocesses" below). */
    p->attach_args = json_pack("{s:b, s:b}", "justMyCode", 1, "subProcess", 0);
    for (int i = 0; pass_keys[i] != NULL; i++) {
        json_t *v = json_object_get(cfg, pass_keys[i]);
        if (v != NULL)
            json_object_set(p->attach_args, pass_keys[i], v);
    }
    p->hs = (struct adapter_dapconn_handshake){
        .who = "debugpy",
        .adapter_id = "debugpy",
        .connect_hint = "Is debugpy listening there? Start the program with "
                        "`python -m debugpy --listen HOST:PORT app.py` (or "
                        "call debugpy.listen() in it), or fix \"connect\"",
        .attach_args = p->attach_args,
        .attach_timeout_ms = ATTACH_TIMEOUT_MS,
        .attach_cb = on_attach,
        .fail_fn = start_failed,
        .data = p,
    };
    a->impl = p;
    return 0;
}

static void finish_start(struct debugpy *p, int status,
                         const struct dap_error *err)
{
    struct dap_error e;

    if (p->state != P_ATTACHING)
        return;
    if (status == DAP_ECLOSED) {
        /* debugpy --listen serves its first connection only. */
        dap_error_set(&e, DAP_ECLOSED,
                      "debugpy at %s closed the connection while kdap "
                      "attached: it serves one client, so another one is "
                      "attached or was (a port probe counts); restart the "
                      "program under debugpy",
                      p->connect);
        err = &e;
    }
    if (status < 0) {
        p->state = P_CLOSED;
        adapter_dapconn_free(p->conn);
        p->conn = NULL;
        adapter__ready(p->a, status, err);
        return;
    }
    p->state = P_READY;
    adapter__ready(p->a, 0, NULL);
}

static void start_failed(void *data, int status, const struct dap_error *err)
{
    finish_start(data, status, err);
}

static void on_attach(void *data, int status, json_t *resp,
                      const struct dap_error *err)
{
    struct debugpy *p = data;
    struct dap_error e;

    if (status == 0 &&
        adapter_dapconn_refused(resp, "debugpy", "to attach", &e) < 0) {
        status = e.code;
        err = &e;
    }
    if (status == 0)
        return;
    if (p->state == P_ATTACHING) {
        finish_start(p, status, err);
        return;
    }
    /* Refused after `initialized`: the session runs, but say why the
     * program may not stop where the editor expects. */
    if (p->state == P_READY)
        DAP_LOGW("service %s: %s", p->a->name, err->msg);
}

/* ---- subprocesses -------------------------------------------------------
 * debugpy traces the program's Python subprocesses when it was started so
 * (`python -m debugpy --listen` does; attach's subProcess cannot undo it)
 * and holds each one until a client attaches to it, asking for that client
 * with debugpyAttach.  kdap debugs the process it attached to: it answers
 * the offer with a session that only lets the subprocess go (initialize,
 * attach, configurationDone, disconnect), so the program never hangs in a
 * subprocess nobody debugs, and says so in the console. */

struct release {
    struct release *next;
    struct debugpy *p;
    adapter_dapconn *conn;
    json_t *attach_args; /* debugpyAttach's body, as debugpy wants it back */
    json_int_t pid;
};

static void say(struct debugpy *p, const char *text)
{
    json_t *out =
        json_pack("{s:s, s:s}", "category", "console", "output", text);
    adapter__event(p->a, "output", out);
    json_decref(out);
}

static void release_answered(void *data, int status, json_t *resp,
                             const struct dap_error *err)
{
    struct release *r = data;
    const char *cmd = json_string_value(json_object_get(resp, "command"));

    (void)err;
    if (status < 0 || cmd == NULL) {
        adapter_dapconn_close(r->conn);
        return;
    }
    if (strcmp(cmd, "initialize") == 0) {
        if (adapter_dapconn_request(r->conn, "attach", r->attach_args, 0,
                                    release_answered, r) < 0)
            adapter_dapconn_close(r->conn);
    } else if (strcmp(cmd, "attach") == 0) {
        json_t *args = json_pack("{s:b}", "terminateDebuggee", 0);
        if (adapter_dapconn_request(r->conn, "disconnect", args, 0,
                                    release_answered, r) < 0)
            adapter_dapconn_close(r->conn);
        json_decref(args);
    } else if (strcmp(cmd, "disconnect") == 0) {
        adapter_dapconn_close(r->conn);
    }
}

static void release_connected(void *data, int status,
                              const struct dap_error *err)
{
    struct release *r = data;
    json_t *args = json_pack("{s:s, s:s, s:s}", "clientID", "kdap", "adapterID",
                             "debugpy", "pathFormat", "path");

    if (status < 0 || adapter_dapconn_request(r->conn, "initialize", args, 0,
                                              release_answered, r) < 0)
        DAP_LOGW("service %s: cannot let subprocess %lld go: %s", r->p->a->name,
                 (long long)r->pid,
                 status < 0 ? err->msg : "debugpy closed the connection");
    json_decref(args);
}

static void release_event(void *data, json_t *msg)
{
    struct release *r = data;
    const char *ev = json_string_value(json_object_get(msg, "event"));

    if (ev != NULL && strcmp(ev, "initialized") == 0 &&
        adapter_dapconn_request(r->conn, "configurationDone", NULL, 0,
                                release_answered, r) < 0)
        adapter_dapconn_close(r->conn);
}

static void release_closed(void *data, int status, const struct dap_error *err)
{
    (void)data;
    (void)status;
    (void)err; /* freed with the backend (never inside its own callback) */
}

static void subprocess_started(struct debugpy *p, json_t *body)
{
    json_t *conn = json_object_get(body, "connect");
    const char *host = json_string_value(json_object_get(conn, "host"));
    json_int_t port = json_integer_value(json_object_get(conn, "port"));
    struct adapter_dapconn_callbacks cb = {
        .connected_fn = release_connected,
        .event_fn = release_event,
        .closed_fn = release_closed,
    };
    struct release *r = calloc(1, sizeof(*r));
    struct dap_error err;
    char hostport[300];
    char text[512];

    if (r == NULL)
        return;
    r->p = p;
    r->pid = json_integer_value(json_object_get(body, "subProcessId"));
    r->attach_args = json_deep_copy(body);
    cb.data = r;
    snprintf(hostport, sizeof(hostport), "%s:%lld",
             host != NULL ? host : "127.0.0.1", (long long)port);
    if (adapter_dapconn_new(p->a->loop, hostport, -1, "debugpy", 5000, &cb,
                            &r->conn, &err) < 0) {
        DAP_LOGW("service %s: %s", p->a->name, err.msg);
        snprintf(text, sizeof(text),
                 "kdap: service \"%s\": the program started a Python "
                 "subprocess (%lld) that debugpy holds for a debugger of its "
                 "own, and kdap could not reach debugpy to let it go\n",
                 p->a->name, (long long)r->pid);
        json_decref(r->attach_args);
        free(r);
        say(p, text);
        return;
    }
    r->next = p->releases;
    p->releases = r;
    snprintf(text, sizeof(text),
             "kdap: service \"%s\": the program started a Python subprocess "
             "(%lld); kdap debugs the process it attached to, so it lets "
             "debugpy run this one undebugged\n",
             p->a->name, (long long)r->pid);
    say(p, text);
}

/* ---- pydevd's Nagle ---------------------------------------------------- */

/* Runs in the program's stopped frame: the pydevd module debugpy loaded,
 * its writer's socket, TCP_NODELAY (IPPROTO_TCP 6, TCP_NODELAY 1: Linux's
 * and every BSD's numbers).  It touches only the debugger's own socket. */
#define NODELAY_EXPR                                                           \
    "__import__('sys').modules['pydevd'].get_global_debugger()"                \
    ".writer.sock.setsockopt(6, 1, 1)"

static void on_nagle_fixed(void *data, int status, json_t *resp,
                           const struct dap_error *err)
{
    struct debugpy *p = data;

    if (status == 0 && json_is_true(json_object_get(resp, "success")))
        DAP_LOGI("service %s: TCP_NODELAY set on debugpy's own socket in "
                 "the program (its answers no longer wait 40 ms for an ACK)",
                 p->a->name);
    else
        DAP_LOGW("service %s: could not set TCP_NODELAY on debugpy's socket "
                 "(answers keep taking ~44 ms): %s",
                 p->a->name,
                 status < 0
                     ? err->msg
                     : json_string_value(json_object_get(resp, "message")));
}

static void on_nagle_frame(void *data, int status, json_t *resp,
                           const struct dap_error *err)
{
    struct debugpy *p = data;
    json_t *frames =
        json_object_get(json_object_get(resp, "body"), "stackFrames");
    json_t *id = json_object_get(json_array_get(frames, 0), "id");
    json_t *args;

    (void)err;
    if (status < 0 || !json_is_integer(id) || p->state != P_READY)
        return;
    args = json_pack("{s:s, s:O, s:s}", "expression", NODELAY_EXPR, "frameId",
                     id, "context", "repl");
    if (adapter_dapconn_request(p->conn, "evaluate", args, 0, on_nagle_fixed,
                                p) < 0)
        DAP_LOGW("service %s: could not ask debugpy to set TCP_NODELAY",
                 p->a->name);
    json_decref(args);
}

/* Once, at the first stop (pydevd evaluates only in a stopped frame): the
 * editor's own requests go on meanwhile, debugpy answers in order. */
static void fix_nagle(struct debugpy *p, json_int_t tid)
{
    json_t *args;

    if (p->nagle)
        return;
    p->nagle = 1;
    args = json_pack("{s:I, s:i, s:i}", "threadId", tid, "startFrame", 0,
                     "levels", 1);
    if (adapter_dapconn_request(p->conn, "stackTrace", args, 0, on_nagle_frame,
                                p) < 0)
        DAP_LOGW("service %s: could not ask debugpy for a frame", p->a->name);
    json_decref(args);
}

static void on_event(void *data, json_t *msg)
{
    struct debugpy *p = data;
    const char *ev = json_string_value(json_object_get(msg, "event"));
    json_t *body = json_object_get(msg, "body");
    const char *cat = json_string_value(json_object_get(body, "category"));
    json_int_t tid;

    if (ev == NULL || p->state == P_STOPPING || p->state == P_CLOSED)
        return; /* debugpy's own goodbyes while we detach */
    if (strcmp(ev, "initialized") == 0) {
        finish_start(p, 0, NULL);
        return;
    }
    if (p->state != P_READY || strncmp(ev, "debugpy", 7) == 0) {
        if (p->state == P_READY && strcmp(ev, "debugpyAttach") == 0)
            subprocess_started(p, body);
        return;
    }
    if (strcmp(ev, "output") == 0 && cat != NULL &&
        strcmp(cat, "telemetry") == 0)
        return;
    if (strcmp(ev, "capabilities") == 0) {
        json_t *caps = json_object_get(body, "capabilities");
        if (p->a->caps != NULL && json_is_object(caps))
            json_object_update(p->a->caps, caps);
        return;
    }
    /* The session remaps the ids in `body` in place: debugpy's thread id
     * first. */
    tid = json_integer_value(json_object_get(body, "threadId"));
    adapter__event(p->a, ev, body);
    if (strcmp(ev, "stopped") == 0 && p->state == P_READY && tid > 0)
        fix_nagle(p, tid);
}

static void on_closed(void *data, int status, const struct dap_error *err)
{
    struct debugpy *p = data;
    enum debugpy_state was = p->state;

    p->state = P_CLOSED;
    if (p->timer)
        uv_timer_stop(&p->deadline);
    if (was == P_STOPPING) {
        adapter__closed(p->a, p->stop_status, &p->stop_err);
        return;
    }
    if (was < P_READY)
        return; /* reported through connected/initialize/attach */
    adapter__closed(p->a, status < 0 ? status : DAP_ECLOSED, err);
}

static int debugpy_start(adapter *a)
{
    struct debugpy *p = a->impl;
    struct adapter_dapconn_callbacks cb = {
        .event_fn = on_event,
        .closed_fn = on_closed,
        .data = p,
    };

    p->state = P_ATTACHING;
    return adapter_dapconn_open(a, p->connect, &p->hs, &cb, &p->conn);
}

static int debugpy_request(adapter *a, const char *command, json_t *args,
                           adapter_response_cb *cb, void *data)
{
    struct debugpy *p = a->impl;

    if (p->state != P_READY)
        return DAP_ECLOSED;
    return adapter_dapconn_forward(p->conn, command, args, cb, data);
}

/* ---- detach / terminate ------------------------------------------------ */

static void on_disconnect(void *data, int status, json_t *resp,
                          const struct dap_error *err)
{
    struct debugpy *p = data;

    if (p->state != P_STOPPING)
        return;
    if (status == 0 && adapter_dapconn_refused(resp, "debugpy", "to disconnect",
                                               &p->stop_err) < 0)
        status = p->stop_err.code;
    else if (status < 0)
        p->stop_err = *err;
    if (status < 0) {
        p->stop_status = status;
        DAP_LOGW("service %s: %s", p->a->name, p->stop_err.msg);
    }
    adapter_dapconn_close(p->conn);
}

static void deadline_timeout(uv_timer_t *t)
{
    struct debugpy *p = t->data;

    if (p->state != P_STOPPING)
        return;
    dap_error_set(&p->stop_err, DAP_ETIMEDOUT,
                  "debugpy did not finish detaching in time");
    p->stop_status = DAP_ETIMEDOUT;
    adapter_dapconn_close(p->conn);
}

static void debugpy_stop(adapter *a, enum adapter_stop_mode mode,
                         unsigned timeout_ms)
{
    struct debugpy *p = a->impl;
    json_t *args;

    if (p->state == P_CLOSED || p->state == P_STOPPING)
        return;
    if (p->state != P_READY) {
        p->state = P_STOPPING;
        if (p->conn != NULL)
            adapter_dapconn_close(p->conn);
        return;
    }
    p->state = P_STOPPING;
    p->stop_status = 0;
    memset(&p->stop_err, 0, sizeof(p->stop_err));
    if (!p->timer) {
        uv_timer_init(a->loop, &p->deadline);
        p->deadline.data = p;
        p->timer = 1;
    }
    uv_timer_start(&p->deadline, deadline_timeout, timeout_ms, 0);
    args = json_pack("{s:b}", "terminateDebuggee", mode == ADAPTER_TERMINATE);
    if (adapter_dapconn_request(p->conn, "disconnect", args, timeout_ms,
                                on_disconnect, p) < 0)
        adapter_dapconn_close(p->conn);
    json_decref(args);
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

static void debugpy_free(adapter *a)
{
    struct debugpy *p = a->impl;

    if (p == NULL)
        return;
    adapter_dapconn_free(p->conn);
    json_decref(p->attach_args);
    free(p->connect);
    while (p->releases != NULL) {
        struct release *r = p->releases;
        p->releases = r->next;
        adapter_dapconn_free(r->conn);
        json_decref(r->attach_args);
        free(r);
    }
    a->impl = NULL;
    if (!p->timer) {
        free(p);
        return;
    }
    /* The timer lives inside p: libuv owns it until its close callback. */
    uv_close((uv_handle_t *)&p->deadline, timer_closed);
}

const struct adapter_ops adapter__debugpy_ops = {
    .new_fn = debugpy_new,
    .start_fn = debugpy_start,
    .request_fn = debugpy_request,
    .stop_fn = debugpy_stop,
    .free_fn = debugpy_free,
};

/* ---- the runtime's profile --------------------------------------------- */

/* debugpy's own filter ids (its initialize lists them). */
static const char *const python_filters[] = {"raised", "uncaught",
                                             "userUnhandled", NULL};
static const char *const python_commands[] = {"python", "python3", "gunicorn",
                                              "uvicorn", NULL};
static const char *const python_env_vars[] = {"PYTHON_VERSION", NULL};
static const char *const python_images[] = {"python", NULL};

/* No debug container yet (no script): in the cluster kdap says so and
 * names "connect" to a debugpy the user starts. */
const struct adapter_kind adapter__debugpy_kind = {
    .runtime = "python",
    .description = "Python through debugpy (DAP)",
    .exception_filters = python_filters,
    .debugger = "debugpy",
    .detect_commands = python_commands,
    .detect_env = python_env_vars,
    .detect_images = python_images,
};
