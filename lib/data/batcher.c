/*
 * Batch iterator: walks a dataset in batches of `batch_size` samples, one
 * epoch after another, in a fresh random order per epoch when shuffling.
 *
 * The permutation is allocated once at creation, so iterating allocates
 * nothing. Each epoch restarts from the identity and shuffles with a
 * generator seeded from (seed, epoch number), so epoch k's order is a
 * function of the seed and k alone: a run resumed at epoch k (see
 * mlp_batcher_set_epoch) sees the same batches as an uninterrupted one.
 */
#include "core/core.h"
#include "dataset_impl.h"

struct mlp_batcher {
    const mlp_dataset *ds; /* borrowed */
    int32_t batch_size;
    int shuffle;
    uint64_t seed;
    int32_t epoch; /* number of the next epoch to start, 0-based */
    int32_t *perm; /* ds->n image indices in this epoch's order */
    int32_t pos;   /* next position in perm */
    int in_epoch;  /* 0: the next call starts a new epoch */
    int drop_last; /* an epoch ends at a batch smaller than batch_size */
};

/* The rows of the batch that starts with `left` samples left in the epoch:
 * batch_size, or what is left, or 0 (the epoch is over) when that is less
 * than a batch the batcher leaves out. */
static int32_t batch_rows(const mlp_batcher *b, int32_t left)
{
    if (left >= b->batch_size)
        return b->batch_size;
    return b->drop_last ? 0 : left;
}

mlp_status mlp_batcher_create(mlp_batcher **out, const mlp_dataset *ds,
                              int32_t batch_size, int shuffle, uint64_t seed)
{
    static const char fn[] = "mlp_batcher_create";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_RANGE(batch_size >= 1, fn, "batch_size", batch_size, ">= 1");

    mlp_batcher *b = mlp__calloc(1, sizeof *b);
    if (!b)
        goto oom;
    b->perm = mlp__calloc((size_t)ds->n, sizeof *b->perm);
    if (!b->perm)
        goto oom;
    b->ds = ds;
    b->batch_size = batch_size;
    b->shuffle = shuffle != 0;
    b->seed = seed;
    *out = b;
    return MLP_STATUS_OK;

oom:
    mlp_batcher_destroy(b);
    return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
}

static void start_epoch(mlp_batcher *b)
{
    for (int32_t i = 0; i < b->ds->n; i++)
        b->perm[i] = i;
    if (b->shuffle) {
        mlp_rng rng;
        mlp__rng_seed(&rng, b->seed ^ ((uint64_t)b->epoch * 0x9E3779B97F4A7C15ull));
        mlp__rng_shuffle(&rng, b->perm, b->ds->n);
    }
    b->epoch = b->epoch < INT32_MAX ? b->epoch + 1 : 0; /* after 2^31 epochs, wraps */
    b->pos = 0;
    b->in_epoch = 1;
}

/* Share `rank` of `size` of the next batch (balanced shares, in 64 bits:
 * count * size may overflow int32): its rows gathered into x, *n_global
 * the batch's rows and *n_local the share's, both 0 at the end of an epoch;
 * `fn` names the entry point in messages. */
static mlp_status take_share(mlp_batcher *b, int32_t rank, int32_t size, int parts,
                             const int32_t *cols, float *x, int32_t *labels,
                             float *targets, int32_t *n_global, int32_t *n_local,
                             const char *fn)
{
    *n_global = 0;
    *n_local = 0;
    if (!b->in_epoch)
        start_epoch(b);
    const int32_t left = b->ds->n - b->pos, count = batch_rows(b, left);
    if (count == 0) {
        b->in_epoch = 0; /* report the end once; the next call starts over */
        return MLP_STATUS_OK;
    }
    int32_t lo = (int32_t)((int64_t)count * rank / size);
    int32_t hi = (int32_t)((int64_t)count * (rank + 1) / size);
    /* The share's rows of the next batch, scattered over the dataset when
     * shuffled, load while the caller trains on this one (without it, a
     * shuffled gather waits on every row it reads). */
    const int32_t next_count = b->shuffle ? batch_rows(b, left - count) : 0;
    const int32_t next_lo = (int32_t)((int64_t)next_count * rank / size),
                  next_hi = (int32_t)((int64_t)next_count * (rank + 1) / size);
    if (hi > lo)
        MLP_TRY(mlp__dataset_gather_next(
            b->ds, b->perm + b->pos + lo, hi - lo, b->perm + b->pos + count + next_lo,
            next_hi - next_lo, parts, cols, x, labels, targets, fn));
    b->pos += count;
    *n_global = count;
    *n_local = hi - lo;
    return MLP_STATUS_OK;
}

/* The next batch of every entry point, by rows (cols NULL) or by column
 * blocks; `fn` names the entry point in messages. */
static mlp_status next_batch(mlp_batcher *b, int parts, const int32_t *cols, float *x,
                             int32_t *labels, float *targets, int32_t *n, const char *fn)
{
    MLP_CHECK_ARG(n != NULL, fn, "n is NULL");
    *n = 0;
    MLP_CHECK_ARG(b != NULL, fn, "batcher is NULL");
    MLP_CHECK_ARG(x != NULL, fn, "x is NULL");
    int32_t all;
    return take_share(b, 0, 1, parts, cols, x, labels, targets, n, &all, fn);
}

int32_t mlp__batcher_next_count(const mlp_batcher *b)
{
    /* when the next call starts an epoch, all the samples are left */
    return batch_rows(b, b->in_epoch ? b->ds->n - b->pos : b->ds->n);
}

mlp_status mlp__batcher_next_blocks(mlp_batcher *b, int parts, const int32_t *cols,
                                    float *x, int32_t *labels, float *targets, int32_t *n)
{
    return next_batch(b, parts, cols, x, labels, targets, n, "mlp_model_fit");
}

mlp_status mlp__batcher_next_share(mlp_batcher *b, int32_t rank, int32_t size, float *x,
                                   int32_t *labels, float *targets, int32_t *n_global,
                                   int32_t *n_local)
{
    return take_share(b, rank, size, 0, NULL, x, labels, targets, n_global, n_local,
                      "mlp_model_fit");
}

mlp_status mlp_batcher_next(mlp_batcher *b, float *x, int32_t *labels, int32_t *n)
{
    static const char fn[] = "mlp_batcher_next";
    if (n)
        *n = 0;
    MLP_CHECK_ARG(labels != NULL, fn, "labels is NULL");
    return next_batch(b, 0, NULL, x, labels, NULL, n, fn);
}

mlp_status mlp_batcher_next_batch(mlp_batcher *b, float *x, int32_t *labels,
                                  float *targets, int32_t *n)
{
    return next_batch(b, 0, NULL, x, labels, targets, n, "mlp_batcher_next_batch");
}

int32_t mlp_batcher_batch_count(const mlp_batcher *b)
{
    if (!b)
        return 0;
    /* In 64 bits: n + batch_size - 1 may overflow int32. */
    int64_t n = b->ds->n, bs = b->batch_size;
    return (int32_t)((b->drop_last ? n : n + bs - 1) / bs);
}

mlp_status mlp_batcher_set_drop_last(mlp_batcher *b, int drop_last)
{
    MLP_CHECK_ARG(b != NULL, "mlp_batcher_set_drop_last", "batcher is NULL");
    b->drop_last = drop_last != 0;
    return MLP_STATUS_OK;
}

mlp_status mlp_batcher_set_epoch(mlp_batcher *b, int32_t epoch)
{
    static const char fn[] = "mlp_batcher_set_epoch";
    MLP_CHECK_ARG(b != NULL, fn, "batcher is NULL");
    /* below INT32_MAX: the batcher counts on to the next epoch */
    MLP_CHECK_RANGE(epoch >= 0 && epoch < INT32_MAX, fn, "epoch", epoch,
                    "in 0..2147483646");
    b->epoch = epoch;
    b->in_epoch = 0;
    return MLP_STATUS_OK;
}

void mlp_batcher_reset(mlp_batcher *b)
{
    if (b)
        b->in_epoch = 0;
}

void mlp_batcher_destroy(mlp_batcher *b)
{
    if (!b)
        return;
    mlp__free(b->perm);
    mlp__free(b);
}
