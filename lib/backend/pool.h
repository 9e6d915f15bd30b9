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

/* One item of mlp__pool_items: fn(arg, i, slot) for item i, run by the
 * thread of part `slot` (0 .. parts - 1), whose scratch it may use. */
typedef void (*mlp__pool_item_fn)(void *arg, int64_t i, int slot);

/* The most parts mlp__pool_items runs: slots of scratch its callers keep. */
enum { MLP__POOL_ITEM_PARTS = 64 };

/*
 * Run fn on every item of [0, n), in at most `most` parts (the thread
 * count, no more than MLP__POOL_ITEM_PARTS; 1 inside a part): part t starts
 * on the items mlp__pool_range gives it and takes them in order; a part
 * that has run out takes the next item not yet started of the others. So a
 * thread held up (a slower core, a core shared with another program) is
 * helped by the others rather than waited for. Which thread runs an item
 * does change with the timing: an item's result must not depend on it,
 * that is, only on the item (its own output, scratch per slot). Returns
 * when every item is done.
 */
void mlp__pool_items(int64_t n, int most, mlp__pool_item_fn fn, void *arg);

/* The chunks mlp__pool_chunks cuts a part's range into, at most: enough
 * for a thread done early to take a share of a slower one's, few enough
 * that a chunk stays a pass over many elements. */
enum { MLP__POOL_CHUNKS = 4 };

/*
 * mlp__pool_for for passes whose results do not depend on where [0, n) is
 * cut (each index's output its own, scratch per index): the parts are as
 * mlp__pool_for's, and each part's range is cut into up to
 * MLP__POOL_CHUNKS chunks (inner bounds multiples of `align`), which the
 * part runs in order unless another part, done with its own, takes them
 * first (mlp__pool_items). fn(arg, lo, hi) is called once per chunk, on
 * whichever thread; [0, n) in one call when there is one part.
 */
void mlp__pool_chunks(int64_t n, int64_t grain, int64_t align, mlp__pool_fn fn,
                      void *arg);

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
