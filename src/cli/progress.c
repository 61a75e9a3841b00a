/* SPDX-License-Identifier: Apache-2.0 */
/*
 * progress.c - the training progress bar and log lines shared by
 * `intent train` and `intent pretrain` (cli.h).
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>

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

static volatile sig_atomic_t g_stop;

static void on_stop_signal(int sig)
{
    (void)sig;
    g_stop = 1;
    signal(SIGINT, SIG_DFL); /* a second Ctrl-C kills the usual way */
}

const volatile sig_atomic_t *cli_stop_begin(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    g_stop = 0;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    return &g_stop;
}

void cli_stop_end(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

void cli_print_run(const char *run_id, const char *run_where)
{
    if (run_id)
        fprintf(stderr, "intent: MLflow run %s: %s\n", run_id, run_where ? run_where : "");
}
