/* gdb_vars.c - the gdb backend's data: variable references (the kit's
 * stop-scoped table), frames, stackTrace, scopes, variables (MI variable
 * objects), evaluate, setVariable, readMemory and disassemble. */
#define _GNU_SOURCE
#include "gdb_int.h"

/* ======================================================================
 * variable references
 * ==================================================================== */

void gdb__ref_free(void *item)
{
    struct ref *ref = item;

    free(ref->varobj);
    free(ref->expr);
    free(ref->type);
    json_decref(ref->kids);
    free(ref);
}

static long long ref_add(struct gdb *g, enum ref_kind kind, int thread,
                         int level, const char *varobj, const char *expr,
                         const char *type)
{
    struct ref *ref = calloc(1, sizeof(*ref));

    if (ref == NULL)
        return 0;
    ref->kind = kind;
    ref->thread = thread;
    ref->level = level;
    ref->varobj = gdb__xstrdup(varobj);
    ref->expr = gdb__xstrdup(expr);
    ref->type = gdb__xstrdup(type);
    ref->kids = json_object();
    return adapter_xrefs_add(&g->refs, ref);
}

struct ref *gdb__ref_get(struct gdb *g, json_t *v)
{
    if (!json_is_integer(v))
        return NULL;
    return adapter_xrefs_get(&g->refs, json_integer_value(v));
}

/* The ref a variables request works on (r->n1), NULL once the target
 * ran. */
static struct ref *req_ref(struct greq *r)
{
    if (r->base != r->g->refs.base)
        return NULL;
    return adapter_xrefs_get(&r->g->refs, r->n1);
}

void gdb__refs_clear(struct gdb *g)
{
    adapter_xrefs_clear(&g->refs);
}

static const char *new_varobj(struct gdb *g, char *buf, size_t n)
{
    snprintf(buf, n, "kv%u", ++g->nvar);
    json_array_append_new(g->roots, json_string(buf));
    return buf;
}

/* ======================================================================
 * DAP requests
 * ==================================================================== */

int gdb__frame_of(struct greq *r, json_t *v)
{
    long long fid = json_integer_value(v);

    if (!json_is_integer(v) || fid <= 0) {
        gdb__fail(r, DAP_ESTALE, "unknown frameId");
        return -1;
    }
    r->thread = (int)((fid - 1) / FRAME_MUL);
    r->level = (int)((fid - 1) % FRAME_MUL);
    return 0;
}

/* --thread T --frame L for a request that named a frame, else "". */
static const char *frame_opts(struct greq *r, char *buf, size_t n)
{
    if (r->thread > 0)
        snprintf(buf, n, "--thread %d --frame %d ", r->thread, r->level);
    else
        buf[0] = '\0';
    return buf;
}

/* ---- stackTrace ---- */

static void depth_result(struct greq *r, struct adapter_mi_record *rec,
                         long arg)
{
    (void)arg;
    if (!gdb__is_error(rec))
        r->n1 = adapter_mi_int(rec->results, "depth", -1);
}

static json_t *frame_to_dap(int thread, json_t *f)
{
    long long level = adapter_mi_int(f, "level", 0);
    const char *func = adapter_mi_str(f, "func");
    const char *addr = adapter_mi_str(f, "addr");
    const char *from = adapter_mi_str(f, "from");
    json_t *src = gdb__source_of(f);
    char name[512];
    json_t *d;

    if (func != NULL)
        snprintf(name, sizeof(name), "%s", func);
    else if (from != NULL)
        snprintf(name, sizeof(name), "%s!%s", from, addr ? addr : "??");
    else
        snprintf(name, sizeof(name), "%s", addr ? addr : "??");
    d = json_pack("{s:I, s:s}", "id",
                  (json_int_t)(thread * FRAME_MUL + level + 1), "name", name);
    if (src != NULL) {
        json_object_set_new(d, "source", src);
        json_object_set_new(d, "line",
                            json_integer(adapter_mi_int(f, "line", 0)));
        json_object_set_new(d, "column", json_integer(1));
    } else {
        json_object_set_new(d, "line", json_integer(0));
        json_object_set_new(d, "column", json_integer(0));
        json_object_set_new(d, "presentationHint", json_string("subtle"));
    }
    if (addr != NULL)
        json_object_set_new(d, "instructionPointerReference",
                            json_string(addr));
    return d;
}

static void frames_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    json_t *list = json_array();
    json_t *f;
    size_t i;

    (void)arg;
    json_object_set_new(r->x.body, "stackFrames", list);
    if (gdb__is_error(rec)) {
        /* Past the end of the stack is an empty page, not an error. */
        if (strstr(gdb__rec_msg(rec), "Not enough frames") == NULL)
            gdb__fail(r, DAP_EBACKEND, "%s", gdb__rec_msg(rec));
        return;
    }
    json_array_foreach(json_object_get(rec->results, "stack"), i, f)
        json_array_append_new(list, frame_to_dap(r->thread, f));
}

static void stack_finish(struct greq *r)
{
    size_t n = json_array_size(json_object_get(r->x.body, "stackFrames"));
    long long start = adapter__arg_int(r->x.args, "startFrame", 0, MAX_INDEX, 0);

    json_object_set_new(r->x.body, "totalFrames",
                        json_integer(r->n1 > 0 ? r->n1
                                               : start + (long long)n));
}

void gdb__req_stack_trace(struct greq *r)
{
    long long start = adapter__arg_int(r->x.args, "startFrame", 0, MAX_INDEX, 0);
    long long levels = adapter__arg_int(r->x.args, "levels", 0, MAX_FRAMES, 0);
    long long high;

    r->thread = (int)adapter__arg_int(r->x.args, "threadId", 0, INT_MAX, 0);
    high = levels > 0 ? start + levels - 1 : start + MAX_FRAMES - 1;
    r->n1 = -1;
    if (levels > 0)
        MI(r, depth_result, 0, "-stack-info-depth --thread %d %d", r->thread,
           MAX_FRAMES);
    MI(r, frames_result, 0, "-stack-list-frames --thread %d %l %l", r->thread,
       start, high);
    r->finish = stack_finish;
}

/* ---- scopes ---- */

void gdb__req_scopes(struct greq *r)
{
    struct gdb *g = r->g;
    long long loc, arg, regs;

    if (gdb__frame_of(r, json_object_get(r->x.args, "frameId")) < 0)
        return;
    loc = ref_add(g, REF_LOCALS, r->thread, r->level, NULL, NULL, NULL);
    arg = ref_add(g, REF_ARGS, r->thread, r->level, NULL, NULL, NULL);
    regs = ref_add(g, REF_REGS, r->thread, r->level, NULL, NULL, NULL);
    json_object_set_new(
        r->x.body, "scopes",
        json_pack("[{s:s, s:s, s:I, s:b}, {s:s, s:s, s:I, s:b},"
                  " {s:s, s:s, s:I, s:b}]",
                  "name", "Locals", "presentationHint", "locals",
                  "variablesReference", (json_int_t)loc, "expensive", 0,
                  "name", "Arguments", "presentationHint", "arguments",
                  "variablesReference", (json_int_t)arg, "expensive", 0,
                  "name", "Registers", "presentationHint", "registers",
                  "variablesReference", (json_int_t)regs, "expensive", 1));
}

/* ---- variables ---- */

/* Fill a DAP variable from a varobj's attributes; a new reference when it
 * has children.  `pref` is the parent ref index (-1 for none). */
static void var_fill(struct greq *r, json_t *var, json_t *vo, int thread,
                     int level, const char *expr)
{
    struct gdb *g = r->g;
    const char *name = adapter_mi_str(vo, "name");
    const char *type = adapter_mi_str(vo, "type");
    const char *value = adapter_mi_str(vo, "value");
    const char *hint = adapter_mi_str(vo, "displayhint");
    long long numchild = adapter_mi_int(vo, "numchild", 0);
    int dynamic = adapter_mi_int(vo, "dynamic", 0) != 0;
    int kids = numchild > 0 ||
               (dynamic && (hint == NULL || strcmp(hint, "string") != 0) &&
                adapter_mi_int(vo, "has_more", 1) != 0);
    json_t *mref;

    if (value != NULL)
        json_object_set_new(var, "value", json_string(value));
    else if (json_object_get(var, "value") == NULL)
        json_object_set_new(var, "value", json_string(""));
    if (type != NULL)
        json_object_set_new(var, "type", json_string(type));
    if (kids && name != NULL) {
        long long ref = ref_add(g, REF_VAROBJ, thread, level, name,
                                dynamic ? NULL : expr, type);
        json_object_set_new(var, "variablesReference", json_integer(ref));
        if (gdb__is_array_type(type) && numchild > 0)
            json_object_set_new(var, "indexedVariables",
                                json_integer(numchild));
    }
    mref = gdb__memref_of(type, value);
    if (mref != NULL)
        json_object_set_new(var, "memoryReference", mref);
}

static void local_varobj_result(struct greq *r, struct adapter_mi_record *rec,
                                long arg)
{
    json_t *var = json_array_get(json_object_get(r->x.body, "variables"),
                                 (size_t)arg);
    const char *expr = json_string_value(json_object_get(var,
                                                         "evaluateName"));

    if (var == NULL || gdb__is_error(rec))
        return; /* keep what -stack-list-variables said */
    var_fill(r, var, rec->results, r->thread, r->level, expr);
}

static void locals_result(struct greq *r, struct adapter_mi_record *rec,
                          long want_args)
{
    struct gdb *g = r->g;
    struct ref *ref = req_ref(r);
    json_t *out = json_array();
    json_t *seen = json_object();
    json_t *v;
    size_t i;
    char opts[64];

    json_object_set_new(r->x.body, "variables", out);
    if (!gdb__ok(r, rec) || ref == NULL) {
        json_decref(seen);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    json_array_foreach(json_object_get(rec->results, "variables"), i, v)
    {
        const char *name = adapter_mi_str(v, "name");
        const char *type = adapter_mi_str(v, "type");
        const char *value = adapter_mi_str(v, "value");
        int is_arg = adapter_mi_str(v, "arg") != NULL;
        json_t *var;
        if (name == NULL || is_arg != (want_args != 0) ||
            json_object_get(seen, name) != NULL)
            continue;
        json_object_set_new(seen, name, json_true());
        var = json_pack("{s:s, s:s, s:i, s:s}", "name", name, "value",
                        value != NULL ? value : "", "variablesReference", 0,
                        "evaluateName", name);
        if (type != NULL)
            json_object_set_new(var, "type", json_string(type));
        if (value == NULL || gdb__is_pointer_type(type)) {
            char vo[32];
            new_varobj(g, vo, sizeof(vo));
            MI(r, local_varobj_result, (long)json_array_size(out),
               "-var-create %s%s * %q", opts, vo, name);
            json_object_set_new(ref->kids, name,
                                json_pack("{s:s, s:s}", "v", vo, "e", name));
        } else {
            json_object_set_new(ref->kids, name,
                                json_pack("{s:n, s:s}", "v", "e", name));
            json_t *mref = gdb__memref_of(type, value);
            if (mref != NULL)
                json_object_set_new(var, "memoryReference", mref);
        }
        json_array_append_new(out, var);
    }
    json_decref(seen);
}

static void regnames_result(struct greq *r, struct adapter_mi_record *rec,
                            long arg)
{
    (void)arg;
    if (gdb__ok(r, rec)) {
        json_decref(r->g->regnames);
        r->g->regnames =
            json_incref(json_object_get(rec->results, "register-names"));
    }
}

static void regvalues_result(struct greq *r, struct adapter_mi_record *rec,
                             long arg)
{
    json_t *out = json_array();
    json_t *v;
    size_t i;

    (void)arg;
    json_object_set_new(r->x.body, "variables", out);
    if (!gdb__ok(r, rec))
        return;
    json_array_foreach(json_object_get(rec->results, "register-values"), i, v)
    {
        long long num = adapter_mi_int(v, "number", -1);
        const char *value = adapter_mi_str(v, "value");
        const char *name = json_string_value(
            json_array_get(r->g->regnames, num >= 0 ? (size_t)num : 0));
        char ev_[80];
        if (name == NULL || name[0] == '\0' || value == NULL ||
            value[0] == '{')
            continue;
        if (json_array_size(out) >= MAX_REGS)
            break;
        snprintf(ev_, sizeof(ev_), "$%s", name);
        json_array_append_new(out,
                              json_pack("{s:s, s:s, s:i, s:s}", "name", name,
                                        "value", value, "variablesReference",
                                        0, "evaluateName", ev_));
        if (req_ref(r) != NULL)
            json_object_set_new(req_ref(r)->kids, name,
                                json_pack("{s:n, s:s}", "v", "e", ev_));
    }
}

/* Children of a varobj; access-specifier pseudo children (C++ public:,
 * private:, protected:) are flattened into their parent. */
static void children_result(struct greq *r, struct adapter_mi_record *rec,
                            long slot);

static void add_children(struct greq *r, json_t *children, size_t slot,
                         const char *pexpr, const char *ptype)
{
    json_t *dst = json_array_get(r->tmp, slot);
    json_t *c;
    size_t i;

    json_array_foreach(children, i, c)
    {
        const char *exp = adapter_mi_str(c, "exp");
        const char *name = adapter_mi_str(c, "name");
        const char *type = adapter_mi_str(c, "type");
        int dynamic = adapter_mi_int(c, "dynamic", 0) != 0;
        char shown[300];
        char *expr;
        json_t *var;
        if (exp == NULL || name == NULL)
            continue;
        if (type == NULL &&
            (strcmp(exp, "public") == 0 || strcmp(exp, "private") == 0 ||
             strcmp(exp, "protected") == 0)) {
            /* A slot of its own, filled by a further listing. */
            size_t sub = json_array_size(r->tmp);
            json_array_append_new(r->tmp, json_array());
            json_array_append_new(dst, json_integer((json_int_t)sub));
            json_array_append_new(
                json_object_get(r->x.body, "pending"),
                json_pack("{s:s, s:s?, s:s?}", "vo", name, "e", pexpr, "t",
                          ptype));
            MI(r, children_result, (long)sub,
               "-var-list-children --all-values %q", name);
            continue;
        }
        if (gdb__is_array_type(ptype) && isdigit((unsigned char)exp[0]))
            snprintf(shown, sizeof(shown), "[%s]", exp);
        else
            snprintf(shown, sizeof(shown), "%s", exp);
        expr = dynamic ? NULL : gdb__child_expr(pexpr, ptype, exp);
        var = json_pack("{s:s, s:s, s:i}", "name", shown, "value", "",
                        "variablesReference", 0);
        if (expr != NULL)
            json_object_set_new(var, "evaluateName", json_string(expr));
        var_fill(r, var, c, (int)r->thread, r->level, expr);
        if (req_ref(r) != NULL)
            json_object_set_new(req_ref(r)->kids, shown,
                                json_pack("{s:s, s:s?}", "v", name, "e",
                                          expr));
        free(expr);
        json_array_append_new(dst, var);
    }
}

static void children_result(struct greq *r, struct adapter_mi_record *rec,
                            long slot)
{
    struct ref *ref = req_ref(r);
    const char *pexpr;
    const char *ptype;

    if (!gdb__ok(r, rec) || ref == NULL)
        return;
    pexpr = ref->expr;
    ptype = ref->type;
    if (slot > 0) {
        /* An access specifier: its children belong to the class above. */
        json_t *p = json_array_get(json_object_get(r->x.body, "pending"),
                                   (size_t)slot - 1);
        pexpr = adapter_mi_str(p, "e");
        ptype = adapter_mi_str(p, "t");
    }
    add_children(r, json_object_get(rec->results, "children"), (size_t)slot,
                 pexpr, ptype);
}

static void flatten(json_t *slots, size_t slot, json_t *out, int depth)
{
    json_t *e;
    size_t i;

    if (depth > 8)
        return;
    json_array_foreach(json_array_get(slots, slot), i, e)
    {
        if (json_is_integer(e))
            flatten(slots, (size_t)json_integer_value(e), out, depth + 1);
        else
            json_array_append(out, e);
    }
}

static void children_finish(struct greq *r)
{
    json_t *out = json_array();

    flatten(r->tmp, 0, out, 0);
    json_object_del(r->x.body, "pending");
    json_object_set_new(r->x.body, "variables", out);
}

void gdb__req_variables(struct greq *r)
{
    struct gdb *g = r->g;
    struct ref *ref = gdb__ref_get(g, json_object_get(r->x.args,
                                                      "variablesReference"));
    long long start = adapter__arg_int(r->x.args, "start", 0, MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "count", 0, MAX_INDEX, 0);
    char opts[64];

    if (ref == NULL) {
        gdb__fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
        return;
    }
    r->n1 = json_integer_value(json_object_get(r->x.args, "variablesReference"));
    r->base = g->refs.base;
    r->thread = ref->thread;
    r->level = ref->level;
    frame_opts(r, opts, sizeof(opts));
    switch (ref->kind) {
    case REF_LOCALS:
    case REF_ARGS:
        MI(r, locals_result, ref->kind == REF_ARGS,
           "-stack-list-variables %s--simple-values", opts);
        return;
    case REF_REGS:
        if (g->regnames == NULL)
            MI(r, regnames_result, 0, "-data-list-register-names");
        MI(r, regvalues_result, 0,
           "-data-list-register-values %s--skip-unavailable N", opts);
        return;
    case REF_VAROBJ:
        r->tmp = json_pack("[[]]");
        json_object_set_new(r->x.body, "pending", json_array());
        if (count > 0)
            MI(r, children_result, 0, "-var-list-children --all-values %q %l %l",
               ref->varobj, start, start + count);
        else
            MI(r, children_result, 0, "-var-list-children --all-values %q",
               ref->varobj);
        r->finish = children_finish;
        return;
    }
}

/* ---- evaluate ---- */

static void cli_result(struct greq *r, struct adapter_mi_record *rec,
                       long arg)
{
    size_t n = rec->text != NULL ? strlen(rec->text) : 0;

    (void)arg;
    if (!gdb__ok(r, rec))
        return;
    while (n > 0 && rec->text[n - 1] == '\n')
        n--;
    json_object_set_new(r->x.body, "result",
                        json_stringn(rec->text != NULL ? rec->text : "", n)
                            ?: json_string("(output is not UTF-8)"));
    json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

static void eval_plain_result(struct greq *r, struct adapter_mi_record *rec,
                              long arg)
{
    (void)arg;
    if (!gdb__ok(r, rec))
        return;
    json_object_set_new(r->x.body, "result",
                        json_string(adapter_mi_str(rec->results, "value")
                                        ?: ""));
    json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

static void eval_result(struct greq *r, struct adapter_mi_record *rec,
                        long arg)
{
    const char *expr = adapter_mi_str(r->x.args, "expression");
    char opts[64];

    (void)arg;
    if (gdb__is_error(rec)) {
        /* -var-create says only "unable to create variable object": ask
         * again for gdb's actual reason. */
        frame_opts(r, opts, sizeof(opts));
        MI(r, eval_plain_result, 0, "-data-evaluate-expression %s%q", opts,
           expr);
        return;
    }
    json_object_set_new(r->x.body, "result", json_string(""));
    var_fill(r, r->x.body, rec->results, r->thread, r->level, expr);
    json_object_set_new(r->x.body, "result",
                        json_incref(json_object_get(r->x.body, "value")));
    json_object_del(r->x.body, "value");
    if (json_object_get(r->x.body, "variablesReference") == NULL)
        json_object_set_new(r->x.body, "variablesReference", json_integer(0));
}

void gdb__req_evaluate(struct greq *r)
{
    struct gdb *g = r->g;
    const char *expr = adapter_mi_str(r->x.args, "expression");
    const char *ctx = adapter_mi_str(r->x.args, "context");
    json_t *fid = json_object_get(r->x.args, "frameId");
    char opts[64];
    char vo[32];

    if (fid != NULL && gdb__frame_of(r, fid) < 0)
        return;
    if (ctx != NULL && strcmp(ctx, "repl") == 0 &&
        (strncmp(expr, "-exec ", 6) == 0 || expr[0] == '>')) {
        const char *cmd = expr[0] == '>' ? expr + 1 : expr + 6;
        dap_buf b;
        while (*cmd == ' ')
            cmd++;
        dap_buf_init(&b, MAX_LINE);
        if (adapter_mi_build(&b, "-interpreter-exec console %q", cmd) < 0)
            dap_buf_reset(&b);
        gdb__mi_send(r, cli_result, 0, 1, &b);
        dap_buf_cleanup(&b);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    new_varobj(g, vo, sizeof(vo));
    MI(r, eval_result, 0, "-var-create %s%s * %q", opts, vo, expr);
}

/* ---- setVariable ---- */

static void assign_result(struct greq *r, struct adapter_mi_record *rec,
                          long arg)
{
    (void)arg;
    if (!gdb__ok(r, rec))
        return;
    json_object_set_new(r->x.body, "value",
                        json_string(adapter_mi_str(rec->results, "value")
                                        ?: ""));
}

void gdb__req_set_variable(struct greq *r)
{
    struct gdb *g = r->g;
    struct ref *ref = gdb__ref_get(g, json_object_get(r->x.args,
                                                      "variablesReference"));
    const char *name = adapter_mi_str(r->x.args, "name");
    const char *value = adapter_mi_str(r->x.args, "value");
    json_t *kid;
    const char *vo;
    const char *expr;
    char opts[64];
    char tmp[32];

    if (ref == NULL) {
        gdb__fail(r, DAP_ESTALE, "variablesReference is not valid (any more)");
        return;
    }
    r->thread = ref->thread;
    r->level = ref->level;
    kid = json_object_get(ref->kids, name);
    vo = adapter_mi_str(kid, "v");
    expr = adapter_mi_str(kid, "e");
    if (kid == NULL)
        expr = ref->kind == REF_REGS ? NULL : name;
    if (ref->kind == REF_VAROBJ && vo != NULL) {
        MI(r, assign_result, 0, "-var-assign %q %q", vo, value);
        return;
    }
    if (expr == NULL) {
        gdb__fail(r, DAP_ESTATE, "cannot assign to %s: list the variables first",
                  name);
        return;
    }
    frame_opts(r, opts, sizeof(opts));
    new_varobj(g, tmp, sizeof(tmp));
    MI(r, gdb__check_result, 0, "-var-create %s%s * %q", opts, tmp, expr);
    MI(r, assign_result, 0, "-var-assign %s %q", tmp, value);
}

/* ---- memory and disassembly ---- */

static const char b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *hex_to_base64(const char *hex, size_t *nbytes)
{
    size_t n = strlen(hex) / 2;
    unsigned char *bytes = malloc(n + 1);
    char *out = malloc(((n + 2) / 3) * 4 + 1);
    size_t o = 0;
    json_t *j;

    if (bytes == NULL || out == NULL) {
        free(bytes);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            v = 0;
        bytes[i] = (unsigned char)v;
    }
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)bytes[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)bytes[i + 1] << 8;
        if (i + 2 < n)
            v |= bytes[i + 2];
        out[o++] = b64[(v >> 18) & 63];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64[(v >> 6) & 63] : '=';
        out[o++] = i + 2 < n ? b64[v & 63] : '=';
    }
    out[o] = '\0';
    j = json_string(out);
    free(bytes);
    free(out);
    *nbytes = n;
    return j;
}

static void memory_result(struct greq *r, struct adapter_mi_record *rec,
                          long count)
{
    json_t *blk = json_array_get(json_object_get(rec->results, "memory"), 0);
    const char *contents = adapter_mi_str(blk, "contents");
    size_t n = 0;
    json_t *data;

    if (gdb__is_error(rec) || contents == NULL) {
        json_object_set_new(r->x.body, "unreadableBytes", json_integer(count));
        return;
    }
    json_object_set_new(r->x.body, "address",
                        json_string(adapter_mi_str(blk, "begin")));
    data = hex_to_base64(contents, &n);
    if (data != NULL)
        json_object_set_new(r->x.body, "data", data);
    if ((long)n < count)
        json_object_set_new(r->x.body, "unreadableBytes",
                            json_integer(count - (long)n));
}

void gdb__req_read_memory(struct greq *r)
{
    const char *mref = adapter_mi_str(r->x.args, "memoryReference");
    long long off = adapter__arg_int(r->x.args, "offset", -MAX_INDEX * MAX_INDEX,
                                     MAX_INDEX * MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "count", 0, 4 << 20, 0);

    if (mref == NULL) {
        gdb__fail(r, DAP_EINVAL, "readMemory needs memoryReference");
        return;
    }
    json_object_set_new(r->x.body, "address", json_string(mref));
    if (count == 0)
        return;
    MI(r, memory_result, (long)count, "-data-read-memory-bytes -o %l %q %l",
       off, mref, count);
}

/* Instructions of a -data-disassemble answer (mode 5: grouped by source
 * line) appended to `out` as DAP DisassembledInstructions. */
static void insns_append(json_t *out, json_t *res)
{
    json_t *e;
    size_t i;

    json_array_foreach(json_object_get(res, "asm_insns"), i, e)
    {
        json_t *group = json_object_get(e, "line_asm_insn");
        json_t *src = gdb__source_of(e);
        long long line = adapter_mi_int(e, "line", 0);
        json_t *one = json_pack("[O]", e);
        json_t *in;
        size_t k;
        if (group == NULL)
            group = one;
        json_array_foreach(group, k, in)
        {
            const char *fn = adapter_mi_str(in, "func-name");
            json_t *d = json_pack("{s:s, s:s}", "address",
                                  adapter_mi_str(in, "address")
                                      ? adapter_mi_str(in, "address")
                                      : "0x0",
                                  "instruction",
                                  adapter_mi_str(in, "inst")
                                      ? adapter_mi_str(in, "inst")
                                      : "");
            if (adapter_mi_str(in, "opcodes") != NULL)
                json_object_set_new(d, "instructionBytes",
                                    json_string(adapter_mi_str(in,
                                                               "opcodes")));
            if (fn != NULL) {
                char sym[300];
                snprintf(sym, sizeof(sym), "%s+%s", fn,
                         adapter_mi_str(in, "offset")
                             ? adapter_mi_str(in, "offset")
                             : "0");
                json_object_set_new(d, "symbol", json_string(sym));
            }
            if (src != NULL && line > 0) {
                json_object_set_new(d, "location", json_deep_copy(src));
                json_object_set_new(d, "line", json_integer(line));
            }
            json_array_append_new(out, d);
        }
        json_decref(one);
        json_decref(src);
    }
}

static void disasm_before_result(struct greq *r,
                                 struct adapter_mi_record *rec, long arg)
{
    (void)arg;
    if (!gdb__is_error(rec))
        insns_append(json_array_get(r->tmp, 0), rec->results);
}

static void disasm_after_result(struct greq *r, struct adapter_mi_record *rec,
                                long arg)
{
    (void)arg;
    if (gdb__ok(r, rec))
        insns_append(json_array_get(r->tmp, 1), rec->results);
}

static unsigned long long addr_of(json_t *insn)
{
    return strtoull(adapter_mi_str(insn, "address") ?: "0", NULL, 0);
}

static void disasm_finish(struct greq *r)
{
    unsigned long long addr0 = (unsigned long long)r->n1;
    long long ioff = adapter__arg_int(r->x.args, "instructionOffset", -MAX_INDEX,
                                      MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "instructionCount", 0,
                                       MAX_INSNS, 0);
    json_t *all = json_array();
    json_t *out = json_array();
    json_t *e;
    size_t i, idx0;

    json_array_foreach(json_array_get(r->tmp, 0), i, e)
    {
        if (addr_of(e) < addr0)
            json_array_append(all, e);
    }
    idx0 = json_array_size(all);
    json_array_foreach(json_array_get(r->tmp, 1), i, e)
        json_array_append(all, e);
    for (long long k = 0; k < count; k++) {
        long long j = (long long)idx0 + ioff + k;
        if (j >= 0 && (size_t)j < json_array_size(all)) {
            json_array_append(out, json_array_get(all, (size_t)j));
        } else {
            char a[32];
            snprintf(a, sizeof(a), "0x%llx",
                     (unsigned long long)((long long)addr0 + j -
                                          (long long)idx0));
            json_array_append_new(out,
                                  json_pack("{s:s, s:s, s:s}", "address", a,
                                            "instruction", "??",
                                            "presentationHint", "invalid"));
        }
    }
    json_decref(all);
    json_object_set_new(r->x.body, "instructions", out);
}

void gdb__req_disassemble(struct greq *r)
{
    const char *mref = adapter_mi_str(r->x.args, "memoryReference");
    long long off = adapter__arg_int(r->x.args, "offset", -MAX_INDEX * MAX_INDEX,
                                     MAX_INDEX * MAX_INDEX, 0);
    long long ioff = adapter__arg_int(r->x.args, "instructionOffset", -MAX_INDEX,
                                      MAX_INDEX, 0);
    long long count = adapter__arg_int(r->x.args, "instructionCount", 0,
                                       MAX_INSNS, 0);
    unsigned long long addr0;
    long long after;
    char a0[32], a1[32];

    if (mref == NULL || count <= 0) {
        gdb__fail(r, DAP_EINVAL,
                  "disassemble needs memoryReference and instructionCount");
        return;
    }
    addr0 = strtoull(mref, NULL, 0) + (unsigned long long)off;
    r->n1 = (long long)addr0;
    r->tmp = json_pack("[[], []]");
    after = ioff + count;
    snprintf(a0, sizeof(a0), "0x%llx", addr0);
    snprintf(a1, sizeof(a1), "0x%llx",
             addr0 + (unsigned long long)(after > 0 ? after : 1) * 16);
    if (ioff < 0) /* earlier instructions: the function around addr0 */
        MI(r, disasm_before_result, 0, "-data-disassemble -a %s -- 5", a0);
    if (after > 0)
        MI(r, disasm_after_result, 0, "-data-disassemble -s %s -e %s -- 5",
           a0, a1);
    r->finish = disasm_finish;
}

