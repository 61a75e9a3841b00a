/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_track.c - the tracker against tests/tools/mlflow_stub.py (a stub MLflow
 * server that validates every request and records it) and the FileStore
 * layout checked field by field. Tests that need /usr/bin/python3 skip
 * without it. track_peer_* run only with MLFLOW_PEER_URI set (see
 * tests/e2e/mlflow_peer.sh).
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "intent/ic.h"
#include "intent/track.h"
#include "test.h"
#include "track/track_int.h"

#define PY "/usr/bin/python3"
#define STUB "tests/tools/mlflow_stub.py"

// --- log capture -------------------------------------------------------------

struct logcap {
    int warns;
    char last[1024];
    char all[8192];
};
/* Counts warnings; `all` keeps every message, `last` the last warning. */
static void cap_fn(enum ic_log_level level, const char *msg, void *ud)
{
    struct logcap *c = ud;
    if (level >= IC_LOG_WARN) {
        c->warns++;
        snprintf(c->last, sizeof c->last, "%s", msg);
    }
    size_t n = strlen(c->all);
    snprintf(c->all + n, sizeof c->all - n, "%s\n", msg);
}

// --- the stub server -----------------------------------------------------------

struct stub {
    pid_t pid;
    int port;
    char record[512];
    char uri[64];
};

/* Starts the stub with extra args (NULL-terminated). Returns 0 or -1. */
static int stub_start(struct stub *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    if (access(PY, X_OK) != 0 || access(STUB, R_OK) != 0)
        return -1;
    static int seq;
    snprintf(s->record, sizeof s->record, "%s/record-%d.json", test_tmpdir(), seq++);
    const char *argv[32];
    int n = 0;
    argv[n++] = PY;
    argv[n++] = STUB;
    argv[n++] = "--record";
    argv[n++] = s->record;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    int pid;
    if (test_spawn_server(argv, &pid, &s->port, NULL) != 0)
        return -1;
    s->pid = pid;
    snprintf(s->uri, sizeof s->uri, "http://127.0.0.1:%d", s->port);
    return 0;
}

static void stub_stop(struct stub *s)
{
    test_stop_server(s->pid, -1);
    s->pid = 0;
}

static json_t *stub_record(const struct stub *s)
{
    return json_load_file(s->record, 0, NULL);
}

/* A TCP port with nothing listening (bound, then closed). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        close(fd);
        return 0;
    }
    close(fd);
    return ntohs(a.sin_port);
}

static int write_file(const char *path, const char *data, size_t n)
{
    return ic_write_file_atomic(path, data, n, NULL);
}

static void fast_opts(struct ic_tracker_opts *o, const char *uri)
{
    ic_tracker_default_opts(o);
    o->tracking_uri = uri;
    o->experiment_name = "exp-a";
    o->run_name = "run-one";
    o->source_name = "intent train";
    o->system_metrics_interval_s = 0;
    o->http_timeout_s = 2;
    o->backoff_s = 0.01;
    o->backoff_max_s = 0.2;
    o->end_timeout_s = 5;
}

#define START_STUB(s, ...)                                                     \
    do {                                                                       \
        const char *const extra_[] = {__VA_ARGS__};         \
        if (stub_start(&(s), extra_) != 0)                                     \
            SKIP("no %s to run the MLflow stub server", PY);                   \
    } while (0)

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* Requests whose path ends with `ep`, as a new array. */
static json_t *requests(json_t *rec, const char *ep)
{
    json_t *out = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(rec, i, r) {
        const char *p = jstr(r, "path");
        size_t lp = strlen(p), le = strlen(ep);
        if (lp >= le && strcmp(p + lp - le, ep) == 0)
            json_array_append(out, r);
    }
    return out;
}

/* First request that the stub found invalid, or NULL. */
static const char *first_invalid(json_t *rec)
{
    size_t i;
    json_t *r;
    json_array_foreach(rec, i, r) {
        if (json_is_string(json_object_get(r, "invalid")))
            return jstr(r, "invalid");
    }
    return NULL;
}

static const char *tag_value(json_t *tags, const char *key)
{
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t) {
        if (strcmp(jstr(t, "key"), key) == 0)
            return jstr(t, "value");
    }
    return NULL;
}

// --- REST --------------------------------------------------------------------

/* The recorded requests with what changes from run to run replaced
 * (ids, times, the user) and consecutive log-batch calls merged into one
 * (how a burst splits into batches is timing; batch limits have their own
 * test). Compared with tests/golden/track/rest_sequence.json. */
static void normalize_value(json_t *obj, const char *user)
{
    const char *k;
    json_t *v;
    void *tmp;
    json_object_foreach_safe(obj, tmp, k, v) {
        if (!strcmp(k, "run_id") || !strcmp(k, "run_uuid")) {
            json_object_set_new(obj, k, json_string("<run_id>"));
        } else if ((!strcmp(k, "start_time") || !strcmp(k, "end_time") ||
                    !strcmp(k, "timestamp")) && json_integer_value(v) > 1000000000000LL) {
            json_object_set_new(obj, k, json_string("<ms>"));
        } else if ((!strcmp(k, "user_id") || !strcmp(k, "value")) && json_is_string(v) &&
                   strcmp(json_string_value(v), user) == 0) {
            json_object_set_new(obj, k, json_string("<user>"));
        } else if (json_is_object(v)) {
            normalize_value(v, user);
        } else if (json_is_array(v)) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e) if (json_is_object(e)) normalize_value(e, user);
        }
    }
}

static json_t *normalized(json_t *rec, const char *user)
{
    json_t *out = json_array();
    json_t *merged = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(rec, i, r) {
        json_t *body = json_deep_copy(json_object_get(r, "body"));
        if (json_is_object(body))
            normalize_value(body, user);
        if (strcmp(jstr(r, "path"), "/api/2.0/mlflow/runs/log-batch") == 0 && merged) {
            json_t *mb = json_object_get(merged, "body");
            static const char *const lists[] = {"metrics", "params", "tags"};
            for (int l = 0; l < 3; l++) {
                json_t *dst = json_object_get(mb, lists[l]);
                if (!dst) {
                    dst = json_array();
                    json_object_set_new(mb, lists[l], dst);
                }
                json_array_extend(dst, json_object_get(body, lists[l]));
            }
            json_decref(body);
            continue;
        }
        json_t *e = json_pack("{s:O,s:O,s:O,s:o}", "method", json_object_get(r, "method"),
                              "path", json_object_get(r, "path"), "status",
                              json_object_get(r, "status"), "body", body ? body : json_null());
        json_array_append_new(out, e);
        merged = strcmp(jstr(r, "path"), "/api/2.0/mlflow/runs/log-batch") == 0 ? e : NULL;
    }
    return out;
}

TEST(track_rest_sequence)
{
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    int rc = ic_tracker_start(&t, &o, &err);
    if (rc != IC_OK) {
        stub_stop(&s);
        FAIL("start: %s", err.msg);
    }
    ic_tracker_log_param(t, "learning_rate", "5e-05");
    ic_tracker_log_param(t, "dataset_path", "data/intents.json");
    ic_tracker_log_metric(t, "loss", 0.5, 1);
    ic_tracker_log_metric(t, "loss", NAN, 2);
    ic_tracker_log_metric(t, "grad_norm", INFINITY, 2);
    ic_tracker_log_metric(t, "grad_norm", -INFINITY, 3);
    ic_tracker_set_tag(t, "stage", "train");
    ic_tracker_flush(t);
    char run_id[64];
    snprintf(run_id, sizeof run_id, "%s", ic_tracker_run_id(t));
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT(rec);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    size_t n = json_array_size(rec);
    ASSERT(n >= 5);
    /* the whole exchange against the golden */
    {
        const char *user = jstr(json_object_get(json_array_get(rec, 2), "body"), "user_id");
        json_t *got = normalized(rec, user ? user : "");
        char *gpath = ic_path_join(test_golden_dir(), "track/rest_sequence.json");
        if (getenv("IC_TEST_UPDATE_GOLDEN"))
            json_dump_file(got, gpath, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
        json_t *want = json_load_file(gpath, 0, NULL);
        ic_free(gpath);
        int same = want && json_equal(got, want);
        if (!same) {
            char *gotp = ic_path_join(test_tmpdir(), "rest_sequence.got.json");
            json_dump_file(got, gotp, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
            char msg[600];
            snprintf(msg, sizeof msg, "%s", gotp);
            ic_free(gotp);
            json_decref(got);
            json_decref(want);
            json_decref(rec);
            FAIL("requests differ from tests/golden/track/rest_sequence.json (got: %s; "
                 "kept with IC_TEST_KEEP=1; IC_TEST_UPDATE_GOLDEN=1 rewrites the golden)", msg);
        }
        json_decref(got);
        json_decref(want);
    }
    json_t *r0 = json_array_get(rec, 0), *r1 = json_array_get(rec, 1), *r2 = json_array_get(rec, 2);
    ASSERT_STR_EQ(jstr(r0, "method"), "GET");
    ASSERT_STR_EQ(jstr(r0, "path"), "/api/2.0/mlflow/experiments/get-by-name");
    ASSERT_STR_EQ(jstr(json_object_get(r0, "body"), "experiment_name"), "exp-a");
    ASSERT_EQ(json_integer_value(json_object_get(r0, "status")), 404);
    ASSERT_STR_EQ(jstr(r1, "path"), "/api/2.0/mlflow/experiments/create");
    ASSERT_STR_EQ(jstr(json_object_get(r1, "body"), "name"), "exp-a");
    ASSERT_STR_EQ(jstr(r2, "path"), "/api/2.0/mlflow/runs/create");
    json_t *cb = json_object_get(r2, "body");
    ASSERT_STR_EQ(jstr(cb, "experiment_id"), "1");
    ASSERT_STR_EQ(jstr(cb, "run_name"), "run-one");
    ASSERT(json_integer_value(json_object_get(cb, "start_time")) > 1000000000000LL);
    ASSERT(jstr(cb, "user_id") && jstr(cb, "user_id")[0]);
    json_t *tags = json_object_get(cb, "tags");
    ASSERT_STR_EQ(tag_value(tags, "mlflow.user"), jstr(cb, "user_id"));
    ASSERT_STR_EQ(tag_value(tags, "mlflow.source.name"), "intent train");
    ASSERT_STR_EQ(tag_value(tags, "mlflow.source.type"), "LOCAL");
    ASSERT_STR_EQ(tag_value(tags, "mlflow.runName"), "run-one");
    /* every POST is JSON */
    size_t i;
    json_t *r;
    json_array_foreach(rec, i, r) {
        if (strcmp(jstr(r, "method"), "POST") == 0)
            ASSERT_STR_EQ(jstr(r, "content_type"), "application/json");
    }
    /* log-batch: the params, the tag and the metrics, in order */
    json_t *lb = requests(rec, "/runs/log-batch");
    json_t *metrics = json_array(), *params = json_array(), *btags = json_array();
    json_array_foreach(lb, i, r) {
        json_t *b = json_object_get(r, "body");
        ASSERT_STR_EQ(jstr(b, "run_id"), run_id);
        json_array_extend(metrics, json_object_get(b, "metrics"));
        json_array_extend(params, json_object_get(b, "params"));
        json_array_extend(btags, json_object_get(b, "tags"));
    }
    ASSERT_EQ(json_array_size(params), 2);
    ASSERT_STR_EQ(tag_value(params, "learning_rate"), "5e-05");
    ASSERT_STR_EQ(tag_value(params, "dataset_path"), "data/intents.json");
    ASSERT_STR_EQ(tag_value(btags, "stage"), "train");
    ASSERT_EQ(json_array_size(metrics), 4);
    json_t *m0 = json_array_get(metrics, 0), *m1 = json_array_get(metrics, 1);
    json_t *m2 = json_array_get(metrics, 2), *m3 = json_array_get(metrics, 3);
    ASSERT_STR_EQ(jstr(m0, "key"), "loss");
    ASSERT_NEAR(json_number_value(json_object_get(m0, "value")), 0.5, 0);
    ASSERT_EQ(json_integer_value(json_object_get(m0, "step")), 1);
    ASSERT(json_integer_value(json_object_get(m0, "timestamp")) > 1000000000000LL);
    ASSERT_STR_EQ(jstr(m1, "value"), "NaN");
    ASSERT_STR_EQ(jstr(m2, "value"), "Infinity");
    ASSERT_STR_EQ(jstr(m3, "value"), "-Infinity");
    ASSERT_EQ(json_integer_value(json_object_get(m3, "step")), 3);
    /* the last request ends the run */
    json_t *last = json_array_get(rec, n - 1);
    ASSERT_STR_EQ(jstr(last, "path"), "/api/2.0/mlflow/runs/update");
    json_t *ub = json_object_get(last, "body");
    ASSERT_STR_EQ(jstr(ub, "run_id"), run_id);
    ASSERT_STR_EQ(jstr(ub, "status"), "FINISHED");
    ASSERT(json_integer_value(json_object_get(ub, "end_time")) >=
           json_integer_value(json_object_get(cb, "start_time")));
    json_decref(lb);
    json_decref(metrics);
    json_decref(params);
    json_decref(btags);
    json_decref(rec);
}

TEST(track_rest_batch_limits)
{
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    o.experiment_name = "Default";
    struct ic_tracker *t = NULL;
    ASSERT_OK(ic_tracker_start(&t, &o, NULL));
    char k[64], v[64];
    for (int i = 0; i < 150; i++) {
        snprintf(k, sizeof k, "p%03d", i);
        snprintf(v, sizeof v, "%d", i);
        ic_tracker_log_param(t, k, v);
    }
    for (int i = 0; i < 120; i++) {
        snprintf(k, sizeof k, "t%03d", i);
        ic_tracker_set_tag(t, k, "x");
    }
    for (int i = 0; i < 2500; i++)
        ic_tracker_log_metric(t, i % 2 ? "loss" : "acc", i * 0.25, i);
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT(rec);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    json_t *lb = requests(rec, "/runs/log-batch");
    size_t i, nm = 0, np = 0, nt = 0;
    json_t *r;
    int64_t next_step = 0;
    json_array_foreach(lb, i, r) {
        json_t *b = json_object_get(r, "body");
        size_t bm = json_array_size(json_object_get(b, "metrics"));
        size_t bp = json_array_size(json_object_get(b, "params"));
        size_t bt = json_array_size(json_object_get(b, "tags"));
        ASSERT(bm <= 1000);
        ASSERT(bp + bt <= 100);
        ASSERT(bm + bp + bt <= 1000);
        ASSERT(json_integer_value(json_object_get(r, "body_len")) < 1000000);
        size_t j;
        json_t *m;
        json_array_foreach(json_object_get(b, "metrics"), j, m) {
            ASSERT_EQ(json_integer_value(json_object_get(m, "step")), next_step);
            next_step++;
        }
        nm += bm;
        np += bp;
        nt += bt;
    }
    ASSERT_EQ(nm, 2500);
    ASSERT_EQ(np, 150);
    ASSERT_EQ(nt, 120 + 0);
    ASSERT(json_array_size(lb) >= 3);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_batch_bytes)
{
    /* 150 params of 5000 characters that JSON escapes 2x-6x: batches stay
     * under 1 MB (the stub refuses bigger requests) and all arrive */
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    char *v = ic_xmalloc(5001);
    for (int i = 0; i < 5000; i++)
        v[i] = i % 3 == 0 ? '"' : i % 3 == 1 ? '\n' : '\x01';
    v[5000] = 0;
    char k[32];
    for (int i = 0; i < 150; i++) {
        snprintf(k, sizeof k, "p%03d", i);
        ic_tracker_log_param(t, k, v);
    }
    ic_free(v);
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    json_t *lb = requests(rec, "/runs/log-batch");
    size_t i, np = 0;
    json_t *r;
    json_array_foreach(lb, i, r) {
        ASSERT(json_integer_value(json_object_get(r, "body_len")) < 1000000);
        json_t *ps = json_object_get(json_object_get(r, "body"), "params");
        size_t j;
        json_t *p;
        json_array_foreach(ps, j, p) ASSERT_EQ(strlen(jstr(p, "value")), 5000);
        np += json_array_size(ps);
    }
    ASSERT_EQ(np, 150);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_retry_503)
{
    struct stub s;
    START_STUB(s, "--fail", "runs/log-batch:503:3", NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    for (int i = 0; i < 10; i++)
        ic_tracker_log_metric(t, "loss", 1.0 / (i + 1), i);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    ASSERT(rec);
    json_t *lb = requests(rec, "/runs/log-batch");
    size_t i, delivered = 0, failed = 0;
    json_t *r;
    json_array_foreach(lb, i, r) {
        long st = (long)json_integer_value(json_object_get(r, "status"));
        if (st == 503)
            failed++;
        else if (st == 200)
            delivered += json_array_size(json_object_get(json_object_get(r, "body"), "metrics"));
    }
    ASSERT_EQ(failed, 3);
    ASSERT_EQ(delivered, 10);
    ASSERT_EQ(cap.warns, 1);
    ASSERT_CONTAINS(cap.last, "503");
    json_t *last = json_array_get(rec, json_array_size(rec) - 1);
    ASSERT_STR_EQ(jstr(last, "path"), "/api/2.0/mlflow/runs/update");
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_429_retry_after)
{
    struct stub s;
    START_STUB(s, "--fail", "runs/log-batch:429:1:1", NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    o.backoff_max_s = 5;
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "loss", 1.0, 0);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    json_t *lb = requests(rec, "/runs/log-batch");
    ASSERT_EQ(json_array_size(lb), 2);
    json_t *a = json_array_get(lb, 0), *b = json_array_get(lb, 1);
    ASSERT_EQ(json_integer_value(json_object_get(a, "status")), 429);
    ASSERT_EQ(json_integer_value(json_object_get(b, "status")), 200);
    /* Retry-After: 1 was honoured (the plain backoff would be 0.01 s) */
    double gap = json_number_value(json_object_get(b, "time")) -
                 json_number_value(json_object_get(a, "time"));
    ASSERT(gap >= 0.9);
    ASSERT_EQ(cap.warns, 1);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_400_not_retried)
{
    struct stub s;
    START_STUB(s, "--fail", "runs/log-batch:400:1", NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "a", 1.0, 0);
    ic_tracker_flush(t);
    ic_tracker_log_metric(t, "b", 2.0, 0);
    ic_tracker_flush(t);
    int healthy = ic_tracker_healthy(t);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    ASSERT_EQ(healthy, 0);
    json_t *lb = requests(rec, "/runs/log-batch");
    ASSERT_EQ(json_array_size(lb), 2);
    json_t *a = json_array_get(lb, 0), *b = json_array_get(lb, 1);
    ASSERT_EQ(json_integer_value(json_object_get(a, "status")), 400);
    ASSERT_STR_EQ(jstr(json_array_get(json_object_get(json_object_get(a, "body"), "metrics"), 0),
                       "key"), "a");
    ASSERT_EQ(json_integer_value(json_object_get(b, "status")), 200);
    ASSERT_STR_EQ(jstr(json_array_get(json_object_get(json_object_get(b, "body"), "metrics"), 0),
                       "key"), "b");
    ASSERT_EQ(json_array_size(json_object_get(json_object_get(b, "body"), "metrics")), 1);
    /* one warning for the refusal; the end summary counts the lost item */
    ASSERT_CONTAINS(cap.last, "400");
    ASSERT_CONTAINS(cap.last, "not retried");
    ASSERT_CONTAINS(cap.all, "1 item(s) not delivered");
    ASSERT_EQ(cap.warns, 1);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_down_then_up)
{
    int port = free_port();
    if (!port)
        SKIP("no free port");
    char uri[64], ps[16];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d", port);
    snprintf(ps, sizeof ps, "%d", port);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, uri);
    o.backoff_max_s = 0.1;
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    int rc = ic_tracker_start(&t, &o, &err);
    if (rc != IC_OK) {
        ic_log_set(NULL, NULL);
        FAIL("start with the server down: %s", err.msg);
    }
    ASSERT(t != NULL);
    ASSERT_STR_EQ(ic_tracker_run_id(t), "");
    for (int i = 0; i < 5; i++)
        ic_tracker_log_metric(t, "loss", i, i);
    ic_tracker_log_param(t, "epochs", "3");
    struct stub s;
    const char *const extra[] = {"--port", ps, NULL};
    if (stub_start(&s, extra) != 0) {
        ic_tracker_end(t, IC_RUN_KILLED);
        ic_log_set(NULL, NULL);
        SKIP("no %s to run the MLflow stub server", PY);
    }
    for (int i = 5; i < 8; i++)
        ic_tracker_log_metric(t, "loss", i, i);
    ic_tracker_end(t, IC_RUN_KILLED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT(rec);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    json_t *lb = requests(rec, "/runs/log-batch");
    size_t i, nm = 0, np = 0;
    json_t *r;
    json_array_foreach(lb, i, r) {
        nm += json_array_size(json_object_get(json_object_get(r, "body"), "metrics"));
        np += json_array_size(json_object_get(json_object_get(r, "body"), "params"));
    }
    ASSERT_EQ(nm, 8);
    ASSERT_EQ(np, 1);
    json_t *last = json_array_get(rec, json_array_size(rec) - 1);
    ASSERT_STR_EQ(jstr(json_object_get(last, "body"), "status"), "KILLED");
    ASSERT_EQ(cap.warns, 1);
    ASSERT_CONTAINS(cap.last, "unreachable");
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_down_all_along)
{
    int port = free_port();
    if (!port)
        SKIP("no free port");
    char uri[64];
    snprintf(uri, sizeof uri, "http://127.0.0.1:%d", port);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, uri);
    o.end_timeout_s = 0.3;
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    for (int i = 0; i < 100; i++)
        ic_tracker_log_metric(t, "loss", i, i);
    ic_tracker_flush(t); /* bounded: returns */
    ic_tracker_end(t, IC_RUN_FAILED);
    ic_log_set(NULL, NULL);
    ASSERT_OK(rc);
    /* ONE warning ("unreachable"); the end summary is information */
    ASSERT_EQ(cap.warns, 1);
    ASSERT_CONTAINS(cap.last, "unreachable");
    ASSERT_CONTAINS(cap.all, "100 item(s) not delivered");
    ASSERT_CONTAINS(cap.all, "no run was created");
}

TEST(track_rest_dropped_connection)
{
    struct stub s;
    START_STUB(s, "--fail", "runs/log-batch:0:2", "--fail", "runs/update:502:1", NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "loss", 3.0, 7);
    ic_tracker_end(t, IC_RUN_FAILED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    json_t *lb = requests(rec, "/runs/log-batch");
    ASSERT_EQ(json_array_size(lb), 3);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(lb, 2), "status")), 200);
    json_t *up = requests(rec, "/runs/update");
    ASSERT_EQ(json_array_size(up), 2);
    ASSERT_STR_EQ(jstr(json_object_get(json_array_get(up, 1), "body"), "status"), "FAILED");
    ASSERT_EQ(cap.warns, 1);
    json_decref(lb);
    json_decref(up);
    json_decref(rec);
}

TEST(track_rest_slow_server)
{
    struct stub s;
    START_STUB(s, "--slow", "runs/log-batch:1:1", NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    o.http_timeout_s = 0.5;
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "loss", 1.0, 0);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    ASSERT_EQ(cap.warns, 1);
    ASSERT_CONTAINS(cap.last, "timed out");
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    /* the first log-batch timed out on our side and was sent again */
    json_t *lb = requests(rec, "/runs/log-batch");
    ASSERT(json_array_size(lb) >= 1);
    json_t *up = requests(rec, "/runs/update");
    ASSERT_EQ(json_array_size(up), 1);
    json_decref(lb);
    json_decref(up);
    json_decref(rec);
}

static void auth_case(const char *stub_flag, const char *stub_val, const char *want_prefix)
{
    struct stub s;
    START_STUB(s, stub_flag, stub_val, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "loss", 1.0, 0);
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    size_t i;
    json_t *r;
    ASSERT(json_array_size(rec) >= 4);
    json_array_foreach(rec, i, r) {
        ASSERT_CONTAINS(jstr(r, "authorization"), want_prefix);
        ASSERT_EQ(json_integer_value(json_object_get(r, "status")) / 100 == 2 ||
                      json_integer_value(json_object_get(r, "status")) == 404,
                  1);
    }
    json_decref(rec);
}

TEST(track_rest_auth_basic)
{
    setenv("MLFLOW_TRACKING_USERNAME", "alice", 1);
    setenv("MLFLOW_TRACKING_PASSWORD", "s3cret:x", 1);
    setenv("MLFLOW_TRACKING_TOKEN", "ignored-when-basic", 1);
    auth_case("--basic", "alice:s3cret:x", "Basic YWxpY2U6czNjcmV0Ong=");
    unsetenv("MLFLOW_TRACKING_USERNAME");
    unsetenv("MLFLOW_TRACKING_PASSWORD");
    unsetenv("MLFLOW_TRACKING_TOKEN");
}

TEST(track_rest_auth_bearer)
{
    setenv("MLFLOW_TRACKING_TOKEN", "tok-123", 1);
    auth_case("--bearer", "tok-123", "Bearer tok-123");
    unsetenv("MLFLOW_TRACKING_TOKEN");
}

TEST(track_rest_auth_credentials_file)
{
    /* ~/.mlflow/credentials gives what the environment does not */
    char *home = ic_path_join(test_tmpdir(), "home");
    char *dir = ic_path_join(home, ".mlflow");
    ASSERT_OK(ic_mkdirs(dir, NULL));
    char *f = ic_path_join(dir, "credentials");
    const char *ini = "# comment\n[other]\nmlflow_tracking_username = nobody\n"
                      "[mlflow]\nmlflow_tracking_username = bob\n"
                      "MLFLOW_TRACKING_PASSWORD: from-file\n";
    ASSERT_OK(write_file(f, ini, strlen(ini)));
    const char *old_home = getenv("HOME");
    char *saved = old_home ? ic_xstrdup(old_home) : NULL;
    setenv("HOME", home, 1);
    setenv("MLFLOW_TRACKING_PASSWORD", "from-env", 1);
    auth_case("--basic", "bob:from-env", "Basic Ym9iOmZyb20tZW52");
    unsetenv("MLFLOW_TRACKING_PASSWORD");
    if (saved)
        setenv("HOME", saved, 1);
    else
        unsetenv("HOME");
    ic_free(saved);
    ic_free(f);
    ic_free(dir);
    ic_free(home);
}

/* A credentials file holding a NUL byte is ignored as a whole (a value would
 * otherwise be cut at the NUL and sent): no Authorization header goes out. */
TEST(track_rest_credentials_file_nul_ignored)
{
    char *home = ic_path_join(test_tmpdir(), "home-nul");
    char *dir = ic_path_join(home, ".mlflow");
    ASSERT_OK(ic_mkdirs(dir, NULL));
    char *f = ic_path_join(dir, "credentials");
    static const char ini[] = "[mlflow]\nmlflow_tracking_password = pw\n"
                              "mlflow_tracking_username = bob\0evil\n";
    ASSERT_OK(write_file(f, ini, sizeof ini - 1));
    const char *old_home = getenv("HOME");
    char *saved = old_home ? ic_xstrdup(old_home) : NULL;
    setenv("HOME", home, 1);
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    if (saved)
        setenv("HOME", saved, 1);
    else
        unsetenv("HOME");
    ic_free(saved);
    ic_free(f);
    ic_free(dir);
    ic_free(home);
    ASSERT_OK(rc);
    size_t i;
    json_t *r;
    ASSERT(json_array_size(rec) >= 2);
    json_array_foreach(rec, i, r) {
        const char *a = jstr(r, "authorization");
        ASSERT(a == NULL || strstr(a, "Basic") == NULL);
    }
    json_decref(rec);
}

TEST(track_rest_experiment_env)
{
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, NULL);
    o.experiment_name = NULL;
    setenv("MLFLOW_TRACKING_URI", s.uri, 1);
    setenv("MLFLOW_EXPERIMENT_NAME", "from-env", 1);
    struct ic_tracker *t = NULL;
    int rc1 = ic_tracker_start(&t, &o, NULL);
    ic_tracker_end(t, IC_RUN_FINISHED);
    setenv("MLFLOW_EXPERIMENT_ID", "0", 1); /* the id wins over the name */
    int rc2 = ic_tracker_start(&t, &o, NULL);
    ic_tracker_end(t, IC_RUN_FINISHED);
    unsetenv("MLFLOW_TRACKING_URI");
    unsetenv("MLFLOW_EXPERIMENT_NAME");
    unsetenv("MLFLOW_EXPERIMENT_ID");
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc1);
    ASSERT_OK(rc2);
    json_t *byname = requests(rec, "/experiments/get-by-name");
    json_t *create = requests(rec, "/runs/create");
    ASSERT_EQ(json_array_size(byname), 1);
    ASSERT_STR_EQ(jstr(json_object_get(json_array_get(byname, 0), "body"), "experiment_name"),
                  "from-env");
    ASSERT_EQ(json_array_size(create), 2);
    ASSERT_STR_EQ(jstr(json_object_get(json_array_get(create, 0), "body"), "experiment_id"), "1");
    ASSERT_STR_EQ(jstr(json_object_get(json_array_get(create, 1), "body"), "experiment_id"), "0");
    json_decref(byname);
    json_decref(create);
    json_decref(rec);
}

TEST(track_rest_tls)
{
    char *cert = ic_path_join(test_tmpdir(), "cert.pem");
    char *key = ic_path_join(test_tmpdir(), "key.pem");
    char *cmd = ic_xasprintf("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "
                             "/CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 -keyout '%s' "
                             "-out '%s' >/dev/null 2>&1", key, cert);
    int made = system(cmd) == 0;
    ic_free(cmd);
    if (!made) {
        ic_free(cert);
        ic_free(key);
        SKIP("no openssl to make a test certificate");
    }
    int ok_count = 0, warned_cert = 0, requests_c = -1;
    for (int mode = 0; mode < 3; mode++) {
        struct stub s;
        const char *const extra[] = {"--tls-cert", cert, "--tls-key", key, NULL};
        if (stub_start(&s, extra) != 0)
            break;
        char uri[64];
        snprintf(uri, sizeof uri, "https://127.0.0.1:%d", s.port);
        if (mode == 0)
            setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", cert, 1);
        if (mode == 1)
            setenv("MLFLOW_TRACKING_INSECURE_TLS", "true", 1);
        struct logcap cap = {0};
        ic_log_set(cap_fn, &cap);
        struct ic_tracker_opts o;
        fast_opts(&o, uri);
        struct ic_tracker *t = NULL;
        int rc = ic_tracker_start(&t, &o, NULL);
        ic_tracker_log_metric(t, "loss", 1, 0);
        ic_tracker_end(t, IC_RUN_FINISHED);
        ic_log_set(NULL, NULL);
        unsetenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
        unsetenv("MLFLOW_TRACKING_INSECURE_TLS");
        json_t *rec = stub_record(&s);
        stub_stop(&s);
        if (rc == IC_OK && mode < 2) {
            json_t *up = requests(rec, "/runs/update");
            json_t *lb = requests(rec, "/runs/log-batch");
            if (json_array_size(up) == 1 && json_array_size(lb) == 1 && cap.warns == 0)
                ok_count++;
            json_decref(up);
            json_decref(lb);
        }
        if (mode == 2) {
            warned_cert = strstr(cap.all, "certificate") != NULL;
            requests_c = (int)json_array_size(rec);
        }
        json_decref(rec);
    }
    ic_free(cert);
    ic_free(key);
    ASSERT_EQ(ok_count, 2);     /* CA bundle given, or verification off */
    ASSERT(warned_cert);        /* neither: one clear warning ... */
    ASSERT_EQ(requests_c, 0);   /* ... and no request got through */
}

TEST(track_rest_auth_refused)
{
    struct stub s;
    START_STUB(s, "--bearer", "right", NULL);
    setenv("MLFLOW_TRACKING_TOKEN", "wrong", 1);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    for (int i = 0; i < 20; i++)
        ic_tracker_log_metric(t, "loss", 1.0, i);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    unsetenv("MLFLOW_TRACKING_TOKEN");
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    /* 401 on the first request; nothing retried after that */
    ASSERT_EQ(json_array_size(rec), 1);
    ASSERT_EQ(json_integer_value(json_object_get(json_array_get(rec, 0), "status")), 401);
    ASSERT_CONTAINS(cap.all, "401");
    json_decref(rec);
}

TEST(track_rest_artifacts)
{
    struct stub s;
    START_STUB(s, NULL);
    const char *tmp = test_tmpdir();
    char *f = ic_path_join(tmp, "report.json");
    char *d = ic_path_join(tmp, "model");
    char *sub = ic_path_join(d, "tok en");
    ASSERT_OK(ic_mkdirs(sub, NULL));
    char *fa = ic_path_join(d, "model.safetensors");
    char *fb = ic_path_join(sub, "vocab.txt");
    ASSERT_OK(write_file(f, "{\"acc\":1}", 9));
    ASSERT_OK(write_file(fa, "0123456789", 10));
    ASSERT_OK(write_file(fb, "[CLS]\n", 6));
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_artifact(t, f, "");
    ic_tracker_log_artifact(t, d, "model");
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    ic_tracker_log_artifact(t, "/nonexistent/file", "");
    ic_tracker_flush(t);
    char run_id[64], exp_id[64];
    snprintf(run_id, sizeof run_id, "%s", ic_tracker_run_id(t));
    snprintf(exp_id, sizeof exp_id, "%s", ic_tracker_experiment_id(t));
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    ASSERT_CONTAINS(cap.all, "/nonexistent/file");
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ic_free(f);
    ic_free(d);
    ic_free(sub);
    ic_free(fa);
    ic_free(fb);
    ASSERT_OK(rc);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    char want[3][256];
    snprintf(want[0], 256, "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/report.json",
             exp_id, run_id);
    snprintf(want[1], 256,
             "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/model/model.safetensors",
             exp_id, run_id);
    snprintf(want[2], 256, "/api/2.0/mlflow-artifacts/artifacts/%s/%s/artifacts/model/tok en/"
             "vocab.txt", exp_id, run_id);
    const long sizes[3] = {9, 10, 6};
    size_t i, k = 0;
    json_t *r;
    json_array_foreach(rec, i, r) {
        if (strcmp(jstr(r, "method"), "PUT") != 0)
            continue;
        ASSERT(k < 3);
        ASSERT_STR_EQ(jstr(r, "path"), want[k]);
        ASSERT_EQ(json_integer_value(json_object_get(r, "body_len")), sizes[k]);
        ASSERT_EQ(json_integer_value(json_object_get(r, "status")), 200);
        k++;
    }
    ASSERT_EQ(k, 3);
    /* the space was percent-encoded on the wire */
    json_t *put3 = NULL;
    json_array_foreach(rec, i, r) {
        if (strstr(jstr(r, "path"), "vocab.txt"))
            put3 = r;
    }
    ASSERT_CONTAINS(jstr(put3, "raw_path"), "tok%20en");
    json_decref(rec);
}

TEST(track_rest_truncation_and_keys)
{
    struct stub s;
    START_STUB(s, NULL);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    char *big = ic_xmalloc(7001);
    memset(big, 'v', 7000);
    big[7000] = 0;
    ic_tracker_log_param(t, "long_param", big);
    ic_tracker_set_tag(t, "long_tag", big);
    ic_tracker_log_param(t, "lr", "0.1");
    ic_tracker_log_param(t, "lr", "0.1"); /* same value: nothing more */
    ic_tracker_log_param(t, "lr", "0.2"); /* changed: refused here, warned */
    ic_tracker_log_metric(t, "../escape", 1, 0);
    ic_tracker_log_metric(t, "bad key!", 1, 0);
    ic_tracker_log_metric(t, "/abs", 1, 0);
    ic_tracker_log_metric(t, "eval/accuracy", 0.75, 1);
    ic_tracker_log_param(t, "latin1_path", "data/espa\xf1ol.json");
    ic_tracker_log_metric(t, "bad\xff", 1, 0);
    ic_free(big);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    json_t *lb = requests(rec, "/runs/log-batch");
    json_t *metrics = json_array(), *params = json_array(), *tags = json_array();
    size_t i;
    json_t *r;
    json_array_foreach(lb, i, r) {
        json_t *b = json_object_get(r, "body");
        json_array_extend(metrics, json_object_get(b, "metrics"));
        json_array_extend(params, json_object_get(b, "params"));
        json_array_extend(tags, json_object_get(b, "tags"));
    }
    ASSERT_EQ(strlen(tag_value(params, "long_param")), 6000);
    ASSERT_EQ(strlen(tag_value(tags, "long_tag")), 5000);
    ASSERT_EQ(json_array_size(params), 3);
    ASSERT_STR_EQ(tag_value(params, "lr"), "0.1");
    ASSERT_STR_EQ(tag_value(params, "latin1_path"), "data/espa?ol.json");
    ASSERT_EQ(json_array_size(metrics), 1);
    ASSERT_STR_EQ(jstr(json_array_get(metrics, 0), "key"), "eval/accuracy");
    /* 2 truncations, 1 changed param, 4 bad keys, 1 bad UTF-8 value */
    ASSERT_EQ(cap.warns, 8);
    json_decref(metrics);
    json_decref(params);
    json_decref(tags);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_system_metrics)
{
    struct stub s;
    START_STUB(s, NULL);
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    o.system_metrics_interval_s = 0.05;
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_system_metrics(t, 42);
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the sampler publishes a few times meanwhile */
    ic_tracker_end(t, IC_RUN_FINISHED);
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT_OK(rc);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    json_t *lb = requests(rec, "/runs/log-batch");
    static const char *const want[] = {
        "system/cpu_utilization_percentage",   "system/system_memory_usage_megabytes",
        "system/system_memory_usage_percentage", "system/disk_usage_percentage",
        "system/disk_usage_megabytes",         "system/disk_available_megabytes",
        "system/network_receive_megabytes",    "system/network_transmit_megabytes"};
    int seen42[8] = {0}, seen0[8] = {0}, seen1 = 0;
    size_t i, j;
    json_t *r, *m;
    json_array_foreach(lb, i, r) {
        json_array_foreach(json_object_get(json_object_get(r, "body"), "metrics"), j, m) {
            const char *k = jstr(m, "key");
            long long step = json_integer_value(json_object_get(m, "step"));
            ASSERT(strncmp(k, "system/", 7) == 0);
            double v = json_number_value(json_object_get(m, "value"));
            ASSERT(v >= 0);
            if (strstr(k, "percentage"))
                ASSERT(v <= 100.0);
            for (int w = 0; w < 8; w++) {
                if (strcmp(k, want[w]) == 0) {
                    if (step == 42)
                        seen42[w] = 1;
                    if (step == 0)
                        seen0[w] = 1;
                    if (step == 1 && w == 0)
                        seen1 = 1;
                }
            }
        }
    }
    for (int w = 0; w < 8; w++) {
        if (!seen42[w])
            FAIL("%s not logged at step 42", want[w]);
        if (!seen0[w])
            FAIL("%s not logged by the sampler at step 0", want[w]);
    }
    ASSERT(seen1);
    json_decref(lb);
    json_decref(rec);
}

TEST(track_rest_file_artifact_root)
{
    /* a server whose runs store artifacts in a local directory: copied */
    char *root = ic_path_join(test_tmpdir(), "artroot");
    struct stub s;
    START_STUB(s, "--artifact-root-file", root, NULL);
    char *f = ic_path_join(test_tmpdir(), "eval_report.txt");
    ASSERT_OK(write_file(f, "acc 0.9\n", 8));
    struct ic_tracker_opts o;
    fast_opts(&o, s.uri);
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_artifact(t, f, "eval");
    ic_tracker_flush(t);
    char *want = ic_xasprintf("%s/%s/%s/artifacts/eval/eval_report.txt", root,
                              ic_tracker_experiment_id(t), ic_tracker_run_id(t));
    ic_tracker_end(t, IC_RUN_FINISHED);
    stub_stop(&s);
    char *data = NULL;
    int rr = ic_read_file(want, 0, &data, NULL, NULL);
    ic_free(want);
    ic_free(f);
    ic_free(root);
    ASSERT_OK(rc);
    ASSERT_OK(rr);
    ASSERT_STR_EQ(data, "acc 0.9\n");
    ic_free(data);
}

// --- options and NULL ----------------------------------------------------------

TEST(track_disabled_and_null)
{
    struct ic_tracker_opts o;
    ic_tracker_default_opts(&o);
    ASSERT_EQ(o.enabled, 1);
    ASSERT_NEAR(o.system_metrics_interval_s, 10.0, 0);
    o.enabled = 0;
    struct ic_tracker *t = (struct ic_tracker *)&o; /* must be overwritten */
    ASSERT_OK(ic_tracker_start(&t, &o, NULL));
    ASSERT(t == NULL);
    ic_tracker_log_param(NULL, "a", "b");
    ic_tracker_log_metric(NULL, "a", 1, 0);
    ic_tracker_set_tag(NULL, "a", "b");
    ic_tracker_log_system_metrics(NULL, 0);
    ic_tracker_log_artifact(NULL, "x", "");
    ic_tracker_flush(NULL);
    ic_tracker_end(NULL, IC_RUN_FINISHED);
    ASSERT(ic_tracker_run_id(NULL) == NULL);
    ASSERT_EQ(ic_tracker_healthy(NULL), 1);
}

TEST(track_invalid_options)
{
    struct ic_tracker_opts o;
    ic_tracker_default_opts(&o);
    o.system_metrics_interval_s = 0;
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    o.tracking_uri = "sqlite:///mlflow.db";
    ASSERT_EQ(ic_tracker_start(&t, &o, &err), IC_ERR_INVAL);
    ASSERT(t == NULL);
    ASSERT_CONTAINS(err.msg, "sqlite:///mlflow.db");
    o.tracking_uri = "";
    ASSERT_EQ(ic_tracker_start(&t, &o, &err), IC_ERR_INVAL);
    o.tracking_uri = test_tmpdir();
    o.experiment_id = "12; rm";
    ASSERT_EQ(ic_tracker_start(&t, &o, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "experiment id");
    o.experiment_id = NULL;
    o.tracking_uri = "https://127.0.0.1:1";
    setenv("MLFLOW_TRACKING_INSECURE_TLS", "true", 1);
    setenv("MLFLOW_TRACKING_SERVER_CERT_PATH", "/etc/ssl/certs/ca-certificates.crt", 1);
    int rc = ic_tracker_start(&t, &o, &err);
    unsetenv("MLFLOW_TRACKING_INSECURE_TLS");
    unsetenv("MLFLOW_TRACKING_SERVER_CERT_PATH");
    ASSERT_EQ(rc, IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "MLFLOW_TRACKING_INSECURE_TLS");
}

// --- helpers -------------------------------------------------------------------

TEST(track_keys_and_numbers)
{
    ASSERT(ic__trk_key_ok("loss"));
    ASSERT(ic__trk_key_ok("system/gpu_0_utilization_percentage"));
    ASSERT(ic__trk_key_ok("eval accuracy-1.0"));
    ASSERT(!ic__trk_key_ok(""));
    ASSERT(!ic__trk_key_ok("../x"));
    ASSERT(!ic__trk_key_ok("a/../b"));
    ASSERT(!ic__trk_key_ok("a//b"));
    ASSERT(!ic__trk_key_ok("/a"));
    ASSERT(!ic__trk_key_ok("a/"));
    ASSERT(!ic__trk_key_ok("."));
    ASSERT(!ic__trk_key_ok("a:b"));
    ASSERT(!ic__trk_key_ok("bad key!"));
    char big[300];
    memset(big, 'k', 251);
    big[251] = 0;
    ASSERT(!ic__trk_key_ok(big));
    big[250] = 0;
    ASSERT(ic__trk_key_ok(big));
    char b[64];
    ic__trk_fmt_double(b, sizeof b, 0.1);
    ASSERT_STR_EQ(b, "0.1");
    ic__trk_fmt_double(b, sizeof b, 1e-05);
    ASSERT_STR_EQ(b, "1e-05");
    ic__trk_fmt_double(b, sizeof b, 2.0 / 3.0);
    ASSERT_STR_EQ(b, "0.6666666666666666");
    ic__trk_fmt_double(b, sizeof b, NAN);
    ASSERT_STR_EQ(b, "nan");
    ic__trk_fmt_double(b, sizeof b, -INFINITY);
    ASSERT_STR_EQ(b, "-inf");
    char u[33], id[19];
    ic__trk_uuid_hex(u);
    ASSERT_EQ(strlen(u), 32);
    ASSERT_EQ(u[12], '4');
    ic__trk_random_id18(id);
    ASSERT_EQ(strlen(id), 18);
    ASSERT(id[0] != '0');
}

TEST(track_yaml_roundtrip)
{
    static const char *const vals[] = {"Default", "0",      "123",     "true",      "no",
                                       "null",    "",       "a: b",    "it's",      " lead",
                                       "x #y",    "line\nnext", "ñandú", "-1.5",      "~",
                                       "file:///tmp/a b", "a:b", "x: y", "end:", "a #b"};
    char *path = ic_path_join(test_tmpdir(), "rt.yaml");
    struct ic_buf b;
    ic_buf_init(&b, 0);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        ASSERT_OK(ic_buf_printf(&b, "k%zu: ", i));
        ASSERT_OK(ic__trk_yaml_str(&b, vals[i]));
        ASSERT_OK(ic_buf_append(&b, "\n", 1));
    }
    ASSERT_OK(write_file(path, b.data, b.len));
    ic_buf_free(&b);
    struct ic__trk_kv kv;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic__trk_yaml_read(path, &kv, &err), err);
    ic_free(path);
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        char k[16];
        snprintf(k, sizeof k, "k%zu", i);
        const char *got = ic__trk_kv_get(&kv, k);
        if (!got || strcmp(got, vals[i]) != 0) {
            ic__trk_kv_free(&kv);
            FAIL("value %zu: \"%s\" read back as \"%s\"", i, vals[i], got ? got : "(null)");
        }
    }
    ic__trk_kv_free(&kv);
}

/* A file-store meta.yaml with a NUL (raw, or a "\0" escape) is refused with
 * the right line instead of being cut at the NUL. */
TEST(track_yaml_nul_names_line)
{
    static const struct {
        const char *text;
        size_t len;
        const char *want;
    } cases[] = {
        {"name: a\nlifecycle_stage: act\0ive\n", 33, "line 2: control characters"},
        {"name: a\n\nartifact_location: \"x\\0y\"\n", 35, "line 3: NUL character (\\0) in a value"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *path = ic_path_join(test_tmpdir(), "nul.yaml");
        ASSERT_OK(write_file(path, cases[i].text, cases[i].len));
        struct ic__trk_kv kv;
        struct ic_err err = {0};
        int rc = ic__trk_yaml_read(path, &kv, &err);
        ic_free(path);
        ASSERT_EQ(rc, IC_ERR_FORMAT);
        ASSERT_CONTAINS(err.msg, cases[i].want);
    }
}

// --- against a real MLflow server (tests/e2e/mlflow_peer.sh) --------------------

// --- git commit, dataset inputs, where to look --------------------------------

static void put(const char *dir, const char *rel, const char *text)
{
    char *p = ic_path_join(dir, rel);
    char *slash = strrchr(p, '/');
    *slash = 0;
    IC_ASSERT(ic_mkdirs(p, NULL) == IC_OK);
    *slash = '/';
    IC_ASSERT(write_file(p, text, strlen(text)) == IC_OK);
    ic_free(p);
}

#define SHA_A "0123456789abcdef0123456789abcdef01234567"
#define SHA_B "89abcdef0123456789abcdef0123456789abcdef"
#define SHA_C "fedcba9876543210fedcba9876543210fedcba98"
#define SHA_256 "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"

/* A checkout at SHA_A on branch main (loose ref), with data/d.json. */
static char *fake_repo(void)
{
    char *r = ic_path_join(test_tmpdir(), "git-loose");
    put(r, ".git/HEAD", "ref: refs/heads/main\n");
    put(r, ".git/refs/heads/main", SHA_A "\n");
    put(r, "data/d.json", "[]");
    return r;
}

/* The commit HEAD points at, read from the repository files in each layout
 * git writes; anything else gives no commit. */
TEST(track_git_commit)
{
    char out[65];
    char *loose = fake_repo();
    char *p = ic_path_join(loose, "data/d.json");
    ASSERT_EQ(ic__trk_git_commit(p, out), 1);
    ASSERT_STR_EQ(out, SHA_A);
    ic_free(p);
    p = ic_path_join(loose, "data");
    ASSERT_EQ(ic__trk_git_commit(p, out), 1);
    ASSERT_STR_EQ(out, SHA_A);
    ic_free(p);

    /* packed refs: the exact ref name, not a prefix; peeled lines skipped */
    char *packed = ic_path_join(test_tmpdir(), "git-packed");
    put(packed, ".git/HEAD", "ref: refs/heads/dev\n");
    put(packed, ".git/packed-refs", "# pack-refs with: peeled fully-peeled sorted \n"
        SHA_A " refs/heads/devel\n" SHA_B " refs/heads/dev\n^" SHA_C "\n");
    ASSERT_EQ(ic__trk_git_commit(packed, out), 1);
    ASSERT_STR_EQ(out, SHA_B);

    /* detached HEAD; a SHA-256 repository */
    char *detached = ic_path_join(test_tmpdir(), "git-detached");
    put(detached, ".git/HEAD", SHA_C "\n");
    ASSERT_EQ(ic__trk_git_commit(detached, out), 1);
    ASSERT_STR_EQ(out, SHA_C);
    char *s256 = ic_path_join(test_tmpdir(), "git-sha256");
    put(s256, ".git/HEAD", "ref: refs/heads/main\n");
    put(s256, ".git/refs/heads/main", SHA_256 "\n");
    ASSERT_EQ(ic__trk_git_commit(s256, out), 1);
    ASSERT_STR_EQ(out, SHA_256);

    /* a linked worktree: .git is a file; refs live in the common dir */
    char *wt = ic_path_join(test_tmpdir(), "git-wt");
    put(wt, "main/.git/worktrees/feat/HEAD", "ref: refs/heads/feature\n");
    put(wt, "main/.git/worktrees/feat/commondir", "../..\n");
    put(wt, "main/.git/refs/heads/feature", SHA_B "\n");
    put(wt, "feat/.git", "gitdir: ../main/.git/worktrees/feat\n");
    put(wt, "feat/src/x.c", "");
    p = ic_path_join(wt, "feat/src/x.c");
    ASSERT_EQ(ic__trk_git_commit(p, out), 1);
    ASSERT_STR_EQ(out, SHA_B);
    ic_free(p);

    /* no commit: a branch without commits, a ref leaving the repository,
     * a malformed id */
    char *unborn = ic_path_join(test_tmpdir(), "git-unborn");
    put(unborn, ".git/HEAD", "ref: refs/heads/main\n");
    ASSERT_EQ(ic__trk_git_commit(unborn, out), 0);
    ASSERT_STR_EQ(out, "");
    char *escape = ic_path_join(test_tmpdir(), "git-escape");
    put(escape, ".git/HEAD", "ref: refs/../../git-loose/.git/refs/heads/main\n");
    ASSERT_EQ(ic__trk_git_commit(escape, out), 0);
    char *shortid = ic_path_join(test_tmpdir(), "git-short");
    put(shortid, ".git/HEAD", "0123456789abcdef\n");
    ASSERT_EQ(ic__trk_git_commit(shortid, out), 0);
    char *upper = ic_path_join(test_tmpdir(), "git-upper");
    put(upper, ".git/HEAD", "0123456789ABCDEF0123456789abcdef01234567\n");
    ASSERT_EQ(ic__trk_git_commit(upper, out), 0);
    ic_free(loose);
    ic_free(packed);
    ic_free(detached);
    ic_free(s256);
    ic_free(wt);
    ic_free(unborn);
    ic_free(escape);
    ic_free(shortid);
    ic_free(upper);
}

/* REST: the commit of the checkout holding source_path as a runs/create tag,
 * a dataset input through runs/log-inputs (validated by the stub and
 * returned by runs/get), and the run's page without the URI's credentials. */
TEST(track_rest_inputs_and_where)
{
    struct stub s;
    START_STUB(s, NULL);
    char uri[128];
    snprintf(uri, sizeof uri, "http://someone:secret@127.0.0.1:%d/", s.port);
    struct ic_tracker_opts o;
    fast_opts(&o, uri);
    char *repo = fake_repo();
    char *data = ic_path_join(repo, "data/d.json");
    o.source_path = data;
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    int rc = ic_tracker_start(&t, &o, &err);
    if (rc != IC_OK) {
        stub_stop(&s);
        FAIL("start: %s", err.msg);
    }
    struct ic_tracker_dataset d = {
        .name = "d.json", .digest = "0123456789abcdef0123456789abcdef",
        .source_type = "local", .source = "{\"uri\": \"/x/d.json\"}",
        .schema = "{\"mlflow_colspec\": []}", .profile = "{\"num_rows\": 0}",
        .context = "training"};
    ic_tracker_log_input(t, &d);
    ic_tracker_log_param(t, "after", "input");
    ic_tracker_flush(t);
    char run_id[64];
    snprintf(run_id, sizeof run_id, "%s", ic_tracker_run_id(t));
    char *where = ic_tracker_run_where(t);
    int healthy = ic_tracker_healthy(t);
    ic_tracker_end(t, IC_RUN_FINISHED);
    /* what the server now holds */
    char cmd[512];
    snprintf(cmd, sizeof cmd, PY " -c 'import json,sys,urllib.request; "
             "r=json.load(urllib.request.urlopen(\"%s/api/2.0/mlflow/runs/get?run_id=%s\")); "
             "print(json.dumps(r[\"run\"][\"inputs\"]))'", s.uri, run_id);
    FILE *f = popen(cmd, "r");
    char got[2048] = "";
    if (f) {
        size_t n = fread(got, 1, sizeof got - 1, f);
        got[n] = 0;
        pclose(f);
    }
    json_t *rec = stub_record(&s);
    stub_stop(&s);
    ASSERT(rec);
    const char *bad = first_invalid(rec);
    if (bad)
        FAIL("stub refused a request: %s", bad);
    ASSERT(healthy);
    char want[256];
    snprintf(want, sizeof want, "http://127.0.0.1:%d/#/experiments/1/runs/%s", s.port, run_id);
    ASSERT_STR_EQ(where, want);
    ic_free(where);
    json_t *creates = requests(rec, "/runs/create");
    json_t *create = json_object_get(json_array_get(creates, 0), "body");
    ASSERT_STR_EQ(tag_value(json_object_get(create, "tags"), "mlflow.source.git.commit"), SHA_A);
    json_decref(creates);
    json_t *li = requests(rec, "/runs/log-inputs");
    ASSERT_EQ(json_array_size(li), 1);
    json_t *body = json_object_get(json_array_get(li, 0), "body");
    ASSERT_STR_EQ(jstr(body, "run_id"), run_id);
    json_t *want_ds = json_loads(
        "[{\"tags\": [{\"key\": \"mlflow.data.context\", \"value\": \"training\"}],"
        "  \"dataset\": {\"name\": \"d.json\", \"digest\": \"0123456789abcdef0123456789abcdef\","
        "  \"source_type\": \"local\", \"source\": \"{\\\"uri\\\": \\\"/x/d.json\\\"}\","
        "  \"schema\": \"{\\\"mlflow_colspec\\\": []}\", \"profile\": \"{\\\"num_rows\\\": 0}\"}}]",
        0, NULL);
    ASSERT(want_ds);
    ASSERT(json_equal(json_object_get(body, "datasets"), want_ds));
    json_t *held = json_loads(got, 0, NULL);
    ASSERT(held);
    ASSERT(json_equal(json_object_get(held, "dataset_inputs"), want_ds));
    json_decref(held);
    json_decref(want_ds);
    json_decref(li);
    json_decref(rec);
    ic_free(data);
    ic_free(repo);
}

/* Logs one complete run to $MLFLOW_PEER_URI (REST) or to the FileStore
 * $MLFLOW_PEER_FS and writes "<experiment_id> <run_id>\n" to $MLFLOW_PEER_OUT;
 * mlflow_peer.sh reads the run back through the server's REST API. */
static void peer_run(const char *uri)
{
    const char *out = getenv("MLFLOW_PEER_OUT");
    char *art = ic_path_join(test_tmpdir(), "eval_report.json");
    char *mdir = ic_path_join(test_tmpdir(), "model");
    char *mfile = ic_path_join(mdir, "config.json");
    ASSERT_OK(ic_mkdirs(mdir, NULL));
    ASSERT_OK(write_file(art, "{\"accuracy\": 0.75}", 18));
    ASSERT_OK(write_file(mfile, "{\"num_labels\": 4}", 17));
    struct ic_tracker_opts o;
    fast_opts(&o, uri);
    o.experiment_name = getenv("MLFLOW_PEER_EXPERIMENT") ? getenv("MLFLOW_PEER_EXPERIMENT")
                                                         : "intent-peer";
    o.run_name = "peer-run";
    o.system_metrics_interval_s = 0;
    char *repo = fake_repo();
    o.source_path = repo;
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_tracker_start(&t, &o, &err), err);
    ic_free(repo);
    struct ic_tracker_dataset d = {
        .name = "peer.json", .digest = "0123456789abcdef0123456789abcdef",
        .source_type = "local", .source = "{\"uri\": \"/data/peer.json\"}",
        .schema = "{\"mlflow_colspec\": [{\"type\": \"string\", \"name\": \"text\", "
                  "\"required\": true}]}",
        .profile = "{\"num_rows\": 7}", .context = "training"};
    ic_tracker_log_input(t, &d);
    char *big = ic_xmalloc(6101);
    memset(big, 'p', 6100);
    big[6100] = 0;
    ic_tracker_log_param(t, "learning_rate", "5e-05");
    ic_tracker_log_param(t, "long_value", big);
    ic_free(big);
    char k[32];
    for (int i = 0; i < 120; i++) {
        snprintf(k, sizeof k, "p%03d", i);
        ic_tracker_log_param(t, k, "v");
    }
    for (int i = 0; i < 1500; i++)
        ic_tracker_log_metric(t, "loss", 1.0 / (i + 1), i);
    ic_tracker_log_metric(t, "nan_metric", NAN, 0);
    ic_tracker_log_metric(t, "inf_metric", INFINITY, 0);
    ic_tracker_log_metric(t, "eval/accuracy", 0.75, 3);
    ic_tracker_log_system_metrics(t, 3);
    ic_tracker_set_tag(t, "stage", "peer");
    ic_tracker_log_artifact(t, art, "");
    ic_tracker_log_artifact(t, mdir, "model");
    ic_tracker_flush(t);
    int healthy = ic_tracker_healthy(t);
    char line[160];
    snprintf(line, sizeof line, "%s %s\n", ic_tracker_experiment_id(t), ic_tracker_run_id(t));
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_free(art);
    ic_free(mfile);
    ic_free(mdir);
    ASSERT(healthy);
    if (out)
        ASSERT_OK(write_file(out, line, strlen(line)));
}

TEST(track_peer_rest)
{
    const char *uri = getenv("MLFLOW_PEER_URI");
    if (!uri || !*uri)
        SKIP("MLFLOW_PEER_URI not set (tests/e2e/mlflow_peer.sh sets it)");
    peer_run(uri);
}

TEST(track_peer_fs)
{
    const char *dir = getenv("MLFLOW_PEER_FS");
    if (!dir || !*dir)
        SKIP("MLFLOW_PEER_FS not set (tests/e2e/mlflow_peer.sh sets it)");
    peer_run(dir);
}
