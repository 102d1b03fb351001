/* mi.c - GDB/MI output parser and command builder.  See mi.h for the
 * grammar; this follows GDB's manual, "GDB/MI Output Syntax", and is lenient
 * where real gdb output is (an empty value list, a bare value in a list of
 * results). */
#include "mi.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../dap/utf8.h"

#define MAX_DEPTH 64 /* nesting of tuples and lists we accept */

/* ---- strings ----------------------------------------------------------- */

static int is_odigit(char c)
{
    return c >= '0' && c <= '7';
}

int adapter_mi_cstring(const char *s, size_t len, dap_buf *out)
{
    size_t i = 1;

    if (len == 0 || s[0] != '"')
        return DAP_EPROTO;
    while (i < len) {
        char c = s[i];
        char o;
        if (c == '"')
            return (int)(i + 1);
        if (c != '\\') {
            size_t j = i;
            /* Copy the run of plain bytes in one go. */
            while (j < len && s[j] != '"' && s[j] != '\\')
                j++;
            if (dap_buf_append(out, s + i, j - i) < 0)
                return DAP_ETOOBIG;
            i = j;
            continue;
        }
        if (++i >= len)
            return DAP_EPROTO;
        c = s[i++];
        switch (c) {
        case 'n': o = '\n'; break;
        case 't': o = '\t'; break;
        case 'r': o = '\r'; break;
        case 'a': o = '\a'; break;
        case 'b': o = '\b'; break;
        case 'f': o = '\f'; break;
        case 'v': o = '\v'; break;
        case 'e': o = 27; break;
        default:
            if (is_odigit(c)) {
                int v = c - '0';
                for (int k = 0; k < 2 && i < len && is_odigit(s[i]); k++)
                    v = v * 8 + (s[i++] - '0');
                o = (char)(v & 0xff);
            } else {
                o = c; /* \" \\ and anything else: the character itself */
            }
        }
        if (dap_buf_append(out, &o, 1) < 0)
            return DAP_ETOOBIG;
    }
    return DAP_EPROTO;
}

/* A JSON string from arbitrary bytes: invalid UTF-8 becomes U+FFFD and NUL
 * bytes are kept (jansson supports them). */
static json_t *json_bytes(const char *p, size_t n)
{
    char *fixed;
    json_t *j;

    if (dap_utf8_valid(p, n))
        return json_stringn(p, n);
    fixed = dap_utf8_repair(p, n, &n);
    if (fixed == NULL)
        return NULL;
    j = json_stringn(fixed, n);
    free(fixed);
    return j;
}

/* ---- values ------------------------------------------------------------ */

struct cursor {
    const char *s;
    size_t len;
    size_t i;
};

static int peek(const struct cursor *c)
{
    return c->i < c->len ? (unsigned char)c->s[c->i] : -1;
}

static json_t *parse_value(struct cursor *c, int depth);

static int is_name_char(int ch)
{
    return ch > ' ' && ch != '=' && ch != ',' && ch != '{' && ch != '}' &&
           ch != '[' && ch != ']' && ch != '"';
}

/* name=value; stores into obj (first value of a repeated name wins). */
static int parse_result(struct cursor *c, json_t *obj, int depth)
{
    size_t start = c->i;
    char name[128];
    size_t n;
    json_t *v;

    while (is_name_char(peek(c)))
        c->i++;
    n = c->i - start;
    if (n == 0 || peek(c) != '=')
        return DAP_EPROTO;
    c->i++;
    v = parse_value(c, depth);
    if (v == NULL)
        return DAP_EPROTO;
    if (n >= sizeof(name))
        n = sizeof(name) - 1;
    memcpy(name, c->s + start, n);
    name[n] = '\0';
    if (obj != NULL && json_object_get(obj, name) == NULL)
        json_object_set_new(obj, name, v);
    else
        json_decref(v);
    return 0;
}

static json_t *parse_cstring(struct cursor *c)
{
    dap_buf b;
    json_t *j;
    int n;

    dap_buf_init(&b, c->len + 16);
    n = adapter_mi_cstring(c->s + c->i, c->len - c->i, &b);
    if (n < 0) {
        dap_buf_cleanup(&b);
        return NULL;
    }
    c->i += (size_t)n;
    j = json_bytes(b.data != NULL ? b.data : "", b.len);
    dap_buf_cleanup(&b);
    return j;
}

static json_t *parse_tuple(struct cursor *c, int depth)
{
    json_t *obj = json_object();

    c->i++; /* { */
    if (peek(c) == '}') {
        c->i++;
        return obj;
    }
    for (;;) {
        if (peek(c) == '"') {
            /* A bare string in a tuple (gdb's script={"cmd1","cmd2"}):
             * keep it under a numbered name. */
            json_t *v = parse_cstring(c);
            char key[24];
            if (v == NULL)
                goto fail;
            snprintf(key, sizeof(key), "%zu", json_object_size(obj));
            json_object_set_new(obj, key, v);
        } else if (parse_result(c, obj, depth) < 0) {
            goto fail;
        }
        if (peek(c) == ',') {
            c->i++;
            continue;
        }
        if (peek(c) == '}') {
            c->i++;
            return obj;
        }
        goto fail;
    }
fail:
    json_decref(obj);
    return NULL;
}

static json_t *parse_list(struct cursor *c, int depth)
{
    json_t *arr = json_array();

    c->i++; /* [ */
    if (peek(c) == ']') {
        c->i++;
        return arr;
    }
    for (;;) {
        int ch = peek(c);
        json_t *v;
        if (ch == '"' || ch == '{' || ch == '[') {
            v = parse_value(c, depth);
        } else {
            /* name=value: keep the value, the name is noise. */
            json_t *tmp = json_object();
            size_t start = c->i;
            if (parse_result(c, tmp, depth) < 0) {
                json_decref(tmp);
                goto fail;
            }
            (void)start;
            v = NULL;
            const char *k;
            json_t *x;
            json_object_foreach(tmp, k, x)
            {
                v = json_incref(x);
                break;
            }
            json_decref(tmp);
            if (v == NULL)
                goto fail;
        }
        if (v == NULL)
            goto fail;
        json_array_append_new(arr, v);
        if (peek(c) == ',') {
            c->i++;
            continue;
        }
        if (peek(c) == ']') {
            c->i++;
            return arr;
        }
        goto fail;
    }
fail:
    json_decref(arr);
    return NULL;
}

static json_t *parse_value(struct cursor *c, int depth)
{
    if (depth >= MAX_DEPTH)
        return NULL;
    switch (peek(c)) {
    case '"':
        return parse_cstring(c);
    case '{':
        return parse_tuple(c, depth + 1);
    case '[':
        return parse_list(c, depth + 1);
    default:
        return NULL;
    }
}

/* ---- records ----------------------------------------------------------- */

void adapter_mi_record_cleanup(struct adapter_mi_record *rec)
{
    json_decref(rec->results);
    free(rec->text);
    memset(rec, 0, sizeof(*rec));
}

int adapter_mi_parse_line(const char *line, size_t len,
                          struct adapter_mi_record *rec,
                          struct dap_error *err)
{
    struct cursor c = {line, len, 0};
    size_t start;
    int ch;

    memset(rec, 0, sizeof(*rec));
    rec->kind = ADAPTER_MI_PROMPT; /* until the record's kind is read */
    rec->results = json_object();
    while (c.len > 0 && (line[c.len - 1] == '\r' || line[c.len - 1] == '\n'))
        c.len--;
    if (c.len >= 5 && memcmp(line, "(gdb)", 5) == 0) {
        rec->kind = ADAPTER_MI_PROMPT;
        return 0;
    }
    while (c.i < c.len && line[c.i] >= '0' && line[c.i] <= '9') {
        if (rec->token > (UINT64_MAX - 9) / 10)
            return dap_error_set(err, DAP_EPROTO, "MI token too large");
        rec->token = rec->token * 10 + (uint64_t)(line[c.i] - '0');
        rec->has_token = 1;
        c.i++;
    }
    ch = peek(&c);
    switch (ch) {
    case '~':
    case '@':
    case '&': {
        dap_buf b;
        int n;
        if (rec->has_token)
            return dap_error_set(err, DAP_EPROTO,
                                 "MI stream record with a token");
        rec->kind = ch == '~'   ? ADAPTER_MI_CONSOLE
                    : ch == '@' ? ADAPTER_MI_TARGET
                                : ADAPTER_MI_LOG;
        c.i++;
        dap_buf_init(&b, c.len + 16);
        n = adapter_mi_cstring(line + c.i, c.len - c.i, &b);
        if (n < 0 || c.i + (size_t)n != c.len) {
            dap_buf_cleanup(&b);
            return dap_error_set(err, DAP_EPROTO,
                                 "MI stream record without a valid C string");
        }
        rec->text_len = b.len;
        rec->text = b.len > 0 ? dap_buf_take(&b, NULL) : strdup("");
        dap_buf_cleanup(&b);
        if (rec->text == NULL)
            return dap_error_set(err, DAP_ENOMEM, "out of memory");
        return 0;
    }
    case '^':
        rec->kind = ADAPTER_MI_RESULT;
        break;
    case '*':
        rec->kind = ADAPTER_MI_EXEC;
        break;
    case '+':
        rec->kind = ADAPTER_MI_STATUS;
        break;
    case '=':
        rec->kind = ADAPTER_MI_NOTIFY;
        break;
    default:
        return dap_error_set(err, DAP_EPROTO, "not an MI record");
    }
    c.i++;
    start = c.i;
    while (c.i < c.len && line[c.i] != ',')
        c.i++;
    if (c.i == start)
        return dap_error_set(err, DAP_EPROTO, "MI record without a class");
    snprintf(rec->cls, sizeof(rec->cls), "%.*s", (int)(c.i - start),
             line + start);
    while (c.i < c.len) {
        c.i++; /* , */
        if (parse_result(&c, rec->results, 0) < 0) {
            /* A bare value after a comma (MI2's bkpt={..},{..}): skip it. */
            json_t *v = parse_value(&c, 0);
            if (v == NULL)
                return dap_error_set(err, DAP_EPROTO,
                                     "bad MI result at byte %zu", c.i);
            json_decref(v);
        }
        if (c.i < c.len && line[c.i] != ',')
            return dap_error_set(err, DAP_EPROTO,
                                 "junk after an MI result at byte %zu", c.i);
    }
    return 0;
}

/* ---- line reader ------------------------------------------------------- */

void adapter_mi_reader_init(adapter_mi_reader *r, size_t max_line)
{
    dap_buf_init(&r->line, max_line);
    r->skipping = 0;
}

void adapter_mi_reader_cleanup(adapter_mi_reader *r)
{
    dap_buf_cleanup(&r->line);
}

int adapter_mi_reader_feed(adapter_mi_reader *r, const char *buf, size_t len,
                           void (*fn)(void *data, const char *line,
                                      size_t len),
                           void *data)
{
    int rc = 0;

    while (len > 0) {
        const char *nl = memchr(buf, '\n', len);
        size_t n = nl != NULL ? (size_t)(nl - buf) : len;

        if (r->skipping) {
            if (nl != NULL)
                r->skipping = 0;
        } else if (dap_buf_append(&r->line, buf, n) < 0) {
            dap_buf_reset(&r->line);
            r->skipping = nl == NULL;
            rc = DAP_ETOOBIG;
        } else if (nl != NULL) {
            fn(data, r->line.data != NULL ? r->line.data : "", r->line.len);
            dap_buf_reset(&r->line);
        }
        if (nl == NULL)
            break;
        buf += n + 1;
        len -= n + 1;
    }
    return rc;
}

/* ---- command builder --------------------------------------------------- */

int adapter_mi_quote(dap_buf *b, const char *s)
{
    int rc = dap_buf_append(b, "\"", 1);

    for (; rc == 0 && *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        char esc[8];
        switch (ch) {
        case '"': rc = dap_buf_append(b, "\\\"", 2); break;
        case '\\': rc = dap_buf_append(b, "\\\\", 2); break;
        case '\n': rc = dap_buf_append(b, "\\n", 2); break;
        case '\t': rc = dap_buf_append(b, "\\t", 2); break;
        case '\r': rc = dap_buf_append(b, "\\r", 2); break;
        default:
            if (ch < 0x20 || ch == 0x7f) {
                snprintf(esc, sizeof(esc), "\\%03o", ch);
                rc = dap_buf_append(b, esc, 4);
            } else {
                rc = dap_buf_append(b, s, 1);
            }
        }
    }
    if (rc == 0)
        rc = dap_buf_append(b, "\"", 1);
    return rc;
}

int adapter_mi_build(dap_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc = 0;

    va_start(ap, fmt);
    for (const char *p = fmt; *p != '\0' && rc == 0; p++) {
        if (*p != '%') {
            const char *q = strchr(p, '%');
            size_t n = q != NULL ? (size_t)(q - p) : strlen(p);
            rc = dap_buf_append(b, p, n);
            p += n - 1;
            continue;
        }
        switch (*++p) {
        case 's': {
            const char *s = va_arg(ap, const char *);
            rc = dap_buf_append(b, s, strlen(s));
            break;
        }
        case 'q':
            rc = adapter_mi_quote(b, va_arg(ap, const char *));
            break;
        case 'd':
            rc = dap_buf_printf(b, "%d", va_arg(ap, int));
            break;
        case 'l':
            rc = dap_buf_printf(b, "%lld", va_arg(ap, long long));
            break;
        case '%':
            rc = dap_buf_append(b, "%", 1);
            break;
        default:
            rc = DAP_EINVAL;
            p--; /* do not step past the terminating NUL */
        }
    }
    va_end(ap);
    return rc;
}

const char *adapter_mi_str(json_t *o, const char *key)
{
    return json_string_value(json_object_get(o, key));
}

long long adapter_mi_int(json_t *o, const char *key, long long def)
{
    const char *s = adapter_mi_str(o, key);
    char *end;
    long long v;

    if (s == NULL || *s == '\0')
        return def;
    v = strtoll(s, &end, 0);
    return *end == '\0' ? v : def;
}
