/* layer.c - see layer.h. */
#define _GNU_SOURCE
#include "layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>
#include <zlib.h>

enum kind { K_FILE, K_DIR, K_SYMLINK, K_DATA };

struct entry {
    char *path;        /* absolute, normalised */
    enum kind kind;
    char *src;         /* K_FILE: host path; K_SYMLINK: target */
    void *data;        /* K_DATA */
    size_t len;
    unsigned mode;
};

struct oci_layer_spec {
    struct entry *e;
    size_t n, alloc;
};

/* ---- digests ------------------------------------------------------------ */

static void hex_digest(EVP_MD_CTX *md, char out[72])
{
    unsigned char h[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    static const char hx[] = "0123456789abcdef";

    EVP_DigestFinal_ex(md, h, &n);
    memcpy(out, "sha256:", 7);
    for (unsigned i = 0; i < n && i < 32; i++) {
        out[7 + 2 * i] = hx[h[i] >> 4];
        out[8 + 2 * i] = hx[h[i] & 15];
    }
    out[7 + 64] = '\0';
}

void oci_sha256(const void *data, size_t len, char out[72])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();

    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, data, len);
    hex_digest(md, out);
    EVP_MD_CTX_free(md);
}

/* ---- the spec ------------------------------------------------------------ */

int oci_layer_spec_new(oci_layer_spec **out)
{
    *out = calloc(1, sizeof(**out));
    return *out != NULL ? 0 : DAP_ENOMEM;
}

static void entry_free(struct entry *e)
{
    free(e->path);
    free(e->src);
    free(e->data);
}

void oci_layer_spec_free(oci_layer_spec *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        entry_free(&s->e[i]);
    free(s->e);
    free(s);
}

size_t oci_layer_count(const oci_layer_spec *s)
{
    return s->n;
}

/* "/a//b/./c/" -> "/a/b/c"; NULL for a relative path or "..". */
static char *norm_path(const char *p)
{
    char *o, *w;

    if (p == NULL || p[0] != '/')
        return NULL;
    o = malloc(strlen(p) + 2);
    if (o == NULL)
        return NULL;
    w = o;
    while (*p) {
        const char *s;
        size_t n;
        while (*p == '/')
            p++;
        s = p;
        while (*p && *p != '/')
            p++;
        n = (size_t)(p - s);
        if (n == 0 || (n == 1 && s[0] == '.'))
            continue;
        if (n == 2 && s[0] == '.' && s[1] == '.') {
            free(o);
            return NULL;
        }
        *w++ = '/';
        memcpy(w, s, n);
        w += n;
    }
    if (w == o)
        *w++ = '/';
    *w = '\0';
    return o;
}

static struct entry *find(oci_layer_spec *s, const char *path)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->e[i].path, path) == 0)
            return &s->e[i];
    return NULL;
}

static int add(oci_layer_spec *s, const char *path, enum kind k,
               const char *src, const void *data, size_t len, unsigned mode,
               int replace);

static int add_parents(oci_layer_spec *s, const char *path)
{
    char buf[PATH_MAX];
    char *slash;
    int rc;

    snprintf(buf, sizeof(buf), "%s", path);
    slash = strrchr(buf, '/');
    if (slash == NULL || slash == buf)
        return 0;
    *slash = '\0';
    if (find(s, buf) != NULL)
        return 0;
    rc = add_parents(s, buf);
    if (rc < 0)
        return rc;
    return add(s, buf, K_DIR, NULL, NULL, 0, 0755, 0);
}

static int add(oci_layer_spec *s, const char *path, enum kind k,
               const char *src, const void *data, size_t len, unsigned mode,
               int replace)
{
    struct entry e = {0};
    struct entry *old;
    int rc;

    e.path = norm_path(path);
    if (e.path == NULL)
        return DAP_EINVAL;
    if (strcmp(e.path, "/") == 0) {
        free(e.path);
        return 0;
    }
    old = find(s, e.path);
    if (old != NULL && !replace) {
        free(e.path);
        return 0;
    }
    rc = add_parents(s, e.path);
    if (rc < 0) {
        free(e.path);
        return rc;
    }
    e.kind = k;
    e.mode = mode;
    e.len = len;
    if (src != NULL && (e.src = strdup(src)) == NULL)
        goto nomem;
    if (data != NULL) {
        e.data = malloc(len ? len : 1);
        if (e.data == NULL)
            goto nomem;
        memcpy(e.data, data, len);
    }
    old = find(s, e.path);
    if (old != NULL) {
        entry_free(old);
        *old = e;
        return 0;
    }
    if (s->n == s->alloc) {
        size_t na = s->alloc ? 2 * s->alloc : 32;
        struct entry *ne = realloc(s->e, na * sizeof(*ne));
        if (ne == NULL)
            goto nomem;
        s->e = ne;
        s->alloc = na;
    }
    s->e[s->n++] = e;
    return 0;
nomem:
    entry_free(&e);
    return DAP_ENOMEM;
}

int oci_layer_add_file(oci_layer_spec *s, const char *path, const char *src,
                       unsigned mode)
{
    return add(s, path, K_FILE, src, NULL, 0, mode, 1);
}

int oci_layer_add_dir(oci_layer_spec *s, const char *path, unsigned mode)
{
    return add(s, path, K_DIR, NULL, NULL, 0, mode, 1);
}

int oci_layer_add_symlink(oci_layer_spec *s, const char *path,
                          const char *target)
{
    return add(s, path, K_SYMLINK, target, NULL, 0, 0777, 1);
}

int oci_layer_add_data(oci_layer_spec *s, const char *path, const void *data,
                       size_t len, unsigned mode)
{
    return add(s, path, K_DATA, NULL, data, len, mode, 1);
}

int oci_layer_add_tree(oci_layer_spec *s, const char *path, const char *src,
                       struct dap_error *err)
{
    struct stat st;
    int rc;

    if (lstat(src, &st) < 0)
        return dap_error_set(err, -errno, "%s: %s", src, strerror(errno));
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(src, target, sizeof(target) - 1);
        if (n < 0)
            return dap_error_set(err, -errno, "%s: %s", src, strerror(errno));
        target[n] = '\0';
        rc = oci_layer_add_symlink(s, path, target);
    } else if (S_ISREG(st.st_mode)) {
        rc = oci_layer_add_file(s, path, src, 0);
    } else if (S_ISDIR(st.st_mode)) {
        DIR *d;
        struct dirent *de;
        rc = oci_layer_add_dir(s, path, st.st_mode & 07777);
        d = rc == 0 ? opendir(src) : NULL;
        if (rc == 0 && d == NULL)
            return dap_error_set(err, -errno, "%s: %s", src, strerror(errno));
        while (rc == 0 && (de = readdir(d)) != NULL) {
            char sp[PATH_MAX], dp[PATH_MAX];
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            snprintf(sp, sizeof(sp), "%s/%s", src, de->d_name);
            snprintf(dp, sizeof(dp), "%s/%s", path, de->d_name);
            rc = oci_layer_add_tree(s, dp, sp, err);
            if (rc < 0) {
                closedir(d);
                return rc;
            }
        }
        if (d != NULL)
            closedir(d);
    } else {
        return dap_error_set(err, DAP_ECONFIG,
                             "%s is not a file, directory or symlink", src);
    }
    if (rc < 0)
        return dap_error_set(err, rc, "%s: cannot add it as %s", src, path);
    return 0;
}

/* ---- the cache ------------------------------------------------------------ */

static int mkdirs(const char *dir)
{
    char buf[PATH_MAX];

    snprintf(buf, sizeof(buf), "%s", dir);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0700) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(buf, 0700) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int oci_cache_dir(char *buf, size_t size, struct dap_error *err)
{
    const char *x = getenv("XDG_CACHE_HOME");
    const char *home = getenv("HOME");
    char sub[PATH_MAX];
    int rc;

    if (x != NULL && x[0] == '/')
        snprintf(buf, size, "%s/kdap/oci", x);
    else if (home != NULL && home[0] == '/')
        snprintf(buf, size, "%s/.cache/kdap/oci", home);
    else
        return dap_error_set(err, DAP_ECONFIG,
                             "no cache directory for images: set HOME or "
                             "XDG_CACHE_HOME");
    snprintf(sub, sizeof(sub), "%s/blobs/sha256", buf);
    rc = mkdirs(sub);
    if (rc == 0) {
        snprintf(sub, sizeof(sub), "%s/layers", buf);
        rc = mkdirs(sub);
    }
    if (rc < 0)
        return dap_error_set(err, rc, "cannot create the image cache %s: %s",
                             buf, strerror(-rc));
    return 0;
}

static void blob_path(const char *cache, const char *digest, char *buf,
                      size_t size)
{
    snprintf(buf, size, "%s/blobs/sha256/%s", cache, digest + 7);
}

int oci_blob_store(const char *cache, const void *data, size_t len,
                   const char *media_type, struct oci_blob *out,
                   struct dap_error *err)
{
    char tmp[PATH_MAX + 32];
    struct stat st;
    FILE *f;

    memset(out, 0, sizeof(*out));
    oci_sha256(data, len, out->digest);
    out->size = len;
    snprintf(out->media_type, sizeof(out->media_type), "%s", media_type);
    blob_path(cache, out->digest, out->path, sizeof(out->path));
    if (stat(out->path, &st) == 0 && (uint64_t)st.st_size == len)
        return 0;
    snprintf(tmp, sizeof(tmp), "%s.%d.tmp", out->path, (int)getpid());
    f = fopen(tmp, "wb");
    if (f == NULL || fwrite(data, 1, len, f) != len || fclose(f) != 0) {
        int e = errno;
        if (f != NULL)
            unlink(tmp);
        return dap_error_set(err, -e, "cannot write %s: %s", tmp, strerror(e));
    }
    if (rename(tmp, out->path) < 0)
        return dap_error_set(err, -errno, "cannot write %s: %s", out->path,
                             strerror(errno));
    return 0;
}

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->path,
                  ((const struct entry *)b)->path);
}

/* The cache key: everything that decides the layer's bytes, a file's
 * content standing in as its identity and stat (a changed file has another
 * size, mtime or ctime; a replaced one another inode). */
static int layer_key(const struct entry *e, size_t n, char key[72],
                     struct dap_error *err)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    char line[PATH_MAX * 2 + 200];

    if (md == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    /* The format version: bump when the tar or gzip bytes change. */
    EVP_DigestUpdate(md, "kdap-layer-1\n", 13);
    for (size_t i = 0; i < n; i++) {
        int len = 0;
        if (e[i].kind == K_FILE) {
            struct stat st;
            if (stat(e[i].src, &st) < 0) {
                int en = errno;
                EVP_MD_CTX_free(md);
                return dap_error_set(err, -en, "%s: %s", e[i].src,
                                     strerror(en));
            }
            len = snprintf(line, sizeof(line),
                           "f %s %o %s %lu %lu %lld %lld.%09ld %lld.%09ld\n",
                           e[i].path, e[i].mode, e[i].src,
                           (unsigned long)st.st_dev, (unsigned long)st.st_ino,
                           (long long)st.st_size, (long long)st.st_mtim.tv_sec,
                           st.st_mtim.tv_nsec, (long long)st.st_ctim.tv_sec,
                           st.st_ctim.tv_nsec);
        } else if (e[i].kind == K_DATA) {
            char d[72];
            oci_sha256(e[i].data, e[i].len, d);
            len = snprintf(line, sizeof(line), "c %s %o %s\n", e[i].path,
                           e[i].mode, d);
        } else if (e[i].kind == K_DIR) {
            len = snprintf(line, sizeof(line), "d %s %o\n", e[i].path,
                           e[i].mode);
        } else {
            len = snprintf(line, sizeof(line), "l %s %s\n", e[i].path,
                           e[i].src);
        }
        EVP_DigestUpdate(md, line, (size_t)len);
    }
    hex_digest(md, key);
    EVP_MD_CTX_free(md);
    return 0;
}

static int cache_lookup(const char *cache, const char *key,
                        struct oci_blob *out)
{
    char p[PATH_MAX + 100];
    unsigned long long size;
    struct stat st;
    FILE *f;
    int ok;

    snprintf(p, sizeof(p), "%s/layers/%s", cache, key + 7);
    f = fopen(p, "r");
    if (f == NULL)
        return 0;
    ok = fscanf(f, "%71s %71s %llu", out->digest, out->diff_id, &size) == 3;
    fclose(f);
    if (!ok || strncmp(out->digest, "sha256:", 7) != 0)
        return 0;
    out->size = size;
    blob_path(cache, out->digest, out->path, sizeof(out->path));
    return stat(out->path, &st) == 0 && (uint64_t)st.st_size == size;
}

/* ---- writing ------------------------------------------------------------- */

struct writer {
    EVP_MD_CTX *tar_md, *gz_md;
    z_stream z;
    FILE *out;
    uint64_t gz_size;
    int failed;
    unsigned char zbuf[1 << 16];
};

static int deflate_out(struct writer *w, int flush)
{
    do {
        int zr;
        size_t have;
        w->z.next_out = w->zbuf;
        w->z.avail_out = sizeof(w->zbuf);
        zr = deflate(&w->z, flush);
        if (zr == Z_STREAM_ERROR)
            return -1;
        have = sizeof(w->zbuf) - w->z.avail_out;
        if (have > 0) {
            EVP_DigestUpdate(w->gz_md, w->zbuf, have);
            if (fwrite(w->zbuf, 1, have, w->out) != have)
                return -1;
            w->gz_size += have;
        }
    } while (w->z.avail_out == 0);
    return 0;
}

static la_ssize_t tar_write(struct archive *a, void *data, const void *buf,
                            size_t len)
{
    struct writer *w = data;

    (void)a;
    EVP_DigestUpdate(w->tar_md, buf, len);
    w->z.next_in = (Bytef *)buf;
    w->z.avail_in = (uInt)len;
    if (deflate_out(w, Z_NO_FLUSH) < 0) {
        w->failed = 1;
        return -1;
    }
    return (la_ssize_t)len;
}

static int write_entry(struct archive *a, const struct entry *e,
                       struct dap_error *err)
{
    struct archive_entry *ae = archive_entry_new();
    unsigned char buf[1 << 16];
    int rc = 0;
    int fd = -1;

    if (ae == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    archive_entry_set_pathname(ae, e->path + 1);
    archive_entry_set_uid(ae, 0);
    archive_entry_set_gid(ae, 0);
    archive_entry_set_mtime(ae, 0, 0);
    switch (e->kind) {
    case K_DIR:
        archive_entry_set_filetype(ae, AE_IFDIR);
        archive_entry_set_perm(ae, e->mode);
        break;
    case K_SYMLINK:
        archive_entry_set_filetype(ae, AE_IFLNK);
        archive_entry_set_perm(ae, 0777);
        archive_entry_set_symlink(ae, e->src);
        break;
    case K_DATA:
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, e->mode);
        archive_entry_set_size(ae, (la_int64_t)e->len);
        break;
    case K_FILE: {
        struct stat st;
        fd = open(e->src, O_RDONLY | O_CLOEXEC);
        if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
            rc = dap_error_set(err, fd < 0 ? -errno : DAP_ECONFIG,
                               "cannot read %s (for %s in the image): %s",
                               e->src, e->path,
                               fd < 0 ? strerror(errno) : "not a file");
            goto out;
        }
        archive_entry_set_filetype(ae, AE_IFREG);
        archive_entry_set_perm(ae, e->mode ? e->mode : (st.st_mode & 07777));
        archive_entry_set_size(ae, (la_int64_t)st.st_size);
        break;
    }
    }
    if (archive_write_header(a, ae) != ARCHIVE_OK) {
        rc = dap_error_set(err, DAP_EPROTO, "tar: %s: %s", e->path,
                           archive_error_string(a));
        goto out;
    }
    if (e->kind == K_DATA && e->len > 0 &&
        archive_write_data(a, e->data, e->len) != (la_ssize_t)e->len) {
        rc = dap_error_set(err, DAP_EPROTO, "tar: %s: %s", e->path,
                           archive_error_string(a));
        goto out;
    }
    if (e->kind == K_FILE) {
        ssize_t n;
        while ((n = read(fd, buf, sizeof(buf))) > 0)
            if (archive_write_data(a, buf, (size_t)n) != n) {
                rc = dap_error_set(err, DAP_EPROTO, "tar: %s: %s", e->path,
                                   archive_error_string(a));
                goto out;
            }
        if (n < 0)
            rc = dap_error_set(err, -errno, "cannot read %s: %s", e->src,
                               strerror(errno));
    }
out:
    if (fd >= 0)
        close(fd);
    archive_entry_free(ae);
    return rc;
}

int oci_layer_build(const oci_layer_spec *s, const char *cache,
                    struct oci_blob *out, int *cached, struct dap_error *err)
{
    struct entry *sorted;
    char key[72], tmp[PATH_MAX + 64], keyfile[PATH_MAX + 100];
    struct writer *w = NULL;
    struct archive *a = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    *cached = 0;
    snprintf(out->media_type, sizeof(out->media_type),
             "application/vnd.oci.image.layer.v1.tar+gzip");
    sorted = malloc((s->n ? s->n : 1) * sizeof(*sorted));
    if (sorted == NULL)
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    memcpy(sorted, s->e, s->n * sizeof(*sorted));
    qsort(sorted, s->n, sizeof(*sorted), cmp_entry);
    rc = layer_key(sorted, s->n, key, err);
    if (rc < 0)
        goto done;
    if (cache_lookup(cache, key, out)) {
        *cached = 1;
        goto done;
    }
    w = calloc(1, sizeof(*w));
    if (w == NULL) {
        rc = dap_error_set(err, DAP_ENOMEM, "out of memory");
        goto done;
    }
    w->tar_md = EVP_MD_CTX_new();
    w->gz_md = EVP_MD_CTX_new();
    EVP_DigestInit_ex(w->tar_md, EVP_sha256(), NULL);
    EVP_DigestInit_ex(w->gz_md, EVP_sha256(), NULL);
    /* windowBits 15 + 16: a gzip wrapper whose header has mtime 0 and no
     * name.  Level 1: the layers are mostly executables, where higher
     * levels save little and cost several times the time of the first
     * attach. */
    if (deflateInit2(&w->z, 1, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
        Z_OK) {
        rc = dap_error_set(err, DAP_ENOMEM, "zlib: cannot start");
        goto done;
    }
    snprintf(tmp, sizeof(tmp), "%s/blobs/layer.%d.%p.tmp", cache,
             (int)getpid(), (void *)w);
    w->out = fopen(tmp, "wb");
    if (w->out == NULL) {
        rc = dap_error_set(err, -errno, "cannot write %s: %s", tmp,
                           strerror(errno));
        goto done;
    }
    a = archive_write_new();
    if (a == NULL || archive_write_set_format_pax_restricted(a) != ARCHIVE_OK ||
        archive_write_add_filter_none(a) != ARCHIVE_OK ||
        archive_write_set_bytes_in_last_block(a, 1) != ARCHIVE_OK ||
        archive_write_open(a, w, NULL, tar_write, NULL) != ARCHIVE_OK) {
        rc = dap_error_set(err, DAP_EPROTO, "libarchive: %s",
                           a ? archive_error_string(a) : "out of memory");
        goto done;
    }
    for (size_t i = 0; i < s->n && rc == 0; i++)
        rc = write_entry(a, &sorted[i], err);
    if (rc == 0 && (archive_write_close(a) != ARCHIVE_OK || w->failed))
        rc = dap_error_set(err, DAP_EPROTO, "tar: %s",
                           w->failed ? "cannot write the cache"
                                     : archive_error_string(a));
    if (rc == 0 && deflate_out(w, Z_FINISH) < 0)
        rc = dap_error_set(err, DAP_EPROTO, "gzip failed");
    if (rc == 0 && fclose(w->out) != 0)
        rc = dap_error_set(err, -errno, "cannot write %s: %s", tmp,
                           strerror(errno));
    w->out = NULL;
    if (rc < 0) {
        unlink(tmp);
        goto done;
    }
    hex_digest(w->tar_md, out->diff_id);
    hex_digest(w->gz_md, out->digest);
    out->size = w->gz_size;
    blob_path(cache, out->digest, out->path, sizeof(out->path));
    if (rename(tmp, out->path) < 0) {
        rc = dap_error_set(err, -errno, "cannot write %s: %s", out->path,
                           strerror(errno));
        unlink(tmp);
        goto done;
    }
    snprintf(keyfile, sizeof(keyfile), "%s/layers/%s", cache, key + 7);
    {
        char line[200];
        FILE *f;
        snprintf(tmp, sizeof(tmp), "%s.%d.tmp", keyfile, (int)getpid());
        snprintf(line, sizeof(line), "%s %s %llu\n", out->digest,
                 out->diff_id, (unsigned long long)out->size);
        f = fopen(tmp, "w");
        /* The index is only a shortcut: failing to write it costs a
         * rebuild next time, nothing else. */
        if (f != NULL) {
            if (fputs(line, f) >= 0 && fclose(f) == 0)
                rename(tmp, keyfile);
            else
                unlink(tmp);
        }
    }
done:
    if (a != NULL)
        archive_write_free(a);
    if (w != NULL) {
        if (w->out != NULL) {
            fclose(w->out);
            unlink(tmp);
        }
        deflateEnd(&w->z);
        EVP_MD_CTX_free(w->tar_md);
        EVP_MD_CTX_free(w->gz_md);
        free(w);
    }
    free(sorted);
    return rc;
}
