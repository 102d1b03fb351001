/* test_frame.c - DAP framing: split, merged, garbage, oversize. */
#include "dap/frame.h"
#include "tests/test.h"

static int next_body(dap_frame *f, char *out, size_t cap)
{
    const char *b;
    size_t n;
    int rc = dap_frame_next(f, &b, &n, NULL);

    if (rc == 1) {
        ASSERT(n < cap);
        memcpy(out, b, n);
        out[n] = '\0';
    }
    return rc;
}

static void test_split_byte_by_byte(void)
{
    const char *in = "Content-Length: 13\r\n\r\n{\"seq\":1,\"a\"}";
    dap_frame f;
    char out[64];
    int got = 0;

    dap_frame_init(&f, 1024);
    for (size_t i = 0; in[i]; i++) {
        ASSERT_OK(dap_frame_feed(&f, in + i, 1));
        int rc = next_body(&f, out, sizeof(out));
        if (in[i + 1] != '\0')
            ASSERT_EQ(rc, 0);
        else {
            ASSERT_EQ(rc, 1);
            ASSERT_STR_EQ(out, "{\"seq\":1,\"a\"}");
            got = 1;
        }
    }
    ASSERT(got);
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 0);
    dap_frame_cleanup(&f);
}

static void test_merged_and_headers(void)
{
    const char *in = "Content-Length: 2\r\n\r\n{}"
                     "content-length:3\r\nX-Other: yes\r\n\r\n[1]"
                     "Content-Type: application/json\r\nCONTENT-LENGTH:  "
                     "8\r\n\r\n\"a\r\n\r\nb\"";
    dap_frame f;
    char out[64];

    dap_frame_init(&f, 1024);
    ASSERT_OK(dap_frame_feed(&f, in, strlen(in)));
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 1);
    ASSERT_STR_EQ(out, "{}");
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 1);
    ASSERT_STR_EQ(out, "[1]");
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 1);
    ASSERT_STR_EQ(out, "\"a\r\n\r\nb\"");
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 0);
    dap_frame_cleanup(&f);
}

static void test_bad_headers_resync(void)
{
    const char *in = "garbage line\r\n\r\n"
                     "Content-Length: abc\r\n\r\n"
                     "Content-Length: 5 x\r\n\r\n"
                     "Content-Length: 2\r\n\r\n{}";
    dap_frame f;
    char out[64];
    struct dap_error err;
    const char *b;
    size_t n;

    dap_frame_init(&f, 1024);
    ASSERT_OK(dap_frame_feed(&f, in, strlen(in)));
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_EPROTO);
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_EPROTO);
    ASSERT(strstr(err.msg, "not a number") != NULL);
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_EPROTO);
    ASSERT_EQ(next_body(&f, out, sizeof(out)), 1);
    ASSERT_STR_EQ(out, "{}");
    dap_frame_cleanup(&f);
}

/* Two conflicting lengths: the block goes, the next message survives (it
 * used to be taken for the body of the second length).  A body sent after
 * the bad block is garbage glued in front of the next header. */
static void test_conflicting_lengths_resync(void)
{
    static const char *const ins[] = {
        "Content-Length: 5\r\nContent-Length: 7\r\n\r\n"
        "Content-Length: 2\r\n\r\n{}",
        "Content-Length: 2\r\ncontent-length: 40\r\n\r\n{}"
        "Content-Length: 2\r\n\r\n{}",
        "X: 1\r\nContent-Length: 1\r\nY: 2\r\nContent-Length: 9999\r\n\r\n"
        "Content-Length: 2\r\n\r\n{}",
        "junk line\r\nContent-Length: 2\r\n\r\n{}",
    };

    for (size_t i = 0; i < sizeof(ins) / sizeof(ins[0]); i++) {
        dap_frame f;
        char out[64];
        int rc;
        int errors = 0;

        dap_frame_init(&f, 1024);
        ASSERT_OK(dap_frame_feed(&f, ins[i], strlen(ins[i])));
        while ((rc = next_body(&f, out, sizeof(out))) == DAP_EPROTO)
            errors++;
        ASSERT(errors >= 1);
        ASSERT_EQ(rc, 1);
        ASSERT_STR_EQ(out, "{}");
        ASSERT_EQ(next_body(&f, out, sizeof(out)), 0);
        dap_frame_cleanup(&f);
    }
}

static void test_garbage_without_terminator(void)
{
    char junk[DAP_FRAME_MAX_HEADER + 100];
    const char *good = "Content-Length: 2\r\n\r\n{}";
    dap_frame f;
    char out[64];
    int rc;
    int errors = 0;

    memset(junk, 'x', sizeof(junk));
    dap_frame_init(&f, 1024);
    ASSERT_OK(dap_frame_feed(&f, junk, sizeof(junk)));
    ASSERT_OK(dap_frame_feed(&f, good, strlen(good)));
    while ((rc = next_body(&f, out, sizeof(out))) == DAP_EPROTO)
        errors++;
    ASSERT(errors >= 1);
    ASSERT_EQ(rc, 1);
    ASSERT_STR_EQ(out, "{}");
    dap_frame_cleanup(&f);
}

static void test_oversize_is_fatal(void)
{
    const char *in = "Content-Length: 99999999999\r\n\r\n{}";
    dap_frame f;
    struct dap_error err;
    const char *b;
    size_t n;

    dap_frame_init(&f, DAP_FRAME_MAX_BODY);
    ASSERT_OK(dap_frame_feed(&f, in, strlen(in)));
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_ETOOBIG);
    ASSERT(strstr(err.msg, "exceeds") != NULL);
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_ETOOBIG);
    ASSERT_EQ(dap_frame_feed(&f, "x", 1), DAP_ETOOBIG);
    dap_frame_cleanup(&f);

    /* Overflowing digits are a protocol error, not a wrap-around. */
    dap_frame_init(&f, DAP_FRAME_MAX_BODY);
    in = "Content-Length: 999999999999999999999999999\r\n\r\n";
    ASSERT_OK(dap_frame_feed(&f, in, strlen(in)));
    ASSERT_EQ(dap_frame_next(&f, &b, &n, &err), DAP_EPROTO);
    dap_frame_cleanup(&f);
}

static void test_write(void)
{
    dap_buf out;

    dap_buf_init(&out, 1024);
    ASSERT_OK(dap_frame_write(&out, "{}", 2));
    ASSERT_STR_EQ(out.data, "Content-Length: 2\r\n\r\n{}");
    dap_buf_cleanup(&out);
}

int main(void)
{
    test_split_byte_by_byte();
    test_merged_and_headers();
    test_bad_headers_resync();
    test_conflicting_lengths_resync();
    test_garbage_without_terminator();
    test_oversize_is_fatal();
    test_write();
    printf("test_frame: ok\n");
    return 0;
}
