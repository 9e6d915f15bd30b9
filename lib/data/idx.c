/*
 * IDX reader, the file format of MNIST and EMNIST: a big-endian header
 * (magic 0x000008NN, where NN is the number of dimensions and 0x08 the
 * unsigned-byte element type, then one 32-bit extent per dimension) followed
 * by the elements as raw bytes. Files may be gzip-compressed: a file that
 * starts with gzip's magic is read through inflate, any other as it is.
 *
 * A header is never trusted. Every extent is checked for overflow and
 * against what the file can actually hold before anything is allocated, so
 * a corrupt or hostile file cannot make us allocate gigabytes: a raw file
 * must be exactly header + payload bytes long, and a gzip file cannot
 * expand beyond deflate's maximum ratio. Both files of a pair are opened
 * and their headers checked before the first allocation. An images file
 * can also be read alone (mlp_dataset_load_idx_images, labels 0). The
 * dataset itself comes from mlp__dataset_build (dataset.c).
 *
 * The file must end where the header says the data end. A gzip file is a
 * series of members (RFC 1952, 2.2), which gunzip writes out one after the
 * other, so members after the first are read on as the same stream; bytes
 * after a member that do not start another are refused. zlib's gzread
 * would skip them without a word, which is why this file drives inflate
 * itself: a damaged file, or one built by appending to a gzip file, must
 * not load as if it were whole.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* pread */
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zlib.h>

#include "core/core.h"
#include "core/regular_file.h"
#include "dataset_impl.h"

#define IDX_MAGIC_IMAGES 0x00000803u /* dims N, H, W */
#define IDX_MAGIC_LABELS 0x00000801u /* dim N */
#define IDX_TYPE_UBYTE 0x08u
#define IDX_MAX_DIMS 3

/* Deflate's largest expansion: a 258-byte match coded in about two bits,
 * so one compressed byte never yields more than 1032 bytes (zlib FAQ). */
#define GZ_MAX_RATIO 1032u
/* Absolute bound on the payload of a gzip file: 2 GiB, far above any
 * dataset of this kind (EMNIST ByClass training images are about 550 MB). */
#define GZ_MAX_PAYLOAD ((uint64_t)1 << 31)

/* Largest request handed to read(2) or inflate at once (inflate counts in
 * unsigned int); modest requests also keep the offsets in messages close to
 * the damage. */
#define GZ_MAX_CHUNK (1u << 20)

/* Compressed bytes read from the file at a time, into a buffer inside the
 * idx_file (on the caller's stack): the reader allocates nothing through
 * mlp__alloc before the headers are checked. */
#define GZ_IN_CHUNK 8192

/* One IDX file being read. `offset` counts uncompressed bytes consumed, so
 * messages can point at the failing byte whatever the compression. */
typedef struct idx_file {
    const char *path; /* borrowed, for messages */
    int fd;
    int fd_live;  /* fd is open and ours to close */
    int is_gzip;  /* read through `z` */
    int z_live;   /* `z` holds inflate state to end */
    int gz_ended; /* the last gzip member ended, and nothing follows it */
    z_stream z;
    uint64_t in_pos; /* file bytes read into `in` so far (gzip) */
    uint32_t dims[IDX_MAX_DIMS];
    size_t payload; /* element bytes after the header */
    uint64_t offset;
    unsigned char in[GZ_IN_CHUNK];
} idx_file;

static unsigned long long ull(uint64_t v)
{
    return (unsigned long long)v;
}

static uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void idx_close(idx_file *f)
{
    if (f->z_live)
        inflateEnd(&f->z);
    f->z_live = 0;
    if (f->fd_live)
        close(f->fd);
    f->fd_live = 0;
}

static mlp_status read_error(const idx_file *f)
{
    return mlp__error(MLP_STATUS_IO, "%s: read error at byte offset %llu: %s", f->path,
                      ull(f->offset), strerror(errno));
}

/* read(2) and pread(2), retried when a signal interrupts them. */
static ssize_t read_some(int fd, void *dst, size_t len)
{
    ssize_t got;
    do
        got = read(fd, dst, len);
    while (got < 0 && errno == EINTR);
    return got;
}

static ssize_t pread_some(int fd, void *dst, size_t len, uint64_t at)
{
    ssize_t got;
    do
        got = pread(fd, dst, len, (off_t)at);
    while (got < 0 && errno == EINTR);
    return got;
}

/* Hand inflate the next block of the file; none at its end. */
static mlp_status gz_refill(idx_file *f)
{
    ssize_t got = read_some(f->fd, f->in, sizeof f->in);
    if (got < 0)
        return read_error(f);
    f->z.next_in = f->in;
    f->z.avail_in = (uInt)got;
    f->in_pos += (uint64_t)got;
    return MLP_STATUS_OK;
}

/* inflate has reached the end of a gzip member (its CRC-32 and length
 * checked). The two bytes after it decide: none, the file ends; gzip's
 * magic, another member starts and is read on as the same stream; anything
 * else is refused. pread looks at them wherever the buffer stands. */
static mlp_status gz_member_end(idx_file *f)
{
    const uint64_t end = f->in_pos - f->z.avail_in; /* first byte after the member */
    unsigned char sig[2];
    ssize_t got = pread_some(f->fd, sig, sizeof sig, end);
    if (got < 0)
        return read_error(f);
    if (got == 0) {
        f->gz_ended = 1;
        return MLP_STATUS_OK;
    }
    if (got == 2 && sig[0] == 0x1f && sig[1] == 0x8b) {
        if (inflateReset(&f->z) != Z_OK)
            return mlp__error(MLP_STATUS_INTERNAL, "%s: inflateReset failed", f->path);
        return MLP_STATUS_OK;
    }
    return mlp__error(MLP_STATUS_BAD_FORMAT,
                      "%s: the gzip stream ends at byte offset %llu of the compressed "
                      "file, and the bytes after it are not a gzip member (after %llu "
                      "bytes of data)",
                      f->path, ull(end), ull(f->offset));
}

/* Turn a failed inflate into a status. */
static mlp_status inflate_failure(const idx_file *f, int zr)
{
    switch (zr) {
    case Z_BUF_ERROR: /* no progress possible: the input ran out */
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: truncated gzip stream at byte offset %llu", f->path,
                          ull(f->offset));
    case Z_MEM_ERROR:
        return mlp__error(MLP_STATUS_NO_MEMORY, "%s: zlib is out of memory", f->path);
    case Z_DATA_ERROR:
    case Z_NEED_DICT: /* bad deflate data, header, CRC or length */
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: corrupt gzip stream near byte offset %llu (%s)", f->path,
                          ull(f->offset), f->z.msg ? f->z.msg : "zlib error");
    default:
        return mlp__error(MLP_STATUS_INTERNAL, "%s: inflate returned %d", f->path, zr);
    }
}

/* One step of reading a gzip file: inflate into `dst` what the next block
 * of input gives, at most `len` bytes (*got, 0 at the end). */
static mlp_status gz_step(idx_file *f, unsigned char *dst, size_t len, size_t *got)
{
    *got = 0;
    if (f->gz_ended)
        return MLP_STATUS_OK;
    if (f->z.avail_in == 0)
        MLP_TRY(gz_refill(f));
    f->z.next_out = dst;
    f->z.avail_out = (uInt)len;
    int zr = inflate(&f->z, Z_NO_FLUSH);
    *got = len - f->z.avail_out;
    f->offset += *got; /* before the checks, so that messages point past it */
    if (zr == Z_STREAM_END)
        return gz_member_end(f);
    return zr == Z_OK ? MLP_STATUS_OK : inflate_failure(f, zr);
}

/* Read up to `len` bytes of the file's data (after decompression) into
 * `dst`; *got < len only at the end of a raw file or of the last gzip
 * member. */
static mlp_status idx_read_upto(idx_file *f, unsigned char *dst, size_t len, size_t *got)
{
    size_t done = 0;
    while (done < len) {
        size_t part = len - done > GZ_MAX_CHUNK ? GZ_MAX_CHUNK : len - done;
        size_t n;
        if (f->is_gzip) {
            MLP_TRY(gz_step(f, dst + done, part, &n));
            if (n == 0 && f->gz_ended)
                break;
        } else {
            ssize_t r = read_some(f->fd, dst + done, part);
            if (r < 0)
                return read_error(f);
            if (r == 0)
                break;
            n = (size_t)r;
            f->offset += n;
        }
        done += n;
    }
    *got = done;
    return MLP_STATUS_OK;
}

/* Read exactly `len` bytes; anything less is a truncated or corrupt file. */
static mlp_status idx_read(idx_file *f, void *dst, size_t len)
{
    size_t got;
    MLP_TRY(idx_read_upto(f, dst, len, &got));
    if (got < len)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: truncated at byte offset %llu (%zu more bytes expected)",
                          f->path, ull(f->offset), len - got);
    return MLP_STATUS_OK;
}

/* After the payload the file must end: no more raw bytes, no more
 * decompressed bytes, nothing after the last gzip member. Reading on also
 * makes inflate check the last member's trailer (CRC-32 and length). */
static mlp_status idx_finish(idx_file *f)
{
    unsigned char extra;
    size_t got;
    MLP_TRY(idx_read_upto(f, &extra, 1, &got));
    if (got > 0)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: trailing bytes after the payload at byte offset %llu "
                          "(the header's dimensions end the data there)",
                          f->path, ull(f->offset - 1));
    return MLP_STATUS_OK;
}

/* Check that the payload the header claims fits in the file: exactly for a
 * raw file, within deflate's expansion bound for a gzip file. */
static mlp_status check_payload_fits(const idx_file *f, int is_gzip, uint64_t file_size,
                                     size_t header)
{
    uint64_t payload = (uint64_t)f->payload;
    if (!is_gzip) {
        uint64_t after = file_size > header ? file_size - header : 0;
        if (payload > after)
            return mlp__error(
                MLP_STATUS_BAD_FORMAT,
                "%s: header claims %llu payload bytes but the file has "
                "only %llu after the header (truncated at byte offset %llu)",
                f->path, ull(payload), ull(after), ull(file_size));
        if (payload < after)
            return mlp__error(
                MLP_STATUS_BAD_FORMAT,
                "%s: %llu trailing bytes after the payload at byte offset %llu", f->path,
                ull(after - payload), ull(header + payload));
        return MLP_STATUS_OK;
    }
    uint64_t bound = GZ_MAX_PAYLOAD;
    if (file_size < bound / GZ_MAX_RATIO)
        bound = file_size * GZ_MAX_RATIO;
    if (payload > bound)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: header claims %llu payload bytes, more than this "
                          "%llu-byte gzip file can hold (at most %llu)",
                          f->path, ull(payload), ull(file_size), ull(bound));
    return MLP_STATUS_OK;
}

/* Name of an IDX element type code, or NULL for a code IDX does not define. */
static const char *idx_type_name(unsigned code)
{
    switch (code) {
    case 0x08: return "ubyte";
    case 0x09: return "byte";
    case 0x0B: return "short";
    case 0x0C: return "int";
    case 0x0D: return "float";
    case 0x0E: return "double";
    }
    return NULL;
}

/* What an IDX magic describes, e.g. "a labels file (idx1, ubyte: magic
 * 0x00000801)", so that a file given in the wrong place is named for what it
 * is; "" when the magic is not an IDX magic at all. */
static const char *idx_describe(const unsigned char *hdr, char *buf, size_t cap)
{
    const char *type = idx_type_name(hdr[2]);
    if (hdr[0] != 0 || hdr[1] != 0 || !type || hdr[3] < 1) {
        buf[0] = '\0';
        return buf;
    }
    snprintf(buf, cap, "%s (idx%u, %s: magic 0x%08lX)",
             hdr[3] == 1   ? "a labels file"
             : hdr[3] == 3 ? "an images file"
                           : "an IDX file",
             (unsigned)hdr[3], type, (unsigned long)load_be32(hdr));
    return buf;
}

/* Open an IDX file and validate its header: magic, element type, extents
 * (each 1..INT32_MAX), their product, and that product against the file.
 * On success the file is positioned at the first payload byte. */
static mlp_status idx_open(idx_file *f, const char *path, uint32_t magic, int ndims)
{
    const char *what = magic == IDX_MAGIC_IMAGES ? "image" : "label";
    mlp_status st;

    memset(f, 0, sizeof *f);
    f->path = path;

    /* Size and compression come from the descriptor we read, not from a
     * second lookup of the name, so they describe the same file. */
    struct stat sb;
    int fd = mlp__open_regular(path, &sb);
    if (fd == MLP__NOT_REGULAR)
        return mlp__error(MLP_STATUS_IO, "cannot read %s: not a regular file", path);
    if (fd < 0)
        return mlp__error(MLP_STATUS_IO, "cannot open %s: %s", path, strerror(errno));
    unsigned char sig[2];
    ssize_t nsig = pread(fd, sig, sizeof sig, 0);
    if (nsig < 0) {
        st = mlp__error(MLP_STATUS_IO, "cannot read %s: %s", path, strerror(errno));
        close(fd);
        return st;
    }
    int is_gzip = nsig == 2 && sig[0] == 0x1f && sig[1] == 0x8b;
    uint64_t file_size = (uint64_t)sb.st_size;

    f->fd = fd;
    f->fd_live = 1; /* idx_close closes it from now on */
    f->is_gzip = is_gzip;
    if (is_gzip) {
        /* zlib's own allocator, as gzdopen used: a few tens of KiB whatever
         * the header claims, and mlp__alloc's first failure stays the
         * dataset's buffer (the tests of headers checked before allocating
         * rely on it). */
        int zr = inflateInit2(&f->z, 15 + 16); /* gzip only */
        if (zr != Z_OK) {
            idx_close(f);
            return zr == Z_MEM_ERROR
                       ? mlp__error(MLP_STATUS_NO_MEMORY,
                                    "%s: zlib cannot allocate a stream", path)
                       : mlp__error(MLP_STATUS_INTERNAL, "%s: inflateInit2 failed", path);
        }
        f->z_live = 1;
    }

    unsigned char hdr[4 * IDX_MAX_DIMS];
    st = idx_read(f, hdr, 4);
    if (st != MLP_STATUS_OK)
        goto fail;
    char is[80];
    if (hdr[3] != (unsigned)ndims && idx_describe(hdr, is, sizeof is)[0]) {
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "%s: %s, expected %s (idx%d, ubyte: magic 0x%08lX)", path, is,
                        ndims == 1 ? "a labels file" : "an images file", ndims,
                        (unsigned long)magic);
        goto fail;
    }
    if (hdr[0] != 0 || hdr[1] != 0 || hdr[3] != (unsigned)ndims) {
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "%s: not an IDX %s file (magic 0x%08lX at byte offset 0, "
                        "expected 0x%08lX)",
                        path, what, (unsigned long)load_be32(hdr), (unsigned long)magic);
        goto fail;
    }
    if (hdr[2] != IDX_TYPE_UBYTE) {
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "%s: IDX element type 0x%02X at byte offset 2 is not "
                        "unsigned byte (0x08)",
                        path, (unsigned)hdr[2]);
        goto fail;
    }

    st = idx_read(f, hdr, 4 * (size_t)ndims);
    if (st != MLP_STATUS_OK)
        goto fail;
    size_t payload = 1;
    for (int d = 0; d < ndims; d++) {
        f->dims[d] = load_be32(hdr + 4 * d);
        if (f->dims[d] < 1 || f->dims[d] > INT32_MAX) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s: dimension %d is %lu at byte offset %d "
                            "(must be 1..2147483647)",
                            path, d, (unsigned long)f->dims[d], 4 + 4 * d);
            goto fail;
        }
        if (!mlp__mul_size(payload, f->dims[d], &payload)) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s: dimensions overflow the size of memory", path);
            goto fail;
        }
    }
    f->payload = payload;
    st = check_payload_fits(f, is_gzip, file_size, 4 + 4 * (size_t)ndims);
    if (st != MLP_STATUS_OK)
        goto fail;
    return MLP_STATUS_OK;

fail:
    idx_close(f);
    return st;
}

/* Read the label bytes through a small buffer, widening them to int32 and
 * checking each against num_classes (0: no limit) as it goes, so an
 * offending label is reported with its exact offset. */
static mlp_status read_labels(idx_file *f, int32_t *labels, int32_t n,
                              int32_t num_classes, int32_t *max_label)
{
    unsigned char buf[4096];
    int32_t max = 0;
    int32_t i = 0;
    while (i < n) {
        size_t chunk = (size_t)(n - i) < sizeof buf ? (size_t)(n - i) : sizeof buf;
        uint64_t at = f->offset;
        mlp_status st = idx_read(f, buf, chunk);
        if (st != MLP_STATUS_OK)
            return st;
        for (size_t j = 0; j < chunk; j++, i++) {
            int32_t label = buf[j];
            if (num_classes > 0 && label >= num_classes)
                return mlp__error(MLP_STATUS_BAD_FORMAT,
                                  "%s: label %d at byte offset %llu is out of range "
                                  "for %d classes",
                                  f->path, (int)label, ull(at + j), (int)num_classes);
            labels[i] = label;
            if (label > max)
                max = label;
        }
    }
    *max_label = max;
    return MLP_STATUS_OK;
}

/* Read the whole payload into `dst` and check that the file ends there. */
static mlp_status read_payload(idx_file *f, uint8_t *dst)
{
    MLP_TRY(idx_read(f, dst, f->payload));
    return idx_finish(f);
}

mlp_status mlp_dataset_load_idx(mlp_dataset **out, const char *images_path,
                                const char *labels_path, int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_load_idx";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(images_path != NULL, fn, "images_path is NULL");
    MLP_CHECK_ARG(labels_path != NULL, fn, "labels_path is NULL");
    MLP_CHECK_RANGE(num_classes >= 0, fn, "num_classes", num_classes, ">= 0");

    idx_file img, lab;
    mlp_dataset *ds = NULL;
    mlp_status st;
    int32_t max_label = 0;

    memset(&lab, 0, sizeof lab); /* idx_close on the fail path */
    st = idx_open(&img, images_path, IDX_MAGIC_IMAGES, 3);
    if (st != MLP_STATUS_OK)
        return st;
    st = idx_open(&lab, labels_path, IDX_MAGIC_LABELS, 1);
    if (st != MLP_STATUS_OK)
        goto fail;
    if (img.dims[0] != lab.dims[0]) {
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s has %lu labels but %s has %lu images",
                        labels_path, (unsigned long)lab.dims[0], images_path,
                        (unsigned long)img.dims[0]);
        goto fail;
    }
    /* Headers agree and fit their files: only now allocate. */
    mlp__dataset_spec spec = mlp__images_spec(
        (int32_t)img.dims[0], 1, (int32_t)img.dims[1], (int32_t)img.dims[2], num_classes);
    st = mlp__dataset_build(&ds, &spec);
    if (st != MLP_STATUS_OK)
        goto oom;

    /* Labels first: the file is small, and a bad label spares us
     * decompressing the images. */
    st = read_labels(&lab, ds->labels, ds->n, num_classes, &max_label);
    if (st == MLP_STATUS_OK)
        st = idx_finish(&lab);
    if (st == MLP_STATUS_OK)
        st = read_payload(&img, ds->pixels);
    if (st != MLP_STATUS_OK)
        goto fail;
    idx_close(&img);
    idx_close(&lab);
    if (num_classes == 0)
        ds->num_classes = max_label + 1;
    *out = ds;
    return MLP_STATUS_OK;

oom:
    st =
        mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory loading %s", fn, images_path);
fail:
    idx_close(&img);
    idx_close(&lab);
    mlp_dataset_destroy(ds);
    return st;
}

mlp_status mlp_dataset_load_idx_images(mlp_dataset **out, const char *images_path,
                                       int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_load_idx_images";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(images_path != NULL, fn, "images_path is NULL");
    MLP_CHECK_RANGE(num_classes >= 0, fn, "num_classes", num_classes, ">= 0");

    idx_file img;
    mlp_dataset *ds = NULL;
    MLP_TRY(idx_open(&img, images_path, IDX_MAGIC_IMAGES, 3));
    mlp__dataset_spec spec =
        mlp__images_spec((int32_t)img.dims[0], 1, (int32_t)img.dims[1],
                         (int32_t)img.dims[2], num_classes > 0 ? num_classes : 1);
    mlp_status st = mlp__dataset_build(&ds, &spec);
    if (st != MLP_STATUS_OK)
        st = mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory loading %s", fn,
                        images_path);
    else
        st = read_payload(&img, ds->pixels); /* the labels stay 0 */
    idx_close(&img);
    if (st != MLP_STATUS_OK) {
        mlp_dataset_destroy(ds);
        return st;
    }
    *out = ds;
    return MLP_STATUS_OK;
}
