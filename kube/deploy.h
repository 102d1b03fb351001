/* deploy.h - launch's workload changes on the API server: put a workload
 * back from the annotation kube/workload.c leaves on it.  The session's
 * disconnect and `kdap restore` (a workload a crashed session left
 * patched) use the same operation.
 */
#ifndef KDAP_KUBE_DEPLOY_H
#define KDAP_KUBE_DEPLOY_H

#include "client.h"

typedef struct kube_restore kube_restore;

/* status 0: restored (`session` the one that patched it, `note` what
 * someone else changed that was kept, "" when nothing) or nothing to
 * restore (`session` ""); else the API server's error. */
typedef void kube_restore_cb(void *data, int status, const char *session,
                             const char *note, const struct dap_error *err);

/* Restore the workload at `path` (/apis/apps/v1/namespaces/NS/deployments/
 * NAME).  Returns 0 (cb runs once later unless freed) or an error. */
int kube_restore_start(kube_client *c, const char *path, kube_restore_cb *cb,
                       void *data, kube_restore **out, struct dap_error *err)
    DAP_WUR;
/* Cancel (no callback) and release; the operation releases itself
 * before its callback runs.  NULL is a no-op. */
void kube_restore_free(kube_restore *r);

#endif
