/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli.h - the command-line program's commands. Each cmd_<name>.c parses its
 * own options, prints its own --help, and returns the process exit status
 * (0 ok, 1 runtime failure, 2 usage error). Only src/cli/ may exit or print
 * to stdout/stderr directly.
 */
#ifndef IC_CLI_H
#define IC_CLI_H

#include <signal.h>

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_calibrate(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);
int cmd_vocab(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_pretrain(int argc, char **argv);

/* Prints "intent <cmd>: <msg>" to stderr. */
void cli_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Strict number parsing for option values; print an error naming the option. */
int cli_parse_int(const char *cmd, const char *opt, const char *s, long lo, long hi, long *out);
int cli_parse_float(const char *cmd, const char *opt, const char *s, double *out);

/* The calibration and fallback options shared by predict, eval and serve
 * (cli_fallback.c): --no-calibration, --fallback-threshold X,
 * --ambiguity-threshold X, --fallback-intent NAME, --oos-score NAME.
 * cli_fallback_option: 0 when name is not one of them, else 1 and
 * *takes_value says whether it needs a value. cli_fallback_set applies one
 * (val NULL for --no-calibration): 0 ok, 2 usage error (printed).
 * cli_fallback_env applies INTENT_FALLBACK_THRESHOLD,
 * INTENT_AMBIGUITY_THRESHOLD, INTENT_FALLBACK_INTENT, INTENT_OOS_SCORE and
 * INTENT_NO_CALIBRATION (before the flags, which win). */
/* The training progress bar (on a terminal) and log lines (progress.c),
 * for the events of ic_train_run and ic_pretrain_run. */
struct ic_train_event;
struct cli_progress {
    int tty;           /* stderr is a terminal: draw the bar */
    double last_draw;
    int bar_shown;
};
void cli_progress_clear(struct cli_progress *p);
void cli_progress_step(struct cli_progress *p, const struct ic_train_event *ev);
void cli_progress_log(struct cli_progress *p, const struct ic_train_event *ev);

/* Ctrl-C and SIGTERM during a training job (progress.c): cli_stop_begin
 * installs handlers that set the flag it returns (a second Ctrl-C kills the
 * usual way); cli_stop_end restores the defaults. cli_print_run names the
 * tracked MLflow run on stderr when there is one. */
const volatile sig_atomic_t *cli_stop_begin(void);
void cli_stop_end(void);
void cli_print_run(const char *run_id, const char *run_where);

struct ic_infer_opts;
int cli_fallback_option(const char *name, int *takes_value);
int cli_fallback_set(const char *cmd, const char *name, const char *val, struct ic_infer_opts *io);
int cli_fallback_env(const char *cmd, struct ic_infer_opts *io);
/* --precision fp32|bf16|int8 of predict, eval and serve (cli_precision.c).
 * cli_precision_parse: 0 ok, 2 usage error naming opt (printed).
 * cli_precision_env: INTENT_PRECISION into *p when set (0, or 2 printed).
 * cli_precision_apply: prepares m at p (ic_model_set_precision); for int8 or
 * bf16 prints one line on stderr when the CPU lacks the native instructions
 * (VNNI, AVX512-BF16) and the portable/AVX2 kernels run instead. 0 ok,
 * 1 error (printed, naming the tensor for non-finite weights). */
struct ic_model;
int cli_precision_parse(const char *cmd, const char *opt, const char *val, int *p);
int cli_precision_env(const char *cmd, int *p);
int cli_precision_apply(const char *cmd, struct ic_model *m, int p);
/* The stderr line of cli_precision_apply alone (the model already prepared). */
void cli_precision_note(const char *cmd, int p);
#define CLI_PRECISION_HELP                                                                   \
    "  --precision P      fp32 (default), bf16 or int8 products in the Linear layers\n"      \
    "                     (env INTENT_PRECISION; docs/performance.md)\n"

#define CLI_FALLBACK_HELP                                                                    \
    "  --no-calibration   raw softmax confidences (no temperature), as before calibration\n"  \
    "  --fallback-threshold X   answer the fallback intent when the in-scope score is\n"     \
    "                     below X, in [0, 1] (default: the model's; 0 = off)\n"              \
    "  --ambiguity-threshold X  ... or when the top two probabilities differ by less\n"      \
    "                     than X (default: the model's; 0 = off)\n"                          \
    "  --fallback-intent NAME   the fallback's name (default nlu_fallback)\n"                \
    "  --oos-score NAME   softmax, energy or mahalanobis (default: the model's)\n"

#endif
