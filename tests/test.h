/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test.h - the unit-test runner's API. A test is a function declared with
 * TEST(name); it registers itself at start-up (no central list to edit).
 * ASSERT_* print both operands with file and line, mark the test failed and
 * return from it. SKIP("why") marks it skipped.
 *
 * Output protocol shared with tests/run.sh: one line per test,
 *   "ok <name>", "FAIL <name>: <why>" or "skip <name>: <why>".
 */
#ifndef IC_TEST_H
#define IC_TEST_H

#include <math.h>
#include <stdio.h>
#include <string.h>

struct test_case {
    const char *name;
    void (*fn)(void);
};
void test_register(const char *name, void (*fn)(void));
void test_fail(const char *file, int line, const char *fmt, ...);
void test_skip(const char *fmt, ...);
int test_failed(void);
/* Directory of committed fixtures (tests/golden), from $IC_TEST_GOLDEN or default. */
const char *test_golden_dir(void);
/* A fresh scratch directory for this test (removed at exit unless IC_TEST_KEEP). */
const char *test_tmpdir(void);
/* Path to the built CLI binary (for tests that run it). */
const char *test_cli_path(void);

/* Starts a helper server for a test (the MLflow and Hub stubs): execs argv
 * (argv[0] is the program's path, NULL-terminated) with a clean signal state,
 * dying with the test process, and reads its first stdout line "PORT <n>"
 * (10 s at most). With stdin_fd, *stdin_fd receives the write end of a pipe to
 * its stdin (a stub that watches stdin exits when it closes). Returns 0 and
 * fills *pid and *port, or -1 when it cannot start or announce its port. */
int test_spawn_server(const char *const *argv, int *pid, int *port, int *stdin_fd);
/* Stops it: closes stdin_fd (when >= 0), sends SIGTERM, waits up to 2 s, then
 * SIGKILL. */
void test_stop_server(int pid, int stdin_fd);

#define TEST(name)                                                   \
    static void test_##name(void);                                  \
    __attribute__((constructor)) static void test_reg_##name(void)  \
    {                                                                \
        test_register(#name, test_##name);                           \
    }                                                                \
    static void test_##name(void)

#define FAIL(...)                                 \
    do {                                          \
        test_fail(__FILE__, __LINE__, __VA_ARGS__); \
        return;                                   \
    } while (0)

#define SKIP(...)                \
    do {                         \
        test_skip(__VA_ARGS__);  \
        return;                  \
    } while (0)

#define ASSERT(x)                                      \
    do {                                               \
        if (!(x))                                      \
            FAIL("assertion failed: %s", #x);          \
    } while (0)

#define ASSERT_EQ(a, b)                                                             \
    do {                                                                            \
        long long a_ = (long long)(a), b_ = (long long)(b);                         \
        if (a_ != b_)                                                               \
            FAIL("%s == %s: %lld != %lld", #a, #b, a_, b_);                         \
    } while (0)

#define ASSERT_OK(x)                                                                \
    do {                                                                            \
        int rc_ = (int)(x);                                                         \
        if (rc_ != 0)                                                               \
            FAIL("%s returned %d (%s)", #x, rc_, ic_status_str(rc_));               \
    } while (0)

/* Like ASSERT_OK but prints an ic_err message too. */
#define ASSERT_OK_ERR(x, err)                                                       \
    do {                                                                            \
        int rc_ = (int)(x);                                                         \
        if (rc_ != 0)                                                               \
            FAIL("%s returned %d: %s", #x, rc_, (err).msg);                         \
    } while (0)

#define ASSERT_NEAR(a, b, tol)                                                      \
    do {                                                                            \
        double a_ = (double)(a), b_ = (double)(b);                                  \
        if (!(fabs(a_ - b_) <= (tol)))                                              \
            FAIL("%s ~= %s: %.9g vs %.9g (tol %g)", #a, #b, a_, b_, (double)(tol)); \
    } while (0)

#define ASSERT_STR_EQ(a, b)                                                         \
    do {                                                                            \
        const char *a_ = (a), *b_ = (b);                                            \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                      \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",          \
                 b_ ? b_ : "(null)");                                               \
    } while (0)

/* Substring check, handy for error messages. */
#define ASSERT_CONTAINS(hay, needle)                                                \
    do {                                                                            \
        const char *h_ = (hay), *n_ = (needle);                                     \
        if (!h_ || !strstr(h_, n_))                                                 \
            FAIL("\"%s\" does not contain \"%s\"", h_ ? h_ : "(null)", n_);         \
    } while (0)

#endif
