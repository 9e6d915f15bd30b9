/*
 * Private layout of mlp_dataset and the entry points shared by the files of
 * lib/data/. Every dataset is made by mlp__dataset_build (dataset.c); the
 * readers (idx.c, npz.c) and the opening code (open.c) call it and fill
 * the buffers it returns.
 */
#ifndef MLPNET_DATASET_IMPL_H
#define MLPNET_DATASET_IMPL_H

#include "core/core.h"

/* One class name: a character of at most 4 UTF-8 bytes, NUL-terminated. */
typedef char mlp__class_name[8];

struct mlp_dataset {
    int32_t n, c, h, w;    /* n images of c x h x w bytes */
    int32_t num_classes;
    uint8_t *pixels;       /* n*c*h*w bytes, image after image */
    int32_t *labels;       /* n labels in 0..num_classes-1 */
    mlp__class_name *class_names; /* num_classes UTF-8 names, or NULL without a map */
};

/*
 * New dataset of n images of c x h x w bytes and num_classes classes, its
 * pixels uninitialised and its labels 0, for the caller to fill; no map.
 * Sizes must be >= 1 (checked by the caller). Returns MLP_STATUS_OK or
 * MLP_STATUS_NO_MEMORY without a message (the caller writes one that names
 * what it was reading); *out is NULL on failure.
 */
mlp_status mlp__dataset_build(mlp_dataset **out, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t num_classes);

/* New dataset holding images [start, start + count) of `src`, with the
 * same shape, class count and map (dataset.c). */
mlp_status mlp__dataset_copy_range(const mlp_dataset *src, int32_t start, int32_t count,
                                   mlp_dataset **out);

/* mlp_dataset_load_npz on an archive held in memory (`len` bytes at `buf`,
 * borrowed for the call); messages name it "npz buffer" (npz.c; for the
 * tests and fuzz targets). */
mlp_status mlp__dataset_load_npz_mem(mlp_dataset **out, const void *buf, size_t len,
                                     int32_t num_classes);

#endif /* MLPNET_DATASET_IMPL_H */
