/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tokenizer.c - what every tokenizer family shares: the vocabulary table
 * (id <-> token), added tokens (matched on the raw text with Hugging Face's
 * lstrip / rstrip / single_word rules before the model runs), encoding for
 * the model (start token, pieces, end token, truncation) and batches. The
 * families: wordpiece.c (BERT), bpe.c (byte-level BPE), tok_unigram.c
 * (SentencePiece Unigram); loading and saving directories: tokenizer_io.c.
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

const char *ic_tok_type_name(enum ic_tok_type type)
{
    switch (type) {
    case IC_TOK_WORDPIECE:
        return "wordpiece";
    case IC_TOK_BPE:
        return "bpe";
    case IC_TOK_UNIGRAM:
        return "unigram";
    }
    return "unknown";
}

// --- vocabulary hash table --------------------------------------------------

static uint32_t hash_key(const char *s, size_t n, uint32_t cont)
{
    uint32_t h = IC__TOK_HASH_SEED(cont);
    for (size_t i = 0; i < n; i++)
        h = ic__tok_hash_step(h, (unsigned char)s[i]);
    return ic__tok_hash_finish(h);
}

int32_t ic__tok_lookup(const struct ic__tok_impl *m, const char *key, size_t n, uint32_t cont)
{
    if (!m || !m->slots)
        return -1;
    return ic__tok_lookup_hash(m, key, n, cont, hash_key(key, n, cont));
}

static void insert(struct ic__tok_impl *m, int32_t id, uint32_t off, size_t len, uint32_t cont)
{
    const char *key = m->tokens[id] + off;
    uint32_t h = hash_key(key, len, cont);
    size_t mask = m->n_slots - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct ic__tok_slot *s = &m->slots[i];
        if (s->hash == 0 || (s->hash == h && s->len == len && s->cont == cont &&
                             memcmp(m->tokens[s->id] + s->off, key, len) == 0)) {
            /* a later duplicate replaces the earlier id, as a map insert
             * does in Hugging Face's loaders */
            s->hash = h;
            s->id = id;
            s->off = off;
            s->len = (uint16_t)len;
            s->cont = (uint16_t)cont;
            size_t b1, b2;
            ic__tok_filter_pos(m, h, &b1, &b2);
            m->filter[b1 >> 6] |= (uint64_t)1 << (b1 & 63);
            m->filter[b2 >> 6] |= (uint64_t)1 << (b2 & 63);
            if (len > m->max_token_len)
                m->max_token_len = len;
            return;
        }
    }
}

int32_t ic_tokenizer_id(const struct ic_tokenizer *t, const char *token, size_t len)
{
    if (len > IC_TOK_MAX_TOKEN_BYTES)
        return -1;
    return ic__tok_lookup(t->impl, token, len, 0);
}

size_t ic_tokenizer_vocab_size(const struct ic_tokenizer *t)
{
    return t->n_tokens;
}

const char *ic_tokenizer_token(const struct ic_tokenizer *t, int32_t id)
{
    if (!t->impl || id < 0 || (size_t)id >= t->n_tokens)
        return NULL;
    return t->impl->tokens[id];
}

static void free_added(struct ic__tok_impl *m)
{
    for (size_t i = 0; i < m->n_added; i++)
        ic_free(m->added[i].s);
    ic_free(m->added);
    m->added = NULL;
    m->n_added = 0;
    memset(m->added_first, 0, sizeof m->added_first);
}

void ic_tokenizer_free(struct ic_tokenizer *t)
{
    if (!t)
        return;
    struct ic__tok_impl *m = t->impl;
    if (m) {
        if (m->ops && m->ops->free)
            m->ops->free(m->model);
        ic_free(m->tokens);
        ic_free(m->pool);
        ic_free(m->slots);
        ic_free(m->filter);
        free_added(m);
        ic_free(m);
    }
    memset(t, 0, sizeof *t);
    t->pad_id = t->unk_id = t->cls_id = t->sep_id = t->mask_id = -1;
}

// --- added tokens -------------------------------------------------------------

int ic__tok_set_added(struct ic_tokenizer *t, const struct ic__tok_added *a, size_t n,
                      struct ic_err *err)
{
    struct ic__tok_impl *m = t->impl;
    for (size_t i = 0; i < n; i++) {
        const char *tok = ic_tokenizer_token(t, a[i].id);
        if (!a[i].len || !tok || strlen(tok) != a[i].len || memcmp(tok, a[i].s, a[i].len) != 0)
            return ic_errf(err, IC_ERR_FORMAT,
                           "added token \"%.40s\" is not the vocabulary's token of id %ld",
                           a[i].s, (long)a[i].id);
    }
    free_added(m);
    m->added = ic_xcalloc(n ? n : 1, sizeof *m->added);
    for (size_t i = 0; i < n; i++) {
        int dup = 0;
        for (size_t j = 0; j < m->n_added; j++)
            dup |= m->added[j].len == a[i].len && memcmp(m->added[j].s, a[i].s, a[i].len) == 0;
        if (dup)
            continue;
        /* insertion sort, longest first, so the first match is the longest */
        size_t k = m->n_added;
        while (k > 0 && m->added[k - 1].len < a[i].len) {
            m->added[k] = m->added[k - 1];
            k--;
        }
        m->added[k] = a[i];
        m->added[k].s = ic_xmalloc(a[i].len + 1);
        memcpy(m->added[k].s, a[i].s, a[i].len);
        m->added[k].s[a[i].len] = 0;
        m->added_first[(unsigned char)a[i].s[0]] = 1;
        m->n_added++;
    }
    return IC_OK;
}

int ic__tok_set_specials(struct ic_tokenizer *t, const char *const *specials, size_t n,
                         struct ic_err *err)
{
    struct ic__tok_added *a = ic_xcalloc(n ? n : 1, sizeof *a);
    int rc = IC_OK;
    for (size_t i = 0; i < n; i++) {
        a[i].s = (char *)specials[i];
        a[i].len = strlen(specials[i]);
        a[i].id = ic_tokenizer_id(t, specials[i], a[i].len);
        a[i].special = 1;
        if (a[i].id < 0 || !a[i].len) {
            rc = ic_errf(err, IC_ERR_FORMAT, "special token \"%s\" is not in the vocabulary",
                         specials[i]);
            break;
        }
    }
    if (rc == IC_OK)
        rc = ic__tok_set_added(t, a, n, err);
    ic_free(a);
    return rc;
}

// --- building -------------------------------------------------------------------

int ic__tok_vocab_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens,
                        size_t n, int cont, const char *what, struct ic_err *err)
{
    memset(t, 0, sizeof *t);
    t->pad_id = t->unk_id = t->cls_id = t->sep_id = t->mask_id = -1;
    if (n > IC_TOK_MAX_VOCAB)
        return ic_errf(err, IC_ERR_RANGE, "%s: %zu tokens, more than the %d allowed", what, n,
                       IC_TOK_MAX_VOCAB);
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] > IC_TOK_MAX_TOKEN_BYTES)
            return ic_errf(err, IC_ERR_RANGE, "%s: line %zu: token of %zu bytes (limit %d)", what,
                           i + 1, lens[i], IC_TOK_MAX_TOKEN_BYTES);
        if (memchr(tokens[i], 0, lens[i]))
            return ic_errf(err, IC_ERR_FORMAT, "%s: line %zu: token holds a NUL byte", what,
                           i + 1);
        total += lens[i] + 1;
    }
    static uint64_t serials;
    struct ic__tok_impl *m = ic_xcalloc(1, sizeof *m);
    m->serial = __atomic_add_fetch(&serials, 1, __ATOMIC_RELAXED);
    t->impl = m;
    t->n_tokens = n;
    ic_tokenizer_default_opts(&t->opts);
    m->tokens = ic_xcalloc(n ? n : 1, sizeof *m->tokens);
    m->pool = ic_xmalloc(total ? total : 1);
    char *p = m->pool;
    for (size_t i = 0; i < n; i++) {
        memcpy(p, tokens[i], lens[i]);
        p[lens[i]] = 0;
        m->tokens[i] = p;
        p += lens[i] + 1;
    }
    size_t keys = cont ? 2 * n + 1 : n + 1;
    m->n_slots = 16;
    while (m->n_slots < 2 * keys)
        m->n_slots *= 2;
    m->slots = ic_xcalloc(m->n_slots, sizeof *m->slots);
    /* about 8 filter bits per key: ~5% false positives with two bits */
    m->filter_bits = 4096;
    while (m->filter_bits < 8 * keys)
        m->filter_bits *= 2;
    m->filter = ic_xcalloc(m->filter_bits / 64, sizeof *m->filter);
    for (size_t i = 0; i < n; i++) {
        insert(m, (int32_t)i, 0, lens[i], 0);
        if (cont && lens[i] > 2 && tokens[i][0] == '#' && tokens[i][1] == '#')
            insert(m, (int32_t)i, 2, lens[i] - 2, 1);
    }
    return IC_OK;
}

static const char *const bert_specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};

int ic__tok_build(struct ic_tokenizer *t, const char *const *tokens, const size_t *lens, size_t n,
                  const struct ic_tokenizer_opts *o, const char *what, struct ic_err *err)
{
    int rc = ic__tok_vocab_build(t, tokens, lens, n, 1, what, err);
    if (rc != IC_OK)
        return rc;
    t->type = IC_TOK_WORDPIECE;
    t->impl->ops = &ic__wordpiece_ops;
    if (o)
        t->opts = *o;
    if (t->opts.max_input_chars_per_word < 1 ||
        t->opts.max_input_chars_per_word > IC_TOK_MAX_WORD_LIMIT) {
        rc = ic_errf(err, IC_ERR_RANGE, "%s: max_input_chars_per_word %d not in [1, %d]", what,
                     t->opts.max_input_chars_per_word, IC_TOK_MAX_WORD_LIMIT);
        goto out;
    }
    if (t->opts.model_max_length < 0)
        t->opts.model_max_length = 0;
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
        const char *s = t->impl->tokens[i];
        rc = ic_buf_append(b, s, strlen(s));
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
    ic_free(w->text);
    ic_free(w->text2);
    ic_free(w->ends);
    ic_free(w->sym);
    ic_free(w->seg);
    for (int i = 0; i < 3; i++)
        ic_buf_free(&w->ub[i]);
    ic__bpe_cache_free(w->bpe_cache);
    memset(w, 0, sizeof *w);
}

void *ic__tok_grow(void *p, size_t *cap, size_t need, size_t elem)
{
    if (need <= *cap)
        return p;
    size_t c = *cap ? *cap : 64;
    while (c < need)
        c *= 2;
    *cap = c;
    return ic_xrealloc(p, c * elem);
}

// --- splitting on added tokens ----------------------------------------------------

/* Last code point before byte offset at (at > 0) of valid UTF-8 text. */
static uint32_t cp_before(const char *s, size_t at, size_t *start)
{
    size_t i = at - 1;
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    uint32_t cp = 0xFFFD;
    if (ic__utf8_decode((const unsigned char *)s + i, at - i, &cp) == 0)
        cp = 0xFFFD;
    *start = i;
    return cp;
}

static int is_word_char(uint32_t cp)
{
    if (cp < 128)
        return (cp >= '0' && cp <= '9') || ((cp | 32) >= 'a' && (cp | 32) <= 'z');
    return ic__uni_is_alnum(cp);
}

/* Start of the run of whitespace that ends at byte at, not before lo. */
static size_t ws_left(const char *s, size_t lo, size_t at)
{
    while (at > lo) {
        size_t st;
        if (!ic__uni_is_space(cp_before(s, at, &st)))
            break;
        at = st;
    }
    return at < lo ? lo : at;
}

/* End of the run of whitespace that starts at byte at. */
static size_t ws_right(const char *s, size_t len, size_t at)
{
    while (at < len) {
        uint32_t cp;
        int l = ic__utf8_decode((const unsigned char *)s + at, len - at, &cp);
        if (l == 0 || !ic__uni_is_space(cp))
            break;
        at += (size_t)l;
    }
    return at;
}

/* Leftmost-longest added token at or after pos: its index, start and end
 * (before any stripping); -1 if none. */
static long next_added(const struct ic__tok_impl *m, const char *text, size_t len, size_t pos,
                       size_t *at)
{
    for (size_t i = pos; i < len; i++) {
        if (!m->added_first[(unsigned char)text[i]])
            continue;
        for (size_t k = 0; k < m->n_added; k++) {
            size_t l = m->added[k].len;
            if (l <= len - i && memcmp(text + i, m->added[k].s, l) == 0) {
                *at = i;
                return (long)k;
            }
        }
    }
    return -1;
}

/* single_word: the match must not touch a word character on either side. */
static int single_word_ok(const char *text, size_t len, size_t at, size_t end)
{
    size_t st;
    if (at > 0 && is_word_char(cp_before(text, at, &st)))
        return 0;
    uint32_t cp;
    if (end < len && ic__utf8_decode((const unsigned char *)text + end, len - end, &cp) > 0 &&
        is_word_char(cp))
        return 0;
    return 1;
}

static int encode_segment(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                          size_t from, size_t to, struct ic_err *err)
{
    if (to <= from)
        return IC_OK; /* empty pieces are dropped, as Hugging Face does */
    return t->impl->ops->encode(t, w, text + from, to - from, from, from == 0, err);
}

int ic_tokenizer_pieces(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                        size_t len, struct ic_err *err)
{
    w->n_ids = 0;
    const struct ic__tok_impl *m = t->impl;
    if (!m || !m->ops)
        return ic_errf(err, IC_ERR_INVAL, "tokenizer not loaded");
    if (len > IC_TOK_MAX_TEXT)
        return ic_errf(err, IC_ERR_RANGE, "text of %zu bytes is over the limit", len);
    if (w->ids_cap < 64)
        w->ids = ic__tok_grow(w->ids, &w->ids_cap, 64, sizeof *w->ids);
    size_t done = 0; /* text[0..done) is encoded */
    size_t pos = 0;  /* where the next search starts */
    int rc = IC_OK;
    while (rc == IC_OK) {
        size_t at = len;
        long k = m->n_added ? next_added(m, text, len, pos, &at) : -1;
        if (k < 0)
            break;
        const struct ic__tok_added *a = &m->added[k];
        size_t end = at + a->len;
        pos = end;
        if (a->single_word && !single_word_ok(text, len, at, end))
            continue;
        if (a->lstrip)
            at = ws_left(text, done, at);
        if (a->rstrip)
            end = ws_right(text, len, end);
        rc = encode_segment(t, w, text, done, at, err);
        if (rc == IC_OK)
            ic__tok_push_id(w, a->id);
        done = end;
        if (pos < done)
            pos = done;
    }
    if (rc == IC_OK)
        rc = encode_segment(t, w, text, done, len, err);
    if (rc != IC_OK)
        w->n_ids = 0;
    return rc;
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
        rows = ic__tok_grow(rows, &rows_cap, rows_len + k + 2, sizeof *rows);
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