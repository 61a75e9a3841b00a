/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_train.c - speed of the BERT core at bert-tiny shape (V 30522, H 128,
 * L 2, heads 2, I 512, 8 labels): a whole training step (zero_grad, forward
 * with dropout, backward, clip_grad_norm 1.0, linear schedule, AdamW) at
 * batch 32, and inference forwards (no grads, no dropout) at batch 1 and 32.
 * bench/train_ref.py measures the same things in PyTorch and prints the same
 * lines, so the two can be compared run by run.
 *
 * Each figure is the median of several timed windows (after warm-up); min
 * and max over the windows give the spread. FLOPs per example count the
 * matrix products only, at the padded length (perf.md section 1):
 *   forward = L (6SH^2 + 2S^2H + 2S^2H + 2SH^2 + 4SHI) + 2H^2 + 2HN,
 *   training step = 3 x forward.
 * Training batches are random ids padded to S with real lengths in
 * [S/4, S] (as the reference); inference batches are all real tokens.
 *
 * Build (after `make`):
 *   cc -O2 -std=c11 -D_GNU_SOURCE -fopenmp -Iinclude \
 *      -I/usr/include/x86_64-linux-gnu/openblas-openmp bench/bench_train.c build/libintent.a \
 *      -L/usr/lib/x86_64-linux-gnu/openblas-openmp -Wl,-rpath,/usr/lib/x86_64-linux-gnu/openblas-openmp \
 *      -lopenblas $(pkg-config --libs libcurl libmicrohttpd jansson libutf8proc yaml-0.1) \
 *      -lpthread -ldl -lm -o build/bench_train
 * Run:  build/bench_train [--threads N] [--what train|infer|all] [--windows W] [--breakdown]
 * Output, one line per figure:
 *   ours train b=32 s=64 ms=... ex_s=... gflop_s=... min_ms=... max_ms=... cpu_ms=... windows=W
 * (cpu_ms: process CPU time per step over the timed windows, all threads.)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "intent/bert.h"
#include "intent/optim.h"

/* CPU time of the whole process (all threads): on a shared machine it shows
 * the work done when wall time includes waiting for a core. */
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

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

static double fwd_flops(const struct ic_bert_config *c, double S)
{
    double H = c->hidden_size, I = c->intermediate_size, N = c->num_labels;
    double layer = 6 * S * H * H + 4 * S * S * H + 2 * S * H * H + 4 * S * H * I;
    return c->num_layers * layer + 2 * H * H + 2 * H * N;
}

struct batch_buf {
    int32_t *ids, *tt, *mask, *labels;
};

static void make_batch(struct batch_buf *bb, struct ic_batch *b, int B, int T, int padded,
                       const struct ic_bert_config *c, struct ic_rng *r)
{
    bb->ids = ic_xcalloc((size_t)B * T, 4);
    bb->tt = ic_xcalloc((size_t)B * T, 4);
    bb->mask = ic_xcalloc((size_t)B * T, 4);
    bb->labels = ic_xcalloc((size_t)B, 4);
    for (int i = 0; i < B; i++) {
        int len = padded ? T / 4 + (int)ic_rng_below(r, (uint32_t)(T - T / 4 + 1)) : T;
        if (len < 1)
            len = 1;
        for (int t = 0; t < len; t++) {
            bb->ids[i * T + t] = 1 + (int32_t)ic_rng_below(r, (uint32_t)c->vocab_size - 1);
            bb->mask[i * T + t] = 1;
        }
        bb->labels[i] = (int32_t)ic_rng_below(r, (uint32_t)c->num_labels);
    }
    b->B = B;
    b->T = T;
    b->ids = bb->ids;
    b->type_ids = bb->tt;
    b->mask = bb->mask;
    b->labels = bb->labels;
}

static void free_batch(struct batch_buf *bb)
{
    ic_free(bb->ids);
    ic_free(bb->tt);
    ic_free(bb->mask);
    ic_free(bb->labels);
}

static int bench_train(struct ic_bert *m, int B, int T, int windows, int breakdown)
{
    struct ic_bert_state s;
    struct ic_adamw o;
    struct ic_err err;
    struct ic_adamw_params ap = ic_adamw_default_params();
    ap.weight_decay = 0.01f;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 1, &err) || ic_adamw_init(&o, m, &ap, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r, drop;
    ic_rng_seed(&r, 1);
    ic_rng_seed(&drop, 2);
    struct batch_buf bb;
    struct ic_batch b;
    make_batch(&bb, &b, B, T, 1, &m->cfg, &r);
    const int steps_per_window = 5, warm = 3;
    int total = warm + windows * steps_per_window;
    double *win = ic_xcalloc((size_t)windows, sizeof(double));
    double *ph[4];
    for (int k = 0; k < 4; k++)
        ph[k] = ic_xcalloc((size_t)total, sizeof(double));
    int step = 0;
    double cpu0 = 0;
    for (int w = -1; w < windows; w++) {
        int n = w < 0 ? warm : steps_per_window;
        if (w == 0)
            cpu0 = cpu_now();
        double t0 = ic_time_now();
        for (int i = 0; i < n; i++, step++) {
            double a = ic_time_now();
            ic_bert_zero_grad(&s);
            if (ic_bert_forward(m, &s, &b, &drop))
                return 1;
            double f = ic_time_now();
            if (ic_bert_backward(m, &s, &b))
                return 1;
            double g = ic_time_now();
            /* clip_grad_norm_(1.0) fused into the AdamW pass */
            float coef = ic_grad_clip_coef(ic_bert_grad_norm(&s), 1.0f);
            double c = ic_time_now();
            ic_adamw_step_scaled(&o, m, s.grads, ic_lr_linear(step, 0, total, ap.lr), coef);
            double e = ic_time_now();
            ph[0][step] = f - a;
            ph[1][step] = g - f;
            ph[2][step] = c - g;
            ph[3][step] = e - c;
        }
        if (w >= 0)
            win[w] = (ic_time_now() - t0) / n;
    }
    double mn = win[0], mx = win[0];
    for (int w = 0; w < windows; w++) {
        mn = win[w] < mn ? win[w] : mn;
        mx = win[w] > mx ? win[w] : mx;
    }
    double cpu = (cpu_now() - cpu0) / (windows * steps_per_window);
    double med = median(win, windows);
    double fl = 3.0 * fwd_flops(&m->cfg, T) * B;
    printf("ours train b=%d s=%d ms=%.3f ex_s=%.1f gflop_s=%.1f min_ms=%.3f max_ms=%.3f "
           "cpu_ms=%.3f windows=%d loss=%.4f\n",
           B, T, med * 1e3, B / med, fl / med * 1e-9, mn * 1e3, mx * 1e3, cpu * 1e3, windows,
           s.loss);
    if (breakdown) {
        const char *names[4] = {"forward", "backward", "clip", "adamw"};
        printf("ours breakdown b=%d s=%d", B, T);
        for (int k = 0; k < 4; k++)
            printf(" %s_ms=%.3f", names[k], median(ph[k] + warm, total - warm) * 1e3);
        printf("\n");
    }
    fflush(stdout);
    for (int k = 0; k < 4; k++)
        ic_free(ph[k]);
    ic_free(win);
    free_batch(&bb);
    ic_adamw_free(&o);
    ic_bert_state_free(&s);
    return 0;
}

static int bench_infer(struct ic_bert *m, int B, int T, int windows)
{
    struct ic_bert_state s;
    struct ic_err err;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 0, &err)) {
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 3);
    struct batch_buf bb;
    struct ic_batch b;
    make_batch(&bb, &b, B, T, 0, &m->cfg, &r);
    b.labels = NULL;
    /* about 0.2 s per window at the expected speed */
    int n = B == 1 ? 400 : 20;
    double *win = ic_xcalloc((size_t)windows, sizeof(double));
    double cpu0 = 0;
    for (int w = -1; w < windows; w++) {
        if (w == 0)
            cpu0 = cpu_now();
        double t0 = ic_time_now();
        for (int i = 0; i < n; i++)
            if (ic_bert_forward(m, &s, &b, NULL))
                return 1;
        if (w >= 0)
            win[w] = (ic_time_now() - t0) / n;
    }
    double mn = win[0], mx = win[0];
    for (int w = 0; w < windows; w++) {
        mn = win[w] < mn ? win[w] : mn;
        mx = win[w] > mx ? win[w] : mx;
    }
    double cpu = (cpu_now() - cpu0) / ((double)windows * n);
    double med = median(win, windows);
    double fl = fwd_flops(&m->cfg, T) * B;
    printf("ours infer b=%d s=%d ms=%.4f ex_s=%.1f gflop_s=%.1f min_ms=%.4f max_ms=%.4f "
           "cpu_ms=%.4f windows=%d\n",
           B, T, med * 1e3, B / med, fl / med * 1e-9, mn * 1e3, mx * 1e3, cpu * 1e3, windows);
    fflush(stdout);
    ic_free(win);
    free_batch(&bb);
    ic_bert_state_free(&s);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 2, windows = 5, breakdown = 0;
    const char *what = "all";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            threads = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--what") == 0 && i + 1 < argc)
            what = argv[++i];
        else if (strcmp(argv[i], "--windows") == 0 && i + 1 < argc)
            windows = (int)strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--breakdown") == 0)
            breakdown = 1;
        else {
            fprintf(stderr, "usage: %s [--threads N] [--what train|infer|all] [--windows W] "
                            "[--breakdown]\n", argv[0]);
            return 2;
        }
    }
    if (windows < 1)
        windows = 1;
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
        fprintf(stderr, "bench_train: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 42);
    ic_bert_init_weights(&m, &r);
    printf("# ours: C, OpenBLAS sgemm + OpenMP, %d threads, bert-tiny (%zu params, 8 labels)\n",
           ic_get_threads(), m.num_params);
    int rc = 0;
    int do_train = strcmp(what, "all") == 0 || strcmp(what, "train") == 0;
    int do_infer = strcmp(what, "all") == 0 || strcmp(what, "infer") == 0;
    if (do_train) {
        rc |= bench_train(&m, 32, 32, windows, breakdown);
        rc |= bench_train(&m, 32, 64, windows, breakdown);
    }
    if (do_infer) {
        static const int S[3] = {16, 32, 64};
        for (int i = 0; i < 3; i++)
            rc |= bench_infer(&m, 1, S[i], windows);
        for (int i = 0; i < 3; i++)
            rc |= bench_infer(&m, 32, S[i], windows);
    }
    ic_bert_free(&m);
    return rc;
}
