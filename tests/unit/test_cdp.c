/* test_cdp.c - the pure CDP -> DAP translation (adapters/cdp.c) and source
 * maps (adapters/srcmap.c). */
#include <stdlib.h>
#include <string.h>

#include "adapters/cdp.h"
#include "adapters/srcmap.h"
#include "tests/test.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (j == NULL) {
        fprintf(stderr, "bad test JSON: %s: %s\n", e.text, text);
        exit(1);
    }
    return j;
}

#define ASSERT_FREE_STR(expr, want)                                            \
    do {                                                                       \
        char *s_ = (expr);                                                     \
        ASSERT_STR_EQ(s_, want);                                               \
        free(s_);                                                              \
    } while (0)

static void test_parse(void)
{
    struct adapter_cdp_msg m;
    json_t *root;
    const char *resp = "{\"id\":7,\"result\":{\"x\":1}}";
    const char *err = "{\"id\":8,\"error\":{\"code\":-32000,\"message\":"
                      "\"nope\"}}";
    const char *ev = "{\"method\":\"Debugger.resumed\",\"params\":{}}";

    ASSERT_OK(adapter_cdp_parse(resp, strlen(resp), &root, &m));
    ASSERT_EQ(m.kind, ADAPTER_CDP_RESPONSE);
    ASSERT_EQ(m.id, 7);
    ASSERT_EQ(json_integer_value(json_object_get(m.result, "x")), 1);
    ASSERT_NULL(m.error);
    json_decref(root);

    ASSERT_OK(adapter_cdp_parse(err, strlen(err), &root, &m));
    ASSERT_STR_EQ(m.error, "nope");
    ASSERT_NULL(m.result);
    json_decref(root);

    ASSERT_OK(adapter_cdp_parse(ev, strlen(ev), &root, &m));
    ASSERT_EQ(m.kind, ADAPTER_CDP_EVENT);
    ASSERT_STR_EQ(m.method, "Debugger.resumed");
    ASSERT(json_is_object(m.params));
    json_decref(root);

    /* params of the wrong type become {} */
    ASSERT_OK(
        adapter_cdp_parse("{\"method\":\"X\",\"params\":3}", 25, &root, &m));
    ASSERT(json_is_object(m.params));
    json_decref(root);
    ASSERT_EQ(adapter_cdp_parse("[1]", 3, &root, &m), -1);
    ASSERT_NULL(root);
    ASSERT_EQ(adapter_cdp_parse("{\"x\":1}", 7, &root, &m), -1);
    ASSERT_EQ(adapter_cdp_parse("{", 1, &root, &m), -1);

    /* a lone surrogate (V8 sends them) is repaired, not a reason to drop
     * the answer */
    {
        const char *ls = "{\"id\":9,\"result\":{\"v\":\"x\\ud800y\"}}";
        ASSERT_OK(adapter_cdp_parse(ls, strlen(ls), &root, &m));
        ASSERT_EQ(m.id, 9);
        ASSERT_STR_EQ(json_string_value(json_object_get(m.result, "v")),
                      "x\xef\xbf\xbdy");
        json_decref(root);
    }
    /* an answer that cannot be parsed still names its call, to fail it */
    ASSERT_EQ(adapter_cdp_parse("{\"id\": 12,\"result\":{\"v\":\"\\x\"}}",
                                29, &root, &m),
              -1);
    ASSERT_NULL(root);
    ASSERT_EQ(m.kind, ADAPTER_CDP_RESPONSE);
    ASSERT_EQ(m.id, 12);
    ASSERT(strstr(m.error, "not valid JSON") != NULL);
    ASSERT_EQ(adapter_cdp_parse("{\"method\":\"X\",\"id\":1,", 20, &root, &m), -1);
    ASSERT_EQ(m.kind, ADAPTER_CDP_INVALID);

    char *s = adapter_cdp_request_dump(3, "Debugger.enable", NULL);
    ASSERT(strstr(s, "\"id\":3") != NULL);
    ASSERT(strstr(s, "\"params\":{}") != NULL);
    free(s);
}

static void test_urls(void)
{
    ASSERT_FREE_STR(adapter_cdp_url_to_path("file:///a/b%20c.js"), "/a/b c.js");
    ASSERT_FREE_STR(adapter_cdp_url_to_path("/plain/x.js"), "/plain/x.js");
    ASSERT_FREE_STR(adapter_cdp_url_to_path("file://localhost/x.js"), "/x.js");
    ASSERT_NULL(adapter_cdp_url_to_path("node:internal/timers"));
    ASSERT_NULL(adapter_cdp_url_to_path("file://otherhost/x.js"));
    ASSERT_NULL(adapter_cdp_url_to_path(""));
    ASSERT_NULL(adapter_cdp_url_to_path(NULL));
    ASSERT_FREE_STR(adapter_cdp_url_to_path("file:///x%zz%4"), "/x%zz%4");
    ASSERT_FREE_STR(adapter_cdp_path_to_url("/a/b c#.js"),
                    "file:///a/b%20c%23.js");
    ASSERT_FREE_STR(adapter_cdp_url_regex("/srv/app.js"),
                    "^(?:file://)?/srv/app\\.js$");
    ASSERT_FREE_STR(adapter_cdp_url_regex("/a/x(1).js"),
                    "^(?:file://)?/a/x\\(1\\)\\.js$");
    {
        char *r = adapter_cdp_url_regex("/a b/x.js");
        ASSERT(strstr(r, "(?: |%20|%20)") != NULL);
        free(r);
    }
    ASSERT_FREE_STR(
        adapter_cdp_path_resolve("/srv/build/app.js", "../src/app.ts"),
        "/srv/src/app.ts");
    ASSERT_FREE_STR(adapter_cdp_path_resolve("/srv/app.js", "app.js.map"),
                    "/srv/app.js.map");
    ASSERT_FREE_STR(adapter_cdp_path_resolve("/srv/app.js", "/abs/./x/../y"),
                    "/abs/y");
    ASSERT_FREE_STR(adapter_cdp_path_resolve("/a.js", "../../.."), "/");
    ASSERT_STR_EQ(adapter_cdp_basename("file:///a/b/c.js"), "c.js");
    ASSERT_STR_EQ(adapter_cdp_basename("node:fs"), "node:fs");
}

static int64_t next_ref = 100;

static int64_t obj_fn(void *data, json_t *ro)
{
    (void)data;
    (void)ro;
    return ++next_ref;
}

static int64_t getter_fn(void *data, const char *name)
{
    (void)data;
    (void)name;
    return 555;
}

static void test_values(void)
{
    struct {
        const char *ro, *text, *type;
    } cases[] = {
        {"{\"type\":\"string\",\"value\":\"it's\\n\"}", "'it\\'s\\n'",
         "string"},
        {"{\"type\":\"number\",\"value\":42,\"description\":\"42\"}", "42",
         "number"},
        {"{\"type\":\"number\",\"unserializableValue\":\"-0\"}", "-0",
         "number"},
        {"{\"type\":\"number\",\"value\":1.5}", "1.5", "number"},
        {"{\"type\":\"boolean\",\"value\":true}", "true", "boolean"},
        {"{\"type\":\"undefined\"}", "undefined", "undefined"},
        {"{\"type\":\"bigint\",\"unserializableValue\":\"12n\"}", "12n",
         "bigint"},
        {"{\"type\":\"object\",\"subtype\":\"null\",\"value\":null}", "null",
         "null"},
        {"{\"type\":\"symbol\",\"description\":\"Symbol(x)\"}", "Symbol(x)",
         "symbol"},
        {"{\"type\":\"function\",\"className\":\"Function\",\"description\":"
         "\"function handle(req, res) {\\n  x();\\n}\",\"objectId\":\"1\"}",
         "ƒ handle(req, res)", "function"},
        {"{\"type\":\"function\",\"description\":\"(a) => a + 1\"}", "ƒ (a)",
         "function"},
        {"{\"type\":\"function\",\"description\":\"class Foo {}\"}",
         "class Foo", "function"},
        {"{\"type\":\"object\",\"className\":\"Object\",\"description\":"
         "\"Object\",\"objectId\":\"2\",\"preview\":{\"type\":\"object\","
         "\"description\":\"Object\",\"overflow\":false,\"properties\":["
         "{\"name\":\"a\",\"type\":\"number\",\"value\":\"1\"},{\"name\":\"b"
         "\",\"type\":\"string\",\"value\":\"x\"}]}}",
         "{a: 1, b: 'x'}", "Object"},
        {"{\"type\":\"object\",\"subtype\":\"array\",\"className\":\"Array\","
         "\"description\":\"Array(2)\",\"objectId\":\"3\",\"preview\":{"
         "\"type\":\"object\",\"subtype\":\"array\",\"description\":"
         "\"Array(2)\",\"overflow\":true,\"properties\":[{\"name\":\"0\","
         "\"type\":\"number\",\"value\":\"1\"}]}}",
         "(2) [1, …]", "Array"},
        {"{\"type\":\"object\",\"subtype\":\"map\",\"className\":\"Map\","
         "\"description\":\"Map(1)\",\"preview\":{\"type\":\"object\","
         "\"subtype\":\"map\",\"description\":\"Map(1)\",\"properties\":[],"
         "\"entries\":[{\"key\":{\"type\":\"string\",\"description\":\"k\","
         "\"overflow\":false,\"properties\":[]},\"value\":{\"type\":"
         "\"number\",\"description\":\"1\"}}]}}",
         "Map(1) {'k' => 1}", "Map"},
        {"{\"type\":\"object\",\"subtype\":\"error\",\"className\":\"Error\","
         "\"description\":\"Error: boom\\n    at x\"}",
         "Error: boom", "Error"},
        {"{}", "?", ""},
        {"{\"type\":7}", "?", ""},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *ro = J(cases[i].ro);
        char *t = adapter_cdp_value_text(ro);
        if (strcmp(t, cases[i].text) != 0) {
            fprintf(stderr, "case %zu: got \"%s\", want \"%s\"\n", i, t,
                    cases[i].text);
            exit(1);
        }
        ASSERT_STR_EQ(adapter_cdp_value_type(ro), cases[i].type);
        free(t);
        json_decref(ro);
    }
}

static void test_variables(void)
{
    struct adapter_cdp_refs refs = {obj_fn, getter_fn, NULL};
    json_t *res =
        J("{\"result\":["
          "{\"name\":\"0\",\"value\":{\"type\":\"number\",\"value\":5,"
          "\"description\":\"5\"},\"isOwn\":true},"
          "{\"name\":\"1\",\"value\":{\"type\":\"number\",\"value\":6,"
          "\"description\":\"6\"},\"isOwn\":true},"
          "{\"name\":\"length\",\"value\":{\"type\":\"number\",\"value\":2,"
          "\"description\":\"2\"},\"isOwn\":true},"
          "{\"name\":\"obj\",\"value\":{\"type\":\"object\",\"className\":"
          "\"Array\",\"subtype\":\"array\",\"description\":\"Array(300)\","
          "\"objectId\":\"9\"},\"isOwn\":true},"
          "{\"name\":\"g\",\"get\":{\"type\":\"function\",\"objectId\":\"8\"},"
          "\"isOwn\":false},"
          "{\"name\":\"__proto__\",\"value\":{\"type\":\"object\"},"
          "\"isOwn\":true},"
          "{\"name\":\"inherited\",\"value\":{\"type\":\"number\"},"
          "\"isOwn\":false},"
          "{\"value\":{\"type\":\"number\",\"description\":\"1\"},\"symbol\":"
          "{\"description\":\"Symbol(s)\"}},"
          "7,"
          "{\"name\":\"onlyset\",\"set\":{\"type\":\"function\"}}],"
          "\"internalProperties\":[{\"name\":\"[[Prototype]]\",\"value\":{"
          "\"type\":\"object\",\"objectId\":\"p\",\"description\":\"Object\"}}"
          "]}");
    json_t *all = adapter_cdp_properties_to_variables(res, ADAPTER_CDP_ALL, 0,
                                                      0, 0, &refs);
    json_t *v;

    ASSERT_EQ(json_array_size(all), 8);
    v = json_array_get(all, 3);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "name")), "obj");
    ASSERT(json_integer_value(json_object_get(v, "variablesReference")) > 100);
    ASSERT_EQ(json_integer_value(json_object_get(v, "indexedVariables")), 300);
    v = json_array_get(all, 4);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "value")), "(...)");
    ASSERT_EQ(json_integer_value(json_object_get(v, "variablesReference")),
              555);
    ASSERT(json_is_true(
        json_object_get(json_object_get(v, "presentationHint"), "lazy")));
    v = json_array_get(all, 5);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "name")), "Symbol(s)");
    v = json_array_get(all, 6);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "value")), "(setter)");
    v = json_array_get(all, 7);
    ASSERT_STR_EQ(json_string_value(json_object_get(v, "name")),
                  "[[Prototype]]");
    json_decref(all);

    all = adapter_cdp_properties_to_variables(res, ADAPTER_CDP_INDEXED, 1, 5, 0,
                                              &refs);
    ASSERT_EQ(json_array_size(all), 1);
    ASSERT_STR_EQ(
        json_string_value(json_object_get(json_array_get(all, 0), "value")),
        "6");
    json_decref(all);
    all = adapter_cdp_properties_to_variables(res, ADAPTER_CDP_NAMED, 0, 2, 1,
                                              NULL);
    ASSERT_EQ(json_array_size(all), 2);
    ASSERT_STR_EQ(
        json_string_value(json_object_get(json_array_get(all, 0), "name")),
        "length");
    json_decref(all);
    all = adapter_cdp_properties_to_variables(res, ADAPTER_CDP_ALL, 0, 0, 1,
                                              &refs);
    ASSERT_EQ(json_array_size(all), 7); /* no [[Prototype]] for scopes */
    json_decref(all);
    json_decref(res);

    /* Nothing useful in: an empty list, no crash. */
    res = J("{\"result\":3}");
    all = adapter_cdp_properties_to_variables(res, ADAPTER_CDP_ALL, 0, 0, 0,
                                              &refs);
    ASSERT_EQ(json_array_size(all), 0);
    json_decref(all);
    json_decref(res);
}

static void test_frames_scopes_output(void)
{
    char buf[64];
    json_t *sc = J("{\"type\":\"closure\",\"name\":\"outer\"}");
    json_t *p;
    const char *cat;

    adapter_cdp_scope_name(sc, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "Closure: outer");
    json_decref(sc);
    sc = J("{\"type\":\"global\"}");
    adapter_cdp_scope_name(sc, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "Global");
    json_decref(sc);
    sc = J("{}");
    adapter_cdp_scope_name(sc, buf, sizeof(buf));
    ASSERT_STR_EQ(buf, "Scope");
    json_decref(sc);

    p = J("{\"reason\":\"exception\"}");
    ASSERT_STR_EQ(adapter_cdp_stop_reason(p, "step", 1), "exception");
    json_decref(p);
    p = J("{\"reason\":\"other\"}");
    ASSERT_STR_EQ(adapter_cdp_stop_reason(p, NULL, 1), "breakpoint");
    ASSERT_STR_EQ(adapter_cdp_stop_reason(p, "step", 0), "step");
    ASSERT_STR_EQ(adapter_cdp_stop_reason(p, NULL, 0), "debugger statement");
    json_decref(p);
    p = J("{\"functionName\":\"\"}");
    ASSERT_STR_EQ(adapter_cdp_frame_name(p), "(anonymous)");
    json_decref(p);

    p = J("{\"type\":\"log\",\"args\":[{\"type\":\"string\",\"value\":"
          "\"req %s #%d %%\"},{\"type\":\"string\",\"value\":\"/a\"},"
          "{\"type\":\"number\",\"value\":3,\"description\":\"3\"},"
          "{\"type\":\"boolean\",\"value\":false}]}");
    ASSERT_FREE_STR(adapter_cdp_console_text(p, &cat), "req /a #3 % false\n");
    ASSERT_STR_EQ(cat, "stdout");
    json_decref(p);
    p = J("{\"type\":\"error\",\"args\":[{\"type\":\"string\",\"value\":"
          "\"bad:\"},{\"type\":\"object\",\"subtype\":\"error\","
          "\"description\":\"Error: x\\n at y\"}]}");
    ASSERT_FREE_STR(adapter_cdp_console_text(p, &cat), "bad: Error: x\n");
    ASSERT_STR_EQ(cat, "stderr");
    json_decref(p);
    p = J("{\"type\":\"log\",\"args\":[{\"type\":\"string\",\"value\":"
          "\"%d %s\"},{\"type\":\"string\",\"value\":\"x\"}]}");
    ASSERT_FREE_STR(adapter_cdp_console_text(p, &cat), "NaN %s\n");
    json_decref(p);
    p = J("{}");
    ASSERT_FREE_STR(adapter_cdp_console_text(p, &cat), "\n");
    json_decref(p);

    p = J("{\"text\":\"Uncaught\",\"exception\":{\"type\":\"object\","
          "\"description\":\"RangeError: r\\n    at f (a.js:1:1)\"}}");
    ASSERT_FREE_STR(adapter_cdp_exception_text(p),
                    "Uncaught RangeError: r\n    at f (a.js:1:1)\n");
    ASSERT_FREE_STR(
        adapter_cdp_exception_summary(json_object_get(p, "exception")),
        "RangeError: r");
    json_decref(p);
    p = J("{\"text\":\"SyntaxError\",\"url\":\"x.js\",\"lineNumber\":4}");
    ASSERT_FREE_STR(adapter_cdp_exception_text(p), "SyntaxError (x.js:5)\n");
    json_decref(p);
    p = J("{\"type\":\"string\",\"value\":\"thrown\"}");
    ASSERT_FREE_STR(adapter_cdp_exception_summary(p), "'thrown'");
    json_decref(p);
}

static void test_breakpoint_helpers(void)
{
    ASSERT_NULL(adapter_cdp_breakpoint_condition(NULL, NULL));
    ASSERT_NULL(adapter_cdp_breakpoint_condition("", ""));
    ASSERT_FREE_STR(adapter_cdp_breakpoint_condition("x > 1", NULL), "x > 1");
    ASSERT_FREE_STR(
        adapter_cdp_breakpoint_condition(NULL, "a {x} `b` {{lit}} ${"),
        "(console.log(`a ${x} \\`b\\` {lit} \\${`), false)\n"
        "//# sourceURL=kdap-logpoint.js\n");
    ASSERT_FREE_STR(adapter_cdp_breakpoint_condition("ok", "v={o.f({a:1})}"),
                    "(ok) && (console.log(`v=${o.f({a:1})}`), false)\n"
                    "//# sourceURL=kdap-logpoint.js\n");
    /* "{{ }}" are braces, a "$" of the text never interpolates */
    ASSERT_FREE_STR(adapter_cdp_breakpoint_condition(NULL, "{{a}} ${b} {}"),
                    "(console.log(`{a} \\$${b} {}`), false)\n"
                    "//# sourceURL=kdap-logpoint.js\n");
    /* an unclosed brace is closed */
    ASSERT_FREE_STR(adapter_cdp_breakpoint_condition(NULL, "{x"),
                    "(console.log(`${x}`), false)\n"
                    "//# sourceURL=kdap-logpoint.js\n");
}

/* tsc output for:
 *   line 0: function greet(who) {     <- src line 2
 *   line 1:   return who;             <- src line 3, col 2
 *   line 2: }
 */
static void test_srcmap(void)
{
    const char *map =
        "{\"version\":3,\"file\":\"app.js\",\"sourceRoot\":\"\",\"sources\":"
        "[\"../src/app.ts\"],\"names\":[],\"mappings\":\"AAEA,SAAS;EACP,"
        "OAAO;AACT\"}";
    adapter_srcmap *m;
    struct dap_error err;
    int src, line, col, gl, gc, ol;
    char *json;
    size_t len;

    ASSERT_OK(adapter_srcmap_parse(map, strlen(map), "/p/build/app.js.map", &m,
                                   &err));
    ASSERT_EQ(adapter_srcmap_source_count(m), 1);
    ASSERT_STR_EQ(adapter_srcmap_source(m, 0), "/p/src/app.ts");
    ASSERT_EQ(adapter_srcmap_find_source(m, "/p/src/app.ts"), 0);
    ASSERT_EQ(adapter_srcmap_find_source(m, "/p/src/other.ts"), -1);
    ASSERT_OK(adapter_srcmap_original(m, 0, 0, &src, &line, &col));
    ASSERT_EQ(line, 2);
    ASSERT_EQ(col, 0);
    ASSERT_OK(adapter_srcmap_original(m, 0, 12, &src, &line, &col));
    ASSERT_EQ(line, 2);
    ASSERT_EQ(col, 9);
    ASSERT_OK(adapter_srcmap_original(m, 1, 4, &src, &line, &col));
    ASSERT_EQ(line, 3);
    ASSERT_EQ(col, 2);
    ASSERT_OK(adapter_srcmap_original(m, 1, 0, &src, &line, &col));
    ASSERT_EQ(line, 3); /* before the first mapping: that one */
    ASSERT_EQ(adapter_srcmap_original(m, 9, 0, &src, &line, &col), -1);
    ASSERT_OK(adapter_srcmap_generated(m, 0, 3, 0, &gl, &gc, &ol));
    ASSERT_EQ(gl, 1);
    ASSERT_EQ(gc, 2);
    ASSERT_EQ(ol, 3);
    /* an unmapped line moves to the next mapped one within the slack */
    ASSERT_OK(adapter_srcmap_generated(m, 0, 0, 5, &gl, &gc, &ol));
    ASSERT_EQ(ol, 2);
    ASSERT_EQ(gl, 0);
    ASSERT_EQ(adapter_srcmap_generated(m, 0, 10, 3, &gl, &gc, &ol), -1);
    ASSERT_OK(adapter_srcmap_set_source(m, 0, "/remote/app.ts"));
    ASSERT_STR_EQ(adapter_srcmap_source(m, 0), "/remote/app.ts");
    adapter_srcmap_free(m);

    /* sourceRoot and file:// sources */
    map = "{\"version\":3,\"sourceRoot\":\"/r\",\"sources\":[\"a.ts\","
          "\"file:///x/b.ts\",\"webpack:///./c.ts\"],\"mappings\":\"\"}";
    ASSERT_OK(adapter_srcmap_parse(map, strlen(map), "/m/x.map", &m, &err));
    ASSERT_STR_EQ(adapter_srcmap_source(m, 0), "/r/a.ts");
    ASSERT_STR_EQ(adapter_srcmap_source(m, 1), "/x/b.ts");
    ASSERT_STR_EQ(adapter_srcmap_source(m, 2), "webpack:///./c.ts");
    adapter_srcmap_free(m);

    /* hostile maps */
    const char *bad[] = {
        "[]",
        "{\"version\":2,\"sources\":[],\"mappings\":\"\"}",
        "{\"version\":3,\"sources\":[\"a\"],\"mappings\":\"ACAA\"}",
        "{\"version\":3,\"sources\":[\"a\"],\"mappings\":\"AA\"}",
        "{\"version\":3,\"sources\":[\"a\"],\"mappings\":\"A!\"}",
        "{\"version\":3,\"sources\":[\"a\"],\"mappings\":\"gggggggggggA\"}",
        "{\"version\":3,\"sources\":[\"a\"],\"mappings\":\"D\"}",
        "{\"version\":3,\"sections\":[]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        if (adapter_srcmap_parse(bad[i], strlen(bad[i]), "/x", &m, &err) == 0) {
            fprintf(stderr, "bad map %zu accepted\n", i);
            exit(1);
        }
    }

    ASSERT_OK(adapter_srcmap_data_url("data:application/json;base64,"
                                      "eyJhIjoxfQ==",
                                      &json, &len));
    ASSERT_STR_EQ(json, "{\"a\":1}");
    ASSERT_EQ(len, 7);
    free(json);
    ASSERT_OK(adapter_srcmap_data_url("data:application/json;charset=utf-8;"
                                      "base64,e30=",
                                      &json, &len));
    ASSERT_STR_EQ(json, "{}");
    free(json);
    ASSERT_EQ(adapter_srcmap_data_url("data:;base64,@@", &json, &len), -1);
    ASSERT_EQ(adapter_srcmap_data_url("http://x", &json, &len), -1);
}

int main(void)
{
    test_parse();
    test_urls();
    test_values();
    test_variables();
    test_frames_scopes_output();
    test_breakpoint_helpers();
    test_srcmap();
    printf("test_cdp: ok\n");
    return 0;
}
