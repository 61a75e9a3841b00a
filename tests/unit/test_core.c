/* SPDX-License-Identifier: Apache-2.0 */
/* test_core.c - status strings, error detail, buffers, files, RNG, UTF-8. */
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "test.h"

TEST(core_status_and_err)
{
    ASSERT_STR_EQ(ic_status_str(IC_OK), "ok");
    ASSERT_STR_EQ(ic_status_str(IC_ERR_FORMAT), "malformed input");
    ASSERT_STR_EQ(ic_status_str(999), "unknown status");
    struct ic_err err;
    ic_err_clear(&err);
    ASSERT_EQ(ic_errf(&err, IC_ERR_RANGE, "file %s: %d", "a.json", 3), IC_ERR_RANGE);
    ASSERT_STR_EQ(err.msg, "file a.json: 3");
    ic_err_prefix(&err, "loading %s", "x");
    ASSERT_STR_EQ(err.msg, "loading x: file a.json: 3");
    ASSERT_EQ(ic_errf(NULL, IC_ERR_IO, "ignored"), IC_ERR_IO);
}

TEST(core_buf_cap_and_json)
{
    struct ic_buf b;
    ic_buf_init(&b, 8);
    ASSERT_OK(ic_buf_append(&b, "abcd", 4));
    ASSERT_EQ(ic_buf_append(&b, "efghi", 5), IC_ERR_RANGE);
    ASSERT_EQ(b.len, 4);
    ASSERT_STR_EQ(b.data, "abcd");
    ic_buf_free(&b);
    ic_buf_init(&b, 0);
    ASSERT_OK(ic_buf_json_str(&b, "a\"b\\c\n\x01", 7));
    ASSERT_STR_EQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    ic_buf_free(&b);
}

TEST(core_atomic_write_and_read)
{
    char *p = ic_path_join(test_tmpdir(), "f.txt");
    ASSERT_OK(ic_write_file_atomic(p, "hello", 5, NULL));
    char *data;
    size_t n;
    ASSERT_OK(ic_read_file(p, 0, &data, &n, NULL));
    ASSERT_EQ(n, 5);
    ASSERT_STR_EQ(data, "hello");
    ic_free(data);
    struct ic_err err;
    ASSERT_EQ(ic_read_file(p, 3, &data, &n, &err), IC_ERR_RANGE);
    ASSERT_CONTAINS(err.msg, "f.txt");
    char *bad = ic_path_join(test_tmpdir(), "no/such/dir/x");
    ASSERT_EQ(ic_write_file_atomic(bad, "x", 1, &err), IC_ERR_IO);
    ASSERT_EQ(ic_read_file(bad, 0, &data, &n, &err), IC_ERR_NOTFOUND);
    ic_free(bad);
    ic_free(p);
}

TEST(core_rng_deterministic_and_uniform)
{
    struct ic_rng a, b;
    ic_rng_seed(&a, 42);
    ic_rng_seed(&b, 42);
    for (int i = 0; i < 100; i++)
        ASSERT_EQ(ic_rng_u64(&a), ic_rng_u64(&b));
    int counts[10] = {0};
    for (int i = 0; i < 100000; i++)
        counts[ic_rng_below(&a, 10)]++;
    for (int i = 0; i < 10; i++)
        ASSERT(counts[i] > 9500 && counts[i] < 10500);
    double s = 0, s2 = 0;
    for (int i = 0; i < 100000; i++) {
        double x = ic_rng_normal(&a);
        s += x;
        s2 += x * x;
    }
    ASSERT_NEAR(s / 100000, 0.0, 0.02);
    ASSERT_NEAR(s2 / 100000, 1.0, 0.02);
}

TEST(core_utf8_validation)
{
    size_t off = 0;
    ASSERT(ic_utf8_valid("ni\xc3\xb1o", 5, &off));
    ASSERT(!ic_utf8_valid("ab\xc3", 3, &off));
    ASSERT_EQ(off, 2);
    ASSERT(!ic_utf8_valid("\xed\xa0\x80", 3, &off)); /* surrogate */
    ASSERT(!ic_utf8_valid("\xc0\xaf", 2, &off));     /* overlong */
    ASSERT(ic_utf8_valid("\xf0\x9f\x98\x80", 4, &off));
}
