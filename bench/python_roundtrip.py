#!/usr/bin/python3
"""DAP round trips to Debian's debugpy: through kdap (stdio) vs straight to debugpy (TCP),
in one run, on one program.

tests/apps/py-hello runs under `python3 -m debugpy --listen`; three sessions follow one
another on it (debugpy serves one client at a time), each stopped at PY_BP_HANDLE by a real
HTTP request, each timing N `stackTrace` requests (plus `scopes` and `variables` of the top
frame) with the same blocking client (dapclient.SyncDap):
  1. direct, as debugpy comes: every answer waits ~44 ms (pydevd writes the header and the
     body of a message with two send()s under Nagle; debugpy's adapter delays its ACK);
  2. through kdap, which at the first stop sets TCP_NODELAY on pydevd's socket;
  3. direct again, on the socket kdap fixed: what kdap itself adds.
Prints the medians, kdap/direct (target: faster than debugpy directly, a stackTrace <= 5 ms)
and kdap/fixed-direct.

Usage: /usr/bin/python3 bench/python_roundtrip.py [-n 100] [--json out.json] [--check]
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

from dapclient import DEFAULT_INITIALIZE, SyncDap  # noqa: E402
from godbg import HOST, ProcessGroup, kdap_missing, kdap_path, log_file  # noqa: E402
from pydbg import PY_HANDLE, PY_SRC, PyService  # noqa: E402

REQUESTS = ("stackTrace", "scopes", "variables")


def attach(c, attach_args):
    c.request("initialize", DEFAULT_INITIALIZE)
    seq = c.send("attach", attach_args)
    c.wait_event("initialized")
    c.request("setBreakpoints", {"source": {"path": PY_SRC}, "breakpoints": [{"line": PY_HANDLE}]})
    c.request("configurationDone")
    r = c.response(seq)
    if not r.get("success"):
        raise RuntimeError("attach failed: %s" % r)


def measure(c, svc, n, warmup):
    """Stop at the breakpoint, time n rounds of REQUESTS, resume, disconnect."""
    get = svc.get_async("/bench")
    tid = c.wait_event("stopped")["body"]["threadId"]
    times = {r: [] for r in REQUESTS}
    for i in range(warmup + n):
        for cmd in REQUESTS:
            if cmd == "stackTrace":
                args = {"threadId": tid, "startFrame": 0, "levels": 20}
            elif cmd == "scopes":
                args = {"frameId": frame}
            else:
                args = {"variablesReference": ref}
            t0 = time.perf_counter()
            body = c.request(cmd, args)
            dt = time.perf_counter() - t0
            if cmd == "stackTrace":
                frame = body["stackFrames"][0]["id"]
            elif cmd == "scopes":
                ref = body["scopes"][0]["variablesReference"]
            if i >= warmup:
                times[cmd].append(dt * 1000)
    c.request("setBreakpoints", {"source": {"path": PY_SRC}, "breakpoints": []})
    c.request("continue", {"threadId": tid})
    get.wait(10)
    c.request("disconnect", {"terminateDebuggee": False})
    return {cmd: statistics.median(v) for cmd, v in times.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless a stackTrace through kdap is <= 5 ms and faster than direct")
    a = ap.parse_args()
    if kdap_missing():
        sys.exit(kdap_missing())
    group = ProcessGroup()
    try:
        svc = PyService(group, "bench")
        # 1. straight to debugpy, as it comes (fewer rounds: each is ~44 ms x 3)
        d = SyncDap.connect(HOST, svc.debug_port)
        attach(d, {"justMyCode": True})
        direct = measure(d, svc, max(10, a.n // 5), 2)
        d.close()
        # 2. through kdap
        err = open(log_file("kdap-bench-python.stderr"), "ab")
        group.files.append(err)
        k = SyncDap.spawn([kdap_path(), "--log", log_file("kdap-bench-python.log"),
                           "--log-level", "info"], stderr=err)
        group.add(k.proc)
        attach(k, {"name": "bench", "runtime": "python", "connect": svc.connect})
        through = measure(k, svc, a.n, a.warmup)
        k.close()
        # 3. straight to debugpy again, on the socket kdap fixed
        f = None
        for _ in range(100):   # debugpy takes the next client once it let go of kdap
            try:
                f = SyncDap.connect(HOST, svc.debug_port)
                attach(f, {"justMyCode": True})
                break
            except Exception:  # noqa: BLE001 - retried
                f = None
                time.sleep(0.05)
        fixed = measure(f, svc, a.n, a.warmup) if f else None
    finally:
        group.cleanup()

    out = {"direct_ms": direct, "kdap_ms": through, "direct_fixed_ms": fixed}
    print("%-11s %12s %10s %14s %12s %14s" % ("request", "direct ms", "kdap ms", "kdap/direct",
                                            "fixed ms", "kdap/fixed"))
    for cmd in REQUESTS:
        fx = fixed[cmd] if fixed else float("nan")
        print("%-11s %12.2f %10.3f %14.3f %12.3f %14.2f" % (
            cmd, direct[cmd], through[cmd], through[cmd] / direct[cmd], fx, through[cmd] / fx))
    if a.json:
        with open(a.json, "w") as fh:
            json.dump(out, fh, indent=1)
    if a.check and not (through["stackTrace"] <= 5 and through["stackTrace"] < direct["stackTrace"]):
        sys.exit(1)


if __name__ == "__main__":
    main()
