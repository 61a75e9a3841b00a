/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_lines.c - the length-aware line reader (src/core/lines.c): every byte
 * kept (NUL, lone CR, bytes that are not UTF-8), CR LF, no final LF, empty
 * lines, the length limit; the U+FFFD rule checked against what Python's
 * bytes.decode("utf-8", errors="replace") gives for the same bytes; and
 * vocab.txt, the other line-per-item text the tokenizer reads.
 */
#include <stdio.h>
#include <string.h>

#include "core/lines.h"
#include "intent/ic.h"
#include "intent/tokenizer.h"
#include "test.h"

/* Splits in[0..n) with a reader of limit max_len; fills lines (as
 * "<len>:<bytes>" joined by '|', NUL shown as '0') and returns the last
 * status. */
static int split(const char *in, size_t n, size_t max_len, struct ic_buf *got_lines,
                 long *count, struct ic_err *err)
{
    FILE *f = fmemopen((void *)in, n, "r");
    struct ic__line_reader r;
    struct ic_buf b;
    int rc = IC_OK;
    if (!f)
        return IC_ERR_IO;
    ic_buf_init(&b, 0);
    ic__line_reader_init(&r, f, "stdin", max_len);
    *count = 0;
    for (;;) {
        int got = 0;
        rc = ic__line_next(&r, &b, &got, err);
        if (rc != IC_OK || !got)
            break;
        (*count)++;
        if (r.line_no != *count)
            rc = IC_ERR_INVAL;
        if (rc == IC_OK)
            rc = ic_buf_printf(got_lines, "%s%zu:", *count > 1 ? "|" : "", b.len);
        for (size_t i = 0; rc == IC_OK && i < b.len; i++)
            rc = ic_buf_append(got_lines, b.data[i] ? b.data + i : "0", 1);
        if (rc == IC_OK && b.data[b.len] != 0)
            rc = IC_ERR_INVAL; /* not NUL-terminated */
        if (rc != IC_OK)
            break;
    }
    ic_buf_free(&b);
    fclose(f);
    return rc;
}

#define SPLIT_OK(lit, max, want_count, want)                                           \
    do {                                                                               \
        struct ic_buf o_;                                                              \
        long c_ = -1;                                                                  \
        ic_buf_init(&o_, 0);                                                           \
        ASSERT_OK(ic_buf_append(&o_, "", 0));                                          \
        int rc_ = split(lit, sizeof lit - 1, max, &o_, &c_, &err);                     \
        if (rc_ != IC_OK)                                                              \
            FAIL("%s: status %d: %s", #lit, rc_, err.msg);                             \
        if (c_ != (want_count) || strcmp(o_.data, want) != 0)                          \
            FAIL("%s: %ld lines \"%s\", expected %d \"%s\"", #lit, c_, o_.data,        \
                 (int)(want_count), want);                                             \
        ic_buf_free(&o_);                                                              \
    } while (0)

TEST(lines_every_byte_kept)
{
    struct ic_err err;
    ic_err_clear(&err);
    /* the report of issue 11: a NUL must not merge lines 2 and 3 */
    SPLIT_OK("x\na\0b\na\1b\ny\n", 100, 4, "1:x|3:a0b|3:a\1b|1:y");
    SPLIT_OK("", 100, 0, "");
    SPLIT_OK("\n", 100, 1, "0:");
    SPLIT_OK("\n\n\0\n", 100, 3, "0:|0:|1:0");
    SPLIT_OK("no final newline", 100, 1, "16:no final newline");
    SPLIT_OK("a\nb", 100, 2, "1:a|1:b");
    /* CR LF ends a line; a lone CR, or a second one, is text */
    SPLIT_OK("a\r\nb\rc\r\r\n\r\n", 100, 3, "1:a|4:b\rc\r|0:");
    SPLIT_OK("last\r", 100, 1, "4:last");
    /* bytes that are not UTF-8 (a lone surrogate ED A0 80, FF) pass as they are */
    SPLIT_OK("\xed\xa0\x80\n\xff\xfe\n", 100, 2, "3:\xed\xa0\x80|2:\xff\xfe");
    SPLIT_OK("\0\0\0", 100, 1, "3:000");
}

TEST(lines_length_limit)
{
    struct ic_err err;
    ic_err_clear(&err);
    SPLIT_OK("abcd\nabc\n", 4, 2, "4:abcd|3:abc");
    SPLIT_OK("abcd\r\nab", 4, 2, "4:abcd|2:ab");
    SPLIT_OK("abcd", 4, 1, "4:abcd");
    SPLIT_OK("abc\0", 4, 1, "4:abc0");
    static const char *const over[] = {"ab\nabcde\nx\n", "ab\nabcd\rx\n", "ab\nabcde",
                                       "ab\nabcd\r\r\n"};
    for (size_t i = 0; i < sizeof over / sizeof *over; i++) {
        struct ic_buf o;
        long c = -1;
        ic_buf_init(&o, 0);
        ASSERT_OK(ic_buf_append(&o, "", 0));
        ic_err_clear(&err);
        ASSERT_EQ(split(over[i], strlen(over[i]), 4, &o, &c, &err), IC_ERR_RANGE);
        ASSERT_EQ(c, 1);
        ASSERT_STR_EQ(err.msg, "stdin: line 2: longer than 4 bytes");
        ic_buf_free(&o);
    }
    /* a 1 MiB line of NULs and one byte more, as intent predict's limit */
    size_t mib = (size_t)1 << 20;
    char *big = ic_xcalloc(mib + 2, 1);
    struct ic_buf o;
    long c = -1;
    ic_buf_init(&o, 0);
    ASSERT_OK(ic_buf_append(&o, "", 0));
    big[mib] = '\n';
    ASSERT_OK_ERR(split(big, mib + 1, mib, &o, &c, &err), err);
    ASSERT_EQ(c, 1);
    ASSERT_EQ(o.len, strlen("1048576:") + mib);
    ic_buf_reset(&o);
    big[mib] = 'x';
    ASSERT_EQ(split(big, mib + 1, mib, &o, &c, &err), IC_ERR_RANGE);
    ASSERT_STR_EQ(err.msg, "stdin: line 1: longer than 1048576 bytes");
    ic_buf_free(&o);
    ic_free(big);
}

TEST(lines_utf8_replace_as_python)
{
    /* expected values from Python 3: bytes.decode("utf-8", errors="replace") */
    static const struct {
        const char *in, *want;
        size_t count;
    } cases[] = {
        {"", "", 0},
        {"h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac",
         "h\xc3\xa9llo \xf0\x9f\x98\x80 \xe2\x82\xac", 0},
        {"\xed\xa0\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},   /* lone surrogate */
        {"a\xff" "b", "a\xef\xbf\xbd" "b", 1},
        {"\xe2\x82", "\xef\xbf\xbd", 1},                               /* truncated */
        {"\xf0\x9f\x98", "\xef\xbf\xbd", 1},
        {"\xc0\xaf", "\xef\xbf\xbd\xef\xbf\xbd", 2},                   /* overlong */
        {"\xe0\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 3},
        {"\xf4\x90\x80\x80", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 4},
        {"\xf0\x90\x80x", "\xef\xbf\xbdx", 1},
        {"\xe1\x80\xe2\x82\xac", "\xef\xbf\xbd\xe2\x82\xac", 1},
        {"\x80\xbf", "\xef\xbf\xbd\xef\xbf\xbd", 2},
        {"\xf8\x88\x80\x80\x80",
         "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd", 5},
        {"\xed\x9f\xbf\xed\xa0", "\xed\x9f\xbf\xef\xbf\xbd\xef\xbf\xbd", 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        struct ic_buf b;
        size_t count = 99;
        ic_buf_init(&b, 0);
        ASSERT_OK(ic_buf_append(&b, "", 0));
        ASSERT_OK(ic__utf8_replace(&b, cases[i].in, strlen(cases[i].in), &count));
        if (strcmp(b.data, cases[i].want) != 0 || count != cases[i].count)
            FAIL("case %zu: got \"%s\" (%zu replaced)", i, b.data, count);
        ASSERT(ic_utf8_valid(b.data, b.len, NULL));
        ic_buf_free(&b);
    }
    /* NUL is UTF-8 and stays */
    struct ic_buf b;
    size_t count = 99;
    ic_buf_init(&b, 0);
    ASSERT_OK(ic__utf8_replace(&b, "a\0\xff", 3, &count));
    ASSERT_EQ(b.len, 5);
    ASSERT(memcmp(b.data, "a\0\xef\xbf\xbd", 5) == 0);
    ASSERT_EQ(count, 1);
    ic_buf_free(&b);
}

/* vocab.txt is read line by line too (whole file, src/text/tokenizer.c): a
 * NUL in a token or bytes that are not UTF-8 (a lone surrogate) are errors
 * naming the file and the line, counted with empty lines; CR LF ends a line
 * like LF, a CR inside a token is part of it, and a last token without a
 * final newline counts. */
TEST(lines_vocab_txt_bytes)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } bad[] = {
#define C(lit, want) {lit, sizeof lit - 1, want}
        C("[PAD]\n\n[UNK]\n[CLS]\n[SEP]\nho\0la\nb\n", "vocab.txt: line 6: token holds a NUL byte"),
        C("[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\n\0", "vocab.txt: line 5: token holds a NUL byte"),
        C("[PAD]\n[UNK]\n[CLS]\n[SEP]\na\xed\xa0\x80" "b\n", "vocab.txt: line 5: invalid UTF-8"),
        C("[PAD]\n[UNK]\n[CLS]\n\n\n[SEP]\n\xff", "vocab.txt: line 7: invalid UTF-8"),
#undef C
    };
    struct ic_tokenizer_opts o;
    struct ic_tokenizer t;
    struct ic_err err;
    ic_tokenizer_default_opts(&o);
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        int rc = ic_tokenizer_load_vocab_mem(&t, bad[i].text, bad[i].len, &o, &err);
        ic_tokenizer_free(&t);
        if (rc == IC_OK)
            FAIL("case %zu loaded", i);
        ASSERT_EQ(rc, IC_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, bad[i].want);
    }
    static const char crlf[] = "[PAD]\r\n[UNK]\r\n[CLS]\r\n[SEP]\r\nho\rla\r\n\r\nhola";
    ASSERT_OK_ERR(ic_tokenizer_load_vocab_mem(&t, crlf, sizeof crlf - 1, &o, &err), err);
    ASSERT_EQ(t.n_tokens, 7);
    ASSERT_EQ(ic_tokenizer_id(&t, "[SEP]", 5), 3);
    ASSERT_EQ(ic_tokenizer_id(&t, "ho\rla", 5), 4);
    ASSERT_EQ(ic_tokenizer_id(&t, "hola", 4), 6);
    ic_tokenizer_free(&t);
}
