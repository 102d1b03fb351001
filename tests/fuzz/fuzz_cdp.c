/* fuzz_cdp.c - hostile Node inspector messages must never crash kdap.
 *
 * The input is a sequence of CDP messages, one per line, fed to the node
 * backend as if its inspector had sent them (adapter__node_feed), each
 * followed by the DAP requests an editor makes while stopped (stack trace,
 * scopes, variables, evaluate, exception info, sources...).  Each line also
 * goes through the pure translators (cdp.c) and the source map parser
 * (srcmap.c) directly.  No network: CDP calls fail as on a closed
 * connection, and every request must still be answered.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "adapters/adapter_int.h"
#include "adapters/cdp.h"
#include "adapters/srcmap.h"
#include "dap/log.h"

void adapter__node_feed(adapter *a, const char *buf, size_t len);

static int answered, asked;

static void on_resp(void *data, int status, json_t *body,
                    const struct dap_error *err)
{
    (void)data;
    (void)status;
    (void)err;
    (void)body;
    answered++;
}

static void on_event(void *data, adapter *a, const char *event, json_t *body)
{
    char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;

    (void)data;
    (void)a;
    (void)event;
    free(s);
}

static void on_ready(void *d, adapter *a, int st, const struct dap_error *e)
{
    (void)d;
    (void)a;
    (void)st;
    (void)e;
}

static int64_t ref_fn(void *data, json_t *ro)
{
    (void)data;
    (void)ro;
    return 1;
}

static int64_t getter_fn(void *data, const char *name)
{
    (void)data;
    (void)name;
    return 2;
}

static void pure(const char *line, size_t len)
{
    struct adapter_cdp_refs refs = {ref_fn, getter_fn, NULL};
    struct adapter_cdp_msg m;
    struct dap_error err;
    adapter_srcmap *map;
    const char *cat;
    json_t *root;
    char buf[64];
    char *s;

    if (adapter_cdp_parse(line, len, &root, &m) == 0) {
        json_t *obj = m.kind == ADAPTER_CDP_EVENT ? m.params : m.result;
        json_t *v;
        const char *k;
        json_decref(adapter_cdp_properties_to_variables(obj, ADAPTER_CDP_ALL, 1,
                                                        3, 0, &refs));
        json_decref(adapter_cdp_properties_to_variables(
            obj, ADAPTER_CDP_INDEXED, 0, 0, 1, &refs));
        free(adapter_cdp_console_text(obj, &cat));
        free(adapter_cdp_exception_text(obj));
        free(adapter_cdp_exception_summary(obj));
        (void)adapter_cdp_stop_reason(obj, NULL, 0);
        (void)adapter_cdp_frame_name(obj);
        (void)adapter_cdp_array_length(obj);
        adapter_cdp_scope_name(obj, buf, sizeof(buf));
        json_object_foreach(obj, k, v)
        {
            free(adapter_cdp_value_text(v));
            (void)adapter_cdp_value_type(v);
            json_decref(adapter_cdp_variable_new(k, v, &refs));
        }
        json_decref(root);
    }
    if (adapter_srcmap_parse(line, len, "/a/b.js.map", &map, &err) == 0) {
        int src, l, c, gl, gc, ol;
        for (int i = 0; i < 4; i++) {
            (void)adapter_srcmap_original(map, i, i * 7, &src, &l, &c);
            (void)adapter_srcmap_generated(map, 0, i, 3, &gl, &gc, &ol);
        }
        adapter_srcmap_free(map);
    }
    /* Strings: NUL-terminated copies. */
    s = malloc(len + 1);
    if (s == NULL)
        return;
    memcpy(s, line, len);
    s[len] = '\0';
    free(adapter_cdp_url_to_path(s));
    free(adapter_cdp_path_to_url(s));
    free(adapter_cdp_url_regex(s));
    free(adapter_cdp_path_resolve("/x/y.js", s));
    free(adapter_cdp_breakpoint_condition(s, s));
    {
        char *out;
        size_t ol;
        if (adapter_srcmap_data_url(s, &out, &ol) == 0)
            free(out);
    }
    free(s);
}

static void ask(adapter *a, const char *command, const char *args_json)
{
    json_t *args = json_loads(args_json, 0, NULL);

    if (adapter_request(a, command, args, on_resp, NULL) == 0)
        asked++;
    json_decref(args);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    struct adapter_callbacks cb = {on_event, on_ready, NULL, NULL};
    struct dap_error err;
    uv_loop_t loop;
    adapter *a = NULL;
    json_t *cfg;
    const char *p = (const char *)data;
    const char *end = p + size;

    if (!init) {
        if (dap_log_open("/dev/null", DAP_LOG_ERROR) < 0)
            return 0;
        init = 1;
    }
    uv_loop_init(&loop);
    cfg = json_pack("{s:s, s:{s:s}}", "connect", "127.0.0.1:9",
                    "sourceMapPathOverrides", "/a/*", "/b/*");
    if (adapter_new(&loop, "node", "fuzz", cfg, &cb, &a, &err) < 0) {
        json_decref(cfg);
        uv_loop_close(&loop);
        return 0;
    }
    json_decref(cfg);
    answered = asked = 0;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t len = nl != NULL ? (size_t)(nl - p) : (size_t)(end - p);
        pure(p, len);
        adapter__node_feed(a, p, len);
        ask(a, "threads", "{}");
        ask(a, "stackTrace", "{\"threadId\":1,\"startFrame\":1,\"levels\":3}");
        ask(a, "stackTrace", "{\"threadId\":1}");
        ask(a, "scopes", "{\"frameId\":1}");
        ask(a, "scopes", "{\"frameId\":100001}");
        ask(a, "variables", "{\"variablesReference\":1}");
        ask(a, "variables",
            "{\"variablesReference\":2,\"filter\":\"indexed\","
            "\"start\":1,\"count\":2}");
        ask(a, "evaluate", "{\"expression\":\"x\",\"frameId\":1}");
        ask(a, "setVariable",
            "{\"variablesReference\":1,\"name\":\"a\","
            "\"value\":\"1\"}");
        ask(a, "exceptionInfo", "{\"threadId\":1}");
        ask(a, "loadedSources", "{}");
        ask(a, "source", "{\"sourceReference\":1}");
        ask(a, "setBreakpoints",
            "{\"source\":{\"path\":\"/a/x.ts\"},"
            "\"breakpoints\":[{\"line\":2,"
            "\"hitCondition\":\"%2\"}]}");
        ask(a, "setFunctionBreakpoints",
            "{\"breakpoints\":[{\"name\":\"f\"}]}");
        ask(a, "continue", "{\"threadId\":1}");
        uv_run(&loop, UV_RUN_NOWAIT);
        p += len + 1;
    }
    uv_run(&loop, UV_RUN_NOWAIT);
    if (answered != asked)
        abort(); /* every request is answered exactly once */
    adapter_free(a);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return 0;
}
