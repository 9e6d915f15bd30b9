/*
 * Shared helpers of the libmlpnet Check suites (see testutil.h).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp, lstat */
#endif

#include "testutil.h"

#include "core/core.h"

#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* ---- random numbers ---------------------------------------------------- */

void tu_rng_seed(tu_rng *r, uint64_t seed)
{
    r->state = seed ^ 0x6A09E667F3BCC909ull;
}

uint64_t tu_rng_u64(tu_rng *r)
{
    uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

double tu_rng_uniform(tu_rng *r)
{
    return (double)(tu_rng_u64(r) >> 11) * (1.0 / 9007199254740992.0);
}

double tu_rng_normal(tu_rng *r)
{
    double u1 = ((double)(tu_rng_u64(r) >> 11) + 1.0) * (1.0 / 9007199254740992.0);
    double u2 = tu_rng_uniform(r);
    return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

int32_t tu_rng_below(tu_rng *r, int32_t bound)
{
    /* The modulo bias is irrelevant at the sizes tests use. */
    return (int32_t)(tu_rng_u64(r) % (uint64_t)bound);
}

void tu_fill_uniform(tu_rng *r, float *x, int64_t n, float lo, float hi)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(lo + (hi - lo) * tu_rng_uniform(r));
}

void tu_fill_away_from_zero(tu_rng *r, float *x, int64_t n, float lo, float hi,
                            float min_abs)
{
    for (int64_t i = 0; i < n; i++) {
        float v;
        do {
            v = (float)(lo + (hi - lo) * tu_rng_uniform(r));
        } while (fabsf(v) < min_abs);
        x[i] = v;
    }
}

void tu_fill_normal(tu_rng *r, float *x, int64_t n, float mean, float std)
{
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(mean + std * tu_rng_normal(r));
}

/* ---- tolerance compare ------------------------------------------------- */

int tu_close(double got, double want, double rtol, double atol)
{
    if (isnan(got) || isnan(want))
        return 0;
    if (isinf(got) || isinf(want))
        return got == want;
    const double ag = fabs(got), aw = fabs(want);
    return fabs(got - want) <= atol + rtol * (ag > aw ? ag : aw);
}

int64_t tu_first_mismatch(const float *got, const double *want, int64_t n, double rtol,
                          double atol)
{
    for (int64_t i = 0; i < n; i++) {
        /* within atol: what tu_close says too, without its calls (a NaN
         * or an infinity makes the difference NaN or infinite, and goes
         * to tu_close); most of the suites' comparisons end here */
        if (fabs(got[i] - want[i]) <= atol)
            continue;
        if (!tu_close(got[i], want[i], rtol, atol))
            return i;
    }
    return -1;
}

void tu_assert_close_fd(const char *what, const float *got, const double *want, int64_t n,
                        double rtol, double atol)
{
    int64_t i = tu_first_mismatch(got, want, n, rtol, atol);
    ck_assert_msg(i < 0, "%s[%lld]: got %.9g, want %.9g (rtol %g, atol %g)", what,
                  (long long)i, i >= 0 ? (double)got[i] : 0.0, i >= 0 ? want[i] : 0.0,
                  rtol, atol);
}

void tu_assert_close_ff(const char *what, const float *got, const float *want, int64_t n,
                        double rtol, double atol)
{
    for (int64_t i = 0; i < n; i++)
        TU_CHECK_MSG(tu_close(got[i], want[i], rtol, atol),
                     "%s[%lld]: got %.9g, want %.9g (rtol %g, atol %g)", what,
                     (long long)i, (double)got[i], (double)want[i], rtol, atol);
}

/* ---- constructors ------------------------------------------------------ */

mlp_tensor *tu_tensor(int rank, ...)
{
    int32_t dims[MLP_MAX_RANK] = {0};
    ck_assert_msg(rank >= 1 && rank <= MLP_MAX_RANK, "tu_tensor: bad rank %d", rank);
    va_list ap;
    va_start(ap, rank);
    for (int i = 0; i < rank; i++)
        dims[i] = (int32_t)va_arg(ap, int);
    va_end(ap);
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_create(&t, rank, dims));
    ck_assert_ptr_nonnull(t);
    return t;
}

mlp_tensor *tu_tensor_batch(int32_t n, int rank, const int32_t *dims)
{
    int32_t d[MLP_MAX_RANK];
    ck_assert_msg(rank >= 0 && rank < MLP_MAX_RANK, "tu_tensor_batch: bad rank %d", rank);
    d[0] = n;
    for (int i = 0; i < rank; i++)
        d[i + 1] = dims[i];
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_create(&t, rank + 1, d));
    ck_assert_ptr_nonnull(t);
    return t;
}

mlp_tensor *tu_tensor_clone(const mlp_tensor *src)
{
    int rank = mlp_tensor_rank(src);
    int32_t d[MLP_MAX_RANK];
    for (int i = 0; i < rank; i++)
        d[i] = mlp_tensor_dim(src, i);
    mlp_tensor *t = NULL;
    TU_OK(mlp_tensor_create(&t, rank, d));
    TU_OK(mlp_tensor_copy_from(t, mlp_tensor_data_const(src), mlp_tensor_numel(src)));
    return t;
}

mlp_model *tu_model(int rank, const int32_t *dims, uint64_t seed)
{
    mlp_model *m = NULL;
    TU_OK(mlp_model_create(&m, rank, dims, seed));
    ck_assert_ptr_nonnull(m);
    return m;
}

mlp_layer *tu_add(mlp_model *m, mlp_layer *layer)
{
    TU_OK(mlp_model_add(m, layer));
    return layer;
}

#define TU_MAKE(call)                                                                    \
    do {                                                                                 \
        mlp_layer *l_ = NULL;                                                            \
        TU_OK(call);                                                                     \
        ck_assert_ptr_nonnull(l_);                                                       \
        return l_;                                                                       \
    } while (0)

mlp_layer *tu_dense(int32_t units)
{
    TU_MAKE(mlp_layer_create_dense(&l_, units));
}
mlp_layer *tu_sigmoid(void)
{
    TU_MAKE(mlp_layer_create_sigmoid(&l_));
}
mlp_layer *tu_tanh(void)
{
    TU_MAKE(mlp_layer_create_tanh(&l_));
}
mlp_layer *tu_relu(void)
{
    TU_MAKE(mlp_layer_create_relu(&l_));
}
mlp_layer *tu_leaky_relu(float a)
{
    TU_MAKE(mlp_layer_create_leaky_relu(&l_, a));
}
mlp_layer *tu_elu(float a)
{
    TU_MAKE(mlp_layer_create_elu(&l_, a));
}
mlp_layer *tu_selu(void)
{
    TU_MAKE(mlp_layer_create_selu(&l_));
}
mlp_layer *tu_reshape(int rank, const int32_t *dims)
{
    TU_MAKE(mlp_layer_create_reshape(&l_, rank, dims));
}
mlp_layer *tu_flatten(void)
{
    TU_MAKE(mlp_layer_create_flatten(&l_));
}

int64_t tu_prod(int n, const int32_t *dims)
{
    int64_t p = 1;
    for (int i = 0; i < n; i++)
        p *= dims[i];
    return p;
}

/* ---- synthetic data ---------------------------------------------------- */

mlp_dataset *tu_blobs(int32_t n, int32_t classes, int32_t c, int32_t h, int32_t w,
                      double noise, uint64_t centre_seed, uint64_t sample_seed)
{
    int64_t d = (int64_t)c * h * w;
    double *centres = malloc(sizeof(double) * (size_t)(classes * d));
    uint8_t *px = malloc((size_t)(n * d));
    int32_t *labels = malloc(sizeof(int32_t) * (size_t)n);
    ck_assert(centres && px && labels);

    tu_rng rc;
    tu_rng_seed(&rc, centre_seed);
    for (int64_t i = 0; i < classes * d; i++)
        centres[i] = 40.0 + 175.0 * tu_rng_uniform(&rc);

    tu_rng rs;
    tu_rng_seed(&rs, sample_seed);
    for (int32_t i = 0; i < n; i++)
        labels[i] = i % classes;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = tu_rng_below(&rs, i + 1);
        int32_t t = labels[i];
        labels[i] = labels[j];
        labels[j] = t;
    }
    for (int32_t i = 0; i < n; i++) {
        const double *ctr = centres + labels[i] * d;
        for (int64_t k = 0; k < d; k++) {
            double v = nearbyint(ctr[k] + noise * tu_rng_normal(&rs));
            px[i * d + k] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
    }

    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_create(&ds, n, c, h, w, px, labels, classes));
    ck_assert_ptr_nonnull(ds);
    free(centres);
    free(px);
    free(labels);
    return ds;
}

/* ---- gradient check ----------------------------------------------------- */

void tu_gradcheck_cfg_init(tu_gradcheck_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->eps = 1e-2;
    cfg->rtol = 1e-2;
    cfg->atol = 1e-3;
    cfg->x_lo = -1.0f;
    cfg->x_hi = 1.0f;
    cfg->min_abs = 0.0f;
    cfg->dy_scale = 1.0;
    cfg->check_params = 1;
    cfg->seed = 12345;
    cfg->nonvacuous = 1e-4;
}

/* A forward pass in `mode`, after reseeding the noise generator if asked. */
static const mlp_tensor *gc_forward(mlp_model *model, const mlp_tensor *x,
                                    const tu_gradcheck_cfg *cfg, mlp_mode mode)
{
    /* one call per finite difference: checks that pass call Check not at
     * all (TU_CHECK_MSG) */
    mlp_status st =
        cfg->reseed ? mlp_model_set_noise_seed(model, cfg->noise_seed) : MLP_STATUS_OK;
    TU_CHECK_MSG(st == MLP_STATUS_OK, "mlp_model_set_noise_seed -> %s: %s",
                 mlp_status_str(st), mlp_last_error());
    const mlp_tensor *y = NULL;
    st = mlp_model_forward(model, x, mode, &y);
    TU_CHECK_MSG(st == MLP_STATUS_OK && y, "mlp_model_forward -> %s: %s",
                 mlp_status_str(st), mlp_last_error());
    return y;
}

/* L = sum(y * r) in double after an inference-mode (or, with train_mode,
 * training-mode) forward pass. */
static double projected_loss(mlp_model *model, const mlp_tensor *x, const mlp_tensor *r,
                             const tu_gradcheck_cfg *cfg)
{
    const mlp_tensor *y =
        gc_forward(model, x, cfg, cfg->train_mode ? MLP_MODE_TRAIN : MLP_MODE_EVAL);
    int64_t n = mlp_tensor_numel(y);
    TU_CHECK_MSG(n == mlp_tensor_numel(r), "output of %lld values, projection of %lld",
                 (long long)n, (long long)mlp_tensor_numel(r));
    const float *yd = mlp_tensor_data_const(y);
    const float *rd = mlp_tensor_data_const(r);
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)yd[i] * (double)rd[i];
    return s;
}

/*
 * The numerical dL/d(*v), *v perturbed in place and restored: a central
 * difference. With kink_skip, L is also taken at v + k eps / 4 for
 * k = -3..3 (k = 0 is `l0`): where the eight segment slopes agree, L is
 * linear over [v - eps, v + eps] and the quotient is the exact derivative;
 * elsewhere a kink (a relu crossing 0, two max-pool candidates swapping)
 * lies within the step and the element is skipped (return 0).
 */
static int numeric_diff(mlp_model *model, const mlp_tensor *x, const mlp_tensor *r,
                        const tu_gradcheck_cfg *cfg, float *v, double l0, double *num)
{
    const float v0 = *v;
    float at[9];
    double lk[9];
    const int kmax = cfg->kink_skip ? 4 : 1;
    for (int k = -kmax; k <= kmax; k++) {
        at[k + kmax] = (float)((double)v0 + k * cfg->eps / kmax);
        if (k == 0) {
            lk[kmax] = l0;
            continue;
        }
        *v = at[k + kmax];
        lk[k + kmax] = projected_loss(model, x, r, cfg);
    }
    *v = v0;
    const int last = 2 * kmax;
    if (cfg->kink_skip) {
        const double s0 = (lk[1] - lk[0]) / ((double)at[1] - at[0]);
        for (int k = 1; k < last; k++)
            if (!tu_close((lk[k + 1] - lk[k]) / ((double)at[k + 1] - at[k]), s0, 1e-2,
                          1e-3))
                return 0;
    }
    /* Divide by the step the floats actually took, not by 2 eps. */
    *num = (lk[last] - lk[0]) / ((double)at[last] - (double)at[0]);
    return 1;
}

static void compare_one(tu_gradcheck_result *res, const tu_gradcheck_cfg *cfg,
                        double analytic, double numeric, const char *what, int64_t idx)
{
    double m = fmax(fabs(analytic), fabs(numeric));
    double ratio = fabs(analytic - numeric) / (cfg->atol + cfg->rtol * m);
    if (isnan(ratio))
        ratio = INFINITY;
    res->checked++;
    if (ratio > res->worst) {
        res->worst = ratio;
        snprintf(res->where, sizeof res->where, "%s[%lld]: analytic %.7g, numerical %.7g",
                 what, (long long)idx, analytic, numeric);
    }
    if (!(ratio <= 1.0))
        res->ok = 0;
}

/* Compare one group (dx, or one layer's parameters) of `cnt` values `v`
 * with their analytic gradients `ga`. */
static void check_group(mlp_model *model, const mlp_tensor *x, const mlp_tensor *r,
                        const tu_gradcheck_cfg *cfg, double l0, float *v,
                        const double *ga, int64_t cnt, const char *what, double *max_abs,
                        tu_gradcheck_result *res)
{
    int64_t checked = 0;
    for (int64_t j = 0; j < cnt; j++) {
        double num = 0.0;
        if (!numeric_diff(model, x, r, cfg, &v[j], l0, &num)) {
            res->skipped++;
            continue;
        }
        *max_abs = fmax(*max_abs, fabs(num));
        checked++;
        compare_one(res, cfg, ga[j], num, what, j);
    }
    if (cnt > 0 && (double)checked < res->min_share * (double)cnt) {
        res->min_share = (double)checked / (double)cnt;
        snprintf(res->share_where, sizeof res->share_where,
                 "%s: only %lld of %lld elements without a kink within the step", what,
                 (long long)checked, (long long)cnt);
    }
}

void tu_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims, int32_t batch,
                  const tu_gradcheck_cfg *cfg_in, tu_gradcheck_result *res)
{
    tu_gradcheck_cfg cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        tu_gradcheck_cfg_init(&cfg);
    memset(res, 0, sizeof *res);
    res->ok = 1;
    res->min_share = 1.0;

    tu_rng rng;
    tu_rng_seed(&rng, cfg.seed);

    mlp_tensor *x = tu_tensor_batch(batch, in_rank, in_dims);
    int64_t nx = mlp_tensor_numel(x);
    float *xd = mlp_tensor_data(x);
    if (cfg.x)
        memcpy(xd, cfg.x, sizeof(float) * (size_t)nx);
    else if (cfg.min_abs > 0.0f)
        tu_fill_away_from_zero(&rng, xd, nx, cfg.x_lo, cfg.x_hi, cfg.min_abs);
    else
        tu_fill_uniform(&rng, xd, nx, cfg.x_lo, cfg.x_hi);

    /* The output must be [batch, output shape of the model]. */
    const mlp_tensor *y = gc_forward(model, x, &cfg, MLP_MODE_TRAIN);
    int orank = 0;
    int32_t odims[MLP_MAX_RANK] = {0};
    TU_OK(mlp_model_output_shape(model, -1, &orank, odims));
    ck_assert_int_eq(mlp_tensor_rank(y), orank + 1);
    ck_assert_int_eq(mlp_tensor_dim(y, 0), batch);
    for (int i = 0; i < orank; i++)
        ck_assert_int_eq(mlp_tensor_dim(y, i + 1), odims[i]);

    mlp_tensor *r = tu_tensor_batch(batch, orank, odims);
    mlp_tensor *decoy = tu_tensor_batch(batch, orank, odims);
    mlp_tensor *dy = tu_tensor_batch(batch, orank, odims);
    int64_t ny = mlp_tensor_numel(r);
    tu_fill_uniform(&rng, mlp_tensor_data(r), ny, -1.0f, 1.0f);
    tu_fill_uniform(&rng, mlp_tensor_data(decoy), ny, -3.0f, 3.0f);
    for (int64_t i = 0; i < ny; i++)
        mlp_tensor_data(dy)[i] = (float)(cfg.dy_scale * mlp_tensor_data(r)[i]);

    /* A first backward pass with another dy: the measured pass must
     * overwrite its gradients, not add to them. */
    const mlp_tensor *dx = NULL;
    TU_OK(mlp_model_backward(model, decoy, &dx));
    y = gc_forward(model, x, &cfg, MLP_MODE_TRAIN);
    ck_assert_int_eq(mlp_tensor_numel(y), ny);
    dx = NULL;
    TU_OK(mlp_model_backward(model, dy, &dx));
    ck_assert_ptr_nonnull(dx);
    ck_assert_int_eq(mlp_tensor_numel(dx), nx);
    ck_assert_int_eq(mlp_tensor_dim(dx, 0), batch);
    double *ga_x = malloc(sizeof(double) * (size_t)nx);
    ck_assert_ptr_nonnull(ga_x);
    for (int64_t i = 0; i < nx; i++)
        ga_x[i] = mlp_tensor_data_const(dx)[i];

    /* Copy every parameter gradient before the finite-difference passes. */
    int nl = mlp_model_layer_count(model);
    int64_t total = mlp_model_param_count(model);
    double *ga_p = malloc(sizeof(double) * (size_t)(total > 0 ? total : 1));
    ck_assert_ptr_nonnull(ga_p);
    int64_t off = 0;
    for (int l = 0; l < nl; l++) {
        mlp_layer *layer = mlp_model_layer(model, l);
        ck_assert_ptr_nonnull(layer);
        int64_t cnt = mlp_layer_param_count(layer);
        ck_assert_msg(cnt >= 0 && off + cnt <= total, "layer %d: %lld parameters", l,
                      (long long)cnt);
        if (cnt == 0)
            continue;
        const float *g = mlp_layer_grads(layer);
        ck_assert_msg(g != NULL && mlp_layer_params(layer) != NULL,
                      "layer %d (%s) has %lld parameters but no buffers", l,
                      mlp_layer_kind_name(layer), (long long)cnt);
        for (int64_t j = 0; j < cnt; j++)
            ga_p[off + j] = g[j];
        off += cnt;
    }
    ck_assert_msg(off == total, "layer parameter counts sum to %lld, model says %lld",
                  (long long)off, (long long)total);

    /* The unperturbed loss: the middle point of the kink test. */
    const double l0 = cfg.kink_skip ? projected_loss(model, x, r, &cfg) : 0.0;
    check_group(model, x, r, &cfg, l0, xd, ga_x, nx, "dx", &res->max_abs_dx, res);

    if (cfg.check_params) {
        off = 0;
        for (int l = 0; l < nl; l++) {
            mlp_layer *layer = mlp_model_layer(model, l);
            int64_t cnt = mlp_layer_param_count(layer);
            char what[64];
            snprintf(what, sizeof what, "layer %d (%s) dparam", l,
                     mlp_layer_kind_name(layer));
            check_group(model, x, r, &cfg, l0, mlp_layer_params(layer), ga_p + off, cnt,
                        what, &res->max_abs_dp, res);
            off += cnt;
        }
    }

    free(ga_x);
    free(ga_p);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(r);
    mlp_tensor_destroy(decoy);
    mlp_tensor_destroy(dy);
}

void tu_assert_gradcheck(mlp_model *model, int in_rank, const int32_t *in_dims,
                         int32_t batch, const tu_gradcheck_cfg *cfg)
{
    tu_gradcheck_cfg def;
    if (!cfg) {
        tu_gradcheck_cfg_init(&def);
        cfg = &def;
    }
    const char *label = cfg->label ? cfg->label : "gradient check";
    tu_gradcheck_result res;
    tu_gradcheck(model, in_rank, in_dims, batch, cfg, &res);
    ck_assert_msg(res.ok, "%s (batch %d) failed: worst %.3g x tolerance at %s", label,
                  (int)batch, res.worst, res.where);
    ck_assert_msg(res.checked > 0, "%s compared nothing", label);
    ck_assert_msg(res.max_abs_dx > cfg->nonvacuous,
                  "%s: vacuous check: numerical dx is ~0 (max %.3g)", label,
                  res.max_abs_dx);
    if (cfg->check_params && mlp_model_param_count(model) > 0)
        ck_assert_msg(res.max_abs_dp > cfg->nonvacuous,
                      "%s: vacuous check: numerical dparam is ~0 (max %.3g)", label,
                      res.max_abs_dp);
    if (cfg->kink_skip)
        ck_assert_msg(res.min_share >= cfg->min_checked, "%s: %s (%.0f%% required)",
                      label, res.share_where, 100.0 * cfg->min_checked);
}

/* ---- files ------------------------------------------------------------- */

char *tu_tmp_dir(char *buf, size_t size, const char *prefix)
{
    const char *base = getenv("TMPDIR");
    int len = snprintf(buf, size, "%s/%s.XXXXXX", base && *base ? base : "/tmp", prefix);
    ck_assert_msg(len > 0 && (size_t)len < size, "tu_tmp_dir: path too long");
    ck_assert_msg(mkdtemp(buf) != NULL, "mkdtemp(%s) failed", buf);
    return buf;
}

int tu_count_dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

void tu_rm_tree(const char *path)
{
    struct stat sb;
    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    chmod(path, 0755); /* a test may have made it read-only */
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            tu_rm_tree(sub);
        }
        closedir(d);
    }
    rmdir(path);
}

unsigned char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    unsigned char *p = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(p);
    ck_assert_uint_eq(fread(p, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *len = (size_t)n;
    return p;
}

void tu_write_file(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(p, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

void tu_write_file_gz(const char *path, const void *p, size_t n, int gz)
{
    if (!gz) {
        tu_write_file(path, p, n);
        return;
    }
    gzFile g = gzopen(path, "wb9");
    ck_assert_msg(g != NULL, "cannot create %s", path);
    if (n > 0)
        ck_assert_int_eq(gzwrite(g, p, (unsigned)n), (int)n);
    ck_assert_int_eq(gzclose(g), Z_OK);
}

/* ---- allocation failures ------------------------------------------------ */

void tu_oom_cfg_init(tu_oom_cfg *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->max_attempts = 1000;
    cfg->ok_in_a_row = 1;
    cfg->min_failures = 1;
}

/* A tu_oom_cfg.after hook: destroy what a tu_built holds and clear it for
 * the next attempt. */
static void free_built(void *ctx, mlp_status st)
{
    tu_built *b = ctx;
    (void)st;
    for (size_t i = 0; i < sizeof b->t / sizeof b->t[0]; i++)
        mlp_tensor_destroy(b->t[i]);
    mlp_model_destroy(b->model);
    memset(b, 0, sizeof *b);
}

long tu_oom_loop(const char *what, mlp_status (*fn)(void *ctx), void *ctx,
                 const tu_oom_cfg *cfg_in)
{
    tu_oom_cfg cfg;
    if (cfg_in)
        cfg = *cfg_in;
    else
        tu_oom_cfg_init(&cfg);
    const long live = mlp__alloc_live();
    long failures = 0;
    int ok_run = 0;
    for (long n = 1; ok_run < cfg.ok_in_a_row; n++) {
        ck_assert_msg(n < cfg.max_attempts,
                      "%s: still failing after %ld injected failures", what, n - 1);
        if (cfg.before)
            cfg.before(ctx);
        mlp__alloc_fail_after(n);
        mlp_status st = fn(ctx);
        mlp__alloc_fail_after(0);
        if (st == MLP_STATUS_OK) {
            ok_run++;
        } else {
            ok_run = 0;
            failures++;
            ck_assert_msg(st == MLP_STATUS_NO_MEMORY, "%s, fail_after(%ld): %s (%d): %s",
                          what, n, mlp_status_str(st), (int)st, mlp_last_error());
        }
        if (cfg.after)
            cfg.after(ctx, st);
        if (st != MLP_STATUS_OK || !cfg.keep_on_ok)
            ck_assert_msg(mlp__alloc_live() == live,
                          "%s, fail_after(%ld): %ld blocks leaked", what, n,
                          mlp__alloc_live() - live);
    }
    ck_assert_msg(failures >= cfg.min_failures,
                  "%s: only %ld allocations could be failed (want %ld)", what, failures,
                  cfg.min_failures);
    return failures;
}

long tu_oom_loop_built(const char *what, mlp_status (*build)(void *ctx),
                       long max_attempts)
{
    tu_built b = {0};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.max_attempts = max_attempts;
    cfg.after = free_built;
    return tu_oom_loop(what, build, &b, &cfg);
}

/* ---- max pooling with NaN --------------------------------------------- */

void tu_ref_maxpool(int32_t planes, int32_t H, int32_t W, int32_t kh, int32_t kw,
                    int32_t s, int32_t p, const float *x, float *y, int64_t *arg)
{
    const int32_t OH = (H + 2 * p - kh) / s + 1, OW = (W + 2 * p - kw) / s + 1;
    for (int32_t pl = 0; pl < planes; pl++)
        for (int32_t oh = 0; oh < OH; oh++)
            for (int32_t ow = 0; ow < OW; ow++) {
                /* PyTorch's loop: take val when val > best or val is NaN */
                float best = -INFINITY;
                int64_t at = -1;
                for (int32_t i = 0; i < kh; i++)
                    for (int32_t j = 0; j < kw; j++) {
                        const int32_t ih = oh * s - p + i, iw = ow * s - p + j;
                        if (ih < 0 || ih >= H || iw < 0 || iw >= W)
                            continue;
                        const int64_t k = ((int64_t)pl * H + ih) * W + iw;
                        if (at < 0)
                            at = k;
                        if (x[k] > best || isnan(x[k])) {
                            best = x[k];
                            at = k;
                        }
                    }
                TU_CHECK_MSG(at >= 0, "tu_ref_maxpool: a window of padding only");
                const int64_t o = ((int64_t)pl * OH + oh) * OW + ow;
                y[o] = x[at];
                arg[o] = at;
            }
}

int tu_window_positions(int32_t H, int32_t W, int32_t kh, int32_t kw, int32_t s,
                        int32_t p, int32_t oh, int32_t ow, int64_t *at)
{
    int n = 0;
    for (int32_t i = 0; i < kh; i++)
        for (int32_t j = 0; j < kw; j++) {
            const int32_t ih = oh * s - p + i, iw = ow * s - p + j;
            if (ih >= 0 && ih < H && iw >= 0 && iw < W)
                at[n++] = (int64_t)ih * W + iw;
        }
    return n;
}

void tu_ref_unpool(const int64_t *arg, const float *dy, int64_t n_out, float *dx,
                   int64_t n_in)
{
    for (int64_t i = 0; i < n_in; i++)
        dx[i] = 0.0f;
    for (int64_t o = 0; o < n_out; o++)
        dx[arg[o]] += dy[o];
}

int64_t tu_count_unlike(const float *got, const float *want, int64_t n, int64_t *first)
{
    int64_t bad = 0;
    *first = -1;
    for (int64_t i = 0; i < n; i++) {
        const int like =
            isnan(want[i]) ? isnan(got[i]) : memcmp(&got[i], &want[i], sizeof *got) == 0;
        if (!like && bad++ == 0)
            *first = i;
    }
    return bad;
}

/* ---- running suites ---------------------------------------------------- */

int tu_run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* ---- model files --------------------------------------------------------- */

static uint64_t tu_rd64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

float *tu_layer_value(mlp_model *m, const tu_bad_value *v)
{
    mlp_layer *l = mlp_model_layer(m, v->layer);
    const int64_t n = v->state ? mlp_layer_state_count(l) : mlp_layer_param_count(l);
    ck_assert_msg(v->index >= 0 && v->index < n, "layer %d has %lld %s", v->layer,
                  (long long)n, v->state ? "state values" : "parameters");
    return (v->state ? mlp_layer_state(l) : mlp_layer_params(l)) + v->index;
}

size_t tu_find_record(const unsigned char *b, size_t len, const char *tag, int nth)
{
    size_t off = 12;
    while (off + 16 <= len) {
        uint64_t l = tu_rd64(b + off + 4);
        if (memcmp(b + off, tag, 4) == 0 && nth-- == 0)
            return off;
        if (l > len - off - 16)
            return 0;
        off += 16 + (size_t)l;
    }
    return 0;
}

size_t tu_cut_record(unsigned char *b, size_t len, size_t at, uint64_t n)
{
    const uint64_t had = tu_rd64(b + at + 4);
    ck_assert_uint_lt(n, had);
    ck_assert_uint_le(at + 16 + had, len);
    memmove(b + at + 12 + n, b + at + 12 + had, len - (at + 12 + (size_t)had));
    for (int i = 0; i < 8; i++)
        b[at + 4 + (size_t)i] = (unsigned char)(n >> (8 * i));
    return len - (size_t)(had - n);
}

void tu_fix_crcs(unsigned char *b, size_t len)
{
    size_t off = 12;
    while (off + 16 <= len) {
        uint64_t l = tu_rd64(b + off + 4);
        if (l > len - off - 16)
            return;
        uLong c = crc32(0L, Z_NULL, 0);
        c = crc32(c, b + off, (uInt)(12 + l));
        for (int i = 0; i < 4; i++)
            b[off + 12 + l + (size_t)i] = (unsigned char)(c >> (8 * i));
        off += 16 + (size_t)l;
    }
}
