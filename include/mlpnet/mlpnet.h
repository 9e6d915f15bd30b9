/**
 * @file
 * libmlpnet: a small neural-network library for C.
 *
 * Include only this header. Conventions used by every declaration:
 *   - Calls that can fail return an mlp_status; a new object is returned
 *     through an out-pointer that is set to NULL on failure, and
 *     mlp_last_error() gives the detail.
 *   - Each pointer parameter says who owns it: "owned" (the caller frees it
 *     with the matching destroy), "borrowed" (valid until a stated event,
 *     never freed by the caller), "copied" (the caller may reuse its buffer
 *     at once) or "consumed" (the library owns it now, even on failure).
 *   - Destroy functions accept NULL.
 *   - Tensors are float32, row-major, NCHW for images.
 *   - Nothing in the library prints, exits or aborts.
 */
#ifndef MLPNET_MLPNET_H
#define MLPNET_MLPNET_H

#include "mlpnet/data.h"
#include "mlpnet/dist.h"
#include "mlpnet/export.h"
#include "mlpnet/io.h"
#include "mlpnet/layer.h"
#include "mlpnet/loss.h"
#include "mlpnet/model.h"
#include "mlpnet/optim.h"
#include "mlpnet/status.h"
#include "mlpnet/tensor.h"
#include "mlpnet/version.h"

#endif /* MLPNET_MLPNET_H */
