/* elf.c - see elf.h. */
#define _GNU_SOURCE
#include "elf.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- parsing ------------------------------------------------------------ */

/* The fields of both classes that matter here, widened. */
struct phdr {
    uint32_t type;
    uint64_t offset, vaddr, filesz;
};

static int get_phdr(const unsigned char *b, size_t len, int elf64,
                    uint64_t off, struct phdr *p)
{
    if (elf64) {
        Elf64_Phdr h;
        if (off > len || len - off < sizeof(h))
            return -1;
        memcpy(&h, b + off, sizeof(h));
        p->type = h.p_type;
        p->offset = h.p_offset;
        p->vaddr = h.p_vaddr;
        p->filesz = h.p_filesz;
    } else {
        Elf32_Phdr h;
        if (off > len || len - off < sizeof(h))
            return -1;
        memcpy(&h, b + off, sizeof(h));
        p->type = h.p_type;
        p->offset = h.p_offset;
        p->vaddr = h.p_vaddr;
        p->filesz = h.p_filesz;
    }
    return 0;
}

/* File offset of virtual address `va` through the PT_LOAD segments. */
static int va_to_off(const struct phdr *ph, size_t n, uint64_t va,
                     uint64_t *off)
{
    for (size_t i = 0; i < n; i++)
        if (ph[i].type == PT_LOAD && va >= ph[i].vaddr &&
            va - ph[i].vaddr < ph[i].filesz) {
            *off = ph[i].offset + (va - ph[i].vaddr);
            return 0;
        }
    return -1;
}

static const char *str_at(const unsigned char *b, size_t len, uint64_t off)
{
    if (off >= len || memchr(b + off, '\0', len - off) == NULL)
        return NULL;
    return (const char *)b + off;
}

int oci_elf_parse(const void *buf, size_t len, struct oci_elf_info *info,
                  struct dap_error *err)
{
    const unsigned char *b = buf;
    struct phdr ph[64];
    uint64_t phoff, strtab_va = 0, strtab_off, dyn_off = 0, dyn_size = 0;
    size_t phnum, phentsize, i;
    uint64_t runpath = UINT64_MAX, rpath = UINT64_MAX;
    uint64_t needed[128];
    size_t n_needed = 0;
    int have_dyn = 0;

    memset(info, 0, sizeof(*info));
    if (len < EI_NIDENT || memcmp(b, ELFMAG, SELFMAG) != 0)
        return dap_error_set(err, DAP_EUNSUPPORTED, "not an ELF file");
    if (b[EI_DATA] != ELFDATA2LSB)
        return dap_error_set(err, DAP_EUNSUPPORTED,
                             "a big-endian ELF file (not supported)");
    info->elf64 = b[EI_CLASS] == ELFCLASS64;
    if (info->elf64) {
        Elf64_Ehdr eh;
        if (len < sizeof(eh))
            return dap_error_set(err, DAP_EPROTO, "truncated ELF header");
        memcpy(&eh, b, sizeof(eh));
        info->machine = eh.e_machine;
        phoff = eh.e_phoff;
        phnum = eh.e_phnum;
        phentsize = eh.e_phentsize;
    } else if (b[EI_CLASS] == ELFCLASS32) {
        Elf32_Ehdr eh;
        if (len < sizeof(eh))
            return dap_error_set(err, DAP_EPROTO, "truncated ELF header");
        memcpy(&eh, b, sizeof(eh));
        info->machine = eh.e_machine;
        phoff = eh.e_phoff;
        phnum = eh.e_phnum;
        phentsize = eh.e_phentsize;
    } else {
        return dap_error_set(err, DAP_EUNSUPPORTED, "unknown ELF class");
    }
    if (phnum > sizeof(ph) / sizeof(ph[0]) ||
        phentsize < (info->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)))
        return dap_error_set(err, DAP_EPROTO, "bad program headers");
    for (i = 0; i < phnum; i++)
        if (get_phdr(b, len, info->elf64, phoff + i * phentsize, &ph[i]) < 0)
            return dap_error_set(err, DAP_EPROTO, "truncated program headers");
    for (i = 0; i < phnum; i++) {
        if (ph[i].type == PT_INTERP) {
            if (ph[i].offset > len || ph[i].filesz > len - ph[i].offset ||
                ph[i].filesz == 0 || ph[i].filesz > sizeof(info->interp) ||
                b[ph[i].offset + ph[i].filesz - 1] != '\0')
                return dap_error_set(err, DAP_EPROTO, "bad PT_INTERP");
            memcpy(info->interp, b + ph[i].offset, ph[i].filesz);
        } else if (ph[i].type == PT_DYNAMIC) {
            dyn_off = ph[i].offset;
            dyn_size = ph[i].filesz;
            have_dyn = 1;
        }
    }
    if (!have_dyn)
        return 0;
    if (dyn_off > len || dyn_size > len - dyn_off)
        return dap_error_set(err, DAP_EPROTO, "truncated PT_DYNAMIC");
    for (uint64_t o = dyn_off; o < dyn_off + dyn_size;) {
        int64_t tag;
        uint64_t val;
        if (info->elf64) {
            Elf64_Dyn d;
            if (dyn_off + dyn_size - o < sizeof(d))
                break;
            memcpy(&d, b + o, sizeof(d));
            tag = d.d_tag;
            val = d.d_un.d_val;
            o += sizeof(d);
        } else {
            Elf32_Dyn d;
            if (dyn_off + dyn_size - o < sizeof(d))
                break;
            memcpy(&d, b + o, sizeof(d));
            tag = d.d_tag;
            val = d.d_un.d_val;
            o += sizeof(d);
        }
        if (tag == DT_NULL)
            break;
        if (tag == DT_STRTAB)
            strtab_va = val;
        else if (tag == DT_NEEDED && n_needed < 128)
            needed[n_needed++] = val;
        else if (tag == DT_RUNPATH)
            runpath = val;
        else if (tag == DT_RPATH)
            rpath = val;
    }
    if (n_needed == 0 && runpath == UINT64_MAX && rpath == UINT64_MAX)
        return 0;
    if (va_to_off(ph, phnum, strtab_va, &strtab_off) < 0)
        return dap_error_set(err, DAP_EPROTO, "DT_STRTAB outside the file");
    info->needed = calloc(n_needed + 1, sizeof(char *));
    if (info->needed == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    for (i = 0; i < n_needed; i++) {
        const char *s = str_at(b, len, strtab_off + needed[i]);
        if (s == NULL || *s == '\0')
            return dap_error_set(err, DAP_EPROTO, "bad DT_NEEDED");
        info->needed[i] = strdup(s);
        if (info->needed[i] == NULL)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        info->n_needed++;
    }
    {
        uint64_t rp = runpath != UINT64_MAX ? runpath : rpath;
        if (rp != UINT64_MAX) {
            const char *s = str_at(b, len, strtab_off + rp);
            if (s == NULL)
                return dap_error_set(err, DAP_EPROTO, "bad DT_RUNPATH");
            snprintf(info->runpath, sizeof(info->runpath), "%s", s);
        }
    }
    return 0;
}

void oci_elf_info_cleanup(struct oci_elf_info *info)
{
    for (size_t i = 0; i < info->n_needed; i++)
        free(info->needed[i]);
    free(info->needed);
    info->needed = NULL;
    info->n_needed = 0;
}

const char *oci_elf_arch(int machine, int elf64)
{
    switch (machine) {
    case EM_X86_64:
        return "amd64";
    case EM_AARCH64:
        return "arm64";
    case EM_386:
        return "386";
    case EM_ARM:
        return "arm";
    case EM_PPC64:
        return "ppc64le";
    case EM_S390:
        return elf64 ? "s390x" : "s390";
    case EM_RISCV:
        return elf64 ? "riscv64" : "riscv32";
    default:
        return NULL;
    }
}

/* ---- ld.so.cache -------------------------------------------------------- */

#define CACHE_MAGIC "glibc-ld.so.cache1.1"

int oci_ldcache_find(const void *cache, size_t len, const char *name,
                     int (*fn)(void *data, const char *path), void *data)
{
    const unsigned char *b = cache, *start = NULL;
    uint32_t nlibs;
    size_t base, i;

    /* The new format, alone or after the old one (whose string offsets
     * count from a different place): find its magic. */
    for (i = 0; i + sizeof(CACHE_MAGIC) - 1 <= len && i < 4096; i++)
        if (memcmp(b + i, CACHE_MAGIC, sizeof(CACHE_MAGIC) - 1) == 0) {
            start = b + i;
            break;
        }
    if (start == NULL)
        return 0;
    base = (size_t)(start - b);
    if (len - base < 48)
        return 0;
    memcpy(&nlibs, start + 20, 4);
    for (i = 0; i < nlibs; i++) {
        uint32_t key, value;
        size_t e = base + 48 + i * 24;
        const char *k, *v;
        int rc;
        if (e > len || len - e < 24)
            return 0;
        memcpy(&key, b + e + 4, 4);
        memcpy(&value, b + e + 8, 4);
        /* New-format string offsets count from the new header. */
        k = str_at(start, len - base, key);
        v = str_at(start, len - base, value);
        if (k == NULL || v == NULL || strcmp(k, name) != 0)
            continue;
        rc = fn(data, v);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* ---- resolving ---------------------------------------------------------- */

struct mapped {
    void *p;
    size_t len;
};

static int map_file(const char *path, struct mapped *m, struct dap_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    m->p = NULL;
    m->len = 0;
    if (fd < 0)
        return dap_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return dap_error_set(err, DAP_ECONFIG, "%s is not a regular file",
                             path);
    }
    m->len = (size_t)st.st_size;
    if (m->len > 0) {
        m->p = mmap(NULL, m->len, PROT_READ, MAP_PRIVATE, fd, 0);
        if (m->p == MAP_FAILED) {
            m->p = NULL;
            close(fd);
            return dap_error_set(err, -errno, "%s: %s", path, strerror(errno));
        }
    }
    close(fd);
    return 0;
}

static void unmap(struct mapped *m)
{
    if (m->p != NULL)
        munmap(m->p, m->len);
    m->p = NULL;
}

struct resolver {
    int machine;
    const char *triplet;           /* Debian multiarch directory name */
    struct mapped cache;           /* /etc/ld.so.cache, may be empty */
    struct oci_elf_dep *deps;
    size_t n, alloc;
    char found[PATH_MAX];
};

static int machine_of(const char *path, int *machine)
{
    unsigned char h[sizeof(Elf64_Ehdr)];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n;

    if (fd < 0)
        return -1;
    n = read(fd, h, sizeof(h));
    close(fd);
    if (n < (ssize_t)sizeof(Elf32_Ehdr) || memcmp(h, ELFMAG, SELFMAG) != 0)
        return -1;
    memcpy(machine, h + 18, 2);
    *machine &= 0xffff;
    return 0;
}

/* A candidate counts when it exists and is of the executable's machine
 * (ld.so skips libraries of another architecture too). */
static int try_path(void *data, const char *path)
{
    struct resolver *r = data;
    int m;

    if (machine_of(path, &m) < 0 || m != r->machine)
        return 0;
    snprintf(r->found, sizeof(r->found), "%s", path);
    return 1;
}

static int in_dirs(struct resolver *r, const char *dirs, const char *origin,
                   const char *name)
{
    const char *p = dirs;

    while (*p) {
        const char *e = strchr(p, ':');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        char dir[PATH_MAX], cand[PATH_MAX];
        if (n > 0 && n < sizeof(dir)) {
            memcpy(dir, p, n);
            dir[n] = '\0';
            if (strncmp(dir, "$ORIGIN", 7) == 0)
                snprintf(cand, sizeof(cand), "%s%s/%s", origin, dir + 7, name);
            else if (strncmp(dir, "${ORIGIN}", 9) == 0)
                snprintf(cand, sizeof(cand), "%s%s/%s", origin, dir + 9, name);
            else
                snprintf(cand, sizeof(cand), "%s/%s", dir, name);
            if (try_path(r, cand))
                return 1;
        }
        p += n;
        if (*p == ':')
            p++;
    }
    return 0;
}

static int find_lib(struct resolver *r, const char *name, const char *runpath,
                    const char *origin)
{
    char std[1024];

    if (strchr(name, '/') != NULL)
        return try_path(r, name);
    if (runpath[0] && in_dirs(r, runpath, origin, name))
        return 1;
    if (r->cache.p != NULL &&
        oci_ldcache_find(r->cache.p, r->cache.len, name, try_path, r))
        return 1;
    snprintf(std, sizeof(std),
             "/lib/%s:/usr/lib/%s:/lib64:/usr/lib64:/lib:/usr/lib",
             r->triplet, r->triplet);
    return in_dirs(r, std, origin, name);
}

static int have_dep(struct resolver *r, const char *image_path)
{
    for (size_t i = 0; i < r->n; i++)
        if (strcmp(r->deps[i].image_path, image_path) == 0)
            return 1;
    return 0;
}

static int add_dep(struct resolver *r, const char *image_path)
{
    char real[PATH_MAX];

    if (realpath(image_path, real) == NULL)
        return -errno;
    if (r->n == r->alloc) {
        size_t na = r->alloc ? 2 * r->alloc : 16;
        struct oci_elf_dep *d = realloc(r->deps, na * sizeof(*d));
        if (d == NULL)
            return DAP_ENOMEM;
        r->deps = d;
        r->alloc = na;
    }
    r->deps[r->n].image_path = strdup(image_path);
    r->deps[r->n].host_path = strdup(real);
    if (r->deps[r->n].image_path == NULL || r->deps[r->n].host_path == NULL) {
        free(r->deps[r->n].image_path);
        free(r->deps[r->n].host_path);
        return DAP_ENOMEM;
    }
    r->n++;
    return 0;
}

static int walk(struct resolver *r, const char *path, int depth,
                struct dap_error *err)
{
    struct mapped m;
    struct oci_elf_info info;
    char origin[PATH_MAX], real[PATH_MAX];
    int rc;

    if (depth > 32)
        return dap_error_set(err, DAP_EPROTO, "%s: libraries nest too deep",
                             path);
    rc = map_file(path, &m, err);
    if (rc < 0)
        return rc;
    rc = oci_elf_parse(m.p, m.len, &info, err);
    unmap(&m);
    if (rc < 0) {
        oci_elf_info_cleanup(&info);
        return dap_error_prefix(err, "%s", path);
    }
    if (realpath(path, real) == NULL)
        snprintf(real, sizeof(real), "%s", path);
    snprintf(origin, sizeof(origin), "%s", real);
    if (strrchr(origin, '/') != NULL)
        *strrchr(origin, '/') = '\0';
    if (info.interp[0] && !have_dep(r, info.interp)) {
        rc = add_dep(r, info.interp);
        if (rc < 0) {
            dap_error_set(err, rc, "%s: its loader %s: %s", path, info.interp,
                          dap_strerror(rc));
            goto out;
        }
    }
    for (size_t i = 0; i < info.n_needed; i++) {
        if (!find_lib(r, info.needed[i], info.runpath, origin)) {
            rc = dap_error_set(err, DAP_ECONFIG,
                               "%s needs %s, which is not in its "
                               "DT_RUNPATH, /etc/ld.so.cache or the standard "
                               "directories",
                               path, info.needed[i]);
            goto out;
        }
        if (have_dep(r, r->found))
            continue;
        {
            char found[PATH_MAX];
            snprintf(found, sizeof(found), "%s", r->found);
            rc = add_dep(r, found);
            if (rc < 0) {
                dap_error_set(err, rc, "%s: %s", found, dap_strerror(rc));
                goto out;
            }
            rc = walk(r, found, depth + 1, err);
            if (rc < 0)
                goto out;
        }
    }
    rc = 0;
out:
    oci_elf_info_cleanup(&info);
    return rc;
}

static const char *triplet_of(int machine)
{
    switch (machine) {
    case EM_X86_64:
        return "x86_64-linux-gnu";
    case EM_AARCH64:
        return "aarch64-linux-gnu";
    case EM_386:
        return "i386-linux-gnu";
    case EM_ARM:
        return "arm-linux-gnueabihf";
    case EM_PPC64:
        return "powerpc64le-linux-gnu";
    case EM_S390:
        return "s390x-linux-gnu";
    case EM_RISCV:
        return "riscv64-linux-gnu";
    default:
        return "unknown";
    }
}

int oci_elf_file_arch(const char *path, const char **arch,
                      struct dap_error *err)
{
    unsigned char h[EI_NIDENT];
    int machine;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *arch = NULL;
    if (fd < 0)
        return dap_error_set(err, -errno, "%s: %s", path, strerror(errno));
    if (read(fd, h, sizeof(h)) != (ssize_t)sizeof(h) ||
        memcmp(h, ELFMAG, SELFMAG) != 0) {
        close(fd);
        return dap_error_set(err, DAP_ECONFIG, "%s is not an ELF executable",
                             path);
    }
    close(fd);
    if (machine_of(path, &machine) < 0)
        return dap_error_set(err, DAP_ECONFIG, "%s: bad ELF header", path);
    *arch = oci_elf_arch(machine, h[EI_CLASS] == ELFCLASS64);
    if (*arch == NULL)
        return dap_error_set(err, DAP_EUNSUPPORTED,
                             "%s: unknown ELF machine %d", path, machine);
    return 0;
}

int oci_elf_deps(const char *path, const char **arch,
                 struct oci_elf_dep **deps, size_t *n, struct dap_error *err)
{
    struct resolver r;
    struct dap_error ignore;
    int rc;

    *deps = NULL;
    *n = 0;
    memset(&r, 0, sizeof(r));
    rc = oci_elf_file_arch(path, arch, err);
    if (rc < 0)
        return rc;
    if (machine_of(path, &r.machine) < 0)
        return dap_error_set(err, DAP_ECONFIG, "%s: bad ELF header", path);
    r.triplet = triplet_of(r.machine);
    if (map_file("/etc/ld.so.cache", &r.cache, &ignore) < 0)
        r.cache.p = NULL;
    rc = walk(&r, path, 0, err);
    unmap(&r.cache);
    if (rc < 0) {
        oci_elf_deps_free(r.deps, r.n);
        return rc;
    }
    *deps = r.deps;
    *n = r.n;
    return 0;
}

void oci_elf_deps_free(struct oci_elf_dep *deps, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(deps[i].image_path);
        free(deps[i].host_path);
    }
    free(deps);
}
