/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_track_fs.c - the tracker's FileStore output, field by field: the
 * experiment and run meta.yaml (against the tests/golden/track YAML files, with the
 * ids and times filled in), metric lines "<ts> <value> <step>", params and
 * tags files, artifacts, dataset inputs, and degraded starts.
 */
#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "intent/ic.h"
#include "intent/track.h"
#include "test.h"

struct logcap {
    int warns;
    char all[4096];
};
static void cap_fn(enum ic_log_level level, const char *msg, void *ud)
{
    struct logcap *c = ud;
    if (level >= IC_LOG_WARN) {
        c->warns++;
        size_t n = strlen(c->all);
        snprintf(c->all + n, sizeof c->all - n, "%s\n", msg);
    }
}

static char *slurp(const char *path)
{
    char *d = NULL;
    if (ic_read_file(path, 0, &d, NULL, NULL) != IC_OK)
        return NULL;
    return d;
}

/* Replaces every {NAME} in tpl with the matching value. */
static char *fill(const char *tpl, const char *const *names, const char *const *vals, size_t n)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    for (const char *p = tpl; *p;) {
        size_t i;
        for (i = 0; i < n; i++) {
            size_t ln = strlen(names[i]);
            if (p[0] == '{' && strncmp(p + 1, names[i], ln) == 0 && p[1 + ln] == '}') {
                IC_ASSERT(ic_buf_append(&b, vals[i], strlen(vals[i])) == IC_OK);
                p += ln + 2;
                break;
            }
        }
        if (i == n) {
            IC_ASSERT(ic_buf_append(&b, p, 1) == IC_OK);
            p++;
        }
    }
    return ic_buf_take(&b);
}

/* Value of "key: value" in a meta.yaml text, copied into out. */
static int yaml_field(const char *text, const char *key, char *out, size_t n)
{
    size_t lk = strlen(key);
    for (const char *p = text; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL) {
        if (strncmp(p, key, lk) == 0 && p[lk] == ':' && p[lk + 1] == ' ') {
            const char *v = p + lk + 2, *e = strchr(v, '\n');
            size_t len = e ? (size_t)(e - v) : strlen(v);
            snprintf(out, n, "%.*s", (int)len, v);
            return 1;
        }
    }
    return 0;
}

static void fs_opts(struct ic_tracker_opts *o, const char *uri)
{
    ic_tracker_default_opts(o);
    o->tracking_uri = uri;
    o->experiment_name = "exp-fs";
    o->run_name = "fs-run";
    o->source_name = "intent train";
    o->system_metrics_interval_s = 0;
}

/* The one experiment dir other than 0 under root, into out. */
static int find_exp(const char *root, char *out, size_t n)
{
    DIR *d = opendir(root);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9' || strcmp(de->d_name, "0") == 0)
            continue;
        snprintf(out, n, "%.*s", (int)(n - 1), de->d_name);
        found++;
    }
    closedir(d);
    return found;
}

/* 1 if dir holds a file whose name starts with ".tmp" (a leftover). */
static int has_tmp(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    int found = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        if (strncmp(de->d_name, ".tmp", 4) == 0 || strstr(de->d_name, ".tmp."))
            found = 1;
    closedir(d);
    return found;
}

TEST(track_fs_layout)
{
    const char *old_login = getenv("LOGNAME");
    char *saved = old_login ? ic_xstrdup(old_login) : NULL;
    setenv("LOGNAME", "tester", 1);
    char *root = ic_path_join(test_tmpdir(), "mlruns");
    char *report = ic_path_join(test_tmpdir(), "report.json");
    char *model = ic_path_join(test_tmpdir(), "model");
    char *weights = ic_path_join(model, "model.safetensors");
    ASSERT_OK(ic_mkdirs(model, NULL));
    ASSERT_OK(ic_write_file_atomic(report, "{\"f1\":0.5}", 10, NULL));
    ASSERT_OK(ic_write_file_atomic(weights, "WEIGHTS", 7, NULL));

    int64_t t0 = ic_time_ms();
    struct ic_tracker_opts o;
    fs_opts(&o, root);
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    int rc = ic_tracker_start(&t, &o, &err);
    if (saved) {
        setenv("LOGNAME", saved, 1);
        ic_free(saved);
    } else {
        unsetenv("LOGNAME");
    }
    ASSERT_OK_ERR(rc, err);
    char run[64], exp[64];
    snprintf(run, sizeof run, "%s", ic_tracker_run_id(t));
    snprintf(exp, sizeof exp, "%s", ic_tracker_experiment_id(t));
    ASSERT_EQ(strlen(run), 32);
    ASSERT_EQ(strlen(exp), 18);
    ic_tracker_log_param(t, "learning_rate", "5e-05");
    ic_tracker_log_param(t, "base_model", "prajjwal1/bert-tiny");
    ic_tracker_log_param(t, "empty", "");
    ic_tracker_log_metric(t, "loss", 0.5, 1);
    ic_tracker_log_metric(t, "loss", NAN, 2);
    ic_tracker_log_metric(t, "loss", 1e-05, 3);
    ic_tracker_log_metric(t, "eval/accuracy", 0.875, 10);
    ic_tracker_log_system_metrics(t, 5);
    ic_tracker_set_tag(t, "stage", "train");
    ic_tracker_set_tag(t, "stage", "done"); /* tags: last write wins */
    ic_tracker_log_artifact(t, report, "");
    ic_tracker_log_artifact(t, model, "model");
    ic_tracker_end(t, IC_RUN_FINISHED);
    int64_t t1 = ic_time_ms();

    /* experiment 0 "Default" and .trash, as MLflow makes a new root */
    char *p = ic_xasprintf("%s/0/meta.yaml", root);
    char *m0 = slurp(p);
    ic_free(p);
    ASSERT(m0);
    char *gexp = slurp("tests/golden/track/experiment_meta.yaml");
    ASSERT(gexp);
    char ctime[32];
    ASSERT(yaml_field(m0, "creation_time", ctime, sizeof ctime));
    {
        const char *names[] = {"ROOT", "EXP", "CTIME", "NAME"};
        const char *vals[] = {root, "0", ctime, "Default"};
        char *want = fill(gexp, names, vals, 4);
        ASSERT_STR_EQ(m0, want);
        ic_free(want);
    }
    ASSERT(atoll(ctime) >= t0 && atoll(ctime) <= t1);
    p = ic_path_join(root, ".trash");
    ASSERT(ic_is_dir(p));
    ic_free(p);

    /* the named experiment */
    char found[64];
    ASSERT_EQ(find_exp(root, found, sizeof found), 1);
    ASSERT_STR_EQ(found, exp);
    p = ic_xasprintf("%s/%s/meta.yaml", root, exp);
    char *me = slurp(p);
    ic_free(p);
    ASSERT(me);
    ASSERT(yaml_field(me, "creation_time", ctime, sizeof ctime));
    {
        const char *names[] = {"ROOT", "EXP", "CTIME", "NAME"};
        const char *vals[] = {root, exp, ctime, "exp-fs"};
        char *want = fill(gexp, names, vals, 4);
        ASSERT_STR_EQ(me, want);
        ic_free(want);
    }

    /* the run's meta.yaml */
    char *rdir = ic_xasprintf("%s/%s/%s", root, exp, run);
    p = ic_path_join(rdir, "meta.yaml");
    char *mr = slurp(p);
    ic_free(p);
    ASSERT(mr);
    char start[32], end[32];
    ASSERT(yaml_field(mr, "start_time", start, sizeof start));
    ASSERT(yaml_field(mr, "end_time", end, sizeof end));
    ASSERT(atoll(start) >= t0 && atoll(start) <= atoll(end) && atoll(end) <= t1);
    char *grun = slurp("tests/golden/track/run_meta.yaml");
    ASSERT(grun);
    {
        const char *names[] = {"ROOT", "EXP", "RUN", "START", "END", "STATUS"};
        const char *vals[] = {root, exp, run, start, end, "3"};
        char *want = fill(grun, names, vals, 6);
        ASSERT_STR_EQ(mr, want);
        ic_free(want);
    }

    /* metrics: "<timestamp_ms> <value> <step>" per line */
    p = ic_path_join(rdir, "metrics/loss");
    char *ml = slurp(p);
    ic_free(p);
    ASSERT(ml);
    long long ts[3], st[3];
    char v[3][32];
    ASSERT_EQ(sscanf(ml, "%lld %31s %lld\n%lld %31s %lld\n%lld %31s %lld\n", &ts[0], v[0], &st[0],
                     &ts[1], v[1], &st[1], &ts[2], v[2], &st[2]),
              9);
    for (int i = 0; i < 3; i++) {
        ASSERT(ts[i] >= t0 && ts[i] <= t1);
        ASSERT_EQ(st[i], i + 1);
    }
    ASSERT_STR_EQ(v[0], "0.5");
    ASSERT_STR_EQ(v[1], "nan");
    ASSERT_STR_EQ(v[2], "1e-05");
    char lines[3][64];
    snprintf(lines[0], 64, "%lld 0.5 1\n%lld nan 2\n%lld 1e-05 3\n", ts[0], ts[1], ts[2]);
    ASSERT_STR_EQ(ml, lines[0]);
    p = ic_path_join(rdir, "metrics/eval/accuracy");
    char *ma = slurp(p);
    ic_free(p);
    ASSERT(ma);
    ASSERT_CONTAINS(ma, " 0.875 10\n");
    p = ic_path_join(rdir, "metrics/system/cpu_utilization_percentage");
    char *mc = slurp(p);
    ic_free(p);
    ASSERT(mc);
    ASSERT(strlen(mc) > 4 && strcmp(mc + strlen(mc) - 3, " 5\n") == 0);
    static const char *const sysnames[] = {
        "system_memory_usage_megabytes", "system_memory_usage_percentage",
        "disk_usage_percentage",         "disk_usage_megabytes",
        "disk_available_megabytes",      "network_receive_megabytes",
        "network_transmit_megabytes"};
    for (size_t i = 0; i < sizeof sysnames / sizeof sysnames[0]; i++) {
        p = ic_xasprintf("%s/metrics/system/%s", rdir, sysnames[i]);
        int ok = ic_path_exists(p);
        ic_free(p);
        if (!ok)
            FAIL("metric system/%s missing", sysnames[i]);
    }

    /* params and tags: the value, no newline */
    static const char *const files[][2] = {
        {"params/learning_rate", "5e-05"},
        {"params/base_model", "prajjwal1/bert-tiny"},
        {"params/empty", ""},
        {"tags/stage", "done"},
        {"tags/mlflow.runName", "fs-run"},
        {"tags/mlflow.user", "tester"},
        {"tags/mlflow.source.name", "intent train"},
        {"tags/mlflow.source.type", "LOCAL"},
        {"artifacts/report.json", "{\"f1\":0.5}"},
        {"artifacts/model/model.safetensors", "WEIGHTS"},
    };
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        p = ic_path_join(rdir, files[i][0]);
        char *d = slurp(p);
        ic_free(p);
        if (!d)
            FAIL("%s missing", files[i][0]);
        int same = strcmp(d, files[i][1]) == 0;
        if (!same) {
            ic_free(d);
            FAIL("%s: wrong content", files[i][0]);
        }
        ic_free(d);
    }
    ASSERT(!has_tmp(rdir));
    p = ic_path_join(rdir, "params");
    ASSERT(!has_tmp(p));
    ic_free(p);
    p = ic_path_join(rdir, "tags");
    ASSERT(!has_tmp(p));
    ic_free(p);

    /* a second run in the same experiment, ended FAILED */
    fs_opts(&o, root);
    setenv("LOGNAME", "tester", 1);
    ASSERT_OK(ic_tracker_start(&t, &o, NULL));
    ASSERT_STR_EQ(ic_tracker_experiment_id(t), exp);
    char run2[64];
    snprintf(run2, sizeof run2, "%s", ic_tracker_run_id(t));
    ASSERT(strcmp(run2, run) != 0);
    ic_tracker_end(t, IC_RUN_FAILED);
    p = ic_xasprintf("%s/%s/%s/meta.yaml", root, exp, run2);
    char *mr2 = slurp(p);
    ic_free(p);
    char status[16];
    ASSERT(yaml_field(mr2, "status", status, sizeof status));
    ASSERT_STR_EQ(status, "4");
    ASSERT_EQ(find_exp(root, found, sizeof found), 1);

    /* by id, with MLFLOW_EXPERIMENT_ID, KILLED */
    fs_opts(&o, root);
    o.experiment_name = NULL;
    setenv("MLFLOW_EXPERIMENT_ID", "0", 1);
    rc = ic_tracker_start(&t, &o, NULL);
    unsetenv("MLFLOW_EXPERIMENT_ID");
    ASSERT_OK(rc);
    ASSERT_STR_EQ(ic_tracker_experiment_id(t), "0");
    char run3[64];
    snprintf(run3, sizeof run3, "%s", ic_tracker_run_id(t));
    ic_tracker_end(t, IC_RUN_KILLED);
    p = ic_xasprintf("%s/0/%s/meta.yaml", root, run3);
    char *mr3 = slurp(p);
    ic_free(p);
    ASSERT(yaml_field(mr3, "status", status, sizeof status));
    ASSERT_STR_EQ(status, "5");
    unsetenv("LOGNAME");
    if (saved)
        setenv("LOGNAME", saved, 1);

    ic_free(mr3);
    ic_free(mr2);
    ic_free(mc);
    ic_free(ma);
    ic_free(ml);
    ic_free(grun);
    ic_free(mr);
    ic_free(rdir);
    ic_free(me);
    ic_free(gexp);
    ic_free(m0);
    ic_free(weights);
    ic_free(model);
    ic_free(report);
    ic_free(root);
}

TEST(track_fs_uri_forms)
{
    /* file:// URI, MLFLOW_TRACKING_URI, and the default ./mlruns */
    char *root = ic_path_join(test_tmpdir(), "store a");
    char *uri = ic_xasprintf("file://%s/store%%20a", test_tmpdir());
    struct ic_tracker_opts o;
    fs_opts(&o, uri);
    struct ic_tracker *t = NULL;
    ASSERT_OK(ic_tracker_start(&t, &o, NULL));
    ic_tracker_log_metric(t, "m", 1, 0);
    ic_tracker_end(t, IC_RUN_FINISHED);
    char *p = ic_path_join(root, "0/meta.yaml");
    ASSERT(ic_path_exists(p));
    ic_free(p);
    ic_free(uri);

    char *root2 = ic_path_join(test_tmpdir(), "envstore");
    setenv("MLFLOW_TRACKING_URI", root2, 1);
    fs_opts(&o, NULL);
    int rc = ic_tracker_start(&t, &o, NULL);
    unsetenv("MLFLOW_TRACKING_URI");
    ASSERT_OK(rc);
    ic_tracker_end(t, IC_RUN_FINISHED);
    p = ic_path_join(root2, "0/meta.yaml");
    ASSERT(ic_path_exists(p));
    ic_free(p);

    char cwd[PATH_MAX];
    ASSERT(getcwd(cwd, sizeof cwd));
    ASSERT_EQ(chdir(test_tmpdir()), 0);
    fs_opts(&o, NULL);
    o.experiment_name = NULL;
    rc = ic_tracker_start(&t, &o, NULL);
    char exp[64];
    snprintf(exp, sizeof exp, "%s", t ? ic_tracker_experiment_id(t) : "?");
    ic_tracker_end(t, IC_RUN_FINISHED);
    int made = ic_path_exists("mlruns/0/meta.yaml");
    ASSERT_EQ(chdir(cwd), 0);
    ASSERT_OK(rc);
    ASSERT(made);
    ASSERT_STR_EQ(exp, "0"); /* "Default" is experiment 0 */
    ic_free(root2);
    ic_free(root);
}

TEST(track_fs_degraded)
{
    /* a store that cannot be created: IC_OK, one warning, logging is a no-op */
    char *file = ic_path_join(test_tmpdir(), "plainfile");
    ASSERT_OK(ic_write_file_atomic(file, "x", 1, NULL));
    char *root = ic_path_join(file, "mlruns");
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker_opts o;
    fs_opts(&o, root);
    o.system_metrics_interval_s = 0.01;
    struct ic_tracker *t = NULL;
    int rc = ic_tracker_start(&t, &o, NULL);
    ic_tracker_log_metric(t, "loss", 1, 0);
    ic_tracker_log_param(t, "a", "b");
    ic_tracker_log_system_metrics(t, 0);
    ic_tracker_flush(t);
    const char *rid = t ? ic_tracker_run_id(t) : "?";
    int empty = rid[0] == 0;
    ic_tracker_end(t, IC_RUN_FINISHED);
    /* an experiment id that does not exist in the store */
    char *root2 = ic_path_join(test_tmpdir(), "okstore");
    fs_opts(&o, root2);
    o.experiment_id = "123456";
    struct ic_tracker *t2 = NULL;
    int rc2 = ic_tracker_start(&t2, &o, NULL);
    ic_tracker_log_metric(t2, "loss", 1, 0);
    ic_tracker_end(t2, IC_RUN_FINISHED);
    /* an experiment deleted in the store: not reused, not duplicated */
    fs_opts(&o, root2);
    o.experiment_name = "gone";
    ASSERT_OK(ic_tracker_start(&t2, &o, NULL));
    char *meta = ic_xasprintf("%s/%s/meta.yaml", root2, ic_tracker_experiment_id(t2));
    ic_tracker_end(t2, IC_RUN_FINISHED);
    char *text = slurp(meta);
    ASSERT(text);
    char *at = strstr(text, "lifecycle_stage: active");
    ASSERT(at);
    /* "lifecycle_stage: active" -> "lifecycle_stage: deleted" */
    char *text2 = ic_xasprintf("%.*slifecycle_stage: deleted%s", (int)(at - text), text,
                               at + strlen("lifecycle_stage: active"));
    ASSERT_OK(ic_write_file_atomic(meta, text2, strlen(text2), NULL));
    ASSERT_OK(ic_tracker_start(&t2, &o, NULL));
    int deleted_empty = t2 && ic_tracker_run_id(t2)[0] == 0;
    ic_tracker_end(t2, IC_RUN_FINISHED);
    ic_free(text2);
    ic_free(text);
    ic_free(meta);
    ic_log_set(NULL, NULL);
    ASSERT_OK(rc);
    ASSERT_OK(rc2);
    ASSERT(empty);
    ASSERT(deleted_empty);
    ASSERT_CONTAINS(cap.all, "\"gone\"");
    ASSERT_CONTAINS(cap.all, "is deleted");
    ASSERT_CONTAINS(cap.all, "plainfile");
    ASSERT_CONTAINS(cap.all, "123456");
    ic_free(root2);
    ic_free(root);
    ic_free(file);
}

/* Entries in dir other than "." and "..". */
static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* md5 hex of a then b, for the input id (an independent computation). */
static void md5_ab(const char *a, const char *b, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_md5(), NULL);
    EVP_DigestUpdate(c, a, strlen(a));
    EVP_DigestUpdate(c, b, strlen(b));
    EVP_DigestFinal_ex(c, md, &n);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* Dataset inputs as MLflow's FileStore.log_inputs lays them out:
 * <exp>/datasets/<md5(name digest)>/meta.yaml (keys sorted, null for a
 * missing schema/profile) and <run>/inputs/<md5(dataset id, run id)>/meta.yaml
 * with the context tag; the same dataset twice is stored once; an invalid
 * one is refused with a warning. */
TEST(track_fs_inputs)
{
    char *root = ic_path_join(test_tmpdir(), "mlruns-inputs");
    struct ic_tracker_opts o;
    fs_opts(&o, root);
    struct logcap cap = {0};
    ic_log_set(cap_fn, &cap);
    struct ic_tracker *t = NULL;
    struct ic_err err = {0};
    ASSERT_OK_ERR(ic_tracker_start(&t, &o, &err), err);
    struct ic_tracker_dataset d1 = {
        .name = "intents.json", .digest = "0123456789abcdef0123456789abcdef",
        .source_type = "local", .source = "{\"uri\": \"/data/it's here/intents.json\"}",
        .schema = "{\"mlflow_colspec\": []}", .profile = "{\"num_rows\": 3}",
        .context = "training"};
    struct ic_tracker_dataset d2 = {.name = "e.csv", .digest = "ff", .source_type = "local",
                                    .source = "{\"uri\": \"/e.csv\"}"};
    struct ic_tracker_dataset bad = d2;
    bad.digest = "0123456789012345678901234567890123456"; /* 37 > MLflow's 36 */
    struct ic_tracker_dataset bad_json = d2;
    bad_json.source = "{uri: /e.csv}";
    ic_tracker_log_input(t, &d1);
    ic_tracker_log_input(t, &d1);
    ic_tracker_log_input(t, &d2);
    ic_tracker_log_input(t, &bad);
    ic_tracker_log_input(t, &bad_json);
    ic_tracker_flush(t);
    char run[64], exp[64];
    snprintf(run, sizeof run, "%s", ic_tracker_run_id(t));
    snprintf(exp, sizeof exp, "%s", ic_tracker_experiment_id(t));
    char *where = ic_tracker_run_where(t);
    ic_tracker_end(t, IC_RUN_FINISHED);
    ic_log_set(NULL, NULL);
    ASSERT_EQ(cap.warns, 2);
    ASSERT_CONTAINS(cap.all, "dataset input \"e.csv\": digest too long; not logged");
    ASSERT_CONTAINS(cap.all, "dataset input \"e.csv\": source not JSON; not logged");
    char want_where[1024];
    snprintf(want_where, sizeof want_where,
             "mlflow ui --backend-store-uri %s (then http://127.0.0.1:5000/#/experiments/%s/runs/%s)",
             root, exp, run);
    ASSERT_STR_EQ(where, want_where);
    ic_free(where);

    char p[PATH_MAX];
    snprintf(p, sizeof p, "%s/%s/datasets/6c96b3ae520c042e2d95c44b31ec2891/meta.yaml", root, exp);
    char *m1 = slurp(p);
    ASSERT(m1);
    ASSERT_STR_EQ(m1, "digest: '0123456789abcdef0123456789abcdef'\n"
                      "name: intents.json\n"
                      "profile: '{\"num_rows\": 3}'\n"
                      "schema: '{\"mlflow_colspec\": []}'\n"
                      "source: '{\"uri\": \"/data/it''s here/intents.json\"}'\n"
                      "source_type: local\n");
    ic_free(m1);
    snprintf(p, sizeof p, "%s/%s/datasets/ea6aa08a21d290d82b4c667a1bbbb7b4/meta.yaml", root, exp);
    char *m2 = slurp(p);
    ASSERT(m2);
    ASSERT_STR_EQ(m2, "digest: ff\nname: e.csv\nprofile: null\nschema: null\n"
                      "source: '{\"uri\": \"/e.csv\"}'\nsource_type: local\n");
    ic_free(m2);
    snprintf(p, sizeof p, "%s/%s/datasets", root, exp);
    ASSERT_EQ(count_entries(p), 2);

    char in_id[33], want[512];
    md5_ab("6c96b3ae520c042e2d95c44b31ec2891", run, in_id);
    snprintf(p, sizeof p, "%s/%s/%s/inputs/%s/meta.yaml", root, exp, run, in_id);
    char *i1 = slurp(p);
    ASSERT(i1);
    /* YAML quotes a scalar that starts with a digit (PyYAML reads both forms) */
    const char *q = run[0] >= '0' && run[0] <= '9' ? "'" : "";
    snprintf(want, sizeof want, "destination_id: %s%s%s\ndestination_type: RUN\n"
             "source_id: '6c96b3ae520c042e2d95c44b31ec2891'\nsource_type: DATASET\n"
             "tags:\n  mlflow.data.context: training\n", q, run, q);
    ASSERT_STR_EQ(i1, want);
    ic_free(i1);
    md5_ab("ea6aa08a21d290d82b4c667a1bbbb7b4", run, in_id);
    snprintf(p, sizeof p, "%s/%s/%s/inputs/%s/meta.yaml", root, exp, run, in_id);
    char *i2 = slurp(p);
    ASSERT(i2);
    ASSERT_CONTAINS(i2, "tags: {}\n");
    ic_free(i2);
    snprintf(p, sizeof p, "%s/%s/%s/inputs", root, exp, run);
    ASSERT_EQ(count_entries(p), 2);
    snprintf(p, sizeof p, "%s/%s/%s", root, exp, run);
    ASSERT(!has_tmp(p));
    ic_free(root);
}
