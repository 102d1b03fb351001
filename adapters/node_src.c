/* node_src.c - the node backend's scripts: what Debugger.scriptParsed
 * reports, their source maps (read through the debuggee), and the
 * loadedSources and source requests. */
#include "node_int.h"

/* ---- scripts ----------------------------------------------------------- */

struct script *node__script_by_id(struct node *n, const char *id)
{
    json_t *ix = json_object_get(n->script_index, id ? id : "");

    if (!json_is_integer(ix))
        return NULL;
    return n->scripts[json_integer_value(ix)];
}

static struct script *script_by_ref(struct node *n, int64_t ref)
{
    if (ref <= 0 || (size_t)ref > n->nscripts)
        return NULL;
    return n->scripts[ref - 1];
}

/* A DAP Source for a script position; line and column in and out (CDP 0-based
 * in, DAP 1-based out), mapped through the source map if any. */
json_t *node__locate(struct node *n, const char *script_id, int *line,
                     int *col)
{
    struct script *s = node__script_by_id(n, script_id);
    json_t *src;

    if (s == NULL) {
        (*line)++;
        (*col)++;
        return json_pack("{s:s}", "name", "unknown");
    }
    if (s->map != NULL) {
        int si, ol, oc;
        if (adapter_srcmap_original(s->map, *line, *col, &si, &ol, &oc) == 0) {
            const char *p = adapter_srcmap_source(s->map, (size_t)si);
            *line = ol + 1;
            *col = oc + 1;
            if (p != NULL && p[0] == '/')
                return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(p),
                                 "path", p);
        } else {
            (*line)++;
            (*col)++;
        }
    } else {
        (*line)++;
        (*col)++;
    }
    if (s->path != NULL)
        return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(s->path),
                         "path", s->path);
    src = json_pack("{s:s, s:I}", "name", s->url[0] ? s->url : "eval",
                    "sourceReference", (json_int_t)s->ref);
    if (s->internal)
        json_object_set_new(src, "presentationHint",
                            json_string("deemphasize"));
    return src;
}

static json_t *script_source(struct script *s)
{
    if (s->path != NULL)
        return json_pack("{s:s, s:s}", "name", adapter_cdp_basename(s->path),
                         "path", s->path);
    return json_pack("{s:s, s:I}", "name", s->url, "sourceReference",
                     (json_int_t)s->ref);
}

/* Apply sourceMapPathOverrides ("PREFIX*SUFFIX" -> "TO*") to every
 * source of a map. */
static void apply_overrides(struct node *n, adapter_srcmap *m)
{
    const char *pat;
    json_t *to;

    if (n->overrides == NULL)
        return;
    for (size_t i = 0; i < adapter_srcmap_source_count(m); i++) {
        const char *src = adapter_srcmap_source(m, i);
        json_object_foreach(n->overrides, pat, to)
        {
            const char *star = strchr(pat, '*');
            const char *t = json_string_value(to);
            size_t pl, sl, len = strlen(src);
            char *out;
            if (t == NULL)
                continue;
            if (star == NULL) {
                if (strcmp(pat, src) == 0)
                    (void)adapter_srcmap_set_source(m, i, t);
                continue;
            }
            pl = (size_t)(star - pat);
            sl = strlen(star + 1);
            if (len < pl + sl || strncmp(src, pat, pl) != 0 ||
                strcmp(src + len - sl, star + 1) != 0)
                continue;
            out = malloc(strlen(t) + len + 1);
            if (out == NULL)
                continue;
            {
                const char *ts = strchr(t, '*');
                if (ts == NULL)
                    snprintf(out, strlen(t) + len + 1, "%s", t);
                else
                    snprintf(out, strlen(t) + len + 1, "%.*s%.*s%s",
                             (int)(ts - t), t, (int)(len - pl - sl), src + pl,
                             ts + 1);
            }
            (void)adapter_srcmap_set_source(m, i, out);
            free(out);
            break;
        }
    }
}

/* Emit an event; `body_new` is stolen. */
void node__emit(struct node *n, const char *event, json_t *body_new)
{
    adapter__event(n->a, event, body_new);
    json_decref(body_new);
}

static void install_map(struct node *n, struct script *s, const char *json,
                        size_t len, const char *map_path)
{
    struct dap_error err;

    if (adapter_srcmap_parse(json, len, map_path, &s->map, &err) < 0) {
        DAP_LOGW("node: source map of %s: %s", s->url, err.msg);
        return;
    }
    apply_overrides(n, s->map);
    DAP_LOGI("node: source map for %s (%zu sources)", s->url,
             adapter_srcmap_source_count(s->map));
    node__retry_pending_bps(n);
}

struct mapload {
    struct node *n;
    size_t script; /* index */
    char *map_path;
};

static void on_map_read(struct node *n, void *data, json_t *result,
                        const char *error)
{
    struct mapload *ml = data;
    json_t *ro = json_object_get(result, "result");
    const char *text = json_string_value(json_object_get(ro, "value"));

    n->maps_loading--;
    if (error == NULL && text != NULL &&
        json_object_get(result, "exceptionDetails") == NULL &&
        ml->script < n->nscripts)
        install_map(n, n->scripts[ml->script], text, strlen(text),
                    ml->map_path);
    else if (error == NULL)
        DAP_LOGW("node: cannot read source map %s", ml->map_path);
    free(ml->map_path);
    free(ml);
    node__maybe_ready(n);
}

/* Load the source map of script `ix`: inline data: URLs here, files
 * through the debuggee itself (fs.readFileSync), which also works when the
 * files are only inside a container. */
static void load_map(struct node *n, size_t ix, const char *map_url)
{
    struct script *s = n->scripts[ix];
    struct mapload *ml;
    char *json = NULL;
    size_t len = 0;
    char *map_path;
    json_t *q;
    char *expr;
    char *qs;

    if (strncmp(map_url, "data:", 5) == 0) {
        if (adapter_srcmap_data_url(map_url, &json, &len) == 0)
            install_map(n, s, json, len, s->path);
        free(json);
        return;
    }
    if (s->path == NULL)
        return;
    if (strncmp(map_url, "file://", 7) == 0) {
        map_path = adapter_cdp_url_to_path(map_url);
    } else if (strstr(map_url, "://") != NULL) {
        return;
    } else {
        map_path = adapter_cdp_path_resolve(s->path, map_url);
    }
    if (map_path == NULL)
        return;
    q = json_string(map_path);
    qs = json_dumps(q, JSON_ENCODE_ANY);
    json_decref(q);
    expr = malloc(strlen(qs ? qs : "") * 2 + 300);
    ml = calloc(1, sizeof(*ml));
    if (qs == NULL || expr == NULL || ml == NULL) {
        free(qs);
        free(expr);
        free(ml);
        free(map_path);
        return;
    }
    sprintf(expr,
            "(() => { let r; try { r = require; } catch (e) { r = "
            "process.mainModule.require; } return r('fs').readFileSync(%s, "
            "'utf8'); })()",
            qs);
    free(qs);
    ml->n = n;
    ml->script = ix;
    ml->map_path = map_path;
    n->maps_loading++;
    if (node__cdp(n, "Runtime.evaluate",
                  json_pack("{s:s, s:b, s:b, s:b}", "expression", expr,
                            "includeCommandLineAPI", 1, "silent", 1, "returnByValue",
                            1),
                  on_map_read, ml) < 0) {
        n->maps_loading--;
        free(ml->map_path);
        free(ml);
    }
    free(expr);
}

void node__on_script_parsed(struct node *n, json_t *p)
{
    const char *id = json_string_value(json_object_get(p, "scriptId"));
    const char *url = json_string_value(json_object_get(p, "url"));
    const char *map_url = json_string_value(json_object_get(p, "sourceMapURL"));
    struct script *s;
    struct script **arr;

    if (id == NULL || json_object_get(n->script_index, id) != NULL)
        return;
    arr = realloc(n->scripts, (n->nscripts + 1) * sizeof(*arr));
    s = calloc(1, sizeof(*s));
    if (arr == NULL || s == NULL) {
        free(s);
        if (arr != NULL)
            n->scripts = arr;
        return;
    }
    n->scripts = arr;
    s->id = strdup(id);
    s->url = strdup(url != NULL ? url : "");
    s->path = adapter_cdp_url_to_path(url);
    s->internal = url != NULL && strncmp(url, "node:", 5) == 0;
    s->ref = (int64_t)n->nscripts + 1;
    n->scripts[n->nscripts] = s;
    json_object_set_new(n->script_index, id,
                        json_integer((json_int_t)n->nscripts));
    n->nscripts++;
    if (n->source_maps && map_url != NULL && map_url[0] != '\0' &&
        !s->internal &&
        (s->path == NULL || strstr(s->path, "/node_modules/") == NULL))
        load_map(n, n->nscripts - 1, map_url);
    if (n->state == N_READY && s->url[0] != '\0' && !s->internal)
        node__emit(n, "loadedSource",
                   json_pack("{s:s, s:o}", "reason", "new", "source",
                             script_source(s)));
}

void node__req_loaded_sources(struct dreq *r)
{
    struct node *n = r->n;
    json_t *out = json_array();

    for (size_t i = 0; i < n->nscripts; i++) {
        struct script *s = n->scripts[i];
        if (s->url[0] == '\0')
            continue;
        json_array_append_new(out, script_source(s));
    }
    node__dreq_ok(r, json_pack("{s:o}", "sources", out));
}

static void on_script_source(struct node *n, void *data, json_t *result,
                             const char *error)
{
    struct dreq *r = data;
    const char *src =
        json_string_value(json_object_get(result, "scriptSource"));

    (void)n;
    if (error != NULL || src == NULL) {
        node__dreq_fail(r, node__call_status(n), "%s", error ? error : "no source");
        return;
    }
    node__dreq_ok(r, json_pack("{s:s, s:s}", "content", src, "mimeType",
                               "text/javascript"));
}

void node__req_source(struct dreq *r)
{
    struct node *n = r->n;
    int64_t ref =
        json_integer_value(json_object_get(r->x.args, "sourceReference"));
    struct script *s;

    if (ref <= 0)
        ref = json_integer_value(json_object_get(
            json_object_get(r->x.args, "source"), "sourceReference"));
    s = script_by_ref(n, ref);
    if (s == NULL) {
        node__dreq_fail(r, DAP_ESTALE, "unknown sourceReference %lld", (long long)ref);
        return;
    }
    node__rcall(r, "Debugger.getScriptSource", json_pack("{s:s}", "scriptId", s->id),
                on_script_source);
}

