/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dataset.c - reads labelled intent data (JSON array, JSON Lines, CSV/TSV),
 * validates every record, assigns label ids in sorted order, reports
 * duplicates/conflicts/singletons as warnings, and splits train/eval
 * stratified by intent. Formats and limits: include/intent/data.h.
 *
 * JSON goes through jansson one record at a time (JSON_DISABLE_EOF_CHECK),
 * so every error can name the record and the line it starts on.
 */
#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "intent/data.h"

/* A record before label ids are known. */
struct raw {
    char *text, *intent;
    int record, line;
};

struct rawvec {
    struct raw *v;
    size_t n, cap;
    int unlabelled;   /* IC_DATA_UNLABELLED: intents optional and ignored */
};

static void raw_push(struct rawvec *rv, char *text, char *intent, int record, int line)
{
    if (rv->n == rv->cap) {
        rv->cap = rv->cap ? rv->cap * 2 : 256;
        rv->v = ic_xrealloc(rv->v, rv->cap * sizeof *rv->v);
    }
    rv->v[rv->n++] = (struct raw){text, intent, record, line};
}

static void raw_free(struct rawvec *rv)
{
    for (size_t i = 0; i < rv->n; i++) {
        ic_free(rv->v[i].text);
        ic_free(rv->v[i].intent);
    }
    ic_free(rv->v);
    memset(rv, 0, sizeof *rv);
}

static int count_lines(const char *buf, size_t from, size_t to)
{
    int n = 0;
    for (size_t i = from; i < to; i++)
        n += buf[i] == '\n';
    return n;
}

/* Trimmed copy of s[0..n); *out_len is its length. */
static char *trim_dup(const char *s, size_t n, size_t *out_len)
{
    while (n && isspace((unsigned char)s[0])) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    *out_len = n;
    return ic_xstrndup(s, n);
}

/* Validates one text/intent value (already known to be a string of n bytes)
 * and appends the record. field names the column for messages. */
static int check_value(const char *name, int rec, int line, const char *field, const char *s,
                       size_t n, size_t cap, char **out, struct ic_err *err)
{
    *out = NULL;
    if (memchr(s, 0, n))
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): field \"%s\" contains a NUL "
                       "character", name, rec, line, field);
    size_t bad;
    if (!ic_utf8_valid(s, n, &bad))
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): field \"%s\" is not valid "
                       "UTF-8 (byte %zu)", name, rec, line, field, bad);
    size_t tl;
    char *t = trim_dup(s, n, &tl);
    if (tl == 0) {
        ic_free(t);
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): empty %s", name, rec, line,
                       field);
    }
    if (tl > cap) {
        ic_free(t);
        return ic_errf(err, IC_ERR_RANGE, "%s: record %d (line %d): field \"%s\" is %zu bytes "
                       "(limit %zu)", name, rec, line, field, tl, cap);
    }
    *out = t;
    return IC_OK;
}

static const char *json_type_name(const json_t *j)
{
    switch (json_typeof(j)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a number";
    case JSON_TRUE:
    case JSON_FALSE: return "a boolean";
    case JSON_NULL: return "null";
    }
    return "a value";
}

/* One JSON record -> raw. */
static int json_record(const char *name, json_t *o, int rec, int line, struct rawvec *rv,
                       struct ic_err *err)
{
    if (!json_is_object(o))
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): expected an object "
                       "{\"text\", \"intent\"}, got %s", name, rec, line, json_type_name(o));
    json_t *t = json_object_get(o, "text");
    const char *lname = "intent";
    json_t *l = json_object_get(o, "intent");
    if (!l) {
        l = json_object_get(o, "label");
        lname = "label";
    }
    if (!t)
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): missing field \"text\"",
                       name, rec, line);
    if (rv->unlabelled)
        l = NULL;
    if (!l && !rv->unlabelled)
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): missing field \"intent\" "
                       "(or \"label\")", name, rec, line);
    if (!json_is_string(t))
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): field \"text\" must be a "
                       "string, got %s", name, rec, line, json_type_name(t));
    if (l && !json_is_string(l))
        return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): field \"%s\" must be a "
                       "string, got %s", name, rec, line, lname, json_type_name(l));
    char *text, *intent;
    int rc = check_value(name, rec, line, "text", json_string_value(t), json_string_length(t),
                         IC_DATA_MAX_TEXT, &text, err);
    if (rc != IC_OK)
        return rc;
    if (!l) {
        raw_push(rv, text, ic_xstrdup(""), rec, line);
        return IC_OK;
    }
    rc = check_value(name, rec, line, lname, json_string_value(l), json_string_length(l),
                     IC_DATA_MAX_LABEL, &intent, err);
    if (rc != IC_OK) {
        ic_free(text);
        return rc;
    }
    raw_push(rv, text, intent, rec, line);
    return IC_OK;
}

static size_t skip_ws(const char *buf, size_t len, size_t p)
{
    while (p < len && (buf[p] == ' ' || buf[p] == '\t' || buf[p] == '\n' || buf[p] == '\r'))
        p++;
    return p;
}

static int parse_json_array(const char *name, const char *buf, size_t len, size_t p,
                            struct rawvec *rv, struct ic_err *err)
{
    int line = 1 + count_lines(buf, 0, p);
    size_t lp = p; /* line is correct at offset lp */
    p++;           /* '[' */
    int rec = 0;
    for (;;) {
        p = skip_ws(buf, len, p);
        line += count_lines(buf, lp, p);
        lp = p;
        if (p >= len)
            return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: unexpected end of file (missing "
                           "\"]\")", name, line);
        if (buf[p] == ']')
            break;
        if (rec > 0) {
            if (buf[p] != ',')
                return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: expected \",\" or \"]\" after "
                               "record %d", name, line, rec);
            p = skip_ws(buf, len, p + 1);
            line += count_lines(buf, lp, p);
            lp = p;
            if (p < len && buf[p] == ']')
                return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: trailing comma after record %d",
                               name, line, rec);
        }
        rec++;
        if (rec > IC_DATA_MAX_RECORDS)
            return ic_errf(err, IC_ERR_RANGE, "%s: more than %d records", name,
                           IC_DATA_MAX_RECORDS);
        json_error_t je;
        json_t *o = json_loadb(buf + p, len - p, JSON_DISABLE_EOF_CHECK | JSON_DECODE_ANY |
                               JSON_ALLOW_NUL, &je);
        if (!o)
            return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): JSON syntax error: %s",
                           name, rec, line + je.line - 1, je.text);
        int rc = json_record(name, o, rec, line, rv, err);
        json_decref(o);
        if (rc != IC_OK)
            return rc;
        p += je.position;
    }
    p = skip_ws(buf, len, p + 1);
    if (p < len)
        return ic_errf(err, IC_ERR_FORMAT, "%s: line %d: unexpected data after the closing \"]\"",
                       name, 1 + count_lines(buf, 0, p));
    return IC_OK;
}

static int parse_jsonl(const char *name, const char *buf, size_t len, struct rawvec *rv,
                       struct ic_err *err)
{
    size_t p = 0;
    int line = 0, rec = 0;
    while (p < len) {
        size_t e = p;
        while (e < len && buf[e] != '\n')
            e++;
        line++;
        size_t a = skip_ws(buf, e, p);
        if (a < e) {
            rec++;
            if (rec > IC_DATA_MAX_RECORDS)
                return ic_errf(err, IC_ERR_RANGE, "%s: more than %d records", name,
                               IC_DATA_MAX_RECORDS);
            json_error_t je;
            json_t *o = json_loadb(buf + a, e - a, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
            if (!o)
                return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): JSON syntax error: "
                               "%s", name, rec, line, je.text);
            int rc = json_record(name, o, rec, line, rv, err);
            json_decref(o);
            if (rc != IC_OK)
                return rc;
        }
        p = e + 1;
    }
    return IC_OK;
}

// --- CSV / TSV (RFC 4180) ---------------------------------------------------

struct fields {
    struct ic_buf *f;
    size_t n, cap;
};

static struct ic_buf *field_next(struct fields *fs)
{
    if (fs->n == fs->cap) {
        size_t nc = fs->cap ? fs->cap * 2 : 8;
        fs->f = ic_xrealloc(fs->f, nc * sizeof *fs->f);
        for (size_t i = fs->cap; i < nc; i++)
            ic_buf_init(&fs->f[i], IC_DATA_MAX_TEXT * 4);
        fs->cap = nc;
    }
    ic_buf_reset(&fs->f[fs->n]);
    return &fs->f[fs->n++];
}

static void fields_free(struct fields *fs)
{
    for (size_t i = 0; i < fs->cap; i++)
        ic_buf_free(&fs->f[i]);
    ic_free(fs->f);
}

/* Reads one record starting at *p; *line is the current line (advanced). */
static int csv_record(const char *name, const char *buf, size_t len, size_t *pp, int *line,
                      char delim, struct fields *fs, int rec, struct ic_err *err)
{
    size_t p = *pp;
    int start_line = *line;
    fs->n = 0;
    for (;;) {
        struct ic_buf *f = field_next(fs);
        int rc = IC_OK;
        if (p < len && buf[p] == '"') {
            p++;
            for (;;) {
                if (p >= len)
                    return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): unterminated "
                                   "quoted field", name, rec, start_line);
                if (buf[p] == '"') {
                    if (p + 1 < len && buf[p + 1] == '"') {
                        rc = ic_buf_append(f, "\"", 1);
                        p += 2;
                        if (rc != IC_OK)
                            break;
                        continue;
                    }
                    p++;
                    break;
                }
                if (buf[p] == '\n')
                    (*line)++;
                rc = ic_buf_append(f, buf + p, 1);
                p++;
                if (rc != IC_OK)
                    break;
            }
            if (rc == IC_OK && p < len && buf[p] != delim && buf[p] != '\n' &&
                !(buf[p] == '\r' && (p + 1 >= len || buf[p + 1] == '\n')))
                return ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): unexpected "
                               "character after a closing quote", name, rec, *line);
        } else {
            size_t a = p;
            while (p < len && buf[p] != delim && buf[p] != '\n')
                p++;
            size_t e = p;
            if (e > a && buf[e - 1] == '\r' && (p >= len || buf[p] == '\n'))
                e--;
            rc = ic_buf_append(f, buf + a, e - a);
        }
        if (rc != IC_OK)
            return ic_errf(err, IC_ERR_RANGE, "%s: record %d (line %d): field too long", name,
                           rec, start_line);
        if (p < len && buf[p] == delim) {
            p++;
            continue;
        }
        if (p < len && buf[p] == '\r')
            p++;
        if (p < len && buf[p] == '\n') {
            p++;
            (*line)++;
        }
        break;
    }
    *pp = p;
    return IC_OK;
}

static int parse_csv(const char *name, const char *buf, size_t len, char delim,
                     struct rawvec *rv, struct ic_err *err)
{
    struct fields fs = {0};
    size_t p = 0;
    int line = 1, rc;
    long ct = -1, cl = -1;
    const char *lname = "intent";
    /* header (skip leading blank lines) */
    while (p < len && (buf[p] == '\n' || buf[p] == '\r')) {
        line += buf[p] == '\n';
        p++;
    }
    int hline = line;
    rc = csv_record(name, buf, len, &p, &line, delim, &fs, 0, err);
    if (rc != IC_OK) {
        ic_err_prefix(err, "header: ");
        goto out;
    }
    for (size_t i = 0; i < fs.n; i++) {
        size_t hl;
        char *h = trim_dup(fs.f[i].data ? fs.f[i].data : "", fs.f[i].len, &hl);
        for (char *q = h; *q; q++)
            *q = (char)tolower((unsigned char)*q);
        if (strcmp(h, "text") == 0 && ct < 0)
            ct = (long)i;
        else if (strcmp(h, "intent") == 0)
            cl = (long)i, lname = "intent";
        else if (strcmp(h, "label") == 0 && cl < 0)
            cl = (long)i, lname = "label";
        ic_free(h);
    }
    if (rv->unlabelled)
        cl = ct; /* the intent column, if any, is ignored */
    if (ct < 0 || cl < 0) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %d: the header row has no \"%s\" column "
                     "(expected columns \"text\" and \"intent\" or \"label\")", name, hline,
                     ct < 0 ? "text" : "intent");
        goto out;
    }
    int rec = 0;
    while (p < len) {
        int rline = line;
        /* blank line */
        size_t q = p;
        while (q < len && buf[q] == '\r')
            q++;
        if (q >= len || buf[q] == '\n') {
            p = q < len ? q + 1 : q;
            line++;
            continue;
        }
        rec++;
        if (rec > IC_DATA_MAX_RECORDS) {
            rc = ic_errf(err, IC_ERR_RANGE, "%s: more than %d records", name,
                         IC_DATA_MAX_RECORDS);
            goto out;
        }
        rc = csv_record(name, buf, len, &p, &line, delim, &fs, rec, err);
        if (rc != IC_OK)
            goto out;
        size_t need = (size_t)(ct > cl ? ct : cl) + 1;
        if (fs.n < need) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): %zu field%s, expected at "
                         "least %zu (missing field \"%s\")", name, rec, rline, fs.n,
                         fs.n == 1 ? "" : "s", need, fs.n <= (size_t)ct ? "text" : lname);
            goto out;
        }
        char *text, *intent;
        rc = check_value(name, rec, rline, "text", fs.f[ct].data ? fs.f[ct].data : "",
                         fs.f[ct].len, IC_DATA_MAX_TEXT, &text, err);
        if (rc != IC_OK)
            goto out;
        if (rv->unlabelled) {
            intent = ic_xstrdup("");
        } else {
            rc = check_value(name, rec, rline, lname, fs.f[cl].data ? fs.f[cl].data : "",
                             fs.f[cl].len, IC_DATA_MAX_LABEL, &intent, err);
        }
        if (rc != IC_OK) {
            ic_free(text);
            goto out;
        }
        raw_push(rv, text, intent, rec, rline);
    }
    rc = IC_OK;
out:
    fields_free(&fs);
    return rc;
}

// --- labels, warnings -------------------------------------------------------

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

struct lab_ix {
    const char *name;
    int id;
};
static int cmp_lab_ix(const void *a, const void *b)
{
    return strcmp(((const struct lab_ix *)a)->name, ((const struct lab_ix *)b)->name);
}

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ull;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

static void find_duplicates(struct ic_dataset *d)
{
    size_t cap = 16;
    while (cap < d->n * 2)
        cap *= 2;
    int64_t *tab = ic_xmalloc(cap * sizeof *tab);
    for (size_t i = 0; i < cap; i++)
        tab[i] = -1;
    size_t shown_dup = 0, shown_conf = 0;
    for (size_t i = 0; i < d->n; i++) {
        size_t h = (size_t)fnv1a(d->ex[i].text) & (cap - 1);
        while (tab[h] >= 0 && strcmp(d->ex[tab[h]].text, d->ex[i].text) != 0)
            h = (h + 1) & (cap - 1);
        if (tab[h] < 0) {
            tab[h] = (int64_t)i;
            continue;
        }
        const struct ic_example *first = &d->ex[tab[h]], *e = &d->ex[i];
        if (first->label == e->label) {
            d->n_duplicates++;
            if (shown_dup++ < 3)
                ic_log(IC_LOG_WARN, "%s: record %d (line %d): duplicate of record %d", d->path,
                       e->record, e->line, first->record);
        } else {
            d->n_conflicts++;
            if (shown_conf++ < 5)
                ic_log(IC_LOG_WARN, "%s: record %d (line %d): same text as record %d but intent "
                       "\"%s\" instead of \"%s\"", d->path, e->record, e->line, first->record,
                       d->labels[e->label], d->labels[first->label]);
        }
    }
    if (d->n_duplicates > 3)
        ic_log(IC_LOG_WARN, "%s: %zu duplicate records in all", d->path, d->n_duplicates);
    if (d->n_conflicts > 5)
        ic_log(IC_LOG_WARN, "%s: %zu records with conflicting intents in all", d->path,
               d->n_conflicts);
    ic_free(tab);
}

void ic_dataset_free(struct ic_dataset *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n; i++)
        ic_free(d->ex[i].text);
    ic_free(d->ex);
    for (int i = 0; i < d->n_labels; i++)
        ic_free(d->labels[i]);
    ic_free(d->labels);
    ic_free(d->label_counts);
    ic_free(d->path);
    memset(d, 0, sizeof *d);
}

static int ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), m = strlen(suf);
    return n >= m && strcasecmp(s + n - m, suf) == 0;
}

int ic_dataset_parse(struct ic_dataset *d, const char *name, const char *buf, size_t len,
                     const char *const *labels, int n_labels, int min_labels, struct ic_err *err)
{
    memset(d, 0, sizeof *d);
    d->path = ic_xstrdup(name);
    struct rawvec rv = {0};
    struct lab_ix *ix = NULL;
    int rc;
    rv.unlabelled = min_labels == IC_DATA_UNLABELLED;
    size_t bom = len >= 3 && memcmp(buf, "\xEF\xBB\xBF", 3) == 0 ? 3 : 0;
    buf += bom;
    len -= bom;
    size_t bad = len;
    const char *nul = memchr(buf, 0, len);
    if (!ic_utf8_valid(buf, len, &bad) && (!nul || bad < (size_t)(nul - buf))) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %d: invalid UTF-8 (byte offset %zu)", name,
                     1 + count_lines(buf, 0, bad), bom + bad);
        goto out;
    }
    if (nul) { /* in no format can a raw NUL byte be part of a record */
        size_t at = (size_t)(nul - buf);
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: line %d: NUL byte (byte offset %zu); the file must "
                     "be UTF-8 text (not UTF-16)", name, 1 + count_lines(buf, 0, at), bom + at);
        goto out;
    }
    size_t p = skip_ws(buf, len, 0);
    if (ends_with(name, ".csv")) {
        rc = parse_csv(name, buf, len, ',', &rv, err);
    } else if (ends_with(name, ".tsv") || ends_with(name, ".tab")) {
        rc = parse_csv(name, buf, len, '\t', &rv, err);
    } else if (p < len && buf[p] == '[' && !ends_with(name, ".jsonl") &&
               !ends_with(name, ".ndjson")) {
        rc = parse_json_array(name, buf, len, p, &rv, err);
    } else if (p < len && (buf[p] == '{' || ends_with(name, ".jsonl") ||
                           ends_with(name, ".ndjson") || ends_with(name, ".json"))) {
        rc = parse_jsonl(name, buf, len, &rv, err);
    } else if (p < len) {
        /* Unknown extension, not JSON: a delimited file; tab if the header has one. */
        size_t e = p;
        while (e < len && buf[e] != '\n' && buf[e] != '\t')
            e++;
        rc = parse_csv(name, buf, len, e < len && buf[e] == '\t' ? '\t' : ',', &rv, err);
    } else {
        rc = IC_OK;
    }
    if (rc != IC_OK)
        goto out;
    if (rv.n == 0) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: no records", name);
        goto out;
    }

    /* label set */
    if (!labels) {
        const char **names = ic_xmalloc(rv.n * sizeof *names);
        for (size_t i = 0; i < rv.n; i++)
            names[i] = rv.v[i].intent;
        qsort(names, rv.n, sizeof *names, cmp_str_ptr);
        size_t u = 0;
        for (size_t i = 0; i < rv.n; i++)
            if (u == 0 || strcmp(names[u - 1], names[i]) != 0)
                names[u++] = names[i];
        if (u > IC_DATA_MAX_LABELS) {
            ic_free(names);
            rc = ic_errf(err, IC_ERR_RANGE, "%s: %zu intents (limit %d)", name, u,
                         IC_DATA_MAX_LABELS);
            goto out;
        }
        d->labels = ic_xmalloc(u * sizeof *d->labels);
        for (size_t i = 0; i < u; i++)
            d->labels[i] = ic_xstrdup(names[i]);
        d->n_labels = (int)u;
        ic_free(names);
    } else {
        d->labels = ic_xmalloc((size_t)(n_labels > 0 ? n_labels : 1) * sizeof *d->labels);
        for (int i = 0; i < n_labels; i++)
            d->labels[i] = ic_xstrdup(labels[i]);
        d->n_labels = n_labels;
    }
    if (d->n_labels < min_labels) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: found %d intent%s%s%s%s; at least %d are needed to "
                     "train a classifier", name, d->n_labels, d->n_labels == 1 ? "" : "s",
                     d->n_labels == 1 ? " (\"" : "", d->n_labels == 1 ? d->labels[0] : "",
                     d->n_labels == 1 ? "\")" : "", min_labels);
        goto out;
    }
    ix = ic_xmalloc((size_t)(d->n_labels > 0 ? d->n_labels : 1) * sizeof *ix);
    for (int i = 0; i < d->n_labels; i++)
        ix[i] = (struct lab_ix){d->labels[i], i};
    qsort(ix, (size_t)d->n_labels, sizeof *ix, cmp_lab_ix);

    d->ex = ic_xcalloc(rv.n, sizeof *d->ex);
    d->label_counts = ic_xcalloc((size_t)(d->n_labels > 0 ? d->n_labels : 1), sizeof(int));
    for (size_t i = 0; i < rv.n; i++) {
        struct lab_ix key = {rv.v[i].intent, 0};
        struct lab_ix *f = bsearch(&key, ix, (size_t)d->n_labels, sizeof *ix, cmp_lab_ix);
        if (!f) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s: record %d (line %d): unknown intent \"%s\" "
                         "(not among the %d known intents)", name, rv.v[i].record, rv.v[i].line,
                         rv.v[i].intent, d->n_labels);
            goto out;
        }
        d->ex[i].text = rv.v[i].text;
        rv.v[i].text = NULL;
        d->ex[i].label = f->id;
        d->ex[i].record = rv.v[i].record;
        d->ex[i].line = rv.v[i].line;
        d->label_counts[f->id]++;
        d->n = i + 1;
    }
    if (rv.unlabelled) { /* a corpus: repeated texts are normal, no label warnings */
        rc = IC_OK;
        goto out;
    }
    find_duplicates(d);
    if (!labels) {
        int shown = 0;
        for (int i = 0; i < d->n_labels; i++) {
            if (d->label_counts[i] != 1)
                continue;
            d->n_singletons++;
            if (shown++ < 5)
                ic_log(IC_LOG_WARN, "%s: intent \"%s\" has a single example (it can only be "
                       "trained on, not evaluated)", name, d->labels[i]);
        }
        if (d->n_singletons > 5)
            ic_log(IC_LOG_WARN, "%s: %d intents have a single example", name, d->n_singletons);
    }
    rc = IC_OK;
out:
    ic_free(ix);
    raw_free(&rv);
    if (rc != IC_OK)
        ic_dataset_free(d);
    return rc;
}

static int load(struct ic_dataset *d, const char *path, const char *const *labels, int n_labels,
                int min_labels, struct ic_err *err)
{
    memset(d, 0, sizeof *d);
    char *buf = NULL;
    size_t len = 0;
    int rc = ic_read_file(path, IC_DATA_MAX_FILE, &buf, &len, err);
    if (rc != IC_OK)
        return rc;
    rc = ic_dataset_parse(d, path, buf, len, labels, n_labels, min_labels, err);
    ic_free(buf);
    return rc;
}

int ic_dataset_load(struct ic_dataset *d, const char *path, struct ic_err *err)
{
    return load(d, path, NULL, 0, 2, err);
}

int ic_dataset_load_with_labels(struct ic_dataset *d, const char *path,
                                const char *const *labels, int n_labels, struct ic_err *err)
{
    return load(d, path, labels, n_labels, 0, err);
}

int ic_dataset_label_id(const struct ic_dataset *d, const char *name)
{
    for (int i = 0; i < d->n_labels; i++)
        if (strcmp(d->labels[i], name) == 0)
            return i;
    return -1;
}

// --- split ------------------------------------------------------------------

struct remainder {
    double frac;
    int label;
};
static int cmp_rem(const void *a, const void *b)
{
    const struct remainder *x = a, *y = b;
    if (x->frac != y->frac)
        return x->frac > y->frac ? -1 : 1;
    return x->label - y->label;
}
static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

int ic_dataset_split(const struct ic_dataset *d, double eval_fraction, uint64_t seed,
                     uint32_t **train_idx, size_t *n_train, uint32_t **eval_idx, size_t *n_eval,
                     struct ic_err *err)
{
    *train_idx = *eval_idx = NULL;
    *n_train = *n_eval = 0;
    if (!(eval_fraction >= 0 && eval_fraction < 1))
        return ic_errf(err, IC_ERR_RANGE, "eval_fraction %g is not in [0, 1)", eval_fraction);
    if (d->n > UINT32_MAX)
        return ic_errf(err, IC_ERR_RANGE, "%s: too many records to split", d->path);
    int L = d->n_labels;
    int *take = ic_xcalloc((size_t)L, sizeof *take);
    struct remainder *rem = ic_xmalloc((size_t)L * sizeof *rem);
    /* per-intent eval counts: floor, then largest remainder up to the total */
    size_t total = (size_t)(eval_fraction * (double)d->n + 0.5), given = 0;
    for (int l = 0; l < L; l++) {
        double x = eval_fraction * d->label_counts[l];
        take[l] = (int)x;
        rem[l] = (struct remainder){x - take[l], l};
        given += (size_t)take[l];
    }
    qsort(rem, (size_t)L, sizeof *rem, cmp_rem);
    for (int k = 0; k < L && given < total; k++) {
        if (rem[k].frac <= 0)
            break;
        take[rem[k].label]++;
        given++;
    }
    if (eval_fraction > 0) {
        for (int l = 0; l < L; l++) {
            int c = d->label_counts[l];
            if (c >= 2 && take[l] < 1)
                take[l] = 1;
            if (c >= 2 && take[l] > c - 1)
                take[l] = c - 1;
            if (c < 2)
                take[l] = 0;
        }
    }
    /* indices per label, file order, then a seeded shuffle per label */
    uint32_t *byl = ic_xmalloc((d->n ? d->n : 1) * sizeof *byl);
    size_t *start = ic_xcalloc((size_t)L + 1, sizeof *start);
    for (int l = 0; l < L; l++)
        start[l + 1] = start[l] + (size_t)d->label_counts[l];
    size_t *fill = ic_xmalloc(((size_t)L + 1) * sizeof *fill);
    memcpy(fill, start, ((size_t)L + 1) * sizeof *fill);
    for (size_t i = 0; i < d->n; i++)
        byl[fill[d->ex[i].label]++] = (uint32_t)i;
    struct ic_rng rng;
    ic_rng_seed(&rng, seed ^ 0x5eedda7a5e7ull);
    uint32_t *tr = ic_xmalloc((d->n ? d->n : 1) * sizeof *tr);
    uint32_t *ev = ic_xmalloc((d->n ? d->n : 1) * sizeof *ev);
    size_t nt = 0, ne = 0;
    for (int l = 0; l < L; l++) {
        size_t c = start[l + 1] - start[l];
        ic_rng_shuffle_u32(&rng, byl + start[l], c);
        for (size_t k = 0; k < c; k++) {
            if (k < (size_t)take[l])
                ev[ne++] = byl[start[l] + k];
            else
                tr[nt++] = byl[start[l] + k];
        }
    }
    qsort(tr, nt, sizeof *tr, cmp_u32);
    qsort(ev, ne, sizeof *ev, cmp_u32);
    ic_free(take);
    ic_free(rem);
    ic_free(byl);
    ic_free(start);
    ic_free(fill);
    *train_idx = tr;
    *n_train = nt;
    *eval_idx = ev;
    *n_eval = ne;
    return IC_OK;
}
