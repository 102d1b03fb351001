/* utf8.c - see utf8.h. */
#include "utf8.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Length of the valid sequence at p (1-4), or 0 if invalid. */
static size_t seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned cp;

    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        cp = c & 0x07;
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    for (size_t i = 1; i < len; i++) {
        if ((p[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (p[i] & 0x3f);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return len;
}

int dap_utf8_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;

    while (i < n) {
        size_t l = seq_len(u + i, n - i);
        if (l == 0)
            return 0;
        i += l;
    }
    return 1;
}

/* The value of the 4 hex digits of a \u escape at p (p[0] == '\\'), or
 * -1 if p does not start one. */
static long uescape(const unsigned char *p, size_t n)
{
    long v = 0;

    if (n < 6 || p[0] != '\\' || p[1] != 'u')
        return -1;
    for (size_t i = 2; i < 6; i++) {
        int c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Both repairs: bytes always, \u escapes inside JSON strings when `json`. */
static char *repair(const char *p, size_t n, size_t *outn, int json)
{
    const unsigned char *u = (const unsigned char *)p;
    /* Worst case: every byte becomes the 3-byte replacement character
     * (an escape is replaced by one of the same length). */
    char *out = malloc(n * 3 + 1);
    size_t o = 0;
    size_t i = 0;
    int in_str = 0;

    if (out == NULL)
        return NULL;
    while (i < n) {
        size_t l;

        if (json && u[i] == '"') {
            in_str = !in_str;
        } else if (json && in_str && u[i] == '\\') {
            long cp = uescape(u + i, n - i);
            long lo = cp >= 0xd800 && cp <= 0xdbff
                          ? uescape(u + i + 6, n - i - 6)
                          : -1;
            if (lo >= 0xdc00 && lo <= 0xdfff) {
                l = 12; /* a surrogate pair: fine */
            } else if (cp >= 0xd800 && cp <= 0xdfff) {
                memcpy(out + o, "\\ufffd", 6);
                o += 6;
                i += 6;
                continue;
            } else {
                l = cp >= 0 ? 6 : i + 1 < n ? 2 : 1;
            }
            memcpy(out + o, p + i, l);
            o += l;
            i += l;
            continue;
        }
        l = seq_len(u + i, n - i);
        if (l == 0) {
            memcpy(out + o, "\xef\xbf\xbd", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, p + i, l);
        o += l;
        i += l;
    }
    out[o] = '\0';
    *outn = o;
    return out;
}

char *dap_utf8_repair(const char *p, size_t n, size_t *outn)
{
    return repair(p, n, outn, 0);
}

char *dap_utf8_json_repair(const char *p, size_t n, size_t *outn)
{
    return repair(p, n, outn, 1);
}

size_t dap_utf8_cut(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t k = 0; /* continuation bytes at the end */
    size_t want;
    unsigned char c;

    while (k < 3 && k < n && (u[n - 1 - k] & 0xc0) == 0x80)
        k++;
    if (k == n)
        return n; /* nothing but continuation bytes: not ours to judge */
    c = u[n - 1 - k];
    if (c >= 0xf0)
        want = 4;
    else if (c >= 0xe0)
        want = 3;
    else if (c >= 0xc0)
        want = 2;
    else
        return n; /* ASCII (or stray continuations): complete */
    return want > k + 1 ? n - 1 - k : n;
}

size_t dap_utf8_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
    int n = vsnprintf(buf, cap, fmt, ap);
    size_t len;

    if (n < 0) {
        buf[0] = '\0';
        return 0;
    }
    len = (size_t)n;
    if (len < cap)
        return len;
    len = dap_utf8_cut(buf, cap - 1);
    buf[len] = '\0';
    return len;
}

size_t dap_utf8_snprintf(char *buf, size_t cap, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    n = dap_utf8_vsnprintf(buf, cap, fmt, ap);
    va_end(ap);
    return n;
}
