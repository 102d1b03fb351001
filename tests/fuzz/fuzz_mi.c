/* fuzz_mi.c - the GDB/MI parser and line reader on arbitrary gdb output:
 * no crash, no leak, no hang, whatever the chunking. */
#include <stddef.h>
#include <stdint.h>

#include "adapters/mi.h"

static void on_line(void *data, const char *line, size_t len)
{
    struct adapter_mi_record rec;

    (void)data;
    if (adapter_mi_parse_line(line, len, &rec, NULL) == 0 &&
        rec.kind == ADAPTER_MI_RESULT)
        (void)adapter_mi_int(rec.results, "number", 0);
    adapter_mi_record_cleanup(&rec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    adapter_mi_reader rd;
    size_t cut = size > 0 ? data[0] % (size + 1) : 0;

    adapter_mi_reader_init(&rd, 4096);
    (void)adapter_mi_reader_feed(&rd, (const char *)data, cut, on_line, NULL);
    (void)adapter_mi_reader_feed(&rd, (const char *)data + cut, size - cut,
                                 on_line, NULL);
    (void)adapter_mi_reader_feed(&rd, "\n", 1, on_line, NULL);
    adapter_mi_reader_cleanup(&rd);
    return 0;
}
