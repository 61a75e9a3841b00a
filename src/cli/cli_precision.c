// SPDX-License-Identifier: Apache-2.0
/*
 * cli_precision.c - `--precision fp32|bf16|int8` and INTENT_PRECISION,
 * shared by predict, eval and serve (see cli.h).
 */
#include <stdio.h>
#include <stdlib.h>

#include "cli/cli.h"
#include "intent/model.h"

int cli_precision_parse(const char *cmd, const char *opt, const char *val, int *p)
{
    enum ic_precision pr;
    if (ic_precision_parse(val, &pr)) {
        cli_error(cmd, "%s: \"%s\" is not a precision (fp32, bf16, int8)", opt, val ? val : "");
        return 2;
    }
    *p = (int)pr;
    return 0;
}

int cli_precision_env(const char *cmd, int *p)
{
    const char *v = getenv("INTENT_PRECISION");
    return v ? cli_precision_parse(cmd, "INTENT_PRECISION", v, p) : 0;
}

int cli_precision_apply(const char *cmd, struct ic_model *m, int p)
{
    struct ic_err err;
    if (ic_model_set_precision(m, (enum ic_precision)p, &err)) {
        cli_error(cmd, "%s", err.msg);
        return 1;
    }
    cli_precision_note(cmd, p);
    return 0;
}

void cli_precision_note(const char *cmd, int p)
{
    enum ic_precision pr = (enum ic_precision)p;
    if (!ic_kernels_native(pr))
        fprintf(stderr, "intent %s: %s runs on the %s kernels, not %s (this CPU lacks it or "
                        "INTENT_KERNELS caps it; slower)\n",
                cmd, ic_precision_name(pr), ic_kernels_name(pr),
                pr == IC_PRECISION_INT8 ? "AVX512-VNNI" : "AVX512-BF16");
}
