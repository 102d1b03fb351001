#!/usr/bin/python3
"""Port-forward benchmark on the local cluster (tests/cluster), in one run:

  - direct TCP to the pod's port (from inside the pod's network namespace): the limit;
  - `kdap port-forward` (kube/portfwd over the API server's WebSocket, v4.channel.k8s.io);
  - `kubectl port-forward` (1.32: SPDY/3.1 tunnelled in a WebSocket, its default) and with
    KUBECTL_PORT_FORWARD_WEBSOCKETS=false (plain SPDY/3.1);
  - the Python client's port-forward (python3-kubernetes, kubernetes.stream.portforward).

Each is measured on the same echo pod: throughput (MiB/s each way, SIZE MiB sent while the echo is
read back) and small-message round-trip latency (64-byte ping-pong, median and p99).  Prints the
table and the ratios of kdap to kubectl, Python and direct TCP.

    /usr/bin/python3 bench/portforward.py [--size MIB] [--rtt N] [--json FILE] [--check]

--check exits 1 unless kdap's throughput is at least 1.5x kubectl's (default mode) and twice the
Python client's, and its median round trip no slower than kubectl's.  Needs root (the cluster, and
entering the pod's network namespace).  Environment as tests/e2e/kubecluster.py.
"""
import argparse
import ctypes
import hashlib
import json
import os
import socket
import statistics
import sys
import threading
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from kubecluster import Cluster, KubectlPortForward, PortForward  # noqa: E402

PORT = 7000
CLONE_NEWNET = 0x40000000


def connect_in_netns(netns, port):
    """A TCP socket to 127.0.0.1:port created inside network namespace `netns` (a path)."""
    out = {}

    def run():
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = os.open(netns, os.O_RDONLY)
            if libc.setns(fd, CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            os.close(fd)
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            out["s"] = s
        except OSError as e:
            out["e"] = e
    t = threading.Thread(target=run)  # the thread's netns changes, not the process's
    t.start()
    t.join()
    if "e" in out:
        raise out["e"]
    return out["s"]


def pod_netns(cluster, pod):
    uid = json.loads(cluster.kubectl("get", "pod", pod, "-o", "json").stdout)["metadata"]["uid"]
    tag = hashlib.sha1(cluster.dir.encode()).hexdigest()[:6]
    return "/run/netns/kdap-%s-%s" % (tag, uid.replace("-", "")[:8])


def throughput(sock, size, limit_s=60.0):
    """Send SIZE MiB to the echo while reading it back; MiB/s each way.  A client that stalls
    (no byte for 10 s) is measured on what it moved until then."""
    data = os.urandom(1 << 20)
    total = size << 20
    state = {"got": 0, "last": None, "stalled": False}

    def reader():
        sock.settimeout(10)
        try:
            while state["got"] < total:
                b = sock.recv(1 << 17)
                if not b:
                    break
                state["got"] += len(b)
                state["last"] = time.perf_counter()
        except OSError:
            state["stalled"] = True

    t = threading.Thread(target=reader, daemon=True)
    t0 = time.perf_counter()
    t.start()
    try:
        sock.settimeout(10)
        for _ in range(size):
            if time.perf_counter() - t0 > limit_s or state["stalled"]:
                break
            sock.sendall(data)
    except OSError:
        state["stalled"] = True
    t.join(limit_s + 20)
    dt = (state["last"] or time.perf_counter()) - t0
    if state["got"] < total:
        print("    (moved %.1f of %d MiB before stalling)" % (state["got"] / 2**20, size),
              flush=True)
    return state["got"] / 2**20 / dt


def latency(sock, n):
    msg = b"x" * 64
    rtts = []
    for _ in range(n):
        t0 = time.perf_counter()
        sock.sendall(msg)
        left = len(msg)
        while left > 0:
            b = sock.recv(left)
            if not b:
                raise RuntimeError("connection closed")
            left -= len(b)
        rtts.append((time.perf_counter() - t0) * 1000)
    rtts.sort()
    return statistics.median(rtts), rtts[int(len(rtts) * 0.99) - 1]


def cpu_seconds(pid):
    """user + system CPU time of a process so far (/proc/PID/stat utime, stime)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def measure(name, connect, size, n, procs=None):
    """procs: {label: pid} whose CPU time during the throughput run is reported, per GiB moved
    each way (where the time goes, whatever else the machine is doing)."""
    procs = procs or {}
    s = connect()
    try:
        lat = latency(s, n)
        before = {k: cpu_seconds(p) for k, p in procs.items()}
        thr = throughput(s, size)
        cpu = {k: (cpu_seconds(p) - before[k]) * 1024 / size for k, p in procs.items()}
    finally:
        try:
            s.close()
        except OSError:
            pass
    print("  %-28s %10.1f MiB/s %10.3f ms %10.3f ms   %s" % (
        name, thr, lat[0], lat[1], "  ".join("%s %.2f" % kv for kv in cpu.items())), flush=True)
    return {"throughput_mib_s": thr, "rtt_median_ms": lat[0], "rtt_p99_ms": lat[1],
            "cpu_s_per_gib": cpu}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--size", type=int, default=64, help="MiB each way per throughput run")
    ap.add_argument("--rtt", type=int, default=500, help="round trips for the latency")
    ap.add_argument("--json")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    c = Cluster()
    c.ns = "bench-pf-" + c.ns.rsplit("-", 1)[1]
    c.up()
    c.kubectl("create", "namespace", c.ns, ns=False)
    pf = None
    try:
        c.echo_pod("echo")
        netns = pod_netns(c, "echo")
        print("port-forward benchmark: pod %s/echo, %d MiB each way, %d round trips of 64 B"
              % (c.ns, args.size, args.rtt))
        print("  %-28s %16s %13s %13s   %s" % ("", "throughput", "rtt median", "rtt p99",
                                               "CPU s per GiB each way"))
        cluster = {k: int(open(os.path.join(c.dir, k + ".pid")).read()) for k in ("apiserver", "kubelet")}
        res = {}
        res["direct"] = measure("direct TCP (the limit)", lambda: connect_in_netns(netns, PORT),
                                args.size, args.rtt)
        pf = PortForward(c, "echo", ":%d" % PORT)
        res["kdap"] = measure("kdap port-forward", lambda: pf.connect(30), args.size, args.rtt,
                              dict(cluster, client=pf.proc.pid))
        for key, label, ws in (("kubectl", "kubectl port-forward", True),
                               ("kubectl_spdy", "kubectl (plain SPDY)", False)):
            kpf = KubectlPortForward(c, "echo", [PORT], websockets=ws)
            try:
                res[key] = measure(label, lambda: kpf.connect(PORT), args.size, args.rtt,
                                   dict(cluster, client=kpf.proc.pid))
            finally:
                kpf.stop()

        from kubernetes import config
        from kubernetes.client import CoreV1Api
        from kubernetes.stream import portforward
        api = CoreV1Api(config.new_client_from_config(config_file=c.kubeconfig))

        def py_connect():
            fwd = portforward(api.connect_get_namespaced_pod_portforward, "echo", c.ns,
                              ports=str(PORT))
            s = fwd.socket(PORT)
            s.settimeout(60)
            return s
        res["python"] = measure("python3-kubernetes", py_connect, args.size, args.rtt,
                                dict(cluster, client=os.getpid()))

        k, kc, p, d = res["kdap"], res["kubectl"], res["python"], res["direct"]
        ratios = {
            "throughput_kdap_over_kubectl": k["throughput_mib_s"] / kc["throughput_mib_s"],
            "throughput_kdap_over_kubectl_spdy": k["throughput_mib_s"] / res["kubectl_spdy"]["throughput_mib_s"],
            "throughput_kdap_over_python": k["throughput_mib_s"] / p["throughput_mib_s"],
            "throughput_kdap_over_direct": k["throughput_mib_s"] / d["throughput_mib_s"],
            "rtt_kubectl_over_kdap": kc["rtt_median_ms"] / k["rtt_median_ms"],
            "rtt_python_over_kdap": p["rtt_median_ms"] / k["rtt_median_ms"],
            "rtt_kdap_over_direct": k["rtt_median_ms"] / d["rtt_median_ms"],
        }
        res["ratios"] = ratios
        print("ratios: throughput kdap/kubectl %.2fx (plain SPDY %.2fx), kdap/python %.2fx, kdap/direct %.2f; "
              "rtt kubectl/kdap %.2fx, python/kdap %.2fx, kdap/direct %.1fx"
              % (ratios["throughput_kdap_over_kubectl"], ratios["throughput_kdap_over_kubectl_spdy"],
                 ratios["throughput_kdap_over_python"], ratios["throughput_kdap_over_direct"],
                 ratios["rtt_kubectl_over_kdap"], ratios["rtt_python_over_kdap"], ratios["rtt_kdap_over_direct"]))
        if args.json:
            with open(args.json, "w") as f:
                json.dump(res, f, indent=2)
        failed = [msg for ok, msg in (
            (ratios["throughput_kdap_over_kubectl"] >= 1.5, "kdap's throughput is below 1.5x kubectl's"),
            (ratios["rtt_kubectl_over_kdap"] >= 1.0, "kdap's round trips are slower than kubectl's"),
            (ratios["throughput_kdap_over_python"] >= 2.0, "kdap's throughput is below 2x the Python client's"))
            if not ok]
        if args.check and failed:
            print("CHECK FAILED: " + "; ".join(failed))
            return 1
        return 0
    finally:
        if pf is not None:
            pf.stop()
        c.kubectl("delete", "namespace", c.ns, "--wait=false", ns=False, check=False)
        c.down()


if __name__ == "__main__":
    sys.exit(main())
