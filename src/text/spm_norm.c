/* SPDX-License-Identifier: Apache-2.0 */
/*
 * spm_norm.c - the normalisers of SentencePiece tokenizers: tokenizers'
 * Precompiled (a SentencePiece precompiled_charsmap: Darts double-array trie
 * plus replacement strings, applied per grapheme cluster) and Replace
 * (string or regular-expression pattern), plus base64 for the charsmap.
 * See spm.h for the exact behaviour.
 */
#include <string.h>
#include <utf8proc.h>

#include "text/spm.h"
#include "text/unicode.h"

// --- base64 --------------------------------------------------------------------

static int b64_val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int ic__base64_decode(const char *s, size_t len, unsigned char **out, size_t *out_len,
                      struct ic_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (len % 4)
        return ic_errf(err, IC_ERR_FORMAT, "base64: length %zu is not a multiple of 4", len);
    size_t pad = 0;
    if (len && s[len - 1] == '=')
        pad = (len >= 2 && s[len - 2] == '=') ? 2 : 1;
    unsigned char *d = ic_xmalloc(len / 4 * 3 + 1);
    size_t o = 0;
    uint32_t acc = 0;
    for (size_t i = 0; i < len - pad; i++) {
        int v = b64_val((unsigned char)s[i]);
        if (v < 0) {
            ic_free(d);
            return ic_errf(err, IC_ERR_FORMAT, "base64: invalid character at offset %zu", i);
        }
        acc = acc << 6 | (uint32_t)v;
        if (i % 4 == 3) {
            d[o++] = (unsigned char)(acc >> 16);
            d[o++] = (unsigned char)(acc >> 8);
            d[o++] = (unsigned char)acc;
            acc = 0;
        }
    }
    if (pad) {
        int keep = 3 - (int)pad; /* bytes in the last group */
        uint32_t bits = acc << (6 * (int)pad);
        if ((pad == 1 && (acc & 3)) || (pad == 2 && (acc & 15))) {
            ic_free(d);
            return ic_errf(err, IC_ERR_FORMAT, "base64: non-zero trailing bits at the end");
        }
        d[o++] = (unsigned char)(bits >> 16);
        if (keep == 2)
            d[o++] = (unsigned char)(bits >> 8);
    }
    *out = d;
    *out_len = o;
    return IC_OK;
}

char *ic__base64_encode(const void *data, size_t len)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const unsigned char *p = data;
    char *s = ic_xmalloc((len + 2) / 3 * 4 + 1), *o = s;
    for (size_t i = 0; i < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16;
        if (i + 1 < len)
            v |= (uint32_t)p[i + 1] << 8;
        if (i + 2 < len)
            v |= p[i + 2];
        *o++ = a[v >> 18];
        *o++ = a[(v >> 12) & 63];
        *o++ = i + 1 < len ? a[(v >> 6) & 63] : '=';
        *o++ = i + 2 < len ? a[v & 63] : '=';
    }
    *o = 0;
    return s;
}

// --- charsmap ------------------------------------------------------------------

int ic__spm_norm_init_raw(struct ic__spm_norm *n, const void *charsmap, size_t len,
                          struct ic_err *err)
{
    const unsigned char *p = charsmap;
    memset(n, 0, sizeof *n);
    if (len < 4)
        return ic_errf(err, IC_ERR_FORMAT,
                       "precompiled_charsmap: %zu bytes, too short for the trie size", len);
    uint32_t size = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
                    (uint32_t)p[3] << 24;
    size_t units = size / 4;
    if (units == 0)
        return ic_errf(err, IC_ERR_FORMAT, "precompiled_charsmap: the trie is empty");
    if (units > (len - 4) / 4)
        return ic_errf(err, IC_ERR_FORMAT,
                       "precompiled_charsmap: trie of %u bytes runs past the end (%zu bytes)",
                       size, len);
    size_t blob_off = 4 + units * 4, bad;
    if (!ic_utf8_valid((const char *)p + blob_off, len - blob_off, &bad))
        return ic_errf(err, IC_ERR_FORMAT,
                       "precompiled_charsmap: normalized strings are not UTF-8 (byte %zu)", bad);
    n->units = ic_xmalloc(units * sizeof *n->units);
    for (size_t i = 0; i < units; i++) {
        const unsigned char *q = p + 4 + 4 * i;
        n->units[i] = (uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                      (uint32_t)q[3] << 24;
    }
    n->n_units = units;
    n->blob_len = len - blob_off;
    n->blob = ic_xmalloc(n->blob_len + 1);
    memcpy(n->blob, p + blob_off, n->blob_len);
    n->blob[n->blob_len] = 0;
    return IC_OK;
}

int ic__spm_norm_init(struct ic__spm_norm *n, const char *charsmap_base64, size_t len,
                      struct ic_err *err)
{
    unsigned char *raw;
    size_t raw_len;
    memset(n, 0, sizeof *n);
    int rc = ic__base64_decode(charsmap_base64, len, &raw, &raw_len, err);
    if (rc)
        return ic_err_prefix(err, "precompiled_charsmap");
    rc = ic__spm_norm_init_raw(n, raw, raw_len, err);
    ic_free(raw);
    return rc;
}

void ic__spm_norm_free(struct ic__spm_norm *n)
{
    if (!n)
        return;
    ic_free(n->units);
    ic_free(n->blob);
    memset(n, 0, sizeof *n);
}

static size_t unit_offset(uint32_t u)
{
    return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6);
}

/* The value of the shortest key that is a prefix of key[0..len) (a NUL
 * byte ends the key), or -1. Positions outside the array end the search. */
static long darts_first(const struct ic__spm_norm *n, const unsigned char *key, size_t len)
{
    size_t pos = unit_offset(n->units[0]);
    for (size_t i = 0; i < len && key[i]; i++) {
        pos ^= key[i];
        if (pos >= n->n_units)
            return -1;
        uint32_t u = n->units[pos];
        if ((u & ((1u << 31) | 0xFF)) != key[i])
            return -1;
        pos ^= unit_offset(u);
        if ((u >> 8) & 1) {
            if (pos >= n->n_units)
                return -1;
            return (long)(n->units[pos] & ((1u << 31) - 1));
        }
    }
    return -1;
}

/* The replacement for key[0..len): 1 and (*r, *rl), or 0 when none (or when
 * the value does not point at the start of a character in the blob). */
static int transform(const struct ic__spm_norm *n, const char *key, size_t len, const char **r,
                     size_t *rl)
{
    long v = darts_first(n, (const unsigned char *)key, len);
    if (v < 0 || (size_t)v > n->blob_len)
        return 0;
    if ((size_t)v < n->blob_len && ((unsigned char)n->blob[v] & 0xC0) == 0x80)
        return 0;
    *r = n->blob + v;
    *rl = strlen(*r); /* the blob is NUL-terminated at blob_len */
    return 1;
}

/* End of the grapheme cluster starting at s[pos] (input valid UTF-8). */
static size_t grapheme_end(const char *s, size_t len, size_t pos, utf8proc_int32_t *state)
{
    uint32_t prev, cp;
    size_t i = pos + (size_t)ic__utf8_decode((const unsigned char *)s + pos, len - pos, &prev);
    while (i < len) {
        int l = ic__utf8_decode((const unsigned char *)s + i, len - i, &cp);
        if (utf8proc_grapheme_break_stateful((utf8proc_int32_t)prev, (utf8proc_int32_t)cp, state))
            break;
        prev = cp;
        i += (size_t)l;
    }
    return i;
}

static int norm_chars(const struct ic__spm_norm *n, const char *s, size_t a, size_t b,
                      struct ic_buf *out)
{
    int rc = IC_OK;
    while (rc == IC_OK && a < b) {
        uint32_t cp;
        size_t l = (size_t)ic__utf8_decode((const unsigned char *)s + a, b - a, &cp);
        const char *r;
        size_t rl;
        if (transform(n, s + a, l, &r, &rl))
            rc = ic_buf_append(out, r, rl);
        else
            rc = ic_buf_append(out, s + a, l);
        a += l;
    }
    return rc;
}

int ic__spm_norm_apply(const struct ic__spm_norm *n, const char *in, size_t len,
                       struct ic_buf *out)
{
    size_t bad;
    if (!ic_utf8_valid(in, len, &bad))
        return IC_ERR_FORMAT;
    utf8proc_int32_t state = 0;
    int rc = IC_OK;
    for (size_t pos = 0; rc == IC_OK && pos < len;) {
        size_t end = grapheme_end(in, len, pos, &state);
        const char *r;
        size_t rl;
        if (end - pos < 6 && transform(n, in + pos, end - pos, &r, &rl))
            rc = ic_buf_append(out, r, rl);
        else
            rc = norm_chars(n, in, pos, end, out);
        pos = end;
    }
    return rc;
}

// --- Replace -------------------------------------------------------------------

static int is_quant(char c)
{
    return c == '*' || c == '+' || c == '?' || c == '{';
}

/* Where the pattern leaves the subset on which POSIX ERE and Oniguruma
 * agree: a description, or NULL when it stays inside. */
static const char *regex_unsupported(const char *p, size_t *at)
{
    size_t n = strlen(p);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        *at = i;
        if (c == '\\') {
            unsigned char e = (unsigned char)p[i + 1];
            if (!e || e >= 0x80 || (e >= '0' && e <= '9') || (e >= 'a' && e <= 'z') ||
                (e >= 'A' && e <= 'Z'))
                return "escape sequences other than escaped punctuation";
            i++;
        } else if (c == '.' || c == '|' || c == '^' || c == '$') {
            return "'.', '|', '^' and '$'";
        } else if (c == '(' && p[i + 1] == '?') {
            return "(?...) groups";
        } else if (is_quant((char)c) && i + 1 < n && (p[i + 1] == '?' || p[i + 1] == '+')) {
            return "lazy or possessive quantifiers";
        } else if (c >= 0x80) {
            size_t j = i;
            while (j + 1 < n && ((unsigned char)p[j + 1] & 0xC0) == 0x80)
                j++;
            if (j + 1 < n && is_quant(p[j + 1]))
                return "a quantifier after a non-ASCII character";
            i = j;
        } else if (c == '[') {
            size_t j = i + 1;
            if (p[j] == '^')
                return "negated bracket expressions";
            if (p[j] == ']')
                j++;
            for (; j < n && p[j] != ']'; j++)
                if ((unsigned char)p[j] >= 0x80 || p[j] == '\\' || p[j] == '[')
                    return "non-ASCII, '\\' or '[' inside a bracket expression";
            i = j;
        }
    }
    return NULL;
}

static int replace_regex_init(struct ic__replace *r, struct ic_err *err)
{
    size_t at = 0;
    const char *why = regex_unsupported(r->pattern, &at);
    if (why)
        return ic_errf(err, IC_ERR_UNSUPPORTED,
                       "Replace pattern \"%.80s\": offset %zu: %s are not supported", r->pattern,
                       at, why);
    int rc = regcomp(&r->re, r->pattern, REG_EXTENDED);
    if (rc) {
        char msg[128];
        regerror(rc, &r->re, msg, sizeof msg);
        return ic_errf(err, IC_ERR_UNSUPPORTED, "Replace pattern \"%.80s\": %s", r->pattern, msg);
    }
    r->re_ok = 1;
    regmatch_t m[1];
    if (regexec(&r->re, "", 1, m, 0) == 0)
        return ic_errf(err, IC_ERR_UNSUPPORTED,
                       "Replace pattern \"%.80s\": matches the empty string", r->pattern);
    return IC_OK;
}

int ic__replace_init(struct ic__replace *r, const char *pattern, int is_regex, const char *content,
                     struct ic_err *err)
{
    memset(r, 0, sizeof *r);
    if (!pattern || !content)
        return ic_errf(err, IC_ERR_FORMAT, "Replace: missing %s", pattern ? "content" : "pattern");
    if (!*pattern)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "Replace: empty pattern");
    r->is_regex = is_regex != 0;
    r->pattern = ic_xstrdup(pattern);
    r->pattern_len = strlen(pattern);
    r->content = ic_xstrdup(content);
    r->content_len = strlen(content);
    int rc = r->is_regex ? replace_regex_init(r, err) : IC_OK;
    if (rc)
        ic__replace_free(r);
    return rc;
}

/* Next match at or after from: 1 and [*so, *eo), or 0. */
static int next_match(const struct ic__replace *r, const char *in, size_t len, size_t from,
                      size_t *so, size_t *eo)
{
    if (!r->is_regex) {
        const char *p = memmem(in + from, len - from, r->pattern, r->pattern_len);
        if (!p)
            return 0;
        *so = (size_t)(p - in);
        *eo = *so + r->pattern_len;
        return 1;
    }
    regmatch_t m[1];
    m[0].rm_so = (regoff_t)from;
    m[0].rm_eo = (regoff_t)len;
    if (regexec(&r->re, in, 1, m, REG_STARTEND) != 0)
        return 0;
    *so = (size_t)m[0].rm_so;
    *eo = (size_t)m[0].rm_eo;
    return 1;
}

static int replace_run(const struct ic__replace *r, const char *in, size_t len, struct ic_buf *out)
{
    size_t from = 0, so, eo;
    int rc = IC_OK;
    while (rc == IC_OK && from < len && next_match(r, in, len, from, &so, &eo)) {
        if (eo <= so) /* cannot happen for accepted patterns; never loop */
            break;
        rc = ic_buf_append(out, in + from, so - from);
        if (rc == IC_OK)
            rc = ic_buf_append(out, r->content, r->content_len);
        from = eo;
    }
    if (rc == IC_OK && from < len)
        rc = ic_buf_append(out, in + from, len - from);
    return rc;
}

int ic__replace_apply(const struct ic__replace *r, const char *in, size_t len, struct ic_buf *out)
{
    if (len == 0)
        return IC_OK;
    if (!r->is_regex)
        return replace_run(r, in, len, out);
    /* regexec gets a NUL-terminated copy: REG_STARTEND bounds the search,
     * but some regexec wrappers (sanitizers) still look for the NUL */
    char *copy = ic_xmalloc(len + 1);
    memcpy(copy, in, len);
    copy[len] = 0;
    int rc = replace_run(r, copy, len, out);
    ic_free(copy);
    return rc;
}

void ic__replace_free(struct ic__replace *r)
{
    if (!r)
        return;
    if (r->re_ok)
        regfree(&r->re);
    ic_free(r->pattern);
    ic_free(r->content);
    memset(r, 0, sizeof *r);
}
