#!/usr/bin/python3
"""A fixed C debugging session through kdap (gdb backend) vs through cdt-gdb-adapter, in one run.

Per iteration, on a fresh c-demo under gdbserver --attach (setsid) for each adapter: attach,
breakpoint at tick(), wait for the stop, stackTrace, scopes, variables of every scope, the
1000-element array `numbers` (evaluate + variables of all 1000 children), 10 `next` steps
(each waiting for its stopped event), disconnect.  The time from attach to the 10th stop is
measured.  Prints both medians and the ratio kdap/cdt (target: < 1, kdap faster).

Usage: /usr/bin/python3 bench/gdb_session.py [-n 5] [--json out.json]
Env: KDAP_BIN (default build/kdap).
"""

import argparse
import json
import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from cdbg import C_SRC, CDT_ADAPTER, GdbTarget, build_c, line_of  # noqa: E402
from dapclient import DEFAULT_INITIALIZE, SyncDap  # noqa: E402
from godbg import ProcessGroup, kdap_missing, kdap_path, log_file  # noqa: E402


def session(d, attach_args, tid_hint=None):
    t0 = time.monotonic()
    d.request("initialize", DEFAULT_INITIALIZE)
    seq = d.send("attach", attach_args)
    d.wait_event("initialized")
    d.request("setBreakpoints", {"source": {"path": C_SRC},
                                 "breakpoints": [{"line": line_of(C_SRC, "tick")}]})
    d.request("configurationDone")
    r = d.response(seq)
    if not r.get("success"):
        raise RuntimeError("attach failed: %s" % r)
    ev = d.wait_event("stopped")
    tid = ev["body"]["threadId"]
    frames = d.request("stackTrace", {"threadId": tid, "startFrame": 0, "levels": 20})["stackFrames"]
    fid = frames[0]["id"]
    for s in d.request("scopes", {"frameId": fid})["scopes"]:
        if not s.get("expensive"):
            d.request("variables", {"variablesReference": s["variablesReference"]})
    arr = d.request("evaluate", {"expression": "numbers", "frameId": fid, "context": "watch"})
    items = d.request("variables", {"variablesReference": arr["variablesReference"]})["variables"]
    if len(items) < 1000:
        raise RuntimeError("array has %d children" % len(items))
    d.request("setBreakpoints", {"source": {"path": C_SRC}, "breakpoints": []})
    for _ in range(10):
        d.request("next", {"threadId": tid})
        d.wait_event("stopped")
    return time.monotonic() - t0


def run_one(group, kind):
    t = GdbTarget(group, build_c(), name="bench")
    if kind == "kdap":
        d = SyncDap.spawn([kdap_path(), "--log", log_file("kdap-gdb-bench.log"), "--log-level",
                           "error"])
        args = t.service_args()
    else:
        d = SyncDap.spawn(["node", CDT_ADAPTER])
        args = t.cdt_attach_args()
    group.add(d.proc)
    try:
        return session(d, args)
    finally:
        try:
            d.send("disconnect", {})
        except OSError:
            pass
        d.close(2)
        group.cleanup()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=5)
    ap.add_argument("--json")
    a = ap.parse_args()
    if kdap_missing():
        sys.exit(kdap_missing())
    if not os.path.exists(CDT_ADAPTER):
        sys.exit("cdt-gdb-adapter not found at %s: install it with scripts/setup" % CDT_ADAPTER)
    res = {"kdap": [], "cdt": []}
    for i in range(a.n):
        for kind in (("kdap", "cdt") if i % 2 == 0 else ("cdt", "kdap")):
            group = ProcessGroup()
            try:
                res[kind].append(run_one(group, kind))
            finally:
                group.cleanup()
    mk, mc = statistics.median(res["kdap"]), statistics.median(res["cdt"])
    print("session (attach, stop, stack, scopes, 1000-element array, 10 steps), n=%d" % a.n)
    print("  kdap (gdb MI backend): median %.1f ms  %s" % (mk * 1e3, ["%.0f" % (x * 1e3) for x in res["kdap"]]))
    print("  cdt-gdb-adapter 1.7.0: median %.1f ms  %s" % (mc * 1e3, ["%.0f" % (x * 1e3) for x in res["cdt"]]))
    print("  ratio kdap/cdt: %.2f" % (mk / mc))
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"kdap": res["kdap"], "cdt": res["cdt"], "ratio": mk / mc}, f)


if __name__ == "__main__":
    main()
