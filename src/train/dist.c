/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dist.c - MPI behind the seam of dist.h: init, rank and size, bucketed
 * all-reduce, broadcast, gather, finalize/abort, and the collective
 * watchdog. Without IC_MPI (make MPI=0) every call is the single-process
 * no-op, and a launcher that started several processes is refused.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "train/dist.h"

#ifdef IC_MPI
#include <mpi.h>
#endif

/* Processes the launcher started, from its environment (Open MPI's mpirun,
 * PMIx, PMI-1/2 launchers such as srun and Hydra); 1 when none. */
static int launcher_size(void)
{
    const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0)
            return atoi(v);
    }
    return getenv("PMIX_RANK") || getenv("PMI_RANK") ? 2 : 1;
}

#ifndef IC_MPI

int ic__dist_built(void)
{
    return 0;
}

int ic__dist_init(double timeout_s, struct ic_err *err)
{
    (void)timeout_s;
    int n = launcher_size();
    if (n > 1)
        return ic_errf(err, IC_ERR_UNSUPPORTED, "started by mpirun as one of %d processes, but "
                       "this intent was built without MPI (make MPI=0): rebuild with MPI "
                       "(libopenmpi-dev) or run one process", n);
    return IC_OK;
}

int ic__dist_rank(void)
{
    return 0;
}

int ic__dist_size(void)
{
    return 1;
}

int ic__dist_allreduce_f32(float *buf, size_t n, struct ic_err *err)
{
    return IC_OK;
}

int ic__dist_allreduce_f64(double *buf, size_t n, struct ic_err *err)
{
    return IC_OK;
}

int ic__dist_bcast(void *buf, size_t bytes, struct ic_err *err)
{
    return IC_OK;
}

int ic__dist_gather_f64(const double *send, size_t n, double *recv, struct ic_err *err)
{
    memcpy(recv, send, n * sizeof *send);
    return IC_OK;
}

void ic__dist_finalize(int failed)
{
    (void)failed;
}

#else /* IC_MPI */

static struct {
    int on;              /* MPI_Init done by us, not finalized */
    int rank, size;
    double timeout_s;
    /* watchdog: `what` is the collective in progress (NULL: none) */
    pthread_t thread;
    int have_thread, quit;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    const char *what;
    uint64_t seq;        /* collectives entered so far */
    struct timespec since;
} g = {.size = 1, .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

int ic__dist_built(void)
{
    return 1;
}

/* Ends the process when one collective has waited timeout_s: a peer is
 * dead, stopped or unreachable. mpirun then ends the other ranks. */
static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&g.mu);
    while (!g.quit) {
        if (!g.what) {
            pthread_cond_wait(&g.cv, &g.mu);
            continue;
        }
        uint64_t seq = g.seq;
        struct timespec dl = g.since;
        dl.tv_sec += (time_t)g.timeout_s;
        int rc = 0;
        while (!g.quit && g.what && g.seq == seq && rc != ETIMEDOUT)
            rc = pthread_cond_timedwait(&g.cv, &g.mu, &dl);
        if (rc == ETIMEDOUT && !g.quit && g.what && g.seq == seq) {
            fprintf(stderr, "intent train: rank %d/%d: %s did not complete within %g s "
                    "(dist_timeout): another rank died, stopped or cannot be reached; "
                    "exiting\n", g.rank, g.size, g.what, g.timeout_s);
            fflush(stderr);
            _exit(3);
        }
    }
    pthread_mutex_unlock(&g.mu);
    return NULL;
}

static void enter(const char *what)
{
    pthread_mutex_lock(&g.mu);
    g.what = what;
    g.seq++;
    clock_gettime(CLOCK_REALTIME, &g.since);
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static void leave(void)
{
    pthread_mutex_lock(&g.mu);
    g.what = NULL;
    pthread_cond_signal(&g.cv);
    pthread_mutex_unlock(&g.mu);
}

static int mpi_fail(int mrc, const char *what, struct ic_err *err)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(mrc, s, &len) != MPI_SUCCESS)
        snprintf(s, sizeof s, "error %d", mrc);
    return ic_errf(err, IC_ERR_NET, "rank %d/%d: %s failed: %s", g.rank, g.size, what, s);
}

int ic__dist_init(double timeout_s, struct ic_err *err)
{
    if (g.on || launcher_size() <= 1)
        return IC_OK;
    int inited = 0;
    MPI_Initialized(&inited);
    if (!inited && MPI_Init(NULL, NULL) != MPI_SUCCESS)
        return ic_errf(err, IC_ERR_NET, "MPI_Init failed");
    g.on = 1;
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm_rank(MPI_COMM_WORLD, &g.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g.size);
    g.timeout_s = timeout_s > 0 ? timeout_s : 0;
    if (g.size > 1 && g.timeout_s > 0 && pthread_create(&g.thread, NULL, watchdog_main, NULL) == 0)
        g.have_thread = 1;
    return IC_OK;
}

int ic__dist_rank(void)
{
    return g.rank;
}

int ic__dist_size(void)
{
    return g.size;
}

static int allreduce(void *buf, size_t n, size_t bucket, MPI_Datatype t, size_t esz,
                     struct ic_err *err)
{
    if (g.size <= 1)
        return IC_OK;
    char *p = buf;
    for (size_t a = 0; a < n; a += bucket) {
        int cnt = (int)(n - a < bucket ? n - a : bucket);
        enter("MPI_Allreduce");
        int mrc = MPI_Allreduce(MPI_IN_PLACE, p + a * esz, cnt, t, MPI_SUM, MPI_COMM_WORLD);
        leave();
        if (mrc != MPI_SUCCESS)
            return mpi_fail(mrc, "MPI_Allreduce", err);
    }
    return IC_OK;
}

int ic__dist_allreduce_f32(float *buf, size_t n, struct ic_err *err)
{
    return allreduce(buf, n, IC_DIST_BUCKET, MPI_FLOAT, sizeof *buf, err);
}

int ic__dist_allreduce_f64(double *buf, size_t n, struct ic_err *err)
{
    return allreduce(buf, n, IC_DIST_BUCKET, MPI_DOUBLE, sizeof *buf, err);
}

int ic__dist_bcast(void *buf, size_t bytes, struct ic_err *err)
{
    if (g.size <= 1)
        return IC_OK;
    char *p = buf;
    size_t bucket = IC_DIST_BUCKET * sizeof(float);
    for (size_t a = 0; a < bytes; a += bucket) {
        int cnt = (int)(bytes - a < bucket ? bytes - a : bucket);
        enter("MPI_Bcast");
        int mrc = MPI_Bcast(p + a, cnt, MPI_BYTE, 0, MPI_COMM_WORLD);
        leave();
        if (mrc != MPI_SUCCESS)
            return mpi_fail(mrc, "MPI_Bcast", err);
    }
    return IC_OK;
}

int ic__dist_gather_f64(const double *send, size_t n, double *recv, struct ic_err *err)
{
    if (g.size <= 1) {
        memcpy(recv, send, n * sizeof *send);
        return IC_OK;
    }
    enter("MPI_Gather");
    int mrc = MPI_Gather(send, (int)n, MPI_DOUBLE, recv, (int)n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    leave();
    return mrc == MPI_SUCCESS ? IC_OK : mpi_fail(mrc, "MPI_Gather", err);
}

void ic__dist_finalize(int failed)
{
    if (!g.on)
        return;
    if (g.have_thread) {
        pthread_mutex_lock(&g.mu);
        g.quit = 1;
        pthread_cond_signal(&g.cv);
        pthread_mutex_unlock(&g.mu);
        pthread_join(g.thread, NULL);
        g.have_thread = 0;
    }
    g.on = 0;
    if (failed && g.size > 1)
        MPI_Abort(MPI_COMM_WORLD, failed);
    MPI_Finalize();
}

#endif /* IC_MPI */
