/* dbgimage.h - kdap's own debugger image for a runtime: the runtime's
 * profile (adapters/), the user's binaries (debuggerBinaries), assembled
 * and pushed by oci/.  Used by attach (dap/cluster.c) and by
 * `kdap image debugger`. */
#ifndef KDAP_DAP_DBGIMAGE_H
#define KDAP_DAP_DBGIMAGE_H

#include <jansson.h>
#include <uv.h>

#include "../oci/image.h"
#include "err.h"

struct dap_dbgimage_opts {
    const char *runtime;      /* "go", "node", "gdb" */
    const char *repo;         /* imageRepo: REGISTRY/PATH, no tag */
    json_t *binaries;         /* debuggerBinaries (borrowed) or NULL */
    const char *arch;         /* OCI architecture of the target */
    int insecure;
    const char *ca_file;
};

/* Check the keys, assemble and start the push to REPO:RUNTIME; the result
 * is REPO@sha256:... in the stats.  Errors name the key to fix. */
int dap_dbgimage_start(uv_loop_t *loop, const struct dap_dbgimage_opts *o,
                       oci_push_progress_fn *progress, oci_push_cb *cb,
                       void *data, oci_push **out, struct dap_error *err) DAP_WUR;

#endif
