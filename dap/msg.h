/* msg.h - building DAP envelopes.  The dispatcher and the session are the
 * only callers: every response and its error body is shaped here, once. */
#ifndef KDAP_MSG_H
#define KDAP_MSG_H

#include <jansson.h>
#include <stdint.h>

#include "err.h"

/* A response envelope without seq (the sender stamps it).  `body_new` is
 * stolen (may be NULL). */
json_t *dap_msg_response_new(int64_t request_seq, const char *command,
                             json_t *body_new);
/* An error response: `code` gives body.error.id, `format` the text shown to
 * the user (braces are escaped: DAP treats {x} as a variable).  `message`
 * is the short raw form ("notStopped", "cancelled") or NULL to use format. */
json_t *dap_msg_error_new(int64_t request_seq, const char *command, int code,
                          const char *message, const char *format);
/* An event envelope without seq; `body_new` stolen (may be NULL). */
json_t *dap_msg_event_new(const char *event, json_t *body_new);
/* An `output` event. */
json_t *dap_msg_output_new(const char *category, const char *text);

#endif
