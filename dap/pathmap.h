/* pathmap.h - map source paths between the editor's files and the paths the
 * debuggee's binary recorded (inside the image).
 *
 * Rules come from a service's `substitutePath` ([{from: local, to: remote}],
 * as vscode-go names it) followed by `localRoot`/`remoteRoot`.  The first
 * rule whose prefix matches on a path-component boundary wins, in either
 * direction.  A service with no rules maps every path to itself.
 */
#ifndef KDAP_PATHMAP_H
#define KDAP_PATHMAP_H

#include <jansson.h>
#include <stddef.h>

#include "err.h"

struct dap_pathrule {
    char *local;
    char *remote;
};

typedef struct dap_pathmap {
    struct dap_pathrule *rules;
    size_t n;
} dap_pathmap;

/* Read the rules from a service object (`cfg` borrowed).  Returns 0 or
 * DAP_ECONFIG naming the bad key. */
int dap_pathmap_init(dap_pathmap *pm, json_t *cfg, struct dap_error *err)
    DAP_WUR;
void dap_pathmap_cleanup(dap_pathmap *pm);
/* Add one rule at the end (used when a root is inferred). */
int dap_pathmap_add(dap_pathmap *pm, const char *local, const char *remote)
    DAP_WUR;

/* Map a path; returns a new string (caller frees), or NULL when no rule
 * applies (the path is used unchanged). */
char *dap_pathmap_to_remote(const dap_pathmap *pm, const char *local);
char *dap_pathmap_to_local(const dap_pathmap *pm, const char *remote);
/* Does a rule apply to this local path (or are there no rules at all)? */
int dap_pathmap_owns(const dap_pathmap *pm, const char *local);

/* ---- inferring remoteRoot ----------------------------------------------
 * When a service names localRoot but not remoteRoot, the backend asks its
 * debugger which source files the binary recorded, for a few files that
 * exist under localRoot, and the common prefix the recorded paths put in
 * front of the local relative paths is the remote root. */

/* Up to `max` paths of files under `root` whose names end with `suffix`,
 * relative to root (caller frees each and the array).  Walks at most a few
 * thousand entries, skipping hidden and vendor-like directories.  Returns
 * the count (0 when nothing was found or root is unreadable). */
size_t dap_pathmap_sample(const char *root, const char *suffix, size_t max,
                          char ***out);
/* If `remote` is some ROOT followed by "/" and `rel`, a new copy of ROOT
 * (which may be empty for a relative recorded path), else NULL. */
char *dap_pathmap_root_of(const char *rel, const char *remote);

#endif
