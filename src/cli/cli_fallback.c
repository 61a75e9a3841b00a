/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cli_fallback.c - the calibration and fallback options that predict, eval
 * and serve share (--no-calibration, --fallback-threshold,
 * --ambiguity-threshold, --fallback-intent, --oos-score) and their
 * INTENT_* environment variables. Values are checked here; whether the
 * fallback name collides with a trained intent is checked when the model is
 * known (ic_infer_init).
 */
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/calib.h"
#include "intent/infer.h"

static const char *const names[] = {"--no-calibration", "--fallback-threshold",
                                    "--ambiguity-threshold", "--fallback-intent", "--oos-score"};

int cli_fallback_option(const char *name, int *takes_value)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(name, names[i])) {
            *takes_value = i != 0;
            return 1;
        }
    return 0;
}

int cli_fallback_set(const char *cmd, const char *name, const char *val, struct ic_infer_opts *io)
{
    struct ic_err err;
    if (!strcmp(name, "--no-calibration")) {
        io->no_calibration = 1;
        return 0;
    }
    if (!strcmp(name, "--fallback-threshold") || !strcmp(name, "--ambiguity-threshold")) {
        double v;
        if (ic_parse_threshold(val, name, &v, &err) != IC_OK) {
            cli_error(cmd, "%s", err.msg);
            return 2;
        }
        if (!strcmp(name, "--fallback-threshold"))
            io->fallback_threshold = v;
        else
            io->ambiguity_threshold = v;
        return 0;
    }
    if (!strcmp(name, "--fallback-intent")) {
        if (!val || !*val) {
            cli_error(cmd, "%s: the fallback intent needs a name", name);
            return 2;
        }
        io->fallback_intent = val;
        return 0;
    }
    enum ic_oos_score s;
    if (val && !strcmp(val, "auto")) { /* the model's own */
        io->oos_score = -1;
        return 0;
    }
    if (ic_oos_score_parse(val, &s) != IC_OK) {
        cli_error(cmd, "%s: \"%s\" is not softmax, energy or mahalanobis", name, val);
        return 2;
    }
    io->oos_score = (int)s;
    return 0;
}

int cli_fallback_env(const char *cmd, struct ic_infer_opts *io)
{
    static const char *const vars[][2] = {
        {"INTENT_FALLBACK_THRESHOLD", "--fallback-threshold"},
        {"INTENT_AMBIGUITY_THRESHOLD", "--ambiguity-threshold"},
        {"INTENT_FALLBACK_INTENT", "--fallback-intent"},
        {"INTENT_OOS_SCORE", "--oos-score"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i][0]);
        if (!v)
            continue;
        if (cli_fallback_set(cmd, vars[i][1], v, io)) {
            cli_error(cmd, "(from the environment variable %s)", vars[i][0]);
            return 2;
        }
    }
    const char *nc = getenv("INTENT_NO_CALIBRATION");
    if (nc && (!strcmp(nc, "1") || !strcmp(nc, "true")))
        io->no_calibration = 1;
    return 0;
}
