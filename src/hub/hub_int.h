/* SPDX-License-Identifier: Apache-2.0 */
/*
 * hub_int.h - internals of src/hub shared with the unit tests: environment
 * parsing and the validation of names that become cache paths.
 */
#ifndef IC_HUB_INT_H
#define IC_HUB_INT_H

#include <stddef.h>
#include <stdint.h>

#include "intent/hub.h"

/* 1 when the variable is 1/ON/YES/TRUE (any case), as huggingface_hub reads it. */
int hub_env_true(const char *name);
/* The token o or the environment selects, whitespace-stripped; NULL when none
 * (or when it has characters a header cannot carry). Caller frees with ic_free. */
char *hub_token(const struct ic_hub_opts *o);
/* "org/name" or "name": [A-Za-z0-9._-], no "--" or "..", at most 96 chars. */
int hub_valid_repo_id(const char *s);
/* Branch, tag or commit: no "..", no empty or dot-leading component. */
int hub_valid_revision(const char *s);
/* A commit or etag from the server, used as one path component. */
int hub_valid_name(const char *s);
/* Strips W/ and quotes from an ETag value. Caller frees with ic_free. */
char *hub_normalize_etag(const char *v);
/* 1 when dir holds config.json and model.safetensors or pytorch_model.bin. */
int hub_snapshot_complete(const char *dir);

/* SHA-256, to check LFS blobs against their ETag (sha256.c, on libcrypto). */
struct hub_sha256 {
    void *ctx; /* EVP_MD_CTX */
};
void hub_sha256_init(struct hub_sha256 *s);
void hub_sha256_update(struct hub_sha256 *s, const void *data, size_t len);
/* Finishes s and writes 64 lowercase hex digits and a NUL. */
void hub_sha256_hex(struct hub_sha256 *s, char hex[65]);
/* SHA-256 of a file's content; 0 or -1 when it cannot be read. */
int hub_sha256_file(const char *path, char hex[65]);

#endif
