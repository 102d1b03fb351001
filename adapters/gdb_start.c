/* gdb_start.c - the gdb backend's configuration (the service's keys) and
 * its attach sequence: spawn gdb, load the program, connect to gdbserver,
 * setupCommands, wait until every thread stopped. */
#define _GNU_SOURCE
#include "gdb_int.h"

/* ======================================================================
 * configuration and start
 * ==================================================================== */

int gdb__new(adapter *a, json_t *cfg, struct dap_error *err)
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
    g->sysroot = gdb__xstrdup(adapter_mi_str(cfg, "sysroot"));
    g->solib_path = gdb__xstrdup(adapter_mi_str(cfg, "solibSearchPath"));
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
    adapter_xrefs_init(&g->refs, gdb__ref_free);
    adapter_mi_reader_init(&g->reader, MAX_LINE);
    adapter_mi_reader_init(&g->errreader, 64 * 1024);
    dap_buf_init(&g->conbuf, 1u << 20);
    uv_timer_init(a->loop, &g->timer);
    adapter_xlate_init(&g->xl, a->loop, gdb__complete_cb, NULL, g);
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
    r = gdb__req_new(g, "(exit)", NULL);
    if (r == NULL)
        return;
    MI(r, gdb__ignore_result, 0, "-target-detach");
    MI(r, gdb__ignore_result, 0, "-gdb-exit");
    gdb__req_maybe_done(r);
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
    if (gdb__is_error(rec)) {
        snprintf(msg, sizeof(msg), "gdb could not attach: %s", gdb__rec_msg(rec));
        start_fail(g, DAP_EBACKEND, msg);
        return;
    }
    /* Connected in non-stop mode, gdb takes the threads it was not told
     * about as running: have them all stopped (they are, or are made so),
     * so that everything the editor does next finds them stopped. */
    g->settling = 1;
    if (json_object_size(g->thr_run) > 0)
        MI(r, gdb__settle_wait, 0, "-exec-interrupt --all");
    else
        gdb__start_settled(g);
}

static void settle_timeout(uv_timer_t *t)
{
    struct gdb *g = t->data;

    if (g->state != G_STARTING || !g->settling)
        return;
    DAP_LOGW("service %s: %zu threads did not report their stop; going on",
             g->a->name, json_object_size(g->thr_run));
    json_object_clear(g->thr_run);
    gdb__start_settled(g);
}

void gdb__settle_wait(struct greq *r, struct adapter_mi_record *rec,
                      long arg)
{
    struct gdb *g = r->g;

    (void)arg;
    if (g->state != G_STARTING || !g->settling)
        return;
    if (gdb__is_error(rec)) {
        start_fail(g, DAP_EBACKEND, "gdb could not stop the program's "
                                    "threads after attaching");
        return;
    }
    uv_timer_start(&g->timer, settle_timeout, HALT_WAIT_MS, 0);
}

void gdb__start_settled(struct gdb *g)
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
    if (gdb__is_error(rec)) {
        snprintf(msg, sizeof(msg),
                 "gdb could not connect to gdbserver at %s: %s. Is "
                 "gdbserver listening there (gdbserver --attach "
                 "127.0.0.1:PORT PID)?",
                 g->connect, gdb__rec_msg(rec));
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
    if ((r->x.status < 0) || gdb__is_error(rec)) {
        snprintf(msg, sizeof(msg), "%s%s",
                 (r->x.status < 0) ? r->x.msg : "gdb cannot load \"program\": ",
                 (r->x.status < 0) ? "" : gdb__rec_msg(rec));
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

    if (!gdb__is_error(rec))
        return;
    if (json_is_true(json_object_get(c, "ignoreFailures"))) {
        DAP_LOGI("setup command \"%s\" failed (ignored): %s", text,
                 gdb__rec_msg(rec));
        return;
    }
    gdb__fail(r, DAP_EBACKEND, "setupCommands[%ld] \"%s\" failed: %s", arg, text,
              gdb__rec_msg(rec));
}

/* A CLI argument: quoted when it has blanks or quotes. */
static void cli_arg(dap_buf *b, const char *s)
{
    if (strpbrk(s, " \t\"'\\") == NULL && *s != '\0') {
        gdb__bput(b, s, strlen(s));
        return;
    }
    gdb__bput(b, "\"", 1);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            gdb__bput(b, "\\", 1);
        gdb__bput(b, s, 1);
    }
    gdb__bput(b, "\"", 1);
}

static void cli_set(struct greq *r, const char *what, const char *value)
{
    dap_buf cli;

    dap_buf_init(&cli, 65536);
    gdb__bput(&cli, what, strlen(what));
    gdb__bput(&cli, value, strlen(value));
    MI(r, gdb__check_result, 0, "-interpreter-exec console %q",
       cli.data != NULL ? cli.data : "");
    dap_buf_cleanup(&cli);
}

int gdb__start(adapter *a)
{
    struct gdb *g = a->impl;
    struct dap_error err;
    struct greq *r;
    const char *from;
    json_t *to;
    json_t *c;
    size_t i;

    g->state = G_STARTING;
    if (gdb__spawn_gdb(g, &err) < 0) {
        DAP_LOGE("service %s: %s", a->name, err.msg);
        g->state = G_CLOSED;
        return err.code;
    }
    uv_timer_start(&g->timer, start_timeout, START_TIMEOUT_MS, 0);
    r = gdb__req_new(g, "(start)", NULL);
    if (r == NULL)
        return DAP_ENOMEM;
    MI(r, gdb__check_result, 0, "-gdb-set mi-async on");
    MI(r, gdb__check_result, 0, "-gdb-set non-stop on");
    MI(r, gdb__ignore_result, 0, "-gdb-set pagination off");
    MI(r, gdb__ignore_result, 0, "-gdb-set width 0");
    MI(r, gdb__ignore_result, 0, "-gdb-set height 0");
    MI(r, gdb__ignore_result, 0, "-gdb-set confirm off");
    MI(r, gdb__ignore_result, 0, "-gdb-set print object on");
    MI(r, gdb__ignore_result, 0, "-enable-pretty-printing");
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
        gdb__bput(&cli, "set substitute-path ", 20);
        cli_arg(&cli, from);
        gdb__bput(&cli, " ", 1);
        cli_arg(&cli, json_string_value(to));
        MI(r, gdb__check_result, 0, "-interpreter-exec console %q",
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
    gdb__req_maybe_done(r);
    return 0;
}

