/* SPDX-License-Identifier: Apache-2.0 */
/*
 * rest.c - the MLflow REST back end (libcurl + jansson). Called only from
 * the tracker's sender thread, one request at a time on one curl handle.
 *
 * Requests as MLflow's Python RestStore sends them (mlflow/protos/service.proto):
 *   GET  /api/2.0/mlflow/experiments/get-by-name?experiment_name=N
 *   POST /api/2.0/mlflow/experiments/create      {name}
 *   POST /api/2.0/mlflow/runs/create             {experiment_id, user_id, run_name,
 *                                                 start_time, tags}
 *   POST /api/2.0/mlflow/runs/log-batch          {run_id, metrics, params, tags}
 *   POST /api/2.0/mlflow/runs/update             {run_id, run_uuid, status, end_time}
 *   PUT  /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<path>  (raw bytes)
 * Answers are classified: 2xx OK; no answer, 408, 429, 5xx without an MLflow
 * error body: RETRY (with Retry-After when given); 401/403: DEAD; other 4xx and
 * 500 with an MLflow error body (a refused request, e.g. a changed param on a
 * FileStore server): DROP, reported once.
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include "track/track_int.h"

#define MAX_RESPONSE (4u << 20)

struct ic__rest {
    CURL *curl;
    char *base;        /* tracking URI without trailing '/' */
    char *bearer;      /* "Authorization: Bearer ..." */
    char *user, *pass; /* basic auth */
    char *ca_path, *client_cert;
    int insecure;
    long timeout_ms;
    /* where artifacts go, once the run's artifact_uri is known */
    int art_mode;      /* 0 unknown, 1 PUT to art_base, 2 local copy to art_local, 3 unsupported */
    char *art_base;
    char *art_local;
    /* per request */
    double retry_after;
    curl_off_t last_bytes;
};

struct body {
    struct ic_buf buf;
    int over;
};

static size_t on_write(char *p, size_t sz, size_t nm, void *ud)
{
    struct body *b = ud;
    size_t n = sz * nm;
    if (ic_buf_append(&b->buf, p, n) != IC_OK)
        b->over = 1; /* keep reading, drop the rest */
    return n;
}

static size_t on_header(char *p, size_t sz, size_t nm, void *ud)
{
    struct ic__rest *r = ud;
    size_t n = sz * nm;
    if (n > 12 && strncasecmp(p, "Retry-After:", 12) == 0) {
        char v[128];
        size_t len = n - 12 < sizeof v - 1 ? n - 12 : sizeof v - 1;
        memcpy(v, p + 12, len);
        v[len] = 0;
        char *s = v;
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == '\r' || e[-1] == '\n' || e[-1] == ' '))
            *--e = 0;
        char *end;
        double secs = strtod(s, &end);
        if (end != s && *end == 0 && secs >= 0) {
            r->retry_after = secs;
        } else {
            time_t when = curl_getdate(s, NULL);
            if (when > 0) {
                double d = difftime(when, time(NULL));
                r->retry_after = d > 0 ? d : 0;
            }
        }
    }
    return n;
}

static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    struct ic_tracker *t = ud;
    struct ic__rest *r = t->rest;
    (void)dltotal;
    (void)ultotal;
    if (dlnow + ulnow != r->last_bytes) {
        r->last_bytes = dlnow + ulnow;
        ic__trk_progress(t);
    }
    return ic__trk_should_stop(t) ? 1 : 0;
}

/* ~/.mlflow/credentials, as MLflow reads it (configparser):
 *   [mlflow]
 *   mlflow_tracking_username = alice
 *   mlflow_tracking_password = secret
 * Values go into user/pass (caller frees) when found. */
static void read_credentials_file(char **user, char **pass)
{
    *user = *pass = NULL;
    const char *home = getenv("HOME");
    if (!home || !*home)
        return;
    char *path = ic_xasprintf("%s/.mlflow/credentials", home);
    char *data = NULL;
    size_t len = 0;
    int rc = ic_read_file(path, 64 * 1024, &data, &len, NULL);
    if (rc == IC_OK && memchr(data, 0, len)) { /* a value would be cut short */
        ic_log(IC_LOG_WARN, "tracking: ignoring %s: it holds a NUL byte", path);
        rc = IC_ERR_FORMAT;
        ic_free(data);
    }
    ic_free(path);
    if (rc != IC_OK)
        return;
    int in_mlflow = 0;
    for (char *line = data, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        while (*line == ' ' || *line == '\t')
            line++;
        char *e = line + strlen(line);
        while (e > line && (e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
            *--e = 0;
        if (*line == '#' || *line == ';' || !*line)
            continue;
        if (*line == '[') {
            in_mlflow = strcmp(line, "[mlflow]") == 0;
            continue;
        }
        char *sep = strpbrk(line, "=:");
        if (!in_mlflow || !sep)
            continue;
        char *k_end = sep;
        while (k_end > line && (k_end[-1] == ' ' || k_end[-1] == '\t'))
            k_end--;
        *k_end = 0;
        char *v = sep + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if (strcasecmp(line, "mlflow_tracking_username") == 0) {
            ic_free(*user);
            *user = ic_xstrdup(v);
        } else if (strcasecmp(line, "mlflow_tracking_password") == 0) {
            ic_free(*pass);
            *pass = ic_xstrdup(v);
        }
    }
    ic_free(data);
}

int ic__rest_new(struct ic_tracker *t, struct ic__rest **out, struct ic_err *err)
{
    *out = NULL;
    char *fu, *fp;
    read_credentials_file(&fu, &fp);
    const char *u = getenv("MLFLOW_TRACKING_USERNAME");
    const char *p = getenv("MLFLOW_TRACKING_PASSWORD");
    if (!u || !*u)
        u = fu; /* the environment wins, field by field */
    if (!p || !*p)
        p = fp;
    const char *tok = getenv("MLFLOW_TRACKING_TOKEN");
    const char *ca = getenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    const char *cc = getenv("MLFLOW_TRACKING_CLIENT_CERT_PATH");
    int insecure = ic__trk_env_bool("MLFLOW_TRACKING_INSECURE_TLS");
    if (insecure && ca && *ca) {
        ic_free(fu);
        ic_free(fp);
        return ic_errf(err, IC_ERR_INVAL,
                       "MLFLOW_TRACKING_INSECURE_TLS and MLFLOW_TRACKING_SERVER_CERT_PATH "
                       "cannot both be set");
    }
    struct ic__rest *r = ic_xcalloc(1, sizeof *r);
    r->curl = curl_easy_init();
    if (!r->curl) {
        ic_free(r);
        ic_free(fu);
        ic_free(fp);
        return ic_errf(err, IC_ERR_NOMEM, "curl_easy_init failed");
    }
    r->base = ic_xstrdup(t->uri);
    size_t n = strlen(r->base);
    while (n > 0 && r->base[n - 1] == '/')
        r->base[--n] = 0;
    if (u && *u && p && *p) {
        r->user = ic_xstrdup(u);
        r->pass = ic_xstrdup(p);
    } else if (tok && *tok) {
        r->bearer = ic_xasprintf("Authorization: Bearer %s", tok);
    }
    r->ca_path = ca && *ca ? ic_xstrdup(ca) : NULL;
    r->client_cert = cc && *cc ? ic_xstrdup(cc) : NULL;
    r->insecure = insecure;
    ic_free(fu);
    ic_free(fp);
    r->timeout_ms = (long)(t->opts.http_timeout_s * 1000.0);
    if (r->timeout_ms < 100)
        r->timeout_ms = 100;
    *out = r;
    return IC_OK;
}

void ic__rest_free(struct ic__rest *r)
{
    if (!r)
        return;
    if (r->curl)
        curl_easy_cleanup(r->curl);
    ic_free(r->base);
    ic_free(r->bearer);
    ic_free(r->user);
    ic_free(r->pass);
    ic_free(r->ca_path);
    ic_free(r->client_cert);
    ic_free(r->art_base);
    ic_free(r->art_local);
    ic_free(r);
}

/* One HTTP request. json != NULL: POST it; upload != NULL: PUT the file;
 * else GET. Returns the curl code; *code is the HTTP status (0 if none). */
static CURLcode http(struct ic_tracker *t, const char *method, const char *url, const char *json,
                     FILE *upload, curl_off_t upload_size, const char *content_type, long *code,
                     struct body *resp, char *errbuf)
{
    struct ic__rest *r = t->rest;
    CURL *c = r->curl;
    curl_easy_reset(c);
    struct curl_slist *h = NULL;
    char ct[128];
    r->retry_after = -1;
    r->last_bytes = 0;
    *code = 0;
    errbuf[0] = 0;
    ic_buf_init(&resp->buf, MAX_RESPONSE);
    resp->over = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "intent/" IC_VERSION " (MLflow REST client)");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, t);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, r->timeout_ms);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    if (upload) {
        /* a big model upload may take minutes: abort only when it stalls */
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1024L);
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, (r->timeout_ms + 999) / 1000);
    } else {
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms);
    }
    if (r->user) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERNAME, r->user);
        curl_easy_setopt(c, CURLOPT_PASSWORD, r->pass);
    } else if (r->bearer) {
        h = curl_slist_append(h, r->bearer);
    }
    if (r->insecure) {
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    if (r->ca_path)
        curl_easy_setopt(c, CURLOPT_CAINFO, r->ca_path);
    if (r->client_cert)
        curl_easy_setopt(c, CURLOPT_SSLCERT, r->client_cert);
    h = curl_slist_append(h, "Accept: application/json");
    if (json) {
        h = curl_slist_append(h, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, json);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(json));
    } else if (upload) {
        snprintf(ct, sizeof ct, "Content-Type: %s", content_type);
        h = curl_slist_append(h, ct);
        h = curl_slist_append(h, "Expect:");
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, upload);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, upload_size);
    }
    (void)method;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    CURLcode cc = curl_easy_perform(c);
    if (cc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_slist_free_all(h);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    return cc;
}

/* The MLflow error in a response body, if it is one: error_code and message. */
static int mlflow_error(const struct body *b, char *code, size_t ncode, char *msg, size_t nmsg)
{
    code[0] = msg[0] = 0;
    if (!b->buf.data || b->buf.len == 0)
        return 0;
    json_t *j = json_loadb(b->buf.data, b->buf.len, 0, NULL);
    if (!j)
        return 0;
    const char *ec = json_string_value(json_object_get(j, "error_code"));
    const char *m = json_string_value(json_object_get(j, "message"));
    int is = ec != NULL;
    if (ec)
        snprintf(code, ncode, "%s", ec);
    if (m)
        snprintf(msg, nmsg, "%s", m);
    json_decref(j);
    return is;
}

static enum ic__trk_res classify(struct ic_tracker *t, const char *what, CURLcode cc, long code,
                                 const struct body *b, const char *errbuf, double *retry_after)
{
    struct ic__rest *r = t->rest;
    char ec[64], msg[400];
    if (cc != CURLE_OK) {
        if (cc == CURLE_ABORTED_BY_CALLBACK)
            return IC__TRK_RETRY;
        if (cc == CURLE_PEER_FAILED_VERIFICATION || cc == CURLE_SSL_CACERT_BADFILE ||
            cc == CURLE_SSL_CERTPROBLEM) {
            /* retrying cannot help */
            ic__trk_warn_once(t, "tls", "MLflow server %s: TLS certificate problem (%s); set "
                              "MLFLOW_TRACKING_SERVER_CERT_PATH to its CA bundle or "
                              "MLFLOW_TRACKING_INSECURE_TLS=true; tracking is off", r->base,
                              errbuf[0] ? errbuf : curl_easy_strerror(cc));
            return IC__TRK_DEAD;
        }
        ic__trk_warn_once(t, "unreachable",
                          "MLflow server %s unreachable (%s: %s); metrics are kept and sent "
                          "when it answers",
                          r->base, what, errbuf[0] ? errbuf : curl_easy_strerror(cc));
        return IC__TRK_RETRY;
    }
    if (code >= 200 && code < 300)
        return IC__TRK_OK;
    int is_err = mlflow_error(b, ec, sizeof ec, msg, sizeof msg);
    if (code == 408 || code == 429 || code == 502 || code == 503 || code == 504 ||
        (code >= 500 && !is_err)) {
        if (r->retry_after >= 0)
            *retry_after = r->retry_after;
        ic__trk_warn_once(t, "unreachable",
                          "MLflow server %s answered HTTP %ld to %s; metrics are kept and sent "
                          "when it answers",
                          r->base, code, what);
        return IC__TRK_RETRY;
    }
    if (!is_err && b->buf.data && b->buf.len) {
        /* not an MLflow error (a proxy, the basic-auth app): quote its start */
        size_t n = 0;
        for (const char *p = b->buf.data; *p && n < 120 && n < sizeof msg - 1; p++)
            msg[n++] = (*p == '\n' || *p == '\r' || *p == '\t') ? ' ' : *p;
        msg[n] = 0;
    }
    char key[160];
    snprintf(key, sizeof key, "http-%s-%ld-%s", what, code, ec);
    if (code == 401 || code == 403) {
        ic__trk_warn_once(t, key, "MLflow server %s refused %s: HTTP %ld%s%s%s%s; tracking is "
                          "off", r->base, what, code, ec[0] ? " " : "", ec, msg[0] ? ": " : "",
                          msg);
        return IC__TRK_DEAD;
    }
    ic__trk_warn_once(t, key, "MLflow server %s refused %s: HTTP %ld%s%s%s%s (not retried)",
                      r->base, what, code, ec[0] ? " " : "", ec, msg[0] ? ": " : "", msg);
    return IC__TRK_DROP;
}

static enum ic__trk_res post(struct ic_tracker *t, const char *what, const char *endpoint,
                             json_t *req, json_t **resp_out, double *retry_after)
{
    struct ic__rest *r = t->rest;
    char errbuf[CURL_ERROR_SIZE];
    struct body b;
    long code;
    char *url = ic_xasprintf("%s/api/2.0/mlflow/%s", r->base, endpoint);
    size_t jn = json_dumpb(req, NULL, 0, JSON_COMPACT);
    char *js = ic_xmalloc(jn + 1);
    json_dumpb(req, js, jn, JSON_COMPACT);
    js[jn] = 0;
    CURLcode cc = http(t, "POST", url, js, NULL, 0, NULL, &code, &b, errbuf);
    enum ic__trk_res res = classify(t, what, cc, code, &b, errbuf, retry_after);
    if (resp_out) {
        *resp_out = NULL;
        if (res == IC__TRK_OK && b.buf.len)
            *resp_out = json_loadb(b.buf.data, b.buf.len, 0, NULL);
    }
    ic_free(js);
    ic_free(url);
    ic_buf_free(&b.buf);
    return res;
}

static void add_tag(json_t *arr, const char *k, const char *v)
{
    json_array_append_new(arr, json_pack("{s:s,s:s}", "key", k, "value", v));
}

/* Appends "/<segment>" for each non-empty segment of path, each one
 * percent-escaped (the slashes are kept). */
static int append_escaped_path(struct ic__rest *r, struct ic_buf *b, const char *path)
{
    int rc = IC_OK;
    const char *p = path;
    while (*p && rc == IC_OK) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len) {
            char *e = curl_easy_escape(r->curl, p, (int)len);
            rc = ic_buf_printf(b, "/%s", e ? e : "");
            curl_free(e);
        }
        p += len + (slash ? 1 : 0);
    }
    return rc;
}

/* Decides where artifacts go from the run's artifact_uri. */
static void resolve_artifacts(struct ic_tracker *t)
{
    struct ic__rest *r = t->rest;
    const char *a = t->artifact_uri ? t->artifact_uri : "";
    ic_free(r->art_base);
    ic_free(r->art_local);
    r->art_base = r->art_local = NULL;
    if (strncmp(a, "mlflow-artifacts:", 17) == 0) {
        const char *p = a + 17;
        if (strncmp(p, "//", 2) == 0) { /* mlflow-artifacts://host:port/path */
            p = strchr(p + 2, '/');
            if (!p)
                p = "";
        }
        while (*p == '/')
            p++;
        struct ic_buf b;
        ic_buf_init(&b, 0);
        int rc = ic_buf_printf(&b, "%s/api/2.0/mlflow-artifacts/artifacts", r->base);
        if (rc == IC_OK)
            rc = append_escaped_path(r, &b, p);
        r->art_base = ic_buf_take(&b);
        r->art_mode = 1;
    } else if (strncmp(a, "http://", 7) == 0 || strncmp(a, "https://", 8) == 0) {
        r->art_base = ic_xstrdup(a);
        size_t n = strlen(r->art_base);
        while (n > 0 && r->art_base[n - 1] == '/')
            r->art_base[--n] = 0;
        r->art_mode = 1;
    } else if ((r->art_local = ic__fs_uri_to_path(a)) != NULL && r->art_local[0] == '/') {
        r->art_mode = 2;
    } else {
        ic_free(r->art_local);
        r->art_local = NULL;
        r->art_mode = 3;
    }
}

static enum ic__trk_res get_experiment_by_name(struct ic_tracker *t, double *retry_after,
                                               int *not_found)
{
    struct ic__rest *r = t->rest;
    char errbuf[CURL_ERROR_SIZE], ec[64], msg[400];
    struct body b;
    long code;
    *not_found = 0;
    char *name = curl_easy_escape(r->curl, t->experiment_name, 0);
    char *url = ic_xasprintf("%s/api/2.0/mlflow/experiments/get-by-name?experiment_name=%s",
                             r->base, name ? name : "");
    curl_free(name);
    CURLcode cc = http(t, "GET", url, NULL, NULL, 0, NULL, &code, &b, errbuf);
    ic_free(url);
    enum ic__trk_res res;
    if (cc == CURLE_OK && code == 404 && mlflow_error(&b, ec, sizeof ec, msg, sizeof msg) &&
        strcmp(ec, "RESOURCE_DOES_NOT_EXIST") == 0) {
        *not_found = 1;
        res = IC__TRK_OK;
        goto out;
    }
    res = classify(t, "experiments/get-by-name", cc, code, &b, errbuf, retry_after);
    if (res != IC__TRK_OK)
        goto out;
    json_t *j = json_loadb(b.buf.data ? b.buf.data : "", b.buf.len, 0, NULL);
    json_t *e = json_object_get(j, "experiment");
    const char *id = json_string_value(json_object_get(e, "experiment_id"));
    const char *ls = json_string_value(json_object_get(e, "lifecycle_stage"));
    if (!id) {
        ic__trk_warn_once(t, "bad-exp", "MLflow server %s: experiments/get-by-name: no "
                          "experiment_id in the answer; tracking is off", r->base);
        res = IC__TRK_DEAD;
    } else if (ls && strcmp(ls, "active") != 0) {
        ic__trk_warn_once(t, "deleted-exp", "MLflow experiment \"%s\" (id %s) is deleted; "
                          "restore it or pick another name; tracking is off",
                          t->experiment_name, id);
        res = IC__TRK_DEAD;
    } else {
        pthread_mutex_lock(&t->mu);
        snprintf(t->exp_id, sizeof t->exp_id, "%s", id);
        pthread_mutex_unlock(&t->mu);
    }
    json_decref(j);
out:
    ic_buf_free(&b.buf);
    return res;
}

enum ic__trk_res ic__rest_open_run(struct ic_tracker *t, double *retry_after)
{
    struct ic__rest *r = t->rest;
    enum ic__trk_res res;
    if (!t->exp_id[0]) {
        int not_found;
        res = get_experiment_by_name(t, retry_after, &not_found);
        if (res != IC__TRK_OK)
            return res == IC__TRK_DROP ? IC__TRK_DEAD : res;
        if (not_found) {
            json_t *req = json_pack("{s:s}", "name", t->experiment_name);
            json_t *resp = NULL;
            res = post(t, "experiments/create", "experiments/create", req, &resp, retry_after);
            json_decref(req);
            if (res == IC__TRK_DROP) {
                /* RESOURCE_ALREADY_EXISTS: someone made it meanwhile; anything
                 * else (a bad name): give up */
                res = get_experiment_by_name(t, retry_after, &not_found);
                if (res == IC__TRK_OK && not_found)
                    res = IC__TRK_DEAD;
                if (res != IC__TRK_OK)
                    return res == IC__TRK_DROP ? IC__TRK_DEAD : res;
            } else if (res != IC__TRK_OK) {
                return res;
            } else {
                const char *id = json_string_value(json_object_get(resp, "experiment_id"));
                pthread_mutex_lock(&t->mu);
                if (id)
                    snprintf(t->exp_id, sizeof t->exp_id, "%s", id);
                pthread_mutex_unlock(&t->mu);
                json_decref(resp);
            }
            if (!t->exp_id[0])
                return IC__TRK_RETRY;
        }
    }
    json_t *tags = json_array();
    add_tag(tags, "mlflow.user", t->user);
    add_tag(tags, "mlflow.source.name", t->source_name);
    add_tag(tags, "mlflow.source.type", "LOCAL");
    add_tag(tags, "mlflow.runName", t->run_name);
    if (t->git_commit[0])
        add_tag(tags, "mlflow.source.git.commit", t->git_commit);
    json_t *req = json_pack("{s:s,s:s,s:s,s:I,s:o}", "experiment_id", t->exp_id, "user_id",
                            t->user, "run_name", t->run_name, "start_time",
                            (json_int_t)t->start_time, "tags", tags);
    json_t *resp = NULL;
    res = post(t, "runs/create", "runs/create", req, &resp, retry_after);
    json_decref(req);
    if (res == IC__TRK_DROP)
        res = IC__TRK_DEAD; /* e.g. the experiment id does not exist */
    if (res != IC__TRK_OK) {
        json_decref(resp);
        return res;
    }
    json_t *info = json_object_get(json_object_get(resp, "run"), "info");
    const char *id = json_string_value(json_object_get(info, "run_id"));
    if (!id)
        id = json_string_value(json_object_get(info, "run_uuid"));
    const char *art = json_string_value(json_object_get(info, "artifact_uri"));
    if (!id || strlen(id) >= sizeof t->run_id) {
        ic__trk_warn_once(t, "bad-run", "MLflow server %s: runs/create: no run_id in the "
                          "answer; tracking is off", r->base);
        json_decref(resp);
        return IC__TRK_DEAD;
    }
    pthread_mutex_lock(&t->mu);
    snprintf(t->run_id, sizeof t->run_id, "%s", id);
    ic_free(t->artifact_uri);
    t->artifact_uri = art ? ic_xstrdup(art) : NULL;
    pthread_mutex_unlock(&t->mu);
    json_decref(resp);
    resolve_artifacts(t);
    return IC__TRK_OK;
}

enum ic__trk_res ic__rest_log_batch(struct ic_tracker *t, struct ic__trk_item *items,
                                    double *retry_after)
{
    json_t *metrics = json_array(), *params = json_array(), *tags = json_array();
    for (struct ic__trk_item *it = items; it; it = it->next) {
        if (it->kind == IC__TRK_METRIC) {
            json_t *v;
            if (isnan(it->num))
                v = json_string("NaN");
            else if (isinf(it->num))
                v = json_string(it->num > 0 ? "Infinity" : "-Infinity");
            else
                v = json_real(it->num);
            json_array_append_new(metrics, json_pack("{s:s,s:o,s:I,s:I}", "key", it->key,
                                                     "value", v, "timestamp",
                                                     (json_int_t)it->ts, "step",
                                                     (json_int_t)it->step));
        } else if (it->kind == IC__TRK_PARAM) {
            add_tag(params, it->key, it->value);
        } else if (it->kind == IC__TRK_TAG) {
            add_tag(tags, it->key, it->value);
        }
    }
    json_t *req = json_pack("{s:s,s:o,s:o,s:o}", "run_id", t->run_id, "metrics", metrics,
                            "params", params, "tags", tags);
    enum ic__trk_res res = post(t, "runs/log-batch", "runs/log-batch", req, NULL, retry_after);
    json_decref(req);
    return res;
}

enum ic__trk_res ic__rest_log_input(struct ic_tracker *t, const char *input_json,
                                    double *retry_after)
{
    json_t *in = json_loads(input_json, 0, NULL);
    IC_ASSERT(in);
    json_t *req = json_pack("{s:s,s:[o]}", "run_id", t->run_id, "datasets", in);
    enum ic__trk_res res = post(t, "runs/log-inputs", "runs/log-inputs", req, NULL, retry_after);
    json_decref(req);
    return res;
}

enum ic__trk_res ic__rest_end_run(struct ic_tracker *t, int status, int64_t end_time,
                                  double *retry_after)
{
    const char *s = status == IC_RUN_FAILED   ? "FAILED"
                    : status == IC_RUN_KILLED ? "KILLED"
                                              : "FINISHED";
    json_t *req = json_pack("{s:s,s:s,s:s,s:I}", "run_id", t->run_id, "run_uuid", t->run_id,
                            "status", s, "end_time", (json_int_t)end_time);
    enum ic__trk_res res = post(t, "runs/update", "runs/update", req, NULL, retry_after);
    json_decref(req);
    return res;
}

static const char *guess_type(const char *path)
{
    const char *dot = strrchr(path, '.');
    if (!dot)
        return "application/octet-stream";
    if (!strcmp(dot, ".json"))
        return "application/json";
    if (!strcmp(dot, ".txt") || !strcmp(dot, ".md") || !strcmp(dot, ".csv") ||
        !strcmp(dot, ".yaml") || !strcmp(dot, ".yml"))
        return "text/plain";
    return "application/octet-stream";
}

enum ic__trk_res ic__rest_artifact(struct ic_tracker *t, const char *local_path,
                                   const char *rel_path, double *retry_after)
{
    struct ic__rest *r = t->rest;
    if (r->art_mode == 2)
        return ic__fs_copy_file(t, local_path, r->art_local, rel_path);
    if (r->art_mode != 1) {
        ic__trk_warn_once(t, "art-scheme", "artifact_uri %s is not supported (only "
                          "mlflow-artifacts:, http(s): and file:); artifacts are not uploaded",
                          t->artifact_uri ? t->artifact_uri : "(none)");
        return IC__TRK_DROP;
    }
    FILE *f = fopen(local_path, "rb");
    if (!f) {
        ic__trk_warn_once(t, local_path, "artifact %s: cannot open: %s", local_path,
                          strerror(errno));
        return IC__TRK_DROP;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0) {
        fclose(f);
        return IC__TRK_DROP;
    }
    struct ic_buf u;
    ic_buf_init(&u, 0);
    int rc = ic_buf_printf(&u, "%s", r->art_base);
    if (rc == IC_OK)
        rc = append_escaped_path(r, &u, rel_path);
    char errbuf[CURL_ERROR_SIZE];
    struct body b;
    long code;
    CURLcode cc = http(t, "PUT", u.data, NULL, f, (curl_off_t)st.st_size, guess_type(local_path),
                       &code, &b, errbuf);
    fclose(f);
    enum ic__trk_res res = classify(t, "artifact upload", cc, code, &b, errbuf, retry_after);
    ic_buf_free(&b.buf);
    ic_buf_free(&u);
    return res;
}
