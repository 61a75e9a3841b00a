/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_precision.c - inference speed of the BERT classifier at fp32, bf16
 * and int8 (ic_bert_prepare) at one shape: forwards (no grads, no dropout)
 * at batch 1 and batch 32, sequence S, all tokens real. Each figure is the
 * median over timed windows of about 0.1 s after one warm-up.
 * bench/precision_ref.py measures PyTorch fp32, dynamic int8 and bf16
 * autocast on the same shape; bench/bench_precision.sh runs them interleaved.
 *
 * Run:  bench_precision [--layers L] [--hidden H] [--heads NH] [--inter I]
 *       [--seq S] [--windows W] [--threads T] [--precisions fp32,bf16,int8]
 * Output, one line per figure:
 *   ours int8 infer b=32 s=16 ms=... min_ms=... max_ms=... windows=W
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/bert.h"

struct opts {
    int layers, hidden, heads, inter, seq, windows, threads;
    const char *precisions;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void print_times(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    printf("ms=%.4f min_ms=%.4f max_ms=%.4f", med * 1e3, v[0] * 1e3, v[n - 1] * 1e3);
}

/* Median forward time of a B x T batch of real tokens at m's prepared pp. */
static int bench_infer(const struct ic_bert *m, const struct ic_bert_prepared *pp, int B, int T,
                       int windows, const char *name)
{
    struct ic_bert_state s;
    struct ic_err err;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 0, &err)) {
        fprintf(stderr, "bench_precision: %s\n", err.msg);
        return 1;
    }
    s.prep = pp;
    struct ic_rng r;
    ic_rng_seed(&r, 3);
    int32_t *ids = ic_xcalloc((size_t)B * T, 4), *mask = ic_xcalloc((size_t)B * T, 4);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (int32_t)ic_rng_below(&r, (uint32_t)m->cfg.vocab_size - 1);
        mask[i] = 1;
    }
    struct ic_batch b = {.B = B, .T = T, .ids = ids, .mask = mask};
    double *win = ic_xcalloc((size_t)windows, sizeof *win);
    int rc = ic_bert_forward(m, &s, &b, NULL);
    double t0 = ic_time_now();
    rc |= ic_bert_forward(m, &s, &b, NULL);
    double one = ic_time_now() - t0;
    int n = one > 0.1 ? 1 : (int)(0.1 / (one + 1e-9)) + 1;
    for (int w = 0; w < windows && !rc; w++) {
        double a = ic_time_now();
        for (int i = 0; i < n && !rc; i++)
            rc = ic_bert_forward(m, &s, &b, NULL);
        win[w] = (ic_time_now() - a) / n;
    }
    if (!rc) {
        printf("ours %s infer b=%d s=%d ", name, B, T);
        print_times(win, windows);
        printf(" windows=%d\n", windows);
        fflush(stdout);
    }
    ic_free(win);
    ic_free(ids);
    ic_free(mask);
    ic_bert_state_free(&s);
    return rc;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){2, 128, 2, 512, 16, 3, 2, "fp32,bf16,int8"};
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *a = argv[i], *v = argv[i + 1];
        int *num = strcmp(a, "--layers") == 0    ? &o->layers
                   : strcmp(a, "--hidden") == 0  ? &o->hidden
                   : strcmp(a, "--heads") == 0   ? &o->heads
                   : strcmp(a, "--inter") == 0   ? &o->inter
                   : strcmp(a, "--seq") == 0     ? &o->seq
                   : strcmp(a, "--windows") == 0 ? &o->windows
                   : strcmp(a, "--threads") == 0 ? &o->threads
                                                 : NULL;
        if (num)
            *num = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--precisions") == 0)
            o->precisions = v;
        else
            return 1;
    }
    return argc % 2 == 0 || o->windows < 1 || o->seq < 4 || o->seq > 512;
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: bench_precision [--layers L] [--hidden H] [--heads NH] "
                        "[--inter I] [--seq S] [--windows W] [--threads T] "
                        "[--precisions fp32,bf16,int8]\n");
        return 2;
    }
    ic_set_threads(o.threads);
    struct ic_bert_config c;
    ic_bert_config_default(&c);
    c.vocab_size = 30522;
    c.hidden_size = o.hidden;
    c.num_layers = o.layers;
    c.num_heads = o.heads;
    c.intermediate_size = o.inter;
    c.num_labels = 8;
    struct ic_bert m;
    struct ic_err err;
    if (ic_bert_init(&m, &c, &err)) {
        fprintf(stderr, "bench_precision: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 42);
    ic_bert_init_weights(&m, &r);
    printf("# ours: intent, %d threads, bert %dx%d (%zu params, 8 labels), kernels bf16 %s, "
           "int8 %s\n", ic_get_threads(), o.layers, o.hidden, m.num_params,
           ic_kernels_name(IC_PRECISION_BF16), ic_kernels_name(IC_PRECISION_INT8));
    int rc = 0;
    char list[64];
    snprintf(list, sizeof list, "%s", o.precisions);
    for (char *save = NULL, *p = strtok_r(list, ",", &save); p && !rc;
         p = strtok_r(NULL, ",", &save)) {
        enum ic_precision pr;
        struct ic_bert_prepared *pp = NULL;
        if (ic_precision_parse(p, &pr) || ic_bert_prepare(&pp, &m, pr, &err)) {
            fprintf(stderr, "bench_precision: precision %s refused\n", p);
            rc = 1;
            break;
        }
        rc = bench_infer(&m, pp, 1, o.seq, o.windows, p) ||
             bench_infer(&m, pp, 32, o.seq, o.windows, p);
        ic_bert_prepared_free(pp);
    }
    ic_bert_free(&m);
    return rc;
}
