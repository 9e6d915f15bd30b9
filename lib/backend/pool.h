/*
 * The library's thread pool: persistent worker threads that run the parts
 * of a parallel-for. Matrix products, element passes, the gather of a
 * batch and the optimizer's step all use it, so the same threads stay busy
 * through every phase of a training step (and stay warm between phases,
 * which an OpenMP region set up per pass does not guarantee).
 *
 * The workers are created on first use for the thread count of
 * mlp_set_num_threads (more on a later call that asks for more) and
 * joined when the library is unloaded. After a part they spin briefly for
 * the next one, then sleep.
 */
#ifndef MLPNET_POOL_H
#define MLPNET_POOL_H

#include <stdint.h>

/* One part of a parallel-for: fn(arg, lo, hi) for the range [lo, hi). */
typedef void (*mlp__pool_fn)(void *arg, int64_t lo, int64_t hi);

/* The number of parts mlp__pool_for cuts [0, n) into: the thread count,
 * fewer when a part would hold less than `grain` items (at least 1); 1
 * when called from inside a part, whose work is already split. */
int mlp__pool_parts(int64_t n, int64_t grain);

/* The bounds of part t of `parts` over [0, n): balanced, every inner
 * bound a multiple of `align` (>= 1), part t below part t + 1. */
void mlp__pool_range(int64_t n, int parts, int64_t align, int t, int64_t *lo,
                     int64_t *hi);

/*
 * Cut [0, n) into mlp__pool_parts(n, grain) parts (mlp__pool_range with
 * `align`) and run fn on each, part 0 on the calling thread and the others
 * on workers; return when every part is done. The parts are the same
 * whichever thread runs them, so results never depend on the scheduling:
 * when the pool cannot run them in parallel (a call from inside a part, a
 * second caller while the pool is busy, workers that could not be
 * started), the caller runs every part itself, in order. n <= 0 does
 * nothing.
 */
void mlp__pool_for(int64_t n, int64_t grain, int64_t align, mlp__pool_fn fn, void *arg);

/* The grain (items a part holds at least) for items of `per_item` elements
 * each, so that a part holds at least `min_elems` elements. */
static inline int64_t mlp__pool_grain(int64_t per_item, int64_t min_elems)
{
    if (per_item < 1)
        per_item = 1;
    return (min_elems + per_item - 1) / per_item;
}

/* Workers running (0 before the first parallel call); for tests. */
int mlp__pool_workers(void);

/* Stop and join the workers (the library does this when unloaded; the next
 * parallel call starts them again). Must not be called from inside a part. */
void mlp__pool_shutdown(void);

#endif /* MLPNET_POOL_H */
