#!/usr/bin/python3
"""tests/check_runtime_names.py [REPO]: no runtime is named outside adapters/
(CTest unit_runtime_names).

What differs from one runtime to the next lives in its backend's profile
(struct adapter_kind, adapters/adapter.h); the session, the attach
orchestration, the Kubernetes client, the transport and the image code read
the profile and never name a runtime.  A runtime's name written there as a
string is the start of the knowledge spreading again, so this fails on:

* a string literal that is a runtime's or debugger's name as a whole
  ("go", "node", "gdb", "dlv", ...): a comparison or a default;
* a string literal with a debugger's name, or a variable or option only one
  runtime has, as a word in it ("/usr/bin/dlv ...", "the gdb runtime
  needs ...", "NODE_OPTIONS", "--inspect=").

"go" and "node" as words of a longer text are not flagged: they are English
and Kubernetes words ("go through http://", "the node's architecture").
Comments are not code and are skipped.  The manual's text (help.c) is
documentation, as the README is, and is not read.

Exit 0 when no such literal exists, else 1 with one line per finding.
"""
import os
import re
import sys

DIRS = ["dap", "kube", "attach", "net", "oci", "cmd"]
DOCUMENTATION = {"help.c"}
# A literal that is one of these as a whole names a runtime or its debugger.
WHOLE = {"go", "golang", "node", "nodejs", "gdb", "gdbserver", "delve", "dlv",
         "python", "python3", "debugpy", "lldb"}
# These as a word anywhere in a literal belong to one runtime.
WORDS = re.compile(r"(?<![\w-])(golang|nodejs|gdb|gdbserver|delve|dlv|python3?|debugpy|lldb"
                   r"|NODE_OPTIONS|NODE_VERSION|GOTRACEBACK|GOMAXPROCS|GODEBUG"
                   r"|--inspect[\w-]*)(?![\w])")


def literals(text):
    """(line, value) of every string literal of C source `text`, comments
    and character constants skipped."""
    i, n, line = 0, len(text), 1
    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
            i += 1
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c and text[j] != "\n":
                if text[j] == "\\" and j + 1 < n:
                    buf.append(text[j:j + 2])
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            if c == '"':
                yield line, "".join(buf)
            i = j + 1
        else:
            i += 1


def findings(repo):
    for d in DIRS:
        top = os.path.join(repo, d)
        if not os.path.isdir(top):
            continue
        for root, _, names in os.walk(top):
            for name in sorted(names):
                if not name.endswith((".c", ".h")) or name in DOCUMENTATION:
                    continue
                path = os.path.join(root, name)
                with open(path, encoding="utf-8", errors="replace") as f:
                    text = f.read()
                rel = os.path.relpath(path, repo)
                for line, value in literals(text):
                    if value in WHOLE:
                        yield f"{rel}:{line}: \"{value}\" names a runtime: read its profile (adapters/adapter.h)"
                        continue
                    m = WORDS.search(value)
                    if m:
                        yield (f"{rel}:{line}: \"{value[:60]}\" names {m.group(1)}: that belongs in "
                               "the runtime's profile (adapters/)")


def main():
    repo = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..")
    found = list(findings(repo))
    for f in found:
        print(f)
    print(f"check_runtime_names: {len(found)} runtime names outside adapters/" if found
          else "check_runtime_names: ok")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
