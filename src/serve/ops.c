/* SPDX-License-Identifier: Apache-2.0 */
/*
 * ops.c - what operators expect around the routes: request ids, the access
 * log line, bearer-token checks and CORS origin matching (see serve_int.h).
 * No sockets here: the server passes header values in.
 */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "serve/serve_int.h"

/* A client's id is kept when it is 1..IC__RID_MAX-1 characters of
 * [A-Za-z0-9._:-] (what proxies and tracing headers use); anything else is
 * replaced, so the id is safe in headers and log lines. */
static int rid_ok(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        int ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
                 ch == '.' || ch == '_' || ch == ':' || ch == '-';
        if (!ok || n + 1 >= IC__RID_MAX)
            return 0;
    }
    return n > 0;
}

/* splitmix64: ids need to be unique, not secret. */
static uint64_t mix(uint64_t x)
{
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

void ic__request_id(const char *given, char out[IC__RID_MAX])
{
    static atomic_ullong counter;
    static _Atomic uint64_t seed;
    if (given && rid_ok(given)) {
        snprintf(out, IC__RID_MAX, "%s", given);
        return;
    }
    if (!seed) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        seed = mix((uint64_t)ts.tv_sec * 1000000007ULL ^ (uint64_t)ts.tv_nsec ^
                   (uint64_t)(uintptr_t)&counter);
    }
    uint64_t n = atomic_fetch_add(&counter, 1);
    snprintf(out, IC__RID_MAX, "%016llx%016llx", (unsigned long long)mix(seed ^ n),
             (unsigned long long)mix(~seed + n));
}

int ic__bearer_ok(const char *authorization, const char *key)
{
    static const char pre[] = "Bearer ";
    if (!authorization || strncmp(authorization, pre, sizeof pre - 1) != 0)
        return 0;
    const char *got = authorization + sizeof pre - 1;
    size_t gl = strlen(got), kl = strlen(key);
    /* constant time in the key's content (the length is not a secret) */
    unsigned diff = gl != kl;
    for (size_t i = 0; i < kl; i++)
        diff |= (unsigned char)key[i] ^ (unsigned char)(i < gl ? got[i] : 0);
    return diff == 0;
}

const char *ic__cors_allow(const char *allowed, const char *origin)
{
    if (!allowed || !origin || !*origin)
        return NULL;
    if (strcmp(allowed, "*") == 0)
        return "*";
    size_t ol = strlen(origin);
    for (const char *p = allowed; *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',' && *e != ' ')
            e++;
        if ((size_t)(e - p) == ol && strncmp(p, origin, ol) == 0)
            return origin;
        p = e;
    }
    return NULL;
}

/* Text-format field: printable ASCII without spaces or quotes as is, other
 * bytes as %XX, so one request is always one line of space-separated fields. */
static void put_field(struct ic_buf *b, const char *s)
{
    int rc = 0;
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch > 0x20 && ch < 0x7f && ch != '"' && ch != '%')
            rc |= ic_buf_append(b, s, 1);
        else
            rc |= ic_buf_printf(b, "%%%02X", ch);
    }
    (void)rc;
}

void ic__access_line(struct ic_buf *b, int json, const struct ic__access *a)
{
    char when[40];
    time_t sec = (time_t)a->wall;
    struct tm tm;
    gmtime_r(&sec, &tm);
    size_t k = strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when + k, sizeof when - k, ".%03dZ", (int)((a->wall - (double)sec) * 1000.0));
    int rc = 0;
    if (json) {
        rc |= ic_buf_printf(b, "{\"time\":\"%s\",\"remote\":", when);
        rc |= ic_buf_json_str(b, a->remote, strlen(a->remote));
        rc |= ic_buf_printf(b, ",\"method\":");
        rc |= ic_buf_json_str(b, a->method, strlen(a->method));
        rc |= ic_buf_printf(b, ",\"path\":");
        rc |= ic_buf_json_str(b, a->path, strlen(a->path));
        rc |= ic_buf_printf(b, ",\"status\":%d,\"bytes\":%zu,\"duration_ms\":%.3f,"
                               "\"request_id\":", a->status, a->bytes, a->duration_ms);
        rc |= ic_buf_json_str(b, a->rid, strlen(a->rid));
        rc |= ic_buf_printf(b, "}\n");
    } else {
        rc |= ic_buf_printf(b, "%s %s ", when, a->remote);
        put_field(b, a->method);
        rc |= ic_buf_printf(b, " ");
        put_field(b, a->path);
        rc |= ic_buf_printf(b, " %d %zu %.3fms %s\n", a->status, a->bytes, a->duration_ms,
                            a->rid);
    }
    (void)rc;
}
