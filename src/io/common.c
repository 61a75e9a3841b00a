/* SPDX-License-Identifier: Apache-2.0 */
/*
 * common.c - helpers shared by the checkpoint readers: a read-only whole-file
 * mapping with a size cap, and CRC-32 (zlib's crc32_z).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

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

/* zlib's CRC-32 (the zip polynomial); crc32_z takes a size_t length. */
uint32_t ic__crc32(uint32_t crc, const void *data, size_t n)
{
    return (uint32_t)crc32_z(crc, data, n);
}
