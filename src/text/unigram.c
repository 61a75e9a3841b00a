/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unigram.c - the SentencePiece Unigram model as Hugging Face's tokenizers
 * runs it (models/unigram: encode_optimized + tokenize) and the Metaspace
 * pre-tokenizer that feeds it its words. See spm.h for the behaviour.
 *
 * The pieces live in a byte trie: the root's children in a 256-entry table,
 * every other edge in one open-addressing hash keyed by (parent, byte), so a
 * common-prefix search costs one probe per byte and XLM-R's 250,002 pieces
 * build in one pass over their bytes.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text/spm.h"
#include "text/unicode.h"

#define UNK_PENALTY 10.0
/* Trie nodes are 24-bit in the edge keys. */
#define MAX_NODES ((size_t)1 << 24)
/* Words up to this many bytes use the stack for the Viterbi arrays. */
#define STACK_WORD 256

// --- trie ----------------------------------------------------------------------

static size_t edge_slot(uint32_t key, size_t mask)
{
    return (size_t)(((uint64_t)key * 0x9E3779B97F4A7C15ull) >> 32) & mask;
}

static uint32_t trie_child(const struct ic__unigram *u, uint32_t node, unsigned char c)
{
    if (node == 0)
        return u->root[c];
    uint32_t key = node << 8 | c;
    for (size_t j = edge_slot(key, u->edge_mask);; j = (j + 1) & u->edge_mask) {
        uint64_t e = u->edges[j];
        if (!e)
            return 0;
        if ((uint32_t)(e >> 32) == key)
            return (uint32_t)e;
    }
}

static void edges_put(uint64_t *tab, size_t mask, uint64_t e)
{
    size_t j = edge_slot((uint32_t)(e >> 32), mask);
    while (tab[j])
        j = (j + 1) & mask;
    tab[j] = e;
}

static void edges_grow(struct ic__unigram *u)
{
    size_t cap = (u->edge_mask + 1) * 2;
    uint64_t *tab = ic_xcalloc(cap, sizeof *tab);
    for (size_t j = 0; j <= u->edge_mask; j++)
        if (u->edges[j])
            edges_put(tab, cap - 1, u->edges[j]);
    ic_free(u->edges);
    u->edges = tab;
    u->edge_mask = cap - 1;
}

/* The child of node for byte c, created when absent; 0 when the trie is
 * full. One probe sequence finds or places the edge. */
static uint32_t trie_child_add(struct ic__unigram *u, uint32_t node, unsigned char c,
                               size_t *node_cap, size_t *n_edges)
{
    uint32_t *slot = NULL, key = node << 8 | c;
    size_t j = 0;
    if (node == 0) {
        slot = &u->root[c];
        if (*slot)
            return *slot;
    } else {
        if ((*n_edges + 1) * 2 > u->edge_mask + 1)
            edges_grow(u);
        for (j = edge_slot(key, u->edge_mask); u->edges[j]; j = (j + 1) & u->edge_mask)
            if ((uint32_t)(u->edges[j] >> 32) == key)
                return (uint32_t)u->edges[j];
    }
    if (u->n_nodes >= MAX_NODES)
        return 0;
    if (u->n_nodes == *node_cap) {
        *node_cap *= 2;
        u->node_id = ic_xrealloc(u->node_id, *node_cap * sizeof *u->node_id);
    }
    uint32_t child = (uint32_t)u->n_nodes++;
    u->node_id[child] = -1;
    if (slot) {
        *slot = child;
    } else {
        u->edges[j] = (uint64_t)key << 32 | child;
        (*n_edges)++;
    }
    return child;
}

int32_t ic__unigram_piece_id(const struct ic__unigram *u, const char *s, size_t len)
{
    uint32_t node = 0;
    for (size_t i = 0; i < len; i++) {
        node = trie_child(u, node, (unsigned char)s[i]);
        if (!node)
            return -1;
    }
    return len ? u->node_id[node] : -1;
}

size_t ic__unigram_matches(const struct ic__unigram *u, const char *s, size_t len, size_t pos,
                           uint32_t *ends, int32_t *ids, size_t max)
{
    size_t k = 0;
    uint32_t node = 0;
    for (size_t i = pos; i < len && k < max; i++) {
        node = trie_child(u, node, (unsigned char)s[i]);
        if (!node)
            break;
        if (u->node_id[node] >= 0) {
            ends[k] = (uint32_t)(i + 1);
            ids[k++] = u->node_id[node];
        }
    }
    return k;
}

// --- init ----------------------------------------------------------------------

static int check_piece(const char *p, double score, size_t i, struct ic_err *err)
{
    size_t bad;
    if (!p)
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: piece %zu: missing", i);
    if (!*p)
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: piece %zu: empty string", i);
    if (!ic_utf8_valid(p, strlen(p), &bad))
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: piece %zu: not UTF-8 (byte %zu)", i,
                       bad);
    if (!isfinite(score))
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: piece %zu (\"%.40s\"): score is %s", i,
                       p, isnan(score) ? "NaN" : "infinite");
    return IC_OK;
}

static int insert_piece(struct ic__unigram *u, const char *p, int32_t id, size_t *node_cap,
                        size_t *n_edges, struct ic_err *err)
{
    uint32_t node = 0;
    for (const unsigned char *c = (const unsigned char *)p; *c; c++) {
        uint32_t next = trie_child_add(u, node, *c, node_cap, n_edges);
        if (!next)
            return ic_errf(err, IC_ERR_RANGE, "unigram vocab: more than %zu trie nodes",
                           MAX_NODES);
        node = next;
    }
    u->node_id[node] = id; /* a repeated piece resolves to its last id */
    return IC_OK;
}

static void find_byte_pieces(struct ic__unigram *u)
{
    for (int b = 0; b < 256; b++) {
        char name[8];
        snprintf(name, sizeof name, "<0x%02X>", b);
        u->byte_ids[b] = ic__unigram_piece_id(u, name, 6);
    }
}

int ic__unigram_init(struct ic__unigram *u, const char *const *pieces, const double *scores,
                     size_t n, int32_t unk_id, int byte_fallback, struct ic_err *err)
{
    memset(u, 0, sizeof *u);
    if (n == 0)
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: empty (at least the unk piece is needed)");
    if (n > INT32_MAX)
        return ic_errf(err, IC_ERR_RANGE, "unigram vocab: %zu pieces is too many", n);
    if (unk_id < -1 || (unk_id >= 0 && (size_t)unk_id >= n))
        return ic_errf(err, IC_ERR_FORMAT, "unigram vocab: unk_id %d outside the %zu pieces",
                       (int)unk_id, n);
    u->min_score = INFINITY;
    for (size_t i = 0; i < n; i++) {
        int rc = check_piece(pieces[i], scores[i], i, err);
        if (rc)
            return rc;
        if (scores[i] < u->min_score)
            u->min_score = scores[i];
    }
    /* sized for about three trie nodes per piece (XLM-R: 782,761 nodes) */
    size_t node_cap = 1024, n_edges = 0;
    while (node_cap < 3 * n)
        node_cap *= 2;
    u->node_id = ic_xmalloc(node_cap * sizeof *u->node_id);
    u->node_id[0] = -1;
    u->n_nodes = 1;
    u->edge_mask = 2 * node_cap - 1;
    u->edges = ic_xcalloc(u->edge_mask + 1, sizeof *u->edges);
    for (size_t i = 0; i < n; i++) {
        int rc = insert_piece(u, pieces[i], (int32_t)i, &node_cap, &n_edges, err);
        if (rc) {
            ic__unigram_free(u);
            return rc;
        }
    }
    u->scores = ic_xmalloc(n * sizeof *u->scores);
    memcpy(u->scores, scores, n * sizeof *u->scores);
    u->n = n;
    u->unk_id = unk_id;
    u->byte_fallback = byte_fallback != 0;
    find_byte_pieces(u);
    return IC_OK;
}

void ic__unigram_free(struct ic__unigram *u)
{
    if (!u)
        return;
    ic_free(u->scores);
    ic_free(u->node_id);
    ic_free(u->edges);
    memset(u, 0, sizeof *u);
}

// --- encode --------------------------------------------------------------------

struct best {
    double score;   /* best path score ending here */
    uint32_t start; /* start of its last piece; UINT32_MAX = none yet */
    int32_t id;
};

static int utf8_len(unsigned char c)
{
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

static void relax(struct best *b, size_t end, uint32_t start, double score, int32_t id)
{
    if (b[end].start == UINT32_MAX || score > b[end].score) {
        b[end].score = score;
        b[end].start = start;
        b[end].id = id;
    }
}

/* The forward pass: best[end] for every character boundary. */
static int viterbi(const struct ic__unigram *u, const unsigned char *s, size_t len,
                   struct best *best)
{
    double unk_score = u->min_score - UNK_PENALTY;
    for (size_t i = 0; i <= len; i++)
        best[i] = (struct best){0.0, UINT32_MAX, -1};
    for (size_t pos = 0; pos < len;) {
        double here = best[pos].score;
        size_t mblen = (size_t)utf8_len(s[pos]);
        int single = 0;
        uint32_t node = 0;
        for (size_t k = pos; k < len; k++) {
            node = trie_child(u, node, s[k]);
            if (!node)
                break;
            int32_t id = u->node_id[node];
            if (id < 0)
                continue;
            relax(best, k + 1, (uint32_t)pos, u->scores[id] + here, id);
            if (k + 1 - pos == mblen)
                single = 1;
        }
        if (!single) {
            size_t end = pos + mblen;
            double cand = unk_score + here;
            if (best[end].start == UINT32_MAX || cand > best[end].score) {
                if (u->unk_id < 0)
                    return IC_ERR_FORMAT;
                relax(best, end, (uint32_t)pos, cand, u->unk_id);
            }
        }
        pos += mblen;
    }
    return IC_OK;
}

static void push_id(int32_t **ids, size_t *n_ids, size_t *cap, int32_t id)
{
    if (*n_ids == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *ids = ic_xrealloc(*ids, *cap * sizeof **ids);
    }
    (*ids)[(*n_ids)++] = id;
}

/* A fused run of unknown pieces s[a..b): the piece of that spelling, else
 * its bytes (byte_fallback), else unk. */
static void emit_unk_run(const struct ic__unigram *u, const char *s, size_t a, size_t b,
                         int32_t **ids, size_t *n_ids, size_t *cap)
{
    int32_t id = ic__unigram_piece_id(u, s + a, b - a);
    if (id >= 0) {
        push_id(ids, n_ids, cap, id);
        return;
    }
    if (u->byte_fallback) {
        size_t k = a;
        while (k < b && u->byte_ids[(unsigned char)s[k]] >= 0)
            k++;
        if (k == b) {
            for (k = a; k < b; k++)
                push_id(ids, n_ids, cap, u->byte_ids[(unsigned char)s[k]]);
            return;
        }
    }
    push_id(ids, n_ids, cap, u->unk_id);
}

/* Walks the best path back, then emits it forwards with <unk> runs fused.
 * bounds: scratch of len+1 entries. */
static void emit_path(const struct ic__unigram *u, const char *s, size_t len,
                      const struct best *best, uint32_t *bounds, int32_t **ids, size_t *n_ids,
                      size_t *cap)
{
    size_t m = 0;
    for (size_t end = len; end > 0; end = best[end].start)
        bounds[m++] = (uint32_t)end;
    /* bounds[m-1] is the first piece's end; pieces run from 0 */
    size_t start = 0;
    for (size_t i = m; i-- > 0;) {
        size_t end = bounds[i];
        int32_t id = best[end].id;
        if (u->unk_id >= 0 && id == u->unk_id) {
            while (i > 0 && best[bounds[i - 1]].id == u->unk_id)
                end = bounds[--i];
            emit_unk_run(u, s, start, end, ids, n_ids, cap);
        } else {
            push_id(ids, n_ids, cap, id);
        }
        start = end;
    }
}

int ic__unigram_encode_word(const struct ic__unigram *u, const char *s, size_t len, int32_t **ids,
                            size_t *n_ids, size_t *cap)
{
    size_t bad;
    if (len == 0)
        return IC_OK;
    if (len >= UINT32_MAX)
        return IC_ERR_RANGE;
    if (!ic_utf8_valid(s, len, &bad))
        return IC_ERR_FORMAT;
    struct best best_stack[STACK_WORD + 1];
    uint32_t bounds_stack[STACK_WORD + 1];
    struct best *best = best_stack;
    uint32_t *bounds = bounds_stack;
    if (len > STACK_WORD) {
        best = ic_xmalloc((len + 1) * sizeof *best);
        bounds = ic_xmalloc((len + 1) * sizeof *bounds);
    }
    int rc = viterbi(u, (const unsigned char *)s, len, best);
    if (rc == IC_OK)
        emit_path(u, s, len, best, bounds, ids, n_ids, cap);
    if (best != best_stack) {
        ic_free(best);
        ic_free(bounds);
    }
    return rc;
}

// --- Metaspace -----------------------------------------------------------------

int ic__metaspace_prepend_parse(const char *s)
{
    if (!s)
        return -1;
    if (strcmp(s, "never") == 0)
        return IC_METASPACE_NEVER;
    if (strcmp(s, "always") == 0)
        return IC_METASPACE_ALWAYS;
    if (strcmp(s, "first") == 0)
        return IC_METASPACE_FIRST;
    return -1;
}

static void push_end(size_t **word_ends, size_t *n_words, size_t *cap, size_t end)
{
    if (*n_words == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        *word_ends = ic_xrealloc(*word_ends, *cap * sizeof **word_ends);
    }
    (*word_ends)[(*n_words)++] = end;
}

/* Appends in with ' ' replaced (and the prefix when asked) to out. */
static int metaspace_replace(const char *in, size_t len, const char *rep, size_t rl, int prefix,
                             struct ic_buf *out)
{
    int rc = IC_OK;
    if (prefix)
        rc = ic_buf_append(out, rep, rl);
    size_t from = 0;
    for (size_t i = 0; rc == IC_OK && i <= len; i++) {
        if (i == len || in[i] == ' ') {
            rc = ic_buf_append(out, in + from, i - from);
            if (rc == IC_OK && i < len)
                rc = ic_buf_append(out, rep, rl);
            from = i + 1;
        }
    }
    return rc;
}

int ic__metaspace_split_ex(const char *in, size_t len, const char *replacement_utf8,
                           enum ic__metaspace_prepend prepend, int at_text_start, int split,
                           struct ic_buf *out, size_t **word_ends, size_t *n_words, size_t *cap)
{
    size_t bad, rl = replacement_utf8 ? strlen(replacement_utf8) : 0;
    uint32_t cp;
    if (rl == 0 || ic__utf8_decode((const unsigned char *)replacement_utf8, rl, &cp) != (int)rl)
        return IC_ERR_INVAL; /* one character, as tokenizers' `char` */
    if (!ic_utf8_valid(in, len, &bad))
        return IC_ERR_FORMAT;
    if (len == 0)
        return IC_OK;
    int starts = in[0] == ' ' || (len >= rl && memcmp(in, replacement_utf8, rl) == 0);
    int prefix = !starts && (prepend == IC_METASPACE_ALWAYS ||
                             (prepend == IC_METASPACE_FIRST && at_text_start));
    size_t base = out->len;
    int rc = metaspace_replace(in, len, replacement_utf8, rl, prefix, out);
    if (rc)
        return rc;
    if (split) {
        const char *d = out->data;
        for (size_t i = base + 1; i + rl <= out->len; i++)
            if (memcmp(d + i, replacement_utf8, rl) == 0)
                push_end(word_ends, n_words, cap, i);
    }
    push_end(word_ends, n_words, cap, out->len);
    return IC_OK;
}

int ic__metaspace_split(const char *in, size_t len, const char *replacement_utf8,
                        int prepend_always, int split, struct ic_buf *out, size_t **word_ends,
                        size_t *n_words, size_t *cap)
{
    return ic__metaspace_split_ex(in, len, replacement_utf8,
                                  prepend_always ? IC_METASPACE_ALWAYS : IC_METASPACE_NEVER, 1,
                                  split, out, word_ends, n_words, cap);
}
