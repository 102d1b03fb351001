/* fuzz.h - what the session fuzz targets share (header-only: each target
 * is built alone as a libFuzzer binary). */
#ifndef KDAP_FUZZ_H
#define KDAP_FUZZ_H

#include <uv.h>

#include "dap/session.h"

/* End a fuzzed session as the stdio loop does (shutdown, then free, which
 * answers whatever is still live) and run the loop until every handle is
 * closed, so leaks and late callbacks are found too. */
static inline void fuzz_session_end(uv_loop_t *loop, dap_session *s)
{
    uv_run(loop, UV_RUN_NOWAIT);
    dap_session_shutdown(s, "fuzz");
    uv_run(loop, UV_RUN_NOWAIT);
    dap_session_free(s);
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

#endif
