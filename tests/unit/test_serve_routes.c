/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_serve_routes.c - request validation of the HTTP API against the
 * bodies and status codes FastAPI 0.92 / pydantic 1 give for the same
 * requests (recorded from the original stack), the pydantic 2 bodies of
 * tests/golden/http/fastapi_errors.json, the text-embeddings-inference and
 * Rasa body parsers, and the OpenAPI document built from the route table;
 * without sockets.
 */
#include <jansson.h>
#include <stdlib.h>

#include "intent/ic.h"
#include "serve/routes.h"
#include "serve/serve_int.h"
#include "test.h"

struct case_ {
    const char *body;
    const char *ctype;
    int batch;
    int status;
    const char *expect; /* exact body, or NULL to skip */
};

static const struct case_ cases[] = {
    /* FastAPI 0.92 answers, recorded with curl against a pydantic model
     * {text: str, top_k: Optional[int]} / {texts: List[str]} */
    {"{}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"field required\","
     "\"type\":\"value_error.missing\"}]}"},
    {"{\"text\":null}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"none is not an allowed value\","
     "\"type\":\"type_error.none.not_allowed\"}]}"},
    {"{\"text\":[1]}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"str type expected\","
     "\"type\":\"type_error.str\"}]}"},
    {"{\"text\":{\"a\":1}}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"str type expected\","
     "\"type\":\"type_error.str\"}]}"},
    {"[1,2]", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"value is not a valid dict\","
     "\"type\":\"type_error.dict\"}]}"},
    {"\"str\"", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"value is not a valid dict\","
     "\"type\":\"type_error.dict\"}]}"},
    {"null", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field required\","
     "\"type\":\"value_error.missing\"}]}"},
    {"", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"field required\","
     "\"type\":\"value_error.missing\"}]}"},
    {"{\"text\":\"a\"}", "text/plain", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"value is not a valid dict\","
     "\"type\":\"type_error.dict\"}]}"},
    {"{\"text\":\"a\"}", "application/x-www-form-urlencoded", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\"],\"msg\":\"value is not a valid dict\","
     "\"type\":\"type_error.dict\"}]}"},
    {"{\"text\":\"a\",\"top_k\":\"x\"}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"top_k\"],\"msg\":\"value is not a valid integer\","
     "\"type\":\"type_error.integer\"}]}"},
    {"{\"text\":null,\"top_k\":\"x\"}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"none is not an allowed value\","
     "\"type\":\"type_error.none.not_allowed\"},{\"loc\":[\"body\",\"top_k\"],"
     "\"msg\":\"value is not a valid integer\",\"type\":\"type_error.integer\"}]}"},
    {"{\"texts\":[\"a\",null,3,[1]]}", "application/json", 1, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"texts\",1],\"msg\":\"none is not an allowed value\","
     "\"type\":\"type_error.none.not_allowed\"},{\"loc\":[\"body\",\"texts\",3],"
     "\"msg\":\"str type expected\",\"type\":\"type_error.str\"}]}"},
    {"{\"texts\":\"abc\"}", "application/json", 1, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"texts\"],\"msg\":\"value is not a valid list\","
     "\"type\":\"type_error.list\"}]}"},
    {"{\"texts\":{\"a\":1}}", "application/json", 1, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"texts\"],\"msg\":\"value is not a valid list\","
     "\"type\":\"type_error.list\"}]}"},
    /* beyond FastAPI: empty text, too many texts, negative top_k */
    {"{\"text\":\"\"}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"text\"],\"msg\":\"ensure this value has at least 1 "
     "characters\",\"type\":\"value_error.any_str.min_length\",\"ctx\":{\"limit_value\":1}}]}"},
    {"{\"texts\":[\"a\",\"\"]}", "application/json", 1, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"texts\",1],\"msg\":\"ensure this value has at least 1 "
     "characters\",\"type\":\"value_error.any_str.min_length\",\"ctx\":{\"limit_value\":1}}]}"},
    {"{\"texts\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "application/json", 1, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"texts\"],\"msg\":\"ensure this value has at most 4 "
     "items\",\"type\":\"value_error.list.max_items\",\"ctx\":{\"limit_value\":4}}]}"},
    {"{\"text\":\"a\",\"top_k\":-1}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",\"top_k\"],\"msg\":\"ensure this value is greater than or "
     "equal to 0\",\"type\":\"value_error.number.not_ge\",\"ctx\":{\"limit_value\":0}}]}"},
    {"{\"text\":\"\xff\"}", "application/json", 0, 422,
     "{\"detail\":[{\"loc\":[\"body\",9],\"msg\":\"invalid UTF-8 in the request body at byte "
     "9\",\"type\":\"value_error.unicode\"}]}"},
    /* accepted */
    {"{\"text\":\"hola\"}", "application/json", 0, 200, NULL},
    {"{\"text\":\"hola\"}", NULL, 0, 200, NULL},
    {"{\"text\":\"hola\"}", "application/json; charset=utf-8", 0, 200, NULL},
    {"{\"text\":\"hola\"}", "application/vnd.api+json", 0, 200, NULL},
    {"{\"text\":\"hola\",\"extra\":1}", "application/json", 0, 200, NULL},
    {"{\"texts\":[]}", "application/json", 1, 200, NULL},
};

TEST(serve_routes_fastapi_errors)
{
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    r.style = IC__ERRS_LEGACY;
    ic_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct case_ *c = &cases[i];
        ic_buf_reset(&b);
        int st = ic__parse_classify(c->body, strlen(c->body), c->ctype, c->batch, 4, &r, &b);
        if (st != c->status) {
            ic__req_free(&r);
            ic_buf_free(&b);
            FAIL("case %zu (%s): status %d, want %d", i, c->body, st, c->status);
        }
        if (c->expect && (!b.data || strcmp(b.data, c->expect) != 0)) {
            char got[1024];
            snprintf(got, sizeof got, "%s", b.data ? b.data : "(empty)");
            ic__req_free(&r);
            ic_buf_free(&b);
            FAIL("case %zu (%s):\n got  %s\n want %s", i, c->body, got, c->expect);
        }
    }
    ic__req_free(&r);
    ic_buf_free(&b);
}

TEST(serve_routes_json_decode_error_shape)
{
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    r.style = IC__ERRS_LEGACY;
    ic_buf_init(&b, 0);
    int st = ic__parse_classify("not json", 8, "application/json", 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_CONTAINS(b.data, "{\"detail\":[{\"loc\":[\"body\",");
    ASSERT_CONTAINS(b.data, "\"type\":\"value_error.jsondecode\"");
    ASSERT_CONTAINS(b.data, "\"ctx\":{\"msg\":");
    ASSERT_CONTAINS(b.data, "\"doc\":\"not json\"");
    ASSERT_CONTAINS(b.data, "\"lineno\":1");
    ic_buf_reset(&b);
    st = ic__parse_classify("{\"text\": \"a\",", 13, NULL, 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_CONTAINS(b.data, "value_error.jsondecode");
    ic__req_free(&r);
    ic_buf_free(&b);
}

/* pydantic 1 coerces numbers and booleans given as "text" with str(). */
TEST(serve_routes_pydantic_coercions)
{
    static const struct {
        const char *body, *text;
        int top_k;
    } cs[] = {
        {"{\"text\":123}", "123", 0},
        {"{\"text\":1.5}", "1.5", 0},
        {"{\"text\":true}", "True", 0},
        {"{\"text\":false}", "False", 0},
        {"{\"text\":-0.0001}", "-0.0001", 0},
        {"{\"text\":1e20}", "1e+20", 0},
        {"{\"text\":1e-5}", "1e-05", 0},
        {"{\"text\":100.0}", "100.0", 0},
        {"{\"text\":\"a\",\"text\":5}", "5", 0},
        {"{\"text\":\"a\",\"top_k\":2.5}", "a", 2},
        {"{\"text\":\"a\",\"top_k\":\"3\"}", "a", 3},
        {"{\"text\":\"a\",\"top_k\":\" 7 \"}", "a", 7},
        {"{\"text\":\"a\",\"top_k\":true}", "a", 1},
        {"{\"text\":\"a\",\"top_k\":null}", "a", 0},
        {"{\"text\":\"a\\u0000b\"}", "a", 0},
    };
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    r.style = IC__ERRS_LEGACY;
    ic_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ic_buf_reset(&b);
        int st = ic__parse_classify(cs[i].body, strlen(cs[i].body), "application/json", 0, 4,
                                    &r, &b);
        if (st != 200 || r.n != 1 || strcmp(r.texts[0], cs[i].text) != 0 ||
            r.top_k != cs[i].top_k) {
            char got[128];
            snprintf(got, sizeof got, "%d n=%d text=%s top_k=%d", st, r.n,
                     r.n ? r.texts[0] : "-", r.top_k);
            ic__req_free(&r);
            ic_buf_free(&b);
            FAIL("%s -> %s", cs[i].body, got);
        }
    }
    /* embedded NUL kept: length 3 */
    ASSERT_EQ(r.lens[0], 3);
    ic__req_free(&r);
    ic_buf_free(&b);
}

TEST(serve_routes_batch_texts_in_order)
{
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    r.style = IC__ERRS_LEGACY;
    ic_buf_init(&b, 0);
    /* more texts than the initial capacity, numbers among them */
    struct ic_buf body;
    ic_buf_init(&body, 0);
    ASSERT_OK(ic_buf_printf(&body, "{\"texts\":["));
    for (int i = 0; i < 100; i++)
        ASSERT_OK(ic_buf_printf(&body, i % 3 ? "%s\"t%d\"" : "%s%d", i ? "," : "", i));
    ASSERT_OK(ic_buf_printf(&body, "],\"top_k\":2}"));
    int st = ic__parse_classify(body.data, body.len, "application/json", 1, 256, &r, &b);
    ASSERT_EQ(st, 200);
    ASSERT_EQ(r.n, 100);
    ASSERT_EQ(r.top_k, 2);
    for (int i = 0; i < 100; i++) {
        char want[16];
        snprintf(want, sizeof want, i % 3 ? "t%d" : "%d", i);
        ASSERT_STR_EQ(r.texts[i], want);
        ASSERT_EQ(r.lens[i], strlen(want));
    }
    ic_buf_free(&body);
    ic__req_free(&r);
    ic_buf_free(&b);
}

TEST(serve_routes_py_float_repr)
{
    char buf[40];
    ASSERT_STR_EQ(ic__py_float_repr(1.5, buf), "1.5");
    ASSERT_STR_EQ(ic__py_float_repr(1.0, buf), "1.0");
    ASSERT_STR_EQ(ic__py_float_repr(0.1, buf), "0.1");
    ASSERT_STR_EQ(ic__py_float_repr(1e16, buf), "1e+16");
    ASSERT_STR_EQ(ic__py_float_repr(123456789012345.0, buf), "123456789012345.0");
    ASSERT_STR_EQ(ic__py_float_repr(0.0001, buf), "0.0001");
    ASSERT_STR_EQ(ic__py_float_repr(0.00001, buf), "1e-05");
    ASSERT_STR_EQ(ic__py_float_repr(-2.5e-10, buf), "-2.5e-10");
    ASSERT_STR_EQ(ic__py_float_repr(1.7976931348623157e308, buf), "1.7976931348623157e+308");
}

/* Every recorded FastAPI error body (both styles), byte for byte. */
TEST(serve_routes_golden_errors)
{
    char path[512];
    json_error_t je;
    snprintf(path, sizeof path, "%s/http/fastapi_errors.json", test_golden_dir());
    json_t *g = json_load_file(path, 0, &je);
    if (!g)
        FAIL("%s: %s", path, je.text);
    int max_batch = (int)json_integer_value(json_object_get(g, "max_batch"));
    json_t *gcases = json_object_get(g, "cases");
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    ic_buf_init(&b, 0);
    size_t n_cases = json_array_size(gcases), bad = 0;
    char why[1024] = "";
    for (size_t i = 0; i < n_cases; i++) {
        json_t *c = json_array_get(gcases, i);
        const char *body = json_string_value(json_object_get(c, "raw_body"));
        const char *style = json_string_value(json_object_get(c, "style"));
        int batch = strcmp(json_string_value(json_object_get(c, "path")), "/classify/batch") == 0;
        r.style = strcmp(style, "fastapi-legacy") == 0 ? IC__ERRS_LEGACY : IC__ERRS_PYDANTIC2;
        ic_buf_reset(&b);
        int st = ic__parse_classify(body, strlen(body), "application/json", batch, max_batch, &r,
                                    &b);
        char *want = json_dumps(json_object_get(c, "response"), JSON_COMPACT);
        if (st != json_integer_value(json_object_get(c, "status")) || !b.data ||
            strcmp(b.data, want) != 0) {
            if (!bad++)
                snprintf(why, sizeof why, "%s (%s): %d\n got  %s\n want %s",
                         json_string_value(json_object_get(c, "name")), body, st,
                         b.data ? b.data : "", want);
        }
        free(want);
    }
    ic__req_free(&r);
    ic_buf_free(&b);
    json_decref(g);
    ASSERT(n_cases >= 20);
    if (bad)
        FAIL("%zu of %zu gcases differ; first: %s", bad, n_cases, why);
}

/* pydantic 2 takes only strings as text; integral floats are integers. */
TEST(serve_routes_pydantic2_rules)
{
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    ic_buf_init(&b, 0);
    int st = ic__parse_classify("{\"text\":\"a\",\"top_k\":2.0}", 24, NULL, 0, 4, &r, &b);
    ASSERT_EQ(st, 200);
    ASSERT_EQ(r.top_k, 2);
    ic_buf_reset(&b);
    st = ic__parse_classify("{\"text\":true}", 13, NULL, 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_CONTAINS(b.data, "\"type\":\"string_type\"");
    ASSERT_CONTAINS(b.data, "\"input\":true");
    ic_buf_reset(&b);
    st = ic__parse_classify("not json", 8, "application/json", 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_CONTAINS(b.data, "{\"detail\":[{\"type\":\"json_invalid\",\"loc\":[\"body\",");
    ASSERT_CONTAINS(b.data, "],\"msg\":\"JSON decode error\",\"input\":{},\"ctx\":{\"error\":");
    ic_buf_reset(&b);
    st = ic__parse_classify("{\"text\":\"\xff\"}", 11, "application/json", 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_CONTAINS(b.data, "\"loc\":[\"body\",9]");
    ic_buf_reset(&b);
    st = ic__parse_classify("{\"text\":\"a\"}", 12, "text/plain", 0, 4, &r, &b);
    ASSERT_EQ(st, 422);
    ASSERT_STR_EQ(b.data, "{\"detail\":[{\"type\":\"model_attributes_type\",\"loc\":[\"body\"],"
                          "\"msg\":\"Input should be a valid dictionary or object to extract "
                          "fields from\",\"input\":\"{\\\"text\\\":\\\"a\\\"}\"}]}");
    ic__req_free(&r);
    ic_buf_free(&b);
}

TEST(serve_routes_tei_predict_bodies)
{
    static const struct {
        const char *body, *ctype;
        int status, n, nested, raw, trunc;
        const char *err; /* substring of the error, or NULL */
    } cs[] = {
        {"{\"inputs\":\"hola\"}", "application/json", 200, 1, 0, 0, 0, NULL},
        {"{\"inputs\":[[\"a\"],[\"b\"],[\"c\"]],\"raw_scores\":true,\"truncate\":true}",
         "application/json", 200, 3, 1, 1, 1, NULL},
        {"{\"inputs\":\"a\",\"truncate\":null,\"truncation_direction\":\"Right\"}",
         "application/json; charset=utf-8", 200, 1, 0, 0, 0, NULL},
        {"{\"inputs\":[]}", "application/json", 413, 0, 0, 0, 0, "`inputs` cannot be empty"},
        {"{\"inputs\":\"\"}", "application/json", 413, 0, 0, 0, 0, "`inputs` cannot be empty"},
        {"{\"inputs\":[[\"a\"],[\"\"]]}", "application/json", 413, 0, 0, 0, 0, "cannot be empty"},
        {"{\"inputs\":[[\"a\"],[\"b\"],[\"c\"],[\"d\"],[\"e\"]]}", "application/json", 413, 0, 0,
         0, 0, "batch size 5 > maximum allowed batch size 4"},
        {"{\"inputs\":[\"a\",\"b\"]}", "application/json", 422, 0, 0, 0, 0, "pairs"},
        {"{\"inputs\":[[\"a\",\"b\"]]}", "application/json", 422, 0, 0, 0, 0, "pairs"},
        {"{\"inputs\":[\"a\",\"b\",\"c\"]}", "application/json", 422, 0, 0, 0, 0, "untagged"},
        {"{\"inputs\":5}", "application/json", 422, 0, 0, 0, 0, "untagged"},
        {"{\"inputs\":[[1]]}", "application/json", 422, 0, 0, 0, 0, "untagged"},
        {"{}", "application/json", 422, 0, 0, 0, 0, "missing field `inputs`"},
        {"[]", "application/json", 422, 0, 0, 0, 0, "expected struct"},
        {"{\"inputs\":\"a\",\"raw_scores\":1}", "application/json", 422, 0, 0, 0, 0, "boolean"},
        {"{\"inputs\":\"a\",\"truncation_direction\":\"up\"}", "application/json", 422, 0, 0, 0,
         0, "unknown variant"},
        {"{\"inputs\":\"a\",\"truncation_direction\":\"left\"}", "application/json", 422, 0, 0,
         0, 0, "not supported"},
        {"{\"inputs\":\"a\"}", NULL, 415, 0, 0, 0, 0, "Content-Type"},
        {"{\"inputs\":\"a\"}", "text/plain", 415, 0, 0, 0, 0, "Content-Type"},
        {"", "application/json", 400, 0, 0, 0, 0, "Failed to parse"},
        {"{\"inputs\":\"\xc3\"}", "application/json", 400, 0, 0, 0, 0, "invalid UTF-8 at byte 11"},
    };
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    ic_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        ic_buf_reset(&b);
        int st = ic__parse_predict(cs[i].body, strlen(cs[i].body), cs[i].ctype, 4, &r, &b);
        int ok = st == cs[i].status;
        if (ok && st == 200)
            ok = r.n == cs[i].n && r.nested == cs[i].nested && r.raw_scores == cs[i].raw &&
                 r.truncate == cs[i].trunc;
        if (ok && st != 200) {
            json_error_t je;
            json_t *j = json_loadb(b.data, b.len, 0, &je);
            const char *e = json_string_value(json_object_get(j, "error"));
            ok = e && strstr(e, cs[i].err) &&
                 strcmp(json_string_value(json_object_get(j, "error_type")), "validation") == 0 &&
                 json_object_size(j) == 2 && r.n == 0;
            json_decref(j);
        }
        if (!ok) {
            char got[600];
            snprintf(got, sizeof got, "%d n=%d %s", st, r.n, b.data ? b.data : "");
            ic__req_free(&r);
            ic_buf_free(&b);
            FAIL("case %zu %s -> %s", i, cs[i].body, got);
        }
    }
    ic__req_free(&r);
    ic_buf_free(&b);
}

TEST(serve_routes_rasa_bodies)
{
    struct ic__req r;
    struct ic_buf b;
    ic__req_init(&r);
    ic_buf_init(&b, 0);
    const char *ok = "{\"text\":\"hola\",\"message_id\":\"x\"}";
    ASSERT_EQ(ic__parse_rasa(ok, strlen(ok), &r, &b), 200);
    ASSERT_EQ(r.n, 1);
    ASSERT_STR_EQ(r.texts[0], "hola");
    ok = "{\"text\":[\"a\",\"b\"]}";
    ASSERT_EQ(ic__parse_rasa(ok, strlen(ok), &r, &b), 200);
    ASSERT_STR_EQ(r.texts[0], "a");
    const char *bad[] = {"", "{}", "[1]", "{\"text\":5}", "{\"text\":[]}", "nope",
                         "{\"text\":\"\xff\"}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ic_buf_reset(&b);
        int st = ic__parse_rasa(bad[i], strlen(bad[i]), &r, &b);
        if (st != 400 || r.n != 0 || !strstr(b.data, "\"status\":\"failure\"") ||
            !strstr(b.data, "\"reason\":\"BadRequest\"") || !strstr(b.data, "\"code\":400}"))
            FAIL("%s -> %d %s", bad[i], st, b.data ? b.data : "");
    }
    ic__req_free(&r);
    ic_buf_free(&b);
}

static int refs_resolve(json_t *doc, json_t *x, char *bad, size_t n)
{
    const char *k;
    json_t *v;
    size_t i;
    if (json_is_object(x)) {
        json_object_foreach(x, k, v) {
            if (strcmp(k, "$ref") == 0) {
                const char *ref = json_string_value(v);
                const char *pre = "#/components/schemas/";
                json_t *sch = json_object_get(json_object_get(doc, "components"), "schemas");
                if (!ref || strncmp(ref, pre, strlen(pre)) != 0 ||
                    !json_object_get(sch, ref + strlen(pre))) {
                    snprintf(bad, n, "%s", ref ? ref : "(not a string)");
                    return 0;
                }
            } else if (!refs_resolve(doc, v, bad, n)) {
                return 0;
            }
        }
    } else if (json_is_array(x)) {
        json_array_foreach(x, i, v) if (!refs_resolve(doc, v, bad, n)) return 0;
    }
    return 1;
}

/* /openapi.json holds exactly the route table: one operation per entry,
 * its request and 200 schemas, every $ref resolving; the validation error
 * schema follows the error style. */
TEST(serve_routes_openapi_from_table)
{
    struct ic_err err;
    for (int legacy = 0; legacy <= 1; legacy++) {
        size_t len = 0;
        char *text = ic__openapi_build(legacy, 0, 0, &len, &err);
        if (!text)
            FAIL("build: %s", err.msg);
        json_error_t je;
        json_t *doc = json_loadb(text, len, 0, &je);
        ic_free(text);
        ASSERT(doc != NULL);
        ASSERT_STR_EQ(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
        json_t *paths = json_object_get(doc, "paths");
        int n_ops = 0, n_table = 0;
        const char *pk;
        json_t *pv;
        json_object_foreach(paths, pk, pv) n_ops += (int)json_object_size(pv);
        for (const struct ic__api_op *op; (op = ic__server_api_op(n_table)); n_table++) {
            char m[8];
            size_t k = 0;
            for (; op->method[k] && k < 7; k++)
                m[k] = (char)(op->method[k] - 'A' + 'a');
            m[k] = 0;
            json_t *o = json_object_get(json_object_get(paths, op->path), m);
            if (!o)
                FAIL("%s %s missing", op->method, op->path);
            ASSERT_STR_EQ(json_string_value(json_object_get(o, "operationId")), op->id);
            ASSERT_EQ(json_object_get(o, "requestBody") != NULL, op->request != NULL);
            ASSERT_EQ(op->body, op->request != NULL);
            json_t *ok = json_object_get(json_object_get(o, "responses"), "200");
            ASSERT(json_object_get(json_object_get(ok, "content"), op->media) != NULL);
        }
        ASSERT_EQ(n_ops, n_table);
        ASSERT(n_table >= 12);
        char bad[256] = "";
        if (!refs_resolve(doc, doc, bad, sizeof bad))
            FAIL("unresolved $ref %s", bad);
        json_t *ve = json_object_get(
            json_object_get(json_object_get(doc, "components"), "schemas"), "ValidationError");
        json_t *req = json_object_get(ve, "required");
        ASSERT_STR_EQ(json_string_value(json_array_get(req, 0)), legacy ? "loc" : "type");
        json_decref(doc);
    }
}

TEST(serve_ops_helpers)
{
    ASSERT(ic__bearer_ok("Bearer k3y", "k3y"));
    ASSERT(!ic__bearer_ok("Bearer k3", "k3y"));
    ASSERT(!ic__bearer_ok("Bearer k3yy", "k3y"));
    ASSERT(!ic__bearer_ok("bearer k3y", "k3y"));
    ASSERT(!ic__bearer_ok("k3y", "k3y"));
    ASSERT(!ic__bearer_ok(NULL, "k3y"));
    ASSERT_STR_EQ(ic__cors_allow("*", "https://x.example"), "*");
    ASSERT_STR_EQ(ic__cors_allow("https://a.example, https://b.example", "https://b.example"),
                  "https://b.example");
    ASSERT(ic__cors_allow("https://a.example", "https://a.example.evil") == NULL);
    ASSERT(ic__cors_allow("https://a.example", NULL) == NULL);
    ASSERT(ic__cors_allow(NULL, "https://a.example") == NULL);
    char a[IC__RID_MAX], b[IC__RID_MAX];
    ic__request_id("abc-1.2:3_4", a);
    ASSERT_STR_EQ(a, "abc-1.2:3_4");
    ic__request_id("has space", a);
    ic__request_id(NULL, b);
    ASSERT_EQ(strlen(a), 32);
    ASSERT(strcmp(a, b) != 0);
    char long_id[200];
    memset(long_id, 'x', sizeof long_id - 1);
    long_id[sizeof long_id - 1] = 0;
    ic__request_id(long_id, a);
    ASSERT_EQ(strlen(a), 32);
    struct ic_buf l;
    ic_buf_init(&l, 0);
    struct ic__access ac = {.wall = 86400.5, .remote = "::1", .method = "GET", .path = "/a b\"",
                            .rid = "r1", .status = 200, .bytes = 12, .duration_ms = 1.25};
    ic__access_line(&l, 0, &ac);
    ASSERT_STR_EQ(l.data, "1970-01-02T00:00:00.500Z ::1 GET /a%20b%22 200 12 1.250ms r1\n");
    ic_buf_reset(&l);
    ic__access_line(&l, 1, &ac);
    ASSERT_STR_EQ(l.data, "{\"time\":\"1970-01-02T00:00:00.500Z\",\"remote\":\"::1\",\"method\":"
                          "\"GET\",\"path\":\"/a b\\\"\",\"status\":200,\"bytes\":12,"
                          "\"duration_ms\":1.250,\"request_id\":\"r1\"}\n");
    ic_buf_free(&l);
}
