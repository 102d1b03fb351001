/* fuzz_chan.c - kube/chan: arbitrary WebSocket messages through the
 * channel decoder (every protocol), the port-forward prefix state machine
 * and the exec status parser; the input is split into messages by a
 * length byte.  Must never crash or read out of bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kube/chan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const enum kube_chan_proto protos[] = {
        KUBE_CHAN_V4, KUBE_CHAN_V4_BASE64, KUBE_CHAN_V5, KUBE_CHAN_UNKNOWN};
    struct kube_pf_state st;
    struct dap_error e;
    uint8_t *scratch;
    size_t off = 0;

    if (size < 1)
        return 0;
    kube_pf_state_init(&st, (uint16_t)(data[0] | 0x100));
    scratch = malloc(size + 1);
    if (scratch == NULL)
        return 0;
    off = 1;
    while (off < size) {
        size_t n = data[off++];
        struct kube_chan_msg m;
        const uint8_t *d;
        size_t dl;
        int code;
        if (n > size - off)
            n = size - off;
        for (size_t k = 0; k < sizeof(protos) / sizeof(protos[0]); k++) {
            if (kube_chan_decode(protos[k], data + off, n, scratch, &m) != 0)
                continue;
            if (k == 0 && kube_pf_feed(&st, &m, &d, &dl, &e) > 0 && dl > 0)
                (void)d[dl - 1];
            if (m.channel == 3)
                if (kube_exec_status_parse(m.data, m.len, &code, &e) == 0)
                    (void)code;
        }
        /* Round trip of the payload through the encoders. */
        {
            uint8_t *enc = malloc(kube_chan_encoded_size(KUBE_CHAN_V4_BASE64,
                                                         n));
            struct kube_chan_msg m2;
            int binary;
            size_t el;
            if (enc != NULL) {
                el = kube_chan_encode(KUBE_CHAN_V4_BASE64, n % 10,
                                      data + off, n, enc, &binary);
                if (kube_chan_decode(KUBE_CHAN_V4_BASE64, enc, el, scratch,
                                     &m2) == 0 &&
                    (m2.len != n || memcmp(m2.data, data + off, n) != 0))
                    abort();
                free(enc);
            }
        }
        off += n;
    }
    free(scratch);
    return 0;
}
