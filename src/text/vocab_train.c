/* SPDX-License-Identifier: Apache-2.0 */
/*
 * vocab_train.c - WordPiece vocabulary trainer, the way Hugging Face's
 * WordPieceTrainer builds one (a BPE-style merge loop with "##"
 * continuations): words come from the tokenizer's own normalisation and
 * pre-tokenisation; the vocabulary starts with [PAD] [UNK] [CLS] [SEP]
 * [MASK], then every character seen (most frequent first) and its "##"
 * form, then repeatedly the merge of the most frequent adjacent pair of
 * symbols (counted over word frequencies) until vocab_size tokens.
 * Ties break on the merged string's bytes, then on the pair's ids, so the
 * result depends only on the texts. Words longer than the WordPiece limit
 * are skipped (they always encode as [UNK]).
 */
#include <stdlib.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

// --- a string -> index map (open addressing) ---------------------------------

struct strmap {
    uint32_t *slot; /* index + 1, 0 = empty */
    size_t cap;     /* power of two */
    char **keys;    /* borrowed from the owner's arrays */
    size_t n;
};

static uint32_t str_hash(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

static void strmap_rehash(struct strmap *m, size_t cap)
{
    ic_free(m->slot);
    m->slot = ic_xcalloc(cap, sizeof *m->slot);
    m->cap = cap;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = str_hash(m->keys[i], strlen(m->keys[i])) & (cap - 1);
        while (m->slot[j])
            j = (j + 1) & (cap - 1);
        m->slot[j] = (uint32_t)i + 1;
    }
}

/* Index of s, or -1; with add, inserts it (copy) as index m->n. */
static long strmap_get(struct strmap *m, const char *s, size_t n, int add)
{
    if (m->cap) {
        size_t j = str_hash(s, n) & (m->cap - 1);
        while (m->slot[j]) {
            const char *k = m->keys[m->slot[j] - 1];
            if (strlen(k) == n && memcmp(k, s, n) == 0)
                return (long)m->slot[j] - 1;
            j = (j + 1) & (m->cap - 1);
        }
    }
    if (!add)
        return -1;
    if ((m->n & (m->n - 1)) == 0 || m->n == 0)
        m->keys = ic_xrealloc(m->keys, (m->n ? 2 * m->n : 1) * sizeof *m->keys);
    m->keys[m->n] = ic_xstrndup(s, n);
    m->n++;
    if (2 * m->n > m->cap)
        strmap_rehash(m, m->cap ? 2 * m->cap : 1024);
    else {
        size_t j = str_hash(s, n) & (m->cap - 1);
        while (m->slot[j])
            j = (j + 1) & (m->cap - 1);
        m->slot[j] = (uint32_t)m->n;
    }
    return (long)m->n - 1;
}

static void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        ic_free(m->keys[i]);
    ic_free(m->keys);
    ic_free(m->slot);
    memset(m, 0, sizeof *m);
}

// --- pairs ---------------------------------------------------------------------

struct pair {
    uint64_t key;     /* a << 32 | b, 0 = empty slot (ids start at 1 here) */
    long long count;  /* weighted by word frequency */
    uint32_t *words;  /* words holding the pair (may repeat) */
    size_t n_words, cap_words;
};

struct pairs {
    struct pair *p;
    size_t cap, n;
};

static struct pair *pair_get(struct pairs *ps, uint32_t a, uint32_t b);

static void pairs_grow(struct pairs *ps)
{
    struct pair *old = ps->p;
    size_t oldcap = ps->cap;
    ps->cap = oldcap ? 2 * oldcap : 4096;
    ps->p = ic_xcalloc(ps->cap, sizeof *ps->p);
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key)
            continue;
        uint64_t h = old[i].key * 0x9E3779B97F4A7C15ull;
        size_t j = (size_t)(h >> 20) & (ps->cap - 1);
        while (ps->p[j].key)
            j = (j + 1) & (ps->cap - 1);
        ps->p[j] = old[i];
    }
    ic_free(old);
}

static struct pair *pair_get(struct pairs *ps, uint32_t a, uint32_t b)
{
    if (2 * (ps->n + 1) > ps->cap)
        pairs_grow(ps);
    uint64_t key = ((uint64_t)a << 32) | b;
    uint64_t h = key * 0x9E3779B97F4A7C15ull;
    size_t j = (size_t)(h >> 20) & (ps->cap - 1);
    while (ps->p[j].key && ps->p[j].key != key)
        j = (j + 1) & (ps->cap - 1);
    if (!ps->p[j].key) {
        ps->p[j].key = key;
        ps->n++;
    }
    return &ps->p[j];
}

static void pair_add(struct pairs *ps, uint32_t a, uint32_t b, long long c, uint32_t word)
{
    struct pair *p = pair_get(ps, a, b);
    p->count += c;
    if (c > 0) {
        if (p->n_words == p->cap_words) {
            p->cap_words = p->cap_words ? 2 * p->cap_words : 4;
            p->words = ic_xrealloc(p->words, p->cap_words * sizeof *p->words);
        }
        p->words[p->n_words++] = word;
    }
}

static void pairs_free(struct pairs *ps)
{
    for (size_t i = 0; i < ps->cap; i++)
        ic_free(ps->p[i].words);
    ic_free(ps->p);
    memset(ps, 0, sizeof *ps);
}

// --- training --------------------------------------------------------------------

struct word {
    long long freq;
    uint32_t *sym; /* symbol ids (vocab index + 1) */
    size_t n;
};

struct trainer {
    struct strmap words; /* word string -> index */
    long long *wfreq;
    size_t wfreq_cap;
};

static void count_word(void *ud, const char *word, size_t nbytes, const uint32_t *ofs,
                       size_t nchars)
{
    struct trainer *tr = ud;
    (void)ofs;
    (void)nchars;
    if (!word)
        return;
    long i = strmap_get(&tr->words, word, nbytes, 1);
    if ((size_t)i >= tr->wfreq_cap) {
        size_t c = tr->wfreq_cap ? 2 * tr->wfreq_cap : 1024;
        tr->wfreq = ic_xrealloc(tr->wfreq, c * sizeof *tr->wfreq);
        memset(tr->wfreq + tr->wfreq_cap, 0, (c - tr->wfreq_cap) * sizeof *tr->wfreq);
        tr->wfreq_cap = c;
    }
    tr->wfreq[i]++;
}

struct charfreq {
    uint32_t cp;
    long long freq;
};

static int cmp_charfreq(const void *x, const void *y)
{
    const struct charfreq *a = x, *b = y;
    if (a->freq != b->freq)
        return a->freq > b->freq ? -1 : 1;
    return a->cp < b->cp ? -1 : a->cp > b->cp;
}

/* The state of one WordPiece training run, shared by its phases. */
struct wp_run {
    struct trainer tr;
    struct strmap vocab;   /* token -> id */
    struct strmap charidx; /* character -> index in chars */
    struct pairs ps;
    struct word *words;
    struct charfreq *chars;
    size_t n_chars, cap_chars;
    uint32_t *stamp, *tmp;
    size_t tmp_cap;
};

/* Characters by frequency (word-initial and continuation forms count the
 * same character). */
static void count_chars(struct wp_run *r)
{
    for (size_t i = 0; i < r->tr.words.n; i++) {
        const unsigned char *s = (const unsigned char *)r->tr.words.keys[i];
        size_t len = strlen(r->tr.words.keys[i]);
        for (size_t k = 0; k < len;) {
            uint32_t cp = 0;
            int l = ic__utf8_decode(s + k, len - k, &cp);
            k += l > 0 ? (size_t)l : 1;
            char key[8];
            int kl = ic__utf8_encode(cp, key);
            size_t j = (size_t)strmap_get(&r->charidx, key, (size_t)kl, 1);
            if (j == r->n_chars) {
                if (r->n_chars == r->cap_chars) {
                    r->cap_chars = r->cap_chars ? 2 * r->cap_chars : 256;
                    r->chars = ic_xrealloc(r->chars, r->cap_chars * sizeof *r->chars);
                }
                r->chars[r->n_chars].cp = cp;
                r->chars[r->n_chars].freq = 0;
                r->n_chars++;
            }
            r->chars[j].freq += r->tr.wfreq[i];
        }
    }
    if (r->n_chars)
        qsort(r->chars, r->n_chars, sizeof *r->chars, cmp_charfreq);
}

/* The specials, then every character word-initial, then as "##" pieces, in
 * frequency order while the vocabulary has room. */
static void seed_vocab(struct wp_run *r, size_t vocab_size)
{
    static const char *const specials[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
    for (size_t i = 0; i < 5; i++)
        strmap_get(&r->vocab, specials[i], strlen(specials[i]), 1);
    for (size_t i = 0; i < r->n_chars && r->vocab.n < vocab_size; i++) {
        char buf[8];
        int l = ic__utf8_encode(r->chars[i].cp, buf);
        strmap_get(&r->vocab, buf, (size_t)l, 1);
    }
    for (size_t i = 0; i < r->n_chars && r->vocab.n < vocab_size; i++) {
        char buf[8] = "##";
        int l = ic__utf8_encode(r->chars[i].cp, buf + 2);
        strmap_get(&r->vocab, buf, (size_t)l + 2, 1);
    }
}

/* Words as symbol sequences and their pair counts; a word with a character
 * that did not fit in the vocabulary takes no part in merges. */
static void build_words(struct wp_run *r)
{
    size_t nw = r->tr.words.n;
    r->words = ic_xcalloc(nw ? nw : 1, sizeof *r->words);
    r->stamp = ic_xcalloc(nw ? nw : 1, sizeof *r->stamp);
    for (size_t i = 0; i < nw; i++) {
        const char *s = r->tr.words.keys[i];
        size_t len = strlen(s);
        struct word *wd = &r->words[i];
        wd->freq = r->tr.wfreq[i];
        wd->sym = ic_xmalloc((len ? len : 1) * sizeof *wd->sym);
        int ok = 1;
        for (size_t k = 0; k < len;) {
            uint32_t cp = 0;
            int l = ic__utf8_decode((const unsigned char *)s + k, len - k, &cp);
            char buf[8] = "##";
            size_t off = k ? 0 : 2;
            int el = ic__utf8_encode(cp, buf + 2);
            long id = strmap_get(&r->vocab, buf + off, (size_t)el + 2 - off, 0);
            if (id < 0)
                ok = 0;
            wd->sym[wd->n++] = (uint32_t)(id + 1);
            k += l > 0 ? (size_t)l : 1;
        }
        if (!ok)
            wd->n = 0;
        for (size_t k = 0; k + 1 < wd->n; k++)
            pair_add(&r->ps, wd->sym[k], wd->sym[k + 1], wd->freq, (uint32_t)i);
    }
}

/* Orders two pairs by their merged strings, then by ids, without building
 * the strings: < 0 when p comes first. */
static int cmp_merged(const struct strmap *vocab, uint64_t p, uint64_t q)
{
    const char *a1 = vocab->keys[(p >> 32) - 1];
    const char *b1 = vocab->keys[(p & 0xFFFFFFFFu) - 1] + 2;
    const char *a2 = vocab->keys[(q >> 32) - 1];
    const char *b2 = vocab->keys[(q & 0xFFFFFFFFu) - 1] + 2;
    size_t la1 = strlen(a1), la2 = strlen(a2);
    int c = 0;
    size_t l1 = la1 + strlen(b1), l2 = la2 + strlen(b2);
    for (size_t k = 0; !c && k < l1 && k < l2; k++) {
        unsigned char x = (unsigned char)(k < la1 ? a1[k] : b1[k - la1]);
        unsigned char y = (unsigned char)(k < la2 ? a2[k] : b2[k - la2]);
        c = (x > y) - (x < y);
    }
    if (!c)
        c = (l1 > l2) - (l1 < l2);
    if (!c)
        c = (p > q) - (p < q);
    return c;
}

/* Best pair: highest count, then smallest merged string, then ids. */
static struct pair *best_pair(struct wp_run *r)
{
    struct pair *best = NULL;
    for (size_t i = 0; i < r->ps.cap; i++) {
        struct pair *p = &r->ps.p[i];
        if (!p->key || p->count <= 0)
            continue;
        if (best && p->count < best->count)
            continue;
        if (best && p->count == best->count && cmp_merged(&r->vocab, p->key, best->key) >= 0)
            continue;
        best = p;
    }
    return best;
}

/* Replaces every (a, b) in word wi by m, moving its pair counts. */
static void merge_in_word(struct wp_run *r, uint32_t wi, uint32_t a, uint32_t b, uint32_t m)
{
    struct word *wd = &r->words[wi];
    int has = 0;
    for (size_t k = 0; k + 1 < wd->n; k++)
        has |= wd->sym[k] == a && wd->sym[k + 1] == b;
    if (!has)
        return;
    for (size_t k = 0; k + 1 < wd->n; k++)
        pair_add(&r->ps, wd->sym[k], wd->sym[k + 1], -wd->freq, wi);
    if (wd->n > r->tmp_cap) {
        r->tmp_cap = wd->n;
        r->tmp = ic_xrealloc(r->tmp, r->tmp_cap * sizeof *r->tmp);
    }
    size_t nn = 0;
    for (size_t k = 0; k < wd->n; k++) {
        if (k + 1 < wd->n && wd->sym[k] == a && wd->sym[k + 1] == b) {
            r->tmp[nn++] = m;
            k++;
        } else {
            r->tmp[nn++] = wd->sym[k];
        }
    }
    memcpy(wd->sym, r->tmp, nn * sizeof *r->tmp);
    wd->n = nn;
    for (size_t k = 0; k + 1 < wd->n; k++)
        pair_add(&r->ps, wd->sym[k], wd->sym[k + 1], wd->freq, wi);
}

/* Adds the merged token of best to the vocabulary and applies the merge to
 * every word that holds the pair (iter stamps words already done). */
static void apply_merge(struct wp_run *r, struct pair *best, uint32_t iter)
{
    uint32_t a = (uint32_t)(best->key >> 32), b = (uint32_t)(best->key & 0xFFFFFFFFu);
    const char *sa = r->vocab.keys[a - 1], *sb = r->vocab.keys[b - 1] + 2;
    size_t la = strlen(sa), lb = strlen(sb);
    char *merged = ic_xmalloc(la + lb + 1);
    memcpy(merged, sa, la);
    memcpy(merged + la, sb, lb + 1);
    uint32_t m = (uint32_t)strmap_get(&r->vocab, merged, la + lb, 1) + 1;
    ic_free(merged);
    /* take the word list: updates below may append to it */
    uint32_t *list = best->words;
    size_t n_list = best->n_words;
    best->words = NULL;
    best->n_words = best->cap_words = 0;
    for (size_t li = 0; li < n_list; li++) {
        uint32_t wi = list[li];
        if (r->stamp[wi] == iter)
            continue;
        r->stamp[wi] = iter;
        merge_in_word(r, wi, a, b, m);
    }
    ic_free(list);
    pair_get(&r->ps, a, b)->count = 0;
}

static void wp_run_free(struct wp_run *r)
{
    if (r->words)
        for (size_t i = 0; i < r->tr.words.n; i++)
            ic_free(r->words[i].sym);
    ic_free(r->words);
    ic_free(r->stamp);
    ic_free(r->tmp);
    ic_free(r->chars);
    ic_free(r->tr.wfreq);
    strmap_free(&r->tr.words);
    strmap_free(&r->vocab);
    strmap_free(&r->charidx);
    pairs_free(&r->ps);
}

static int build_tokenizer(struct wp_run *r, const struct ic_tokenizer_opts *opts,
                           struct ic_tokenizer *out, struct ic_err *err)
{
    size_t *lens = ic_xmalloc((r->vocab.n ? r->vocab.n : 1) * sizeof *lens);
    for (size_t i = 0; i < r->vocab.n; i++)
        lens[i] = strlen(r->vocab.keys[i]);
    int rc = ic__tok_build(out, (const char *const *)r->vocab.keys, lens, r->vocab.n, opts,
                           "trained vocabulary", err);
    ic_free(lens);
    return rc;
}

int ic_vocab_train(const char *const *texts, size_t n, size_t vocab_size,
                   const struct ic_tokenizer_opts *o, struct ic_tokenizer *out, struct ic_err *err)
{
    struct ic_tokenizer_opts opts;
    memset(out, 0, sizeof *out);
    if (o)
        opts = *o;
    else
        ic_tokenizer_default_opts(&opts);
    if (vocab_size < 5 || vocab_size > IC_TOK_MAX_VOCAB)
        return ic_errf(err, IC_ERR_INVAL, "vocabulary size %zu not in [5, %d]", vocab_size,
                       IC_TOK_MAX_VOCAB);
    if (opts.max_input_chars_per_word < 1 || opts.max_input_chars_per_word > IC_TOK_MAX_WORD_LIMIT)
        return ic_errf(err, IC_ERR_INVAL, "max_input_chars_per_word %d not in [1, %d]",
                       opts.max_input_chars_per_word, IC_TOK_MAX_WORD_LIMIT);

    struct wp_run r;
    memset(&r, 0, sizeof r);
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int rc = IC_OK;
    for (size_t i = 0; i < n && rc == IC_OK; i++) {
        rc = ic__tok_words(&opts, &w, texts[i], strlen(texts[i]), count_word, &r.tr, err);
        if (rc != IC_OK)
            ic_err_prefix(err, "text %zu", i);
    }
    ic_tok_work_free(&w);
    if (rc == IC_OK) {
        count_chars(&r);
        seed_vocab(&r, vocab_size);
        build_words(&r);
        for (uint32_t iter = 1; r.vocab.n < vocab_size; iter++) {
            struct pair *best = best_pair(&r);
            if (!best)
                break;
            apply_merge(&r, best, iter);
        }
        rc = build_tokenizer(&r, &opts, out, err);
    }
    wp_run_free(&r);
    return rc;
}
