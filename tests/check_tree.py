#!/usr/bin/python3
"""tests/check_tree.py [REPO]: the tree is self-contained (CTest unit_self_contained).

A clone has nothing beside it, so no file of the project (other than the
Markdown prose, which may name such places to warn about them) may reach
outside the tree:

* no path into a sibling checkout (`../shared`, `/work/...`);
* no document under /tmp (`/tmp/cluster_contract.md` and the like: what the
  code relies on lives in docs/);
* every Markdown file a comment cites (`docs/protocols.md`, `README.md`)
  exists in the tree, relative to the root or to the citing file;
* the vendored DAP schema and its licence are present, unchanged since they
  were vendored (tests/schema/SHA256SUMS), and the README names them.

Exit 0 when all holds, else 1 with one line per finding (file:line: why).
"""
import hashlib
import json
import os
import re
import subprocess
import sys

OUTSIDE = [
    (re.compile(r"\.\./shared\b"), "reaches a sibling checkout (../shared)"),
    (re.compile(r"/work/"), "names an absolute path of one machine (/work/...)"),
    (re.compile(r"/tmp/[\w.-]*\.(?:md|txt|json|ya?ml)\b"),
     "cites a document under /tmp (what the code relies on lives in docs/)"),
]
# the project's documents: docs/*.md and upper-case names (README.md)
CITED_MD = re.compile(r"(?<![\w./-])(docs/[\w./-]+\.md|(?:[\w.-]+/)*[A-Z][A-Z0-9_-]*\.md)\b")
SCHEMA_DIR = "tests/schema"
SKIP_DIRS = {".git", "node_modules", "__pycache__"}


def tracked_files(repo):
    """Tracked and new (not ignored) files; a tree without git: every file."""
    try:
        out = subprocess.run(["git", "-C", repo, "ls-files", "-z", "--cached", "--others",
                              "--exclude-standard"], capture_output=True, check=True).stdout
        return sorted({p for p in out.decode().split("\0") if p
                       and os.path.isfile(os.path.join(repo, p))})
    except (OSError, subprocess.CalledProcessError):
        files = []
        for root, dirs, names in os.walk(repo):
            dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.startswith("build")]
            files += [os.path.relpath(os.path.join(root, n), repo) for n in names]
        return sorted(files)


def text_of(path):
    with open(path, "rb") as f:
        data = f.read()
    if b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", "replace")


def check_references(repo, files):
    present = set(files)
    findings = []
    for rel in files:
        if rel.endswith(".md") or rel == "tests/check_tree.py" or rel.startswith(SCHEMA_DIR + "/"):
            continue
        text = text_of(os.path.join(repo, rel))
        if text is None:
            continue
        for n, line in enumerate(text.splitlines(), 1):
            for rx, why in OUTSIDE:
                if rx.search(line):
                    findings.append("%s:%d: %s: %s" % (rel, n, why, line.strip()))
            for m in CITED_MD.finditer(line):
                name = m.group(1)
                here = os.path.normpath(os.path.join(os.path.dirname(rel), name))
                if name not in present and here not in present:
                    findings.append("%s:%d: cites %s, which is not in the tree" % (rel, n, name))
    return findings


def check_schema(repo):
    findings = []
    sums = os.path.join(repo, SCHEMA_DIR, "SHA256SUMS")
    if not os.path.isfile(sums):
        return ["%s/SHA256SUMS: missing (the vendored files' checksums)" % SCHEMA_DIR]
    with open(sums) as f:
        entries = [line.split() for line in f if line.strip()]
    names = {e[1] for e in entries}
    for need in ("debugAdapterProtocol.json", "LICENSE.txt"):
        if need not in names:
            findings.append("%s/SHA256SUMS: lists no %s" % (SCHEMA_DIR, need))
    for digest, name in entries:
        path = os.path.join(repo, SCHEMA_DIR, name)
        if not os.path.isfile(path):
            findings.append("%s/%s: missing (vendored, see README \"Vendored\")" % (SCHEMA_DIR, name))
            continue
        with open(path, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != digest:
                findings.append("%s/%s: differs from the vendored file (SHA256SUMS)"
                                % (SCHEMA_DIR, name))
    schema = os.path.join(repo, SCHEMA_DIR, "debugAdapterProtocol.json")
    if os.path.isfile(schema):
        with open(schema, encoding="utf-8") as f:
            if "ErrorResponse" not in json.load(f).get("definitions", {}):
                findings.append("%s: not the DAP schema (no ErrorResponse)" % schema)
    with open(os.path.join(repo, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for need in (SCHEMA_DIR + "/debugAdapterProtocol.json", SCHEMA_DIR + "/LICENSE.txt"):
        if need not in readme:
            findings.append("README.md: does not name the vendored %s" % need)
    return findings


def main(argv):
    repo = os.path.abspath(argv[1] if len(argv) > 1 else
                           os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = tracked_files(repo)
    findings = check_references(repo, files) + check_schema(repo)
    for f in findings:
        print(f)
    print("%d files checked, %d findings" % (len(files), len(findings)))
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
