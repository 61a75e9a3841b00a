/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_pretrain.c - `intent pretrain`: masked-LM pretraining on unlabelled
 * text files, from a base model (--model-name) or from scratch, into a
 * Hugging Face directory that `intent train --model-name DIR` fine-tunes.
 * Settings: the training keys (docs/config.md) as flags, over INTENT_*
 * environment, over pretraining defaults; progress bar, clean Ctrl-C.
 *
 * Exit status: 0 saved, 1 failure, 2 usage error, 130 interrupted (what was
 * trained is saved).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "intent/config.h"
#include "intent/pretrain.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: intent pretrain --data FILE [FILE...] [--output DIR] [--model-name BASE]\n"
            "                       [--epochs N] [--learning-rate X] [--batch-size N]\n"
            "                       [--max-length N] [--mask-prob X] [--whole-word-mask]\n"
            "                       [--seed N] [--threads N] [--arch A] [--KEY VALUE ...]\n\n"
            "Masked-language-model pretraining (BERT's 80/10/10 masking) on unlabelled text,\n"
            "so that `intent train --model-name DIR` starts from an encoder that knows the\n"
            "domain. Without --model-name a new model is built (--arch, scratch_* keys) with a\n"
            "vocabulary trained on the same text.\n\noptions:\n"
            "  --data FILE...       corpora: plain text (one utterance per line), JSON, JSON\n"
            "                       Lines, CSV or TSV with a \"text\" field (intents ignored);\n"
            "                       FILE.gz is read gunzipped; repeat or list several\n"
            "  --output DIR         Hugging Face directory to write (default pretrained_model)\n"
            "  --model-name BASE    base checkpoint: Hub id or directory (default: from scratch)\n"
            "  --arch A             from scratch: bert, roberta or distilbert (default bert)\n"
            "  --epochs N           passes over the corpora (default 20)\n"
            "  --learning-rate X    peak AdamW learning rate (default 0.0005)\n"
            "  --batch-size N       texts per step (default 32)\n"
            "  --max-length N       tokens per text, longer ones truncated and counted\n"
            "                       (default 64)\n"
            "  --mask-prob X        share of tokens predicted (default 0.15)\n"
            "  --whole-word-mask    choose whole words rather than single tokens\n"
            "  --seed N             seed of initialisation, order, masks and dropout (42)\n"
            "  --threads N          compute threads; 0 = all cores (default 0)\n"
            "  --no-tracking        do not log the run to MLflow\n"
            "  --KEY VALUE          any other key of `intent train --help` that applies\n"
            "                       (weight_decay, warmup_ratio, scratch_hidden_size, dropout,\n"
            "                       tracking_uri, experiment_name, logging_steps, ...)\n"
            "  --help               this help\n");
}

/* Pretraining's own defaults where they differ from fine-tuning's. */
static void pretrain_defaults(struct ic_config *c)
{
    static const char *const kv[][2] = {
        {"epochs", "20"}, {"batch_size", "32"}, {"output", "pretrained_model"}};
    struct ic_err err;
    for (size_t i = 0; i < sizeof kv / sizeof *kv; i++)
        IC_ASSERT(ic_config_set(c, kv[i][0], kv[i][1], IC_CONFIG_DEFAULT, NULL, &err) == IC_OK);
}

struct args {
    const char **data;
    size_t n_data;
    int from_scratch;
    double mask_prob;
    int whole_word;
};

/* A training key given as --name value (or --no-name for a boolean). */
static int config_flag(struct ic_config *c, const char *name, const char *eq, int argc, char **argv,
                       int *i)
{
    const char *val = eq;
    const struct ic_config_key *k = ic_config_find(name);
    if (!k && strncmp(name, "no-", 3) == 0) {
        const struct ic_config_key *kb = ic_config_find(name + 3);
        if (kb && kb->type == IC_CONFIG_BOOL && !eq) {
            k = kb;
            val = "false";
        }
    }
    if (!k) {
        cli_error("pretrain", "unknown option \"--%s\" (see intent pretrain --help)", name);
        return 2;
    }
    if (!val && k->type == IC_CONFIG_BOOL)
        val = "true";
    if (!val && *i + 1 >= argc) {
        cli_error("pretrain", "--%s needs a value", name);
        return 2;
    }
    if (!val)
        val = argv[++*i];
    char where[160];
    snprintf(where, sizeof where, "--%s", name);
    struct ic_err err;
    if (ic_config_set(c, k->name, val, IC_CONFIG_FLAG, where, &err) != IC_OK) {
        cli_error("pretrain", "%s", err.msg);
        return 2;
    }
    if (!strcmp(k->name, "model_name"))
        return -1; /* a base model: not from scratch */
    return 0;
}

/* --data FILE...: every following argument up to the next option. */
static int data_flag(struct args *a, const char *eq, int argc, char **argv, int *i)
{
    size_t before = a->n_data;
    if (eq)
        a->data[a->n_data++] = eq;
    while (!eq && *i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0)
        a->data[a->n_data++] = argv[++*i];
    if (a->n_data == before) {
        cli_error("pretrain", "--data needs at least one file");
        return 2;
    }
    return 0;
}

static int parse(struct ic_config *c, struct args *a, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (strncmp(arg, "--", 2) != 0) {
            cli_error("pretrain", "unexpected argument \"%s\" (see intent pretrain --help)", arg);
            return 2;
        }
        char name[128];
        const char *eq = strchr(arg, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        snprintf(name, sizeof name, "%.*s", (int)nl, arg + 2);
        eq = eq ? eq + 1 : NULL;
        int rc = 0;
        if (!strcmp(name, "data")) {
            rc = data_flag(a, eq, argc, argv, &i);
        } else if (!strcmp(name, "whole-word-mask")) {
            a->whole_word = 1;
        } else if (!strcmp(name, "mask-prob")) {
            const char *v = eq ? eq : i + 1 < argc ? argv[++i] : NULL;
            rc = cli_parse_float("pretrain", "--mask-prob", v, &a->mask_prob);
            if (rc == 0 && !(a->mask_prob > 0 && a->mask_prob < 1)) {
                cli_error("pretrain", "--mask-prob: %g is outside (0, 1)", a->mask_prob);
                rc = 2;
            }
        } else {
            rc = config_flag(c, name, eq, argc, argv, &i);
            if (rc < 0) {
                a->from_scratch = 0;
                rc = 0;
            }
        }
        if (rc)
            return rc;
    }
    if (a->n_data == 0) {
        cli_error("pretrain", "no corpus: give --data FILE (see intent pretrain --help)");
        return 2;
    }
    return 0;
}

static void on_event(const struct ic_train_event *ev, void *ud)
{
    struct cli_progress *p = ud;
    if (ev->kind == IC_TRAIN_EV_BEGIN)
        fprintf(stderr, "intent: pretraining: %zu texts, %d epochs, %lld steps\n", ev->n_train,
                ev->epochs, (long long)ev->total_steps);
    else if (ev->kind == IC_TRAIN_EV_STEP)
        cli_progress_step(p, ev);
    else if (ev->kind == IC_TRAIN_EV_LOG)
        cli_progress_log(p, ev);
    else if (ev->kind == IC_TRAIN_EV_END) {
        cli_progress_clear(p);
        fprintf(stderr, "intent: pretrained %lld steps (%.0f texts/s)\n", (long long)ev->step,
                ev->examples_per_s);
    }
    fflush(stderr);
}

static int run(struct ic_config *c, const struct args *a)
{
    struct ic_pretrain_opts o;
    ic_pretrain_default_opts(&o, c);
    o.data = a->data;
    o.n_data = a->n_data;
    o.from_scratch = a->from_scratch;
    o.mask.prob = a->mask_prob;
    o.mask.whole_word = a->whole_word;
    const volatile sig_atomic_t *stop = cli_stop_begin();
    struct cli_progress pr = {isatty(STDERR_FILENO), 0, 0};
    struct ic_pretrain_result res;
    struct ic_err err;
    int rc = ic_pretrain_run(&o, stop, on_event, &pr, &res, &err);
    cli_progress_clear(&pr);
    cli_stop_end();
    cli_print_run(res.run_id, res.run_where);
    int code = rc == IC_OK ? 0 : rc == IC_ERR_INTERRUPTED ? 130 : 1;
    if (rc == IC_OK)
        fprintf(stderr, "intent: masked-LM model saved to %s (last epoch loss %.4f)\n",
                res.output, res.last_epoch_loss);
    else
        cli_error("pretrain", "%s", err.msg);
    ic_pretrain_result_free(&res);
    return code;
}

int cmd_pretrain(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
    struct ic_config c;
    struct ic_err err;
    ic_config_init(&c);
    pretrain_defaults(&c);
    struct args a = {ic_xcalloc((size_t)argc, sizeof(char *)), 0, 1, 0.15, 0};
    int code = 2;
    if (ic_config_apply_env(&c, &err) != IC_OK)
        cli_error("pretrain", "%s", err.msg);
    else if (parse(&c, &a, argc, argv) != 0)
        ; /* usage error, printed */
    else if (ic_config_check(&c, &err) != IC_OK)
        cli_error("pretrain", "%s", err.msg);
    else
        code = run(&c, &a);
    ic_free(a.data);
    ic_config_free(&c);
    return code;
}
