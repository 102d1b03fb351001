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
    /* Cutting: never inside a character, whatever its length. */
    ASSERT_EQ(dap_utf8_cut("ab", 2), 2);
    ASSERT_EQ(dap_utf8_cut("a\xe2\x82\xac", 4), 4);
    ASSERT_EQ(dap_utf8_cut("a\xe2\x82\xac", 3), 1);
    ASSERT_EQ(dap_utf8_cut("a\xe2\x82\xac", 2), 1);
    ASSERT_EQ(dap_utf8_cut("a\xf0\x9f\x98\x80", 4), 1);
    ASSERT_EQ(dap_utf8_cut("a\xf0\x9f\x98\x80", 5), 5);
    ASSERT_EQ(dap_utf8_cut("\xc3\xa9", 1), 0);
    ASSERT_EQ(dap_utf8_cut("", 0), 0);
    {
        char buf[8];
        /* "a" + "€€€" is 10 bytes; 7 fit, and 7 would end in a "€". */
        ASSERT_EQ(dap_utf8_snprintf(buf, sizeof(buf), "a%s",
                                    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"),
                  7);
        ASSERT_STR_EQ(buf, "a\xe2\x82\xac\xe2\x82\xac");
        ASSERT_EQ(dap_utf8_snprintf(buf, 7, "a%s",
                                    "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"),
                  4);
        ASSERT(dap_utf8_valid(buf, strlen(buf)));
    }
    printf("test_utf8: ok\n");
    return 0;
}
