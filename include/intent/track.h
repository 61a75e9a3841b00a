/* SPDX-License-Identifier: Apache-2.0 */
/*
 * track.h - run tracking in MLflow: parameters, metrics, tags, artifacts and
 * system metrics (CPU, RAM, disk, network, NVIDIA GPUs), logged so that
 * MLflow's UI and MlflowClient see what its own Python client would log.
 *
 * Two back ends, chosen from the tracking URI as MLflow does:
 *   http://... or https://...   the MLflow REST API (libcurl)
 *   a path or file:///path      MLflow's FileStore layout written directly
 *   unset                       MLFLOW_TRACKING_URI, else "./mlruns"
 *
 * Tracking never fails training. Every logging call only queues; a sender
 * thread does the I/O with short timeouts and bounded, backed-off retries.
 * When the server is down, slow or answers 5xx/429, the data stays queued
 * and is sent later; ONE warning is logged. A 4xx for a bad request is
 * logged once and that request is dropped (not retried).
 *
 * Every function accepts t == NULL (tracking disabled) and does nothing.
 * Every function is thread-safe (the system-metrics sampler logs from its
 * own thread). Example:
 *
 *     struct ic_tracker_opts o;
 *     ic_tracker_default_opts(&o);
 *     o.run_name = "bert-intents";
 *     struct ic_tracker *t = NULL;
 *     if (ic_tracker_start(&t, &o, &err) != IC_OK) ... bad options ...
 *     ic_tracker_log_param(t, "learning_rate", "5e-05");
 *     for (...) { ic_tracker_log_metric(t, "loss", loss, step);
 *                 ic_tracker_log_system_metrics(t, step); }
 *     ic_tracker_log_artifact(t, "out/model.safetensors", "model");
 *     ic_tracker_end(t, IC_RUN_FINISHED);
 *
 * See docs/tracking.md for the environment variables and the metric names.
 */
#ifndef IC_TRACK_H
#define IC_TRACK_H

#include <stdint.h>

#include "intent/ic.h"

#ifdef __cplusplus
extern "C" {
#endif

struct ic_tracker; /* opaque */

struct ic_tracker_opts {
    int enabled;                      /* 0 = --no-tracking: ic_tracker_start gives t = NULL */
    const char *tracking_uri;         /* NULL: MLFLOW_TRACKING_URI env, else "./mlruns" */
    const char *experiment_name;      /* NULL: MLFLOW_EXPERIMENT_NAME env, else "Default" */
    const char *experiment_id;        /* NULL: MLFLOW_EXPERIMENT_ID env (wins over the name) */
    const char *run_name;             /* NULL: generated ("<adjective>-<noun>-<n>") */
    double system_metrics_interval_s; /* 10, as MLflow; <= 0 disables the background sampler */
    const char *source_name;          /* mlflow.source.name tag, e.g. "intent train" */
    const char *source_path;          /* a file or directory: the commit of the git checkout
                                         holding it (else of the current directory's) is
                                         the mlflow.source.git.commit tag; NULL: no tag */
    /* Network behaviour (REST only). Defaults keep training unblocked: */
    double http_timeout_s;            /* per request, default 5 */
    int max_retries;                  /* per request on 5xx/429/network errors, default 5 */
    double backoff_s;                 /* first retry delay, doubled each time, default 0.5 */
    double backoff_max_s;             /* cap on one delay (Retry-After too), default 30 */
    double end_timeout_s;             /* flush/end give up after this long without progress,
                                         default 5 (2 once the server has failed) */
};

/* Fills o with the defaults above (enabled = 1, everything else NULL/0
 * except the numbers documented). */
void ic_tracker_default_opts(struct ic_tracker_opts *o);

/* Starts a run and returns it in *out (caller ends it with ic_tracker_end).
 * With o->enabled == 0 sets *out = NULL and returns IC_OK.
 * Never fails training: if the server is unreachable (REST) or the store
 * cannot be written (FileStore) it logs ONE warning and returns IC_OK with a
 * degraded tracker (REST keeps everything queued and keeps retrying from the
 * sender thread; a FileStore that cannot be created drops everything).
 * REST: waits at most min(http_timeout_s, 2) s for the run to be created.
 * Returns IC_ERR_INVAL (message in err, *out = NULL) only for invalid
 * options: an empty URI, an unsupported scheme (sqlite:, postgresql:, ...),
 * an experiment id that is not a valid id, an empty or over-long experiment
 * name, MLFLOW_TRACKING_INSECURE_TLS together with
 * MLFLOW_TRACKING_SERVER_CERT_PATH. Not thread-safe with itself. */
int ic_tracker_start(struct ic_tracker **out, const struct ic_tracker_opts *o,
                     struct ic_err *err);

/* Queue a param / metric / tag. The key must match MLflow's rules
 * ([/\w.\- ]*, at most 250 chars, no "..", no leading "/"); a bad key is
 * dropped with a warning (once per key). Param values over 6000 chars and tag
 * values over 5000 chars are truncated with a warning. Re-logging a param
 * with the same value is a no-op; a different value is dropped with a
 * warning (MLflow refuses to change params). Metric timestamps are taken now
 * (ms since the epoch); NaN and +-Inf are allowed. Strings are copied. */
void ic_tracker_log_param(struct ic_tracker *t, const char *key, const char *value);
void ic_tracker_log_metric(struct ic_tracker *t, const char *key, double value, int64_t step);
void ic_tracker_set_tag(struct ic_tracker *t, const char *key, const char *value);

/* Samples CPU/RAM/disk/network/GPU now and queues the values as
 * system/<name> metrics (MLflow's names, see docs/tracking.md). MLflow's
 * monitor numbers its own publishes 0, 1, 2...; `step` here is the caller's
 * step (the training loop's global step). The background sampler uses its own
 * counter 0, 1, 2... Pass step < 0 to use (and advance) that counter too. */
void ic_tracker_log_system_metrics(struct ic_tracker *t, int64_t step);

/* Waits until everything queued so far has been sent, or until nothing has
 * moved for end_timeout_s (2 s when the server is failing). */
void ic_tracker_flush(struct ic_tracker *t);

/* Queues an upload of a file, or of a directory tree, as an artifact under
 * artifact_dir ("" for the root, or e.g. "model"). A file goes to
 * <artifact_dir>/<its name> (MLflow's log_artifact); a directory's contents go
 * under <artifact_dir>/ (log_artifacts). Files are read when they are sent,
 * so do not delete them before ic_tracker_flush/end. REST: PUT to
 * /api/2.0/mlflow-artifacts/artifacts/<exp>/<run>/artifacts/<dir>/<name>
 * when the run's artifact_uri is mlflow-artifacts:/..., a copy when it is a
 * file: URI (FileStore or a server with a local artifact root). */
void ic_tracker_log_artifact(struct ic_tracker *t, const char *local_path,
                             const char *artifact_dir);

/* A dataset the run used: one of MLflow's run inputs (what mlflow.log_input
 * records; REST runs/log-inputs, FileStore <exp>/datasets/ + <run>/inputs/).
 * MLflow shows them with the run (runs/get: inputs.dataset_inputs). */
struct ic_tracker_dataset {
    const char *name;        /* 1 to 500 characters, e.g. the file's name */
    const char *digest;      /* 1 to 36 characters (MLflow's limit), e.g. a hash prefix */
    const char *source_type; /* e.g. "local" */
    const char *source;      /* JSON text; "local": {"uri": "/abs/path"}; at most 65535 */
    const char *schema;      /* JSON text (MLflow: {"mlflow_colspec": [...]}) or NULL */
    const char *profile;     /* JSON text (e.g. {"num_rows": N}) or NULL */
    const char *context;     /* the mlflow.data.context input tag ("training", ...) or NULL */
};

/* Queues a dataset input. An invalid one (a field missing or too long,
 * source/schema/profile not JSON) is dropped with a warning. Servers before
 * MLflow 2.4 lack the endpoint: reported once, the rest of the run goes on. */
void ic_tracker_log_input(struct ic_tracker *t, const struct ic_tracker_dataset *d);

enum ic_run_status { IC_RUN_FINISHED, IC_RUN_FAILED, IC_RUN_KILLED };

/* Flushes (as ic_tracker_flush), marks the run FINISHED/FAILED/KILLED with
 * its end time, stops the sampler and sender threads and frees t. What could
 * not be delivered is counted in one log line (a warning only if nothing was
 * warned about before, so a run logs one tracking warning).
 * Safe to call from the thread that started the run only (not from a signal
 * handler: set a flag there and call this from the loop). */
void ic_tracker_end(struct ic_tracker *t, enum ic_run_status status);

/* The run id (32 lowercase hex chars), or "" while a REST run has not been
 * created yet (server down), or NULL when t is NULL. Valid until end. */
const char *ic_tracker_run_id(const struct ic_tracker *t);

/* The experiment id, the same way ("" until known). */
const char *ic_tracker_experiment_id(const struct ic_tracker *t);

/* Where a person finds the run, as one line (caller frees with ic_free), or
 * NULL when t is NULL or the run does not exist (yet): for a server the run's
 * page, "<uri>/#/experiments/<exp id>/runs/<run id>"; for a FileStore the
 * command that serves it and the page:
 * "mlflow ui --backend-store-uri <absolute root> (then
 * http://127.0.0.1:5000/#/experiments/<exp id>/runs/<run id>)". */
char *ic_tracker_run_where(const struct ic_tracker *t);

/* 1 when every request so far succeeded (or was queued without a failure
 * yet), 0 once any request failed for good or is waiting on a retry. */
int ic_tracker_healthy(const struct ic_tracker *t);

#ifdef __cplusplus
}
#endif
#endif
