/* test_multi.c - one session over several services, with the fake backend
 * (tests/fake): id remapping, stale ids, fan-out and merging, event
 * routing, backend errors, a backend dying mid-request, disconnect, and
 * the attach state machine of services with a target, driven through the
 * orchestration's callbacks by a stand-in for the cluster.  The
 * editor side is the session's public interface (framed DAP bytes in,
 * framed DAP bytes out); no debugger, no cluster. */
#include <errno.h>
#include <uv.h>

#include <unistd.h>

#include "adapters/adapter.h"
#include "attach/attach.h"
#include "dap/session.h"
#include "tests/fake/editor.h"
#include "tests/fake/fake_backend.h"
#include "tests/test.h"

static uv_loop_t *loop;
static dap_session *sess;
static json_t *inbox;     /* messages from the session not yet taken */
static json_t *answered;  /* request_seq -> number of responses */
static int next_seq = 1;

/* Parse what the session wrote into the inbox, counting responses. */
static void collect(void)
{
    json_t *all = editor_drain();
    json_t *m;
    size_t i;

    json_array_foreach(all, i, m)
    {
        if (json_object_get(m, "request_seq") != NULL) {
            char key[32];
            snprintf(key, sizeof(key), "%lld",
                     (long long)json_integer_value(
                         json_object_get(m, "request_seq")));
            json_int_t c = json_integer_value(json_object_get(answered, key));
            ASSERT_EQ(c, 0); /* one response per request */
            json_object_set_new(answered, key, json_integer(c + 1));
        }
        json_array_append(inbox, m);
    }
    json_decref(all);
}

/* How many responses request `seq` got so far. */
static int answered_count(int seq)
{
    char key[32];

    snprintf(key, sizeof(key), "%d", seq);
    return (int)json_integer_value(json_object_get(answered, key));
}

static void pump(void)
{
    uv_run(loop, UV_RUN_NOWAIT);
    collect();
}

/* The first message in the inbox matching (type, name) and, for a
 * response, request_seq; taken out.  Runs the loop until it comes (at most
 * two seconds). */
static json_t *take(const char *type, const char *name, int seq)
{
    uint64_t deadline = uv_now(loop) + 2000;

    for (;;) {
        json_t *m;
        size_t i;
        json_array_foreach(inbox, i, m)
        {
            const char *k = strcmp(type, "event") == 0 ? "event" : "command";
            if (strcmp(json_string_value(json_object_get(m, "type")), type) !=
                    0 ||
                (name != NULL &&
                 strcmp(json_string_value(json_object_get(m, k)), name) != 0) ||
                (seq > 0 && json_integer_value(json_object_get(
                                m, "request_seq")) != seq))
                continue;
            json_incref(m);
            json_array_remove(inbox, i);
            return m;
        }
        uv_update_time(loop);
        if (uv_now(loop) > deadline) {
            fprintf(stderr, "no %s %s (seq %d) came; inbox: %s\n", type,
                    name ? name : "", seq, json_dumps(inbox, JSON_COMPACT));
            exit(1);
        }
        uv_run(loop, UV_RUN_ONCE);
        collect();
    }
}

/* Send a request; returns its seq. */
static int send_req(const char *command, json_t *args_new)
{
    json_t *m = json_pack("{s:i, s:s, s:s}", "seq", next_seq, "type",
                          "request", "command", command);
    char *text;

    if (args_new != NULL)
        json_object_set_new(m, "arguments", args_new);
    text = json_dumps(m, JSON_COMPACT);
    editor_send(sess, text);
    free(text);
    json_decref(m);
    return next_seq++;
}

/* Send a request and wait for its response, which must succeed (ok 1) or
 * fail (ok 0). */
static json_t *call(const char *command, json_t *args_new, int ok)
{
    int seq = send_req(command, args_new);
    json_t *r = take("response", command, seq);

    if (json_is_true(json_object_get(r, "success")) != ok) {
        fprintf(stderr, "%s: unexpected %s\n", command,
                json_dumps(r, JSON_COMPACT));
        exit(1);
    }
    return r;
}

static json_t *body(json_t *m)
{
    return json_object_get(m, "body");
}

static json_int_t ival(json_t *o, const char *key)
{
    ASSERT(json_is_integer(json_object_get(o, key)));
    return json_integer_value(json_object_get(o, key));
}

static const char *error_text(json_t *r)
{
    return json_string_value(
        json_object_get(json_object_get(body(r), "error"), "format"));
}

static void assert_contains(const char *hay, const char *needle)
{
    if (hay == NULL || strstr(hay, needle) == NULL) {
        fprintf(stderr, "\"%s\" lacks \"%s\"\n", hay ? hay : "(null)",
                needle);
        exit(1);
    }
}

/* A new session attached to services a, b, c (fake), each with threads 1
 * and 2; `delays` gives each one's answer delay in ms. */
static void attach3(const int delays[3])
{
    const char *names[] = {"a", "b", "c"};
    json_t *svcs = json_array();
    json_t *r;

    editor_init();
    ASSERT_OK(dap_session_new(loop, &editor_callbacks, &sess));
    inbox = json_array();
    answered = json_object();
    for (int i = 0; i < 3; i++)
        json_array_append_new(
            svcs, json_pack("{s:s, s:s, s:s, s:{s:[i,i], s:i}}", "name",
                            names[i], "runtime", "fake", "connect", "x:1",
                            "fake", "threads", 1, 2, "delayMs", delays[i]));
    json_decref(call("initialize", json_pack("{s:s}", "adapterID", "kdap"), 1));
    r = call("attach", json_pack("{s:o}", "services", svcs), 1);
    json_decref(r);
    json_decref(take("event", "initialized", 0));
}

static void end_session(void)
{
    dap_session_free(sess);
    sess = NULL;
    uv_run(loop, UV_RUN_DEFAULT); /* every handle closes */
    json_decref(inbox);
    json_decref(answered);
    editor_cleanup();
}

/* The editor's thread id of service `svc`'s thread `tid`, from a threads
 * response (names are "svc: t<tid>"). */
static json_int_t thread_of(json_t *threads, const char *svc, int tid)
{
    char want[64];
    json_t *t;
    size_t i;

    snprintf(want, sizeof(want), "%s: t%d", svc, tid);
    json_array_foreach(threads, i, t)
    {
        if (strcmp(json_string_value(json_object_get(t, "name")), want) == 0)
            return ival(t, "id");
    }
    fprintf(stderr, "no thread %s\n", want);
    exit(1);
}

static json_t *threads(void)
{
    json_t *r = call("threads", NULL, 1);
    json_t *t = json_incref(json_object_get(body(r), "threads"));

    json_decref(r);
    return t;
}

static void assert_distinct(const json_int_t *ids, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            ASSERT(ids[i] != ids[j]);
}

/* ---- tests ------------------------------------------------------------- */

static void test_registry(void)
{
    ASSERT_OK(fake_backend_register());
    ASSERT_EQ(fake_backend_register(), -EEXIST);
    ASSERT(adapter_kind_find("fake") != NULL);
    ASSERT(adapter_kind_find("go") != NULL); /* built-ins still there */
    assert_contains(adapter_kind_names(), "go, gdb, node, python, fake");
}

/* Every id the backends hand out (all alike: thread 1, frame 11,
 * variablesReference 110, sourceReference 7) gets its own editor id, and
 * each editor id finds its way back to its service's own id. */
static void test_remap(void)
{
    const int delays[3] = {0, 3, 1};
    const char *names[] = {"a", "b", "c"};
    json_int_t tids[6], fids[3], vrefs[3], srefs[3];
    json_t *ts;

    attach3(delays);
    ts = threads();
    ASSERT_EQ(json_array_size(ts), 6); /* merged from three */
    for (int i = 0; i < 3; i++) {
        tids[2 * i] = thread_of(ts, names[i], 1);
        tids[2 * i + 1] = thread_of(ts, names[i], 2);
    }
    assert_distinct(tids, 6);
    for (int i = 0; i < 3; i++) {
        fake_backend *f = fake_backend_find(names[i]);
        json_t *r, *fr, *v;
        char want[32];

        r = call("stackTrace", json_pack("{s:I}", "threadId", tids[2 * i + 1]),
                 1);
        ASSERT_EQ(ival(fake_backend_last(f, "stackTrace"), "threadId"), 2);
        fr = json_array_get(json_object_get(body(r), "stackFrames"), 0);
        snprintf(want, sizeof(want), "%s.f2", names[i]);
        ASSERT_STR_EQ(json_string_value(json_object_get(fr, "name")), want);
        fids[i] = ival(fr, "id");
        srefs[i] = ival(json_object_get(fr, "source"), "sourceReference");
        json_decref(r);

        r = call("scopes", json_pack("{s:I}", "frameId", fids[i]), 1);
        ASSERT_EQ(ival(fake_backend_last(f, "scopes"), "frameId"), 21);
        vrefs[i] = ival(json_array_get(json_object_get(body(r), "scopes"), 0),
                        "variablesReference");
        json_decref(r);

        r = call("variables", json_pack("{s:I}", "variablesReference",
                                        vrefs[i]),
                 1);
        v = json_object_get(body(r), "variables");
        ASSERT_STR_EQ(json_string_value(json_object_get(
                          json_array_get(v, 0), "value")),
                      names[i]);
        ASSERT_STR_EQ(json_string_value(json_object_get(
                          json_array_get(v, 1), "value")),
                      "210");
        json_decref(r);
    }
    assert_distinct(fids, 3);
    assert_distinct(vrefs, 3);
    assert_distinct(srefs, 3);
    for (int i = 0; i < 3; i++) {
        char want[32];
        json_t *r = call("source",
                         json_pack("{s:I, s:{s:I}}", "sourceReference",
                                   srefs[i], "source", "sourceReference",
                                   srefs[i]),
                         1);
        snprintf(want, sizeof(want), "%s:7", names[i]);
        ASSERT_STR_EQ(json_string_value(json_object_get(body(r), "content")),
                      want);
        json_decref(r);
    }

    /* Continuing service b makes its frame and variable ids stale (they
     * fail, not name something else); a's stay valid. */
    json_decref(call("continue", json_pack("{s:I}", "threadId", tids[2]), 1));
    ASSERT_EQ(ival(fake_backend_last(fake_backend_find("b"), "continue"),
                   "threadId"),
              1);
    json_t *r = call("scopes", json_pack("{s:I}", "frameId", fids[1]), 0);
    ASSERT_EQ(ival(json_object_get(body(r), "error"), "id"), 1006);
    json_decref(r);
    json_decref(call("variables",
                     json_pack("{s:I}", "variablesReference", vrefs[1]), 0));
    json_decref(call("scopes", json_pack("{s:I}", "frameId", fids[0]), 1));
    json_decref(ts);
    end_session();
}

/* Requests without an id go to every service and come back as one answer. */
static void test_fanout(void)
{
    const int delays[3] = {4, 0, 2};
    const char *names[] = {"a", "b", "c"};
    json_t *r, *bps, *ev;
    json_int_t ids[2];

    attach3(delays);
    r = call("setBreakpoints",
             json_pack("{s:{s:s}, s:[{s:i}, {s:i}]}", "source", "path",
                       "/src/main.c", "breakpoints", "line", 10, "line", 20),
             1);
    bps = json_object_get(body(r), "breakpoints");
    ASSERT_EQ(json_array_size(bps), 2);
    for (size_t i = 0; i < 2; i++) {
        ASSERT(json_is_true(json_object_get(json_array_get(bps, i),
                                            "verified")));
        ids[i] = ival(json_array_get(bps, i), "id");
    }
    ASSERT(ids[0] != ids[1]);
    json_decref(r);
    for (int i = 0; i < 3; i++) {
        json_t *a = fake_backend_last(fake_backend_find(names[i]),
                                      "setBreakpoints");
        ASSERT(a != NULL);
        ASSERT_EQ(json_array_size(json_object_get(a, "breakpoints")), 2);
    }
    /* Backend c's breakpoint 2 is the editor's second breakpoint. */
    fake_backend_event(fake_backend_find("c"), "breakpoint",
                       json_pack("{s:s, s:{s:i, s:b}}", "reason", "changed",
                                 "breakpoint", "id", 2, "verified", 1));
    ev = take("event", "breakpoint", 0);
    ASSERT_EQ(ival(json_object_get(body(ev), "breakpoint"), "id"), ids[1]);
    json_decref(ev);

    /* Exception filters are split by runtime prefix. */
    json_decref(call("setExceptionBreakpoints",
                     json_pack("{s:[s, s]}", "filters", "fake:all",
                               "node:uncaught"),
                     1));
    for (int i = 0; i < 3; i++) {
        json_t *a = fake_backend_last(fake_backend_find(names[i]),
                                      "setExceptionBreakpoints");
        ASSERT(a != NULL);
        ASSERT_EQ(json_array_size(json_object_get(a, "filters")), 1);
        ASSERT_STR_EQ(json_string_value(json_array_get(
                          json_object_get(a, "filters"), 0)),
                      "all");
    }
    /* One service refusing fails the request, naming it. */
    ASSERT_OK(fake_backend_fail(fake_backend_find("b"),
                                "setExceptionBreakpoints", "no such filter"));
    r = call("setExceptionBreakpoints",
             json_pack("{s:[s]}", "filters", "fake:all"), 0);
    assert_contains(error_text(r), "service \"b\": no such filter");
    json_decref(r);

    json_decref(call("configurationDone", NULL, 1));
    for (int i = 0; i < 3; i++)
        ASSERT(fake_backend_last(fake_backend_find(names[i]),
                                 "configurationDone") != NULL);
    end_session();
}

/* A stop in one service names that service's thread, in editor ids; a
 * backend's error reaches the editor as an error response. */
static void test_events_and_errors(void)
{
    const int delays[3] = {0, 0, 0};
    json_t *ts, *ev, *r;
    json_int_t c2;
    int seq, status;

    attach3(delays);
    ts = threads();
    c2 = thread_of(ts, "c", 2);
    fake_backend_event(fake_backend_find("c"), "stopped",
                       json_pack("{s:s, s:i}", "reason", "breakpoint",
                                 "threadId", 2));
    ev = take("event", "stopped", 0);
    ASSERT_EQ(ival(body(ev), "threadId"), c2);
    /* a and b still run */
    ASSERT(json_is_false(json_object_get(body(ev), "allThreadsStopped")));
    json_decref(ev);

    fake_backend_event(fake_backend_find("a"), "output",
                       json_pack("{s:s, s:s}", "category", "stdout", "output",
                                 "hello\n"));
    /* kdap's own "attached" notes come first */
    while (strcmp(json_string_value(json_object_get(
                      body(ev = take("event", "output", 0)), "category")),
                  "stdout") != 0)
        json_decref(ev);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(ev), "output")),
                  "hello\n");
    json_decref(ev);

    ASSERT_OK(fake_backend_fail(fake_backend_find("c"), "evaluate",
                                "not stopped here"));
    /* By thread: the stack of c's thread, then evaluate in its frame. */
    r = call("stackTrace", json_pack("{s:I}", "threadId", c2), 1);
    json_int_t fid = ival(
        json_array_get(json_object_get(body(r), "stackFrames"), 0), "id");
    json_decref(r);
    seq = send_req("evaluate",
                   json_pack("{s:s, s:I}", "expression", "x", "frameId", fid));
    r = take("response", "evaluate", seq);
    ASSERT(json_is_false(json_object_get(r, "success")));
    assert_contains(error_text(r), "not stopped here");
    ASSERT_EQ(ival(json_object_get(body(r), "error"), "id"), 1009);
    json_decref(r);

    /* c continues on its own: the event names c's thread, and c's frame
     * ids are stale from then on. */
    fake_backend_event(fake_backend_find("c"), "continued",
                       json_pack("{s:i}", "threadId", 2));
    ev = take("event", "continued", 0);
    ASSERT_EQ(ival(body(ev), "threadId"), c2);
    ASSERT(json_is_false(json_object_get(body(ev), "allThreadsContinued")));
    json_decref(ev);
    r = call("scopes", json_pack("{s:I}", "frameId", fid), 0);
    ASSERT_EQ(ival(json_object_get(body(r), "error"), "id"), 1006);
    json_decref(r);

    /* A backend dying with a request in flight: that request fails once,
     * the service's threads exit, the others go on. */
    fake_backend_hold(fake_backend_find("b"), 1);
    seq = send_req("stackTrace",
                   json_pack("{s:I}", "threadId", thread_of(ts, "b", 1)));
    pump();
    fake_backend_die(fake_backend_find("b"), "killed");
    r = take("response", "stackTrace", seq);
    ASSERT(json_is_false(json_object_get(r, "success")));
    assert_contains(error_text(r), "went away");
    json_decref(r);
    ev = take("event", "thread", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(ev), "reason")),
                  "exited");
    json_decref(ev);
    r = call("stackTrace", json_pack("{s:I}", "threadId", thread_of(ts, "b", 2)),
             0);
    json_decref(r);
    json_decref(call("stackTrace", json_pack("{s:I}", "threadId", c2), 1));
    for (int i = 0; i < 5; i++)
        pump(); /* the reaper runs; nothing answers twice (collect) */
    ASSERT_NULL(fake_backend_find("b"));
    json_decref(ts);

    /* Disconnect reaches every live backend; one response. */
    seq = send_req("disconnect", json_pack("{s:b}", "terminateDebuggee", 0));
    /* Each backend was told at once (it is freed once it has stopped). */
    for (int i = 0; i < 2; i++) {
        json_t *a = fake_backend_last(fake_backend_find(i == 0 ? "a" : "c"),
                                      "(stop)");
        ASSERT(a != NULL);
        ASSERT(json_is_false(json_object_get(a, "terminate")));
    }
    r = take("response", "disconnect", seq);
    ASSERT(json_is_true(json_object_get(r, "success")));
    json_decref(r);
    for (int i = 0; i < 5 && editor_finished(NULL) == 0; i++)
        pump();
    ASSERT_EQ(editor_finished(&status), 1);
    ASSERT_OK(status);
    end_session();
}


/* ---- the attach state machine ------------------------------------------ */

/* The stand-in for the cluster (struct attach_ops): it does nothing by
 * itself; the test reports through the callbacks the session gave it, as
 * attach/attach.c does. */
struct attach_svc {
    uint32_t id;
    char name[32];
    struct attach_callbacks cb;
    json_t *cfg;
    int attached;
};

static struct attach_svc *standins[4]; /* by start order; NULL once freed */
static int nstandins, standins_freed;
static char kubeconfig[64];

static int standin_start(uv_loop_t *l, kube_client *kube, uint32_t id,
                         const char *name, json_t *cfg,
                         const struct attach_callbacks *cb, attach_svc **out,
                         struct dap_error *err)
{
    struct attach_svc *a;

    (void)l;
    ASSERT(kube != NULL); /* the session's cluster, from the kubeconfig */
    if (json_object_get(cfg, "standinRefuses") != NULL)
        return dap_error_set(err, DAP_ECONFIG, "%s: the stand-in refuses", name);
    a = calloc(1, sizeof(*a));
    a->id = id;
    snprintf(a->name, sizeof(a->name), "%s", name);
    a->cb = *cb;
    a->cfg = json_deep_copy(cfg);
    standins[nstandins++] = a;
    *out = a;
    return 0;
}

static void standin_attached(attach_svc *a)
{
    a->attached++;
}

static void standin_resume(attach_svc *a)
{
    (void)a;
}

static void standin_free(attach_svc *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < nstandins; i++) {
        if (standins[i] == a)
            standins[i] = NULL;
    }
    standins_freed++;
    json_decref(a->cfg);
    free(a);
}

static char standin_stop_reason[32]; /* the last stopped_fn's reason */

static void standin_stopped(attach_svc *a, const char *reason)
{
    snprintf(standin_stop_reason, sizeof(standin_stop_reason), "%s:%s",
             a->name, reason ? reason : "");
}

static const struct attach_ops standin_ops = {
    .start_fn = standin_start,
    .attached_fn = standin_attached,
    .resume_fn = standin_resume,
    .stopped_fn = standin_stopped,
    .free_fn = standin_free,
};

static int standin_serve(void *data, int fd, struct dap_error *err)
{
    (void)data;
    (void)err;
    close(fd);
    return 0;
}

/* The debugger of stand-in `i` listens: hand its config to the session. */
static int standin_connect(int i, struct dap_error *err)
{
    struct attach_svc *a = standins[i];
    struct adapter_tunnel t = {standin_serve, a};
    json_t *cfg = json_deep_copy(a->cfg);
    int rc;

    json_object_set_new(cfg, "connect", json_string("127.0.0.1:7000"));
    json_object_set_new(cfg, "runtime", json_string("fake"));
    rc = a->cb.connected_fn(a->cb.data, a->id, cfg, "pod shop/p-1", &t, err);
    json_decref(cfg);
    return rc;
}

static void standin_fail(int i, int code, const char *msg)
{
    struct attach_svc *a = standins[i];
    struct dap_error e;

    dap_error_set(&e, code, "%s", msg);
    a->cb.failed_fn(a->cb.data, a->id, &e);
}

/* A session whose attach of services a and b (targets, fake runtime; b's
 * config gets `b_extra`) has reached the stand-in; returns the attach's
 * seq. */
static int attach_targets(json_t *b_extra)
{
    json_t *svcs = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}]", "name",
                             "a", "target", "deployment/a", "runtime", "fake",
                             "name", "b", "target", "deployment/b", "runtime",
                             "fake");
    uint64_t deadline;
    int seq;

    if (b_extra != NULL)
        json_object_update(json_array_get(svcs, 1), b_extra);
    json_decref(b_extra);
    editor_init();
    ASSERT_OK(dap_session_new(loop, &editor_callbacks, &sess));
    dap_session_set_attach(sess, &standin_ops);
    inbox = json_array();
    answered = json_object();
    nstandins = standins_freed = 0;
    json_decref(call("initialize",
                     json_pack("{s:s, s:b}", "adapterID", "kdap",
                               "supportsProgressReporting", 1),
                     1));
    seq = send_req("attach", json_pack("{s:o, s:s}", "services", svcs,
                                       "kubeconfig", kubeconfig));
    /* the kubeconfig is read in the thread pool, then the services start */
    deadline = uv_now(loop) + 2000;
    while (nstandins < 2 && answered_count(seq) == 0 &&
           uv_now(loop) < deadline) {
        uv_run(loop, UV_RUN_ONCE);
        collect();
        uv_update_time(loop);
    }
    return seq;
}

static void test_attach_targets(void)
{
    struct dap_error err;
    json_t *r, *e;
    int seq;

    /* both attach: progress while attaching, the attach answered once all
     * are; the target's log only once the session is attached */
    seq = attach_targets(NULL);
    ASSERT_EQ(nstandins, 2);
    standins[0]->cb.progress_fn(standins[0]->cb.data, standins[0]->id,
                                "resolving deployment/a");
    e = take("event", "progressStart", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "progressId")),
                  "kdap-attach-1");
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "title")),
                  "Attaching to a");
    json_decref(e);
    standins[0]->cb.progress_fn(standins[0]->cb.data, standins[0]->id,
                                "tunnel open");
    e = take("event", "progressUpdate", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "message")),
                  "tunnel open");
    json_decref(e);
    standins[0]->cb.output_fn(standins[0]->cb.data, standins[0]->id,
                              "console", "kdap: service \"a\": detected");
    e = take("event", "output", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "output")),
                  "kdap: service \"a\": detected");
    json_decref(e);
    ASSERT_OK(standin_connect(0, &err));
    e = take("event", "progressEnd", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "message")),
                  "attached");
    json_decref(e);
    ASSERT(fake_backend_find("a") != NULL);
    standins[0]->cb.log_fn(standins[0]->cb.data, standins[0]->id, "early", 5);
    pump();
    ASSERT_EQ(answered_count(seq), 0); /* b is still attaching */
    ASSERT_OK(standin_connect(1, &err));
    r = take("response", "attach", seq);
    ASSERT(json_is_true(json_object_get(r, "success")));
    json_decref(r);
    json_decref(take("event", "initialized", 0));
    ASSERT_EQ(standins[0]->attached, 1);
    ASSERT_EQ(standins[1]->attached, 1);
    standins[1]->cb.log_fn(standins[1]->cb.data, standins[1]->id, "hello\n",
                           6);
    /* after kdap's own "attached to ..." lines; "early" never went out */
    for (;;) {
        e = take("event", "output", 0);
        ASSERT(strstr(json_string_value(json_object_get(body(e), "output")),
                      "early") == NULL);
        if (strcmp(json_string_value(json_object_get(body(e), "category")),
                   "stdout") == 0)
            break;
        json_decref(e);
    }
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "output")),
                  "b: hello\n");
    json_decref(e);
    /* a stop of b's program is the orchestration's news too (probes) */
    fake_backend_event(fake_backend_find("b"), "stopped",
                       json_pack("{s:s, s:i}", "reason", "breakpoint",
                                 "threadId", 1));
    json_decref(take("event", "stopped", 0));
    ASSERT_STR_EQ(standin_stop_reason, "b:breakpoint");
    /* a late report of an attached service changes nothing */
    standin_fail(0, DAP_ECLOSED, "late");
    standins[0]->cb.progress_fn(standins[0]->cb.data, standins[0]->id, "x");
    r = threads();
    ASSERT_EQ(json_array_size(r), 2);
    json_decref(r);
    json_decref(call("disconnect", NULL, 1));
    ASSERT_EQ(standins_freed, 2); /* the tunnels closed */
    end_session();

    /* a fails while b still attaches: the attach fails with a's words, b
     * is given up (its progress ended), no backend is left */
    seq = attach_targets(NULL);
    standins[1]->cb.progress_fn(standins[1]->cb.data, standins[1]->id,
                                "listing the pods of app=b");
    json_decref(take("event", "progressStart", 0));
    standin_fail(0, DAP_EBACKEND, "pod a-1 was deleted while kdap attached");
    r = take("response", "attach", seq);
    ASSERT(!json_is_true(json_object_get(r, "success")));
    assert_contains(error_text(r), "pod a-1 was deleted");
    json_decref(r);
    e = take("event", "progressEnd", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "progressId")),
                  "kdap-attach-2");
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "message")),
                  "cancelled");
    json_decref(e);
    ASSERT_NULL(standins[1]);
    ASSERT_NULL(fake_backend_find("a"));
    ASSERT_NULL(fake_backend_find("b"));
    json_decref(call("disconnect", NULL, 1));
    ASSERT_EQ(standins_freed, 2);
    end_session();

    /* disconnect during the attach: the attach is answered (cancelled),
     * then the disconnect; nothing was attached, both are given up */
    seq = attach_targets(NULL);
    standins[0]->cb.progress_fn(standins[0]->cb.data, standins[0]->id,
                                "adding debug container");
    json_decref(take("event", "progressStart", 0));
    r = call("disconnect", NULL, 1);
    json_decref(r);
    r = take("response", "attach", seq);
    ASSERT(!json_is_true(json_object_get(r, "success")));
    json_decref(r);
    e = take("event", "progressEnd", 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(body(e), "message")),
                  "cancelled");
    json_decref(e);
    ASSERT_EQ(standins_freed, 2);
    ASSERT_NULL(fake_backend_find("a"));
    end_session();

    /* b's debugger was reached but its backend cannot start: all or
     * nothing, so a (attached) is detached again */
    seq = attach_targets(json_pack("{s:{s:s}}", "fake", "failStart",
                                   "no debugger answered"));
    ASSERT_OK(standin_connect(0, &err));
    ASSERT(fake_backend_find("a") != NULL);
    ASSERT_OK(standin_connect(1, &err));
    r = take("response", "attach", seq);
    ASSERT(!json_is_true(json_object_get(r, "success")));
    assert_contains(error_text(r), "no debugger answered");
    json_decref(r);
    /* a was detached (its stop completed) and let go */
    {
        uint64_t deadline = uv_now(loop) + 2000;
        while (fake_backend_find("a") != NULL && uv_now(loop) < deadline) {
            uv_run(loop, UV_RUN_ONCE);
            uv_update_time(loop);
        }
        ASSERT_NULL(fake_backend_find("a"));
    }
    json_decref(call("disconnect", NULL, 1));
    end_session();

    /* the orchestration refuses b's config: the attach fails with that, a
     * is given up */
    seq = attach_targets(json_pack("{s:b}", "standinRefuses", 1));
    r = take("response", "attach", seq);
    ASSERT(!json_is_true(json_object_get(r, "success")));
    assert_contains(error_text(r), "b: the stand-in refuses");
    json_decref(r);
    ASSERT_EQ(nstandins, 1);
    pump();
    ASSERT_EQ(standins_freed, 1);
    json_decref(call("disconnect", NULL, 1));
    end_session();
}

int main(void)
{
    loop = uv_default_loop();
    test_registry();
    test_remap();
    test_fanout();
    test_events_and_errors();
    {
        /* a cluster nobody is asked anything of: the stand-in attaches */
        static const char text[] =
            "apiVersion: v1\nkind: Config\ncurrent-context: x\n"
            "clusters:\n- name: c\n  cluster:\n    server: https://127.0.0.1:1\n"
            "users:\n- name: u\n  user:\n    token: t\n"
            "contexts:\n- name: x\n  context:\n    cluster: c\n    user: u\n";
        int fd;
        snprintf(kubeconfig, sizeof(kubeconfig), "/tmp/kdap-test-multi-XXXXXX");
        fd = mkstemp(kubeconfig);
        ASSERT(fd >= 0);
        ASSERT_EQ(write(fd, text, sizeof(text) - 1), (ssize_t)(sizeof(text) - 1));
        close(fd);
        test_attach_targets();
        unlink(kubeconfig);
    }
    uv_loop_close(loop);
    return 0;
}
