/* gdb_run.c - the gdb backend's execution: the all-stop world shown over
 * non-stop gdb (one stop reported once every thread stopped), gdb's async
 * records, threads, continue/step/pause and exceptionInfo. */
#define _GNU_SOURCE
#include "gdb_int.h"

/* ======================================================================
 * the world stop: all threads stopped, reported once
 * ==================================================================== */

static void world_timeout(uv_timer_t *t);
static void threads_mark(struct gdb *g, json_t *which, int run);
static void world_check(struct gdb *g);

/* Mark the threads a resume command resumes (tid 0: all) as running when
 * it is sent, not when gdb's *running comes: gdb runs commands in order,
 * so any command sent after it finds them running, and with_halt must
 * stop them first (else "Selected thread is running."). */
static void resume_sent(struct gdb *g, int tid)
{
    char id[24];
    json_t *which;

    if (tid > 0)
        snprintf(id, sizeof(id), "%d", tid);
    which = json_string(tid > 0 ? id : "all");
    threads_mark(g, which, 1);
    json_decref(which);
}

/* A resume gdb refused resumed nothing: every thread is stopped, as the
 * editor was shown before it. */
static void resume_refused(struct gdb *g)
{
    json_object_clear(g->thr_run);
    world_check(g);
}

static void resume_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    (void)arg;
    if (gdb__is_error(rec))
        resume_refused(r->g);
}

/* No thread runs any more: run what waited for that, resume the program
 * if it was stopped only for them. */
void gdb__halt_done(struct gdb *g)
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
        gdb__req_maybe_done(r);
    }
    /* Queued behind their commands, which gdb runs in order. */
    if (resume && (ir = gdb__req_new(g, "(resume)", NULL)) != NULL) {
        resume_sent(g, 0);
        MI(ir, resume_result, 0, "-exec-continue --all");
        gdb__req_maybe_done(ir);
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
        gdb__ev(g, "stopped", body);
    }
    if (g->halting)
        gdb__halt_done(g);
}

/* Run fn(r) once every thread is stopped: now if none runs, else after
 * stopping them all, and then resume them.  For what gdb cannot do to a
 * running program (watchpoints need a stopped thread). */
void gdb__with_halt(struct greq *r, req_fn *fn)
{
    struct gdb *g = r->g;
    struct greq *ir;

    if (g->exited || json_object_size(g->thr_run) == 0) {
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
    ir = gdb__req_new(g, "(interrupt)", NULL);
    if (ir != NULL) {
        MI(ir, gdb__ignore_result, 0, "-exec-interrupt --all");
        gdb__req_maybe_done(ir);
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
        r = gdb__req_new(g, "(interrupt)", NULL);
        if (r != NULL) {
            MI(r, gdb__ignore_result, 0, "-exec-interrupt --all");
            gdb__req_maybe_done(r);
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

json_t *gdb__source_of(json_t *frame)
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
json_t *gdb__bp_from_mi(json_t *bkpt)
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
    src = gdb__source_of(loc);
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
int gdb__bp_note(struct gdb *g, json_t *b)
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

    gdb__refs_clear(g);
    if (json_array_size(g->roots) == 0)
        return;
    r = gdb__req_new(g, "(var-delete)", NULL);
    if (r == NULL)
        return;
    json_array_foreach(g->roots, i, v)
        MI(r, gdb__ignore_result, 0, "-var-delete %q", json_string_value(v));
    json_array_clear(g->roots);
    gdb__req_maybe_done(r);
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
        code = 128 + gdb__signo_of(sig);
        snprintf(text, sizeof(text), "program terminated by %s (%s)\n",
                 sig ? sig : "a signal",
                 adapter_mi_str(res, "signal-meaning")
                     ? adapter_mi_str(res, "signal-meaning")
                     : "?");
    } else {
        snprintf(text, sizeof(text), "program exited normally\n");
    }
    gdb__output(g, "console", text);
    gdb__ev(g, "exited", json_pack("{s:I}", "exitCode", (json_int_t)code));
    gdb__ev(g, "terminated", NULL);
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
            gdb__halt_done(g);
        return;
    }
    if (g->state == G_STARTING && g->settling &&
        json_object_size(g->thr_run) == 0) {
        gdb__start_settled(g);
        return;
    }
    if (g->state == G_STOPPING) {
        g->running = 0;
        gdb__stop_continue(g);
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
        gdb__halt_done(g);
    /* gdb is no use without its target: let it go, then report. */
    r = gdb__req_new(g, "(exit)", NULL);
    if (r == NULL)
        return;
    MI(r, gdb__ignore_result, 0, "-gdb-exit");
    gdb__req_maybe_done(r);
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
            gdb__ev(g, "thread",
                    json_pack("{s:s, s:I}", "reason",
                              rec->cls[7] == 'c' ? "started" : "exited",
                              "threadId", (json_int_t)id));
    } else if (strcmp(rec->cls, "breakpoint-modified") == 0) {
        json_t *b = gdb__bp_from_mi(json_object_get(res, "bkpt"));
        char key[32];
        snprintf(key, sizeof(key), "%lld",
                 (long long)json_integer_value(json_object_get(b, "id")));
        if (json_object_get(g->bpstate, key) != NULL && gdb__bp_note(g, b))
            gdb__ev(g, "breakpoint", adapter_xlate_bp_changed_new(b));
        else
            json_decref(b);
    } else if (strcmp(rec->cls, "breakpoint-deleted") == 0) {
        const char *id = adapter_mi_str(res, "id");
        if (id != NULL && json_object_get(g->bpstate, id) != NULL) {
            json_object_del(g->bpstate, id);
            gdb__ev(g, "breakpoint",
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
                gdb__ev(g, "output", adapter_xlate_output_new("console", s));
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
        gdb__cmd_complete(g, lost, NULL, DAP_EPROTO,
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
            gdb__cmd_complete(g, c, rec, 0, NULL);
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
            gdb__output(g, "stdout", rec->text);
        return;
    case ADAPTER_MI_LOG:
        DAP_LOGD("gdb log: %s", rec->text);
        if (g->head != NULL && g->head->capture)
            gdb__bput(&g->head->console, rec->text, rec->text_len);
        if (strncmp(rec->text, "Remote connection closed", 24) == 0 ||
            strstr(rec->text, "Target disconnected") != NULL ||
            strstr(rec->text, "Remote communication error") != NULL)
            lost_connection(g, "Remote connection closed");
        return;
    default:
        return;
    }
}

void gdb__on_line(void *data, const char *line, size_t len)
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
            gdb__cmd_complete(g, c, NULL, DAP_EPROTO, why);
    } else {
        DAP_LOGD("gdb printed a non-MI line: %s", err.msg);
    }
    adapter_mi_record_cleanup(&rec);
}

void gdb__on_err_line(void *data, const char *line, size_t len)
{
    struct gdb *g = data;

    DAP_LOGW("gdb %s stderr: %.*s", g->a ? g->a->name : "?",
             (int)(len > 1000 ? 1000 : len), line);
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
    if (gdb__is_error(rec)) {
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

void gdb__req_threads(struct greq *r)
{
    if (r->g->exited) {
        json_object_set_new(r->x.body, "threads", json_array());
        return;
    }
    MI(r, threads_result, 0, "-thread-info");
}

/* ---- execution ---- */

static void resumed(struct greq *r, struct adapter_mi_record *rec, long arg)
{
    if (!gdb__ok(r, rec)) {
        resume_refused(r->g);
        return;
    }
    r->g->running = 1;
    if (arg)
        json_object_set_new(r->x.body, "allThreadsContinued", json_true());
}

void gdb__req_resume(struct greq *r)
{
    struct gdb *g = r->g;
    const char *cmd = r->x.command;
    int tid = (int)adapter__arg_int(r->x.args, "threadId", 0, INT_MAX, 0);
    const char *gran = adapter_mi_str(r->x.args, "granularity");
    int insn = gran != NULL && strcmp(gran, "instruction") == 0;

    if (g->exited) {
        gdb__fail(r, DAP_ESTATE, "the program is not running any more");
        return;
    }
    g->pause_requested = 0;
    resume_sent(g, strcmp(cmd, "continue") == 0 ? 0 : tid);
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

void gdb__req_pause(struct greq *r)
{
    struct gdb *g = r->g;

    if (!g->running || g->exited)
        return; /* already stopped: nothing to do */
    g->pause_requested = 1;
    MI(r, gdb__check_result, 0, "-exec-interrupt --all");
}

void gdb__req_configuration_done(struct greq *r)
{
    struct gdb *g = r->g;

    g->configured = 1;
    if (g->stop_at_connect || g->exited || g->running) {
        if (g->stop_at_connect && !g->running && !g->exited)
            gdb__ev(g, "stopped",
                    adapter_xlate_stopped_new("entry",
                                              g->cur_thread > 0 ? g->cur_thread
                                                                : 1,
                                              "stopped at attach"));
        return;
    }
    resume_sent(g, 0);
    MI(r, resumed, 1, "-exec-continue --all");
}

/* ---- exceptionInfo ---- */

void gdb__req_exception_info(struct greq *r)
{
    json_t *exc = r->g->exc;

    if (exc == NULL) {
        gdb__fail(r, DAP_ESTATE, "the thread did not stop for a signal");
        return;
    }
    json_object_set_new(r->x.body, "exceptionId",
                        json_incref(json_object_get(exc, "name")));
    json_object_set_new(r->x.body, "description",
                        json_incref(json_object_get(exc, "meaning")));
    json_object_set_new(r->x.body, "breakMode", json_string("always"));
}

void gdb__req_set_exception_bps(struct greq *r)
{
    /* gdb stops for signals by its own table (`handle`); nothing to set. */
    (void)r;
}

