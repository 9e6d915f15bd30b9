/*
 * Private layout of mlp_dataset and the entry points shared by the files of
 * lib/data/ (and the batch gathering lib/model/ calls). Every dataset is
 * made by mlp__dataset_build (dataset.c); the readers (idx.c, npz.c,
 * csv.c) and the opening code (open.c) call it and fill the buffers it
 * returns.
 */
#ifndef MLPNET_DATASET_IMPL_H
#define MLPNET_DATASET_IMPL_H

#include "core/core.h"

/*
 * Class names: one block, so a copy is one memdup. It holds `count`
 * offsets from the block's start, then the NUL-terminated UTF-8 names; an
 * unnamed class is "". `bytes` is the size of the whole block.
 */
typedef struct mlp__names {
    size_t bytes;
    int32_t count;
    size_t off[];
} mlp__names;

struct mlp_dataset {
    int32_t n;            /* samples */
    int rank;             /* per-sample rank, 1..3 (3 for uint8 images) */
    int32_t shape[3];     /* per-sample extents, outermost first */
    int32_t c, h, w;      /* the shape right-aligned into C x H x W ([F] is 1 x 1 x F),
                             so c*h*w is always the sample size */
    int is_float;         /* 0: uint8 pixels, 1: float32 values */
    int32_t num_classes;  /* class targets: K >= 1; float targets: 0 */
    int32_t target_dim;   /* float targets: >= 1; class targets: 0 */
    uint8_t *pixels;      /* uint8: n samples, one after the other */
    const float *values;  /* float32: n samples (values_buf, or the caller's) */
    float *values_buf;    /* owned copy of the samples, NULL when borrowed */
    int32_t *labels;      /* class targets: n labels in 0..num_classes-1 */
    const float *targets; /* float targets: n * target_dim (targets_buf, or borrowed) */
    float *targets_buf;   /* owned copy of the targets, NULL when borrowed */
    mlp__names *class_names;   /* names of the classes, or NULL without a map */
    mlp__names *feature_names; /* names of all the sample's values, or NULL */
    int no_targets;            /* rows to predict (MLP_CSV_FEATURES_ONLY): the labels
                                  are 0s that stand for no target; fit and evaluate
                                  refuse the set */
};

/* What mlp__dataset_build makes. */
typedef struct mlp__dataset_spec {
    int32_t n;                  /* samples, >= 1 */
    int rank;                   /* 1..3 */
    int32_t shape[3];           /* `rank` extents, each >= 1 */
    int is_float;               /* 0: uint8 samples, 1: float32 */
    int32_t num_classes;        /* class targets (target_dim 0): >= 0 */
    int32_t target_dim;         /* float targets: >= 1 (then num_classes is 0) */
    const float *borrow_values; /* float32 only: samples to borrow, or NULL to allocate */
    const float *borrow_targets; /* float targets only: borrow, or NULL to allocate */
    /* Blocks from mlp__alloc or mlp__alloc_big the dataset takes over on
     * success (on failure they stay the caller's), instead of allocating
     * its own: float32 samples (n * sample size floats, at least), float
     * targets (n * target_dim), class labels (n, each in 0..num_classes-1).
     * A reader that built its rows hands them over rather than copying
     * them (csv.c). */
    float *adopt_values;
    float *adopt_targets;
    int32_t *adopt_labels;
} mlp__dataset_spec;

/* The spec of a uint8 image dataset of n images C x H x W with class labels. */
static inline mlp__dataset_spec mlp__images_spec(int32_t n, int32_t c, int32_t h,
                                                 int32_t w, int32_t num_classes)
{
    return (mlp__dataset_spec){
        .n = n, .rank = 3, .shape = {c, h, w}, .num_classes = num_classes};
}

/*
 * New dataset as `spec` says, for the caller to fill: samples neither
 * borrowed nor adopted are allocated uninitialised (pixels or values_buf),
 * labels not adopted are 0, float targets neither borrowed nor adopted are
 * allocated uninitialised; no class names. Sizes
 * are checked by the caller (>= 1). Returns MLP_STATUS_OK or
 * MLP_STATUS_NO_MEMORY (also when a size overflows) without a message (the
 * caller writes one that names what it was reading); *out is NULL on
 * failure.
 */
mlp_status mlp__dataset_build(mlp_dataset **out, const mlp__dataset_spec *spec);

/* mlp_dataset_load_idx with `fn`, the public call made, leading every
 * message (mlp_dataset_open reads its splits through it). */
mlp_status mlp__dataset_load_idx(mlp_dataset **out, const char *images_path,
                                 const char *labels_path, int32_t num_classes,
                                 const char *fn);

/* Elements in one sample (c*h*w). */
static inline size_t mlp__dataset_sample_size(const mlp_dataset *ds)
{
    return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* New dataset holding samples [start, start + count) of `src`, with the
 * same shape, storage, targets and names; always an owned copy, also of a
 * borrowing dataset (dataset.c). */
mlp_status mlp__dataset_copy_range(const mlp_dataset *src, int32_t start, int32_t count,
                                   mlp_dataset **out);

/* mlp_dataset_gather with float targets too (either target pointer may be
 * NULL); messages name `fn` (the batcher's entry points). */
mlp_status mlp__dataset_gather_batch(const mlp_dataset *ds, const int32_t *indices,
                                     int32_t n, float *x, int32_t *labels, float *targets,
                                     const char *fn);

/* Column blocks a gather can write at most. */
enum { MLP__GATHER_BLOCKS_MAX = 64 };

/* mlp__dataset_gather_batch, and the memory asked for the samples at
 * next[0..next_n) (valid indices; next may be NULL), ahead of the next
 * gather: the batcher names the next batch's rows while the model trains
 * on this one. Each of the gather's parts asks for its share of them, the
 * share its thread gathers next time. The prefetch changes nothing a
 * caller can observe.
 *
 * With cols NULL (parts is then ignored) x receives the batch by rows, as
 * mlp_dataset_gather writes it. Otherwise by column blocks: cols[0] = 0 <
 * cols[1] < ... < cols[parts] = the sample size (1 <= parts <=
 * MLP__GATHER_BLOCKS_MAX), and block t, columns [cols[t], cols[t + 1]) of
 * every sample, is n rows of cols[t + 1] - cols[t] floats from x + n *
 * cols[t]: the layout a step that splits the first layer by its inputs
 * reads (lib/model/split.c), each part's block gathered by the thread that
 * will read it. The same n x sample-size floats either way; a bad cut is
 * MLP_STATUS_INVALID_ARG, with x untouched. */
mlp_status mlp__dataset_gather_next(const mlp_dataset *ds, const int32_t *indices,
                                    int32_t n, const int32_t *next, int32_t next_n,
                                    int parts, const int32_t *cols, float *x,
                                    int32_t *labels, float *targets, const char *fn);

/* The size of the batch the batcher's next call gives: 0 when that call
 * reports the end of an epoch. Changes nothing. */
int32_t mlp__batcher_next_count(const mlp_batcher *b);

/* mlp_batcher_next_batch with the batch laid out as mlp__dataset_gather_next
 * says (cols NULL: by rows), for mlp_model_fit. */
mlp_status mlp__batcher_next_blocks(mlp_batcher *b, int parts, const int32_t *cols,
                                    float *x, int32_t *labels, float *targets,
                                    int32_t *n);

/* The next global batch of a batcher walking the same order on `size`
 * ranks: *n_global receives its size (0 at the end of an epoch, as
 * mlp_batcher_next_batch), and this rank gathers only its share, samples
 * [n r / size, n (r + 1) / size) of the batch, *n_local of them (possibly
 * 0) into x and labels or targets (data-parallel training, lib/model/). */
mlp_status mlp__batcher_next_share(mlp_batcher *b, int32_t rank, int32_t size, float *x,
                                   int32_t *labels, float *targets, int32_t *n_global,
                                   int32_t *n_local);

/*
 * Gather `n` consecutive samples from `start` as floats into x (n * sample
 * size; uint8 scaled by 1/255), with their labels (class datasets) or
 * float targets (n * target_dim). `labels` and `targets` may be NULL when
 * not wanted; asking for the kind of target the dataset does not have is
 * MLP_STATUS_INVALID_ARG, as is a range outside the dataset. The model
 * room calls it for evaluation (lib/model/model.c).
 */
mlp_status mlp__dataset_rows(const mlp_dataset *ds, int32_t start, int32_t n, float *x,
                             int32_t *labels, float *targets);

/* ---- class names (dataset.c) ------------------------------------------- */

/*
 * The rule for class names, one for every path that takes them: the
 * dataset's and the model's setters, the mapping and CSV readers, the model
 * file reader (lib/io/model_file.c); the model room reaches it through this
 * header. A name is at most MLP_CLASS_NAME_MAX bytes of valid UTF-8 (RFC
 * 3629) without control characters: C0 (U+0000..U+001F), DEL (U+007F) and
 * C1 (U+0080..U+009F), which no printout or JSON string shows as they are.
 * No two names of a set are equal, since names identify classes. An empty
 * name is a matter for the caller: a dataset's class may be unnamed, a
 * model's may not.
 */

/* Check one class name of `len` bytes (a NUL among them is a control
 * character). Returns NULL when valid, else a static phrase saying what is
 * wrong ("is not valid UTF-8"). */
const char *mlp__class_name_problem(const char *s, size_t len);

/* Find a name given twice among `k` names (NULL and "" entries are
 * unnamed and never equal). Returns 1 with *first < *second the positions
 * of the repeat whose second position is the smallest, 0 when the names
 * differ (both set to -1), -1 when out of memory. O(k log k). */
int mlp__class_names_repeat(const char *const *names, int32_t k, int32_t *first,
                            int32_t *second);

/* A name that lists `a` and `b` both hold at different positions: the
 * class a set's ids would give to other samples than another set's (a CSV
 * file read without the training file's class names, lacking one). Returns
 * 1 with *ib the least such position in b and *ia the name's in a, 0 when
 * there is none (both -1), -1 when out of memory. Each list names a class
 * once; NULL and "" entries are unnamed. O((na + nb) log(na + nb)). */
int mlp__class_names_moved(const char *const *a, int32_t na, const char *const *b,
                           int32_t nb, int32_t *ia, int32_t *ib);

/* Replace *slot with a block of `k` names (NULL when k is 0) that must all
 * be set: each non-NULL, 1 to MLP_CLASS_NAME_MAX bytes under the rule
 * above, no two equal (the feature names of datasets and models). Returns
 * MLP_STATUS_OK, or MLP_STATUS_INVALID_ARG or MLP_STATUS_NO_MEMORY with a
 * message that starts with `fn` and names the entry as names[i], *slot
 * unchanged. */
mlp_status mlp__names_set(mlp__names **slot, const char *const *names, int32_t k,
                          const char *fn);

/* New names block of `count` names (a NULL entry is unnamed); NULL when
 * out of memory. The names are not checked here. */
mlp__names *mlp__names_make(const char *const *names, int32_t count);

/* Name k, or NULL when out of range or unnamed. */
const char *mlp__names_get(const mlp__names *names, int32_t k);

/* ---- readers of memory (for the tests and fuzz targets) ---------------- */

/* mlp_dataset_load_npz on an archive held in memory (`len` bytes at `buf`,
 * borrowed for the call); messages name it "npz buffer" (npz.c; for the
 * tests and fuzz targets). */
mlp_status mlp__dataset_load_npz_mem(mlp_dataset **out, const void *buf, size_t len,
                                     int32_t num_classes);

/* The window mlp_dataset_load_csv reads a file through (csv.c): at the start
 * of every record it holds MLP__CSV_WIN_AHEAD bytes ahead, room for a record
 * of the longest kind and its CRLF, or all that is left of the text; it is
 * refilled in blocks that fill it to MLP__CSV_WIN_SIZE bytes. */
#define MLP__CSV_WIN_AHEAD ((size_t)MLP_CSV_MAX_RECORD + 2)
#define MLP__CSV_WIN_SIZE (4 * MLP__CSV_WIN_AHEAD)

/* mlp_dataset_load_csv on text held in memory (`len` bytes at `buf`,
 * borrowed for the call, raw, not gzip); messages name the file `name`
 * (csv.c; for the tests and fuzz targets). */
mlp_status mlp__dataset_load_csv_mem(mlp_dataset **out, const void *buf, size_t len,
                                     const char *name, const mlp_csv_options *opts);

#endif /* MLPNET_DATASET_IMPL_H */
