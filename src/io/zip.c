/* SPDX-License-Identifier: Apache-2.0 */
/*
 * zip.c - the zip container as torch.save uses it.
 *
 * Reader: finds the end-of-central-directory record (and the zip64 one when
 * counts or offsets overflow 16/32 bits), walks the central directory and,
 * for every entry, its local header; every offset and size is checked
 * against the file size before use, local and central names must agree,
 * methods are stored (0) or deflate (8, inflated by inflate.c), and CRCs are
 * verified when an entry is read. Encrypted entries and multi-disk archives
 * are refused.
 * Writer: stored entries with sizes in the local header (flag 0x0800, UTF-8
 * names); each entry's data starts at a 64-byte boundary thanks to padding
 * in a local-header extra field with id 0x4246 ("FB"), as torch does. No
 * zip64 (archives up to 4 GiB).
 */
#include <stdlib.h>
#include <string.h>

#include "io/io.h"

#define SIG_LOCAL 0x04034b50u
#define SIG_CENTRAL 0x02014b50u
#define SIG_EOCD 0x06054b50u
#define SIG_EOCD64 0x06064b50u
#define SIG_LOC64 0x07064b50u

void ic__zip_close(struct ic__zip *z)
{
    for (size_t i = 0; i < z->n; i++)
        ic_free(z->e[i].name);
    ic_free(z->e);
    z->e = NULL;
    z->n = 0;
}

/* Reads the zip64 extended-information extra field (id 1) for the fields
 * that are 0xFFFFFFFF in the central header, in the order the spec gives. */
static int zip64_extra(const uint8_t *ex, size_t exlen, uint64_t *size, uint64_t *csize,
                       uint64_t *lho)
{
    size_t i = 0;
    while (i + 4 <= exlen) {
        uint16_t id = ic__rd16(ex + i), sz = ic__rd16(ex + i + 2);
        if (i + 4 + sz > exlen)
            return -1;
        if (id == 1) {
            const uint8_t *f = ex + i + 4;
            size_t left = sz;
            uint64_t *fields[3] = {size, csize, lho};
            for (int k = 0; k < 3; k++) {
                if (*fields[k] != 0xFFFFFFFFu)
                    continue;
                if (left < 8)
                    return -1;
                *fields[k] = ic__rd64(f);
                f += 8;
                left -= 8;
            }
            return 0;
        }
        i += 4 + (size_t)sz;
    }
    return (*size == 0xFFFFFFFFu || *csize == 0xFFFFFFFFu || *lho == 0xFFFFFFFFu) ? -1 : 0;
}

int ic__zip_open(struct ic__zip *z, const void *data, size_t len, const char *name,
                 struct ic_err *err)
{
    const uint8_t *p = data;
    memset(z, 0, sizeof *z);
    z->data = p;
    z->len = len;
    z->name = name ? name : "<memory>";
    name = z->name;
    if (len < 22)
        return ic_errf(err, IC_ERR_FORMAT, "%s: %zu bytes, too small for a zip archive", name, len);
    /* The EOCD is 22 bytes plus a comment of up to 65535 bytes. */
    size_t eocd = (size_t)-1;
    size_t lo = len > 22 + 65535 ? len - 22 - 65535 : 0;
    for (size_t i = len - 22 + 1; i-- > lo;) {
        if (ic__rd32(p + i) == SIG_EOCD && i + 22 + ic__rd16(p + i + 20) <= len) {
            eocd = i;
            break;
        }
    }
    if (eocd == (size_t)-1)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: not a zip archive (no end of central directory record)", name);
    uint64_t disk = ic__rd16(p + eocd + 4), cd_disk = ic__rd16(p + eocd + 6);
    uint64_t count = ic__rd16(p + eocd + 10);
    uint64_t cd_size = ic__rd32(p + eocd + 12), cd_off = ic__rd32(p + eocd + 16);
    if (count == 0xFFFF || cd_size == 0xFFFFFFFFu || cd_off == 0xFFFFFFFFu) {
        if (eocd < 20 || ic__rd32(p + eocd - 20) != SIG_LOC64)
            return ic_errf(err, IC_ERR_FORMAT, "%s: zip64 end of central directory locator missing",
                           name);
        uint64_t off64 = ic__rd64(p + eocd - 20 + 8);
        if (off64 > len - 56 || len < 56 || ic__rd32(p + off64) != SIG_EOCD64)
            return ic_errf(err, IC_ERR_FORMAT, "%s: bad zip64 end of central directory record",
                           name);
        disk = ic__rd32(p + off64 + 16);
        cd_disk = ic__rd32(p + off64 + 20);
        count = ic__rd64(p + off64 + 32);
        cd_size = ic__rd64(p + off64 + 40);
        cd_off = ic__rd64(p + off64 + 48);
    }
    if (disk != 0 || cd_disk != 0)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "%s: multi-disk zip archives are not supported",
                       name);
    if (cd_off > len || cd_size > len - cd_off)
        return ic_errf(err, IC_ERR_FORMAT,
                       "%s: central directory (offset %llu, %llu bytes) is past the end of the "
                       "file (%zu bytes)",
                       name, (unsigned long long)cd_off, (unsigned long long)cd_size, len);
    if (count > IC_ZIP_MAX_ENTRIES || count > cd_size / 46)
        return ic_errf(err, count > IC_ZIP_MAX_ENTRIES ? IC_ERR_RANGE : IC_ERR_FORMAT,
                       "%s: central directory claims %llu entries in %llu bytes", name,
                       (unsigned long long)count, (unsigned long long)cd_size);
    z->e = ic_xcalloc(count ? count : 1, sizeof *z->e);
    const uint8_t *c = p + cd_off, *cend = p + cd_off + cd_size;
    int rc = IC_OK;
    for (uint64_t k = 0; k < count; k++) {
        if ((size_t)(cend - c) < 46 || ic__rd32(c) != SIG_CENTRAL) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: bad central directory entry %llu", name,
                         (unsigned long long)k);
            goto fail;
        }
        uint16_t flags = ic__rd16(c + 8), method = ic__rd16(c + 10);
        uint32_t crc = ic__rd32(c + 16);
        uint64_t csize = ic__rd32(c + 20), size = ic__rd32(c + 24);
        size_t nlen = ic__rd16(c + 28), xlen = ic__rd16(c + 30), clen = ic__rd16(c + 32);
        uint64_t lho = ic__rd32(c + 42);
        if ((size_t)(cend - c) < 46 + nlen + xlen + clen) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: central directory entry %llu runs past the directory",
                         name, (unsigned long long)k);
            goto fail;
        }
        char *ename = ic_xstrndup((const char *)c + 46, nlen);
        z->e[z->n].name = ename;
        z->n++;
        if (strlen(ename) != nlen) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: zip entry %llu has a NUL in its name", name,
                         (unsigned long long)k);
            goto fail;
        }
        if (zip64_extra(c + 46 + nlen, xlen, &size, &csize, &lho) != 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s: bad zip64 extra field", name, ename);
            goto fail;
        }
        if (flags & 1) {
            rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s: encrypted zip entries are not supported",
                         name, ename);
            goto fail;
        }
        if (method != 0 && method != 8) {
            rc = ic_errf(err, IC_ERR_UNSUPPORTED, "%s: %s: zip compression method %u is not supported",
                         name, ename, method);
            goto fail;
        }
        if (method == 0 && csize != size) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s: stored entry with different sizes (%llu vs %llu)",
                         name, ename, (unsigned long long)csize, (unsigned long long)size);
            goto fail;
        }
        if (lho > len || len - lho < 30 || ic__rd32(p + lho) != SIG_LOCAL) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s: bad local header at offset %llu", name, ename,
                         (unsigned long long)lho);
            goto fail;
        }
        size_t lnlen = ic__rd16(p + lho + 26), lxlen = ic__rd16(p + lho + 28);
        uint64_t doff = lho + 30 + lnlen + lxlen;
        if (doff > len || lnlen != nlen || memcmp(p + lho + 30, ename, nlen) != 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: %s: local header does not match the central directory",
                         name, ename);
            goto fail;
        }
        if (csize > len - doff) {
            rc = ic_errf(err, IC_ERR_FORMAT,
                         "%s: %s: data (%llu bytes at offset %llu) runs past the end of the file (%zu bytes)",
                         name, ename, (unsigned long long)csize, (unsigned long long)doff, len);
            goto fail;
        }
        /* Deflate expands at most ~1032:1; a larger claim is a lie. */
        if (method == 8 && size / 1032 > csize + 1) {
            rc = ic_errf(err, IC_ERR_RANGE, "%s: %s: absurd uncompressed size %llu for %llu bytes",
                         name, ename, (unsigned long long)size, (unsigned long long)csize);
            goto fail;
        }
        struct ic__zip_entry *e = &z->e[z->n - 1];
        e->data_off = doff;
        e->csize = csize;
        e->size = size;
        e->crc = crc;
        e->method = method;
        c += 46 + nlen + xlen + clen;
    }
    return IC_OK;
fail:
    ic__zip_close(z);
    return rc;
}

const struct ic__zip_entry *ic__zip_find(const struct ic__zip *z, const char *name)
{
    if (z->sorted) {
        size_t lo = 0, hi = z->n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            int c = strcmp(z->e[mid].name, name);
            if (c == 0)
                return &z->e[mid];
            if (c < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        return NULL;
    }
    for (size_t i = 0; i < z->n; i++)
        if (strcmp(z->e[i].name, name) == 0)
            return &z->e[i];
    return NULL;
}

int ic__zip_get(const struct ic__zip *z, const struct ic__zip_entry *e, const uint8_t **out,
                uint8_t **owned, struct ic_err *err)
{
    *out = NULL;
    *owned = NULL;
    const uint8_t *src = z->data + e->data_off;
    if (e->method == 0) {
        if (ic__crc32(0, src, (size_t)e->size) != e->crc)
            return ic_errf(err, IC_ERR_FORMAT, "%s: %s: CRC-32 mismatch (corrupt data)", z->name,
                           e->name);
        *out = src;
        return IC_OK;
    }
    uint8_t *buf = ic_xmalloc(e->size ? (size_t)e->size : 1);
    size_t produced = 0;
    if (ic__inflate(src, (size_t)e->csize, buf, (size_t)e->size, &produced) != 0 ||
        produced != e->size) {
        ic_free(buf);
        return ic_errf(err, IC_ERR_FORMAT, "%s: %s: corrupt deflate stream", z->name, e->name);
    }
    if (ic__crc32(0, buf, (size_t)e->size) != e->crc) {
        ic_free(buf);
        return ic_errf(err, IC_ERR_FORMAT, "%s: %s: CRC-32 mismatch (corrupt data)", z->name,
                       e->name);
    }
    *out = buf;
    *owned = buf;
    return IC_OK;
}

/* --- writer -------------------------------------------------------------- */

void ic__zipw_init(struct ic__zipw *w)
{
    ic_buf_init(&w->out, 0);
    ic_buf_init(&w->cd, 0);
    w->n = 0;
}

void ic__zipw_free(struct ic__zipw *w)
{
    ic_buf_free(&w->out);
    ic_buf_free(&w->cd);
}

int ic__zipw_add(struct ic__zipw *w, const char *name, const void *data, size_t len,
                 struct ic_err *err)
{
    size_t nlen = strlen(name);
    size_t off = w->out.len;
    if (nlen > 0xFFFF || len >= 0xFFFFFFFFu || off >= 0xFFFFFFFFu || w->n >= 0xFFFF)
        return ic_errf(err, IC_ERR_RANGE, "zip: %s: archive over the 4 GiB / 65535-entry limit",
                       name);
    uint32_t crc = ic__crc32(0, data, len);
    /* Pad the extra field so that the data starts at a multiple of 64. */
    size_t base = off + 30 + nlen + 4;
    size_t pad = (64 - base % 64) % 64;
    uint8_t h[30];
    ic__wr32(h, SIG_LOCAL);
    ic__wr16(h + 4, 20);      /* version needed */
    ic__wr16(h + 6, 0x0800);  /* UTF-8 names */
    ic__wr16(h + 8, 0);       /* stored */
    ic__wr16(h + 10, 0);      /* time */
    ic__wr16(h + 12, 0x21);   /* date: 1980-01-01 */
    ic__wr32(h + 14, crc);
    ic__wr32(h + 18, (uint32_t)len);
    ic__wr32(h + 22, (uint32_t)len);
    ic__wr16(h + 26, (uint16_t)nlen);
    ic__wr16(h + 28, (uint16_t)(4 + pad));
    uint8_t xh[4];
    ic__wr16(xh, 0x4246);
    ic__wr16(xh + 2, (uint16_t)pad);
    static const char zeros[64] = {0};
    int rc = 0;
    rc |= ic_buf_append(&w->out, h, 30);
    rc |= ic_buf_append(&w->out, name, nlen);
    rc |= ic_buf_append(&w->out, xh, 4);
    rc |= ic_buf_append(&w->out, zeros, pad);
    rc |= ic_buf_append(&w->out, data, len);
    uint8_t c[46];
    ic__wr32(c, SIG_CENTRAL);
    ic__wr16(c + 4, 20);      /* version made by */
    ic__wr16(c + 6, 20);
    ic__wr16(c + 8, 0x0800);
    ic__wr16(c + 10, 0);
    ic__wr16(c + 12, 0);
    ic__wr16(c + 14, 0x21);
    ic__wr32(c + 16, crc);
    ic__wr32(c + 20, (uint32_t)len);
    ic__wr32(c + 24, (uint32_t)len);
    ic__wr16(c + 28, (uint16_t)nlen);
    ic__wr16(c + 30, 0);
    ic__wr16(c + 32, 0);
    ic__wr16(c + 34, 0);
    ic__wr16(c + 36, 0);
    ic__wr32(c + 38, 0);
    ic__wr32(c + 42, (uint32_t)off);
    rc |= ic_buf_append(&w->cd, c, 46);
    rc |= ic_buf_append(&w->cd, name, nlen);
    if (rc)
        return ic_errf(err, IC_ERR_RANGE, "zip: %s: archive too large", name);
    w->n++;
    return IC_OK;
}

int ic__zipw_finish(struct ic__zipw *w, struct ic_err *err)
{
    size_t cd_off = w->out.len;
    if (cd_off >= 0xFFFFFFFFu || w->cd.len >= 0xFFFFFFFFu)
        return ic_errf(err, IC_ERR_RANGE, "zip: archive over the 4 GiB limit");
    uint8_t e[22];
    ic__wr32(e, SIG_EOCD);
    ic__wr16(e + 4, 0);
    ic__wr16(e + 6, 0);
    ic__wr16(e + 8, (uint16_t)w->n);
    ic__wr16(e + 10, (uint16_t)w->n);
    ic__wr32(e + 12, (uint32_t)w->cd.len);
    ic__wr32(e + 16, (uint32_t)cd_off);
    ic__wr16(e + 20, 0);
    if ((w->cd.len && ic_buf_append(&w->out, w->cd.data, w->cd.len)) ||
        ic_buf_append(&w->out, e, 22))
        return ic_errf(err, IC_ERR_RANGE, "zip: archive too large");
    return IC_OK;
}
