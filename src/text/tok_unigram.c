/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_unigram.c - the SentencePiece Unigram family (XLM-R) behind the
 * tokenizer seam: tokenizer.json loading and saving.
 */
#include <jansson.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/tok_internal.h"
#include "text/tok_json.h"

int ic__unigram_from_json(struct ic_tokenizer *t, json_t *root, json_t *cfg, const char *path,
                          struct ic_err *err)
{
    (void)t;
    (void)root;
    (void)cfg;
    return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: model.type \"Unigram\" is not supported yet",
                   path);
}

int ic__unigram_save_dir(const struct ic_tokenizer *t, const char *dir, struct ic_err *err)
{
    (void)t;
    return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: saving a Unigram tokenizer is not supported yet",
                   dir);
}

int ic_vocab_train_unigram(const char *const *texts, size_t n, size_t vocab_size,
                           struct ic_tokenizer *out, struct ic_err *err)
{
    (void)texts;
    (void)n;
    (void)vocab_size;
    memset(out, 0, sizeof *out);
    return ic_errf(err, IC_ERR_UNSUPPORTED, "the Unigram trainer is not available yet");
}
