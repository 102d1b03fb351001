/* names.h - Kubernetes object names, checked before they reach a URL path
 * or a request line.
 *
 * The API server accepts a namespace or container name only as an RFC 1123
 * DNS label (at most 63 of [a-z0-9-], starting and ending alphanumeric) and
 * a pod, deployment or statefulset name as a DNS subdomain (such labels
 * joined by '.', at most 253 characters).  kdap checks every name a user
 * gives (kubeconfig namespace, `-n`, DAP attach keys, CLI arguments) once,
 * where it enters, so nothing else (a "\r\n", a "/", a "?") is ever
 * formatted into a path, a query or a WebSocket request line.
 */
#ifndef KDAP_KUBE_NAMES_H
#define KDAP_KUBE_NAMES_H

#include "../dap/err.h"

enum kube_name_kind {
    KUBE_NAME_LABEL,     /* namespaces, containers */
    KUBE_NAME_SUBDOMAIN, /* pods, deployments, statefulsets */
};

/* 1 when `name` is a valid name of that kind, else 0.  NULL is invalid. */
int kube_name_valid(enum kube_name_kind kind, const char *name);

/* 0 when valid, else DAP_ECONFIG with err saying which `what` (e.g.
 * "namespace", "\"container\"") is wrong, showing the value with control
 * characters escaped, and what a valid one looks like. */
int kube_name_check(enum kube_name_kind kind, const char *what,
                    const char *name, struct dap_error *err) DAP_WUR;

#endif
