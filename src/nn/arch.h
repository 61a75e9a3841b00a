/* SPDX-License-Identifier: Apache-2.0 */
/*
 * arch.h - the one tensor table of the encoder classifiers (internal).
 *
 * IC_BERT_TENSORS lists every Hugging Face tensor once, in state_dict order,
 * with the struct ic_bert_weights field it lives in, its shape and its name
 * in each architecture. From it come the field list (struct layout order),
 * the block layout, the named pointers and the name table (bert_params.c):
 * a new tensor or a new architecture is a change here, not in three places.
 *
 * Columns: X(field, part, stage, rows, cols, bert, roberta, distilbert, electra)
 *   part   0 starts a field; 1, 2 are further HF tensors stacked after it in
 *          the same field (query, key, value of one packed QKV matrix)
 *   stage  0 before the layers, 1 once per layer (names hold "%d"), 2 after
 *   rows, cols  dims (struct ic__dims): V vocab, P positions, TV token
 *          types, E embedding width, EP projection rows (ELECTRA with
 *          E != H, else 0), H hidden, FI intermediate, N labels; cols Z = 1-D.
 *          A masked-LM model (cfg.mlm_head) has MH = H and MV = V for its
 *          head and PH = N = 0 (no pooler, no classifier); a classifier
 *          the reverse: zero-sized tensors are absent from the table.
 *   names  NULL: absent. A leading '.' marks the base model: the name is
 *          the architecture's prefix ("bert") followed by it; others
 *          (classifier.*, pre_classifier.*) are the head, stored without one.
 */
#ifndef IC_NN_ARCH_H
#define IC_NN_ARCH_H

#include <stddef.h>

#include "intent/bert.h"

#define IC__LAYER_BERT ".encoder.layer.%d."
#define IC__LAYER_DISTIL ".transformer.layer.%d."

#define IC_BERT_TENSORS(X)                                                                     \
    X(word_emb, 0, 0, V, E, ".embeddings.word_embeddings.weight",                              \
      ".embeddings.word_embeddings.weight", ".embeddings.word_embeddings.weight",              \
      ".embeddings.word_embeddings.weight")                                                    \
    X(pos_emb, 0, 0, P, E, ".embeddings.position_embeddings.weight",                           \
      ".embeddings.position_embeddings.weight", ".embeddings.position_embeddings.weight",      \
      ".embeddings.position_embeddings.weight")                                                \
    X(type_emb, 0, 0, TV, E, ".embeddings.token_type_embeddings.weight",                       \
      ".embeddings.token_type_embeddings.weight", NULL,                                        \
      ".embeddings.token_type_embeddings.weight")                                              \
    X(emb_ln_w, 0, 0, E, Z, ".embeddings.LayerNorm.weight", ".embeddings.LayerNorm.weight",    \
      ".embeddings.LayerNorm.weight", ".embeddings.LayerNorm.weight")                          \
    X(emb_ln_b, 0, 0, E, Z, ".embeddings.LayerNorm.bias", ".embeddings.LayerNorm.bias",        \
      ".embeddings.LayerNorm.bias", ".embeddings.LayerNorm.bias")                              \
    X(emb_proj_w, 0, 0, EP, E, NULL, NULL, NULL, ".embeddings_project.weight")                 \
    X(emb_proj_b, 0, 0, EP, Z, NULL, NULL, NULL, ".embeddings_project.bias")                   \
    IC__LAYER_TENSORS(X)                                                                       \
    IC__MLM_TENSORS(X)                                                                         \
    X(pooler_w, 0, 2, PH, H, ".pooler.dense.weight", "classifier.dense.weight",                 \
      "pre_classifier.weight", "classifier.dense.weight")                                      \
    X(pooler_b, 0, 2, PH, Z, ".pooler.dense.bias", "classifier.dense.bias",                     \
      "pre_classifier.bias", "classifier.dense.bias")                                          \
    X(cls_w, 0, 2, N, H, "classifier.weight", "classifier.out_proj.weight",                    \
      "classifier.weight", "classifier.out_proj.weight")                                       \
    X(cls_b, 0, 2, N, Z, "classifier.bias", "classifier.out_proj.bias", "classifier.bias",     \
      "classifier.out_proj.bias")

/* The masked-LM head (BertForMaskedLM's cls.predictions, RoBERTa's lm_head,
 * DistilBertForMaskedLM's vocab_*): dense -> act -> LayerNorm -> decoder
 * tied to word_emb (so not stored) + bias. ELECTRA's generator has none. */
#define IC__MLM_TENSORS(X)                                                                     \
    X(mlm_dense_w, 0, 2, MH, H, "cls.predictions.transform.dense.weight",                     \
      "lm_head.dense.weight", "vocab_transform.weight", NULL)                                  \
    X(mlm_dense_b, 0, 2, MH, Z, "cls.predictions.transform.dense.bias", "lm_head.dense.bias",  \
      "vocab_transform.bias", NULL)                                                            \
    X(mlm_ln_w, 0, 2, MH, Z, "cls.predictions.transform.LayerNorm.weight",                    \
      "lm_head.layer_norm.weight", "vocab_layer_norm.weight", NULL)                            \
    X(mlm_ln_b, 0, 2, MH, Z, "cls.predictions.transform.LayerNorm.bias",                      \
      "lm_head.layer_norm.bias", "vocab_layer_norm.bias", NULL)                                \
    X(mlm_bias, 0, 2, MV, Z, "cls.predictions.bias", "lm_head.bias", "vocab_projector.bias",   \
      NULL)

/* One encoder layer; BERT, RoBERTa and ELECTRA share their names. */
#define IC__LAYER(X, field, part, rows, cols, bert_tail, distil_tail)                           \
    X(field, part, 1, rows, cols, IC__LAYER_BERT bert_tail, IC__LAYER_BERT bert_tail,           \
      IC__LAYER_DISTIL distil_tail, IC__LAYER_BERT bert_tail)

#define IC__LAYER_TENSORS(X)                                                                   \
    IC__LAYER(X, qkv_w, 0, H, H, "attention.self.query.weight", "attention.q_lin.weight")      \
    IC__LAYER(X, qkv_b, 0, H, Z, "attention.self.query.bias", "attention.q_lin.bias")          \
    IC__LAYER(X, qkv_w, 1, H, H, "attention.self.key.weight", "attention.k_lin.weight")        \
    IC__LAYER(X, qkv_b, 1, H, Z, "attention.self.key.bias", "attention.k_lin.bias")            \
    IC__LAYER(X, qkv_w, 2, H, H, "attention.self.value.weight", "attention.v_lin.weight")      \
    IC__LAYER(X, qkv_b, 2, H, Z, "attention.self.value.bias", "attention.v_lin.bias")          \
    IC__LAYER(X, attn_out_w, 0, H, H, "attention.output.dense.weight",                         \
              "attention.out_lin.weight")                                                      \
    IC__LAYER(X, attn_out_b, 0, H, Z, "attention.output.dense.bias", "attention.out_lin.bias")  \
    IC__LAYER(X, attn_ln_w, 0, H, Z, "attention.output.LayerNorm.weight",                      \
              "sa_layer_norm.weight")                                                          \
    IC__LAYER(X, attn_ln_b, 0, H, Z, "attention.output.LayerNorm.bias", "sa_layer_norm.bias")  \
    IC__LAYER(X, ffn_up_w, 0, FI, H, "intermediate.dense.weight", "ffn.lin1.weight")            \
    IC__LAYER(X, ffn_up_b, 0, FI, Z, "intermediate.dense.bias", "ffn.lin1.bias")                \
    IC__LAYER(X, ffn_down_w, 0, H, FI, "output.dense.weight", "ffn.lin2.weight")                \
    IC__LAYER(X, ffn_down_b, 0, H, Z, "output.dense.bias", "ffn.lin2.bias")                    \
    IC__LAYER(X, ffn_ln_w, 0, H, Z, "output.LayerNorm.weight", "output_layer_norm.weight")     \
    IC__LAYER(X, ffn_ln_b, 0, H, Z, "output.LayerNorm.bias", "output_layer_norm.bias")

/* The dims the table's shapes are written in, for one config. */
struct ic__dims {
    size_t V, P, TV, E, EP, H, FI, N, L, Z, PH, MH, MV;
};
void ic__dims_of(struct ic__dims *d, const struct ic_bert_config *c);

/* Field indices (part-0 rows), in block order. */
#define IC__FIELD_0(field) IC__F_##field,
#define IC__FIELD_1(field)
#define IC__FIELD_2(field)
#define IC__FIELD_ENUM(field, part, ...) IC__FIELD_##part(field)
enum ic__field { IC_BERT_TENSORS(IC__FIELD_ENUM) IC__F_COUNT };

/* Embedding width E of a config (hidden_size unless ELECTRA's differs). */
static inline int ic__emb_width(const struct ic_bert_config *c)
{
    return c->embedding_size > 0 ? c->embedding_size : c->hidden_size;
}

#endif
