/**
 * @file
 * libmlpnet: status codes and error messages.
 *
 * Every call that can fail returns an mlp_status. On failure a specific
 * English message (which argument, which shape, which file offset) is kept
 * in thread-local storage and can be read with mlp_last_error().
 */
#ifndef MLPNET_STATUS_H
#define MLPNET_STATUS_H

#include "mlpnet/export.h"

MLP_EXTERN_C_BEGIN

/**
 * Result of a library call. The values are part of the ABI: they are
 * written out and only ever appended to.
 */
typedef enum mlp_status {
    MLP_STATUS_OK = 0,             /**< success */
    MLP_STATUS_INVALID_ARG = 1,    /**< bad pointer, rank, size, enum or value */
    MLP_STATUS_NO_MEMORY = 2,      /**< an allocation failed */
    MLP_STATUS_SHAPE_MISMATCH = 3, /**< tensor or layer shapes do not fit */
    MLP_STATUS_IO = 4,             /**< a read or write failed (see the message) */
    MLP_STATUS_BAD_FORMAT = 5,     /**< not a file of the expected format, or corrupt */
    MLP_STATUS_UNSUPPORTED = 6,    /**< a valid request this build cannot do */
    MLP_STATUS_NUMERIC = 7,        /**< a loss or parameter became NaN or infinite */
    MLP_STATUS_BAD_STATE = 8,      /**< an object is not in a state this call accepts
                                        (e.g. backward before forward, a model without
                                        layers run, a setter called on a layer already
                                        added, an optimizer at its step limit) */
    MLP_STATUS_INTERNAL = 9        /**< a bug in the library; please report it */
} mlp_status;

/**
 * Short static English description of a status ("invalid argument", ...).
 * Unknown values give "unknown status".
 * @param st  any value, including one outside mlp_status
 * @return never NULL (borrowed: static storage)
 */
MLP_API const char *mlp_status_str(mlp_status st);

/**
 * Detail of the most recent failure on the calling thread, for example
 * "mlp_model_add: layer 3 (dense) expects input [100] but got [1,28,28]".
 * Successful calls neither clear nor change it: what a call checks on its
 * own behalf and finds missing (an optimizer rule without some key, while
 * a model file loads) leaves no message behind a call that succeeds.
 * The message is one line of valid UTF-8 without control characters, up
 * to 511 bytes: a byte of a file or an argument it quotes that starts no
 * such character (invalid UTF-8, a line break, an escape) shows as '?',
 * so the text can be printed or logged as it is, and put in a JSON string
 * with only its quotes and backslashes escaped.
 * @return never NULL; "" if nothing failed yet (borrowed: valid until the
 *         next failing call on this thread, which includes the misuse a
 *         call without a status refuses and reports here: mlp_tensor_destroy
 *         or mlp_layer_destroy of what a model owns, mlp_tensor_fill of a
 *         read-only tensor)
 */
MLP_API const char *mlp_last_error(void);

/**
 * Number of threads the library uses for matrix products and its own
 * parallel loops. Until this is called the library runs on 1 thread (the
 * fastest setting for small MLPs, and safe on a busy machine); n <= 0 means
 * all cores. The library runs one pool of its own threads, started at the
 * first call that can use them: OpenBLAS stays single-threaded, the library
 * splits products, element passes, batch gathering and optimizer steps
 * itself, on every build (with or without OpenBLAS). Its count is its own:
 * OMP_NUM_THREADS and OPENBLAS_NUM_THREADS do not set it, and the caller's
 * OpenMP settings are left alone. OpenBLAS's thread count, though, is one
 * for the whole process: this call and mlp_model_create set it to 1, so a
 * program that also runs OpenBLAS's products itself on several threads
 * sets its count again after them (openblas_set_num_threads). A training
 * step of a model made only of dense, activation, reshape, standardize and
 * average-pooling layers (an MLP), with a loss without class weights and
 * at least 16 samples a thread, splits its batch instead: each thread takes
 * its rows through forward, loss and backward, and their gradients are
 * added, which hands far less data between the cores; a first dense
 * layer that holds half the parameters or more is split by its inputs
 * instead when it has many of them beside the batch's rows (at least 64
 * a thread, and at least 2 x (threads - 1) x the rows), each thread
 * keeping its own rows of the weights. Idle threads spin
 * for a fraction of a millisecond, then sleep. Results are reproducible
 * bit for bit for a fixed thread count; across thread counts they differ
 * in the last bits.
 * This is process-wide; call it before training, not while another thread
 * trains.
 * @param n  number of threads, or <= 0 for all cores; a count above 1024
 *           is taken as 1024
 * @return MLP_STATUS_OK (releases before 0.4.0 returned
 *         MLP_STATUS_UNSUPPORTED for n > 1 in builds with neither OpenBLAS
 *         nor OpenMP)
 */
MLP_API mlp_status mlp_set_num_threads(int n);

/**
 * Threads the library uses (1 until mlp_set_num_threads is called).
 * @return the thread count, >= 1
 */
MLP_API int mlp_get_num_threads(void);

/**
 * Flush subnormal floats to zero in the library's arithmetic, or stop.
 * Values below 1.2e-38 in magnitude (subnormal floats) take the processor
 * many times longer to compute with than others. The library's
 * exponential, sigmoid and softmax cross-entropy gradient give 0 rather
 * than such a value, but products of small values still make them (the
 * gradients through sigmoid units near the end of their tails, for one),
 * and every product that reads them slows down: an MLP of sigmoid units
 * driven that far trained an epoch in 2.4 s, and in 0.53 s with the
 * flush. With the flush on, such values are read as zero and results that
 * would be subnormal are written as zero (on x86-64 the FTZ and DAZ bits
 * of the MXCSR register), which changes results only where subnormals
 * appear.
 *
 * Off by default. It applies to the library's worker threads (from their
 * next piece of work) and to the calling thread, whose own floating-point
 * arithmetic it changes too, until it is turned off again (off clears both
 * bits on the calling thread); a thread that calls the library without
 * having called this keeps its own mode for the parts it runs itself. Call
 * it from each thread that trains, before training, as for
 * mlp_set_num_threads.
 * @param on  nonzero to flush, 0 to stop
 * @return MLP_STATUS_OK, or MLP_STATUS_UNSUPPORTED for on != 0 on a
 *         processor or build that offers no such mode (processors other
 *         than x86-64 in this release); the setting is then unchanged
 */
MLP_API mlp_status mlp_set_flush_denormals(int on);

/**
 * Whether the library flushes subnormal floats (mlp_set_flush_denormals).
 * @return 1 when flushing, 0 when not (the default)
 */
MLP_API int mlp_get_flush_denormals(void);

MLP_EXTERN_C_END

#endif /* MLPNET_STATUS_H */
