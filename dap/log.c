/* log.c - see log.h. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *log_fp;
static int log_owned;
static enum dap_log_level log_level = DAP_LOG_WARN;

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

int dap_log_open(const char *path, enum dap_log_level level)
{
    dap_log_close();
    log_level = level;
    if (path == NULL || path[0] == '\0') {
        log_fp = stderr;
        return 0;
    }
    log_fp = fopen(path, "a");
    if (log_fp == NULL) {
        int e = -errno;
        log_fp = stderr;
        return e;
    }
    log_owned = 1;
    setvbuf(log_fp, NULL, _IOLBF, 0);
    return 0;
}

void dap_log_close(void)
{
    if (log_owned && log_fp != NULL)
        fclose(log_fp);
    log_fp = NULL;
    log_owned = 0;
}

int dap_log_enabled(enum dap_log_level level)
{
    return level <= log_level;
}

void dap_log(enum dap_log_level level, const char *fmt, ...)
{
    struct timeval tv;
    struct tm tm;
    char ts[32];
    va_list ap;
    FILE *fp = log_fp != NULL ? log_fp : stderr;

    if (level > log_level)
        return;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%H:%M:%S", &tm);
    fprintf(fp, "%s.%03ld kdap %s: ", ts, (long)(tv.tv_usec / 1000),
            level_names[level]);
    va_start(ap, fmt);
    vfprintf(fp, fmt, ap);
    va_end(ap);
    fputc('\n', fp);
}
