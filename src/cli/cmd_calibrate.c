/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_calibrate.c - `intent calibrate --model DIR --data TRAIN --eval-data
 * DEV`: fits the temperature and the out-of-scope scores and thresholds of
 * an already trained model (one saved before calibration existed, or to
 * choose them on other data) exactly as `intent train` does at its end,
 * and saves the model again (atomically) with calibration_report.json.
 *
 * Exit status: 0 ok, 1 failure, 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/calib.h"
#include "intent/data.h"
#include "intent/model.h"
#include "intent/train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: intent calibrate --model DIR --data FILE --eval-data FILE [--output DIR]\n"
               "                        [--oos-label NAME] [--oos-score NAME]\n"
               "                        [--ambiguity-threshold X] [--batch-size N] [--threads N]\n\n"
               "Fits the temperature (on --eval-data), the Mahalanobis statistics (on --data's\n"
               "features) and a fallback threshold per out-of-scope score (on --eval-data) of a\n"
               "trained model, as training does by default, and saves the model to --output\n"
               "(default: --model) with calibration_report.json. Examples whose intent is\n"
               "--oos-label are out-of-scope examples (a class of the model or not).\n");
}

struct calib_args {
    const char *model, *data, *eval_data, *output, *oos_label, *oos_score;
    double ambiguity;
    long batch, threads;
};

static int parse(int argc, char **argv, struct calib_args *a)
{
    for (int i = 1; i < argc; i++) {
        const char *k = argv[i];
        if (!strcmp(k, "-h") || !strcmp(k, "--help")) {
            usage(stdout);
            return -1;
        }
        if (i + 1 >= argc) {
            cli_error("calibrate", "%s needs a value (see --help)", k);
            return 2;
        }
        const char *v = argv[++i];
        struct ic_err err;
        if (!strcmp(k, "--model"))
            a->model = v;
        else if (!strcmp(k, "--data"))
            a->data = v;
        else if (!strcmp(k, "--eval-data"))
            a->eval_data = v;
        else if (!strcmp(k, "--output"))
            a->output = v;
        else if (!strcmp(k, "--oos-label"))
            a->oos_label = v;
        else if (!strcmp(k, "--oos-score"))
            a->oos_score = v;
        else if (!strcmp(k, "--ambiguity-threshold")) {
            if (ic_parse_threshold(v, k, &a->ambiguity, &err)) {
                cli_error("calibrate", "%s", err.msg);
                return 2;
            }
        } else if (!strcmp(k, "--batch-size")) {
            if (cli_parse_int("calibrate", k, v, 1, 4096, &a->batch))
                return 2;
        } else if (!strcmp(k, "--threads")) {
            if (cli_parse_int("calibrate", k, v, 0, 1024, &a->threads))
                return 2;
        } else {
            cli_error("calibrate", "unknown option %s (see --help)", k);
            return 2;
        }
    }
    if (!a->model || !a->data || !a->eval_data) {
        cli_error("calibrate", "--model, --data and --eval-data are required (see --help)");
        return 2;
    }
    return 0;
}

/* The model's labels, plus the out-of-scope label when it is not one. */
static const char **label_set(const struct ic_model *m, const char *oos, int *n)
{
    int N = m->bert.cfg.num_labels, known = 0;
    const char **l = ic_xcalloc((size_t)N + 1, sizeof *l);
    for (int i = 0; i < N; i++) {
        l[i] = m->labels[i];
        known |= oos && !strcmp(l[i], oos);
    }
    *n = N;
    if (oos && *oos && !known)
        l[(*n)++] = oos;
    return l;
}

static int run(const struct calib_args *a, struct ic_model *m, struct ic_err *err)
{
    struct ic_dataset dt, de;
    struct ic_encoded et, ee;
    memset(&dt, 0, sizeof dt);
    memset(&de, 0, sizeof de);
    memset(&et, 0, sizeof et);
    memset(&ee, 0, sizeof ee);
    char *report = NULL;
    int n;
    const char **labels = label_set(m, a->oos_label, &n);
    int rc = ic_dataset_load_with_labels(&dt, a->data, labels, n, err);
    if (rc == IC_OK)
        rc = ic_dataset_load_with_labels(&de, a->eval_data, labels, n, err);
    if (rc == IC_OK && n > m->bert.cfg.num_labels &&
        dt.label_counts[n - 1] + de.label_counts[n - 1] == 0)
        rc = ic_errf(err, IC_ERR_INVAL, "--oos-label \"%s\": no example of %s or %s has that "
                     "intent, and the model has no such class", a->oos_label, a->data,
                     a->eval_data);
    if (rc == IC_OK)
        rc = ic_encode(m, &dt, NULL, 0, m->max_length, &et, err);
    if (rc == IC_OK)
        rc = ic_encode(m, &de, NULL, 0, m->max_length, &ee, err);
    struct ic_calib_opts o;
    ic_calib_default_opts(&o);
    o.oos_label = a->oos_label;
    if (a->oos_score)
        o.score = a->oos_score;
    o.ambiguity_threshold = a->ambiguity;
    if (rc == IC_OK)
        rc = ic_calibrate_model(m, &et, &ee, (int)a->batch, NULL, &o, &report, err);
    if (rc == IC_OK) {
        const char *names[] = {"calibration_report.json"};
        const char *contents[] = {report};
        rc = ic_model_save(m, a->output ? a->output : a->model, names, contents, 1, err);
    }
    if (rc == IC_OK) {
        fputs(report, stdout);
        fputc('\n', stdout);
    }
    ic_free(report);
    ic_free(labels);
    ic_encoded_free(&et);
    ic_encoded_free(&ee);
    ic_dataset_free(&dt);
    ic_dataset_free(&de);
    return rc;
}

int cmd_calibrate(int argc, char **argv)
{
    struct calib_args a = {.ambiguity = IC_AMBIGUITY_THRESHOLD_DEFAULT, .batch = 32};
    int u = parse(argc, argv, &a);
    if (u)
        return u < 0 ? 0 : u;
    ic_set_threads((int)a.threads);
    struct ic_model m;
    struct ic_err err;
    ic_model_init(&m);
    int rc = ic_model_load(&m, a.model, &err);
    if (rc == IC_OK)
        rc = run(&a, &m, &err);
    if (rc != IC_OK)
        cli_error("calibrate", "%s", err.msg);
    ic_model_free(&m);
    return rc == IC_OK ? 0 : 1;
}
