/* target.c - see target.h. */
#include "target.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../adapters/adapter.h"
#include "../kube/names.h"
#include "../kube/workload.h"

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
    return kube_workload_selector(workload, out, n);
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

/* Does the image's repository name (`repo`, no registry or path) say
 * `word`: it starts with it, or has "-WORD" or "WORD-" in it? */
static int image_says(const char *repo, const char *word)
{
    char dash[64];

    if (strncmp(repo, word, strlen(word)) == 0)
        return 1;
    snprintf(dash, sizeof(dash), "-%s", word);
    if (strstr(repo, dash) != NULL)
        return 1;
    snprintf(dash, sizeof(dash), "%s-", word);
    return strstr(repo, dash) != NULL;
}

static int listed(const char *const *list, const char *s)
{
    for (size_t i = 0; list != NULL && list[i] != NULL; i++) {
        if (strcmp(list[i], s) == 0)
            return 1;
    }
    return 0;
}

const char *attach_target_guess_runtime(json_t *pod, const char *container,
                                        char *how, size_t howlen)
{
    json_t *cs = json_object_get(json_object_get(pod, "spec"), "containers");
    const struct adapter_kind *k;
    json_t *c;
    size_t i;

    /* The profiles' rules, strongest first: what the container runs, then
     * what its environment sets, then what its image is called. */
    json_array_foreach(cs, i, c)
    {
        const char *name = json_string_value(json_object_get(c, "name"));
        const char *image = json_string_value(json_object_get(c, "image"));
        const char *cmd = json_string_value(
            json_array_get(json_object_get(c, "command"), 0));
        const char *base = cmd ? strrchr(cmd, '/') : NULL;
        json_t *e;
        size_t j;

        if (name == NULL || strcmp(name, container) != 0)
            continue;
        base = base ? base + 1 : cmd;
        for (size_t r = 0; base != NULL && (k = adapter_kind_at(r)); r++) {
            if (listed(k->detect_commands, base)) {
                snprintf(how, howlen, "the container's command runs %s",
                         base);
                return k->runtime;
            }
        }
        json_array_foreach(json_object_get(c, "env"), j, e)
        {
            const char *n = json_string_value(json_object_get(e, "name"));
            for (size_t r = 0; n != NULL && (k = adapter_kind_at(r)); r++) {
                if (listed(k->detect_env, n)) {
                    snprintf(how, howlen, "the container sets %s", n);
                    return k->runtime;
                }
            }
        }
        if (image != NULL) {
            const char *slash = strrchr(image, '/');
            const char *repo = slash ? slash + 1 : image;
            for (size_t r = 0; (k = adapter_kind_at(r)); r++) {
                for (size_t w = 0;
                     k->detect_images != NULL && k->detect_images[w]; w++) {
                    if (image_says(repo, k->detect_images[w])) {
                        snprintf(how, howlen, "the image's name says %s",
                                 k->detect_images[w]);
                        return k->runtime;
                    }
                }
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
 * (README "The debug container"): the capabilities its profile names, as
 * root (SYS_PTRACE only root keeps: Kubernetes sets no ambient
 * capabilities), or none at all as the target's own user when the profile
 * allows it and the spec says which user.  No new privileges, a read-only
 * root (the scripts and debuggers write nothing), the runtime's seccomp
 * profile. */
static json_t *debug_security_context(const struct adapter_kind *k,
                                      json_t *pod, const char *target)
{
    json_t *uid = k->as_target_user ? target_run_as(pod, target, "runAsUser")
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
    if (uid == NULL && k->caps != NULL && k->caps[0] != NULL) {
        json_t *add = json_array();
        for (size_t i = 0; k->caps[i] != NULL; i++)
            json_array_append_new(add, json_string(k->caps[i]));
        json_object_set_new(caps, "add", add);
    }
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

/* For a profile that is `gated`: the debugger listens on $dport, where
 * kdap-gate (adapters/gate/gate.c) is its one client; the gate listens on
 * $port, kdap's tunnel's end, relays only a connection that starts with
 * the session's secret, and is the watchdog (it exits non-zero when kdap
 * did not come in time). */
static const char gate_prelude[] =
    "dport=$((port+1))\n"
    "[ -x /usr/bin/kdap-gate ] || { echo \"kdap: the debugger image has no "
    "/usr/bin/kdap-gate: use an image kdap assembles (kdap image "
    "debugger)\" >&2; exit 7; }\n"
    "gate_start() {\n"
    "  /usr/bin/kdap-gate $port $dport $wait & gate=$!\n"
    "  h=$(printf %04X $port)\n"
    "  until listening $h; do kill -0 $gate 2>/dev/null && kill -0 $dbg "
    "2>/dev/null || break; sleep 0.02; done\n"
    "  kill -0 $gate 2>/dev/null && kill -0 $dbg 2>/dev/null\n"
    "}\n";

json_t *attach_debug_container_new(const char *runtime, const char *name,
                                   const char *image, const char *target,
                                   const char *process, int port, json_t *pod,
                                   const char *nonce)
{
    const struct adapter_kind *k = adapter_kind_find(runtime);
    char host[64] = "";
    char portstr[16];
    char *script;
    size_t n;
    json_t *c;

    if (k == NULL || k->script == NULL)
        return NULL;
    /* Every line kdap acts on starts with "kdap NONCE " (the script's $m);
     * $host: the debugger's host as far as the pod's spec says (the script
     * cannot read the target's environment, see adapter_kind.port_fn). */
    if (k->port_fn != NULL)
        (void)k->port_fn(pod, target, host, sizeof(host));
    n = strlen(nonce) + sizeof(host) + sizeof(select_script) +
        sizeof(gate_prelude) + strlen(k->script) + 64;
    script = malloc(n);
    if (script == NULL)
        return NULL;
    snprintf(script, n, "m='kdap %s'; host='%s'; wait=%d\n%s%s%s", nonce,
             host[0] ? host : "127.0.0.1", ATTACH_CLIENT_WAIT_S,
             select_script, k->gated ? gate_prelude : "", k->script);
    snprintf(portstr, sizeof(portstr), "%d", port);
    /* s:o: no securityContext (out of memory) fails the whole object
     * rather than sending a container with the runtime's defaults */
    c = json_pack("{s:s, s:s, s:s, s:[s, s, s, s, s, s], s:o, "
                  "s:s, s:s, s:[{s:s, s:s}], s:b, s:b}",
                  "name", name, "image", image, "targetContainerName", target,
                  "command", "/bin/sh", "-c", script, "kdap-debug",
                  process != NULL ? process : "", portstr, "securityContext",
                  debug_security_context(k, pod, target),
                  "terminationMessagePolicy", "FallbackToLogsOnError",
                  "imagePullPolicy", "IfNotPresent", "env", "name", "HOME",
                  "value", "/root", "stdin", 0, "tty", 0);
    free(script);
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

int attach_debug_ready(const struct adapter_kind *k, const char *log,
                       size_t len, const char *nonce, json_t *cfg, int *port,
                       char *warn, size_t warnlen, struct dap_error *err)
{
    char rest[300] = "", said[32];
    int pid = 0;

    warn[0] = '\0';
    if (k->ready_fn == NULL)
        return 0;
    if (attach_debug_marker(log, len, nonce, "pid", said, sizeof(said)))
        sscanf(said, "%d", &pid);
    (void)attach_debug_marker(log, len, nonce, k->ready, rest, sizeof(rest));
    return k->ready_fn(cfg, rest, pid, port, warn, warnlen, err);
}
