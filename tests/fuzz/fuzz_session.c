/* fuzz_session.c - the stdio session as a whole: arbitrary bytes from an
 * editor in, every frame kdap writes back checked.
 *
 * The input goes to an in-process session (no cluster, no debugger: the
 * environment points kubeconfig lookups and PATH at nothing) frame by
 * frame, as the stdio loop would deliver it.  The harness frames the same
 * bytes itself to know which messages are requests, and aborts (a finding)
 * when kdap writes anything that is not
 * - a well-formed frame of valid UTF-8 JSON, seq 1, 2, 3, ...;
 * - a response with request_seq, command and success, and on failure a
 *   message and body.error {id, format, showUser}; a body where the schema
 *   requires one (threads, setBreakpoints, source);
 * - an event with its body where the schema requires one (output, stopped,
 *   thread, breakpoint, progress*, exited);
 * and when a request is answered twice, or not at all once the session has
 * been shut down and freed (which answers whatever is still live).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>

#include "dap/frame.h"
#include "dap/log.h"
#include "dap/session.h"
#include "dap/utf8.h"
#include "tests/fuzz/fuzz.h"

struct expect {
    json_int_t seq;
    char *command;
    int answers;
};

static struct {
    dap_frame out;          /* kdap's output, reframed */
    json_int_t next_seq;    /* the seq kdap's next message must carry */
    struct expect *req;     /* every request sent, in order */
    size_t nreq;
    int finished;
} st;

#define FAIL(...)                                                              \
    do {                                                                       \
        fprintf(stderr, "fuzz_session: " __VA_ARGS__);                         \
        fputc('\n', stderr);                                                   \
        abort();                                                               \
    } while (0)

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

static json_t *body_of(json_t *m, const char *what)
{
    json_t *b = json_object_get(m, "body");

    if (!json_is_object(b))
        FAIL("%s without a body object", what);
    return b;
}

static void check_response(json_t *m)
{
    json_t *rs = json_object_get(m, "request_seq");
    json_t *ok = json_object_get(m, "success");
    const char *cmd = str_of(m, "command");
    struct expect *e = NULL;

    if (!json_is_integer(rs) || !json_is_boolean(ok) || cmd == NULL)
        FAIL("response without request_seq, success or command");
    for (size_t i = 0; i < st.nreq && e == NULL; i++) {
        if (st.req[i].seq == json_integer_value(rs) && st.req[i].answers == 0 &&
            strcmp(st.req[i].command, cmd) == 0)
            e = &st.req[i];
    }
    if (e == NULL)
        FAIL("response to %lld '%s' answers no request still waiting",
             (long long)json_integer_value(rs), cmd);
    e->answers++;
    if (!json_is_true(ok)) {
        json_t *err = json_object_get(body_of(m, "error response"), "error");
        if (str_of(m, "message") == NULL || str_of(m, "message")[0] == '\0')
            FAIL("error response without a message");
        if (!json_is_integer(json_object_get(err, "id")) ||
            str_of(err, "format") == NULL ||
            !json_is_boolean(json_object_get(err, "showUser")))
            FAIL("error response without body.error {id, format, showUser}");
        return;
    }
    if (json_object_get(m, "body") != NULL &&
        !json_is_object(json_object_get(m, "body")))
        FAIL("response body that is not an object");
    if (strcmp(cmd, "threads") == 0 &&
        !json_is_array(json_object_get(body_of(m, cmd), "threads")))
        FAIL("threads response without threads");
    if ((strcmp(cmd, "setBreakpoints") == 0 ||
         strcmp(cmd, "setFunctionBreakpoints") == 0) &&
        !json_is_array(json_object_get(body_of(m, cmd), "breakpoints")))
        FAIL("%s response without breakpoints", cmd);
    if (strcmp(cmd, "source") == 0 && str_of(body_of(m, cmd), "content") == NULL)
        FAIL("source response without content");
}

static void check_event(json_t *m)
{
    static const char *const need[][3] = {
        /* event          required body keys */
        {"output", "output", NULL},
        {"stopped", "reason", NULL},
        {"thread", "reason", "threadId"},
        {"breakpoint", "reason", "breakpoint"},
        {"exited", "exitCode", NULL},
        {"progressStart", "progressId", "title"},
        {"progressUpdate", "progressId", NULL},
        {"progressEnd", "progressId", NULL},
    };
    const char *ev = str_of(m, "event");

    if (ev == NULL)
        FAIL("event without a name");
    for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
        json_t *b;
        if (strcmp(ev, need[i][0]) != 0)
            continue;
        b = body_of(m, ev);
        for (size_t k = 1; k < 3 && need[i][k] != NULL; k++) {
            if (json_object_get(b, need[i][k]) == NULL)
                FAIL("%s event without body.%s", ev, need[i][k]);
        }
    }
}

static void check_message(const char *body, size_t len)
{
    json_error_t jerr;
    json_t *m;
    const char *type;

    if (!dap_utf8_valid(body, len))
        FAIL("a frame that is not valid UTF-8");
    m = json_loadb(body, len, JSON_ALLOW_NUL, &jerr);
    if (!json_is_object(m))
        FAIL("a frame that is not a JSON object: %s", jerr.text);
    if (json_integer_value(json_object_get(m, "seq")) != st.next_seq)
        FAIL("seq %lld, expected %lld",
             (long long)json_integer_value(json_object_get(m, "seq")),
             (long long)st.next_seq);
    st.next_seq++;
    type = str_of(m, "type");
    if (type != NULL && strcmp(type, "response") == 0)
        check_response(m);
    else if (type != NULL && strcmp(type, "event") == 0)
        check_event(m);
    else
        FAIL("a message of type %s", type != NULL ? type : "(none)");
    json_decref(m);
}

static void write_fn(void *data, const char *buf, size_t len)
{
    const char *body;
    size_t n;
    int rc;

    (void)data;
    if (dap_frame_feed(&st.out, buf, len) < 0)
        FAIL("kdap wrote more than a frame may hold");
    while ((rc = dap_frame_next(&st.out, &body, &n, NULL)) == 1)
        check_message(body, n);
    if (rc < 0)
        FAIL("kdap wrote a malformed frame");
}

static void finished_fn(void *data, int status)
{
    (void)data;
    (void)status;
    st.finished = 1;
}

/* The session answers a message exactly when it is a JSON object whose
 * type is "request" or missing (see dap__dispatch); note what it must
 * answer. */
static void expect_answer(const char *body, size_t len)
{
    json_t *m = json_loadb(body, len, JSON_ALLOW_NUL, NULL);
    json_t *type = json_object_get(m, "type");
    json_t *seq = json_object_get(m, "seq");
    json_t *cmd = json_object_get(m, "command");
    struct expect *r;

    if (!json_is_object(m) ||
        (json_is_string(type) &&
         strcmp(json_string_value(type), "request") != 0)) {
        json_decref(m);
        return;
    }
    r = realloc(st.req, (st.nreq + 1) * sizeof(*r));
    if (r == NULL)
        abort();
    st.req = r;
    r[st.nreq].seq = json_is_integer(seq) ? json_integer_value(seq) : 0;
    r[st.nreq].command =
        strdup(json_is_string(cmd) ? json_string_value(cmd) : "");
    r[st.nreq].answers = 0;
    st.nreq++;
    json_decref(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct dap_session_callbacks cb = {write_fn, finished_fn, NULL, NULL};
    const char *in = (const char *)data;
    dap_frame frames;
    uv_loop_t loop;
    dap_session *s;
    size_t off = 0;

    if (!init) {
        /* Quiet, and nowhere to reach: no kubeconfig, no debugger to
         * spawn, no in-cluster account. */
        if (dap_log_open("/dev/null", DAP_LOG_ERROR) < 0)
            return 0;
        setenv("KUBECONFIG", "/nonexistent/kdap-fuzz-kubeconfig", 1);
        setenv("HOME", "/nonexistent", 1);
        setenv("PATH", "/nonexistent", 1);
        unsetenv("KUBERNETES_SERVICE_HOST");
        init = 1;
    }
    memset(&st, 0, sizeof(st));
    st.next_seq = 1;
    dap_frame_init(&st.out, DAP_FRAME_MAX_BODY);
    dap_frame_init(&frames, DAP_FRAME_MAX_BODY);
    uv_loop_init(&loop);
    if (dap_session_new(&loop, &cb, &s) < 0)
        abort();
    if (dap_frame_feed(&frames, in, size) < 0)
        abort();
    /* One frame at a time, as reads deliver them, with the loop turning in
     * between; the session reads nothing more once it has finished. */
    while (!st.finished) {
        const char *body;
        size_t n;
        size_t end;
        int rc = dap_frame_next(&frames, &body, &n, NULL);

        if (rc == 0)
            break;
        end = size - (frames.in.len - frames.pos - frames.consume);
        if (rc == 1)
            expect_answer(body, n);
        dap_session_input(s, in + off, end - off);
        off = end;
        if (rc == DAP_ETOOBIG)
            break;
        /* Twice: what finishes the session in one turn reports it (the
         * reaper) in the next. */
        uv_run(&loop, UV_RUN_NOWAIT);
        uv_run(&loop, UV_RUN_NOWAIT);
    }
    if (!st.finished && off < size)
        dap_session_input(s, in + off, size - off);
    fuzz_session_end(&loop, s);
    for (size_t i = 0; i < st.nreq; i++) {
        if (st.req[i].answers != 1)
            FAIL("request %lld '%s' answered %d times",
                 (long long)st.req[i].seq, st.req[i].command,
                 st.req[i].answers);
        free(st.req[i].command);
    }
    free(st.req);
    dap_frame_cleanup(&frames);
    dap_frame_cleanup(&st.out);
    return 0;
}
