"""In-memory object store with one global resourceVersion, a bounded event history and watchers.

Design notes
- Objects are plain JSON dicts keyed by (resource, namespace, name); resource is the plural
  name qualified by group for non-core groups ("pods", "deployments.apps").
- Every mutation takes the next global resourceVersion (an integer, sent as a string) and appends
  (rv, resource, type, new, old) to the history.  The history keeps the last
  KDAP_APISERVER_WATCH_HISTORY events (default 1000); `compacted` is the rv of the newest
  event that fell out of it.  A watch from rv N with N < compacted gets "410 Expired".
- Watchers get events through a queue.  A watcher has a namespace and a predicate (label and
  field selectors); a MODIFIED event for an object that starts (stops) matching is delivered as
  ADDED (DELETED), as the real watch cache does.
- `lock` is re-entrant; handlers and controllers hold it for read-modify-write sequences.
"""

import collections
import copy
import os
import queue
import re
import threading


class Expired(Exception):
    def __init__(self, rv, oldest):
        super().__init__("too old resource version: %d (%d)" % (rv, oldest))


class Watcher:
    def __init__(self, resource, namespace, pred):
        self.resource = resource
        self.namespace = namespace
        self.pred = pred
        self.q = queue.Queue()

    def _match(self, obj):
        if obj is None:
            return False
        if self.namespace and obj["metadata"].get("namespace") != self.namespace:
            return False
        return self.pred(obj)

    def event_for(self, etype, new, old):
        """Translates a store event into what this watcher sees, or None."""
        if etype == "ADDED":
            return ("ADDED", new) if self._match(new) else None
        if etype == "DELETED":
            return ("DELETED", new) if self._match(new) else None
        now, before = self._match(new), self._match(old)
        if now and before:
            return ("MODIFIED", new)
        if now:
            return ("ADDED", new)
        if before:
            return ("DELETED", new)
        return None


class Store:
    def __init__(self, history=None):
        self.lock = threading.RLock()
        self.rv = 100
        self.objs = collections.defaultdict(dict)
        if history is None:
            history = int(os.environ.get("KDAP_APISERVER_WATCH_HISTORY", "1000"))
        self.history = collections.deque()
        self.history_max = max(1, history)
        self.compacted = 0
        self.watchers = set()
        self.listeners = []  # callables(resource) notified after each change (controllers)

    # -- reads -------------------------------------------------------------------------
    def get(self, resource, ns, name):
        with self.lock:
            o = self.objs[resource].get((ns or "", name))
            return copy.deepcopy(o) if o is not None else None

    def list(self, resource, ns=None, pred=None):
        """Returns (items sorted by namespace/name, list resourceVersion)."""
        with self.lock:
            out = []
            for (ons, _), o in sorted(self.objs[resource].items()):
                if ns and ons != ns:
                    continue
                if pred and not pred(o):
                    continue
                out.append(copy.deepcopy(o))
            return out, self.rv

    def iter_raw(self, resource):
        """Live objects (no copy); caller holds the lock and must not mutate them."""
        return list(self.objs[resource].values())

    # -- writes ------------------------------------------------------------------------
    def _key(self, obj):
        md = obj["metadata"]
        return (md.get("namespace") or "", md["name"])

    def _emit(self, resource, etype, new, old):
        self.history.append((self.rv, resource, etype, new, old))
        while len(self.history) > self.history_max:
            self.compacted = self.history.popleft()[0]
        for w in list(self.watchers):
            if w.resource != resource:
                continue
            ev = w.event_for(etype, new, old)
            if ev:
                w.q.put((ev[0], ev[1], self.rv))
        for fn in self.listeners:
            fn(resource)

    def create(self, resource, obj):
        with self.lock:
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            stored = copy.deepcopy(obj)
            self.objs[resource][self._key(obj)] = stored
            self._emit(resource, "ADDED", stored, None)
            return copy.deepcopy(stored)

    def update(self, resource, obj):
        with self.lock:
            key = self._key(obj)
            old = self.objs[resource].get(key)
            self.rv += 1
            obj["metadata"]["resourceVersion"] = str(self.rv)
            stored = copy.deepcopy(obj)
            self.objs[resource][key] = stored
            self._emit(resource, "MODIFIED", stored, old)
            return copy.deepcopy(stored)

    def remove(self, resource, ns, name):
        with self.lock:
            old = self.objs[resource].pop((ns or "", name), None)
            if old is None:
                return None
            self.rv += 1
            gone = copy.deepcopy(old)
            gone["metadata"]["resourceVersion"] = str(self.rv)
            self._emit(resource, "DELETED", gone, old)
            return copy.deepcopy(gone)

    # -- watch -------------------------------------------------------------------------
    def watch(self, resource, ns, pred, rv):
        """Registers a watcher.  rv None/"0": ADDED for the current state.  Returns
        (watcher, initial events [(type, obj, rv)]).  Raises Expired or ValueError."""
        with self.lock:
            w = Watcher(resource, ns, pred)
            initial = []
            if rv in (None, "", "0"):
                items, _ = self.list(resource, ns, pred)
                for o in items:
                    initial.append(("ADDED", o, int(o["metadata"]["resourceVersion"])))
            else:
                n = int(rv)
                if n < 0:
                    raise ValueError(rv)
                if n < self.compacted:
                    raise Expired(n, self.compacted + 1)
                for (erv, res, etype, new, old) in self.history:
                    if erv <= n or res != resource:
                        continue
                    ev = w.event_for(etype, new, old)
                    if ev:
                        initial.append((ev[0], copy.deepcopy(ev[1]), erv))
            self.watchers.add(w)
            w.start_rv = self.rv
            return w, initial

    def unwatch(self, w):
        with self.lock:
            self.watchers.discard(w)


# -- selectors -------------------------------------------------------------------------------

class SelectorError(ValueError):
    pass


_LABEL_RE = re.compile(r"^(!?)\s*([A-Za-z0-9_./-]+)\s*(?:(==|=|!=|\s+in\s+|\s+notin\s+)\s*(.*))?$")


def _split_top(s):
    parts, depth, cur = [], 0, ""
    for ch in s:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        parts.append(cur)
    return [p.strip() for p in parts if p.strip()]


def parse_label_selector(s):
    """Returns a predicate over a labels dict."""
    reqs = []
    for part in _split_top(s or ""):
        m = _LABEL_RE.match(part)
        if not m:
            raise SelectorError("unable to parse requirement: %s" % part)
        neg, key, op, val = m.group(1), m.group(2), m.group(3), m.group(4)
        if op is None:
            reqs.append(("notexists" if neg else "exists", key, None))
            continue
        if neg:
            raise SelectorError("unable to parse requirement: %s" % part)
        op = op.strip()
        if op in ("in", "notin"):
            val = val.strip()
            if not (val.startswith("(") and val.endswith(")")):
                raise SelectorError("unable to parse requirement: %s" % part)
            vals = {v.strip() for v in val[1:-1].split(",") if v.strip()}
            reqs.append((op, key, vals))
        else:
            reqs.append(("!=" if op == "!=" else "=", key, val.strip()))

    def pred(labels):
        labels = labels or {}
        for op, k, v in reqs:
            if op == "exists" and k not in labels:
                return False
            if op == "notexists" and k in labels:
                return False
            if op == "=" and labels.get(k) != v:
                return False
            if op == "!=" and labels.get(k) == v:
                return False
            if op == "in" and labels.get(k) not in v:
                return False
            if op == "notin" and k in labels and labels[k] in v:
                return False
        return True
    return pred


def selector_from_match(sel):
    """metav1.LabelSelector dict -> predicate over labels."""
    ml = (sel or {}).get("matchLabels") or {}
    exprs = (sel or {}).get("matchExpressions") or []

    def pred(labels):
        labels = labels or {}
        for k, v in ml.items():
            if labels.get(k) != v:
                return False
        for e in exprs:
            k, op, vals = e.get("key"), e.get("operator"), e.get("values") or []
            if op == "In" and labels.get(k) not in vals:
                return False
            if op == "NotIn" and k in labels and labels[k] in vals:
                return False
            if op == "Exists" and k not in labels:
                return False
            if op == "DoesNotExist" and k in labels:
                return False
        return True
    return pred


def selector_string(sel):
    parts = ["%s=%s" % kv for kv in sorted(((sel or {}).get("matchLabels") or {}).items())]
    for e in (sel or {}).get("matchExpressions") or []:
        op = e.get("operator")
        if op == "In":
            parts.append("%s in (%s)" % (e["key"], ",".join(sorted(e.get("values") or []))))
        elif op == "NotIn":
            parts.append("%s notin (%s)" % (e["key"], ",".join(sorted(e.get("values") or []))))
        elif op == "Exists":
            parts.append(e["key"])
        elif op == "DoesNotExist":
            parts.append("!" + e["key"])
    return ",".join(parts)


def _field_value(obj, path):
    cur = obj
    for p in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(p)
    if cur is None:
        return ""
    if isinstance(cur, bool):
        return "true" if cur else "false"
    return str(cur)


FIELD_LABELS = {
    "pods": {"metadata.name", "metadata.namespace", "spec.nodeName", "spec.restartPolicy",
             "spec.schedulerName", "spec.serviceAccountName", "spec.hostNetwork", "status.phase",
             "status.podIP", "status.nominatedNodeName"},
    "events": None,  # anything (involvedObject.*, reason, source, type ...)
    "secrets": {"metadata.name", "metadata.namespace", "type"},
    "namespaces": {"metadata.name", "status.phase"},
    "nodes": {"metadata.name", "spec.unschedulable"},
    "replicasets.apps": {"metadata.name", "metadata.namespace", "status.replicas"},
}


def parse_field_selector(s, resource):
    reqs = []
    allowed = FIELD_LABELS.get(resource, {"metadata.name", "metadata.namespace"})
    for part in [p.strip() for p in (s or "").split(",") if p.strip()]:
        m = re.match(r"^([A-Za-z0-9_.]+)\s*(==|!=|=)\s*(.*)$", part)
        if not m:
            raise SelectorError("invalid selector: '%s'; can't understand '%s'" % (s, part))
        key, op, val = m.groups()
        if allowed is not None and key not in allowed:
            raise SelectorError('field label not supported: %s' % key)
        reqs.append((key, op != "!=", val))

    def pred(obj):
        for key, eq, val in reqs:
            if (_field_value(obj, key) == val) != eq:
                return False
        return True
    return pred
