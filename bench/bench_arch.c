/* SPDX-License-Identifier: Apache-2.0 */
/*
 * bench_arch.c - speed of one architecture of the encoder classifier at one
 * shape: a whole training step (zero_grad, forward with dropout, backward,
 * clip_grad_norm 1.0, linear schedule, AdamW) at batch 32, and inference
 * forwards (no grads, no dropout) at batch 1 and 32, all at sequence S.
 * bench/arch_ref.py measures the same in PyTorch with the Hugging Face
 * re-implementations of tools/gen_golden.py and prints the same lines
 * prefixed "ref"; bench/bench_archs.sh runs the two interleaved.
 *
 * The shape follows the architecture's real configuration: vocabulary 30522,
 * 512 positions and 2 token types (BERT, ELECTRA with embedding width =
 * hidden), RoBERTa pad id 1, 514 positions, 1 token type; DistilBERT no
 * token types. Training batches hold random ids padded to S with real
 * lengths in [S/4, S]; inference batches are all real tokens.
 * Each figure is the median over timed steps (training) or timed windows of
 * about 0.1 s (inference) after one warm-up.
 *
 * Run:  bench_arch --arch bert|roberta|distilbert|electra [--layers L]
 *       [--hidden H] [--heads NH] [--inter I] [--seq S] [--steps N]
 *       [--windows W] [--threads T] [--what train|infer|all]
 * Output, one line per figure:
 *   ours train b=32 s=16 ms=... min_ms=... max_ms=... steps=N
 *   ours infer b=1 s=16 ms=... min_ms=... max_ms=... windows=W
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/bert.h"
#include "intent/optim.h"

struct opts {
    const char *arch, *what;
    int layers, hidden, heads, inter, seq, steps, windows, threads;
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Sorts v; prints "ms=median min_ms= max_ms=". */
static void print_times(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    double med = n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
    printf("ms=%.4f min_ms=%.4f max_ms=%.4f", med * 1e3, v[0] * 1e3, v[n - 1] * 1e3);
}

struct batch_buf {
    int32_t *ids, *tt, *mask, *labels;
    struct ic_batch b;
};

static void make_batch(struct batch_buf *bb, int B, int T, int padded,
                       const struct ic_bert_config *c, struct ic_rng *r)
{
    bb->ids = ic_xcalloc((size_t)B * T, 4);
    bb->tt = ic_xcalloc((size_t)B * T, 4);
    bb->mask = ic_xcalloc((size_t)B * T, 4);
    bb->labels = ic_xcalloc((size_t)B, 4);
    int lo = c->pad_token_id + 1;
    for (int i = 0; i < B; i++) {
        int len = padded ? T / 4 + (int)ic_rng_below(r, (uint32_t)(T - T / 4 + 1)) : T;
        len = len < 1 ? 1 : len;
        for (int t = 0; t < T; t++) {
            int real = t < len;
            bb->ids[i * T + t] = real ? lo + (int32_t)ic_rng_below(r, (uint32_t)(c->vocab_size - lo))
                                      : c->pad_token_id;
            bb->mask[i * T + t] = real;
        }
        bb->labels[i] = (int32_t)ic_rng_below(r, (uint32_t)c->num_labels);
    }
    bb->b = (struct ic_batch){.B = B, .T = T, .ids = bb->ids, .type_ids = bb->tt,
                              .mask = bb->mask, .labels = bb->labels};
}

static void free_batch(struct batch_buf *bb)
{
    ic_free(bb->ids);
    ic_free(bb->tt);
    ic_free(bb->mask);
    ic_free(bb->labels);
}

static int train_step(struct ic_bert *m, struct ic_bert_state *s, struct ic_adamw *o,
                      const struct ic_batch *b, struct ic_rng *drop, float lr)
{
    ic_bert_zero_grad(s);
    if (ic_bert_forward(m, s, b, drop) || ic_bert_backward(m, s, b))
        return 1;
    float coef = ic_grad_clip_coef(ic_bert_grad_norm(s), 1.0f);
    ic_adamw_step_scaled(o, m, s->grads, lr, coef);
    return 0;
}

static int bench_train(struct ic_bert *m, int B, int T, int steps)
{
    struct ic_bert_state s;
    struct ic_adamw o;
    struct ic_err err;
    struct ic_adamw_params ap = ic_adamw_default_params();
    ap.weight_decay = 0.01f;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 1, &err) || ic_adamw_init(&o, m, &ap, &err)) {
        fprintf(stderr, "bench_arch: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r, drop;
    ic_rng_seed(&r, 1);
    ic_rng_seed(&drop, 2);
    struct batch_buf bb;
    make_batch(&bb, B, T, 1, &m->cfg, &r);
    double *t = ic_xcalloc((size_t)steps, sizeof *t);
    int rc = 0, total = steps + 1;
    for (int i = 0; i < total && !rc; i++) {
        double a = ic_time_now();
        rc = train_step(m, &s, &o, &bb.b, &drop, ic_lr_linear(i, 0, total, ap.lr));
        if (i > 0)
            t[i - 1] = ic_time_now() - a;
    }
    if (!rc) {
        printf("ours train b=%d s=%d ", B, T);
        print_times(t, steps);
        printf(" steps=%d loss=%.4f\n", steps, s.loss);
        fflush(stdout);
    }
    ic_free(t);
    free_batch(&bb);
    ic_adamw_free(&o);
    ic_bert_state_free(&s);
    return rc;
}

static int bench_infer(const struct ic_bert *m, int B, int T, int windows)
{
    struct ic_bert_state s;
    struct ic_err err;
    if (ic_bert_state_init(&s, &m->cfg, B, T, 0, &err)) {
        fprintf(stderr, "bench_arch: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 3);
    struct batch_buf bb;
    make_batch(&bb, B, T, 0, &m->cfg, &r);
    bb.b.labels = NULL;
    double *win = ic_xcalloc((size_t)windows, sizeof *win);
    int rc = ic_bert_forward(m, &s, &bb.b, NULL); /* warm-up and calibration */
    double t0 = ic_time_now();
    rc |= ic_bert_forward(m, &s, &bb.b, NULL);
    double one = ic_time_now() - t0;
    int n = one > 0.1 ? 1 : (int)(0.1 / (one + 1e-9)) + 1;
    for (int w = 0; w < windows && !rc; w++) {
        double a = ic_time_now();
        for (int i = 0; i < n && !rc; i++)
            rc = ic_bert_forward(m, &s, &bb.b, NULL);
        win[w] = (ic_time_now() - a) / n;
    }
    if (!rc) {
        printf("ours infer b=%d s=%d ", B, T);
        print_times(win, windows);
        printf(" windows=%d\n", windows);
        fflush(stdout);
    }
    ic_free(win);
    free_batch(&bb);
    ic_bert_state_free(&s);
    return rc;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    *o = (struct opts){"bert", "all", 6, 384, 12, 1536, 16, 2, 3, 2};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int *num = strcmp(a, "--layers") == 0    ? &o->layers
                   : strcmp(a, "--hidden") == 0  ? &o->hidden
                   : strcmp(a, "--heads") == 0   ? &o->heads
                   : strcmp(a, "--inter") == 0   ? &o->inter
                   : strcmp(a, "--seq") == 0     ? &o->seq
                   : strcmp(a, "--steps") == 0   ? &o->steps
                   : strcmp(a, "--windows") == 0 ? &o->windows
                   : strcmp(a, "--threads") == 0 ? &o->threads
                                                 : NULL;
        if (!v)
            return 1;
        if (num)
            *num = (int)strtol(v, NULL, 10);
        else if (strcmp(a, "--arch") == 0)
            o->arch = v;
        else if (strcmp(a, "--what") == 0)
            o->what = v;
        else
            return 1;
        i++;
    }
    return o->steps < 1 || o->windows < 1 || o->seq < 4 || o->seq > 512;
}

static int make_config(const struct opts *o, struct ic_bert_config *c, struct ic_err *err)
{
    ic_bert_config_default(c);
    if (ic_arch_parse(o->arch, &c->arch)) {
        fprintf(stderr, "bench_arch: --arch %s: supported: %s\n", o->arch, ic_arch_supported());
        return 1;
    }
    c->num_layers = o->layers;
    c->hidden_size = o->hidden;
    c->num_heads = o->heads;
    c->intermediate_size = o->inter;
    c->num_labels = 8;
    if (c->arch == IC_ARCH_ROBERTA) {
        c->pad_token_id = 1;
        c->max_position = 514;
        c->type_vocab_size = 1;
    }
    return ic_bert_config_check(c, err);
}

int main(int argc, char **argv)
{
    struct opts o;
    if (parse_args(argc, argv, &o)) {
        fprintf(stderr, "usage: %s --arch bert|roberta|distilbert|electra [--layers L] "
                        "[--hidden H] [--heads NH] [--inter I] [--seq S] [--steps N] "
                        "[--windows W] [--threads T] [--what train|infer|all]\n", argv[0]);
        return 2;
    }
    ic_set_threads(o.threads);
    struct ic_bert_config c;
    struct ic_bert m;
    struct ic_err err = {0};
    if (make_config(&o, &c, &err) || ic_bert_init(&m, &c, &err)) {
        fprintf(stderr, "bench_arch: %s\n", err.msg);
        return 1;
    }
    struct ic_rng r;
    ic_rng_seed(&r, 42);
    ic_bert_init_weights(&m, &r);
    printf("# ours: C, OpenBLAS sgemm + OpenMP, %d threads, %s %dx%d (%zu params, 8 labels)\n",
           ic_get_threads(), o.arch, o.layers, o.hidden, m.num_params);
    int rc = 0;
    if (strcmp(o.what, "infer") != 0)
        rc |= bench_train(&m, 32, o.seq, o.steps);
    if (strcmp(o.what, "train") != 0) {
        rc |= bench_infer(&m, 1, o.seq, o.windows);
        rc |= bench_infer(&m, 32, o.seq, o.windows);
    }
    ic_bert_free(&m);
    return rc;
}
