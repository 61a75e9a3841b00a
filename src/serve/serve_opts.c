/* SPDX-License-Identifier: Apache-2.0 */
/*
 * serve_opts.c - the server's options: defaults, the serve_* keys of the
 * YAML configuration file, and INTENT_SERVE_* environment variables. One
 * table names every option once; the file key is "serve_<name>", the
 * variable "INTENT_SERVE_<NAME>". Flags are the command line's business
 * (src/cli/cmd_serve.c). Values are parsed strictly and range-checked;
 * errors name the file and line, or the variable.
 */
#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/yamlflat.h"
#include "intent/calib.h"
#include "intent/bert.h"
#include "intent/serve.h"

void ic_serve_default_opts(struct ic_serve_opts *o)
{
    memset(o, 0, sizeof *o);
    o->model_path = "final_model";
    o->host = "127.0.0.1";
    o->port = 8000;
    o->threads = 0;
    o->max_body = 1u << 20;
    o->max_batch = 256;
    o->timeout = 30;
    o->max_connections = 256;
    o->coalesce = 16;
    o->max_length = 0;
    o->event_loop = 0;
    o->gather_us = 200;
    o->oos_score = -1;
    o->fallback_threshold = -1;
    o->ambiguity_threshold = -1;
    o->access_log = 1;
    o->max_batch_tokens = 16384;
    o->max_batch_requests = 0;
    o->max_concurrent_requests = 512;
}

void ic_serve_opts_free(struct ic_serve_opts *o)
{
    ic_free(o->owned_model_path);
    ic_free(o->owned_host);
    ic_free(o->owned_fallback_intent);
    ic_free(o->owned_api_key);
    ic_free(o->owned_cors_origin);
    o->owned_model_path = o->owned_host = o->owned_fallback_intent = NULL;
    o->owned_api_key = o->owned_cors_origin = NULL;
}

enum { K_STR, K_INT, K_SIZE, K_BOOL, K_UNIT, K_STYLE, K_LOGFMT, K_PREC };
struct opt {
    const char *name; /* "max_body": key serve_max_body, INTENT_SERVE_MAX_BODY */
    int kind;
    size_t off;
    long long lo, hi;
};

#define OPT_OFF(f) offsetof(struct ic_serve_opts, f)
static const struct opt opts[] = {
    {"model", K_STR, OPT_OFF(model_path), 0, 0},
    {"host", K_STR, OPT_OFF(host), 0, 0},
    {"port", K_INT, OPT_OFF(port), 0, 65535},
    {"threads", K_INT, OPT_OFF(threads), 0, 256},
    {"max_body", K_SIZE, OPT_OFF(max_body), 1024, 1LL << 30},
    {"max_batch", K_INT, OPT_OFF(max_batch), 1, 65536},
    {"timeout", K_INT, OPT_OFF(timeout), 0, 86400},
    {"max_connections", K_INT, OPT_OFF(max_connections), 1, 65536},
    {"coalesce", K_INT, OPT_OFF(coalesce), 1, 1024},
    {"max_length", K_INT, OPT_OFF(max_length), 0, 1 << 20},
    {"event_loop", K_BOOL, OPT_OFF(event_loop), 0, 1},
    {"gather_us", K_INT, OPT_OFF(gather_us), 0, 100000},
    {"fallback_threshold", K_UNIT, OPT_OFF(fallback_threshold), 0, 1},
    {"ambiguity_threshold", K_UNIT, OPT_OFF(ambiguity_threshold), 0, 1},
    {"fallback_intent", K_STR, OPT_OFF(fallback_intent), 0, 0},
    {"no_calibration", K_BOOL, OPT_OFF(no_calibration), 0, 1},
    {"error_style", K_STYLE, OPT_OFF(error_style), 0, 1},
    {"api_key", K_STR, OPT_OFF(api_key), 0, 0},
    {"open_health", K_BOOL, OPT_OFF(open_health), 0, 1},
    {"cors_origin", K_STR, OPT_OFF(cors_origin), 0, 0},
    {"access_log", K_BOOL, OPT_OFF(access_log), 0, 1},
    {"log_format", K_LOGFMT, OPT_OFF(log_format), 0, 1},
    {"max_batch_tokens", K_INT, OPT_OFF(max_batch_tokens), 1, 1 << 24},
    {"max_batch_requests", K_INT, OPT_OFF(max_batch_requests), 0, 65536},
    {"max_concurrent_requests", K_INT, OPT_OFF(max_concurrent_requests), 1, 65536},
    {"max_client_batch_size", K_INT, OPT_OFF(max_batch), 1, 65536}, /* TEI's name */
    {"precision", K_PREC, OPT_OFF(precision), 0, 2},
};

int ic_serve_log_format_parse(const char *name, int *out)
{
    if (strcmp(name, "text") == 0)
        *out = 0;
    else if (strcmp(name, "json") == 0)
        *out = 1;
    else
        return IC_ERR_INVAL;
    return IC_OK;
}

int ic_serve_error_style_parse(const char *name, int *out)
{
    if (strcmp(name, "pydantic2") == 0)
        *out = 0;
    else if (strcmp(name, "fastapi-legacy") == 0)
        *out = 1;
    else
        return IC_ERR_INVAL;
    return IC_OK;
}
#define N_OPTS (sizeof opts / sizeof opts[0])

/* Sets one numeric or boolean option from text. where names the source. */
static int set_value(struct ic_serve_opts *o, const struct opt *e, const char *v,
                     const char *where, struct ic_err *err)
{
    char *p = (char *)o + e->off;
    long long x;
    if (e->kind == K_UNIT)
        return ic_parse_threshold(v, where, (double *)p, err);
    if (e->kind == K_STYLE) {
        if (ic_serve_error_style_parse(v, (int *)p))
            return ic_errf(err, IC_ERR_INVAL,
                           "%s: \"%s\" is not an error style (pydantic2, fastapi-legacy)", where,
                           v);
        return IC_OK;
    }
    if (e->kind == K_PREC) {
        enum ic_precision pr;
        if (ic_precision_parse(v, &pr))
            return ic_errf(err, IC_ERR_INVAL, "%s: \"%s\" is not a precision (fp32, bf16, int8)",
                           where, v);
        *(int *)p = (int)pr;
        return IC_OK;
    }
    if (e->kind == K_LOGFMT) {
        if (ic_serve_log_format_parse(v, (int *)p))
            return ic_errf(err, IC_ERR_INVAL, "%s: \"%s\" is not a log format (text, json)",
                           where, v);
        return IC_OK;
    }
    if (e->kind == K_BOOL) {
        if (!strcasecmp(v, "1") || !strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
            !strcasecmp(v, "on"))
            x = 1;
        else if (!strcasecmp(v, "0") || !strcasecmp(v, "false") || !strcasecmp(v, "no") ||
                 !strcasecmp(v, "off"))
            x = 0;
        else
            return ic_errf(err, IC_ERR_INVAL, "%s: \"%s\" is not a boolean (true/false)", where,
                           v);
        *(int *)p = (int)x;
        return IC_OK;
    }
    char *end;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (errno || end == v || *end || x < e->lo || x > e->hi)
        return ic_errf(err, IC_ERR_INVAL, "%s: \"%s\" is not a number in [%lld, %lld]", where, v,
                       e->lo, e->hi);
    if (e->kind == K_INT)
        *(int *)p = (int)x;
    else
        *(size_t *)p = (size_t)x;
    return IC_OK;
}

int ic_serve_opts_from_env(struct ic_serve_opts *o, struct ic_err *err)
{
    struct ic_serve_opts t = *o;
    for (size_t i = 0; i < N_OPTS; i++) {
        const struct opt *e = &opts[i];
        char var[64];
        size_t k = (size_t)snprintf(var, sizeof var, "INTENT_SERVE_");
        for (const char *c = e->name; *c && k + 1 < sizeof var; c++)
            var[k++] = (char)toupper((unsigned char)*c);
        var[k] = 0;
        const char *v = getenv(var);
        if (!v && e->kind == K_PREC) { /* shared with predict and eval */
            v = getenv("INTENT_PRECISION");
            snprintf(var, sizeof var, "INTENT_PRECISION");
        }
        if (!v)
            continue;
        if (e->kind == K_STR) {
            if (!*v)
                return ic_errf(err, IC_ERR_INVAL, "%s: empty value", var);
            *(const char **)((char *)&t + e->off) = v;
            continue;
        }
        int rc = set_value(&t, e, v, var, err);
        if (rc)
            return rc;
    }
    *o = t;
    return IC_OK;
}

/* Largest configuration file read (it is a handful of lines). */
#define SERVE_FILE_MAX (1u << 20)

struct file_ctx {
    struct ic_serve_opts t;
    const char *path;
    char *model, *host, *fallback, *api_key, *cors; /* owned copies of the strings read */
};

static char **file_own(struct file_ctx *f, size_t off)
{
    if (off == OPT_OFF(model_path))
        return &f->model;
    if (off == OPT_OFF(host))
        return &f->host;
    if (off == OPT_OFF(api_key))
        return &f->api_key;
    if (off == OPT_OFF(fallback_intent))
        return &f->fallback;
    return &f->cors;
}

/* Hands an owned string read from the file to the options. */
static void give(char **owned, char *v)
{
    if (v) {
        ic_free(*owned);
        *owned = v;
    }
}

static int file_pair(void *ud, const char *key, size_t key_line, const char *val,
                     size_t value_line, int is_null, struct ic_err *err)
{
    struct file_ctx *f = ud;
    /* Only serve_* keys are ours; the rest belongs to training. */
    if (strncmp(key, "serve_", 6) != 0)
        return IC_OK;
    const struct opt *e = NULL;
    for (size_t i = 0; i < N_OPTS; i++)
        if (strcmp(key + 6, opts[i].name) == 0)
            e = &opts[i];
    char where[600];
    snprintf(where, sizeof where, "%s:%zu: %s", f->path, key_line, key);
    if (!e)
        return ic_errf(err, IC_ERR_NOTFOUND, "%s:%zu: unknown key \"%s\"", f->path, key_line,
                       key);
    if (e->kind == K_STR) {
        if (!*val)
            return ic_errf(err, IC_ERR_INVAL, "%s: empty value", where);
        char **own = file_own(f, e->off);
        ic_free(*own);
        *own = ic_xstrdup(val);
        *(const char **)((char *)&f->t + e->off) = *own;
        return IC_OK;
    }
    return set_value(&f->t, e, val, where, err);
}

int ic_serve_opts_from_file(struct ic_serve_opts *o, const char *path, struct ic_err *err)
{
    struct file_ctx f = {.t = *o, .path = path};
    const struct ic__yaml_flat_opts yo = {.on_pair = file_pair};
    int rc = ic__yaml_flat_read(path, SERVE_FILE_MAX, &yo, &f, err);
    struct ic_serve_opts t = f.t;
    if (rc) {
        ic_free(f.model);
        ic_free(f.host);
        ic_free(f.fallback);
        ic_free(f.api_key);
        ic_free(f.cors);
        return rc;
    }
    give(&t.owned_model_path, f.model);
    give(&t.owned_host, f.host);
    give(&t.owned_fallback_intent, f.fallback);
    give(&t.owned_api_key, f.api_key);
    give(&t.owned_cors_origin, f.cors);
    *o = t;
    return IC_OK;
}
