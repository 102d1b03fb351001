/* editor.h - the editor's side of a dap_session in unit tests: requests go
 * in framed, as on stdio, and what the session writes comes back parsed. */
#ifndef KDAP_TEST_EDITOR_H
#define KDAP_TEST_EDITOR_H

#include <jansson.h>

#include "dap/session.h"

/* Callbacks for dap_session_new: output is kept for editor_drain(),
 * finished_fn is counted. */
extern const struct dap_session_callbacks editor_callbacks;

/* Start afresh (may be called again without editor_cleanup). */
void editor_init(void);
void editor_cleanup(void);
/* Every message the session wrote since the last call, parsed, in order
 * (new reference). */
json_t *editor_drain(void);
/* Frame `json` and feed it to the session. */
void editor_send(dap_session *s, const char *json);
/* How often finished_fn ran since editor_init, and its last status. */
int editor_finished(int *status);

#endif
