/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - the HTTP server: libmicrohttpd plumbing, the reference-counted
 * model, the inference pool with cross-request batching, metrics, reload and
 * graceful stop. Request validation and JSON bodies live in routes.c; the
 * static documents in openapi.c.
 *
 * Threads: libmicrohttpd runs one thread per connection (default) or an
 * epoll thread pool; handlers run inference synchronously on a fixed pool of
 * opts.threads contexts. A /classify request queues a job; when a context is
 * free, the first waiting thread becomes the leader, takes every queued job
 * (up to opts.coalesce texts), runs them as one batched forward and wakes
 * their owners. Under no load a request runs alone at once; under load the
 * batches grow by themselves, so nobody waits for a timer.
 *
 * Memory: per-connection buffers (body, response, parsed request, results)
 * are reused by every request on that connection and freed when it closes;
 * the model and the contexts are allocated when the model loads.
 */
#include "intent/serve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <math.h>
#include <malloc.h>
#include <microhttpd.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "intent/infer.h"
#include "intent/model.h"
#include "serve/routes.h"
#include "serve/serve_int.h"

/* Appends a string literal (its length known at compile time). */
#define buf_lit(b, lit) ic_buf_append((b), (lit), sizeof(lit) - 1)

/* --------------------------------------------------------------------------
 * Options. */

int ic_serve_opts_check(const struct ic_serve_opts *o, struct ic_err *err)
{
    if (!o->model_path || !*o->model_path)
        return ic_errf(err, IC_ERR_INVAL, "serve: no model path");
    if (!o->host || !*o->host)
        return ic_errf(err, IC_ERR_INVAL, "serve: no host");
    if (o->port < 0 || o->port > 65535)
        return ic_errf(err, IC_ERR_INVAL, "serve: port %d out of range [0, 65535]", o->port);
    if (o->threads < 0 || o->threads > 256)
        return ic_errf(err, IC_ERR_INVAL, "serve: threads %d out of range [0, 256]", o->threads);
    if (o->max_body < 1024 || o->max_body > (1u << 30))
        return ic_errf(err, IC_ERR_INVAL, "serve: max body %zu out of range [1024, 1 GiB]",
                       o->max_body);
    if (o->max_batch < 1 || o->max_batch > 65536)
        return ic_errf(err, IC_ERR_INVAL, "serve: max batch %d out of range [1, 65536]",
                       o->max_batch);
    if (o->timeout < 0 || o->timeout > 86400)
        return ic_errf(err, IC_ERR_INVAL, "serve: timeout %d out of range [0, 86400]",
                       o->timeout);
    if (o->max_connections < 1 || o->max_connections > 65536)
        return ic_errf(err, IC_ERR_INVAL, "serve: max connections %d out of range [1, 65536]",
                       o->max_connections);
    if (o->coalesce < 1 || o->coalesce > 1024)
        return ic_errf(err, IC_ERR_INVAL, "serve: coalesce %d out of range [1, 1024]",
                       o->coalesce);
    if (o->max_length < 0 || o->max_length == 1)
        return ic_errf(err, IC_ERR_INVAL, "serve: max length %d must be 0 or >= 2",
                       o->max_length);
    return IC_OK;
}

/* --------------------------------------------------------------------------
 * The model, its inference contexts and the job queue. */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct job {
    struct job *next;
    const char *const *texts;
    const size_t *lens;
    int n, top_k;
    struct ic_prediction *preds;  /* [n], owned by the requester */
    struct ic_label_prob *tops;   /* [n * top_k], owned by the requester */
    int state, rc;
    pthread_cond_t *cond;
};

struct worker {
    struct ic_infer inf;
    const char **texts; /* flat arrays for a merged batch */
    size_t *lens;
    struct ic_prediction *preds;
    size_t cap;
};

struct mref {
    struct ic_model model;
    char *path;
    double load_ms;
    atomic_int refs;
    pthread_mutex_t mu;
    struct worker *workers;
    struct worker **free_w;
    int n_workers, n_free;
    struct job *qhead, *qtail;
    int q_texts;            /* texts queued */
    int coalesce;
    int gather_us;          /* wait for a batch to assemble (0 = never) */
    int gathering;          /* a would-be leader is waiting for more jobs */
    int gather_target;      /* ... until this many texts are queued */
    pthread_cond_t *gather_cond;
    int last_batch;         /* texts in the last merged batch */
    atomic_ullong n_batches, n_batch_texts;
};

static void worker_reserve(struct worker *w, size_t n)
{
    if (n <= w->cap)
        return;
    size_t cap = w->cap ? w->cap : 64;
    while (cap < n)
        cap *= 2;
    w->texts = ic_xrealloc(w->texts, cap * sizeof *w->texts);
    w->lens = ic_xrealloc(w->lens, cap * sizeof *w->lens);
    w->preds = ic_xrealloc(w->preds, cap * sizeof *w->preds);
    w->cap = cap;
}

static void mref_free(struct mref *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_workers; i++) {
        ic_infer_free(&r->workers[i].inf);
        ic_free(r->workers[i].texts);
        ic_free(r->workers[i].lens);
        ic_free(r->workers[i].preds);
    }
    ic_free(r->workers);
    ic_free(r->free_w);
    ic_model_free(&r->model);
    ic_free(r->path);
    pthread_mutex_destroy(&r->mu);
    ic_free(r);
}

static int mref_load(const char *path, const struct ic_serve_opts *o, int n_workers,
                     struct mref **out, struct ic_err *err)
{
    double t0 = ic_time_now();
    struct mref *r = ic_xcalloc(1, sizeof *r);
    int rc;
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->refs, 1);
    r->path = ic_xstrdup(path);
    r->coalesce = o->coalesce;
    r->gather_us = o->gather_us;
    ic_model_init(&r->model);
    rc = ic_model_load(&r->model, path, err);
    if (rc)
        goto out;
    if (!r->model.labels) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: model has no label names", path);
        goto out;
    }
    r->workers = ic_xcalloc((size_t)n_workers, sizeof *r->workers);
    r->free_w = ic_xcalloc((size_t)n_workers, sizeof *r->free_w);
    struct ic_infer_opts io;
    ic_infer_default_opts(&io);
    io.max_length = o->max_length;
    io.no_calibration = o->no_calibration;
    io.oos_score = o->oos_score;
    io.fallback_threshold = o->fallback_threshold;
    io.ambiguity_threshold = o->ambiguity_threshold;
    io.fallback_intent = o->fallback_intent;
    /* Rows per forward for short texts: the largest merged batch (the token
     * budget, and so the activation memory, follows it). */
    io.max_batch = o->coalesce;
    for (int i = 0; i < n_workers; i++) {
        rc = ic_infer_init(&r->workers[i].inf, &r->model, &io, err);
        if (rc)
            goto out;
        r->n_workers++;
        worker_reserve(&r->workers[i], (size_t)io.max_batch);
        r->free_w[r->n_free++] = &r->workers[i];
        /* Warm-up: touches the activation memory so the first request does
         * not pay for page faults, and proves the model runs. */
        const char *warm = "hola";
        struct ic_prediction p;
        rc = ic_predict_batch(&r->workers[i].inf, &warm, NULL, 1, 0, &p, err);
        if (rc) {
            ic_err_prefix(err, "%s: warm-up", path);
            goto out;
        }
    }
    r->load_ms = (ic_time_now() - t0) * 1e3;
#ifdef __GLIBC__
    /* Loading freed the checkpoint's file buffer and tensor copies; give the
     * pages back so the resident size is the model plus the contexts. */
    malloc_trim(0);
#endif
out:
    if (rc) {
        mref_free(r);
        r = NULL;
    }
    *out = r;
    return rc;
}

static void mref_release(struct mref *r)
{
    if (r && atomic_fetch_sub(&r->refs, 1) == 1)
        mref_free(r);
}

/* Kernels run single-threaded inside each context: opts.threads contexts
 * already use the cores, and OpenMP's thread count is per calling thread. */
static __thread int kernel_threads_set;

/* Runs one merged batch with worker w (r->mu NOT held). */
static void lead_batch(struct mref *r, struct worker *w, struct job *first)
{
    if (!kernel_threads_set) {
        ic_set_threads(1);
        kernel_threads_set = 1;
    }
    int total = 0, top_k = 0;
    for (struct job *j = first; j; j = j->next) {
        total += j->n;
        if (j->top_k > top_k)
            top_k = j->top_k;
    }
    worker_reserve(w, (size_t)total);
    int k = 0;
    for (struct job *j = first; j; j = j->next)
        for (int i = 0; i < j->n; i++, k++) {
            w->texts[k] = j->texts[i];
            w->lens[k] = j->lens[i];
        }
    struct ic_err err;
    int rc = ic_predict_batch(&w->inf, w->texts, w->lens, total, top_k, w->preds, &err);
    if (rc)
        ic_log(IC_LOG_ERROR, "serve: inference failed: %s", err.msg);
    atomic_fetch_add_explicit(&r->n_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->n_batch_texts, (unsigned long long)total,
                              memory_order_relaxed);
    k = 0;
    for (struct job *j = first; j; j = j->next) {
        j->rc = rc;
        for (int i = 0; i < j->n && !rc; i++, k++) {
            struct ic_prediction *p = &j->preds[i];
            *p = w->preds[k];
            int nt = j->top_k < p->n_top ? j->top_k : p->n_top;
            if (nt > 0) {
                memcpy(j->tops + (size_t)i * j->top_k, p->top, (size_t)nt * sizeof *p->top);
                p->top = j->tops + (size_t)i * j->top_k;
            } else {
                p->top = NULL;
            }
            p->n_top = nt;
        }
    }
}

/* Queues j and returns when it is done (j->rc set). */
static void run_job(struct mref *r, struct job *j)
{
    pthread_mutex_lock(&r->mu);
    j->next = NULL;
    j->state = JOB_QUEUED;
    if (r->qtail)
        r->qtail->next = j;
    else
        r->qhead = j;
    r->qtail = j;
    r->q_texts += j->n;
    if (r->gathering && r->q_texts >= r->gather_target)
        pthread_cond_signal(r->gather_cond);
    while (j->state != JOB_DONE) {
        if (r->n_free > 0 && r->qhead && !r->gathering) {
            /* Under concurrent load (the last batch merged several requests)
             * give the batch a moment to assemble as large as the last one. */
            if (r->gather_us > 0 && r->last_batch > 1 && r->q_texts < r->last_batch &&
                r->q_texts < r->coalesce) {
                struct timespec ts;
                clock_gettime(CLOCK_REALTIME, &ts);
                ts.tv_nsec += (long)r->gather_us * 1000;
                if (ts.tv_nsec >= 1000000000L) {
                    ts.tv_sec++;
                    ts.tv_nsec -= 1000000000L;
                }
                r->gathering = 1;
                r->gather_target = r->last_batch < r->coalesce ? r->last_batch : r->coalesce;
                r->gather_cond = j->cond;
                while (r->q_texts < r->gather_target &&
                       pthread_cond_timedwait(j->cond, &r->mu, &ts) == 0)
                    ;
                r->gathering = 0;
                r->last_batch = 1; /* gather at most once per batch that follows */
                if (j->state == JOB_DONE)
                    break;
                continue;
            }
            /* Lead: take queued jobs in order, up to coalesce texts (always at
             * least one job, however many texts it has). */
            struct worker *w = r->free_w[--r->n_free];
            struct job *first = r->qhead, *last = first;
            int total = first->n;
            while (last->next && total + last->next->n <= r->coalesce) {
                last = last->next;
                total += last->n;
            }
            r->qhead = last->next;
            if (!r->qhead)
                r->qtail = NULL;
            r->q_texts -= total;
            r->last_batch = total;
            last->next = NULL;
            for (struct job *x = first; x; x = x->next)
                x->state = JOB_RUNNING;
            pthread_mutex_unlock(&r->mu);

            lead_batch(r, w, first);

            pthread_mutex_lock(&r->mu);
            r->free_w[r->n_free++] = w;
            for (struct job *x = first, *nx; x; x = nx) {
                nx = x->next;
                x->state = JOB_DONE;
                if (x != j)
                    pthread_cond_signal(x->cond);
            }
            continue;
        }
        pthread_cond_wait(j->cond, &r->mu);
    }
    /* A context may be free while jobs wait: make sure one of them leads. */
    if (r->n_free > 0 && r->qhead && !r->gathering)
        pthread_cond_signal(r->qhead->cond);
    pthread_mutex_unlock(&r->mu);
}

/* --------------------------------------------------------------------------
 * Metrics. */

enum route { R_HEALTH, R_CLASSIFY, R_BATCH, R_INTENTS, R_METRICS, R_OPENAPI, R_DOCS, R_OTHER,
             R_COUNT };
static const struct {
    const char *path, *method;
} routes[R_OTHER] = {
    {"/health", "GET"},   {"/classify", "POST"},     {"/classify/batch", "POST"},
    {"/intents", "GET"},  {"/metrics", "GET"},       {"/openapi.json", "GET"},
    {"/docs", "GET"},
};
static const char *const route_label[R_COUNT] = {
    "/health", "/classify", "/classify/batch", "/intents", "/metrics", "/openapi.json", "/docs",
    "other"};

static const int statuses[] = {200, 400, 404, 405, 413, 422, 500, 503};
#define N_STATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
#define N_BUCKET ((int)(sizeof buckets / sizeof buckets[0]))

struct metrics {
    atomic_ullong count[R_COUNT][N_STATUS + 1]; /* last: any other status */
    atomic_ullong hist[R_COUNT][N_BUCKET + 1];  /* last: +Inf */
    atomic_ullong sum_us[R_COUNT];
};

/* --------------------------------------------------------------------------
 * The server. */

struct ic_server {
    struct ic_serve_opts o;
    char *model_path, *host;
    int n_workers;
    struct MHD_Daemon *d;
    int port;
    pthread_mutex_t mu;        /* guards cur */
    pthread_mutex_t reload_mu; /* serialises reloads */
    struct mref *cur;
    atomic_int in_flight, open_conns;
    atomic_ullong reloads, reload_failures;
    double t_start;
    struct metrics m;
};

struct conn {
    struct ic_server *s;
    struct ic_buf body, out;
    struct ic__req req;
    struct ic_prediction *preds;
    struct ic_label_prob *tops;
    size_t cap_preds, cap_tops;
    pthread_cond_t cond;
    int route, status, too_big, active;
    size_t discarded;
    double t0;
};

static struct mref *acquire(struct ic_server *s)
{
    pthread_mutex_lock(&s->mu);
    struct mref *r = s->cur;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static enum route route_of(const char *url)
{
    for (int i = 0; i < R_OTHER; i++)
        if (strcmp(url, routes[i].path) == 0)
            return (enum route)i;
    return R_OTHER;
}

static enum MHD_Result reply(struct conn *c, struct MHD_Connection *mc, int status,
                             const char *ctype, const char *data, size_t len, int persistent,
                             const char *allow)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        len, (void *)data, persistent ? MHD_RESPMEM_PERSISTENT : MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    if (allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
    c->status = status;
    enum MHD_Result ret = MHD_queue_response(mc, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result reply_json(struct conn *c, struct MHD_Connection *mc, int status)
{
    return reply(c, mc, status, "application/json", c->out.data ? c->out.data : "",
                 c->out.len, 0, NULL);
}

static enum MHD_Result reply_detail(struct conn *c, struct MHD_Connection *mc, int status,
                                    const char *detail, const char *allow)
{
    ic_buf_reset(&c->out);
    if (ic__json_detail(&c->out, detail))
        return MHD_NO;
    return reply(c, mc, status, "application/json", c->out.data, c->out.len, 0, allow);
}

static void conn_reserve(struct conn *c, size_t n, int top_k)
{
    if (n > c->cap_preds) {
        size_t cap = c->cap_preds ? c->cap_preds : 16;
        while (cap < n)
            cap *= 2;
        c->preds = ic_xrealloc(c->preds, cap * sizeof *c->preds);
        c->cap_preds = cap;
    }
    size_t nt = n * (size_t)top_k;
    if (nt > c->cap_tops) {
        size_t cap = c->cap_tops ? c->cap_tops : 64;
        while (cap < nt)
            cap *= 2;
        c->tops = ic_xrealloc(c->tops, cap * sizeof *c->tops);
        c->cap_tops = cap;
    }
}

static enum MHD_Result do_classify(struct ic_server *s, struct conn *c,
                                   struct MHD_Connection *mc, int batch)
{
    const char *ct =
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
    ic_buf_reset(&c->out);
    int status = ic__parse_classify(c->body.data ? c->body.data : "", c->body.len, ct, batch,
                                    s->o.max_batch, &c->req, &c->out);
    if (status != 200)
        return reply_json(c, mc, status);

    struct mref *r = acquire(s);
    int n_labels = r->model.bert.cfg.num_labels;
    int top_k = c->req.top_k < n_labels ? c->req.top_k : n_labels;
    conn_reserve(c, (size_t)c->req.n, top_k);
    struct job j = {.texts = c->req.texts, .lens = c->req.lens, .n = c->req.n, .top_k = top_k,
                    .preds = c->preds, .tops = c->tops, .cond = &c->cond};
    if (j.n > 0)
        run_job(r, &j);
    enum MHD_Result ret;
    if (j.rc) {
        ret = reply_detail(c, mc, 500, "Internal Server Error", NULL);
        goto out;
    }
    ic_buf_reset(&c->out);
    int rc = 0;
    if (batch)
        rc |= buf_lit(&c->out, "{\"results\":[");
    for (int i = 0; i < j.n; i++) {
        if (i)
            rc |= buf_lit(&c->out, ",");
        rc |= ic_prediction_json(&c->out, &r->model, c->req.texts[i], c->req.lens[i],
                                  &c->preds[i]);
    }
    if (batch)
        rc |= buf_lit(&c->out, "]}");
    ret = rc ? reply_detail(c, mc, 500, "Internal Server Error", NULL) : reply_json(c, mc, 200);
out:
    mref_release(r);
    return ret;
}

static long long rss_bytes(const char *key)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long long kb = -1;
    size_t kl = strlen(key);
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, key, kl) == 0 && line[kl] == ':') {
            kb = strtoll(line + kl + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

static int put_model_facts_json(struct ic_buf *b, const struct mref *r)
{
    const struct ic_bert_config *cfg = &r->model.bert.cfg;
    int rc = buf_lit(b, "\"model\":");
    rc |= ic_buf_json_str(b, r->path, strlen(r->path));
    rc |= ic_buf_printf(b, ",\"num_labels\":%d,\"max_length\":%d,\"layers\":%d,"
                        "\"hidden_size\":%d,\"heads\":%d,\"vocab_size\":%d,\"parameters\":%zu",
                        cfg->num_labels, r->workers[0].inf.max_length, cfg->num_layers,
                        cfg->hidden_size, cfg->num_heads, cfg->vocab_size,
                        r->model.bert.num_params);
    if (r->model.base_model) {
        rc |= buf_lit(b, ",\"base_model\":");
        rc |= ic_buf_json_str(b, r->model.base_model, strlen(r->model.base_model));
    }
    return rc;
}

static enum MHD_Result do_health(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    struct mref *r = acquire(s);
    ic_buf_reset(&c->out);
    int rc = buf_lit(&c->out, "{\"status\":\"ok\",");
    rc |= put_model_facts_json(&c->out, r);
    rc |= ic_buf_printf(&c->out, ",\"version\":\"%s\",\"uptime_s\":%.3f,\"reloads\":%llu}",
                        IC_VERSION, ic_time_now() - s->t_start,
                        (unsigned long long)atomic_load(&s->reloads));
    mref_release(r);
    return rc ? MHD_NO : reply_json(c, mc, 200);
}

static enum MHD_Result do_intents(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    struct mref *r = acquire(s);
    ic_buf_reset(&c->out);
    int rc = buf_lit(&c->out, "{\"intents\":[");
    for (int i = 0; i < r->model.bert.cfg.num_labels; i++) {
        const char *l = r->model.labels[i] ? r->model.labels[i] : "";
        if (i)
            rc |= buf_lit(&c->out, ",");
        rc |= ic_buf_json_str(&c->out, l, strlen(l));
    }
    rc |= buf_lit(&c->out, "]}");
    mref_release(r);
    return rc ? MHD_NO : reply_json(c, mc, 200);
}

/* Prometheus label values: escape backslash, quote and newline. */
static int prom_label(struct ic_buf *b, const char *v)
{
    int rc = 0;
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            rc |= ic_buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            rc |= buf_lit(b, "\\n");
        else
            rc |= ic_buf_append(b, v, 1);
    }
    return rc;
}

static enum MHD_Result do_metrics(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    struct ic_buf *b = &c->out;
    struct metrics *m = &s->m;
    ic_buf_reset(b);
    int rc = ic_buf_printf(b, "# HELP intent_http_requests_total HTTP requests by route and "
                              "status code.\n# TYPE intent_http_requests_total counter\n");
    for (int r = 0; r < R_COUNT; r++)
        for (int k = 0; k <= N_STATUS; k++) {
            unsigned long long v = atomic_load_explicit(&m->count[r][k], memory_order_relaxed);
            if (!v)
                continue;
            if (k < N_STATUS)
                rc |= ic_buf_printf(b, "intent_http_requests_total{route=\"%s\",status=\"%d\"} "
                                       "%llu\n", route_label[r], statuses[k], v);
            else
                rc |= ic_buf_printf(b, "intent_http_requests_total{route=\"%s\",status="
                                       "\"other\"} %llu\n", route_label[r], v);
        }
    rc |= ic_buf_printf(b, "# HELP intent_http_request_duration_seconds Time from the request "
                           "headers to the response sent.\n# TYPE "
                           "intent_http_request_duration_seconds histogram\n");
    for (int r = 0; r < R_COUNT; r++) {
        unsigned long long cum = 0, tot = 0;
        for (int k = 0; k <= N_BUCKET; k++)
            tot += atomic_load_explicit(&m->hist[r][k], memory_order_relaxed);
        if (!tot)
            continue;
        for (int k = 0; k <= N_BUCKET; k++) {
            cum += atomic_load_explicit(&m->hist[r][k], memory_order_relaxed);
            if (k < N_BUCKET)
                rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_bucket{route=\"%s\","
                                       "le=\"%g\"} %llu\n", route_label[r], buckets[k], cum);
            else
                rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_bucket{route=\"%s\","
                                       "le=\"+Inf\"} %llu\n", route_label[r], cum);
        }
        rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                            route_label[r],
                            (double)atomic_load(&m->sum_us[r]) * 1e-6);
        rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            route_label[r], cum);
    }
    struct mref *r = acquire(s);
    const struct ic_bert_config *cfg = &r->model.bert.cfg;
    rc |= ic_buf_printf(b, "# HELP intent_inference_batches_total Forward batches run "
                           "(requests merged across connections count once).\n"
                           "# TYPE intent_inference_batches_total counter\n"
                           "intent_inference_batches_total %llu\n"
                           "# HELP intent_inference_texts_total Texts classified.\n"
                           "# TYPE intent_inference_texts_total counter\n"
                           "intent_inference_texts_total %llu\n",
                        (unsigned long long)atomic_load(&r->n_batches),
                        (unsigned long long)atomic_load(&r->n_batch_texts));
    rc |= ic_buf_printf(b, "# HELP intent_model_info The model being served.\n"
                           "# TYPE intent_model_info gauge\nintent_model_info{path=\"");
    rc |= prom_label(b, r->path);
    rc |= ic_buf_printf(b, "\",base_model=\"");
    rc |= prom_label(b, r->model.base_model ? r->model.base_model : "");
    rc |= ic_buf_printf(b, "\",version=\"%s\"} 1\n", IC_VERSION);
    rc |= ic_buf_printf(b, "# TYPE intent_model_labels gauge\nintent_model_labels %d\n"
                           "# TYPE intent_model_max_length gauge\nintent_model_max_length %d\n"
                           "# TYPE intent_model_parameters gauge\nintent_model_parameters %zu\n"
                           "# TYPE intent_model_layers gauge\nintent_model_layers %d\n"
                           "# TYPE intent_model_hidden_size gauge\nintent_model_hidden_size %d\n"
                           "# TYPE intent_model_load_seconds gauge\n"
                           "intent_model_load_seconds %.6f\n",
                        cfg->num_labels, r->workers[0].inf.max_length, r->model.bert.num_params,
                        cfg->num_layers, cfg->hidden_size, r->load_ms * 1e-3);
    mref_release(r);
    rc |= ic_buf_printf(b, "# TYPE intent_model_reloads_total counter\n"
                           "intent_model_reloads_total %llu\n"
                           "# TYPE intent_model_reload_failures_total counter\n"
                           "intent_model_reload_failures_total %llu\n"
                           "# TYPE intent_http_connections gauge\nintent_http_connections %d\n"
                           "# TYPE intent_http_in_flight gauge\nintent_http_in_flight %d\n"
                           "# TYPE process_resident_memory_bytes gauge\n"
                           "process_resident_memory_bytes %lld\n"
                           "# TYPE process_resident_memory_max_bytes gauge\n"
                           "process_resident_memory_max_bytes %lld\n"
                           "# TYPE intent_uptime_seconds gauge\nintent_uptime_seconds %.3f\n",
                        (unsigned long long)atomic_load(&s->reloads),
                        (unsigned long long)atomic_load(&s->reload_failures),
                        atomic_load(&s->open_conns), atomic_load(&s->in_flight),
                        rss_bytes("VmRSS"), rss_bytes("VmHWM"), ic_time_now() - s->t_start);
    if (rc)
        return MHD_NO;
    return reply(c, mc, 200, "text/plain; version=0.0.4; charset=utf-8", b->data, b->len, 0,
                 NULL);
}

static int wants_body(int route)
{
    return route == R_CLASSIFY || route == R_BATCH;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *mc, const char *url,
                               const char *method, const char *version,
                               const char *upload_data, size_t *upload_data_size, void **req_cls)
{
    struct ic_server *s = cls;
    struct conn *c = *req_cls;
    (void)version;
    if (!c) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(mc, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        c = ci ? (struct conn *)ci->socket_context : NULL;
        if (!c)
            return MHD_NO;
        c->t0 = ic_time_now();
        c->route = route_of(url);
        c->status = 0;
        c->too_big = 0;
        c->discarded = 0;
        c->active = 1;
        ic_buf_reset(&c->body);
        atomic_fetch_add(&s->in_flight, 1);
        *req_cls = c;
        const char *cl =
            MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            errno = 0;
            unsigned long long v = strtoull(cl, &end, 10);
            if (errno == ERANGE || v > s->o.max_body) {
                c->too_big = 1;
                return reply_detail(c, mc, 413, "Request body too large", NULL);
            }
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (c->status)
            return MHD_YES; /* a response is already queued; MHD discards the rest */
        if (!c->too_big && wants_body(c->route)) {
            if (ic_buf_append(&c->body, upload_data, n) != IC_OK) {
                c->too_big = 1;
                ic_buf_free(&c->body);
                ic_buf_init(&c->body, s->o.max_body);
            }
        } else if (c->too_big) {
            c->discarded += n;
            if (c->discarded > 4 * s->o.max_body)
                return MHD_NO; /* a chunked flood: drop the connection */
        }
        return MHD_YES;
    }
    if (c->status)
        return MHD_YES;
    if (c->too_big)
        return reply_detail(c, mc, 413, "Request body too large", NULL);
    if (c->route == R_OTHER)
        return reply_detail(c, mc, 404, "Not Found", NULL);
    if (strcmp(method, routes[c->route].method) != 0)
        return reply_detail(c, mc, 405, "Method Not Allowed", routes[c->route].method);
    size_t len;
    const char *doc;
    switch (c->route) {
    case R_HEALTH:
        return do_health(s, c, mc);
    case R_CLASSIFY:
        return do_classify(s, c, mc, 0);
    case R_BATCH:
        return do_classify(s, c, mc, 1);
    case R_INTENTS:
        return do_intents(s, c, mc);
    case R_METRICS:
        return do_metrics(s, c, mc);
    case R_OPENAPI:
        doc = ic__openapi_json(&len);
        return reply(c, mc, 200, "application/json", doc, len, 1, NULL);
    case R_DOCS:
        doc = ic__docs_html(&len);
        return reply(c, mc, 200, "text/html; charset=utf-8", doc, len, 1, NULL);
    default:
        return reply_detail(c, mc, 404, "Not Found", NULL);
    }
}

static void completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct ic_server *s = cls;
    struct conn *c = *req_cls;
    (void)mc;
    (void)toe;
    if (!c || !c->active)
        return;
    c->active = 0;
    *req_cls = NULL;
    if (c->status) {
        double dt = ic_time_now() - c->t0;
        int k = 0;
        while (k < N_STATUS && statuses[k] != c->status)
            k++;
        int bk = 0;
        while (bk < N_BUCKET && dt > buckets[bk])
            bk++;
        atomic_fetch_add_explicit(&s->m.count[c->route][k], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->m.hist[c->route][bk], 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->m.sum_us[c->route], (unsigned long long)(dt * 1e6),
                                  memory_order_relaxed);
    }
    /* Keep the connection's memory flat: drop the JSON tree and any body
     * buffer that grew past 64 KiB. */
    ic__req_release_tree(&c->req);
    if (c->body.cap > (64u << 10)) {
        ic_buf_free(&c->body);
        ic_buf_init(&c->body, s->o.max_body);
    }
    if (c->out.cap > (64u << 10)) {
        ic_buf_free(&c->out);
        ic_buf_init(&c->out, 0);
    }
    atomic_fetch_sub(&s->in_flight, 1);
}

static void conn_notify(void *cls, struct MHD_Connection *mc, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe)
{
    struct ic_server *s = cls;
    (void)mc;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        struct conn *c = ic_xcalloc(1, sizeof *c);
        c->s = s;
        ic_buf_init(&c->body, s->o.max_body);
        ic_buf_init(&c->out, 0);
        ic__req_init(&c->req);
        pthread_cond_init(&c->cond, NULL);
        *socket_context = c;
        atomic_fetch_add(&s->open_conns, 1);
    } else if (toe == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn *c = *socket_context;
        if (!c)
            return;
        ic_buf_free(&c->body);
        ic_buf_free(&c->out);
        ic__req_free(&c->req);
        ic_free(c->preds);
        ic_free(c->tops);
        pthread_cond_destroy(&c->cond);
        ic_free(c);
        *socket_context = NULL;
        atomic_fetch_sub(&s->open_conns, 1);
    }
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = 0;
    ic_log(IC_LOG_DEBUG, "serve: libmicrohttpd: %s", msg);
}

/* --------------------------------------------------------------------------
 * Start, reload, stop. */

int ic_server_port(const struct ic_server *s)
{
    return s ? s->port : 0;
}

char *ic_server_describe(const struct ic_server *s)
{
    struct ic_server *ms = (struct ic_server *)s;
    struct mref *r = acquire(ms);
    const struct ic_bert_config *cfg = &r->model.bert.cfg;
    char *out = ic_xasprintf("model %s: %d labels, max_length %d, %d layers x %d hidden, "
                             "%.2fM parameters, loaded in %.1f ms; inference threads: %d",
                             r->path, cfg->num_labels, r->workers[0].inf.max_length,
                             cfg->num_layers, cfg->hidden_size,
                             (double)r->model.bert.num_params / 1e6, r->load_ms, s->n_workers);
    mref_release(r);
    return out;
}

int ic_server_reload(struct ic_server *s, const char *path, struct ic_err *err)
{
    struct mref *r = NULL, *old;
    pthread_mutex_lock(&s->reload_mu);
    if (!path) {
        pthread_mutex_lock(&s->mu);
        path = s->cur->path;
        pthread_mutex_unlock(&s->mu);
    }
    char *p = ic_xstrdup(path); /* s->cur->path dies with the old model */
    int rc = mref_load(p, &s->o, s->n_workers, &r, err);
    if (rc) {
        atomic_fetch_add(&s->reload_failures, 1);
        goto out;
    }
    pthread_mutex_lock(&s->mu);
    old = s->cur;
    s->cur = r;
    pthread_mutex_unlock(&s->mu);
    mref_release(old);
    atomic_fetch_add(&s->reloads, 1);
out:
    ic_free(p);
    pthread_mutex_unlock(&s->reload_mu);
    return rc;
}

static int resolve_host(const char *host, int port, struct sockaddr_storage *ss, int *v6,
                        struct ic_err *err)
{
    struct addrinfo hints, *res = NULL;
    char sport[16];
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(sport, sizeof sport, "%d", port);
    int g = getaddrinfo(host, sport, &hints, &res);
    if (g != 0 || !res)
        return ic_errf(err, IC_ERR_NET, "serve: cannot resolve host \"%s\": %s", host,
                       gai_strerror(g));
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *v6 = res->ai_family == AF_INET6;
    freeaddrinfo(res);
    return IC_OK;
}

int ic_server_start(struct ic_server **out, const struct ic_serve_opts *o, struct ic_err *err)
{
    *out = NULL;
    int rc = ic_serve_opts_check(o, err);
    if (rc)
        return rc;
    struct ic_server *s = ic_xcalloc(1, sizeof *s);
    s->t_start = ic_time_now();
    s->o = *o;
    s->model_path = ic_xstrdup(o->model_path);
    s->host = ic_xstrdup(o->host);
    s->o.model_path = s->model_path;
    s->o.host = s->host;
    s->o.owned_model_path = s->o.owned_host = NULL; /* the caller's */
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->reload_mu, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    /* Default: half the cores run inference (batched across requests); the
     * rest is left to the connection threads and, often, the clients. */
    s->n_workers = o->threads > 0 ? o->threads : (ncpu > 1 ? (int)ncpu / 2 : 1);

    /* The address first: a mistyped host fails before the model is loaded. */
    struct sockaddr_storage ss;
    int v6 = 0;
    rc = resolve_host(s->host, o->port, &ss, &v6, err);
    if (rc)
        goto fail;
    rc = mref_load(s->model_path, &s->o, s->n_workers, &s->cur, err);
    if (rc)
        goto fail;

    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC | MHD_USE_ERROR_LOG;
    if (v6)
        flags |= MHD_USE_IPv6;
    unsigned pool = 0;
    if (o->event_loop) {
        flags |= MHD_USE_EPOLL;
        pool = (unsigned)s->n_workers;
    } else {
        flags |= MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL;
    }
    s->d = MHD_start_daemon(
        flags, 0, NULL, NULL, handler, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout,
        MHD_OPTION_NOTIFY_COMPLETED, completed, s,
        MHD_OPTION_NOTIFY_CONNECTION, conn_notify, s,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 511u,
        pool ? MHD_OPTION_THREAD_POOL_SIZE : MHD_OPTION_END, pool,
        MHD_OPTION_END);
    if (!s->d) {
        rc = ic_errf(err, IC_ERR_NET, "serve: cannot listen on %s port %d (in use, or not an "
                     "address of this machine?)", s->host, o->port);
        goto fail;
    }
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    s->port = di ? di->port : o->port;
    *out = s;
    return IC_OK;
fail:
    mref_release(s->cur);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->reload_mu);
    ic_free(s->model_path);
    ic_free(s->host);
    ic_free(s);
    return rc;
}

void ic_server_stop(struct ic_server *s, double grace_s)
{
    if (!s)
        return;
    if (s->d) {
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET)
            close(fd);
        double t0 = ic_time_now();
        while (atomic_load(&s->in_flight) > 0 && ic_time_now() - t0 < grace_s) {
            struct timespec ts = {0, 2000000};
            nanosleep(&ts, NULL);
        }
        MHD_stop_daemon(s->d);
    }
    mref_release(s->cur);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->reload_mu);
    ic_free(s->model_path);
    ic_free(s->host);
    ic_free(s);
}
