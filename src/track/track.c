/* SPDX-License-Identifier: Apache-2.0 */
/*
 * track.c - the public tracker API (include/intent/track.h): URI resolution,
 * the queue that every logging call appends to, the sender thread that does
 * all I/O (REST or FileStore) with bounded backoff, and the system-metrics
 * sampler thread. The training thread only takes a mutex and appends.
 *
 * Sender loop: create the run (REST: find or create the experiment, then
 * runs/create), then drain the queue in MLflow-sized batches (<= 1000
 * metrics, <= 100 params+tags, <= 1000 entities, < 1 MB). A transient
 * failure puts the batch back at the head of the queue and waits
 * backoff_s * 2^(n-1) (or Retry-After), capped at backoff_max_s; after
 * max_retries failures in a row it probes every backoff_max_s. A refused
 * request (4xx) is dropped and reported once. ic_tracker_end queues an END
 * item (runs/update) and waits until the queue drains or nothing has moved
 * for end_timeout_s.
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <jansson.h>

#include "intent/track.h"
#include "track/track_int.h"

#define LINGER_S 0.1 /* wait this long for more items before sending a small batch */
#define URGENT_BACKOFF_S 0.5 /* longest backoff while flush/end wait */
#define FAILING_END_S 2.0 /* end/flush give up after this long without progress once failing */

void ic_tracker_default_opts(struct ic_tracker_opts *o)
{
    memset(o, 0, sizeof *o);
    o->enabled = 1;
    o->system_metrics_interval_s = 10.0;
    o->http_timeout_s = 5.0;
    o->max_retries = 5;
    o->backoff_s = 0.5;
    o->backoff_max_s = 30.0;
    o->end_timeout_s = 5.0;
}

// --- small helpers ---------------------------------------------------------

static struct timespec abs_after(double secs)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    double whole = floor(secs);
    ts.tv_sec += (time_t)whole;
    ts.tv_nsec += (long)((secs - whole) * 1e9);
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return ts;
}

static void item_free(struct ic__trk_item *it)
{
    if (!it)
        return;
    ic_free(it->key);
    ic_free(it->value);
    ic_free(it);
}

static void list_free(struct ic__trk_item *it)
{
    while (it) {
        struct ic__trk_item *n = it->next;
        item_free(it);
        it = n;
    }
}

static struct ic__trk_item *item_new(enum ic__trk_kind kind, const char *key, const char *value)
{
    struct ic__trk_item *it = ic_xcalloc(1, sizeof *it);
    it->kind = kind;
    it->key = key ? ic_xstrdup(key) : NULL;
    it->value = value ? ic_xstrdup(value) : NULL;
    return it;
}

/* Caller holds t->mu. */
static void push_back(struct ic_tracker *t, struct ic__trk_item *it)
{
    it->next = NULL;
    if (t->tail)
        t->tail->next = it;
    else
        t->head = it;
    t->tail = it;
    t->queued++;
}

/* Puts a list back at the head of the queue. Caller holds t->mu. */
static void push_front_list(struct ic_tracker *t, struct ic__trk_item *list)
{
    if (!list)
        return;
    struct ic__trk_item *last = list;
    size_t n = 1;
    while (last->next) {
        last = last->next;
        n++;
    }
    last->next = t->head;
    t->head = list;
    if (!t->tail)
        t->tail = last;
    t->queued += n;
}

static struct ic__trk_item *pop_front(struct ic_tracker *t)
{
    struct ic__trk_item *it = t->head;
    if (!it)
        return NULL;
    t->head = it->next;
    if (!t->head)
        t->tail = NULL;
    it->next = NULL;
    t->queued--;
    return it;
}

void ic__trk_progress(struct ic_tracker *t)
{
    pthread_mutex_lock(&t->mu);
    t->last_progress = ic_time_now();
    pthread_mutex_unlock(&t->mu);
}

int ic__trk_should_stop(struct ic_tracker *t)
{
    pthread_mutex_lock(&t->mu);
    int s = t->stop_now;
    pthread_mutex_unlock(&t->mu);
    return s;
}

/* Takes the next batch off the head of the queue within MLflow's limits.
 * Caller holds t->mu; the head is a METRIC, PARAM or TAG. */
static struct ic__trk_item *take_batch(struct ic_tracker *t)
{
    size_t n_metrics = 0, n_pt = 0, bytes = 200;
    struct ic__trk_item *first = NULL, *last = NULL;
    while (t->head) {
        struct ic__trk_item *it = t->head;
        if (it->kind != IC__TRK_METRIC && it->kind != IC__TRK_PARAM && it->kind != IC__TRK_TAG)
            break;
        size_t sz = 80 + ic__trk_json_len(it->key) + (it->value ? ic__trk_json_len(it->value) : 0);
        if (it->kind == IC__TRK_METRIC) {
            if (n_metrics + 1 > IC__TRK_MAX_METRICS_PER_BATCH)
                break;
        } else {
            if (n_pt + 1 > IC__TRK_MAX_PARAMS_TAGS_PER_BATCH)
                break;
            /* a key twice in one batch is refused (params) or ambiguous (tags) */
            int dup = 0;
            for (struct ic__trk_item *j = first; j && !dup; j = j->next)
                dup = j->kind == it->kind && strcmp(j->key, it->key) == 0;
            if (dup)
                break;
        }
        if (n_metrics + n_pt + 1 > IC__TRK_MAX_ENTITIES_PER_BATCH)
            break;
        if (first && bytes + sz > IC__TRK_MAX_BATCH_BYTES)
            break;
        pop_front(t);
        if (it->kind == IC__TRK_METRIC)
            n_metrics++;
        else
            n_pt++;
        bytes += sz;
        if (last)
            last->next = it;
        else
            first = it;
        last = it;
    }
    return first;
}

static size_t list_len(const struct ic__trk_item *it)
{
    size_t n = 0;
    for (; it; it = it->next)
        n++;
    return n;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Artifact item: a file is sent; a directory turns into items for its
 * entries (sorted), placed at the head of the queue. Called without t->mu.
 * *expanded gets the new items (caller queues them). */
static enum ic__trk_res do_artifact(struct ic_tracker *t, struct ic__trk_item *it,
                                    struct ic__trk_item **expanded, double *retry_after)
{
    *expanded = NULL;
    struct stat st;
    if (stat(it->key, &st) != 0) {
        ic__trk_warn_once(t, it->key, "artifact %s: %s; not logged", it->key, strerror(errno));
        return IC__TRK_DROP;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(it->key);
        if (!d) {
            ic__trk_warn_once(t, it->key, "artifact %s: %s; not logged", it->key,
                              strerror(errno));
            return IC__TRK_DROP;
        }
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                names = ic_xrealloc(names, cap * sizeof *names);
            }
            names[n++] = ic_xstrdup(de->d_name);
        }
        closedir(d);
        if (n > 1)
            qsort(names, n, sizeof *names, cmp_str);
        struct ic__trk_item *head = NULL, *tail = NULL;
        for (size_t i = 0; i < n; i++) {
            char *path = ic_path_join(it->key, names[i]);
            struct ic__trk_item *e;
            struct stat es;
            if (stat(path, &es) == 0 && S_ISDIR(es.st_mode)) {
                char *sub = it->value[0] ? ic_path_join(it->value, names[i])
                                         : ic_xstrdup(names[i]);
                e = item_new(IC__TRK_ARTIFACT, path, sub);
                ic_free(sub);
            } else {
                e = item_new(IC__TRK_ARTIFACT, path, it->value);
            }
            ic_free(path);
            ic_free(names[i]);
            if (tail)
                tail->next = e;
            else
                head = e;
            tail = e;
        }
        ic_free(names);
        *expanded = head;
        return IC__TRK_OK;
    }
    const char *base = strrchr(it->key, '/');
    base = base ? base + 1 : it->key;
    char *rel = it->value[0] ? ic_path_join(it->value, base) : ic_xstrdup(base);
    enum ic__trk_res res;
    if (t->is_rest)
        res = ic__rest_artifact(t, it->key, rel, retry_after);
    else
        res = ic__fs_copy_file(t, it->key, ic__fs_artifact_dir(t->fs), rel);
    ic_free(rel);
    return res;
}

/* Waits out a backoff after the n-th failure in a row. Caller holds t->mu. */
static void backoff_wait(struct ic_tracker *t, int fails, double retry_after)
{
    const struct ic_tracker_opts *o = &t->opts;
    double d;
    if (retry_after >= 0)
        d = retry_after;
    else if (fails <= o->max_retries)
        d = o->backoff_s * pow(2.0, fails - 1);
    else
        d = o->backoff_max_s;
    if (d > o->backoff_max_s)
        d = o->backoff_max_s;
    if (d < 0.001)
        d = 0.001;
    /* flush/end are waiting: retry sooner (a server's Retry-After still rules) */
    double start = ic_time_now();
    while (!t->stop_now) {
        double left = start + d - ic_time_now();
        if (t->urgent && retry_after < 0 && d > URGENT_BACKOFF_S)
            left = start + URGENT_BACKOFF_S - ic_time_now();
        if (left <= 0)
            break;
        struct timespec until = abs_after(left);
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
    }
}

static void drop_all(struct ic_tracker *t, int *saw_end)
{
    struct ic__trk_item *it;
    while ((it = pop_front(t)) != NULL) {
        if (it->kind == IC__TRK_END)
            *saw_end = 1;
        else
            t->dropped++;
        item_free(it);
    }
}

static void *sender_main(void *arg)
{
    struct ic_tracker *t = arg;
    int fails = 0, lingered = 0;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        double retry_after = -1;
        enum ic__trk_res res;
        if (t->stop_now)
            break;
        if (t->dead) {
            int saw_end = 0;
            drop_all(t, &saw_end);
            pthread_cond_broadcast(&t->cv);
            if (saw_end)
                break;
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        if (!t->run_ready) {
            pthread_mutex_unlock(&t->mu);
            res = t->is_rest ? ic__rest_open_run(t, &retry_after) : ic__fs_open_run(t);
            pthread_mutex_lock(&t->mu);
            if (res == IC__TRK_OK) {
                t->run_ready = 1;
                t->last_progress = ic_time_now();
                if (t->failing)
                    ic_log(IC_LOG_INFO, "tracking: MLflow server answers again; run %s created",
                           t->run_id);
                t->failing = 0;
                fails = 0;
            } else if (res == IC__TRK_RETRY) {
                t->failing = 1;
                pthread_cond_broadcast(&t->cv);
                backoff_wait(t, ++fails, retry_after);
            } else {
                t->dead = 1;
            }
            pthread_cond_broadcast(&t->cv);
            continue;
        }
        if (!t->head) {
            lingered = 0;
            pthread_cond_broadcast(&t->cv);
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        /* let a burst of log calls gather into one request */
        if (!lingered && !t->urgent && t->queued < IC__TRK_MAX_METRICS_PER_BATCH &&
            t->head->kind != IC__TRK_END) {
            lingered = 1;
            struct timespec until = abs_after(LINGER_S);
            while (!t->urgent && !t->stop_now && t->queued < IC__TRK_MAX_METRICS_PER_BATCH)
                if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
                    break;
            continue;
        }
        struct ic__trk_item *batch;
        if (t->head->kind == IC__TRK_END) {
            batch = pop_front(t);
            t->inflight = 1;
            pthread_mutex_unlock(&t->mu);
            int64_t end_time = ic_time_ms();
            res = t->is_rest ? ic__rest_end_run(t, (int)batch->step, end_time, &retry_after)
                             : ic__fs_end_run(t, (int)batch->step, end_time);
            pthread_mutex_lock(&t->mu);
            t->inflight = 0;
            if (res == IC__TRK_RETRY) {
                push_front_list(t, batch);
                t->failing = 1;
                backoff_wait(t, ++fails, retry_after);
                continue;
            }
            item_free(batch);
            t->ended = res == IC__TRK_OK;
            break;
        }
        struct ic__trk_item *expanded = NULL;
        if (t->head->kind == IC__TRK_ARTIFACT) {
            batch = pop_front(t);
            t->inflight = 1;
            pthread_mutex_unlock(&t->mu);
            res = do_artifact(t, batch, &expanded, &retry_after);
            pthread_mutex_lock(&t->mu);
        } else if (t->head->kind == IC__TRK_INPUT) {
            batch = pop_front(t);
            t->inflight = 1;
            pthread_mutex_unlock(&t->mu);
            res = t->is_rest ? ic__rest_log_input(t, batch->value, &retry_after)
                             : ic__fs_log_input(t, batch->value);
            pthread_mutex_lock(&t->mu);
        } else {
            batch = take_batch(t);
            t->inflight = 1;
            pthread_mutex_unlock(&t->mu);
            res = t->is_rest ? ic__rest_log_batch(t, batch, &retry_after)
                             : ic__fs_log_batch(t, batch);
            pthread_mutex_lock(&t->mu);
        }
        t->inflight = 0;
        lingered = 0;
        switch (res) {
        case IC__TRK_OK:
            if (t->failing)
                ic_log(IC_LOG_INFO, "tracking: MLflow server answers again; sending queued data");
            t->failing = 0;
            fails = 0;
            t->last_progress = ic_time_now();
            list_free(batch);
            push_front_list(t, expanded);
            break;
        case IC__TRK_RETRY:
            push_front_list(t, batch);
            t->failing = 1;
            pthread_cond_broadcast(&t->cv);
            backoff_wait(t, ++fails, retry_after);
            break;
        case IC__TRK_DROP:
            t->dropped += list_len(batch);
            t->last_progress = ic_time_now();
            list_free(batch);
            break;
        case IC__TRK_DEAD:
            t->dropped += list_len(batch);
            list_free(batch);
            t->dead = 1;
            break;
        }
        pthread_cond_broadcast(&t->cv);
    }
    t->sender_done = 1;
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

// --- system metrics --------------------------------------------------------

#define MAX_SYS_METRICS 128

/* Samples and queues with the given step (< 0: the monitor's own counter). */
static void sample_and_queue(struct ic_tracker *t, int64_t step)
{
    const char *names[MAX_SYS_METRICS];
    double values[MAX_SYS_METRICS];
    pthread_mutex_lock(&t->sys_mu);
    if (step < 0)
        step = t->sys_step++;
    size_t n = ic__sysmon_sample(t->sys, names, values, MAX_SYS_METRICS);
    int64_t ts = ic_time_ms();
    struct ic__trk_item *head = NULL, *tail = NULL;
    for (size_t i = 0; i < n; i++) {
        struct ic__trk_item *it = item_new(IC__TRK_METRIC, names[i], NULL);
        it->num = values[i];
        it->ts = ts;
        it->step = step;
        if (tail)
            tail->next = it;
        else
            head = it;
        tail = it;
    }
    pthread_mutex_unlock(&t->sys_mu);
    pthread_mutex_lock(&t->mu);
    while (head) {
        struct ic__trk_item *next = head->next;
        if (t->dead || t->queued >= IC__TRK_MAX_QUEUE) {
            item_free(head);
        } else {
            push_back(t, head);
        }
        head = next;
    }
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static void *sampler_main(void *arg)
{
    struct ic_tracker *t = arg;
    for (;;) {
        pthread_mutex_lock(&t->sys_mu);
        struct timespec until = abs_after(t->opts.system_metrics_interval_s);
        while (!t->sys_stop)
            if (pthread_cond_timedwait(&t->sys_cv, &t->sys_mu, &until) == ETIMEDOUT)
                break;
        int stop = t->sys_stop;
        pthread_mutex_unlock(&t->sys_mu);
        if (stop)
            break;
        sample_and_queue(t, -1);
    }
    return NULL;
}

// --- start / end -----------------------------------------------------------

static const char *env_nonempty(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* "http"/"https" -> 1 (REST), local path or file: -> 0, else -1. */
static int uri_kind(const char *uri)
{
    if (strncmp(uri, "http://", 7) == 0 || strncmp(uri, "https://", 8) == 0)
        return 1;
    if (strncmp(uri, "file:", 5) == 0)
        return 0;
    const char *p = uri;
    if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')) {
        while ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
               *p == '+' || *p == '.' || *p == '-')
            p++;
        if (*p == ':')
            return -1; /* sqlite:, postgresql:, databricks:, ... */
    }
    return 0;
}

static void tracker_free(struct ic_tracker *t)
{
    if (!t)
        return;
    list_free(t->head);
    ic__rest_free(t->rest);
    ic__fs_free(t->fs);
    ic__sysmon_free(t->sys);
    ic_free(t->uri);
    ic_free(t->experiment_name);
    ic_free(t->artifact_uri);
    ic_free(t->run_name);
    ic_free(t->user);
    ic_free(t->source_name);
    for (size_t i = 0; i < t->n_params; i++) {
        ic_free(t->param_keys[i]);
        ic_free(t->param_vals[i]);
    }
    ic_free(t->param_keys);
    ic_free(t->param_vals);
    for (size_t i = 0; i < t->n_warned; i++)
        ic_free(t->warned[i]);
    ic_free(t->warned);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->sys_mu);
    pthread_cond_destroy(&t->sys_cv);
    pthread_mutex_destroy(&t->warn_mu);
    ic_free(t);
}

static void queue_tag(struct ic_tracker *t, const char *k, const char *v)
{
    pthread_mutex_lock(&t->mu);
    push_back(t, item_new(IC__TRK_TAG, k, v));
    pthread_mutex_unlock(&t->mu);
}

int ic_tracker_start(struct ic_tracker **out, const struct ic_tracker_opts *o,
                     struct ic_err *err)
{
    *out = NULL;
    if (!o || !o->enabled)
        return IC_OK;
    const char *uri = o->tracking_uri ? o->tracking_uri : env_nonempty("MLFLOW_TRACKING_URI");
    if (!uri)
        uri = "./mlruns";
    if (!*uri)
        return ic_errf(err, IC_ERR_INVAL, "tracking URI is empty");
    int kind = uri_kind(uri);
    if (kind < 0)
        return ic_errf(err, IC_ERR_INVAL,
                       "tracking URI \"%s\": unsupported scheme (use http(s)://, file: or a path)",
                       uri);
    const char *exp_id = o->experiment_id ? o->experiment_id : env_nonempty("MLFLOW_EXPERIMENT_ID");
    if (exp_id) {
        size_t n = strlen(exp_id);
        int ok = n > 0 && n < 64;
        for (size_t i = 0; i < n && ok; i++)
            ok = (exp_id[i] >= '0' && exp_id[i] <= '9') || (kind == 1 && exp_id[i] != '/' &&
                                                            exp_id[i] != '"' && exp_id[i] > ' ');
        if (!ok)
            return ic_errf(err, IC_ERR_INVAL, "experiment id \"%s\": not a valid id", exp_id);
    }
    const char *exp_name =
        o->experiment_name ? o->experiment_name : env_nonempty("MLFLOW_EXPERIMENT_NAME");
    if (!exp_name)
        exp_name = "Default";
    if (!*exp_name || strlen(exp_name) > 500)
        return ic_errf(err, IC_ERR_INVAL, "experiment name: must have 1 to 500 characters");
    if (o->run_name && strlen(o->run_name) > 250)
        return ic_errf(err, IC_ERR_INVAL, "run name: longer than 250 characters");

    struct ic_tracker *t = ic_xcalloc(1, sizeof *t);
    t->opts = *o;
    if (t->opts.http_timeout_s <= 0)
        t->opts.http_timeout_s = 5.0;
    if (t->opts.backoff_s <= 0)
        t->opts.backoff_s = 0.5;
    if (t->opts.backoff_max_s <= 0)
        t->opts.backoff_max_s = 30.0;
    if (t->opts.end_timeout_s <= 0)
        t->opts.end_timeout_s = 5.0;
    if (t->opts.max_retries < 0)
        t->opts.max_retries = 0;
    t->opts.tracking_uri = t->opts.experiment_name = t->opts.experiment_id = NULL;
    t->opts.run_name = t->opts.source_name = t->opts.source_path = NULL;
    pthread_mutex_init(&t->mu, NULL);
    pthread_mutex_init(&t->sys_mu, NULL);
    pthread_mutex_init(&t->warn_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_cond_init(&t->sys_cv, &ca);
    pthread_condattr_destroy(&ca);
    t->is_rest = kind == 1;
    t->uri = ic_xstrdup(uri);
    t->experiment_name = ic_xstrdup(exp_name);
    if (exp_id)
        snprintf(t->exp_id, sizeof t->exp_id, "%s", exp_id);
    t->run_name = o->run_name && *o->run_name ? ic_xstrdup(o->run_name) : ic__trk_run_name();
    t->user = ic__trk_user();
    t->source_name = ic_xstrdup(o->source_name && *o->source_name ? o->source_name : "intent");
    t->start_time = ic_time_ms();
    t->last_progress = ic_time_now();
    if (o->source_path && !ic__trk_git_commit(o->source_path, t->git_commit))
        (void)ic__trk_git_commit(".", t->git_commit);

    int rc;
    if (t->is_rest) {
        rc = ic__rest_new(t, &t->rest, err);
        if (rc != IC_OK)
            goto fail;
    } else {
        rc = ic__fs_new(t, uri, &t->fs, err);
        if (rc != IC_OK)
            goto fail;
        /* create the run now so its id is known at once */
        if (ic__fs_open_run(t) == IC__TRK_OK) {
            t->run_ready = 1;
            /* the tags MLflow's Python client sets (REST sends them in runs/create) */
            queue_tag(t, "mlflow.user", t->user);
            queue_tag(t, "mlflow.source.name", t->source_name);
            queue_tag(t, "mlflow.source.type", "LOCAL");
            queue_tag(t, "mlflow.runName", t->run_name);
            if (t->git_commit[0])
                queue_tag(t, "mlflow.source.git.commit", t->git_commit);
        } else {
            t->dead = 1;
        }
    }
    if (pthread_create(&t->sender, NULL, sender_main, t) != 0) {
        rc = ic_errf(err, IC_ERR_NOMEM, "cannot start the tracking thread");
        goto fail;
    }
    t->sender_started = 1;
    if (t->is_rest) {
        /* give the server a moment so the run id is known early; never long */
        pthread_mutex_lock(&t->mu);
        struct timespec until = abs_after(t->opts.http_timeout_s < 2 ? t->opts.http_timeout_s : 2);
        while (!t->run_ready && !t->dead && !t->failing)
            if (pthread_cond_timedwait(&t->cv, &t->mu, &until) == ETIMEDOUT)
                break;
        pthread_mutex_unlock(&t->mu);
    }
    t->sys = ic__sysmon_new();
    if (o->system_metrics_interval_s > 0 && !t->dead) {
        if (pthread_create(&t->sampler, NULL, sampler_main, t) == 0)
            t->sampler_started = 1;
    }
    *out = t;
    return IC_OK;
fail:
    tracker_free(t);
    return rc;
}

static void stop_sampler(struct ic_tracker *t)
{
    if (!t->sampler_started)
        return;
    pthread_mutex_lock(&t->sys_mu);
    t->sys_stop = 1;
    pthread_cond_broadcast(&t->sys_cv);
    pthread_mutex_unlock(&t->sys_mu);
    pthread_join(t->sampler, NULL);
    t->sampler_started = 0;
}

/* Waits until the queue is empty and idle, or nothing moved for
 * end_timeout_s. Caller holds t->mu. Returns 1 if drained. */
static int wait_drained(struct ic_tracker *t, int until_done)
{
    double since = ic_time_now();
    t->urgent++;
    pthread_cond_broadcast(&t->cv);
    int drained = 0;
    for (;;) {
        if (until_done ? t->sender_done : (!t->head && !t->inflight && t->run_ready) ||
                                              t->dead || t->sender_done) {
            drained = 1;
            break;
        }
        double last = t->last_progress > since ? t->last_progress : since;
        double limit = t->opts.end_timeout_s;
        if (t->failing && limit > FAILING_END_S)
            limit = FAILING_END_S; /* the server is away: do not hold training up */
        double left = last + limit - ic_time_now();
        if (left <= 0)
            break;
        struct timespec until = abs_after(left < 0.2 ? left : 0.2);
        pthread_cond_timedwait(&t->cv, &t->mu, &until);
    }
    t->urgent--;
    return drained;
}

void ic_tracker_end(struct ic_tracker *t, enum ic_run_status status)
{
    if (!t)
        return;
    stop_sampler(t);
    pthread_mutex_lock(&t->mu);
    struct ic__trk_item *end = item_new(IC__TRK_END, NULL, NULL);
    end->step = (int64_t)status;
    push_back(t, end);
    pthread_cond_broadcast(&t->cv);
    if (!wait_drained(t, 1)) {
        t->stop_now = 1;
        pthread_cond_broadcast(&t->cv);
    }
    pthread_mutex_unlock(&t->mu);
    if (t->sender_started)
        pthread_join(t->sender, NULL);
    size_t left = 0;
    for (struct ic__trk_item *it = t->head; it; it = it->next)
        left += it->kind != IC__TRK_END;
    if (left || t->dropped || !t->ended) {
        /* one warning per run: when the cause was already reported, this
         * summary is information */
        pthread_mutex_lock(&t->warn_mu);
        int warned = t->n_warned > 0;
        pthread_mutex_unlock(&t->warn_mu);
        ic_log(warned ? IC_LOG_INFO : IC_LOG_WARN,
               "tracking: %zu item(s) not delivered to MLflow (%s)%s%s", left + (size_t)t->dropped,
               t->uri, t->ended ? "" : "; the run was not marked ended",
               t->run_id[0] ? "" : "; no run was created");
    }
    tracker_free(t);
}

void ic_tracker_flush(struct ic_tracker *t)
{
    if (!t)
        return;
    pthread_mutex_lock(&t->mu);
    (void)wait_drained(t, 0);
    pthread_mutex_unlock(&t->mu);
}

// --- logging calls ---------------------------------------------------------

static void enqueue(struct ic_tracker *t, struct ic__trk_item *it)
{
    pthread_mutex_lock(&t->mu);
    if (t->dead || t->sender_done) {
        t->dropped++;
        pthread_mutex_unlock(&t->mu);
        item_free(it);
        return;
    }
    if (it->kind == IC__TRK_METRIC && t->queued >= IC__TRK_MAX_QUEUE) {
        t->dropped++;
        pthread_mutex_unlock(&t->mu);
        item_free(it);
        ic__trk_warn_once(t, "queue-full", "%d items wait for the MLflow server; new metrics are "
                          "dropped until it answers", IC__TRK_MAX_QUEUE);
        return;
    }
    push_back(t, it);
    pthread_cond_broadcast(&t->cv);
    pthread_mutex_unlock(&t->mu);
}

static int key_check(struct ic_tracker *t, const char *what, const char *key)
{
    size_t bad;
    if (ic__trk_key_ok(key) && ic_utf8_valid(key, strlen(key), &bad))
        return 1;
    char w[300];
    snprintf(w, sizeof w, "badkey-%.*s", 250, key ? key : "(null)");
    ic__trk_warn_once(t, w, "%s key \"%.*s\" is not a valid MLflow key (letters, digits, "
                      "_ - . / and spaces, at most 250, no \"..\"); not logged",
                      what, 260, key ? key : "(null)");
    return 0;
}

/* A copy of v with every byte of an invalid UTF-8 sequence replaced by '?'
 * (JSON, and so MLflow, carries only Unicode text). */
static char *utf8_fixed(struct ic_tracker *t, const char *what, const char *key, char *v)
{
    size_t n = strlen(v), off = 0, bad;
    if (ic_utf8_valid(v, n, &bad))
        return v;
    while (off < n && !ic_utf8_valid(v + off, n - off, &bad)) {
        v[off + bad] = '?';
        off += bad + 1;
    }
    char w[300];
    snprintf(w, sizeof w, "utf8-%s-%s", what, key);
    ic__trk_warn_once(t, w, "%s \"%s\": value is not valid UTF-8; bad bytes replaced by '?'",
                      what, key);
    return v;
}

static char *truncated(struct ic_tracker *t, const char *what, const char *key, const char *v,
                       size_t max)
{
    if (!v)
        v = "";
    size_t n = strlen(v);
    if (n <= max)
        return utf8_fixed(t, what, key, ic_xstrdup(v));
    /* cut at a UTF-8 boundary */
    size_t cut = max;
    while (cut > 0 && ((unsigned char)v[cut] & 0xC0) == 0x80)
        cut--;
    char w[300];
    snprintf(w, sizeof w, "trunc-%s-%s", what, key);
    ic__trk_warn_once(t, w, "%s \"%s\": value of %zu characters truncated to %zu (MLflow's limit)",
                      what, key, n, max);
    return utf8_fixed(t, what, key, ic_xstrndup(v, cut));
}

void ic_tracker_log_param(struct ic_tracker *t, const char *key, const char *value)
{
    if (!t || !key_check(t, "param", key))
        return;
    char *v = truncated(t, "param", key, value, IC__TRK_MAX_PARAM_VAL_LEN);
    pthread_mutex_lock(&t->mu);
    for (size_t i = 0; i < t->n_params; i++) {
        if (strcmp(t->param_keys[i], key) == 0) {
            int same = strcmp(t->param_vals[i], v) == 0;
            pthread_mutex_unlock(&t->mu);
            if (!same) {
                char w[300];
                snprintf(w, sizeof w, "param-changed-%s", key);
                ic__trk_warn_once(t, w, "param \"%s\" was already logged with another value; "
                                  "MLflow params cannot change, the new value is not logged", key);
            }
            ic_free(v);
            return;
        }
    }
    if (t->n_params == t->cap_params) {
        t->cap_params = t->cap_params ? 2 * t->cap_params : 32;
        t->param_keys = ic_xrealloc(t->param_keys, t->cap_params * sizeof *t->param_keys);
        t->param_vals = ic_xrealloc(t->param_vals, t->cap_params * sizeof *t->param_vals);
    }
    t->param_keys[t->n_params] = ic_xstrdup(key);
    t->param_vals[t->n_params] = ic_xstrdup(v);
    t->n_params++;
    pthread_mutex_unlock(&t->mu);
    struct ic__trk_item *it = item_new(IC__TRK_PARAM, key, NULL);
    it->value = v;
    enqueue(t, it);
}

void ic_tracker_set_tag(struct ic_tracker *t, const char *key, const char *value)
{
    if (!t || !key_check(t, "tag", key))
        return;
    struct ic__trk_item *it = item_new(IC__TRK_TAG, key, NULL);
    it->value = truncated(t, "tag", key, value, IC__TRK_MAX_TAG_VAL_LEN);
    enqueue(t, it);
}

void ic_tracker_log_metric(struct ic_tracker *t, const char *key, double value, int64_t step)
{
    if (!t || !key_check(t, "metric", key))
        return;
    struct ic__trk_item *it = item_new(IC__TRK_METRIC, key, NULL);
    it->num = value;
    it->ts = ic_time_ms();
    it->step = step;
    enqueue(t, it);
}

void ic_tracker_log_system_metrics(struct ic_tracker *t, int64_t step)
{
    if (!t)
        return;
    sample_and_queue(t, step);
}

void ic_tracker_log_artifact(struct ic_tracker *t, const char *local_path,
                             const char *artifact_dir)
{
    if (!t || !local_path || !*local_path)
        return;
    const char *d = artifact_dir ? artifact_dir : "";
    while (*d == '/')
        d++;
    char *dir = ic_xstrdup(d);
    size_t n = strlen(dir);
    while (n > 0 && dir[n - 1] == '/')
        dir[--n] = 0;
    if (n > 0 && !ic__trk_key_ok(dir)) {
        ic__trk_warn_once(t, "bad-artifact-dir", "artifact directory \"%s\" is not a normalized "
                          "relative path; %s not logged", dir, local_path);
        ic_free(dir);
        return;
    }
    struct ic__trk_item *it = item_new(IC__TRK_ARTIFACT, local_path, NULL);
    it->value = dir;
    enqueue(t, it);
}

// --- dataset inputs --------------------------------------------------------

/* NULL when s is valid JSON text of at most max bytes, else why not. */
static const char *json_text_problem(const char *s, size_t max)
{
    if (strlen(s) > max)
        return "too long";
    json_t *j = json_loads(s, JSON_DECODE_ANY, NULL);
    if (!j)
        return "not JSON";
    json_decref(j);
    return NULL;
}

/* NULL when d can be sent as it is, else what is wrong with it. */
static const char *dataset_problem(const struct ic_tracker_dataset *d, char *buf, size_t n)
{
    struct {
        const char *what, *v;
        size_t max;
        int json, required;
    } f[] = {
        {"name", d->name, IC__TRK_MAX_DATASET_NAME, 0, 1},
        {"digest", d->digest, IC__TRK_MAX_DATASET_DIGEST, 0, 1},
        {"source_type", d->source_type, 36, 0, 1},
        {"source", d->source, IC__TRK_MAX_DATASET_SOURCE, 1, 1},
        {"schema", d->schema, IC__TRK_MAX_DATASET_SCHEMA, 1, 0},
        {"profile", d->profile, IC__TRK_MAX_DATASET_PROFILE, 1, 0},
        {"context", d->context, IC__TRK_MAX_INPUT_TAG_VALUE, 0, 0},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++) {
        size_t bad;
        const char *why = NULL;
        if (!f[i].v || !*f[i].v)
            why = f[i].required ? "missing" : NULL;
        else if (!ic_utf8_valid(f[i].v, strlen(f[i].v), &bad))
            why = "not UTF-8";
        else if (f[i].json)
            why = json_text_problem(f[i].v, f[i].max);
        else if (strlen(f[i].v) > f[i].max)
            why = "too long";
        if (why) {
            snprintf(buf, n, "%s %s", f[i].what, why);
            return buf;
        }
    }
    return NULL;
}

/* The DatasetInput message as MLflow's REST API takes it. */
static char *dataset_input_json(const struct ic_tracker_dataset *d)
{
    json_t *ds = json_pack("{s:s,s:s,s:s,s:s}", "name", d->name, "digest", d->digest,
                           "source_type", d->source_type, "source", d->source);
    if (d->schema && *d->schema)
        json_object_set_new(ds, "schema", json_string(d->schema));
    if (d->profile && *d->profile)
        json_object_set_new(ds, "profile", json_string(d->profile));
    json_t *tags = json_array();
    if (d->context && *d->context)
        json_array_append_new(tags, json_pack("{s:s,s:s}", "key", "mlflow.data.context",
                                              "value", d->context));
    json_t *in = json_pack("{s:o,s:o}", "tags", tags, "dataset", ds);
    char *txt = json_dumps(in, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(in);
    IC_ASSERT(txt);
    char *out = ic_xstrdup(txt);
    free(txt);
    return out;
}

void ic_tracker_log_input(struct ic_tracker *t, const struct ic_tracker_dataset *d)
{
    if (!t || !d)
        return;
    char why[64];
    if (dataset_problem(d, why, sizeof why)) {
        char w[300];
        snprintf(w, sizeof w, "input-%s-%.200s", why, d->name ? d->name : "");
        ic__trk_warn_once(t, w, "dataset input \"%.200s\": %s; not logged",
                          d->name ? d->name : "", why);
        return;
    }
    struct ic__trk_item *it = item_new(IC__TRK_INPUT, NULL, NULL);
    it->value = dataset_input_json(d);
    enqueue(t, it);
}

// --- queries ---------------------------------------------------------------

/* s quoted for a POSIX shell when it needs to be. */
static void shell_word(struct ic_buf *b, const char *s)
{
    int plain = *s != 0;
    for (const char *p = s; *p && plain; p++)
        plain = strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./+-:@%,=",
                       *p) != NULL;
    if (plain) {
        IC_ASSERT(ic_buf_append(b, s, strlen(s)) == IC_OK);
        return;
    }
    IC_ASSERT(ic_buf_append(b, "'", 1) == IC_OK);
    for (const char *p = s; *p; p++)
        IC_ASSERT((*p == '\'' ? ic_buf_append(b, "'\\''", 4) : ic_buf_append(b, p, 1)) == IC_OK);
    IC_ASSERT(ic_buf_append(b, "'", 1) == IC_OK);
}

/* The tracking URI without trailing slashes and without user:password@. */
static void server_base(struct ic_buf *b, const char *uri)
{
    const char *host = strstr(uri, "://");
    host = host ? host + 3 : uri;
    const char *at = strchr(host, '@'), *slash = strchr(host, '/');
    size_t n = strlen(uri);
    while (n > 0 && uri[n - 1] == '/')
        n--;
    if (at && (!slash || at < slash)) {
        IC_ASSERT(ic_buf_append(b, uri, (size_t)(host - uri)) == IC_OK);
        IC_ASSERT(ic_buf_append(b, at + 1, n - (size_t)(at + 1 - uri)) == IC_OK);
    } else {
        IC_ASSERT(ic_buf_append(b, uri, n) == IC_OK);
    }
}

char *ic_tracker_run_where(const struct ic_tracker *t)
{
    if (!t)
        return NULL;
    struct ic_tracker *m = (struct ic_tracker *)t;
    char run[64], exp[64];
    pthread_mutex_lock(&m->mu);
    snprintf(run, sizeof run, "%s", m->run_id);
    snprintf(exp, sizeof exp, "%s", m->exp_id);
    pthread_mutex_unlock(&m->mu);
    if (!run[0] || !exp[0])
        return NULL;
    struct ic_buf b;
    ic_buf_init(&b, 0);
    if (t->is_rest) {
        server_base(&b, t->uri);
        IC_ASSERT(ic_buf_printf(&b, "/#/experiments/%s/runs/%s", exp, run) == IC_OK);
    } else {
        IC_ASSERT(ic_buf_printf(&b, "mlflow ui --backend-store-uri ") == IC_OK);
        shell_word(&b, ic__fs_root(t->fs));
        IC_ASSERT(ic_buf_printf(&b, " (then http://127.0.0.1:5000/#/experiments/%s/runs/%s)",
                                exp, run) == IC_OK);
    }
    return ic_buf_take(&b);
}

const char *ic_tracker_run_id(const struct ic_tracker *t)
{
    return t ? t->run_id : NULL;
}

const char *ic_tracker_experiment_id(const struct ic_tracker *t)
{
    return t ? t->exp_id : NULL;
}

int ic_tracker_healthy(const struct ic_tracker *t)
{
    if (!t)
        return 1;
    struct ic_tracker *m = (struct ic_tracker *)t;
    pthread_mutex_lock(&m->mu);
    int ok = !m->dead && !m->failing && m->dropped == 0;
    pthread_mutex_unlock(&m->mu);
    return ok;
}
