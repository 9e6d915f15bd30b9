/*
 * Mean squared error:  loss = (1/N) sum_n 0.5 ||p_n - t_n||^2,
 * dp = (p - t) / N, where N is the first dimension (the batch).
 */
#include <math.h>

#include "loss_impl.h"

mlp_status mlp_loss_mse(const mlp_tensor *pred, const mlp_tensor *target, double *loss,
                        mlp_tensor *grad)
{
    static const char fn[] = "mlp_loss_mse";
    MLP_CHECK_ARG(pred, fn, "pred is NULL");
    MLP_CHECK_ARG(target, fn, "target is NULL");
    MLP_TRY(mlp__loss_same_shape(pred, target, "target", "; [N] and [N,1] differ", fn));
    if (grad)
        MLP_TRY(mlp__loss_same_shape(pred, grad, "grad", "", fn));
    MLP_TRY(mlp__check_writable(grad, fn, "grad"));
    /* each value is read before its gradient is written: grad may be pred
     * or target itself, but not start elsewhere in their floats */
    MLP_TRY(mlp__check_no_overlap(grad, "grad", pred, "pred", 1, fn));
    MLP_TRY(mlp__check_no_overlap(grad, "grad", target, "target", 1, fn));
    double total = 0.0;
    for (int64_t i = 0; i < pred->numel; i++) {
        float d = pred->data[i] - target->data[i];
        total += 0.5 * (double)d * (double)d;
    }
    if (!isfinite(total))
        return mlp__error(MLP_STATUS_NUMERIC, "%s: the loss is NaN or infinite", fn);
    /* only now, in a pass of its own: a failure above leaves grad as it
     * was, and with it pred or target when grad is one of them */
    const float inv_n = 1.0f / (float)pred->dims[0];
    for (int64_t i = 0; grad && i < pred->numel; i++)
        grad->data[i] = (pred->data[i] - target->data[i]) * inv_n;
    if (loss)
        *loss = total / pred->dims[0];
    return MLP_STATUS_OK;
}
