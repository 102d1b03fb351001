#!/usr/bin/python3
"""The local cluster's registries that require credentials (registry_auth.py), proven with real
clients: skopeo pushes to and pulls from both (Basic auth, and the Bearer token flow), refused
without or with wrong credentials; kubectl creates pods whose images the kubelet pulls with the
pod's imagePullSecrets, and without them the pod shows ErrImagePull then ImagePullBackOff worded
as a real kubelet words them.  An ephemeral container pulls with the pod's pull secrets too.

    /usr/bin/python3 tests/cluster/test_registry_auth.py

Cluster as in test_e2e_kubectl.py ($KDAP_CLUSTER_DIR or build/cluster, brought up with `up`).
"""
import json
import os
import shutil
import stat
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from api_testlib import kdap_debugger_image, wait_for  # noqa: E402
from test_e2e_kubectl import Cluster  # noqa: E402

SOURCE = "docker://127.0.0.1:5000/kdap/go-hello:latest"   # pushed by `up` to the open registry


def skopeo(*args, timeout=120):
    return subprocess.run(["skopeo"] + list(args), capture_output=True, text=True, timeout=timeout)


class RegistryAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = Cluster()
        cls.c.up()
        d = os.path.join(cls.c.dir, "registry-auth")
        with open(os.path.join(d, "credentials.json")) as f:
            cls.creds = json.load(f)
        cls.authfile = os.path.join(d, "auth.json")
        cls.certdir = os.path.join(d, "certs")
        cls.basic = cls.creds["basic"]
        cls.token = cls.creds["token"]
        cls.c.kubectl("create", "namespace", cls.c.ns, ns=False)
        # what the pods pull: pushed once by skopeo with credentials
        for reg, image, name in ((cls.basic, SOURCE, "go-hello:latest"),
                                 (cls.token, SOURCE, "go-hello:latest"),
                                 (cls.token, "docker://" + kdap_debugger_image("node"), "node-debug:latest")):
            dest = "docker://%s/kdap/%s" % (reg["registry"], name)
            p = skopeo("copy", "--src-tls-verify=false", "--dest-cert-dir", cls.certdir,
                       "--dest-creds", "%s:%s" % (reg["username"], reg["password"]), image, dest)
            if p.returncode != 0:
                raise AssertionError("skopeo copy to %s failed: %s" % (dest, p.stderr))

    @classmethod
    def tearDownClass(cls):
        cls.c.kubectl("delete", "namespace", cls.c.ns, "--wait=false", ns=False, check=False)
        cls.c.down()

    def ref(self, reg, name="go-hello:latest"):
        return "%s/kdap/%s" % (reg["registry"], name)

    # ---- skopeo

    def assert_refused(self, reg, dest, anonymous, wrong_password):
        for creds, words in ((["--no-creds"], anonymous),
                             (["--creds", reg["username"] + ":wrong"], wrong_password)):
            p = skopeo("inspect", "--cert-dir", self.certdir, *creds, dest)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn(words, p.stderr)

    def test_credential_files_are_private(self):
        for f in ("credentials.json", "auth.json", "htpasswd", "token-users.json", "tls.key", "token-signer.key"):
            mode = stat.S_IMODE(os.stat(os.path.join(self.c.dir, "registry-auth", f)).st_mode)
            self.assertEqual(mode, 0o600, f)
        # the registry logs name the user, never a password
        for log in ("registry-basic.log", "registry-token.log", "registry-token-service.log"):
            with open(os.path.join(self.c.dir, log)) as f:
                text = f.read()
            for reg in (self.basic, self.token):
                self.assertNotIn(reg["password"], text, log)

    def test_skopeo_basic_push_and_pull(self):
        dest = "docker://%s" % self.ref(self.basic, "skopeo-basic:v1")
        creds = "%s:%s" % (self.basic["username"], self.basic["password"])
        p = skopeo("copy", "--src-tls-verify=false", "--dest-cert-dir", self.certdir, "--dest-creds", creds,
                   SOURCE, dest)
        self.assertEqual(p.returncode, 0, p.stderr)
        p = skopeo("inspect", "--cert-dir", self.certdir, "--creds", creds, dest)
        self.assertEqual(p.returncode, 0, p.stderr)
        src = json.loads(skopeo("inspect", "--tls-verify=false", SOURCE).stdout)
        self.assertEqual(json.loads(p.stdout)["Digest"], src["Digest"])
        p = skopeo("inspect", "--cert-dir", self.certdir, "--authfile", self.authfile, dest)
        self.assertEqual(p.returncode, 0, p.stderr)
        # no credentials, a wrong password, a push without credentials: refused
        self.assert_refused(self.basic, dest, "authentication required", "authentication required")
        p = skopeo("copy", "--src-tls-verify=false", "--dest-cert-dir", self.certdir, "--dest-no-creds",
                   SOURCE, "docker://%s" % self.ref(self.basic, "skopeo-basic:v2"))
        self.assertNotEqual(p.returncode, 0)
        # the CA is needed: TLS is verified
        p = skopeo("inspect", "--creds", creds, dest)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("certificate", p.stderr)

    def test_skopeo_token_push_and_pull(self):
        dest = "docker://%s" % self.ref(self.token, "skopeo-token:v1")
        p = skopeo("copy", "--src-tls-verify=false", "--dest-cert-dir", self.certdir, "--dest-authfile",
                   self.authfile, SOURCE, dest)
        self.assertEqual(p.returncode, 0, p.stderr)
        creds = "%s:%s" % (self.token["username"], self.token["password"])
        p = skopeo("copy", "--src-cert-dir", self.certdir, "--src-creds", creds, dest,
                   "dir:" + os.path.join(self.c.dir, "registry-auth", "pulled-%d" % os.getpid()))
        self.assertEqual(p.returncode, 0, p.stderr)
        shutil.rmtree(os.path.join(self.c.dir, "registry-auth", "pulled-%d" % os.getpid()))
        # the token service handed out a scoped token to the user, an empty one to anonymous
        self.assert_refused(self.token, dest, "requested access to the resource is denied",
                            "invalid username/password: unauthorized: incorrect username or password")
        with open(os.path.join(self.c.dir, "registry-token-service.log")) as f:
            log = f.read()
        self.assertIn("account=kdap-token scope=repository:kdap/skopeo-token:pull,push", log)
        self.assertIn("account=(anonymous) scope=repository:kdap/skopeo-token:pull granted=[]", log)
        self.assertIn("refused: incorrect username or password", log)

    # ---- the kubelet and pull secrets

    def secret(self, name, reg):
        self.c.kubectl("create", "secret", "docker-registry", name, "--docker-server=" + reg["registry"],
                       "--docker-username=" + reg["username"], "--docker-password=" + reg["password"])

    def pod(self, name, image, secret=None, policy="Always"):
        spec = {"containers": [{"name": "app", "image": image, "imagePullPolicy": policy,
                                "env": [{"name": "PORT", "value": "8080"}]}]}
        if secret:
            spec["imagePullSecrets"] = [{"name": secret}]
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
        p = subprocess.run(["kubectl", "--kubeconfig", self.c.kubeconfig, "-n", self.c.ns, "apply", "-f", "-"],
                           input=json.dumps(body), capture_output=True, text=True, timeout=60)
        self.assertEqual(p.returncode, 0, p.stderr)

    def waiting(self, name, container="app"):
        p = self.c.kubectl("get", "pod", name, "-o", "json")
        for cs in json.loads(p.stdout).get("status", {}).get("containerStatuses", []) + \
                json.loads(p.stdout).get("status", {}).get("ephemeralContainerStatuses", []):
            if cs["name"] == container:
                return cs.get("state", {})
        return {}

    def assert_pull_refused(self, name, image, secret, words):
        self.pod(name, image, secret)
        first = wait_for(lambda: self.waiting(name).get("waiting", {}).get("reason") == "ErrImagePull"
                         and self.waiting(name)["waiting"], 30, 0.05, what="ErrImagePull of %s" % name)
        self.assertIn("Failed to pull image", first["message"])
        self.assertIn(words, first["message"])
        back = wait_for(lambda: self.waiting(name).get("waiting", {}).get("reason") == "ImagePullBackOff"
                        and self.waiting(name)["waiting"], 60, what="ImagePullBackOff of %s" % name)
        self.assertIn("Back-off pulling image", back["message"])
        self.assertIn(words, back["message"])
        self.assertNotIn(self.basic["password"], json.dumps(back))
        self.assertNotIn(self.token["password"], json.dumps(back))

    def test_kubectl_pod_pulls_with_its_pull_secret(self):
        self.secret("basic-pull", self.basic)
        self.secret("token-pull", self.token)
        self.pod("basic-with", self.ref(self.basic), "basic-pull")
        self.pod("token-with", self.ref(self.token), "token-pull")
        for name in ("basic-with", "token-with"):
            self.c.kubectl("wait", "--for=condition=Ready", "pod/" + name, "--timeout=120s", timeout=150)
        self.assert_pull_refused("basic-without", self.ref(self.basic), None, "401 Unauthorized")
        self.assert_pull_refused("token-without", self.ref(self.token), None, "pull access denied, repository "
                                 "does not exist or may require authorization: server message: insufficient_scope")
        self.assert_pull_refused("token-wrong-secret", self.ref(self.token), "basic-pull", "pull access denied")
        self.secret("token-bad", dict(self.token, password="wrong"))
        self.assert_pull_refused("token-bad-password", self.ref(self.token), "token-bad",
                                 "failed to authorize: failed to fetch oauth token: unexpected status from POST "
                                 "request to %s: 401 Unauthorized" % self.token["realm"])

    def test_ephemeral_container_pulls_with_the_pods_secret(self):
        self.secret("eph-pull", self.token)
        self.pod("eph", self.ref(self.token), "eph-pull")
        self.c.kubectl("wait", "--for=condition=Ready", "pod/eph", "--timeout=120s", timeout=150)
        self.c.kubectl("debug", "eph", "--image=" + self.ref(self.token, "node-debug:latest"),
                           "--container=dbg", "--target=app", "--", "sleep", "300")
        wait_for(lambda: "running" in self.waiting("eph", "dbg"), 60, what="the ephemeral container to run")
        # a pod whose pull secrets do not cover the debug image's registry: refused
        self.secret("eph2-pull", self.basic)
        self.pod("eph2", self.ref(self.basic), "eph2-pull")
        self.c.kubectl("wait", "--for=condition=Ready", "pod/eph2", "--timeout=120s", timeout=150)
        self.c.kubectl("debug", "eph2", "--image=" + self.ref(self.token, "node-debug:latest"),
                       "--container=dbg", "--target=app", "--", "sleep", "300")
        st = wait_for(lambda: self.waiting("eph2", "dbg").get("waiting", {}).get("reason") == "ErrImagePull"
                      and self.waiting("eph2", "dbg")["waiting"], 60, what="ErrImagePull of the ephemeral container")
        self.assertIn("pull access denied", st["message"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
