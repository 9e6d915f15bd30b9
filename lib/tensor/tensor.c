/* Dense float32 tensors of rank 1..4, row-major (NCHW for images). */
#include <stdio.h>
#include <string.h>

#include "tensor_impl.h"

mlp_status mlp__check_dims(const char *fn, int rank, const int32_t *dims, int64_t *numel)
{
    if (rank < 1 || rank > MLP_MAX_RANK)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: rank %d is outside 1..%d", fn,
                          rank, MLP_MAX_RANK);
    if (!dims)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: dims is NULL", fn);
    int64_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 1)
            return mlp__error(MLP_STATUS_INVALID_ARG, "%s: dims[%d] = %d is not >= 1", fn,
                              i, (int)dims[i]);
        /* Keep the byte count representable: numel * 4 < 2^62. */
        if (n > ((int64_t)1 << 60) / dims[i])
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: dims[0..%d] hold more than 2^60 elements", fn, i);
        n *= dims[i];
    }
    *numel = n;
    return MLP_STATUS_OK;
}

void mlp__tensor_view(mlp_tensor *t, float *data, int rank, const int32_t *dims)
{
    t->rank = rank;
    t->numel = 1;
    for (int i = 0; i < MLP_MAX_RANK; i++) {
        t->dims[i] = i < rank ? dims[i] : 0;
        if (i < rank)
            t->numel *= dims[i];
    }
    t->data = data;
    t->owns_data = 0;
    t->read_only = 0;
    t->embedded = 1;
}

mlp_status mlp__check_writable(const mlp_tensor *t, const char *fn, const char *what)
{
    if (t && t->read_only)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %s is a read-only tensor (made by mlp_tensor_wrap_const); "
                          "pass one made by mlp_tensor_create or mlp_tensor_wrap",
                          fn, what);
    return MLP_STATUS_OK;
}

mlp_status mlp__check_no_overlap(const mlp_tensor *out, const char *what,
                                 const mlp_tensor *in, const char *in_what, int same_ok,
                                 const char *fn)
{
    if (!out || !in)
        return MLP_STATUS_OK;
    /* As integers: ordering pointers into different objects is undefined. */
    const uintptr_t o0 = (uintptr_t)out->data, i0 = (uintptr_t)in->data;
    const uintptr_t o1 = o0 + (uintptr_t)out->numel * sizeof(float);
    const uintptr_t i1 = i0 + (uintptr_t)in->numel * sizeof(float);
    if (o0 >= i1 || i0 >= o1)
        return MLP_STATUS_OK;
    if (!same_ok)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: %s overlaps %s in memory (the two may not share a float)",
                          fn, what, in_what);
    if (o0 == i0 && o1 == i1)
        return MLP_STATUS_OK;
    return mlp__error(MLP_STATUS_INVALID_ARG,
                      "%s: %s overlaps %s in part (it may be %s itself, the same floats, "
                      "or apart from it)",
                      fn, what, in_what, in_what);
}

const char *mlp__tensor_shape_str(const mlp_tensor *t, char *buf, size_t cap)
{
    size_t used = 0;
    int k = snprintf(buf, cap, "[");
    used = k > 0 ? (size_t)k : 0;
    for (int i = 0; i < t->rank && used < cap; i++) {
        k = snprintf(buf + used, cap - used, "%s%d", i ? "," : "", (int)t->dims[i]);
        used += k > 0 ? (size_t)k : 0;
    }
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
    return buf;
}

static mlp_status make(mlp_tensor **out, int rank, const int32_t *dims, float *data,
                       const char *fn)
{
    if (!out)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: out is NULL", fn);
    *out = NULL;
    int64_t numel;
    MLP_TRY(mlp__check_dims(fn, rank, dims, &numel));
    mlp_tensor *t = mlp__alloc(sizeof *t);
    if (!t)
        return MLP_STATUS_NO_MEMORY;
    mlp__tensor_view(t, data, rank, dims);
    t->embedded = 0;
    if (!data) {
        if ((uint64_t)numel > SIZE_MAX / sizeof(float)) {
            mlp__free(t);
            return mlp__error(MLP_STATUS_NO_MEMORY, "%s: too large", fn);
        }
        t->data = mlp__calloc((size_t)numel, sizeof(float));
        if (!t->data) {
            mlp__free(t);
            return MLP_STATUS_NO_MEMORY;
        }
        t->owns_data = 1;
    }
    *out = t;
    return MLP_STATUS_OK;
}

mlp_status mlp_tensor_create(mlp_tensor **out, int rank, const int32_t *dims)
{
    return make(out, rank, dims, NULL, "mlp_tensor_create");
}

mlp_status mlp_tensor_wrap(mlp_tensor **out, int rank, const int32_t *dims, float *data)
{
    if (!data) {
        if (out)
            *out = NULL;
        return mlp__error(MLP_STATUS_INVALID_ARG, "mlp_tensor_wrap: data is NULL");
    }
    return make(out, rank, dims, data, "mlp_tensor_wrap");
}

mlp_status mlp_tensor_wrap_const(mlp_tensor **out, int rank, const int32_t *dims,
                                 const float *data)
{
    static const char fn[] = "mlp_tensor_wrap_const";
    if (!data) {
        if (out)
            *out = NULL;
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: data is NULL", fn);
    }
    /* The cast is safe: read_only makes every writing path refuse the tensor,
     * so the library only ever reads through this pointer. */
    MLP_TRY(make(out, rank, dims, (float *)(uintptr_t)data, fn));
    (*out)->read_only = 1;
    return MLP_STATUS_OK;
}

int mlp_tensor_is_read_only(const mlp_tensor *t)
{
    return t ? t->read_only : 0;
}

void mlp_tensor_destroy(mlp_tensor *t)
{
    if (!t)
        return;
    if (t->embedded) {
        /* a model's output or input gradient: part of the model */
        (void)mlp__error(
            MLP_STATUS_BAD_STATE,
            "mlp_tensor_destroy: the tensor belongs to a model (an output "
            "of mlp_model_forward or mlp_model_backward); nothing was freed");
        return;
    }
    if (t->owns_data)
        mlp__free(t->data);
    mlp__free(t);
}

int mlp_tensor_rank(const mlp_tensor *t)
{
    return t ? t->rank : 0;
}

int32_t mlp_tensor_dim(const mlp_tensor *t, int axis)
{
    if (!t || axis < 0 || axis >= t->rank)
        return 0;
    return t->dims[axis];
}

int64_t mlp_tensor_numel(const mlp_tensor *t)
{
    return t ? t->numel : 0;
}

float *mlp_tensor_data(mlp_tensor *t)
{
    if (t && t->read_only) {
        mlp__check_writable(t, "mlp_tensor_data", "the tensor");
        return NULL;
    }
    return t ? t->data : NULL;
}

const float *mlp_tensor_data_const(const mlp_tensor *t)
{
    return t ? t->data : NULL;
}

static mlp_status check_copy(const mlp_tensor *t, const void *buf, int64_t n,
                             const char *fn)
{
    if (!t || !buf)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s is NULL", fn,
                          t ? "buffer" : "tensor");
    if (n != t->numel)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: n = %lld but the tensor holds %lld elements", fn,
                          (long long)n, (long long)t->numel);
    return MLP_STATUS_OK;
}

mlp_status mlp_tensor_copy_from(mlp_tensor *t, const float *src, int64_t n)
{
    MLP_TRY(check_copy(t, src, n, "mlp_tensor_copy_from"));
    MLP_TRY(mlp__check_writable(t, "mlp_tensor_copy_from", "the tensor"));
    memmove(t->data, src, (size_t)n * sizeof(float));
    return MLP_STATUS_OK;
}

mlp_status mlp_tensor_copy_to(const mlp_tensor *t, float *dst, int64_t n)
{
    MLP_TRY(check_copy(t, dst, n, "mlp_tensor_copy_to"));
    memmove(dst, t->data, (size_t)n * sizeof(float));
    return MLP_STATUS_OK;
}

mlp_status mlp_tensor_reshape(mlp_tensor *t, int rank, const int32_t *dims)
{
    if (!t)
        return mlp__error(MLP_STATUS_INVALID_ARG, "mlp_tensor_reshape: tensor is NULL");
    int64_t numel;
    MLP_TRY(mlp__check_dims("mlp_tensor_reshape", rank, dims, &numel));
    if (numel != t->numel)
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "mlp_tensor_reshape: new shape has %lld elements, tensor %lld",
                          (long long)numel, (long long)t->numel);
    int owns = t->owns_data, read_only = t->read_only, embedded = t->embedded;
    mlp__tensor_view(t, t->data, rank, dims);
    t->owns_data = owns;
    t->read_only = read_only;
    t->embedded = embedded;
    return MLP_STATUS_OK;
}

void mlp_tensor_fill(mlp_tensor *t, float value)
{
    if (!t || mlp__check_writable(t, "mlp_tensor_fill", "the tensor") != MLP_STATUS_OK)
        return;
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = value;
}
