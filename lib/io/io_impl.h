/* Private entry points of lib/io, for the tests and fuzz targets. */
#ifndef MLPNET_IO_IMPL_H
#define MLPNET_IO_IMPL_H

#include "core/core.h"
#include "mlpnet/io.h"

/* mlp_dataset_load_npz on an archive held in memory (`len` bytes at `buf`,
 * borrowed for the call); messages name it "npz buffer". */
mlp_status mlp__dataset_load_npz_mem(mlp_dataset **out, const void *buf, size_t len,
                                     int32_t num_classes);

#endif /* MLPNET_IO_IMPL_H */
