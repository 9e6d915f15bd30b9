/*
 * Mean squared error:  loss = (1/N) sum_n 0.5 ||p_n - t_n||^2,
 * dp = (p - t) / N, where N is the first dimension (the batch).
 */
#include <math.h>

#include "tensor/tensor_impl.h"

static int same_shape(const mlp_tensor *a, const mlp_tensor *b)
{
    if (a->rank != b->rank)
        return 0;
    for (int i = 0; i < a->rank; i++)
        if (a->dims[i] != b->dims[i])
            return 0;
    return 1;
}

mlp_status mlp_loss_mse(const mlp_tensor *pred, const mlp_tensor *target, double *loss,
                        mlp_tensor *grad)
{
    static const char fn[] = "mlp_loss_mse";
    MLP_CHECK_ARG(pred, fn, "pred is NULL");
    MLP_CHECK_ARG(target, fn, "target is NULL");
    char a[64], b[64];
    if (!same_shape(pred, target))
        return mlp__error(MLP_STATUS_SHAPE_MISMATCH,
                          "%s: target has shape %s but pred has shape %s (they must be "
                          "equal; [N] and [N,1] differ)",
                          fn, mlp__tensor_shape_str(target, a, sizeof a),
                          mlp__tensor_shape_str(pred, b, sizeof b));
    if (grad && !same_shape(pred, grad))
        return mlp__error(
            MLP_STATUS_SHAPE_MISMATCH,
            "%s: grad has shape %s but pred has shape %s (they must be equal)", fn,
            mlp__tensor_shape_str(grad, a, sizeof a),
            mlp__tensor_shape_str(pred, b, sizeof b));
    MLP_TRY(mlp__check_writable(grad, fn, "grad"));
    const float inv_n = 1.0f / (float)pred->dims[0];
    double total = 0.0;
    for (int64_t i = 0; i < pred->numel; i++) {
        float d = pred->data[i] - target->data[i];
        total += 0.5 * (double)d * (double)d;
        if (grad)
            grad->data[i] = d * inv_n;
    }
    if (!isfinite(total))
        return mlp__error(MLP_STATUS_NUMERIC, "%s: the loss is NaN or infinite", fn);
    if (loss)
        *loss = total / pred->dims[0];
    return MLP_STATUS_OK;
}
