/*
 * The ways the library can train a small model on two threads: the batch
 * split by rows, the first layer split by its inputs (lib/model/split.c,
 * the way an MLP's step goes); the batch split by rows through every layer
 * (the way before the first-layer split, forced with the model's
 * first_split_off switch); and each product and pass split across the
 * threads (every other model's way, forced with split_off). The
 * first-layer split twice: with each batch gathered in the column blocks
 * its parts read (mlp__split_input_blocks, as mlp_model_fit gathers), and
 * gathered by rows. Baseline MLP (784 -> 3 x 100 ELU -> 47, batch 100,
 * SGD), the same shuffled order for every epoch of a gather (asking for the
 * next batch's rows, as the batcher does) and a training step per batch,
 * five kinds of epoch in each round: 1 thread and the four ways on 2
 * threads. Then the same model at SHORT rows a batch, too few to split by
 * rows: 1 thread, the first layer split by its inputs with the rest of the
 * step on one thread (the library's way), and each product and pass split
 * (its way before). Rounds interleave the kinds so that a drift of the
 * machine's speed touches all alike; the figures are medians, with what the
 * machine charges for handing data between its cores now. Wall time.
 * Usage: bench_split [rounds].
 */
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "model/model_impl.h"

#define BENCH_NAME "bench_split"
#include "bench_baseline.h"
#include "bench_handover.h"
#include "bench_util.h"

enum { BATCH = 100, SHORT = 16, MAX_ROUNDS = 20 };

enum { ONE, FIRST, FIRST_ROWS, ROWS, PRODUCTS, KINDS };

static const char *const kind_names[KINDS] = {
    "1 thread", "2 threads, rows + first layer", "  the same, batch by rows",
    "2 threads, split by rows", "2 threads, split by products"};

/* Seconds of one epoch of `kind` over `order` (steps batches of `batch`
 * rows). */
static double epoch(int kind, int32_t batch, mlp_model *m, mlp_optimizer *opt,
                    const mlp_dataset *ds, const int32_t *order, int32_t steps)
{
    CHECK(mlp_set_num_threads(kind == ONE ? 1 : 2));
    m->split_off = kind == PRODUCTS;
    m->first_split_off = kind == ROWS;
    int32_t cols[MLP__CUT_MAX + 1];
    const int blocks = kind == FIRST ? mlp__split_input_blocks(m, batch, cols) : 0;
    const double t0 = bench_now();
    for (int32_t s = 0; s < steps; s++) {
        const int32_t *rows = order + (int64_t)s * batch;
        CHECK(mlp__dataset_gather_next(
            ds, rows, batch, rows + batch, s + 1 < steps ? batch : 0, blocks,
            blocks ? cols : NULL, m->xbuf, m->lbuf, NULL, BENCH_NAME));
        m->x_blocks = blocks;
        CHECK(
            mlp__model_train_step(m, opt, m->lbuf, NULL, batch, NULL, NULL, BENCH_NAME));
    }
    return bench_now() - t0;
}

int main(int argc, char **argv)
{
    const int rounds = argc > 1 ? atoi(argv[1]) : 5;
    if (rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "%s: rounds must be 1..%d\n", BENCH_NAME, (int)MAX_ROUNDS);
        return 1;
    }
    if (bench_cpu_clock()) {
        printf("%s: not measured on the CPU clock (it counts both threads)\n",
               BENCH_NAME);
        return 0;
    }
    const char *what;
    mlp_dataset *train = bench_baseline_data(&what);
    mlp_model *m = bench_baseline_model();
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    CHECK(mlp_optimizer_set_learning_rate(opt, 0.01));
    CHECK(mlp__model_reserve(m, BATCH, "bench"));

    const int32_t n = mlp_dataset_size(train), steps = n / BATCH;
    int32_t *order = malloc((size_t)n * sizeof *order);
    if (!order)
        return 1;
    mlp_rng rng;
    mlp__rng_seed(&rng, 7);
    for (int32_t i = 0; i < n; i++)
        order[i] = i;
    mlp__rng_shuffle(&rng, order, n);

    double t[KINDS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < KINDS; k++)
            t[k][r] = epoch(k, BATCH, m, opt, train, order, steps);

    printf("%s: %s, batch %d, %d steps an epoch, median of %d rounds, wall time\n",
           BENCH_NAME, what, BATCH, (int)steps, rounds);
    double med[KINDS];
    for (int k = 0; k < KINDS; k++) {
        med[k] = bench_median(t[k], rounds); /* sorts: [0] and [rounds - 1] */
        printf("  %-31s %7.1f ms an epoch (%.1f-%.1f)\n", kind_names[k], med[k] * 1e3,
               t[k][0] * 1e3, t[k][rounds - 1] * 1e3);
    }
    printf("  2 threads against 1: %.2fx rows + first layer (%.2fx with the batch by "
           "rows), %.2fx split by rows, %.2fx split by products\n",
           med[ONE] / med[FIRST], med[ONE] / med[FIRST_ROWS], med[ONE] / med[ROWS],
           med[ONE] / med[PRODUCTS]);

    /* Batches too short to split by rows. */
    static const int short_kinds[] = {ONE, FIRST, PRODUCTS};
    enum { SHORT_KINDS = sizeof short_kinds / sizeof short_kinds[0] };
    const int32_t short_steps = n / SHORT;
    double ts[SHORT_KINDS][MAX_ROUNDS];
    for (int r = 0; r < rounds; r++)
        for (int k = 0; k < SHORT_KINDS; k++)
            ts[k][r] = epoch(short_kinds[k], SHORT, m, opt, train, order, short_steps);
    printf("%s: batch %d, %d steps an epoch, median of %d rounds\n", BENCH_NAME, SHORT,
           (int)short_steps, rounds);
    static const char *const short_names[SHORT_KINDS] = {
        "1 thread", "2 threads, first layer alone", "2 threads, split by products"};
    for (int k = 0; k < SHORT_KINDS; k++) {
        const double med = bench_median(ts[k], rounds);
        printf("  %-31s %7.1f ms an epoch (%.1f-%.1f)", short_names[k], med * 1e3,
               ts[k][0] * 1e3, ts[k][rounds - 1] * 1e3);
        if (k > 0)
            printf(": %.2fx against 1 thread", bench_median(ts[0], rounds) / med);
        printf("\n");
    }
    CHECK(mlp_set_num_threads(2));
    bench_handover_print(mlp_model_param_count(m));

    free(order);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    return 0;
}
