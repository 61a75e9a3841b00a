/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_internal.h - pieces of the tokenizer shared by tokenizer.c (vocabulary
 * table, added tokens, encoding for the model), wordpiece.c (BERT), bpe.c
 * (byte-level BPE), tok_unigram.c (SentencePiece Unigram), tokenizer_io.c /
 * tok_json.c (checkpoint directories) and the trainers. Internal to
 * src/text/.
 *
 * The seam: struct ic_tokenizer holds a struct ic__tok_impl, which holds the
 * vocabulary table (id <-> token), the added tokens (matched on the raw text
 * before the model runs) and a model (ops + state). Encoding splits the text
 * on added tokens and hands every other segment to ops->encode.
 */
#ifndef IC_TEXT_TOK_INTERNAL_H
#define IC_TEXT_TOK_INTERNAL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "intent/tokenizer.h"

/* Longest token accepted in a vocabulary (bytes). */
#define IC_TOK_MAX_TOKEN_BYTES 65535
/* Largest max_input_chars_per_word accepted from a file. */
#define IC_TOK_MAX_WORD_LIMIT 10000
/* Largest text encode accepts (bytes). */
#define IC_TOK_MAX_TEXT ((size_t)1 << 30)

/* One vocabulary hash-table slot. */
struct ic__tok_slot {
    uint32_t hash;   /* 0 = empty */
    int32_t id;
    uint32_t off;    /* key = tokens[id] + off ("##" skipped for cont) */
    uint16_t len;    /* key length in bytes */
    uint16_t cont;   /* 1: continuation entry ("##x" looked up as "x") */
};

/* An added token (tokenizer.json added_tokens): matched on the text before
 * the model runs, with Hugging Face's AddedToken flags. */
struct ic__tok_added {
    char *s;            /* content (owned) */
    size_t len;
    int32_t id;
    unsigned char lstrip, rstrip, single_word, normalized, special;
};

struct ic__tok_model_ops {
    const char *name;
    /* Appends to w->ids the ids of text[0..len), a segment that holds no
     * added token. base = offset of the segment in the caller's text (for
     * messages); first = 1 when the segment starts the text. */
    int (*encode)(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                  size_t len, size_t base, int first, struct ic_err *err);
    void (*free)(void *model);
};

struct ic__tok_impl {
    /* vocabulary */
    char **tokens;        /* [n_tokens] id -> NUL-terminated token */
    char *pool;           /* storage for the token strings */
    struct ic__tok_slot *slots; /* open-addressing table */
    size_t n_slots;       /* power of two */
    size_t max_token_len; /* longest key in bytes (bounds the match loop) */
    uint64_t *filter;     /* 2-bit Bloom filter of the key hashes */
    size_t filter_bits;   /* power of two */
    /* added tokens, longest first (so the first match is the longest) */
    struct ic__tok_added *added;
    size_t n_added;
    unsigned char added_first[256]; /* first bytes of the added tokens */
    uint64_t serial;      /* unique per built tokenizer (caches key on it) */
    /* the model */
    const struct ic__tok_model_ops *ops;
    void *model;
};

/* --- vocabulary table (tokenizer.c) --- */

/* FNV-1a over the key, so the hashes of all prefixes of a word come from
 * one pass (WordPiece tries prefixes longest first), then a finaliser. */
#define IC__TOK_HASH_SEED(cont) (2166136261u ^ ((cont) ? 0x5bd1e995u : 0))
static inline uint32_t ic__tok_hash_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static inline uint32_t ic__tok_hash_finish(uint32_t h)
{
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    return h ? h : 1;
}

static inline void ic__tok_filter_pos(const struct ic__tok_impl *m, uint32_t h, size_t *b1,
                                      size_t *b2)
{
    size_t k = m->filter_bits - 1;
    *b1 = (h >> 6) & k;
    *b2 = ((h >> 19) ^ (h << 7)) & k;
}

/* Id of key (finished hash h; cont = "##" continuation table), or -1. */
static inline int32_t ic__tok_lookup_hash(const struct ic__tok_impl *m, const char *key, size_t n,
                                          uint32_t cont, uint32_t h)
{
    size_t b1, b2;
    ic__tok_filter_pos(m, h, &b1, &b2);
    if (!((m->filter[b1 >> 6] >> (b1 & 63)) & (m->filter[b2 >> 6] >> (b2 & 63)) & 1))
        return -1;
    size_t mask = m->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct ic__tok_slot *s = &m->slots[i];
        if (s->hash == 0)
            return -1;
        if (s->hash == h && s->len == n && s->cont == cont &&
            memcmp(m->tokens[s->id] + s->off, key, n) == 0)
            return s->id;
    }
}

/* Id of key in the plain (cont 0) or "##" (cont 1) table, or -1. */
int32_t ic__tok_lookup(const struct ic__tok_impl *m, const char *key, size_t n, uint32_t cont);

/* Builds t's vocabulary from n token strings (id = index; copied), with
 * "##x" continuation entries when cont is set (WordPiece). Allocates
 * t->impl; t->type, ops and specials are left to the caller. On failure t
 * is zeroed. what names the source in messages. */
int ic__tok_vocab_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens,
                        size_t n, int cont, const char *what, struct ic_err *err);

/* Builds a WordPiece t from n token strings (id = index; copied). opts
 * copied. Looks up the five BERT specials; [UNK] [CLS] [SEP] must exist
 * (IC_ERR_FORMAT naming `what`). Duplicates: the later id wins for lookups.
 * On failure t is zeroed. */
int ic__tok_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens, size_t n,
                  const struct ic_tokenizer_opts *o, const char *what, struct ic_err *err);
/* Parses vocab.txt content (see ic_tokenizer_load_vocab); what names the
 * source in messages. */
int ic__tok_load_vocab_text(struct ic_tokenizer *t, const char *text, size_t len,
                            const struct ic_tokenizer_opts *o, const char *what,
                            struct ic_err *err);
/* Replaces the added tokens with plain literal ones (no strip flags, not
 * normalised, special), given as strings (copied; each must be in the
 * vocabulary). */
int ic__tok_set_specials(struct ic_tokenizer *t, const char *const *specials, size_t n,
                         struct ic_err *err);
/* Replaces the added tokens with a (copied) list; each id must be a
 * vocabulary id whose token is the content. */
int ic__tok_set_added(struct ic_tokenizer *t, const struct ic__tok_added *a, size_t n,
                      struct ic_err *err);
/* Effective strip_accents of o (resolves -1). */
int ic__tok_strip(const struct ic_tokenizer_opts *o);

/* Grows an array to hold need elements of elem bytes (doubling). */
void *ic__tok_grow(void *p, size_t *cap, size_t need, size_t elem);
/* Appends one id to w->ids. */
static inline void ic__tok_push_id(struct ic_tok_work *w, int32_t id)
{
    if (w->n_ids == w->ids_cap)
        w->ids = ic__tok_grow(w->ids, &w->ids_cap, w->n_ids + 1, sizeof *w->ids);
    w->ids[w->n_ids++] = id;
}

/* --- tokenizer.json helpers (tokenizer_io.c) --- */

typedef struct json_t json_t;
/* Reads root.added_tokens (content, id, lstrip, rstrip, single_word,
 * normalized, special) into t; each must be the vocabulary's token of its
 * id. Messages name path and the entry. */
int ic__tok_json_added(struct ic_tokenizer *t, json_t *root, const char *path,
                       struct ic_err *err);
/* The added_tokens array of tokenizer.json for t (new reference). */
json_t *ic__tok_json_added_array(const struct ic_tokenizer *t);

/* Frees a struct ic_tok_work's BPE word cache (bpe.c). */
void ic__bpe_cache_free(void *c);

/* --- WordPiece (wordpiece.c) --- */

extern const struct ic__tok_model_ops ic__wordpiece_ops;

/* Called for every pre-tokenised word: UTF-8 bytes word[0..nbytes),
 * nchars characters, ofs[i] = byte offset of character i (ofs[nchars] =
 * nbytes). When nchars > the word limit, word and ofs are NULL. */
typedef void (*ic__tok_word_fn)(void *ud, const char *word, size_t nbytes, const uint32_t *ofs,
                                size_t nchars);
/* Normalises and pre-tokenises text with options o (no special-token
 * matching) and calls fn per word. Invalid UTF-8 -> IC_ERR_FORMAT. */
int ic__tok_words(const struct ic_tokenizer_opts *o, struct ic_tok_work *w, const char *text,
                  size_t len, ic__tok_word_fn fn, void *ud, struct ic_err *err);

#endif
