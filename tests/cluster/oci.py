#!/usr/bin/python3
"""OCI image helpers for the kdap test cluster (standard library only).

- build_image(): turn a description tests/cluster/images/NAME.json into an OCI image
  (one reproducible gzip layer, OCI config with diff_ids, OCI manifest) under build/images/NAME/.
- push_image(): push it to a distribution v2 registry with plain HTTP (HEAD/POST/PUT blobs, PUT manifest).
- Registry / pull_and_extract(): used by the kubelet: resolve a reference with OCI Accept headers
  (answering Basic and Bearer challenges with a pod's pull-secret credentials), verify every
  digest, apply layers in order (whiteouts `.wh.` and `.wh..wh..opq`).

Nothing here talks to any host but the cluster's own registries and token service (127.0.0.1 /
localhost; see registry_auth.py).
"""
import base64
import gzip
import hashlib
import http.client
import io
import json
import os
import re
import shutil
import ssl
import stat
import subprocess
import tarfile
import urllib.parse

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGES_DIR = os.path.join(REPO_ROOT, "tests", "cluster", "images")
REGISTRY = "127.0.0.1:5000"
LOCAL_REGISTRIES = ("127.0.0.1:5000", "localhost:5000")

MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_LAYER_GZ = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_ACCEPT = ", ".join([MT_OCI_MANIFEST, MT_OCI_INDEX, MT_DOCKER_MANIFEST, MT_DOCKER_LIST])

BUSYBOX = "/bin/busybox"
DEFAULT_APPLETS = ["sh", "ash", "cat", "ps", "ls", "kill", "env", "sleep", "echo", "hostname", "id",
                   "mkdir", "rm", "head", "tail", "grep", "wc", "true", "false", "test", "[",
                   "readlink", "pidof", "top", "uname", "touch", "printf", "wget", "nc", "stat", "find"]
PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
GROUP = "root:x:0:\nnogroup:x:65534:\n"


class ImageError(Exception):
    pass


# Everything a fresh machine lacks is installed by this one command.
INSTALL_HINT = "install what is missing with: scripts/setup"


def _program_missing(prog):
    if os.sep in prog:
        return not os.access(prog, os.X_OK)
    return shutil.which(prog) is None


def missing_inputs(names):
    """What the host lacks to build images NAMES: ["PATH (image NAME)", ...], [] when nothing.
    Files that an image's own build step produces are not counted."""
    missing = []
    if any(load_description(n).get("files") for n in names) and shutil.which("ldd") is None:
        missing.append("ldd (images' shared libraries)")
    for name in names:
        desc = load_description(name)
        b = desc.get("build") or {}
        made = os.path.dirname(_abs(b["output"])) if b.get("output") else None
        need = []
        if b.get("command"):
            prog = b["command"][0].replace("{repo}", REPO_ROOT)
            if _program_missing(prog):
                need.append(os.path.relpath(prog, REPO_ROOT) if prog.startswith(REPO_ROOT + os.sep) else prog)
        for spec in desc.get("files", []):
            src = _abs(spec["src"])
            if made and src.startswith(made + os.sep):
                continue
            if not os.path.exists(src):
                need.append(spec["src"])
        if desc.get("busybox") and not os.path.exists(BUSYBOX):
            need.append(BUSYBOX)
        missing += ["%s (image %s)" % (n, name) for n in need]
    return missing


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------------------------
# building

def image_names():
    return sorted(f[:-5] for f in os.listdir(IMAGES_DIR) if f.endswith(".json"))


def load_description(name):
    path = os.path.join(IMAGES_DIR, name + ".json")
    if not os.path.exists(path):
        raise ImageError("no image description %s" % path)
    with open(path) as f:
        return json.load(f)


def _abs(p):
    return p if os.path.isabs(p) else os.path.join(REPO_ROOT, p)


def _newest_mtime(paths):
    newest = 0.0
    for p in paths:
        p = _abs(p)
        if os.path.isdir(p):
            for dp, _dn, fns in os.walk(p):
                for fn in fns:
                    newest = max(newest, os.stat(os.path.join(dp, fn)).st_mtime)
        elif os.path.exists(p):
            newest = max(newest, os.stat(p).st_mtime)
    return newest


def run_build_step(desc, log=print):
    """Run the optional "build" step when its output is missing or older than its inputs."""
    b = desc.get("build")
    if not b:
        return
    out = _abs(b["output"])
    if os.path.exists(out) and os.stat(out).st_mtime >= _newest_mtime(b.get("inputs", [])):
        return
    os.makedirs(os.path.dirname(out), exist_ok=True)
    env = dict(os.environ)
    for k, v in b.get("env", {}).items():
        env[k] = v.replace("{repo}", REPO_ROOT)
    cmd = [c.replace("{repo}", REPO_ROOT).replace("{output}", out) for c in b["command"]]
    log("image: build step: %s" % " ".join(cmd))
    try:
        r = subprocess.run(cmd, cwd=_abs(b.get("cwd", ".")), env=env)
    except FileNotFoundError:
        raise ImageError("build step needs %s, which is missing; %s" % (cmd[0], INSTALL_HINT))
    if r.returncode != 0:
        raise ImageError("build step failed (%d): %s" % (r.returncode, " ".join(cmd)))


def shared_libs(path):
    """Shared libraries of an ELF file as reported by ldd (absolute paths), [] if static."""
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            return []
    r = subprocess.run(["ldd", path], capture_output=True, text=True)
    libs = []
    for line in r.stdout.splitlines():
        line = line.strip()
        m = re.match(r"\S+ => (/\S+) \(0x", line) or re.match(r"(/\S+) \(0x", line)
        if m:
            libs.append(m.group(1))
    return libs


def collect_entries(desc):
    """Map of image path -> ("file", host_path, mode) | ("dir", mode) | ("symlink", target) | ("data", bytes, mode)."""
    entries = {}

    def add_dir(p, mode=0o755):
        p = os.path.normpath("/" + p.lstrip("/"))
        while p != "/":
            if p not in entries:
                entries[p] = ("dir", mode)
            p = os.path.dirname(p)
            mode = 0o755

    def add(p, entry):
        p = os.path.normpath("/" + p.lstrip("/"))
        add_dir(os.path.dirname(p))
        entries[p] = entry

    for d in ["/etc", "/proc", "/dev", "/sys", "/root"]:
        add_dir(d)
    entries["/tmp"] = ("dir", 0o1777)
    add("/etc/passwd", ("data", PASSWD.encode(), 0o644))
    add("/etc/group", ("data", GROUP.encode(), 0o644))
    add("/etc/nsswitch.conf", ("data", b"hosts: files dns\n", 0o644))
    for d in desc.get("dirs", []):
        add_dir(d, 0o1777 if d.rstrip("/") in ("/tmp",) else 0o755)

    for spec in desc.get("files", []):
        src = _abs(spec["src"])
        dst = spec.get("dst", spec["src"])
        if not os.path.exists(src):
            raise ImageError("file %s (for %s) does not exist; %s" % (src, dst, INSTALL_HINT))
        st = os.stat(src)
        add(dst, ("file", src, stat.S_IMODE(st.st_mode)))
        if spec.get("libs", True):
            for lib in shared_libs(src):
                add(lib, ("file", os.path.realpath(lib), 0o755))
    bb = desc.get("busybox")
    if bb:
        applets = DEFAULT_APPLETS if bb is True else bb
        add("/bin/busybox", ("file", BUSYBOX, 0o755))
        for a in applets:
            if "/bin/" + a not in entries:
                add("/bin/" + a, ("symlink", "busybox"))
    for dst, target in desc.get("symlinks", {}).items():
        add(dst, ("symlink", target))
    return entries


def build_layer(entries):
    """Uncompressed reproducible tar (sorted, mtime 0, uid/gid 0)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for path in sorted(entries):
            e = entries[path]
            ti = tarfile.TarInfo(path.lstrip("/"))
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if e[0] == "dir":
                ti.type = tarfile.DIRTYPE
                ti.mode = e[1]
                tf.addfile(ti)
            elif e[0] == "symlink":
                ti.type = tarfile.SYMTYPE
                ti.linkname = e[1]
                ti.mode = 0o777
                tf.addfile(ti)
            elif e[0] == "data":
                ti.size = len(e[1])
                ti.mode = e[2]
                tf.addfile(ti, io.BytesIO(e[1]))
            else:
                ti.size = os.stat(e[1]).st_size
                ti.mode = e[2]
                with open(e[1], "rb") as f:
                    tf.addfile(ti, f)
    return buf.getvalue()


def fingerprint(desc, entries):
    h = hashlib.sha256(json.dumps(desc, sort_keys=True).encode())
    for path in sorted(entries):
        e = entries[path]
        if e[0] == "file":
            st = os.stat(e[1])
            h.update(("%s %s %d %d %d\n" % (path, e[1], st.st_size, st.st_mtime_ns, st.st_ino)).encode())
        else:
            h.update(("%s %r\n" % (path, e)).encode())
    return h.hexdigest()


def build_image(name, out_root=None, log=print):
    """Build image NAME; returns dict(dir, manifest_digest, blobs...). Reuses the previous build when
    the inputs did not change (fingerprint of description + file sizes/mtimes)."""
    desc = load_description(name)
    run_build_step(desc, log)
    entries = collect_entries(desc)
    fp = fingerprint(desc, entries)
    out = os.path.join(out_root or os.path.join(REPO_ROOT, "build", "images"), name)
    meta_path = os.path.join(out, "image.json")
    if os.path.exists(meta_path):
        with open(meta_path) as f:
            meta = json.load(f)
        if meta.get("fingerprint") == fp and all(
                os.path.exists(os.path.join(out, "blobs", d.split(":")[1])) for d in meta["blobs"]):
            return meta
    os.makedirs(os.path.join(out, "blobs"), exist_ok=True)
    tar = build_layer(entries)
    diff_id = "sha256:" + sha256_hex(tar)
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", compresslevel=1, mtime=0, filename="") as g:
        g.write(tar)
    layer = gz.getvalue()
    layer_digest = "sha256:" + sha256_hex(layer)
    cfg = {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]}
    user_cfg = dict(desc.get("config", {}))
    if "Env" in user_cfg:
        keys = {e.split("=", 1)[0] for e in user_cfg["Env"]}
        cfg["Env"] = [e for e in cfg["Env"] if e.split("=", 1)[0] not in keys] + user_cfg.pop("Env")
    cfg.update(user_cfg)
    config = {
        "created": "1970-01-01T00:00:00Z",
        "architecture": "amd64",
        "os": "linux",
        "config": cfg,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created": "1970-01-01T00:00:00Z",
                     "created_by": "tests/cluster/image build %s" % name}],
    }
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    config_digest = "sha256:" + sha256_hex(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": MT_OCI_LAYER_GZ, "digest": layer_digest, "size": len(layer)}],
        "annotations": {"org.opencontainers.image.title": "kdap/" + name},
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    manifest_digest = "sha256:" + sha256_hex(manifest_bytes)
    for data in (layer, config_bytes, manifest_bytes):
        with open(os.path.join(out, "blobs", sha256_hex(data)), "wb") as f:
            f.write(data)
    meta = {"name": name, "fingerprint": fp, "manifest_digest": manifest_digest,
            "config_digest": config_digest, "layer_digest": layer_digest, "diff_id": diff_id,
            "blobs": [layer_digest, config_digest], "layer_size": len(layer)}
    with open(meta_path + ".tmp", "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(meta_path + ".tmp", meta_path)
    log("image: built %s: manifest %s, layer %.1f MB" % (name, manifest_digest, len(layer) / 1e6))
    return meta


# ----------------------------------------------------------------------------------------------
# registry client (local registry only)

class RegistryError(ImageError):
    def __init__(self, status, code, message, challenge=""):
        super().__init__(message)
        self.status, self.code, self.message, self.challenge = status, code, message, challenge


def parse_challenge(value):
    """`Bearer realm="…",service="…",scope="…"` -> ("bearer", {params})."""
    scheme, _, rest = value.strip().partition(" ")
    params = dict((k.lower(), v) for k, v in re.findall(r'(\w+)="([^"]*)"', rest))
    return scheme.lower(), params


def cluster_registries(cluster_dir):
    """host -> CA file (None: plain HTTP) of every registry of the cluster in cluster_dir, and the
    host of its token service (registry_auth.py writes DIR/registry-auth/registries.json)."""
    regs = {h: None for h in LOCAL_REGISTRIES}
    token_hosts = set()
    try:
        with open(os.path.join(cluster_dir, "registry-auth", "registries.json")) as f:
            pub = json.load(f)
        for k in ("basic", "token"):
            regs[pub[k]] = pub["ca"]
            regs[pub[k].replace("127.0.0.1:", "localhost:")] = pub["ca"]
        token_hosts.add(urllib.parse.urlsplit(pub["token-service"]).netloc)
    except (OSError, ValueError, KeyError):
        pass
    return regs, token_hosts


class Registry:
    """A distribution v2 client for the cluster's own registries: plain HTTP (cafile None) or TLS
    verified with the cluster CA; answers Basic and Bearer (token service) challenges with creds
    = (user, password) or anonymously."""

    def __init__(self, host=REGISTRY, timeout=60, cafile=None, creds=None, allowed=LOCAL_REGISTRIES,
                 token_hosts=()):
        if host not in allowed:
            raise ImageError("registry %s is not a registry of the local test cluster" % host)
        self.host = host
        self.allowed = tuple(allowed)
        self.token_hosts = tuple(token_hosts)
        self.timeout = timeout
        self.ctx = ssl.create_default_context(cafile=cafile) if cafile else None
        self.creds = creds
        self.authorization = None
        self.scope = None           # of the Bearer token in self.authorization

    @property
    def base(self):
        return ("https://" if self.ctx else "http://") + self.host

    def _send(self, method, path, body, headers):
        h, _, p = self.host.rpartition(":")
        if self.ctx:
            conn = http.client.HTTPSConnection(h, int(p), timeout=self.timeout, context=self.ctx)
        else:
            conn = http.client.HTTPConnection(h, int(p), timeout=self.timeout)
        hdrs = dict(headers or {})
        if self.authorization:
            hdrs["Authorization"] = self.authorization
        conn.request(method, path, body=body, headers=hdrs)
        return conn, conn.getresponse()

    def request(self, method, path, body=None, headers=None, stream=False):
        conn, resp = self._send(method, path, body, headers)
        data = None
        if resp.status == 401:
            data = resp.read()
            if self._authorize(resp.getheader("WWW-Authenticate", "")):
                conn.close()
                conn, resp = self._send(method, path, body, headers)
                data = None
        if stream:
            return conn, resp
        if data is None:
            data = resp.read()
        conn.close()
        return resp, data

    def _authorize(self, challenge):
        """Set self.authorization for CHALLENGE; False when there is nothing new to try."""
        scheme, params = parse_challenge(challenge)
        if scheme == "basic":
            if not self.creds:
                return False
            value = "Basic " + base64.b64encode(("%s:%s" % self.creds).encode()).decode()
        elif scheme == "bearer":
            if self.authorization and self.authorization.startswith("Bearer ") and \
                    params.get("error") == "insufficient_scope" and self.scope == params.get("scope"):
                return False        # the token service gave all it will for this scope
            self.scope = params.get("scope")
            value = "Bearer " + self._token(params)
        else:
            return False
        if value == self.authorization:
            return False
        self.authorization = value
        return True

    def _token(self, params):
        """A token from the challenge's realm, fetched as containerd fetches it: with credentials
        the OAuth2 password grant (POST), falling back to GET with Basic auth when the service
        does not take POST (404/405); without, an anonymous GET."""
        realm = params.get("realm", "")
        u = urllib.parse.urlsplit(realm)
        if u.scheme != "https" or u.netloc not in self.token_hosts:
            raise ImageError("token realm %s is not the local cluster's token service" % realm)
        q = {k: params[k] for k in ("service", "scope") if params.get(k)}
        if self.creds:
            form = dict(q, grant_type="password", username=self.creds[0], password=self.creds[1],
                        client_id="containerd-client")
            status, reason, data = self._token_request(u, "POST", u.path, urllib.parse.urlencode(form),
                                                       {"Content-Type": "application/x-www-form-urlencoded"})
            what, method, url = "oauth token", "POST", realm
            if status in (404, 405):
                basic = base64.b64encode(("%s:%s" % self.creds).encode()).decode()
                url = realm + "?" + urllib.parse.urlencode(q)
                status, reason, data = self._token_request(u, "GET", u.path + "?" + urllib.parse.urlencode(q),
                                                           None, {"Authorization": "Basic " + basic})
                what, method = "token", "GET"
        else:
            url = realm + "?" + urllib.parse.urlencode(q)
            status, reason, data = self._token_request(u, "GET", u.path + "?" + urllib.parse.urlencode(q), None, {})
            what, method = "anonymous token", "GET"
        if status != 200:
            raise RegistryError(status, "", "failed to authorize: failed to fetch %s: unexpected status from "
                                "%s request to %s: %d %s" % (what, method, url, status, reason))
        obj = json.loads(data)
        return obj.get("token") or obj["access_token"]

    def _token_request(self, u, method, path, body, headers):
        h, _, p = u.netloc.rpartition(":")
        conn = http.client.HTTPSConnection(h, int(p), timeout=self.timeout, context=self.ctx)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.reason, resp.read()
        finally:
            conn.close()

    @staticmethod
    def error(resp, data):
        try:
            e = json.loads(data)["errors"][0]
            return RegistryError(resp.status, e.get("code", ""), e.get("message", ""),
                                 resp.getheader("WWW-Authenticate", ""))
        except Exception:
            return RegistryError(resp.status, "", "unexpected status %d" % resp.status,
                                 resp.getheader("WWW-Authenticate", ""))

    def ping(self):
        try:
            resp, _ = self.request("GET", "/v2/")
            return resp.status == 200
        except OSError:
            return False

    def has_blob(self, repo, digest):
        resp, _ = self.request("HEAD", "/v2/%s/blobs/%s" % (repo, digest))
        return resp.status == 200

    def upload_blob(self, repo, digest, data):
        if self.has_blob(repo, digest):
            return False
        resp, body = self.request("POST", "/v2/%s/blobs/uploads/" % repo, body=b"",
                                  headers={"Content-Length": "0"})
        if resp.status != 202:
            raise self.error(resp, body)
        loc = resp.getheader("Location")
        u = urllib.parse.urlsplit(loc)
        if u.netloc and u.netloc not in self.allowed:
            raise ImageError("registry redirected the upload to %s" % u.netloc)
        path = u.path + "?" + (u.query + "&" if u.query else "") + "digest=" + urllib.parse.quote(digest)
        resp, body = self.request("PUT", path, body=data, headers={
            "Content-Type": "application/octet-stream", "Content-Length": str(len(data))})
        if resp.status != 201:
            raise self.error(resp, body)
        return True

    def put_manifest(self, repo, ref, data, media_type=MT_OCI_MANIFEST):
        resp, body = self.request("PUT", "/v2/%s/manifests/%s" % (repo, ref), body=data,
                                  headers={"Content-Type": media_type})
        if resp.status != 201:
            raise self.error(resp, body)
        return resp.getheader("Docker-Content-Digest")

    def head_manifest(self, repo, ref):
        resp, _ = self.request("HEAD", "/v2/%s/manifests/%s" % (repo, ref),
                               headers={"Accept": MANIFEST_ACCEPT})
        return resp.getheader("Docker-Content-Digest") if resp.status == 200 else None

    def get_manifest(self, repo, ref):
        resp, data = self.request("GET", "/v2/%s/manifests/%s" % (repo, ref),
                                  headers={"Accept": MANIFEST_ACCEPT})
        if resp.status != 200:
            raise self.error(resp, data)
        digest = "sha256:" + sha256_hex(data)
        if ref.startswith("sha256:") and ref != digest:
            raise ImageError("manifest digest mismatch: wanted %s, got %s" % (ref, digest))
        hdr = resp.getheader("Docker-Content-Digest")
        if hdr and hdr != digest:
            raise ImageError("manifest digest mismatch: header %s, content %s" % (hdr, digest))
        return data, resp.getheader("Content-Type", ""), digest

    def get_blob_to(self, repo, digest, path):
        conn, resp = self.request("GET", "/v2/%s/blobs/%s" % (repo, digest), stream=True)
        try:
            if resp.status != 200:
                raise self.error(resp, resp.read())
            h = hashlib.sha256()
            with open(path + ".part", "wb") as f:
                while True:
                    chunk = resp.read(1 << 20)
                    if not chunk:
                        break
                    h.update(chunk)
                    f.write(chunk)
        finally:
            conn.close()
        if "sha256:" + h.hexdigest() != digest:
            os.unlink(path + ".part")
            raise ImageError("blob digest mismatch for %s" % digest)
        os.replace(path + ".part", path)


def push_image(name, meta, registry=None, tag="latest", log=print):
    """Push a built image to REGISTRY/kdap/NAME:TAG unless the tag already points at the same manifest."""
    reg = registry or Registry()
    repo = "kdap/" + name
    if reg.head_manifest(repo, tag) == meta["manifest_digest"]:
        return False
    blobdir = os.path.join(REPO_ROOT, "build", "images", name, "blobs")
    for d in meta["blobs"]:
        with open(os.path.join(blobdir, d.split(":")[1]), "rb") as f:
            reg.upload_blob(repo, d, f.read())
    with open(os.path.join(blobdir, meta["manifest_digest"].split(":")[1]), "rb") as f:
        mdata = f.read()
    got = reg.put_manifest(repo, tag, mdata)
    if got and got != meta["manifest_digest"]:
        raise ImageError("registry computed digest %s, expected %s" % (got, meta["manifest_digest"]))
    log("image: pushed %s/%s:%s@%s" % (reg.host, repo, tag, meta["manifest_digest"]))
    return True


# ----------------------------------------------------------------------------------------------
# references and pulling (kubelet side)

def parse_reference(ref):
    """Split an image reference like a container runtime does.
    Returns (registry, repository, tag, digest, normalized)."""
    name, digest = ref, None
    if "@" in ref:
        name, digest = ref.split("@", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repo = first, rest
    else:
        registry, repo = "docker.io", name
        if "/" not in repo:
            repo = "library/" + repo
    tag = None
    if ":" in repo.rsplit("/", 1)[-1]:
        repo, tag = repo.rsplit(":", 1)
    if not tag and not digest:
        tag = "latest"
    norm = "%s/%s" % (registry, repo) + (":" + tag if tag else "") + ("@" + digest if digest else "")
    return registry, repo, tag, digest, norm


def _safe_join(root, name):
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ImageError("unsafe path in layer: %s" % name)
    return os.path.join(root, *parts) if parts else root


def _remove(path):
    if os.path.islink(path) or not os.path.isdir(path):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    else:
        shutil.rmtree(path, ignore_errors=True)


def apply_layer(root, layer_path, media_type):
    """Extract one layer (tar or tar+gzip) onto root, honouring whiteouts."""
    mode = "r:gz" if media_type.endswith("gzip") else "r:"
    with tarfile.open(layer_path, mode) as tf:
        members = tf.getmembers()
        # whiteouts apply to the lower layers: handle them before extracting this layer's content
        for m in members:
            base = os.path.basename(m.name)
            parent = os.path.dirname(m.name)
            if base == ".wh..wh..opq":
                d = _safe_join(root, parent)
                if os.path.isdir(d) and not os.path.islink(d):
                    for child in os.listdir(d):
                        _remove(os.path.join(d, child))
            elif base.startswith(".wh."):
                _remove(_safe_join(root, os.path.join(parent, base[4:])))
        for m in members:
            base = os.path.basename(m.name)
            if base.startswith(".wh."):
                continue
            if m.ischr() or m.isblk() or m.isfifo():
                continue
            target = _safe_join(root, m.name)
            parent = os.path.dirname(target)
            if not os.path.realpath(parent).startswith(os.path.realpath(root)):
                raise ImageError("layer entry escapes the root: %s" % m.name)
            if m.islnk():
                _safe_join(root, m.linkname)
            if os.path.lexists(target) and not (m.isdir() and os.path.isdir(target)
                                                and not os.path.islink(target)):
                _remove(target)
            tf.extract(m, root, set_attrs=True, numeric_owner=True)


def pull_and_extract(reference, images_dir, log=print, cluster_dir=None, auths=None):
    """Pull REFERENCE from a registry of the local cluster (cluster_registries(cluster_dir)) into
    images_dir/<digest>/rootfs (cached by manifest digest), with auths = {host: (user, password)}
    (the pod's pull secrets).  Returns dict(rootfs, config, digest, image_id, image).
    Raises RegistryError/ImageError worded as containerd words them."""
    registry, repo, tag, digest, norm = parse_reference(reference)
    regs, token_hosts = cluster_registries(cluster_dir) if cluster_dir else ({h: None for h in LOCAL_REGISTRIES},
                                                                            set())
    if registry not in regs:
        raise ImageError('failed to pull and unpack image "%s": failed to resolve reference "%s": registry '
                         '%s is not reachable from the kdap test cluster (only %s are)'
                         % (norm, norm, registry, ", ".join(sorted(regs))))
    reg = Registry(registry, cafile=regs[registry], creds=(auths or {}).get(registry), allowed=list(regs),
                   token_hosts=token_hosts)
    ref = digest or tag
    try:
        data, ctype, mdigest = reg.get_manifest(repo, ref)
    except RegistryError as e:
        what = 'failed to pull and unpack image "%s": failed to resolve reference "%s": ' % (norm, norm)
        if e.status == 404:
            raise RegistryError(404, e.code, what + '%s: not found (registry: %s)'
                                % (norm, e.message or "manifest unknown"))
        if e.message.startswith("failed to authorize"):
            raise RegistryError(e.status, e.code, what + e.message)
        scheme, params = parse_challenge(e.challenge)
        if e.status == 401 and scheme == "bearer":
            raise RegistryError(401, e.code, what + "pull access denied, repository does not exist or may "
                                "require authorization: server message: %s: %s"
                                % (params.get("error", "insufficient_scope"), "authorization failed"))
        if e.status in (401, 403):
            raise RegistryError(e.status, e.code, what + "unexpected status from HEAD request to %s/v2/%s/"
                                "manifests/%s: %d %s" % (reg.base, repo, ref, e.status,
                                                         http.client.responses.get(e.status, "")))
        raise
    except OSError as e:
        raise ImageError('failed to pull and unpack image "%s": failed to resolve reference "%s": %s'
                         % (norm, norm, e))
    manifest = json.loads(data)
    if manifest.get("mediaType", ctype) in (MT_OCI_INDEX, MT_DOCKER_LIST) or "manifests" in manifest:
        chosen = None
        for m in manifest.get("manifests", []):
            p = m.get("platform", {})
            if p.get("os") == "linux" and p.get("architecture") == "amd64":
                chosen = m
                break
        if not chosen:
            raise ImageError("no linux/amd64 image in index %s" % norm)
        data, ctype, mdigest2 = reg.get_manifest(repo, chosen["digest"])
        manifest = json.loads(data)
    image_id = "%s/%s@%s" % (registry, repo, mdigest)
    dest = os.path.join(images_dir, mdigest.replace(":", "-"))
    rootfs = os.path.join(dest, "rootfs")
    cfg_path = os.path.join(dest, "config.json")
    if os.path.exists(os.path.join(dest, "complete")):
        with open(cfg_path) as f:
            return {"rootfs": rootfs, "config": json.load(f), "digest": mdigest, "image_id": image_id,
                    "image": norm}
    tmp = dest + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.join(tmp, "rootfs"))
    blobs = os.path.join(images_dir, "blobs")
    os.makedirs(blobs, exist_ok=True)

    def fetch(d):
        p = os.path.join(blobs, d.replace(":", "-"))
        if not os.path.exists(p):
            reg.get_blob_to(repo, d, p)
        return p

    with open(fetch(manifest["config"]["digest"]), "rb") as f:
        config = json.load(f)
    layers = manifest.get("layers", [])
    diff_ids = config.get("rootfs", {}).get("diff_ids", [])
    for i, layer in enumerate(layers):
        lp = fetch(layer["digest"])
        mt = layer.get("mediaType", MT_OCI_LAYER_GZ)
        if mt not in (MT_OCI_LAYER_GZ, MT_OCI_LAYER, MT_DOCKER_LAYER_GZ):
            raise ImageError("unsupported layer media type %s" % mt)
        if i < len(diff_ids):
            h = hashlib.sha256()
            opener = gzip.open if mt.endswith("gzip") else open
            with opener(lp, "rb") as f:
                for chunk in iter(lambda: f.read(1 << 20), b""):
                    h.update(chunk)
            if "sha256:" + h.hexdigest() != diff_ids[i]:
                raise ImageError("layer %s: diff_id mismatch" % layer["digest"])
        apply_layer(os.path.join(tmp, "rootfs"), lp, mt)
    with open(os.path.join(tmp, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(tmp, "complete"), "w") as f:
        f.write(mdigest + "\n")
    shutil.rmtree(dest, ignore_errors=True)
    os.replace(tmp, dest)
    log("kubelet: pulled %s (%s)" % (norm, mdigest))
    return {"rootfs": rootfs, "config": config, "digest": mdigest, "image_id": image_id, "image": norm}
