/*
 * The hand-over probe of the benchmarks that run a small model on 2 or more
 * threads (needs the library's internals, and BENCH_NAME as bench_util.h): a
 * pass over a buffer split across the pool's threads, timed when every
 * thread has just read all of the buffer (as the optimizer's step writes
 * the weights that every thread's products read) and when each has read
 * only its own range. The first pays for handing the data from core to
 * core, which every phase of a step split across threads pays; the
 * figure depends on the machine, and on a virtual machine on where its
 * cores sit at the time, so benchmarks print it beside their 2-thread
 * figures.
 */
#ifndef MLPNET_BENCH_HANDOVER_H
#define MLPNET_BENCH_HANDOVER_H

#include <stdio.h>
#include <stdlib.h>

#include "backend/pool.h"
#include "bench_util.h"
#include "mlpnet/mlpnet.h"

enum { HANDOVER_REPS = 2000 };

/* A buffer, each part reading all of it or its own range, then adding 1
 * to its own range. */
typedef struct probe {
    float *buf;
    int64_t n;
    volatile float sink;
} probe;

static void probe_read_all(void *arg, int64_t lo, int64_t hi)
{
    (void)lo;
    (void)hi;
    probe *p = arg;
    float s = 0.0f;
    for (int64_t i = 0; i < p->n; i += 16) /* a float of every cache line */
        s += p->buf[i];
    p->sink = s;
}

static void probe_read_own(void *arg, int64_t lo, int64_t hi)
{
    probe *p = arg;
    float s = 0.0f;
    for (int64_t i = lo; i < hi; i += 16)
        s += p->buf[i];
    p->sink = s;
}

static void probe_add(void *arg, int64_t lo, int64_t hi)
{
    probe *p = arg;
    for (int64_t i = lo; i < hi; i++)
        p->buf[i] += 1.0f;
}

/* Microseconds of the parts' write after the parts read it all (shared)
 * and after each read its own range (own); the best of HANDOVER_REPS. */
static void handover_probe(int64_t n, double *shared_us, double *own_us)
{
    probe p = {.n = n};
    p.buf = calloc((size_t)n, sizeof(float));
    CHECK(p.buf ? MLP_STATUS_OK : MLP_STATUS_NO_MEMORY);
    const int parts = mlp_get_num_threads();
    double best[2] = {1e30, 1e30};
    for (int r = 0; r < HANDOVER_REPS; r++)
        for (int own = 0; own < 2; own++) {
            if (own)
                mlp__pool_for(n, 16, 16, probe_read_own, &p);
            else
                mlp__pool_for(parts, 1, 1, probe_read_all, &p);
            const double t0 = bench_now();
            mlp__pool_for(n, 16, 16, probe_add, &p);
            const double t = bench_now() - t0;
            if (t < best[own])
                best[own] = t;
        }
    free(p.buf);
    *shared_us = best[0] * 1e6;
    *own_us = best[1] * 1e6;
}

/* Print the probe over `n` floats (the model's parameters) at the
 * current thread count. */
static void bench_handover_print(int64_t n)
{
    double shared_us, own_us;
    handover_probe(n, &shared_us, &own_us);
    printf("  writing the parameters' size (%.0f KB) split across the threads, best of "
           "%d:\n"
           "    after every thread read all of it %8.1f us\n"
           "    after each read only its own part %8.1f us (%.1fx)\n",
           (double)n * sizeof(float) / 1024.0, (int)HANDOVER_REPS, shared_us, own_us,
           shared_us / own_us);
}

#endif /* MLPNET_BENCH_HANDOVER_H */
