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
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/log.h"
#include "adapter_int.h"
#include "mi.h"
#include "xlate.h"

#define START_TIMEOUT_MS 20000
#define HALT_WAIT_MS 2000
#define EXIT_WAIT_MS 500
#define REQUEST_TIMEOUT_MS 30000
#define MAX_LINE (16u << 20)
#define MAX_FRAMES 1000
#define FRAME_MUL 1000000LL
#define MAX_REGS 80
/* Bounds for the integers of requests (see adapter__arg_int): far beyond
 * any real stack, child list or disassembly, small enough that no sum of
 * them overflows. */
#define MAX_INDEX ((1LL << 30) - 1) /* twice it fits gdb's int */
#define MAX_INSNS 4096

enum gdb_state {
    G_NEW,
    G_STARTING,
    G_READY,
    G_STOPPING,
    G_CLOSED,
};

enum ref_kind {
    REF_LOCALS,
    REF_ARGS,
    REF_REGS,
    REF_VAROBJ,
};

/* A variablesReference: a scope of a frame or an MI variable object. */
struct ref {
    enum ref_kind kind;
    int thread, level;
    char *varobj; /* REF_VAROBJ: gdb's name for it */
    char *expr;   /* C expression for it, NULL if none (pretty-printed) */
    char *type;
    json_t *kids; /* listed child name -> {"v": varobj|null, "e": expr|null} */
};

struct gdb;
struct greq;
struct adapter_mi_record;

typedef void mi_done_fn(struct greq *r, struct adapter_mi_record *rec,
                        long arg);
typedef void req_fn(struct greq *r);

/* One MI command awaiting its result record. */
struct mi_cmd {
    struct mi_cmd *next;
    uint64_t token;
    struct greq *r;
    mi_done_fn *fn;
    long arg;
    int capture;      /* collect console output for the callback */
    uint64_t deadline; /* loop time its request fails at; 0: none */
    dap_buf console;
};

/* A request: from the editor (cb set) or internal (done set). */
struct greq {
    struct adapter_xreq x; /* first: command, args, body, failure, cb */
    struct gdb *g;
    struct greq *next; /* in the halt-waiting list */
    req_fn *done;      /* internal: runs when the last command completed */
    req_fn *finish;    /* runs before the response is built */
    req_fn *halted;    /* waits for every thread to stop, then runs */
    int outstanding;   /* MI commands in flight */
    int64_t base;      /* g->refs.base when the request started */
    json_t *tmp;
    int thread, level; /* the frame the request names, if any */
    long long n1;      /* handler scratch */
};

struct gdb {
    adapter *a;
    /* configuration */
    char *gdb_path;
    char *program;
    char *connect;
    char *target;        /* "host:port" (or a socket path) as gdb wants it */
    adapter_privsock *privsock; /* with a tunnel: gdb's socket */
    char *sysroot;
    char *solib_path;
    json_t *source_map;  /* {remote: local} */
    json_t *setup;       /* [{text, ignoreFailures}] */
    int stop_at_connect;
    int extended;
    long long pid;

    enum gdb_state state;
    /* the process */
    uv_process_t proc;
    uv_pipe_t pin, pout, perr;
    uv_timer_t timer; /* start / stop / world-stop deadlines */
    struct adapter_xlate xl; /* deferred replies */
    uv_timer_t cmdtimer; /* the earliest command deadline */
    unsigned req_timeout_ms;
    int handles;      /* open libuv handles */
    int spawned;
    int proc_exited;
    int out_eof;
    long long exit_status;
    adapter_mi_reader reader;
    adapter_mi_reader errreader;
    /* commands */
    struct mi_cmd *head, *tail;
    uint64_t next_token;
    /* target state */
    int running;
    int exited;         /* the program is gone (exit or lost connection) */
    int pause_requested;
    int cur_thread;
    json_t *thr_run;     /* "id" -> true for each thread gdb says runs */
    json_t *stop_pending; /* the stopped event, sent once all stopped */
    int settling;        /* attach: waiting for every thread to stop */
    int halting;         /* stopping all threads for g->halt_wait */
    int halt_resume;     /* and resuming them afterwards */
    struct greq *halt_wait;
    int configured;
    json_t *exc;         /* last signal stop {name, meaning, thread} */
    /* breakpoints */
    json_t *src_bps;     /* path -> [{num, line, cond, hit, log}] */
    json_t *fn_bps;      /* [{num, name, cond, hit}] */
    json_t *data_bps;    /* [num] */
    json_t *bpstate;     /* "num" -> {verified, line} as reported */
    /* variables */
    struct adapter_xrefs refs; /* variablesReference -> struct ref */
    json_t *roots;       /* varobj names to delete when the target runs */
    unsigned nvar;
    json_t *regnames;
    json_t *threads;     /* "id" -> name: answers `threads` while running */
    dap_buf conbuf;      /* async console text up to a newline */
    /* stopping */
    enum adapter_stop_mode stop_mode;
    int stop_status;
    struct dap_error stop_err;
    int lost;            /* connection to gdbserver lost */
    int stop_sent;       /* the final detach/kill commands went out */
    int pipes;           /* the pipe handles were initialised */
    uv_timer_t deadline; /* overall detach deadline */
};

static void gdb_gone(struct gdb *g);
static void start_settled(struct gdb *g);
static void settle_wait(struct greq *r, struct adapter_mi_record *rec,
                        long arg);
static void req_complete(struct greq *r);
static void cmd_deadline_cb(uv_timer_t *t);
static void stop_continue(struct gdb *g);

/* ======================================================================
 * helpers
 * ==================================================================== */

static void ev(struct gdb *g, const char *event, json_t *body_new)
{
    if (g->a != NULL && g->state == G_READY)
        adapter__event(g->a, event, body_new);
    json_decref(body_new);
}

static void output(struct gdb *g, const char *category, const char *text)
{
    ev(g, "output", adapter_xlate_output_new(category, text));
}

static int is_error(struct adapter_mi_record *rec)
{
    return strcmp(rec->cls, "error") == 0;
}

static const char *rec_msg(struct adapter_mi_record *rec)
{
    const char *m = adapter_mi_str(rec->results, "msg");

    return m != NULL ? m : "gdb reported an error";
}

/* The request fails with `code` (the first failure is the one reported). */
static void fail(struct greq *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
static void fail(struct greq *r, int code, const char *fmt, ...)
{
    char text[sizeof(r->x.msg)];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    adapter_xreq_fail(&r->x, code, "%s", text);
}

/* The record is a success; else the request fails with gdb's message. */
static int ok(struct greq *r, struct adapter_mi_record *rec)
{
    if (!is_error(rec))
        return 1;
    fail(r, DAP_EBACKEND, "%s", rec_msg(rec));
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* A pointer or reference type ("T *", "T * const", "T &"). */
static int is_pointer_type(const char *type)
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

static int is_array_type(const char *type)
{
    return type != NULL && ends_with(type, "]");
}

/* Appends whose failure (a command over MAX_LINE) leaves a truncated
 * command that gdb rejects with a message: nothing else to do. */
static void bput(dap_buf *b, const void *p, size_t n)
{
    if (dap_buf_append(b, p, n) < 0)
        DAP_LOGW("an MI command grew too long and was truncated");
}

static void bnum(dap_buf *b, long long v)
{
    char num[32];
    int n = snprintf(num, sizeof(num), " %lld", v);

    bput(b, num, (size_t)n);
}

static char *xstrdup(const char *s)
{
    return s != NULL ? strdup(s) : NULL;
}

/* The C expression of a child of an expression (NULL if unknown). */
static char *child_expr(const char *pexpr, const char *ptype, const char *exp)
{
    char *out = NULL;
    int simple = 1;

    if (pexpr == NULL || exp == NULL)
        return NULL;
    for (const char *p = pexpr; *p; p++) {
        if (!isalnum((unsigned char)*p) && strchr("_.[]>-$", *p) == NULL)
            simple = 0;
    }
    if (is_array_type(ptype)) {
        if (asprintf(&out, simple ? "%s[%s]" : "(%s)[%s]", pexpr, exp) < 0)
            out = NULL;
    } else if (is_pointer_type(ptype)) {
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
static json_t *memref_of(const char *type, const char *value)
{
    size_t n = 2;

    if (!is_pointer_type(type) || value == NULL ||
        strncmp(value, "0x", 2) != 0)
        return NULL;
    while (isxdigit((unsigned char)value[n]))
        n++;
    return n > 2 ? json_stringn(value, n) : NULL;
}

static int signo_of(const char *name)
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
 * variable references
 * ==================================================================== */

static void ref_free(void *item)
{
    struct ref *ref = item;

    free(ref->varobj);
    free(ref->expr);
    free(ref->type);
    json_decref(ref->kids);
    free(ref);
}

static long long ref_add(struct gdb *g, enum ref_kind kind, int thread,
                         int level, const char *varobj, const char *expr,
                         const char *type)
{
    struct ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL)
        return 0;
    ref->kind = kind;
    ref->thread = thread;
    ref->level = level;
    ref->varobj = xstrdup(varobj);
    ref->expr = xstrdup(expr);
    ref->type = xstrdup(type);
    ref->kids = json_object();
    return adapter_xrefs_add(&g->refs, ref);
}

static struct ref *ref_get(struct gdb *g, json_t *v)
{
    if (!json_is_integer(v))
        return NULL;
    return adapter_xrefs_get(&g->refs, json_integer_value(v));
}

/* The ref a variables request works on (r->n1), NULL once the target
 * ran. */
static struct ref *req_ref(struct greq *r)
{
    if (r->base != r->g->refs.base)
        return NULL;
    return adapter_xrefs_get(&r->g->refs, r->n1);
}

static void refs_clear(struct gdb *g)
{
    adapter_xrefs_clear(&g->refs);
}

static const char *new_varobj(struct gdb *g, char *buf, size_t n)
{
    snprintf(buf, n, "kv%u", ++g->nvar);
    json_array_append_new(g->roots, json_string(buf));
    return buf;
}

/* ======================================================================
 * requests and MI commands
 * ==================================================================== */

static struct greq *req_new(struct gdb *g, const char *command, json_t *args)
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
static void mi_send(struct greq *r, mi_done_fn *fn, long arg, int capture,
                    dap_buf *cmd)
{
    struct gdb *g = r->g;
    struct mi_cmd *c;
    uv_write_t *w;
    uv_buf_t buf;
    char *line;
    int n;

    if (cmd->len == 0 || !g->spawned || g->proc_exited || g->out_eof) {
        fail(r, DAP_ECLOSED, cmd->len == 0 ? "out of memory"
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
        fail(r, DAP_ENOMEM, "out of memory");
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
        fail(r, DAP_ECLOSED, "cannot write to gdb");
        return;
    }
    if (g->tail != NULL)
        g->tail->next = c;
    else
        g->head = c;
    g->tail = c;
    r->outstanding++;
}

/* mi(r, fn, arg, fmt, ...): build with adapter_mi_build's directives. */
#define MI(r, fn, arg, ...)                                                    \
    do {                                                                       \
        dap_buf b_;                                                            \
        dap_buf_init(&b_, MAX_LINE);                                           \
        if (adapter_mi_build(&b_, __VA_ARGS__) < 0)                            \
            dap_buf_reset(&b_);                                                \
        mi_send((r), (fn), (arg), 0, &b_);                                     \
        dap_buf_cleanup(&b_);                                                  \
    } while (0)

static void ignore_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    (void)r;
    (void)rec;
    (void)arg;
}

static void check_result(struct greq *r, struct adapter_mi_record *rec,
                         long arg)
{
    (void)arg;
    ok(r, rec);
}

static void complete_cb(struct adapter_xreq *x)
{
    req_complete((struct greq *)x);
}

/* A request with nothing in flight completes from the loop, never inside
 * the call that started it. */
static void req_maybe_done(struct greq *r)
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
static void cmd_complete(struct gdb *g, struct mi_cmd *c,
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
        fail(r, code, "%s", why);
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
        cmd_complete(g, c, NULL, DAP_ETIMEDOUT, why);
    }
}

/* ======================================================================
 * the world stop: all threads stopped, reported once
 * ==================================================================== */

static void world_timeout(uv_timer_t *t);

/* No thread runs any more: run what waited for that, resume the program
 * if it was stopped only for them. */
static void halt_done(struct gdb *g)
{
    struct greq *list = g->halt_wait;
    struct greq *ir;
    int resume = g->halt_resume && !g->exited;

    g->halt_wait = NULL;
    g->halting = 0;
    g->halt_resume = 0;
    while (list != NULL) {
        struct greq *r = list;
        req_fn *fn = r->halted;
        list = r->next;
        r->next = NULL;
        r->halted = NULL;
        fn(r);
        req_maybe_done(r);
    }
    /* Queued behind their commands, which gdb runs in order. */
    if (resume && (ir = req_new(g, "(resume)", NULL)) != NULL) {
        MI(ir, ignore_result, 0, "-exec-continue --all");
        req_maybe_done(ir);
    }
}

/* Report the pending stop (and run the halt's waiters) once no thread
 * runs any more. */
static void world_check(struct gdb *g)
{
    json_t *body = g->stop_pending;

    if (json_object_size(g->thr_run) > 0)
        return;
    uv_timer_stop(&g->timer);
    if (body != NULL) {
        g->stop_pending = NULL;
        ev(g, "stopped", body);
    }
    if (g->halting)
        halt_done(g);
}

/* Run fn(r) once every thread is stopped: now if none runs, else after
 * stopping them all, and then resume them.  For what gdb cannot do to a
 * running program (watchpoints need a stopped thread). */
static void with_halt(struct greq *r, req_fn *fn)
{
    struct gdb *g = r->g;
    struct greq *ir;

    if (!g->running || g->exited || json_object_size(g->thr_run) == 0) {
        fn(r);
        return;
    }
    r->halted = fn;
    r->next = g->halt_wait;
    g->halt_wait = r;
    if (g->halting)
        return;
    g->halting = 1;
    g->halt_resume = g->stop_pending == NULL;
    ir = req_new(g, "(interrupt)", NULL);
    if (ir != NULL) {
        MI(ir, ignore_result, 0, "-exec-interrupt --all");
        req_maybe_done(ir);
    }
    uv_timer_start(&g->timer, world_timeout, HALT_WAIT_MS, 0);
}

/* A thread stopped with `body` to report: stop the others first. */
static void world_stop(struct gdb *g, json_t *body_new)
{
    struct greq *r;

    g->running = 0;
    g->stop_pending = body_new;
    if (json_object_size(g->thr_run) > 0) {
        r = req_new(g, "(interrupt)", NULL);
        if (r != NULL) {
            MI(r, ignore_result, 0, "-exec-interrupt --all");
            req_maybe_done(r);
        }
        uv_timer_start(&g->timer, world_timeout, HALT_WAIT_MS, 0);
    }
    world_check(g);
}

static void world_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;

    if (g->state != G_READY || (g->stop_pending == NULL && !g->halting))
        return;
    DAP_LOGW("service %s: %zu threads did not stop within %d ms; "
             "reporting the stop anyway",
             g->a ? g->a->name : "?", json_object_size(g->thr_run),
             HALT_WAIT_MS);
    json_object_clear(g->thr_run);
    world_check(g);
}

/* Which threads a *running / *stopped record names: "all" or a list. */
static void threads_mark(struct gdb *g, json_t *which, int run)
{
    const char *id;
    json_t *v;
    size_t i;

    if (json_is_string(which) &&
        strcmp(json_string_value(which), "all") == 0) {
        if (!run) {
            json_object_clear(g->thr_run);
            return;
        }
        json_object_foreach(g->threads, id, v)
            json_object_set_new(g->thr_run, id, json_true());
        return;
    }
    if (json_is_string(which)) {
        if (run)
            json_object_set_new(g->thr_run, json_string_value(which),
                                json_true());
        else
            json_object_del(g->thr_run, json_string_value(which));
        return;
    }
    json_array_foreach(which, i, v)
        threads_mark(g, v, run);
}

/* ======================================================================
 * events from gdb
 * ==================================================================== */

static json_t *source_of(json_t *frame)
{
    const char *full = adapter_mi_str(frame, "fullname");
    const char *file = adapter_mi_str(frame, "file");
    const char *base;

    if (full == NULL || full[0] != '/')
        return NULL;
    base = strrchr(full, '/');
    base = base != NULL ? base + 1 : full;
    (void)file;
    return json_pack("{s:s, s:s}", "name", base, "path", full);
}

/* A DAP Breakpoint from an MI bkpt tuple. */
static json_t *bp_from_mi(json_t *bkpt)
{
    json_t *loc = bkpt;
    const char *addr = adapter_mi_str(bkpt, "addr");
    long long num = adapter_mi_int(bkpt, "number", 0);
    json_t *b;
    json_t *src;
    int verified;

    if (adapter_mi_str(bkpt, "line") == NULL &&
        json_array_size(json_object_get(bkpt, "locations")) > 0)
        loc = json_array_get(json_object_get(bkpt, "locations"), 0);
    verified = addr == NULL || strcmp(addr, "<PENDING>") != 0;
    b = json_pack("{s:I, s:b}", "id", (json_int_t)num, "verified", verified);
    if (adapter_mi_int(loc, "line", 0) > 0)
        json_object_set_new(b, "line",
                            json_integer(adapter_mi_int(loc, "line", 0)));
    src = source_of(loc);
    if (src != NULL)
        json_object_set_new(b, "source", src);
    if (!verified) {
        json_object_set_new(b, "message",
                            json_string("pending: no loaded code has this "
                                        "location yet"));
        json_object_set_new(b, "reason", json_string("pending"));
    }
    if (addr != NULL && strncmp(addr, "0x", 2) == 0)
        json_object_set_new(b, "instructionReference", json_string(addr));
    return b;
}

/* Remember what the editor was told about breakpoint `b`; 1 if changed. */
static int bp_note(struct gdb *g, json_t *b)
{
    char key[32];
    json_t *old;
    json_t *now;
    int changed;

    snprintf(key, sizeof(key), "%lld",
             (long long)json_integer_value(json_object_get(b, "id")));
    now = json_pack("{s:O, s:O}", "verified", json_object_get(b, "verified"),
                    "line",
                    json_object_get(b, "line") ? json_object_get(b, "line")
                                               : json_null());
    old = json_object_get(g->bpstate, key);
    changed = old != NULL && !json_equal(old, now);
    json_object_set_new(g->bpstate, key, now);
    return changed;
}

static int is_fn_bp(struct gdb *g, long long num)
{
    json_t *e;
    size_t i;

    json_array_foreach(g->fn_bps, i, e)
    {
        if (json_integer_value(json_object_get(e, "num")) == num)
            return 1;
    }
    return 0;
}

static void send_var_deletes(struct gdb *g)
{
    struct greq *r;
    json_t *v;
    size_t i;

    refs_clear(g);
    if (json_array_size(g->roots) == 0)
        return;
    r = req_new(g, "(var-delete)", NULL);
    if (r == NULL)
        return;
    json_array_foreach(g->roots, i, v)
        MI(r, ignore_result, 0, "-var-delete %q", json_string_value(v));
    json_array_clear(g->roots);
    req_maybe_done(r);
}

static void on_exited(struct gdb *g, json_t *res)
{
    const char *reason = adapter_mi_str(res, "reason");
    long long code = 0;
    char text[160];

    g->exited = 1;
    g->running = 0;
    if (strcmp(reason, "exited") == 0) {
        code = adapter_mi_int(res, "exit-code", 0);
        snprintf(text, sizeof(text), "program exited with code %lld\n", code);
    } else if (strcmp(reason, "exited-signalled") == 0) {
        const char *sig = adapter_mi_str(res, "signal-name");
        code = 128 + signo_of(sig);
        snprintf(text, sizeof(text), "program terminated by %s (%s)\n",
                 sig ? sig : "a signal",
                 adapter_mi_str(res, "signal-meaning")
                     ? adapter_mi_str(res, "signal-meaning")
                     : "?");
    } else {
        snprintf(text, sizeof(text), "program exited normally\n");
    }
    output(g, "console", text);
    ev(g, "exited", json_pack("{s:I}", "exitCode", (json_int_t)code));
    ev(g, "terminated", NULL);
}

static void on_stopped(struct gdb *g, json_t *res)
{
    const char *reason = adapter_mi_str(res, "reason");
    const char *dapreason = "pause";
    char desc[512] = "";
    json_t *body;
    json_t *hits = NULL;
    const char *sig = adapter_mi_str(res, "signal-name");
    /* "0": stopped by kdap's interrupt (SIGSTOP to that thread) */
    int ours = reason != NULL && strcmp(reason, "signal-received") == 0 &&
               sig != NULL && strcmp(sig, "0") == 0;
    int tid;

    tid = (int)adapter_mi_int(res, "thread-id", g->cur_thread);
    if (json_object_get(res, "stopped-threads") != NULL)
        threads_mark(g, json_object_get(res, "stopped-threads"), 0);
    else
        json_object_clear(g->thr_run);
    if (reason != NULL && strncmp(reason, "exited", 6) == 0) {
        g->running = 0;
        json_object_clear(g->thr_run);
        json_decref(g->stop_pending);
        g->stop_pending = NULL;
        if (g->state == G_READY)
            on_exited(g, res);
        else
            g->exited = 1;
        if (g->halting)
            halt_done(g);
        return;
    }
    if (g->state == G_STARTING && g->settling &&
        json_object_size(g->thr_run) == 0) {
        start_settled(g);
        return;
    }
    if (g->state == G_STOPPING) {
        g->running = 0;
        stop_continue(g);
        return;
    }
    if (g->state != G_READY)
        return;
    /* The rest of a world stop, or kdap's interrupt landing late: only
     * the first stop is news. */
    if (g->stop_pending != NULL || (ours && !g->pause_requested)) {
        world_check(g);
        return;
    }
    g->halt_resume = 0; /* a real stop: it stays stopped */
    if (tid > 0)
        g->cur_thread = tid;
    json_decref(g->exc);
    g->exc = NULL;
    if (reason == NULL) {
        dapreason = "pause";
    } else if (strcmp(reason, "breakpoint-hit") == 0) {
        long long num = adapter_mi_int(res, "bkptno", 0);
        dapreason = is_fn_bp(g, num) ? "function breakpoint" : "breakpoint";
        hits = json_pack("[I]", (json_int_t)num);
    } else if (strstr(reason, "watchpoint-trigger") != NULL) {
        json_t *w = json_object_get(res, "wpt");
        json_t *val = json_object_get(res, "value");
        if (w == NULL)
            w = json_object_get(res, "hw-awpt");
        if (w == NULL)
            w = json_object_get(res, "hw-rwpt");
        dapreason = "data breakpoint";
        hits = json_pack("[I]", (json_int_t)adapter_mi_int(w, "number", 0));
        if (adapter_mi_str(val, "old") != NULL)
            snprintf(desc, sizeof(desc), "%s: %s -> %s",
                     adapter_mi_str(w, "exp"), adapter_mi_str(val, "old"),
                     adapter_mi_str(val, "new") ? adapter_mi_str(val, "new")
                                                : "?");
        else
            snprintf(desc, sizeof(desc), "%s = %s",
                     adapter_mi_str(w, "exp") ? adapter_mi_str(w, "exp") : "?",
                     adapter_mi_str(val, "new")     ? adapter_mi_str(val, "new")
                     : adapter_mi_str(val, "value") ? adapter_mi_str(val, "value")
                                                    : "?");
    } else if (strcmp(reason, "watchpoint-scope") == 0) {
        dapreason = "data breakpoint";
        snprintf(desc, sizeof(desc),
                 "watchpoint %s went out of scope and was deleted",
                 adapter_mi_str(res, "wpnum") ? adapter_mi_str(res, "wpnum")
                                              : "");
    } else if (strcmp(reason, "end-stepping-range") == 0 ||
               strcmp(reason, "function-finished") == 0 ||
               strcmp(reason, "location-reached") == 0) {
        dapreason = "step";
    } else if (strcmp(reason, "signal-received") == 0) {
        const char *meaning = adapter_mi_str(res, "signal-meaning");
        if (sig != NULL && (strcmp(sig, "0") == 0 ||
                            (g->pause_requested &&
                             (strcmp(sig, "SIGINT") == 0 ||
                              strcmp(sig, "SIGSTOP") == 0)))) {
            dapreason = "pause";
        } else {
            dapreason = "exception";
            snprintf(desc, sizeof(desc), "%s (%s)", sig ? sig : "signal",
                     meaning ? meaning : "");
            g->exc = json_pack("{s:s, s:s, s:i}", "name",
                               sig ? sig : "signal", "meaning",
                               meaning ? meaning : "", "thread", tid);
        }
    } else {
        snprintf(desc, sizeof(desc), "%s", reason);
    }
    g->pause_requested = 0;
    body = adapter_xlate_stopped_new(dapreason, tid > 0 ? tid : 1,
                                     desc[0] != '\0' ? desc : NULL);
    if (desc[0] != '\0') {
        if (g->exc != NULL)
            json_object_set_new(body, "text", json_string(desc));
    }
    if (hits != NULL)
        json_object_set_new(body, "hitBreakpointIds", hits);
    world_stop(g, body);
}

static void lost_connection(struct gdb *g, const char *why)
{
    struct greq *r;

    if (g->lost || g->state != G_READY)
        return;
    g->lost = 1;
    g->exited = 1;
    g->running = 0;
    DAP_LOGW("service %s: %s", g->a ? g->a->name : "?", why);
    dap_error_set(&g->stop_err, DAP_ECLOSED,
                  "the connection to gdbserver at %s closed (%s)", g->connect,
                  why);
    g->stop_status = DAP_ECLOSED;
    if (g->halting)
        halt_done(g);
    /* gdb is no use without its target: let it go, then report. */
    r = req_new(g, "(exit)", NULL);
    if (r == NULL)
        return;
    MI(r, ignore_result, 0, "-gdb-exit");
    req_maybe_done(r);
}

static void on_notify(struct gdb *g, struct adapter_mi_record *rec)
{
    json_t *res = rec->results;

    if (strcmp(rec->cls, "thread-created") == 0 ||
        strcmp(rec->cls, "thread-exited") == 0) {
        long long id = adapter_mi_int(res, "id", 0);
        const char *sid = adapter_mi_str(res, "id");
        if (sid != NULL && rec->cls[7] == 'c') {
            char nm[64];
            snprintf(nm, sizeof(nm), "thread %s", sid);
            if (json_object_get(g->threads, sid) == NULL)
                json_object_set_new(g->threads, sid, json_string(nm));
        } else if (sid != NULL) {
            json_object_del(g->threads, sid);
            json_object_del(g->thr_run, sid);
            world_check(g);
        }
        if (id > 0)
            ev(g, "thread",
               json_pack("{s:s, s:I}", "reason",
                         rec->cls[7] == 'c' ? "started" : "exited",
                         "threadId", (json_int_t)id));
    } else if (strcmp(rec->cls, "breakpoint-modified") == 0) {
        json_t *b = bp_from_mi(json_object_get(res, "bkpt"));
        char key[32];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(b, "id")));
        if (json_object_get(g->bpstate, key) != NULL && bp_note(g, b))
            ev(g, "breakpoint", adapter_xlate_bp_changed_new(b));
        else
            json_decref(b);
    } else if (strcmp(rec->cls, "breakpoint-deleted") == 0) {
        const char *id = adapter_mi_str(res, "id");
        if (id != NULL && json_object_get(g->bpstate, id) != NULL) {
            json_object_del(g->bpstate, id);
            ev(g, "breakpoint",
               json_pack("{s:s, s:{s:I, s:b}}", "reason", "removed",
                         "breakpoint", "id", (json_int_t)atoll(id),
                         "verified", 0));
        }
    }
}

/* Console output nobody asked for: log points (BEL-marked lines) become
 * output events, the rest is gdb narrating and is only logged. */
static void on_console(struct gdb *g, const char *text, size_t len)
{
    char *nl;

    if (dap_buf_append(&g->conbuf, text, len) < 0)
        dap_buf_reset(&g->conbuf);
    while (g->conbuf.len > 0 &&
           (nl = memchr(g->conbuf.data, '\n', g->conbuf.len)) != NULL) {
        size_t n = (size_t)(nl - g->conbuf.data) + 1;
        if (g->conbuf.data[0] == '\a') {
            char *s = strndup(g->conbuf.data + 1, n - 1);
            if (s != NULL)
                ev(g, "output", adapter_xlate_output_new("console", s));
            free(s);
        } else {
            DAP_LOGD("gdb console: %.*s", (int)n - 1, g->conbuf.data);
        }
        dap_buf_consume(&g->conbuf, n);
    }
}

/* Unlink and return the command that result `token` answers, or NULL
 * (none waits for it).  gdb answers in order: the commands sent before
 * it never will be, and fail. */
static struct mi_cmd *take_cmd(struct gdb *g, int has_token, uint64_t token)
{
    struct mi_cmd *c = g->head;

    /* kdap sends every command with a token: a result without one
     * answers something else (a command nested in a CLI one). */
    while (c != NULL && (!has_token || c->token != token))
        c = c->next;
    if (c == NULL) {
        DAP_LOGW("gdb answered a command that is not waiting (token "
                 "%llu%s): dropped",
                 (unsigned long long)token, has_token ? "" : " none");
        return NULL;
    }
    while (g->head != c) {
        struct mi_cmd *lost = g->head;
        g->head = lost->next;
        DAP_LOGW("gdb gave no answer to command %llu",
                 (unsigned long long)lost->token);
        cmd_complete(g, lost, NULL, DAP_EPROTO,
                     "gdb gave no answer to this command (it answered a "
                     "later one); see kdap's log");
    }
    g->head = c->next;
    if (g->head == NULL)
        g->tail = NULL;
    return c;
}

static void on_record(struct gdb *g, struct adapter_mi_record *rec)
{
    switch (rec->kind) {
    case ADAPTER_MI_RESULT: {
        struct mi_cmd *c;
        const char *msg = rec->results != NULL
                              ? json_string_value(
                                    json_object_get(rec->results, "msg"))
                              : NULL;
        /* gdb reports a dead stub as an error of the command in flight,
         * even of one that was already answered with ^running. */
        if (msg != NULL && (strstr(msg, "Remote communication error") ||
                            strstr(msg, "Target disconnected") ||
                            strstr(msg, "Remote connection closed")))
            lost_connection(g, msg);
        c = take_cmd(g, rec->has_token, rec->token);
        if (c != NULL)
            cmd_complete(g, c, rec, 0, NULL);
        return;
    }
    case ADAPTER_MI_EXEC:
        if (strcmp(rec->cls, "stopped") == 0) {
            on_stopped(g, rec->results);
        } else if (strcmp(rec->cls, "running") == 0) {
            threads_mark(g, json_object_get(rec->results, "thread-id"), 1);
            g->running = 1;
            send_var_deletes(g);
        }
        return;
    case ADAPTER_MI_NOTIFY:
        on_notify(g, rec);
        return;
    case ADAPTER_MI_CONSOLE:
        if (g->head != NULL && g->head->capture) {
            if (dap_buf_append(&g->head->console, rec->text, rec->text_len) <
                0)
                DAP_LOGW("gdb console output too long; truncated");
            return;
        }
        on_console(g, rec->text, rec->text_len);
        return;
    case ADAPTER_MI_TARGET:
        if (rec->text_len > 0)
            output(g, "stdout", rec->text);
        return;
    case ADAPTER_MI_LOG:
        DAP_LOGD("gdb log: %s", rec->text);
        if (g->head != NULL && g->head->capture)
            bput(&g->head->console, rec->text, rec->text_len);
        if (strncmp(rec->text, "Remote connection closed", 24) == 0 ||
            strstr(rec->text, "Target disconnected") != NULL ||
            strstr(rec->text, "Remote communication error") != NULL)
            lost_connection(g, "Remote connection closed");
        return;
    default:
        return;
    }
}

static void on_line(void *data, const char *line, size_t len)
{
    struct gdb *g = data;
    struct adapter_mi_record rec;
    struct dap_error err;

    if (dap_log_enabled(DAP_LOG_DEBUG))
        DAP_LOGD("gdb -> %.*s", (int)(len > 2000 ? 2000 : len), line);
    if (adapter_mi_parse_line(line, len, &rec, &err) == 0) {
        on_record(g, &rec);
    } else if (rec.has_token && rec.kind == ADAPTER_MI_RESULT) {
        /* A result kdap cannot read still fails its own command. */
        struct mi_cmd *c = take_cmd(g, 1, rec.token);
        char why[400];
        DAP_LOGW("gdb's answer to command %llu cannot be read: %s",
                 (unsigned long long)rec.token, err.msg);
        snprintf(why, sizeof(why),
                 "gdb's answer cannot be read (%s); see kdap's log",
                 err.msg);
        if (c != NULL)
            cmd_complete(g, c, NULL, DAP_EPROTO, why);
    } else {
        DAP_LOGD("gdb printed a non-MI line: %s", err.msg);
    }
    adapter_mi_record_cleanup(&rec);
}

static void on_err_line(void *data, const char *line, size_t len)
{
    struct gdb *g = data;

    DAP_LOGW("gdb %s stderr: %.*s", g->a ? g->a->name : "?",
             (int)(len > 1000 ? 1000 : len), line);
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
        if (adapter_mi_reader_feed(&g->reader, buf->base, (size_t)n, on_line,
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
                                     on_err_line, g);
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
        halt_done(g);
    while (g->head != NULL) {
        struct mi_cmd *c = g->head;
        g->head = c->next;
        if (g->head == NULL)
            g->tail = NULL;
        cmd_complete(g, c, NULL, DAP_ECLOSED,
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

static int spawn_gdb(struct gdb *g, struct dap_error *err)
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

/* ======================================================================
 * configuration and start
 * ==================================================================== */

static int gdb_new(adapter *a, json_t *cfg, struct dap_error *err)
{
    const char *connect = adapter_mi_str(cfg, "connect");
    const char *program = adapter_mi_str(cfg, "program");
    const char *gdbpath = adapter_mi_str(cfg, "gdbPath");
    json_t *setup = json_object_get(cfg, "setupCommands");
    json_t *smap = json_object_get(cfg, "sourceMap");
    json_t *pid = json_object_get(cfg, "pid");
    json_t *v;
    struct gdb *g;
    char host[256];
    unsigned timeout_ms;
    int port;
    size_t i;
    int rc;

    if (connect == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the gdb runtime needs \"connect\": \"HOST:PORT\" "
                             "of a gdbserver (gdbserver --attach "
                             "127.0.0.1:PORT PID)");
    rc = adapter__parse_hostport(connect, host, sizeof(host), &port, err);
    if (rc < 0)
        return rc;
    if (strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                     "0123456789.-_:") != strlen(host))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"connect\": \"%s\" is not a host name or "
                             "address",
                             host);
    if (program == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the gdb runtime needs \"program\": the local "
                             "path of the binary with debug info (the one "
                             "gdbserver's process runs)");
    if (setup != NULL && !json_is_array(setup))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"setupCommands\" must be an array of strings "
                             "or {\"text\": ..., \"ignoreFailures\": bool}");
    json_array_foreach(setup, i, v)
    {
        if (!json_is_string(v) &&
            !json_is_string(json_object_get(v, "text")))
            return dap_error_set(err, DAP_ECONFIG,
                                 "setupCommands[%zu] must be a string or "
                                 "{\"text\": \"...\"}",
                                 i);
    }
    if (smap != NULL && !json_is_object(smap))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"sourceMap\" must be an object "
                             "{\"/remote/dir\": \"/local/dir\"}");
    if (pid != NULL && (!json_is_integer(pid) || json_integer_value(pid) <= 0))
        return dap_error_set(err, DAP_ECONFIG,
                             "\"pid\" must be a positive integer (the process "
                             "a `gdbserver --multi` should attach to)");
    for (i = 0; i < json_array_size(setup); i++) {
        const char *t = json_string_value(json_array_get(setup, i));
        if (t == NULL)
            t = adapter_mi_str(json_array_get(setup, i), "text");
        /* One entry is one command: a line break would smuggle in more
         * (and desynchronise kdap's view of gdb's answers). */
        for (const char *p = t; *p != '\0'; p++) {
            if ((unsigned char)*p < 0x20 || *p == 0x7f)
                return dap_error_set(err, DAP_ECONFIG,
                                     "setupCommands[%zu] contains a control "
                                     "character (0x%02x): give each gdb "
                                     "command as its own entry",
                                     i, (unsigned)(unsigned char)*p);
        }
    }
    rc = adapter__request_timeout(cfg, REQUEST_TIMEOUT_MS, &timeout_ms, err);
    if (rc < 0)
        return rc;
    g = calloc(1, sizeof(*g));
    if (g == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    g->a = a;
    g->req_timeout_ms = timeout_ms;
    g->connect = strdup(connect);
    if (asprintf(&g->target, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                 port) < 0)
        g->target = NULL;
    g->program = strdup(program);
    g->gdb_path = strdup(gdbpath != NULL ? gdbpath : "gdb");
    g->sysroot = xstrdup(adapter_mi_str(cfg, "sysroot"));
    g->solib_path = xstrdup(adapter_mi_str(cfg, "solibSearchPath"));
    g->source_map = smap != NULL ? json_deep_copy(smap) : json_object();
    g->setup = setup != NULL ? json_deep_copy(setup) : json_array();
    g->stop_at_connect = json_is_true(json_object_get(cfg, "stopAtConnect"));
    g->pid = pid != NULL ? json_integer_value(pid) : 0;
    g->extended = g->pid > 0 ||
                  json_is_true(json_object_get(cfg, "extendedRemote"));
    g->src_bps = json_object();
    g->fn_bps = json_array();
    g->data_bps = json_array();
    g->bpstate = json_object();
    g->roots = json_array();
    g->threads = json_object();
    g->thr_run = json_object();
    adapter_xrefs_init(&g->refs, ref_free);
    adapter_mi_reader_init(&g->reader, MAX_LINE);
    adapter_mi_reader_init(&g->errreader, 64 * 1024);
    dap_buf_init(&g->conbuf, 1u << 20);
    uv_timer_init(a->loop, &g->timer);
    adapter_xlate_init(&g->xl, a->loop, complete_cb, NULL, g);
    uv_timer_init(a->loop, &g->deadline);
    uv_timer_init(a->loop, &g->cmdtimer);
    g->timer.data = g->deadline.data = g->cmdtimer.data = g;
    g->handles = 4;
    a->impl = g;
    return 0;
}

static void start_fail(struct gdb *g, int code, const char *msg)
{
    struct dap_error e;
    struct greq *r;

    if (g->state != G_STARTING)
        return;
    dap_error_set(&e, code, "%s", msg);
    g->state = G_CLOSED;
    if (g->a != NULL)
        adapter__ready(g->a, code, &e);
    /* Leave nothing attached: detach if we got that far, then exit. */
    r = req_new(g, "(exit)", NULL);
    if (r == NULL)
        return;
    MI(r, ignore_result, 0, "-target-detach");
    MI(r, ignore_result, 0, "-gdb-exit");
    req_maybe_done(r);
}

static void start_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;
    char msg[512];

    snprintf(msg, sizeof(msg),
             "gdb did not connect to %s in %d s: is gdbserver listening "
             "there?",
             g->connect, START_TIMEOUT_MS / 1000);
    start_fail(g, DAP_ETIMEDOUT, msg);
    if (g->spawned && !g->proc_exited)
        uv_process_kill(&g->proc, SIGKILL);
}

static void start_attached(struct greq *r, struct adapter_mi_record *rec,
                           long arg)
{
    struct gdb *g = r->g;
    char msg[512];

    (void)arg;
    if (g->state != G_STARTING)
        return;
    if (is_error(rec)) {
        snprintf(msg, sizeof(msg), "gdb could not attach: %s", rec_msg(rec));
        start_fail(g, DAP_EBACKEND, msg);
        return;
    }
    /* Connected in non-stop mode, gdb takes the threads it was not told
     * about as running: have them all stopped (they are, or are made so),
     * so that everything the editor does next finds them stopped. */
    g->settling = 1;
    if (json_object_size(g->thr_run) > 0)
        MI(r, settle_wait, 0, "-exec-interrupt --all");
    else
        start_settled(g);
}

static void settle_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;

    if (g->state != G_STARTING || !g->settling)
        return;
    DAP_LOGW("service %s: %zu threads did not report their stop; going on",
             g->a->name, json_object_size(g->thr_run));
    json_object_clear(g->thr_run);
    start_settled(g);
}

static void settle_wait(struct greq *r, struct adapter_mi_record *rec,
                        long arg)
{
    struct gdb *g = r->g;

    (void)arg;
    if (g->state != G_STARTING || !g->settling)
        return;
    if (is_error(rec)) {
        start_fail(g, DAP_EBACKEND, "gdb could not stop the program's "
                                    "threads after attaching");
        return;
    }
    uv_timer_start(&g->timer, settle_timeout, HALT_WAIT_MS, 0);
}

static void start_settled(struct gdb *g)
{
    g->settling = 0;
    uv_timer_stop(&g->timer);
    g->state = G_READY;
    g->running = 0;
    DAP_LOGI("service %s: gdb attached through %s", g->a->name, g->connect);
    adapter__ready(g->a, 0, NULL);
}

static void start_connected(struct greq *r, struct adapter_mi_record *rec,
                            long arg)
{
    struct gdb *g = r->g;
    char msg[512];

    (void)arg;
    if (g->state != G_STARTING)
        return;
    if (is_error(rec)) {
        snprintf(msg, sizeof(msg),
                 "gdb could not connect to gdbserver at %s: %s. Is "
                 "gdbserver listening there (gdbserver --attach "
                 "127.0.0.1:PORT PID)?",
                 g->connect, rec_msg(rec));
        while (strstr(msg, "..") != NULL)
            memmove(strstr(msg, ".."), strstr(msg, "..") + 1,
                    strlen(strstr(msg, "..")));
        start_fail(g, DAP_ECONNECT, msg);
        return;
    }
    if (g->pid > 0) {
        MI(r, start_attached, 0, "-target-attach %l", g->pid);
        return;
    }
    start_attached(r, rec, 0);
}

static void start_loaded(struct greq *r, struct adapter_mi_record *rec,
                         long arg)
{
    struct gdb *g = r->g;
    char msg[700];

    (void)arg;
    if (g->state != G_STARTING)
        return;
    if ((r->x.status < 0) || is_error(rec)) {
        snprintf(msg, sizeof(msg), "%s%s",
                 (r->x.status < 0) ? r->x.msg : "gdb cannot load \"program\": ",
                 (r->x.status < 0) ? "" : rec_msg(rec));
        start_fail(g, DAP_ECONFIG, msg);
        return;
    }
    /* Through kdap's tunnel: a socket only this gdb may connect to. */
    if (g->a->tunnel.serve_fn != NULL && g->privsock == NULL) {
        const char *path;
        struct dap_error e;
        if (adapter__privsock_new(g->a, g->proc.pid, &g->privsock, &path,
                                  &e) < 0) {
            start_fail(g, e.code, e.msg);
            return;
        }
        free(g->target);
        g->target = strdup(path);
    }
    /* gdb takes the address as is (no C-string unquoting): gdb_new
     * checked that it is host:port made of safe characters (the private
     * socket's path is too). */
    MI(r, start_connected, 0, "-target-select %s %s",
       g->extended ? "extended-remote" : "remote", g->target);
}

static void setup_result(struct greq *r, struct adapter_mi_record *rec,
                         long arg)
{
    json_t *c = json_array_get(r->g->setup, (size_t)arg);
    const char *text = json_is_string(c) ? json_string_value(c)
                                         : adapter_mi_str(c, "text");

    if (!is_error(rec))
        return;
    if (json_is_true(json_object_get(c, "ignoreFailures"))) {
        DAP_LOGI("setup command \"%s\" failed (ignored): %s", text,
                 rec_msg(rec));
        return;
    }
    fail(r, DAP_EBACKEND, "setupCommands[%ld] \"%s\" failed: %s", arg, text,
         rec_msg(rec));
}

/* A CLI argument: quoted when it has blanks or quotes. */
static void cli_arg(dap_buf *b, const char *s)
{
    if (strpbrk(s, " \t\"'\\") == NULL && *s != '\0') {
        bput(b, s, strlen(s));
        return;
    }
    bput(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            bput(b, "\\", 1);
        bput(b, s, 1);
    }
    bput(b, "\"", 1);
}

static void cli_set(struct greq *r, const char *what, const char *value)
{
    dap_buf cli;

    dap_buf_init(&cli, 65536);
    bput(&cli, what, strlen(what));
    bput(&cli, value, strlen(value));
    MI(r, check_result, 0, "-interpreter-exec console %q",
       cli.data != NULL ? cli.data : "");
    dap_buf_cleanup(&cli);
}

static int gdb_start(adapter *a)
{
    struct gdb *g = a->impl;
    struct dap_error err;
    struct greq *r;
    const char *from;
    json_t *to;
    json_t *c;
    size_t i;

    g->state = G_STARTING;
    if (spawn_gdb(g, &err) < 0) {
        DAP_LOGE("service %s: %s", a->name, err.msg);
        g->state = G_CLOSED;
        return err.code;
    }
    uv_timer_start(&g->timer, start_timeout, START_TIMEOUT_MS, 0);
    r = req_new(g, "(start)", NULL);
    if (r == NULL)
        return DAP_ENOMEM;
    MI(r, check_result, 0, "-gdb-set mi-async on");
    MI(r, check_result, 0, "-gdb-set non-stop on");
    MI(r, ignore_result, 0, "-gdb-set pagination off");
    MI(r, ignore_result, 0, "-gdb-set width 0");
    MI(r, ignore_result, 0, "-gdb-set height 0");
    MI(r, ignore_result, 0, "-gdb-set confirm off");
    MI(r, ignore_result, 0, "-gdb-set print object on");
    MI(r, ignore_result, 0, "-enable-pretty-printing");
    /* -gdb-set takes its value verbatim (quotes included), the CLI `set`
     * takes the rest of the line: so the CLI, quoted for MI as a whole. */
    if (g->sysroot != NULL)
        cli_set(r, "set sysroot ", g->sysroot);
    if (g->solib_path != NULL)
        cli_set(r, "set solib-search-path ", g->solib_path);
    json_object_foreach(g->source_map, from, to)
    {
        dap_buf cli;
        if (!json_is_string(to))
            continue;
        dap_buf_init(&cli, 16384);
        bput(&cli, "set substitute-path ", 20);
        cli_arg(&cli, from);
        bput(&cli, " ", 1);
        cli_arg(&cli, json_string_value(to));
        MI(r, check_result, 0, "-interpreter-exec console %q",
           cli.data != NULL ? cli.data : "");
        dap_buf_cleanup(&cli);
    }
    json_array_foreach(g->setup, i, c)
    {
        const char *text = json_is_string(c) ? json_string_value(c)
                                             : adapter_mi_str(c, "text");
        if (text[0] == '-')
            MI(r, setup_result, (long)i, "%s", text); /* raw MI */
        else
            MI(r, setup_result, (long)i, "-interpreter-exec console %q",
               text);
    }
    MI(r, start_loaded, 0, "-file-exec-and-symbols %q", g->program);
    req_maybe_done(r);
    return 0;
}

/* ======================================================================
 * DAP requests
 * ==================================================================== */

static int frame_of(struct greq *r, json_t *v)
{
    long long fid = json_integer_value(v);

    if (!json_is_integer(v) || fid <= 0) {
        fail(r, DAP_ESTALE, "unknown frameId");
        return -1;
    }
    r->thread = (int)((fid - 1) / FRAME_MUL);
    r->level = (int)((fid - 1) % FRAME_MUL);
    return 0;
}

/* --thread T --frame L for a request that named a frame, else "". */
static const char *frame_opts(struct greq *r, char *buf, size_t n)
{
    if (r->thread > 0)
        snprintf(buf, n, "--thread %d --frame %d ", r->thread, r->level);
    else
        buf[0] = '\0';
    return buf;
}

/* ---- threads ---- */

static void threads_result(struct greq *r, struct adapter_mi_record *rec,
                           long arg)
{
    json_t *list = json_array();
    json_t *t;
    size_t i;

    (void)arg;
    json_object_set_new(r->x.body, "threads", list);
    if (is_error(rec)) {
        /* A remote all-stop target cannot be asked while it runs: answer
         * from what gdb reported (=thread-created/exited, names). */
        const char *id;
        json_t *name;
        json_object_foreach(r->g->threads, id, name)
            json_array_append_new(list, json_pack("{s:I, s:O}", "id",
                                                  (json_int_t)atoll(id),
                                                  "name", name));
        return;
    }
    json_array_foreach(json_object_get(rec->results, "threads"), i, t)
    {
        const char *name = adapter_mi_str(t, "name");
        long long id = adapter_mi_int(t, "id", 0);
        char buf[300];
        if (id <= 0)
            continue;
        if (name == NULL)
            name = adapter_mi_str(t, "target-id");
        snprintf(buf, sizeof(buf), "%s", name != NULL ? name : "thread");
        json_object_set_new(r->g->threads, adapter_mi_str(t, "id"),
                            json_string(buf));
        json_array_append_new(list,
                              json_pack("{s:I, s:s}", "id", (json_int_t)id,
                                        "name", buf));
    }
}

static void req_threads(struct greq *r)
{
    if (r->g->exited) {
        json_object_set_new(r->x.body, "threads", json_array());
        return;
    }
    MI(r, threads_result, 0, "-thread-info");
}

/* ---- stackTrace ---- */

static void depth_result(struct greq *r, struct adapter_mi_record *rec,
                         long arg)
{
    (void)arg;
    if (!is_error(rec))
        r->n1 = adapter_mi_int(rec->results, "depth", -1);
}

static json_t *frame_to_dap(int thread, json_t *f)
{
    long long level = adapter_mi_int(f, "level", 0);
    const char *func = adapter_mi_str(f, "func");
    const char *addr = adapter_mi_str(f, "addr");
    const char *from = adapter_mi_str(f, "from");
    json_t *src = source_of(f);
    char name[512];
    json_t *d;

    if (func != NULL)
        snprintf(name, sizeof(name), "%s", func);
    else if (from != NULL)
        snprintf(name, sizeof(name), "%s!%s", from, addr ? addr : "??");
    else
        snprintf(name, sizeof(name), "%s", addr ? addr : "??");
    d = json_pack("{s:I, s:s}", "id",
                  (json_int_t)(thread * FRAME_MUL + level + 1), "name", name);
    if (src != NULL) {
        json_object_set_new(d, "source", src);
        json_object_set_new(d, "line",
                            json_integer(adapter_mi_int(f, "line", 0)));
        json_object_set_new(d, "column", json_integer(1));
    } else {
        json_object_set_new(d, "line", json_integer(0));
        json_object_set_new(d, "column", json_integer(0));
        json_object_set_new(d, "presentationHint", json_string("subtle"));
    }
    if (addr != NULL)
        json_object_set_new(d, "instructionPointerReference",
                            json_string(addr));
    return d;
}

static void frames_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    json_t *list = json_array();
    json_t *f;
    size_t i;

    (void)arg;
    json_object_set_new(r->x.body, "stackFrames", list);
    if (is_error(rec)) {
        /* Past the end of the stack is an empty page, not an error. */
        if (strstr(rec_msg(rec), "Not enough frames") == NULL)
            fail(r, DAP_EBACKEND, "%s", rec_msg(rec));
        return;
    }
    json_array_foreach(json_object_get(rec->results, "stack"), i, f)
        json_array_append_new(list, frame_to_dap(r->thread, f));
}

static void stack_finish(struct greq *r)
{
    size_t n = json_array_size(json_object_get(r->x.body, "stackFrames"));
    long long start = adapter__arg_int(r->x.args, "startFrame", 0, MAX_INDEX, 0);

    json_object_set_new(r->x.body, "totalFrames",
                        json_integer(r->n1 > 0 ? r->n1
                                               : start + (long long)n));
}

static void req_stack_trace(struct greq *r)
{
    long long start = adapter__arg_int(r->x.args, "startFrame", 0, MAX_INDEX, 0);
    long long levels = adapter__arg_int(r->x.args, "levels", 0, MAX_FRAMES, 0);
    long long high;

    r->thread = (int)adapter__arg_int(r->x.args, "threadId", 0, INT_MAX, 0);
    high = levels > 0 ? start + levels - 1 : start + MAX_FRAMES - 1;
    r->n1 = -1;
    if (levels > 0)
        MI(r, depth_result, 0, "-stack-info-depth --thread %d %d", r->thread,
           MAX_FRAMES);
    MI(r, frames_result, 0, "-stack-list-frames --thread %d %l %l", r->thread,
       start, high);
    r->finish = stack_finish;
}

/* ---- scopes ---- */

static void req_scopes(struct greq *r)
{
    struct gdb *g = r->g;
    long long loc, arg, regs;

    if (frame_of(r, json_object_get(r->x.args, "frameId")) < 0)
        return;
    loc = ref_add(g, REF_LOCALS, r->thread, r->level, NULL, NULL, NULL);
    arg = ref_add(g, REF_ARGS, r->thread, r->level, NULL, NULL, NULL);
    regs = ref_add(g, REF_REGS, r->thread, r->level, NULL, NULL, NULL);
    json_object_set_new(
        r->x.body, "scopes",
        json_pack("[{s:s, s:s, s:I, s:b}, {s:s, s:s, s:I, s:b},"
                  " {s:s, s:s, s:I, s:b}]",
                  "name", "Locals", "presentationHint", "locals",
                  "variablesReference", (json_int_t)loc, "expensive", 0,
                  "name", "Arguments", "presentationHint", "arguments",
                  "variablesReference", (json_int_t)arg, "expensive", 0,
                  "name", "Registers", "presentationHint", "registers",
                  "variablesReference", (json_int_t)regs, "expensive", 1));
}

/* ---- variables ---- */

/* Fill a DAP variable from a varobj's attributes; a new reference when it
 * has children.  `pref` is the parent ref index (-1 for none). */
static void var_fill(struct greq *r, json_t *var, json_t *vo, int thread,
                     int level, const char *expr)
{
    struct gdb *g = r->g;
    const char *name = adapter_mi_str(vo, "name");
    const char *type = adapter_mi_str(vo, "type");
    const char *value = adapter_mi_str(vo, "value");
    const char *hint = adapter_mi_str(vo, "displayhint");
    long long numchild = adapter_mi_int(vo, "numchild", 0);
    int dynamic = adapter_mi_int(vo, "dynamic", 0) != 0;
    int kids = numchild > 0 ||
               (dynamic && (hint == NULL || strcmp(hint, "string") != 0) &&
                adapter_mi_int(vo, "has_more", 1) != 0);
    json_t *mref;

    if (value != NULL)
        json_object_set_new(var, "value", json_string(value));
    else if (json_object_get(var, "value") == NULL)
        json_object_set_new(var, "value", json_string(""));
    if (type != NULL)
        json_object_set_new(var, "type", json_string(type));
    if (kids && name != NULL) {
        long long ref = ref_add(g, REF_VAROBJ, thread, level, name,
                                dynamic ? NULL : expr, type);
        json_object_set_new(var, "variablesReference", json_integer(ref));
        if (is_array_type(type) && numchild > 0)
            json_object_set_new(var, "indexedVariables",
                                json_integer(numchild));
    }
    mref = memref_of(type, value);
    if (mref != NULL)
        json_object_set_new(var, "memoryReference", mref);
}

static void local_varobj_result(struct greq *r, struct adapter_mi_record *rec,
                                long arg)
{
    json_t *var = json_array_get(json_object_get(r->x.body, "variables"),
                                 (size_t)arg);
    const char *expr = json_string_value(json_object_get(var,
                                                         "evaluateName"));

    if (var == NULL || is_error(rec))
        return; /* keep what -stack-list-variables said */
    var_fill(r, var, rec->results, r->thread, r->level, expr);
}

static void locals_result(struct greq *r, struct adapter_mi_record *rec,
                          long want_args)
{
    struct gdb *g = r->g;
    struct ref *ref = req_ref(r);
    json_t *out = json_array();
    json_t *seen = json_object();
    json_t *v;
    size_t i;
    char opts[64];

    json_object_set_new(r->x.body, "variables", out);
    if (!ok(r, rec) || ref == NULL) {
        json_decref(seen);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    json_array_foreach(json_object_get(rec->results, "variables"), i, v)
    {
        const char *name = adapter_mi_str(v, "name");
        const char *type = adapter_mi_str(v, "type");
        const char *value = adapter_mi_str(v, "value");
        int is_arg = adapter_mi_str(v, "arg") != NULL;
        json_t *var;
        if (name == NULL || is_arg != (want_args != 0) ||
            json_object_get(seen, name) != NULL)
            continue;
        json_object_set_new(seen, name, json_true());
        var = json_pack("{s:s, s:s, s:i, s:s}", "name", name, "value",
                        value != NULL ? value : "", "variablesReference", 0,
                        "evaluateName", name);
        if (type != NULL)
            json_object_set_new(var, "type", json_string(type));
        if (value == NULL || is_pointer_type(type)) {
            char vo[32];
            new_varobj(g, vo, sizeof(vo));
            MI(r, local_varobj_result, (long)json_array_size(out),
               "-var-create %s%s * %q", opts, vo, name);
            json_object_set_new(ref->kids, name,
                                json_pack("{s:s, s:s}", "v", vo, "e", name));
        } else {
            json_object_set_new(ref->kids, name,
                                json_pack("{s:n, s:s}", "v", "e", name));
            json_t *mref = memref_of(type, value);
            if (mref != NULL)
                json_object_set_new(var, "memoryReference", mref);
        }
        json_array_append_new(out, var);
    }
    json_decref(seen);
}

static void regnames_result(struct greq *r, struct adapter_mi_record *rec,
                            long arg)
{
    (void)arg;
    if (ok(r, rec)) {
        json_decref(r->g->regnames);
        r->g->regnames =
            json_incref(json_object_get(rec->results, "register-names"));
    }
}

static void regvalues_result(struct greq *r, struct adapter_mi_record *rec,
                             long arg)
{
    json_t *out = json_array();
    json_t *v;
    size_t i;

    (void)arg;
    json_object_set_new(r->x.body, "variables", out);
    if (!ok(r, rec))
        return;
    json_array_foreach(json_object_get(rec->results, "register-values"), i, v)
    {
        long long num = adapter_mi_int(v, "number", -1);
        const char *value = adapter_mi_str(v, "value");
        const char *name = json_string_value(
            json_array_get(r->g->regnames, num >= 0 ? (size_t)num : 0));
        char ev_[80];
        if (name == NULL || name[0] == '\0' || value == NULL ||
            value[0] == '{')
            continue;
        if (json_array_size(out) >= MAX_REGS)
            break;
        snprintf(ev_, sizeof(ev_), "$%s", name);
        json_array_append_new(out,
                              json_pack("{s:s, s:s, s:i, s:s}", "name", name,
                                        "value", value, "variablesReference",
                                        0, "evaluateName", ev_));
        if (req_ref(r) != NULL)
            json_object_set_new(req_ref(r)->kids, name,
                                json_pack("{s:n, s:s}", "v", "e", ev_));
    }
}

/* Children of a varobj; access-specifier pseudo children (C++ public:,
 * private:, protected:) are flattened into their parent. */
static void children_result(struct greq *r, struct adapter_mi_record *rec,
                            long slot);

static void add_children(struct greq *r, json_t *children, size_t slot,
                         const char *pexpr, const char *ptype)
{
    json_t *dst = json_array_get(r->tmp, slot);
    json_t *c;
    size_t i;

    json_array_foreach(children, i, c)
    {
        const char *exp = adapter_mi_str(c, "exp");
        const char *name = adapter_mi_str(c, "name");
        const char *type = adapter_mi_str(c, "type");
        int dynamic = adapter_mi_int(c, "dynamic", 0) != 0;
        char shown[300];
        char *expr;
        json_t *var;
        if (exp == NULL || name == NULL)
            continue;
        if (type == NULL &&
            (strcmp(exp, "public") == 0 || strcmp(exp, "private") == 0 ||
             strcmp(exp, "protected") == 0)) {
            /* A slot of its own, filled by a further listing. */
            size_t sub = json_array_size(r->tmp);
            json_array_append_new(r->tmp, json_array());
            json_array_append_new(dst, json_integer((json_int_t)sub));
            json_array_append_new(
                json_object_get(r->x.body, "pending"),
                json_pack("{s:s, s:s?, s:s?}", "vo", name, "e", pexpr, "t",
                          ptype));
            MI(r, children_result, (long)sub,
               "-var-list-children --all-values %q", name);
            continue;
        }
        if (is_array_type(ptype) && isdigit((unsigned char)exp[0]))
            snprintf(shown, sizeof(shown), "[%s]", exp);
        else
            snprintf(shown, sizeof(shown), "%s", exp);
        expr = dynamic ? NULL : child_expr(pexpr, ptype, exp);
        var = json_pack("{s:s, s:s, s:i}", "name", shown, "value", "",
                        "variablesReference", 0);
        if (expr != NULL)
            json_object_set_new(var, "evaluateName", json_string(expr));
        var_fill(r, var, c, (int)r->thread, r->level, expr);
        if (req_ref(r) != NULL)
            json_object_set_new(req_ref(r)->kids, shown,
                                json_pack("{s:s, s:s?}", "v", name, "e",
                                          expr));
        free(expr);
        json_array_append_new(dst, var);
    }
}

static void children_result(struct greq *r, struct adapter_mi_record *rec,
                            long slot)
{
    struct ref *ref = req_ref(r);
    const char *pexpr;
    const char *ptype;

    if (!ok(r, rec) || ref == NULL)
        return;
    pexpr = ref->expr;
    ptype = ref->type;
    if (slot > 0) {
        /* An access specifier: its children belong to the class above. */
        json_t *p = json_array_get(json_object_get(r->x.body, "pending"),
                                   (size_t)slot - 1);
        pexpr = adapter_mi_str(p, "e");
        ptype = adapter_mi_str(p, "t");
    }
    add_children(r, json_object_get(rec->results, "children"), (size_t)slot,
                 pexpr, ptype);
}

static void flatten(json_t *slots, size_t slot, json_t *out, int depth)
{
    json_t *e;
    size_t i;

    if (depth > 8)
        return;
    json_array_foreach(json_array_get(slots, slot), i, e)
    {
        if (json_is_integer(e))
            flatten(slots, (size_t)json_integer_value(e), out, depth + 1);
        else
            json_array_append(out, e);
    }
}

static void children_finish(struct greq *r)
{
    json_t *out = json_array();

    flatten(r->tmp, 0, out, 0);
    json_object_del(r->x.body, "pending");
    json_object_set_new(r->x.body, "variables", out);
}

static void req_variables(struct greq *r)
{
    struct gdb *g = r->g;
    struct ref *ref = ref_get(g, json_object_get(r->x.args,
                                                 "variablesReference"));
    long long start = adapter__arg_int(r->x.args, "start", 0, MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "count", 0, MAX_INDEX, 0);
    char opts[64];

    if (ref == NULL) {
        fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
        return;
    }
    r->n1 = json_integer_value(json_object_get(r->x.args, "variablesReference"));
    r->base = g->refs.base;
    r->thread = ref->thread;
    r->level = ref->level;
    frame_opts(r, opts, sizeof(opts));
    switch (ref->kind) {
    case REF_LOCALS:
    case REF_ARGS:
        MI(r, locals_result, ref->kind == REF_ARGS,
           "-stack-list-variables %s--simple-values", opts);
        return;
    case REF_REGS:
        if (g->regnames == NULL)
            MI(r, regnames_result, 0, "-data-list-register-names");
        MI(r, regvalues_result, 0,
           "-data-list-register-values %s--skip-unavailable N", opts);
        return;
    case REF_VAROBJ:
        r->tmp = json_pack("[[]]");
        json_object_set_new(r->x.body, "pending", json_array());
        if (count > 0)
            MI(r, children_result, 0, "-var-list-children --all-values %q %l %l",
               ref->varobj, start, start + count);
        else
            MI(r, children_result, 0, "-var-list-children --all-values %q",
               ref->varobj);
        r->finish = children_finish;
        return;
    }
}

/* ---- evaluate ---- */

static void cli_result(struct greq *r, struct adapter_mi_record *rec,
                       long arg)
{
    size_t n = rec->text != NULL ? strlen(rec->text) : 0;

    (void)arg;
    if (!ok(r, rec))
        return;
    while (n > 0 && rec->text[n - 1] == '\n')
        n--;
    json_object_set_new(r->x.body, "result",
                        json_stringn(rec->text != NULL ? rec->text : "", n)
                            ?: json_string("(output is not UTF-8)"));
    json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

static void eval_plain_result(struct greq *r, struct adapter_mi_record *rec,
                              long arg)
{
    (void)arg;
    if (!ok(r, rec))
        return;
    json_object_set_new(r->x.body, "result",
                        json_string(adapter_mi_str(rec->results, "value")
                                        ?: ""));
    json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

static void eval_result(struct greq *r, struct adapter_mi_record *rec,
                        long arg)
{
    const char *expr = adapter_mi_str(r->x.args, "expression");
    char opts[64];

    (void)arg;
    if (is_error(rec)) {
        /* -var-create says only "unable to create variable object": ask
         * again for gdb's actual reason. */
        frame_opts(r, opts, sizeof(opts));
        MI(r, eval_plain_result, 0, "-data-evaluate-expression %s%q", opts,
           expr);
        return;
    }
    json_object_set_new(r->x.body, "result", json_string(""));
    var_fill(r, r->x.body, rec->results, r->thread, r->level, expr);
    json_object_set_new(r->x.body, "result",
                        json_incref(json_object_get(r->x.body, "value")));
    json_object_del(r->x.body, "value");
    if (json_object_get(r->x.body, "variablesReference") == NULL)
        json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

static void req_evaluate(struct greq *r)
{
    struct gdb *g = r->g;
    const char *expr = adapter_mi_str(r->x.args, "expression");
    const char *ctx = adapter_mi_str(r->x.args, "context");
    json_t *fid = json_object_get(r->x.args, "frameId");
    char opts[64];
    char vo[32];

    if (fid != NULL && frame_of(r, fid) < 0)
        return;
    if (ctx != NULL && strcmp(ctx, "repl") == 0 &&
        (strncmp(expr, "-exec ", 6) == 0 || expr[0] == '>')) {
        const char *cmd = expr[0] == '>' ? expr + 1 : expr + 6;
        dap_buf b;
        while (*cmd == ' ')
            cmd++;
        dap_buf_init(&b, MAX_LINE);
        if (adapter_mi_build(&b, "-interpreter-exec console %q", cmd) < 0)
            dap_buf_reset(&b);
        mi_send(r, cli_result, 0, 1, &b);
        dap_buf_cleanup(&b);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    new_varobj(g, vo, sizeof(vo));
    MI(r, eval_result, 0, "-var-create %s%s * %q", opts, vo, expr);
}

/* ---- setVariable ---- */

static void assign_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    (void)arg;
    if (!ok(r, rec))
        return;
    json_object_set_new(r->x.body, "value",
                        json_string(adapter_mi_str(rec->results, "value")
                                        ?: ""));
}

static void req_set_variable(struct greq *r)
{
    struct gdb *g = r->g;
    struct ref *ref = ref_get(g, json_object_get(r->x.args,
                                                 "variablesReference"));
    const char *name = adapter_mi_str(r->x.args, "name");
    const char *value = adapter_mi_str(r->x.args, "value");
    json_t *kid;
    const char *vo;
    const char *expr;
    char opts[64];
    char tmp[32];

    if (ref == NULL) {
        fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
        return;
    }
    r->thread = ref->thread;
    r->level = ref->level;
    kid = json_object_get(ref->kids, name);
    vo = adapter_mi_str(kid, "v");
    expr = adapter_mi_str(kid, "e");
    if (kid == NULL)
        expr = ref->kind == REF_REGS ? NULL : name;
    if (ref->kind == REF_VAROBJ && vo != NULL) {
        MI(r, assign_result, 0, "-var-assign %q %q", vo, value);
        return;
    }
    if (expr == NULL) {
        fail(r, DAP_ESTATE, "cannot assign to %s: list the variables first",
             name);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    new_varobj(g, tmp, sizeof(tmp));
    MI(r, check_result, 0, "-var-create %s%s * %q", opts, tmp, expr);
    MI(r, assign_result, 0, "-var-assign %s %q", tmp, value);
}

/* ---- execution ---- */

static void resumed(struct greq *r, struct adapter_mi_record *rec, long arg)
{
    if (!ok(r, rec))
        return;
    r->g->running = 1;
    if (arg)
        json_object_set_new(r->x.body, "allThreadsContinued", json_true());
}

static void req_resume(struct greq *r)
{
    struct gdb *g = r->g;
    const char *cmd = r->x.command;
    int tid = (int)adapter__arg_int(r->x.args, "threadId", 0, INT_MAX, 0);
    const char *gran = adapter_mi_str(r->x.args, "granularity");
    int insn = gran != NULL && strcmp(gran, "instruction") == 0;

    if (g->exited) {
        fail(r, DAP_ESTATE, "the program is not running any more");
        return;
    }
    g->pause_requested = 0;
    if (strcmp(cmd, "continue") == 0)
        MI(r, resumed, 1, "-exec-continue --all");
    else if (strcmp(cmd, "next") == 0)
        MI(r, resumed, 0, insn ? "-exec-next-instruction --thread %d"
                               : "-exec-next --thread %d",
           tid);
    else if (strcmp(cmd, "stepIn") == 0)
        MI(r, resumed, 0, insn ? "-exec-step-instruction --thread %d"
                               : "-exec-step --thread %d",
           tid);
    else
        MI(r, resumed, 0, "-exec-finish --thread %d --frame 0", tid);
}

static void req_pause(struct greq *r)
{
    struct gdb *g = r->g;

    if (!g->running || g->exited)
        return; /* already stopped: nothing to do */
    g->pause_requested = 1;
    MI(r, check_result, 0, "-exec-interrupt --all");
}

static void req_configuration_done(struct greq *r)
{
    struct gdb *g = r->g;

    g->configured = 1;
    if (g->stop_at_connect || g->exited || g->running) {
        if (g->stop_at_connect && !g->running && !g->exited)
            ev(g, "stopped",
               adapter_xlate_stopped_new("entry",
                                         g->cur_thread > 0 ? g->cur_thread
                                                           : 1,
                                         "stopped at attach"));
        return;
    }
    MI(r, resumed, 1, "-exec-continue --all");
}

/* ---- breakpoints ---- */

/* hitCondition as gdb's ignore count: gdb stops on every hit after the
 * ignored ones, so only "N"/"== N"/">= N" (from the Nth hit on) and "> N"
 * map onto it.  The syntax is the kit's (xlate.h). */
static int parse_hit(const char *s, long long *ignore)
{
    struct adapter_hit h;
    long long n;

    if (adapter_xlate_hit_parse(s, &h) < 0)
        return -1;
    if (h.op == '>')
        n = h.n;
    else if ((h.op == '=' || h.op == 'g') && h.n >= 1)
        n = h.n - 1;
    else
        return -1;
    *ignore = n > INT_MAX ? INT_MAX : n; /* gdb's ignore count is an int */
    return 0;
}

/* Log message pieces -> a dprintf format and its arguments. */
struct logpoint {
    dap_buf fmt;
    json_t *args; /* $_as_string(expr) of each expression */
};

static int logpoint_piece(void *data, int is_expr, const char *text,
                          size_t len)
{
    struct logpoint *lp = data;
    char *call = NULL;
    int rc = 0;

    if (is_expr) {
        if (asprintf(&call, "$_as_string(%.*s)", (int)len, text) < 0)
            return DAP_ENOMEM;
        json_array_append_new(lp->args, json_string(call));
        free(call);
        return dap_buf_append(&lp->fmt, "%s", 2);
    }
    for (size_t i = 0; i < len && rc == 0; i++)
        rc = text[i] == '%' ? dap_buf_append(&lp->fmt, "%%", 2)
                            : dap_buf_append(&lp->fmt, &text[i], 1);
    return rc;
}

/* Log message "x is {x}" -> dprintf format and $_as_string() arguments. */
static int logpoint_cmd(dap_buf *b, const char *msg)
{
    struct logpoint lp;
    json_t *a;
    size_t i;
    int rc;

    dap_buf_init(&lp.fmt, 65536);
    lp.args = json_array();
    rc = dap_buf_append(&lp.fmt, "\a", 1);
    if (rc == 0)
        rc = adapter_xlate_log_parse(msg, logpoint_piece, &lp);
    if (rc == 0)
        rc = dap_buf_append(&lp.fmt, "\n", 1);
    if (rc == 0)
        rc = adapter_mi_quote(b, lp.fmt.data);
    json_array_foreach(lp.args, i, a)
    {
        if (rc == 0)
            rc = dap_buf_append(b, " ", 1);
        if (rc == 0)
            rc = adapter_mi_quote(b, json_string_value(a));
    }
    dap_buf_cleanup(&lp.fmt);
    json_decref(lp.args);
    return rc;
}

static void bp_insert_result(struct greq *r, struct adapter_mi_record *rec,
                             long i)
{
    json_t *out = json_object_get(r->x.body, "breakpoints");
    json_t *entry = json_array_get(r->tmp, (size_t)i);
    json_t *b;

    if (is_error(rec)) {
        json_array_set_new(out, (size_t)i,
                           json_pack("{s:b, s:s, s:s}", "verified", 0,
                                     "message", rec_msg(rec), "reason",
                                     "failed"));
        json_object_set_new(entry, "num", json_integer(0));
        return;
    }
    b = bp_from_mi(json_object_get(rec->results, "bkpt"));
    json_object_set_new(entry, "num",
                        json_incref(json_object_get(b, "id")));
    json_object_set_new(entry, "last", json_deep_copy(b));
    bp_note(r->g, b);
    json_array_set_new(out, (size_t)i, b);
}

/* What the editor last heard about a kept breakpoint, updated with gdb's
 * later news (a pending location that resolved). */
static json_t *bp_reported(struct gdb *g, json_t *entry)
{
    json_t *last = json_object_get(entry, "last");
    json_t *b = last != NULL ? json_deep_copy(last)
                             : json_pack("{s:O, s:b}", "id",
                                         json_object_get(entry, "num"),
                                         "verified", 1);
    char key[32];
    json_t *st;

    snprintf(key, sizeof(key), "%lld",
             (long long)json_integer_value(json_object_get(entry, "num")));
    st = json_object_get(g->bpstate, key);
    if (json_is_boolean(json_object_get(st, "verified"))) {
        json_object_set(b, "verified", json_object_get(st, "verified"));
        if (json_is_true(json_object_get(st, "verified"))) {
            json_object_del(b, "message");
            json_object_del(b, "reason");
        }
    }
    if (json_is_integer(json_object_get(st, "line")))
        json_object_set(b, "line", json_object_get(st, "line"));
    return b;
}

static int same_str(json_t *a, json_t *b)
{
    return (a == NULL && b == NULL) ||
           (a != NULL && b != NULL && json_equal(a, b));
}

/* Issue the insert command for one requested breakpoint (line or
 * function), or fill the response entry with why it cannot be. */
static void bp_insert(struct greq *r, size_t i, json_t *want,
                      const char *path, const char *fn)
{
    const char *cond = adapter_mi_str(want, "condition");
    const char *hit = adapter_mi_str(want, "hitCondition");
    const char *logm = adapter_mi_str(want, "logMessage");
    long long line = adapter__arg_int(want, "line", 0, INT_MAX, 0);
    long long ignore = 0;
    dap_buf b;
    int rc;

    if (hit != NULL && *hit != '\0' && parse_hit(hit, &ignore) < 0) {
        json_array_set_new(json_object_get(r->x.body, "breakpoints"), i,
                           json_pack("{s:b, s:s}", "verified", 0, "message",
                                     "hitCondition must be a number N "
                                     "(stop from the Nth hit on), \">= N\" "
                                     "or \"> N\""));
        return;
    }
    dap_buf_init(&b, MAX_LINE);
    rc = adapter_mi_build(&b, logm != NULL && fn == NULL
                                  ? "-dprintf-insert -f"
                                  : "-break-insert -f");
    if (rc == 0 && cond != NULL && *cond != '\0')
        rc = adapter_mi_build(&b, " -c %q", cond);
    if (rc == 0 && ignore > 0)
        rc = adapter_mi_build(&b, " -i %l", ignore);
    if (rc == 0 && fn != NULL)
        rc = adapter_mi_build(&b, " --function %q", fn);
    else if (rc == 0)
        rc = adapter_mi_build(&b, " --source %q --line %l", path, line);
    if (rc == 0 && logm != NULL && fn == NULL) {
        rc = dap_buf_append(&b, " ", 1);
        if (rc == 0)
            rc = logpoint_cmd(&b, logm);
    }
    if (rc < 0)
        dap_buf_reset(&b);
    mi_send(r, bp_insert_result, (long)i, 0, &b);
    dap_buf_cleanup(&b);
}

/* Keep breakpoints that did not change, delete the others, insert the new
 * ones: ids stay stable across edits of other lines. */
static void bps_apply(struct greq *r, json_t *old, const char *path,
                      int function)
{
    json_t *wants = json_object_get(r->x.args, "breakpoints");
    json_t *out = json_array();
    json_t *claimed = json_array();
    dap_buf del;
    json_t *want;
    json_t *e;
    size_t i, k;

    json_object_set_new(r->x.body, "breakpoints", out);
    r->tmp = json_array();
    json_array_foreach(old, k, e) json_array_append_new(claimed, json_false());
    json_array_foreach(wants, i, want)
    {
        json_t *entry = json_pack("{s:i, s:O?, s:O?, s:O?, s:O?, s:O?}",
                                  "num", 0, "line",
                                  json_object_get(want, "line"), "name",
                                  json_object_get(want, "name"), "cond",
                                  json_object_get(want, "condition"), "hit",
                                  json_object_get(want, "hitCondition"),
                                  "log", json_object_get(want, "logMessage"));
        int reused = 0;
        json_array_foreach(old, k, e)
        {
            if (json_is_true(json_array_get(claimed, k)) ||
                !same_str(json_object_get(e, "line"),
                          json_object_get(entry, "line")) ||
                !same_str(json_object_get(e, "name"),
                          json_object_get(entry, "name")) ||
                !same_str(json_object_get(e, "cond"),
                          json_object_get(entry, "cond")) ||
                !same_str(json_object_get(e, "hit"),
                          json_object_get(entry, "hit")) ||
                !same_str(json_object_get(e, "log"),
                          json_object_get(entry, "log")) ||
                json_integer_value(json_object_get(e, "num")) <= 0)
                continue;
            json_array_set_new(claimed, k, json_true());
            json_decref(entry);
            entry = json_deep_copy(e);
            json_array_append_new(out, bp_reported(r->g, e));
            reused = 1;
            break;
        }
        json_array_append_new(r->tmp, entry);
        if (!reused)
            json_array_append_new(out, json_null());
    }
    /* Deletions go first: gdb answers in order, and a re-added line must
     * not collide with its old breakpoint. */
    dap_buf_init(&del, 65536);
    bput(&del, "-break-delete", 13);
    json_array_foreach(old, k, e)
    {
        long long num = json_integer_value(json_object_get(e, "num"));
        char key[32];
        if (json_is_true(json_array_get(claimed, k)) || num <= 0)
            continue;
        bnum(&del, num);
        snprintf(key, sizeof(key), "%lld", num);
        json_object_del(r->g->bpstate, key);
    }
    if (del.len > 13)
        mi_send(r, ignore_result, 0, 0, &del);
    dap_buf_cleanup(&del);
    json_array_foreach(wants, i, want)
    {
        if (json_array_get(out, i) == NULL || json_is_null(json_array_get(out, i)))
            bp_insert(r, i, want, path,
                      function ? adapter_mi_str(want, "name") : NULL);
    }
    json_decref(claimed);
}

static void src_bps_finish(struct greq *r)
{
    const char *path = adapter_mi_str(json_object_get(r->x.args, "source"),
                                      "path");
    json_t *keep = json_array();
    json_t *e;
    size_t i;

    json_array_foreach(r->tmp, i, e)
    {
        if (json_integer_value(json_object_get(e, "num")) > 0)
            json_array_append(keep, e);
    }
    if (json_array_size(keep) > 0)
        json_object_set_new(r->g->src_bps, path, keep);
    else {
        json_object_del(r->g->src_bps, path);
        json_decref(keep);
    }
}

/* Breakpoint changes go in while the program runs (non-stop). */
static void req_set_breakpoints(struct greq *r)
{
    const char *path = adapter_mi_str(json_object_get(r->x.args, "source"),
                                      "path");

    if (path == NULL) {
        fail(r, DAP_EINVAL, "setBreakpoints needs source.path");
        return;
    }
    bps_apply(r, json_object_get(r->g->src_bps, path), path, 0);
    r->finish = src_bps_finish;
}

static void fn_bps_finish(struct greq *r)
{
    json_t *keep = json_array();
    json_t *e;
    size_t i;

    json_array_foreach(r->tmp, i, e)
    {
        if (json_integer_value(json_object_get(e, "num")) > 0)
            json_array_append(keep, e);
    }
    json_decref(r->g->fn_bps);
    r->g->fn_bps = keep;
}

static void req_set_function_breakpoints(struct greq *r)
{
    bps_apply(r, r->g->fn_bps, NULL, 1);
    r->finish = fn_bps_finish;
}

/* ---- data breakpoints ---- */

static void req_data_bp_info(struct greq *r)
{
    struct gdb *g = r->g;
    json_t *vref = json_object_get(r->x.args, "variablesReference");
    const char *name = adapter_mi_str(r->x.args, "name");
    const char *expr = name;
    int thread = 0, level = 0;
    char *id = NULL;

    if (vref != NULL && json_integer_value(vref) != 0) {
        struct ref *ref = ref_get(g, vref);
        json_t *kid;
        if (ref == NULL) {
            fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
            return;
        }
        kid = json_object_get(ref->kids, name);
        expr = ref->kind == REF_REGS ? NULL : adapter_mi_str(kid, "e");
        if (kid == NULL && ref->kind != REF_REGS)
            expr = name;
        thread = ref->thread;
        level = ref->level;
        if (ref->kind == REF_VAROBJ || ref->expr == NULL) {
            /* Globals and members of globals need no frame; a local's
             * children do, which the frame of the ref gives. */
        }
    } else if (json_object_get(r->x.args, "frameId") != NULL) {
        if (frame_of(r, json_object_get(r->x.args, "frameId")) < 0)
            return;
        thread = r->thread;
        level = r->level;
    }
    if (expr == NULL) {
        json_object_set_new(r->x.body, "dataId", json_null());
        json_object_set_new(r->x.body, "description",
                            json_string("gdb cannot watch this value (a "
                                        "register or a pretty-printed "
                                        "element)"));
        return;
    }
    if (asprintf(&id, "%d:%d:%s", thread, level, expr) < 0) {
        fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    json_object_set_new(r->x.body, "dataId", json_string(id));
    json_object_set_new(r->x.body, "description", json_string(expr));
    json_object_set_new(r->x.body, "accessTypes",
                        json_pack("[s, s, s]", "write", "read", "readWrite"));
    json_object_set_new(r->x.body, "canPersist", json_false());
    free(id);
}

static void watch_cond_result(struct greq *r, struct adapter_mi_record *rec,
                              long i)
{
    json_t *b = json_array_get(json_object_get(r->x.body, "breakpoints"),
                               (size_t)i);

    if (is_error(rec)) {
        json_object_set_new(b, "message", json_string(rec_msg(rec)));
    }
}

static void watch_result(struct greq *r, struct adapter_mi_record *rec,
                         long i)
{
    json_t *want = json_array_get(json_object_get(r->x.args, "breakpoints"),
                                  (size_t)i);
    json_t *out = json_object_get(r->x.body, "breakpoints");
    const char *cond = adapter_mi_str(want, "condition");
    const char *hit = adapter_mi_str(want, "hitCondition");
    json_t *w;
    long long num;
    long long ignore;
    char key[32];

    if (is_error(rec)) {
        json_array_set_new(out, (size_t)i,
                           json_pack("{s:b, s:s}", "verified", 0, "message",
                                     rec_msg(rec)));
        return;
    }
    w = json_object_get(rec->results, "wpt");
    if (w == NULL)
        w = json_object_get(rec->results, "hw-awpt");
    if (w == NULL)
        w = json_object_get(rec->results, "hw-rwpt");
    num = adapter_mi_int(w, "number", 0);
    json_array_append_new(r->g->data_bps, json_integer(num));
    snprintf(key, sizeof(key), "%lld", num);
    json_object_set_new(r->g->bpstate, key,
                        json_pack("{s:b, s:n}", "verified", 1, "line"));
    json_array_set_new(out, (size_t)i,
                       json_pack("{s:I, s:b, s:s}", "id", (json_int_t)num,
                                 "verified", 1, "description",
                                 adapter_mi_str(w, "exp")
                                     ? adapter_mi_str(w, "exp")
                                     : ""));
    if (cond != NULL && *cond != '\0')
        MI(r, watch_cond_result, i, "-break-condition %l %q", num, cond);
    if (hit != NULL && *hit != '\0' && parse_hit(hit, &ignore) == 0 &&
        ignore > 0)
        MI(r, watch_cond_result, i, "-break-after %l %l", num, ignore);
}

static void set_data_bps_halted(struct greq *r)
{
    struct gdb *g = r->g;
    json_t *wants = json_object_get(r->x.args, "breakpoints");
    json_t *out = json_array();
    json_t *want;
    json_t *n;
    size_t i;
    dap_buf del;

    json_object_set_new(r->x.body, "breakpoints", out);
    dap_buf_init(&del, 65536);
    bput(&del, "-break-delete", 13);
    json_array_foreach(g->data_bps, i, n)
    {
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(n));
        json_object_del(g->bpstate, key);
        bnum(&del, (long long)json_integer_value(n));
    }
    json_array_clear(g->data_bps);
    if (del.len > 13)
        mi_send(r, ignore_result, 0, 0, &del);
    dap_buf_cleanup(&del);
    json_array_foreach(wants, i, want)
    {
        const char *id = adapter_mi_str(want, "dataId");
        const char *access = adapter_mi_str(want, "accessType");
        const char *flag = "";
        int thread = 0, level = 0, used = 0;
        char opts[64] = "";
        json_array_append_new(out, json_pack("{s:b}", "verified", 0));
        if (id == NULL || sscanf(id, "%d:%d:%n", &thread, &level, &used) < 2 ||
            used == 0) {
            json_array_set_new(out, i,
                               json_pack("{s:b, s:s}", "verified", 0,
                                         "message",
                                         "unknown dataId: ask "
                                         "dataBreakpointInfo for one"));
            continue;
        }
        if (access != NULL && strcmp(access, "read") == 0)
            flag = "-r ";
        else if (access != NULL && strcmp(access, "readWrite") == 0)
            flag = "-a ";
        if (thread > 0)
            snprintf(opts, sizeof(opts), "--thread %d --frame %d ", thread,
                     level);
        MI(r, watch_result, (long)i, "-break-watch %s%s%q", opts, flag,
           id + used);
    }
}

static void req_set_data_bps(struct greq *r)
{
    with_halt(r, set_data_bps_halted);
}

/* ---- memory and disassembly ---- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *hex_to_base64(const char *hex, size_t *nbytes)
{
    size_t n = strlen(hex) / 2;
    unsigned char *bytes = malloc(n + 1);
    char *out = malloc(((n + 2) / 3) * 4 + 1);
    size_t o = 0;
    json_t *j;

    if (bytes == NULL || out == NULL) {
        free(bytes);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            v = 0;
        bytes[i] = (unsigned char)v;
    }
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)bytes[i + 1] << 8;
        if (i + 2 < n)
            v |= bytes[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    j = json_string(out);
    free(bytes);
    free(out);
    *nbytes = n;
    return j;
}

static void memory_result(struct greq *r, struct adapter_mi_record *rec,
                          long count)
{
    json_t *blk = json_array_get(json_object_get(rec->results, "memory"), 0);
    const char *contents = adapter_mi_str(blk, "contents");
    size_t n = 0;
    json_t *data;

    if (is_error(rec) || contents == NULL) {
        json_object_set_new(r->x.body, "unreadableBytes", json_integer(count));
        return;
    }
    json_object_set_new(r->x.body, "address",
                        json_string(adapter_mi_str(blk, "begin")));
    data = hex_to_base64(contents, &n);
    if (data != NULL)
        json_object_set_new(r->x.body, "data", data);
    if ((long)n < count)
        json_object_set_new(r->x.body, "unreadableBytes",
                            json_integer(count - (long)n));
}

static void req_read_memory(struct greq *r)
{
    const char *mref = adapter_mi_str(r->x.args, "memoryReference");
    long long off = adapter__arg_int(r->x.args, "offset", -MAX_INDEX * MAX_INDEX,
                                     MAX_INDEX * MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "count", 0, 4 << 20, 0);

    if (mref == NULL) {
        fail(r, DAP_EINVAL, "readMemory needs memoryReference");
        return;
    }
    json_object_set_new(r->x.body, "address", json_string(mref));
    if (count == 0)
        return;
    MI(r, memory_result, (long)count, "-data-read-memory-bytes -o %l %q %l",
       off, mref, count);
}

/* Instructions of a -data-disassemble answer (mode 5: grouped by source
 * line) appended to `out` as DAP DisassembledInstructions. */
static void insns_append(json_t *out, json_t *res)
{
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(res, "asm_insns"), i, e)
    {
        json_t *group = json_object_get(e, "line_asm_insn");
        json_t *src = source_of(e);
        long long line = adapter_mi_int(e, "line", 0);
        json_t *one = json_pack("[O]", e);
        json_t *in;
        size_t k;
        if (group == NULL)
            group = one;
        json_array_foreach(group, k, in)
        {
            const char *fn = adapter_mi_str(in, "func-name");
            json_t *d = json_pack("{s:s, s:s}", "address",
                                  adapter_mi_str(in, "address")
                                      ? adapter_mi_str(in, "address")
                                      : "0x0",
                                  "instruction",
                                  adapter_mi_str(in, "inst")
                                      ? adapter_mi_str(in, "inst")
                                      : "");
            if (adapter_mi_str(in, "opcodes") != NULL)
                json_object_set_new(d, "instructionBytes",
                                    json_string(adapter_mi_str(in,
                                                               "opcodes")));
            if (fn != NULL) {
                char sym[300];
                snprintf(sym, sizeof(sym), "%s+%s", fn,
                         adapter_mi_str(in, "offset")
                             ? adapter_mi_str(in, "offset")
                             : "0");
                json_object_set_new(d, "symbol", json_string(sym));
            }
            if (src != NULL && line > 0) {
                json_object_set_new(d, "location", json_deep_copy(src));
                json_object_set_new(d, "line", json_integer(line));
            }
            json_array_append_new(out, d);
        }
        json_decref(one);
        json_decref(src);
    }
}

static void disasm_before_result(struct greq *r,
                                 struct adapter_mi_record *rec, long arg)
{
    (void)arg;
    if (!is_error(rec))
        insns_append(json_array_get(r->tmp, 0), rec->results);
}

static void disasm_after_result(struct greq *r, struct adapter_mi_record *rec,
                                long arg)
{
    (void)arg;
    if (ok(r, rec))
        insns_append(json_array_get(r->tmp, 1), rec->results);
}

static unsigned long long addr_of(json_t *insn)
{
    return strtoull(adapter_mi_str(insn, "address") ?: "0", NULL, 0);
}

static void disasm_finish(struct greq *r)
{
    unsigned long long addr0 = (unsigned long long)r->n1;
    long long ioff = adapter__arg_int(r->x.args, "instructionOffset", -MAX_INDEX,
                                      MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "instructionCount", 0,
                                       MAX_INSNS, 0);
    json_t *all = json_array();
    json_t *out = json_array();
    json_t *e;
    size_t i, idx0;

    json_array_foreach(json_array_get(r->tmp, 0), i, e)
    {
        if (addr_of(e) < addr0)
            json_array_append(all, e);
    }
    idx0 = json_array_size(all);
    json_array_foreach(json_array_get(r->tmp, 1), i, e)
        json_array_append(all, e);
    for (long long k = 0; k < count; k++) {
        long long j = (long long)idx0 + ioff + k;
        if (j >= 0 && (size_t)j < json_array_size(all)) {
            json_array_append(out, json_array_get(all, (size_t)j));
        } else {
            char a[32];
            snprintf(a, sizeof(a), "0x%llx",
                     (unsigned long long)((long long)addr0 + j -
                                          (long long)idx0));
            json_array_append_new(out,
                                  json_pack("{s:s, s:s, s:s}", "address", a,
                                            "instruction", "??",
                                            "presentationHint", "invalid"));
        }
    }
    json_decref(all);
    json_object_set_new(r->x.body, "instructions", out);
}

static void req_disassemble(struct greq *r)
{
    const char *mref = adapter_mi_str(r->x.args, "memoryReference");
    long long off = adapter__arg_int(r->x.args, "offset", -MAX_INDEX * MAX_INDEX,
                                     MAX_INDEX * MAX_INDEX, 0);
    long long ioff = adapter__arg_int(r->x.args, "instructionOffset", -MAX_INDEX,
                                      MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "instructionCount", 0,
                                       MAX_INSNS, 0);
    unsigned long long addr0;
    long long after;
    char a0[32], a1[32];

    if (mref == NULL || count <= 0) {
        fail(r, DAP_EINVAL,
             "disassemble needs memoryReference and instructionCount");
        return;
    }
    addr0 = strtoull(mref, NULL, 0) + (unsigned long long)off;
    r->n1 = (long long)addr0;
    r->tmp = json_pack("[[], []]");
    after = ioff + count;
    snprintf(a0, sizeof(a0), "0x%llx", addr0);
    snprintf(a1, sizeof(a1), "0x%llx",
             addr0 + (unsigned long long)(after > 0 ? after : 1) * 16);
    if (ioff < 0) /* earlier instructions: the function around addr0 */
        MI(r, disasm_before_result, 0, "-data-disassemble -a %s -- 5", a0);
    if (after > 0)
        MI(r, disasm_after_result, 0, "-data-disassemble -s %s -e %s -- 5",
           a0, a1);
    r->finish = disasm_finish;
}

/* ---- exceptionInfo ---- */

static void req_exception_info(struct greq *r)
{
    json_t *exc = r->g->exc;

    if (exc == NULL) {
        fail(r, DAP_ESTATE, "the thread did not stop for a signal");
        return;
    }
    json_object_set_new(r->x.body, "exceptionId",
                        json_incref(json_object_get(exc, "name")));
    json_object_set_new(r->x.body, "description",
                        json_incref(json_object_get(exc, "meaning")));
    json_object_set_new(r->x.body, "breakMode", json_string("always"));
}

static void req_set_exception_bps(struct greq *r)
{
    /* gdb stops for signals by its own table (`handle`); nothing to set. */
    (void)r;
}

/* ---- the table ---- */

static const struct {
    const char *command;
    req_fn *fn;
} reqs[] = {
    {"configurationDone", req_configuration_done},
    {"continue", req_resume},
    {"dataBreakpointInfo", req_data_bp_info},
    {"disassemble", req_disassemble},
    {"evaluate", req_evaluate},
    {"exceptionInfo", req_exception_info},
    {"next", req_resume},
    {"pause", req_pause},
    {"readMemory", req_read_memory},
    {"scopes", req_scopes},
    {"setBreakpoints", req_set_breakpoints},
    {"setDataBreakpoints", req_set_data_bps},
    {"setExceptionBreakpoints", req_set_exception_bps},
    {"setFunctionBreakpoints", req_set_function_breakpoints},
    {"setVariable", req_set_variable},
    {"stackTrace", req_stack_trace},
    {"stepIn", req_resume},
    {"stepOut", req_resume},
    {"threads", req_threads},
    {"variables", req_variables},
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
    r = req_new(g, command, args);
    if (r == NULL)
        return DAP_ENOMEM;
    r->x.cb = cb;
    r->x.data = data;
    if (fn == NULL)
        fail(r, DAP_EUNSUPPORTED, "the gdb backend does not support '%s'",
             command);
    else
        fn(r);
    req_maybe_done(r);
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
    struct greq *r = req_new(g, "(stop)", NULL);

    if (r == NULL)
        return;
    if (!g->exited) {
        MI(r, ignore_result, 0, "-break-delete");
        if (g->stop_mode == ADAPTER_TERMINATE)
            MI(r, ignore_result, 0, "-interpreter-exec console \"kill\"");
        else
            MI(r, ignore_result, 0, "-target-detach");
    }
    MI(r, ignore_result, 0, "-gdb-exit");
    req_maybe_done(r);
}

/* The target halted (or will not): finish the detach. */
static void stop_continue(struct gdb *g)
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
    stop_continue(g);
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
        halt_done(g);
    }
    if (g->running && !g->exited) {
        r = req_new(g, "(interrupt)", NULL);
        if (r != NULL) {
            MI(r, ignore_result, 0, "-exec-interrupt --all");
            req_maybe_done(r);
        }
        uv_timer_start(&g->timer, stop_pause_timeout, HALT_WAIT_MS, 0);
        return;
    }
    stop_continue(g);
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
    .new_fn = gdb_new,
    .start_fn = gdb_start,
    .request_fn = gdb_request,
    .stop_fn = gdb_stop,
    .free_fn = gdb_free,
};
