/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_train.c - `intent train`: builds the configuration (defaults <
 * intent.yaml or --config FILE < INTENT_* environment < flags), optionally
 * prints it, then runs the training job with a progress bar on a terminal
 * (plain log lines otherwise) and a clean stop on Ctrl-C.
 *
 * Exit status: 0 trained and saved, 1 failure, 2 usage or configuration
 * error, 130 interrupted (the best model so far is saved).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "intent/config.h"
#include "intent/train.h"

/* Where `make install` puts the bundled dataset (the Makefile passes
 * -DIC_DATADIR="$(PREFIX)/share/intent"). */
#ifndef IC_DATADIR
#define IC_DATADIR "/usr/local/share/intent"
#endif
#define BUNDLED_DATASET "dataset_v2.json"

static void usage(FILE *f)
{
    size_t n;
    const struct ic_config_key *k = ic_config_keys(&n);
    fprintf(f, "usage: intent train [--config FILE] [--print-config] [--KEY VALUE ...]\n\n"
               "Fine-tunes a BERT intent classifier and saves the best model.\n"
               "Configuration: defaults < intent.yaml (or --config FILE) < INTENT_<KEY> "
               "environment < flags.\n\noptions:\n"
               "  --config FILE        YAML configuration file (default: ./intent.yaml if "
               "present)\n"
               "  --print-config       print the effective configuration and exit\n"
               "  --no-tracking        do not log the run to MLflow (tracking: false)\n"
               "  --help               this help\n\nkeys (docs/config.md explains each):\n");
    for (size_t i = 0; i < n; i++) {
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", k[i].name);
        for (char *p = flag + 2; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  %-30s %s (default: %s)\n", flag, k[i].doc,
                *k[i].def ? k[i].def : "\"\"");
    }
}

// --- progress output ----------------------------------------------------------

static void on_event(const struct ic_train_event *ev, void *ud)
{
    struct cli_progress *p = ud;
    switch (ev->kind) {
    case IC_TRAIN_EV_BEGIN:
        fprintf(stderr, "intent: training: %zu examples, %zu for evaluation, %d epochs, %lld "
                "steps\n", ev->n_train, ev->n_eval, ev->epochs, (long long)ev->total_steps);
        break;
    case IC_TRAIN_EV_STEP:
        cli_progress_step(p, ev);
        break;
    case IC_TRAIN_EV_LOG:
        cli_progress_log(p, ev);
        break;
    case IC_TRAIN_EV_EVAL:
        cli_progress_clear(p);
        fprintf(stderr, "epoch %d/%d eval_loss %.4f eval_accuracy %.4f eval_f1_macro %.4f%s\n",
                (int)ev->epoch, ev->epochs, ev->eval->loss, ev->eval->accuracy,
                ev->eval->f1_macro, ev->is_best ? " (best)" : "");
        break;
    case IC_TRAIN_EV_END:
        cli_progress_clear(p);
        fprintf(stderr, "intent: trained %lld steps (%.0f examples/s)\n", (long long)ev->step,
                ev->examples_per_s);
        break;
    }
    fflush(stderr);
}

// --- options ------------------------------------------------------------------

/* Applies the flags in argv (skipping --config/--print-config/--help) to c.
 * Returns 0 or 2 (usage error, message printed). */
static int apply_flags(struct ic_config *c, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strncmp(a, "--", 2) != 0) {
            cli_error("train", "unexpected argument \"%s\" (see intent train --help)", a);
            return 2;
        }
        char name[128];
        const char *val = NULL;
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (nl >= sizeof name) {
            cli_error("train", "unknown option \"%s\"", a);
            return 2;
        }
        memcpy(name, a + 2, nl);
        name[nl] = 0;
        if (eq)
            val = eq + 1;
        if (!strcmp(name, "print-config") || !strcmp(name, "help"))
            continue;
        if (!strcmp(name, "config")) {
            if (!eq)
                i++;
            continue;
        }
        const struct ic_config_key *k = ic_config_find(name);
        if (!k && strncmp(name, "no-", 3) == 0) {
            const struct ic_config_key *kb = ic_config_find(name + 3);
            if (kb && kb->type == IC_CONFIG_BOOL && !eq) {
                k = kb;
                val = "false";
            }
        }
        if (!k) {
            cli_error("train", "unknown option \"--%s\" (see intent train --help)", name);
            return 2;
        }
        if (!val) {
            if (k->type == IC_CONFIG_BOOL) {
                val = "true";
            } else {
                if (i + 1 >= argc) {
                    cli_error("train", "--%s needs a value", name);
                    return 2;
                }
                val = argv[++i];
            }
        }
        char where[160];
        snprintf(where, sizeof where, "--%s", name);
        struct ic_err err;
        if (ic_config_set(c, k->name, val, IC_CONFIG_FLAG, where, &err) != IC_OK) {
            cli_error("train", "%s", err.msg);
            return 2;
        }
    }
    return 0;
}

/* <dir of the running program>/../share/intent/dataset_v2.json in out, so an
 * installed tree finds its dataset wherever it was copied (DESTDIR, a moved
 * prefix). 0 if /proc/self/exe cannot be read. */
static int installed_dataset_near_exe(char *out, size_t size)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return 0;
    exe[n] = 0;
    for (int up = 0; up < 2; up++) { /* strip the file name, then bin/ */
        char *slash = strrchr(exe, '/');
        if (!slash)
            return 0;
        *slash = 0;
    }
    int len = snprintf(out, size, "%s/share/intent/" BUNDLED_DATASET, exe);
    return len > 0 && (size_t)len < size;
}

/* When no --data, `data:` or INTENT_DATA was given: the bundled dataset from
 * ./data/ (a source checkout), else next to the installed program, else in
 * IC_DATADIR. If none exists, a training run (need != 0) stops with a message
 * saying how to give the data; --print-config keeps the built-in default. */
static int resolve_default_data(struct ic_config *c, int need)
{
    size_t n;
    const struct ic_config_key *keys = ic_config_keys(&n);
    size_t i = (size_t)(ic_config_find("data") - keys);
    if (c->origin[i] != IC_CONFIG_DEFAULT || ic_path_exists(c->data))
        return 0;
    char near_exe[4200] = "";
    const char *installed = IC_DATADIR "/" BUNDLED_DATASET;
    const char *found = NULL;
    if (installed_dataset_near_exe(near_exe, sizeof near_exe) && ic_path_exists(near_exe))
        found = near_exe;
    else if (ic_path_exists(installed))
        found = installed;
    if (found) {
        struct ic_err err;
        if (ic_config_set(c, "data", found, IC_CONFIG_DEFAULT, NULL, &err) == IC_OK)
            return 0;
        cli_error("train", "%s", err.msg);
        return 2;
    }
    if (!need)
        return 0;
    cli_error("train", "no training data: --data was not given and the bundled dataset is not "
              "at %s%s%s or %s; pass --data FILE (a JSON array, JSON Lines, CSV or TSV file "
              "of text and intent), or set `data:` in intent.yaml or INTENT_DATA",
              c->data, *near_exe ? ", " : "", near_exe, installed);
    return 2;
}

int cmd_train(int argc, char **argv)
{
    const char *config_path = NULL;
    int print_config = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--print-config"))
            print_config = 1;
        else if (!strcmp(argv[i], "--config")) {
            if (i + 1 >= argc) {
                cli_error("train", "--config needs a file");
                return 2;
            }
            config_path = argv[++i];
        } else if (!strncmp(argv[i], "--config=", 9))
            config_path = argv[i] + 9;
    }
    struct ic_config c;
    struct ic_err err;
    ic_config_init(&c);
    int code = 2;
    if (!config_path && getenv("INTENT_CONFIG") && *getenv("INTENT_CONFIG"))
        config_path = getenv("INTENT_CONFIG");
    if (!config_path && ic_path_exists("intent.yaml"))
        config_path = "intent.yaml";
    if (config_path && ic_config_load_file(&c, config_path, &err) != IC_OK) {
        cli_error("train", "%s", err.msg);
        goto out;
    }
    if (ic_config_apply_env(&c, &err) != IC_OK) {
        cli_error("train", "%s", err.msg);
        goto out;
    }
    if (apply_flags(&c, argc, argv) != 0)
        goto out;
    if (resolve_default_data(&c, !print_config) != 0)
        goto out;
    if (ic_config_check(&c, &err) != IC_OK) {
        cli_error("train", "%s", err.msg);
        goto out;
    }
    if (print_config) {
        struct ic_buf b;
        ic_buf_init(&b, 0);
        if (config_path)
            code = ic_buf_printf(&b, "# config file: %s\n", config_path);
        code = ic_config_print(&c, &b);
        if (code == IC_OK)
            fputs(b.data, stdout);
        ic_buf_free(&b);
        code = code == IC_OK ? 0 : 1;
        goto out;
    }

    const volatile sig_atomic_t *stop = cli_stop_begin();

    struct cli_progress pr = {isatty(STDERR_FILENO), 0, 0};
    struct ic_train_result res;
    int rc = ic_train_run(&c, stop, on_event, &pr, &res, &err);
    cli_progress_clear(&pr);
    cli_stop_end();
    cli_print_run(res.run_id, res.run_where);
    if (rc == IC_OK) {
        if (res.output) /* rank 0 of an MPI job, or the only process */
            fprintf(stderr, "intent: model saved to %s%s\n", res.output,
                    res.from_scratch ? " (trained from scratch)" : "");
        code = 0;
    } else if (rc == IC_ERR_INTERRUPTED) {
        cli_error("train", "%s", err.msg);
        code = 130;
    } else {
        cli_error("train", "%s", err.msg);
        code = 1;
    }
    ic_train_result_free(&res);
    ic_train_dist_end(code);
out:
    ic_config_free(&c);
    return code;
}
