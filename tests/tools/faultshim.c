/* SPDX-License-Identifier: Apache-2.0 */
/*
 * faultshim.c - an LD_PRELOAD library for the fault tests (tests/e2e/
 * faults.sh): makes file writes fail or kills the process at a chosen point
 * of a save, deterministically. Configured by environment variables, each a
 * substring matched against the path:
 *
 *   IC_FAULT_ENOSPC=SUB        files created (open with O_CREAT) whose path
 *                              contains SUB accept half of the first write,
 *                              then every write fails with ENOSPC (a disk
 *                              filling up mid-file)
 *   IC_FAULT_EROFS=SUB         creating a file or directory whose path
 *                              contains SUB fails with EROFS
 *   IC_FAULT_KILL_OPEN=SUB     SIGKILL when a file whose path contains SUB
 *                              is created (the save is half-written)
 *   IC_FAULT_KILL_RENAME=SUF   SIGKILL just before a rename whose target
 *                              ends with SUF (everything written, not yet in place)
 *   IC_FAULT_KILL_AFTER_RENAME=SUF  SIGKILL just after such a rename
 *
 * Build: cc -shared -fPIC -O1 -o faultshim.so faultshim.c -ldl
 * (with an ASan binary also set ASAN_OPTIONS=verify_asan_link_order=0).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define MAX_FD 4096
static unsigned char fault_fd[MAX_FD]; /* 1: ENOSPC after half a write, 2: ENOSPC */

static int match(const char *var, const char *path)
{
    const char *s = getenv(var);
    return s && *s && path && strstr(path, s) != NULL;
}

static int match_end(const char *var, const char *path)
{
    const char *s = getenv(var);
    if (!s || !*s || !path)
        return 0;
    size_t a = strlen(path), b = strlen(s);
    return a >= b && strcmp(path + a - b, s) == 0;
}

static void die_now(const char *why, const char *path)
{
    char msg[600];
    int n = snprintf(msg, sizeof msg, "faultshim: SIGKILL %s %s\n", why, path);
    if (n > 0)
        (void)!write(2, msg, (size_t)n < sizeof msg ? (size_t)n : sizeof msg - 1);
    kill(getpid(), SIGKILL);
    for (;;)
        pause();
}

static int created(const char *path, int flags, int fd)
{
    if (fd >= 0 && fd < MAX_FD && match("IC_FAULT_ENOSPC", path))
        fault_fd[fd] = 1;
    else if (fd >= 0 && fd < MAX_FD)
        fault_fd[fd] = 0;
    (void)flags;
    return fd;
}

static int before_create(const char *path, int flags)
{
    if (!(flags & O_CREAT))
        return 0;
    if (match("IC_FAULT_EROFS", path)) {
        errno = EROFS;
        return -1;
    }
    if (match("IC_FAULT_KILL_OPEN", path))
        die_now("creating", path);
    return 0;
}

int open(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (before_create(path, flags) != 0)
        return -1;
    return created(path, flags, real(path, flags, mode));
}

int open64(const char *path, int flags, ...)
{
    static int (*real)(const char *, int, ...);
    if (!real)
        real = (int (*)(const char *, int, ...))dlsym(RTLD_NEXT, "open64");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (before_create(path, flags) != 0)
        return -1;
    return created(path, flags, real(path, flags, mode));
}

int openat(int dirfd, const char *path, int flags, ...)
{
    static int (*real)(int, const char *, int, ...);
    if (!real)
        real = (int (*)(int, const char *, int, ...))dlsym(RTLD_NEXT, "openat");
    mode_t mode = 0;
    if (flags & (O_CREAT | O_TMPFILE)) {
        va_list ap;
        va_start(ap, flags);
        mode = (mode_t)va_arg(ap, int);
        va_end(ap);
    }
    if (before_create(path, flags) != 0)
        return -1;
    return created(path, flags, real(dirfd, path, flags, mode));
}

FILE *fopen(const char *path, const char *mode)
{
    static FILE *(*real)(const char *, const char *);
    if (!real)
        real = (FILE * (*)(const char *, const char *)) dlsym(RTLD_NEXT, "fopen");
    int creating = mode && (mode[0] == 'w' || mode[0] == 'a');
    if (creating && before_create(path, O_CREAT) != 0)
        return NULL;
    FILE *f = real(path, mode);
    if (f && creating)
        created(path, O_CREAT, fileno(f));
    return f;
}

FILE *fopen64(const char *path, const char *mode)
{
    return fopen(path, mode);
}

int mkdir(const char *path, mode_t mode)
{
    static int (*real)(const char *, mode_t);
    if (!real)
        real = (int (*)(const char *, mode_t))dlsym(RTLD_NEXT, "mkdir");
    if (match("IC_FAULT_EROFS", path)) {
        errno = EROFS;
        return -1;
    }
    return real(path, mode);
}

ssize_t write(int fd, const void *buf, size_t n)
{
    static ssize_t (*real)(int, const void *, size_t);
    if (!real)
        real = (ssize_t(*)(int, const void *, size_t))dlsym(RTLD_NEXT, "write");
    if (fd >= 0 && fd < MAX_FD && fault_fd[fd]) {
        if (fault_fd[fd] == 1 && n > 1) {
            fault_fd[fd] = 2;
            return real(fd, buf, n / 2);
        }
        fault_fd[fd] = 2;
        errno = ENOSPC;
        return -1;
    }
    return real(fd, buf, n);
}

int close(int fd)
{
    static int (*real)(int);
    if (!real)
        real = (int (*)(int))dlsym(RTLD_NEXT, "close");
    if (fd >= 0 && fd < MAX_FD)
        fault_fd[fd] = 0;
    return real(fd);
}

static void rename_hook(const char *to, int after)
{
    if (!after && match_end("IC_FAULT_KILL_RENAME", to))
        die_now("before renaming to", to);
    if (after && match_end("IC_FAULT_KILL_AFTER_RENAME", to))
        die_now("after renaming to", to);
}

int rename(const char *from, const char *to)
{
    static int (*real)(const char *, const char *);
    if (!real)
        real = (int (*)(const char *, const char *))dlsym(RTLD_NEXT, "rename");
    rename_hook(to, 0);
    int rc = real(from, to);
    if (rc == 0)
        rename_hook(to, 1);
    return rc;
}

int renameat2(int olddirfd, const char *from, int newdirfd, const char *to, unsigned int flags)
{
    static int (*real)(int, const char *, int, const char *, unsigned int);
    if (!real)
        real = (int (*)(int, const char *, int, const char *, unsigned int))dlsym(RTLD_NEXT,
                                                                               "renameat2");
    rename_hook(to, 0);
    int rc = real(olddirfd, from, newdirfd, to, flags);
    if (rc == 0)
        rename_hook(to, 1);
    return rc;
}
