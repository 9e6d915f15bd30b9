/*
 * Tests of include/mlpnet/tensor.h: creation, views, shape queries, copies,
 * reshape, fill, argument checks, allocation failures and leaks.
 */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "testutil.h"

/* A non-NULL pointer that no call may leave behind on failure. */
static mlp_tensor *const SENTINEL = (mlp_tensor *)&SENTINEL;

START_TEST(create_sets_shape_and_zero_fills)
{
    static const int32_t shapes[4][4] = {
        {7, 0, 0, 0}, {3, 5, 0, 0}, {2, 3, 4, 0}, {2, 1, 3, 5}};
    for (int rank = 1; rank <= 4; rank++) {
        int32_t dims[4];
        memcpy(dims, shapes[rank - 1], sizeof dims);
        mlp_tensor *t = NULL;
        TU_OK(mlp_tensor_create(&t, rank, dims));
        ck_assert_ptr_nonnull(t);
        /* dims are copied: scribbling on the caller's array changes nothing */
        int32_t expect[4];
        memcpy(expect, dims, sizeof expect);
        for (int i = 0; i < 4; i++)
            dims[i] = 99;
        ck_assert_int_eq(mlp_tensor_rank(t), rank);
        int64_t n = 1;
        for (int i = 0; i < rank; i++) {
            ck_assert_int_eq(mlp_tensor_dim(t, i), expect[i]);
            n *= expect[i];
        }
        ck_assert_int_eq(mlp_tensor_dim(t, rank), 0);
        ck_assert_int_eq(mlp_tensor_dim(t, -1), 0);
        ck_assert_int_eq(mlp_tensor_dim(t, 100), 0);
        ck_assert_int_eq(mlp_tensor_numel(t), n);
        const float *d = mlp_tensor_data_const(t);
        ck_assert_ptr_nonnull(d);
        ck_assert_ptr_eq(d, mlp_tensor_data(t));
        for (int64_t i = 0; i < n; i++)
            ck_assert_msg(d[i] == 0.0f && !signbit(d[i]), "element %lld = %g, want +0",
                          (long long)i, (double)d[i]);
        /* every element is writable */
        for (int64_t i = 0; i < n; i++)
            mlp_tensor_data(t)[i] = (float)i;
        mlp_tensor_destroy(t);
    }
}
END_TEST

START_TEST(wrap_views_caller_memory)
{
    float buf[12];
    for (int i = 0; i < 12; i++)
        buf[i] = (float)(i * i);
    const int32_t dims[2] = {3, 4};
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_wrap(&t, 2, dims, buf));
    ck_assert_ptr_eq(mlp_tensor_data(t), buf);
    ck_assert_int_eq(mlp_tensor_numel(t), 12);
    ck_assert_int_eq(mlp_tensor_dim(t, 0), 3);
    ck_assert_int_eq(mlp_tensor_dim(t, 1), 4);
    /* not zero-filled: it views the caller's data */
    ck_assert_float_eq(mlp_tensor_data_const(t)[5], 25.0f);
    /* writes through the tensor land in the buffer and vice versa */
    mlp_tensor_fill(t, 2.5f);
    for (int i = 0; i < 12; i++)
        ck_assert_float_eq(buf[i], 2.5f);
    buf[7] = -1.0f;
    ck_assert_float_eq(mlp_tensor_data_const(t)[7], -1.0f);
    /* destroying the view must not free the stack buffer (ASan/valgrind
     * would report it); the buffer stays usable */
    mlp_tensor_destroy(t);
    buf[0] = 3.0f;
    ck_assert_float_eq(buf[0], 3.0f);
}
END_TEST

START_TEST(copy_in_and_out)
{
    mlp_tensor *t = tu_tensor(3, 2, 3, 2);
    float src[12], dst[12];
    for (int i = 0; i < 12; i++)
        src[i] = 0.5f * (float)i - 3.0f;
    TU_OK(mlp_tensor_copy_from(t, src, 12));
    /* src is copied, not kept */
    src[0] = 1000.0f;
    ck_assert_float_eq(mlp_tensor_data_const(t)[0], -3.0f);
    for (int i = 1; i < 12; i++)
        ck_assert_float_eq(mlp_tensor_data_const(t)[i], 0.5f * (float)i - 3.0f);
    memset(dst, 0, sizeof dst);
    TU_OK(mlp_tensor_copy_to(t, dst, 12));
    ck_assert_float_eq(dst[0], -3.0f);
    for (int i = 1; i < 12; i++)
        ck_assert_float_eq(dst[i], 0.5f * (float)i - 3.0f);

    /* wrong counts are shape mismatches and touch nothing */
    float big[13];
    for (int i = 0; i < 13; i++)
        big[i] = 77.0f;
    TU_FAIL(mlp_tensor_copy_from(t, big, 13), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_tensor_copy_from(t, big, 11), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_tensor_copy_from(t, big, 0), MLP_STATUS_SHAPE_MISMATCH);
    {
        /* a negative count is wrong either way: accept both statuses */
        mlp_status st = mlp_tensor_copy_from(t, big, -12);
        ck_assert_msg(st == MLP_STATUS_SHAPE_MISMATCH || st == MLP_STATUS_INVALID_ARG,
                      "copy_from(n = -12) -> %s", mlp_status_str(st));
    }
    ck_assert_float_eq(mlp_tensor_data_const(t)[0], -3.0f);
    TU_FAIL(mlp_tensor_copy_to(t, big, 13), MLP_STATUS_SHAPE_MISMATCH);
    TU_FAIL(mlp_tensor_copy_to(t, big, 11), MLP_STATUS_SHAPE_MISMATCH);
    for (int i = 0; i < 13; i++)
        ck_assert_float_eq(big[i], 77.0f);

    TU_FAIL(mlp_tensor_copy_from(NULL, src, 12), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_copy_from(t, NULL, 12), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_copy_to(NULL, dst, 12), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_copy_to(t, NULL, 12), MLP_STATUS_INVALID_ARG);
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(reshape_keeps_data)
{
    mlp_tensor *t = tu_tensor(3, 2, 3, 4);
    float *d = mlp_tensor_data(t);
    for (int i = 0; i < 24; i++)
        d[i] = (float)i;
    const int32_t d2[2] = {6, 4};
    TU_OK(mlp_tensor_reshape(t, 2, d2));
    ck_assert_int_eq(mlp_tensor_rank(t), 2);
    ck_assert_int_eq(mlp_tensor_dim(t, 0), 6);
    ck_assert_int_eq(mlp_tensor_dim(t, 1), 4);
    ck_assert_int_eq(mlp_tensor_dim(t, 2), 0);
    ck_assert_int_eq(mlp_tensor_numel(t), 24);
    for (int i = 0; i < 24; i++)
        ck_assert_float_eq(mlp_tensor_data_const(t)[i], (float)i);

    const int32_t d4[4] = {1, 2, 3, 4};
    TU_OK(mlp_tensor_reshape(t, 4, d4));
    ck_assert_int_eq(mlp_tensor_rank(t), 4);
    ck_assert_int_eq(mlp_tensor_dim(t, 3), 4);
    const int32_t d1[1] = {24};
    TU_OK(mlp_tensor_reshape(t, 1, d1));
    ck_assert_int_eq(mlp_tensor_rank(t), 1);
    ck_assert_int_eq(mlp_tensor_dim(t, 0), 24);

    /* a different count is a shape mismatch and leaves the shape alone */
    const int32_t bad[2] = {5, 5};
    TU_FAIL(mlp_tensor_reshape(t, 2, bad), MLP_STATUS_SHAPE_MISMATCH);
    ck_assert_int_eq(mlp_tensor_rank(t), 1);
    ck_assert_int_eq(mlp_tensor_dim(t, 0), 24);
    const int32_t zero[2] = {0, 24};
    TU_FAIL(mlp_tensor_reshape(t, 2, zero), MLP_STATUS_INVALID_ARG);
    const int32_t neg[2] = {-4, -6};
    TU_FAIL(mlp_tensor_reshape(t, 2, neg), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_reshape(t, 0, d2), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_reshape(t, 5, d4), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_reshape(t, 2, NULL), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_reshape(NULL, 2, d2), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(mlp_tensor_rank(t), 1);
    ck_assert_int_eq(mlp_tensor_numel(t), 24);
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(reshape_wrapped_view)
{
    float buf[6] = {1, 2, 3, 4, 5, 6};
    const int32_t dims[1] = {6};
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_wrap(&t, 1, dims, buf));
    const int32_t d2[2] = {2, 3};
    TU_OK(mlp_tensor_reshape(t, 2, d2));
    ck_assert_ptr_eq(mlp_tensor_data(t), buf);
    ck_assert_int_eq(mlp_tensor_dim(t, 1), 3);
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(fill_sets_every_element)
{
    mlp_tensor *t = tu_tensor(4, 2, 2, 3, 5);
    mlp_tensor_fill(t, -1.25f);
    for (int64_t i = 0; i < 60; i++)
        ck_assert_float_eq(mlp_tensor_data_const(t)[i], -1.25f);
    mlp_tensor_fill(t, 0.0f);
    for (int64_t i = 0; i < 60; i++)
        ck_assert_float_eq(mlp_tensor_data_const(t)[i], 0.0f);
    mlp_tensor_fill(t, INFINITY);
    ck_assert(isinf(mlp_tensor_data_const(t)[59]));
    mlp_tensor_fill(NULL, 1.0f); /* no-op */
    mlp_tensor_destroy(t);
}
END_TEST

START_TEST(null_queries)
{
    ck_assert_int_eq(mlp_tensor_rank(NULL), 0);
    ck_assert_int_eq(mlp_tensor_dim(NULL, 0), 0);
    ck_assert_int_eq(mlp_tensor_numel(NULL), 0);
    ck_assert_ptr_null(mlp_tensor_data(NULL));
    ck_assert_ptr_null(mlp_tensor_data_const(NULL));
    mlp_tensor_destroy(NULL);
}
END_TEST

/* Each bad create must return `want`, set *out to NULL, say why, and leak
 * nothing. */
static void expect_create_fails(int rank, const int32_t *dims, mlp_status want)
{
    long live = mlp__alloc_live();
    mlp_tensor *t = SENTINEL;
    TU_FAIL(mlp_tensor_create(&t, rank, dims), want);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(mlp__alloc_live(), live);

    float buf[4] = {0};
    t = SENTINEL;
    TU_FAIL(mlp_tensor_wrap(&t, rank, dims, buf), want);
    ck_assert_ptr_null(t);
    ck_assert_int_eq(mlp__alloc_live(), live);
}

START_TEST(create_misuse)
{
    const int32_t ok[4] = {2, 2, 2, 2};
    const int32_t five[5] = {1, 1, 1, 1, 1};
    TU_FAIL(mlp_tensor_create(NULL, 2, ok), MLP_STATUS_INVALID_ARG);
    expect_create_fails(2, NULL, MLP_STATUS_INVALID_ARG);
    expect_create_fails(0, ok, MLP_STATUS_INVALID_ARG);
    expect_create_fails(-1, ok, MLP_STATUS_INVALID_ARG);
    expect_create_fails(5, five, MLP_STATUS_INVALID_ARG);
    const int32_t zero[3] = {2, 0, 3};
    expect_create_fails(3, zero, MLP_STATUS_INVALID_ARG);
    const int32_t neg[2] = {4, -3};
    expect_create_fails(2, neg, MLP_STATUS_INVALID_ARG);
    const int32_t minint[1] = {INT32_MIN};
    expect_create_fails(1, minint, MLP_STATUS_INVALID_ARG);
    /* (2^31 - 1)^4 overflows int64 */
    const int32_t huge[4] = {INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX};
    expect_create_fails(4, huge, MLP_STATUS_INVALID_ARG);
    /* (2^31 - 1)^3 * 2 > 2^63 as well */
    const int32_t huge2[4] = {INT32_MAX, INT32_MAX, INT32_MAX, 2};
    expect_create_fails(4, huge2, MLP_STATUS_INVALID_ARG);
    /* one element past the bound the header gives, 2^60, far from any
     * overflow: refused as invalid, not tried and found too large */
    const int32_t past[2] = {1 << 30, (1 << 30) + 1};
    expect_create_fails(2, past, MLP_STATUS_INVALID_ARG);
    ck_assert_msg(strstr(mlp_last_error(), "more than 2^60 elements"), "%s",
                  mlp_last_error());

    float buf[4] = {0};
    mlp_tensor *t = SENTINEL;
    TU_FAIL(mlp_tensor_wrap(NULL, 2, ok, buf), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_tensor_wrap(&t, 2, ok, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(t);
}
END_TEST

/* 2^62 elements fit in int64, but 2^62 * sizeof(float) = 2^64 bytes wraps a
 * 64-bit size_t to 0. The create must fail (invalid or out of memory), never
 * hand back a tensor over a tiny block. */
START_TEST(create_byte_size_overflow)
{
    const int32_t dims[3] = {1 << 30, 1 << 30, 4};
    long live = mlp__alloc_live();
    mlp_tensor *t = SENTINEL;
    mlp_status st = mlp_tensor_create(&t, 3, dims);
    ck_assert_msg(st == MLP_STATUS_INVALID_ARG || st == MLP_STATUS_NO_MEMORY,
                  "create of 2^62 floats -> %s: %s", mlp_status_str(st),
                  mlp_last_error());
    ck_assert_ptr_null(t);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

typedef struct oom_ctx {
    mlp_tensor *t;
    float buf[120];
    int wrapped; /* mlp_tensor_wrap of buf */
} oom_ctx;

static const int32_t OOM_DIMS[3] = {4, 5, 6};

static mlp_status oom_create(void *ctx)
{
    oom_ctx *c = ctx;
    c->t = SENTINEL;
    return mlp_tensor_create(&c->t, 3, OOM_DIMS);
}

static mlp_status oom_wrap(void *ctx)
{
    oom_ctx *c = ctx;
    c->t = SENTINEL;
    c->wrapped = 1;
    return mlp_tensor_wrap(&c->t, 3, OOM_DIMS, c->buf);
}

/* A failure leaves NULL; a success is the tensor asked for, then freed. */
static void oom_check(void *ctx, mlp_status st)
{
    oom_ctx *c = ctx;
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(c->t);
        return;
    }
    ck_assert_ptr_nonnull(c->t);
    ck_assert_int_eq(mlp_tensor_numel(c->t), 120);
    if (c->wrapped)
        ck_assert_ptr_eq(mlp_tensor_data(c->t), c->buf);
    mlp_tensor_destroy(c->t);
}

START_TEST(create_oom_loop)
{
    oom_ctx c = {.wrapped = 0};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = 100;
    cfg.after = oom_check;
    tu_oom_loop("mlp_tensor_create", oom_create, &c, &cfg);
    tu_oom_loop("mlp_tensor_wrap", oom_wrap, &c, &cfg);
}
END_TEST

START_TEST(no_leaks)
{
    long live = mlp__alloc_live();
    mlp_tensor *ts[8];
    for (int i = 0; i < 8; i++)
        ts[i] = tu_tensor(2, i + 1, 3);
    ck_assert_int_gt(mlp__alloc_live(), live);
    for (int i = 0; i < 8; i++)
        mlp_tensor_destroy(ts[i]);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* A read-only view reads like any tensor and refuses every write, with a
 * message that names it; the caller's const data never change. */
START_TEST(wrap_const_is_read_only)
{
    static const float data[6] = {1, 2, 3, 4, 5, 6};
    const int32_t dims[2] = {2, 3};
    mlp_tensor *t = SENTINEL;
    TU_FAIL(mlp_tensor_wrap_const(&t, 2, dims, NULL), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(t);
    TU_FAIL(mlp_tensor_wrap_const(&t, 0, dims, data), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(t);
    TU_FAIL(mlp_tensor_wrap_const(NULL, 2, dims, data), MLP_STATUS_INVALID_ARG);

    TU_OK(mlp_tensor_wrap_const(&t, 2, dims, data));
    ck_assert_int_eq(mlp_tensor_is_read_only(t), 1);
    ck_assert_int_eq(mlp_tensor_is_read_only(NULL), 0);
    ck_assert_int_eq(mlp_tensor_numel(t), 6);
    ck_assert_ptr_eq(mlp_tensor_data_const(t), data);
    float out[6];
    TU_OK(mlp_tensor_copy_to(t, out, 6));
    ck_assert(memcmp(out, data, sizeof out) == 0);

    /* writes are refused */
    ck_assert_ptr_null(mlp_tensor_data(t));
    ck_assert_msg(strstr(mlp_last_error(), "mlp_tensor_data") &&
                      strstr(mlp_last_error(), "read-only") &&
                      strstr(mlp_last_error(), "mlp_tensor_wrap_const"),
                  "%s", mlp_last_error());
    const float src[6] = {0};
    TU_FAIL(mlp_tensor_copy_from(t, src, 6), MLP_STATUS_INVALID_ARG);
    ck_assert_msg(
        strstr(mlp_last_error(), "mlp_tensor_copy_from: the tensor is a read-only"), "%s",
        mlp_last_error());
    mlp_tensor_fill(t, 9.0f);
    ck_assert_msg(strstr(mlp_last_error(), "mlp_tensor_fill") &&
                      strstr(mlp_last_error(), "read-only"),
                  "%s", mlp_last_error());
    ck_assert(data[0] == 1.0f && data[5] == 6.0f);

    /* a reshape changes only the shape, and the view stays read-only */
    const int32_t flat[1] = {6};
    TU_OK(mlp_tensor_reshape(t, 1, flat));
    ck_assert_int_eq(mlp_tensor_is_read_only(t), 1);
    ck_assert_ptr_null(mlp_tensor_data(t));
    mlp_tensor_destroy(t); /* does not free the static data */

    /* tensors of create and wrap are writable */
    mlp_tensor *w = tu_tensor(1, 3);
    ck_assert_int_eq(mlp_tensor_is_read_only(w), 0);
    ck_assert_ptr_nonnull(mlp_tensor_data(w));
    mlp_tensor_destroy(w);
}
END_TEST

static Suite *tensor_suite(void)
{
    Suite *s = suite_create("tensor");
    TCase *tc = tcase_create("basics");
    tcase_add_test(tc, create_sets_shape_and_zero_fills);
    tcase_add_test(tc, wrap_views_caller_memory);
    tcase_add_test(tc, copy_in_and_out);
    tcase_add_test(tc, reshape_keeps_data);
    tcase_add_test(tc, reshape_wrapped_view);
    tcase_add_test(tc, fill_sets_every_element);
    tcase_add_test(tc, null_queries);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_test(tc, create_misuse);
    tcase_add_test(tc, create_byte_size_overflow);
    tcase_add_test(tc, wrap_const_is_read_only);
    suite_add_tcase(s, tc);

    tc = tcase_create("memory");
    tcase_add_test(tc, create_oom_loop);
    tcase_add_test(tc, no_leaks);
    suite_add_tcase(s, tc);
    return s;
}

TU_MAIN(tensor_suite, 0)
