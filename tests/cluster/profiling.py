"""Opt-in cProfile of the cluster's byte-moving threads (the API server's proxy, the kubelet's
node server), to see where a port-forward's time goes:

    KDAP_CLUSTER_PROFILE=/tmp/prof tests/cluster/up ...
    python3 -c "import pstats; pstats.Stats(*glob.glob('/tmp/prof/*.prof')).sort_stats('tottime').print_stats(20)"

Each profiled call writes PROCESS-PID-THREAD.prof into that directory when it returns.  Off (no
cost) without the variable."""

import functools
import os
import threading

DIR = os.environ.get("KDAP_CLUSTER_PROFILE")


def profiled(name):
    def wrap(fn):
        if not DIR:
            return fn
        import cProfile

        @functools.wraps(fn)
        def run(*args, **kwargs):
            prof = cProfile.Profile()
            try:
                return prof.runcall(fn, *args, **kwargs)
            finally:
                os.makedirs(DIR, exist_ok=True)
                prof.dump_stats(os.path.join(DIR, "%s-%d-%d.prof" % (name, os.getpid(), threading.get_ident())))
        return run
    return wrap
