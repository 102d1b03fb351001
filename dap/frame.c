/* frame.c - see frame.h. */
#include "frame.h"

#include <ctype.h>
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

void dap_frame_init(dap_frame *f, size_t max_body)
{
    dap_buf_init(&f->in, max_body + DAP_FRAME_MAX_HEADER + 4096);
    f->pos = 0;
    f->consume = 0;
    f->max_body = max_body;
    f->fatal = 0;
}

void dap_frame_cleanup(dap_frame *f)
{
    dap_buf_cleanup(&f->in);
}

/* Drop consumed bytes at the front once they dominate the buffer, so the
 * common case (many small messages in one read) costs no memmove each. */
static void compact(dap_frame *f)
{
    if (f->pos == 0)
        return;
    if (f->pos >= f->in.len || f->pos > f->in.len / 2) {
        dap_buf_consume(&f->in, f->pos);
        f->pos = 0;
    }
}

int dap_frame_feed(dap_frame *f, const void *p, size_t n)
{
    if (f->fatal)
        return DAP_ETOOBIG;
    f->pos += f->consume;
    f->consume = 0;
    compact(f);
    return dap_buf_append(&f->in, p, n);
}

static const char *find_crlf2(const char *p, size_t n)
{
    for (size_t i = 0; i + 3 < n; i++) {
        if (p[i] == '\r' && p[i + 1] == '\n' && p[i + 2] == '\r' &&
            p[i + 3] == '\n')
            return p + i;
    }
    return NULL;
}

static const char *find_ci(const char *p, size_t n, const char *needle)
{
    size_t m = strlen(needle);

    for (size_t i = 0; i + m <= n; i++) {
        if (strncasecmp(p + i, needle, m) == 0)
            return p + i;
    }
    return NULL;
}

/* Parse the header block [p, p+n) (without the final CRLFCRLF).  Returns 0
 * and the length, or DAP_EPROTO with *bad set to where the block went wrong:
 * the end of the offending line, or the block's start when no line did but
 * the block as a whole lacks a Content-Length. */
static int parse_headers(const char *p, size_t n, size_t *out,
                         const char **bad, struct dap_error *err)
{
    const char *end = p + n;
    int found = 0;
    size_t value = 0;

    *bad = p;
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        const char *colon;
        const char *v;

        if (eol == NULL)
            eol = end;
        *bad = eol;
        colon = memchr(p, ':', (size_t)(eol - p));
        if (colon == NULL)
            return dap_error_set(err, DAP_EPROTO,
                                 "header line without ':' in message header");
        if ((size_t)(colon - p) == 14 &&
            strncasecmp(p, "Content-Length", 14) == 0) {
            v = colon + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (v == eol || !isdigit((unsigned char)*v))
                return dap_error_set(err, DAP_EPROTO,
                                     "Content-Length is not a number");
            value = 0;
            while (v < eol && isdigit((unsigned char)*v)) {
                if (value > (SIZE_MAX - 9) / 10)
                    return dap_error_set(err, DAP_EPROTO,
                                         "Content-Length overflows");
                value = value * 10 + (size_t)(*v - '0');
                v++;
            }
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            if (v != eol)
                return dap_error_set(err, DAP_EPROTO,
                                     "trailing characters after "
                                     "Content-Length");
            if (found && value != *out)
                return dap_error_set(err, DAP_EPROTO,
                                     "conflicting Content-Length headers");
            *out = value;
            found = 1;
        }
        p = eol;
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
    }
    if (!found) {
        *bad = end - n;
        return dap_error_set(err, DAP_EPROTO,
                             "message header without Content-Length");
    }
    return 0;
}

int dap_frame_next(dap_frame *f, const char **body, size_t *len,
                   struct dap_error *err)
{
    const char *start;
    const char *hdr_end;
    const char *bad;
    size_t avail;
    size_t blen = 0;
    size_t hlen;
    int rc;

    if (f->fatal)
        return DAP_ETOOBIG;
    f->pos += f->consume;
    f->consume = 0;
    compact(f);

    /* Skip stray line breaks between messages, which some clients send. */
    while (f->pos < f->in.len &&
           (f->in.data[f->pos] == '\r' || f->in.data[f->pos] == '\n'))
        f->pos++;
    avail = f->in.len - f->pos;
    if (avail == 0)
        return 0; /* also before the first byte, when data is still NULL */
    start = f->in.data + f->pos;

    hdr_end = find_crlf2(start, avail);
    if (hdr_end == NULL) {
        if (avail <= DAP_FRAME_MAX_HEADER)
            return 0;
        /* Garbage without a header terminator: resync at the next
         * "Content-Length" after the start, keeping a tail that may hold a
         * split one. */
        const char *cl = find_ci(start + 1, avail - 1, "Content-Length");
        size_t drop = cl != NULL ? (size_t)(cl - start) : avail - 16;
        f->pos += drop;
        return dap_error_set(err, DAP_EPROTO,
                             "dropped %zu bytes of garbage without a "
                             "message header",
                             drop);
    }
    hlen = (size_t)(hdr_end - start);
    bad = start;
    if (hlen > DAP_FRAME_MAX_HEADER)
        rc = dap_error_set(err, DAP_EPROTO, "message header too long");
    else
        rc = parse_headers(start, hlen, &blen, &bad, err);
    if (rc < 0) {
        /* Garbage glued in front of a real header: resync at the first
         * Content-Length after what went wrong rather than losing the
         * message.  Never at one before it or on the bad line itself: with
         * two conflicting lengths that would take the second as the
         * truth and eat the next message as this one's body; then the
         * whole block goes. */
        const char *from = bad > start ? bad : start + 1;
        const char *cl =
            find_ci(from, hlen - (size_t)(from - start), "Content-Length");
        f->pos += cl != NULL ? (size_t)(cl - start) : hlen + 4;
        return rc;
    }
    if (blen > f->max_body) {
        f->fatal = 1;
        return dap_error_set(err, DAP_ETOOBIG,
                             "Content-Length %zu exceeds the limit of %zu "
                             "bytes",
                             blen, f->max_body);
    }
    if (avail - hlen - 4 < blen)
        return 0;
    *body = start + hlen + 4;
    *len = blen;
    f->pos += hlen + 4;
    f->consume = blen;
    return 1;
}

int dap_frame_write(dap_buf *out, const char *body, size_t len)
{
    int rc = dap_buf_printf(out, "Content-Length: %zu\r\n\r\n", len);

    if (rc < 0)
        return rc;
    return dap_buf_append(out, body, len);
}

#define HEADER_ROOM 32

static int dump_cb(const char *buffer, size_t size, void *data)
{
    return dap_buf_append(data, buffer, size) < 0 ? -1 : 0;
}

int dap_frame_encode(dap_buf *out, json_t *msg, const char **frame,
                     size_t *len)
{
    char header[HEADER_ROOM];
    size_t n;
    int hl;

    dap_buf_reset(out);
    memset(header, ' ', sizeof(header));
    if (dap_buf_append(out, header, HEADER_ROOM) < 0)
        return DAP_ENOMEM;
    if (json_dump_callback(msg, dump_cb, out, JSON_COMPACT) < 0) {
        /* Appending only fails past the cap (or out of memory, which the
         * cap makes the likelier story). */
        dap_buf_reset(out);
        return DAP_ETOOBIG;
    }
    n = out->len - HEADER_ROOM;
    hl = snprintf(header, sizeof(header), "Content-Length: %zu\r\n\r\n", n);
    memcpy(out->data + HEADER_ROOM - hl, header, (size_t)hl);
    *frame = out->data + HEADER_ROOM - hl;
    *len = (size_t)hl + n;
    return 0;
}
