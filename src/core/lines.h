/* SPDX-License-Identifier: Apache-2.0 */
/*
 * lines.h - internal: text read one line at a time from a stream (stdin of
 * intent predict and intent tokenize), with every byte kept.
 *
 * A line is the bytes before a LF, or before the end of input for a last
 * line without one (no final LF adds no empty line). One CR right before
 * that end belongs to the line end (CR LF files); any other CR, a NUL and
 * every other byte is part of the line. The length is carried along, never
 * found with strlen, so a NUL cannot merge or hide text. Lines are bounded:
 * one longer than the reader's limit is an error naming it, found before
 * more than limit + 1 bytes of it are held.
 *
 * ic__utf8_replace is the rule for bytes that are not UTF-8: each maximal
 * ill-formed subpart (Unicode 15, section 3.9, "U+FFFD substitution of
 * maximal subparts") becomes one U+FFFD, which is what Python's
 * bytes.decode("utf-8", errors="replace") gives.
 */
#ifndef IC_CORE_LINES_H
#define IC_CORE_LINES_H

#include <stdio.h>

#include "intent/ic.h"

struct ic__line_reader {
    FILE *f;
    const char *name; /* for messages: "stdin" */
    size_t max_len;   /* longest line accepted, bytes, line end excluded */
    long line_no;     /* number of the line last returned (1-based); 0 before */
};

void ic__line_reader_init(struct ic__line_reader *r, FILE *f, const char *name, size_t max_len);

/* Reads the next line into b (its old contents replaced; NUL-terminated for
 * convenience, b->len is the length; the line end removed). Returns IC_OK
 * with *got = 1 for a line, *got = 0 at the end of input; IC_ERR_RANGE for
 * a line over max_len ("stdin: line 7: longer than 1048576 bytes"; the rest
 * of it is left unread) or one b cannot hold; IC_ERR_IO for a read error. */
int ic__line_next(struct ic__line_reader *r, struct ic_buf *b, int *got,
                  struct ic_err *err) IC_WUR;

/* Appends s[0..n) to out with every maximal ill-formed UTF-8 subpart
 * replaced by U+FFFD (EF BF BD); valid text is copied unchanged. *replaced
 * (may be NULL) gets the number of replacements. Returns IC_OK or the status
 * of ic_buf_append (out at most 3n bytes longer). */
int ic__utf8_replace(struct ic_buf *out, const char *s, size_t n, size_t *replaced) IC_WUR;

#endif
