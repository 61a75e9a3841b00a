/* SPDX-License-Identifier: Apache-2.0 */
/*
 * server.c - the HTTP server: libmicrohttpd plumbing, the reference-counted
 * model, the inference pool with cross-request batching, metrics, reload and
 * graceful stop. Request validation and JSON bodies live in routes.c; the
 * static documents in openapi.c.
 *
 * Threads: libmicrohttpd runs one thread per connection (default) or an
 * epoll thread pool; handlers run inference synchronously on a fixed pool of
 * opts.threads contexts. An inference request is admitted (at most
 * opts.max_concurrent_requests at once, else 429), tokenized on its own
 * thread, and queued as a job; when a context is free, the first waiting
 * thread becomes the leader, takes queued jobs in order within the budgets
 * (opts.coalesce texts, opts.max_batch_tokens tokens, opts.max_batch_requests
 * requests; take_batch), runs them as one batched forward and wakes their
 * owners. A job's fields are only touched under mref.mu, or by the leader
 * between taking it and marking it done. Under no load a request runs alone
 * at once; under load the batches grow by themselves, so nobody waits for a
 * timer.
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
    if (o->error_style < 0 || o->error_style > 1)
        return ic_errf(err, IC_ERR_INVAL, "serve: error style %d out of range [0, 1]",
                       o->error_style);
    if (o->max_batch_tokens < 1 || o->max_batch_tokens > (1 << 24))
        return ic_errf(err, IC_ERR_INVAL, "serve: max batch tokens %d out of range [1, %d]",
                       o->max_batch_tokens, 1 << 24);
    if (o->max_batch_requests < 0 || o->max_batch_requests > 65536)
        return ic_errf(err, IC_ERR_INVAL, "serve: max batch requests %d out of range "
                       "[0, 65536]", o->max_batch_requests);
    if (o->max_concurrent_requests < 1 || o->max_concurrent_requests > 65536)
        return ic_errf(err, IC_ERR_INVAL, "serve: max concurrent requests %d out of range "
                       "[1, 65536]", o->max_concurrent_requests);
    if (o->max_length < 0 || o->max_length == 1)
        return ic_errf(err, IC_ERR_INVAL, "serve: max length %d must be 0 or >= 2",
                       o->max_length);
    return IC_OK;
}

/* --------------------------------------------------------------------------
 * The model, its inference contexts and the job queue. */

enum { JOB_QUEUED, JOB_RUNNING, JOB_DONE };

struct metrics;
static void batch_observe(struct metrics *m, int texts, int tokens);

struct job {
    struct job *next;
    const int32_t *const *ids;    /* [n] token ids of each text (ic_infer_encode) */
    const int *ntok, *text_tok;   /* [n] ids given, tokens of the whole text */
    int n, top_k, tokens;         /* tokens: sum of ntok */
    struct ic_prediction *preds;  /* [n], owned by the requester */
    struct ic_label_prob *tops;   /* [n * top_k], owned by the requester */
    float *logits;                /* [n * num_labels] raw scores wanted, or NULL */
    int state, rc;
    double t_queued, t_run, t_done; /* ic_time_now(): queued, forward started, done */
    pthread_cond_t *cond;
};

struct worker {
    struct ic_infer inf;
    const int32_t **ids; /* flat arrays for a merged batch */
    int *ntok;
    struct ic_prediction *preds;
    size_t cap;
    float *logits;      /* [cap_logits] raw scores of a merged batch */
    size_t cap_logits;
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
    int max_tokens;         /* token budget of a merged batch */
    int max_requests;       /* requests per merged batch (0 = any) */
    struct metrics *m;      /* the server's (batch size histograms) */
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
    w->ids = ic_xrealloc(w->ids, cap * sizeof *w->ids);
    w->ntok = ic_xrealloc(w->ntok, cap * sizeof *w->ntok);
    w->preds = ic_xrealloc(w->preds, cap * sizeof *w->preds);
    w->cap = cap;
}

static void mref_free(struct mref *r)
{
    if (!r)
        return;
    for (int i = 0; i < r->n_workers; i++) {
        ic_infer_free(&r->workers[i].inf);
        ic_free(r->workers[i].ids);
        ic_free(r->workers[i].ntok);
        ic_free(r->workers[i].preds);
        ic_free(r->workers[i].logits);
    }
    ic_free(r->workers);
    ic_free(r->free_w);
    ic_model_free(&r->model);
    ic_free(r->path);
    pthread_mutex_destroy(&r->mu);
    ic_free(r);
}

static int mref_load(const char *path, const struct ic_serve_opts *o, int n_workers,
                     struct metrics *m, struct mref **out, struct ic_err *err)
{
    double t0 = ic_time_now();
    struct mref *r = ic_xcalloc(1, sizeof *r);
    int rc;
    pthread_mutex_init(&r->mu, NULL);
    atomic_init(&r->refs, 1);
    r->path = ic_xstrdup(path);
    r->coalesce = o->coalesce;
    r->max_tokens = o->max_batch_tokens;
    r->max_requests = o->max_batch_requests;
    r->m = m;
    r->gather_us = o->gather_us;
    ic_model_init(&r->model);
    rc = ic_model_load(&r->model, path, err);
    if (rc)
        goto out;
    if (!r->model.labels) {
        rc = ic_errf(err, IC_ERR_FORMAT, "%s: model has no label names", path);
        goto out;
    }
    rc = ic_model_set_precision(&r->model, (enum ic_precision)o->precision, err);
    if (rc) {
        ic_err_prefix(err, "%s", path);
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
    int total = 0, top_k = 0, want_logits = 0;
    const int N = w->inf.num_labels;
    for (struct job *j = first; j; j = j->next) {
        total += j->n;
        if (j->top_k > top_k)
            top_k = j->top_k;
        want_logits |= j->logits != NULL;
    }
    worker_reserve(w, (size_t)total);
    w->inf.logits_out = NULL;
    if (want_logits) {
        size_t need = (size_t)total * (size_t)N;
        if (need > w->cap_logits) {
            w->logits = ic_xrealloc(w->logits, need * sizeof *w->logits);
            w->cap_logits = need;
        }
        w->inf.logits_out = w->logits;
    }
    int k = 0, tokens = 0;
    for (struct job *j = first; j; j = j->next) {
        for (int i = 0; i < j->n; i++, k++) {
            w->ids[k] = j->ids[i];
            w->ntok[k] = j->ntok[i];
        }
        tokens += j->tokens;
    }
    struct ic_err err;
    double t_run = ic_time_now();
    int rc = ic_predict_ids(&w->inf, w->ids, w->ntok, total, top_k, w->preds, &err);
    double t_done = ic_time_now();
    if (rc)
        ic_log(IC_LOG_ERROR, "serve: inference failed: %s", err.msg);
    batch_observe(r->m, total, tokens);
    atomic_fetch_add_explicit(&r->n_batches, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&r->n_batch_texts, (unsigned long long)total,
                              memory_order_relaxed);
    k = 0;
    for (struct job *j = first; j; j = j->next) {
        j->rc = rc;
        j->t_run = t_run;
        j->t_done = t_done;
        if (j->logits && !rc)
            memcpy(j->logits, w->logits + (size_t)k * N, (size_t)j->n * N * sizeof *j->logits);
        for (int i = 0; i < j->n && !rc; i++, k++) {
            struct ic_prediction *p = &j->preds[i];
            *p = w->preds[k];
            p->text_tokens = j->text_tok[i];
            p->truncated = j->text_tok[i] > j->ntok[i];
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

/* The last queued job of the next merged batch: jobs in arrival order while
 * the batch stays within coalesce texts, max_tokens tokens and max_requests
 * requests; always at least the first. (Within the batch ic_predict_ids
 * orders the texts by length, so each forward pads little.) r->mu held. */
static struct job *take_batch(const struct mref *r)
{
    struct job *last = r->qhead;
    int texts = last->n, tokens = last->tokens, reqs = 1;
    while (last->next && texts + last->next->n <= r->coalesce &&
           tokens + last->next->tokens <= r->max_tokens &&
           (r->max_requests == 0 || reqs < r->max_requests)) {
        last = last->next;
        texts += last->n;
        tokens += last->tokens;
        reqs++;
    }
    return last;
}

/* Queues j and returns when it is done (j->rc set). */
static void run_job(struct mref *r, struct job *j)
{
    j->t_queued = ic_time_now();
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
            /* Lead: take queued jobs in order within the budgets (always at
             * least one job, however large). */
            struct worker *w = r->free_w[--r->n_free];
            struct job *first = r->qhead, *last = take_batch(r);
            int total = 0;
            for (struct job *x = first; x != last->next; x = x->next)
                total += x->n;
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

/* --------------------------------------------------------------------------
 * The route table: every route is one entry (path, method, handler, whether
 * it takes a body, its metric label and its OpenAPI description) and one
 * handler. /openapi.json, /docs and /redoc are generated from it. */

struct ic_server;
struct conn;
typedef enum MHD_Result route_fn(struct ic_server *s, struct conn *c, struct MHD_Connection *mc);
static route_fn do_health, do_classify_one, do_classify_batch, do_intents, do_predict, do_info,
    do_parse, do_status, do_metrics, do_openapi, do_docs, do_redoc, do_ready;

/* Whose error shapes a route answers, and who may call it with --api-key. */
enum { ANCHOR_FASTAPI, ANCHOR_TEI, ANCHOR_RASA };
struct route {
    struct ic__api_op op;
    route_fn *fn;
    int anchor;
};

#define FASTAPI_ERRORS "413:Detail 422:HTTPValidationError 429:Detail"
#define TEI_ERRORS "400:TEIError 413:TEIError 415:TEIError 422:TEIError 429:TEIError"
static const struct route routes[] = {
    {{"/health", "GET", "/health", 0, "health", "Health", "intent",
      "Liveness and the loaded model's facts.", NULL, "Health", "application/json", "",
      IC__ACCESS_HEALTH, "Detail"},
     do_health, ANCHOR_FASTAPI},
    {{"/ready", "GET", "/ready", 0, "ready", "Ready", "operations",
      "Readiness: 200 while the model serves, 503 while it is being reloaded (a load balancer "
      "should send no new requests then). /health stays 200 (liveness).",
      NULL, "Ready", "application/json", "503:Ready", IC__ACCESS_HEALTH, "Detail"},
     do_ready, ANCHOR_FASTAPI},
    {{"/classify", "POST", "/classify", 1, "classify", "Classify", "intent",
      "Classifies one text. Texts longer than the model's maximum length are truncated to "
      "their first max_length - 2 word pieces.",
      "TextIn", "Prediction", "application/json", FASTAPI_ERRORS, IC__ACCESS_KEY, "Detail"},
     do_classify_one, ANCHOR_FASTAPI},
    {{"/classify/batch", "POST", "/classify/batch", 1, "classify_batch", "Classify Batch",
      "intent", "Classifies several texts in one batched forward; results in request order.",
      "BatchIn", "BatchOut", "application/json", FASTAPI_ERRORS, IC__ACCESS_KEY, "Detail"},
     do_classify_batch, ANCHOR_FASTAPI},
    {{"/intents", "GET", "/intents", 0, "intents", "Intents", "intent",
      "The labels the model predicts, in index order.", NULL, "Intents", "application/json",
      "", IC__ACCESS_KEY, "Detail"},
     do_intents, ANCHOR_FASTAPI},
    {{"/predict", "POST", "/predict", 1, "predict", "Predict", "text-embeddings-inference",
      "Hugging Face text-embeddings-inference sequence classification: every label with its "
      "score, most probable first (softmax probabilities, or logits with raw_scores); a batch "
      "[[\"a\"], [\"b\"]] gets one list per text.",
      "PredictRequest", "PredictResponse", "application/json", TEI_ERRORS, IC__ACCESS_KEY, NULL},
     do_predict, ANCHOR_TEI},
    {{"/info", "GET", "/info", 0, "get_model_info", "Info", "text-embeddings-inference",
      "text-embeddings-inference's model and router facts.", NULL, "Info", "application/json",
      "", IC__ACCESS_KEY, NULL},
     do_info, ANCHOR_TEI},
    {{"/model/parse", "POST", "/model/parse", 1, "parseModelMessage", "Parse", "Rasa",
      "Rasa NLU parse: the intent, the ranking (at most 10) and entities (always empty).",
      "ParseRequest", "ParseResult", "application/json",
      "400:RasaError 413:RasaError 429:RasaError",
      IC__ACCESS_KEY, "RasaError"},
     do_parse, ANCHOR_RASA},
    {{"/status", "GET", "/status", 0, "getStatus", "Status", "Rasa",
      "Rasa's status: the model loaded and training jobs (none: this server only serves).",
      NULL, "Status", "application/json", "", IC__ACCESS_KEY, "RasaError"},
     do_status, ANCHOR_RASA},
    {{"/metrics", "GET", "/metrics", 0, "metrics", "Metrics", "operations",
      "Prometheus text format: requests by route and status, a latency histogram per route, "
      "inference batches, model facts.",
      NULL, "PlainText", "text/plain", "", IC__ACCESS_HEALTH, "Detail"},
     do_metrics, ANCHOR_FASTAPI},
    {{"/openapi.json", "GET", "/openapi.json", 0, "openapi", "OpenAPI", "operations",
      "This document, generated from the server's route table.", NULL, "OpenAPIDocument",
      "application/json", "", IC__ACCESS_OPEN, "Detail"},
     do_openapi, ANCHOR_FASTAPI},
    {{"/docs", "GET", "/docs", 0, "docs", "Docs", "operations",
      "A page to try every route (self-contained: no external scripts or styles).", NULL,
      "HtmlPage", "text/html", "", IC__ACCESS_OPEN, "Detail"},
     do_docs, ANCHOR_FASTAPI},
    {{"/redoc", "GET", "/redoc", 0, "redoc", "Reference", "operations",
      "A reference page of every route and schema, generated from this document.", NULL,
      "HtmlPage", "text/html", "", IC__ACCESS_OPEN, "Detail"},
     do_redoc, ANCHOR_FASTAPI},
};
#define N_ROUTES ((int)(sizeof routes / sizeof routes[0]))
#define R_OTHER N_ROUTES      /* unknown paths */
#define R_COUNT (N_ROUTES + 1)

static const char *route_label(int r)
{
    return r < N_ROUTES ? routes[r].op.metric : "other";
}

const struct ic__api_op *ic__server_api_op(int i)
{
    return i >= 0 && i < N_ROUTES ? &routes[i].op : NULL;
}

static const int statuses[] = {200, 204, 400, 401, 404, 405, 413, 415, 422, 424, 429, 500, 503};
#define N_STATUS ((int)(sizeof statuses / sizeof statuses[0]))
static const double buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                 0.025,  0.05,    0.1,    0.25,  0.5,    1.0,   2.5};
#define N_BUCKET ((int)(sizeof buckets / sizeof buckets[0]))

/* A Prometheus histogram: counts per bucket (not cumulative; the last is
 * +Inf) and the sum of the values observed, in 1/scale units. */
#define HB_MAX 16
struct hist {
    atomic_ullong b[HB_MAX + 1];
    atomic_ullong sum;
};
struct hspec {
    const char *name, *help;
    const double *le;
    int n;
    double scale; /* sum unit: 1e6 = microseconds of a value in seconds */
};
static const double size_le[] = {1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024};
static const double token_le[] = {16, 64, 256, 1024, 4096, 16384, 65536, 262144};
enum { H_REQUEST, H_TOKENIZE, H_QUEUE, H_INFER, H_BATCH_SIZE, H_BATCH_TOKENS, N_HIST };
/* text-embeddings-inference's names and meanings (seconds; texts; tokens) */
static const struct hspec hspecs[N_HIST] = {
    {"te_request_duration", "Inference request time, from the headers to the answer (2xx).",
     buckets, N_BUCKET, 1e6},
    {"te_tokenization_duration", "Tokenization time of a request.", buckets, N_BUCKET, 1e6},
    {"te_queue_duration", "Time a request waited for its merged batch to start.", buckets,
     N_BUCKET, 1e6},
    {"te_inference_duration", "Forward time of the merged batch a request ran in.", buckets,
     N_BUCKET, 1e6},
    {"te_batch_next_size", "Texts per merged batch.", size_le,
     (int)(sizeof size_le / sizeof size_le[0]), 1},
    {"te_batch_next_tokens", "Tokens per merged batch.", token_le,
     (int)(sizeof token_le / sizeof token_le[0]), 1},
};
/* te_request_failure's err label, by status class */
enum { F_OVERLOADED, F_VALIDATION, F_BACKEND, N_FAIL };
static const char *const fail_names[N_FAIL] = {"overloaded", "validation", "backend"};

struct metrics {
    atomic_ullong count[R_COUNT][N_STATUS + 1]; /* last: any other status */
    atomic_ullong hist[R_COUNT][N_BUCKET + 1];  /* last: +Inf */
    atomic_ullong sum_us[R_COUNT];
    struct hist h[N_HIST];
    atomic_ullong infer_count, infer_success, infer_fail[N_FAIL];
};

static void hist_observe(struct metrics *m, int which, double v)
{
    const struct hspec *sp = &hspecs[which];
    int k = 0;
    while (k < sp->n && v > sp->le[k])
        k++;
    atomic_fetch_add_explicit(&m->h[which].b[k], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->h[which].sum, (unsigned long long)(v * sp->scale + 0.5),
                              memory_order_relaxed);
}

static void batch_observe(struct metrics *m, int texts, int tokens)
{
    hist_observe(m, H_BATCH_SIZE, texts);
    hist_observe(m, H_BATCH_TOKENS, tokens);
}

/* name_bucket{le=...} (cumulative), name_sum, name_count of one histogram. */
static int put_hist(struct ic_buf *b, const struct metrics *m, int which)
{
    const struct hspec *sp = &hspecs[which];
    unsigned long long cum = 0;
    int rc = ic_buf_printf(b, "# HELP %s %s\n# TYPE %s histogram\n", sp->name, sp->help,
                           sp->name);
    for (int k = 0; k <= sp->n; k++) {
        cum += atomic_load_explicit(&m->h[which].b[k], memory_order_relaxed);
        if (k < sp->n)
            rc |= ic_buf_printf(b, "%s_bucket{le=\"%g\"} %llu\n", sp->name, sp->le[k], cum);
        else
            rc |= ic_buf_printf(b, "%s_bucket{le=\"+Inf\"} %llu\n", sp->name, cum);
    }
    double sum = (double)atomic_load_explicit(&m->h[which].sum, memory_order_relaxed);
    return rc | ic_buf_printf(b, "%s_sum %.6f\n%s_count %llu\n", sp->name, sum / sp->scale,
                              sp->name, cum);
}

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
    atomic_int reloading;      /* a reload is loading a model: /ready answers 503 */
    atomic_int draining;       /* stopping: each answer closes its connection */
    char *api_key, *cors_origin;
    char *openapi;             /* /openapi.json, generated from routes[] */
    size_t openapi_len;
    atomic_int admitted;       /* inference requests tokenizing, queued or running */
};

struct conn {
    struct ic_server *s;
    struct ic_buf body, out;
    struct ic__req req;
    struct ic_prediction *preds;
    struct ic_label_prob *tops;
    float *logits;
    size_t cap_preds, cap_tops, cap_logits;
    struct ic_tok_work tw;       /* tokenization happens on the connection's thread */
    int32_t *ids;                /* the texts' ids, packed */
    size_t cap_ids;
    const int32_t **idp;         /* [cap_preds] each text's ids in ids */
    int *ntok, *text_tok;        /* [cap_preds] */
    int timed;                   /* the x-*-time headers below go out */
    double tok_s, queue_s, infer_s;
    long long chars, tokens;
    pthread_cond_t cond;
    int route, status, too_big, active;
    size_t discarded;
    double t0, wall;
    size_t resp_bytes;
    const char *cors;            /* Access-Control-Allow-Origin value, or NULL */
    char rid[IC__RID_MAX];       /* X-Request-Id */
    char method[16], path[256];  /* for the access log */
};

static struct mref *acquire(struct ic_server *s)
{
    pthread_mutex_lock(&s->mu);
    struct mref *r = s->cur;
    atomic_fetch_add(&r->refs, 1);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static int route_of(const char *url)
{
    for (int i = 0; i < N_ROUTES; i++)
        if (strcmp(url, routes[i].op.path) == 0)
            return i;
    return R_OTHER;
}

/* text-embeddings-inference's timing headers: whole milliseconds. */
static void add_time_headers(const struct conn *c, struct MHD_Response *resp)
{
    char v[32];
    static const char *const names[] = {"x-compute-time", "x-tokenization-time",
                                        "x-queue-time", "x-inference-time",
                                        "x-total-time"};
    double t[5] = {c->tok_s + c->queue_s + c->infer_s, c->tok_s, c->queue_s, c->infer_s,
                   ic_time_now() - c->t0};
    for (int i = 0; i < 5; i++) {
        snprintf(v, sizeof v, "%lld", (long long)(t[i] * 1e3));
        MHD_add_response_header(resp, names[i], v);
    }
    snprintf(v, sizeof v, "%lld", c->chars);
    MHD_add_response_header(resp, "x-compute-characters", v);
    snprintf(v, sizeof v, "%lld", c->tokens);
    MHD_add_response_header(resp, "x-compute-tokens", v);
    MHD_add_response_header(resp, "x-compute-type", "cpu");
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
    MHD_add_response_header(resp, "X-Request-Id", c->rid);
    if (c->cors) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", c->cors);
        MHD_add_response_header(resp, "Access-Control-Expose-Headers", "X-Request-Id");
        if (strcmp(c->cors, "*") != 0)
            MHD_add_response_header(resp, "Vary", "Origin");
    }
    if (status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer");
    if (status == 429)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    if (c->timed)
        add_time_headers(c, resp);
    /* While draining, a kept-alive connection must not take one request
     * after another until the grace period cuts it mid-request: it closes
     * after this answer and the client reconnects elsewhere. */
    if (atomic_load(&c->s->draining))
        MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION, "close");
    if (status == 204) {
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", allow ? allow : "GET");
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                "Authorization, Content-Type, X-Request-Id");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    c->status = status;
    c->resp_bytes = len;
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
        c->idp = ic_xrealloc(c->idp, cap * sizeof *c->idp);
        c->ntok = ic_xrealloc(c->ntok, cap * sizeof *c->ntok);
        c->text_tok = ic_xrealloc(c->text_tok, cap * sizeof *c->text_tok);
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

/* Tokenizes c->req's texts for r's model into c->ids / c->ntok /
 * c->text_tok (and the preds' token counts). Returns 0 or the encoder's
 * status. */
static int tokenize_req(struct conn *c, const struct mref *r, struct ic_err *err)
{
    const struct ic_infer *inf = &r->workers[0].inf;
    size_t L = (size_t)inf->max_length, used = 0;
    c->tokens = 0;
    c->chars = 0;
    for (int i = 0; i < c->req.n; i++) {
        if (used + L > c->cap_ids) {
            size_t cap = c->cap_ids ? c->cap_ids : 1024;
            while (cap < used + L)
                cap *= 2;
            c->ids = ic_xrealloc(c->ids, cap * sizeof *c->ids);
            c->cap_ids = cap;
        }
        int rc = ic_infer_encode(inf, &c->tw, c->req.texts[i], c->req.lens[i], c->ids + used,
                                 &c->ntok[i], &c->text_tok[i], err);
        if (rc)
            return rc;
        used += (size_t)c->ntok[i];
        c->tokens += c->ntok[i];
        c->chars += (long long)c->req.lens[i];
        c->preds[i].n_tokens = c->ntok[i];
        c->preds[i].text_tokens = c->text_tok[i];
        c->preds[i].truncated = c->text_tok[i] > c->ntok[i];
    }
    /* the pointers last: c->ids may have moved as it grew */
    used = 0;
    for (int i = 0; i < c->req.n; i++) {
        c->idp[i] = c->ids + used;
        used += (size_t)c->ntok[i];
    }
    return 0;
}

/* What classify_req says. */
enum { CR_OK, CR_BUSY, CR_LONG, CR_FAIL };

/* Classifies c->req's texts on the current model: fills c->preds (and
 * c->tops with top_k entries each, c->logits when logits). CR_BUSY: more
 * than --max-concurrent-requests are in; CR_LONG: reject_long and a text
 * is over the token limit (its preds say so), nothing run. *rp holds the
 * model used (release it). */
static int classify_req(struct ic_server *s, struct conn *c, int top_k, int logits,
                        int reject_long, struct mref **rp)
{
    struct mref *r = acquire(s);
    *rp = r;
    if (atomic_fetch_add(&s->admitted, 1) >= s->o.max_concurrent_requests) {
        atomic_fetch_sub(&s->admitted, 1);
        return CR_BUSY;
    }
    int n_labels = r->model.bert.cfg.num_labels;
    if (top_k > n_labels)
        top_k = n_labels;
    conn_reserve(c, (size_t)c->req.n, top_k);
    if (logits) {
        size_t need = (size_t)c->req.n * (size_t)n_labels;
        if (need > c->cap_logits) {
            c->logits = ic_xrealloc(c->logits, need * sizeof *c->logits);
            c->cap_logits = need;
        }
    }
    struct ic_err err;
    double t0 = ic_time_now();
    int st = tokenize_req(c, r, &err) ? CR_FAIL : CR_OK;
    for (int i = 0; st == CR_OK && reject_long && i < c->req.n; i++)
        if (c->preds[i].truncated)
            st = CR_LONG;
    struct job j = {.ids = c->idp, .ntok = c->ntok, .text_tok = c->text_tok, .n = c->req.n,
                    .top_k = top_k, .tokens = (int)c->tokens, .preds = c->preds,
                    .tops = c->tops, .logits = logits ? c->logits : NULL, .cond = &c->cond};
    j.t_queued = j.t_run = j.t_done = ic_time_now();
    if (st == CR_OK && j.n > 0) {
        run_job(r, &j);
        st = j.rc ? CR_FAIL : CR_OK;
    }
    atomic_fetch_sub(&s->admitted, 1);
    if (st == CR_OK) {
        c->timed = 1;
        c->tok_s = j.t_queued - t0;
        c->queue_s = j.t_run - j.t_queued;
        c->infer_s = j.t_done - j.t_run;
        hist_observe(&s->m, H_TOKENIZE, c->tok_s);
        hist_observe(&s->m, H_QUEUE, c->queue_s);
        hist_observe(&s->m, H_INFER, c->infer_s);
    }
    return st;
}

/* 429 in the route's anchor's shape, with Retry-After. */
static enum MHD_Result reply_busy(struct conn *c, struct MHD_Connection *mc);

static const char *content_type_of(struct MHD_Connection *mc)
{
    return MHD_lookup_connection_value(mc, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
}

static enum MHD_Result do_classify(struct ic_server *s, struct conn *c,
                                   struct MHD_Connection *mc, int batch)
{
    ic_buf_reset(&c->out);
    c->req.style = s->o.error_style;
    int status = ic__parse_classify(c->body.data ? c->body.data : "", c->body.len,
                                    content_type_of(mc), batch, s->o.max_batch, &c->req, &c->out);
    if (status != 200)
        return reply_json(c, mc, status);

    struct mref *r;
    enum MHD_Result ret;
    int st = classify_req(s, c, c->req.top_k, 0, 0, &r);
    if (st != CR_OK) {
        ret = st == CR_BUSY ? reply_busy(c, mc)
                            : reply_detail(c, mc, 500, "Internal Server Error", NULL);
        goto out;
    }
    ic_buf_reset(&c->out);
    int rc = 0;
    if (batch)
        rc |= buf_lit(&c->out, "{\"results\":[");
    for (int i = 0; i < c->req.n; i++) {
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

static enum MHD_Result do_classify_one(struct ic_server *s, struct conn *c,
                                       struct MHD_Connection *mc)
{
    return do_classify(s, c, mc, 0);
}

static enum MHD_Result do_classify_batch(struct ic_server *s, struct conn *c,
                                         struct MHD_Connection *mc)
{
    return do_classify(s, c, mc, 1);
}

/* A float32 as serde_json writes it (ryu's shortest digits): "0.5",
 * "0.0001", "1e-7", "12.0". buf needs 32 bytes. */
static char *tei_f32(float v, char *buf)
{
    char e[32];
    if (!isfinite(v)) {
        snprintf(buf, 32, "null");
        return buf;
    }
    int prec = 1;
    for (; prec <= 9; prec++) {
        snprintf(e, sizeof e, "%.*e", prec - 1, (double)v);
        if (strtof(e, NULL) == v)
            break;
    }
    char d[16];
    int nd = 0, neg = e[0] == '-';
    const char *p = e + neg;
    for (; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && nd < 12)
            d[nd++] = *p;
    int x = (int)strtol(p + 1, NULL, 10);
    while (nd > 1 && d[nd - 1] == '0')
        nd--;
    if (v == 0.0f)
        x = 0;
    int kk = x + 1; /* digits before the decimal point */
    char *o = buf;
    if (neg)
        *o++ = '-';
    if (kk >= 1 && kk <= 16) {
        for (int i = 0; i < kk; i++)
            *o++ = i < nd ? d[i] : '0';
        *o++ = '.';
        if (nd > kk)
            for (int i = kk; i < nd; i++)
                *o++ = d[i];
        else
            *o++ = '0';
        *o = 0;
    } else if (kk <= 0 && kk > -5) {
        *o++ = '0';
        *o++ = '.';
        for (int i = 0; i < -kk; i++)
            *o++ = '0';
        for (int i = 0; i < nd; i++)
            *o++ = d[i];
        *o = 0;
    } else {
        *o++ = d[0];
        if (nd > 1) {
            *o++ = '.';
            for (int i = 1; i < nd; i++)
                *o++ = d[i];
        }
        snprintf(o, 12, "e%d", x);
    }
    return buf;
}

/* [{"score": ..., "label": ...}, ...] for every label, most probable first. */
static int put_tei_scores(struct ic_buf *b, const struct mref *r, const struct ic_prediction *p,
                          const float *logits)
{
    char num[32];
    int rc = buf_lit(b, "[");
    for (int k = 0; k < p->n_top; k++) {
        int l = p->top[k].label;
        const char *name = r->model.labels[l] ? r->model.labels[l] : "";
        if (k)
            rc |= buf_lit(b, ",");
        /* TEI's Prediction struct: score, then label */
        rc |= ic_buf_printf(b, "{\"score\":%s,\"label\":",
                            tei_f32(logits ? logits[l] : p->top[k].prob, num));
        rc |= ic_buf_json_str(b, name, strlen(name));
        rc |= buf_lit(b, "}");
    }
    return rc | buf_lit(b, "]");
}

static enum MHD_Result reply_tei_error(struct conn *c, struct MHD_Connection *mc, int status,
                                       const char *msg, const char *type)
{
    ic_buf_reset(&c->out);
    if (ic__tei_error(&c->out, msg, type))
        return MHD_NO;
    return reply_json(c, mc, status);
}

/* Texts over the token limit: TEI's 413 unless the request asked to
 * truncate. Returns the offending text's index or -1. */
static int first_too_long(const struct conn *c)
{
    for (int i = 0; i < c->req.n; i++)
        if (c->preds[i].truncated)
            return i;
    return -1;
}

static enum MHD_Result do_predict(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    ic_buf_reset(&c->out);
    int status = ic__parse_predict(c->body.data ? c->body.data : "", c->body.len,
                                   content_type_of(mc), s->o.max_batch, &c->req, &c->out);
    if (status != 200)
        return reply_json(c, mc, status);
    struct mref *r;
    enum MHD_Result ret;
    int st = classify_req(s, c, 1 << 20, c->req.raw_scores, !c->req.truncate, &r);
    if (st == CR_BUSY || st == CR_FAIL) {
        ret = st == CR_BUSY ? reply_busy(c, mc)
                            : reply_tei_error(c, mc, 424, "Inference failed", "backend");
        goto out;
    }
    int bad = st == CR_LONG ? first_too_long(c) : -1;
    if (bad >= 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "`inputs` must have less than %d tokens. Given: %d",
                 r->workers[0].inf.max_length, c->preds[bad].text_tokens);
        ret = reply_tei_error(c, mc, 413, msg, "validation");
        goto out;
    }
    ic_buf_reset(&c->out);
    int rc = c->req.nested ? buf_lit(&c->out, "[") : 0;
    for (int i = 0; i < c->req.n; i++) {
        if (i)
            rc |= buf_lit(&c->out, ",");
        size_t off = (size_t)i * (size_t)r->model.bert.cfg.num_labels;
        rc |= put_tei_scores(&c->out, r, &c->preds[i], c->req.raw_scores ? c->logits + off : NULL);
    }
    if (c->req.nested)
        rc |= buf_lit(&c->out, "]");
    ret = rc ? MHD_NO : reply_json(c, mc, 200);
out:
    mref_release(r);
    return ret;
}

/* Rasa's confidence: the float32 as a Python float (repr of the double). */
static int put_rasa_named(struct ic_buf *b, const char *name, float conf)
{
    char num[40];
    int rc = buf_lit(b, "{\"name\":");
    rc |= ic_buf_json_str(b, name, strlen(name));
    return rc | ic_buf_printf(b, ",\"confidence\":%s}", ic__py_float_repr((double)conf, num));
}

static int put_rasa_intent(struct ic_buf *b, const struct mref *r, int label, float conf)
{
    return put_rasa_named(b, r->model.labels[label] ? r->model.labels[label] : "", conf);
}

static enum MHD_Result do_parse(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    ic_buf_reset(&c->out);
    int status = ic__parse_rasa(c->body.data ? c->body.data : "", c->body.len, &c->req, &c->out);
    if (status != 200)
        return reply_json(c, mc, status);
    struct mref *r;
    enum MHD_Result ret;
    int st = classify_req(s, c, 10, 0, 0, &r);
    if (st == CR_BUSY) {
        ret = reply_busy(c, mc);
        goto out;
    }
    if (st != CR_OK) {
        ic_buf_reset(&c->out);
        ret = ic__rasa_error(&c->out, 500, "ParsingError", "An unexpected error occurred.")
                  ? MHD_NO
                  : reply_json(c, mc, 500);
        goto out;
    }
    /* The intent comes from the same prediction as /classify's. */
    const struct ic_prediction *p = &c->preds[0];
    ic_buf_reset(&c->out);
    int rc = buf_lit(&c->out, "{\"text\":");
    rc |= ic_buf_json_str(&c->out, c->req.texts[0], c->req.lens[0]);
    rc |= buf_lit(&c->out, ",\"intent\":");
    /* A fallback (out of scope) answers its own intent and leads the ranking,
     * as Rasa's FallbackClassifier does; the real intents follow. */
    if (p->fallback)
        rc |= put_rasa_named(&c->out, p->fallback_intent, p->fallback_confidence);
    else
        rc |= put_rasa_intent(&c->out, r, p->label, p->confidence);
    rc |= buf_lit(&c->out, ",\"entities\":[],\"intent_ranking\":[");
    if (p->fallback)
        rc |= put_rasa_named(&c->out, p->fallback_intent, p->fallback_confidence);
    for (int k = 0; k < p->n_top; k++) {
        if (k || p->fallback)
            rc |= buf_lit(&c->out, ",");
        rc |= put_rasa_intent(&c->out, r, p->top[k].label, p->top[k].prob);
    }
    rc |= buf_lit(&c->out, "]}");
    ret = rc ? MHD_NO : reply_json(c, mc, 200);
out:
    mref_release(r);
    return ret;
}

/* The model's name: the last path component of its path. */
static const char *model_name(const char *path)
{
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/')
        n--;
    const char *slash = NULL;
    for (size_t i = 0; i + 1 < n; i++)
        if (path[i] == '/')
            slash = path + i;
    return slash ? slash + 1 : path;
}

static enum MHD_Result do_status(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    struct mref *r = acquire(s);
    ic_buf_reset(&c->out);
    int rc = buf_lit(&c->out, "{\"model_file\":");
    rc |= ic_buf_json_str(&c->out, r->path, strlen(r->path));
    rc |= buf_lit(&c->out, ",\"model_id\":");
    const char *name = model_name(r->path);
    size_t nl = strlen(name);
    while (nl > 1 && name[nl - 1] == '/')
        nl--;
    rc |= ic_buf_json_str(&c->out, name, nl);
    rc |= buf_lit(&c->out, ",\"num_active_training_jobs\":0}");
    mref_release(r);
    return rc ? MHD_NO : reply_json(c, mc, 200);
}

static enum MHD_Result do_info(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    struct mref *r = acquire(s);
    struct ic_buf *b = &c->out;
    int N = r->model.bert.cfg.num_labels;
    char max_req[16] = "null";
    if (s->o.max_batch_requests > 0)
        snprintf(max_req, sizeof max_req, "%d", s->o.max_batch_requests);
    ic_buf_reset(b);
    int rc = buf_lit(b, "{\"model_id\":");
    rc |= ic_buf_json_str(b, r->path, strlen(r->path));
    rc |= buf_lit(b, ",\"model_sha\":null,\"model_dtype\":\"float32\",\"model_type\":"
                     "{\"classifier\":{\"id2label\":{");
    for (int i = 0; i < N; i++) {
        const char *l = r->model.labels[i] ? r->model.labels[i] : "";
        rc |= ic_buf_printf(b, "%s\"%d\":", i ? "," : "", i);
        rc |= ic_buf_json_str(b, l, strlen(l));
    }
    rc |= buf_lit(b, "},\"label2id\":{");
    for (int i = 0; i < N; i++) {
        const char *l = r->model.labels[i] ? r->model.labels[i] : "";
        if (i)
            rc |= buf_lit(b, ",");
        rc |= ic_buf_json_str(b, l, strlen(l));
        rc |= ic_buf_printf(b, ":%d", i);
    }
    rc |= ic_buf_printf(b, "}}},\"max_concurrent_requests\":%d,\"max_input_length\":%d,"
                           "\"max_batch_tokens\":%d,\"max_batch_requests\":%s,"
                           "\"max_client_batch_size\":%d,\"auto_truncate\":false,"
                           "\"tokenization_workers\":%d,\"version\":\"%s\",\"sha\":null,"
                           "\"docker_label\":null}",
                        s->o.max_concurrent_requests, r->workers[0].inf.max_length,
                        s->o.max_batch_tokens, max_req, s->o.max_batch, s->n_workers,
                        IC_VERSION);
    mref_release(r);
    return rc ? MHD_NO : reply_json(c, mc, 200);
}

static enum MHD_Result do_openapi(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    return reply(c, mc, 200, "application/json", s->openapi, s->openapi_len, 1, NULL);
}

static enum MHD_Result do_docs(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    size_t len;
    const char *doc = ic__docs_html(&len);
    (void)s;
    return reply(c, mc, 200, "text/html; charset=utf-8", doc, len, 1, NULL);
}

static enum MHD_Result do_redoc(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    size_t len;
    const char *doc = ic__redoc_html(&len);
    (void)s;
    return reply(c, mc, 200, "text/html; charset=utf-8", doc, len, 1, NULL);
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

/* text-embeddings-inference's series: request counters, the time
 * histograms and the merged batches' sizes. */
static int put_te_metrics(struct ic_buf *b, struct ic_server *s)
{
    struct metrics *m = &s->m;
    int rc = ic_buf_printf(
        b, "# HELP te_request_count Inference requests (the body routes).\n"
           "# TYPE te_request_count counter\nte_request_count %llu\n"
           "# HELP te_request_success Inference requests answered 2xx.\n"
           "# TYPE te_request_success counter\nte_request_success %llu\n"
           "# HELP te_request_failure Inference requests refused or failed, by reason.\n"
           "# TYPE te_request_failure counter\n",
        (unsigned long long)atomic_load_explicit(&m->infer_count, memory_order_relaxed),
        (unsigned long long)atomic_load_explicit(&m->infer_success, memory_order_relaxed));
    for (int f = 0; f < N_FAIL; f++)
        rc |= ic_buf_printf(b, "te_request_failure{err=\"%s\"} %llu\n", fail_names[f],
                            (unsigned long long)atomic_load_explicit(&m->infer_fail[f],
                                                                     memory_order_relaxed));
    rc |= ic_buf_printf(b, "# HELP intent_inference_admitted Inference requests being "
                           "tokenized, queued or run (at most --max-concurrent-requests).\n"
                           "# TYPE intent_inference_admitted gauge\n"
                           "intent_inference_admitted %d\n",
                        atomic_load(&s->admitted));
    for (int h = 0; h < N_HIST; h++)
        rc |= put_hist(b, m, h);
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
                                       "%llu\n", route_label(r), statuses[k], v);
            else
                rc |= ic_buf_printf(b, "intent_http_requests_total{route=\"%s\",status="
                                       "\"other\"} %llu\n", route_label(r), v);
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
                                       "le=\"%g\"} %llu\n", route_label(r), buckets[k], cum);
            else
                rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_bucket{route=\"%s\","
                                       "le=\"+Inf\"} %llu\n", route_label(r), cum);
        }
        rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                            route_label(r),
                            (double)atomic_load(&m->sum_us[r]) * 1e-6);
        rc |= ic_buf_printf(b, "intent_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                            route_label(r), cum);
    }
    rc |= put_te_metrics(b, s);
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
    return route < N_ROUTES && routes[route].op.body;
}

/* Request id, method, path and CORS origin, when the headers are in. */
static void request_start(struct ic_server *s, struct conn *c, struct MHD_Connection *mc,
                          const char *url, const char *method)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    c->wall = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
    c->resp_bytes = 0;
    ic__request_id(MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "X-Request-Id"), c->rid);
    snprintf(c->method, sizeof c->method, "%s", method);
    snprintf(c->path, sizeof c->path, "%s", url);
    c->cors = ic__cors_allow(s->cors_origin,
                             MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Origin"));
}

/* With --api-key: Bearer token, or Rasa's ?token= on Rasa's routes. */
static int authorized(const struct ic_server *s, const struct conn *c, struct MHD_Connection *mc)
{
    const struct route *r = &routes[c->route];
    if (!s->api_key || r->op.access == IC__ACCESS_OPEN ||
        (r->op.access == IC__ACCESS_HEALTH && s->o.open_health))
        return 1;
    const char *auth = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Authorization");
    if (ic__bearer_ok(auth, s->api_key))
        return 1;
    if (r->anchor == ANCHOR_RASA) {
        const char *tok = MHD_lookup_connection_value(mc, MHD_GET_ARGUMENT_KIND, "token");
        char bearer[512];
        if (tok && strlen(tok) < 400) {
            snprintf(bearer, sizeof bearer, "Bearer %s", tok);
            return ic__bearer_ok(bearer, s->api_key);
        }
    }
    return 0;
}

/* 401 in the route's anchor's shape: FastAPI's HTTPBearer detail, TEI's
 * bare 401, Rasa's NotAuthenticated. */
static enum MHD_Result reply_unauthorized(struct conn *c, struct MHD_Connection *mc)
{
    switch (routes[c->route].anchor) {
    case ANCHOR_TEI:
        return reply(c, mc, 401, "text/plain", "", 0, 1, NULL);
    case ANCHOR_RASA:
        ic_buf_reset(&c->out);
        if (ic__rasa_error(&c->out, 401, "NotAuthenticated", "User is not authenticated."))
            return MHD_NO;
        return reply_json(c, mc, 401);
    default:
        return reply_detail(c, mc, 401, "Not authenticated", NULL);
    }
}

/* A body over --max-body: 413 in the route's anchor's shape. */
static enum MHD_Result reply_too_big(struct conn *c, struct MHD_Connection *mc)
{
    ic_buf_reset(&c->out);
    int rc;
    switch (c->route < N_ROUTES ? routes[c->route].anchor : ANCHOR_FASTAPI) {
    case ANCHOR_TEI:
        rc = ic__tei_error(&c->out, "Failed to buffer the request body: length limit exceeded",
                           "validation");
        break;
    case ANCHOR_RASA:
        rc = ic__rasa_error(&c->out, 413, "PayloadTooLarge", "Request body too large");
        break;
    default:
        rc = ic__json_detail(&c->out, "Request body too large");
    }
    return rc ? MHD_NO : reply_json(c, mc, 413);
}

static enum MHD_Result reply_busy(struct conn *c, struct MHD_Connection *mc)
{
    ic_buf_reset(&c->out);
    int rc;
    switch (routes[c->route].anchor) {
    case ANCHOR_TEI:
        rc = ic__tei_error(&c->out, "Model is overloaded", "overloaded");
        break;
    case ANCHOR_RASA:
        rc = ic__rasa_error(&c->out, 429, "TooManyRequests",
                            "The server is at its limit of concurrent requests; retry later.");
        break;
    default:
        rc = ic__json_detail(&c->out, "Too Many Requests");
    }
    return rc ? MHD_NO : reply_json(c, mc, 429);
}

static void access_log(const struct ic_server *s, const struct conn *c,
                       struct MHD_Connection *mc)
{
    char remote[64] = "-";
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(mc, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    if (ci && ci->client_addr) {
        socklen_t sl = ci->client_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                              : sizeof(struct sockaddr_in);
        if (getnameinfo(ci->client_addr, sl, remote, sizeof remote, NULL, 0, NI_NUMERICHOST))
            snprintf(remote, sizeof remote, "-");
    }
    struct ic__access a = {.wall = c->wall, .remote = remote, .method = c->method,
                           .path = c->path, .rid = c->rid, .status = c->status,
                           .bytes = c->resp_bytes, .duration_ms = (ic_time_now() - c->t0) * 1e3};
    struct ic_buf b;
    ic_buf_init(&b, 0);
    ic__access_line(&b, s->o.log_format, &a);
    if (b.data)
        fputs(b.data, stderr); /* stderr is unbuffered: one write per line */
    ic_buf_free(&b);
}

static enum MHD_Result do_ready(struct ic_server *s, struct conn *c, struct MHD_Connection *mc)
{
    if (atomic_load(&s->reloading)) {
        static const char busy[] = "{\"status\":\"reloading\"}";
        return reply(c, mc, 503, "application/json", busy, sizeof busy - 1, 1, NULL);
    }
    static const char ok[] = "{\"status\":\"ready\"}";
    return reply(c, mc, 200, "application/json", ok, sizeof ok - 1, 1, NULL);
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
        request_start(s, c, mc, url, method);
        c->route = route_of(url);
        c->status = 0;
        c->timed = 0;
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
                return reply_too_big(c, mc);
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
        return reply_too_big(c, mc);
    if (c->route == R_OTHER)
        return reply_detail(c, mc, 404, "Not Found", NULL);
    /* A CORS preflight: browsers send it without credentials. */
    if (c->cors && strcmp(method, "OPTIONS") == 0 &&
        MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Access-Control-Request-Method"))
        return reply(c, mc, 204, "text/plain", "", 0, 1, routes[c->route].op.method);
    if (!authorized(s, c, mc))
        return reply_unauthorized(c, mc);
    if (strcmp(method, routes[c->route].op.method) != 0)
        return reply_detail(c, mc, 405, "Method Not Allowed", routes[c->route].op.method);
    return routes[c->route].fn(s, c, mc);
}

/* te_request_count / _success / _failure and te_request_duration of an
 * inference route's answer. */
static void infer_count(struct metrics *m, int status, double dt)
{
    atomic_fetch_add_explicit(&m->infer_count, 1, memory_order_relaxed);
    if (status < 300) {
        atomic_fetch_add_explicit(&m->infer_success, 1, memory_order_relaxed);
        hist_observe(m, H_REQUEST, dt);
        return;
    }
    int f = status == 429 ? F_OVERLOADED : status < 500 ? F_VALIDATION : F_BACKEND;
    atomic_fetch_add_explicit(&m->infer_fail[f], 1, memory_order_relaxed);
}

static void completed(void *cls, struct MHD_Connection *mc, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct ic_server *s = cls;
    struct conn *c = *req_cls;
    (void)toe;
    if (!c || !c->active)
        return;
    c->active = 0;
    *req_cls = NULL;
    if (c->status && s->o.access_log)
        access_log(s, c, mc);
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
        if (c->route < N_ROUTES && routes[c->route].op.body)
            infer_count(&s->m, c->status, dt);
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
    if (c->cap_ids > (16u << 10)) {
        ic_free(c->ids);
        c->ids = NULL;
        c->cap_ids = 0;
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
        ic_tok_work_init(&c->tw);
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
        ic_free(c->logits);
        ic_free(c->ids);
        ic_free(c->idp);
        ic_free(c->ntok);
        ic_free(c->text_tok);
        ic_tok_work_free(&c->tw);
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
    atomic_store(&s->reloading, 1);
    int rc = mref_load(p, &s->o, s->n_workers, &s->m, &r, err);
    atomic_store(&s->reloading, 0);
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
    s->api_key = o->api_key ? ic_xstrdup(o->api_key) : NULL;
    s->cors_origin = o->cors_origin ? ic_xstrdup(o->cors_origin) : NULL;
    s->o.api_key = s->api_key;
    s->o.cors_origin = s->cors_origin;
    s->o.owned_model_path = s->o.owned_host = NULL; /* the caller's */
    s->o.owned_api_key = s->o.owned_cors_origin = NULL;
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
    s->openapi = ic__openapi_build(o->error_style == IC__ERRS_LEGACY, o->api_key != NULL,
                                   o->open_health, &s->openapi_len, err);
    if (!s->openapi) {
        rc = IC_ERR_FORMAT;
        goto fail;
    }
    rc = mref_load(s->model_path, &s->o, s->n_workers, &s->m, &s->cur, err);
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
    ic_free(s->openapi);
    ic_free(s->api_key);
    ic_free(s->cors_origin);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->reload_mu);
    ic_free(s->model_path);
    ic_free(s->host);
    ic_free(s);
    return rc;
}

/* Waits until every connection has closed (each closes after its next
 * answer), or no request has been in flight for DRAIN_QUIET_S (what is left
 * are idle connections; a request already sent on one would have been read
 * by then), or grace_s has passed. */
#define DRAIN_QUIET_S 1.0
static void drain(struct ic_server *s, double grace_s)
{
    double t0 = ic_time_now(), quiet0 = t0;
    for (;;) {
        double now = ic_time_now();
        if (atomic_load(&s->in_flight) > 0)
            quiet0 = now;
        if (atomic_load(&s->open_conns) == 0 || now - quiet0 >= DRAIN_QUIET_S ||
            now - t0 >= grace_s)
            return;
        struct timespec ts = {0, 2000000};
        nanosleep(&ts, NULL);
    }
}

void ic_server_stop(struct ic_server *s, double grace_s)
{
    if (!s)
        return;
    if (s->d) {
        /* The socket stops listening before answers start closing their
         * connections, so a client that reconnects is refused instead of
         * being reset later from the backlog. shutdown() stops it at once;
         * close() alone waits until the daemon's thread, still polling the
         * socket, lets go of it, and keeps accepting handshakes meanwhile. */
        MHD_socket fd = MHD_quiesce_daemon(s->d);
        if (fd != MHD_INVALID_SOCKET) {
            shutdown(fd, SHUT_RDWR);
            close(fd);
        }
        atomic_store(&s->draining, 1);
        drain(s, grace_s);
        MHD_stop_daemon(s->d);
    }
    mref_release(s->cur);
    ic_free(s->openapi);
    ic_free(s->api_key);
    ic_free(s->cors_origin);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->reload_mu);
    ic_free(s->model_path);
    ic_free(s->host);
    ic_free(s);
}
