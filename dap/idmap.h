/* idmap.h - kdap's own ids for what backends number themselves.
 *
 * Every id the editor sees (threadId, frameId, variablesReference, breakpoint
 * id, sourceReference) is allocated here and maps to (backend, remote id).
 * Several backends number their objects independently (delve starts frame
 * handles at 1000 in every process), so passing their ids through would make
 * them collide as soon as a session holds two services.
 *
 * Design notes:
 * - Each table owns a range [lo, hi) inside (0, 2^31).  Allocation is
 *   round-robin, so an id freed by a reset is not handed out again soon and
 *   a stale id held by the editor fails lookup instead of naming a new
 *   object.
 * - Entries live in a dense array; two open-addressing indexes point into
 *   it, one by local id, one by (backend, remote).  Adding a pair that is
 *   already mapped returns the existing local id, so a thread keeps one id
 *   and repeated scopes requests do not grow the table.
 * - Removal only happens in bulk (all entries of a backend, or everything:
 *   stop-scoped ids die when their backend resumes), so the indexes are
 *   simply rebuilt then; no tombstones.
 */
#ifndef KDAP_IDMAP_H
#define KDAP_IDMAP_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

#define DAP_ID_MAX_ENTRIES (1u << 22)

struct dap_idmap_ent {
    int32_t local;
    uint32_t backend;
    int64_t remote;
};

typedef struct dap_idmap {
    const char *name;            /* for logs: "frame", "thread", ... */
    int32_t lo;                  /* first id of the range */
    int32_t hi;                  /* one past the last id */
    int32_t next;                /* next candidate local id */
    struct dap_idmap_ent *ents;  /* dense entries */
    size_t count;                /* entries in use */
    size_t alloc;                /* entries allocated */
    uint32_t *by_local;          /* index: entry+1, 0 = empty */
    uint32_t *by_remote;         /* index: entry+1, 0 = empty */
    size_t mask;                 /* index size - 1 (power of two) */
} dap_idmap;

void dap_idmap_init(dap_idmap *m, const char *name, int32_t lo, int32_t hi);
void dap_idmap_cleanup(dap_idmap *m);

/* Map (backend, remote) to a local id, allocating one unless the pair is
 * already mapped.  Returns 0 or DAP_ENOMEM. */
int dap_idmap_add(dap_idmap *m, uint32_t backend, int64_t remote,
                  int32_t *local) DAP_WUR;
/* Map one more (backend, remote) pair to an existing local id: one kdap
 * breakpoint set in a file two services share is two backend breakpoints.
 * Lookups by local id return the first pair.  Returns 0 or DAP_ENOMEM. */
int dap_idmap_alias(dap_idmap *m, uint32_t backend, int64_t remote,
                    int32_t local) DAP_WUR;
/* Look up a local id.  Returns 0 or DAP_ESTALE. */
int dap_idmap_get(const dap_idmap *m, int32_t local, uint32_t *backend,
                  int64_t *remote) DAP_WUR;
/* Reverse lookup.  Returns 0 or DAP_ESTALE. */
int dap_idmap_find(const dap_idmap *m, uint32_t backend, int64_t remote,
                   int32_t *local) DAP_WUR;
/* Forget every entry of `backend`. */
void dap_idmap_clear_backend(dap_idmap *m, uint32_t backend);
/* Forget everything (ids are still not reused soon). */
void dap_idmap_clear(dap_idmap *m);

#endif
