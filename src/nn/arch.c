/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arch.c - the architecture table: per model_type what the forward does
 * differently (token types, position ids, dropout sites, head). Tensor
 * names are in arch.h's IC_BERT_TENSORS. Adding an architecture: a row
 * here, a name column there, its config keys in src/io/hfconfig.c.
 */
#include <string.h>

#include "nn/arch.h"

static const struct ic_arch_info g_arch[IC_ARCH_COUNT] = {
    /* BertForSequenceClassification: tanh(pooler(h[:, 0])) -> dropout -> classifier */
    [IC_ARCH_BERT] = {"bert", "BertForSequenceClassification", "bert", 1, 0, 1, 0, IC_ACT_TANH},
    /* RobertaClassificationHead: dropout -> dense -> tanh -> dropout -> out_proj */
    [IC_ARCH_ROBERTA] = {"roberta", "RobertaForSequenceClassification", "roberta", 1, 1, 1, 1,
                         IC_ACT_TANH},
    /* DistilBERT: no token types, no dropout after out_lin;
     * pre_classifier -> ReLU -> dropout(seq_classif_dropout) -> classifier */
    [IC_ARCH_DISTILBERT] = {"distilbert", "DistilBertForSequenceClassification", "distilbert", 0,
                            0, 0, 0, IC_ACT_RELU},
    /* ElectraClassificationHead: dropout -> dense -> GELU -> dropout -> out_proj */
    [IC_ARCH_ELECTRA] = {"electra", "ElectraForSequenceClassification", "electra", 1, 0, 1, 1,
                         IC_ACT_GELU},
};

const struct ic_arch_info *ic_arch_get(enum ic_arch a)
{
    IC_ASSERT((int)a >= 0 && a < IC_ARCH_COUNT);
    return &g_arch[a];
}

int ic_arch_parse(const char *model_type, enum ic_arch *out)
{
    for (int a = 0; a < IC_ARCH_COUNT; a++)
        if (strcmp(model_type, g_arch[a].model_type) == 0) {
            *out = (enum ic_arch)a;
            return IC_OK;
        }
    /* same modelling code and names as RoBERTa */
    if (strcmp(model_type, "xlm-roberta") == 0 || strcmp(model_type, "camembert") == 0) {
        *out = IC_ARCH_ROBERTA;
        return IC_OK;
    }
    return IC_ERR_UNSUPPORTED;
}

const char *ic_arch_supported(void)
{
    return "bert, roberta, xlm-roberta, camembert, distilbert, electra";
}

void ic__dims_of(struct ic__dims *d, const struct ic_bert_config *c)
{
    const struct ic_arch_info *ai = ic_arch_get(c->arch);
    memset(d, 0, sizeof *d);
    d->V = (size_t)c->vocab_size;
    d->P = (size_t)c->max_position;
    d->TV = ai->token_types ? (size_t)c->type_vocab_size : 0;
    d->E = (size_t)ic__emb_width(c);
    d->H = (size_t)c->hidden_size;
    d->EP = d->E != d->H ? d->H : 0;
    d->FI = (size_t)c->intermediate_size;
    d->N = c->mlm_head ? 0 : (size_t)c->num_labels;
    d->PH = c->mlm_head ? 0 : d->H;
    d->MH = c->mlm_head ? d->H : 0;
    d->MV = c->mlm_head ? d->V : 0;
    d->L = (size_t)c->num_layers;
    d->Z = 0;
}
