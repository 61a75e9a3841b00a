/* SPDX-License-Identifier: Apache-2.0 */
/*
 * dist.h - the one seam between training and MPI (docs/scale-out.md).
 *
 * Built with MPI (the Makefile's default when mpicc is found; -DIC_MPI),
 * a process started by mpirun (or another PMI/PMIx launcher) joins the job
 * on ic__dist_init; every other process, and every process of a build made
 * with MPI=0, is rank 0 of 1 and every call below is a no-op. Training is
 * the only user: nothing else in the program ever initialises MPI.
 *
 * Collectives return a status with a message naming the rank and the call;
 * a collective that does not complete within the timeout given to
 * ic__dist_init ends the process (a watchdog thread prints why and exits),
 * so a dead or unreachable peer never leaves the others waiting forever.
 */
#ifndef IC_DIST_H
#define IC_DIST_H

#include <stddef.h>
#include <stdint.h>

#include "intent/ic.h"

/* Floats per MPI_Allreduce of the gradient buffer (16 MiB). */
#define IC_DIST_BUCKET ((size_t)1 << 22)

/* 1 when this binary was built with MPI. */
int ic__dist_built(void);
/* Joins the job when started by a launcher (idempotent). timeout_s bounds
 * every later collective. IC_ERR_UNSUPPORTED when a launcher started
 * several processes but the binary has no MPI. */
int ic__dist_init(double timeout_s, struct ic_err *err) IC_WUR;
int ic__dist_rank(void);
int ic__dist_size(void);
/* Sum over ranks of buf[0..n) in place, in buckets of IC_DIST_BUCKET. */
int ic__dist_allreduce_f32(float *buf, size_t n, struct ic_err *err) IC_WUR;
int ic__dist_allreduce_f64(double *buf, size_t n, struct ic_err *err) IC_WUR;
/* Rank 0's bytes to every rank (in buckets, so any size goes). */
int ic__dist_bcast(void *buf, size_t bytes, struct ic_err *err) IC_WUR;
/* Every rank's n doubles to rank 0's recv ((size, n), only read on rank 0). */
int ic__dist_gather_f64(const double *send, size_t n, double *recv, struct ic_err *err) IC_WUR;
/* Leaves the job: MPI_Finalize when failed == 0, else MPI_Abort so that no
 * other rank waits for this one. No-op outside a job. */
void ic__dist_finalize(int failed);

#endif
