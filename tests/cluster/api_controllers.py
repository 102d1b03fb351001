"""In-process controllers: Deployment, ReplicaSet, garbage collector, namespace lifecycle.

One thread; it wakes on every store change of the resources it cares about (and once a second
for minReadySeconds / progress deadlines) and reconciles everything while holding the store
lock, writing only what changed, so it converges.  Writes go through the API object's internal
operations (defaulting, validation, Pod Security) as user system:kube-controller-manager.

Rollout (RollingUpdate): the new ReplicaSet is scaled to spec.replicas at once (surge); old
ReplicaSets are scaled down to max(0, replicas - new.availableReplicas), oldest first.
Recreate: old ReplicaSets to 0, and the new one up once their pods are gone.
"""

import copy
import json
import random
import threading
import time
import traceback

from api_resources import now_ts, parse_ts

ALPHABET = "bcdfghjklmnpqrstvwxz2456789"
REV = "deployment.kubernetes.io/revision"
HASH = "pod-template-hash"


def safe_encode(s):
    return "".join(ALPHABET[ord(ch) % len(ALPHABET)] for ch in s)


def rand_suffix(n=5):
    return "".join(random.choice(ALPHABET) for _ in range(n))


def template_hash(template, collision_count=None):
    h = 0x811c9dc5
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collision_count:
        data += str(collision_count).encode()
    for b in data:
        h ^= b
        h = (h * 0x01000193) & 0xffffffff
    return safe_encode(str(h))


def controller_ref(obj):
    for r in obj["metadata"].get("ownerReferences") or []:
        if r.get("controller"):
            return r
    return None


def owner_ref(obj, kind):
    md = obj["metadata"]
    return {"apiVersion": "apps/v1", "kind": kind, "name": md["name"], "uid": md["uid"],
            "controller": True, "blockOwnerDeletion": True}


def pod_ready(pod):
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "Ready":
            return c.get("status") == "True", parse_ts(c.get("lastTransitionTime"))
    return False, None


def pod_available(pod, min_ready, now):
    ready, since = pod_ready(pod)
    if not ready:
        return False
    if not min_ready:
        return True
    return since is not None and since + min_ready <= now


def _abs(v, total, round_up):
    if isinstance(v, str) and v.endswith("%"):
        x = int(v[:-1]) * total / 100.0
        return int(-(-x // 1)) if round_up else int(x // 1)
    return int(v or 0)


class Controllers:
    def __init__(self, api):
        self.api = api
        self.store = api.store
        self.wake = threading.Event()
        self.store.listeners.append(self._changed)
        self.thread = threading.Thread(target=self._run, name="controllers", daemon=True)

    def start(self):
        self.thread.start()

    def _changed(self, resource):
        if resource in ("pods", "replicasets.apps", "deployments.apps", "namespaces"):
            self.wake.set()

    def _run(self):
        while True:
            self.wake.wait(1.0)
            self.wake.clear()
            try:
                with self.store.lock:
                    self.reconcile()
            except Exception:  # keep the controller alive; log for debugging
                self.api.log("controller error: " + traceback.format_exc().replace("\n", " | "))

    # -----------------------------------------------------------------------------------------
    def reconcile(self):
        now = time.time()
        self.garbage_collect()
        for d in self.store.iter_raw("deployments.apps"):
            if not d["metadata"].get("deletionTimestamp"):
                self.deployment(copy.deepcopy(d), now)
        for rs in self.store.iter_raw("replicasets.apps"):
            if not rs["metadata"].get("deletionTimestamp"):
                self.replicaset(copy.deepcopy(rs), now)
        self.namespaces()

    def _owned(self, resource, ns, uid):
        return [copy.deepcopy(o) for o in self.store.iter_raw(resource)
                if o["metadata"].get("namespace") == ns and (controller_ref(o) or {}).get("uid") == uid]

    # -- garbage collector -------------------------------------------------------------------
    def garbage_collect(self):
        uids = set()
        for res in ("deployments.apps", "replicasets.apps"):
            for o in self.store.iter_raw(res):
                uids.add(o["metadata"]["uid"])
        for rs in list(self.store.iter_raw("replicasets.apps")):
            ref = controller_ref(rs)
            if ref and ref.get("kind") == "Deployment" and ref.get("uid") not in uids:
                self.api.internal_delete("replicasets.apps", rs["metadata"]["namespace"], rs["metadata"]["name"])
        for pod in list(self.store.iter_raw("pods")):
            ref = controller_ref(pod)
            if ref and ref.get("kind") == "ReplicaSet" and ref.get("uid") not in uids \
                    and not pod["metadata"].get("deletionTimestamp"):
                self.api.internal_delete("pods", pod["metadata"]["namespace"], pod["metadata"]["name"])

    # -- namespaces ----------------------------------------------------------------------------
    def namespaces(self):
        for ns in list(self.store.iter_raw("namespaces")):
            if not ns["metadata"].get("deletionTimestamp"):
                continue
            name = ns["metadata"]["name"]
            left = 0
            for res in self.api.namespaced_keys():
                for o in list(self.store.iter_raw(res)):
                    if o["metadata"].get("namespace") != name:
                        continue
                    left += 1
                    if not o["metadata"].get("deletionTimestamp"):
                        self.api.internal_delete(res, name, o["metadata"]["name"])
            if left == 0:
                self.store.remove("namespaces", "", name)

    # -- ReplicaSet ------------------------------------------------------------------------------
    def replicaset(self, rs, now):
        md, spec = rs["metadata"], rs.get("spec") or {}
        ns = md["namespace"]
        want = int(spec.get("replicas", 1))
        pods = self._owned("pods", ns, md["uid"])
        active = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                  and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")]
        failure = None
        if len(active) < want:
            for _ in range(want - len(active)):
                tmpl = copy.deepcopy(spec.get("template") or {})
                tmd = tmpl.get("metadata") or {}
                pod = {"apiVersion": "v1", "kind": "Pod",
                       "metadata": {"generateName": md["name"] + "-", "namespace": ns,
                                    "labels": tmd.get("labels") or {},
                                    "ownerReferences": [owner_ref(rs, "ReplicaSet")]},
                       "spec": tmpl.get("spec") or {}}
                if tmd.get("annotations"):
                    pod["metadata"]["annotations"] = tmd["annotations"]
                try:
                    active.append(self.api.internal_create("pods", ns, pod))
                except Exception as e:  # e.g. PodSecurity rejection
                    failure = getattr(e, "message", str(e))
                    break
        elif len(active) > want:
            def rank(p):  # delete not-ready, then not-running, then newest pods first
                phase = (p.get("status") or {}).get("phase")
                created = parse_ts(p["metadata"].get("creationTimestamp")) or 0
                return (pod_ready(p)[0], phase == "Running", -created)
            victims = sorted(active, key=rank)
            for p in victims[:len(active) - want]:
                self.api.internal_delete("pods", ns, p["metadata"]["name"])
                active.remove(p)
        min_ready = int(spec.get("minReadySeconds") or 0)
        st = dict(rs.get("status") or {})
        new_st = {"replicas": len(active), "fullyLabeledReplicas": len(active),
                  "readyReplicas": sum(1 for p in active if pod_ready(p)[0]),
                  "availableReplicas": sum(1 for p in active if pod_available(p, min_ready, now)),
                  "observedGeneration": md.get("generation", 1)}
        conds = [c for c in st.get("conditions") or [] if c.get("type") != "ReplicaFailure"]
        if failure:
            old = next((c for c in st.get("conditions") or [] if c.get("type") == "ReplicaFailure"), None)
            conds.append({"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
                          "message": failure,
                          "lastTransitionTime": (old or {}).get("lastTransitionTime") or now_ts()})
        if conds:
            new_st["conditions"] = conds
        for k in ("readyReplicas", "availableReplicas", "fullyLabeledReplicas"):
            if not new_st[k]:
                del new_st[k]
        if new_st != st:
            rs["status"] = new_st
            self.store.update("replicasets.apps", rs)

    # -- Deployment ------------------------------------------------------------------------------
    def deployment(self, d, now):
        md, spec = d["metadata"], d.get("spec") or {}
        ns = md["namespace"]
        desired = int(spec.get("replicas", 1))
        tmpl = spec.get("template") or {}
        rss = self._owned("replicasets.apps", ns, md["uid"])
        rss = [r for r in rss if not r["metadata"].get("deletionTimestamp")]

        def bare(t):
            t = copy.deepcopy(t or {})
            labels = (t.get("metadata") or {}).get("labels") or {}
            labels.pop(HASH, None)
            return t

        new = next((r for r in rss if bare((r.get("spec") or {}).get("template")) == tmpl), None)
        olds = [r for r in rss if r is not new]
        max_rev = max([int((r["metadata"].get("annotations") or {}).get(REV, "0") or 0) for r in olds] + [0])
        created = False
        if new is None:
            cc = (d.get("status") or {}).get("collisionCount") or 0
            h = template_hash(tmpl, cc)
            name = "%s-%s" % (md["name"], h)
            if self.store.get("replicasets.apps", ns, name) is not None:
                st = d.setdefault("status", {})
                st["collisionCount"] = cc + 1
                self.store.update("deployments.apps", d)
                return
            rtmpl = copy.deepcopy(tmpl)
            rtmpl.setdefault("metadata", {}).setdefault("labels", {})[HASH] = h
            sel = copy.deepcopy(spec.get("selector") or {})
            sel.setdefault("matchLabels", {})[HASH] = h
            labels = dict((tmpl.get("metadata") or {}).get("labels") or {})
            labels[HASH] = h
            surge = self._surge(spec, desired)
            rs = {"apiVersion": "apps/v1", "kind": "ReplicaSet",
                  "metadata": {"name": name, "namespace": ns, "labels": labels,
                               "annotations": {REV: str(max_rev + 1),
                                               "deployment.kubernetes.io/desired-replicas": str(desired),
                                               "deployment.kubernetes.io/max-replicas": str(desired + surge)},
                               "ownerReferences": [owner_ref(d, "Deployment")]},
                  "spec": {"replicas": 0 if self._recreate_blocked(spec, olds) else desired,
                           "minReadySeconds": spec.get("minReadySeconds", 0),
                           "selector": sel, "template": rtmpl}}
            new = self.api.internal_create("replicasets.apps", ns, rs)
            created = True
        else:
            ann = new["metadata"].setdefault("annotations", {})
            changed = False
            if int(ann.get(REV, "0") or 0) <= max_rev:
                ann[REV] = str(max_rev + 1)
                changed = True
            want = desired
            if self._recreate_blocked(spec, olds) or spec.get("paused"):
                want = new["spec"].get("replicas", 0) if spec.get("paused") else 0
            if new["spec"].get("replicas") != want:
                new["spec"]["replicas"] = want
                changed = True
            if ann.get("deployment.kubernetes.io/desired-replicas") != str(desired):
                ann["deployment.kubernetes.io/desired-replicas"] = str(desired)
                changed = True
            if changed:
                new = self.api.internal_update("replicasets.apps", new)
        # scale old replica sets down
        if not spec.get("paused"):
            if (spec.get("strategy") or {}).get("type") == "Recreate":
                keep = 0
            else:
                keep = max(0, desired - int((new.get("status") or {}).get("availableReplicas") or 0))
            for r in sorted(olds, key=lambda r: int((r["metadata"].get("annotations") or {}).get(REV, "0") or 0),
                            reverse=True):
                cur = int((r.get("spec") or {}).get("replicas", 0))
                target = min(cur, keep)
                keep -= target
                if cur != target:
                    r["spec"]["replicas"] = target
                    self.internal_update_quiet("replicasets.apps", r)
            self._prune_history(spec, olds)
        # status
        rev = (new["metadata"].get("annotations") or {}).get(REV)
        all_rs = [new] + olds

        def s(r, k):
            return int((r.get("status") or {}).get(k) or 0)
        total_spec = sum(int((r.get("spec") or {}).get("replicas", 0)) for r in all_rs)
        replicas = sum(s(r, "replicas") for r in all_rs)
        updated = s(new, "replicas")
        ready = sum(s(r, "readyReplicas") for r in all_rs)
        available = sum(s(r, "availableReplicas") for r in all_rs)
        st = copy.deepcopy(d.get("status") or {})
        new_st = {k: v for k, v in st.items() if k == "collisionCount"}
        new_st.update({"observedGeneration": md.get("generation", 1), "replicas": replicas,
                       "updatedReplicas": updated, "readyReplicas": ready,
                       "availableReplicas": available,
                       "unavailableReplicas": max(0, total_spec - available)})
        for k in ("replicas", "updatedReplicas", "readyReplicas", "availableReplicas", "unavailableReplicas"):
            if not new_st[k]:
                del new_st[k]
        max_unavail = _abs((spec.get("strategy") or {}).get("rollingUpdate", {}).get("maxUnavailable", "25%"),
                           desired, False) if (spec.get("strategy") or {}).get("type") != "Recreate" else 0
        old_conds = {c["type"]: c for c in st.get("conditions") or []}
        ts = now_ts()

        def cond(ctype, status, reason, message):
            old = old_conds.get(ctype)
            if old and old.get("status") == status and old.get("reason") == reason and old.get("message") == message:
                return old
            return {"type": ctype, "status": status, "lastUpdateTime": ts,
                    "lastTransitionTime": old["lastTransitionTime"] if old and old.get("status") == status else ts,
                    "reason": reason, "message": message}
        if available >= desired - max_unavail:
            avail = cond("Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.")
        else:
            avail = cond("Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.")
        rsname = new["metadata"]["name"]
        complete = updated == desired and replicas == desired and available == desired and \
            s(new, "availableReplicas") == desired
        oldp = old_conds.get("Progressing")
        if complete:
            prog = cond("Progressing", "True", "NewReplicaSetAvailable",
                        'ReplicaSet "%s" has successfully progressed.' % rsname)
        elif created:
            prog = cond("Progressing", "True", "NewReplicaSetCreated", 'Created new replica set "%s"' % rsname)
        else:
            prog = cond("Progressing", "True", "ReplicaSetUpdated", 'ReplicaSet "%s" is progressing.' % rsname)
            deadline = spec.get("progressDeadlineSeconds", 600)
            last = parse_ts((oldp or {}).get("lastUpdateTime"))
            if oldp and oldp.get("reason") == "ProgressDeadlineExceeded":
                prog = oldp
            elif oldp and prog is oldp and last is not None and deadline and now - last > deadline:
                prog = cond("Progressing", "False", "ProgressDeadlineExceeded",
                            'ReplicaSet "%s" has timed out progressing.' % rsname)
        new_st["conditions"] = [avail, prog]
        failure = next((c for c in (new.get("status") or {}).get("conditions") or []
                        if c.get("type") == "ReplicaFailure" and c.get("status") == "True"), None)
        if failure:  # e.g. pods rejected by Pod Security admission
            new_st["conditions"].append(cond("ReplicaFailure", "True", failure.get("reason", "FailedCreate"),
                                             failure.get("message", "")))
        ann = md.setdefault("annotations", {})
        if new_st != st or ann.get(REV) != rev:
            if ann.get(REV) != rev:
                ann[REV] = rev
                d = self.api.internal_update("deployments.apps", d)
            d["status"] = new_st
            self.store.update("deployments.apps", d)

    def internal_update_quiet(self, res, obj):
        self.api.internal_update(res, obj)

    def _surge(self, spec, desired):
        if (spec.get("strategy") or {}).get("type") == "Recreate":
            return 0
        return _abs((spec.get("strategy") or {}).get("rollingUpdate", {}).get("maxSurge", "25%"), desired, True)

    def _recreate_blocked(self, spec, olds):
        if (spec.get("strategy") or {}).get("type") != "Recreate":
            return False
        for r in olds:
            if int((r.get("spec") or {}).get("replicas", 0)) or int((r.get("status") or {}).get("replicas") or 0):
                return True
            if self._owned("pods", r["metadata"]["namespace"], r["metadata"]["uid"]):
                return True
        return False

    def _prune_history(self, spec, olds):
        limit = spec.get("revisionHistoryLimit", 10)
        idle = [r for r in olds if not int((r.get("spec") or {}).get("replicas", 0))
                and not int((r.get("status") or {}).get("replicas") or 0)]
        idle.sort(key=lambda r: int((r["metadata"].get("annotations") or {}).get(REV, "0") or 0))
        for r in idle[:max(0, len(idle) - limit)]:
            self.api.internal_delete("replicasets.apps", r["metadata"]["namespace"], r["metadata"]["name"])
