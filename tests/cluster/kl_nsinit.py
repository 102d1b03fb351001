#!/usr/bin/python3
"""Process-side helper of the kdap test kubelet (standard library + ctypes only).

  kl_nsinit.py container SPEC.json
      Run as the first process of a container, already inside the container's new mount namespace
      (and new PID namespace, or the target container's one for ephemeral containers), started by
      `nsenter --net --uts --ipc [--pid] -- unshare --mount [--pid --fork]`. It mounts the overlay
      root filesystem, /proc (from inside the PID namespace), a minimal /dev, the pod's /etc/hosts,
      /etc/resolv.conf and /etc/hostname, makes the root read-only for readOnlyRootFilesystem,
      chroots, changes to workingDir, becomes a session leader, sets user, groups, capabilities
      (bounding/effective/permitted/inheritable/ambient) and no_new_privs as the securityContext
      says (apply_security), and execs the container's command.

  kl_nsinit.py exec SPEC.json
      `kubectl exec`: join all namespaces and the root of the container's main process (host pid
      in SPEC), fork (to enter the PID namespace), exec the command with the container's environment;
      the parent waits and exits with the child's status.

Protocol with the kubelet: fd SPEC["status_fd"] (exec) or FIFO SPEC["status_fifo"] (container), opened
close-on-exec so that only this process holds it: the helper writes
"pid <host pid>\n" and, if the exec fails, "error <message>\n". EOF without an error = exec succeeded.
"""
import ctypes
import fcntl
import json
import os
import sys
import termios

libc = ctypes.CDLL(None, use_errno=True)
libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
libc.setns.argtypes = [ctypes.c_int, ctypes.c_int]
libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
libc.capget.argtypes = libc.capset.argtypes = [ctypes.c_void_p, ctypes.c_void_p]

MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 8, 4096, 16384, 1 << 18
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
LINUX_CAPABILITY_VERSION_3 = 0x20080522
MS_REMOUNT = 32
CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID",
        "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
        "IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
        "SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD",
        "LEASE", "AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG",
        "WAKE_ALARM", "BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"]


def die(status_fd, msg, code=128):
    try:
        os.write(status_fd, ("error %s\n" % msg).encode())
    except OSError:
        pass
    sys.stderr.write(msg + "\n")
    os._exit(code)


def mount(src, target, fstype, flags=0, data=None):
    if libc.mount(src.encode() if src else None, target.encode(), fstype.encode() if fstype else None,
                  flags, data.encode() if data else None) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s: %s" % (src or fstype, target, os.strerror(e)))


def setns(path, nstype=0):
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, nstype) != 0:
            e = ctypes.get_errno()
            raise OSError(e, "setns %s: %s" % (path, os.strerror(e)))
    finally:
        os.close(fd)


class CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


def _check(rc, what):
    if rc != 0:
        e = ctypes.get_errno()
        raise OSError(e, "%s: %s" % (what, os.strerror(e)))


def apply_security(spec):
    """The container's process identity, as runc sets it before exec: capability bounding set
    reduced to spec["caps"], ambient and inheritable sets cleared, groups/gid/uid (a non-root uid
    keeps no effective or permitted capability: Kubernetes sets no ambient ones), for uid 0 the
    effective and permitted sets = the container's set, then no_new_privs when asked
    (allowPrivilegeEscalation: false)."""
    keep = set(spec.get("caps", []))
    for i, name in enumerate(CAPS):
        if name not in keep:
            libc.prctl(PR_CAPBSET_DROP, i, 0, 0, 0)  # EINVAL for caps the kernel lacks: ignored
    _check(libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0), "clear ambient capabilities")
    uid, gid = spec.get("uid"), spec.get("gid")
    if gid is not None or uid:
        g = gid if gid is not None else 0
        os.setgroups(sorted(set([g] + list(spec.get("groups") or []))))
        os.setresgid(g, g, g)
    if uid:
        os.setresuid(uid, uid, uid)   # no PR_SET_KEEPCAPS: the kernel clears permitted/effective
    hdr, data = CapHeader(LINUX_CAPABILITY_VERSION_3, 0), (CapData * 2)()
    _check(libc.capget(ctypes.byref(hdr), data), "capget")
    mask = sum(1 << i for i, name in enumerate(CAPS) if name in keep) if not uid else 0
    for w in (0, 1):
        part = (mask >> (32 * w)) & 0xffffffff
        data[w].permitted &= part      # never more than this process has (root here lacks some)
        data[w].effective = data[w].permitted
        data[w].inheritable = 0
    _check(libc.capset(ctypes.byref(hdr), data), "capset")
    if spec.get("no_new_privs"):
        _check(libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(PR_SET_NO_NEW_PRIVS)")


def touch(path, content=None):
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "a"):
            pass


def find_exe(argv0, env, root="/"):
    if "/" in argv0:
        return argv0
    path = next((e[5:] for e in env if e.startswith("PATH=")), "/usr/local/bin:/usr/bin:/bin")
    for d in path.split(":"):
        p = os.path.join(d or ".", argv0)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def exec_command(spec, status_fd):
    argv, env = spec["argv"], spec["env"]
    if not argv:
        die(status_fd, "no command specified")
    exe = find_exe(argv[0], env)
    if exe is None:
        die(status_fd, 'exec: "%s": executable file not found in $PATH' % argv[0], 127)
    try:
        os.execve(exe, argv, dict(e.split("=", 1) for e in env if "=" in e))
    except OSError as e:
        die(status_fd, 'exec: "%s": %s' % (argv[0], e.strerror), 126 if e.errno == 13 else 127)


def container(spec):
    sfd = spec["status_fd"]
    os.write(sfd, ("pid %s\n" % os.readlink("/proc/self")).encode())
    root = spec["rootfs"]
    try:
        mount(None, "/", None, MS_REC | MS_PRIVATE)
        mount("overlay", root, "overlay", 0, "lowerdir=%s,upperdir=%s,workdir=%s"
              % (spec["lower"], spec["upper"], spec["work"]))
        for d in ("proc", "dev", "sys", "tmp", "etc"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
        dev = os.path.join(root, "dev")
        mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=755,size=65536k")
        for name in ("null", "zero", "full", "random", "urandom", "tty"):
            touch(os.path.join(dev, name))
            mount("/dev/" + name, os.path.join(dev, name), None, MS_BIND)
        for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"),
                             ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"),
                             ("ptmx", "pts/ptmx")):
            os.symlink(target, os.path.join(dev, name))
        os.makedirs(os.path.join(dev, "shm"))
        mount("shm", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=65536k")
        os.makedirs(os.path.join(dev, "pts"))
        try:
            mount("devpts", os.path.join(dev, "pts"), "devpts", MS_NOSUID | MS_NOEXEC,
                  "newinstance,ptmxmode=0666,mode=0620")
        except OSError:
            pass
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        for name, src in spec.get("files", {}).items():
            target = os.path.join(root, name.lstrip("/"))
            if os.path.islink(target):
                os.unlink(target)
            touch(target)
            mount(src, target, None, MS_BIND)
        wd = spec.get("workdir") or "/"
        os.makedirs(os.path.join(root, wd.lstrip("/")), exist_ok=True)
        if spec.get("readonly_root"):
            # readOnlyRootFilesystem: the root mount read-only; /dev, /dev/shm, /proc and the
            # pod's /etc files stay the separate writable mounts they are in a real runtime
            mount(None, root, None, MS_REMOUNT | MS_BIND | MS_RDONLY)
        os.chroot(root)
        os.chdir(wd)
    except OSError as e:
        die(sfd, "failed to create container rootfs: %s" % e)
    try:
        os.setsid()
    except OSError:
        pass
    try:
        apply_security(spec)
    except OSError as e:
        die(sfd, "failed to set the container's user and capabilities: %s" % e)
    exec_command(spec, sfd)


def exec_in(spec):
    sfd = spec["status_fd"]
    pid = spec["pid"]
    try:
        root_fd = os.open("/proc/%d/root" % pid, os.O_RDONLY | os.O_DIRECTORY)
        for ns in ("ipc", "uts", "net", "pid", "mnt"):
            setns("/proc/%d/ns/%s" % (pid, ns))
        os.fchdir(root_fd)
        os.chroot(".")
        try:
            os.chdir(spec.get("workdir") or "/")
        except OSError:
            os.chdir("/")
    except OSError as e:
        die(sfd, "failed to enter the container: %s" % e)
    child = os.fork()
    if child == 0:
        if spec.get("tty"):
            try:
                os.setsid()
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)
            except OSError:
                pass
        try:
            apply_security(spec)
        except OSError as e:
            die(sfd, "failed to set the exec process's user and capabilities: %s" % e)
        exec_command(spec, sfd)
    os.write(sfd, ("pid %d\n" % child).encode())
    os.close(sfd)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        os._exit(128 + os.WTERMSIG(status))
    os._exit(os.WEXITSTATUS(status))


def main():
    mode, path = sys.argv[1], sys.argv[2]
    with open(path) as f:
        spec = json.load(f)
    if "status_fifo" in spec:   # container mode: unshare/nsenter would keep an inherited fd open
        spec["status_fd"] = os.open(spec["status_fifo"], os.O_WRONLY | os.O_CLOEXEC)
    elif "status_fd" in spec:
        os.set_inheritable(spec["status_fd"], False)
    if mode == "container":
        container(spec)
    elif mode == "exec":
        exec_in(spec)
    else:
        sys.exit("unknown mode %s" % mode)


if __name__ == "__main__":
    main()
