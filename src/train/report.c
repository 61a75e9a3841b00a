// SPDX-License-Identifier: Apache-2.0
/*
 * report.c - report.html (intent/report.h): one page built from the
 * evaluation report's JSON, with inline CSS and SVG only. The PNG images
 * are drawn by report_png.c.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "train/report_int.h"

#define TOP_PAIRS 10   /* most confused pairs listed */
#define PAIR_EXAMPLES 3 /* example utterances per pair */

// --- the page buffer ----------------------------------------------------------

struct html {
    struct ic_buf b;
    int rc; /* the first failure; later writes are skipped */
};

static void hp(struct html *h, const char *fmt, ...) IC_PRINTF(2, 3);
static void hp(struct html *h, const char *fmt, ...)
{
    char small[512];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (h->rc != IC_OK || n < 0)
        return;
    if ((size_t)n < sizeof small) {
        h->rc = ic_buf_append(&h->b, small, (size_t)n);
        return;
    }
    char *big = ic_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    h->rc = ic_buf_append(&h->b, big, (size_t)n);
    ic_free(big);
}

/* Text from the data, HTML-escaped (element content and quoted attributes). */
static void esc(struct html *h, const char *s)
{
    for (; s && *s && h->rc == IC_OK; s++) {
        switch (*s) {
        case '&': hp(h, "&amp;"); break;
        case '<': hp(h, "&lt;"); break;
        case '>': hp(h, "&gt;"); break;
        case '"': hp(h, "&quot;"); break;
        case '\'': hp(h, "&#39;"); break;
        default: h->rc = ic_buf_append(&h->b, s, 1);
        }
    }
}

/* A number with 4 decimals, or an en dash for a missing one. */
static void num(struct html *h, json_t *v)
{
    if (json_is_number(v))
        hp(h, "%.4f", json_number_value(v));
    else
        hp(h, "&#8211;");
}

static double get_num(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_number(v) ? json_number_value(v) : NAN;
}

// --- parsing ------------------------------------------------------------------

static void report_free(struct ic__report *r)
{
    json_decref(r->root);
    ic_free(r->labels);
    ic_free(r->cm);
    ic_free(r->row);
    memset(r, 0, sizeof *r);
}

static int report_parse(struct ic__report *r, const char *text, struct ic_err *err)
{
    memset(r, 0, sizeof *r);
    r->root = json_loads(text ? text : "", 0, NULL);
    json_t *labels = json_object_get(r->root, "labels");
    json_t *mx = json_object_get(json_object_get(r->root, "confusion_matrix"), "matrix");
    int N = (int)json_array_size(labels);
    if (N < 1 || json_array_size(mx) != (size_t)N) {
        report_free(r);
        return ic_errf(err, IC_ERR_FORMAT, "report: the evaluation report has no labels or "
                       "confusion matrix");
    }
    r->N = N;
    r->labels = ic_xcalloc((size_t)N, sizeof *r->labels);
    r->cm = ic_xcalloc((size_t)N * (size_t)N, sizeof *r->cm);
    r->row = ic_xcalloc((size_t)N, sizeof *r->row);
    for (int i = 0; i < N; i++) {
        const char *s = json_string_value(json_array_get(labels, (size_t)i));
        r->labels[i] = s ? s : "?";
        json_t *row = json_array_get(mx, (size_t)i);
        for (int j = 0; j < N; j++) {
            json_int_t c = json_integer_value(json_array_get(row, (size_t)j));
            r->cm[(size_t)i * N + j] = c > 0 ? c : 0;
            r->row[i] += r->cm[(size_t)i * N + j];
        }
    }
    return IC_OK;
}

uint32_t ic__heat_color(int64_t count, int64_t total)
{
    double v = total > 0 ? sqrt((double)count / (double)total) : 0;
    int r = (int)lround(255 - v * (255 - 8)), g = (int)lround(255 - v * (255 - 48));
    int b = (int)lround(255 - v * (255 - 107));
    return (uint32_t)(r << 16 | g << 8 | b);
}

// --- page sections ------------------------------------------------------------

static void head(struct html *h, const char *title)
{
    hp(h, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
          "Evaluation report");
    if (title) {
        hp(h, ": ");
        esc(h, title);
    }
    hp(h, "</title>\n<style>\n"
          "body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}\n"
          "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;"
          "padding:2px 8px;text-align:right}td.intent,td.ex,th{text-align:left}\n"
          "svg{background:#fff;border:1px solid #ddd;margin:0.5em 0}\n"
          ".axis{stroke:#444;stroke-width:1}.grid{stroke:#eee}.diag{stroke:#999;"
          "stroke-dasharray:4}\nsvg text{font-size:11px;fill:#333}\n"
          "rect.bin{fill:#4878b0}rect.bin-before{fill:none;stroke:#d0703a;stroke-width:1.5}\n"
          "polyline{fill:none;stroke-width:2}.mark{stroke:#c00;stroke-dasharray:3}\n"
          "td.ex ul{margin:0;padding-left:1.2em}\n</style></head><body>\n");
    hp(h, "<h1>Evaluation report</h1>\n");
    if (title) {
        hp(h, "<p id=\"title\">");
        esc(h, title);
        hp(h, "</p>\n");
    }
}

static void summary(struct html *h, const struct ic__report *r)
{
    json_t *o = r->root, *cal = json_object_get(o, "calibration");
    hp(h, "<table id=\"summary\"><tr><th>examples</th><td>%lld</td></tr>\n",
       (long long)json_integer_value(json_object_get(o, "num_examples")));
    const char *keys[] = {"accuracy", "f1_macro", "precision_macro", "recall_macro", "loss"};
    for (int i = 0; i < 5; i++) {
        hp(h, "<tr><th>%s</th><td id=\"summary-%s\">", keys[i], keys[i]);
        num(h, json_object_get(o, keys[i]));
        hp(h, "</td></tr>\n");
    }
    const char *ck[] = {"temperature", "ece_before", "ece_after"};
    for (int i = 0; cal && i < 3; i++) {
        hp(h, "<tr><th>%s</th><td id=\"summary-%s\">", ck[i], ck[i]);
        num(h, json_object_get(cal, ck[i]));
        hp(h, "</td></tr>\n");
    }
    hp(h, "</table>\n");
}

/* The confusion matrix as an SVG heat map, one rect.cell per pair. */
static void heat_map(struct html *h, const struct ic__report *r)
{
    int N = r->N, cs = N <= 20 ? 24 : N <= 60 ? 10 : N <= 150 ? 5 : 3;
    int named = N <= 60, lm = named ? 160 : 20, tm = named ? 160 : 20, side = N * cs;
    hp(h, "<h2>Confusion matrix</h2>\n<p>Rows: true intent; columns: predicted intent; "
          "colour: share of the row (square root scale). %d intents.</p>\n", N);
    hp(h, "<svg id=\"confusion\" width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
       lm + side + 10, tm + side + 10, lm + side + 10, tm + side + 10);
    for (int i = 0; named && i < N; i++) {
        hp(h, "<text class=\"row-label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">", lm - 4,
           tm + i * cs + cs / 2 + 4);
        esc(h, r->labels[i]);
        hp(h, "</text><text class=\"col-label\" transform=\"translate(%d,%d) rotate(-60)\">",
           lm + i * cs + cs / 2 + 4, tm - 4);
        esc(h, r->labels[i]);
        hp(h, "</text>\n");
    }
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++) {
            int64_t c = r->cm[(size_t)i * N + j];
            hp(h, "<rect class=\"cell\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                  "fill=\"#%06x\" data-count=\"%lld\">", lm + j * cs, tm + i * cs, cs, cs,
               (unsigned)ic__heat_color(c, r->row[i]), (long long)c);
            if (c > 0) {
                hp(h, "<title>");
                esc(h, r->labels[i]);
                hp(h, " &#8594; ");
                esc(h, r->labels[j]);
                hp(h, ": %lld</title>", (long long)c);
            }
            hp(h, "</rect>\n");
        }
    hp(h, "</svg>\n");
}

static void per_intent(struct html *h, const struct ic__report *r)
{
    json_t *pi = json_object_get(r->root, "per_intent");
    hp(h, "<h2>Per intent</h2>\n<table id=\"per-intent\"><tr><th>intent</th><th>precision"
          "</th><th>recall</th><th>F1</th><th>support</th></tr>\n");
    for (int i = 0; i < r->N; i++) {
        json_t *o = json_object_get(pi, r->labels[i]);
        hp(h, "<tr><td class=\"intent\">");
        esc(h, r->labels[i]);
        hp(h, "</td><td class=\"precision\">");
        num(h, json_object_get(o, "precision"));
        hp(h, "</td><td class=\"recall\">");
        num(h, json_object_get(o, "recall"));
        hp(h, "</td><td class=\"f1\">");
        num(h, json_object_get(o, "f1"));
        hp(h, "</td><td class=\"support\">%lld</td></tr>\n",
           (long long)json_integer_value(json_object_get(o, "support")));
    }
    hp(h, "</table>\n");
}

// --- SVG charts ---------------------------------------------------------------

#define CW 520 /* chart size and plot margins */
#define CH 320
#define ML 50
#define MR 130
#define MT 20
#define MB 40

struct chart {
    double x0, x1, y0, y1;
};

static double px(const struct chart *c, double x)
{
    return ML + (x - c->x0) / (c->x1 - c->x0) * (CW - ML - MR);
}

static double py(const struct chart *c, double y)
{
    return CH - MB - (y - c->y0) / (c->y1 - c->y0) * (CH - MT - MB);
}

/* Axes, grid, five ticks per axis and the axis titles. */
static void axes(struct html *h, const struct chart *c, const char *xt, const char *yt)
{
    for (int k = 0; k <= 4; k++) {
        double x = c->x0 + (c->x1 - c->x0) * k / 4, y = c->y0 + (c->y1 - c->y0) * k / 4;
        hp(h, "<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\"/>"
              "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", ML, py(c, y),
           CW - MR, py(c, y), ML - 4, py(c, y) + 4, y);
        hp(h, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n", px(c, x),
           CH - MB + 14, x);
    }
    hp(h, "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>"
          "<line class=\"axis\" x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/>\n", ML, CH - MB,
       CW - MR, CH - MB, ML, MT, ML, CH - MB);
    hp(h, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>"
          "<text transform=\"translate(12,%d) rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
       (ML + CW - MR) / 2, CH - 6, xt, (MT + CH - MB) / 2, yt);
}

struct series {
    const char *name, *cls, *color;
    const double *x, *y;
    int n;
};

/* One polyline (missing values skipped) and its legend entry k. */
static void line(struct html *h, const struct chart *c, const struct series *s, int k)
{
    hp(h, "<polyline class=\"%s\" stroke=\"%s\" data-points=\"%d\" points=\"", s->cls, s->color,
       s->n);
    for (int i = 0; i < s->n; i++)
        if (isfinite(s->y[i]))
            hp(h, "%.1f,%.1f ", px(c, s->x[i]), py(c, s->y[i]));
    hp(h, "\"/>\n<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"2\"/>"
          "<text x=\"%d\" y=\"%d\">%s</text>\n", CW - MR + 10, MT + 10 + 16 * k,
       CW - MR + 28, MT + 10 + 16 * k, s->color, CW - MR + 32, MT + 14 + 16 * k, s->name);
}

/* The reliability diagram: accuracy per confidence bin after calibration
 * (rect.bin), before it (rect.bin-before, outlined), and the diagonal. */
static void reliability(struct html *h, const struct ic__report *r)
{
    json_t *cal = json_object_get(r->root, "calibration");
    json_t *after = json_object_get(cal, "reliability_after");
    json_t *before = json_object_get(cal, "reliability_before");
    if (!json_array_size(after))
        return;
    struct chart c = {0, 1, 0, 1};
    hp(h, "<h2>Reliability diagram</h2>\n<p>Accuracy per confidence bin (%zu equal-width bins)"
          "; filled: calibrated (T = ", json_array_size(after));
    num(h, json_object_get(cal, "temperature"));
    hp(h, "), outlined: raw softmax. ECE before ");
    num(h, json_object_get(cal, "ece_before"));
    hp(h, ", after ");
    num(h, json_object_get(cal, "ece_after"));
    hp(h, ".</p>\n<svg id=\"reliability\" width=\"%d\" height=\"%d\">\n", CW, CH);
    axes(h, &c, "confidence", "accuracy");
    hp(h, "<line class=\"diag\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n", px(&c, 0),
       py(&c, 0), px(&c, 1), py(&c, 1));
    size_t nb = json_array_size(after);
    for (size_t b = 0; b < nb; b++) {
        json_t *a = json_array_get(after, b), *o = json_array_get(before, b);
        double lo = (double)b / (double)nb, hi = (double)(b + 1) / (double)nb;
        double acc = get_num(a, "accuracy"), accb = get_num(o, "accuracy");
        acc = isfinite(acc) ? acc : 0;
        hp(h, "<rect class=\"bin\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
              "data-count=\"%lld\"><title>%.2f-%.2f: accuracy %.4f, %lld examples</title>"
              "</rect>\n", px(&c, lo) + 1, py(&c, acc), px(&c, hi) - px(&c, lo) - 2,
           py(&c, 0) - py(&c, acc), (long long)json_integer_value(json_object_get(a, "count")),
           lo, hi, acc, (long long)json_integer_value(json_object_get(a, "count")));
        if (isfinite(accb))
            hp(h, "<rect class=\"bin-before\" x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" "
                  "height=\"%.1f\"/>\n", px(&c, lo) + 1, py(&c, accb),
               px(&c, hi) - px(&c, lo) - 2, py(&c, 0) - py(&c, accb));
    }
    hp(h, "</svg>\n");
}

/* Threshold -> in-scope accuracy, in-scope kept and OOS recall, from
 * out_of_scope.threshold_sweep, with the chosen threshold marked. */
static void threshold_curve(struct html *h, const struct ic__report *r)
{
    json_t *oos = json_object_get(r->root, "out_of_scope");
    json_t *sw = json_object_get(oos, "threshold_sweep");
    int n = (int)json_array_size(sw);
    if (n < 2)
        return;
    double *v = ic_xcalloc((size_t)n * 4, sizeof *v);
    const char *keys[] = {"threshold", "in_scope_accuracy", "in_scope_kept", "oos_recall"};
    for (int i = 0; i < n; i++)
        for (int k = 0; k < 4; k++)
            v[k * n + i] = get_num(json_array_get(sw, (size_t)i), keys[k]);
    struct chart c = {0, 1, 0, 1};
    const char *score = json_string_value(json_object_get(oos, "score"));
    double thr = get_num(oos, "threshold");
    hp(h, "<h2>Threshold curve</h2>\n<p>Fallback threshold on the %s score (on [0, 1]); "
          "the saved threshold %.4f is marked.</p>\n<svg id=\"threshold-curve\" width=\"%d\" "
          "height=\"%d\">\n", score ? score : "?", thr, CW, CH);
    axes(h, &c, "threshold", "fraction");
    struct series s[3] = {{"in-scope accuracy", "in-scope-accuracy", "#2a6fb0", v, v + n, n},
                          {"in-scope kept", "in-scope-kept", "#5aa05a", v, v + 2 * n, n},
                          {"OOS recall", "oos-recall", "#d0703a", v, v + 3 * n, n}};
    int lines = isfinite(v[3 * n]) ? 3 : 2;
    for (int k = 0; k < lines; k++)
        line(h, &c, &s[k], k);
    if (isfinite(thr))
        hp(h, "<line class=\"mark\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\"/>\n", px(&c, thr),
           MT, px(&c, thr), CH - MB);
    hp(h, "</svg>\n");
    ic_free(v);
}

static void oos_methods(struct html *h, const struct ic__report *r)
{
    json_t *oos = json_object_get(r->root, "out_of_scope"), *m = json_object_get(oos, "methods");
    if (!json_object_size(m))
        return;
    const char *cols[] = {"threshold", "auroc", "fpr_at_95_tpr", "in_scope_accuracy",
                          "in_scope_kept", "oos_recall", "oos_precision", "oos_f1"};
    hp(h, "<h2>Out-of-scope scores</h2>\n<p>%lld out-of-scope examples.</p>\n<table id=\"oos-"
          "methods\"><tr><th>score</th>", (long long)json_integer_value(
              json_object_get(oos, "num_out_of_scope")));
    for (int k = 0; k < 8; k++)
        hp(h, "<th>%s</th>", cols[k]);
    hp(h, "</tr>\n");
    const char *name;
    json_t *o;
    json_object_foreach(m, name, o) {
        hp(h, "<tr><td class=\"intent\">");
        esc(h, name);
        hp(h, "</td>");
        for (int k = 0; k < 8; k++) {
            hp(h, "<td>");
            num(h, json_object_get(o, cols[k]));
            hp(h, "</td>");
        }
        hp(h, "</tr>\n");
    }
    hp(h, "</table>\n");
}

// --- the most confused pairs --------------------------------------------------

/* The TOP_PAIRS largest off-diagonal cells, largest first (ties: row-major
 * order), as true * N + predicted; returns how many. */
static int top_pairs(const struct ic__report *r, size_t *out)
{
    int k = 0, N = r->N;
    for (size_t c = 0; c < (size_t)N * N; c++) {
        if (c / N == c % N || r->cm[c] == 0)
            continue;
        int at;
        if (k < TOP_PAIRS)
            at = k++;
        else if (r->cm[c] > r->cm[out[TOP_PAIRS - 1]])
            at = TOP_PAIRS - 1;
        else
            continue;
        while (at > 0 && r->cm[out[at - 1]] < r->cm[c]) {
            out[at] = out[at - 1];
            at--;
        }
        out[at] = c;
    }
    return k;
}

static void pair_examples(struct html *h, const struct ic_report_input *in, int t, int p)
{
    int shown = 0;
    hp(h, "<ul>");
    for (size_t i = 0; in->texts && i < in->n && shown < PAIR_EXAMPLES; i++)
        if (in->truth[i] == t && in->pred[i] == p) {
            hp(h, "<li>");
            esc(h, in->texts[i]);
            hp(h, "</li>");
            shown++;
        }
    hp(h, "</ul>");
}

static void confused(struct html *h, const struct ic__report *r, const struct ic_report_input *in)
{
    size_t top[TOP_PAIRS];
    int k = top_pairs(r, top);
    hp(h, "<h2>Most confused pairs</h2>\n<table id=\"confused\"><tr><th>true</th><th>predicted"
          "</th><th>count</th><th>share of true</th><th>examples</th></tr>\n");
    for (int i = 0; i < k; i++) {
        int t = (int)(top[i] / r->N), p = (int)(top[i] % r->N);
        hp(h, "<tr><td class=\"intent\">");
        esc(h, r->labels[t]);
        hp(h, "</td><td class=\"intent\">");
        esc(h, r->labels[p]);
        hp(h, "</td><td>%lld</td><td>%.4f</td><td class=\"ex\">", (long long)r->cm[top[i]],
           (double)r->cm[top[i]] / (double)r->row[t]);
        pair_examples(h, in, t, p);
        hp(h, "</td></tr>\n");
    }
    if (k == 0)
        hp(h, "<tr><td colspan=\"5\">no confusions</td></tr>\n");
    hp(h, "</table>\n");
}

/* Loss and accuracy per epoch, as two charts in one SVG. */
static void training_curves(struct html *h, const struct ic_epoch_stat *e, int n)
{
    if (n < 1)
        return;
    double *v = ic_xcalloc((size_t)n * 5, sizeof *v), lmax = 0;
    for (int i = 0; i < n; i++) {
        double row[5] = {e[i].epoch, e[i].train_loss, e[i].eval_loss, e[i].eval_accuracy,
                         e[i].eval_f1_macro};
        for (int k = 0; k < 5; k++)
            v[k * n + i] = row[k];
        lmax = fmax(lmax, fmax(isfinite(row[1]) ? row[1] : 0, isfinite(row[2]) ? row[2] : 0));
    }
    struct chart c1 = {v[0] - 1, v[n - 1] > v[0] ? v[n - 1] : v[0] + 1, 0, lmax > 0 ? lmax : 1};
    struct chart c2 = c1;
    c2.y1 = 1;
    struct series s[4] = {{"train loss", "train-loss", "#2a6fb0", v, v + n, n},
                          {"eval loss", "eval-loss", "#d0703a", v, v + 2 * n, n},
                          {"eval accuracy", "eval-accuracy", "#2a6fb0", v, v + 3 * n, n},
                          {"eval macro-F1", "eval-f1", "#5aa05a", v, v + 4 * n, n}};
    hp(h, "<h2>Training curves</h2>\n<svg id=\"training-curves\" width=\"%d\" height=\"%d\">\n"
          "<g class=\"loss\">\n", 2 * CW, CH);
    axes(h, &c1, "epoch", "loss");
    line(h, &c1, &s[0], 0);
    line(h, &c1, &s[1], 1);
    hp(h, "</g><g class=\"accuracy\" transform=\"translate(%d,0)\">\n", CW);
    axes(h, &c2, "epoch", "accuracy / F1");
    line(h, &c2, &s[2], 0);
    line(h, &c2, &s[3], 1);
    hp(h, "</g></svg>\n");
    ic_free(v);
}

// --- writing ------------------------------------------------------------------

static char *page(const struct ic__report *r, const struct ic_report_input *in, int *rc)
{
    struct html h = {{0}, IC_OK};
    ic_buf_init(&h.b, 0);
    head(&h, in->title);
    summary(&h, r);
    heat_map(&h, r);
    per_intent(&h, r);
    reliability(&h, r);
    threshold_curve(&h, r);
    oos_methods(&h, r);
    confused(&h, r, in);
    training_curves(&h, in->epochs, in->n_epochs);
    hp(&h, "<p>Images: <a href=\"%s\">%s</a>%s%s%s.</p>\n</body></html>\n",
       IC_REPORT_CONFUSION_PNG, IC_REPORT_CONFUSION_PNG, in->n_epochs > 0 ? ", <a href=\"" : "",
       in->n_epochs > 0 ? IC_REPORT_CURVES_PNG "\">" IC_REPORT_CURVES_PNG : "",
       in->n_epochs > 0 ? "</a>" : "");
    *rc = h.rc;
    if (h.rc != IC_OK) {
        ic_buf_free(&h.b);
        return NULL;
    }
    return ic_buf_take(&h.b);
}

/* Writes base (a file name) into dir with one of the writers below. */
static int write_in(const char *dir, const char *base, const char *text,
                    const struct ic__report *r, const struct ic_report_input *in,
                    struct ic_err *err)
{
    char *path = ic_path_join(dir, base);
    int rc;
    if (text)
        rc = ic_write_file_atomic(path, text, strlen(text), err);
    else if (!strcmp(base, IC_REPORT_CONFUSION_PNG))
        rc = ic__png_confusion(r, path, err);
    else
        rc = ic__png_curves(in->epochs, in->n_epochs, path, err);
    ic_free(path);
    return rc;
}

int ic_report_write(const char *dir, const struct ic_report_input *in, struct ic_err *err)
{
    struct ic__report r;
    int rc = report_parse(&r, in->report_json, err);
    if (rc != IC_OK)
        return rc;
    rc = ic_mkdirs(dir, err);
    char *html = rc == IC_OK ? page(&r, in, &rc) : NULL;
    if (rc == IC_OK && !html)
        rc = ic_errf(err, IC_ERR_NOMEM, "report: the page could not be built");
    if (rc == IC_OK)
        rc = write_in(dir, IC_REPORT_HTML, html, &r, in, err);
    if (rc == IC_OK)
        rc = write_in(dir, IC_REPORT_CONFUSION_PNG, NULL, &r, in, err);
    if (rc == IC_OK && in->n_epochs > 0)
        rc = write_in(dir, IC_REPORT_CURVES_PNG, NULL, &r, in, err);
    ic_free(html);
    report_free(&r);
    return rc;
}

// --- the history in eval_report.json ------------------------------------------

static json_t *real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

char *ic_report_history_json(const struct ic_epoch_stat *e, int n)
{
    json_t *a = json_array();
    for (int i = 0; i < n; i++) {
        json_t *o = json_object();
        json_object_set_new(o, "epoch", json_integer(e[i].epoch));
        json_object_set_new(o, "train_loss", real_or_null(e[i].train_loss));
        json_object_set_new(o, "eval_loss", real_or_null(e[i].eval_loss));
        json_object_set_new(o, "eval_accuracy", real_or_null(e[i].eval_accuracy));
        json_object_set_new(o, "eval_f1_macro", real_or_null(e[i].eval_f1_macro));
        json_array_append_new(a, o);
    }
    char *s = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    json_decref(a);
    char *r = ic_xstrdup(s ? s : "[]");
    free(s);
    return r;
}

void ic_report_history_parse(const char *report_json, struct ic_epoch_stat **out, int *n)
{
    *out = NULL;
    *n = 0;
    json_t *o = json_loads(report_json ? report_json : "", 0, NULL);
    json_t *a = json_object_get(o, "history");
    size_t k = json_array_size(a);
    if (k > 0 && k < 1000000) {
        *out = ic_xcalloc(k, sizeof **out);
        for (size_t i = 0; i < k; i++) {
            json_t *x = json_array_get(a, i);
            struct ic_epoch_stat *e = &(*out)[i];
            e->epoch = (int)json_integer_value(json_object_get(x, "epoch"));
            e->train_loss = get_num(x, "train_loss");
            e->eval_loss = get_num(x, "eval_loss");
            e->eval_accuracy = get_num(x, "eval_accuracy");
            e->eval_f1_macro = get_num(x, "eval_f1_macro");
        }
        *n = (int)k;
    }
    json_decref(o);
}
