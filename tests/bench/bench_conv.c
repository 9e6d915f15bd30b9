/*
 * Convolution throughput: forward and backward GFLOP/s of single conv2d
 * layers at batch 100, next to cblas_sgemm alone on the GEMM shapes of the
 * layer's im2col path (its group size included), measured in the same run,
 * and the layer's share of it. The gap between the two is what im2col,
 * col2im and the layout passes cost. Run it under OPENBLAS_CORETYPE=...
 * to compare OpenBLAS's kernels (the line printed first names the setting).
 * Usage: bench_conv [threads] (default 2).
 */
#include <stdio.h>
#include <stdlib.h>

#include "backend/gemm.h"
#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_conv"
#include "bench_conv_case.h"
#include "bench_util.h"

enum { BATCH = 100, REPS = 20 };

static void run(const conv_case *cc)
{
    mlp_model *m = bench_conv_model(cc, 1);
    mlp_layer *conv = mlp_model_layer(m, 1);
    mlp_tensor *x = NULL, *dy = NULL;
    CHECK(mlp_tensor_create(&x, 4, (const int32_t[]){BATCH, cc->c, cc->h, cc->w}));
    CHECK(mlp_tensor_create(
        &dy, 4, (const int32_t[]){BATCH, cc->f, conv->out.d[1], conv->out.d[2]}));
    mlp_tensor_fill(x, 0.5f);
    mlp_tensor_fill(dy, 0.01f);
    const mlp_tensor *dx;
    CHECK(mlp_model_forward(m, x, MLP_MODE_TRAIN, NULL)); /* warm up, size buffers */
    CHECK(mlp_model_backward(m, dy, &dx));

    const double K = (double)cc->c * cc->k * cc->k,
                 P = (double)conv->out.d[1] * conv->out.d[2];
    const double fwd_flops = 2.0 * cc->f * K * P * BATCH, bwd_flops = 2.0 * fwd_flops;
    /* Time the measured layer alone through its ops (the 1x1 layer excluded). */
    float *xin = malloc((size_t)BATCH * conv->in_size * sizeof(float));
    float *yout = malloc((size_t)BATCH * conv->out_size * sizeof(float));
    float *gin = malloc((size_t)BATCH * conv->in_size * sizeof(float));
    for (int64_t i = 0; i < (int64_t)BATCH * conv->in_size; i++)
        xin[i] = (float)(i % 7) * 0.1f;
    /* The same GEMMs alone: per group, Z = W col; dW += Z col^T; dcol = W^T Z.
     * Layers on the direct path (one input channel, pointwise kernels)
     * issue per-sample products instead; the reference stays the group
     * GEMM, the larger and faster shape. */
    const int g = mlp__conv2d_group(conv), F = cc->f, Ki = (int)K, gp = (int)(g * P);
    float *a = calloc((size_t)F * Ki, sizeof(float));
    float *col = calloc((size_t)Ki * gp, sizeof(float));
    float *z = calloc((size_t)F * gp, sizeof(float));
    const int groups = (BATCH + g - 1) / g;
    /* Each repetition times the layer and its GEMMs back to back, so that
     * both see the same load; the figures are medians. */
    double t_fwd[REPS], t_bwd[REPS], t_gf[REPS], t_gb[REPS];
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now();
        CHECK(conv->ops->forward(conv, xin, yout, BATCH, MLP_MODE_TRAIN));
        t_fwd[r] = bench_now() - t0;
        t0 = bench_now();
        for (int q = 0; q < groups; q++)
            mlp__sgemm(0, 0, F, gp, Ki, 1.0f, a, Ki, col, gp, 0.0f, z, gp);
        t_gf[r] = bench_now() - t0;
        t0 = bench_now();
        CHECK(conv->ops->backward(conv, xin, yout, mlp_tensor_data(dy), gin, BATCH));
        t_bwd[r] = bench_now() - t0;
        t0 = bench_now();
        for (int q = 0; q < groups; q++) {
            mlp__sgemm(0, 1, F, Ki, gp, 1.0f, z, gp, col, gp, 1.0f, a, Ki);
            mlp__sgemm(1, 0, Ki, gp, F, 1.0f, a, Ki, z, gp, 0.0f, col, gp);
        }
        t_gb[r] = bench_now() - t0;
    }
    /* GEMM flops for whole groups (the last may be padded out in this timing). */
    const double gemm_fwd = 2.0 * F * K * P * g * groups, gemm_bwd = 2.0 * gemm_fwd;
    const double lf = fwd_flops / bench_median(t_fwd, REPS) * 1e-9,
                 lb = bwd_flops / bench_median(t_bwd, REPS) * 1e-9;
    const double gf = gemm_fwd / bench_median(t_gf, REPS) * 1e-9,
                 gb = gemm_bwd / bench_median(t_gb, REPS) * 1e-9;
    printf(
        "%-28s group %3d  forward %6.1f GFLOP/s (sgemm alone %6.1f: %3.0f%%)  backward "
        "%6.1f GFLOP/s (sgemm alone %6.1f: %3.0f%%)\n",
        cc->name, g, lf, gf, 100.0 * lf / gf, lb, gb, 100.0 * lb / gb);
    free(a);
    free(col);
    free(z);
    free(xin);
    free(yout);
    free(gin);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(dy);
    mlp_model_destroy(m);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    CHECK(mlp_set_num_threads(threads));
    const char *core = getenv("OPENBLAS_CORETYPE");
    printf("bench_conv: batch %d, %d threads, OPENBLAS_CORETYPE=%s; medians of %d "
           "repetitions, each layer next to its GEMMs alone in the same repetition, %s "
           "time\n",
           BATCH, mlp_get_num_threads(), core ? core : "(unset: OpenBLAS's choice)", REPS,
           bench_clock_name());
    for (size_t i = 0; i < BENCH_CONV_CASES; i++)
        run(&bench_conv_cases[i]);
    return 0;
}
