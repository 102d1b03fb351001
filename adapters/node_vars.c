/* node_vars.c - the node backend's pause: Debugger.paused's frames, the
 * stop-scoped variable references, and stackTrace, scopes, variables,
 * evaluate, setVariable, exceptionInfo. */
#include "node_int.h"

/* ---- pause state and variable references ------------------------------- */

void node__varref_free(void *item)
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

void node__clear_pause(struct node *n)
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
        (void)node__cdp(n, "Debugger.evaluateOnCallFrame",
                        json_pack("{s:s, s:s, s:b}", "callFrameId", fid, "expression",
                                  expr, "silent", 1),
                        NULL, NULL);
    free(expr);
}

void node__on_paused(struct node *n, json_t *p)
{
    json_t *hits = json_object_get(p, "hitBreakpoints");
    json_t *ids = json_array();
    const char *reason = json_string_value(json_object_get(p, "reason"));
    int any_hit = 0, stop = 1, counted = 0, matched = 0;
    json_t *h;
    size_t i;
    const char *dreason;
    json_t *body;

    node__clear_pause(n);
    n->paused = json_incref(p);
    if (n->state != N_READY) {
        /* Detaching (or not ready): never leave the program halted. */
        (void)node__cdp(n, "Debugger.resume", NULL, NULL, NULL);
        return;
    }
    json_array_foreach(hits, i, h)
    {
        struct bp *b = node__bp_by_cdp(n, json_string_value(h));
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
        (void)node__cdp(n, "Debugger.resume", NULL, NULL, NULL);
        return;
    }
    if (reason != NULL && (strcmp(reason, "exception") == 0 ||
                           strcmp(reason, "promiseRejection") == 0))
        n->exception = json_incref(json_object_get(p, "data"));
    dreason = adapter_cdp_stop_reason(p, n->hint, any_hit);
    for (size_t k = 0; any_hit && k < json_array_size(ids); k++) {
        struct bp *b = node__bp_by_id(n, json_integer_value(json_array_get(ids, k)));
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

void node__on_resumed(struct node *n)
{
    node__clear_pause(n);
    if (n->stopped_shown && !n->resume_requested && n->state == N_READY)
        node__emit(n, "continued", adapter_xlate_continued_new(THREAD_ID));
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
    json_t *src = node__locate(n, sid, &line, &col);
    struct script *s = node__script_by_id(n, sid);
    json_t *f =
        json_pack("{s:I, s:s, s:o, s:i, s:i}", "id", (json_int_t)id, "name",
                  name, "source", src, "line", line, "column", col);

    if (s != NULL && s->internal)
        json_object_set_new(f, "presentationHint", json_string("subtle"));
    return f;
}

void node__req_stack_trace(struct dreq *r)
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
        node__dreq_fail(r, DAP_ENOTSTOPPED, "the program is not paused");
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
    node__dreq_ok(r, json_pack("{s:o, s:I}", "stackFrames", out, "totalFrames",
                               (json_int_t)total));
}

static json_t *frame_at(struct node *n, int64_t id)
{
    if (n->paused == NULL || id < 1)
        return NULL;
    return json_array_get(json_object_get(n->paused, "callFrames"),
                          (size_t)(id - 1));
}

void node__req_scopes(struct dreq *r)
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
            node__dreq_ok(r, json_pack("{s:[]}", "scopes"));
        else
            node__dreq_fail(r, DAP_ESTALE, "frame %lld is not valid any more", (long long)fid);
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
    node__dreq_ok(r, json_pack("{s:o}", "scopes", scopes));
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
        node__dreq_fail(r, node__call_status(n), "%s", error);
        return;
    }
    if (v == NULL) {
        node__dreq_fail(r, DAP_ESTALE, "the variables reference expired");
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
        node__dreq_fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    node__dreq_ok(r, json_pack("{s:o}", "variables", vars));
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
        node__dreq_fail(r, node__call_status(n), "%s", error ? error : "the reference expired");
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
    node__dreq_ok(r, json_pack("{s:[o]}", "variables", var));
}

/* One half of an object listing; the second merges and answers. */
static void on_object_part(struct node *n, void *data, json_t *result,
                           const char *error)
{
    struct dreq *r = data;
    json_t *own, *acc, *list, *d;
    size_t i;

    if (error != NULL)
        adapter_xreq_fail(&r->x, node__call_status(n), "%s", error);
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

void node__req_variables(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    struct varref *v = ref_get(n, ref);

    if (v == NULL) {
        node__dreq_fail(r, DAP_ESTALE, "variablesReference %lld is not valid any more",
                        (long long)ref);
        return;
    }
    if (v->kind == REF_GETTER) {
        node__rcall(r, "Runtime.callFunctionOn",
                    json_pack("{s:s, s:s, s:[{s:s}], s:b, s:s}", "objectId",
                              v->object_id, "functionDeclaration",
                              "function (k) { return this[k]; }", "arguments",
                              "value", v->name, "generatePreview", 1, "objectGroup",
                              OBJECT_GROUP),
                    on_getter);
        return;
    }
    if (v->kind == REF_SCOPE) {
        node__rcall(r, "Runtime.getProperties",
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
    if (node__cdp(n, "Runtime.getProperties",
                  json_pack("{s:s, s:b, s:b}", "objectId", v->object_id,
                            "ownProperties", 1, "generatePreview", 1),
                  on_object_part, r) < 0)
        on_object_part(n, r, NULL, "the inspector connection is closed");
    if (node__cdp(n, "Runtime.getProperties",
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
        node__dreq_fail(r, node__call_status(n), "%s", error);
        return;
    }
    if (exc != NULL) {
        char *t = adapter_cdp_exception_text(exc);
        size_t l = t ? strlen(t) : 0;
        if (l > 0 && t[l - 1] == '\n')
            t[l - 1] = '\0';
        node__dreq_fail(r, DAP_EBACKEND, "%s", t ? t : "exception");
        free(t);
        return;
    }
    v = adapter_cdp_variable_new("", ro, &refs);
    if (v == NULL) {
        node__dreq_fail(r, DAP_ENOMEM, "out of memory");
        return;
    }
    json_object_set(v, "result", json_object_get(v, "value"));
    json_object_del(v, "value");
    json_object_del(v, "name");
    node__dreq_ok(r, v);
}

void node__req_evaluate(struct dreq *r)
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
        node__dreq_fail(r, DAP_EINVAL, "evaluate needs \"expression\"");
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
        node__rcall(r, "Debugger.evaluateOnCallFrame", params, on_evaluate);
        return;
    }
    params = json_pack("{s:s, s:s, s:b, s:b, s:b}", "expression", expr,
                       "objectGroup", OBJECT_GROUP, "includeCommandLineAPI",
                       repl, "silent", !repl, "generatePreview", 1);
    if (hover)
        json_object_set_new(params, "throwOnSideEffect", json_true());
    node__rcall(r, "Runtime.evaluate", params, on_evaluate);
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
        node__dreq_fail(r, node__call_status(n), "%s", error);
        return;
    }
    if (json_object_get(result, "result") != NULL)
        ro = json_object_get(result, "result");
    v = adapter_cdp_variable_new("", ro, &refs);
    json_object_del(v, "name");
    node__dreq_ok(r, v);
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
        node__dreq_fail(r, node__call_status(n), "%s", error ? error : "the reference expired");
        return;
    }
    if (json_object_get(result, "exceptionDetails") != NULL) {
        char *t = adapter_cdp_exception_text(
            json_object_get(result, "exceptionDetails"));
        node__dreq_fail(r, DAP_EBACKEND, "%s", t ? t : "exception");
        free(t);
        return;
    }
    r->x.body = json_incref(ro);
    if (v->kind == REF_SCOPE && (frame = frame_at(n, v->frame + 1)) != NULL) {
        node__rcall(
                    r, "Debugger.setVariableValue",
                    json_pack("{s:i, s:s, s:o, s:s}", "scopeNumber", v->scope,
                              "variableName", name, "newValue", call_argument(ro),
                              "callFrameId",
                              json_string_value(json_object_get(frame, "callFrameId"))),
                    on_set_done);
        return;
    }
    node__rcall(r, "Runtime.callFunctionOn",
                json_pack("{s:s, s:s, s:[{s:s}, o], s:s}", "objectId", v->object_id,
                          "functionDeclaration",
                          "function (k, v) { this[k] = v; return this[k]; }",
                          "arguments", "value", name, call_argument(ro),
                          "objectGroup", OBJECT_GROUP),
                on_set_done);
}

void node__req_set_variable(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "variablesReference"));
    const char *value = json_string_value(json_object_get(r->x.args, "value"));
    struct varref *v = ref_get(n, ref);
    json_t *frame;

    if (v == NULL || value == NULL || v->kind == REF_GETTER) {
        node__dreq_fail(r, DAP_ESTALE, "setVariable: unknown or read-only variables "
                        "reference");
        return;
    }
    frame = frame_at(n, v->kind == REF_SCOPE ? v->frame + 1 : 1);
    if (frame != NULL)
        node__rcall(
                    r, "Debugger.evaluateOnCallFrame",
                    json_pack("{s:s, s:s, s:s, s:b}", "callFrameId",
                              json_string_value(json_object_get(frame, "callFrameId")),
                              "expression", value, "objectGroup", OBJECT_GROUP,
                              "silent", 1),
                    on_set_value);
    else
        node__rcall(r, "Runtime.evaluate",
                    json_pack("{s:s, s:s, s:b}", "expression", value, "objectGroup",
                              OBJECT_GROUP, "silent", 1),
                    on_set_value);
}

/* ---- other requests ---------------------------------------------------- */

void node__req_exception_info(struct dreq *r)
{
    struct node *n = r->n;
    json_t *e = n->exception;
    const char *desc = json_string_value(json_object_get(e, "description"));
    char *summary;
    const char *cls;

    if (e == NULL) {
        node__dreq_fail(r, DAP_ESTATE, "the program is not stopped on an exception");
        return;
    }
    summary = adapter_cdp_exception_summary(e);
    cls = json_string_value(json_object_get(e, "className"));
    node__dreq_ok(r,
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

