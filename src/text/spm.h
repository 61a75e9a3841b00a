/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spm.h - the SentencePiece side of the tokenizers (XLM-RoBERTa,
 * multilingual-e5, paraphrase-multilingual-MiniLM), as Hugging Face's Rust
 * `tokenizers` runs it:
 *
 *   text -> Precompiled normaliser (the model's precompiled_charsmap)
 *        -> Replace normalisers (e.g. Regex " {2,}" -> " ")
 *        -> Metaspace pre-tokenizer (' ' -> U+2581, a leading U+2581, split)
 *        -> Unigram model per word (Viterbi over piece scores)
 *
 * Internal to src/text/. Every function that produces text or ids APPENDS to
 * the caller's buffers (callers reset them between texts) and returns an
 * enum ic_status. Inputs are UTF-8; text that is not UTF-8 is refused with
 * IC_ERR_FORMAT. See docs/tokenizer.md for the format notes.
 */
#ifndef IC_TEXT_SPM_H
#define IC_TEXT_SPM_H

#include <regex.h>
#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

/* --- Precompiled normaliser ------------------------------------------------
 * precompiled_charsmap (base64 in tokenizer.json, raw bytes in a .model) is
 * a u32 little-endian byte size T of a Darts double-array trie, T/4 u32
 * little-endian units, then a blob of NUL-terminated UTF-8 replacement
 * strings; a trie value is the byte offset of a replacement in the blob.
 * Normalising (tokenizers' Precompiled): the text is cut into extended
 * grapheme clusters; a cluster shorter than 6 bytes whose bytes start with a
 * trie key is replaced whole by the replacement of the SHORTEST such key;
 * otherwise each character is looked up alone (replaced when a key is a
 * prefix of it, kept as is when not). */
struct ic__spm_norm {
    uint32_t *units;  /* the double array */
    size_t n_units;
    char *blob;       /* replacement strings */
    size_t blob_len;
};
/* Decodes and checks the charsmap (base64 text of len bytes). A truncated
 * trie, an empty trie, a blob that is not UTF-8 or bad base64 give
 * IC_ERR_FORMAT naming the field; n is zeroed on failure. */
int ic__spm_norm_init(struct ic__spm_norm *n, const char *charsmap_base64, size_t len,
                      struct ic_err *err);
/* The same from the raw (decoded) bytes. */
int ic__spm_norm_init_raw(struct ic__spm_norm *n, const void *charsmap, size_t len,
                          struct ic_err *err);
/* Appends the normalised form of in[0..len) to out. */
int ic__spm_norm_apply(const struct ic__spm_norm *n, const char *in, size_t len,
                       struct ic_buf *out);
void ic__spm_norm_free(struct ic__spm_norm *n);

/* --- Replace normaliser ----------------------------------------------------
 * String pattern: every non-overlapping occurrence, left to right, becomes
 * content. Regex pattern (Oniguruma syntax in tokenizers): run with POSIX
 * extended regular expressions, so only patterns on which the two agree are
 * accepted: ASCII literals and escaped punctuation, bracket expressions of
 * ASCII (not negated), groups, and the quantifiers * + ? {m,n}; refused with
 * IC_ERR_UNSUPPORTED: alternation, lazy or possessive quantifiers, (?...),
 * class escapes (\d \s \w \p{..}), '.', negated classes, quantified
 * non-ASCII, and patterns that match the empty string. */
struct ic__replace {
    int is_regex;
    char *pattern;
    size_t pattern_len;
    char *content;
    size_t content_len;
    regex_t re;
    int re_ok;
};
int ic__replace_init(struct ic__replace *r, const char *pattern, int is_regex, const char *content,
                     struct ic_err *err);
/* Appends in[0..len) with the replacements made to out. */
int ic__replace_apply(const struct ic__replace *r, const char *in, size_t len, struct ic_buf *out);
void ic__replace_free(struct ic__replace *r);

/* --- Metaspace pre-tokenizer -----------------------------------------------
 * Every ' ' (U+0020 only) becomes replacement_utf8 (normally U+2581 "▁");
 * then, with prepend, the replacement is put in front unless the text is
 * empty or already starts with it; with split, the text is cut before
 * every replacement character (the replacement starts each word; empty words
 * are dropped), else it is one word. The words are APPENDED back to back to
 * out and their end offsets (byte offsets into out->data) appended to
 * (*word_ends, *n_words, *cap), grown with ic_xrealloc. */
int ic__metaspace_split(const char *in, size_t len, const char *replacement_utf8,
                        int prepend_always, int split, struct ic_buf *out, size_t **word_ends,
                        size_t *n_words, size_t *cap);
/* tokenizer.json's prepend_scheme: "never", "always", "first" (legacy
 * add_prefix_space true = always, false = never). With "first" the
 * replacement is prepended only to the segment that starts the text
 * (at_text_start), as tokenizers does for the split at original offset 0. */
enum ic__metaspace_prepend {
    IC_METASPACE_NEVER = 0,
    IC_METASPACE_ALWAYS = 1,
    IC_METASPACE_FIRST = 2,
};
/* Parses "never"/"always"/"first"; -1 when none of them. */
int ic__metaspace_prepend_parse(const char *s);
int ic__metaspace_split_ex(const char *in, size_t len, const char *replacement_utf8,
                           enum ic__metaspace_prepend prepend, int at_text_start, int split,
                           struct ic_buf *out, size_t **word_ends, size_t *n_words, size_t *cap);

/* --- Unigram model ---------------------------------------------------------
 * Piece i has id i. Encoding a word is tokenizers' Unigram::encode_optimized
 * + tokenize: a Viterbi pass over the byte positions where each piece that
 * starts at a character boundary is a candidate (shorter pieces first, a
 * later candidate must be strictly better), a character that no one-
 * character piece covers is a candidate <unk> scored min_score - 10, runs of
 * <unk> are fused into one string, and a fused string that is not a piece
 * becomes its bytes' <0xXX> pieces (byte_fallback, when all exist) or
 * unk_id. A piece listed twice resolves to its last id. */
struct ic__unigram {
    double *scores;        /* [n] */
    size_t n;
    double min_score;
    int32_t unk_id;        /* -1: none (an unknown character is an error) */
    int byte_fallback;
    /* byte trie over the pieces: node 0 is the root */
    int32_t *node_id;      /* [n_nodes] piece id ending at the node, or -1 */
    size_t n_nodes;
    uint32_t root[256];    /* child of the root per byte, 0 = none */
    uint64_t *edges;       /* hash: (parent << 8 | byte) << 32 | child; 0 = empty */
    size_t edge_mask;      /* table size - 1 */
    int32_t byte_ids[256]; /* id of <0xXX>, -1 when absent */
};
/* Builds the model from n pieces (UTF-8, NUL-terminated, copied) and their
 * scores. Refuses (IC_ERR_FORMAT) an empty vocabulary, a NaN or infinite
 * score (naming the piece index), an empty piece, a piece that is not UTF-8,
 * and an unk_id out of range (-1 = no unk). XLM-R's 250,002 pieces build in
 * well under a second. On failure u is zeroed. */
int ic__unigram_init(struct ic__unigram *u, const char *const *pieces, const double *scores,
                     size_t n, int32_t unk_id, int byte_fallback, struct ic_err *err);
/* Encodes one pre-tokenised word s[0..len) and appends its ids to
 * (*ids, *n_ids, *cap) (grown with ic_xrealloc). Empty words give no ids.
 * IC_ERR_FORMAT when s is not UTF-8, or when a character is unknown and the
 * model has no unk_id. */
int ic__unigram_encode_word(const struct ic__unigram *u, const char *s, size_t len, int32_t **ids,
                            size_t *n_ids, size_t *cap);
/* Id of the piece spelled exactly s[0..len), or -1. */
int32_t ic__unigram_piece_id(const struct ic__unigram *u, const char *s, size_t len);
/* The pieces that start at s[pos] (shortest first): their end offsets and
 * ids into ends[], ids[] (at most max); returns how many. */
size_t ic__unigram_matches(const struct ic__unigram *u, const char *s, size_t len, size_t pos,
                           uint32_t *ends, int32_t *ids, size_t max);
void ic__unigram_free(struct ic__unigram *u);

/* --- SentencePiece .model files --------------------------------------------
 * A serialised ModelProto (protobuf): field 1 pieces {1 piece, 2 score
 * (float), 3 type}, field 2 trainer_spec {3 model_type, 35 byte_fallback,
 * ...}, field 3 normalizer_spec {1 name, 2 precompiled_charsmap, 3
 * add_dummy_prefix, 4 remove_extra_whitespaces, 5 escape_whitespaces}. A
 * score absent from a piece is protobuf's default 0; a NaN or infinite one
 * is refused. Types: */
enum ic__spm_piece_type {
    IC_SPM_NORMAL = 1,
    IC_SPM_UNKNOWN = 2,
    IC_SPM_CONTROL = 3,
    IC_SPM_USER_DEFINED = 4,
    IC_SPM_UNUSED = 5,
    IC_SPM_BYTE = 6,
};
/* Reads data[0..len) (name = the file, for messages): the pieces (strings
 * owned by *pieces, one allocation each; free with ic__spm_model_free),
 * scores, types and the charsmap as base64 (NULL when the model has none).
 * Malformed protobuf (truncated varint or field, bad wire type, field past
 * its message, piece not UTF-8, no pieces) gives IC_ERR_FORMAT naming the
 * file and the field; the outputs are then NULL/0. */
int ic__spm_model_load(const void *data, size_t len, const char *name, char ***pieces,
                       double **scores, int **types, size_t *n, char **charsmap_base64,
                       struct ic_err *err);
/* The other settings of the model, read from the same bytes. */
struct ic__spm_model_info {
    int model_type;        /* trainer_spec.model_type: 1 unigram (default), 2 bpe, 3 word, 4 char */
    int byte_fallback;     /* trainer_spec.byte_fallback (default 0) */
    int add_dummy_prefix;  /* normalizer_spec.add_dummy_prefix (default 1) */
    int remove_extra_whitespaces; /* (default 1) */
    int escape_whitespaces;       /* (default 1) */
    int32_t unk_id;        /* index of the first UNKNOWN piece, or -1 */
};
int ic__spm_model_info(const void *data, size_t len, const char *name,
                       struct ic__spm_model_info *info, struct ic_err *err);
/* Frees what ic__spm_model_load returned. */
void ic__spm_model_free(char **pieces, double *scores, int *types, size_t n,
                        char *charsmap_base64);

/* --- base64 (RFC 4648 standard alphabet, '=' padding required) -------------- */
/* Decodes s[0..len) into a fresh buffer (*out, *out_len); IC_ERR_FORMAT with
 * the offending offset in err. */
int ic__base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len,
                      struct ic_err *err);
/* Encodes into a fresh NUL-terminated string. */
char *ic__base64_encode(const void *data, size_t len);

/* --- Unigram vocabulary trainer ------------------------------------------ */
struct ic__unigram_train_opts {
    const char *const *specials; /* put first with score 0, in this order (e.g. "<s>", "<pad>", "</s>", "<unk>") */
    size_t n_specials;
    size_t max_piece_chars;   /* longest piece in characters (16) */
    size_t seed_size;         /* seed pieces kept before EM (1,000,000) */
    double shrinking_factor;  /* share of pieces kept per pruning round (0.75) */
    int em_iters;             /* EM sub-iterations per round (2) */
};
void ic__unigram_train_default_opts(struct ic__unigram_train_opts *o);
/* Trains a Unigram vocabulary the SentencePiece way from n texts that are
 * already normalised: each text is cut into Metaspace words ("▁" + word);
 * seed pieces are every substring of a word up to max_piece_chars that
 * occurs at least twice, scored by frequency x length, plus every character
 * (characters are always kept); EM rounds (forward-backward expected counts,
 * then log probabilities with SentencePiece's digamma smoothing) alternate
 * with pruning the pieces whose removal costs the corpus likelihood least
 * until vocab_size pieces (specials included) remain; o NULL = defaults. Result: specials (score 0), then pieces by
 * descending score (ties by bytes), in fresh arrays (*pieces strings freed
 * with ic_free each, then the arrays). Deterministic: depends on the texts
 * and options only. */
int ic__unigram_train(const char *const *texts, size_t n, size_t vocab_size,
                      const struct ic__unigram_train_opts *o, char ***pieces, double **scores,
                      size_t *n_pieces, struct ic_err *err);

#endif
