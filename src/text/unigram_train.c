/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unigram_train.c - the Unigram vocabulary trainer (see spm.h), in the
 * manner of SentencePiece's unigram trainer: words from Metaspace, seed
 * pieces from substring counts, then rounds of EM (forward-backward
 * expected counts, digamma-smoothed log probabilities) and pruning of the
 * pieces whose removal loses the least likelihood. Every ordering breaks
 * ties on the piece bytes, so the result depends on the input only.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "text/spm.h"

#define META "\xe2\x96\x81"

// --- string -> count map ------------------------------------------------------

struct cmap {
    char **key;
    size_t *klen;
    double *count;
    uint32_t *slot; /* index + 1 */
    size_t n, cap, slots;
};

static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

static void cmap_rehash(struct cmap *m)
{
    size_t slots = m->slots ? m->slots * 2 : 1024;
    ic_free(m->slot);
    m->slot = ic_xcalloc(slots, sizeof *m->slot);
    m->slots = slots;
    for (size_t i = 0; i < m->n; i++) {
        size_t j = hash_bytes(m->key[i], m->klen[i]) & (slots - 1);
        while (m->slot[j])
            j = (j + 1) & (slots - 1);
        m->slot[j] = (uint32_t)i + 1;
    }
}

static void cmap_add(struct cmap *m, const char *s, size_t n, double c)
{
    if ((m->n + 1) * 2 > m->slots)
        cmap_rehash(m);
    size_t j = hash_bytes(s, n) & (m->slots - 1);
    for (; m->slot[j]; j = (j + 1) & (m->slots - 1)) {
        size_t i = m->slot[j] - 1;
        if (m->klen[i] == n && memcmp(m->key[i], s, n) == 0) {
            m->count[i] += c;
            return;
        }
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->key = ic_xrealloc(m->key, m->cap * sizeof *m->key);
        m->klen = ic_xrealloc(m->klen, m->cap * sizeof *m->klen);
        m->count = ic_xrealloc(m->count, m->cap * sizeof *m->count);
    }
    m->key[m->n] = ic_xstrndup(s, n);
    m->klen[m->n] = n;
    m->count[m->n] = c;
    m->slot[j] = (uint32_t)++m->n;
}

static void cmap_free(struct cmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        ic_free(m->key[i]);
    ic_free(m->key);
    ic_free(m->klen);
    ic_free(m->count);
    ic_free(m->slot);
    memset(m, 0, sizeof *m);
}

// --- pieces ----------------------------------------------------------------------

struct piece {
    char *s;       /* owned */
    double score;  /* log probability, or the seed's count x length */
    int required;  /* a single character: never pruned */
};

static int piece_cmp(const void *a, const void *b)
{
    const struct piece *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return strcmp(x->s, y->s);
}

static size_t utf8_chars(const char *s, size_t n, size_t *ofs, size_t max)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k < max; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            ofs[k++] = i;
    return k;
}

/* Words of every text with their counts (Metaspace: "▁word"). */
static int count_words(const char *const *texts, size_t n, struct cmap *words, struct ic_err *err)
{
    struct ic_buf out;
    size_t *ends = NULL, nw, cap = 0;
    ic_buf_init(&out, 0);
    for (size_t t = 0; t < n; t++) {
        ic_buf_reset(&out);
        nw = 0;
        int rc = ic__metaspace_split(texts[t], strlen(texts[t]), META, 1, 1, &out, &ends, &nw, &cap);
        if (rc) {
            ic_buf_free(&out);
            ic_free(ends);
            return ic_errf(err, rc, "unigram training: text %zu is not UTF-8", t);
        }
        for (size_t i = 0, start = 0; i < nw; start = ends[i++])
            cmap_add(words, out.data + start, ends[i] - start, 1);
    }
    ic_buf_free(&out);
    ic_free(ends);
    return IC_OK;
}

/* Seed: every character (required) and every substring of 2..max chars
 * seen at least twice, scored count x length; the best seed_size kept. */
static size_t seed_pieces(const struct cmap *words, const struct ic__unigram_train_opts *o,
                          struct piece **out)
{
    struct cmap subs = {0}, chars = {0};
    size_t ofs[1024];
    for (size_t w = 0; w < words->n; w++) {
        size_t len = words->klen[w], nc = utf8_chars(words->key[w], len, ofs, 1023);
        const char *s = words->key[w];
        if (nc >= 1023)
            continue; /* an over-long word seeds nothing */
        ofs[nc] = len;
        for (size_t i = 0; i < nc; i++) {
            cmap_add(&chars, s + ofs[i], ofs[i + 1] - ofs[i], words->count[w]);
            for (size_t j = i + 2; j <= nc && j - i <= o->max_piece_chars; j++)
                cmap_add(&subs, s + ofs[i], ofs[j] - ofs[i], words->count[w] * (double)(j - i));
        }
    }
    struct piece *p = ic_xmalloc((chars.n + subs.n + 1) * sizeof *p);
    size_t n = 0, n_sub = 0;
    for (size_t i = 0; i < subs.n; i++) {
        size_t nc = utf8_chars(subs.key[i], subs.klen[i], ofs, 1023);
        if (subs.count[i] / (double)nc >= 2)
            p[n_sub++] = (struct piece){ic_xstrdup(subs.key[i]), subs.count[i], 0};
    }
    qsort(p, n_sub, sizeof *p, piece_cmp);
    for (size_t i = o->seed_size; i < n_sub; i++)
        ic_free(p[i].s);
    n = n_sub < o->seed_size ? n_sub : o->seed_size;
    for (size_t i = 0; i < chars.n; i++)
        p[n++] = (struct piece){ic_xstrdup(chars.key[i]), chars.count[i], 1};
    /* initial log probabilities from the seed scores */
    double total = 0;
    for (size_t i = 0; i < n; i++)
        total += p[i].score;
    for (size_t i = 0; i < n; i++)
        p[i].score = log(p[i].score) - log(total);
    cmap_free(&subs);
    cmap_free(&chars);
    *out = p;
    return n;
}

static int build_model(struct ic__unigram *u, const struct piece *p, size_t n)
{
    const char **s = ic_xmalloc(n * sizeof *s);
    double *sc = ic_xmalloc(n * sizeof *sc);
    for (size_t i = 0; i < n; i++) {
        s[i] = p[i].s;
        sc[i] = p[i].score;
    }
    int rc = ic__unigram_init(u, s, sc, n, -1, 0, NULL);
    ic_free(s);
    ic_free(sc);
    return rc;
}

// --- EM --------------------------------------------------------------------------

static double lse(double a, double b)
{
    if (a == -INFINITY)
        return b;
    if (b == -INFINITY)
        return a;
    return a > b ? a + log1p(exp(b - a)) : b + log1p(exp(a - b));
}

/* digamma by recurrence up to x >= 6, then the asymptotic series */
static double digamma(double x)
{
    double r = 0;
    while (x < 6) {
        r -= 1 / x;
        x += 1;
    }
    double f = 1 / (x * x);
    return r + log(x) - 0.5 / x - f * (1.0 / 12 - f * (1.0 / 120 - f * (1.0 / 252)));
}

struct edge {
    uint32_t a, b;
    int32_t id;
};

/* All pieces over word s: edges sorted by start. */
static size_t word_edges(const struct ic__unigram *u, const char *s, size_t len,
                         struct edge **e, size_t *cap)
{
    size_t n = 0;
    uint32_t ends[256];
    int32_t ids[256];
    for (size_t pos = 0; pos < len; pos++) {
        if (((unsigned char)s[pos] & 0xC0) == 0x80)
            continue;
        size_t k = ic__unigram_matches(u, s, len, pos, ends, ids, 256);
        for (size_t j = 0; j < k; j++) {
            if (n == *cap) {
                *cap = *cap ? *cap * 2 : 256;
                *e = ic_xrealloc(*e, *cap * sizeof **e);
            }
            (*e)[n++] = (struct edge){(uint32_t)pos, ends[j], ids[j]};
        }
    }
    return n;
}

/* One E step over all words: expected counts into cnt[]. */
static void e_step(const struct ic__unigram *u, const struct cmap *words, double *cnt)
{
    struct edge *e = NULL;
    size_t ecap = 0;
    double *al = NULL, *be = NULL;
    size_t acap = 0;
    for (size_t w = 0; w < words->n; w++) {
        const char *s = words->key[w];
        size_t len = words->klen[w];
        size_t ne = word_edges(u, s, len, &e, &ecap);
        if (len + 1 > acap) {
            acap = len + 1;
            al = ic_xrealloc(al, acap * sizeof *al);
            be = ic_xrealloc(be, acap * sizeof *be);
        }
        for (size_t i = 0; i <= len; i++)
            al[i] = be[i] = -INFINITY;
        al[0] = be[len] = 0;
        for (size_t i = 0; i < ne; i++)
            al[e[i].b] = lse(al[e[i].b], al[e[i].a] + u->scores[e[i].id]);
        for (size_t i = ne; i-- > 0;)
            be[e[i].a] = lse(be[e[i].a], be[e[i].b] + u->scores[e[i].id]);
        double z = al[len];
        if (z == -INFINITY)
            continue; /* a character of an over-long word is not a piece */
        for (size_t i = 0; i < ne; i++)
            cnt[e[i].id] += words->count[w] * exp(al[e[i].a] + u->scores[e[i].id] + be[e[i].b] - z);
    }
    ic_free(e);
    ic_free(al);
    ic_free(be);
}

/* M step: drop non-required pieces expected under half a time, then
 * scores = digamma(count) - digamma(total). Returns the new count. */
static size_t m_step(struct piece *p, size_t n, const double *cnt)
{
    size_t k = 0;
    double total = 0;
    for (size_t i = 0; i < n; i++) {
        if (!p[i].required && cnt[i] < 0.5) {
            ic_free(p[i].s);
            continue;
        }
        p[k] = p[i];
        p[k].score = cnt[i] > 0 ? cnt[i] : 1e-3; /* keep counts until normalised */
        total += p[k].score;
        k++;
    }
    double dt = digamma(total);
    for (size_t i = 0; i < k; i++)
        p[i].score = digamma(p[i].score) - dt;
    return k;
}

// --- pruning ---------------------------------------------------------------------

/* Best segmentation of s without piece `skip`: ids into alt (returns the
 * count, 0 when none other exists). */
static size_t best_without(const struct ic__unigram *u, const char *s, size_t len, int32_t skip,
                           int32_t *alt, size_t max)
{
    double best[256];
    int32_t bid[256];
    uint32_t from[256];
    uint32_t ends[256];
    int32_t ids[256];
    if (len >= 256)
        return 0;
    for (size_t i = 0; i <= len; i++)
        best[i] = -INFINITY;
    best[0] = 0;
    for (size_t pos = 0; pos < len; pos++) {
        if (best[pos] == -INFINITY)
            continue;
        size_t k = ic__unigram_matches(u, s, len, pos, ends, ids, 256);
        for (size_t j = 0; j < k; j++) {
            double c = best[pos] + u->scores[ids[j]];
            if (ids[j] != skip && c > best[ends[j]]) {
                best[ends[j]] = c;
                bid[ends[j]] = ids[j];
                from[ends[j]] = (uint32_t)pos;
            }
        }
    }
    if (best[len] == -INFINITY)
        return 0;
    size_t n = 0;
    for (size_t e = len; e > 0 && n < max; e = from[e])
        alt[n++] = bid[e];
    return n;
}

struct loss {
    double loss;
    size_t idx;
    const char *s;
};

static int loss_cmp(const void *a, const void *b)
{
    const struct loss *x = a, *y = b;
    if (x->loss != y->loss)
        return x->loss > y->loss ? -1 : 1;
    return strcmp(x->s, y->s);
}

/* Keeps the required pieces and the max(keep, ...) pieces whose removal
 * costs the most; returns the new count. */
static size_t prune(struct piece *p, size_t n, const struct ic__unigram *u,
                    const struct cmap *words, size_t keep)
{
    double *freq = ic_xcalloc(n, sizeof *freq), sum = 0;
    int32_t *ids = NULL;
    size_t nid, cap = 0;
    for (size_t w = 0; w < words->n; w++) {
        nid = 0;
        if (ic__unigram_encode_word(u, words->key[w], words->klen[w], &ids, &nid, &cap) != IC_OK)
            continue;
        for (size_t i = 0; i < nid; i++)
            freq[ids[i]] += words->count[w];
    }
    for (size_t i = 0; i < n; i++)
        sum += freq[i];
    struct loss *l = ic_xmalloc(n * sizeof *l);
    int32_t alt[64];
    for (size_t i = 0; i < n; i++) {
        l[i] = (struct loss){p[i].required ? INFINITY : 0, i, p[i].s};
        if (p[i].required || freq[i] <= 0)
            continue;
        size_t na = best_without(u, p[i].s, strlen(p[i].s), (int32_t)i, alt, 64);
        if (na == 0) {
            l[i].loss = INFINITY;
            continue;
        }
        double logsum_alt = log(sum + freq[i] * (double)(na - 1)), lp_alt = 0;
        for (size_t k = 0; k < na; k++)
            lp_alt += log(freq[alt[k]] + freq[i]) - logsum_alt;
        l[i].loss = freq[i] * (log(freq[i]) - log(sum) - lp_alt);
    }
    qsort(l, n, sizeof *l, loss_cmp);
    char *keep_flag = ic_xcalloc(n, 1);
    for (size_t i = 0; i < n; i++)
        keep_flag[l[i].idx] = i < keep || l[i].loss == INFINITY;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (keep_flag[i])
            p[k++] = p[i];
        else
            ic_free(p[i].s);
    }
    ic_free(keep_flag);
    ic_free(l);
    ic_free(freq);
    ic_free(ids);
    return k;
}

// --- driver ----------------------------------------------------------------------

void ic__unigram_train_default_opts(struct ic__unigram_train_opts *o)
{
    memset(o, 0, sizeof *o);
    o->max_piece_chars = 16;
    o->seed_size = 1000000;
    o->shrinking_factor = 0.75;
    o->em_iters = 2;
}

/* EM and pruning until at most `want` pieces (the required ones may
 * exceed it). */
static size_t em_rounds(struct piece *p, size_t n, const struct cmap *words, size_t want,
                        const struct ic__unigram_train_opts *o)
{
    for (int round = 0; round < 64; round++) {
        for (int it = 0; it < o->em_iters; it++) {
            struct ic__unigram u;
            if (build_model(&u, p, n) != IC_OK)
                return n;
            double *cnt = ic_xcalloc(n, sizeof *cnt);
            e_step(&u, words, cnt);
            ic__unigram_free(&u);
            n = m_step(p, n, cnt);
            ic_free(cnt);
        }
        if (n <= want)
            break;
        size_t keep = (size_t)((double)n * o->shrinking_factor);
        if (keep < want)
            keep = want;
        struct ic__unigram u;
        if (build_model(&u, p, n) != IC_OK)
            break;
        size_t before = n;
        n = prune(p, n, &u, words, keep);
        ic__unigram_free(&u);
        if (n == before)
            break;
    }
    return n;
}

static int finish(struct piece *p, size_t n, size_t vocab_size,
                  const struct ic__unigram_train_opts *o, char ***pieces, double **scores,
                  size_t *n_pieces)
{
    qsort(p, n, sizeof *p, piece_cmp);
    size_t room = vocab_size > o->n_specials ? vocab_size - o->n_specials : 0;
    size_t n_req = 0;
    for (size_t i = 0; i < n; i++)
        n_req += (size_t)p[i].required;
    size_t total = o->n_specials, k = 0;
    *pieces = ic_xmalloc((o->n_specials + n) * sizeof **pieces);
    *scores = ic_xmalloc((o->n_specials + n) * sizeof **scores);
    for (size_t i = 0; i < o->n_specials; i++) {
        (*pieces)[i] = ic_xstrdup(o->specials[i]);
        (*scores)[i] = 0;
    }
    /* the best pieces, characters always; others while there is room */
    size_t optional_room = room > n_req ? room - n_req : 0;
    for (size_t i = 0; i < n; i++) {
        int special = 0;
        for (size_t j = 0; j < o->n_specials; j++)
            special |= strcmp(p[i].s, o->specials[j]) == 0;
        if (!special && (p[i].required || k < optional_room)) {
            k += !p[i].required;
            (*pieces)[total] = p[i].s;
            (*scores)[total++] = p[i].score;
        } else {
            ic_free(p[i].s);
        }
    }
    *n_pieces = total;
    return IC_OK;
}

int ic__unigram_train(const char *const *texts, size_t n, size_t vocab_size,
                      const struct ic__unigram_train_opts *opts, char ***pieces, double **scores,
                      size_t *n_pieces, struct ic_err *err)
{
    struct ic__unigram_train_opts o;
    *pieces = NULL;
    *scores = NULL;
    *n_pieces = 0;
    if (opts)
        o = *opts;
    else
        ic__unigram_train_default_opts(&o);
    if (o.max_piece_chars < 1 || o.max_piece_chars > 60 || o.shrinking_factor <= 0 ||
        o.shrinking_factor >= 1 || o.em_iters < 1)
        return ic_errf(err, IC_ERR_INVAL, "unigram training: bad options");
    if (vocab_size <= o.n_specials)
        return ic_errf(err, IC_ERR_INVAL, "unigram training: vocab_size %zu leaves no room after %zu special tokens",
                       vocab_size, o.n_specials);
    struct cmap words = {0};
    int rc = count_words(texts, n, &words, err);
    if (rc == IC_OK && words.n == 0)
        rc = ic_errf(err, IC_ERR_INVAL, "unigram training: no words in the texts");
    if (rc) {
        cmap_free(&words);
        return rc;
    }
    struct piece *p;
    size_t np = seed_pieces(&words, &o, &p);
    size_t want = vocab_size - o.n_specials;
    np = em_rounds(p, np, &words, want + want / 10, &o);
    rc = finish(p, np, vocab_size, &o, pieces, scores, n_pieces);
    ic_free(p);
    cmap_free(&words);
    return rc;
}
