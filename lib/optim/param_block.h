/*
 * The one structure through which an optimizer reaches a model: the flat
 * parameter and gradient buffers, their length, the segments (weights, then
 * the rest, of each layer, so that decay and L1 reach weights only) and a
 * generation count. The model owns one block and keeps it current; it bumps
 * the generation whenever its layout changes, so an optimizer made for an
 * older layout refuses to step. Nothing in lib/optim/ knows the model.
 */
#ifndef MLPNET_PARAM_BLOCK_H
#define MLPNET_PARAM_BLOCK_H

#include <stdint.h>

typedef struct mlp__segment {
    int64_t offset, count;
    int weights; /* 1: decayable weights */
} mlp__segment;

typedef struct mlp__param_block {
    float *params, *grads; /* n floats each (NULL while n == 0) */
    int64_t n;
    mlp__segment *segs; /* n_segs segments covering [0, n) in order */
    int n_segs;
    uint64_t generation; /* changes whenever the layout changes */
} mlp__param_block;

#endif /* MLPNET_PARAM_BLOCK_H */
