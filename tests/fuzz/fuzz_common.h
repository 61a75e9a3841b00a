/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_common.h - helpers for the libFuzzer targets in tests/fuzz/.
 *
 * Convention: every target tests/fuzz/fuzz_<x>.c defines
 *     int ic_fuzz_<x>(const uint8_t *data, size_t size);
 * (the whole check of one input; returns 0) and, unless IC_FUZZ_NO_MAIN is
 * defined, LLVMFuzzerTestOneInput calling it. tests/unit/test_fuzz_regress.c
 * includes the targets with IC_FUZZ_NO_MAIN to replay tests/fuzz/corpus/<x>/
 * and tests/fuzz/regress/<x>/ in the ordinary test binary (also under ASan).
 *
 * A broken invariant (a parser accepted input and then handed back something
 * inconsistent) calls ic_fuzz_fail, which prints the reason and aborts, so
 * libFuzzer keeps the input as a crash.
 */
#ifndef IC_FUZZ_COMMON_H
#define IC_FUZZ_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "intent/ic.h"

#define IC_FUZZ_CHECK(cond)                                                            \
    do {                                                                               \
        if (!(cond))                                                                   \
            ic_fuzz_fail(__FILE__, __LINE__, #cond);                                   \
    } while (0)

static inline void ic_fuzz_fail(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
    abort();
}

/* Silences ic_log below errors (once). Only in the fuzzer binaries: with
 * IC_FUZZ_NO_MAIN (the unit-test replayer) it does nothing, so the test
 * binary keeps its own log settings even if an entry function calls it. */
#ifdef IC_FUZZ_NO_MAIN
static inline void ic_fuzz_quiet(void) {}
#else
static inline void ic_fuzz_quiet(void)
{
    static int done;
    if (!done) {
        ic_log_set_level(IC_LOG_ERROR);
        done = 1;
    }
}
#endif

/* A scratch directory private to this process (memory-backed when /dev/shm
 * is writable), created on first use. Returned string is static. */
static inline const char *ic_fuzz_scratch(void)
{
    static char dir[256];
    if (!dir[0]) {
        const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
        const char *t = getenv("IC_FUZZ_TMPDIR");
        if (t && *t)
            base = t;
        snprintf(dir, sizeof dir, "%s/ic-fuzz-%ld", base, (long)getpid());
        struct ic_err err;
        if (ic_mkdirs(dir, &err) != IC_OK) {
            fprintf(stderr, "fuzz: %s\n", err.msg);
            abort();
        }
    }
    return dir;
}

/* Writes data to <scratch>/<name> (name may hold one sub-directory, created
 * as needed) and returns the path (static buffer, valid until the next call). */
static inline const char *ic_fuzz_put(const char *name, const void *data, size_t size)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", ic_fuzz_scratch(), name);
    char *slash = strrchr(path, '/');
    if (slash && slash > path + strlen(ic_fuzz_scratch())) {
        *slash = 0;
        struct ic_err err;
        if (ic_mkdirs(path, &err) != IC_OK) {
            fprintf(stderr, "fuzz: %s\n", err.msg);
            abort();
        }
        *slash = '/';
    }
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

/* Splits data at the first occurrence of sep: [0, *n1) and the rest after
 * sep (*rest, *n2). Without sep, everything is the first part. */
static inline void ic_fuzz_split(const uint8_t *data, size_t size, const char *sep,
                                 size_t *n1, const uint8_t **rest, size_t *n2)
{
    size_t sl = strlen(sep);
    for (size_t i = 0; i + sl <= size; i++) {
        if (memcmp(data + i, sep, sl) == 0) {
            *n1 = i;
            *rest = data + i + sl;
            *n2 = size - i - sl;
            return;
        }
    }
    *n1 = size;
    *rest = data + size;
    *n2 = 0;
}

#endif
