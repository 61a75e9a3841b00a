/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fs.c - whole-file reads with a size cap, atomic writes (temporary name,
 * fsync, rename), mkdir -p, path helpers, UTF-8 validation and clocks.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "intent/ic.h"

int ic_read_file(const char *path, size_t max_size, char **out, size_t *len,
                 struct ic_err *err)
{
    *out = NULL;
    if (len)
        *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ic_errf(err, errno == ENOENT ? IC_ERR_NOTFOUND : IC_ERR_IO, "%s: %s", path,
                       strerror(errno));
    struct stat st;
    int st_ok = fstat(fd, &st) == 0;
    if (!st_ok || S_ISDIR(st.st_mode)) {
        int e = st_ok ? EISDIR : errno;
        close(fd);
        return ic_errf(err, IC_ERR_IO, "%s: %s", path, strerror(e));
    }
    size_t cap = S_ISREG(st.st_mode) ? (size_t)st.st_size : 65536;
    if (max_size && S_ISREG(st.st_mode) && (size_t)st.st_size > max_size) {
        close(fd);
        return ic_errf(err, IC_ERR_RANGE, "%s: file is %lld bytes, over the limit of %zu", path,
                       (long long)st.st_size, max_size);
    }
    char *buf = ic_xmalloc(cap + 1);
    size_t n = 0;
    for (;;) {
        if (n == cap) {
            if (max_size && cap >= max_size) {
                char c;
                ssize_t r = read(fd, &c, 1);
                if (r > 0) {
                    ic_free(buf);
                    close(fd);
                    return ic_errf(err, IC_ERR_RANGE, "%s: over the limit of %zu bytes", path,
                                   max_size);
                }
                break;
            }
            size_t ncap = cap ? cap * 2 : 65536;
            if (max_size && ncap > max_size)
                ncap = max_size;
            buf = ic_xrealloc(buf, ncap + 1);
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            ic_free(buf);
            close(fd);
            return ic_errf(err, IC_ERR_IO, "%s: read: %s", path, strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    return IC_OK;
}

int ic_write_file_atomic(const char *path, const void *data, size_t len, struct ic_err *err)
{
    char *tmp = ic_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = IC_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            rc = ic_errf(err, IC_ERR_IO, "%s: write: %s", path, strerror(errno));
            close(fd);
            goto fail;
        }
        p += w;
        left -= (size_t)w;
    }
    /* close even when fsync fails, so the descriptor never leaks */
    int synced = fsync(fd) == 0;
    int e = errno;
    if (close(fd) != 0 && synced) {
        synced = 0;
        e = errno;
    }
    if (!synced) {
        rc = ic_errf(err, IC_ERR_IO, "%s: write: %s", path, strerror(e));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", path, strerror(errno));
        goto fail;
    }
    goto out;
fail:
    unlink(tmp);
out:
    ic_free(tmp);
    return rc;
}

int ic_mkdirs(const char *path, struct ic_err *err)
{
    char *p = ic_xstrdup(path);
    size_t n = strlen(p);
    for (size_t i = 1; i <= n; i++) {
        if (p[i] == '/' || p[i] == 0) {
            char c = p[i];
            p[i] = 0;
            if (mkdir(p, 0755) != 0 && errno != EEXIST) {
                int rc = ic_errf(err, IC_ERR_IO, "%s: mkdir: %s", p, strerror(errno));
                ic_free(p);
                return rc;
            }
            p[i] = c;
        }
    }
    ic_free(p);
    if (!ic_is_dir(path))
        return ic_errf(err, IC_ERR_IO, "%s: not a directory", path);
    return IC_OK;
}

int ic_path_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

int ic_is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

char *ic_path_join(const char *a, const char *b)
{
    size_t la = strlen(a);
    while (la > 1 && a[la - 1] == '/')
        la--;
    while (*b == '/')
        b++;
    if (la == 0)
        return ic_xstrdup(b);
    return ic_xasprintf("%.*s/%s", (int)la, a, b);
}

int ic_rmtree(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0)
        return errno == ENOENT ? IC_OK : IC_ERR_IO;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) == 0 ? IC_OK : IC_ERR_IO;
    DIR *d = opendir(path);
    if (!d)
        return IC_ERR_IO;
    int rc = IC_OK;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char *sub = ic_path_join(path, e->d_name);
        if (ic_rmtree(sub) != IC_OK)
            rc = IC_ERR_IO;
        ic_free(sub);
    }
    closedir(d);
    if (rmdir(path) != 0)
        rc = IC_ERR_IO;
    return rc;
}

int ic_utf8_valid(const char *s, size_t n, size_t *bad_off)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            goto bad;
        }
        if (k >= n - i)
            goto bad; /* truncated sequence */
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xC0) != 0x80)
                goto bad;
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            goto bad;
        i += k + 1;
    }
    return 1;
bad:
    if (bad_off)
        *bad_off = i;
    return 0;
}

double ic_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int64_t ic_time_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
