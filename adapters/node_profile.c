/* node_profile.c - the node runtime's profile (adapter.h): the debugger
 * image, the debug container's script and what the target's spec says of
 * its inspector.  The backend itself is node.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "adapter_int.h"

static const char *const node_filters[] = {"all", "uncaught", NULL};
static const char *const node_env[] = {ADAPTER__IMAGE_PATH, "HOME=/root",
                                       NULL};
/* node needs no ptrace, only SIGUSR1: as the target's own user when its
 * spec says which, with no capability at all; else root with KILL. */
static const char *const node_caps[] = {"KILL", NULL};
static const char *const node_commands[] = {"node", "nodejs", NULL};
static const char *const node_env_vars[] = {"NODE_VERSION", NULL};
static const char *const node_images[] = {"node", NULL};

/* The inspector port that NODE_OPTIONS in the target container's env
 * (`--inspect-port=[HOST:]PORT` and the other --inspect forms) names, or 0;
 * its HOST in `host` ("" when none is named).
 * The debug container, having no ptrace access to a process with more
 * capabilities than its own, cannot read the target's /proc/PID/environ
 * (it still reads the command line), so kdap reads the spec. */
static int node_port(json_t *pod, const char *container, char *host,
                     size_t hostlen)
{
    json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    json_t *c, *e;
    size_t i, j;
    int port = 0;

    if (hostlen > 0)
        host[0] = '\0';
    json_array_foreach(cs, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n == NULL || strcmp(n, container) != 0)
            continue;
        json_array_foreach(json_object_get(c, "env"), j, e)
        {
            const char *k = json_string_value(json_object_get(e, "name"));
            const char *v = json_string_value(json_object_get(e, "value"));
            if (k == NULL || v == NULL || strcmp(k, "NODE_OPTIONS") != 0)
                continue;
            for (const char *p = v; (p = strstr(p, "--")) != NULL; p += 2) {
                static const char *const opts[] = {
                    "--inspect=", "--inspect-brk=", "--inspect-wait=",
                    "--inspect-port=", "--debug-port="};
                for (size_t o = 0; o < sizeof(opts) / sizeof(opts[0]); o++) {
                    size_t l = strlen(opts[o]);
                    const char *end, *colon;
                    if (strncmp(p, opts[o], l) != 0)
                        continue;
                    end = p + l + strcspn(p + l, " \t");
                    colon = p + l;
                    for (const char *q = p + l; q < end; q++)
                        if (*q == ':')
                            colon = q + 1;
                    if (colon < end && end - colon <= 5 &&
                        strspn(colon, "0123456789") == (size_t)(end - colon))
                        port = atoi(colon);
                    /* HOST: only characters a host may have (it goes into
                     * the debug container's script) */
                    if (colon > p + l + 1 && (size_t)(colon - 1 - p - l) <
                                                 hostlen &&
                        strspn(p + l, "0123456789abcdefABCDEF"
                                      "ghijklmnopqrstuvwxyzGHIJKLMNOPQRSTUVWXYZ"
                                      ".-_:[]") >= (size_t)(colon - 1 - p - l)) {
                        memcpy(host, p + l, (size_t)(colon - 1 - p - l));
                        host[colon - 1 - p - l] = '\0';
                    }
                }
            }
        }
    }
    return port > 0 && port < 65536 ? port : 0;
}

/* "open|opened PORT HOST": the inspector's port as the debug container
 * read it from the process's --inspect* options (9229 when they say none),
 * whether it was open already, and its host. */
static int node_ready(json_t *cfg, const char *rest, int pid, int *port,
                      char *warn, size_t warnlen, struct dap_error *err)
{
    char state[16], host[256];
    int p = 0;

    (void)pid;
    (void)err;
    warn[0] = '\0';
    if (sscanf(rest, "%15s %d %255s", state, &p, host) != 3 || p <= 0 ||
        p >= 65536)
        return 0;
    *port = p;
    /* kdap opened it: kdap closes it when it detaches */
    if (strcmp(state, "opened") == 0 &&
        json_object_get(cfg, "closeInspector") == NULL)
        json_object_set_new(cfg, "closeInspector", json_true());
    if (strncmp(host, "127.", 4) != 0 && strcmp(host, "localhost") != 0 &&
        strcmp(host, "::1") != 0 && strcmp(host, "[::1]") != 0)
        snprintf(warn, warnlen,
                 "the process's inspector listens on %s port %d, not only "
                 "on loopback: whatever reaches the pod's network can debug "
                 "it. kdap uses it as it is; start node with "
                 "--inspect=127.0.0.1:%d to close that",
                 host, p, p);
    return 0;
}

const struct adapter_kind adapter__node_kind = {
    .runtime = "node",
    .description = "Node.js through its inspector (CDP)",
    .exception_filters = node_filters,
    .image_env = node_env,
    /* SIGUSR1 opens the inspector (a no-op if it is open), on 9229 unless
     * the process's options say another port: a process started with
     * --inspect=PORT is used as it is ("open"; kdap leaves it so), else
     * kdap opens it ("opened"; kdap closes it when it detaches).  Opening
     * it on a host that is not loopback would give the pod's network a
     * debugger: refused, never widened.  Node opens it a moment after the
     * signal, so the marker waits (up to 5 s) for the port to listen. */
    .script =
        "set -f\n"
        "for a in $(tr '\\0' ' ' < /proc/$pid/cmdline) "
        "$(tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | "
        "sed -n 's/^NODE_OPTIONS=//p'); do\n"
        "  case \"$a\" in --inspect=*|--inspect-brk=*|--inspect-wait=*"
        "|--inspect-port=*|--debug-port=*)\n"
        "    v=${a#*=}; [ \"${v%:*}\" != \"$v\" ] && host=${v%:*}; "
        "v=${v##*:}\n"
        "    case \"$v\" in ''|*[!0-9]*) ;; *) port=$v;; esac;; esac\n"
        "done\n"
        "h=$(printf %04X $port)\n"
        "if listening $h; then echo \"$m inspector open $port $host\"; "
        "exit 0; fi\n"
        "case \"$host\" in 127.*|localhost|::1|'[::1]') ;; *)\n"
        "  echo \"kdap: the process's inspector is not open and its "
        "options say host $host, which is not loopback: opening it "
        "would let anything that reaches the pod's network debug the "
        "process, and kdap does not. Start node with "
        "--inspect-port=127.0.0.1:$port (kdap opens it then), or "
        "with the inspector open\" >&2; exit 5;; esac\n"
        "kill -USR1 $pid || exit 6\n"
        "n=0; until listening $h || [ $n -ge 100 ]; do sleep 0.05; "
        "n=$((n+1)); done\n"
        "echo \"$m inspector opened $port $host\"\n",
    .ready = "inspector",
    .debugger = "node",
    .port = 9229,
    .port_fn = node_port,
    .caps = node_caps,
    .as_target_user = 1,
    /* the inspector reports the console output itself
     * (Runtime.consoleAPICalled, with stdout/stderr and log points) */
    .own_output = 1,
    .detect_commands = node_commands,
    .detect_env = node_env_vars,
    .detect_images = node_images,
    .ready_fn = node_ready,
};
