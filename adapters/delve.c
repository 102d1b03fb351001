/* delve.c - the Go backend: delve's own DAP server, with its quirks fixed.
 *
 * kdap attaches to a headless delve (`dlv --headless --accept-multiclient
 * ... attach PID|exec BIN`) in delve's "remote" mode.  What delve 1.20 does
 * that a well-behaved DAP server would not, and what we do about it:
 * - every message has seq 0: dapconn matches responses by request_seq and
 *   the session renumbers everything it sends to the editor;
 * - initialize is refused unless pathFormat, linesStartAt1 and
 *   columnsStartAt1 are all explicit: we always send them;
 * - `initialized` and `capabilities` events arrive around the attach
 *   response: both are consumed here, the session announces itself;
 * - on disconnect delve emits a stray stopped(pause) and a terminated: the
 *   backend is closing by then and drops every event;
 * - breakpoints set by a client survive its disconnect on a multiclient
 *   server and would halt the app with nobody attached, and a disconnect
 *   while delve pauses/resumes in the background leaves the app halted: so
 *   detaching is pause (if running), clear every breakpoint, resume, then
 *   disconnect.  See stop_step();
 * - a pause stop names no thread: the current goroutine is found (else the
 *   thread the pause asked for), see on_pause_threads();
 * - `variables` pages only indexed children and returns every named one
 *   whatever start/count say: such an answer is paged here.
 * The runtime's profile (adapter.h) is at the end of this file.
 */
#include <stdlib.h>
#include <string.h>

#include "../dap/log.h"
#include "../dap/pathmap.h"
#include "adapter_int.h"
#include "dapconn.h"
#include "xlate.h"

#define PAUSE_WAIT_MS 1500

enum delve_state {
    D_NEW,
    D_ATTACHING,
    D_READY,
    D_STOPPING,
    D_CLOSED,
};

/* Steps of the detach sequence, in order. */
enum stop_step {
    S_PAUSE,
    S_WAIT_STOPPED,
    S_CLEAR_SOURCES,
    S_CLEAR_FUNCTIONS,
    S_RESUME,
    S_DISCONNECT,
    S_DONE,
};

struct delve {
    adapter *a;
    adapter_dapconn *conn;
    char *connect;
    json_t *attach_args;  /* sent as is (mode remote + pass-through keys) */
    struct adapter_dapconn_handshake hs;
    enum delve_state state;
    int got_initialized;
    int got_attach;
    int configured;       /* configurationDone went out */
    int running;          /* debuggee running, as far as we know */
    json_t *bp_sources;   /* remote path -> true, sources with breakpoints */
    int fn_bps;           /* function breakpoints are set */
    enum adapter_stop_mode stop_mode;
    enum stop_step step;
    uv_timer_t deadline;  /* detach deadline */
    uv_timer_t pausewait; /* how long to wait for the pause to land */
    int timers;           /* timer handles initialised and not yet closed */
    int stop_status;
    struct dap_error stop_err;
    json_t *held_stop;    /* a stopped event waiting for its thread */
    json_int_t pause_thread; /* threadId of the last pause asked for */
    /* inferring remoteRoot (localRoot given alone) */
    char *local_root;
    char **infer_files;   /* local files, relative to local_root */
    size_t infer_n;
    size_t infer_i;
    json_t *infer_votes;  /* candidate root -> count */
};

static void stop_step(struct delve *d);
static void start_failed(void *data, int status, const struct dap_error *err);
static void on_attach(void *data, int status, json_t *resp,
                      const struct dap_error *err);
static void pause_timeout(uv_timer_t *t);

static const char *const pass_keys[] = {
    "stackTraceDepth", "showGlobalVariables", "showRegisters",
    "hideSystemGoroutines", "goroutineFilters", "stopOnEntry",
    NULL,
};

static int delve_new(adapter *a, json_t *cfg, struct dap_error *err)
{
    const char *connect = json_string_value(json_object_get(cfg, "connect"));
    struct delve *d;
    char host[256];
    int port;
    int rc;

    if (connect == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the go runtime needs "
                             "\"connect\": \"HOST:PORT\" of a headless delve "
                             "(dlv --headless --accept-multiclient "
                             "--api-version=2 --listen=HOST:PORT attach PID)");
    rc = adapter__parse_hostport(connect, host, sizeof(host), &port, err);
    if (rc < 0)
        return rc;
    d = calloc(1, sizeof(*d));
    if (d == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    d->a = a;
    d->connect = strdup(connect);
    d->attach_args = json_pack("{s:s}", "mode", "remote");
    for (int i = 0; pass_keys[i] != NULL; i++) {
        json_t *v = json_object_get(cfg, pass_keys[i]);
        if (v != NULL)
            json_object_set(d->attach_args, pass_keys[i], v);
    }
    d->hs = (struct adapter_dapconn_handshake){
        .who = "delve",
        .adapter_id = "go",
        .connect_hint = "Is delve listening there? Start it with `dlv "
                        "--headless --accept-multiclient --api-version=2 "
                        "--listen=HOST:PORT attach PID`, or fix \"connect\"",
        .attach_args = d->attach_args,
        .attach_cb = on_attach,
        .fail_fn = start_failed,
        .data = d,
    };
    d->bp_sources = json_object();
    /* localRoot without remoteRoot (or substitutePath): find the remote
     * root from the binary once attached. */
    if (json_is_string(json_object_get(cfg, "localRoot")) &&
        json_object_get(cfg, "remoteRoot") == NULL &&
        json_array_size(json_object_get(cfg, "substitutePath")) == 0)
        d->local_root =
            strdup(json_string_value(json_object_get(cfg, "localRoot")));
    a->impl = d;
    return 0;
}

static void finish_start(struct delve *d, int status,
                         const struct dap_error *err)
{
    if (status < 0) {
        d->state = D_CLOSED;
        adapter_dapconn_free(d->conn);
        d->conn = NULL;
        adapter__ready(d->a, status, err);
        return;
    }
    d->state = D_READY;
    adapter__ready(d->a, 0, NULL);
}

static void infer_next(struct delve *d);

static void maybe_ready(struct delve *d)
{
    if (d->state != D_ATTACHING || !d->got_initialized || !d->got_attach)
        return;
    if (d->local_root == NULL) {
        finish_start(d, 0, NULL);
        return;
    }
    d->infer_n = dap_pathmap_sample(d->local_root, ".go", 6, &d->infer_files);
    d->infer_votes = json_object();
    d->infer_i = 0;
    infer_next(d);
}

/* Pick the root most sampled files agree on. */
static void infer_done(struct delve *d)
{
    const char *root;
    const char *best = NULL;
    json_int_t best_n = 0;
    json_t *v;

    json_object_foreach(d->infer_votes, root, v)
    {
        if (json_integer_value(v) > best_n) {
            best = root;
            best_n = json_integer_value(v);
        }
    }
    if (best != NULL) {
        d->a->inferred_root = strdup(best);
        DAP_LOGI("service %s: remoteRoot %s inferred for localRoot %s (%lld "
                 "of %zu files agree)",
                 d->a->name, best, d->local_root, (long long)best_n,
                 d->infer_n);
    } else {
        DAP_LOGW("service %s: no file of %s is among the binary's sources; "
                 "remoteRoot not inferred",
                 d->a->name, d->local_root);
    }
    finish_start(d, 0, NULL);
}

static void on_infer(void *data, int status, json_t *resp,
                     const struct dap_error *err)
{
    struct delve *d = data;
    const char *rel = d->infer_files[d->infer_i];
    const char *result;

    if (status < 0) {
        finish_start(d, status, err);
        return;
    }
    result = json_string_value(
        json_object_get(json_object_get(resp, "body"), "result"));
    /* One recorded path per line. */
    while (result != NULL && *result != '\0') {
        const char *eol = strchr(result, '\n');
        size_t len = eol != NULL ? (size_t)(eol - result) : strlen(result);
        char line[4096];
        char *root;
        if (len < sizeof(line)) {
            memcpy(line, result, len);
            line[len] = '\0';
            root = dap_pathmap_root_of(rel, line);
            if (root != NULL) {
                json_int_t n = json_integer_value(
                    json_object_get(d->infer_votes, root));
                json_object_set_new(d->infer_votes, root,
                                    json_integer(n + 1));
                free(root);
            }
        }
        result = eol != NULL ? eol + 1 : NULL;
    }
    d->infer_i++;
    infer_next(d);
}

/* Ask delve which recorded sources end with the next sampled file. */
static void infer_next(struct delve *d)
{
    char expr[4200];
    size_t o;
    const char *rel;
    json_t *args;
    struct dap_error e;

    if (d->infer_i >= d->infer_n) {
        infer_done(d);
        return;
    }
    rel = d->infer_files[d->infer_i];
    o = (size_t)snprintf(expr, sizeof(expr), "dlv sources /");
    for (const char *p = rel; *p && o + 3 < sizeof(expr); p++) {
        if (strchr("\\.+*?()|[]{}^$", *p) != NULL)
            expr[o++] = '\\';
        expr[o++] = *p;
    }
    expr[o++] = '$';
    expr[o] = '\0';
    args = json_pack("{s:s, s:s}", "expression", expr, "context", "repl");
    if (adapter_dapconn_request(d->conn, "evaluate", args, 5000, on_infer, d) <
        0) {
        dap_error_set(&e, DAP_ECLOSED, "delve went away while attaching");
        finish_start(d, DAP_ECLOSED, &e);
    }
    json_decref(args);
}

static void start_failed(void *data, int status, const struct dap_error *err)
{
    finish_start(data, status, err);
}

static void on_attach(void *data, int status, json_t *resp,
                      const struct dap_error *err)
{
    struct delve *d = data;
    struct dap_error e;

    if (status < 0) {
        finish_start(d, status, err);
        return;
    }
    if (adapter_dapconn_refused(resp, "delve", "to attach", &e) < 0) {
        finish_start(d, e.code, &e);
        return;
    }
    d->got_attach = 1;
    maybe_ready(d);
}

/* delve's pause stop names no thread; find the current goroutine (delve
 * marks it "* " in threads), else the thread the pause was asked for, so
 * the editor knows where the program is (with several services it could
 * not even tell which one stopped).  The held-back event waits in
 * d->held_stop. */
static void on_pause_threads(void *data, int status, json_t *resp,
                             const struct dap_error *err)
{
    struct delve *d = data;
    json_t *body = d->held_stop;
    json_t *threads;
    json_t *t;
    size_t i;
    json_int_t id = 0;

    (void)err;
    d->held_stop = NULL;
    if (body == NULL)
        return;
    threads = status == 0 ? json_object_get(json_object_get(resp, "body"),
                                            "threads")
                          : NULL;
    json_array_foreach(threads, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        int current = name != NULL && strncmp(name, "* ", 2) == 0;
        if (id == 0 || current)
            id = json_integer_value(json_object_get(t, "id"));
        if (current)
            break;
    }
    if (id == 0)
        id = d->pause_thread;
    d->pause_thread = 0;
    if (id != 0)
        json_object_set_new(body, "threadId", json_integer(id));
    if (d->state == D_READY)
        adapter__event(d->a, "stopped", body);
    json_decref(body);
}

/* ---- log points: literal braces --------------------------------------- */

/* delve parses log messages itself, and every brace it sees opens or
 * closes an expression: it has no literal brace.  kdap's logMessage syntax
 * (xlate.h: "{{" and "}}" are literal) is kept by handing delve the
 * literal braces as two private-use characters, which delve copies into its
 * output, and turning them back in its output events. */
#define LIT_OPEN "\xee\x80\x80"  /* U+E000 */
#define LIT_CLOSE "\xee\x80\x81" /* U+E001 */

static int delve_piece(void *data, int is_expr, const char *text, size_t len)
{
    dap_buf *b = data;
    int rc = 0;

    if (is_expr)
        return dap_buf_printf(b, "{%.*s}", (int)len, text);
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (text[i] == '{')
            rc = dap_buf_append(b, LIT_OPEN, 3);
        else if (text[i] == '}')
            rc = dap_buf_append(b, LIT_CLOSE, 3);
        else
            rc = dap_buf_append(b, &text[i], 1);
    }
    return rc;
}

/* setBreakpoints arguments for delve: a copy with the log messages
 * rewritten, or NULL when none has a brace (use the arguments as they
 * are). */
static json_t *delve_bp_args_new(json_t *args)
{
    json_t *copy = NULL;
    json_t *bp;
    size_t i;

    json_array_foreach(json_object_get(args, "breakpoints"), i, bp)
    {
        const char *m = json_string_value(json_object_get(bp, "logMessage"));
        dap_buf b;
        char *text;

        if (m == NULL || strpbrk(m, "{}") == NULL)
            continue;
        if (copy == NULL)
            copy = json_deep_copy(args);
        if (copy == NULL)
            return NULL;
        dap_buf_init(&b, 1u << 20);
        if (adapter_xlate_log_parse(m, delve_piece, &b) < 0) {
            dap_buf_cleanup(&b);
            continue; /* too long: delve gets it as it is */
        }
        text = dap_buf_take(&b, NULL);
        json_object_set_new(
            json_array_get(json_object_get(copy, "breakpoints"), i),
            "logMessage", json_string(text != NULL ? text : ""));
        free(text);
    }
    return copy;
}

/* Turn the private-use characters back into braces, in place. */
static void delve_output_braces(json_t *body)
{
    const char *out = json_string_value(json_object_get(body, "output"));
    char *fixed, *w;

    if (out == NULL || strstr(out, "\xee\x80") == NULL)
        return;
    fixed = strdup(out);
    if (fixed == NULL)
        return;
    w = fixed;
    for (const char *p = out; *p;) {
        if (strncmp(p, LIT_OPEN, 3) == 0 || strncmp(p, LIT_CLOSE, 3) == 0) {
            *w++ = p[2] == LIT_OPEN[2] ? '{' : '}';
            p += 3;
        } else {
            *w++ = *p++;
        }
    }
    *w = '\0';
    json_object_set_new(body, "output", json_string(fixed));
    free(fixed);
}

static void on_event(void *data, json_t *msg)
{
    struct delve *d = data;
    const char *ev = json_string_value(json_object_get(msg, "event"));
    json_t *body = json_object_get(msg, "body");

    if (ev == NULL)
        return;
    if (strcmp(ev, "stopped") == 0)
        d->running = 0;
    else if (strcmp(ev, "continued") == 0)
        d->running = 1;

    if (d->state == D_STOPPING) {
        if (d->step == S_WAIT_STOPPED && strcmp(ev, "stopped") == 0) {
            uv_timer_stop(&d->pausewait);
            d->step = S_CLEAR_SOURCES;
            stop_step(d);
        }
        return; /* delve's stray events while we detach */
    }
    if (strcmp(ev, "initialized") == 0) {
        d->got_initialized = 1;
        maybe_ready(d);
        return;
    }
    if (strcmp(ev, "capabilities") == 0) {
        json_t *caps = json_object_get(body, "capabilities");
        if (d->a->caps != NULL && json_is_object(caps))
            json_object_update(d->a->caps, caps);
        return;
    }
    if (strcmp(ev, "output") == 0) {
        const char *out = json_string_value(json_object_get(body, "output"));
        /* delve's CLI hint makes no sense in an editor. */
        if (out != NULL && strstr(out, "Type 'dlv help'") != NULL)
            return;
        delve_output_braces(body);
    }
    if (d->state == D_READY && strcmp(ev, "stopped") == 0 &&
        json_object_get(body, "threadId") == NULL) {
        if (d->held_stop == NULL) {
            d->held_stop = json_deep_copy(body);
            if (adapter_dapconn_request(d->conn, "threads", NULL, 5000,
                                        on_pause_threads, d) == 0)
                return;
            json_decref(d->held_stop);
            d->held_stop = NULL;
        }
    }
    if (d->state == D_READY)
        adapter__event(d->a, ev, body);
}

static void on_closed(void *data, int status, const struct dap_error *err)
{
    struct delve *d = data;
    int was = d->state;

    d->state = D_CLOSED;
    if (d->timers > 0) {
        uv_timer_stop(&d->deadline);
        uv_timer_stop(&d->pausewait);
    }
    if (was == D_STOPPING) {
        adapter__closed(d->a, d->stop_status, &d->stop_err);
        return;
    }
    if (was < D_READY)
        return; /* reported through connected/initialize/attach */
    adapter__closed(d->a, status < 0 ? status : DAP_ECLOSED, err);
}

static int delve_start(adapter *a)
{
    struct delve *d = a->impl;
    struct adapter_dapconn_callbacks cb = {
        .event_fn = on_event,
        .closed_fn = on_closed,
        .data = d,
    };

    d->state = D_ATTACHING;
    return adapter_dapconn_open(a, d->connect, &d->hs, &cb, &d->conn);
}

/* Track what the detach sequence will have to undo. */
static void note_request(struct delve *d, const char *command, json_t *args)
{
    if (strcmp(command, "setBreakpoints") == 0) {
        const char *path = json_string_value(
            json_object_get(json_object_get(args, "source"), "path"));
        size_t n = json_array_size(json_object_get(args, "breakpoints"));
        if (n == 0)
            n = json_array_size(json_object_get(args, "lines"));
        if (path != NULL) {
            if (n > 0)
                json_object_set_new(d->bp_sources, path, json_true());
            else
                json_object_del(d->bp_sources, path);
        }
    } else if (strcmp(command, "setFunctionBreakpoints") == 0) {
        d->fn_bps = json_array_size(json_object_get(args, "breakpoints")) > 0;
    } else if (strcmp(command, "pause") == 0) {
        d->pause_thread = json_integer_value(json_object_get(args, "threadId"));
    } else if (strcmp(command, "configurationDone") == 0) {
        d->configured = 1;
        d->running = !json_is_true(json_object_get(d->attach_args,
                                                   "stopOnEntry"));
    } else if (strcmp(command, "continue") == 0 ||
               strcmp(command, "next") == 0 ||
               strcmp(command, "stepIn") == 0 ||
               strcmp(command, "stepOut") == 0) {
        d->running = 1;
    }
}

/* `variables` with a count: delve pages indexed children only and returns
 * every named child whatever start/count say, so an answer longer than
 * `count` was not paged and is paged here. */
struct delve_page {
    adapter_response_cb *cb;
    void *data;
    json_int_t start, count;
};

static void on_variables(void *data, int status, json_t *body,
                         const struct dap_error *err)
{
    struct delve_page *p = data;
    json_t *vars = json_object_get(body, "variables");
    size_t n = json_array_size(vars);

    if (status == 0 && p->start >= 0 && n > (size_t)p->count) {
        json_t *page = json_array();
        for (size_t i = (size_t)p->start;
             i < n && i < (size_t)(p->start + p->count); i++)
            json_array_append(page, json_array_get(vars, i));
        json_object_set_new(body, "variables", page);
    }
    p->cb(p->data, status, body, err);
    free(p);
}

static int delve_request(adapter *a, const char *command, json_t *args,
                         adapter_response_cb *cb, void *data)
{
    struct delve *d = a->impl;
    struct delve_page *p;
    int rc;

    if (d->state != D_READY)
        return DAP_ECLOSED;
    note_request(d, command, args);
    if (strcmp(command, "setBreakpoints") == 0) {
        json_t *copy = delve_bp_args_new(args);
        rc = adapter_dapconn_forward(d->conn, command,
                                     copy != NULL ? copy : args, cb, data);
        json_decref(copy);
        return rc;
    }
    if (strcmp(command, "variables") != 0 ||
        json_integer_value(json_object_get(args, "count")) <= 0)
        return adapter_dapconn_forward(d->conn, command, args, cb, data);
    p = malloc(sizeof(*p));
    if (p == NULL)
        return DAP_ENOMEM;
    p->cb = cb;
    p->data = data;
    p->start = json_integer_value(json_object_get(args, "start"));
    p->count = json_integer_value(json_object_get(args, "count"));
    rc = adapter_dapconn_forward(d->conn, command, args, on_variables, p);
    if (rc < 0)
        free(p);
    return rc;
}

/* ---- detach / terminate ------------------------------------------------ */

static void stop_fail(struct delve *d, const char *what)
{
    if (d->step == S_DONE)
        return; /* the close below fails the other pending requests too */
    dap_error_set(&d->stop_err, DAP_EBACKEND,
                  "detaching from delve: %s failed", what);
    d->stop_status = DAP_EBACKEND;
    DAP_LOGW("service %s: %s", d->a->name, d->stop_err.msg);
    d->step = S_DONE;
    adapter_dapconn_close(d->conn);
}

static void on_stop_resp(void *data, int status, json_t *resp,
                         const struct dap_error *err)
{
    struct delve *d = data;
    const char *cmd;

    (void)err;
    if (d->state != D_STOPPING)
        return;
    if (status < 0) {
        stop_fail(d, "a request");
        return;
    }
    /* A refused clear or resume is logged and the sequence goes on: the
     * disconnect must still happen. */
    if (!json_is_true(json_object_get(resp, "success")))
        DAP_LOGW("service %s: delve refused '%s' while detaching: %s",
                 d->a->name,
                 json_string_value(json_object_get(resp, "command")),
                 json_string_value(json_object_get(resp, "message")));
    cmd = json_string_value(json_object_get(resp, "command"));
    if (cmd != NULL && strcmp(cmd, "disconnect") == 0) {
        d->step = S_DONE;
        adapter_dapconn_close(d->conn);
        return;
    }
    if (d->step == S_PAUSE) {
        if (d->running) {
            d->step = S_WAIT_STOPPED;
            uv_timer_start(&d->pausewait, pause_timeout, PAUSE_WAIT_MS, 0);
            return; /* on_event or the pause timer moves on */
        }
        d->step = S_CLEAR_SOURCES;
    }
    stop_step(d);
}

static void pause_timeout(uv_timer_t *t)
{
    struct delve *d = t->data;

    if (d->state == D_STOPPING && d->step == S_WAIT_STOPPED) {
        DAP_LOGW("service %s: delve did not report the pause; clearing "
                 "breakpoints anyway",
                 d->a->name);
        d->step = S_CLEAR_SOURCES;
        stop_step(d);
    }
}

static void deadline_timeout(uv_timer_t *t)
{
    struct delve *d = t->data;

    if (d->state != D_STOPPING || d->step == S_DONE)
        return;
    /* Give up politely: just close the connection. */
    dap_error_set(&d->stop_err, DAP_ETIMEDOUT,
                  "delve did not finish detaching in time");
    d->stop_status = DAP_ETIMEDOUT;
    d->step = S_DONE;
    adapter_dapconn_close(d->conn);
}

static int send_stop(struct delve *d, const char *command, json_t *args)
{
    int rc = adapter_dapconn_request(d->conn, command, args, 3000,
                                     on_stop_resp, d);
    json_decref(args);
    if (rc < 0)
        stop_fail(d, command);
    return rc;
}

static void stop_step(struct delve *d)
{
    const char *path;
    json_t *v;

    switch (d->step) {
    case S_PAUSE:
        if (!d->running) {
            d->step = S_CLEAR_SOURCES;
            stop_step(d);
            return;
        }
        /* delve halts every goroutine whatever threadId says. */
        send_stop(d, "pause", json_pack("{s:i}", "threadId", 1));
        return;
    case S_WAIT_STOPPED:
        return;
    case S_CLEAR_SOURCES:
        json_object_foreach(d->bp_sources, path, v)
        {
            (void)v;
            json_t *args = json_pack("{s:{s:s}, s:[]}", "source", "path", path,
                                     "breakpoints");
            json_object_del(d->bp_sources, path);
            send_stop(d, "setBreakpoints", args);
            return; /* one at a time; we come back here */
        }
        d->step = S_CLEAR_FUNCTIONS;
        /* fall through */
    case S_CLEAR_FUNCTIONS:
        d->step = S_RESUME;
        if (d->fn_bps) {
            d->fn_bps = 0;
            send_stop(d, "setFunctionBreakpoints",
                      json_pack("{s:[]}", "breakpoints"));
            return;
        }
        /* fall through */
    case S_RESUME:
        d->step = S_DISCONNECT;
        if (!d->configured) {
            d->configured = 1;
            send_stop(d, "configurationDone", NULL);
            return;
        }
        if (!d->running) {
            send_stop(d, "continue", json_pack("{s:i}", "threadId", 1));
            return;
        }
        /* fall through */
    case S_DISCONNECT:
        d->step = S_DISCONNECT;
        send_stop(d, "disconnect",
                  json_pack("{s:b}", "terminateDebuggee",
                            d->stop_mode == ADAPTER_TERMINATE));
        return;
    case S_DONE:
        return;
    }
}

static void delve_stop(adapter *a, enum adapter_stop_mode mode,
                       unsigned timeout_ms)
{
    struct delve *d = a->impl;

    if (d->state != D_READY) {
        if (d->conn != NULL && d->state != D_CLOSED) {
            d->state = D_STOPPING;
            adapter_dapconn_close(d->conn);
        }
        return;
    }
    d->state = D_STOPPING;
    d->stop_mode = mode;
    d->stop_status = 0;
    memset(&d->stop_err, 0, sizeof(d->stop_err));
    if (d->timers == 0) {
        uv_timer_init(a->loop, &d->deadline);
        uv_timer_init(a->loop, &d->pausewait);
        d->deadline.data = d;
        d->pausewait.data = d;
        d->timers = 2;
    }
    uv_timer_start(&d->deadline, deadline_timeout, timeout_ms, 0);
    d->step = mode == ADAPTER_TERMINATE ? S_DISCONNECT : S_PAUSE;
    stop_step(d);
}

static void timer_closed(uv_handle_t *h)
{
    struct delve *d = h->data;

    if (--d->timers == 0)
        free(d);
}

static void delve_free(adapter *a)
{
    struct delve *d = a->impl;

    if (d == NULL)
        return;
    adapter_dapconn_free(d->conn);
    json_decref(d->attach_args);
    json_decref(d->bp_sources);
    json_decref(d->held_stop);
    json_decref(d->infer_votes);
    for (size_t i = 0; i < d->infer_n; i++)
        free(d->infer_files[i]);
    free(d->infer_files);
    free(d->local_root);
    free(d->connect);
    a->impl = NULL;
    if (d->timers == 0) {
        free(d);
        return;
    }
    /* The timer handles live inside d: libuv owns them until their close
     * callbacks, which free d. */
    uv_close((uv_handle_t *)&d->deadline, timer_closed);
    uv_close((uv_handle_t *)&d->pausewait, timer_closed);
}

const struct adapter_ops adapter__delve_ops = {
    .new_fn = delve_new,
    .start_fn = delve_start,
    .request_fn = delve_request,
    .stop_fn = delve_stop,
    .free_fn = delve_free,
};

/* ---- the go runtime's profile (adapter.h) ------------------------------ */

static const char *const go_filters[] = {NULL}; /* delve stops on panics */
/* delve keeps its config under XDG_CONFIG_HOME and fails without one. */
static const char *const go_env[] = {ADAPTER__IMAGE_PATH, "HOME=/root",
                                     "XDG_CONFIG_HOME=/root/.config", NULL};
static const char *const go_dirs[] = {"/root/.config", NULL};
/* ptrace the target; signal it (delve stops threads with tgkill); read its
 * /proc/PID/auxv and mem, 0400 and 0600 of the target's user (delve only
 * reads them and writes through ptrace).  SYS_PTRACE only root keeps. */
static const char *const go_caps[] = {"SYS_PTRACE", "KILL", "DAC_READ_SEARCH",
                                      NULL};
static const char *const go_env_vars[] = {"GOTRACEBACK", "GOMAXPROCS",
                                          "GODEBUG", NULL};
static const char *const go_images[] = {"go", "golang", NULL};

const struct adapter_kind adapter__delve_kind = {
    .runtime = "go",
    .description = "Go through delve (DAP)",
    .exception_filters = go_filters,
    .image_binary = "dlv",
    .image_binary_dst = "/usr/bin/dlv",
    .image_env = go_env,
    .image_dirs = go_dirs,
    /* delve serves one client and detaches when it leaves, so the
     * container ends with the session.  That client is kdap-gate, which
     * relays kdap's tunnel only.  If kdap never comes (it gave up or died
     * before connecting), the gate fails and delve is interrupted, which
     * detaches too: a debugger never holds the service halted with nobody
     * attached. */
    .script = "/usr/bin/dlv --headless --api-version=2 "
              "--listen=127.0.0.1:$dport --only-same-user=false attach $pid &\n"
              "dbg=$!\n"
              "gate_start && echo \"$m listening\"\n"
              "wait $gate || kill -INT $dbg\n"
              "wait $dbg\n",
    .ready = "listening",
    .gated = 1,
    .debugger = "delve",
    .caps = go_caps,
    .detect_env = go_env_vars,
    .detect_images = go_images,
    .fallback = 1,
};
