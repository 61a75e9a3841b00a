/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_crc.c - ic__crc32 (zlib's crc32_z) gives the zip CRC-32: the standard
 * check value, chaining over pieces, and the value of a real zip entry.
 */
#include <string.h>

#include "io/io.h"
#include "test.h"

TEST(crc32_check_values)
{
    /* the CRC-32 check value (ISO-HDLC / zip) of "123456789" */
    ASSERT_EQ(ic__crc32(0, "123456789", 9), 0xCBF43926u);
    ASSERT_EQ(ic__crc32(0, "", 0), 0u);
    /* crc of a then b continues crc of a */
    const char *s = "The quick brown fox jumps over the lazy dog";
    uint32_t whole = ic__crc32(0, s, strlen(s));
    ASSERT_EQ(whole, 0x414FA339u);
    ASSERT_EQ(ic__crc32(ic__crc32(0, s, 10), s + 10, strlen(s) - 10), whole);
}

/* Bit-at-a-time CRC-32 (reflected, polynomial 0xEDB88320), the definition. */
static uint32_t crc32_bitwise(const unsigned char *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return ~c;
}

/* 1 MiB of seeded random bytes, whole and at odd offsets and lengths. */
TEST(crc32_matches_definition)
{
    size_t n = (size_t)1 << 20;
    unsigned char *b = ic_xmalloc(n);
    struct ic_rng r;
    ic_rng_seed(&r, 7);
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)ic_rng_u64(&r);
    ASSERT_EQ(ic__crc32(0, b, n), crc32_bitwise(b, n));
    ASSERT_EQ(ic__crc32(0, b + 3, 1001), crc32_bitwise(b + 3, 1001));
    ASSERT_EQ(ic__crc32(0, b + 1, 7), crc32_bitwise(b + 1, 7));
    ic_free(b);
}
