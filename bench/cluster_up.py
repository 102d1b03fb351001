#!/usr/bin/python3
"""Benchmark of the local test cluster: `tests/cluster/up` start-up time on a warm machine (images
already built and in the registry), time to a Running go-hello pod, and the cluster's memory (RSS
of the registry, API server, kubelet and pod processes).  Uses its own directory
(build/cluster-bench unless $KDAP_BENCH_DIR) and stops the cluster again.  Needs root.

    /usr/bin/python3 bench/cluster_up.py [--runs N]
"""
import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CL = os.path.join(REPO, "tests", "cluster")
sys.path.insert(0, CL)
import cluster_ctl  # noqa: E402


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cluster_pids(d):
    pids = {}
    for name, f in (("registry", "registry.pid"), ("apiserver", "apiserver.pid"), ("kubelet", "kubelet.pid")):
        pid = cluster_ctl.read_pid(os.path.join(d, f))
        if pid:
            pids[pid] = name
    if "registry" not in pids.values():   # a registry shared with another cluster on this machine
        for p in os.listdir("/proc"):
            if p.isdigit() and "docker-registry serve" in cluster_ctl.cmdline(int(p)):
                pids[int(p)] = "registry(shared)"
    procs, _, _ = cluster_ctl.leftovers(d)
    for p in procs:
        pids.setdefault(p, "pod")
    # container processes (children of the kubelet's nsenter/unshare wrappers)
    kubelet = [p for p, n in pids.items() if n == "kubelet"]
    todo = list(kubelet)
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        for k in kids:
            pids.setdefault(k, "pod")
            todo.append(k)
    return pids


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    d = os.path.abspath(os.environ.get("KDAP_BENCH_DIR") or os.path.join(REPO, "build", "cluster-bench"))
    up, down = os.path.join(CL, "up"), os.path.join(CL, "down")
    if os.geteuid() != 0:
        sys.exit("bench/cluster_up.py: the local cluster needs root")
    missing = cluster_ctl.missing_prerequisites(True)
    if missing:
        sys.exit("bench/cluster_up.py: this machine lacks: %s; %s"
                 % (", ".join(missing), cluster_ctl.oci.INSTALL_HINT))
    # warm-up: build/push images once (not measured)
    subprocess.run([up, "--dir", d], check=True, capture_output=True)
    subprocess.run([down, "--dir", d], check=True, capture_output=True)
    times = []
    for _ in range(args.runs):
        t0 = time.time()
        subprocess.run([up, "--dir", d], check=True, capture_output=True)
        times.append(time.time() - t0)
        subprocess.run([down, "--dir", d], check=True, capture_output=True)
    t0 = time.time()
    subprocess.run([up, "--dir", d], check=True, capture_output=True)
    up_last = time.time() - t0
    t0 = time.time()
    subprocess.run([up, "--dir", d], check=True, capture_output=True)
    up_noop = time.time() - t0
    by = {}
    for pid, name in cluster_pids(d).items():
        by[name] = by.get(name, 0) + rss_kib(pid)
    kc = ["/usr/bin/kubectl", "--kubeconfig", os.path.join(d, "kubeconfig")]
    t0 = time.time()
    subprocess.run(kc + ["run", "bench", "--image=127.0.0.1:5000/kdap/go-hello:latest"], check=True,
                   capture_output=True)
    while True:
        p = json.loads(subprocess.run(kc + ["get", "pod", "bench", "-o", "json"], capture_output=True).stdout)
        cs = (p["status"].get("containerStatuses") or [{}])[0]
        if cs.get("ready") or time.time() - t0 > 60:
            break
        time.sleep(0.05)
    pod_ready = time.time() - t0
    by_pod = {}
    for pid, name in cluster_pids(d).items():
        by_pod[name] = by_pod.get(name, 0) + rss_kib(pid)
    subprocess.run([down, "--dir", d], check=True, capture_output=True)
    times.append(up_last)
    print("up (warm, %d runs): min %.2fs  median %.2fs  max %.2fs" % (
        len(times), min(times), sorted(times)[len(times) // 2], max(times)))
    print("up when already up (no-op): %.2fs" % up_noop)
    print("cluster RSS, idle: %.1f MiB  (%s)" % (sum(by.values()) / 1024.0,
                                               ", ".join("%s %.1f" % (k, v / 1024.0) for k, v in sorted(by.items()))))
    print("kubectl run go-hello -> container ready: %.2fs" % pod_ready)
    print("cluster RSS with that pod: %.1f MiB  (%s)" % (
        sum(by_pod.values()) / 1024.0, ", ".join("%s %.1f" % (k, v / 1024.0) for k, v in sorted(by_pod.items()))))


if __name__ == "__main__":
    main()
