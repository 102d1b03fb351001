/* elf.h - what an ELF executable needs to run in an image that holds
 * nothing else: its architecture, its loader (PT_INTERP) and its shared
 * libraries (DT_NEEDED, recursively), found as ld.so finds them: DT_RPATH
 * (when there is no DT_RUNPATH), DT_RUNPATH, /etc/ld.so.cache, then the
 * standard directories.  Read from the files, never guessed (no ldd: ldd
 * runs the loader, which executes nothing of the binary only by luck).
 *
 * oci_elf_parse and oci_ldcache_find are pure (fuzzed); oci_elf_deps reads
 * files and blocks: call it off the loop (image assembly runs it on libuv's
 * thread pool).
 */
#ifndef KDAP_OCI_ELF_H
#define KDAP_OCI_ELF_H

#include <stddef.h>

#include "../dap/err.h"

struct oci_elf_info {
    int machine;          /* e_machine (62 x86-64, 183 aarch64, ...) */
    int elf64;            /* ELFCLASS64 */
    char interp[256];     /* PT_INTERP, "" when static */
    char **needed;        /* DT_NEEDED names, n_needed of them */
    size_t n_needed;
    char runpath[1024];   /* DT_RUNPATH, else DT_RPATH ("" when none) */
};

/* Parse an ELF file held in memory.  Returns 0, DAP_EUNSUPPORTED (not an
 * ELF file, or big-endian) or DAP_EPROTO (truncated, inconsistent) with
 * detail.  Clean up with oci_elf_info_cleanup also after a failure. */
int oci_elf_parse(const void *buf, size_t len, struct oci_elf_info *info,
                  struct dap_error *err);
void oci_elf_info_cleanup(struct oci_elf_info *info);

/* The OCI architecture of an e_machine ("amd64", "arm64", ...); NULL when
 * kdap does not know it. */
const char *oci_elf_arch(int machine, int elf64);

/* In a glibc ld.so.cache image, the paths filed under library `name`, in
 * cache order, each passed to `fn` until it returns non-zero (then that is
 * returned); 0 when none matched or the cache is not one. */
int oci_ldcache_find(const void *cache, size_t len, const char *name,
                     int (*fn)(void *data, const char *path), void *data);

/* A file an executable needs: where it goes in the image, and the host
 * file whose content it is (symlinks followed). */
struct oci_elf_dep {
    char *image_path;
    char *host_path;
};

/* The loader and every shared library `path` needs (transitively), each
 * once.  *arch is set to the executable's OCI architecture.  Returns 0
 * (*deps is NULL and *n 0 for a static executable) or an error naming the
 * file or the library that cannot be found.  Free with oci_elf_deps_free. */
int oci_elf_deps(const char *path, const char **arch, struct oci_elf_dep **deps,
                 size_t *n, struct dap_error *err) DAP_WUR;
void oci_elf_deps_free(struct oci_elf_dep *deps, size_t n);
/* Only the architecture of the ELF file at `path` (reads its header). */
int oci_elf_file_arch(const char *path, const char **arch,
                      struct dap_error *err) DAP_WUR;

#endif
