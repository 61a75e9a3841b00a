/* SPDX-License-Identifier: Apache-2.0 */
/*
 * mlm_mask.c - BERT's 80/10/10 masking, token-wise or whole-word
 * (pretrain.h).
 */
#include <string.h>

#include "intent/pretrain.h"

#define IGNORE (-100)

static int starts_with(const char *s, const char *p)
{
    return s && strncmp(s, p, strlen(p)) == 0;
}

int ic_mask_vocab_init(struct ic_mask_vocab *mv, const struct ic_tokenizer *t, struct ic_err *err)
{
    memset(mv, 0, sizeof *mv);
    if (t->mask_id < 0)
        return ic_errf(err, IC_ERR_INVAL, "the tokenizer has no mask token ([MASK] or <mask>): "
                       "masked-LM pretraining needs one");
    mv->n = ic_tokenizer_vocab_size(t);
    mv->mask_id = t->mask_id;
    mv->special = ic_xcalloc(mv->n ? mv->n : 1, 1);
    mv->cont = ic_xcalloc(mv->n ? mv->n : 1, 1);
    int32_t sp[] = {t->pad_id, t->unk_id, t->cls_id, t->sep_id, t->mask_id};
    for (size_t i = 0; i < sizeof sp / sizeof *sp; i++)
        if (sp[i] >= 0 && (size_t)sp[i] < mv->n)
            mv->special[sp[i]] = 1;
    for (size_t v = 0; v < mv->n; v++) {
        const char *s = ic_tokenizer_token(t, (int32_t)v);
        if (mv->special[v] || !s || !*s)
            continue;
        if (t->type == IC_TOK_WORDPIECE)
            mv->cont[v] = starts_with(s, "##");
        else if (t->type == IC_TOK_BPE)
            mv->cont[v] = !starts_with(s, "\xC4\xA0"); /* "Ġ": a space before */
        else
            mv->cont[v] = !starts_with(s, "\xE2\x96\x81"); /* "▁" */
    }
    return IC_OK;
}

void ic_mask_vocab_free(struct ic_mask_vocab *mv)
{
    ic_free(mv->special);
    ic_free(mv->cont);
    memset(mv, 0, sizeof *mv);
}

/* A random non-special id (the 10% replacement). */
static int32_t random_token(const struct ic_mask_vocab *mv, struct ic_rng *rng)
{
    for (int tries = 0; tries < 64; tries++) {
        int32_t v = (int32_t)ic_rng_below(rng, (uint32_t)mv->n);
        if (!mv->special[v])
            return v;
    }
    return mv->mask_id;
}

/* Target i: remember it, then [MASK] / random / unchanged. */
static void corrupt(int32_t *ids, int32_t *labels, size_t i, const struct ic_mask_vocab *mv,
                    struct ic_rng *rng)
{
    labels[i] = ids[i];
    float r = ic_rng_uniform(rng);
    if (r < 0.8f)
        ids[i] = mv->mask_id;
    else if (r < 0.9f)
        ids[i] = random_token(mv, rng);
}

static int maskable(const struct ic_mask_vocab *mv, int32_t id)
{
    return id >= 0 && (size_t)id < mv->n && !mv->special[id];
}

size_t ic_mlm_mask(int32_t *ids, int32_t *labels, size_t n, const struct ic_mask_opts *o,
                   const struct ic_mask_vocab *mv, struct ic_rng *rng)
{
    size_t count = 0;
    for (size_t i = 0; i < n; i++)
        labels[i] = IGNORE;
    float p = (float)o->prob;
    for (size_t i = 0; i < n;) {
        if (!maskable(mv, ids[i])) {
            i++;
            continue;
        }
        /* a word: i and, with whole_word, the tokens that continue it */
        size_t end = i + 1;
        while (o->whole_word && end < n && maskable(mv, ids[end]) && mv->cont[ids[end]])
            end++;
        int chosen = ic_rng_uniform(rng) < p;
        for (size_t j = i; chosen && j < end; j++, count++)
            corrupt(ids, labels, j, mv, rng);
        i = end;
    }
    return count;
}
