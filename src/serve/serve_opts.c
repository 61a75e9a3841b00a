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
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yaml.h>

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
}

void ic_serve_opts_free(struct ic_serve_opts *o)
{
    ic_free(o->owned_model_path);
    ic_free(o->owned_host);
    o->owned_model_path = o->owned_host = NULL;
}

enum { K_STR, K_INT, K_SIZE, K_BOOL };
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
};
#define N_OPTS (sizeof opts / sizeof opts[0])

/* Sets one numeric or boolean option from text. where names the source. */
static int set_value(struct ic_serve_opts *o, const struct opt *e, const char *v,
                     const char *where, struct ic_err *err)
{
    char *p = (char *)o + e->off;
    long long x;
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

int ic_serve_opts_from_file(struct ic_serve_opts *o, const char *path, struct ic_err *err)
{
    char *text = NULL, *key = NULL, *model = NULL, *host = NULL;
    size_t len = 0, key_line = 0;
    int rc = ic_read_file(path, SERVE_FILE_MAX, &text, &len, err);
    if (rc)
        return rc;
    struct ic_serve_opts t = *o;
    yaml_parser_t p;
    yaml_event_t ev;
    int have_ev = 0, in_map = 0;
    if (!yaml_parser_initialize(&p)) {
        ic_free(text);
        return ic_errf(err, IC_ERR_NOMEM, "%s: cannot initialise the YAML parser", path);
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
    for (;;) {
        if (!yaml_parser_parse(&p, &ev)) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: YAML error: %s", path,
                         (size_t)p.problem_mark.line + 1, p.problem ? p.problem : "syntax error");
            goto out;
        }
        have_ev = 1;
        size_t line = (size_t)ev.start_mark.line + 1;
        if (ev.type == YAML_STREAM_END_EVENT)
            break;
        if (ev.type == YAML_MAPPING_START_EVENT && !in_map && !key) {
            in_map = 1;
        } else if (ev.type == YAML_MAPPING_START_EVENT || ev.type == YAML_SEQUENCE_START_EVENT ||
                   ev.type == YAML_ALIAS_EVENT) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: expected a flat mapping of key: value",
                         path, line);
            goto out;
        } else if (ev.type == YAML_SCALAR_EVENT && in_map) {
            const char *val = (const char *)ev.data.scalar.value;
            if (!key) {
                key = ic_xstrdup(val);
                key_line = line;
            } else {
                /* Only serve_* keys are ours; the rest belongs to training. */
                if (strncmp(key, "serve_", 6) == 0) {
                    const struct opt *e = NULL;
                    for (size_t i = 0; i < N_OPTS; i++)
                        if (strcmp(key + 6, opts[i].name) == 0)
                            e = &opts[i];
                    char where[600];
                    snprintf(where, sizeof where, "%s:%zu: %s", path, key_line, key);
                    if (!e) {
                        rc = ic_errf(err, IC_ERR_NOTFOUND, "%s:%zu: unknown key \"%s\"", path,
                                     key_line, key);
                        goto out;
                    }
                    if (e->kind == K_STR) {
                        if (!*val) {
                            rc = ic_errf(err, IC_ERR_INVAL, "%s: empty value", where);
                            goto out;
                        }
                        char **own = e->off == OPT_OFF(model_path) ? &model : &host;
                        ic_free(*own);
                        *own = ic_xstrdup(val);
                        *(const char **)((char *)&t + e->off) = *own;
                    } else {
                        rc = set_value(&t, e, val, where, err);
                        if (rc)
                            goto out;
                    }
                }
                ic_free(key);
                key = NULL;
            }
        } else if (ev.type == YAML_SCALAR_EVENT && ev.data.scalar.length > 0) {
            rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: expected a mapping of key: value", path,
                         line);
            goto out;
        }
        yaml_event_delete(&ev);
        have_ev = 0;
    }
out:
    if (have_ev)
        yaml_event_delete(&ev);
    yaml_parser_delete(&p);
    ic_free(text);
    ic_free(key);
    if (rc) {
        ic_free(model);
        ic_free(host);
        return rc;
    }
    if (model) {
        ic_free(t.owned_model_path);
        t.owned_model_path = model;
    }
    if (host) {
        ic_free(t.owned_host);
        t.owned_host = host;
    }
    *o = t;
    return IC_OK;
}
