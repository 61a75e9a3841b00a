// SPDX-License-Identifier: Apache-2.0
/*
 * report_png.c - the report's images (intent/report.h), drawn on an RGB
 * canvas and written as PNG by core/png.c:
 *   confusion_matrix.png   one square per (true, predicted) pair, coloured
 *                          by its share of the true row (as the HTML heat
 *                          map), with a title and the number of intents
 *   training_curves.png    two panels over the epochs: training and
 *                          evaluation loss; evaluation accuracy and macro-F1
 */
#include <math.h>
#include <stdio.h>

#include "core/png.h"
#include "train/report_int.h"

#define INK 0x222222u
#define GRID 0xe6e6e6u

int ic__png_confusion(const struct ic__report *r, const char *path, struct ic_err *err)
{
    int N = r->N, cs = N <= 20 ? 24 : N <= 75 ? 8 : N <= 200 ? 4 : 2, pad = 20, top = 40;
    int side = N * cs, w = side + 2 * pad, h = side + top + pad;
    if (w < 360)
        w = 360;
    struct ic__canvas c;
    ic__canvas_init(&c, w, h, 0xffffffu);
    char title[64];
    snprintf(title, sizeof title, "CONFUSION MATRIX, %d INTENTS", N);
    ic__draw_text(&c, pad, 8, title, 2, INK);
    ic__draw_text(&c, pad, 26, "rows true, columns predicted", 1, INK);
    for (int i = 0; i < N; i++)
        for (int j = 0; j < N; j++)
            ic__fill_rect(&c, pad + j * cs, top + i * cs, cs, cs,
                          ic__heat_color(r->cm[(size_t)i * N + j], r->row[i]));
    ic__draw_line(&c, pad - 1, top - 1, pad + side, top - 1, INK);
    ic__draw_line(&c, pad - 1, top + side, pad + side, top + side, INK);
    ic__draw_line(&c, pad - 1, top - 1, pad - 1, top + side, INK);
    ic__draw_line(&c, pad + side, top - 1, pad + side, top + side, INK);
    int rc = ic__png_write(&c, path, err);
    ic__canvas_free(&c);
    return rc;
}

// --- training curves ------------------------------------------------------------

#define PW 380 /* one panel */
#define PH 300
#define PL 50  /* plot margins inside a panel */
#define PR 15
#define PT 30
#define PB 40

struct panel {
    struct ic__canvas *c;
    int ox;              /* panel's left edge */
    double x0, x1, y0, y1;
};

static int sx(const struct panel *p, double x)
{
    return p->ox + PL + (int)lround((x - p->x0) / (p->x1 - p->x0) * (PW - PL - PR));
}

static int sy(const struct panel *p, double y)
{
    return PH - PB - (int)lround((y - p->y0) / (p->y1 - p->y0) * (PH - PT - PB));
}

/* Frame, grid, tick numbers and the panel's title. */
static void frame(const struct panel *p, const char *title)
{
    char t[32];
    ic__draw_text(p->c, p->ox + PL, 8, title, 2, INK);
    for (int k = 0; k <= 4; k++) {
        double y = p->y0 + (p->y1 - p->y0) * k / 4, x = p->x0 + (p->x1 - p->x0) * k / 4;
        ic__draw_line(p->c, sx(p, p->x0), sy(p, y), sx(p, p->x1), sy(p, y), GRID);
        snprintf(t, sizeof t, "%.2f", y);
        ic__draw_text(p->c, p->ox + PL - 4 - ic__text_width(t, 1), sy(p, y) - 3, t, 1, INK);
        snprintf(t, sizeof t, "%g", round(x * 10) / 10);
        ic__draw_text(p->c, sx(p, x) - ic__text_width(t, 1) / 2, PH - PB + 6, t, 1, INK);
    }
    ic__draw_line(p->c, sx(p, p->x0), sy(p, p->y0), sx(p, p->x1), sy(p, p->y0), INK);
    ic__draw_line(p->c, sx(p, p->x0), sy(p, p->y0), sx(p, p->x0), sy(p, p->y1), INK);
    ic__draw_text(p->c, sx(p, (p->x0 + p->x1) / 2) - 15, PH - 16, "EPOCH", 1, INK);
}

/* One series (2 px wide, a dot per epoch) and its legend entry k. */
static void curve(const struct panel *p, const struct ic_epoch_stat *e, int n, int field,
                  uint32_t color, const char *name, int k)
{
    int have = 0, lx = 0, ly = 0;
    for (int i = 0; i < n; i++) {
        double v = field == 0 ? e[i].train_loss : field == 1 ? e[i].eval_loss
                   : field == 2 ? e[i].eval_accuracy : e[i].eval_f1_macro;
        if (!isfinite(v))
            continue;
        int x = sx(p, e[i].epoch), y = sy(p, v);
        if (have) {
            ic__draw_line(p->c, lx, ly, x, y, color);
            ic__draw_line(p->c, lx, ly + 1, x, y + 1, color);
        }
        ic__fill_rect(p->c, x - 2, y - 2, 5, 5, color);
        have = 1;
        lx = x;
        ly = y;
    }
    int yk = PT + 4 + 12 * k;
    ic__fill_rect(p->c, p->ox + PW - 130, yk + 2, 14, 3, color);
    ic__draw_text(p->c, p->ox + PW - 112, yk, name, 1, INK);
}

int ic__png_curves(const struct ic_epoch_stat *e, int n, const char *path, struct ic_err *err)
{
    double lmax = 0;
    for (int i = 0; i < n; i++) {
        if (isfinite(e[i].train_loss))
            lmax = fmax(lmax, e[i].train_loss);
        if (isfinite(e[i].eval_loss))
            lmax = fmax(lmax, e[i].eval_loss);
    }
    struct ic__canvas c;
    ic__canvas_init(&c, 2 * PW, PH, 0xffffffu);
    double x0 = n > 0 ? e[0].epoch - 1 : 0, x1 = n > 0 && e[n - 1].epoch > x0 ? e[n - 1].epoch
                                                                           : x0 + 1;
    struct panel loss = {&c, 0, x0, x1, 0, lmax > 0 ? lmax * 1.05 : 1};
    struct panel acc = {&c, PW, x0, x1, 0, 1};
    frame(&loss, "LOSS");
    curve(&loss, e, n, 0, 0x2a6fb0u, "train loss", 0);
    curve(&loss, e, n, 1, 0xd0703au, "eval loss", 1);
    frame(&acc, "ACCURACY");
    curve(&acc, e, n, 2, 0x2a6fb0u, "eval accuracy", 0);
    curve(&acc, e, n, 3, 0x5aa05au, "eval macro-f1", 1);
    int rc = ic__png_write(&c, path, err);
    ic__canvas_free(&c);
    return rc;
}
