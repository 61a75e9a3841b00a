/*
 * inflate.c - a small, bounds-checked DEFLATE decoder (RFC 1951) for
 * deflated zip entries. Canonical-Huffman decoding bit by bit: simple and
 * fast enough for the few small records a compressed torch archive holds
 * (torch itself stores data uncompressed). Never reads past in_len or
 * writes past out_len; returns -1 on any malformed stream.
 */
#include <string.h>

#include "io/io.h"

struct inf {
    const uint8_t *in;
    size_t in_len, pos;
    uint32_t bitbuf;
    int bitcnt;
    uint8_t *out;
    size_t out_len, outpos;
};

struct huff {
    short count[16];
    short symbol[288];
};

static int bits(struct inf *s, int need, int *val)
{
    uint32_t v = s->bitbuf;
    while (s->bitcnt < need) {
        if (s->pos >= s->in_len)
            return -1;
        v |= (uint32_t)s->in[s->pos++] << s->bitcnt;
        s->bitcnt += 8;
    }
    s->bitbuf = v >> need;
    s->bitcnt -= need;
    *val = (int)(v & ((1u << need) - 1));
    return 0;
}

static int decode(struct inf *s, const struct huff *h)
{
    int code = 0, first = 0, index = 0;
    for (int len = 1; len < 16; len++) {
        int b;
        if (bits(s, 1, &b))
            return -1;
        code |= b;
        int count = h->count[len];
        if (code - count < first)
            return h->symbol[index + (code - first)];
        index += count;
        first += count;
        first <<= 1;
        code <<= 1;
    }
    return -1;
}

/* Builds a canonical code; returns <0 if over-subscribed. Incomplete codes
 * are allowed (decode then fails on unused codes). */
static int construct(struct huff *h, const short *length, int n)
{
    short offs[16];
    memset(h->count, 0, sizeof h->count);
    for (int sym = 0; sym < n; sym++)
        h->count[length[sym]]++;
    if (h->count[0] == n)
        return 0;
    int left = 1;
    for (int len = 1; len < 16; len++) {
        left <<= 1;
        left -= h->count[len];
        if (left < 0)
            return -1;
    }
    offs[1] = 0;
    for (int len = 1; len < 15; len++)
        offs[len + 1] = (short)(offs[len] + h->count[len]);
    for (int sym = 0; sym < n; sym++)
        if (length[sym] != 0)
            h->symbol[offs[length[sym]]++] = (short)sym;
    return left;
}

static const short lbase[29] = {3,  4,  5,  6,  7,  8,  9,  10, 11,  13,  15,  17,  19,  23, 27,
                                31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258};
static const short lext[29] = {0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2,
                               2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0};
static const short dbase[30] = {1,   2,   3,   4,   5,   7,    9,    13,   17,   25,
                                33,  49,  65,  97,  129, 193,  257,  385,  513,  769,
                                1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577};
static const short dext[30] = {0, 0, 0, 0, 1, 1, 2, 2,  3,  3,  4,  4,  5,  5,  6,
                               6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13};

static int codes(struct inf *s, const struct huff *lencode, const struct huff *distcode)
{
    for (;;) {
        int sym = decode(s, lencode);
        if (sym < 0)
            return -1;
        if (sym < 256) {
            if (s->outpos >= s->out_len)
                return -1;
            s->out[s->outpos++] = (uint8_t)sym;
        } else if (sym == 256) {
            return 0;
        } else {
            sym -= 257;
            if (sym >= 29)
                return -1;
            int e, len, dist;
            if (bits(s, lext[sym], &e))
                return -1;
            len = lbase[sym] + e;
            int ds = decode(s, distcode);
            if (ds < 0 || ds >= 30)
                return -1;
            if (bits(s, dext[ds], &e))
                return -1;
            dist = dbase[ds] + e;
            if ((size_t)dist > s->outpos || (size_t)len > s->out_len - s->outpos)
                return -1;
            for (int i = 0; i < len; i++, s->outpos++)
                s->out[s->outpos] = s->out[s->outpos - (size_t)dist];
        }
    }
}

static int fixed(struct inf *s)
{
    struct huff lc, dc;
    short lengths[320];
    int sym = 0;
    for (; sym < 144; sym++) lengths[sym] = 8;
    for (; sym < 256; sym++) lengths[sym] = 9;
    for (; sym < 280; sym++) lengths[sym] = 7;
    for (; sym < 288; sym++) lengths[sym] = 8;
    construct(&lc, lengths, 288);
    for (sym = 0; sym < 30; sym++)
        lengths[sym] = 5;
    construct(&dc, lengths, 30);
    return codes(s, &lc, &dc);
}

static int dynamic(struct inf *s)
{
    static const short order[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};
    short lengths[320];
    struct huff lc, dc;
    int nlen, ndist, ncode, v;
    if (bits(s, 5, &nlen) || bits(s, 5, &ndist) || bits(s, 4, &ncode))
        return -1;
    nlen += 257;
    ndist += 1;
    ncode += 4;
    if (nlen > 286 || ndist > 30)
        return -1;
    int index;
    for (index = 0; index < ncode; index++) {
        if (bits(s, 3, &v))
            return -1;
        lengths[order[index]] = (short)v;
    }
    for (; index < 19; index++)
        lengths[order[index]] = 0;
    if (construct(&lc, lengths, 19) != 0)
        return -1;
    index = 0;
    while (index < nlen + ndist) {
        int sym = decode(s, &lc);
        if (sym < 0)
            return -1;
        if (sym < 16) {
            lengths[index++] = (short)sym;
        } else {
            int len = 0, rep;
            if (sym == 16) {
                if (index == 0)
                    return -1;
                len = lengths[index - 1];
                if (bits(s, 2, &rep))
                    return -1;
                rep += 3;
            } else if (sym == 17) {
                if (bits(s, 3, &rep))
                    return -1;
                rep += 3;
            } else {
                if (bits(s, 7, &rep))
                    return -1;
                rep += 11;
            }
            if (index + rep > nlen + ndist)
                return -1;
            while (rep--)
                lengths[index++] = (short)len;
        }
    }
    if (lengths[256] == 0)
        return -1;
    int err = construct(&lc, lengths, nlen);
    if (err < 0 || (err > 0 && nlen - lc.count[0] != 1))
        return -1;
    err = construct(&dc, lengths + nlen, ndist);
    if (err < 0 || (err > 0 && ndist - dc.count[0] != 1))
        return -1;
    return codes(s, &lc, &dc);
}

static int stored(struct inf *s)
{
    s->bitbuf = 0;
    s->bitcnt = 0;
    if (s->in_len - s->pos < 4)
        return -1;
    unsigned len = ic__rd16(s->in + s->pos), nlen = ic__rd16(s->in + s->pos + 2);
    s->pos += 4;
    if (len != (~nlen & 0xffffu))
        return -1;
    if (s->in_len - s->pos < len || s->out_len - s->outpos < len)
        return -1;
    memcpy(s->out + s->outpos, s->in + s->pos, len);
    s->pos += len;
    s->outpos += len;
    return 0;
}

int ic__inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t *produced)
{
    struct inf s = {in, in_len, 0, 0, 0, out, out_len, 0};
    int last, type, rc = 0;
    do {
        if (bits(&s, 1, &last) || bits(&s, 2, &type))
            return -1;
        if (type == 0)
            rc = stored(&s);
        else if (type == 1)
            rc = fixed(&s);
        else if (type == 2)
            rc = dynamic(&s);
        else
            rc = -1;
        if (rc)
            return -1;
    } while (!last);
    *produced = s.outpos;
    return 0;
}
