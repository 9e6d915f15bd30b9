/* Private layout of mlp_dataset, shared by the files of lib/data/. */
#ifndef MLPNET_DATASET_IMPL_H
#define MLPNET_DATASET_IMPL_H

#include "core/core.h"

struct mlp_dataset {
    int32_t n, c, h, w;    /* n images of c x h x w bytes */
    int32_t num_classes;
    uint8_t *pixels;       /* n*c*h*w bytes, image after image */
    int32_t *labels;       /* n labels in 0..num_classes-1 */
    char (*class_names)[8];/* num_classes UTF-8 names, or NULL without a map */
};

#endif /* MLPNET_DATASET_IMPL_H */
