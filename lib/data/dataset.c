/*
 * In-memory datasets: the one constructor every reader uses
 * (mlp__dataset_build), creation from memory, access, splitting and
 * gathering float batches. Readers of files are idx.c and npz.c; label maps
 * and opening the splits of a named dataset are in open.c.
 *
 * Pixels stay uint8 (a quarter of the float size) and are scaled to [0, 1]
 * only when gathered into a batch.
 */
#include <string.h>

#include "core/core.h"
#include "dataset_impl.h"

/* ---- the constructor -------------------------------------------------- */

static size_t image_bytes(const mlp_dataset *ds)
{
    return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

/* The one place a dataset is put together: every reader and copy comes
 * here, so the layout of struct mlp_dataset is filled in only once. */
mlp_status mlp__dataset_build(mlp_dataset **out, int32_t n, int32_t c, int32_t h, int32_t w,
                              int32_t num_classes)
{
    *out = NULL;
    size_t bytes = 1;
    if (!mlp__mul_size(bytes, (size_t)n, &bytes) || !mlp__mul_size(bytes, (size_t)c, &bytes) ||
        !mlp__mul_size(bytes, (size_t)h, &bytes) || !mlp__mul_size(bytes, (size_t)w, &bytes))
        return MLP_STATUS_NO_MEMORY;
    mlp_dataset *ds = mlp__calloc(1, sizeof *ds);
    if (!ds)
        return MLP_STATUS_NO_MEMORY;
    ds->pixels = mlp__alloc(bytes);
    ds->labels = mlp__calloc((size_t)n, sizeof *ds->labels);
    if (!ds->pixels || !ds->labels) {
        mlp_dataset_destroy(ds);
        return MLP_STATUS_NO_MEMORY;
    }
    ds->n = n;
    ds->c = c;
    ds->h = h;
    ds->w = w;
    ds->num_classes = num_classes;
    *out = ds;
    return MLP_STATUS_OK;
}

/* ---- creation and access --------------------------------------------- */

mlp_status mlp_dataset_create(mlp_dataset **out, int32_t n, int32_t channels,
                              int32_t height, int32_t width, const uint8_t *pixels,
                              const int32_t *labels, int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_create";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    if (channels < 1 || height < 1 || width < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: channels x height x width = %d x %d x %d: each must be >= 1",
                          fn, (int)channels, (int)height, (int)width);
    MLP_CHECK_RANGE(num_classes >= 1, fn, "num_classes", num_classes, ">= 1");
    MLP_CHECK_ARG(pixels != NULL, fn, "pixels is NULL");
    MLP_CHECK_ARG(labels != NULL, fn, "labels is NULL");

    size_t bytes = 1;
    if (!mlp__mul_size(bytes, (size_t)n, &bytes) ||
        !mlp__mul_size(bytes, (size_t)channels, &bytes) ||
        !mlp__mul_size(bytes, (size_t)height, &bytes) ||
        !mlp__mul_size(bytes, (size_t)width, &bytes))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %d x %d x %d x %d bytes overflow",
                          fn, (int)n, (int)channels, (int)height, (int)width);
    for (int32_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= num_classes)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: label %d of image %d is outside 0..%d", fn,
                              (int)labels[i], (int)i, (int)num_classes - 1);
    }

    mlp_dataset *ds;
    if (mlp__dataset_build(&ds, n, channels, height, width, num_classes) != MLP_STATUS_OK)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %d images", fn,
                          (int)n);
    memcpy(ds->pixels, pixels, bytes);
    memcpy(ds->labels, labels, (size_t)n * sizeof *labels);
    *out = ds;
    return MLP_STATUS_OK;
}

void mlp_dataset_destroy(mlp_dataset *ds)
{
    if (!ds)
        return;
    mlp__free(ds->pixels);
    mlp__free(ds->labels);
    mlp__free(ds->class_names);
    mlp__free(ds);
}

int32_t mlp_dataset_size(const mlp_dataset *ds)
{
    return ds ? ds->n : 0;
}

int32_t mlp_dataset_channels(const mlp_dataset *ds)
{
    return ds ? ds->c : 0;
}

int32_t mlp_dataset_height(const mlp_dataset *ds)
{
    return ds ? ds->h : 0;
}

int32_t mlp_dataset_width(const mlp_dataset *ds)
{
    return ds ? ds->w : 0;
}

int32_t mlp_dataset_num_classes(const mlp_dataset *ds)
{
    return ds ? ds->num_classes : 0;
}

int32_t mlp_dataset_label(const mlp_dataset *ds, int32_t i)
{
    if (!ds || i < 0 || i >= ds->n)
        return -1;
    return ds->labels[i];
}

const uint8_t *mlp_dataset_image(const mlp_dataset *ds, int32_t i)
{
    if (!ds || i < 0 || i >= ds->n)
        return NULL;
    return ds->pixels + (size_t)i * image_bytes(ds);
}

const char *mlp_dataset_class_name(const mlp_dataset *ds, int32_t k)
{
    /* A map may leave classes unnamed; those read as empty and give NULL. */
    if (!ds || !ds->class_names || k < 0 || k >= ds->num_classes ||
        ds->class_names[k][0] == '\0')
        return NULL;
    return ds->class_names[k];
}

/* ---- copies ----------------------------------------------------------- */

mlp_status mlp__dataset_copy_range(const mlp_dataset *src, int32_t start, int32_t count,
                                   mlp_dataset **out)
{
    size_t img = image_bytes(src);
    mlp_dataset *ds;
    if (mlp__dataset_build(&ds, count, src->c, src->h, src->w, src->num_classes) !=
        MLP_STATUS_OK)
        goto oom;
    memcpy(ds->pixels, src->pixels + (size_t)start * img, (size_t)count * img);
    memcpy(ds->labels, src->labels + start, (size_t)count * sizeof *ds->labels);
    if (src->class_names) {
        ds->class_names = mlp__memdup(src->class_names, (size_t)src->num_classes *
                                                            sizeof *src->class_names);
        if (!ds->class_names)
            goto oom;
    }
    *out = ds;
    return MLP_STATUS_OK;

oom:
    mlp_dataset_destroy(ds);
    *out = NULL;
    return mlp__error(MLP_STATUS_NO_MEMORY, "out of memory copying %d images",
                      (int)count);
}

mlp_status mlp_dataset_split(const mlp_dataset *src, int32_t n_first,
                             mlp_dataset **first, mlp_dataset **second)
{
    static const char fn[] = "mlp_dataset_split";
    if (first)
        *first = NULL;
    if (second)
        *second = NULL;
    MLP_CHECK_ARG(first != NULL && second != NULL, fn, "first or second is NULL");
    MLP_CHECK_ARG(src != NULL, fn, "src is NULL");
    if (n_first < 1 || n_first >= src->n)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: n_first %d is outside 1..%d", fn,
                          (int)n_first, (int)src->n - 1);
    mlp_dataset *a, *b;
    MLP_TRY(mlp__dataset_copy_range(src, 0, n_first, &a));
    mlp_status st = mlp__dataset_copy_range(src, n_first, src->n - n_first, &b);
    if (st != MLP_STATUS_OK) {
        mlp_dataset_destroy(a);
        return st;
    }
    *first = a;
    *second = b;
    return MLP_STATUS_OK;
}

mlp_status mlp_dataset_gather(const mlp_dataset *ds, const int32_t *indices, int32_t n,
                              float *x, int32_t *labels)
{
    static const char fn[] = "mlp_dataset_gather";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(indices != NULL, fn, "indices is NULL");
    MLP_CHECK_ARG(x != NULL, fn, "x is NULL");
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    /* Check every index first so a bad one leaves the buffers untouched. */
    for (int32_t i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= ds->n)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: indices[%d] = %d is outside 0..%d", fn, (int)i,
                              (int)indices[i], (int)ds->n - 1);
    }
    const size_t img = image_bytes(ds);
    const float scale = 1.0f / 255.0f;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *src = ds->pixels + (size_t)indices[i] * img;
        float *dst = x + (size_t)i * img;
        for (size_t j = 0; j < img; j++)
            dst[j] = (float)src[j] * scale;
        if (labels)
            labels[i] = ds->labels[indices[i]];
    }
    return MLP_STATUS_OK;
}
