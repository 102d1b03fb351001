#!/usr/bin/python3
"""The include directions of README.md's architecture section, enforced, and the libraries'
promise that they never print or exit (only cmd/, the front ends, does).

Every `#include "..."` in kdap's C sources is resolved to the folder it names and checked
against LAYERS: a folder may include its own files, the base layer, and the folders listed
for it, nothing else; and no file includes another folder's private `*_int.h` headers.
The base layer is the few files of dap/ that everything stands on (errors, buffers, the log,
base64, UTF-8, descriptors, path maps, DAP framing); the rest of dap/ is the protocol and the session.

    tests/check_includes.py ROOT        check the tree at ROOT (exit 1 with each violation)
    tests/check_includes.py --self-test  prove the check fails on wrong includes (temp trees)
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# dap/ files below everything (they include nothing but each other and system headers);
# frame is the Content-Length framing both the editor side and the delve backend speak.
BASE = {"dap/err", "dap/buf", "dap/log", "dap/b64", "dap/utf8", "dap/fds", "dap/pathmap",
        "dap/frame"}

# folder -> the folders it may include (besides itself and BASE). Lower layers first.
LAYERS = {
    "base": set(),
    "net": set(),                                   # transport: curl on the loop, WebSocket, dial
    "kube": {"net"},                                # Kubernetes client library
    "oci": {"net"},                                 # OCI images and registries
    "adapters": {"net"},                            # backends: DAP in the backend's id space
    "attach": {"kube", "oci", "adapters", "net"},   # a service's target, tunnel, backend
    # the editor's protocol and the session; kube/ for its client, launch's deploy and restore
    "dap": {"adapters", "attach", "kube"},
    "cmd": {"dap", "attach", "kube", "oci", "adapters", "net"},  # main and the commands
}

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# What only a front end may call: printing for a human, ending the process.
# (A library writes its files as it likes; its words reach a human only through the log
# or an error the front end shows.)
FRONT_END_ONLY = re.compile(r"\b(?:(printf|vprintf|puts|putchar|perror|exit|_exit|abort)\s*\(|"
                            r"(stdout|stderr)\b)")
CODE_NOISE = re.compile(r'/\*.*?\*/|//[^\n]*|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', re.S)


def blank(m):
    """Comments and literals become spaces (newlines kept, so line numbers stay)."""
    return re.sub(r"[^\n]", " ", m.group(0))


def layer_of(rel):
    """The layer of a repository path like 'kube/client.c' (None outside the layers)."""
    folder = rel.split("/", 1)[0]
    if folder == "dap" and os.path.splitext(rel)[0] in BASE:
        return "base"
    return folder if folder in LAYERS else None


def check(root):
    problems = []
    for folder in sorted(LAYERS):
        d = os.path.join(root, folder)
        if folder == "base" or not os.path.isdir(d):
            continue
        for name in sorted(os.listdir(d)):
            if not name.endswith((".c", ".h")):
                continue
            rel = folder + "/" + name
            src = layer_of(rel)
            with open(os.path.join(d, name), encoding="utf-8", errors="replace") as f:
                text = f.read()
            if folder != "cmd":
                code = CODE_NOISE.sub(blank, text)
                for m in FRONT_END_ONLY.finditer(code):
                    line = code.count("\n", 0, m.start()) + 1
                    what = "calls %s()" % m.group(1) if m.group(1) else "writes to " + m.group(2)
                    problems.append("%s:%d: %s: a library never prints or exits; return the "
                                    "error (struct dap_error) to cmd/" % (rel, line, what))
            for m in INCLUDE.finditer(text):
                line = text.count("\n", 0, m.start()) + 1
                target = os.path.normpath(os.path.join(folder, m.group(1)))
                dst = layer_of(target)
                if dst is None:
                    problems.append("%s:%d: includes \"%s\", outside kdap's layers (%s)"
                                    % (rel, line, m.group(1), target))
                    continue
                tfolder = target.split("/", 1)[0]
                if tfolder != folder and target.endswith("_int.h"):
                    problems.append("%s:%d: includes %s, private to %s/"
                                    % (rel, line, target, tfolder))
                    continue
                if dst == src or dst == "base" or dst in LAYERS[src]:
                    continue
                if src == "base" and tfolder == "dap":
                    why = "the base layer (%s) includes only itself" % ", ".join(sorted(BASE))
                else:
                    allowed = sorted(LAYERS[src] | {"base"})
                    why = "%s/ may include only %s" % (src if src != "base" else "dap", ", ".join(allowed))
                problems.append("%s:%d: includes %s (%s layer): %s; see README.md, "
                                "\"Architecture\"" % (rel, line, target, dst, why))
    return problems


def self_test():
    """Copy the tree's sources to temporary trees, break one include in each, expect failure."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    cases = [
        ("kube/wrong.c", '#include "../dap/session.h"\n', "kube/wrong.c:1: includes dap/session.h"),
        ("net/wrong.h", '#include "../kube/client.h"\n', "net/wrong.h:1: includes kube/client.h"),
        ("dap/err_extra.c", '#include "../dap/err.h"\n#include "../cmd/cmd.h"\n',
         "dap/err_extra.c:2: includes cmd/cmd.h"),
        ("dap/buf.h", None, "includes dap/session.h (dap layer): the base layer"),  # base reaching up
        ("oci/wrong.c", '#include "../kube/client_int.h"\n', "private to kube/"),
        ("adapters/wrong.c", '#include "../../somewhere/else.h"\n', "outside kdap's layers"),
        ("kube/prints.c", 'static void f(void)\n{\n    /* exit(1) */ fprintf(stderr, "exit(1)");\n}\n',
         "kube/prints.c:3: writes to stderr"),
        ("oci/exits.c", 'static void f(void)\n{\n    exit(2);\n}\n', "oci/exits.c:3: calls exit()"),
    ]
    failures = 0
    for path, text, want in cases:
        tmp = tempfile.mkdtemp(prefix="kdap-includes-")
        try:
            for folder in LAYERS:
                if os.path.isdir(os.path.join(here, folder)):
                    shutil.copytree(os.path.join(here, folder), os.path.join(tmp, folder))
            p = os.path.join(tmp, path)
            if text is None:  # append a wrong include to an existing base header
                with open(p, "a") as f:
                    f.write('#include "session.h"\n')
            else:
                with open(p, "w") as f:
                    f.write(text)
            r = subprocess.run([sys.executable, os.path.abspath(__file__), tmp],
                               capture_output=True, text=True)
            ok = r.returncode == 1 and want in r.stdout
            what = "%s with a wrong include fails naming it" % path
            print("%s: %s" % ("ok" if ok else "FAILED", what))
            if not ok:
                print(r.stdout + r.stderr)
                failures += 1
        finally:
            shutil.rmtree(tmp)
    return 1 if failures else 0


def main():
    if sys.argv[1:] == ["--self-test"]:
        return self_test()
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    problems = check(sys.argv[1])
    for p in problems:
        print(p)
    if problems:
        print("%d finding(s) against the layers" % len(problems))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
