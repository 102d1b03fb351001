/* chan.h - the Kubernetes WebSocket channel protocols, as a pure codec (no
 * I/O; unit-tested and fuzzed by tests/fuzz/fuzz_chan.c).
 *
 * Design notes (docs/protocols.md §1.2 and §2).
 * - v4.channel.k8s.io (and the empty subprotocol) and v5.channel.k8s.io:
 *   every WebSocket message is one channel byte then the payload.
 *   v4.base64.channel.k8s.io: text messages, an ASCII digit '0'+channel then
 *   standard base64 of the payload.
 * - Port-forward (one port per WebSocket here): channel 0 is data, channel
 *   1 is the error text.  The server first sends the port number as
 *   uint16 little-endian on both channels; kube_pf_state checks those
 *   prefixes before any data is accepted, so a misrouted stream is an
 *   error instead of two stray bytes in the user's data.
 * - Exec: 0 stdin, 1 stdout, 2 stderr, 3 status (a metav1.Status JSON), 4
 *   resize, and in v5 only, 255 = close a channel ([255, ch]).
 */
#ifndef KDAP_KUBE_CHAN_H
#define KDAP_KUBE_CHAN_H

#include <stddef.h>
#include <stdint.h>

#include "../dap/err.h"

enum kube_chan_proto {
    KUBE_CHAN_UNKNOWN = 0,
    KUBE_CHAN_V4,        /* v4.channel.k8s.io or no subprotocol: binary */
    KUBE_CHAN_V4_BASE64, /* v4.base64.channel.k8s.io: text + base64 */
    KUBE_CHAN_V5,        /* v5.channel.k8s.io: binary, close signal */
};

#define KUBE_CHAN_CLOSE 255

/* The protocol named by a negotiated Sec-WebSocket-Protocol (NULL or ""
 * = the kubelet's plain binary protocol). */
enum kube_chan_proto kube_chan_proto_parse(const char *subprotocol);

/* One decoded message: channel and payload.  The payload points into the
 * message (binary) or into `scratch` (base64). */
struct kube_chan_msg {
    int channel;
    const uint8_t *data;
    size_t len;
};

/* Decode one received WebSocket message.  `scratch` must hold len bytes
 * (base64 only).  Returns 0, 1 when the message is empty and must be
 * ignored, or DAP_EPROTO. */
int kube_chan_decode(enum kube_chan_proto p, const uint8_t *msg, size_t len,
                     uint8_t *scratch, struct kube_chan_msg *out) DAP_WUR;

/* Size of the encoded message for `len` payload bytes. */
size_t kube_chan_encoded_size(enum kube_chan_proto p, size_t len);
/* Encode channel + payload into `out` (kube_chan_encoded_size bytes).
 * Returns the length, and sets *binary to the frame type to use. */
size_t kube_chan_encode(enum kube_chan_proto p, int channel,
                        const uint8_t *data, size_t len, uint8_t *out,
                        int *binary);

/* ---- port-forward stream state --------------------------------------- */

enum kube_pf_event {
    KUBE_PF_NONE = 0,  /* consumed (a port prefix, or an empty message) */
    KUBE_PF_DATA,      /* payload for the local connection */
    KUBE_PF_ERROR,     /* error text from the kubelet (payload) */
};

struct kube_pf_state {
    uint16_t port;     /* the pod port requested */
    uint8_t got_data_prefix;
    uint8_t got_error_prefix;
    uint8_t prefix_bytes[2][2]; /* partial prefixes (never split in
                                   practice, but be exact) */
    uint8_t prefix_have[2];
};

void kube_pf_state_init(struct kube_pf_state *s, uint16_t port);
/* Feed one decoded message.  Returns a kube_pf_event (>= 0) with the
 * payload in *data and *len, or DAP_EPROTO with a reason in err (wrong port
 * prefix, data before the prefix, unknown channel). */
int kube_pf_feed(struct kube_pf_state *s, const struct kube_chan_msg *m,
                 const uint8_t **data, size_t *len, struct dap_error *err)
    DAP_WUR;

/* ---- exec status ------------------------------------------------------- */

/* Parse the status channel's metav1.Status.  Returns 0 with the exit code
 * in *exit_code (0 on Success, the ExitCode cause on NonZeroExitCode) or
 * DAP_EBACKEND with the Status message in err (for failures that are not
 * an exit code), or DAP_EPROTO when the payload is not a Status (then err
 * holds the text, for v1-v3 style plain errors). */
int kube_exec_status_parse(const uint8_t *data, size_t len, int *exit_code,
                           struct dap_error *err) DAP_WUR;

#endif
