/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokenizer.c - BERT WordPiece tokenizer: vocabulary table, normalisation,
 * pre-tokenisation, WordPiece and encoding for the model, following Hugging
 * Face's Rust `tokenizers` (BertNormalizer, BertPreTokenizer, WordPiece,
 * added special tokens matched on the raw text). Loading and saving
 * checkpoint directories lives in tokenizer_io.c, the trainer in
 * vocab_train.c. Character classes come from unicode.c.
 *
 * Encoding allocates only when a struct ic_tok_work buffer must grow, so a
 * reused work struct makes steady-state encoding allocation-free.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

void ic_tokenizer_default_opts(struct ic_tokenizer_opts *o)
{
    o->lowercase = 1;
    o->strip_accents = -1;
    o->handle_chinese_chars = 1;
    o->clean_text = 1;
    o->max_input_chars_per_word = IC_TOK_MAX_WORD_CHARS;
    o->model_max_length = 0;
}

int ic__tok_strip(const struct ic_tokenizer_opts *o)
{
    return o->strip_accents < 0 ? o->lowercase != 0 : o->strip_accents != 0;
}

// --- vocabulary hash table --------------------------------------------------

/* FNV-1a over the key, so the hashes of all prefixes of a word come from
 * one pass (wordpiece() tries prefixes longest first), then a finaliser. */
#define HASH_SEED(cont) (2166136261u ^ ((cont) ? 0x5bd1e995u : 0))
static inline uint32_t hash_step(uint32_t h, unsigned char c)
{
    return (h ^ c) * 16777619u;
}

static inline uint32_t hash_finish(uint32_t h)
{
    h ^= h >> 15;
    h *= 0x2c1b3c6dU;
    h ^= h >> 12;
    return h ? h : 1;
}

static uint32_t hash_key(const char *s, size_t n, uint32_t cont)
{
    uint32_t h = HASH_SEED(cont);
    for (size_t i = 0; i < n; i++)
        h = hash_step(h, (unsigned char)s[i]);
    return hash_finish(h);
}

/* Bit filter in front of the table: most failed lookups (prefixes that are
 * not tokens) stop here without touching the large table. */
static inline void filter_pos(const struct ic_tokenizer *t, uint32_t h, size_t *b1, size_t *b2)
{
    size_t m = t->filter_bits - 1;
    *b1 = (h >> 6) & m;
    *b2 = ((h >> 19) ^ (h << 7)) & m;
}

static inline int filter_has(const struct ic_tokenizer *t, uint32_t h)
{
    size_t b1, b2;
    filter_pos(t, h, &b1, &b2);
    return (t->filter[b1 >> 6] >> (b1 & 63)) & (t->filter[b2 >> 6] >> (b2 & 63)) & 1;
}

static int32_t lookup_hash(const struct ic_tokenizer *t, const char *key, size_t n, uint32_t cont,
                           uint32_t h)
{
    if (!filter_has(t, h))
        return -1;
    size_t mask = t->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        const struct ic_tok_slot *s = &t->slots[i];
        if (s->hash == 0)
            return -1;
        if (s->hash == h && s->len == n && s->cont == cont &&
            memcmp(t->tokens[s->id] + s->off, key, n) == 0)
            return s->id;
    }
}

static int32_t lookup(const struct ic_tokenizer *t, const char *key, size_t n, uint32_t cont)
{
    if (!t->slots)
        return -1;
    return lookup_hash(t, key, n, cont, hash_key(key, n, cont));
}

static void insert(struct ic_tokenizer *t, int32_t id, uint32_t off, size_t len, uint32_t cont)
{
    const char *key = t->tokens[id] + off;
    uint32_t h = hash_key(key, len, cont);
    size_t mask = t->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct ic_tok_slot *s = &t->slots[i];
        if (s->hash == 0 || (s->hash == h && s->len == len && s->cont == cont &&
                             memcmp(t->tokens[s->id] + s->off, key, len) == 0)) {
            /* a later duplicate replaces the earlier id, as a map insert
             * does in Hugging Face's loaders */
            s->hash = h;
            s->id = id;
            s->off = off;
            s->len = (uint16_t)len;
            s->cont = (uint16_t)cont;
            size_t b1, b2;
            filter_pos(t, h, &b1, &b2);
            t->filter[b1 >> 6] |= (uint64_t)1 << (b1 & 63);
            t->filter[b2 >> 6] |= (uint64_t)1 << (b2 & 63);
            if (len > t->max_token_len)
                t->max_token_len = len;
            return;
        }
    }
}

int32_t ic_tokenizer_id(const struct ic_tokenizer *t, const char *token, size_t len)
{
    if (len > IC_TOK_MAX_TOKEN_BYTES)
        return -1;
    return lookup(t, token, len, 0);
}

size_t ic_tokenizer_vocab_size(const struct ic_tokenizer *t)
{
    return t->n_tokens;
}

const char *ic_tokenizer_token(const struct ic_tokenizer *t, int32_t id)
{
    if (id < 0 || (size_t)id >= t->n_tokens)
        return NULL;
    return t->tokens[id];
}

void ic_tokenizer_free(struct ic_tokenizer *t)
{
    if (!t)
        return;
    ic_free(t->tokens);
    ic_free(t->pool);
    ic_free(t->slots);
    ic_free(t->filter);
    for (size_t i = 0; i < t->n_specials; i++)
        ic_free(t->specials[i]);
    ic_free(t->specials);
    ic_free(t->special_ids);
    memset(t, 0, sizeof *t);
    t->pad_id = t->unk_id = t->cls_id = t->sep_id = t->mask_id = -1;
}

int ic__tok_set_specials(struct ic_tokenizer *t, const char *const *specials, size_t n,
                         struct ic_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (ic_tokenizer_id(t, specials[i], strlen(specials[i])) < 0 || !specials[i][0])
            return ic_errf(err, IC_ERR_FORMAT, "special token \"%s\" is not in the vocabulary",
                           specials[i]);
    for (size_t i = 0; i < t->n_specials; i++)
        ic_free(t->specials[i]);
    ic_free(t->specials);
    ic_free(t->special_ids);
    t->specials = ic_xcalloc(n ? n : 1, sizeof *t->specials);
    t->special_ids = ic_xcalloc(n ? n : 1, sizeof *t->special_ids);
    t->n_specials = 0;
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < t->n_specials; j++)
            dup |= strcmp(t->specials[j], specials[i]) == 0;
        if (dup)
            continue;
        /* insertion sort, longest first, so the first match is the longest */
        size_t len = strlen(specials[i]), k = t->n_specials;
        while (k > 0 && strlen(t->specials[k - 1]) < len) {
            t->specials[k] = t->specials[k - 1];
            t->special_ids[k] = t->special_ids[k - 1];
            k--;
        }
        t->specials[k] = ic_xstrdup(specials[i]);
        t->special_ids[k] = ic_tokenizer_id(t, specials[i], len);
        t->n_specials++;
    }
    return IC_OK;
}

static const char *const bert_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

int ic__tok_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens, size_t n,
                  const struct ic_tokenizer_opts *o, const char *what, struct ic_err *err)
{
    int rc = IC_OK;
    memset(t, 0, sizeof *t);
    if (n > IC_TOK_MAX_VOCAB) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: %zu tokens, more than the %d allowed", what, n,
                     IC_TOK_MAX_VOCAB);
        goto out;
    }
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > IC_TOK_MAX_TOKEN_BYTES) {
            rc = ic_errf(err, IC_ERR_RANGE, "%s: line %zu: token of %zu bytes (limit %d)", what,
                         i + 1, lens[i], IC_TOK_MAX_TOKEN_BYTES);
            goto out;
        }
        if (memchr(tokens[i], 0, lens[i])) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %zu: token holds a NUL byte", what, i + 1);
            goto out;
        }
        total += lens[i] + 1;
    }
    if (o) {
        t->opts = *o;
    } else {
        ic_tokenizer_default_opts(&t->opts);
    }
    if (t->opts.max_input_chars_per_word < 1 ||
        t->opts.max_input_chars_per_word > IC_TOK_MAX_WORD_LIMIT) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: max_input_chars_per_word %d not in [1, %d]", what,
                     t->opts.max_input_chars_per_word, IC_TOK_MAX_WORD_LIMIT);
        goto out;
    }
    if (t->opts.model_max_length < 0)
        t->opts.model_max_length = 0;
    t->n_tokens = n;
    t->tokens = ic_xcalloc(n ? n : 1, sizeof *t->tokens);
    t->pool = ic_xmalloc(total ? total : 1);
    char *p = t->pool;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, tokens[i], lens[i]);
        p[lens[i]] = 0;
        t->tokens[i] = p;
        p += lens[i] + 1;
    }
    t->n_slots = 16;
    while (t->n_slots < 2 * (2 * n + 1))
        t->n_slots *= 2;
    t->slots = ic_xcalloc(t->n_slots, sizeof *t->slots);
    /* about 8 filter bits per key: ~5% false positives with two bits */
    t->filter_bits = 4096;
    while (t->filter_bits < 8 * (2 * n + 1))
        t->filter_bits *= 2;
    t->filter = ic_xcalloc(t->filter_bits / 64, sizeof *t->filter);
    for (size_t i = 0; i < n; i++) {
        insert(t, (int32_t)i, 0, lens[i], 0);
        if (lens[i] > 2 && tokens[i][0] == '#' && tokens[i][1] == '#')
            insert(t, (int32_t)i, 2, lens[i] - 2, 1);
    }
    t->pad_id = ic_tokenizer_id(t, "[PAD]", 5);
    t->unk_id = ic_tokenizer_id(t, "[UNK]", 5);
    t->cls_id = ic_tokenizer_id(t, "[CLS]", 5);
    t->sep_id = ic_tokenizer_id(t, "[SEP]", 5);
    t->mask_id = ic_tokenizer_id(t, "[MASK]", 6);
    if (t->unk_id < 0 || t->cls_id < 0 || t->sep_id < 0) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: the vocabulary lacks %s", what,
                     t->unk_id < 0 ? "[UNK]" : t->cls_id < 0 ? "[CLS]" : "[SEP]");
        goto out;
    }
    const char *sp[5];
    size_t nsp = 0;
    for (size_t i = 0; i < 5; i++)
        if (ic_tokenizer_id(t, bert_specials[i], strlen(bert_specials[i])) >= 0)
            sp[nsp++] = bert_specials[i];
    rc = ic__tok_set_specials(t, sp, nsp, err);
out:
    if (rc != IC_OK)
        ic_tokenizer_free(t);
    return rc;
}

int ic_tokenizer_load_vocab_mem(struct ic_tokenizer *t, const char *text, size_t len,
                                const struct ic_tokenizer_opts *o, struct ic_err *err)
{
    return ic__tok_load_vocab_text(t, text, len, o, "vocab.txt", err);
}

int ic__tok_load_vocab_text(struct ic_tokenizer *t, const char *text, size_t len,
                            const struct ic_tokenizer_opts *o, const char *what,
                            struct ic_err *err)
{
    size_t n = 0, cap = 0;
    const char **toks = NULL;
    size_t *lens = NULL;
    int rc = IC_OK;
    size_t bad;
    memset(t, 0, sizeof *t);
    if (!ic_utf8_valid(text, len, &bad)) {
        size_t line = 1;
        for (size_t i = 0; i < bad; i++)
            line += text[i] == '\n';
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %zu: invalid UTF-8", what, line);
        goto out;
    }
    size_t pos = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t end = nl ? (size_t)(nl - text) : len;
        size_t l = end - pos;
        if (l > 0 && text[pos + l - 1] == '\r')
            l--;
        if (n == cap) {
            if (n >= IC_TOK_MAX_VOCAB) {
                rc = ic_errf(err, IC_ERR_RANGE, "%s: more than %d tokens", what,
                             IC_TOK_MAX_VOCAB);
                goto out;
            }
            cap = cap ? 2 * cap : 1024;
            toks = ic_xrealloc(toks, cap * sizeof *toks);
            lens = ic_xrealloc(lens, cap * sizeof *lens);
        }
        toks[n] = text + pos;
        lens[n] = l;
        n++;
        pos = end + 1;
    }
    rc = ic__tok_build(t, toks, lens, n, o, what, err);
out:
    ic_free(toks);
    ic_free(lens);
    return rc;
}

int ic_tokenizer_load_vocab(struct ic_tokenizer *t, const char *vocab_path,
                            const struct ic_tokenizer_opts *o, struct ic_err *err)
{
    char *data = NULL;
    size_t len = 0;
    memset(t, 0, sizeof *t);
    int rc = ic_read_file(vocab_path, (size_t)256 << 20, &data, &len, err);
    if (rc != IC_OK)
        return rc;
    rc = ic__tok_load_vocab_text(t, data, len, o, vocab_path, err);
    ic_free(data);
    return rc;
}

int ic_tokenizer_vocab_text(const struct ic_tokenizer *t, struct ic_buf *b)
{
    int rc = IC_OK;
    for (size_t i = 0; rc == IC_OK && i < t->n_tokens; i++) {
        rc = ic_buf_append(b, t->tokens[i], strlen(t->tokens[i]));
        if (rc == IC_OK)
            rc = ic_buf_append(b, "\n", 1);
    }
    return rc;
}

// --- work buffers -------------------------------------------------------------

void ic_tok_work_init(struct ic_tok_work *w)
{
    memset(w, 0, sizeof *w);
}

void ic_tok_work_free(struct ic_tok_work *w)
{
    if (!w)
        return;
    ic_free(w->cps);
    ic_free(w->norm);
    ic_free(w->word);
    ic_free(w->wofs);
    ic_free(w->ph);
    ic_free(w->ids);
    memset(w, 0, sizeof *w);
}

static void *grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    *cap = c;
    return ic_xrealloc(p, c * elem);
}

// --- normalisation and pre-tokenisation ---------------------------------------

/* ASCII classes for clean_text. */
enum { A_KEEP, A_DEL, A_SPACE };

static unsigned char ascii_class(unsigned c, int clean)
{
    if (c == '\t' || c == '\n' || c == '\r' || c == ' ')
        return A_SPACE;
    if (c == 0x0B || c == 0x0C)
        return clean ? A_DEL : A_SPACE;
    if (c < 0x20 || c == 0x7F)
        return clean ? A_DEL : A_KEEP;
    return A_KEEP;
}

struct words {
    const struct ic_tokenizer_opts *o;
    struct ic_tok_work *w;
    size_t maxc;   /* word limit in characters */
    size_t nchars; /* current word */
    size_t nbytes;
    ic__tok_word_fn fn;
    void *ud;
};

static void word_flush(struct words *s)
{
    if (s->nchars == 0)
        return;
    if (s->nchars > s->maxc) {
        s->fn(s->ud, NULL, 0, NULL, s->nchars);
    } else {
        s->w->wofs[s->nchars] = (uint32_t)s->nbytes;
        s->fn(s->ud, s->w->word, s->nbytes, s->w->wofs, s->nchars);
    }
    s->nchars = 0;
    s->nbytes = 0;
}

static inline void word_add(struct words *s, uint32_t c)
{
    if (s->nchars < s->maxc) {
        s->w->wofs[s->nchars] = (uint32_t)s->nbytes;
        if (c < 0x80)
            s->w->word[s->nbytes++] = (char)c;
        else
            s->nbytes += (size_t)ic__utf8_encode(c, s->w->word + s->nbytes);
    }
    s->nchars++;
}

static inline int ascii_punct(uint32_t c)
{
    return (c >= 33 && c <= 47) || (c >= 58 && c <= 64) || (c >= 91 && c <= 96) ||
           (c >= 123 && c <= 126);
}

/* One normalised character into the pre-tokenizer. */
static inline void pre_char(struct words *s, uint32_t c)
{
    if (c < 128) {
        if (c == ' ' || (c >= 0x09 && c <= 0x0D)) {
            word_flush(s);
        } else if (ascii_punct(c)) {
            word_flush(s);
            word_add(s, c);
            word_flush(s);
        } else {
            word_add(s, c);
        }
        return;
    }
    if (ic__uni_is_space(c)) {
        word_flush(s);
    } else if (ic__uni_is_punct(c)) {
        word_flush(s);
        word_add(s, c);
        word_flush(s);
    } else {
        word_add(s, c);
    }
}

/* Canonical ordering of a run of marks (all with nonzero combining class):
 * a stable sort by class. Insertion sort for short runs, counting sort for
 * long ones (so hostile input cannot make it quadratic). */
static void sort_marks(struct ic_tok_work *w, size_t from, size_t to)
{
    size_t m = to - from;
    uint32_t *c = w->cps + from;
    if (m <= 16) {
        for (size_t i = 1; i < m; i++) {
            uint32_t x = c[i];
            int cx = ic__uni_ccc(x);
            size_t j = i;
            while (j > 0 && ic__uni_ccc(c[j - 1]) > cx) {
                c[j] = c[j - 1];
                j--;
            }
            c[j] = x;
        }
        return;
    }
    w->norm = grow(w->norm, &w->norm_cap, 2 * m, sizeof *w->norm);
    c = w->cps + from;
    uint32_t *key = w->norm, *out = w->norm + m;
    size_t count[257];
    memset(count, 0, sizeof count);
    for (size_t i = 0; i < m; i++) {
        key[i] = ((uint32_t)ic__uni_ccc(c[i]) << 21) | c[i];
        count[(key[i] >> 21) + 1]++;
    }
    for (size_t k = 1; k < 257; k++)
        count[k] += count[k - 1];
    for (size_t i = 0; i < m; i++)
        out[count[key[i] >> 21]++] = key[i] & 0x1FFFFF;
    memcpy(c, out, m * sizeof *c);
}

/* Stage A: clean_text, CJK spacing and accent stripping (NFD with canonical
 * ordering, drop Mn) of text[0..len) into w->cps. base = offset of text in
 * the caller's string (for error messages). Canonical ordering happens on
 * the NFD string before Mn are dropped: runs of marks end at class-0
 * characters, dropped ones included. */
static int normalize(const struct ic_tokenizer_opts *o, struct ic_tok_work *w, const char *text,
                     size_t len, size_t base, size_t *out_n, struct ic_err *err)
{
    const unsigned char *s = (const unsigned char *)text;
    const int clean = o->clean_text, cjk = o->handle_chinese_chars, strip = ic__tok_strip(o);
    size_t n = 0, run0 = 0; /* cps[run0..n): current run of marks */
    size_t i = 0;
#define CLOSE_RUN()                                  \
    do {                                             \
        if (n - run0 > 1)                            \
            sort_marks(w, run0, n);                  \
    } while (0)
    while (i < len) {
        if (n + 2 + IC_UNI_MAX_MAP > w->cps_cap)
            w->cps = grow(w->cps, &w->cps_cap, n + 2 + IC_UNI_MAX_MAP + len - i, sizeof *w->cps);
        uint32_t cp = s[i];
        if (cp < 0x80) {
            i++;
            if (clean) {
                unsigned char k = ascii_class(cp, 1);
                if (k == A_DEL)
                    continue;
                if (k == A_SPACE)
                    cp = ' ';
            }
            if (strip)
                CLOSE_RUN();
            w->cps[n++] = cp;
            run0 = n;
            continue;
        }
        int l = ic__utf8_decode(s + i, len - i, &cp);
        if (l == 0)
            return ic_errf(err, IC_ERR_FORMAT, "invalid UTF-8 at byte %zu", base + i);
        i += (size_t)l;
        if (clean) {
            if (ic__uni_is_removed(cp))
                continue;
            if (ic__uni_is_space(cp))
                cp = ' ';
        }
        int spaced = cjk && ic__uni_is_cjk(cp);
        if (!strip) {
            if (spaced)
                w->cps[n++] = ' ';
            w->cps[n++] = cp;
            if (spaced)
                w->cps[n++] = ' ';
            continue;
        }
        if (spaced) {
            CLOSE_RUN();
            w->cps[n++] = ' ';
            run0 = n;
        }
        uint32_t d[IC_UNI_MAX_MAP];
        int nd = ic__uni_nfd(cp, d);
        for (int k = 0; k < nd; k++) {
            int ccc = ic__uni_ccc(d[k]);
            if (ccc == 0) {
                CLOSE_RUN();
                if (!ic__uni_is_mn(d[k]))
                    w->cps[n++] = d[k];
                run0 = n;
            } else if (!ic__uni_is_mn(d[k])) {
                /* dropping marks before the stable sort by class gives
                 * the same order as dropping them after it */
                w->cps[n++] = d[k];
            }
        }
        if (spaced) {
            CLOSE_RUN();
            w->cps[n++] = ' ';
            run0 = n;
        }
    }
    if (strip)
        CLOSE_RUN();
#undef CLOSE_RUN
    *out_n = n;
    return IC_OK;
}

/* Stage B: lower-casing, then the pre-tokenizer, over w->cps[0..n). */
static void split_words(struct words *st, size_t n)
{
    const uint32_t *c = st->w->cps;
    const int lower = st->o->lowercase;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = c[i];
        if (!lower) {
            pre_char(st, cp);
        } else if (cp < 128) {
            pre_char(st, (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp);
        } else {
            uint32_t m[IC_UNI_MAX_MAP];
            int nm = ic__uni_lower(cp, m);
            for (int k = 0; k < nm; k++)
                pre_char(st, m[k]);
        }
    }
    word_flush(st);
}

static void words_init(struct words *st, const struct ic_tokenizer_opts *o, struct ic_tok_work *w,
                       ic__tok_word_fn fn, void *ud)
{
    memset(st, 0, sizeof *st);
    st->o = o;
    st->w = w;
    st->maxc = (size_t)(o->max_input_chars_per_word > 0 ? o->max_input_chars_per_word : 1);
    st->fn = fn;
    st->ud = ud;
    w->word = grow(w->word, &w->word_cap, 4 * st->maxc + 8, 1);
    w->wofs = grow(w->wofs, &w->wofs_cap, st->maxc + 2, sizeof *w->wofs);
    w->ph = grow(w->ph, &w->ph_cap, st->maxc + 2, sizeof *w->ph);
}

int ic__tok_words(const struct ic_tokenizer_opts *o, struct ic_tok_work *w, const char *text,
                  size_t len, ic__tok_word_fn fn, void *ud, struct ic_err *err)
{
    if (len > IC_TOK_MAX_TEXT)
        return ic_errf(err, IC_ERR_RANGE, "text of %zu bytes is over the limit", len);
    struct words st;
    words_init(&st, o, w, fn, ud);
    size_t n = 0;
    int rc = normalize(o, w, text, len, 0, &n, err);
    if (rc != IC_OK)
        return rc;
    split_words(&st, n);
    return IC_OK;
}

// --- WordPiece ------------------------------------------------------------------

static inline void push_id(struct ic_tok_work *w, int32_t id)
{
    if (w->n_ids == w->ids_cap)
        w->ids = grow(w->ids, &w->ids_cap, w->n_ids + 1, sizeof *w->ids);
    w->ids[w->n_ids++] = id;
}

struct wp {
    const struct ic_tokenizer *t;
    struct ic_tok_work *w;
};

static void wordpiece(void *ud, const char *word, size_t nbytes, const uint32_t *ofs, size_t nch)
{
    struct wp *e = ud;
    const struct ic_tokenizer *t = e->t;
    struct ic_tok_work *w = e->w;
    size_t first = w->n_ids;
    if (!word) {
        push_id(w, t->unk_id);
        return;
    }
    /* whole word first: the common case */
    int32_t id = nbytes <= t->max_token_len ? lookup(t, word, nbytes, 0) : -1;
    if (id >= 0) {
        push_id(w, id);
        return;
    }
    uint32_t *ph = w->ph; /* hash state after each character */
    size_t start = 0;
    while (start < nch) {
        size_t end = nch;
        while (end > start && ofs[end] - ofs[start] > t->max_token_len)
            end--;
        uint32_t h = HASH_SEED(start > 0);
        ph[start] = h;
        for (size_t c = start; c < end; c++) {
            for (uint32_t b = ofs[c]; b < ofs[c + 1]; b++)
                h = hash_step(h, (unsigned char)word[b]);
            ph[c + 1] = h;
        }
        id = -1;
        for (; end > start; end--) {
            id = lookup_hash(t, word + ofs[start], ofs[end] - ofs[start], start > 0,
                             hash_finish(ph[end]));
            if (id >= 0)
                break;
        }
        if (id < 0) {
            w->n_ids = first;
            push_id(w, t->unk_id);
            return;
        }
        push_id(w, id);
        start = end;
    }
}

int ic_tokenizer_pieces(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                        size_t len, struct ic_err *err)
{
    w->n_ids = 0;
    if (!t->slots)
        return ic_errf(err, IC_ERR_INVAL, "tokenizer not loaded");
    if (len > IC_TOK_MAX_TEXT)
        return ic_errf(err, IC_ERR_RANGE, "text of %zu bytes is over the limit", len);
    if (w->ids_cap < 64)
        w->ids = grow(w->ids, &w->ids_cap, 64, sizeof *w->ids);
    struct wp e = {t, w};
    struct words st;
    words_init(&st, &t->opts, w, wordpiece, &e);

    /* first bytes of the special tokens, for a quick scan */
    unsigned char first[256];
    memset(first, 0, sizeof first);
    for (size_t k = 0; k < t->n_specials; k++)
        first[(unsigned char)t->specials[k][0]] = 1;

    size_t pos = 0;
    while (pos <= len) {
        /* leftmost, then longest, special token at or after pos */
        size_t at = len, mlen = 0;
        int32_t mid = -1;
        for (size_t i = pos; t->n_specials && i < len; i++) {
            if (!first[(unsigned char)text[i]])
                continue;
            for (size_t k = 0; k < t->n_specials; k++) {
                size_t l = strlen(t->specials[k]);
                if (l <= len - i && memcmp(text + i, t->specials[k], l) == 0) {
                    at = i;
                    mlen = l;
                    mid = t->special_ids[k];
                    break;
                }
            }
            if (mid >= 0)
                break;
        }
        size_t n = 0;
        int rc = normalize(&t->opts, w, text + pos, at - pos, pos, &n, err);
        if (rc != IC_OK) {
            w->n_ids = 0;
            return rc;
        }
        split_words(&st, n);
        if (mid < 0)
            break;
        push_id(w, mid);
        pos = at + mlen;
    }
    return IC_OK;
}

/* Length limit for one encoded text (specials included). */
static size_t length_limit(const struct ic_tokenizer *t, int max_len, size_t len)
{
    if (max_len > 0)
        return (size_t)max_len;
    size_t lim = IC_TOK_MAX_IDS(len);
    long long m = t->opts.model_max_length;
    if (m >= 2 && (unsigned long long)m < lim)
        lim = (size_t)m;
    return lim;
}

int ic_tokenizer_encode(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                        size_t len, int max_len, int32_t *ids, int *n, struct ic_err *err)
{
    *n = 0;
    if (max_len < 0 || max_len == 1)
        return ic_errf(err, IC_ERR_INVAL, "max_len %d: must be 0 or at least 2", max_len);
    int rc = ic_tokenizer_pieces(t, w, text, len, err);
    if (rc != IC_OK)
        return rc;
    size_t lim = length_limit(t, max_len, len);
    if (lim > INT_MAX)
        lim = INT_MAX;
    size_t k = w->n_ids < lim - 2 ? w->n_ids : lim - 2;
    ids[0] = t->cls_id;
    memcpy(ids + 1, w->ids, k * sizeof *ids);
    ids[k + 1] = t->sep_id;
    *n = (int)(k + 2);
    return IC_OK;
}

// --- batches --------------------------------------------------------------------

void ic_tok_batch_free(struct ic_tok_batch *b)
{
    if (!b)
        return;
    ic_free(b->ids);
    ic_free(b->attention_mask);
    ic_free(b->token_type_ids);
    ic_free(b->lengths);
    memset(b, 0, sizeof *b);
}

int ic_tokenizer_encode_batch(const struct ic_tokenizer *t, struct ic_tok_work *w,
                              const char *const *texts, const size_t *lens, int n, int max_len,
                              enum ic_tok_padding padding, struct ic_tok_batch *b,
                              struct ic_err *err)
{
    int rc = IC_OK;
    int32_t *rows = NULL; /* concatenated encodings */
    size_t rows_len = 0, rows_cap = 0;
    ic_tok_batch_free(b);
    if (n < 0 || max_len < 0 || max_len == 1)
        return ic_errf(err, IC_ERR_INVAL, "batch of %d texts, max_len %d: invalid", n, max_len);
    if (padding == IC_TOK_PAD_MAX_LENGTH && max_len == 0)
        return ic_errf(err, IC_ERR_INVAL, "padding to max_length needs max_len > 0");
    if (t->pad_id < 0)
        return ic_errf(err, IC_ERR_FORMAT, "the vocabulary has no [PAD] token");
    b->lengths = ic_xcalloc(n ? (size_t)n : 1, sizeof *b->lengths);
    int longest = 0;
    for (int i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        rc = ic_tokenizer_pieces(t, w, texts[i], len, err);
        if (rc != IC_OK) {
            ic_err_prefix(err, "text %d", i);
            goto out;
        }
        size_t lim = length_limit(t, max_len, len);
        if (lim > INT_MAX)
            lim = INT_MAX;
        size_t k = w->n_ids < lim - 2 ? w->n_ids : lim - 2;
        rows = grow(rows, &rows_cap, rows_len + k + 2, sizeof *rows);
        rows[rows_len] = t->cls_id;
        memcpy(rows + rows_len + 1, w->ids, k * sizeof *rows);
        rows[rows_len + k + 1] = t->sep_id;
        rows_len += k + 2;
        b->lengths[i] = (int)(k + 2);
        if (b->lengths[i] > longest)
            longest = b->lengths[i];
    }
    b->n = n;
    b->seq_len = padding == IC_TOK_PAD_MAX_LENGTH ? max_len : longest;
    size_t cells = (size_t)n * (size_t)b->seq_len;
    b->ids = ic_xmalloc(cells ? cells * sizeof(int32_t) : 1);
    b->attention_mask = ic_xmalloc(cells ? cells * sizeof(int32_t) : 1);
    b->token_type_ids = ic_xcalloc(cells ? cells : 1, sizeof(int32_t));
    size_t off = 0;
    for (int i = 0; i < n; i++) {
        int32_t *ids = b->ids + (size_t)i * b->seq_len;
        int32_t *mask = b->attention_mask + (size_t)i * b->seq_len;
        for (int j = 0; j < b->seq_len; j++) {
            int real = j < b->lengths[i];
            ids[j] = real ? rows[off + (size_t)j] : t->pad_id;
            mask[j] = real;
        }
        off += (size_t)b->lengths[i];
    }
out:
    ic_free(rows);
    if (rc != IC_OK)
        ic_tok_batch_free(b);
    return rc;
}
