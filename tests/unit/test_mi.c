/* test_mi.c - the GDB/MI parser on real gdb 13.1 output (captured against
 * gdbserver with tests/apps/c-demo and cpp-demo), the line reader and the
 * command builder. */
#include <string.h>

#include "adapters/mi.h"
#include "tests/test.h"

static struct adapter_mi_record rec;

static json_t *parse(const char *line)
{
    adapter_mi_record_cleanup(&rec);
    ASSERT_OK(adapter_mi_parse_line(line, strlen(line), &rec, NULL));
    return rec.results;
}

static void test_results(void)
{
    json_t *r = parse("3^done,bkpt={number=\"1\",type=\"breakpoint\",disp=\"keep\","
                      "enabled=\"y\",addr=\"0x000055c3bf5ab1a4\",func=\"tick\","
                      "file=\"/src/kdap/tests/apps/c-demo/main.c\",fullname=\"/home/"
                      "dev/tests/apps/c-demo/main.c\",line=\"34\",thread-groups=[\"i1\"],"
                      "times=\"0\",original-location=\"main.c:33\"}");
    ASSERT_EQ(rec.kind, ADAPTER_MI_RESULT);
    ASSERT(rec.has_token);
    ASSERT_EQ(rec.token, 3);
    ASSERT_STR_EQ(rec.cls, "done");
    json_t *b = json_object_get(r, "bkpt");
    ASSERT_STR_EQ(adapter_mi_str(b, "func"), "tick");
    ASSERT_EQ(adapter_mi_int(b, "line", 0), 34);
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(b, "thread-groups"), 0)), "i1");

    r = parse("^done,stack=[frame={level=\"0\",addr=\"0x1\",func=\"tick\",line=\"34\"},"
              "frame={level=\"1\",addr=\"0x2\",func=\"main\",line=\"88\"}]");
    ASSERT(!rec.has_token);
    ASSERT_EQ(json_array_size(json_object_get(r, "stack")), 2);
    ASSERT_STR_EQ(adapter_mi_str(json_array_get(json_object_get(r, "stack"), 1), "func"), "main");

    r = parse("12^error,msg=\"No symbol \\\"nosuch\\\" in current context.\"");
    ASSERT_STR_EQ(rec.cls, "error");
    ASSERT_STR_EQ(adapter_mi_str(r, "msg"), "No symbol \"nosuch\" in current context.");

    r = parse("2^connected");
    ASSERT_STR_EQ(rec.cls, "connected");
    ASSERT_EQ(json_object_size(r), 0);

    r = parse("^done,threads=[]");
    ASSERT_EQ(json_array_size(json_object_get(r, "threads")), 0);

    r = parse("^done,numchild=\"3\",children=[child={name=\"var1.x\",exp=\"x\",numchild=\"0\","
              "value=\"11\",type=\"int\",thread-id=\"1\"},child={name=\"var1.label\",exp=\"label\","
              "numchild=\"1\",value=\"0x55c3bf5ac004 \\\"origin\\\"\",type=\"const char *\","
              "thread-id=\"1\"}],has_more=\"0\"");
    ASSERT_STR_EQ(adapter_mi_str(json_array_get(json_object_get(r, "children"), 1), "value"),
                  "0x55c3bf5ac004 \"origin\"");
    r = parse("^done,register-names=[\"rax\",\"\",\"rip\"]");
    ASSERT_STR_EQ(json_string_value(json_array_get(json_object_get(r, "register-names"), 1)), "");
    /* gdb's dprintf script tuple holds bare strings */
    r = parse("=breakpoint-modified,bkpt={number=\"1\",type=\"dprintf\",script={\"printf \\\"\\\\an=%s\\\\n\\\",$_as_string(n)\"}}");
    ASSERT_EQ(rec.kind, ADAPTER_MI_NOTIFY);
    ASSERT_STR_EQ(adapter_mi_str(json_object_get(json_object_get(r, "bkpt"), "script"), "0"),
                  "printf \"\\an=%s\\n\",$_as_string(n)");
}

static void test_async(void)
{
    json_t *r = parse("*stopped,reason=\"signal-received\",signal-name=\"SIGSEGV\","
                      "signal-meaning=\"Segmentation fault\",frame={addr=\"0x000055face7e2433\","
                      "func=\"main\",args=[],file=\"/x/main.c\",fullname=\"/x/main.c\",line=\"93\","
                      "arch=\"i386:x86-64\"},thread-id=\"1\",stopped-threads=\"all\"");
    ASSERT_EQ(rec.kind, ADAPTER_MI_EXEC);
    ASSERT_STR_EQ(rec.cls, "stopped");
    ASSERT_STR_EQ(adapter_mi_str(r, "signal-name"), "SIGSEGV");
    ASSERT_EQ(json_array_size(json_object_get(json_object_get(r, "frame"), "args")), 0);
    r = parse("*running,thread-id=\"all\"");
    ASSERT_STR_EQ(rec.cls, "running");
    r = parse("=thread-group-exited,id=\"i1\"");
    ASSERT_STR_EQ(rec.cls, "thread-group-exited");
    r = parse("*stopped,reason=\"exited\",exit-code=\"03\"");
    ASSERT_EQ(adapter_mi_int(r, "exit-code", -1), 3);
    r = parse("+download,{section=\".text\",section-size=\"6668\"}");
    ASSERT_EQ(rec.kind, ADAPTER_MI_STATUS);
}

static void test_streams(void)
{
    parse("~\"\\an=\"");
    ASSERT_EQ(rec.kind, ADAPTER_MI_CONSOLE);
    ASSERT_STR_EQ(rec.text, "\an=");
    parse("&\"48\\t../sysdeps/unix/sysv/linux/clock_nanosleep.c: No such file or directory.\\n\"");
    ASSERT_EQ(rec.kind, ADAPTER_MI_LOG);
    ASSERT_STR_EQ(rec.text, "48\t../sysdeps/unix/sysv/linux/clock_nanosleep.c: No such file or directory.\n");
    parse("@\"a\\000b\\377\"");
    ASSERT_EQ(rec.kind, ADAPTER_MI_TARGET);
    ASSERT_EQ(rec.text_len, 4);
    ASSERT_EQ(rec.text[1], 0);
    /* invalid UTF-8 inside values becomes U+FFFD */
    json_t *r = parse("^done,value=\"\\377x\"");
    ASSERT_STR_EQ(adapter_mi_str(r, "value"), "\xef\xbf\xbdx");
    parse("(gdb) ");
    ASSERT_EQ(rec.kind, ADAPTER_MI_PROMPT);
}

static void test_bad(void)
{
    const char *bad[] = {"", "hello", "^", "~\"unterminated", "^done,x=", "^done,x=\"a\"junk",
                         "^done,x={a=\"1\"", "^done,x=[\"a\"", "99999999999999999999999^done",
                         "5~\"x\"", NULL};
    for (int i = 0; bad[i] != NULL; i++) {
        adapter_mi_record_cleanup(&rec);
        ASSERT(adapter_mi_parse_line(bad[i], strlen(bad[i]), &rec, NULL) < 0);
    }
    adapter_mi_record_cleanup(&rec);
    /* a result that cannot be read still names its command */
    ASSERT(adapter_mi_parse_line("12^done,x={a=\"1\"", 16, &rec, NULL) < 0);
    ASSERT_EQ(rec.kind, ADAPTER_MI_RESULT);
    ASSERT(rec.has_token);
    ASSERT_EQ(rec.token, 12);
    adapter_mi_record_cleanup(&rec);
    ASSERT(adapter_mi_parse_line("hello", 5, &rec, NULL) < 0);
    ASSERT_EQ(rec.kind, ADAPTER_MI_PROMPT);
    adapter_mi_record_cleanup(&rec);
}

static int nlines;
static char last[256];

static void on_line(void *data, const char *line, size_t len)
{
    (void)data;
    nlines++;
    snprintf(last, sizeof(last), "%.*s", (int)len, line);
}

static void test_reader(void)
{
    adapter_mi_reader rd;
    const char *in = "1^done\n(gdb) \n*running,thread-id=\"all\"\n";

    adapter_mi_reader_init(&rd, 64);
    for (size_t i = 0; i < strlen(in); i++)
        ASSERT_OK(adapter_mi_reader_feed(&rd, in + i, 1, on_line, NULL));
    ASSERT_EQ(nlines, 3);
    ASSERT_STR_EQ(last, "*running,thread-id=\"all\"");
    char big[200];
    memset(big, 'x', sizeof(big));
    ASSERT(adapter_mi_reader_feed(&rd, big, sizeof(big), on_line, NULL) < 0);
    ASSERT_OK(adapter_mi_reader_feed(&rd, "\nok\n", 4, on_line, NULL));
    ASSERT_EQ(nlines, 4);
    ASSERT_STR_EQ(last, "ok");
    adapter_mi_reader_cleanup(&rd);
}

static void test_builder(void)
{
    dap_buf b;

    dap_buf_init(&b, 1024);
    ASSERT_OK(adapter_mi_build(&b, "-var-create --thread %d %s * %q", 3, "kv1",
                               "p->label == \"a\\b\"\n"));
    ASSERT_STR_EQ(b.data, "-var-create --thread 3 kv1 * \"p->label == \\\"a\\\\b\\\"\\n\"");
    dap_buf_reset(&b);
    ASSERT_OK(adapter_mi_build(&b, "-x %l %% %q", 1234567890123LL, "\a"));
    ASSERT_STR_EQ(b.data, "-x 1234567890123 % \"\\007\"");
    dap_buf_reset(&b);
    ASSERT(adapter_mi_build(&b, "%z") < 0);
    /* round trip through the parser's unescaping */
    dap_buf_reset(&b);
    ASSERT_OK(adapter_mi_quote(&b, "tab\there \"q\" \\ \x01"));
    dap_buf out;
    dap_buf_init(&out, 1024);
    ASSERT(adapter_mi_cstring(b.data, b.len, &out) == (int)b.len);
    ASSERT_STR_EQ(out.data, "tab\there \"q\" \\ \x01");
    dap_buf_cleanup(&out);
    dap_buf_cleanup(&b);
}

int main(void)
{
    test_results();
    test_async();
    test_streams();
    test_bad();
    test_reader();
    test_builder();
    adapter_mi_record_cleanup(&rec);
    return 0;
}
