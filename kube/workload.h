/* workload.h - what launch changes in a Deployment or StatefulSet, and how
 * it puts it back.  Pure (no I/O): the caller GETs the workload, sends the
 * patches this module builds and watches the object it returns.
 *
 * Design notes.
 * - Every change is one strategic merge patch of the workload: the
 *   container's image (by its name, the merge key of containers), the
 *   replicas, the probes.  The same patch carries, in the annotation
 *   KUBE_WORKLOAD_ANNOTATION, the original value of every field it changes
 *   (JSON null for a field that was absent) as a ready restore patch, with
 *   the session's id and the time.  Restoring is that patch plus the
 *   annotation's removal, so what anybody else changed in the meantime
 *   (other fields, other containers) is left alone, and a kdap that died
 *   leaves enough on the object itself for the next one (kdap restore).
 * - A relaunch in the same session keeps the originals saved the first
 *   time: the annotation never records kdap's own values as originals.
 * - The annotation also keeps the values kdap set, so a restore can tell
 *   that someone else changed image or replicas during the session; their
 *   value is kept and the restore says so.
 */
#ifndef KDAP_KUBE_WORKLOAD_H
#define KDAP_KUBE_WORKLOAD_H

#include <stddef.h>

#include <jansson.h>

#include "../dap/err.h"

#define KUBE_WORKLOAD_ANNOTATION "kdap.dev/launch"

enum kube_probes {
    KUBE_PROBES_RELAX, /* liveness and readiness thresholds and timeout raised */
    KUBE_PROBES_KEEP,
    KUBE_PROBES_REMOVE,
};

/* "relax", "keep", "remove" (NULL = relax).  Returns 0, or DAP_ECONFIG
 * with a message naming the values. */
int kube_probes_parse(const char *s, enum kube_probes *out,
                      struct dap_error *err);

struct kube_workload_change {
    const char *container; /* NULL: the pod's first container */
    const char *image;     /* NULL: keep the image */
    long replicas;         /* < 0: keep */
    enum kube_probes probes;
    const char *session;   /* the session's id, saved with the originals */
    const char *since;     /* RFC 3339 time of the launch */
};

/* The strategic merge patch (new reference in *patch) that makes
 * `workload` (the object as GET returns it) what `ch` asks, annotation
 * included.  Errors: DAP_ECONFIG (no such container: the message lists
 * them), DAP_ESTATE (another session's annotation: its id and age). */
int kube_workload_patch(json_t *workload, const struct kube_workload_change *ch,
                        json_t **patch, struct dap_error *err);

/* The patch that puts `workload` back from its annotation: 1 with *patch
 * (new reference) and, in `note`, what someone else changed that the
 * restore keeps ("" when nothing), and the session in `session`; 0 when the
 * workload carries no annotation (nothing to restore); DAP_EPROTO when the
 * annotation is not kdap's JSON. */
int kube_workload_restore(json_t *workload, json_t **patch, char *session,
                          size_t session_n, char *note, size_t note_n,
                          struct dap_error *err);

/* The label selector of the workload's pods (spec.selector.matchLabels as
 * "k=v,k2=v2") into out.  Returns 0, or DAP_EINVAL when there are none or
 * they do not fit. */
int kube_workload_selector(json_t *workload, char *out, size_t n) DAP_WUR;

enum kube_rollout {
    KUBE_ROLLOUT_PROGRESSING,
    KUBE_ROLLOUT_DONE,
    KUBE_ROLLOUT_FAILED,
};

/* Where the rollout of `workload` (a Deployment or StatefulSet as a watch
 * delivers it) stands, as `kubectl rollout status` judges it:
 * observedGeneration caught up, every replica updated and available, no
 * old one left.  `why` says what it waits for, or why it failed (the
 * Progressing condition's ProgressDeadlineExceeded). */
enum kube_rollout kube_workload_rollout(json_t *workload, char *why, size_t n);

/* 1 when a container of `pod` waits for a reason a rollout does not
 * recover from by itself (ErrImagePull, ImagePullBackOff, InvalidImageName,
 * CrashLoopBackOff, CreateContainerConfigError, RunContainerError), with
 * "container app: ErrImagePull: <message>" in `why`; else 0. */
int kube_workload_pod_failure(json_t *pod, char *why, size_t n);

#endif
