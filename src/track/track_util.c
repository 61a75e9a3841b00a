/* SPDX-License-Identifier: Apache-2.0 */
/*
 * track_util.c - small helpers for the tracker: MLflow key validation,
 * number formatting for metric files, ids and run names, the login name, a
 * YAML scalar writer and a flat meta.yaml reader (libyaml), warn-once.
 */
#include <ctype.h>
#include <fcntl.h>
#include <math.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "core/yamlflat.h"
#include "track/track_int.h"

/* MLflow: keys match ^[/\w.\- ]*$ and are normalized relative paths
 * (no "..", no "." segment, no leading "/", no "//", no trailing "/"). */
int ic__trk_key_ok(const char *key)
{
    if (!key)
        return 0;
    size_t n = strlen(key);
    if (n == 0 || n > IC__TRK_MAX_KEY_LEN)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (!(isalnum(c) || c == '_' || c == '/' || c == '.' || c == '-' || c == ' ' || c >= 0x80))
            return 0;
    }
    if (key[0] == '/' || key[n - 1] == '/')
        return 0;
    /* every segment must be non-empty and not "." or ".." */
    const char *seg = key;
    for (;;) {
        const char *slash = strchr(seg, '/');
        size_t len = slash ? (size_t)(slash - seg) : strlen(seg);
        if (len == 0 || (len == 1 && seg[0] == '.') || (len == 2 && seg[0] == '.' && seg[1] == '.'))
            return 0;
        if (!slash)
            break;
        seg = slash + 1;
    }
    return 1;
}

void ic__trk_fmt_double(char *out, size_t n, double v)
{
    if (isnan(v)) {
        snprintf(out, n, "nan");
        return;
    }
    if (isinf(v)) {
        snprintf(out, n, v > 0 ? "inf" : "-inf");
        return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(out, n, "%.*g", prec, v);
        if (strtod(out, NULL) == v)
            return;
    }
}

static void random_bytes(unsigned char *p, size_t n)
{
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        while (got < n) {
            ssize_t r = read(fd, p + got, n - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        close(fd);
    }
    if (got < n) {
        /* no /dev/urandom: time and pid are enough for unique ids here */
        struct ic_rng rng;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ic_rng_seed(&rng, (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                              ((uint64_t)getpid() << 40));
        for (size_t i = got; i < n; i++)
            p[i] = (unsigned char)ic_rng_u64(&rng);
    }
}

void ic__trk_uuid_hex(char out[33])
{
    unsigned char b[16];
    random_bytes(b, sizeof b);
    b[6] = (unsigned char)(0x40 | (b[6] & 0x0f)); /* version 4 */
    b[8] = (unsigned char)(0x80 | (b[8] & 0x3f)); /* RFC 4122 variant */
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[b[i] >> 4];
        out[2 * i + 1] = hex[b[i] & 15];
    }
    out[32] = 0;
}

void ic__trk_random_id18(char out[19])
{
    unsigned char b[18];
    random_bytes(b, sizeof b);
    for (int i = 0; i < 18; i++)
        out[i] = (char)('0' + b[i] % 10);
    if (out[0] == '0')
        out[0] = (char)('1' + b[0] % 9);
    out[18] = 0;
}

char *ic__trk_run_name(void)
{
    static const char *const adj[] = {
        "agreeable", "bold",   "brave",  "bright", "calm",    "clever", "crisp",  "daring",
        "eager",     "fair",   "gentle", "keen",   "lively",  "merry",  "nimble", "polite",
        "proud",     "quiet",  "rare",   "sharp",  "sincere", "steady", "swift",  "witty",
    };
    static const char *const noun[] = {
        "ant",   "bat",  "bear", "cod",   "crane", "deer", "dove",  "eel",
        "finch", "fox",  "gnat", "hawk",  "lark",  "lynx", "mole",  "newt",
        "owl",   "panda", "ram", "seal",  "slug",  "toad", "whale", "wolf",
    };
    unsigned char b[3];
    random_bytes(b, sizeof b);
    return ic_xasprintf("%s-%s-%d", adj[b[0] % (sizeof adj / sizeof adj[0])],
                        noun[b[1] % (sizeof noun / sizeof noun[0])], (int)(b[2] % 1000));
}

char *ic__trk_user(void)
{
    static const char *const vars[] = {"LOGNAME", "USER", "LNAME", "USERNAME"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && *v)
            return ic_xstrdup(v);
    }
    struct passwd pw, *res = NULL;
    char buf[4096];
    if (getpwuid_r(getuid(), &pw, buf, sizeof buf, &res) == 0 && res && res->pw_name)
        return ic_xstrdup(res->pw_name);
    return ic_xstrdup("unknown");
}

int ic__trk_env_bool(const char *name)
{
    const char *v = getenv(name);
    return v && (strcasecmp(v, "true") == 0 || strcmp(v, "1") == 0);
}

size_t ic__trk_json_len(const char *s)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\' || *p == '\n' || *p == '\t' || *p == '\r' || *p == '\b' ||
            *p == '\f' || *p == '/')
            n += 2;
        else if (*p < 0x20)
            n += 6;
        else
            n += 1;
    }
    return n;
}

// --- YAML -----------------------------------------------------------------

static int yaml_plain_ok(const char *s)
{
    static const char *const special[] = {"yes", "no", "true", "false", "on", "off", "null",
                                          "y",   "n"};
    size_t n = strlen(s);
    if (n == 0)
        return 0;
    if (!(isalpha((unsigned char)s[0]) || s[0] == '_' || s[0] == '/'))
        return 0;
    if (s[n - 1] == ' ')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ':' && (s[i + 1] == ' ' || s[i + 1] == 0))
            return 0; /* ": " starts a mapping value */
        if (!(isalnum(c) || strchr("_./- :%+@~=", c)))
            return 0;
    }
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++)
        if (strcasecmp(s, special[i]) == 0)
            return 0;
    return 1;
}

int ic__trk_yaml_str(struct ic_buf *b, const char *s)
{
    int rc;
    if (yaml_plain_ok(s))
        return ic_buf_append(b, s, strlen(s));
    int has_ctl = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            has_ctl = 1;
    if (!has_ctl) {
        rc = ic_buf_append(b, "'", 1);
        for (const char *p = s; *p && rc == IC_OK; p++)
            rc = *p == '\'' ? ic_buf_append(b, "''", 2) : ic_buf_append(b, p, 1);
        return rc == IC_OK ? ic_buf_append(b, "'", 1) : rc;
    }
    rc = ic_buf_append(b, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)s; *p && rc == IC_OK; p++) {
        if (*p == '"' || *p == '\\')
            rc = ic_buf_printf(b, "\\%c", *p);
        else if (*p == '\n')
            rc = ic_buf_append(b, "\\n", 2);
        else if (*p == '\t')
            rc = ic_buf_append(b, "\\t", 2);
        else if (*p < 0x20 || *p == 0x7f)
            rc = ic_buf_printf(b, "\\x%02x", *p);
        else
            rc = ic_buf_append(b, p, 1);
    }
    return rc == IC_OK ? ic_buf_append(b, "\"", 1) : rc;
}

static void kv_add(struct ic__trk_kv *kv, const char *k, const char *v)
{
    kv->keys = ic_xrealloc(kv->keys, (kv->n + 1) * sizeof *kv->keys);
    kv->vals = ic_xrealloc(kv->vals, (kv->n + 1) * sizeof *kv->vals);
    kv->keys[kv->n] = ic_xstrdup(k);
    kv->vals[kv->n] = v ? ic_xstrdup(v) : NULL;
    kv->n++;
}

int ic__trk_yaml_read(const char *path, struct ic__trk_kv *kv, struct ic_err *err)
{
    memset(kv, 0, sizeof *kv);
    char *data = NULL;
    size_t len = 0;
    int rc = ic_read_file(path, 1 << 20, &data, &len, err);
    if (rc != IC_OK)
        return rc;
    yaml_parser_t p;
    yaml_event_t ev;
    if (!yaml_parser_initialize(&p)) {
        ic_free(data);
        return ic_errf(err, IC_ERR_NOMEM, "%s: yaml parser init failed", path);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
    int depth = 0; /* 1 = inside the top mapping */
    char *key = NULL;
    int done = 0;
    rc = IC_OK;
    while (!done) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %zu: %s", path,
                         ic__yaml_error_line(&p, data, len), p.problem ? p.problem : "bad YAML");
            break;
        }
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = 1;
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            if (depth == 1 && key) { /* nested value (tags: []): kept as NULL */
                kv_add(kv, key, NULL);
                ic_free(key);
                key = NULL;
            }
            depth++;
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            depth--;
            break;
        case YAML_SCALAR_EVENT:
            if (depth == 1 && memchr(ev.data.scalar.value, 0, ev.data.scalar.length)) {
                rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %zu: NUL character (\\0) in a %s",
                             path, (size_t)ev.start_mark.line + 1, key ? "value" : "key");
                done = 1;
            } else if (depth == 1) {
                const char *v = (const char *)ev.data.scalar.value;
                if (!key) {
                    key = ic_xstrdup(v);
                } else {
                    int is_null = ev.data.scalar.plain_implicit &&
                                  (strcmp(v, "null") == 0 || strcmp(v, "~") == 0 ||
                                   strcmp(v, "Null") == 0 || strcmp(v, "NULL") == 0 || !*v);
                    kv_add(kv, key, is_null ? NULL : v);
                    ic_free(key);
                    key = NULL;
                }
            }
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
    }
    ic_free(key);
    yaml_parser_delete(&p);
    ic_free(data);
    if (rc != IC_OK)
        ic__trk_kv_free(kv);
    return rc;
}

const char *ic__trk_kv_get(const struct ic__trk_kv *kv, const char *key)
{
    for (size_t i = 0; i < kv->n; i++)
        if (strcmp(kv->keys[i], key) == 0)
            return kv->vals[i];
    return NULL;
}

void ic__trk_kv_free(struct ic__trk_kv *kv)
{
    for (size_t i = 0; i < kv->n; i++) {
        ic_free(kv->keys[i]);
        ic_free(kv->vals[i]);
    }
    ic_free(kv->keys);
    ic_free(kv->vals);
    memset(kv, 0, sizeof *kv);
}

void ic__trk_warn_once(struct ic_tracker *t, const char *what, const char *fmt, ...)
{
    pthread_mutex_lock(&t->warn_mu);
    for (size_t i = 0; i < t->n_warned; i++) {
        if (strcmp(t->warned[i], what) == 0) {
            pthread_mutex_unlock(&t->warn_mu);
            return;
        }
    }
    if (t->n_warned == t->cap_warned) {
        t->cap_warned = t->cap_warned ? 2 * t->cap_warned : 16;
        t->warned = ic_xrealloc(t->warned, t->cap_warned * sizeof *t->warned);
    }
    t->warned[t->n_warned++] = ic_xstrdup(what);
    pthread_mutex_unlock(&t->warn_mu);
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ic_log(IC_LOG_WARN, "tracking: %s", msg);
}
