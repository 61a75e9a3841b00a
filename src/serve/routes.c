/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - JSON request validation and response bodies for the HTTP API
 * (see routes.h). Parsing is jansson's; this file only reproduces FastAPI /
 * pydantic 1's validation rules and error shapes on top of it. Every size
 * here is bounded by the body limit the server enforces before calling in.
 */
#include "serve/routes.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Appends a string literal (its length known at compile time). */
#define buf_lit(b, lit) ic_buf_append((b), (lit), sizeof(lit) - 1)

void ic__req_init(struct ic__req *r)
{
    memset(r, 0, sizeof *r);
    ic_buf_init(&r->coerced, 0);
}

void ic__req_free(struct ic__req *r)
{
    if (r->root)
        json_decref((json_t *)r->root);
    ic_free(r->texts);
    ic_free(r->lens);
    ic_free(r->coerced_off);
    ic_buf_free(&r->coerced);
    memset(r, 0, sizeof *r);
}

void ic__req_release_tree(struct ic__req *r)
{
    if (r->root)
        json_decref((json_t *)r->root);
    r->root = NULL;
    r->n = 0;
}

static void req_reserve(struct ic__req *r, size_t n)
{
    if (n <= r->cap)
        return;
    size_t cap = r->cap ? r->cap : 16;
    while (cap < n)
        cap *= 2;
    r->texts = ic_xrealloc(r->texts, cap * sizeof *r->texts);
    r->lens = ic_xrealloc(r->lens, cap * sizeof *r->lens);
    r->coerced_off = ic_xrealloc(r->coerced_off, cap * sizeof *r->coerced_off);
    r->cap = cap;
}

char *ic__py_float_repr(double v, char *buf)
{
    if (isnan(v)) {
        snprintf(buf, 40, "nan");
        return buf;
    }
    if (isinf(v)) {
        snprintf(buf, 40, v < 0 ? "-inf" : "inf");
        return buf;
    }
    /* Shortest round-trip digits, then Python's repr layout: positional for
     * decimal exponents in [-4, 16), scientific otherwise. */
    char e[40];
    int prec = 1;
    for (; prec <= 17; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, v);
        if (strtod(e, NULL) == v)
            break;
    }
    char digits[24];
    int nd = 0, neg = 0;
    const char *p = e;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    for (; *p && *p != 'e'; p++)
        if (isdigit((unsigned char)*p) && nd < 20)
            digits[nd++] = *p;
    int x = *p == 'e' ? (int)strtol(p + 1, NULL, 10) : 0;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = 0;
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (x >= -4 && x < 16) {
        if (x < 0) {
            *o++ = '0';
            *o++ = '.';
            for (int i = 0; i < -x - 1; i++)
                *o++ = '0';
            for (int i = 0; i < nd; i++)
                *o++ = digits[i];
        } else {
            for (int i = 0; i <= x; i++)
                *o++ = i < nd ? digits[i] : '0';
            *o++ = '.';
            if (nd > x + 1)
                for (int i = x + 1; i < nd; i++)
                    *o++ = digits[i];
            else
                *o++ = '0';
        }
        *o = 0;
    } else {
        *o++ = digits[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++)
                *o++ = digits[i];
        }
        snprintf(o, 16, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    }
    return buf;
}

/* --- error list ----------------------------------------------------------- */

/* What went wrong with one value; each kind has a pydantic 1 (FastAPI 0.9x)
 * and a pydantic 2 (current FastAPI) wording. */
enum verr_kind {
    VE_MISSING,    /* field (or the whole body) absent */
    VE_NONE_STR,   /* null where a string belongs */
    VE_NONE_LIST,  /* null where a list belongs */
    VE_STR_TYPE,   /* not a string */
    VE_DICT_TYPE,  /* the body is not an object */
    VE_LIST_TYPE,  /* not a list */
    VE_INT_PARSE,  /* a string that is not an integer */
    VE_INT_FLOAT,  /* a number with a fractional part (pydantic 2 only) */
    VE_INT_TYPE,   /* neither number nor string */
    VE_GE0,        /* negative */
    VE_MIN_LEN1,   /* empty string */
    VE_MAX_ITEMS,  /* list longer than arg */
};

struct errs {
    struct ic_buf *b;
    int n;
    int style;
};

/* The pydantic 2 "input": the offending value as compact JSON (FastAPI's
 * JSONResponse writes separators (",", ":") and keeps non-ASCII text). */
static int put_input(struct ic_buf *b, const json_t *input)
{
    if (!input)
        return buf_lit(b, "null");
    char *s = json_dumps(input, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!s)
        return buf_lit(b, "null");
    int rc = ic_buf_append(b, s, strlen(s));
    free(s);
    return rc;
}

static int put_loc(struct ic_buf *b, const char *field, long index)
{
    int rc = buf_lit(b, "[\"body\"");
    if (field) {
        rc |= buf_lit(b, ",");
        rc |= ic_buf_json_str(b, field, strlen(field));
    }
    if (index >= 0)
        rc |= ic_buf_printf(b, ",%ld", index);
    return rc | buf_lit(b, "]");
}

static void legacy_words(enum verr_kind k, long arg, const char **msg, const char **type,
                         char *ctx, size_t ctx_n, char *mbuf, size_t mbuf_n)
{
    *ctx = 0;
    switch (k) {
    case VE_MISSING: *msg = "field required"; *type = "value_error.missing"; break;
    case VE_NONE_STR:
    case VE_NONE_LIST:
        *msg = "none is not an allowed value";
        *type = "type_error.none.not_allowed";
        break;
    case VE_STR_TYPE: *msg = "str type expected"; *type = "type_error.str"; break;
    case VE_DICT_TYPE: *msg = "value is not a valid dict"; *type = "type_error.dict"; break;
    case VE_LIST_TYPE: *msg = "value is not a valid list"; *type = "type_error.list"; break;
    case VE_INT_PARSE:
    case VE_INT_FLOAT:
    case VE_INT_TYPE:
        *msg = "value is not a valid integer";
        *type = "type_error.integer";
        break;
    case VE_GE0:
        *msg = "ensure this value is greater than or equal to 0";
        *type = "value_error.number.not_ge";
        snprintf(ctx, ctx_n, "{\"limit_value\":0}");
        break;
    case VE_MIN_LEN1:
        *msg = "ensure this value has at least 1 characters";
        *type = "value_error.any_str.min_length";
        snprintf(ctx, ctx_n, "{\"limit_value\":1}");
        break;
    case VE_MAX_ITEMS:
        snprintf(mbuf, mbuf_n, "ensure this value has at most %ld items", arg);
        *msg = mbuf;
        *type = "value_error.list.max_items";
        snprintf(ctx, ctx_n, "{\"limit_value\":%ld}", arg);
        break;
    }
}

static void v2_words(enum verr_kind k, long arg, long actual, const char **msg, const char **type,
                     char *ctx, size_t ctx_n, char *mbuf, size_t mbuf_n)
{
    *ctx = 0;
    switch (k) {
    case VE_MISSING: *msg = "Field required"; *type = "missing"; break;
    case VE_NONE_STR:
    case VE_STR_TYPE: *msg = "Input should be a valid string"; *type = "string_type"; break;
    case VE_DICT_TYPE:
        *msg = "Input should be a valid dictionary or object to extract fields from";
        *type = "model_attributes_type";
        break;
    case VE_NONE_LIST:
    case VE_LIST_TYPE: *msg = "Input should be a valid list"; *type = "list_type"; break;
    case VE_INT_PARSE:
        *msg = "Input should be a valid integer, unable to parse string as an integer";
        *type = "int_parsing";
        break;
    case VE_INT_FLOAT:
        *msg = "Input should be a valid integer, got a number with a fractional part";
        *type = "int_from_float";
        break;
    case VE_INT_TYPE: *msg = "Input should be a valid integer"; *type = "int_type"; break;
    case VE_GE0:
        *msg = "Input should be greater than or equal to 0";
        *type = "greater_than_equal";
        snprintf(ctx, ctx_n, "{\"ge\":0}");
        break;
    case VE_MIN_LEN1:
        *msg = "String should have at least 1 character";
        *type = "string_too_short";
        snprintf(ctx, ctx_n, "{\"min_length\":1}");
        break;
    case VE_MAX_ITEMS:
        snprintf(mbuf, mbuf_n, "List should have at most %ld item%s after validation, not %ld",
                 arg, arg == 1 ? "" : "s", actual);
        *msg = mbuf;
        *type = "too_long";
        snprintf(ctx, ctx_n, "{\"field_type\":\"List\",\"max_length\":%ld,\"actual_length\":%ld}",
                 arg, actual);
        break;
    }
}

/* Appends one error entry. loc is "body", then field (or NULL), then index
 * (or -1); input is the offending value (pydantic 2 only; NULL = null). */
static void err_add(struct errs *e, const char *field, long index, enum verr_kind k,
                    const json_t *input, long arg, long actual)
{
    struct ic_buf *b = e->b;
    const char *msg, *type;
    char ctx[128], mbuf[128];
    int rc = ic_buf_append(b, e->n ? "," : "{\"detail\":[", e->n ? 1 : 11);
    if (e->style == IC__ERRS_LEGACY) {
        legacy_words(k, arg, &msg, &type, ctx, sizeof ctx, mbuf, sizeof mbuf);
        rc |= buf_lit(b, "{\"loc\":");
        rc |= put_loc(b, field, index);
        rc |= buf_lit(b, ",\"msg\":");
        rc |= ic_buf_json_str(b, msg, strlen(msg));
        rc |= buf_lit(b, ",\"type\":");
        rc |= ic_buf_json_str(b, type, strlen(type));
    } else {
        v2_words(k, arg, actual, &msg, &type, ctx, sizeof ctx, mbuf, sizeof mbuf);
        rc |= buf_lit(b, "{\"type\":");
        rc |= ic_buf_json_str(b, type, strlen(type));
        rc |= buf_lit(b, ",\"loc\":");
        rc |= put_loc(b, field, index);
        rc |= buf_lit(b, ",\"msg\":");
        rc |= ic_buf_json_str(b, msg, strlen(msg));
        rc |= buf_lit(b, ",\"input\":");
        rc |= put_input(b, input);
    }
    if (*ctx)
        rc |= ic_buf_printf(b, ",\"ctx\":%s", ctx);
    rc |= buf_lit(b, "}");
    (void)rc; /* the buffer has no cap: appends cannot fail */
    e->n++;
}

static int errs_close(struct errs *e)
{
    if (buf_lit(e->b, "]}"))
        return 500;
    return 422;
}

int ic__json_detail(struct ic_buf *b, const char *detail)
{
    int rc = buf_lit(b, "{\"detail\":");
    if (!rc)
        rc = ic_buf_json_str(b, detail, strlen(detail));
    if (!rc)
        rc = buf_lit(b, "}");
    return rc;
}

/* FastAPI decides from the Content-Type whether to parse JSON: absent, or
 * application/json, or application/<anything>+json. */
static int content_type_is_json(const char *ct)
{
    if (!ct)
        return 1;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    if (!*ct)
        return 1;
    const char *end = ct;
    while (*end && *end != ';' && *end != ' ' && *end != '\t')
        end++;
    size_t n = (size_t)(end - ct);
    if (n < 12 || strncasecmp(ct, "application/", 12) != 0)
        return 0;
    const char *sub = ct + 12;
    size_t sn = n - 12;
    if (sn == 4 && strncasecmp(sub, "json", 4) == 0)
        return 1;
    return sn >= 5 && strncasecmp(sub + sn - 5, "+json", 5) == 0;
}

/* The str validator. pydantic 1: str as is; int, float and bool through
 * str(). pydantic 2 takes strings only. Returns 1 ok, 0 after adding an
 * error. */
static int take_str(struct ic__req *r, size_t i, json_t *v, struct errs *e, const char *field,
                    long index)
{
    char tmp[48];
    const char *s = NULL;
    if (json_is_string(v)) {
        r->texts[i] = json_string_value(v);
        r->lens[i] = json_string_length(v);
        r->coerced_off[i] = (size_t)-1;
        return 1;
    }
    if (json_is_null(v)) {
        err_add(e, field, index, VE_NONE_STR, v, 0, 0);
        return 0;
    }
    if (e->style != IC__ERRS_LEGACY) {
        err_add(e, field, index, VE_STR_TYPE, v, 0, 0);
        return 0;
    }
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        snprintf(tmp, sizeof tmp, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        s = tmp;
        break;
    case JSON_REAL:
        s = ic__py_float_repr(json_real_value(v), tmp);
        break;
    case JSON_TRUE:
        s = "True";
        break;
    case JSON_FALSE:
        s = "False";
        break;
    default:
        err_add(e, field, index, VE_STR_TYPE, v, 0, 0);
        return 0;
    }
    r->coerced_off[i] = r->coerced.len;
    r->lens[i] = strlen(s);
    if (ic_buf_append(&r->coerced, s, r->lens[i] + 1))
        return 0;
    return 1;
}

/* Integer text with optional surrounding blanks. Returns 1 and *k, or 0. */
static int parse_int_text(const char *s, long long *k)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    errno = 0;
    *k = strtoll(s, &end, 10);
    if (errno || end == s)
        return 0;
    while (isspace((unsigned char)*end))
        end++;
    return *end == 0;
}

/* The int validator for Optional[int] "top_k", plus ge=0. */
static void take_top_k(struct ic__req *r, json_t *root, struct errs *e)
{
    json_t *v = json_object_get(root, "top_k");
    long long k = 0;
    enum verr_kind bad = VE_MISSING; /* VE_MISSING: no error */
    r->top_k = 0;
    if (!v || json_is_null(v))
        return;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        k = json_integer_value(v);
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (!isfinite(d) || fabs(d) >= 9e18)
            bad = VE_INT_TYPE;
        else if (e->style != IC__ERRS_LEGACY && d != floor(d))
            bad = VE_INT_FLOAT;
        else
            k = (long long)d;
        break;
    }
    case JSON_TRUE:
        k = 1;
        break;
    case JSON_FALSE:
        k = 0;
        break;
    case JSON_STRING:
        if (!parse_int_text(json_string_value(v), &k))
            bad = VE_INT_PARSE;
        break;
    default:
        bad = VE_INT_TYPE;
    }
    if (bad != VE_MISSING) {
        err_add(e, "top_k", -1, bad, v, 0, 0);
        return;
    }
    if (k < 0) {
        err_add(e, "top_k", -1, VE_GE0, v, 0, 0);
        return;
    }
    r->top_k = k > 1000000 ? 1000000 : (int)k;
}

/* jansson's "near '...'" may cut a multi-byte character: keep the valid
 * UTF-8 prefix so the error body stays valid JSON text. */
static void valid_text(const char *in, char *out)
{
    size_t tl = strlen(in), bad;
    if (!ic_utf8_valid(in, tl, &bad))
        tl = bad;
    memcpy(out, in, tl);
    out[tl] = 0;
}

/* pydantic 2 (FastAPI >= 0.100): {"type": "json_invalid", "loc": ["body",
 * pos], "msg": "JSON decode error", "input": {}, "ctx": {"error": ...}}. */
static void json_invalid_v2(struct ic_buf *b, long pos, const char *why)
{
    int rc = ic_buf_printf(b, "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",%ld],"
                              "\"msg\":\"JSON decode error\",\"input\":{},\"ctx\":{\"error\":",
                           pos);
    rc |= ic_buf_json_str(b, why, strlen(why));
    rc |= buf_lit(b, "}}]}");
    (void)rc;
}

static void json_decode_error(const char *body, size_t len, const json_error_t *je, int style,
                              struct ic_buf *b)
{
    char msg[256], ctx_pre[320], text[JSON_ERROR_TEXT_LENGTH];
    valid_text(je->text, text);
    if (style != IC__ERRS_LEGACY) {
        json_invalid_v2(b, je->position, text);
        return;
    }
    /* Same shape as Python's json.JSONDecodeError as FastAPI 0.9x reports
     * it; the wording of msg is jansson's. */
    snprintf(msg, sizeof msg, "%s: line %d column %d (char %d)", text, je->line,
             je->column, je->position);
    int rc = buf_lit(b, "{\"detail\":[{\"loc\":[\"body\",");
    rc |= ic_buf_printf(b, "%d],\"msg\":", je->position);
    rc |= ic_buf_json_str(b, msg, strlen(msg));
    rc |= buf_lit(b, ",\"type\":\"value_error.jsondecode\",\"ctx\":{\"msg\":");
    rc |= ic_buf_json_str(b, text, strlen(text));
    rc |= buf_lit(b, ",\"doc\":");
    rc |= ic_buf_json_str(b, body, len);
    snprintf(ctx_pre, sizeof ctx_pre, ",\"pos\":%d,\"lineno\":%d,\"colno\":%d}}]}", je->position,
             je->line, je->column);
    rc |= ic_buf_append(b, ctx_pre, strlen(ctx_pre));
    (void)rc;
}

/* Body-level checks shared by the FastAPI-shaped routes: empty body,
 * Content-Type, JSON syntax, UTF-8, null, not an object. Returns the root
 * object (owned by r) or NULL with the error written and *status set. */
static json_t *load_body_object(const char *body, size_t len, const char *content_type,
                                struct ic__req *r, struct errs *e, int *status)
{
    json_error_t je;
    if (len == 0) {
        err_add(e, NULL, -1, VE_MISSING, NULL, 0, 0);
        *status = errs_close(e);
        return NULL;
    }
    if (!content_type_is_json(content_type)) {
        /* pydantic 2 gets the raw bytes as the model's input */
        json_t *raw = json_stringn_nocheck(body, len);
        size_t bad;
        if (!ic_utf8_valid(body, len, &bad)) {
            json_decref(raw);
            raw = NULL;
        }
        err_add(e, NULL, -1, VE_DICT_TYPE, raw, 0, 0);
        json_decref(raw);
        *status = errs_close(e);
        return NULL;
    }
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root) {
        /* Bodies with invalid UTF-8 cannot be echoed in ctx.doc. */
        size_t bad;
        if (!ic_utf8_valid(body, len, &bad)) {
            char msg[96];
            snprintf(msg, sizeof msg, "invalid UTF-8 in the request body at byte %zu", bad);
            if (e->style == IC__ERRS_LEGACY) {
                int rc = ic_buf_printf(e->b, "{\"detail\":[{\"loc\":[\"body\",%zu],\"msg\":", bad);
                rc |= ic_buf_json_str(e->b, msg, strlen(msg));
                rc |= buf_lit(e->b, ",\"type\":\"value_error.unicode\"}]}");
                (void)rc;
            } else {
                json_invalid_v2(e->b, (long)bad, msg);
            }
        } else {
            json_decode_error(body, len, &je, e->style, e->b);
        }
        *status = 422;
        return NULL;
    }
    r->root = root;
    if (json_is_null(root)) {
        err_add(e, NULL, -1, VE_MISSING, NULL, 0, 0);
        *status = errs_close(e);
        return NULL;
    }
    if (!json_is_object(root)) {
        err_add(e, NULL, -1, VE_DICT_TYPE, root, 0, 0);
        *status = errs_close(e);
        return NULL;
    }
    return root;
}

static void req_clear(struct ic__req *r)
{
    if (r->root) {
        json_decref((json_t *)r->root);
        r->root = NULL;
    }
    r->n = 0;
    r->top_k = 0;
    r->raw_scores = 0;
    r->truncate = 0;
    r->nested = 0;
    ic_buf_reset(&r->coerced);
}

/* Coerced strings live in one buffer that may have moved while growing:
 * point at them only once parsing is done. */
static void req_fix_coerced(struct ic__req *r)
{
    for (int i = 0; i < r->n; i++)
        if (r->coerced_off[i] != (size_t)-1)
            r->texts[i] = r->coerced.data + r->coerced_off[i];
}

int ic__parse_classify(const char *body, size_t len, const char *content_type, int batch,
                       int max_batch, struct ic__req *r, struct ic_buf *errbody)
{
    struct errs e = {errbody, 0, r->style};
    const char *field = batch ? "texts" : "text";
    int status = 422;

    req_clear(r);
    json_t *root = load_body_object(body, len, content_type, r, &e, &status);
    if (!root)
        return status;

    json_t *v = json_object_get(root, field);
    if (!v) {
        err_add(&e, field, -1, VE_MISSING, root, 0, 0);
    } else if (!batch) {
        req_reserve(r, 1);
        if (take_str(r, 0, v, &e, field, -1)) {
            r->n = 1;
            if (r->lens[0] == 0)
                err_add(&e, field, -1, VE_MIN_LEN1, v, 0, 0);
        }
    } else if (json_is_null(v)) {
        err_add(&e, field, -1, VE_NONE_LIST, v, 0, 0);
    } else if (!json_is_array(v)) {
        err_add(&e, field, -1, VE_LIST_TYPE, v, 0, 0);
    } else {
        size_t n = json_array_size(v);
        if (n > (size_t)max_batch) {
            err_add(&e, field, -1, VE_MAX_ITEMS, v, max_batch, (long)n);
        } else {
            req_reserve(r, n);
            for (size_t i = 0; i < n; i++) {
                json_t *t = json_array_get(v, i);
                if (take_str(r, i, t, &e, field, (long)i) && r->lens[i] == 0)
                    err_add(&e, field, (long)i, VE_MIN_LEN1, t, 0, 0);
            }
            r->n = (int)n;
        }
    }
    take_top_k(r, root, &e);
    if (e.n) {
        r->n = 0;
        return errs_close(&e);
    }
    req_fix_coerced(r);
    return 200;
}

/* --- Hugging Face text-embeddings-inference: POST /predict ---------------- */

int ic__tei_error(struct ic_buf *b, const char *msg, const char *type)
{
    int rc = buf_lit(b, "{\"error\":");
    rc |= ic_buf_json_str(b, msg, strlen(msg));
    rc |= buf_lit(b, ",\"error_type\":");
    rc |= ic_buf_json_str(b, type, strlen(type));
    return rc | buf_lit(b, "}");
}

static int tei_fail(struct ic__req *r, struct ic_buf *b, int status, const char *type,
                    const char *fmt, ...) IC_PRINTF(5, 6);
static int tei_fail(struct ic__req *r, struct ic_buf *b, int status, const char *type,
                    const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    r->n = 0;
    ic_buf_reset(b);
    return ic__tei_error(b, msg, type) ? 500 : status;
}

/* Strict content type for the TEI routes: application/json or a +json type
 * (an absent header is refused, as TEI's JSON extractor does). */
static int tei_content_type_ok(const char *ct)
{
    return ct && *ct && content_type_is_json(ct);
}

/* An optional boolean field: absent or null keeps *out. Returns 1 ok. */
static int take_opt_bool(json_t *root, const char *key, int *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v))
        return 1;
    if (!json_is_boolean(v))
        return 0;
    *out = json_is_true(v);
    return 1;
}

/* One sequence of a batch: ["text"] (a pair ["a", "b"] is refused). Returns
 * 0 ok, 1 a pair, -1 not a sequence. */
static int take_sequence(struct ic__req *r, size_t i, json_t *v)
{
    if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 2)
        return -1;
    for (size_t k = 0; k < json_array_size(v); k++)
        if (!json_is_string(json_array_get(v, k)))
            return -1;
    if (json_array_size(v) == 2)
        return 1;
    json_t *s = json_array_get(v, 0);
    r->texts[i] = json_string_value(s);
    r->lens[i] = json_string_length(s);
    r->coerced_off[i] = (size_t)-1;
    return 0;
}

#define TEI_DESER "Failed to deserialize the JSON body into the target type: "
#define TEI_PAIRS "sentence pairs are not supported: this model classifies single texts"

/* inputs: "text" | ["a", "b"] (a pair) | [["a"], ["b", "c"], ...] (a batch). */
static int tei_take_inputs(struct ic__req *r, json_t *in, int max_client_batch,
                           struct ic_buf *b)
{
    if (json_is_string(in)) {
        req_reserve(r, 1);
        r->texts[0] = json_string_value(in);
        r->lens[0] = json_string_length(in);
        r->coerced_off[0] = (size_t)-1;
        r->n = 1;
        return 200;
    }
    if (!json_is_array(in))
        return tei_fail(r, b, 422, "validation",
                        TEI_DESER "inputs: data did not match any variant of untagged enum "
                        "PredictInput");
    size_t n = json_array_size(in);
    if (n == 2 && json_is_string(json_array_get(in, 0)) && json_is_string(json_array_get(in, 1)))
        return tei_fail(r, b, 422, "validation", TEI_PAIRS);
    r->nested = 1;
    if (n == 0)
        return tei_fail(r, b, 413, "validation", "`inputs` cannot be empty");
    if (n > (size_t)max_client_batch)
        return tei_fail(r, b, 413, "validation", "batch size %zu > maximum allowed batch size %d",
                        n, max_client_batch);
    req_reserve(r, n);
    for (size_t i = 0; i < n; i++) {
        int k = take_sequence(r, i, json_array_get(in, i));
        if (k > 0)
            return tei_fail(r, b, 422, "validation", TEI_PAIRS);
        if (k < 0)
            return tei_fail(r, b, 422, "validation",
                            TEI_DESER "inputs: data did not match any variant of untagged enum "
                            "PredictInput");
    }
    r->n = (int)n;
    return 200;
}

int ic__parse_predict(const char *body, size_t len, const char *content_type,
                      int max_client_batch, struct ic__req *r, struct ic_buf *errbody)
{
    json_error_t je;
    req_clear(r);
    if (!tei_content_type_ok(content_type))
        return tei_fail(r, errbody, 415, "validation",
                        "Expected request with `Content-Type: application/json`");
    size_t bad;
    if (!ic_utf8_valid(body, len, &bad))
        return tei_fail(r, errbody, 400, "validation",
                        "Failed to parse the request body as JSON: invalid UTF-8 at byte %zu",
                        bad);
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root) {
        char text[JSON_ERROR_TEXT_LENGTH];
        valid_text(je.text, text);
        return tei_fail(r, errbody, 400, "validation",
                        "Failed to parse the request body as JSON: %s at line %d column %d",
                        text, je.line, je.column);
    }
    r->root = root;
    if (!json_is_object(root))
        return tei_fail(r, errbody, 422, "validation",
                        TEI_DESER "invalid type: expected struct PredictRequest");
    json_t *in = json_object_get(root, "inputs");
    if (!in)
        return tei_fail(r, errbody, 422, "validation", TEI_DESER "missing field `inputs`");
    if (!take_opt_bool(root, "raw_scores", &r->raw_scores))
        return tei_fail(r, errbody, 422, "validation",
                        TEI_DESER "raw_scores: invalid type, expected a boolean");
    if (!take_opt_bool(root, "truncate", &r->truncate))
        return tei_fail(r, errbody, 422, "validation",
                        TEI_DESER "truncate: invalid type, expected a boolean");
    json_t *dir = json_object_get(root, "truncation_direction");
    if (dir && !json_is_null(dir)) {
        const char *d = json_is_string(dir) ? json_string_value(dir) : "";
        if (strcasecmp(d, "left") == 0)
            return tei_fail(r, errbody, 422, "validation",
                            "truncation_direction \"left\" is not supported: texts are "
                            "truncated on the right");
        if (strcasecmp(d, "right") != 0)
            return tei_fail(r, errbody, 422, "validation",
                            TEI_DESER "truncation_direction: unknown variant, expected `left` "
                            "or `right`");
    }
    int st = tei_take_inputs(r, in, max_client_batch, errbody);
    if (st != 200)
        return st;
    for (int i = 0; i < r->n; i++)
        if (r->lens[i] == 0)
            return tei_fail(r, errbody, 413, "validation", "`inputs` cannot be empty");
    return 200;
}

/* --- Rasa: POST /model/parse ---------------------------------------------- */

int ic__rasa_error(struct ic_buf *b, int code, const char *reason, const char *msg)
{
    int rc = buf_lit(b, "{\"version\":\"" IC_VERSION "\",\"status\":\"failure\",\"message\":");
    rc |= ic_buf_json_str(b, msg, strlen(msg));
    rc |= buf_lit(b, ",\"reason\":");
    rc |= ic_buf_json_str(b, reason, strlen(reason));
    rc |= ic_buf_printf(b, ",\"details\":{},\"help\":null,\"code\":%d}", code);
    return rc;
}

#define RASA_NO_TEXT                                                                        \
    "No text message defined in request_body. Add text message to request body in order "  \
    "to obtain the intent and extracted entities."

static int rasa_fail(struct ic__req *r, struct ic_buf *b, const char *msg)
{
    r->n = 0;
    ic_buf_reset(b);
    return ic__rasa_error(b, 400, "BadRequest", msg) ? 500 : 400;
}

int ic__parse_rasa(const char *body, size_t len, struct ic__req *r, struct ic_buf *errbody)
{
    json_error_t je;
    size_t bad;
    req_clear(r);
    if (len == 0)
        return rasa_fail(r, errbody, RASA_NO_TEXT);
    if (!ic_utf8_valid(body, len, &bad))
        return rasa_fail(r, errbody, "Failed when parsing body as json");
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root)
        return rasa_fail(r, errbody, "Failed when parsing body as json");
    r->root = root;
    json_t *t = json_is_object(root) ? json_object_get(root, "text") : NULL;
    /* Rasa's request normaliser takes the first element of a list. */
    if (json_is_array(t))
        t = json_array_get(t, 0);
    if (!json_is_string(t))
        return rasa_fail(r, errbody, RASA_NO_TEXT);
    req_reserve(r, 1);
    r->texts[0] = json_string_value(t);
    r->lens[0] = json_string_length(t);
    r->coerced_off[0] = (size_t)-1;
    r->n = 1;
    return 200;
}
