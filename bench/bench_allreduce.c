// SPDX-License-Identifier: Apache-2.0
/*
 * bench_allreduce.c - the all-reduce the training loop uses
 * (ic__dist_allreduce_f32: MPI_Allreduce in place, 16 MiB buckets) on a
 * buffer of each size given, timed on rank 0 after one warm-up. Run it under
 * mpirun (bench/bench_mpi.sh); prints per size the median time of REPS calls
 * and the algorithm bandwidth (bytes / time) and bus bandwidth
 * (2 (N-1)/N bytes / time, what a ring moves per link).
 *   mpirun -n 2 bench_allreduce MB... (REPS from BENCH_REPS, default 5)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "intent/ic.h"
#include "train/dist.h"

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct ic_err err;
    if (ic__dist_init(120, &err) != IC_OK) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
        return 1;
    }
    int reps = getenv("BENCH_REPS") ? atoi(getenv("BENCH_REPS")) : 5;
    if (reps < 1 || reps > 100)
        reps = 5;
    int N = ic__dist_size(), rc = 0;
    for (int i = 1; i < argc && rc == 0; i++) {
        size_t n = (size_t)(atof(argv[i]) * 1e6 / 4);
        float *buf = ic_xmalloc((n ? n : 1) * sizeof *buf);
        double t[100];
        for (size_t k = 0; k < n; k++)
            buf[k] = 1.0f;
        for (int r = -1; r < reps && rc == 0; r++) {
            double t0 = ic_time_now();
            rc = ic__dist_allreduce_f32(buf, n, &err) == IC_OK ? 0 : 1;
            if (r >= 0)
                t[r] = ic_time_now() - t0;
        }
        qsort(t, (size_t)reps, sizeof t[0], cmp_double);
        double med = t[reps / 2], bytes = (double)n * 4.0;
        if (rc == 0 && ic__dist_rank() == 0)
            printf("allreduce %d ranks %.1f MB: %.2f ms median of %d, algbw %.3f GB/s, "
                   "busbw %.3f GB/s\n", N, bytes / 1e6, med * 1e3, reps, bytes / med / 1e9,
                   2.0 * (N - 1) / N * bytes / med / 1e9);
        ic_free(buf);
    }
    if (rc)
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
    ic__dist_finalize(rc);
    return rc;
}
