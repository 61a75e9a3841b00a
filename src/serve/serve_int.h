/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_int.h - internals shared by the server's files.
 */
#ifndef IC_SERVE_INT_H
#define IC_SERVE_INT_H

#include <stddef.h>

#include "intent/ic.h"

/* Static documents (openapi.c). */
const char *ic__openapi_json(size_t *len);
const char *ic__docs_html(size_t *len);

#endif
