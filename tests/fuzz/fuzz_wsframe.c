/* fuzz_wsframe.c - net/ws's frame header parser over arbitrary bytes
 * (a stream of frames, as the server sends them), plus a header round
 * trip.  Must never crash or read past the input. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;

    while (off < size) {
        struct net_ws_frame f;
        int rc = net_ws_frame_parse(data + off, size - off, &f);
        if (rc <= 0)
            break;
        if (f.header_len > size - off || f.len > size - off - f.header_len)
            break;
        off += f.header_len + (size_t)f.len;
    }
    if (size >= 8) {
        uint8_t hdr[14], mask[4] = {data[0], data[1], data[2], data[3]};
        uint64_t len = 0;
        struct net_ws_frame f;
        memcpy(&len, data + 4, size >= 12 ? 8 : 4);
        len &= 0x7fffffffffffffffULL;
        size_t h = net_ws_frame_header(hdr, 2, len, mask);
        if (net_ws_frame_parse(hdr, h, &f) != 1 || f.len != len ||
            f.header_len != h || !f.masked || f.opcode != 2 ||
            memcmp(f.mask, mask, 4) != 0)
            abort();
    }
    return 0;
}
