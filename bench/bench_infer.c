/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_infer.c - inference speed of the BERT core at bert-tiny shape
 * (V 30522, H 128, L 2, heads 2, I 512, 8 labels): ic_bert_forward in
 * evaluation mode (no dropout) with a state allocated without gradients,
 * on random token ids (every position real), at batch 1 and 32 and
 * sequence 16, 32 and 64. bench/infer_ref.py measures the same in PyTorch
 * (eval mode, torch.no_grad) and prints the same lines prefixed "ref".
 *
 * Each figure is the median over timed windows (after a warm-up window),
 * each window about 0.1-0.2 s; min and max over the windows give the spread.
 * FLOPs count matrix products only (docs/performance.md):
 *   forward = L (6SH^2 + 4S^2H + 2SH^2 + 4SHI) + 2H^2 + 2HN per example.
 *
 * Run:  bench_infer [--threads N] [--windows W] [--batch B --seq S]
 * Output, one line per figure:
 *   ours infer b=1 s=16 ms=... ex_s=... gflop_s=... min_ms=... max_ms=... cpu_ms=... windows=W
 * (cpu_ms: process CPU time per forward over the timed windows, all threads.)
 * bench/bench_model.sh builds and runs it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intent/bert.h"

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double fwd_flops(const struct ic_bert_config *c, double S)
{
    double H = c->hidden_size, I = c->intermediate_size, N = c->num_labels;
    double layer = 6 * S * H * H + 4 * S * S * H + 2 * S * H * H + 4 * S * H * I;
    return c->num_layers * layer + 2 * H * H + 2 * H * N;
}

static int bench_one(const struct ic_bert *m, int B, int T, int windows)
{
    struct ic_bert_state s;
    struct ic_err err;
    int rc = 1;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 0, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.msg);
        return 1;
    }
    int32_t *ids = ic_xcalloc((size_t)B * T, sizeof *ids);
    int32_t *mask = ic_xcalloc((size_t)B * T, sizeof *mask);
    double *win = ic_xcalloc((size_t)windows, sizeof *win);
    struct ic_rng r;
    ic_rng_seed(&r, 3);
    for (int i = 0; i < B * T; i++) {
        ids[i] = 1 + (int32_t)ic_rng_below(&r, (uint32_t)m->cfg.vocab_size - 1);
        mask[i] = 1;
    }
    struct ic_batch b = {.B = B, .T = T, .ids = ids, .type_ids = NULL, .mask = mask,
                         .labels = NULL};
    /* calibrate: about 0.15 s per window */
    double t0 = ic_time_now();
    int cal = 0;
    while (ic_time_now() - t0 < 0.05) {
        if (ic_bert_forward(m, &s, &b, NULL))
            goto out;
        cal++;
    }
    int n = (int)(cal * 3);
    if (n < 3)
        n = 3;
    double cpu0 = cpu_now();
    for (int w = 0; w < windows; w++) {
        double a = ic_time_now();
        for (int i = 0; i < n; i++)
            if (ic_bert_forward(m, &s, &b, NULL))
                goto out;
        win[w] = (ic_time_now() - a) / n;
    }
    double cpu = (cpu_now() - cpu0) / ((double)windows * n);
    qsort(win, (size_t)windows, sizeof *win, cmp_double);
    double med = windows % 2 ? win[windows / 2] : 0.5 * (win[windows / 2 - 1] + win[windows / 2]);
    double fl = fwd_flops(&m->cfg, T) * B;
    printf("ours infer b=%d s=%d ms=%.4f ex_s=%.1f gflop_s=%.1f min_ms=%.4f max_ms=%.4f "
           "cpu_ms=%.4f windows=%d\n",
           B, T, med * 1e3, B / med, fl / med * 1e-9, win[0] * 1e3, win[windows - 1] * 1e3,
           cpu * 1e3, windows);
    fflush(stdout);
    rc = 0;
out:
    if (rc)
        fprintf(stderr, "bench_infer: forward failed at b=%d s=%d\n", B, T);
    ic_free(win);
    ic_free(ids);
    ic_free(mask);
    ic_bert_state_free(&s);
    return rc;
}

int main(int argc, char **argv)
{
    int threads = 2, windows = 5, batch = 0, seq = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--windows") == 0 && i + 1 < argc)
            windows = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--batch") == 0 && i + 1 < argc)
            batch = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--seq") == 0 && i + 1 < argc)
            seq = (int)strtol(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: %s [--threads N] [--windows W] [--batch B --seq S]\n",
                    argv[0]);
            return 2;
        }
    }
    if (windows < 1)
        windows = 1;
    if (batch < 0 || batch > 4096 || seq < 0 || seq > 512) {
        fprintf(stderr, "bench_infer: batch 1..4096, seq 1..512\n");
        return 2;
    }
    ic_set_threads(threads);
    struct ic_bert_config c;
    ic_bert_config_default(&c);
    c.hidden_size = 128;
    c.num_layers = 2;
    c.num_heads = 2;
    c.intermediate_size = 512;
    c.num_labels = 8;
    struct ic_bert m;
    struct ic_err err;
    if (ic_bert_init(&m, &c, &err)) {
        fprintf(stderr, "bench_infer: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 42);
    ic_bert_init_weights(&m, &r);
    printf("# ours: C, OpenBLAS sgemm + OpenMP, %d threads, bert-tiny (%zu params, 8 labels)\n",
           ic_get_threads(), m.num_params);
    int rc = 0;
    if (batch > 0 && seq > 0) {
        rc = bench_one(&m, batch, seq, windows);
    } else {
        static const int Bs[2] = {1, 32}, Ss[3] = {16, 32, 64};
        for (int i = 0; i < 2; i++)
            for (int j = 0; j < 3; j++)
                rc |= bench_one(&m, Bs[i], Ss[j], windows);
    }
    ic_bert_free(&m);
    return rc;
}
