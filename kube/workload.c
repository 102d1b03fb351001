/* workload.c - launch's changes to a workload and their undoing (workload.h). */
#include "workload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Relaxed probes: a process held at a breakpoint fails every httpGet, exec
 * and grpc probe; this many failures of a long timeout take days, and stay
 * below kube_probe_liveness's bound of believable values. */
#define RELAX_FAILURES 100000
#define RELAX_TIMEOUT 60

int kube_probes_parse(const char *s, enum kube_probes *out,
                      struct dap_error *err)
{
    if (s == NULL || strcmp(s, "relax") == 0)
        *out = KUBE_PROBES_RELAX;
    else if (strcmp(s, "keep") == 0)
        *out = KUBE_PROBES_KEEP;
    else if (strcmp(s, "remove") == 0)
        *out = KUBE_PROBES_REMOVE;
    else
        return dap_error_set(err, DAP_ECONFIG,
                             "\"probes\": \"%s\" is not one of \"relax\" (the "
                             "default), \"keep\" or \"remove\"",
                             s);
    return 0;
}

static json_t *pod_spec(json_t *workload)
{
    return json_object_get(
        json_object_get(json_object_get(workload, "spec"), "template"), "spec");
}

static json_t *container_of(json_t *workload, const char *name)
{
    json_t *cs = json_object_get(pod_spec(workload), "containers");
    json_t *c;
    size_t i;

    json_array_foreach(cs, i, c) {
        const char *n = json_string_value(json_object_get(c, "name"));
        if (n != NULL && (name == NULL || strcmp(n, name) == 0))
            return c;
    }
    return NULL;
}

static const char *annotation(json_t *workload)
{
    return json_string_value(json_object_get(
        json_object_get(json_object_get(workload, "metadata"), "annotations"),
        KUBE_WORKLOAD_ANNOTATION));
}

/* value or JSON null (a new reference either way) */
static json_t *orig(json_t *v)
{
    return v != NULL ? json_deep_copy(v) : json_null();
}

/* Relax one probe: `fwd` and `back` get the fields changed and their
 * originals. */
static void relax(json_t *probe, json_t *fwd, json_t *back)
{
    static const struct {
        const char *key;
        long min;
    } f[] = {{"failureThreshold", RELAX_FAILURES},
             {"timeoutSeconds", RELAX_TIMEOUT}};

    for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        json_t *v = json_object_get(probe, f[i].key);
        if (json_is_integer(v) && json_integer_value(v) >= f[i].min)
            continue;
        json_object_set_new(fwd, f[i].key, json_integer(f[i].min));
        json_object_set_new(back, f[i].key, orig(v));
    }
}

/* The probes part of the container patch (fwd) and its restore (back). */
static void probes(json_t *c, enum kube_probes mode, json_t *fwd, json_t *back)
{
    static const char *const kinds[] = {"livenessProbe", "readinessProbe"};

    for (size_t i = 0; i < 2 && mode != KUBE_PROBES_KEEP; i++) {
        json_t *p = json_object_get(c, kinds[i]);
        if (!json_is_object(p))
            continue;
        if (mode == KUBE_PROBES_REMOVE) {
            json_object_set_new(fwd, kinds[i], json_null());
            json_object_set_new(back, kinds[i], json_deep_copy(p));
        } else {
            json_t *pf = json_object(), *pb = json_object();
            relax(p, pf, pb);
            if (json_object_size(pf) > 0) {
                json_object_set(fwd, kinds[i], pf);
                json_object_set(back, kinds[i], pb);
            }
            json_decref(pf);
            json_decref(pb);
        }
    }
}

/* {"spec": {"replicas"?, "template": {"spec": {"containers": [c]}}}} */
static json_t *spec_patch(json_t *replicas, json_t *c)
{
    json_t *spec = json_pack("{s:{s:{s:[o]}}}", "template", "spec",
                             "containers", c);

    if (replicas != NULL)
        json_object_set_new(spec, "replicas", replicas);
    return json_pack("{s:o}", "spec", spec);
}

static json_t *with_annotation(json_t *patch, json_t *value)
{
    json_object_set_new(patch, "metadata",
                        json_pack("{s:{s:o}}", "annotations",
                                  KUBE_WORKLOAD_ANNOTATION, value));
    return patch;
}

int kube_workload_patch(json_t *workload, const struct kube_workload_change *ch,
                        json_t **patch, struct dap_error *err)
{
    json_t *c = container_of(workload, ch->container);
    json_t *saved = NULL, *fc, *bc, *set, *back, *fwd, *rep;
    const char *name, *ann = annotation(workload);
    char *text;

    *patch = NULL;
    if (c == NULL) {
        char names[512] = "";
        json_t *x;
        size_t i, o = 0;
        json_array_foreach(json_object_get(pod_spec(workload), "containers"),
                           i, x) {
            int w = snprintf(names + o, sizeof(names) - o, "%s%s",
                             o ? ", " : "",
                             json_string_value(json_object_get(x, "name")));
            if (w < 0 || (size_t)w >= sizeof(names) - o)
                break;
            o += (size_t)w;
        }
        return dap_error_set(err, DAP_ECONFIG,
                             "\"container\": the workload has no container "
                             "\"%s\" (it has: %s)",
                             ch->container ? ch->container : "",
                             o ? names : "none");
    }
    if (ann != NULL) {
        json_error_t je;
        saved = json_loads(ann, 0, &je);
        const char *who = json_string_value(json_object_get(saved, "session"));
        if (who == NULL || ch->session == NULL || strcmp(who, ch->session) != 0) {
            const char *since =
                json_string_value(json_object_get(saved, "since"));
            dap_error_set(err, DAP_ESTATE,
                          "the workload is being debugged by kdap session %s "
                          "(since %s); if that session is gone, `kdap "
                          "restore` puts the workload back",
                          who ? who : "(unreadable annotation " 
                                      KUBE_WORKLOAD_ANNOTATION ")",
                          since ? since : "an unknown time");
            json_decref(saved);
            return DAP_ESTATE;
        }
    }
    name = json_string_value(json_object_get(c, "name"));
    fc = json_pack("{s:s}", "name", name);
    bc = json_pack("{s:s}", "name", name);
    set = json_object();
    rep = NULL;
    if (ch->image != NULL) {
        json_object_set_new(fc, "image", json_string(ch->image));
        json_object_set_new(bc, "image", orig(json_object_get(c, "image")));
        json_object_set_new(set, "image", json_string(ch->image));
    }
    probes(c, ch->probes, fc, bc);
    if (ch->replicas >= 0) {
        rep = orig(json_object_get(json_object_get(workload, "spec"),
                                   "replicas"));
        json_object_set_new(set, "replicas", json_integer(ch->replicas));
    }
    back = spec_patch(rep, bc);
    fwd = spec_patch(ch->replicas >= 0 ? json_integer(ch->replicas) : NULL, fc);
    if (saved != NULL) {
        /* a relaunch: the originals are the first launch's, and what is
         * changed now for the first time (replicas added, say) joins them */
        json_t *first = json_object_get(saved, "restore");
        json_t *fspec = json_object_get(first, "spec");
        json_t *bspec = json_object_get(back, "spec");
        json_t *fcont = json_array_get(json_object_get(json_object_get(
            json_object_get(fspec, "template"), "spec"), "containers"), 0);
        if (json_is_object(fcont))
            json_object_update(bc, fcont);
        if (json_object_get(fspec, "replicas") != NULL)
            json_object_set(bspec, "replicas",
                            json_object_get(fspec, "replicas"));
        json_decref(saved);
    }
    saved = json_pack("{s:s, s:s, s:s, s:o, s:o}", "session",
                      ch->session ? ch->session : "", "since",
                      ch->since ? ch->since : "", "container", name, "set",
                      set, "restore", back);
    text = json_dumps(saved, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(saved);
    *patch = with_annotation(fwd, json_string(text ? text : "{}"));
    free(text);
    return 0;
}

int kube_workload_restore(json_t *workload, json_t **patch, char *session,
                          size_t session_n, char *note, size_t note_n,
                          struct dap_error *err)
{
    const char *ann = annotation(workload);
    json_t *saved, *back, *set, *bspec, *bc, *c;
    json_error_t je;
    const char *cname;
    size_t o = 0;

    *patch = NULL;
    note[0] = '\0';
    session[0] = '\0';
    if (ann == NULL)
        return 0;
    saved = json_loads(ann, 0, &je);
    back = json_object_get(saved, "restore");
    bspec = json_object_get(back, "spec");
    bc = json_array_get(json_object_get(json_object_get(json_object_get(
                            bspec, "template"), "spec"), "containers"), 0);
    cname = json_string_value(json_object_get(bc, "name"));
    if (!json_is_object(bspec) || cname == NULL) {
        json_decref(saved);
        return dap_error_set(err, DAP_EPROTO,
                             "the annotation " KUBE_WORKLOAD_ANNOTATION
                             " is not kdap's (no restore patch in it); remove "
                             "it by hand after checking the workload");
    }
    snprintf(session, session_n, "%s",
             json_string_value(json_object_get(saved, "session"))
                 ? json_string_value(json_object_get(saved, "session"))
                 : "?");
    /* what someone else set since kdap's patch stays theirs */
    set = json_object_get(saved, "set");
    c = container_of(workload, cname);
    if (json_object_get(set, "image") != NULL && c != NULL &&
        !json_equal(json_object_get(set, "image"),
                    json_object_get(c, "image"))) {
        int w = snprintf(note, note_n,
                         "container %s's image was changed to %s during the "
                         "session: kept",
                         cname, json_string_value(json_object_get(c, "image")));
        o = w > 0 && (size_t)w < note_n ? (size_t)w : 0;
        json_object_del(bc, "image");
    }
    if (json_object_get(set, "replicas") != NULL &&
        !json_equal(json_object_get(set, "replicas"),
                    json_object_get(json_object_get(workload, "spec"),
                                    "replicas"))) {
        snprintf(note + o, note_n - o,
                 "%sreplicas were changed to %lld during the session: kept",
                 o ? "; " : "",
                 (long long)json_integer_value(json_object_get(
                     json_object_get(workload, "spec"), "replicas")));
        json_object_del(bspec, "replicas");
    }
    *patch = with_annotation(json_deep_copy(back), json_null());
    json_decref(saved);
    return 1;
}

int kube_workload_selector(json_t *workload, char *out, size_t n)
{
    json_t *ml = json_object_get(
        json_object_get(json_object_get(workload, "spec"), "selector"),
        "matchLabels");
    const char *k;
    json_t *v;
    size_t o = 0;

    if (!json_is_object(ml) || json_object_size(ml) == 0 || n == 0)
        return DAP_EINVAL;
    out[0] = '\0';
    json_object_foreach(ml, k, v) {
        int w = snprintf(out + o, n - o, "%s%s=%s", o ? "," : "", k,
                         json_string_value(v) ? json_string_value(v) : "");
        if (w < 0 || (size_t)w >= n - o)
            return DAP_EINVAL;
        o += (size_t)w;
    }
    return 0;
}

enum kube_rollout kube_workload_rollout(json_t *w, char *why, size_t n)
{
    json_t *md = json_object_get(w, "metadata");
    json_t *spec = json_object_get(w, "spec");
    json_t *st = json_object_get(w, "status");
    json_t *conds = json_object_get(st, "conditions"), *cd;
    const char *kind = json_string_value(json_object_get(w, "kind"));
    json_int_t gen = json_integer_value(json_object_get(md, "generation"));
    json_int_t want = json_is_integer(json_object_get(spec, "replicas"))
                          ? json_integer_value(json_object_get(spec, "replicas"))
                          : 1;
    json_int_t total = json_integer_value(json_object_get(st, "replicas"));
    json_int_t upd = json_integer_value(json_object_get(st, "updatedReplicas"));
    json_int_t avail =
        json_integer_value(json_object_get(st, kind != NULL &&
                                                   strcmp(kind, "StatefulSet") == 0
                                               ? "readyReplicas"
                                               : "availableReplicas"));
    size_t i;

    if (json_integer_value(json_object_get(st, "observedGeneration")) < gen) {
        snprintf(why, n, "waiting for the controller to see generation %lld",
                 (long long)gen);
        return KUBE_ROLLOUT_PROGRESSING;
    }
    json_array_foreach(conds, i, cd) {
        const char *reason = json_string_value(json_object_get(cd, "reason"));
        if (reason != NULL && strcmp(reason, "ProgressDeadlineExceeded") == 0) {
            const char *m = json_string_value(json_object_get(cd, "message"));
            snprintf(why, n, "the rollout exceeded its progress deadline: %s",
                     m ? m : reason);
            return KUBE_ROLLOUT_FAILED;
        }
    }
    if (kind != NULL && strcmp(kind, "StatefulSet") == 0) {
        if (upd < want) {
            snprintf(why, n, "%lld of %lld pods updated", (long long)upd,
                     (long long)want);
            return KUBE_ROLLOUT_PROGRESSING;
        }
    } else if (upd < want) {
        snprintf(why, n, "%lld of %lld updated replicas", (long long)upd,
                 (long long)want);
        return KUBE_ROLLOUT_PROGRESSING;
    } else if (total > upd) {
        snprintf(why, n, "%lld old replicas pending termination",
                 (long long)(total - upd));
        return KUBE_ROLLOUT_PROGRESSING;
    }
    if (avail < want) {
        snprintf(why, n, "%lld of %lld updated replicas available",
                 (long long)avail, (long long)want);
        return KUBE_ROLLOUT_PROGRESSING;
    }
    snprintf(why, n, "%lld updated replicas available", (long long)avail);
    return KUBE_ROLLOUT_DONE;
}

int kube_workload_pod_failure(json_t *pod, char *why, size_t n)
{
    static const char *const fatal[] = {
        "ErrImagePull",     "ImagePullBackOff",           "InvalidImageName",
        "CrashLoopBackOff", "CreateContainerConfigError", "RunContainerError",
    };
    json_t *st = json_object_get(pod, "status");
    json_t *cs;
    size_t i;

    json_array_foreach(json_object_get(st, "containerStatuses"), i, cs) {
        json_t *wt = json_object_get(json_object_get(cs, "state"), "waiting");
        const char *r = json_string_value(json_object_get(wt, "reason"));
        const char *m = json_string_value(json_object_get(wt, "message"));
        for (size_t k = 0; r != NULL && k < sizeof(fatal) / sizeof(fatal[0]);
             k++) {
            if (strcmp(r, fatal[k]) != 0)
                continue;
            snprintf(why, n, "container %s: %s%s%s",
                     json_string_value(json_object_get(cs, "name"))
                         ? json_string_value(json_object_get(cs, "name"))
                         : "?",
                     r, m ? ": " : "", m ? m : "");
            return 1;
        }
    }
    return 0;
}
