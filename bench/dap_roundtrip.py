#!/usr/bin/python3
"""DAP round-trip latency: through kdap (stdio) vs directly to delve (TCP), in one run.

One go-hello, one headless delve (--accept-multiclient), stopped at main.go's LINE:bp by a real
HTTP request.  Two DAP clients are connected to that delve at once:
  * kdap over stdio (kdap attached with `connect`; kdap set the breakpoint and saw the stop),
  * a direct TCP DAP session to the same delve (initialize + attach mode:remote, no
    configurationDone, so the target stays stopped).
For N iterations the same `threads`, `stackTrace`, `scopes`, `variables` requests are sent on
both paths, alternating which path goes first; the client code (dapclient.SyncDap: blocking,
no thread, no validation) is identical on both paths.

Prints, per request and overall (per iteration, the mean of its 4 requests): median latency of each path, the ratio of the medians
(kdap/direct), the median of the per-iteration ratios and the microseconds kdap adds at the
median.  Target: ratio <= 1.10 and <= 100 us added.  At the end the app is resumed, the
breakpoint cleared (by kdap's disconnect) and every process is killed.

Usage: /usr/bin/python3 bench/dap_roundtrip.py [-n 300] [--warmup 30] [--json out.json] [--check]
Env: KDAP_BIN (default build/kdap).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from dapclient import DEFAULT_INITIALIZE, SyncDap  # noqa: E402
from godbg import APP_SRC, BP_LINE, HOST, GoService, ProcessGroup, kdap_missing, kdap_path, log_file  # noqa: E402

REQUESTS = ("threads", "stackTrace", "scopes", "variables")


def setup_kdap(svc, group):
    argv = [kdap_path(), "--log", log_file("kdap-bench.log"), "--log-level", "error"]
    if kdap_missing():
        sys.exit(kdap_missing())
    err = open(log_file("kdap-bench.stderr"), "ab")
    k = SyncDap.spawn(argv, stderr=err)
    group.add(k.proc)
    group.files.append(err)
    k.request("initialize", DEFAULT_INITIALIZE)
    seq = k.send("attach", {"name": "bench", "runtime": "go", "connect": svc.connect})
    k.wait_event("initialized")
    bps = k.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
    if not bps["breakpoints"][0].get("verified"):
        raise RuntimeError("breakpoint not verified through kdap: %s" % bps)
    k.request("setExceptionBreakpoints", {"filters": []})
    k.request("configurationDone")
    r = k.response(seq)
    if not r.get("success"):
        raise RuntimeError("kdap attach failed: %s" % r)
    return k


def setup_direct(svc):
    d = SyncDap.connect(HOST, svc.dlv_port)
    d.request("initialize", DEFAULT_INITIALIZE)
    seq = d.send("attach", {"mode": "remote"})
    d.wait_event("initialized")
    r = d.response(seq)
    if not r.get("success"):
        raise RuntimeError("direct attach failed: %s" % r)
    return d


def stopped_ids(c, thread_id=None):
    """(threadId, frameId, variablesReference) of the main.handle stop, on one path."""
    threads = c.request("threads")["threads"]
    if thread_id is None:
        cands = [t["id"] for t in threads if "main.handle" in t["name"]]
        if not cands:
            raise RuntimeError("no thread in main.handle: %s" % threads)
        thread_id = cands[0]
    frames = c.request("stackTrace", {"threadId": thread_id, "startFrame": 0, "levels": 20})
    top = frames["stackFrames"][0]
    if top["name"] != "main.handle":
        raise RuntimeError("not stopped in main.handle: %s" % top)
    scopes = c.request("scopes", {"frameId": top["id"]})["scopes"]
    return thread_id, top["id"], scopes[0]["variablesReference"], frames


def request_args(ids):
    tid, fid, ref = ids[:3]
    return {"threads": None,
            "stackTrace": {"threadId": tid, "startFrame": 0, "levels": 20},
            "scopes": {"frameId": fid},
            "variables": {"variablesReference": ref}}


def timed(c, cmd, args):
    t0 = time.perf_counter_ns()
    seq = c.send(cmd, args)
    r = c.response(seq)
    dt = time.perf_counter_ns() - t0
    if not r.get("success"):
        raise RuntimeError("%s failed: %s" % (cmd, r))
    return dt, r


def same_shape(a, b, cmd):
    """The two paths must return equivalent answers (ids differ: kdap remaps them)."""
    ba, bb = a.get("body") or {}, b.get("body") or {}
    if cmd == "threads":
        return len(ba["threads"]) == len(bb["threads"])
    if cmd == "stackTrace":
        return [f["name"] for f in ba["stackFrames"]] == [f["name"] for f in bb["stackFrames"]]
    if cmd == "scopes":
        return [s["name"] for s in ba["scopes"]] == [s["name"] for s in bb["scopes"]]
    return ([(v["name"], v["value"]) for v in ba["variables"]]
            == [(v["name"], v["value"]) for v in bb["variables"]])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--check", action="store_true",
                    help="exit 1 unless overall ratio <= 1.10 and added <= 100 us")
    opts = ap.parse_args()

    group = ProcessGroup()
    k = d = get = None
    ok = True
    try:
        svc = GoService(group, "bench")
        k = setup_kdap(svc, group)
        get = svc.get_async("/bench", timeout=120)
        ev = k.wait_event("stopped")
        k_ids = stopped_ids(k, ev["body"]["threadId"])
        d = setup_direct(svc)
        d_ids = stopped_ids(d)
        args = {"kdap": request_args(k_ids), "direct": request_args(d_ids)}
        clients = {"kdap": k, "direct": d}

        for cmd in REQUESTS:     # equivalence check + warm-up
            _, rk = timed(k, cmd, args["kdap"][cmd])
            _, rd = timed(d, cmd, args["direct"][cmd])
            if not same_shape(rk, rd, cmd):
                raise RuntimeError("%s differs between kdap and direct:\n%s\n%s"
                                   % (cmd, json.dumps(rk)[:600], json.dumps(rd)[:600]))
        samples = {p: {c: [] for c in REQUESTS} for p in clients}
        for i in range(opts.warmup + opts.iterations):
            order = ("direct", "kdap") if i % 2 == 0 else ("kdap", "direct")
            for cmd in REQUESTS:
                for p in order:
                    dt, _ = timed(clients[p], cmd, args[p][cmd])
                    if i >= opts.warmup:
                        samples[p][cmd].append(dt)

        def med_us(xs):
            return statistics.median(xs) / 1000.0

        rows = []
        for cmd in list(REQUESTS) + ["overall"]:
            if cmd == "overall":
                # per iteration: the mean of its 4 requests (= one editor "stop" refresh / 4)
                ks = [sum(x) / len(REQUESTS) for x in zip(*(samples["kdap"][c] for c in REQUESTS))]
                ds = [sum(x) / len(REQUESTS) for x in zip(*(samples["direct"][c] for c in REQUESTS))]
                pair = [a / b for a, b in zip(ks, ds)]
            else:
                ks, ds = samples["kdap"][cmd], samples["direct"][cmd]
                pair = [a / b for a, b in zip(ks, ds)]
            mk, md = med_us(ks), med_us(ds)
            rows.append({"request": cmd, "direct_us": round(md, 1), "kdap_us": round(mk, 1),
                         "ratio_of_medians": round(mk / md, 3),
                         "median_pair_ratio": round(statistics.median(pair), 3),
                         "added_us": round(mk - md, 1), "n": len(ks)})

        print("DAP round trip, go-hello stopped at main.go:%d, delve %s, %d iterations (+%d warm-up)"
              % (BP_LINE, delve_version(), opts.iterations, opts.warmup))
        print("machine: %d cpus, load average %.2f %.2f %.2f" % ((os.cpu_count(),) + os.getloadavg()))
        print("%-11s %11s %11s %8s %10s %10s" % ("request", "direct us", "kdap us", "ratio",
                                                  "pair med", "added us"))
        for r in rows:
            print("%-11s %11.1f %11.1f %8.3f %10.3f %10.1f" % (r["request"], r["direct_us"], r["kdap_us"],
                                                               r["ratio_of_medians"],
                                                               r["median_pair_ratio"], r["added_us"]))
        overall = rows[-1]
        ok = overall["ratio_of_medians"] <= 1.10 and overall["added_us"] <= 100
        print("target (overall ratio <= 1.10 and added <= 100 us): %s" % ("met" if ok else "NOT met"))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"iterations": opts.iterations, "rows": rows, "target_met": ok}, f, indent=1)
    finally:
        # resume the app and leave nothing behind
        if d is not None:
            try:
                d.request("disconnect", {"terminateDebuggee": False})
            except Exception:  # noqa: BLE001
                pass
            d.close()
        if k is not None and k.proc.poll() is None:
            try:
                tid = k_ids[0] if "k_ids" in locals() else None
                if tid is not None:
                    k.request("continue", {"threadId": tid})
                k.request("disconnect", {"terminateDebuggee": False})
            except Exception as e:  # noqa: BLE001
                print("warning: resuming through kdap failed: %s" % e, file=sys.stderr)
            k.close()
        if get is not None:
            get.done.wait(5)
        group.cleanup()
    return 1 if (opts.check and not ok) else 0


def delve_version():
    try:
        out = subprocess.run(["dlv", "version"], capture_output=True, text=True, timeout=5).stdout
        return out.split("Version:")[1].split()[0]
    except Exception:  # noqa: BLE001
        return "?"


if __name__ == "__main__":
    sys.exit(main())
