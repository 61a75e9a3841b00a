/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_http.c - libFuzzer target for the HTTP API's request-body parsers
 * (src/serve/routes.h): the /classify and /classify/batch bodies as FastAPI
 * would validate them (both error styles), text-embeddings-inference's
 * /predict and Rasa's /model/parse bodies, and pydantic's float-to-str
 * coercion.
 *
 * Input: byte 0 bit 0 -> 0 /classify, 1 /classify/batch; bits 1-2 pick the
 * Content-Type (absent, application/json, text/plain, a +json type); bit 3
 * the error style (0 pydantic 2, 1 FastAPI 0.9x); bits 4-5 the parser (0 and
 * 3 FastAPI, 1 /predict, 2 /model/parse); the rest is the body.
 * Invariants (FastAPI): the status is 200 or 422; on 200 every text is
 * non-empty and (for /classify) there is exactly one, at most max_batch for
 * the batch; on 422 the body is JSON {"detail": [{"loc", "msg", "type"},
 * ...]}. /predict: 200 with 1..8 non-empty valid texts (one unless a batch),
 * or 400/413/415/422 with {"error", "error_type"}. /model/parse: 200 with
 * one valid text, or 400 with Rasa's {"status": "failure", ...}. The parse state is reused across inputs as the server
 * reuses it across requests on a connection. Any 8 input bytes also go
 * through the float formatter, whose output must read back as the same
 * double.
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "serve/routes.h"

/* A 200 answer's texts: present, valid UTF-8, non-empty unless allowed. */
static void check_texts(const struct ic__req *r, int allow_empty)
{
    for (int i = 0; i < r->n; i++) {
        size_t bad;
        IC_FUZZ_CHECK(r->texts[i] != NULL && (allow_empty || r->lens[i] > 0));
        IC_FUZZ_CHECK(ic_utf8_valid(r->texts[i], r->lens[i], &bad));
    }
}

/* /predict and /model/parse. */
static void fuzz_anchor(int which, const char *ct, const char *body, size_t len)
{
    struct ic__req r;
    struct ic_buf eb;
    ic__req_init(&r);
    ic_buf_init(&eb, 0);
    for (int pass = 0; pass < 2; pass++) {
        ic_buf_reset(&eb);
        int st = which == 1 ? ic__parse_predict(body, len, ct, 8, &r, &eb)
                            : ic__parse_rasa(body, len, &r, &eb);
        if (st == 200) {
            IC_FUZZ_CHECK(which == 1 ? (r.n >= 1 && r.n <= 8 && (r.nested || r.n == 1))
                                     : r.n == 1);
            check_texts(&r, which == 2);
            continue;
        }
        json_error_t je;
        json_t *j = json_loadb(eb.data, eb.len, 0, &je);
        IC_FUZZ_CHECK(j != NULL && r.n == 0);
        if (which == 1) {
            IC_FUZZ_CHECK(st == 400 || st == 413 || st == 415 || st == 422);
            IC_FUZZ_CHECK(json_is_string(json_object_get(j, "error")));
            IC_FUZZ_CHECK(json_is_string(json_object_get(j, "error_type")));
        } else {
            IC_FUZZ_CHECK(st == 400);
            IC_FUZZ_CHECK(json_integer_value(json_object_get(j, "code")) == 400);
            IC_FUZZ_CHECK(json_is_string(json_object_get(j, "message")));
        }
        json_decref(j);
    }
    ic__req_free(&r);
    ic_buf_free(&eb);
}

int ic_fuzz_http(const uint8_t *data, size_t size);
int ic_fuzz_http(const uint8_t *data, size_t size)
{
    static const char *const ctypes[4] = {NULL, "application/json", "text/plain",
                                          "application/problem+json; charset=utf-8"};
    if (size < 1)
        return 0;
    int batch = data[0] & 1;
    const char *ct = ctypes[(data[0] >> 1) & 3];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    int which = (data[0] >> 4) & 3;
    if (which == 1 || which == 2) {
        fuzz_anchor(which, ct, body, len);
        return 0;
    }
    struct ic__req r;
    struct ic_buf eb;
    ic__req_init(&r);
    r.style = (data[0] >> 3) & 1;
    ic_buf_init(&eb, 0);
    for (int pass = 0; pass < 2; pass++) { /* the second pass reuses the arrays */
        ic_buf_reset(&eb);
        int st = ic__parse_classify(body, len, ct, batch, 8, &r, &eb);
        IC_FUZZ_CHECK(st == 200 || st == 422);
        if (st == 200) {
            IC_FUZZ_CHECK(batch ? (r.n >= 0 && r.n <= 8) : r.n == 1);
            IC_FUZZ_CHECK(r.top_k >= 0);
            check_texts(&r, 0);
        } else {
            json_error_t je;
            json_t *j = json_loadb(eb.data, eb.len, JSON_ALLOW_NUL, &je);
            IC_FUZZ_CHECK(j != NULL);
            json_t *d = json_object_get(j, "detail");
            IC_FUZZ_CHECK(json_is_array(d) && json_array_size(d) > 0);
            for (size_t i = 0; i < json_array_size(d); i++) {
                json_t *e = json_array_get(d, i);
                IC_FUZZ_CHECK(json_is_array(json_object_get(e, "loc")));
                IC_FUZZ_CHECK(json_is_string(json_object_get(e, "msg")));
                IC_FUZZ_CHECK(json_is_string(json_object_get(e, "type")));
            }
            json_decref(j);
        }
    }
    ic__req_free(&r);
    ic_buf_free(&eb);

    if (size >= 9) {
        double v;
        char buf[40];
        memcpy(&v, data + 1, sizeof v);
        ic__py_float_repr(v, buf);
        if (isfinite(v))
            IC_FUZZ_CHECK(strtod(buf, NULL) == v);
    }
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_http(data, size);
}
#endif
