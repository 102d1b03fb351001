/* creds.h - registry credentials, found as docker and podman find them:
 *   1. REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,
 *      ~/.config/containers/auth.json (podman's auth files);
 *   2. ${DOCKER_CONFIG:-~/.docker}/config.json (docker's).
 * In each file, in docker's order: credHelpers[host] (run
 * `docker-credential-NAME get`, the host on its stdin), an auths entry
 * (`auth`: base64 of USER:PASSWORD, or `identitytoken`: an OAuth2 refresh
 * token for the token service), then credsStore.  The first file with an
 * answer wins.  Keys of auths may be written as URLs
 * (https://HOST/v1/): only their host counts.
 *
 * Secrets live in struct oci_cred only (wiped by oci_cred_cleanup), never in
 * a log line or an error; `source` says where they came from and
 * `looked` everywhere kdap looked, for messages.
 */
#ifndef KDAP_OCI_CREDS_H
#define KDAP_OCI_CREDS_H

#include <uv.h>

#include "../dap/err.h"

struct oci_cred {
    char *username;        /* NULL: anonymous */
    char *password;
    char *identity_token;  /* instead of a password, for token services */
    char source[512];      /* "/root/.docker/config.json (auths)" */
    char looked[768];      /* every file looked at, and what it held */
};

void oci_cred_cleanup(struct oci_cred *c);

typedef struct oci_creds_wait oci_creds_wait;
/* status 0: `c` filled (username NULL when nothing was found: anonymous);
 * the callee takes its contents (and cleans them up). */
typedef void oci_creds_cb(void *data, int status, struct oci_cred *c,
                          const struct dap_error *err);

/* Find credentials for registry `host` ("HOST[:PORT]").  Returns 0 with
 * *c filled now, DAP_PENDING when a credential helper runs (cb later,
 * *wait set for cancelling), or an error with detail (a file that is not
 * JSON, a helper that fails). */
int oci_creds_get(uv_loop_t *loop, const char *host, struct oci_cred *c,
                  oci_creds_cb *cb, void *data, oci_creds_wait **wait,
                  struct dap_error *err) DAP_WUR;
/* No callback.  NULL is a no-op. */
void oci_creds_wait_cancel(oci_creds_wait *w);

#endif
