#!/usr/bin/python3
"""kdap's main job, end to end, on the embedded local cluster.

1. start the local cluster (tests/cluster/up) and deploy the sample Go
   service go-hello;
2. add an ephemeral debug container running delve next to it (the same
   container kdap's cluster attach creates: target container's PID
   namespace, SYS_PTRACE only) and open port-forward tunnels to delve and to
   the service;
3. drive kdap exactly as an editor does: initialize, attach, a breakpoint in
   the request handler, an HTTP request to the service, the stack and the
   variables of that request, continue, disconnect;
4. show that the service still answers, and leave the cluster as it was.

Every message kdap writes is validated against the official DAP schema on
the way (tests/e2e/dapclient.py).
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "e2e"))
from dapclient import DapClient  # noqa: E402
import clusterdbg  # noqa: E402

KDAP = os.environ.get("KDAP_BIN", os.path.join(REPO, "build", "kdap"))
DIR = os.environ.get("KDAP_DEMO_DIR", os.path.join(REPO, "build", "demo-cluster"))
SRC = os.path.join(REPO, "tests", "apps", "go-hello", "main.go")
NS = "default"


def say(msg):
    print("\033[1m==> %s\033[0m" % msg, flush=True)


def kubectl(*args, check=True, capture=True):
    r = subprocess.run(["kubectl", *args], capture_output=capture, text=True, timeout=120,
                       env=dict(os.environ, KUBECONFIG=os.path.join(DIR, "kubeconfig")))
    if check and r.returncode != 0:
        raise SystemExit("kubectl %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r.stdout


def Tunnel(pod, port):
    """A local port forwarded to the pod's port (tests/e2e/clusterdbg.py, shared with the
    editor-client tests): the stand-in until kdap's own tunnel is used here."""
    return clusterdbg.Tunnel(os.path.join(DIR, "kubeconfig"), pod, port, NS,
                             log=lambda m: print(m, flush=True))


def http_get(port, path, timeout):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=timeout) as r:
        return r.read().decode().strip()


def main():
    t0 = time.time()
    say("starting the local cluster (tests/cluster/up --dir %s)" % os.path.relpath(DIR, REPO))
    subprocess.run([os.path.join(REPO, "tests", "cluster", "up"), "--dir", DIR], check=True,
                   stdout=subprocess.DEVNULL, timeout=600)
    try:
        run(t0)
    finally:
        say("leaving the cluster as it was: deleting go-hello, stopping the cluster")
        kubectl("delete", "-f", os.path.join(REPO, "tests", "cluster", "manifests", "go-hello.yaml"),
                "--ignore-not-found", "--wait=false", check=False)
        subprocess.run([os.path.join(REPO, "tests", "cluster", "down"), "--dir", DIR],
                       stdout=subprocess.DEVNULL, timeout=120)
    say("done in %.1f s" % (time.time() - t0))


def run(t0):
    say("deploying the sample Go service go-hello")
    kubectl("apply", "-f", os.path.join(REPO, "tests", "cluster", "manifests", "go-hello.yaml"))
    kubectl("rollout", "status", "deployment/go-hello", "--timeout=60s")
    pod = kubectl("get", "pods", "-l", "app=go-hello", "-o",
                  "jsonpath={.items[0].metadata.name}").strip()
    print("    pod %s is running" % pod)

    say("adding an ephemeral debug container with delve (SYS_PTRACE only, target container app)")
    name = "kdap-dlv-%d" % (int(time.time()) % 100000)
    kubectl("debug", pod, "--image=127.0.0.1:5000/kdap/dlv:latest", "--target=app",
            "--profile=general", "-c", name, "--",
            "/usr/bin/dlv", "--headless", "--api-version=2",
            "--listen=127.0.0.1:2345", "--only-same-user=false", "attach", "1")
    for _ in range(100):
        st = json.loads(kubectl("get", "pod", pod, "-o",
                                "jsonpath={.status.ephemeralContainerStatuses}") or "[]")
        st = next((s for s in st if s["name"] == name), None)
        if st and "running" in st["state"] and "listening" in kubectl(
                "logs", pod, "-c", name, check=False):
            break
        time.sleep(0.1)
    else:
        raise SystemExit("the debug container did not start: %s" % st)

    dlv = Tunnel(pod, 2345)
    web = Tunnel(pod, 8080)
    print("    tunnels: delve at 127.0.0.1:%d, the service at 127.0.0.1:%d" % (dlv.local, web.local))

    say("kdap: initialize, attach, breakpoint at main.go:27 (the request handler)")
    c = DapClient.spawn([KDAP], stderr=subprocess.DEVNULL)
    c.initialize()
    seq = c.send("attach", {"name": "go-hello", "runtime": "go",
                            "connect": "127.0.0.1:%d" % dlv.local})
    c.wait_event("initialized", 20)
    bps = c.request("setBreakpoints", {"source": {"path": SRC}, "breakpoints": [{"line": 27}]})
    print("    breakpoint verified: %s" % bps["breakpoints"][0].get("verified"))
    c.request("configurationDone")
    c.expect_response(seq, 20, success=True)

    say("HTTP request GET /hello-from-the-demo to the service")
    result = {}
    th = threading.Thread(target=lambda: result.update(body=http_get(web.local, "/hello-from-the-demo", 30)))
    th.start()
    ev = c.wait_event("stopped", 30)
    tid = ev["body"]["threadId"]
    print("    stopped: reason %s, thread %d" % (ev["body"]["reason"], tid))

    frames = c.request("stackTrace", {"threadId": tid, "levels": 5})["stackFrames"]
    say("stack")
    for f in frames:
        print("    #%-2d %-40s %s:%d" % (frames.index(f), f["name"],
                                         os.path.basename((f.get("source") or {}).get("path", "?")),
                                         f["line"]))
    scopes = c.request("scopes", {"frameId": frames[0]["id"]})["scopes"]
    say("variables of %s" % frames[0]["name"])
    for sc in scopes:
        for v in c.request("variables", {"variablesReference": sc["variablesReference"]})["variables"]:
            if v["name"] in ("msg", "hits"):
                print("    %-6s = %s" % (v["name"], v["value"]))
    ev = c.request("evaluate", {"expression": "r.URL.Path", "frameId": frames[0]["id"], "context": "watch"})
    print("    r.URL.Path = %s" % ev["result"])

    say("continue, then disconnect (breakpoints removed, delve detached)")
    c.request("continue", {"threadId": tid})
    th.join(10)
    print("    the service answered the paused request: %r" % result.get("body"))
    c.request("disconnect", {"terminateDebuggee": False})
    c.wait_exit(10)

    say("the service still answers; the debug container has ended")
    print("    GET /after -> %r" % http_get(web.local, "/after", 5))
    for _ in range(50):
        st = json.loads(kubectl("get", "pod", pod, "-o",
                                "jsonpath={.status.ephemeralContainerStatuses}") or "[]")
        st = next((s for s in st if s["name"] == name), {})
        if "terminated" in st.get("state", {}):
            break
        time.sleep(0.1)
    print("    %s: %s" % (name, json.dumps(st.get("state"))))
    dlv.close()
    web.close()


if __name__ == "__main__":
    main()
