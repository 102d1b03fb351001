#!/usr/bin/python3
"""bench/oci_push.py: kdap assembling and pushing its Go debugger image, against skopeo copying
the same image from an OCI layout, in one run.

  cold   an empty registry and an empty local cache: kdap builds both layers (tar + gzip of
         busybox, delve and delve's libraries) and uploads every blob
  cold, cached layers   an empty registry, the layers already in kdap's cache (what a second
         cluster, or a new repository, costs)
  warm   the registry has the image: kdap assembles it again (from its cache) and finds it there
  skopeo `skopeo copy oci:LAYOUT docker://REGISTRY/...` of the very image kdap pushed, into an
         empty registry (skopeo only reads and uploads blobs that exist already: no tar, no gzip)

Each run gets a fresh Debian docker-registry on a free loopback port.  Targets: kdap cold <=
skopeo's time; warm <= 50 ms with zero bytes uploaded (from kdap's own count and the
registry's access log).

    python3 bench/oci_push.py [--runs N] [--check]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
import ocitest  # noqa: E402


def timed(argv, env=None):
    t = time.perf_counter()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL)
    dt = time.perf_counter() - t
    if p.returncode != 0:
        raise SystemExit("%s failed: %s" % (argv[:3], p.stderr))
    return dt, p


def kdap_push(reg, home):
    env = ocitest.env_with(home)
    dt, p = timed([ocitest.KDAP, "image", "debugger", "--runtime", "go", "--repo",
                   reg.host + "/kdap/debug", "-q"], env)
    m = re.search(r"(\d+) uploaded \((\d+) bytes\)", p.stderr)
    return dt, p.stdout.strip(), int(m.group(2)) if m else -1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    a = ap.parse_args()
    if not os.path.exists(ocitest.KDAP):
        raise SystemExit("build kdap first: cmake -S . -B build && cmake --build build")
    tmp = tempfile.mkdtemp(prefix="kdap-bench-oci-")
    cold, cold_cached, warm, sko, warm_bytes, warm_uploads = [], [], [], [], [], []
    layout = os.path.join(tmp, "layout")
    try:
        for i in range(a.runs):
            home = tempfile.mkdtemp(prefix="home-", dir=tmp)
            reg = ocitest.Registry()
            try:
                dt, ref, up = kdap_push(reg, home)
                cold.append(dt)
                n = len(reg.uploads())
                dt, ref2, up = kdap_push(reg, home)
                assert ref2 == ref, (ref, ref2)
                warm.append(dt)
                warm_bytes.append(up)
                warm_uploads.append(len(reg.uploads()) - n)
                if i == 0:
                    p = subprocess.run(["skopeo", "copy", "--src-tls-verify=false",
                                        "docker://" + ref, "oci:%s:go" % layout],
                                       capture_output=True, text=True)
                    if p.returncode != 0:
                        raise SystemExit("skopeo copy to a layout failed: " + p.stderr)
            finally:
                reg.stop()
            reg = ocitest.Registry()
            try:
                dt, ref3, _ = kdap_push(reg, home)
                assert ref3.split("@")[1] == ref.split("@")[1], (ref, ref3)
                cold_cached.append(dt)
            finally:
                reg.stop()
            reg = ocitest.Registry()
            try:
                dt, _ = timed(["skopeo", "copy", "--dest-tls-verify=false", "oci:%s:go" % layout,
                               "docker://%s/kdap/skopeo:go" % reg.host])
                sko.append(dt)
            finally:
                reg.stop()
            shutil.rmtree(home, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    med = lambda v: statistics.median(v) * 1000  # noqa: E731
    print("kdap Go debugger image (%s), %d runs, medians:" % (ref.split("@")[1][:19], a.runs))
    print("  kdap cold (empty registry, empty cache):   %7.1f ms" % med(cold))
    print("  kdap cold registry, layers cached:         %7.1f ms" % med(cold_cached))
    print("  kdap warm (registry has it):               %7.1f ms  bytes uploaded %s, "
          "uploads in the registry log %s" % (med(warm), sorted(set(warm_bytes)),
                                             sorted(set(warm_uploads))))
    print("  skopeo copy oci: -> empty registry:        %7.1f ms" % med(sko))
    print("  kdap cold / skopeo: %.2fx;  cached-layers / skopeo: %.2fx"
          % (med(cold) / med(sko), med(cold_cached) / med(sko)))
    ok_cold = med(cold) <= med(sko)
    ok_warm = med(warm) <= 50 and set(warm_bytes) == {0} and set(warm_uploads) == {0}
    print("targets: cold <= skopeo: %s; warm <= 50 ms with 0 bytes: %s"
          % ("met" if ok_cold else "MISSED", "met" if ok_warm else "MISSED"))
    if a.check and not (ok_cold and ok_warm):
        sys.exit(1)


if __name__ == "__main__":
    main()
