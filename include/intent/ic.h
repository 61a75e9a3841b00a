/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ic.h - the core of libintent: status codes, error detail, logging,
 * allocation and small file helpers shared by every module.
 *
 * Library code never exits and never prints: it returns an enum ic_status,
 * fills an optional struct ic_err with a one-line message that names the
 * file, record or field at fault, and logs through a settable callback.
 * Only src/cli/ turns statuses into exit codes.
 */
#ifndef IC_IC_H
#define IC_IC_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define IC_VERSION "0.1.0"

#if defined(__GNUC__)
#define IC_WUR __attribute__((warn_unused_result))
#define IC_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define IC_WUR
#define IC_PRINTF(a, b)
#endif

/* ---------------------------------------------------------------------------
 * Status codes: one X-macro list gives the enum and ic_status_str(). */
#define IC_STATUS_MAP(X)                                                    \
    X(OK, "ok")                                                             \
    X(ERR_IO, "input/output error")                                         \
    X(ERR_FORMAT, "malformed input")                                        \
    X(ERR_INVAL, "invalid argument")                                        \
    X(ERR_RANGE, "value out of range")                                      \
    X(ERR_UNSUPPORTED, "unsupported")                                       \
    X(ERR_NET, "network error")                                             \
    X(ERR_NOMEM, "out of memory")                                           \
    X(ERR_NOTFOUND, "not found")                                            \
    X(ERR_INTERRUPTED, "interrupted")

enum ic_status {
#define IC_STATUS_ENUM(name, str) IC_##name,
    IC_STATUS_MAP(IC_STATUS_ENUM)
#undef IC_STATUS_ENUM
    IC_STATUS_COUNT
};

const char *ic_status_str(int status);

/* Error detail. Pass NULL where the caller does not want the message. */
#define IC_ERR_MSG_MAX 512
struct ic_err {
    int code;                  /* enum ic_status */
    char msg[IC_ERR_MSG_MAX];  /* "file.json: record 12: missing field \"text\"" */
};

/* Fills err (if not NULL) and returns code, so a failure is one line:
 *     return ic_errf(err, IC_ERR_FORMAT, "%s: header length past end", path); */
int ic_errf(struct ic_err *err, int code, const char *fmt, ...) IC_PRINTF(3, 4);
/* Prefixes the existing message: "ctx: old message". Returns err->code. */
int ic_err_prefix(struct ic_err *err, const char *fmt, ...) IC_PRINTF(2, 3);
void ic_err_clear(struct ic_err *err);

/* ---------------------------------------------------------------------------
 * Logging. Default sink writes "intent: warning: ..." to stderr for
 * WARN/ERROR and "intent: ..." for INFO, and drops DEBUG unless
 * INTENT_LOG=debug. Thread-safe; the callback may be replaced. */
enum ic_log_level { IC_LOG_DEBUG, IC_LOG_INFO, IC_LOG_WARN, IC_LOG_ERROR };
typedef void (*ic_log_fn)(enum ic_log_level level, const char *msg, void *ud);
void ic_log_set(ic_log_fn fn, void *ud);
void ic_log_set_level(enum ic_log_level min_level);
void ic_log(enum ic_log_level level, const char *fmt, ...) IC_PRINTF(2, 3);

/* ---------------------------------------------------------------------------
 * Assertions for invariants (programmer errors). Always on. */
void ic_assert_fail(const char *expr, const char *file, int line);
#define IC_ASSERT(x) ((x) ? (void)0 : ic_assert_fail(#x, __FILE__, __LINE__))
#ifdef NDEBUG
#define IC_DASSERT(x) ((void)0)
#else
#define IC_DASSERT(x) IC_ASSERT(x)
#endif

/* ---------------------------------------------------------------------------
 * Allocation. ic_x* abort on out-of-memory (sizes from untrusted input must be
 * capped BEFORE reaching them). ic_free(NULL) is fine. ic_alloc_aligned gives
 * 64-byte aligned memory, released with ic_free_aligned. */
void *ic_xmalloc(size_t n);
void *ic_xcalloc(size_t count, size_t size);
void *ic_xrealloc(void *p, size_t n);
char *ic_xstrdup(const char *s);
char *ic_xstrndup(const char *s, size_t n);
void ic_free(void *p);
void *ic_alloc_aligned(size_t n); /* zeroed, 64-byte aligned, aborts on OOM */
void ic_free_aligned(void *p);
/* How many allocations ic_xmalloc/ic_xcalloc/ic_xrealloc/ic_alloc_aligned (and
 * what is built on them) have made so far in this process; for tests that
 * check a hot path allocates nothing. */
unsigned long long ic_alloc_count(void);
/* snprintf into a fresh heap string; caller frees with ic_free. */
char *ic_xasprintf(const char *fmt, ...) IC_PRINTF(1, 2);

/* ---------------------------------------------------------------------------
 * Growable byte buffer with a size cap (cf. curl dynbuf). A failed append
 * (over the cap) returns IC_ERR_RANGE and leaves the buffer as it was. */
struct ic_buf {
    char *data;    /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    size_t toobig; /* 0 = no cap */
};
void ic_buf_init(struct ic_buf *b, size_t toobig);
int ic_buf_append(struct ic_buf *b, const void *p, size_t n) IC_WUR;
int ic_buf_printf(struct ic_buf *b, const char *fmt, ...) IC_PRINTF(2, 3) IC_WUR;
/* Appends s as a JSON string literal (quotes and escapes included). */
int ic_buf_json_str(struct ic_buf *b, const char *s, size_t n) IC_WUR;
void ic_buf_reset(struct ic_buf *b);        /* len = 0, keeps memory */
char *ic_buf_take(struct ic_buf *b);        /* caller frees with ic_free */
void ic_buf_free(struct ic_buf *b);

/* ---------------------------------------------------------------------------
 * Files. */
/* Reads a whole file (at most max_size bytes, else IC_ERR_RANGE). *out is
 * NUL-terminated; caller frees with ic_free. */
int ic_read_file(const char *path, size_t max_size, char **out, size_t *len,
                 struct ic_err *err) IC_WUR;
/* Writes data to path atomically: path.tmp.<pid>, fsync, rename. On failure the
 * old file at path (if any) is untouched and the temporary is removed. */
int ic_write_file_atomic(const char *path, const void *data, size_t len,
                         struct ic_err *err) IC_WUR;
/* mkdir -p. */
int ic_mkdirs(const char *path, struct ic_err *err) IC_WUR;
int ic_path_exists(const char *path);
int ic_is_dir(const char *path);
/* Joins a and b with one '/'; caller frees with ic_free. */
char *ic_path_join(const char *a, const char *b);
/* Removes a directory tree (best effort, no symlink following). */
int ic_rmtree(const char *path);

/* Validates UTF-8. Returns 1 if s[0..n) is valid, else 0 and sets *bad_off. */
int ic_utf8_valid(const char *s, size_t n, size_t *bad_off);

/* Monotonic and wall clocks. */
double ic_time_now(void);     /* monotonic seconds */
int64_t ic_time_ms(void);     /* wall clock, ms since the epoch */

/* ---------------------------------------------------------------------------
 * Deterministic RNG (explicit state, no globals). xoshiro-style 64-bit
 * generator seeded by splitmix64. */
struct ic_rng {
    uint64_t s[4];
};
void ic_rng_seed(struct ic_rng *r, uint64_t seed);
uint64_t ic_rng_u64(struct ic_rng *r);
uint32_t ic_rng_below(struct ic_rng *r, uint32_t n); /* uniform in [0, n) */
float ic_rng_uniform(struct ic_rng *r);              /* [0, 1) */
float ic_rng_normal(struct ic_rng *r);               /* N(0, 1) */
void ic_rng_shuffle_u32(struct ic_rng *r, uint32_t *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
