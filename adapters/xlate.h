/* xlate.h - the kit of the translating backends (node: CDP, gdb: MI).
 *
 * delve speaks DAP; node's inspector and gdb do not, so their backends
 * translate, and each needs the same few pieces.  They are written here
 * once:
 *
 * - A request being answered (struct adapter_xreq, embedded first in the
 *   backend's own request): the command, its arguments, the body being
 *   built and the first failure (a DAP_E* code and its text).  A backend
 *   never builds a response envelope: adapter_xreq_reply() reports
 *   (status, body, error) through the adapter_response_cb, and the
 *   session's dispatcher (dap/msg) builds the one envelope.  So what the
 *   backend knew (not stopped, a stale reference, the debugger's own
 *   message) reaches the editor as distinct error ids.
 *
 * - The defer queue (struct adapter_xlate, embedded in the backend): a
 *   request completes from the loop, never inside the call that started it
 * (no re-entrant callbacks).  adapter_xreq_defer() queues it; one zero timer
 *   drains the queue in order and hands each request back to the backend's
 *   complete_fn (which may send more debugger commands or reply and free).
 *
 * - The stop-scoped reference table (struct adapter_xrefs): variable
 *   references valid while the program stays stopped, as delve's per-stop
 *   handle tables.  Clearing it on every stop and resume moves its base on,
 *   so a reference handed out before fails as stale rather than naming
 *   something else.
 *
 * - The breakpoint parsers every runtime shares: hitCondition ("N", "==N",
 *   ">=N", ">N", "<N", "<=N", "%N") and logMessage ("x is {x}", where "{{"
 *   and "}}" are literal braces).  Pure, no I/O; fuzzed (fuzz_xlate).
 */
#ifndef KDAP_ADAPTER_XLATE_H
#define KDAP_ADAPTER_XLATE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../dap/buf.h"
#include "../dap/err.h"
#include "adapter.h"

/* ---- requests and the defer queue ---------------------------------------- */

struct adapter_xlate;

struct adapter_xreq {
    struct adapter_xreq *next_done; /* in the defer queue */
    struct adapter_xlate *x;
    char *command;
    json_t *args;      /* owned, never NULL */
    json_t *body;      /* owned: the answer being built, or NULL */
    adapter_response_cb *cb; /* NULL for a backend's internal request */
    void *data;
    int status;        /* 0, or the DAP_E* code of the first failure */
    char msg[512];     /* its text */
    int queued;        /* in the defer queue */
};

/* Runs from the loop for each deferred request, in the order deferred. */
typedef void adapter_xlate_complete_fn(struct adapter_xreq *r);
/* Runs from the loop after the queue drained (may be NULL). */
typedef void adapter_xlate_drained_fn(struct adapter_xlate *x);

/* Caller-embedded: the backend's defer queue and its timer. */
struct adapter_xlate {
    uv_timer_t timer; /* zero timeout; closed by the backend (handle()) */
    struct adapter_xreq *head, *tail;
    adapter_xlate_complete_fn *complete_fn;
    adapter_xlate_drained_fn *drained_fn;
    void *data;        /* the backend's */
    int open;          /* the timer is initialised and not closing */
};

/* Initialise `x` on `loop` (it cannot fail: libuv only fills the timer
 * in); the backend closes adapter_xlate_handle(x) with its other handles
 * (and calls adapter_xlate_cleanup first). */
void adapter_xlate_init(struct adapter_xlate *x, uv_loop_t *loop,
                        adapter_xlate_complete_fn *complete_fn,
                        adapter_xlate_drained_fn *drained_fn, void *data);
uv_handle_t *adapter_xlate_handle(struct adapter_xlate *x);
/* Stop deferring (the timer is about to be closed): queued requests stay
 * queued; adapter_xlate_drain() still delivers them. */
void adapter_xlate_cleanup(struct adapter_xlate *x);
/* Run the queue now (from the loop, or while freeing). */
void adapter_xlate_drain(struct adapter_xlate *x);
/* Run drained_fn from the loop soon, even with nothing queued. */
void adapter_xlate_kick(struct adapter_xlate *x);

/* Fill a backend's request: copies `command`, takes a reference on `args`
 * (an empty object when NULL).  `cb` NULL makes an internal request.
 * Returns 0 or DAP_ENOMEM. */
int adapter_xreq_init(struct adapter_xreq *r, struct adapter_xlate *x,
                      const char *command, json_t *args,
                      adapter_response_cb *cb, void *data) DAP_WUR;
void adapter_xreq_cleanup(struct adapter_xreq *r);
/* Record a failure; the first one is the one reported (later ones are
 * consequences).  Returns `code`. */
int adapter_xreq_fail(struct adapter_xreq *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
/* Complete from the loop: complete_fn(r) runs soon.  Queued once. */
void adapter_xreq_defer(struct adapter_xreq *r);
/* Report the outcome to the requester now: (0, body) or (status, error).
 * Call it from complete_fn (from the loop).  No-op for internal ones. */
void adapter_xreq_reply(struct adapter_xreq *r);

/* ---- stop-scoped references ---------------------------------------------- */

/* Caller-embedded.  Entries are the backend's own objects, freed through
 * free_fn when the table is cleared. */
struct adapter_xrefs {
    void **items;
    size_t n, cap;
    int64_t base;             /* references are base+1 .. base+n */
    void (*free_fn)(void *item);
};

void adapter_xrefs_init(struct adapter_xrefs *t, void (*free_fn)(void *));
void adapter_xrefs_cleanup(struct adapter_xrefs *t);
/* Add `item` (owned from now, also on failure); returns its reference, or
 * 0 when out of memory (the item is freed then). */
int64_t adapter_xrefs_add(struct adapter_xrefs *t, void *item);
/* The item of `ref`, or NULL when unknown or from before the last clear. */
void *adapter_xrefs_get(const struct adapter_xrefs *t, int64_t ref);
/* Forget every reference (on a stop or resume): they fail from now on. */
void adapter_xrefs_clear(struct adapter_xrefs *t);

/* ---- events -------------------------------------------------------------- */

/* The bodies of the events translators send (new references, NULL only when
 * out of memory).  Both runtimes show the editor an all-stop program, so
 * stopped and continued name every thread. */
json_t *adapter_xlate_output_new(const char *category, const char *text);
/* `description` may be NULL. */
json_t *adapter_xlate_stopped_new(const char *reason, int64_t thread_id,
                                  const char *description);
json_t *adapter_xlate_continued_new(int64_t thread_id);
/* A "changed" breakpoint event; `bp_new` stolen. */
json_t *adapter_xlate_bp_changed_new(json_t *bp_new);

/* ---- breakpoint parsers -------------------------------------------------- */

/* A parsed hitCondition: stop on hit number `count` (1-based) when
 * `count OP n`, OP one of '=' (==), 'g' (>=), '>', 'l' (<=), '<', '%'
 * (every nth). */
struct adapter_hit {
    char op;
    long n;
};

/* Parse "N", "==N" (any number of '='), ">=N", ">N", "<=N", "<N", "%N",
 * spaces allowed around.  Returns 0, or -1 when it is none of these (N
 * must be a non-negative integer, and not 0 after '%'). */
int adapter_xlate_hit_parse(const char *s, struct adapter_hit *h);
/* Whether hit number `count` satisfies `h`. */
int adapter_xlate_hit_match(const struct adapter_hit *h, long count);

/* One piece of a logMessage: literal text, or an expression to
 * interpolate.  The text is not NUL-terminated. */
typedef int adapter_xlate_log_fn(void *data, int is_expr, const char *text,
                                 size_t len);
/* Split a logMessage into pieces, in order: "{expr}" is an expression
 * (braces nest inside it: "{f({a:1})}"; one left open runs to the end),
 * "{{" and "}}" are a literal "{" and "}"; "{}", a "{" at the very end and
 * a lone "}" are literal.  Stops at the
 * first non-zero return of `fn` and returns it; else 0. */
int adapter_xlate_log_parse(const char *msg, adapter_xlate_log_fn *fn,
                            void *data);

#endif
