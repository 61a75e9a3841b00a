/* SPDX-License-Identifier: Apache-2.0 */
/*
 * pretrain.c - the masked-LM pretraining job (pretrain.h), read top to bottom
 * as ic_train_run: each phase a static function on one struct pre_run, in
 * the order it runs; whatever a phase allocates stays in the run and
 * run_end releases it.
 *   load_corpora   the texts of every file (labels ignored)
 *   build_model    the base checkpoint with a masked-LM head, or a new model
 *                  with a vocabulary trained on the texts
 *   allocate       tokenise (truncations counted), state, AdamW, buffers
 *   log_params     the tracked run (MLflow), params, dataset inputs
 *   train_epoch    seeded order; per batch: mask, forward, backward, clip, AdamW
 *   save           pretrain_report.json and the Hugging Face directory
 * Shared with fine-tuning (train_int.h): the from-scratch model, batch
 * packing, dataset inputs.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "intent/bert.h"
#include "intent/hub.h"
#include "intent/model.h"
#include "intent/optim.h"
#include "intent/pretrain.h"
#include "intent/track.h"
#include "train/train_int.h"

#define IGNORE (-100)

struct pre_run {
    const struct ic_pretrain_opts *o;
    const struct ic_config *c;
    const volatile sig_atomic_t *stop;
    ic_train_cb cb;
    void *ud;
    struct ic_pretrain_result *res;
    struct ic_err *err;
    struct ic_rng rng_init, rng_shuffle, rng_drop, rng_mask;
    enum ic_run_status status;

    struct ic_dataset d;           /* every corpus's texts, in file order */
    size_t *per_file;              /* (n_data) texts of each file */
    struct ic_model model;
    int max_len;
    struct ic_mask_vocab mv;

    struct ic_encoded enc;
    int B;
    struct ic_bert_state st;
    struct ic_adamw opt;
    int32_t *bids, *bmask, *blab, *bmlm; /* (B, T) ids, mask, targets; (B) unused labels */
    uint32_t *order;
    int64_t steps_per_epoch, total_steps, warmup_steps;
    struct ic_tracker *trk;

    struct ic_train_event evt;
    int64_t step;
    int stopped;
    double t_start, t_log, loss_acc, epoch_loss;
    int64_t steps_log, ex_log, ex_total, epoch_steps;
    char *probe;                   /* the report's "probe" object */
};

void ic_pretrain_default_opts(struct ic_pretrain_opts *o, const struct ic_config *c)
{
    memset(o, 0, sizeof *o);
    o->c = c;
    o->mask.prob = 0.15;
}

void ic_pretrain_result_free(struct ic_pretrain_result *r)
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

static void emit(struct pre_run *r)
{
    if (r->cb)
        r->cb(&r->evt, r->ud);
}

static int run_init(struct pre_run *r, const struct ic_pretrain_opts *o,
                    const volatile sig_atomic_t *stop, ic_train_cb cb, void *ud,
                    struct ic_pretrain_result *res, struct ic_err *err)
{
    memset(r, 0, sizeof *r);
    memset(res, 0, sizeof *res);
    ic_model_init(&r->model);
    r->o = o;
    r->c = o->c;
    r->stop = stop;
    r->cb = cb;
    r->ud = ud;
    r->res = res;
    r->err = err;
    r->status = IC_RUN_FAILED;
    int rc = ic_config_check(r->c, err);
    if (rc != IC_OK)
        return rc;
    if (o->n_data == 0 && o->n_texts == 0)
        return ic_errf(err, IC_ERR_INVAL, "no corpus: give at least one --data FILE");
    if (!(o->mask.prob > 0.0 && o->mask.prob < 1.0))
        return ic_errf(err, IC_ERR_RANGE, "mask_prob %g is outside (0, 1)", o->mask.prob);
    ic_set_threads(r->c->threads);
    uint64_t seed = (uint64_t)r->c->seed;
    ic_rng_seed(&r->rng_init, seed);
    ic_rng_seed(&r->rng_shuffle, seed * 0x9E3779B97F4A7C15ull + 1);
    ic_rng_seed(&r->rng_drop, seed * 0xD1B54A32D192ED03ull + 2);
    ic_rng_seed(&r->rng_mask, seed * 0x94D049BB133111EBull + 3);
    return IC_OK;
}

static int load_corpora(struct pre_run *r)
{
    r->per_file = ic_xcalloc(r->o->n_data + 1, sizeof *r->per_file);
    if (r->o->n_texts) {
        r->d.ex = ic_xcalloc(r->o->n_texts, sizeof *r->d.ex);
        for (size_t i = 0; i < r->o->n_texts; i++)
            r->d.ex[i] = (struct ic_example){ic_xstrdup(r->o->texts[i]), 0, (int)i + 1, 0};
        r->d.n = r->o->n_texts;
        r->d.path = ic_xstrdup("(training texts)");
    }
    for (size_t i = 0; i < r->o->n_data; i++) {
        size_t before = r->d.n;
        int rc = ic_corpus_load(&r->d, r->o->data[i], r->err);
        if (rc != IC_OK)
            return rc;
        r->per_file[i] = r->d.n - before;
    }
    r->res->n_texts = r->d.n;
    ic_log(IC_LOG_INFO, "corpus: %zu texts from %zu file%s%s", r->d.n, r->o->n_data,
           r->o->n_data == 1 ? "" : "s", r->o->n_texts ? " and the training texts" : "");
    return IC_OK;
}

/* The base checkpoint (through the Hub resolver) with a masked-LM head. */
static int load_base(struct pre_run *r)
{
    const char *name = r->c->model_name;
    struct ic_hub_opts ho;
    ic_hub_default_opts(&ho);
    char *dir = NULL;
    int rc = ic_hub_resolve(name, &ho, &dir, r->err);
    if (rc != IC_OK)
        return ic_err_prefix(r->err, "base model \"%s\" (pretrain from scratch: leave out "
                             "--model-name)", name);
    rc = ic_model_load_mlm(&r->model, dir, &r->rng_init, r->err);
    r->res->base_model = dir;
    return rc;
}

static int build_model(struct pre_run *r)
{
    const struct ic_config *c = r->c;
    int rc;
    if (r->o->from_scratch) {
        const char **texts = ic_xmalloc((r->d.n ? r->d.n : 1) * sizeof *texts);
        for (size_t i = 0; i < r->d.n; i++)
            texts[i] = r->d.ex[i].text;
        rc = ic__build_scratch(&r->model, c, texts, r->d.n, NULL, 2, 1, &r->rng_init, r->err);
        ic_free(texts);
        r->res->from_scratch = 1;
        r->res->base_model = ic_xstrdup("scratch");
    } else {
        rc = load_base(r);
    }
    if (rc != IC_OK)
        return rc;
    struct ic_bert_config *bc = &r->model.bert.cfg;
    if (c->dropout >= 0)
        bc->hidden_dropout = (float)c->dropout;
    if (c->attention_dropout >= 0)
        bc->attention_dropout = (float)c->attention_dropout;
    r->max_len = c->max_length < ic_bert_max_seq(bc) ? c->max_length : ic_bert_max_seq(bc);
    r->model.max_length = r->max_len;
    return ic_mask_vocab_init(&r->mv, &r->model.tok, r->err);
}

/* Texts longer than max_len tokens (cut by ic_encode), counted once. */
static size_t count_truncated(const struct pre_run *r)
{
    struct ic_tok_work w;
    ic_tok_work_init(&w);
    size_t n = 0;
    for (size_t i = 0; i < r->enc.n; i++) {
        if (r->enc.len[i] < r->max_len)
            continue;
        const char *t = r->d.ex[i].text;
        if (ic_tokenizer_pieces(&r->model.tok, &w, t, strlen(t), NULL) == IC_OK &&
            w.n_ids + 2 > (size_t)r->max_len)
            n++;
    }
    ic_tok_work_free(&w);
    return n;
}

static int allocate(struct pre_run *r)
{
    const struct ic_config *c = r->c;
    int rc = ic_encode(&r->model, &r->d, NULL, 0, r->max_len, &r->enc, r->err);
    if (rc != IC_OK)
        return rc;
    r->res->n_truncated = count_truncated(r);
    if (r->res->n_truncated)
        ic_log(IC_LOG_WARN, "%zu of %zu texts are longer than max_length %d tokens and were "
               "truncated", r->res->n_truncated, r->enc.n, r->max_len);
    int B = r->B = (size_t)c->batch_size < r->enc.n ? c->batch_size : (int)r->enc.n;
    int T = r->enc.max_len > 2 ? r->enc.max_len : 2;
    rc = ic_bert_state_init(&r->st, &r->model.bert.cfg, B, T, 1, r->err);
    if (rc != IC_OK)
        return rc;
    struct ic_adamw_params ap = ic_adamw_default_params();
    ap.lr = (float)c->learning_rate;
    ap.weight_decay = (float)c->weight_decay;
    rc = ic_adamw_init(&r->opt, &r->model.bert, &ap, r->err);
    if (rc != IC_OK)
        return rc;
    size_t BT = (size_t)B * (size_t)T;
    r->bids = ic_xmalloc(BT * sizeof *r->bids);
    r->bmask = ic_xmalloc(BT * sizeof *r->bmask);
    r->bmlm = ic_xmalloc(BT * sizeof *r->bmlm);
    r->blab = ic_xmalloc((size_t)B * sizeof *r->blab);
    r->order = ic_xmalloc(r->enc.n * sizeof *r->order);
    for (size_t i = 0; i < r->enc.n; i++)
        r->order[i] = (uint32_t)i;
    r->steps_per_epoch = (int64_t)((r->enc.n + (size_t)B - 1) / (size_t)B);
    r->total_steps = r->steps_per_epoch * c->epochs;
    r->warmup_steps = c->warmup_steps > 0 ? c->warmup_steps
                                          : (int64_t)ceil(c->warmup_ratio * (double)r->total_steps);
    return IC_OK;
}

static void param_num(struct ic_tracker *t, const char *k, double v)
{
    char b[48];
    snprintf(b, sizeof b, "%.17g", v);
    ic_tracker_log_param(t, k, b);
}

/* Starts the tracked run: the shared keys that apply, the pretraining
 * settings and sizes, each corpus as a dataset input. */
static int log_params(struct pre_run *r)
{
    const struct ic_config *c = r->c;
    struct ic_tracker_opts to;
    ic_tracker_default_opts(&to);
    to.enabled = c->tracking;
    to.tracking_uri = *c->tracking_uri ? c->tracking_uri : NULL;
    to.experiment_name = *c->experiment_name ? c->experiment_name : NULL;
    to.run_name = *c->run_name ? c->run_name : NULL;
    to.system_metrics_interval_s = c->system_metrics_interval;
    to.source_name = "intent pretrain";
    to.source_path = r->o->n_data ? r->o->data[0] : NULL;
    int rc = ic_tracker_start(&r->trk, &to, r->err);
    if (rc != IC_OK)
        return ic_err_prefix(r->err, "tracking");
    struct ic_tracker *t = r->trk;
    static const char *keys[] = {"epochs", "learning_rate", "batch_size", "max_length", "seed",
                                 "weight_decay", "warmup_ratio", "max_grad_norm", "arch"};
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        char *v = ic_config_value_str(c, (size_t)(ic_config_find(keys[i]) - ic_config_keys(NULL)));
        ic_tracker_log_param(t, keys[i], v);
        ic_free(v);
    }
    ic_tracker_log_param(t, "task", "masked_lm");
    ic_tracker_log_param(t, "base_model_resolved", r->res->base_model);
    param_num(t, "mask_prob", r->o->mask.prob);
    ic_tracker_log_param(t, "whole_word_mask", r->o->mask.whole_word ? "true" : "false");
    param_num(t, "num_texts", (double)r->enc.n);
    param_num(t, "num_truncated", (double)r->res->n_truncated);
    param_num(t, "total_steps", (double)r->total_steps);
    param_num(t, "vocab_size", r->model.bert.cfg.vocab_size);
    param_num(t, "num_parameters", (double)r->model.bert.num_params);
    ic_tracker_set_tag(t, "intent.task", "pretrain");
    for (size_t i = 0; t && i < r->o->n_data; i++) {
        struct ic_dataset one = {0};
        one.path = (char *)r->o->data[i];
        one.n = r->per_file[i];
        ic__log_dataset(t, &one, "pretraining");
    }
    return IC_OK;
}

static void loop_begin(struct pre_run *r)
{
    memset(&r->evt, 0, sizeof r->evt);
    r->evt.kind = IC_TRAIN_EV_BEGIN;
    r->evt.total_steps = r->total_steps;
    r->evt.epochs = r->c->epochs;
    r->evt.n_train = r->enc.n;
    emit(r);
    r->t_start = r->t_log = ic_time_now();
}

/* Packs batch sidx of this epoch and masks each row (fresh masks every
 * epoch, from the masking stream). Returns T. */
static int masked_batch(struct pre_run *r, int64_t sidx, int *nb)
{
    int pad = r->model.tok.pad_id >= 0 ? r->model.tok.pad_id : 0;
    size_t a = (size_t)sidx * (size_t)r->B;
    *nb = (int)(r->enc.n - a < (size_t)r->B ? r->enc.n - a : (size_t)r->B);
    int T = ic__pack_batch(&r->enc, r->order + a, *nb, pad, r->bids, r->bmask, r->blab);
    for (int b = 0; b < *nb; b++) {
        size_t row = (size_t)b * (size_t)T, len = (size_t)r->enc.len[r->order[a + (size_t)b]];
        ic_mlm_mask(r->bids + row, r->bmlm + row, len, &r->o->mask, &r->mv, &r->rng_mask);
        for (size_t t = len; t < (size_t)T; t++)
            r->bmlm[row + t] = IGNORE;
    }
    return T;
}

static void log_progress(struct pre_run *r, float lr, float gnorm, double epf)
{
    double now = ic_time_now();
    r->evt.kind = IC_TRAIN_EV_LOG;
    r->evt.loss = r->loss_acc / (double)r->steps_log;
    r->evt.examples_per_s = now > r->t_log ? (double)r->ex_log / (now - r->t_log) : 0;
    emit(r);
    ic_tracker_log_metric(r->trk, "loss", r->evt.loss, r->step);
    ic_tracker_log_metric(r->trk, "learning_rate", lr, r->step);
    ic_tracker_log_metric(r->trk, "grad_norm", gnorm, r->step);
    ic_tracker_log_metric(r->trk, "epoch", epf, r->step);
    ic_tracker_log_metric(r->trk, "train_samples_per_second", r->evt.examples_per_s, r->step);
    ic_tracker_log_system_metrics(r->trk, r->step);
    r->loss_acc = 0;
    r->steps_log = r->ex_log = 0;
    r->t_log = now;
}

/* One optimizer step (none when the batch drew no target: nothing to learn). */
static int train_step(struct pre_run *r, int epoch, int64_t sidx)
{
    const struct ic_config *c = r->c;
    int nb;
    int T = masked_batch(r, sidx, &nb);
    struct ic_batch batch = {.B = nb, .T = T, .ids = r->bids, .mask = r->bmask,
                             .mlm_labels = r->bmlm};
    ic_bert_zero_grad(&r->st);
    int rc = ic_bert_forward(&r->model.bert, &r->st, &batch, &r->rng_drop);
    if (rc == IC_OK)
        rc = ic_bert_backward(&r->model.bert, &r->st, &batch);
    if (rc != IC_OK)
        return ic_errf(r->err, rc, "pretraining step %lld failed: %s", (long long)r->step + 1,
                       ic_status_str(rc));
    if (!isfinite(r->st.loss))
        return ic_errf(r->err, IC_ERR_RANGE, "pretraining diverged at step %lld (loss %g): "
                       "lower learning_rate", (long long)r->step + 1, (double)r->st.loss);
    float gnorm = ic_bert_grad_norm(&r->st);
    float lr = ic_lr_linear(r->step, r->warmup_steps, r->total_steps, (float)c->learning_rate);
    if (r->st.mlm_count > 0)
        ic_adamw_step_scaled(&r->opt, &r->model.bert, r->st.grads, lr,
                             ic_grad_clip_coef(gnorm, (float)c->max_grad_norm));
    r->step++;
    r->loss_acc += r->st.loss;
    r->epoch_loss += r->st.loss;
    r->epoch_steps++;
    r->steps_log++;
    r->ex_log += nb;
    r->ex_total += nb;
    double epf = (double)(epoch - 1) + (double)(sidx + 1) / (double)r->steps_per_epoch;
    r->evt.kind = IC_TRAIN_EV_STEP;
    r->evt.step = r->step;
    r->evt.epoch = epf;
    r->evt.loss = r->st.loss;
    r->evt.learning_rate = lr;
    r->evt.grad_norm = gnorm;
    emit(r);
    if (r->step % c->logging_steps == 0)
        log_progress(r, lr, gnorm, epf);
    return IC_OK;
}

static int train_epoch(struct pre_run *r, int epoch)
{
    ic_rng_shuffle_u32(&r->rng_shuffle, r->order, r->enc.n);
    r->epoch_loss = 0;
    r->epoch_steps = 0;
    for (int64_t sidx = 0; sidx < r->steps_per_epoch; sidx++) {
        if (r->stop && *r->stop) {
            r->stopped = 1;
            break;
        }
        int rc = train_step(r, epoch, sidx);
        if (rc != IC_OK)
            return rc;
    }
    if (r->epoch_steps > 0) {
        r->res->last_epoch_loss = r->epoch_loss / (double)r->epoch_steps;
        ic_tracker_log_metric(r->trk, "epoch_loss", r->res->last_epoch_loss, r->step);
    }
    r->res->epochs_done = (double)r->step / (double)r->steps_per_epoch;
    return IC_OK;
}

static void loop_end(struct pre_run *r)
{
    double runtime = ic_time_now() - r->t_start;
    r->res->steps = r->step;
    r->res->interrupted = r->stopped;
    r->res->examples_per_s = runtime > 0 ? (double)r->ex_total / runtime : 0;
    r->evt.kind = IC_TRAIN_EV_END;
    r->evt.step = r->step;
    r->evt.examples_per_s = r->res->examples_per_s;
    emit(r);
    ic_tracker_log_metric(r->trk, "train_runtime", runtime, r->step);
    ic_tracker_log_metric(r->trk, "train_samples_per_second", r->res->examples_per_s, r->step);
}

static char *json_str(const char *s)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    if (ic_buf_json_str(&b, s, strlen(s)) != IC_OK)
        return ic_xstrdup("\"\"");
    return ic_buf_take(&b);
}

/* A (B, T) int matrix as JSON rows. */
static int put_rows(struct ic_buf *b, const char *key, const int32_t *v, int B, int T)
{
    int rc = ic_buf_printf(b, "\"%s\": [", key);
    for (int i = 0; i < B; i++) {
        rc |= ic_buf_printf(b, "%s[", i ? ", " : "");
        for (int t = 0; t < T; t++)
            rc |= ic_buf_printf(b, "%s%d", t ? ", " : "", (int)v[(size_t)i * T + t]);
        rc |= ic_buf_printf(b, "]");
    }
    return rc | ic_buf_printf(b, "]");
}

/* The trained model's loss, without dropout, on the first texts masked by a
 * fixed stream: the report keeps inputs, targets and loss, so that another
 * implementation (transformers' *ForMaskedLM on the saved files) can be
 * checked against it. */
static int probe(struct pre_run *r)
{
    int nb = r->B < 8 ? r->B : 8, pad = r->model.tok.pad_id >= 0 ? r->model.tok.pad_id : 0;
    for (int i = 0; i < nb; i++)
        r->order[i] = (uint32_t)i;
    int T = ic__pack_batch(&r->enc, r->order, nb, pad, r->bids, r->bmask, r->blab);
    struct ic_rng rng;
    ic_rng_seed(&rng, (uint64_t)r->c->seed + 4);
    for (int b = 0; b < nb; b++) {
        size_t row = (size_t)b * (size_t)T, len = (size_t)r->enc.len[b];
        ic_mlm_mask(r->bids + row, r->bmlm + row, len, &r->o->mask, &r->mv, &rng);
        for (size_t t = len; t < (size_t)T; t++)
            r->bmlm[row + t] = IGNORE;
    }
    struct ic_batch batch = {.B = nb, .T = T, .ids = r->bids, .mask = r->bmask,
                             .mlm_labels = r->bmlm};
    int rc = ic_bert_forward(&r->model.bert, &r->st, &batch, NULL);
    if (rc != IC_OK)
        return ic_errf(r->err, rc, "probe forward: %s", ic_status_str(rc));
    struct ic_buf b;
    ic_buf_init(&b, 0);
    rc = ic_buf_printf(&b, "{");
    rc |= put_rows(&b, "input_ids", r->bids, nb, T);
    rc |= ic_buf_printf(&b, ",\n    ");
    rc |= put_rows(&b, "attention_mask", r->bmask, nb, T);
    rc |= ic_buf_printf(&b, ",\n    ");
    rc |= put_rows(&b, "labels", r->bmlm, nb, T);
    rc |= ic_buf_printf(&b, ",\n    \"predicted\": %d, \"loss\": %.9g}", r->st.mlm_count,
                        (double)r->st.loss);
    IC_ASSERT(rc == IC_OK);
    r->probe = ic_buf_take(&b);
    return IC_OK;
}

/* pretrain_report.json: what was trained on, how long, the last loss. */
static char *report_json(const struct pre_run *r)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_buf_printf(&b, "{\n  \"task\": \"masked_lm\",\n  \"in_memory_texts\": %zu,\n"
                           "  \"data\": [", r->o->n_texts);
    for (size_t i = 0; i < r->o->n_data; i++) {
        char *j = json_str(r->o->data[i]);
        rc |= ic_buf_printf(&b, "%s%s", i ? ", " : "", j);
        ic_free(j);
    }
    char *base = json_str(r->res->base_model ? r->res->base_model : "");
    rc |= ic_buf_printf(&b, "],\n  \"texts\": %zu,\n  \"truncated\": %zu,\n  \"max_length\": %d,\n"
                        "  \"from_scratch\": %s,\n  \"base_model\": %s,\n  \"mask_prob\": %g,\n"
                        "  \"whole_word_mask\": %s,\n  \"steps\": %lld,\n  \"epochs_done\": %g,\n"
                        "  \"last_epoch_loss\": %.6f,\n  \"interrupted\": %s,\n"
                        "  \"probe\": %s\n}\n",
                        r->enc.n, r->res->n_truncated, r->max_len,
                        r->res->from_scratch ? "true" : "false", base, r->o->mask.prob,
                        r->o->mask.whole_word ? "true" : "false", (long long)r->step,
                        r->res->epochs_done, r->res->last_epoch_loss,
                        r->stopped ? "true" : "false", r->probe ? r->probe : "null");
    ic_free(base);
    IC_ASSERT(rc == IC_OK);
    return ic_buf_take(&b);
}

static int save(struct pre_run *r)
{
    const char *out = r->c->output;
    char *report = report_json(r);
    const char *names[] = {"pretrain_report.json"};
    const char *contents[] = {report};
    int rc = ic_model_save(&r->model, out, names, contents, 1, r->err);
    if (rc != IC_OK) {
        ic_free(report);
        return rc;
    }
    ic_log(IC_LOG_INFO, "saved %s (%lld steps, last epoch loss %.4f)", out, (long long)r->step,
           r->res->last_epoch_loss);
    ic_tracker_log_metric(r->trk, "final_loss", r->res->last_epoch_loss, r->step);
    if (r->trk)
        ic_tracker_log_artifact(r->trk, out, "model");
    r->res->report_json = report;
    r->res->output = ic_xstrdup(out);
    if (!r->stopped) {
        r->status = IC_RUN_FINISHED;
        return IC_OK;
    }
    r->status = IC_RUN_KILLED;
    return ic_errf(r->err, IC_ERR_INTERRUPTED, "interrupted at step %lld; the model so far is "
                   "saved in %s", (long long)r->step, out);
}

static void run_end(struct pre_run *r, int rc)
{
    if (rc != IC_OK && rc != IC_ERR_INTERRUPTED && r->trk)
        ic_tracker_set_tag(r->trk, "intent.error", r->err ? r->err->msg : ic_status_str(rc));
    const char *run_id = ic_tracker_run_id(r->trk);
    if (run_id && *run_id) {
        r->res->run_id = ic_xstrdup(run_id);
        r->res->run_where = ic_tracker_run_where(r->trk);
    }
    ic_tracker_end(r->trk, r->status);
    ic_free(r->bids);
    ic_free(r->bmask);
    ic_free(r->bmlm);
    ic_free(r->blab);
    ic_free(r->order);
    ic_free(r->per_file);
    ic_free(r->probe);
    ic_adamw_free(&r->opt);
    ic_bert_state_free(&r->st);
    ic_encoded_free(&r->enc);
    ic_mask_vocab_free(&r->mv);
    ic_model_free(&r->model);
    ic_dataset_free(&r->d);
}

int ic_pretrain_run(const struct ic_pretrain_opts *o, const volatile sig_atomic_t *stop,
                    ic_train_cb cb, void *ud, struct ic_pretrain_result *res, struct ic_err *err)
{
    struct pre_run r;
    int rc = run_init(&r, o, stop, cb, ud, res, err);
    if (rc == IC_OK)
        rc = load_corpora(&r);
    if (rc == IC_OK)
        rc = build_model(&r);
    if (rc == IC_OK)
        rc = allocate(&r);
    if (rc == IC_OK)
        rc = log_params(&r);
    if (rc == IC_OK)
        loop_begin(&r);
    for (int epoch = 1; rc == IC_OK && epoch <= r.c->epochs && !r.stopped; epoch++)
        rc = train_epoch(&r, epoch);
    if (rc == IC_OK)
        loop_end(&r);
    if (rc == IC_OK && r.stopped && r.step == 0) {
        r.status = IC_RUN_KILLED;
        rc = ic_errf(err, IC_ERR_INTERRUPTED, "interrupted before the first step; nothing saved");
    }
    if (rc == IC_OK)
        rc = probe(&r);
    if (rc == IC_OK)
        rc = save(&r);
    run_end(&r, rc);
    return rc;
}

/* Forwards the inner run's progress (steps and logs) to the outer callback. */
struct relay {
    ic_train_cb cb;
    void *ud;
};
static void relay_event(const struct ic_train_event *ev, void *ud)
{
    const struct relay *rl = ud;
    if (rl->cb && (ev->kind == IC_TRAIN_EV_STEP || ev->kind == IC_TRAIN_EV_LOG))
        rl->cb(ev, rl->ud);
}

int ic__pretrain_texts(const struct ic_config *c, const char *const *texts, size_t n,
                       const char *dir, const volatile sig_atomic_t *stop, ic_train_cb cb,
                       void *ud, double *loss, struct ic_err *err)
{
    struct ic_config pc = *c; /* shallow: strings borrowed, never freed here */
    pc.epochs = c->pretrain_epochs;
    pc.batch_size = 32;
    pc.tracking = 0;
    pc.output = (char *)dir;
    pc.warmup_steps = 0;
    char *extra = ic_xstrdup(c->unlabelled_data ? c->unlabelled_data : "");
    const char **files = ic_xcalloc(strlen(extra) / 2 + 2, sizeof *files);
    size_t nf = 0;
    for (char *tok = strtok(extra, ","); tok; tok = strtok(NULL, ","))
        if (*tok)
            files[nf++] = tok;
    struct ic_pretrain_opts o;
    ic_pretrain_default_opts(&o, &pc);
    o.texts = texts;
    o.n_texts = n;
    o.data = files;
    o.n_data = nf;
    o.from_scratch = 1;
    ic_log(IC_LOG_INFO, "pretraining the encoder first (masked-LM, %d epochs) on %zu training "
           "texts%s%s", pc.epochs, n, nf ? " and " : "", nf ? c->unlabelled_data : "");
    struct relay rl = {cb, ud};
    struct ic_pretrain_result res;
    int rc = ic_pretrain_run(&o, stop, relay_event, &rl, &res, err);
    *loss = res.last_epoch_loss;
    ic_pretrain_result_free(&res);
    ic_free(files);
    ic_free(extra);
    return rc;
}
