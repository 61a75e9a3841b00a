/*
 * track.c - placeholder for the tracker until the full implementation lands:
 * every call behaves as tracking disabled (t == NULL).
 */
#include <stddef.h>

#include "intent/track.h"

void ic_tracker_default_opts(struct ic_tracker_opts *o)
{
    o->enabled = 1;
    o->tracking_uri = NULL;
    o->experiment_name = NULL;
    o->experiment_id = NULL;
    o->run_name = NULL;
    o->system_metrics_interval_s = 10.0;
    o->source_name = NULL;
    o->http_timeout_s = 5.0;
    o->max_retries = 5;
    o->backoff_s = 0.5;
    o->backoff_max_s = 30.0;
    o->end_timeout_s = 10.0;
}

int ic_tracker_start(struct ic_tracker **out, const struct ic_tracker_opts *o, struct ic_err *err)
{
    (void)o;
    (void)err;
    *out = NULL;
    return IC_OK;
}

void ic_tracker_log_param(struct ic_tracker *t, const char *key, const char *value) {}
void ic_tracker_log_metric(struct ic_tracker *t, const char *key, double value, int64_t step) {}
void ic_tracker_set_tag(struct ic_tracker *t, const char *key, const char *value) {}
void ic_tracker_log_system_metrics(struct ic_tracker *t, int64_t step) {}
void ic_tracker_flush(struct ic_tracker *t) {}
void ic_tracker_log_artifact(struct ic_tracker *t, const char *p, const char *d) {}
void ic_tracker_end(struct ic_tracker *t, enum ic_run_status status) {}
const char *ic_tracker_run_id(const struct ic_tracker *t) { return NULL; }
const char *ic_tracker_experiment_id(const struct ic_tracker *t) { return NULL; }
int ic_tracker_healthy(const struct ic_tracker *t) { return 1; }
