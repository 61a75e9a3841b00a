/* SPDX-License-Identifier: Apache-2.0 */
/*
 * corpus.c - unlabelled text for masked-LM pretraining (data.h,
 * ic_corpus_load): plain text lines, or the labelled formats read through
 * ic_dataset_parse with intents ignored; gzip through zlib.
 */
#include <errno.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "intent/data.h"

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

/* The whole file, gunzipped when it is gzip (zlib reads plain files as they
 * are), at most IC_DATA_MAX_FILE bytes. */
static int read_maybe_gz(const char *path, char **out, size_t *len, struct ic_err *err)
{
    gzFile f = gzopen(path, "rb");
    if (!f)
        return ic_errf(err, errno == ENOENT ? IC_ERR_NOTFOUND : IC_ERR_IO, "%s: %s", path,
                       strerror(errno ? errno : EIO));
    size_t cap = 1 << 16, n = 0;
    char *buf = ic_xmalloc(cap + 1);
    int rc = IC_OK;
    for (;;) {
        if (n == cap) {
            if (cap >= IC_DATA_MAX_FILE) {
                rc = ic_errf(err, IC_ERR_RANGE, "%s: over %zu MiB (uncompressed)", path,
                             IC_DATA_MAX_FILE >> 20);
                break;
            }
            cap *= 2;
            buf = ic_xrealloc(buf, cap + 1);
        }
        int got = gzread(f, buf + n, (unsigned)(cap - n < (1u << 30) ? cap - n : (1u << 30)));
        if (got < 0) {
            int zerr;
            const char *msg = gzerror(f, &zerr);
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: corrupt compressed data (%s)", path, msg);
            break;
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    gzclose(f);
    if (rc != IC_OK) {
        ic_free(buf);
        return rc;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return IC_OK;
}

static void push(struct ic_dataset *d, char *text, int line)
{
    d->ex = ic_xrealloc(d->ex, (d->n + 1) * sizeof *d->ex);
    d->ex[d->n] = (struct ic_example){text, 0, (int)d->n + 1, line};
    d->n++;
}

/* One utterance per line: trimmed, blank lines skipped, valid UTF-8. */
static int plain_lines(struct ic_dataset *d, const char *path, const char *buf, size_t len,
                       struct ic_err *err)
{
    int line = 0;
    for (size_t p = 0; p < len;) {
        const char *nl = memchr(buf + p, '\n', len - p);
        size_t e = nl ? (size_t)(nl - buf) : len;
        line++;
        size_t a = p, b = e;
        while (a < b && (buf[a] == ' ' || buf[a] == '\t' || buf[a] == '\r'))
            a++;
        while (b > a && (buf[b - 1] == ' ' || buf[b - 1] == '\t' || buf[b - 1] == '\r'))
            b--;
        p = e + 1;
        if (a == b)
            continue;
        size_t bad;
        if (memchr(buf + a, 0, b - a) || !ic_utf8_valid(buf + a, b - a, &bad))
            return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: invalid UTF-8 or a NUL byte", path,
                           line);
        if (b - a > IC_DATA_MAX_TEXT)
            return ic_errf(err, IC_ERR_RANGE, "%s: line %d: %zu bytes, over the %d-byte limit "
                           "of one text", path, line, b - a, IC_DATA_MAX_TEXT);
        push(d, ic_xstrndup(buf + a, b - a), line);
    }
    return IC_OK;
}

static int is_structured(const char *name, const char *buf, size_t len)
{
    if (ends_with(name, ".txt"))
        return 0;
    if (ends_with(name, ".json") || ends_with(name, ".jsonl") || ends_with(name, ".ndjson") ||
        ends_with(name, ".csv") || ends_with(name, ".tsv"))
        return 1;
    size_t p = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    while (p < len && (buf[p] == ' ' || buf[p] == '\n' || buf[p] == '\r' || buf[p] == '\t'))
        p++;
    return p < len && (buf[p] == '[' || buf[p] == '{');
}

int ic_corpus_load(struct ic_dataset *d, const char *path, struct ic_err *err)
{
    char *buf = NULL;
    size_t len = 0;
    int rc = read_maybe_gz(path, &buf, &len, err);
    if (rc != IC_OK)
        return rc;
    char *name = ic_xstrdup(path);
    if (ends_with(name, ".gz"))
        name[strlen(name) - 3] = 0;
    size_t before = d->n;
    if (is_structured(name, buf, len)) {
        struct ic_dataset one;
        rc = ic_dataset_parse(&one, name, buf, len, NULL, 0, IC_DATA_UNLABELLED, err);
        for (size_t i = 0; rc == IC_OK && i < one.n; i++) {
            push(d, one.ex[i].text, one.ex[i].line);
            one.ex[i].text = NULL;
        }
        if (rc == IC_OK)
            ic_dataset_free(&one);
    } else {
        size_t bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
        rc = plain_lines(d, path, buf + bom, len - bom, err);
    }
    if (rc == IC_OK && d->n == before)
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: no text (the file is empty or all blank)", path);
    if (!d->path)
        d->path = ic_xstrdup(path);
    ic_free(name);
    ic_free(buf);
    return rc;
}
