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
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/log.h"
#include "../kube/ws.h"
#include "../kube/wsc.h"
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
    kube_ws_get *get;
    kube_wsc *ws;
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
};

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

static void dreq_ok(struct dreq *r, json_t *body_new)
{
    json_decref(r->x.body);
    r->x.body = body_new;
    adapter_xreq_defer(&r->x);
}

static void dreq_fail(struct dreq *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);

static void dreq_fail(struct dreq *r, int code, const char *fmt, ...)
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
static int cdp(struct node *n, const char *method, json_t *params_new,
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
    rc = kube_wsc_send(n->ws, text, strlen(text), 0);
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
        c->cb(n, c->data, NULL, why);
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
        c->cb(n, c->data, NULL, why);
        free(c);
    }
}

/* A CDP call for a request: counts as pending on r; a failed send fails
 * the call at once. */
static void rcall(struct dreq *r, const char *method, json_t *params_new,
                  cdp_cb *cb)
{
    r->pending++;
    if (cdp(r->n, method, params_new, cb, r) < 0)
        cb(r->n, r, NULL, "the inspector connection is closed");
}

/* ---- scripts ----------------------------------------------------------- */

static struct script *script_by_id(struct node *n, const char *id)
{
    json_t *ix = json_object_get(n->script_index, id ? id : "");

    if (!json_is_integer(ix))
        return NULL;
    return n->scripts[json_integer_value(ix)];
}

static struct script *script_by_ref(struct node *n, int64_t ref)
{
    if (ref <= 0 || (size_t)ref > n->nscripts)
        return NULL;
    return n->scripts[ref - 1];
}

/* A DAP Source for a script position; line and column in and out (CDP 0-based
 * in, DAP 1-based out), mapped through the source map if any. */
static json_t *locate(struct node *n, const char *script_id, int *line,
                      int *col)
{
    struct script *s = script_by_id(n, script_id);
    json_t *src;

    if (s == NULL) {
        (*line)++;
        (*col)++;
        return json_pack("{s:s}", "name", "unknown");
    }
    if (s->map != NULL) {
        int si, ol, oc;
        if (adapter_srcmap_original(s->map, *line, *col, &si, &ol, &oc) == 0) {
            const char *p = adapter_srcmap_source(s->map, (size_t)si);
            *line = ol + 1;
            *col = oc + 1;
            if (p != NULL && p[0] == '/')
                return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(p),
                                 "path", p);
        } else {
            (*line)++;
            (*col)++;
        }
    } else {
        (*line)++;
        (*col)++;
    }
    if (s->path != NULL)
        return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(s->path),
                         "path", s->path);
    src = json_pack("{s:s, s:I}", "name", s->url[0] ? s->url : "eval",
                    "sourceReference", (json_int_t)s->ref);
    if (s->internal)
        json_object_set_new(src, "presentationHint",
                            json_string("deemphasize"));
    return src;
}

static json_t *script_source(struct script *s)
{
    if (s->path != NULL)
        return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(s->path),
                         "path", s->path);
    return json_pack("{s:s, s:I}", "name", s->url, "sourceReference",
                     (json_int_t)s->ref);
}

/* Apply sourceMapPathOverrides ("PREFIX*SUFFIX" -> "TO*") to every
 * source of a map. */
static void apply_overrides(struct node *n, adapter_srcmap *m)
{
    const char *pat;
    json_t *to;

    if (n->overrides == NULL)
        return;
    for (size_t i = 0; i < adapter_srcmap_source_count(m); i++) {
        const char *src = adapter_srcmap_source(m, i);
        json_object_foreach(n->overrides, pat, to)
        {
            const char *star = strchr(pat, '*');
            const char *t = json_string_value(to);
            size_t pl, sl, len = strlen(src);
            char *out;
            if (t == NULL)
                continue;
            if (star == NULL) {
                if (strcmp(pat, src) == 0)
                    (void)adapter_srcmap_set_source(m, i, t);
                continue;
            }
            pl = (size_t)(star - pat);
            sl = strlen(star + 1);
            if (len < pl + sl || strncmp(src, pat, pl) != 0 ||
                strcmp(src + len - sl, star + 1) != 0)
                continue;
            out = malloc(strlen(t) + len + 1);
            if (out == NULL)
                continue;
            {
                const char *ts = strchr(t, '*');
                if (ts == NULL)
                    snprintf(out, strlen(t) + len + 1, "%s", t);
                else
                    snprintf(out, strlen(t) + len + 1, "%.*s%.*s%s",
                             (int)(ts - t), t, (int)(len - pl - sl), src + pl,
                             ts + 1);
            }
            (void)adapter_srcmap_set_source(m, i, out);
            free(out);
            break;
        }
    }
}

static void retry_pending_bps(struct node *n);
static void maybe_ready(struct node *n);

/* Emit an event; `body_new` is stolen. */
static void emit(struct node *n, const char *event, json_t *body_new)
{
    adapter__event(n->a, event, body_new);
    json_decref(body_new);
}

static void install_map(struct node *n, struct script *s, const char *json,
                        size_t len, const char *map_path)
{
    struct dap_error err;

    if (adapter_srcmap_parse(json, len, map_path, &s->map, &err) < 0) {
        DAP_LOGW("node: source map of %s: %s", s->url, err.msg);
        return;
    }
    apply_overrides(n, s->map);
    DAP_LOGI("node: source map for %s (%zu sources)", s->url,
             adapter_srcmap_source_count(s->map));
    retry_pending_bps(n);
}

struct mapload {
    struct node *n;
    size_t script; /* index */
    char *map_path;
};

static void on_map_read(struct node *n, void *data, json_t *result,
                        const char *error)
{
    struct mapload *ml = data;
    json_t *ro = json_object_get(result, "result");
    const char *text = json_string_value(json_object_get(ro, "value"));

    n->maps_loading--;
    if (error == NULL && text != NULL &&
        json_object_get(result, "exceptionDetails") == NULL &&
        ml->script < n->nscripts)
        install_map(n, n->scripts[ml->script], text, strlen(text),
                    ml->map_path);
    else if (error == NULL)
        DAP_LOGW("node: cannot read source map %s", ml->map_path);
    free(ml->map_path);
    free(ml);
    maybe_ready(n);
}

/* Load the source map of script `ix`: inline data: URLs here, files
 * through the debuggee itself (fs.readFileSync), which also works when the
 * files are only inside a container. */
static void load_map(struct node *n, size_t ix, const char *map_url)
{
    struct script *s = n->scripts[ix];
    struct mapload *ml;
    char *json = NULL;
    size_t len = 0;
    char *map_path;
    json_t *q;
    char *expr;
    char *qs;

    if (strncmp(map_url, "data:", 5) == 0) {
        if (adapter_srcmap_data_url(map_url, &json, &len) == 0)
            install_map(n, s, json, len, s->path);
        free(json);
        return;
    }
    if (s->path == NULL)
        return;
    if (strncmp(map_url, "file://", 7) == 0) {
        map_path = adapter_cdp_url_to_path(map_url);
    } else if (strstr(map_url, "://") != NULL) {
        return;
    } else {
        map_path = adapter_cdp_path_resolve(s->path, map_url);
    }
    if (map_path == NULL)
        return;
    q = json_string(map_path);
    qs = json_dumps(q, JSON_ENCODE_ANY);
    json_decref(q);
    expr = malloc(strlen(qs ? qs : "") * 2 + 300);
    ml = calloc(1, sizeof(*ml));
    if (qs == NULL || expr == NULL || ml == NULL) {
        free(qs);
        free(expr);
        free(ml);
        free(map_path);
        return;
    }
    sprintf(expr,
            "(() => { let r; try { r = require; } catch (e) { r = "
            "process.mainModule.require; } return r('fs').readFileSync(%s, "
            "'utf8'); })()",
            qs);
    free(qs);
    ml->n = n;
    ml->script = ix;
    ml->map_path = map_path;
    n->maps_loading++;
    if (cdp(n, "Runtime.evaluate",
            json_pack("{s:s, s:b, s:b, s:b}", "expression", expr,
                      "includeCommandLineAPI", 1, "silent", 1, "returnByValue",
                      1),
            on_map_read, ml) < 0) {
        n->maps_loading--;
        free(ml->map_path);
        free(ml);
    }
    free(expr);
}

static void on_script_parsed(struct node *n, json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "scriptId"));
    const char *url = json_string_value(json_object_get(p, "url"));
    const char *map_url = json_string_value(json_object_get(p, "sourceMapURL"));
    struct script *s;
    struct script **arr;

    if (id == NULL || json_object_get(n->script_index, id) != NULL)
        return;
    arr = realloc(n->scripts, (n->nscripts + 1) * sizeof(*arr));
    s = calloc(1, sizeof(*s));
    if (arr == NULL || s == NULL) {
        free(s);
        if (arr != NULL)
            n->scripts = arr;
        return;
    }
    n->scripts = arr;
    s->id = strdup(id);
    s->url = strdup(url != NULL ? url : "");
    s->path = adapter_cdp_url_to_path(url);
    s->internal = url != NULL && strncmp(url, "node:", 5) == 0;
    s->ref = (int64_t)n->nscripts + 1;
    n->scripts[n->nscripts] = s;
    json_object_set_new(n->script_index, id,
                        json_integer((json_int_t)n->nscripts));
    n->nscripts++;
    if (n->source_maps && map_url != NULL && map_url[0] != '\0' &&
        !s->internal &&
        (s->path == NULL || strstr(s->path, "/node_modules/") == NULL))
        load_map(n, n->nscripts - 1, map_url);
    if (n->state == N_READY && s->url[0] != '\0' && !s->internal)
        emit(n, "loadedSource",
             json_pack("{s:s, s:o}", "reason", "new", "source",
                       script_source(s)));
}

/* ---- breakpoints ------------------------------------------------------- */

static void bp_free(struct bp *b)
{
    if (b == NULL)
        return;
    free(b->path);
    free(b->condition);
    free(b->hit);
    free(b->log);
    free(b->cdp_id);
    free(b->name);
    free(b->message);
    free(b);
}

static void bp_remove_cdp(struct node *n, struct bp *b)
{
    if (b->cdp_id != NULL)
        (void)cdp(n, "Debugger.removeBreakpoint",
                  json_pack("{s:s}", "breakpointId", b->cdp_id), NULL, NULL);
    free(b->cdp_id);
    b->cdp_id = NULL;
}

static void bp_drop(struct node *n, size_t i)
{
    bp_free(n->bps[i]);
    memmove(&n->bps[i], &n->bps[i + 1], (n->nbps - i - 1) * sizeof(n->bps[0]));
    n->nbps--;
}

static struct bp *bp_by_cdp(struct node *n, const char *cdp_id)
{
    for (size_t i = 0; cdp_id != NULL && i < n->nbps; i++) {
        if (n->bps[i]->cdp_id != NULL && strcmp(n->bps[i]->cdp_id, cdp_id) == 0)
            return n->bps[i];
    }
    return NULL;
}

static int same_str(const char *a, const char *b)
{
    return (a == NULL || *a == '\0') ? (b == NULL || *b == '\0')
                                     : (b != NULL && strcmp(a, b) == 0);
}

static json_t *bp_json(struct bp *b, const char *message)
{
    json_t *j = json_pack("{s:I, s:b}", "id", (json_int_t)b->id, "verified",
                          b->verified);

    if (b->function) {
        if (!b->verified && message != NULL)
            json_object_set_new(j, "message", json_string(message));
        return j;
    }
    json_object_set_new(j, "line",
                        json_integer(b->verified ? b->actual_line : b->line));
    json_object_set_new(j, "source",
                        json_pack("{s:s, s:s}", "name",
                                  adapter_cdp_basename(b->path), "path",
                                  b->path));
    if (!b->verified) {
        json_object_set_new(j, "reason", json_string("pending"));
        json_object_set_new(j, "message",
                            json_string(message != NULL
                                            ? message
                                            : "not loaded yet: the "
                                              "breakpoint binds when the "
                                              "script is loaded"));
    }
    return j;
}

/* Where to set a breakpoint on `path` line (1-based): the generated
 * script of a source map that names it, or the file itself. */
static int bp_target(struct node *n, struct bp *b, char **target_path,
                     int *line0, int *col0)
{
    for (size_t i = 0; i < n->nscripts; i++) {
        struct script *s = n->scripts[i];
        int si, gl, gc, ol;
        if (s->map == NULL || s->path == NULL)
            continue;
        si = adapter_srcmap_find_source(s->map, b->path);
        if (si < 0)
            continue;
        if (adapter_srcmap_generated(s->map, si, b->line - 1, BP_SLACK_LINES,
                                     &gl, &gc, &ol) < 0)
            return -1;
        *target_path = s->path;
        *line0 = gl;
        *col0 = gc;
        b->mapped = 1;
        b->actual_line = ol + 1;
        return 0;
    }
    *target_path = b->path;
    *line0 = b->line - 1;
    *col0 = b->column > 0 ? b->column - 1 : -1;
    b->mapped = 0;
    return 1;
}

/* Sources that are not JavaScript need a source map to bind. */
static int needs_map(const char *path)
{
    const char *dot = strrchr(path, '.');

    return dot != NULL &&
           (strcmp(dot, ".ts") == 0 || strcmp(dot, ".tsx") == 0 ||
            strcmp(dot, ".mts") == 0 || strcmp(dot, ".cts") == 0 ||
            strcmp(dot, ".coffee") == 0 || strcmp(dot, ".jsx") == 0);
}

struct bpset {
    struct dreq *r; /* NULL: a background (re)try */
    int64_t bp_id;
};

static struct bp *bp_by_id(struct node *n, int64_t id)
{
    for (size_t i = 0; i < n->nbps; i++) {
        if (n->bps[i]->id == id)
            return n->bps[i];
    }
    return NULL;
}

static void bp_event(struct node *n, struct bp *b)
{
    if (n->state == N_READY)
        emit(n, "breakpoint", adapter_xlate_bp_changed_new(bp_json(b, NULL)));
}

static void finish_set_breakpoints(struct dreq *r);

static void on_bp_set(struct node *n, void *data, json_t *result,
                      const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = bp_by_id(n, bs->bp_id);
    json_t *loc0;

    free(bs);
    if (b != NULL) {
        if (error != NULL) {
            b->verified = 0;
            free(b->message);
            b->message = strdup(error);
            DAP_LOGW("node: breakpoint %s:%d: %s", b->path, b->line, error);
        } else {
            const char *id =
                json_string_value(json_object_get(result, "breakpointId"));
            free(b->cdp_id);
            b->cdp_id = id != NULL ? strdup(id) : NULL;
            loc0 = json_array_get(json_object_get(result, "locations"), 0);
            if (loc0 != NULL) {
                int line = (int)json_integer_value(
                    json_object_get(loc0, "lineNumber"));
                int col = (int)json_integer_value(
                    json_object_get(loc0, "columnNumber"));
                json_t *src = locate(
                    n, json_string_value(json_object_get(loc0, "scriptId")),
                    &line, &col);
                json_decref(src);
                b->verified = 1;
                b->actual_line = line;
            }
            if (r == NULL && b->verified)
                bp_event(n, b);
        }
    }
    if (r != NULL && --r->pending == 0)
        r->finish(r);
}

/* Send setBreakpointByUrl for b (request r, or a background retry). */
static void bp_send(struct node *n, struct bp *b, struct dreq *r)
{
    char *target = NULL;
    char *regex;
    char *cond;
    int line0, col0;
    json_t *params;
    struct bpset *bs;
    int t = bp_target(n, b, &target, &line0, &col0);

    if (t < 0 || (t == 1 && needs_map(b->path))) {
        b->pending = 1;
        return;
    }
    b->pending = 0;
    regex = adapter_cdp_url_regex(target);
    /* A log point with a hit count pauses (the count is kept here) and
     * logs from on_paused(); without one it never pauses. */
    cond = adapter_cdp_breakpoint_condition(b->condition,
                                            b->hit != NULL ? NULL : b->log);
    params = json_pack("{s:s, s:i}", "urlRegex", regex ? regex : "",
                       "lineNumber", line0);
    if (col0 >= 0)
        json_object_set_new(params, "columnNumber", json_integer(col0));
    if (cond != NULL)
        json_object_set_new(params, "condition", json_string(cond));
    free(regex);
    free(cond);
    bs = calloc(1, sizeof(*bs));
    if (bs == NULL) {
        json_decref(params);
        return;
    }
    bs->r = r;
    bs->bp_id = b->id;
    if (r != NULL)
        r->pending++;
    if (cdp(n, "Debugger.setBreakpointByUrl", params, on_bp_set, bs) < 0)
        on_bp_set(n, bs, NULL, "the inspector connection is closed");
}

static void retry_pending_bps(struct node *n)
{
    for (size_t i = 0; i < n->nbps; i++) {
        struct bp *b = n->bps[i];
        if (b->pending && !b->function && b->cdp_id == NULL)
            bp_send(n, b, NULL);
    }
}

static void finish_set_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    json_t *out = json_array();
    json_t *id;
    size_t i;

    json_array_foreach(r->items, i, id)
    {
        struct bp *b = bp_by_id(n, json_integer_value(id));
        if (b != NULL)
            json_array_append_new(out,
                                  bp_json(b, b->pending ? "no loaded script "
                                                          "maps this source "
                                                          "yet"
                                                        : b->message));
        else
            json_array_append_new(out, json_pack("{s:b, s:s}", "verified", 0,
                                                 "message", "breakpoint lost"));
    }
    dreq_ok(r, json_pack("{s:o}", "breakpoints", out));
}

static char *dup_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

static void req_set_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    const char *path = json_string_value(
        json_object_get(json_object_get(r->x.args, "source"), "path"));
    json_t *list = json_object_get(r->x.args, "breakpoints");
    json_t *e;
    size_t i;
    char **keep;

    if (path == NULL) {
        dreq_fail(r, DAP_EINVAL, "setBreakpoints: the node backend needs "
                     "source.path");
        return;
    }
    keep = calloc(n->nbps + 1, sizeof(char *));
    r->items = json_array();
    json_array_foreach(list, i, e)
    {
        int line = (int)adapter__arg_int(e, "line", 0, INT_MAX, 0);
        int col = (int)adapter__arg_int(e, "column", 0, INT_MAX, 0);
        const char *cond = json_string_value(json_object_get(e, "condition"));
        const char *hit = json_string_value(json_object_get(e, "hitCondition"));
        const char *log = json_string_value(json_object_get(e, "logMessage"));
        struct bp *b = NULL;

        /* An identical breakpoint stays as it is (same id, no CDP). */
        for (size_t k = 0; k < n->nbps; k++) {
            struct bp *o = n->bps[k];
            if (!o->function && !keep[k] && strcmp(o->path, path) == 0 &&
                o->line == line && o->column == col &&
                same_str(o->condition, cond) && same_str(o->hit, hit) &&
                same_str(o->log, log)) {
                keep[k] = (char *)1;
                b = o;
                break;
            }
        }
        if (b == NULL) {
            struct bp **arr = realloc(n->bps, (n->nbps + 1) * sizeof(*arr));
            if (arr == NULL)
                continue;
            n->bps = arr;
            b = calloc(1, sizeof(*b));
            if (b == NULL)
                continue;
            b->id = ++n->next_bp;
            b->path = strdup(path);
            b->line = line;
            b->column = col;
            b->condition = dup_nonempty(cond);
            b->hit = dup_nonempty(hit);
            b->log = dup_nonempty(log);
            if (b->hit != NULL &&
                adapter_xlate_hit_parse(b->hit, &b->hit_cond) < 0) {
                DAP_LOGW("node: hit condition \"%s\" not understood; "
                         "ignored",
                         b->hit);
                free(b->hit);
                b->hit = NULL;
            }
            keep = realloc(keep, (n->nbps + 2) * sizeof(char *));
            keep[n->nbps] = (char *)2; /* new */
            keep[n->nbps + 1] = NULL;
            n->bps[n->nbps++] = b;
        }
        json_array_append_new(r->items, json_integer((json_int_t)b->id));
    }
    /* Drop this file's breakpoints that are no longer wanted. */
    for (size_t k = n->nbps; k-- > 0;) {
        struct bp *o = n->bps[k];
        if (!o->function && keep[k] == NULL && strcmp(o->path, path) == 0) {
            bp_remove_cdp(n, o);
            bp_drop(n, k);
            memmove(&keep[k], &keep[k + 1], (n->nbps + 1 - k) * sizeof(char *));
        }
    }
    r->pending = 1; /* held until every set is sent */
    r->finish = finish_set_breakpoints;
    for (size_t k = 0; k < n->nbps; k++) {
        if (keep[k] == (char *)2)
            bp_send(n, n->bps[k], r);
    }
    free(keep);
    if (--r->pending == 0)
        r->finish(r);
}

/* ---- function breakpoints ---------------------------------------------- */

static void on_fn_set(struct node *n, void *data, json_t *result,
                      const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = bp_by_id(n, bs->bp_id);

    free(bs);
    if (b != NULL) {
        const char *id =
            json_string_value(json_object_get(result, "breakpointId"));
        if (error == NULL && id != NULL) {
            b->cdp_id = strdup(id);
            b->verified = 1;
        } else {
            free(b->message);
            b->message = strdup(error ? error
                                      : "cannot break on this "
                                        "function");
        }
    }
    if (--r->pending == 0)
        r->finish(r);
}

static void on_fn_eval(struct node *n, void *data, json_t *result,
                       const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = bp_by_id(n, bs->bp_id);
    json_t *ro = json_object_get(result, "result");
    const char *type = json_string_value(json_object_get(ro, "type"));
    const char *oid = json_string_value(json_object_get(ro, "objectId"));
    char *cond;
    json_t *params;

    if (b == NULL || error != NULL || type == NULL ||
        strcmp(type, "function") != 0 || oid == NULL) {
        if (b != NULL) {
            char msg[300];
            snprintf(msg, sizeof(msg),
                     "\"%s\" is not a function reachable from the global "
                     "scope (or the paused frame): write an expression "
                     "that evaluates to it, e.g. require('./app').handle",
                     b->name);
            free(b->message);
            b->message = strdup(msg);
        }
        free(bs);
        if (--r->pending == 0)
            r->finish(r);
        return;
    }
    cond = adapter_cdp_breakpoint_condition(b->condition, NULL);
    params = json_pack("{s:s}", "objectId", oid);
    if (cond != NULL)
        json_object_set_new(params, "condition", json_string(cond));
    free(cond);
    if (cdp(n, "Debugger.setBreakpointOnFunctionCall", params, on_fn_set, bs) <
        0)
        on_fn_set(n, bs, NULL, "the inspector connection is closed");
}

static void finish_fn_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    json_t *out = json_array();
    json_t *id;
    size_t i;

    json_array_foreach(r->items, i, id)
    {
        struct bp *b = bp_by_id(n, json_integer_value(id));
        if (b != NULL)
            json_array_append_new(out, bp_json(b, b->message));
    }
    dreq_ok(r, json_pack("{s:o}", "breakpoints", out));
}

static const char *top_frame_id(struct node *n)
{
    json_t *f = json_array_get(json_object_get(n->paused, "callFrames"), 0);

    return json_string_value(json_object_get(f, "callFrameId"));
}

static void req_set_function_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    json_t *list = json_object_get(r->x.args, "breakpoints");
    json_t *e;
    size_t i;

    for (size_t k = n->nbps; k-- > 0;) {
        if (n->bps[k]->function) {
            bp_remove_cdp(n, n->bps[k]);
            bp_drop(n, k);
        }
    }
    r->items = json_array();
    r->pending = 1;
    r->finish = finish_fn_breakpoints;
    json_array_foreach(list, i, e)
    {
        const char *name = json_string_value(json_object_get(e, "name"));
        struct bp **arr = realloc(n->bps, (n->nbps + 1) * sizeof(*arr));
        struct bpset *bs;
        struct bp *b;
        const char *fid = top_frame_id(n);

        if (name == NULL || arr == NULL)
            continue;
        n->bps = arr;
        b = calloc(1, sizeof(*b));
        bs = calloc(1, sizeof(*bs));
        if (b == NULL || bs == NULL) {
            free(b);
            free(bs);
            continue;
        }
        b->id = ++n->next_bp;
        b->function = 1;
        b->name = strdup(name);
        b->path = strdup("");
        b->condition =
            dup_nonempty(json_string_value(json_object_get(e, "condition")));
        n->bps[n->nbps++] = b;
        json_array_append_new(r->items, json_integer((json_int_t)b->id));
        bs->r = r;
        bs->bp_id = b->id;
        r->pending++;
        if (fid != NULL) {
            if (cdp(n, "Debugger.evaluateOnCallFrame",
                    json_pack("{s:s, s:s, s:b, s:b}", "callFrameId", fid,
                              "expression", name, "silent", 1,
                              "includeCommandLineAPI", 1),
                    on_fn_eval, bs) < 0)
                on_fn_eval(n, bs, NULL, "closed");
        } else if (cdp(n, "Runtime.evaluate",
                       json_pack("{s:s, s:b, s:b}", "expression", name,
                                 "silent", 1, "includeCommandLineAPI", 1),
                       on_fn_eval, bs) < 0) {
            on_fn_eval(n, bs, NULL, "closed");
        }
    }
    if (--r->pending == 0)
        r->finish(r);
}

/* ---- generic request completions --------------------------------------- */

/* The CDP call answers the request: success with an empty body. */
static void on_plain(struct node *n, void *data, json_t *result,
                     const char *error)
{
    struct dreq *r = data;

    (void)n;
    (void)result;
    if (error != NULL)
        dreq_fail(r, DAP_EBACKEND, "%s", error);
    else
        dreq_ok(r, r->x.body != NULL ? json_incref(r->x.body) : NULL);
}

/* ---- pause state and variable references ------------------------------- */

static void varref_free(void *item)
{
    struct varref *v = item;

    free(v->object_id);
    free(v->name);
    free(v);
}

static void refs_clear(struct node *n)
{
    adapter_xrefs_clear(&n->refs);
}

static int64_t ref_add(struct node *n, enum ref_kind kind, const char *oid,
                       int frame, int scope, const char *name)
{
    struct varref *v = calloc(1, sizeof(*v));

    if (v == NULL)
        return 0;
    v->kind = kind;
    v->object_id = oid != NULL ? strdup(oid) : NULL;
    v->frame = frame;
    v->scope = scope;
    v->name = name != NULL ? strdup(name) : NULL;
    return adapter_xrefs_add(&n->refs, v);
}

static struct varref *ref_get(struct node *n, int64_t ref)
{
    return adapter_xrefs_get(&n->refs, ref);
}

static int64_t obj_ref(void *data, json_t *ro)
{
    struct node *n = data;

    return ref_add(n, REF_OBJECT,
                   json_string_value(json_object_get(ro, "objectId")), -1, -1,
                   NULL);
}

static void clear_pause(struct node *n)
{
    json_decref(n->paused);
    n->paused = NULL;
    json_decref(n->exception);
    n->exception = NULL;
    refs_clear(n);
}

/* Log a log point's message from the paused top frame (its console
 * output is tagged like the condition-based log points'). */
static void log_on_frame(struct node *n, json_t *p, struct bp *b)
{
    json_t *f = json_array_get(json_object_get(p, "callFrames"), 0);
    const char *fid = json_string_value(json_object_get(f, "callFrameId"));
    char *expr = adapter_cdp_breakpoint_condition(NULL, b->log);

    if (fid != NULL && expr != NULL)
        (void)cdp(n, "Debugger.evaluateOnCallFrame",
                  json_pack("{s:s, s:s, s:b}", "callFrameId", fid, "expression",
                            expr, "silent", 1),
                  NULL, NULL);
    free(expr);
}

static void on_paused(struct node *n, json_t *p)
{
    json_t *hits = json_object_get(p, "hitBreakpoints");
    json_t *ids = json_array();
    const char *reason = json_string_value(json_object_get(p, "reason"));
    int any_hit = 0, stop = 1, counted = 0, matched = 0;
    json_t *h;
    size_t i;
    const char *dreason;
    json_t *body;

    clear_pause(n);
    n->paused = json_incref(p);
    if (n->state != N_READY) {
        /* Detaching (or not ready): never leave the program halted. */
        (void)cdp(n, "Debugger.resume", NULL, NULL, NULL);
        return;
    }
    json_array_foreach(hits, i, h)
    {
        struct bp *b = bp_by_cdp(n, json_string_value(h));
        if (b == NULL)
            continue;
        any_hit = 1;
        if (b->hit != NULL) {
            int match;
            counted++;
            b->hits++;
            match = adapter_xlate_hit_match(&b->hit_cond, b->hits);
            if (b->log != NULL) {
                /* A counted log point: log on a matching hit, never
                 * stop for it. */
                if (match)
                    log_on_frame(n, p, b);
                continue;
            }
            if (match)
                matched++;
        } else {
            matched++;
        }
        json_array_append_new(ids, json_integer((json_int_t)b->id));
    }
    /* Only breakpoints whose hit count is not reached: go on silently. */
    if (any_hit && counted > 0 && matched == 0 && n->hint == NULL)
        stop = 0;
    if (!stop) {
        json_decref(ids);
        n->resume_requested = 1;
        (void)cdp(n, "Debugger.resume", NULL, NULL, NULL);
        return;
    }
    if (reason != NULL && (strcmp(reason, "exception") == 0 ||
                           strcmp(reason, "promiseRejection") == 0))
        n->exception = json_incref(json_object_get(p, "data"));
    dreason = adapter_cdp_stop_reason(p, n->hint, any_hit);
    for (size_t k = 0; any_hit && k < json_array_size(ids); k++) {
        struct bp *b = bp_by_id(n, json_integer_value(json_array_get(ids, k)));
        if (b != NULL && b->function)
            dreason = "function breakpoint";
    }
    n->hint = NULL;
    body = adapter_xlate_stopped_new(dreason, THREAD_ID, NULL);
    if (json_array_size(ids) > 0)
        json_object_set(body, "hitBreakpointIds", ids);
    json_decref(ids);
    if (n->exception != NULL) {
        char *t = adapter_cdp_exception_summary(n->exception);
        json_object_set_new(body, "text", json_string(t ? t : "exception"));
        json_object_set_new(body, "description",
                            json_string(strcmp(reason, "promiseRejection") == 0
                                            ? "Paused on promise rejection"
                                            : "Paused on exception"));
        free(t);
    } else if (strcmp(dreason, "debugger statement") == 0) {
        json_object_set_new(body, "description",
                            json_string("Paused on debugger statement"));
    }
    n->stopped_shown = 1;
    adapter__event(n->a, "stopped", body);
    json_decref(body);
}

static void on_resumed(struct node *n)
{
    clear_pause(n);
    if (n->stopped_shown && !n->resume_requested && n->state == N_READY)
        emit(n, "continued", adapter_xlate_continued_new(THREAD_ID));
    n->stopped_shown = 0;
    n->resume_requested = 0;
}

/* ---- stack, scopes, variables ------------------------------------------ */

static json_t *frame_json(struct node *n, int64_t id, const char *name,
                          json_t *loc_or_frame, int in_location)
{
    json_t *loc =
        in_location ? json_object_get(loc_or_frame, "location") : loc_or_frame;
    const char *sid = json_string_value(json_object_get(loc, "scriptId"));
    int line = (int)json_integer_value(json_object_get(loc, "lineNumber"));
    int col = (int)json_integer_value(json_object_get(loc, "columnNumber"));
    json_t *src = locate(n, sid, &line, &col);
    struct script *s = script_by_id(n, sid);
    json_t *f =
        json_pack("{s:I, s:s, s:o, s:i, s:i}", "id", (json_int_t)id, "name",
                  name, "source", src, "line", line, "column", col);

    if (s != NULL && s->internal)
        json_object_set_new(f, "presentationHint", json_string("subtle"));
    return f;
}

static void req_stack_trace(struct dreq *r)
{
    struct node *n = r->n;
    json_t *frames = json_object_get(n->paused, "callFrames");
    json_t *all = json_array();
    json_t *out;
    json_t *f;
    size_t i;
    /* Clamped: start + levels is computed below. */
    long long start = adapter__arg_int(r->x.args, "startFrame", 0, INT_MAX, 0);
    long long levels = adapter__arg_int(r->x.args, "levels", 0, INT_MAX, 0);
    json_t *async;
    int64_t aid = ASYNC_FRAME_BASE;
    size_t total;

    if (n->paused == NULL) {
        json_decref(all);
        dreq_fail(r, DAP_ENOTSTOPPED, "the program is not paused");
        return;
    }
    json_array_foreach(frames, i, f) json_array_append_new(
        all, frame_json(n, (int64_t)i + 1, adapter_cdp_frame_name(f), f, 1));
    /* Async frames (labelled by what scheduled them), shown as is. */
    for (async = json_object_get(n->paused, "asyncStackTrace");
         json_is_object(async) && json_array_size(all) < 200;
         async = json_object_get(async, "parent")) {
        const char *desc =
            json_string_value(json_object_get(async, "description"));
        char label[160];
        snprintf(label, sizeof(label), "%s", desc ? desc : "async");
        json_array_append_new(all, json_pack("{s:I, s:s, s:i, s:i, s:s}", "id",
                                             (json_int_t)aid++, "name", label,
                                             "line", 0, "column", 0,
                                             "presentationHint", "label"));
        json_array_foreach(json_object_get(async, "callFrames"), i, f)
        {
            json_t *fj;
            if (aid - ASYNC_FRAME_BASE > MAX_ASYNC_FRAMES)
                break;
            fj = frame_json(n, aid++, adapter_cdp_frame_name(f), f, 0);
            json_object_set_new(fj, "presentationHint", json_string("subtle"));
            json_array_append_new(all, fj);
        }
    }
    total = json_array_size(all);
    out = json_array();
    for (i = (size_t)start;
         i < total && (levels <= 0 || i < (size_t)(start + levels)); i++)
        json_array_append(out, json_array_get(all, i));
    json_decref(all);
    dreq_ok(r, json_pack("{s:o, s:I}", "stackFrames", out, "totalFrames",
                         (json_int_t)total));
}

static json_t *frame_at(struct node *n, int64_t id)
{
    if (n->paused == NULL || id < 1)
        return NULL;
    return json_array_get(json_object_get(n->paused, "callFrames"),
                          (size_t)(id - 1));
}

static void req_scopes(struct dreq *r)
{
    struct node *n = r->n;
    int64_t fid = json_integer_value(json_object_get(r->x.args, "frameId"));
    json_t *frame = frame_at(n, fid);
    json_t *chain = json_object_get(frame, "scopeChain");
    json_t *scopes = json_array();
    json_t *sc;
    size_t i;

    if (frame == NULL) {
        json_decref(scopes);
        if (fid >= ASYNC_FRAME_BASE)
            dreq_ok(r, json_pack("{s:[]}", "scopes"));
        else
            dreq_fail(r, DAP_ESTALE, "frame %lld is not valid any more", (long long)fid);
        return;
    }
    json_array_foreach(chain, i, sc)
    {
        const char *type = json_string_value(json_object_get(sc, "type"));
        const char *oid = json_string_value(
            json_object_get(json_object_get(sc, "object"), "objectId"));
        char name[128];
        json_t *s;
        int64_t ref;

        if (oid == NULL)
            continue;
        adapter_cdp_scope_name(sc, name, sizeof(name));
        ref = ref_add(n, REF_SCOPE, oid, (int)fid - 1, (int)i, NULL);
        s = json_pack("{s:s, s:I, s:b}", "name", name, "variablesReference",
                      (json_int_t)ref, "expensive",
                      type != NULL && strcmp(type, "global") == 0);
        if (type != NULL && strcmp(type, "local") == 0)
            json_object_set_new(s, "presentationHint", json_string("locals"));
        json_array_append_new(scopes, s);
    }
    dreq_ok(r, json_pack("{s:o}", "scopes", scopes));
}

/* Both reference kinds from one context: objects get their own
 * references, accessors a getter reference on the object being listed. */
struct var_ctx {
    struct node *n;
    const char *owner;
};

static int64_t vc_object(void *data, json_t *ro)
{
    return obj_ref(((struct var_ctx *)data)->n, ro);
}

static int64_t vc_getter(void *data, const char *name)
{
    struct var_ctx *c = data;

    return ref_add(c->n, REF_GETTER, c->owner, -1, -1, name);
}

static void on_properties(struct node *n, void *data, json_t *result,
                          const char *error)
{
    struct dreq *r = data;
    long long start = adapter__arg_int(r->x.args, "start", 0, INT_MAX, 0);
    long long count = adapter__arg_int(r->x.args, "count", 0, INT_MAX, 0);
    const char *filter = json_string_value(json_object_get(r->x.args, "filter"));
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    struct varref *v = ref_get(n, ref);
    enum adapter_cdp_filter f = ADAPTER_CDP_ALL;
    struct var_ctx c = {n, NULL};
    struct adapter_cdp_refs refs = {vc_object, vc_getter, &c};
    json_t *vars;
    char *owner;
    int scope;

    if (error != NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error);
        return;
    }
    if (v == NULL) {
        dreq_fail(r, DAP_ESTALE, "the variables reference expired");
        return;
    }
    /* ref_add may move the table: copy what we need first. */
    owner = v->object_id != NULL ? strdup(v->object_id) : NULL;
    scope = v->kind == REF_SCOPE;
    c.owner = owner;
    if (owner == NULL)
        refs.getter_fn = NULL;
    if (filter != NULL && strcmp(filter, "indexed") == 0)
        f = ADAPTER_CDP_INDEXED;
    else if (filter != NULL && strcmp(filter, "named") == 0)
        f = ADAPTER_CDP_NAMED;
    vars = adapter_cdp_properties_to_variables(
        result, f, start > 0 ? (size_t)start : 0, count > 0 ? (size_t)count : 0,
        scope, &refs);
    /* The local scope also shows the frame's `this`, as VS Code does. */
    if (vars != NULL && scope && start <= 0 && f != ADAPTER_CDP_INDEXED) {
        struct varref *sv = ref_get(n, ref);
        json_t *frame = sv != NULL ? frame_at(n, sv->frame + 1) : NULL;
        json_t *sc = json_array_get(json_object_get(frame, "scopeChain"),
                                    sv != NULL ? (size_t)sv->scope : 0);
        const char *type = json_string_value(json_object_get(sc, "type"));
        json_t *self = json_object_get(frame, "this");
        const char *st = json_string_value(json_object_get(self, "type"));
        if (type != NULL && strcmp(type, "local") == 0 && st != NULL &&
            strcmp(st, "undefined") != 0) {
            c.owner = NULL;
            refs.getter_fn = NULL;
            json_array_insert_new(
                vars, 0, adapter_cdp_variable_new("this", self, &refs));
        }
    }
    free(owner);
    if (vars == NULL) {
        dreq_fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    dreq_ok(r, json_pack("{s:o}", "variables", vars));
}

static void on_getter(struct node *n, void *data, json_t *result,
                      const char *error)
{
    struct dreq *r = data;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    struct varref *v = ref_get(n, ref);
    struct var_ctx c = {n, NULL};
    struct adapter_cdp_refs refs = {vc_object, NULL, &c};
    json_t *ro = json_object_get(result, "result");
    json_t *var;
    char *name;

    if (error != NULL || v == NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error ? error : "the reference expired");
        return;
    }
    name = strdup(v->name ? v->name : "");
    if (json_object_get(result, "exceptionDetails") != NULL) {
        char *t = adapter_cdp_exception_text(
            json_object_get(result, "exceptionDetails"));
        var = json_pack("{s:s, s:s, s:i}", "name", name, "value",
                        t ? t : "exception", "variablesReference", 0);
        free(t);
    } else {
        var = adapter_cdp_variable_new(name, ro, &refs);
    }
    free(name);
    dreq_ok(r, json_pack("{s:[o]}", "variables", var));
}

/* One half of an object listing; the second merges and answers. */
static void on_object_part(struct node *n, void *data, json_t *result,
                           const char *error)
{
    struct dreq *r = data;
    json_t *own, *acc, *list, *d;
    size_t i;

    if (error != NULL)
        adapter_xreq_fail(&r->x, DAP_EBACKEND, "%s", error);
    json_array_append(r->items, result != NULL ? result : json_null());
    if (--r->pending > 0)
        return;
    if (r->x.status < 0) {
        adapter_xreq_defer(&r->x);
        return;
    }
    own = json_array_get(r->items, 0);
    acc = json_array_get(r->items, 1);
    list = json_object_get(own, "result");
    json_array_foreach(json_object_get(acc, "result"), i, d)
    {
        const char *name = json_string_value(json_object_get(d, "name"));
        int dup = 0;
        json_t *o;
        size_t k;
        if (name == NULL || strcmp(name, "__proto__") == 0 ||
            json_is_true(json_object_get(d, "isOwn")))
            continue;
        json_array_foreach(list, k, o)
        {
            const char *on = json_string_value(json_object_get(o, "name"));
            if (on != NULL && strcmp(on, name) == 0)
                dup = 1;
        }
        if (!dup && json_is_array(list))
            json_array_append(list, d);
    }
    on_properties(n, r, own, NULL);
}

static void req_variables(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    struct varref *v = ref_get(n, ref);

    if (v == NULL) {
        dreq_fail(r, DAP_ESTALE, "variablesReference %lld is not valid any more",
                  (long long)ref);
        return;
    }
    if (v->kind == REF_GETTER) {
        rcall(r, "Runtime.callFunctionOn",
              json_pack("{s:s, s:s, s:[{s:s}], s:b, s:s}", "objectId",
                        v->object_id, "functionDeclaration",
                        "function (k) { return this[k]; }", "arguments",
                        "value", v->name, "generatePreview", 1, "objectGroup",
                        OBJECT_GROUP),
              on_getter);
        return;
    }
    if (v->kind == REF_SCOPE) {
        rcall(r, "Runtime.getProperties",
              json_pack("{s:s, s:b, s:b}", "objectId", v->object_id,
                        "ownProperties", 1, "generatePreview", 1),
              on_properties);
        return;
    }
    /* Objects: own properties, and in the same round trip the accessors
     * up the prototype chain (class getters live on the prototype), which
     * are shown on the object itself and invoked on it when expanded. */
    r->items = json_array();
    r->pending = 2;
    if (cdp(n, "Runtime.getProperties",
            json_pack("{s:s, s:b, s:b}", "objectId", v->object_id,
                      "ownProperties", 1, "generatePreview", 1),
            on_object_part, r) < 0)
        on_object_part(n, r, NULL, "the inspector connection is closed");
    if (cdp(n, "Runtime.getProperties",
            json_pack("{s:s, s:b, s:b}", "objectId", v->object_id,
                      "ownProperties", 0, "accessorPropertiesOnly", 1),
            on_object_part, r) < 0)
        on_object_part(n, r, NULL, "the inspector connection is closed");
}

/* ---- evaluate / setVariable -------------------------------------------- */

static void on_evaluate(struct node *n, void *data, json_t *result,
                        const char *error)
{
    struct dreq *r = data;
    json_t *ro = json_object_get(result, "result");
    json_t *exc = json_object_get(result, "exceptionDetails");
    struct var_ctx c = {n, NULL};
    struct adapter_cdp_refs refs = {vc_object, NULL, &c};
    json_t *v;

    if (error != NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error);
        return;
    }
    if (exc != NULL) {
        char *t = adapter_cdp_exception_text(exc);
        size_t l = t ? strlen(t) : 0;
        if (l > 0 && t[l - 1] == '\n')
            t[l - 1] = '\0';
        dreq_fail(r, DAP_EBACKEND, "%s", t ? t : "exception");
        free(t);
        return;
    }
    v = adapter_cdp_variable_new("", ro, &refs);
    if (v == NULL) {
        dreq_fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    json_object_set(v, "result", json_object_get(v, "value"));
    json_object_del(v, "value");
    json_object_del(v, "name");
    dreq_ok(r, v);
}

static void req_evaluate(struct dreq *r)
{
    struct node *n = r->n;
    const char *expr =
        json_string_value(json_object_get(r->x.args, "expression"));
    const char *ctx = json_string_value(json_object_get(r->x.args, "context"));
    int64_t fid = json_integer_value(json_object_get(r->x.args, "frameId"));
    json_t *frame = frame_at(n, fid > 0 ? fid : 1);
    int repl = ctx == NULL || strcmp(ctx, "repl") == 0;
    int hover = ctx != NULL && strcmp(ctx, "hover") == 0;
    json_t *params;

    if (expr == NULL) {
        dreq_fail(r, DAP_EINVAL, "evaluate needs \"expression\"");
        return;
    }
    if (frame != NULL) {
        params =
            json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "callFrameId",
                      json_string_value(json_object_get(frame, "callFrameId")),
                      "expression", expr, "objectGroup", OBJECT_GROUP,
                      "includeCommandLineAPI", repl, "silent", !repl,
                      "generatePreview", 1);
        if (hover)
            json_object_set_new(params, "throwOnSideEffect", json_true());
        rcall(r, "Debugger.evaluateOnCallFrame", params, on_evaluate);
        return;
    }
    params = json_pack("{s:s, s:s, s:b, s:b, s:b}", "expression", expr,
                       "objectGroup", OBJECT_GROUP, "includeCommandLineAPI",
                       repl, "silent", !repl, "generatePreview", 1);
    if (hover)
        json_object_set_new(params, "throwOnSideEffect", json_true());
    rcall(r, "Runtime.evaluate", params, on_evaluate);
}

/* setVariable: evaluate the new value, then assign it. */
static json_t *call_argument(json_t *ro)
{
    const char *oid = json_string_value(json_object_get(ro, "objectId"));
    const char *unser =
        json_string_value(json_object_get(ro, "unserializableValue"));
    json_t *value = json_object_get(ro, "value");

    if (oid != NULL)
        return json_pack("{s:s}", "objectId", oid);
    if (unser != NULL)
        return json_pack("{s:s}", "unserializableValue", unser);
    if (value != NULL)
        return json_pack("{s:O}", "value", value);
    return json_object(); /* undefined */
}

static void on_set_done(struct node *n, void *data, json_t *result,
                        const char *error)
{
    struct dreq *r = data;
    struct var_ctx c = {n, NULL};
    struct adapter_cdp_refs refs = {vc_object, NULL, &c};
    json_t *ro = r->x.body;
    json_t *v;

    (void)result;
    if (error != NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error);
        return;
    }
    if (json_object_get(result, "result") != NULL)
        ro = json_object_get(result, "result");
    v = adapter_cdp_variable_new("", ro, &refs);
    json_object_del(v, "name");
    dreq_ok(r, v);
}

static void on_set_value(struct node *n, void *data, json_t *result,
                         const char *error)
{
    struct dreq *r = data;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    const char *name = json_string_value(json_object_get(r->x.args, "name"));
    struct varref *v = ref_get(n, ref);
    json_t *ro = json_object_get(result, "result");
    json_t *frame;

    if (error != NULL || v == NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error ? error : "the reference expired");
        return;
    }
    if (json_object_get(result, "exceptionDetails") != NULL) {
        char *t = adapter_cdp_exception_text(
            json_object_get(result, "exceptionDetails"));
        dreq_fail(r, DAP_EBACKEND, "%s", t ? t : "exception");
        free(t);
        return;
    }
    r->x.body = json_incref(ro);
    if (v->kind == REF_SCOPE && (frame = frame_at(n, v->frame + 1)) != NULL) {
        rcall(
            r, "Debugger.setVariableValue",
            json_pack("{s:i, s:s, s:o, s:s}", "scopeNumber", v->scope,
                      "variableName", name, "newValue", call_argument(ro),
                      "callFrameId",
                      json_string_value(json_object_get(frame, "callFrameId"))),
            on_set_done);
        return;
    }
    rcall(r, "Runtime.callFunctionOn",
          json_pack("{s:s, s:s, s:[{s:s}, o], s:s}", "objectId", v->object_id,
                    "functionDeclaration",
                    "function (k, v) { this[k] = v; return this[k]; }",
                    "arguments", "value", name, call_argument(ro),
                    "objectGroup", OBJECT_GROUP),
          on_set_done);
}

static void req_set_variable(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    const char *value = json_string_value(json_object_get(r->x.args, "value"));
    struct varref *v = ref_get(n, ref);
    json_t *frame;

    if (v == NULL || value == NULL || v->kind == REF_GETTER) {
        dreq_fail(r, DAP_ESTALE, "setVariable: unknown or read-only variables "
                     "reference");
        return;
    }
    frame = frame_at(n, v->kind == REF_SCOPE ? v->frame + 1 : 1);
    if (frame != NULL)
        rcall(
            r, "Debugger.evaluateOnCallFrame",
            json_pack("{s:s, s:s, s:s, s:b}", "callFrameId",
                      json_string_value(json_object_get(frame, "callFrameId")),
                      "expression", value, "objectGroup", OBJECT_GROUP,
                      "silent", 1),
            on_set_value);
    else
        rcall(r, "Runtime.evaluate",
              json_pack("{s:s, s:s, s:b}", "expression", value, "objectGroup",
                        OBJECT_GROUP, "silent", 1),
              on_set_value);
}

/* ---- other requests ---------------------------------------------------- */

static void req_exception_info(struct dreq *r)
{
    struct node *n = r->n;
    json_t *e = n->exception;
    const char *desc = json_string_value(json_object_get(e, "description"));
    char *summary;
    const char *cls;

    if (e == NULL) {
        dreq_fail(r, DAP_ESTATE, "the program is not stopped on an exception");
        return;
    }
    summary = adapter_cdp_exception_summary(e);
    cls = json_string_value(json_object_get(e, "className"));
    dreq_ok(r,
            json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}}", "exceptionId",
                      cls ? cls : "exception", "description",
                      summary ? summary : "", "breakMode",
                      n->exception_mode && strcmp(n->exception_mode, "all") == 0
                          ? "always"
                          : "unhandled",
                      "details", "message", summary ? summary : "", "typeName",
                      cls ? cls : "", "stackTrace", desc ? desc : ""));
    free(summary);
}

static void req_loaded_sources(struct dreq *r)
{
    struct node *n = r->n;
    json_t *out = json_array();

    for (size_t i = 0; i < n->nscripts; i++) {
        struct script *s = n->scripts[i];
        if (s->url[0] == '\0')
            continue;
        json_array_append_new(out, script_source(s));
    }
    dreq_ok(r, json_pack("{s:o}", "sources", out));
}

static void on_script_source(struct node *n, void *data, json_t *result,
                             const char *error)
{
    struct dreq *r = data;
    const char *src =
        json_string_value(json_object_get(result, "scriptSource"));

    (void)n;
    if (error != NULL || src == NULL) {
        dreq_fail(r, DAP_EBACKEND, "%s", error ? error : "no source");
        return;
    }
    dreq_ok(r, json_pack("{s:s, s:s}", "content", src, "mimeType",
                         "text/javascript"));
}

static void req_source(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "sourceReference"));
    struct script *s;

    if (ref <= 0)
        ref = json_integer_value(json_object_get(
            json_object_get(r->x.args, "source"), "sourceReference"));
    s = script_by_ref(n, ref);
    if (s == NULL) {
        dreq_fail(r, DAP_ESTALE, "unknown sourceReference %lld", (long long)ref);
        return;
    }
    rcall(r, "Debugger.getScriptSource", json_pack("{s:s}", "scriptId", s->id),
          on_script_source);
}

static void req_set_exceptions(struct dreq *r)
{
    struct node *n = r->n;
    json_t *filters = json_object_get(r->x.args, "filters");
    const char *state = "none";
    json_t *f;
    size_t i;

    json_array_foreach(filters, i, f)
    {
        const char *s = json_string_value(f);
        if (s != NULL && strcmp(s, "all") == 0)
            state = "all";
        else if (s != NULL && strcmp(s, "uncaught") == 0 &&
                 strcmp(state, "all") != 0)
            state = "uncaught";
    }
    free(n->exception_mode);
    n->exception_mode = strdup(state);
    rcall(r, "Debugger.setPauseOnExceptions",
          json_pack("{s:s}", "state", state), on_plain);
}

static void req_resume(struct dreq *r, const char *method, const char *hint)
{
    struct node *n = r->n;

    if (n->paused == NULL && strcmp(method, "Debugger.pause") != 0) {
        dreq_fail(r, DAP_ENOTSTOPPED, "the program is not paused");
        return;
    }
    n->hint = hint;
    if (strcmp(method, "Debugger.pause") != 0) {
        /* The frames end now, not when Debugger.resumed arrives: a request
         * that follows at once must not use them. */
        clear_pause(n);
        n->resume_requested = 1;
        if (strcmp(method, "Debugger.resume") == 0)
            r->x.body = json_pack("{s:b}", "allThreadsContinued", 1);
    }
    rcall(r, method,
          strcmp(method, "Debugger.stepInto") == 0
              ? json_pack("{s:b}", "breakOnAsyncCall", 0)
              : NULL,
          on_plain);
}

/* ---- the request table -------------------------------------------------- */

static const struct {
    const char *command;
    void (*fn)(struct dreq *r);
} requests[] = {
    {"evaluate", req_evaluate},
    {"exceptionInfo", req_exception_info},
    {"loadedSources", req_loaded_sources},
    {"scopes", req_scopes},
    {"setBreakpoints", req_set_breakpoints},
    {"setExceptionBreakpoints", req_set_exceptions},
    {"setFunctionBreakpoints", req_set_function_breakpoints},
    {"setVariable", req_set_variable},
    {"source", req_source},
    {"stackTrace", req_stack_trace},
    {"variables", req_variables},
};

static void dispatch(struct dreq *r)
{
    struct node *n = r->n;
    const char *c = r->x.command;

    if (strcmp(c, "threads") == 0) {
        dreq_ok(r, json_pack("{s:[{s:i, s:s}]}", "threads", "id", THREAD_ID,
                             "name", n->title ? n->title : "node"));
        return;
    }
    if (strcmp(c, "configurationDone") == 0) {
        rcall(r, "Runtime.runIfWaitingForDebugger", NULL, on_plain);
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
            dreq_ok(r, NULL);
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
    dreq_fail(r, DAP_EUNSUPPORTED, "'%s' is not supported by the node backend", c);
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
        on_script_parsed(n, p);
    } else if (strcmp(method, "Debugger.paused") == 0) {
        on_paused(n, p);
    } else if (strcmp(method, "Debugger.resumed") == 0) {
        on_resumed(n);
    } else if (strcmp(method, "Debugger.breakpointResolved") == 0) {
        struct bp *b =
            bp_by_cdp(n, json_string_value(json_object_get(p, "breakpointId")));
        json_t *loc = json_object_get(p, "location");
        if (b != NULL && json_is_object(loc)) {
            int line =
                (int)json_integer_value(json_object_get(loc, "lineNumber"));
            int col =
                (int)json_integer_value(json_object_get(loc, "columnNumber"));
            json_decref(
                locate(n, json_string_value(json_object_get(loc, "scriptId")),
                       &line, &col));
            if (!b->verified || b->actual_line != line) {
                b->verified = 1;
                b->actual_line = line;
                bp_event(n, b);
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
            kube_wsc_close(n->ws);
    } else if (strcmp(method, "Inspector.detached") == 0) {
        DAP_LOGW("node: inspector detached: %s",
                 json_string_value(json_object_get(p, "reason")));
    }
}

static void on_ws_message(void *data, kube_wsc *ws, const uint8_t *msg,
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
        kube_wsc_close(n->ws);
    adapter__ready(n->a, code, &e);
}

static void maybe_ready(struct node *n)
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
    maybe_ready(n);
}

static void on_ws_open(void *data, kube_wsc *ws, const char *subprotocol)
{
    struct node *n = data;

    (void)ws;
    (void)subprotocol;
    n->state = N_ENABLING;
    /* Pipelined: the inspector answers in order. */
    (void)cdp(n, "Runtime.enable", NULL, NULL, NULL);
    (void)cdp(n, "Debugger.enable",
              json_pack("{s:f}", "maxScriptsCacheSize", 10e6), NULL, NULL);
    (void)cdp(n, "Debugger.setAsyncCallStackDepth",
              json_pack("{s:i}", "maxDepth", 16), NULL, NULL);
    if (cdp(n, "Debugger.setBreakpointsActive", json_pack("{s:b}", "active", 1),
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

static void on_ws_closed(void *data, kube_wsc *ws, int status,
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
    struct kube_wsc_options o;
    struct kube_wsc_callbacks cb = {on_ws_open, on_ws_message, NULL,
                                    on_ws_closed, n};
    struct dap_error e;
    json_t *list;
    json_t *t;
    json_t *target = NULL;
    char path[512];
    size_t i;

    n->get = NULL;
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
    if (kube_wsc_new(n->a->loop, &o, &cb, &n->ws, &e) < 0)
        start_failed(n, e.code, "service \"%s\": %s", n->a->name, e.msg);
}

static int node_start(adapter *a)
{
    struct node *n = a->impl;
    char path[] = "/json/list";
    struct dap_error e;
    int fd = -1;

    n->state = N_LISTING;
    if (a->tunnel.serve_fn != NULL && adapter__dial(a, &fd, &e) < 0) {
        DAP_LOGE("service %s: %s", a->name, e.msg);
        return e.code;
    }
    return kube_ws_get_start(a->loop, n->host, n->port, fd, path,
                             n->host_header, GET_TIMEOUT_MS, on_list, n,
                             &n->get);
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
        kube_wsc_close(n->ws);
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
        cdp(n, "Runtime.evaluate",
            json_pack("{s:s}", "expression", "process._debugEnd()"),
            on_inspector_end, NULL) == 0)
        return;
    if (n->ws != NULL)
        kube_wsc_close(n->ws);
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
        kube_wsc_free(n->ws); /* not inside a ws callback: a timer */
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
        kube_ws_get_cancel(n->get);
        n->get = NULL;
        n->close_status = 0;
        snprintf(n->close_err.msg, sizeof(n->close_err.msg), "stopped");
        if (n->ws != NULL) {
            kube_wsc_close(n->ws);
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
        bp_remove_cdp(n, n->bps[i]);
    (void)cdp(n, "Debugger.setPauseOnExceptions",
              json_pack("{s:s}", "state", "none"), NULL, NULL);
    if (n->paused != NULL)
        (void)cdp(n, "Debugger.resume", NULL, NULL, NULL);
    if (mode == ADAPTER_TERMINATE)
        (void)cdp(n, "Runtime.evaluate",
                  json_pack("{s:s}", "expression",
                            "setImmediate(() => process.exit(0))"),
                  NULL, NULL);
    (void)cdp(n, "Runtime.releaseObjectGroup",
              json_pack("{s:s}", "objectGroup", OBJECT_GROUP), NULL, NULL);
    (void)cdp(n, "Debugger.disable", NULL, NULL, NULL);
    if (cdp(n, "Runtime.disable", NULL, on_detached, NULL) < 0 && n->ws != NULL)
        kube_wsc_close(n->ws);
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
    if (rc == 0)
        rc = adapter_xlate_init(&n->xl, a->loop, complete_cb, drained_cb, n);
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
    adapter_xrefs_init(&n->refs, varref_free);
    n->req_timeout_ms = timeout_ms;
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
    kube_ws_get_cancel(n->get);
    kube_wsc_free(n->ws);
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
    clear_pause(n);
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
        bp_free(n->bps[i]);
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
