/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_internal.h - pieces of the tokenizer shared by tokenizer.c (vocabulary,
 * encoding), tokenizer_io.c (checkpoint directories) and vocab_train.c.
 * Internal to src/text/.
 */
#ifndef IC_TEXT_TOK_INTERNAL_H
#define IC_TEXT_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "intent/tokenizer.h"

/* Longest token accepted in a vocabulary (bytes). */
#define IC_TOK_MAX_TOKEN_BYTES 65535
/* Largest max_input_chars_per_word accepted from a file. */
#define IC_TOK_MAX_WORD_LIMIT 10000
/* Largest text encode accepts (bytes). */
#define IC_TOK_MAX_TEXT ((size_t)1 << 30)

/* Builds t from n token strings (id = index; copied). opts copied. Looks up
 * the five BERT specials; [UNK] [CLS] [SEP] must exist (IC_ERR_FORMAT naming
 * `what`). Duplicates: the later id wins for lookups. On failure t is
 * zeroed. */
int ic__tok_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens, size_t n,
                  const struct ic_tokenizer_opts *o, const char *what, struct ic_err *err);
/* Parses vocab.txt content (see ic_tokenizer_load_vocab); what names the
 * source in messages. */
int ic__tok_load_vocab_text(struct ic_tokenizer *t, const char *text, size_t len,
                            const struct ic_tokenizer_opts *o, const char *what,
                            struct ic_err *err);
/* Replaces the literal-match special tokens with the given list (copied;
 * each must be in the vocabulary). */
int ic__tok_set_specials(struct ic_tokenizer *t, const char *const *specials, size_t n,
                         struct ic_err *err);
/* Effective strip_accents of o (resolves -1). */
int ic__tok_strip(const struct ic_tokenizer_opts *o);

/* Called for every pre-tokenised word: UTF-8 bytes word[0..nbytes),
 * nchars characters, ofs[i] = byte offset of character i (ofs[nchars] =
 * nbytes). When nchars > the word limit, word and ofs are NULL. */
typedef void (*ic__tok_word_fn)(void *ud, const char *word, size_t nbytes, const uint32_t *ofs,
                                size_t nchars);
/* Normalises and pre-tokenises text with options o (no special-token
 * matching) and calls fn per word. Invalid UTF-8 -> IC_ERR_FORMAT. */
int ic__tok_words(const struct ic_tokenizer_opts *o, struct ic_tok_work *w, const char *text,
                  size_t len, ic__tok_word_fn fn, void *ud, struct ic_err *err);

#endif
