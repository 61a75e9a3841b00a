/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_fuzz_regress.c - replays every committed fuzz input through the same
 * entry points the libFuzzer targets use (tests/fuzz/fuzz_<x>.c, included
 * here with IC_FUZZ_NO_MAIN so their ic_fuzz_<x> functions link into the
 * test binary): every file of tests/fuzz/regress/<x>/ (inputs that once crashed) and
 * of tests/fuzz/corpus/<x>/ (the seeds). Under the ASan build this is the
 * regression check for every crash the fuzzers found; without libFuzzer it
 * still exercises each parser on its seeds.
 *
 * Each input runs in a forked child (with a 60 s alarm), so one crashing
 * input is reported by name and the rest of the suite goes on; under ASan the
 * child also runs LeakSanitizer, so a leak on that input fails too.
 * A directory under regress/ or corpus/ with no matching target compiled in
 * is a failure (an input nobody replays).
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "intent/ic.h"
#include "test.h"

#define IC_FUZZ_NO_MAIN 1

/* Every target that exists in the tree is compiled in. */
#if __has_include("../fuzz/fuzz_config.c")
#include "../fuzz/fuzz_config.c"
#define HAVE_FUZZ_CONFIG 1
#endif
#if __has_include("../fuzz/fuzz_hfconfig.c")
#include "../fuzz/fuzz_hfconfig.c"
#define HAVE_FUZZ_HFCONFIG 1
#endif
#if __has_include("../fuzz/fuzz_vocab.c")
#include "../fuzz/fuzz_vocab.c"
#define HAVE_FUZZ_VOCAB 1
#endif
#if __has_include("../fuzz/fuzz_dataset.c")
#include "../fuzz/fuzz_dataset.c"
#define HAVE_FUZZ_DATASET 1
#endif
#if __has_include("../fuzz/fuzz_tokenizer.c")
#include "../fuzz/fuzz_tokenizer.c"
#define HAVE_FUZZ_TOKENIZER 1
#endif
#if __has_include("../fuzz/fuzz_safetensors.c")
#include "../fuzz/fuzz_safetensors.c"
#define HAVE_FUZZ_SAFETENSORS 1
#endif
#if __has_include("../fuzz/fuzz_torch.c")
#include "../fuzz/fuzz_torch.c"
#define HAVE_FUZZ_TORCH 1
#endif
#if __has_include("../fuzz/fuzz_zip.c")
#include "../fuzz/fuzz_zip.c"
#define HAVE_FUZZ_ZIP 1
#endif
#if __has_include("../fuzz/fuzz_pickle.c")
#include "../fuzz/fuzz_pickle.c"
#define HAVE_FUZZ_PICKLE 1
#endif
#if __has_include("../fuzz/fuzz_model.c")
#include "../fuzz/fuzz_model.c"
#define HAVE_FUZZ_MODEL 1
#endif
#if __has_include("../fuzz/fuzz_serve.c")
#include "../fuzz/fuzz_serve.c"
#define HAVE_FUZZ_SERVE 1
#endif
#if __has_include("../fuzz/fuzz_routes.c")
#include "../fuzz/fuzz_routes.c"
#define HAVE_FUZZ_ROUTES 1
#endif
#if __has_include("../fuzz/fuzz_http.c")
#include "../fuzz/fuzz_http.c"
#define HAVE_FUZZ_HTTP 1
#endif
#if __has_include("../fuzz/fuzz_predict.c")
#include "../fuzz/fuzz_predict.c"
#define HAVE_FUZZ_PREDICT 1
#endif
#if __has_include("../fuzz/fuzz_hub.c")
#include "../fuzz/fuzz_hub.c"
#define HAVE_FUZZ_HUB 1
#endif
#if __has_include("../fuzz/fuzz_lines.c")
#include "../fuzz/fuzz_lines.c"
#define HAVE_FUZZ_LINES 1
#endif
#if __has_include("../fuzz/fuzz_spm.c")
#include "../fuzz/fuzz_spm.c"
#define HAVE_FUZZ_SPM 1
#endif
#if __has_include("../fuzz/fuzz_tokjson.c")
#include "../fuzz/fuzz_tokjson.c"
#define HAVE_FUZZ_TOKJSON 1
#endif
#if __has_include("../fuzz/fuzz_track.c")
#include "../fuzz/fuzz_track.c"
#define HAVE_FUZZ_TRACK 1
#endif

struct fuzz_entry {
    const char *name;
    int (*fn)(const uint8_t *, size_t);
};

static const struct fuzz_entry fuzz_entries[] = {
#ifdef HAVE_FUZZ_CONFIG
    {"config", ic_fuzz_config},
#endif
#ifdef HAVE_FUZZ_HFCONFIG
    {"hfconfig", ic_fuzz_hfconfig},
#endif
#ifdef HAVE_FUZZ_VOCAB
    {"vocab", ic_fuzz_vocab},
#endif
#ifdef HAVE_FUZZ_DATASET
    {"dataset", ic_fuzz_dataset},
#endif
#ifdef HAVE_FUZZ_TOKENIZER
    {"tokenizer", ic_fuzz_tokenizer},
#endif
#ifdef HAVE_FUZZ_SAFETENSORS
    {"safetensors", ic_fuzz_safetensors},
#endif
#ifdef HAVE_FUZZ_TORCH
    {"torch", ic_fuzz_torch},
#endif
#ifdef HAVE_FUZZ_ZIP
    {"zip", ic_fuzz_zip},
#endif
#ifdef HAVE_FUZZ_PICKLE
    {"pickle", ic_fuzz_pickle},
#endif
#ifdef HAVE_FUZZ_MODEL
    {"model", ic_fuzz_model},
#endif
#ifdef HAVE_FUZZ_SERVE
    {"serve", ic_fuzz_serve},
#endif
#ifdef HAVE_FUZZ_ROUTES
    {"routes", ic_fuzz_routes},
#endif
#ifdef HAVE_FUZZ_HTTP
    {"http", ic_fuzz_http},
#endif
#ifdef HAVE_FUZZ_PREDICT
    {"predict", ic_fuzz_predict},
#endif
#ifdef HAVE_FUZZ_HUB
    {"hub", ic_fuzz_hub},
#endif
#ifdef HAVE_FUZZ_TRACK
    {"track", ic_fuzz_track},
#endif
#ifdef HAVE_FUZZ_LINES
    {"lines", ic_fuzz_lines},
#endif
#ifdef HAVE_FUZZ_SPM
    {"spm", ic_fuzz_spm},
#endif
#ifdef HAVE_FUZZ_TOKJSON
    {"tokjson", ic_fuzz_tokjson},
#endif
    {NULL, NULL},
};

static const struct fuzz_entry *fuzz_find(const char *name)
{
    for (const struct fuzz_entry *e = fuzz_entries; e->name; e++)
        if (strcmp(e->name, name) == 0)
            return e;
    return NULL;
}

/* LeakSanitizer's check, present only in sanitizer builds. */
int __lsan_do_recoverable_leak_check(void) __attribute__((weak));
/* Present only in ASan / TSan builds (whose shadow memory rules out an
 * address-space limit). */
void __asan_init(void) __attribute__((weak));
void __tsan_init(void) __attribute__((weak));

/* What the parent holds while a child runs, kept in globals so that the
 * child's LeakSanitizer counts it as reachable. */
static const void *volatile replay_live[6];

/* Runs fn on data in a child process. 0 if it returned cleanly, else a
 * description of how it ended in why. */
static int run_isolated(const struct fuzz_entry *e, const uint8_t *data, size_t len, char *why,
                        size_t whylen)
{
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, whylen, "fork failed");
        return -1;
    }
    if (pid == 0) {
        /* the parent's buffers stay reachable for LeakSanitizer */
        replay_live[0] = data;
        alarm(60);
        if (!__asan_init && !__tsan_init) {
            /* an input that makes a parser ask for absurd memory fails
             * here instead of swapping the machine */
            struct rlimit rl = {(rlim_t)8 << 30, (rlim_t)8 << 30};
            setrlimit(RLIMIT_AS, &rl);
        }
        e->fn(data, len);
        int leaks = 0;
        if (__lsan_do_recoverable_leak_check && getenv("IC_FUZZ_NO_LEAK_CHECK") == NULL)
            leaks = __lsan_do_recoverable_leak_check();
        _exit(leaks ? 3 : 0);
    }
    int st = 0;
    while (waitpid(pid, &st, 0) < 0) {
    }
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    if (WIFSIGNALED(st))
        snprintf(why, whylen, "killed by signal %d%s", WTERMSIG(st),
                 WTERMSIG(st) == SIGALRM ? " (hang: over 60 s)" : "");
    else if (WEXITSTATUS(st) == 3)
        snprintf(why, whylen, "memory leaked (LeakSanitizer report above)");
    else
        snprintf(why, whylen, "exit status %d (sanitizer report above)", WEXITSTATUS(st));
    return -1;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of the entries of dir (no dot files); NULL if dir is absent. */
static char **list_dir(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    *n = 0;
    if (!d)
        return NULL;
    char **v = NULL;
    size_t cap = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if (*n == cap) {
            cap = cap ? 2 * cap : 16;
            v = ic_xrealloc(v, cap * sizeof *v);
        }
        v[(*n)++] = ic_xstrdup(de->d_name);
    }
    closedir(d);
    if (*n)
        qsort(v, *n, sizeof *v, name_cmp);
    return v;
}

static void free_list(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ic_free(v[i]);
    ic_free(v);
}

/* Replays every file of root/<target>/ for each target directory in root.
 * Returns the number of files replayed, or -1 after a test failure (every
 * failing input is named in the message). */
static long replay_tree(const char *root)
{
    size_t nt = 0;
    char **targets = list_dir(root, &nt);
    long count = 0;
    char bad[900];
    int nbad = 0;
    bad[0] = 0;
    for (size_t i = 0; i < nt; i++) {
        replay_live[1] = targets;
        char *tdir = ic_path_join(root, targets[i]);
        replay_live[2] = tdir;
        if (!ic_is_dir(tdir)) {
            ic_free(tdir);
            continue;
        }
        const struct fuzz_entry *e = fuzz_find(targets[i]);
        if (!e) {
            test_fail(__FILE__, __LINE__, "%s: no fuzz target tests/fuzz/fuzz_%s.c compiled in",
                      tdir, targets[i]);
            ic_free(tdir);
            free_list(targets, nt);
            return -1;
        }
        size_t nf = 0;
        char **files = list_dir(tdir, &nf);
        for (size_t j = 0; j < nf; j++) {
            replay_live[3] = files;
            char *path = ic_path_join(tdir, files[j]);
            replay_live[4] = path;
            char *text = NULL;
            size_t len = 0;
            struct ic_err err;
            if (ic_is_dir(path)) {
                ic_free(path);
                continue;
            }
            if (ic_read_file(path, (size_t)64 << 20, &text, &len, &err) != IC_OK) {
                test_fail(__FILE__, __LINE__, "%s", err.msg);
                ic_free(path);
                free_list(files, nf);
                ic_free(tdir);
                free_list(targets, nt);
                return -1;
            }
            /* an exact-size copy, as libFuzzer passes it (no NUL after the
             * end), so an over-read shows under ASan */
            uint8_t *copy = malloc(len ? len : 1);
            if (len)
                memcpy(copy, text, len);
            ic_free(text);
            if (getenv("IC_FUZZ_VERBOSE"))
                fprintf(stderr, "replay %s\n", path);
            char why[200];
            if (run_isolated(e, copy, len, why, sizeof why) != 0) {
                fprintf(stderr, "fuzz replay: %s: %s\n", path, why);
                if (nbad++ < 3) {
                    size_t bl = strlen(bad);
                    snprintf(bad + bl, sizeof bad - bl, "%s%s: %s", bl ? "; " : "", path, why);
                }
            }
            free(copy);
            ic_free(path);
            count++;
        }
        free_list(files, nf);
        ic_free(tdir);
    }
    free_list(targets, nt);
    if (nbad) {
        test_fail(__FILE__, __LINE__, "%d input(s) fail: %s", nbad, bad);
        return -1;
    }
    return count;
}

static void fuzz_setup(void)
{
    static char dir[1024];
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "%s/fuzz", test_tmpdir());
        setenv("IC_FUZZ_TMPDIR", dir, 1);
    }
}

/* Inputs that once crashed a target: each must now pass. */
TEST(fuzz_regress_replay)
{
    fuzz_setup();
    long n = replay_tree("tests/fuzz/regress");
    ASSERT(n >= 0);
}

/* The committed seeds: each target must accept its own corpus without a
 * crash or a broken invariant. */
TEST(fuzz_regress_corpus)
{
    fuzz_setup();
    long n = replay_tree("tests/fuzz/corpus");
    ASSERT(n >= 0);
    ASSERT(fuzz_find("dataset") != NULL && fuzz_find("config") != NULL);
    ASSERT(n > 0);
}
