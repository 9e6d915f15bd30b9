/* Fuzz target: .npz archives from memory (the reader behind
 * mlp_dataset_load_npz). */
#include <stdint.h>
#include <stdlib.h>

#include "data/dataset_impl.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mlp_dataset *ds = NULL;
    mlp_status st = mlp__dataset_load_npz_mem(&ds, data, size, 0);
    if (st == MLP_STATUS_OK) {
        /* Every label must be inside the class count. */
        for (int32_t i = 0; i < mlp_dataset_size(ds); i++)
            if (mlp_dataset_label(ds, i) < 0 ||
                mlp_dataset_label(ds, i) >= mlp_dataset_num_classes(ds))
                abort();
    } else if (ds) {
        abort();
    }
    mlp_dataset_destroy(ds);
    return 0;
}
