/* test_xlate.c - the translator kit (adapters/xlate.c): the breakpoint
 * parsers every runtime shares, the stop-scoped reference table, and
 * requests answered from the loop's defer queue with their status. */
#include <stdlib.h>
#include <string.h>

#include "adapters/xlate.h"
#include "dap/buf.h"
#include "tests/test.h"

static void test_hit(void)
{
    struct adapter_hit h;

    ASSERT_OK(adapter_xlate_hit_parse("3", &h));
    ASSERT_EQ(h.op, '=');
    ASSERT_EQ(h.n, 3);
    ASSERT(!adapter_xlate_hit_match(&h, 2));
    ASSERT(adapter_xlate_hit_match(&h, 3));
    ASSERT(!adapter_xlate_hit_match(&h, 4));
    ASSERT_OK(adapter_xlate_hit_parse(" >= 2 ", &h));
    ASSERT_EQ(h.op, 'g');
    ASSERT(adapter_xlate_hit_match(&h, 5));
    ASSERT(!adapter_xlate_hit_match(&h, 1));
    ASSERT_OK(adapter_xlate_hit_parse("> 2", &h));
    ASSERT_EQ(h.op, '>');
    ASSERT(!adapter_xlate_hit_match(&h, 2));
    ASSERT(adapter_xlate_hit_match(&h, 3));
    ASSERT_OK(adapter_xlate_hit_parse("%2", &h));
    ASSERT(adapter_xlate_hit_match(&h, 4));
    ASSERT(!adapter_xlate_hit_match(&h, 3));
    ASSERT_OK(adapter_xlate_hit_parse("===4", &h));
    ASSERT_EQ(h.op, '=');
    ASSERT(adapter_xlate_hit_match(&h, 4));
    ASSERT_OK(adapter_xlate_hit_parse("== 4", &h));
    ASSERT_EQ(h.n, 4);
    ASSERT_OK(adapter_xlate_hit_parse("<3", &h));
    ASSERT(adapter_xlate_hit_match(&h, 2));
    ASSERT(!adapter_xlate_hit_match(&h, 3));
    ASSERT_OK(adapter_xlate_hit_parse("<=3", &h));
    ASSERT_EQ(h.op, 'l');
    ASSERT(adapter_xlate_hit_match(&h, 3));
    ASSERT_EQ(adapter_xlate_hit_parse("%0", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse("x", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse("", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse(">=", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse("3 apples", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse("-1", &h), -1);
    ASSERT_EQ(adapter_xlate_hit_parse(NULL, &h), -1);
}

/* Pieces as "T(text)" and "E(expr)", concatenated. */
static int collect(void *data, int is_expr, const char *text, size_t len)
{
    dap_buf *b = data;

    return dap_buf_printf(b, "%s(%.*s)", is_expr ? "E" : "T", (int)len,
                          text);
}

static void assert_log(const char *msg, const char *want)
{
    dap_buf b;
    char *got;

    dap_buf_init(&b, 4096);
    ASSERT_OK(adapter_xlate_log_parse(msg, collect, &b));
    got = dap_buf_take(&b, NULL);
    ASSERT_STR_EQ(got != NULL ? got : "", want);
    free(got);
}

static int stop_at_expr(void *data, int is_expr, const char *text,
                        size_t len)
{
    (void)text;
    (void)len;
    ++*(int *)data;
    return is_expr ? 7 : 0;
}

static void test_log(void)
{
    int calls = 0;

    assert_log("", "");
    assert_log("plain", "T(plain)");
    assert_log("x is {x}", "T(x is )E(x)");
    assert_log("{a}{b}", "E(a)E(b)");
    /* The README's rule: "{{" and "}}" are literal braces. */
    assert_log("{{x}} is {x}", "T({)T(x})T( is )E(x)");
    assert_log("set {{", "T(set {)");
    assert_log("}}", "T(})");
    /* Braces nest inside an expression. */
    assert_log("v={o.f({a:1})}!", "T(v=)E(o.f({a:1}))T(!)");
    /* An open brace runs to the end; at the very end it is text. */
    assert_log("{x", "E(x)");
    assert_log("a {", "T(a )T({)");
    /* "{}" and a lone "}" are text. */
    assert_log("{} and }", "T({})T( and })");
    assert_log("100%", "T(100%)");
    /* A callback's error stops the walk and is returned. */
    ASSERT_EQ(adapter_xlate_log_parse("a {x} b {y}", stop_at_expr, &calls), 7);
    ASSERT_EQ(calls, 2);
}

static int freed;

static void item_free(void *item)
{
    freed++;
    free(item);
}

static void test_refs(void)
{
    struct adapter_xrefs t;
    int64_t a, b, c;

    adapter_xrefs_init(&t, item_free);
    a = adapter_xrefs_add(&t, strdup("a"));
    b = adapter_xrefs_add(&t, strdup("b"));
    ASSERT(a > 0 && b > a);
    ASSERT_STR_EQ((char *)adapter_xrefs_get(&t, a), "a");
    ASSERT_STR_EQ((char *)adapter_xrefs_get(&t, b), "b");
    ASSERT_NULL(adapter_xrefs_get(&t, 0));
    ASSERT_NULL(adapter_xrefs_get(&t, b + 1));
    /* A stop or resume: old references are stale, new ones never reuse
     * them. */
    adapter_xrefs_clear(&t);
    ASSERT_EQ(freed, 2);
    ASSERT_NULL(adapter_xrefs_get(&t, a));
    ASSERT_NULL(adapter_xrefs_get(&t, b));
    c = adapter_xrefs_add(&t, strdup("c"));
    ASSERT(c > b);
    ASSERT_STR_EQ((char *)adapter_xrefs_get(&t, c), "c");
    for (int i = 0; i < 1000; i++)
        ASSERT(adapter_xrefs_add(&t, strdup("n")) > 0);
    ASSERT_STR_EQ((char *)adapter_xrefs_get(&t, c), "c");
    adapter_xrefs_cleanup(&t);
    ASSERT_EQ(freed, 1003);
}

/* Requests: answered from the loop, in order, once, with their status. */
struct answer {
    int status;
    char text[600];
};

static struct answer answers[4];
static int nanswers;
static int drained;

static void on_answer(void *data, int status, json_t *body,
                      const struct dap_error *err)
{
    struct answer *a = &answers[nanswers++];

    (void)data;
    a->status = status;
    if (status < 0) {
        ASSERT(err != NULL);
        ASSERT_EQ(err->code, status);
        snprintf(a->text, sizeof(a->text), "%s", err->msg);
    } else {
        char *s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
        snprintf(a->text, sizeof(a->text), "%s", s != NULL ? s : "null");
        free(s);
    }
}

static void complete(struct adapter_xreq *r)
{
    adapter_xreq_reply(r);
    adapter_xreq_reply(r); /* a second reply is a no-op */
    adapter_xreq_cleanup(r);
    free(r);
}

static void on_drained(struct adapter_xlate *x)
{
    (void)x;
    drained++;
}

static struct adapter_xreq *req(struct adapter_xlate *x, const char *cmd)
{
    struct adapter_xreq *r = malloc(sizeof(*r));

    ASSERT(r != NULL);
    ASSERT_OK(adapter_xreq_init(r, x, cmd, NULL, on_answer, NULL));
    ASSERT(json_is_object(r->args));
    return r;
}

static void test_requests(void)
{
    uv_loop_t loop;
    struct adapter_xlate x;
    struct adapter_xreq *ok, *bad, *stale;

    ASSERT_OK(uv_loop_init(&loop));
    adapter_xlate_init(&x, &loop, complete, on_drained, NULL);
    ok = req(&x, "threads");
    ok->body = json_pack("{s:i}", "n", 1);
    bad = req(&x, "scopes");
    ASSERT_EQ(adapter_xreq_fail(bad, DAP_ENOTSTOPPED, "not %s", "paused"),
              DAP_ENOTSTOPPED);
    /* The first failure is the one reported. */
    adapter_xreq_fail(bad, DAP_EBACKEND, "later");
    stale = req(&x, "variables");
    adapter_xreq_fail(stale, DAP_ESTALE, "variablesReference 7 expired");
    adapter_xreq_defer(ok);
    adapter_xreq_defer(bad);
    adapter_xreq_defer(bad); /* queued once */
    adapter_xreq_defer(stale);
    ASSERT_EQ(nanswers, 0); /* never inside the call */
    uv_run(&loop, UV_RUN_NOWAIT);
    ASSERT_EQ(nanswers, 3);
    ASSERT_EQ(answers[0].status, 0);
    ASSERT_STR_EQ(answers[0].text, "{\"n\":1}");
    ASSERT_EQ(answers[1].status, DAP_ENOTSTOPPED);
    ASSERT_STR_EQ(answers[1].text, "not paused");
    ASSERT_EQ(answers[2].status, DAP_ESTALE);
    ASSERT_STR_EQ(answers[2].text, "variablesReference 7 expired");
    ASSERT_EQ(drained, 1);
    adapter_xlate_cleanup(&x);
    uv_close(adapter_xlate_handle(&x), NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    ASSERT_OK(uv_loop_close(&loop));
}

static void test_events(void)
{
    json_t *o = adapter_xlate_output_new("console", "bad \xff byte\n");
    json_t *s = adapter_xlate_stopped_new("breakpoint", 3, NULL);
    json_t *c = adapter_xlate_continued_new(3);
    char *t;

    ASSERT(o != NULL);
    ASSERT(strstr(json_string_value(json_object_get(o, "output")), "byte") !=
           NULL);
    t = json_dumps(s, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_STR_EQ(t, "{\"allThreadsStopped\":true,\"reason\":\"breakpoint\","
                     "\"threadId\":3}");
    free(t);
    t = json_dumps(c, JSON_COMPACT | JSON_SORT_KEYS);
    ASSERT_STR_EQ(t, "{\"allThreadsContinued\":true,\"threadId\":3}");
    free(t);
    json_decref(o);
    json_decref(s);
    json_decref(c);
}

int main(void)
{
    test_hit();
    test_log();
    test_refs();
    test_requests();
    test_events();
    return 0;
}
