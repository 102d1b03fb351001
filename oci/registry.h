/* registry.h - an OCI Distribution v1.1 client on kdap's loop (libcurl
 * through net/curlm.h).
 *
 * Design notes.
 * - One oci_registry per registry host.  Before anything else,
 *   oci_registry_probe asks GET /v2/: it picks the scheme (https; plain
 *   http only for a registry marked insecure or on a loopback address,
 *   after https failed there) and learns the auth challenge.
 * - Auth as real registries require it: no challenge (anonymous); Basic
 *   (credentials on every request); Bearer (a token from the challenge's
 *   realm for service and scope, with the credentials as Basic, or an
 *   identity token as an OAuth2 refresh token; tokens cached per scope
 *   until they expire).  A 401 on a request gets fresh auth once.
 *   Credentials come from oci/creds.h, looked up once per registry, and
 *   exist only in curl header lists that are wiped.
 * - Every message names the registry and the operation; a refusal of
 *   credentials also says where they came from and where kdap looked.
 * - Blobs upload from files (the layer cache): monolithic (POST then PUT)
 *   up to the chunk size, in PATCH chunks above it; a blob of another
 *   repository of the same registry is mounted (POST ?mount=&from=).
 */
#ifndef KDAP_OCI_REGISTRY_H
#define KDAP_OCI_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "../dap/err.h"
#include "layer.h"

#define OCI_MT_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define OCI_MT_INDEX "application/vnd.oci.image.index.v1+json"
#define OCI_MT_CONFIG "application/vnd.oci.image.config.v1+json"
#define OCI_MT_LAYER_GZ "application/vnd.oci.image.layer.v1.tar+gzip"
#define OCI_MT_DOCKER_MANIFEST \
    "application/vnd.docker.distribution.manifest.v2+json"
#define OCI_MT_DOCKER_LIST \
    "application/vnd.docker.distribution.manifest.list.v2+json"

typedef struct oci_registry oci_registry;

struct oci_registry_opts {
    const char *host;      /* "registry.example:5000" (API host) */
    int insecure;          /* plain http (or unverified TLS) allowed */
    const char *ca_file;   /* PEM bundle to trust instead of the system's */
    size_t chunk_size;     /* blobs above upload in chunks; 0 = 32 MiB */
};

/* Returns 0 or DAP_ENOMEM. */
int oci_registry_new(uv_loop_t *loop, const struct oci_registry_opts *o,
                     oci_registry **out, struct dap_error *err) DAP_WUR;
/* Cancel everything (no callbacks) and release.  Not from inside one of
 * its callbacks.  NULL is a no-op. */
void oci_registry_free(oci_registry *r);
const char *oci_registry_host(const oci_registry *r);

/* What one operation produced. */
struct oci_result {
    long http;                 /* the final HTTP status */
    const char *body;          /* GETs: the answer (borrowed), else NULL */
    size_t len;
    const char *content_type;  /* "" when none */
    const char *digest;        /* Docker-Content-Digest, "" when none */
    int exists;                /* blob_head: 1 when the registry has it */
    int mounted;               /* blob_push: mounted, nothing uploaded */
    uint64_t uploaded;         /* bytes uploaded by this operation */
};

/* status 0 or a negative code with err (never NULL then).  Called exactly
 * once, from the loop, unless the registry is freed first. */
typedef void oci_result_cb(void *data, int status, const struct oci_result *res,
                           const struct dap_error *err);
/* Bytes uploaded so far by the operation (for progress). */
typedef void oci_progress_fn(void *data, uint64_t done, uint64_t total);

int oci_registry_probe(oci_registry *r, oci_result_cb *cb,
                       void *data) DAP_WUR;
int oci_blob_head(oci_registry *r, const char *repo, const char *digest,
                  oci_result_cb *cb, void *data) DAP_WUR;
/* Upload `b` (from b->path) to repo unless present; `mount_from` (NULL or
 * a repository of the same registry) is tried first. */
int oci_blob_push(oci_registry *r, const char *repo, const struct oci_blob *b,
                  const char *mount_from, oci_progress_fn *progress,
                  oci_result_cb *cb, void *data) DAP_WUR;
/* GET a blob into memory (configs: at most 4 MiB), digest verified; or into
 * the file `path` when not NULL. */
int oci_blob_get(oci_registry *r, const char *repo, const char *digest,
                 const char *path, oci_result_cb *cb, void *data) DAP_WUR;
/* GET (or HEAD when head is set) a manifest or index by tag or digest,
 * accepting the OCI and Docker media types. */
int oci_manifest_get(oci_registry *r, const char *repo, const char *ref,
                     int head, oci_result_cb *cb, void *data) DAP_WUR;
int oci_manifest_put(oci_registry *r, const char *repo, const char *ref,
                     const char *body, size_t len, const char *media_type,
                     oci_result_cb *cb, void *data) DAP_WUR;

/* Bytes and blobs uploaded through this registry so far. */
uint64_t oci_registry_uploaded(const oci_registry *r);

#endif
