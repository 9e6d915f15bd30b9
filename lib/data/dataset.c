/*
 * In-memory datasets: the one constructor every reader uses
 * (mlp__dataset_build), creation from memory, access, class names,
 * splitting and gathering float batches. Readers of files are idx.c, npz.c
 * and csv.c; label maps and opening the splits of a named dataset are in
 * open.c.
 *
 * Pixels stay uint8 (a quarter of the float size) and are scaled to [0, 1]
 * only when gathered into a batch. Float32 samples are gathered as they
 * are; a borrowing dataset reads the caller's arrays in place.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "backend/pool.h"
#include "core/core.h"
#include "dataset_impl.h"

/* Labels must lie in 0..num_classes-1; the message names the first that
 * does not. */
static mlp_status check_labels(const int32_t *labels, int32_t n, int32_t num_classes,
                               const char *fn)
{
    for (int32_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= num_classes)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: label %d of sample %d is outside 0..%d", fn,
                              (int)labels[i], (int)i, (int)num_classes - 1);
    }
    return MLP_STATUS_OK;
}

/* ---- the constructor -------------------------------------------------- */

/* The one place a dataset is put together: every reader and copy comes
 * here, so the layout of struct mlp_dataset is filled in only once. */
mlp_status mlp__dataset_build(mlp_dataset **out, const mlp__dataset_spec *sp)
{
    *out = NULL;
    size_t elems = (size_t)sp->n;
    for (int a = 0; a < sp->rank; a++)
        if (!mlp__mul_size(elems, (size_t)sp->shape[a], &elems))
            return MLP_STATUS_NO_MEMORY;
    size_t tbytes = 0;
    if (sp->target_dim > 0 &&
        (!mlp__mul_size((size_t)sp->n, (size_t)sp->target_dim, &tbytes) ||
         !mlp__mul_size(tbytes, sizeof(float), &tbytes)))
        return MLP_STATUS_NO_MEMORY;
    size_t xbytes = elems;
    if (sp->is_float && !mlp__mul_size(elems, sizeof(float), &xbytes))
        return MLP_STATUS_NO_MEMORY;
    mlp_dataset *ds = mlp__calloc(1, sizeof *ds);
    if (!ds)
        return MLP_STATUS_NO_MEMORY;
    ds->n = sp->n;
    ds->rank = sp->rank;
    ds->c = ds->h = ds->w = 1;
    int32_t *chw[3] = {&ds->c, &ds->h, &ds->w};
    for (int a = 0; a < sp->rank; a++) {
        ds->shape[a] = sp->shape[a];
        *chw[3 - sp->rank + a] = sp->shape[a];
    }
    ds->is_float = sp->is_float != 0;
    ds->num_classes = sp->target_dim > 0 ? 0 : sp->num_classes;
    ds->target_dim = sp->target_dim;
    int ok = 1;
    if (!sp->is_float) {
        ok = (ds->pixels = mlp__alloc_big(xbytes)) != NULL;
    } else if (sp->borrow_values) {
        ds->values = sp->borrow_values;
    } else if (sp->adopt_values) {
        ds->values = ds->values_buf = sp->adopt_values;
    } else {
        ok = (ds->values = ds->values_buf = mlp__alloc_big(xbytes)) != NULL;
    }
    if (ok && sp->target_dim == 0)
        ok = (ds->labels = sp->adopt_labels
                               ? sp->adopt_labels
                               : mlp__calloc((size_t)sp->n, sizeof *ds->labels)) != NULL;
    else if (ok && sp->borrow_targets)
        ds->targets = sp->borrow_targets;
    else if (ok && sp->adopt_targets)
        ds->targets = ds->targets_buf = sp->adopt_targets;
    else if (ok)
        ok = (ds->targets = ds->targets_buf = mlp__alloc(tbytes)) != NULL;
    if (!ok) {
        /* What was to be adopted stays the caller's. */
        if (ds->values_buf == sp->adopt_values)
            ds->values_buf = NULL;
        if (ds->labels == sp->adopt_labels)
            ds->labels = NULL;
        if (ds->targets_buf == sp->adopt_targets)
            ds->targets_buf = NULL;
        mlp_dataset_destroy(ds);
        return MLP_STATUS_NO_MEMORY;
    }
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
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: channels x height x width = %d x %d x %d: each must be >= 1", fn,
            (int)channels, (int)height, (int)width);
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
    MLP_TRY(check_labels(labels, n, num_classes, fn));

    mlp_dataset *ds;
    mlp__dataset_spec spec = mlp__images_spec(n, channels, height, width, num_classes);
    if (mlp__dataset_build(&ds, &spec) != MLP_STATUS_OK)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %d images", fn,
                          (int)n);
    memcpy(ds->pixels, pixels, bytes);
    memcpy(ds->labels, labels, (size_t)n * sizeof *labels);
    *out = ds;
    return MLP_STATUS_OK;
}

/* Check the arguments shared by the two float creators and compute the
 * sample size; the message names `fn`. */
static mlp_status check_f32_args(mlp_dataset **out, int32_t n, int rank,
                                 const int32_t *shape, const float *x, unsigned flags,
                                 size_t *sample, const char *fn)
{
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    MLP_CHECK_RANGE(rank >= 1 && rank <= 3, fn, "rank", rank, "in 1..3");
    MLP_CHECK_ARG(shape != NULL, fn, "shape is NULL");
    MLP_CHECK_ARG(x != NULL, fn, "x is NULL");
    if (flags != MLP_DATASET_COPY && flags != MLP_DATASET_BORROW)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: flags = %u: use MLP_DATASET_COPY or MLP_DATASET_BORROW",
                          fn, flags);
    size_t size = 1, total;
    for (int a = 0; a < rank; a++) {
        if (shape[a] < 1)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: shape[%d] = %d must be >= 1",
                              fn, a, (int)shape[a]);
        if (!mlp__mul_size(size, (size_t)shape[a], &size))
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: the sample size overflows",
                              fn);
    }
    if (!mlp__mul_size(size, (size_t)n, &total) ||
        !mlp__mul_size(total, sizeof(float), &total) || size > (size_t)INT64_MAX)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %d samples of %zu floats overflow the address space", fn,
                          (int)n, size);
    *sample = size;
    return MLP_STATUS_OK;
}

/* Refuse NaN and infinity: the first one found is named by sample and
 * element, under the name `what` ("feature" or "target"). */
static mlp_status check_finite(const float *v, int32_t n, size_t per, const char *what,
                               const char *fn)
{
    for (int32_t i = 0; i < n; i++)
        for (size_t j = 0; j < per; j++)
            if (!isfinite(v[(size_t)i * per + j]))
                return mlp__error(MLP_STATUS_INVALID_ARG, "%s: sample %d, %s %zu is %s",
                                  fn, (int)i, what, j,
                                  isnan(v[(size_t)i * per + j]) ? "NaN" : "infinite");
    return MLP_STATUS_OK;
}

/* Build a float dataset and copy in what it does not borrow: x, and the
 * labels or the targets (whichever is non-NULL). */
static mlp_status build_f32(mlp_dataset **out, mlp__dataset_spec *spec,
                            const int32_t *shape, const float *x, const int32_t *labels,
                            const float *targets, size_t sample, const char *fn)
{
    memcpy(spec->shape, shape, (size_t)spec->rank * sizeof *shape);
    mlp_dataset *ds;
    if (mlp__dataset_build(&ds, spec) != MLP_STATUS_OK)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %d samples", fn,
                          (int)spec->n);
    size_t n = (size_t)spec->n;
    if (ds->values_buf)
        memcpy(ds->values_buf, x, n * sample * sizeof *x);
    if (labels)
        memcpy(ds->labels, labels, n * sizeof *labels);
    if (targets && ds->targets_buf)
        memcpy(ds->targets_buf, targets, n * (size_t)spec->target_dim * sizeof *targets);
    *out = ds;
    return MLP_STATUS_OK;
}

mlp_status mlp_dataset_create_f32(mlp_dataset **out, int32_t n, int rank,
                                  const int32_t *shape, const float *x,
                                  const int32_t *labels, int32_t num_classes,
                                  unsigned flags)
{
    static const char fn[] = "mlp_dataset_create_f32";
    size_t sample;
    MLP_TRY(check_f32_args(out, n, rank, shape, x, flags, &sample, fn));
    MLP_CHECK_RANGE(num_classes >= 1, fn, "num_classes", num_classes, ">= 1");
    MLP_CHECK_ARG(labels != NULL, fn, "labels is NULL");
    MLP_TRY(check_labels(labels, n, num_classes, fn));
    MLP_TRY(check_finite(x, n, sample, "feature", fn));
    mlp__dataset_spec spec = {.n = n,
                              .rank = rank,
                              .is_float = 1,
                              .num_classes = num_classes,
                              .borrow_values = flags == MLP_DATASET_BORROW ? x : NULL};
    return build_f32(out, &spec, shape, x, labels, NULL, sample, fn);
}

mlp_status mlp_dataset_create_f32_values(mlp_dataset **out, int32_t n, int rank,
                                         const int32_t *shape, const float *x,
                                         int32_t target_dim, const float *targets,
                                         unsigned flags)
{
    static const char fn[] = "mlp_dataset_create_f32_values";
    size_t sample, tsize;
    MLP_TRY(check_f32_args(out, n, rank, shape, x, flags, &sample, fn));
    MLP_CHECK_RANGE(target_dim >= 1, fn, "target_dim", target_dim, ">= 1");
    MLP_CHECK_ARG(targets != NULL, fn, "targets is NULL");
    if (!mlp__mul_size((size_t)n, (size_t)target_dim, &tsize) ||
        !mlp__mul_size(tsize, sizeof(float), &tsize))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %d targets of %d floats overflow",
                          fn, (int)n, (int)target_dim);
    MLP_TRY(check_finite(x, n, sample, "feature", fn));
    MLP_TRY(check_finite(targets, n, (size_t)target_dim, "target", fn));
    int borrow = flags == MLP_DATASET_BORROW;
    mlp__dataset_spec spec = {.n = n,
                              .rank = rank,
                              .is_float = 1,
                              .target_dim = target_dim,
                              .borrow_values = borrow ? x : NULL,
                              .borrow_targets = borrow ? targets : NULL};
    return build_f32(out, &spec, shape, x, NULL, targets, sample, fn);
}

void mlp_dataset_destroy(mlp_dataset *ds)
{
    if (!ds)
        return;
    mlp__free(ds->pixels);
    mlp__free(ds->values_buf);
    mlp__free(ds->labels);
    mlp__free(ds->targets_buf);
    mlp__free(ds->class_names);
    mlp__free(ds->feature_names);
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

int mlp_dataset_storage(const mlp_dataset *ds)
{
    return !ds ? 0 : ds->is_float ? MLP_STORAGE_FLOAT32 : MLP_STORAGE_UINT8;
}

int mlp_dataset_target_kind(const mlp_dataset *ds)
{
    return !ds ? 0 : ds->target_dim > 0 ? MLP_TARGET_VALUES : MLP_TARGET_CLASS;
}

int32_t mlp_dataset_target_dim(const mlp_dataset *ds)
{
    return ds ? ds->target_dim : 0;
}

int mlp_dataset_sample_rank(const mlp_dataset *ds)
{
    return ds ? ds->rank : 0;
}

int32_t mlp_dataset_sample_dim(const mlp_dataset *ds, int axis)
{
    if (!ds || axis < 0 || axis >= ds->rank)
        return 0;
    return ds->shape[axis];
}

int64_t mlp_dataset_sample_size(const mlp_dataset *ds)
{
    return ds ? (int64_t)mlp__dataset_sample_size(ds) : 0;
}

int32_t mlp_dataset_label(const mlp_dataset *ds, int32_t i)
{
    if (!ds || !ds->labels || i < 0 || i >= ds->n)
        return -1;
    return ds->labels[i];
}

const uint8_t *mlp_dataset_image(const mlp_dataset *ds, int32_t i)
{
    if (!ds || !ds->pixels || i < 0 || i >= ds->n)
        return NULL;
    return ds->pixels + (size_t)i * mlp__dataset_sample_size(ds);
}

const float *mlp_dataset_target_values(const mlp_dataset *ds, int32_t i)
{
    if (!ds || !ds->targets || i < 0 || i >= ds->n)
        return NULL;
    return ds->targets + (size_t)i * (size_t)ds->target_dim;
}

/* ---- class names ------------------------------------------------------ */

const char *mlp__class_name_problem(const char *s, size_t len)
{
    _Static_assert(MLP_CLASS_NAME_MAX == 255, "say the new limit in the message below");
    if (len > MLP_CLASS_NAME_MAX)
        return "is longer than 255 bytes";
    const unsigned char *p = (const unsigned char *)s, *end = p + len;
    while (p < end) {
        unsigned c = *p;
        if (c < 0x20 || c == 0x7F)
            return "holds a control character";
        if (c < 0x80) {
            p++;
            continue;
        }
        /* A UTF-8 sequence: its length from the lead byte, then the
         * shortest-form, surrogate and range rules of RFC 3629. */
        int k = c >= 0xF0 && c <= 0xF4   ? 3
                : c >= 0xE0 && c <= 0xEF ? 2
                : c >= 0xC2 && c <= 0xDF ? 1
                                         : -1;
        if (k < 0 || end - p <= k)
            return "is not valid UTF-8";
        uint32_t cp = c & (0x3Fu >> k);
        for (int j = 1; j <= k; j++) {
            if ((p[j] & 0xC0) != 0x80)
                return "is not valid UTF-8";
            cp = cp << 6 | (p[j] & 0x3Fu);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return "is not valid UTF-8";
        if (cp >= 0x80 && cp < 0xA0)
            return "holds a control character";
        p += k + 1;
    }
    return NULL;
}

/* A name and where it stands in the caller's array, sorted by text then
 * position so that equal names sit together, earliest first. */
typedef struct name_ref {
    const char *s;
    int32_t i;
} name_ref;

static int cmp_name_ref(const void *pa, const void *pb)
{
    const name_ref *a = pa, *b = pb;
    int c = strcmp(a->s, b->s);
    return c ? c : (a->i > b->i) - (a->i < b->i);
}

int mlp__class_names_repeat(const char *const *names, int32_t k, int32_t *first,
                            int32_t *second)
{
    *first = *second = -1;
    if (k < 2)
        return 0;
    /* Sorting, not comparing every pair: a model file or a mapping file may
     * name many thousands of classes, and their readers check this. */
    name_ref *r = mlp__calloc((size_t)k, sizeof *r);
    if (!r)
        return -1;
    int32_t n = 0;
    for (int32_t i = 0; i < k; i++)
        if (names[i] && names[i][0])
            r[n++] = (name_ref){names[i], i};
    qsort(r, (size_t)n, sizeof *r, cmp_name_ref);
    /* Of each run of equal names, its first two entries are the repeat
     * a pairwise scan in array order would meet; report the earliest. */
    for (int32_t j = 1, start = 0; j < n; j++) {
        if (strcmp(r[start].s, r[j].s) != 0)
            start = j;
        else if (j == start + 1 && (*second < 0 || r[j].i < *second)) {
            *first = r[start].i;
            *second = r[j].i;
        }
    }
    mlp__free(r);
    return *second >= 0;
}

int mlp__class_names_moved(const char *const *a, int32_t na, const char *const *b,
                           int32_t nb, int32_t *ia, int32_t *ib)
{
    *ia = *ib = -1;
    if (na < 1 || nb < 1)
        return 0;
    /* both lists sorted together, b's positions stored as -1 - position:
     * each side names a class once, so a run of equal names holds at most
     * one entry of each, b's first */
    name_ref *r = mlp__calloc((size_t)na + (size_t)nb, sizeof *r);
    if (!r)
        return -1;
    size_t n = 0;
    for (int32_t i = 0; i < na; i++)
        if (a[i] && a[i][0])
            r[n++] = (name_ref){a[i], i};
    for (int32_t i = 0; i < nb; i++)
        if (b[i] && b[i][0])
            r[n++] = (name_ref){b[i], -1 - i};
    qsort(r, n, sizeof *r, cmp_name_ref);
    for (size_t j = 1; j < n; j++) {
        const int32_t in_b = -1 - r[j - 1].i, in_a = r[j].i;
        if (r[j - 1].i < 0 && in_a >= 0 && strcmp(r[j - 1].s, r[j].s) == 0 &&
            in_a != in_b && (*ib < 0 || in_b < *ib)) {
            *ia = in_a;
            *ib = in_b;
        }
    }
    mlp__free(r);
    return *ib >= 0;
}

mlp__names *mlp__names_make(const char *const *names, int32_t count)
{
    size_t head = offsetof(mlp__names, off) + (size_t)count * sizeof(size_t);
    size_t bytes = head;
    for (int32_t k = 0; k < count; k++)
        bytes += (names[k] ? strlen(names[k]) : 0) + 1;
    mlp__names *b = mlp__alloc(bytes);
    if (!b)
        return NULL;
    b->bytes = bytes;
    b->count = count;
    size_t pos = head;
    for (int32_t k = 0; k < count; k++) {
        size_t len = names[k] ? strlen(names[k]) : 0;
        b->off[k] = pos;
        memcpy((char *)b + pos, names[k] ? names[k] : "", len + 1);
        pos += len + 1;
    }
    return b;
}

const char *mlp__names_get(const mlp__names *names, int32_t k)
{
    if (!names || k < 0 || k >= names->count)
        return NULL;
    const char *s = (const char *)names + names->off[k];
    return *s ? s : NULL;
}

const char *mlp_dataset_class_name(const mlp_dataset *ds, int32_t k)
{
    /* A map may leave classes unnamed; those read as empty and give NULL. */
    if (!ds || k < 0 || k >= ds->num_classes)
        return NULL;
    return mlp__names_get(ds->class_names, k);
}

mlp_status mlp_dataset_set_class_names(mlp_dataset *ds, const char *const *names,
                                       int32_t k)
{
    static const char fn[] = "mlp_dataset_set_class_names";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(ds->labels != NULL, fn, "the dataset has float targets, not classes");
    if (k != 0 && k != ds->num_classes)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: k = %d must be 0 or the class count %d", fn, (int)k,
                          (int)ds->num_classes);
    MLP_CHECK_ARG(names != NULL || k == 0, fn, "names is NULL");
    for (int32_t i = 0; i < k; i++) {
        if (!names[i])
            continue;
        const char *why = mlp__class_name_problem(names[i], strlen(names[i]));
        if (why)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: names[%d] %s", fn, (int)i,
                              why);
    }
    /* Names identify classes (a CSV file's labels are looked up by name),
     * so two classes may not share one. */
    int32_t first, second;
    int rep = mlp__class_names_repeat(names, k, &first, &second);
    if (rep < 0)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    if (rep)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: names[%d] and names[%d] are both \"%s\"", fn, (int)first,
                          (int)second, names[second]);
    mlp__names *b = NULL;
    if (k > 0 && !(b = mlp__names_make(names, k)))
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    mlp__free(ds->class_names);
    ds->class_names = b;
    return MLP_STATUS_OK;
}

/* ---- feature names ---------------------------------------------------- */

static mlp_status check_name_list(const char *const *names, int32_t k, const char *fn,
                                  const char *what)
{
    for (int32_t i = 0; i < k; i++) {
        if (!names[i])
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s[%d] is NULL", fn, what,
                              (int)i);
        size_t len = strlen(names[i]);
        if (len < 1 || len > MLP_CLASS_NAME_MAX)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: %s[%d] has %zu bytes (1..%d allowed)", fn, what,
                              (int)i, len, MLP_CLASS_NAME_MAX);
        const char *why = mlp__class_name_problem(names[i], len);
        if (why)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s[%d] %s", fn, what, (int)i,
                              why);
    }
    int32_t first, second;
    int rep = mlp__class_names_repeat(names, k, &first, &second);
    if (rep < 0)
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    if (rep > 0)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %s[%d] and %s[%d] are both \"%.64s\"", fn, what,
                          (int)first, what, (int)second, names[second]);
    return MLP_STATUS_OK;
}

mlp_status mlp__names_set(mlp__names **slot, const char *const *names, int32_t k,
                          const char *fn)
{
    MLP_TRY(check_name_list(names, k, fn, "names"));
    mlp__names *b = NULL;
    if (k > 0 && !(b = mlp__names_make(names, k)))
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
    mlp__free(*slot);
    *slot = b;
    return MLP_STATUS_OK;
}

const char *mlp_dataset_feature_name(const mlp_dataset *ds, int32_t j)
{
    return ds ? mlp__names_get(ds->feature_names, j) : NULL;
}

mlp_status mlp_dataset_set_feature_names(mlp_dataset *ds, const char *const *names,
                                         int32_t f)
{
    static const char fn[] = "mlp_dataset_set_feature_names";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    const size_t size = mlp__dataset_sample_size(ds);
    if (f != 0 && (size_t)f != size)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: f = %d must be 0 or the sample size %zu", fn, (int)f,
                          size);
    MLP_CHECK_ARG(names != NULL || f == 0, fn, "names is NULL but f is not 0");
    return mlp__names_set(&ds->feature_names, names, f, fn);
}

/* ---- copies ----------------------------------------------------------- */

/* New dataset of the rows `indices` (or, when NULL, start..start+count) of
 * `src`, with its shape, storage, targets and names; owned data. */
static mlp_status copy_rows(const mlp_dataset *src, const int32_t *indices, int32_t start,
                            int32_t count, mlp_dataset **out)
{
    size_t per = mlp__dataset_sample_size(src);
    size_t tdim = (size_t)src->target_dim;
    size_t xsize = src->is_float ? per * sizeof(float) : per;
    mlp__dataset_spec spec = {.n = count,
                              .rank = src->rank,
                              .is_float = src->is_float,
                              .num_classes = src->num_classes,
                              .target_dim = src->target_dim};
    memcpy(spec.shape, src->shape, sizeof spec.shape);
    mlp_dataset *ds;
    if (mlp__dataset_build(&ds, &spec) != MLP_STATUS_OK)
        goto oom;
    ds->no_targets = src->no_targets;
    unsigned char *xd =
        ds->pixels ? (unsigned char *)ds->pixels : (unsigned char *)ds->values_buf;
    const unsigned char *xs = src->pixels ? (const unsigned char *)src->pixels
                                          : (const unsigned char *)src->values;
    for (int32_t i = 0; i < count; i++) {
        size_t r = (size_t)(indices ? indices[i] : start + i);
        memcpy(xd + (size_t)i * xsize, xs + r * xsize, xsize);
        if (ds->labels)
            ds->labels[i] = src->labels[r];
        else
            memcpy(ds->targets_buf + (size_t)i * tdim, src->targets + r * tdim,
                   tdim * sizeof(float));
    }
    if (src->class_names) {
        ds->class_names = mlp__memdup(src->class_names, src->class_names->bytes);
        if (!ds->class_names)
            goto oom;
    }
    if (src->feature_names) {
        ds->feature_names = mlp__memdup(src->feature_names, src->feature_names->bytes);
        if (!ds->feature_names)
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

mlp_status mlp__dataset_copy_range(const mlp_dataset *src, int32_t start, int32_t count,
                                   mlp_dataset **out)
{
    return copy_rows(src, NULL, start, count, out);
}

mlp_status mlp_dataset_subset(const mlp_dataset *src, const int32_t *indices, int32_t n,
                              mlp_dataset **out)
{
    static const char fn[] = "mlp_dataset_subset";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(src != NULL, fn, "src is NULL");
    MLP_CHECK_ARG(indices != NULL, fn, "indices is NULL");
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    for (int32_t i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= src->n)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: indices[%d] = %d is outside 0..%d", fn, (int)i,
                              (int)indices[i], (int)src->n - 1);
    }
    return copy_rows(src, indices, 0, n, out);
}

mlp_status mlp_dataset_split(const mlp_dataset *src, int32_t n_first, mlp_dataset **first,
                             mlp_dataset **second)
{
    static const char fn[] = "mlp_dataset_split";
    if (first)
        *first = NULL;
    if (second)
        *second = NULL;
    MLP_CHECK_ARG(first != NULL && second != NULL, fn, "first or second is NULL");
    /* one pointer for both would keep the second copy and lose the first */
    MLP_CHECK_ARG(first != second, fn, "first and second are the same pointer");
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

/* ---- gathering batches ------------------------------------------------ */

/* Bytes scaled to [0, 1]: the AVX2 clone converts 8 a step. */
MLP_VECTOR_CLONES
static void bytes_to_unit(const uint8_t *src, size_t n, float *dst)
{
    const float scale = 1.0f / 255.0f;
    for (size_t j = 0; j < n; j++)
        dst[j] = (float)src[j] * scale;
}

/* Values [c0, c1) of sample `idx` as floats into dst: bytes scaled to
 * [0, 1], floats copied. */
static void put_values(const mlp_dataset *ds, int32_t idx, size_t c0, size_t c1,
                       float *dst)
{
    const size_t per = mlp__dataset_sample_size(ds);
    if (ds->is_float)
        memcpy(dst, ds->values + (size_t)idx * per + c0, (c1 - c0) * sizeof *dst);
    else
        bytes_to_unit(ds->pixels + (size_t)idx * per + c0, c1 - c0, dst);
}

/* Ask for sample idx's values [c0, c1) ahead of their use: a shuffled
 * batch reads rows scattered over the dataset, and the row after next is
 * in flight while this one is converted. Always inlined: as a function of
 * its own, GCC found it pure (see MLP__NOIPA) and deleted every call, which
 * left the gather without any prefetch until a disassembly showed it. */
static MLP__ALWAYS_INLINE void prefetch_values(const mlp_dataset *ds, int32_t idx,
                                               size_t c0, size_t c1)
{
#if defined(__GNUC__) || defined(__clang__)
    const size_t per = mlp__dataset_sample_size(ds),
                 esz = ds->is_float ? sizeof(float) : 1;
    const char *p = ds->is_float ? (const char *)(ds->values + (size_t)idx * per)
                                 : (const char *)(ds->pixels + (size_t)idx * per);
    const char *end = p + c1 * esz;
    for (const char *q = p + c0 * esz; q < end; q += 64)
        __builtin_prefetch(q, 0, 2);
    __builtin_prefetch(end - 1, 0, 2); /* the last line, where q stepped past it */
#else
    (void)ds;
    (void)idx;
    (void)c0;
    (void)c1;
#endif
}

/* Ask for sample idx's label or targets: a load of each, scattered as the
 * rows are, waited on memory and took most of the gather's time. */
static MLP__ALWAYS_INLINE void prefetch_target(const mlp_dataset *ds, int32_t idx)
{
#if defined(__GNUC__) || defined(__clang__)
    if (ds->labels)
        __builtin_prefetch(ds->labels + idx, 0, 2);
    if (ds->targets)
        __builtin_prefetch(ds->targets + (size_t)idx * (size_t)ds->target_dim, 0, 2);
#else
    (void)ds;
    (void)idx;
#endif
}

/* The whole sample idx and its label or targets, asked for. */
static MLP__ALWAYS_INLINE void prefetch_sample(const mlp_dataset *ds, int32_t idx)
{
    prefetch_values(ds, idx, 0, mlp__dataset_sample_size(ds));
    prefetch_target(ds, idx);
}

/* Rows asked for ahead of the one converted. */
enum { AHEAD = 8 };

/* A gather, for the pool. */
typedef struct rows_job {
    const mlp_dataset *ds;
    const int32_t *indices; /* or NULL: rows start.. */
    const int32_t *next;    /* the next gather's rows to ask for, or NULL */
    int32_t start, n, next_n;
    float *x;
    int32_t *labels;
    float *targets;
    const int32_t *cols; /* column blocks (put_blocks_part), or NULL: rows */
    int parts;           /* the blocks' count */
} rows_job;

/* Row i's label or targets: the dataset's sample idx's. */
static MLP__ALWAYS_INLINE void put_target(const rows_job *j, int32_t i, int32_t idx)
{
    const mlp_dataset *ds = j->ds;
    const size_t tdim = (size_t)ds->target_dim;
    if (j->labels)
        j->labels[i] = ds->labels[idx];
    if (j->targets && tdim == 1) /* the usual regression: no call per row */
        j->targets[i] = ds->targets[idx];
    else if (j->targets)
        memcpy(j->targets + (size_t)i * tdim, ds->targets + (size_t)idx * tdim,
               tdim * sizeof *j->targets);
}

/* Rows [lo, hi) of a gather. */
static void put_rows_part(void *arg, int64_t lo64, int64_t hi64)
{
    const rows_job *j = arg;
    const mlp_dataset *ds = j->ds;
    const int32_t *indices = j->indices;
    const int32_t lo = (int32_t)lo64, hi = (int32_t)hi64;
    const size_t per = mlp__dataset_sample_size(ds);
    for (int32_t i = lo; indices && i < lo + AHEAD && i < hi; i++)
        prefetch_sample(ds, indices[i]);
    for (int32_t i = lo; i < hi; i++) {
        int32_t idx = indices ? indices[i] : j->start + i;
        if (indices && i + AHEAD < hi)
            prefetch_sample(ds, indices[i + AHEAD]);
        put_values(ds, idx, 0, per, j->x + (size_t)i * per);
        put_target(j, i, idx);
    }
    /* this part's share of the next gather, which the same part of it
     * (on the same thread) will read: rows [lo, hi) of n scaled to next_n */
    if (j->next) {
        const int32_t a = (int32_t)((int64_t)lo * j->next_n / j->n),
                      b = (int32_t)((int64_t)hi * j->next_n / j->n);
        for (int32_t i = a; i < b; i++)
            prefetch_sample(ds, j->next[i]);
    }
}

/* Blocks [t0, t1) of a gather by column blocks (mlp__dataset_gather_next):
 * block t's columns of every row; then rows [lo, hi) of the batch's labels
 * or targets, the rows the row gather's part t takes; then block t's
 * columns of the next gather's rows, and that share of their labels. Each
 * thread writes only its own block, one stretch of memory: blocks of one
 * row side by side (a thread writing each row's first half, the other its
 * second) took 5 times as long on 2 cores, as if each fetched the other's
 * lines. */
static void put_blocks_part(void *arg, int64_t t0, int64_t t1)
{
    const rows_job *j = arg;
    const mlp_dataset *ds = j->ds;
    const int32_t *indices = j->indices, n = j->n;
    for (int64_t t = t0; t < t1; t++) {
        const size_t c0 = (size_t)j->cols[t], c1 = (size_t)j->cols[t + 1], w = c1 - c0;
        float *block = j->x + (size_t)n * c0;
        for (int32_t i = 0; i < AHEAD && i < n; i++)
            prefetch_values(ds, indices[i], c0, c1);
        for (int32_t i = 0; i < n; i++) {
            if (i + AHEAD < n)
                prefetch_values(ds, indices[i + AHEAD], c0, c1);
            put_values(ds, indices[i], c0, c1, block + (size_t)i * w);
        }
        int64_t lo, hi;
        mlp__pool_range(n, j->parts, 1, (int)t, &lo, &hi);
        for (int64_t i = lo; i < hi; i++)
            put_target(j, (int32_t)i, indices[i]);
        if (j->next) {
            mlp__pool_range(j->next_n, j->parts, 1, (int)t, &lo, &hi);
            for (int32_t i = 0; i < j->next_n; i++) {
                prefetch_values(ds, j->next[i], c0, c1);
                if (i >= lo && i < hi)
                    prefetch_target(ds, j->next[i]);
            }
        }
    }
}

/* Samples [indices or start..start+n) with the targets asked for, split
 * across the thread pool from 16 rows a part, or by its column blocks
 * (cols: indices only); a copy either way: the result is the same at any
 * thread count. The arguments are checked by the callers. */
static void put_rows(const mlp_dataset *ds, const int32_t *indices, int32_t start,
                     int32_t n, const int32_t *next, int32_t next_n, int parts,
                     const int32_t *cols, float *x, int32_t *labels, float *targets)
{
    rows_job j = {ds, indices, next, start, n, next_n, x, labels, targets, cols, parts};
    if (cols)
        mlp__pool_for(parts, 1, 1, put_blocks_part, &j);
    else
        mlp__pool_for(n, 16, 1, put_rows_part, &j);
}

/* The targets asked for must be the kind the dataset has. */
static mlp_status check_target_buffers(const mlp_dataset *ds, const int32_t *labels,
                                       const float *targets, const char *fn)
{
    if (labels && !ds->labels)
        return mlp__error(
            MLP_STATUS_INVALID_ARG,
            "%s: labels asked of a dataset with float targets (target_dim %d)", fn,
            (int)ds->target_dim);
    if (targets && !ds->targets)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: float targets asked of a dataset with class labels", fn);
    return MLP_STATUS_OK;
}

mlp_status mlp__dataset_gather_batch(const mlp_dataset *ds, const int32_t *indices,
                                     int32_t n, float *x, int32_t *labels, float *targets,
                                     const char *fn)
{
    return mlp__dataset_gather_next(ds, indices, n, NULL, 0, 0, NULL, x, labels, targets,
                                    fn);
}

/* The column blocks' cut: 1..MLP__GATHER_BLOCKS_MAX blocks, from 0 to the
 * sample size, each at least one column wide. */
static mlp_status check_blocks(const mlp_dataset *ds, int parts, const int32_t *cols,
                               const char *fn)
{
    const int64_t per = (int64_t)mlp__dataset_sample_size(ds);
    int ok = parts >= 1 && parts <= MLP__GATHER_BLOCKS_MAX && cols[0] == 0 &&
             cols[parts] == per;
    for (int t = 0; ok && t < parts; t++)
        ok = cols[t] < cols[t + 1];
    if (!ok)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: column blocks must cut a sample's %lld values into "
                          "1 to %d blocks, from 0 to %lld, each 1 value wide or more",
                          fn, (long long)per, (int)MLP__GATHER_BLOCKS_MAX,
                          (long long)per);
    return MLP_STATUS_OK;
}

mlp_status mlp__dataset_gather_next(const mlp_dataset *ds, const int32_t *indices,
                                    int32_t n, const int32_t *next, int32_t next_n,
                                    int parts, const int32_t *cols, float *x,
                                    int32_t *labels, float *targets, const char *fn)
{
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(indices != NULL, fn, "indices is NULL");
    MLP_CHECK_ARG(x != NULL, fn, "x is NULL");
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    MLP_TRY(check_target_buffers(ds, labels, targets, fn));
    if (cols)
        MLP_TRY(check_blocks(ds, parts, cols, fn));
    /* Check every index first so a bad one leaves the buffers untouched. */
    for (int32_t i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= ds->n)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: indices[%d] = %d is outside 0..%d", fn, (int)i,
                              (int)indices[i], (int)ds->n - 1);
    }
    put_rows(ds, indices, 0, n, next_n > 0 ? next : NULL, next_n, parts, cols, x, labels,
             targets);
    return MLP_STATUS_OK;
}

mlp_status mlp_dataset_gather(const mlp_dataset *ds, const int32_t *indices, int32_t n,
                              float *x, int32_t *labels)
{
    return mlp__dataset_gather_batch(ds, indices, n, x, labels, NULL,
                                     "mlp_dataset_gather");
}

mlp_status mlp__dataset_rows(const mlp_dataset *ds, int32_t start, int32_t n, float *x,
                             int32_t *labels, float *targets)
{
    static const char fn[] = "mlp__dataset_rows";
    MLP_CHECK_ARG(ds != NULL && x != NULL, fn, "ds or x is NULL");
    if (start < 0 || n < 1 || n > ds->n - start)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: rows %d..%d are outside 0..%d", fn,
                          (int)start, (int)start + (int)n - 1, (int)ds->n - 1);
    MLP_TRY(check_target_buffers(ds, labels, targets, fn));
    put_rows(ds, NULL, start, n, NULL, 0, 0, NULL, x, labels, targets);
    return MLP_STATUS_OK;
}

mlp_status mlp_dataset_sample(const mlp_dataset *ds, int32_t i, float *out)
{
    static const char fn[] = "mlp_dataset_sample";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    if (i < 0 || i >= ds->n)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: i = %d is outside 0..%d", fn,
                          (int)i, (int)ds->n - 1);
    put_values(ds, i, 0, mlp__dataset_sample_size(ds), out);
    return MLP_STATUS_OK;
}
