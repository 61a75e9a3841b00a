/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cmd_serve.c - `intent serve`: the JSON HTTP API (docs/http_api.md).
 * Options come from the defaults, then INTENT_SERVE_* variables, then flags.
 * The main thread only waits for signals: SIGHUP reloads the model,
 * SIGTERM / SIGINT stop gracefully (exit 0).
 */
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "intent/infer.h"
#include "intent/serve.h"

static void usage(FILE *f)
{
    struct ic_serve_opts d;
    ic_serve_default_opts(&d);
    fprintf(f,
            "usage: intent serve [--config FILE] [--model PATH] [--host ADDR] [--port N]\n"
            "                    [--threads N]\n"
            "                    [--max-body BYTES] [--max-batch N] [--timeout S]\n"
            "                    [--max-connections N] [--coalesce N] [--max-length N]\n"
            "                    [--gather-us N] [--event-loop]\n"
            "                    [--max-batch-tokens N] [--max-batch-requests N]\n"
            "                    [--max-concurrent-requests N] [--max-client-batch-size N]\n"
            "                    [--error-style pydantic2|fastapi-legacy]\n"
            "                    [--api-key KEY [--open-health]] [--cors-origin ORIGINS]\n"
            "                    [--log-format text|json] [--no-access-log]\n"
            "                    [--precision fp32|bf16|int8]\n\n"
            "Serves a model over a JSON HTTP API compatible with the original FastAPI service:\n"
            "GET /health, POST /classify, POST /classify/batch, GET /intents, POST /predict and\n"
            "GET /info (text-embeddings-inference), POST /model/parse and GET /status (Rasa),\n"
            "GET /metrics, GET /openapi.json, GET /docs, GET /redoc (see docs/http_api.md). The model is loaded once,\n"
            "before the port opens; a line \"listening on http://ADDR:PORT\" on stderr says the\n"
            "server is ready.\n\n"
            "Settings come from the defaults, then the serve_* keys of the configuration file\n"
            "(serve_port: 8080, ...), then the environment, then the flags.\n\n"
            "options (environment variable in brackets):\n"
            "  --config FILE         YAML configuration file (default: ./intent.yaml if present);\n"
            "                        its serve_<option> keys are read, the others ignored\n"
            "  --model PATH          model directory or .pt file [INTENT_SERVE_MODEL]\n"
            "                        (default: %s)\n"
            "  --host ADDR           address to bind [INTENT_SERVE_HOST] (default: %s)\n"
            "  --port N              TCP port, 0 = any free port [INTENT_SERVE_PORT]\n"
            "                        (default: %d)\n"
            "  --threads N           inference threads [INTENT_SERVE_THREADS]\n"
            "                        (default: 0 = half the cores, at least 1)\n"
            "  --max-body BYTES      request body limit, larger bodies get 413\n"
            "                        [INTENT_SERVE_MAX_BODY] (default: %zu)\n"
            "  --max-batch N         texts per /classify/batch or /predict request, more get\n"
            "                        422 (/predict: 413) [INTENT_SERVE_MAX_BATCH] (default: %d)\n"
            "  --max-client-batch-size N  the same (text-embeddings-inference's name)\n"
            "                        [INTENT_SERVE_MAX_CLIENT_BATCH_SIZE]\n"
            "  --timeout S           close connections idle for S seconds, 0 = never\n"
            "                        [INTENT_SERVE_TIMEOUT] (default: %d)\n"
            "  --max-connections N   concurrent connections; more are refused\n"
            "                        [INTENT_SERVE_MAX_CONNECTIONS] (default: %d)\n"
            "  --coalesce N          texts merged into one forward across concurrent\n"
            "                        /classify requests, 1 = no merging [INTENT_SERVE_COALESCE]\n"
            "                        (default: %d)\n"
            "  --max-length N        tokens per text incl. [CLS]/[SEP]; longer texts are\n"
            "                        truncated [INTENT_SERVE_MAX_LENGTH] (default: the model's)\n"
            "  --gather-us N         under concurrent load, let the next merged batch gather\n"
            "                        for up to N microseconds; 0 = never wait\n"
            "                        [INTENT_SERVE_GATHER_US] (default: %d)\n"
            "  --max-batch-tokens N  tokens of one merged batch: queued requests join the next\n"
            "                        forward while their tokens fit [INTENT_SERVE_MAX_BATCH_TOKENS]\n"
            "                        (default: %d)\n"
            "  --max-batch-requests N  requests of one merged batch, 0 = no limit\n"
            "                        [INTENT_SERVE_MAX_BATCH_REQUESTS] (default: 0)\n"
            "  --max-concurrent-requests N  inference requests tokenizing, queued or running\n"
            "                        at once; more get 429 with Retry-After\n"
            "                        [INTENT_SERVE_MAX_CONCURRENT_REQUESTS] (default: %d)\n"
            "  --event-loop          serve connections from an epoll loop on --threads threads\n"
            "                        instead of one thread per connection\n"
            "                        [INTENT_SERVE_EVENT_LOOP=1]\n"
            CLI_FALLBACK_HELP
            "                     (also INTENT_SERVE_FALLBACK_THRESHOLD, ..._AMBIGUITY_THRESHOLD,\n"
            "                     ..._FALLBACK_INTENT, ..._NO_CALIBRATION and serve_* keys)\n"
            "  --error-style STYLE   validation error bodies of the FastAPI routes: pydantic2\n"
            "                        (current FastAPI, default) or fastapi-legacy (FastAPI\n"
            "                        0.9x, pydantic 1) [INTENT_SERVE_ERROR_STYLE]\n"
            "  --api-key KEY         require \"Authorization: Bearer KEY\" (401 otherwise) on\n"
            "                        every route but /docs, /redoc, /openapi.json; prefer the\n"
            "                        variable, flags show in ps [INTENT_SERVE_API_KEY]\n"
            "  --open-health         with --api-key, keep /health, /ready and /metrics open\n"
            "                        [INTENT_SERVE_OPEN_HEALTH=1]\n"
            "  --cors-origin ORIGINS allow browsers on these origins (\"*\" or a comma-separated\n"
            "                        list) to call the API [INTENT_SERVE_CORS_ORIGIN]\n"
            "  --log-format FORMAT   access log lines: text (default) or json\n"
            "                        [INTENT_SERVE_LOG_FORMAT]\n"
            "  --no-access-log       no line per request on stderr [INTENT_SERVE_ACCESS_LOG=0]\n"
            "  --precision P         fp32 (default), bf16 or int8 products in the Linear layers\n"
            "                        [INTENT_SERVE_PRECISION, INTENT_PRECISION]\n"
            "  -h, --help            this help\n\n"
            "signals: SIGHUP reloads the model from --model (a model that fails to load is\n"
            "refused and the old one keeps serving); SIGTERM and SIGINT finish the requests\n"
            "in flight and exit 0.\n",
            d.model_path, d.host, d.port, d.max_body, d.max_batch, d.timeout,
            d.max_connections, d.coalesce, d.gather_us, d.max_batch_tokens,
            d.max_concurrent_requests);
}

static const char *const value_opts[] = {"--config", "--model",   "--host",      "--port",
                                         "--threads", "--max-body",  "--max-batch",
                                         "--timeout", "--max-connections", "--coalesce",
                                         "--max-length", "--gather-us",
                                         "--error-style", "--api-key", "--cors-origin",
                                         "--log-format", "--max-batch-tokens",
                                         "--max-batch-requests", "--max-concurrent-requests",
                                         "--max-client-batch-size", "--precision"};

static int serve_main(int argc, char **argv, struct ic_serve_opts *opts);

int cmd_serve(int argc, char **argv)
{
    struct ic_serve_opts o;
    ic_serve_default_opts(&o);
    int rc = serve_main(argc, argv, &o);
    ic_serve_opts_free(&o);
    return rc;
}

/* Flags over the file and environment values in o; then the checks. */
static int serve_flags(int argc, char **argv, struct ic_serve_opts *o)
{
    struct ic_err err;
    struct ic_infer_opts fio;
    ic_infer_default_opts(&fio);
    fio.no_calibration = o->no_calibration;
    fio.oos_score = o->oos_score;
    fio.fallback_threshold = o->fallback_threshold;
    fio.ambiguity_threshold = o->ambiguity_threshold;
    fio.fallback_intent = o->fallback_intent;
    if (cli_fallback_env("serve", &fio))
        return 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--event-loop") == 0) {
            o->event_loop = 1;
            continue;
        }
        if (strcmp(a, "--open-health") == 0) {
            o->open_health = 1;
            continue;
        }
        if (strcmp(a, "--no-access-log") == 0) {
            o->access_log = 0;
            continue;
        }
        int fb_value = 0;
        if (cli_fallback_option(a, &fb_value)) {
            if (fb_value && i + 1 >= argc) {
                cli_error("serve", "%s needs a value", a);
                return 2;
            }
            if (cli_fallback_set("serve", a, fb_value ? argv[++i] : NULL, &fio))
                return 2;
            continue;
        }
        char name[64];
        const char *eq = strchr(a, '=');
        size_t nl = eq ? (size_t)(eq - a) : strlen(a);
        int known = 0;
        if (nl < sizeof name) {
            memcpy(name, a, nl);
            name[nl] = 0;
            for (size_t k = 0; k < sizeof value_opts / sizeof value_opts[0]; k++)
                if (strcmp(name, value_opts[k]) == 0)
                    known = 1;
        }
        if (!known) {
            cli_error("serve", "unknown argument %s (see --help)", a);
            return 2;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
        if (!val) {
            cli_error("serve", "%s needs a value", name);
            return 2;
        }
        long v = 0;
        int bad = 0;
        if (strcmp(name, "--config") == 0)
            continue; /* read above */
        if (strcmp(name, "--model") == 0)
            o->model_path = val;
        else if (strcmp(name, "--host") == 0)
            o->host = val;
        else if (strcmp(name, "--port") == 0)
            bad = cli_parse_int("serve", name, val, 0, 65535, &v), o->port = (int)v;
        else if (strcmp(name, "--threads") == 0)
            bad = cli_parse_int("serve", name, val, 0, 256, &v), o->threads = (int)v;
        else if (strcmp(name, "--max-body") == 0)
            bad = cli_parse_int("serve", name, val, 1024, 1L << 30, &v), o->max_body = (size_t)v;
        else if (strcmp(name, "--max-batch") == 0 || strcmp(name, "--max-client-batch-size") == 0)
            bad = cli_parse_int("serve", name, val, 1, 65536, &v), o->max_batch = (int)v;
        else if (strcmp(name, "--timeout") == 0)
            bad = cli_parse_int("serve", name, val, 0, 86400, &v), o->timeout = (int)v;
        else if (strcmp(name, "--max-connections") == 0)
            bad = cli_parse_int("serve", name, val, 1, 65536, &v), o->max_connections = (int)v;
        else if (strcmp(name, "--coalesce") == 0)
            bad = cli_parse_int("serve", name, val, 1, 1024, &v), o->coalesce = (int)v;
        else if (strcmp(name, "--max-length") == 0)
            bad = cli_parse_int("serve", name, val, 0, 1 << 20, &v), o->max_length = (int)v;
        else if (strcmp(name, "--gather-us") == 0)
            bad = cli_parse_int("serve", name, val, 0, 100000, &v), o->gather_us = (int)v;
        else if (strcmp(name, "--max-batch-tokens") == 0)
            bad = cli_parse_int("serve", name, val, 1, 1 << 24, &v), o->max_batch_tokens = (int)v;
        else if (strcmp(name, "--max-batch-requests") == 0)
            bad = cli_parse_int("serve", name, val, 0, 65536, &v), o->max_batch_requests = (int)v;
        else if (strcmp(name, "--max-concurrent-requests") == 0)
            bad = cli_parse_int("serve", name, val, 1, 65536, &v),
            o->max_concurrent_requests = (int)v;
        else if (strcmp(name, "--api-key") == 0)
            o->api_key = val;
        else if (strcmp(name, "--cors-origin") == 0)
            o->cors_origin = val;
        else if (strcmp(name, "--precision") == 0)
            bad = cli_precision_parse("serve", name, val, &o->precision);
        else if (strcmp(name, "--log-format") == 0 && ic_serve_log_format_parse(val, &o->log_format)) {
            cli_error("serve", "--log-format: \"%s\" is not text or json", val);
            return 2;
        } else if (strcmp(name, "--error-style") == 0 &&
                 ic_serve_error_style_parse(val, &o->error_style)) {
            cli_error("serve", "--error-style: \"%s\" is not pydantic2 or fastapi-legacy", val);
            return 2;
        }
        if (bad)
            return 2;
    }
    o->no_calibration = fio.no_calibration;
    o->oos_score = fio.oos_score;
    o->fallback_threshold = fio.fallback_threshold;
    o->ambiguity_threshold = fio.ambiguity_threshold;
    o->fallback_intent = fio.fallback_intent;
    if (ic_serve_opts_check(o, &err)) {
        cli_error("serve", "%s", err.msg);
        return 2;
    }
    return 0;
}

/* Starts the server and waits for signals: SIGHUP reloads, SIGINT and
 * SIGTERM drain and stop. */
static int serve_run(const struct ic_serve_opts *o)
{
    struct ic_err err;
#ifdef M_ARENA_MAX
    /* One malloc arena per connection thread would grow the resident size
     * with the number of connections; two are plenty for short requests. */
    mallopt(M_ARENA_MAX, 2);
#endif
#ifdef M_MMAP_THRESHOLD
    /* Buffers of big requests (up to --max-body, their JSON and tokens) come
     * from mmap and go back to the system when freed, instead of staying in
     * the heap (a fixed threshold also stops glibc from raising it after the
     * model's loading buffers are freed). */
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
#endif
    /* Every thread the server starts inherits this mask, so the signals
     * reach only the sigwait below. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    struct ic_server *s = NULL;
    if (ic_server_start(&s, o, &err)) {
        cli_error("serve", "%s", err.msg);
        return 1;
    }
    char *facts = ic_server_describe(s);
    int v6 = strchr(o->host, ':') != NULL;
    fprintf(stderr, "intent serve: listening on http://%s%s%s:%d (%s)\n", v6 ? "[" : "", o->host,
            v6 ? "]" : "", ic_server_port(s), facts);
    if (!o->api_key && strcmp(o->host, "127.0.0.1") != 0 && strcmp(o->host, "localhost") != 0 &&
        strcmp(o->host, "::1") != 0)
        fprintf(stderr, "intent serve: warning: listening on %s without --api-key: anyone who "
                        "can reach this port can use the API (see docs/deploy.md)\n", o->host);
    enum ic_precision pr = (enum ic_precision)o->precision;
    if (pr != IC_PRECISION_FP32)
        fprintf(stderr, "intent serve: precision %s on the %s kernels%s\n",
                ic_precision_name(pr), ic_kernels_name(pr),
                ic_kernels_native(pr) ? "" : pr == IC_PRECISION_INT8
                                                 ? " (this CPU has no AVX512-VNNI; slower)"
                                                 : " (this CPU has no AVX512-BF16; slower)");
    fflush(stderr);
    ic_free(facts);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0)
            continue;
        if (sig == SIGHUP) {
            if (ic_server_reload(s, NULL, &err)) {
                fprintf(stderr, "intent serve: reload refused, the previous model keeps "
                                "serving: %s\n", err.msg);
            } else {
                facts = ic_server_describe(s);
                fprintf(stderr, "intent serve: reloaded (%s)\n", facts);
                ic_free(facts);
            }
            fflush(stderr);
            continue;
        }
        fprintf(stderr, "intent serve: %s received, finishing requests in flight\n",
                sig == SIGINT ? "SIGINT" : "SIGTERM");
        fflush(stderr);
        ic_server_stop(s, 10.0);
        fprintf(stderr, "intent serve: stopped\n");
        return 0;
    }
}

static int serve_main(int argc, char **argv, struct ic_serve_opts *opts)
{
    struct ic_serve_opts o = *opts;
    struct ic_err err;
    /* defaults < configuration file < environment < flags */
    const char *config = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
            config = argv[i + 1];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            config = argv[i] + 9;
    }
    if (!config && ic_path_exists("intent.yaml"))
        config = "intent.yaml";
    if (config) {
        int rc = ic_serve_opts_from_file(&o, config, &err);
        *opts = o; /* hand the file's strings to the caller to free */
        if (rc) {
            cli_error("serve", "%s", err.msg);
            return 2;
        }
    }
    if (ic_serve_opts_from_env(&o, &err)) {
        cli_error("serve", "%s", err.msg);
        return 2;
    }
    int rc = serve_flags(argc, argv, &o);
    return rc ? rc : serve_run(&o);
}
