/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_lines.c - libFuzzer target for the stdin line reader of intent
 * predict and intent tokenize (src/core/lines.c) and the U+FFFD rule for
 * bytes that are not UTF-8. Byte 0 picks the line limit (1..64 bytes, or
 * 1 MiB when bit 7 is set); the rest is the stream. Checks: every line is
 * the input's bytes at that place (NUL, CR and all), followed by at most one
 * CR and then a LF or the end of input; lines come in order and cover the
 * input with nothing skipped; the line count is the number of LFs (plus one
 * for a last line without LF); an error is returned exactly for the first
 * line longer than the limit; the replaced text is valid UTF-8, equal to the
 * line when that is valid, and counts no replacement exactly then.
 * Follows tests/fuzz/fuzz_common.h (ic_fuzz_lines is replayed by the unit
 * tests).
 *   make fuzz && build/fuzz/fuzz_lines tests/fuzz/corpus/lines
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/lines.h"
#include "fuzz_common.h"
#include "intent/ic.h"

static void ic_fuzz_lines_replace(const char *s, size_t n)
{
    struct ic_buf b;
    size_t count = 0;
    ic_buf_init(&b, 0);
    IC_FUZZ_CHECK(ic__utf8_replace(&b, s, n, &count) == IC_OK);
    IC_FUZZ_CHECK(ic_utf8_valid(b.data, b.len, NULL));
    IC_FUZZ_CHECK(b.len <= 3 * n);
    if (ic_utf8_valid(s, n, NULL))
        IC_FUZZ_CHECK(count == 0 && b.len == n && (n == 0 || memcmp(b.data, s, n) == 0));
    else
        IC_FUZZ_CHECK(count > 0 && count <= n);
    ic_buf_free(&b);
}

/* Where the line starting at in[p] ends (index of its LF, or n), and
 * its length once one CR before that end is dropped. */
static size_t ic_fuzz_lines_end(const char *in, size_t n, size_t p, size_t *len)
{
    const char *nl = memchr(in + p, '\n', n - p);
    size_t e = nl ? (size_t)(nl - in) : n;
    *len = e - p - (e > p && in[e - 1] == '\r');
    return e;
}

int ic_fuzz_lines(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t max_len = (data[0] & 0x80) ? (size_t)1 << 20 : 1 + (size_t)(data[0] & 63);
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    FILE *f = fmemopen((void *)in, n ? n : 1, "r");
    IC_FUZZ_CHECK(f != NULL);
    if (n == 0)
        fgetc(f); /* fmemopen needs a size of at least 1: consume it */
    struct ic__line_reader r;
    struct ic_buf b;
    struct ic_err err;
    ic_buf_init(&b, 0);
    ic__line_reader_init(&r, f, "stdin", max_len);
    size_t p = 0;
    long count = 0;
    for (;;) {
        int got = -1;
        int rc = ic__line_next(&r, &b, &got, &err);
        size_t len = 0, e = p < n ? ic_fuzz_lines_end(in, n, p, &len) : n;
        if (p >= n) {
            IC_FUZZ_CHECK(rc == IC_OK && got == 0 && r.line_no == count);
            break;
        }
        if (len > max_len) {
            IC_FUZZ_CHECK(rc == IC_ERR_RANGE && r.line_no == count + 1);
            IC_FUZZ_CHECK(strstr(err.msg, "longer than") != NULL);
            break;
        }
        IC_FUZZ_CHECK(rc == IC_OK && got == 1 && r.line_no == ++count);
        IC_FUZZ_CHECK(b.len == len && (len == 0 || memcmp(b.data, in + p, len) == 0));
        IC_FUZZ_CHECK(b.len == 0 || b.data[b.len] == 0);
        ic_fuzz_lines_replace(b.data, b.len);
        p = e + 1;
    }
    ic_buf_free(&b);
    fclose(f);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    return ic_fuzz_lines(data, size);
}
#endif
