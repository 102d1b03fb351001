/* debugger.c - see debugger.h. */
#define _GNU_SOURCE
#include "debugger.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "elf.h"

/* What the debug container's script runs (attach/target.c and the runtime's profile), plus a few for a
 * person who execs into it. */
static const char *const applets[] = {
    "sh",   "ash",   "cat",   "ps",    "ls",     "kill",  "env",   "sleep",
    "echo", "grep",  "sed",   "tr",    "printf", "test",  "[",     "true",
    "false", "head", "tail",  "wc",    "id",     "readlink", "pidof", "stat",
    "uname", "mkdir", "rm",   "touch", "top",    "hostname", "find", "nc",
    "wget", NULL,
};

static const char passwd[] = "root:x:0:0:root:/root:/bin/sh\n"
                             "nobody:x:65534:65534:nobody:/nonexistent:"
                             "/bin/false\n";
static const char group[] = "root:x:0:\nnogroup:x:65534:\n";

int oci_which(const char *name, char *buf, size_t size)
{
    const char *path = getenv("PATH");
    const char *p;

    if (strchr(name, '/') != NULL) {
        snprintf(buf, size, "%s", name);
        return access(buf, X_OK) == 0 ? 0 : -ENOENT;
    }
    if (path == NULL || path[0] == '\0')
        path = "/usr/local/bin:/usr/bin:/bin";
    for (p = path; *p;) {
        size_t n = strcspn(p, ":");
        struct stat st;
        if (n > 0) {
            snprintf(buf, size, "%.*s/%s", (int)n, p, name);
            if (stat(buf, &st) == 0 && S_ISREG(st.st_mode) &&
                access(buf, X_OK) == 0)
                return 0;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return -ENOENT;
}

/* kdap-gate (adapters/gate/gate.c) as built (next to kdap) or installed
 * (PREFIX/libexec/kdap beside PREFIX/bin/kdap). */
static int gate_path(char *buf, size_t size)
{
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    char *slash;

    if (n <= 0)
        return -ENOENT;
    exe[n] = '\0';
    if ((slash = strrchr(exe, '/')) == NULL)
        return -ENOENT;
    *slash = '\0';
    snprintf(buf, size, "%s/kdap-gate", exe);
    if (access(buf, X_OK) == 0)
        return 0;
    snprintf(buf, size, "%s/../libexec/kdap/kdap-gate", exe);
    return access(buf, X_OK) == 0 ? 0 : -ENOENT;
}

/* The binary, its architecture checked, with its loader and libraries. */
static int add_binary(oci_layer_spec *s, const char *src, const char *dst,
                      const char *key, const char *arch,
                      struct dap_error *err)
{
    struct oci_elf_dep *deps = NULL;
    const char *barch = NULL;
    size_t n = 0;
    int rc;

    rc = oci_elf_deps(src, &barch, &deps, &n, err);
    if (rc < 0)
        return dap_error_prefix(err, "debuggerBinaries.%s", key);
    if (strcmp(barch, arch) != 0) {
        oci_elf_deps_free(deps, n);
        return dap_error_set(err, DAP_ECONFIG,
                             "%s is built for %s but the target runs on "
                             "%s: set debuggerBinaries.%s to a build of it "
                             "for %s",
                             src, barch, arch, key, arch);
    }
    rc = oci_layer_add_file(s, dst, src, 0755);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = oci_layer_add_file(s, deps[i].image_path, deps[i].host_path,
                                0755);
    oci_elf_deps_free(deps, n);
    if (rc < 0)
        return dap_error_set(err, rc, "%s: %s", src, dap_strerror(rc));
    return 0;
}

static int no_binary(const char *what, const char *key, const char *name,
                     struct dap_error *err)
{
    return dap_error_set(err, DAP_ECONFIG,
                         "no %s on this machine (%s is not in PATH): install "
                         "it, or set debuggerBinaries.%s to its path",
                         what, name, key);
}

int oci_debugger_opts(const struct oci_debugger_profile *prof,
                      const struct oci_debugger_binaries *bin, const char *arch,
                      struct oci_push_opts *o, struct dap_error *err)
{
    static const char *const sh_entry[] = {"/bin/sh", NULL};
    static const char *const names[] = {"busybox", "debugger"};
    oci_layer_spec *shell = NULL, *dbg = NULL;
    char path[PATH_MAX];
    int rc;

    o->layers = calloc(2, sizeof(*o->layers));
    if (o->layers == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    o->n_layers = 0;
    snprintf(o->platform.os, sizeof(o->platform.os), "linux");
    snprintf(o->platform.arch, sizeof(o->platform.arch), "%s", arch);
    o->platform.variant[0] = '\0';
    rc = oci_layer_spec_new(&shell);
    if (rc < 0)
        goto nomem;
    o->layers[o->n_layers++] = shell;
    if (bin->busybox != NULL)
        snprintf(path, sizeof(path), "%s", bin->busybox);
    else if (access("/bin/busybox", X_OK) == 0)
        snprintf(path, sizeof(path), "/bin/busybox");
    else if (oci_which("busybox", path, sizeof(path)) < 0) {
        rc = no_binary("busybox (Debian: busybox-static)", "busybox",
                       "busybox", err);
        goto fail;
    }
    rc = add_binary(shell, path, "/bin/busybox", "busybox", arch, err);
    if (rc < 0)
        goto fail;
    for (size_t i = 0; rc == 0 && applets[i]; i++) {
        char dst[64];
        snprintf(dst, sizeof(dst), "/bin/%s", applets[i]);
        rc = oci_layer_add_symlink(shell, dst, "busybox");
    }
    if (rc == 0)
        rc = oci_layer_add_data(shell, "/etc/passwd", passwd,
                                sizeof(passwd) - 1, 0644);
    if (rc == 0)
        rc = oci_layer_add_data(shell, "/etc/group", group, sizeof(group) - 1,
                                0644);
    if (rc == 0)
        rc = oci_layer_add_dir(shell, "/tmp", 01777);
    if (rc == 0)
        rc = oci_layer_add_dir(shell, "/root", 0700);
    for (const char *const *d = (const char *const[]){"/proc", "/dev", "/sys",
                                                      NULL};
         rc == 0 && *d; d++)
        rc = oci_layer_add_dir(shell, *d, 0755);
    if (rc < 0)
        goto nomem;
    if (prof->binary_key != NULL) {
        rc = oci_layer_spec_new(&dbg);
        if (rc < 0)
            goto nomem;
        o->layers[o->n_layers++] = dbg;
        if (bin->debugger != NULL)
            snprintf(path, sizeof(path), "%s", bin->debugger);
        else if (oci_which(prof->binary_name, path, sizeof(path)) < 0) {
            rc = no_binary(prof->binary_name, prof->binary_key,
                           prof->binary_name, err);
            goto fail;
        }
        rc = add_binary(dbg, path, prof->binary_dst, prof->binary_key, arch,
                        err);
        if (rc < 0)
            goto fail;
        /* the debugger's only way in (kube/target.c) */
        if (bin->gate != NULL)
            snprintf(path, sizeof(path), "%s", bin->gate);
        else if (gate_path(path, sizeof(path)) < 0) {
            rc = dap_error_set(err, DAP_ECONFIG,
                               "kdap-gate is neither next to kdap nor in "
                               "its ../libexec/kdap: reinstall kdap, or set "
                               "debuggerBinaries.gate to its path");
            goto fail;
        }
        rc = add_binary(dbg, path, "/usr/bin/kdap-gate", "gate", arch, err);
        if (rc < 0)
            goto fail;
        for (const char *const *d = prof->dirs; rc == 0 && d && *d; d++)
            rc = oci_layer_add_dir(dbg, *d, 0755);
        if (rc < 0)
            goto nomem;
    }
    o->layer_names = names;
    o->entrypoint = sh_entry;
    o->env = prof->env;
    o->workdir = "/";
    o->base = NULL;
    return 0;
nomem:
    rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
fail:
    oci_debugger_opts_cleanup(o);
    return rc;
}

void oci_debugger_opts_cleanup(struct oci_push_opts *o)
{
    for (size_t i = 0; o->layers != NULL && i < o->n_layers; i++)
        oci_layer_spec_free(o->layers[i]);
    free(o->layers);
    o->layers = NULL;
    o->n_layers = 0;
}
