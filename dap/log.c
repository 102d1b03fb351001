/* log.c - see log.h.
 *
 * Lines are formatted into a bounded buffer and written with one write(2)
 * each.  The log never blocks the loop: stderr is reopened as a
 * non-blocking description of its own (an editor that does not drain the
 * adapter's stderr must not stall debugging), a line that does not fit is
 * dropped and counted, and the count is logged once writing works again.
 * The same line repeated back to back is logged once, then how often it
 * came.  A mutex guards that state: work in libuv's thread pool (loading
 * a kubeconfig) logs too.
 */
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "utf8.h"

#define LINE_MAX_BYTES 4096 /* PIPE_BUF: one line, one atomic write */

static int log_fd = -1;      /* -1: stderr as it is */
static int log_owned;        /* log_fd is ours to close */
static enum dap_log_level log_level = DAP_LOG_WARN;
static unsigned long dropped; /* lines the destination did not take */
static char last[LINE_MAX_BYTES]; /* the last line's text, without stamp */
static unsigned long repeats; /* times `last` came again, not written */

static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

int dap_log_level_parse(const char *s, enum dap_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(s, level_names[i]) == 0) {
            *out = (enum dap_log_level)i;
            return 0;
        }
    }
    return DAP_EINVAL;
}

/* stderr as a description of our own, non-blocking and close-on-exec:
 * setting O_NONBLOCK on fd 2 itself would change the editor's (or the
 * terminal's) description too. */
static void open_stderr(void)
{
    int fd = open("/proc/self/fd/2", O_WRONLY | O_APPEND | O_NONBLOCK |
                                         O_CLOEXEC | O_NOCTTY);

    if (fd >= 0) {
        log_fd = fd;
        log_owned = 1;
    }
}

int dap_log_open(const char *path, enum dap_log_level level)
{
    struct stat st;
    int fd;

    dap_log_close();
    log_level = level;
    if (path == NULL || path[0] == '\0') {
        open_stderr();
        return 0;
    }
    /* Private (the log may show source and variables at debug level),
     * never through a symbolic link someone planted, never inherited. */
    fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
                        O_NOCTTY | O_NONBLOCK,
              0600);
    if (fd < 0) {
        int e = -errno;
        open_stderr();
        return e;
    }
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
        (st.st_mode & 077) != 0 && st.st_uid == geteuid())
        (void)fchmod(fd, st.st_mode & 0700); /* an old log made 0644 */
    log_fd = fd;
    log_owned = 1;
    return 0;
}

void dap_log_close(void)
{
    if (log_owned && log_fd >= 0)
        close(log_fd);
    log_fd = -1;
    log_owned = 0;
    dropped = 0;
    repeats = 0;
    last[0] = '\0';
}

int dap_log_enabled(enum dap_log_level level)
{
    return level <= log_level;
}

/* One line out, or counted as dropped. */
static void emit(const char *line, size_t n)
{
    int fd = log_fd >= 0 ? log_fd : STDERR_FILENO;

    for (;;) {
        ssize_t w = write(fd, line, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 || (size_t)w < n)
            dropped++; /* EAGAIN: nobody reads; a short write: cut line */
        return;
    }
}

static size_t stamp(char *buf, size_t cap, enum dap_log_level level)
{
    struct timeval tv;
    struct tm tm;
    char ts[32];

    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    return dap_utf8_snprintf(buf, cap, "%s.%03ld kdap %s: ", ts,
                             (long)(tv.tv_usec / 1000), level_names[level]);
}

/* Say what was not written (repeats, drops) before the next line. */
static void flush_notes(enum dap_log_level level)
{
    char line[256];
    size_t n;

    if (repeats > 0) {
        n = stamp(line, sizeof(line), level);
        n += dap_utf8_snprintf(line + n, sizeof(line) - n,
                               "(the last message came %lu more times)\n",
                               repeats);
        repeats = 0;
        emit(line, n);
    }
    if (dropped > 0) {
        unsigned long d = dropped;
        n = stamp(line, sizeof(line), DAP_LOG_WARN);
        n += dap_utf8_snprintf(line + n, sizeof(line) - n,
                               "%lu log lines dropped: the log was not being "
                               "read\n",
                               d);
        dropped = 0;
        emit(line, n);
        if (dropped > 0)
            dropped += d; /* still full: keep counting */
    }
}

void dap_log(enum dap_log_level level, const char *fmt, ...)
{
    char text[LINE_MAX_BYTES];
    char line[LINE_MAX_BYTES + 64];
    va_list ap;
    size_t n;

    if (level > log_level)
        return;
    va_start(ap, fmt);
    dap_utf8_vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&log_mu);
    if (strcmp(text, last) == 0) {
        /* Rate-limited, but a message that never stops still shows up
         * now and then. */
        if (++repeats >= 1000)
            flush_notes(level);
    } else {
        flush_notes(level);
        memcpy(last, text, strlen(text) + 1);
        n = stamp(line, sizeof(line), level);
        n += dap_utf8_snprintf(line + n, sizeof(line) - n, "%s\n", text);
        emit(line, n);
    }
    pthread_mutex_unlock(&log_mu);
}
