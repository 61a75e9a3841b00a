/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpe_train.c - a deterministic byte-level BPE trainer in the manner of
 * Hugging Face's BpeTrainer: texts are split by the ByteLevel pre-tokenizer
 * (prefix space as configured) into words counted once each; the alphabet
 * is all 256 byte characters (so no byte is ever unknown); then, until the
 * vocabulary is full, the adjacent pair of symbols with the highest count
 * over all words (ties: the smaller left token, then the smaller right
 * token, bytewise) becomes a merge and a token. Pairs seen fewer than
 * twice are not merged.
 *
 * Pair counts live in a hash table with, per pair, the words that hold
 * it; a max-heap of (count, pair) with lazy re-insertion picks the best
 * pair, and a merge only revisits the words of that pair.
 */
#include <stdlib.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/bpe.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

#define MIN_PAIR_COUNT 2

static const char *const bpe_specials[] = {"<s>", "<pad>", "</s>", "<unk>"};
#define N_SPECIALS 4

// --- string -> id map (tokens and words) ------------------------------------------

struct strmap {
    char **keys;
    size_t *lens;
    int64_t *vals;
    size_t n, cap;   /* entries */
    uint32_t *slots; /* index + 1, 0 = empty */
    size_t n_slots;
};

static uint64_t str_hash(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 1099511628211ULL;
    return h;
}

static void strmap_rehash(struct strmap *m)
{
    m->n_slots = m->n_slots ? 2 * m->n_slots : 1024;
    ic_free(m->slots);
    m->slots = ic_xcalloc(m->n_slots, sizeof *m->slots);
    for (size_t i = 0; i < m->n; i++) {
        size_t k = (size_t)str_hash(m->keys[i], m->lens[i]) & (m->n_slots - 1);
        while (m->slots[k])
            k = (k + 1) & (m->n_slots - 1);
        m->slots[k] = (uint32_t)i + 1;
    }
}

/* Index of s, added (value 0) when absent. */
static size_t strmap_get(struct strmap *m, const char *s, size_t n, int *added)
{
    if (2 * (m->n + 1) > m->n_slots)
        strmap_rehash(m);
    size_t k = (size_t)str_hash(s, n) & (m->n_slots - 1);
    *added = 0;
    while (m->slots[k]) {
        size_t i = m->slots[k] - 1;
        if (m->lens[i] == n && memcmp(m->keys[i], s, n) == 0)
            return i;
        k = (k + 1) & (m->n_slots - 1);
    }
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 1024;
        m->keys = ic_xrealloc(m->keys, m->cap * sizeof *m->keys);
        m->lens = ic_xrealloc(m->lens, m->cap * sizeof *m->lens);
        m->vals = ic_xrealloc(m->vals, m->cap * sizeof *m->vals);
    }
    m->keys[m->n] = ic_xstrndup(s, n);
    m->lens[m->n] = n;
    m->vals[m->n] = 0;
    m->slots[k] = (uint32_t)m->n + 1;
    *added = 1;
    return m->n++;
}

static void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->n; i++)
        ic_free(m->keys[i]);
    ic_free(m->keys);
    ic_free(m->lens);
    ic_free(m->vals);
    ic_free(m->slots);
    memset(m, 0, sizeof *m);
}

// --- pairs ----------------------------------------------------------------------------

struct pair {
    uint64_t key;     /* (a + 1) << 32 | (b + 1); 0 = empty slot */
    int64_t count;
    uint32_t *words;  /* words that held the pair (may repeat / be stale) */
    size_t n_words, cap_words;
};

struct hent {
    int64_t count;
    int32_t a, b;
};

struct trainer {
    struct strmap vocab;     /* token string -> id (vals = id) */
    struct strmap words;     /* word bytes -> count */
    int32_t **wsym;          /* per word: symbol ids */
    uint32_t *wlen;
    struct pair *pairs;
    size_t n_pairs, n_pair_slots;
    struct hent *heap;
    size_t n_heap, cap_heap;
    uint32_t *stamp;         /* per word: last merge that visited it */
    char **merges;
    size_t *merge_lens;
    size_t n_merges;
};

static uint64_t pkey(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static struct pair *pair_get(struct trainer *tr, int32_t a, int32_t b, int create);

static void pairs_grow(struct trainer *tr)
{
    struct pair *old = tr->pairs;
    size_t old_n = tr->n_pair_slots;
    tr->n_pair_slots = old_n ? 2 * old_n : 4096;
    tr->pairs = ic_xcalloc(tr->n_pair_slots, sizeof *tr->pairs);
    for (size_t i = 0; i < old_n; i++) {
        if (!old[i].key)
            continue;
        size_t k = (size_t)((old[i].key * 0x9E3779B97F4A7C15ULL) >> 17) & (tr->n_pair_slots - 1);
        while (tr->pairs[k].key)
            k = (k + 1) & (tr->n_pair_slots - 1);
        tr->pairs[k] = old[i];
    }
    ic_free(old);
}

static struct pair *pair_get(struct trainer *tr, int32_t a, int32_t b, int create)
{
    if (create && 2 * (tr->n_pairs + 1) > tr->n_pair_slots)
        pairs_grow(tr);
    if (!tr->n_pair_slots)
        return NULL;
    uint64_t key = pkey(a, b);
    size_t k = (size_t)((key * 0x9E3779B97F4A7C15ULL) >> 17) & (tr->n_pair_slots - 1);
    while (tr->pairs[k].key && tr->pairs[k].key != key)
        k = (k + 1) & (tr->n_pair_slots - 1);
    if (tr->pairs[k].key == key)
        return &tr->pairs[k];
    if (!create)
        return NULL;
    tr->pairs[k].key = key;
    tr->n_pairs++;
    return &tr->pairs[k];
}

/* Heap order: higher count first, then the smaller left token, then the
 * smaller right token (bytewise). */
static int hent_before(const struct trainer *tr, const struct hent *x, const struct hent *y)
{
    if (x->count != y->count)
        return x->count > y->count;
    int c = strcmp(tr->vocab.keys[x->a], tr->vocab.keys[y->a]);
    if (c != 0)
        return c < 0;
    return strcmp(tr->vocab.keys[x->b], tr->vocab.keys[y->b]) < 0;
}

static void heap_push(struct trainer *tr, int64_t count, int32_t a, int32_t b)
{
    if (tr->n_heap == tr->cap_heap) {
        tr->cap_heap = tr->cap_heap ? 2 * tr->cap_heap : 4096;
        tr->heap = ic_xrealloc(tr->heap, tr->cap_heap * sizeof *tr->heap);
    }
    struct hent e = {count, a, b};
    size_t i = tr->n_heap++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hent_before(tr, &e, &tr->heap[p]))
            break;
        tr->heap[i] = tr->heap[p];
        i = p;
    }
    tr->heap[i] = e;
}

static struct hent heap_pop(struct trainer *tr)
{
    struct hent top = tr->heap[0], x = tr->heap[--tr->n_heap];
    size_t i = 0, n = tr->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && hent_before(tr, &tr->heap[c + 1], &tr->heap[c]))
            c++;
        if (!hent_before(tr, &tr->heap[c], &x))
            break;
        tr->heap[i] = tr->heap[c];
        i = c;
    }
    if (n > 0)
        tr->heap[i] = x;
    return top;
}

static void pair_add(struct trainer *tr, int32_t a, int32_t b, int64_t d, uint32_t word)
{
    struct pair *p = pair_get(tr, a, b, 1);
    p->count += d;
    if (d > 0) {
        if (p->n_words == p->cap_words) {
            p->cap_words = p->cap_words ? 2 * p->cap_words : 4;
            p->words = ic_xrealloc(p->words, p->cap_words * sizeof *p->words);
        }
        p->words[p->n_words++] = word;
    }
}

// --- phases ---------------------------------------------------------------------------

static int count_words(struct trainer *tr, const char *const *texts, size_t n, int prefix,
                       struct ic_err *err)
{
    char *buf = NULL;
    size_t cap = 0;
    for (size_t t = 0; t < n; t++) {
        size_t len = strlen(texts[t]), bad;
        if (!ic_utf8_valid(texts[t], len, &bad)) {
            ic_free(buf);
            return ic_errf(err, IC_ERR_FORMAT, "text %zu: invalid UTF-8 at byte %zu", t + 1, bad);
        }
        if (len == 0)
            continue;
        int add = prefix && texts[t][0] != ' ';
        buf = ic__tok_grow(buf, &cap, len + 1, 1);
        buf[0] = ' ';
        memcpy(buf + add, texts[t], len);
        len += (size_t)add;
        for (size_t i = 0; i < len;) {
            size_t e = ic__bpe_piece_end(buf, len, i), k;
            int added;
            k = strmap_get(&tr->words, buf + i, e - i, &added);
            tr->words.vals[k]++;
            i = e;
        }
    }
    ic_free(buf);
    return IC_OK;
}

static void init_vocab(struct trainer *tr)
{
    int added;
    for (int i = 0; i < N_SPECIALS; i++) {
        size_t k = strmap_get(&tr->vocab, bpe_specials[i], strlen(bpe_specials[i]), &added);
        tr->vocab.vals[k] = i;
    }
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        int l = ic__utf8_encode(ic__bpe_byte_cp((unsigned char)b), u);
        size_t k = strmap_get(&tr->vocab, u, (size_t)l, &added);
        tr->vocab.vals[k] = (int64_t)k;
    }
}

static void init_pairs(struct trainer *tr)
{
    size_t nw = tr->words.n;
    tr->wsym = ic_xcalloc(nw ? nw : 1, sizeof *tr->wsym);
    tr->wlen = ic_xcalloc(nw ? nw : 1, sizeof *tr->wlen);
    tr->stamp = ic_xcalloc(nw ? nw : 1, sizeof *tr->stamp);
    for (size_t w = 0; w < nw; w++) {
        size_t n = tr->words.lens[w];
        const unsigned char *s = (const unsigned char *)tr->words.keys[w];
        tr->wsym[w] = ic_xmalloc((n ? n : 1) * sizeof **tr->wsym);
        tr->wlen[w] = (uint32_t)n;
        for (size_t i = 0; i < n; i++)
            tr->wsym[w][i] = N_SPECIALS + s[i];
        for (size_t i = 0; i + 1 < n; i++)
            pair_add(tr, tr->wsym[w][i], tr->wsym[w][i + 1], tr->words.vals[w], (uint32_t)w);
    }
    for (size_t i = 0; i < tr->n_pair_slots; i++) {
        struct pair *p = &tr->pairs[i];
        if (p->key && p->count > 0)
            heap_push(tr, p->count, (int32_t)(p->key >> 32) - 1,
                      (int32_t)(p->key & 0xFFFFFFFFu) - 1);
    }
}

/* Replaces every (a, b) in word w by c (left to right): the word's pairs
 * leave the counts, the new word's enter them; pairs holding c are noted
 * in touched for the heap. */
static void merge_word(struct trainer *tr, uint32_t w, int32_t a, int32_t b, int32_t c,
                       struct hent **touched, size_t *n_touched, size_t *cap_touched)
{
    int32_t *s = tr->wsym[w];
    uint32_t n = tr->wlen[w], o = 0;
    int64_t f = tr->words.vals[w];
    for (uint32_t i = 0; i + 1 < n; i++)
        pair_add(tr, s[i], s[i + 1], -f, w);
    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n && s[i] == a && s[i + 1] == b) {
            s[o++] = c;
            i++;
        } else {
            s[o++] = s[i];
        }
    }
    tr->wlen[w] = o;
    for (uint32_t i = 0; i + 1 < o; i++) {
        int fresh = s[i] == c || s[i + 1] == c;
        struct pair *p = pair_get(tr, s[i], s[i + 1], 1);
        p->count += f;
        if (!fresh)
            continue;
        if (p->n_words == p->cap_words) {
            p->cap_words = p->cap_words ? 2 * p->cap_words : 4;
            p->words = ic_xrealloc(p->words, p->cap_words * sizeof *p->words);
        }
        p->words[p->n_words++] = w;
        *touched = ic__tok_grow(*touched, cap_touched, *n_touched + 1, sizeof **touched);
        struct hent e = {0, s[i], s[i + 1]};
        (*touched)[(*n_touched)++] = e;
    }
}

static int32_t token_for(struct trainer *tr, int32_t a, int32_t b)
{
    size_t la = tr->vocab.lens[a], lb = tr->vocab.lens[b];
    char *s = ic_xmalloc(la + lb + 1);
    memcpy(s, tr->vocab.keys[a], la);
    memcpy(s + la, tr->vocab.keys[b], lb);
    int added;
    size_t k = strmap_get(&tr->vocab, s, la + lb, &added);
    if (added)
        tr->vocab.vals[k] = (int64_t)k;
    ic_free(s);
    return (int32_t)k;
}

static void record_merge(struct trainer *tr, int32_t a, int32_t b)
{
    size_t la = tr->vocab.lens[a], lb = tr->vocab.lens[b];
    tr->merges = ic_xrealloc(tr->merges, (tr->n_merges + 1) * sizeof *tr->merges);
    tr->merge_lens = ic_xrealloc(tr->merge_lens, (tr->n_merges + 1) * sizeof *tr->merge_lens);
    char *m = ic_xmalloc(la + lb + 2);
    memcpy(m, tr->vocab.keys[a], la);
    m[la] = ' ';
    memcpy(m + la + 1, tr->vocab.keys[b], lb);
    m[la + lb + 1] = 0;
    tr->merges[tr->n_merges] = m;
    tr->merge_lens[tr->n_merges++] = la + lb + 1;
}

static void run_merges(struct trainer *tr, size_t vocab_size)
{
    uint32_t round = 0;
    struct hent *touched = NULL;
    size_t n_touched = 0, cap_touched = 0;
    /* the vocabulary holds the specials and bytes; <mask> comes last */
    while (tr->vocab.n + 1 < vocab_size && tr->n_heap > 0) {
        struct hent e = heap_pop(tr);
        struct pair *p = pair_get(tr, e.a, e.b, 0);
        if (!p || p->count != e.count) {
            if (p && p->count >= MIN_PAIR_COUNT)
                heap_push(tr, p->count, e.a, e.b); /* stale: requeue at its count */
            continue;
        }
        if (p->count < MIN_PAIR_COUNT)
            break;
        int32_t c = token_for(tr, e.a, e.b);
        record_merge(tr, e.a, e.b);
        round++;
        /* take the word list: merging adds to the lists of other pairs */
        uint32_t *list = p->words;
        size_t n_list = p->n_words;
        p->words = NULL;
        p->n_words = p->cap_words = 0;
        n_touched = 0;
        for (size_t i = 0; i < n_list; i++) {
            uint32_t w = list[i];
            if (tr->stamp[w] == round)
                continue;
            tr->stamp[w] = round;
            merge_word(tr, w, e.a, e.b, c, &touched, &n_touched, &cap_touched);
        }
        ic_free(list);
        for (size_t i = 0; i < n_touched; i++) {
            struct pair *q = pair_get(tr, touched[i].a, touched[i].b, 0);
            if (q && q->count >= MIN_PAIR_COUNT)
                heap_push(tr, q->count, touched[i].a, touched[i].b);
        }
    }
    ic_free(touched);
}

static void trainer_free(struct trainer *tr)
{
    for (size_t w = 0; w < tr->words.n && tr->wsym; w++)
        ic_free(tr->wsym[w]);
    ic_free(tr->wsym);
    ic_free(tr->wlen);
    ic_free(tr->stamp);
    for (size_t i = 0; i < tr->n_pair_slots; i++)
        ic_free(tr->pairs[i].words);
    ic_free(tr->pairs);
    ic_free(tr->heap);
    for (size_t i = 0; i < tr->n_merges; i++)
        ic_free(tr->merges[i]);
    ic_free(tr->merges);
    ic_free(tr->merge_lens);
    strmap_free(&tr->vocab);
    strmap_free(&tr->words);
}

/* The trained tokenizer: specials, bytes, merged tokens, <mask>; the
 * added tokens as RoBERTa has them (<mask> strips on the left). */
static int build(struct trainer *tr, int add_prefix_space, struct ic_tokenizer *out,
                 struct ic_err *err)
{
    int added;
    size_t k = strmap_get(&tr->vocab, "<mask>", 6, &added);
    tr->vocab.vals[k] = (int64_t)k;
    int rc = ic__tok_vocab_build(out, (const char *const *)tr->vocab.keys, tr->vocab.lens,
                                 tr->vocab.n, 0, "trained BPE", err);
    struct ic__bpe_opts o = {add_prefix_space, NULL, 0, NULL};
    if (rc == IC_OK)
        rc = ic__bpe_build(out, (const char *const *)tr->merges, tr->merge_lens, tr->n_merges, &o,
                           "trained BPE", err);
    if (rc == IC_OK) {
        struct ic__tok_added a[5];
        static const char *const names[5] = {"<s>", "<pad>", "</s>", "<unk>", "<mask>"};
        for (int i = 0; i < 5; i++) {
            struct ic__tok_added x = {(char *)names[i], strlen(names[i]),
                                      i < 4 ? i : (int32_t)k, i == 4, 0, 0, 0, 1};
            a[i] = x;
        }
        rc = ic__tok_set_added(out, a, 5, err);
    }
    if (rc == IC_OK) {
        out->cls_id = 0;
        out->pad_id = 1;
        out->sep_id = 2;
        out->unk_id = 3;
        out->mask_id = (int32_t)k;
    } else {
        ic_tokenizer_free(out);
    }
    return rc;
}

int ic_vocab_train_bpe(const char *const *texts, size_t n, size_t vocab_size,
                       int add_prefix_space, struct ic_tokenizer *out, struct ic_err *err)
{
    struct trainer tr;
    memset(&tr, 0, sizeof tr);
    memset(out, 0, sizeof *out);
    if (vocab_size < N_SPECIALS + 256 + 1 || vocab_size > IC_TOK_MAX_VOCAB)
        return ic_errf(err, IC_ERR_INVAL, "BPE vocabulary size %zu not in [%d, %d] (4 specials, "
                       "256 bytes, <mask>)", vocab_size, N_SPECIALS + 256 + 1, IC_TOK_MAX_VOCAB);
    int rc = count_words(&tr, texts, n, add_prefix_space, err);
    if (rc == IC_OK) {
        init_vocab(&tr);
        init_pairs(&tr);
        run_merges(&tr, vocab_size);
        rc = build(&tr, add_prefix_space, out, err);
    }
    trainer_free(&tr);
    return rc;
}
