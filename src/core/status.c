/* SPDX-License-Identifier: Apache-2.0 */
/*
 * status.c - status strings, error detail, the log sink and assertions.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"

const char *ic_status_str(int status)
{
    static const char *names[] = {
#define IC_STATUS_STR(name, str) str,
        IC_STATUS_MAP(IC_STATUS_STR)
#undef IC_STATUS_STR
    };
    if (status < 0 || status >= IC_STATUS_COUNT)
        return "unknown status";
    return names[status];
}

int ic_errf(struct ic_err *err, int code, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
        err->code = code;
    }
    return code;
}

int ic_err_prefix(struct ic_err *err, const char *fmt, ...)
{
    if (!err)
        return IC_ERR_INVAL;
    char head[IC_ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(head, sizeof head, fmt, ap);
    va_end(ap);
    char old[IC_ERR_MSG_MAX];
    memcpy(old, err->msg, sizeof old);
    old[sizeof old - 1] = 0;
    size_t hl = strlen(head);
    if (hl > sizeof err->msg - 3)
        hl = sizeof err->msg - 3;
    memcpy(err->msg, head, hl);
    memcpy(err->msg + hl, ": ", 2);
    size_t room = sizeof err->msg - hl - 2;
    size_t ol = strlen(old);
    if (ol >= room)
        ol = room - 1;
    memcpy(err->msg + hl + 2, old, ol);
    err->msg[hl + 2 + ol] = 0;
    return err->code;
}

void ic_err_clear(struct ic_err *err)
{
    if (err) {
        err->code = IC_OK;
        err->msg[0] = 0;
    }
}

/* --- logging ------------------------------------------------------------ */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static ic_log_fn log_fn;
static void *log_ud;
static int log_min = -1; /* -1: not yet read from INTENT_LOG */

void ic_log_set(ic_log_fn fn, void *ud)
{
    pthread_mutex_lock(&log_lock);
    log_fn = fn;
    log_ud = ud;
    pthread_mutex_unlock(&log_lock);
}

void ic_log_set_level(enum ic_log_level min_level)
{
    pthread_mutex_lock(&log_lock);
    log_min = (int)min_level;
    pthread_mutex_unlock(&log_lock);
}

void ic_log(enum ic_log_level level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);

    pthread_mutex_lock(&log_lock);
    if (log_min < 0) {
        const char *e = getenv("INTENT_LOG");
        log_min = IC_LOG_INFO;
        if (e && strcmp(e, "debug") == 0)
            log_min = IC_LOG_DEBUG;
        else if (e && (strcmp(e, "warn") == 0 || strcmp(e, "quiet") == 0))
            log_min = IC_LOG_WARN;
        else if (e && strcmp(e, "error") == 0)
            log_min = IC_LOG_ERROR;
    }
    if ((int)level < log_min) {
        pthread_mutex_unlock(&log_lock);
        return;
    }
    if (log_fn) {
        log_fn(level, msg, log_ud);
    } else {
        const char *tag = level == IC_LOG_WARN    ? "warning: "
                          : level == IC_LOG_ERROR ? "error: "
                          : level == IC_LOG_DEBUG ? "debug: "
                                                  : "";
        fprintf(stderr, "intent: %s%s\n", tag, msg);
    }
    pthread_mutex_unlock(&log_lock);
}

void ic_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "intent: assertion failed: %s (%s:%d)\n", expr, file, line);
    fflush(stderr);
    abort();
}
