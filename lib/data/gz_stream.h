/*
 * Private to lib/data/: reading a file that may be gzip-compressed, from a
 * descriptor with read(2) only, so that pipes work as well as files.
 *
 * A file that starts with gzip's magic (1f 8b) is inflated; any other is
 * passed through as it is. A gzip file is a series of members (RFC 1952,
 * 2.2), which gunzip writes out one after the other, so members after the
 * first are read on as the same stream; bytes after a member that do not
 * start another are refused (MLP_STATUS_BAD_FORMAT, naming the byte offset
 * in the compressed file). zlib's gzread would skip them without a word:
 * a damaged file, or one built by appending to a gzip file, must not load
 * as if it were whole. Whether another member follows is decided from the
 * bytes already read, refilling the buffer when fewer than two remain, so
 * no seek or pread is needed.
 *
 * The stream allocates nothing through mlp__alloc: its input buffer sits in
 * the struct (on the caller's stack) and zlib keeps its own allocator, a
 * few tens of KiB, so a reader can check a file's header before its first
 * mlp__alloc (idx.c relies on it).
 */
#ifndef MLPNET_GZ_STREAM_H
#define MLPNET_GZ_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "mlpnet/status.h"

/* Compressed bytes read from the file at a time. */
#define MLP__GZ_IN_CHUNK 8192

typedef struct mlp__gz_stream {
    const char *path; /* borrowed, for messages */
    int fd;           /* borrowed: the caller closes it */
    int is_gzip;      /* read through `z` */
    int z_live;       /* `z` holds inflate state to end */
    int ended;        /* gzip: the last member ended and nothing follows it */
    z_stream z;
    /* Raw files: the bytes read ahead to look for gzip's magic, served
     * before reading on (in[raw_pos..raw_len)). */
    size_t raw_pos, raw_len;
    uint64_t in_pos; /* file bytes read into `in` so far */
    uint64_t offset; /* data bytes handed out so far (after decompression) */
    unsigned char in[MLP__GZ_IN_CHUNK];
} mlp__gz_stream;

/* Start reading `fd` (borrowed; the caller closes it after mlp__gz_close):
 * read its first bytes and decide whether it is gzip. Messages name `path`
 * (borrowed until mlp__gz_close). Returns MLP_STATUS_OK, MLP_STATUS_IO (a
 * read error, "cannot read PATH: ..."), MLP_STATUS_NO_MEMORY or
 * MLP_STATUS_INTERNAL (zlib cannot start). On failure nothing is left to
 * close in `s`, though mlp__gz_close on it is harmless. */
mlp_status mlp__gz_open(mlp__gz_stream *s, int fd, const char *path);

/* Read up to `len` bytes of data (after decompression) into `dst`; *got <
 * len only at the end of the file (0 when it has ended). Returns
 * MLP_STATUS_OK, MLP_STATUS_IO (read error), MLP_STATUS_BAD_FORMAT (a
 * truncated or corrupt gzip stream, bytes after a member that are no
 * member), MLP_STATUS_NO_MEMORY (zlib) or MLP_STATUS_INTERNAL. Messages
 * name the path and how many bytes of data (decompressed) came before the
 * problem (the compressed file's offset for bytes after a member). */
mlp_status mlp__gz_read(mlp__gz_stream *s, void *dst, size_t len, size_t *got);

/* Release zlib's state (not the descriptor). Safe to call twice, and on a
 * zeroed struct. */
void mlp__gz_close(mlp__gz_stream *s);

#endif /* MLPNET_GZ_STREAM_H */
