/* idmap.c - see idmap.h. */
#include "idmap.h"

#include <stdlib.h>
#include <string.h>

static uint64_t mix(uint64_t x)
{
    /* splitmix64 finaliser: cheap and good enough for small integer keys. */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

static uint64_t hash_local(int32_t local)
{
    return mix((uint64_t)(uint32_t)local);
}

static uint64_t hash_remote(uint32_t backend, int64_t remote)
{
    return mix((uint64_t)remote ^ mix(backend + 0x9e3779b97f4a7c15ULL));
}

void dap_idmap_init(dap_idmap *m, const char *name, int32_t lo, int32_t hi)
{
    memset(m, 0, sizeof(*m));
    m->name = name;
    m->lo = lo;
    m->hi = hi;
    m->next = lo;
}

void dap_idmap_cleanup(dap_idmap *m)
{
    free(m->ents);
    free(m->by_local);
    free(m->by_remote);
    m->ents = NULL;
    m->by_local = NULL;
    m->by_remote = NULL;
    m->count = 0;
    m->alloc = 0;
    m->mask = 0;
}

static size_t slot_local(const dap_idmap *m, int32_t local)
{
    size_t i = (size_t)hash_local(local) & m->mask;

    while (m->by_local[i] != 0 && m->ents[m->by_local[i] - 1].local != local)
        i = (i + 1) & m->mask;
    return i;
}

static size_t slot_remote(const dap_idmap *m, uint32_t backend,
                          int64_t remote)
{
    size_t i = (size_t)hash_remote(backend, remote) & m->mask;

    while (m->by_remote[i] != 0) {
        const struct dap_idmap_ent *e = &m->ents[m->by_remote[i] - 1];
        if (e->backend == backend && e->remote == remote)
            break;
        i = (i + 1) & m->mask;
    }
    return i;
}

/* Rebuild both indexes with `size` slots (a power of two > 2 * count). */
static int reindex(dap_idmap *m, size_t size)
{
    uint32_t *bl = calloc(size, sizeof(*bl));
    uint32_t *br = calloc(size, sizeof(*br));

    if (bl == NULL || br == NULL) {
        free(bl);
        free(br);
        return DAP_ENOMEM;
    }
    free(m->by_local);
    free(m->by_remote);
    m->by_local = bl;
    m->by_remote = br;
    m->mask = size - 1;
    for (size_t k = 0; k < m->count; k++) {
        const struct dap_idmap_ent *e = &m->ents[k];
        m->by_local[slot_local(m, e->local)] = (uint32_t)k + 1;
        m->by_remote[slot_remote(m, e->backend, e->remote)] = (uint32_t)k + 1;
    }
    return 0;
}

int dap_idmap_find(const dap_idmap *m, uint32_t backend, int64_t remote,
                   int32_t *local)
{
    size_t i;

    if (m->count == 0)
        return DAP_ESTALE;
    i = slot_remote(m, backend, remote);
    if (m->by_remote[i] == 0)
        return DAP_ESTALE;
    *local = m->ents[m->by_remote[i] - 1].local;
    return 0;
}

int dap_idmap_get(const dap_idmap *m, int32_t local, uint32_t *backend,
                  int64_t *remote)
{
    size_t i;

    if (m->count == 0 || local < m->lo || local >= m->hi)
        return DAP_ESTALE;
    i = slot_local(m, local);
    if (m->by_local[i] == 0)
        return DAP_ESTALE;
    if (backend != NULL)
        *backend = m->ents[m->by_local[i] - 1].backend;
    if (remote != NULL)
        *remote = m->ents[m->by_local[i] - 1].remote;
    return 0;
}

/* Make room for one more entry. */
static int reserve(dap_idmap *m)
{
    int rc;

    if (m->count >= DAP_ID_MAX_ENTRIES ||
        m->count >= (size_t)(m->hi - m->lo))
        return DAP_ENOMEM;
    if (m->count == m->alloc) {
        size_t n = m->alloc ? m->alloc * 2 : 64;
        struct dap_idmap_ent *p = realloc(m->ents, n * sizeof(*p));
        if (p == NULL)
            return DAP_ENOMEM;
        m->ents = p;
        m->alloc = n;
    }
    if (m->mask == 0 || (m->count + 1) * 2 > m->mask + 1) {
        rc = reindex(m, m->mask ? (m->mask + 1) * 2 : 128);
        if (rc < 0)
            return rc;
    }
    return 0;
}

static void insert(dap_idmap *m, uint32_t backend, int64_t remote,
                   int32_t local)
{
    struct dap_idmap_ent *e = &m->ents[m->count++];
    size_t i;

    e->local = local;
    e->backend = backend;
    e->remote = remote;
    i = slot_local(m, local);
    if (m->by_local[i] == 0)
        m->by_local[i] = (uint32_t)m->count;
    m->by_remote[slot_remote(m, backend, remote)] = (uint32_t)m->count;
}

int dap_idmap_alias(dap_idmap *m, uint32_t backend, int64_t remote,
                    int32_t local)
{
    int32_t cur;
    int rc;

    if (dap_idmap_find(m, backend, remote, &cur) == 0 && cur == local)
        return 0;
    rc = reserve(m);
    if (rc < 0)
        return rc;
    insert(m, backend, remote, local);
    return 0;
}

int dap_idmap_add(dap_idmap *m, uint32_t backend, int64_t remote,
                  int32_t *local)
{
    int32_t id;
    int rc;

    if (dap_idmap_find(m, backend, remote, local) == 0)
        return 0;
    rc = reserve(m);
    if (rc < 0)
        return rc;
    /* Round-robin: skip ids still in use (rare: only after a wrap). */
    for (;;) {
        id = m->next;
        m->next = m->next + 1 >= m->hi ? m->lo : m->next + 1;
        if (m->by_local[slot_local(m, id)] == 0)
            break;
    }
    insert(m, backend, remote, id);
    *local = id;
    return 0;
}

void dap_idmap_clear_backend(dap_idmap *m, uint32_t backend)
{
    size_t w = 0;

    for (size_t r = 0; r < m->count; r++) {
        if (m->ents[r].backend != backend)
            m->ents[w++] = m->ents[r];
    }
    if (w == m->count)
        return;
    m->count = w;
    /* Same size: cannot fail for lack of a bigger table, but calloc can. */
    if (m->mask != 0 && reindex(m, m->mask + 1) < 0)
        dap_idmap_clear(m); /* degrade to "everything stale", not garbage */
}

void dap_idmap_clear(dap_idmap *m)
{
    m->count = 0;
    if (m->mask != 0) {
        memset(m->by_local, 0, (m->mask + 1) * sizeof(uint32_t));
        memset(m->by_remote, 0, (m->mask + 1) * sizeof(uint32_t));
    }
}
