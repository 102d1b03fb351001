/* fake_backend.h - a scriptable in-process backend kind for unit tests.
 *
 * fake_backend_register() adds the runtime "fake" to the backend registry.
 * A service {"runtime": "fake", "connect": "anything", "fake": {...}} then
 * gets a backend that answers DAP like a small debugger, on the loop, with
 * ids in its own space that deliberately overlap between instances (every
 * instance has thread 1, breakpoint 1, sourceReference 7...), so a test sees
 * whether the session keeps them apart.  The "fake" object may hold
 * "threads": [ids] (default [1]), "delayMs": N (every answer comes N ms
 * later) and "failStart": "why" (the attach fails).
 *
 * Answers, per command: threads lists the threads as "t<ID>"; stackTrace
 * gives one frame (id threadId*10+1) in a source with sourceReference 7;
 * scopes one scope (variablesReference frameId*10); variables two
 * variables, "service" (the service name) and "ref" (the reference asked
 * for); source the content "<service>:<sourceReference>"; setBreakpoints
 * and setFunctionBreakpoints verified entries with ids counting from 1 per
 * instance; anything else success without a body.
 *
 * Its runtime profile (for the attach orchestration's tests): the script
 * runs "fakedbg" and says "$m ready $port"; port 7000; capability
 * SYS_NICE; detected by the command fakedbg, the variable FAKE_DEBUG or
 * the image word fakerun; "fakeRefuse" in the config is refused; the ready
 * fix-up takes the port from the marker's REST, records the process as
 * "fakePid" and warns when REST says "warn". */
#ifndef KDAP_FAKE_BACKEND_H
#define KDAP_FAKE_BACKEND_H

#include <jansson.h>

typedef struct fake_backend fake_backend;

/* Register the "fake" kind (again: -EEXIST). */
int fake_backend_register(void);
/* The live backend of service `name`, or NULL (not created, or freed). */
fake_backend *fake_backend_find(const char *name);
/* Every request this backend received, oldest first, as
 * {"command", "arguments"} (borrowed).  adapter_stop appears as command
 * "(stop)" with arguments {"terminate": bool}. */
json_t *fake_backend_requests(fake_backend *f);
/* The arguments of the last request of `command` (borrowed), or NULL. */
json_t *fake_backend_last(fake_backend *f, const char *command);
/* Answer `command` with success:false and `message` from now on (NULL:
 * answer it normally again). */
int fake_backend_fail(fake_backend *f, const char *command,
                      const char *message);
/* Keep every answer queued (held) until the backend dies or is released. */
void fake_backend_hold(fake_backend *f, int hold);
/* Send an event (body: new reference, may be NULL) from the loop. */
void fake_backend_event(fake_backend *f, const char *event, json_t *body_new);
/* The debugger goes away: every queued answer fails (once), then
 * closed_fn reports `why`. */
void fake_backend_die(fake_backend *f, const char *why);

#endif
