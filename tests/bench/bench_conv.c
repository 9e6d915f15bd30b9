/*
 * Convolution throughput: forward and backward GFLOP/s of single conv2d
 * layers at batch 100, next to cblas_sgemm alone on the GEMM shapes of the
 * layer's im2col path (its group size included), measured in the same run,
 * and the layer's share of it. For im2col layers the gap between the two is
 * what im2col, col2im and the layout passes cost. A layer on another path
 * (the direct correlation, corr.h, products per sample, Winograd's path,
 * wino.h) is timed on im2col of groups too, on a second line, and a layer
 * on Winograd's path on products per sample without it, on a third. Every
 * figure counts the multiply-adds of the direct convolution, whatever the
 * path does (Winograd's does fewer). The GEMMs alone write every group's Z
 * into one buffer, which stays in the caches; a layer writes the batch's
 * whole output, which may not. So a last line for each layer times the
 * forward GEMMs again with each group's Z in a place of its own, a buffer
 * the size of the batch's output (its groups padded out), and gives the
 * layer's share of that: the ConvNet's 1->32 layer writes 10 MB of output,
 * its GEMMs alone a Z of 3.2 MB. Run it under
 * OPENBLAS_CORETYPE=... to compare OpenBLAS's kernels (the line printed
 * first names the setting and the kernels OpenBLAS runs). Usage:
 * bench_conv [threads] (default 2).
 */
#include <stdio.h>
#include <stdlib.h>

#ifdef MLPNET_HAVE_OPENBLAS
#include <cblas.h>
#endif

#include "backend/gemm.h"
#include "core/core.h"
#include "layers/layer_impl.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_conv"
#include "bench_conv_case.h"
#include "bench_util.h"

enum { BATCH = 100, REPS = 20 };

/* A layer's forward and backward through its ops, on BATCH samples. */
typedef struct {
    mlp_model *m;
    mlp_layer *conv;
    float *x, *y, *dx;
    mlp_tensor *dy;
} layer_run;

static void layer_open(layer_run *r, const conv_case *cc, int keep)
{
    r->m = bench_conv_model(cc, 1, keep);
    r->conv = mlp_model_layer(r->m, 1);
    mlp_tensor *x = NULL;
    CHECK(mlp_tensor_create(&x, 4, (const int32_t[]){BATCH, cc->c, cc->h, cc->w}));
    CHECK(mlp_tensor_create(
        &r->dy, 4,
        (const int32_t[]){BATCH, cc->f, r->conv->out.d[1], r->conv->out.d[2]}));
    mlp_tensor_fill(x, 0.5f);
    mlp_tensor_fill(r->dy, 0.01f);
    const mlp_tensor *dx;
    CHECK(mlp_model_forward(r->m, x, MLP_MODE_TRAIN, NULL)); /* warm up, size buffers */
    CHECK(mlp_model_backward(r->m, r->dy, &dx));
    mlp_tensor_destroy(x);
    const int64_t in_n = (int64_t)BATCH * r->conv->in_size;
    /* the library's allocator, which places a model's buffers (64-byte
     * aligned, so that a layer's vector stores fall on whole lines) */
    r->x = mlp__alloc((size_t)in_n * sizeof(float));
    r->y = mlp__alloc((size_t)BATCH * r->conv->out_size * sizeof(float));
    r->dx = mlp__alloc((size_t)in_n * sizeof(float));
    if (!r->x || !r->y || !r->dx) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    for (int64_t i = 0; i < in_n; i++)
        r->x[i] = (float)(i % 7) * 0.1f;
}

static double layer_forward(layer_run *r)
{
    const double t0 = bench_now();
    CHECK(r->conv->ops->forward(r->conv, r->x, r->y, BATCH, MLP_MODE_TRAIN));
    return bench_now() - t0;
}

static double layer_backward(layer_run *r)
{
    const double t0 = bench_now();
    CHECK(r->conv->ops->backward(r->conv, r->x, r->y, mlp_tensor_data(r->dy), r->dx,
                                 BATCH));
    return bench_now() - t0;
}

static void layer_close(layer_run *r)
{
    mlp__free(r->x);
    mlp__free(r->y);
    mlp__free(r->dx);
    mlp_tensor_destroy(r->dy);
    mlp_model_destroy(r->m);
}

static void run(const conv_case *cc)
{
    /* The layer on its own path, on im2col of groups when that is another
     * one, and on products per sample without Winograd's path when it
     * took that. */
    layer_run lr, gr, sr;
    layer_open(&lr, cc, 0);
    const int corr = mlp__conv2d_corr(lr.conv), wino = mlp__conv2d_wino(lr.conv),
              other = corr || wino || mlp__conv2d_per_sample(lr.conv);
    layer_open(&gr, cc, 2);
    if (wino)
        layer_open(&sr, cc, 1);
    mlp_layer *conv = gr.conv;
    const double K = (double)cc->c * cc->k * cc->k,
                 P = (double)conv->out.d[1] * conv->out.d[2];
    const double fwd_flops = 2.0 * cc->f * K * P * BATCH, bwd_flops = 2.0 * fwd_flops;
    /* The GEMMs of the im2col path alone: per group, Z = W col; dW += Z
     * col^T; dcol = W^T Z. Layers on products per sample are held to the
     * group GEMMs too, the larger shape. */
    const int g = mlp__conv2d_group(conv), F = cc->f, Ki = (int)K, gp = (int)(g * P);
    float *a = bench_floats((size_t)F * Ki);
    float *col = bench_floats((size_t)Ki * gp);
    float *z = bench_floats((size_t)F * gp);
    const int groups = (BATCH + g - 1) / g;
    /* The forward GEMMs again, each group's Z to a place of its own in a
     * buffer the size of the batch's output, as a layer writes its output:
     * the one Z above stays in the caches however large the output. */
    float *zs = bench_floats((size_t)groups * F * gp);
    /* Each repetition times the layer (on both paths) and the GEMMs back to
     * back, so that all see the same load; the figures are medians. */
    double t_fwd[REPS], t_bwd[REPS], t_gf[REPS], t_gb[REPS], t_if[REPS], t_ib[REPS];
    double t_sf[REPS], t_sb[REPS], t_gs[REPS];
    for (int r = 0; r < REPS; r++) {
        t_fwd[r] = layer_forward(&lr);
        t_if[r] = other ? layer_forward(&gr) : t_fwd[r];
        t_sf[r] = wino ? layer_forward(&sr) : t_fwd[r];
        double t0 = bench_now();
        for (int q = 0; q < groups; q++)
            mlp__sgemm(0, 0, F, gp, Ki, 1.0f, a, Ki, col, gp, 0.0f, z, gp);
        t_gf[r] = bench_now() - t0;
        t0 = bench_now();
        for (int q = 0; q < groups; q++)
            mlp__sgemm(0, 0, F, gp, Ki, 1.0f, a, Ki, col, gp, 0.0f,
                       zs + (int64_t)q * F * gp, gp);
        t_gs[r] = bench_now() - t0;
        t_bwd[r] = layer_backward(&lr);
        t_ib[r] = other ? layer_backward(&gr) : t_bwd[r];
        t_sb[r] = wino ? layer_backward(&sr) : t_bwd[r];
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
    printf("%-28s %-6s forward %6.1f GFLOP/s (sgemm alone %6.1f: %3.0f%%)  backward "
           "%6.1f GFLOP/s (sgemm alone %6.1f: %3.0f%%)\n",
           cc->name,
           corr == 3                         ? "direct"
           : corr                            ? "dW dir"
           : wino                            ? "wino"
           : mlp__conv2d_per_sample(lr.conv) ? "sample"
                                             : "groups",
           lf, gf, 100.0 * lf / gf, lb, gb, 100.0 * lb / gb);
    if (other)
        printf("%-28s %-6s forward %6.1f GFLOP/s  backward %6.1f GFLOP/s (group %d)\n",
               "", "groups", fwd_flops / bench_median(t_if, REPS) * 1e-9,
               bwd_flops / bench_median(t_ib, REPS) * 1e-9, g);
    if (wino) {
        printf("%-28s %-6s forward %6.1f GFLOP/s  backward %6.1f GFLOP/s\n", "", "sample",
               fwd_flops / bench_median(t_sf, REPS) * 1e-9,
               bwd_flops / bench_median(t_sb, REPS) * 1e-9);
        layer_close(&sr);
    }
    const double gs = gemm_fwd / bench_median(t_gs, REPS) * 1e-9;
    printf("%-28s %-6s forward sgemm alone, each group's Z to its own place (%.1f MB): "
           "%6.1f GFLOP/s: %3.0f%%\n",
           "", "", (double)groups * F * gp * sizeof(float) / 1e6, gs, 100.0 * lf / gs);
    free(a);
    free(col);
    free(z);
    free(zs);
    layer_close(&lr);
    layer_close(&gr);
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : 2;
    CHECK(mlp_set_num_threads(threads));
    const char *core = getenv("OPENBLAS_CORETYPE");
#ifdef MLPNET_HAVE_OPENBLAS
    const char *kernels = openblas_get_corename(); /* what OpenBLAS runs, set or chosen */
#else
    const char *kernels = "none (the portable product)";
#endif
    printf(
        "bench_conv: batch %d, %d threads, OPENBLAS_CORETYPE=%s, kernels %s; medians "
        "of %d repetitions, each layer next to its GEMMs alone in the same repetition, "
        "%s time\n",
        BATCH, mlp_get_num_threads(), core ? core : "(unset: OpenBLAS's choice)", kernels,
        REPS, bench_clock_name());
    for (size_t i = 0; i < BENCH_CONV_CASES; i++)
        run(&bench_conv_cases[i]);
    return 0;
}
