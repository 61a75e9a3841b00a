// SPDX-License-Identifier: Apache-2.0
/*
 * png.c - an RGB canvas, a 5x7 bitmap font and a PNG encoder over zlib
 * (png.h).
 */
#include "core/png.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

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

static void be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Appends one chunk (length, type, data, CRC of type + data) at *o. */
static void chunk(uint8_t **o, const char *type, const uint8_t *data, size_t n)
{
    uint8_t *p = *o;
    be32(p, (uint32_t)n);
    memcpy(p + 4, type, 4);
    if (n)
        memcpy(p + 8, data, n);
    uLong crc = crc32(0L, p + 4, (uInt)(n + 4));
    be32(p + 8 + n, (uint32_t)crc);
    *o = p + 12 + n;
}

int ic__png_encode(const struct ic__canvas *c, uint8_t **out, size_t *len, struct ic_err *err)
{
    static const uint8_t sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t stride = (size_t)c->w * 3 + 1, raw_n = stride * (size_t)c->h;
    uint8_t *raw = ic_xmalloc(raw_n);
    for (int y = 0; y < c->h; y++) {
        raw[(size_t)y * stride] = 0; /* filter: none */
        memcpy(raw + (size_t)y * stride + 1, c->rgb + (size_t)y * (size_t)c->w * 3, stride - 1);
    }
    uLongf zn = compressBound((uLong)raw_n);
    uint8_t *z = ic_xmalloc(zn);
    int zrc = compress2(z, &zn, raw, (uLong)raw_n, 6);
    ic_free(raw);
    if (zrc != Z_OK) {
        ic_free(z);
        return ic_errf(err, IC_ERR_NOMEM, "PNG: zlib compress failed (%d)", zrc);
    }
    uint8_t ihdr[13];
    be32(ihdr, (uint32_t)c->w);
    be32(ihdr + 4, (uint32_t)c->h);
    ihdr[8] = 8;  /* bit depth */
    ihdr[9] = 2;  /* colour type: RGB */
    ihdr[10] = 0; /* deflate */
    ihdr[11] = 0; /* adaptive filtering */
    ihdr[12] = 0; /* no interlace */
    uint8_t *buf = ic_xmalloc(8 + 25 + 12 + zn + 12), *p = buf + 8;
    memcpy(buf, sig, 8);
    chunk(&p, "IHDR", ihdr, 13);
    chunk(&p, "IDAT", z, zn);
    chunk(&p, "IEND", NULL, 0);
    ic_free(z);
    *out = buf;
    *len = (size_t)(p - buf);
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
