/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spm_model.c - reads SentencePiece .model files (a serialised protobuf
 * ModelProto, sentencepiece_model.proto) with a small hand-written
 * protobuf reader: the pieces with their scores and types, the trainer's
 * model type and byte_fallback, and the normaliser's precompiled_charsmap
 * and flags. Everything else is skipped. Every length is checked against
 * the bytes that remain, so hostile input ends in an error naming the file
 * and the field, never a read past the buffer.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "text/spm.h"

/* Wire types. */
enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

struct pb {
    const unsigned char *p, *end;
};

struct spm_parse {
    const char *name;
    char **pieces;
    double *scores;
    int *types;
    size_t n, cap;
    const unsigned char *charsmap;
    size_t charsmap_len;
    struct ic__spm_model_info info;
};

static int pb_varint(struct pb *b, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end)
            return -1;
        unsigned char c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80))
            return 0;
    }
    return -1;
}

/* Reads one field: number, wire type and, for WT_LEN, the payload (*sub);
 * for WT_VARINT the value (*v); fixed32 in *v's low bits. -1 when the
 * bytes end early or the wire type is not one of the four above. */
static int pb_field(struct pb *b, uint32_t *field, int *wt, uint64_t *v, struct pb *sub)
{
    uint64_t tag;
    if (pb_varint(b, &tag) || (tag >> 3) == 0 || (tag >> 3) > UINT32_MAX)
        return -1;
    *field = (uint32_t)(tag >> 3);
    *wt = (int)(tag & 7);
    size_t left = (size_t)(b->end - b->p);
    switch (*wt) {
    case WT_VARINT:
        return pb_varint(b, v);
    case WT_I64:
        if (left < 8)
            return -1;
        b->p += 8;
        return 0;
    case WT_I32:
        if (left < 4)
            return -1;
        *v = (uint64_t)b->p[0] | (uint64_t)b->p[1] << 8 | (uint64_t)b->p[2] << 16 |
             (uint64_t)b->p[3] << 24;
        b->p += 4;
        return 0;
    case WT_LEN:
        if (pb_varint(b, v) || *v > (uint64_t)(b->end - b->p))
            return -1;
        sub->p = b->p;
        sub->end = b->p + *v;
        b->p += *v;
        return 0;
    default:
        return -1;
    }
}

static int bad_field(struct ic_err *err, const char *name, const char *field, const char *why)
{
    return ic_errf(err, IC_ERR_FORMAT, "%s: %s: %s", name, field, why);
}

static int parse_piece(struct spm_parse *ps, struct pb b, struct ic_err *err)
{
    char field[48];
    size_t idx = ps->n;
    snprintf(field, sizeof field, "pieces[%zu]", idx);
    const unsigned char *str = NULL;
    size_t len = 0, bad;
    double score = 0;
    int type = IC_SPM_NORMAL;
    while (b.p < b.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        struct pb sub;
        if (pb_field(&b, &f, &wt, &v, &sub))
            return bad_field(err, ps->name, field, "truncated or malformed field");
        if (f == 1 && wt == WT_LEN) {
            str = sub.p;
            len = (size_t)(sub.end - sub.p);
        } else if (f == 2 && wt == WT_I32) {
            uint32_t bits = (uint32_t)v;
            float fl;
            memcpy(&fl, &bits, sizeof fl);
            score = fl;
        } else if (f == 3 && wt == WT_VARINT) {
            type = (int)(v > 100 ? 100 : v);
        } else if (f <= 3) {
            return bad_field(err, ps->name, field, "piece, score or type has the wrong wire type");
        }
    }
    if (!str || len == 0)
        return bad_field(err, ps->name, field, "missing or empty piece");
    if (!ic_utf8_valid((const char *)str, len, &bad) || memchr(str, 0, len))
        return bad_field(err, ps->name, field, "piece is not UTF-8 text");
    if (!isfinite(score))
        return bad_field(err, ps->name, field, isnan(score) ? "score is NaN" : "score is infinite");
    if (type < IC_SPM_NORMAL || type > IC_SPM_BYTE)
        return bad_field(err, ps->name, field, "unknown type");
    if (ps->n == ps->cap) {
        ps->cap = ps->cap ? ps->cap * 2 : 1024;
        ps->pieces = ic_xrealloc(ps->pieces, ps->cap * sizeof *ps->pieces);
        ps->scores = ic_xrealloc(ps->scores, ps->cap * sizeof *ps->scores);
        ps->types = ic_xrealloc(ps->types, ps->cap * sizeof *ps->types);
    }
    ps->pieces[ps->n] = ic_xstrndup((const char *)str, len);
    ps->scores[ps->n] = score;
    ps->types[ps->n] = type;
    if (type == IC_SPM_UNKNOWN && ps->info.unk_id < 0)
        ps->info.unk_id = (int32_t)ps->n;
    ps->n++;
    return IC_OK;
}

/* trainer_spec (2) or normalizer_spec (3): the few fields we use. */
static int parse_spec(struct spm_parse *ps, struct pb b, int which, struct ic_err *err)
{
    const char *what = which == 2 ? "trainer_spec" : "normalizer_spec";
    while (b.p < b.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        struct pb sub;
        if (pb_field(&b, &f, &wt, &v, &sub))
            return bad_field(err, ps->name, what, "truncated or malformed field");
        if (which == 2 && f == 3 && wt == WT_VARINT)
            ps->info.model_type = (int)(v > 100 ? 100 : v);
        else if (which == 2 && f == 35 && wt == WT_VARINT)
            ps->info.byte_fallback = v != 0;
        else if (which == 3 && f == 2 && wt == WT_LEN) {
            ps->charsmap = sub.p;
            ps->charsmap_len = (size_t)(sub.end - sub.p);
        } else if (which == 3 && f == 3 && wt == WT_VARINT)
            ps->info.add_dummy_prefix = v != 0;
        else if (which == 3 && f == 4 && wt == WT_VARINT)
            ps->info.remove_extra_whitespaces = v != 0;
        else if (which == 3 && f == 5 && wt == WT_VARINT)
            ps->info.escape_whitespaces = v != 0;
        else if ((which == 2 && (f == 3 || f == 35)) || (which == 3 && f >= 2 && f <= 5))
            return bad_field(err, ps->name, what, "a field has the wrong wire type");
    }
    return IC_OK;
}

static int parse_model(struct spm_parse *ps, const void *data, size_t len, struct ic_err *err)
{
    struct pb b = {data, (const unsigned char *)data + len};
    ps->info = (struct ic__spm_model_info){1, 0, 1, 1, 1, -1};
    while (b.p < b.end) {
        uint32_t f;
        int wt;
        uint64_t v = 0;
        struct pb sub;
        int rc = IC_OK;
        if (pb_field(&b, &f, &wt, &v, &sub))
            return ic_errf(err, IC_ERR_FORMAT,
                           "%s: not a SentencePiece model (malformed protobuf at byte %zu)",
                           ps->name, (size_t)(b.p - (const unsigned char *)data));
        if (f >= 1 && f <= 3 && wt != WT_LEN)
            return bad_field(err, ps->name, f == 1 ? "pieces" : f == 2 ? "trainer_spec" : "normalizer_spec",
                             "wrong wire type");
        if (f == 1)
            rc = parse_piece(ps, sub, err);
        else if (f == 2 || f == 3)
            rc = parse_spec(ps, sub, (int)f, err);
        if (rc)
            return rc;
    }
    if (ps->n == 0)
        return bad_field(err, ps->name, "pieces", "no pieces");
    return IC_OK;
}

static void parse_free(struct spm_parse *ps)
{
    ic__spm_model_free(ps->pieces, ps->scores, ps->types, ps->n, NULL);
    memset(ps, 0, sizeof *ps);
}

int ic__spm_model_load(const void *data, size_t len, const char *name, char ***pieces,
                       double **scores, int **types, size_t *n, char **charsmap_base64,
                       struct ic_err *err)
{
    struct spm_parse ps;
    memset(&ps, 0, sizeof ps);
    ps.name = name ? name : "sentencepiece model";
    *pieces = NULL;
    *scores = NULL;
    *types = NULL;
    *n = 0;
    *charsmap_base64 = NULL;
    int rc = parse_model(&ps, data, len, err);
    if (rc) {
        parse_free(&ps);
        return rc;
    }
    *pieces = ps.pieces;
    *scores = ps.scores;
    *types = ps.types;
    *n = ps.n;
    if (ps.charsmap_len)
        *charsmap_base64 = ic__base64_encode(ps.charsmap, ps.charsmap_len);
    return IC_OK;
}

int ic__spm_model_info(const void *data, size_t len, const char *name,
                       struct ic__spm_model_info *info, struct ic_err *err)
{
    struct spm_parse ps;
    memset(&ps, 0, sizeof ps);
    ps.name = name ? name : "sentencepiece model";
    int rc = parse_model(&ps, data, len, err);
    *info = ps.info;
    parse_free(&ps);
    return rc;
}

void ic__spm_model_free(char **pieces, double *scores, int *types, size_t n,
                        char *charsmap_base64)
{
    for (size_t i = 0; pieces && i < n; i++)
        ic_free(pieces[i]);
    ic_free(pieces);
    ic_free(scores);
    ic_free(types);
    ic_free(charsmap_base64);
}
