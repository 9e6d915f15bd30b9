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
 *
 * Then the core probe: a product in each thread's cache, on every thread
 * at once against on one. A virtual machine's two vCPUs may also share
 * one physical core for a while (as its two hardware threads, or taking
 * turns on it), where a second thread adds next to nothing: the baseline
 * MLP's 2 threads ran 0.96x as fast as 1 in such a spell, 1.78x a minute
 * later on cores of their own. The probe tells the spells apart: about 1x
 * the time on cores of their own, about 2x on one core shared.
 */
#ifndef MLPNET_BENCH_HANDOVER_H
#define MLPNET_BENCH_HANDOVER_H

#include <stdio.h>
#include <stdlib.h>

#include "backend/gemm.h"
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

/* The core probe: each part multiplies two CORE_N x CORE_N matrices of its
 * own CORE_PRODUCTS times, in its core's cache: the products' arithmetic
 * alone, which OpenBLAS runs near the core's peak. */
enum { CORE_N = 96, CORE_PRODUCTS = 40, CORE_REPS = 50 };

typedef struct core_probe {
    float *mem; /* per part: A, B and C, CORE_N x CORE_N each */
} core_probe;

static void core_work(void *arg, int64_t lo, int64_t hi)
{
    const core_probe *p = arg;
    const int64_t nn = (int64_t)CORE_N * CORE_N;
    for (int64_t t = lo; t < hi; t++) {
        float *a = p->mem + t * 3 * nn;
        mlp__gemm g = {0,      0,      CORE_N, CORE_N, CORE_N,     1.0f,   a,
                       CORE_N, a + nn, CORE_N, 0.0f,   a + 2 * nn, CORE_N, NULL};
        for (int r = 0; r < CORE_PRODUCTS; r++)
            mlp__sgemm_run(&g);
    }
}

/* The time of the products on every thread at once against on one thread
 * alone (at a thread count of 1, so that the product is not split): best
 * of CORE_REPS each. */
static double core_probe_ratio(void)
{
    const int parts = mlp_get_num_threads();
    const int64_t nn = (int64_t)CORE_N * CORE_N;
    core_probe p = {calloc((size_t)(parts * 3 * nn), sizeof(float))};
    CHECK(p.mem ? MLP_STATUS_OK : MLP_STATUS_NO_MEMORY);
    for (int64_t i = 0; i < parts * 3 * nn; i++)
        p.mem[i] = (float)(i % 7) * 0.125f;
    double best[2] = {1e30, 1e30};
    for (int all = 1; all >= 0; all--) {
        CHECK(mlp_set_num_threads(all ? parts : 1));
        for (int r = 0; r < CORE_REPS; r++) {
            const double t0 = bench_now();
            mlp__pool_for(all ? parts : 1, 1, 1, core_work, &p);
            const double t = bench_now() - t0;
            if (t < best[all])
                best[all] = t;
        }
    }
    CHECK(mlp_set_num_threads(parts));
    free(p.mem);
    return best[1] / best[0];
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
    printf("  a product in cache on every thread at once against on one: %.2fx the "
           "time\n"
           "    (about 1x: a core each; about %dx: the threads share a core)\n",
           core_probe_ratio(), mlp_get_num_threads());
}

#endif /* MLPNET_BENCH_HANDOVER_H */
