/* fuzz_xlate.c - the breakpoint parsers every translating backend shares
 * (hitCondition, logMessage): no crash, no leak, no hang; the log message's
 * pieces always account for every byte but the braces. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "adapters/xlate.h"

static int count(void *data, int is_expr, const char *text, size_t len)
{
    size_t *n = data;

    (void)is_expr;
    if (memchr(text, '\0', len) != NULL)
        abort(); /* a piece never runs past the message */
    *n += len;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    struct adapter_hit h;
    size_t n = 0;

    if (s == NULL)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    if (adapter_xlate_hit_parse(s, &h) == 0)
        (void)adapter_xlate_hit_match(&h, (long)size);
    if (adapter_xlate_log_parse(s, count, &n) != 0 || n > strlen(s))
        abort();
    free(s);
    return 0;
}
