/* buf.h - a growable byte buffer with a hard cap (curl's dynbuf idea).
 *
 * Embedded by value in its owner: dap_buf_init / dap_buf_cleanup.  Appending
 * beyond `cap` fails with DAP_ETOOBIG and leaves the contents unchanged, so
 * a hostile peer cannot make kdap allocate without bound.
 */
#ifndef KDAP_BUF_H
#define KDAP_BUF_H

#include <stddef.h>

#include "err.h"

typedef struct dap_buf {
    char *data;   /* NUL-terminated when len > 0 (room kept for it) */
    size_t len;   /* bytes in use */
    size_t alloc; /* bytes allocated */
    size_t cap;   /* hard limit on len */
} dap_buf;

void dap_buf_init(dap_buf *b, size_t cap);
void dap_buf_cleanup(dap_buf *b);
int dap_buf_append(dap_buf *b, const void *p, size_t n) DAP_WUR;
int dap_buf_printf(dap_buf *b, const char *fmt, ...) DAP_PRINTF(2, 3) DAP_WUR;
/* Drop the first n bytes (n <= len). */
void dap_buf_consume(dap_buf *b, size_t n);
void dap_buf_reset(dap_buf *b);
/* Move the contents out (caller frees); the buffer is left empty. */
char *dap_buf_take(dap_buf *b, size_t *len);

/* Wipe a string that held a secret, then free it; NULL is a no-op. */
void dap_secret_free(char *s);

#endif
