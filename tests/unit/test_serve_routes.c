/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_serve_routes.c - request validation of the HTTP API against the
 * bodies and status codes FastAPI 0.92 / pydantic 1 give for the same
 * requests (recorded from the original stack), without sockets.
 */
#include <stdlib.h>

#include "intent/ic.h"
#include "serve/routes.h"
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
