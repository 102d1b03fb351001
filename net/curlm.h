/* curlm.h - libcurl's multi interface bound to kdap's one libuv loop
 * (curl docs/examples/multi-uv.c): the transport piece shared by the
 * Kubernetes client (kube/client.c) and the registry client (oci/).
 *
 * Design notes.
 * - One net_curlm owns one CURLM whose sockets are uv_poll_t handles and
 *   whose timeout is one uv_timer_t; each owner (a kube_client, an
 *   oci_registry) has its own, so connections are reused per server.
 * - A transfer is an easy handle the caller configured, plus an embedded
 *   struct net_xfer naming its completion.  curlm sets CURLOPT_PRIVATE to
 *   that struct: callers must not use CURLOPT_PRIVATE themselves.
 * - Completions run from the loop (socket or timer activity), never from
 *   inside net_curlm_add.
 */
#ifndef KDAP_NET_CURLM_H
#define KDAP_NET_CURLM_H

#include <curl/curl.h>
#include <uv.h>

#include "../dap/err.h"

typedef struct net_curlm net_curlm;

/* A transfer finished: `cc` is curl's result.  The easy handle has been
 * removed from the multi already; the callee owns it again (clean it up or
 * reuse it).  May add new transfers; must not free the net_curlm. */
typedef void net_xfer_done_fn(void *data, CURL *easy, CURLcode cc);

struct net_xfer {
    net_xfer_done_fn *done;
    void *data;
};

/* Returns 0 or DAP_ENOMEM. */
int net_curlm_new(uv_loop_t *loop, net_curlm **out) DAP_WUR;
/* Drop the multi (transfers still added are removed, their callbacks do
 * not run: remove or clean up the easy handles first or after, the caller
 * still owns them).  Handles close asynchronously.  NULL is a no-op. */
void net_curlm_free(net_curlm *m);
/* Start `easy`; `x` must outlive the transfer.  Returns 0 or DAP_ENOMEM. */
int net_curlm_add(net_curlm *m, CURL *easy, struct net_xfer *x) DAP_WUR;
/* Stop a transfer before it completed (no callback).  Safe for an easy
 * handle that is not added. */
void net_curlm_remove(net_curlm *m, CURL *easy);

/* Append a header line built from fmt to *list; the formatted copy is
 * wiped (it may hold a credential).  Returns 0 or DAP_ENOMEM. */
int net_header_add(struct curl_slist **list, const char *fmt, ...)
    DAP_PRINTF(2, 3) DAP_WUR;
/* Wipe every line (credentials) and free the list; *list becomes NULL. */
void net_headers_wipe(struct curl_slist **list);

#endif
