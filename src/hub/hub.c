/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hub.c - model resolution: a local directory, else the Hugging Face cache,
 * else a download from the Hub into that cache (the layout huggingface_hub
 * writes, so Python and this program share one cache).
 *
 * Protocol, per file (docs/hub.md):
 *   HEAD {endpoint}/{repo}/resolve/{revision}/{file}
 *     relative redirects (a renamed repository) are followed here, absolute
 *     ones (the CDN holding LFS files) are not: their Location is the URL to
 *     GET. X-Repo-Commit gives the commit, X-Linked-Etag or ETag the blob
 *     name, X-Linked-Size or Content-Length the size.
 *   GET  location -> blobs/<etag>.incomplete (resumed with Range), checked
 *     against the size (and the SHA-256 when the ETag is one: LFS files),
 *     renamed to blobs/<etag>;
 *   snapshots/<commit>/<file> -> ../../blobs/<etag> (relative symlink),
 *   refs/<revision> holds the commit, .no_exist/<commit>/<file> records a
 *   404 of an optional file.
 * After config.json the revision is pinned to its commit, so every file of
 * one resolution comes from the same commit.
 */
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hub/hub_int.h"
#include "intent/hub.h"

#define HUB_MAX_REDIRECTS 8
#define HUB_MAX_ATTEMPTS 3                        /* GET attempts per blob (resume between) */
#define HUB_MAX_FILE_SIZE (64LL << 30)            /* refuse sizes above 64 GiB */
#define HUB_HEADER_MAX 8192                       /* longest header value kept */
#define HUB_LOCK_WAIT_S 600                       /* wait for another process's download */

/* ------------------------------------------------------------------------
 * Environment and options. */

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int hub_env_true(const char *name)
{
    const char *v = env_nonempty(name);
    if (!v)
        return 0;
    return strcasecmp(v, "1") == 0 || strcasecmp(v, "on") == 0 || strcasecmp(v, "yes") == 0 ||
           strcasecmp(v, "true") == 0;
}

void ic_hub_default_opts(struct ic_hub_opts *o)
{
    memset(o, 0, sizeof *o);
    o->offline = -1;
}

static char *hf_home(void)
{
    const char *v = env_nonempty("HF_HOME");
    if (v)
        return ic_xstrdup(v);
    v = env_nonempty("XDG_CACHE_HOME");
    if (v)
        return ic_path_join(v, "huggingface");
    v = env_nonempty("HOME");
    if (v)
        return ic_path_join(v, ".cache/huggingface");
    return ic_xstrdup(".cache/huggingface");
}

char *ic_hub_cache_dir(const struct ic_hub_opts *o)
{
    if (o && o->cache_dir && *o->cache_dir)
        return ic_xstrdup(o->cache_dir);
    const char *v = env_nonempty("HF_HUB_CACHE");
    if (!v)
        v = env_nonempty("HUGGINGFACE_HUB_CACHE");
    if (v)
        return ic_xstrdup(v);
    char *home = hf_home();
    char *dir = ic_path_join(home, "hub");
    ic_free(home);
    return dir;
}

/* A token is sent in a header: printable ASCII only. */
static int token_ok(const char *t)
{
    for (const unsigned char *p = (const unsigned char *)t; *p; p++)
        if (*p < 0x21 || *p > 0x7e)
            return 0;
    return 1;
}

/* Strips surrounding whitespace in place and returns s. */
static char *strip(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = 0;
    size_t i = 0;
    while (s[i] && isspace((unsigned char)s[i]))
        i++;
    if (i)
        memmove(s, s + i, n - i + 1);
    return s;
}

char *hub_token(const struct ic_hub_opts *o)
{
    char *tok = NULL;
    if (o && o->token) {
        tok = ic_xstrdup(o->token);
    } else if (env_nonempty("HF_TOKEN")) {
        tok = ic_xstrdup(env_nonempty("HF_TOKEN"));
    } else if (env_nonempty("HUGGING_FACE_HUB_TOKEN")) {
        tok = ic_xstrdup(env_nonempty("HUGGING_FACE_HUB_TOKEN"));
    } else {
        char *path = NULL;
        if (env_nonempty("HF_TOKEN_PATH")) {
            path = ic_xstrdup(env_nonempty("HF_TOKEN_PATH"));
        } else {
            char *home = hf_home();
            path = ic_path_join(home, "token");
            ic_free(home);
        }
        size_t len = 0;
        if (ic_read_file(path, 4096, &tok, &len, NULL) != IC_OK) {
            tok = NULL;
        } else if (memchr(tok, 0, len)) { /* would cut the token short */
            ic_log(IC_LOG_WARN, "hub: ignoring the Hugging Face token in %s: it holds a NUL "
                                "byte", path);
            ic_free(tok);
            tok = NULL;
        }
        ic_free(path);
    }
    if (!tok)
        return NULL;
    strip(tok);
    if (!*tok || !token_ok(tok)) {
        if (*tok)
            ic_log(IC_LOG_WARN, "hub: ignoring the Hugging Face token: it has characters a "
                                "token cannot have");
        ic_free(tok);
        return NULL;
    }
    return tok;
}

static double env_seconds(const char *name, double dflt)
{
    const char *v = env_nonempty(name);
    if (!v)
        return dflt;
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d > 0) || d > 86400) {
        ic_log(IC_LOG_WARN, "hub: %s=\"%s\" is not a number of seconds; using %g", name, v,
               dflt);
        return dflt;
    }
    return d;
}

/* ------------------------------------------------------------------------
 * Names that become paths: repository ids, revisions, commits and etags. */

int hub_valid_repo_id(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 96)
        return 0;
    int slashes = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '/') {
            if (++slashes > 1)
                return 0;
            continue;
        }
        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.')
            return 0;
    }
    if (strstr(s, "--") || strstr(s, ".."))
        return 0;
    /* each part non-empty, not starting or ending with '-' or '.' */
    const char *p = s;
    for (;;) {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 0 || p[0] == '-' || p[0] == '.' || p[len - 1] == '-' || p[len - 1] == '.')
            return 0;
        if (!e)
            break;
        p = e + 1;
    }
    return 1;
}

/* Revisions may be branch or tag names with '/' (refs/pr/1); they become
 * refs/<revision> in the cache, so no "..", no empty component. */
int hub_valid_revision(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 255 || s[0] == '/' || s[n - 1] == '/' || strstr(s, "//") ||
        strstr(s, ".."))
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!isalnum((unsigned char)c) && c != '-' && c != '_' && c != '.' && c != '/')
            return 0;
        if (c == '.' && (i == 0 || s[i - 1] == '/'))
            return 0;
    }
    return 1;
}

/* Commits and etags from the server become one path component. */
int hub_valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 128 || s[0] == '.')
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
            return 0;
    return 1;
}

static int is_commit_hash(const char *s)
{
    if (strlen(s) != 40)
        return 0;
    for (int i = 0; i < 40; i++)
        if (!isxdigit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int is_sha256(const char *s)
{
    if (strlen(s) != 64)
        return 0;
    for (int i = 0; i < 64; i++)
        if (!isdigit((unsigned char)s[i]) && !(s[i] >= 'a' && s[i] <= 'f'))
            return 0;
    return 1;
}

/* ETag: strip a leading W/ and the quotes. Returns a fresh string. */
char *hub_normalize_etag(const char *v)
{
    if (strncmp(v, "W/", 2) == 0)
        v += 2;
    size_t n = strlen(v);
    if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
        return ic_xstrndup(v + 1, n - 2);
    return ic_xstrdup(v);
}

/* "org/name" -> "models--org--name" */
static char *repo_folder(const char *repo)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_buf_append(&b, "models--", 8);
    for (const char *p = repo; *p && rc == IC_OK; p++)
        rc = *p == '/' ? ic_buf_append(&b, "--", 2) : ic_buf_append(&b, p, 1);
    IC_ASSERT(rc == IC_OK);
    return ic_buf_take(&b);
}

/* ------------------------------------------------------------------------
 * The resolution context. */

struct hub {
    const char *model;    /* as given */
    char *repo;           /* "org/name" */
    char *endpoint;       /* no trailing '/' */
    char *revision;
    char *cache;          /* cache root */
    char *repo_dir;       /* cache/models--org--name */
    char *token;          /* NULL: none */
    int offline;
    int offline_from_env;
    int refresh;
    double etag_timeout, dl_timeout;
    char ua[96];
    CURL *curl;
    char curl_err[CURL_ERROR_SIZE];
};

static void hub_free(struct hub *h)
{
    ic_free(h->repo);
    ic_free(h->endpoint);
    ic_free(h->revision);
    ic_free(h->cache);
    ic_free(h->repo_dir);
    if (h->token) {
        memset(h->token, 0, strlen(h->token));
        ic_free(h->token);
    }
    if (h->curl)
        curl_easy_cleanup(h->curl);
}

/* ------------------------------------------------------------------------
 * Cache lookup. */

static char *snapshot_dir(const struct hub *h, const char *commit)
{
    return ic_xasprintf("%s/snapshots/%s", h->repo_dir, commit);
}

/* The commit the cache maps h->revision to, or NULL. */
static char *cached_commit(const struct hub *h)
{
    if (is_commit_hash(h->revision))
        return ic_xstrdup(h->revision);
    char *ref = ic_xasprintf("%s/refs/%s", h->repo_dir, h->revision);
    char *s = NULL;
    size_t len = 0;
    int rc = ic_read_file(ref, 256, &s, &len, NULL);
    ic_free(ref);
    if (rc != IC_OK)
        return NULL;
    strip(s);
    if (!hub_valid_name(s)) {
        ic_free(s);
        return NULL;
    }
    return s;
}

static int file_in(const char *dir, const char *name)
{
    char *p = ic_path_join(dir, name);
    struct stat st;
    int ok = stat(p, &st) == 0 && S_ISREG(st.st_mode); /* follows the symlink */
    ic_free(p);
    return ok;
}

int hub_snapshot_complete(const char *dir)
{
    return file_in(dir, "config.json") &&
           (file_in(dir, "model.safetensors") || file_in(dir, "pytorch_model.bin"));
}

/* The complete cached snapshot for h->revision, or NULL. */
static char *cached_snapshot(const struct hub *h)
{
    char *commit = cached_commit(h);
    if (!commit)
        return NULL;
    char *dir = snapshot_dir(h, commit);
    ic_free(commit);
    if (!hub_snapshot_complete(dir)) {
        ic_free(dir);
        return NULL;
    }
    return dir;
}

/* ------------------------------------------------------------------------
 * HTTP. */

struct resp {
    long status;
    char *commit;      /* X-Repo-Commit */
    char *etag;        /* ETag */
    char *linked_etag; /* X-Linked-Etag */
    char *location;    /* Location */
    char *error_code;  /* X-Error-Code */
    char *linked_size; /* X-Linked-Size */
    char *content_length;
};

static void resp_free(struct resp *r)
{
    ic_free(r->commit);
    ic_free(r->etag);
    ic_free(r->linked_etag);
    ic_free(r->location);
    ic_free(r->error_code);
    ic_free(r->linked_size);
    ic_free(r->content_length);
    memset(r, 0, sizeof *r);
}

static size_t on_header(char *buf, size_t size, size_t nitems, void *ud)
{
    struct resp *r = ud;
    size_t n = size * nitems;
    if (n >= 5 && strncmp(buf, "HTTP/", 5) == 0) { /* a new response: forget the last */
        long keep = r->status;
        resp_free(r);
        r->status = keep;
        return n;
    }
    const char *colon = memchr(buf, ':', n);
    if (!colon)
        return n;
    size_t klen = (size_t)(colon - buf);
    const char *v = colon + 1;
    size_t vlen = n - klen - 1;
    while (vlen && (*v == ' ' || *v == '\t'))
        v++, vlen--;
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (vlen > HUB_HEADER_MAX)
        return n;
    static const struct {
        const char *name;
        size_t off;
    } keys[] = {
        {"x-repo-commit", offsetof(struct resp, commit)},
        {"etag", offsetof(struct resp, etag)},
        {"x-linked-etag", offsetof(struct resp, linked_etag)},
        {"location", offsetof(struct resp, location)},
        {"x-error-code", offsetof(struct resp, error_code)},
        {"x-linked-size", offsetof(struct resp, linked_size)},
        {"content-length", offsetof(struct resp, content_length)},
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strlen(keys[i].name) == klen && strncasecmp(buf, keys[i].name, klen) == 0) {
            char **slot = (char **)((char *)r + keys[i].off);
            ic_free(*slot);
            *slot = ic_xstrndup(v, vlen);
            break;
        }
    }
    return n;
}

static size_t discard_body(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

/* Resets the handle to the options every request shares. */
static void curl_common(struct hub *h, double timeout)
{
    CURL *c = h->curl;
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, h->curl_err);
    curl_easy_setopt(c, CURLOPT_USERAGENT, h->ua);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(c, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    long ms = (long)(timeout * 1000.0);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, ms > 0 ? ms : 10000L);
    h->curl_err[0] = 0;
}

/* Headers: user agent (set above), identity encoding, and the token when
 * with_auth. Caller frees with curl_slist_free_all. */
static struct curl_slist *hub_headers(const struct hub *h, int with_auth)
{
    struct curl_slist *l = curl_slist_append(NULL, "Accept-Encoding: identity");
    if (with_auth && h->token) {
        char *a = ic_xasprintf("Authorization: Bearer %s", h->token);
        l = curl_slist_append(l, a);
        memset(a, 0, strlen(a));
        ic_free(a);
    }
    return l;
}

static const char *curl_msg(const struct hub *h, CURLcode cc)
{
    return h->curl_err[0] ? h->curl_err : curl_easy_strerror(cc);
}

/* "scheme://host:port" of url, for comparing origins. NULL when unparsable. */
static char *url_origin(const char *url)
{
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL, *port = NULL, *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        out = ic_xasprintf("%s://%s:%s", scheme, host, port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return out;
}

/* A Location is relative when it names no host (no "scheme:" or "//"). */
static int location_is_relative(const char *loc)
{
    if (loc[0] == '/' && loc[1] == '/')
        return 0;
    for (const char *p = loc; *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == ':')
            return 0;
    return 1;
}

/* base + relative reference -> absolute URL (fresh string) or NULL. */
static char *url_resolve(const char *base, const char *rel)
{
    CURLU *u = curl_url();
    char *full = NULL, *out = NULL;
    if (curl_url_set(u, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(u, CURLUPART_URL, rel, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_URL, &full, 0) == CURLUE_OK)
        out = ic_xstrdup(full);
    curl_free(full);
    curl_url_cleanup(u);
    return out;
}

/* HEAD url following relative redirects only. On IC_OK, r holds the last
 * response and *final_url the URL that gave it. A transport failure (no
 * HTTP response) returns IC_ERR_NET with *no_response = 1. */
static int hub_head(struct hub *h, const char *url, struct resp *r, char **final_url,
                    int *no_response, struct ic_err *err)
{
    *final_url = ic_xstrdup(url);
    *no_response = 0;
    for (int hop = 0;; hop++) {
        resp_free(r);
        r->status = 0;
        curl_common(h, h->etag_timeout);
        CURL *c = h->curl;
        struct curl_slist *hdrs = hub_headers(h, 1);
        curl_easy_setopt(c, CURLOPT_URL, *final_url);
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard_body);
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(h->etag_timeout * 1000.0));
        CURLcode cc = curl_easy_perform(c);
        curl_slist_free_all(hdrs);
        if (cc != CURLE_OK) {
            long code = 0;
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
            *no_response = code == 0;
            return ic_errf(err, IC_ERR_NET, "%s: cannot reach %s: %s", h->model, h->endpoint,
                           curl_msg(h, cc));
        }
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        int redirect = r->status == 301 || r->status == 302 || r->status == 303 ||
                       r->status == 307 || r->status == 308;
        if (!redirect || !r->location || !location_is_relative(r->location))
            return IC_OK;
        if (hop >= HUB_MAX_REDIRECTS)
            return ic_errf(err, IC_ERR_NET, "%s: too many redirects from %s", h->model, url);
        char *next = url_resolve(*final_url, r->location);
        if (!next)
            return ic_errf(err, IC_ERR_NET, "%s: bad redirect location \"%.200s\" from %s",
                           h->model, r->location, *final_url);
        ic_free(*final_url);
        *final_url = next;
    }
}

/* ------------------------------------------------------------------------
 * Blob download. */

struct sink {
    FILE *f;
    CURL *curl;
    long long offset;   /* bytes already in the file when this attempt started */
    long long written;  /* bytes written by this attempt */
    long long expected; /* total size */
    int restarted;      /* a 200 answered a Range request: rewritten from 0 */
    int too_big;
    int io_error;
};

static size_t on_body(char *p, size_t size, size_t nitems, void *ud)
{
    struct sink *s = ud;
    size_t n = size * nitems;
    long code = 0;
    curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, &code);
    if (code < 200 || code >= 300)
        return n; /* an error page: dropped, the status says what happened */
    if (code == 200 && s->offset > 0 && s->written == 0 && !s->restarted) {
        /* the server ignored Range: start over */
        if (fflush(s->f) != 0 || ftruncate(fileno(s->f), 0) != 0 || fseek(s->f, 0, SEEK_SET)) {
            s->io_error = errno ? errno : EIO;
            return 0;
        }
        s->offset = 0;
        s->restarted = 1;
    }
    if (s->offset + s->written + (long long)n > s->expected) {
        s->too_big = 1;
        return 0;
    }
    if (fwrite(p, 1, n, s->f) != n) {
        s->io_error = errno ? errno : EIO;
        return 0;
    }
    s->written += (long long)n;
    return n;
}

static long long file_size(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode))
        return -1;
    return (long long)st.st_size;
}

/* One GET attempt into tmp (appending from its current size). Returns IC_OK
 * when the file now has `expected` bytes. *progress says whether bytes came
 * in (worth retrying). */
static int get_once(struct hub *h, const char *url, int with_auth, const char *tmp,
                    long long expected, int *progress, struct ic_err *err)
{
    *progress = 0;
    long long have = file_size(tmp);
    if (have < 0)
        have = 0;
    if (have > expected) {
        if (truncate(tmp, 0) != 0)
            return ic_errf(err, IC_ERR_IO, "%s: truncate: %s", tmp, strerror(errno));
        have = 0;
    }
    if (have == expected)
        return IC_OK;
    FILE *f = fopen(tmp, "ab");
    if (!f)
        return ic_errf(err, IC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    struct sink s = {.f = f, .curl = h->curl, .offset = have, .expected = expected};
    curl_common(h, h->dl_timeout);
    CURL *c = h->curl;
    struct curl_slist *hdrs = hub_headers(h, with_auth);
    char range[64];
    if (have > 0) {
        snprintf(range, sizeof range, "%lld-", have);
        curl_easy_setopt(c, CURLOPT_RANGE, range);
    }
    struct resp r = {0};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(c, CURLOPT_MAXREDIRS, (long)HUB_MAX_REDIRECTS);
    curl_easy_setopt(c, CURLOPT_UNRESTRICTED_AUTH, 0L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (long)(h->dl_timeout + 0.999));
    CURLcode cc = curl_easy_perform(c);
    curl_slist_free_all(hdrs);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    int closed = fclose(f);
    *progress = s.written > 0;
    int rc = IC_OK;
    if (s.io_error || closed != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: write: %s", tmp, strerror(s.io_error ? s.io_error : errno));
    } else if (s.too_big) {
        unlink(tmp);
        rc = ic_errf(err, IC_ERR_NET, "%s: %s: the server sent more than the announced %lld bytes",
                     h->model, url, expected);
    } else if (code == 416) {
        unlink(tmp); /* our partial file does not fit the server's: start over */
        *progress = 1;
        rc = ic_errf(err, IC_ERR_NET, "%s: %s: HTTP 416 for a resumed download", h->model, url);
    } else if (cc != CURLE_OK) {
        rc = ic_errf(err, IC_ERR_NET, "%s: download from %s interrupted after %lld of %lld bytes: %s",
                     h->model, url, s.offset + s.written, expected, curl_msg(h, cc));
    } else if (code < 200 || code >= 300) {
        rc = ic_errf(err, code == 404 ? IC_ERR_NOTFOUND : IC_ERR_NET, "%s: GET %s: HTTP %ld",
                     h->model, url, code);
    } else if (file_size(tmp) != expected) {
        rc = ic_errf(err, IC_ERR_NET, "%s: %s: got %lld of %lld bytes", h->model, url,
                     file_size(tmp), expected);
    }
    resp_free(&r);
    return rc;
}

static int fsync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int e = errno;
    close(fd);
    errno = e; /* the caller reports fsync's errno */
    return rc;
}

/* Holds <cache>/.locks/<folder>/<etag>.lock (the lock huggingface_hub takes,
 * an flock, so a Python process and this one do not download the same blob
 * at once). Returns the fd or -1 (then the download goes on unlocked). */
static int lock_blob(const struct hub *h, const char *etag)
{
    char *folder = repo_folder(h->repo);
    char *dir = ic_xasprintf("%s/.locks/%s", h->cache, folder);
    char *path = ic_xasprintf("%s/%s.lock", dir, etag);
    int fd = -1;
    if (ic_mkdirs(dir, NULL) == IC_OK)
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd >= 0) {
        double t0 = ic_time_now();
        int warned = 0;
        while (flock(fd, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                close(fd);
                fd = -1;
                break;
            }
            if (!warned) {
                ic_log(IC_LOG_INFO, "hub: waiting for another process downloading %s", path);
                warned = 1;
            }
            if (ic_time_now() - t0 > HUB_LOCK_WAIT_S) {
                ic_log(IC_LOG_WARN, "hub: %s: still locked after %d s; downloading anyway",
                       path, HUB_LOCK_WAIT_S);
                close(fd);
                fd = -1;
                break;
            }
            usleep(100 * 1000);
        }
    }
    ic_free(folder);
    ic_free(dir);
    ic_free(path);
    return fd;
}

static void unlock_blob(int fd)
{
    if (fd >= 0) {
        flock(fd, LOCK_UN);
        close(fd);
    }
}

/* Makes blobs/<etag> hold `size` bytes fetched from url. */
static int fetch_blob(struct hub *h, const char *name, const char *etag, long long size,
                      const char *url, struct ic_err *err)
{
    char *blobs = ic_xasprintf("%s/blobs", h->repo_dir);
    char *blob = ic_xasprintf("%s/%s", blobs, etag);
    char *tmp = ic_xasprintf("%s.incomplete", blob);
    int lock = -1;
    int rc = ic_mkdirs(blobs, err);
    if (rc != IC_OK)
        goto out;
    if (file_size(blob) == size)
        goto out; /* already there (another revision, or a finished peer) */
    lock = lock_blob(h, etag);
    if (file_size(blob) == size)
        goto out;
    /* send the token only to the endpoint's own origin */
    char *o_end = url_origin(h->endpoint), *o_url = url_origin(url);
    int with_auth = o_end && o_url && strcmp(o_end, o_url) == 0;
    ic_free(o_end);
    ic_free(o_url);
    long long have = file_size(tmp);
    if (have > 0 && have < size)
        ic_log(IC_LOG_INFO, "hub: resuming %s/%s at byte %lld of %lld", h->repo, name, have,
               size);
    else if (size >= (1LL << 20))
        ic_log(IC_LOG_INFO, "hub: downloading %s/%s (%.1f MB)", h->repo, name, size / 1e6);
    for (int attempt = 1;; attempt++) {
        int progress = 0;
        rc = get_once(h, url, with_auth, tmp, size, &progress, err);
        if (rc == IC_OK || rc != IC_ERR_NET || !progress || attempt >= HUB_MAX_ATTEMPTS)
            break;
        ic_log(IC_LOG_WARN, "hub: %s; retrying", err ? err->msg : "download interrupted");
    }
    if (rc != IC_OK)
        goto out; /* blobs/<etag>.incomplete stays for the next resume */
    if (is_sha256(etag)) { /* an LFS file: its ETag is the SHA-256 of the content */
        char hex[65];
        if (hub_sha256_file(tmp, hex) != 0) {
            rc = ic_errf(err, IC_ERR_IO, "%s: cannot read back: %s", tmp, strerror(errno));
            goto out;
        }
        if (strcmp(hex, etag) != 0) {
            unlink(tmp);
            rc = ic_errf(err, IC_ERR_NET, "%s: %s: the download's SHA-256 is %s, the Hub "
                                          "announced %s; discarded",
                         h->repo, name, hex, etag);
            goto out;
        }
    }
    if (fsync_path(tmp) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: fsync: %s", tmp, strerror(errno));
        goto out;
    }
    if (rename(tmp, blob) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", blob, strerror(errno));
        goto out;
    }
out:
    unlock_blob(lock);
    ic_free(blobs);
    ic_free(blob);
    ic_free(tmp);
    return rc;
}

/* snapshots/<commit>/<name> -> ../../blobs/<etag>, replaced atomically. */
static int link_snapshot(struct hub *h, const char *commit, const char *name, const char *etag,
                         struct ic_err *err)
{
    char *dir = snapshot_dir(h, commit);
    char *dst = ic_path_join(dir, name);
    char *tmp = ic_xasprintf("%s/.%s.tmp.%ld", dir, name, (long)getpid());
    char *target = ic_xasprintf("../../blobs/%s", etag);
    int rc = ic_mkdirs(dir, err);
    if (rc != IC_OK)
        goto out;
    unlink(tmp);
    if (symlink(target, tmp) != 0) {
        /* a file system without symlinks: a hard link to the blob instead */
        char *blob = ic_xasprintf("%s/blobs/%s", h->repo_dir, etag);
        int ok = link(blob, tmp) == 0;
        ic_free(blob);
        if (!ok) {
            rc = ic_errf(err, IC_ERR_IO, "%s: cannot link to the blob: %s", dst, strerror(errno));
            goto out;
        }
    }
    if (rename(tmp, dst) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: rename: %s", dst, strerror(errno));
        unlink(tmp);
    }
out:
    ic_free(dir);
    ic_free(dst);
    ic_free(tmp);
    ic_free(target);
    return rc;
}

static char *no_exist_path(const struct hub *h, const char *commit, const char *name)
{
    return ic_xasprintf("%s/.no_exist/%s/%s", h->repo_dir, commit, name);
}

static void mark_no_exist(const struct hub *h, const char *commit, const char *name)
{
    char *dir = ic_xasprintf("%s/.no_exist/%s", h->repo_dir, commit);
    char *p = no_exist_path(h, commit, name);
    if (ic_mkdirs(dir, NULL) == IC_OK)
        (void)!ic_write_file_atomic(p, "", 0, NULL);
    ic_free(dir);
    ic_free(p);
}

/* ------------------------------------------------------------------------
 * One file of the snapshot. */

enum fetch_result { FETCHED, ABSENT };

static char *resolve_url(const struct hub *h, const char *rev, const char *name)
{
    char *qrev = curl_easy_escape(h->curl, rev, 0);
    char *url = ic_xasprintf("%s/%s/resolve/%s/%s", h->endpoint, h->repo, qrev, name);
    curl_free(qrev);
    return url;
}

static int parse_size(const char *s, long long *out)
{
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < 0 || v > HUB_MAX_FILE_SIZE)
        return 0;
    *out = v;
    return 1;
}

/*
 * Fetches `name` at revision `rev` (a branch before the commit is known, the
 * commit after). On success *commit is set when it was NULL. Returns IC_OK
 * with *res = FETCHED or ABSENT (404 of the file), or an error:
 * *unreachable = 1 when no HTTP response came back.
 */
static int fetch_file(struct hub *h, const char *rev, char **commit, const char *name,
                      enum fetch_result *res, int *unreachable, int *server_error,
                      struct ic_err *err)
{
    *unreachable = 0;
    *server_error = 0;
    if (*commit) {
        char *ne = no_exist_path(h, *commit, name);
        int known_absent = ic_path_exists(ne);
        ic_free(ne);
        if (known_absent) {
            *res = ABSENT;
            return IC_OK;
        }
    }
    char *url = resolve_url(h, rev, name);
    char *final_url = NULL, *etag = NULL;
    struct resp r = {0};
    int rc = hub_head(h, url, &r, &final_url, unreachable, err);
    if (rc != IC_OK)
        goto out;
    long st = r.status;
    if (st == 404) {
        if (r.commit && hub_valid_name(r.commit) &&
            (!r.error_code || strcmp(r.error_code, "EntryNotFound") == 0)) {
            if (!*commit)
                *commit = ic_xstrdup(r.commit);
            mark_no_exist(h, r.commit, name);
            *res = ABSENT;
            goto out;
        }
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: repository or revision \"%s\" not found on %s (HTTP 404%s%s)",
                     h->repo, h->revision, h->endpoint, r.error_code ? ", " : "",
                     r.error_code ? r.error_code : "");
        goto out;
    }
    if (st == 401 || st == 403) {
        rc = ic_errf(err, IC_ERR_NOTFOUND,
                     "%s: %s refused access (HTTP %ld): the repository does not exist, or it is "
                     "private or gated and needs a token (HF_TOKEN)%s",
                     h->repo, h->endpoint, st, h->token ? "; the token was sent" : "");
        goto out;
    }
    if (st >= 500 || st == 429) {
        *server_error = 1;
        rc = ic_errf(err, IC_ERR_NET, "%s: %s answered HTTP %ld for %s", h->repo, h->endpoint, st,
                     name);
        goto out;
    }
    int redirect = st >= 300 && st < 400;
    if (!(st >= 200 && st < 300) && !redirect) {
        rc = ic_errf(err, IC_ERR_NET, "%s: unexpected HTTP %ld for %s", h->repo, st, final_url);
        goto out;
    }
    if (redirect && !r.location) {
        rc = ic_errf(err, IC_ERR_NET, "%s: HTTP %ld without a Location for %s", h->repo, st,
                     final_url);
        goto out;
    }
    const char *et = r.linked_etag ? r.linked_etag : r.etag;
    long long size = -1;
    int have_size = parse_size(r.linked_size, &size) ||
                    (!redirect && parse_size(r.content_length, &size));
    if (!r.commit || !et || !have_size) {
        rc = ic_errf(err, IC_ERR_NET,
                     "%s: %s: the server's answer lacks %s (a proxy in the way?)", h->repo, name,
                     !r.commit ? "X-Repo-Commit" : !et ? "an ETag" : "a valid size");
        goto out;
    }
    etag = hub_normalize_etag(et);
    if (!hub_valid_name(r.commit) || !hub_valid_name(etag)) {
        rc = ic_errf(err, IC_ERR_NET, "%s: %s: malformed commit or ETag from the server", h->repo,
                     name);
        goto out;
    }
    if (*commit && strcmp(*commit, r.commit) != 0) {
        rc = ic_errf(err, IC_ERR_NET, "%s: %s comes from commit %s, expected %s", h->repo, name,
                     r.commit, *commit);
        goto out;
    }
    if (!*commit)
        *commit = ic_xstrdup(r.commit);
    const char *get_url = redirect ? r.location : final_url;
    rc = fetch_blob(h, name, etag, size, get_url, err);
    if (rc == IC_OK)
        rc = link_snapshot(h, *commit, name, etag, err);
    if (rc == IC_OK)
        *res = FETCHED;
out:
    resp_free(&r);
    ic_free(url);
    ic_free(final_url);
    ic_free(etag);
    return rc;
}

/* The tokenizer files a repository has: vocab.txt, tokenizer.json and the
 * configs; only when it has neither vocab.txt nor tokenizer.json, the legacy
 * RoBERTa (vocab.json + merges.txt) and XLM-R (sentencepiece.bpe.model) files. */
static int fetch_tokenizer(struct hub *h, char **commit, int *unreachable, int *server_error,
                           struct ic_err *err)
{
    static const char *const files[] = {"vocab.txt", "tokenizer.json", "tokenizer_config.json",
                                        "special_tokens_map.json"};
    static const char *const legacy[] = {"vocab.json", "merges.txt", "sentencepiece.bpe.model"};
    enum fetch_result res;
    int have = 0;
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        int rc = fetch_file(h, *commit, commit, files[i], &res, unreachable, server_error, err);
        if (rc != IC_OK)
            return rc;
        have |= i < 2 && res == FETCHED;
    }
    for (size_t i = 0; !have && i < sizeof legacy / sizeof legacy[0]; i++) {
        int rc = fetch_file(h, *commit, commit, legacy[i], &res, unreachable, server_error, err);
        if (rc != IC_OK)
            return rc;
    }
    return IC_OK;
}

/* Downloads the snapshot of h->revision. *out_dir on success. */
static int download(struct hub *h, char **out_dir, int *unreachable, int *server_error,
                    struct ic_err *err)
{
    static const char *const weights[] = {"model.safetensors", "pytorch_model.bin"};
    char *commit = NULL;
    enum fetch_result res;
    int rc = fetch_file(h, h->revision, &commit, "config.json", &res, unreachable, server_error,
                        err);
    if (rc != IC_OK)
        goto out;
    if (res == ABSENT) {
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: the repository has no config.json at revision %s",
                     h->repo, h->revision);
        goto out;
    }
    int have_weights = 0;
    for (size_t i = 0; i < 2 && !have_weights; i++) {
        rc = fetch_file(h, commit, &commit, weights[i], &res, unreachable, server_error, err);
        if (rc != IC_OK)
            goto out;
        have_weights = res == FETCHED;
    }
    if (!have_weights) {
        rc = ic_errf(err, IC_ERR_NOTFOUND,
                     "%s: the repository has neither model.safetensors nor pytorch_model.bin "
                     "(commit %s)", h->repo, commit);
        goto out;
    }
    rc = fetch_tokenizer(h, &commit, unreachable, server_error, err);
    if (rc != IC_OK)
        goto out;
    if (strcmp(h->revision, commit) != 0) {
        char *ref = ic_xasprintf("%s/refs/%s", h->repo_dir, h->revision);
        char *slash = strrchr(ref, '/');
        *slash = 0;
        rc = ic_mkdirs(ref, err);
        *slash = '/';
        if (rc == IC_OK)
            rc = ic_write_file_atomic(ref, commit, strlen(commit), err);
        ic_free(ref);
        if (rc != IC_OK)
            goto out;
    }
    *out_dir = snapshot_dir(h, commit);
out:
    ic_free(commit);
    return rc;
}

/* ------------------------------------------------------------------------
 * Entry point. */

/* Does s look like a file-system path rather than a repository id? */
static int looks_like_path(const char *s)
{
    return s[0] == '/' || s[0] == '.' || s[0] == '~' || strstr(s, "//") ||
           (strlen(s) > 0 && s[strlen(s) - 1] == '/');
}

int ic_hub_resolve(const char *model, const struct ic_hub_opts *o, char **out_dir,
                   struct ic_err *err)
{
    if (!out_dir)
        return ic_errf(err, IC_ERR_INVAL, "hub: out_dir is NULL");
    *out_dir = NULL;
    if (!model || !*model)
        return ic_errf(err, IC_ERR_INVAL, "hub: empty model name");
    struct ic_hub_opts dflt;
    if (!o) {
        ic_hub_default_opts(&dflt);
        o = &dflt;
    }
    struct stat st;
    if (stat(model, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return ic_errf(err, IC_ERR_INVAL, "%s: not a directory (a model is a directory "
                                              "or a Hugging Face id such as org/name)", model);
        *out_dir = ic_xstrdup(model);
        return IC_OK;
    }
    if (looks_like_path(model) || !hub_valid_repo_id(model)) {
        if (looks_like_path(model) || strchr(model, '/'))
            return ic_errf(err, IC_ERR_NOTFOUND, "%s: no such directory, and not a Hugging Face "
                                                 "model id (org/name)", model);
        return ic_errf(err, IC_ERR_INVAL, "%s: not a directory nor a Hugging Face model id "
                                          "(org/name)", model);
    }
    const char *rev = o->revision && *o->revision ? o->revision : "main";
    if (!hub_valid_revision(rev))
        return ic_errf(err, IC_ERR_INVAL, "%s: invalid revision \"%s\"", model, rev);

    struct hub h = {0};
    int rc = IC_OK;
    char *cached = NULL, *folder = NULL;
    h.model = model;
    h.repo = ic_xstrdup(model);
    h.revision = ic_xstrdup(rev);
    h.cache = ic_hub_cache_dir(o);
    folder = repo_folder(model);
    h.repo_dir = ic_path_join(h.cache, folder);
    h.refresh = o->refresh;
    if (o->offline >= 0) {
        h.offline = o->offline != 0;
    } else {
        h.offline = hub_env_true("HF_HUB_OFFLINE") || hub_env_true("TRANSFORMERS_OFFLINE");
        h.offline_from_env = h.offline;
    }

    cached = cached_snapshot(&h);
    if (cached && (!h.refresh || h.offline)) {
        *out_dir = cached;
        cached = NULL;
        goto out;
    }
    if (h.offline) {
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s: not in the Hugging Face cache (%s) and offline "
                                           "mode is on%s",
                     model, h.cache, h.offline_from_env ? " (HF_HUB_OFFLINE)" : "");
        goto out;
    }

    const char *ep = o->endpoint && *o->endpoint ? o->endpoint : env_nonempty("HF_ENDPOINT");
    h.endpoint = ic_xstrdup(ep ? ep : "https://huggingface.co");
    for (size_t n = strlen(h.endpoint); n > 0 && h.endpoint[n - 1] == '/'; n--)
        h.endpoint[n - 1] = 0;
    h.token = hub_token(o);
    h.etag_timeout = o->timeout_s > 0 ? o->timeout_s : env_seconds("HF_HUB_ETAG_TIMEOUT", 10);
    h.dl_timeout = o->timeout_s > 0 ? o->timeout_s : env_seconds("HF_HUB_DOWNLOAD_TIMEOUT", 10);
    snprintf(h.ua, sizeof h.ua, "intent/%s; libcurl/%s", IC_VERSION,
             curl_version_info(CURLVERSION_NOW)->version);
    h.curl = curl_easy_init();
    if (!h.curl) {
        rc = ic_errf(err, IC_ERR_NOMEM, "%s: cannot start libcurl", model);
        goto out;
    }

    int unreachable = 0, server_error = 0;
    rc = download(&h, out_dir, &unreachable, &server_error, err);
    if (rc != IC_OK && cached && (unreachable || server_error)) {
        ic_log(IC_LOG_WARN, "hub: %s; using the cached snapshot %s", err ? err->msg : "Hub unreachable",
               cached);
        ic_err_clear(err);
        *out_dir = cached;
        cached = NULL;
        rc = IC_OK;
    } else if (rc != IC_OK && unreachable) {
        /* no network: the model cannot be had (callers may fall back) */
        char why[IC_ERR_MSG_MAX];
        snprintf(why, sizeof why, "%s", err ? err->msg : "the Hub cannot be reached");
        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s; and it is not in the Hugging Face cache (%s)",
                     why, h.cache);
    }
out:
    ic_free(cached);
    ic_free(folder);
    hub_free(&h);
    return rc;
}
