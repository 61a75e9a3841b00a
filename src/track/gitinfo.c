/* SPDX-License-Identifier: Apache-2.0 */
/*
 * gitinfo.c - the commit a git checkout is at, for the
 * mlflow.source.git.commit run tag (MLflow's Python client tags the commit
 * of the checkout holding the running script). Read from the repository's
 * files, without git or a git library:
 *
 *   <dir>/.git                  a directory (the git dir), or a file
 *                               "gitdir: <path>" (worktrees, submodules)
 *   <gitdir>/commondir          worktrees: where refs and packed-refs live
 *   <gitdir>/HEAD               "ref: refs/heads/<branch>" or a commit id
 *   <common>/refs/heads/<b>     a loose ref: the commit id
 *   <common>/packed-refs        "<commit id> <ref name>" lines
 *
 * A branch without commits, a ref we cannot find or anything malformed
 * gives no commit (no tag), never an error.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "track/track_int.h"

#define GIT_FILE_MAX (1u << 20) /* HEAD, .git files; packed-refs may be larger */
#define PACKED_REFS_MAX (64u << 20)

/* The file's text without trailing whitespace, or NULL. */
static char *read_trimmed(const char *path, size_t max)
{
    char *s = NULL;
    size_t n = 0;
    if (ic_read_file(path, max, &s, &n, NULL) != IC_OK)
        return NULL;
    while (n > 0 && (s[n - 1] == '\n' || s[n - 1] == '\r' || s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = 0;
    return s;
}

/* 40 (SHA-1) or 64 (SHA-256) lowercase hex digits, then end or a space. */
static int commit_id_len(const char *s)
{
    int n = 0;
    while ((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f'))
        n++;
    if ((n == 40 || n == 64) && (s[n] == 0 || s[n] == ' ' || s[n] == '\n' || s[n] == '\r'))
        return n;
    return 0;
}

static int take_commit(const char *s, char out[65])
{
    int n = commit_id_len(s);
    if (!n)
        return 0;
    memcpy(out, s, (size_t)n);
    out[n] = 0;
    return 1;
}

/* p relative to base (a directory) unless absolute; caller frees. */
static char *resolve_rel(const char *base, const char *p)
{
    return p[0] == '/' ? ic_xstrdup(p) : ic_path_join(base, p);
}

/* The git dir of the checkout holding dir (walking up), or NULL. */
static char *find_git_dir(const char *dir)
{
    char *d = ic_xstrdup(dir);
    for (;;) {
        char *dot = ic_path_join(d, ".git");
        if (ic_is_dir(dot)) {
            ic_free(d);
            return dot;
        }
        char *txt = ic_path_exists(dot) ? read_trimmed(dot, GIT_FILE_MAX) : NULL;
        ic_free(dot);
        if (txt && strncmp(txt, "gitdir:", 7) == 0) {
            const char *p = txt + 7;
            while (*p == ' ')
                p++;
            char *g = *p ? resolve_rel(d, p) : NULL;
            ic_free(txt);
            ic_free(d);
            return g;
        }
        ic_free(txt);
        char *slash = strrchr(d, '/');
        if (!slash || slash == d) {
            ic_free(d);
            return NULL;
        }
        *slash = 0;
    }
}

/* A ref name we may join to a path: "refs/...", no "..", no "//". */
static int ref_name_ok(const char *r)
{
    return strncmp(r, "refs/", 5) == 0 && !strstr(r, "..") && !strstr(r, "//") &&
           !strchr(r, '\\') && r[strlen(r) - 1] != '/';
}

static int packed_ref(const char *common, const char *ref, char out[65])
{
    char *path = ic_path_join(common, "packed-refs");
    char *txt = read_trimmed(path, PACKED_REFS_MAX);
    ic_free(path);
    if (!txt)
        return 0;
    int found = 0;
    size_t rl = strlen(ref);
    for (char *line = txt; line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = 0;
        int n = commit_id_len(line);
        if (n && line[n] == ' ' && strncmp(line + n + 1, ref, rl) == 0 &&
            (line[n + 1 + rl] == 0 || line[n + 1 + rl] == '\r'))
            found = take_commit(line, out);
        line = nl ? nl + 1 : NULL;
    }
    ic_free(txt);
    return found;
}

/* The commit ref points at: loose in the git dir or the common dir, else
 * packed. */
static int resolve_ref(const char *gitdir, const char *common, const char *ref, char out[65])
{
    if (!ref_name_ok(ref))
        return 0;
    const char *dirs[2] = {gitdir, common};
    for (int i = 0; i < 2; i++) {
        char *p = ic_path_join(dirs[i], ref);
        char *txt = read_trimmed(p, GIT_FILE_MAX);
        ic_free(p);
        int ok = txt && take_commit(txt, out);
        ic_free(txt);
        if (ok)
            return 1;
    }
    return packed_ref(common, ref, out);
}

/* The directory to start from: path itself, or the directory holding it. */
static char *start_dir(const char *path)
{
    char *abs = realpath(path, NULL);
    if (!abs)
        return NULL;
    char *d = ic_xstrdup(abs);
    free(abs);
    if (!ic_is_dir(d)) {
        char *slash = strrchr(d, '/');
        if (slash && slash != d)
            *slash = 0;
        else
            d[1] = 0;
    }
    return d;
}

int ic__trk_git_commit(const char *path, char out[65])
{
    out[0] = 0;
    char *dir = start_dir(path && *path ? path : ".");
    char *gitdir = dir ? find_git_dir(dir) : NULL;
    ic_free(dir);
    if (!gitdir)
        return 0;
    char *cd_path = ic_path_join(gitdir, "commondir");
    char *cd = read_trimmed(cd_path, GIT_FILE_MAX);
    ic_free(cd_path);
    char *common = cd && *cd ? resolve_rel(gitdir, cd) : ic_xstrdup(gitdir);
    ic_free(cd);
    char *head_path = ic_path_join(gitdir, "HEAD");
    char *head = read_trimmed(head_path, GIT_FILE_MAX);
    ic_free(head_path);
    int ok = 0;
    if (head && strncmp(head, "ref:", 4) == 0) {
        const char *r = head + 4;
        while (*r == ' ')
            r++;
        ok = resolve_ref(gitdir, common, r, out);
    } else if (head) {
        ok = take_commit(head, out);
    }
    ic_free(head);
    ic_free(common);
    ic_free(gitdir);
    if (!ok)
        out[0] = 0;
    return ok;
}
