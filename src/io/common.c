/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - helpers shared by the checkpoint readers: a read-only whole-file
 * mapping with a size cap, and CRC-32 (zip's polynomial 0xEDB88320).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/io.h"

int ic__map_file(const char *path, size_t max_size, struct ic__map *m, struct ic_err *err)
{
    m->data = NULL;
    m->len = 0;
    m->mapped = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ic_errf(err, errno == ENOENT ? IC_ERR_NOTFOUND : IC_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return ic_errf(err, IC_ERR_IO, "%s: %s", path, strerror(e));
    }
    if (S_ISDIR(st.st_mode)) {
        close(fd);
        return ic_errf(err, IC_ERR_IO, "%s: is a directory", path);
    }
    if (!S_ISREG(st.st_mode) || st.st_size == 0) {
        /* pipes and empty files: plain read */
        close(fd);
        char *buf;
        size_t n;
        int rc = ic_read_file(path, max_size, &buf, &n, err);
        if (rc)
            return rc;
        m->data = (const uint8_t *)buf;
        m->len = n;
        return IC_OK;
    }
    if ((uint64_t)st.st_size > (uint64_t)max_size) {
        close(fd);
        return ic_errf(err, IC_ERR_RANGE, "%s: file is %lld bytes, over the limit of %zu", path,
                       (long long)st.st_size, max_size);
    }
    void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    int e = errno;
    close(fd);
    if (p == MAP_FAILED)
        return ic_errf(err, IC_ERR_IO, "%s: mmap: %s", path, strerror(e));
    m->data = p;
    m->len = (size_t)st.st_size;
    m->mapped = 1;
    return IC_OK;
}

void ic__map_free(struct ic__map *m)
{
    if (m->mapped)
        munmap((void *)m->data, m->len);
    else
        ic_free((void *)m->data);
    m->data = NULL;
    m->len = 0;
    m->mapped = 0;
}

static uint32_t crc_table[8][256];
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[0][i] = c;
    }
    for (uint32_t i = 0; i < 256; i++)
        for (int t = 1; t < 8; t++)
            crc_table[t][i] = (crc_table[t - 1][i] >> 8) ^ crc_table[0][crc_table[t - 1][i] & 0xff];
}

/* Slicing-by-8; the tables are built once (pthread_once). */
uint32_t ic__crc32(uint32_t crc, const void *data, size_t n)
{
    pthread_once(&crc_once, crc_init);
    const uint8_t *p = data;
    crc = ~crc;
    while (n >= 8) {
        uint32_t a = crc ^ ic__rd32(p);
        uint32_t b = ic__rd32(p + 4);
        crc = crc_table[7][a & 0xff] ^ crc_table[6][(a >> 8) & 0xff] ^
              crc_table[5][(a >> 16) & 0xff] ^ crc_table[4][a >> 24] ^
              crc_table[3][b & 0xff] ^ crc_table[2][(b >> 8) & 0xff] ^
              crc_table[1][(b >> 16) & 0xff] ^ crc_table[0][b >> 24];
        p += 8;
        n -= 8;
    }
    while (n--)
        crc = crc_table[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
    return ~crc;
}
