/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lines.c - the length-aware line reader and the U+FFFD rule for bytes that
 * are not UTF-8 (see lines.h).
 */
#include <errno.h>
#include <string.h>

#include "core/lines.h"

void ic__line_reader_init(struct ic__line_reader *r, FILE *f, const char *name, size_t max_len)
{
    r->f = f;
    r->name = name;
    r->max_len = max_len;
    r->line_no = 0;
}

/* Reads bytes up to a LF (consumed, not stored) or the end of input into b,
 * stopping early once more than limit bytes are held. Sets *any when a byte
 * (LF included) was read, *over when it stopped early. Runs under the
 * stream's lock (getc_unlocked). */
static int read_raw(FILE *f, struct ic_buf *b, size_t limit, int *any, int *over)
{
    char chunk[4096];
    size_t k = 0, held = 0;
    int rc = IC_OK;
    *any = *over = 0;
    for (;;) {
        int c = getc_unlocked(f);
        if (c == EOF)
            break;
        *any = 1;
        if (c == '\n')
            break;
        if (held == limit) {
            *over = 1;
            break;
        }
        chunk[k++] = (char)c;
        held++;
        if (k == sizeof chunk) {
            rc = ic_buf_append(b, chunk, k);
            k = 0;
            if (rc != IC_OK)
                break;
        }
    }
    if (rc == IC_OK && k > 0)
        rc = ic_buf_append(b, chunk, k);
    return rc;
}

int ic__line_next(struct ic__line_reader *r, struct ic_buf *b, int *got, struct ic_err *err)
{
    int any, over, rc;
    *got = 0;
    ic_buf_reset(b);
    /* max_len + 1 bytes may be held: the last one can be the CR of a CR LF */
    size_t limit = r->max_len + 1 < r->max_len ? r->max_len : r->max_len + 1;
    flockfile(r->f);
    rc = read_raw(r->f, b, limit, &any, &over);
    int read_error = ferror(r->f);
    int e = errno;
    funlockfile(r->f);
    if (any)
        r->line_no++;
    if (read_error)
        return ic_errf(err, IC_ERR_IO, "%s: line %ld: read error: %s", r->name, r->line_no + !any,
                       strerror(e));
    if (!any)
        return IC_OK;
    if (rc == IC_OK && !over && b->len > 0 && b->data[b->len - 1] == '\r')
        b->data[--b->len] = 0;
    if (rc != IC_OK || over || b->len > r->max_len)
        return ic_errf(err, IC_ERR_RANGE, "%s: line %ld: longer than %zu bytes", r->name,
                       r->line_no, r->max_len);
    if (ic_buf_append(b, "", 0) != IC_OK) /* NUL-terminates an empty line */
        return ic_errf(err, IC_ERR_RANGE, "%s: line %ld: longer than %zu bytes", r->name,
                       r->line_no, r->max_len);
    *got = 1;
    return IC_OK;
}

/* Length of the well-formed sequence at s[0..n) (n >= 1), or 0 with *sub
 * set to the length of its maximal ill-formed subpart: the longest start of
 * a well-formed sequence that s begins with, at least 1 byte (Unicode 15,
 * table 3-7 gives the allowed second bytes). */
static size_t utf8_seq(const unsigned char *s, size_t n, size_t *sub)
{
    unsigned c = s[0], lo = 0x80, hi = 0xBF;
    size_t need;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 1;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 2;
        lo = c == 0xE0 ? 0xA0 : 0x80; /* no overlong forms */
        hi = c == 0xED ? 0x9F : 0xBF; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 3;
        lo = c == 0xF0 ? 0x90 : 0x80; /* no overlong forms */
        hi = c == 0xF4 ? 0x8F : 0xBF; /* nothing past U+10FFFF */
    } else {
        *sub = 1;
        return 0;
    }
    for (size_t j = 1; j <= need; j++) {
        unsigned l = j == 1 ? lo : 0x80, h = j == 1 ? hi : 0xBF;
        if (j >= n || s[j] < l || s[j] > h) {
            *sub = j;
            return 0;
        }
    }
    return need + 1;
}

int ic__utf8_replace(struct ic_buf *out, const char *s, size_t n, size_t *replaced)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0, run = 0, count = 0;
    int rc = IC_OK;
    while (i < n && rc == IC_OK) {
        size_t sub = 0, k = u[i] < 0x80 ? 1 : utf8_seq(u + i, n - i, &sub);
        if (k > 0) {
            i += k;
            continue;
        }
        rc = ic_buf_append(out, s + run, i - run);
        if (rc == IC_OK)
            rc = ic_buf_append(out, "\xEF\xBF\xBD", 3);
        count++;
        i += sub;
        run = i;
    }
    if (rc == IC_OK)
        rc = ic_buf_append(out, s + run, n - run);
    if (replaced)
        *replaced = count;
    return rc;
}
