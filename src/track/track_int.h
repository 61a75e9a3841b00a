/* SPDX-License-Identifier: Apache-2.0 */
/*
 * track_int.h - internals shared by the tracker's files: the queued items,
 * the tracker struct, the two back ends (REST in rest.c, FileStore in
 * fstore.c), the system-metrics sampler (sysmon.c) and small helpers
 * (track_util.c). Nothing here is public API.
 */
#ifndef IC_TRACK_INT_H
#define IC_TRACK_INT_H

#include <pthread.h>
#include <stdint.h>

#include "intent/ic.h"
#include "intent/track.h"

/* MLflow limits (mlflow/utils/validation.py, 2.12). */
#define IC__TRK_MAX_METRICS_PER_BATCH 1000
#define IC__TRK_MAX_PARAMS_TAGS_PER_BATCH 100
#define IC__TRK_MAX_ENTITIES_PER_BATCH 1000
#define IC__TRK_MAX_BATCH_BYTES 900000 /* stay under the documented 1 MB */
#define IC__TRK_MAX_KEY_LEN 250
#define IC__TRK_MAX_PARAM_VAL_LEN 6000
#define IC__TRK_MAX_TAG_VAL_LEN 5000
#define IC__TRK_MAX_QUEUE 200000 /* metrics kept while the server is away */
#define IC__TRK_MAX_DATASET_NAME 500
#define IC__TRK_MAX_DATASET_DIGEST 36
#define IC__TRK_MAX_DATASET_SOURCE 65535
#define IC__TRK_MAX_DATASET_SCHEMA 65535
#define IC__TRK_MAX_DATASET_PROFILE 16777215
#define IC__TRK_MAX_INPUT_TAG_KEY 255
#define IC__TRK_MAX_INPUT_TAG_VALUE 500

enum ic__trk_kind {
    IC__TRK_METRIC,
    IC__TRK_PARAM,
    IC__TRK_TAG,
    IC__TRK_ARTIFACT,
    IC__TRK_INPUT, /* value: one DatasetInput as JSON text ({"tags": [...], "dataset": {...}}) */
    IC__TRK_END
};

struct ic__trk_item {
    enum ic__trk_kind kind;
    char *key;      /* metric/param/tag key; ARTIFACT: local path */
    char *value;    /* param/tag value; ARTIFACT: artifact-relative dir ("" = root) */
    double num;     /* metric value */
    int64_t ts;     /* metric timestamp, ms */
    int64_t step;   /* metric step; END: enum ic_run_status */
    struct ic__trk_item *next;
};

/* Result of one back-end operation. */
enum ic__trk_res {
    IC__TRK_OK,    /* done */
    IC__TRK_RETRY, /* transient: keep the data, back off, try again */
    IC__TRK_DROP,  /* final: the request was refused; report once, drop it */
    IC__TRK_DEAD   /* the run cannot be used at all (no experiment, auth) */
};

struct ic__rest; /* rest.c */
struct ic__fstore; /* fstore.c */
struct ic__sysmon; /* sysmon.c */

struct ic_tracker {
    int is_rest;
    struct ic__rest *rest;
    struct ic__fstore *fs;
    char *uri;              /* as given/resolved */
    char *experiment_name;
    char exp_id[64];        /* "" until known */
    char run_id[64];        /* "" until known */
    char *artifact_uri;     /* NULL until known */
    char *run_name;
    char *user;
    char *source_name;
    char git_commit[65];    /* mlflow.source.git.commit, "" when not in a checkout */
    int64_t start_time;     /* ms */
    struct ic_tracker_opts opts;

    pthread_mutex_t mu;
    pthread_cond_t cv;      /* queue changed / state changed */
    struct ic__trk_item *head, *tail;
    size_t queued;
    int inflight;           /* the sender holds a batch */
    int run_ready;          /* run exists on the back end */
    int dead;               /* unusable: everything is dropped */
    int stop_now;           /* give up: end's deadline passed */
    int sender_done;
    int urgent;             /* flush/end are waiting: no lingering */
    int ended;              /* the END request succeeded */
    int warned_unreachable;
    int warned_queue_full;
    int failing;            /* the last attempt failed transiently */
    double last_progress;   /* monotonic seconds of the last success/progress */
    uint64_t dropped;       /* items refused or given up on */
    int healthy;
    /* param values logged so far (MLflow params are write-once) */
    char **param_keys, **param_vals;
    size_t n_params, cap_params;
    /* warnings already given, by key (bad keys, truncations, 4xx kinds);
     * guarded by warn_mu, never by mu */
    pthread_mutex_t warn_mu;
    char **warned;
    size_t n_warned, cap_warned;
    pthread_t sender;
    int sender_started;

    /* background sampler */
    struct ic__sysmon *sys;
    pthread_mutex_t sys_mu;
    pthread_cond_t sys_cv;
    int sys_stop;
    int64_t sys_step;       /* MLflow monitor's own counter */
    pthread_t sampler;
    int sampler_started;
};

/* --- helpers (track_util.c) --------------------------------------------- */
/* 1 if key is a valid MLflow metric/param/tag key. */
int ic__trk_key_ok(const char *key);
/* Writes the shortest "%.*g" that reads back as v ("nan", "inf", "-inf" for
 * non-finite values, as Python's float() accepts). */
void ic__trk_fmt_double(char *out, size_t n, double v);
/* 32 lowercase hex chars (uuid4 hex) into out[33]. */
void ic__trk_uuid_hex(char out[33]);
/* Random integer with 18 digits (FileStore experiment id), into out[19]. */
void ic__trk_random_id18(char out[19]);
/* "<adjective>-<noun>-<nnn>", caller frees with ic_free. */
char *ic__trk_run_name(void);
/* The login name as Python's getpass.getuser(): LOGNAME, USER, LNAME,
 * USERNAME, else the password database; caller frees with ic_free. */
char *ic__trk_user(void);
/* Appends s to b as a YAML scalar the way PyYAML's safe_dump would read it
 * back as the same string: plain when safe, else quoted. */
int ic__trk_yaml_str(struct ic_buf *b, const char *s);
/* Parses a flat YAML mapping file (meta.yaml) into key/value string pairs.
 * null values become NULL. Returns IC_OK or an error naming the file. */
struct ic__trk_kv {
    char **keys, **vals;
    size_t n;
};
int ic__trk_yaml_read(const char *path, struct ic__trk_kv *kv, struct ic_err *err);
const char *ic__trk_kv_get(const struct ic__trk_kv *kv, const char *key);
void ic__trk_kv_free(struct ic__trk_kv *kv);
/* Logs a warning only the first time `what` is seen on this tracker. */
void ic__trk_warn_once(struct ic_tracker *t, const char *what, const char *fmt, ...)
    IC_PRINTF(3, 4);
/* JSON-escaped length of s (without quotes), as jansson writes it. */
size_t ic__trk_json_len(const char *s);
/* Bool env var as MLflow reads it ("true"/"1" case-insensitive). */
int ic__trk_env_bool(const char *name);

/* The commit (40 or 64 hex digits) HEAD of the git checkout holding path (a
 * file or directory; NULL or "" = the current directory) points at, read from
 * the repository's files (gitinfo.c). Returns 1, or 0 with out = "" when path
 * is in no checkout or HEAD has no commit. */
int ic__trk_git_commit(const char *path, char out[65]);

/* --- REST back end (rest.c) --------------------------------------------- */
int ic__rest_new(struct ic_tracker *t, struct ic__rest **out, struct ic_err *err);
void ic__rest_free(struct ic__rest *r);
enum ic__trk_res ic__rest_open_run(struct ic_tracker *t, double *retry_after);
enum ic__trk_res ic__rest_log_batch(struct ic_tracker *t, struct ic__trk_item *items,
                                    double *retry_after);
enum ic__trk_res ic__rest_artifact(struct ic_tracker *t, const char *local_path,
                                   const char *rel_path, double *retry_after);
/* runs/log-inputs with one dataset input (JSON text). */
enum ic__trk_res ic__rest_log_input(struct ic_tracker *t, const char *input_json,
                                    double *retry_after);
enum ic__trk_res ic__rest_end_run(struct ic_tracker *t, int status, int64_t end_time,
                                  double *retry_after);

/* --- FileStore back end (fstore.c) -------------------------------------- */
/* root: a local path or file: URI. Creates <root> (with experiment 0
 * "Default") when it does not exist. */
int ic__fs_new(struct ic_tracker *t, const char *root, struct ic__fstore **out,
               struct ic_err *err);
void ic__fs_free(struct ic__fstore *fs);
enum ic__trk_res ic__fs_open_run(struct ic_tracker *t);
enum ic__trk_res ic__fs_log_batch(struct ic_tracker *t, struct ic__trk_item *items);
/* <exp>/datasets/<id>/meta.yaml and <run>/inputs/<id>/meta.yaml for one
 * dataset input (JSON text), as MLflow's FileStore.log_inputs writes them. */
enum ic__trk_res ic__fs_log_input(struct ic_tracker *t, const char *input_json);
enum ic__trk_res ic__fs_end_run(struct ic_tracker *t, int status, int64_t end_time);
/* Copies local_path to <dir>/<rel_path> (creating directories), atomically. */
enum ic__trk_res ic__fs_copy_file(struct ic_tracker *t, const char *local_path, const char *dir,
                                  const char *rel_path);
/* The store's absolute root directory. */
const char *ic__fs_root(const struct ic__fstore *fs);
/* <run>/artifacts of the open run. */
const char *ic__fs_artifact_dir(const struct ic__fstore *fs);
/* Turns a file: URI (or a plain path) into a path; caller frees. NULL if
 * the URI is not local. */
char *ic__fs_uri_to_path(const char *uri);

/* --- system metrics (sysmon.c) ------------------------------------------ */
struct ic__sysmon *ic__sysmon_new(void);
void ic__sysmon_free(struct ic__sysmon *s);
/* Samples now. Fills names (static strings or owned by s) and values; returns
 * the count (<= cap). Not thread-safe: callers hold a lock. */
size_t ic__sysmon_sample(struct ic__sysmon *s, const char **names, double *values, size_t cap);

/* --- queue (track.c), used by the back ends to report progress ---------- */
void ic__trk_progress(struct ic_tracker *t);
int ic__trk_should_stop(struct ic_tracker *t);

#endif
