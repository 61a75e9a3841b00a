/* SPDX-License-Identifier: Apache-2.0 */
/*
 * yamlflat.c - one reader for the flat key: value YAML configuration file
 * (see yamlflat.h); intent train (src/train/config.c) and intent serve
 * (src/serve/serve_opts.c) both read intent.yaml through it.
 */
#include <string.h>
#include <yaml.h>

#include "core/yamlflat.h"

static int is_null_text(const yaml_event_t *ev)
{
    const char *v = (const char *)ev->data.scalar.value;
    return ev->data.scalar.length == 0 || strcmp(v, "~") == 0 || strcmp(v, "null") == 0;
}

size_t ic__yaml_error_line(const yaml_parser_t *p, const char *text, size_t len)
{
    if (p->error != YAML_READER_ERROR)
        return (size_t)p->problem_mark.line + 1;
    size_t line = 1, end = p->problem_offset < len ? p->problem_offset : len;
    for (size_t i = 0; i < end; i++)
        line += text[i] == '\n';
    return line;
}

static int parse_error(const yaml_parser_t *p, const char *path, const char *text, size_t len,
                       struct ic_err *err)
{
    size_t line = ic__yaml_error_line(p, text, len);
    const char *what = p->problem ? p->problem : "syntax error";
    int octet = strstr(what, "octet") != NULL;
    if (p->error == YAML_READER_ERROR && p->problem_value >= 0)
        return ic_errf(err, IC_ERR_FORMAT, "%s:%zu: YAML error: %s (%s%0*X at byte %zu)", path,
                       line, what, octet ? "byte 0x" : "U+", octet ? 2 : 4,
                       (unsigned)p->problem_value, p->problem_offset);
    if (p->error == YAML_READER_ERROR)
        return ic_errf(err, IC_ERR_FORMAT, "%s:%zu: YAML error: %s (at byte %zu)", path, line,
                       what, p->problem_offset);
    return ic_errf(err, IC_ERR_FORMAT, "%s:%zu: YAML error: %s", path, line, what);
}

int ic__yaml_flat_read(const char *path, size_t max_size, const struct ic__yaml_flat_opts *o,
                       void *ud, struct ic_err *err)
{
    char *text = NULL, *key = NULL;
    size_t len = 0, key_line = 0;
    int rc = ic_read_file(path, max_size, &text, &len, err);
    if (rc != IC_OK)
        return rc;
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
            rc = parse_error(&p, path, text, len, err);
            goto out;
        }
        have_ev = 1;
        size_t line = (size_t)ev.start_mark.line + 1;
        if (ev.type == YAML_STREAM_END_EVENT)
            break;
        switch (ev.type) {
        case YAML_MAPPING_START_EVENT:
            if (!in_map) {
                in_map = 1;
                break;
            }
            /* fall through */
        case YAML_SEQUENCE_START_EVENT:
        case YAML_ALIAS_EVENT:
            if (!o->detailed_errors)
                rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: expected a flat mapping of key: value",
                             path, line);
            else if (ev.type == YAML_ALIAS_EVENT)
                rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: aliases are not supported", path, line);
            else
                rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: %s%s%sexpected a plain value, not a %s",
                             path, line, key ? "key \"" : "", key ? key : "", key ? "\": " : "",
                             ev.type == YAML_MAPPING_START_EVENT ? "mapping" : "list");
            goto out;
        case YAML_SCALAR_EVENT: {
            const char *val = (const char *)ev.data.scalar.value;
            if (memchr(val, 0, ev.data.scalar.length)) {
                /* a "\0" escape: C strings would cut the text there */
                rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: NUL character (\\0) in a %s: not "
                             "allowed", path, line, in_map && !key ? "key" : "value");
                goto out;
            }
            if (!in_map) {
                /* A document that is only a scalar: allow an empty (or null) one. */
                if (ev.data.scalar.length == 0 || (o->null_document_ok && is_null_text(&ev)))
                    break;
                rc = ic_errf(err, IC_ERR_FORMAT, "%s:%zu: expected a mapping of key: value", path,
                             line);
                goto out;
            }
            if (!key) {
                key = ic_xstrdup(val);
                key_line = line;
                if (o->on_key && (rc = o->on_key(ud, key, line, err)) != IC_OK)
                    goto out;
                break;
            }
            int is_null = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE && is_null_text(&ev);
            rc = o->on_pair(ud, key, key_line, val, line, is_null, err);
            if (rc != IC_OK)
                goto out;
            ic_free(key);
            key = NULL;
            break;
        }
        default:
            break;
        }
        yaml_event_delete(&ev);
        have_ev = 0;
    }
    rc = IC_OK;
out:
    if (have_ev)
        yaml_event_delete(&ev);
    ic_free(key);
    yaml_parser_delete(&p);
    ic_free(text);
    return rc;
}
