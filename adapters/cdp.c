/* cdp.c - see cdp.h.  Pure translation of CDP messages to DAP bodies. */
#include "cdp.h"
#include "xlate.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/buf.h"
#include "../dap/utf8.h"

#define TEXT_MAX (4u << 20)

static const char *str_of(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

/* ---- messages ---------------------------------------------------------- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && isspace((unsigned char)*p))
        p++;
    return p;
}

/* The id of a reply that starts as the inspector writes them,
 * `{"id":N,...`, or -1: so that a reply kdap cannot parse still fails the
 * call it answers. */
static int64_t leading_id(const char *buf, size_t len)
{
    const char *end = buf + len;
    const char *p = skip_ws(buf, end);
    int64_t id = 0;

    if (p == end || *p != '{')
        return -1;
    p = skip_ws(p + 1, end);
    if (end - p < 5 || memcmp(p, "\"id\"", 4) != 0)
        return -1;
    p = skip_ws(p + 4, end);
    if (p == end || *p != ':')
        return -1;
    p = skip_ws(p + 1, end);
    if (p == end || !isdigit((unsigned char)*p))
        return -1;
    while (p < end && isdigit((unsigned char)*p) && id < INT64_MAX / 10 - 9)
        id = id * 10 + (*p++ - '0');
    return p < end && (*p == ',' || *p == '}' || isspace((unsigned char)*p))
               ? id
               : -1;
}

int adapter_cdp_parse(const char *buf, size_t len, json_t **root,
                      struct adapter_cdp_msg *m)
{
    json_t *j = json_loadb(buf, len, JSON_ALLOW_NUL, NULL);
    json_t *id;
    json_t *err;

    memset(m, 0, sizeof(*m));
    *root = NULL;
    if (j == NULL) {
        /* Mostly a string with a lone surrogate half, which JavaScript
         * allows and JSON parsers refuse: repaired, it parses. */
        size_t n;
        char *fixed = dap_utf8_json_repair(buf, len, &n);
        if (fixed != NULL)
            j = json_loadb(fixed, n, JSON_ALLOW_NUL, NULL);
        free(fixed);
    }
    if (j == NULL) {
        int64_t rid = leading_id(buf, len);
        if (rid >= 0) {
            m->kind = ADAPTER_CDP_RESPONSE;
            m->id = rid;
            m->error = "the inspector's answer is not valid JSON (see "
                       "kdap's debug log)";
        }
        return -1;
    }
    if (!json_is_object(j))
        goto fail;
    id = json_object_get(j, "id");
    if (json_is_integer(id)) {
        m->kind = ADAPTER_CDP_RESPONSE;
        m->id = json_integer_value(id);
        err = json_object_get(j, "error");
        if (err != NULL) {
            m->error = str_of(err, "message");
            if (m->error == NULL)
                m->error = "the inspector reported an error";
        } else {
            m->result = json_object_get(j, "result");
            if (!json_is_object(m->result)) {
                /* A result must be an object; an empty one will do. */
                json_object_set_new(j, "result", json_object());
                m->result = json_object_get(j, "result");
            }
        }
        *root = j;
        return 0;
    }
    m->method = str_of(j, "method");
    if (m->method == NULL)
        goto fail;
    m->kind = ADAPTER_CDP_EVENT;
    m->params = json_object_get(j, "params");
    if (!json_is_object(m->params)) {
        json_object_set_new(j, "params", json_object());
        m->params = json_object_get(j, "params");
    }
    *root = j;
    return 0;
fail:
    json_decref(j);
    memset(m, 0, sizeof(*m));
    return -1;
}

char *adapter_cdp_request_dump(int64_t id, const char *method, json_t *params)
{
    json_t *j =
        json_pack("{s:I, s:s, s:O}", "id", (json_int_t)id, "method", method,
                  "params", params != NULL ? params : json_object());
    char *s;

    if (params == NULL && j != NULL)
        json_decref(json_object_get(j, "params")); /* the fresh {} above */
    if (j == NULL)
        return NULL;
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

/* ---- URLs and paths ---------------------------------------------------- */

static int hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c = tolower(c);
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

char *adapter_cdp_url_to_path(const char *url)
{
    const char *p;
    char *out;
    size_t o = 0;

    if (url == NULL)
        return NULL;
    if (url[0] == '/')
        return strdup(url);
    if (strncmp(url, "file://", 7) != 0)
        return NULL;
    p = url + 7;
    /* file://localhost/x and file:///x; other hosts are not ours. */
    if (strncmp(p, "localhost/", 10) == 0)
        p += 9;
    if (p[0] != '/')
        return NULL;
    out = malloc(strlen(p) + 1);
    if (out == NULL)
        return NULL;
    for (; *p != '\0' && *p != '?' && *p != '#'; p++) {
        int h, l;
        if (*p == '%' && (h = hexval((unsigned char)p[1])) >= 0 &&
            (l = hexval((unsigned char)p[2])) >= 0 && (h || l)) {
            out[o++] = (char)(h * 16 + l);
            p += 2;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
    return out;
}

/* Characters a file URL keeps as they are. */
static int url_plain(unsigned char c)
{
    return isalnum(c) || strchr("/-._~!$&'()*+,;=:@", c) != NULL;
}

char *adapter_cdp_path_to_url(const char *path)
{
    dap_buf b;

    if (path == NULL)
        return NULL;
    dap_buf_init(&b, TEXT_MAX);
    if (dap_buf_append(&b, "file://", 7) < 0)
        goto fail;
    for (const unsigned char *p = (const unsigned char *)path; *p; p++) {
        int rc = url_plain(*p) ? dap_buf_append(&b, p, 1)
                               : dap_buf_printf(&b, "%%%02X", *p);
        if (rc < 0)
            goto fail;
    }
    return dap_buf_take(&b, NULL);
fail:
    dap_buf_cleanup(&b);
    return NULL;
}

char *adapter_cdp_url_regex(const char *path)
{
    dap_buf b;
    int rc;

    if (path == NULL)
        return NULL;
    dap_buf_init(&b, TEXT_MAX);
    rc = dap_buf_append(&b, "^(?:file://)?", 13);
    for (const unsigned char *p = (const unsigned char *)path; *p && rc == 0;
         p++) {
        if (!url_plain(*p))
            /* Either the raw byte or its percent-encoding (both cases). */
            rc = dap_buf_printf(&b, "(?:%s%c|%%%02X|%%%02x)",
                                strchr("\\^$.|?*+()[]{}", *p) ? "\\" : "", *p,
                                *p, *p);
        else if (strchr("\\^$.|?*+()[]{}", *p) != NULL)
            rc = dap_buf_printf(&b, "\\%c", *p);
        else
            rc = dap_buf_append(&b, p, 1);
    }
    if (rc == 0)
        rc = dap_buf_append(&b, "$", 1);
    if (rc < 0) {
        dap_buf_cleanup(&b);
        return NULL;
    }
    return dap_buf_take(&b, NULL);
}

char *adapter_cdp_path_resolve(const char *base, const char *rel)
{
    size_t n = (base ? strlen(base) : 0) + (rel ? strlen(rel) : 0) + 3;
    char *joined;
    char *out;
    char **seg;
    size_t nseg = 0;
    char *save = NULL;
    char *tok;
    size_t o = 0;

    if (rel == NULL)
        return NULL;
    joined = malloc(n);
    seg = calloc(n, sizeof(char *));
    out = malloc(n);
    if (joined == NULL || seg == NULL || out == NULL) {
        free(joined);
        free(seg);
        free(out);
        return NULL;
    }
    if (rel[0] == '/' || base == NULL) {
        snprintf(joined, n, "%s", rel);
    } else {
        const char *slash = strrchr(base, '/');
        size_t dl = slash != NULL ? (size_t)(slash - base) : 0;
        snprintf(joined, n, "%.*s/%s", (int)dl, base, rel);
    }
    for (tok = strtok_r(joined, "/", &save); tok != NULL;
         tok = strtok_r(NULL, "/", &save)) {
        if (strcmp(tok, ".") == 0)
            continue;
        if (strcmp(tok, "..") == 0) {
            if (nseg > 0)
                nseg--;
            continue;
        }
        seg[nseg++] = tok;
    }
    if (nseg == 0)
        out[o++] = '/';
    for (size_t i = 0; i < nseg; i++) {
        size_t l = strlen(seg[i]);
        out[o++] = '/';
        memcpy(out + o, seg[i], l);
        o += l;
    }
    out[o] = '\0';
    free(joined);
    free(seg);
    return out;
}

const char *adapter_cdp_basename(const char *url)
{
    const char *s;

    if (url == NULL)
        return "";
    s = strrchr(url, '/');
    if (s != NULL && s[1] != '\0')
        return s + 1;
    return url;
}

/* ---- values ------------------------------------------------------------ */

static int append_quoted(dap_buf *b, const char *s)
{
    int rc = dap_buf_append(b, "'", 1);

    for (; s != NULL && *s && rc == 0; s++) {
        switch (*s) {
        case '\\':
            rc = dap_buf_append(b, "\\\\", 2);
            break;
        case '\'':
            rc = dap_buf_append(b, "\\'", 2);
            break;
        case '\n':
            rc = dap_buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = dap_buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = dap_buf_append(b, "\\t", 2);
            break;
        default:
            rc = dap_buf_append(b, s, 1);
        }
    }
    if (rc == 0)
        rc = dap_buf_append(b, "'", 1);
    return rc;
}

/* "function handle(req, res) {...}" -> "ƒ handle(req, res)". */
static int append_function(dap_buf *b, const char *desc, const char *cls)
{
    const char *p = desc;
    size_t n;

    if (p == NULL)
        return dap_buf_printf(b, "ƒ %s", cls ? cls : "");
    if (strncmp(p, "class ", 6) == 0) {
        n = strcspn(p, "{\n");
        while (n > 0 && p[n - 1] == ' ')
            n--;
        return dap_buf_append(b, p, n);
    }
    if (strncmp(p, "async ", 6) == 0)
        p += 6;
    if (strncmp(p, "function", 8) == 0) {
        p += 8;
        if (*p == '*')
            p++;
        while (*p == ' ')
            p++;
    }
    n = strcspn(p, "{\n");
    if (n > 0 && strstr(p, "=>") != NULL && (size_t)(strstr(p, "=>") - p) < n)
        n = (size_t)(strstr(p, "=>") - p);
    while (n > 0 && p[n - 1] == ' ')
        n--;
    if (n > 120)
        n = 120;
    if (dap_buf_append(b, "ƒ ", strlen("ƒ ")) < 0)
        return DAP_ENOMEM;
    return dap_buf_append(b, p, n);
}

static size_t first_line_len(const char *s)
{
    return strcspn(s, "\n");
}

/* One value of an ObjectPreview property. */
static int append_preview_value(dap_buf *b, json_t *p)
{
    const char *type = str_of(p, "type");
    const char *val = str_of(p, "value");

    if (type != NULL && strcmp(type, "string") == 0)
        return append_quoted(b, val);
    if (type != NULL && strcmp(type, "function") == 0)
        return dap_buf_append(b, "ƒ", strlen("ƒ"));
    if (val == NULL)
        val = type != NULL ? type : "?";
    return dap_buf_append(b, val, first_line_len(val));
}

static int append_preview(dap_buf *b, json_t *preview, const char *desc);

/* A Map/Set entry's key or value: an ObjectPreview of any type. */
static int append_entry_part(dap_buf *b, json_t *p)
{
    const char *type = str_of(p, "type");
    const char *desc = str_of(p, "description");

    if (type != NULL && strcmp(type, "string") == 0)
        return append_quoted(b, desc);
    if (type != NULL && strcmp(type, "object") == 0 &&
        json_is_array(json_object_get(p, "properties")) &&
        (str_of(p, "subtype") == NULL ||
         strcmp(str_of(p, "subtype"), "null") != 0))
        return append_preview(b, p, desc);
    desc = desc != NULL ? desc : (type != NULL ? type : "?");
    return dap_buf_append(b, desc, first_line_len(desc));
}

static int append_preview(dap_buf *b, json_t *preview, const char *desc)
{
    const char *subtype = str_of(preview, "subtype");
    json_t *props = json_object_get(preview, "properties");
    json_t *entries = json_object_get(preview, "entries");
    int array = subtype != NULL && (strcmp(subtype, "array") == 0 ||
                                    strcmp(subtype, "typedarray") == 0);
    int rc = 0;
    size_t i;
    json_t *p;

    if (array) {
        long nlen = -1;
        const char *lp = desc != NULL ? strchr(desc, '(') : NULL;
        if (lp != NULL)
            nlen = strtol(lp + 1, NULL, 10);
        if (nlen >= 0)
            rc = dap_buf_printf(b, "(%ld) [", nlen);
        else
            rc = dap_buf_append(b, "[", 1);
    } else if (json_is_array(entries)) {
        rc = dap_buf_printf(b, "%.*s {", (int)first_line_len(desc ? desc : ""),
                            desc ? desc : "");
    } else {
        if (desc != NULL && strcmp(desc, "Object") != 0)
            rc = dap_buf_printf(b, "%.*s ", (int)first_line_len(desc), desc);
        if (rc == 0)
            rc = dap_buf_append(b, "{", 1);
    }
    if (json_is_array(entries)) {
        json_array_foreach(entries, i, p)
        {
            json_t *k = json_object_get(p, "key");
            json_t *v = json_object_get(p, "value");
            if (rc == 0 && i > 0)
                rc = dap_buf_append(b, ", ", 2);
            if (rc == 0 && k != NULL) {
                rc = append_entry_part(b, k);
                if (rc == 0)
                    rc = dap_buf_append(b, " => ", 4);
            }
            if (rc == 0 && v != NULL)
                rc = append_entry_part(b, v);
        }
    } else {
        json_array_foreach(props, i, p)
        {
            const char *name = str_of(p, "name");
            if (rc == 0 && i > 0)
                rc = dap_buf_append(b, ", ", 2);
            if (rc == 0 && !array)
                rc = dap_buf_printf(b, "%s: ", name != NULL ? name : "?");
            if (rc == 0)
                rc = append_preview_value(b, p);
        }
    }
    if (rc == 0 && json_is_true(json_object_get(preview, "overflow")))
        rc = dap_buf_append(b, ", …", strlen(", …"));
    if (rc == 0)
        rc = dap_buf_append(b, array ? "]" : "}", 1);
    return rc;
}

static int append_value(dap_buf *b, json_t *ro, int quote)
{
    const char *type = str_of(ro, "type");
    const char *subtype = str_of(ro, "subtype");
    const char *desc = str_of(ro, "description");
    const char *unser = str_of(ro, "unserializableValue");
    json_t *value = json_object_get(ro, "value");
    json_t *preview = json_object_get(ro, "preview");

    if (type == NULL)
        return dap_buf_append(b, "?", 1);
    if (strcmp(type, "undefined") == 0)
        return dap_buf_append(b, "undefined", 9);
    if (strcmp(type, "string") == 0) {
        const char *s = json_string_value(value);
        if (!quote)
            return dap_buf_printf(b, "%s", s ? s : "");
        return append_quoted(b, s);
    }
    if (unser != NULL)
        return dap_buf_printf(b, "%s", unser);
    if (strcmp(type, "number") == 0 || strcmp(type, "boolean") == 0 ||
        strcmp(type, "bigint") == 0) {
        if (desc != NULL)
            return dap_buf_printf(b, "%s", desc);
        if (json_is_boolean(value))
            return dap_buf_printf(b, "%s",
                                  json_is_true(value) ? "true" : "false");
        if (json_is_integer(value))
            return dap_buf_printf(b, "%" JSON_INTEGER_FORMAT,
                                  json_integer_value(value));
        if (json_is_real(value))
            return dap_buf_printf(b, "%.17g", json_real_value(value));
        return dap_buf_append(b, type, strlen(type));
    }
    if (strcmp(type, "symbol") == 0)
        return dap_buf_printf(b, "%s", desc ? desc : "Symbol()");
    if (strcmp(type, "function") == 0)
        return append_function(b, desc, str_of(ro, "className"));
    if (strcmp(type, "object") == 0) {
        if (subtype != NULL && strcmp(subtype, "null") == 0)
            return dap_buf_append(b, "null", 4);
        if (json_is_object(preview) &&
            (subtype == NULL || strcmp(subtype, "error") != 0))
            return append_preview(b, preview, desc);
        if (desc != NULL)
            return dap_buf_append(b, desc, first_line_len(desc));
        if (value != NULL) {
            char *s = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
            int rc = dap_buf_printf(b, "%s", s ? s : "?");
            free(s);
            return rc;
        }
        return dap_buf_printf(b, "%s",
                              str_of(ro, "className") ? str_of(ro, "className")
                                                      : "Object");
    }
    return dap_buf_printf(b, "%s", desc ? desc : type);
}

char *adapter_cdp_value_text(json_t *ro)
{
    dap_buf b;

    dap_buf_init(&b, TEXT_MAX);
    if (append_value(&b, ro, 1) < 0 || b.len == 0) {
        dap_buf_cleanup(&b);
        return strdup("?");
    }
    return dap_buf_take(&b, NULL);
}

const char *adapter_cdp_value_type(json_t *ro)
{
    const char *type = str_of(ro, "type");
    const char *subtype = str_of(ro, "subtype");
    const char *cls = str_of(ro, "className");

    if (type == NULL)
        return "";
    if (strcmp(type, "object") == 0) {
        if (subtype != NULL && strcmp(subtype, "null") == 0)
            return "null";
        if (cls != NULL)
            return cls;
        return subtype != NULL ? subtype : "object";
    }
    return type;
}

long adapter_cdp_array_length(json_t *ro)
{
    const char *desc = str_of(ro, "description");
    const char *subtype = str_of(ro, "subtype");
    const char *lp;
    char *end;
    long n;

    if (desc == NULL || subtype == NULL ||
        (strcmp(subtype, "array") != 0 && strcmp(subtype, "typedarray") != 0))
        return -1;
    lp = strchr(desc, '(');
    if (lp == NULL)
        return -1;
    n = strtol(lp + 1, &end, 10);
    if (end == lp + 1 || *end != ')' || n < 0)
        return -1;
    return n;
}

/* Large arrays are paged by the editor through indexedVariables. */
#define INDEXED_THRESHOLD 100

json_t *adapter_cdp_variable_new(const char *name, json_t *ro,
                                 const struct adapter_cdp_refs *refs)
{
    char *text = adapter_cdp_value_text(ro);
    const char *type = str_of(ro, "type");
    const char *subtype = str_of(ro, "subtype");
    int64_t ref = 0;
    json_t *v;

    if (refs != NULL && refs->object_fn != NULL &&
        json_is_string(json_object_get(ro, "objectId")) &&
        (subtype == NULL || strcmp(subtype, "null") != 0))
        ref = refs->object_fn(refs->data, ro);
    v = json_pack("{s:s, s:s, s:s, s:I}", "name", name != NULL ? name : "",
                  "value", text != NULL ? text : "?", "type",
                  adapter_cdp_value_type(ro), "variablesReference",
                  (json_int_t)(ref > 0 ? ref : 0));
    free(text);
    if (v == NULL)
        return NULL;
    if (ref > 0) {
        long n = adapter_cdp_array_length(ro);
        if (n > INDEXED_THRESHOLD)
            json_object_set_new(v, "indexedVariables", json_integer(n));
    }
    if (type != NULL && strcmp(type, "function") == 0)
        json_object_set_new(v, "presentationHint",
                            json_pack("{s:s}", "kind", "method"));
    return v;
}

static int is_index(const char *name)
{
    if (name == NULL || *name == '\0')
        return 0;
    for (const char *p = name; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return 0;
    }
    return 1;
}

static int keep(const char *name, enum adapter_cdp_filter filter)
{
    if (filter == ADAPTER_CDP_ALL)
        return 1;
    return (filter == ADAPTER_CDP_INDEXED) == is_index(name);
}

static json_t *descriptor_variable(json_t *d,
                                   const struct adapter_cdp_refs *refs)
{
    const char *name = str_of(d, "name");
    json_t *value = json_object_get(d, "value");
    json_t *get = json_object_get(d, "get");
    json_t *v;

    if (name == NULL) {
        json_t *sym = json_object_get(d, "symbol");
        name = str_of(sym, "description");
    }
    if (json_is_object(value))
        return adapter_cdp_variable_new(name, value, refs);
    if (json_is_object(get) &&
        strcmp(str_of(get, "type") ? str_of(get, "type") : "", "function") ==
            0) {
        /* An accessor: invoking the getter could have side effects, so it
         * runs only when the user expands it (DAP's lazy variables). */
        int64_t ref = refs != NULL && refs->getter_fn != NULL
                          ? refs->getter_fn(refs->data, name ? name : "")
                          : 0;
        v = json_pack("{s:s, s:s, s:s, s:I}", "name", name ? name : "", "value",
                      "(...)", "type", "accessor", "variablesReference",
                      (json_int_t)(ref > 0 ? ref : 0));
        if (v != NULL && ref > 0)
            json_object_set_new(v, "presentationHint",
                                json_pack("{s:b}", "lazy", 1));
        return v;
    }
    return json_pack("{s:s, s:s, s:i}", "name", name ? name : "", "value",
                     json_is_object(json_object_get(d, "set")) ? "(setter)"
                                                               : "undefined",
                     "variablesReference", 0);
}

json_t *adapter_cdp_properties_to_variables(json_t *result,
                                            enum adapter_cdp_filter filter,
                                            size_t start, size_t count,
                                            int skip_proto,
                                            const struct adapter_cdp_refs *refs)
{
    static const char *const lists[] = {"result", "internalProperties",
                                        "privateProperties"};
    json_t *out = json_array();
    size_t seen = 0;

    if (out == NULL)
        return NULL;
    for (size_t l = 0; l < sizeof(lists) / sizeof(lists[0]); l++) {
        json_t *arr = json_object_get(result, lists[l]);
        json_t *d;
        size_t i;

        if (l > 0 && filter == ADAPTER_CDP_INDEXED)
            break;
        json_array_foreach(arr, i, d)
        {
            const char *name = str_of(d, "name");
            json_t *v;
            if (!json_is_object(d))
                continue;
            if (l == 0 && json_is_false(json_object_get(d, "isOwn")) &&
                !json_is_object(json_object_get(d, "get")))
                continue;
            if (name != NULL && skip_proto &&
                (strcmp(name, "__proto__") == 0 ||
                 strcmp(name, "[[Prototype]]") == 0))
                continue;
            if (name != NULL && strcmp(name, "__proto__") == 0)
                continue; /* [[Prototype]] says it */
            if (!keep(name, filter))
                continue;
            if (seen++ < start)
                continue;
            if (count > 0 && json_array_size(out) >= count)
                return out;
            v = descriptor_variable(d, refs);
            if (v != NULL)
                json_array_append_new(out, v);
        }
    }
    return out;
}

/* ---- frames, scopes, pauses, output ------------------------------------ */

void adapter_cdp_scope_name(json_t *scope, char *buf, size_t len)
{
    static const struct {
        const char *type, *name;
    } names[] = {
        {"local", "Local"},   {"closure", "Closure"}, {"global", "Global"},
        {"block", "Block"},   {"catch", "Catch"},     {"with", "With"},
        {"script", "Script"}, {"eval", "Eval"},       {"module", "Module"},
    };
    const char *type = str_of(scope, "type");
    const char *name = str_of(scope, "name");
    const char *label = type != NULL ? type : "Scope";

    for (size_t i = 0; type != NULL && i < sizeof(names) / sizeof(names[0]);
         i++) {
        if (strcmp(type, names[i].type) == 0)
            label = names[i].name;
    }
    if (name != NULL && name[0] != '\0' && strcmp(label, "Global") != 0)
        snprintf(buf, len, "%s: %s", label, name);
    else
        snprintf(buf, len, "%s", label);
}

const char *adapter_cdp_stop_reason(json_t *params, const char *hint,
                                    int hit_any)
{
    const char *reason = str_of(params, "reason");

    if (reason == NULL)
        reason = "other";
    if (strcmp(reason, "exception") == 0 ||
        strcmp(reason, "promiseRejection") == 0 ||
        strcmp(reason, "assert") == 0)
        return "exception";
    if (hit_any)
        return "breakpoint";
    if (hint != NULL)
        return hint;
    if (strcmp(reason, "Break on start") == 0)
        return "entry"; /* node --inspect-brk */
    if (strcmp(reason, "debugCommand") == 0)
        return "pause";
    if (strcmp(reason, "other") == 0 || strcmp(reason, "ambiguous") == 0)
        return "debugger statement";
    return "pause";
}

const char *adapter_cdp_frame_name(json_t *call_frame)
{
    const char *n = str_of(call_frame, "functionName");

    return n != NULL && n[0] != '\0' ? n : "(anonymous)";
}

/* A console argument: strings as they are, everything else displayed. */
static int append_arg(dap_buf *b, json_t *ro)
{
    return append_value(b, ro, 0);
}

static int append_format(dap_buf *b, const char *fmt, json_t *args,
                         size_t *next)
{
    int rc = 0;

    for (const char *p = fmt; *p && rc == 0; p++) {
        json_t *a;
        if (*p != '%' || p[1] == '\0') {
            rc = dap_buf_append(b, p, 1);
            continue;
        }
        p++;
        if (*p == '%') {
            rc = dap_buf_append(b, "%", 1);
            continue;
        }
        if (strchr("sdifoOjc", *p) == NULL || *next >= json_array_size(args)) {
            rc = dap_buf_printf(b, "%%%c", *p);
            continue;
        }
        a = json_array_get(args, (*next)++);
        if (*p == 'c')
            continue; /* CSS: nothing to show in a text console */
        if (*p == 'd' || *p == 'i') {
            json_t *v = json_object_get(a, "value");
            if (json_is_number(v))
                rc = dap_buf_printf(b, "%lld", (long long)json_number_value(v));
            else
                rc = dap_buf_append(b, "NaN", 3);
        } else {
            rc = append_arg(b, a);
        }
    }
    return rc;
}

char *adapter_cdp_console_text(json_t *params, const char **category)
{
    const char *type = str_of(params, "type");
    json_t *args = json_object_get(params, "args");
    size_t i = 0;
    dap_buf b;
    int rc = 0;

    *category = "stdout";
    if (type != NULL &&
        (strcmp(type, "error") == 0 || strcmp(type, "warning") == 0 ||
         strcmp(type, "assert") == 0 || strcmp(type, "trace") == 0))
        *category = "stderr";
    dap_buf_init(&b, TEXT_MAX);
    if (type != NULL && strcmp(type, "assert") == 0)
        rc = dap_buf_append(&b, "Assertion failed: ", 18);
    if (type != NULL && strcmp(type, "trace") == 0)
        rc = dap_buf_append(&b, "Trace: ", 7);
    if (rc == 0 && json_array_size(args) > 0) {
        json_t *first = json_array_get(args, 0);
        const char *ftype = str_of(first, "type");
        if (ftype != NULL && strcmp(ftype, "string") == 0 &&
            json_array_size(args) > 1 &&
            strchr(json_string_value(json_object_get(first, "value"))
                       ? json_string_value(json_object_get(first, "value"))
                       : "",
                   '%') != NULL) {
            i = 1;
            rc = append_format(
                &b, json_string_value(json_object_get(first, "value")), args,
                &i);
        }
    }
    for (; rc == 0 && i < json_array_size(args); i++) {
        if (b.len > 0 && b.data[b.len - 1] != ' ' &&
            !(i == 0 && type != NULL &&
              (strcmp(type, "assert") == 0 || strcmp(type, "trace") == 0)))
            rc = dap_buf_append(&b, " ", 1);
        if (rc == 0)
            rc = append_arg(&b, json_array_get(args, i));
    }
    if (rc == 0)
        rc = dap_buf_append(&b, "\n", 1);
    if (rc < 0) {
        dap_buf_cleanup(&b);
        return strdup("\n");
    }
    return dap_buf_take(&b, NULL);
}

char *adapter_cdp_exception_text(json_t *details)
{
    json_t *exc = json_object_get(details, "exception");
    const char *text = str_of(details, "text");
    const char *desc = str_of(exc, "description");
    dap_buf b;
    int rc;

    dap_buf_init(&b, TEXT_MAX);
    if (text == NULL)
        text = "Uncaught";
    if (desc != NULL) {
        rc = dap_buf_printf(&b, "%s %s", text, desc);
    } else if (json_is_object(exc)) {
        char *v = adapter_cdp_value_text(exc);
        rc = dap_buf_printf(&b, "%s %s", text, v ? v : "");
        free(v);
    } else {
        const char *url = str_of(details, "url");
        rc = dap_buf_printf(&b, "%s", text);
        if (rc == 0 && url != NULL)
            rc = dap_buf_printf(&b, " (%s:%lld)", url,
                                (long long)json_integer_value(
                                    json_object_get(details, "lineNumber")) +
                                    1);
    }
    if (rc == 0 && (b.len == 0 || b.data[b.len - 1] != '\n'))
        rc = dap_buf_append(&b, "\n", 1);
    if (rc < 0) {
        dap_buf_cleanup(&b);
        return strdup("Uncaught exception\n");
    }
    return dap_buf_take(&b, NULL);
}

char *adapter_cdp_exception_summary(json_t *ro)
{
    const char *desc = str_of(ro, "description");
    char *text;
    size_t n;

    if (desc == NULL || json_object_get(ro, "preview") != NULL) {
        if (str_of(ro, "subtype") == NULL ||
            strcmp(str_of(ro, "subtype"), "error") != 0)
            return adapter_cdp_value_text(ro);
    }
    n = first_line_len(desc);
    text = malloc(n + 1);
    if (text == NULL)
        return NULL;
    memcpy(text, desc, n);
    text[n] = '\0';
    return text;
}

/* ---- breakpoints ------------------------------------------------------- */

/* A log message as a JS template literal: {expr} -> ${expr}; in the text,
 * backquotes, backslashes and "$" are escaped (so no "${" of the text can
 * interpolate).  The message's syntax ({{ }} literal) is xlate's. */
static int template_piece(void *data, int is_expr, const char *text,
                          size_t len)
{
    dap_buf *b = data;
    int rc = 0;

    if (is_expr) {
        rc = dap_buf_append(b, "${", 2);
        if (rc == 0)
            rc = dap_buf_append(b, text, len);
        return rc == 0 ? dap_buf_append(b, "}", 1) : rc;
    }
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (text[i] == '`' || text[i] == '\\' || text[i] == '$')
            rc = dap_buf_append(b, "\\", 1);
        if (rc == 0)
            rc = dap_buf_append(b, &text[i], 1);
    }
    return rc;
}

static int append_template(dap_buf *b, const char *msg)
{
    int rc = dap_buf_append(b, "`", 1);

    if (rc == 0)
        rc = adapter_xlate_log_parse(msg, template_piece, b);
    return rc == 0 ? dap_buf_append(b, "`", 1) : rc;
}

char *adapter_cdp_breakpoint_condition(const char *condition,
                                       const char *log_message)
{
    int has_cond = condition != NULL && condition[0] != '\0';
    dap_buf b;
    int rc = 0;

    if (log_message == NULL || log_message[0] == '\0')
        return has_cond ? strdup(condition) : NULL;
    dap_buf_init(&b, TEXT_MAX);
    if (has_cond)
        rc = dap_buf_printf(&b, "(%s) && ", condition);
    if (rc == 0)
        rc = dap_buf_append(&b, "(console.log(", 13);
    if (rc == 0)
        rc = append_template(&b, log_message);
    if (rc == 0)
        rc = dap_buf_printf(&b, "), false)\n//# sourceURL=%s\n",
                            ADAPTER_CDP_LOGPOINT_URL);
    if (rc < 0) {
        dap_buf_cleanup(&b);
        return NULL;
    }
    return dap_buf_take(&b, NULL);
}

