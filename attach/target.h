/* target.h - what a service's "target" names, and the ephemeral debug
 * container kdap adds to it.  Pure functions (no I/O): the attach flow in
 * attach/attach.c feeds them what the API server answered.
 *
 * A target is `deployment/NAME`, `statefulset/NAME`, `pod/NAME` (kubectl's
 * short forms deploy/, sts/, po/ too) or a label selector (`app=NAME`,
 * `app=a,tier=b`).  It resolves to one running pod: with several replicas
 * the oldest ready one (or the one the `pod` key names), and kdap says
 * which and why.
 */
#ifndef KDAP_ATTACH_TARGET_H
#define KDAP_ATTACH_TARGET_H

#include <stddef.h>

#include <jansson.h>

#include "../dap/err.h"

enum attach_target_kind {
    ATTACH_TARGET_DEPLOYMENT,
    ATTACH_TARGET_STATEFULSET,
    ATTACH_TARGET_POD,
    ATTACH_TARGET_SELECTOR,
};

struct attach_target {
    enum attach_target_kind kind;
    char name[254];     /* the workload or pod name (not for selectors) */
    char selector[512]; /* label selector (selectors, and filled in for
                           workloads from their spec.selector) */
};

/* Parse a "target" value.  Returns 0 or DAP_ECONFIG with the accepted
 * forms in err. */
int attach_target_parse(const char *s, struct attach_target *t,
                      struct dap_error *err) DAP_WUR;

/* The label selector of a Deployment or StatefulSet object (its
 * spec.selector.matchLabels as "k=v,k2=v2").  Returns 0 or DAP_EINVAL. */
int attach_target_selector_of(json_t *workload, char *out, size_t n) DAP_WUR;

/* Choose the pod to debug from `pods` (array of Pod objects): the one named
 * `want` (may be NULL), else the oldest Running+Ready pod, else the oldest
 * Running one.  On success *pod is borrowed from the array and `why` says
 * which and why ("pod x-1, the oldest of 3 ready replicas").  Returns 0,
 * or DAP_ESTATE when no pod runs (err lists what the pods are doing). */
int attach_target_pick(json_t *pods, const char *want, json_t **pod, char *why,
                     size_t whylen, struct dap_error *err) DAP_WUR;

/* The container to debug: `want` (may be NULL: the first container).
 * Returns its name (borrowed from pod) or NULL with err listing the
 * containers. */
const char *attach_target_container(json_t *pod, const char *want,
                                  struct dap_error *err);

/* Up to three names from `names` (array of strings) close to `want`, as
 * "a, b or c" in out ("" when none is close). */
void attach_close_names(const char *want, json_t *names, char *out, size_t n);

/* Guess a container's runtime by the profiles' detection rules
 * (adapter_kind.detect_*): its command, then its env, then its image's
 * name; NULL when none applies.  `how` says what gave it away. */
const char *attach_target_guess_runtime(json_t *pod, const char *container,
                                        char *how, size_t howlen);

/* How long a debugger in the pod waits for kdap before giving up. */
#define ATTACH_CLIENT_WAIT_S 30

/* The ephemeral container that attaches `runtime`'s debugger to the
 * target, as its profile says (adapter_kind: script, ready marker, gate,
 * capabilities).  `process` (may be NULL: PID 1 of the target container)
 * is a pattern matched against the command lines of the target's
 * processes; `port` is where kdap's tunnel connects inside the pod; `pod`
 * (borrowed, may be NULL) the Pod object, whose securityContexts say the
 * target's user.  Returns a new EphemeralContainer object whose
 * securityContext drops every capability but the profile's (as root; none
 * as the target's user where the profile allows that), with no privilege
 * escalation, a read-only root and RuntimeDefault seccomp; NULL for an
 * unknown runtime.  `nonce` (a per-session token of [0-9a-f]) starts every
 * line of the container's log that kdap acts on, "kdap NONCE WORD...":
 * "pid PID" (the process chosen) and the profile's ready marker; such
 * lines are matched whole (attach_debug_marker), so nothing the target
 * controls (its command line is logged too) can fake them. */
json_t *attach_debug_container_new(const char *runtime, const char *name,
                                   const char *image, const char *target,
                                   const char *process, int port, json_t *pod,
                                   const char *nonce);
/* Find the first whole line (ended by a newline) of `log` that is "kdap
 * NONCE WORD" or "kdap NONCE WORD REST": 1 with REST in `rest` ("" when
 * none; cut to n - 1 bytes), else 0. */
int attach_debug_marker(const char *log, size_t len, const char *nonce,
                        const char *word, char *rest, size_t n);

/* The debugger is ready: apply the profile's fix-ups (ready_fn) from what
 * the debug container logged (`log`, its ready marker's REST and the "pid"
 * marker) to the backend's `cfg` and *port; `warn` gets a warning for the
 * user ("" for none).  Returns 0 or the profile's error. */
struct adapter_kind;
int attach_debug_ready(const struct adapter_kind *k, const char *log,
                       size_t len, const char *nonce, json_t *cfg, int *port,
                       char *warn, size_t warnlen, struct dap_error *err);

#endif
