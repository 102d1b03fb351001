/* fuzz_watch.c - kube/watch's stream parser: arbitrary bytes split into
 * chunks at data-dependent points.  Must never crash, leak or hang. */
#include <stddef.h>
#include <stdint.h>

#include "kube/watch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int count_fn(void *data, json_t *obj)
{
    (*(int *)data)++;
    return json_object_get(obj, "stop") != NULL ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct kube_watch_parser p;
    size_t off = 0;
    int n = 0;

    kube_watch_parser_init(&p, 4096);
    while (off < size) {
        size_t chunk = 1 + data[off] % 64;
        if (chunk > size - off)
            chunk = size - off;
        if (kube_watch_parser_feed(&p, (const char *)data + off, chunk,
                                   count_fn, &n) < 0)
            break;
        off += chunk;
    }
    kube_watch_parser_cleanup(&p);
    return 0;
}
