/* fanout.h - send one request to several services (see fanout.c). */
#ifndef KDAP_FANOUT_H
#define KDAP_FANOUT_H

#include "session_int.h"

/* Arguments for `svc` (new reference; json_null() for "no arguments"), or
 * NULL to leave this service out. */
typedef json_t *dap_fanout_args_fn(dap_session *s, struct dap_request *req,
                                   struct dap_service *svc);
/* Every selected service has answered; req->parts holds the answers.  Must
 * respond to req. */
typedef void dap_fanout_done_fn(dap_session *s, struct dap_request *req);

/* Always returns DAP_PENDING: done_fn runs (possibly before this returns,
 * when no service was selected). */
int dap__fanout(dap_session *s, struct dap_request *req, const char *command,
                dap_fanout_args_fn *args_fn, dap_fanout_done_fn *done_fn);

struct dap_service *dap__part_service(dap_session *s, json_t *part);
/* The backend answered with status 0. */
int dap__part_ok(json_t *part);
/* Its status: 0 or the backend's DAP_E* code. */
int dap__part_status(json_t *part);
/* Its answer's body (borrowed, may be NULL). */
json_t *dap__part_body(json_t *part);
/* Why a part failed (borrowed). */
const char *dap__part_error(json_t *part);

#endif
