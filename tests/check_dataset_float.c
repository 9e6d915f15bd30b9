/*
 * Tests of float32 datasets (lib/data/dataset.c): creation copied or
 * borrowed, class and float targets, the shape queries, NaN refusal, the
 * batcher and split on both storages, gathering rows for evaluation, class
 * names as strings (setter and mapping files) and the allocation-failure
 * loops. Mapping files are written to fresh temporary files.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#endif

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <mlpnet/mlpnet.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "testutil.h"

/* A temporary file holding `text`; its name goes to `path` (64 bytes). */
static void temp_text(char *path, const char *text)
{
    strcpy(path, "/tmp/mlpnet-dsf-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    size_t len = strlen(text);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

/* n samples of `per` floats; sample i holds i + j / 100. */
static float *ramp(int32_t n, int32_t per)
{
    float *x = malloc((size_t)n * (size_t)per * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int32_t i = 0; i < n; i++)
        for (int32_t j = 0; j < per; j++)
            x[i * per + j] = (float)i + (float)j / 100.0f;
    return x;
}

/* ---- allocation failures --------------------------------------------------- */

/* One call a tu_oom_loop attempts: its arguments, and what a success made.
 * The attempts set the out-pointers to a poison first, so a failure that
 * leaves one set is caught. */
typedef struct oom_ds {
    mlp_dataset *src;     /* the dataset the call reads or changes */
    const int32_t *shape; /* create: 5 samples of [2, 2] in x, lab or y */
    const float *x, *y;
    const int32_t *lab, *idx; /* subset: idx[0..n) */
    int flags;                /* create: copy or borrow */
    int32_t n;                /* split: size of the first part; subset: count */
    const char *const *names; /* set_class_names: two names */
    const char *path;         /* load_mapping */
    const char *b_name1;      /* split: class 1 of b must have this name, or NULL */
    const char *kept_name0;   /* a failure must leave class 0 of src this name */
    int keep;                 /* a success keeps what it made (in ds) */
    mlp_dataset *ds, *a, *b;  /* what a success made */
    mlp_batcher *bt;
} oom_ds;

#define POISON_DS ((mlp_dataset *)&poison_ds)
static char poison_ds;

static mlp_status try_create(void *ctx)
{
    oom_ds *c = ctx;
    c->ds = POISON_DS;
    return mlp_dataset_create_f32(&c->ds, 5, 2, c->shape, c->x, c->lab, 2, c->flags);
}

static mlp_status try_create_values(void *ctx)
{
    oom_ds *c = ctx;
    c->ds = POISON_DS;
    return mlp_dataset_create_f32_values(&c->ds, 5, 2, c->shape, c->x, 2, c->y, 0);
}

static mlp_status try_split(void *ctx)
{
    oom_ds *c = ctx;
    c->a = c->b = POISON_DS;
    return mlp_dataset_split(c->src, c->n, &c->a, &c->b);
}

static mlp_status try_subset(void *ctx)
{
    oom_ds *c = ctx;
    c->ds = POISON_DS;
    return mlp_dataset_subset(c->src, c->idx, c->n, &c->ds);
}

static mlp_status try_set_names(void *ctx)
{
    oom_ds *c = ctx;
    return mlp_dataset_set_class_names(c->src, c->names, 2);
}

static mlp_status try_load_mapping(void *ctx)
{
    oom_ds *c = ctx;
    return mlp_dataset_load_mapping(c->src, c->path);
}

static mlp_status try_batcher(void *ctx)
{
    oom_ds *c = ctx;
    c->bt = (mlp_batcher *)POISON_DS;
    return mlp_batcher_create(&c->bt, c->src, 2, 1, 3);
}

/* After each attempt: a failure made nothing and kept the state of src; a
 * success is checked and, unless c->keep, freed. */
static void oom_ds_after(void *ctx, mlp_status st)
{
    oom_ds *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert(c->ds == NULL && c->a == NULL && c->b == NULL && c->bt == NULL);
        if (c->kept_name0)
            ck_assert_str_eq(mlp_dataset_class_name(c->src, 0), c->kept_name0);
        return;
    }
    if (c->b_name1)
        ck_assert_str_eq(mlp_dataset_class_name(c->b, 1), c->b_name1);
    if (c->keep)
        return;
    mlp_dataset_destroy(c->ds);
    mlp_dataset_destroy(c->a);
    mlp_dataset_destroy(c->b);
    mlp_batcher_destroy(c->bt);
    c->ds = c->a = c->b = NULL;
    c->bt = NULL;
}

/* tu_oom_loop over `try` with oom_ds_after; `keep`: the success stays in c. */
static void oom_ds_loop(const char *what, mlp_status (*try)(void *), oom_ds *c, int keep)
{
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    c->keep = cfg.keep_on_ok = keep;
    cfg.after = oom_ds_after;
    tu_oom_loop(what, try, c, &cfg);
}

START_TEST(create_copy_and_queries)
{
    long live = mlp__alloc_live();
    const int32_t n = 5, shape[1] = {4};
    float *x = ramp(n, 4);
    int32_t lab[5] = {0, 1, 2, 1, 0};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, n, 1, shape, x, lab, 3, MLP_DATASET_COPY));
    ck_assert_int_eq(mlp_dataset_size(ds), 5);
    ck_assert_int_eq(mlp_dataset_storage(ds), MLP_STORAGE_FLOAT32);
    ck_assert_int_eq(mlp_dataset_target_kind(ds), MLP_TARGET_CLASS);
    ck_assert_int_eq(mlp_dataset_target_dim(ds), 0);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_int_eq(mlp_dataset_sample_rank(ds), 1);
    ck_assert_int_eq(mlp_dataset_sample_dim(ds, 0), 4);
    ck_assert_int_eq(mlp_dataset_sample_dim(ds, 1), 0);
    ck_assert_int_eq(mlp_dataset_sample_dim(ds, -1), 0);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 4);
    /* [F] reads as 1 x 1 x F. */
    ck_assert_int_eq(mlp_dataset_channels(ds), 1);
    ck_assert_int_eq(mlp_dataset_height(ds), 1);
    ck_assert_int_eq(mlp_dataset_width(ds), 4);
    ck_assert_ptr_null(mlp_dataset_image(ds, 0));
    ck_assert_ptr_null(mlp_dataset_target_values(ds, 0));
    ck_assert_int_eq(mlp_dataset_label(ds, 3), 1);
    float s[4];
    TU_OK(mlp_dataset_sample(ds, 2, s));
    ck_assert(s[0] == 2.0f && s[3] == x[2 * 4 + 3]);
    /* A copy does not see the caller's later changes. */
    x[2 * 4] = 99.0f;
    lab[3] = 7;
    TU_OK(mlp_dataset_sample(ds, 2, s));
    ck_assert(s[0] == 2.0f);
    ck_assert_int_eq(mlp_dataset_label(ds, 3), 1);
    TU_FAIL(mlp_dataset_sample(ds, 5, s), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_sample(ds, -1, s), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_sample(ds, 0, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_sample(NULL, 0, s), MLP_STATUS_INVALID_ARG);
    mlp_dataset_destroy(ds);
    free(x);

    /* Queries of NULL. */
    ck_assert_int_eq(mlp_dataset_storage(NULL), 0);
    ck_assert_int_eq(mlp_dataset_target_kind(NULL), 0);
    ck_assert_int_eq(mlp_dataset_target_dim(NULL), 0);
    ck_assert_int_eq(mlp_dataset_sample_rank(NULL), 0);
    ck_assert_int_eq(mlp_dataset_sample_dim(NULL, 0), 0);
    ck_assert_int_eq(mlp_dataset_sample_size(NULL), 0);
    ck_assert_ptr_null(mlp_dataset_target_values(NULL, 0));
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(shapes_of_rank_2_and_3)
{
    const int32_t s2[2] = {3, 5}, s3[3] = {2, 3, 4};
    float *x = ramp(2, 24);
    int32_t lab[2] = {0, 0};
    mlp_dataset *a = NULL, *b = NULL;
    TU_OK(mlp_dataset_create_f32(&a, 2, 2, s2, x, lab, 1, 0));
    ck_assert_int_eq(mlp_dataset_channels(a), 1);
    ck_assert_int_eq(mlp_dataset_height(a), 3);
    ck_assert_int_eq(mlp_dataset_width(a), 5);
    ck_assert_int_eq(mlp_dataset_sample_size(a), 15);
    TU_OK(mlp_dataset_create_f32(&b, 2, 3, s3, x, lab, 1, 0));
    ck_assert_int_eq(mlp_dataset_sample_rank(b), 3);
    ck_assert_int_eq(mlp_dataset_channels(b), 2);
    ck_assert_int_eq(mlp_dataset_height(b), 3);
    ck_assert_int_eq(mlp_dataset_width(b), 4);
    ck_assert_int_eq(mlp_dataset_sample_dim(b, 2), 4);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);

    /* uint8 datasets answer the new queries too. */
    uint8_t px[2 * 6] = {0, 255, 51, 0, 0, 0, 1, 2, 3, 4, 5, 6};
    TU_OK(mlp_dataset_create(&a, 2, 1, 2, 3, px, lab, 1));
    ck_assert_int_eq(mlp_dataset_storage(a), MLP_STORAGE_UINT8);
    ck_assert_int_eq(mlp_dataset_sample_rank(a), 3);
    ck_assert_int_eq(mlp_dataset_sample_dim(a, 0), 1);
    ck_assert_int_eq(mlp_dataset_sample_dim(a, 1), 2);
    ck_assert_int_eq(mlp_dataset_sample_size(a), 6);
    float s[6];
    TU_OK(mlp_dataset_sample(a, 0, s));
    ck_assert(s[0] == 0.0f && s[1] == 1.0f && s[2] == 51.0f * (1.0f / 255.0f));
    mlp_dataset_destroy(a);
    free(x);
}
END_TEST

START_TEST(borrow_sees_changes)
{
    long live = mlp__alloc_live();
    const int32_t shape[1] = {3};
    float *x = ramp(4, 3);
    float y[4 * 2] = {1, 2, 3, 4, 5, 6, 7, 8};
    mlp_dataset *ds = NULL, *cp = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, 4, 1, shape, x, 2, y, MLP_DATASET_BORROW));
    TU_OK(mlp_dataset_create_f32_values(&cp, 4, 1, shape, x, 2, y, MLP_DATASET_COPY));
    /* Borrowing allocates nothing for the samples or the targets. */
    ck_assert_ptr_eq(mlp_dataset_target_values(ds, 1), y + 2);
    ck_assert_ptr_ne(mlp_dataset_target_values(cp, 1), y + 2);
    x[3] = -5.0f;
    y[2] = 42.0f;
    float s[3];
    TU_OK(mlp_dataset_sample(ds, 1, s));
    ck_assert(s[0] == -5.0f);
    ck_assert(mlp_dataset_target_values(ds, 1)[0] == 42.0f);
    TU_OK(mlp_dataset_sample(cp, 1, s));
    ck_assert(s[0] == 1.0f);
    ck_assert(mlp_dataset_target_values(cp, 1)[0] == 3.0f);
    ck_assert_int_eq(mlp_dataset_target_kind(ds), MLP_TARGET_VALUES);
    ck_assert_int_eq(mlp_dataset_target_dim(ds), 2);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 0);
    ck_assert_int_eq(mlp_dataset_label(ds, 0), -1);
    ck_assert_ptr_null(mlp_dataset_target_values(ds, 4));

    /* A split of a borrowing dataset owns its data. */
    mlp_dataset *a = NULL, *b = NULL;
    TU_OK(mlp_dataset_split(ds, 1, &a, &b));
    x[3] = 8.0f;
    y[2] = 9.0f;
    TU_OK(mlp_dataset_sample(b, 0, s));
    ck_assert(s[0] == -5.0f);
    ck_assert(mlp_dataset_target_values(b, 0)[0] == 42.0f);
    ck_assert(mlp_dataset_target_values(b, 0)[1] == 4.0f);
    ck_assert_int_eq(mlp_dataset_size(a), 1);
    ck_assert_int_eq(mlp_dataset_target_dim(b), 2);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    mlp_dataset_destroy(ds);
    mlp_dataset_destroy(cp);
    free(x);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(create_invalid)
{
    const int32_t shape[2] = {2, 2}, bad[2] = {2, 0};
    float x[3 * 4] = {0};
    int32_t lab[3] = {0, 1, 1};
    float y[3] = {1, 2, 3};
    mlp_dataset *ds = (mlp_dataset *)&ds;
    TU_FAIL(mlp_dataset_create_f32(NULL, 3, 2, shape, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_dataset_create_f32(&ds, 3, 2, shape, x, lab, 2, 0));
    mlp_dataset_destroy(ds);
    ds = (mlp_dataset *)&ds;
    TU_FAIL(mlp_dataset_create_f32(&ds, 0, 2, shape, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(ds);
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 0, shape, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 4, shape, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL_MSG(mlp_dataset_create_f32(&ds, 3, 2, bad, x, lab, 2, 0),
                MLP_STATUS_INVALID_ARG, "shape[1]");
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 2, NULL, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 2, shape, NULL, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 2, shape, x, NULL, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 2, shape, x, lab, 0, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL_MSG(mlp_dataset_create_f32(&ds, 3, 2, shape, x, lab, 1, 0),
                MLP_STATUS_INVALID_ARG, "label 1 of sample 1");
    TU_FAIL_MSG(mlp_dataset_create_f32(&ds, 3, 2, shape, x, lab, 2, 7),
                MLP_STATUS_INVALID_ARG, "flags");
    /* Absurd sizes overflow cleanly. */
    const int32_t huge[3] = {INT32_MAX, INT32_MAX, INT32_MAX};
    TU_FAIL(mlp_dataset_create_f32(&ds, INT32_MAX, 3, huge, x, lab, 2, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32_values(&ds, 3, 2, shape, x, 0, y, 0),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_create_f32_values(&ds, 3, 2, shape, x, 1, NULL, 0),
            MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(nan_and_inf_refused)
{
    const int32_t shape[1] = {4};
    float *x = ramp(3, 4);
    int32_t lab[3] = {0, 0, 0};
    float y[3] = {1, 2, 3};
    mlp_dataset *ds = NULL;
    x[2 * 4 + 3] = NAN;
    TU_FAIL_MSG(mlp_dataset_create_f32(&ds, 3, 1, shape, x, lab, 1, 0),
                MLP_STATUS_INVALID_ARG, "sample 2, feature 3 is NaN");
    TU_FAIL(mlp_dataset_create_f32(&ds, 3, 1, shape, x, lab, 1, MLP_DATASET_BORROW),
            MLP_STATUS_INVALID_ARG);
    x[2 * 4 + 3] = 0.0f;
    x[1] = -INFINITY;
    TU_FAIL_MSG(mlp_dataset_create_f32_values(&ds, 3, 1, shape, x, 1, y, 0),
                MLP_STATUS_INVALID_ARG, "sample 0, feature 1 is infinite");
    x[1] = 0.0f;
    y[1] = INFINITY;
    TU_FAIL_MSG(mlp_dataset_create_f32_values(&ds, 3, 1, shape, x, 1, y, 0),
                MLP_STATUS_INVALID_ARG, "sample 1, target 0 is infinite");
    ck_assert_ptr_null(ds);
    free(x);
}
END_TEST

/* The batcher visits every sample once per epoch, in the order it uses for
 * a uint8 dataset of the same size and seed. */
START_TEST(batcher_float_same_order_as_uint8)
{
    enum { N = 37, B = 8 };
    const int32_t shape[1] = {2};
    float x[N * 2];
    uint8_t px[N * 2];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = (float)-i;
        px[2 * i] = (uint8_t)i;
        px[2 * i + 1] = 0;
        lab[i] = i % 3;
    }
    mlp_dataset *f = NULL, *u = NULL;
    TU_OK(mlp_dataset_create_f32(&f, N, 1, shape, x, lab, 3, MLP_DATASET_BORROW));
    TU_OK(mlp_dataset_create(&u, N, 1, 1, 2, px, lab, 3));
    mlp_batcher *bf = NULL, *bu = NULL;
    TU_OK(mlp_batcher_create(&bf, f, B, 1, 1234));
    TU_OK(mlp_batcher_create(&bu, u, B, 1, 1234));
    for (int epoch = 0; epoch < 3; epoch++) {
        int seen[N] = {0};
        int32_t nf, nu, total = 0;
        float xf[B * 2], xu[B * 2];
        int32_t lf[B], lu[B];
        for (;;) {
            TU_OK(mlp_batcher_next(bf, xf, lf, &nf));
            TU_OK(mlp_batcher_next_batch(bu, xu, lu, NULL, &nu));
            ck_assert_int_eq(nf, nu);
            if (nf == 0)
                break;
            for (int32_t i = 0; i < nf; i++) {
                int idx = (int)xf[2 * i];
                ck_assert(xf[2 * i + 1] == (float)-idx);
                ck_assert_int_eq(idx, (int)lroundf(xu[2 * i] * 255.0f));
                ck_assert_int_eq(lf[i], lab[idx]);
                ck_assert_int_eq(lu[i], lab[idx]);
                seen[idx]++;
            }
            total += nf;
        }
        ck_assert_int_eq(total, N);
        for (int i = 0; i < N; i++)
            ck_assert_int_eq(seen[i], 1);
    }
    /* A class dataset has no float targets. */
    float t[B];
    int32_t got = 5;
    float xb[B * 2];
    TU_FAIL(mlp_batcher_next_batch(bf, xb, NULL, t, &got), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(got, 0);
    TU_ERROR_HAS("float targets asked");
    TU_FAIL(mlp_batcher_next_batch(NULL, xb, NULL, NULL, &got), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_batcher_next_batch(bf, NULL, NULL, NULL, &got), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_batcher_next_batch(bf, xb, NULL, NULL, NULL), MLP_STATUS_INVALID_ARG);
    mlp_batcher_destroy(bf);
    mlp_batcher_destroy(bu);
    mlp_dataset_destroy(f);
    mlp_dataset_destroy(u);
}
END_TEST

START_TEST(batcher_float_targets)
{
    enum { N = 10, B = 4, T = 3 };
    const int32_t shape[1] = {1};
    float x[N], y[N * T];
    for (int i = 0; i < N; i++) {
        x[i] = (float)i;
        for (int j = 0; j < T; j++)
            y[i * T + j] = (float)(i * 10 + j);
    }
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32_values(&ds, N, 1, shape, x, T, y, 0));
    mlp_batcher *b = NULL;
    TU_OK(mlp_batcher_create(&b, ds, B, 1, 99));
    float xb[B], yb[B * T];
    int32_t lb[B], n, total = 0, batches = 0;
    int seen[N] = {0};
    for (;;) {
        TU_OK(mlp_batcher_next_batch(b, xb, NULL, yb, &n));
        if (n == 0)
            break;
        batches++;
        for (int32_t i = 0; i < n; i++) {
            int idx = (int)xb[i];
            seen[idx]++;
            for (int j = 0; j < T; j++)
                ck_assert(yb[i * T + j] == (float)(idx * 10 + j));
        }
        total += n;
    }
    ck_assert_int_eq(total, N);
    ck_assert_int_eq(batches, mlp_batcher_batch_count(b));
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    /* Labels of a dataset with float targets are refused, by both calls. */
    TU_FAIL_MSG(mlp_batcher_next(b, xb, lb, &n), MLP_STATUS_INVALID_ARG,
                "labels asked of a dataset with float targets");
    TU_FAIL(mlp_batcher_next_batch(b, xb, lb, yb, &n), MLP_STATUS_INVALID_ARG);
    /* Without targets, only the samples. */
    mlp_batcher_reset(b);
    TU_OK(mlp_batcher_next_batch(b, xb, NULL, NULL, &n));
    ck_assert_int_eq(n, B);
    /* The allocation-free promise holds for float batches too. */
    mlp__alloc_fail_after(1);
    mlp_status st = mlp_batcher_next_batch(b, xb, NULL, yb, &n);
    mlp__alloc_fail_after(0);
    TU_ST(st, MLP_STATUS_OK);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
}
END_TEST

/* A gather by column blocks (mlp__dataset_gather_next with cols) holds
 * exactly the values of the gather by rows, block t being columns [cols[t],
 * cols[t + 1]) of every row from x + n cols[t], and the same labels or
 * targets: uint8 and float samples, labels and several float targets, 1 to
 * 3 blocks at 1 to 3 threads, with and without the next rows asked for.
 * A bad cut is refused with x untouched. */
START_TEST(gather_blocks_hold_the_rows)
{
    enum { N = 23, PER = 37, B = 11, T = 2 };
    uint8_t *pix = malloc((size_t)N * PER);
    float *val = malloc((size_t)N * PER * sizeof(float)), tg[N * T];
    int32_t lab[N];
    for (int i = 0; i < N * PER; i++) {
        pix[i] = (uint8_t)((i * 131 + 7) % 256);
        val[i] = (float)i * 0.25f - 3.0f;
    }
    for (int i = 0; i < N; i++) {
        lab[i] = (i * 5) % 4;
        for (int j = 0; j < T; j++)
            tg[i * T + j] = (float)(i * 10 + j);
    }
    const int32_t shape[1] = {PER};
    mlp_dataset *ds[2] = {NULL, NULL};
    TU_OK(mlp_dataset_create(&ds[0], N, 1, 1, PER, pix, lab, 4));
    TU_OK(mlp_dataset_create_f32_values(&ds[1], N, 1, shape, val, T, tg, 0));
    const int32_t idx[B] = {3, 22, 0, 7, 7, 15, 1, 9, 20, 4, 11},
                  next[5] = {2, 5, 8, 13, 21};
    static const int32_t cuts[][5] = {
        {1, 0, PER, 0, 0}, {2, 0, 16, PER, 0}, {3, 0, 1, 36, PER}}; /* parts, cols */
    const int threads = mlp_get_num_threads();
    float rows[B * PER], blocks[B * PER], y_rows[B * T], y_blocks[B * T];
    int32_t l_rows[B], l_blocks[B];
    for (int d = 0; d < 2; d++) {
        int32_t *lr = d ? NULL : l_rows, *lbk = d ? NULL : l_blocks;
        float *yr = d ? y_rows : NULL, *yb = d ? y_blocks : NULL;
        TU_OK(mlp__dataset_gather_next(ds[d], idx, B, NULL, 0, 0, NULL, rows, lr, yr,
                                       "test"));
        for (int c = 0; c < 3; c++) {
            const int parts = cuts[c][0];
            const int32_t *cut = cuts[c] + 1;
            for (int th = 1; th <= 3; th++) {
                TU_OK(mlp_set_num_threads(th));
                for (int i = 0; i < B * PER; i++)
                    blocks[i] = -99.0f;
                memset(l_blocks, 0xff, sizeof l_blocks);
                memset(y_blocks, 0, sizeof y_blocks);
                TU_OK(mlp__dataset_gather_next(ds[d], idx, B, th == 2 ? next : NULL,
                                               th == 2 ? 5 : 0, parts, cut, blocks, lbk,
                                               yb, "test"));
                for (int t = 0; t < parts; t++) {
                    const int32_t w = cut[t + 1] - cut[t];
                    for (int i = 0; i < B; i++)
                        for (int32_t j = 0; j < w; j++)
                            TU_CHECK_MSG(blocks[B * cut[t] + i * w + j] ==
                                             rows[i * PER + cut[t] + j],
                                         "data %d, cut %d, %d threads: row %d column %d",
                                         d, c, th, i, (int)(cut[t] + j));
                }
                if (d)
                    ck_assert_mem_eq(y_blocks, y_rows, sizeof y_rows);
                else
                    ck_assert_mem_eq(l_blocks, l_rows, sizeof l_rows);
            }
        }
    }
    TU_OK(mlp_set_num_threads(threads));
    /* bad cuts: none, too many, not from 0, not to the end, not increasing */
    static const int32_t bad[][5] = {{0, 0, PER, 0, 0},   {65, 0, PER, 0, 0},
                                     {2, 1, 10, PER, 0},  {2, 0, 10, PER - 1, 0},
                                     {3, 0, 10, 10, PER}, {2, 0, 20, 10, 0}};
    for (size_t c = 0; c < sizeof bad / sizeof *bad; c++) {
        for (int i = 0; i < B * PER; i++)
            blocks[i] = -99.0f;
        int32_t cut[70] = {0};
        memcpy(cut, bad[c] + 1, 4 * sizeof(int32_t));
        if (bad[c][0] == 65)
            cut[65] = PER;
        TU_FAIL_MSG(mlp__dataset_gather_next(ds[0], idx, B, NULL, 0, bad[c][0], cut,
                                             blocks, l_blocks, NULL, "test"),
                    MLP_STATUS_INVALID_ARG, "column blocks");
        for (int i = 0; i < B * PER; i++)
            TU_CHECK(blocks[i] == -99.0f);
    }
    mlp_dataset_destroy(ds[0]);
    mlp_dataset_destroy(ds[1]);
    free(pix);
    free(val);
}
END_TEST

/* mlp__batcher_next_count says the size of every batch the next call
 * gives, 0 at each epoch's end, and changes nothing: the batches by
 * column blocks come in the order and sizes of mlp_batcher_next_batch's. */
START_TEST(batcher_next_count_and_blocks)
{
    enum { N = 10, PER = 6, B = 4 };
    float *x = ramp(N, PER);
    const int32_t shape[1] = {PER};
    int32_t lab[N];
    for (int i = 0; i < N; i++)
        lab[i] = i % 3;
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create_f32(&ds, N, 1, shape, x, lab, 3, 0));
    mlp_batcher *a = NULL, *b = NULL;
    TU_OK(mlp_batcher_create(&a, ds, B, 1, 5));
    TU_OK(mlp_batcher_create(&b, ds, B, 1, 5));
    const int32_t cut[3] = {0, 2, PER};
    float xa[B * PER], xb[B * PER], xb_all[N * PER];
    int32_t la[B], lb[B], lb_all[N], na, nb;
    const int32_t sizes[] = {4, 4, 2, 0, 4, 4, 2, 0, 4};
    for (size_t k = 0; k < sizeof sizes / sizeof *sizes; k++) {
        ck_assert_int_eq(mlp__batcher_next_count(b), sizes[k]);
        ck_assert_int_eq(mlp__batcher_next_count(b), sizes[k]);
        TU_OK(mlp_batcher_next_batch(a, xa, la, NULL, &na));
        TU_OK(mlp__batcher_next_blocks(b, 2, cut, xb, lb, NULL, &nb));
        ck_assert_int_eq(na, sizes[k]);
        ck_assert_int_eq(nb, sizes[k]);
        ck_assert_mem_eq(lb, la, (size_t)na * sizeof *la);
        for (int32_t i = 0; i < na; i++)
            for (int32_t j = 0; j < PER; j++) {
                const float got = j < 2 ? xb[i * 2 + j] : xb[na * 2 + i * 4 + j - 2];
                ck_assert(got == xa[i * PER + j]);
            }
    }
    /* by rows when cols is NULL */
    TU_OK(mlp__batcher_next_blocks(b, 0, NULL, xb, lb, NULL, &nb));
    TU_OK(mlp_batcher_next_batch(a, xa, la, NULL, &na));
    ck_assert_int_eq(nb, na);
    ck_assert_mem_eq(xb, xa, (size_t)na * PER * sizeof(float));
    TU_FAIL(mlp__batcher_next_blocks(b, 2, cut, NULL, lb, NULL, &nb),
            MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp__batcher_next_blocks(NULL, 2, cut, xb, lb, NULL, &nb),
            MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(nb, 0);
    mlp_batcher_destroy(a);
    mlp_batcher_destroy(b);
    /* a batch larger than the dataset: the whole of it, then the end */
    TU_OK(mlp_batcher_create(&b, ds, 16, 0, 0));
    ck_assert_int_eq(mlp__batcher_next_count(b), N);
    TU_OK(mlp__batcher_next_blocks(b, 0, NULL, xb_all, lb_all, NULL, &nb));
    ck_assert_int_eq(nb, N);
    ck_assert_int_eq(mlp__batcher_next_count(b), 0);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
    free(x);
}
END_TEST

/* A random validation split: shuffled indices, two subsets; every sample
 * lands in exactly one, with its target, for both storages. */
START_TEST(subset_random_split)
{
    long live = mlp__alloc_live();
    enum { N = 11 };
    const int32_t shape[1] = {2};
    float x[N * 2], y[N];
    uint8_t px[N];
    int32_t lab[N];
    for (int i = 0; i < N; i++) {
        x[2 * i] = (float)i;
        x[2 * i + 1] = 0.5f;
        y[i] = (float)(3 * i);
        px[i] = (uint8_t)i;
        lab[i] = i % 2;
    }
    mlp_dataset *v = NULL, *u = NULL;
    TU_OK(mlp_dataset_create_f32_values(&v, N, 1, shape, x, 1, y, MLP_DATASET_BORROW));
    TU_OK(mlp_dataset_create(&u, N, 1, 1, 1, px, lab, 2));
    const char *names[2] = {"even", "odd"};
    TU_OK(mlp_dataset_set_class_names(u, names, 2));
    int32_t idx[N];
    tu_rng r;
    tu_rng_seed(&r, 5);
    for (int i = 0; i < N; i++)
        idx[i] = i;
    for (int i = N - 1; i > 0; i--) {
        int j = tu_rng_below(&r, i + 1), t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    mlp_dataset *va = NULL, *tr = NULL, *ua = NULL;
    TU_OK(mlp_dataset_subset(v, idx, 3, &va));
    TU_OK(mlp_dataset_subset(v, idx + 3, N - 3, &tr));
    TU_OK(mlp_dataset_subset(u, idx, N, &ua));
    x[0] = -1.0f; /* the subsets own their data */
    int seen[N] = {0};
    float s[2];
    for (int i = 0; i < N; i++) {
        const mlp_dataset *d = i < 3 ? va : tr;
        int32_t k = i < 3 ? i : i - 3;
        TU_OK(mlp_dataset_sample(d, k, s));
        int id = (int)s[0];
        ck_assert_int_eq(id, idx[i] == 0 ? 0 : idx[i]);
        ck_assert(mlp_dataset_target_values(d, k)[0] == (float)(3 * idx[i]));
        seen[idx[i]]++;
        ck_assert_int_eq(mlp_dataset_label(ua, i), idx[i] % 2);
        ck_assert_int_eq(mlp_dataset_image(ua, i)[0], idx[i]);
    }
    for (int i = 0; i < N; i++)
        ck_assert_int_eq(seen[i], 1);
    ck_assert_str_eq(mlp_dataset_class_name(ua, 1), "odd");
    /* Repeats are allowed; out of range is not. */
    const int32_t rep[3] = {4, 4, 4}, bad[2] = {0, N};
    mlp_dataset *d = NULL;
    TU_OK(mlp_dataset_subset(v, rep, 3, &d));
    ck_assert(mlp_dataset_target_values(d, 2)[0] == 12.0f);
    mlp_dataset_destroy(d);
    d = (mlp_dataset *)&d;
    TU_FAIL_MSG(mlp_dataset_subset(v, bad, 2, &d), MLP_STATUS_INVALID_ARG,
                "indices[1] = 11");
    ck_assert_ptr_null(d);
    TU_FAIL(mlp_dataset_subset(v, rep, 0, &d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_subset(NULL, rep, 1, &d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_subset(v, NULL, 1, &d), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_subset(v, rep, 1, NULL), MLP_STATUS_INVALID_ARG);
    oom_ds c = {.src = u, .idx = idx, .n = 5};
    oom_ds_loop("mlp_dataset_subset", try_subset, &c, 0);
    mlp_dataset_destroy(va);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(ua);
    mlp_dataset_destroy(u);
    mlp_dataset_destroy(v);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(gather_and_rows)
{
    const int32_t shape[1] = {3};
    float *x = ramp(6, 3);
    float y[6];
    int32_t lab[6] = {0, 1, 0, 1, 0, 1};
    for (int i = 0; i < 6; i++)
        y[i] = (float)i * 0.5f;
    mlp_dataset *c = NULL, *v = NULL;
    TU_OK(mlp_dataset_create_f32(&c, 6, 1, shape, x, lab, 2, 0));
    TU_OK(mlp_dataset_create_f32_values(&v, 6, 1, shape, x, 1, y, 0));
    const int32_t idx[3] = {5, 0, 3};
    float xb[9], yb[3];
    int32_t lb[3];
    TU_OK(mlp_dataset_gather(c, idx, 3, xb, lb));
    ck_assert(xb[0] == x[15] && xb[3] == x[0] && xb[8] == x[11]);
    ck_assert(lb[0] == 1 && lb[1] == 0 && lb[2] == 1);
    TU_FAIL(mlp_dataset_gather(v, idx, 3, xb, lb), MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_dataset_gather(v, idx, 3, xb, NULL));

    TU_OK(mlp__dataset_rows(c, 2, 3, xb, lb, NULL));
    ck_assert(xb[0] == x[6] && xb[8] == x[14]);
    ck_assert(lb[0] == 0 && lb[2] == 0);
    TU_OK(mlp__dataset_rows(v, 3, 3, xb, NULL, yb));
    ck_assert(yb[0] == 1.5f && yb[2] == 2.5f && xb[0] == x[9]);
    TU_FAIL(mlp__dataset_rows(v, 4, 3, xb, NULL, yb), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp__dataset_rows(v, -1, 1, xb, NULL, yb), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp__dataset_rows(v, 0, 0, xb, NULL, yb), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp__dataset_rows(v, 0, 1, xb, lb, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp__dataset_rows(c, 0, 1, xb, NULL, yb), MLP_STATUS_INVALID_ARG);
    mlp_dataset_destroy(c);
    mlp_dataset_destroy(v);
    free(x);
}
END_TEST

/* The float32 twin of a uint8 class dataset: its samples as
 * mlp_dataset_sample reads them (byte / 255), copied, of shape `shape`. */
static mlp_dataset *float_twin(const mlp_dataset *u, int rank, const int32_t *shape)
{
    int32_t n = mlp_dataset_size(u);
    int64_t per = mlp_dataset_sample_size(u);
    float *x = malloc((size_t)(n * per) * sizeof *x);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    ck_assert(x && lab);
    for (int32_t i = 0; i < n; i++) {
        TU_OK(mlp_dataset_sample(u, i, x + i * per));
        lab[i] = mlp_dataset_label(u, i);
    }
    mlp_dataset *f = NULL;
    TU_OK(mlp_dataset_create_f32(&f, n, rank, shape, x, lab, mlp_dataset_num_classes(u),
                                 MLP_DATASET_COPY));
    free(x);
    free(lab);
    return f;
}

/* mlp_model_evaluate gathers through mlp__dataset_rows: a uint8 dataset
 * and the float dataset of its scaled pixels give the same numbers. */
START_TEST(evaluate_same_on_both_storages)
{
    mlp_dataset *u = tu_blobs(23, 3, 1, 2, 3, 20.0, 5, 6);
    const int32_t shape[1] = {6};
    mlp_dataset *f = float_twin(u, 1, shape);
    const int32_t in[3] = {1, 2, 3};
    mlp_model *m = tu_model(3, in, 7);
    tu_add(m, tu_flatten());
    tu_add(m, tu_dense(5));
    tu_add(m, tu_tanh());
    tu_add(m, tu_dense(3));
    double eu, au, ef, af;
    TU_OK(mlp_model_evaluate(m, u, 4, &eu, &au));
    TU_OK(mlp_model_evaluate(m, f, 4, &ef, &af));
    ck_assert(eu == ef && au == af);
    mlp_model_destroy(m);
    mlp_dataset_destroy(f);
    mlp_dataset_destroy(u);
}
END_TEST

/* mlp_model_fit on a float dataset of the scaled pixels trains exactly as
 * on the uint8 dataset: same batches, same order, same parameters. */
START_TEST(fit_same_on_both_storages)
{
    mlp_dataset *u = tu_blobs(40, 3, 1, 2, 2, 25.0, 8, 9);
    const int32_t shape[3] = {1, 2, 2};
    mlp_dataset *f = float_twin(u, 3, shape);
    float *params[2];
    int64_t np = 0;
    for (int run = 0; run < 2; run++) {
        mlp_model *m = tu_model(3, shape, 11);
        tu_add(m, tu_flatten());
        tu_add(m, tu_dense(6));
        tu_add(m, tu_relu());
        tu_add(m, tu_dense(3));
        mlp_optimizer *opt = NULL;
        TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
        mlp_fit_options o;
        TU_OK(mlp_fit_options_init(&o));
        o.epochs = 3;
        o.batch_size = 7;
        o.seed = 21;
        TU_OK(mlp_model_fit(m, opt, run ? f : u, run ? f : u, &o));
        np = mlp_model_param_count(m);
        params[run] = malloc((size_t)np * sizeof(float));
        TU_OK(mlp_model_get_params(m, params[run], np));
        mlp_optimizer_destroy(opt);
        mlp_model_destroy(m);
    }
    ck_assert(memcmp(params[0], params[1], (size_t)np * sizeof(float)) == 0);
    free(params[0]);
    free(params[1]);
    mlp_dataset_destroy(f);
    mlp_dataset_destroy(u);
}
END_TEST

START_TEST(class_names_setter)
{
    long live = mlp__alloc_live();
    int32_t lab[4] = {0, 1, 2, 3};
    uint8_t px[4] = {0};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, 4, 1, 1, 1, px, lab, 4));
    const char *names[4] = {"T-shirt/top", "Trouser", NULL, "Ankle boot \xE2\x82\xAC"};
    TU_OK(mlp_dataset_set_class_names(ds, names, 4));
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "T-shirt/top");
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 2));
    ck_assert_str_eq(mlp_dataset_class_name(ds, 3), "Ankle boot \xE2\x82\xAC");
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 4));

    char longest[MLP_CLASS_NAME_MAX + 2];
    memset(longest, 'a', sizeof longest);
    longest[MLP_CLASS_NAME_MAX] = '\0';
    const char *ok_long[4] = {longest, "b", "c", "d"};
    TU_OK(mlp_dataset_set_class_names(ds, ok_long, 4));
    ck_assert_int_eq((int)strlen(mlp_dataset_class_name(ds, 0)), MLP_CLASS_NAME_MAX);
    longest[MLP_CLASS_NAME_MAX] = 'a';
    longest[MLP_CLASS_NAME_MAX + 1] = '\0';
    static const struct {
        const char *name, *what;
    } bad[] = {
        {"tab\there", "control"},      {"\xC3", "UTF-8"},
        {"\xC0\x80", "UTF-8"},         {"\xED\xA0\x80", "UTF-8"},
        {"\xF5\x80\x80\x80", "UTF-8"}, {"\xC2\x85", "control"},
        {"\x7F", "control"},           {"\x1F", "control"},
        {"\xC2\x80", "control"},       {"\xC2\x9F", "control"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        const char *set[4] = {"a", "b", bad[k].name, "d"};
        TU_FAIL(mlp_dataset_set_class_names(ds, set, 4), MLP_STATUS_INVALID_ARG);
        TU_ERROR_HAS("names[2]");
        TU_ERROR_HAS(bad[k].what);
    }
    const char *too_long[4] = {"a", longest, "c", "d"};
    TU_FAIL_MSG(mlp_dataset_set_class_names(ds, too_long, 4), MLP_STATUS_INVALID_ARG,
                "longer than 255");
    const char *twice[4] = {"a", "b", "a", "d"};
    TU_FAIL_MSG(mlp_dataset_set_class_names(ds, twice, 4), MLP_STATUS_INVALID_ARG,
                "names[0] and names[2]");
    /* Of two repeats, the one a scan in order meets first. */
    const char *two_repeats[4] = {"a", "b", "b", "a"};
    TU_FAIL_MSG(mlp_dataset_set_class_names(ds, two_repeats, 4), MLP_STATUS_INVALID_ARG,
                "names[1] and names[2] are both \"b\"");
    /* Unnamed classes are not names, so two of them are no repeat. */
    const char *unnamed[4] = {"", "b", NULL, ""};
    TU_OK(mlp_dataset_set_class_names(ds, unnamed, 4));
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 3));
    /* UTF-8 past the C1 controls is text: U+FFFD, "nihon". */
    const char *wide[4] = {"\xEF\xBF\xBD", "b", "\xE6\x97\xA5\xE6\x9C\xAC", "d"};
    TU_OK(mlp_dataset_set_class_names(ds, wide, 4));
    ck_assert_str_eq(mlp_dataset_class_name(ds, 2), "\xE6\x97\xA5\xE6\x9C\xAC");
    TU_FAIL(mlp_dataset_set_class_names(ds, names, 3), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_set_class_names(ds, NULL, 4), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_set_class_names(NULL, names, 4), MLP_STATUS_INVALID_ARG);
    /* Failures keep the old names. */
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "b");
    /* Names travel with splits. */
    mlp_dataset *a = NULL, *b = NULL;
    TU_OK(mlp_dataset_split(ds, 2, &a, &b));
    ck_assert_str_eq(mlp_dataset_class_name(b, 3), "d");
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    TU_OK(mlp_dataset_set_class_names(ds, NULL, 0));
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 1));
    mlp_dataset_destroy(ds);

    /* A dataset with float targets has no classes to name. */
    const int32_t shape[1] = {1};
    float x[2] = {0, 1}, y[2] = {0, 1};
    TU_OK(mlp_dataset_create_f32_values(&ds, 2, 1, shape, x, 1, y, 0));
    TU_FAIL(mlp_dataset_set_class_names(ds, names, 0), MLP_STATUS_INVALID_ARG);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(mapping_with_string_names)
{
    long live = mlp__alloc_live();
    int32_t lab[4] = {0, 1, 2, 3};
    uint8_t px[4] = {0};
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, 4, 1, 1, 1, px, lab, 4));
    char path[64];
    /* The quoted form beside the old one, escapes, blanks, CRLF. */
    temp_text(path, "0 \"T-shirt/top\"\r\n1 66\n\n 2\t\"say \\\"hi\\\" \\\\ ok\"  \n"
                    "3 \"Ankle boot\"\n");
    TU_OK(mlp_dataset_load_mapping(ds, path));
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "T-shirt/top");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "B");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 2), "say \"hi\" \\ ok");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 3), "Ankle boot");
    static const struct {
        const char *text, *what;
    } bad[] = {
        {"0 \"open\n", ":1: expected"},
        {"0 \"a\" b\n", ":1: expected"},
        {"0 \"a\\n\"\n", ":1: expected"},
        {"0 \"\"\n", ":1: the name of label 0 is empty"},
        {"0 \"a\"\n1 \"\x01\"\n", ":2: the name of label 1 holds a control"},
        {"0 \"\xFF\"\n", ":1: the name of label 0 is not valid UTF-8"},
        {"0 \"a\"\n1 \"\xC2\x85\"\n", ":2: the name of label 1 holds a control"},
        {"0 \"a\"\n1 \"b\"\n2 \"a\"\n", ":3: labels 0 (line 1) and 2 are both \"a\""},
        {"0 \"a\"\n0 \"b\"\n", ":2: label 0 is mapped twice"},
        {"7 \"a\"\n", ":1: label 7 is outside"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        char p2[64];
        temp_text(p2, bad[k].text);
        TU_FAIL_MSG(mlp_dataset_load_mapping(ds, p2), MLP_STATUS_BAD_FORMAT, bad[k].what);
        ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "T-shirt/top");
        unlink(p2);
    }
    oom_ds c = {.src = ds, .path = path, .kept_name0 = "T-shirt/top"};
    oom_ds_loop("mlp_dataset_load_mapping", try_load_mapping, &c, 0);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 3), "Ankle boot");
    unlink(path);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(oom_float_paths)
{
    long live = mlp__alloc_live();
    const int32_t shape[2] = {2, 2};
    float *x = ramp(5, 4);
    int32_t lab[5] = {0, 1, 0, 1, 0};
    float y[10] = {0};
    oom_ds c = {.shape = shape, .x = x, .lab = lab, .y = y};
    oom_ds_loop("mlp_dataset_create_f32, copied", try_create, &c, 0);
    c.flags = MLP_DATASET_BORROW;
    oom_ds_loop("mlp_dataset_create_f32, borrowed", try_create, &c, 0);
    oom_ds_loop("mlp_dataset_create_f32_values", try_create_values, &c, 1);
    mlp_dataset *ds = c.src = c.ds;
    c.ds = NULL;
    c.n = 2;
    oom_ds_loop("mlp_dataset_split, float targets", try_split, &c, 0);
    mlp_dataset_destroy(ds);
    TU_OK(mlp_dataset_create_f32(&ds, 5, 2, shape, x, lab, 2, 0));
    const char *names[2] = {"yes", "no"};
    c.src = ds;
    c.names = names;
    oom_ds_loop("mlp_dataset_set_class_names", try_set_names, &c, 1);
    c.n = 4;
    c.b_name1 = "no";
    oom_ds_loop("mlp_dataset_split, class names", try_split, &c, 0);
    c.b_name1 = NULL;
    oom_ds_loop("mlp_batcher_create", try_batcher, &c, 0);
    mlp_dataset_destroy(ds);
    free(x);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

static Suite *dataset_float_suite(void)
{
    Suite *s = suite_create("dataset_float");
    TCase *tc = tcase_create("create");
    tcase_add_test(tc, create_copy_and_queries);
    tcase_add_test(tc, shapes_of_rank_2_and_3);
    tcase_add_test(tc, borrow_sees_changes);
    tcase_add_test(tc, create_invalid);
    tcase_add_test(tc, nan_and_inf_refused);
    suite_add_tcase(s, tc);
    tc = tcase_create("batches");
    tcase_add_test(tc, batcher_float_same_order_as_uint8);
    tcase_add_test(tc, batcher_float_targets);
    tcase_add_test(tc, gather_blocks_hold_the_rows);
    tcase_add_test(tc, batcher_next_count_and_blocks);
    tcase_add_test(tc, subset_random_split);
    tcase_add_test(tc, gather_and_rows);
    tcase_add_test(tc, evaluate_same_on_both_storages);
    tcase_add_test(tc, fit_same_on_both_storages);
    suite_add_tcase(s, tc);
    tc = tcase_create("names");
    tcase_add_test(tc, class_names_setter);
    tcase_add_test(tc, mapping_with_string_names);
    suite_add_tcase(s, tc);
    tc = tcase_create("oom");
    tcase_add_test(tc, oom_float_paths);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(dataset_float_suite, 0)
