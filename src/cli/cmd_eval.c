/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_eval.c - `intent eval --model PATH --data FILE`: evaluates a saved
 * model (directory or intent_classifier.pt) on any labelled file and prints
 * the evaluation report (the eval_report.json layout) as JSON on stdout.
 *
 * Exit status: 0 ok, 1 failure (unreadable model or data, a label the model
 * does not know), 2 usage error.
 */
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/bert.h"
#include "intent/data.h"
#include "intent/infer.h"
#include "intent/model.h"
#include "intent/report.h"
#include "intent/train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: intent eval --model PATH --data FILE [--batch-size N] [--max-length N]\n"
               "                   [--threads N] [--output FILE] [--precision P]\n\n"
               "Evaluates a saved model on a labelled file (JSON array, JSON Lines, CSV or TSV\n"
               "of text/intent) and prints the report as JSON: accuracy, macro-F1, per-intent\n"
               "precision/recall/F1/support and the confusion matrix.\n\n"
               "  --model PATH       model directory or intent_classifier.pt (default "
               "final_model)\n"
               "  --data FILE        labelled data (required)\n"
               "  --batch-size N     texts per forward (default 32)\n"
               "  --max-length N     tokens per text (default: the model's)\n"
               "  --threads N        compute threads (default: all cores)\n"
               "  --output FILE      also write the report to FILE\n"
               "  --report DIR       also write DIR/report.html (confusion heat map, per-intent\n"
               "                     table, reliability diagram, threshold curve, most confused\n"
               "                     pairs) and PNG images of the matrix and the training curves\n"
               CLI_PRECISION_HELP
               "  --oos-label NAME   intent marking out-of-scope examples in FILE (default: the\n"
               "                     model's oos_label); it need not be an intent of the model\n"
               "  --sweep            add the threshold sweep (in-scope accuracy, OOS recall\n"
               "                     per threshold) and print it as a table on stderr\n"
               CLI_FALLBACK_HELP
               "\nThe report adds \"calibration\" (ECE before/after, reliability tables) and\n"
               "\"out_of_scope\" (per score: threshold, AUROC, FPR at 95%% TPR, in-scope\n"
               "accuracy, OOS precision/recall/F1); the classic metrics cover the in-scope\n"
               "examples. docs/calibration.md.\n");
}

/* The data under the model's labels, plus oos_label when the model does not
 * have it (those examples get label num_labels: out of scope). */
static int load_data(struct ic_dataset *d, const char *path, const struct ic_model *m,
                     const char *oos_label, struct ic_err *err)
{
    int N = m->bert.cfg.num_labels, known = 0;
    for (int i = 0; oos_label && i < N; i++)
        known |= !strcmp(m->labels[i], oos_label);
    if (!oos_label || known)
        return ic_dataset_load_with_labels(d, path, (const char *const *)m->labels, N, err);
    const char **l = ic_xcalloc((size_t)N + 1, sizeof *l);
    for (int i = 0; i < N; i++)
        l[i] = m->labels[i];
    l[N] = oos_label;
    int rc = ic_dataset_load_with_labels(d, path, l, N + 1, err);
    ic_free(l);
    if (rc == IC_OK && d->label_counts[N] == 0)
        rc = ic_errf(err, IC_ERR_INVAL, "%s: --oos-label \"%s\": no example has that intent",
                     path, oos_label);
    return rc;
}

/* The classic metrics over the examples of the model's classes, and the
 * calibration / out-of-scope report over all. */
static int evaluate_all(const struct ic_model *m, const struct ic_encoded *e, int batch,
                        const char *oos_label, const struct ic_infer_opts *io, int sweep,
                        struct ic_metrics *met, char **oos_report, int32_t *pred,
                        struct ic_err *err)
{
    int N = m->bert.cfg.num_labels, H = m->bert.cfg.hidden_size, oos_class = -1;
    for (int i = 0; oos_label && i < N; i++)
        if (!strcmp(m->labels[i], oos_label))
            oos_class = i;
    float *lg = ic_xmalloc((e->n ? e->n : 1) * (size_t)N * sizeof *lg);
    float *fe = ic_xmalloc((e->n ? e->n : 1) * (size_t)H * sizeof *fe);
    int rc = ic_forward_collect(m, e, batch, NULL, lg, fe, err);
    if (rc == IC_OK)
        rc = ic_calibration_report(m, lg, fe, e->label, e->n, oos_class, io, sweep, oos_report,
                                   err);
    ic_metrics_init(met, N);
    for (size_t i = 0; rc == IC_OK && i < e->n; i++) {
        const float *z = lg + i * (size_t)N;
        int am = 0;
        double mx = z[0], s = 0;
        for (int j = 1; j < N; j++)
            if (z[j] > mx) {
                mx = z[j];
                am = j;
            }
        pred[i] = am;
        if (e->label[i] >= N)
            continue;
        for (int j = 0; j < N; j++)
            s += exp((double)z[j] - mx);
        ic_metrics_add(met, e->label[i], am, log(s) + mx - (double)z[e->label[i]]);
    }
    ic_metrics_finish(met);
    ic_free(lg);
    ic_free(fe);
    return rc;
}

/* The threshold sweep as a table on stderr. */
static void print_sweep(const char *oos_report)
{
    json_t *o = json_loads(oos_report ? oos_report : "{}", 0, NULL);
    json_t *oos = json_object_get(o, "out_of_scope"), *sw = json_object_get(oos, "threshold_sweep");
    fprintf(stderr, "score %s\n%9s  %17s  %13s  %10s  %13s\n",
            json_string_value(json_object_get(oos, "score")), "threshold", "in_scope_accuracy",
            "in_scope_kept", "oos_recall", "oos_precision");
    size_t i;
    json_t *row;
    json_array_foreach(sw, i, row) {
        fprintf(stderr, "%9.2f  %17.4f  %13.4f  %10.4f  %13.4f\n",
                json_number_value(json_object_get(row, "threshold")),
                json_number_value(json_object_get(row, "in_scope_accuracy")),
                json_number_value(json_object_get(row, "in_scope_kept")),
                json_number_value(json_object_get(row, "oos_recall")),
                json_number_value(json_object_get(row, "oos_precision")));
    }
    json_decref(o);
}

struct eval_args {
    const char *model_path, *data, *output, *oos_label, *report_dir;
    long batch, max_len, threads;
    int sweep;
    struct ic_infer_opts io;
    int precision; /* enum ic_precision */
};

/* A fallback option or --oos-label at argv[*i]: 1 taken, 0 not one, 2 error. */
static int parse_fallback(int argc, char **argv, int *i, struct eval_args *a)
{
    const char *o = argv[*i];
    int fb_value = 0;
    if (!cli_fallback_option(o, &fb_value) && strcmp(o, "--oos-label"))
        return 0;
    if (strcmp(o, "--no-calibration") && *i + 1 >= argc) {
        cli_error("eval", "%s needs a value", o);
        return 2;
    }
    if (!strcmp(o, "--oos-label"))
        a->oos_label = argv[++*i];
    else if (cli_fallback_set("eval", o, fb_value ? argv[++*i] : NULL, &a->io))
        return 2;
    return 1;
}

/* Sets option `which` (the names[] of parse_args) to v; 2 on a bad value. */
static int set_option(struct eval_args *a, int which, const char *v)
{
    switch (which) {
    case 0: a->model_path = v; break;
    case 1: a->data = v; break;
    case 2: return cli_parse_int("eval", "--batch-size", v, 1, 4096, &a->batch) ? 2 : 0;
    case 3: return cli_parse_int("eval", "--max-length", v, 2, 512, &a->max_len) ? 2 : 0;
    case 4: return cli_parse_int("eval", "--threads", v, 0, 1024, &a->threads) ? 2 : 0;
    case 5: a->output = v; break;
    case 6: a->report_dir = v; break;
    case 7: return cli_precision_parse("eval", "--precision", v, &a->precision);
    }
    return 0;
}

/* -1: run; 0: --help was printed; 2: usage error (printed). */
static int parse_args(int argc, char **argv, struct eval_args *a)
{
    static const char *const names[] = {"--model", "--data", "--batch-size", "--max-length",
                                        "--threads", "--output", "--report", "--precision"};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = NULL;
        if (!strcmp(o, "--help") || !strcmp(o, "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(o, "--sweep")) {
            a->sweep = 1;
            continue;
        }
        int fb = parse_fallback(argc, argv, &i, a);
        if (fb == 2)
            return 2;
        if (fb == 1)
            continue;
        int which = -1;
        for (int k = 0; k < 8; k++) {
            size_t n = strlen(names[k]);
            if (!strncmp(o, names[k], n) && (o[n] == 0 || o[n] == '=')) {
                which = k;
                v = o[n] == '=' ? o + n + 1 : NULL;
            }
        }
        if (which < 0) {
            cli_error("eval", "unknown option \"%s\" (see intent eval --help)", o);
            return 2;
        }
        if (!v && i + 1 >= argc) {
            cli_error("eval", "%s needs a value", names[which]);
            return 2;
        }
        if (set_option(a, which, v ? v : argv[++i]))
            return 2;
    }
    if (!a->data) {
        cli_error("eval", "--data FILE is required (see intent eval --help)");
        return 2;
    }
    if (a->report_dir && !*a->report_dir) {
        cli_error("eval", "--report needs a directory");
        return 2;
    }
    return -1;
}

/* The report JSON: where it came from, the classic metrics and the
 * calibration members (NULL on failure). */
static char *report_text(const struct eval_args *a, const struct ic_model *m,
                         const struct ic_metrics *met, const char *oos_report, int L, double dt,
                         size_t n)
{
    struct ic_buf x;
    ic_buf_init(&x, 0);
    int rc = ic_buf_printf(&x, "{\"model\": ");
    if (rc == IC_OK)
        rc = ic_buf_json_str(&x, a->model_path, strlen(a->model_path));
    if (rc == IC_OK)
        rc = ic_buf_printf(&x, ", \"data\": ");
    if (rc == IC_OK)
        rc = ic_buf_json_str(&x, a->data, strlen(a->data));
    if (rc == IC_OK)
        rc = ic_buf_printf(&x, ", \"max_length\": %d, \"precision\": \"%s\", "
                           "\"eval_runtime\": %.4f, \"eval_samples_per_second\": %.3f}", L,
                           ic_precision_name(ic_model_precision(m)), dt,
                           dt > 0 ? (double)n / dt : 0.0);
    if (rc == IC_OK && oos_report && strlen(oos_report) > 2) {
        x.len--; /* drop the closing brace, add the calibration members */
        rc = ic_buf_printf(&x, ", %s", oos_report + 1);
    }
    char *report = ic_metrics_report_json(met, (const char *const *)m->labels,
                                          rc == IC_OK ? x.data : NULL);
    ic_buf_free(&x);
    return report;
}

/* The training history saved with a model directory, if any. */
static void model_history(const char *model_path, struct ic_epoch_stat **e, int *n)
{
    char *path = ic_path_join(model_path, "eval_report.json"), *text = NULL;
    size_t len = 0;
    *e = NULL;
    *n = 0;
    if (ic_is_dir(model_path) && ic_read_file(path, 64u << 20, &text, &len, NULL) == IC_OK)
        ic_report_history_parse(text, e, n);
    ic_free(text);
    ic_free(path);
}

/* --report DIR: the HTML page and the images. */
static int write_report(const struct eval_args *a, const struct ic_dataset *d,
                        const struct ic_encoded *e, const int32_t *pred, const char *report,
                        struct ic_err *err)
{
    const char **texts = ic_xcalloc(e->n ? e->n : 1, sizeof *texts);
    for (size_t i = 0; i < e->n; i++)
        texts[i] = d->ex[i].text;
    struct ic_report_input in = {a->model_path, report, texts, e->label, pred, e->n, NULL, 0};
    struct ic_epoch_stat *hist;
    model_history(a->model_path, &hist, &in.n_epochs);
    in.epochs = hist;
    int rc = ic_report_write(a->report_dir, &in, err);
    ic_free(hist);
    ic_free(texts);
    if (rc == IC_OK)
        fprintf(stderr, "intent eval: report written to %s/%s\n", a->report_dir, IC_REPORT_HTML);
    return rc;
}

/* Loads the model and the data and tokenises it; *L receives the length. */
static int load_inputs(struct eval_args *a, struct ic_model *m, struct ic_dataset *d,
                       struct ic_encoded *e, int *L, struct ic_err *err)
{
    if (ic_model_load(m, a->model_path, err) != IC_OK ||
        ic_fallback_intent_check(m, a->io.fallback_intent, err) != IC_OK ||
        ic_model_set_precision(m, (enum ic_precision)a->precision, err) != IC_OK)
        return 1;
    cli_precision_note("eval", a->precision);
    if (!a->oos_label)
        a->oos_label = m->calib.oos_label;
    if (load_data(d, a->data, m, a->oos_label, err) != IC_OK)
        return 1;
    *L = a->max_len > 0 ? (int)a->max_len : m->max_length;
    if (*L <= 0)
        *L = IC_MODEL_DEFAULT_MAX_LENGTH;
    if (*L > ic_bert_max_seq(&m->bert.cfg))
        *L = ic_bert_max_seq(&m->bert.cfg);
    return ic_encode(m, d, NULL, 0, *L, e, err) != IC_OK;
}

int cmd_eval(int argc, char **argv)
{
    struct eval_args a = {"final_model", NULL, NULL, NULL, NULL, 32, 0, 0, 0, {0}, 0};
    ic_infer_default_opts(&a.io);
    if (cli_fallback_env("eval", &a.io) || cli_precision_env("eval", &a.precision))
        return 2;
    int pr = parse_args(argc, argv, &a);
    if (pr >= 0)
        return pr;
    ic_set_threads((int)a.threads);
    struct ic_model m;
    struct ic_dataset d;
    struct ic_encoded e;
    struct ic_metrics met;
    struct ic_err err;
    ic_model_init(&m);
    memset(&d, 0, sizeof d);
    memset(&e, 0, sizeof e);
    memset(&met, 0, sizeof met);
    int code = 1, L = 0;
    char *report = NULL, *oos_report = NULL;
    int32_t *pred = NULL;
    if (load_inputs(&a, &m, &d, &e, &L, &err)) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    pred = ic_xcalloc(e.n ? e.n : 1, sizeof *pred);
    double t0 = ic_time_now();
    if (evaluate_all(&m, &e, (int)a.batch, a.oos_label, &a.io, a.sweep || a.report_dir, &met,
                     &oos_report, pred, &err)) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    report = report_text(&a, &m, &met, oos_report, L, ic_time_now() - t0, e.n);
    fputs(report, stdout);
    fflush(stdout);
    if (a.sweep)
        print_sweep(oos_report);
    if ((a.output && ic_write_file_atomic(a.output, report, strlen(report), &err) != IC_OK) ||
        (a.report_dir && write_report(&a, &d, &e, pred, report, &err) != IC_OK)) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    code = 0;
out:
    ic_free(pred);
    ic_free(report);
    ic_free(oos_report);
    ic_metrics_free(&met);
    ic_encoded_free(&e);
    ic_dataset_free(&d);
    ic_model_free(&m);
    return code;
}
