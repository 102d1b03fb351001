"""kdap behind a proxy: a kubeconfig's proxy-url carries every connection kdap opens to the
API server, the REST requests and each WebSocket tunnel (attach, port-forward), through real
proxies started here on free loopback ports: tinyproxy (HTTP CONNECT, Basic credentials from
the URL) and microsocks (SOCKS5 with user/password, as socks5:// and socks5h://).  Each proxy's
own log proves the tunnels went through it; a proxy that refuses (407, 403, SOCKS5 auth) is a
clear error naming it; no proxy credential reaches kdap's log.  kubectl reads the same
kubeconfig the same way.

The environment (HTTPS_PROXY, NO_PROXY) is chosen as client-go chooses it, loopback servers
exempt: unit-tested in tests/unit/test_net_proxy.c; here only that a loopback cluster stays
direct with HTTPS_PROXY set, for kdap as for kubectl.
"""
import base64
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from clusterdbg import APP_SRC, BUILD, LocalCluster, cluster_available  # noqa: E402
from dapclient import DapClient  # noqa: E402
from godbg import BP_LINE, free_port, kdap_path, log_file  # noqa: E402
from ocitest import CLUSTER_REPO  # noqa: E402

CL = None
APP = None
TMP = None
API_PORT = None
SKIP = cluster_available() or next(
    ("%s is not installed (scripts/setup installs it)" % t
     for t in ("tinyproxy", "microsocks") if not shutil.which(t)), None)
USER, PASSWORD = "kdap-proxy-user", "pr0xy-s3cret-Pw"


def setUpModule():
    global CL, APP, TMP, API_PORT
    if SKIP:
        raise unittest.SkipTest(SKIP)
    TMP = tempfile.mkdtemp(prefix="kdap-proxy-")
    CL = LocalCluster(os.path.join(BUILD, "e2e-cluster-attach"))
    CL.up()
    with open(os.path.join(CL.dir, "apiserver.port")) as f:
        API_PORT = int(f.read())
    APP = CL.deploy_go_hello()


def tearDownModule():
    if CL is not None:
        CL.down()
    if TMP is not None:
        shutil.rmtree(TMP, ignore_errors=True)


def wait_listening(port, proc, what, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError("%s exited (%s)" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("%s does not listen on %d" % (what, port))


def end(proc, timeout=15):
    """SIGTERM, then SIGKILL if it lingers."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Proxy:
    """A real proxy process on a free loopback port; .log() is what it logged."""

    def __init__(self, kind, port=None, auth=True, connect_port=None, password=PASSWORD):
        self.kind, self.port = kind, port or free_port()
        self.logpath = os.path.join(TMP, "%s-%d-%d.log" % (kind, self.port, time.monotonic_ns()))
        if kind == "tinyproxy":
            conf = os.path.join(TMP, "tinyproxy-%d.conf" % self.port)
            with open(conf, "w") as f:
                f.write("Port %d\nListen 127.0.0.1\nTimeout 600\nLogFile \"%s\"\nLogLevel Connect\n"
                        "MaxClients 200\nAllow 127.0.0.1\nDisableViaHeader Yes\n"
                        % (self.port, self.logpath))
                if auth:
                    f.write("BasicAuth %s %s\n" % (USER, password))
                if connect_port:
                    f.write("ConnectPort %d\n" % connect_port)
            cmd = ["tinyproxy", "-d", "-c", conf]
        else:
            cmd = ["microsocks", "-i", "127.0.0.1", "-p", str(self.port)]
            if auth:
                cmd += ["-u", USER, "-P", password]
        self.out = open(self.logpath if kind == "microsocks" else self.logpath + ".out", "w")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        wait_listening(self.port, self.proc, kind)

    def log(self):
        self.out.flush()
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def tunnels(self):
        """Tunnels the proxy opened to the API server."""
        if self.kind == "tinyproxy":
            return self.log().count('Established connection to host "127.0.0.1"')
        return self.log().count("connected to 127.0.0.1:%d" % API_PORT)

    def stop(self):
        end(self.proc)
        self.out.close()


def kubeconfig(proxy_url, name):
    """The cluster's admin kubeconfig with proxy-url added to its clusters."""
    import yaml
    with open(CL.kubeconfig) as f:
        cfg = yaml.safe_load(f)
    for c in cfg["clusters"]:
        c["cluster"]["proxy-url"] = proxy_url
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o600)
    return path


def run_kdap(args, env=None, timeout=60):
    return subprocess.run([kdap_path()] + args, capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL, env=env)


class PortForward:
    """`kdap port-forward` to go-hello's :8080 in the background."""

    def __init__(self, kc, log):
        self.err = open(log + ".stderr", "w")
        self.proc = subprocess.Popen([kdap_path(), "port-forward", "--kubeconfig", kc,
                                      "pod/" + APP.pod, "0:8080"],
                                     stdout=subprocess.PIPE, stderr=self.err, text=True,
                                     stdin=subprocess.DEVNULL, start_new_session=True,
                                     env=dict(os.environ, KDAP_LOG=log, KDAP_LOG_LEVEL="debug"))
        line = self.proc.stdout.readline()
        if not line.startswith("Forwarding from 127.0.0.1:"):
            err = self.stderr()
            self.stop()
            raise AssertionError("kdap port-forward did not start: %r %s" % (line, err))
        self.port = int(line.split(":")[1].split()[0])
        self.log = log

    def get(self, path):
        """One HTTP request on a fresh connection (so: a fresh WebSocket)."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=20)
        try:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: go-hello\r\nConnection: close\r\n\r\n" % path.encode())
            data = b""
            while True:
                d = s.recv(65536)
                if not d:
                    return data.decode(errors="replace")
                data += d
        except OSError:
            return data.decode(errors="replace")
        finally:
            s.close()

    def stderr(self):
        if not self.err.closed:
            self.err.flush()
        with open(self.err.name) as f:
            return f.read()

    def stop(self):
        end(self.proc)
        if not self.proc.stdout.closed:
            self.proc.stdout.close()
        self.err.close()


def secrets():
    return [PASSWORD, base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()]


class ProxyCase(unittest.TestCase):

    def tearDown(self):
        # no credential of a proxy URL in anything kdap wrote
        for path in glob.glob(log_file("kdap-proxy-%s*" % self._testMethodName)):
            with open(path, errors="replace") as f:
                text = f.read()
            for s in secrets():
                self.assertNotIn(s, text, "a proxy credential in %s" % path)

    def proxy(self, *a, **kw):
        p = Proxy(*a, **kw)
        self.addCleanup(p.stop)
        return p

    def logname(self, what):
        return log_file("kdap-proxy-%s-%s.log" % (self._testMethodName, what))

    def port_forward(self, kc, what="pf"):
        pf = PortForward(kc, self.logname(what))
        self.addCleanup(pf.stop)
        return pf

    def kdap(self, what):
        err = open(self.logname(what) + ".stderr", "wb")
        self.addCleanup(err.close)
        c = DapClient.spawn([kdap_path(), "--log", self.logname(what), "--log-level", "debug"],
                            stderr=err)
        self.addCleanup(c.close)
        return c

    def attach(self, kc, what="attach"):
        """A whole attach by target through kc: breakpoint verified, configured, threads."""
        c = self.kdap(what)
        c.initialize(supportsProgressReporting=True)
        seq = c.send("attach", {"name": "go-hello", "target": "deployment/go-hello",
                                "kubeconfig": kc, "namespace": "default",
                                "imageRepo": CLUSTER_REPO})
        c.wait_event("initialized", 40)
        bps = c.request("setBreakpoints", {"source": {"path": APP_SRC}, "breakpoints": [{"line": BP_LINE}]})
        self.assertTrue(bps["breakpoints"][0]["verified"], bps)
        c.request("configurationDone")
        c.expect_response(seq, 30, success=True)
        self.assertTrue(c.request("threads")["threads"])
        c.request("disconnect", {"terminateDebuggee": False})
        c.wait_exit(15)
        with open(self.logname(what)) as f:
            return f.read()

    def attach_error(self, kc, what="attach-error"):
        c = self.kdap(what)
        c.initialize()
        r = c.request_error("attach", {"name": "go-hello", "target": "deployment/go-hello",
                                       "kubeconfig": kc, "namespace": "default",
                                "imageRepo": CLUSTER_REPO}, timeout=30)
        c.request("disconnect", {})
        c.wait_exit(10)
        return r.get("message", "")

    def tunnels_per_connection(self, px, pf, n=3):
        """n HTTP requests through the port-forward, each on its own connection: each is a
        WebSocket of its own, and the proxy must have opened a tunnel for each."""
        before = px.tunnels()
        for i in range(n):
            self.assertIn("/via-proxy-%d" % i, pf.get("/via-proxy-%d" % i))
        deadline = time.monotonic() + 5
        while px.tunnels() < before + n and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertEqual(px.tunnels(), before + n, px.log()[-3000:])

    # -- HTTP CONNECT (tinyproxy) ------------------------------------------------------
    def test_http_connect_attach_and_port_forward(self):
        px = self.proxy("tinyproxy")
        kc = kubeconfig("http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, px.port), "http.kubeconfig")
        log = self.attach(kc)
        self.assertIn("through the proxy http://127.0.0.1:%d" % px.port, log)
        self.assertIn("port-forward default/%s" % APP.pod, log)
        self.assertGreaterEqual(px.tunnels(), 2, px.log()[-3000:])   # REST + the tunnel
        pf = self.port_forward(kc)
        self.tunnels_per_connection(px, pf)
        # kubectl takes the same kubeconfig through the same proxy
        before = px.tunnels()
        r = subprocess.run(["kubectl", "--kubeconfig", kc, "get", "pod", APP.pod, "-o", "name"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(px.tunnels(), before)

    def test_http_proxy_refusals(self):
        # 407: no credentials in the URL (REST: the first request)
        px = self.proxy("tinyproxy")
        kc = kubeconfig("http://127.0.0.1:%d" % px.port, "noauth.kubeconfig")
        msg = self.attach_error(kc)
        self.assertIn("the proxy http://127.0.0.1:%d refused the tunnel" % px.port, msg)
        self.assertIn("HTTP 407", msg)
        self.assertIn("check the user and password", msg)
        # 403 on the WebSocket: the proxy is replaced under a running port-forward by one whose
        # rules allow only port 443; the next connection's tunnel is refused with its words
        kc = kubeconfig("http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, px.port), "auth.kubeconfig")
        pf = self.port_forward(kc)
        self.assertIn("/before", pf.get("/before"))
        px.stop()
        strict = self.proxy("tinyproxy", port=px.port, connect_port=443)
        self.assertNotIn("/after", pf.get("/after"))
        deadline = time.monotonic() + 10
        while "refused the tunnel" not in pf.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("the proxy http://127.0.0.1:%d refused the tunnel to 127.0.0.1:%d: HTTP 403"
                      % (strict.port, API_PORT), pf.stderr())
        self.assertIn("CONNECT 127.0.0.1:%d" % API_PORT, strict.log())

    # -- SOCKS5 (microsocks) -----------------------------------------------------------
    def test_socks5_attach_and_port_forward(self):
        px = self.proxy("microsocks")
        for scheme in ("socks5", "socks5h"):
            kc = kubeconfig("%s://%s:%s@127.0.0.1:%d" % (scheme, USER, PASSWORD, px.port),
                            scheme + ".kubeconfig")
            before = px.tunnels()
            log = self.attach(kc, "attach-" + scheme)
            self.assertIn("through the proxy %s://127.0.0.1:%d" % (scheme, px.port), log)
            self.assertGreaterEqual(px.tunnels(), before + 2, px.log()[-3000:])
            pf = self.port_forward(kc, "pf-" + scheme)
            self.tunnels_per_connection(px, pf)
            pf.stop()

    def test_socks5_refusals(self):
        px = self.proxy("microsocks")
        kc = kubeconfig("socks5://%s:wrong-password@127.0.0.1:%d" % (USER, px.port), "bad.kubeconfig")
        msg = self.attach_error(kc)
        self.assertIn("socks5://127.0.0.1:%d" % px.port, msg)
        self.assertNotIn("wrong-password", msg)
        # on the WebSocket: the proxy's password changes under a running port-forward
        kc = kubeconfig("socks5://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, px.port), "ok.kubeconfig")
        pf = self.port_forward(kc)
        self.assertIn("/before", pf.get("/before"))
        px.stop()
        self.proxy("microsocks", port=px.port, password="another-one")
        self.assertNotIn("/after", pf.get("/after"))
        deadline = time.monotonic() + 10
        while "rejected" not in pf.stderr() and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertIn("the SOCKS5 proxy socks5://127.0.0.1:%d rejected the user and password of "
                      "the proxy URL" % px.port, pf.stderr())

    # -- the environment ---------------------------------------------------------------
    def test_env_proxy_skips_loopback_like_kubectl(self):
        px = self.proxy("tinyproxy")
        env = dict(os.environ, HTTPS_PROXY="http://%s:%s@127.0.0.1:%d" % (USER, PASSWORD, px.port),
                   KDAP_LOG=self.logname("doctor"), KDAP_LOG_LEVEL="debug")
        r = run_kdap(["doctor", "--kubeconfig", CL.kubeconfig], env=env)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        r = subprocess.run(["kubectl", "--kubeconfig", CL.kubeconfig, "get", "pod", APP.pod],
                           capture_output=True, text=True, timeout=60, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(px.tunnels(), 0, px.log()[-2000:])


if __name__ == "__main__":
    unittest.main()
