/* gdb_bp.c - the gdb backend's breakpoints: source, function and data
 * breakpoints, log points as dprintf, conditions and hit counts. */
#define _GNU_SOURCE
#include "gdb_int.h"

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

    if (gdb__is_error(rec)) {
        json_array_set_new(out, (size_t)i,
                           json_pack("{s:b, s:s, s:s}", "verified", 0,
                                     "message", gdb__rec_msg(rec), "reason",
                                     "failed"));
        json_object_set_new(entry, "num", json_integer(0));
        return;
    }
    b = gdb__bp_from_mi(json_object_get(rec->results, "bkpt"));
    json_object_set_new(entry, "num",
                        json_incref(json_object_get(b, "id")));
    json_object_set_new(entry, "last", json_deep_copy(b));
    gdb__bp_note(r->g, b);
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
    gdb__mi_send(r, bp_insert_result, (long)i, 0, &b);
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
    gdb__bput(&del, "-break-delete", 13);
    json_array_foreach(old, k, e)
    {
        long long num = json_integer_value(json_object_get(e, "num"));
        char key[32];
        if (json_is_true(json_array_get(claimed, k)) || num <= 0)
            continue;
        gdb__bnum(&del, num);
        snprintf(key, sizeof(key), "%lld", num);
        json_object_del(r->g->bpstate, key);
    }
    if (del.len > 13)
        gdb__mi_send(r, gdb__ignore_result, 0, 0, &del);
    dap_buf_cleanup(&del);
    json_array_foreach(wants, i, want)
    {
        if (json_array_get(out, i) == NULL || json_is_null(json_array_get(out, i)))
            bp_insert(r, i, want, path,
                      function ? adapter_mi_str(want, "name") : NULL);
    }
    json_decref(claimed);
}

/* The entries of r->tmp gdb set (a breakpoint number): what to remember. */
static json_t *bps_set_new(struct greq *r)
{
    json_t *keep = json_array();
    json_t *e;
    size_t i;

    json_array_foreach(r->tmp, i, e)
    {
        if (json_integer_value(json_object_get(e, "num")) > 0)
            json_array_append(keep, e);
    }
    return keep;
}

static void src_bps_finish(struct greq *r)
{
    const char *path = adapter_mi_str(json_object_get(r->x.args, "source"),
                                      "path");
    json_t *keep = bps_set_new(r);

    if (json_array_size(keep) > 0)
        json_object_set_new(r->g->src_bps, path, keep);
    else {
        json_object_del(r->g->src_bps, path);
        json_decref(keep);
    }
}

/* Breakpoint changes go in while the program runs (non-stop). */
void gdb__req_set_breakpoints(struct greq *r)
{
    const char *path = adapter_mi_str(json_object_get(r->x.args, "source"),
                                      "path");

    if (path == NULL) {
        gdb__fail(r, DAP_EINVAL, "setBreakpoints needs source.path");
        return;
    }
    bps_apply(r, json_object_get(r->g->src_bps, path), path, 0);
    r->finish = src_bps_finish;
}

static void fn_bps_finish(struct greq *r)
{
    json_decref(r->g->fn_bps);
    r->g->fn_bps = bps_set_new(r);
}

void gdb__req_set_function_breakpoints(struct greq *r)
{
    bps_apply(r, r->g->fn_bps, NULL, 1);
    r->finish = fn_bps_finish;
}

/* ---- data breakpoints ---- */

void gdb__req_data_bp_info(struct greq *r)
{
    struct gdb *g = r->g;
    json_t *vref = json_object_get(r->x.args, "variablesReference");
    const char *name = adapter_mi_str(r->x.args, "name");
    const char *expr = name;
    int thread = 0, level = 0;
    char *id = NULL;

    if (vref != NULL && json_integer_value(vref) != 0) {
        struct ref *ref = gdb__ref_get(g, vref);
        json_t *kid;
        if (ref == NULL) {
            gdb__fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
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
        if (gdb__frame_of(r, json_object_get(r->x.args, "frameId")) < 0)
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
        gdb__fail(r, DAP_ENOMEM, "out of memory");
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

    if (gdb__is_error(rec)) {
        json_object_set_new(b, "message", json_string(gdb__rec_msg(rec)));
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

    if (gdb__is_error(rec)) {
        json_array_set_new(out, (size_t)i,
                           json_pack("{s:b, s:s}", "verified", 0, "message",
                                     gdb__rec_msg(rec)));
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

/* A thread gdb has and kdap knows stopped: the last one reported, else
 * any; 0 if none. */
static int stopped_thread(struct gdb *g)
{
    char id[24];
    const char *k;
    json_t *v;

    snprintf(id, sizeof(id), "%d", g->cur_thread);
    if (g->cur_thread > 0 && json_object_get(g->threads, id) != NULL &&
        json_object_get(g->thr_run, id) == NULL)
        return g->cur_thread;
    json_object_foreach(g->threads, k, v)
    {
        if (json_object_get(g->thr_run, k) == NULL)
            return atoi(k);
    }
    return 0;
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
    gdb__bput(&del, "-break-delete", 13);
    json_array_foreach(g->data_bps, i, n)
    {
        char key[32];
        snprintf(key, sizeof(key), "%lld", (long long)json_integer_value(n));
        json_object_del(g->bpstate, key);
        gdb__bnum(&del, (long long)json_integer_value(n));
    }
    json_array_clear(g->data_bps);
    if (del.len > 13)
        gdb__mi_send(r, gdb__ignore_result, 0, 0, &del);
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
        /* A global needs no frame, yet a stopped thread: gdb's selected
         * one may have exited or be another's in non-stop. */
        if (thread > 0)
            snprintf(opts, sizeof(opts), "--thread %d --frame %d ", thread,
                     level);
        else if (stopped_thread(g) > 0)
            snprintf(opts, sizeof(opts), "--thread %d ", stopped_thread(g));
        MI(r, watch_result, (long)i, "-break-watch %s%s%q", opts, flag,
           id + used);
    }
}

void gdb__req_set_data_bps(struct greq *r)
{
    gdb__with_halt(r, set_data_bps_halted);
}

