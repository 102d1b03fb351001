#!/usr/bin/python3
"""Simulated Kubernetes API server for kdap's local test cluster.

    tests/cluster/apiserver.py --dir DIR [--port 6443]

TLS on 127.0.0.1 (HTTP/1.1, keep-alive, chunked watch/log streams), PKI and kubeconfigs in DIR
(see api_pki.py), in-memory objects (api_store.py), patches (api_patch.py), defaulting,
validation, Pod Security and Table printing (api_resources.py), Deployment/ReplicaSet/GC/
namespace controllers (api_controllers.py).  Interface with the kubelet: docs/cluster.md §3
(pod subresources exec/attach/portforward/log are proxied raw to 127.0.0.1:$(cat DIR/kubelet.port);
a portforward WebSocket offering `SPDY/3.1+portforward.k8s.io` is unwrapped into SPDY, see tunnel()).

Files: DIR/apiserver.pid, DIR/apiserver.port, DIR/apiserver.ready (written once listening),
DIR/apiserver.log (one line per request; never tokens or keys).

Authorization policy DIR/authz.json (re-read when it changes), user -> list of forbidden rules:
    {"restricted": [{"verb": "patch", "resource": "pods", "subresource": "ephemeralcontainers"},
                    {"verb": ["create", "delete"], "resource": "*", "namespace": "default"}]}
verb/resource/subresource/namespace/apiGroup: a string, a list, or "*".  A rule without
"subresource" matches only the main resource (like RBAC), unless resource is "*" (then it matches
subresources too); "resource": "pods/exec" is accepted as shorthand.  Users not listed may do
everything; self-reviews (can-i, whoami) are always allowed.  The file is created with a default
policy for user "restricted" (read-only, no exec/attach/portforward/ephemeralcontainers).

Environment (tests): KDAP_APISERVER_WATCH_HISTORY (events kept for watch resume, default 1000),
KDAP_APISERVER_BOOKMARK_SECONDS (bookmark cadence, default 5).
"""

import argparse
import base64
import copy
import hashlib
import json
import os
import random
import select
import signal
import socket
import ssl
import struct
import sys
import threading
import time
import traceback
import uuid

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import api_patch  # noqa: E402
import profiling  # noqa: E402
import wsframe  # noqa: E402
import api_resources as R  # noqa: E402
from api_controllers import Controllers, rand_suffix  # noqa: E402
from api_http import ClientGone, Connection  # noqa: E402
from api_pki import Pki  # noqa: E402
from api_store import (Expired, SelectorError, Store, parse_field_selector,  # noqa: E402
                       parse_label_selector, selector_string)

VERSION = {"major": "1", "minor": "31", "gitVersion": "v1.31.4",
           "gitCommit": "a78aa47129b8539636eb86a9d00e31b2720fe06b", "gitTreeState": "clean",
           "buildDate": "2024-12-10T18:09:53Z", "goVersion": "go1.22.10", "compiler": "gc",
           "platform": "linux/amd64"}

SELF_REVIEWS = {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}
STATUS_RES = {"pods", "deployments.apps", "replicasets.apps", "namespaces", "services", "nodes"}
GEN_RES = {"pods", "deployments.apps", "replicasets.apps"}
CONNECT_SUBS = {"exec", "attach", "portforward"}
PATCH_TYPES = ["application/json-patch+json", "application/merge-patch+json",
               "application/apply-patch+yaml", "application/strategic-merge-patch+json"]


class ApiError(Exception):
    def __init__(self, code, reason, message, details=None):
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details

    def status(self):
        st = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
              "message": self.message, "reason": self.reason}
        if self.details is not None:
            st["details"] = self.details
        st["code"] = self.code
        return st


def qualified(res):
    return res.name + ("." + res.group if res.group else "")


def _details(res, name):
    d = {"name": name} if name else {}
    if res.group:
        d["group"] = res.group
    d["kind"] = res.name
    return d


def not_found(res, name):
    return ApiError(404, "NotFound", '%s "%s" not found' % (qualified(res), name), _details(res, name))


def invalid(res, name, causes):
    msgs = ["%s: %s" % (c["field"], c["message"]) for c in causes]
    text = msgs[0] if len(msgs) == 1 else "[" + ", ".join(msgs) + "]"
    det = {"name": name}
    if res.group:
        det["group"] = res.group
    det["kind"] = res.kind
    det["causes"] = causes
    return ApiError(422, "Invalid", '%s "%s" is invalid: %s' % (res.kind + ("." + res.group if res.group else ""), name, text), det)


def bad_request(msg):
    return ApiError(400, "BadRequest", msg)


def conflict(res, name):
    return ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": the object has been modified; '
                    'please apply your changes to the latest version and try again' % (qualified(res), name),
                    _details(res, name))


NOT_FOUND_PATH = ApiError(404, "NotFound", "the server could not find the requested resource", {})


def res_by_key(key):
    for r in R.RESOURCES:
        if r.key == key:
            return r
    raise KeyError(key)


# -- authorization --------------------------------------------------------------------------

DEFAULT_POLICY = {
    "restricted": [
        {"verb": ["create", "update", "patch", "delete", "deletecollection"], "resource": "*"},
        {"verb": "*", "resource": "pods", "subresource": ["exec", "attach", "portforward", "ephemeralcontainers"]},
    ]
}


def _m(rule_val, val):
    if rule_val is None or rule_val == "*":
        return True
    if isinstance(rule_val, list):
        return "*" in rule_val or val in rule_val
    return rule_val == val


class Policy:
    def __init__(self, path):
        self.path = path
        self.mtime = None
        self.rules = {}
        self.lock = threading.Lock()

    def _load(self):
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.rules, self.mtime = {}, None
            return
        key = (st.st_mtime_ns, st.st_size)
        if key == self.mtime:
            return
        try:
            with open(self.path) as f:
                data = json.load(f)
            self.rules = data.get("users", data) if isinstance(data, dict) else {}
            self.mtime = key
        except (OSError, ValueError):
            pass  # keep the previous policy while the file is being rewritten

    def allowed(self, user, groups, verb, resource, sub, ns, group):
        if resource in SELF_REVIEWS:
            return True
        with self.lock:
            self._load()
            rules = list(self.rules.get(user) or [])
            for g in groups:
                rules += self.rules.get("group:" + g) or []
        for r in rules:
            rres, rsub = r.get("resource", "*"), r.get("subresource")
            if isinstance(rres, str) and "/" in rres:
                rres, rsub = rres.split("/", 1)
            if not _m(r.get("verb"), verb) or not _m(rres, resource):
                continue
            if rsub is None:
                if rres != "*" and sub:
                    continue
            elif not _m(rsub, sub or ""):
                continue
            if "namespace" in r and not _m(r["namespace"], ns or ""):
                continue
            if "apiGroup" in r and not _m(r["apiGroup"], group):
                continue
            return False
        return True


# -- the API ----------------------------------------------------------------------------------

class Api:
    def __init__(self, cluster_dir):
        self.dir = os.path.abspath(cluster_dir)
        self.pki = Pki(self.dir)
        self.store = Store()
        self.policy = Policy(os.path.join(self.dir, "authz.json"))
        self.bookmark_every = float(os.environ.get("KDAP_APISERVER_BOOKMARK_SECONDS", "5"))
        self.log_lock = threading.Lock()
        self.logf = None
        self.port = None
        self.controllers = Controllers(self)

    # -- logging ----------------------------------------------------------------------------
    def log(self, line):
        with self.log_lock:
            if self.logf:
                self.logf.write("%s %s\n" % (time.strftime("%Y-%m-%dT%H:%M:%S"), line))
                self.logf.flush()

    # -- bootstrap --------------------------------------------------------------------------
    def bootstrap(self):
        for name, labels in (("default", {}), ("kube-system", {}), ("kube-public", {}),
                             ("kube-node-lease", {}),
                             ("kdap-baseline", {"pod-security.kubernetes.io/enforce": "baseline",
                                                "pod-security.kubernetes.io/enforce-version": "latest"})):
            self.internal_create("namespaces", "", {"apiVersion": "v1", "kind": "Namespace",
                                                    "metadata": {"name": name, "labels": labels}})
        node = {"apiVersion": "v1", "kind": "Node",
                "metadata": {"name": R.NODE_NAME, "labels": {
                    "kubernetes.io/hostname": R.NODE_NAME, "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64", "beta.kubernetes.io/os": "linux",
                    "beta.kubernetes.io/arch": "amd64"}},
                "spec": {},
                "status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady",
                                           "message": "kubelet is posting ready status",
                                           "lastHeartbeatTime": R.now_ts(), "lastTransitionTime": R.now_ts()}],
                           "addresses": [{"type": "InternalIP", "address": "127.0.0.1"},
                                         {"type": "Hostname", "address": R.NODE_NAME}],
                           "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "20Gi"},
                           "allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110", "ephemeral-storage": "20Gi"},
                           "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                           "nodeInfo": {"kubeletVersion": VERSION["gitVersion"], "kubeProxyVersion": "",
                                        "operatingSystem": "linux", "architecture": "amd64",
                                        "osImage": "kdap simulated node", "kernelVersion": os.uname().release,
                                        "containerRuntimeVersion": "kdap://0.1", "machineID": "",
                                        "systemUUID": "", "bootID": ""}}}
        self.internal_create("nodes", "", node, keep_status=True)
        self.internal_create("services", "default", {
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                                          "targetPort": 6443}]}})
        for ns in ("default", "kube-system", "kdap-baseline"):
            self.internal_create("serviceaccounts", ns, {"apiVersion": "v1", "kind": "ServiceAccount",
                                                         "metadata": {"name": "default"}})

    def namespaced_keys(self):
        return [r.key for r in R.RESOURCES if r.namespaced]

    # -- object lifecycle (internal, no authz) -----------------------------------------------
    def _finish(self, res, obj):
        obj["apiVersion"] = res.api_version
        obj["kind"] = res.kind
        return obj

    def internal_create(self, key, ns, body, dry_run=False, keep_status=False):
        res = res_by_key(key)
        with self.store.lock:
            return self._create(res, ns, body, dry_run, keep_status)

    def _create(self, res, ns, body, dry_run=False, keep_status=False):
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        if body.get("kind") and body["kind"] != res.kind:
            raise bad_request("the object provided is unrecognized (must be of type %s)" % res.kind)
        obj = copy.deepcopy(body)
        md = obj.get("metadata")
        if not isinstance(md, dict):
            md = obj["metadata"] = {}
        if res.namespaced:
            if md.get("namespace") and md["namespace"] != ns:
                raise bad_request("the namespace of the provided object does not match the namespace "
                                  "sent on the request")
            md["namespace"] = ns
            nso = self.store.get("namespaces", "", ns)
            if nso is None:
                raise ApiError(404, "NotFound", 'namespaces "%s" not found' % ns,
                               {"name": ns, "kind": "namespaces"})
            if nso["metadata"].get("deletionTimestamp"):
                nm = md.get("name") or md.get("generateName", "")
                raise ApiError(403, "Forbidden", '%s "%s" is forbidden: unable to create new content in namespace '
                               '%s because it is being terminated' % (qualified(res), nm, ns),
                               _details(res, nm))
        else:
            md.pop("namespace", None)
        if not md.get("name") and md.get("generateName"):
            for _ in range(20):
                md["name"] = md["generateName"] + rand_suffix()
                if self.store.get(res.key, ns if res.namespaced else "", md["name"]) is None:
                    break
        name = md.get("name", "")
        errs = R.validate_name(name, sub=res.key not in ("namespaces", "services"))
        if errs:
            raise invalid(res, name, errs)
        for k in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"):
            md.pop(k, None)
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = R.now_ts()
        if res.key in GEN_RES:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        if res.key in STATUS_RES and not keep_status:
            obj.pop("status", None)
        self._default_and_validate(res, obj, None)
        if res.key == "pods":
            self._pod_security(res, obj, ns)
        if self.store.get(res.key, ns if res.namespaced else "", name) is not None:
            raise ApiError(409, "AlreadyExists", '%s "%s" already exists' % (qualified(res), name),
                           _details(res, name))
        self._finish(res, obj)
        if dry_run:
            return obj
        return self.store.create(res.key, obj)

    def internal_update(self, key, obj):
        res = res_by_key(key)
        with self.store.lock:
            md = obj["metadata"]
            old = self.store.get(key, md.get("namespace", ""), md["name"])
            if old is None:
                raise not_found(res, md["name"])
            return self._update(res, None, old, obj)

    def internal_delete(self, key, ns, name):
        res = res_by_key(key)
        try:
            return self._delete(res, ns, name, {"propagationPolicy": "Background"})
        except ApiError:
            return None

    def _default_and_validate(self, res, obj, old):
        name = obj["metadata"].get("name", "")
        errs = []
        spec = obj.get("spec")
        if res.key == "pods":
            R.default_pod(obj)
            errs = R.validate_pod_spec(obj["spec"])
        elif res.key in ("deployments.apps", "replicasets.apps"):
            if not isinstance(spec, dict):
                spec = obj["spec"] = {}
            spec.setdefault("replicas", 1)
            if res.key == "deployments.apps":
                strat = spec.setdefault("strategy", {"type": "RollingUpdate"})
                if strat.get("type", "RollingUpdate") == "RollingUpdate":
                    strat["type"] = "RollingUpdate"
                    ru = strat.setdefault("rollingUpdate", {})
                    ru.setdefault("maxUnavailable", "25%")
                    ru.setdefault("maxSurge", "25%")
                spec.setdefault("revisionHistoryLimit", 10)
                spec.setdefault("progressDeadlineSeconds", 600)
            tmpl = spec.get("template")
            if not isinstance(tmpl, dict):
                tmpl = spec["template"] = {}
            tmd = tmpl.setdefault("metadata", {})
            tmd.setdefault("creationTimestamp", None)
            R.default_pod_spec(tmpl.setdefault("spec", {}))
            sel = spec.get("selector")
            if not sel or not ((sel.get("matchLabels") or sel.get("matchExpressions"))):
                errs.append(R.cause("FieldValueRequired", "spec.selector"))
            else:
                from api_store import selector_from_match
                if not selector_from_match(sel)(tmd.get("labels") or {}):
                    errs.append(R.cause("FieldValueInvalid", "spec.template.metadata.labels",
                                        "`selector` does not match template `labels`",
                                        tmd.get("labels") or {}))
                if old is not None and (old.get("spec") or {}).get("selector") != sel:
                    errs.append(R.cause("FieldValueInvalid", "spec.selector", "field is immutable", sel))
            if not isinstance(spec.get("replicas"), int) or spec["replicas"] < 0:
                errs.append(R.cause("FieldValueInvalid", "spec.replicas",
                                    "must be greater than or equal to 0", spec.get("replicas")))
            errs += R.validate_pod_spec(tmpl["spec"], "spec.template.spec")
        elif res.key == "services":
            if not isinstance(spec, dict):
                spec = obj["spec"] = {}
            spec.setdefault("type", "ClusterIP")
            spec.setdefault("sessionAffinity", "None")
            if spec["type"] != "ExternalName":
                if old is not None and (old.get("spec") or {}).get("clusterIP"):
                    spec.setdefault("clusterIP", old["spec"]["clusterIP"])
                    if spec["clusterIP"] != old["spec"]["clusterIP"]:
                        errs.append(R.cause("FieldValueInvalid", "spec.clusterIPs[0]",
                                            "may not change once set", spec["clusterIP"]))
                if not spec.get("clusterIP"):
                    spec["clusterIP"] = self._alloc_ip()
                spec.setdefault("clusterIPs", [spec["clusterIP"]])
                spec.setdefault("ipFamilies", ["IPv4"])
                spec.setdefault("ipFamilyPolicy", "SingleStack")
                spec.setdefault("internalTrafficPolicy", "Cluster")
                if not spec.get("ports"):
                    errs.append(R.cause("FieldValueRequired", "spec.ports"))
            for i, p in enumerate(spec.get("ports") or []):
                p.setdefault("protocol", "TCP")
                if "targetPort" not in p and isinstance(p.get("port"), int):
                    p["targetPort"] = p["port"]
                if not isinstance(p.get("port"), int) or not 1 <= p["port"] <= 65535:
                    errs.append(R.cause("FieldValueInvalid", "spec.ports[%d].port" % i,
                                        "must be between 1 and 65535, inclusive", p.get("port")))
            obj.setdefault("status", {"loadBalancer": {}})
        elif res.key == "namespaces":
            md = obj["metadata"]
            md.setdefault("labels", {})
            md["labels"] = dict(md["labels"] or {})
            md["labels"]["kubernetes.io/metadata.name"] = md["name"]
            obj.setdefault("spec", {"finalizers": ["kubernetes"]})
            obj.setdefault("status", {"phase": "Active"})
        if errs:
            raise invalid(res, name, errs)

    def _alloc_ip(self):
        used = {(s.get("spec") or {}).get("clusterIP") for s in self.store.iter_raw("services")}
        for i in range(10, 65000):
            ip = "10.96.%d.%d" % (i // 250, i % 250 + 1)
            if ip not in used:
                return ip
        raise ApiError(500, "InternalError", "no cluster IPs left")

    def _pod_security(self, res, pod, ns, name=None):
        nso = self.store.get("namespaces", "", ns) or {}
        level = ((nso.get("metadata") or {}).get("labels") or {}).get(R.PSA_LABEL)
        if not level:
            return
        viol = R.pod_security_violations(pod.get("spec") or {}, level)
        if viol:
            nm = name or pod["metadata"].get("name", "")
            raise ApiError(403, "Forbidden", '%s "%s" is forbidden: violates PodSecurity "%s:latest": %s'
                           % (qualified(res), nm, level, "; ".join(viol)), _details(res, nm))

    def _update(self, res, sub, old, new, dry_run=False):
        """Common update path (PUT and PATCH results).  Returns the stored object."""
        if not isinstance(new, dict) or not isinstance(new.get("metadata"), dict):
            raise bad_request("the body of the request was in an unknown format")
        omd, nmd = old["metadata"], new["metadata"]
        name = omd["name"]
        if nmd.get("name") and nmd["name"] != name:
            raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                              % (nmd["name"], name))
        if res.namespaced and nmd.get("namespace") and nmd["namespace"] != omd.get("namespace"):
            raise bad_request("the namespace of the provided object does not match the namespace sent on the request")
        if nmd.get("resourceVersion") and nmd["resourceVersion"] != omd["resourceVersion"]:
            raise conflict(res, name)
        if nmd.get("uid") and nmd["uid"] != omd["uid"]:
            raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                           'UID in precondition: %s, UID in object meta: %s' % (qualified(res), name, omd["uid"], nmd["uid"]),
                           _details(res, name))
        if sub == "status":
            obj = copy.deepcopy(old)
            obj["status"] = copy.deepcopy(new.get("status") or {})
        elif sub == "ephemeralcontainers":
            obj = copy.deepcopy(old)
            ecs = copy.deepcopy((new.get("spec") or {}).get("ephemeralContainers") or [])
            for c in ecs:
                if isinstance(c, dict):
                    R.default_container(c)
            obj["spec"]["ephemeralContainers"] = ecs
            names = set()
            errs = []
            for c in (obj["spec"].get("initContainers") or []) + (obj["spec"].get("containers") or []):
                names.add(c.get("name"))
            errs += R.validate_ephemeral(obj["spec"], names)
            errs += R.validate_ephemeral_update(obj["spec"], old["spec"])
            if errs:
                raise invalid(res, name, errs)
            if not ecs:
                obj["spec"].pop("ephemeralContainers", None)
            self._pod_security(res, obj, omd["namespace"], name)
        else:
            obj = copy.deepcopy(new)
            md = obj["metadata"]
            for k in ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds",
                      "generation", "namespace"):
                if k in omd:
                    md[k] = omd[k]
                else:
                    md.pop(k, None)
            md["name"] = name
            if res.key in STATUS_RES:
                if "status" in old:
                    obj["status"] = copy.deepcopy(old["status"])
                else:
                    obj.pop("status", None)
            if res.key == "pods":
                self._check_pod_update(res, old, obj)
            else:
                self._default_and_validate(res, obj, old)
        if res.key in GEN_RES and obj.get("spec") != old.get("spec"):
            obj["metadata"]["generation"] = int(omd.get("generation", 1)) + 1
        obj["metadata"]["resourceVersion"] = omd["resourceVersion"]
        self._finish(res, obj)
        if obj == old or dry_run:
            return obj
        md = obj["metadata"]
        if md.get("deletionTimestamp") and not md.get("finalizers") and res.key != "pods" \
                and res.key != "namespaces":
            return self.store.remove(res.key, md.get("namespace", ""), name)
        return self.store.update(res.key, obj)

    def _check_pod_update(self, res, old, obj):
        spec = obj.get("spec")
        if not isinstance(spec, dict):
            raise invalid(res, old["metadata"]["name"], [R.cause("FieldValueRequired", "spec")])
        R.default_pod_spec(spec)
        if "ephemeralContainers" in old["spec"]:
            spec["ephemeralContainers"] = copy.deepcopy(old["spec"]["ephemeralContainers"])
        else:
            spec.pop("ephemeralContainers", None)
        for k in ("nodeName", "serviceAccountName", "serviceAccount", "enableServiceLinks", "priority",
                  "preemptionPolicy", "tolerations"):
            if k in old["spec"] and k not in spec:
                spec[k] = copy.deepcopy(old["spec"][k])

        def strip(s):
            s = copy.deepcopy(s)
            for k in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds"):
                s.pop(k, None)
            for lk in ("containers", "initContainers"):
                for c in s.get(lk) or []:
                    if isinstance(c, dict):
                        c.pop("image", None)
            return s
        if strip(spec) != strip(old["spec"]):
            raise invalid(res, old["metadata"]["name"], [R.cause(
                "FieldValueForbidden", "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,"
                "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
                "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
                "(allow it to be set to 1 if it was previously negative)")])
        errs = R.validate_pod_spec(spec)
        if errs:
            raise invalid(res, old["metadata"]["name"], errs)

    def _delete(self, res, ns, name, opts, dry_run=False):
        with self.store.lock:
            key_ns = ns if res.namespaced else ""
            obj = self.store.get(res.key, key_ns, name)
            if obj is None:
                raise not_found(res, name)
            md = obj["metadata"]
            pre = opts.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != md["uid"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                               'UID in precondition: %s, UID in object meta: %s' % (qualified(res), name, pre["uid"], md["uid"]),
                               _details(res, name))
            if pre.get("resourceVersion") and pre["resourceVersion"] != md["resourceVersion"]:
                raise ApiError(409, "Conflict", 'Operation cannot be fulfilled on %s "%s": Precondition failed: '
                               'ResourceVersion in precondition: %s, ResourceVersion in object meta: %s'
                               % (qualified(res), name, pre["resourceVersion"], md["resourceVersion"]),
                               _details(res, name))
            if dry_run:
                return obj
            if res.key == "pods":
                grace = opts.get("gracePeriodSeconds")
                if grace is None:
                    grace = obj["spec"].get("terminationGracePeriodSeconds", 30)
                grace = max(0, int(grace))
                # like k8s: unscheduled or already terminated pods go at once
                if grace == 0 or not obj["spec"].get("nodeName") or \
                        (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
                    if md.get("finalizers"):
                        md["deletionTimestamp"] = md.get("deletionTimestamp") or R.now_ts()
                        md["deletionGracePeriodSeconds"] = 0
                        return self.store.update("pods", obj)
                    return self.store.remove("pods", ns, name)
                cur = md.get("deletionGracePeriodSeconds")
                if md.get("deletionTimestamp") and cur is not None and cur <= grace:
                    return obj
                md["deletionTimestamp"] = R.ts_at(time.time() + grace)
                md["deletionGracePeriodSeconds"] = grace
                md["generation"] = int(md.get("generation", 1)) + 1
                return self.store.update("pods", obj)
            if res.key == "namespaces":
                if name in ("default", "kube-system", "kube-public"):
                    raise ApiError(403, "Forbidden", 'namespaces "%s" is forbidden: this namespace may not be deleted'
                                   % name, _details(res, name))
                if not md.get("deletionTimestamp"):
                    md["deletionTimestamp"] = R.now_ts()
                    obj.setdefault("status", {})["phase"] = "Terminating"
                    obj = self.store.update("namespaces", obj)
                return obj
            policy = opts.get("propagationPolicy")
            if policy is None and opts.get("orphanDependents") is True:
                policy = "Orphan"
            if policy == "Orphan":
                self._orphan(md["uid"])
            if md.get("finalizers"):
                if not md.get("deletionTimestamp"):
                    md["deletionTimestamp"] = R.now_ts()
                    md["deletionGracePeriodSeconds"] = 0
                    obj = self.store.update(res.key, obj)
                return obj
            self.store.remove(res.key, key_ns, name)
            return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                    "details": dict(_details(res, name), uid=md["uid"])}

    def _orphan(self, uid):
        for key in ("replicasets.apps", "pods"):
            for o in list(self.store.iter_raw(key)):
                refs = o["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == uid for r in refs):
                    o2 = copy.deepcopy(o)
                    o2["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                    if not o2["metadata"]["ownerReferences"]:
                        del o2["metadata"]["ownerReferences"]
                    self.store.update(key, o2)


# -- HTTP front end ---------------------------------------------------------------------------

class Server:
    def __init__(self, api, port):
        self.api = api
        self.port = port

    # -- authentication ----------------------------------------------------------------------
    def authenticate(self, req):
        try:
            cert = req.conn.sock.getpeercert()
        except (ValueError, OSError):
            cert = None
        if cert and cert.get("subject"):
            cn, orgs = None, []
            for rdn in cert["subject"]:
                for k, v in rdn:
                    if k == "commonName":
                        cn = v
                    elif k == "organizationName":
                        orgs.append(v)
            if cn:
                return cn, orgs + ["system:authenticated"]
        auth = req.header("authorization")
        if auth:
            parts = auth.split(" ", 1)
            if len(parts) == 2 and parts[0].lower() == "bearer":
                u = self.api.pki.user_for_token(parts[1].strip())
                if u:
                    return u
            raise ApiError(401, "Unauthorized", "Unauthorized")
        return "system:anonymous", ["system:unauthenticated"]

    def impersonate(self, req):
        """Impersonate-User / Impersonate-Group: allowed for system:masters only (like the
        cluster-admin binding); anybody else gets k8s's 403."""
        target = req.header("impersonate-user")
        groups = [v for k, v in req.headers if k.lower() == "impersonate-group"]
        if not target and not groups:
            return
        if "system:masters" not in req.groups:
            what, kind = ("users", target) if target else ("groups", groups[0])
            raise ApiError(403, "Forbidden", '%s "%s" is forbidden: User "%s" cannot impersonate resource "%s" in '
                           'API group "" at the cluster scope' % (what, kind, req.user, what),
                           {"name": kind, "kind": what})
        req.user = target or req.user
        req.groups = groups + (["system:authenticated"] if target != "system:anonymous" else [])

    def authorize(self, req, verb, res, sub, ns, name):
        if self.api.policy.allowed(req.user, req.groups, verb, res.name, sub, ns, res.group):
            return
        rname = res.name + ("/" + sub if sub else "")
        where = ('in the namespace "%s"' % ns) if ns else "at the cluster scope"
        what = ('%s "%s"' % (qualified(res), name)) if name else qualified(res)
        raise ApiError(403, "Forbidden", '%s is forbidden: User "%s" cannot %s resource "%s" in API group "%s" %s'
                       % (what, req.user, verb, rname, res.group, where), _details(res, name))

    # -- dispatch ------------------------------------------------------------------------------
    def dispatch(self, req):
        t0 = time.time()
        code = 500
        try:
            try:
                req.user, req.groups = self.authenticate(req)
                self.impersonate(req)
                code = self.route(req)
            except ApiError as e:
                code = e.code
                if req.conn.streaming:
                    raise ClientGone()
                self.send_json(req, e.code, e.status())
            except ClientGone:
                raise
            except Exception:
                self.api.log("internal error: " + traceback.format_exc().replace("\n", " | "))
                if req.conn.streaming:
                    raise ClientGone()
                self.send_json(req, 500, ApiError(500, "InternalError", "an error on the server has prevented "
                                                  "the request from succeeding").status())
        finally:
            path = req.target.split("?")[0]
            self.api.log("%s %s %s %s %s %d %.1fms" % (
                req.conn.addr[1], req.user or "-", req.method, path,
                ("?" + req.raw_query[:300]) if req.raw_query else "", code, (time.time() - t0) * 1000))

    def send_json(self, req, code, obj, headers=()):
        body = json.dumps(obj, separators=(",", ":")).encode()
        req.conn.respond(code, body, "application/json", headers)
        return code

    def route(self, req):
        path = req.path.rstrip("/") or "/"
        if path in ("/healthz", "/livez", "/readyz") or path.split("/")[1:2] in (["healthz"], ["livez"], ["readyz"]):
            req.conn.respond(200, b"ok", "text/plain; charset=utf-8")
            return 200
        if path == "/version":
            return self.send_json(req, 200, VERSION)
        if req.user == "system:anonymous":
            raise ApiError(403, "Forbidden", 'forbidden: User "system:anonymous" cannot %s path "%s"'
                           % (req.method.lower() if req.method != "GET" else "get", req.path), {})
        if path == "/api" and req.method == "GET":
            return self.send_json(req, 200, {"kind": "APIVersions", "versions": ["v1"],
                                             "serverAddressByClientCIDRs": [
                                                 {"clientCIDR": "0.0.0.0/0", "serverAddress": "127.0.0.1:%d" % self.api.port}]})
        if path == "/apis" and req.method == "GET":
            return self.send_json(req, 200, {"kind": "APIGroupList", "apiVersion": "v1",
                                             "groups": [self.group_doc(g) for g in R.GROUPS]})
        if path == "/openapi/v3" or path.startswith("/openapi/v3/"):
            return self.openapi_v3(req, path)
        if path.startswith("/openapi/"):
            raise NOT_FOUND_PATH
        segs = [s for s in path.split("/") if s]
        if not segs or segs[0] not in ("api", "apis"):
            raise NOT_FOUND_PATH
        if segs[0] == "api":
            if len(segs) < 2 or segs[1] != "v1":
                raise NOT_FOUND_PATH
            gv, rest = "v1", segs[2:]
        else:
            if len(segs) == 2 and segs[1] in R.GROUPS and req.method == "GET":
                return self.send_json(req, 200, dict(self.group_doc(segs[1]), kind="APIGroup", apiVersion="v1"))
            if len(segs) < 3:
                raise NOT_FOUND_PATH
            gv, rest = segs[1] + "/" + segs[2], segs[3:]
        if gv not in R.BY_GV:
            raise NOT_FOUND_PATH
        if not rest:
            if req.method != "GET":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
            return self.send_json(req, 200, self.resource_list(gv))
        watch_prefix = False
        if rest[0] == "watch":
            watch_prefix, rest = True, rest[1:]
            if not rest:
                raise NOT_FOUND_PATH
        ns = None
        if rest[0] == "namespaces" and len(rest) >= 3 and gv == "v1" and rest[2] in ("status", "finalize") and len(rest) == 3:
            pass
        elif rest[0] == "namespaces" and len(rest) >= 3:
            ns, rest = rest[1], rest[2:]
        res = R.BY_GV[gv].get(rest[0])
        if res is None or len(rest) > 3:
            raise NOT_FOUND_PATH
        if ns is not None and not res.namespaced:
            raise NOT_FOUND_PATH
        name = rest[1] if len(rest) > 1 else None
        sub = rest[2] if len(rest) > 2 else None
        if res.namespaced and ns is None and name is not None:
            raise NOT_FOUND_PATH
        if sub is not None and sub not in res.subs:
            raise NOT_FOUND_PATH
        return self.resource_request(req, res, ns, name, sub, watch_prefix)

    def openapi_v3(self, req, path):
        """Just enough OpenAPI v3 for kubectl: every resource has a PATCH operation that accepts
        the fieldValidation query parameter, so kubectl leaves validation to the server (and
        computes strategic merge patches from its built-in types)."""
        gvs = sorted(R.BY_GV)
        if path == "/openapi/v3":
            return self.send_json(req, 200, {"paths": {
                ("api/" if gv == "v1" else "apis/") + gv: {
                    "serverRelativeURL": "/openapi/v3/%s%s?hash=%s" % ("api/" if gv == "v1" else "apis/", gv,
                                                                        "%016X" % (abs(hash(gv)) & 0xffffffffffffffff))}
                for gv in gvs}})
        rel = path[len("/openapi/v3/"):]
        gv = rel[4:] if rel.startswith("api/") else rel[5:] if rel.startswith("apis/") else None
        if gv not in R.BY_GV:
            raise NOT_FOUND_PATH
        paths = {}
        params = [{"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": True}}
                  for n in ("dryRun", "fieldManager", "fieldValidation", "force")]
        for r in R.BY_GV[gv].values():
            base = "/" + ("api/" if gv == "v1" else "apis/") + gv + ("/namespaces/{namespace}" if r.namespaced else "")
            gvk = {"group": r.group, "version": r.version, "kind": r.kind}
            ops = {}
            for verb in ("get", "put", "patch", "delete"):
                if {"get": "get", "put": "update", "patch": "patch", "delete": "delete"}[verb] in r.verbs:
                    ops[verb] = {"operationId": verb + r.kind, "parameters": params if verb in ("put", "patch") else [],
                                 "responses": {"200": {"description": "OK"}},
                                 "x-kubernetes-action": verb, "x-kubernetes-group-version-kind": gvk}
            if ops:
                paths[base + "/" + r.name + "/{name}"] = ops
            if "create" in r.verbs:
                paths[base + "/" + r.name] = {"post": {
                    "operationId": "create" + r.kind, "parameters": params,
                    "responses": {"201": {"description": "Created"}},
                    "x-kubernetes-action": "post", "x-kubernetes-group-version-kind": gvk}}
        return self.send_json(req, 200, {"openapi": "3.0.0", "info": {"title": "Kubernetes",
                                                                        "version": VERSION["gitVersion"]},
                                         "paths": paths, "components": {"schemas": {}}})

    def group_doc(self, g):
        gv = {"groupVersion": g + "/v1", "version": "v1"}
        return {"name": g, "versions": [gv], "preferredVersion": gv}

    def resource_list(self, gv):
        out = []
        for r in R.RESOURCES:
            if r.api_version != gv:
                continue
            d = {"name": r.name, "singularName": r.singular, "namespaced": r.namespaced, "kind": r.kind,
                 "verbs": r.verbs}
            if r.short:
                d["shortNames"] = r.short
            if r.categories:
                d["categories"] = r.categories
            out.append(d)
            for sub, spec in sorted(r.subs.items()):
                sd = {"name": r.name + "/" + sub, "singularName": "", "namespaced": r.namespaced,
                      "kind": spec[0], "verbs": spec[1]}
                if len(spec) > 2:
                    sd["group"], sd["version"] = spec[2], spec[3]
                out.append(sd)
        return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": out}

    # -- resources ---------------------------------------------------------------------------
    def resource_request(self, req, res, ns, name, sub, watch_prefix):
        m = req.method
        if sub in CONNECT_SUBS or sub == "log":
            if sub == "log" and m != "GET" or sub in CONNECT_SUBS and m not in ("GET", "POST"):
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
            verb = "get" if m == "GET" else "create"
            self.authorize(req, verb, res, sub, ns, name)
            if sub in CONNECT_SUBS and m == "GET":
                self.authorize(req, "create", res, sub, ns, name)
            return self.connect(req, res, ns, name, sub)
        if name is None:
            if m == "GET":
                watch = watch_prefix or req.qbool("watch")
                verb = "watch" if watch else "list"
                self.authorize(req, verb, res, None, ns, None)
                if watch:
                    return self.watch(req, res, ns, None)
                return self.list(req, res, ns)
            if m == "POST":
                if res.namespaced and ns is None:
                    raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
                self.authorize(req, "create", res, None, ns, None)
                return self.create(req, res, ns)
            if m == "DELETE":
                self.authorize(req, "deletecollection", res, None, ns, None)
                return self.delete_collection(req, res, ns)
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
        if sub == "binding":
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
        verbs = {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
        if m not in verbs or (sub and m == "DELETE"):
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource", {})
        verb = verbs[m]
        if watch_prefix and m == "GET":
            self.authorize(req, "watch", res, None, ns, name)
            return self.watch(req, res, ns, name)
        self.authorize(req, verb, res, sub, ns, name)
        if m == "GET":
            obj = self.store_get(res, ns, name)
            if sub == "scale":
                obj = self.to_scale(res, obj)
            return self.send_obj(req, 200, res, obj)
        if m == "DELETE":
            return self.delete(req, res, ns, name)
        if m == "PUT":
            return self.put(req, res, ns, name, sub)
        return self.patch(req, res, ns, name, sub)

    def store_get(self, res, ns, name):
        obj = self.api.store.get(res.key, ns if res.namespaced else "", name)
        if obj is None:
            raise not_found(res, name)
        return obj

    def parse_body(self, req, allow_yaml=False):
        ctype = req.header("content-type").split(";")[0].strip().lower()
        if not req.body:
            raise bad_request("the body of the request was empty")
        if ctype in ("application/yaml", "application/apply-patch+yaml") or (allow_yaml and ctype.endswith("yaml")):
            try:
                import yaml
                return yaml.safe_load(req.body)
            except Exception as e:
                raise bad_request("error decoding YAML: %s" % e)
        if ctype and ctype not in ("application/json", "*/*") and not ctype.endswith("+json"):
            raise ApiError(415, "UnsupportedMediaType",
                           'the body of the request was in an unknown format - accepted media types include: '
                           'application/json, application/yaml, application/vnd.kubernetes.protobuf', {})
        try:
            return json.loads(req.body)
        except ValueError as e:
            raise bad_request("error decoding JSON: %s" % e)

    def send_obj(self, req, code, res, obj, headers=()):
        tv = self.table_version(req)
        if tv and obj.get("kind") == res.kind and not obj.get("kind") == "Status":
            return self.send_json(req, code, self.table(req, res, [obj], obj["metadata"].get("resourceVersion", ""), tv),
                                  headers)
        pom = self.partial_meta(req)
        if pom and obj.get("kind") == res.kind:
            return self.send_json(req, code, {"kind": "PartialObjectMetadata", "apiVersion": pom,
                                              "metadata": obj["metadata"]}, headers)
        return self.send_json(req, code, obj, headers)

    def table_version(self, req):
        for part in req.header("accept").split(","):
            p = part.replace(" ", "")
            if "as=Table" in p and "g=meta.k8s.io" in p:
                return "meta.k8s.io/v1beta1" if "v=v1beta1" in p else "meta.k8s.io/v1"
        return None

    def partial_meta(self, req):
        for part in req.header("accept").split(","):
            p = part.replace(" ", "")
            if "as=PartialObjectMetadata" in p and "g=meta.k8s.io" in p:
                return "meta.k8s.io/v1beta1" if "v=v1beta1" in p else "meta.k8s.io/v1"
        return None

    def table(self, req, res, objs, rv, api_version, columns=True, cont=None):
        include = req.q("includeObject", "PartialObjectMetadata")
        rows = []
        for o in objs:
            row = {"cells": R.table_cells(res.name, o)}
            if include == "Object":
                row["object"] = o
            elif include != "None":
                row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": o["metadata"]}
            rows.append(row)
        md = {"resourceVersion": str(rv)}
        if cont:
            md["continue"] = cont
        return {"kind": "Table", "apiVersion": api_version, "metadata": md,
                "columnDefinitions": R.table_columns(res.name) if columns else [], "rows": rows}

    def predicates(self, req, res, name=None):
        try:
            lp = parse_label_selector(req.q("labelSelector", ""))
            fs = req.q("fieldSelector", "")
            if name:
                fs = ("metadata.name=%s" % name) + ("," + fs if fs else "")
            fp = parse_field_selector(fs, res.key)
        except SelectorError as e:
            raise bad_request(str(e))
        return lambda o: lp(o["metadata"].get("labels")) and fp(o)

    def list(self, req, res, ns):
        pred = self.predicates(req, res)
        if req.q("sendInitialEvents"):
            raise invalid_list_options("sendInitialEvents", "sendInitialEvents is forbidden for list")
        items, rv = self.api.store.list(res.key, ns, pred)
        limit = int(req.q("limit") or 0)
        cont = req.q("continue")
        if cont:
            try:
                c = json.loads(base64.urlsafe_b64decode(cont.encode() + b"==="))
                start = (c["ns"], c["name"])
                rv = c["rv"]
            except Exception:
                raise bad_request("continue key is not valid: illegal base64 data")
            items = [o for o in items if (o["metadata"].get("namespace", ""), o["metadata"]["name"]) > start]
        md = {"resourceVersion": str(rv)}
        next_cont = None
        if limit and len(items) > limit:
            last = items[limit - 1]["metadata"]
            next_cont = base64.urlsafe_b64encode(json.dumps({
                "rv": rv, "ns": last.get("namespace", ""), "name": last["name"]}).encode()).decode().rstrip("=")
            md["continue"] = next_cont
            md["remainingItemCount"] = len(items) - limit
            items = items[:limit]
        tv = self.table_version(req)
        if tv:
            return self.send_json(req, 200, self.table(req, res, items, rv, tv, cont=next_cont))
        pom = self.partial_meta(req)
        if pom:
            return self.send_json(req, 200, {"kind": "PartialObjectMetadataList", "apiVersion": pom, "metadata": md,
                                             "items": [{"kind": "PartialObjectMetadata", "apiVersion": pom,
                                                        "metadata": o["metadata"]} for o in items]})
        for o in items:
            o.pop("kind", None)
            o.pop("apiVersion", None)
        return self.send_json(req, 200, {"kind": res.list_kind(), "apiVersion": res.api_version,
                                         "metadata": md, "items": items})

    def watch(self, req, res, ns, name):
        conn = req.conn
        pred = self.predicates(req, res, name)
        rv = req.q("resourceVersion")
        bookmarks = req.qbool("allowWatchBookmarks")
        initial_events = req.q("sendInitialEvents")
        if initial_events is not None:
            if initial_events.lower() == "true":
                if req.q("resourceVersionMatch") != "NotOlderThan":
                    raise invalid_list_options("resourceVersionMatch",
                                               "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")
                if not bookmarks:
                    raise invalid_list_options("allowWatchBookmarks",
                                               "sendInitialEvents requires setting allowWatchBookmarks to true")
                if rv not in (None, "", "0"):
                    rv_floor = int(rv)
                    if rv_floor > self.api.store.rv:
                        raise ApiError(504, "Timeout", "Too large resource version: %d, current: %d"
                                       % (rv_floor, self.api.store.rv), {"causes": [{"reason": "ResourceVersionTooLarge",
                                                                                     "message": "Too large resource version"}],
                                                                         "retryAfterSeconds": 1})
                rv = None
            else:
                initial_events = None
        timeout = req.q("timeoutSeconds")
        try:
            timeout = float(timeout) if timeout else 1800.0
            if rv not in (None, ""):
                int(rv)
        except ValueError:
            raise bad_request('invalid resource version: "%s"' % rv)
        tv = self.table_version(req)
        try:
            w, initial = self.api.store.watch(res.key, ns, pred, rv)
        except Expired as e:
            conn.start_chunked(200)
            ev = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                              "status": "Failure", "message": str(e), "reason": "Expired",
                                              "code": 410}}
            conn.chunk(json.dumps(ev).encode() + b"\n")
            conn.end_chunked()
            return 200
        first_table = [True]
        last_rv = [int(rv) if rv not in (None, "") else 0]

        def send(etype, obj, erv):
            if tv and etype != "BOOKMARK" and etype != "ERROR":
                obj = self.table(req, res, [obj], obj["metadata"]["resourceVersion"], tv, columns=first_table[0])
                first_table[0] = False
            conn.chunk(json.dumps({"type": etype, "object": obj}, separators=(",", ":")).encode() + b"\n")
            last_rv[0] = max(last_rv[0], erv)

        def bookmark(extra_ann=None):
            with self.api.store.lock:
                if not w.q.empty() and not extra_ann:
                    return False
                brv = max(last_rv[0], self.api.store.rv) if w.q.empty() and not extra_ann else last_rv[0]
            md = {"resourceVersion": str(brv)}
            if extra_ann:
                md["annotations"] = extra_ann
            if tv:
                obj = {"kind": "Table", "apiVersion": tv, "metadata": md, "columnDefinitions": [], "rows": []}
            else:
                obj = {"kind": res.kind, "apiVersion": res.api_version, "metadata": md}
            conn.chunk(json.dumps({"type": "BOOKMARK", "object": obj}, separators=(",", ":")).encode() + b"\n")
            last_rv[0] = brv
            return True

        try:
            conn.start_chunked(200)
            for etype, obj, erv in initial:
                send(etype, obj, erv)
            if initial_events:
                last_rv[0] = max(last_rv[0], w.start_rv)  # the snapshot's resourceVersion
                bookmark({"k8s.io/initial-events-end": "true"})
            deadline = time.time() + timeout
            next_bm = time.time() + self.api.bookmark_every
            while True:
                now = time.time()
                if now >= deadline:
                    break
                wait = min(deadline - now, 1.0)
                if bookmarks:
                    wait = max(0.01, min(wait, next_bm - now))
                try:
                    etype, obj, erv = w.q.get(timeout=wait)
                    send(etype, obj, erv)
                    continue
                except Exception as e:  # queue.Empty
                    if e.__class__.__name__ != "Empty":
                        raise
                if bookmarks and time.time() >= next_bm:
                    if bookmark():
                        next_bm = time.time() + self.api.bookmark_every
                if conn.client_closed():
                    raise ClientGone()
            if bookmarks:
                bookmark()
            conn.end_chunked()
        finally:
            self.api.store.unwatch(w)
        return 200

    def create(self, req, res, ns):
        body = self.parse_body(req, allow_yaml=True)
        dry = req.q("dryRun") == "All"
        if res.name in SELF_REVIEWS:
            return self.self_review(req, res, body)
        obj = self.api.internal_create(res.key, ns or "", body, dry_run=dry)
        return self.send_obj(req, 201, res, obj, headers=self.psa_warning(res, obj))

    def psa_warning(self, res, obj):
        """Pod Security warns (does not reject) for workload resources whose template violates."""
        if res.key not in ("deployments.apps", "replicasets.apps"):
            return ()
        nso = self.api.store.get("namespaces", "", obj["metadata"].get("namespace", "")) or {}
        level = ((nso.get("metadata") or {}).get("labels") or {}).get(R.PSA_LABEL)
        viol = R.pod_security_violations(((obj.get("spec") or {}).get("template") or {}).get("spec") or {}, level or "")
        if not viol:
            return ()
        text = 'would violate PodSecurity "%s:latest": %s' % (level, "; ".join(viol))
        return (("Warning", '299 - "%s"' % text.replace('"', '\\"')),)

    def self_review(self, req, res, body):
        if not isinstance(body, dict):
            raise bad_request("the body of the request was in an unknown format")
        out = {"kind": res.kind, "apiVersion": res.api_version,
               "metadata": {"creationTimestamp": None}}
        if res.name == "selfsubjectreviews":
            out["status"] = {"userInfo": {"username": req.user, "groups": req.groups}}
        elif res.name == "selfsubjectaccessreviews":
            spec = body.get("spec") or {}
            out["spec"] = spec
            ra = spec.get("resourceAttributes")
            if ra:
                resource = ra.get("resource", "")
                sub = ra.get("subresource", "")
                if "/" in resource:
                    resource, sub = resource.split("/", 1)
                ok = self.api.policy.allowed(req.user, req.groups, ra.get("verb", ""), resource,
                                             sub or None, ra.get("namespace", ""), ra.get("group", ""))
            else:
                ok = True
            out["status"] = {"allowed": ok}
            if ok:
                out["status"]["reason"] = "allowed by kdap-local policy"
        else:
            ns = (body.get("spec") or {}).get("namespace", "")
            forbid = self.api.policy.rules.get(req.user) if req.user in (self.api.policy.rules or {}) else None
            rules = [{"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                      "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]},
                     {"verbs": ["create"], "apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"]}]
            if not forbid:
                rules.insert(0, {"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]})
            else:
                verbs = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
                for r in R.RESOURCES:
                    if r.name in SELF_REVIEWS:
                        continue
                    for target in [r.name] + [r.name + "/" + s for s in sorted(r.subs)]:
                        rn, sb = (target.split("/") + [None])[:2]
                        cand = r.verbs if sb is None else r.subs[sb][1]
                        ok = [v for v in verbs if v in cand and
                              self.api.policy.allowed(req.user, req.groups, v, rn, sb, ns, r.group)]
                        if ok:
                            rules.append({"verbs": ok, "apiGroups": [r.group], "resources": [target]})
            out["spec"] = body.get("spec") or {}
            out["status"] = {"resourceRules": rules,
                             "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": [
                                 "/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi",
                                 "/openapi/*", "/readyz", "/version", "/version/"]}],
                             "incomplete": False}
        return self.send_json(req, 201, out)

    def put(self, req, res, ns, name, sub):
        body = self.parse_body(req, allow_yaml=True)
        dry = req.q("dryRun") == "All"
        with self.api.store.lock:
            old = self.store_get(res, ns, name)
            if sub == "scale":
                obj = self.from_scale(res, old, body)
                obj = self.to_scale(res, self.api._update(res, None, old, obj, dry))
                code = 200
            elif not isinstance(body, dict):
                raise bad_request("the body of the request was in an unknown format")
            elif body.get("kind") and body["kind"] != res.kind:
                raise bad_request("the object provided is unrecognized (must be of type %s)" % res.kind)
            else:
                obj = self.api._update(res, sub, old, body, dry)
                code = 200
        return self.send_obj(req, code, res, obj)

    def patch(self, req, res, ns, name, sub):
        ctype = req.header("content-type").split(";")[0].strip().lower()
        if ctype not in PATCH_TYPES:
            raise ApiError(415, "UnsupportedMediaType",
                           "the body of the request was in an unknown format - accepted media types include: "
                           + ", ".join(PATCH_TYPES), {})
        dry = req.q("dryRun") == "All"
        if ctype == "application/apply-patch+yaml":
            if not req.q("fieldManager"):
                raise bad_request("PATCH requests of type %s must include fieldManager (the fieldManager query "
                                  "parameter is required for apply requests)" % ctype)
        try:
            if ctype == "application/apply-patch+yaml":
                import yaml
                patch = yaml.safe_load(req.body)
            else:
                patch = json.loads(req.body)
        except Exception as e:
            raise bad_request("error decoding patch: %s" % e)
        with self.api.store.lock:
            old = self.api.store.get(res.key, ns if res.namespaced else "", name)
            if old is None:
                if ctype == "application/apply-patch+yaml" and sub is None:
                    if not isinstance(patch, dict):
                        raise bad_request("the body of the request was in an unknown format")
                    patch.setdefault("metadata", {}).setdefault("name", name)
                    if patch["metadata"]["name"] != name:
                        raise bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                          % (patch["metadata"]["name"], name))
                    self._managed(patch, req.q("fieldManager"), "Apply")
                    obj = self.api.internal_create(res.key, ns or "", patch, dry_run=dry)
                    created = True
                else:
                    raise not_found(res, name)
            else:
                obj = self._patch_existing(req, res, sub, old, patch, ctype, dry)
                created = False
        return self.send_obj(req, 201 if created else 200, res, obj)

    def _patch_existing(self, req, res, sub, old, patch, ctype, dry):
        target = self.to_scale(res, old) if sub == "scale" else old
        try:
            if ctype == "application/json-patch+json":
                new = api_patch.json_patch(target, patch)
            elif ctype == "application/merge-patch+json":
                new = api_patch.merge_patch(target, patch)
            else:
                if not isinstance(patch, dict):
                    raise api_patch.PatchError("patch must be an object")
                if ctype == "application/apply-patch+yaml":
                    if patch.get("kind") and patch["kind"] != target.get("kind"):
                        raise bad_request("the object provided is unrecognized (must be of type %s)" % target.get("kind"))
                new = api_patch.strategic_merge(target, patch)
        except api_patch.PatchError as e:
            raise ApiError(422, "Invalid", 'the server rejected our request due to an error in our request: %s' % e,
                           {"causes": [{"reason": "FieldValueInvalid", "message": str(e), "field": "patch"}]})
        if ctype == "application/apply-patch+yaml":
            self._managed(new, req.q("fieldManager"), "Apply")
        if sub == "scale":
            new = self.from_scale(res, old, new)
            return self.to_scale(res, self.api._update(res, None, old, new, dry))
        return self.api._update(res, sub, old, new, dry)

    def _managed(self, obj, manager, op):
        md = obj.setdefault("metadata", {})
        mf = [m for m in md.get("managedFields") or [] if m.get("manager") != manager]
        mf.append({"manager": manager, "operation": op, "apiVersion": obj.get("apiVersion", ""),
                   "time": R.now_ts(), "fieldsType": "FieldsV1", "fieldsV1": {}})
        md["managedFields"] = mf

    def to_scale(self, res, obj):
        md = obj["metadata"]
        return {"kind": "Scale", "apiVersion": "autoscaling/v1",
                "metadata": {"name": md["name"], "namespace": md.get("namespace"), "uid": md["uid"],
                             "resourceVersion": md["resourceVersion"], "creationTimestamp": md["creationTimestamp"]},
                "spec": {"replicas": (obj.get("spec") or {}).get("replicas", 1)},
                "status": {"replicas": (obj.get("status") or {}).get("replicas", 0),
                           "selector": selector_string((obj.get("spec") or {}).get("selector"))}}

    def from_scale(self, res, old, scale):
        if not isinstance(scale, dict):
            raise bad_request("the body of the request was in an unknown format")
        reps = (scale.get("spec") or {}).get("replicas", 0)
        if not isinstance(reps, int) or reps < 0:
            raise ApiError(422, "Invalid", 'Scale.autoscaling "%s" is invalid: spec.replicas: Invalid value: %s: '
                           'must be greater than or equal to 0' % (old["metadata"]["name"], json.dumps(reps)),
                           {"name": old["metadata"]["name"], "group": "autoscaling", "kind": "Scale",
                            "causes": [{"reason": "FieldValueInvalid", "field": "spec.replicas",
                                        "message": "Invalid value: %s: must be greater than or equal to 0" % json.dumps(reps)}]})
        obj = copy.deepcopy(old)
        rv = (scale.get("metadata") or {}).get("resourceVersion")
        if rv:
            obj["metadata"]["resourceVersion"] = rv
        obj["spec"]["replicas"] = reps
        return obj

    def delete_options(self, req):
        opts = {}
        if req.body:
            try:
                opts = json.loads(req.body) or {}
            except ValueError as e:
                raise bad_request("error decoding DeleteOptions: %s" % e)
        for k in ("gracePeriodSeconds",):
            if req.q(k) is not None:
                try:
                    opts[k] = int(req.q(k))
                except ValueError:
                    raise bad_request("invalid %s" % k)
        if req.q("propagationPolicy"):
            opts["propagationPolicy"] = req.q("propagationPolicy")
        if req.q("orphanDependents"):
            opts["orphanDependents"] = req.qbool("orphanDependents")
        pp = opts.get("propagationPolicy")
        if pp not in (None, "Orphan", "Background", "Foreground"):
            raise ApiError(422, "Invalid", 'DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported '
                           'value: "%s": supported values: "Foreground", "Background", "Orphan", "nil"' % pp,
                           {"kind": "DeleteOptions", "group": "meta.k8s.io",
                            "causes": [{"reason": "FieldValueNotSupported", "field": "propagationPolicy",
                                        "message": 'Unsupported value: "%s"' % pp}]})
        return opts

    def delete(self, req, res, ns, name):
        opts = self.delete_options(req)
        dry = req.q("dryRun") == "All" or opts.get("dryRun") == ["All"]
        obj = self.api._delete(res, ns or "", name, opts, dry)
        return self.send_obj(req, 200, res, obj)

    def delete_collection(self, req, res, ns):
        opts = self.delete_options(req)
        pred = self.predicates(req, res)
        items, _ = self.api.store.list(res.key, ns, pred)
        out = []
        for o in items:
            try:
                r = self.api._delete(res, o["metadata"].get("namespace", ""), o["metadata"]["name"], opts)
                if r.get("kind") == res.kind:
                    out.append(r)
                else:
                    out.append(o)
            except ApiError:
                pass
        return self.send_json(req, 200, {"kind": res.list_kind(), "apiVersion": res.api_version,
                                         "metadata": {"resourceVersion": str(self.api.store.rv)}, "items": out})

    # -- kubelet proxy -------------------------------------------------------------------------
    def connect(self, req, res, ns, name, sub):
        pod = self.store_get(res, ns, name)
        spec, st = pod.get("spec") or {}, pod.get("status") or {}
        phase = st.get("phase", "Pending")
        if not spec.get("nodeName"):
            raise bad_request("pod %s does not have a host assigned" % name)
        params = [(k, v) for k, vs in req.query.items() for v in vs]
        if sub == "portforward":
            ports = []
            for v in req.query.get("ports", []) + req.query.get("port", []):
                for p in v.split(","):
                    p = p.strip()
                    try:
                        n = int(p)
                        if not 1 <= n <= 65535:
                            raise ValueError
                    except ValueError:
                        raise bad_request('invalid port "%s": must be between 1 and 65535, inclusive' % p)
                    ports.append(str(n))
            if phase != "Running":
                raise bad_request("unable to forward port because pod is not running. Current status=%s" % phase)
            path = "/portforward/%s/%s" % (ns, name)
            query = ("port=" + ",".join(ports)) if ports else ""
            tunnelled = tunnel_protocols(req)
            if tunnelled:
                return self.tunnel(req, pod, path + ("?" + query if query else ""), tunnelled)
        else:
            container = self.pick_container(pod, req.q("container"), name)
            if sub == "log":
                self.check_log_container(pod, container, name)
                path = "/containerLogs/%s/%s/%s" % (ns, name, container)
                keep = ("follow", "previous", "sinceSeconds", "sinceTime", "timestamps", "tailLines", "limitBytes")
                query = _urlencode([(k, v) for k, v in params if k in keep])
            else:
                if phase in ("Succeeded", "Failed"):
                    raise bad_request("cannot %s into a container in a completed pod; current phase is %s" % (sub, phase))
                path = "/%s/%s/%s/%s" % (sub, ns, name, container)
                # contract names (stdin/stdout/stderr/tty = 0|1) plus the real kubelet's
                # input/output/error aliases when set; stderr is dropped with a tty, as k8s does
                q = [("command", v) for v in req.query.get("command", [])]
                aliases = []
                for k, alias in (("stdin", "input"), ("stdout", "output"), ("stderr", "error"), ("tty", None)):
                    on = req.qbool(k) and not (k == "stderr" and req.qbool("tty"))
                    q.append((k, "1" if on else "0"))
                    if on and alias:
                        aliases.append((alias, "1"))
                query = _urlencode(q + aliases)
        return self.proxy(req, pod, path + ("?" + query if query else ""))

    def pick_container(self, pod, container, name):
        spec = pod.get("spec") or {}
        all_names = [c.get("name") for key in ("containers", "initContainers", "ephemeralContainers")
                     for c in spec.get(key) or []]
        if not container:
            cs = spec.get("containers") or []
            if len(cs) == 1:
                return cs[0]["name"]
            raise bad_request("a container name must be specified for pod %s, choose one of: [%s]"
                              % (name, " ".join(c.get("name") for c in cs)))
        if container not in all_names:
            raise bad_request("container %s is not valid for pod %s" % (container, name))
        return container

    def check_log_container(self, pod, container, name):
        st = pod.get("status") or {}
        for key in ("containerStatuses", "initContainerStatuses", "ephemeralContainerStatuses"):
            for cs in st.get(key) or []:
                if cs.get("name") != container:
                    continue
                state = cs.get("state") or {}
                if "waiting" in state and not cs.get("lastState", {}).get("terminated"):
                    reason = state["waiting"].get("reason") or "ContainerCreating"
                    if reason in ("ErrImagePull", "ImagePullBackOff", "InvalidImageName"):
                        raise bad_request('container "%s" in pod "%s" is waiting to start: trying and failing to '
                                          'pull image' % (container, name))
                    raise bad_request('container "%s" in pod "%s" is waiting to start: %s' % (container, name, reason))
                return
        raise bad_request('container "%s" in pod "%s" is waiting to start: ContainerCreating' % (container, name))

    def dial_kubelet(self):
        try:
            with open(os.path.join(self.api.dir, "kubelet.port")) as f:
                kport = int(f.read().strip())
            up = socket.create_connection(("127.0.0.1", kport), timeout=5)
        except (OSError, ValueError) as e:
            raise ApiError(503, "ServiceUnavailable", "error dialing backend: the kubelet on node %s is not "
                           "available: %s" % (R.NODE_NAME, getattr(e, "strerror", None) or e), {})
        up.settimeout(None)
        up.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return up

    def tunnel(self, req, pod, kpath, protocols):
        """kubectl's default port-forward: SPDY/3.1 inside a WebSocket (apiserver streamtunnel.go).
        The kubelet gets a plain SPDY upgrade (POST, X-Stream-Protocol-Version = the WebSocket
        subprotocols without their `SPDY/3.1+` prefix); its 101 becomes the WebSocket handshake
        (subprotocol `SPDY/3.1+` + the version it chose), any other answer is passed back as it
        is.  Then binary messages from the client are the SPDY byte stream to the kubelet, and
        each read from the kubelet goes back as one binary message."""
        key = req.header("sec-websocket-key")
        if req.method != "GET" or req.header("sec-websocket-version") != "13" or len(key) != 24:
            raise bad_request("websocket: not a websocket handshake: 'Sec-WebSocket-Key' header must be "
                              "Base64 encoded value of 16-byte length")
        up = self.dial_kubelet()
        head = ["POST %s HTTP/1.1" % kpath, "Host: localhost", "Connection: Upgrade", "Upgrade: SPDY/3.1"]
        head += ["X-Stream-Protocol-Version: %s" % p for p in protocols]
        head += ["X-Kdap-Pod-Uid: %s" % pod["metadata"]["uid"], "X-Remote-User: %s" % req.user,
                 "Content-Length: 0"]
        conn = req.conn
        conn.detached = conn.streaming = True
        client = conn.sock
        try:
            up.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
            resp = b""
            while b"\r\n\r\n" not in resp and len(resp) < 65536:
                d = up.recv(65536)
                if not d:
                    break
                resp += d
            rhead, _, rest = resp.partition(b"\r\n\r\n")
            lines = rhead.decode("latin-1").split("\r\n")
            hdrs = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            if not (lines[0].split(" ")[1:2] == ["101"] and "upgrade" in hdrs.get("connection", "").lower()
                    and "spdy/3.1" in hdrs.get("upgrade", "").lower()):
                client.sendall(resp)     # the kubelet's refusal, as the client would get it over SPDY
                _pipe(client, up)
                return int(lines[0].split(" ")[1]) if len(lines[0].split(" ")) > 1 else 502
            accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
            out = ["HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade",
                   "Sec-WebSocket-Accept: " + accept]
            chosen = hdrs.get("x-stream-protocol-version", "")
            if chosen:
                out.append("Sec-WebSocket-Protocol: " + TUNNEL_PREFIX + chosen)
            tun = WsTunnel()
            client.sendall(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + tun.encode(rest))
            up.sendall(tun.decode(conn.buf))
            conn.buf = b""
            _pipe(client, up, tun)
        except OSError:
            pass
        finally:
            _close(up, client)
        return 101

    def proxy(self, req, pod, kpath):
        conn = req.conn
        up = self.dial_kubelet()
        upgrade = req.is_upgrade()
        lines = ["%s %s HTTP/1.1" % (req.method, kpath)]
        for k, v in req.headers:
            lk = k.lower()
            if lk in ("authorization", "x-kdap-pod-uid") or lk.startswith("impersonate-"):
                continue
            if lk in ("connection", "keep-alive") and not upgrade:
                continue
            if lk in ("content-length", "transfer-encoding"):
                continue
            lines.append("%s: %s" % (k, v))
        if not upgrade:
            lines.append("Connection: close")
        if req.body:
            lines.append("Content-Length: %d" % len(req.body))
        lines.append("X-Kdap-Pod-Uid: %s" % pod["metadata"]["uid"])
        lines.append("X-Remote-User: %s" % req.user)
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        conn.detached = True
        conn.streaming = True
        client = conn.sock
        try:
            up.sendall(head + req.body + conn.buf)
            conn.buf = b""
            _pipe(client, up)
        finally:
            _close(up, client)
        return 101 if upgrade else 200


def invalid_list_options(field, detail):
    return ApiError(422, "Invalid", 'ListOptions.meta.k8s.io "" is invalid: %s: Forbidden: %s' % (field, detail),
                    {"group": "meta.k8s.io", "kind": "ListOptions",
                     "causes": [{"reason": "FieldValueForbidden", "message": "Forbidden: " + detail, "field": field}]})


def _urlencode(pairs):
    import urllib.parse
    return urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)


def _close(*socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


TUNNEL_PREFIX = "SPDY/3.1+"
WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def tunnel_protocols(req):
    """The SPDY protocols a WebSocket request asks to tunnel: its subprotocols `SPDY/3.1+X.k8s.io`
    without the prefix (k8s wsstream.IsWebSocketRequestWithTunnelingProtocol); [] otherwise."""
    if not req.is_websocket():
        return []
    offered = [p.strip() for p in req.header("sec-websocket-protocol").split(",")]
    return [p[len(TUNNEL_PREFIX):] for p in offered if p.startswith(TUNNEL_PREFIX) and p.endswith(".k8s.io")]


class WsTunnel:
    """The server end of the WebSocket around a tunnelled SPDY connection (client-go's
    TunnelingConnection): only binary messages (and their continuations) carry data, message
    boundaries mean nothing; a ping gets a pong, a close frame (or a text message, which
    TunnelingConnection refuses) ends the client's side, and the tunnel ends with a normal
    close frame when the kubelet's side does."""

    def __init__(self):
        self.buf = bytearray()       # received, not yet a complete frame
        self.replies = bytearray()   # control frames for the client
        self.closed = False
        self.binary = True           # kind of the message being continued

    def decode(self, data):
        """Takes bytes from the client; returns the data of the frames completed so far."""
        buf = self.buf
        buf += data
        out = []
        while not self.closed and len(buf) >= 2:
            b0, b1 = buf[0], buf[1]
            n, off = b1 & 0x7F, 2
            if n == 126:
                if len(buf) < 4:
                    break
                n, off = struct.unpack_from(">H", buf, 2)[0], 4
            elif n == 127:
                if len(buf) < 10:
                    break
                n, off = struct.unpack_from(">Q", buf, 2)[0], 10
            if not b1 & 0x80:        # clients must mask (RFC 6455 5.1)
                self.closed = True
                break
            if len(buf) < off + 4 + n:
                break
            mask = bytes(buf[off:off + 4])
            payload = wsframe.unmask(bytes(buf[off + 4:off + 4 + n]), mask)
            del buf[:off + 4 + n]
            op = b0 & 0x0F
            if op == 0 and self.binary or op == 2:
                self.binary = True
                out.append(payload)
            elif op == 9:
                self.replies += wsframe.header(0xA, len(payload)) + payload
            elif op == 8 or op in (0, 1):
                self.closed = True
                self.replies += self.close_frame()
        return b"".join(out)

    @staticmethod
    def encode(data):
        return wsframe.header(2, len(data)) + data if data else b""

    @staticmethod
    def close_frame():
        return wsframe.header(8, 2) + b"\x03\xe8"


@profiling.profiled("apiserver-pipe")
def _pipe(client, up, tunnel=None):
    """Copies bytes both ways until either side closes.  client is an SSLSocket: check pending().
    With a WsTunnel, what the client sends is WebSocket frames to unwrap and what goes back is
    wrapped."""
    client.setblocking(False)
    up.setblocking(False)
    # bytearrays, consumed from the front in C: byte strings sliced per
    # send made the proxy quadratic in what was buffered.
    to_up, to_client = bytearray(), bytearray()
    c_open = u_open = True
    try:
        # Each direction lives while it has a source or bytes in flight and
        # its destination is open: bytes the kubelet sent before closing
        # still reach a slow client.
        while ((c_open or to_up) and u_open) or ((u_open or to_client) and c_open):
            rl, wl = [], []
            if c_open and len(to_up) < 1 << 20:
                rl.append(client)
            if u_open and len(to_client) < 1 << 20:
                rl.append(up)
            if to_up:
                wl.append(up)
            if to_client:
                wl.append(client)
            if c_open and client in rl and client.pending():
                r, w = [client], []
            else:
                r, w, _ = select.select(rl, wl, [], 30)
            if client in r:
                try:
                    while True:
                        d = client.recv(262144)
                        if not d:
                            c_open = False
                            break
                        if tunnel is None:
                            to_up += d
                        else:
                            to_up += tunnel.decode(d)
                            to_client += tunnel.replies
                            tunnel.replies.clear()
                            if tunnel.closed:
                                c_open = False
                                break
                        if len(to_up) >= 1 << 20:   # else drain: one TLS record per select was the cost
                            break
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
                    pass
                except (OSError, ssl.SSLError):
                    c_open = False
                if not c_open and not to_up:
                    try:
                        up.shutdown(socket.SHUT_WR)
                    except OSError:
                        pass
            if up in r:
                try:
                    d = up.recv(262144)
                    if not d:
                        u_open = False
                    if tunnel is None:
                        to_client += d
                    else:
                        to_client += tunnel.encode(d) if d else tunnel.close_frame()
                except BlockingIOError:
                    pass
                except OSError:
                    u_open = False
            if to_up and (up in w or up in r or True):
                try:
                    n = up.send(to_up)
                    del to_up[:n]
                except BlockingIOError:
                    pass
                except OSError:
                    return
            if to_client:
                try:
                    n = client.send(to_client)
                    del to_client[:n]
                except (ssl.SSLWantWriteError, ssl.SSLWantReadError, BlockingIOError):
                    pass
                except (OSError, ssl.SSLError):
                    return
            if not u_open and not to_client:
                return
    except Exception:
        return


# -- main -----------------------------------------------------------------------------------

def serve(api, port):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(api.pki.srv_crt, api.pki.srv_key)
    ctx.load_verify_locations(api.pki.ca_crt)
    ctx.verify_mode = ssl.CERT_OPTIONAL
    ctx.set_alpn_protocols(["http/1.1"])
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(128)
    api.port = lsock.getsockname()[1]
    server = Server(api, api.port)

    def handle(raw, addr):
        try:
            raw.settimeout(15)
            sock = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError) as e:
            api.log("%s TLS handshake failed: %s" % (addr[1], e.__class__.__name__))
            try:
                raw.close()
            except OSError:
                pass
            return
        Connection(sock, addr, server.dispatch).serve()

    return lsock, handle


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    ap.add_argument("--dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                                  "build", "cluster"))
    ap.add_argument("--port", type=int, default=6443, help="0 picks a free port (see DIR/apiserver.port)")
    args = ap.parse_args()
    d = os.path.abspath(args.dir)
    os.makedirs(d, exist_ok=True)
    api = Api(d)
    api.pki.ensure()
    try:
        lsock, handle = serve(api, args.port)
    except OSError as e:
        print("apiserver: cannot listen on 127.0.0.1:%d: %s" % (args.port, e.strerror), file=sys.stderr)
        return 1
    try:
        os.unlink(os.path.join(d, "apiserver.ready"))
    except FileNotFoundError:
        pass
    api.logf = open(os.path.join(d, "apiserver.log"), "a")
    authz = os.path.join(d, "authz.json")
    if not os.path.exists(authz):
        with open(authz, "w") as f:
            json.dump(DEFAULT_POLICY, f, indent=2)
    api.bootstrap()
    api.pki.write_kubeconfigs(api.port)
    with open(os.path.join(d, "apiserver.pid"), "w") as f:
        f.write("%d\n" % os.getpid())
    with open(os.path.join(d, "apiserver.port"), "w") as f:
        f.write("%d\n" % api.port)
    api.controllers.start()

    def stop(*_):
        for f in ("apiserver.ready", "apiserver.pid"):
            try:
                os.unlink(os.path.join(d, f))
            except FileNotFoundError:
                pass
        os._exit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    with open(os.path.join(d, "apiserver.ready"), "w") as f:
        f.write("https://127.0.0.1:%d\n" % api.port)
    api.log("listening on https://127.0.0.1:%d (pid %d)" % (api.port, os.getpid()))
    print("apiserver listening on https://127.0.0.1:%d" % api.port, flush=True)
    while True:
        try:
            raw, addr = lsock.accept()
        except InterruptedError:
            continue
        except OSError:
            time.sleep(0.05)
            continue
        # As Go's net/http (every TCP connection has TCP_NODELAY): with Nagle, a small write after
        # another (the second TLS session ticket, the next watch event) waits for the client's
        # delayed ACK, ~40 ms per new connection and per event, which kube-apiserver never shows.
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=handle, args=(raw, addr), daemon=True).start()


if __name__ == "__main__":
    random.seed()
    sys.exit(main())
