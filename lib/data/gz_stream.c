/*
 * A file read as it is or through inflate (gz_stream.h). The gzip path
 * drives inflate on blocks of MLP__GZ_IN_CHUNK compressed bytes and hands
 * it the caller's buffer, up to GZ_MAX_CHUNK bytes at a time. At the end of
 * a member (its CRC-32 and length checked by inflate) the next two bytes
 * decide: none, the file ends; gzip's magic, inflate is reset and reads on
 * from them; anything else is refused. The bytes after a member are
 * usually already in the buffer; when fewer than two are, the rest of the
 * buffer moves to its start and read(2) fills it, as a pipe needs.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* read, ssize_t */
#endif

#include "gz_stream.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "core/core.h"

/* Largest request handed to read(2) or inflate at once (inflate counts in
 * unsigned int); modest requests also keep the offsets in messages close to
 * the damage. */
#define GZ_MAX_CHUNK (1u << 20)

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

/* read(2), retried when a signal interrupts it. */
static ssize_t read_some(int fd, void *dst, size_t len)
{
    ssize_t got;
    do
        got = read(fd, dst, len);
    while (got < 0 && errno == EINTR);
    return got;
}

static mlp_status read_error(const mlp__gz_stream *s)
{
    return mlp__error(MLP_STATUS_IO, "%s: read error at byte offset %llu: %s", s->path,
                      ull(s->offset), strerror(errno));
}

/* Read into in[have..) until at least `want` bytes are there or the file
 * ends; *have is updated. */
static ssize_t fill_to(mlp__gz_stream *s, size_t *have, size_t want)
{
    while (*have < want) {
        ssize_t got = read_some(s->fd, s->in + *have, sizeof s->in - *have);
        if (got < 0)
            return -1;
        if (got == 0)
            break;
        *have += (size_t)got;
        s->in_pos += (uint64_t)got;
    }
    return 0;
}

void mlp__gz_close(mlp__gz_stream *s)
{
    if (s->z_live)
        inflateEnd(&s->z);
    s->z_live = 0;
}

mlp_status mlp__gz_open(mlp__gz_stream *s, int fd, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    s->fd = fd;
    size_t have = 0;
    if (fill_to(s, &have, 2) < 0)
        return mlp__error(MLP_STATUS_IO, "cannot read %s: %s", path, strerror(errno));
    s->is_gzip = have >= 2 && s->in[0] == 0x1f && s->in[1] == 0x8b;
    if (!s->is_gzip) {
        s->raw_len = have;
        return MLP_STATUS_OK;
    }
    /* zlib's own allocator, as gzdopen used: see gz_stream.h. */
    int zr = inflateInit2(&s->z, 15 + 16); /* gzip only */
    if (zr != Z_OK)
        return zr == Z_MEM_ERROR
                   ? mlp__error(MLP_STATUS_NO_MEMORY, "%s: zlib cannot allocate a stream",
                                path)
                   : mlp__error(MLP_STATUS_INTERNAL, "%s: inflateInit2 failed", path);
    s->z_live = 1;
    s->z.next_in = s->in;
    s->z.avail_in = (uInt)have;
    return MLP_STATUS_OK;
}

/* inflate has reached the end of a gzip member. Look at the two bytes after
 * it, reading more when the buffer holds fewer. */
static mlp_status member_end(mlp__gz_stream *s)
{
    const uint64_t end = s->in_pos - s->z.avail_in; /* first byte after the member */
    size_t have = s->z.avail_in;
    if (have < 2) {
        memmove(s->in, s->z.next_in, have);
        if (fill_to(s, &have, 2) < 0)
            return read_error(s);
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)have;
    }
    const unsigned char *sig = s->z.next_in;
    if (have == 0) {
        s->ended = 1;
        return MLP_STATUS_OK;
    }
    if (have >= 2 && sig[0] == 0x1f && sig[1] == 0x8b) {
        if (inflateReset(&s->z) != Z_OK)
            return mlp__error(MLP_STATUS_INTERNAL, "%s: inflateReset failed", s->path);
        return MLP_STATUS_OK;
    }
    return mlp__error(MLP_STATUS_BAD_FORMAT,
                      "%s: the gzip stream ends at byte offset %llu of the compressed "
                      "file, and the bytes after it are not a gzip member (after %llu "
                      "bytes of data)",
                      s->path, ull(end), ull(s->offset));
}

/* Turn a failed inflate into a status. */
static mlp_status inflate_failure(const mlp__gz_stream *s, int zr)
{
    switch (zr) {
    case Z_BUF_ERROR: /* no progress possible: the input ran out */
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: truncated gzip stream after %llu bytes of data "
                          "(decompressed)",
                          s->path, ull(s->offset));
    case Z_MEM_ERROR:
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: zlib is out of memory", s->path);
    case Z_DATA_ERROR:
    case Z_NEED_DICT: /* bad deflate data, header, CRC or length */
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: corrupt gzip stream after %llu bytes of data "
                          "(decompressed) (%s)",
                          s->path, ull(s->offset), s->z.msg ? s->z.msg : "zlib error");
    default:
        return mlp__error(MLP_STATUS_INTERNAL, "%s: inflate returned %d", s->path, zr);
    }
}

/* One step of reading a gzip file: inflate into `dst` what the next block
 * of input gives, at most `len` bytes (*got, 0 at the end). */
static mlp_status gz_step(mlp__gz_stream *s, unsigned char *dst, size_t len, size_t *got)
{
    *got = 0;
    if (s->ended)
        return MLP_STATUS_OK;
    if (s->z.avail_in == 0) {
        ssize_t n = read_some(s->fd, s->in, sizeof s->in);
        if (n < 0)
            return read_error(s);
        s->z.next_in = s->in;
        s->z.avail_in = (uInt)n;
        s->in_pos += (uint64_t)n;
    }
    s->z.next_out = dst;
    s->z.avail_out = (uInt)len;
    int zr = inflate(&s->z, Z_NO_FLUSH);
    *got = len - s->z.avail_out;
    s->offset += *got; /* before the checks, so that messages point past it */
    if (zr == Z_STREAM_END)
        return member_end(s);
    return zr == Z_OK ? MLP_STATUS_OK : inflate_failure(s, zr);
}

/* One step of reading a raw file: the bytes read ahead first, then
 * read(2) straight into `dst`. */
static mlp_status raw_step(mlp__gz_stream *s, unsigned char *dst, size_t len, size_t *got)
{
    if (s->raw_pos < s->raw_len) {
        size_t n = s->raw_len - s->raw_pos;
        if (n > len)
            n = len;
        memcpy(dst, s->in + s->raw_pos, n);
        s->raw_pos += n;
        *got = n;
    } else {
        ssize_t n = read_some(s->fd, dst, len);
        if (n < 0)
            return read_error(s);
        *got = (size_t)n;
    }
    s->offset += *got;
    return MLP_STATUS_OK;
}

mlp_status mlp__gz_read(mlp__gz_stream *s, void *dst, size_t len, size_t *got)
{
    unsigned char *out = dst;
    size_t done = 0;
    while (done < len) {
        size_t part = len - done > GZ_MAX_CHUNK ? GZ_MAX_CHUNK : len - done;
        size_t n = 0;
        mlp_status st = s->is_gzip ? gz_step(s, out + done, part, &n)
                                   : raw_step(s, out + done, part, &n);
        if (st != MLP_STATUS_OK) {
            *got = done + n;
            return st;
        }
        done += n;
        if (n == 0 && (!s->is_gzip || s->ended))
            break;
    }
    *got = done;
    return MLP_STATUS_OK;
}
