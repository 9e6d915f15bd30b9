/*
 * Label maps and opening a named dataset: the mapping-file reader
 * (mlp_dataset_load_mapping) and the file names of the splits of a dataset
 * in a directory (mlp_dataset_open, mlp_dataset_exists). The splits
 * themselves are read by the IDX reader (idx.c).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* stat, fdopen */
#endif

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "core/regular_file.h"
#include "dataset_impl.h"

/* Longest path we build; longer ones could not be opened anyway. */
#define PATH_CAP 4096
/* IDX labels are single bytes, so a map for a dataset opened from IDX
 * files never needs more than 256 classes. */
#define IDX_MAX_CLASSES 256
/* Longest line of a mapping file plus its NUL: "label code" needs about
 * 16 bytes, 'label "name"' up to 522 (a name of MLP_CLASS_NAME_MAX bytes,
 * all escaped). */
#define MAP_LINE_CAP 560

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

/* Parse a quoted name at s (just past the opening quote) into `name` (at
 * least MAP_LINE_CAP bytes): `\"` is a quote, `\\` a backslash. Returns
 * the position after the closing quote, or NULL when there is none or an
 * escape is unknown. */
static const char *parse_quoted(const char *s, char *name, size_t *len)
{
    size_t n = 0;
    for (;;) {
        char c = *s++;
        if (c == '\0')
            return NULL;
        if (c == '"')
            break;
        if (c == '\\') {
            c = *s++;
            if (c != '"' && c != '\\')
                return NULL;
        }
        name[n++] = c;
    }
    name[n] = '\0';
    *len = n;
    return s;
}

/* Parse one mapping line, "label code" or "label \"name\"", into the label
 * and the name (`name`: at least MAP_LINE_CAP bytes). Returns 0 for a blank
 * line, 1 for a pair, -1 when malformed, -2 when the code names no
 * character, -3 when the name is not acceptable (*why says why). */
static int parse_map_line(const char *line, uint32_t *label, char *name, uint32_t *code,
                          const char **why)
{
    const char *s = skip_blanks(line);
    if (*s == '\0')
        return 0;
    s = parse_uint(s, label);
    if (!s || (*s != ' ' && *s != '\t'))
        return -1;
    s = skip_blanks(s);
    if (*s == '"') {
        size_t len;
        s = parse_quoted(s + 1, name, &len);
        if (!s || *skip_blanks(s) != '\0')
            return -1;
        *why = len == 0 ? "is empty" : mlp__class_name_problem(name, len);
        return *why ? -3 : 1;
    }
    s = parse_uint(s, code);
    if (!s || *skip_blanks(s) != '\0')
        return -1;
    if (*code == 0 || *code > 0x10FFFF || (*code >= 0xD800 && *code <= 0xDFFF))
        return -2;
    /* A code names one character, which must still make a valid name:
     * 31 or 128 would give a control character that the setters refuse. */
    utf8_encode(*code, name);
    *why = mlp__class_name_problem(name, strlen(name));
    return *why ? -3 : 1;
}

/* Read one line, its newline included, into `line` (MAP_LINE_CAP bytes,
 * NUL-terminated) and its length into *len, which is more than strlen when
 * the line holds a NUL byte: fgets cannot tell where such a line ends, and
 * a NUL at its start would make it look blank. Returns 1 for a line, 0 at
 * the end of the file (or on a read error: see ferror), -1 when the line
 * has more than MAP_LINE_CAP - 1 bytes. */
static int read_line(FILE *fp, char *line, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc(fp)) != EOF) {
        if (n + 1 == MAP_LINE_CAP)
            return -1;
        line[n++] = (char)c;
        if (c == '\n')
            break;
    }
    line[n] = '\0';
    *len = n;
    return n > 0;
}

/*
 * Read a mapping file into a new block of names (owned by the caller) for
 * the classes it defines (largest label + 1). Labels must be below
 * `limit` and appear once; names are characters by code or quoted text.
 * Its messages name the file; the callers put their name first.
 */
static mlp_status read_mapping(const char *path, int32_t limit, mlp__names **names_out)
{
    *names_out = NULL;
    /* A regular file only, as for the IDX and npz readers (the CSV reader
     * alone takes pipes): fopen() of a FIFO waits for a writer, forever
     * when none comes. */
    struct stat sb;
    int fd = mlp__open_regular(path, &sb);
    if (fd == MLP__NOT_REGULAR)
        return mlp__error(MLP_STATUS_IO, "cannot read mapping %s: not a regular file",
                          path);
    FILE *fp = fd < 0 ? NULL : fdopen(fd, "r");
    if (!fp) {
        int err = errno;
        if (fd >= 0)
            close(fd);
        return mlp__error(MLP_STATUS_IO, "cannot open mapping %s: %s", path,
                          strerror(err));
    }
    mlp_status st = MLP_STATUS_OK;
    int32_t classes = 0;
    /* One pointer per possible label, each name its own block until the
     * names are packed at the end. */
    char **names = mlp__calloc((size_t)limit, sizeof *names);
    long *line_of = mlp__calloc((size_t)limit, sizeof *line_of); /* where each is named */
    if (!names || !line_of) {
        st = mlp__error(MLP_STATUS_NO_MEMORY, "out of memory reading mapping %s", path);
        goto fail;
    }
    char line[MAP_LINE_CAP], name[MAP_LINE_CAP];
    long lineno = 0;
    size_t len;
    int got;
    while ((got = read_line(fp, line, &len)) != 0) {
        lineno++;
        if (got < 0) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: line too long", path, lineno);
            goto fail;
        }
        const char *nul = memchr(line, '\0', len);
        if (nul) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s:%ld: a NUL byte (byte %zu of the line)", path, lineno,
                            (size_t)(nul - line) + 1);
            goto fail;
        }
        uint32_t label, code = 0;
        const char *why = NULL;
        int kind = parse_map_line(line, &label, name, &code, &why);
        if (kind == 0)
            continue;
        if (kind == -1) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s:%ld: expected \"label ascii-code\" or 'label \"name\"'",
                            path, lineno);
            goto fail;
        }
        if (label >= (uint32_t)limit) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: label %lu is outside 0..%d",
                            path, lineno, (unsigned long)label, (int)limit - 1);
            goto fail;
        }
        if (kind == -2) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: %lu is not a character code",
                            path, lineno, (unsigned long)code);
            goto fail;
        }
        if (kind == -3 && code) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT,
                            "%s:%ld: the name of label %lu (code %lu) %s", path, lineno,
                            (unsigned long)label, (unsigned long)code, why);
            goto fail;
        }
        if (kind == -3) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: the name of label %lu %s",
                            path, lineno, (unsigned long)label, why);
            goto fail;
        }
        if (names[label]) {
            st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s:%ld: label %lu is mapped twice",
                            path, lineno, (unsigned long)label);
            goto fail;
        }
        if (!(names[label] = mlp__strdup(name))) {
            st = mlp__error(MLP_STATUS_NO_MEMORY, "out of memory reading mapping %s",
                            path);
            goto fail;
        }
        line_of[label] = lineno;
        if ((int32_t)label >= classes)
            classes = (int32_t)label + 1;
    }
    if (ferror(fp)) {
        st = mlp__error(MLP_STATUS_IO, "%s: read error", path);
        goto fail;
    }
    if (classes == 0) {
        st = mlp__error(MLP_STATUS_BAD_FORMAT, "%s: no \"label ascii-code\" lines", path);
        goto fail;
    }
    /* Two labels of one name would be two classes the setters refuse
     * (mlp_dataset_set_class_names). Checked once the file is read; the
     * message names the later of the two lines. */
    int32_t a, b;
    int rep = mlp__class_names_repeat((const char *const *)names, classes, &a, &b);
    if (rep < 0) {
        st = mlp__error(MLP_STATUS_NO_MEMORY, "out of memory reading mapping %s", path);
        goto fail;
    }
    if (rep) {
        if (line_of[a] > line_of[b]) {
            int32_t t = a;
            a = b;
            b = t;
        }
        st = mlp__error(MLP_STATUS_BAD_FORMAT,
                        "%s:%ld: labels %d (line %ld) and %d are both \"%.64s\"", path,
                        line_of[b], (int)a, line_of[a], (int)b, names[b]);
        goto fail;
    }
    if (!(*names_out = mlp__names_make((const char *const *)names, classes)))
        st = mlp__error(MLP_STATUS_NO_MEMORY, "out of memory reading mapping %s", path);

fail:
    fclose(fp);
    for (int32_t k = 0; names && k < classes; k++)
        mlp__free(names[k]);
    mlp__free(names);
    mlp__free(line_of);
    return st;
}

mlp_status mlp_dataset_load_mapping(mlp_dataset *ds, const char *path)
{
    static const char fn[] = "mlp_dataset_load_mapping";
    MLP_CHECK_ARG(ds != NULL, fn, "ds is NULL");
    MLP_CHECK_ARG(path != NULL, fn, "path is NULL");
    MLP_CHECK_ARG(path[0] != '\0', fn, "path is empty");
    MLP_CHECK_ARG(ds->labels != NULL, fn, "the dataset has float targets, not classes");
    mlp__names *names;
    MLP_TRY(mlp__error_named(read_mapping(path, ds->num_classes, &names), fn));
    /* Replace only on success, so a bad file leaves the old map. */
    mlp__free(ds->class_names);
    ds->class_names = names;
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

/* The reason first and the strings cut short, so that the message (512
 * bytes) keeps the reason whatever their length. */
static mlp_status path_too_long(const char *dir, const char *name)
{
    return mlp__error(MLP_STATUS_INVALID_ARG,
                      "mlp_dataset_open: a path would be longer than %d bytes: the files "
                      "of %.64s%s under %.200s%s",
                      PATH_CAP - 1, name, strlen(name) > 64 ? "..." : "", dir,
                      strlen(dir) > 200 ? "..." : "");
}

/* Load one split; a missing file is MLP_STATUS_IO naming it. */
static mlp_status load_split(const char *dir, const char *name, const char *split,
                             int32_t num_classes, mlp_dataset **out)
{
    char images[PATH_CAP], labels[PATH_CAP];
    *out = NULL;
    int found = find_split_file(images, dir, name, split, "images-idx3");
    if (found < 0)
        return path_too_long(dir, name);
    if (!found)
        return mlp__error(MLP_STATUS_IO, "mlp_dataset_open: %s split of %s: no file %s",
                          split, name, images);
    found = find_split_file(labels, dir, name, split, "labels-idx1");
    if (found < 0)
        return path_too_long(dir, name);
    if (!found)
        return mlp__error(MLP_STATUS_IO, "mlp_dataset_open: %s split of %s: no file %s",
                          split, name, labels);
    return mlp__dataset_load_idx(out, images, labels, num_classes, "mlp_dataset_open");
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
    /* a pointer given twice would keep one split and lose the other */
    const char *twice = train && train == valid  ? "train and valid"
                        : train && train == test ? "train and test"
                        : valid && valid == test ? "valid and test"
                                                 : NULL;
    if (twice)
        return mlp__error(MLP_STATUS_INVALID_ARG, "%s: %s are the same pointer", fn,
                          twice);
    MLP_CHECK_ARG(dir != NULL && *dir != '\0', fn, "dir is NULL or empty");
    MLP_CHECK_ARG(name != NULL && *name != '\0', fn, "name is NULL or empty");
    MLP_CHECK_RANGE(valid_size >= 1, fn, "valid_size", valid_size, ">= 1");

    mlp_dataset *tr = NULL, *va = NULL, *te = NULL;
    mlp__names *names = NULL;
    int32_t map_classes = 0;
    mlp_status st;
    char path[PATH_CAP];

    char stem[PATH_CAP];
    int len = snprintf(stem, sizeof stem, "%s-mapping", name);
    if (len < 0 || len >= (int)sizeof stem || !join_path(path, dir, stem, ".txt"))
        return path_too_long(dir, name);
    if (is_regular_file(path)) {
        MLP_TRY(mlp__error_named(read_mapping(path, IDX_MAX_CLASSES, &names), fn));
        map_classes = names->count;
    }

    st = load_split(dir, name, "train", map_classes, &tr);
    if (st != MLP_STATUS_OK)
        goto fail;

    int has_valid = find_split_file(path, dir, name, "valid", "images-idx3");
    if (has_valid < 0) {
        st = path_too_long(dir, name);
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
            st = mlp__dataset_copy_range(tr, tr->n - valid_size, valid_size, &va);
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
            all[i]->class_names = mlp__memdup(names, names->bytes);
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
