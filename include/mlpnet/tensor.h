/**
 * @file
 * libmlpnet: tensors.
 *
 * A tensor is a dense float32 array of rank 1 to 4, stored contiguously in
 * row-major order. Image batches use NCHW (batch, channels, height, width):
 * the last dimension varies fastest.
 */
#ifndef MLPNET_TENSOR_H
#define MLPNET_TENSOR_H

#include <stdint.h>

#include "mlpnet/export.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Largest supported rank. */
#define MLP_MAX_RANK 4

/** Opaque float32 tensor. */
typedef struct mlp_tensor mlp_tensor;

/**
 * Create a zero-filled tensor.
 * @param out   new tensor, or NULL on failure (owned: mlp_tensor_destroy)
 * @param rank  number of dimensions, 1..MLP_MAX_RANK
 * @param dims  `rank` extents, outermost first, each >= 1 (copied)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL pointer, bad rank,
 *         extent < 1, more than 2^60 elements, which keeps the byte count
 *         within int64) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_tensor_create(mlp_tensor **out, int rank, const int32_t *dims);

/**
 * Create a tensor that views caller memory instead of owning its own.
 * @param out   new tensor, or NULL on failure (owned: mlp_tensor_destroy,
 *              which does not free `data`)
 * @param rank  number of dimensions, 1..MLP_MAX_RANK
 * @param dims  extents, each >= 1 (copied)
 * @param data  product(dims) floats (borrowed: must outlive the tensor)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL pointer, bad rank,
 *         extent < 1, more than 2^60 elements) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_tensor_wrap(mlp_tensor **out, int rank, const int32_t *dims,
                                   float *data);

/**
 * Create a read-only tensor that views caller memory, for inputs held in
 * const storage (a `static const float[]`, a memory-mapped file) without a
 * cast. The library only reads through it: passing it where the library
 * would write (mlp_tensor_copy_from, mlp_tensor_fill, the `grad` of a loss,
 * the `probs` of mlp_model_predict) is refused with MLP_STATUS_INVALID_ARG
 * and a message naming the read-only tensor, and mlp_tensor_data returns
 * NULL for it (use mlp_tensor_data_const). mlp_tensor_reshape works: it
 * changes only the shape. It can be the input of every call that takes a
 * `const mlp_tensor *`.
 * @param out   new tensor, or NULL on failure (owned: mlp_tensor_destroy,
 *              which does not free `data`)
 * @param rank  number of dimensions, 1..MLP_MAX_RANK
 * @param dims  extents, each >= 1 (copied)
 * @param data  product(dims) floats (borrowed: must outlive the tensor;
 *              never written)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL pointer, bad rank or
 *         extent, more than 2^60 elements) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_tensor_wrap_const(mlp_tensor **out, int rank, const int32_t *dims,
                                         const float *data);

/**
 * Whether a tensor is read-only (made by mlp_tensor_wrap_const).
 * @param t  the tensor (borrowed for the call); may be NULL
 * @return 1 for a read-only tensor, 0 otherwise and for NULL
 */
MLP_API int mlp_tensor_is_read_only(const mlp_tensor *t);

/**
 * Free a tensor made by create, wrap or wrap_const (the memory a wrapped
 * tensor views stays the caller's). NULL is a no-op. A tensor the model
 * lends (the output of mlp_model_forward(), the input gradient of
 * mlp_model_backward()) is the model's: given one, this call frees nothing
 * (mlp_last_error() says so).
 * @param t  the tensor (consumed: freed here, unless a model lent it); may
 *           be NULL
 */
MLP_API void mlp_tensor_destroy(mlp_tensor *t);

/**
 * Rank of `t` (1..4), or 0 when `t` is NULL.
 * @param t  the tensor (borrowed for the call); may be NULL
 * @return the rank, or 0 when `t` is NULL
 */
MLP_API int mlp_tensor_rank(const mlp_tensor *t);

/**
 * Extent of dimension `axis` (0 is outermost), or 0 when `t` is NULL or
 * `axis` is out of range.
 * @param t     the tensor (borrowed for the call); may be NULL
 * @param axis  0..rank-1
 * @return the extent: >= 1, but 0 for a model's output that was emptied
 *         (see mlp_model_forward: rank 1, no elements); 0 also when `t` is
 *         NULL or `axis` is out of range
 */
MLP_API int32_t mlp_tensor_dim(const mlp_tensor *t, int axis);

/**
 * Number of elements, or 0 when `t` is NULL.
 * @param t  the tensor (borrowed for the call); may be NULL
 * @return the product of the extents, or 0 when `t` is NULL
 */
MLP_API int64_t mlp_tensor_numel(const mlp_tensor *t);

/**
 * Writable element pointer (borrowed: valid until the tensor is destroyed;
 * mlp_tensor_reshape keeps it, since it moves no data). NULL for a
 * read-only tensor (made by mlp_tensor_wrap_const; mlp_last_error() then
 * says so): read those through mlp_tensor_data_const.
 * @param t  the tensor (borrowed for the call); may be NULL
 * @return the first element, row-major (borrowed, as above), or NULL when
 *         `t` is NULL or read-only
 */
MLP_API float *mlp_tensor_data(mlp_tensor *t);

/**
 * Read-only element pointer of any tensor, read-only ones included; see
 * mlp_tensor_data.
 * @param t  the tensor (borrowed for the call); may be NULL
 * @return the first element (borrowed, as for mlp_tensor_data), or NULL
 *         when `t` is NULL
 */
MLP_API const float *mlp_tensor_data_const(const mlp_tensor *t);

/**
 * Copy `n` floats from `src` into the tensor.
 * @param t    destination tensor (borrowed for the call)
 * @param src  caller's buffer (copied)
 * @param n    must equal mlp_tensor_numel(t)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, a read-only tensor) or
 *         MLP_STATUS_SHAPE_MISMATCH (n differs from the element count)
 */
MLP_API mlp_status mlp_tensor_copy_from(mlp_tensor *t, const float *src, int64_t n);

/**
 * Copy the tensor's elements into `dst`, which holds `n` floats.
 * @param t    source tensor (borrowed for the call)
 * @param dst  caller's buffer of `n` floats (borrowed for the call)
 * @param n    must equal mlp_tensor_numel(t)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL) or
 *         MLP_STATUS_SHAPE_MISMATCH (n differs from the element count)
 */
MLP_API mlp_status mlp_tensor_copy_to(const mlp_tensor *t, float *dst, int64_t n);

/**
 * Give the tensor a new shape with the same number of elements (no data
 * moves). The count of elements stays the tensor's: for a batch of
 * another size (an epoch's short last batch), wrap the same buffer with
 * the new shape (mlp_tensor_wrap) or create another tensor.
 * @param t     the tensor (borrowed for the call)
 * @param rank  new number of dimensions, 1..MLP_MAX_RANK
 * @param dims  new extents (copied)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, bad rank, extent < 1,
 *         more than 2^60 elements) or MLP_STATUS_SHAPE_MISMATCH
 */
MLP_API mlp_status mlp_tensor_reshape(mlp_tensor *t, int rank, const int32_t *dims);

/**
 * Set every element to `value`. NULL is a no-op; so is a read-only tensor
 * (made by mlp_tensor_wrap_const), which is left unchanged with a message in
 * mlp_last_error() (this call returns no status).
 * @param t      the tensor (borrowed for the call); may be NULL
 * @param value  the value written to every element
 */
MLP_API void mlp_tensor_fill(mlp_tensor *t, float value);

MLP_EXTERN_C_END

#endif /* MLPNET_TENSOR_H */
