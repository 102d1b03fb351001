/* layer.h - deterministic image layers: a tar (entries sorted by path,
 * mtime 0, uid/gid 0, no user or group names: libarchive's restricted pax)
 * compressed with zlib's gzip (header mtime 0), digests with OpenSSL.
 * The same entries give the same bytes, so the same digest, so a registry
 * that has the layer is asked for nothing but a HEAD.
 *
 * Building reads files and compresses: it blocks, so image assembly runs it
 * on libuv's thread pool.  Finished layers go to a content-addressed cache
 * (${XDG_CACHE_HOME:-~/.cache}/kdap/oci: blobs/sha256/HEX, plus an index
 * from the inputs' identity, path and stat, to the layer), so building the
 * same layer again is a few stat calls and no compression.
 */
#ifndef KDAP_OCI_LAYER_H
#define KDAP_OCI_LAYER_H

#include <stddef.h>
#include <stdint.h>

#include "../dap/err.h"

typedef struct oci_layer_spec oci_layer_spec;

/* A blob kdap has (a layer or a config) or refers to (a base's layer). */
struct oci_blob {
    char digest[72];        /* "sha256:HEX" of the bytes as stored */
    char diff_id[72];       /* of the uncompressed tar (layers) */
    uint64_t size;
    char media_type[96];
    char path[4096];        /* the cached file, "" when not local */
};

int oci_layer_spec_new(oci_layer_spec **out) DAP_WUR;
void oci_layer_spec_free(oci_layer_spec *s);
/* Add entries; `path` is the absolute path in the image.  Parent
 * directories are added (0755) when not given.  A later entry for the same
 * path replaces the earlier.  mode 0 = the file's own permission bits.
 * Returns 0 or DAP_ENOMEM / DAP_EINVAL (a relative path). */
int oci_layer_add_file(oci_layer_spec *s, const char *path, const char *src,
                       unsigned mode) DAP_WUR;
int oci_layer_add_dir(oci_layer_spec *s, const char *path,
                      unsigned mode) DAP_WUR;
int oci_layer_add_symlink(oci_layer_spec *s, const char *path,
                          const char *target) DAP_WUR;
int oci_layer_add_data(oci_layer_spec *s, const char *path, const void *data,
                       size_t len, unsigned mode) DAP_WUR;
/* Add a host directory tree (regular files, directories, symlinks) at
 * `path`.  Blocks (reads the directory). */
int oci_layer_add_tree(oci_layer_spec *s, const char *path, const char *src,
                       struct dap_error *err) DAP_WUR;
size_t oci_layer_count(const oci_layer_spec *s);

/* The cache directory, created when missing.  Returns 0 or an error. */
int oci_cache_dir(char *buf, size_t size, struct dap_error *err) DAP_WUR;

/* Build (or find in the cache under `cache_dir`) the layer of `s`.
 * *cached is set to 1 when nothing was compressed.  Blocks.  Returns 0 or
 * an error naming the file that could not be read. */
int oci_layer_build(const oci_layer_spec *s, const char *cache_dir,
                    struct oci_blob *out, int *cached,
                    struct dap_error *err) DAP_WUR;

/* Store `data` as a blob in the cache (configs, manifests); fills out. */
int oci_blob_store(const char *cache_dir, const void *data, size_t len,
                   const char *media_type, struct oci_blob *out,
                   struct dap_error *err) DAP_WUR;
/* "sha256:HEX" of data. */
void oci_sha256(const void *data, size_t len, char out[72]);

#endif
