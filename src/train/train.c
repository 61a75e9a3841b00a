/* SPDX-License-Identifier: Apache-2.0 */
/*
 * train.c - the training job: data -> base model (pretrained or from
 * scratch) -> Trainer-style loop -> best model saved with its evaluation
 * report, the run tracked in MLflow.
 *
 * Everything a step needs (model state for batch_size x longest text,
 * batch buffers, the best-parameters copy) is allocated before the first
 * step; a step itself allocates nothing. Randomness comes from three ic_rng
 * streams derived from the seed (initialisation, shuffling, dropout), so the
 * same seed and thread count give the same model bit for bit.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intent/bert.h"
#include "intent/calib.h"
#include "intent/hub.h"
#include "intent/model.h"
#include "intent/optim.h"
#include "intent/report.h"
#include "intent/tokenizer.h"
#include "intent/track.h"
#include "intent/train.h"
#include "train/train_int.h"
#include "hub/hub_int.h" /* hub_sha256_file */
#include "track/track_int.h" /* ic__sysmon: every rank's system metrics */
#include "train/dist.h"
#include "train/resume.h"

// --- encoding ---------------------------------------------------------------

void ic_encoded_free(struct ic_encoded *e)
{
    if (!e)
        return;
    ic_free(e->ids);
    ic_free(e->off);
    ic_free(e->len);
    ic_free(e->label);
    memset(e, 0, sizeof *e);
}

int ic_encode(const struct ic_model *m, const struct ic_dataset *d, const uint32_t *idx,
              size_t n_idx, int max_length, struct ic_encoded *out, struct ic_err *err)
{
    memset(out, 0, sizeof *out);
    if (!idx)
        n_idx = d->n;
    if (max_length < 2)
        return ic_errf(err, IC_ERR_INVAL, "max_length %d is below 2", max_length);
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    int32_t *tmp = ic_xmalloc((size_t)max_length * sizeof *tmp);
    size_t cap = n_idx * 16 + 16, used = 0;
    out->ids = ic_xmalloc(cap * sizeof *out->ids);
    out->off = ic_xmalloc((n_idx ? n_idx : 1) * sizeof *out->off);
    out->len = ic_xmalloc((n_idx ? n_idx : 1) * sizeof *out->len);
    out->label = ic_xmalloc((n_idx ? n_idx : 1) * sizeof *out->label);
    int rc = IC_OK;
    for (size_t i = 0; i < n_idx; i++) {
        const struct ic_example *e = &d->ex[idx ? idx[i] : i];
        int n = 0;
        rc = ic_tokenizer_encode(&m->tok, &w, e->text, strlen(e->text), max_length, tmp, &n, err);
        if (rc != IC_OK) {
            ic_err_prefix(err, "%s: record %d", d->path, e->record);
            break;
        }
        if (used + (size_t)n > cap) {
            cap = (used + (size_t)n) * 2;
            out->ids = ic_xrealloc(out->ids, cap * sizeof *out->ids);
        }
        memcpy(out->ids + used, tmp, (size_t)n * sizeof *tmp);
        out->off[i] = used;
        out->len[i] = n;
        out->label[i] = e->label;
        used += (size_t)n;
        if (n > out->max_len)
            out->max_len = n;
        out->n = i + 1;
    }
    ic_free(tmp);
    ic_tok_work_free(&w);
    if (rc != IC_OK)
        ic_encoded_free(out);
    return rc;
}

/* Packs sequences sel[0..B) of e into ids/mask (B, T), T = longest. */
int ic__pack_batch(const struct ic_encoded *e, const uint32_t *sel, int B, int pad_id,
                   int32_t *ids, int32_t *mask, int32_t *labels)
{
    int T = 2;
    for (int b = 0; b < B; b++)
        if (e->len[sel[b]] > T)
            T = e->len[sel[b]];
    for (int b = 0; b < B; b++) {
        size_t k = sel[b];
        int n = e->len[k];
        memcpy(ids + (size_t)b * T, e->ids + e->off[k], (size_t)n * sizeof *ids);
        for (int t = 0; t < n; t++)
            mask[(size_t)b * T + t] = 1;
        for (int t = n; t < T; t++) {
            ids[(size_t)b * T + t] = pad_id;
            mask[(size_t)b * T + t] = 0;
        }
        labels[b] = e->label[k];
    }
    return T;
}

/* Cross-entropy of one row of logits against label, in double. */
static double row_loss(const float *logits, int N, int label, int *argmax)
{
    double mx = logits[0];
    int am = 0;
    for (int j = 1; j < N; j++)
        if (logits[j] > mx) {
            mx = logits[j];
            am = j;
        }
    double s = 0;
    for (int j = 0; j < N; j++)
        s += exp((double)logits[j] - mx);
    *argmax = am;
    return log(s) + mx - (double)logits[label];
}

/* Called by for_each_batch after the forward of rows first..first+B of e:
 * s holds their logits and features, labels their labels. */
typedef int (*batch_fn)(const struct ic_bert_state *s, size_t first, int B,
                        const int32_t *labels, void *ud);

/* Runs m over e in order, batch_size rows at a time (no dropout), calling fn
 * after every forward. s may be NULL (a state is allocated for the pass);
 * with_labels hands the labels to the forward (it then computes the loss);
 * what names the pass in an error message. Stops at the first failure. */
static int for_each_batch(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                          struct ic_bert_state *s, int with_labels, const char *what,
                          batch_fn fn, void *ud, struct ic_err *err)
{
    if (e->n == 0)
        return IC_OK;
    struct ic_bert_state own;
    memset(&own, 0, sizeof own);
    int T = e->max_len < 2 ? 2 : e->max_len, rc;
    if (!s) {
        rc = ic_bert_state_init(&own, &m->bert.cfg, batch_size, T, 0, err);
        if (rc != IC_OK)
            return rc;
        own.prep = m->prep; /* the model's precision (ic_model_set_precision) */
        s = &own;
    }
    IC_ASSERT(s->max_batch >= 1 && s->max_seq >= T);
    if (batch_size > s->max_batch)
        batch_size = s->max_batch;
    size_t cap = (size_t)batch_size * (size_t)T;
    int32_t *ids = ic_xmalloc(cap * sizeof *ids), *mask = ic_xmalloc(cap * sizeof *mask);
    int32_t *labels = ic_xmalloc((size_t)batch_size * sizeof *labels);
    uint32_t *sel = ic_xmalloc((size_t)batch_size * sizeof *sel);
    int pad = m->tok.pad_id >= 0 ? m->tok.pad_id : 0;
    rc = IC_OK;
    for (size_t i = 0; i < e->n && rc == IC_OK; i += (size_t)batch_size) {
        int B = (int)(e->n - i < (size_t)batch_size ? e->n - i : (size_t)batch_size);
        for (int b = 0; b < B; b++)
            sel[b] = (uint32_t)(i + (size_t)b);
        int Tb = ic__pack_batch(e, sel, B, pad, ids, mask, labels);
        struct ic_batch batch = {B, Tb, ids, NULL, mask, with_labels ? labels : NULL, NULL};
        rc = ic_bert_forward(&m->bert, s, &batch, NULL);
        if (rc != IC_OK)
            ic_errf(err, rc, "%s failed: %s", what, ic_status_str(rc));
        else
            rc = fn(s, i, B, labels, ud);
    }
    ic_free(ids);
    ic_free(mask);
    ic_free(labels);
    ic_free(sel);
    if (s == &own)
        ic_bert_state_free(&own);
    return rc;
}

/* ic_evaluate's batch: each row's loss and prediction into the metrics. */
static int add_batch_metrics(const struct ic_bert_state *s, size_t first, int B,
                             const int32_t *labels, void *ud)
{
    struct ic_metrics *out = ud;
    int N = out->n_labels;
    (void)first;
    for (int b = 0; b < B; b++) {
        int am;
        double l = row_loss(s->logits + (size_t)b * N, N, labels[b], &am);
        ic_metrics_add(out, labels[b], am, l);
    }
    return IC_OK;
}

int ic_evaluate(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                struct ic_bert_state *s, struct ic_metrics *out, struct ic_err *err)
{
    ic_metrics_init(out, m->bert.cfg.num_labels);
    if (e->n == 0)
        return IC_OK;
    int rc = for_each_batch(m, e, batch_size, s, 1, "evaluation forward", add_batch_metrics, out,
                            err);
    ic_metrics_finish(out);
    return rc;
}

struct collect {
    float *logits, *feats; /* (n, N), (n, H) or NULL */
    size_t N, H;
};

/* ic_forward_collect's batch: copies the logits and features out. */
static int copy_batch(const struct ic_bert_state *s, size_t first, int B, const int32_t *labels,
                      void *ud)
{
    const struct collect *c = ud;
    (void)labels;
    if (c->logits)
        memcpy(c->logits + first * c->N, s->logits, (size_t)B * c->N * sizeof *c->logits);
    if (c->feats)
        memcpy(c->feats + first * c->H, s->features, (size_t)B * c->H * sizeof *c->feats);
    return IC_OK;
}

int ic_forward_collect(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                       struct ic_bert_state *s, float *logits, float *feats, struct ic_err *err)
{
    struct collect c = {logits, feats, (size_t)m->bert.cfg.num_labels,
                        (size_t)m->bert.cfg.hidden_size};
    return for_each_batch(m, e, batch_size, s, 0, "forward pass", copy_batch, &c, err);
}

// --- the job ----------------------------------------------------------------
/*
 * ic_train_run is the outline of the job, read top to bottom as llm.c's main:
 * each phase is a static function below, in the order it runs, on one
 * caller-owned struct train_run. A phase returns a status; whatever it
 * allocated stays in the run and run_end releases it, so a failing phase
 * needs no clean-up of its own. Where things belong:
 *   prepare_data        load, split (or load eval_data), index lists
 *   resolve_base_model  pick and create the model: pretrained checkpoint or
 *                       from scratch (the architecture choice lives here)
 *   allocate            tokenise, activations, optimizer, step buffers,
 *                       the schedule's step counts
 *   log_params          start the tracked run, log params, tags and the
 *                       data files as dataset inputs
 *   resume_load         the epoch checkpoint, with --resume
 *   train_epoch         one pass: order, then train_step per batch
 *   train_step          this rank's shard: forward, backward; the gradient
 *                       sum over ranks (reduce_grads), clip, AdamW, log
 *   epoch_end           rank 0: evaluate_select (evaluation, best-epoch
 *                       copy, early stop); every rank: the weights check,
 *                       the epoch checkpoint
 *   final_metrics       restore the best epoch, the metrics reported
 *   save_model          eval_report.json, the saved model, artifacts
 */

struct train_run {
    /* arguments of ic_train_run (borrowed) */
    const struct ic_config *c;
    const volatile sig_atomic_t *stop;
    ic_train_cb cb;
    void *ud;
    struct ic_train_result *res;
    struct ic_err *err;
    const char *best_name;         /* metric_for_best_model, "eval_" stripped */
    int greater;                   /* 1: a larger best_name is better */
    struct ic_rng rng_init, rng_shuffle, rng_drop;
    enum ic_run_status status;     /* what the tracked run ends as */

    /* prepare_data */
    struct ic_dataset d;           /* training data; its labels are the model's */
    struct ic_dataset de;          /* eval_data, when given */
    const struct ic_dataset *evd;  /* &d (split) or &de */
    uint32_t *tr, *ev;             /* (ntr) indices into d, (nev) into *evd */
    size_t ntr, nev;

    /* resolve_base_model */
    struct ic_model model;
    char *base_dir;                /* resolved pretrained directory; NULL from scratch */
    int max_len;                   /* max_length capped by the model's positions */

    /* allocate */
    struct ic_encoded etr, eev;    /* tokenised train / eval sets */
    int B;                         /* batch size */
    struct ic_bert_state st;       /* activations and grads for B x longest text */
    struct ic_adamw opt;
    int32_t *bids, *bmask, *blab;  /* (B, Tmax), (B, Tmax), (B): one step's batch */
    uint32_t *order;               /* (ntr) this epoch's order of tr */
    float *best_params;            /* (num_params) weights of the best epoch */
    int64_t steps_per_epoch, total_steps, warmup_steps;

    /* log_params */
    struct ic_tracker *trk;        /* NULL with tracking off */

    /* the loop */
    struct ic_train_event evt;     /* the last event sent (END repeats its fields) */
    int64_t step;                  /* optimizer steps done */
    int stopped;                   /* *stop was seen */
    double t_start, t_log;         /* run start; last progress log (eval time excluded) */
    double loss_acc;               /* train loss summed since the last log */
    int64_t steps_log, ex_log, ex_total; /* steps / examples since the last log, in all */

    /* multi-process training (dist.h): rank 0 of 1 without mpirun */
    int rank, nproc;
    int stop_seen;                 /* a rank asked to stop (agreed in reduce_grads) */
    double t_compute, t_reduce;    /* seconds in forward/backward/update, in the reduction */
    struct ic__sysmon *sysmon;     /* this rank's system metrics (nproc > 1) */
    char *ckpt_path;               /* <output>.ckpt when epoch checkpoints are on */
    int first_epoch;               /* 1, or the one after the resumed checkpoint */

    /* evaluate_select, final_metrics, calibrate */
    struct ic_metrics cur, best;   /* this epoch's evaluation; the best one */
    char *calib_report;            /* JSON members for eval_report.json, or NULL */
    struct ic_epoch_stat *hist;    /* (epochs) one row per epoch trained, for the report */
    int n_hist;
    double ep_loss;                /* training loss summed over this epoch's steps */
    int64_t ep_steps;
    int have_best, bad_evals;
    int pretrained;                /* from scratch, masked-LM pretrained first */
    double pretrain_loss;          /* its last epoch's loss */
    double best_val;
    const char *split;             /* what best was measured on */
};

void ic_train_result_free(struct ic_train_result *r)
{
    if (!r)
        return;
    ic_free(r->base_model);
    ic_free(r->report_json);
    ic_free(r->output);
    ic_free(r->run_id);
    ic_free(r->run_where);
    memset(r, 0, sizeof *r);
}

static void emit(ic_train_cb cb, void *ud, struct ic_train_event *ev)
{
    if (cb)
        cb(ev, ud);
}

static void log_param_int(struct ic_tracker *t, const char *k, long long v)
{
    char b[32];
    snprintf(b, sizeof b, "%lld", v);
    ic_tracker_log_param(t, k, b);
}

static char *json_escape(const char *s)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    if (ic_buf_json_str(&b, s ? s : "", s ? strlen(s) : 0) != IC_OK)
        return ic_xstrdup("\"\"");
    return ic_buf_take(&b);
}

static int stop_requested(const struct train_run *r)
{
    return r->stop && *r->stop;
}

static const char *eval_split_name(const struct train_run *r)
{
    return r->evd == &r->de ? "eval_data" : "eval_split";
}

/* Zeroes the run, checks the configuration, seeds the three streams. */
static int run_init(struct train_run *r, const struct ic_config *c,
                    const volatile sig_atomic_t *stop, ic_train_cb cb, void *ud,
                    struct ic_train_result *res, struct ic_err *err)
{
    memset(r, 0, sizeof *r);
    memset(res, 0, sizeof *res);
    ic_model_init(&r->model);
    r->c = c;
    r->stop = stop;
    r->cb = cb;
    r->ud = ud;
    r->res = res;
    r->err = err;
    r->evd = &r->d;
    r->status = IC_RUN_FAILED;
    r->first_epoch = 1;
    int rc = ic_config_check(c, err);
    if (rc != IC_OK)
        return rc;
    rc = ic__dist_init(c->dist_timeout, err);
    if (rc != IC_OK)
        return rc;
    r->rank = ic__dist_rank();
    r->nproc = ic__dist_size();
    if (r->rank > 0) { /* rank 0 speaks for the job */
        r->cb = NULL;
        ic_log_set_level(IC_LOG_WARN);
    }
    rc = ic_config_best_metric(c->metric_for_best_model, &r->best_name, &r->greater);
    IC_ASSERT(rc == IC_OK);
    ic_set_threads(c->threads);
    ic_rng_seed(&r->rng_init, (uint64_t)c->seed);
    ic_rng_seed(&r->rng_shuffle, (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + 1);
    ic_rng_seed(&r->rng_drop, (uint64_t)c->seed * 0xD1B54A32D192ED03ull + 2);
    return IC_OK;
}

static uint32_t *iota_u32(size_t n)
{
    uint32_t *v = ic_xmalloc((n ? n : 1) * sizeof *v);
    for (size_t i = 0; i < n; i++)
        v[i] = (uint32_t)i;
    return v;
}

static int has_label(const struct ic_dataset *d, const char *name)
{
    for (int i = 0; i < d->n_labels; i++)
        if (!strcmp(d->labels[i], name))
            return 1;
    return 0;
}

/* Loads the data; the eval set is eval_data when given, else a stratified
 * split of the training data. */
static int prepare_data(struct train_run *r)
{
    const struct ic_config *c = r->c;
    int rc = ic_dataset_load(&r->d, c->data, r->err);
    if (rc != IC_OK)
        return rc;
    if (c->eval_data && *c->eval_data) {
        rc = ic_dataset_load_with_labels(&r->de, c->eval_data, (const char *const *)r->d.labels,
                                         r->d.n_labels, r->err);
        if (rc != IC_OK)
            return rc;
        r->ntr = r->d.n;
        r->tr = iota_u32(r->ntr);
        r->nev = r->de.n;
        r->ev = iota_u32(r->nev);
        r->evd = &r->de;
    } else {
        rc = ic_dataset_split(&r->d, c->eval_fraction, (uint64_t)c->seed, &r->tr, &r->ntr,
                              &r->ev, &r->nev, r->err);
        if (rc != IC_OK)
            return rc;
    }
    if (r->ntr == 0)
        return ic_errf(r->err, IC_ERR_INVAL, "%s: no training examples left after the split",
                       c->data);
    if (c->oos_label && *c->oos_label && !has_label(&r->d, c->oos_label))
        return ic_errf(r->err, IC_ERR_INVAL, "oos_label: \"%s\" is not an intent of %s "
                       "(%d intents)", c->oos_label, c->data, r->d.n_labels);
    ic_log(IC_LOG_INFO, "data: %s: %zu examples, %d intents; %zu train, %zu eval%s%s", c->data,
           r->d.n, r->d.n_labels, r->ntr, r->nev, r->evd == &r->de ? " from " : "",
           r->evd == &r->de ? c->eval_data : "");
    return IC_OK;
}

/* Builds a randomly initialised model of architecture c->arch with a
 * vocabulary trained on texts (RoBERTa: byte-level BPE, others WordPiece):
 * a classifier for labels[n_labels], or (mlm) a masked-LM model. */
int ic__build_scratch(struct ic_model *model, const struct ic_config *c, const char *const *texts,
                      size_t ntr, const char *const *labels, int n_labels, int mlm,
                      struct ic_rng *rng, struct ic_err *err)
{
    struct ic_bert_config bc;
    ic_bert_config_default(&bc);
    if (ic_arch_parse(c->arch, &bc.arch) != IC_OK)
        return ic_errf(err, IC_ERR_INVAL, "arch: unknown architecture \"%s\"", c->arch);
    size_t nv = (size_t)c->scratch_vocab_size;
    int rc;
    if (bc.arch == IC_ARCH_ROBERTA)
        rc = ic_vocab_train_bpe(texts, ntr, nv < 300 ? 300 : nv, 0, &model->tok,
                                err);
    else
        rc = ic_vocab_train(texts, ntr, nv, NULL, &model->tok, err);
    if (rc != IC_OK)
        return ic_err_prefix(err, "training a vocabulary");
    bc.vocab_size = (int)ic_tokenizer_vocab_size(&model->tok);
    bc.hidden_size = c->scratch_hidden_size;
    bc.num_layers = c->scratch_layers;
    bc.num_heads = c->scratch_heads;
    bc.intermediate_size = c->scratch_intermediate_size;
    bc.num_labels = n_labels;
    bc.mlm_head = mlm;
    bc.pad_token_id = model->tok.pad_id >= 0 ? model->tok.pad_id : 0;
    bc.max_position = c->max_length > 512 ? c->max_length : 512;
    if (ic_arch_get(bc.arch)->pad_positions) /* RoBERTa: positions start at pad + 1 */
        bc.max_position += bc.pad_token_id + 1;
    if (bc.arch == IC_ARCH_ROBERTA)
        bc.type_vocab_size = 1;
    rc = ic_bert_config_check(&bc, err);
    if (rc != IC_OK)
        return rc;
    rc = ic_bert_init(&model->bert, &bc, err);
    if (rc != IC_OK)
        return rc;
    ic_bert_init_weights(&model->bert, rng);
    ic_model_set_labels(model, labels, n_labels);
    model->base_model = NULL;
    model->from_scratch = 1;
    return IC_OK;
}

/* The pretrained checkpoint in dir with a head for the data's labels. */
static int load_pretrained(struct train_run *r, const char *dir)
{
    int rc = ic_model_load_pretrained(&r->model, dir, r->d.n_labels,
                                      (const char *const *)r->d.labels, &r->rng_init, r->err);
    if (rc != IC_OK)
        return rc;
    ic_free(r->model.base_model);
    r->model.base_model = ic_xstrdup(r->c->model_name);
    r->model.from_scratch = 0;
    r->res->base_model = ic_xstrdup(dir);
    return IC_OK;
}

/* From scratch with pretrain: the masked-LM encoder pretrained on the
 * training texts (docs/pretraining.md) with a new head for the labels. */
static int pretrained_scratch(struct train_run *r, const char *const *texts)
{
    char *dir = ic_xasprintf("%s.pretrain.%ld", r->c->output, (long)getpid());
    int rc = ic__pretrain_texts(r->c, texts, r->ntr, dir, r->stop, r->cb, r->ud,
                                &r->pretrain_loss, r->err);
    if (rc == IC_OK)
        rc = ic_model_load_pretrained(&r->model, dir, r->d.n_labels,
                                      (const char *const *)r->d.labels, &r->rng_init, r->err);
    ic_rmtree(dir);
    ic_free(dir);
    if (rc != IC_OK)
        return rc == IC_ERR_INTERRUPTED ? ic_errf(r->err, rc, "interrupted while pretraining; "
                                                  "nothing saved") : rc;
    ic_free(r->model.base_model);
    r->model.base_model = NULL;
    r->model.from_scratch = 1;
    r->pretrained = 1;
    return IC_OK;
}

/* A new model from the training texts when no checkpoint can be had. */
static int from_scratch(struct train_run *r, int why, const char *why_msg)
{
    const struct ic_config *c = r->c;
    if (c->require_pretrained)
        return ic_errf(r->err, why, "base model \"%s\" cannot be had (%s) and "
                       "require_pretrained is set", c->model_name, why_msg);
    ic_log(IC_LOG_WARN, "no pretrained \"%s\" (%s): training from scratch "
           "(%s, %d layers, hidden %d, a %s vocabulary from the training texts)",
           c->model_name, why_msg, c->arch, c->scratch_layers, c->scratch_hidden_size,
           strcmp(c->arch, "roberta") == 0 ? "byte-level BPE" : "WordPiece");
    const char **texts = ic_xmalloc((r->ntr ? r->ntr : 1) * sizeof *texts);
    for (size_t i = 0; i < r->ntr; i++)
        texts[i] = r->d.ex[r->tr[i]].text;
    int rc;
    if (c->pretrain && strcmp(c->arch, "electra") != 0)
        rc = pretrained_scratch(r, texts);
    else
        rc = ic__build_scratch(&r->model, c, texts, r->ntr, (const char *const *)r->d.labels,
                               r->d.n_labels, 0, &r->rng_init, r->err);
    ic_free(texts);
    if (rc != IC_OK)
        return rc;
    r->res->from_scratch = 1;
    r->res->base_model = ic_xstrdup("scratch");
    return IC_OK;
}

/* The configuration's overrides of the model's own settings. */
static void apply_model_overrides(struct train_run *r)
{
    const struct ic_config *c = r->c;
    if (c->dropout >= 0)
        r->model.bert.cfg.hidden_dropout = (float)c->dropout;
    if (c->attention_dropout >= 0)
        r->model.bert.cfg.attention_dropout = (float)c->attention_dropout;
    r->max_len = c->max_length;
    if (r->max_len > ic_bert_max_seq(&r->model.bert.cfg))
        r->max_len = ic_bert_max_seq(&r->model.bert.cfg);
    r->model.max_length = r->max_len;
}

/* model_name through the Hub resolver (cache, local directory, download):
 * a checkpoint when one can be had, else from scratch (unless
 * require_pretrained); any other failure (corrupt download, ...) stops. */
static int resolve_base_model(struct train_run *r)
{
    struct ic_hub_opts ho;
    ic_hub_default_opts(&ho);
    struct ic_err herr;
    ic_err_clear(&herr);
    int rc;
    int hrc = ic_hub_resolve(r->c->model_name, &ho, &r->base_dir, &herr);
    if (hrc == IC_OK)
        rc = load_pretrained(r, r->base_dir);
    else if (hrc == IC_ERR_NOTFOUND || hrc == IC_ERR_NET)
        rc = from_scratch(r, hrc, herr.msg);
    else
        rc = ic_errf(r->err, hrc, "base model \"%s\": %s", r->c->model_name, herr.msg);
    if (rc == IC_OK)
        apply_model_overrides(r);
    return rc;
}

/* Everything a step needs, so that a step allocates nothing. */
static int allocate(struct train_run *r)
{
    const struct ic_config *c = r->c;
    int rc = ic_encode(&r->model, &r->d, r->tr, r->ntr, r->max_len, &r->etr, r->err);
    if (rc != IC_OK)
        return rc;
    if (r->nev > 0) {
        rc = ic_encode(&r->model, r->evd, r->ev, r->nev, r->max_len, &r->eev, r->err);
        if (rc != IC_OK)
            return rc;
    }
    int B = r->B = c->batch_size;
    int Tmax = r->etr.max_len > r->eev.max_len ? r->etr.max_len : r->eev.max_len;
    if (Tmax < 2)
        Tmax = 2;
    rc = ic_bert_state_init(&r->st, &r->model.bert.cfg, B, Tmax, 1, r->err);
    if (rc != IC_OK)
        return rc;
    struct ic_adamw_params ap = ic_adamw_default_params();
    ap.lr = (float)c->learning_rate;
    ap.weight_decay = (float)c->weight_decay;
    rc = ic_adamw_init(&r->opt, &r->model.bert, &ap, r->err);
    if (rc != IC_OK)
        return rc;
    r->bids = ic_xmalloc((size_t)B * Tmax * sizeof *r->bids);
    r->bmask = ic_xmalloc((size_t)B * Tmax * sizeof *r->bmask);
    r->blab = ic_xmalloc((size_t)B * sizeof *r->blab);
    r->order = ic_xmalloc(r->ntr * sizeof *r->order);
    r->hist = ic_xcalloc((size_t)r->c->epochs, sizeof *r->hist);
    r->best_params = ic_alloc_aligned(r->model.bert.num_params * sizeof(float));
    ic_metrics_init(&r->best, r->d.n_labels);

    r->steps_per_epoch = (int64_t)((r->ntr + (size_t)B - 1) / (size_t)B);
    r->total_steps = r->steps_per_epoch * c->epochs;
    r->warmup_steps = c->warmup_steps > 0 ? c->warmup_steps
                                          : (int64_t)ceil(c->warmup_ratio * (double)r->total_steps);
    r->res->n_train = r->ntr;
    r->res->n_eval = r->nev;
    r->res->n_labels = r->d.n_labels;
    if (r->nproc == 1)
        return IC_OK;
    r->sysmon = ic__sysmon_new();
    /* every rank starts from rank 0's weights (a head initialised or a
     * checkpoint downloaded elsewhere could differ) */
    return ic__dist_bcast(r->model.bert.params, r->model.bert.num_params * sizeof(float), r->err);
}

/* A data file as an MLflow dataset input: its absolute path (source
 * {"uri": ...}, source_type "local"), its SHA-256 (digest: the first 32 hex
 * digits, MLflow allows 36; the whole hash in the profile) and the columns. */
void ic__log_dataset(struct ic_tracker *t, const struct ic_dataset *d, const char *context)
{
    char sha[65];
    if (hub_sha256_file(d->path, sha) != 0) {
        ic_log(IC_LOG_WARN, "tracking: %s: cannot read it to hash it; not logged as a "
               "dataset input", d->path);
        return;
    }
    char *abs = realpath(d->path, NULL);
    const char *path = abs ? abs : d->path;
    const char *base = strrchr(path, '/');
    char *juri = json_escape(path);
    char *source = ic_xasprintf("{\"uri\": %s}", juri);
    char *profile = ic_xasprintf("{\"num_rows\": %zu, \"num_intents\": %d, \"sha256\": \"%s\"}",
                                 d->n, d->n_labels, sha);
    char digest[33];
    memcpy(digest, sha, 32);
    digest[32] = 0;
    struct ic_tracker_dataset ds = {
        .name = base && base[1] ? base + 1 : path,
        .digest = digest,
        .source_type = "local",
        .source = source,
        .schema = "{\"mlflow_colspec\": [{\"type\": \"string\", \"name\": \"text\", "
                  "\"required\": true}, {\"type\": \"string\", \"name\": \"intent\", "
                  "\"required\": true}]}",
        .profile = profile,
        .context = context,
    };
    ic_tracker_log_input(t, &ds);
    ic_free(profile);
    ic_free(source);
    ic_free(juri);
    free(abs);
}

/* Starts the tracked run; every configuration key and the derived sizes
 * become params. */
static int log_params(struct train_run *r)
{
    const struct ic_config *c = r->c;
    struct ic_tracker_opts to;
    ic_tracker_default_opts(&to);
    to.enabled = c->tracking && r->rank == 0;
    to.tracking_uri = *c->tracking_uri ? c->tracking_uri : NULL;
    to.experiment_name = *c->experiment_name ? c->experiment_name : NULL;
    to.run_name = *c->run_name ? c->run_name : NULL;
    to.system_metrics_interval_s = c->system_metrics_interval;
    to.source_name = "intent train";
    to.source_path = c->data; /* the data's checkout, else the current directory's */
    int rc = ic_tracker_start(&r->trk, &to, r->err);
    if (rc != IC_OK)
        return ic_err_prefix(r->err, "tracking");
    struct ic_tracker *t = r->trk;
    size_t nk;
    ic_config_keys(&nk);
    const struct ic_config_key *ks = ic_config_keys(NULL);
    for (size_t i = 0; i < nk; i++) {
        char *v = ic_config_value_str(c, i);
        ic_tracker_log_param(t, ks[i].name, v);
        ic_free(v);
    }
    const char *scratch = r->res->from_scratch ? "true" : "false";
    log_param_int(t, "num_examples", (long long)r->d.n);
    log_param_int(t, "num_train_examples", (long long)r->ntr);
    log_param_int(t, "num_eval_examples", (long long)r->nev);
    log_param_int(t, "num_intents", r->d.n_labels);
    ic_tracker_log_param(t, "from_scratch", scratch);
    ic_tracker_log_param(t, "base_model_resolved", r->res->base_model);
    log_param_int(t, "total_steps", r->total_steps);
    log_param_int(t, "warmup_steps_effective", r->warmup_steps);
    log_param_int(t, "vocab_size", r->model.bert.cfg.vocab_size);
    log_param_int(t, "hidden_size", r->model.bert.cfg.hidden_size);
    log_param_int(t, "num_hidden_layers", r->model.bert.cfg.num_layers);
    log_param_int(t, "num_parameters", (long long)r->model.bert.num_params);
    ic_tracker_set_tag(t, "intent.from_scratch", scratch);
    if (r->pretrained) {
        char pl[32];
        snprintf(pl, sizeof pl, "%.6g", r->pretrain_loss);
        ic_tracker_log_param(t, "pretrain_last_epoch_loss", pl);
    }
    if (r->nproc > 1) { /* MPI processes; their system metrics are system/rank<r>/... */
        char np[16];
        snprintf(np, sizeof np, "%d", r->nproc);
        ic_tracker_log_param(t, "num_processes", np);
        ic_tracker_set_tag(t, "intent.processes", np);
    }
    if (t) {
        ic__log_dataset(t, &r->d, "training");
        if (r->evd == &r->de)
            ic__log_dataset(t, &r->de, "evaluation");
    }
    return IC_OK;
}

static void loop_begin(struct train_run *r)
{
    memset(&r->evt, 0, sizeof r->evt);
    r->evt.kind = IC_TRAIN_EV_BEGIN;
    r->evt.total_steps = r->total_steps;
    r->evt.epochs = r->c->epochs;
    r->evt.n_train = r->ntr;
    r->evt.n_eval = r->nev;
    emit(r->cb, r->ud, &r->evt);
    for (size_t i = 0; i < r->ntr; i++)
        r->order[i] = (uint32_t)i;
    r->t_start = r->t_log = ic_time_now();
}

/* This epoch's order: a seeded shuffle; with group_by_length, mega-batches
 * of 50 batches sorted by length (longest first), batches in random order
 * within them (as Hugging Face's group_by_length). */
static void epoch_order(struct train_run *r)
{
    uint32_t *order = r->order;
    size_t ntr = r->ntr;
    ic_rng_shuffle_u32(&r->rng_shuffle, order, ntr);
    if (!r->c->group_by_length)
        return;
    size_t mb = (size_t)r->B * 50;
    for (size_t a = 0; a < ntr; a += mb) {
        size_t n = ntr - a < mb ? ntr - a : mb;
        /* insertion sort by length descending: stable, no allocation */
        for (size_t x = a + 1; x < a + n; x++) {
            uint32_t v = order[x];
            size_t y = x;
            while (y > a && r->etr.len[order[y - 1]] < r->etr.len[v]) {
                order[y] = order[y - 1];
                y--;
            }
            order[y] = v;
        }
    }
}

/* The system metrics every rank gathers to rank 0 at a log step. */
static const char *const k_rank_metrics[] = {
    "cpu_utilization_percentage", "system_memory_usage_megabytes",
    "system_memory_usage_percentage", "network_receive_megabytes", "network_transmit_megabytes",
};
#define N_RANK_METRICS (sizeof k_rank_metrics / sizeof k_rank_metrics[0])

/* With several processes: each rank samples its own system metrics and
 * rank 0 logs them as system/rank<r>/<name> (MLflow's per-node naming). */
static int log_rank_metrics(struct train_run *r)
{
    if (r->nproc == 1)
        return IC_OK;
    const char *names[64];
    double vals[64], mine[N_RANK_METRICS];
    size_t n = r->sysmon ? ic__sysmon_sample(r->sysmon, names, vals, 64) : 0;
    for (size_t k = 0; k < N_RANK_METRICS; k++) {
        mine[k] = NAN;
        for (size_t i = 0; i < n; i++)
            if (!strncmp(names[i], "system/", 7) && !strcmp(names[i] + 7, k_rank_metrics[k]))
                mine[k] = vals[i];
    }
    double *all = r->rank == 0 ? ic_xmalloc((size_t)r->nproc * sizeof mine) : NULL;
    int rc = ic__dist_gather_f64(mine, N_RANK_METRICS, all, r->err);
    for (int q = 0; rc == IC_OK && all && q < r->nproc; q++)
        for (size_t k = 0; k < N_RANK_METRICS; k++) {
            char key[128];
            snprintf(key, sizeof key, "system/rank%d/%s", q, k_rank_metrics[k]);
            if (!isnan(all[(size_t)q * N_RANK_METRICS + k]))
                ic_tracker_log_metric(r->trk, key, all[(size_t)q * N_RANK_METRICS + k], r->step);
        }
    ic_free(all);
    return rc;
}

/* Every logging_steps steps: the mean loss and the speed since the last
 * log, to the callback and the tracker. */
static void log_progress(struct train_run *r, float lr, float gnorm, double epf)
{
    struct ic_train_event *evt = &r->evt;
    struct ic_tracker *t = r->trk;
    double now = ic_time_now();
    evt->kind = IC_TRAIN_EV_LOG;
    evt->loss = r->loss_acc / (double)r->steps_log;
    evt->examples_per_s = now > r->t_log ? (double)r->ex_log / (now - r->t_log) : 0;
    emit(r->cb, r->ud, evt);
    ic_tracker_log_metric(t, "loss", evt->loss, r->step);
    ic_tracker_log_metric(t, "learning_rate", lr, r->step);
    ic_tracker_log_metric(t, "grad_norm", gnorm, r->step);
    ic_tracker_log_metric(t, "epoch", epf, r->step);
    ic_tracker_log_metric(t, "train_samples_per_second", evt->examples_per_s, r->step);
    ic_tracker_log_system_metrics(t, r->step);
    r->loss_acc = 0;
    r->steps_log = 0;
    r->ex_log = 0;
    r->t_log = now;
}

/* This rank's shard of the global batch of nb examples at order[a]: the
 * slice [nb*rank/nproc, nb*(rank+1)/nproc) (all of it in one process),
 * forward and backward. *mine: its size (0 leaves the gradients zero). */
static int step_compute(struct train_run *r, size_t a, int nb, int *mine)
{
    struct ic_bert_state *st = &r->st;
    int lo = (int)((int64_t)nb * r->rank / r->nproc);
    int hi = (int)((int64_t)nb * (r->rank + 1) / r->nproc);
    *mine = hi - lo;
    ic_bert_zero_grad(st);
    st->loss = 0.0f;
    if (*mine == 0)
        return IC_OK;
    int pad = r->model.tok.pad_id >= 0 ? r->model.tok.pad_id : 0;
    int T = ic__pack_batch(&r->etr, r->order + a + lo, *mine, pad, r->bids, r->bmask, r->blab);
    struct ic_batch batch = {*mine, T, r->bids, NULL, r->bmask, r->blab, NULL};
    int rc = ic_bert_forward(&r->model.bert, st, &batch, &r->rng_drop);
    if (rc == IC_OK)
        rc = ic_bert_backward(&r->model.bert, st, &batch);
    if (rc != IC_OK)
        return ic_errf(r->err, rc, "training step %lld failed: %s", (long long)r->step + 1,
                       ic_status_str(rc));
    return IC_OK;
}

/* Several processes: the gradient of the global batch's mean loss is the sum
 * over ranks of each rank's mean-loss gradient weighted by its share of the
 * batch (mine / nb), so the update is the one a single process makes for
 * the whole batch, up to float summation order. The loss and any rank's
 * stop request travel in a second, small sum. */
static int reduce_grads(struct train_run *r, int mine, int nb)
{
    if (r->nproc == 1)
        return IC_OK;
    double t0 = ic_time_now();
    struct ic_bert_state *st = &r->st;
    size_t n = r->model.bert.num_params;
    float w = (float)mine / (float)nb;
    if (w != 1.0f)
        for (size_t i = 0; i < n; i++)
            st->grads[i] *= w;
    int rc = ic__dist_allreduce_f32(st->grads, n, r->err);
    ic_bert_grads_dense(st); /* other ranks' word rows are in grads now */
    double sums[2] = {(double)st->loss * (double)w, stop_requested(r) ? 1.0 : 0.0};
    if (rc == IC_OK)
        rc = ic__dist_allreduce_f64(sums, 2, r->err);
    st->loss = (float)sums[0];
    if (sums[1] > 0)
        r->stop_seen = 1;
    r->t_reduce += ic_time_now() - t0;
    return rc;
}

/* One optimizer step on global batch sidx of this epoch's order. */
static int train_step(struct train_run *r, int epoch, int64_t sidx)
{
    const struct ic_config *c = r->c;
    struct ic_bert_state *st = &r->st;
    double t0 = ic_time_now();
    size_t a = (size_t)sidx * (size_t)r->B;
    int nb = (int)(r->ntr - a < (size_t)r->B ? r->ntr - a : (size_t)r->B), mine;
    int rc = step_compute(r, a, nb, &mine);
    double t1 = ic_time_now();
    if (rc == IC_OK)
        rc = reduce_grads(r, mine, nb);
    if (rc != IC_OK)
        return rc;
    if (!isfinite(st->loss))
        return ic_errf(r->err, IC_ERR_RANGE, "training diverged at step %lld (loss %g): lower "
                       "learning_rate", (long long)r->step + 1, (double)st->loss);
    /* clip_grad_norm_ fused into the AdamW step (grads only read), after the
     * sum over ranks; the norm reads only the embedding rows touched. */
    double t2 = ic_time_now();
    float gnorm = ic_bert_grad_norm(st);
    float coef = ic_grad_clip_coef(gnorm, (float)c->max_grad_norm);
    float lr = ic_lr_linear(r->step, r->warmup_steps, r->total_steps, (float)c->learning_rate);
    ic_adamw_step_scaled(&r->opt, &r->model.bert, st->grads, lr, coef);
    r->t_compute += (t1 - t0) + (ic_time_now() - t2);
    r->step++;
    r->loss_acc += st->loss;
    r->ep_loss += st->loss;
    r->ep_steps++;
    r->steps_log++;
    r->ex_log += nb;
    r->ex_total += nb;
    double epf = (double)(epoch - 1) + (double)(sidx + 1) / (double)r->steps_per_epoch;
    r->evt.kind = IC_TRAIN_EV_STEP;
    r->evt.step = r->step;
    r->evt.epoch = epf;
    r->evt.loss = st->loss;
    r->evt.learning_rate = lr;
    r->evt.grad_norm = gnorm;
    emit(r->cb, r->ud, &r->evt);
    if (r->step % c->logging_steps == 0) {
        log_progress(r, lr, gnorm, epf);
        return log_rank_metrics(r);
    }
    return IC_OK;
}

/* Whether to end the epoch before the next step: *stop in one process; with
 * several, a request any rank saw in the last step's sum (so all agree). */
static int should_stop(const struct train_run *r)
{
    return r->nproc > 1 ? r->stop_seen : stop_requested(r);
}

/* With several processes each rank draws its own dropout masks: rank r's
 * stream for an epoch is seeded from (seed, r, epoch), so a run is
 * reproducible for a fixed process count and a resumed epoch starts where
 * the uninterrupted one did. One process keeps its single stream. */
static void epoch_dropout_stream(struct train_run *r, int epoch)
{
    if (r->nproc == 1)
        return;
    uint64_t s = (uint64_t)r->c->seed * 0xD1B54A32D192ED03ull + 2;
    s ^= ((uint64_t)(r->rank + 1) << 40) ^ ((uint64_t)epoch * 0x9E3779B97F4A7C15ull);
    ic_rng_seed(&r->rng_drop, s);
}

/* One pass over the training set; *stop ends it between steps. */
static int train_epoch(struct train_run *r, int epoch)
{
    epoch_order(r);
    epoch_dropout_stream(r, epoch);
    for (int64_t sidx = 0; sidx < r->steps_per_epoch; sidx++) {
        if (should_stop(r)) {
            r->stopped = 1;
            break;
        }
        int rc = train_step(r, epoch, sidx);
        if (rc != IC_OK)
            return rc;
    }
    r->res->epochs_done = (double)r->step / (double)r->steps_per_epoch;
    if (r->ep_steps > 0 && r->n_hist < r->c->epochs) {
        struct ic_epoch_stat *h = &r->hist[r->n_hist++];
        *h = (struct ic_epoch_stat){epoch, r->ep_loss / (double)r->ep_steps, NAN, NAN, NAN};
    }
    r->ep_loss = 0;
    r->ep_steps = 0;
    return IC_OK;
}

static void log_eval_metrics(struct train_run *r, double ev_s, int epoch)
{
    struct ic_tracker *t = r->trk;
    const struct ic_metrics *m = &r->cur;
    ic_tracker_log_metric(t, "eval_loss", m->loss, r->step);
    ic_tracker_log_metric(t, "eval_accuracy", m->accuracy, r->step);
    ic_tracker_log_metric(t, "eval_f1_macro", m->f1_macro, r->step);
    ic_tracker_log_metric(t, "eval_precision_macro", m->precision_macro, r->step);
    ic_tracker_log_metric(t, "eval_recall_macro", m->recall_macro, r->step);
    ic_tracker_log_metric(t, "eval_runtime", ev_s, r->step);
    ic_tracker_log_metric(t, "eval_samples_per_second", ev_s > 0 ? r->nev / ev_s : 0, r->step);
    ic_tracker_log_metric(t, "epoch", epoch, r->step);
}

/* Epoch-end evaluation: keeps a copy of the weights when metric_for_best_model
 * improved, counts the evaluations without improvement, and sets
 * res->early_stopped when early_stopping_patience is reached. */
static int evaluate_select(struct train_run *r, int epoch)
{
    struct ic_train_result *res = r->res;
    double t_ev = ic_time_now();
    ic_metrics_free(&r->cur);
    int rc = ic_evaluate(&r->model, &r->eev, r->B, &r->st, &r->cur, r->err);
    if (rc != IC_OK)
        return rc;
    double ev_s = ic_time_now() - t_ev;
    r->t_log += ev_s; /* keep evaluation time out of the training speed */
    double val;
    ic_metrics_get(&r->cur, r->best_name, &val);
    int improved = !r->have_best || (r->greater ? val > r->best_val : val < r->best_val);
    if (improved) {
        r->have_best = 1;
        r->best_val = val;
        res->best_epoch = epoch;
        res->best_metric = val;
        memcpy(r->best_params, r->model.bert.params, r->model.bert.num_params * sizeof(float));
        ic_metrics_copy(&r->best, &r->cur);
        r->bad_evals = 0;
    } else {
        r->bad_evals++;
    }
    log_eval_metrics(r, ev_s, epoch);
    if (r->n_hist > 0 && r->hist[r->n_hist - 1].epoch == epoch) {
        struct ic_epoch_stat *h = &r->hist[r->n_hist - 1];
        h->eval_loss = r->cur.loss;
        h->eval_accuracy = r->cur.accuracy;
        h->eval_f1_macro = r->cur.f1_macro;
    }
    r->evt.kind = IC_TRAIN_EV_EVAL;
    r->evt.step = r->step;
    r->evt.epoch = epoch;
    r->evt.eval = &r->cur;
    r->evt.is_best = improved;
    r->evt.bad_evals = r->bad_evals;
    emit(r->cb, r->ud, &r->evt);
    r->evt.eval = NULL;
    int patience = r->c->early_stopping_patience;
    if (patience > 0 && r->bad_evals >= patience) {
        ic_log(IC_LOG_INFO, "early stopping: %s did not improve for %d evaluations "
               "(best %.4f at epoch %d)", r->best_name, r->bad_evals, r->best_val,
               res->best_epoch);
        res->early_stopped = 1;
    }
    return IC_OK;
}

/* FNV-1a over the weights' 32-bit words: equal on every rank or the ranks
 * have drifted apart. */
static uint64_t params_hash(const struct ic_bert *m)
{
    const uint32_t *w = (const uint32_t *)(const void *)m->params;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < m->num_params; i++)
        h = (h ^ w[i]) * 0x100000001b3ull;
    return h;
}

/* After an epoch, with several processes: every rank's weight hash to rank
 * 0, which stops the job if one differs. */
static int check_same_weights(struct train_run *r, int epoch)
{
    if (r->nproc == 1)
        return IC_OK;
    uint64_t h = params_hash(&r->model.bert);
    double mine[2] = {(double)(h >> 32), (double)(h & 0xffffffffu)};
    double *all = r->rank == 0 ? ic_xmalloc((size_t)r->nproc * sizeof mine) : NULL;
    int rc = ic__dist_gather_f64(mine, 2, all, r->err);
    for (int q = 1; rc == IC_OK && all && q < r->nproc; q++)
        if (all[2 * q] != mine[0] || all[2 * q + 1] != mine[1])
            rc = ic_errf(r->err, IC_ERR_RANGE, "after epoch %d the weights of rank %d differ "
                         "from rank 0's", epoch, q);
    if (rc == IC_OK && all)
        ic_log(IC_LOG_INFO, "epoch %d: weights identical on %d processes (hash %016llx)", epoch,
               r->nproc, (unsigned long long)h);
    ic_free(all);
    return rc;
}

/* The checkpoint's fields that must match the run, and its arrays pointing
 * at the run's own buffers. */
static void resume_fill(struct train_run *r, struct ic__resume *ck)
{
    memset(ck, 0, sizeof *ck);
    ck->ntr = (int64_t)r->ntr;
    ck->num_params = (int64_t)r->model.bert.num_params;
    ck->n_labels = r->d.n_labels;
    ck->batch_size = r->B;
    ck->seed = r->c->seed;
    ck->nproc = r->nproc;
    ck->order = r->order;
    ck->params = r->model.bert.params;
    ck->m = r->opt.m;
    ck->v = r->opt.v;
    ck->best_params = r->best_params;
    ck->best_confusion = r->best.confusion;
}

/* Rank 0 saves the state after epoch `epoch` (not after the last one, nor
 * when the run ends here) to <output>.ckpt. */
static int resume_save(struct train_run *r, int epoch)
{
    if (!r->ckpt_path || r->rank != 0 || epoch >= r->c->epochs || r->stopped ||
        r->res->early_stopped)
        return IC_OK;
    struct ic__resume ck;
    resume_fill(r, &ck);
    ck.epoch = epoch;
    ck.step = r->step;
    ck.opt_t = r->opt.t;
    ck.have_best = r->have_best;
    ck.best_epoch = r->res->best_epoch;
    ck.bad_evals = r->bad_evals;
    ck.best_n = r->best.n;
    ck.best_val = r->best_val;
    ck.best_loss_sum = r->best.loss_sum;
    ck.shuffle = r->rng_shuffle;
    ck.drop = r->rng_drop;
    int rc = ic__resume_save(r->ckpt_path, &ck, r->err);
    if (rc == IC_OK)
        ic_log(IC_LOG_INFO, "checkpoint: epoch %d saved to %s", epoch, r->ckpt_path);
    return rc;
}

/* The end of an epoch: rank 0 evaluates and selects (the others learn
 * whether to stop early), the ranks' weights are compared, the checkpoint
 * written. */
static int epoch_end(struct train_run *r, int epoch)
{
    int rc = IC_OK;
    if (r->rank == 0 && r->nev > 0)
        rc = evaluate_select(r, epoch);
    int32_t early = r->res->early_stopped;
    if (rc == IC_OK && r->nproc > 1)
        rc = ic__dist_bcast(&early, sizeof early, r->err);
    r->res->early_stopped = early;
    if (rc == IC_OK)
        rc = check_same_weights(r, epoch);
    if (rc == IC_OK)
        rc = resume_save(r, epoch);
    return rc;
}

/* With --resume (or epoch_checkpoint) the checkpoint's path; with --resume
 * and a checkpoint there, rank 0 reads it and every rank takes its state:
 * the loop goes on after its epoch exactly as the run that wrote it. */
static int resume_load(struct train_run *r)
{
    const struct ic_config *c = r->c;
    if (!c->resume && !c->epoch_checkpoint)
        return IC_OK;
    r->ckpt_path = ic__resume_path(c->output);
    if (!c->resume)
        return IC_OK;
    struct ic__resume ck;
    resume_fill(r, &ck);
    int rc = r->rank == 0 ? ic__resume_load(r->ckpt_path, &ck, r->err) : IC_OK;
    int64_t hdr[4] = {rc == IC_OK, ck.epoch, ck.step, ck.opt_t};
    if (rc == IC_ERR_NOTFOUND) {
        ic_log(IC_LOG_INFO, "resume: no checkpoint %s: starting at epoch 1", r->ckpt_path);
        rc = IC_OK;
    }
    if (rc == IC_OK && r->nproc > 1)
        rc = ic__dist_bcast(hdr, sizeof hdr, r->err);
    if (rc != IC_OK || !hdr[0])
        return rc;
    size_t P = r->model.bert.num_params * sizeof(float);
    rc = ic__dist_bcast(r->model.bert.params, P, r->err);
    if (rc == IC_OK)
        rc = ic__dist_bcast(r->opt.m, P, r->err);
    if (rc == IC_OK)
        rc = ic__dist_bcast(r->opt.v, P, r->err);
    if (rc == IC_OK)
        rc = ic__dist_bcast(r->order, r->ntr * sizeof *r->order, r->err);
    if (rc == IC_OK)
        rc = ic__dist_bcast(&ck.shuffle, sizeof ck.shuffle, r->err);
    if (rc != IC_OK)
        return rc;
    r->first_epoch = (int)hdr[1] + 1;
    r->step = hdr[2];
    r->opt.t = hdr[3];
    r->rng_shuffle = ck.shuffle;
    r->rng_drop = ck.drop; /* rank 0's: one process keeps one stream */
    r->have_best = (int)ck.have_best;
    r->best_val = ck.best_val;
    r->res->best_epoch = (int)ck.best_epoch;
    r->res->best_metric = ck.best_val;
    r->bad_evals = (int)ck.bad_evals;
    r->best.n = ck.best_n;
    r->best.loss_sum = ck.best_loss_sum;
    ic_metrics_finish(&r->best);
    r->res->epochs_done = (double)r->step / (double)r->steps_per_epoch;
    ic_log(IC_LOG_INFO, "resume: %s: continuing after epoch %lld (step %lld)", r->ckpt_path,
           (long long)hdr[1], (long long)hdr[2]);
    return IC_OK;
}

/* Per step: the compute (forward, backward, update) and the time in the
 * sum over ranks, which includes waiting for the slowest rank. */
static void log_step_split(struct train_run *r)
{
    int64_t n = r->step - (int64_t)(r->first_epoch - 1) * r->steps_per_epoch;
    if (n <= 0)
        return;
    double comp = r->t_compute / (double)n * 1e3, red = r->t_reduce / (double)n * 1e3;
    double mb = (double)r->model.bert.num_params * 4.0 / 1e6;
    ic_log(IC_LOG_INFO, "step time: %.2f ms compute, %.2f ms all-reduce of %.1f MB "
           "(%d processes, %lld steps)", comp, red, r->nproc > 1 ? mb : 0.0, r->nproc,
           (long long)n);
    if (r->nproc > 1) {
        ic_tracker_log_metric(r->trk, "step_compute_ms", comp, r->step);
        ic_tracker_log_metric(r->trk, "step_allreduce_ms", red, r->step);
    }
}

static void loop_end(struct train_run *r)
{
    struct ic_train_result *res = r->res;
    double runtime = ic_time_now() - r->t_start;
    res->steps = r->step;
    res->interrupted = r->stopped;
    res->train_runtime_s = runtime;
    res->train_examples_per_s = runtime > 0 ? (double)r->ex_total / runtime : 0;
    r->evt.kind = IC_TRAIN_EV_END;
    r->evt.step = r->step;
    r->evt.examples_per_s = res->train_examples_per_s;
    emit(r->cb, r->ud, &r->evt);
    ic_tracker_log_metric(r->trk, "train_runtime", runtime, r->step);
    ic_tracker_log_metric(r->trk, "train_samples_per_second", res->train_examples_per_s,
                          r->step);
    log_step_split(r);
}

/* The model to save and its metrics: the best epoch's weights; when nothing
 * was evaluated yet (stopped early), the current weights evaluated now, on
 * the training data when there is no evaluation set. */
static int final_metrics(struct train_run *r)
{
    if (r->have_best) {
        memcpy(r->model.bert.params, r->best_params, r->model.bert.num_params * sizeof(float));
        r->split = eval_split_name(r);
        return IC_OK;
    }
    const struct ic_encoded *on = &r->eev;
    r->split = eval_split_name(r);
    if (r->nev == 0) {
        on = &r->etr;
        r->split = "train";
    }
    ic_metrics_free(&r->best);
    return ic_evaluate(&r->model, on, r->B, &r->st, &r->best, r->err);
}

/* Logs the calibration figures of the report to the tracked run. */
static void log_calibration(struct train_run *r)
{
    json_t *o = json_loads(r->calib_report, 0, NULL);
    json_t *cal = json_object_get(o, "calibration"), *oos = json_object_get(o, "out_of_scope");
    const char *keys[] = {"temperature", "ece_before", "ece_after"};
    for (size_t i = 0; i < 3; i++)
        if (json_is_number(json_object_get(cal, keys[i])))
            ic_tracker_log_metric(r->trk, keys[i], json_number_value(json_object_get(cal, keys[i])),
                                  r->step);
    const char *k;
    json_t *m;
    json_object_foreach(json_object_get(oos, "methods"), k, m) {
        const char *mk;
        json_t *v;
        json_object_foreach(m, mk, v) {
            char name[96];
            snprintf(name, sizeof name, "oos_%s_%s", k, mk);
            if (json_is_number(v))
                ic_tracker_log_metric(r->trk, name, json_number_value(v), r->step);
        }
    }
    json_decref(o);
}

/* Temperature, out-of-scope statistics and thresholds of the model to save
 * (calibrate.c); skipped with calibrate off or without an evaluation split. */
static int calibrate(struct train_run *r)
{
    const struct ic_config *c = r->c;
    if (!c->calibrate)
        return IC_OK;
    if (r->nev == 0) {
        ic_log(IC_LOG_WARN, "no evaluation split: the model is saved without calibration");
        return IC_OK;
    }
    struct ic_calib_opts o;
    ic_calib_default_opts(&o);
    o.oos_label = c->oos_label;
    o.score = c->oos_score;
    o.ambiguity_threshold = c->ambiguity_threshold;
    int rc = ic_calibrate_model(&r->model, &r->etr, &r->eev, r->B, NULL, &o, &r->calib_report,
                                r->err);
    if (rc != IC_OK)
        return ic_err_prefix(r->err, "calibration");
    const struct ic_calibration *cal = &r->model.calib;
    ic_log(IC_LOG_INFO, "calibration: temperature %.4g; out-of-scope score %s, fallback "
           "threshold %.4g (%s)", cal->temperature, ic_oos_score_name(cal->score),
           cal->threshold[cal->score], cal->chosen_by ? cal->chosen_by : "");
    log_calibration(r);
    return IC_OK;
}

/* The report's account of where the model came from: the base checkpoint,
 * or (from scratch) no base model but the vocabulary's source. */
static char *report_origin(const struct train_run *r)
{
    if (!r->res->from_scratch) {
        char *jb = json_escape(r->model.base_model ? r->model.base_model : r->c->model_name);
        char *o = ic_xasprintf("\"base_model\": %s, \"from_scratch\": false", jb);
        ic_free(jb);
        return o;
    }
    char *jd = json_escape(r->c->data);
    char *o = ic_xasprintf("\"from_scratch\": true, \"pretrained_mlm\": %s, "
                           "\"vocabulary\": {\"type\": \"%s\", "
                           "\"trained_on\": %s, \"texts\": %zu, \"size\": %zu}",
                           r->pretrained ? "true" : "false",
                           ic_tok_type_name(r->model.tok.type), jd, r->ntr,
                           ic_tokenizer_vocab_size(&r->model.tok));
    ic_free(jd);
    return o;
}

/* eval_report.json: the metrics plus what produced them. */
static char *report_json(const struct train_run *r)
{
    const struct ic_config *c = r->c;
    const struct ic_train_result *res = r->res;
    char *jd = json_escape(c->data), *je = json_escape(r->evd == &r->de ? c->eval_data : c->data);
    char *origin = report_origin(r);
    char *extra = ic_xasprintf(
        "{\"evaluated_on\": \"%s\", \"data\": %s, \"eval_data\": %s, \"best_epoch\": %d, "
        "\"epochs_done\": %g, \"steps\": %lld, \"metric_for_best_model\": \"%s\", "
        "%s, \"interrupted\": %s, "
        "\"train_examples\": %zu, \"train_samples_per_second\": %.3f}",
        r->split, jd, je, res->best_epoch, res->epochs_done, (long long)r->step, r->best_name,
        origin, r->stopped ? "true" : "false", r->ntr, res->train_examples_per_s);
    if (r->calib_report && strlen(r->calib_report) > 2) {
        char *both = ic_xasprintf("%.*s, %s", (int)(strlen(extra) - 1), extra,
                                  r->calib_report + 1);
        ic_free(extra);
        extra = both;
    }
    char *hist = ic_report_history_json(r->hist, r->n_hist);
    char *all = ic_xasprintf("%.*s, \"history\": %s}", (int)(strlen(extra) - 1), extra, hist);
    char *report = ic_metrics_report_json(&r->best, (const char *const *)r->model.labels, all);
    ic_free(all);
    ic_free(hist);
    ic_free(extra);
    ic_free(jd);
    ic_free(je);
    ic_free(origin);
    return report;
}

/* The evaluation split's predictions (argmax) into pred (nev). */
static int eval_predictions(struct train_run *r, int32_t *pred)
{
    int N = r->model.bert.cfg.num_labels;
    float *lg = ic_xmalloc(r->nev * (size_t)N * sizeof *lg);
    int rc = ic_forward_collect(&r->model, &r->eev, r->B, &r->st, lg, NULL, r->err);
    for (size_t i = 0; rc == IC_OK && i < r->nev; i++) {
        const float *z = lg + i * (size_t)N;
        int am = 0;
        for (int j = 1; j < N; j++)
            am = z[j] > z[am] ? j : am;
        pred[i] = am;
    }
    ic_free(lg);
    return rc;
}

/* report.html and the images in the output directory (intent/report.h),
 * logged to the run under report/. A failure is a warning: the model is
 * saved already. */
static void write_report(struct train_run *r, const char *report)
{
    const struct ic_config *c = r->c;
    size_t n = r->split && !strcmp(r->split, "train") ? 0 : r->nev;
    const char **texts = ic_xcalloc(n ? n : 1, sizeof *texts);
    int32_t *pred = ic_xcalloc(n ? n : 1, sizeof *pred);
    for (size_t i = 0; i < n; i++)
        texts[i] = r->evd->ex[r->ev[i]].text;
    struct ic_report_input in = {c->output, report, texts, r->eev.label, pred, n, r->hist,
                                 r->n_hist};
    int rc = n ? eval_predictions(r, pred) : IC_OK;
    if (rc == IC_OK)
        rc = ic_report_write(c->output, &in, r->err);
    ic_free(texts);
    ic_free(pred);
    if (rc != IC_OK) {
        ic_log(IC_LOG_WARN, "no report: %s", r->err ? r->err->msg : ic_status_str(rc));
        return;
    }
    const char *files[] = {IC_REPORT_HTML, IC_REPORT_CONFUSION_PNG, IC_REPORT_CURVES_PNG};
    for (int i = 0; r->trk && i < (r->n_hist > 0 ? 3 : 2); i++) {
        char *p = ic_path_join(c->output, files[i]);
        ic_tracker_log_artifact(r->trk, p, "report");
        ic_free(p);
    }
}

/* Writes the model directory with eval_report.json (atomically: an old
 * output is replaced only by a complete new one) and logs it as artifacts. */
static int save_model(struct train_run *r)
{
    const struct ic_config *c = r->c;
    char *report = report_json(r);
    const char *names[] = {"eval_report.json"};
    const char *contents[] = {report};
    int rc = ic_model_save(&r->model, c->output, names, contents, 1, r->err);
    if (rc != IC_OK) {
        ic_free(report);
        return rc;
    }
    ic_log(IC_LOG_INFO, "saved %s (best epoch %d, eval %s %.4f, accuracy %.4f)", c->output,
           r->res->best_epoch, r->best_name, r->have_best ? r->best_val : 0.0,
           r->best.accuracy);
    if (c->report)
        write_report(r, report);
    if (r->trk) {
        ic_tracker_log_metric(r->trk, "final_eval_accuracy", r->best.accuracy, r->step);
        ic_tracker_log_metric(r->trk, "final_eval_f1_macro", r->best.f1_macro, r->step);
        ic_tracker_log_artifact(r->trk, c->output, "model");
        char *rp = ic_path_join(c->output, "eval_report.json");
        ic_tracker_log_artifact(r->trk, rp, "");
        ic_free(rp);
    }
    r->res->report_json = report;
    r->res->output = ic_xstrdup(c->output);
    if (r->ckpt_path && unlink(r->ckpt_path) == 0) /* the model supersedes it */
        ic_log(IC_LOG_INFO, "checkpoint %s removed", r->ckpt_path);
    return IC_OK;
}

/* A run stopped by *stop: KILLED, IC_ERR_INTERRUPTED with what happened. */
static int interrupted(struct train_run *r, const char *what)
{
    r->status = IC_RUN_KILLED;
    return ic_errf(r->err, IC_ERR_INTERRUPTED, "%s", what);
}

/* The outcome of a run that saved a model. */
static int saved_outcome(struct train_run *r)
{
    if (!r->stopped) {
        r->status = IC_RUN_FINISHED;
        return IC_OK;
    }
    r->status = IC_RUN_KILLED;
    return ic_errf(r->err, IC_ERR_INTERRUPTED, "interrupted at step %lld; the best model so far "
                   "is saved in %s", (long long)r->step, r->c->output);
}

/* Ends the tracked run (a failure's message as the intent.error tag) and
 * releases everything the phases allocated. */
static void run_end(struct train_run *r, int rc)
{
    if (rc != IC_OK && rc != IC_ERR_INTERRUPTED && r->trk)
        ic_tracker_set_tag(r->trk, "intent.error", r->err ? r->err->msg : ic_status_str(rc));
    const char *run_id = ic_tracker_run_id(r->trk);
    if (run_id && *run_id) {
        r->res->run_id = ic_xstrdup(run_id);
        r->res->run_where = ic_tracker_run_where(r->trk);
    }
    ic_tracker_end(r->trk, r->status);
    ic_free(r->base_dir);
    ic_free(r->ckpt_path);
    if (r->sysmon)
        ic__sysmon_free(r->sysmon);
    ic_free_aligned(r->best_params);
    ic_free(r->bids);
    ic_free(r->bmask);
    ic_free(r->blab);
    ic_free(r->order);
    ic_free(r->tr);
    ic_free(r->ev);
    ic_metrics_free(&r->cur);
    ic_metrics_free(&r->best);
    ic_free(r->calib_report);
    ic_free(r->hist);
    ic_adamw_free(&r->opt);
    ic_bert_state_free(&r->st);
    ic_encoded_free(&r->etr);
    ic_encoded_free(&r->eev);
    ic_model_free(&r->model);
    ic_dataset_free(&r->d);
    ic_dataset_free(&r->de);
}

void ic_train_dist_end(int exit_code)
{
    ic__dist_finalize(exit_code);
}

int ic_train_run(const struct ic_config *c, const volatile sig_atomic_t *stop, ic_train_cb cb,
                 void *ud, struct ic_train_result *res, struct ic_err *err)
{
    struct train_run r;
    int rc = run_init(&r, c, stop, cb, ud, res, err);
    if (rc != IC_OK)
        return rc;
    rc = prepare_data(&r);
    if (rc == IC_OK)
        rc = resolve_base_model(&r);
    if (rc == IC_OK && stop_requested(&r))
        rc = interrupted(&r, "interrupted before training; nothing saved");
    if (rc == IC_OK)
        rc = allocate(&r);
    if (rc == IC_OK)
        rc = log_params(&r);
    if (rc == IC_OK)
        loop_begin(&r);
    if (rc == IC_OK)
        rc = resume_load(&r);
    for (int epoch = r.first_epoch; rc == IC_OK && epoch <= c->epochs; epoch++) {
        if (r.stopped || res->early_stopped)
            break;
        rc = train_epoch(&r, epoch);
        if (rc == IC_OK && !r.stopped)
            rc = epoch_end(&r, epoch);
    }
    if (rc == IC_OK)
        loop_end(&r);
    if (rc == IC_OK && r.stopped && r.step == 0) /* nothing trained: keep any old output */
        rc = interrupted(&r, "interrupted before the first step; nothing saved");
    int saver = r.rank == 0; /* the other ranks are done */
    if (rc == IC_OK && saver)
        rc = final_metrics(&r);
    if (rc == IC_OK && saver)
        rc = calibrate(&r);
    if (rc == IC_OK && saver)
        rc = save_model(&r);
    if (rc == IC_OK)
        rc = saved_outcome(&r);
    run_end(&r, rc);
    return rc;
}
