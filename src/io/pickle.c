/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pickle.c - the subset of Python's pickle that torch.save uses for
 * state_dicts and plain containers: a small VM (reader) and an emitter.
 *
 * Reader: protocol 2-5 opcodes for None/bool/int/float/str, tuples, lists,
 * dicts, the memo, GLOBAL/STACK_GLOBAL limited to an allow-list
 * (collections.OrderedDict, torch._utils._rebuild_tensor(_v2),
 * _rebuild_parameter(_with_state), torch.*Storage), REDUCE on those only,
 * BUILD on dicts (state ignored: OrderedDict._metadata) and BINPERSID for
 * storages (resolved by the caller). Unknown opcodes, disallowed globals,
 * truncation, stack underflow and absurd sizes are errors naming the file
 * and byte offset. Objects live in a struct ic_py_arena (shared objects and
 * even cycles are fine: nothing here recurses on input).
 * Emitter: protocol 2 using only opcodes torch 2.x's weights-only
 * unpickler accepts (BINUNICODE, BININT*, LONG1, BINFLOAT, tuples via TUPLE*,
 * dicts via EMPTY_DICT/SETITEMS, OrderedDict via GLOBAL + REDUCE); torch
 * 1.13's knows all of them but BINFLOAT.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

/* --- objects ------------------------------------------------------------- */

void ic_py_arena_init(struct ic_py_arena *a)
{
    a->objs = NULL;
    a->n = a->cap = 0;
}

void ic_py_arena_free(struct ic_py_arena *a)
{
    for (size_t i = 0; i < a->n; i++) {
        struct ic_py *o = a->objs[i];
        ic_free(o->s);
        ic_free(o->items);
        if (o->t.owned)
            ic_free(o->t.data);
        ic_free(o);
    }
    ic_free(a->objs);
    ic_py_arena_init(a);
}

struct ic_py *ic__py_new(struct ic_py_arena *a, enum ic_py_type type)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->objs = ic_xrealloc(a->objs, a->cap * sizeof *a->objs);
    }
    struct ic_py *o = ic_xcalloc(1, sizeof *o);
    o->type = type;
    a->objs[a->n++] = o;
    return o;
}

struct ic_py *ic_py_none(struct ic_py_arena *a) { return ic__py_new(a, IC_PY_NONE); }

struct ic_py *ic_py_bool(struct ic_py_arena *a, int v)
{
    struct ic_py *o = ic__py_new(a, IC_PY_BOOL);
    o->i = v != 0;
    return o;
}

struct ic_py *ic_py_int(struct ic_py_arena *a, int64_t v)
{
    struct ic_py *o = ic__py_new(a, IC_PY_INT);
    o->i = v;
    return o;
}

struct ic_py *ic_py_float(struct ic_py_arena *a, double v)
{
    struct ic_py *o = ic__py_new(a, IC_PY_FLOAT);
    o->f = v;
    return o;
}

static struct ic_py *py_strn(struct ic_py_arena *a, const char *s, size_t n)
{
    struct ic_py *o = ic__py_new(a, IC_PY_STR);
    o->s = ic_xstrndup(s, n);
    o->slen = n;
    return o;
}

struct ic_py *ic_py_str(struct ic_py_arena *a, const char *s) { return py_strn(a, s, strlen(s)); }
struct ic_py *ic_py_list(struct ic_py_arena *a) { return ic__py_new(a, IC_PY_LIST); }

struct ic_py *ic_py_dict(struct ic_py_arena *a, int ordered)
{
    struct ic_py *o = ic__py_new(a, IC_PY_DICT);
    o->ordered = ordered;
    return o;
}

struct ic_py *ic_py_tensor(struct ic_py_arena *a, const struct ic_tensor *t)
{
    struct ic_py *o = ic__py_new(a, IC_PY_TENSOR);
    o->t = *t;
    o->t.name = NULL;
    o->t.owned = 0;
    return o;
}

static void push_item(struct ic_py *c, struct ic_py *item)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 8;
        c->items = ic_xrealloc(c->items, c->cap * sizeof *c->items);
    }
    c->items[c->n++] = item;
}

void ic_py_append(struct ic_py *list, struct ic_py *item)
{
    IC_ASSERT(list->type == IC_PY_LIST || list->type == IC_PY_TUPLE);
    push_item(list, item);
}

void ic_py_set(struct ic_py *dict, struct ic_py *key, struct ic_py *value)
{
    IC_ASSERT(dict->type == IC_PY_DICT);
    push_item(dict, key);
    push_item(dict, value);
}

void ic_py_set_str(struct ic_py_arena *a, struct ic_py *dict, const char *key, struct ic_py *value)
{
    ic_py_set(dict, ic_py_str(a, key), value);
}

struct ic_py *ic_py_get(const struct ic_py *dict, const char *key)
{
    if (!dict || dict->type != IC_PY_DICT)
        return NULL;
    /* last one wins, as in Python */
    for (size_t k = dict->n / 2; k-- > 0;) {
        const struct ic_py *kk = dict->items[2 * k];
        if (kk->type == IC_PY_STR && strcmp(kk->s, key) == 0)
            return dict->items[2 * k + 1];
    }
    return NULL;
}

/* --- VM ------------------------------------------------------------------ */

#define MEMO_MAX (1u << 20)

struct vm {
    const uint8_t *p;
    size_t len, pos;
    const char *name;
    struct ic_py_arena *a;
    struct ic_py **stack;
    size_t sp, scap;
    size_t *marks;
    size_t nmarks, mcap;
    struct ic_py **memo;
    size_t memo_cap;
    ic__persid_fn persid;
    void *ud;
    size_t budget;
    struct ic_err *err;
    size_t op_at; /* offset of the current opcode, for messages */
};

static int vm_fail(struct vm *v, int code, const char *what)
{
    return ic_errf(v->err, code, "%s: pickle byte %zu: %s", v->name, v->op_at, what);
}

static void vpush(struct vm *v, struct ic_py *o)
{
    if (v->sp == v->scap) {
        v->scap = v->scap ? v->scap * 2 : 64;
        v->stack = ic_xrealloc(v->stack, v->scap * sizeof *v->stack);
    }
    v->stack[v->sp++] = o;
}

static size_t stack_base(const struct vm *v) { return v->nmarks ? v->marks[v->nmarks - 1] : 0; }

static int vpop(struct vm *v, struct ic_py **o)
{
    if (v->sp <= stack_base(v))
        return vm_fail(v, IC_ERR_FORMAT, "stack underflow");
    *o = v->stack[--v->sp];
    return IC_OK;
}

static int vtop(struct vm *v, struct ic_py **o)
{
    if (v->sp <= stack_base(v))
        return vm_fail(v, IC_ERR_FORMAT, "stack underflow");
    *o = v->stack[v->sp - 1];
    return IC_OK;
}

/* Pops the mark: items are stack[*first .. sp). */
static int pop_mark(struct vm *v, size_t *first)
{
    if (!v->nmarks)
        return vm_fail(v, IC_ERR_FORMAT, "no MARK on the stack");
    *first = v->marks[--v->nmarks];
    return IC_OK;
}

static int need(struct vm *v, size_t n)
{
    if (v->len - v->pos < n)
        return vm_fail(v, IC_ERR_FORMAT, "truncated pickle");
    return IC_OK;
}

static int read_line(struct vm *v, const char **s, size_t *n)
{
    const uint8_t *start = v->p + v->pos;
    const uint8_t *nl = memchr(start, '\n', v->len - v->pos);
    if (!nl)
        return vm_fail(v, IC_ERR_FORMAT, "truncated pickle (GLOBAL without newline)");
    *s = (const char *)start;
    *n = (size_t)(nl - start);
    v->pos += *n + 1;
    return IC_OK;
}

static const struct {
    const char *name;
    enum ic_dtype dt;
} storage_types[] = {
    {"FloatStorage", IC_DTYPE_F32}, {"HalfStorage", IC_DTYPE_F16},  {"BFloat16Storage", IC_DTYPE_BF16},
    {"DoubleStorage", IC_DTYPE_F64}, {"LongStorage", IC_DTYPE_I64}, {"IntStorage", IC_DTYPE_I32},
    {"ShortStorage", IC_DTYPE_I16}, {"CharStorage", IC_DTYPE_I8},   {"ByteStorage", IC_DTYPE_U8},
    {"BoolStorage", IC_DTYPE_BOOL},
};

static int make_global(struct vm *v, const char *mod, size_t ml, const char *nm, size_t nl)
{
    char full[256];
    if (ml + nl + 2 > sizeof full)
        return vm_fail(v, IC_ERR_FORMAT, "disallowed global (name too long)");
    memcpy(full, mod, ml);
    full[ml] = '.';
    memcpy(full + ml + 1, nm, nl);
    full[ml + nl + 1] = 0;
    if (strlen(full) != ml + nl + 1)
        return vm_fail(v, IC_ERR_FORMAT, "disallowed global (NUL in name)");
    struct ic_py *o = ic__py_new(v->a, IC_PY_OTHER);
    o->s = ic_xstrdup(full);
    if (strcmp(full, "collections.OrderedDict") == 0)
        o->i = IC__TAG_ORDEREDDICT;
    else if (strcmp(full, "torch._utils._rebuild_tensor_v2") == 0)
        o->i = IC__TAG_REBUILD_V2;
    else if (strcmp(full, "torch._utils._rebuild_tensor") == 0)
        o->i = IC__TAG_REBUILD_V1;
    else if (strcmp(full, "torch._utils._rebuild_parameter") == 0 ||
             strcmp(full, "torch._utils._rebuild_parameter_with_state") == 0)
        o->i = IC__TAG_REBUILD_PARAM;
    else if (ml == 5 && memcmp(mod, "torch", 5) == 0) {
        for (size_t k = 0; k < sizeof storage_types / sizeof *storage_types; k++) {
            if (strcmp(full + 6, storage_types[k].name) == 0) {
                o->i = IC__TAG_STORAGE_TYPE;
                o->t.dtype = storage_types[k].dt;
            }
        }
    }
    if (o->i == IC__TAG_NONE) {
        char msg[300];
        snprintf(msg, sizeof msg, "disallowed global %s", full);
        return vm_fail(v, IC_ERR_FORMAT, msg);
    }
    vpush(v, o);
    return IC_OK;
}

static int is_int(const struct ic_py *o) { return o->type == IC_PY_INT || o->type == IC_PY_BOOL; }

/* Rebuilds a tensor as a contiguous copy of a (possibly strided) view. */
static int rebuild_tensor(struct vm *v, struct ic_py *args, int nfixed, struct ic_py **out)
{
    if (args->type != IC_PY_TUPLE || args->n < (size_t)nfixed)
        return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: bad arguments");
    struct ic_py *st = args->items[0], *off = args->items[1], *size = args->items[2],
                 *stride = args->items[3];
    if (st->type != IC_PY_OTHER || st->i != IC__TAG_STORAGE)
        return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: first argument is not a storage");
    if (!is_int(off) || off->i < 0 || size->type != IC_PY_TUPLE || stride->type != IC_PY_TUPLE ||
        size->n != stride->n)
        return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: bad offset, size or stride");
    if (size->n > IC_TENSOR_MAX_DIMS)
        return vm_fail(v, IC_ERR_UNSUPPORTED, "_rebuild_tensor: too many dimensions");
    int nd = (int)size->n;
    uint64_t snumel = (uint64_t)st->t.shape[0];
    size_t es = ic_dtype_size(st->t.dtype);
    int64_t shape[IC_TENSOR_MAX_DIMS], strides[IC_TENSOR_MAX_DIMS];
    uint64_t numel = 1, maxidx = (uint64_t)off->i;
    for (int d = 0; d < nd; d++) {
        if (!is_int(size->items[d]) || !is_int(stride->items[d]) || size->items[d]->i < 0 ||
            stride->items[d]->i < 0)
            return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: negative or non-integer size/stride");
        shape[d] = size->items[d]->i;
        strides[d] = stride->items[d]->i;
    }
    for (int d = 0; d < nd; d++) {
        if (shape[d] == 0) {
            numel = 0;
            break;
        }
        if ((uint64_t)shape[d] > v->budget || numel > v->budget / (uint64_t)shape[d])
            return vm_fail(v, IC_ERR_RANGE, "_rebuild_tensor: tensor size is absurd");
        numel *= (uint64_t)shape[d];
        uint64_t span = (uint64_t)(shape[d] - 1);
        if ((uint64_t)strides[d] > snumel || (span && (uint64_t)strides[d] > snumel / span))
            return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: view out of the storage's range");
        maxidx += span * (uint64_t)strides[d];
        if (maxidx > snumel)
            return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: view out of the storage's range");
    }
    if (numel > 0 && maxidx >= snumel)
        return vm_fail(v, IC_ERR_FORMAT, "_rebuild_tensor: view out of the storage's range");
    struct ic_py *o;
    if (!st->t.data) { /* placeholder storage: shape only */
        o = ic__py_new(v->a, IC_PY_TENSOR);
        o->t.dtype = st->t.dtype;
        o->t.ndim = nd;
        for (int d = 0; d < nd; d++)
            o->t.shape[d] = shape[d];
        *out = o;
        return IC_OK;
    }
    if (numel * es > v->budget)
        return vm_fail(v, IC_ERR_RANGE,
                       "tensors need more memory than the file size allows (absurd sizes)");
    v->budget -= numel * es;
    o = ic__py_new(v->a, IC_PY_TENSOR);
    o->t.dtype = st->t.dtype;
    o->t.ndim = nd;
    for (int d = 0; d < nd; d++)
        o->t.shape[d] = shape[d];
    o->t.nbytes = (size_t)(numel * es);
    o->t.data = ic_xmalloc(o->t.nbytes ? o->t.nbytes : 1);
    o->t.owned = 1;
    const uint8_t *src = (const uint8_t *)st->t.data;
    uint8_t *dst = o->t.data;
    if (numel) {
        /* contiguous? then one memcpy */
        int contig = 1;
        int64_t expect = 1;
        for (int d = nd - 1; d >= 0; d--) {
            if (shape[d] != 1 && strides[d] != expect)
                contig = 0;
            expect *= shape[d];
        }
        if (contig) {
            memcpy(dst, src + (size_t)off->i * es, o->t.nbytes);
        } else {
            int64_t idx[IC_TENSOR_MAX_DIMS] = {0};
            for (uint64_t k = 0; k < numel; k++) {
                uint64_t at = (uint64_t)off->i;
                for (int d = 0; d < nd; d++)
                    at += (uint64_t)idx[d] * (uint64_t)strides[d];
                memcpy(dst + k * es, src + at * es, es);
                for (int d = nd - 1; d >= 0; d--) {
                    if (++idx[d] < shape[d])
                        break;
                    idx[d] = 0;
                }
            }
        }
    }
    *out = o;
    return IC_OK;
}

static int do_reduce(struct vm *v)
{
    struct ic_py *args = NULL, *fn = NULL;
    int rc = vpop(v, &args);
    if (rc == IC_OK)
        rc = vpop(v, &fn);
    if (rc)
        return rc;
    if (args->type != IC_PY_TUPLE)
        return vm_fail(v, IC_ERR_FORMAT, "REDUCE arguments are not a tuple");
    if (fn->type != IC_PY_OTHER)
        return vm_fail(v, IC_ERR_FORMAT, "REDUCE on a non-callable");
    struct ic_py *res = NULL;
    switch (fn->i) {
    case IC__TAG_ORDEREDDICT:
        if (args->n != 0)
            return vm_fail(v, IC_ERR_UNSUPPORTED, "OrderedDict() with arguments");
        res = ic_py_dict(v->a, 1);
        break;
    case IC__TAG_REBUILD_V2:
        rc = rebuild_tensor(v, args, 6, &res);
        break;
    case IC__TAG_REBUILD_V1:
        rc = rebuild_tensor(v, args, 4, &res);
        break;
    case IC__TAG_REBUILD_PARAM:
        if (args->n < 1 || args->items[0]->type != IC_PY_TENSOR)
            return vm_fail(v, IC_ERR_FORMAT, "_rebuild_parameter: first argument is not a tensor");
        res = args->items[0];
        break;
    default: {
        char msg[300];
        snprintf(msg, sizeof msg, "REDUCE on disallowed callable %s", fn->s ? fn->s : "?");
        return vm_fail(v, IC_ERR_FORMAT, msg);
    }
    }
    if (rc)
        return rc;
    vpush(v, res);
    return IC_OK;
}

static int memo_put(struct vm *v, uint64_t idx)
{
    struct ic_py *o;
    int rc = vtop(v, &o);
    if (rc)
        return rc;
    if (idx >= MEMO_MAX)
        return vm_fail(v, IC_ERR_RANGE, "memo index too large");
    if (idx >= v->memo_cap) {
        size_t nc = v->memo_cap ? v->memo_cap : 64;
        while (nc <= idx)
            nc *= 2;
        v->memo = ic_xrealloc(v->memo, nc * sizeof *v->memo);
        memset(v->memo + v->memo_cap, 0, (nc - v->memo_cap) * sizeof *v->memo);
        v->memo_cap = nc;
    }
    v->memo[idx] = o;
    return IC_OK;
}

static int memo_get(struct vm *v, uint64_t idx)
{
    if (idx >= v->memo_cap || !v->memo[idx])
        return vm_fail(v, IC_ERR_FORMAT, "memo key not found");
    vpush(v, v->memo[idx]);
    return IC_OK;
}

static int add_items(struct vm *v, struct ic_py *c, size_t first, int pairs)
{
    size_t n = v->sp - first;
    if (pairs && (n % 2))
        return vm_fail(v, IC_ERR_FORMAT, "SETITEMS with an odd number of items");
    for (size_t i = first; i < v->sp; i++)
        push_item(c, v->stack[i]);
    v->sp = first;
    return IC_OK;
}

/* The interpreter is split by opcode group: each op_* function returns
 * IC_OK, an error status, or OP_NOT_MINE when op belongs to another group. */
#define OP_NOT_MINE (-1)

static int read_long1(struct vm *v)
{
    int rc = need(v, 1);
    if (rc)
        return rc;
    size_t n = v->p[v->pos++];
    rc = need(v, n);
    if (rc)
        return rc;
    if (n > 8)
        return vm_fail(v, IC_ERR_RANGE, "integer wider than 64 bits");
    uint64_t u = 0;
    for (size_t i = 0; i < n; i++)
        u |= (uint64_t)v->p[v->pos + i] << (8 * i);
    if (n > 0 && n < 8 && (v->p[v->pos + n - 1] & 0x80))
        u |= ~(uint64_t)0 << (8 * n); /* sign-extend */
    v->pos += n;
    vpush(v, ic_py_int(v->a, (int64_t)u));
    return IC_OK;
}

static int read_binfloat(struct vm *v) /* big-endian double */
{
    int rc = need(v, 8);
    if (rc)
        return rc;
    uint64_t u = 0;
    for (int i = 0; i < 8; i++)
        u = (u << 8) | v->p[v->pos + i];
    double d;
    memcpy(&d, &u, 8);
    v->pos += 8;
    vpush(v, ic_py_float(v->a, d));
    return IC_OK;
}

static int read_string(struct vm *v, uint8_t op)
{
    size_t hl = op == 'X' ? 4 : 1;
    int rc = need(v, hl);
    if (rc)
        return rc;
    size_t n = op == 'X' ? ic__rd32(v->p + v->pos) : v->p[v->pos];
    v->pos += hl;
    rc = need(v, n);
    if (rc)
        return rc;
    size_t bad;
    if (!ic_utf8_valid((const char *)v->p + v->pos, n, &bad))
        return vm_fail(v, IC_ERR_FORMAT, "string is not valid UTF-8");
    vpush(v, py_strn(v->a, (const char *)v->p + v->pos, n));
    v->pos += n;
    return IC_OK;
}

/* Fixed-width operand: advances past it after a bounds check. */
static int operand(struct vm *v, size_t n, uint64_t *val)
{
    int rc = need(v, n);
    if (rc)
        return rc;
    *val = n == 1 ? v->p[v->pos] : n == 2 ? ic__rd16(v->p + v->pos) : ic__rd32(v->p + v->pos);
    v->pos += n;
    return IC_OK;
}

/* Literals: protocol and frame headers, None, bools, ints, floats, strings. */
static int op_literal(struct vm *v, uint8_t op)
{
    uint64_t x = 0;
    int rc;
    switch (op) {
    case 0x80: /* PROTO */
        rc = operand(v, 1, &x);
        return rc ? rc : x > 5 ? vm_fail(v, IC_ERR_UNSUPPORTED, "pickle protocol above 5") : IC_OK;
    case 0x95: /* FRAME: length, ignored */
        rc = need(v, 8);
        if (!rc)
            v->pos += 8;
        return rc;
    case 'N': vpush(v, ic_py_none(v->a)); return IC_OK;
    case 0x88: vpush(v, ic_py_bool(v->a, 1)); return IC_OK;
    case 0x89: vpush(v, ic_py_bool(v->a, 0)); return IC_OK;
    case 'J': /* BININT */
        rc = operand(v, 4, &x);
        if (!rc)
            vpush(v, ic_py_int(v->a, (int32_t)(uint32_t)x));
        return rc;
    case 'K': /* BININT1 */
    case 'M': /* BININT2 */
        rc = operand(v, op == 'K' ? 1 : 2, &x);
        if (!rc)
            vpush(v, ic_py_int(v->a, (int64_t)x));
        return rc;
    case 0x8a: return read_long1(v);
    case 'G': return read_binfloat(v);
    case 'X':   /* BINUNICODE */
    case 0x8c:  /* SHORT_BINUNICODE */
    case 'U':   /* SHORT_BINSTRING */
        return read_string(v, op);
    default:
        return OP_NOT_MINE;
    }
}

/* Stack and memo: MARK, POP, POP_MARK, DUP, PUT/GET variants, MEMOIZE. */
static int op_stack(struct vm *v, uint8_t op)
{
    struct ic_py *o = NULL;
    size_t first = 0;
    uint64_t x = 0;
    int rc;
    switch (op) {
    case '(': /* MARK */
        if (v->nmarks == v->mcap) {
            v->mcap = v->mcap ? v->mcap * 2 : 16;
            v->marks = ic_xrealloc(v->marks, v->mcap * sizeof *v->marks);
        }
        v->marks[v->nmarks++] = v->sp;
        return IC_OK;
    case '0': return vpop(v, &o); /* POP */
    case '1': /* POP_MARK */
        rc = pop_mark(v, &first);
        if (!rc)
            v->sp = first;
        return rc;
    case '2': /* DUP */
        rc = vtop(v, &o);
        if (!rc)
            vpush(v, o);
        return rc;
    case 'q': /* BINPUT */
    case 'r': /* LONG_BINPUT */
        rc = operand(v, op == 'q' ? 1 : 4, &x);
        return rc ? rc : memo_put(v, x);
    case 0x94: /* MEMOIZE: next free index */
        while (x < v->memo_cap && v->memo[x])
            x++;
        return memo_put(v, x);
    case 'h': /* BINGET */
    case 'j': /* LONG_BINGET */
        rc = operand(v, op == 'h' ? 1 : 4, &x);
        return rc ? rc : memo_get(v, x);
    default:
        return OP_NOT_MINE;
    }
}

/* TUPLE1..3: the top n items become a tuple. */
static int make_small_tuple(struct vm *v, size_t n)
{
    if (v->sp < stack_base(v) + n)
        return vm_fail(v, IC_ERR_FORMAT, "stack underflow");
    struct ic_py *o = ic__py_new(v->a, IC_PY_TUPLE);
    int rc = add_items(v, o, v->sp - n, 0);
    if (!rc)
        vpush(v, o);
    return rc;
}

/* TUPLE, LIST, DICT: the items since the last mark become a container. */
static int make_marked(struct vm *v, uint8_t op)
{
    size_t first = 0;
    int rc = pop_mark(v, &first);
    if (rc)
        return rc;
    struct ic_py *o = op == 't' ? ic__py_new(v->a, IC_PY_TUPLE)
                      : op == 'l' ? ic_py_list(v->a) : ic_py_dict(v->a, 0);
    rc = add_items(v, o, first, op == 'd');
    if (!rc)
        vpush(v, o);
    return rc;
}

/* APPENDS, SETITEMS: the items since the last mark go into the container
 * below the mark. */
static int extend_marked(struct vm *v, uint8_t op)
{
    size_t first = 0;
    int rc = pop_mark(v, &first);
    if (rc)
        return rc;
    if (first <= stack_base(v))
        return vm_fail(v, IC_ERR_FORMAT, "stack underflow");
    struct ic_py *o = v->stack[first - 1];
    if ((op == 'e' && o->type != IC_PY_LIST) || (op == 'u' && o->type != IC_PY_DICT))
        return vm_fail(v, IC_ERR_FORMAT, op == 'e' ? "APPENDS to a non-list" : "SETITEMS on a non-dict");
    return add_items(v, o, first, op == 'u');
}

/* APPEND and SETITEM: one item (or key, value) into the container below. */
static int insert_one(struct vm *v, uint8_t op)
{
    struct ic_py *o = NULL, *k = NULL, *val = NULL;
    int rc = op == 's' ? vpop(v, &val) : IC_OK;
    if (!rc)
        rc = vpop(v, &k);
    if (!rc)
        rc = vtop(v, &o);
    if (rc)
        return rc;
    if (op == 'a' && o->type != IC_PY_LIST)
        return vm_fail(v, IC_ERR_FORMAT, "APPEND to a non-list");
    if (op == 's' && o->type != IC_PY_DICT)
        return vm_fail(v, IC_ERR_FORMAT, "SETITEM on a non-dict");
    push_item(o, k);
    if (val)
        push_item(o, val);
    return IC_OK;
}

static int empty_container(struct vm *v, uint8_t op)
{
    vpush(v, op == ')' ? ic__py_new(v->a, IC_PY_TUPLE) : op == ']' ? ic_py_list(v->a) : ic_py_dict(v->a, 0));
    return IC_OK;
}

/* Containers: empty ones, marked ones, TUPLE1..3, APPEND(S), SETITEM(S). */
static int op_container(struct vm *v, uint8_t op)
{
    switch (op) {
    case ')': case ']': case '}': return empty_container(v, op);
    case 't': case 'l': case 'd': return make_marked(v, op);
    case 0x85: case 0x86: case 0x87: return make_small_tuple(v, (size_t)(op - 0x84));
    case 'e': case 'u': return extend_marked(v, op);
    case 'a': case 's': return insert_one(v, op);
    default: return OP_NOT_MINE;
    }
}

static int stack_global(struct vm *v)
{
    struct ic_py *mod = NULL, *nm = NULL;
    int rc = vpop(v, &nm);
    if (!rc)
        rc = vpop(v, &mod);
    if (rc)
        return rc;
    if (mod->type != IC_PY_STR || nm->type != IC_PY_STR)
        return vm_fail(v, IC_ERR_FORMAT, "STACK_GLOBAL on non-strings");
    return make_global(v, mod->s, mod->slen, nm->s, nm->slen);
}

static int text_global(struct vm *v)
{
    const char *m, *nm;
    size_t ml, nl;
    int rc = read_line(v, &m, &ml);
    if (!rc)
        rc = read_line(v, &nm, &nl);
    return rc ? rc : make_global(v, m, ml, nm, nl);
}

/* BUILD: only dict state on dicts (OrderedDict._metadata) and tensors. */
static int build_state(struct vm *v)
{
    struct ic_py *o = NULL, *state = NULL;
    int rc = vpop(v, &state);
    if (!rc)
        rc = vtop(v, &o);
    if (rc)
        return rc;
    if (o->type != IC_PY_DICT && o->type != IC_PY_TENSOR)
        return vm_fail(v, IC_ERR_FORMAT, "BUILD on an object that is not a dict or tensor");
    return IC_OK;
}

static int persistent_ref(struct vm *v)
{
    struct ic_py *o = NULL, *obj = NULL;
    int rc = vpop(v, &o);
    if (rc)
        return rc;
    if (!v->persid || o->type != IC_PY_TUPLE || o->n < 5 || o->items[0]->type != IC_PY_STR ||
        strcmp(o->items[0]->s, "storage") != 0)
        return vm_fail(v, IC_ERR_FORMAT, "persistent id is not a storage reference");
    rc = v->persid(v->ud, o, &obj, v->err);
    if (rc) {
        ic_err_prefix(v->err, "%s: pickle byte %zu", v->name, v->op_at);
        return rc;
    }
    vpush(v, obj);
    return IC_OK;
}

/* Objects: GLOBAL, STACK_GLOBAL, REDUCE, BUILD, BINPERSID. */
static int op_object(struct vm *v, uint8_t op)
{
    switch (op) {
    case 'c': return text_global(v);
    case 0x93: return stack_global(v);
    case 'R': return do_reduce(v);
    case 'b': return build_state(v);
    case 'Q': return persistent_ref(v);
    default: return OP_NOT_MINE;
    }
}

static int run_op(struct vm *v, uint8_t op)
{
    int rc = op_literal(v, op);
    if (rc == OP_NOT_MINE)
        rc = op_stack(v, op);
    if (rc == OP_NOT_MINE)
        rc = op_container(v, op);
    if (rc == OP_NOT_MINE)
        rc = op_object(v, op);
    if (rc == OP_NOT_MINE) {
        char msg[64];
        snprintf(msg, sizeof msg, "unknown or unsupported pickle opcode 0x%02x", op);
        rc = vm_fail(v, IC_ERR_FORMAT, msg);
    }
    return rc;
}

int ic__unpickle(const uint8_t *data, size_t len, const char *name, struct ic_py_arena *a,
                 ic__persid_fn persid, void *ud, size_t tensor_budget, struct ic_py **root,
                 size_t *consumed, struct ic_err *err)
{
    struct vm v;
    memset(&v, 0, sizeof v);
    v.p = data;
    v.len = len;
    v.name = name ? name : "<pickle>";
    v.a = a;
    v.persid = persid;
    v.ud = ud;
    v.budget = tensor_budget;
    v.err = err;
    *root = NULL;
    int rc = IC_OK;
    for (;;) {
        v.op_at = v.pos;
        if (v.pos >= v.len) {
            rc = vm_fail(&v, IC_ERR_FORMAT, "truncated pickle (no STOP)");
            break;
        }
        uint8_t op = v.p[v.pos++];
        if (op == '.') { /* STOP */
            struct ic_py *o = NULL;
            rc = vpop(&v, &o);
            if (!rc) {
                *root = o;
                if (consumed)
                    *consumed = v.pos;
            }
            break;
        }
        rc = run_op(&v, op);
        if (rc)
            break;
    }
    ic_free(v.stack);
    ic_free(v.marks);
    ic_free(v.memo);
    return rc;
}

/* --- emitter ------------------------------------------------------------- */

struct em {
    struct ic_buf *b;
    struct ic_tensors *storages;
    int memo_n;
    int g_od, g_rebuild, g_storage[IC_DTYPE_COUNT]; /* memo index + 1, 0 = not yet */
    int rc;
    struct ic_err *err;
};

static void put(struct em *e, const void *p, size_t n)
{
    if (!e->rc && ic_buf_append(e->b, p, n))
        e->rc = ic_errf(e->err, IC_ERR_RANGE, "pickle: output too large");
}

static void put1(struct em *e, uint8_t c) { put(e, &c, 1); }

static void put_memo(struct em *e, int *slot)
{
    /* BINPUT / LONG_BINPUT the object on top, remember its index */
    int idx = e->memo_n++;
    *slot = idx + 1;
    if (idx < 256) {
        uint8_t b[2] = {'q', (uint8_t)idx};
        put(e, b, 2);
    } else {
        uint8_t b[5] = {'r'};
        ic__wr32(b + 1, (uint32_t)idx);
        put(e, b, 5);
    }
}

static void put_get(struct em *e, int slot)
{
    int idx = slot - 1;
    if (idx < 256) {
        uint8_t b[2] = {'h', (uint8_t)idx};
        put(e, b, 2);
    } else {
        uint8_t b[5] = {'j'};
        ic__wr32(b + 1, (uint32_t)idx);
        put(e, b, 5);
    }
}

static void put_global(struct em *e, const char *mod, const char *name, int *slot)
{
    if (*slot) {
        put_get(e, *slot);
        return;
    }
    put1(e, 'c');
    put(e, mod, strlen(mod));
    put1(e, '\n');
    put(e, name, strlen(name));
    put1(e, '\n');
    put_memo(e, slot);
}

static void put_str(struct em *e, const char *s, size_t n)
{
    uint8_t h[5] = {'X'};
    ic__wr32(h + 1, (uint32_t)n);
    put(e, h, 5);
    put(e, s, n);
}

static void put_int(struct em *e, int64_t v)
{
    uint8_t b[10];
    if (v >= 0 && v < 256) {
        b[0] = 'K';
        b[1] = (uint8_t)v;
        put(e, b, 2);
    } else if (v >= 0 && v < 65536) {
        b[0] = 'M';
        ic__wr16(b + 1, (uint16_t)v);
        put(e, b, 3);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        b[0] = 'J';
        ic__wr32(b + 1, (uint32_t)(int32_t)v);
        put(e, b, 5);
    } else {
        /* LONG1: minimal two's-complement little-endian bytes */
        uint64_t u = (uint64_t)v;
        int n = 8;
        while (n > 1) {
            uint8_t top = (uint8_t)(u >> (8 * (n - 1)));
            uint8_t next = (uint8_t)(u >> (8 * (n - 2)));
            if ((top == 0 && !(next & 0x80)) || (top == 0xff && (next & 0x80)))
                n--;
            else
                break;
        }
        b[0] = 0x8a;
        b[1] = (uint8_t)n;
        for (int i = 0; i < n; i++)
            b[2 + i] = (uint8_t)(u >> (8 * i));
        put(e, b, (size_t)n + 2);
    }
}

static void put_float(struct em *e, double d)
{
    /* BINFLOAT: the IEEE-754 double, big-endian */
    uint8_t b[9] = {'G'};
    uint64_t u;
    memcpy(&u, &d, 8);
    for (int i = 0; i < 8; i++)
        b[1 + i] = (uint8_t)(u >> (56 - 8 * i));
    put(e, b, 9);
}

static void put_tuple_ints(struct em *e, const int64_t *v, int n)
{
    if (n == 0) {
        put1(e, ')');
        return;
    }
    if (n > 3)
        put1(e, '(');
    for (int i = 0; i < n; i++)
        put_int(e, v[i]);
    put1(e, n == 1 ? 0x85 : n == 2 ? 0x86 : n == 3 ? 0x87 : 't');
}

static const char *storage_name(enum ic_dtype dt)
{
    for (size_t k = 0; k < sizeof storage_types / sizeof *storage_types; k++)
        if (storage_types[k].dt == dt)
            return storage_types[k].name;
    return NULL;
}

static void put_tensor(struct em *e, const struct ic_py *o)
{
    const struct ic_tensor *t = &o->t;
    const char *sn = storage_name(t->dtype);
    if (!sn) {
        if (!e->rc)
            e->rc = ic_errf(e->err, IC_ERR_UNSUPPORTED, "pickle: dtype %s cannot be saved",
                            ic_dtype_name(t->dtype));
        return;
    }
    size_t key = e->storages->n;
    ic_tensors_add(e->storages, "", t->dtype, t->ndim, t->shape, t->data, 0);
    char keys[32];
    snprintf(keys, sizeof keys, "%zu", key);
    put_global(e, "torch._utils", "_rebuild_tensor_v2", &e->g_rebuild);
    put1(e, '(');
    /* persistent id ('storage', torch.XStorage, key, 'cpu', numel) */
    put1(e, '(');
    put_str(e, "storage", 7);
    put_global(e, "torch", sn, &e->g_storage[t->dtype]);
    put_str(e, keys, strlen(keys));
    put_str(e, "cpu", 3);
    put_int(e, ic_tensor_numel(t));
    put1(e, 't');
    put1(e, 'Q');
    put_int(e, 0); /* storage offset */
    int64_t stride[IC_TENSOR_MAX_DIMS];
    int64_t acc = 1;
    for (int d = t->ndim - 1; d >= 0; d--) {
        stride[d] = acc;
        acc *= t->shape[d];
    }
    put_tuple_ints(e, t->shape, t->ndim);
    put_tuple_ints(e, stride, t->ndim);
    put1(e, 0x89); /* requires_grad False */
    put_global(e, "collections", "OrderedDict", &e->g_od);
    put1(e, ')');
    put1(e, 'R'); /* backward hooks: OrderedDict() */
    put1(e, 't');
    put1(e, 'R');
}

static void dump(struct em *e, const struct ic_py *o, int depth)
{
    if (e->rc)
        return;
    if (depth > 64) {
        e->rc = ic_errf(e->err, IC_ERR_INVAL, "pickle: object nested too deeply (a cycle?)");
        return;
    }
    switch (o->type) {
    case IC_PY_NONE:
        put1(e, 'N');
        break;
    case IC_PY_BOOL:
        put1(e, o->i ? 0x88 : 0x89);
        break;
    case IC_PY_INT:
        put_int(e, o->i);
        break;
    case IC_PY_FLOAT:
        put_float(e, o->f);
        break;
    case IC_PY_STR:
        put_str(e, o->s, o->slen);
        break;
    case IC_PY_LIST:
        put1(e, ']');
        if (o->n) {
            put1(e, '(');
            for (size_t i = 0; i < o->n; i++)
                dump(e, o->items[i], depth + 1);
            put1(e, 'e');
        }
        break;
    case IC_PY_TUPLE:
        if (o->n == 0) {
            put1(e, ')');
            break;
        }
        if (o->n > 3)
            put1(e, '(');
        for (size_t i = 0; i < o->n; i++)
            dump(e, o->items[i], depth + 1);
        put1(e, o->n == 1 ? 0x85 : o->n == 2 ? 0x86 : o->n == 3 ? 0x87 : 't');
        break;
    case IC_PY_DICT:
        if (o->ordered) {
            put_global(e, "collections", "OrderedDict", &e->g_od);
            put1(e, ')');
            put1(e, 'R');
        } else {
            put1(e, '}');
        }
        if (o->n) {
            put1(e, '(');
            for (size_t i = 0; i < o->n; i++)
                dump(e, o->items[i], depth + 1);
            put1(e, 'u');
        }
        break;
    case IC_PY_TENSOR:
        put_tensor(e, o);
        break;
    default:
        e->rc = ic_errf(e->err, IC_ERR_UNSUPPORTED, "pickle: cannot save this object type");
    }
}

int ic__pickle_dump(const struct ic_py *root, struct ic_buf *out, struct ic_tensors *storages,
                    struct ic_err *err)
{
    struct em e;
    memset(&e, 0, sizeof e);
    e.b = out;
    e.storages = storages;
    e.err = err;
    uint8_t proto[2] = {0x80, 2};
    put(&e, proto, 2);
    dump(&e, root, 0);
    put1(&e, '.');
    return e.rc;
}
