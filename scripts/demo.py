#!/usr/bin/python3
"""kdap's main job, end to end, on the embedded local cluster.

1. start the local cluster (tests/cluster/up) and deploy the sample Go
   service go-hello;
2. drive kdap exactly as an editor does: initialize, then attach with
   "target": "deployment/go-hello" -- kdap resolves the pod, adds an
   ephemeral debug container with delve (SYS_PTRACE, KILL, DAC_READ_SEARCH only), opens a
   port-forward tunnel to it and attaches -- then a breakpoint in the
   request handler, an HTTP request to the service (through
   `kdap port-forward`), the stack and the variables of that request,
   continue, disconnect;
3. show that the service still answers and the debug container has ended,
   and leave the cluster as it was.

Every message kdap writes is validated against the official DAP schema on
the way (tests/e2e/dapclient.py).
"""
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from dapclient import DapClient  # noqa: E402

KDAP = os.environ.get("KDAP_BIN", os.path.join(REPO, "build", "kdap"))
DIR = os.environ.get("KDAP_DEMO_DIR", os.path.join(REPO, "build", "demo-cluster"))
KUBECONFIG = os.path.join(DIR, "kubeconfig")
SRC = os.path.join(REPO, "tests", "apps", "go-hello", "main.go")
MANIFEST = os.path.join(REPO, "tests", "cluster", "manifests", "go-hello.yaml")


def say(msg):
    print("\033[1m==> %s\033[0m" % msg, flush=True)


def kubectl(*args, check=True):
    r = subprocess.run(["kubectl", *args], capture_output=True, text=True, timeout=120,
                       stdin=subprocess.DEVNULL, env=dict(os.environ, KUBECONFIG=KUBECONFIG))
    if check and r.returncode != 0:
        raise SystemExit("kubectl %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def http_get(port, path, timeout):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode().strip()


def port_forward(pod, port):
    """`kdap port-forward pod/NAME 0:PORT`; returns (process, local port)."""
    p = subprocess.Popen([KDAP, "port-forward", "--kubeconfig", KUBECONFIG,
                          "pod/%s" % pod, "0:%d" % port],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         stdin=subprocess.DEVNULL)
    line = p.stdout.readline()
    m = re.search(r"127\.0\.0\.1:(\d+)", line)
    if not m:
        p.kill()
        raise SystemExit("kdap port-forward did not start: %r" % line)
    return p, int(m.group(1))


def main():
    t0 = time.time()
    say("starting the local cluster (tests/cluster/up --dir %s)" % os.path.relpath(DIR, REPO))
    subprocess.run([os.path.join(REPO, "tests", "cluster", "up"), "--dir", DIR], check=True,
                   stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=900)
    try:
        run()
    finally:
        say("leaving the cluster as it was: deleting go-hello, stopping the cluster")
        kubectl("delete", "-f", MANIFEST, "--ignore-not-found", "--wait=false", check=False)
        subprocess.run([os.path.join(REPO, "tests", "cluster", "down"), "--dir", DIR],
                       stdout=subprocess.DEVNULL, stdin=subprocess.DEVNULL, timeout=120)
    say("done in %.1f s" % (time.time() - t0))


def run():
    say("deploying the sample Go service go-hello")
    kubectl("apply", "-f", MANIFEST)
    kubectl("rollout", "status", "deployment/go-hello", "--timeout=90s")
    pod = kubectl("get", "pods", "-l", "app=go-hello", "-o",
                  "jsonpath={.items[0].metadata.name}").strip()
    print("    pod %s is running" % pod)
    pf, web = port_forward(pod, 8080)
    print("    kdap port-forward: the service at 127.0.0.1:%d" % web)

    say("kdap: attach to deployment/go-hello (ephemeral delve + tunnel, all by kdap)")
    c = DapClient.spawn([KDAP], stderr=subprocess.DEVNULL)
    c.initialize(supportsProgressReporting=True)
    t = time.time()
    # kdap assembles its debugger image from this machine's delve and pushes it to the
    # cluster's registry (nothing is uploaded when it is there already)
    seq = c.send("attach", {"name": "go-hello", "target": "deployment/go-hello",
                            "kubeconfig": KUBECONFIG, "imageRepo": "127.0.0.1:5000/kdap/debug"})
    c.wait_event("initialized", 60)
    for e in c.events():
        if e["event"] in ("progressStart", "progressUpdate"):
            print("    ... %s" % e["body"]["message"])
        elif e["event"] == "output":
            print("    %s" % e["body"]["output"].rstrip())
    bps = c.request("setBreakpoints", {"source": {"path": SRC}, "breakpoints": [{"line": 27}]})
    print("    breakpoint at main.go:27 verified: %s" % bps["breakpoints"][0].get("verified"))
    c.request("configurationDone")
    c.expect_response(seq, 60, success=True)
    print("    attached and ready in %.2f s" % (time.time() - t))

    say("HTTP request GET /hello-from-the-demo to the service")
    result = {}
    th = threading.Thread(target=lambda: result.update(body=http_get(web, "/hello-from-the-demo", 30)))
    th.start()
    ev = c.wait_event("stopped", 30)
    tid = ev["body"]["threadId"]
    print("    stopped: reason %s" % ev["body"]["reason"])

    frames = c.request("stackTrace", {"threadId": tid, "levels": 5})["stackFrames"]
    say("stack")
    for i, f in enumerate(frames):
        print("    #%-2d %-40s %s:%d" % (i, f["name"],
                                         os.path.basename((f.get("source") or {}).get("path", "?")),
                                         f["line"]))
    say("variables of %s" % frames[0]["name"])
    for sc in c.request("scopes", {"frameId": frames[0]["id"]})["scopes"]:
        for v in c.request("variables", {"variablesReference": sc["variablesReference"]})["variables"]:
            if v["name"] in ("msg", "hits"):
                print("    %-6s = %s" % (v["name"], v["value"]))
    ev = c.request("evaluate", {"expression": "r.URL.Path", "frameId": frames[0]["id"],
                                "context": "watch"})
    print("    r.URL.Path = %s" % ev["result"])

    say("continue, then disconnect (breakpoints removed, delve detached)")
    c.request("continue", {"threadId": tid})
    th.join(10)
    print("    the service answered the paused request: %r" % result.get("body"))
    logs = [e["body"]["output"].rstrip() for e in c.events("output")
            if e["body"].get("category") == "stdout"]
    if logs:
        print("    the service's log, streamed by kdap: %s" % logs[-1])
    c.request("disconnect", {"terminateDebuggee": False})
    c.wait_exit(10)

    say("the service still answers; the debug container has ended")
    print("    GET /after -> %r" % http_get(web, "/after", 5))
    st = {}
    for _ in range(100):
        p = json.loads(kubectl("get", "pod", pod, "-o", "json"))
        st = {s["name"]: s["state"] for s in p["status"].get("ephemeralContainerStatuses", [])}
        if st and all("terminated" in v for v in st.values()):
            break
        time.sleep(0.1)
    for name, state in st.items():
        print("    %s: %s" % (name, ", ".join("%s (%s)" % (k, v.get("reason", "")) for k, v in state.items())))
    pf.terminate()
    pf.wait(5)


if __name__ == "__main__":
    main()
