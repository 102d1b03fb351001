"""Helpers for the tests of kdap's OCI image module (test_oci.py, bench/oci_push.py): a
registry of their own (Debian's docker-registry on a free loopback port, with an access log to
count uploads), kdap's image commands, skopeo."""
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

from kubecluster import environ

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.environ.get("KDAP_REPO") or os.path.abspath(os.path.join(HERE, "..", ".."))
KDAP = os.environ.get("KDAP_BIN") or os.path.join(REPO, "build", "kdap")

CONFIG = """version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: true
http:
  addr: {addr}
  secret: kdap-oci-test
"""


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Registry:
    """An anonymous docker-registry on 127.0.0.1:<free port>; stop() kills it."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="kdap-oci-reg-")
        self.port = free_port()
        self.host = "127.0.0.1:%d" % self.port
        cfg = os.path.join(self.dir, "config.yml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(root=os.path.join(self.dir, "data"), addr=self.host))
        self.log = os.path.join(self.dir, "registry.log")
        with open(self.log, "ab") as logf:
            self.proc = subprocess.Popen(["/usr/bin/docker-registry", "serve", cfg],
                                         stdout=logf, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL)
        deadline = time.time() + 15
        while True:
            try:
                with urllib.request.urlopen("http://%s/v2/" % self.host, timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("docker-registry did not start, see %s" % self.log)
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def access_lines(self):
        with open(self.log, errors="replace") as f:
            return [ln for ln in f if '"' in ln and " /v2/" in ln]

    def uploads(self):
        """Completed blob uploads: each ends with PUT .../blobs/uploads/...?digest=..."""
        return [ln for ln in self.access_lines() if '"PUT /v2/' in ln and "/blobs/uploads/" in ln]


def uploads_in(log):
    with open(log, errors="replace") as f:
        return [ln for ln in f if '"PUT /v2/' in ln and "/blobs/uploads/" in ln]


def kdap(*args, env=None, timeout=180):
    p = subprocess.run([KDAP] + list(args), capture_output=True, text=True, timeout=timeout,
                       env=env, stdin=subprocess.DEVNULL)
    return p


def skopeo(*args, timeout=120):
    return subprocess.run(["skopeo"] + list(args), capture_output=True, text=True, timeout=timeout)


def env_with(home, **extra):
    """kdap's environment with HOME (and so the docker/podman files) and the cache of its own."""
    return environ(**dict({"HOME": home, "XDG_CACHE_HOME": os.path.join(home, ".cache"),
                           "REGISTRY_AUTH_FILE": None, "DOCKER_CONFIG": None,
                           "XDG_RUNTIME_DIR": None}, **extra))


def inspect(ref, *flags):
    p = skopeo("inspect", *flags, "docker://" + ref)
    if p.returncode != 0:
        raise AssertionError("skopeo inspect %s: %s" % (ref, p.stderr))
    return json.loads(p.stdout)


# The local cluster's open registry (tests/cluster/README.md): kdap pushes its debugger images
# there itself (imageRepo); `up` no longer puts any there.
CLUSTER_REPO = "127.0.0.1:5000/kdap/debug"
_images = {}


def debugger_image(runtime, repo=CLUSTER_REPO, env=None):
    """REPO@sha256:... of kdap's debugger image for `runtime`, as `kdap image debugger` pushes it
    (for tests that start a debugger themselves, e.g. `kubectl debug --image`)."""
    key = (runtime, repo)
    if key not in _images:
        p = kdap("image", "debugger", "--runtime", runtime, "--repo", repo, "-q", env=env)
        lines = p.stdout.splitlines()
        if p.returncode != 0 or len(lines) != 1:
            raise RuntimeError("kdap image debugger --runtime %s failed: %s" % (runtime, p.stderr))
        _images[key] = lines[0]
    return _images[key]


def auth_registry(cluster_dir, kind="token"):
    """The cluster's registry with credentials: (registry, repo for kdap, CA file, auth file,
    credentials dict)."""
    d = os.path.join(cluster_dir, "registry-auth")
    with open(os.path.join(d, "credentials.json")) as f:
        creds = json.load(f)
    r = creds[kind]
    return {"registry": r["registry"], "repo": r["registry"] + "/kdap/debug",
            "ca": os.path.join(d, "certs", "ca.crt"), "authfile": os.path.join(d, "auth.json"),
            "username": r["username"], "password": r["password"]}


def pull_secret_yaml(name, reg):
    """A kubernetes.io/dockerconfigjson Secret for the registry `reg` (auth_registry())."""
    import base64
    auth = base64.b64encode(("%s:%s" % (reg["username"], reg["password"])).encode()).decode()
    cfg = json.dumps({"auths": {reg["registry"]: {"auth": auth}}})
    return json.dumps({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
                       "type": "kubernetes.io/dockerconfigjson",
                       "data": {".dockerconfigjson": base64.b64encode(cfg.encode()).decode()}})


PULL_SECRET = "kdap-pull"


def use_auth_registry(cluster, kind="token", ns="default"):
    """Make `cluster`'s registry with credentials the one kdap pushes its debugger images to:
    a pull secret for it in `ns` (pods name it in imagePullSecrets), and REGISTRY_AUTH_FILE for
    every kdap this process starts (its credentials, as podman finds them).  Returns the
    attach keys that name it: imageRepo and imageCA."""
    reg = auth_registry(cluster.dir, kind)
    p = subprocess.run(["kubectl", "apply", "-n", ns, "-f", "-"], input=pull_secret_yaml(PULL_SECRET, reg),
                       text=True, capture_output=True, timeout=60,
                       env=dict(os.environ, KUBECONFIG=cluster.kubeconfig))
    if p.returncode != 0:
        raise RuntimeError("cannot create the pull secret: %s" % p.stderr)
    os.environ["REGISTRY_AUTH_FILE"] = reg["authfile"]
    return {"imageRepo": reg["repo"], "imageCA": reg["ca"]}
