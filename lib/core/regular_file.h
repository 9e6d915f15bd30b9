/*
 * Private to lib/: opening a file for the readers that take regular files
 * only (model files, IDX and npz datasets, label maps). Every room may
 * include it, as core.h.
 */
#ifndef MLPNET_REGULAR_FILE_H
#define MLPNET_REGULAR_FILE_H

#include <sys/stat.h>

/* What mlp__open_regular returns for a file that is not a regular one. */
#define MLP__NOT_REGULAR (-2)

/* Open `path` read-only (close-on-exec, reads that block as usual) and
 * fill *sb from the descriptor, so that its size describes the file read.
 * Never waits for another process: a FIFO without a writer is refused as
 * promptly as a directory. Returns the descriptor (the caller closes it);
 * -1 with errno set when the file cannot be opened or examined; or
 * MLP__NOT_REGULAR when it is no regular file (a FIFO, a device, a
 * directory, a socket), with no descriptor left open. */
int mlp__open_regular(const char *path, struct stat *sb);

#endif /* MLPNET_REGULAR_FILE_H */
