/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.c - JSON request validation and response bodies for the HTTP API
 * (see routes.h). Parsing is jansson's; this file only reproduces FastAPI /
 * pydantic 1's validation rules and error shapes on top of it. Every size
 * here is bounded by the body limit the server enforces before calling in.
 */
#include "serve/routes.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
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

struct errs {
    struct ic_buf *b;
    int n;
};

/* Opens one {"loc": [...], "msg": ..., "type": ...} entry. loc is "body",
 * then field (or NULL), then index (or -1). */
static void err_add(struct errs *e, const char *field, long index, const char *msg,
                    const char *type, const char *ctx_json)
{
    struct ic_buf *b = e->b;
    int rc = ic_buf_append(b, e->n ? "," : "{\"detail\":[", e->n ? 1 : 11);
    rc |= buf_lit(b, "{\"loc\":[\"body\"");
    if (field) {
        rc |= buf_lit(b, ",");
        rc |= ic_buf_json_str(b, field, strlen(field));
    }
    if (index >= 0)
        rc |= ic_buf_printf(b, ",%ld", index);
    rc |= buf_lit(b, "],\"msg\":");
    rc |= ic_buf_json_str(b, msg, strlen(msg));
    rc |= buf_lit(b, ",\"type\":");
    rc |= ic_buf_json_str(b, type, strlen(type));
    if (ctx_json)
        rc |= ic_buf_printf(b, ",\"ctx\":%s", ctx_json);
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

/* pydantic 1 str_validator: str as is; int, float and bool through str().
 * Returns 1 ok, 0 after adding an error. */
static int take_str(struct ic__req *r, size_t i, json_t *v, struct errs *e, const char *field,
                    long index)
{
    char tmp[48];
    const char *s = NULL;
    switch (json_typeof(v)) {
    case JSON_STRING:
        r->texts[i] = json_string_value(v);
        r->lens[i] = json_string_length(v);
        r->coerced_off[i] = (size_t)-1;
        return 1;
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
    case JSON_NULL:
        err_add(e, field, index, "none is not an allowed value", "type_error.none.not_allowed",
                NULL);
        return 0;
    default:
        err_add(e, field, index, "str type expected", "type_error.str", NULL);
        return 0;
    }
    r->coerced_off[i] = r->coerced.len;
    r->lens[i] = strlen(s);
    if (ic_buf_append(&r->coerced, s, r->lens[i] + 1))
        return 0;
    return 1;
}

/* pydantic 1 int_validator for Optional[int] "top_k", plus ge=0. */
static void take_top_k(struct ic__req *r, json_t *root, struct errs *e)
{
    json_t *v = json_object_get(root, "top_k");
    long long k = 0;
    int ok = 1;
    r->top_k = 0;
    if (!v || json_is_null(v))
        return;
    switch (json_typeof(v)) {
    case JSON_INTEGER:
        k = json_integer_value(v);
        break;
    case JSON_REAL: {
        double d = json_real_value(v);
        if (isfinite(d) && fabs(d) < 9e18)
            k = (long long)d;
        else
            ok = 0;
        break;
    }
    case JSON_TRUE:
        k = 1;
        break;
    case JSON_FALSE:
        k = 0;
        break;
    case JSON_STRING: {
        const char *s = json_string_value(v);
        char *end;
        while (isspace((unsigned char)*s))
            s++;
        if (!*s) {
            ok = 0;
            break;
        }
        k = strtoll(s, &end, 10);
        while (isspace((unsigned char)*end))
            end++;
        if (*end || end == s)
            ok = 0;
        break;
    }
    default:
        ok = 0;
    }
    if (!ok) {
        err_add(e, "top_k", -1, "value is not a valid integer", "type_error.integer", NULL);
        return;
    }
    if (k < 0) {
        err_add(e, "top_k", -1, "ensure this value is greater than or equal to 0",
                "value_error.number.not_ge", "{\"limit_value\":0}");
        return;
    }
    r->top_k = k > 1000000 ? 1000000 : (int)k;
}

static void json_decode_error(const char *body, size_t len, const json_error_t *je,
                              struct ic_buf *b)
{
    char msg[256], ctx_pre[320], text[JSON_ERROR_TEXT_LENGTH];
    /* jansson's "near '...'" may cut a multi-byte character: keep the valid
     * UTF-8 prefix so the error body stays valid JSON text. */
    size_t tl = strlen(je->text), bad;
    if (!ic_utf8_valid(je->text, tl, &bad))
        tl = bad;
    memcpy(text, je->text, tl);
    text[tl] = 0;
    /* Same shape as Python's json.JSONDecodeError as FastAPI reports it; the
     * wording of msg is jansson's. */
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

int ic__parse_classify(const char *body, size_t len, const char *content_type, int batch,
                       int max_batch, struct ic__req *r, struct ic_buf *errbody)
{
    struct errs e = {errbody, 0};
    json_error_t je;
    const char *field = batch ? "texts" : "text";

    if (r->root) {
        json_decref((json_t *)r->root);
        r->root = NULL;
    }
    r->n = 0;
    r->top_k = 0;
    ic_buf_reset(&r->coerced);

    if (len == 0) {
        err_add(&e, NULL, -1, "field required", "value_error.missing", NULL);
        return errs_close(&e);
    }
    if (!content_type_is_json(content_type)) {
        err_add(&e, NULL, -1, "value is not a valid dict", "type_error.dict", NULL);
        return errs_close(&e);
    }
    json_t *root = json_loadb(body, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
    if (!root) {
        /* Bodies with invalid UTF-8 cannot be echoed in ctx.doc. */
        size_t bad;
        if (!ic_utf8_valid(body, len, &bad)) {
            char msg[96];
            snprintf(msg, sizeof msg, "invalid UTF-8 in the request body at byte %zu", bad);
            err_add(&e, NULL, (long)bad, msg, "value_error.unicode", NULL);
            return errs_close(&e);
        }
        json_decode_error(body, len, &je, errbody);
        return 422;
    }
    r->root = root;
    if (json_is_null(root)) {
        err_add(&e, NULL, -1, "field required", "value_error.missing", NULL);
        return errs_close(&e);
    }
    if (!json_is_object(root)) {
        err_add(&e, NULL, -1, "value is not a valid dict", "type_error.dict", NULL);
        return errs_close(&e);
    }

    json_t *v = json_object_get(root, field);
    if (!v) {
        err_add(&e, field, -1, "field required", "value_error.missing", NULL);
    } else if (!batch) {
        req_reserve(r, 1);
        if (take_str(r, 0, v, &e, field, -1)) {
            r->n = 1;
            if (r->lens[0] == 0)
                err_add(&e, field, -1, "ensure this value has at least 1 characters",
                        "value_error.any_str.min_length", "{\"limit_value\":1}");
        }
    } else if (json_is_null(v)) {
        err_add(&e, field, -1, "none is not an allowed value", "type_error.none.not_allowed",
                NULL);
    } else if (!json_is_array(v)) {
        err_add(&e, field, -1, "value is not a valid list", "type_error.list", NULL);
    } else {
        size_t n = json_array_size(v);
        if (n > (size_t)max_batch) {
            char ctx[48], msg[80];
            snprintf(ctx, sizeof ctx, "{\"limit_value\":%d}", max_batch);
            snprintf(msg, sizeof msg, "ensure this value has at most %d items", max_batch);
            err_add(&e, field, -1, msg, "value_error.list.max_items", ctx);
        } else {
            req_reserve(r, n);
            for (size_t i = 0; i < n; i++) {
                if (take_str(r, i, json_array_get(v, i), &e, field, (long)i) && r->lens[i] == 0)
                    err_add(&e, field, (long)i, "ensure this value has at least 1 characters",
                            "value_error.any_str.min_length", "{\"limit_value\":1}");
            }
            r->n = (int)n;
        }
    }
    take_top_k(r, root, &e);
    if (e.n) {
        r->n = 0;
        return errs_close(&e);
    }
    /* Coerced strings live in one buffer that may have moved while growing:
     * point at them only now. */
    for (int i = 0; i < r->n; i++)
        if (r->coerced_off[i] != (size_t)-1)
            r->texts[i] = r->coerced.data + r->coerced_off[i];
    return 200;
}
