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

/* How a step cuts the block between the pool's parts when the caller
 * wrote the gradients in pieces of its own (split.c's first-layer split):
 * part t steps [lead[t], lead[t + 1]) and [rest[t], rest[t + 1]), where
 * lead[0] = 0, lead[parts] = rest[0] and rest[parts] = n. Each thread then
 * steps the parameters whose gradients it wrote and writes those it reads
 * first in the next step. The rules are element-wise: a cut changes which
 * thread steps a parameter, never the result. */
enum { MLP__CUT_MAX = 64 };
typedef struct mlp__step_cut {
    int parts; /* 2 .. MLP__CUT_MAX */
    int64_t lead[MLP__CUT_MAX + 1], rest[MLP__CUT_MAX + 1];
} mlp__step_cut;

#endif /* MLPNET_PARAM_BLOCK_H */
