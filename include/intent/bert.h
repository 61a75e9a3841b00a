/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bert.h - the post-LN encoder classifiers of Hugging Face, one model type
 * with an architecture switch (struct ic_arch_info): BERT
 * (BertForSequenceClassification), RoBERTa / XLM-RoBERTa / CamemBERT
 * (RobertaForSequenceClassification), DistilBERT and the ELECTRA
 * discriminator. All are embeddings + post-LN encoder + a head on the first
 * token; they differ in names, token types, position ids, an ELECTRA
 * embedding projection and the head (src/nn/arch.c, docs/internals.md).
 *
 * Memory follows llm.c: all weights live in ONE float block, pointed into by
 * named pointers (struct ic_bert_weights), and ONE table (struct ic_param)
 * maps each Hugging Face state_dict name to an offset and shape in that
 * block. Grads, AdamW m and v use blocks of the same layout, so the table
 * indexes them too. Q, K and V of a layer are adjacent ((3H, H) rows), which
 * is both three HF tensors and one packed QKV matrix.
 *
 * Read-only weights (struct ic_bert) are kept apart from per-call state
 * (struct ic_bert_state): many threads may run forward on one ic_bert, each
 * with its own state.
 */
#ifndef IC_BERT_H
#define IC_BERT_H

#include "intent/ic.h"
#include "intent/tensors.h"

#ifdef __cplusplus
extern "C" {
#endif

/* IC_ACT_TANH is a head activation only (not a hidden_act). */
enum ic_act { IC_ACT_GELU, IC_ACT_GELU_NEW, IC_ACT_RELU, IC_ACT_TANH };

/* Architectures (config.json model_type). */
enum ic_arch { IC_ARCH_BERT, IC_ARCH_ROBERTA, IC_ARCH_DISTILBERT, IC_ARCH_ELECTRA, IC_ARCH_COUNT };

/* What differs between the architectures besides tensor names (the names
 * are in the tensor table of src/nn/arch.c). */
struct ic_arch_info {
    const char *model_type;    /* "bert", "roberta", "distilbert", "electra" */
    const char *hf_class;      /* "BertForSequenceClassification" */
    const char *prefix;        /* base-model prefix of state_dict keys: "bert" */
    int token_types;           /* 1: token_type_embeddings exist */
    int pad_positions;         /* 1: RoBERTa position ids (padding_idx + 1 + count
                                  of non-pad tokens so far; pad tokens get padding_idx) */
    int attn_out_dropout;      /* 1: dropout after the attention output dense */
    int head_dropout_in;       /* 1: dropout on the first token before the head dense */
    enum ic_act head_act;      /* activation after the head dense */
};

/* The table row of a (valid) architecture. */
const struct ic_arch_info *ic_arch_get(enum ic_arch a);
/* config.json model_type -> architecture ("xlm-roberta" and "camembert" are
 * RoBERTa). IC_ERR_UNSUPPORTED for others. */
int ic_arch_parse(const char *model_type, enum ic_arch *out);
/* "bert, roberta, xlm-roberta, camembert, distilbert, electra" (for messages). */
const char *ic_arch_supported(void);

struct ic_bert_config {
    enum ic_arch arch;      /* IC_ARCH_BERT */
    char model_type[24];    /* config.json model_type when it names a variant of
                               arch ("xlm-roberta", "camembert"); "" = arch's own */
    int vocab_size;         /* V   30522 */
    int hidden_size;        /* H   768 */
    int num_layers;         /* L   12 */
    int num_heads;          /* NH  12 */
    int intermediate_size;  /* I   3072 */
    int max_position;       /* P   512 */
    int type_vocab_size;    /* TV  2 */
    int num_labels;         /* N   2 */
    int pad_token_id;       /* 0 (RoBERTa 1) */
    int embedding_size;     /* E: ELECTRA's embedding width; 0 = hidden_size */
    enum ic_act act;        /* config.json hidden_act, "gelu" */
    float layer_norm_eps;   /* 1e-12 */
    float initializer_range;/* 0.02 */
    float hidden_dropout;   /* hidden_dropout_prob 0.1 */
    float attention_dropout;/* attention_probs_dropout_prob 0.1 */
    float classifier_dropout; /* < 0: null in config.json, use hidden_dropout */
    int mlm_head;           /* 1: the masked-LM head (BertForMaskedLM ...) instead of
                               pooler and classifier; never read from config.json */
};

/* Hugging Face BertConfig defaults (bert-base shape, num_labels 2). */
void ic_bert_config_default(struct ic_bert_config *c);
/* Checks that the shape is usable (positive dims, H % NH == 0, sane caps). */
int ic_bert_config_check(const struct ic_bert_config *c, struct ic_err *err) IC_WUR;
/* Parses activation names: "gelu", "gelu_new", "relu". */
int ic_act_parse(const char *name, enum ic_act *out);
const char *ic_act_name(enum ic_act a);

/* Named pointers into one parameter-layout block (weights, grads, m or v),
 * in block order; generated from IC_BERT_TENSORS (src/nn/arch.h), which
 * also gives the shapes and every architecture's Hugging Face names.
 *   word_emb (V,E) pos_emb (P,E) type_emb (TV,E; DistilBERT none)
 *   emb_ln_w, emb_ln_b (E)  emb_proj_w (H,E), emb_proj_b (H) (ELECTRA, E != H)
 *   qkv_w (L,3H,H) rows query, key, value; qkv_b (L,3H)
 *   attn_out_w (L,H,H) attn_out_b attn_ln_w attn_ln_b (L,H)
 *   ffn_up_w (L,I,H) ffn_up_b (L,I) ffn_down_w (L,H,I) ffn_down_b ffn_ln_w ffn_ln_b (L,H)
 *   mlm_dense_w (H,H) mlm_dense_b mlm_ln_w mlm_ln_b (H) mlm_bias (V): the
 *     masked-LM head (cfg.mlm_head only; its decoder is word_emb)
 *   pooler_w (H,H) pooler_b (H): BERT's pooler, the others' head dense
 *   cls_w (N,H) cls_b (N): the classifier (RoBERTa/ELECTRA out_proj) */
struct ic_bert_weights {
    float *word_emb, *pos_emb, *type_emb, *emb_ln_w, *emb_ln_b, *emb_proj_w, *emb_proj_b;
    float *qkv_w, *qkv_b, *attn_out_w, *attn_out_b, *attn_ln_w, *attn_ln_b;
    float *ffn_up_w, *ffn_up_b, *ffn_down_w, *ffn_down_b, *ffn_ln_w, *ffn_ln_b;
    float *mlm_dense_w, *mlm_dense_b, *mlm_ln_w, *mlm_ln_b, *mlm_bias;
    float *pooler_w, *pooler_b, *cls_w, *cls_b;
};

/* One row of the parameter table: a Hugging Face state_dict entry. */
#define IC_PARAM_NAME_MAX 80
struct ic_param {
    char name[IC_PARAM_NAME_MAX]; /* "bert.encoder.layer.0.attention.self.query.weight" */
    int ndim;                     /* 1 or 2 */
    int64_t shape[2];
    size_t offset;                /* in floats, into any parameter-layout block */
    size_t numel;
    int no_decay;                 /* 1 for biases and LayerNorm weights (HF Trainer) */
    int is_head;                  /* 1 outside the base model (classifier.*,
                                     pre_classifier.*): a fresh head replaces it */
    int per_label;                /* 1 when the shape has num_labels rows */
    int loaded;                   /* 1 once ic_bert_load_tensors filled it */
};

struct ic_bert {
    struct ic_bert_config cfg;
    float *params;              /* one 64-byte aligned block of num_params floats */
    size_t num_params;
    struct ic_bert_weights w;   /* points into params */
    struct ic_param *table;     /* n_table entries, HF state_dict order */
    size_t n_table;
};

/* Longest sequence the position table allows: max_position_embeddings, less
 * padding_idx + 1 for RoBERTa's offset positions (514 -> 512). */
int ic_bert_max_seq(const struct ic_bert_config *c);

/* Number of floats a parameter-layout block needs for cfg. */
size_t ic_bert_num_params(const struct ic_bert_config *cfg);
/* Points w's fields into block (num_params floats) for cfg. */
void ic_bert_point(struct ic_bert_weights *w, float *block, const struct ic_bert_config *cfg);

/* Allocates a zeroed model of shape cfg (after ic_bert_config_check). */
int ic_bert_init(struct ic_bert *m, const struct ic_bert_config *cfg, struct ic_err *err) IC_WUR;
/* Hugging Face _init_weights: Linear/Embedding N(0, initializer_range), biases
 * 0, padding row 0, LayerNorm (1, 0). */
void ic_bert_init_weights(struct ic_bert *m, struct ic_rng *rng);
/* Re-initialises the head: every tensor outside the base model (BERT's
 * classifier; RoBERTa/ELECTRA classifier.dense and out_proj; DistilBERT
 * pre_classifier and classifier): weights N(0, range), biases 0. */
void ic_bert_init_head(struct ic_bert *m, struct ic_rng *rng);
/* Initialises only the head tensors the last ic_bert_load_tensors did not
 * fill (loaded == 0), in table order, as transformers does with
 * ignore_mismatched_sizes: a checkpoint whose head differs only in label
 * count keeps its head dense (classifier.dense, pre_classifier) and gets a
 * new classifier / out_proj; a headless checkpoint gets a whole new head. */
void ic_bert_init_head_unloaded(struct ic_bert *m, struct ic_rng *rng);
/* Replaces the head with one for num_labels labels (new, initialised). */
void ic_bert_resize_head(struct ic_bert *m, int num_labels, struct ic_rng *rng);
const struct ic_param *ic_bert_find_param(const struct ic_bert *m, const char *name);
void ic_bert_free(struct ic_bert *m);

/* Copies weights from a tensor list (a loaded checkpoint) into m by table name.
 * Every body tensor must be present; a missing pooler is initialised as
 * Hugging Face does (seeded), a missing head is left for the caller
 * (ic_bert_init_head). No full initialisation is needed beforehand.
 * Accepts legacy names (LayerNorm.gamma/beta), keys with or without the
 * architecture's prefix ("bert.", "roberta.", ...), and ignores
 * position_ids buffers and pretraining heads (cls.*, lm_head.*,
 * generator_*, discriminator_predictions.*). Keys under another
 * architecture's prefix are an error naming the tensor and both model types.
 * Missing encoder weights are an error naming the tensor; a missing head
 * sets *head_missing = 1 (the caller initialises one); a classifier of
 * another label count sets *head_mismatch = 1 and is skipped. Each table
 * entry's loaded flag says whether the checkpoint filled it.
 * Shape mismatches are errors naming the tensor, source and both shapes. */
int ic_bert_load_tensors(struct ic_bert *m, const struct ic_tensors *ts, const char *source,
                         int *head_missing, int *head_mismatch, struct ic_err *err) IC_WUR;
/* Fills ts with borrowed pointers to every table entry of block (params or
 * grads), HF names, F32. The list borrows: free it with ic_tensors_free. */
void ic_bert_export_tensors(const struct ic_bert *m, const float *block, struct ic_tensors *ts);

/* --------------------------------------------------------------------------
 * Low precision (docs/performance.md, src/nn/lowp.c). A prepared copy of
 * every Linear weight (Q/K/V, attention output, FFN up and down, ELECTRA's
 * embedding projection, the head dense and the classifier) is built once
 * from the fp32 weights, which stay as they are:
 *   int8  per-output-channel symmetric int8 weights and scales; activations
 *         quantised per row on the fly, int32 accumulation (AVX512-VNNI,
 *         AVX2, or plain C);
 *   bf16  weights rounded to bf16 once, activations rounded per product,
 *         fp32 accumulation (AVX512-BF16, or an AVX2 / plain C emulation
 *         with the same rounding).
 * Embeddings, LayerNorm, attention, softmax, GELU and residuals stay fp32. */
enum ic_precision { IC_PRECISION_FP32, IC_PRECISION_BF16, IC_PRECISION_INT8 };

/* "fp32", "bf16", "int8" -> precision; IC_ERR_INVAL for anything else. */
int ic_precision_parse(const char *name, enum ic_precision *out);
const char *ic_precision_name(enum ic_precision p);

/* Opaque: the prepared weights of one model at one precision. */
struct ic_bert_prepared;

/* Builds m's prepared weights at precision p (IC_PRECISION_FP32 gives *out
 * = NULL: the fp32 path needs none). Refuses (IC_ERR_RANGE) a model with a
 * NaN or infinite value, naming the tensor and the index. The result reads
 * nothing of m afterwards; free it with ic_bert_prepared_free (NULL is
 * fine). Any number of states may share one. */
int ic_bert_prepare(struct ic_bert_prepared **out, const struct ic_bert *m, enum ic_precision p,
                    struct ic_err *err) IC_WUR;
void ic_bert_prepared_free(struct ic_bert_prepared *p);
enum ic_precision ic_bert_prepared_precision(const struct ic_bert_prepared *p);
/* Bytes the prepared weights hold. */
size_t ic_bert_prepared_bytes(const struct ic_bert_prepared *p);

/* The kernels in use for precision p on this CPU: "avx512-vnni", "avx2",
 * "portable" (int8), "avx512-bf16", "avx2", "portable" (bf16), "openblas"
 * (fp32). INTENT_KERNELS=portable|avx2|avx512 caps the choice (read once). */
const char *ic_kernels_name(enum ic_precision p);
/* 1 when p runs on this CPU's native low-precision instructions (VNNI for
 * int8, AVX512-BF16 for bf16; always 1 for fp32). */
int ic_kernels_native(enum ic_precision p);

/* --------------------------------------------------------------------------
 * Forward / backward. */

struct ic_batch {
    int B, T;                 /* batch size, padded sequence length */
    const int32_t *ids;       /* (B, T) */
    const int32_t *type_ids;  /* (B, T) or NULL for all zeros */
    const int32_t *mask;      /* (B, T) 1 real, 0 padding */
    const int32_t *labels;    /* (B) or NULL */
    const int32_t *mlm_labels; /* (B, T) masked-LM targets (-100 = not predicted),
                                  for a cfg.mlm_head model; NULL otherwise */
};

/* Per-call state: activations for up to max_batch x max_seq, and, when
 * with_grads, the parameter gradients (parameter layout) and activation
 * gradients. The internals are the model's business; callers use logits,
 * probs, loss and grads. */
struct ic_bert_state {
    int max_batch, max_seq, with_grads;
    struct ic_bert_config cfg;
    float *logits;      /* (B, N) after forward */
    float *probs;       /* (B, N) softmax of logits after forward */
    float *features;    /* (B, H) after forward: the input of the final classifier
                         * layer (pooled [CLS], before dropout), for out-of-scope
                         * scores (Mahalanobis) */
    float loss;         /* mean cross-entropy when labels were given */
    int mlm_count;      /* masked-LM head: positions predicted in the last forward */
    float *grads;       /* parameter layout, num_params floats (with_grads) */
    struct ic_bert_weights g; /* named pointers into grads */
    const struct ic_bert_prepared *prep; /* borrowed, set by the caller: NULL
                         * runs the Linear layers in fp32, else at its precision
                         * (inference; the model must be the one it came from) */
    void *impl;         /* activations and scratch, owned */
};

/* Allocates a state for batches up to max_batch x max_seq (max_seq <=
 * max_position). with_grads = 0 (inference) allocates no gradient memory and
 * one set of layer buffers. The state is split for the calling thread's
 * OpenMP thread count at this point (ic_set_threads first): large batches then
 * run one slice per thread. IC_ERR_RANGE for unusable sizes. Free with
 * ic_bert_state_free (safe on a zeroed state). A state is used by one thread
 * at a time; several states may share one const struct ic_bert. */
int ic_bert_state_init(struct ic_bert_state *s, const struct ic_bert_config *cfg, int max_batch,
                       int max_seq, int with_grads, struct ic_err *err) IC_WUR;
void ic_bert_state_free(struct ic_bert_state *s);

/* Runs the model on b (B <= max_batch, T <= max_seq). dropout_rng NULL means
 * evaluation mode (no dropout); otherwise dropout as configured, drawing one
 * value from dropout_rng (same rng state, same masks, whatever the thread
 * count). Fills s->logits and s->probs; with labels (-100 = ignored) also
 * s->loss (mean over labelled rows). Returns IC_ERR_INVAL for a batch that
 * does not fit the state or a model of another shape, IC_ERR_RANGE for ids,
 * type ids or labels out of range. No allocation; reads m only.
 * A cfg.mlm_head model runs its masked-LM head instead (logits and probs
 * untouched): s->loss is the mean cross-entropy over the positions whose
 * b->mlm_labels is not -100 (s->mlm_count of them), the decoder being the
 * word embeddings (src/nn/mlm.c). */
int ic_bert_forward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b,
                    struct ic_rng *dropout_rng) IC_WUR;
/* Back-propagates the mean cross-entropy of the last forward (which must have
 * had labels) and ACCUMULATES into s->grads. No allocation. */
int ic_bert_backward(const struct ic_bert *m, struct ic_bert_state *s, const struct ic_batch *b) IC_WUR;
/* Clears s->grads. Word-embedding rows are tracked: only those a backward
 * touched since the last zero_grad are cleared, so code that writes
 * non-zero values into other rows of s->grads itself must clear them. */
void ic_bert_zero_grad(struct ic_bert_state *s);
/* Global L2 norm of s->grads, equal to ic_grad_norm(s->grads, num_params)
 * but reading only the word-embedding rows a backward touched. */
float ic_bert_grad_norm(const struct ic_bert_state *s);
/* Marks every word-embedding row as touched, for code that wrote gradients
 * into rows no backward of this state touched (a sum over processes): the
 * next ic_bert_zero_grad then clears, and ic_bert_grad_norm reads, them all. */
void ic_bert_grads_dense(struct ic_bert_state *s);

/* Sets the number of threads the kernels use from the calling thread (its
 * OpenMP thread count) and OpenBLAS's count (0 = all cores). A server's
 * worker threads call ic_set_threads(1). */
void ic_set_threads(int n);
int ic_get_threads(void);

#ifdef __cplusplus
}
#endif
#endif
