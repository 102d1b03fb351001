/* deploy.h - launch's workload changes on the API server: deploy (patch
 * the workload as kube/workload.c says, watch the rollout, fail fast and
 * restore when it cannot succeed) and restore (put a workload back from the
 * annotation the patch left on it).  The session and `kdap restore` (a
 * workload a crashed session left patched) use the same operations.
 */
#ifndef KDAP_KUBE_DEPLOY_H
#define KDAP_KUBE_DEPLOY_H

#include "client.h"
#include "workload.h"

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

typedef struct kube_deploy kube_deploy;

/* A step of the rollout worth telling the user ("patched generation 3",
 * "1 of 1 updated replicas available"). */
typedef void kube_deploy_progress_cb(void *data, const char *what);
/* status 0: rolled out (`rolled` 0 when the patch changed nothing the pods
 * run, so nothing rolled: a relaunch of the same image).  Else the reason
 * (a pod's ErrImagePull or CrashLoopBackOff with its message, the progress
 * deadline, the timeout, the API server's refusal), after the workload was
 * put back; a refused patch changed nothing. */
typedef void kube_deploy_done_cb(void *data, int status, int rolled,
                                 const struct dap_error *err);

struct kube_deploy_opts {
    const char *ns;
    const char *name;     /* a Deployment's */
    struct kube_workload_change change;
    unsigned timeout_s;   /* 0 = 120 */
};

int kube_deploy_start(kube_client *c, const struct kube_deploy_opts *o,
                      kube_deploy_progress_cb *progress,
                      kube_deploy_done_cb *done, void *data, kube_deploy **out,
                      struct dap_error *err) DAP_WUR;
/* Cancel (no callback; what was patched stays patched: restore it) and
 * release; the operation releases itself before `done` runs.  NULL is a
 * no-op. */
void kube_deploy_free(kube_deploy *d);

#endif
