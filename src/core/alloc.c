/* SPDX-License-Identifier: Apache-2.0 */
/*
 * alloc.c - the only place that calls malloc/free directly, plus the capped
 * growable buffer. Allocation failure aborts: every size that comes from
 * untrusted input is capped by its parser before it gets here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"

/* Number of allocations made through this file (for tests that check a hot
 * path allocates nothing). Relaxed atomic: a statistic, not a barrier. */
static unsigned long long n_allocs;
#define COUNT_ALLOC() __atomic_add_fetch(&n_allocs, 1, __ATOMIC_RELAXED)

unsigned long long ic_alloc_count(void)
{
    return __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
}

static void oom(size_t n)
{
    fprintf(stderr, "intent: out of memory allocating %zu bytes\n", n);
    fflush(stderr);
    abort();
}

void *ic_xmalloc(size_t n)
{
    COUNT_ALLOC();
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *ic_xcalloc(size_t count, size_t size)
{
    COUNT_ALLOC();
    if (size && count > SIZE_MAX / size)
        oom(SIZE_MAX);
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (!p)
        oom(count * size);
    return p;
}

void *ic_xrealloc(void *p, size_t n)
{
    COUNT_ALLOC();
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *ic_xstrdup(const char *s)
{
    return ic_xstrndup(s, strlen(s));
}

char *ic_xstrndup(const char *s, size_t n)
{
    char *p = ic_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = 0;
    return p;
}

void ic_free(void *p)
{
    free(p);
}

void *ic_alloc_aligned(size_t n)
{
    COUNT_ALLOC();
    void *p = NULL;
    size_t sz = (n + 63) & ~(size_t)63;
    if (sz < n || posix_memalign(&p, 64, sz ? sz : 64) != 0)
        oom(n);
    memset(p, 0, sz ? sz : 64);
    return p;
}

void ic_free_aligned(void *p)
{
    free(p);
}

char *ic_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    IC_ASSERT(n >= 0);
    char *s = ic_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

/* --- ic_buf -------------------------------------------------------------- */

void ic_buf_init(struct ic_buf *b, size_t toobig)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->toobig = toobig;
}

static int buf_reserve(struct ic_buf *b, size_t extra)
{
    if (extra > SIZE_MAX - b->len - 1)
        return IC_ERR_RANGE;
    size_t need = b->len + extra + 1;
    if (b->toobig && need > b->toobig + 1)
        return IC_ERR_RANGE;
    if (need <= b->cap)
        return IC_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap = cap * 2 < cap ? need : cap * 2;
    b->data = ic_xrealloc(b->data, cap);
    b->cap = cap;
    return IC_OK;
}

int ic_buf_append(struct ic_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return IC_OK;
}

int ic_buf_printf(struct ic_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return IC_ERR_INVAL;
    int rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return IC_OK;
}

int ic_buf_json_str(struct ic_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start_len = b->len;
    int rc = ic_buf_append(b, "\"", 1);
    for (size_t i = 0; rc == IC_OK && i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[7];
        size_t k = 0;
        switch (c) {
        case '"': esc[k++] = '\\'; esc[k++] = '"'; break;
        case '\\': esc[k++] = '\\'; esc[k++] = '\\'; break;
        case '\n': esc[k++] = '\\'; esc[k++] = 'n'; break;
        case '\r': esc[k++] = '\\'; esc[k++] = 'r'; break;
        case '\t': esc[k++] = '\\'; esc[k++] = 't'; break;
        case '\b': esc[k++] = '\\'; esc[k++] = 'b'; break;
        case '\f': esc[k++] = '\\'; esc[k++] = 'f'; break;
        default:
            if (c < 0x20 || c == 0x7f) {
                esc[k++] = '\\'; esc[k++] = 'u'; esc[k++] = '0'; esc[k++] = '0';
                esc[k++] = hex[c >> 4]; esc[k++] = hex[c & 15];
            } else {
                esc[k++] = (char)c;
            }
        }
        rc = ic_buf_append(b, esc, k);
    }
    if (rc == IC_OK)
        rc = ic_buf_append(b, "\"", 1);
    if (rc) {
        b->len = start_len;
        if (b->data)
            b->data[b->len] = 0;
    }
    return rc;
}

void ic_buf_reset(struct ic_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

char *ic_buf_take(struct ic_buf *b)
{
    char *p = b->data;
    if (!p)
        p = ic_xstrdup("");
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void ic_buf_free(struct ic_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
