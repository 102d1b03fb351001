/* client.h - REST requests to the Kubernetes API server, on kdap's libuv
 * loop, through libcurl's multi interface (curl docs/examples/multi-uv.c).
 *
 * Design notes.
 * - One kube_client per (cluster, user): it owns its kube_config, its
 *   kube_auth and one CURLM whose sockets are uv_poll_t handles and whose
 *   timeout is one uv_timer_t.  Connections are reused between requests.
 * - TLS material is handed to curl from memory (CURLOPT_CAINFO_BLOB,
 *   CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB); tls-server-name is honoured
 *   by putting that name in the URL and CURLOPT_CONNECT_TO the real host,
 *   so SNI and certificate verification use it.
 * - Credentials come from kube_auth for every request (an exec plugin may
 *   run first).  A 401 makes kube_auth forget them and the request is sent
 *   once more when that can help (exec plugin, tokenFile).
 * - Non-2xx answers carry a Kubernetes Status; kube_status_message() turns
 *   it into one clear sentence (what was refused, and what to do).  No
 *   message or log line ever contains a credential: the Authorization
 *   header exists only in the curl header list of the transfer.
 */
#ifndef KDAP_KUBE_CLIENT_H
#define KDAP_KUBE_CLIENT_H

#include <stddef.h>

#include <jansson.h>
#include <uv.h>

#include "../dap/err.h"
#include "auth.h"
#include "config.h"

typedef struct kube_client kube_client;
typedef struct kube_request kube_request;

/* Create a client; takes ownership of `cfg` (also on failure).  Returns 0
 * or an error with detail. */
int kube_client_new(uv_loop_t *loop, struct kube_config *cfg,
                    kube_client **out, struct dap_error *err) DAP_WUR;
/* Cancel every request (no callbacks) and release.  Not from inside one of
 * this client's callbacks.  NULL is a no-op. */
void kube_client_free(kube_client *c);
/* Borrowed, valid as long as the client. */
const struct kube_config *kube_client_config(const kube_client *c);
kube_auth *kube_client_auth(kube_client *c);
uv_loop_t *kube_client_loop(const kube_client *c);

/* Completion of one request.
 *   status 0:            2xx; `body` is the parsed JSON answer (borrowed,
 *                        NULL when the answer was empty or not JSON, or
 *                        for streamed requests).
 *   status DAP_EBACKEND: the API server refused (http_status >= 300);
 *                        err->msg is kube_status_message()'s sentence and
 *                        `body` the Status object when there was one.
 *   other statuses:      transport (DAP_ECONNECT, DAP_ETIMEDOUT),
 *                        credentials (DAP_ECONFIG), or what chunk_fn
 *                        returned; http_status 0 when none arrived. */
typedef void kube_response_cb(void *data, int status, long http_status,
                              json_t *body, const struct dap_error *err);

struct kube_request_opts {
    const char *method;       /* NULL = GET */
    const char *path;         /* "/api/v1/...", with the query, escaped */
    const char *content_type; /* of body: application/json,
                                 application/merge-patch+json,
                                 application/strategic-merge-patch+json,
                                 application/json-patch+json,
                                 application/apply-patch+yaml */
    const char *body;         /* copied; NULL = none */
    size_t body_len;
    unsigned timeout_ms;      /* whole transfer; 0 = 30 s, or no limit
                                 when chunk_fn is set */
    /* Streaming (watch, logs): each piece of a 2xx body goes here instead
     * of being buffered.  Return 0 to continue, DAP_PENDING to pause the
     * stream (this piece is delivered again after kube_request_resume()),
     * or a negative code to end the request with that status. */
    int (*chunk_fn)(void *data, const char *buf, size_t len);
};

/* Start a request.  Returns 0 (cb runs exactly once later, from the loop,
 * unless cancelled) or an error with detail (nothing runs).  *out may be
 * NULL when the caller never cancels. */
int kube_request_start(kube_client *c, const struct kube_request_opts *o,
                       kube_response_cb *cb, void *data, kube_request **out,
                       struct dap_error *err) DAP_WUR;
/* Cancel: cb does not run.  Not from inside that request's own callbacks
 * (chunk_fn may return an error instead).  NULL is a no-op. */
void kube_request_cancel(kube_request *r);
/* Resume a stream its chunk_fn paused (back-pressure); not from inside
 * that request's callbacks.  NULL is a no-op. */
void kube_request_resume(kube_request *r);

/* ---- pure helpers ------------------------------------------------------ */

/* What a request is, in RBAC terms, from its method and path:
 * verb (get, list, watch, create, update, patch, delete, deletecollection),
 * resource ("pods", "pods/portforward", "deployments.apps"), name and
 * namespace (empty when cluster-scoped or a collection).  Returns 0, or -1
 * when the path is not a resource path. */
struct kube_path_info {
    char verb[24];
    char group[64];
    char resource[96];
    char name[254];
    char ns[64];
};
int kube_path_parse(const char *method, const char *path,
                    struct kube_path_info *pi);

/* Turn a non-2xx answer into one sentence in err (and return DAP_EBACKEND).
 * `body` is the raw answer (a Status JSON or text), `who` names the
 * credentials ("user admin of context kdap-local in kubeconfig F"). */
int kube_status_message(long http_status, const char *method,
                        const char *path, const char *body, size_t len,
                        const char *who, struct dap_error *err);

/* URL-escape `s` for a query value into a new string (caller frees). */
char *kube_query_escape(const char *s);

#endif
