/* SPDX-License-Identifier: Apache-2.0 */
/*
 * infer.h - batched inference over a shared, read-only saved model.
 *
 * A struct ic_infer is one worker's context: BERT states (activations),
 * a tokenizer work area and id buffers. Any number of contexts may run at
 * once on the same const struct ic_model (each on its own thread); one
 * context is not thread-safe.
 *
 * ic_predict_batch tokenizes the texts, orders them by length and runs them
 * in forwards padded to the longest text of each (dynamic padding). The
 * activation memory is a token budget of max_batch x 16 tokens per state:
 * short texts run max_batch at a time (T <= 16), longer ones in fewer rows
 * (max_batch / 2 rows of T <= 32, max_batch / 4 of T <= 64, ... down to one
 * text of max_length tokens). The state for a shape is created the first
 * time a text needs it and kept, so memory follows the texts actually seen.
 * Texts longer than the model's maximum length are TRUNCATED: the model sees
 * [CLS] + the first max_length - 2 word pieces + [SEP], as Hugging Face's
 * tokenizer(truncation=True, max_length=...) does.
 *
 * Buffers are allocated by ic_infer_init and grow only when a call brings
 * more texts (or longer texts, in the tokenizer's work area) than any call
 * before: steady-state calls allocate nothing.
 */
#ifndef IC_INFER_H
#define IC_INFER_H

#include "intent/bert.h"
#include "intent/ic.h"
#include "intent/model.h"
#include "intent/tokenizer.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_infer_opts {
    int max_batch;  /* texts per forward for texts of up to 16 tokens (default 32);
                     * the token budget of a state is max_batch x 16 */
    int max_length; /* tokens per text incl. [CLS]/[SEP]; 0 = the model's
                     * max_length (itself capped by the position table) */
    /* Calibration and fallback (include/intent/calib.h). Defaults: the
     * model's temperature; the model's out-of-scope score, fallback and
     * ambiguity thresholds when it stores intent_oos, else no fallback. */
    int no_calibration;         /* 1: raw softmax (temperature 1) */
    int oos_score;              /* -1: the model's; else an enum ic_oos_score */
    double fallback_threshold;  /* -1: the model's (0 = off); else in [0, 1] */
    double ambiguity_threshold; /* -1: the model's (0 = off); else in [0, 1] */
    const char *fallback_intent;/* NULL: "nlu_fallback"; must not be a trained intent */
};
void ic_infer_default_opts(struct ic_infer_opts *o);

/* One (label, probability) pair of a ranked list. */
struct ic_label_prob {
    int label;  /* index into model->labels */
    float prob; /* softmax probability */
};

/* The answer for one text. */
struct ic_prediction {
    int label;                        /* argmax */
    float confidence;                 /* its probability */
    int n_tokens;                     /* tokens the model saw, incl. [CLS]/[SEP] */
    int truncated;                    /* 1: the text had more pieces than fit */
    int text_tokens;                  /* tokens of the whole text, incl. [CLS]/[SEP]
                                       * (n_tokens unless truncated) */
    int n_top;                        /* min(top_k, num_labels); 0 without top_k */
    const struct ic_label_prob *top;  /* n_top entries, most probable first.
                                       * Borrowed from the context: valid until
                                       * the next call on it. */
    float raw_confidence;             /* the label's uncalibrated softmax probability */
    float oos_score;                  /* in-scope score on [0, 1] the fallback threshold
                                       * is compared with */
    int fallback;                     /* enum ic_fallback_reason; 0: none. Then label,
                                       * confidence and top still give the real intents */
    const char *fallback_intent;      /* the fallback's name (borrowed from the context) */
    float fallback_confidence;        /* the fallback's confidence: the threshold (Rasa) */
};

/* One forward shape: up to max_batch texts of up to max_seq tokens. */
#define IC_INFER_MAX_SHAPES 12
struct ic_infer_shape {
    int max_batch, max_seq;
    int ready;                    /* st allocated */
    struct ic_bert_state st;
};

struct ic_infer {
    const struct ic_model *model; /* borrowed, read-only */
    int max_batch, max_length, num_labels;
    struct ic_infer_shape shapes[IC_INFER_MAX_SHAPES]; /* max_seq ascending */
    int n_shapes;
    struct ic_tok_work tw;
    int32_t *tok;                 /* (cap_texts, max_length) ids per text */
    int *ntok;                    /* (cap_texts) */
    int *order;                   /* (cap_texts) processing order */
    struct ic_label_prob *top;    /* (cap_top) */
    size_t cap_texts, cap_top;
    int32_t *ids, *mask;          /* (cells) packed batch, cells >= B x T of every shape */
    size_t cells;
    int *len_count;               /* (max_length + 2) counting-sort scratch */
    double temperature;           /* applied to the logits (1: raw softmax) */
    enum ic_oos_score score;      /* out-of-scope score in use */
    double fallback_threshold, ambiguity_threshold; /* 0: that check is off */
    const char *fallback_intent;
    float *pcal;                  /* (num_labels) calibrated probabilities of one text */
    double *scratch;              /* (hidden) Mahalanobis work area */
    long long n_forwards;         /* statistics: forwards run so far */
    float *logits_out;            /* optional, set by the caller: ic_predict_batch
                                   * writes text i's raw scores (logits) to
                                   * logits_out[i * num_labels ...] */
};

/* Creates a context for model m (which must outlive it). o = NULL means the
 * defaults. Errors: IC_ERR_INVAL (bad options), whatever ic_bert_state_init
 * returns. On failure c is left freed. */
/* IC_ERR_INVAL when the fallback intent name (NULL or "": the default
 * nlu_fallback) is one of m's intents: its answers could not be told apart. */
int ic_fallback_intent_check(const struct ic_model *m, const char *name,
                             struct ic_err *err) IC_WUR;

int ic_infer_init(struct ic_infer *c, const struct ic_model *m, const struct ic_infer_opts *o,
                  struct ic_err *err) IC_WUR;
void ic_infer_free(struct ic_infer *c); /* safe on a zeroed struct */

/* Classifies n texts (lens[i] bytes each; lens NULL = NUL-terminated) into
 * results[n]. top_k > 0 also ranks the min(top_k, num_labels) most probable
 * labels per text (results[i].top). Texts are UTF-8; invalid UTF-8 gives
 * IC_ERR_FORMAT naming the text index and byte offset (no results then).
 * Empty texts are allowed ([CLS][SEP]). n = 0 is a no-op. */
int ic_predict_batch(struct ic_infer *c, const char *const *texts, const size_t *lens, int n,
                     int top_k, struct ic_prediction *results, struct ic_err *err) IC_WUR;

/* Tokenizes one text as ic_predict_batch does, for c's model and maximum
 * length: ids[c->max_length] gets *n_tokens ids (incl. [CLS]/[SEP], at most
 * c->max_length: longer texts are truncated); *text_tokens is the whole
 * text's count (> *n_tokens when truncated). tw is the caller's work area
 * (not c's), so any thread may tokenize while c runs a forward elsewhere.
 * Errors as ic_tokenizer_encode (IC_ERR_FORMAT for invalid UTF-8). */
int ic_infer_encode(const struct ic_infer *c, struct ic_tok_work *tw, const char *text,
                    size_t len, int32_t *ids, int *n_tokens, int *text_tokens,
                    struct ic_err *err) IC_WUR;

/* ic_predict_batch on texts already tokenized by ic_infer_encode: ids[i]
 * holds n_tokens[i] ids (1..c->max_length). Sets results[i].n_tokens and
 * everything ic_predict_batch sets but truncated and text_tokens, which
 * the caller knows from ic_infer_encode. Same answers as ic_predict_batch
 * on the texts. */
int ic_predict_ids(struct ic_infer *c, const int32_t *const *ids, const int *n_tokens, int n,
                   int top_k, struct ic_prediction *results, struct ic_err *err) IC_WUR;

/* Label name for index i (borrowed from the model), "?" when out of range. */
const char *ic_infer_label(const struct ic_infer *c, int i);

/* Appends {"text": ..., "intent": ..., "confidence": ...[, "top_k":
 * [{"intent": ..., "confidence": ...}, ...]]} for p to b (text[len] echoed as
 * given; top_k only when p->n_top > 0). Label names come from m. When
 * p->fallback is set, "intent"/"confidence" are the fallback's, a "fallback"
 * object ({"reason", "score", "intent", "confidence"}: why, the in-scope
 * score, and the real top intent) follows, and top_k starts with the
 * fallback, then the real intents (Rasa's intent_ranking). */
int ic_prediction_json(struct ic_buf *b, const struct ic_model *m, const char *text, size_t len,
                       const struct ic_prediction *p) IC_WUR;

/* Formats a probability as the shortest decimal that reads back as the same
 * float ("0.98765433"); buf needs 32 bytes. Returns buf. */
char *ic_format_prob(float p, char *buf);

#ifdef __cplusplus
}
#endif
#endif
