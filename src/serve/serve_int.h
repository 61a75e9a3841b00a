/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_int.h - internals shared by the server's files.
 */
#ifndef IC_SERVE_INT_H
#define IC_SERVE_INT_H

#include <stddef.h>

#include "intent/ic.h"

/* One route as the OpenAPI document describes it (server.c's route table
 * holds one per route, next to its handler). Schema names refer to
 * components/schemas of openapi.c. */
struct ic__api_op {
    const char *path, *method; /* "/classify", "POST" */
    const char *metric;        /* route label of the /metrics series */
    int body;                  /* 1: takes a JSON request body */
    const char *id, *summary, *tag, *description;
    const char *request;       /* request body schema, or NULL */
    const char *response;      /* 200 body schema */
    const char *media;         /* 200 media type: "application/json", "text/plain", ... */
    const char *errors;        /* "413:Detail 422:HTTPValidationError": status:schema */
    int access;                /* IC__ACCESS_*: who may call it with --api-key */
    const char *unauth;        /* its 401 body's schema with --api-key (NULL: no body) */
};

/* With --api-key: key needed / open with --open-health / always open. */
enum { IC__ACCESS_KEY, IC__ACCESS_HEALTH, IC__ACCESS_OPEN };

/* The route table (server.c): entry i, or NULL past the end. */
const struct ic__api_op *ic__server_api_op(int i);

/* Builds the OpenAPI 3.1 document of the routes that ic__server_api_op
 * lists. legacy_errors selects FastAPI 0.9x's ValidationError schema
 * instead of pydantic 2's. bearer (--api-key set): an HTTP bearer security
 * scheme ("HTTPBearer", FastAPI's name), required by the routes that need
 * the key (with open_health, /health, /ready and /metrics do not), which
 * also document their 401. Returns compact JSON text (ic_free) or NULL on
 * error (err says why). */
char *ic__openapi_build(int legacy_errors, int bearer, int open_health, size_t *len,
                        struct ic_err *err);

/* --- operations (ops.c) --- */

#define IC__RID_MAX 129 /* request id: up to 128 characters + NUL */

/* The request id: the client's X-Request-Id when it is 1..128 characters
 * of [A-Za-z0-9._:-], else a fresh 32-hex-digit id. */
void ic__request_id(const char *given, char out[IC__RID_MAX]);

/* 1 when the Authorization header value is "Bearer <key>" (compared in
 * constant time). */
int ic__bearer_ok(const char *authorization, const char *key);

/* The Access-Control-Allow-Origin value for a request from origin, given
 * --cors-origin's list ("*" or "https://a.example,https://b.example"):
 * "*", origin itself, or NULL (not allowed / no CORS). */
const char *ic__cors_allow(const char *allowed, const char *origin);

/* One access log line (ends in a newline) appended to b. */
struct ic__access {
    double wall;        /* request start, seconds since the epoch */
    const char *remote; /* client address */
    const char *method, *path, *rid;
    int status;
    size_t bytes;       /* response body bytes */
    double duration_ms;
};
void ic__access_line(struct ic_buf *b, int json, const struct ic__access *a);

/* Static pages (openapi.c). */
const char *ic__docs_html(size_t *len);
const char *ic__redoc_html(size_t *len);

#endif
