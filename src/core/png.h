/* SPDX-License-Identifier: Apache-2.0 */
/*
 * png.h - internal: an RGB drawing surface and its PNG encoding, for the
 * report's images (src/train/report.c).
 *
 * Drawing: filled rectangles, one-pixel lines (Bresenham) and text in a
 * built-in 5x7 bitmap font (digits, A-Z with lower case drawn as upper
 * case, and " %(),-./:=?_"; any other byte is drawn as '?'), scaled by an
 * integer. Everything is clipped to the canvas.
 *
 * Encoding: libpng writes the canvas as an 8-bit RGB PNG, no interlace,
 * zlib level 6, into memory; errors come back as status codes.
 *
 * Colours are 0xRRGGBB.
 */
#ifndef IC_CORE_PNG_H
#define IC_CORE_PNG_H

#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

struct ic__canvas {
    int w, h;
    uint8_t *rgb; /* (h, w, 3), row-major */
};

#define IC__FONT_W 5 /* glyph cell; text advances 6 x scale per byte */
#define IC__FONT_H 7

/* A w x h canvas filled with bg (1 <= w, h <= 8192). */
void ic__canvas_init(struct ic__canvas *c, int w, int h, uint32_t bg);
void ic__canvas_free(struct ic__canvas *c); /* safe on a zeroed canvas */

void ic__fill_rect(struct ic__canvas *c, int x, int y, int w, int h, uint32_t color);
void ic__draw_line(struct ic__canvas *c, int x0, int y0, int x1, int y1, uint32_t color);
/* Text with its top-left corner at (x, y); returns the x after it. */
int ic__draw_text(struct ic__canvas *c, int x, int y, const char *s, int scale, uint32_t color);
int ic__text_width(const char *s, int scale);

/* The PNG file of c into *out (caller frees with ic_free), *len bytes. */
int ic__png_encode(const struct ic__canvas *c, uint8_t **out, size_t *len,
                   struct ic_err *err) IC_WUR;
/* Encodes c and writes it to path atomically. */
int ic__png_write(const struct ic__canvas *c, const char *path, struct ic_err *err) IC_WUR;

#endif
