/* test_session.c - the dispatcher and the session without any backend:
 * envelopes, errors, state checks, the handler table, ending. */
#include <uv.h>

#include "dap/session.h"
#include "dap/session_int.h"
#include "tests/fake/editor.h"
#include "tests/test.h"

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
    dap_session *s;
    json_t *all, *m, *caps;
    const char *k;
    json_t *v;

    editor_init();
    ASSERT_OK(dap_session_new(loop, &editor_callbacks, &s));

    /* A request before initialize/attach is refused, with why. */
    editor_send(s, "{\"seq\":1,\"type\":\"request\",\"command\":\"threads\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 1, "attach", 1005);
    json_decref(all);

    editor_send(s, "{\"seq\":2,\"type\":\"request\",\"command\":\"initialize\","
            "\"arguments\":{\"adapterID\":\"kdap\",\"linesStartAt1\":true}}");
    all = editor_drain();
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

    editor_send(s, "{\"seq\":3,\"type\":\"request\",\"command\":\"initialize\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 3, "already", 1005);
    json_decref(all);

    editor_send(s, "{\"seq\":4,\"type\":\"request\",\"command\":\"frobnicate\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 4, "not supported", 1002);
    json_decref(all);

    editor_send(s, "{\"type\":\"request\",\"command\":\"threads\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 0, "seq", 1004);
    json_decref(all);

    editor_send(s, "{\"seq\":6,\"type\":\"request\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 6, "command", 1004);
    json_decref(all);

    editor_send(s, "{\"seq\":7,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":[1]}");
    all = editor_drain();
    assert_error(only(all, "response"), 7, "object", 1001);
    json_decref(all);

    editor_send(s, "{\"seq\":8,");
    all = editor_drain();
    m = only(all, "event");
    ASSERT_STR_EQ(json_string_value(json_object_get(m, "event")), "output");
    json_decref(all);

    /* Attach without anything to attach to: a configuration error that
     * names the keys to set. */
    editor_send(s, "{\"seq\":9,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"name\":\"x\"}}");
    all = editor_drain();
    assert_error(only(all, "response"), 9, "\"connect\"", 1014);
    json_decref(all);

    editor_send(s, "{\"seq\":10,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"connect\":\"127.0.0.1:1\",\"runtime\":\"cobol\"}}");
    all = editor_drain();
    assert_error(only(all, "response"), 10, "unknown runtime", 1014);
    json_decref(all);

    editor_send(s, "{\"seq\":11,\"type\":\"request\",\"command\":\"attach\","
            "\"arguments\":{\"services\":[{\"connect\":\"127.0.0.1:1\"},"
            "{\"connect\":\"nohostport\"}]}}");
    all = editor_drain();
    assert_error(only(all, "response"), 11, "services[1]", 1014);
    json_decref(all);

    editor_send(s, "{\"seq\":12,\"type\":\"request\",\"command\":\"launch\"}");
    all = editor_drain();
    assert_error(only(all, "response"), 12, "launch: nothing to attach to", 1014);
    json_decref(all);

    /* disconnect with nothing attached: answered, then finished. */
    editor_send(s, "{\"seq\":13,\"type\":\"request\",\"command\":\"disconnect\"}");
    uv_run(loop, UV_RUN_NOWAIT);
    all = editor_drain();
    m = only(all, "response");
    ASSERT(json_is_true(json_object_get(m, "success")));
    json_decref(all);
    ASSERT_EQ(editor_finished(NULL), 1);
    dap_session_free(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

static void test_oversize_ends_session(uv_loop_t *loop)
{
    const char *big = "Content-Length: 17000000\r\n\r\n{";
    dap_session *s;
    json_t *all;

    editor_init();
    ASSERT_OK(dap_session_new(loop, &editor_callbacks, &s));
    dap_session_input(s, big, strlen(big));
    uv_run(loop, UV_RUN_NOWAIT);
    all = editor_drain();
    ASSERT(json_array_size(all) >= 1);
    ASSERT_STR_EQ(json_string_value(json_object_get(json_array_get(all, 0),
                                                    "event")),
                  "output");
    json_decref(all);
    ASSERT_EQ(editor_finished(NULL), 1);
    dap_session_free(s);
    uv_run(loop, UV_RUN_DEFAULT);
}

int main(void)
{
    uv_loop_t loop;

    uv_loop_init(&loop);
    test_table_sorted();
    test_dispatch(&loop);
    test_oversize_ends_session(&loop);
    ASSERT_OK(uv_loop_close(&loop));
    editor_cleanup();
    printf("test_session: ok\n");
    return 0;
}
