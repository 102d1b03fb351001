/* mi.h - GDB/MI output parser and command builder (pure: no I/O).
 *
 * GDB/MI output is line-oriented.  Each line is one record:
 *
 *   [token]^class[,results]      result record (done running connected
 *                                error exit), answers the command that was
 *                                sent with the same token
 *   [token]*class[,results]      exec async (stopped, running)
 *   [token]+class[,results]      status async (download progress)
 *   [token]=class[,results]      notify async (thread-created,
 *                                breakpoint-modified, library-loaded...)
 *   ~"c-string"  @"c-string"  &"c-string"
 *                                console, target and log stream output
 *   (gdb)                        the prompt
 *
 * results are `name=value` pairs; a value is a C string, a tuple `{...}` of
 * results or a list `[...]` of values or of results.  We turn them into
 * jansson values: a string into a JSON string (C escapes undone, invalid
 * UTF-8 replaced by U+FFFD so that the value can travel in DAP), a tuple
 * into an object (a repeated name keeps its first value), a list into an
 * array (of the values; the names of a result list such as
 * `stack=[frame={...},frame={...}]` carry nothing and are dropped).
 *
 * adapter_mi_reader splits a byte stream into lines (bounded: a longer
 * line is an error, then the reader resynchronises at the next newline);
 * adapter_mi_parse_line() parses one line.  Neither keeps pointers into
 * the caller's memory, so input can be fed in any chunking, byte by byte.
 */
#ifndef KDAP_ADAPTER_MI_H
#define KDAP_ADAPTER_MI_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "../dap/buf.h"
#include "../dap/err.h"

enum adapter_mi_kind {
    ADAPTER_MI_RESULT,  /* ^ */
    ADAPTER_MI_EXEC,    /* * */
    ADAPTER_MI_STATUS,  /* + */
    ADAPTER_MI_NOTIFY,  /* = */
    ADAPTER_MI_CONSOLE, /* ~ */
    ADAPTER_MI_TARGET,  /* @ */
    ADAPTER_MI_LOG,     /* & */
    ADAPTER_MI_PROMPT,  /* (gdb) */
};

/* One parsed record; adapter_mi_record_cleanup() releases it. */
struct adapter_mi_record {
    enum adapter_mi_kind kind;
    int has_token;   /* a token preceded the record */
    uint64_t token;
    char cls[48];    /* "done", "stopped", ... (result and async records) */
    json_t *results; /* object of the results (never NULL after a parse) */
    char *text;      /* stream records: the unescaped text (NUL-ended) */
    size_t text_len; /* its length (may contain NUL bytes) */
};

/* Parse one line (without its newline; a trailing '\r' is ignored).
 * Returns 0 and fills `rec`, or DAP_EPROTO (detail in err, may be NULL)
 * for a line that is not MI (e.g. gdb's own stderr-like chatter).  `rec` is
 * always safe to clean up afterwards.  On DAP_EPROTO, the token and the
 * kind are set as far as they were read (kind ADAPTER_MI_PROMPT if it was
 * not): a result record whose results cannot be read still names the
 * command it answers. */
int adapter_mi_parse_line(const char *line, size_t len,
                          struct adapter_mi_record *rec,
                          struct dap_error *err) DAP_WUR;
void adapter_mi_record_cleanup(struct adapter_mi_record *rec);

/* Unescape a C string body ("..." included) starting at s[0] == '"'.
 * Appends the bytes to `out`; returns the number of input bytes consumed,
 * or DAP_EPROTO if the string does not end. */
int adapter_mi_cstring(const char *s, size_t len, dap_buf *out);

/* ---- line reader ------------------------------------------------------ */

typedef struct adapter_mi_reader {
    dap_buf line; /* the partial line */
    int skipping; /* dropping an overlong line until its newline */
} adapter_mi_reader;

void adapter_mi_reader_init(adapter_mi_reader *r, size_t max_line);
void adapter_mi_reader_cleanup(adapter_mi_reader *r);
/* Feed bytes; for every complete line call `fn(data, line, len)` (the line
 * is borrowed for the call).  Returns 0, or DAP_ETOOBIG once for each
 * overlong line (which is dropped; feeding may go on). */
int adapter_mi_reader_feed(adapter_mi_reader *r, const char *buf, size_t len,
                           void (*fn)(void *data, const char *line,
                                      size_t len),
                           void *data);

/* ---- command builder -------------------------------------------------- */

/* Append `s` as an MI C string ("..." with \" \\ \n \t \r and octal escapes
 * for other control bytes), so that an expression or a path can never end
 * the argument or the command line. */
int adapter_mi_quote(dap_buf *b, const char *s) DAP_WUR;

/* Build a command: `fmt` is literal text plus %s (raw string), %q (quoted C
 * string), %d (int), %l (long long) and %% .  Returns 0, DAP_EINVAL on an
 * unknown directive or DAP_ETOOBIG. */
int adapter_mi_build(dap_buf *b, const char *fmt, ...) DAP_WUR;

/* Helpers for results: the string at `key` of object `o` (NULL if absent or
 * not a string) and its integer value (`def` if absent or not a number). */
const char *adapter_mi_str(json_t *o, const char *key);
long long adapter_mi_int(json_t *o, const char *key, long long def);

#endif
