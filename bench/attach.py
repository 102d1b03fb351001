#!/usr/bin/python3
"""Attach to a running Go service in the cluster: attach-to-ready by step, and the DAP round
trip through kdap's own tunnel against delve reached directly, in one run.

Starts its own local cluster (tests/cluster/up --dir build/bench-cluster), deploys go-hello
and, in one run:

1. attach-to-ready.  N times: spawn kdap, initialize (supportsProgressReporting), then
   `attach {"target": "deployment/go-hello", "kubeconfig": ...}`, setBreakpoints main.go at its LINE:bp marker,
   setExceptionBreakpoints, configurationDone; then disconnect and wait until kdap's debug
   container has ended.  One cold attach (the kubelet pulls the dlv image) comes first and is
   reported on its own.  Every --per-pod attaches the deployment gets a fresh rollout (each
   attach leaves an ended ephemeral container in the pod).  The steps are cut at the arrival
   (client side) of kdap's progress events and DAP messages, and at two lines of kdap's
   debug log (its own clock, ms):
     resolve          attach sent -> "reading node"            (GET deployment, list pods)
     debugger image   -> "adding debug container"  (node's architecture, kdap's image assembled
                      from the layer cache, the registry asked: nothing uploaded after the
                      first attach)
     add container    -> "... added to pod"                     (PATCH ephemeralcontainers)
     container runs   -> "... running; waiting for the debugger" (pod watch)
     delve listens    -> "tunnel open"             (follow the container's log to delve's line)
     tunnel: connect  -> log "-> delve" initialize (the backend's TCP connect to the tunnel)
     tunnel: ws open  -> log "port-forward ... open" (WebSocket through the API server)
     delve attached   -> "initialized" event        (delve initialize + attach)
     configured       -> configurationDone/attach answered (breakpoints, configurationDone)
   Target: median total <= 2 s.

2. DAP round trip.  go-hello scaled to 2 replicas.  Pod A: kdap attached by target (its own
   ephemeral delve and its own in-process tunnel): "kdap".  Pod B: a headless delve
   (--accept-multiclient) started here with `kubectl debug --target=app --profile=general`,
   reached through a plain `kdap port-forward pod/B 0:2345`, and spoken to both by the same
   Python client directly ("direct") and by a second kdap attached with "connect" to that
   port-forward ("conn": kdap's DAP layer without its in-process tunnel).  Both apps are
   stopped at main.go's LINE:bp by an HTTP request through `kdap port-forward pod/X 0:8080`; then
   threads, stackTrace, scopes and variables are sent on the three paths, interleaved and
   rotating which goes first, as bench/dap_roundtrip.py does.  Target: kdap adds <= 10%
   (kdap/direct, ratio of the overall medians).

At the end everything is resumed and detached, every process started here is stopped, and
the cluster is stopped (tests/cluster/down).  Every step has a timeout.

Usage: /usr/bin/python3 bench/attach.py [-n 10] [--per-pod 5] [--rt 200] [--warmup 20]
                                        [--json out.json] [--check] [--keep-logs]
Env: KDAP_BIN (default build/kdap).  kdap's logs: build/bench-cluster/kdap-*.log.
"""

import argparse
import contextlib
import datetime
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))

from clusterdbg import APP_SRC, BUILD, DLV_PORT, LocalCluster, cluster_available  # noqa: E402
from dapclient import DEFAULT_INITIALIZE, SyncDap  # noqa: E402
from godbg import BP_LINE, kdap_missing  # noqa: E402
import ocitest  # noqa: E402

KDAP = os.environ.get("KDAP_BIN", os.path.join(BUILD, "kdap"))
REQUESTS = ("threads", "stackTrace", "scopes", "variables")
STEPS = (("resolve", "GET deployment, list pods"),
         ("debugger image", "node arch, assemble, push"),
         ("add container", "PATCH ephemeralcontainers"),
         ("container runs", "pod watch: running"),
         ("delve listens", "container log: delve's line"),
         ("tunnel: connect", "backend -> local listener"),
         ("tunnel: ws open", "WebSocket via API server"),
         ("delve attached", "initialize + attach"),
         ("configured", "bps, configurationDone"))


class StepTimeout(Exception):
    pass


@contextlib.contextmanager
def deadline(seconds, what):
    """Bound a step: SIGALRM interrupts any blocking read and raises StepTimeout."""
    def on_alarm(signum, frame):
        raise StepTimeout("%s: no result within %.0f s" % (what, seconds))
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


class TimedDap(SyncDap):
    """SyncDap that notes the arrival time (time.time()) of every message it reads."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.log = []            # (t, msg)

    def read(self):
        m = super().read()
        self.log.append((time.time(), m))
        return m

    def arrival(self, pred):
        return next((t for t, m in self.log if pred(m)), None)


def progress_time(c, needle):
    return c.arrival(lambda m: m.get("type") == "event"
                     and m.get("event", "").startswith("progress")
                     and needle in (m.get("body") or {}).get("message", ""))


def log_times(path, day_of):
    """(first '-> delve' line, 'port-forward ... open' line) of a kdap log, as time.time()."""
    out = {}
    pats = (("connect", re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) kdap debug: -> delve ")),
            ("ws_open", re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) kdap debug: kube: port-forward \S+ open")))
    base = datetime.datetime.fromtimestamp(day_of).replace(hour=0, minute=0, second=0, microsecond=0)
    try:
        with open(path, errors="replace") as f:
            for line in f:
                for key, rx in pats:
                    m = rx.match(line)
                    if m and key not in out:
                        hh, mm, ss = m.group(1).split(":")
                        t = (base + datetime.timedelta(hours=int(hh), minutes=int(mm),
                                                       seconds=float(ss))).timestamp()
                        if t < day_of - 43200:      # crossed midnight
                            t += 86400
                        out[key] = t
    except OSError:
        pass
    return out


def spawn_kdap(logpath, level):
    err = open(logpath + ".stderr", "ab")
    try:
        return TimedDap.spawn([KDAP, "--log", logpath, "--log-level", level], stderr=err)
    finally:
        err.close()


def stop_kdap(k, timeout=15):
    if k is None:
        return
    if k.proc.poll() is None:
        try:
            with deadline(timeout, "kdap disconnect"):
                k.request("disconnect", {"terminateDebuggee": False})
        except Exception as e:  # noqa: BLE001
            print("warning: kdap disconnect: %s" % e, file=sys.stderr)
    try:
        k.close(timeout)
    except Exception:  # noqa: BLE001
        pass
    if k.proc.poll() is None:
        k.proc.kill()
        k.proc.wait(5)


def kdap_attach(cl, logpath, level, pod=None):
    """Attach kdap by target; returns (client, {step: seconds}, total seconds)."""
    k = spawn_kdap(logpath, level)
    try:
        with deadline(10, "kdap initialize"):
            k.request("initialize", dict(DEFAULT_INITIALIZE, supportsProgressReporting=True))
        args = {"name": "go-hello", "target": "deployment/go-hello",
                "kubeconfig": cl.kubeconfig, "namespace": cl.ns, "imageRepo": ocitest.CLUSTER_REPO}
        if pod:
            args["pod"] = pod
        with deadline(90, "attach by target (to 'initialized')"):
            t0 = time.time()
            seq = k.send("attach", args)
            k.wait_event("initialized")
        with deadline(20, "setBreakpoints/configurationDone"):
            bps = k.request("setBreakpoints", {"source": {"path": APP_SRC},
                                               "breakpoints": [{"line": BP_LINE}]})
            if not bps["breakpoints"][0].get("verified"):
                raise RuntimeError("breakpoint not verified through kdap: %s" % bps)
            k.request("setExceptionBreakpoints", {"filters": []})
            k.request("configurationDone")
            r = k.response(seq)
            if not r.get("success"):
                raise RuntimeError("kdap attach failed: %s" % json.dumps(r)[:800])
            t_ready = time.time()
    except BaseException:
        stop_kdap(k, 5)
        raise
    return k, t0, t_ready


def attach_steps(k, t0, t_ready, logpath):
    lt = log_times(logpath, t0)
    marks = [t0,
             progress_time(k, "reading node"),
             progress_time(k, "adding debug container"),
             progress_time(k, "added to pod"),
             progress_time(k, "waiting for the debugger"),
             progress_time(k, "tunnel open"),
             lt.get("connect"),
             lt.get("ws_open"),
             k.arrival(lambda m: m.get("type") == "event" and m.get("event") == "initialized"),
             t_ready]
    steps = {}
    for (name, _), a, b in zip(STEPS, marks, marks[1:]):
        steps[name] = (b - a) if a is not None and b is not None else None
    steps["total"] = t_ready - t0
    return steps


def running_pods(cl):
    items = json.loads(cl.kubectl("get", "pods", "-l", "app=go-hello", "-o", "json"))["items"]
    return items


def wait_pods(cl, n, timeout=120):
    """Exactly n running, not deleting go-hello pods and no other; returns their names."""
    end = time.monotonic() + timeout
    while True:
        items = running_pods(cl)
        live = [p["metadata"]["name"] for p in items
                if p.get("status", {}).get("phase") == "Running"
                and not p["metadata"].get("deletionTimestamp")]
        if len(live) == n and len(items) == n:
            return sorted(live)
        if time.monotonic() > end:
            raise StepTimeout("go-hello pods: wanted %d running, have %s"
                              % (n, [(p["metadata"]["name"], p.get("status", {}).get("phase"))
                                     for p in items]))
        time.sleep(0.3)


def fresh_rollout(cl, replicas=None):
    if replicas is not None:
        cl.kubectl("scale", "deployment/go-hello", "--replicas=%d" % replicas)
    else:
        cl.kubectl("rollout", "restart", "deployment/go-hello")
    cl.kubectl("rollout", "status", "deployment/go-hello", "--timeout=120s", timeout=130)
    return wait_pods(cl, replicas or 1)


def wait_debuggers_ended(cl, pod, timeout=30):
    end = time.monotonic() + timeout
    while True:
        st = json.loads(cl.kubectl("get", "pod", pod, "-o",
                                   "jsonpath={.status.ephemeralContainerStatuses}") or "[]")
        running = [s["name"] for s in st if "terminated" not in s.get("state", {})]
        if not running:
            return len(st)
        if time.monotonic() > end:
            raise StepTimeout("debug containers of %s still running: %s" % (pod, running))
        time.sleep(0.2)


class PortForward:
    """`kdap port-forward pod/NAME 0:PORT`."""

    def __init__(self, cl, pod, port):
        self.p = subprocess.Popen([KDAP, "port-forward", "--kubeconfig", cl.kubeconfig,
                                   "pod/%s" % pod, "0:%d" % port],
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  stdin=subprocess.DEVNULL)
        with deadline(15, "kdap port-forward pod/%s" % pod):
            line = self.p.stdout.readline()
        m = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not m:
            self.stop()
            raise RuntimeError("kdap port-forward did not start: %r" % line)
        self.local = int(m.group(1))
        # keep draining its output so it never blocks on a full pipe
        threading.Thread(target=lambda: [None for _ in self.p.stdout], daemon=True).start()

    def stop(self):
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(5)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)


class AsyncGet:
    def __init__(self, port, path, timeout=60):
        self.result = None
        self.done = threading.Event()

        def run():
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path),
                                            timeout=timeout) as r:
                    self.result = r.read().decode()
            except Exception as e:  # noqa: BLE001
                self.result = e
            self.done.set()
        threading.Thread(target=run, daemon=True).start()


# -- the round-trip part (as bench/dap_roundtrip.py) ------------------------------------------

def stopped_ids(c, thread_id=None):
    threads = c.request("threads")["threads"]
    if thread_id is None:
        cands = [t["id"] for t in threads if "main.handle" in t["name"]]
        if not cands:
            raise RuntimeError("no thread in main.handle: %s" % threads)
        thread_id = cands[0]
    frames = c.request("stackTrace", {"threadId": thread_id, "startFrame": 0, "levels": 20})
    top = frames["stackFrames"][0]
    if top["name"] != "main.handle" or top["line"] != BP_LINE:
        raise RuntimeError("not stopped at main.handle:%d: %s" % (BP_LINE, top))
    scopes = c.request("scopes", {"frameId": top["id"]})["scopes"]
    return {"threads": None,
            "stackTrace": {"threadId": thread_id, "startFrame": 0, "levels": 20},
            "scopes": {"frameId": top["id"]},
            "variables": {"variablesReference": scopes[0]["variablesReference"]}}, thread_id


def timed(c, cmd, args):
    t0 = time.perf_counter_ns()
    seq = c.send(cmd, args)
    r = c.response(seq)
    dt = time.perf_counter_ns() - t0
    if not r.get("success"):
        raise RuntimeError("%s failed: %s" % (cmd, json.dumps(r)[:500]))
    return dt, r


def same_shape(a, b, cmd):
    ba, bb = a.get("body") or {}, b.get("body") or {}
    if cmd == "threads":
        return len(ba["threads"]) == len(bb["threads"])
    if cmd == "stackTrace":
        return [f["name"] for f in ba["stackFrames"]] == [f["name"] for f in bb["stackFrames"]]
    if cmd == "scopes":
        return [s["name"] for s in ba["scopes"]] == [s["name"] for s in bb["scopes"]]
    return [v["name"] for v in ba["variables"]] == [v["name"] for v in bb["variables"]]


def start_multiclient_delve(cl, pod, timeout=60):
    """As clusterdbg.start_delve, plus --accept-multiclient: the direct client and kdap
    (connect) share this delve, as in bench/dap_roundtrip.py."""
    name = "kdap-dlv-bench-%d" % (int(time.time() * 1000) % 10000000)
    cl.kubectl("debug", pod, "--image=" + ocitest.debugger_image("go"), "--target=app",
               "--profile=general", "-c", name, "--", "/usr/bin/dlv", "--headless",
               "--accept-multiclient", "--api-version=2", "--listen=127.0.0.1:%d" % DLV_PORT,
               "--only-same-user=false", "attach", "1")
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if "listening" in cl.kubectl("logs", pod, "-c", name, check=False):
            return name
        time.sleep(0.2)
    raise StepTimeout("delve in %s/%s did not listen" % (pod, name))


def direct_client(pf, procs):
    """The direct DAP client; attach only while the app is stopped (delve cannot take a
    second client's attach while its target runs)."""
    with deadline(30, "direct DAP attach"):
        d = TimedDap.connect("127.0.0.1", pf.local, timeout=10)
        procs.append(d)
        d.request("initialize", DEFAULT_INITIALIZE)
        seq = d.send("attach", {"mode": "remote"})
        d.wait_event("initialized")
        r = d.response(seq)
        if not r.get("success"):
            raise RuntimeError("direct attach failed: %s" % r)
    return d


def direct_paths(cl, pod, procs):
    """delve (multi-client) in an ephemeral container of `pod`, a plain `kdap port-forward`
    to it, and on it: kdap attached with "connect" (sets the breakpoint, configurationDone)
    and a direct DAP client (initialize + attach remote only)."""
    with deadline(70, "kubectl debug (direct delve)"):
        start_multiclient_delve(cl, pod)
    pf = PortForward(cl, pod, DLV_PORT)
    procs.append(pf)
    kc = spawn_kdap(os.path.join(cl.dir, "kdap-roundtrip-connect.log"), "warn")
    procs.append(kc)
    with deadline(30, "kdap attach (connect through kdap port-forward)"):
        kc.request("initialize", DEFAULT_INITIALIZE)
        seq = kc.send("attach", {"name": "go-hello", "runtime": "go",
                                 "connect": "127.0.0.1:%d" % pf.local})
        kc.wait_event("initialized")
        bps = kc.request("setBreakpoints", {"source": {"path": APP_SRC},
                                            "breakpoints": [{"line": BP_LINE}]})
        if not bps["breakpoints"][0].get("verified"):
            raise RuntimeError("breakpoint not verified: %s" % bps)
        kc.request("setExceptionBreakpoints", {"filters": []})
        kc.request("configurationDone")
        r = kc.response(seq)
        if not r.get("success"):
            raise RuntimeError("kdap (connect) attach failed: %s" % r)
    return kc, pf


PATHS = ("direct", "kdap-connect", "kdap-target")


def roundtrip(cl, opts, pods, procs):
    pod_k, pod_d = pods
    res = {}
    web_k = PortForward(cl, pod_k, 8080)
    procs.append(web_k)
    web_d = PortForward(cl, pod_d, 8080)
    procs.append(web_d)
    k, _, _ = kdap_attach(cl, os.path.join(cl.dir, "kdap-roundtrip.log"), "warn", pod=pod_k)
    procs.append(k)
    kc, dpf = direct_paths(cl, pod_d, procs)
    gets = [AsyncGet(web_k.local, "/bench"), AsyncGet(web_d.local, "/bench")]
    res["gets"] = gets
    with deadline(40, "both apps stopped at main.go:%d" % BP_LINE):
        ev_k = k.wait_event("stopped")
        ev_c = kc.wait_event("stopped")
        args_k, tid_k = stopped_ids(k, ev_k["body"]["threadId"])
        args_c, tid_c = stopped_ids(kc, ev_c["body"]["threadId"])
    res["resume"] = [(k, tid_k), (kc, tid_c)]
    d = direct_client(dpf, procs)
    with deadline(20, "direct: the stopped thread"):
        args_d, _ = stopped_ids(d)
    args = {"kdap-target": args_k, "kdap-connect": args_c, "direct": args_d}
    clients = {"kdap-target": k, "kdap-connect": kc, "direct": d}
    with deadline(30, "equivalence check"):
        for cmd in REQUESTS:
            _, rd = timed(d, cmd, args["direct"][cmd])
            for p in ("kdap-target", "kdap-connect"):
                _, rk = timed(clients[p], cmd, args[p][cmd])
                if not same_shape(rk, rd, cmd):
                    raise RuntimeError("%s differs between %s and direct:\n%s\n%s"
                                       % (cmd, p, json.dumps(rk)[:600], json.dumps(rd)[:600]))
    samples = {p: {c: [] for c in REQUESTS} for p in PATHS}
    with deadline(30 + 0.5 * (opts.rt + opts.warmup), "round trips"):
        for i in range(opts.warmup + opts.rt):
            order = PATHS[i % 3:] + PATHS[:i % 3]
            if (i // 3) % 2:
                order = order[::-1]
            for cmd in REQUESTS:
                for p in order:
                    dt, _ = timed(clients[p], cmd, args[p][cmd])
                    if i >= opts.warmup:
                        samples[p][cmd].append(dt)

    def series(p, cmd):
        if cmd == "overall":     # per iteration: the mean of its 4 requests
            return [sum(x) / len(REQUESTS) for x in zip(*(samples[p][c] for c in REQUESTS))]
        return samples[p][cmd]

    rows = []
    for cmd in list(REQUESTS) + ["overall"]:
        ds, cs, ks = series("direct", cmd), series("kdap-connect", cmd), series("kdap-target", cmd)
        md, mc, mk = (statistics.median(x) / 1000.0 for x in (ds, cs, ks))
        rows.append({"request": cmd, "direct_us": round(md, 1), "kdap_connect_us": round(mc, 1),
                     "kdap_us": round(mk, 1), "ratio_of_medians": round(mk / md, 3),
                     "median_pair_ratio": round(statistics.median([a / b for a, b in zip(ks, ds)]), 3),
                     "connect_ratio": round(mc / md, 3),
                     "added_us": round(mk - md, 1), "n": len(ks)})
    res["rows"] = rows
    return res


def resume_all(res):
    for c, tid in res.get("resume", []):
        try:
            with deadline(10, "continue"):
                c.request("continue", {"threadId": tid})
        except Exception as e:  # noqa: BLE001
            print("warning: continue failed: %s" % e, file=sys.stderr)
    for g in res.get("gets", []):
        g.done.wait(10)


def fmt_ms(v):
    return "%9.0f" % (v * 1000) if v is not None else "        -"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-n", "--attaches", type=int, default=10)
    ap.add_argument("--per-pod", type=int, default=5, help="attaches per pod before a fresh rollout")
    ap.add_argument("--rt", type=int, default=200, help="round-trip iterations")
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--dir", default=os.path.join(BUILD, "bench-cluster"))
    ap.add_argument("--json", help="also write the results as JSON to this file")
    ap.add_argument("--check", action="store_true", help="exit 1 unless both targets are met")
    opts = ap.parse_args()

    why = cluster_available()
    if why:
        sys.exit("cannot run: %s" % why)
    if kdap_missing():
        sys.exit(kdap_missing())

    cl = LocalCluster(opts.dir)
    procs = []
    rt = {}
    attaches = []
    cold = None
    ok = False
    t_start = time.time()
    try:
        print("starting the local cluster (%s) ..." % os.path.relpath(opts.dir, REPO), flush=True)
        cl.up(timeout=600)
        cl.kubectl("apply", "-f", os.path.join(REPO, "tests", "cluster", "manifests", "go-hello.yaml"))
        cl.kubectl("rollout", "status", "deployment/go-hello", "--timeout=120s", timeout=130)
        pod = wait_pods(cl, 1)[0]

        # -- 1. attach-to-ready ------------------------------------------------------------
        for i in range(opts.attaches + 1):
            if i > 1 and (i - 1) % opts.per_pod == 0:
                pod = fresh_rollout(cl)[0]
            logpath = os.path.join(cl.dir, "kdap-attach-%02d.log" % i)
            if os.path.exists(logpath):
                os.unlink(logpath)
            k, t0, t_ready = kdap_attach(cl, logpath, "debug")
            steps = attach_steps(k, t0, t_ready, logpath)
            stop_kdap(k)
            n_dbg = wait_debuggers_ended(cl, pod)
            steps["pod"], steps["debug_containers"] = pod, n_dbg
            if i == 0:
                cold = steps
            else:
                attaches.append(steps)
            print("  attach %2d%s: %.0f ms  (%s)" % (i, " (cold)" if i == 0 else "", steps["total"] * 1000,
                  ", ".join("%s %s" % (n, "%.0f" % (steps[n] * 1000) if steps[n] is not None else "-")
                            for n, _ in STEPS)), flush=True)

        # -- 2. DAP round trip -------------------------------------------------------------
        print("DAP round trip: scaling go-hello to 2 replicas ...", flush=True)
        pods = fresh_rollout(cl, replicas=2)
        rt = roundtrip(cl, opts, pods, procs)
    finally:
        resume_all(rt)
        for p in reversed(procs):
            try:
                if isinstance(p, PortForward):
                    p.stop()
                elif getattr(p, "proc", None) is not None:
                    stop_kdap(p, 10)
                else:   # the direct client: just hang up (multi-client delve stays for kdap)
                    p.close()
            except Exception as e:  # noqa: BLE001
                print("warning: cleanup: %s" % e, file=sys.stderr)
        try:
            cl.down()
        except Exception as e:  # noqa: BLE001
            print("warning: cluster down: %s" % e, file=sys.stderr)

    # -- report ----------------------------------------------------------------------------
    def med(name):
        xs = [a[name] for a in attaches if a.get(name) is not None]
        return (statistics.median(xs), min(xs), max(xs)) if xs else (None, None, None)

    print()
    print("attach-to-ready, deployment/go-hello on the local cluster, %d attaches "
          "(+1 cold), fresh rollout every %d" % (len(attaches), opts.per_pod))
    print("machine: %d cpus, load average %.2f %.2f %.2f" % ((os.cpu_count(),) + os.getloadavg()))
    print("%-16s %-28s %9s %9s %9s %9s" % ("step", "", "median ms", "min ms", "max ms", "cold ms"))
    step_rows = []
    for name, what in STEPS + (("total", "attach sent -> ready"),):
        m, lo, hi = med(name)
        c = cold.get(name) if cold else None
        step_rows.append({"step": name, "what": what, "median_ms": m and round(m * 1000, 1),
                          "min_ms": lo and round(lo * 1000, 1), "max_ms": hi and round(hi * 1000, 1),
                          "cold_ms": c and round(c * 1000, 1)})
        if name == "total":
            print("-" * 86)
        print("%-16s %-28s %s %s %s %s" % (name, what, fmt_ms(m), fmt_ms(lo), fmt_ms(hi), fmt_ms(c)))
    total_med = med("total")[0]
    attach_ok = total_med is not None and total_med <= 2.0

    rows = rt.get("rows", [])
    rt_ok = False
    if rows:
        print()
        print("DAP round trip, go-hello stopped at main.go:%d; kdap by target (own tunnel) vs "
              "delve via kdap port-forward; %d iterations (+%d warm-up)" % (BP_LINE, opts.rt, opts.warmup))
        print("%-11s %10s %10s %8s %10s %8s %9s %9s" % (
            "request", "direct us", "kdap us", "ratio", "pair med", "added us",
            "conn us", "conn rat"))
        for r in rows:
            print("%-11s %10.1f %10.1f %8.3f %10.3f %8.1f %9.1f %9.3f" % (
                r["request"], r["direct_us"], r["kdap_us"], r["ratio_of_medians"],
                r["median_pair_ratio"], r["added_us"], r["kdap_connect_us"], r["connect_ratio"]))
        print("(kdap = attached by target, its own in-process tunnel; conn = kdap attached with "
              "\"connect\" to the same kdap port-forward as direct)")
        rt_ok = rows[-1]["ratio_of_medians"] <= 1.10
    ok = attach_ok and rt_ok
    print()
    print("verdict: attach-to-ready median %s (target <= 2 s): %s; kdap adds %s to the round trip "
          "(target <= 10%%): %s  [run %.0f s]"
          % ("%.2f s" % total_med if total_med is not None else "n/a", "met" if attach_ok else "NOT met",
             "%+.1f%%" % ((rows[-1]["ratio_of_medians"] - 1) * 100) if rows else "n/a",
             "met" if rt_ok else "NOT met", time.time() - t_start))
    if opts.json:
        with open(opts.json, "w") as f:
            json.dump({"attaches": attaches, "cold": cold, "steps": step_rows,
                       "attach_median_s": total_med, "attach_target_met": attach_ok,
                       "roundtrip": rows, "roundtrip_iterations": opts.rt,
                       "roundtrip_target_met": rt_ok, "target_met": ok,
                       "loadavg": os.getloadavg()}, f, indent=1)
    return 1 if (opts.check and not ok) else 0


if __name__ == "__main__":
    sys.exit(main())
