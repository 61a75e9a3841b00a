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
};

/* The route table (server.c): entry i, or NULL past the end. */
const struct ic__api_op *ic__server_api_op(int i);

/* Builds the OpenAPI 3.1 document of the routes that ic__server_api_op
 * lists. legacy_errors selects FastAPI 0.9x's ValidationError schema
 * instead of pydantic 2's. Returns compact JSON text (ic_free) or NULL on
 * error (err says why). */
char *ic__openapi_build(int legacy_errors, size_t *len, struct ic_err *err);

/* Static pages (openapi.c). */
const char *ic__docs_html(size_t *len);
const char *ic__redoc_html(size_t *len);

#endif
