/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpe.h - byte-level BPE (bpe.c) and its trainer (bpe_train.c). Internal to
 * src/text/.
 */
#ifndef IC_TEXT_BPE_H
#define IC_TEXT_BPE_H

#include <stddef.h>
#include <stdint.h>

#include "intent/tokenizer.h"

struct ic__bpe_opts {
    int add_prefix_space;  /* ByteLevel add_prefix_space */
    const char *unk_token; /* model unk_token, NULL = none */
    int fuse_unk;
    const size_t *lines;   /* merges.txt: the line of each merge, for messages; NULL:
                              messages say merges[i] (tokenizer.json's model.merges) */
};

/* Makes t (whose vocabulary ic__tok_vocab_build has built) a byte-level BPE
 * with the given merges ("a b", rank = index). A merge whose tokens or
 * merged token are not in the vocabulary is an IC_ERR_FORMAT naming what
 * and the merge (its index, or its line with o->lines). On failure the caller frees t. */
int ic__bpe_build(struct ic_tokenizer *t, const char *const *merges, const size_t *merge_lens,
                  size_t n_merges, const struct ic__bpe_opts *o, const char *what,
                  struct ic_err *err);

/* GPT-2's byte -> printable character map, and back (-1 if cp is none). */
uint32_t ic__bpe_byte_cp(unsigned char b);
int ic__bpe_cp_byte(uint32_t cp);
/* End of the ByteLevel piece (GPT-2 pattern) starting at byte i of valid
 * UTF-8 s[0..len), i < len. */
size_t ic__bpe_piece_end(const char *s, size_t len, size_t i);

/* Accessors for saving. */
int ic__bpe_add_prefix_space(const struct ic_tokenizer *t);
size_t ic__bpe_n_merges(const struct ic_tokenizer *t);
void ic__bpe_merge(const struct ic_tokenizer *t, size_t rank, int32_t *left, int32_t *right);
int32_t ic__bpe_unk(const struct ic_tokenizer *t);

#endif
