/* probe.h - what a container's liveness probe means for a debugger that
 * holds its process stopped.  Pure (no I/O): dap/ feeds it the Pod object.
 *
 * The kubelet probes every periodSeconds; failureThreshold failures in a
 * row (each up to timeoutSeconds) get the container killed and restarted.
 * A process stopped at a breakpoint answers no httpGet, exec or grpc probe
 * (its listening socket still takes a tcpSocket probe's connection, so
 * that kind is harmless), so after about failureThreshold x periodSeconds
 * + timeoutSeconds the debuggee is gone.  The user is told at the stop,
 * not after.
 */
#ifndef KDAP_KUBE_PROBE_H
#define KDAP_KUBE_PROBE_H

#include <stddef.h>

#include <jansson.h>

/* The liveness probe of `container` in `pod` (borrowed): 1 when it has one
 * that a stopped process fails, with *seconds the time a stopped process
 * has (failureThreshold x periodSeconds + timeoutSeconds, Kubernetes'
 * defaults 3, 10, 1 for what the spec leaves out) and `desc` saying what
 * it probes ("httpGet :8080/healthz every 10 s, 3 failures, 1 s timeout");
 * else 0 (no such container, no liveness probe, or a tcpSocket one). */
int kube_probe_liveness(json_t *pod, const char *container, long *seconds,
                        char *desc, size_t n);

#endif
