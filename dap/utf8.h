/* utf8.h - make text from a debuggee valid UTF-8.
 *
 * Debuggees put arbitrary bytes into variable values and output; some
 * debuggers pass them on as they are.  jansson (rightly) refuses a message
 * with invalid UTF-8, which would lose the whole response, so such a
 * message is repaired first: every invalid sequence becomes U+FFFD.
 */
#ifndef KDAP_UTF8_H
#define KDAP_UTF8_H

#include <stdarg.h>
#include <stddef.h>

#include "err.h"

/* 1 if [p, p+n) is valid UTF-8 (no overlongs, no surrogates). */
int dap_utf8_valid(const char *p, size_t n);
/* A repaired copy (caller frees) and its length, or NULL when out of
 * memory. */
char *dap_utf8_repair(const char *p, size_t n, size_t *outn);

/* A repaired copy of JSON text (caller frees) and its length, or NULL
 * when out of memory: invalid UTF-8 becomes U+FFFD as above, and so does
 * every \u escape of a lone surrogate ("\ud800" without its low half),
 * which JavaScript strings may hold (V8 serialises them so) and jansson
 * refuses. */
char *dap_utf8_json_repair(const char *p, size_t n, size_t *outn);

/* Where to cut text [p, p+n) so that it does not end inside a character:
 * n, or less by the bytes of a trailing sequence that is incomplete (its
 * rest lies beyond n).  Every cut of text that kdap sends goes through
 * here: a message with half a character fails to serialise, and a lost
 * response or an event without its body is worse than a shorter text. */
size_t dap_utf8_cut(const char *p, size_t n);

/* vsnprintf/snprintf into buf[cap] (cap > 0), cut on a character boundary
 * when the text does not fit.  Returns the length written. */
size_t dap_utf8_vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
    DAP_PRINTF(3, 0);
size_t dap_utf8_snprintf(char *buf, size_t cap, const char *fmt, ...)
    DAP_PRINTF(3, 4);

#endif
