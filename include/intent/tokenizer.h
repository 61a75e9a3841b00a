/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokenizer.h - Hugging Face tokenizers (the Rust `tokenizers` behaviour
 * that AutoTokenizer runs) behind one encode API: BERT WordPiece, byte-level
 * BPE (RoBERTa, GPT-2 style) and SentencePiece Unigram (XLM-R); loading and
 * saving checkpoint directories, encoding for the model, and vocabulary
 * trainers.
 *
 * Pipeline for one text (docs/tokenizer.md has the details):
 *   1. added tokens (tokenizer.json added_tokens: [CLS], <s>, <mask>, ...,
 *      case-sensitive, leftmost-longest, with their lstrip / rstrip /
 *      single_word flags) are matched on the raw text and kept whole;
 *   2. every other piece goes through the family's normaliser,
 *      pre-tokenizer and model. WordPiece: control characters removed,
 *      whitespace mapped, CJK spaced, accents stripped and lower-cased as
 *      configured, split on whitespace and punctuation, greedy longest match
 *      with "##" continuations. BPE: ByteLevel (GPT-2 split, bytes mapped to
 *      printable characters), merges by rank. Unigram: Precompiled and
 *      Replace normalisers, Metaspace, Viterbi over the piece scores;
 *   3. the post-processor gives cls_id pieces sep_id ([CLS] ... [SEP] or
 *      <s> ... </s>), truncated from the end to a maximum length.
 *
 * Thread-safety: a loaded tokenizer is read-only; any number of threads may
 * encode with it at once, each with its own struct ic_tok_work.
 */
#ifndef IC_TOKENIZER_H
#define IC_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Longest word, in characters after normalisation, that WordPiece tries to
 * split (Hugging Face's max_input_chars_per_word default). */
#define IC_TOK_MAX_WORD_CHARS 100
/* Largest vocabulary accepted from a file (ids must fit the model anyway). */
#define IC_TOK_MAX_VOCAB (1 << 22)

struct ic_tokenizer_opts {
    int lowercase;                /* 1: lower-case (uncased models) */
    int strip_accents;            /* 1 / 0, or -1 = follow lowercase */
    int handle_chinese_chars;     /* 1: spaces around CJK ideographs */
    int clean_text;               /* 1: drop control chars, map whitespace */
    int max_input_chars_per_word; /* 100 */
    long long model_max_length;   /* 0 = unknown (no cap) */
};

/* bert-base-uncased behaviour: lowercase 1, strip_accents -1,
 * handle_chinese_chars 1, clean_text 1, max_input_chars_per_word 100,
 * model_max_length 0. */
void ic_tokenizer_default_opts(struct ic_tokenizer_opts *o);

/* Tokenizer families (the "model" of a Hugging Face tokenizer.json). */
enum ic_tok_type {
    IC_TOK_WORDPIECE = 0, /* BERT: BertNormalizer, BertPreTokenizer, WordPiece */
    IC_TOK_BPE = 1,       /* RoBERTa / GPT-2: ByteLevel pre-tokenizer, byte-level BPE */
    IC_TOK_UNIGRAM = 2,   /* XLM-R: Precompiled normaliser, Metaspace, Unigram */
};
/* "wordpiece", "bpe", "unigram". */
const char *ic_tok_type_name(enum ic_tok_type type);

/* Everything model-specific (vocabulary table, added tokens, merges,
 * pieces, normaliser) lives behind impl (src/text/tok_internal.h). */
struct ic__tok_impl;
struct ic__bpe_cache;

/* A loaded tokenizer. Caller-owned struct: zero it (or let a load function
 * fill it), free with ic_tokenizer_free. Fields are read-only to callers.
 * Every family encodes a single text as cls_id pieces sep_id: cls_id is the
 * token that starts a sequence ([CLS], <s>) and sep_id the one that ends it
 * ([SEP], </s>), whatever their strings. */
struct ic_tokenizer {
    enum ic_tok_type type;
    size_t n_tokens;      /* vocabulary size (ids 0..n_tokens-1) */
    int32_t pad_id, unk_id, cls_id, sep_id, mask_id; /* -1 if absent */
    /* WordPiece normaliser options (other families: only model_max_length
     * is meaningful) */
    struct ic_tokenizer_opts opts;
    struct ic__tok_impl *impl; /* NULL = not loaded */
};

/* Per-caller scratch memory for encoding (normalised text, words, ids).
 * Initialise with ic_tok_work_init, release with ic_tok_work_free. It grows
 * to the largest text seen and is reused: encoding allocates nothing in
 * steady state. One per thread. */
struct ic_tok_work {
    uint32_t *cps;    size_t cps_cap;   /* code points of one chunk */
    uint32_t *norm;   size_t norm_cap;  /* normalised code points */
    char *word;       size_t word_cap;  /* one word as UTF-8 */
    uint32_t *wofs;   size_t wofs_cap;  /* byte offset of each char in word */
    uint32_t *ph;     size_t ph_cap;    /* prefix hashes of the word */
    int32_t *ids;     size_t ids_cap;   /* pieces of the current text */
    size_t n_ids;
    /* scratch of the BPE and Unigram paths */
    char *text;       size_t text_cap;  /* normalised / pre-tokenised text */
    char *text2;      size_t text2_cap;
    size_t *ends;     size_t ends_cap;  /* word end offsets in text */
    void *sym;        size_t sym_cap;   /* BPE symbols, bytes */
    int32_t *seg;     size_t seg_cap;   /* ids of one word */
    struct ic_buf ub[3];                /* Unigram: normalised text, words */
    struct ic__bpe_cache *bpe_cache;    /* BPE: ids of recent words */
};
void ic_tok_work_init(struct ic_tok_work *w);
void ic_tok_work_free(struct ic_tok_work *w);

/* Loads a vocab.txt (one token per line, id = line index, trailing "\n" and
 * "\r" removed). o = NULL means ic_tokenizer_default_opts. Needs [UNK],
 * [CLS] and [SEP] in the vocabulary ([PAD], [MASK] optional: id -1).
 * On failure *t is left zeroed. Errors: IC_ERR_NOTFOUND / IC_ERR_IO,
 * IC_ERR_FORMAT (names the
 * file and line), IC_ERR_RANGE (too many tokens or a token over 65535
 * bytes). */
int ic_tokenizer_load_vocab(struct ic_tokenizer *t, const char *vocab_path,
                            const struct ic_tokenizer_opts *o, struct ic_err *err) IC_WUR;
/* Same from vocab.txt content in memory (copied; text need not be
 * NUL-terminated). */
int ic_tokenizer_load_vocab_mem(struct ic_tokenizer *t, const char *text, size_t len,
                                const struct ic_tokenizer_opts *o,
                                struct ic_err *err) IC_WUR;
/* Loads a checkpoint directory: tokenizer.json if present (WordPiece model,
 * BertNormalizer options, added special tokens), else vocab.txt.
 * tokenizer_config.json (optional) supplies do_lower_case, strip_accents,
 * tokenize_chinese_chars and model_max_length (values >= 1e18 mean
 * "unknown"); where both files give an option, tokenizer_config.json wins,
 * as transformers does when it builds the fast tokenizer. Errors: IC_ERR_IO,
 * IC_ERR_NOTFOUND (neither file), IC_ERR_FORMAT, IC_ERR_UNSUPPORTED (a
 * model other than WordPiece, or a prefix other than "##"). */
int ic_tokenizer_load_dir(struct ic_tokenizer *t, const char *dir, struct ic_err *err) IC_WUR;
/* Writes dir/vocab.txt, dir/tokenizer_config.json (tokenizer_class
 * BertTokenizer, do_lower_case, strip_accents, tokenize_chinese_chars,
 * model_max_length, special tokens), dir/special_tokens_map.json and
 * dir/tokenizer.json (Hugging Face `tokenizers` format: WordPiece,
 * BertNormalizer with t->opts, BertPreTokenizer, [CLS] $A [SEP]), each
 * atomically. dir is created if missing. transformers' AutoTokenizer loads
 * the result. A vocabulary with duplicate tokens gets no tokenizer.json. */
int ic_tokenizer_save_dir(const struct ic_tokenizer *t, const char *dir,
                          struct ic_err *err) IC_WUR;
/* vocab.txt content (one token per line) into b. */
int ic_tokenizer_vocab_text(const struct ic_tokenizer *t, struct ic_buf *b) IC_WUR;

size_t ic_tokenizer_vocab_size(const struct ic_tokenizer *t);
/* Token string for id, or NULL if id is out of range. Borrowed. */
const char *ic_tokenizer_token(const struct ic_tokenizer *t, int32_t id);
/* Id of an exact token string, -1 if absent. */
int32_t ic_tokenizer_id(const struct ic_tokenizer *t, const char *token, size_t len);

/* Buffer size for the ids of one text of len bytes with no length limit:
 * 4 len + 8. A WordPiece piece consumes at least one byte; BPE and Unigram
 * add a prefix space or "\u2581" per segment between added tokens, and a
 * normaliser may expand a character (U+FDFA is 18 characters); a text whose
 * pieces still outnumber this is truncated to it. */
#define IC_TOK_MAX_IDS(len) (4 * (size_t)(len) + 8)

/* Encodes one UTF-8 text as cls_id pieces sep_id ([CLS] ... [SEP] for BERT,
 * <s> ... </s> for RoBERTa and XLM-R), dropping pieces from the end
 * so that the total is <= max_len (max_len >= 2; 0 = no limit, but capped at
 * opts.model_max_length when that is known). Writes *n ids to ids, which has
 * room for max_len entries (for max_len 0: the cap, or IC_TOK_MAX_IDS(len)).
 * Invalid UTF-8 -> IC_ERR_FORMAT (the message gives the byte offset);
 * max_len 1 or negative -> IC_ERR_INVAL. Thread-safe on a shared tokenizer
 * with one w per thread; w also keeps the untruncated pieces (w->ids,
 * w->n_ids) until the next call. */
int ic_tokenizer_encode(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                        size_t len, int max_len, int32_t *ids, int *n,
                        struct ic_err *err) IC_WUR;
/* Only the pieces of text (no start/end token, no truncation), left in
 * w->ids[0..w->n_ids). Same errors as ic_tokenizer_encode. Token strings come
 * from ic_tokenizer_token. */
int ic_tokenizer_pieces(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                        size_t len, struct ic_err *err) IC_WUR;

/* ---------------------------------------------------------------------------
 * Batches for the model: rows of exactly seq_len ids, padded on the right
 * with [PAD] (attention_mask 0, token_type_ids 0), as Hugging Face's
 * padding="max_length" (IC_TOK_PAD_MAX_LENGTH: seq_len = max_len) or
 * padding="longest" (IC_TOK_PAD_LONGEST: seq_len = longest row). */
enum ic_tok_padding { IC_TOK_PAD_LONGEST, IC_TOK_PAD_MAX_LENGTH };
struct ic_tok_batch {
    int n;                    /* rows */
    int seq_len;              /* columns */
    int32_t *ids;             /* [n, seq_len] */
    int32_t *attention_mask;  /* [n, seq_len] 1 = real token */
    int32_t *token_type_ids;  /* [n, seq_len] all 0 (single sequences) */
    int *lengths;             /* [n] real tokens per row */
};
/* Encodes n texts (lens[i] bytes each; lens NULL = NUL-terminated). max_len
 * as in ic_tokenizer_encode (required > 0 for IC_TOK_PAD_MAX_LENGTH, else
 * the model_max_length cap applies). Needs a [PAD] token. Fills *b (freed
 * first, so a batch struct can be reused); on error *b is empty and the
 * message names the text index. */
int ic_tokenizer_encode_batch(const struct ic_tokenizer *t, struct ic_tok_work *w,
                              const char *const *texts, const size_t *lens, int n, int max_len,
                              enum ic_tok_padding padding, struct ic_tok_batch *b,
                              struct ic_err *err) IC_WUR;
void ic_tok_batch_free(struct ic_tok_batch *b); /* safe on a zeroed struct */

void ic_tokenizer_free(struct ic_tokenizer *t); /* safe on a zeroed struct */

/* ---------------------------------------------------------------------------
 * WordPiece vocabulary trainer, as Hugging Face's WordPieceTrainer builds
 * one. Builds a vocabulary of at most vocab_size tokens from texts (each
 * NUL-terminated) with the same normalisation and pre-tokenisation as the
 * tokenizer (o; NULL = defaults): [PAD] [UNK] [CLS] [SEP] [MASK] first, then
 * every character seen (most frequent first; word-initial, then "##"
 * forms), then the merge of the most frequent adjacent pair of symbols
 * (counted over word frequencies; ties by the merged string's bytes) until
 * vocab_size or no pair is left. Words over the WordPiece limit are
 * skipped. Deterministic: the same texts give the same vocabulary. *out is a
 * ready tokenizer with options o.
 * Errors: IC_ERR_INVAL (vocab_size < 5), IC_ERR_FORMAT (invalid UTF-8:
 * names the text index). */
int ic_vocab_train(const char *const *texts, size_t n, size_t vocab_size,
                   const struct ic_tokenizer_opts *o, struct ic_tokenizer *out,
                   struct ic_err *err) IC_WUR;

/* Byte-level BPE trainer (RoBERTa layout): <s> <pad> </s> <unk>, the 256
 * byte characters, then the merge of the most frequent adjacent pair of
 * symbols over the ByteLevel words of texts (ties: the smaller left token,
 * then the smaller right token, bytewise; pairs seen once are not merged)
 * until vocab_size tokens, <mask> last. Deterministic. *out is a ready
 * tokenizer (type IC_TOK_BPE; ic_tokenizer_save_dir writes files that
 * transformers' AutoTokenizer loads). Errors: IC_ERR_INVAL (vocab_size
 * under 261), IC_ERR_FORMAT (invalid UTF-8: names the text). */
int ic_vocab_train_bpe(const char *const *texts, size_t n, size_t vocab_size,
                       int add_prefix_space, struct ic_tokenizer *out,
                       struct ic_err *err) IC_WUR;

/* SentencePiece Unigram trainer (XLM-R layout: <s> <pad> </s> <unk> first,
 * <mask> last; Metaspace with "\u2581"; NFKC normalisation). Deterministic.
 * Errors: IC_ERR_INVAL (vocab_size too small), IC_ERR_FORMAT (invalid
 * UTF-8: names the text), IC_ERR_UNSUPPORTED (built without the Unigram
 * engine). */
int ic_vocab_train_unigram(const char *const *texts, size_t n, size_t vocab_size,
                           struct ic_tokenizer *out, struct ic_err *err) IC_WUR;

#ifdef __cplusplus
}
#endif
#endif
