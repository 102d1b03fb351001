#!/usr/bin/python3
"""Who may do what, and which names get in (issue 11, item 6), against the local cluster:

- `kdap doctor` does not require pods/exec (attach never uses it): it shows it as optional;
  `kdap exec` without it is refused by the API server as forbidden.
- a kubeconfig with a plain http:// server is warned about as loudly as
  insecure-skip-tls-verify (doctor's WARNING line and the log).
- namespace, pod and container names are checked as RFC 1123 names before they reach a path or
  a request line: `-n`, a kubeconfig context's namespace, CLI arguments and the DAP attach keys
  (`namespace`, `pod`, `container`, `target`) each get a clear error naming the value (control
  characters escaped) and nothing reaches the API server.

    /usr/bin/python3 -m unittest -v test_names_rbac     (from tests/e2e; needs root for the cluster)
"""
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from dapclient import DapClient  # noqa: E402
from kubecluster import KDAP, module_cluster, module_cluster_done  # noqa: E402

C = None
NO_EXEC_USER = "kdap-test-no-exec"
BAD_NS = "default\r\nX-Injected: 1"


def setUpModule():
    global C
    C = module_cluster()


def tearDownModule():
    module_cluster_done(C)


def kubeconfig(server=None, user=None, ns=None):
    return C.kubeconfig_text(server=server, user=user or {"token": C.user("admin")["token"]}, ns=ns)


def apiserver_log():
    with open(os.path.join(C.dir, "apiserver.log"), errors="replace") as f:
        return f.read()


class Rbac(unittest.TestCase):
    def setUp(self):
        # a user who may do everything but pods/exec (admin impersonates it)
        self.authz = os.path.join(C.dir, "authz.json")
        with open(self.authz) as f:
            self.saved = f.read()
        pol = json.loads(self.saved)
        pol[NO_EXEC_USER] = [{"verb": "*", "resource": "pods", "subresource": "exec"}]
        self.addCleanup(self.write, self.saved)
        self.write(json.dumps(pol))

    def write(self, text):
        # whole or not at all: the API server re-reads the file when it changes
        with open(self.authz + ".tmp", "w") as f:
            f.write(text)
        os.replace(self.authz + ".tmp", self.authz)

    def test_doctor_does_not_require_pods_exec(self):
        kc = C.write("noexec.kubeconfig", kubeconfig(user={"token": C.user("admin")["token"],
                                                           "as": NO_EXEC_USER}))
        p = C.kdap("doctor", "--kubeconfig", kc)
        out = p.stdout + p.stderr
        self.assertEqual(p.returncode, 0, out)
        self.assertIn("you are:     %s" % NO_EXEC_USER, out)
        self.assertIn("result: OK", out)
        self.assertRegex(out, r"absent\s+create\s+pods/exec\s+only for `kdap exec`")
        self.assertNotIn("MISSING", out)
        # kdap exec is what needs it, and the API server says so
        p = C.kdap("exec", "--kubeconfig", kc, "echo", "--", "true")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("forbidden", (p.stdout + p.stderr).lower())
        # with it (admin), doctor lists it as ok
        p = C.kdap("doctor", "-n", C.ns)
        self.assertRegex(p.stdout, r"ok\s+create\s+pods/exec")


class PlainHttp(unittest.TestCase):
    def test_http_server_warns(self):
        kc = C.write("http.kubeconfig", kubeconfig(server="http://127.0.0.1:1"))
        env = C.env()
        p = C.kdap("doctor", "--kubeconfig", kc, env=env)
        self.assertEqual(p.returncode, 1)
        self.assertIn("WARNING:     the server is plain http:// (http://127.0.0.1:1): requests and "
                      "credentials are not encrypted", p.stdout)
        with open(env["KDAP_LOG"]) as f:
            log = f.read()
        self.assertIn("uses a plain http:// server", log)
        self.assertIn("NOT encrypted", log)
        self.assertNotIn(C.user("admin")["token"], log + p.stdout + p.stderr)

    def test_https_server_does_not_warn(self):
        p = C.kdap("doctor", "-n", C.ns)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertNotIn("plain http", p.stdout + p.stderr)


class CliNames(unittest.TestCase):
    def refused(self, args, needle, code=None):
        before = len(apiserver_log())
        p = C.kdap(*args)
        out = p.stdout + p.stderr
        self.assertNotEqual(p.returncode, 0, out)
        if code is not None:
            self.assertEqual(p.returncode, code, out)
        self.assertIn(needle, out)
        self.assertIn("is not a valid Kubernetes name", out)
        self.assertNotIn("\r", out)
        self.assertNotIn("X-Injected", apiserver_log()[before:])
        return out

    def test_namespace_flag(self):
        for cmd in (["doctor"], ["exec", "echo", "--", "true"], ["port-forward", "pod/echo", "7001"],
                    ["kube-request", "GET", "/version"]):
            out = self.refused(cmd[:1] + ["-n", BAD_NS] + cmd[1:],
                               'namespace "default\\r\\nX-Injected: 1" is not a valid Kubernetes name')
            self.assertIn("RFC 1123 DNS label", out)
        self.refused(["doctor", "-n", "Default"], 'namespace "Default"')
        self.refused(["doctor", "-n", "a" * 64], "at most 63")

    def test_namespace_of_the_context(self):
        kc = C.write("badns.kubeconfig", kubeconfig(ns="team_a"))
        self.refused(["doctor", "--kubeconfig", kc],
                     'namespace of context "t" in %s "team_a" is not a valid Kubernetes name' % kc)

    def test_pod_and_container_arguments(self):
        self.refused(["exec", "-n", C.ns, "pod/echo\r\nX-Injected: 1", "--", "true"],
                     'pod "echo\\r\\nX-Injected: 1"', code=2)
        self.refused(["exec", "-n", C.ns, "-c", "Echo_1", "echo", "--", "true"], 'container "Echo_1"', code=2)
        self.refused(["exec", "-n", C.ns, "-c", "echo.x", "echo", "--", "true"], 'container "echo.x"', code=2)
        out = self.refused(["port-forward", "-n", C.ns, "pod/echo?x=1", "7001"], 'pod "echo?x=1"', code=2)
        self.assertIn("RFC 1123 DNS subdomain", out)
        # valid names still work
        p = C.kdap("exec", "-n", C.ns, "-c", "echo", "echo", "--", "true")
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)


class DapNames(unittest.TestCase):
    def attach_refused(self, args, needle):
        before = len(apiserver_log())
        c = DapClient.spawn([KDAP], env=C.env())
        self.addCleanup(c.close)
        c.initialize()
        r = c.request_error("attach", dict({"name": "svc", "kubeconfig": C.kubeconfig,
                                            "target": "pod/echo", "runtime": "node"}, **args))
        text = (r.get("body", {}).get("error", {}).get("format") or "") + " " + r.get("message", "")
        self.assertIn(needle, text)
        self.assertNotIn("\r", text)
        c.request("disconnect", {})
        c.wait_exit(10)
        # refused before any request about the workload
        self.assertNotIn("/pods/echo", apiserver_log()[before:])
        return text

    def test_attach_keys(self):
        self.attach_refused({"namespace": BAD_NS},
                            'namespace "default\\r\\nX-Injected: 1" is not a valid Kubernetes name')
        self.attach_refused({"pod": "echo/exec"}, '"pod" "echo/exec" is not a valid Kubernetes name')
        self.attach_refused({"container": "App"}, '"container" "App" is not a valid Kubernetes name')
        self.attach_refused({"target": "pod/echo\r\n"}, '"target": the name "echo\\r\\n" is not a valid')
        self.attach_refused({"target": "deployment/a..b"}, '"target": the name "a..b" is not a valid')
        self.attach_refused({"target": "deployment/-a"}, "RFC 1123 DNS subdomain")

    def test_kubeconfig_namespace_in_attach(self):
        kc = C.write("badns-dap.kubeconfig", kubeconfig(ns="ns\nx"))
        self.attach_refused({"kubeconfig": kc}, 'namespace of context "t" in %s "ns\\nx"' % kc)


if __name__ == "__main__":
    unittest.main(verbosity=2)
