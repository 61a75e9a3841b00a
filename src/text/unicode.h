/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unicode.h - the character classes and mappings the BERT tokenizer needs,
 * as Hugging Face's Rust `tokenizers` defines them, built on utf8proc plus a
 * small table of code points where utf8proc's Unicode version and the Rust
 * crates' disagree (see unicode.c and docs/tokenizer.md).
 * Internal to src/text/.
 */
#ifndef IC_TEXT_UNICODE_H
#define IC_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Longest output of ic__uni_nfd / ic__uni_lower for one code point. */
#define IC_UNI_MAX_MAP 8

/* Removed by clean_text: NUL, U+FFFD, and "other" (Cc, Cf, Co, Cs; not Cn)
 * except \t \n \r. */
int ic__uni_is_removed(uint32_t cp);
/* Mapped to ' ' by clean_text and split on by the pre-tokenizer:
 * Unicode White_Space (Rust char::is_whitespace). */
int ic__uni_is_space(uint32_t cp);
/* Punctuation for the pre-tokenizer: ASCII punctuation or Unicode P*. */
int ic__uni_is_punct(uint32_t cp);
/* Letter (general category L*), as the \p{L} of Hugging Face's regexes. */
int ic__uni_is_letter(uint32_t cp);
/* Number (N*: Nd, Nl, No), as \p{N}. */
int ic__uni_is_number(uint32_t cp);
/* Letter or number (Rust char::is_alphanumeric, near enough for the
 * single_word rule of added tokens). */
int ic__uni_is_alnum(uint32_t cp);
/* CJK ideograph blocks that get spaces around them. */
int ic__uni_is_cjk(uint32_t cp);
/* Nonspacing mark (Mn): dropped by accent stripping. */
int ic__uni_is_mn(uint32_t cp);
/* Canonical combining class (for NFD ordering). */
int ic__uni_ccc(uint32_t cp);
/* Canonical decomposition of cp (full, recursive; Hangul included) into
 * out[IC_UNI_MAX_MAP]; returns the count (1 and out[0] = cp if none).
 * Not reordered: the caller applies canonical ordering. */
int ic__uni_nfd(uint32_t cp, uint32_t *out);
/* Full lower-case mapping of one code point (Rust char::to_lowercase):
 * returns the count written to out[IC_UNI_MAX_MAP]. */
int ic__uni_lower(uint32_t cp, uint32_t *out);

/* UTF-8 helpers. Decodes one code point at s[0..n) (n >= 1); returns its
 * length in bytes, or 0 if invalid (overlong, surrogate, > U+10FFFF,
 * truncated). */
int ic__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);
/* Encodes cp into out (4 bytes room); returns the length. */
int ic__utf8_encode(uint32_t cp, char *out);

#endif
