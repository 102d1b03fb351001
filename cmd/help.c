/* help.c - kdap's manual (see cmd.h), and its two renderers.
 *
 * The manual is a list of lines, each marked by its first character:
 *   "#TITLE"   a section;
 *   "@TERM"    a tagged entry (an option, a key); the text lines that follow
 *              describe it, up to the next entry, section or blank line;
 *   "|TEXT"    a verbatim line (a synopsis, an example);
 *   ""         a paragraph break;
 *   otherwise  running text, already wrapped for a terminal (man re-fills
 *              it).
 * Text is plain ASCII: no roff, no Markdown.  The renderers escape what
 * roff would take as requests or escapes.
 */
#include <errno.h>
#include <string.h>

#include "cmd.h"

#ifndef KDAP_VERSION
#define KDAP_VERSION "0.0.0"
#endif

static const char *const manual[] = {
    "#NAME",
    "kdap - a Debug Adapter Protocol server for services in Kubernetes",
    "#SYNOPSIS",
    "|kdap [--log FILE] [--log-level error|warn|info|debug]",
    "|kdap doctor [--kubeconfig F] [--context C] [-n NS]",
    "|kdap port-forward [--kubeconfig F] [--context C] [-n NS] [--address A]",
    "|                  pod/NAME [LOCAL:]REMOTE...",
    "|kdap exec [--kubeconfig F] [--context C] [-n NS] [-i] [-c CONTAINER]",
    "|          pod/NAME -- COMMAND...",
    "|kdap kube-request [--kubeconfig F] [--context C] [--watch [--timeout S]]",
    "|                  METHOD PATH [BODY]",
    "|kdap deploy [--kubeconfig F] [--context C] [-n NS] deployment/NAME",
    "|            --image REF [--container NAME] [--replicas N]",
    "|            [--probes relax|keep|remove] [--timeout S]",
    "|kdap restore [--kubeconfig F] [--context C] [-n NS]",
    "|             [deployment/NAME | statefulset/NAME]...",
    "|kdap image debugger --runtime go|node|gdb --repo REPO",
    "|                    [--platform linux/ARCH] [--insecure] [--ca FILE]",
    "|                    [--debugger PATH] [--busybox PATH]",
    "|kdap image push SRC[:DEST]... --repo REPO[:TAG] [--base REF]",
    "|                [--platform OS/ARCH] [--entrypoint ARG]... [--env N=V]...",
    "|                [--workdir DIR] [--insecure] [--ca FILE] [--chunk-size N]",
    "|kdap --version | --help | --man",
    "#DESCRIPTION",
    "kdap is a Debug Adapter Protocol (DAP) server: an editor (VS Code,",
    "Neovim's nvim-dap, Emacs dap-mode) starts it as its debug adapter and",
    "speaks DAP on its stdin and stdout.  Nothing but DAP is ever written to",
    "stdout.  kdap attaches to services in a Kubernetes cluster (an ephemeral",
    "debug container next to the process, with only the capabilities its",
    "debugger needs, and a tunnel through the API server) or to debuggers",
    "that already listen, and puts",
    "all of them into one debug session: Go through delve, Node.js through",
    "its inspector, C, C++ and Rust through gdbserver and a local gdb.",
    "",
    "On disconnect, when stdin closes and on SIGTERM or SIGINT, kdap removes",
    "its breakpoints and detaches: the programs keep running and the debug",
    "containers end.",
    "#OPTIONS",
    "@--log FILE",
    "append the log to FILE (also KDAP_LOG); without it warnings and errors",
    "go to stderr",
    "@--log-level LEVEL",
    "error, warn (the default), info or debug (also KDAP_LOG_LEVEL); debug",
    "logs every DAP message in and out, never a token or a key",
    "@--version",
    "print kdap's version and the versions of the libraries it runs with",
    "@--help",
    "print this manual",
    "@--man",
    "print this manual as a man page (roff)",
    "#COMMANDS",
    "@doctor",
    "reach the cluster, show who you are, check with SelfSubjectAccessReview",
    "every permission kdap needs and report the namespace's Pod Security",
    "level; exit status 0 only when kdap can work there",
    "@port-forward",
    "the tunnel on its own, as kubectl port-forward: one WebSocket",
    "(v4.channel.k8s.io) per connection",
    "@exec",
    "run a command in a container; exit with its exit status",
    "@kube-request",
    "one raw API request, for troubleshooting",
    "@deploy",
    "launch's deploy step by hand: patch the container's image, replicas and",
    "probes (the originals saved in the annotation kdap.dev/launch), watch",
    "the rollout, and on a new pod's ErrImagePull, CrashLoopBackOff, the",
    "progress deadline or the timeout put the workload back and say why",
    "@restore",
    "put back a workload a launch changed (its image, replicas, probes) from",
    "the annotation kdap.dev/launch, for a session killed before its",
    "disconnect did it; without a workload, every deployment of the",
    "namespace that carries the annotation.  What someone else changed",
    "meanwhile is kept and named",
    "@image debugger",
    "assemble kdap's debugger image for a runtime from the debuggers on",
    "this machine (plus a static busybox), push it to REPO (nothing is",
    "uploaded when the registry has it) and print REPO@sha256:... as the",
    "only line on stdout",
    "@image push",
    "push an image of local files (a directory to DEST, default /; a file",
    "to DEST, default /NAME) on a base (any image; from an index, the",
    "platform's); prints REPO@sha256:...",
    "",
    "Registry credentials are found as docker and podman find them:",
    "REGISTRY_AUTH_FILE, ${XDG_RUNTIME_DIR}/containers/auth.json,",
    "~/.config/containers/auth.json, ${DOCKER_CONFIG:-~/.docker}/config.json",
    "(auths, credHelpers, credsStore).  TLS is verified with the system",
    "store or --ca; plain HTTP only for --insecure or a loopback registry.",
    "",
    "The cluster is found as kubectl finds it: --kubeconfig (used alone),",
    "else KUBECONFIG (files separated by ':' and merged as kubectl merges",
    "them), else ~/.kube/config, else the in-cluster service account.",
    "#ATTACH CONFIGURATION",
    "The arguments of an attach request (an editor's launch configuration).",
    "One service may be written at the top level instead of in services.",
    "@services",
    "array: the services of this session, each an object with the keys of",
    "SERVICE KEYS",
    "@kubeconfig",
    "string: a kubeconfig file used alone (like kubectl --kubeconfig);",
    "default KUBECONFIG, else ~/.kube/config, else the in-cluster service",
    "account",
    "@context",
    "string: the kubeconfig context; default its current-context",
    "@namespace",
    "string: default namespace of the services; default the context's, else",
    "default",
    "#SERVICE KEYS",
    "@name",
    "string: the service's name in the session; thread names are prefixed",
    "with it when a session holds several services.  Default: the target",
    "@target",
    "string: what to debug in the cluster: deployment/NAME,",
    "statefulset/NAME, pod/NAME (kubectl's deploy/, sts/, po/ too) or a",
    "label selector app=NAME.  Resolves to one running pod: the oldest ready",
    "replica unless pod names one; kdap says which and why",
    "@pod",
    "string: with several replicas, the pod to debug",
    "@container",
    "string: the container to debug; default the pod's first",
    "@namespace",
    "string: this service's namespace, over the top-level one",
    "@runtime",
    "string: go, node, gdb or python.  Default: detected from the container",
    "(command, environment, image name), else go",
    "@process",
    "string: when the container runs several processes, a substring of the",
    "command line of the one to debug (default: the container's main",
    "process)",
    "@imageRepo",
    "string: a repository kdap may push to (REGISTRY/PATH; also",
    "KDAP_IMAGE_REPO): without debuggerImage, kdap assembles the runtime's",
    "debugger image from the local debuggers, pushes it there (nothing is",
    "uploaded when it is there already) and runs it by digest",
    "@debuggerImage",
    "string: the debug container's image instead; a tag is resolved to its",
    "digest before use",
    "@debuggerBinaries",
    "object: {dlv, gdbserver, gate, busybox: PATH}: other local builds to",
    "put in the debugger image (default: dlv and gdbserver from PATH,",
    "kdap-gate from kdap's own installation, /bin/busybox)",
    "@imageInsecure, imageCA",
    "bool, string: plain HTTP (or unverified TLS) for imageRepo's registry;",
    "a PEM file of CAs to trust for it",
    "@connect",
    "string: instead of target, HOST:PORT of a debugger that already listens",
    "(a headless delve, a Node inspector, a gdbserver, a debugpy)",
    "@localRoot, remoteRoot",
    "string: source path mapping: a file under localRoot here is under",
    "remoteRoot in the binary.  With localRoot alone kdap infers remoteRoot",
    "from the paths the binary recorded (delve)",
    "@substitutePath",
    "array of {from, to}: more mappings, from local and to remote, tried in",
    "order first",
    "@stopOnEntry",
    "bool: go: stay stopped after attaching",
    "@stackTraceDepth, showGlobalVariables, showRegisters,",
    "@hideSystemGoroutines, goroutineFilters",
    "go: passed to delve as they are",
    "@sourceMaps",
    "bool: node: follow source maps (inline and .map files, read through the",
    "debuggee); default true",
    "@sourceMapPathOverrides",
    "object: node: {\"PREFIX*\": \"/path/*\"} rewrites the paths a source map",
    "names into paths as the debuggee sees them",
    "@closeInspector",
    "bool: node: end the inspector as the last act of detaching; default true",
    "when kdap opened it (in the cluster)",
    "@hostHeader",
    "string: node: the Host header for the inspector (default",
    "127.0.0.1:PORT)",
    "@requestTimeout",
    "number: node, gdb: seconds the debugger may take to answer one call of",
    "a request (default 30); after that the request fails saying so",
    "@pathMappings",
    "array of {localRoot, remoteRoot}: python: more mappings as",
    "vscode-python writes them, tried after substitutePath",
    "@justMyCode, redirectOutput, showReturnValue",
    "python: passed to debugpy's attach as they are (justMyCode default",
    "true)",
    "@program",
    "string: gdb: the local binary with debug info (required)",
    "@gdbPath, sysroot, solibSearchPath, sourceMap, setupCommands,",
    "@stopAtConnect",
    "gdb: the gdb to run; where gdb finds libraries (default: fetched from",
    "the target); a {remote: local} source map; raw gdb commands (strings or",
    "{text, ignoreFailures}); stay stopped after attaching",
    "",
    "Breakpoints take condition, hitCondition and logMessage ({expr} is",
    "interpolated).  Exception filters: node:all and node:uncaught;",
    "python:raised, python:uncaught and python:userUnhandled.  In a gdb",
    "session a repl evaluate that starts with -exec or > runs a gdb command.",
    "#ENVIRONMENT",
    "@KDAP_LOG, KDAP_LOG_LEVEL",
    "as --log and --log-level",
    "@KUBECONFIG",
    "the kubeconfig files, as for kubectl",
    "@KDAP_IMAGE_REPO",
    "the repository kdap pushes its debugger images to when a service has",
    "no imageRepo",
    "@REGISTRY_AUTH_FILE, XDG_RUNTIME_DIR, DOCKER_CONFIG",
    "where registry credentials are looked for, as podman and docker do",
    "@XDG_CACHE_HOME",
    "kdap's layer cache is XDG_CACHE_HOME/kdap/oci (default ~/.cache)",
    "#EXIT STATUS",
    "0 when the session ended normally, 2 on a bad command line; a command",
    "exits with its own status (exec: the command's).",
    "#FILES",
    "@share/kdap/vscode, share/kdap/nvim, share/kdap/emacs",
    "(under the installation prefix, /usr for the Debian package) the",
    "configurations for VS Code, Neovim and Emacs, each with its install",
    "notes in README.md",
    "#SEE ALSO",
    "kubectl(1), dlv(1), gdb(1), gdbserver(1); the README of kdap's sources.",
};

/* ---- plain text ---------------------------------------------------------- */

static void text_line(FILE *fp, const char *l, int *in_entry)
{
    switch (l[0]) {
    case '#':
        fprintf(fp, "\n%s\n", l + 1);
        *in_entry = 0;
        break;
    case '@':
        fprintf(fp, "  %s\n", l + 1);
        *in_entry = 1;
        break;
    case '|':
        fprintf(fp, "  %s\n", l + 1);
        break;
    case '\0':
        fputc('\n', fp);
        *in_entry = 0;
        break;
    default:
        fprintf(fp, "%s%s\n", *in_entry ? "        " : "  ", l);
    }
}

/* ---- roff ---------------------------------------------------------------- */

/* Text with roff's escape character and hyphens escaped; a line that would
 * start with a control character is protected with \&. */
static void roff_text(FILE *fp, const char *s)
{
    if (*s == '.' || *s == '\'')
        fputs("\\&", fp);
    for (; *s; s++) {
        if (*s == '\\')
            fputs("\\e", fp);
        else if (*s == '-')
            fputs("\\-", fp);
        else
            fputc(*s, fp);
    }
    fputc('\n', fp);
}

static void man_line(FILE *fp, const char *l, const char *prev, int *verbatim)
{
    if (*verbatim && l[0] != '|') {
        fputs(".fi\n", fp);
        *verbatim = 0;
    }
    switch (l[0]) {
    case '#':
        fputs(".SH ", fp);
        roff_text(fp, l + 1);
        break;
    case '@':
        /* consecutive terms belong to one entry: the second continues it */
        fputs(prev != NULL && prev[0] == '@' ? ".TQ\n.B " : ".TP\n.B ", fp);
        roff_text(fp, l + 1);
        break;
    case '|':
        if (!*verbatim) {
            fputs(".nf\n", fp);
            *verbatim = 1;
        }
        roff_text(fp, l + 1);
        break;
    case '\0':
        fputs(".PP\n", fp);
        break;
    default:
        roff_text(fp, l);
    }
}

int cmd_help_write(FILE *fp, enum cmd_help_format format)
{
    size_t n = sizeof(manual) / sizeof(manual[0]);
    int in_entry = 0, verbatim = 0;

    if (format == CMD_HELP_MAN)
        fputs(".TH KDAP 1 \"\" \"kdap " KDAP_VERSION "\" \"User Commands\"\n", fp);
    for (size_t i = 0; i < n; i++) {
        if (format == CMD_HELP_MAN)
            man_line(fp, manual[i], i > 0 ? manual[i - 1] : NULL, &verbatim);
        else if (i > 0 || manual[i][0] != '#')
            text_line(fp, manual[i], &in_entry);
        else
            fprintf(fp, "%s\n", manual[i] + 1);
    }
    if (verbatim)
        fputs(".fi\n", fp);
    return ferror(fp) || fflush(fp) != 0 ? -EIO : 0;
}
