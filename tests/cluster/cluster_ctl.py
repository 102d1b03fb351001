#!/usr/bin/python3
"""Start/stop logic of the kdap local test cluster, used by tests/cluster/up and tests/cluster/down.

up:   registry (docker-registry on 127.0.0.1:5000, storage DIR/registry), API server
      (tests/cluster/apiserver.py --dir DIR), the registries with credentials (registry_auth.py:
      Basic on 127.0.0.1:5001, token auth on :5002 with its token service on :5003), kubelet (tests/cluster/kubelet.py --dir DIR), then
      builds/pushes the images of tests/cluster/images/*.json that the registry lacks.
      Idempotent; recovers from a crashed previous run (stale pid files, processes, netns, mounts).
down: stops the kubelet (which stops every pod), the API server and the registry, then sweeps:
      no process, mount or network namespace of the cluster remains.
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import oci  # noqa: E402
import registry_auth  # noqa: E402

PY = "/usr/bin/python3"
# What the cluster's own programs run besides the Python standard library
# (images add what their descriptions name: oci.missing_inputs).
HOST_PROGRAMS = ["/usr/bin/docker-registry", "ip", "nsenter", "unshare", "mount", "umount"]
PY_MODULES = ["yaml", "cryptography", "bcrypt"]


def missing_prerequisites(with_images):
    """What this machine lacks to run the cluster: a list of names, [] when nothing."""
    import importlib.util
    missing = [p for p in HOST_PROGRAMS if oci._program_missing(p)]
    missing += ["python3 module %s" % m for m in PY_MODULES
                if importlib.util.find_spec(m) is None]
    if with_images:
        missing += oci.missing_inputs(oci.image_names())
    return missing


def parse_dir(argv, prog):
    ap = argparse.ArgumentParser(prog=prog)
    ap.add_argument("--dir", default=os.environ.get("KDAP_CLUSTER_DIR") or os.path.join(REPO, "build", "cluster"))
    ap.add_argument("--no-images", action="store_true", help="(up) do not build/push images")
    return ap.parse_args(argv)


def read_pid(path):
    try:
        with open(path) as f:
            pid = int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return pid if pid_alive(pid) else None


def pid_alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def spawn(argv, logpath):
    logf = open(logpath, "ab")
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT,
                         start_new_session=True, cwd=REPO, close_fds=True)
    logf.close()
    return p


def wait_until(pred, timeout, what):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    raise RuntimeError("timed out after %ss waiting for %s" % (timeout, what))


def rm(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


# ---------------------------------------------------------------------------------------------

def start_registry(d, log):
    reg = oci.Registry()
    pidf = os.path.join(d, "registry.pid")
    pid = read_pid(pidf)
    if pid and "docker-registry" in cmdline(pid) and reg.ping():
        return
    if reg.ping():
        log("up: a registry already answers on 127.0.0.1:5000 (not started by this cluster dir); using it")
        return
    rm(pidf)
    root = os.path.join(d, "registry")
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    cfg = os.path.join(root, "config.yml")
    with open(cfg, "w") as f:
        f.write(registry_auth.config_yaml("registry", os.path.join(root, "data"), "127.0.0.1:5000",
                                          "kdap-local-test-registry"))
    p = spawn(["/usr/bin/docker-registry", "serve", cfg], os.path.join(d, "registry.log"))
    with open(pidf, "w") as f:
        f.write("%d\n" % p.pid)

    def ready():
        if p.poll() is not None:
            raise RuntimeError("docker-registry exited (%s), see %s/registry.log" % (p.returncode, d))
        return reg.ping()
    wait_until(ready, 15, "the registry on 127.0.0.1:5000")


AUTH_PROCS = ("basic", "token", "token-service")


def start_auth_registries(d, log):
    """The Basic-auth and the token-auth registry plus its token service (registry_auth.py)."""
    import ssl
    paths = registry_auth.Paths(d)
    creds, _ = registry_auth.ensure_files(d)
    ctx = ssl.create_default_context(cafile=paths.ca_crt)
    markers = {"basic": "docker-registry", "token": "docker-registry", "token-service": "registry_auth.py"}
    addrs = {}
    try:
        with open(paths.registries) as f:
            pub = json.load(f)
        addrs = {"basic": pub["basic"], "token": pub["token"],
                 "token-service": pub["token-service"].split("/")[2]}
    except (OSError, ValueError, KeyError, IndexError):
        pass
    pids = {k: read_pid(paths.pidfile(k)) for k in AUTH_PROCS}
    if addrs and all(pids[k] and markers[k] in cmdline(pids[k]) for k in AUTH_PROCS) \
            and all(registry_auth.probe(addrs[k], ctx) for k in AUTH_PROCS):
        return
    for k in AUTH_PROCS:
        if pids[k] and markers[k] in cmdline(pids[k]):
            os.kill(pids[k], signal.SIGKILL)
            wait_until(lambda: not pid_alive(pids[k]), 5, "the old %s process to die" % k)
        rm(paths.pidfile(k))
    addrs = {}
    for k in AUTH_PROCS:
        port = registry_auth.free_port(registry_auth.PORTS[k])
        if port != registry_auth.PORTS[k]:
            log("up: 127.0.0.1:%d is busy (another cluster?): the %s registry uses %d"
                % (registry_auth.PORTS[k], k, port))
        addrs[k] = "127.0.0.1:%d" % port
    registry_auth.write_addresses(d, creds, addrs)
    procs = {}
    tok = spawn([PY, os.path.join(HERE, "registry_auth.py"), "token-server", "--dir", d,
                 "--port", addrs["token-service"].split(":")[1]], paths.logfile("token-service") + ".out")
    procs["token-service"] = tok
    with open(paths.pidfile("token-service"), "w") as f:
        f.write("%d\n" % tok.pid)
    for k in ("basic", "token"):
        cfg = paths.config(k)
        text = registry_auth.registry_config(d, k, addrs[k], "https://%s/token" % addrs["token-service"])
        with open(cfg, "w") as f:
            f.write(text)
        procs[k] = spawn(["/usr/bin/docker-registry", "serve", cfg], paths.logfile(k))
        with open(paths.pidfile(k), "w") as f:
            f.write("%d\n" % procs[k].pid)
    for k in AUTH_PROCS:
        p = procs[k]

        def ready():
            if p.poll() is not None:
                raise RuntimeError("%s registry process exited (%s), see %s"
                                   % (k, p.returncode, paths.logfile(k)))
            return registry_auth.probe(addrs[k], ctx)
        wait_until(ready, 15, "the %s registry on %s" % (k, addrs[k]))


def start_apiserver(d, log):
    pid = read_pid(os.path.join(d, "apiserver.pid"))
    if pid and os.path.exists(os.path.join(d, "apiserver.ready")) and "apiserver.py" in cmdline(pid):
        return False
    if pid and "apiserver.py" in cmdline(pid):
        os.kill(pid, signal.SIGKILL)
    for f in ("apiserver.pid", "apiserver.ready"):
        rm(os.path.join(d, f))
    port = os.environ.get("KDAP_APISERVER_PORT")
    if not port:
        # 6443 unless another cluster (another DIR) already has it: then any free port
        import socket
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", 6443))
            port = "6443"
        except OSError:
            port = "0"
            log("up: 127.0.0.1:6443 is busy (another cluster?); the API server picks a free port")
        finally:
            s.close()
    for attempt in (1, 2):
        p = spawn([PY, os.path.join(HERE, "apiserver.py"), "--dir", d, "--port", port],
                  os.path.join(d, "apiserver.out"))

        def ready():
            if p.poll() is not None:
                raise RuntimeError("apiserver exited (%s), see %s/apiserver.out" % (p.returncode, d))
            return os.path.exists(os.path.join(d, "apiserver.ready"))
        try:
            wait_until(ready, 60, "the API server (DIR/apiserver.ready)")
            return True
        except RuntimeError:
            # 6443 was free when probed but another cluster's `up` took it
            # meanwhile: take any free port instead.
            out = open(os.path.join(d, "apiserver.out")).read()
            if attempt == 2 or port != "6443" or "Address already in use" not in out:
                raise
            log("up: 127.0.0.1:6443 was taken meanwhile; the API server picks a free port")
            port = "0"


def start_kubelet(d, log, api_restarted):
    pidf = os.path.join(d, "kubelet.pid")
    pid = read_pid(pidf)
    if pid and "kubelet.py" in cmdline(pid) and os.path.exists(os.path.join(d, "kubelet.ready")) \
            and not api_restarted:
        return
    if pid and api_restarted:
        log("up: API server was restarted: restarting the kubelet too (new port/objects)")
    if pid and "kubelet.py" in cmdline(pid):
        os.kill(pid, signal.SIGKILL)
        wait_until(lambda: not pid_alive(pid), 5, "old kubelet to die")
    for f in ("kubelet.pid", "kubelet.ready", "kubelet.port"):
        rm(os.path.join(d, f))
    p = spawn([PY, os.path.join(HERE, "kubelet.py"), "--dir", d], os.path.join(d, "kubelet.out"))

    def ready():
        if p.poll() is not None:
            raise RuntimeError("kubelet exited (%s), see %s/kubelet.out and kubelet.log" % (p.returncode, d))
        return os.path.exists(os.path.join(d, "kubelet.ready"))
    wait_until(ready, 30, "the kubelet (DIR/kubelet.ready)")


def ensure_images(log):
    reg = oci.Registry()
    for name in oci.image_names():
        meta = oci.build_image(name, log=log)
        oci.push_image(name, meta, reg, log=log)


def up(argv=None):
    args = parse_dir(argv, "up")
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    t0 = time.time()

    def log(msg):
        print(msg, file=sys.stderr, flush=True)
    if os.geteuid() != 0:
        log("up: must run as root (the kubelet uses namespaces and mounts)")
        return 1
    missing = missing_prerequisites(not args.no_images)
    if missing:
        log("up: cannot start the cluster, this machine lacks: %s" % ", ".join(missing))
        log("up: %s" % oci.INSTALL_HINT)
        return 1
    try:
        start_registry(d, log)
        restarted = start_apiserver(d, log)
        start_auth_registries(d, log)
        start_kubelet(d, log, restarted)
        if not args.no_images:
            ensure_images(log)
    except (RuntimeError, OSError, oci.ImageError) as e:
        log("up: %s" % e)
        return 1
    log("up: cluster ready in %.2fs (dir %s)" % (time.time() - t0, d))
    print("export KUBECONFIG=%s" % os.path.join(d, "kubeconfig"), flush=True)
    return 0


# ---------------------------------------------------------------------------------------------

def stop_pid(pidfile, marker, timeout):
    pid = read_pid(pidfile)
    if pid and marker in cmdline(pid):
        os.kill(pid, signal.SIGTERM)
        deadline = time.time() + timeout
        while time.time() < deadline and pid_alive(pid):
            time.sleep(0.05)
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
            time.sleep(0.1)
    rm(pidfile)


def leftovers(d):
    """(processes, netns, mounts) of the cluster in DIR still present."""
    import kubelet
    import hashlib
    tag = hashlib.sha1(d.encode()).hexdigest()[:6]
    netns = [n for n in (os.listdir("/run/netns") if os.path.isdir("/run/netns") else [])
             if n.startswith("kdap-%s-" % tag)]
    with open("/proc/mounts") as f:
        mounts = [ln.split()[1] for ln in f if ln.split()[1].startswith(d + "/")
                  or "/run/netns/kdap-%s-" % tag in ln]
    procs = []
    for f in ("kubelet.pid", "apiserver.pid", "registry-basic.pid", "registry-token.pid",
              "registry-token-service.pid"):
        pid = read_pid(os.path.join(d, f))
        if pid:
            procs.append(pid)
    marker = ("KDAP_CLUSTER_TAG=%s" % tag).encode()
    for p in os.listdir("/proc"):
        if not p.isdigit() or int(p) == os.getpid():
            continue
        pid = int(p)
        try:
            with open("/proc/%d/environ" % pid, "rb") as fh:
                tagged = marker in fh.read().split(b"\0")
            root = os.readlink("/proc/%d/root" % pid)
        except OSError:
            continue
        if (tagged or root.startswith(d + "/")) and pid_alive(pid):
            procs.append(pid)
    del kubelet
    return procs, netns, mounts


def other_clusters(d):
    """DIRs of kubelets of other clusters running on this machine."""
    out = []
    for p in os.listdir("/proc"):
        if p.isdigit():
            cl = cmdline(int(p)).split()
            if len(cl) >= 4 and cl[1].endswith("kubelet.py") and "--dir" in cl:
                od = os.path.abspath(cl[cl.index("--dir") + 1])
                if od != d:
                    out.append(od)
    return out


def down(argv=None):
    args = parse_dir(argv, "down")
    d = os.path.abspath(args.dir)
    if not os.path.isdir(d):
        print("down: nothing to do (%s does not exist)" % d, file=sys.stderr)
        return 0
    stop_pid(os.path.join(d, "kubelet.pid"), "kubelet.py", 20)
    stop_pid(os.path.join(d, "apiserver.pid"), "apiserver.py", 5)
    others = other_clusters(d)
    if others and read_pid(os.path.join(d, "registry.pid")):
        print("down: leaving the registry running: other clusters use it (%s)" % ", ".join(others),
              file=sys.stderr)
    else:
        stop_pid(os.path.join(d, "registry.pid"), "docker-registry", 5)
    for k, marker in (("basic", "docker-registry"), ("token", "docker-registry"),
                      ("token-service", "registry_auth.py")):
        stop_pid(registry_auth.Paths(d).pidfile(k), marker, 5)
    import hashlib
    import kubelet
    tag = hashlib.sha1(d.encode()).hexdigest()[:6]
    kubelet.sweep(tag, d)
    subprocess.run(["ip", "netns", "del", "kdap-%s-net" % tag], capture_output=True)
    for f in ("kubelet.ready", "kubelet.port", "apiserver.ready"):
        rm(os.path.join(d, f))
    procs, netns, mounts = leftovers(d)
    if procs or netns or mounts:
        print("down: left over: processes %s netns %s mounts %s" % (procs, netns, mounts), file=sys.stderr)
        return 1
    print("down: cluster in %s stopped" % d, file=sys.stderr)
    return 0
