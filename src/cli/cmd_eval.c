/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_eval.c - `intent eval --model PATH --data FILE`: evaluates a saved
 * model (directory or intent_classifier.pt) on any labelled file and prints
 * the evaluation report (the eval_report.json layout) as JSON on stdout.
 *
 * Exit status: 0 ok, 1 failure (unreadable model or data, a label the model
 * does not know), 2 usage error.
 */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/bert.h"
#include "intent/data.h"
#include "intent/model.h"
#include "intent/train.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: intent eval --model PATH --data FILE [--batch-size N] [--max-length N]\n"
               "                   [--threads N] [--output FILE]\n\n"
               "Evaluates a saved model on a labelled file (JSON array, JSON Lines, CSV or TSV\n"
               "of text/intent) and prints the report as JSON: accuracy, macro-F1, per-intent\n"
               "precision/recall/F1/support and the confusion matrix.\n\n"
               "  --model PATH       model directory or intent_classifier.pt (default "
               "final_model)\n"
               "  --data FILE        labelled data (required)\n"
               "  --batch-size N     texts per forward (default 32)\n"
               "  --max-length N     tokens per text (default: the model's)\n"
               "  --threads N        compute threads (default: all cores)\n"
               "  --output FILE      also write the report to FILE\n");
}

int cmd_eval(int argc, char **argv)
{
    const char *model_path = "final_model", *data = NULL, *output = NULL;
    long batch = 32, max_len = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        }
        const char *v = NULL;
        const char *names[] = {"--model", "--data", "--batch-size", "--max-length", "--threads",
                               "--output"};
        int which = -1;
        for (int k = 0; k < 6; k++) {
            size_t n = strlen(names[k]);
            if (!strncmp(a, names[k], n) && (a[n] == 0 || a[n] == '=')) {
                which = k;
                v = a[n] == '=' ? a + n + 1 : NULL;
            }
        }
        if (which < 0) {
            cli_error("eval", "unknown option \"%s\" (see intent eval --help)", a);
            return 2;
        }
        if (!v) {
            if (i + 1 >= argc) {
                cli_error("eval", "%s needs a value", names[which]);
                return 2;
            }
            v = argv[++i];
        }
        switch (which) {
        case 0: model_path = v; break;
        case 1: data = v; break;
        case 2:
            if (cli_parse_int("eval", "--batch-size", v, 1, 4096, &batch))
                return 2;
            break;
        case 3:
            if (cli_parse_int("eval", "--max-length", v, 2, 512, &max_len))
                return 2;
            break;
        case 4:
            if (cli_parse_int("eval", "--threads", v, 0, 1024, &threads))
                return 2;
            break;
        case 5: output = v; break;
        }
    }
    if (!data) {
        cli_error("eval", "--data FILE is required (see intent eval --help)");
        return 2;
    }
    ic_set_threads((int)threads);
    struct ic_model m;
    struct ic_dataset d;
    struct ic_encoded e;
    struct ic_metrics met;
    struct ic_err err;
    ic_model_init(&m);
    memset(&d, 0, sizeof d);
    memset(&e, 0, sizeof e);
    memset(&met, 0, sizeof met);
    int code = 1;
    char *report = NULL;
    if (ic_model_load(&m, model_path, &err) != IC_OK) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    if (ic_dataset_load_with_labels(&d, data, (const char *const *)m.labels,
                                    m.bert.cfg.num_labels, &err) != IC_OK) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    int L = max_len > 0 ? (int)max_len : m.max_length;
    if (L <= 0)
        L = IC_MODEL_DEFAULT_MAX_LENGTH;
    if (L > ic_bert_max_seq(&m.bert.cfg))
        L = ic_bert_max_seq(&m.bert.cfg);
    if (ic_encode(&m, &d, NULL, 0, L, &e, &err) != IC_OK) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    double t0 = ic_time_now();
    if (ic_evaluate(&m, &e, (int)batch, NULL, &met, &err) != IC_OK) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    double dt = ic_time_now() - t0;
    {
        struct ic_buf x;
        ic_buf_init(&x, 0);
        int rc = ic_buf_printf(&x, "{\"model\": ");
        if (rc == IC_OK)
            rc = ic_buf_json_str(&x, model_path, strlen(model_path));
        if (rc == IC_OK)
            rc = ic_buf_printf(&x, ", \"data\": ");
        if (rc == IC_OK)
            rc = ic_buf_json_str(&x, data, strlen(data));
        if (rc == IC_OK)
            rc = ic_buf_printf(&x, ", \"max_length\": %d, \"eval_runtime\": %.4f, "
                               "\"eval_samples_per_second\": %.3f}", L, dt,
                               dt > 0 ? (double)e.n / dt : 0.0);
        report = ic_metrics_report_json(&met, (const char *const *)m.labels,
                                        rc == IC_OK ? x.data : NULL);
        ic_buf_free(&x);
    }
    fputs(report, stdout);
    fflush(stdout);
    if (output && ic_write_file_atomic(output, report, strlen(report), &err) != IC_OK) {
        cli_error("eval", "%s", err.msg);
        goto out;
    }
    code = 0;
out:
    ic_free(report);
    ic_metrics_free(&met);
    ic_encoded_free(&e);
    ic_dataset_free(&d);
    ic_model_free(&m);
    return code;
}
