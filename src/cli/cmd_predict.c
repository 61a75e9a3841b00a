/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_predict.c - `intent predict`: classify texts given as arguments, or one
 * per line on stdin (in batches), printing one JSON object per text. With no
 * text and a terminal on stdin it classifies a sample sentence, as the
 * original `python predict_model.py` did.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/lines.h"
#include "intent/infer.h"
#include "intent/model.h"

#define DEFAULT_MODEL "final_model"
#define SAMPLE_TEXT "quiero ver las noticias"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent predict [--model PATH] [--top-k K] [--batch-size N] [--threads N]\n"
            "                      [--max-length N] [--precision P] [TEXT...]\n\n"
            "Classifies each TEXT, or each line of stdin when no TEXT is given, and prints one\n"
            "JSON object per text and line:\n"
            "  {\"text\": ..., \"intent\": ..., \"confidence\": ..., \"top_k\": [{\"intent\": ...,"
            " \"confidence\": ...}, ...]}\n"
            "(top_k only with --top-k). With no TEXT and a terminal on stdin it classifies the\n"
            "sample sentence \"" SAMPLE_TEXT "\".\n\n"
            "options:\n"
            "  --model PATH       model directory (config.json, weights, vocab.txt) or an\n"
            "                     intent_classifier.pt file (default: " DEFAULT_MODEL ")\n"
            "  --top-k K          also list the K most probable intents (default: 0, none)\n"
            "  --batch-size N     texts per forward pass when reading stdin (default: 32)\n"
            "  --threads N        compute threads (default: 0 = all cores)\n"
            "  --max-length N     tokens per text incl. [CLS]/[SEP] (default: the model's);\n"
            "                     longer texts are truncated to their first N - 2 word pieces\n"
            CLI_PRECISION_HELP
            CLI_FALLBACK_HELP
            "  -h, --help         this help\n\n"
            "A fallback answer has \"intent\": the fallback, \"confidence\": the threshold,\n"
            "\"fallback\": {\"reason\", \"score\", \"intent\", \"confidence\"} (the real top\n"
            "intent) and the fallback first in top_k (docs/calibration.md).\n"
            "Environment: INTENT_FALLBACK_THRESHOLD, INTENT_AMBIGUITY_THRESHOLD,\n"
            "INTENT_FALLBACK_INTENT, INTENT_OOS_SCORE, INTENT_NO_CALIBRATION=1 (flags win).\n\n"
            "Every stdin line is classified, empty ones included, so output line i answers\n"
            "input line i. Lines end at LF (a CR before it is dropped); any other byte, NUL\n"
            "and CR included, is text (the tokenizer drops control characters, \"text\"\n"
            "echoes them). Bytes that are not UTF-8 are read as U+FFFD (a warning names the\n"
            "first such line). A line over 1 MiB is an error naming it: the lines before\n"
            "it are answered, then exit 1.\n"
            "Exit status: 0 ok, 1 failure (model, input), 2 usage error.\n");
}

struct predictor {
    struct ic_model model;
    struct ic_infer inf;
    struct ic_prediction *preds;
    struct ic_buf out;
    int top_k;
};

/* Classifies n texts and prints their JSON lines. */
static int run_batch(struct predictor *p, const char *const *texts, const size_t *lens, int n)
{
    struct ic_err err;
    int rc = ic_predict_batch(&p->inf, texts, lens, n, p->top_k, p->preds, &err);
    if (rc) {
        cli_error("predict", "%s", err.msg);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        ic_buf_reset(&p->out);
        if (ic_prediction_json(&p->out, &p->model, texts[i], lens[i], &p->preds[i]) ||
            ic_buf_append(&p->out, "\n", 1)) {
            cli_error("predict", "out of memory formatting the output");
            return 1;
        }
        fwrite(p->out.data, 1, p->out.len, stdout);
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        cli_error("predict", "cannot write to stdout");
        return 1;
    }
    return 0;
}

/* Longest stdin line accepted, in bytes (the model reads only the first
 * max_length word pieces of it anyway). */
#define MAX_LINE ((size_t)1 << 20)

/* Texts whose bytes were not all UTF-8, for one warning at the first and a
 * count at the end. */
struct replaced {
    const char *what; /* "stdin line" or "argument" */
    long first, n;
};

/* Makes *text valid UTF-8: unchanged when it is, else every ill-formed
 * sequence replaced by U+FFFD (into *scratch, then the two swapped). */
static void make_utf8(struct ic_buf *text, struct ic_buf *scratch, long no, struct replaced *r)
{
    size_t bad, count = 0;
    if (ic_utf8_valid(text->data, text->len, &bad))
        return;
    ic_buf_reset(scratch);
    /* scratch has no size cap, so only an allocation failure (an abort) stops this */
    if (ic__utf8_replace(scratch, text->data, text->len, &count) != IC_OK ||
        ic_buf_append(scratch, "", 0) != IC_OK)
        return;
    struct ic_buf t = *text;
    *text = *scratch;
    *scratch = t;
    if (r->n++ == 0)
        cli_error("predict", "warning: %s %ld: bytes that are not UTF-8 (first at byte %zu) "
                  "read as U+FFFD (%zu replaced)", r->what, no, bad, count);
}

static void report_replaced(const struct replaced *r)
{
    if (r->n > 1)
        cli_error("predict", "warning: %ld %ss in all had bytes that are not UTF-8 read as U+FFFD",
                  r->n, r->what);
}

static int run_stdin(struct predictor *p, int batch)
{
    struct ic_buf *lines = ic_xcalloc((size_t)batch, sizeof *lines);
    const char **texts = ic_xcalloc((size_t)batch, sizeof *texts);
    size_t *lens = ic_xcalloc((size_t)batch, sizeof *lens);
    struct ic_buf scratch;
    struct ic__line_reader rd;
    struct replaced rep = {"stdin line", 0, 0};
    struct ic_err err;
    int n = 0, status = 0;
    for (int i = 0; i < batch; i++)
        ic_buf_init(&lines[i], 0);
    ic_buf_init(&scratch, 0);
    ic__line_reader_init(&rd, stdin, "stdin", MAX_LINE);
    for (;;) {
        int got = 0;
        if (ic__line_next(&rd, &lines[n], &got, &err) != IC_OK) {
            /* answer the lines before it, then stop */
            if (n == 0 || run_batch(p, texts, lens, n) == 0)
                cli_error("predict", "%s", err.msg);
            status = 1;
            goto out;
        }
        if (!got)
            break;
        make_utf8(&lines[n], &scratch, rd.line_no, &rep);
        texts[n] = lines[n].data;
        lens[n] = lines[n].len;
        n++;
        if (n == batch) {
            if (run_batch(p, texts, lens, n)) {
                status = 1;
                goto out;
            }
            n = 0;
        }
    }
    if (n > 0 && run_batch(p, texts, lens, n))
        status = 1;
out:
    report_replaced(&rep);
    for (int i = 0; i < batch; i++)
        ic_buf_free(&lines[i]);
    ic_buf_free(&scratch);
    ic_free(lines);
    ic_free(texts);
    ic_free(lens);
    return status;
}

/* Classifies the TEXT arguments (bytes that are not UTF-8 read as U+FFFD,
 * as on stdin). */
static int run_args(struct predictor *p, char **args, int n)
{
    struct ic_buf *bufs = ic_xcalloc((size_t)n, sizeof *bufs);
    const char **texts = ic_xcalloc((size_t)n, sizeof *texts);
    size_t *lens = ic_xcalloc((size_t)n, sizeof *lens);
    struct ic_buf scratch;
    struct replaced rep = {"argument", 0, 0};
    int status = 0;
    ic_buf_init(&scratch, 0);
    for (int i = 0; i < n && status == 0; i++) {
        ic_buf_init(&bufs[i], 0);
        if (ic_buf_append(&bufs[i], args[i], strlen(args[i])) != IC_OK) {
            cli_error("predict", "argument %d: out of memory", i + 1);
            status = 1;
            break;
        }
        make_utf8(&bufs[i], &scratch, i + 1, &rep);
        texts[i] = bufs[i].data;
        lens[i] = bufs[i].len;
    }
    if (status == 0)
        status = run_batch(p, texts, lens, n);
    report_replaced(&rep);
    for (int i = 0; i < n; i++)
        ic_buf_free(&bufs[i]);
    ic_buf_free(&scratch);
    ic_free(bufs);
    ic_free(texts);
    ic_free(lens);
    return status;
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = DEFAULT_MODEL;
    long top_k = 0, batch = 32, threads = 0, max_length = 0;
    int n_texts = 0, status = 1, precision = 0;
    char **texts = ic_xcalloc((size_t)argc + 1, sizeof *texts);
    struct predictor p;
    memset(&p, 0, sizeof p);
    ic_model_init(&p.model);
    ic_buf_init(&p.out, 0);
    struct ic_infer_opts io;
    ic_infer_default_opts(&io);
    if (cli_fallback_env("predict", &io) || cli_precision_env("predict", &precision)) {
        status = 2;
        goto out;
    }

    int only_texts = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = NULL;
        if (only_texts || a[0] != '-' || !a[1]) {
            texts[n_texts++] = argv[i];
            continue;
        }
        if (strcmp(a, "--") == 0) {
            only_texts = 1;
            continue;
        }
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            status = 0;
            goto out;
        }
        /* --opt=value or --opt value */
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        if (nl >= sizeof name) {
            cli_error("predict", "unknown option %s (see --help)", a);
            status = 2;
            goto out;
        }
        memcpy(name, a, nl);
        name[nl] = 0;
        int fb_value = 0;
        if (cli_fallback_option(name, &fb_value)) {
            if (fb_value && !eq && i + 1 >= argc) {
                cli_error("predict", "%s needs a value", name);
                status = 2;
                goto out;
            }
            const char *fv = fb_value ? (eq ? eq + 1 : argv[++i]) : NULL;
            if (!fb_value && eq) {
                cli_error("predict", "%s takes no value", name);
                status = 2;
                goto out;
            }
            if (cli_fallback_set("predict", name, fv, &io)) {
                status = 2;
                goto out;
            }
            continue;
        }
        if (strcmp(name, "--model") && strcmp(name, "--top-k") && strcmp(name, "--batch-size") &&
            strcmp(name, "--threads") && strcmp(name, "--max-length") &&
            strcmp(name, "--precision")) {
            cli_error("predict", "unknown option %s (see --help)", a);
            status = 2;
            goto out;
        }
        if (eq) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];
        } else {
            cli_error("predict", "%s needs a value", name);
            status = 2;
            goto out;
        }
        int bad = 0;
        if (strcmp(name, "--model") == 0)
            model_path = val;
        else if (strcmp(name, "--top-k") == 0)
            bad = cli_parse_int("predict", name, val, 0, 1000000, &top_k);
        else if (strcmp(name, "--batch-size") == 0)
            bad = cli_parse_int("predict", name, val, 1, 4096, &batch);
        else if (strcmp(name, "--threads") == 0)
            bad = cli_parse_int("predict", name, val, 0, 1024, &threads);
        else if (strcmp(name, "--precision") == 0)
            bad = cli_precision_parse("predict", name, val, &precision);
        else
            bad = cli_parse_int("predict", name, val, 0, 1 << 20, &max_length);
        if (bad || (strcmp(name, "--max-length") == 0 && max_length == 1)) {
            if (!bad)
                cli_error("predict", "--max-length must be 0 or at least 2");
            status = 2;
            goto out;
        }
    }

    int sample = n_texts == 0 && isatty(STDIN_FILENO);
    if (sample) {
        texts[n_texts++] = SAMPLE_TEXT;
        fprintf(stderr, "intent predict: no text given; classifying the sample sentence with "
                        "model %s\n", model_path);
    }
    ic_set_threads((int)threads);

    struct ic_err err;
    if (ic_model_load(&p.model, model_path, &err)) {
        cli_error("predict", "%s", err.msg);
        goto out;
    }
    if (cli_precision_apply("predict", &p.model, precision))
        goto out;
    io.max_batch = (int)batch;
    io.max_length = (int)max_length;
    if (ic_infer_init(&p.inf, &p.model, &io, &err)) {
        cli_error("predict", "%s", err.msg);
        goto out;
    }
    p.top_k = (int)top_k;
    p.preds = ic_xcalloc((size_t)(n_texts > batch ? n_texts : batch), sizeof *p.preds);

    if (n_texts > 0) {
        status = run_args(&p, texts, n_texts);
    } else {
        status = run_stdin(&p, (int)batch);
    }
out:
    ic_free(p.preds);
    ic_buf_free(&p.out);
    ic_infer_free(&p.inf);
    ic_model_free(&p.model);
    ic_free(texts);
    return status;
}
