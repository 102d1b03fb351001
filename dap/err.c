/* err.c - error codes, names and messages (see err.h). */
#include "err.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

const char *dap_strerror(int code)
{
    switch (code) {
    case DAP_OK:
        return "success";
    case DAP_PENDING:
        return "pending";
#define X(name, id, msg)                                                       \
    case DAP_##name:                                                           \
        return msg;
        DAP_ERR_MAP(X)
#undef X
    default:
        return code < 0 ? strerror(-code) : "unknown";
    }
}

const char *dap_err_name(int code)
{
    switch (code) {
    case DAP_OK:
        return "OK";
    case DAP_PENDING:
        return "PENDING";
#define X(name, id, msg)                                                       \
    case DAP_##name:                                                           \
        return #name;
        DAP_ERR_MAP(X)
#undef X
    default:
        return "ESYS";
    }
}

int dap_err_id(int code)
{
    if (code <= -1001 && code >= -1999)
        return -code;
    return 1000;
}

int dap_error_set(struct dap_error *err, int code, const char *fmt, ...)
{
    if (err != NULL) {
        va_list ap;
        err->code = code;
        va_start(ap, fmt);
        dap_utf8_vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
        va_end(ap);
    }
    return code;
}

int dap_error_prefix(struct dap_error *err, const char *fmt, ...)
{
    char pre[512];
    char both[sizeof(pre) + sizeof(err->msg) + 2];
    va_list ap;

    if (err == NULL)
        return 0;
    va_start(ap, fmt);
    dap_utf8_vsnprintf(pre, sizeof(pre), fmt, ap);
    va_end(ap);
    snprintf(both, sizeof(both), "%s: %s", pre, err->msg);
    /* Truncate to the message size on purpose, on a character boundary. */
    dap_utf8_snprintf(err->msg, sizeof(err->msg), "%s", both);
    return err->code;
}
