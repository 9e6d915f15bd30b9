/*
 * What the rooms that hold an optimizer (model/, io/) need of it beyond the
 * public API, and all lib/io/ sees of one: the check that an optimizer
 * belongs to a parameter block and is current, and the optimizer's record
 * in model files. The optimizer writes and reads that record itself
 * (optim_file.c; layout: docs/file-format.md, OPTM); io/ only frames it
 * (tag, length, checksum) and places it among the other records.
 */
#ifndef MLPNET_OPTIM_FILE_H
#define MLPNET_OPTIM_FILE_H

#include "core/bytes.h"
#include "core/core.h"
#include "param_block.h"

/* The one check that `opt` is not NULL and was created for `block`
 * (INVALID_ARG otherwise, naming `fn`), and that no layer was added to the
 * model since (BAD_STATE, naming the parameter counts then and now): the
 * callers that run a step call it before the step's forward pass, which
 * would otherwise update batch-norm statistics for a step refused after. */
mlp_status mlp__optimizer_check_block(const mlp_optimizer *opt,
                                      const mlp__param_block *block, const char *fn);

/* mlp_optimizer_step with the block cut between the pool's parts as `cut`
 * says (NULL: the step's own even cut). The same statuses and results. */
mlp_status mlp__optimizer_step_cut(mlp_optimizer *opt, const mlp__step_cut *cut);

/* The check mlp_optimizer_step makes of its next step's scalars before it
 * changes anything: OK, or MLP_STATUS_NUMERIC (naming mlp_optimizer_step)
 * when a scalar of the rule's step at the current rate is not a finite
 * float (Adam's rate over 1 - b1^t, AdamW's lr wd). It depends on the optimizer alone, so
 * a caller whose step failed with MLP_STATUS_NUMERIC asks it again to tell that refusal
 * from a loss that was not finite. */
mlp_status mlp__optimizer_check_step(const mlp_optimizer *opt);

/* Bytes of the optimizer's record: its fixed fields (rule, counts, step,
 * hyper-parameters, schedule), then its per-parameter state. */
uint64_t mlp__optimizer_state_size(const mlp_optimizer *opt);

/* Encode the record: exactly mlp__optimizer_state_size(opt) bytes, handed
 * to put(sink, ...) in order, in pieces of at most a few kilobytes. */
void mlp__optimizer_write_state(const mlp_optimizer *opt, mlp__put_bytes put, void *sink);

/* Check the per-parameter state against what a run can leave there (the
 * rule mlp__optimizer_read_state applies to a file's), before a writer
 * writes it: MLP_STATUS_NUMERIC for a NaN or an infinity (a run that
 * diverged), MLP_STATUS_INVALID_ARG for a finite value no run leaves (a
 * negative sum of squares, state before the first step), naming `fn`, the
 * rule, the array, the index and the value; MLP_STATUS_OK otherwise. */
mlp_status mlp__optimizer_check_state(const mlp_optimizer *opt, const char *fn);

/* The offset mlp__optimizer_read_state gives for a record whose length,
 * rather than one of its fields, is at fault. */
#define MLP__STATE_AT_RECORD UINT64_MAX

/*
 * Rebuild an optimizer for `block` (borrowed, as for creation) from the
 * `len` bytes of its record at `p`. Every value is checked: counts against
 * the block and the length, hyper-parameters and the schedule through the
 * public setters (the checks a program's values pass), the fields the rule
 * or schedule does not use against the same ranges, and the per-parameter
 * state against what a run can leave there.
 * @param out     new optimizer, or NULL on failure (owned: mlp_optimizer_destroy)
 * @param err_at  on failure, the offset in `p` of the field at fault, or
 *                MLP__STATE_AT_RECORD when the length is
 * @return MLP_STATUS_OK; MLP_STATUS_BAD_FORMAT or MLP_STATUS_UNSUPPORTED with
 *         the bare detail in mlp_last_error() (no function name or offset,
 *         which the caller adds); MLP_STATUS_NO_MEMORY with the allocator's
 *         message
 */
mlp_status mlp__optimizer_read_state(mlp_optimizer **out, const mlp__param_block *block,
                                     const unsigned char *p, uint64_t len,
                                     uint64_t *err_at);

/*
 * The optimizer's whole state as flat arrays, for a caller that copies one
 * optimizer's state into another's in another process (data-parallel
 * training, lib/model/dist.c): MLP__OPTIM_SCALARS doubles (rule, step
 * count, hyper-parameters, current rate, schedule) and the per-parameter
 * state in place.
 */
#define MLP__OPTIM_SCALARS 18

/* Write the scalars into out[0..MLP__OPTIM_SCALARS); out[0] is the rule. */
void mlp__optimizer_get_scalars(const mlp_optimizer *opt, double *out);

/* Set the scalars from in[0..MLP__OPTIM_SCALARS), values another optimizer
 * of the same rule gave. INVALID_ARG (nothing changed) when in[0] is not
 * this optimizer's rule or a count is out of range. */
mlp_status mlp__optimizer_set_scalars(mlp_optimizer *opt, const double *in,
                                      const char *fn);

/* The per-parameter state (*n floats, 0 and NULL for a rule without
 * state), borrowed while the optimizer lives. */
float *mlp__optimizer_flat_state(mlp_optimizer *opt, int64_t *n);

#endif /* MLPNET_OPTIM_FILE_H */
