/* buf.c - see buf.h. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

void dap_buf_init(dap_buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void dap_buf_cleanup(dap_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

static int grow(dap_buf *b, size_t need)
{
    size_t n;
    char *p;

    if (need > b->cap)
        return DAP_ETOOBIG;
    if (need + 1 <= b->alloc)
        return 0;
    n = b->alloc ? b->alloc : 256;
    while (n < need + 1)
        n *= 2;
    p = realloc(b->data, n);
    if (p == NULL)
        return DAP_ENOMEM;
    b->data = p;
    b->alloc = n;
    return 0;
}

int dap_buf_append(dap_buf *b, const void *p, size_t n)
{
    int rc;

    if (n == 0)
        return 0;
    if (n > b->cap - b->len)
        return DAP_ETOOBIG;
    rc = grow(b, b->len + n);
    if (rc < 0)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int dap_buf_printf(dap_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    int rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DAP_EINVAL;
    if ((size_t)n > b->cap - b->len)
        return DAP_ETOOBIG;
    rc = grow(b, b->len + (size_t)n);
    if (rc < 0)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void dap_buf_consume(dap_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        if (b->data != NULL)
            b->data[0] = '\0';
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}

void dap_buf_reset(dap_buf *b)
{
    dap_buf_consume(b, b->len);
}

char *dap_buf_take(dap_buf *b, size_t *len)
{
    char *p = b->data;

    if (len != NULL)
        *len = b->len;
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    return p;
}

void dap_secret_free(char *s)
{
    if (s != NULL) {
        OPENSSL_cleanse(s, strlen(s));
        free(s);
    }
}
