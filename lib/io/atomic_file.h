/*
 * Private to the io room: atomic file writing shared by the model-file
 * writer (model_file.c) and the ONNX exporter (onnx.c).
 */
#ifndef MLPNET_ATOMIC_FILE_H
#define MLPNET_ATOMIC_FILE_H

#include <stddef.h>

#include "core/core.h"

/* Set the thread's error to "FN: WHAT PATH: <the system's text for err>"
 * and return MLP_STATUS_IO. */
mlp_status mlp__io_error(const char *fn, const char *what, const char *path, int err);

/* The check of `path` every writer makes before it produces any bytes:
 * MLP_STATUS_INVALID_ARG, naming `fn`, when it is NULL or empty (an empty
 * path names no file), else MLP_STATUS_OK. */
mlp_status mlp__check_save_path(const char *path, const char *fn);

/* Write `len` bytes to `path` atomically: DIR/.mlpnet-tmp.XXXXXX in the
 * target's directory DIR (a name whose length does not depend on the
 * target's), write, fsync, close, rename, fsync the directory. Any
 * failure before the rename removes the temporary file and leaves PATH as
 * it was (docs/file-format.md, "Saving"). `fn` names the public caller in
 * messages. Returns MLP_STATUS_OK, MLP_STATUS_IO or MLP_STATUS_NO_MEMORY. */
mlp_status mlp__write_atomic(const char *path, const void *data, size_t len,
                             const char *fn);

#endif /* MLPNET_ATOMIC_FILE_H */
