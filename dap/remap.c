/* remap.c - id and path translation between the editor and the backends.
 *
 * DAP names its ids by key, consistently across the whole protocol:
 * "threadId", "frameId", "variablesReference", "sourceReference", and "id"
 * inside "threads", "stackFrames" and "breakpoint(s)"; a "path" is a file
 * path exactly when it sits in a Source object (under "source"/"sources").
 * So one walker per direction handles every request, response and event,
 * and a new command needs no rewrite hook unless it breaks that pattern.
 */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "session_int.h"

static int is_source_key(const char *k)
{
    return k != NULL && (strcmp(k, "source") == 0 || strcmp(k, "sources") == 0);
}

static int is_line_key(const char *k)
{
    return strcmp(k, "line") == 0 || strcmp(k, "endLine") == 0;
}

static int is_col_key(const char *k)
{
    return strcmp(k, "column") == 0 || strcmp(k, "endColumn") == 0;
}

static int set_int(json_t *obj, const char *key, json_int_t v)
{
    return json_object_set_new(obj, key, json_integer(v)) == 0 ? 0
                                                               : DAP_ENOMEM;
}

/* Backend id -> editor id in table m (allocating).  0 stays 0 where 0
 * means "none" (variablesReference, sourceReference). */
static int to_local(dap_idmap *m, struct dap_service *svc, json_t *obj,
                    const char *key, json_t *v, int zero_is_none)
{
    json_int_t r = json_integer_value(v);
    int32_t local;
    int rc;

    if (zero_is_none && r == 0)
        return 0;
    rc = dap_idmap_add(m, svc->id, r, &local);
    if (rc < 0)
        return rc;
    return set_int(obj, key, local);
}

static int walk_client(dap_session *s, struct dap_service *svc, json_t *j,
                       const char *parent)
{
    const char *key;
    json_t *v;
    void *tmp;
    size_t i;
    int rc = 0;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            rc = walk_client(s, svc, v, parent);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(j))
        return 0;
    json_object_foreach_safe(j, tmp, key, v)
    {
        if (json_is_integer(v)) {
            if (strcmp(key, "threadId") == 0)
                rc = to_local(&s->threads, svc, j, key, v, 0);
            else if (strcmp(key, "frameId") == 0)
                rc = to_local(&s->frames, svc, j, key, v, 0);
            else if (strcmp(key, "variablesReference") == 0)
                rc = to_local(&s->vars, svc, j, key, v, 1);
            else if (strcmp(key, "sourceReference") == 0)
                rc = to_local(&s->sources, svc, j, key, v, 1);
            else if (strcmp(key, "id") == 0 && parent != NULL) {
                if (strcmp(parent, "threads") == 0)
                    rc = to_local(&s->threads, svc, j, key, v, 0);
                else if (strcmp(parent, "stackFrames") == 0)
                    rc = to_local(&s->frames, svc, j, key, v, 0);
                else if (strcmp(parent, "breakpoints") == 0 ||
                         strcmp(parent, "breakpoint") == 0)
                    rc = to_local(&s->bps, svc, j, key, v, 0);
            } else if (!s->lines_start_at_1 && is_line_key(key))
                rc = set_int(j, key, json_integer_value(v) - 1);
            else if (!s->columns_start_at_1 && is_col_key(key))
                rc = set_int(j, key, json_integer_value(v) - 1);
        } else if (json_is_string(v) && strcmp(key, "path") == 0 &&
                   is_source_key(parent)) {
            char *p = dap_pathmap_to_local(&svc->paths, json_string_value(v));
            dap__source_named(s, p != NULL ? p : json_string_value(v));
            if (p != NULL) {
                rc = json_object_set_new(j, key, json_string(p)) == 0
                         ? 0
                         : DAP_ENOMEM;
                free(p);
            }
        } else if (json_is_array(v) && strcmp(key, "hitBreakpointIds") == 0) {
            json_t *e;
            json_array_foreach(v, i, e)
            {
                int32_t local;
                if (!json_is_integer(e))
                    continue;
                rc = dap_idmap_add(&s->bps, svc->id, json_integer_value(e),
                                   &local);
                if (rc == 0)
                    json_array_set_new(v, i, json_integer(local));
                if (rc < 0)
                    break;
            }
        } else if (json_is_object(v) || json_is_array(v)) {
            rc = walk_client(s, svc, v, key);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

int dap__remap_to_client(dap_session *s, struct dap_service *svc, json_t *j)
{
    int rc = walk_client(s, svc, j, NULL);

    if (rc < 0)
        DAP_LOGE("remapping ids from service %s failed: %s", svc->name,
                 dap_strerror(rc));
    return rc;
}

/* Editor id -> backend id; the table names the service. */
static int to_remote(dap_session *s, dap_idmap *m, json_t *obj,
                     const char *key, json_t *v, struct dap_service **svc,
                     struct dap_error *err)
{
    int64_t local = json_integer_value(v);
    uint32_t backend;
    int64_t remote;
    struct dap_service *found;

    if (local <= 0 || local > INT32_MAX ||
        dap_idmap_get(m, (int32_t)local, &backend, &remote) < 0) {
        if (m == &s->frames || m == &s->vars)
            return dap_error_set(err, DAP_ESTALE,
                                 "%s %lld is not valid any more: the "
                                 "program ran since it was reported; "
                                 "request a fresh stack trace",
                                 key, (long long)local);
        return dap_error_set(err, DAP_ESTALE,
                             "%s %lld is unknown: use an id kdap reported",
                             key, (long long)local);
    }
    found = dap__service_by_id(s, backend);
    if (found == NULL || found->state == SVC_GONE)
        return dap_error_set(err, DAP_ESTALE,
                             "%s %lld belongs to a service that has ended",
                             key, (long long)local);
    if (*svc != NULL && *svc != found)
        return dap_error_set(err, DAP_EINVAL,
                             "the request mixes ids of services \"%s\" and "
                             "\"%s\"",
                             (*svc)->name, found->name);
    *svc = found;
    return set_int(obj, key, remote) < 0
               ? dap_error_set(err, DAP_ENOMEM, "out of memory")
               : 0;
}

static int walk_backend(dap_session *s, json_t *j, const char *parent,
                        struct dap_service **svc, struct dap_error *err)
{
    const char *key;
    json_t *v;
    void *tmp;
    size_t i;
    int rc = 0;

    (void)parent;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
        {
            rc = walk_backend(s, v, parent, svc, err);
            if (rc < 0)
                return rc;
        }
        return 0;
    }
    if (!json_is_object(j))
        return 0;
    json_object_foreach_safe(j, tmp, key, v)
    {
        if (json_is_integer(v)) {
            if (strcmp(key, "threadId") == 0)
                rc = to_remote(s, &s->threads, j, key, v, svc, err);
            else if (strcmp(key, "frameId") == 0)
                rc = to_remote(s, &s->frames, j, key, v, svc, err);
            else if (strcmp(key, "variablesReference") == 0 &&
                     json_integer_value(v) != 0)
                rc = to_remote(s, &s->vars, j, key, v, svc, err);
            else if (strcmp(key, "sourceReference") == 0 &&
                     json_integer_value(v) != 0)
                rc = to_remote(s, &s->sources, j, key, v, svc, err);
            else if (!s->lines_start_at_1 && is_line_key(key))
                rc = set_int(j, key, json_integer_value(v) + 1);
            else if (!s->columns_start_at_1 && is_col_key(key))
                rc = set_int(j, key, json_integer_value(v) + 1);
        } else if (json_is_object(v) || json_is_array(v)) {
            rc = walk_backend(s, v, key, svc, err);
        }
        if (rc < 0)
            return rc;
    }
    return 0;
}

void dap__source_to_backend(struct dap_service *svc, json_t *source)
{
    const char *path = json_string_value(json_object_get(source, "path"));
    char *p;

    if (path == NULL)
        return;
    p = dap_pathmap_to_remote(&svc->paths, path);
    if (p != NULL) {
        json_object_set_new(source, "path", json_string(p));
        free(p);
    }
}

/* Second pass, once the service is known: Source paths to the backend's. */
static void paths_walk(struct dap_service *svc, json_t *j, const char *parent)
{
    const char *key;
    json_t *v;
    size_t i;

    if (json_is_array(j)) {
        json_array_foreach(j, i, v) paths_walk(svc, v, parent);
        return;
    }
    if (!json_is_object(j))
        return;
    if (is_source_key(parent))
        dap__source_to_backend(svc, j);
    json_object_foreach(j, key, v)
    {
        if (json_is_object(v) || json_is_array(v))
            paths_walk(svc, v, key);
    }
}

int dap__remap_to_backend(dap_session *s, json_t *args,
                          struct dap_service **svc, struct dap_error *err)
{
    int rc;

    *svc = NULL;
    if (args == NULL)
        return 0;
    rc = walk_backend(s, args, NULL, svc, err);
    if (rc < 0)
        return rc;
    return 0;
}

void dap__paths_to_backend(struct dap_service *svc, json_t *args)
{
    if (args != NULL)
        paths_walk(svc, args, NULL);
}
