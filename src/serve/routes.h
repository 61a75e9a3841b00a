/* SPDX-License-Identifier: Apache-2.0 */
/*
 * routes.h - request bodies in, JSON bodies out, for the HTTP API: no
 * sockets here, so the parsers can be unit-tested and fuzzed directly.
 *
 * /classify and /classify/batch validate as FastAPI does, in one of two
 * error styles (docs/http_api.md):
 *  - IC__ERRS_PYDANTIC2 (default): current FastAPI with pydantic 2,
 *      {"detail": [{"type": "missing", "loc": ["body", "text"],
 *                   "msg": "Field required", "input": {}}]}
 *    strings must be strings; "top_k" takes integers, integral floats,
 *    booleans and integer strings.
 *  - IC__ERRS_LEGACY: FastAPI 0.9x with pydantic 1 (the original service),
 *      {"detail": [{"loc": ["body", "text"], "msg": "field required",
 *                   "type": "value_error.missing"}]}
 *    with pydantic 1's coercions: a number or boolean given as "text"
 *    becomes its Python str() ("123", "1.5", "True"); float top_k truncated.
 * /predict follows Hugging Face text-embeddings-inference (errors
 * {"error", "error_type"}), /model/parse follows Rasa (errors {"version",
 * "status": "failure", "message", "reason", "details", "help", "code"}).
 */
#ifndef IC_SERVE_ROUTES_H
#define IC_SERVE_ROUTES_H

#include <stddef.h>

#include "intent/ic.h"
#include "intent/infer.h"

enum { IC__ERRS_PYDANTIC2 = 0, IC__ERRS_LEGACY = 1 };

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
    int style;             /* IC__ERRS_*: set by the caller, kept across parses */
    int raw_scores;        /* /predict: logits instead of probabilities */
    int truncate;          /* /predict: truncate long texts instead of 413 */
    int nested;            /* /predict: inputs was a batch (answer a list of lists) */
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

/* TEI POST /predict: {"inputs": "text" | [["a"], ["b"], ...], "raw_scores",
 * "truncate", "truncation_direction"}. At most max_client_batch sequences.
 * Returns 200, or 400 (not JSON), 413 (empty, too many), 415 (not a JSON
 * content type), 422 (wrong types, sentence pairs) with TEI's error body. */
int ic__parse_predict(const char *body, size_t len, const char *content_type,
                      int max_client_batch, struct ic__req *r, struct ic_buf *errbody);

/* Rasa POST /model/parse: {"text": "...", "message_id": ...}. Returns 200,
 * or 400 with Rasa's error body. */
int ic__parse_rasa(const char *body, size_t len, struct ic__req *r, struct ic_buf *errbody);

/* Error bodies. */
int ic__tei_error(struct ic_buf *b, const char *msg, const char *type) IC_WUR;
int ic__rasa_error(struct ic_buf *b, int code, const char *reason, const char *msg) IC_WUR;
int ic__json_detail(struct ic_buf *b, const char *detail) IC_WUR; /* {"detail": "..."} */

/* Python's repr() of a float ("1.5", "1e+20", "1.0"), as pydantic's str
 * coercion gives. buf needs 40 bytes. */
char *ic__py_float_repr(double v, char *buf);

#endif
