/* req_source.c - "The request retrieves the source code for a given source
 * reference."
 *
 * A sourceReference names the service that knows the source.  A plain path
 * is a file on the editor's side of the mapping, which kdap reads itself
 * (some clients ask for files they could open directly), but only:
 * - a file under a service's mapped roots (localRoot, substitutePath) or
 *   one a debugger named to the editor (a stack frame's, a breakpoint's):
 *   kdap runs with the developer's rights, and a request must not turn it
 *   into a reader of ~/.ssh or /etc/shadow;
 * - a regular file (no FIFO, device or /proc/self/fd/N, whose reads never
 *   end), not a symbolic link, at most SOURCE_MAX bytes;
 * - read off the loop (libuv's thread pool), so a slow disk stalls only
 *   this request.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "session_int.h"

#define SOURCE_MAX (8u << 20)

/* One file being read.  IMPORTANT: the session may be freed while a step
 * is in the thread pool; it then sets `req` to NULL (and answers the
 * request itself) and the read only cleans up after itself. */
struct dap_source_read {
    uv_fs_t fs;
    struct dap_source_read *prev, *next; /* the session's reads */
    dap_session *s;
    struct dap_request *req;
    uv_file fd;
    char *buf;
    size_t size; /* from fstat */
    size_t len;  /* read so far */
};

/* ---- which files ------------------------------------------------------- */

/* An absolute path without "." or ".." components, which could climb out
 * of a root that matched on the text. */
static int plain_absolute(const char *path)
{
    const char *p = path;

    if (path[0] != '/')
        return 0;
    while (*p != '\0') {
        const char *e;
        size_t n;

        while (*p == '/')
            p++;
        e = strchr(p, '/');
        n = e != NULL ? (size_t)(e - p) : strlen(p);
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return 0;
        p += n;
    }
    return 1;
}

static int may_read(dap_session *s, const char *path)
{
    if (!plain_absolute(path))
        return 0;
    if (json_object_get(s->named_paths, path) != NULL)
        return 1;
    for (size_t i = 0; i < s->nsvc; i++) {
        const dap_pathmap *pm = &s->svc[i]->paths;
        if (pm->n > 0 && dap_pathmap_owns(pm, path))
            return 1;
    }
    return 0;
}

void dap__source_named(dap_session *s, const char *path)
{
    /* Bounded: a debugger listing a huge tree does not grow this for
     * ever; past the bound only mapped roots count. */
    if (json_object_size(s->named_paths) < 100000)
        json_object_set_new(s->named_paths, path, json_true());
}

/* ---- reading ----------------------------------------------------------- */

static void read_free(struct dap_source_read *r)
{
    if (r->s != NULL) {
        if (r->prev != NULL)
            r->prev->next = r->next;
        else
            r->s->source_reads = r->next;
        if (r->next != NULL)
            r->next->prev = r->prev;
    }
    if (r->fd >= 0)
        close(r->fd); /* a regular file: nothing to wait for */
    free(r->buf);
    free(r);
}

static const char *path_of(struct dap_source_read *r)
{
    return json_string_value(
        json_object_get(json_object_get(r->req->args, "source"), "path"));
}

/* Answer (when the request is still there) and free; `code` 0 answers
 * with the content. */
static void finish(struct dap_source_read *r, int code, const char *fmt, ...)
    DAP_PRINTF(3, 4);

static void finish(struct dap_source_read *r, int code, const char *fmt, ...)
{
    struct dap_request *req = r->req;
    char text[1024];
    va_list ap;

    if (req != NULL && code == 0) {
        json_t *body = json_pack("{s:s%}", "content", r->buf, r->len);
        if (body == NULL) {
            finish(r, DAP_EINVAL, "%s is not UTF-8 text", path_of(r));
            return;
        }
        read_free(r);
        dap__respond(req->s, req, body);
        return;
    }
    if (req != NULL) {
        va_start(ap, fmt);
        vsnprintf(text, sizeof(text), fmt, ap);
        va_end(ap);
    }
    read_free(r);
    if (req != NULL)
        dap__respond_err(req->s, req, code, "%s", text);
}

static void on_read(uv_fs_t *fs);

static void read_more(struct dap_source_read *r)
{
    /* One byte more than fstat said: a file that grew is noticed. */
    uv_buf_t b = uv_buf_init(r->buf + r->len, (unsigned)(r->size + 1 - r->len));
    int rc = uv_fs_read(r->s->loop, &r->fs, r->fd, &b, 1, -1, on_read);

    if (rc < 0)
        finish(r, rc, "cannot read %s: %s", path_of(r), uv_strerror(rc));
}

/* The start of every step's callback: the read, or NULL when it is over
 * (let go by the session, or failed and answered). */
static struct dap_source_read *step_done(uv_fs_t *fs, ssize_t *result)
{
    struct dap_source_read *r = fs->data;

    *result = fs->result;
    uv_fs_req_cleanup(fs);
    if (r->req == NULL) {
        read_free(r);
        return NULL;
    }
    if (*result == UV_ELOOP) {
        finish(r, DAP_EINVAL,
               "%s is a symbolic link: kdap shows only regular files "
               "(ask for the file it points to)",
               path_of(r));
        return NULL;
    }
    if (*result < 0) {
        finish(r, (int)*result, "cannot read %s: %s", path_of(r),
               uv_strerror((int)*result));
        return NULL;
    }
    return r;
}

static void on_read(uv_fs_t *fs)
{
    ssize_t n;
    struct dap_source_read *r = step_done(fs, &n);

    if (r == NULL)
        return;
    r->len += (size_t)n;
    if (r->len > r->size) {
        finish(r, DAP_ETOOBIG,
               "%s grows while it is read: kdap shows a file as it is",
               path_of(r));
        return;
    }
    if (n == 0 || r->len == r->size) {
        finish(r, 0, NULL);
        return;
    }
    read_more(r);
}

static void on_stat(uv_fs_t *fs)
{
    uv_stat_t st = fs->statbuf;
    ssize_t rc;
    struct dap_source_read *r = step_done(fs, &rc);

    if (r == NULL)
        return;
    if (!S_ISREG(st.st_mode)) {
        finish(r, DAP_EINVAL,
               "%s is not a regular file (a pipe, device or directory): "
               "kdap shows only regular files",
               path_of(r));
        return;
    }
    if (st.st_size > SOURCE_MAX) {
        finish(r, DAP_ETOOBIG,
               "%s has %llu bytes, more than the %u MiB kdap shows: open "
               "it in the editor instead",
               path_of(r), (unsigned long long)st.st_size, SOURCE_MAX >> 20);
        return;
    }
    r->size = (size_t)st.st_size;
    r->buf = malloc(r->size + 2);
    if (r->buf == NULL) {
        finish(r, DAP_ENOMEM, "out of memory reading %s", path_of(r));
        return;
    }
    read_more(r);
}

static void on_open(uv_fs_t *fs)
{
    struct dap_source_read *r = fs->data;
    ssize_t rc;
    int e;

    if (fs->result >= 0)
        r->fd = (uv_file)fs->result; /* read_free closes it, whatever comes */
    if (step_done(fs, &rc) == NULL)
        return;
    e = uv_fs_fstat(r->s->loop, &r->fs, r->fd, on_stat);
    if (e < 0)
        finish(r, e, "cannot read %s: %s", path_of(r), uv_strerror(e));
}

void dap__source_detach_all(dap_session *s)
{
    for (struct dap_source_read *r = s->source_reads; r != NULL; r = r->next) {
        r->req = NULL;
        r->s = NULL;
        uv_cancel((uv_req_t *)&r->fs); /* fails once running: fine */
    }
    s->source_reads = NULL;
}

int dap__req_source(dap_session *s, struct dap_request *req, json_t *args,
                    json_t **body)
{
    json_t *source = json_object_get(args, "source");
    json_int_t ref = json_integer_value(json_object_get(args,
                                                        "sourceReference"));
    const char *path = json_string_value(json_object_get(source, "path"));
    struct dap_source_read *r;
    int rc;

    if (ref <= 0)
        ref = json_integer_value(json_object_get(source, "sourceReference"));
    if (ref > 0)
        return dap__req_forward(s, req, args, body);
    if (path == NULL)
        return dap_error_set(&req->err, DAP_EINVAL,
                             "source needs a sourceReference or "
                             "\"source\": {\"path\": ...}");
    if (!may_read(s, path))
        return dap_error_set(&req->err, DAP_EINVAL,
                             "source: kdap shows only files under a "
                             "service's localRoot or substitutePath and files "
                             "a debugger named; %s is neither (an absolute "
                             "path without . or ..): open it in the editor",
                             path);
    r = calloc(1, sizeof(*r));
    if (r == NULL)
        return dap_error_set(&req->err, DAP_ENOMEM, "out of memory");
    r->s = s;
    r->req = req;
    r->fd = -1;
    r->fs.data = r;
    r->next = s->source_reads;
    if (r->next != NULL)
        r->next->prev = r;
    s->source_reads = r;
    rc = uv_fs_open(s->loop, &r->fs, path,
                    O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC, 0, on_open);
    if (rc < 0) {
        r->req = NULL;
        read_free(r);
        return dap_error_set(&req->err, rc, "cannot read %s: %s", path,
                             uv_strerror(rc));
    }
    return DAP_PENDING;
}
