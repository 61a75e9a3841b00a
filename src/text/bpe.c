/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bpe.c - byte-level BPE as Hugging Face's `tokenizers` runs it for RoBERTa
 * and GPT-2: the ByteLevel pre-tokenizer (optional prefix space, the GPT-2
 * split pattern written out by hand over Unicode categories, every byte
 * mapped to a printable character) and the BPE model (a word starts as its
 * byte characters; the pair of adjacent symbols whose merge has the lowest
 * rank is merged, leftmost first, until no merge applies).
 *
 * The merge loop keeps a binary heap of (rank, position) candidates with
 * lazy invalidation, so a word of n bytes costs O(n log n) whatever the
 * merges.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/tokenizer.h"
#include "text/bpe.h"
#include "text/tok_internal.h"
#include "text/unicode.h"

struct merge_slot {
    uint64_t key;     /* (left id + 1) << 32 | (right id + 1); 0 = empty */
    uint32_t rank;
    int32_t new_id;
};

struct bpe {
    int32_t byte_id[256];    /* id of each byte's character, -1 if absent */
    struct merge_slot *slots;
    size_t n_slots;          /* power of two */
    int32_t *m_left, *m_right; /* [n_merges] by rank (for saving) */
    size_t n_merges;
    int32_t unk_id;          /* model unk_token, -1 = none (unknown bytes dropped) */
    int fuse_unk;
    int add_prefix_space;
};

// --- byte <-> character map (GPT-2's bytes_to_unicode) -------------------------

uint32_t ic__bpe_byte_cp(unsigned char b)
{
    if ((b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE))
        return b;
    /* the other 68 bytes take 256, 257, ... in byte order */
    uint32_t n = 0;
    for (unsigned c = 0; c < b; c++)
        if (!((c >= '!' && c <= '~') || (c >= 0xA1 && c <= 0xAC) || (c >= 0xAE)))
            n++;
    return 256 + n;
}

int ic__bpe_cp_byte(uint32_t cp)
{
    for (unsigned b = 0; b < 256; b++)
        if (ic__bpe_byte_cp((unsigned char)b) == cp)
            return (int)b;
    return -1;
}

// --- merges table -----------------------------------------------------------------

static uint64_t pair_key(int32_t a, int32_t b)
{
    return ((uint64_t)(uint32_t)(a + 1) << 32) | (uint32_t)(b + 1);
}

static size_t slot_of(const struct bpe *m, uint64_t key)
{
    uint64_t h = key * 0x9E3779B97F4A7C15ULL;
    return (size_t)(h >> 20) & (m->n_slots - 1);
}

static const struct merge_slot *merge_find(const struct bpe *m, int32_t a, int32_t b)
{
    uint64_t key = pair_key(a, b);
    for (size_t i = slot_of(m, key);; i = (i + 1) & (m->n_slots - 1)) {
        if (m->slots[i].key == key)
            return &m->slots[i];
        if (m->slots[i].key == 0)
            return NULL;
    }
}

/* A later duplicate pair replaces the earlier one (a map insert). */
static void merge_put(struct bpe *m, int32_t a, int32_t b, uint32_t rank, int32_t new_id)
{
    uint64_t key = pair_key(a, b);
    size_t i = slot_of(m, key);
    while (m->slots[i].key != 0 && m->slots[i].key != key)
        i = (i + 1) & (m->n_slots - 1);
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].new_id = new_id;
}

// --- ByteLevel pre-tokenizer ------------------------------------------------------

enum { C_SPACE, C_WS, C_L, C_N, C_O };

static int char_class(const char *s, size_t len, size_t i, size_t *l)
{
    unsigned char c = (unsigned char)s[i];
    if (c < 0x80) {
        *l = 1;
        if (c == ' ')
            return C_SPACE;
        if (c >= 0x09 && c <= 0x0D)
            return C_WS;
        if ((c | 32) >= 'a' && (c | 32) <= 'z')
            return C_L;
        if (c >= '0' && c <= '9')
            return C_N;
        return C_O;
    }
    uint32_t cp = 0xFFFD;
    int n = ic__utf8_decode((const unsigned char *)s + i, len - i, &cp);
    *l = n > 0 ? (size_t)n : 1;
    if (ic__uni_is_space(cp))
        return C_WS;
    if (ic__uni_is_letter(cp))
        return C_L;
    if (ic__uni_is_number(cp))
        return C_N;
    return C_O;
}

/* End of the run of characters of class k starting at i. */
static size_t run_end(const char *s, size_t len, size_t i, int k)
{
    while (i < len) {
        size_t l;
        if (char_class(s, len, i, &l) != k)
            break;
        i += l;
    }
    return i;
}

/* End of the piece that starts at i, as GPT-2's pattern
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
 * splits (first alternative that matches wins). */
size_t ic__bpe_piece_end(const char *s, size_t len, size_t i)
{
    if (s[i] == '\'' && i + 1 < len) {
        char a = s[i + 1], b = i + 2 < len ? s[i + 2] : 0;
        if (a == 's' || a == 't' || a == 'm' || a == 'd')
            return i + 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l'))
            return i + 3;
    }
    size_t l;
    int k = char_class(s, len, i, &l);
    if (k == C_SPACE && i + 1 < len) {
        size_t l2;
        int k2 = char_class(s, len, i + 1, &l2);
        if (k2 == C_L || k2 == C_N || k2 == C_O)
            return run_end(s, len, i + 1, k2);
    }
    if (k == C_L || k == C_N || k == C_O)
        return run_end(s, len, i, k);
    /* whitespace run: all of it at the end of the text; before a
     * non-space, all but its last character (which then leads the next
     * piece), or the single character */
    size_t j = i, last = i;
    while (j < len) {
        size_t lj;
        int kj = char_class(s, len, j, &lj);
        if (kj != C_SPACE && kj != C_WS)
            break;
        last = j;
        j += lj;
    }
    if (j == len || last == i)
        return j;
    return last;
}

// --- BPE merges over one word -------------------------------------------------------

struct sym {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t alive;
};

struct cand {
    uint32_t rank;
    uint32_t pos;
    int32_t new_id;
};

static int cand_less(const struct cand *a, const struct cand *b)
{
    return a->rank != b->rank ? a->rank < b->rank : a->pos < b->pos;
}

static void heap_push(struct cand *h, size_t *n, struct cand c)
{
    size_t i = (*n)++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!cand_less(&c, &h[p]))
            break;
        h[i] = h[p];
        i = p;
    }
    h[i] = c;
}

static struct cand heap_pop(struct cand *h, size_t *n)
{
    struct cand top = h[0], x = h[--*n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n)
            break;
        if (c + 1 < *n && cand_less(&h[c + 1], &h[c]))
            c++;
        if (!cand_less(&h[c], &x))
            break;
        h[i] = h[c];
        i = c;
    }
    if (*n > 0)
        h[i] = x;
    return top;
}

static void push_pair(const struct bpe *m, const struct sym *sy, struct cand *h, size_t *nh,
                      int32_t pos)
{
    if (pos < 0 || sy[pos].next < 0)
        return;
    const struct merge_slot *ms = merge_find(m, sy[pos].id, sy[sy[pos].next].id);
    if (ms) {
        struct cand c = {ms->rank, (uint32_t)pos, ms->new_id};
        heap_push(h, nh, c);
    }
}

/* Initial symbols of word[0..n): one per byte (unknown bytes: unk or
 * dropped). Returns the count. */
static size_t word_symbols(const struct bpe *m, const unsigned char *word, size_t n,
                           struct sym *sy)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t id = m->byte_id[word[i]];
        if (id < 0) {
            if (m->unk_id < 0)
                continue;
            if (m->fuse_unk && k > 0 && sy[k - 1].id == m->unk_id)
                continue;
            id = m->unk_id;
        }
        sy[k].id = id;
        sy[k].alive = 1;
        sy[k].prev = (int32_t)k - 1;
        sy[k].next = (int32_t)k + 1;
        k++;
    }
    if (k > 0)
        sy[k - 1].next = -1;
    return k;
}

static void bpe_word(const struct bpe *m, struct ic_tok_work *w, const unsigned char *word, size_t n)
{
    /* scratch: n symbols, then up to 2n heap entries (n initial + one or
     * two per merge, at most n - 1 merges) */
    size_t need = n * sizeof(struct sym) + (3 * n + 2) * sizeof(struct cand);
    w->sym = ic__tok_grow(w->sym, &w->sym_cap, need, 1);
    struct sym *sy = w->sym;
    struct cand *h = (struct cand *)(void *)((char *)w->sym + n * sizeof(struct sym));
    size_t k = word_symbols(m, word, n, sy), nh = 0;
    for (size_t i = 0; i + 1 < k; i++)
        push_pair(m, sy, h, &nh, (int32_t)i);
    while (nh > 0) {
        struct cand c = heap_pop(h, &nh);
        struct sym *a = &sy[c.pos];
        if (!a->alive || a->next < 0)
            continue;
        const struct merge_slot *ms = merge_find(m, a->id, sy[a->next].id);
        if (!ms || ms->new_id != c.new_id)
            continue; /* stale: one side merged since */
        struct sym *b = &sy[a->next];
        a->id = c.new_id;
        b->alive = 0;
        a->next = b->next;
        if (b->next >= 0)
            sy[b->next].prev = (int32_t)c.pos;
        push_pair(m, sy, h, &nh, a->prev);
        push_pair(m, sy, h, &nh, (int32_t)c.pos);
    }
    for (int32_t i = k ? 0 : -1; i >= 0; i = sy[i].next)
        ic__tok_push_id(w, sy[i].id);
}

// --- per-work word cache -------------------------------------------------------------
/* Words repeat: the ids of recent words are kept per struct ic_tok_work
 * (so threads share nothing), keyed by their bytes, for the tokenizer that
 * filled it (by serial number, never reused, so a tokenizer loaded where a
 * freed one lived does not read its words); emptied when full. */
#define CACHE_SLOTS 8192      /* power of two, at most half used */
#define CACHE_MAX_WORD 48     /* longer words are not cached */
#define CACHE_ARENA (1 << 18) /* bytes of keys, ids of values */

struct cache_slot {
    uint32_t hash; /* 0 = empty */
    uint32_t key_off;
    uint32_t ids_off;
    uint16_t key_len, n_ids;
};

struct ic__bpe_cache {
    uint64_t owner; /* serial of the tokenizer that filled it */
    size_t used;
    struct cache_slot slots[CACHE_SLOTS];
    char keys[CACHE_ARENA];
    int32_t ids[CACHE_ARENA];
    size_t keys_len, ids_len;
};

void ic__bpe_cache_free(void *c)
{
    ic_free(c);
}

static void cache_clear(struct ic__bpe_cache *c, uint64_t owner)
{
    memset(c->slots, 0, sizeof c->slots);
    c->owner = owner;
    c->used = c->keys_len = c->ids_len = 0;
}

static uint32_t word_hash(const unsigned char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h ? h : 1;
}

/* Slot of the word (its hash != 0 when found, else an empty slot). */
static struct cache_slot *cache_find(struct ic__bpe_cache *c, const unsigned char *s, size_t n,
                                     uint32_t h)
{
    for (size_t i = h & (CACHE_SLOTS - 1);; i = (i + 1) & (CACHE_SLOTS - 1)) {
        struct cache_slot *e = &c->slots[i];
        if (e->hash == 0 || (e->hash == h && e->key_len == n &&
                             memcmp(c->keys + e->key_off, s, n) == 0))
            return e;
    }
}

static void cache_put(struct ic__bpe_cache *c, struct cache_slot *e, uint32_t h,
                      const unsigned char *s, size_t n, const int32_t *ids, size_t n_ids)
{
    if (c->used >= CACHE_SLOTS / 2 || c->keys_len + n > CACHE_ARENA ||
        c->ids_len + n_ids > CACHE_ARENA) {
        cache_clear(c, c->owner);
        e = cache_find(c, s, n, h);
    }
    e->hash = h;
    e->key_off = (uint32_t)c->keys_len;
    e->key_len = (uint16_t)n;
    e->ids_off = (uint32_t)c->ids_len;
    e->n_ids = (uint16_t)n_ids;
    memcpy(c->keys + c->keys_len, s, n);
    memcpy(c->ids + c->ids_len, ids, n_ids * sizeof *ids);
    c->keys_len += n;
    c->ids_len += n_ids;
    c->used++;
}

/* bpe_word through the cache. */
static void bpe_word_cached(const struct bpe *m, struct ic_tok_work *w, struct ic__bpe_cache *c,
                            const unsigned char *word, size_t n)
{
    if (!c || n > CACHE_MAX_WORD) {
        bpe_word(m, w, word, n);
        return;
    }
    uint32_t h = word_hash(word, n);
    struct cache_slot *e = cache_find(c, word, n, h);
    if (e->hash) {
        for (size_t i = 0; i < e->n_ids; i++)
            ic__tok_push_id(w, c->ids[e->ids_off + i]);
        return;
    }
    size_t before = w->n_ids;
    bpe_word(m, w, word, n);
    cache_put(c, e, h, word, n, w->ids + before, w->n_ids - before);
}

static int bpe_encode(const struct ic_tokenizer *t, struct ic_tok_work *w, const char *text,
                      size_t len, size_t base, int first, struct ic_err *err)
{
    (void)first;
    const struct bpe *m = t->impl->model;
    size_t bad;
    if (!ic_utf8_valid(text, len, &bad))
        return ic_errf(err, IC_ERR_FORMAT, "invalid UTF-8 at byte %zu", base + bad);
    const char *s = text;
    if (m->add_prefix_space && text[0] != ' ') {
        w->text = ic__tok_grow(w->text, &w->text_cap, len + 1, 1);
        w->text[0] = ' ';
        memcpy(w->text + 1, text, len);
        s = w->text;
        len++;
    }
    if (!w->bpe_cache) {
        w->bpe_cache = ic_xmalloc(sizeof(struct ic__bpe_cache));
        cache_clear(w->bpe_cache, t->impl->serial);
    }
    struct ic__bpe_cache *c = w->bpe_cache;
    if (c->owner != t->impl->serial)
        cache_clear(c, t->impl->serial);
    for (size_t i = 0; i < len;) {
        size_t e = ic__bpe_piece_end(s, len, i);
        bpe_word_cached(m, w, c, (const unsigned char *)s + i, e - i);
        i = e;
    }
    return IC_OK;
}

static void bpe_free(void *p)
{
    struct bpe *m = p;
    if (!m)
        return;
    ic_free(m->slots);
    ic_free(m->m_left);
    ic_free(m->m_right);
    ic_free(m);
}

static const struct ic__tok_model_ops bpe_ops = {"bpe", bpe_encode, bpe_free};

// --- building -----------------------------------------------------------------------

/* Splits a merge "a b" (exactly one space). */
static int split_merge(const char *s, size_t len, size_t *sp)
{
    const char *p = memchr(s, ' ', len);
    if (!p || p == s || (size_t)(p - s) + 1 >= len || memchr(p + 1, ' ', len - (size_t)(p - s) - 1))
        return 0;
    *sp = (size_t)(p - s);
    return 1;
}

int ic__bpe_build(struct ic_tokenizer *t, const char *const *merges, const size_t *merge_lens,
                  size_t n_merges, const struct ic__bpe_opts *o, const char *what,
                  struct ic_err *err)
{
    struct bpe *m = ic_xcalloc(1, sizeof *m);
    t->type = IC_TOK_BPE;
    t->impl->ops = &bpe_ops;
    t->impl->model = m;
    m->add_prefix_space = o->add_prefix_space;
    m->fuse_unk = o->fuse_unk;
    m->unk_id = -1;
    if (o->unk_token) {
        m->unk_id = ic_tokenizer_id(t, o->unk_token, strlen(o->unk_token));
        if (m->unk_id < 0)
            return ic_errf(err, IC_ERR_FORMAT, "%s: unk_token \"%.40s\" is not in the vocabulary",
                           what, o->unk_token);
    }
    for (unsigned b = 0; b < 256; b++) {
        char u[4];
        int l = ic__utf8_encode(ic__bpe_byte_cp((unsigned char)b), u);
        m->byte_id[b] = ic_tokenizer_id(t, u, (size_t)l);
    }
    m->n_slots = 16;
    while (m->n_slots < 2 * n_merges + 2)
        m->n_slots *= 2;
    m->slots = ic_xcalloc(m->n_slots, sizeof *m->slots);
    m->m_left = ic_xcalloc(n_merges ? n_merges : 1, sizeof *m->m_left);
    m->m_right = ic_xcalloc(n_merges ? n_merges : 1, sizeof *m->m_right);
    char *joined = NULL;
    size_t jcap = 0;
    int rc = IC_OK;
    for (size_t r = 0; r < n_merges && rc == IC_OK; r++) {
        size_t sp, len = merge_lens[r];
        const char *s = merges[r];
        char at[40];
        snprintf(at, sizeof at, o->lines ? "line %zu" : "merges[%zu]", o->lines ? o->lines[r] : r);
        if (!split_merge(s, len, &sp)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s \"%.60s\" is not two tokens "
                         "separated by one space", what, at, s);
            break;
        }
        int32_t a = ic_tokenizer_id(t, s, sp), b = ic_tokenizer_id(t, s + sp + 1, len - sp - 1);
        joined = ic__tok_grow(joined, &jcap, len, 1);
        memcpy(joined, s, sp);
        memcpy(joined + sp, s + sp + 1, len - sp - 1);
        int32_t c = ic_tokenizer_id(t, joined, len - 1);
        if (a < 0 || b < 0 || c < 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s \"%.60s\": %s \"%.*s\" is not in the "
                         "vocabulary", what, at, s, c < 0 && a >= 0 && b >= 0 ? "merged token" : "token",
                         (int)(a < 0 ? sp : b < 0 ? len - sp - 1 : len - 1),
                         a < 0 ? s : b < 0 ? s + sp + 1 : joined);
            break;
        }
        merge_put(m, a, b, (uint32_t)r, c);
        m->m_left[r] = a;
        m->m_right[r] = b;
        m->n_merges = r + 1;
    }
    ic_free(joined);
    return rc;
}

int ic__bpe_add_prefix_space(const struct ic_tokenizer *t)
{
    const struct bpe *m = t->impl->model;
    return m->add_prefix_space;
}

size_t ic__bpe_n_merges(const struct ic_tokenizer *t)
{
    const struct bpe *m = t->impl->model;
    return m->n_merges;
}

void ic__bpe_merge(const struct ic_tokenizer *t, size_t rank, int32_t *left, int32_t *right)
{
    const struct bpe *m = t->impl->model;
    *left = m->m_left[rank];
    *right = m->m_right[rank];
}

int32_t ic__bpe_unk(const struct ic_tokenizer *t)
{
    const struct bpe *m = t->impl->model;
    return m->unk_id;
}
