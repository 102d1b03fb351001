/* auth.h - credentials for one kube_config: static token, tokenFile
 * (re-read when the file changes), client certificates, and exec
 * credential plugins (client.authentication.k8s.io/v1 and v1beta1).
 *
 * Design notes.
 * - An exec plugin runs with uv_spawn on the loop, never interactive (kdap's
 *   stdin is the DAP pipe): stdin is /dev/null, spec.interactive is false,
 *   stderr is inherited (the plugin talks to the user there, as with
 *   kubectl), stdout is captured and parsed.  Its result is cached until
 *   status.expirationTimestamp; kube_auth_rejected() (after a 401) drops
 *   the cache so the next kube_auth_get() runs the plugin again.
 * - Several requests asking while a plugin runs wait for the same run.
 * - Nothing here logs or reports a secret or the plugin's output: parse
 *   errors say what is wrong, never what was received.
 */
#ifndef KDAP_KUBE_AUTH_H
#define KDAP_KUBE_AUTH_H

#include <stddef.h>
#include <time.h>

#include <uv.h>

#include "../dap/err.h"
#include "config.h"

typedef struct kube_auth kube_auth;
typedef struct kube_auth_wait kube_auth_wait;

/* What to present to the API server.  All pointers are borrowed from the
 * kube_auth and valid only until control returns to the loop: copy what
 * you need at once (curl's *_BLOB options copy). */
struct kube_cred {
    const char *token;      /* bearer token, or NULL */
    const char *cert_pem;   /* client certificate from a plugin, or NULL */
    size_t cert_len;
    const char *key_pem;    /* its key, or NULL */
    size_t key_len;
};

/* `cfg` is borrowed and must outlive the kube_auth. */
int kube_auth_new(uv_loop_t *loop, const struct kube_config *cfg,
                  kube_auth **out, struct dap_error *err) DAP_WUR;
/* Kills a running plugin; waiters get no callback.  NULL is a no-op. */
void kube_auth_free(kube_auth *a);

/* status 0: *cred is valid during the call only. */
typedef void kube_auth_cb(void *data, int status, const struct kube_cred *cred,
                          const struct dap_error *err);

/* Get the current credentials.  Returns 0 with *cred filled now, or
 * DAP_PENDING when a plugin must run first: cb then runs once from the loop
 * (unless kube_auth_wait_cancel(*wait) is called before), or an error with
 * detail (unreadable tokenFile, plugin cannot start). */
int kube_auth_get(kube_auth *a, struct kube_cred *cred, kube_auth_cb *cb,
                  void *data, kube_auth_wait **wait, struct dap_error *err)
    DAP_WUR;
/* Cancel one wait; not from inside its callback.  NULL is a no-op. */
void kube_auth_wait_cancel(kube_auth_wait *w);

/* The API server answered 401 with these credentials: forget cached ones.
 * Returns 1 when trying again may help (a plugin will run again, or the
 * token file is re-read), 0 when not (static token or certificate). */
int kube_auth_rejected(kube_auth *a);

/* A short description of the credential kind, for messages: "token",
 * "tokenFile /path", "client certificate", "exec plugin aws", "none". */
const char *kube_auth_describe(const kube_auth *a);

/* ---- pure parts (unit-tested) ----------------------------------------- */

/* Result of one plugin run; all owned, wiped by _cleanup. */
struct kube_exec_result {
    char *token;
    char *cert_pem, *key_pem;
    size_t cert_len, key_len;
    time_t expiry;          /* 0 = none */
};
/* Parse a plugin's stdout for `api_version`.  Returns 0 or DAP_ECONFIG
 * with a message that never quotes the output. */
int kube_exec_output_parse(const char *out, size_t len,
                           const char *api_version,
                           struct kube_exec_result *r, struct dap_error *err)
    DAP_WUR;
void kube_exec_result_cleanup(struct kube_exec_result *r);
/* RFC 3339 time -> time_t; returns 0 or -1. */
int kube_time_parse(const char *s, time_t *out);
/* The KUBERNETES_EXEC_INFO value for `cfg` (new string, caller frees). */
char *kube_exec_info_new(const struct kube_config *cfg);

#endif
