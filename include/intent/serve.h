/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve.h - the JSON HTTP API (libmicrohttpd): a drop-in for the original
 * FastAPI service. docs/http_api.md describes the routes, status codes,
 * limits and signals.
 *
 * One read-only model is shared by every connection; it sits behind a
 * reference-counted pointer that ic_server_reload swaps under a lock, so
 * requests in flight finish on the model they started with. Inference runs
 * on a fixed pool of contexts (opts.threads); requests are tokenized on
 * their connection's thread, and those that arrive while the pool is busy
 * are merged into one batched forward within the budgets (opts.coalesce
 * texts, opts.max_batch_tokens tokens, opts.max_batch_requests requests), as
 * text-embeddings-inference does; at most opts.max_concurrent_requests are
 * admitted at once (429 beyond). A request that finds the server idle runs
 * at once; under concurrent load the leader of the next batch waits up to
 * opts.gather_us for it to fill as far as the last one did.
 *
 * The library does not install signal handlers; the caller decides when to
 * reload or stop (intent serve uses sigwait on SIGHUP / SIGTERM / SIGINT).
 */
#ifndef IC_SERVE_H
#define IC_SERVE_H

#include <stddef.h>

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_serve_opts {
    const char *model_path;  /* model directory or .pt file ("final_model") */
    const char *host;        /* address to bind ("127.0.0.1"; "0.0.0.0" = all) */
    int port;                /* 8000; 0 = an ephemeral port (ic_server_port says which) */
    int threads;             /* inference contexts running at once; 0 = half the
                              * cores (at least 1) */
    size_t max_body;         /* request body limit in bytes (1 MiB); over it: 413 */
    int max_batch;           /* texts per /classify/batch or /predict request (256):
                              * TEI's max_client_batch_size; over it: 422 (FastAPI
                              * routes) or 413 (/predict) */
    int timeout;             /* idle connection timeout in seconds (30; 0 = none) */
    int max_connections;     /* concurrent connections (256); more are refused */
    int coalesce;            /* texts per merged forward across requests (16; 1 = off) */
    int max_length;          /* tokens per text; 0 = the model's max_length */
    int event_loop;          /* 0: a thread per connection (default); 1: an epoll
                              * event loop on `threads` threads */
    int gather_us;           /* under concurrent load (the last merged batch held
                              * several requests), wait up to this many
                              * microseconds for the next batch to assemble as
                              * large (200; 0 = never wait) */
    /* calibration and fallback, as struct ic_infer_opts (-1 / NULL: the model's) */
    int no_calibration;      /* 1: raw softmax */
    int oos_score;           /* -1 or an enum ic_oos_score */
    double fallback_threshold;  /* -1 or [0, 1] */
    double ambiguity_threshold; /* -1 or [0, 1] */
    const char *fallback_intent; /* NULL: nlu_fallback */
    int error_style;         /* validation error bodies of the FastAPI-shaped routes:
                              * 0 = current FastAPI / pydantic 2 ("pydantic2",
                              * default), 1 = FastAPI 0.9x / pydantic 1
                              * ("fastapi-legacy") */
    const char *api_key;     /* NULL = open; else every route but /docs, /redoc and
                              * /openapi.json needs "Authorization: Bearer <key>"
                              * (401 otherwise) */
    int open_health;         /* with api_key: /health, /ready and /metrics stay open */
    const char *cors_origin; /* NULL = no CORS headers; "*" or a comma-separated list of
                              * origins allowed to call from a browser */
    int access_log;          /* 1 (default): one line per request on stderr */
    int log_format;          /* access log: 0 = text (default), 1 = JSON lines */
    /* Batching, as text-embeddings-inference: requests wait in one queue and
     * the next merged forward takes them in order while it stays within
     * every budget (always at least one request). */
    int max_batch_tokens;    /* tokens of one merged batch (16384) */
    int max_batch_requests;  /* requests of one merged batch (0 = no limit) */
    int max_concurrent_requests; /* inference requests admitted at once (queued or
                              * running, 512); beyond it: 429 with Retry-After */
    int precision;           /* enum ic_precision of the Linear layers: fp32
                              * (default), bf16, int8 (docs/performance.md) */
    char *owned_model_path;  /* storage for strings read from a file (internal) */
    char *owned_host;
    char *owned_fallback_intent;
    char *owned_api_key;
    char *owned_cors_origin;
};

/* Defaults as documented above. */
void ic_serve_default_opts(struct ic_serve_opts *o);
/* Frees the strings ic_serve_opts_from_file stored (safe on defaults). */
void ic_serve_opts_free(struct ic_serve_opts *o);

/* Reads the serve_* keys of a YAML configuration file (the flat mapping of
 * intent.yaml): serve_model, serve_host, serve_port, serve_threads,
 * serve_max_body, serve_max_batch, serve_timeout, serve_max_connections,
 * serve_coalesce, serve_max_length, serve_event_loop, serve_gather_us,
 * serve_fallback_threshold, serve_ambiguity_threshold, serve_fallback_intent,
 * serve_no_calibration, serve_error_style, serve_api_key, serve_open_health,
 * serve_cors_origin, serve_access_log, serve_log_format, serve_max_batch_tokens,
 * serve_max_batch_requests, serve_max_concurrent_requests,
 * serve_max_client_batch_size (another name of serve_max_batch). Other keys belong to
 * training and are ignored; an unknown serve_* key or a bad value is an
 * error naming the file, line and key. o is unchanged on error. */
int ic_serve_opts_from_file(struct ic_serve_opts *o, const char *path,
                            struct ic_err *err) IC_WUR;

/* Overrides fields from INTENT_SERVE_MODEL, _HOST, _PORT, _THREADS,
 * _MAX_BODY, _MAX_BATCH, _TIMEOUT, _MAX_CONNECTIONS, _COALESCE, _MAX_LENGTH,
 * _EVENT_LOOP, _GATHER_US, _FALLBACK_THRESHOLD, _AMBIGUITY_THRESHOLD,
 * _FALLBACK_INTENT, _NO_CALIBRATION, _ERROR_STYLE, _API_KEY, _OPEN_HEALTH,
 * _CORS_ORIGIN, _ACCESS_LOG, _LOG_FORMAT, _MAX_BATCH_TOKENS, _MAX_BATCH_REQUESTS,
 * _MAX_CONCURRENT_REQUESTS, _MAX_CLIENT_BATCH_SIZE (= _MAX_BATCH).
 * String values are borrowed from the environment. Errors name the variable
 * (IC_ERR_INVAL: not a number or out of range); o is unchanged on error. */
int ic_serve_opts_from_env(struct ic_serve_opts *o, struct ic_err *err) IC_WUR;

/* Parses an error style name ("pydantic2", "fastapi-legacy") into *out.
 * IC_ERR_INVAL for another name. */
int ic_serve_error_style_parse(const char *name, int *out);
/* Parses an access log format ("text", "json"). IC_ERR_INVAL otherwise. */
int ic_serve_log_format_parse(const char *name, int *out);

/* Checks ranges (port 0..65535, threads 0..256, max_body 1 KiB..1 GiB, ...). */
int ic_serve_opts_check(const struct ic_serve_opts *o, struct ic_err *err) IC_WUR;

struct ic_server; /* opaque */

/* Loads the model (once), then binds and starts serving in background
 * threads. Nothing listens before the model is ready. o is copied.
 * Errors: the model loader's (naming the file), IC_ERR_NET (cannot bind:
 * names the address), IC_ERR_INVAL (options). *out is NULL on error. */
int ic_server_start(struct ic_server **out, const struct ic_serve_opts *o,
                    struct ic_err *err) IC_WUR;

/* The bound TCP port (useful with port 0). */
int ic_server_port(const struct ic_server *s);

/* One line of model facts for the start-up log: "model final_model: 12
 * labels, max_length 128, 2 layers x 128 hidden, 4.39M parameters, loaded
 * in 8.1 ms". Caller frees with ic_free. */
char *ic_server_describe(const struct ic_server *s);

/* Loads the model again from opts.model_path (path NULL) or path, and swaps
 * it in atomically. On failure the old model keeps serving and err says
 * why. Thread-safe; concurrent reloads are serialised. */
int ic_server_reload(struct ic_server *s, const char *path, struct ic_err *err) IC_WUR;

/* Graceful stop: stops accepting connections, waits up to grace_s seconds
 * for requests in flight to complete, closes the rest, frees everything.
 * Safe with s NULL. */
void ic_server_stop(struct ic_server *s, double grace_s);

#ifdef __cplusplus
}
#endif
#endif
