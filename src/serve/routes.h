/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.h - request bodies in, JSON bodies out, for the HTTP API: no
 * sockets here, so the parsers can be unit-tested and fuzzed directly.
 *
 * Validation follows FastAPI 0.92 with pydantic 1 (the original service),
 * status codes and error shapes included:
 *   {"detail": [{"loc": ["body", "text"], "msg": "field required",
 *                "type": "value_error.missing"}]}
 * pydantic's coercions are kept: a number or boolean given as "text" becomes
 * its Python str() ("123", "1.5", "True"); "top_k" takes integers, floats
 * (truncated), booleans and integer strings.
 */
#ifndef IC_SERVE_ROUTES_H
#define IC_SERVE_ROUTES_H

#include <stddef.h>

#include "intent/ic.h"
#include "intent/infer.h"

/* A parsed /classify or /classify/batch body. Reused across requests: the
 * arrays grow to the largest request seen. texts[i] point into the JSON
 * tree (root) or into coerced; both live until the next parse or free. */
struct ic__req {
    void *root;            /* json_t *, owned */
    int n;                 /* texts */
    const char **texts;    /* [n] */
    size_t *lens;          /* [n] bytes */
    size_t cap;
    int top_k;             /* 0 = no ranked list */
    struct ic_buf coerced; /* str() of numbers and booleans given as text */
    size_t *coerced_off;   /* [cap] offset into coerced, or (size_t)-1 */
};

void ic__req_init(struct ic__req *r);
void ic__req_free(struct ic__req *r);
/* Drops the JSON tree (and the texts pointing into it); keeps the arrays. */
void ic__req_release_tree(struct ic__req *r);

/* Parses and validates body[len] (borrowed; need not be NUL-terminated).
 * content_type is the request's Content-Type header or NULL. batch selects
 * the {"texts": [...]} shape, limited to max_batch texts.
 * Returns 200 with *r filled, or an HTTP status (400, 413 or 422) with the
 * error body written to errbody. */
int ic__parse_classify(const char *body, size_t len, const char *content_type, int batch,
                       int max_batch, struct ic__req *r, struct ic_buf *errbody);

/* Error bodies. */
int ic__json_detail(struct ic_buf *b, const char *detail) IC_WUR; /* {"detail": "..."} */

/* Python's repr() of a float ("1.5", "1e+20", "1.0"), as pydantic's str
 * coercion gives. buf needs 40 bytes. */
char *ic__py_float_repr(double v, char *buf);

#endif
