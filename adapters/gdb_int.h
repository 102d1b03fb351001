/* gdb_int.h - what the files of the gdb backend share; nothing else
 * includes it.  The backend is one runtime in five files split by DAP area:
 * gdb.c (helpers, requests and their MI commands, the gdb process, the
 * request table, detach, free), gdb_start.c (configuration and the attach
 * sequence), gdb_run.c (the all-stop world over non-stop gdb, gdb's
 * events, threads, continue/step/pause, exceptionInfo), gdb_vars.c
 * (frames, stackTrace, scopes, variables, evaluate, setVariable, memory,
    * disassembly), gdb_bp.c (breakpoints of every kind).  Each file defines
 * _GNU_SOURCE before including it.  See gdb.c for the design. */
#ifndef KDAP_GDB_INT_H
#define KDAP_GDB_INT_H

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

/* mi(r, fn, arg, fmt, ...): build with adapter_mi_build's directives. */
#define MI(r, fn, arg, ...)                                                    \
    do {                                                                       \
        dap_buf b_;                                                            \
        dap_buf_init(&b_, MAX_LINE);                                           \
        if (adapter_mi_build(&b_, __VA_ARGS__) < 0)                            \
            dap_buf_reset(&b_);                                                \
        gdb__mi_send((r), (fn), (arg), 0, &b_);                                     \
        dap_buf_cleanup(&b_);                                                  \
    } while (0)

/* ---- shared between the files (gdb__: this backend's own) -------------- */

void gdb__bnum(dap_buf *b, long long v);
json_t *gdb__bp_from_mi(json_t *bkpt);
int gdb__bp_note(struct gdb *g, json_t *b);
void gdb__bput(dap_buf *b, const void *p, size_t n);
void gdb__check_result(struct greq *r, struct adapter_mi_record *rec,
                       long arg);
char *gdb__child_expr(const char *pexpr, const char *ptype, const char *exp);
void gdb__cmd_complete(struct gdb *g, struct mi_cmd *c,
                       struct adapter_mi_record *rec, int code,
                       const char *why);
void gdb__complete_cb(struct adapter_xreq *x);
void gdb__ev(struct gdb *g, const char *event, json_t *body_new);
void gdb__fail(struct greq *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
int gdb__frame_of(struct greq *r, json_t *v);
int gdb__new(adapter *a, json_t *cfg, struct dap_error *err);
int gdb__start(adapter *a);
void gdb__halt_done(struct gdb *g);
void gdb__ignore_result(struct greq *r, struct adapter_mi_record *rec,
                        long arg);
int gdb__is_array_type(const char *type);
int gdb__is_error(struct adapter_mi_record *rec);
int gdb__is_pointer_type(const char *type);
json_t *gdb__memref_of(const char *type, const char *value);
void gdb__mi_send(struct greq *r, mi_done_fn *fn, long arg, int capture,
                  dap_buf *cmd);
int gdb__ok(struct greq *r, struct adapter_mi_record *rec);
void gdb__on_err_line(void *data, const char *line, size_t len);
void gdb__on_line(void *data, const char *line, size_t len);
void gdb__output(struct gdb *g, const char *category, const char *text);
const char *gdb__rec_msg(struct adapter_mi_record *rec);
void gdb__ref_free(void *item);
struct ref *gdb__ref_get(struct gdb *g, json_t *v);
void gdb__refs_clear(struct gdb *g);
void gdb__req_configuration_done(struct greq *r);
void gdb__req_data_bp_info(struct greq *r);
void gdb__req_disassemble(struct greq *r);
void gdb__req_evaluate(struct greq *r);
void gdb__req_exception_info(struct greq *r);
void gdb__req_maybe_done(struct greq *r);
struct greq *gdb__req_new(struct gdb *g, const char *command, json_t *args);
void gdb__req_pause(struct greq *r);
void gdb__req_read_memory(struct greq *r);
void gdb__req_resume(struct greq *r);
void gdb__req_scopes(struct greq *r);
void gdb__req_set_breakpoints(struct greq *r);
void gdb__req_set_data_bps(struct greq *r);
void gdb__req_set_exception_bps(struct greq *r);
void gdb__req_set_function_breakpoints(struct greq *r);
void gdb__req_set_variable(struct greq *r);
void gdb__req_stack_trace(struct greq *r);
void gdb__req_threads(struct greq *r);
void gdb__req_variables(struct greq *r);
void gdb__settle_wait(struct greq *r, struct adapter_mi_record *rec,
                      long arg);
int gdb__signo_of(const char *name);
json_t *gdb__source_of(json_t *frame);
int gdb__spawn_gdb(struct gdb *g, struct dap_error *err);
void gdb__start_settled(struct gdb *g);
void gdb__stop_continue(struct gdb *g);
void gdb__with_halt(struct greq *r, req_fn *fn);
char *gdb__xstrdup(const char *s);

#endif
