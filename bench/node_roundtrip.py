#!/usr/bin/python3
"""Node inspector round trips: stackTrace + scopes + variables through kdap vs the
equivalent raw CDP on the same inspector, in one run.

One node-js-demo under `node --inspect=127.0.0.1:0`, stopped at its BP_HANDLE line by a
real HTTP request that kdap's breakpoint catches.  Two clients on that inspector at once
(Node accepts several inspector sessions):
  * kdap over stdio (dapclient.SyncDap: blocking, no validation);
  * a raw CDP WebSocket (Debian's python3-websocket), Debugger.enable'd, which receives the
    same Debugger.paused.
What an editor does on a stop is stackTrace, scopes and variables of the top frame's local
scope.  kdap answers stackTrace and scopes from the call frames Debugger.paused delivered
(cached, no CDP), and variables with one Runtime.getProperties(ownProperties,
generatePreview) on the local scope object.  So the raw-CDP equivalent of the whole refresh
is that one Runtime.getProperties, with the same parameters.

For N iterations both paths run, alternating which goes first.  Prints the medians per
request, the whole refresh (sum of kdap's three requests per iteration) vs raw, the ratio
of the medians and the median of per-iteration ratios.  Target: refresh ratio <= 1.2.
Every process started is killed at the end (the app is resumed by kdap's disconnect).

Usage: /usr/bin/python3 bench/node_roundtrip.py [-n 300] [--warmup 30] [--json out.json] [--check]
Env: KDAP_BIN (default build/kdap).
"""

import argparse
import json
import os
import statistics
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests", "e2e"))

from dapclient import DEFAULT_INITIALIZE, SyncDap  # noqa: E402
from godbg import ProcessGroup, kdap_missing, kdap_path, log_file  # noqa: E402
from nodedbg import JS_SRC, NodeService, marker_line  # noqa: E402

try:
    import websocket  # python3-websocket (Debian)
except ImportError:
    sys.exit("python3-websocket is needed: apt-get install python3-websocket "
             "(and run with /usr/bin/python3)")


class RawCdp:
    """A blocking CDP client; events are queued while waiting for responses."""

    def __init__(self, host_port):
        targets = json.load(urllib.request.urlopen("http://%s/json/list" % host_port, timeout=5))
        url = [t for t in targets if t.get("type") == "node"][0]["webSocketDebuggerUrl"]
        self.ws = websocket.create_connection(url, timeout=10, suppress_origin=True,
                                              enable_multithread=False)
        self.next_id = 0
        self.events = []

    def send(self, method, params=None):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params or {}}))
        return self.next_id

    def call(self, method, params=None):
        i = self.send(method, params)
        while True:
            m = json.loads(self.ws.recv())
            if m.get("id") == i:
                if "error" in m:
                    raise RuntimeError("%s failed: %s" % (method, m["error"]))
                return m["result"]
            self.events.append(m)

    def wait_event(self, method, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for k, m in enumerate(self.events):
                if m.get("method") == method:
                    return self.events.pop(k)
            if time.monotonic() > deadline:
                raise RuntimeError("no %s from the inspector" % method)
            self.events.append(json.loads(self.ws.recv()))

    def close(self):
        try:
            self.call("Debugger.disable")
        finally:
            self.ws.close()


def timed(fn):
    t0 = time.perf_counter_ns()
    r = fn()
    return time.perf_counter_ns() - t0, r


def dap(k, cmd, args):
    def run():
        r = k.response(k.send(cmd, args))
        if not r.get("success"):
            raise RuntimeError("%s failed: %s" % (cmd, r))
        return r["body"]
    return run


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--iterations", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--check", action="store_true", help="exit 1 unless the refresh ratio <= 1.2")
    opts = ap.parse_args()

    group = ProcessGroup()
    k = raw = get = None
    ok = True
    try:
        svc = NodeService(group, "js", "inspect", "bench")
        argv = [kdap_path(), "--log", log_file("kdap-node-bench.log"), "--log-level", "error"]
        if kdap_missing():
            sys.exit(kdap_missing())
        err = open(log_file("kdap-node-bench.stderr"), "ab")
        group.files.append(err)
        k = SyncDap.spawn(argv, stderr=err)
        group.add(k.proc)
        k.request("initialize", DEFAULT_INITIALIZE)
        seq = k.send("attach", {"name": "bench", "runtime": "node", "connect": svc.connect})
        k.wait_event("initialized")
        line = marker_line(JS_SRC, "BP_HANDLE")
        bps = k.request("setBreakpoints", {"source": {"path": JS_SRC}, "breakpoints": [{"line": line}]})
        if not bps["breakpoints"][0].get("verified"):
            raise RuntimeError("breakpoint not verified: %s" % bps)
        k.request("configurationDone")
        if not k.response(seq).get("success"):
            raise RuntimeError("kdap attach failed")

        raw = RawCdp(svc.connect)
        raw.call("Debugger.enable")
        get = svc.get_async("/bench", timeout=600)
        k.wait_event("stopped")
        paused = raw.wait_event("Debugger.paused")["params"]
        top = paused["callFrames"][0]
        if top["functionName"] != "handle":
            raise RuntimeError("raw client sees a different stop: %s" % top["functionName"])
        local_oid = top["scopeChain"][0]["object"]["objectId"]
        raw_params = {"objectId": local_oid, "ownProperties": True, "generatePreview": True}

        st_args = {"threadId": 1, "startFrame": 0, "levels": 20}
        frames = dap(k, "stackTrace", st_args)()["stackFrames"]
        scopes = dap(k, "scopes", {"frameId": frames[0]["id"]})()["scopes"]
        var_args = {"variablesReference": scopes[0]["variablesReference"]}
        kv = dap(k, "variables", var_args)()["variables"]
        rv = raw.call("Runtime.getProperties", raw_params)["result"]
        # kdap adds the frame's `this` (from the cached call frame) to the locals
        if sorted(v["name"] for v in kv if v["name"] != "this") != sorted(p["name"] for p in rv):
            raise RuntimeError("kdap and raw CDP list different locals:\n%s\n%s"
                               % ([v["name"] for v in kv], [p["name"] for p in rv]))

        names = ("stackTrace", "scopes", "variables")
        s = {n: [] for n in names + ("refresh", "raw")}
        for i in range(opts.warmup + opts.iterations):
            def kdap_side():
                t = {}
                t["stackTrace"], fr = timed(dap(k, "stackTrace", st_args))
                t["scopes"], sc = timed(dap(k, "scopes", {"frameId": fr["stackFrames"][0]["id"]}))
                t["variables"], _ = timed(dap(k, "variables",
                                              {"variablesReference":
                                               sc["scopes"][0]["variablesReference"]}))
                return t

            def raw_side():
                return timed(lambda: raw.call("Runtime.getProperties", raw_params))[0]
            if i % 2 == 0:
                tr = raw_side()
                tk = kdap_side()
            else:
                tk = kdap_side()
                tr = raw_side()
            if i >= opts.warmup:
                for n in names:
                    s[n].append(tk[n])
                s["refresh"].append(sum(tk.values()))
                s["raw"].append(tr)

        def med(xs):
            return statistics.median(xs) / 1000.0

        raw_med = med(s["raw"])
        rows = []
        for n in names + ("refresh",):
            pair = [a / b for a, b in zip(s[n], s["raw"])]
            rows.append({"request": n, "kdap_us": round(med(s[n]), 1),
                         "raw_cdp_us": round(raw_med, 1),
                         "ratio_of_medians": round(med(s[n]) / raw_med, 3),
                         "median_pair_ratio": round(statistics.median(pair), 3),
                         "n": len(s[n])})
        print("Node round trip: node-js-demo stopped at app.js:%d, node %s, %d iterations "
              "(+%d warm-up)" % (line, os.popen("node --version").read().strip(),
                                 opts.iterations, opts.warmup))
        print("raw CDP equivalent of a refresh: one Runtime.getProperties(local scope, "
              "ownProperties, generatePreview) = %.1f us median" % raw_med)
        print("machine: %d cpus, load average %.2f %.2f %.2f" % ((os.cpu_count(),) + os.getloadavg()))
        print("%-11s %10s %10s %8s %9s" % ("kdap", "kdap us", "raw us", "ratio", "pair med"))
        for r in rows:
            print("%-11s %10.1f %10.1f %8.3f %9.3f" % (r["request"], r["kdap_us"], r["raw_cdp_us"],
                                                       r["ratio_of_medians"], r["median_pair_ratio"]))
        ok = rows[-1]["ratio_of_medians"] <= 1.2
        print("target (refresh = stackTrace+scopes+variables <= 1.2 x raw CDP): %s"
              % ("met" if ok else "NOT met"))
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump({"iterations": opts.iterations, "rows": rows, "target_met": ok}, f,
                          indent=1)
    finally:
        if raw is not None:
            try:
                raw.close()
            except Exception:  # noqa: BLE001
                pass
        if k is not None and k.proc.poll() is None:
            try:
                k.request("disconnect", {"terminateDebuggee": False})
                k.close()
            except Exception:  # noqa: BLE001
                pass
        if get is not None:
            try:
                get.wait(5)
            except Exception:  # noqa: BLE001
                pass
        group.cleanup()
    if opts.check and not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
