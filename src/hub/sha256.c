/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sha256.c - SHA-256 of downloaded blobs (an LFS file's ETag is the SHA-256
 * of its content), on OpenSSL's libcrypto EVP interface.
 */
#include <stdio.h>

#include <openssl/evp.h>

#include "hub/hub_int.h"

void hub_sha256_init(struct hub_sha256 *s)
{
    s->ctx = EVP_MD_CTX_new();
    IC_ASSERT(s->ctx != NULL);
    IC_ASSERT(EVP_DigestInit_ex(s->ctx, EVP_sha256(), NULL) == 1);
}

void hub_sha256_update(struct hub_sha256 *s, const void *data, size_t len)
{
    IC_ASSERT(EVP_DigestUpdate(s->ctx, data, len) == 1);
}

void hub_sha256_hex(struct hub_sha256 *s, char hex[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    IC_ASSERT(EVP_DigestFinal_ex(s->ctx, md, &n) == 1 && n == 32);
    EVP_MD_CTX_free(s->ctx);
    s->ctx = NULL;
    static const char digits[] = "0123456789abcdef";
    for (unsigned i = 0; i < 32; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
}

int hub_sha256_file(const char *path, char hex[65])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    struct hub_sha256 s;
    hub_sha256_init(&s);
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        hub_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    hub_sha256_hex(&s, hex);
    return bad ? -1 : 0;
}
