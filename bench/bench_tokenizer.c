/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_tokenizer.c - BERT WordPiece encoding speed on one core: tokens per
 * second and MB of UTF-8 text per second over the texts of a dataset
 * (every *.json file of a directory: JSON arrays of {"text": ...}), encoded
 * again and again for at least SECONDS. Prints the fastest round (the one
 * least disturbed by other processes) and the mean over all rounds.
 *
 * Build and run (from the repository root, after `make`; bench/bench_tokenizer.sh
 * does the same):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -Iinclude -Isrc bench/bench_tokenizer.c build/libintent.a \
 *      $(pkg-config --libs jansson libutf8proc) -lm -o build/bench_tokenizer
 *   build/bench_tokenizer ../shared/datasets/fb_mtod_es [VOCAB] [SECONDS]
 * VOCAB defaults to ../shared/vocab/bert-base-uncased.txt.
 */
#include <dirent.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "intent/tokenizer.h"

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s DATASET_DIR [VOCAB] [SECONDS]\n", argv[0]);
        return 2;
    }
    const char *dir = argv[1];
    const char *vocab = argc > 2 ? argv[2] : "../shared/vocab/bert-base-uncased.txt";
    double seconds = argc > 3 ? atof(argv[3]) : 2.0;
    struct ic_err err = {0};
    struct ic_tokenizer t;
    if (ic_tokenizer_load_vocab(&t, vocab, NULL, &err) != IC_OK) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    char **texts = NULL;
    size_t *lens = NULL, n = 0, cap = 0, bytes = 0;
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "%s: cannot open\n", dir);
        return 1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".json") != 0)
            continue;
        char *p = ic_path_join(dir, e->d_name);
        json_error_t je;
        json_t *root = json_load_file(p, 0, &je);
        size_t i;
        json_t *v;
        json_array_foreach(root, i, v)
        {
            json_t *s = json_object_get(v, "text");
            if (!json_is_string(s))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 4096;
                texts = ic_xrealloc(texts, cap * sizeof *texts);
                lens = ic_xrealloc(lens, cap * sizeof *lens);
            }
            lens[n] = json_string_length(s);
            texts[n] = ic_xstrndup(json_string_value(s), lens[n]);
            bytes += lens[n];
            n++;
        }
        json_decref(root);
        ic_free(p);
    }
    closedir(d);
    if (n == 0) {
        fprintf(stderr, "%s: no texts\n", dir);
        return 1;
    }
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int32_t *ids = ic_xmalloc(sizeof(int32_t) * 4096);
    long long tokens = 0, done_bytes = 0, rounds = 0;
    /* warm-up round (grows the work buffers) */
    for (size_t i = 0; i < n; i++) {
        int k;
        if (ic_tokenizer_encode(&t, &w, texts[i], lens[i], 4096, ids, &k, &err) != IC_OK) {
            fprintf(stderr, "text %zu: %s\n", i, err.msg);
            return 1;
        }
    }
    double t0 = ic_time_now(), el = 0, best = 1e30;
    long long round_tokens = 0;
    while (el < seconds) {
        double r0 = ic_time_now();
        tokens = 0;
        for (size_t i = 0; i < n; i++) {
            int k = 0;
            if (ic_tokenizer_encode(&t, &w, texts[i], lens[i], 4096, ids, &k, &err) != IC_OK)
                return 1;
            tokens += k;
        }
        double r1 = ic_time_now();
        if (r1 - r0 < best)
            best = r1 - r0;
        round_tokens = tokens;
        done_bytes += (long long)bytes;
        rounds++;
        el = r1 - t0;
    }
    /* the fastest round is the least disturbed by other processes */
    printf("tokenizer: %zu texts, %.1f KB, %lld tokens per round; %lld rounds in %.2f s (one "
           "core)\n", n, bytes / 1e3, round_tokens, rounds, el);
    printf("tokenizer: best round %.2f ms: %.0f texts/s  %.2f M tokens/s  %.1f MB/s\n",
           best * 1e3, n / best, round_tokens / best / 1e6, bytes / best / 1e6);
    printf("tokenizer: mean: %.1f MB/s\n", done_bytes / el / 1e6);
    for (size_t i = 0; i < n; i++)
        ic_free(texts[i]);
    ic_free(texts);
    ic_free(lens);
    ic_free(ids);
    ic_tok_work_free(&w);
    ic_tokenizer_free(&t);
    return 0;
}
