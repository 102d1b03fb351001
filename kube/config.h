/* config.h - kubeconfig loading, merging and resolution, as kubectl does it.
 *
 * Design notes.
 * - Three layers, the first two pure (no I/O, unit-tested and fuzzed):
 *   1. kube_kubeconfig_parse(): one file's text (YAML or JSON) -> a jansson
 *      tree, with the file's relative paths (certificate-authority,
 *      client-certificate, client-key, tokenFile, exec.command when it
 *      contains a '/') made absolute against the file's directory, and every
 *      cluster/user/context entry tagged with the file it came from (key
 *      KUBE_CONFIG_ORIGIN) so errors can name it.
 *   2. kube_kubeconfig_merge(): client-go's rules: named entries merge by
 *      name, first file wins, whole entries (no field-level merge);
 *      current-context is the first non-empty one.
 *      kube_config_resolve(): pick the context (override or
 *      current-context), its cluster and user, validate like client-go,
 *      decode the *-data fields, and fill a struct kube_config.
 *   3. kube_config_load(): the file I/O: which files (explicit path alone,
 *      else $KUBECONFIG split on ':', else ~/.kube/config, else in-cluster
 *      service account), and reading the CA / certificate / key files into
 *      memory so the TLS layers only ever see PEM blobs.
 * - Secrets (token, key, basic-auth password) live only in struct
 *   kube_config and struct kube_cred; no message built here ever contains
 *   one.  Every error names the file, the context and the field at fault.
 * - Reading the small local files is synchronous: it happens once when a
 *   client is created (and for tokenFile, on a stat change), never per
 *   byte of traffic.
 */
#ifndef KDAP_KUBE_CONFIG_H
#define KDAP_KUBE_CONFIG_H

#include <stddef.h>

#include <jansson.h>

#include "../dap/err.h"

/* Key added to every clusters[]/users[]/contexts[] entry by the parser. */
#define KUBE_CONFIG_ORIGIN "kdap.origin"

/* One exec credential plugin stanza (users[].user.exec). */
struct kube_exec_cfg {
    char *api_version;     /* client.authentication.k8s.io/v1 or v1beta1 */
    char *command;         /* absolute when it had a '/' in the file */
    char **args;           /* NULL-terminated */
    char **env;            /* "NAME=value", NULL-terminated */
    char *install_hint;    /* shown when the command cannot run, or NULL */
    int provide_cluster_info;
    char *interactive_mode; /* Never, IfAvailable, Always */
    json_t *cluster_config; /* extensions["client.authentication.k8s.io/exec"]
                               of the cluster, or NULL (owned) */
};

/* A resolved configuration: what a client needs to reach one cluster as
 * one user.  Heap object, kube_config_free(); all fields owned. */
struct kube_config {
    char *source;          /* "kubeconfig /a:/b" or "in-cluster" */
    char *context;         /* context name ("" in-cluster) */
    char *cluster_name;
    char *user_name;
    char *namespace;       /* never NULL: "default" at least */
    char *server;          /* https://host:port[/prefix], no trailing '/' */
    char *tls_server_name; /* or NULL */
    int insecure;          /* insecure-skip-tls-verify: true */
    char *proxy_url;       /* or NULL */
    /* PEM blobs (from *-data or read from the files), NULL when unset. */
    char *ca_pem;
    size_t ca_len;
    char *cert_pem;
    size_t cert_len;
    char *key_pem;         /* SECRET */
    size_t key_len;
    char *token;           /* SECRET; static token, or NULL */
    char *token_file;      /* path re-read by kube_auth, or NULL */
    char *username;        /* basic auth, or NULL */
    char *password;        /* SECRET */
    char *impersonate;     /* as: */
    char **impersonate_groups; /* as-groups, NULL-terminated or NULL */
    struct kube_exec_cfg *exec; /* or NULL */
    char *ca_origin;       /* where the CA came from, for messages */
};

/* ---- layer 1 and 2: pure ---------------------------------------------- */

/* Parse one kubeconfig file's text.  `path` is used for messages and to
 * make relative paths absolute (NULL: leave them).  On success *out is a
 * new JSON object (the config, with the KUBE_CONFIG_ORIGIN tags); an empty
 * document gives an empty object.  Returns 0 or DAP_ECONFIG with detail
 * naming the file, line and column. */
int kube_kubeconfig_parse(const char *text, size_t len, const char *path,
                          json_t **out, struct dap_error *err) DAP_WUR;

/* Merge `files` (parsed configs, highest priority first) into a new object
 * (*out, new reference).  Inputs are borrowed.  Never fails except on
 * memory (DAP_ENOMEM). */
int kube_kubeconfig_merge(json_t *const *files, size_t n, json_t **out)
    DAP_WUR;

/* Resolve `merged` for `context` (NULL: current-context) and `ns` (NULL:
 * the context's namespace, else "default").  File references
 * (certificate-authority, client-certificate, client-key) are NOT read
 * here: their paths are left in the *_path out fields of `paths` for
 * kube_config_load.  `source` names the files for messages.  Returns 0 or
 * DAP_ECONFIG with detail. */
struct kube_config_paths {
    char *ca_file, *cert_file, *key_file; /* owned, or NULL */
    char *ca_origin, *cert_origin, *key_origin; /* "file F (cluster C)" */
};
int kube_config_resolve(json_t *merged, const char *source,
                        const char *context, const char *ns,
                        struct kube_config **out,
                        struct kube_config_paths *paths,
                        struct dap_error *err) DAP_WUR;
void kube_config_paths_cleanup(struct kube_config_paths *p);

/* ---- layer 3: files and environment ----------------------------------- */

struct kube_load_opts {
    const char *kubeconfig; /* explicit file (launch key / --kubeconfig):
                               used alone, must exist; or NULL */
    const char *context;    /* override, or NULL */
    const char *ns;         /* namespace override, or NULL */
    /* Where the service account files are (NULL: the standard
     * /var/run/secrets/kubernetes.io/serviceaccount); tests point it
     * elsewhere through $KDAP_SERVICEACCOUNT_DIR. */
    const char *sa_dir;
};

/* Find, read, merge and resolve.  Returns 0 and a new config in *out, or
 * DAP_ECONFIG (or -errno) with detail saying which file, context and field
 * is wrong and what to do. */
int kube_config_load(const struct kube_load_opts *o, struct kube_config **out,
                     struct dap_error *err) DAP_WUR;

/* 1 when the server is plain http:// (no TLS: nothing encrypted, the
 * server not authenticated); kdap still talks to it, but warns. */
int kube_config_plain_http(const struct kube_config *c);

/* Duplicate (NULL on memory failure). */
struct kube_config *kube_config_dup(const struct kube_config *c);
/* NULL is a no-op.  Secret fields are wiped before being freed. */
void kube_config_free(struct kube_config *c);

/* Read a whole small regular file (limit 4 MiB) into a new NUL-terminated
 * buffer; the caller wipes it when it may hold secrets.  Never blocks on a
 * FIFO, tty or /proc/self/fd/N: anything but a regular file is -EINVAL
 * (-EISDIR for a directory).  Returns 0 or -errno / DAP_ETOOBIG. */
int kube_read_file(const char *path, char **out, size_t *len) DAP_WUR;

#endif
