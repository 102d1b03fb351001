"""Resource table, defaulting, validation, Pod Security and server-side printing (Table).

Validation errors are returned as lists of causes {reason, message, field}; the caller turns
them into a 422 Invalid Status like Kubernetes' field.ErrorList.
"""

import datetime
import json
import re
import time

NODE_NAME = "kdap-node"

CRUD = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]


class Res:
    def __init__(self, name, kind, group="", version="v1", namespaced=True, short=(), verbs=CRUD,
                 subs=None, categories=(), singular=None):
        self.name, self.kind, self.group, self.version = name, kind, group, version
        self.namespaced, self.short, self.verbs = namespaced, list(short), list(verbs)
        self.subs = subs or {}  # subresource -> (kind, verbs, group, version)
        self.categories = list(categories)
        self.singular = singular or kind.lower()

    @property
    def key(self):
        """Store key / qualified resource ("pods", "deployments.apps")."""
        return self.name + ("." + self.group if self.group else "")

    @property
    def api_version(self):
        return (self.group + "/" + self.version) if self.group else self.version

    def list_kind(self):
        return self.kind + "List"


RESOURCES = [
    Res("pods", "Pod", short=["po"], categories=["all"], subs={
        "status": ("Pod", ["get", "patch", "update"]),
        "log": ("Pod", ["get"]),
        "exec": ("PodExecOptions", ["create", "get"]),
        "attach": ("PodAttachOptions", ["create", "get"]),
        "portforward": ("PodPortForwardOptions", ["create", "get"]),
        "ephemeralcontainers": ("Pod", ["get", "patch", "update"]),
        "binding": ("Binding", ["create"]),
    }),
    Res("namespaces", "Namespace", namespaced=False, short=["ns"],
        verbs=["create", "delete", "get", "list", "patch", "update", "watch"],
        subs={"status": ("Namespace", ["get", "patch", "update"]),
              "finalize": ("Namespace", ["update"])}),
    Res("nodes", "Node", namespaced=False, short=["no"],
        subs={"status": ("Node", ["get", "patch", "update"])}),
    Res("services", "Service", short=["svc"], categories=["all"],
        verbs=["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"],
        subs={"status": ("Service", ["get", "patch", "update"])}),
    Res("endpoints", "Endpoints", short=["ep"]),
    Res("configmaps", "ConfigMap", short=["cm"]),
    Res("secrets", "Secret"),
    Res("serviceaccounts", "ServiceAccount", short=["sa"]),
    Res("events", "Event", short=["ev"]),
    Res("deployments", "Deployment", group="apps", short=["deploy"], categories=["all"], subs={
        "status": ("Deployment", ["get", "patch", "update"]),
        "scale": ("Scale", ["get", "patch", "update"], "autoscaling", "v1"),
    }),
    Res("replicasets", "ReplicaSet", group="apps", short=["rs"], categories=["all"], subs={
        "status": ("ReplicaSet", ["get", "patch", "update"]),
        "scale": ("Scale", ["get", "patch", "update"], "autoscaling", "v1"),
    }),
    Res("selfsubjectaccessreviews", "SelfSubjectAccessReview", group="authorization.k8s.io",
        namespaced=False, verbs=["create"]),
    Res("selfsubjectrulesreviews", "SelfSubjectRulesReview", group="authorization.k8s.io",
        namespaced=False, verbs=["create"]),
    Res("selfsubjectreviews", "SelfSubjectReview", group="authentication.k8s.io",
        namespaced=False, verbs=["create"]),
]

BY_GV = {}
for _r in RESOURCES:
    BY_GV.setdefault(_r.api_version, {})[_r.name] = _r
GROUPS = ["apps", "authorization.k8s.io", "authentication.k8s.io"]


def now_ts():
    return datetime.datetime.utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")


def ts_at(t):
    return datetime.datetime.utcfromtimestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    try:
        return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
    except (TypeError, ValueError):
        return None


# -- validation helpers ---------------------------------------------------------------------

DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DNS1123_SUB = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def cause(reason, field, detail="", value=None):
    human = {"FieldValueRequired": "Required value", "FieldValueInvalid": "Invalid value",
             "FieldValueForbidden": "Forbidden", "FieldValueDuplicate": "Duplicate value",
             "FieldValueNotFound": "Not found", "FieldValueNotSupported": "Unsupported value"}[reason]
    if reason == "FieldValueRequired":
        msg = "Required value" + ((": " + detail) if detail else "")
    elif reason == "FieldValueForbidden":
        msg = "Forbidden: " + detail
    elif reason in ("FieldValueDuplicate", "FieldValueNotFound"):
        msg = "%s: %s" % (human, json.dumps(value))
    else:
        msg = "%s: %s" % (human, json.dumps(value) if not isinstance(value, str) else json.dumps(value))
        if detail:
            msg += ": " + detail
    return {"reason": reason, "message": msg, "field": field}


def validate_name(name, field="metadata.name", sub=True):
    if not name:
        return [cause("FieldValueRequired", field, "name or generateName is required")]
    rx = DNS1123_SUB if sub else DNS1123_LABEL
    if len(name) > (253 if sub else 63) or not rx.match(name):
        what = "a lowercase RFC 1123 subdomain" if sub else "a lowercase RFC 1123 label"
        return [cause("FieldValueInvalid", field,
                      "%s must consist of lower case alphanumeric characters, '-' or '.', and must "
                      "start and end with an alphanumeric character" % what, name)]
    return []


def _pull_policy(image):
    img = image.split("@")[0]
    last = img.rsplit("/", 1)[-1]
    if "@" in image:
        return "IfNotPresent"
    if ":" not in last or last.endswith(":latest"):
        return "Always"
    return "IfNotPresent"


def default_container(c):
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    if c.get("image"):
        c.setdefault("imagePullPolicy", _pull_policy(c["image"]))
    c.setdefault("resources", {})
    for p in c.get("ports") or []:
        p.setdefault("protocol", "TCP")
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        probe = c.get(kind)
        if isinstance(probe, dict):  # SetDefaults_Probe, SetDefaults_HTTPGetAction
            for k, v in (("timeoutSeconds", 1), ("periodSeconds", 10),
                         ("successThreshold", 1), ("failureThreshold", 3)):
                probe.setdefault(k, v)
            if isinstance(probe.get("httpGet"), dict):
                probe["httpGet"].setdefault("path", "/")
                probe["httpGet"].setdefault("scheme", "HTTP")
    for env in c.get("env") or []:
        vf = env.get("valueFrom") or {}
        if "fieldRef" in vf:
            vf["fieldRef"].setdefault("apiVersion", "v1")


def default_pod_spec(spec):
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    for c in (spec.get("containers") or []) + (spec.get("initContainers") or []) + \
            (spec.get("ephemeralContainers") or []):
        if isinstance(c, dict):
            default_container(c)


def default_pod(pod):
    spec = pod.setdefault("spec", {})
    default_pod_spec(spec)
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("tolerations", [
        {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300},
        {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
         "tolerationSeconds": 300}])
    if not spec.get("nodeName"):  # the trivial scheduler
        spec["nodeName"] = NODE_NAME
    st = pod.setdefault("status", {})
    st.setdefault("phase", "Pending")
    st.setdefault("conditions", [{"type": "PodScheduled", "status": "True", "lastProbeTime": None,
                                  "lastTransitionTime": now_ts()}])
    st.setdefault("qosClass", "BestEffort")


EPHEMERAL_FORBIDDEN = ["ports", "livenessProbe", "readinessProbe", "startupProbe", "lifecycle",
                       "resources", "resizePolicy", "restartPolicy"]


def _empty(v):
    return v in (None, {}, [], "") or (isinstance(v, dict) and all(_empty(x) for x in v.values()))


def validate_container(c, path, names, ephemeral=False):
    errs = []
    if not isinstance(c, dict):
        return [cause("FieldValueInvalid", path, "must be an object", c)]
    name = c.get("name")
    if not name:
        errs.append(cause("FieldValueRequired", path + ".name"))
    elif not DNS1123_LABEL.match(name) or len(name) > 63:
        errs += validate_name(name, path + ".name", sub=False)
    elif name in names:
        errs.append(cause("FieldValueDuplicate", path + ".name", value=name))
    else:
        names.add(name)
    if not c.get("image"):
        errs.append(cause("FieldValueRequired", path + ".image"))
    pol = c.get("imagePullPolicy")
    if pol and pol not in ("Always", "IfNotPresent", "Never"):
        errs.append(cause("FieldValueNotSupported", path + ".imagePullPolicy",
                          'supported values: "Always", "IfNotPresent", "Never"', pol))
    if ephemeral:
        for f in EPHEMERAL_FORBIDDEN:
            if not _empty(c.get(f)):
                errs.append(cause("FieldValueForbidden", path + "." + f,
                                  "cannot be set for an Ephemeral Container"))
        for i, vm in enumerate(c.get("volumeMounts") or []):
            if vm.get("subPath") or vm.get("subPathExpr"):
                errs.append(cause("FieldValueForbidden", "%s.volumeMounts[%d].subPath" % (path, i),
                                  "cannot be set for an Ephemeral Container"))
    for i, p in enumerate(c.get("ports") or []) if not ephemeral else []:
        cp = p.get("containerPort")
        if not isinstance(cp, int) or not 1 <= cp <= 65535:
            errs.append(cause("FieldValueInvalid", "%s.ports[%d].containerPort" % (path, i),
                              "must be between 1 and 65535, inclusive", cp))
    return errs


def validate_pod_spec(spec, path="spec"):
    errs = []
    if not isinstance(spec, dict):
        return [cause("FieldValueRequired", path)]
    cs = spec.get("containers")
    names = set()
    if not cs:
        errs.append(cause("FieldValueRequired", path + ".containers"))
    for i, c in enumerate(spec.get("initContainers") or []):
        errs += validate_container(c, "%s.initContainers[%d]" % (path, i), names)
    for i, c in enumerate(cs or []):
        errs += validate_container(c, "%s.containers[%d]" % (path, i), names)
    errs += validate_ephemeral(spec, names, path)
    rp = spec.get("restartPolicy")
    if rp not in ("Always", "OnFailure", "Never"):
        errs.append(cause("FieldValueNotSupported", path + ".restartPolicy",
                          'supported values: "Always", "OnFailure", "Never"', rp))
    return errs


def validate_ephemeral(spec, names, path="spec"):
    errs = []
    regular = {c.get("name") for c in (spec.get("containers") or []) + (spec.get("initContainers") or [])
               if isinstance(c, dict)}
    for i, c in enumerate(spec.get("ephemeralContainers") or []):
        p = "%s.ephemeralContainers[%d]" % (path, i)
        errs += validate_container(c, p, names, ephemeral=True)
        t = c.get("targetContainerName") if isinstance(c, dict) else None
        if t and t not in regular:
            errs.append(cause("FieldValueNotFound", p + ".targetContainerName", value=t))
    return errs


def validate_ephemeral_update(new_spec, old_spec):
    """Existing ephemeral containers may be neither changed nor removed."""
    errs = []
    new = {c.get("name"): c for c in new_spec.get("ephemeralContainers") or [] if isinstance(c, dict)}
    for oc in old_spec.get("ephemeralContainers") or []:
        n = oc.get("name")
        if n not in new:
            errs.append(cause("FieldValueForbidden", "spec.ephemeralContainers",
                              'existing ephemeral containers "%s" may not be removed' % n))
        elif new[n] != oc:
            errs.append(cause("FieldValueForbidden", "spec.ephemeralContainers",
                              'existing ephemeral containers "%s" may not be changed' % n))
    return errs


# -- Pod Security Admission (baseline, restricted) ---------------------------------------------

BASELINE_CAPS = {"AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
                 "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT"}
PSA_LABEL = "pod-security.kubernetes.io/enforce"


def _quote_list(items):
    return ", ".join('"%s"' % x for x in items)


def pod_security_violations(spec, level):
    """Returns the list of "check (detail)" strings of Kubernetes' PSA for `baseline`, and for
    `restricted` baseline's plus restricted's own."""
    if level not in ("baseline", "restricted"):
        return []
    out = []
    host = [f for f in ("hostNetwork", "hostPID", "hostIPC") if spec.get(f)]
    if host:
        out.append("host namespaces (%s)" % ", ".join("%s=true" % f for f in host))
    conts = [("container", c) for c in (spec.get("initContainers") or []) + (spec.get("containers") or [])]
    conts += [("container", c) for c in spec.get("ephemeralContainers") or []]
    priv = [c.get("name") for _, c in conts if ((c.get("securityContext") or {}).get("privileged"))]
    if priv:
        out.append("privileged (%s %s must not set securityContext.privileged=true)" % (
            "container" if len(priv) == 1 else "containers", _quote_list(priv)))
    caps = []
    bad_all = set()
    for _, c in conts:
        add = ((c.get("securityContext") or {}).get("capabilities") or {}).get("add") or []
        bad = [x for x in add if x not in BASELINE_CAPS]
        if bad:
            caps.append((c.get("name"), bad))
            bad_all.update(bad)
    if caps:
        if len(caps) == 1:
            n, bad = caps[0]
            out.append('non-default capabilities (container "%s" must not include %s in '
                       'securityContext.capabilities.add)' % (n, _quote_list(bad)))
        else:
            out.append('non-default capabilities (containers %s must not include %s in '
                       'securityContext.capabilities.add)' % (_quote_list([n for n, _ in caps]),
                                                              _quote_list(sorted(bad_all))))
    hp = [v.get("name") for v in spec.get("volumes") or [] if "hostPath" in v]
    if hp:
        out.append("hostPath volumes (%s %s)" % ("volume" if len(hp) == 1 else "volumes", _quote_list(hp)))
    ports = []
    for _, c in conts:
        for p in c.get("ports") or []:
            if p.get("hostPort"):
                ports.append((c.get("name"), p["hostPort"]))
    if ports:
        out.append("hostPort (%s)" % ", ".join('container "%s" uses hostPort %d' % p for p in ports))
    for _, c in conts:
        sp = ((c.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
        if sp == "Unconfined":
            out.append('seccompProfile (container "%s" must not set securityContext.seccompProfile.type '
                       'to "Unconfined")' % c.get("name"))
    if ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type") == "Unconfined":
        out.append('seccompProfile (pod must not set securityContext.seccompProfile.type to "Unconfined")')
    if level == "restricted":
        out += _restricted_violations(spec, [c for _, c in conts])
    return out


def _names(what, names):
    return '%s %s' % (what if len(names) == 1 else what + "s", _quote_list(names))


def _restricted_violations(spec, conts):
    """The checks `restricted` adds to `baseline` (Kubernetes' pod-security-admission, latest),
    worded as it words them; volume types are not checked (the cluster has no volumes)."""
    out = []
    psc = spec.get("securityContext") or {}

    def sc(c):
        return c.get("securityContext") or {}
    ape = [c.get("name") for c in conts if sc(c).get("allowPrivilegeEscalation") is not False]
    if ape:
        out.append("allowPrivilegeEscalation != false (%s must set securityContext.allowPrivilegeEscalation=false)"
                   % _names("container", ape))
    nodrop = [c.get("name") for c in conts
              if "ALL" not in [x.upper() for x in (sc(c).get("capabilities") or {}).get("drop") or []]]
    added = {}
    for c in conts:
        bad = [x for x in (sc(c).get("capabilities") or {}).get("add") or [] if x != "NET_BIND_SERVICE"]
        if bad:
            added[c.get("name")] = bad
    if nodrop or added:
        parts = []
        if nodrop:
            parts.append('%s must set securityContext.capabilities.drop=["ALL"]' % _names("container", nodrop))
        if added:
            allbad = sorted({x for v in added.values() for x in v})
            parts.append("%s must not include %s in securityContext.capabilities.add"
                         % (_names("container", list(added)), _quote_list(allbad)))
        out.append("unrestricted capabilities (%s)" % "; ".join(parts))
    pod_nr = psc.get("runAsNonRoot")
    explicit_false = [c.get("name") for c in conts if sc(c).get("runAsNonRoot") is False]
    unset = [c.get("name") for c in conts if sc(c).get("runAsNonRoot") is None]
    if pod_nr is False or explicit_false or (pod_nr is not True and unset):
        if explicit_false:
            out.append("runAsNonRoot != true (%s must not set securityContext.runAsNonRoot=false)"
                       % _names("container", explicit_false))
        else:
            out.append("runAsNonRoot != true (pod or %s must set securityContext.runAsNonRoot=true)"
                       % _names("container", unset))
    root = [c.get("name") for c in conts if sc(c).get("runAsUser") == 0]
    if psc.get("runAsUser") == 0 or root:
        out.append("runAsUser=0 (%s must not set runAsUser=0)"
                   % ("pod and " + _names("container", root) if psc.get("runAsUser") == 0 and root
                      else "pod" if not root else _names("container", root)))
    ok = ("RuntimeDefault", "Localhost")
    pod_sp = (psc.get("seccompProfile") or {}).get("type")
    nosp = [c.get("name") for c in conts if ((sc(c).get("seccompProfile") or {}).get("type")
                                             or pod_sp) not in ok]
    if nosp:
        out.append('seccompProfile (pod or %s must set securityContext.seccompProfile.type to "RuntimeDefault" '
                   'or "Localhost")' % _names("container", nosp))
    return out


# -- Table printing ---------------------------------------------------------------------------

def human_duration(seconds):
    s = int(seconds)
    if s < 0:
        return "0s"
    if s < 120:
        return "%ds" % s
    m = s // 60
    if m < 10:
        return "%dm%ds" % (m, s % 60) if s % 60 else "%dm" % m
    if m < 180:
        return "%dm" % m
    h = m // 60
    if h < 8:
        return "%dh%dm" % (h, m % 60) if m % 60 else "%dh" % h
    if h < 48:
        return "%dh" % h
    d = h // 24
    if h < 24 * 8:
        return "%dd%dh" % (d, h % 24) if h % 24 else "%dd" % d
    if d < 365 * 2:
        return "%dd" % d
    return "%dy%dd" % (d // 365, d % 365) if d < 365 * 8 else "%dy" % (d // 365)


def age(obj):
    t = parse_ts(obj.get("metadata", {}).get("creationTimestamp"))
    return "<unknown>" if t is None else human_duration(time.time() - t)


def _col(name, typ="string", desc="", prio=0, fmt=""):
    return {"name": name, "type": typ, "format": fmt, "description": desc, "priority": prio}


NAME_COL = _col("Name", fmt="name", desc="Name must be unique within a namespace. Cannot be updated.")
AGE_COL = _col("Age", desc="CreationTimestamp is a timestamp representing the server time when this "
               "object was created.")


def _pod_status(pod):
    st = pod.get("status") or {}
    reason = st.get("reason") or st.get("phase") or "Unknown"
    cs = st.get("containerStatuses") or []
    specs = (pod.get("spec") or {}).get("containers") or []
    ready = sum(1 for c in cs if c.get("ready"))
    restarts = sum(int(c.get("restartCount") or 0) for c in cs)
    init_done = True
    for i, ic in enumerate(st.get("initContainerStatuses") or []):
        state = ic.get("state") or {}
        if "terminated" in state and state["terminated"].get("exitCode") == 0:
            continue
        init_done = False
        if "terminated" in state:
            reason = "Init:" + (state["terminated"].get("reason") or
                                "ExitCode:%d" % state["terminated"].get("exitCode", 0))
        elif (state.get("waiting") or {}).get("reason") not in (None, "", "PodInitializing"):
            reason = "Init:" + state["waiting"]["reason"]
        else:
            reason = "Init:%d/%d" % (i, len((pod.get("spec") or {}).get("initContainers") or []))
        break
    if init_done:
        has_running = False
        for c in reversed(cs):
            state = c.get("state") or {}
            if (state.get("waiting") or {}).get("reason"):
                reason = state["waiting"]["reason"]
            elif "terminated" in state:
                t = state["terminated"]
                reason = t.get("reason") or ("Signal:%d" % t["signal"] if t.get("signal")
                                             else "ExitCode:%d" % t.get("exitCode", 0))
            elif "running" in state and c.get("ready"):
                has_running = True
        if reason == "Completed" and has_running:
            conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
            reason = "Running" if conds.get("Ready") == "True" else "NotReady"
    if pod.get("metadata", {}).get("deletionTimestamp"):
        reason = "Unknown" if st.get("reason") == "NodeLost" else "Terminating"
    return "%d/%d" % (ready, len(specs)), reason, str(restarts)


def _containers_images(tspec):
    cs = (tspec or {}).get("containers") or []
    return ",".join(c.get("name", "") for c in cs), ",".join(c.get("image", "") for c in cs)


def _svc_ports(spec):
    out = []
    for p in spec.get("ports") or []:
        s = str(p.get("port"))
        if p.get("nodePort"):
            s += ":%d" % p["nodePort"]
        out.append("%s/%s" % (s, p.get("protocol", "TCP")))
    return ",".join(out) or "<none>"


def table_columns(res_name):
    if res_name == "pods":
        return [NAME_COL, _col("Ready", desc="The aggregate readiness state of this pod for accepting traffic."),
                _col("Status", desc="The aggregate status of the containers in this pod."),
                _col("Restarts", desc="The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
                AGE_COL, _col("IP", prio=1, desc="IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
                _col("Node", prio=1, desc="NodeName is a request to schedule this pod onto a specific node."),
                _col("Nominated Node", prio=1, desc="nominatedNodeName is set only when this pod preempts other pods on the node."),
                _col("Readiness Gates", prio=1, desc="If specified, all readiness gates will be evaluated for pod readiness.")]
    if res_name == "deployments":
        return [NAME_COL, _col("Ready", desc="Number of the pod with ready state"),
                _col("Up-to-date", "integer", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
                _col("Available", "integer", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
                AGE_COL, _col("Containers", prio=1, desc="Names of each container in the template."),
                _col("Images", prio=1, desc="Images referenced by each container in the template."),
                _col("Selector", prio=1, desc="Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment.")]
    if res_name == "replicasets":
        return [NAME_COL, _col("Desired", "integer", "Replicas is the number of desired replicas."),
                _col("Current", "integer", "Replicas is the most recently observed number of replicas."),
                _col("Ready", "integer", "The number of ready replicas for this replica set."),
                AGE_COL, _col("Containers", prio=1, desc="Names of each container in the template."),
                _col("Images", prio=1, desc="Images referenced by each container in the template."),
                _col("Selector", prio=1, desc="Selector is a label query over pods that should match the replica count.")]
    if res_name == "services":
        return [NAME_COL, _col("Type", desc="type determines how the Service is exposed."),
                _col("Cluster-IP", desc="clusterIP is the IP address of the service."),
                _col("External-IP", desc="externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
                _col("Port(s)", desc="The list of ports that are exposed by this service."),
                AGE_COL, _col("Selector", prio=1, desc="Route service traffic to pods with label keys and values matching this selector.")]
    if res_name == "namespaces":
        return [NAME_COL, _col("Status", desc="The status of the namespace"), AGE_COL]
    if res_name == "nodes":
        return [NAME_COL, _col("Status", desc="The status of the node"),
                _col("Roles", desc="The roles of the node"), AGE_COL,
                _col("Version", desc="Kubelet Version reported by the node."),
                _col("Internal-IP", prio=1, desc="List of addresses reachable to the node."),
                _col("External-IP", prio=1, desc="List of addresses reachable to the node."),
                _col("OS-Image", prio=1, desc="OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
                _col("Kernel-Version", prio=1, desc="Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
                _col("Container-Runtime", prio=1, desc="ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).")]
    return [NAME_COL, AGE_COL]


def table_cells(res_name, obj):
    md, spec, st = obj.get("metadata", {}), obj.get("spec") or {}, obj.get("status") or {}
    name = md.get("name", "")
    if res_name == "pods":
        ready, status, restarts = _pod_status(obj)
        gates = spec.get("readinessGates")
        return [name, ready, status, restarts, age(obj), st.get("podIP") or "<none>",
                spec.get("nodeName") or "<none>", st.get("nominatedNodeName") or "<none>",
                "<none>" if not gates else "%d/%d" % (0, len(gates))]
    if res_name == "deployments":
        c, i = _containers_images((spec.get("template") or {}).get("spec"))
        from api_store import selector_string
        return [name, "%d/%d" % (st.get("readyReplicas", 0), spec.get("replicas", 1)),
                st.get("updatedReplicas", 0), st.get("availableReplicas", 0), age(obj), c, i,
                selector_string(spec.get("selector"))]
    if res_name == "replicasets":
        c, i = _containers_images((spec.get("template") or {}).get("spec"))
        from api_store import selector_string
        return [name, spec.get("replicas", 1), st.get("replicas", 0), st.get("readyReplicas", 0),
                age(obj), c, i, selector_string(spec.get("selector"))]
    if res_name == "services":
        sel = ",".join("%s=%s" % kv for kv in sorted((spec.get("selector") or {}).items()))
        return [name, spec.get("type", "ClusterIP"), spec.get("clusterIP") or "<none>",
                ",".join(spec.get("externalIPs") or []) or "<none>", _svc_ports(spec), age(obj),
                sel or "<none>"]
    if res_name == "namespaces":
        return [name, st.get("phase", "Active"), age(obj)]
    if res_name == "nodes":
        conds = {c.get("type"): c.get("status") for c in st.get("conditions") or []}
        info = st.get("nodeInfo") or {}
        ip = next((a["address"] for a in st.get("addresses") or [] if a.get("type") == "InternalIP"), "<none>")
        return [name, "Ready" if conds.get("Ready") == "True" else "NotReady", "<none>", age(obj),
                info.get("kubeletVersion", ""), ip, "<none>", info.get("osImage", ""),
                info.get("kernelVersion", ""), info.get("containerRuntimeVersion", "")]
    return [name, age(obj)]
