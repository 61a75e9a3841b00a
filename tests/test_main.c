/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_main.c - runs every registered TEST, or those whose name starts with
 * one of the arguments. Exits non-zero if any failed.
 */
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "intent/ic.h"
#include "test.h"

#define MAX_TESTS 4096
static struct test_case tests[MAX_TESTS];
static int n_tests;
static int cur_failed, cur_skipped;
static char cur_msg[2048];
static char tmp_root[256];
static char cur_tmp[512];

void test_register(const char *name, void (*fn)(void))
{
    IC_ASSERT(n_tests < MAX_TESTS);
    tests[n_tests].name = name;
    tests[n_tests].fn = fn;
    n_tests++;
}

void test_fail(const char *file, int line, const char *fmt, ...)
{
    if (cur_failed)
        return;
    cur_failed = 1;
    int n = snprintf(cur_msg, sizeof cur_msg, "%s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur_msg + n, sizeof cur_msg - (size_t)n, fmt, ap);
    va_end(ap);
}

void test_skip(const char *fmt, ...)
{
    cur_skipped = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cur_msg, sizeof cur_msg, fmt, ap);
    va_end(ap);
}

int test_failed(void)
{
    return cur_failed;
}

const char *test_golden_dir(void)
{
    const char *e = getenv("IC_TEST_GOLDEN");
    return e ? e : "tests/golden";
}

const char *test_cli_path(void)
{
    const char *e = getenv("IC_TEST_CLI");
    return e ? e : "build/intent";
}

const char *test_tmpdir(void)
{
    if (!cur_tmp[0]) {
        if (!tmp_root[0]) {
            snprintf(tmp_root, sizeof tmp_root, "/tmp/intent-test-XXXXXX");
            IC_ASSERT(mkdtemp(tmp_root) != NULL);
        }
        static int k;
        snprintf(cur_tmp, sizeof cur_tmp, "%s/t%d", tmp_root, k++);
        IC_ASSERT(ic_mkdirs(cur_tmp, NULL) == IC_OK);
    }
    return cur_tmp;
}

int test_spawn_server(const char *const *argv, int *pid_out, int *port, int *stdin_fd)
{
    int in[2] = {-1, -1}, out[2];
    *pid_out = 0;
    *port = 0;
    if (access(argv[0], X_OK) != 0 || pipe2(out, O_CLOEXEC) != 0)
        return -1;
    if (stdin_fd && pipe2(in, O_CLOEXEC) != 0) {
        close(out[0]);
        close(out[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        signal(SIGTERM, SIG_DFL);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (stdin_fd)
            dup2(in[0], 0);
        dup2(out[1], 1);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    if (stdin_fd) {
        close(in[0]);
        *stdin_fd = in[1];
    }
    char buf[128] = {0};
    size_t got = 0;
    while (got < sizeof buf - 1 && !strchr(buf, '\n')) {
        struct pollfd p = {out[0], POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0)
            break;
        ssize_t r = read(out[0], buf + got, sizeof buf - 1 - got);
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(out[0]);
    if (sscanf(buf, "PORT %d", port) != 1) {
        test_stop_server(pid, stdin_fd ? *stdin_fd : -1);
        if (stdin_fd)
            *stdin_fd = -1;
        return -1;
    }
    *pid_out = pid;
    return 0;
}

/* Waits up to 2 s for pid to exit; 1 when it did. */
static int wait_exit(int pid)
{
    for (int i = 0; i < 200; i++) {
        if (waitpid(pid, NULL, WNOHANG) == pid)
            return 1;
        struct timespec ts = {0, 10 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return 0;
}

void test_stop_server(int pid, int stdin_fd)
{
    if (stdin_fd >= 0)
        close(stdin_fd); /* a stub watching stdin finishes its log and exits */
    if (pid <= 0)
        return;
    if (stdin_fd >= 0 && wait_exit(pid))
        return;
    kill(pid, SIGTERM);
    if (wait_exit(pid))
        return;
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

static int cmp_tests(const void *a, const void *b)
{
    return strcmp(((const struct test_case *)a)->name, ((const struct test_case *)b)->name);
}

int main(int argc, char **argv)
{
    qsort(tests, (size_t)n_tests, sizeof tests[0], cmp_tests);
    int passed = 0, failed = 0, skipped = 0;
    for (int i = 0; i < n_tests; i++) {
        int want = argc < 2;
        for (int a = 1; a < argc && !want; a++)
            want = strncmp(tests[i].name, argv[a], strlen(argv[a])) == 0;
        if (!want)
            continue;
        cur_failed = cur_skipped = 0;
        cur_msg[0] = 0;
        cur_tmp[0] = 0;
        tests[i].fn();
        if (cur_failed) {
            printf("FAIL %s: %s\n", tests[i].name, cur_msg);
            failed++;
        } else if (cur_skipped) {
            printf("skip %s: %s\n", tests[i].name, cur_msg);
            skipped++;
        } else {
            printf("ok %s\n", tests[i].name);
            passed++;
        }
        fflush(stdout);
    }
    if (tmp_root[0] && !getenv("IC_TEST_KEEP"))
        ic_rmtree(tmp_root);
    fprintf(stderr, "unit: %d passed, %d failed, %d skipped\n", passed, failed, skipped);
    return failed ? 1 : 0;
}
