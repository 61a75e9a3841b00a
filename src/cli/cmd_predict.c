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
#include "intent/infer.h"
#include "intent/model.h"

#define DEFAULT_MODEL "final_model"
#define SAMPLE_TEXT "quiero ver las noticias"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent predict [--model PATH] [--top-k K] [--batch-size N] [--threads N]\n"
            "                      [--max-length N] [TEXT...]\n\n"
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
            "  -h, --help         this help\n\n"
            "Every stdin line is classified, empty ones included, so output line i answers\n"
            "input line i. Invalid UTF-8 on a line, or a line over 1 MiB, is an error naming\n"
            "the line (exit 1).\n"
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

/* Longest stdin line accepted (the model reads only the first max_length
 * word pieces of it anyway). */
#define MAX_LINE (1u << 20)

/* Reads one line into b (without the end of line). Returns 1 for a line,
 * 0 at end of input, -1 for a line over MAX_LINE (the rest of it is
 * skipped). */
static int read_line(FILE *f, struct ic_buf *b)
{
    char chunk[8192];
    int any = 0, too_long = 0;
    ic_buf_reset(b);
    while (fgets(chunk, sizeof chunk, f)) {
        size_t n = strlen(chunk);
        int eol = n > 0 && chunk[n - 1] == '\n';
        any = 1;
        if (!too_long && ic_buf_append(b, chunk, n) != IC_OK)
            too_long = 1;
        if (eol)
            break;
    }
    if (!any)
        return 0;
    if (too_long)
        return -1;
    if (ic_buf_append(b, "", 0) != IC_OK) /* NUL-terminates an empty line */
        return -1;
    while (b->len > 0 && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
        b->data[--b->len] = 0;
    return 1;
}

static int run_stdin(struct predictor *p, int batch)
{
    struct ic_buf *lines = ic_xcalloc((size_t)batch, sizeof *lines);
    const char **texts = ic_xcalloc((size_t)batch, sizeof *texts);
    size_t *lens = ic_xcalloc((size_t)batch, sizeof *lens);
    long line_no = 0;
    int n = 0, status = 0;
    for (int i = 0; i < batch; i++)
        ic_buf_init(&lines[i], MAX_LINE + 2);
    for (;;) {
        int got = read_line(stdin, &lines[n]);
        if (got == 0)
            break;
        line_no++;
        size_t bad = 0;
        const char *why = NULL;
        if (got < 0)
            why = "longer than 1 MiB";
        else if (!ic_utf8_valid(lines[n].data, lines[n].len, &bad))
            why = "invalid UTF-8";
        if (why) {
            /* answer the lines before it, then stop */
            if (n == 0 || run_batch(p, texts, lens, n) == 0) {
                if (got < 0)
                    cli_error("predict", "stdin line %ld: %s", line_no, why);
                else
                    cli_error("predict", "stdin line %ld: %s at byte %zu", line_no, why, bad);
            }
            status = 1;
            goto out;
        }
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
    if (ferror(stdin)) {
        cli_error("predict", "cannot read stdin");
        status = 1;
    } else if (n > 0 && run_batch(p, texts, lens, n)) {
        status = 1;
    }
out:
    for (int i = 0; i < batch; i++)
        ic_buf_free(&lines[i]);
    ic_free(lines);
    ic_free(texts);
    ic_free(lens);
    return status;
}

int cmd_predict(int argc, char **argv)
{
    const char *model_path = DEFAULT_MODEL;
    long top_k = 0, batch = 32, threads = 0, max_length = 0;
    int n_texts = 0, status = 1;
    char **texts = ic_xcalloc((size_t)argc + 1, sizeof *texts);
    struct predictor p;
    memset(&p, 0, sizeof p);
    ic_model_init(&p.model);
    ic_buf_init(&p.out, 0);

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
        if (strcmp(name, "--model") && strcmp(name, "--top-k") && strcmp(name, "--batch-size") &&
            strcmp(name, "--threads") && strcmp(name, "--max-length")) {
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
    struct ic_infer_opts io;
    ic_infer_default_opts(&io);
    io.max_batch = (int)batch;
    io.max_length = (int)max_length;
    if (ic_infer_init(&p.inf, &p.model, &io, &err)) {
        cli_error("predict", "%s", err.msg);
        goto out;
    }
    p.top_k = (int)top_k;
    p.preds = ic_xcalloc((size_t)(n_texts > batch ? n_texts : batch), sizeof *p.preds);

    if (n_texts > 0) {
        size_t *lens = ic_xcalloc((size_t)n_texts, sizeof *lens);
        status = 0;
        for (int i = 0; i < n_texts; i++) {
            lens[i] = strlen(texts[i]);
            size_t bad;
            if (!ic_utf8_valid(texts[i], lens[i], &bad)) {
                cli_error("predict", "argument %d: invalid UTF-8 at byte %zu", i + 1, bad);
                status = 1;
            }
        }
        if (!status)
            status = run_batch(&p, (const char *const *)texts, lens, n_texts);
        ic_free(lens);
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
