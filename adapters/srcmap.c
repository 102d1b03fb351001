/* srcmap.c - see srcmap.h. */
#include "srcmap.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/b64.h"
#include "cdp.h"

/* A hostile map could claim billions of segments; cap what we keep. */
#define MAX_SEGMENTS (8u << 20)
#define MAX_SOURCES 65536

struct seg {
    int32_t gline, gcol;
    int32_t src, line, col; /* src -1: a segment without an original */
};

struct adapter_srcmap {
    struct seg *segs;
    size_t nsegs;
    char **sources;
    size_t nsources;
};

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+' || c == '-')
        return 62;
    if (c == '/' || c == '_')
        return 63;
    return -1;
}

/* One base64 VLQ number at *pp; advances.  Returns 0 or -1. */
static int vlq(const char **pp, int32_t *out)
{
    const char *p = *pp;
    uint64_t v = 0;
    int shift = 0;
    int d;

    for (;;) {
        d = b64val((unsigned char)*p);
        if (d < 0 || shift > 30)
            return -1;
        p++;
        v |= (uint64_t)(d & 31) << shift;
        shift += 5;
        if (!(d & 32))
            break;
    }
    *pp = p;
    if (v > INT32_MAX)
        return -1;
    *out = (v & 1) ? -(int32_t)(v >> 1) : (int32_t)(v >> 1);
    return 0;
}

static int add32(int32_t *acc, int32_t d)
{
    int64_t r = (int64_t)*acc + d;

    if (r < 0 || r > INT32_MAX)
        return -1;
    *acc = (int32_t)r;
    return 0;
}

static int seg_cmp(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;

    if (x->gline != y->gline)
        return x->gline < y->gline ? -1 : 1;
    if (x->gcol != y->gcol)
        return x->gcol < y->gcol ? -1 : 1;
    return 0;
}

static int decode(adapter_srcmap *m, const char *p, struct dap_error *err)
{
    int32_t gline = 0, gcol = 0, src = 0, line = 0, col = 0, name = 0;
    size_t alloc = 0;
    int sorted = 1;

    while (*p) {
        int32_t f[5];
        int nf = 0;
        struct seg *s;

        if (*p == ';') {
            gline++;
            gcol = 0;
            p++;
            continue;
        }
        if (*p == ',') {
            p++;
            continue;
        }
        while (*p && *p != ',' && *p != ';') {
            if (nf == 5 || vlq(&p, &f[nf]) < 0)
                return dap_error_set(err, DAP_EINVAL,
                                     "bad VLQ in the source map mappings");
            nf++;
        }
        if (nf != 1 && nf != 4 && nf != 5)
            return dap_error_set(err, DAP_EINVAL,
                                 "a source map segment has %d fields", nf);
        if (add32(&gcol, f[0]) < 0)
            return dap_error_set(err, DAP_EINVAL,
                                 "source map column "
                                 "out of range");
        if (nf >= 4) {
            if (add32(&src, f[1]) < 0 || add32(&line, f[2]) < 0 ||
                add32(&col, f[3]) < 0 || (nf == 5 && add32(&name, f[4]) < 0))
                return dap_error_set(err, DAP_EINVAL,
                                     "source map position out of range");
            if ((size_t)src >= m->nsources)
                return dap_error_set(err, DAP_EINVAL,
                                     "source map names source %d of %zu",
                                     (int)src, m->nsources);
        }
        if (m->nsegs == alloc) {
            size_t n = alloc ? alloc * 2 : 256;
            struct seg *ns;
            if (n > MAX_SEGMENTS)
                return dap_error_set(err, DAP_EINVAL,
                                     "source map has too many mappings");
            ns = realloc(m->segs, n * sizeof(*ns));
            if (ns == NULL)
                return dap_error_set(err, DAP_ENOMEM, "out of memory");
            m->segs = ns;
            alloc = n;
        }
        s = &m->segs[m->nsegs++];
        s->gline = gline;
        s->gcol = gcol;
        s->src = nf >= 4 ? src : -1;
        s->line = nf >= 4 ? line : 0;
        s->col = nf >= 4 ? col : 0;
        if (m->nsegs > 1 && seg_cmp(&m->segs[m->nsegs - 2], s) > 0)
            sorted = 0;
    }
    if (!sorted)
        qsort(m->segs, m->nsegs, sizeof(*m->segs), seg_cmp);
    return 0;
}

void adapter_srcmap_free(adapter_srcmap *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nsources; i++)
        free(m->sources[i]);
    free(m->sources);
    free(m->segs);
    free(m);
}

static char *source_path(const char *root, const char *s, const char *base)
{
    char *joined = NULL;
    char *out;
    const char *name = s;

    if (root != NULL && root[0] != '\0' && strstr(s, "://") == NULL &&
        s[0] != '/') {
        size_t n = strlen(root) + strlen(s) + 2;
        joined = malloc(n);
        if (joined == NULL)
            return NULL;
        snprintf(joined, n, "%s%s%s", root,
                 root[strlen(root) - 1] == '/' ? "" : "/", s);
        name = joined;
    }
    if (strncmp(name, "file://", 7) == 0) {
        char *p = adapter_cdp_url_to_path(name);
        out = p != NULL ? adapter_cdp_path_resolve(NULL, p) : strdup(name);
        free(p);
    } else if (strstr(name, "://") != NULL) {
        out = strdup(name);
    } else {
        out = adapter_cdp_path_resolve(base, name);
    }
    free(joined);
    return out;
}

int adapter_srcmap_parse(const char *json, size_t len, const char *map_path,
                         adapter_srcmap **out, struct dap_error *err)
{
    json_t *root = json_loadb(json, len, 0, NULL);
    json_t *sources;
    const char *mappings;
    const char *root_s;
    adapter_srcmap *m;
    json_t *s;
    size_t i;
    int rc;

    *out = NULL;
    if (!json_is_object(root)) {
        json_decref(root);
        return dap_error_set(err, DAP_EINVAL, "the source map is not JSON");
    }
    if (json_integer_value(json_object_get(root, "version")) != 3 ||
        json_object_get(root, "sections") != NULL) {
        json_decref(root);
        return dap_error_set(err, DAP_EINVAL,
                             "only version 3 source maps without sections "
                             "are supported");
    }
    sources = json_object_get(root, "sources");
    mappings = json_string_value(json_object_get(root, "mappings"));
    root_s = json_string_value(json_object_get(root, "sourceRoot"));
    if (!json_is_array(sources) || mappings == NULL ||
        json_array_size(sources) > MAX_SOURCES) {
        json_decref(root);
        return dap_error_set(err, DAP_EINVAL,
                             "the source map lacks sources or mappings");
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL || (m->sources = calloc(json_array_size(sources) + 1,
                                          sizeof(char *))) == NULL) {
        free(m);
        json_decref(root);
        return dap_error_set(err, DAP_ENOMEM, "out of memory");
    }
    json_array_foreach(sources, i, s)
    {
        const char *name = json_string_value(s);
        m->sources[i] = source_path(root_s, name != NULL ? name : "", map_path);
        m->nsources = i + 1;
        if (m->sources[i] == NULL) {
            adapter_srcmap_free(m);
            json_decref(root);
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        }
    }
    rc = decode(m, mappings, err);
    json_decref(root);
    if (rc < 0) {
        adapter_srcmap_free(m);
        return rc;
    }
    *out = m;
    return 0;
}

size_t adapter_srcmap_source_count(const adapter_srcmap *m)
{
    return m->nsources;
}

const char *adapter_srcmap_source(const adapter_srcmap *m, size_t i)
{
    return i < m->nsources ? m->sources[i] : NULL;
}

int adapter_srcmap_find_source(const adapter_srcmap *m, const char *path)
{
    for (size_t i = 0; i < m->nsources; i++) {
        if (strcmp(m->sources[i], path) == 0)
            return (int)i;
    }
    return -1;
}

int adapter_srcmap_set_source(adapter_srcmap *m, size_t i, const char *path)
{
    char *p;

    if (i >= m->nsources)
        return DAP_EINVAL;
    p = strdup(path);
    if (p == NULL)
        return DAP_ENOMEM;
    free(m->sources[i]);
    m->sources[i] = p;
    return 0;
}

int adapter_srcmap_original(const adapter_srcmap *m, int gline, int gcol,
                            int *src, int *line, int *col)
{
    size_t lo = 0, hi = m->nsegs;
    const struct seg *s = NULL;

    /* Last segment at or before (gline, gcol). */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const struct seg *x = &m->segs[mid];
        if (x->gline < gline || (x->gline == gline && x->gcol <= gcol))
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo > 0 && m->segs[lo - 1].gline == gline)
        s = &m->segs[lo - 1];
    else if (lo < m->nsegs && m->segs[lo].gline == gline)
        s = &m->segs[lo]; /* before the first mapping of the line */
    /* Skip segments without an original on this line. */
    while (s != NULL && s->src < 0) {
        if (s + 1 < m->segs + m->nsegs && s[1].gline == gline)
            s++;
        else
            s = NULL;
    }
    if (s == NULL)
        return -1;
    *src = s->src;
    *line = s->line;
    *col = s->col;
    return 0;
}

int adapter_srcmap_generated(const adapter_srcmap *m, int src, int line,
                             int slack, int *gline, int *gcol, int *line_out)
{
    for (int l = line; l <= line + slack && l >= 0; l++) {
        const struct seg *best = NULL;
        for (size_t i = 0; i < m->nsegs; i++) {
            const struct seg *s = &m->segs[i];
            if (s->src != src || s->line != l)
                continue;
            if (best == NULL || seg_cmp(s, best) < 0)
                best = s;
        }
        if (best != NULL) {
            *gline = best->gline;
            *gcol = best->gcol;
            *line_out = l;
            return 0;
        }
    }
    return -1;
}

int adapter_srcmap_data_url(const char *url, char **out, size_t *len)
{
    const char *comma;
    const char *p;
    unsigned char *buf;
    size_t o = 0;

    *out = NULL;
    if (url == NULL || strncmp(url, "data:", 5) != 0)
        return -1;
    comma = strchr(url, ',');
    if (comma == NULL)
        return -1;
    /* room for the text, or for what its base64 decodes to */
    buf = malloc(strlen(comma) + 3);
    if (buf == NULL)
        return -1;
    if (comma - url < 7 || strncmp(comma - 7, ";base64", 7) != 0) {
        /* Plain (percent-encoded) data. */
        for (p = comma + 1; *p; p++)
            buf[o++] = (unsigned char)*p;
    } else {
        if (dap_b64_decode_to(comma + 1, strlen(comma + 1), 0, buf, &o) <
            0) {
            free(buf);
            return -1;
        }
    }
    buf[o] = '\0';
    *out = (char *)buf;
    if (len != NULL)
        *len = o;
    return 0;
}
