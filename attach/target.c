/* target.c - see target.h. */
#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kube/names.h"

static const struct {
    const char *prefix;
    enum attach_target_kind kind;
} prefixes[] = {
    {"deployment/", ATTACH_TARGET_DEPLOYMENT},
    {"deployments/", ATTACH_TARGET_DEPLOYMENT},
    {"deploy/", ATTACH_TARGET_DEPLOYMENT},
    {"deployment.apps/", ATTACH_TARGET_DEPLOYMENT},
    {"statefulset/", ATTACH_TARGET_STATEFULSET},
    {"statefulsets/", ATTACH_TARGET_STATEFULSET},
    {"sts/", ATTACH_TARGET_STATEFULSET},
    {"statefulset.apps/", ATTACH_TARGET_STATEFULSET},
    {"pod/", ATTACH_TARGET_POD},
    {"pods/", ATTACH_TARGET_POD},
    {"po/", ATTACH_TARGET_POD},
};

#define FORMS                                                                  \
    "deployment/NAME, statefulset/NAME, pod/NAME or a label selector such "   \
    "as app=NAME"

int attach_target_parse(const char *s, struct attach_target *t,
                      struct dap_error *err)
{
    memset(t, 0, sizeof(*t));
    if (s == NULL || s[0] == '\0')
        return dap_error_set(err, DAP_ECONFIG,
                             "\"target\" is empty: write " FORMS);
    for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
        size_t l = strlen(prefixes[i].prefix);
        if (strncmp(s, prefixes[i].prefix, l) != 0)
            continue;
        if (kube_name_check(KUBE_NAME_SUBDOMAIN, "\"target\": the name",
                            s + l, err) < 0)
            return DAP_ECONFIG;
        t->kind = prefixes[i].kind;
        snprintf(t->name, sizeof(t->name), "%s", s + l);
        return 0;
    }
    if (strchr(s, '=') != NULL && strchr(s, '/') == NULL) {
        if (strlen(s) >= sizeof(t->selector))
            return dap_error_set(err, DAP_ECONFIG,
                                 "\"target\": the label selector is too "
                                 "long");
        t->kind = ATTACH_TARGET_SELECTOR;
        snprintf(t->selector, sizeof(t->selector), "%s", s);
        return 0;
    }
    return dap_error_set(err, DAP_ECONFIG,
                         "\"target\": \"%s\" is not understood: write " FORMS,
                         s);
}

int attach_target_selector_of(json_t *workload, char *out, size_t n)
{
    json_t *ml = json_object_get(
        json_object_get(json_object_get(workload, "spec"), "selector"),
        "matchLabels");
    const char *k;
    json_t *v;
    size_t o = 0;

    if (!json_is_object(ml) || json_object_size(ml) == 0)
        return DAP_EINVAL;
    out[0] = '\0';
    json_object_foreach(ml, k, v)
    {
        int w = snprintf(out + o, n - o, "%s%s=%s", o ? "," : "", k,
                         json_string_value(v) ? json_string_value(v) : "");
        if (w < 0 || (size_t)w >= n - o)
            return DAP_EINVAL;
        o += (size_t)w;
    }
    return 0;
}

static const char *str_at(json_t *o, const char *a, const char *b)
{
    return json_string_value(json_object_get(json_object_get(o, a), b));
}

static int pod_ready(json_t *pod)
{
    json_t *conds = json_object_get(json_object_get(pod, "status"),
                                    "conditions");
    json_t *c;
    size_t i;

    json_array_foreach(conds, i, c)
    {
        const char *type = json_string_value(json_object_get(c, "type"));
        if (type != NULL && strcmp(type, "Ready") == 0)
            return strcmp(json_string_value(json_object_get(c, "status"))
                              ? json_string_value(json_object_get(c, "status"))
                              : "",
                          "True") == 0;
    }
    return 0;
}

static int pod_running(json_t *pod)
{
    const char *phase = str_at(pod, "status", "phase");

    return phase != NULL && strcmp(phase, "Running") == 0 &&
           json_object_get(json_object_get(pod, "metadata"),
                           "deletionTimestamp") == NULL;
}

/* Older first; RFC 3339 timestamps compare as strings. */
static int older(json_t *a, json_t *b)
{
    const char *ta = str_at(a, "metadata", "creationTimestamp");
    const char *tb = str_at(b, "metadata", "creationTimestamp");
    int c = strcmp(ta ? ta : "", tb ? tb : "");

    if (c != 0)
        return c < 0;
    return strcmp(str_at(a, "metadata", "name") ?: "",
                  str_at(b, "metadata", "name") ?: "") < 0;
}

int attach_target_pick(json_t *pods, const char *want, json_t **pod, char *why,
                     size_t whylen, struct dap_error *err)
{
    json_t *best = NULL;
    json_t *p;
    size_t i;
    size_t ready = 0, running = 0;
    char states[400] = "";
    size_t so = 0;

    json_array_foreach(pods, i, p)
    {
        const char *name = str_at(p, "metadata", "name");
        if (want != NULL && name != NULL && strcmp(name, want) == 0) {
            if (!pod_running(p))
                return dap_error_set(err, DAP_ESTATE,
                                     "pod %s is %s, not Running: kdap can "
                                     "only attach to a running pod",
                                     want,
                                     str_at(p, "status", "phase")
                                         ?: "in an unknown phase");
            *pod = p;
            snprintf(why, whylen, "pod %s, as \"pod\" asks", want);
            return 0;
        }
        if (so < sizeof(states) - 80)
            so += (size_t)snprintf(states + so, sizeof(states) - so,
                                   "%s%s is %s", so ? ", " : "",
                                   name ?: "?",
                                   json_object_get(json_object_get(p, "metadata"),
                                                   "deletionTimestamp")
                                       ? "Terminating"
                                       : (str_at(p, "status", "phase")
                                              ?: "Unknown"));
        if (!pod_running(p))
            continue;
        running++;
        if (pod_ready(p)) {
            ready++;
            if (best == NULL || !pod_ready(best) || older(p, best))
                best = p;
        } else if (best == NULL || (!pod_ready(best) && older(p, best))) {
            best = p;
        }
    }
    if (want != NULL)
        return dap_error_set(err, DAP_ECONFIG,
                             "\"pod\": %s is not one of the target's pods "
                             "(%s)",
                             want, so ? states : "there are none");
    if (best == NULL)
        return dap_error_set(err, DAP_ESTATE,
                             "no pod of the target is running (%s); wait "
                             "for the rollout or check the pods' events",
                             so ? states : "it has no pods");
    *pod = best;
    if (running == 1)
        snprintf(why, whylen, "pod %s, the only running one",
                 str_at(best, "metadata", "name"));
    else if (pod_ready(best))
        snprintf(why, whylen,
                 "pod %s, the oldest of %zu ready replicas (set \"pod\" to "
                 "choose another)",
                 str_at(best, "metadata", "name"), ready);
    else
        snprintf(why, whylen, "pod %s, running but not ready (none is)",
                 str_at(best, "metadata", "name"));
    return 0;
}

const char *attach_target_container(json_t *pod, const char *want,
                                  struct dap_error *err)
{
    json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    json_t *c;
    size_t i;
    char names[300] = "";
    size_t o = 0;

    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        if (name == NULL)
            continue;
        if (want == NULL || strcmp(name, want) == 0)
            return name;
        if (o < sizeof(names) - 70)
            o += (size_t)snprintf(names + o, sizeof(names) - o, "%s%s",
                                  o ? ", " : "", name);
    }
    dap_error_set(err, DAP_ECONFIG,
                  "pod %s has no container \"%s\" (it has: %s); fix "
                  "\"container\"",
                  str_at(pod, "metadata", "name"), want ? want : "",
                  o ? names : "none");
    return NULL;
}

/* Levenshtein distance, capped: names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    size_t row[256];

    if (la > 250 || lb > 250)
        return 1000;
    for (size_t j = 0; j <= lb; j++)
        row[j] = j;
    for (size_t i = 1; i <= la; i++) {
        size_t prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= lb; j++) {
            size_t cur = row[j];
            size_t sub = prev + (a[i - 1] != b[j - 1]);
            size_t del = row[j] + 1;
            size_t ins = row[j - 1] + 1;
            row[j] = sub < del ? (sub < ins ? sub : ins) : (del < ins ? del : ins);
            prev = cur;
        }
    }
    return row[lb];
}

void attach_close_names(const char *want, json_t *names, char *out, size_t n)
{
    const char *pick[3] = {NULL, NULL, NULL};
    size_t dist[3] = {0, 0, 0};
    size_t k = 0;
    json_t *v;
    size_t i;
    size_t limit = strlen(want) / 3 + 2;

    out[0] = '\0';
    json_array_foreach(names, i, v)
    {
        const char *name = json_string_value(v);
        size_t d;
        if (name == NULL)
            continue;
        d = distance(want, name);
        /* A prefix or containment is close too: "web" for "web-frontend". */
        if (strstr(name, want) != NULL || strstr(want, name) != NULL)
            d = d < 1 ? d : 1;
        if (d > limit)
            continue;
        /* Keep the three closest, sorted. */
        size_t pos = k;
        while (pos > 0 && dist[pos - 1] > d)
            pos--;
        if (pos >= 3)
            continue;
        for (size_t m = (k < 3 ? k : 2); m > pos; m--) {
            pick[m] = pick[m - 1];
            dist[m] = dist[m - 1];
        }
        pick[pos] = name;
        dist[pos] = d;
        if (k < 3)
            k++;
    }
    for (size_t m = 0, o = 0; m < k; m++) {
        int w = snprintf(out + o, n - o, "%s%s",
                         m == 0 ? "" : (m == k - 1 ? " or " : ", "), pick[m]);
        if (w < 0 || (size_t)w >= n - o)
            break;
        o += (size_t)w;
    }
}

const char *attach_target_guess_runtime(json_t *pod, const char *container,
                                      const char **how)
{
    json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    json_t *c;
    size_t i;

    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *image = json_string_value(json_object_get(c, "image"));
        json_t *cmd = json_object_get(c, "command");
        json_t *env = json_object_get(c, "env");
        json_t *e;
        size_t k;

        if (name == NULL || strcmp(name, container) != 0)
            continue;
        json_array_foreach(cmd, k, e)
        {
            const char *s = json_string_value(e);
            const char *base = s ? strrchr(s, '/') : NULL;
            base = base ? base + 1 : s;
            if (k == 0 && base != NULL &&
                (strcmp(base, "node") == 0 || strcmp(base, "nodejs") == 0)) {
                *how = "the container's command runs node";
                return "node";
            }
        }
        json_array_foreach(env, k, e)
        {
            const char *n = json_string_value(json_object_get(e, "name"));
            if (n != NULL && strcmp(n, "NODE_VERSION") == 0) {
                *how = "the container sets NODE_VERSION";
                return "node";
            }
            if (n != NULL && (strcmp(n, "GOTRACEBACK") == 0 ||
                              strcmp(n, "GOMAXPROCS") == 0 ||
                              strcmp(n, "GODEBUG") == 0)) {
                *how = "the container sets Go runtime variables";
                return "go";
            }
        }
        if (image != NULL) {
            const char *slash = strrchr(image, '/');
            const char *repo = slash ? slash + 1 : image;
            if (strncmp(repo, "node", 4) == 0 || strstr(repo, "-node") ||
                strstr(repo, "node-")) {
                *how = "the image's name says node";
                return "node";
            }
            if (strncmp(repo, "go", 2) == 0 || strstr(repo, "-go") ||
                strstr(repo, "go-") || strstr(repo, "golang")) {
                *how = "the image's name says go";
                return "go";
            }
        }
    }
    return NULL;
}

/* The shell run in the debug container: choose the target process (PID 1
 * of the target container, or the one `process` matches among the
 * processes outside the debug container's own session), then become the
 * debugger.  Errors go to the container's log, which kdap reports. */
static const char select_script[] =
    "pat=\"$1\"; port=\"$2\"; shift 2\n"
    "if [ -z \"$pat\" ]; then pid=1; else\n"
    "  me=$(sed 's/.*) //' /proc/$$/stat | cut -d' ' -f4)\n"
    "  pids=''; all=''\n"
    "  for d in /proc/[0-9]*; do\n"
    "    p=${d#/proc/}\n"
    "    s=$(sed 's/.*) //' $d/stat 2>/dev/null | cut -d' ' -f4)\n"
    "    [ -z \"$s\" ] || [ \"$s\" = \"$me\" ] && continue\n"
    "    c=$(tr '\\0' ' ' < $d/cmdline 2>/dev/null)\n"
    "    [ -z \"$c\" ] && continue\n"
    "    all=\"$all\n  $p: $c\"\n"
    "    case \"$c\" in *\"$pat\"*) pids=\"$pids $p\";; esac\n"
    "  done\n"
    "  set -- $pids\n"
    "  if [ $# -eq 0 ]; then\n"
    "    echo \"kdap: no process matches \\\"$pat\\\"; the target's "
    "processes are:$all\" >&2; exit 3; fi\n"
    "  if [ $# -gt 1 ]; then\n"
    "    echo \"kdap: \\\"$pat\\\" matches $# processes ($*); make "
    "\\\"process\\\" more precise. The target's processes are:$all\" "
    ">&2; exit 4; fi\n"
    "  pid=$1; set --\n"
    "fi\n"
    /* The target's command line on one line, so that it can never make a
     * line of this log that kdap reads as a marker ($m: the nonce). */
    "echo \"kdap: debugging process $pid: $(tr '\\0\\n\\r' '   ' < "
    "/proc/$pid/cmdline)\"\n"
    "echo \"$m pid $pid\"\n"
    /* listening HEX: exit status 0 once something listens on the port
     * (state 0A) in the pod's network namespace */
    "listening() { grep -q \":$1 [0-9A-F]*:0000 0A \" /proc/net/tcp "
    "/proc/net/tcp6 2>/dev/null; }\n";

int attach_target_node_port(json_t *pod, const char *container, char *host,
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

/* `key` (runAsUser, runAsGroup) of the target container's securityContext,
 * else of the pod's: NULL when neither says (the image's USER applies). */
static json_t *target_run_as(json_t *pod, const char *target, const char *key)
{
    json_t *spec = json_object_get(pod, "spec");
    json_t *cs = json_object_get(spec, "containers");
    json_t *c, *v;
    size_t i;

    json_array_foreach(cs, i, c)
    {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n != NULL && strcmp(n, target) == 0) {
            v = json_object_get(json_object_get(c, "securityContext"), key);
            if (json_is_integer(v))
                return v;
        }
    }
    v = json_object_get(json_object_get(spec, "securityContext"), key);
    return json_is_integer(v) ? v : NULL;
}

/* The least the debugger needs, nothing the runtime would add by default
 * (README "The debug container").  delve and gdbserver ptrace the target
 * (SYS_PTRACE, which only root keeps: Kubernetes sets no ambient
 * capabilities), signal it (delve stops threads with tgkill, the gdb
 * script relays SIGINT): KILL, and open its /proc/PID/auxv and mem, mode
 * 0400 and 0600 of the target's user: delve only reads them
 * (DAC_READ_SEARCH; it writes through ptrace), gdbserver opens mem
 * read-write (DAC_OVERRIDE).  A target running as root needs neither KILL
 * nor the DAC one, but its user is not known here.  node needs
 * no ptrace, only SIGUSR1: as the target's own user when its spec says
 * which, with no capability at all; else root with KILL alone.  No new
 * privileges, a read-only root (the scripts and debuggers write nothing),
 * the runtime's seccomp profile. */
static json_t *debug_security_context(const char *runtime, json_t *pod,
                                      const char *target)
{
    json_t *uid = strcmp(runtime, "node") == 0
                      ? target_run_as(pod, target, "runAsUser")
                      : NULL;
    json_t *gid = target_run_as(pod, target, "runAsGroup");
    json_t *sc = json_pack("{s:b, s:b, s:{s:s}}", "allowPrivilegeEscalation",
                           0, "readOnlyRootFilesystem", 1, "seccompProfile",
                           "type", "RuntimeDefault");
    json_t *caps = json_pack("{s:[s]}", "drop", "ALL");

    if (sc == NULL || caps == NULL) {
        json_decref(sc);
        json_decref(caps);
        return NULL;
    }
    if (strcmp(runtime, "node") != 0)
        json_object_set_new(caps, "add",
                            json_pack("[s, s, s]", "SYS_PTRACE", "KILL",
                                      strcmp(runtime, "gdb") == 0
                                          ? "DAC_OVERRIDE"
                                          : "DAC_READ_SEARCH"));
    else if (uid == NULL)
        json_object_set_new(caps, "add", json_pack("[s]", "KILL"));
    json_object_set_new(sc, "capabilities", caps);
    json_object_set_new(sc, "runAsUser",
                        json_integer(uid != NULL ? json_integer_value(uid) : 0));
    if (uid != NULL && gid != NULL)
        json_object_set(sc, "runAsGroup", gid);
    /* explicit, so a pod-level runAsNonRoot cannot refuse a root debugger */
    json_object_set_new(sc, "runAsNonRoot",
                        json_boolean(uid != NULL && json_integer_value(uid) != 0));
    return sc;
}

/* go, gdb: the debugger listens on $port+1, where kdap-gate is its one
 * client; the gate listens on $port, kdap's tunnel's end, and is the
 * watchdog (it exits non-zero when kdap did not come in time).  "listening"
 * once the gate listens, i.e. holds the debugger. */
#define GATE_CHECK                                                            \
    "[ -x /usr/bin/kdap-gate ] || { echo \"kdap: the debugger image has "   \
    "no /usr/bin/kdap-gate: use an image kdap assembles (kdap image "        \
    "debugger)\" >&2; exit 7; }\n"
#define GATE_START                                                            \
    "/usr/bin/kdap-gate $port $((port+1)) %d &\n"                             \
    "gate=$!; h=$(printf %%04X $port)\n"                                      \
    "until listening $h; do kill -0 $gate 2>/dev/null && kill -0 $dbg "      \
    "2>/dev/null || break; sleep 0.02; done\n"                                \
    "kill -0 $gate 2>/dev/null && kill -0 $dbg 2>/dev/null && "              \
    "echo \"$m listening\"\n"

json_t *attach_debug_container_new(const char *runtime, const char *name,
                                 const char *image, const char *target,
                                 const char *process, int port, json_t *pod,
                                 const char *nonce)
{
    char script[sizeof(select_script) + 2048];
    char portstr[16];
    json_t *c;
    char spec_host[64];
    /* Every line kdap acts on starts with "kdap NONCE " (the script's $m);
     * node: the inspector's host as far as the pod's spec says (the script
     * cannot read the target's environment, see attach_target_node_port). */
    int off = snprintf(script, sizeof(script), "m='kdap %s'; host='%s'\n",
                       nonce,
                       attach_target_node_port(pod, target, spec_host,
                                             sizeof(spec_host)) >= 0 &&
                               spec_host[0]
                           ? spec_host
                           : "127.0.0.1");

    snprintf(portstr, sizeof(portstr), "%d", port);
    if (strcmp(runtime, "go") == 0) {
        /* delve serves one client and detaches when it leaves, so the
         * container ends with the session.  That client is kdap-gate
         * (adapters/gate/gate.c), which holds delve's port before anything
         * else of the pod can, and relays kdap's tunnel (on $port) only
         * after the session's secret.  If kdap never comes (it gave up or
         * died before connecting), the gate exits and the script interrupts
         * delve, which detaches too: a debugger never holds the service
         * halted with nobody attached. */
        snprintf(script + off, sizeof(script) - off,
                 "%s" GATE_CHECK
                 "/usr/bin/dlv --headless --api-version=2 "
                 "--listen=127.0.0.1:$((port+1)) --only-same-user=false "
                 "attach $pid &\n"
                 "dbg=$!\n" GATE_START
                 "wait $gate || kill -INT $dbg\n"
                 "wait $dbg\n",
                 select_script, ATTACH_CLIENT_WAIT_S);
    } else if (strcmp(runtime, "gdb") == 0) {
        /* gdbserver --attach holds the process stopped until a client
         * comes.  --once: when that client leaves, even without detaching
         * (kdap killed), gdbserver detaches (breakpoints removed) and
         * exits, so the container ends.  If no client ever comes, the
         * watchdog (as delve's) ends it: gdbserver ignores SIGINT and
         * SIGQUIT but dies on SIGTERM, and the kernel then detaches the
         * never resumed process, which runs on with TracerPid 0.
         * kdap's gdb runs non-stop, so gdbserver stops threads one by one
         * and never interrupts with kill(-PID, SIGINT), which for PID 1
         * would be kill(-1): every process of the container. */
        snprintf(script + off, sizeof(script) - off,
                 "%s" GATE_CHECK
                 "/usr/bin/gdbserver --once --attach 127.0.0.1:$((port+1)) "
                 "$pid &\n"
                 "dbg=$!\n" GATE_START
                 "wait $gate || kill -TERM $dbg\n"
                 "while kill -0 $dbg 2>/dev/null; do wait $dbg; done\n",
                 select_script, ATTACH_CLIENT_WAIT_S);
    } else {
        /* node: SIGUSR1 opens the inspector (a no-op if it is open), on
         * 9229 unless the process's options say another port: a process
         * started with --inspect=PORT is used as it is ("open"; kdap leaves
         * it so), else kdap opens it ("opened"; kdap closes it when it
         * detaches).  Opening it on a host that is not loopback would give
         * the pod's network a debugger: refused, never widened.  Node opens
         * it a moment after the signal, so the marker waits (up to 5 s) for
         * the port to listen. */
        snprintf(script + off, sizeof(script) - off,
                 "%sset -f\n"
                 "for a in $(tr '\\0' ' ' < /proc/$pid/cmdline) "
                 "$(tr '\\0' '\\n' < /proc/$pid/environ 2>/dev/null | "
                 "sed -n 's/^NODE_OPTIONS=//p'); do\n"
                 "  case \"$a\" in --inspect=*|--inspect-brk=*|--inspect-wait=*"
                 "|--inspect-port=*|--debug-port=*)\n"
                 "    v=${a#*=}; [ \"${v%%:*}\" != \"$v\" ] && host=${v%%:*}; "
                 "v=${v##*:}\n"
                 "    case \"$v\" in ''|*[!0-9]*) ;; *) port=$v;; esac;; esac\n"
                 "done\n"
                 "h=$(printf %%04X $port)\n"
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
                 "echo \"$m inspector opened $port $host\"",
                 select_script);
    }
    /* s:o: no securityContext (out of memory) fails the whole object
     * rather than sending a container with the runtime's defaults */
    c = json_pack("{s:s, s:s, s:s, s:[s, s, s, s, s, s], s:o, "
                  "s:s, s:s, s:[{s:s, s:s}], s:b, s:b}",
                  "name", name, "image", image, "targetContainerName", target,
                  "command", "/bin/sh", "-c", script, "kdap-debug",
                  process != NULL ? process : "", portstr, "securityContext",
                  debug_security_context(runtime, pod, target),
                  "terminationMessagePolicy", "FallbackToLogsOnError",
                  "imagePullPolicy", "IfNotPresent", "env", "name", "HOME",
                  "value", "/root", "stdin", 0, "tty", 0);
    return c;
}

int attach_debug_marker(const char *log, size_t len, const char *nonce,
                      const char *word, char *rest, size_t n)
{
    char head[96];
    size_t hl = (size_t)snprintf(head, sizeof(head), "kdap %s %s", nonce,
                                 word);
    const char *end;

    if (log == NULL)
        return 0;
    end = log + len;
    for (const char *l = log; l < end;) {
        const char *nl = memchr(l, '\n', (size_t)(end - l));
        size_t ll;
        if (nl == NULL)
            return 0; /* an unfinished line is not a marker yet */
        ll = (size_t)(nl - l);
        if (ll > 0 && l[ll - 1] == '\r')
            ll--;
        if (ll >= hl && memcmp(l, head, hl) == 0 &&
            (ll == hl || l[hl] == ' ')) {
            size_t k = ll > hl ? ll - hl - 1 : 0;
            if (k >= n)
                k = n - 1;
            memcpy(rest, l + (ll > hl ? hl + 1 : hl), k);
            rest[k] = '\0';
            return 1;
        }
        l = nl + 1;
    }
    return 0;
}
