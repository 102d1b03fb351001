/* utf8.h - make text from a debuggee valid UTF-8.
 *
 * Debuggees put arbitrary bytes into variable values and output; some
 * debuggers pass them on as they are.  jansson (rightly) refuses a message
 * with invalid UTF-8, which would lose the whole response, so such a
 * message is repaired first: every invalid sequence becomes U+FFFD.
 */
#ifndef KDAP_UTF8_H
#define KDAP_UTF8_H

#include <stddef.h>

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

#endif
