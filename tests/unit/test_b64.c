/* test_b64.c - dap/b64: OpenSSL's arithmetic with kdap's framing (optional
 * padding, whitespace on request, strictness, no NUL when encoding in
 * place). */
#include <openssl/evp.h>

#include "dap/b64.h"
#include "tests/test.h"

static void test_known(void)
{
    char *out = NULL;
    size_t n = 0;

    ASSERT_OK(dap_b64_decode("aGVsbG8=", 8, 0, &out, &n));
    ASSERT_EQ(n, 5);
    ASSERT_STR_EQ(out, "hello");
    free(out);
    /* padding is optional */
    ASSERT_OK(dap_b64_decode("aGVsbG8", 7, 0, &out, &n));
    ASSERT_STR_EQ(out, "hello");
    free(out);
    ASSERT_OK(dap_b64_decode("aGVsbA", 6, 0, &out, &n));
    ASSERT_STR_EQ(out, "hell");
    free(out);
    ASSERT_OK(dap_b64_decode("aGVsbA=", 7, 0, &out, &n));
    ASSERT_STR_EQ(out, "hell");
    free(out);
    /* whitespace only when asked for (kubeconfig data may be wrapped) */
    ASSERT_OK(dap_b64_decode("aGVs\nbG8", 8, DAP_B64_SPACE, &out, &n));
    ASSERT_STR_EQ(out, "hello");
    free(out);
    ASSERT_EQ(dap_b64_decode("aGVs\nbG8", 8, 0, &out, &n), DAP_EINVAL);
    ASSERT_NULL(out);
    ASSERT_OK(dap_b64_decode("", 0, 0, &out, &n));
    ASSERT_EQ(n, 0);
    ASSERT_STR_EQ(out, "");
    free(out);

    ASSERT_OK(dap_b64_encode("hello", 5, &out));
    ASSERT_STR_EQ(out, "aGVsbG8=");
    free(out);
    ASSERT_OK(dap_b64_encode("", 0, &out));
    ASSERT_STR_EQ(out, "");
    free(out);
}

static void test_invalid(void)
{
    const char *bad[] = {"a$b",  "QQ==QQ==", "Q",   "QQQQQ", "QQ===",
                         "QQQQ=", "====",    "=QQQ", "QQ=Q", "QQ\xc3\xa9",
                         NULL};
    unsigned char buf[16];
    size_t n;

    for (int i = 0; bad[i] != NULL; i++) {
        if (dap_b64_decode_to(bad[i], strlen(bad[i]), DAP_B64_SPACE, buf,
                              &n) != DAP_EINVAL) {
            fprintf(stderr, "\"%s\" was accepted\n", bad[i]);
            exit(1);
        }
    }
}

/* Every length across the encoder's chunk boundary: the same text as
 * OpenSSL's own, and back. */
static void test_roundtrip(void)
{
    static unsigned char in[2400], back[2400 + 3];
    static char enc[3300], ref[3300];

    for (size_t i = 0; i < sizeof(in); i++)
        in[i] = (unsigned char)(i * 131 + 7);
    for (size_t len = 0; len <= sizeof(in); len += len < 800 ? 1 : 97) {
        size_t n, m;
        memset(enc, '#', sizeof(enc));
        n = dap_b64_encode_to(in, len, enc);
        ASSERT_EQ(n, dap_b64_encoded_len(len));
        ASSERT_EQ(enc[n], '#'); /* nothing written past the text */
        ASSERT_EQ(EVP_EncodeBlock((unsigned char *)ref, in, (int)len),
                  (int)n);
        ASSERT(memcmp(enc, ref, n) == 0);
        ASSERT_OK(dap_b64_decode_to(enc, n, 0, back, &m));
        ASSERT_EQ(m, len);
        ASSERT(memcmp(back, in, len) == 0);
    }
}

int main(void)
{
    test_known();
    test_invalid();
    test_roundtrip();
    printf("test_b64: ok\n");
    return 0;
}
