/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_hub.c - model resolution against tests/tools/hub_stub.py, a local
 * stand-in for the Hugging Face Hub on 127.0.0.1 (an ephemeral port). The
 * stub logs every request, so the tests check what went over the wire as
 * well as the cache the library leaves behind.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hub/hub_int.h"
#include "intent/hub.h"
#include "intent/ic.h"
#include "test.h"

#define PY "/usr/bin/python3"
#define COMMIT "1111111111111111111111111111111111111111"
#define REPO "test-org/tiny-bert"
#define FOLDER "models--test-org--tiny-bert"

/* ------------------------------------------------------------------------
 * The stub process. */

struct stub {
    pid_t pid;
    int in_fd; /* its stdin: closing it stops the stub */
    int port;
    char url[64];
    char log[512];
};

/* The running stub's process, kept outside the test's stack frame so that
 * the next start stops it when a test bailed out before stub_stop. */
static pid_t live_pid;
static int live_fd = -1;

static void stop_live(void)
{
    if (live_pid <= 0)
        return;
    test_stop_server(live_pid, live_fd); /* the stub exits when its stdin closes */
    live_pid = 0;
    live_fd = -1;
}

static void stub_stop(struct stub *s)
{
    if (s->pid > 0 && s->pid == live_pid)
        stop_live();
    s->pid = 0;
}

/* Starts the stub serving `dir`; extra: NULL-terminated extra arguments.
 * Returns 0, or -1 when python3 is missing (the caller skips). */
static int stub_start(struct stub *s, const char *dir, const char *const *extra)
{
    stop_live();
    memset(s, 0, sizeof *s);
    if (access(PY, X_OK) != 0)
        return -1;
    snprintf(s->log, sizeof s->log, "%s/stub-%d.log", test_tmpdir(), (int)getpid());
    unlink(s->log);
    const char *argv[32];
    int n = 0;
    argv[n++] = PY;
    argv[n++] = "tests/tools/hub_stub.py";
    argv[n++] = "--dir";
    argv[n++] = dir;
    argv[n++] = "--log";
    argv[n++] = s->log;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int pid, fd = -1;
    if (test_spawn_server(argv, &pid, &s->port, &fd) != 0)
        return -2;
    s->pid = pid;
    s->in_fd = fd;
    live_pid = pid;
    live_fd = fd;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%d", s->port);
    return 0;
}

#define START_STUB(s, dir, ...)                                                     \
    do {                                                                            \
        const char *const extra_[] = {__VA_ARGS__, NULL};                                 \
        int src_ = stub_start((s), (dir), extra_);                                  \
        if (src_ == -1)                                                             \
            SKIP("%s not found", PY);                                               \
        ASSERT(src_ == 0);                                                          \
    } while (0)

/* The stub's log: one JSON object per line. */
static char *stub_log(const struct stub *s)
{
    char *text = NULL;
    size_t len;
    if (ic_read_file(s->log, 1 << 20, &text, &len, NULL) != IC_OK)
        return ic_xstrdup("");
    return text;
}

/* Number of log lines containing every one of the given fragments. */
static int log_count(const struct stub *s, const char *a, const char *b)
{
    char *text = stub_log(s);
    int n = 0;
    for (char *line = text; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        if (strstr(line, a) && (!b || strstr(line, b)))
            n++;
        line = nl ? nl + 1 : NULL;
    }
    ic_free(text);
    return n;
}

static int requests(const struct stub *s)
{
    return log_count(s, "\"method\"", NULL);
}

/* ------------------------------------------------------------------------
 * Fixtures. */

static void write_file(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = ic_path_join(dir, name);
    IC_ASSERT(ic_write_file_atomic(p, data, len, NULL) == IC_OK);
    ic_free(p);
}

#define WEIGHTS_LEN 200000

static unsigned char *weights_bytes(void)
{
    unsigned char *w = ic_xmalloc(WEIGHTS_LEN);
    struct ic_rng r;
    ic_rng_seed(&r, 42);
    for (size_t i = 0; i < WEIGHTS_LEN; i++)
        w[i] = (unsigned char)ic_rng_u64(&r);
    return w;
}

static const char CONFIG[] = "{\"model_type\": \"bert\", \"hidden_size\": 8}\n";
static const char VOCAB[] = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nhola\n";
static const char TOKCFG[] = "{\"do_lower_case\": true}\n";

/* A repository directory for the stub; `weights` is the weights file name. */
static char *make_repo(const char *name, const char *weights)
{
    char *dir = ic_path_join(test_tmpdir(), name);
    IC_ASSERT(ic_mkdirs(dir, NULL) == IC_OK);
    write_file(dir, "config.json", CONFIG, strlen(CONFIG));
    write_file(dir, "vocab.txt", VOCAB, strlen(VOCAB));
    write_file(dir, "tokenizer_config.json", TOKCFG, strlen(TOKCFG));
    unsigned char *w = weights_bytes();
    write_file(dir, weights, w, WEIGHTS_LEN);
    ic_free(w);
    return dir;
}

/* The environment must not leak into the tests (a real token, offline mode),
 * and the tests must not leak theirs into other modules' tests: clean_env()
 * saves what it changes the first time, restore_env() puts it back. */
static const char *const env_vars[] = {
    "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH", "HF_ENDPOINT", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE",
    "HF_HUB_ETAG_TIMEOUT", "HF_HUB_DOWNLOAD_TIMEOUT", "HF_HOME", "XDG_CACHE_HOME"};
#define N_ENV_VARS (sizeof env_vars / sizeof env_vars[0])
static char *env_saved[N_ENV_VARS];
static int env_is_saved;

static void clean_env(void)
{
    for (size_t i = 0; i < N_ENV_VARS; i++) {
        if (!env_is_saved) {
            const char *v = getenv(env_vars[i]);
            env_saved[i] = v ? ic_xstrdup(v) : NULL;
        }
        unsetenv(env_vars[i]);
    }
    env_is_saved = 1;
    char *home = ic_path_join(test_tmpdir(), "hf-home");
    setenv("HF_HOME", home, 1);
    ic_free(home);
}

static void restore_env(void)
{
    for (size_t i = 0; i < N_ENV_VARS && env_is_saved; i++) {
        if (env_saved[i])
            setenv(env_vars[i], env_saved[i], 1);
        else
            unsetenv(env_vars[i]);
        ic_free(env_saved[i]);
        env_saved[i] = NULL;
    }
    env_is_saved = 0;
}

static void opts_for(struct ic_hub_opts *o, const struct stub *s, const char *cache)
{
    ic_hub_default_opts(o);
    o->endpoint = s ? s->url : "http://127.0.0.1:1";
    o->cache_dir = cache;
    o->offline = 0;
    o->timeout_s = 5;
}

/* Content of dir/name (following symlinks) equals data? */
static int same_content(const char *dir, const char *name, const void *data, size_t len)
{
    char *p = ic_path_join(dir, name);
    char *text = NULL;
    size_t n = 0;
    int ok = ic_read_file(p, 1 << 24, &text, &n, NULL) == IC_OK && n == len &&
             memcmp(text, data, len) == 0;
    ic_free(text);
    ic_free(p);
    return ok;
}

/* Every entry of a snapshot is a symlink to ../../blobs/<name> of a present
 * blob, and nothing else is there (no temporary, no half-written file). */
static int snapshot_clean(const char *snap, int *entries)
{
    DIR *d = opendir(snap);
    if (!d)
        return 0;
    int ok = 1;
    *entries = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2])))
            continue;
        (*entries)++;
        char *p = ic_path_join(snap, e->d_name);
        char target[512];
        ssize_t n = readlink(p, target, sizeof target - 1);
        struct stat st;
        if (n <= 0 || stat(p, &st) != 0 || !S_ISREG(st.st_mode))
            ok = 0;
        else if (target[n] = 0, strncmp(target, "../../blobs/", 12) != 0 || strchr(target + 12, '/'))
            ok = 0;
        ic_free(p);
    }
    closedir(d);
    return ok;
}

static int count_suffix(const char *dir, const char *suffix)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int n = 0;
    struct dirent *e;
    size_t ls = strlen(suffix);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (e->d_name[0] != '.' && l >= ls && strcmp(e->d_name + l - ls, suffix) == 0)
            n++;
    }
    closedir(d);
    return n;
}

/* ------------------------------------------------------------------------
 * Tests. */

TEST(hub_local_directory_as_is)
{
    clean_env();
    char *dir = NULL;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_hub_resolve(test_tmpdir(), NULL, &dir, &err), err);
    ASSERT(strcmp(dir, test_tmpdir()) == 0);
    ic_free(dir);
    /* a path that does not exist is not sent to the Hub */
    ASSERT_EQ(ic_hub_resolve("./no/such/dir", NULL, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(dir == NULL);
    ASSERT(strstr(err.msg, "./no/such/dir") != NULL);
    /* a file is not a model directory */
    char *f = ic_path_join(test_tmpdir(), "file.txt");
    IC_ASSERT(ic_write_file_atomic(f, "x", 1, NULL) == IC_OK);
    ASSERT_EQ(ic_hub_resolve(f, NULL, &dir, &err), IC_ERR_INVAL);
    ic_free(f);
    /* ids that would escape the cache are refused */
    ASSERT_EQ(ic_hub_resolve("a/b/c", NULL, &dir, &err), IC_ERR_NOTFOUND);
    struct ic_hub_opts o;
    ic_hub_default_opts(&o);
    o.revision = "../../etc";
    o.offline = 1;
    ASSERT_EQ(ic_hub_resolve("org/name", &o, &dir, &err), IC_ERR_INVAL);
    ASSERT(strstr(err.msg, "revision") != NULL);
    restore_env();
}

TEST(hub_names_and_env)
{
    clean_env();
    ASSERT(hub_valid_repo_id("prajjwal1/bert-tiny"));
    ASSERT(hub_valid_repo_id("bert-base-uncased"));
    ASSERT(hub_valid_repo_id("dccuchile/bert-base-spanish-wwm-cased"));
    ASSERT(!hub_valid_repo_id("a/b/c"));
    ASSERT(!hub_valid_repo_id("../x"));
    ASSERT(!hub_valid_repo_id("a--b/c"));
    ASSERT(!hub_valid_repo_id("org/"));
    ASSERT(!hub_valid_repo_id("org/na me"));
    ASSERT(hub_valid_revision("main"));
    ASSERT(hub_valid_revision("refs/pr/1"));
    ASSERT(hub_valid_revision(COMMIT));
    ASSERT(!hub_valid_revision("../main"));
    ASSERT(!hub_valid_revision("a/.hidden"));
    ASSERT(!hub_valid_revision("/abs"));
    ASSERT(!hub_valid_name("../x"));
    ASSERT(!hub_valid_name(".."));
    ASSERT(!hub_valid_name("a/b"));
    char *e = hub_normalize_etag("W/\"abc123\"");
    ASSERT(strcmp(e, "abc123") == 0);
    ic_free(e);
    e = hub_normalize_etag("\"def\"");
    ASSERT(strcmp(e, "def") == 0);
    ic_free(e);

    setenv("HF_HUB_OFFLINE", "yes", 1);
    ASSERT(hub_env_true("HF_HUB_OFFLINE"));
    setenv("HF_HUB_OFFLINE", "0", 1);
    ASSERT(!hub_env_true("HF_HUB_OFFLINE"));
    unsetenv("HF_HUB_OFFLINE");

    /* token: option > HF_TOKEN > HUGGING_FACE_HUB_TOKEN > $HF_TOKEN_PATH > $HF_HOME/token */
    ASSERT(hub_token(NULL) == NULL);
    char *home = ic_path_join(test_tmpdir(), "hf-home");
    IC_ASSERT(ic_mkdirs(home, NULL) == IC_OK);
    write_file(home, "token", "  hf_fromhome \n", 15);
    char *t = hub_token(NULL);
    ASSERT(t && strcmp(t, "hf_fromhome") == 0);
    ic_free(t);
    char *tp = ic_path_join(test_tmpdir(), "tokfile");
    IC_ASSERT(ic_write_file_atomic(tp, "hf_frompath\n", 12, NULL) == IC_OK);
    setenv("HF_TOKEN_PATH", tp, 1);
    t = hub_token(NULL);
    ASSERT(t && strcmp(t, "hf_frompath") == 0);
    ic_free(t);
    IC_ASSERT(ic_write_file_atomic(tp, "hf_cut\0rest\n", 12, NULL) == IC_OK);
    t = hub_token(NULL);
    ASSERT(t == NULL); /* a NUL would cut the token short: the file is ignored */
    IC_ASSERT(ic_write_file_atomic(tp, "hf_frompath\n", 12, NULL) == IC_OK);
    setenv("HUGGING_FACE_HUB_TOKEN", "hf_legacy", 1);
    t = hub_token(NULL);
    ASSERT(t && strcmp(t, "hf_legacy") == 0);
    ic_free(t);
    setenv("HF_TOKEN", "hf_env", 1);
    t = hub_token(NULL);
    ASSERT(t && strcmp(t, "hf_env") == 0);
    ic_free(t);
    setenv("HF_TOKEN", "bad\r\nX-Injected: 1", 1);
    t = hub_token(NULL);
    ASSERT(t == NULL); /* would split the header */
    struct ic_hub_opts o;
    ic_hub_default_opts(&o);
    o.token = "hf_opt";
    t = hub_token(&o);
    ASSERT(t && strcmp(t, "hf_opt") == 0);
    ic_free(t);

    /* cache directory: option > HF_HUB_CACHE > HUGGINGFACE_HUB_CACHE > HF_HOME/hub */
    char *c = ic_hub_cache_dir(NULL);
    char *want = ic_path_join(home, "hub");
    ASSERT(strcmp(c, want) == 0);
    ic_free(c);
    ic_free(want);
    setenv("HUGGINGFACE_HUB_CACHE", "/tmp/legacy-cache", 1);
    c = ic_hub_cache_dir(NULL);
    ASSERT(strcmp(c, "/tmp/legacy-cache") == 0);
    ic_free(c);
    setenv("HF_HUB_CACHE", "/tmp/hub-cache", 1);
    c = ic_hub_cache_dir(NULL);
    ASSERT(strcmp(c, "/tmp/hub-cache") == 0);
    ic_free(c);
    o.cache_dir = "/tmp/opt-cache";
    c = ic_hub_cache_dir(&o);
    ASSERT(strcmp(c, "/tmp/opt-cache") == 0);
    ic_free(c);
    unsetenv("HF_HOME");
    unsetenv("HF_HUB_CACHE");
    unsetenv("HUGGINGFACE_HUB_CACHE");
    setenv("XDG_CACHE_HOME", "/tmp/xdg", 1);
    c = ic_hub_cache_dir(NULL);
    ASSERT(strcmp(c, "/tmp/xdg/huggingface/hub") == 0);
    ic_free(c);
    unsetenv("XDG_CACHE_HOME");
    ic_free(home);
    ic_free(tp);
    clean_env();
    restore_env();
}

TEST(hub_download_layout_then_cache_hit)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, NULL);
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    char *want = ic_xasprintf("%s/" FOLDER "/snapshots/" COMMIT, cache);
    ASSERT(strcmp(dir, want) == 0);
    ic_free(want);

    /* layout: refs/main holds the commit (no newline), snapshot entries are
     * relative links into blobs/, 404s of optional files are remembered */
    char *ref = ic_xasprintf("%s/" FOLDER "/refs/main", cache);
    char *text = NULL;
    size_t n = 0;
    ASSERT_OK(ic_read_file(ref, 100, &text, &n, NULL));
    ASSERT_EQ(n, 40);
    ASSERT(memcmp(text, COMMIT, 40) == 0);
    ic_free(text);
    ic_free(ref);
    int entries = 0;
    ASSERT(snapshot_clean(dir, &entries));
    ASSERT_EQ(entries, 4); /* config, weights, vocab, tokenizer_config */
    unsigned char *w = weights_bytes();
    ASSERT(same_content(dir, "model.safetensors", w, WEIGHTS_LEN));
    ic_free(w);
    ASSERT(same_content(dir, "config.json", CONFIG, strlen(CONFIG)));
    ASSERT(same_content(dir, "vocab.txt", VOCAB, strlen(VOCAB)));
    ASSERT(same_content(dir, "tokenizer_config.json", TOKCFG, strlen(TOKCFG)));
    char *blobs = ic_xasprintf("%s/" FOLDER "/blobs", cache);
    ASSERT_EQ(count_suffix(blobs, ""), 4);
    ASSERT_EQ(count_suffix(blobs, ".incomplete"), 0);
    char *p = ic_path_join(dir, "model.safetensors");
    char target[256];
    ssize_t tl = readlink(p, target, sizeof target - 1);
    ASSERT(tl == 12 + 64); /* LFS file: the etag is the sha256 */
    ic_free(p);
    p = ic_path_join(dir, "vocab.txt");
    tl = readlink(p, target, sizeof target - 1);
    ASSERT(tl == 12 + 40); /* plain file: the git blob sha1, W/ and quotes stripped */
    target[tl] = 0;
    ASSERT(strspn(target + 12, "0123456789abcdef") == 40);
    ic_free(p);
    char *ne = ic_xasprintf("%s/" FOLDER "/.no_exist/" COMMIT "/tokenizer.json", cache);
    ASSERT(ic_path_exists(ne));
    ic_free(ne);
    ne = ic_xasprintf("%s/" FOLDER "/.no_exist/" COMMIT "/special_tokens_map.json", cache);
    ASSERT(ic_path_exists(ne));
    ic_free(ne);
    /* the first HEAD names the branch, the others are pinned to its commit;
     * the user agent says who asks */
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "/resolve/main/config.json"), 1);
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "/resolve/" COMMIT "/model.safetensors"), 1);
    ASSERT_EQ(log_count(&s, "\"GET\"", NULL), 4);
    ASSERT_EQ(log_count(&s, "\"GET\"", "intent/"), 4);
    ic_free(dir);

    /* second resolve: a cache hit, no request at all */
    int before = requests(&s);
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ASSERT_EQ(requests(&s), before);
    ic_free(dir);
    /* with refresh (what `intent download` does): HEADs only, no GET, and
     * none for the files known to be absent */
    o.refresh = 1;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ASSERT_EQ(log_count(&s, "\"GET\"", NULL), 4);
    ASSERT_EQ(requests(&s), before + 4);
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "tokenizer.json"), 1);
    ic_free(dir);
    stub_stop(&s);
    ic_free(blobs);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_offline)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, NULL);
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    /* offline without the model cached: not found, and the message says why */
    o.offline = 1;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(dir == NULL);
    ASSERT(strstr(err.msg, REPO) && strstr(err.msg, "offline") && strstr(err.msg, cache));
    ASSERT(!strchr(err.msg, '\n'));
    ASSERT_EQ(requests(&s), 0);
    /* HF_HUB_OFFLINE=1 in the environment does the same */
    o.offline = -1;
    setenv("HF_HUB_OFFLINE", "1", 1);
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "HF_HUB_OFFLINE"));
    unsetenv("HF_HUB_OFFLINE");
    ASSERT_EQ(requests(&s), 0);
    /* download, then offline: found with zero requests, even with refresh */
    o.offline = 0;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    char *first = dir;
    int before = requests(&s);
    setenv("TRANSFORMERS_OFFLINE", "true", 1);
    o.offline = -1;
    o.refresh = 1;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    unsetenv("TRANSFORMERS_OFFLINE");
    ASSERT(strcmp(dir, first) == 0);
    ASSERT_EQ(requests(&s), before);
    ic_free(dir);
    ic_free(first);
    /* another revision is not the cached one */
    o.offline = 1;
    o.revision = "v2";
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    /* the commit itself is */
    o.revision = COMMIT;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ic_free(dir);
    stub_stop(&s);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

/* A cache written by Python's huggingface_hub (built by hand here) is found
 * offline: refs/main -> snapshots/<commit>/ with links into blobs/. */
TEST(hub_python_cache_found_offline)
{
    clean_env();
    char *root = ic_path_join(test_tmpdir(), "hf-home/hub");
    const char *commit = "0123456789abcdef0123456789abcdef01234567";
    char *repo_dir = ic_path_join(root, "models--prajjwal1--bert-tiny");
    char *snap = ic_xasprintf("%s/snapshots/%s", repo_dir, commit);
    char *blobs = ic_path_join(repo_dir, "blobs");
    char *refs = ic_path_join(repo_dir, "refs");
    IC_ASSERT(ic_mkdirs(snap, NULL) == IC_OK && ic_mkdirs(blobs, NULL) == IC_OK &&
              ic_mkdirs(refs, NULL) == IC_OK);
    write_file(refs, "main", commit, 40);
    write_file(blobs, "aaaa", CONFIG, strlen(CONFIG));
    write_file(blobs, "bbbb", "weights", 7);
    char *l1 = ic_path_join(snap, "config.json"), *l2 = ic_path_join(snap, "pytorch_model.bin");
    IC_ASSERT(symlink("../../blobs/aaaa", l1) == 0 && symlink("../../blobs/bbbb", l2) == 0);
    struct ic_hub_opts o;
    ic_hub_default_opts(&o); /* cache from $HF_HOME/hub */
    o.endpoint = "http://127.0.0.1:1";
    setenv("HF_HUB_OFFLINE", "1", 1);
    char *dir = NULL;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_hub_resolve("prajjwal1/bert-tiny", &o, &dir, &err), err);
    ASSERT(strcmp(dir, snap) == 0);
    ic_free(dir);
    unsetenv("HF_HUB_OFFLINE");
    /* a snapshot without weights is not a model */
    unlink(l2);
    o.offline = 0; /* and the Hub (port 1) is unreachable: not found, one line */
    ASSERT_EQ(ic_hub_resolve("prajjwal1/bert-tiny", &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "cannot reach") && strstr(err.msg, "not in the Hugging Face cache"));
    ic_free(l1);
    ic_free(l2);
    ic_free(root);
    ic_free(repo_dir);
    ic_free(snap);
    ic_free(blobs);
    ic_free(refs);
    restore_env();
}

TEST(hub_resume_after_dropped_connection)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, "--drop-once", "model.safetensors");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    unsigned char *w = weights_bytes();
    ASSERT(same_content(dir, "model.safetensors", w, WEIGHTS_LEN));
    /* the second GET asked for the rest only */
    ASSERT_EQ(log_count(&s, "\"GET\"", "/cdn/"), 2);
    char range[64];
    snprintf(range, sizeof range, "\"bytes=%d-\"", WEIGHTS_LEN / 2);
    ASSERT_EQ(log_count(&s, "/cdn/", range), 1);
    ic_free(dir);
    stub_stop(&s);

    /* a download killed half-way leaves blobs/<etag>.incomplete; the next
     * run (another cache here, built from the first) resumes it */
    char *cache2 = ic_path_join(test_tmpdir(), "cache2");
    char *snap1 = ic_xasprintf("%s/" FOLDER "/snapshots/" COMMIT "/model.safetensors", cache);
    char target[256];
    ssize_t tl = readlink(snap1, target, sizeof target - 1);
    ASSERT(tl > 12);
    target[tl] = 0;
    char *blobs2 = ic_xasprintf("%s/" FOLDER "/blobs", cache2);
    IC_ASSERT(ic_mkdirs(blobs2, NULL) == IC_OK);
    char *part = ic_xasprintf("%s/%s.incomplete", blobs2, target + 12);
    IC_ASSERT(ic_write_file_atomic(part, w, 12345, NULL) == IC_OK);
    START_STUB(&s, repo, NULL);
    opts_for(&o, &s, cache2);
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ASSERT(same_content(dir, "model.safetensors", w, WEIGHTS_LEN));
    ASSERT_EQ(log_count(&s, "/cdn/", "\"bytes=12345-\""), 1);
    ASSERT(!ic_path_exists(part));
    ic_free(dir);
    stub_stop(&s);
    ic_free(w);
    ic_free(part);
    ic_free(blobs2);
    ic_free(snap1);
    ic_free(cache2);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_failed_download_leaves_no_half_file)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, "--drop-always", "model.safetensors");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NET);
    ASSERT(dir == NULL);
    ASSERT(strstr(err.msg, "interrupted") != NULL);
    char *snap = ic_xasprintf("%s/" FOLDER "/snapshots/" COMMIT, cache);
    int entries = 0;
    ASSERT(snapshot_clean(snap, &entries)); /* config.json only, a complete link */
    ASSERT_EQ(entries, 1);
    char *ref = ic_xasprintf("%s/" FOLDER "/refs/main", cache);
    ASSERT(!ic_path_exists(ref)); /* the revision is not mapped to a partial snapshot */
    char *blobs = ic_xasprintf("%s/" FOLDER "/blobs", cache);
    ASSERT_EQ(count_suffix(blobs, ".incomplete"), 1); /* kept for resuming */
    /* offline now: still not a model */
    o.offline = 1;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    /* the Hub recovers: the partial blob is resumed, not restarted */
    START_STUB(&s, repo, NULL);
    opts_for(&o, &s, cache);
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ASSERT_EQ(log_count(&s, "/cdn/", "\"bytes="), 1);
    ASSERT(snapshot_clean(snap, &entries));
    ASSERT_EQ(entries, 4);
    ASSERT_EQ(count_suffix(blobs, ".incomplete"), 0);
    ASSERT(ic_path_exists(ref));
    ic_free(dir);
    stub_stop(&s);
    ic_free(snap);
    ic_free(ref);
    ic_free(blobs);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_pytorch_bin_when_no_safetensors)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo-bin", "pytorch_model.bin");
    START_STUB(&s, repo, NULL);
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    unsigned char *w = weights_bytes();
    ASSERT(same_content(dir, "pytorch_model.bin", w, WEIGHTS_LEN));
    ic_free(w);
    char *st = ic_path_join(dir, "model.safetensors");
    ASSERT(!ic_path_exists(st));
    ic_free(st);
    char *ne = ic_xasprintf("%s/" FOLDER "/.no_exist/" COMMIT "/model.safetensors", cache);
    ASSERT(ic_path_exists(ne));
    ic_free(ne);
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "model.safetensors"), 1);
    ASSERT_EQ(log_count(&s, "\"GET\"", "/cdn/"), 1);
    ic_free(dir);
    stub_stop(&s);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_token_sent_to_hub_not_to_cdn)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, "--token", "hf_secret");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    /* no token: refused, and the message points at HF_TOKEN */
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "401") && strstr(err.msg, "HF_TOKEN"));
    /* the token from the environment */
    setenv("HF_TOKEN", "hf_secret", 1);
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    unsetenv("HF_TOKEN");
    int resolve_reqs = log_count(&s, "/resolve/", "\"Bearer hf_secret\"");
    ASSERT_EQ(resolve_reqs, 6 + 3); /* 6 HEADs and 3 GETs, all with the token */
    ASSERT_EQ(log_count(&s, "/resolve/", "\"authorization\": null"), 1); /* the refused one */
    /* the CDN (another host: localhost, not 127.0.0.1) never sees it */
    ASSERT_EQ(log_count(&s, "/cdn/", NULL), 1);
    ASSERT_EQ(log_count(&s, "/cdn/", "\"authorization\": null"), 1);
    ASSERT_EQ(log_count(&s, "/cdn/", "\"host\": \"localhost:"), 1);
    ic_free(dir);
    stub_stop(&s);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_renamed_repo_relative_redirect)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, "--rename", "old-org/old-name");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_OK_ERR(ic_hub_resolve("old-org/old-name", &o, &dir, &err), err);
    char *want = ic_xasprintf("%s/models--old-org--old-name/snapshots/" COMMIT, cache);
    ASSERT(strcmp(dir, want) == 0);
    ASSERT(same_content(dir, "config.json", CONFIG, strlen(CONFIG)));
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "/old-org/old-name/resolve/main/config.json"), 1);
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "/test-org/tiny-bert/resolve/main/config.json"), 1);
    ASSERT_EQ(log_count(&s, "\"GET\"", "/test-org/tiny-bert/resolve/"), 3);
    ic_free(want);
    ic_free(dir);
    stub_stop(&s);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_errors_and_fallback)
{
    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, NULL);
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    /* unknown repository and unknown revision: not found */
    ASSERT_EQ(ic_hub_resolve("test-org/missing", &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "test-org/missing") && strstr(err.msg, "404"));
    o.revision = "no-such-branch";
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "no-such-branch"));
    o.revision = NULL;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    char *cached = dir;
    /* the Hub answers 500: with refresh, the cached snapshot is used */
    START_STUB(&s, repo, "--fail-status", "500");
    opts_for(&o, &s, cache);
    o.refresh = 1;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ASSERT(strcmp(dir, cached) == 0);
    ASSERT_EQ(requests(&s), 1);
    ic_free(dir);
    /* ... and with nothing cached, a network error naming the status */
    char *empty = ic_path_join(test_tmpdir(), "empty-cache");
    o.cache_dir = empty;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NET);
    ASSERT(strstr(err.msg, "500"));
    stub_stop(&s);
    /* no server at all: the cached snapshot with refresh, else not found */
    o.endpoint = "http://127.0.0.1:1";
    o.cache_dir = cache;
    ASSERT_OK_ERR(ic_hub_resolve(REPO, &o, &dir, &err), err);
    ic_free(dir);
    o.cache_dir = empty;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NOTFOUND);
    ASSERT(strstr(err.msg, "cannot reach http://127.0.0.1:1"));
    ic_free(empty);
    ic_free(cached);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

TEST(hub_sha256_checks_lfs_blobs)
{
    char hex[65];
    struct hub_sha256 h;
    hub_sha256_init(&h);
    hub_sha256_hex(&h, hex);
    ASSERT(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    hub_sha256_init(&h);
    hub_sha256_update(&h, "a", 1);
    hub_sha256_update(&h, "bc", 2);
    hub_sha256_hex(&h, hex);
    ASSERT(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    hub_sha256_init(&h);
    const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"; /* 56 bytes */
    for (int i = 0; i < 3; i++)
        hub_sha256_update(&h, m, strlen(m));
    hub_sha256_hex(&h, hex);
    /* sha256 of m repeated 3 times (168 bytes, over several blocks) */
    ASSERT(strcmp(hex, "50ea825d9684f4229ca29f1fec511593e281e46a140d81e0005f8f688669a06c") == 0);

    clean_env();
    struct stub s;
    char *repo = make_repo("repo", "model.safetensors");
    START_STUB(&s, repo, "--corrupt", "model.safetensors");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_EQ(ic_hub_resolve(REPO, &o, &dir, &err), IC_ERR_NET);
    ASSERT(strstr(err.msg, "SHA-256") != NULL);
    char *blobs = ic_xasprintf("%s/" FOLDER "/blobs", cache);
    ASSERT_EQ(count_suffix(blobs, ".incomplete"), 0); /* discarded, not resumed */
    ASSERT_EQ(count_suffix(blobs, ""), 1);            /* config.json only */
    char *snap = ic_xasprintf("%s/" FOLDER "/snapshots/" COMMIT, cache);
    int entries = 0;
    ASSERT(snapshot_clean(snap, &entries));
    ASSERT_EQ(entries, 1);
    stub_stop(&s);
    ic_free(snap);
    ic_free(blobs);
    ic_free(cache);
    ic_free(repo);
    restore_env();
}

/* The bundled default dataset (data/dataset_v2.json, kept with the Hub
 * code's owner): loads cleanly with the project's loader, at least 15
 * intents with 40 utterances each, no duplicate or conflicting text, and no
 * duplicate once lower-cased with accents and punctuation removed (what an
 * uncased BERT tokenizer sees), so no utterance lands on both sides of a
 * split in disguise. */
#include "intent/data.h"

static void fold_text(const char *s, char *out, size_t cap)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p && n + 1 < cap; p++) {
        unsigned char c = *p;
        if (c == 0xC3 && p[1]) { /* Latin-1 letters with accents: keep the base letter */
            static const char map[] = "aaaaaaaceeeeiiiidnooooo/ouuuuyty";
            unsigned char d = (unsigned char)(p[1] | 0x20);
            if (d >= 0xA0 && d <= 0xBF)
                out[n++] = map[d - 0xA0];
            p++;
        } else if (c == 0xC2 && p[1]) { /* ¿ ¡ */
            p++;
        } else if (c < 0x80 && (isalnum(c) || c == ' ')) {
            if (c != ' ' || (n > 0 && out[n - 1] != ' '))
                out[n++] = (char)tolower(c);
        }
    }
    while (n > 0 && out[n - 1] == ' ')
        n--;
    out[n] = 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

TEST(dataset_v2_bundled)
{
    struct ic_dataset d;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_dataset_load(&d, "data/dataset_v2.json", &err), err);
    int ok = d.n_labels >= 15 && d.n_duplicates == 0 && d.n_conflicts == 0 &&
             d.n_singletons == 0 && d.n >= 15 * 40;
    int min_count = 1 << 30;
    for (int i = 0; i < d.n_labels; i++)
        if (d.label_counts[i] < min_count)
            min_count = d.label_counts[i];
    ok = ok && ic_dataset_label_id(&d, "get_news") >= 0 && ic_dataset_label_id(&d, "greeting") >= 0;
    char **folded = ic_xcalloc(d.n, sizeof *folded);
    for (size_t i = 0; i < d.n; i++) {
        folded[i] = ic_xmalloc(512);
        fold_text(d.ex[i].text, folded[i], 512);
    }
    qsort(folded, d.n, sizeof *folded, cmp_str);
    int dup = -1;
    for (size_t i = 1; i < d.n && dup < 0; i++)
        if (strcmp(folded[i - 1], folded[i]) == 0)
            dup = (int)i;
    char dup_text[512] = "";
    if (dup >= 0)
        snprintf(dup_text, sizeof dup_text, "%s", folded[dup]);
    for (size_t i = 0; i < d.n; i++)
        ic_free(folded[i]);
    ic_free(folded);
    int n_labels = d.n_labels;
    size_t n = d.n;
    ic_dataset_free(&d);
    ASSERT(ok);
    ASSERT(min_count >= 40);
    if (dup >= 0)
        FAIL("two utterances fold to \"%s\"", dup_text);
    ASSERT(n_labels >= 15 && n >= 600);
}

/* A repository laid out like prajjwal1/bert-tiny on main (config.json,
 * pytorch_model.bin, vocab.txt; no safetensors, no tokenizer_config), served
 * by the stub: the snapshot it resolves to (symbolic links into blobs/) loads
 * as a pretrained base for fine-tuning. */
#include "intent/model.h"

TEST(hub_snapshot_loads_as_pretrained_base)
{
    clean_env();
    char *repo = ic_path_join(test_golden_dir(), "io/legacy_bert");
    if (!ic_is_dir(repo)) {
        ic_free(repo);
        SKIP("tests/golden/io/legacy_bert missing");
    }
    struct stub s;
    START_STUB(&s, repo, "--repo", "prajjwal1/bert-tiny");
    char *cache = ic_path_join(test_tmpdir(), "cache");
    struct ic_hub_opts o;
    opts_for(&o, &s, cache);
    struct ic_err err = {0};
    char *dir = NULL;
    ASSERT_OK_ERR(ic_hub_resolve("prajjwal1/bert-tiny", &o, &dir, &err), err);
    ASSERT_EQ(log_count(&s, "\"HEAD\"", "model.safetensors"), 1);
    ASSERT_EQ(log_count(&s, "\"GET\"", "/cdn/"), 1);
    stub_stop(&s);
    struct ic_model m;
    ic_model_init(&m);
    struct ic_rng rng;
    ic_rng_seed(&rng, 1);
    const char *labels[] = {"a", "b", "c"};
    int rc = ic_model_load_pretrained(&m, dir, 3, labels, &rng, &err);
    ic_model_free(&m);
    ic_free(dir);
    ic_free(cache);
    ic_free(repo);
    restore_env();
    ASSERT_OK_ERR(rc, err);
}
