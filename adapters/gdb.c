/* gdb.c - the C/C++/Rust backend: a local gdb driven over GDB/MI.
 *
 * kdap spawns `gdb --interpreter=mi3 -nx -q` on its loop (pipes, never
 * blocking), loads the local `program` (the binary with debug info),
 * connects it to a gdbserver with `-target-select remote HOST:PORT`
 * (`extended-remote` plus `-target-attach PID` for `gdbserver --multi`) and
 * translates DAP to MI.  Debian 12's gdb 13 has no DAP interpreter, and LLDB
 * must never be paired with GNU gdbserver (docs/testing.md §4), hence MI.
 *
 * How the pieces fit:
 * - Every MI command carries a token and belongs to a request (`struct
 *   greq`: a DAP request, or an internal sequence such as the start or the
 *   detach).  gdb answers commands in order; a request completes when its
 *   last command's callback has run and issued no further command, so a
 *   handler may pipeline several commands and chain more from callbacks.
 *   Results are matched by token, never by position: a result for a later
 *   command means the earlier ones were never answered (they fail), one
 *   whose token is not queued (answered after its deadline, or printed by
 *   a command kdap did not send) is dropped.  Commands of editor requests
 *   have a deadline ("requestTimeout"), after which the request fails.
 * - gdb runs in non-stop mode (mi-async on), and kdap shows the editor an
 *   all-stop program: when one thread stops, kdap interrupts the others
 *   (-exec-interrupt --all) and reports the stop once all are stopped;
 *   continue resumes all (--all), a step only the stepped thread.  Why:
 *   an all-stop interrupt is gdbserver's kill(-PID, SIGINT), a signal to
 *   the whole process group, which for a container's main process (PID 1
 *   of its namespace) is kill(-1): every process there.  Non-stop stops
 *   threads one by one (tgkill SIGSTOP), touching the target alone; and it
 *   takes breakpoint changes while the program runs, without halting it
 *   (watchpoints still need a stopped thread: kdap stops all threads for
      *   them, sets them and resumes, see with_halt).
 * - Ids are ours: threadId is gdb's thread number, frameId is
 *   thread * FRAME_MUL + level + 1, variablesReference indexes a table of
 *   scopes and MI variable objects that is emptied (and the objects
 *   deleted) whenever the target runs.  The session maps them for the
 *   editor.  Paths are gdb's `fullname`s, i.e. as compiled, after
 *   `sourceMap` (gdb's substitute-path); the session applies the generic
 *   localRoot/remoteRoot on top.
 * - Log points are dprintf breakpoints whose format starts with a BEL
 *   character: gdb prints them on its console stream, where the marker
 *   tells them from gdb's own chatter ("Thread 1 hit Breakpoint 2, ...").
 *
 * The backend is split by DAP area (gdb_int.h lists the files); this one
 * holds the helpers, requests and their MI commands, the gdb process, the
 * request table, detach and free.
 */
#define _GNU_SOURCE
#include "gdb_int.h"

static void gdb_gone(struct gdb *g);
static void req_complete(struct greq *r);
static void cmd_deadline_cb(uv_timer_t *t);
/* ======================================================================
 * helpers
 * ==================================================================== */

void gdb__ev(struct gdb *g, const char *event, json_t *body_new)
{
    if (g->a != NULL && g->state == G_READY)
        adapter__event(g->a, event, body_new);
    json_decref(body_new);
}

void gdb__output(struct gdb *g, const char *category, const char *text)
{
    gdb__ev(g, "output", adapter_xlate_output_new(category, text));
}

int gdb__is_error(struct adapter_mi_record *rec)
{
    return strcmp(rec->cls, "error") == 0;
}

const char *gdb__rec_msg(struct adapter_mi_record *rec)
{
    const char *m = adapter_mi_str(rec->results, "msg");

    return m != NULL ? m : "gdb reported an error";
}

/* The request fails with `code` (the first failure is the one reported). */
void gdb__fail(struct greq *r, int code, const char *fmt, ...)
{
    char text[sizeof(r->x.msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    adapter_xreq_fail(&r->x, code, "%s", text);
}

/* The record is a success; else the request fails with gdb's message. */
int gdb__ok(struct greq *r, struct adapter_mi_record *rec)
{
    if (!gdb__is_error(rec))
        return 1;
    gdb__fail(r, DAP_EBACKEND, "%s", gdb__rec_msg(rec));
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A pointer or reference type ("T *", "T * const", "T &"). */
int gdb__is_pointer_type(const char *type)
{
    char buf[256];
    size_t n;

    if (type == NULL)
        return 0;
    snprintf(buf, sizeof(buf), "%s", type);
    for (;;) {
        n = strlen(buf);
        while (n > 0 && buf[n - 1] == ' ')
            buf[--n] = '\0';
        if (ends_with(buf, "const"))
            buf[n - 5] = '\0';
        else if (ends_with(buf, "volatile"))
            buf[n - 8] = '\0';
        else
            break;
    }
    n = strlen(buf);
    return n > 0 && (buf[n - 1] == '*' || buf[n - 1] == '&');
}

int gdb__is_array_type(const char *type)
{
    return type != NULL && ends_with(type, "]");
}

/* Appends whose failure (a command over MAX_LINE) leaves a truncated
 * command that gdb rejects with a message: nothing else to do. */
void gdb__bput(dap_buf *b, const void *p, size_t n)
{
    if (dap_buf_append(b, p, n) < 0)
        DAP_LOGW("an MI command grew too long and was truncated");
}

void gdb__bnum(dap_buf *b, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), " %lld", v);

    gdb__bput(b, num, (size_t)n);
}

char *gdb__xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* The C expression of a child of an expression (NULL if unknown). */
char *gdb__child_expr(const char *pexpr, const char *ptype, const char *exp)
{
    char *out = NULL;
    int simple = 1;

    if (pexpr == NULL || exp == NULL)
        return NULL;
    for (const char *p = pexpr; *p; p++) {
        if (!isalnum((unsigned char)*p) && strchr("_.[]>-$", *p) == NULL)
            simple = 0;
    }
    if (gdb__is_array_type(ptype)) {
        if (asprintf(&out, simple ? "%s[%s]" : "(%s)[%s]", pexpr, exp) < 0)
            out = NULL;
    } else if (gdb__is_pointer_type(ptype)) {
        if (exp[0] == '*') {
            if (asprintf(&out, "*(%s)", pexpr) < 0)
                out = NULL;
        } else if (asprintf(&out, simple ? "%s->%s" : "(%s)->%s", pexpr,
                            exp) < 0) {
            out = NULL;
        }
    } else if (asprintf(&out, simple ? "%s.%s" : "(%s).%s", pexpr, exp) < 0) {
        out = NULL;
    }
    return out;
}

/* "0x..." at the start of a pointer value, for memoryReference. */
json_t *gdb__memref_of(const char *type, const char *value)
{
    size_t n = 2;

    if (!gdb__is_pointer_type(type) || value == NULL ||
        strncmp(value, "0x", 2) != 0)
        return NULL;
    while (isxdigit((unsigned char)value[n]))
        n++;
    return n > 2 ? json_stringn(value, n) : NULL;
}

int gdb__signo_of(const char *name)
{
    for (int s = 1; s < 65 && name != NULL; s++) {
        const char *abbrev = sigabbrev_np(s);
        if (abbrev != NULL && strncmp(name, "SIG", 3) == 0 &&
            strcmp(abbrev, name + 3) == 0)
            return s;
    }
    return 0;
}

/* ======================================================================
 * requests and MI commands
 * ==================================================================== */

struct greq *gdb__req_new(struct gdb *g, const char *command, json_t *args)
{
    struct greq *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    if (adapter_xreq_init(&r->x, &g->xl, command, args, NULL, NULL) < 0) {
        free(r);
        return NULL;
    }
    r->g = g;
    r->x.body = json_object();
    return r;
}

static void req_free(struct greq *r)
{
    adapter_xreq_cleanup(&r->x);
    json_decref(r->tmp);
    free(r);
}

static void write_done(uv_write_t *w, int status)
{
    (void)status;
    free(w->data);
    free(w);
}

/* Send one command of request r; fn(r, rec, arg) runs with its result. */
void gdb__mi_send(struct greq *r, mi_done_fn *fn, long arg, int capture,
                  dap_buf *cmd)
{
    struct gdb *g = r->g;
    struct mi_cmd *c;
    uv_write_t *w;
    uv_buf_t buf;
    char *line;
    int n;

    if (cmd->len == 0 || !g->spawned || g->proc_exited || g->out_eof) {
        gdb__fail(r, DAP_ECLOSED, cmd->len == 0 ? "out of memory"
                              : "gdb is not running any more");
        return;
    }
    c = calloc(1, sizeof(*c));
    w = calloc(1, sizeof(*w));
    line = malloc(cmd->len + 32);
    if (c == NULL || w == NULL || line == NULL) {
        free(c);
        free(w);
        free(line);
        gdb__fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    c->token = ++g->next_token;
    c->r = r;
    c->fn = fn;
    c->arg = arg;
    c->capture = capture;
    if (r->x.cb != NULL) {
        /* Editor requests only: the internal sequences (start, halt,
         * detach) have deadlines of their own. */
        c->deadline = uv_now(g->a->loop) + g->req_timeout_ms;
        if (!uv_is_active((uv_handle_t *)&g->cmdtimer))
            uv_timer_start(&g->cmdtimer, cmd_deadline_cb, g->req_timeout_ms,
                           0);
    }
    dap_buf_init(&c->console, 4u << 20);
    n = snprintf(line, cmd->len + 32, "%llu%s\n",
                 (unsigned long long)c->token, cmd->data);
    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("gdb %s <- %.*s", g->a ? g->a->name : "?", n - 1, line);
    w->data = line;
    buf = uv_buf_init(line, (unsigned)n);
    if (uv_write(w, (uv_stream_t *)&g->pin, &buf, 1, write_done) < 0) {
        free(line);
        free(w);
        dap_buf_cleanup(&c->console);
        free(c);
        gdb__fail(r, DAP_ECLOSED, "cannot write to gdb");
        return;
    }
    if (g->tail != NULL)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    r->outstanding++;
}

void gdb__ignore_result(struct greq *r, struct adapter_mi_record *rec,
                        long arg)
{
    (void)r;
    (void)rec;
    (void)arg;
}

void gdb__check_result(struct greq *r, struct adapter_mi_record *rec,
                       long arg)
{
    (void)arg;
    gdb__ok(r, rec);
}

void gdb__complete_cb(struct adapter_xreq *x)
{
    req_complete((struct greq *)x);
}

/* A request with nothing in flight completes from the loop, never inside
 * the call that started it. */
void gdb__req_maybe_done(struct greq *r)
{
    if (r->outstanding > 0 || r->halted != NULL)
        return;
    adapter_xreq_defer(&r->x);
}

/* Deliver the response (or run the internal continuation) and free r. */
static void req_complete(struct greq *r)
{
    struct gdb *g = r->g;

    if (r->finish != NULL && r->x.status == 0) {
        req_fn *f = r->finish;
        r->finish = NULL;
        f(r);
        if (r->outstanding > 0)
            return; /* the finisher needed more from gdb */
    }
    if (r->done != NULL) {
        req_fn *d = r->done;
        r->done = NULL;
        d(r);
        if (r->outstanding > 0 || r->done != NULL)
            return; /* the sequence goes on with this request */
    }
    if (g->a != NULL)
        adapter_xreq_reply(&r->x);
    req_free(r);
}

/* Command c (already unlinked) got its result rec, or none: then its
 * request fails with `why`. */
void gdb__cmd_complete(struct gdb *g, struct mi_cmd *c,
                       struct adapter_mi_record *rec, int code,
                       const char *why)
{
    struct greq *r = c->r;

    (void)g;
    if (rec != NULL && c->fn != NULL) {
        if (c->capture && rec->text == NULL) {
            rec->text_len = c->console.len;
            rec->text = dap_buf_take(&c->console, NULL);
        }
        c->fn(r, rec, c->arg);
    } else if (rec == NULL) {
        gdb__fail(r, code, "%s", why);
    }
    dap_buf_cleanup(&c->console);
    free(c);
    if (--r->outstanding == 0 && r->halted == NULL)
        req_complete(r);
}

/* Fail the commands whose deadline passed; their results, should they
 * still come, find no command of theirs and are dropped. */
static void cmd_deadline_cb(uv_timer_t *t)
{
    struct gdb *g = t->data;
    uint64_t now = uv_now(g->a->loop);
    uint64_t next = 0;
    struct mi_cmd **pp = &g->head;
    struct mi_cmd *expired = NULL, **ep = &expired;

    while (*pp != NULL) {
        struct mi_cmd *c = *pp;
        if (c->deadline == 0 || c->deadline > now) {
            if (c->deadline != 0 && (next == 0 || c->deadline < next))
                next = c->deadline;
            pp = &c->next;
            continue;
        }
        *pp = c->next;
        c->next = NULL;
        *ep = c;
        ep = &c->next;
    }
    g->tail = NULL;
    for (struct mi_cmd *c = g->head; c != NULL; c = c->next)
        g->tail = c;
    if (next != 0)
        uv_timer_start(&g->cmdtimer, cmd_deadline_cb, next - now, 0);
    while (expired != NULL) {
        struct mi_cmd *c = expired;
        char why[160];
        expired = c->next;
        DAP_LOGW("gdb did not answer command %llu in time",
                 (unsigned long long)c->token);
        snprintf(why, sizeof(why),
                 "gdb did not answer within %u s (\"requestTimeout\"); it "
                 "may still be busy with an earlier command",
                 (g->req_timeout_ms + 999) / 1000);
        gdb__cmd_complete(g, c, NULL, DAP_ETIMEDOUT, why);
    }
}

/* ======================================================================
 * the process
 * ==================================================================== */

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    buf->base = malloc(suggested);
    buf->len = buf->base != NULL ? suggested : 0;
}

static void handle_closed(uv_handle_t *h)
{
    struct gdb *g = h->data;

    if (--g->handles == 0 && g->a == NULL)
        free(g);
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gdb *g = s->data;

    if (n > 0 && g->a != NULL) {
        if (adapter_mi_reader_feed(&g->reader, buf->base, (size_t)n, gdb__on_line,
                                   g) < 0)
            DAP_LOGE("gdb printed a line longer than %u bytes; dropped",
                     MAX_LINE);
    }
    free(buf->base);
    if (n < 0) {
        uv_read_stop(s);
        g->out_eof = 1;
        if (g->proc_exited)
            gdb_gone(g);
    }
}

static void on_err_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    struct gdb *g = s->data;

    if (n > 0 && g->a != NULL)
        (void)adapter_mi_reader_feed(&g->errreader, buf->base, (size_t)n,
                                     gdb__on_err_line, g);
    free(buf->base);
    if (n < 0)
        uv_read_stop(s);
}

static void exit_wait_cb(uv_timer_t *t)
{
    gdb_gone(t->data);
}

static void on_exit_cb(uv_process_t *p, int64_t status, int sig)
{
    struct gdb *g = p->data;

    g->proc_exited = 1;
    g->exit_status = sig ? 128 + sig : status;
    DAP_LOGI("gdb exited (%s %lld)", sig ? "signal" : "status",
             (long long)(sig ? sig : status));
    if (g->out_eof) {
        gdb_gone(g);
        return;
    }
    /* Its last output may still be in the pipe: give it a moment. */
    uv_timer_start(&g->timer, exit_wait_cb, EXIT_WAIT_MS, 0);
}

/* gdb is gone: fail whatever waits, then report. */
static void gdb_gone(struct gdb *g)
{
    enum gdb_state was = g->state;
    struct dap_error e;

    if (was == G_CLOSED || g->a == NULL)
        return;
    g->state = G_CLOSED;
    g->exited = 1;
    uv_timer_stop(&g->timer);
    uv_timer_stop(&g->deadline);
    if (g->halting)
        gdb__halt_done(g);
    while (g->head != NULL) {
        struct mi_cmd *c = g->head;
        g->head = c->next;
        if (g->head == NULL)
            g->tail = NULL;
        gdb__cmd_complete(g, c, NULL, DAP_ECLOSED,
                          "gdb exited before it answered");
    }
    adapter_xlate_drain(&g->xl);
    if (g->a == NULL)
        return;
    if (was == G_STARTING || was == G_NEW) {
        dap_error_set(&e, DAP_EBACKEND,
                      "gdb exited during the attach (status %lld); see "
                      "kdap's log",
                      g->exit_status);
        adapter__ready(g->a, e.code, &e);
        return;
    }
    if (was == G_STOPPING) {
        adapter__closed(g->a, g->stop_status,
                        g->stop_status < 0 ? &g->stop_err : NULL);
        return;
    }
    if (g->lost) {
        adapter__closed(g->a, g->stop_status, &g->stop_err);
        return;
    }
    dap_error_set(&e, DAP_ECLOSED, "gdb exited unexpectedly (status %lld)",
                  g->exit_status);
    adapter__closed(g->a, DAP_ECLOSED, &e);
}

int gdb__spawn_gdb(struct gdb *g, struct dap_error *err)
{
    char *argv[] = {g->gdb_path, "--interpreter=mi3", "-nx", "-q", NULL};
    uv_stdio_container_t stdio[3];
    uv_process_options_t opt;
    int rc;

    uv_pipe_init(g->a->loop, &g->pin, 0);
    uv_pipe_init(g->a->loop, &g->pout, 0);
    uv_pipe_init(g->a->loop, &g->perr, 0);
    g->pin.data = g->pout.data = g->perr.data = g;
    g->handles += 3;
    g->pipes = 1;
    memset(&opt, 0, sizeof(opt));
    stdio[0].flags = UV_CREATE_PIPE | UV_READABLE_PIPE;
    stdio[0].data.stream = (uv_stream_t *)&g->pin;
    stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[1].data.stream = (uv_stream_t *)&g->pout;
    stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
    stdio[2].data.stream = (uv_stream_t *)&g->perr;
    opt.file = g->gdb_path;
    opt.args = argv;
    opt.stdio = stdio;
    opt.stdio_count = 3;
    opt.exit_cb = on_exit_cb;
    g->proc.data = g;
    rc = uv_spawn(g->a->loop, &g->proc, &opt);
    if (rc < 0) {
        /* libuv wants the failed process handle closed too. */
        g->handles++;
        uv_close((uv_handle_t *)&g->proc, handle_closed);
        g->proc_exited = 1;
        return dap_error_set(err, DAP_EBACKEND,
                             "cannot start gdb (\"%s\"): %s; install gdb or "
                             "set \"gdbPath\"",
                             g->gdb_path, uv_strerror(rc));
    }
    g->handles++;
    g->spawned = 1;
    uv_read_start((uv_stream_t *)&g->pout, alloc_cb, on_read);
    uv_read_start((uv_stream_t *)&g->perr, alloc_cb, on_err_read);
    return 0;
}

/* ---- the table ---- */

static const struct {
    const char *command;
    req_fn *fn;
} reqs[] = {
    {"configurationDone", gdb__req_configuration_done},
    {"continue", gdb__req_resume},
    {"dataBreakpointInfo", gdb__req_data_bp_info},
    {"disassemble", gdb__req_disassemble},
    {"evaluate", gdb__req_evaluate},
    {"exceptionInfo", gdb__req_exception_info},
    {"next", gdb__req_resume},
    {"pause", gdb__req_pause},
    {"readMemory", gdb__req_read_memory},
    {"scopes", gdb__req_scopes},
    {"setBreakpoints", gdb__req_set_breakpoints},
    {"setDataBreakpoints", gdb__req_set_data_bps},
    {"setExceptionBreakpoints", gdb__req_set_exception_bps},
    {"setFunctionBreakpoints", gdb__req_set_function_breakpoints},
    {"setVariable", gdb__req_set_variable},
    {"stackTrace", gdb__req_stack_trace},
    {"stepIn", gdb__req_resume},
    {"stepOut", gdb__req_resume},
    {"threads", gdb__req_threads},
    {"variables", gdb__req_variables},
};

static int gdb_request(adapter *a, const char *command, json_t *args,
                       adapter_response_cb *cb, void *data)
{
    struct gdb *g = a->impl;
    struct greq *r;
    req_fn *fn = NULL;

    if (g->state != G_READY)
        return DAP_ECLOSED;
    for (size_t i = 0; i < sizeof(reqs) / sizeof(reqs[0]); i++) {
        if (strcmp(reqs[i].command, command) == 0)
            fn = reqs[i].fn;
    }
    r = gdb__req_new(g, command, args);
    if (r == NULL)
        return DAP_ENOMEM;
    r->x.cb = cb;
    r->x.data = data;
    if (fn == NULL)
        gdb__fail(r, DAP_EUNSUPPORTED, "the gdb backend does not support '%s'",
                  command);
    else
        fn(r);
    gdb__req_maybe_done(r);
    return 0;
}

/* ======================================================================
 * detach / terminate
 * ==================================================================== */

static void stop_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;

    if (g->state != G_STOPPING)
        return;
    dap_error_set(&g->stop_err, DAP_ETIMEDOUT,
                  "gdb did not finish %s in time; killed it",
                  g->stop_mode == ADAPTER_TERMINATE ? "terminating"
                                                    : "detaching");
    g->stop_status = DAP_ETIMEDOUT;
    if (g->spawned && !g->proc_exited)
        uv_process_kill(&g->proc, SIGKILL);
}

static void stop_finish_cmds(struct gdb *g)
{
    struct greq *r = gdb__req_new(g, "(stop)", NULL);

    if (r == NULL)
        return;
    if (!g->exited) {
        MI(r, gdb__ignore_result, 0, "-break-delete");
        if (g->stop_mode == ADAPTER_TERMINATE)
            MI(r, gdb__ignore_result, 0, "-interpreter-exec console \"kill\"");
        else
            MI(r, gdb__ignore_result, 0, "-target-detach");
    }
    MI(r, gdb__ignore_result, 0, "-gdb-exit");
    gdb__req_maybe_done(r);
}

/* The target halted (or will not): finish the detach. */
void gdb__stop_continue(struct gdb *g)
{
    if (g->stop_sent)
        return;
    g->stop_sent = 1;
    uv_timer_stop(&g->timer);
    stop_finish_cmds(g);
}

static void stop_pause_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;

    DAP_LOGW("service %s: the program did not stop for the detach; "
             "detaching anyway",
             g->a ? g->a->name : "?");
    gdb__stop_continue(g);
}

static void gdb_stop(adapter *a, enum adapter_stop_mode mode,
                     unsigned timeout_ms)
{
    struct gdb *g = a->impl;
    struct greq *r;

    if (g->state == G_CLOSED || g->state == G_STOPPING)
        return;
    if (g->state != G_READY) {
        g->state = G_STOPPING;
        g->stop_mode = mode;
        if (g->spawned && !g->proc_exited)
            uv_process_kill(&g->proc, SIGKILL);
        else
            gdb_gone(g);
        return;
    }
    g->state = G_STOPPING;
    g->stop_mode = mode;
    g->stop_status = 0;
    uv_timer_start(&g->deadline, stop_timeout,
                   timeout_ms > 0 ? timeout_ms : 4000, 0);
    json_decref(g->stop_pending);
    g->stop_pending = NULL;
    if (g->halting) {
        g->halt_resume = 0;
        gdb__halt_done(g);
    }
    if (g->running && !g->exited) {
        r = gdb__req_new(g, "(interrupt)", NULL);
        if (r != NULL) {
            MI(r, gdb__ignore_result, 0, "-exec-interrupt --all");
            gdb__req_maybe_done(r);
        }
        uv_timer_start(&g->timer, stop_pause_timeout, HALT_WAIT_MS, 0);
        return;
    }
    gdb__stop_continue(g);
}

/* ======================================================================
 * free
 * ==================================================================== */

static void gdb_free(adapter *a)
{
    struct gdb *g = a->impl;

    if (g == NULL)
        return;
    a->impl = NULL;
    g->a = NULL;
    if (g->spawned && !g->proc_exited)
        uv_process_kill(&g->proc, SIGKILL);
    while (g->head != NULL) {
        struct mi_cmd *c = g->head;
        struct greq *r = c->r;
        g->head = c->next;
        dap_buf_cleanup(&c->console);
        free(c);
        if (--r->outstanding == 0)
            req_free(r);
    }
    adapter_xlate_cleanup(&g->xl);
    while (g->xl.head != NULL) {
        struct greq *r = (struct greq *)g->xl.head;
        g->xl.head = r->x.next_done;
        if (r->outstanding == 0)
            req_free(r);
    }
    while (g->halt_wait != NULL) {
        struct greq *r = g->halt_wait;
        g->halt_wait = r->next;
        if (r->outstanding == 0)
            req_free(r);
    }
    adapter_xrefs_cleanup(&g->refs);
    json_decref(g->roots);
    json_decref(g->regnames);
    json_decref(g->threads);
    json_decref(g->thr_run);
    json_decref(g->stop_pending);
    json_decref(g->exc);
    json_decref(g->src_bps);
    json_decref(g->fn_bps);
    json_decref(g->data_bps);
    json_decref(g->bpstate);
    json_decref(g->source_map);
    json_decref(g->setup);
    adapter_mi_reader_cleanup(&g->reader);
    adapter_mi_reader_cleanup(&g->errreader);
    dap_buf_cleanup(&g->conbuf);
    free(g->gdb_path);
    free(g->program);
    free(g->connect);
    free(g->target);
    adapter__privsock_free(g->privsock);
    free(g->sysroot);
    free(g->solib_path);
    /* The handles live inside g: libuv owns them until their close
     * callbacks, the last of which frees g. */
    uv_close((uv_handle_t *)&g->timer, handle_closed);
    adapter_xlate_handle(&g->xl)->data = g; /* for handle_closed */
    uv_close(adapter_xlate_handle(&g->xl), handle_closed);
    uv_close((uv_handle_t *)&g->deadline, handle_closed);
    uv_close((uv_handle_t *)&g->cmdtimer, handle_closed);
    if (g->spawned)
        uv_close((uv_handle_t *)&g->proc, handle_closed);
    if (g->pipes) {
        if (!uv_is_closing((uv_handle_t *)&g->pin))
            uv_close((uv_handle_t *)&g->pin, handle_closed);
        if (!uv_is_closing((uv_handle_t *)&g->pout))
            uv_close((uv_handle_t *)&g->pout, handle_closed);
        if (!uv_is_closing((uv_handle_t *)&g->perr))
            uv_close((uv_handle_t *)&g->perr, handle_closed);
    }
}

const struct adapter_ops adapter__gdb_ops = {
    .new_fn = gdb__new,
    .start_fn = gdb__start,
    .request_fn = gdb_request,
    .stop_fn = gdb_stop,
    .free_fn = gdb_free,
};
