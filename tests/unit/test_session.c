/* test_session.c - the dispatcher and the session without any backend:
 * envelopes, errors, state checks, the handler table, ending. */
#include <uv.h>

#include "dap/frame.h"
#include "dap/session.h"
#include "dap/session_int.h"
#include "tests/test.h"

static dap_buf out;
static int finished;

static void write_fn(void *data, const char *buf, size_t len)
{
    (void)data;
    ASSERT_OK(dap_buf_append(&out, buf, len));
}

static void finished_fn(void *data, int status)
{
    (void)data;
    (void)status;
    finished++;
}

/* Every message written so far, parsed; clears the output. */
static json_t *drain(void)
{
    json_t *all = json_array();
    dap_frame f;
    const char *b;
    size_t n;

    dap_frame_init(&f, DAP_FRAME_MAX_BODY);
    ASSERT_OK(dap_frame_feed(&f, out.data ? out.data : "", out.len));
    while (dap_frame_next(&f, &b, &n, NULL) == 1) {
        json_t *m = json_loadb(b, n, 0, NULL);
        ASSERT(m != NULL);
        json_array_append_new(all, m);
    }
    dap_frame_cleanup(&f);
    dap_buf_reset(&out);
    return all;
}

static void send_msg(dap_session *s, const char *json)
{
    dap_buf b;

    dap_buf_init(&b, 1 << 20);
    ASSERT_OK(dap_frame_write(&b, json, strlen(json)));
    dap_session_input(s, b.data, b.len);
    dap_buf_cleanup(&b);
}

static json_t *only(json_t *all, const char *type)
{
    ASSERT_EQ(json_array_size(all), 1);
    json_t *m = json_array_get(all, 0);
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "type")), type);
    return m;
}

static void assert_error(json_t *m, int seq, const char *needle, int id)
{
    const char *fmt = json_string_value(json_object_get(
        json_object_get(json_object_get(m, "body"), "error"), "format"));
    ASSERT(json_is_false(json_object_get(m, "success")));
    ASSERT_EQ(json_integer_value(json_object_get(m, "request_seq")), seq);
    ASSERT(fmt != NULL);
    if (strstr(fmt, needle) == NULL) {
        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", fmt, needle);
        exit(1);
    }
    ASSERT(json_is_string(json_object_get(m, "message")));
    ASSERT_EQ(json_integer_value(json_object_get(
                  json_object_get(json_object_get(m, "body"), "error"), "id")),
              id);
}

static void test_table_sorted(void)
{
    for (size_t i = 1; i < dap__handler_count(); i++)
        ASSERT(strcmp(dap__handler_at(i - 1)->command,
                      dap__handler_at(i)->command) < 0);
    ASSERT(dap__handler_find("initialize") != NULL);
    ASSERT(dap__handler_find("nope") == NULL);
}

static void test_dispatch(uv_loop_t *loop)
{
    struct dap_session_callbacks cb = {write_fn, finished_fn, NULL, NULL};
    dap_session *s;
    json_t *all, *m, *caps;
    const char *k;
    json_t *v;

    ASSERT_OK(dap_session_new(loop, &cb, &s));

    /* A request before initialize/attach is refused, with why. */
    send_msg(s, "{\"seq\":1,\"type\":\"request\",\"command\":\"threads\"}");
    all = drain();
    assert_error(only(all, "response"), 1, "attach", 1005);
    json_decref(all);

    send_msg(s, "{\"seq\":2,\"type\":\"request\",\"command\":\"initialize\","
            "\"arguments\":{\"adapterID\":\"kdap\",\"linesStartAt1\":true}}");
    all = drain();
    m = only(all, "response");
    ASSERT(json_is_true(json_object_get(m, "success")));
    ASSERT_EQ(json_integer_value(json_object_get(m, "seq")), 2);
    caps = json_object_get(m, "body");
    /* Every advertised request capability has a handler. */
    json_object_foreach(caps, k, v)
    {
        if (strncmp(k, "supports", 8) == 0 && strstr(k, "Request") != NULL &&
            json_is_true(v)) {
            char cmd[64];
            size_t n = strlen(k) - 8 - 7;
            snprintf(cmd, sizeof(cmd), "%.*s", (int)n, k + 8);
            cmd[0] = (char)(cmd[0] - 'A' + 'a');
            if (dap__handler_find(cmd) == NULL) {
                fprintf(stderr, "capability %s without handler %s\n", k, cmd);
                exit(1);
            }
        }
    }
    ASSERT(json_is_true(json_object_get(caps, "supportsConfigurationDoneRequest")));
    json_decref(all);

    send_msg(s, "{\"seq\":3,\"type\":\"request\",\"command\":\"initialize\"}");
    all = drain();
    assert_error(only(all, "response"), 3, "already", 1005);
    json_decref(all);

    send_msg(s, "{\"seq\":4,\"type\":\"request\",\"command\":\"frobnicate\"}");
    all = drain();
    assert_error(only(all, "response"), 4, "not supported", 1002);
    json_decref(all);

    send_msg(s, "{\"type\":\"request\",\"command\":\"threads\"}");
    all = drain();
    assert_error(only(all, "response"), 0, "seq", 1004);
    json_decref(all);

    send_msg(s, "{\"seq\":6,\"type\":\"request\"}");
    all = drain();
    assert_error(only(all, "response"), 6, "command", 1004);
    json_decref(all);

    send_msg(s, "{\"seq\":7,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":[1]}");
    all = drain();
    assert_error(only(all, "response"), 7, "object", 1001);
    json_decref(all);

    send_msg(s, "{\"seq\":8,");
    all = drain();
    m = only(all, "event");
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "event")), "output");
    json_decref(all);

    /* Attach without anything to attach to: a configuration error that
     * names the keys to set. */
    send_msg(s, "{\"seq\":9,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"name\":\"x\"}}");
    all = drain();
    assert_error(only(all, "response"), 9, "\"connect\"", 1014);
    json_decref(all);

    send_msg(s, "{\"seq\":10,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"connect\":\"127.0.0.1:1\",\"runtime\":\"cobol\"}}");
    all = drain();
    assert_error(only(all, "response"), 10, "unknown runtime", 1014);
    json_decref(all);

    send_msg(s, "{\"seq\":11,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"services\":[{\"connect\":\"127.0.0.1:1\"},"
            "{\"connect\":\"nohostport\"}]}}");
    all = drain();
    assert_error(only(all, "response"), 11, "services[1]", 1014);
    json_decref(all);

    send_msg(s, "{\"seq\":12,\"type\":\"request\",\"command\":\"launch\"}");
    all = drain();
    assert_error(only(all, "response"), 12, "attach", 1002);
    json_decref(all);

    /* disconnect with nothing attached: answered, then finished. */
    send_msg(s, "{\"seq\":13,\"type\":\"request\",\"command\":\"disconnect\"}");
    uv_run(loop, UV_RUN_NOWAIT);
    all = drain();
    m = only(all, "response");
    ASSERT(json_is_true(json_object_get(m, "success")));
    json_decref(all);
    ASSERT_EQ(finished, 1);
    dap_session_free(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_oversize_ends_session(uv_loop_t *loop)
{
    struct dap_session_callbacks cb = {write_fn, finished_fn, NULL, NULL};
    const char *big = "Content-Length: 17000000\r\n\r\n{";
    dap_session *s;
    json_t *all;

    finished = 0;
    ASSERT_OK(dap_session_new(loop, &cb, &s));
    dap_session_input(s, big, strlen(big));
    uv_run(loop, UV_RUN_NOWAIT);
    all = drain();
    ASSERT(json_array_size(all) >= 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(all, 0),
                                                    "event")),
                  "output");
    json_decref(all);
    ASSERT_EQ(finished, 1);
    dap_session_free(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

int main(void)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    dap_buf_init(&out, 1 << 24);
    test_table_sorted();
    test_dispatch(&loop);
    test_oversize_ends_session(&loop);
    ASSERT_OK(uv_loop_close(&loop));
    dap_buf_cleanup(&out);
    printf("test_session: ok\n");
    return 0;
}
