/* SPDX-License-Identifier: Apache-2.0 */
/*
 * resume.c - writes and reads the epoch checkpoint (format in resume.h).
 */
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "train/resume.h"

#define MAGIC "INTENTCK"
#define VERSION 1u

char *ic__resume_path(const char *output)
{
    size_t n = strlen(output);
    while (n > 1 && output[n - 1] == '/')
        n--;
    return ic_xasprintf("%.*s.ckpt", (int)n, output);
}

/* The int64 header fields, in file order: the match fields first. */
#define N_FIELDS 13
#define N_MATCH 6
static void fields(struct ic__resume *ck, int64_t *f[N_FIELDS])
{
    int64_t *p[N_FIELDS] = {&ck->ntr, &ck->num_params, &ck->n_labels, &ck->batch_size,
                            &ck->seed, &ck->nproc, &ck->epoch, &ck->step, &ck->opt_t,
                            &ck->have_best, &ck->best_epoch, &ck->bad_evals, &ck->best_n};
    memcpy(f, p, sizeof p);
}

static int put(FILE *f, const void *p, size_t size, size_t n)
{
    return n == 0 || fwrite(p, size, n, f) == n;
}

static int get(FILE *f, void *p, size_t size, size_t n)
{
    return n == 0 || fread(p, size, n, f) == n;
}

static int write_body(FILE *f, const struct ic__resume *ck)
{
    int64_t *fp[N_FIELDS], hdr[N_FIELDS];
    fields((struct ic__resume *)ck, fp);
    for (size_t i = 0; i < N_FIELDS; i++)
        hdr[i] = *fp[i];
    uint32_t ver = VERSION;
    size_t P = (size_t)ck->num_params, L = (size_t)ck->n_labels;
    int ok = put(f, MAGIC, 1, 8) && put(f, &ver, sizeof ver, 1) &&
             put(f, hdr, sizeof *hdr, N_FIELDS) &&
             put(f, &ck->best_val, sizeof(double), 1) &&
             put(f, &ck->best_loss_sum, sizeof(double), 1) &&
             put(f, &ck->shuffle, sizeof ck->shuffle, 1) && put(f, &ck->drop, sizeof ck->drop, 1) &&
             put(f, ck->order, sizeof *ck->order, (size_t)ck->ntr) &&
             put(f, ck->params, sizeof(float), P) && put(f, ck->m, sizeof(float), P) &&
             put(f, ck->v, sizeof(float), P);
    if (ok && ck->have_best)
        ok = put(f, ck->best_params, sizeof(float), P) &&
             put(f, ck->best_confusion, sizeof(int64_t), L * L);
    return ok;
}

int ic__resume_save(const char *path, const struct ic__resume *ck, struct ic_err *err)
{
    char *tmp = ic_xasprintf("%s.tmp.%ld", path, (long)getpid());
    int rc = IC_OK;
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        rc = ic_errf(err, IC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto out;
    }
    int ok = write_body(f, ck) && fflush(f) == 0 && fsync(fileno(f)) == 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (!ok || rename(tmp, path) != 0) {
        rc = ic_errf(err, IC_ERR_IO, "%s: write: %s", path, strerror(ok ? errno : e));
        unlink(tmp);
    }
out:
    ic_free(tmp);
    return rc;
}

static const char *const k_names[N_MATCH] = {"training examples", "parameters", "intents",
                                      "batch_size", "seed", "processes"};

static int read_body(FILE *f, const char *path, struct ic__resume *ck, struct ic_err *err)
{
    char magic[8];
    uint32_t ver = 0;
    struct ic__resume h = *ck;
    int64_t *fp[N_FIELDS], hdr[N_FIELDS];
    if (!get(f, magic, 1, 8) || memcmp(magic, MAGIC, 8) != 0 || !get(f, &ver, sizeof ver, 1))
        return ic_errf(err, IC_ERR_FORMAT, "%s: not an intent epoch checkpoint", path);
    if (ver != VERSION)
        return ic_errf(err, IC_ERR_FORMAT, "%s: checkpoint version %u (this intent reads %u)",
                       path, ver, VERSION);
    if (!get(f, hdr, sizeof *hdr, N_FIELDS))
        return ic_errf(err, IC_ERR_FORMAT, "%s: truncated header", path);
    fields(&h, fp);
    for (size_t i = 0; i < N_FIELDS; i++) {
        if (i < N_MATCH && hdr[i] != *fp[i])
            return ic_errf(err, IC_ERR_INVAL, "%s: written by a run with %lld %s, this run has "
                           "%lld: resume with the same data and settings, or delete the file",
                           path, (long long)hdr[i], k_names[i], (long long)*fp[i]);
        *fp[i] = hdr[i];
    }
    if (h.have_best && (h.best_n < 0 || !h.best_params || !h.best_confusion))
        return ic_errf(err, IC_ERR_FORMAT, "%s: damaged checkpoint header", path);
    size_t P = (size_t)h.num_params, L = (size_t)h.n_labels;
    int ok = get(f, &h.best_val, sizeof(double), 1) && get(f, &h.best_loss_sum, sizeof(double), 1) &&
             get(f, &h.shuffle, sizeof h.shuffle, 1) && get(f, &h.drop, sizeof h.drop, 1) &&
             get(f, h.order, sizeof *h.order, (size_t)h.ntr) && get(f, h.params, sizeof(float), P) &&
             get(f, h.m, sizeof(float), P) && get(f, h.v, sizeof(float), P);
    if (ok && h.have_best)
        ok = get(f, h.best_params, sizeof(float), P) &&
             get(f, h.best_confusion, sizeof(int64_t), L * L);
    if (!ok || fgetc(f) != EOF)
        return ic_errf(err, IC_ERR_FORMAT, "%s: truncated or damaged checkpoint", path);
    *ck = h;
    return IC_OK;
}

int ic__resume_load(const char *path, struct ic__resume *ck, struct ic_err *err)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return ic_errf(err, errno == ENOENT ? IC_ERR_NOTFOUND : IC_ERR_IO, "%s: %s", path,
                       strerror(errno));
    int rc = read_body(f, path, ck, err);
    fclose(f);
    return rc;
}
