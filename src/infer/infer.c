/* SPDX-License-Identifier: Apache-2.0 */
/*
 * infer.c - batched inference for predict and serve (see intent/infer.h).
 *
 * Texts are tokenized into one (texts, max_length) id table and ordered by
 * length; each forward takes the next run of texts that fits one of the
 * context's shapes (rows x tokens within a fixed token budget), packed into a
 * (B, T) batch padded to the longest row, through the shared model with that
 * shape's state. Nothing here allocates once the buffers have grown to the
 * largest call seen and the shapes in use have their state.
 */
#include "intent/infer.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Appends a string literal (its length known at compile time). */
#define buf_lit(b, lit) ic_buf_append((b), (lit), sizeof(lit) - 1)

void ic_infer_default_opts(struct ic_infer_opts *o)
{
    o->max_batch = 32;
    o->max_length = 0;
    o->no_calibration = 0;
    o->oos_score = -1;
    o->fallback_threshold = -1;
    o->ambiguity_threshold = -1;
    o->fallback_intent = NULL;
}

void ic_infer_free(struct ic_infer *c)
{
    if (!c)
        return;
    for (int k = 0; k < c->n_shapes; k++)
        if (c->shapes[k].ready)
            ic_bert_state_free(&c->shapes[k].st);
    ic_tok_work_free(&c->tw);
    ic_free(c->tok);
    ic_free(c->ntok);
    ic_free(c->order);
    ic_free(c->top);
    ic_free(c->ids);
    ic_free(c->mask);
    ic_free(c->len_count);
    ic_free(c->pcal);
    ic_free(c->scratch);
    memset(c, 0, sizeof *c);
}

static void grow_texts(struct ic_infer *c, size_t n)
{
    if (n <= c->cap_texts)
        return;
    size_t cap = c->cap_texts ? c->cap_texts : 64;
    while (cap < n)
        cap *= 2;
    c->tok = ic_xrealloc(c->tok, cap * (size_t)c->max_length * sizeof *c->tok);
    c->ntok = ic_xrealloc(c->ntok, cap * sizeof *c->ntok);
    c->order = ic_xrealloc(c->order, cap * sizeof *c->order);
    c->cap_texts = cap;
}

static void grow_top(struct ic_infer *c, size_t n)
{
    if (n <= c->cap_top)
        return;
    size_t cap = c->cap_top ? c->cap_top : 256;
    while (cap < n)
        cap *= 2;
    c->top = ic_xrealloc(c->top, cap * sizeof *c->top);
    c->cap_top = cap;
}

/* Temperature, score, thresholds and fallback name from the options and
 * what the model stores (include/intent/infer.h). */
static int resolve_fallback(struct ic_infer *c, const struct ic_model *m,
                            const struct ic_infer_opts *o, struct ic_err *err)
{
    const struct ic_calibration *cal = &m->calib;
    c->temperature = o->no_calibration || !cal->has_temperature ? 1.0 : cal->temperature;
    c->score = cal->has_oos && ic_calibration_can_score(cal, cal->score) ? cal->score
               : IC_OOS_SOFTMAX;
    if (o->oos_score >= 0) {
        if (o->oos_score >= IC_OOS_NSCORES || !ic_calibration_can_score(cal, o->oos_score))
            return ic_errf(err, IC_ERR_INVAL, "out-of-scope score \"%s\": the model stores no "
                           "statistics for it (train it with this version)",
                           ic_oos_score_name(o->oos_score));
        c->score = (enum ic_oos_score)o->oos_score;
    }
    if (!(o->fallback_threshold <= 1) || !(o->ambiguity_threshold <= 1))
        return ic_errf(err, IC_ERR_INVAL, "fallback and ambiguity thresholds must be in [0, 1]");
    c->fallback_threshold = o->fallback_threshold >= 0 ? o->fallback_threshold
                            : cal->has_oos ? cal->threshold[c->score] : 0;
    c->ambiguity_threshold = o->ambiguity_threshold >= 0 ? o->ambiguity_threshold
                             : cal->has_oos ? cal->ambiguity_threshold : 0;
    c->fallback_intent = o->fallback_intent && *o->fallback_intent ? o->fallback_intent
                         : IC_FALLBACK_INTENT_DEFAULT;
    return ic_fallback_intent_check(m, c->fallback_intent, err);
}

int ic_fallback_intent_check(const struct ic_model *m, const char *name, struct ic_err *err)
{
    if (!name || !*name)
        name = IC_FALLBACK_INTENT_DEFAULT;
    for (int i = 0; i < m->bert.cfg.num_labels; i++)
        if (m->labels && m->labels[i] && !strcmp(m->labels[i], name))
            return ic_errf(err, IC_ERR_INVAL, "fallback intent \"%s\" is one of the model's "
                           "intents (label %d); choose another name with --fallback-intent",
                           name, i);
    return IC_OK;
}

int ic_infer_init(struct ic_infer *c, const struct ic_model *m, const struct ic_infer_opts *o,
                  struct ic_err *err)
{
    struct ic_infer_opts def;
    int rc;
    memset(c, 0, sizeof *c);
    if (!o) {
        ic_infer_default_opts(&def);
        o = &def;
    }
    if (!m || m->bert.cfg.num_labels < 1 || !m->bert.params)
        return ic_errf(err, IC_ERR_INVAL, "inference: no model loaded");
    if (o->max_batch < 1 || o->max_batch > 65536)
        return ic_errf(err, IC_ERR_INVAL, "inference: batch size %d out of range [1, 65536]",
                       o->max_batch);
    int max_len = o->max_length > 0 ? o->max_length
                  : (m->max_length > 0 ? m->max_length : IC_MODEL_DEFAULT_MAX_LENGTH);
    if (max_len > ic_bert_max_seq(&m->bert.cfg))
        max_len = ic_bert_max_seq(&m->bert.cfg);
    if (max_len < 2)
        return ic_errf(err, IC_ERR_INVAL, "inference: maximum length %d is below 2", max_len);
    rc = resolve_fallback(c, m, o, err);
    if (rc)
        return rc;
    c->model = m;
    c->max_batch = o->max_batch;
    c->max_length = max_len;
    c->num_labels = m->bert.cfg.num_labels;
    /* Shapes: max_batch rows of <= 16 tokens, then half the rows for twice
     * the tokens, ..., ending with the full max_length. */
    size_t budget = (size_t)c->max_batch * 16;
    for (int seq = 16;; seq *= 2) {
        int t = seq < max_len ? seq : max_len;
        size_t b = budget / (size_t)t;
        struct ic_infer_shape *sh = &c->shapes[c->n_shapes++];
        sh->max_seq = t;
        sh->max_batch = b < 1 ? 1 : (b > (size_t)c->max_batch ? c->max_batch : (int)b);
        if (t == max_len || c->n_shapes == IC_INFER_MAX_SHAPES) {
            sh->max_seq = max_len;
            break;
        }
    }
    c->cells = budget > (size_t)max_len ? budget : (size_t)max_len;
    rc = ic_bert_state_init(&c->shapes[0].st, &m->bert.cfg, c->shapes[0].max_batch,
                            c->shapes[0].max_seq, 0, err);
    if (rc)
        goto out;
    c->shapes[0].st.prep = m->prep;
    c->shapes[0].ready = 1;
    ic_tok_work_init(&c->tw);
    c->ids = ic_xmalloc(c->cells * sizeof *c->ids);
    c->mask = ic_xmalloc(c->cells * sizeof *c->mask);
    c->len_count = ic_xmalloc((size_t)(c->max_length + 2) * sizeof *c->len_count);
    c->pcal = ic_xmalloc((size_t)c->num_labels * sizeof *c->pcal);
    c->scratch = ic_xmalloc((size_t)m->bert.cfg.hidden_size * sizeof *c->scratch);
    grow_texts(c, (size_t)c->max_batch);
    grow_top(c, (size_t)c->max_batch * (size_t)(c->num_labels < 8 ? c->num_labels : 8));
out:
    if (rc)
        ic_infer_free(c);
    return rc;
}

/* The name of label i of m, or "?" where it has none. */
static const char *model_label(const struct ic_model *m, int i)
{
    if (!m->labels || i < 0 || i >= m->bert.cfg.num_labels || !m->labels[i])
        return "?";
    return m->labels[i];
}

const char *ic_infer_label(const struct ic_infer *c, int i)
{
    return c && c->model ? model_label(c->model, i) : "?";
}

char *ic_format_prob(float p, char *buf)
{
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, 32, "%.*g", prec, (double)p);
        if (strtof(buf, NULL) == p)
            break;
    }
    return buf;
}

/* Orders texts by token count, ties by index (stable, so the output does
 * not depend on the sort): a counting sort over lengths 0..max_length, with
 * count[max_length + 2] scratch from the context. */
static void order_by_length(int *order, const int *ntok, int n, int *count, int max_len)
{
    memset(count, 0, (size_t)(max_len + 2) * sizeof *count);
    for (int i = 0; i < n; i++)
        count[ntok[i] + 1]++;
    for (int len = 1; len <= max_len + 1; len++)
        count[len] += count[len - 1];
    for (int i = 0; i < n; i++)
        order[count[ntok[i]]++] = i;
}

/* The best kk labels of probs[N], most probable first (ties: lower index). */
static void rank_top(const float *probs, int N, int kk, struct ic_label_prob *top)
{
    int m = 0;
    for (int j = 0; j < N; j++) {
        float p = probs[j];
        if (m == kk && !(p > top[m - 1].prob))
            continue;
        int pos = m < kk ? m++ : kk - 1;
        while (pos > 0 && p > top[pos - 1].prob) {
            top[pos] = top[pos - 1];
            pos--;
        }
        top[pos].label = j;
        top[pos].prob = p;
    }
}

/* The in-scope score on [0, 1] of row r: the calibrated top probability p1,
 * or the in-scope CDF of the energy / minus the Mahalanobis distance. */
static double oos_score(struct ic_infer *c, const struct ic_bert_state *st, int r, double p1)
{
    const struct ic_calibration *cal = &c->model->calib;
    const float *z = st->logits + (size_t)r * c->num_labels;
    double raw;
    switch (c->score) {
    case IC_OOS_ENERGY:
        raw = ic_energy_score(z, c->num_labels, 1.0);
        break;
    case IC_OOS_MAHALANOBIS:
        raw = -ic_maha_distance(&cal->maha, st->features + (size_t)r * st->cfg.hidden_size,
                                c->scratch, NULL);
        break;
    default:
        return p1;
    }
    return ic_oos_cdf(cal->quantiles[c->score], IC_OOS_QUANTILES, raw);
}

/* Label, confidences, ranking and fallback of row r of the last forward. */
static void finish_row(struct ic_infer *c, const struct ic_bert_state *st, int r, int kk,
                       struct ic_label_prob *top, struct ic_prediction *res)
{
    const int N = c->num_labels;
    const float *raw = st->probs + (size_t)r * N, *p = raw;
    if (c->temperature != 1.0) {
        ic_softmax_temp(c->pcal, st->logits + (size_t)r * N, N, c->temperature);
        p = c->pcal;
    }
    int best = 0, second = -1;
    for (int j = 1; j < N; j++) {
        if (p[j] > p[best]) {
            second = best;
            best = j;
        } else if (second < 0 || p[j] > p[second]) {
            second = j;
        }
    }
    res->label = best;
    res->confidence = p[best];
    res->raw_confidence = raw[best];
    res->n_top = kk;
    res->top = NULL;
    if (kk) {
        rank_top(p, N, kk, top);
        res->top = top;
    }
    res->fallback = IC_FALLBACK_NONE;
    res->fallback_intent = c->fallback_intent;
    res->fallback_confidence = (float)c->fallback_threshold;
    res->oos_score = p[best];
    if (c->fallback_threshold <= 0 && c->ambiguity_threshold <= 0)
        return;
    const char *oos = c->model->calib.oos_label;
    if (oos && c->model->labels && !strcmp(c->model->labels[best], oos)) {
        res->fallback = IC_FALLBACK_OOS_CLASS;
        return;
    }
    res->oos_score = (float)oos_score(c, st, r, p[best]);
    res->fallback = (int)ic_fallback_decide(res->oos_score, p[best], second >= 0 ? p[second] : -1,
                                            c->fallback_threshold, c->ambiguity_threshold);
}

int ic_infer_encode(const struct ic_infer *c, struct ic_tok_work *tw, const char *text,
                    size_t len, int32_t *ids, int *n_tokens, int *text_tokens,
                    struct ic_err *err)
{
    int nt = 0;
    int rc = ic_tokenizer_encode(&c->model->tok, tw, text, len, c->max_length, ids, &nt, err);
    if (rc)
        return rc;
    *n_tokens = nt;
    *text_tokens = tw->n_ids + 2 > (size_t)nt ? (int)tw->n_ids + 2 : nt;
    return IC_OK;
}

/* Runs the texts of c->tok / c->ntok (n rows, already tokenized) in forwards
 * of the context's shapes, shortest first, into results. */
static int run_forwards(struct ic_infer *c, int n, int kk, struct ic_prediction *results,
                        struct ic_err *err)
{
    const struct ic_model *m = c->model;
    const int L = c->max_length, N = c->num_labels;
    int rc;
    for (int i = 0; i < n; i++)
        c->order[i] = i;
    if (n > 1)
        order_by_length(c->order, c->ntok, n, c->len_count, L);

    int32_t pad = m->tok.pad_id >= 0 ? m->tok.pad_id : m->bert.cfg.pad_token_id;
    for (int s = 0; s < n;) {
        /* The shape that takes the most of the next texts (shortest first);
         * ties go to the shorter shape. */
        int best_k = -1, best_cnt = 0, first = c->ntok[c->order[s]];
        for (int k = 0; k < c->n_shapes; k++) {
            const struct ic_infer_shape *sh = &c->shapes[k];
            if (sh->max_seq < first)
                continue;
            int cnt = 0;
            while (s + cnt < n && cnt < sh->max_batch &&
                   c->ntok[c->order[s + cnt]] <= sh->max_seq)
                cnt++;
            if (cnt > best_cnt) {
                best_cnt = cnt;
                best_k = k;
            }
        }
        IC_ASSERT(best_k >= 0);
        struct ic_infer_shape *sh = &c->shapes[best_k];
        if (!sh->ready) {
            rc = ic_bert_state_init(&sh->st, &m->bert.cfg, sh->max_batch, sh->max_seq, 0, err);
            if (rc)
                return rc;
            sh->st.prep = m->prep;
            sh->ready = 1;
        }
        int B = best_cnt;
        int T = c->ntok[c->order[s + B - 1]];
        if (T < 1)
            T = 1;
        for (int r = 0; r < B; r++) {
            int i = c->order[s + r], nt = c->ntok[i];
            int32_t *ids = c->ids + (size_t)r * T, *mask = c->mask + (size_t)r * T;
            memcpy(ids, c->tok + (size_t)i * L, (size_t)nt * sizeof *ids);
            for (int t = 0; t < nt; t++)
                mask[t] = 1;
            for (int t = nt; t < T; t++) {
                ids[t] = pad;
                mask[t] = 0;
            }
        }
        struct ic_batch b = {.B = B, .T = T, .ids = c->ids, .type_ids = NULL, .mask = c->mask,
                             .labels = NULL};
        rc = ic_bert_forward(&m->bert, &sh->st, &b, NULL);
        if (rc)
            return ic_errf(err, rc, "inference: forward pass failed (batch %d x %d)", B, T);
        c->n_forwards++;
        for (int r = 0; r < B; r++) {
            int i = c->order[s + r];
            if (c->logits_out)
                memcpy(c->logits_out + (size_t)i * N, sh->st.logits + (size_t)r * N,
                       (size_t)N * sizeof *c->logits_out);
            finish_row(c, &sh->st, r, kk, kk ? c->top + (size_t)i * kk : NULL, &results[i]);
        }
        s += B;
    }
    return IC_OK;
}

/* Room for n texts (and their rankings of kk labels). */
static void reserve(struct ic_infer *c, int n, int kk)
{
    grow_texts(c, (size_t)n);
    if (kk)
        grow_top(c, (size_t)n * (size_t)kk);
}

int ic_predict_batch(struct ic_infer *c, const char *const *texts, const size_t *lens, int n,
                     int top_k, struct ic_prediction *results, struct ic_err *err)
{
    if (n <= 0)
        return IC_OK;
    if (!c || !c->model)
        return ic_errf(err, IC_ERR_INVAL, "inference: context not initialised");
    const int L = c->max_length, N = c->num_labels;
    int kk = top_k > 0 ? (top_k < N ? top_k : N) : 0;
    reserve(c, n, kk);

    /* --- tokenize every text into its row of the id table */
    for (int i = 0; i < n; i++) {
        size_t len = lens ? lens[i] : strlen(texts[i]);
        int rc = ic_infer_encode(c, &c->tw, texts[i], len, c->tok + (size_t)i * L, &c->ntok[i],
                                 &results[i].text_tokens, err);
        if (rc)
            return ic_err_prefix(err, "text %d", i);
        results[i].n_tokens = c->ntok[i];
        results[i].truncated = results[i].text_tokens > c->ntok[i];
    }
    /* A huge text grew the tokenizer's work area (code points of the whole
     * text); give that memory back instead of keeping it for good. */
    if (c->tw.cps_cap > ((size_t)1 << 16) || c->tw.norm_cap > ((size_t)1 << 16)) {
        ic_tok_work_free(&c->tw);
        ic_tok_work_init(&c->tw);
    }
    return run_forwards(c, n, kk, results, err);
}

int ic_predict_ids(struct ic_infer *c, const int32_t *const *ids, const int *n_tokens, int n,
                   int top_k, struct ic_prediction *results, struct ic_err *err)
{
    if (n <= 0)
        return IC_OK;
    if (!c || !c->model)
        return ic_errf(err, IC_ERR_INVAL, "inference: context not initialised");
    const int L = c->max_length, N = c->num_labels;
    int kk = top_k > 0 ? (top_k < N ? top_k : N) : 0;
    reserve(c, n, kk);
    for (int i = 0; i < n; i++) {
        if (n_tokens[i] < 1 || n_tokens[i] > L)
            return ic_errf(err, IC_ERR_RANGE, "inference: text %d has %d tokens, outside "
                           "[1, %d]", i, n_tokens[i], L);
        memcpy(c->tok + (size_t)i * L, ids[i], (size_t)n_tokens[i] * sizeof *c->tok);
        c->ntok[i] = n_tokens[i];
        results[i].n_tokens = n_tokens[i];
    }
    return run_forwards(c, n, kk, results, err);
}

/* After "intent": <fallback name>: the fallback's confidence and the
 * "fallback" object (why, the in-scope score, the real top intent). */
static int fallback_json(struct ic_buf *b, const char *label, const struct ic_prediction *p)
{
    char num[32];
    const char *why = ic_fallback_reason_name((enum ic_fallback_reason)p->fallback);
    int rc = ic_buf_printf(b, ",\"confidence\":%s,\"fallback\":{\"reason\":\"%s\"",
                           ic_format_prob(p->fallback_confidence, num), why);
    rc |= ic_buf_printf(b, ",\"score\":%s,\"intent\":", ic_format_prob(p->oos_score, num));
    rc |= ic_buf_json_str(b, label, strlen(label));
    rc |= ic_buf_printf(b, ",\"confidence\":%s}", ic_format_prob(p->confidence, num));
    return rc;
}

int ic_prediction_json(struct ic_buf *b, const struct ic_model *m, const char *text,
                        size_t len, const struct ic_prediction *p)
{
    char num[32];
    const char *label = model_label(m, p->label);
    int rc = buf_lit(b, "{\"text\":");
    rc |= ic_buf_json_str(b, text, len);
    rc |= buf_lit(b, ",\"intent\":");
    const char *shown = p->fallback ? p->fallback_intent : label;
    rc |= ic_buf_json_str(b, shown, strlen(shown));
    if (p->fallback)
        rc |= fallback_json(b, label, p);
    else
        rc |= ic_buf_printf(b, ",\"confidence\":%s", ic_format_prob(p->confidence, num));
    if (p->n_top > 0) {
        rc |= buf_lit(b, ",\"top_k\":[");
        if (p->fallback) {
            rc |= buf_lit(b, "{\"intent\":");
            rc |= ic_buf_json_str(b, p->fallback_intent, strlen(p->fallback_intent));
            rc |= ic_buf_printf(b, ",\"confidence\":%s},",
                                ic_format_prob(p->fallback_confidence, num));
        }
        for (int k = 0; k < p->n_top; k++) {
            const char *name = model_label(m, p->top[k].label);
            if (k)
                rc |= buf_lit(b, ",");
            rc |= buf_lit(b, "{\"intent\":");
            rc |= ic_buf_json_str(b, name, strlen(name));
            rc |= ic_buf_printf(b, ",\"confidence\":%s}", ic_format_prob(p->top[k].prob, num));
        }
        rc |= buf_lit(b, "]");
    }
    rc |= buf_lit(b, "}");
    return rc ? IC_ERR_RANGE : IC_OK;
}
