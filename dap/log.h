/* log.h - kdap's log: a file, never stdout (stdout carries only DAP).
 *
 * The destination comes from --log FILE or KDAP_LOG, the level from
 * --log-level or KDAP_LOG_LEVEL.  With no file, warnings and errors go to
 * stderr, which editors show in their adapter output.  Callers never pass
 * secrets (tokens, keys, credentials); the kube/ layer redacts before
 * logging.
 */
#ifndef KDAP_LOG_H
#define KDAP_LOG_H

#include "err.h"

enum dap_log_level {
    DAP_LOG_ERROR = 0,
    DAP_LOG_WARN,
    DAP_LOG_INFO,
    DAP_LOG_DEBUG,
};

/* Open `path` (NULL: stderr) for appending at `level`.  Returns 0 or -errno. */
int dap_log_open(const char *path, enum dap_log_level level) DAP_WUR;
/* Parse "error|warn|info|debug"; returns 0 or DAP_EINVAL. */
int dap_log_level_parse(const char *s, enum dap_log_level *out) DAP_WUR;
void dap_log_close(void);
int dap_log_enabled(enum dap_log_level level);
void dap_log(enum dap_log_level level, const char *fmt, ...) DAP_PRINTF(2, 3);

#define DAP_LOGE(...) dap_log(DAP_LOG_ERROR, __VA_ARGS__)
#define DAP_LOGW(...) dap_log(DAP_LOG_WARN, __VA_ARGS__)
#define DAP_LOGI(...) dap_log(DAP_LOG_INFO, __VA_ARGS__)
#define DAP_LOGD(...)                                                          \
    do {                                                                       \
        if (dap_log_enabled(DAP_LOG_DEBUG))                                    \
            dap_log(DAP_LOG_DEBUG, __VA_ARGS__);                               \
    } while (0)

#endif
