// SPDX-License-Identifier: Apache-2.0
/*
 * png.c - an RGB canvas, a 5x7 bitmap font, and PNG encoding through
 * libpng (png.h).
 */
#include "core/png.h"

#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ic__canvas_init(struct ic__canvas *c, int w, int h, uint32_t bg)
{
    IC_ASSERT(w >= 1 && h >= 1 && w <= 8192 && h <= 8192);
    c->w = w;
    c->h = h;
    c->rgb = ic_xmalloc((size_t)w * (size_t)h * 3);
    ic__fill_rect(c, 0, 0, w, h, bg);
}

void ic__canvas_free(struct ic__canvas *c)
{
    ic_free(c->rgb);
    memset(c, 0, sizeof *c);
}

static void put(struct ic__canvas *c, int x, int y, uint32_t color)
{
    if (x < 0 || y < 0 || x >= c->w || y >= c->h)
        return;
    uint8_t *p = c->rgb + ((size_t)y * (size_t)c->w + (size_t)x) * 3;
    p[0] = (uint8_t)(color >> 16);
    p[1] = (uint8_t)(color >> 8);
    p[2] = (uint8_t)color;
}

void ic__fill_rect(struct ic__canvas *c, int x, int y, int w, int h, uint32_t color)
{
    int x0 = x < 0 ? 0 : x, y0 = y < 0 ? 0 : y;
    int x1 = x + w > c->w ? c->w : x + w, y1 = y + h > c->h ? c->h : y + h;
    for (int j = y0; j < y1; j++)
        for (int i = x0; i < x1; i++)
            put(c, i, j, color);
}

void ic__draw_line(struct ic__canvas *c, int x0, int y0, int x1, int y1, uint32_t color)
{
    int dx = abs(x1 - x0), dy = -abs(y1 - y0);
    int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, e = dx + dy;
    for (;;) {
        put(c, x0, y0, color);
        if (x0 == x1 && y0 == y1)
            return;
        int e2 = 2 * e;
        if (e2 >= dy) {
            e += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            e += dx;
            y0 += sy;
        }
    }
}

/* Rows of each glyph, bit 4 = leftmost column. */
static const struct {
    char ch;
    uint8_t rows[IC__FONT_H];
} g_font[] = {
    {' ', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}},
    {'%', {0x19, 0x19, 0x02, 0x04, 0x08, 0x13, 0x13}},
    {'(', {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}},
    {')', {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}},
    {',', {0x00, 0x00, 0x00, 0x00, 0x0c, 0x04, 0x08}},
    {'-', {0x00, 0x00, 0x00, 0x1f, 0x00, 0x00, 0x00}},
    {'.', {0x00, 0x00, 0x00, 0x00, 0x00, 0x0c, 0x0c}},
    {'/', {0x01, 0x01, 0x02, 0x04, 0x08, 0x10, 0x10}},
    {'0', {0x0e, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0e}},
    {'1', {0x04, 0x0c, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'2', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1f}},
    {'3', {0x1e, 0x01, 0x01, 0x0e, 0x01, 0x01, 0x1e}},
    {'4', {0x02, 0x06, 0x0a, 0x12, 0x1f, 0x02, 0x02}},
    {'5', {0x1f, 0x10, 0x1e, 0x01, 0x01, 0x11, 0x0e}},
    {'6', {0x06, 0x08, 0x10, 0x1e, 0x11, 0x11, 0x0e}},
    {'7', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}},
    {'8', {0x0e, 0x11, 0x11, 0x0e, 0x11, 0x11, 0x0e}},
    {'9', {0x0e, 0x11, 0x11, 0x0f, 0x01, 0x02, 0x0c}},
    {':', {0x00, 0x0c, 0x0c, 0x00, 0x0c, 0x0c, 0x00}},
    {'=', {0x00, 0x00, 0x1f, 0x00, 0x1f, 0x00, 0x00}},
    {'?', {0x0e, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}},
    {'A', {0x0e, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'B', {0x1e, 0x11, 0x11, 0x1e, 0x11, 0x11, 0x1e}},
    {'C', {0x0e, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0e}},
    {'D', {0x1e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1e}},
    {'E', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x1f}},
    {'F', {0x1f, 0x10, 0x10, 0x1e, 0x10, 0x10, 0x10}},
    {'G', {0x0e, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0f}},
    {'H', {0x11, 0x11, 0x11, 0x1f, 0x11, 0x11, 0x11}},
    {'I', {0x0e, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0e}},
    {'J', {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0c}},
    {'K', {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}},
    {'L', {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1f}},
    {'M', {0x11, 0x1b, 0x15, 0x15, 0x11, 0x11, 0x11}},
    {'N', {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}},
    {'O', {0x0e, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'P', {0x1e, 0x11, 0x11, 0x1e, 0x10, 0x10, 0x10}},
    {'Q', {0x0e, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0d}},
    {'R', {0x1e, 0x11, 0x11, 0x1e, 0x14, 0x12, 0x11}},
    {'S', {0x0f, 0x10, 0x10, 0x0e, 0x01, 0x01, 0x1e}},
    {'T', {0x1f, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}},
    {'U', {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0e}},
    {'V', {0x11, 0x11, 0x11, 0x11, 0x11, 0x0a, 0x04}},
    {'W', {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0a}},
    {'X', {0x11, 0x11, 0x0a, 0x04, 0x0a, 0x11, 0x11}},
    {'Y', {0x11, 0x11, 0x0a, 0x04, 0x04, 0x04, 0x04}},
    {'Z', {0x1f, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1f}},
    {'_', {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1f}},
};

static const uint8_t *glyph(unsigned char ch)
{
    if (ch >= 'a' && ch <= 'z')
        ch = (unsigned char)(ch - 'a' + 'A');
    for (size_t i = 0; i < sizeof g_font / sizeof g_font[0]; i++)
        if ((unsigned char)g_font[i].ch == ch)
            return g_font[i].rows;
    return glyph('?');
}

int ic__text_width(const char *s, int scale)
{
    size_t n = strlen(s);
    return n ? (int)n * (IC__FONT_W + 1) * scale - scale : 0;
}

int ic__draw_text(struct ic__canvas *c, int x, int y, const char *s, int scale, uint32_t color)
{
    for (; *s; s++) {
        const uint8_t *g = glyph((unsigned char)*s);
        for (int r = 0; r < IC__FONT_H; r++)
            for (int k = 0; k < IC__FONT_W; k++)
                if (g[r] & (1u << (IC__FONT_W - 1 - k)))
                    ic__fill_rect(c, x + k * scale, y + r * scale, scale, scale, color);
        x += (IC__FONT_W + 1) * scale;
    }
    return x;
}

/* libpng's output callback: appends to a growing buffer. */
struct png_sink {
    uint8_t *buf;
    size_t len, cap;
};

static void sink_write(png_structp png, png_bytep data, size_t n)
{
    struct png_sink *s = png_get_io_ptr(png);
    if (s->len + n > s->cap) {
        size_t cap = s->cap ? s->cap : 4096;
        while (cap < s->len + n)
            cap *= 2;
        s->buf = ic_xrealloc(s->buf, cap);
        s->cap = cap;
    }
    memcpy(s->buf + s->len, data, n);
    s->len += n;
}

static void sink_flush(png_structp png)
{
    (void)png;
}

/* libpng reports errors by longjmp; the message is kept for ic_errf. */
static void png_fail(png_structp png, png_const_charp msg)
{
    char *keep = png_get_error_ptr(png);
    snprintf(keep, 128, "%s", msg);
    png_longjmp(png, 1);
}

static void png_warn(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* The rows of c as 8-bit RGB, no interlace, zlib level 6. Returns 0, or
 * non-zero after a libpng error (message in msg). */
static int encode_rows(png_structp png, png_infop info, const struct ic__canvas *c,
                       png_bytep *rows)
{
    if (setjmp(png_jmpbuf(png)))
        return 1;
    png_set_IHDR(png, info, (png_uint_32)c->w, (png_uint_32)c->h, 8, PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_set_compression_level(png, 6);
    png_set_rows(png, info, rows);
    png_write_png(png, info, PNG_TRANSFORM_IDENTITY, NULL);
    return 0;
}

int ic__png_encode(const struct ic__canvas *c, uint8_t **out, size_t *len, struct ic_err *err)
{
    char msg[128] = "unknown error";
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, msg, png_fail, png_warn);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        return ic_errf(err, IC_ERR_NOMEM, "PNG: libpng could not start");
    }
    struct png_sink sink = {0};
    png_set_write_fn(png, &sink, sink_write, sink_flush);
    png_bytep *rows = ic_xmalloc((size_t)c->h * sizeof *rows);
    for (int y = 0; y < c->h; y++)
        rows[y] = c->rgb + (size_t)y * (size_t)c->w * 3;
    int bad = encode_rows(png, info, c, rows);
    png_destroy_write_struct(&png, &info);
    ic_free(rows);
    if (bad) {
        ic_free(sink.buf);
        return ic_errf(err, IC_ERR_IO, "PNG: libpng: %s", msg);
    }
    *out = sink.buf;
    *len = sink.len;
    return IC_OK;
}

int ic__png_write(const struct ic__canvas *c, const char *path, struct ic_err *err)
{
    uint8_t *png;
    size_t n;
    int rc = ic__png_encode(c, &png, &n, err);
    if (rc != IC_OK)
        return rc;
    rc = ic_write_file_atomic(path, png, n, err);
    ic_free(png);
    return rc;
}
