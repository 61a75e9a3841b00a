/* SPDX-License-Identifier: Apache-2.0 */
/*
 * progress.c - the training progress bar and log lines shared by
 * `intent train` and `intent pretrain` (cli.h).
 */
#include <stdio.h>

#include "cli/cli.h"
#include "intent/train.h"

void cli_progress_clear(struct cli_progress *p)
{
    if (p->tty && p->bar_shown) {
        fprintf(stderr, "\r\033[K");
        p->bar_shown = 0;
    }
}

void cli_progress_step(struct cli_progress *p, const struct ic_train_event *ev)
{
    if (!p->tty)
        return;
    double now = ic_time_now();
    if (now - p->last_draw < 0.1 && ev->step != ev->total_steps)
        return;
    p->last_draw = now;
    int width = 30;
    double frac = ev->total_steps ? (double)ev->step / (double)ev->total_steps : 0;
    int fill = (int)(frac * width);
    char bar[64];
    for (int i = 0; i < width; i++)
        bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K[%s] %3.0f%% step %lld/%lld epoch %.2f loss %.4f", bar, frac * 100,
            (long long)ev->step, (long long)ev->total_steps, ev->epoch, ev->loss);
    p->bar_shown = 1;
}

void cli_progress_log(struct cli_progress *p, const struct ic_train_event *ev)
{
    cli_progress_clear(p);
    fprintf(stderr, "step %lld/%lld epoch %.2f loss %.4f learning_rate %.3g grad_norm %.3f "
            "examples/s %.0f\n", (long long)ev->step, (long long)ev->total_steps, ev->epoch,
            ev->loss, ev->learning_rate, ev->grad_norm, ev->examples_per_s);
}
