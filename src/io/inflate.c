/* SPDX-License-Identifier: Apache-2.0 */
/*
 * inflate.c - raw DEFLATE (RFC 1951) decoding of deflated zip entries, on
 * zlib. Never writes past out_len; returns -1 on a malformed or oversized
 * stream, or one that does not end where the entry says.
 */
#include <limits.h>
#include <zlib.h>

#include "io/io.h"

int ic__inflate(const uint8_t *in, size_t in_len, uint8_t *out, size_t out_len, size_t *produced)
{
    *produced = 0;
    if (in_len > UINT_MAX || out_len > UINT_MAX)
        return -1;
    z_stream z = {0};
    if (inflateInit2(&z, -MAX_WBITS) != Z_OK)
        return -1;
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    z.next_out = out;
    z.avail_out = (uInt)out_len;
    int rc = inflate(&z, Z_FINISH);
    *produced = (size_t)z.total_out;
    inflateEnd(&z);
    return rc == Z_STREAM_END ? 0 : -1;
}
