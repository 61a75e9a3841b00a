/* SPDX-License-Identifier: Apache-2.0 */
/*
 * unicode.c - character classes and mappings for the BERT tokenizer, on
 * utf8proc. Each function reproduces what Hugging Face's Rust tokenizer
 * uses: unicode_categories' is_other / is_punctuation / is_mark_nonspacing,
 * char::is_whitespace, char::to_lowercase and unicode-normalization's NFD.
 * Those crates carry their own Unicode versions; the override tables below
 * list every code point where utf8proc's answer differs from the Rust
 * tokenizer's (found by running both over all code points, see
 * tools/gen_tok_golden.mjs --probe), so the result follows the Rust one.
 */
#include "text/unicode.h"

#include <utf8proc.h>

/* ------------------------------------------------------------------------ */
/* Overrides (sorted ranges, inclusive). */
struct range {
    uint32_t lo, hi;
};

static int in_ranges(const struct range *r, size_t n, uint32_t cp)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo)
            hi = mid;
        else if (cp > r[mid].hi)
            lo = mid + 1;
        else
            return 1;
    }
    return 0;
}

#ifdef IC_UNI_NO_OVERRIDES /* tools/tok_uni_probe.c: utf8proc alone */
#define NONE_ {{0x110000, 0x110000}}
static const struct range other_add[] = NONE_, other_del[] = NONE_, punct_add[] = NONE_,
                          punct_del[] = NONE_, mn_add[] = NONE_, mn_del[] = NONE_,
                          nfd_keep[] = NONE_;
static const uint32_t lower_map[][2] = {{0x110000, 0x110000}};
static const uint32_t ccc_map[][2] = {{0x110000, 0}};
#else
#include "text/unicode_overrides.h"
#endif

#define NR(a) (sizeof(a) / sizeof((a)[0]))

static int category(uint32_t cp)
{
    return utf8proc_category((utf8proc_int32_t)cp);
}

int ic__uni_is_letter(uint32_t cp)
{
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
        return 1;
    default:
        return 0;
    }
}

int ic__uni_is_number(uint32_t cp)
{
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO:
        return 1;
    default:
        return 0;
    }
}

int ic__uni_is_alnum(uint32_t cp)
{
    return ic__uni_is_letter(cp) || ic__uni_is_number(cp);
}

int ic__uni_is_removed(uint32_t cp)
{
    if (cp == 0 || cp == 0xFFFD)
        return 1;
    if (cp == '\t' || cp == '\n' || cp == '\r')
        return 0;
    if (in_ranges(other_add, NR(other_add), cp))
        return 1;
    if (in_ranges(other_del, NR(other_del), cp))
        return 0;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_CC:
    case UTF8PROC_CATEGORY_CF:
    case UTF8PROC_CATEGORY_CO:
    case UTF8PROC_CATEGORY_CS:
        return 1;
    default:
        return 0;
    }
}

int ic__uni_is_space(uint32_t cp)
{
    switch (cp) {
    case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
    case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
    case 0x202F: case 0x205F: case 0x3000:
        return 1;
    default:
        return cp >= 0x2000 && cp <= 0x200A;
    }
}

int ic__uni_is_punct(uint32_t cp)
{
    if (cp < 128)
        return (cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) ||
               (cp >= 123 && cp <= 126);
    if (in_ranges(punct_add, NR(punct_add), cp))
        return 1;
    if (in_ranges(punct_del, NR(punct_del), cp))
        return 0;
    switch (category(cp)) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO:
        return 1;
    default:
        return 0;
    }
}

int ic__uni_is_cjk(uint32_t cp)
{
    /* The Rust tokenizer's ranges (its 0x2B920 start differs from the
     * Python tokenizer's 0x2B820). */
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x20000 && cp <= 0x2A6DF) || (cp >= 0x2A700 && cp <= 0x2B73F) ||
           (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B920 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

int ic__uni_is_mn(uint32_t cp)
{
    if (in_ranges(mn_add, NR(mn_add), cp))
        return 1;
    if (in_ranges(mn_del, NR(mn_del), cp))
        return 0;
    return category(cp) == UTF8PROC_CATEGORY_MN;
}

int ic__uni_ccc(uint32_t cp)
{
    int c = utf8proc_get_property((utf8proc_int32_t)cp)->combining_class;
    if (c == 0)
        return 0;
    size_t lo = 0, hi = NR(ccc_map);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < ccc_map[mid][0])
            hi = mid;
        else if (cp > ccc_map[mid][0])
            lo = mid + 1;
        else
            return (int)ccc_map[mid][1];
    }
    return c;
}

int ic__uni_nfd(uint32_t cp, uint32_t *out)
{
    if (in_ranges(nfd_keep, NR(nfd_keep), cp)) {
        out[0] = cp;
        return 1;
    }
    utf8proc_int32_t buf[IC_UNI_MAX_MAP];
    int last = 0;
    utf8proc_ssize_t n =
        utf8proc_decompose_char((utf8proc_int32_t)cp, buf, IC_UNI_MAX_MAP, UTF8PROC_DECOMPOSE, &last);
    if (n <= 0 || n > IC_UNI_MAX_MAP) {
        out[0] = cp;
        return 1;
    }
    for (utf8proc_ssize_t i = 0; i < n; i++)
        out[i] = (uint32_t)buf[i];
    return (int)n;
}

int ic__uni_lower(uint32_t cp, uint32_t *out)
{
    if (cp < 128) {
        out[0] = (cp >= 'A' && cp <= 'Z') ? cp + 32 : cp;
        return 1;
    }
    if (cp == 0x130) { /* SpecialCasing: İ -> i + combining dot above */
        out[0] = 'i';
        out[1] = 0x307;
        return 2;
    }
    size_t lo = 0, hi = NR(lower_map);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < lower_map[mid][0])
            hi = mid;
        else if (cp > lower_map[mid][0])
            lo = mid + 1;
        else {
            out[0] = lower_map[mid][1];
            return 1;
        }
    }
    out[0] = (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp);
    return 1;
}

/* ------------------------------------------------------------------------ */
int ic__utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    if (c < 0xC2)
        return 0;
    if (c < 0xE0) {
        if (n < 2 || (s[1] & 0xC0) != 0x80)
            return 0;
        *cp = ((uint32_t)(c & 0x1F) << 6) | (s[1] & 0x3F);
        return 2;
    }
    if (c < 0xF0) {
        if (n < 3 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        uint32_t v = ((uint32_t)(c & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) | (s[2] & 0x3F);
        if (v < 0x800 || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        *cp = v;
        return 3;
    }
    if (c < 0xF5) {
        if (n < 4 || (s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 || (s[3] & 0xC0) != 0x80)
            return 0;
        uint32_t v = ((uint32_t)(c & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
                     ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
        if (v < 0x10000 || v > 0x10FFFF)
            return 0;
        *cp = v;
        return 4;
    }
    return 0;
}

int ic__utf8_encode(uint32_t cp, char *out)
{
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}
