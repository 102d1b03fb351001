#!/usr/bin/python3
"""kdap's OCI image module against real registries, through `kdap image debugger|push`:

- a registry of the test's own (Debian's docker-registry, anonymous, its access log counting
  uploads): push, a second push that uploads nothing (also from an empty local cache: the
  layers are byte-identical), chunked uploads, cross-repository mounts of a base, a base index
  with two platforms, a debugger of another architecture refused before anything is pushed,
  the registry down;
- skopeo (Debian's, a client nobody here wrote) reads what kdap pushed: digests and layer lists
  match, `skopeo copy` verifies every blob;
- the local cluster's registries that require credentials (Basic, and the Bearer token flow,
  TLS with the cluster CA): credentials from docker's config.json, podman's auth.json and a
  credential helper; wrong or missing credentials are refused with a message naming the registry
  and where kdap looked, never the secret.
"""
import base64
import json
import os
import shutil
import stat
import sys
import tempfile
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ocitest  # noqa: E402
from ocitest import kdap, skopeo, env_with, inspect  # noqa: E402

MT_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_INDEX = "application/vnd.oci.image.index.v1+json"


def the_ref(p):
    lines = p.stdout.splitlines()
    if p.returncode != 0 or len(lines) != 1:
        raise AssertionError("kdap image failed (%d): stdout %r stderr %s"
                             % (p.returncode, p.stdout, p.stderr))
    return lines[0]


class AnonymousRegistry(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reg = ocitest.Registry()
        cls.home = tempfile.mkdtemp(prefix="kdap-oci-home-")
        cls.env = env_with(cls.home)
        cls.tmp = tempfile.mkdtemp(prefix="kdap-oci-")
        cls.file = os.path.join(cls.tmp, "hello.txt")
        with open(cls.file, "w") as f:
            f.write("hello from kdap\n")

    @classmethod
    def tearDownClass(cls):
        cls.reg.stop()
        shutil.rmtree(cls.home, ignore_errors=True)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def debugger(self, runtime, repo="kdap/debug", env=None, *more):
        return kdap("image", "debugger", "--runtime", runtime, "--repo",
                    "%s/%s" % (self.reg.host, repo), *more, env=env or self.env)

    def test_push_then_nothing_uploaded(self):
        before = len(self.reg.uploads())
        ref = the_ref(self.debugger("go", "kdap/first"))
        repo, digest = ref.split("@")
        self.assertEqual(repo, self.reg.host + "/kdap/first")
        self.assertRegex(digest, r"^sha256:[0-9a-f]{64}$")
        first = self.reg.uploads()[before:]
        self.assertEqual(len(first), 3, "config, busybox layer, delve layer")
        # skopeo reads it: same digest, same layers as the manifest kdap wrote
        info = inspect(ref, "--tls-verify=false")
        self.assertEqual(info["Digest"], digest)
        self.assertEqual(info["Architecture"], "amd64")
        self.assertIn("XDG_CONFIG_HOME=/root/.config", info["Env"])
        raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", "docker://" + ref).stdout)
        self.assertEqual(raw["mediaType"], MT_MANIFEST)
        self.assertEqual([l["digest"] for l in raw["layers"]], info["Layers"])
        cfg = json.loads(skopeo("inspect", "--tls-verify=false", "--config", "docker://" + ref).stdout)
        self.assertEqual(len(cfg["rootfs"]["diff_ids"]), 2)
        self.assertEqual(len(cfg["history"]), 2)
        # again: the same digest, nothing uploaded, and nothing written: the tag names that
        # manifest already (rewriting it makes docker-registry fail a concurrent HEAD with 500)
        def manifest_puts():
            return [ln for ln in self.reg.access_lines() if '"PUT /v2/kdap/first/manifests/' in ln]
        puts = len(manifest_puts())
        self.assertGreaterEqual(puts, 1)
        p = self.debugger("go", "kdap/first")
        self.assertEqual(the_ref(p), ref)
        self.assertIn("nothing uploaded", p.stderr)
        self.assertEqual(len(self.reg.uploads()), before + 3)
        self.assertEqual(len(manifest_puts()), puts, "a warm push writes no manifest")
        # from an empty cache too: the layers are rebuilt byte for byte
        home2 = tempfile.mkdtemp(prefix="kdap-oci-home-")
        try:
            p = self.debugger("go", "kdap/first", env_with(home2))
            self.assertEqual(the_ref(p), ref)
            self.assertIn("nothing uploaded", p.stderr)
            self.assertIn("0 of 2 layers from the cache", p.stderr)
        finally:
            shutil.rmtree(home2, ignore_errors=True)
        self.assertEqual(len(self.reg.uploads()), before + 3)

    def test_proxy_environment_read_as_skopeo_reads_it(self):
        """http_proxy/HTTPS_PROXY name a proxy that is not there: a loopback registry is still
        reached directly, as Go clients (skopeo) do; libcurl's own reading would use it."""
        import socket
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            dead = "http://127.0.0.1:%d" % s.getsockname()[1]
        env = dict(self.env, http_proxy=dead, HTTP_PROXY=dead, https_proxy=dead, HTTPS_PROXY=dead,
                   ALL_PROXY=dead, all_proxy=dead)
        ref = the_ref(self.debugger("node", "kdap/via-env", env))
        import subprocess
        p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "docker://" + ref],
                           capture_output=True, text=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr)
        self.assertEqual(json.loads(p.stdout)["Digest"], ref.split("@")[1])

    def test_skopeo_copy_verifies_every_blob(self):
        ref = the_ref(self.debugger("gdb", "kdap/gdb"))
        out = os.path.join(self.tmp, "layout")
        p = skopeo("copy", "--src-tls-verify=false", "docker://" + ref, "oci:%s:x" % out)
        self.assertEqual(p.returncode, 0, p.stderr)
        with open(os.path.join(out, "index.json")) as f:
            idx = json.load(f)
        self.assertEqual(idx["manifests"][0]["digest"], ref.split("@")[1])
        # the gdbserver layer holds gdbserver, its loader and its libraries
        raw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", "docker://" + ref).stdout)
        layer = os.path.join(out, "blobs", "sha256", raw["layers"][1]["digest"][7:])
        import tarfile
        with tarfile.open(layer) as tf:
            names = tf.getnames()
            self.assertIn("usr/bin/gdbserver", names)
            self.assertTrue(any(n.endswith("/libc.so.6") for n in names), names)
            self.assertTrue(any("ld-linux" in n for n in names), names)
            for m in tf.getmembers():
                self.assertEqual((m.mtime, m.uid, m.gid), (0, 0, 0), m.name)
        # node's image is busybox alone: one layer, shared with the others
        nref = the_ref(self.debugger("node", "kdap/gdb"))
        nraw = json.loads(skopeo("inspect", "--tls-verify=false", "--raw", "docker://" + nref).stdout)
        self.assertEqual(len(nraw["layers"]), 1)
        self.assertEqual(nraw["layers"][0]["digest"], raw["layers"][0]["digest"])

    def test_chunked_upload(self):
        big = os.path.join(self.tmp, "big.bin")
        with open(big, "wb") as f:
            f.write(os.urandom(3 << 20))
        before = len(self.reg.access_lines())
        ref = the_ref(kdap("image", "push", big + ":/data/big.bin", "--repo",
                           self.reg.host + "/kdap/chunked:v1", "--chunk-size", str(1 << 20),
                           env=self.env))
        lines = self.reg.access_lines()[before:]
        patches = [ln for ln in lines if '"PATCH /v2/kdap/chunked/blobs/uploads/' in ln]
        self.assertGreaterEqual(len(patches), 3, "".join(lines))
        p = skopeo("copy", "--src-tls-verify=false", "docker://" + ref,
                   "oci:%s:c" % os.path.join(self.tmp, "chunked"))
        self.assertEqual(p.returncode, 0, p.stderr)

    def test_base_layers_are_mounted(self):
        base = the_ref(self.debugger("node", "kdap/base"))
        before = len(self.reg.uploads())
        p = kdap("image", "push", self.file + ":/srv/hello.txt", "--repo",
                 self.reg.host + "/team/app:v1", "--base", base, "--entrypoint", "/bin/cat",
                 "--entrypoint", "/srv/hello.txt", "--env", "HOME=/srv", env=self.env)
        ref = the_ref(p)
        self.assertIn("1 mounted", p.stderr)
        mounts = [ln for ln in self.reg.access_lines() if "mount=" in ln and '" 201 ' in ln]
        self.assertTrue(mounts, "no cross-repository mount in the registry's log")
        # only our layer and the config were uploaded
        self.assertEqual(len(self.reg.uploads()), before + 2)
        info = inspect(ref, "--tls-verify=false")
        binfo = inspect(base, "--tls-verify=false")
        self.assertEqual(info["Layers"][:1], binfo["Layers"])
        self.assertEqual(len(info["Layers"]), 2)
        self.assertIn("HOME=/srv", info["Env"])
        self.assertNotIn("HOME=/root", info["Env"])
        cfg = json.loads(skopeo("inspect", "--tls-verify=false", "--config", "docker://" + ref).stdout)
        self.assertEqual(cfg["config"]["Entrypoint"], ["/bin/cat", "/srv/hello.txt"])

    def put_manifest(self, repo, ref, body, mt):
        req = urllib.request.Request("http://%s/v2/%s/manifests/%s" % (self.reg.host, repo, ref),
                                     data=body, method="PUT", headers={"Content-Type": mt})
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.headers["Docker-Content-Digest"]

    def test_base_from_an_index_by_platform(self):
        digests = {}
        for arch in ("amd64", "arm64"):
            f = os.path.join(self.tmp, "arch-" + arch)
            with open(f, "w") as fh:
                fh.write(arch + "\n")
            ref = the_ref(kdap("image", "push", f + ":/arch", "--repo",
                               "%s/multi/base:%s" % (self.reg.host, arch), "--platform",
                               "linux/" + arch, env=self.env))
            digests[arch] = ref.split("@")[1]
        sizes = {}
        for arch, d in digests.items():
            raw = skopeo("inspect", "--tls-verify=false", "--raw",
                         "docker://%s/multi/base@%s" % (self.reg.host, d)).stdout
            sizes[arch] = len(raw.encode())
        index = {"schemaVersion": 2, "mediaType": MT_INDEX, "manifests": [
            {"mediaType": MT_MANIFEST, "digest": digests[a], "size": sizes[a],
             "platform": {"os": "linux", "architecture": a}} for a in ("amd64", "arm64")]}
        self.put_manifest("multi/base", "both", json.dumps(index).encode(), MT_INDEX)
        base = "%s/multi/base:both" % self.reg.host
        ref = the_ref(kdap("image", "push", self.file, "--repo", self.reg.host + "/multi/app:arm",
                           "--base", base, "--platform", "linux/arm64", env=self.env))
        arm_layers = inspect("%s/multi/base@%s" % (self.reg.host, digests["arm64"]),
                             "--tls-verify=false")["Layers"]
        info = inspect(ref, "--tls-verify=false", "--override-arch", "arm64")
        self.assertEqual(info["Architecture"], "arm64")
        self.assertEqual(info["Layers"][0], arm_layers[0])
        p = kdap("image", "push", self.file, "--repo", self.reg.host + "/multi/app:s390x",
                 "--base", base, "--platform", "linux/s390x", env=self.env)
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("index without an image for linux/s390x", p.stderr)

    def test_debugger_of_another_architecture_is_refused(self):
        before = len(self.reg.access_lines())
        p = self.debugger("go", "kdap/arm", None, "--platform", "linux/arm64")
        self.assertNotEqual(p.returncode, 0)
        self.assertEqual(p.stdout, "")
        self.assertIn("is built for amd64 but the target runs on arm64", p.stderr)
        self.assertIn("debuggerBinaries.", p.stderr)
        self.assertEqual(len(self.reg.access_lines()), before, "nothing may reach the registry")

    def test_registry_down(self):
        port = ocitest.free_port()
        p = kdap("image", "debugger", "--runtime", "node", "--repo",
                 "127.0.0.1:%d/kdap/debug" % port, env=self.env)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "")
        self.assertIn("cannot reach registry 127.0.0.1:%d" % port, p.stderr)

    def test_bad_arguments(self):
        p = kdap("image", "debugger", "--runtime", "cobol", "--repo", self.reg.host + "/x",
                 env=self.env)
        self.assertNotEqual(p.returncode, 0)
        self.assertIn('unknown runtime "cobol"', p.stderr)
        p = kdap("image", "debugger", "--runtime", "go", "--repo", self.reg.host + "/x:tag",
                 env=self.env)
        self.assertIn("imageRepo", p.stderr)
        self.assertIn("names a tag or digest", p.stderr)
        p = kdap("image", "debugger", "--runtime", "go", "--repo", self.reg.host + "/x",
                 "--debugger", "/etc/passwd", env=self.env)
        self.assertIn("debuggerBinaries.dlv", p.stderr)


class AuthenticatedRegistries(unittest.TestCase):
    """The local cluster's registries that require credentials (tests/cluster/README.md)."""

    @classmethod
    def setUpClass(cls):
        sys.path.insert(0, os.path.join(ocitest.REPO, "tests", "e2e"))
        from kubecluster import Cluster
        cls.c = Cluster()
        cls.c.up()
        d = os.path.join(cls.c.dir, "registry-auth")
        with open(os.path.join(d, "credentials.json")) as f:
            cls.creds = json.load(f)
        cls.ca = os.path.join(d, "certs", "ca.crt")
        cls.authfile = os.path.join(d, "auth.json")
        cls.tmp = tempfile.mkdtemp(prefix="kdap-oci-auth-")

    @classmethod
    def tearDownClass(cls):
        cls.c.down()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def home(self, docker=None, podman=None):
        h = tempfile.mkdtemp(prefix="home-", dir=self.tmp)
        if docker is not None:
            os.makedirs(os.path.join(h, ".docker"))
            with open(os.path.join(h, ".docker", "config.json"), "w") as f:
                json.dump(docker, f)
        if podman is not None:
            os.makedirs(os.path.join(h, ".config", "containers"))
            with open(os.path.join(h, ".config", "containers", "auth.json"), "w") as f:
                json.dump(podman, f)
        return h

    def auths(self, kind, password=None):
        r = self.creds[kind]
        up = "%s:%s" % (r["username"], password or r["password"])
        return {"auths": {"https://%s" % r["registry"]: {"auth": base64.b64encode(up.encode()).decode()}}}

    def push(self, kind, home, repo="kdap/debug", runtime="node", **env):
        return kdap("image", "debugger", "--runtime", runtime, "--repo",
                    "%s/%s" % (self.creds[kind]["registry"], repo), "--ca", self.ca,
                    env=env_with(home, **env))

    def secrets(self):
        return [self.creds[k]["password"] for k in ("basic", "token")]

    def assert_no_secret(self, p):
        for s in self.secrets():
            self.assertNotIn(s, p.stdout + p.stderr)

    def test_basic_and_bearer(self):
        for kind in ("basic", "token"):
            with self.subTest(kind=kind):
                log = os.path.join(self.c.dir, "registry-%s.log" % kind)
                h = self.home(docker=self.auths(kind))
                before = len(ocitest.uploads_in(log))
                ref = the_ref(self.push(kind, h, runtime="go"))
                after = len(ocitest.uploads_in(log))
                self.assertGreaterEqual(after - before, 0)
                p = self.push(kind, h, runtime="go")
                self.assertEqual(the_ref(p), ref)
                self.assertIn("nothing uploaded", p.stderr)
                self.assertEqual(len(ocitest.uploads_in(log)), after)
                r = self.creds[kind]
                info = inspect(ref, "--cert-dir", os.path.dirname(self.ca), "--creds",
                               "%s:%s" % (r["username"], r["password"]))
                self.assertEqual(info["Digest"], ref.split("@")[1])
                self.assert_no_secret(p)
        # the token service was asked per scope, never with a password in its log
        with open(os.path.join(self.c.dir, "registry-token-service.log")) as f:
            text = f.read()
        self.assertIn("scope=repository:kdap/debug:pull,push", text)

    def test_podman_auth_file_and_credential_helper(self):
        h = self.home(podman=self.auths("basic"))
        the_ref(self.push("basic", h, repo="kdap/podman"))
        h = self.home()
        the_ref(self.push("token", h, repo="kdap/regfile", REGISTRY_AUTH_FILE=self.authfile))
        # docker-credential-NAME get: the host on stdin, JSON on stdout
        r = self.creds["token"]
        bindir = os.path.join(self.tmp, "bin")
        os.makedirs(bindir, exist_ok=True)
        helper = os.path.join(bindir, "docker-credential-kdaptest")
        with open(helper, "w") as f:
            f.write("#!/bin/sh\nread host\n[ \"$host\" = \"%s\" ] || { echo 'credentials not found "
                    "in native keychain'; exit 1; }\necho '{\"ServerURL\":\"%s\",\"Username\":\"%s\","
                    "\"Secret\":\"%s\"}'\n" % (r["registry"], r["registry"], r["username"],
                                               r["password"]))
        os.chmod(helper, 0o700)
        h = self.home(docker={"credHelpers": {r["registry"]: "kdaptest"}})
        p = self.push("token", h, repo="kdap/helper", PATH=bindir + ":" + os.environ["PATH"])
        the_ref(p)
        self.assert_no_secret(p)
        # credsStore: the same helper for every registry the file does not name
        h = self.home(docker={"credsStore": "kdaptest"})
        p = self.push("token", h, repo="kdap/store", PATH=bindir + ":" + os.environ["PATH"])
        the_ref(p)
        self.assert_no_secret(p)
        # an identity token goes to the token service as an OAuth2 refresh token (POST), never
        # as a password; this token service grants nothing for it, and kdap says whose it was
        h = self.home(docker={"auths": {r["registry"]: {"identitytoken": "kdap-refresh-secret"}}})
        p = self.push("token", h, repo="kdap/idtoken")
        self.assertEqual(p.returncode, 1)
        self.assertIn("rejected the credentials from", p.stderr)
        self.assertNotIn("kdap-refresh-secret", p.stderr + p.stdout)
        h = self.home(docker={"credHelpers": {r["registry"]: "notinstalled"}})
        p = self.push("token", h, repo="kdap/helper")
        self.assertNotEqual(p.returncode, 0)
        self.assertIn("docker-credential-notinstalled", p.stderr)

    def test_wrong_or_missing_credentials(self):
        for kind in ("basic", "token"):
            with self.subTest(kind=kind):
                reg = self.creds[kind]["registry"]
                h = self.home(docker=self.auths(kind, password="not-the-password"))
                p = self.push(kind, h)
                self.assertEqual(p.returncode, 1)
                self.assertEqual(p.stdout, "")
                self.assertIn("registry %s rejected the credentials from %s" %
                              (reg, os.path.join(h, ".docker", "config.json")), p.stderr)
                self.assertNotIn("not-the-password", p.stderr)
                self.assert_no_secret(p)
                h = self.home()
                p = self.push(kind, h)
                self.assertEqual(p.returncode, 1)
                self.assertIn("registry %s requires credentials" % reg, p.stderr)
                self.assertIn("Looked in: REGISTRY_AUTH_FILE (unset)", p.stderr)
                self.assertIn(os.path.join(h, ".docker", "config.json"), p.stderr)

    def test_tls_needs_the_ca(self):
        h = self.home(docker=self.auths("basic"))
        p = kdap("image", "debugger", "--runtime", "node", "--repo",
                 self.creds["basic"]["registry"] + "/kdap/debug", env=env_with(h))
        self.assertEqual(p.returncode, 1)
        self.assertIn("is not trusted", p.stderr)


if __name__ == "__main__":
    unittest.main()
