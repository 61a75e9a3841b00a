/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_pretrain.c - masked-LM pretraining: BERT's masking (statistics,
 * special tokens, whole words, determinism).
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "intent/pretrain.h"
#include "intent/tokenizer.h"
#include "test.h"

/* [PAD]=0 [UNK]=1 [CLS]=2 [SEP]=3 [MASK]=4, words 5..14, continuations 15..19 */
static const char k_vocab[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n"
                              "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n##s\n##t\n##u\n##v\n##w\n";

static void mask_vocab(struct ic_tokenizer *t, struct ic_mask_vocab *mv)
{
    struct ic_err err;
    IC_ASSERT(ic_tokenizer_load_vocab_mem(t, k_vocab, sizeof k_vocab - 1, NULL, &err) == IC_OK);
    IC_ASSERT(ic_mask_vocab_init(mv, t, &err) == IC_OK);
}

/* [CLS] w w ... [SEP] [PAD]...: n ids, real tokens from rng. */
static void sequence(int32_t *ids, size_t n, size_t real, struct ic_rng *rng)
{
    ids[0] = 2;
    for (size_t i = 1; i < n; i++)
        ids[i] = i + 1 < real ? 5 + (int32_t)ic_rng_below(rng, 15) : i + 1 == real ? 3 : 0;
}

TEST(pretrain_mask_statistics_and_special_tokens)
{
    struct ic_tokenizer t = {0};
    struct ic_mask_vocab mv;
    mask_vocab(&t, &mv);
    ASSERT(mv.special[0] && mv.special[2] && mv.special[4] && !mv.special[5]);
    ASSERT(mv.cont[15] && !mv.cont[5]);
    struct ic_rng rng, data;
    ic_rng_seed(&rng, 1);
    ic_rng_seed(&data, 2);
    struct ic_mask_opts o = {0.15, 0};
    enum { N = 40 };
    int32_t ids[N], orig[N], lab[N];
    size_t maskable = 0, targets = 0, as_mask = 0, as_other = 0, as_same = 0;
    for (int s = 0; s < 5000; s++) {
        size_t real = 5 + ic_rng_below(&data, N - 5);
        sequence(ids, N, real, &data);
        memcpy(orig, ids, sizeof ids);
        size_t k = ic_mlm_mask(ids, lab, N, &o, &mv, &rng);
        size_t seen = 0;
        for (size_t i = 0; i < N; i++) {
            int special = mv.special[orig[i]];
            maskable += !special;
            if (lab[i] == -100) {
                ASSERT_EQ(ids[i], orig[i]); /* not a target: untouched */
                continue;
            }
            ASSERT(!special); /* [CLS], [SEP], [PAD] never chosen */
            ASSERT_EQ(lab[i], orig[i]);
            seen++;
            if (ids[i] == 4)
                as_mask++;
            else if (ids[i] == orig[i])
                as_same++;
            else
                as_other++;
            ASSERT(!mv.special[ids[i]] || ids[i] == 4); /* random ones are words */
        }
        ASSERT_EQ(seen, k);
        targets += k;
    }
    double frac = (double)targets / (double)maskable;
    double fm = (double)as_mask / (double)targets, fo = (double)as_other / (double)targets;
    double fs = (double)as_same / (double)targets;
    /* ~14000 targets: 3-4 standard deviations */
    ASSERT(fabs(frac - 0.15) < 0.01);
    ASSERT(fabs(fm - 0.8) < 0.015);
    ASSERT(fabs(fo - 0.1 * 14.0 / 15.0) < 0.012); /* a random word can be the same word */
    ASSERT(fabs(fs - (0.1 + 0.1 / 15.0)) < 0.012);
    ic_mask_vocab_free(&mv);
    ic_tokenizer_free(&t);
}

TEST(pretrain_mask_deterministic_from_seed)
{
    struct ic_tokenizer t = {0};
    struct ic_mask_vocab mv;
    mask_vocab(&t, &mv);
    struct ic_mask_opts o = {0.15, 0};
    enum { N = 64 };
    int32_t a[N], b[N], la[N], lb[N];
    struct ic_rng d1, d2, r1, r2, r3;
    ic_rng_seed(&d1, 9);
    ic_rng_seed(&d2, 9);
    sequence(a, N, N, &d1);
    sequence(b, N, N, &d2);
    ic_rng_seed(&r1, 42);
    ic_rng_seed(&r2, 42);
    ic_mlm_mask(a, la, N, &o, &mv, &r1);
    ic_mlm_mask(b, lb, N, &o, &mv, &r2);
    ASSERT(memcmp(a, b, sizeof a) == 0 && memcmp(la, lb, sizeof la) == 0);
    ic_rng_seed(&d2, 9);
    sequence(b, N, N, &d2);
    ic_rng_seed(&r3, 43);
    ic_mlm_mask(b, lb, N, &o, &mv, &r3);
    ASSERT(memcmp(la, lb, sizeof la) != 0); /* another seed, other targets */
    ic_mask_vocab_free(&mv);
    ic_tokenizer_free(&t);
}

TEST(pretrain_whole_word_mask_takes_whole_words)
{
    struct ic_tokenizer t = {0};
    struct ic_mask_vocab mv;
    mask_vocab(&t, &mv);
    struct ic_mask_opts o = {0.15, 1};
    struct ic_rng rng, data;
    ic_rng_seed(&rng, 3);
    ic_rng_seed(&data, 4);
    enum { N = 48 };
    int32_t ids[N], orig[N], lab[N];
    size_t words = 0, chosen = 0, targets = 0, maskable = 0;
    for (int s = 0; s < 3000; s++) {
        /* [CLS] then words of 1-3 pieces ("a ##s ##t") then [SEP] */
        size_t n = 0;
        ids[n++] = 2;
        while (n + 4 < N) {
            ids[n++] = 5 + (int32_t)ic_rng_below(&data, 10);
            for (uint32_t k = ic_rng_below(&data, 3); k > 0; k--)
                ids[n++] = 15 + (int32_t)ic_rng_below(&data, 5);
        }
        ids[n++] = 3;
        memcpy(orig, ids, n * sizeof *ids);
        targets += ic_mlm_mask(ids, lab, n, &o, &mv, &rng);
        for (size_t i = 1; i + 1 < n;) {
            size_t e = i + 1;
            while (e + 1 < n && mv.cont[orig[e]])
                e++;
            int first = lab[i] != -100;
            for (size_t j = i; j < e; j++)
                ASSERT_EQ(lab[j] != -100, first); /* all of a word or none */
            words++;
            chosen += (size_t)first;
            maskable += e - i;
            i = e;
        }
    }
    ASSERT(fabs((double)chosen / (double)words - 0.15) < 0.01);
    ASSERT(targets > 0 && targets <= maskable);
    ic_mask_vocab_free(&mv);
    ic_tokenizer_free(&t);
}

TEST(pretrain_mask_needs_a_mask_token)
{
    static const char v[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\na\n";
    struct ic_tokenizer t = {0};
    struct ic_err err;
    struct ic_mask_vocab mv;
    ASSERT_OK_ERR(ic_tokenizer_load_vocab_mem(&t, v, sizeof v - 1, NULL, &err), err);
    ASSERT(ic_mask_vocab_init(&mv, &t, &err) == IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "mask token");
    ic_tokenizer_free(&t);
}
