/* SPDX-License-Identifier: Apache-2.0 */
/*
 * tok_uni_probe.c - prints, for every code point, what src/text/unicode.c
 * gives at each BERT normaliser stage, in the format of
 * `node tools/gen_tok_golden.mjs probe` (C removed/space, J CJK, S strip
 * accents, L lower-case, W whitespace, P punctuation). Built with
 * -DIC_UNI_NO_OVERRIDES it shows utf8proc alone; the difference to the
 * Rust probe becomes src/text/unicode_overrides.h. Not part of the build:
 *   cc -O2 -Isrc -DIC_UNI_NO_OVERRIDES -o /tmp/tok_uni_probe tools/tok_uni_probe.c \
 *       src/text/unicode.c -lutf8proc
 */
#include <stdio.h>
#include "text/unicode.h"
static void hexs(FILE *f, const uint32_t *v, int n) { for (int i = 0; i < n; i++) fprintf(f, "%s%x", i ? " " : "", v[i]); }
/* the reference classes of gen_tok_golden.mjs probe */
static int quantize(int ccc) {
  static const int refs[] = {1, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24,
    25, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 84, 91, 103, 107, 118, 122, 129, 130, 132, 202,
    214, 216, 218, 220, 222, 224, 226, 228, 230, 232, 233, 234, 240};
  int q = 1;
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++) if (refs[i] <= ccc) q = refs[i];
  return q;
}
int main(void) {
  for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
    if (cp >= 0xD800 && cp <= 0xDFFF) continue;
    uint32_t o[16]; int n;
    if (ic__uni_is_removed(cp)) printf("C %x \n", cp);
    else if (ic__uni_is_space(cp) && cp != ' ') printf("C %x 20\n", cp);
    if (ic__uni_is_cjk(cp)) printf("J %x 20 %x 20\n", cp, cp);
    n = ic__uni_nfd(cp, o); int m = 0; for (int i = 0; i < n; i++) if (!ic__uni_is_mn(o[i])) o[m++] = o[i];
    if (!(m == 1 && o[0] == cp)) { printf("S %x ", cp); hexs(stdout, o, m); printf("\n"); }
    n = ic__uni_lower(cp, o);
    if (!(n == 1 && o[0] == cp)) { printf("L %x ", cp); hexs(stdout, o, n); printf("\n"); }
    n = ic__uni_nfd(cp, o);
    int ccc = ic__uni_ccc(cp);
    if (n == 1 && o[0] == cp && ccc != 0) printf("K %x %d\n", cp, quantize(ccc));
    if (ic__uni_is_space(cp)) printf("W %x\n", cp);
    else if (ic__uni_is_punct(cp)) printf("P %x\n", cp);
  }
}
