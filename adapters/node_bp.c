/* node_bp.c - the node backend's breakpoints: source breakpoints (moved
 * through source maps, pending until their script loads), function
 * breakpoints, exception filters; hit counts are counted on each pause. */
#include "node_int.h"

/* ---- breakpoints ------------------------------------------------------- */

void node__bp_free(struct bp *b)
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

/* Why `b` is not verified (shown to the editor). */
static void bp_unverified(struct bp *b, const char *why)
{
    free(b->message);
    b->message = strdup(why);
}

void node__bp_remove_cdp(struct node *n, struct bp *b)
{
    if (b->cdp_id != NULL)
        (void)node__cdp(n, "Debugger.removeBreakpoint",
                        json_pack("{s:s}", "breakpointId", b->cdp_id), NULL, NULL);
    free(b->cdp_id);
    b->cdp_id = NULL;
}

static void bp_drop(struct node *n, size_t i)
{
    node__bp_free(n->bps[i]);
    memmove(&n->bps[i], &n->bps[i + 1], (n->nbps - i - 1) * sizeof(n->bps[0]));
    n->nbps--;
}

struct bp *node__bp_by_cdp(struct node *n, const char *cdp_id)
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

struct bp *node__bp_by_id(struct node *n, int64_t id)
{
    for (size_t i = 0; i < n->nbps; i++) {
        if (n->bps[i]->id == id)
            return n->bps[i];
    }
    return NULL;
}

void node__bp_event(struct node *n, struct bp *b)
{
    if (n->state == N_READY)
        node__emit(n, "breakpoint", adapter_xlate_bp_changed_new(bp_json(b, NULL)));
}

static void finish_set_breakpoints(struct dreq *r);

static void on_bp_set(struct node *n, void *data, json_t *result,
                      const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = node__bp_by_id(n, bs->bp_id);
    json_t *loc0;

    free(bs);
    if (b != NULL) {
        if (error != NULL) {
            b->verified = 0;
            bp_unverified(b, error);
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
                json_t *src = node__locate(
                    n, json_string_value(json_object_get(loc0, "scriptId")),
                    &line, &col);
                json_decref(src);
                b->verified = 1;
                b->actual_line = line;
            }
            if (r == NULL && b->verified)
                node__bp_event(n, b);
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
     * logs from node__on_paused(); without one it never pauses. */
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
    if (node__cdp(n, "Debugger.setBreakpointByUrl", params, on_bp_set, bs) < 0)
        on_bp_set(n, bs, NULL, "the inspector connection is closed");
}

void node__retry_pending_bps(struct node *n)
{
    for (size_t i = 0; i < n->nbps; i++) {
        struct bp *b = n->bps[i];
        if (b->pending && !b->function && b->cdp_id == NULL)
            bp_send(n, b, NULL);
    }
}

/* The breakpoints of r->items as DAP reports them. A source breakpoint
 * whose script is not loaded yet says so; one that went away meanwhile is
 * still answered in its slot when `keep_lost` (setBreakpoints' reply
 * matches its request entry by entry). */
static void reply_breakpoints(struct dreq *r, int keep_lost)
{
    struct node *n = r->n;
    json_t *out = json_array();
    json_t *id;
    size_t i;

    json_array_foreach(r->items, i, id)
    {
        struct bp *b = node__bp_by_id(n, json_integer_value(id));
        if (b != NULL)
            json_array_append_new(out,
                                  bp_json(b, b->pending ? "no loaded script "
                                                          "maps this source "
                                                          "yet"
                                                        : b->message));
        else if (keep_lost)
            json_array_append_new(out, json_pack("{s:b, s:s}", "verified", 0,
                                                 "message", "breakpoint lost"));
    }
    node__dreq_ok(r, json_pack("{s:o}", "breakpoints", out));
}

static void finish_set_breakpoints(struct dreq *r)
{
    reply_breakpoints(r, 1);
}

static char *dup_nonempty(const char *s)
{
    return s != NULL && s[0] != '\0' ? strdup(s) : NULL;
}

void node__req_set_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    const char *path = json_string_value(
        json_object_get(json_object_get(r->x.args, "source"), "path"));
    json_t *list = json_object_get(r->x.args, "breakpoints");
    json_t *e;
    size_t i;
    char **keep;

    if (path == NULL) {
        node__dreq_fail(r, DAP_EINVAL, "setBreakpoints: the node backend needs "
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
            node__bp_remove_cdp(n, o);
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

/* One CDP call of a function breakpoint request is done. */
static void fn_part_done(struct dreq *r)
{
    if (--r->pending == 0)
        r->finish(r);
}

static void on_fn_set(struct node *n, void *data, json_t *result,
                      const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = node__bp_by_id(n, bs->bp_id);

    free(bs);
    if (b != NULL) {
        const char *id =
            json_string_value(json_object_get(result, "breakpointId"));
        if (error == NULL && id != NULL) {
            b->cdp_id = strdup(id);
            b->verified = 1;
        } else {
            bp_unverified(b, error ? error : "cannot break on this function");
        }
    }
    fn_part_done(r);
}

static void on_fn_eval(struct node *n, void *data, json_t *result,
                       const char *error)
{
    struct bpset *bs = data;
    struct dreq *r = bs->r;
    struct bp *b = node__bp_by_id(n, bs->bp_id);
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
            bp_unverified(b, msg);
        }
        free(bs);
        fn_part_done(r);
        return;
    }
    cond = adapter_cdp_breakpoint_condition(b->condition, NULL);
    params = json_pack("{s:s}", "objectId", oid);
    if (cond != NULL)
        json_object_set_new(params, "condition", json_string(cond));
    free(cond);
    if (node__cdp(n, "Debugger.setBreakpointOnFunctionCall", params,
                  on_fn_set, bs) < 0)
        on_fn_set(n, bs, NULL, "the inspector connection is closed");
}

static void finish_fn_breakpoints(struct dreq *r)
{
    reply_breakpoints(r, 0);
}

static const char *top_frame_id(struct node *n)
{
    json_t *f = json_array_get(json_object_get(n->paused, "callFrames"), 0);

    return json_string_value(json_object_get(f, "callFrameId"));
}

void node__req_set_function_breakpoints(struct dreq *r)
{
    struct node *n = r->n;
    json_t *list = json_object_get(r->x.args, "breakpoints");
    json_t *e;
    size_t i;

    for (size_t k = n->nbps; k-- > 0;) {
        if (n->bps[k]->function) {
            node__bp_remove_cdp(n, n->bps[k]);
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
            if (node__cdp(n, "Debugger.evaluateOnCallFrame",
                          json_pack("{s:s, s:s, s:b, s:b}", "callFrameId", fid,
                                    "expression", name, "silent", 1,
                                    "includeCommandLineAPI", 1),
                          on_fn_eval, bs) < 0)
                on_fn_eval(n, bs, NULL, "closed");
        } else if (node__cdp(n, "Runtime.evaluate",
                             json_pack("{s:s, s:b, s:b}", "expression", name,
                                       "silent", 1, "includeCommandLineAPI", 1),
                             on_fn_eval, bs) < 0) {
            on_fn_eval(n, bs, NULL, "closed");
        }
    }
    if (--r->pending == 0)
        r->finish(r);
}

void node__req_set_exceptions(struct dreq *r)
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
    node__rcall(r, "Debugger.setPauseOnExceptions",
                json_pack("{s:s}", "state", state), node__on_plain);
}

