/* cdp.h - the pure part of the Node backend: Chrome DevTools Protocol
 * messages in, DAP bodies out.  No I/O, no state: node.c owns the
 * connection and the tables (scripts, breakpoints, variable references),
 * and these functions only translate, so they are unit-tested and fuzzed
 * with hostile input (every field may be missing or of the wrong type).
 *
 * Conventions: CDP lines and columns are 0-based, DAP's (as the session
 * sees them) 1-based.  A RemoteObject with an objectId has children; the
 * caller hands out variablesReference numbers for them through
 * struct adapter_cdp_refs.  Display values follow VS Code's JavaScript
 * debugger: strings quoted with ', functions as "ƒ name(args)", objects as
 * their preview ("{a: 1}", "(2) [1, 2]") or description.
 */
#ifndef KDAP_ADAPTER_CDP_H
#define KDAP_ADAPTER_CDP_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* ---- messages ---------------------------------------------------------- */

enum adapter_cdp_kind {
    ADAPTER_CDP_INVALID = 0,
    ADAPTER_CDP_RESPONSE, /* {"id":N, "result"|"error"} */
    ADAPTER_CDP_EVENT,    /* {"method":"Domain.event", "params"} */
};

struct adapter_cdp_msg {
    enum adapter_cdp_kind kind;
    int64_t id;         /* responses */
    const char *method; /* events */
    json_t *params;     /* events: object (never NULL for events) */
    json_t *result;     /* responses: object, or NULL on error */
    const char *error;  /* responses: error message, or NULL */
};

/* Parse one inbound message.  On success *root owns the JSON (borrowed
 * pointers in *m point into it) and the kind is RESPONSE or EVENT; else
 * returns -1 with *root NULL, and when the text still shows whose answer
 * it is, kind RESPONSE with that id and an error message (static) to fail
 * the call with.  Invalid UTF-8 and lone surrogate escapes are repaired
 * (U+FFFD) first. */
int adapter_cdp_parse(const char *buf, size_t len, json_t **root,
                      struct adapter_cdp_msg *m);
/* Serialise a request (params borrowed, may be NULL).  Caller frees. */
char *adapter_cdp_request_dump(int64_t id, const char *method, json_t *params);

/* ---- URLs and paths ---------------------------------------------------- */

/* file:///a/b%20c -> "/a/b c"; a bare absolute path stays as is; anything
 * else (node:fs, evalmachine, https:) -> NULL.  Caller frees. */
char *adapter_cdp_url_to_path(const char *url);
/* "/a/b c" -> "file:///a/b%20c".  Caller frees. */
char *adapter_cdp_path_to_url(const char *path);
/* A regular expression (V8 syntax) matching the script URL of `path` in
 * both forms Node uses: "file:///a/b%20c.js" and "/a/b c.js".  Caller
 * frees. */
char *adapter_cdp_url_regex(const char *path);
/* Resolve `rel` against the directory of the file `base` (both paths);
 * an absolute `rel` is only normalised.  "." and ".." segments are
 * removed.  Caller frees. */
char *adapter_cdp_path_resolve(const char *base, const char *rel);
/* Last path segment of a URL or path, for Source.name (borrowed). */
const char *adapter_cdp_basename(const char *url);

/* ---- values ------------------------------------------------------------ */

struct adapter_cdp_refs {
    /* variablesReference for an object RemoteObject (has objectId). */
    int64_t (*object_fn)(void *data, json_t *remote_object);
    /* variablesReference for a getter not yet invoked: property `name` of
     * the object being listed.  NULL: show accessors as "(...)" only. */
    int64_t (*getter_fn)(void *data, const char *name);
    void *data;
};

/* The display text of a RemoteObject.  Caller frees; never NULL unless out
 * of memory. */
char *adapter_cdp_value_text(json_t *ro);
/* The DAP Variable.type text ("string", "number", "Object", "Array"...):
 * borrowed from `ro` or static. */
const char *adapter_cdp_value_type(json_t *ro);
/* A DAP Variable for one value.  `refs` may be NULL (no children). */
json_t *adapter_cdp_variable_new(const char *name, json_t *ro,
                                 const struct adapter_cdp_refs *refs);

enum adapter_cdp_filter {
    ADAPTER_CDP_ALL = 0,
    ADAPTER_CDP_NAMED,
    ADAPTER_CDP_INDEXED,
};

/* Runtime.getProperties result -> array of DAP Variables: own properties
 * (accessors shown lazily, never invoked), then internal properties
 * ([[Entries]], [[PrimitiveValue]], [[Prototype]]...) and private ones,
 * filtered and paged (count 0 = all).  `skip_proto` leaves [[Prototype]]
 * and __proto__ out (scope objects). */
json_t *adapter_cdp_properties_to_variables(
    json_t *result, enum adapter_cdp_filter filter, size_t start, size_t count,
    int skip_proto, const struct adapter_cdp_refs *refs);
/* Number of array elements an object RemoteObject announces (from its
 * description "Array(N)" / "Map(N)"), or -1. */
long adapter_cdp_array_length(json_t *ro);

/* ---- frames, scopes, pauses, output ------------------------------------ */

/* Scope display name ("Local", "Closure (outer)", "Global"...) into buf. */
void adapter_cdp_scope_name(json_t *scope, char *buf, size_t len);
/* DAP stopped reason and description for Debugger.paused params: reason
 * "breakpoint", "exception", "step", "pause", "debugger statement"...
 * `hint` is what kdap asked for last ("step", "pause" or NULL). */
const char *adapter_cdp_stop_reason(json_t *params, const char *hint,
                                    int hit_any);
/* Name of a call frame for the stack view (static "(anonymous)" if empty). */
const char *adapter_cdp_frame_name(json_t *call_frame);

/* Text of Runtime.consoleAPICalled (newline-terminated), with the DAP
 * output category ("stdout", "stderr") in *category.  Caller frees. */
char *adapter_cdp_console_text(json_t *params, const char **category);
/* Text of an exceptionDetails object ("Uncaught Error: boom\n  at ...").
 * Caller frees. */
char *adapter_cdp_exception_text(json_t *details);
/* First line of an exception RemoteObject's description ("Error: boom"),
 * for stopped.text.  Caller frees. */
char *adapter_cdp_exception_summary(json_t *ro);

/* ---- breakpoints ------------------------------------------------------- */

/* The V8 condition for a breakpoint: the DAP condition, or for a log point
 * (log_message not NULL) an expression that logs the message with
 * {expression} parts interpolated and returns false, so the program never
 * stops.  The tag comment marks its console output as a log point's.
 * NULL/empty inputs give NULL.  Caller frees. */
char *adapter_cdp_breakpoint_condition(const char *condition,
                                       const char *log_message);
/* Marker put into log point conditions (sourceURL of the evaluation). */
#define ADAPTER_CDP_LOGPOINT_URL "kdap-logpoint.js"



#endif
