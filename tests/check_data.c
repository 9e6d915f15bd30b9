/*
 * Tests of lib/data: the IDX reader, datasets, label maps and the batcher.
 *
 * Every test writes its own small IDX files, raw and gzip, into a fresh
 * directory under one mkdtemp() base in /tmp; main() removes the whole base
 * at the end, so files survive neither a passing nor a failing test. The
 * real dataset is read by check_emnist.c (a skip without MLPNET_DATA_DIR).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkdtemp */
#endif

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "core/core.h"
#include "testutil.h"

#define PATH_LEN 512

static char base_dir[64];

/* ---- files and directories ------------------------------------------- */

/* A fresh directory for one test. */
static void make_test_dir(char *dir)
{
    snprintf(dir, PATH_LEN, "%s/tXXXXXX", base_dir);
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static const char *join(char *buf, const char *dir, const char *name)
{
    int len = snprintf(buf, PATH_LEN, "%s/%s", dir, name);
    ck_assert(len > 0 && len < PATH_LEN);
    return buf;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Header (magic + ndims big-endian extents) followed by `len` data bytes;
 * malloc'd, length in *out_len. */
static unsigned char *idx_blob(uint32_t magic, int ndims, const uint32_t *dims,
                               const uint8_t *data, size_t len, size_t *out_len)
{
    size_t header = 4 + 4 * (size_t)ndims;
    unsigned char *buf = calloc(1, header + len + 1); /* the spare byte is a defined 0:
                                                          a test writes it as trailing */
    ck_assert_ptr_nonnull(buf);
    put_be32(buf, magic);
    for (int d = 0; d < ndims; d++)
        put_be32(buf + 4 + 4 * d, dims[d]);
    if (len > 0)
        memcpy(buf + header, data, len);
    *out_len = header + len;
    return buf;
}

static void write_idx(const char *path, uint32_t magic, int ndims, const uint32_t *dims,
                      const uint8_t *data, size_t len, int gz)
{
    size_t total;
    unsigned char *buf = idx_blob(magic, ndims, dims, data, len, &total);
    tu_write_file_gz(path, buf, total, gz);
    free(buf);
}

/* A small synthetic dataset: n images of h x w bytes and n labels. */
typedef struct toy {
    uint32_t n, h, w;
    uint8_t *pix;
    uint8_t *lab;
} toy;

static toy toy_make(uint32_t n, uint32_t h, uint32_t w, uint32_t classes, uint32_t seed)
{
    toy t = {n, h, w, malloc((size_t)n * h * w), malloc(n)};
    ck_assert_ptr_nonnull(t.pix);
    ck_assert_ptr_nonnull(t.lab);
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)n * h * w; i++)
        t.pix[i] = (uint8_t)tu_rng_below(&rng, 256);
    for (uint32_t i = 0; i < n; i++)
        t.lab[i] = (uint8_t)((i * 7 + seed) % classes);
    return t;
}

static void toy_free(toy *t)
{
    free(t->pix);
    free(t->lab);
}

static const uint8_t *toy_image(const toy *t, uint32_t i)
{
    return t->pix + (size_t)i * t->h * t->w;
}

static void write_toy_images(const char *path, const toy *t, int gz)
{
    uint32_t dims[3] = {t->n, t->h, t->w};
    write_idx(path, 0x803, 3, dims, t->pix, (size_t)t->n * t->h * t->w, gz);
}

static void write_toy_labels(const char *path, const toy *t, int gz)
{
    uint32_t dims[1] = {t->n};
    write_idx(path, 0x801, 1, dims, t->lab, t->n, gz);
}

/* Write PREFIXimages-idx3-ubyte and PREFIXlabels-idx1-ubyte (+ ".gz"). */
static void write_split(const char *dir, const char *prefix, const toy *t, int gz)
{
    char name[PATH_LEN], path[PATH_LEN];
    snprintf(name, sizeof name, "%simages-idx3-ubyte%s", prefix, gz ? ".gz" : "");
    write_toy_images(join(path, dir, name), t, gz);
    snprintf(name, sizeof name, "%slabels-idx1-ubyte%s", prefix, gz ? ".gz" : "");
    write_toy_labels(join(path, dir, name), t, gz);
}

static void write_text(const char *path, const char *text)
{
    tu_write_file_gz(path, text, strlen(text), 0);
}

/* ---- assertions -------------------------------------------------------- */

static void clear_error(void)
{
    mlp__error(MLP_STATUS_OK, "%s", "");
}

/* The call returns `want` and, when that is a failure, leaves a message
 * (the last error is cleared first, so an old one does not count). */
#define EXPECT_STATUS(call, want)                                                        \
    do {                                                                                 \
        clear_error();                                                                   \
        if ((want) == MLP_STATUS_OK)                                                     \
            TU_OK(call);                                                                 \
        else                                                                             \
            TU_FAIL(call, want);                                                         \
    } while (0)

/* A pointer that is not NULL, to check that failures reset out-pointers. */
#define POISON ((mlp_dataset *)&base_dir)

/* Check that `ds` holds exactly the toy's images and labels. */
static void assert_matches_toy(const mlp_dataset *ds, const toy *t, uint32_t first,
                               uint32_t count)
{
    ck_assert_int_eq(mlp_dataset_size(ds), (int32_t)count);
    ck_assert_int_eq(mlp_dataset_channels(ds), 1);
    ck_assert_int_eq(mlp_dataset_height(ds), (int32_t)t->h);
    ck_assert_int_eq(mlp_dataset_width(ds), (int32_t)t->w);
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *img = mlp_dataset_image(ds, (int32_t)i);
        ck_assert_ptr_nonnull(img);
        ck_assert_mem_eq(img, toy_image(t, first + i), (size_t)t->h * t->w);
        ck_assert_int_eq(mlp_dataset_label(ds, (int32_t)i), t->lab[first + i]);
    }
}

/* Load an images/labels pair that must fail with `want`, without leaking,
 * and with *out reset to NULL. */
static void expect_load_fails(const char *images, const char *labels, int32_t classes,
                              mlp_status want)
{
    long live = mlp__alloc_live();
    mlp_dataset *ds = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, images, labels, classes), want);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}

/* As above, and prove that nothing was allocated before the file was
 * rejected: with the very first allocation set to fail, a reader that
 * allocated the claimed size would report NO_MEMORY instead. */
static void expect_rejected_before_alloc(const char *images, const char *labels)
{
    long live = mlp__alloc_live();
    mlp_dataset *ds = POISON;
    clear_error();
    mlp__alloc_fail_after(1);
    mlp_status st = mlp_dataset_load_idx(&ds, images, labels, 0);
    mlp__alloc_fail_after(0);
    ck_assert_msg(st == MLP_STATUS_BAD_FORMAT, "status %d (%s)", (int)st,
                  mlp_last_error());
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}

/* ---- IDX reader -------------------------------------------------------- */

static void round_trip(int gz_images, int gz_labels)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(5, 3, 4, 6, 1);
    join(pi, dir, gz_images ? "img.gz" : "img");
    join(pl, dir, gz_labels ? "lab.gz" : "lab");
    write_toy_images(pi, &t, gz_images);
    write_toy_labels(pl, &t, gz_labels);

    long live = mlp__alloc_live();
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, pl, 0), MLP_STATUS_OK);
    assert_matches_toy(ds, &t, 0, 5);
    uint8_t max = 0;
    for (uint32_t i = 0; i < t.n; i++)
        max = t.lab[i] > max ? t.lab[i] : max;
    ck_assert_int_eq(mlp_dataset_num_classes(ds), max + 1);
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 0)); /* no map */
    ck_assert_ptr_null(mlp_dataset_image(ds, 5));
    ck_assert_ptr_null(mlp_dataset_image(ds, -1));
    ck_assert_int_eq(mlp_dataset_label(ds, 5), -1);
    ck_assert_int_eq(mlp_dataset_label(ds, -1), -1);
    mlp_dataset_destroy(ds);

    EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, pl, 40), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 40);
    mlp_dataset_destroy(ds);
    /* every label 0: one class */
    memset(t.lab, 0, t.n);
    write_toy_labels(pl, &t, gz_labels);
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, pl, 0), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 1);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&t);
    tu_rm_tree(dir);
}

START_TEST(idx_raw_round_trip)
{
    round_trip(0, 0);
}
END_TEST

START_TEST(idx_gz_round_trip)
{
    round_trip(1, 1);
}
END_TEST

START_TEST(idx_mixed_round_trip)
{
    round_trip(1, 0);
    round_trip(0, 1);
}
END_TEST

START_TEST(idx_wrong_magic)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 2);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    uint32_t dims3[3] = {4, 2, 2}, dims1[1] = {4};
    static const uint32_t bad_image_magics[] = {0x00000801, 0x12345678, 0x01000803,
                                                0x00000802, 0x00000804};
    for (size_t k = 0; k < sizeof bad_image_magics / sizeof *bad_image_magics; k++) {
        for (int gz = 0; gz < 2; gz++) {
            join(bad, dir, gz ? "bad.gz" : "bad");
            write_idx(bad, bad_image_magics[k], 3, dims3, t.pix, 16, gz);
            expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS(bad);
            TU_ERROR_HAS("magic");
        }
    }
    /* Label and image files swapped: each is named for what it is. */
    expect_load_fails(pl, pi, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("a labels file (idx1, ubyte: magic 0x00000801), expected an images "
                 "file (idx3, ubyte: magic 0x00000803)");
    expect_load_fails(pi, pi, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("an images file (idx3, ubyte: magic 0x00000803), expected a labels "
                 "file (idx1, ubyte: magic 0x00000801)");
    write_idx(join(bad, dir, "badlab"), 0x00000803, 1, dims1, t.lab, 4, 0);
    expect_load_fails(pi, bad, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(bad);
    /* A magic whose second byte is not 0 is no IDX magic, whatever its
     * last two bytes say: not "a labels file". */
    write_idx(bad, 0x00010801, 1, dims1, t.lab, 4, 0);
    expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("not an IDX image file (magic 0x00010801 at byte offset 0");
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_wrong_type_byte)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 3);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    uint32_t dims3[3] = {4, 2, 2}, dims1[1] = {4};
    /* 0x09 signed byte, 0x0B short, 0x0D float: valid IDX, not ours. */
    static const uint32_t types[] = {0x09, 0x0B, 0x0D, 0x00};
    for (size_t k = 0; k < sizeof types / sizeof *types; k++) {
        join(bad, dir, "badimg");
        write_idx(bad, types[k] << 8 | 3, 3, dims3, t.pix, 16, 0);
        expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
        TU_ERROR_HAS("type");
        join(bad, dir, "badlab.gz");
        write_idx(bad, types[k] << 8 | 1, 1, dims1, t.lab, 4, 1);
        expect_load_fails(pi, bad, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
        TU_ERROR_HAS("type");
    }
    /* A file of another type and rank given in the wrong place is named
     * for what it is, its type included. */
    static const struct {
        uint32_t type;
        const char *says;
    } others[] = {{0x09, "a labels file (idx1, byte: magic 0x00000901)"},
                  {0x0B, "a labels file (idx1, short: magic 0x00000B01)"},
                  {0x0C, "a labels file (idx1, int: magic 0x00000C01)"},
                  {0x0D, "a labels file (idx1, float: magic 0x00000D01)"},
                  {0x0E, "a labels file (idx1, double: magic 0x00000E01)"}};
    for (size_t k = 0; k < sizeof others / sizeof *others; k++) {
        join(bad, dir, "other");
        write_idx(bad, others[k].type << 8 | 1, 1, dims1, t.lab, 4, 0);
        expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(others[k].says);
        TU_ERROR_HAS("expected an images file (idx3, ubyte: magic 0x00000803)");
    }
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_truncated)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(5, 3, 4, 3, 4);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    size_t ilen, llen;
    uint32_t dims3[3] = {5, 3, 4}, dims1[1] = {5};
    unsigned char *img = idx_blob(0x803, 3, dims3, t.pix, 60, &ilen);
    unsigned char *lab = idx_blob(0x801, 1, dims1, t.lab, 5, &llen);
    ck_assert_uint_eq(ilen, 76);
    /* Inside the magic, inside the dims, at the end of the header, inside
     * the payload, one byte short. */
    static const size_t image_cuts[] = {0, 1, 3, 4, 6, 8, 11, 15, 16, 17, 40, 75};
    static const size_t label_cuts[] = {0, 2, 4, 7, 8, 9, 12};
    for (int gz = 0; gz < 2; gz++) {
        join(bad, dir, gz ? "cut.gz" : "cut");
        for (size_t k = 0; k < sizeof image_cuts / sizeof *image_cuts; k++) {
            tu_write_file_gz(bad, img, image_cuts[k], gz);
            expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS(bad);
            TU_ERROR_HAS("truncated");
        }
        for (size_t k = 0; k < sizeof label_cuts / sizeof *label_cuts; k++) {
            tu_write_file_gz(bad, lab, label_cuts[k], gz);
            expect_load_fails(pi, bad, 0, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS(bad);
            TU_ERROR_HAS("truncated");
        }
    }
    /* The message gives the offset where a gzip payload ran out. */
    tu_write_file_gz(bad, img, 40, 1);
    expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("offset 40");
    free(img);
    free(lab);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_truncated_gzip_stream)
{
    char dir[PATH_LEN], pl[PATH_LEN], good[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(20, 28, 28, 5, 5);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    write_toy_images(join(good, dir, "img.gz"), &t, 1);
    size_t len;
    unsigned char *gz = tu_read_file(good, &len);
    ck_assert_uint_gt(len, 100);
    /* Cut the compressed file itself: after the gzip header, mid-stream,
     * before the trailer (CRC and length), inside the trailer. */
    const size_t cuts[] = {2, 10, 30, len / 2, len - 8, len - 4, len - 1};
    join(bad, dir, "cut.gz");
    for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
        tu_write_file_gz(bad, gz, cuts[k], 0);
        expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
    }
    free(gz);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_corrupt_gzip)
{
    char dir[PATH_LEN], pl[PATH_LEN], good[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    for (int compressible = 0; compressible < 2; compressible++) {
        toy t = toy_make(20, 28, 28, 5, 6);
        if (compressible) {
            for (size_t i = 0; i < 20 * 28 * 28; i++)
                t.pix[i] = (uint8_t)(t.pix[i] & 0x03);
        }
        write_toy_labels(join(pl, dir, "lab"), &t, 0);
        write_toy_images(join(good, dir, "img.gz"), &t, 1);
        size_t len;
        unsigned char *gz = tu_read_file(good, &len);
        /* Deflate data (after the 10-byte header), CRC-32, length. */
        const size_t at[] = {12, len / 3, len / 2, len - 20, len - 8, len - 2};
        join(bad, dir, "corrupt.gz");
        for (size_t k = 0; k < sizeof at / sizeof *at; k++) {
            gz[at[k]] ^= 0x5A;
            tu_write_file_gz(bad, gz, len, 0);
            gz[at[k]] ^= 0x5A;
            expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS(bad);
        }
        /* The pristine file still loads, so the failures came from the flips. */
        mlp_dataset *ds = NULL;
        EXPECT_STATUS(mlp_dataset_load_idx(&ds, good, pl, 0), MLP_STATUS_OK);
        assert_matches_toy(ds, &t, 0, 20);
        mlp_dataset_destroy(ds);
        free(gz);
        toy_free(&t);
    }
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_trailing_bytes)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(5, 3, 4, 3, 7);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    size_t ilen, llen;
    uint32_t dims3[3] = {5, 3, 4}, dims1[1] = {5};
    unsigned char *img = idx_blob(0x803, 3, dims3, t.pix, 60, &ilen);
    unsigned char *lab = idx_blob(0x801, 1, dims1, t.lab, 5, &llen);
    img[ilen] = 0; /* idx_blob leaves room for one extra byte */
    lab[llen] = 0;
    for (int gz = 0; gz < 2; gz++) {
        join(bad, dir, gz ? "extra.gz" : "extra");
        tu_write_file_gz(bad, img, ilen + 1, gz);
        expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
        TU_ERROR_HAS("trailing");
        TU_ERROR_HAS("offset 76");
        tu_write_file_gz(bad, lab, llen + 1, gz);
        expect_load_fails(pi, bad, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
        TU_ERROR_HAS("trailing");
    }
    free(img);
    free(lab);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_dims_overflow)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 8);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    static const uint32_t dims[][3] = {
        {0xFFFFFFFFu, 0xFFFFFFFFu, 28},          /* beyond int32 and size_t */
        {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu}, /* each int32, product 2^93 */
        {0x80000000u, 1, 1},                     /* just beyond int32 */
        {4, 0xFFFFFFFFu, 1},
        {0, 2, 2}, /* empty */
        {4, 0, 2},
    };
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        for (int gz = 0; gz < 2; gz++) {
            join(bad, dir, gz ? "big.gz" : "big");
            write_idx(bad, 0x803, 3, dims[k], t.pix, 16, gz);
            expect_rejected_before_alloc(bad, pl);
            TU_ERROR_HAS(bad);
        }
    }
    uint32_t n1[1] = {0xFFFFFFFFu};
    join(bad, dir, "biglab");
    write_idx(bad, 0x801, 1, n1, t.lab, 4, 0);
    expect_rejected_before_alloc(pi, bad);
    TU_ERROR_HAS(bad);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_dims_exceed_file)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 28, 28, 3, 9);
    /* Image files claiming more images than they hold: 2^31 - 1, 1000, and
     * one more than present. The label file claims as many (and is short
     * too), so only the size check of the image file can stop the reader
     * before it allocates. */
    static const uint32_t dims[][3] = {
        {0x7FFFFFFFu, 28, 28},
        {1000, 28, 28},
        {5, 28, 28},
    };
    join(pl, dir, "lab");
    for (size_t k = 0; k < sizeof dims / sizeof *dims; k++) {
        write_idx(pl, 0x801, 1, dims[k], t.lab, 4, 0);
        join(bad, dir, "huge");
        write_idx(bad, 0x803, 3, dims[k], t.pix, 4 * 28 * 28, 0);
        expect_rejected_before_alloc(bad, pl);
        TU_ERROR_HAS(bad);
        /* Gzip: beyond 1032 x the compressed size (the first two; the
         * third is only found truncated when read) or beyond the cap. */
        if (k == 2)
            continue;
        join(bad, dir, "huge.gz");
        write_idx(bad, 0x803, 3, dims[k], t.pix, 16, 1);
        expect_rejected_before_alloc(bad, pl);
        TU_ERROR_HAS(bad);
    }
    /* 8 MiB of zeros compress to about 8 kB, which cannot expand to the
     * 2^32 - 2 bytes claimed; 3 MB of noise could expand to 2^31 + 2
     * bytes by that ratio, but not past the 2 GiB cap. */
    for (int capped = 0; capped < 2; capped++) {
        uint32_t zdims[2][3] = {{0x7FFFFFFFu, 1, 2}, {0x40000001u, 1, 2}};
        write_idx(pl, 0x801, 1, zdims[capped], t.lab, 4, 0);
        join(bad, dir, "big-claim.gz");
        size_t chunk = 1 << 20;
        unsigned char *body = calloc(1, chunk);
        ck_assert_ptr_nonnull(body);
        uint32_t r = 12345;
        for (size_t i = 0; capped && i < chunk; i++) {
            r = r * 1664525u + 1013904223u;
            body[i] = (unsigned char)(r >> 24);
        }
        unsigned char hdr[16];
        put_be32(hdr, 0x803);
        for (int d = 0; d < 3; d++)
            put_be32(hdr + 4 + 4 * d, zdims[capped][d]);
        gzFile g = gzopen(bad, "wb9");
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(gzwrite(g, hdr, 16), 16);
        /* Repeating the noise does not help deflate: its window is 32 kB. */
        for (int i = 0; i < (capped ? 3 : 8); i++)
            ck_assert_int_eq(gzwrite(g, body, (unsigned)chunk), (int)chunk);
        ck_assert_int_eq(gzclose(g), Z_OK);
        free(body);
        expect_rejected_before_alloc(bad, pl);
        TU_ERROR_HAS(bad);
        /* The cap is the reader's, not the file's: this file could hold
         * the 2,147,483,650 bytes claimed, as one of 2.2 GB of real images
         * compressed to 16 MB does, which the message said it could not. */
        if (capped)
            TU_ERROR_HAS("more than the reader takes from a gzip file (at most "
                         "2147483648 bytes; the file decompressed is read whole)");
        else
            TU_ERROR_HAS("-byte gzip file can hold (at most ");
    }
    /* A label file claiming 10^6 labels in a few bytes, next to an image
     * file that really holds 10^6 images of 1 x 1. */
    enum { NL = 1000000 };
    uint8_t *ones = calloc(1, NL);
    ck_assert_ptr_nonnull(ones);
    uint32_t idims[3] = {NL, 1, 1}, n1[1] = {NL};
    write_idx(join(pi, dir, "img"), 0x803, 3, idims, ones, NL, 0);
    free(ones);
    for (int gz = 0; gz < 2; gz++) {
        join(bad, dir, gz ? "hugelab.gz" : "hugelab");
        write_idx(bad, 0x801, 1, n1, t.lab, 4, gz);
        expect_rejected_before_alloc(pi, bad);
        TU_ERROR_HAS(bad);
    }
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_missing_file)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], none[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 10);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    join(none, dir, "no-such-file.gz");
    expect_load_fails(none, pl, 0, MLP_STATUS_IO);
    TU_ERROR_HAS(none);
    expect_load_fails(pi, none, 0, MLP_STATUS_IO);
    TU_ERROR_HAS(none);
    expect_load_fails(dir, pl, 0, MLP_STATUS_IO); /* a directory */
    TU_ERROR_HAS(dir);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_count_mismatch)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN];
    make_test_dir(dir);
    toy t5 = toy_make(5, 2, 2, 3, 11), t4 = toy_make(4, 2, 2, 3, 11);
    write_toy_images(join(pi, dir, "img"), &t5, 1);
    write_toy_labels(join(pl, dir, "lab"), &t4, 0);
    expect_load_fails(pi, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(pl);
    TU_ERROR_HAS("4 labels");
    TU_ERROR_HAS("5 images");
    write_toy_images(pi, &t4, 1);
    write_toy_labels(pl, &t5, 0);
    expect_load_fails(pi, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(pi);
    TU_ERROR_HAS("5 labels");
    TU_ERROR_HAS("4 images");
    toy_free(&t5);
    toy_free(&t4);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(idx_label_out_of_range)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(5, 2, 2, 3, 12);
    t.lab[2] = 9;
    for (int gz = 0; gz < 2; gz++) {
        join(pi, dir, gz ? "img.gz" : "img");
        join(pl, dir, gz ? "lab.gz" : "lab");
        write_toy_images(pi, &t, gz);
        write_toy_labels(pl, &t, gz);
        expect_load_fails(pi, pl, 9, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(pl);
        TU_ERROR_HAS("offset 10"); /* 8-byte header + index 2 */
        mlp_dataset *ds = NULL;
        EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, pl, 10), MLP_STATUS_OK);
        ck_assert_int_eq(mlp_dataset_label(ds, 2), 9);
        mlp_dataset_destroy(ds);
        EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, pl, 0), MLP_STATUS_OK);
        ck_assert_int_eq(mlp_dataset_num_classes(ds), 10);
        mlp_dataset_destroy(ds);
    }
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- IDX images without labels ---------------------------------------- */

/* Load an images-only file that must fail with `want`, without leaking,
 * with *out reset to NULL and a message naming the file. */
static void expect_images_fail(const char *images, mlp_status want)
{
    long live = mlp__alloc_live();
    mlp_dataset *ds = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, images, 0), want);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    TU_ERROR_HAS(images);
}

START_TEST(idx_images_only_valid)
{
    char dir[PATH_LEN], pi[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(6, 3, 5, 4, 21);
    for (int gz = 0; gz < 2; gz++) {
        write_toy_images(join(pi, dir, gz ? "img.gz" : "img"), &t, gz);
        long live = mlp__alloc_live();
        mlp_dataset *ds = NULL;
        EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, pi, 10), MLP_STATUS_OK);
        ck_assert_int_eq(mlp_dataset_num_classes(ds), 10);
        for (uint32_t i = 0; i < t.n; i++)
            t.lab[i] = 0; /* every label reads 0 */
        assert_matches_toy(ds, &t, 0, 6);
        mlp_dataset_destroy(ds);
        EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, pi, 0), MLP_STATUS_OK);
        ck_assert_int_eq(mlp_dataset_num_classes(ds), 1);
        mlp_dataset_destroy(ds);
        ck_assert_int_eq(mlp__alloc_live(), live);
    }
    mlp_dataset *ds = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, pi, -1), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(ds);
    ds = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, NULL, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(ds);
    EXPECT_STATUS(mlp_dataset_load_idx_images(NULL, pi, 0), MLP_STATUS_INVALID_ARG);
    join(pi, dir, "missing");
    expect_images_fail(pi, MLP_STATUS_IO);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* Truncated files, trailing bytes, wrong magics and absurd sizes, each
 * raw and gzip-compressed. */
START_TEST(idx_images_only_bad_files)
{
    char dir[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(5, 3, 4, 3, 22);
    uint32_t dims3[3] = {5, 3, 4};
    size_t len;
    unsigned char *img = idx_blob(0x803, 3, dims3, t.pix, 60, &len);
    static const size_t cuts[] = {0, 2, 4, 9, 15, 16, 40, 75};
    static const uint32_t absurd[][3] = {
        {0xFFFFFFFFu, 0xFFFFFFFFu, 28},          /* beyond int32 and size_t */
        {0x7FFFFFFFu, 0x7FFFFFFFu, 0x7FFFFFFFu}, /* product 2^93 */
        {0x7FFFFFFFu, 28, 28},                   /* far more than the file holds */
        {0, 2, 2},                               /* empty */
        {4, 0, 2},
    };
    for (int gz = 0; gz < 2; gz++) {
        join(bad, dir, gz ? "bad.gz" : "bad");
        for (size_t k = 0; k < sizeof cuts / sizeof *cuts; k++) {
            tu_write_file_gz(bad, img, cuts[k], gz);
            expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS("truncated");
        }
        tu_write_file_gz(bad, img, len + 1, gz);
        expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS("trailing");

        /* A labels file is named for what it is. */
        write_toy_labels(bad, &t, gz);
        expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS("a labels file (idx1, ubyte: magic 0x00000801), expected an "
                     "images file (idx3, ubyte: magic 0x00000803)");
        write_idx(bad, 0x12345678, 3, dims3, t.pix, 60, gz);
        expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS("not an IDX image file (magic 0x12345678");
        write_idx(bad, 0x0D03, 3, dims3, t.pix, 60, gz); /* floats */
        expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS("type");

        for (size_t k = 0; k < sizeof absurd / sizeof *absurd; k++) {
            write_idx(bad, 0x803, 3, absurd[k], t.pix, 16, gz);
            /* Refused before the first allocation: with that one set to
             * fail, a reader that trusted the header would say NO_MEMORY. */
            mlp__alloc_fail_after(1);
            expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
            mlp__alloc_fail_after(0);
        }
    }
    write_text(bad, "0 65\n1 66\n");
    expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("not an IDX image file");
    free(img);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* `len` bytes at `buf` gzip-compressed as one member (through a scratch
 * file in `dir`); malloc'd, length in *gz_len. */
static unsigned char *gzip_bytes(const char *dir, const void *buf, size_t len,
                                 size_t *gz_len)
{
    char scratch[PATH_LEN];
    tu_write_file_gz(join(scratch, dir, "scratch.gz"), buf, len, 1);
    unsigned char *gz = tu_read_file(scratch, gz_len);
    ck_assert_ptr_nonnull(gz);
    ck_assert_int_eq(unlink(scratch), 0);
    return gz;
}

/* Write `blob` to `path` as gzip members cut at `cuts` (ascending, each
 * 0..len; equal or end cuts give empty members), followed by `tail` raw
 * bytes. Returns the length of the gzip members, where the tail starts. */
static size_t write_members(const char *dir, const char *path, const unsigned char *blob,
                            size_t len, const size_t *cuts, int ncuts, const void *tail,
                            size_t tail_len)
{
    unsigned char *file = NULL;
    size_t file_len = 0;
    for (int k = 0; k <= ncuts; k++) {
        size_t from = k == 0 ? 0 : cuts[k - 1], to = k == ncuts ? len : cuts[k];
        size_t glen;
        unsigned char *gz = gzip_bytes(dir, blob + from, to - from, &glen);
        file = realloc(file, file_len + glen + tail_len);
        ck_assert_ptr_nonnull(file);
        memcpy(file + file_len, gz, glen);
        file_len += glen;
        free(gz);
    }
    if (tail_len > 0)
        memcpy(file + file_len, tail, tail_len);
    tu_write_file_gz(path, file, file_len + tail_len, 0);
    free(file);
    return file_len;
}

/* Bytes after the end of a gzip stream that do not start another member
 * are refused, with the file and the offset where the stream ended (zlib's
 * gzread would ignore them, so a damaged file could load without a word). */
START_TEST(idx_gzip_trailing_garbage)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN], want[96];
    make_test_dir(dir);
    toy t = toy_make(5, 3, 4, 3, 23);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    size_t ilen, llen;
    uint32_t dims3[3] = {5, 3, 4}, dims1[1] = {5};
    unsigned char *img = idx_blob(0x803, 3, dims3, t.pix, 60, &ilen);
    unsigned char *lab = idx_blob(0x801, 1, dims1, t.lab, 5, &llen);
    static const struct {
        const char *bytes;
        size_t len;
    } tails[] = {
        {"\0", 1},   {"\0\0\0\0\0\0\0\0", 8}, {"garbage\n", 8},
        {"\x1f", 1}, {"\x8b\x1f", 2},
    };
    static const size_t two[1] = {30};
    join(bad, dir, "tail.gz");
    for (size_t k = 0; k < sizeof tails / sizeof *tails; k++) {
        /* One member, then two (the check runs after the last one). */
        for (int ncuts = 0; ncuts < 2; ncuts++) {
            size_t end = write_members(dir, bad, img, ilen, two, ncuts, tails[k].bytes,
                                       tails[k].len);
            snprintf(want, sizeof want, "at byte offset %zu of the compressed file", end);
            expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
            TU_ERROR_HAS(bad);
            TU_ERROR_HAS("not a gzip member");
            TU_ERROR_HAS(want);
        }
        size_t end =
            write_members(dir, bad, lab, llen, NULL, 0, tails[k].bytes, tails[k].len);
        snprintf(want, sizeof want, "at byte offset %zu of the compressed file", end);
        expect_load_fails(pi, bad, 0, MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(bad);
        TU_ERROR_HAS(want);
    }
    /* The images-only reader checks the same. */
    write_members(dir, bad, img, ilen, NULL, 0, "x", 1);
    expect_images_fail(bad, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("not a gzip member");
    /* A tail that starts like a member but is not a whole one is a
     * truncated or corrupt stream. */
    write_members(dir, bad, img, ilen, NULL, 0, "\x1f\x8b\x08\0\0\0", 6);
    expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(bad);
    /* Without the tail the same members load. */
    write_members(dir, bad, img, ilen, two, 1, NULL, 0);
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, bad, pl, 0), MLP_STATUS_OK);
    assert_matches_toy(ds, &t, 0, 5);
    mlp_dataset_destroy(ds);
    free(img);
    free(lab);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* Concatenated gzip members are one stream, as gunzip reads them (RFC 1952
 * 2.2: a gzip file is a series of members): the data may be cut anywhere,
 * members may be empty. More data than the header describes is still
 * refused as trailing bytes. */
START_TEST(idx_gzip_concatenated_members)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], bad[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(6, 5, 4, 4, 24);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    size_t ilen, llen;
    uint32_t dims3[3] = {6, 5, 4}, dims1[1] = {6};
    unsigned char *img = idx_blob(0x803, 3, dims3, t.pix, 120, &ilen);
    unsigned char *lab = idx_blob(0x801, 1, dims1, t.lab, 6, &llen);
    ck_assert_uint_eq(ilen, 136);
    static const struct {
        int n;
        size_t at[2];
    } splits[] = {
        {1, {2}},       /* inside the magic */
        {1, {16}},      /* header | payload */
        {2, {16, 70}},  /* three members */
        {1, {0}},       /* an empty first member */
        {1, {136}},     /* an empty last member */
        {2, {40, 40}},  /* an empty member in the middle */
        {2, {135, 136}} /* the last byte alone, then an empty member */
    };
    join(bad, dir, "members.gz");
    mlp_dataset *ds = NULL;
    for (size_t k = 0; k < sizeof splits / sizeof *splits; k++) {
        write_members(dir, bad, img, ilen, splits[k].at, splits[k].n, NULL, 0);
        clear_error();
        mlp_status st = mlp_dataset_load_idx(&ds, bad, pl, 0);
        ck_assert_msg(st == MLP_STATUS_OK, "split %zu: status %d (%s)", k, (int)st,
                      mlp_last_error());
        assert_matches_toy(ds, &t, 0, 6);
        mlp_dataset_destroy(ds);
        ds = NULL;
    }
    static const size_t lab_cuts[2] = {3, 10};
    write_members(dir, bad, lab, llen, lab_cuts, 2, NULL, 0);
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, pi, bad, 0), MLP_STATUS_OK);
    assert_matches_toy(ds, &t, 0, 6);
    mlp_dataset_destroy(ds);
    ds = NULL;
    write_members(dir, bad, img, ilen, splits[2].at, 2, NULL, 0);
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, bad, 0), MLP_STATUS_OK);
    ck_assert_mem_eq(mlp_dataset_image(ds, 5), toy_image(&t, 5), 20);
    mlp_dataset_destroy(ds);

    /* A second member holding one byte more than the header describes. */
    img[ilen] = 7; /* idx_blob leaves room for one extra byte */
    static const size_t at_end[1] = {136};
    write_members(dir, bad, img, ilen + 1, at_end, 1, NULL, 0);
    expect_load_fails(bad, pl, 0, MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(bad);
    TU_ERROR_HAS("trailing bytes after the payload at byte offset 136");
    free(img);
    free(lab);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- label maps -------------------------------------------------------- */

static mlp_dataset *tiny_dataset(int32_t classes)
{
    uint8_t pix[4] = {0, 1, 2, 3};
    int32_t lab[4] = {0, 1, 2, 3};
    for (int i = 0; i < 4; i++)
        lab[i] %= classes;
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_create(&ds, 4, 1, 1, 1, pix, lab, classes), MLP_STATUS_OK);
    return ds;
}

/* Load the map `text` from path pm into ds (5 classes): the names it gives
 * the classes, NULL where a class has none. */
static void expect_names(mlp_dataset *ds, const char *pm, const char *text,
                         const char *const want[5])
{
    write_text(pm, text);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_OK);
    for (int c = 0; c < 5; c++) {
        if (want[c])
            ck_assert_str_eq(mlp_dataset_class_name(ds, c), want[c]);
        else
            ck_assert_ptr_null(mlp_dataset_class_name(ds, c));
    }
}

START_TEST(mapping_valid)
{
    char dir[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    long live = mlp__alloc_live();
    mlp_dataset *ds = tiny_dataset(5);
    join(pm, dir, "map.txt");
    /* Blank lines, CRLF and extra blanks are tolerated; 233 is e-acute,
     * 8364 the euro sign, stored as UTF-8. */
    expect_names(ds, pm, "0 48\n1 65\r\n\n  2\t97  \n3 233\n4 8364\n\n",
                 (const char *const[5]){"0", "A", "a", "\xC3\xA9", "\xE2\x82\xAC"});
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 5));
    ck_assert_ptr_null(mlp_dataset_class_name(ds, -1));
    ck_assert_ptr_null(mlp_dataset_class_name(NULL, 0));

    /* A partial map leaves the other classes unnamed; a new map replaces
     * the old one. */
    expect_names(ds, pm, "0 120\n3 121\n",
                 (const char *const[5]){"x", NULL, NULL, "y", NULL});

    /* The codes just past the control characters name classes: space,
     * tilde, U+00A0, U+65E5 ("sun", three UTF-8 bytes) and U+1F600 (an
     * emoji, four bytes: beyond the Basic Multilingual Plane). */
    expect_names(
        ds, pm, "0 32\n1 126\n2 160\n3 26085\n4 128512\n",
        (const char *const[5]){" ", "~", "\xC2\xA0", "\xE6\x97\xA5", "\xF0\x9F\x98\x80"});

    /* Each edge between UTF-8's lengths: U+07FF and U+0800 (two bytes,
     * three), U+FFFF and U+10000 (three, four), and the last code point. */
    expect_names(ds, pm, "0 2047\n1 2048\n2 65535\n3 65536\n4 1114111\n",
                 (const char *const[5]){"\xDF\xBF", "\xE0\xA0\x80", "\xEF\xBF\xBF",
                                        "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF"});
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(mapping_malformed)
{
    char dir[PATH_LEN], pm[PATH_LEN], good[PATH_LEN];
    make_test_dir(dir);
    long live = mlp__alloc_live();
    mlp_dataset *ds = tiny_dataset(4);
    write_text(join(good, dir, "good.txt"), "0 48\n1 65\n2 66\n3 67\n");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, good), MLP_STATUS_OK);

    static char long_line[600];
    memset(long_line, ' ', sizeof long_line - 3);
    memcpy(long_line + sizeof long_line - 8, "0 48", 4);
    strcpy(long_line + sizeof long_line - 4, "\n\n");
    static const struct {
        const char *text, *where, *what;
    } cases[] = {
        {"0 48\nx 49\n", ":2:", "expected"},
        {"0\n", ":1:", "expected"},
        {"0 48 7\n", ":1:", "expected"},
        {"-1 48\n", ":1:", "expected"},
        {"0 4x\n", ":1:", "expected"},
        {"1 48\n2 +49\n", ":2:", "expected"},
        {"9999999999 48\n", ":1:", "expected"},
        {"4 48\n", ":1:", "outside"},
        {"0 48\n200 49\n", ":2:", "outside"},
        {"0 48\n0 49\n", ":2:", "twice"},
        {"0 0\n", ":1:", "not a character"},
        {"0 1114112\n", ":1:", "not a character"},
        {"0 55296\n", ":1:", "not a character"},
        /* A code gives a name under the setters' rule: no control
         * characters (C0, DEL, C1), no name two labels share. */
        {"0 48\n1 31\n", ":2:", "label 1 (code 31) holds a control character"},
        {"0 127\n", ":1:", "label 0 (code 127) holds a control character"},
        {"0 128\n", ":1:", "label 0 (code 128) holds a control character"},
        {"0 159\n", ":1:", "label 0 (code 159) holds a control character"},
        {"0 65\n1 65\n", ":2:", "labels 0 (line 1) and 1 are both \"A\""},
        {"3 66\n\n0 65\n1 \"A\"\n", ":4:", "labels 0 (line 3) and 1 are both \"A\""},
        {"1 65\n0 65\n", ":2:", "labels 1 (line 1) and 0 are both \"A\""},
        {"", "no \"label", "no \"label"},
        {"\n \n", "no \"label", "no \"label"},
        {long_line, ":1:", "too long"},
    };
    join(pm, dir, "bad.txt");
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        write_text(pm, cases[k].text);
        EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(pm);
        TU_ERROR_HAS(cases[k].where);
        TU_ERROR_HAS(cases[k].what);
        /* The previous map survives the failure. */
        ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "A");
        ck_assert_str_eq(mlp_dataset_class_name(ds, 3), "C");
    }
    /* The longest line the header allows, 559 bytes with its newline,
     * loads; one byte more is too long. */
    static char edge[561];
    memset(edge, ' ', 554);
    memcpy(edge + 554, "0 48\n", 6);
    ck_assert_uint_eq(strlen(edge), 559);
    write_text(pm, edge);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_OK);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "0");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, good), MLP_STATUS_OK);
    memmove(edge + 1, edge, 560); /* one more blank in front: 560 bytes */
    ck_assert_uint_eq(strlen(edge), 560);
    write_text(pm, edge);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(":1:");
    TU_ERROR_HAS("too long");
    /* A NUL byte is refused where it stands, also at the start of a line,
     * which once read as blank and dropped the labels after it. */
    static const struct {
        const char *bytes;
        size_t len;
        const char *where;
    } nul[] = {
        {"0 48\n\0 1 65\n2 66\n", 17, ":2: a NUL byte (byte 1 of the line)"},
        {"0 48\n1 65\0 junk\n", 16, ":2: a NUL byte (byte 5 of the line)"},
        {"0 48\n1 65\n\0", 11, ":3: a NUL byte (byte 1 of the line)"},
    };
    for (size_t k = 0; k < sizeof nul / sizeof *nul; k++) {
        tu_write_file_gz(pm, nul[k].bytes, nul[k].len, 0);
        EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_BAD_FORMAT);
        TU_ERROR_HAS(nul[k].where);
        ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "A");
    }
    join(pm, dir, "missing.txt");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_IO);
    TU_ERROR_HAS(pm);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "A");
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    tu_rm_tree(dir);
}
END_TEST

/* The message must start with `fn` and hold `path`. */
static void expect_named(const char *fn, const char *path)
{
    const size_t n = strlen(fn);
    ck_assert_msg(strncmp(mlp_last_error(), fn, n) == 0 && mlp_last_error()[n] == ':' &&
                      strstr(mlp_last_error(), path),
                  "\"%s\" does not start with %s: or lacks %s", mlp_last_error(), fn,
                  path);
}

/* The IDX and mapping readers' I/O and format failures name the file, and
 * started with its path ("DIR: truncated at ...", "cannot open mapping
 * ..."), not with the call: each now starts with the call made, the path
 * kept; mlp_dataset_open's, read through the same readers, with its own. */
START_TEST(readers_name_the_call_before_the_file)
{
    char dir[PATH_LEN], img[PATH_LEN], lab[PATH_LEN], map[PATH_LEN], cut[PATH_LEN];
    tu_tmp_dir(dir, sizeof dir, "mlpnet-named");
    toy t = toy_make(4, 2, 3, 3, 1);
    write_toy_images(join(img, dir, "img"), &t, 0);
    write_toy_labels(join(lab, dir, "lab"), &t, 0);
    const unsigned char head[6] = {0, 0, 8, 3, 0, 0}; /* cut in the first extent */
    tu_write_file_gz(join(cut, dir, "cut"), head, sizeof head, 0);
    mlp_dataset *ds = NULL;

    static const char load[] = "mlp_dataset_load_idx";
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, dir, lab, 0), MLP_STATUS_IO);
    expect_named(load, dir);
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, img, dir, 0), MLP_STATUS_IO);
    expect_named(load, dir);
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, cut, lab, 0), MLP_STATUS_BAD_FORMAT);
    expect_named(load, cut);
    TU_ERROR_HAS("truncated");
    tu_write_file_gz(cut, head, sizeof head, 1); /* the same bytes, gzip */
    EXPECT_STATUS(mlp_dataset_load_idx(&ds, cut, lab, 0), MLP_STATUS_BAD_FORMAT);
    expect_named(load, cut);
    tu_write_file_gz(cut, head, 3, 0);
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, cut, 0), MLP_STATUS_BAD_FORMAT);
    expect_named("mlp_dataset_load_idx_images", cut);
    EXPECT_STATUS(mlp_dataset_load_idx_images(&ds, dir, 0), MLP_STATUS_IO);
    expect_named("mlp_dataset_load_idx_images", dir);
    ck_assert_ptr_null(ds);

    ds = tiny_dataset(3);
    static const char mapping[] = "mlp_dataset_load_mapping";
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, dir), MLP_STATUS_IO);
    expect_named(mapping, dir);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, join(map, dir, "none.txt")),
                  MLP_STATUS_IO);
    expect_named(mapping, map);
    write_text(map, "0 48\nzero\n");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, map), MLP_STATUS_BAD_FORMAT);
    expect_named(mapping, map);
    mlp_dataset_destroy(ds);

    /* mlp_dataset_open: a bad map, then a cut training split */
    mlp_dataset *a = NULL;
    write_text(join(map, dir, "emn-mapping.txt"), "0 48\nzero\n");
    write_split(dir, "emn-train-", &t, 0);
    EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, dir, "emn", 1), MLP_STATUS_BAD_FORMAT);
    expect_named("mlp_dataset_open", map);
    write_text(map, "0 48\n1 49\n2 50\n");
    tu_write_file_gz(join(cut, dir, "emn-train-images-idx3-ubyte"), head, sizeof head, 0);
    EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, dir, "emn", 1), MLP_STATUS_BAD_FORMAT);
    expect_named("mlp_dataset_open", cut);
    ck_assert_ptr_null(a);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- special files ----------------------------------------------------- */

/* Descriptors open in this process, or -1 without /proc/self/fd. */
static int open_fds(void)
{
    return access("/proc/self/fd", F_OK) == 0 ? tu_count_dir_entries("/proc/self/fd")
                                              : -1;
}

/* The IDX reader and the label-map reader take regular files only and find
 * out without waiting: a plain open(2) or fopen() of a FIFO blocks until a
 * writer opens the other end, and no test opens it, so a reader that still
 * waited would hang here until the timeout of this test case (a short one)
 * failed it. The refusal keeps no descriptor, returns no dataset and leaves
 * the map of the dataset as it was. */
START_TEST(readers_refuse_a_fifo)
{
    char dir[PATH_LEN], fifo[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 12);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    ck_assert_int_eq(mkfifo(join(fifo, dir, "fifo"), 0600), 0);
    long live = mlp__alloc_live();
    int fds = open_fds();

    expect_load_fails(fifo, pl, 0, MLP_STATUS_IO);
    TU_ERROR_HAS("not a regular file");
    TU_ERROR_HAS(fifo);
    expect_load_fails(pi, fifo, 0, MLP_STATUS_IO);
    TU_ERROR_HAS("not a regular file");
    expect_images_fail(fifo, MLP_STATUS_IO);
    TU_ERROR_HAS("not a regular file");

    mlp_dataset *ds = tiny_dataset(3);
    write_text(join(pm, dir, "map.txt"), "0 65\n1 66\n2 67\n");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, fifo), MLP_STATUS_IO);
    TU_ERROR_HAS("not a regular file");
    TU_ERROR_HAS(fifo);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "B");
    mlp_dataset_destroy(ds);

    ck_assert_int_eq(open_fds(), fds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- opening named datasets -------------------------------------------- */

START_TEST(open_emnist_with_valid)
{
    char dir[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    toy tr = toy_make(12, 4, 3, 4, 20), va = toy_make(5, 4, 3, 4, 21);
    toy te = toy_make(6, 4, 3, 4, 22);
    write_split(dir, "emn-train-", &tr, 1);
    write_split(dir, "emn-valid-", &va, 0);
    write_split(dir, "emn-test-", &te, 1);
    /* The map defines 6 classes although the files use only 0..3. */
    write_text(join(pm, dir, "emn-mapping.txt"), "0 48\n1 49\n2 65\n3 66\n4 97\n5 98\n");
    long live = mlp__alloc_live();
    mlp_dataset *a = POISON, *b = POISON, *c = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 3), MLP_STATUS_OK);
    assert_matches_toy(a, &tr, 0, 12);
    assert_matches_toy(b, &va, 0, 5);
    assert_matches_toy(c, &te, 0, 6);
    mlp_dataset *all[3] = {a, b, c};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(mlp_dataset_num_classes(all[i]), 6);
        ck_assert_str_eq(mlp_dataset_class_name(all[i], 2), "A");
        ck_assert_str_eq(mlp_dataset_class_name(all[i], 5), "b");
    }
    for (int i = 0; i < 3; i++)
        mlp_dataset_destroy(all[i]);
    ck_assert(mlp_dataset_exists(dir, "emn"));
    /* A trailing slash on the directory works too. */
    char slash[PATH_LEN + 1];
    snprintf(slash, sizeof slash, "%s/", dir);
    EXPECT_STATUS(mlp_dataset_open(NULL, NULL, &c, slash, "emn", 3), MLP_STATUS_OK);
    assert_matches_toy(c, &te, 0, 6);
    mlp_dataset_destroy(c);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&tr);
    toy_free(&va);
    toy_free(&te);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(open_emnist_carves_valid)
{
    char dir[PATH_LEN];
    make_test_dir(dir);
    toy tr = toy_make(20, 3, 5, 4, 30), te = toy_make(6, 3, 5, 4, 31);
    te.lab[0] = 6; /* only the test split has class 6 */
    write_split(dir, "emn-train-", &tr, 0);
    write_split(dir, "emn-test-", &te, 1);
    long live = mlp__alloc_live();
    mlp_dataset *a = NULL, *b = NULL, *c = NULL;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 5), MLP_STATUS_OK);
    /* Validation is the last 5 training images, training the first 15. */
    assert_matches_toy(a, &tr, 0, 15);
    assert_matches_toy(b, &tr, 15, 5);
    assert_matches_toy(c, &te, 0, 6);
    /* Every split gets the class count of all splits: largest label + 1. */
    ck_assert_int_eq(mlp_dataset_num_classes(a), 7);
    ck_assert_int_eq(mlp_dataset_num_classes(b), 7);
    ck_assert_int_eq(mlp_dataset_num_classes(c), 7);
    ck_assert_ptr_null(mlp_dataset_class_name(a, 0));
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    mlp_dataset_destroy(c);

    /* Training is the same whether or not validation is asked for. */
    EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, dir, "emn", 5), MLP_STATUS_OK);
    assert_matches_toy(a, &tr, 0, 15);
    mlp_dataset_destroy(a);

    /* valid_size must leave training images. */
    a = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, NULL, dir, "emn", 20), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    EXPECT_STATUS(mlp_dataset_open(&a, &b, NULL, dir, "emn", 0), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_open(&a, &b, NULL, dir, "emn", 19), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_dataset_size(a), 1);
    ck_assert_int_eq(mlp_dataset_size(b), 19);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);

    /* A pointer given for two splits would keep one and lose the other. */
    a = b = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &a, NULL, dir, "emn", 5), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(a);
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &a, dir, "emn", 5), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(b);
    EXPECT_STATUS(mlp_dataset_open(NULL, &b, &b, dir, "emn", 5), MLP_STATUS_INVALID_ARG);
    ck_assert_str_eq(mlp_last_error(),
                     "mlp_dataset_open: valid and test are the same pointer");

    /* Paths longer than the reader's 4096 bytes are refused as such, not cut
     * into another file's name: the mapping file's (5000 bytes of
     * directory), or only the images' (4070: "emn-mapping.txt" fits,
     * "emn-train-images-idx3-ubyte.gz" does not), or a name's. */
    static const int dir_lens[] = {5000, 4070};
    char *long_dir = malloc(5001);
    ck_assert_ptr_nonnull(long_dir);
    for (size_t i = 0; i < sizeof dir_lens / sizeof dir_lens[0]; i++) {
        memset(long_dir, 'd', 5000);
        long_dir[0] = '/';
        long_dir[dir_lens[i]] = '\0';
        a = POISON;
        EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, long_dir, "emn", 5),
                      MLP_STATUS_INVALID_ARG);
        ck_assert_ptr_null(a);
        TU_ERROR_HAS("a path would be longer than 4095 bytes: the files of ");
    }
    memset(long_dir, 'n', 5000);
    long_dir[5000] = '\0';
    EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, dir, long_dir, 5),
                  MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("a path would be longer than 4095 bytes: the files of ");
    free(long_dir);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&tr);
    toy_free(&te);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(open_fashion_mnist_names)
{
    char dir[PATH_LEN];
    make_test_dir(dir);
    toy tr = toy_make(30, 28, 28, 10, 40), te = toy_make(7, 28, 28, 10, 41);
    write_split(dir, "train-", &tr, 1);
    write_split(dir, "t10k-", &te, 1);
    long live = mlp__alloc_live();
    static const char *const names[] = {"fashion-mnist", "mnist"};
    for (int k = 0; k < 2; k++) {
        ck_assert(mlp_dataset_exists(dir, names[k]));
        mlp_dataset *a = NULL, *b = NULL, *c = NULL;
        EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, names[k], 8), MLP_STATUS_OK);
        assert_matches_toy(a, &tr, 0, 22);
        assert_matches_toy(b, &tr, 22, 8);
        assert_matches_toy(c, &te, 0, 7);
        ck_assert_int_eq(mlp_dataset_num_classes(a), 10);
        ck_assert_int_eq(mlp_dataset_num_classes(c), 10);
        mlp_dataset_destroy(a);
        mlp_dataset_destroy(b);
        mlp_dataset_destroy(c);
    }
    /* Only those two names map to train-* and t10k-*. */
    ck_assert(!mlp_dataset_exists(dir, "emnist"));
    mlp_dataset *a = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, NULL, NULL, dir, "emnist", 8), MLP_STATUS_IO);
    TU_ERROR_HAS("mlp_dataset_open: train split of emnist: no file ");
    TU_ERROR_HAS(dir);
    TU_ERROR_HAS("emnist-train-images-idx3-ubyte");
    ck_assert_ptr_null(a);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&tr);
    toy_free(&te);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(open_all_or_nothing)
{
    char dir[PATH_LEN], p[PATH_LEN];
    make_test_dir(dir);
    toy tr = toy_make(12, 4, 4, 3, 50), va = toy_make(3, 4, 4, 3, 51);
    toy te = toy_make(4, 4, 4, 3, 52);
    write_split(dir, "emn-train-", &tr, 0);
    write_split(dir, "emn-valid-", &va, 0);
    write_text(join(p, dir, "emn-mapping.txt"), "0 65\n1 66\n2 67\n");
    long live = mlp__alloc_live();
    mlp_dataset *a = POISON, *b = POISON, *c = POISON;

    /* No test files at all. */
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 2), MLP_STATUS_IO);
    TU_ERROR_HAS("mlp_dataset_open: test split of emn: no file ");
    TU_ERROR_HAS("emn-test-images-idx3-ubyte");
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(mlp__alloc_live(), live);

    /* Test images without test labels. */
    write_toy_images(join(p, dir, "emn-test-images-idx3-ubyte.gz"), &te, 1);
    a = b = c = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 2), MLP_STATUS_IO);
    TU_ERROR_HAS("mlp_dataset_open: test split of emn: no file ");
    TU_ERROR_HAS("emn-test-labels-idx1-ubyte");
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(mlp__alloc_live(), live);

    /* Test labels beyond the map. */
    te.lab[3] = 3;
    write_toy_labels(join(p, dir, "emn-test-labels-idx1-ubyte"), &te, 0);
    a = b = c = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 2), MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS(p);
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(mlp__alloc_live(), live);

    /* A malformed map fails the whole open. */
    te.lab[3] = 2;
    write_toy_labels(p, &te, 0);
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 2), MLP_STATUS_OK);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    mlp_dataset_destroy(c);
    write_text(join(p, dir, "emn-mapping.txt"), "0 65\n1 B\n");
    a = b = c = POISON;
    EXPECT_STATUS(mlp_dataset_open(&a, &b, &c, dir, "emn", 2), MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("emn-mapping.txt:2:");
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    ck_assert_ptr_null(c);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&tr);
    toy_free(&va);
    toy_free(&te);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(dataset_exists_rules)
{
    char dir[PATH_LEN], p[PATH_LEN];
    make_test_dir(dir);
    ck_assert(!mlp_dataset_exists(dir, "emn"));
    toy t = toy_make(2, 2, 2, 2, 60);
    write_toy_images(join(p, dir, "emn-train-images-idx3-ubyte.gz"), &t, 1);
    ck_assert(mlp_dataset_exists(dir, "emn"));
    ck_assert(!mlp_dataset_exists(dir, "em"));
    ck_assert(!mlp_dataset_exists(dir, "mnist"));
    write_toy_images(join(p, dir, "train-images-idx3-ubyte"), &t, 0);
    ck_assert(mlp_dataset_exists(dir, "mnist"));
    ck_assert(mlp_dataset_exists(dir, "fashion-mnist"));
    ck_assert(!mlp_dataset_exists(NULL, "mnist"));
    ck_assert(!mlp_dataset_exists(dir, NULL));
    ck_assert(!mlp_dataset_exists("/nonexistent-dir-of-check-data", "mnist"));
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- create, split, gather --------------------------------------------- */

START_TEST(create_and_access)
{
    long live = mlp__alloc_live();
    uint8_t pix[3 * 2 * 2 * 3];
    for (int i = 0; i < 36; i++)
        pix[i] = (uint8_t)(i * 7);
    int32_t lab[3] = {2, 0, 1};
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_create(&ds, 3, 2, 2, 3, pix, lab, 3), MLP_STATUS_OK);
    /* Copied: the caller's buffers may change. */
    pix[12] = 99;
    lab[1] = 2;
    ck_assert_int_eq(mlp_dataset_size(ds), 3);
    ck_assert_int_eq(mlp_dataset_channels(ds), 2);
    ck_assert_int_eq(mlp_dataset_height(ds), 2);
    ck_assert_int_eq(mlp_dataset_width(ds), 3);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_int_eq(mlp_dataset_label(ds, 0), 2);
    ck_assert_int_eq(mlp_dataset_label(ds, 1), 0);
    ck_assert_int_eq(mlp_dataset_image(ds, 1)[0], 12 * 7);
    ck_assert_int_eq(mlp_dataset_image(ds, 2)[11], 35 * 7 % 256);
    ck_assert_ptr_null(mlp_dataset_image(ds, 3));
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(create_invalid)
{
    uint8_t pix[8] = {0};
    int32_t lab[2] = {0, 1};
    mlp_dataset *ds = POISON;
    EXPECT_STATUS(mlp_dataset_create(&ds, 0, 1, 2, 2, pix, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(ds);
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 0, 2, 2, pix, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, -1, 2, pix, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("channels x height x width = 1 x -1 x 2");
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 0, pix, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 2, pix, lab, 0),
                  MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 2, NULL, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 2, pix, NULL, 2),
                  MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_create(NULL, 2, 1, 2, 2, pix, lab, 2),
                  MLP_STATUS_INVALID_ARG);
    /* Label out of range, either side. */
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 2, pix, lab, 1),
                  MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("label 1");
    int32_t neg[2] = {0, -1};
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 2, 2, pix, neg, 2),
                  MLP_STATUS_INVALID_ARG);
    /* The byte count overflows: rejected before the buffers are read. */
    ds = POISON;
    EXPECT_STATUS(
        mlp_dataset_create(&ds, INT32_MAX, INT32_MAX, INT32_MAX, INT32_MAX, pix, lab, 2),
        MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("overflow");
    ck_assert_ptr_null(ds);
}
END_TEST

START_TEST(split_copies)
{
    char dir[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    long live = mlp__alloc_live();
    enum { N = 10, C = 2, H = 3, W = 2, IMG = C * H * W };
    uint8_t pix[N * IMG];
    int32_t lab[N];
    for (int i = 0; i < N * IMG; i++)
        pix[i] = (uint8_t)(i * 3 + 1);
    for (int i = 0; i < N; i++)
        lab[i] = i % 4;
    mlp_dataset *ds = NULL, *a = POISON, *b = POISON;
    EXPECT_STATUS(mlp_dataset_create(&ds, N, C, H, W, pix, lab, 5), MLP_STATUS_OK);
    write_text(join(pm, dir, "map.txt"), "0 97\n4 101\n");
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, pm), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_dataset_split(ds, 3, &a, &b), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_dataset_size(a), 3);
    ck_assert_int_eq(mlp_dataset_size(b), 7);
    mlp_dataset *parts[2] = {a, b};
    for (int k = 0; k < 2; k++) {
        ck_assert_int_eq(mlp_dataset_channels(parts[k]), C);
        ck_assert_int_eq(mlp_dataset_height(parts[k]), H);
        ck_assert_int_eq(mlp_dataset_width(parts[k]), W);
        ck_assert_int_eq(mlp_dataset_num_classes(parts[k]), 5);
        ck_assert_str_eq(mlp_dataset_class_name(parts[k], 4), "e");
    }
    for (int i = 0; i < N; i++) {
        const mlp_dataset *part = i < 3 ? a : b;
        int32_t j = i < 3 ? i : i - 3;
        ck_assert_mem_eq(mlp_dataset_image(part, j), pix + i * IMG, IMG);
        ck_assert_int_eq(mlp_dataset_label(part, j), lab[i]);
    }
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    /* The source is independent of its parts. */
    ck_assert_mem_eq(mlp_dataset_image(ds, 9), pix + 9 * IMG, IMG);

    a = b = POISON;
    EXPECT_STATUS(mlp_dataset_split(ds, 0, &a, &b), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(a);
    ck_assert_ptr_null(b);
    EXPECT_STATUS(mlp_dataset_split(ds, N, &a, &b), MLP_STATUS_INVALID_ARG);
    char range[64]; /* the message names the range n_first may take */
    snprintf(range, sizeof range, "n_first %d is outside 1..%d", N, N - 1);
    TU_ERROR_HAS(range);
    EXPECT_STATUS(mlp_dataset_split(ds, N - 1, &a, &b), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_dataset_size(b), 1);
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);
    /* One pointer for both parts would keep the second and lose the first. */
    a = POISON;
    EXPECT_STATUS(mlp_dataset_split(ds, 3, &a, &a), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(a);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    tu_rm_tree(dir);
}
END_TEST

START_TEST(gather_normalises)
{
    /* Image 0 holds every byte value 0..255; image 1 its reverse. */
    uint8_t pix[2 * 256];
    for (int v = 0; v < 256; v++) {
        pix[v] = (uint8_t)v;
        pix[256 + v] = (uint8_t)(255 - v);
    }
    int32_t lab[2] = {3, 1};
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_create(&ds, 2, 1, 16, 16, pix, lab, 4), MLP_STATUS_OK);
    static float x[3 * 256];
    int32_t idx[3] = {1, 0, 1}, got[3] = {-7, -7, -7};
    EXPECT_STATUS(mlp_dataset_gather(ds, idx, 3, x, got), MLP_STATUS_OK);
    ck_assert_int_eq(got[0], 1);
    ck_assert_int_eq(got[1], 3);
    ck_assert_int_eq(got[2], 1);
    ck_assert(x[256] == 0.0f);
    ck_assert(x[256 + 255] == 1.0f);
    ck_assert(x[0] == 1.0f);
    for (int v = 0; v < 256; v++) {
        /* Exactly the documented product, within half an ulp or so of v/255. */
        float want = (float)v * (1.0f / 255.0f);
        ck_assert_msg(x[256 + v] == want, "pixel %d: %.9g != %.9g", v, (double)x[256 + v],
                      (double)want);
        ck_assert_double_eq_tol((double)x[256 + v], v / 255.0, 1.2e-7);
        ck_assert(x[255 - v] == want);
        ck_assert(x[512 + 255 - v] == want);
    }
    /* Labels are optional. */
    EXPECT_STATUS(mlp_dataset_gather(ds, idx + 1, 1, x, NULL), MLP_STATUS_OK);
    ck_assert(x[1] == 1.0f / 255.0f);

    /* A bad index fails before anything is written. */
    for (int i = 0; i < 3 * 256; i++)
        x[i] = -1.0f;
    int32_t bad[3] = {0, 1, 2}, neg[2] = {1, -1};
    EXPECT_STATUS(mlp_dataset_gather(ds, bad, 3, x, got), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("indices[2]");
    EXPECT_STATUS(mlp_dataset_gather(ds, neg, 2, x, got), MLP_STATUS_INVALID_ARG);
    for (int i = 0; i < 3 * 256; i++)
        ck_assert(x[i] == -1.0f);
    EXPECT_STATUS(mlp_dataset_gather(ds, idx, 0, x, got), MLP_STATUS_INVALID_ARG);
    mlp_dataset_destroy(ds);
}
END_TEST

/* ---- batcher ----------------------------------------------------------- */

/* n images of 2 x 2 whose first pixel is the index (mod 256) and whose
 * label is the index mod 7. */
static mlp_dataset *indexed_dataset(int32_t n)
{
    uint8_t *pix = calloc((size_t)n, 4);
    int32_t *lab = malloc((size_t)n * sizeof *lab);
    ck_assert_ptr_nonnull(pix);
    ck_assert_ptr_nonnull(lab);
    for (int32_t i = 0; i < n; i++) {
        pix[4 * i] = (uint8_t)i;
        pix[4 * i + 3] = (uint8_t)(i >> 8);
        lab[i] = i % 7;
    }
    mlp_dataset *ds = NULL;
    EXPECT_STATUS(mlp_dataset_create(&ds, n, 1, 2, 2, pix, lab, 7), MLP_STATUS_OK);
    free(pix);
    free(lab);
    return ds;
}

/* Recover image indices of a batch from their pixels. */
static void batch_indices(const float *x, const int32_t *lab, int32_t n, int32_t *out)
{
    for (int32_t i = 0; i < n; i++) {
        int lo = (int)(x[4 * i] * 255.0f + 0.5f),
            hi = (int)(x[4 * i + 3] * 255.0f + 0.5f);
        out[i] = lo + 256 * hi;
        ck_assert_int_eq(lab[i], out[i] % 7);
    }
}

/* Run one epoch; the order of image indices goes to `order` (n entries). */
static void run_epoch(mlp_batcher *b, int32_t n, int32_t bs, int32_t *order)
{
    float x[64 * 4];
    int32_t lab[64], got = -1, pos = 0;
    ck_assert_int_le(bs, 64);
    int32_t batches = mlp_batcher_batch_count(b);
    for (int32_t k = 0; k < batches; k++) {
        EXPECT_STATUS(mlp_batcher_next(b, x, lab, &got), MLP_STATUS_OK);
        int32_t want = k < batches - 1 ? bs : n - bs * (batches - 1);
        ck_assert_int_eq(got, want);
        batch_indices(x, lab, got, order + pos);
        pos += got;
    }
    ck_assert_int_eq(pos, n);
    got = -1;
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &got), MLP_STATUS_OK);
    ck_assert_int_eq(got, 0); /* end of the epoch */
}

static void assert_permutation(const int32_t *order, int32_t n)
{
    char seen[512] = {0};
    ck_assert_int_le(n, 512);
    for (int32_t i = 0; i < n; i++) {
        ck_assert_int_ge(order[i], 0);
        ck_assert_int_lt(order[i], n);
        ck_assert_msg(!seen[order[i]], "index %d visited twice", (int)order[i]);
        seen[order[i]] = 1;
    }
}

START_TEST(batcher_visits_every_image_once)
{
    long live = mlp__alloc_live();
    mlp_dataset *ds = indexed_dataset(10);
    mlp_batcher *b = NULL;
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 3, 1, 42), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 4); /* 3 + 3 + 3 + 1 */
    int32_t e1[10], e2[10], e3[10];
    run_epoch(b, 10, 3, e1);
    run_epoch(b, 10, 3, e2);
    run_epoch(b, 10, 3, e3);
    assert_permutation(e1, 10);
    assert_permutation(e2, 10);
    assert_permutation(e3, 10);
    /* Reshuffled each epoch. */
    ck_assert(memcmp(e1, e2, sizeof e1) != 0);
    ck_assert(memcmp(e2, e3, sizeof e2) != 0);
    mlp_batcher_destroy(b);

    /* Batch size dividing n, and larger than n. */
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 5, 1, 1), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 2);
    run_epoch(b, 10, 5, e1);
    assert_permutation(e1, 10);
    mlp_batcher_destroy(b);
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 64, 1, 1), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 1);
    run_epoch(b, 10, 64, e1);
    assert_permutation(e1, 10);
    mlp_batcher_destroy(b);
    /* Batches of one sample: the least size there is. */
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 1, 1, 1), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 10);
    run_epoch(b, 10, 1, e1);
    assert_permutation(e1, 10);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(batcher_seeded_order)
{
    enum { N = 300, BS = 32 };
    mlp_dataset *ds = indexed_dataset(N);
    mlp_batcher *b1 = NULL, *b2 = NULL, *b3 = NULL;
    EXPECT_STATUS(mlp_batcher_create(&b1, ds, BS, 1, 7), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_create(&b2, ds, BS, 1, 7), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_create(&b3, ds, BS, 1, 8), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b1), 10);
    static int32_t o1[N], o2[N], o3[N];
    for (int epoch = 0; epoch < 3; epoch++) {
        run_epoch(b1, N, BS, o1);
        run_epoch(b2, N, BS, o2);
        run_epoch(b3, N, BS, o3);
        assert_permutation(o1, N);
        assert_permutation(o3, N);
        ck_assert_mem_eq(o1, o2, sizeof o1);       /* same seed, same order */
        ck_assert(memcmp(o1, o3, sizeof o1) != 0); /* other seed, other order */
    }
    mlp_batcher_destroy(b1);
    mlp_batcher_destroy(b2);
    mlp_batcher_destroy(b3);
    mlp_dataset_destroy(ds);
}
END_TEST

/* Every order of the shuffle is as likely as every other: over 6,000
 * epochs of 3 images, the counts of the 6 orders pass a chi-square test
 * with 5 degrees of freedom at 30 (a uniform shuffle exceeds it with one
 * seed in about 68,000). A shuffle that only makes cycles (each image
 * always moves: 2 orders of the 6) scores 12,000; one that draws every
 * swap from all the rows (27 equally likely draws onto 6 orders, 4 or 5
 * each) about 79. The seed is fixed, so the counts are too. */
START_TEST(batcher_shuffle_is_uniform)
{
    enum { N = 3, EPOCHS = 6000 };
    mlp_dataset *ds = indexed_dataset(N);
    mlp_batcher *b = NULL;
    EXPECT_STATUS(mlp_batcher_create(&b, ds, N, 1, 11), MLP_STATUS_OK);
    int32_t count[N * N * N] = {0}, o[N];
    for (int e = 0; e < EPOCHS; e++) {
        run_epoch(b, N, N, o);
        assert_permutation(o, N);
        count[(o[0] * N + o[1]) * N + o[2]]++;
    }
    const double expect = EPOCHS / 6.0;
    double chi2 = 0.0;
    int orders = 0;
    for (int i = 0; i < N * N * N; i++) {
        if (count[i]) { /* a permutation's cell */
            orders++;
            chi2 += (count[i] - expect) * (count[i] - expect) / expect;
        }
    }
    chi2 += (6 - orders) * expect; /* orders that never came */
    ck_assert_msg(chi2 < 30.0, "chi-square %g over the 6 orders (%d came)", chi2, orders);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
}
END_TEST

START_TEST(batcher_sequential_and_reset)
{
    enum { N = 11, BS = 4 };
    mlp_dataset *ds = indexed_dataset(N);
    mlp_batcher *b = NULL;
    EXPECT_STATUS(mlp_batcher_create(&b, ds, BS, 0, 99), MLP_STATUS_OK);
    int32_t order[N];
    for (int epoch = 0; epoch < 2; epoch++) {
        run_epoch(b, N, BS, order);
        for (int32_t i = 0; i < N; i++)
            ck_assert_int_eq(order[i], i);
    }
    /* Reset abandons an epoch half way; the next batch starts over. */
    float x[BS * 4];
    int32_t lab[BS], n = 0, idx[BS];
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    batch_indices(x, lab, n, idx);
    ck_assert_int_eq(idx[0], 4);
    mlp_batcher_reset(b);
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    ck_assert_int_eq(n, BS);
    batch_indices(x, lab, n, idx);
    ck_assert_int_eq(idx[0], 0);
    mlp_batcher_destroy(b);

    /* With shuffling, a reset draws a new order: the one the next epoch
     * would have had after a complete pass. */
    float xs[N * 4];
    int32_t ls[N], first[N], second[N], again[N];
    EXPECT_STATUS(mlp_batcher_create(&b, ds, N, 1, 5), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_next(b, xs, ls, &n), MLP_STATUS_OK);
    ck_assert_int_eq(n, N);
    batch_indices(xs, ls, n, first);
    mlp_batcher_reset(b);
    EXPECT_STATUS(mlp_batcher_next(b, xs, ls, &n), MLP_STATUS_OK);
    ck_assert_int_eq(n, N);
    batch_indices(xs, ls, n, second);
    assert_permutation(first, N);
    assert_permutation(second, N);
    ck_assert(memcmp(first, second, sizeof first) != 0);
    mlp_batcher_destroy(b);
    EXPECT_STATUS(mlp_batcher_create(&b, ds, N, 1, 5), MLP_STATUS_OK);
    run_epoch(b, N, N, again);
    ck_assert_mem_eq(again, first, sizeof first);
    run_epoch(b, N, N, again);
    ck_assert_mem_eq(again, second, sizeof second);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
}
END_TEST

/* set_epoch picks the shuffle order of the next epoch: a negative epoch is
 * refused (and changes nothing), NULL too; epoch k gives the order a batcher
 * shows in its (k+1)-th epoch. */
START_TEST(batcher_set_epoch_rules)
{
    enum { N = 9 };
    mlp_dataset *ds = indexed_dataset(N);
    mlp_batcher *b = NULL;
    int32_t orders[3][N], got[N];
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 4, 1, 77), MLP_STATUS_OK);
    for (int e = 0; e < 3; e++) {
        run_epoch(b, N, 4, orders[e]);
        assert_permutation(orders[e], N);
    }
    ck_assert(memcmp(orders[0], orders[1], sizeof orders[0]) != 0);
    ck_assert(memcmp(orders[1], orders[2], sizeof orders[0]) != 0);
    EXPECT_STATUS(mlp_batcher_set_epoch(b, -1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_set_epoch(b, INT32_MIN), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_set_epoch(NULL, 0), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_set_epoch(b, 1), MLP_STATUS_OK);
    run_epoch(b, N, 4, got);
    ck_assert_mem_eq(got, orders[1], sizeof got);
    run_epoch(b, N, 4, got); /* and on from there */
    ck_assert_mem_eq(got, orders[2], sizeof got);
    EXPECT_STATUS(mlp_batcher_set_epoch(b, 0), MLP_STATUS_OK);
    run_epoch(b, N, 4, got);
    ck_assert_mem_eq(got, orders[0], sizeof got);
    /* the last epoch a batcher can be set to, and the epochs after it, which
     * wrap to 0 (the count overflowed before: UBSan) */
    EXPECT_STATUS(mlp_batcher_set_epoch(b, INT32_MAX), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_set_epoch(b, INT32_MAX - 1), MLP_STATUS_OK);
    run_epoch(b, N, 4, got);
    assert_permutation(got, N);
    run_epoch(b, N, 4, got);
    assert_permutation(got, N);
    run_epoch(b, N, 4, got);
    ck_assert_mem_eq(got, orders[0], sizeof got);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
}
END_TEST

/* drop_last: every batch full, the full batches those of the batcher
 * without it (same seed, same epoch), and the samples left out differ from
 * epoch to epoch; it applies from the next batch, in the epoch too. */
START_TEST(batcher_drop_last)
{
    enum { N = 10, BS = 3, EPOCHS = 6 };
    mlp_dataset *ds = indexed_dataset(N);
    mlp_batcher *b = NULL, *whole = NULL;
    float x[BS * 4];
    int32_t lab[BS], n = -1, got[N], want[N];
    EXPECT_STATUS(mlp_batcher_create(&b, ds, BS, 1, 31), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_create(&whole, ds, BS, 1, 31), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_set_drop_last(NULL, 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_set_drop_last(b, 1), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 3); /* 3 + 3 + 3, 1 left out */
    ck_assert_int_eq(mlp_batcher_batch_count(whole), 4);
    int left_out[N] = {0};
    for (int e = 0; e < EPOCHS; e++) {
        run_epoch(whole, N, BS, want);
        for (int k = 0; k < 3; k++) {
            EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
            ck_assert_int_eq(n, BS);
            batch_indices(x, lab, n, got + BS * k);
        }
        EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
        ck_assert_int_eq(n, 0); /* the end of the epoch, without the tenth */
        ck_assert_mem_eq(got, want, 3 * BS * sizeof got[0]);
        left_out[want[N - 1]]++;
    }
    int distinct = 0;
    for (int i = 0; i < N; i++)
        distinct += left_out[i] > 0;
    ck_assert_msg(distinct > 1, "the same sample was left out of %d epochs", EPOCHS);

    /* off again in the middle of an epoch: its last batch comes back */
    EXPECT_STATUS(mlp_batcher_set_epoch(b, 2), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_set_epoch(whole, 2), MLP_STATUS_OK);
    run_epoch(whole, N, BS, want);
    for (int k = 0; k < 3; k++)
        EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_set_drop_last(b, 0), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 4);
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    ck_assert_int_eq(n, 1);
    batch_indices(x, lab, n, got);
    ck_assert_int_eq(got[0], want[N - 1]);
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, &n), MLP_STATUS_OK);
    ck_assert_int_eq(n, 0);
    mlp_batcher_destroy(b);

    /* a dataset smaller than a batch gives none; an exact fit loses nothing */
    EXPECT_STATUS(mlp_batcher_create(&b, ds, N + 1, 0, 0), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_set_drop_last(b, 7), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 0);
    float xs[(N + 1) * 4];
    int32_t ls[N + 1];
    for (int e = 0; e < 2; e++) {
        n = -1;
        EXPECT_STATUS(mlp_batcher_next(b, xs, ls, &n), MLP_STATUS_OK);
        ck_assert_int_eq(n, 0);
    }
    mlp_batcher_destroy(b);
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 5, 1, 3), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_set_drop_last(b, 1), MLP_STATUS_OK);
    ck_assert_int_eq(mlp_batcher_batch_count(b), 2);
    run_epoch(b, N, 5, got);
    assert_permutation(got, N);
    mlp_batcher_destroy(b);
    mlp_batcher_destroy(whole);
    mlp_dataset_destroy(ds);
}
END_TEST

START_TEST(batcher_next_allocates_nothing)
{
    mlp_dataset *ds = indexed_dataset(20);
    mlp_batcher *b = NULL;
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 6, 1, 3), MLP_STATUS_OK);
    long live = mlp__alloc_live();
    float x[6 * 4];
    int32_t lab[6], n = 0, total = 0, ends = 0;
    /* Any allocation would fail: two whole epochs still work
     * (6 + 6 + 6 + 2 images, then the end marker, twice). */
    mlp__alloc_fail_after(1);
    for (int k = 0; k < 10; k++) {
        mlp_status st = mlp_batcher_next(b, x, lab, &n);
        if (st != MLP_STATUS_OK)
            break;
        total += n;
        ends += n == 0;
    }
    mlp__alloc_fail_after(0);
    ck_assert_int_eq(total, 40);
    ck_assert_int_eq(ends, 2);
    ck_assert_int_eq(mlp__alloc_live(), live);
    mlp_batcher_destroy(b);
    mlp_dataset_destroy(ds);
}
END_TEST

/* ---- misuse ------------------------------------------------------------ */

START_TEST(null_arguments)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(4, 2, 2, 3, 70);
    write_toy_images(join(pi, dir, "img"), &t, 0);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    mlp_dataset *ds = tiny_dataset(4), *o = POISON, *o2 = POISON;
    float x[16];
    int32_t lab[4], idx[1] = {0}, n = 5;

    EXPECT_STATUS(mlp_dataset_load_idx(NULL, pi, pl, 0), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_load_idx(&o, NULL, pl, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    o = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx(&o, pi, NULL, 0), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    EXPECT_STATUS(mlp_dataset_load_idx(&o, pi, pl, -1), MLP_STATUS_INVALID_ARG);

    EXPECT_STATUS(mlp_dataset_open(NULL, NULL, NULL, dir, "x", 1),
                  MLP_STATUS_INVALID_ARG);
    o = POISON;
    EXPECT_STATUS(mlp_dataset_open(&o, NULL, NULL, NULL, "x", 1), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    EXPECT_STATUS(mlp_dataset_open(&o, NULL, NULL, dir, NULL, 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_open(&o, NULL, NULL, "", "x", 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_open(&o, NULL, NULL, dir, "", 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_open(&o, NULL, NULL, dir, "x", -3), MLP_STATUS_INVALID_ARG);

    EXPECT_STATUS(mlp_dataset_load_mapping(NULL, pi), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, NULL), MLP_STATUS_INVALID_ARG);

    /* An empty path names no file: a bad argument, as for the savers,
     * whichever of the two IDX paths it is. */
    o = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx(&o, "", pl, 0), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("mlp_dataset_load_idx: images_path is empty");
    ck_assert_ptr_null(o);
    o = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx(&o, pi, "", 0), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("mlp_dataset_load_idx: labels_path is empty");
    ck_assert_ptr_null(o);
    o = POISON;
    EXPECT_STATUS(mlp_dataset_load_idx_images(&o, "", 0), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("mlp_dataset_load_idx_images: images_path is empty");
    ck_assert_ptr_null(o);
    EXPECT_STATUS(mlp_dataset_load_mapping(ds, ""), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("mlp_dataset_load_mapping: path is empty");

    o = o2 = POISON;
    EXPECT_STATUS(mlp_dataset_split(NULL, 1, &o, &o2), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(o);
    ck_assert_ptr_null(o2);
    EXPECT_STATUS(mlp_dataset_split(ds, 1, NULL, &o2), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_split(ds, 1, &o, NULL), MLP_STATUS_INVALID_ARG);

    EXPECT_STATUS(mlp_dataset_gather(NULL, idx, 1, x, lab), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_gather(ds, NULL, 1, x, lab), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_dataset_gather(ds, idx, 1, NULL, lab), MLP_STATUS_INVALID_ARG);

    mlp_batcher *b = (mlp_batcher *)&base_dir;
    EXPECT_STATUS(mlp_batcher_create(NULL, ds, 2, 1, 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_create(&b, NULL, 2, 1, 1), MLP_STATUS_INVALID_ARG);
    ck_assert_ptr_null(b);
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 0, 1, 1), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_create(&b, ds, -5, 1, 1), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("mlp_batcher_create: batch_size = -5 must be >= 1");
    EXPECT_STATUS(mlp_batcher_create(&b, ds, 2, 1, 1), MLP_STATUS_OK);
    EXPECT_STATUS(mlp_batcher_next(NULL, x, lab, &n), MLP_STATUS_INVALID_ARG);
    ck_assert_int_eq(n, 0);
    EXPECT_STATUS(mlp_batcher_next(b, NULL, lab, &n), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_next(b, x, NULL, &n), MLP_STATUS_INVALID_ARG);
    EXPECT_STATUS(mlp_batcher_next(b, x, lab, NULL), MLP_STATUS_INVALID_ARG);
    mlp_batcher_destroy(b);

    /* Queries on NULL answer "nothing"; destroys of NULL do nothing. */
    ck_assert_int_eq(mlp_dataset_size(NULL), 0);
    ck_assert_int_eq(mlp_dataset_channels(NULL), 0);
    ck_assert_int_eq(mlp_dataset_height(NULL), 0);
    ck_assert_int_eq(mlp_dataset_width(NULL), 0);
    ck_assert_int_eq(mlp_dataset_num_classes(NULL), 0);
    ck_assert_int_eq(mlp_dataset_label(NULL, 0), -1);
    ck_assert_ptr_null(mlp_dataset_image(NULL, 0));
    ck_assert_ptr_null(mlp_dataset_class_name(NULL, 0));
    ck_assert_int_eq(mlp_batcher_batch_count(NULL), 0);
    ck_assert_int_eq(mlp_dataset_exists(NULL, NULL), 0);
    mlp_batcher_reset(NULL);
    mlp_batcher_destroy(NULL);
    mlp_dataset_destroy(NULL);
    mlp_dataset_destroy(ds);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

/* ---- out of memory ----------------------------------------------------- */

/* The calls under allocation failure (tu_oom_loop), their arguments and
 * their results. */
typedef struct oom_data {
    const char *pi, *pl, *dir, *pm; /* image and label files, directory, map */
    const toy *t, *te;              /* what the files hold */
    const uint8_t *pix;
    const int32_t *lab;
    mlp_dataset *ds, *a, *b, *c;
    mlp_batcher *bt;
} oom_data;

static mlp_status try_load_idx(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_load_idx(&d->ds, d->pi, d->pl, 0);
}

static mlp_status try_load_idx_images(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_load_idx_images(&d->ds, d->pi, 4);
}

static void oom_loaded(void *ctx, mlp_status st)
{
    oom_data *d = ctx;
    if (st != MLP_STATUS_OK)
        return;
    assert_matches_toy(d->ds, d->t, 0, 9);
    mlp_dataset_destroy(d->ds);
}

START_TEST(oom_load_idx)
{
    char dir[PATH_LEN], pi[PATH_LEN], pl[PATH_LEN];
    make_test_dir(dir);
    toy t = toy_make(9, 5, 5, 4, 80);
    write_toy_images(join(pi, dir, "img.gz"), &t, 1);
    write_toy_labels(join(pl, dir, "lab"), &t, 0);
    oom_data d = {.pi = pi, .pl = pl, .t = &t};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = oom_loaded;
    long live = mlp__alloc_live();
    tu_oom_loop("mlp_dataset_load_idx", try_load_idx, &d, &cfg);
    for (uint32_t i = 0; i < t.n; i++)
        t.lab[i] = 0; /* the images alone: every label reads 0 */
    tu_oom_loop("mlp_dataset_load_idx_images", try_load_idx_images, &d, &cfg);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&t);
    tu_rm_tree(dir);
}
END_TEST

static mlp_status try_open(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_open(&d->a, &d->b, &d->c, d->dir, "emn", 4);
}

static void oom_opened(void *ctx, mlp_status st)
{
    oom_data *d = ctx;
    if (st != MLP_STATUS_OK)
        return;
    assert_matches_toy(d->a, d->t, 0, 11);
    assert_matches_toy(d->b, d->t, 11, 4);
    assert_matches_toy(d->c, d->te, 0, 5);
    ck_assert_str_eq(mlp_dataset_class_name(d->b, 4), "4");
    mlp_dataset_destroy(d->a);
    mlp_dataset_destroy(d->b);
    mlp_dataset_destroy(d->c);
}

START_TEST(oom_open)
{
    char dir[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    toy tr = toy_make(15, 4, 4, 5, 81), te = toy_make(5, 4, 4, 5, 82);
    write_split(dir, "emn-train-", &tr, 1);
    write_split(dir, "emn-test-", &te, 0);
    write_text(join(pm, dir, "emn-mapping.txt"), "0 48\n1 49\n2 50\n3 51\n4 52\n");
    oom_data d = {.dir = dir, .t = &tr, .te = &te};
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = oom_opened;
    long live = mlp__alloc_live();
    tu_oom_loop("mlp_dataset_open", try_open, &d, &cfg);
    ck_assert_int_eq(mlp__alloc_live(), live);
    toy_free(&tr);
    toy_free(&te);
    tu_rm_tree(dir);
}
END_TEST

static mlp_status try_create(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_create(&d->ds, 6, 1, 2, 2, d->pix, d->lab, 3);
}

static mlp_status try_load_mapping(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_load_mapping(d->ds, d->pm);
}

static mlp_status try_split(void *ctx)
{
    oom_data *d = ctx;
    return mlp_dataset_split(d->ds, 2, &d->a, &d->b);
}

static void oom_split_done(void *ctx, mlp_status st)
{
    oom_data *d = ctx;
    if (st != MLP_STATUS_OK)
        return;
    ck_assert_str_eq(mlp_dataset_class_name(d->b, 1), "B");
    mlp_dataset_destroy(d->a);
    mlp_dataset_destroy(d->b);
}

static mlp_status try_batcher(void *ctx)
{
    oom_data *d = ctx;
    return mlp_batcher_create(&d->bt, d->ds, 4, 1, 1);
}

static void oom_batcher_done(void *ctx, mlp_status st)
{
    if (st == MLP_STATUS_OK)
        mlp_batcher_destroy(((oom_data *)ctx)->bt);
}

START_TEST(oom_create_split_mapping_batcher)
{
    char dir[PATH_LEN], pm[PATH_LEN];
    make_test_dir(dir);
    uint8_t pix[6 * 4];
    int32_t lab[6] = {0, 1, 2, 0, 1, 2};
    for (int i = 0; i < 24; i++)
        pix[i] = (uint8_t)i;
    oom_data d = {.pix = pix, .lab = lab, .pm = join(pm, dir, "map.txt")};
    long live = mlp__alloc_live();
    /* The dataset and its map stay: no leak check after a success. */
    tu_oom_cfg keep;
    tu_oom_cfg_init(&keep);
    keep.keep_on_ok = 1;
    tu_oom_loop("mlp_dataset_create", try_create, &d, &keep);
    write_text(pm, "0 65\n1 66\n2 67\n");
    tu_oom_loop("mlp_dataset_load_mapping", try_load_mapping, &d, &keep);
    ck_assert_str_eq(mlp_dataset_class_name(d.ds, 2), "C");
    /* A failed reload keeps the old map. */
    write_text(pm, "0 97\n1 98\n2 99\n");
    mlp__alloc_fail_after(1);
    ck_assert_int_eq(mlp_dataset_load_mapping(d.ds, pm), MLP_STATUS_NO_MEMORY);
    mlp__alloc_fail_after(0);
    ck_assert_str_eq(mlp_dataset_class_name(d.ds, 2), "C");
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.after = oom_split_done;
    tu_oom_loop("mlp_dataset_split", try_split, &d, &cfg);
    cfg.after = oom_batcher_done;
    tu_oom_loop("mlp_batcher_create", try_batcher, &d, &cfg);
    mlp_dataset_destroy(d.ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
    tu_rm_tree(dir);
}
END_TEST

/* ---- suite ------------------------------------------------------------- */

static Suite *data_suite(void)
{
    Suite *s = suite_create("data");
    TCase *tc = tcase_create("idx");
    tcase_add_test(tc, idx_raw_round_trip);
    tcase_add_test(tc, idx_gz_round_trip);
    tcase_add_test(tc, idx_mixed_round_trip);
    tcase_add_test(tc, idx_wrong_magic);
    tcase_add_test(tc, idx_wrong_type_byte);
    tcase_add_test(tc, idx_truncated);
    tcase_add_test(tc, idx_truncated_gzip_stream);
    tcase_add_test(tc, idx_corrupt_gzip);
    tcase_add_test(tc, idx_trailing_bytes);
    tcase_add_test(tc, idx_dims_overflow);
    tcase_add_test(tc, idx_dims_exceed_file);
    tcase_add_test(tc, idx_missing_file);
    tcase_add_test(tc, idx_count_mismatch);
    tcase_add_test(tc, idx_label_out_of_range);
    tcase_add_test(tc, idx_images_only_valid);
    tcase_add_test(tc, idx_images_only_bad_files);
    tcase_add_test(tc, idx_gzip_trailing_garbage);
    tcase_add_test(tc, idx_gzip_concatenated_members);
    suite_add_tcase(s, tc);

    tc = tcase_create("mapping");
    tcase_add_test(tc, mapping_valid);
    tcase_add_test(tc, mapping_malformed);
    tcase_add_test(tc, readers_name_the_call_before_the_file);
    suite_add_tcase(s, tc);

    tc = tcase_create("open");
    tcase_add_test(tc, open_emnist_with_valid);
    tcase_add_test(tc, open_emnist_carves_valid);
    tcase_add_test(tc, open_fashion_mnist_names);
    tcase_add_test(tc, open_all_or_nothing);
    tcase_add_test(tc, dataset_exists_rules);
    suite_add_tcase(s, tc);

    tc = tcase_create("dataset");
    tcase_add_test(tc, create_and_access);
    tcase_add_test(tc, create_invalid);
    tcase_add_test(tc, split_copies);
    tcase_add_test(tc, gather_normalises);
    suite_add_tcase(s, tc);

    tc = tcase_create("batcher");
    tcase_add_test(tc, batcher_visits_every_image_once);
    tcase_add_test(tc, batcher_seeded_order);
    tcase_add_test(tc, batcher_shuffle_is_uniform);
    tcase_add_test(tc, batcher_sequential_and_reset);
    tcase_add_test(tc, batcher_set_epoch_rules);
    tcase_add_test(tc, batcher_drop_last);
    tcase_add_test(tc, batcher_next_allocates_nothing);
    suite_add_tcase(s, tc);

    tc = tcase_create("misuse");
    tcase_add_test(tc, null_arguments);
    suite_add_tcase(s, tc);

    /* Seconds, not minutes: a reader that blocks on the FIFO fails here
     * soon instead of holding up the suite (and a mutation run) for the
     * default timeout. */
    tc = tcase_create("special files");
    tcase_set_timeout(tc, 10);
    tcase_add_test(tc, readers_refuse_a_fifo);
    suite_add_tcase(s, tc);

    tc = tcase_create("oom");
    tcase_add_test(tc, oom_load_idx);
    tcase_add_test(tc, oom_open);
    tcase_add_test(tc, oom_create_split_mapping_batcher);
    suite_add_tcase(s, tc);

    return s;
}

int main(void)
{
    snprintf(base_dir, sizeof base_dir, "/tmp/check_data_XXXXXX");
    if (!mkdtemp(base_dir)) {
        perror("mkdtemp");
        return EXIT_FAILURE;
    }
    int rc = tu_run_suite(data_suite());
    tu_rm_tree(base_dir);
    return rc;
}
