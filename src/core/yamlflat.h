/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamlflat.h - internal: reads a YAML file that is one flat mapping of
 * key: value (intent.yaml, shared by intent train and intent serve).
 * Nested mappings, lists and aliases are rejected with "file:line: ..."
 * messages; each key is paired with its scalar value.
 */
#ifndef IC_CORE_YAMLFLAT_H
#define IC_CORE_YAMLFLAT_H

#include <stddef.h>
#include <yaml.h>

#include "intent/ic.h"

struct ic__yaml_flat_opts {
    /* 1: nested values are reported as "key \"k\": expected a plain value, not a
     * mapping" / "... not a list" and aliases as "aliases are not supported";
     * 0: all three as "expected a flat mapping of key: value". */
    int detailed_errors;
    /* 1: a document that is one scalar may be empty, "~" or "null"; 0: only empty. */
    int null_document_ok;
    /* Called when a key is read, before its value; may be NULL. It may rewrite
     * key in place to a spelling of the same length (used in later messages and
     * passed to on_pair). A non-IC_OK return stops the read with that status
     * (err set by the callback). */
    int (*on_key)(void *ud, char *key, size_t key_line, struct ic_err *err);
    /* Called for each key with its scalar value (the text as written; is_null is
     * set for a plain empty, "~" or "null" value). Same return convention. */
    int (*on_pair)(void *ud, const char *key, size_t key_line, const char *value,
                   size_t value_line, int is_null, struct ic_err *err);
};

/* Reads path (at most max_size bytes) and calls o's callbacks with ud.
 * Returns IC_OK, the status of ic_read_file, IC_ERR_FORMAT for YAML errors or
 * a shape other than a flat mapping, IC_ERR_NOMEM, or a callback's status. */
int ic__yaml_flat_read(const char *path, size_t max_size, const struct ic__yaml_flat_opts *o,
                       void *ud, struct ic_err *err);

/* The 1-based line of a failed yaml_parser_parse over text[0..len): libyaml
 * gives reader errors (a control character such as NUL, bytes that are not
 * UTF-8) as a byte offset only, without a line. */
size_t ic__yaml_error_line(const yaml_parser_t *p, const char *text, size_t len);

#endif
