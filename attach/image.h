/* image.h - kdap's own debugger image for a runtime: the runtime's
 * profile (adapters/), the user's binaries (debuggerBinaries), assembled
 * and pushed by oci/.  Used by attach (attach/attach.c) and by
 * `kdap image debugger`. */
#ifndef KDAP_ATTACH_IMAGE_H
#define KDAP_ATTACH_IMAGE_H

#include <jansson.h>
#include <uv.h>

#include "../oci/image.h"
#include "../dap/err.h"

struct attach_image_opts {
    const char *runtime;      /* "go", "node", "gdb" */
    const char *repo;         /* imageRepo: REGISTRY/PATH, no tag */
    json_t *binaries;         /* debuggerBinaries (borrowed) or NULL */
    const char *arch;         /* OCI architecture of the target */
    int insecure;
    const char *ca_file;
};

/* Check the keys, assemble and start the push to REPO:RUNTIME; the result
 * is REPO@sha256:... in the stats.  Errors name the key to fix. */
int attach_image_start(uv_loop_t *loop, const struct attach_image_opts *o,
                       oci_push_progress_fn *progress, oci_push_cb *cb,
                       void *data, oci_push **out, struct dap_error *err) DAP_WUR;

#endif
