/* frame.h - DAP base-protocol framing ("Content-Length: N\r\n\r\n<body>").
 *
 * Pure and I/O-free so it can be fed byte by byte and fuzzed.  The caller
 * appends whatever a read returned with dap_frame_feed(), then calls
 * dap_frame_next() until it returns 0.  Messages may be split or merged
 * across reads arbitrarily; header names are case-insensitive and headers
 * other than Content-Length are ignored.
 *
 * Resynchronisation: a header block without a valid Content-Length is
 * dropped (DAP_EPROTO, the stream goes on with the first "Content-Length"
 * after the line that was wrong, else with the next block: two conflicting
 * lengths drop the whole block, never the message after it); garbage with
 * no header terminator is dropped up to the next "Content-Length" once it
 * exceeds the header limit.  A length above the body cap is DAP_ETOOBIG and
 * fatal: the caller closes the connection, because skipping an attacker's
 * gigabytes would only look like a hang.
 */
#ifndef KDAP_FRAME_H
#define KDAP_FRAME_H

#include <stddef.h>

#include <jansson.h>

#include "buf.h"
#include "err.h"

#define DAP_FRAME_MAX_BODY (16u * 1024 * 1024)
#define DAP_FRAME_MAX_HEADER 8192u

typedef struct dap_frame {
    dap_buf in;      /* unconsumed bytes start at in.data + pos */
    size_t pos;      /* start of the next unparsed header */
    size_t consume;  /* bytes of the body returned last time, to drop */
    size_t max_body; /* DAP_ETOOBIG above this */
    int fatal;       /* set after DAP_ETOOBIG: everything else is refused */
} dap_frame;

void dap_frame_init(dap_frame *f, size_t max_body);
void dap_frame_cleanup(dap_frame *f);

/* Append n bytes read from the peer.  Fails only with DAP_ENOMEM or after a
 * fatal error. */
int dap_frame_feed(dap_frame *f, const void *p, size_t n) DAP_WUR;

/* Extract the next complete body.  Returns 1 and sets *body and *len (valid until
 * the next call to any dap_frame function), 0 when more input is needed,
 * DAP_EPROTO when a malformed header block was dropped (call again), or
 * DAP_ETOOBIG (fatal).  `err` (may be NULL) gets the detail. */
int dap_frame_next(dap_frame *f, const char **body, size_t *len,
                   struct dap_error *err) DAP_WUR;

/* Serialise one message: the header and the body into `out`. */
int dap_frame_write(dap_buf *out, const char *body, size_t len) DAP_WUR;

/* Serialise a JSON message with its header into `out` (reset first, so one
 * buffer serves every message of a connection): the JSON is dumped once,
 * behind room for the header, which is then written right-aligned against
 * it.  On success *frame and *len name the framed bytes inside out (valid
 * until out changes).  Returns 0, DAP_ETOOBIG or DAP_ENOMEM. */
int dap_frame_encode(dap_buf *out, json_t *msg, const char **frame,
                     size_t *len) DAP_WUR;

#endif
