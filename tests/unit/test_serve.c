/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_serve.c - the server library in-process: requests from several
 * client threads (libcurl, keep-alive) while the model is reloaded again and
 * again, alternating between two models and a broken path. Every request
 * must succeed with an answer from one whole model; under ASan this also
 * checks the reference counting of the swapped model (no use after free, no
 * leak).
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>

#include "intent/serve.h"
#include "test.h"

/* Writes a servable model directory: golden weights, config with labels
 * prefixed by prefix, a 99-token vocab. */
static int write_model(const char *dir, const char *prefix)
{
    char *data = NULL, *p;
    size_t len;
    int rc = ic_mkdirs(dir, NULL);
    if (!rc)
        rc = ic_read_file("tests/golden/model/model.safetensors", 1 << 24, &data, &len, NULL);
    if (!rc) {
        p = ic_path_join(dir, "model.safetensors");
        rc = ic_write_file_atomic(p, data, len, NULL);
        ic_free(p);
    }
    ic_free(data);
    data = NULL;
    if (!rc)
        rc = ic_read_file("tests/golden/model/config.json", 1 << 20, &data, &len, NULL);
    if (!rc) {
        /* prefix every label name: "saludo" -> "<prefix>saludo" */
        struct ic_buf b;
        ic_buf_init(&b, 0);
        const char *names[] = {"saludo", "despedida", "reservar", "cancelar", "clima"};
        for (const char *s = data; *s && !rc;) {
            int hit = 0;
            for (int k = 0; k < 5 && !hit; k++) {
                size_t n = strlen(names[k]);
                if (s[0] == '"' && strncmp(s + 1, names[k], n) == 0 && s[n + 1] == '"') {
                    rc = ic_buf_printf(&b, "\"%s%s\"", prefix, names[k]);
                    s += n + 2;
                    hit = 1;
                }
            }
            if (!hit)
                rc = ic_buf_append(&b, s++, 1);
        }
        p = ic_path_join(dir, "config.json");
        if (!rc)
            rc = ic_write_file_atomic(p, b.data, b.len, NULL);
        ic_free(p);
        ic_buf_free(&b);
    }
    ic_free(data);
    struct ic_buf v;
    ic_buf_init(&v, 0);
    const char *base[] = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hola", "adios",
                          "quiero", "ver", "las", "noticias"};
    for (size_t i = 0; i < 99 && !rc; i++)
        rc = i < 11 ? ic_buf_printf(&v, "%s\n", base[i]) : ic_buf_printf(&v, "w%zu\n", i);
    p = ic_path_join(dir, "vocab.txt");
    if (!rc)
        rc = ic_write_file_atomic(p, v.data, v.len, NULL);
    ic_free(p);
    ic_buf_free(&v);
    return rc;
}

struct client {
    int port, n, ok, bad;
    char last[512];
};

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct ic_buf *b = ud;
    if (ic_buf_append(b, ptr, size * nmemb))
        return 0;
    return size * nmemb;
}

static void *client_main(void *arg)
{
    struct client *c = arg;
    CURL *h = curl_easy_init();
    struct curl_slist *hd = curl_slist_append(NULL, "Content-Type: application/json");
    char url[64];
    struct ic_buf b;
    ic_buf_init(&b, 1 << 16);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/classify", c->port);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, "{\"text\":\"quiero ver las noticias\",\"top_k\":5}");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    for (int i = 0; i < c->n; i++) {
        ic_buf_reset(&b);
        long code = 0;
        CURLcode cr = curl_easy_perform(h);
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
        /* an answer from one whole model: all five labels share a prefix */
        int whole = 0;
        if (cr == CURLE_OK && code == 200 && b.data) {
            int a = 0, z = 0;
            for (const char *s = b.data; (s = strstr(s, "\"intent\":\"")); s += 10) {
                if (strncmp(s + 10, "B_", 2) == 0)
                    z++;
                else
                    a++;
            }
            whole = (a == 6 && z == 0) || (a == 0 && z == 6);
        }
        if (whole) {
            c->ok++;
        } else {
            c->bad++;
            snprintf(c->last, sizeof c->last, "curl %d, HTTP %ld: %s", (int)cr, code,
                     b.data ? b.data : "");
        }
    }
    ic_buf_free(&b);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

TEST(serve_reload_under_load)
{
    char a[512], bdir[512], broken[512];
    snprintf(a, sizeof a, "%s/a", test_tmpdir());
    snprintf(bdir, sizeof bdir, "%s/b", test_tmpdir());
    snprintf(broken, sizeof broken, "%s/missing", test_tmpdir());
    ASSERT_OK(write_model(a, ""));
    ASSERT_OK(write_model(bdir, "B_"));
    curl_global_init(CURL_GLOBAL_DEFAULT);

    struct ic_serve_opts o;
    struct ic_err err;
    struct ic_server *s = NULL;
    ic_serve_default_opts(&o);
    o.access_log = 0; /* keep the test output to results */
    o.model_path = a;
    o.port = 0;
    o.threads = 2;
    o.coalesce = 4;
    ASSERT_OK_ERR(ic_server_start(&s, &o, &err), err);
    int port = ic_server_port(s);
    ASSERT(port > 0);

    enum { NC = 4 };
    struct client cl[NC];
    pthread_t th[NC];
    for (int i = 0; i < NC; i++) {
        memset(&cl[i], 0, sizeof cl[i]);
        cl[i].port = port;
        cl[i].n = 60;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    int reload_fail = 0, broken_ok = 0;
    for (int r = 0; r < 8; r++) {
        const char *path = r % 3 == 2 ? broken : (r % 2 ? bdir : a);
        int rc = ic_server_reload(s, path, &err);
        if (path == broken)
            broken_ok += rc != IC_OK && strstr(err.msg, "missing") != NULL;
        else if (rc)
            reload_fail = 1;
    }
    for (int i = 0; i < NC; i++)
        pthread_join(th[i], NULL);
    char *facts = ic_server_describe(s);
    ic_server_stop(s, 5.0);
    int ok = 0, bad = 0;
    const char *last = "";
    for (int i = 0; i < NC; i++) {
        ok += cl[i].ok;
        bad += cl[i].bad;
        if (cl[i].bad)
            last = cl[i].last;
    }
    int facts_ok = strstr(facts, "5 labels") != NULL;
    ic_free(facts);
    if (bad)
        FAIL("%d of %d requests failed; last: %s", bad, ok + bad, last);
    ASSERT_EQ(ok, NC * 60);
    ASSERT_EQ(reload_fail, 0);
    ASSERT_EQ(broken_ok, 2);
    ASSERT(facts_ok);
}

TEST(serve_opts_env_and_checks)
{
    struct ic_serve_opts o;
    struct ic_err err;
    ic_serve_default_opts(&o);
    o.access_log = 0; /* keep the test output to results */
    ASSERT_EQ(o.port, 8000);
    ASSERT_EQ(o.max_body, 1u << 20);
    ASSERT_STR_EQ(o.host, "127.0.0.1");
    ASSERT_OK(ic_serve_opts_check(&o, &err));
    setenv("INTENT_SERVE_PORT", "9123", 1);
    setenv("INTENT_SERVE_MAX_BODY", "4096", 1);
    setenv("INTENT_SERVE_HOST", "0.0.0.0", 1);
    int rc = ic_serve_opts_from_env(&o, &err);
    unsetenv("INTENT_SERVE_MAX_BODY");
    unsetenv("INTENT_SERVE_HOST");
    ASSERT_OK(rc);
    ASSERT_EQ(o.port, 9123);
    ASSERT_EQ(o.max_body, 4096);
    ASSERT_STR_EQ(o.host, "0.0.0.0");
    setenv("INTENT_SERVE_PORT", "99999", 1);
    rc = ic_serve_opts_from_env(&o, &err);
    unsetenv("INTENT_SERVE_PORT");
    ASSERT_EQ(rc, IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "INTENT_SERVE_PORT");
    ASSERT_EQ(o.port, 9123); /* unchanged on error */
    o.coalesce = 0;
    ASSERT_EQ(ic_serve_opts_check(&o, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "coalesce");
    /* a model that does not load: no server, an error naming the path */
    struct ic_server *s = (struct ic_server *)&o;
    ic_serve_default_opts(&o);
    o.access_log = 0; /* keep the test output to results */
    o.model_path = "/nonexistent/model/dir";
    o.port = 0;
    ASSERT(ic_server_start(&s, &o, &err) != IC_OK);
    ASSERT(s == NULL);
    ASSERT_CONTAINS(err.msg, "/nonexistent/model/dir");
}

TEST(serve_opts_from_file)
{
    struct ic_serve_opts o;
    struct ic_err err;
    char path[600];
    snprintf(path, sizeof path, "%s/intent.yaml", test_tmpdir());
    const char *good = "# training keys are not ours\nepochs: 3\nlearning_rate: 1e-4\n"
                       "serve_model: /srv/model\nserve_host: 0.0.0.0\nserve_port: 9000\n"
                       "serve_max_body: 2048\nserve_event_loop: true\n";
    ASSERT_OK(ic_write_file_atomic(path, good, strlen(good), NULL));
    ic_serve_default_opts(&o);
    o.access_log = 0; /* keep the test output to results */
    ASSERT_OK_ERR(ic_serve_opts_from_file(&o, path, &err), err);
    ASSERT_STR_EQ(o.model_path, "/srv/model");
    ASSERT_STR_EQ(o.host, "0.0.0.0");
    ASSERT_EQ(o.port, 9000);
    ASSERT_EQ(o.max_body, 2048);
    ASSERT_EQ(o.event_loop, 1);
    ASSERT_EQ(o.max_batch, 256); /* untouched */
    /* a second file replaces the strings it sets and keeps the others */
    const char *more = "serve_model: /srv/other\n";
    ASSERT_OK(ic_write_file_atomic(path, more, strlen(more), NULL));
    ASSERT_OK_ERR(ic_serve_opts_from_file(&o, path, &err), err);
    ASSERT_STR_EQ(o.model_path, "/srv/other");
    ASSERT_STR_EQ(o.host, "0.0.0.0");
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"serve_port: 70000\n", "intent.yaml:1: serve_port"},
        {"epochs: 1\nserve_bogus: 1\n", "intent.yaml:2: unknown key \"serve_bogus\""},
        {"serve_event_loop: maybe\n", "not a boolean"},
        {"serve_host: [a, b]\n", "flat mapping"},
        {"serve_port: \"abc\n", "YAML error"},
        {"- a\n- b\n", "flat mapping"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ASSERT_OK(ic_write_file_atomic(path, bad[i].text, strlen(bad[i].text), NULL));
        int rc = ic_serve_opts_from_file(&o, path, &err);
        if (rc == IC_OK || !strstr(err.msg, bad[i].msg)) {
            ic_serve_opts_free(&o);
            FAIL("%s: rc %d, message \"%s\"", bad[i].text, rc, err.msg);
        }
    }
    ASSERT_STR_EQ(o.model_path, "/srv/other"); /* unchanged by the failures */
    ASSERT_EQ(o.port, 9000);
    ic_serve_opts_free(&o);
    snprintf(path, sizeof path, "%s/missing.yaml", test_tmpdir());
    ASSERT(ic_serve_opts_from_file(&o, path, &err) != IC_OK);
    ASSERT_CONTAINS(err.msg, "missing.yaml");
}

/* The batching keys: file, environment (TEI's names) and range checks. */
TEST(serve_opts_batching)
{
    struct ic_serve_opts o;
    struct ic_err err;
    char path[600];
    ic_serve_default_opts(&o);
    ASSERT_EQ(o.max_batch_tokens, 16384);
    ASSERT_EQ(o.max_batch_requests, 0);
    ASSERT_EQ(o.max_concurrent_requests, 512);
    snprintf(path, sizeof path, "%s/batching.yaml", test_tmpdir());
    const char *good = "serve_max_batch_tokens: 4096\nserve_max_batch_requests: 8\n"
                       "serve_max_concurrent_requests: 64\nserve_max_client_batch_size: 32\n";
    ASSERT_OK(ic_write_file_atomic(path, good, strlen(good), NULL));
    ASSERT_OK_ERR(ic_serve_opts_from_file(&o, path, &err), err);
    ASSERT_EQ(o.max_batch_tokens, 4096);
    ASSERT_EQ(o.max_batch_requests, 8);
    ASSERT_EQ(o.max_concurrent_requests, 64);
    ASSERT_EQ(o.max_batch, 32); /* max_client_batch_size is max_batch */
    ASSERT_OK(ic_serve_opts_check(&o, &err));
    setenv("INTENT_SERVE_MAX_CONCURRENT_REQUESTS", "0", 1);
    int rc = ic_serve_opts_from_env(&o, &err);
    unsetenv("INTENT_SERVE_MAX_CONCURRENT_REQUESTS");
    ASSERT_EQ(rc, IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "INTENT_SERVE_MAX_CONCURRENT_REQUESTS");
    const char *bad = "serve_max_batch_tokens: -5\n";
    ASSERT_OK(ic_write_file_atomic(path, bad, strlen(bad), NULL));
    ASSERT(ic_serve_opts_from_file(&o, path, &err) != IC_OK);
    ASSERT_CONTAINS(err.msg, "batching.yaml:1: serve_max_batch_tokens");
    o.max_batch_tokens = 0;
    ASSERT_EQ(ic_serve_opts_check(&o, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "max batch tokens");
    o.max_batch_tokens = 16;
    o.max_batch_requests = -1;
    ASSERT_EQ(ic_serve_opts_check(&o, &err), IC_ERR_INVAL);
    ASSERT_CONTAINS(err.msg, "max batch requests");
    ic_serve_opts_free(&o);
}

