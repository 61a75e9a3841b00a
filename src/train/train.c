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
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "intent/bert.h"
#include "intent/hub.h"
#include "intent/model.h"
#include "intent/optim.h"
#include "intent/tokenizer.h"
#include "intent/track.h"
#include "intent/train.h"

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
static int pack_batch(const struct ic_encoded *e, const uint32_t *sel, int B, int pad_id,
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

int ic_evaluate(const struct ic_model *m, const struct ic_encoded *e, int batch_size,
                struct ic_bert_state *s, struct ic_metrics *out, struct ic_err *err)
{
    const struct ic_bert_config *cfg = &m->bert.cfg;
    ic_metrics_init(out, cfg->num_labels);
    if (e->n == 0)
        return IC_OK;
    struct ic_bert_state own;
    memset(&own, 0, sizeof own);
    int T = e->max_len < 2 ? 2 : e->max_len;
    int rc;
    if (!s) {
        rc = ic_bert_state_init(&own, cfg, batch_size, T, 0, err);
        if (rc != IC_OK)
            return rc;
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
    for (size_t i = 0; i < e->n; i += (size_t)batch_size) {
        int B = (int)(e->n - i < (size_t)batch_size ? e->n - i : (size_t)batch_size);
        for (int b = 0; b < B; b++)
            sel[b] = (uint32_t)(i + (size_t)b);
        int Tb = pack_batch(e, sel, B, pad, ids, mask, labels);
        struct ic_batch batch = {B, Tb, ids, NULL, mask, labels};
        rc = ic_bert_forward(&m->bert, s, &batch, NULL);
        if (rc != IC_OK) {
            ic_errf(err, rc, "evaluation forward failed: %s", ic_status_str(rc));
            break;
        }
        for (int b = 0; b < B; b++) {
            int am;
            double l = row_loss(s->logits + (size_t)b * cfg->num_labels, cfg->num_labels,
                                labels[b], &am);
            ic_metrics_add(out, labels[b], am, l);
        }
    }
    ic_free(ids);
    ic_free(mask);
    ic_free(labels);
    ic_free(sel);
    if (s == &own)
        ic_bert_state_free(&own);
    ic_metrics_finish(out);
    return rc;
}

// --- the job ----------------------------------------------------------------

void ic_train_result_free(struct ic_train_result *r)
{
    if (!r)
        return;
    ic_free(r->base_model);
    ic_free(r->report_json);
    ic_free(r->output);
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

/* Builds a randomly initialised BERT with a vocabulary trained on texts. */
static int build_scratch(struct ic_model *model, const struct ic_config *c,
                         const struct ic_dataset *d, const uint32_t *tr, size_t ntr,
                         struct ic_rng *rng, struct ic_err *err)
{
    const char **texts = ic_xmalloc((ntr ? ntr : 1) * sizeof *texts);
    for (size_t i = 0; i < ntr; i++)
        texts[i] = d->ex[tr[i]].text;
    int rc = ic_vocab_train(texts, ntr, (size_t)c->scratch_vocab_size, NULL, &model->tok, err);
    ic_free(texts);
    if (rc != IC_OK)
        return ic_err_prefix(err, "training a vocabulary");
    struct ic_bert_config bc;
    ic_bert_config_default(&bc);
    bc.vocab_size = (int)ic_tokenizer_vocab_size(&model->tok);
    bc.hidden_size = c->scratch_hidden_size;
    bc.num_layers = c->scratch_layers;
    bc.num_heads = c->scratch_heads;
    bc.intermediate_size = c->scratch_intermediate_size;
    bc.max_position = c->max_length > 512 ? c->max_length : 512;
    bc.num_labels = d->n_labels;
    bc.pad_token_id = model->tok.pad_id >= 0 ? model->tok.pad_id : 0;
    rc = ic_bert_config_check(&bc, err);
    if (rc != IC_OK)
        return rc;
    rc = ic_bert_init(&model->bert, &bc, err);
    if (rc != IC_OK)
        return rc;
    ic_bert_init_weights(&model->bert, rng);
    ic_model_set_labels(model, (const char *const *)d->labels, d->n_labels);
    model->base_model = NULL;
    model->from_scratch = 1;
    return IC_OK;
}

static char *json_escape(const char *s)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    if (ic_buf_json_str(&b, s ? s : "", s ? strlen(s) : 0) != IC_OK)
        return ic_xstrdup("\"\"");
    return ic_buf_take(&b);
}

int ic_train_run(const struct ic_config *c, const volatile sig_atomic_t *stop, ic_train_cb cb,
                 void *ud, struct ic_train_result *res, struct ic_err *err)
{
    struct ic_dataset d, de;
    struct ic_model model;
    struct ic_encoded etr, eev;
    struct ic_bert_state st;
    struct ic_adamw opt;
    struct ic_metrics cur, best;
    struct ic_tracker *trk = NULL;
    uint32_t *tr = NULL, *ev = NULL, *order = NULL;
    size_t ntr = 0, nev = 0;
    int32_t *bids = NULL, *bmask = NULL, *blab = NULL;
    float *best_params = NULL;
    char *dir = NULL, *report = NULL;
    int rc, have_eval_set = 0, have_best = 0;
    enum ic_run_status run_status = IC_RUN_FAILED;
    const struct ic_dataset *evd = &d;

    memset(res, 0, sizeof *res);
    memset(&d, 0, sizeof d);
    memset(&de, 0, sizeof de);
    ic_model_init(&model);
    memset(&etr, 0, sizeof etr);
    memset(&eev, 0, sizeof eev);
    memset(&st, 0, sizeof st);
    memset(&opt, 0, sizeof opt);
    memset(&cur, 0, sizeof cur);
    memset(&best, 0, sizeof best);

    rc = ic_config_check(c, err);
    if (rc != IC_OK)
        return rc;
    const char *best_name;
    int greater;
    rc = ic_config_best_metric(c->metric_for_best_model, &best_name, &greater);
    IC_ASSERT(rc == IC_OK);
    ic_set_threads(c->threads);

    struct ic_rng rng_init, rng_shuffle, rng_drop;
    ic_rng_seed(&rng_init, (uint64_t)c->seed);
    ic_rng_seed(&rng_shuffle, (uint64_t)c->seed * 0x9E3779B97F4A7C15ull + 1);
    ic_rng_seed(&rng_drop, (uint64_t)c->seed * 0xD1B54A32D192ED03ull + 2);

    // --- data
    rc = ic_dataset_load(&d, c->data, err);
    if (rc != IC_OK)
        goto out;
    if (c->eval_data && *c->eval_data) {
        rc = ic_dataset_load_with_labels(&de, c->eval_data, (const char *const *)d.labels,
                                         d.n_labels, err);
        if (rc != IC_OK)
            goto out;
        ntr = d.n;
        tr = ic_xmalloc(ntr * sizeof *tr);
        for (size_t i = 0; i < ntr; i++)
            tr[i] = (uint32_t)i;
        nev = de.n;
        ev = ic_xmalloc(nev * sizeof *ev);
        for (size_t i = 0; i < nev; i++)
            ev[i] = (uint32_t)i;
        evd = &de;
    } else {
        rc = ic_dataset_split(&d, c->eval_fraction, (uint64_t)c->seed, &tr, &ntr, &ev, &nev, err);
        if (rc != IC_OK)
            goto out;
    }
    have_eval_set = nev > 0;
    if (ntr == 0) {
        rc = ic_errf(err, IC_ERR_INVAL, "%s: no training examples left after the split", c->data);
        goto out;
    }
    ic_log(IC_LOG_INFO, "data: %s: %zu examples, %d intents; %zu train, %zu eval%s%s", c->data,
           d.n, d.n_labels, ntr, nev, evd == &de ? " from " : "",
           evd == &de ? c->eval_data : "");

    // --- base model
    {
        struct ic_hub_opts ho;
        ic_hub_default_opts(&ho);
        struct ic_err herr;
        ic_err_clear(&herr);
        int hrc = ic_hub_resolve(c->model_name, &ho, &dir, &herr);
        if (hrc == IC_OK) {
            rc = ic_model_load_pretrained(&model, dir, d.n_labels,
                                          (const char *const *)d.labels, &rng_init, err);
            if (rc != IC_OK)
                goto out;
            ic_free(model.base_model);
            model.base_model = ic_xstrdup(c->model_name);
            model.from_scratch = 0;
            res->base_model = ic_xstrdup(dir);
        } else if (hrc == IC_ERR_NOTFOUND || hrc == IC_ERR_NET) {
            if (c->require_pretrained) {
                rc = ic_errf(err, hrc, "base model \"%s\" cannot be had (%s) and "
                             "require_pretrained is set", c->model_name, herr.msg);
                goto out;
            }
            ic_log(IC_LOG_WARN, "no pretrained \"%s\" (%s): training from scratch "
                   "(%d layers, hidden %d, a WordPiece vocabulary from the training texts)",
                   c->model_name, herr.msg, c->scratch_layers, c->scratch_hidden_size);
            rc = build_scratch(&model, c, &d, tr, ntr, &rng_init, err);
            if (rc != IC_OK)
                goto out;
            res->from_scratch = 1;
            res->base_model = ic_xstrdup("scratch");
        } else {
            rc = ic_errf(err, hrc, "base model \"%s\": %s", c->model_name, herr.msg);
            goto out;
        }
    }
    if (c->dropout >= 0)
        model.bert.cfg.hidden_dropout = (float)c->dropout;
    if (c->attention_dropout >= 0)
        model.bert.cfg.attention_dropout = (float)c->attention_dropout;
    int max_len = c->max_length;
    if (max_len > model.bert.cfg.max_position)
        max_len = model.bert.cfg.max_position;
    model.max_length = max_len;

    if (stop && *stop) {
        run_status = IC_RUN_KILLED;
        rc = ic_errf(err, IC_ERR_INTERRUPTED, "interrupted before training; nothing saved");
        goto out;
    }

    // --- tokenize
    rc = ic_encode(&model, &d, tr, ntr, max_len, &etr, err);
    if (rc != IC_OK)
        goto out;
    if (have_eval_set) {
        rc = ic_encode(&model, evd, ev, nev, max_len, &eev, err);
        if (rc != IC_OK)
            goto out;
    }
    int B = c->batch_size, Tmax = etr.max_len > eev.max_len ? etr.max_len : eev.max_len;
    if (Tmax < 2)
        Tmax = 2;
    rc = ic_bert_state_init(&st, &model.bert.cfg, B, Tmax, 1, err);
    if (rc != IC_OK)
        goto out;
    struct ic_adamw_params ap = ic_adamw_default_params();
    ap.lr = (float)c->learning_rate;
    ap.weight_decay = (float)c->weight_decay;
    rc = ic_adamw_init(&opt, &model.bert, &ap, err);
    if (rc != IC_OK)
        goto out;
    bids = ic_xmalloc((size_t)B * Tmax * sizeof *bids);
    bmask = ic_xmalloc((size_t)B * Tmax * sizeof *bmask);
    blab = ic_xmalloc((size_t)B * sizeof *blab);
    order = ic_xmalloc(ntr * sizeof *order);
    best_params = ic_alloc_aligned(model.bert.num_params * sizeof(float));
    ic_metrics_init(&best, d.n_labels);

    int64_t steps_per_epoch = (int64_t)((ntr + (size_t)B - 1) / (size_t)B);
    int64_t total = steps_per_epoch * c->epochs;
    int64_t warmup = c->warmup_steps > 0 ? c->warmup_steps
                                         : (int64_t)ceil(c->warmup_ratio * (double)total);
    res->n_train = ntr;
    res->n_eval = nev;
    res->n_labels = d.n_labels;

    // --- tracking
    {
        struct ic_tracker_opts to;
        ic_tracker_default_opts(&to);
        to.enabled = c->tracking;
        to.tracking_uri = *c->tracking_uri ? c->tracking_uri : NULL;
        to.experiment_name = *c->experiment_name ? c->experiment_name : NULL;
        to.run_name = *c->run_name ? c->run_name : NULL;
        to.system_metrics_interval_s = c->system_metrics_interval;
        to.source_name = "intent train";
        rc = ic_tracker_start(&trk, &to, err);
        if (rc != IC_OK) {
            ic_err_prefix(err, "tracking");
            goto out;
        }
        size_t nk;
        ic_config_keys(&nk);
        const struct ic_config_key *ks = ic_config_keys(NULL);
        for (size_t i = 0; i < nk; i++) {
            char *v = ic_config_value_str(c, i);
            ic_tracker_log_param(trk, ks[i].name, v);
            ic_free(v);
        }
        log_param_int(trk, "num_examples", (long long)d.n);
        log_param_int(trk, "num_train_examples", (long long)ntr);
        log_param_int(trk, "num_eval_examples", (long long)nev);
        log_param_int(trk, "num_intents", d.n_labels);
        ic_tracker_log_param(trk, "from_scratch", res->from_scratch ? "true" : "false");
        ic_tracker_log_param(trk, "base_model_resolved", res->base_model);
        log_param_int(trk, "total_steps", total);
        log_param_int(trk, "warmup_steps_effective", warmup);
        log_param_int(trk, "vocab_size", model.bert.cfg.vocab_size);
        log_param_int(trk, "hidden_size", model.bert.cfg.hidden_size);
        log_param_int(trk, "num_hidden_layers", model.bert.cfg.num_layers);
        log_param_int(trk, "num_parameters", (long long)model.bert.num_params);
        ic_tracker_set_tag(trk, "intent.from_scratch", res->from_scratch ? "true" : "false");
    }

    // --- loop
    struct ic_train_event evt;
    memset(&evt, 0, sizeof evt);
    evt.kind = IC_TRAIN_EV_BEGIN;
    evt.total_steps = total;
    evt.epochs = c->epochs;
    evt.n_train = ntr;
    evt.n_eval = nev;
    emit(cb, ud, &evt);

    for (size_t i = 0; i < ntr; i++)
        order[i] = (uint32_t)i;
    int64_t step = 0;
    int bad_evals = 0, stopped = 0;
    double t_start = ic_time_now(), t_log = t_start, loss_acc = 0;
    int64_t ex_log = 0, steps_log = 0, ex_total = 0;
    int pad = model.tok.pad_id >= 0 ? model.tok.pad_id : 0;
    double best_val = 0;
    int epoch = 0;
    for (epoch = 1; epoch <= c->epochs && !stopped; epoch++) {
        ic_rng_shuffle_u32(&rng_shuffle, order, ntr);
        if (c->group_by_length) {
            /* Mega-batches of 50 batches sorted by length (longest first),
             * then batches in random order within them (HF group_by_length). */
            size_t mb = (size_t)B * 50;
            for (size_t a = 0; a < ntr; a += mb) {
                size_t n = ntr - a < mb ? ntr - a : mb;
                /* insertion sort by length descending: stable, no allocation */
                for (size_t x = a + 1; x < a + n; x++) {
                    uint32_t v = order[x];
                    size_t y = x;
                    while (y > a && etr.len[order[y - 1]] < etr.len[v]) {
                        order[y] = order[y - 1];
                        y--;
                    }
                    order[y] = v;
                }
            }
        }
        for (int64_t sidx = 0; sidx < steps_per_epoch; sidx++) {
            if (stop && *stop) {
                stopped = 1;
                break;
            }
            size_t a = (size_t)sidx * (size_t)B;
            int nb = (int)(ntr - a < (size_t)B ? ntr - a : (size_t)B);
            int T = pack_batch(&etr, order + a, nb, pad, bids, bmask, blab);
            struct ic_batch batch = {nb, T, bids, NULL, bmask, blab};
            ic_bert_zero_grad(&st);
            rc = ic_bert_forward(&model.bert, &st, &batch, &rng_drop);
            if (rc == IC_OK)
                rc = ic_bert_backward(&model.bert, &st, &batch);
            if (rc != IC_OK) {
                ic_errf(err, rc, "training step %lld failed: %s", (long long)step + 1,
                        ic_status_str(rc));
                goto out;
            }
            if (!isfinite(st.loss)) {
                rc = ic_errf(err, IC_ERR_RANGE, "training diverged at step %lld (loss %g): lower "
                             "learning_rate", (long long)step + 1, (double)st.loss);
                goto out;
            }
            /* clip_grad_norm_ fused into the AdamW step (grads only read); the norm
             * reads only the embedding rows this batch touched. */
            float gnorm = ic_bert_grad_norm(&st);
            float coef = ic_grad_clip_coef(gnorm, (float)c->max_grad_norm);
            float lr = ic_lr_linear(step, warmup, total, (float)c->learning_rate);
            ic_adamw_step_scaled(&opt, &model.bert, st.grads, lr, coef);
            step++;
            loss_acc += st.loss;
            steps_log++;
            ex_log += nb;
            ex_total += nb;
            double epf = (double)(epoch - 1) + (double)(sidx + 1) / (double)steps_per_epoch;
            evt.kind = IC_TRAIN_EV_STEP;
            evt.step = step;
            evt.epoch = epf;
            evt.loss = st.loss;
            evt.learning_rate = lr;
            evt.grad_norm = gnorm;
            emit(cb, ud, &evt);
            if (step % c->logging_steps == 0) {
                double now = ic_time_now();
                evt.kind = IC_TRAIN_EV_LOG;
                evt.loss = loss_acc / (double)steps_log;
                evt.examples_per_s = now > t_log ? (double)ex_log / (now - t_log) : 0;
                emit(cb, ud, &evt);
                ic_tracker_log_metric(trk, "loss", evt.loss, step);
                ic_tracker_log_metric(trk, "learning_rate", lr, step);
                ic_tracker_log_metric(trk, "grad_norm", gnorm, step);
                ic_tracker_log_metric(trk, "epoch", epf, step);
                ic_tracker_log_metric(trk, "train_samples_per_second", evt.examples_per_s, step);
                ic_tracker_log_system_metrics(trk, step);
                loss_acc = 0;
                steps_log = 0;
                ex_log = 0;
                t_log = now;
            }
        }
        res->epochs_done = (double)step / (double)steps_per_epoch;
        if (stopped || !have_eval_set)
            continue;
        // --- epoch-end evaluation
        double t_ev = ic_time_now();
        ic_metrics_free(&cur);
        rc = ic_evaluate(&model, &eev, B, &st, &cur, err);
        if (rc != IC_OK)
            goto out;
        double ev_s = ic_time_now() - t_ev;
        t_log += ev_s; /* keep evaluation time out of the training speed */
        double val;
        ic_metrics_get(&cur, best_name, &val);
        int improved = !have_best || (greater ? val > best_val : val < best_val);
        if (improved) {
            have_best = 1;
            best_val = val;
            res->best_epoch = epoch;
            res->best_metric = val;
            memcpy(best_params, model.bert.params, model.bert.num_params * sizeof(float));
            ic_metrics_copy(&best, &cur);
            bad_evals = 0;
        } else {
            bad_evals++;
        }
        ic_tracker_log_metric(trk, "eval_loss", cur.loss, step);
        ic_tracker_log_metric(trk, "eval_accuracy", cur.accuracy, step);
        ic_tracker_log_metric(trk, "eval_f1_macro", cur.f1_macro, step);
        ic_tracker_log_metric(trk, "eval_precision_macro", cur.precision_macro, step);
        ic_tracker_log_metric(trk, "eval_recall_macro", cur.recall_macro, step);
        ic_tracker_log_metric(trk, "eval_runtime", ev_s, step);
        ic_tracker_log_metric(trk, "eval_samples_per_second", ev_s > 0 ? nev / ev_s : 0, step);
        ic_tracker_log_metric(trk, "epoch", epoch, step);
        evt.kind = IC_TRAIN_EV_EVAL;
        evt.step = step;
        evt.epoch = epoch;
        evt.eval = &cur;
        evt.is_best = improved;
        evt.bad_evals = bad_evals;
        emit(cb, ud, &evt);
        evt.eval = NULL;
        if (c->early_stopping_patience > 0 && bad_evals >= c->early_stopping_patience) {
            ic_log(IC_LOG_INFO, "early stopping: %s did not improve for %d evaluations "
                   "(best %.4f at epoch %d)", best_name, bad_evals, best_val, res->best_epoch);
            res->early_stopped = 1;
            break;
        }
    }
    double runtime = ic_time_now() - t_start;
    res->steps = step;
    res->interrupted = stopped;
    res->train_runtime_s = runtime;
    res->train_examples_per_s = runtime > 0 ? (double)ex_total / runtime : 0;
    evt.kind = IC_TRAIN_EV_END;
    evt.step = step;
    evt.examples_per_s = res->train_examples_per_s;
    emit(cb, ud, &evt);
    ic_tracker_log_metric(trk, "train_runtime", runtime, step);
    ic_tracker_log_metric(trk, "train_samples_per_second", res->train_examples_per_s, step);

    if (stopped && step == 0) {
        /* Nothing trained: keep whatever model is already in output. */
        run_status = IC_RUN_KILLED;
        rc = ic_errf(err, IC_ERR_INTERRUPTED, "interrupted before the first step; nothing saved");
        goto out;
    }

    // --- best model and its report
    const char *split;
    if (have_best) {
        memcpy(model.bert.params, best_params, model.bert.num_params * sizeof(float));
        split = evd == &de ? "eval_data" : "eval_split";
    } else if (have_eval_set) {
        /* Interrupted before the first evaluation: evaluate what we have. */
        ic_metrics_free(&best);
        rc = ic_evaluate(&model, &eev, B, &st, &best, err);
        if (rc != IC_OK)
            goto out;
        split = evd == &de ? "eval_data" : "eval_split";
    } else {
        /* No evaluation set (eval_fraction 0): report on the training data. */
        ic_metrics_free(&best);
        rc = ic_evaluate(&model, &etr, B, &st, &best, err);
        if (rc != IC_OK)
            goto out;
        split = "train";
    }
    {
        char *jd = json_escape(c->data), *je = json_escape(evd == &de ? c->eval_data : c->data);
        char *jb = json_escape(model.base_model ? model.base_model : c->model_name);
        char *extra = ic_xasprintf(
            "{\"evaluated_on\": \"%s\", \"data\": %s, \"eval_data\": %s, \"best_epoch\": %d, "
            "\"epochs_done\": %g, \"steps\": %lld, \"metric_for_best_model\": \"%s\", "
            "\"base_model\": %s, \"from_scratch\": %s, \"interrupted\": %s, "
            "\"train_examples\": %zu, \"train_samples_per_second\": %.3f}",
            split, jd, je, res->best_epoch, res->epochs_done, (long long)step, best_name, jb,
            res->from_scratch ? "true" : "false", stopped ? "true" : "false", ntr,
            res->train_examples_per_s);
        report = ic_metrics_report_json(&best, (const char *const *)model.labels, extra);
        ic_free(extra);
        ic_free(jd);
        ic_free(je);
        ic_free(jb);
    }
    {
        const char *names[] = {"eval_report.json"};
        const char *contents[] = {report};
        rc = ic_model_save(&model, c->output, names, contents, 1, err);
        if (rc != IC_OK)
            goto out;
    }
    ic_log(IC_LOG_INFO, "saved %s (best epoch %d, eval %s %.4f, accuracy %.4f)", c->output,
           res->best_epoch, best_name, have_best ? best_val : 0.0, best.accuracy);
    if (trk) {
        ic_tracker_log_metric(trk, "final_eval_accuracy", best.accuracy, step);
        ic_tracker_log_metric(trk, "final_eval_f1_macro", best.f1_macro, step);
        ic_tracker_log_artifact(trk, c->output, "model");
        char *rp = ic_path_join(c->output, "eval_report.json");
        ic_tracker_log_artifact(trk, rp, "");
        ic_free(rp);
    }
    res->report_json = report;
    report = NULL;
    res->output = ic_xstrdup(c->output);
    if (stopped) {
        run_status = IC_RUN_KILLED;
        rc = ic_errf(err, IC_ERR_INTERRUPTED, "interrupted at step %lld; the best model so far "
                     "is saved in %s", (long long)step, c->output);
    } else {
        run_status = IC_RUN_FINISHED;
        rc = IC_OK;
    }
out:
    if (rc != IC_OK && rc != IC_ERR_INTERRUPTED && trk)
        ic_tracker_set_tag(trk, "intent.error", err ? err->msg : ic_status_str(rc));
    ic_tracker_end(trk, run_status);
    ic_free(report);
    ic_free(dir);
    ic_free_aligned(best_params);
    ic_free(bids);
    ic_free(bmask);
    ic_free(blab);
    ic_free(order);
    ic_free(tr);
    ic_free(ev);
    ic_metrics_free(&cur);
    ic_metrics_free(&best);
    ic_adamw_free(&opt);
    ic_bert_state_free(&st);
    ic_encoded_free(&etr);
    ic_encoded_free(&eev);
    ic_model_free(&model);
    ic_dataset_free(&d);
    ic_dataset_free(&de);
    return rc;
}
