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
 * would skip them without a word, so the file is read through
 * gz_stream.{c,h}, which drives inflate itself (and which the CSV reader
 * shares): a damaged file, or one built by appending to a gzip file, must
 * not load as if it were whole.
 */

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/regular_file.h"
#include "dataset_impl.h"
#include "gz_stream.h"

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

/* One IDX file being read. `s.offset` counts uncompressed bytes consumed,
 * so messages can point at the failing byte whatever the compression. The
 * stream, its input buffer included, sits in the idx_file (on the caller's
 * stack): the reader allocates nothing through mlp__alloc before the
 * headers are checked. */
typedef struct idx_file {
    const char *path; /* borrowed, for messages */
    int fd;
    int fd_live; /* fd is open and ours to close */
    mlp__gz_stream s;
    uint32_t dims[IDX_MAX_DIMS];
    size_t payload; /* element bytes after the header */
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
    mlp__gz_close(&f->s);
    if (f->fd_live)
        close(f->fd);
    f->fd_live = 0;
}

/* Read exactly `len` bytes; anything less is a truncated or corrupt file. */
static mlp_status idx_read(idx_file *f, void *dst, size_t len)
{
    size_t got;
    MLP_TRY(mlp__gz_read(&f->s, dst, len, &got));
    if (got < len)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: truncated at byte offset %llu (%zu more bytes expected)",
                          f->path, ull(f->s.offset), len - got);
    return MLP_STATUS_OK;
}

/* After the payload the file must end: no more raw bytes, no more
 * decompressed bytes, nothing after the last gzip member. Reading on also
 * makes inflate check the last member's trailer (CRC-32 and length). */
static mlp_status idx_finish(idx_file *f)
{
    unsigned char extra;
    size_t got;
    MLP_TRY(mlp__gz_read(&f->s, &extra, 1, &got));
    if (got > 0)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: trailing bytes after the payload at byte offset %llu "
                          "(the header's dimensions end the data there)",
                          f->path, ull(f->s.offset - 1));
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
    /* Two bounds, each named for what it is: the cap is the reader's (a
     * 16 MB file of 2.2 GB of images was said not to hold them). */
    if (file_size >= GZ_MAX_PAYLOAD / GZ_MAX_RATIO && payload > GZ_MAX_PAYLOAD)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: header claims %llu payload bytes, more than the reader "
                          "takes from a gzip file (at most %llu bytes; the file "
                          "decompressed is read whole)",
                          f->path, ull(payload), ull(GZ_MAX_PAYLOAD));
    if (file_size < GZ_MAX_PAYLOAD / GZ_MAX_RATIO && payload > file_size * GZ_MAX_RATIO)
        return mlp__error(MLP_STATUS_BAD_FORMAT,
                          "%s: header claims %llu payload bytes, more than this "
                          "%llu-byte gzip file can hold (at most %llu)",
                          f->path, ull(payload), ull(file_size),
                          ull(file_size * GZ_MAX_RATIO));
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
    uint64_t file_size = (uint64_t)sb.st_size;
    f->fd = fd;
    f->fd_live = 1; /* idx_close closes it from now on */
    st = mlp__gz_open(&f->s, fd, path);
    if (st != MLP_STATUS_OK)
        goto fail;
    const int is_gzip = f->s.is_gzip;

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
        uint64_t at = f->s.offset;
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

/* The IDX reader's failures name the file (idx_open, idx_read, the gzip
 * stream) but not the call: each public reader puts its name first
 * (mlp__error_named), and mlp_dataset_open passes its own. */
static mlp_status load_idx(mlp_dataset **out, const char *images_path,
                           const char *labels_path, int32_t num_classes, const char *fn);

mlp_status mlp_dataset_load_idx(mlp_dataset **out, const char *images_path,
                                const char *labels_path, int32_t num_classes)
{
    return mlp__dataset_load_idx(out, images_path, labels_path, num_classes,
                                 "mlp_dataset_load_idx");
}

mlp_status mlp__dataset_load_idx(mlp_dataset **out, const char *images_path,
                                 const char *labels_path, int32_t num_classes,
                                 const char *fn)
{
    return mlp__error_named(load_idx(out, images_path, labels_path, num_classes, fn), fn);
}

static mlp_status load_idx(mlp_dataset **out, const char *images_path,
                           const char *labels_path, int32_t num_classes, const char *fn)
{
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(images_path != NULL, fn, "images_path is NULL");
    MLP_CHECK_ARG(labels_path != NULL, fn, "labels_path is NULL");
    MLP_CHECK_ARG(images_path[0] != '\0' && labels_path[0] != '\0', fn,
                  images_path[0] ? "labels_path is empty" : "images_path is empty");
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

static mlp_status load_idx_images(mlp_dataset **out, const char *images_path,
                                  int32_t num_classes, const char *fn);

mlp_status mlp_dataset_load_idx_images(mlp_dataset **out, const char *images_path,
                                       int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_load_idx_images";
    return mlp__error_named(load_idx_images(out, images_path, num_classes, fn), fn);
}

static mlp_status load_idx_images(mlp_dataset **out, const char *images_path,
                                  int32_t num_classes, const char *fn)
{
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_ARG(images_path != NULL, fn, "images_path is NULL");
    MLP_CHECK_ARG(images_path[0] != '\0', fn, "images_path is empty");
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
