/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_hfconfig.c - libFuzzer target for Hugging Face config.json parsing
 * (ic_hfconfig_parse, include/intent/ckpt.h).
 *
 * An accepted config must describe a model that can be built (positive
 * sizes, heads dividing the hidden size, one label name per label), and
 * must survive a round trip: our serialisation parses back to the same
 * shape and labels.
 */
#include <stdint.h>
#include <string.h>

#include "fuzz_common.h"
#include "intent/ckpt.h"

static void ic_fuzz_hfconfig_check(const struct ic_hfconfig *c)
{
    const struct ic_bert_config *b = &c->cfg;
    IC_FUZZ_CHECK(b->hidden_size > 0 && b->num_layers >= 0 && b->num_heads > 0);
    IC_FUZZ_CHECK(b->hidden_size % b->num_heads == 0);
    IC_FUZZ_CHECK(b->intermediate_size > 0 && b->vocab_size > 0);
    IC_FUZZ_CHECK(b->max_position > 0 && b->type_vocab_size > 0);
    IC_FUZZ_CHECK(b->num_labels > 0);
    IC_FUZZ_CHECK(c->id2label != NULL);
    for (int i = 0; i < b->num_labels; i++)
        IC_FUZZ_CHECK(c->id2label[i] != NULL);
}

int ic_fuzz_hfconfig(const uint8_t *data, size_t size)
{
    struct ic_hfconfig c, c2;
    struct ic_err err;
    memset(&err, 0, sizeof err);
    ic_hfconfig_init(&c);
    ic_hfconfig_init(&c2);
    int rc = ic_hfconfig_parse((const char *)data, size, "config.json", &c, &err);
    if (rc == IC_OK) {
        ic_fuzz_hfconfig_check(&c);
        char *json = NULL;
        rc = ic_hfconfig_to_json(&c, &json, &err);
        if (rc == IC_OK) {
            rc = ic_hfconfig_parse(json, strlen(json), "config.json (rewritten)", &c2, &err);
            if (rc != IC_OK)
                fprintf(stderr, "round trip refused: %s\n%s\n", err.msg, json);
            IC_FUZZ_CHECK(rc == IC_OK);
            IC_FUZZ_CHECK(c2.cfg.hidden_size == c.cfg.hidden_size);
            IC_FUZZ_CHECK(c2.cfg.num_layers == c.cfg.num_layers);
            IC_FUZZ_CHECK(c2.cfg.num_heads == c.cfg.num_heads);
            IC_FUZZ_CHECK(c2.cfg.vocab_size == c.cfg.vocab_size);
            IC_FUZZ_CHECK(c2.cfg.num_labels == c.cfg.num_labels);
            for (int i = 0; i < c.cfg.num_labels; i++)
                IC_FUZZ_CHECK(strcmp(c.id2label[i], c2.id2label[i]) == 0);
        } else {
            IC_FUZZ_CHECK(err.msg[0] != 0);
        }
        ic_free(json);
    } else {
        IC_FUZZ_CHECK(err.msg[0] != 0);
    }
    ic_hfconfig_free(&c);
    ic_hfconfig_free(&c2);
    return 0;
}

#ifndef IC_FUZZ_NO_MAIN
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ic_fuzz_quiet();
    return ic_fuzz_hfconfig(data, size);
}
#endif
