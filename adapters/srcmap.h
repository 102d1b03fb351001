/* srcmap.h - source maps (revision 3): parse and look up, pure.
 *
 * The "mappings" string is decoded once into a flat array of segments
 * sorted by generated position (it is written in that order; we sort
 * anyway, since a hostile map need not be).  Lookups are binary searches
 * (generated -> original) or a scan of one source's segments (original ->
 * generated, rare: setting a breakpoint).  Indexed maps ("sections") are
 * not supported.  Everything is 0-based, as in the map and in CDP.
 */
#ifndef KDAP_ADAPTER_SRCMAP_H
#define KDAP_ADAPTER_SRCMAP_H

#include <stddef.h>

#include "../dap/err.h"

typedef struct adapter_srcmap adapter_srcmap;

/* Parse a source map.  `map_path` is where it lives (a file path, or the
 * generated script's path for inline maps): relative sources resolve
 * against it.  Returns 0, or DAP_EINVAL with detail. */
int adapter_srcmap_parse(const char *json, size_t len, const char *map_path,
                         adapter_srcmap **out, struct dap_error *err) DAP_WUR;
void adapter_srcmap_free(adapter_srcmap *m);

size_t adapter_srcmap_source_count(const adapter_srcmap *m);
/* sources[i] with sourceRoot applied and resolved to an absolute path
 * when it is relative or file://; other URLs (webpack://...) as written.
 * Borrowed. */
const char *adapter_srcmap_source(const adapter_srcmap *m, size_t i);
/* Index of the source named `path`, or -1. */
int adapter_srcmap_find_source(const adapter_srcmap *m, const char *path);
/* Replace source i's name (sourceMapPathOverrides); copied. */
int adapter_srcmap_set_source(adapter_srcmap *m, size_t i, const char *path);

/* Generated (line, column) -> original.  Returns 0, or -1 when that line
 * has no mapping at or before the column (then the first mapping of the
 * line is used if any, else -1). */
int adapter_srcmap_original(const adapter_srcmap *m, int gline, int gcol,
                            int *src, int *line, int *col);
/* Original (source, line) -> the first generated position of that line, or
 * of the next mapped line within `slack` lines (*line_out says which
 * original line it was).  Returns 0 or -1. */
int adapter_srcmap_generated(const adapter_srcmap *m, int src, int line,
                             int slack, int *gline, int *gcol, int *line_out);

/* The JSON inside a "data:application/json;base64,..." (or ;charset=...)
 * URL.  Returns 0 with a malloc'd, NUL-terminated *out, or -1. */
int adapter_srcmap_data_url(const char *url, char **out, size_t *len);

#endif
