/* SPDX-License-Identifier: Apache-2.0 */
/*
 * report_int.h - internal: the parsed evaluation report shared by the HTML
 * page (report.c) and the PNG images (report_png.c).
 */
#ifndef IC_TRAIN_REPORT_INT_H
#define IC_TRAIN_REPORT_INT_H

#include <jansson.h>

#include "intent/report.h"

struct ic__report {
    json_t *root;          /* the parsed report_json (owns every string below) */
    int N;                 /* labels */
    const char **labels;   /* (N) */
    int64_t *cm;           /* (N, N) confusion counts, [true][predicted] */
    int64_t *row;          /* (N) examples per true label */
};

/* Fills heat-map colour for a cell holding `count` of a row of `total`. */
uint32_t ic__heat_color(int64_t count, int64_t total);

int ic__png_confusion(const struct ic__report *r, const char *path, struct ic_err *err) IC_WUR;
int ic__png_curves(const struct ic_epoch_stat *e, int n, const char *path,
                   struct ic_err *err) IC_WUR;

#endif
