/* node_int.h - what the files of the Node.js backend share; nothing else
 * includes it.  The backend is one runtime in four files split by DAP area:
 * node.c (the inspector connection, CDP calls, requests in and answers out,
           * start, stop), node_src.c (scripts and source maps, loadedSources,
           * source), node_bp.c (breakpoints of every kind, exception filters),
 * node_vars.c (the pause: stackTrace, scopes, variables, evaluate,
                * setVariable, exceptionInfo).  See node.c for the design. */
#ifndef KDAP_NODE_INT_H
#define KDAP_NODE_INT_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/log.h"
#include "adapter_int.h"
#include "cdp.h"
#include "srcmap.h"
#include "xlate.h"

#define GET_TIMEOUT_MS 5000
#define WS_TIMEOUT_MS 5000
#define THREAD_ID 1
#define ASYNC_FRAME_BASE 100000
#define MAX_ASYNC_FRAMES 64
#define BP_SLACK_LINES 20
#define OBJECT_GROUP "kdap"
#define REQUEST_TIMEOUT_MS 30000

enum node_state {
    N_NEW,
    N_LISTING,    /* GET /json/list */
    N_CONNECTING, /* WebSocket handshake */
    N_ENABLING,   /* Runtime.enable, Debugger.enable, source maps */
    N_READY,
    N_STOPPING,
    N_CLOSED,
};

struct node;
typedef void cdp_cb(struct node *n, void *data, json_t *result,
                    const char *error);

struct call {
    struct call *next;
    int64_t id;
    cdp_cb *cb;
    void *data;
    uint64_t deadline; /* loop time it fails at */
    char method[48];   /* for the message then */
};

struct script {
    char *id;
    char *url;
    char *path;  /* local file path, or NULL */
    int64_t ref; /* sourceReference */
    adapter_srcmap *map;
    int internal; /* node: internals */
};

struct bp {
    int64_t id; /* DAP id, ours */
    char *path; /* source path as given (remote) */
    int line;   /* requested, 1-based */
    int column; /* requested, 1-based or 0 */
    char *condition, *hit, *log;
    struct adapter_hit hit_cond; /* `hit` parsed */
    long hits;
    char *cdp_id; /* Debugger breakpointId, once set */
    int verified;
    int actual_line; /* 1-based, in `path` */
    int mapped;      /* set through a source map */
    int pending;     /* waits for its source map */
    int function;    /* a function breakpoint */
    char *name;      /* function breakpoints */
    char *message;   /* why it is not verified, if known */
};

enum ref_kind {
    REF_OBJECT,
    REF_SCOPE,
    REF_GETTER,
};

struct varref {
    enum ref_kind kind;
    char *object_id;
    int frame, scope;
    char *name; /* REF_GETTER: property to read */
};

/* A DAP request being answered. */
struct dreq {
    struct adapter_xreq x; /* first: command, args, body, failure */
    struct node *n;
    int pending; /* CDP calls outstanding */
    json_t *items; /* setBreakpoints: bp pointers kept in order */
    void (*finish)(struct dreq *r);
};

struct node {
    adapter *a;
    enum node_state state;
    char host[256];
    int port;
    char *host_header; /* Host: for the inspector, IP literal */
    char *title;
    /* The WebSocket to the inspector: only node.c touches it (the one
     * seam to the transport). */
    struct net_get *get;
    struct adapter_privsock *get_sock; /* the GET's way into the tunnel */
    struct net_ws *ws;
    int64_t next_id;
    struct call *calls;
    json_t *overrides; /* sourceMapPathOverrides */
    int source_maps;
    /* scripts */
    struct script **scripts;
    size_t nscripts;
    json_t *script_index; /* scriptId -> index */
    int maps_loading;
    /* breakpoints */
    struct bp **bps;
    size_t nbps;
    int64_t next_bp;
    /* pause */
    json_t *paused;    /* Debugger.paused params, or NULL */
    const char *hint;  /* "step", "pause" */
    int stopped_shown; /* a stopped event went out */
    int resume_requested;
    json_t *exception; /* RemoteObject of the exception, or NULL */
    char *exception_mode;
    struct adapter_xrefs refs; /* variablesReference -> struct varref */
    /* requests */
    struct adapter_xlate xl; /* answers go out from the loop */
    uv_timer_t deadline;
    uv_timer_t calltimer; /* the earliest call deadline */
    unsigned req_timeout_ms; /* "requestTimeout" */
    int handles;
    int stop_mode;
    int closed_reported;
    int report_closed_later;
    struct dap_error close_err;
    int close_status;
    int enabled_ok;
    int exiting; /* the debuggee is exiting */
    int close_inspector; /* "closeInspector": end the inspector on detach */
    /* While a CDP callback runs with an error: why the call failed
     * (DAP_ETIMEDOUT, DAP_ECLOSED; 0: the inspector's own error). */
    int call_status;
};

/* ---- shared between the files (node__: this backend's own) ------------- */

struct bp *node__bp_by_cdp(struct node *n, const char *cdp_id);
struct bp *node__bp_by_id(struct node *n, int64_t id);
void node__bp_event(struct node *n, struct bp *b);
void node__bp_free(struct bp *b);
void node__bp_remove_cdp(struct node *n, struct bp *b);
int node__cdp(struct node *n, const char *method, json_t *params_new,
              cdp_cb *cb, void *data);
void node__clear_pause(struct node *n);
/* The error code for a CDP callback's `error` (see call_status). */
int node__call_status(struct node *n);
void node__dreq_fail(struct dreq *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);
void node__dreq_ok(struct dreq *r, json_t *body_new);
void node__emit(struct node *n, const char *event, json_t *body_new);
json_t *node__locate(struct node *n, const char *script_id, int *line,
                     int *col);
void node__maybe_ready(struct node *n);
void node__on_paused(struct node *n, json_t *p);
void node__on_plain(struct node *n, void *data, json_t *result,
                    const char *error);
void node__on_resumed(struct node *n);
void node__on_script_parsed(struct node *n, json_t *p);
void node__rcall(struct dreq *r, const char *method, json_t *params_new,
                 cdp_cb *cb);
void node__req_evaluate(struct dreq *r);
void node__req_exception_info(struct dreq *r);
void node__req_loaded_sources(struct dreq *r);
void node__req_scopes(struct dreq *r);
void node__req_set_breakpoints(struct dreq *r);
void node__req_set_exceptions(struct dreq *r);
void node__req_set_function_breakpoints(struct dreq *r);
void node__req_set_variable(struct dreq *r);
void node__req_source(struct dreq *r);
void node__req_stack_trace(struct dreq *r);
void node__req_variables(struct dreq *r);
void node__retry_pending_bps(struct node *n);
struct script *node__script_by_id(struct node *n, const char *id);
void node__varref_free(void *item);

#endif
