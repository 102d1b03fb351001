/* gdb_profile.c - the gdb runtime's profile (adapter.h): the debugger
 * image, the debug container's script, what a service must give and what
 * gdb needs to find the target's libraries.  The backend is gdb.c. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "adapter_int.h"

/* gdb stops on signals as its `handle` table says */
static const char *const gdb_filters[] = {NULL};
static const char *const gdb_env[] = {ADAPTER__IMAGE_PATH, "HOME=/root",
                                      NULL};
/* ptrace the target; signal it; open its
 * /proc/PID/mem read-write, 0600 of the target's user (DAC_OVERRIDE).
 * SYS_PTRACE only root keeps. */
static const char *const gdb_caps[] = {"SYS_PTRACE", "KILL", "DAC_OVERRIDE",
                                       NULL};

/* gdb loads "program" here: refuse a missing one before the pod is
 * touched, as gdbserver would hold the process halted until its watchdog
 * gives up.  (access() on a local path: a stat, not a wait.) */
static int gdb_check(json_t *cfg, struct dap_error *err)
{
    const char *p = json_string_value(json_object_get(cfg, "program"));

    if (p == NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "the gdb runtime needs \"program\": the local "
                             "path of the binary with debug info that the "
                             "target runs");
    if (access(p, R_OK) != 0)
        return dap_error_set(err, DAP_ECONFIG,
                             "\"program\": %s: %s (it must be the local "
                             "path of the binary with debug info that the "
                             "target runs)",
                             p, strerror(errno));
    return 0;
}

/* gdb runs here, the libraries are in the pod: gdbserver reads them as
 * /proc/PID/root/... (PID as the debug container logged it).  Not with
 * vFile:setfs, which makes gdbserver enter the target's mount namespace:
 * that needs CAP_SYS_ADMIN, and fails. */
static int gdb_ready(json_t *cfg, const char *rest, int pid, int *port,
                     char *warn, size_t warnlen, struct dap_error *err)
{
    json_t *setup = json_object_get(cfg, "setupCommands");
    char sysroot[64];

    (void)rest;
    (void)port;
    (void)warnlen;
    (void)err;
    warn[0] = '\0';
    if (setup == NULL) {
        setup = json_array();
        json_object_set_new(cfg, "setupCommands", setup);
    }
    if (json_is_array(setup)) /* else the backend says what is wrong */
        json_array_insert_new(setup, 0,
                              json_string("set remote hostio-setfs-packet "
                                          "off"));
    if (json_object_get(cfg, "sysroot") == NULL && pid > 0) {
        snprintf(sysroot, sizeof(sysroot), "target:/proc/%d/root", pid);
        json_object_set_new(cfg, "sysroot", json_string(sysroot));
    }
    return 0;
}

const struct adapter_kind adapter__gdb_kind = {
    .runtime = "gdb",
    .description = "C/C++/Rust through gdb (MI) and gdbserver",
    .exception_filters = gdb_filters,
    .image_binary = "gdbserver",
    .image_binary_dst = "/usr/bin/gdbserver",
    .image_env = gdb_env,
    /* gdbserver --attach holds the process stopped until a client comes
     * (kdap-gate, which relays kdap's tunnel only).  --once: when that
     * client leaves, even without detaching (kdap killed), gdbserver
     * detaches (breakpoints removed) and exits, so the container ends.  If
     * kdap never comes, the gate fails and gdbserver is ended: it ignores
     * SIGINT and SIGQUIT but dies on SIGTERM, and the kernel then detaches
     * the never resumed process, which runs on with TracerPid 0.  kdap's
     * gdb runs non-stop, so gdbserver stops threads one by one and never
     * interrupts with kill(-PID, SIGINT), which for PID 1 would be
     * kill(-1): every process of the container. */
    .script = "/usr/bin/gdbserver --once --attach 127.0.0.1:$dport $pid &\n"
              "dbg=$!\n"
              "gate_start && echo \"$m listening\"\n"
              "wait $gate || kill -TERM $dbg\n"
              "while kill -0 $dbg 2>/dev/null; do wait $dbg; done\n",
    .ready = "listening",
    .gated = 1,
    .debugger = "gdb",
    .caps = gdb_caps,
    .check_fn = gdb_check,
    .ready_fn = gdb_ready,
};
