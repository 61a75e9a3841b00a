/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tok_families.c - encoding speed of any tokenizer directory (BPE,
 * Unigram, WordPiece) on one core: the texts of a dataset (every *.json file
 * of a directory: JSON arrays of {"text": ...}) encoded ROUNDS times (after
 * one warm-up round); prints MB/s of UTF-8 text per round and the median.
 * bench/tok_families_ref.mjs does the same with the npm `tokenizers`
 * package; bench/bench_tok_families.sh runs both, interleaved.
 *   build/bench_tok_families TOKENIZER_DIR DATASET_DIR [ROUNDS] [GROUP]
 * GROUP > 1 joins every GROUP texts with " " into one (long texts).
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "intent/tokenizer.h"

struct texts {
    char **v;
    size_t *len, n, cap, bytes;
};

static int load_texts(const char *dir, struct texts *t)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    /* sorted file order, so both sides read the same texts */
    char *names[64];
    size_t nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL && nn < 64) {
        size_t l = strlen(e->d_name);
        if (l >= 5 && strcmp(e->d_name + l - 5, ".json") == 0)
            names[nn++] = ic_xstrdup(e->d_name);
    }
    closedir(d);
    for (size_t i = 1; i < nn; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *x = names[j];
            names[j] = names[j - 1];
            names[j - 1] = x;
        }
    for (size_t f = 0; f < nn; f++) {
        char *p = ic_path_join(dir, names[f]);
        json_t *root = json_load_file(p, 0, NULL), *v;
        size_t i;
        json_array_foreach(root, i, v)
        {
            json_t *s = json_object_get(v, "text");
            if (!json_is_string(s))
                continue;
            if (t->n == t->cap) {
                t->cap = t->cap ? 2 * t->cap : 4096;
                t->v = ic_xrealloc(t->v, t->cap * sizeof *t->v);
                t->len = ic_xrealloc(t->len, t->cap * sizeof *t->len);
            }
            t->len[t->n] = json_string_length(s);
            t->v[t->n] = ic_xstrndup(json_string_value(s), t->len[t->n]);
            t->bytes += t->len[t->n++];
        }
        json_decref(root);
        ic_free(p);
        ic_free(names[f]);
    }
    return t->n ? 0 : -1;
}

static void join_groups(struct texts *t, size_t group)
{
    size_t k = 0;
    for (size_t i = 0; i < t->n; i += group, k++) {
        struct ic_buf b;
        ic_buf_init(&b, 0);
        for (size_t j = i; j < i + group && j < t->n; j++) {
            IC_ASSERT(ic_buf_append(&b, " ", j > i) == IC_OK);
            IC_ASSERT(ic_buf_append(&b, t->v[j], t->len[j]) == IC_OK);
            ic_free(t->v[j]);
        }
        t->len[k] = b.len;
        t->v[k] = ic_buf_take(&b);
    }
    t->n = k;
    size_t bytes = 0;
    for (size_t i = 0; i < t->n; i++)
        bytes += t->len[i];
    t->bytes = bytes;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s TOKENIZER_DIR DATASET_DIR [ROUNDS]\n", argv[0]);
        return 2;
    }
    int rounds = argc > 3 ? atoi(argv[3]) : 5;
    if (rounds < 1 || rounds > 1000)
        rounds = 5;
    struct ic_err err = {0};
    struct ic_tokenizer t;
    struct texts tx = {0};
    if (ic_tokenizer_load_dir(&t, argv[1], &err) != IC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    if (load_texts(argv[2], &tx) != 0) {
        fprintf(stderr, "%s: no texts\n", argv[2]);
        return 1;
    }
    size_t group = argc > 4 ? (size_t)atoi(argv[4]) : 1;
    if (group > 1)
        join_groups(&tx, group);
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    /* a limit of the longest text's bound: no truncation at the
     * tokenizer's model_max_length, as the reference encodes */
    size_t cap = 8;
    for (size_t i = 0; i < tx.n; i++)
        if (IC_TOK_MAX_IDS(tx.len[i]) > cap)
            cap = IC_TOK_MAX_IDS(tx.len[i]);
    int32_t *ids = ic_xmalloc(sizeof(int32_t) * cap);
    double *mbs = ic_xcalloc((size_t)rounds, sizeof *mbs);
    long long tokens = 0;
    for (int r = -1; r < rounds; r++) {
        double t0 = ic_time_now();
        tokens = 0;
        for (size_t i = 0; i < tx.n; i++) {
            int k = 0;
            if (ic_tokenizer_encode(&t, &w, tx.v[i], tx.len[i], (int)cap, ids, &k, &err) != IC_OK) {
                fprintf(stderr, "text %zu: %s\n", i, err.msg);
                return 1;
            }
            tokens += k;
        }
        double el = ic_time_now() - t0;
        if (r >= 0)
            mbs[r] = tx.bytes / el / 1e6;
    }
    qsort(mbs, (size_t)rounds, sizeof *mbs, cmp_double);
    printf("intent %s: %zu texts, %.1f KB, %lld tokens; median of %d rounds: %.2f MB/s\n",
           ic_tok_type_name(t.type), tx.n, tx.bytes / 1e3, tokens, rounds, mbs[rounds / 2]);
    for (size_t i = 0; i < tx.n; i++)
        ic_free(tx.v[i]);
    ic_free(tx.v);
    ic_free(tx.len);
    ic_free(ids);
    ic_free(mbs);
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    return 0;
}
