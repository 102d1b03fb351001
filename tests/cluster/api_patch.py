"""Patch formats of the simulated API server: JSON merge (RFC 7386), JSON patch (RFC 6902),
and Kubernetes strategic merge patch for the built-in types the tests use.

Strategic merge: lists whose field name is in MERGE_KEYS are merged element-wise by the merge
key (elements of the patch replace-merge into the element with the same key, new ones are
appended); other lists are replaced.  Directives: `$patch: delete|replace|merge` in maps and
list elements, `$deleteFromPrimitiveList/<f>`, `$setElementOrder/<f>`, `$retainKeys`.
Primitive lists with a merge strategy (finalizers) are merged as sets.
"""

import copy
import json


class PatchError(Exception):
    """Raised for patches that cannot be applied (422 in the API server)."""


# field name -> merge key (None = primitive list merged as a set).  "ports" is resolved by
# content: containerPort for container ports, port for service ports.
MERGE_KEYS = {
    "containers": "name", "initContainers": "name", "ephemeralContainers": "name",
    "env": "name", "volumes": "name", "volumeMounts": "mountPath", "volumeDevices": "devicePath",
    "imagePullSecrets": "name", "hostAliases": "ip", "conditions": "type",
    "ownerReferences": "uid", "finalizers": None, "ports": "?", "resourceClaims": "name",
    "topologySpreadConstraints": "topologyKey",
}


def merge_patch(target, patch):
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    out = dict(target)
    for k, v in patch.items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = merge_patch(out.get(k), v)
    return out


# -- JSON patch ----------------------------------------------------------------------------------

def _ptr(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError("invalid JSON pointer %r" % path)
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _idx(lst, tok, allow_end=False):
    if tok == "-" and allow_end:
        return len(lst)
    try:
        i = int(tok)
    except ValueError:
        raise PatchError("invalid array index %r" % tok)
    if i < 0 or i > len(lst) or (i == len(lst) and not allow_end):
        raise PatchError("array index out of bounds: %d" % i)
    return i


def _parent(doc, toks):
    cur = doc
    for t in toks[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("doc is missing path: %s" % "/".join(toks))
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_idx(cur, t)]
        else:
            raise PatchError("doc is missing path: %s" % "/".join(toks))
    return cur


def _get(doc, toks):
    cur = doc
    for t in toks:
        if isinstance(cur, dict):
            if t not in cur:
                raise PatchError("doc is missing path: /%s" % "/".join(toks))
            cur = cur[t]
        elif isinstance(cur, list):
            cur = cur[_idx(cur, t)]
        else:
            raise PatchError("doc is missing path: /%s" % "/".join(toks))
    return cur


def _add(doc, toks, val):
    if not toks:
        return val
    par = _parent(doc, toks)
    if isinstance(par, dict):
        par[toks[-1]] = val
    elif isinstance(par, list):
        par.insert(_idx(par, toks[-1], True), val)
    else:
        raise PatchError("add operation does not apply: doc is missing path")
    return doc


def _remove(doc, toks):
    par = _parent(doc, toks)
    if isinstance(par, dict):
        if toks[-1] not in par:
            raise PatchError("remove operation does not apply: doc is missing key: /%s" % "/".join(toks))
        return par.pop(toks[-1])
    if isinstance(par, list):
        return par.pop(_idx(par, toks[-1]))
    raise PatchError("remove operation does not apply: doc is missing path")


def json_patch(doc, ops):
    if not isinstance(ops, list):
        raise PatchError("json patch must be a list of operations")
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict) or "op" not in op:
            raise PatchError("invalid operation %r" % (op,))
        kind = op["op"]
        toks = _ptr(op.get("path", ""))
        if kind == "add":
            doc = _add(doc, toks, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, toks)
        elif kind == "replace":
            if not toks:
                doc = copy.deepcopy(op.get("value"))
                continue
            _get(doc, toks)
            par = _parent(doc, toks)
            if isinstance(par, list):
                par[_idx(par, toks[-1])] = copy.deepcopy(op.get("value"))
            else:
                par[toks[-1]] = copy.deepcopy(op.get("value"))
        elif kind == "move":
            val = _remove(doc, _ptr(op["from"]))
            doc = _add(doc, toks, val)
        elif kind == "copy":
            doc = _add(doc, toks, copy.deepcopy(_get(doc, _ptr(op["from"]))))
        elif kind == "test":
            if _get(doc, toks) != op.get("value"):
                raise PatchError("testing value %s failed" % op.get("path"))
        else:
            raise PatchError("Unexpected kind: %s" % kind)
    return doc


# -- strategic merge patch -------------------------------------------------------------------

def _merge_key(field, items):
    key = MERGE_KEYS.get(field, "")
    if key == "?":
        for it in items:
            if isinstance(it, dict):
                if "containerPort" in it:
                    return "containerPort"
                if "port" in it:
                    return "port"
        return "containerPort"
    return key


def strategic_merge(target, patch):
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if not isinstance(target, dict):
        target = {}
    directive = patch.get("$patch")
    if directive == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if k != "$patch"}
    if directive == "delete":
        return None
    out = copy.deepcopy(target)
    retain = patch.get("$retainKeys")
    orders = {}
    for k, v in patch.items():
        if k in ("$patch", "$retainKeys"):
            continue
        if k.startswith("$setElementOrder/"):
            orders[k.split("/", 1)[1]] = v
            continue
        if k.startswith("$deleteFromPrimitiveList/"):
            f = k.split("/", 1)[1]
            if isinstance(out.get(f), list):
                out[f] = [x for x in out[f] if x not in (v or [])]
            continue
        if v is None:
            out.pop(k, None)
            continue
        if isinstance(v, dict):
            merged = strategic_merge(out.get(k), v)
            if merged is None:
                out.pop(k, None)
            else:
                out[k] = merged
        elif isinstance(v, list) and k in MERGE_KEYS:
            out[k] = _merge_list(k, out.get(k), v)
        else:
            out[k] = copy.deepcopy(v)
    for f, order in orders.items():
        if isinstance(out.get(f), list):
            out[f] = _order_list(f, out[f], order)
    if isinstance(retain, list):
        out = {k: v for k, v in out.items() if k in retain}
    return out


def _merge_list(field, cur, patch):
    cur = copy.deepcopy(cur) if isinstance(cur, list) else []
    key = _merge_key(field, patch + cur)
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return [copy.deepcopy(p) for p in patch if not (isinstance(p, dict) and "$patch" in p)]
    if key is None or not all(isinstance(p, dict) for p in patch):
        for p in patch:  # primitive set merge
            if p not in cur:
                cur.append(copy.deepcopy(p))
        return cur
    for p in patch:
        if p.get("$patch") == "delete":
            cur = [c for c in cur if not (isinstance(c, dict) and c.get(key) == p.get(key))]
            continue
        for i, c in enumerate(cur):
            if isinstance(c, dict) and key in p and c.get(key) == p.get(key):
                cur[i] = strategic_merge(c, p)
                break
        else:
            cur.append(strategic_merge({}, p))
    return cur


def _order_list(field, items, order):
    if not order:
        return items
    key = _merge_key(field, items)
    if key is None:
        pos = {v: i for i, v in enumerate(order)}
        return sorted(items, key=lambda x: pos.get(x, len(pos)))
    pos = {}
    for i, o in enumerate(order):
        if isinstance(o, dict):
            pos[json.dumps(o.get(key))] = i
    indexed = list(enumerate(items))
    def rank(t):
        k = json.dumps(t[1].get(key)) if isinstance(t[1], dict) else None
        return pos.get(k, len(pos) + t[0])
    indexed.sort(key=rank)
    return [it for _, it in indexed]
