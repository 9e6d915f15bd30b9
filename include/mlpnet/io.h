/**
 * @file
 * libmlpnet: model files, ONNX export and the course's .npz data.
 *
 * A model file holds everything inference needs (the input shape, every
 * layer's kind and configuration, all parameters, the batch-norm running
 * statistics) and the model's random-number generator states, optionally
 * followed by an optimizer's complete state so that training can resume
 * exactly where it stopped. The format is specified in docs/file-format.md:
 * an 8-byte magic, a format version, then records (tag, length, payload,
 * CRC-32), all little-endian whatever the machine.
 *
 * Loading never trusts the file: every record's checksum is verified, every
 * length is checked against the bytes that remain before anything is
 * allocated, the model is rebuilt through the public layer creators so
 * that every configuration value passes the same checks as in a program,
 * and every parameter and state value must be finite and one its layer can
 * hold (docs/file-format.md, "PARM and STAT").
 * On any failure nothing is returned: the out-pointers are NULL and nothing
 * leaks. mlp_last_error() then names the problem and its byte offset; a
 * load that succeeds leaves it as it was.
 *
 * What the library writes, it reads back: the savers and the ONNX exporter
 * refuse, before writing anything, a model holding a value a load would
 * refuse (a NaN or an infinity, as after training diverged, or a state
 * value its layer never holds), and the savers an optimizer whose state no
 * run leaves (a NaN or infinite moment); the message names the layer, its
 * kind, the value's index in mlp_layer_params or mlp_layer_state and the
 * value, or the optimizer's rule, array, index and value.
 *
 * Saving to a path is atomic: the data go to a temporary file in the same
 * directory, DIR/.mlpnet-tmp.XXXXXX (six random characters; a name of fixed
 * length, so a target name as long as the file system allows saves too),
 * which is flushed, synced and renamed over the target; a save that fails
 * removes it and leaves an earlier file of that name untouched. Only a
 * process killed during a save leaves its temporary file behind, under that
 * recognisable name (docs/file-format.md, "Saving").
 *
 * The functions here keep no global state and may be called from several
 * threads at once on different models (a model itself is not thread-safe).
 */
#ifndef MLPNET_IO_H
#define MLPNET_IO_H

#include <stddef.h>
#include <stdint.h>

#include "mlpnet/data.h"
#include "mlpnet/export.h"
#include "mlpnet/model.h"
#include "mlpnet/optim.h"
#include "mlpnet/status.h"

MLP_EXTERN_C_BEGIN

/** Format version written by this library, and the newest one it reads.
 *  Files of a newer version are refused with MLP_STATUS_UNSUPPORTED. */
#define MLP_MODEL_FORMAT_VERSION 1

/**
 * Save a model to a file (atomically, see above). The file holds the
 * architecture, the parameters, the layers' state and the generator states;
 * layer initialisers are not kept (the weights are).
 * @param model  the model (borrowed for the call); it may have no layers
 * @param path   file to create or replace (borrowed for the call); its
 *               directory must exist and be writable. A symbolic link is
 *               followed (the file it names is replaced; the link stays)
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (a NULL argument, or `path`
 *         empty: checked first, nothing is written); MLP_STATUS_SHAPE_MISMATCH
 *         (class weights or names set for another count of outputs than the
 *         model has now: a file a load would refuse); MLP_STATUS_IO (`path`
 *         is not a regular file, as a device, a FIFO or a directory, or a
 *         link to nothing; or the temporary file cannot be created, written,
 *         synced or renamed: the message names the step and the system's
 *         reason; any earlier file at `path` is unchanged);
 *         MLP_STATUS_NUMERIC (a NaN or infinite parameter or state value,
 *         as after training diverged) or MLP_STATUS_INVALID_ARG (a state
 *         value its layer never holds, such as a negative batch-norm
 *         running variance or a standardize scale <= 0, written through
 *         mlp_layer_state): files a load would refuse, so nothing is
 *         written, no temporary file is left and any earlier file at
 *         `path` is unchanged; the message names the layer, its kind, the
 *         value's index in the layer's slice and the value;
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_save(const mlp_model *model, const char *path);

/**
 * Save a model and, when `opt` is not NULL, the complete state of its
 * optimizer (rule, hyper-parameters, schedule, step count and per-parameter
 * state), so that mlp_model_load_with_optimizer can resume training
 * exactly. With `opt` NULL this is mlp_model_save.
 * @param model  the model (borrowed for the call)
 * @param opt    optimizer created for `model` (borrowed for the call), or NULL
 * @param path   file to create or replace (borrowed for the call), as for
 *               mlp_model_save
 * @return as mlp_model_save, and MLP_STATUS_INVALID_ARG when `opt` belongs to
 *         another model, or MLP_STATUS_BAD_STATE when the model changed shape
 *         since `opt` was created; MLP_STATUS_NUMERIC also when the
 *         optimizer's state holds a NaN or an infinity (an Adam moment that
 *         overflowed: the run diverged), and MLP_STATUS_INVALID_ARG when it
 *         holds a finite value no run leaves (a negative second moment or
 *         sum of squares, state before the first step); nothing is written
 *         then, and the message names the rule, the array, the index and
 *         the value
 */
MLP_API mlp_status mlp_model_save_with_optimizer(const mlp_model *model,
                                                 const mlp_optimizer *opt,
                                                 const char *path);

/**
 * Load a model saved by mlp_model_save (an optimizer record in the file is
 * checked and ignored).
 * @param out   new model, or NULL on failure (owned: mlp_model_destroy)
 * @param path  file to read (borrowed for the call); must be a regular file
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (a NULL argument, or `path`
 *         empty: it names no file, as for mlp_model_save; nothing is read);
 *         MLP_STATUS_IO (cannot open or read, not a regular file, as a
 *         FIFO); MLP_STATUS_BAD_FORMAT
 *         (an empty file, which the message names as such; not a model
 *         file, wrong magic, checksum mismatch, truncated,
 *         unknown layer kind or record, a configuration the layer creators
 *         refuse, sizes that disagree with the architecture or exceed the
 *         file, a NaN or infinite parameter or state value, a state value
 *         its layer never holds such as a negative batch-norm running
 *         variance or a standardize scale <= 0, an optimizer value its
 *         setters refuse or a state no run leaves (docs/file-format.md,
 *         OPTM), bytes after the end record: the message names the byte
 *         offset); MLP_STATUS_UNSUPPORTED (a newer format version, or a
 *         layer configuration version this library does not know);
 *         MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_load(mlp_model **out, const char *path);

/**
 * Load a model and, when the file holds one, its optimizer.
 * @param out   new model, or NULL on failure (owned: mlp_model_destroy)
 * @param opt   receives the optimizer restored for the new model (owned:
 *              mlp_optimizer_destroy, before or after the model), or NULL
 *              when the file holds no optimizer state (not an error) or on
 *              failure; may itself be NULL, which makes this call
 *              mlp_model_load
 * @param path  file to read (borrowed for the call); must be a regular file
 * @return as mlp_model_load
 */
MLP_API mlp_status mlp_model_load_with_optimizer(mlp_model **out, mlp_optimizer **opt,
                                                 const char *path);

/**
 * Serialise a model into a new memory buffer, byte for byte what
 * mlp_model_save writes.
 * @param model  the model (borrowed for the call)
 * @param buf    receives the buffer, or NULL on failure (owned: mlp_buffer_free)
 * @param len    receives its length in bytes (0 on failure)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG, MLP_STATUS_SHAPE_MISMATCH
 *         (as mlp_model_save), MLP_STATUS_NUMERIC and MLP_STATUS_INVALID_ARG
 *         (a value a load would refuse, as mlp_model_save: no buffer is
 *         made) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_save_mem(const mlp_model *model, void **buf, size_t *len);

/**
 * Like mlp_model_save_mem, with the optimizer's state when `opt` is not
 * NULL (see mlp_model_save_with_optimizer for its statuses).
 * @param model  the model (borrowed for the call)
 * @param opt    optimizer created for `model` (borrowed for the call), or NULL
 * @param buf    receives the buffer, or NULL on failure (owned: mlp_buffer_free)
 * @param len    receives its length in bytes (0 on failure)
 * @return MLP_STATUS_OK, MLP_STATUS_INVALID_ARG (NULL, `opt` belongs to
 *         another model), MLP_STATUS_BAD_STATE (the model changed shape since
 *         `opt` was created), MLP_STATUS_SHAPE_MISMATCH (as mlp_model_save),
 *         MLP_STATUS_NUMERIC and MLP_STATUS_INVALID_ARG (a model or optimizer
 *         value a load would refuse, as mlp_model_save_with_optimizer: no
 *         buffer is made) or MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_save_mem_with_optimizer(const mlp_model *model,
                                                     const mlp_optimizer *opt, void **buf,
                                                     size_t *len);

/**
 * Load a model from a memory buffer holding the bytes of a model file, for
 * example one embedded in a program.
 * @param out  new model, or NULL on failure (owned: mlp_model_destroy)
 * @param buf  `len` bytes (borrowed for the call; nothing keeps a pointer
 *             into it); never NULL, even when `len` is 0
 * @param len  length of `buf` in bytes; 0 is an empty model file
 *             (MLP_STATUS_BAD_FORMAT)
 * @return as mlp_model_load, without MLP_STATUS_IO: MLP_STATUS_INVALID_ARG
 *         when `out` or `buf` is NULL (whatever `len`)
 */
MLP_API mlp_status mlp_model_load_mem(mlp_model **out, const void *buf, size_t len);

/**
 * Like mlp_model_load_mem, also restoring the optimizer as
 * mlp_model_load_with_optimizer does.
 * @param out  new model, or NULL on failure (owned: mlp_model_destroy)
 * @param opt  receives the optimizer restored for the new model (owned:
 *             mlp_optimizer_destroy, before or after the model), or NULL
 *             when the buffer holds no optimizer state (not an error) or on
 *             failure; may itself be NULL, which makes this call
 *             mlp_model_load_mem
 * @param buf  `len` bytes (borrowed for the call; nothing keeps a pointer
 *             into it); never NULL, as for mlp_model_load_mem
 * @param len  length of `buf` in bytes
 * @return as mlp_model_load_mem
 */
MLP_API mlp_status mlp_model_load_mem_with_optimizer(mlp_model **out, mlp_optimizer **opt,
                                                     const void *buf, size_t len);

/**
 * Export a model to ONNX, for ONNX Runtime and other inference engines
 * (docs/deploy.md: how to run it, and which ONNX operator each layer kind
 * becomes). The file declares opset 14 of the default domain and has one
 * input, "input" [N, input shape...] with N a symbolic batch dimension,
 * and these outputs, each [N, K]: "logits" and "probabilities" (softmax on
 * the last axis for ::MLP_LOSS_SOFTMAX_XENT with K >= 2, sigmoid for
 * ::MLP_LOSS_BCE_LOGITS) for a classifier, or "outputs" for a model that
 * regresses. Metadata: `mlpnet_version`, `loss`, `task` ("classify" or
 * "regress"), `outputs` (K) and, when the model has class names,
 * `class_names` as a JSON array of strings, and when it has feature names
 * (mlp_model_feature_name()), `feature_names` as one. The model is exported as it
 * infers (mlp_model_predict_raw): dropout becomes the identity and batch
 * normalisation uses its running statistics.
 *
 * The file is written atomically, as by mlp_model_save: a failed export
 * leaves no file and an earlier file at `path` untouched.
 * @param model  the model (borrowed for the call); it needs at least one layer
 * @param path   file to create or replace (borrowed for the call)
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (a NULL argument, or `path`
 *         empty, as for mlp_model_save); MLP_STATUS_BAD_STATE (no layers);
 *         MLP_STATUS_SHAPE_MISMATCH (as mlp_model_save);
 *         MLP_STATUS_UNSUPPORTED (kept for a layer kind without an ONNX
 *         mapping, the message naming the layer and its kind: every kind of
 *         this release has one); MLP_STATUS_NUMERIC (a NaN
 *         or infinite parameter or state value, which would make every
 *         output NaN) or MLP_STATUS_INVALID_ARG (a state value its layer
 *         never holds), as mlp_model_save: nothing is written;
 *         MLP_STATUS_IO (as mlp_model_save); MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_model_export_onnx(const mlp_model *model, const char *path);

/**
 * Export a model to ONNX into a new memory buffer, byte for byte what
 * mlp_model_export_onnx writes (for example to hand it to ONNX Runtime's
 * create-from-memory call). On failure, whichever of `buf` and `len` is
 * not NULL is cleared, also when the failure is that the other is NULL.
 * @param model  the model (borrowed for the call); it needs at least one layer
 * @param buf    receives the buffer, or NULL on failure (owned: mlp_buffer_free)
 * @param len    receives its length in bytes (0 on failure)
 * @return as mlp_model_export_onnx, without MLP_STATUS_IO
 */
MLP_API mlp_status mlp_model_export_onnx_mem(const mlp_model *model, void **buf,
                                             size_t *len);

/**
 * Free a buffer returned by mlp_model_save_mem or mlp_model_export_onnx_mem.
 * NULL is a no-op.
 * @param buf  a buffer from mlp_model_save_mem,
 *             mlp_model_save_mem_with_optimizer or mlp_model_export_onnx_mem
 *             (consumed: freed here); may be NULL
 */
MLP_API void mlp_buffer_free(void *buf);

/**
 * Read the format version of a model file without loading it (for tools that
 * want to tell "too new" from "corrupt").
 * @param path     file to read (borrowed for the call); must be a regular file
 * @param version  receives the version stored in the file, even one newer
 *                 than MLP_MODEL_FORMAT_VERSION
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (a NULL argument, or `path`
 *         empty, as mlp_model_load); MLP_STATUS_IO (cannot open or read,
 *         not a regular file, as mlp_model_load);
 *         MLP_STATUS_BAD_FORMAT (an empty file, which the message names as
 *         such; shorter than the preamble, wrong magic)
 */
MLP_API mlp_status mlp_model_file_version(const char *path, uint32_t *version);

/**
 * Read a NumPy .npz archive with the arrays `inputs` and `targets`, as the
 * course's `emnist-{train,valid,test}.npz` files.
 *   - The archive may store its members or deflate them (np.savez,
 *     np.savez_compressed), with or without ZIP64 fields; each member's
 *     CRC-32 and sizes are checked. Encrypted or otherwise compressed
 *     members are refused.
 *   - `inputs`: dtype uint8 ('|u1'), float32 or float64 (either byte
 *     order); shape [N,D] (a square D becomes a 1 x sqrt(D) x sqrt(D)
 *     image, any other D a 1 x 1 x D one), [N,H,W] or [N,C,H,W]. Float
 *     values must lie in [0, 1] and are stored as round(x * 255).
 *   - `targets`: an integer dtype of 1 to 8 bytes, shape [N], values in
 *     0..num_classes-1.
 *   - Both in C order (fortran_order False); other members are ignored.
 * Every size is checked against the archive's length (and deflate's
 * largest expansion) before anything is allocated.
 * @param out          new dataset, or NULL on failure (owned: mlp_dataset_destroy);
 *                     it has no label map (see mlp_dataset_load_mapping)
 * @param path         the .npz file (borrowed for the call); a regular file
 * @param num_classes  number of classes, or 0 for the largest label + 1
 * @return MLP_STATUS_OK; MLP_STATUS_INVALID_ARG (NULL, `path` empty,
 *         negative classes); MLP_STATUS_IO (cannot open or read; not a
 *         regular file, as a FIFO, refused without waiting for a writer);
 *         MLP_STATUS_BAD_FORMAT (not a zip archive, a missing member, a bad
 *         .npy header, dtype or shape, inputs and targets of different lengths, a CRC or
 * size mismatch, truncation, a value out of range: the message names the member and the
 * offset); MLP_STATUS_UNSUPPORTED (encryption, compression other than deflate, a
 * multi-disk archive, Fortran order); MLP_STATUS_NO_MEMORY
 */
MLP_API mlp_status mlp_dataset_load_npz(mlp_dataset **out, const char *path,
                                        int32_t num_classes);

MLP_EXTERN_C_END

#endif /* MLPNET_IO_H */
