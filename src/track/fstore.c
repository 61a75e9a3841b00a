/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fstore.c - MLflow's FileStore layout written directly (the format that
 * `mlflow ui`, `mlflow server --backend-store-uri <dir>` and MlflowClient
 * read; mlflow/store/tracking/file_store.py, docs/tracking.md):
 *
 *   <root>/0/meta.yaml                 experiment 0 "Default" (new root only)
 *   <root>/.trash/
 *   <root>/<exp>/meta.yaml             artifact_location, creation_time,
 *                                      experiment_id, last_update_time,
 *                                      lifecycle_stage, name
 *   <root>/<exp>/<run>/meta.yaml       run info, keys sorted (status is an int)
 *   <root>/<exp>/<run>/metrics/<key>   "<timestamp_ms> <value> <step>\n" lines
 *   <root>/<exp>/<run>/params/<key>    the value, no newline
 *   <root>/<exp>/<run>/tags/<key>      the value, no newline
 *   <root>/<exp>/<run>/artifacts/...
 *   <root>/<exp>/datasets/<md5(name digest)>/meta.yaml     a dataset: digest,
 *                                      name, profile, schema, source, source_type
 *   <root>/<exp>/<run>/inputs/<md5(dataset id, run id)>/meta.yaml
 *                                      a run input: destination_id/_type,
 *                                      source_id (the dataset), source_type, tags
 *
 * meta.yaml, params and tags are written to a temporary name outside the
 * listed folders and renamed, so a live server never reads half a file.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "track/track_int.h"

struct ic__fstore {
    char *root;    /* absolute */
    char *exp_dir; /* <root>/<exp> */
    char *run_dir; /* <root>/<exp>/<run> */
    char *artifact_dir;
    unsigned tmp_seq;
};

char *ic__fs_uri_to_path(const char *uri)
{
    const char *p = uri;
    if (strncmp(uri, "file://", 7) == 0) {
        p = uri + 7;
        if (strncmp(p, "localhost/", 10) == 0)
            p += 9;
        else if (*p != '/')
            return NULL; /* file://host/... is not local */
    } else if (strncmp(uri, "file:", 5) == 0) {
        p = uri + 5;
    } else if (strstr(uri, "://")) {
        return NULL;
    }
    /* percent-decoding (file:///a%20b) */
    size_t n = strlen(p);
    char *out = ic_xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '%' && i + 2 < n && isxdigit((unsigned char)p[i + 1]) &&
            isxdigit((unsigned char)p[i + 2])) {
            char hx[3] = {p[i + 1], p[i + 2], 0};
            out[j++] = (char)strtol(hx, NULL, 16);
            i += 2;
        } else {
            out[j++] = p[i];
        }
    }
    out[j] = 0;
    return out;
}

static char *abs_path(const char *p)
{
    if (p[0] == '/')
        return ic_xstrdup(p);
    char cwd[PATH_MAX];
    if (!getcwd(cwd, sizeof cwd))
        return ic_xstrdup(p);
    const char *q = p;
    while (q[0] == '.' && q[1] == '/')
        q += 2;
    if (strcmp(q, ".") == 0 || !*q)
        return ic_xstrdup(cwd);
    return ic_path_join(cwd, q);
}

/* file:// URI of an absolute path, percent-encoding what needs it. */
static char *path_to_uri(const char *path)
{
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_buf_append(&b, "file://", 7);
    for (const unsigned char *p = (const unsigned char *)path; *p && rc == IC_OK; p++) {
        if (isalnum(*p) || strchr("/-._~", *p))
            rc = ic_buf_append(&b, p, 1);
        else
            rc = ic_buf_printf(&b, "%%%02X", *p);
    }
    return ic_buf_take(&b);
}

/* Writes all len bytes (retrying short writes and EINTR); 0, or -1 with errno. */
static int write_all(int fd, const void *data, size_t len)
{
    const char *p = data;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Writes data to dir/name via a temporary file in tmpdir (same filesystem). */
static int write_atomic_via(struct ic__fstore *fs, const char *tmpdir, const char *path,
                            const char *data, size_t len, struct ic_err *err)
{
    char *tmp = ic_xasprintf("%s/.tmp-%ld-%u", tmpdir, (long)getpid(), fs->tmp_seq++);
    int rc = IC_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    if (write_all(fd, data, len) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: write: %s", path, strerror(errno));
        close(fd);
        unlink(tmp);
        goto out;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: %s", path, strerror(errno));
        unlink(tmp);
    }
out:
    ic_free(tmp);
    return rc;
}

/* Makes the parent directories of path. */
static int mkparents(const char *path, struct ic_err *err)
{
    char *d = ic_xstrdup(path);
    char *slash = strrchr(d, '/');
    int rc = IC_OK;
    if (slash && slash != d) {
        *slash = 0;
        rc = ic_mkdirs(d, err);
    }
    ic_free(d);
    return rc;
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

static int write_experiment(const char *root, const char *id, const char *name,
                            struct ic_err *err)
{
    char *dir = ic_path_join(root, id);
    char *meta = ic_path_join(dir, "meta.yaml");
    char *art = path_to_uri(dir);
    int64_t now = ic_time_ms();
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = ic_mkdirs(dir, err);
    if (rc != IC_OK)
        goto out;
    if (ic_buf_printf(&b, "artifact_location: ") || ic__trk_yaml_str(&b, art) ||
        ic_buf_printf(&b, "\ncreation_time: %lld\nexperiment_id: '%s'\n", (long long)now, id) ||
        ic_buf_printf(&b, "last_update_time: %lld\nlifecycle_stage: active\nname: ",
                      (long long)now) ||
        ic__trk_yaml_str(&b, name) || ic_buf_append(&b, "\n", 1)) {
        rc = ic_errf(err, IC_ERR_NOMEM, "%s: cannot format", meta);
        goto out;
    }
    rc = ic_write_file_atomic(meta, b.data, b.len, err);
out:
    ic_buf_free(&b);
    ic_free(art);
    ic_free(meta);
    ic_free(dir);
    return rc;
}

/* Finds an experiment by name: its id into out; 1 if found and active, -1 if
 * found but deleted, 0 if not found. */
static int find_experiment(const char *root, const char *name, char *out, size_t n)
{
    DIR *d = opendir(root);
    if (!d)
        return 0;
    struct dirent *de;
    int found = 0;
    while (!found && (de = readdir(d)) != NULL) {
        if (!is_number(de->d_name))
            continue;
        char *meta = ic_xasprintf("%s/%s/meta.yaml", root, de->d_name);
        struct ic__trk_kv kv;
        if (ic__trk_yaml_read(meta, &kv, NULL) == IC_OK) {
            const char *nm = ic__trk_kv_get(&kv, "name");
            const char *ls = ic__trk_kv_get(&kv, "lifecycle_stage");
            const char *id = ic__trk_kv_get(&kv, "experiment_id");
            if (nm && strcmp(nm, name) == 0 && id && strcmp(id, de->d_name) == 0) {
                snprintf(out, n, "%s", id);
                found = !ls || strcmp(ls, "active") == 0 ? 1 : -1;
            }
            ic__trk_kv_free(&kv);
        }
        ic_free(meta);
    }
    closedir(d);
    return found;
}

int ic__fs_new(struct ic_tracker *t, const char *root, struct ic__fstore **out,
               struct ic_err *err)
{
    *out = NULL;
    char *p = ic__fs_uri_to_path(root);
    if (!p || !*p) {
        ic_free(p);
        return ic_errf(err, IC_ERR_INVAL, "tracking URI \"%s\": not a local path", root);
    }
    struct ic__fstore *fs = ic_xcalloc(1, sizeof *fs);
    fs->root = abs_path(p);
    ic_free(p);
    /* the root path must end without '/' for joins */
    size_t n = strlen(fs->root);
    while (n > 1 && fs->root[n - 1] == '/')
        fs->root[--n] = 0;
    *out = fs;
    (void)t;
    return IC_OK;
}

void ic__fs_free(struct ic__fstore *fs)
{
    if (!fs)
        return;
    ic_free(fs->root);
    ic_free(fs->exp_dir);
    ic_free(fs->run_dir);
    ic_free(fs->artifact_dir);
    ic_free(fs);
}

static int write_run_meta(struct ic_tracker *t, int status, int64_t end_time,
                          struct ic_err *err)
{
    struct ic__fstore *fs = t->fs;
    struct ic_buf b;
    ic_buf_init(&b, 0);
    char *meta = ic_path_join(fs->run_dir, "meta.yaml");
    char end[32];
    if (end_time >= 0)
        snprintf(end, sizeof end, "%lld", (long long)end_time);
    else
        snprintf(end, sizeof end, "null");
    int rc = IC_OK;
    if (ic_buf_printf(&b, "artifact_uri: ") || ic__trk_yaml_str(&b, t->artifact_uri) ||
        ic_buf_printf(&b, "\nend_time: %s\nentry_point_name: ''\nexperiment_id: '%s'\n", end,
                      t->exp_id) ||
        ic_buf_printf(&b, "lifecycle_stage: active\nrun_id: %s\nrun_name: ", t->run_id) ||
        ic__trk_yaml_str(&b, t->run_name) ||
        ic_buf_printf(&b, "\nrun_uuid: %s\nsource_name: ''\nsource_type: 4\n", t->run_id) ||
        ic_buf_printf(&b, "source_version: ''\nstart_time: %lld\nstatus: %d\ntags: []\n",
                      (long long)t->start_time, status) ||
        ic_buf_printf(&b, "user_id: ") || ic__trk_yaml_str(&b, t->user) ||
        ic_buf_append(&b, "\n", 1)) {
        rc = ic_errf(err, IC_ERR_NOMEM, "%s: cannot format", meta);
        goto out;
    }
    rc = ic_write_file_atomic(meta, b.data, b.len, err);
out:
    ic_free(meta);
    ic_buf_free(&b);
    return rc;
}

static int write_kv_file(struct ic_tracker *t, const char *sub, const char *key,
                         const char *value, struct ic_err *err)
{
    char *path = ic_xasprintf("%s/%s/%s", t->fs->run_dir, sub, key);
    int rc = mkparents(path, err);
    if (rc == IC_OK)
        rc = write_atomic_via(t->fs, t->fs->run_dir, path, value, strlen(value), err);
    ic_free(path);
    return rc;
}

enum ic__trk_res ic__fs_open_run(struct ic_tracker *t)
{
    struct ic__fstore *fs = t->fs;
    struct ic_err err = {0};
    int rc;
    if (!ic_is_dir(fs->root)) {
        rc = ic_mkdirs(fs->root, &err);
        if (rc == IC_OK)
            rc = write_experiment(fs->root, "0", "Default", &err);
        if (rc != IC_OK)
            goto fail;
    }
    char *trash = ic_path_join(fs->root, ".trash");
    if (!ic_is_dir(trash) && ic_mkdirs(trash, NULL) != IC_OK)
        ic_log(IC_LOG_DEBUG, "tracking: cannot create %s", trash);
    ic_free(trash);

    if (t->exp_id[0]) {
        char *meta = ic_xasprintf("%s/%s/meta.yaml", fs->root, t->exp_id);
        struct ic__trk_kv kv;
        rc = ic__trk_yaml_read(meta, &kv, &err);
        ic_free(meta);
        if (rc != IC_OK)
            goto fail;
        const char *ls = ic__trk_kv_get(&kv, "lifecycle_stage");
        int active = !ls || strcmp(ls, "active") == 0;
        ic__trk_kv_free(&kv);
        if (!active) {
            ic_errf(&err, IC_ERR_INVAL, "experiment %s is deleted", t->exp_id);
            goto fail;
        }
    } else if ((rc = find_experiment(fs->root, t->experiment_name, t->exp_id,
                                     sizeof t->exp_id)) < 0) {
        ic_errf(&err, IC_ERR_INVAL, "experiment \"%s\" (id %s) is deleted; restore it or pick "
                "another name", t->experiment_name, t->exp_id);
        t->exp_id[0] = 0;
        goto fail;
    } else if (rc == 0) {
        char id[19];
        char *dir;
        do {
            ic__trk_random_id18(id);
            dir = ic_path_join(fs->root, id);
            int exists = ic_path_exists(dir);
            ic_free(dir);
            if (!exists)
                break;
        } while (1);
        rc = write_experiment(fs->root, id, t->experiment_name, &err);
        if (rc != IC_OK)
            goto fail;
        snprintf(t->exp_id, sizeof t->exp_id, "%s", id);
    }

    char uuid[33];
    ic__trk_uuid_hex(uuid);
    ic_free(fs->exp_dir);
    ic_free(fs->run_dir);
    ic_free(fs->artifact_dir);
    fs->exp_dir = ic_path_join(fs->root, t->exp_id);
    fs->run_dir = ic_path_join(fs->exp_dir, uuid);
    fs->artifact_dir = ic_path_join(fs->run_dir, "artifacts");
    ic_free(t->artifact_uri);
    t->artifact_uri = path_to_uri(fs->artifact_dir);
    snprintf(t->run_id, sizeof t->run_id, "%s", uuid);
    static const char *const subs[] = {"metrics", "params", "tags", "artifacts"};
    for (size_t i = 0; i < 4; i++) {
        char *d = ic_path_join(fs->run_dir, subs[i]);
        rc = ic_mkdirs(d, &err);
        ic_free(d);
        if (rc != IC_OK)
            goto fail;
    }
    rc = write_run_meta(t, 1 /* RUNNING */, -1, &err);
    if (rc != IC_OK)
        goto fail;
    return IC__TRK_OK;
fail:
    t->run_id[0] = 0;
    ic__trk_warn_once(t, "fs-open", "cannot create the run in %s: %s; tracking is off",
                      fs->root, err.msg);
    return IC__TRK_DEAD;
}

enum ic__trk_res ic__fs_log_batch(struct ic_tracker *t, struct ic__trk_item *items)
{
    struct ic_err err = {0};
    int failed = 0;
    /* metrics: group lines by key so each file gets one append */
    for (struct ic__trk_item *it = items; it; it = it->next) {
        if (it->kind != IC__TRK_METRIC || !it->key)
            continue;
        struct ic_buf b;
        ic_buf_init(&b, 0);
        for (struct ic__trk_item *j = it; j; j = j->next) {
            if (j->kind != IC__TRK_METRIC || !j->key || strcmp(j->key, it->key) != 0)
                continue;
            char v[40];
            ic__trk_fmt_double(v, sizeof v, j->num);
            if (ic_buf_printf(&b, "%lld %s %lld\n", (long long)j->ts, v, (long long)j->step))
                break;
            if (j != it) {
                ic_free(j->key); /* mark as written */
                j->key = NULL;
            }
        }
        char *path = ic_xasprintf("%s/metrics/%s", t->fs->run_dir, it->key);
        int rc = mkparents(path, &err);
        if (rc == IC_OK) {
            int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
            if (fd < 0 || write_all(fd, b.data, b.len) != 0)
                rc = ic_errf(&err, IC_ERR_IO, "%s: %s", path, strerror(errno));
            if (fd >= 0)
                close(fd);
        }
        if (rc != IC_OK && !failed) {
            failed = 1;
            ic__trk_warn_once(t, "fs-write", "cannot write to the file store: %s", err.msg);
        }
        ic_free(path);
        ic_buf_free(&b);
    }
    for (struct ic__trk_item *it = items; it; it = it->next) {
        if (it->kind != IC__TRK_PARAM && it->kind != IC__TRK_TAG)
            continue;
        int rc = write_kv_file(t, it->kind == IC__TRK_PARAM ? "params" : "tags", it->key,
                               it->value, &err);
        if (rc != IC_OK && !failed) {
            failed = 1;
            ic__trk_warn_once(t, "fs-write", "cannot write to the file store: %s", err.msg);
        }
    }
    return failed ? IC__TRK_DROP : IC__TRK_OK;
}

enum ic__trk_res ic__fs_end_run(struct ic_tracker *t, int status, int64_t end_time)
{
    struct ic_err err = {0};
    /* RunStatus: 3 FINISHED, 4 FAILED, 5 KILLED */
    int code = status == IC_RUN_FAILED ? 4 : status == IC_RUN_KILLED ? 5 : 3;
    if (write_run_meta(t, code, end_time, &err) != IC_OK) {
        ic__trk_warn_once(t, "fs-end", "cannot end the run: %s", err.msg);
        return IC__TRK_DROP;
    }
    return IC__TRK_OK;
}

// --- dataset inputs (FileStore.log_inputs) -----------------------------------

/* md5 hex of a then b: MLflow's dataset id (name, digest) and input id
 * (dataset id, run id). */
static void md5_hex2(const char *a, const char *b, char out[33])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    IC_ASSERT(c && EVP_DigestInit_ex(c, EVP_md5(), NULL) == 1);
    IC_ASSERT(EVP_DigestUpdate(c, a, strlen(a)) == 1 && EVP_DigestUpdate(c, b, strlen(b)) == 1);
    IC_ASSERT(EVP_DigestFinal_ex(c, md, &n) == 1 && n == 16);
    EVP_MD_CTX_free(c);
    for (unsigned i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* "<indent><key>: <value>\n", the value a YAML string or null. */
static int yaml_kv(struct ic_buf *b, const char *indent, const char *k, const char *v)
{
    int rc = ic_buf_printf(b, "%s", indent);
    if (rc == IC_OK)
        rc = ic__trk_yaml_str(b, k);
    if (rc == IC_OK)
        rc = ic_buf_append(b, ": ", 2);
    if (rc == IC_OK)
        rc = v ? ic__trk_yaml_str(b, v) : ic_buf_append(b, "null", 4);
    return rc == IC_OK ? ic_buf_append(b, "\n", 1) : rc;
}

/* Creates dir (a new directory holding meta.yaml = text) all at once: the
 * file is written in a temporary directory that is then renamed to dir, so a
 * server listing the parent never sees a directory without its meta.yaml.
 * An existing dir is kept as it is (same id, same content). */
static int publish_dir(struct ic__fstore *fs, const char *dir, const struct ic_buf *text,
                       struct ic_err *err)
{
    if (ic_is_dir(dir))
        return IC_OK;
    int rc = mkparents(dir, err);
    if (rc != IC_OK)
        return rc;
    char *tmp = ic_xasprintf("%s/.tmp-input-%ld-%u", fs->run_dir, (long)getpid(), fs->tmp_seq++);
    char *meta = ic_path_join(tmp, "meta.yaml");
    rc = ic_mkdirs(tmp, err);
    if (rc == IC_OK)
        rc = write_atomic_via(fs, tmp, meta, text->data, text->len, err);
    if (rc == IC_OK && rename(tmp, dir) != 0 && !ic_is_dir(dir))
        rc = ic_errf(err, IC_ERR_IO, "%s: %s", dir, strerror(errno));
    unlink(meta);
    rmdir(tmp);
    ic_free(meta);
    ic_free(tmp);
    return rc;
}

static const char *jget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* <exp>/datasets/<id>/meta.yaml (keys sorted, as MLflow's write_yaml). */
static int write_dataset(struct ic_tracker *t, const json_t *ds, char id[33], struct ic_err *err)
{
    const char *name = jget(ds, "name"), *digest = jget(ds, "digest");
    if (!name || !digest || !jget(ds, "source_type") || !jget(ds, "source"))
        return ic_errf(err, IC_ERR_INVAL, "dataset input without name, digest or source");
    md5_hex2(name, digest, id);
    struct ic_buf b;
    ic_buf_init(&b, 0);
    static const char *const keys[] = {"digest", "name", "profile", "schema", "source",
                                       "source_type"};
    int rc = IC_OK;
    for (size_t i = 0; i < 6 && rc == IC_OK; i++)
        rc = yaml_kv(&b, "", keys[i], jget(ds, keys[i]));
    char *dir = ic_xasprintf("%s/datasets/%s", t->fs->exp_dir, id);
    if (rc == IC_OK)
        rc = publish_dir(t->fs, dir, &b, err);
    ic_free(dir);
    ic_buf_free(&b);
    return rc;
}

/* <run>/inputs/<id>/meta.yaml. MLflow 2.12 writes the dataset id as
 * destination_id too and reads neither; the run id is what the field means. */
static int write_input(struct ic_tracker *t, const json_t *tags, const char *ds_id,
                       struct ic_err *err)
{
    char id[33];
    md5_hex2(ds_id, t->run_id, id);
    struct ic_buf b;
    ic_buf_init(&b, 0);
    int rc = yaml_kv(&b, "", "destination_id", t->run_id);
    if (rc == IC_OK)
        rc = yaml_kv(&b, "", "destination_type", "RUN");
    if (rc == IC_OK)
        rc = yaml_kv(&b, "", "source_id", ds_id);
    if (rc == IC_OK)
        rc = yaml_kv(&b, "", "source_type", "DATASET");
    if (rc == IC_OK)
        rc = ic_buf_printf(&b, json_array_size(tags) ? "tags:\n" : "tags: {}\n");
    size_t i;
    json_t *tg;
    json_array_foreach(tags, i, tg) {
        if (rc == IC_OK && jget(tg, "key") && jget(tg, "value"))
            rc = yaml_kv(&b, "  ", jget(tg, "key"), jget(tg, "value"));
    }
    char *dir = ic_xasprintf("%s/inputs/%s", t->fs->run_dir, id);
    if (rc == IC_OK)
        rc = publish_dir(t->fs, dir, &b, err);
    ic_free(dir);
    ic_buf_free(&b);
    return rc;
}

enum ic__trk_res ic__fs_log_input(struct ic_tracker *t, const char *input_json)
{
    struct ic_err err = {0};
    json_t *in = json_loads(input_json, 0, NULL);
    char ds_id[33];
    int rc = write_dataset(t, json_object_get(in, "dataset"), ds_id, &err);
    if (rc == IC_OK)
        rc = write_input(t, json_object_get(in, "tags"), ds_id, &err);
    json_decref(in);
    if (rc != IC_OK) {
        ic__trk_warn_once(t, "fs-input", "cannot store a dataset input: %s", err.msg);
        return IC__TRK_DROP;
    }
    return IC__TRK_OK;
}

const char *ic__fs_root(const struct ic__fstore *fs)
{
    return fs->root;
}

const char *ic__fs_artifact_dir(const struct ic__fstore *fs)
{
    return fs->artifact_dir;
}

enum ic__trk_res ic__fs_copy_file(struct ic_tracker *t, const char *local_path, const char *dir,
                                  const char *rel_path)
{
    struct ic_err err = {0};
    char *dst = ic_path_join(dir, rel_path);
    char *tmp = NULL;
    int in = -1, outfd = -1, rc;
    char *buf = NULL;
    rc = mkparents(dst, &err);
    if (rc != IC_OK)
        goto out;
    in = open(local_path, O_RDONLY | O_CLOEXEC);
    if (in < 0) {
        rc = ic_errf(&err, IC_ERR_IO, "%s: %s", local_path, strerror(errno));
        goto out;
    }
    const char *slash = strrchr(dst, '/');
    tmp = ic_xasprintf("%.*s/.%s.tmp-%ld", (int)(slash - dst), dst, slash + 1, (long)getpid());
    outfd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (outfd < 0) {
        rc = ic_errf(&err, IC_ERR_IO, "%s: %s", tmp, strerror(errno));
        goto out;
    }
    buf = ic_xmalloc(1 << 20);
    for (;;) {
        ssize_t r = read(in, buf, 1 << 20);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = ic_errf(&err, IC_ERR_IO, "%s: read: %s", local_path, strerror(errno));
            goto out;
        }
        if (r == 0)
            break;
        if (write_all(outfd, buf, (size_t)r) != 0) {
            rc = ic_errf(&err, IC_ERR_IO, "%s: write: %s", dst, strerror(errno));
            goto out;
        }
        ic__trk_progress(t);
        if (ic__trk_should_stop(t)) {
            rc = ic_errf(&err, IC_ERR_INTERRUPTED, "%s: copy stopped", dst);
            goto out;
        }
    }
    if (close(outfd) != 0) {
        outfd = -1;
        rc = ic_errf(&err, IC_ERR_IO, "%s: %s", dst, strerror(errno));
        goto out;
    }
    outfd = -1;
    if (rename(tmp, dst) != 0) {
        rc = ic_errf(&err, IC_ERR_IO, "%s: rename: %s", dst, strerror(errno));
        goto out;
    }
    ic_free(tmp);
    tmp = NULL;
out:
    if (outfd >= 0)
        close(outfd);
    if (in >= 0)
        close(in);
    if (tmp) {
        unlink(tmp);
        ic_free(tmp);
    }
    ic_free(buf);
    ic_free(dst);
    if (rc != IC_OK) {
        ic__trk_warn_once(t, "artifact-copy", "cannot store artifact %s: %s", local_path,
                          err.msg);
        return IC__TRK_DROP;
    }
    return IC__TRK_OK;
}
