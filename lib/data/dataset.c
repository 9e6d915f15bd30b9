/*
 * In-memory datasets: creation from memory, opening the splits of a named
 * dataset on disk, label maps, splitting and gathering float batches.
 * Reading a single IDX pair lives in idx.c (mlp_dataset_load_idx).
 *
 * Pixels stay uint8 (a quarter of the float size) and are scaled to [0, 1]
 * only when gathered into a batch.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* stat */
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "dataset_impl.h"

/* Longest path we build; longer ones could not be opened anyway. */
#define PATH_CAP 4096
/* IDX labels are single bytes, so a map for a dataset opened from IDX
 * files never needs more than 256 classes. */
#define IDX_MAX_CLASSES 256
/* Longest line of a mapping file ("label code" needs about 16). */
#define MAP_LINE_CAP 256

typedef char class_name_t[8];

/* ---- creation and access --------------------------------------------- */

static size_t image_bytes(const mlp_dataset *ds)
{
    return (size_t)ds->c * (size_t)ds->h * (size_t)ds->w;
}

mlp_status mlp_dataset_create(mlp_dataset **out, int32_t n, int32_t channels,
                              int32_t height, int32_t width, const uint8_t *pixels,
                              const int32_t *labels, int32_t num_classes)
{
    static const char fn[] = "mlp_dataset_create";
    MLP_CHECK_ARG(out != NULL, fn, "out is NULL");
    *out = NULL;
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    if (channels < 1 || height < 1 || width < 1)
        return mlp__error(MLP_STATUS_INVALID_ARG,
                          "%s: channels x height x width = %d x %d x %d: each must be >= 1",
                          fn, (int)channels, (int)height, (int)width);
    MLP_CHECK_RANGE(num_classes >= 1, fn, "num_classes", num_classes, ">= 1");
    MLP_CHECK_ARG(pixels != NULL, fn, "pixels is NULL");
    MLP_CHECK_ARG(labels != NULL, fn, "labels is NULL");

    size_t bytes = 1;
    if (!mlp__mul_size(bytes, (size_t)n, &bytes) ||
        !mlp__mul_size(bytes, (size_t)channels, &bytes) ||
        !mlp__mul_size(bytes, (size_t)height, &bytes) ||
        !mlp__mul_size(bytes, (size_t)width, &bytes))
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %d x %d x %d x %d bytes overflow",
                          fn, (int)n, (int)channels, (int)height, (int)width);
    for (int32_t i = 0; i < n; i++) {
        if (labels[i] < 0 || labels[i] >= num_classes)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: label %d of image %d is outside 0..%d", fn,
                              (int)labels[i], (int)i, (int)num_classes - 1);
    }

    mlp_dataset *ds = mlp__calloc(1, sizeof *ds);
    if (!ds)
        goto oom;
    ds->pixels = mlp__memdup(pixels, bytes);
    if (!ds->pixels)
        goto oom;
    ds->labels = mlp__memdup(labels, (size_t)n * sizeof *labels);
    if (!ds->labels)
        goto oom;
    ds->n = n;
    ds->c = channels;
    ds->h = height;
    ds->w = width;
    ds->num_classes = num_classes;
    *out = ds;
    return MLP_STATUS_OK;

oom:
    mlp_dataset_destroy(ds);
    return mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory for %d images", fn,
                      (int)n);
}

void mlp_dataset_destroy(mlp_dataset *ds)
{
    if (!ds)
        return;
    mlp__free(ds->pixels);
    mlp__free(ds->labels);
    mlp__free(ds->class_names);
    mlp__free(ds);
}

int32_t mlp_dataset_size(const mlp_dataset *ds)
{
    return ds ? ds->n : 0;
}

int32_t mlp_dataset_channels(const mlp_dataset *ds)
{
    return ds ? ds->c : 0;
}

int32_t mlp_dataset_height(const mlp_dataset *ds)
{
    return ds ? ds->h : 0;
}

int32_t mlp_dataset_width(const mlp_dataset *ds)
{
    return ds ? ds->w : 0;
}

int32_t mlp_dataset_num_classes(const mlp_dataset *ds)
{
    return ds ? ds->num_classes : 0;
}

int32_t mlp_dataset_label(const mlp_dataset *ds, int32_t i)
{
    if (!ds || i < 0 || i >= ds->n)
        return -1;
    return ds->labels[i];
}

const uint8_t *mlp_dataset_image(const mlp_dataset *ds, int32_t i)
{
    if (!ds || i < 0 || i >= ds->n)
        return NULL;
    return ds->pixels + (size_t)i * image_bytes(ds);
}

const char *mlp_dataset_class_name(const mlp_dataset *ds, int32_t k)
{
    /* A map may leave classes unnamed; those read as empty and give NULL. */
    if (!ds || !ds->class_names || k < 0 || k >= ds->num_classes ||
        ds->class_names[k][0] == '\0')
        return NULL;
    return ds->class_names[k];
}

/* ---- label maps ------------------------------------------------------- */

/* Encode a Unicode code point as UTF-8 into `out` (at most 4 bytes + NUL). */
static void utf8_encode(uint32_t cp, char *out)
{
    unsigned char *p = (unsigned char *)out;
    if (cp < 0x80) {
        *p++ = (unsigned char)cp;
    } else if (cp < 0x800) {
        *p++ = (unsigned char)(0xC0 | cp >> 6);
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *p++ = (unsigned char)(0xE0 | cp >> 12);
        *p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    } else {
        *p++ = (unsigned char)(0xF0 | cp >> 18);
        *p++ = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        *p++ = (unsigned char)(0x80 | (cp & 0x3F));
    }
    *p = '\0';
}

static const char *skip_blanks(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
        s++;
    return s;
}

/* Parse a decimal number of at most 9 digits (no sign); NULL if none. */
static const char *parse_uint(const char *s, uint32_t *v)
{
    uint32_t x = 0;
    int digits = 0;
    while (*s >= '0' && *s <= '9') {
        if (++digits > 9)
            return NULL;
        x = x * 10 + (uint32_t)(*s++ - '0');
    }
    if (digits == 0)
        return NULL;
    *v = x;
    return s;
}

/* Parse one mapping line "label code" into label and code point. Returns 0
 * for a blank line, 1 for a pair, -1 when malformed. */
static int parse_map_line(const char *line, uint32_t *label, uint32_t *code)
{
    const char *s = skip_blanks(line);
    if (*s == '\0')
        return 0;
    s = parse_uint(s, label);
    if (!s || (*s != ' ' && *s != '\t'))
        return -1;
    s = parse_uint(skip_blanks(s), code);
    if (!s || *skip_blanks(s) != '\0')
        return -1;
    return 1;
}

/*
 * Read a mapping file into a new array of `limit` names (owned by the
 * caller) and report the number of classes it defines (largest label + 1).
 * Labels must be below `limit`, appear once, and name a Unicode scalar value.
 */
static mlp_status read_mapping(const char *path, int32_t limit, class_name_t **names_out,
                               int32_t *count)
{
    *names_out = NULL;
    FILE *fp = fopen(path, "r");
    if (!fp)
        return mlp__error(MLP_STATUS_IO, "cannot open mapping %s: %s", path,
                          strerror(errno));
    mlp_status st = MLP_STATUS_OK;
    class_name_t *names = mlp__calloc((size_t)limit, sizeof *names);
    if (!names) {
        st = mlp__error(MLP_STATUS_NO_MEMORY, "out of memory reading mapping %s", path);
        goto fail;
    }
    char line[MAP_LINE_CAP];
    long lineno = 0;
    int32_t classes = 0;
    while (fgets(line, sizeof line, fp)) {
        lineno++;
        size_t len = strlen(line);
        if (len + 1 == sizeof line && line[len - 1] != '\n') {
            st =
                mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: line too long", path, lineno);
            goto fail;
        }
        uint32_t label, code;
        int kind = parse_map_line(line, &label, &code);
        if (kind == 0)
            continue;
        if (kind < 0) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s:%ld: expected \"label ascii-code\"", path, lineno);
            goto fail;
        }
        if (label >= (uint32_t)limit) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: label %lu is outside 0..%d",
                            path, lineno, (unsigned long)label, (int)limit - 1);
            goto fail;
        }
        if (code == 0 || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: %lu is not a character code",
                            path, lineno, (unsigned long)code);
            goto fail;
        }
        if (names[label][0] != '\0') {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: label %lu is mapped twice",
                            path, lineno, (unsigned long)label);
            goto fail;
        }
        utf8_encode(code, names[label]);
        if ((int32_t)label >= classes)
            classes = (int32_t)label + 1;
    }
    if (ferror(fp)) {
        st = mlp__error(MLP_STATUS_IO, "%s: read error", path);
        goto fail;
    }
    if (classes == 0) {
        st =
            mlp__error(MLP_STATUS_BAD_FORMAT, "%s: no \"label ascii-code\" lines", path);
        goto fail;
    }
    fclose(fp);
    *names_out = names;
    *count = classes;
    return MLP_STATUS_OK;

fail:
    fclose(fp);
    mlp__free(names);
    return st;
}

mlp_status mlp_dataset_load_mapping(mlp_dataset *ds, const char *path)
{
    static const char fn[] = "mlp_dataset_load_mapping";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(path != NULL, fn, "path is NULL");
    class_name_t *names;
    int32_t count;
    MLP_TRY(read_mapping(path, ds->num_classes, &names, &count));
    /* Replace only on success, so a bad file leaves the old map. */
    mlp__free(ds->class_names);
    ds->class_names = names;
    return MLP_STATUS_OK;
}

/* ---- copies ----------------------------------------------------------- */

/* New dataset holding images [start, start + count) of `src`, with the
 * same shape, class count and map. */
static mlp_status copy_range(const mlp_dataset *src, int32_t start, int32_t count,
                             mlp_dataset **out)
{
    size_t img = image_bytes(src);
    mlp_dataset *ds = mlp__calloc(1, sizeof *ds);
    if (!ds)
        goto oom;
    ds->pixels = mlp__memdup(src->pixels + (size_t)start * img, (size_t)count * img);
    if (!ds->pixels)
        goto oom;
    ds->labels = mlp__memdup(src->labels + start, (size_t)count * sizeof *ds->labels);
    if (!ds->labels)
        goto oom;
    if (src->class_names) {
        ds->class_names = mlp__memdup(src->class_names, (size_t)src->num_classes *
                                                            sizeof *src->class_names);
        if (!ds->class_names)
            goto oom;
    }
    ds->n = count;
    ds->c = src->c;
    ds->h = src->h;
    ds->w = src->w;
    ds->num_classes = src->num_classes;
    *out = ds;
    return MLP_STATUS_OK;

oom:
    mlp_dataset_destroy(ds);
    *out = NULL;
    return mlp__error(MLP_STATUS_NO_MEMORY, "out of memory copying %d images",
                      (int)count);
}

mlp_status mlp_dataset_split(const mlp_dataset *src, int32_t n_first,
                             mlp_dataset **first, mlp_dataset **second)
{
    static const char fn[] = "mlp_dataset_split";
    if (first)
        *first = NULL;
    if (second)
        *second = NULL;
    MLP_CHECK_ARG(first != NULL && second != NULL, fn, "first or second is NULL");
    MLP_CHECK_ARG(src != NULL, fn, "src is NULL");
    if (n_first < 1 || n_first >= src->n)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: n_first %d is outside 1..%d", fn,
                          (int)n_first, (int)src->n - 1);
    mlp_dataset *a, *b;
    MLP_TRY(copy_range(src, 0, n_first, &a));
    mlp_status st = copy_range(src, n_first, src->n - n_first, &b);
    if (st != MLP_STATUS_OK) {
        mlp_dataset_destroy(a);
        return st;
    }
    *first = a;
    *second = b;
    return MLP_STATUS_OK;
}

mlp_status mlp_dataset_gather(const mlp_dataset *ds, const int32_t *indices, int32_t n,
                              float *x, int32_t *labels)
{
    static const char fn[] = "mlp_dataset_gather";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(indices != NULL, fn, "indices is NULL");
    MLP_CHECK_ARG(x != NULL, fn, "x is NULL");
    MLP_CHECK_RANGE(n >= 1, fn, "n", n, ">= 1");
    /* Check every index first so a bad one leaves the buffers untouched. */
    for (int32_t i = 0; i < n; i++) {
        if (indices[i] < 0 || indices[i] >= ds->n)
            return mlp__error(MLP_STATUS_INVALID_ARG,
                              "%s: indices[%d] = %d is outside 0..%d", fn, (int)i,
                              (int)indices[i], (int)ds->n - 1);
    }
    const size_t img = image_bytes(ds);
    const float scale = 1.0f / 255.0f;
    for (int32_t i = 0; i < n; i++) {
        const uint8_t *src = ds->pixels + (size_t)indices[i] * img;
        float *dst = x + (size_t)i * img;
        for (size_t j = 0; j < img; j++)
            dst[j] = (float)src[j] * scale;
        if (labels)
            labels[i] = ds->labels[indices[i]];
    }
    return MLP_STATUS_OK;
}

/* ---- opening a named dataset ------------------------------------------ */

static int is_regular_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* The Debian/Zalando file prefix of a split for "mnist"-style names. */
static const char *mnist_prefix(const char *name, const char *split)
{
    if (strcmp(name, "mnist") != 0 && strcmp(name, "fashion-mnist") != 0)
        return NULL;
    if (strcmp(split, "train") == 0)
        return "train";
    if (strcmp(split, "test") == 0)
        return "t10k";
    return NULL;
}

/* Join "dir/stem" into buf; 0 if it does not fit. A dir ending in '/' gets
 * no second separator, so messages show the path a user would type. */
static int join_path(char *buf, const char *dir, const char *stem, const char *ext)
{
    size_t dl = strlen(dir);
    const char *sep = dl > 0 && dir[dl - 1] == '/' ? "" : "/";
    int len = snprintf(buf, PATH_CAP, "%s%s%s%s", dir, sep, stem, ext);
    return len >= 0 && len < PATH_CAP;
}

/*
 * Find the file of one split and kind ("images-idx3" or "labels-idx1"),
 * trying NAME-SPLIT-KIND-ubyte then the mnist names, each raw then ".gz".
 * Returns 1 and the path in buf when found, 0 when absent (buf then holds
 * the expected name, ending in "[.gz]", for the message), -1 when a path
 * is too long.
 */
static int find_split_file(char *buf, const char *dir, const char *name,
                           const char *split, const char *kind)
{
    static const char *const exts[] = {"", ".gz"};
    char stem[PATH_CAP];
    const char *alt = mnist_prefix(name, split);
    for (int pass = 0; pass < 2; pass++) {
        int len;
        if (pass == 0)
            len = snprintf(stem, sizeof stem, "%s-%s-%s-ubyte", name, split, kind);
        else if (alt)
            len = snprintf(stem, sizeof stem, "%s-%s-ubyte", alt, kind);
        else
            break;
        if (len < 0 || len >= (int)sizeof stem)
            return -1;
        for (int e = 0; e < 2; e++) {
            if (!join_path(buf, dir, stem, exts[e]))
                return -1;
            if (is_regular_file(buf))
                return 1;
        }
    }
    /* Name the file a user of this dataset would expect. */
    if (alt)
        snprintf(stem, sizeof stem, "%s-%s-ubyte", alt, kind);
    else
        snprintf(stem, sizeof stem, "%s-%s-%s-ubyte", name, split, kind);
    if (!join_path(buf, dir, stem, "[.gz]"))
        return -1;
    return 0;
}

static mlp_status path_too_long(const char *dir)
{
    return mlp__error(MLP_STATUS_INVALID_ARG,
                      "mlp_dataset_open: path under %s is too long", dir);
}

/* Load one split; a missing file is MLP_STATUS_IO naming it. */
static mlp_status load_split(const char *dir, const char *name, const char *split,
                             int32_t num_classes, mlp_dataset **out)
{
    char images[PATH_CAP], labels[PATH_CAP];
    *out = NULL;
    int found = find_split_file(images, dir, name, split, "images-idx3");
    if (found < 0)
        return path_too_long(dir);
    if (!found)
        return mlp__error(MLP_STATUS_IO, "%s split of %s: no file %s", split, name,
                          images);
    found = find_split_file(labels, dir, name, split, "labels-idx1");
    if (found < 0)
        return path_too_long(dir);
    if (!found)
        return mlp__error(MLP_STATUS_IO, "%s split of %s: no file %s", split, name,
                          labels);
    return mlp_dataset_load_idx(out, images, labels, num_classes);
}

int mlp_dataset_exists(const char *dir, const char *name)
{
    char path[PATH_CAP];
    if (!dir || !name || !*dir || !*name)
        return 0;
    return find_split_file(path, dir, name, "train", "images-idx3") == 1;
}

/*
 * The splits are built in locals and handed out only when everything has
 * succeeded, so a failure returns nothing. Training is always read: it is
 * the source of a carved validation split and of the class count.
 *
 * Class count: the map's when DIR/NAME-mapping.txt exists (labels beyond it
 * are a format error), else the largest label + 1 over the splits read, so
 * that every split agrees.
 */
mlp_status mlp_dataset_open(mlp_dataset **train, mlp_dataset **valid, mlp_dataset **test,
                            const char *dir, const char *name, int32_t valid_size)
{
    static const char fn[] = "mlp_dataset_open";
    if (train)
        *train = NULL;
    if (valid)
        *valid = NULL;
    if (test)
        *test = NULL;
    MLP_CHECK_ARG(train || valid || test, fn, "train, valid and test are all NULL");
    MLP_CHECK_ARG(dir != NULL && *dir != '\0', fn, "dir is NULL or empty");
    MLP_CHECK_ARG(name != NULL && *name != '\0', fn, "name is NULL or empty");
    MLP_CHECK_RANGE(valid_size >= 1, fn, "valid_size", valid_size, ">= 1");

    mlp_dataset *tr = NULL, *va = NULL, *te = NULL;
    class_name_t *names = NULL;
    int32_t map_classes = 0;
    mlp_status st;
    char path[PATH_CAP];

    char stem[PATH_CAP];
    int len = snprintf(stem, sizeof stem, "%s-mapping", name);
    if (len < 0 || len >= (int)sizeof stem || !join_path(path, dir, stem, ".txt"))
        return path_too_long(dir);
    if (is_regular_file(path)) {
        MLP_TRY(read_mapping(path, IDX_MAX_CLASSES, &names, &map_classes));
    }

    st = load_split(dir, name, "train", map_classes, &tr);
    if (st != MLP_STATUS_OK)
        goto fail;

    int has_valid = find_split_file(path, dir, name, "valid", "images-idx3");
    if (has_valid < 0) {
        st = path_too_long(dir);
        goto fail;
    }
    if (has_valid) {
        if (valid) {
            st = load_split(dir, name, "valid", map_classes, &va);
            if (st != MLP_STATUS_OK)
                goto fail;
        }
    } else {
        /* Carve validation off the end of training, whether or not it is
         * wanted, so the training split never depends on the request.
         * Training keeps its buffers: the tail simply goes unused. */
        if (valid_size >= tr->n) {
            st = mlp__error(MLP_STATUS_INVALID_ARG,
                            "%s: valid_size %d is not smaller than the %d training "
                            "images of %s in %s",
                            fn, (int)valid_size, (int)tr->n, name, dir);
            goto fail;
        }
        if (valid) {
            st = copy_range(tr, tr->n - valid_size, valid_size, &va);
            if (st != MLP_STATUS_OK)
                goto fail;
        }
        tr->n -= valid_size;
    }
    if (test) {
        st = load_split(dir, name, "test", map_classes, &te);
        if (st != MLP_STATUS_OK)
            goto fail;
    }

    int32_t classes = map_classes;
    mlp_dataset *all[3] = {tr, va, te};
    if (classes == 0) {
        for (int i = 0; i < 3; i++) {
            if (all[i] && all[i]->num_classes > classes)
                classes = all[i]->num_classes;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (!all[i])
            continue;
        all[i]->num_classes = classes;
        if (names && !all[i]->class_names) {
            all[i]->class_names = mlp__memdup(names, (size_t)classes * sizeof *names);
            if (!all[i]->class_names) {
                st = mlp__error(MLP_STATUS_NO_MEMORY, "%s: out of memory", fn);
                goto fail;
            }
        }
    }
    mlp__free(names);

    if (train)
        *train = tr;
    else
        mlp_dataset_destroy(tr);
    if (valid)
        *valid = va;
    if (test)
        *test = te;
    return MLP_STATUS_OK;

fail:
    mlp__free(names);
    mlp_dataset_destroy(tr);
    mlp_dataset_destroy(va);
    mlp_dataset_destroy(te);
    return st;
}
