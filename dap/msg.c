/* msg.c - see msg.h. */
#include "msg.h"

#include <stdlib.h>
#include <string.h>

#include "utf8.h"

json_t *dap_msg_response_new(int64_t request_seq, const char *command,
                             json_t *body_new)
{
    json_t *m = json_pack("{s:s, s:I, s:b, s:s}", "type", "response",
                          "request_seq", (json_int_t)request_seq, "success", 1,
                          "command", command);

    if (m != NULL && body_new != NULL)
        json_object_set_new(m, "body", body_new);
    else
        json_decref(body_new);
    return m;
}

/* `s` itself when it is valid UTF-8, else a repaired copy in *tofree: text
 * that jansson refuses would lose the whole message (a response never
 * sent, an event without its body). */
static const char *text_of(const char *s, char **tofree)
{
    size_t n = strlen(s);
    size_t outn;

    *tofree = NULL;
    if (dap_utf8_valid(s, n))
        return s;
    *tofree = dap_utf8_repair(s, n, &outn);
    return *tofree != NULL ? *tofree : "(text lost: out of memory)";
}

/* DAP formats substitute {name}; a literal brace in our text must not be
 * taken for a variable, so double it ({{ and }} are the escape). */
static char *escape_braces(const char *s)
{
    size_t n = 0;
    char *out;
    char *p;

    for (const char *q = s; *q; q++)
        n += (*q == '{' || *q == '}') ? 2 : 1;
    out = malloc(n + 1);
    if (out == NULL)
        return NULL;
    p = out;
    for (const char *q = s; *q; q++) {
        *p++ = *q;
        if (*q == '{' || *q == '}')
            *p++ = *q;
    }
    *p = '\0';
    return out;
}

json_t *dap_msg_error_new(int64_t request_seq, const char *command, int code,
                          const char *message, const char *format)
{
    char *fixed;
    const char *text =
        text_of(format != NULL ? format : dap_strerror(code), &fixed);
    char *fmt = escape_braces(text);
    json_t *m;

    if (fmt == NULL) {
        free(fixed);
        return NULL;
    }
    m = json_pack("{s:s, s:I, s:b, s:s, s:s, s:{s:{s:i, s:s, s:b}}}", "type",
                  "response", "request_seq", (json_int_t)request_seq,
                  "success", 0, "command", command, "message",
                  message != NULL ? message : text, "body", "error", "id",
                  dap_err_id(code), "format", fmt, "showUser", 1);
    free(fmt);
    free(fixed);
    return m;
}

json_t *dap_msg_event_new(const char *event, json_t *body_new)
{
    json_t *m = json_pack("{s:s, s:s}", "type", "event", "event", event);

    if (m != NULL && body_new != NULL)
        json_object_set_new(m, "body", body_new);
    else
        json_decref(body_new);
    return m;
}

json_t *dap_msg_output_new(const char *category, const char *text)
{
    char *fixed;
    json_t *body = json_pack("{s:s, s:s}", "category", category, "output",
                             text_of(text, &fixed));

    free(fixed);
    /* Never an output event without its body. */
    return body != NULL ? dap_msg_event_new("output", body) : NULL;
}
