/* test_utf8.c - repairing invalid UTF-8 from debuggees. */
#include <stdlib.h>

#include "dap/utf8.h"
#include "tests/test.h"

int main(void)
{
    size_t n;
    char *r;

    ASSERT(dap_utf8_valid("plain", 5));
    ASSERT(dap_utf8_valid("h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80", 15));
    ASSERT(!dap_utf8_valid("\xff", 1));
    ASSERT(!dap_utf8_valid("\xc0\xaf", 2));         /* overlong '/' */
    ASSERT(!dap_utf8_valid("\xed\xa0\x80", 3));     /* surrogate */
    ASSERT(!dap_utf8_valid("\xe2\x82", 2));         /* truncated */
    ASSERT(!dap_utf8_valid("\xf4\x90\x80\x80", 4)); /* > U+10FFFF */

    r = dap_utf8_repair("a\xff" "b\xe2\x82", 5, &n);
    ASSERT_STR_EQ(r, "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd");
    ASSERT_EQ(n, strlen(r));
    ASSERT(dap_utf8_valid(r, n));
    free(r);

    /* JSON text: lone surrogate escapes inside strings become \ufffd; a
     * pair, an escaped backslash before "ud800" and text outside strings
     * stay as they are; bytes are repaired as above. */
    {
        static const char *cases[][2] = {
            {"[\"x\\ud800y\"]", "[\"x\\ufffdy\"]"},
            {"[\"\\uDC00\\uD800\"]", "[\"\\ufffd\\ufffd\"]"},
            {"[\"\\ud83d\\ude00\"]", "[\"\\ud83d\\ude00\"]"},
            {"[\"\\\\ud800\"]", "[\"\\\\ud800\"]"},
            {"[\"\\\"\\ud800\"]", "[\"\\\"\\ufffd\"]"},
            {"[\"end\\ud800", "[\"end\\ufffd"},
            {"[\"cut\\ud8", "[\"cut\\ud8"},
            {"[\"\xff\"]", "[\"\xef\xbf\xbd\"]"},
        };
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            r = dap_utf8_json_repair(cases[i][0], strlen(cases[i][0]), &n);
            ASSERT_STR_EQ(r, cases[i][1]);
            ASSERT_EQ(n, strlen(r));
            free(r);
        }
    }
    printf("test_utf8: ok\n");
    return 0;
}
