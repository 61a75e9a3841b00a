/* SPDX-License-Identifier: Apache-2.0 */
/*
 * wordpiece.c - the BERT family: BertNormalizer (clean_text, CJK spacing,
 * accent stripping, lower-casing), BertPreTokenizer (whitespace and
 * punctuation) and the WordPiece model (greedy longest match with "##"
 * continuations), following Hugging Face's Rust `tokenizers`. Character
 * classes come from unicode.c; the vocabulary table from tokenizer.c.
 */
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
    w->norm = ic__tok_grow(w->norm, &w->norm_cap, 2 * m, sizeof *w->norm);
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
            w->cps = ic__tok_grow(w->cps, &w->cps_cap, n + 2 + IC_UNI_MAX_MAP + len - i, sizeof *w->cps);
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
    w->word = ic__tok_grow(w->word, &w->word_cap, 4 * st->maxc + 8, 1);
    w->wofs = ic__tok_grow(w->wofs, &w->wofs_cap, st->maxc + 2, sizeof *w->wofs);
    w->ph = ic__tok_grow(w->ph, &w->ph_cap, st->maxc + 2, sizeof *w->ph);
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


struct wp {
    const struct ic_tokenizer *t;
    struct ic_tok_work *w;
};

static void wordpiece(void *ud, const char *word, size_t nbytes, const uint32_t *ofs, size_t nch)
{
    struct wp *e = ud;
    const struct ic_tokenizer *t = e->t;
    const struct ic__tok_impl *m = t->impl;
    struct ic_tok_work *w = e->w;
    size_t first = w->n_ids;
    if (!word) {
        ic__tok_push_id(w, t->unk_id);
        return;
    }
    /* whole word first: the common case */
    int32_t id = nbytes <= m->max_token_len ? ic__tok_lookup(m, word, nbytes, 0) : -1;
    if (id >= 0) {
        ic__tok_push_id(w, id);
        return;
    }
    uint32_t *ph = w->ph; /* hash state after each character */
    size_t start = 0;
    while (start < nch) {
        size_t end = nch;
        while (end > start && ofs[end] - ofs[start] > m->max_token_len)
            end--;
        uint32_t h = IC__TOK_HASH_SEED(start > 0);
        ph[start] = h;
        for (size_t c = start; c < end; c++) {
            for (uint32_t b = ofs[c]; b < ofs[c + 1]; b++)
                h = ic__tok_hash_step(h, (unsigned char)word[b]);
            ph[c + 1] = h;
        }
        id = -1;
        for (; end > start; end--) {
            id = ic__tok_lookup_hash(m, word + ofs[start], ofs[end] - ofs[start], start > 0,
                                     ic__tok_hash_finish(ph[end]));
            if (id >= 0)
                break;
        }
        if (id < 0) {
            w->n_ids = first;
            ic__tok_push_id(w, t->unk_id);
            return;
        }
        ic__tok_push_id(w, id);
        start = end;
    }
}

static int wp_encode(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                     size_t len, size_t base, int first, struct ic_err *err)
{
    (void)first;
    struct wp e = {t, w};
    struct words st;
    words_init(&st, &t->opts, w, wordpiece, &e);
    size_t n = 0;
    int rc = normalize(&t->opts, w, text, len, base, &n, err);
    if (rc != IC_OK)
        return rc;
    split_words(&st, n);
    return IC_OK;
}

const struct ic__tok_model_ops ic__wordpiece_ops = {"wordpiece", wp_encode, NULL};
