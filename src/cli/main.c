/* SPDX-License-Identifier: Apache-2.0 */
/*
 * main.c - `intent <command> [options]`: dispatch to the commands in cli.h.
 */
#include <curl/curl.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/bert.h"
#include "intent/ic.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"train", cmd_train, "fine-tune a BERT intent classifier on a labelled dataset"},
    {"pretrain", cmd_pretrain, "masked-LM pretraining on unlabelled text (Hugging Face output)"},
    {"eval", cmd_eval, "evaluate a saved model on a labelled file (JSON report)"},
    {"calibrate", cmd_calibrate, "fit temperature and out-of-scope scores of a trained model"},
    {"predict", cmd_predict, "classify texts from arguments or stdin (JSON lines)"},
    {"serve", cmd_serve, "serve a model over a JSON HTTP API"},
    {"tokenize", cmd_tokenize, "run the WordPiece tokenizer on stdin (JSON lines)"},
    {"vocab", cmd_vocab, "train a WordPiece vocabulary from a dataset"},
    {"download", cmd_download, "fetch a model from the Hugging Face Hub into the cache"},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "usage: intent <command> [options]\n\n"
               "Trains, evaluates and serves BERT intent classifiers.\n\ncommands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\n`intent <command> --help` describes each command's options.\n"
               "`intent --version` prints the version and the kernels chosen for this CPU\n"
               "(INTENT_KERNELS=portable|avx2|avx512 caps them).\n");
}

void cli_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "intent %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long v = s ? strtol(s, &end, 10) : 0;
    if (!s || errno || end == s || *end || v < lo || v > hi) {
        cli_error(cmd, "%s: expected an integer in [%ld, %ld], got \"%s\"", opt, lo, hi,
                  s ? s : "");
        return 2;
    }
    *out = v;
    return 0;
}

int cli_parse_float(const char *cmd, const char *opt, const char *s, double *out)
{
    char *end;
    errno = 0;
    double v = s ? strtod(s, &end) : 0;
    if (!s || errno || end == s || *end || v != v) {
        cli_error(cmd, "%s: expected a number, got \"%s\"", opt, s ? s : "");
        return 2;
    }
    *out = v;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        if (argc > 2 && strcmp(argv[1], "help") == 0) {
            for (size_t i = 0; i < N_COMMANDS; i++) {
                if (strcmp(argv[2], commands[i].name) == 0) {
                    char *a[] = {argv[2], (char *)"--help", NULL};
                    return commands[i].fn(2, a);
                }
            }
        }
        usage(stdout);
        return 0;
    }
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "version") == 0) {
        printf("intent %s\n", IC_VERSION);
        /* the kernels --precision would run on this CPU (INTENT_KERNELS caps them) */
        printf("kernels: fp32 %s, bf16 %s, int8 %s\n", ic_kernels_name(IC_PRECISION_FP32),
               ic_kernels_name(IC_PRECISION_BF16), ic_kernels_name(IC_PRECISION_INT8));
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(argv[1], commands[i].name) == 0) {
            /* Only the commands that talk HTTP as clients (Hub, MLflow) pay for
             * libcurl's global init (TLS stack): serve and predict start faster
             * and smaller without it. */
            int net = strcmp(commands[i].name, "train") == 0 ||
                      strcmp(commands[i].name, "pretrain") == 0 ||
                      strcmp(commands[i].name, "download") == 0;
            if (net)
                curl_global_init(CURL_GLOBAL_DEFAULT);
            int rc = commands[i].fn(argc - 1, argv + 1);
            if (net)
                curl_global_cleanup();
            return rc;
        }
    }
    fprintf(stderr, "intent: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return 2;
}
