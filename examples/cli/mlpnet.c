/*
 * mlpnet: train, evaluate, inspect and run libmlpnet models from the shell.
 *
 *   mlpnet train   --arch SPEC --save FILE [data and training flags]
 *   mlpnet eval    --model FILE (--dataset NAME [--split S] | --images F [--labels F])
 *   mlpnet predict --model FILE --images F
 *   mlpnet info    --model FILE
 *
 * Only the public API is used. Exit status: 0 on success, 1 when something
 * fails at run time (a file, the data, the library), 2 for a bad command
 * line (unknown flag, bad value, a SPEC that does not parse or does not fit
 * the data). The manual page is docs/mlpnet.1.
 */
#define _POSIX_C_SOURCE 200809L
#define _XOPEN_SOURCE 700 /* realpath (an XSI function in POSIX.1-2008) */

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mlpnet/io.h>
#include <mlpnet/mlpnet.h>

#include "ex_dist.h"

#define PATH_CAP 4096
#define EVAL_BATCH 1000
/* One thread by default, as the library: a synchronous step waits for its
 * slowest thread, so on a busy machine more threads can make a run slower
 * (README, "Threads"). */
#define THREADS_HELP "threads; 0 = all cores, faster for ConvNets on an idle machine [1]"
#define FLUSH_HELP                                                                       \
    "read and write values below 1.2e-38 (subnormal floats) as 0, which keeps a "        \
    "model whose units saturate from slowing down (x86-64 only)"

/* ---- messages and exits ------------------------------------------------- */

static const char *command = "mlpnet";

/* Print `msg` (a whole message, without the final newline) and exit with
 * `code`. Under --distributed every rank goes through exd_fail, which meets
 * the other ranks at their next check: rank 0 prints each distinct message
 * once and every rank exits with `code`. A control character other than a
 * line break (a path or an argument may hold an escape sequence) is
 * printed as '?', as the library's messages print it. */
static _Noreturn void leave(int code, const char *msg)
{
    char shown[2048];
    snprintf(shown, sizeof shown, "%s", msg);
    for (char *p = shown; *p; p++)
        if (((unsigned char)*p < 0x20 && *p != '\n') || *p == 0x7f)
            *p = '?';
    exd_exit(code, shown);
}

static _Noreturn void die(const char *fmt, ...)
{
    char msg[1536];
    int n = snprintf(msg, sizeof msg, "%s: ", command);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    leave(1, msg);
}

static _Noreturn void usage_error(const char *fmt, ...)
{
    char msg[1536];
    int n = snprintf(msg, sizeof msg, "%s: ", command);
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(msg + n, sizeof msg - (size_t)n, fmt, ap);
    va_end(ap);
    if (n >= 0 && (size_t)n < sizeof msg)
        snprintf(msg + n, sizeof msg - (size_t)n,
                 "\nTry '%s --help' for more information.", command);
    leave(2, msg);
}

/* Exit with 1 (or `code`) when a library call failed. */
static void check_code(mlp_status st, int code, const char *fmt, ...)
{
    if (st == MLP_STATUS_OK)
        return;
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    char msg[1536];
    snprintf(msg, sizeof msg, "%s: %s: %s: %s%s%s%s", command, what, mlp_status_str(st),
             mlp_last_error(), code == 2 ? "\nTry '" : "", code == 2 ? command : "",
             code == 2 ? " --help' for more information." : "");
    leave(code, msg);
}

#define CHECK(st, ...) check_code((st), 1, __VA_ARGS__)

/* The exit status of a command that would end with `rc`: what it printed
 * must have reached its destination, so a report redirected to a full disk
 * is a failure (1), not a success. ferror() also catches a write that
 * failed at an earlier flush. */
static int output_checked(int rc)
{
    const int flushed = fflush(stdout) == 0;
    const int err = errno;
    if (rc == 0 && (!flushed || ferror(stdout))) {
        fprintf(stderr, "%s: cannot write the output%s%s\n", command, flushed ? "" : ": ",
                flushed ? "" : strerror(err));
        return 1;
    }
    return rc;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ---- flags ------------------------------------------------------------------ */

typedef enum { F_STR, F_INT, F_U64, F_BOOL, F_OPT_INT, F_OPT_DBL } flag_kind;

/* A number flag whose default is no number the user could type (it depends
 * on other flags, or is the optimizer rule's own): `given` records whether
 * the command line set it, so that every value typed is either used or
 * refused, never taken for "unset" as a sentinel such as -1 or 0 would be. */
typedef struct opt_int {
    int32_t value;
    int given;
} opt_int;

typedef struct opt_dbl {
    double value;
    int given;
} opt_dbl;

typedef struct flag {
    const char *name; /* without "--" */
    flag_kind kind;
    void *dst;
    const char *meta;
    const char *help;
} flag;

static void print_help(const char *usage, const char *about, const flag *flags)
{
    printf("Usage: %s\n\n%s\n", usage, about);
    if (flags[0].name)
        printf("\nOptions:\n");
    for (const flag *f = flags; f->name; f++) {
        char left[64];
        snprintf(left, sizeof left, "--%s%s%s", f->name, f->meta ? " " : "",
                 f->meta ? f->meta : "");
        printf("  %-24s %s\n", left, f->help);
    }
    printf("  %-24s %s\n", "--help", "show this help and exit");
}

static void parse_value(const flag *f, const char *v)
{
    char *end = NULL;
    errno = 0;
    switch (f->kind) {
    case F_STR: *(const char **)f->dst = v; return;
    case F_INT:
    case F_OPT_INT: {
        long x = strtol(v, &end, 10);
        if (errno || end == v || *end || x < INT32_MIN || x > INT32_MAX)
            usage_error("--%s: '%s' is not an integer", f->name, v);
        if (f->kind == F_INT)
            *(int32_t *)f->dst = (int32_t)x;
        else
            *(opt_int *)f->dst = (opt_int){(int32_t)x, 1};
        return;
    }
    case F_U64: {
        unsigned long long x = strtoull(v, &end, 10);
        if (errno || end == v || *end || v[0] == '-')
            usage_error("--%s: '%s' is not a non-negative integer", f->name, v);
        *(uint64_t *)f->dst = (uint64_t)x;
        return;
    }
    case F_OPT_DBL: {
        double x = strtod(v, &end);
        if (end == v || *end)
            usage_error("--%s: '%s' is not a number", f->name, v);
        if (errno == ERANGE)
            usage_error("--%s: '%s' is out of range", f->name, v);
        if (!isfinite(x))
            usage_error("--%s: '%s' is not a finite number", f->name, v);
        *(opt_dbl *)f->dst = (opt_dbl){x, 1};
        return;
    }
    case F_BOOL: return;
    }
}

/* Parse argv[1..] (argv[0] is the subcommand) into `flags`. */
static void parse_flags(int argc, char **argv, const flag *flags, const char *usage,
                        const char *about)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            print_help(usage, about, flags);
            exit(output_checked(0));
        }
        if (strncmp(a, "--", 2) != 0)
            usage_error("unexpected argument '%s'", a);
        const char *name = a + 2, *eq = strchr(name, '=');
        size_t len = eq ? (size_t)(eq - name) : strlen(name);
        const flag *f = flags;
        while (f->name && (strlen(f->name) != len || strncmp(f->name, name, len) != 0))
            f++;
        if (!f->name)
            usage_error("unknown option '--%.*s'", (int)len, name);
        if (f->kind == F_BOOL) {
            if (eq)
                usage_error("--%s takes no value", f->name);
            *(int *)f->dst = 1;
            continue;
        }
        const char *v = eq ? eq + 1 : NULL;
        if (!v) {
            if (i + 1 >= argc)
                usage_error("--%s needs a value (%s)", f->name, f->meta);
            v = argv[++i];
        }
        parse_value(f, v);
    }
}

/* --threads and --flush-denormals. Both are about speed (the flush changes
 * only values below FLT_MIN), so a machine that cannot honour them gets a
 * warning from rank 0 and the run goes on. */
static void set_speed(int threads, int flush)
{
    if (mlp_set_num_threads(threads) != MLP_STATUS_OK && threads > 1 && exd_writes())
        fprintf(stderr, "%s: warning: %s; using one thread\n", command, mlp_last_error());
    if (flush && mlp_set_flush_denormals(1) != MLP_STATUS_OK && exd_writes())
        fprintf(stderr, "%s: warning: --flush-denormals: %s; subnormal floats stay\n",
                command, mlp_last_error());
}

/* ---- files and data ------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* Whether two paths name one file: the same string, or, when both exist, the
 * same device and inode (another spelling, a hard or a symbolic link). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* Check the file that --`flag` names for writing, before any work: a name,
 * not a directory or a device, in an existing directory this process may
 * write in. The library writes it atomically (a temporary file beside it,
 * renamed over it) only once the work is done, so without this check a long
 * training could end by failing to save. A symbolic link is followed, as the
 * library does: its target's directory gets the temporary file. */
static void check_output(const char *flag, const char *path)
{
    if (!*path)
        usage_error("--%s: the file name is empty", flag);
    struct stat sb;
    if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode))
        die("--%s %s: %s, not a regular file", flag, path,
            S_ISDIR(sb.st_mode) ? "a directory" : "a device or other special file");
    char *dir = NULL;
    if (lstat(path, &sb) == 0 && S_ISLNK(sb.st_mode)) {
        dir = realpath(path, NULL);
        if (!dir)
            die("--%s %s: cannot follow the symbolic link: %s", flag, path,
                strerror(errno));
    } else {
        dir = strdup(path);
        if (!dir)
            die("out of memory");
    }
    char *slash = strrchr(dir, '/');
    if (!slash)
        strcpy(dir, "."); /* fits: path is not empty */
    else if (slash == dir)
        slash[1] = '\0'; /* "/x": the root */
    else
        *slash = '\0';
    const char *why = NULL;
    if (stat(dir, &sb) != 0)
        why = strerror(errno);
    else if (!S_ISDIR(sb.st_mode))
        why = "not a directory";
    else if (access(dir, W_OK | X_OK) != 0)
        why = strerror(errno);
    if (why) {
        char msg[PATH_CAP + 512];
        snprintf(msg, sizeof msg, "%s: --%s %s: cannot write in %s: %s", command, flag,
                 path, dir, why);
        free(dir);
        leave(1, msg);
    }
    free(dir);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static const char *data_dir_or_default(const char *dir)
{
    if (dir)
        return dir;
    const char *env = getenv("MLPNET_DATA_DIR");
    if (env && *env)
        return env;
    usage_error("no data directory: pass --data-dir DIR or set MLPNET_DATA_DIR");
}

static int npz_exists(const char *dir, const char *name, const char *split)
{
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/%s-%s.npz", dir, name, split);
    return is_file(p);
}

static const char *default_dataset(const char *dir)
{
    static const char *const names[] = {"emnist-bymerge47", "emnist-balanced", "emnist",
                                        "fashion-mnist", "mnist"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (mlp_dataset_exists(dir, names[i]) || npz_exists(dir, names[i], "train"))
            return names[i];
    usage_error("no dataset in %s (looked for emnist-bymerge47, emnist-balanced, emnist, "
                "fashion-mnist and mnist files); pass --dataset NAME",
                dir);
}

/* Load a label map when the file exists: the one a dataset may have. */
static void maybe_mapping(mlp_dataset *ds, const char *path)
{
    if (ds && path && is_file(path))
        CHECK(mlp_dataset_load_mapping(ds, path), "reading the label map %s", path);
}

/* Fail at once, before the model and the data are read, when the input file
 * that --`flag` names is missing or not a regular file. For a file the
 * command would otherwise look for and skip when absent (a label map), this
 * also keeps a typing error from passing unnoticed. */
static void check_input(const char *flag, const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        die("--%s %s: %s", flag, path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        die("--%s %s: not a regular file", flag, path);
}

/* Refuse a --save path that names a file the image dataset NAME in DIR is
 * read from: its IDX files under mlp_dataset_open's naming rules, raw or
 * gzipped, its .npz archives or its label map. Saving would replace the
 * data (the image path saves at every epoch that improves). */
static void check_save_not_dataset(const char *save, const char *dir, const char *name)
{
    static const char *const splits[] = {"train", "valid", "test", "t10k"};
    static const char *const kinds[] = {"-images-idx3-ubyte", "-labels-idx1-ubyte",
                                        ".npz"};
    static const char *const suffixes[] = {"", ".gz"};
    /* Debian's fashion-mnist and mnist files carry no NAME- prefix. */
    const int bare = strcmp(name, "fashion-mnist") == 0 || strcmp(name, "mnist") == 0;
    char p[PATH_CAP];
    snprintf(p, sizeof p, "%s/%s-mapping.txt", dir, name);
    int hit = same_file(save, p);
    for (int b = 0; b <= bare && !hit; b++)
        for (size_t s = 0; s < sizeof splits / sizeof *splits && !hit; s++)
            for (size_t k = 0; k < sizeof kinds / sizeof *kinds && !hit; k++)
                for (size_t z = 0; z < 2 && !hit; z++) {
                    snprintf(p, sizeof p, "%s/%s%s%s%s%s", dir, b ? "" : name,
                             b ? "" : "-", splits[s], kinds[k], suffixes[z]);
                    hit = same_file(save, p);
                }
    if (hit)
        usage_error(
            "--save %s is a file of the dataset %s in %s; saving would replace it", save,
            name, dir);
}

/* Open the splits of a dataset: IDX files through mlp_dataset_open, or the
 * course's NAME-{train,valid,test}.npz archives. Any of the out-pointers
 * may be NULL. */
static void open_dataset(const char *dir, const char *name, int32_t valid_size,
                         mlp_dataset **train, mlp_dataset **valid, mlp_dataset **test)
{
    if (mlp_dataset_exists(dir, name)) {
        CHECK(mlp_dataset_open(train, valid, test, dir, name, valid_size),
              "opening dataset %s in %s", name, dir);
        return;
    }
    if (!npz_exists(dir, name, "train"))
        die("no dataset %s in %s (no %s-train-images-idx3-ubyte[.gz] nor %s-train.npz)",
            name, dir, name, name);
    char p[PATH_CAP], map[PATH_CAP];
    snprintf(map, sizeof map, "%s/%s-mapping.txt", dir, name);
    mlp_dataset *tr = NULL, *va = NULL, *te = NULL;
    snprintf(p, sizeof p, "%s/%s-train.npz", dir, name);
    CHECK(mlp_dataset_load_npz(&tr, p, 0), "reading %s", p);
    const int32_t k = mlp_dataset_num_classes(tr);
    if (npz_exists(dir, name, "valid")) {
        if (valid) {
            snprintf(p, sizeof p, "%s/%s-valid.npz", dir, name);
            CHECK(mlp_dataset_load_npz(&va, p, k), "reading %s", p);
        }
    } else {
        /* Carved off the end of training whether or not it is wanted, as
         * mlp_dataset_open does, so that the training split is the same
         * for train and for eval --split train. */
        mlp_dataset *a = NULL, *b = NULL;
        if (valid_size < 1 || valid_size >= mlp_dataset_size(tr))
            usage_error("--valid-size %d: the training file has %d images",
                        (int)valid_size, (int)mlp_dataset_size(tr));
        CHECK(mlp_dataset_split(tr, mlp_dataset_size(tr) - valid_size, &a, &b),
              "carving a validation split");
        mlp_dataset_destroy(tr);
        tr = a;
        va = b;
    }
    if (valid) {
        maybe_mapping(va, map);
        *valid = va;
    } else {
        mlp_dataset_destroy(va);
    }
    if (test) {
        snprintf(p, sizeof p, "%s/%s-test.npz", dir, name);
        CHECK(mlp_dataset_load_npz(&te, p, k), "reading %s", p);
        maybe_mapping(te, map);
        *test = te;
    }
    maybe_mapping(tr, map);
    if (train)
        *train = tr;
    else
        mlp_dataset_destroy(tr);
}

/* DIR/NAME-mapping.txt beside an image file named NAME-{train,valid,test}-...
 * or NAME-{train,valid,test}.npz, when it exists. */
static const char *guess_mapping(const char *images, char *buf, size_t cap)
{
    static const char *const splits[] = {"-train", "-valid", "-test"};
    const char *base = strrchr(images, '/');
    base = base ? base + 1 : images;
    for (size_t i = 0; i < 3; i++) {
        const char *at = strstr(base, splits[i]);
        if (at) {
            snprintf(buf, cap, "%.*s-mapping.txt", (int)(at - images), images);
            if (is_file(buf))
                return buf;
        }
    }
    return NULL;
}

/* ---- models ----------------------------------------------------------------- */

static const char *const rule_names[] = {"sgd",  "momentum", "nesterov", "rmsprop",
                                         "adam", "adamw",    "adagrad"};
static const mlp_rule rule_values[] = {
    MLP_RULE_SGD,  MLP_RULE_MOMENTUM, MLP_RULE_NESTEROV, MLP_RULE_RMSPROP,
    MLP_RULE_ADAM, MLP_RULE_ADAMW,    MLP_RULE_ADAGRAD};

static const char *rule_name(mlp_rule r)
{
    for (size_t i = 0; i < sizeof rule_values / sizeof rule_values[0]; i++)
        if (rule_values[i] == r)
            return rule_names[i];
    return "unknown";
}

static mlp_model *load_model(const char *path, mlp_optimizer **opt)
{
    if (!path)
        usage_error("--model FILE is required");
    mlp_model *m = NULL;
    CHECK(mlp_model_load_with_optimizer(&m, opt, path), "loading %s", path);
    return m;
}

static int32_t model_classes(mlp_model *m)
{
    int rank;
    int32_t d[MLP_MAX_RANK];
    CHECK(mlp_model_output_shape(m, -1, &rank, d), "reading the model's output shape");
    if (mlp_model_layer_count(m) == 0 || rank != 1)
        die("the model's output is not a vector of class scores");
    return d[0];
}

/* "[1,28,28]": `rank` extents, as the model summary prints shapes. */
static void shape_text(char *buf, size_t cap, int rank, const int32_t *d)
{
    size_t n = (size_t)snprintf(buf, cap, "[");
    for (int i = 0; i < rank && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%d", i ? "," : "", (int)d[i]);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

/* Whether the samples of `ds`, read from `what`, do not fit the model; if so
 * `msg` gets a message naming both shapes. The model takes a batch as
 * [N, input dims] or as [N, their product], so the value counts decide. A
 * table (rows of features) also gets a hint when one column too many may be
 * its target (`target`: --target, or NULL). */
static int misfit(const mlp_model *m, const mlp_dataset *ds, const char *what,
                  const char *target, char *msg, size_t cap)
{
    int rank;
    int32_t d[MLP_MAX_RANK];
    CHECK(mlp_model_input_shape(m, &rank, d), "reading the model's input shape");
    int64_t want = 1;
    for (int i = 0; i < rank; i++)
        want *= d[i];
    const int64_t got = mlp_dataset_sample_size(ds);
    if (got == want)
        return 0;
    char ms[96], ds_shape[96];
    shape_text(ms, sizeof ms, rank, d);
    const int drank = mlp_dataset_sample_rank(ds);
    if (drank == 1 && rank == 1) /* a table for a table model: features */
        snprintf(msg, cap, "%s: %s: rows of %lld features, but the model takes %lld%s",
                 command, what, (long long)got, (long long)want,
                 got == want + 1 && !target
                     ? " (is one column the target? name it with --target)"
                     : "");
    else {
        int32_t dd[MLP_MAX_RANK];
        for (int i = 0; i < drank && i < MLP_MAX_RANK; i++)
            dd[i] = mlp_dataset_sample_dim(ds, i);
        shape_text(ds_shape, sizeof ds_shape, drank, dd);
        snprintf(msg, cap,
                 "%s: %s: samples of shape %s (%lld values), but the model's input is %s "
                 "(%lld values)",
                 command, what, ds_shape, (long long)got, ms, (long long)want);
    }
    return 1;
}

/* Fail unless the samples of `ds` fit the model (see misfit). Called as soon
 * as the samples are read, before a label map is checked against the
 * model's classes: data meant for another model would otherwise be refused
 * for a label out of range, which hides the real mismatch. */
static void check_fit(const mlp_model *m, const mlp_dataset *ds, const char *what)
{
    if (mlp_model_layer_count(m) == 0)
        die("the model has no layers");
    char msg[1536];
    if (misfit(m, ds, what, NULL, msg, sizeof msg))
        leave(1, msg);
}

/* The message CHECK would give for a read of `what` that failed with `st`. */
static void read_error(char *msg, size_t cap, mlp_status st, const char *what)
{
    snprintf(msg, cap, "%s: reading %s: %s: %s", command, what, mlp_status_str(st),
             mlp_last_error());
}

/* Exit after the library refused labelled data (images with labels, a .npz
 * archive, a table with a target): `msg`, read_error's message, unless the
 * samples of `what`, read again without their labels (`probe`, consumed; NULL
 * when that failed too), do not fit the model. Data meant for another model
 * are often refused for a label out of its range, which hides the real
 * mismatch. */
static _Noreturn void load_failed(const mlp_model *m, char *msg, size_t cap,
                                  const char *what, const char *target,
                                  mlp_dataset *probe)
{
    if (probe)
        misfit(m, probe, what, target, msg, cap);
    mlp_dataset_destroy(probe);
    leave(1, msg);
}

/* Argmax and probability of the images [from, to), in batches (label[i] and
 * prob[i] for image i). */
static void predict_all(mlp_model *m, const mlp_dataset *ds, int32_t k, int32_t from,
                        int32_t to, int32_t *label, float *prob)
{
    if (from >= to)
        return;
    const int32_t n = to;
    const int32_t img =
        mlp_dataset_channels(ds) * mlp_dataset_height(ds) * mlp_dataset_width(ds);
    const int32_t bs = to - from < EVAL_BATCH ? to - from : EVAL_BATCH;
    mlp_tensor *x = NULL, *p = NULL;
    int32_t xd[2] = {bs, img}, pd[2] = {bs, k};
    CHECK(mlp_tensor_create(&x, 2, xd), "allocating a batch");
    CHECK(mlp_tensor_create(&p, 2, pd), "allocating a batch");
    int32_t *idx = malloc(sizeof *idx * (size_t)bs);
    if (!idx)
        die("out of memory");
    /* stepped by the rows taken: start + bs may pass INT32_MAX after the last */
    for (int32_t start = from, cnt = 0; start < n; start += cnt) {
        cnt = n - start < bs ? n - start : bs;
        if (cnt != bs) { /* the last, smaller batch */
            mlp_tensor_destroy(x);
            mlp_tensor_destroy(p);
            xd[0] = pd[0] = cnt;
            CHECK(mlp_tensor_create(&x, 2, xd), "allocating a batch");
            CHECK(mlp_tensor_create(&p, 2, pd), "allocating a batch");
        }
        for (int32_t i = 0; i < cnt; i++)
            idx[i] = start + i;
        CHECK(mlp_dataset_gather(ds, idx, cnt, mlp_tensor_data(x), NULL),
              "gathering images");
        CHECK(mlp_model_predict(m, x, p), "predicting");
        const float *pr = mlp_tensor_data_const(p);
        for (int32_t i = 0; i < cnt; i++) {
            int32_t best = 0;
            for (int32_t c = 1; c < k; c++)
                if (pr[(int64_t)i * k + c] > pr[(int64_t)i * k + best])
                    best = c;
            label[start + i] = best;
            prob[start + i] = pr[(int64_t)i * k + best];
        }
    }
    free(idx);
    mlp_tensor_destroy(x);
    mlp_tensor_destroy(p);
}

/* ---- the SPEC grammar ----------------------------------------------------------- */

/* Parse "N" (>= lo) from *s, advancing it. */
static int take_int(const char **s, int32_t lo, int32_t *out)
{
    char *end;
    errno = 0;
    long v = strtol(*s, &end, 10);
    if (end == *s || errno || v < lo || v > INT32_MAX || **s == '+' || **s == '-')
        return 0;
    *out = (int32_t)v;
    *s = end;
    return 1;
}

static int take_float(const char **s, float *out)
{
    char *end;
    errno = 0;
    double v = strtod(*s, &end);
    if (end == *s || errno || !isfinite(v))
        return 0;
    *out = (float)v;
    *s = end;
    return 1;
}

/* A trailing "/nobias" at *a: consume it and return 0; otherwise return 1
 * (the layer keeps its bias). */
static int take_bias(const char **a)
{
    if (strcmp(*a, "/nobias") != 0)
        return 1;
    *a += strlen("/nobias");
    return 0;
}

/* "/sS", "/pP", "/dD" modifiers after a window, up to the end or to a final
 * "/nobias" (left for the caller: a convolution takes it, a pool refuses it). */
static int take_modifiers(const char **s, int32_t *stride, int32_t *pad, int32_t *dil)
{
    while (**s == '/' && strcmp(*s, "/nobias") != 0) {
        char c = (*s)[1];
        *s += 2;
        int32_t *dst = c == 's' ? stride : c == 'p' ? pad : c == 'd' && dil ? dil : NULL;
        if (!dst || !take_int(s, c == 'p' ? 0 : 1, dst))
            return 0;
    }
    return 1;
}

/* Build one layer from a token; `rank` is the current output rank (for bn).
 * Returns NULL with *why set when the token does not parse. */
static mlp_layer *layer_from_token(const char *tok, int rank, const char **why)
{
    mlp_layer *l = NULL;
    mlp_status st = MLP_STATUS_OK;
    const char *colon = strchr(tok, ':');
    size_t nlen = colon ? (size_t)(colon - tok) : strlen(tok);
    const char *a = colon ? colon + 1 : NULL;
#define IS(name) (strlen(name) == nlen && strncmp(tok, name, nlen) == 0)
    *why = "unknown layer";
    if (IS("dense")) {
        int32_t units;
        *why = "want dense:N[/nobias]";
        if (!a || !take_int(&a, 1, &units))
            return NULL;
        const int bias = take_bias(&a);
        if (*a)
            return NULL;
        st = mlp_layer_create_dense(&l, units);
        if (st == MLP_STATUS_OK && !bias)
            st = mlp_layer_set_use_bias(l, 0);
    } else if (IS("conv")) {
        int32_t f, kh, kw, s = 1, p = 0, d = 1;
        *why = "want conv:FxKHxKW or conv:FxK, then [/sS][/pP][/dD][/nobias]";
        if (!a || !take_int(&a, 1, &f) || *a++ != 'x' || !take_int(&a, 1, &kh))
            return NULL;
        kw = kh;
        if (*a == 'x') {
            a++;
            if (!take_int(&a, 1, &kw))
                return NULL;
        }
        if (!take_modifiers(&a, &s, &p, &d))
            return NULL;
        const int bias = take_bias(&a);
        if (*a)
            return NULL;
        st = mlp_layer_create_conv2d(&l, 0, f, kh, kw);
        if (st == MLP_STATUS_OK)
            st = mlp_layer_set_conv2d(l, s, s, p, p, d, d);
        if (st == MLP_STATUS_OK && !bias)
            st = mlp_layer_set_use_bias(l, 0);
    } else if (IS("maxpool") || IS("avgpool")) {
        int32_t k, s, p = 0;
        *why = "want maxpool:K[/sS][/pP] (or avgpool)";
        if (!a || !take_int(&a, 1, &k))
            return NULL;
        s = k;
        if (!take_modifiers(&a, &s, &p, NULL) || *a)
            return NULL;
        st = tok[0] == 'm' ? mlp_layer_create_maxpool(&l, k, k, s, p)
                           : mlp_layer_create_avgpool(&l, k, k, s, p);
    } else if (IS("gap") && !a) {
        st = mlp_layer_create_global_avgpool(&l);
    } else if (IS("bn") && !a) {
        st = rank == 3 ? mlp_layer_create_batchnorm_spatial(&l)
                       : mlp_layer_create_batchnorm(&l);
    } else if (IS("dropout")) {
        float p;
        *why = "want dropout:P with P, the probability of dropping, in [0, 1)";
        if (!a || !take_float(&a, &p) || *a || !(p >= 0.0f && p < 1.0f))
            return NULL;
        st = mlp_layer_create_dropout_p(&l, p);
    } else if (IS("relu") && !a) {
        st = mlp_layer_create_relu(&l);
    } else if (IS("selu") && !a) {
        st = mlp_layer_create_selu(&l);
    } else if (IS("tanh") && !a) {
        st = mlp_layer_create_tanh(&l);
    } else if (IS("sigmoid") && !a) {
        st = mlp_layer_create_sigmoid(&l);
    } else if (IS("softplus") && !a) {
        st = mlp_layer_create_softplus(&l);
    } else if (IS("standardize") && !a) {
        st = mlp_layer_create_standardize(&l);
    } else if (IS("flatten") && !a) {
        st = mlp_layer_create_flatten(&l);
    } else if (IS("elu") || IS("leaky_relu")) {
        float alpha = tok[0] == 'e' ? 1.0f : 0.01f;
        *why = "want elu[:A] or leaky_relu[:A]";
        if (a && (!take_float(&a, &alpha) || *a))
            return NULL;
        st = tok[0] == 'e' ? mlp_layer_create_elu(&l, alpha)
                           : mlp_layer_create_leaky_relu(&l, alpha);
    } else {
        if (a && (IS("gap") || IS("bn") || IS("relu") || IS("selu") || IS("tanh") ||
                  IS("sigmoid") || IS("softplus") || IS("standardize") || IS("flatten")))
            *why = "this layer takes no argument";
        return NULL;
    }
#undef IS
    if (st != MLP_STATUS_OK) {
        *why = mlp_last_error();
        return NULL;
    }
    return l;
}

/* The next layer of a SPEC being cut at its commas, with its leading spaces
 * skipped, or NULL after the last. Unlike strtok, an empty token between two
 * commas or at an end is returned (as ""), so that it can be refused rather
 * than skipped. */
static char *next_token(char **rest)
{
    char *tok = *rest;
    if (!tok)
        return NULL;
    char *comma = strchr(tok, ',');
    *rest = comma ? comma + 1 : NULL;
    if (comma)
        *comma = '\0';
    while (*tok == ' ')
        tok++;
    return tok;
}

/* Check a SPEC's syntax before any data are read (exit 2 on an error). */
static void check_spec(const char *spec)
{
    if (spec[strspn(spec, " ")] == '\0')
        usage_error("--arch: empty SPEC");
    char *copy = strdup(spec);
    if (!copy)
        die("out of memory");
    int i = 0;
    for (char *rest = copy, *tok = next_token(&rest); tok; tok = next_token(&rest), i++) {
        if (!*tok)
            usage_error("--arch: layer %d of '%s' is empty (two commas in a row, or one "
                        "at an end)",
                        i + 1, spec);
        const char *why = NULL;
        mlp_layer *l = layer_from_token(tok, 1, &why);
        if (!l)
            usage_error("--arch: layer %d '%s': %s", i + 1, tok, why);
        mlp_layer_destroy(l);
    }
    free(copy);
}

/* The model a SPEC describes, for samples of shape `in` (rank 3 for images,
 * 1 for the rows of a table). Exit 2 when the SPEC does not parse or a
 * layer does not fit its input. The first `added` layers of the SPEC are
 * the command's own (a table's standardize layer): messages number the
 * layers as the user's --arch does. */
static mlp_model *build_model(const char *spec, int added, int in_rank, const int32_t *in,
                              uint64_t seed)
{
    mlp_model *m = NULL;
    CHECK(mlp_model_create(&m, in_rank, in, seed), "creating the model");
    char *copy = strdup(spec);
    if (!copy)
        die("out of memory");
    int i = 0;
    for (char *rest = copy, *tok = next_token(&rest); tok; tok = next_token(&rest), i++) {
        int rank;
        int32_t d[MLP_MAX_RANK];
        CHECK(mlp_model_output_shape(m, -1, &rank, d), "reading the model");
        const char *why = NULL;
        char msg[1200];
        mlp_layer *l = layer_from_token(tok, rank, &why);
        /* train fits a table's first layer alone (mlp_model_fit_standardize):
         * anywhere else, or on images, a standardize layer would stay the
         * identity */
        if (l && mlp_layer_get_kind(l) == MLP_LAYER_STANDARDIZE &&
            (i > 0 || in_rank != 1)) {
            mlp_layer_destroy(l);
            l = NULL;
            why = in_rank != 1 ? "standardize is for --csv tables, whose features train "
                                 "scales (images are scaled to [0, 1])"
                               : "standardize comes first: train sets it from the "
                                 "training rows, and only there";
        }
        mlp_status st = l ? mlp_model_add(m, l) : MLP_STATUS_OK;
        if (!l)
            snprintf(msg, sizeof msg, "--arch: layer %d '%.100s': %s", i + 1 - added, tok,
                     why);
        else if (st != MLP_STATUS_OK)
            snprintf(msg, sizeof msg, "--arch: layer %d '%.100s' does not fit: %s: %s",
                     i + 1 - added, tok, mlp_status_str(st), mlp_last_error());
        if (!l || st != MLP_STATUS_OK) {
            /* Free everything first: LeakSanitizer checks the exits too. */
            mlp_model_destroy(m);
            free(copy);
            usage_error("%s", msg);
        }
    }
    free(copy);
    return m;
}

/* ---- train ----------------------------------------------------------------------- */

/* The best epoch so far: the highest validation accuracy, ties broken by the
 * lower validation loss, for a classifier; the lowest validation loss for a
 * regression. Without a validation set every epoch is "better", so the last
 * one is kept. The image path saves the file at every improvement (an
 * interrupted run keeps its best model); the CSV path keeps the parameters
 * in memory and writes the file once, after training, so that a run that
 * fails leaves no file behind. */
typedef struct train_state {
    const char *save;
    double best_acc, best_loss;
    int32_t best_epoch;
    int quiet;
    int regress;
    float *params, *state; /* snapshot of the best epoch, or NULL: save the file */
    int64_t n_params, n_state;
    mlp_epoch_stats best; /* the best epoch's figures */
} train_state;

static int better_epoch(const train_state *t, const mlp_epoch_stats *s)
{
    if (t->best_epoch == 0 || isnan(s->valid_error))
        return 1;
    if (t->regress)
        return s->valid_error < t->best_loss;
    return s->valid_acc > t->best_acc ||
           (s->valid_acc == t->best_acc && s->valid_error < t->best_loss);
}

static int on_epoch(const mlp_epoch_stats *s, mlp_model *m, void *user)
{
    train_state *t = user;
    int better = better_epoch(t, s);
    if (better) {
        t->best_acc = s->valid_acc;
        t->best_loss = s->valid_error;
        t->best_epoch = s->epoch;
        t->best = *s;
        if (t->params) {
            CHECK(mlp_model_get_params(m, t->params, t->n_params), "copying the model");
            CHECK(mlp_model_get_state(m, t->state, t->n_state), "copying the model");
        } else if (exd_writes()) {
            CHECK(mlp_model_save(m, t->save), "saving %s", t->save);
        }
    }
    char wait[48] = ""; /* the time this rank waited for the gradients' sums */
    if (exd_active())
        snprintf(wait, sizeof wait, "  (all-reduce wait %.2f s)", s->comm_wait_seconds);
    if (!t->quiet) {
        if (t->regress)
            printf("epoch %3d  train loss %.4f rmse %.4f  valid loss %.4f rmse %.4f "
                   "r2 %.4f  %.2f s%s%s\n",
                   (int)s->epoch, s->train_error, s->train_rmse, s->valid_error,
                   s->valid_rmse, s->valid_r2, s->train_seconds + s->eval_seconds, wait,
                   better ? "  (best)" : "");
        else
            printf("epoch %3d  train error %.4f acc %.4f  valid error %.4f acc %.4f  "
                   "lr %.3g  %.1f s%s%s\n",
                   (int)s->epoch, s->train_error, s->train_acc, s->valid_error,
                   s->valid_acc, s->learning_rate, s->train_seconds + s->eval_seconds,
                   wait, better ? (t->params ? "  (best)" : "  (saved)") : "");
        fflush(stdout);
    }
    exd_agree(0, NULL); /* meets rank 0 when saving the file failed there */
    return 0;
}

/* Under --distributed: check that every rank got this far (each read the
 * data and built the model on its own) with the same model and row counts
 * (the datasets may be NULL), then give the model the MPI hook, which makes
 * rank 0's parameters everyone's. */
static void distribute(mlp_model *m, const mlp_dataset *a, const mlp_dataset *b,
                       const mlp_dataset *c)
{
    exd_agree(0, NULL);
    exd_same(command, "the model's parameters", mlp_model_param_count(m));
    exd_same(command, "the model's state", mlp_model_state_count(m));
    exd_same(command, "the rows of the data", a ? mlp_dataset_size(a) : 0);
    exd_same(command, "the validation rows", b ? mlp_dataset_size(b) : 0);
    exd_same(command, "the test rows", c ? mlp_dataset_size(c) : 0);
    CHECK(exd_attach(m), "distributing the model");
}

/* A training that diverged keeps its best epoch: say so (rank 0). */
static void check_training(mlp_status st, int32_t best_epoch)
{
    if (st == MLP_STATUS_NUMERIC && best_epoch > 0) {
        if (exd_writes())
            fprintf(stderr, "%s: training diverged (%s); keeping epoch %d\n", command,
                    mlp_last_error(), (int)best_epoch);
    } else if (st != MLP_STATUS_OK &&
               strstr(mlp_last_error(), "drop_last in mlp_fit_options")) {
        /* an epoch's short last batch that the model cannot train on */
        char msg[1024];
        snprintf(msg, sizeof msg,
                 "%s: training: %s: %s\n%s: --drop-last leaves that batch out", command,
                 mlp_status_str(st), mlp_last_error(), command);
        leave(1, msg);
    } else {
        CHECK(st, "training");
    }
}

/* ---- tables (CSV) ---------------------------------------------------------------- */

/* Defaults of train --csv, tuned on the tabular sets of the README (iris,
 * breast cancer, diabetes: 100 to 500 rows, 4 to 30 features): Adam at its
 * usual rate, small batches so that a few hundred rows still make a few
 * hundred steps, and enough epochs for the best validation epoch to come
 * before the end; each run takes well under a second. */
#define CSV_EPOCHS 300
#define CSV_BATCH 16
#define CSV_RULE "adam"
/* A sixth of the rows: on the small tables this is for, 0.10 leaves too few
 * rows (12 of iris's 120) to tell epochs apart, 0.20 takes too many from
 * training. */
#define CSV_VALID_FRACTION 0.15

/* The training flags shared by the image and the table paths. */
typedef struct train_args {
    const char *arch, *save, *rule;
    int32_t epochs, batch;
    opt_dbl lr, momentum, wd; /* unless given, the rule's defaults */
    uint64_t seed;
    int quiet;
    int drop_last;         /* leave out each epoch's short last batch */
    double max_train_loss; /* the divergence guard (mlp_fit_options), 0: off */
} train_args;

/* The CSV options for a table whose target column is `target` (a header name,
 * or a 0-based index when it is all digits), or that has none (NULL). */
static void csv_options(mlp_csv_options *o, int32_t task, const char *target,
                        const char *sep)
{
    CHECK(mlp_csv_options_init(o), "initialising the CSV options");
    o->task = task;
    if (sep) {
        if (strcmp(sep, "tab") == 0 || strcmp(sep, "\\t") == 0)
            o->separator = '\t';
        else if (strlen(sep) == 1 && sep[0] != '"' && (unsigned char)sep[0] < 128)
            o->separator = sep[0];
        else
            usage_error("--separator: '%s' is not one ASCII character other than a "
                        "quote (or 'tab')",
                        sep);
    }
    if (!target)
        return;
    if (!*target)
        usage_error("--target: empty column name");
    size_t digits = strspn(target, "0123456789");
    if (target[digits] == '\0') {
        errno = 0;
        long v = strtol(target, NULL, 10);
        if (errno || v > INT32_MAX)
            usage_error("--target: column index %s is too large", target);
        o->target_index = (int32_t)v;
    } else {
        o->target_name = target;
    }
}

static mlp_dataset *load_csv(const char *path, const mlp_csv_options *o)
{
    mlp_dataset *ds = NULL;
    CHECK(mlp_dataset_load_csv(&ds, path, o), "reading %s", path);
    return ds;
}

/* A small generator for the validation split (splitmix64). */
static uint64_t next_random(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Carve a random `fraction` of the rows of *train into *valid: tables are
 * often sorted (by class, by date), so the rows are shuffled first, and a
 * class dataset gives each class its share (round(fraction * rows of the
 * class)), so that a small validation set still sees every class. */
static void carve_valid(mlp_dataset **train, mlp_dataset **valid, double fraction,
                        uint64_t seed)
{
    const int32_t n = mlp_dataset_size(*train);
    int32_t *idx = malloc(sizeof *idx * (size_t)n);
    int32_t *order = malloc(sizeof *order * (size_t)n);
    if (!idx || !order)
        die("out of memory");
    for (int32_t i = 0; i < n; i++)
        idx[i] = i;
    uint64_t rs = seed ^ 0x7a11d5ull;
    for (int32_t i = n - 1; i > 0; i--) {
        int32_t j = (int32_t)(next_random(&rs) % (uint64_t)(i + 1));
        int32_t t = idx[i];
        idx[i] = idx[j];
        idx[j] = t;
    }
    /* order: the validation rows first (nv of them), then the training rows. */
    int32_t nv = 0, nt = 0;
    const int32_t k = mlp_dataset_num_classes(*train);
    if (k > 0) {
        int32_t *count = calloc((size_t)k, sizeof *count),
                *taken = calloc((size_t)k, sizeof *taken);
        if (!count || !taken)
            die("out of memory");
        for (int32_t i = 0; i < n; i++)
            count[mlp_dataset_label(*train, i)]++;
        for (int32_t i = 0; i < n; i++) {
            const int32_t c = mlp_dataset_label(*train, idx[i]);
            if (taken[c] < (int32_t)floor(fraction * count[c] + 0.5)) {
                taken[c]++;
                order[nv++] = idx[i];
            } else {
                idx[nt++] = idx[i];
            }
        }
        free(count);
        free(taken);
        memcpy(order + nv, idx, sizeof *idx * (size_t)nt);
    } else {
        nv = (int32_t)floor(fraction * n + 0.5);
        memcpy(order, idx, sizeof *idx * (size_t)n);
    }
    if (nv < 1 || nv >= n)
        usage_error("--valid-fraction %g: %d of the %d training rows would validate; "
                    "give a fraction that leaves rows on both sides, or --valid-csv",
                    fraction, (int)nv, (int)n);
    mlp_dataset *tr = NULL, *va = NULL;
    CHECK(mlp_dataset_subset(*train, order, nv, &va), "carving the validation rows");
    CHECK(mlp_dataset_subset(*train, order + nv, n - nv, &tr),
          "carving the training rows");
    mlp_dataset_destroy(*train);
    *train = tr;
    *valid = va;
    free(idx);
    free(order);
}

static mlp_rule parse_rule(const char *rule)
{
    for (size_t i = 0; i < sizeof rule_names / sizeof rule_names[0]; i++)
        if (strcmp(rule, rule_names[i]) == 0)
            return rule_values[i];
    usage_error("--rule: unknown rule '%s'", rule);
}

static mlp_optimizer *make_optimizer(mlp_model *m, const train_args *a)
{
    mlp_optimizer *opt = NULL;
    CHECK(mlp_optimizer_create(&opt, parse_rule(a->rule), m), "creating the optimizer");
    if (a->lr.given)
        check_code(mlp_optimizer_set_learning_rate(opt, a->lr.value), 2, "--lr");
    if (a->momentum.given)
        check_code(mlp_optimizer_set(opt, MLP_OPTIM_MOMENTUM, a->momentum.value), 2,
                   "--momentum");
    if (a->wd.given)
        check_code(mlp_optimizer_set(opt, MLP_OPTIM_WEIGHT_DECAY, a->wd.value), 2,
                   "--weight-decay");
    CHECK(mlp_model_set_noise_seed(m, a->seed ^ 0x5eedull), "seeding dropout");
    return opt;
}

/* The loss a --loss NAME gives for the task, or a usage error. */
static mlp_loss_kind parse_loss(const char *name, int regress)
{
    if (!name)
        return regress ? MLP_LOSS_MSE : MLP_LOSS_SOFTMAX_XENT;
    mlp_loss_kind kind = 0;
    for (int k = 1; k <= 16; k++) {
        const char *n = mlp_loss_kind_name((mlp_loss_kind)k);
        if (n && strcmp(n, name) == 0)
            kind = (mlp_loss_kind)k;
    }
    if (!kind)
        usage_error("--loss: unknown loss '%s' (softmax_xent for --task classify; mse, "
                    "huber or mae for --task regress)",
                    name);
    if (kind == MLP_LOSS_BCE_LOGITS)
        usage_error("--loss bce_logits: mlpnet trains classifiers with softmax_xent only "
                    "(a binary BCE model has one output, which cannot carry the two "
                    "class names)");
    if (regress && kind == MLP_LOSS_SOFTMAX_XENT)
        usage_error("--loss %s does not fit --task regress (use mse, huber or mae)",
                    name);
    if (!regress && kind != MLP_LOSS_SOFTMAX_XENT)
        usage_error("--loss %s does not fit --task classify (use softmax_xent)", name);
    return kind;
}

typedef struct csv_args {
    const char *csv, *target, *task, *loss, *valid_csv, *test_csv, *sep;
    opt_dbl valid_fraction, huber_delta;
    int no_standardize;
} csv_args;

/* Print the figures of a model on a table, as eval --csv does. */
static void print_metrics(const char *what, const mlp_metrics *mt, int regress)
{
    if (regress)
        printf("%srmse %.4f, mae %.4f, r2 %.4f", what, mt->rmse, mt->mae, mt->r2);
    else
        printf("%saccuracy %.4f, error %.4f", what, mt->accuracy, mt->loss);
}

/* train --csv: a table, one target column, a classifier or a regression. */
/* Whether every one of the n names reads as a number as a whole (strtod):
 * the header of a table that may have none, whose first row of values was
 * taken as its column names. */
static int header_all_numbers(const char *const *names, int32_t n)
{
    for (int32_t j = 0; j < n; j++) {
        char *end = NULL;
        if (!names[j] || !names[j][0])
            return 0;
        (void)strtod(names[j], &end);
        if (*end != '\0')
            return 0;
    }
    return n > 0;
}

static int train_csv(const train_args *a, const csv_args *c)
{
    if (!c->task)
        usage_error("--task classify or --task regress is required with --csv "
                    "(integers alone cannot tell a class from a quantity)");
    int regress;
    if (strcmp(c->task, "classify") == 0)
        regress = 0;
    else if (strcmp(c->task, "regress") == 0)
        regress = 1;
    else
        usage_error("--task: '%s' is not classify or regress", c->task);
    if (!c->target)
        usage_error("--target COLUMN is required with --csv");
    if (c->valid_csv && c->valid_fraction.given)
        usage_error("give --valid-csv or --valid-fraction, not both");
    const double fraction =
        c->valid_fraction.given ? c->valid_fraction.value : CSV_VALID_FRACTION;
    if (!(fraction >= 0.0 && fraction < 1.0))
        usage_error("--valid-fraction %g: want a fraction in [0, 1)", fraction);
    const mlp_loss_kind loss = parse_loss(c->loss, regress);
    if (c->huber_delta.given && loss != MLP_LOSS_HUBER)
        usage_error("--huber-delta needs --loss huber");
    if (c->huber_delta.given && !(c->huber_delta.value > 0.0))
        usage_error("--huber-delta %g: want a number > 0", c->huber_delta.value);
    (void)parse_rule(a->rule);
    check_spec(a->arch);

    mlp_csv_options o;
    csv_options(&o, regress ? MLP_CSV_REGRESS : MLP_CSV_CLASSIFY, c->target, c->sep);
    mlp_dataset *train = load_csv(c->csv, &o), *valid = NULL, *test = NULL;
    const int32_t k = regress ? 1 : mlp_dataset_num_classes(train);
    if (!regress && k < 2) { /* a softmax over one class is always 1 */
        char msg[MLP_CSV_MAX_FIELD + PATH_CAP];
        snprintf(msg, sizeof msg,
                 "%s: every row's target is \"%s\"; a classifier needs at least 2 "
                 "classes",
                 c->csv, mlp_dataset_class_name(train, 0));
        mlp_dataset_destroy(train); /* LeakSanitizer checks the exits too */
        die("%s", msg);
    }
    const char **names = NULL;
    if (!regress) {
        names = malloc(sizeof *names * (size_t)k);
        if (!names)
            die("out of memory");
        for (int32_t i = 0; i < k; i++)
            names[i] = mlp_dataset_class_name(train, i);
        o.class_names = names; /* the other files get the same class ids */
        o.num_class_names = k;
    }
    /* the other tables' columns are taken by the training table's header
     * names, in whatever order they come */
    const int32_t nfeat = (int32_t)mlp_dataset_sample_size(train);
    const char **features = malloc(sizeof *features * (size_t)nfeat);
    if (!features)
        die("out of memory");
    for (int32_t j = 0; j < nfeat; j++)
        features[j] = mlp_dataset_feature_name(train, j);
    if (features[0] && header_all_numbers(features, nfeat) && exd_rank() == 0)
        fprintf(stderr,
                "%s: note: every feature column of %s is named by a number (the first "
                "is \"%s\"): if the file has no header row, its first row was read as "
                "the header and is not in the data\n",
                command, c->csv, features[0]);
    if (features[0]) {
        o.feature_names = features;
        o.num_features = nfeat;
    } else if (exd_rank() == 0) {
        fprintf(stderr,
                "%s: note: the header of %s does not give each feature column a name "
                "of its own (an empty name, as pandas writes for its index unless "
                "to_csv is given index=False, or a name given twice), so the model "
                "keeps no column names: eval, predict and the other tables read the "
                "columns in this table's order\n",
                command, c->csv);
    }
    if (c->valid_csv)
        valid = load_csv(c->valid_csv, &o);
    if (c->test_csv)
        test = load_csv(c->test_csv, &o);
    free(features);
    o.feature_names = NULL;
    o.num_features = 0;
    if (!c->valid_csv && fraction > 0.0) {
        carve_valid(&train, &valid, fraction, a->seed);
        for (int32_t i = 0; names && i < k; i++) /* the old training set is gone */
            names[i] = mlp_dataset_class_name(train, i);
    }

    /* The model: a standardize layer first (unless the SPEC has one or
     * --no-standardize), then the SPEC, whose last layer gives the outputs. */
    const int32_t nf = (int32_t)mlp_dataset_sample_size(train);
    const char *first = a->arch + strspn(a->arch, " ");
    const int has_std =
        strncmp(first, "standardize", 11) == 0 && (first[11] == ',' || first[11] == '\0');
    char *spec = malloc(strlen(a->arch) + 16);
    if (!spec)
        die("out of memory");
    const int added = !has_std && !c->no_standardize;
    sprintf(spec, "%s%s", added ? "standardize," : "", a->arch);
    mlp_model *m = build_model(spec, added, 1, &nf, a->seed);
    int orank;
    int32_t od[MLP_MAX_RANK];
    CHECK(mlp_model_output_shape(m, -1, &orank, od), "reading the model");
    if (orank != 1 || od[0] != k) {
        char why[64];
        if (regress)
            snprintf(why, sizeof why, "a regression has one target");
        else
            snprintf(why, sizeof why, "the target has %d classes", (int)k);
        mlp_model_destroy(m); /* LeakSanitizer checks the exits too */
        usage_error("--arch: the model outputs %s%d values but %s (end the SPEC with "
                    "dense:%d)",
                    orank == 1 ? "" : "a tensor, not ", (int)od[0], why, (int)k);
    }
    if (mlp_layer_get_kind(mlp_model_layer(m, 0)) == MLP_LAYER_STANDARDIZE)
        CHECK(mlp_model_fit_standardize(m, train), "standardising the features");
    CHECK(mlp_model_set_loss(m, loss, c->huber_delta.given ? c->huber_delta.value : 0.0),
          "setting the loss");
    if (names)
        CHECK(mlp_model_set_class_names(m, names, k), "naming the classes");
    mlp_optimizer *opt = make_optimizer(m, a);

    if (!a->quiet) {
        char sum[8192];
        CHECK(mlp_model_summary(m, sum, sizeof sum, NULL), "summarising the model");
        printf("table %s: %d train, %d valid%s rows of %d features, ", c->csv,
               (int)mlp_dataset_size(train), (int)mlp_dataset_size(valid),
               c->valid_csv ? "" : " (carved)", (int)nf);
        if (regress)
            printf("target %s (regression, loss %s)\n", c->target,
                   mlp_loss_kind_name(loss));
        else
            printf("target %s, %d classes (loss %s)\n", c->target, (int)k,
                   mlp_loss_kind_name(loss));
        printf("%srule %s, learning rate %g, batch %d, %d epoch%s\n", sum, a->rule,
               mlp_optimizer_learning_rate(opt), (int)a->batch, (int)a->epochs,
               a->epochs == 1 ? "" : "s");
        fflush(stdout);
    }
    train_state ts = {.save = a->save, .quiet = a->quiet, .regress = regress};
    ts.n_params = mlp_model_param_count(m);
    ts.n_state = mlp_model_state_count(m);
    ts.params = malloc(sizeof(float) * (size_t)(ts.n_params + 1));
    ts.state = malloc(sizeof(float) * (size_t)(ts.n_state + 1));
    if (!ts.params || !ts.state)
        die("out of memory");
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = a->epochs;
    fo.batch_size = a->batch;
    fo.drop_last = a->drop_last;
    fo.max_train_loss = a->max_train_loss;
    fo.seed = a->seed;
    fo.on_epoch = on_epoch;
    fo.user = &ts;
    distribute(m, train, valid, test);
    double t0 = now();
    /* Two statements: the callback sets ts.best_epoch during the fit, and the
     * order in which a call's arguments are evaluated is unspecified. */
    const mlp_status fit_status = mlp_model_fit(m, opt, train, valid, &fo);
    check_training(fit_status, ts.best_epoch);
    CHECK(mlp_model_set_params(m, ts.params, ts.n_params), "restoring the best epoch");
    CHECK(mlp_model_set_state(m, ts.state, ts.n_state), "restoring the best epoch");
    if (exd_writes())
        CHECK(mlp_model_save(m, a->save), "saving %s", a->save);
    exd_agree(0, NULL); /* the test figures below are computed by every rank */
    const double secs = now() - t0;

    printf("best epoch %d: ", (int)ts.best_epoch);
    if (valid) {
        if (regress)
            printf("valid loss %.4f, rmse %.4f, r2 %.4f", ts.best.valid_error,
                   ts.best.valid_rmse, ts.best.valid_r2);
        else
            printf("valid accuracy %.4f, error %.4f", ts.best.valid_acc,
                   ts.best.valid_error);
    } else {
        printf("no validation rows, the last epoch is kept");
    }
    if (test) {
        mlp_metrics mt;
        CHECK(mlp_model_evaluate_metrics(m, test, EVAL_BATCH, &mt), "evaluating on %s",
              c->test_csv);
        print_metrics(", test ", &mt, regress);
    }
    printf(" (%.2f s); saved %s\n", secs, a->save);
    free(ts.params);
    free(ts.state);
    free(spec);
    free(names);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
    mlp_dataset_destroy(test);
    return 0;
}

/* ---- train ---------------------------------------------------------------------- */

/* The names a label map gave the images' classes go with the model, as a
 * table's labels do: predict and eval name the classes without the map.
 * Only when the map names every class (a model's class has a name). */
static void keep_class_names(mlp_model *m, const mlp_dataset *train, int32_t k)
{
    const char **names = malloc(sizeof *names * (size_t)k);
    if (!names)
        die("out of memory");
    int32_t named = 0;
    for (int32_t i = 0; i < k; i++) {
        names[i] = mlp_dataset_class_name(train, i);
        named += names[i] && names[i][0];
    }
    mlp_status st = named == k ? mlp_model_set_class_names(m, names, k) : MLP_STATUS_OK;
    free(names);
    CHECK(st, "naming the classes");
}

static int cmd_train(int argc, char **argv)
{
    const char *arch = NULL, *data_dir = NULL, *dataset = NULL, *save = NULL,
               *rule = NULL;
    int32_t threads = 1;
    opt_int epochs = {0}, batch = {0}, valid_size = {0}; /* defaults by data kind */
    opt_dbl lr = {0}, momentum = {0}, wd = {0};          /* defaults by rule */
    opt_dbl max_loss = {0};                              /* off */
    uint64_t seed = 123456;
    int quiet = 0, distributed = 0, flush = 0, drop_last = 0;
    csv_args c = {0};
    const flag flags[] = {
        {"arch", F_STR, &arch, "SPEC",
         "layers, e.g. conv:32x3x3/p1,relu,maxpool:2,dense:47 "
         "(see mlpnet(1))"},
        {"save", F_STR, &save, "FILE",
         "where to save the model of the best validation epoch"},
        {"data-dir", F_STR, &data_dir, "DIR", "data directory [$MLPNET_DATA_DIR]"},
        {"dataset", F_STR, &dataset, "NAME",
         "dataset name [emnist-bymerge47, emnist-balanced, emnist, "
         "fashion-mnist or mnist: the first present]"},
        {"csv", F_STR, &c.csv, "F", "train on a CSV table instead (header row)"},
        {"target", F_STR, &c.target, "COLUMN",
         "--csv: the target column, a name or a 0-based index (all digits)"},
        {"task", F_STR, &c.task, "TASK", "--csv: classify or regress (required)"},
        {"loss", F_STR, &c.loss, "NAME",
         "--csv: softmax_xent (classify); mse, huber or mae (regress) [the first]"},
        {"huber-delta", F_OPT_DBL, &c.huber_delta, "X",
         "--csv with --loss huber: where the square turns linear [1]"},
        {"valid-csv", F_STR, &c.valid_csv, "F", "--csv: the validation table"},
        {"valid-fraction", F_OPT_DBL, &c.valid_fraction, "P",
         "--csv: share of the rows, drawn at random, that validate instead [0.15]"},
        {"test-csv", F_STR, &c.test_csv, "F", "--csv: a table to report figures on"},
        {"no-standardize", F_BOOL, &c.no_standardize, NULL,
         "--csv: feed the features as they are"},
        {"separator", F_STR, &c.sep, "C", "--csv: the field separator [,]"},
        {"epochs", F_OPT_INT, &epochs, "N", "epochs to train [20; 300 with --csv]"},
        {"batch-size", F_OPT_INT, &batch, "N",
         "samples per training step [100; 16 with --csv]"},
        {"drop-last", F_BOOL, &drop_last, NULL,
         "leave out each epoch's last batch when it is smaller than the others "
         "(batch norm cannot train on a batch of one)"},
        {"max-train-loss", F_OPT_DBL, &max_loss, "X",
         "stop when a batch's mean training loss exceeds X, keeping the best "
         "epoch so far: a guard against divergence [off]"},
        {"rule", F_STR, &rule, "NAME",
         "sgd, momentum, nesterov, rmsprop, adam, adamw or "
         "adagrad [sgd; adam with --csv]"},
        {"lr", F_OPT_DBL, &lr, "X", "learning rate, >= 0 [the rule's default]"},
        {"momentum", F_OPT_DBL, &momentum, "X",
         "momentum, in [0, 1) (momentum, nesterov, rmsprop) [the rule's default]"},
        {"weight-decay", F_OPT_DBL, &wd, "X",
         "L2 weight decay, >= 0 (decoupled for adamw) [the rule's default]"},
        {"seed", F_U64, &seed, "N",
         "initialisation, shuffling and dropout seed [123456]"},
        {"threads", F_INT, &threads, "N", THREADS_HELP},
        {"flush-denormals", F_BOOL, &flush, NULL, FLUSH_HELP},
        {"valid-size", F_OPT_INT, &valid_size, "N",
         "validation images carved from the training "
         "set when there is no validation file [15800]"},
        {"quiet", F_BOOL, &quiet, NULL, "print only the final summary"},
        {"distributed", F_BOOL, &distributed, NULL,
         "train on every rank of an MPI job (mpirun -np P, srun -n P); "
         "rank 0 prints and writes"},
        {NULL, F_BOOL, NULL, NULL, NULL}};
    parse_flags(
        argc, argv, flags,
        "mlpnet train --arch SPEC --save FILE [--csv F --target COLUMN --task TASK] "
        "[OPTIONS]",
        "Train a model on a dataset of images, or on a CSV table (--csv), and save\n"
        "the model of the epoch with the best validation figures; then report\n"
        "that model's test figures.");
    if (!arch)
        usage_error("--arch SPEC is required");
    if (!save)
        usage_error("--save FILE is required");
    /* Every value given is checked here, before any data are read. */
    if (epochs.given && epochs.value < 1)
        usage_error("--epochs %d: want a number >= 1", (int)epochs.value);
    if (batch.given && batch.value < 1)
        usage_error("--batch-size %d: want a number >= 1", (int)batch.value);
    if (threads < 0)
        usage_error("--threads %d: want a number >= 0 (0: all cores)", (int)threads);
    if (lr.given && lr.value < 0.0)
        usage_error("--lr %g: want a learning rate >= 0", lr.value);
    if (momentum.given && !(momentum.value >= 0.0 && momentum.value < 1.0))
        usage_error("--momentum %g: want a number in [0, 1)", momentum.value);
    if (wd.given && wd.value < 0.0)
        usage_error("--weight-decay %g: want a number >= 0", wd.value);
    if (max_loss.given && !(max_loss.value > 0.0 && isfinite(max_loss.value)))
        usage_error("--max-train-loss %g: want a number > 0", max_loss.value);
    if (valid_size.given && valid_size.value < 1)
        usage_error("--valid-size %d: want a number >= 1", (int)valid_size.value);
    const char *const inputs[] = {c.csv, c.valid_csv, c.test_csv};
    const char *const input_flags[] = {"csv", "valid-csv", "test-csv"};
    for (size_t i = 0; i < 3; i++)
        if (inputs[i] && same_file(save, inputs[i]))
            usage_error("--save %s is the table of --%s; saving would replace it", save,
                        input_flags[i]);
    if (exd_writes()) /* rank 0 alone writes the file */
        check_output("save", save);
    if (!rule)
        rule = c.csv ? CSV_RULE : "sgd";
    /* The defaults of what was not given depend on the kind of data. */
    if (!epochs.given)
        epochs.value = c.csv ? CSV_EPOCHS : 20;
    if (!batch.given)
        batch.value = c.csv ? CSV_BATCH : 100;
    if (!valid_size.given)
        valid_size.value = MLP_DEFAULT_VALID_SIZE;
    const train_args ta = {.arch = arch,
                           .save = save,
                           .rule = rule,
                           .epochs = epochs.value,
                           .batch = batch.value,
                           .lr = lr,
                           .momentum = momentum,
                           .wd = wd,
                           .seed = seed,
                           .quiet = quiet,
                           .drop_last = drop_last,
                           .max_train_loss = max_loss.given ? max_loss.value : 0.0};
    set_speed(threads, flush);
    if (c.csv) {
        if (data_dir || dataset || valid_size.given)
            usage_error("--data-dir, --dataset and --valid-size are for images, not "
                        "--csv");
        return train_csv(&ta, &c);
    }
    if (c.target || c.task || c.loss || c.valid_csv || c.test_csv || c.sep ||
        c.no_standardize || c.valid_fraction.given || c.huber_delta.given)
        usage_error("--target, --task, --loss, --huber-delta, --valid-csv, "
                    "--valid-fraction, --test-csv, --no-standardize and --separator need "
                    "--csv");
    (void)parse_rule(rule);
    check_spec(arch);
    data_dir = data_dir_or_default(data_dir);
    if (!dataset)
        dataset = default_dataset(data_dir);
    check_save_not_dataset(save, data_dir, dataset);

    mlp_dataset *train = NULL, *valid = NULL, *test = NULL;
    open_dataset(data_dir, dataset, valid_size.value, &train, &valid, &test);
    const int32_t in[3] = {mlp_dataset_channels(train), mlp_dataset_height(train),
                           mlp_dataset_width(train)};
    const int32_t k = mlp_dataset_num_classes(train);
    mlp_model *m = build_model(arch, 0, 3, in, seed);
    int orank;
    int32_t od[MLP_MAX_RANK];
    CHECK(mlp_model_output_shape(m, -1, &orank, od), "reading the model");
    if (orank != 1 || od[0] != k) {
        mlp_model_destroy(m); /* LeakSanitizer checks the exits too */
        usage_error("--arch: the model outputs %s%d values but %s has %d classes "
                    "(end the SPEC with dense:%d)",
                    orank == 1 ? "" : "a tensor, not ", (int)od[0], dataset, (int)k,
                    (int)k);
    }

    keep_class_names(m, train, k);
    mlp_optimizer *opt = make_optimizer(m, &ta);

    if (!quiet) {
        char sum[8192];
        CHECK(mlp_model_summary(m, sum, sizeof sum, NULL), "summarising the model");
        printf("dataset %s in %s: %d train, %d valid, %d test images of %dx%dx%d, %d "
               "classes\n"
               "%srule %s, learning rate %g, batch %d, %d epoch%s\n",
               dataset, data_dir, (int)mlp_dataset_size(train),
               (int)mlp_dataset_size(valid), (int)mlp_dataset_size(test), (int)in[0],
               (int)in[1], (int)in[2], (int)k, sum, rule,
               mlp_optimizer_learning_rate(opt), (int)batch.value, (int)epochs.value,
               epochs.value == 1 ? "" : "s");
        fflush(stdout);
    }
    train_state ts = {.save = save, .quiet = quiet};
    mlp_fit_options fo;
    mlp_fit_options_init(&fo);
    fo.epochs = epochs.value;
    fo.batch_size = batch.value;
    fo.drop_last = drop_last;
    fo.max_train_loss = ta.max_train_loss;
    fo.seed = seed;
    fo.on_epoch = on_epoch;
    fo.user = &ts;
    distribute(m, train, valid, NULL); /* rank 0 alone tests the saved file */
    double t0 = now();
    /* Two statements: the callback sets ts.best_epoch during the fit, and the
     * order in which a call's arguments are evaluated is unspecified. */
    const mlp_status fit_status = mlp_model_fit(m, opt, train, valid, &fo);
    check_training(fit_status, ts.best_epoch);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);

    /* Test the saved model as a user will load it (rank 0, which wrote it). */
    if (exd_writes()) {
        mlp_model *best = load_model(save, NULL);
        double err, acc;
        CHECK(mlp_model_evaluate(best, test, EVAL_BATCH, &err, &acc),
              "evaluating on the test set");
        printf("best epoch %d: valid accuracy %.4f, test accuracy %.4f, test error %.4f "
               "(%.1f s); saved %s\n",
               (int)ts.best_epoch, ts.best_acc, acc, err, now() - t0, save);
        mlp_model_destroy(best);
    }
    mlp_dataset_destroy(train);
    mlp_dataset_destroy(valid);
    mlp_dataset_destroy(test);
    return 0;
}

/* ---- eval -------------------------------------------------------------------------- */

typedef struct pair {
    int32_t t, p, count;
} pair;

static int by_count(const void *a, const void *b)
{
    const pair *x = a, *y = b;
    if (x->count != y->count)
        return x->count < y->count ? 1 : -1;
    return x->t != y->t ? (x->t > y->t) - (x->t < y->t) : (x->p > y->p) - (x->p < y->p);
}

static const char *class_label(const mlp_dataset *ds, int32_t k, char *buf, size_t cap)
{
    const char *name = mlp_dataset_class_name(ds, k);
    if (name)
        return name;
    snprintf(buf, cap, "%d", (int)k);
    return buf;
}

/* A model trained on a table keeps its class names; a label map names the
 * classes of images, which have only numbers. */
#define MAPPING_NOT_FOR_CSV                                                              \
    "--mapping names the classes of images; with --csv the class names are those "       \
    "saved in the model"

/* The images (and labels) an eval or predict command names. */
static mlp_dataset *open_eval_data(const mlp_model *m, const char *data_dir,
                                   const char *dataset, const char *split,
                                   int32_t valid_size, const char *images,
                                   const char *labels, const char *mapping, int32_t k,
                                   int need_labels)
{
    mlp_dataset *ds = NULL;
    char guessed[PATH_CAP];
    if (images) {
        const int npz = ends_with(images, ".npz");
        if (!npz && !labels && need_labels)
            usage_error("--labels F is needed with IDX --images");
        /* Without labels, the images alone; the library's message says what
         * kind of file it got when it is not an images file. */
        mlp_status st = npz      ? mlp_dataset_load_npz(&ds, images, k)
                        : labels ? mlp_dataset_load_idx(&ds, images, labels, k)
                                 : mlp_dataset_load_idx_images(&ds, images, k);
        if (st != MLP_STATUS_OK) {
            char msg[1536], what[2 * PATH_CAP];
            snprintf(what, sizeof what, "%s%s%s", images, labels ? " and " : "",
                     labels ? labels : "");
            read_error(msg, sizeof msg, st, what);
            mlp_dataset *probe = NULL;
            if (st == MLP_STATUS_BAD_FORMAT && (npz || labels) &&
                (npz ? mlp_dataset_load_npz(&probe, images, 0)
                     : mlp_dataset_load_idx_images(&probe, images, 0)) != MLP_STATUS_OK)
                probe = NULL;
            load_failed(m, msg, sizeof msg, images, NULL, probe);
        }
        check_fit(m, ds, images);
        if (!mapping)
            mapping = guess_mapping(images, guessed, sizeof guessed);
        maybe_mapping(ds, mapping);
        return ds;
    }
    if (!need_labels)
        usage_error("--images F or --csv F is required");
    data_dir = data_dir_or_default(data_dir);
    if (!dataset)
        dataset = default_dataset(data_dir);
    if (!split)
        split = "test";
    mlp_dataset **want[3] = {NULL, NULL, NULL};
    mlp_dataset *tr = NULL, *va = NULL, *te = NULL;
    if (strcmp(split, "train") == 0)
        want[0] = &tr;
    else if (strcmp(split, "valid") == 0)
        want[1] = &va;
    else if (strcmp(split, "test") == 0)
        want[2] = &te;
    else
        usage_error("--split: '%s' is not train, valid or test", split);
    open_dataset(data_dir, dataset, valid_size, want[0], want[1], want[2]);
    ds = tr ? tr : va ? va : te;
    char what[PATH_CAP];
    snprintf(what, sizeof what, "the %s split of %s", split, dataset);
    check_fit(m, ds, what);
    maybe_mapping(ds, mapping);
    return ds;
}

/* The table an eval or predict --csv names, read for model `m`: a classifier's
 * labels go through its class names (a label it does not know is an error
 * that names the file, line and column), a regression's target must be a
 * number; a prediction file without `target` has no target column. */
static mlp_dataset *open_table(mlp_model *m, const char *csv, const char *target,
                               const char *sep, int predict, const char ***names_out)
{
    const int regress = mlp_model_task(m) == MLP_TASK_REGRESS;
    const int32_t k = model_classes(m);
    const char **names = NULL;
    const int32_t nk = mlp_model_class_count(m);
    if (!regress && nk == k) {
        names = malloc(sizeof *names * (size_t)nk);
        if (!names)
            die("out of memory");
        for (int32_t i = 0; i < nk; i++)
            names[i] = mlp_model_class_name(m, i);
    }
    int32_t task = regress ? MLP_CSV_REGRESS : MLP_CSV_CLASSIFY;
    if (predict) /* a target column named is left out unread: blank cells too */
        task = MLP_CSV_FEATURES_ONLY;
    mlp_csv_options o;
    csv_options(&o, task, target, sep);
    if (task != MLP_CSV_CLASSIFY || !predict) {
        o.class_names = names;
        o.num_class_names = names ? nk : 0;
    }
    /* a model that knows its columns' names takes them by name: in any
     * order, other columns left out */
    const int32_t nf = mlp_model_feature_count(m);
    const char **features = nf > 0 ? malloc(sizeof *features * (size_t)nf) : NULL;
    if (nf > 0 && !features)
        die("out of memory");
    for (int32_t j = 0; j < nf; j++) {
        features[j] = mlp_model_feature_name(m, j);
        if (o.target_name && strcmp(o.target_name, features[j]) == 0) {
            free(features);
            free(names);
            usage_error("--target %s: the model reads column \"%s\" as a feature (its "
                        "input %d); the target is another column",
                        target, target, (int)j);
        }
    }
    o.feature_names = features;
    o.num_features = nf;
    mlp_dataset *ds = NULL;
    char msg[1536];
    mlp_status st = mlp_dataset_load_csv(&ds, csv, &o);
    if (st != MLP_STATUS_OK) {
        read_error(msg, sizeof msg, st, csv);
        if (predict && !target && nf == 0 && st == MLP_STATUS_BAD_FORMAT) {
            /* a table that still has its target column (labels that are
             * not numbers, say): say how to skip it */
            const size_t len = strlen(msg);
            snprintf(msg + len, sizeof msg - len,
                     " (if the table holds its target column, name it with --target)");
        }
        free(names);
        /* Without class names any label goes: the probe counts the features. */
        mlp_dataset *probe = NULL;
        mlp_csv_options any;
        csv_options(&any, MLP_CSV_CLASSIFY, target, sep);
        any.feature_names = features; /* a column the model names may lack */
        any.num_features = nf;
        if (st != MLP_STATUS_BAD_FORMAT || !target ||
            mlp_dataset_load_csv(&probe, csv, &any) != MLP_STATUS_OK)
            probe = NULL;
        free(features);
        load_failed(m, msg, sizeof msg, csv, target, probe);
    }
    free(features);
    if (misfit(m, ds, csv, target, msg, sizeof msg)) {
        free(names);
        mlp_dataset_destroy(ds);
        leave(1, msg);
    }
    *names_out = names;
    return ds;
}

/* eval --csv of a regression model: its figures on the table. */
static void eval_regression(mlp_model *m, const mlp_dataset *ds)
{
    mlp_metrics mt;
    CHECK(mlp_model_evaluate_metrics(m, ds, EVAL_BATCH, &mt), "evaluating");
    printf("rows %lld\nrmse %.4f\nmae %.4f\nr2 %.4f\nmse %.4f\nerror %.4f\n",
           (long long)mt.count, mt.rmse, mt.mae, mt.r2, mt.mse, mt.loss);
}

/* The start of eval and predict: the model, with --threads and
 * --flush-denormals set (set_speed), its class count, and for --csv the
 * table read against it (*names: the class names it maps the labels to;
 * *ds stays NULL without --csv). */
static mlp_model *open_model(const char *model, int threads, int flush, const char *csv,
                             const char *target, const char *sep, int predict,
                             mlp_dataset **ds, const char ***names, int32_t *k)
{
    mlp_model *m = load_model(model, NULL);
    set_speed(threads, flush);
    *k = model_classes(m);
    if (csv)
        *ds = open_table(m, csv, target, sep, predict, names);
    return m;
}

/* Notes (on stderr, from rank 0) when labelled data look like another
 * dataset than the one the model learned: classes of the model that no
 * label names (10-class images against a 47-class model evaluate without
 * an error, and the accuracy means little), or class names that differ
 * from the model's. Notes only: a small test set may lack a class, and a
 * label map may spell the names otherwise. */
static void note_classes(const mlp_model *m, const mlp_dataset *ds, int32_t k)
{
    if (exd_rank() != 0)
        return;
    unsigned char *seen = calloc((size_t)k, 1);
    if (!seen)
        die("out of memory");
    const int32_t n = mlp_dataset_size(ds);
    int32_t present = 0, top = 0;
    for (int32_t i = 0; i < n; i++) {
        const int32_t c = mlp_dataset_label(ds, i);
        if (c >= 0 && c < k && !seen[c]) {
            seen[c] = 1;
            present++;
            top = c > top ? c : top;
        }
    }
    free(seen);
    if (present < k)
        fprintf(stderr,
                "%s: note: the labels name %d of the model's %d classes (the largest "
                "is %d): if these are not the data the model learned, its accuracy on "
                "them means little\n",
                command, (int)present, (int)k, (int)top);
    for (int32_t c = 0; c < k && c < mlp_model_class_count(m); c++) {
        const char *mine = mlp_model_class_name(m, c),
                   *theirs = mlp_dataset_class_name(ds, c);
        if (mine && theirs && strcmp(mine, theirs) != 0) {
            fprintf(stderr,
                    "%s: note: class %d is \"%s\" in the model but \"%s\" in the data\n",
                    command, (int)c, mine, theirs);
            break;
        }
    }
}

static int cmd_eval(int argc, char **argv)
{
    const char *model = NULL, *data_dir = NULL, *dataset = NULL, *split = NULL;
    const char *images = NULL, *labels = NULL, *mapping = NULL;
    const char *csv = NULL, *target = NULL, *sep = NULL;
    int32_t threads = 1;
    opt_int top = {0}, valid_size = {0}; /* only for some data and models */
    int distributed = 0, flush = 0;
    const flag flags[] = {
        {"model", F_STR, &model, "FILE", "the model file"},
        {"data-dir", F_STR, &data_dir, "DIR", "data directory [$MLPNET_DATA_DIR]"},
        {"dataset", F_STR, &dataset, "NAME", "dataset name (as for train)"},
        {"split", F_STR, &split, "NAME", "train, valid or test [test]"},
        {"valid-size", F_OPT_INT, &valid_size, "N",
         "as for train: the validation images carved "
         "from the training file [15800]"},
        {"images", F_STR, &images, "F",
         "IDX image file (with --labels) or a .npz archive"},
        {"labels", F_STR, &labels, "F", "IDX label file"},
        {"mapping", F_STR, &mapping, "F", "label map (\"label code\" lines) [guessed]"},
        {"csv", F_STR, &csv, "F", "a CSV table instead of images"},
        {"target", F_STR, &target, "COLUMN",
         "--csv: the target column, a name or a 0-based index (all digits)"},
        {"separator", F_STR, &sep, "C", "--csv: the field separator [,]"},
        {"top", F_OPT_INT, &top, "N", "most confused pairs of a classifier to list [10]"},
        {"threads", F_INT, &threads, "N", THREADS_HELP},
        {"flush-denormals", F_BOOL, &flush, NULL, FLUSH_HELP},
        {"distributed", F_BOOL, &distributed, NULL,
         "share the rows among the ranks of an MPI job; rank 0 prints"},
        {NULL, F_BOOL, NULL, NULL, NULL}};
    parse_flags(argc, argv, flags,
                "mlpnet eval --model FILE (--data-dir DIR --dataset NAME --split S | "
                "--images F [--labels F] | --csv F --target COLUMN)",
                "Measure a model on labelled data: a classifier's accuracy, mean error\n"
                "(its loss), per-class accuracy and most confused pairs; a regression\n"
                "model's rmse, mae, r2, mse and error.");
    if (top.given && top.value < 0)
        usage_error("--top %d: want a number >= 0", (int)top.value);
    if (threads < 0)
        usage_error("--threads %d: want a number >= 0 (0: all cores)", (int)threads);
    if (valid_size.given && valid_size.value < 1)
        usage_error("--valid-size %d: want a number >= 1", (int)valid_size.value);
    /* Every flag given is used: none that the data named do not read. */
    if (csv && (images || labels || dataset || split || data_dir || valid_size.given))
        usage_error("give either --csv or images (--images, --labels, --data-dir, "
                    "--dataset, --split, --valid-size), not both");
    if (images && (dataset || split || data_dir || valid_size.given))
        usage_error("give either --images or a dataset's split (--data-dir, --dataset, "
                    "--split, --valid-size), not both");
    if (labels && !images)
        usage_error("--labels needs --images (a dataset's splits come with theirs)");
    if (!top.given)
        top.value = 10;
    if (!valid_size.given)
        valid_size.value = MLP_DEFAULT_VALID_SIZE;
    if (csv && mapping)
        usage_error(MAPPING_NOT_FOR_CSV);
    if (mapping)
        check_input("mapping", mapping);
    if (csv && !target)
        usage_error("--target COLUMN is required with --csv");
    if (!csv && (target || sep))
        usage_error("--target and --separator need --csv");
    const char **names = NULL;
    mlp_dataset *ds = NULL;
    int32_t k;
    mlp_model *m =
        open_model(model, threads, flush, csv, target, sep, 0, &ds, &names, &k);
    if (csv) {
        if (mlp_model_task(m) == MLP_TASK_REGRESS) {
            if (top.given) {
                free(names);
                mlp_dataset_destroy(ds);
                mlp_model_destroy(m);
                usage_error("--top: %s is a regression model, without classes to confuse",
                            model);
            }
            distribute(m, ds, NULL, NULL);
            eval_regression(m, ds);
            mlp_dataset_destroy(ds);
            mlp_model_destroy(m);
            return 0;
        }
    } else {
        ds = open_eval_data(m, data_dir, dataset, split, valid_size.value, images, labels,
                            mapping, k, 1);
    }
    if (mlp_dataset_num_classes(ds) > k)
        die("the data have %d classes but the model outputs %d",
            (int)mlp_dataset_num_classes(ds), (int)k);
    note_classes(m, ds, k);

    distribute(m, ds, NULL, NULL);
    double err, acc;
    CHECK(mlp_model_evaluate(m, ds, EVAL_BATCH, &err, &acc), "evaluating");
    const int32_t n = mlp_dataset_size(ds);
    int32_t *pred = malloc(sizeof *pred * (size_t)n);
    float *prob = malloc(sizeof *prob * (size_t)n);
    int64_t *conf = calloc((size_t)k * (size_t)k, sizeof *conf);
    if (!pred || !prob || !conf)
        die("out of memory");
    /* Under --distributed each rank predicts its share of the rows and the
     * confusion matrices are added up. */
    const int32_t from = (int32_t)((int64_t)n * exd_rank() / exd_size()),
                  to = (int32_t)((int64_t)n * (exd_rank() + 1) / exd_size());
    predict_all(m, ds, k, from, to, pred, prob);
    for (int32_t i = from; i < to; i++)
        conf[(int64_t)mlp_dataset_label(ds, i) * k + pred[i]]++;
    exd_agree(0, NULL); /* every rank predicted (or stops here) */
    if (exd_sum_i64(conf, (int64_t)k * k) != 0)
        die("adding up the confusion matrices failed");
    int64_t hits = 0;
    for (int32_t t = 0; t < k; t++)
        hits += conf[(int64_t)t * k + t];
    printf("accuracy %.4f (%lld/%d)\n", (double)hits / n, (long long)hits, (int)n);
    printf("error %.4f\n", err);
    char b1[16], b2[16];
    int w = 6; /* the name column fits the longest name */
    for (int32_t c = 0; c < k; c++) {
        const int len = (int)strlen(class_label(ds, c, b1, sizeof b1));
        w = len > w ? len : w;
    }
    printf("\nper-class accuracy:\n  %5s %-*s %8s %8s %9s\n", "class", w, "name",
           "correct", "total", "accuracy");
    for (int32_t c = 0; c < k; c++) {
        int64_t total = 0;
        for (int32_t p = 0; p < k; p++)
            total += conf[(int64_t)c * k + p];
        if (total == 0)
            continue;
        printf("  %5d %-*s %8lld %8lld %9.4f\n", (int)c, w,
               class_label(ds, c, b1, sizeof b1), (long long)conf[(int64_t)c * k + c],
               (long long)total, (double)conf[(int64_t)c * k + c] / (double)total);
    }
    /* The off-diagonal cells, largest first. */
    int64_t cells = 0;
    for (int64_t i = 0; i < (int64_t)k * k; i++)
        cells += conf[i] > 0 && i / k != i % k;
    pair *pairs = malloc(sizeof *pairs * (size_t)(cells ? cells : 1));
    if (!pairs)
        die("out of memory");
    int64_t np = 0;
    for (int32_t t = 0; t < k; t++)
        for (int32_t p = 0; p < k; p++)
            if (t != p && conf[(int64_t)t * k + p] > 0)
                pairs[np++] = (pair){t, p, (int32_t)conf[(int64_t)t * k + p]};
    qsort(pairs, (size_t)np, sizeof *pairs, by_count);
    printf("\nmost confused pairs (true -> predicted):\n");
    if (np == 0)
        printf("  none\n");
    for (int64_t i = 0; i < np && i < top.value; i++) {
        int64_t total = 0;
        for (int32_t p = 0; p < k; p++)
            total += conf[(int64_t)pairs[i].t * k + p];
        printf("  %-4s -> %-4s %7d  (%.1f%% of %s)\n",
               class_label(ds, pairs[i].t, b1, sizeof b1),
               class_label(ds, pairs[i].p, b2, sizeof b2), (int)pairs[i].count,
               100.0 * pairs[i].count / (double)total,
               class_label(ds, pairs[i].t, b1, sizeof b1));
    }
    free(pairs);
    free(pred);
    free(prob);
    free(conf);
    free(names);
    mlp_dataset_destroy(ds);
    mlp_model_destroy(m);
    return 0;
}

/* predict --csv of a regression model: the raw outputs of every row. */
static void predict_values(mlp_model *m, const mlp_dataset *ds, int32_t k)
{
    const int32_t n = mlp_dataset_size(ds);
    const int64_t f = mlp_dataset_sample_size(ds);
    const int32_t bs = n < EVAL_BATCH ? n : EVAL_BATCH;
    float *x = malloc(sizeof *x * (size_t)(bs * f));
    float *y = malloc(sizeof *y * (size_t)bs * (size_t)k);
    int32_t *idx = malloc(sizeof *idx * (size_t)bs);
    if (!x || !y || !idx)
        die("out of memory");
    for (int32_t start = 0, cnt = 0; start < n; start += cnt) { /* as in predict_all */
        cnt = n - start < bs ? n - start : bs;
        for (int32_t i = 0; i < cnt; i++)
            idx[i] = start + i;
        CHECK(mlp_dataset_gather(ds, idx, cnt, x, NULL), "gathering rows");
        mlp_tensor *xt = NULL, *yt = NULL;
        const int32_t xd[2] = {cnt, (int32_t)f}, yd[2] = {cnt, k};
        CHECK(mlp_tensor_wrap(&xt, 2, xd, x), "allocating a batch");
        CHECK(mlp_tensor_wrap(&yt, 2, yd, y), "allocating a batch");
        CHECK(mlp_model_predict_raw(m, xt, yt), "predicting");
        mlp_tensor_destroy(xt);
        mlp_tensor_destroy(yt);
        for (int32_t i = 0; i < cnt; i++) {
            printf("%d", (int)(start + i));
            for (int32_t j = 0; j < k; j++)
                printf(" %.6g", (double)y[(int64_t)i * k + j]);
            putchar('\n');
        }
    }
    free(x);
    free(y);
    free(idx);
}

/* ---- predict
 * ----------------------------------------------------------------------------- */

/* One name of a list, in double quotes (with \" and \\) when it holds a
 * blank, a quote or a backslash, so that the names a line lists stay apart. */
static void print_name(const char *s)
{
    if (!s[strcspn(s, " \"\\")]) {
        fputs(s, stdout);
        return;
    }
    putchar('"');
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            putchar('\\');
        putchar(*s);
    }
    putchar('"');
}

/* A line `what N: name name ...` when the names are few and short, else
 * `what N (named; too long to list)`; nothing without names. */
static void print_names(const mlp_model *m, const char *what, int32_t n,
                        const char *(*name)(const mlp_model *, int32_t))
{
    size_t total = 0;
    for (int32_t i = 0; i < n; i++)
        total += strlen(name(m, i)) + 2;
    if (n > 0 && total <= 200) {
        printf("%s %d:", what, (int)n);
        for (int32_t i = 0; i < n; i++) {
            putchar(' ');
            print_name(name(m, i));
        }
        putchar('\n');
    } else if (n > 0) {
        printf("%s %d (named; too long to list)\n", what, (int)n);
    }
}

static int cmd_predict(int argc, char **argv)
{
    const char *model = NULL, *images = NULL, *mapping = NULL;
    const char *csv = NULL, *target = NULL, *sep = NULL;
    int32_t threads = 1;
    int flush = 0;
    const flag flags[] = {
        {"model", F_STR, &model, "FILE", "the model file"},
        {"images", F_STR, &images, "F", "IDX image file (raw or .gz) or a .npz archive"},
        {"mapping", F_STR, &mapping, "F", "label map (\"label code\" lines) [guessed]"},
        {"csv", F_STR, &csv, "F", "a CSV table (header row) instead of images"},
        {"target", F_STR, &target, "COLUMN",
         "--csv: a target column to skip, when the table has one"},
        {"separator", F_STR, &sep, "C", "--csv: the field separator [,]"},
        {"threads", F_INT, &threads, "N", THREADS_HELP},
        {"flush-denormals", F_BOOL, &flush, NULL, FLUSH_HELP},
        {NULL, F_BOOL, NULL, NULL, NULL}};
    parse_flags(argc, argv, flags,
                "mlpnet predict --model FILE (--images F | --csv F [--target COLUMN])",
                "Print one line per image or row: its index, the predicted label, the\n"
                "class name (the model's, or the label map's character; '-' without\n"
                "one), and the predicted probability; for a regression model, the\n"
                "index and the model's outputs.");
    if (threads < 0)
        usage_error("--threads must be >= 0");
    if (csv && images)
        usage_error("give either --csv or --images, not both");
    if (csv && mapping)
        usage_error(MAPPING_NOT_FOR_CSV);
    if (mapping)
        check_input("mapping", mapping);
    if (!csv && (target || sep))
        usage_error("--target and --separator need --csv");
    const char **names = NULL;
    mlp_dataset *ds = NULL;
    int32_t k;
    mlp_model *m =
        open_model(model, threads, flush, csv, target, sep, 1, &ds, &names, &k);
    if (csv) {
        if (mlp_model_task(m) == MLP_TASK_REGRESS) {
            predict_values(m, ds, k);
            if (fflush(stdout) != 0)
                die("cannot write the predictions: %s", strerror(errno));
            mlp_dataset_destroy(ds);
            mlp_model_destroy(m);
            return 0;
        }
    } else {
        ds = open_eval_data(m, NULL, NULL, NULL, 0, images, NULL, mapping, k, 0);
    }
    const int32_t n = mlp_dataset_size(ds);
    int32_t *pred = malloc(sizeof *pred * (size_t)n);
    float *prob = malloc(sizeof *prob * (size_t)n);
    if (!pred || !prob)
        die("out of memory");
    predict_all(m, ds, k, 0, n, pred, prob);
    for (int32_t i = 0; i < n; i++) {
        const char *name = mlp_model_class_name(m, pred[i]);
        if (!name)
            name = mlp_dataset_class_name(ds, pred[i]);
        printf("%d %d ", (int)i, (int)pred[i]);
        print_name(name ? name : "-");
        printf(" %.4f\n", (double)prob[i]);
    }
    if (fflush(stdout) != 0)
        die("cannot write the predictions: %s", strerror(errno));
    free(pred);
    free(prob);
    free(names);
    mlp_dataset_destroy(ds);
    mlp_model_destroy(m);
    return 0;
}

/* ---- info
 * ---------------------------------------------------------------------------------- */

/* A growing text buffer, for the SPEC that info prints. */
typedef struct text {
    char buf[8192];
    size_t len;
} text;

static void put(text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->buf + t->len, sizeof t->buf - t->len, fmt, ap);
    va_end(ap);
    if (k < 0 || (size_t)k >= sizeof t->buf - t->len)
        die("the architecture is too long to print");
    t->len += (size_t)k;
}

/* The shortest decimal that gives the layer the same float setting when a
 * SPEC is parsed: the value itself, or for dropout (drop = 1) the keep
 * probability 1 - value that the layer stores. */
static void put_float(text *t, double v, int drop)
{
    char b[32];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(b, sizeof b, "%.*g", prec, v);
        const float got = (float)strtod(b, NULL);
        if (drop ? 1.0f - got == 1.0f - (float)v : got == (float)v)
            break;
    }
    put(t, "%s", b);
}

static double attr(const mlp_layer *l, mlp_layer_attr a)
{
    double v = 0.0;
    CHECK(mlp_layer_get_attr(l, a, &v), "reading the configuration of a %s layer",
          mlp_layer_kind_name(l));
    return v;
}

/* The SPEC token of layer i, whose input has rank `in_rank`, appended to
 * `t`; returns NULL, or why the token cannot rebuild the layer exactly. */
static const char *spec_token(text *t, mlp_model *m, int i, int in_rank)
{
    const mlp_layer *l = mlp_model_layer(m, i);
    const mlp_layer_kind kind = mlp_layer_get_kind(l);
    switch (kind) {
    case MLP_LAYER_DENSE:
        put(t, "dense:%.0f%s", attr(l, MLP_LAYER_ATTR_UNITS),
            attr(l, MLP_LAYER_ATTR_USE_BIAS) ? "" : "/nobias");
        return NULL;
    case MLP_LAYER_CONV2D: {
        const double kh = attr(l, MLP_LAYER_ATTR_KERNEL_H),
                     kw = attr(l, MLP_LAYER_ATTR_KERNEL_W);
        const double sh = attr(l, MLP_LAYER_ATTR_STRIDE_H),
                     ph = attr(l, MLP_LAYER_ATTR_PAD_H);
        const double dh = attr(l, MLP_LAYER_ATTR_DILATION_H);
        put(t, "conv:%.0fx%.0fx%.0f/s%.0f/p%.0f/d%.0f%s", attr(l, MLP_LAYER_ATTR_FILTERS),
            kh, kw, sh, ph, dh, attr(l, MLP_LAYER_ATTR_USE_BIAS) ? "" : "/nobias");
        if (sh != attr(l, MLP_LAYER_ATTR_STRIDE_W) ||
            ph != attr(l, MLP_LAYER_ATTR_PAD_W) ||
            dh != attr(l, MLP_LAYER_ATTR_DILATION_W))
            return "its stride, padding or dilation differs between height and width";
        return NULL;
    }
    case MLP_LAYER_MAXPOOL:
    case MLP_LAYER_AVGPOOL: {
        if (kind == MLP_LAYER_AVGPOOL && attr(l, MLP_LAYER_ATTR_GLOBAL)) {
            put(t, "gap");
            return NULL;
        }
        const double kh = attr(l, MLP_LAYER_ATTR_KERNEL_H);
        put(t, "%s:%.0f/s%.0f/p%.0f", kind == MLP_LAYER_MAXPOOL ? "maxpool" : "avgpool",
            kh, attr(l, MLP_LAYER_ATTR_STRIDE_H), attr(l, MLP_LAYER_ATTR_PAD_H));
        return kh != attr(l, MLP_LAYER_ATTR_KERNEL_W) ? "its window is not square" : NULL;
    }
    case MLP_LAYER_BATCHNORM:
        put(t, "bn");
        if ((attr(l, MLP_LAYER_ATTR_SPATIAL) != 0) != (in_rank == 3))
            return "bn at this point of a SPEC would normalise per channel of [C,H,W] "
                   "inputs and per feature otherwise";
        if ((float)attr(l, MLP_LAYER_ATTR_MOMENTUM) != 0.1f ||
            (float)attr(l, MLP_LAYER_ATTR_EPSILON) != 1e-5f)
            return "its momentum or epsilon is not the default (0.1, 1e-5)";
        return NULL;
    case MLP_LAYER_DROPOUT:
        put(t, "dropout:");
        put_float(t, attr(l, MLP_LAYER_ATTR_DROP_PROBABILITY), 1);
        return NULL;
    case MLP_LAYER_ELU:
    case MLP_LAYER_LEAKY_RELU:
        put(t, "%s:", mlp_layer_kind_name(l));
        put_float(t, attr(l, MLP_LAYER_ATTR_ALPHA), 0);
        return NULL;
    case MLP_LAYER_RESHAPE: {
        int rank;
        int32_t d[MLP_MAX_RANK];
        CHECK(mlp_model_output_shape(m, i, &rank, d), "reading the model");
        put(t, "flatten");
        return rank == 1 ? NULL : "the SPEC has no reshape to more than one dimension";
    }
    case MLP_LAYER_SIGMOID:
    case MLP_LAYER_TANH:
    case MLP_LAYER_RELU:
    case MLP_LAYER_SELU:
    case MLP_LAYER_SOFTPLUS:
    case MLP_LAYER_STANDARDIZE: put(t, "%s", mlp_layer_kind_name(l)); return NULL;
    }
    put(t, "%s", mlp_layer_kind_name(l));
    return "this mlpnet does not know the layer's kind";
}

/* Print "arch SPEC", the --arch that rebuilds the model (layer sizes,
 * kernels, strides, padding, dilation, dropout, bias), and a note for any
 * layer a SPEC cannot express exactly. */
static void print_arch(mlp_model *m)
{
    text t = {.len = 0}, notes = {.len = 0};
    int in_rank = 3;
    int32_t d[MLP_MAX_RANK];
    const int n = mlp_model_layer_count(m);
    for (int i = 0; i < n; i++) {
        if (i)
            put(&t, ",");
        const char *why = spec_token(&t, m, i, in_rank);
        if (why)
            put(&notes, "note: layer %d (%s) is not rebuilt exactly by this SPEC: %s\n",
                i, mlp_layer_kind_name(mlp_model_layer(m, i)), why);
        CHECK(mlp_model_output_shape(m, i, &in_rank, d), "reading the model");
    }
    printf("arch %s\n%s", n ? t.buf : "(no layers)", notes.buf);
}

static int cmd_info(int argc, char **argv)
{
    const char *model = NULL;
    const flag flags[] = {{"model", F_STR, &model, "FILE", "the model file"},
                          {NULL, F_BOOL, NULL, NULL, NULL}};
    parse_flags(argc, argv, flags, "mlpnet info --model FILE",
                "Describe a model file: format version, layers, parameters, the --arch\n"
                "SPEC that rebuilds it, optimizer.");
    if (!model)
        usage_error("--model FILE is required");
    uint32_t version = 0;
    CHECK(mlp_model_file_version(model, &version), "reading %s", model);
    if (version > MLP_MODEL_FORMAT_VERSION)
        die("%s: format version %lu is newer than this mlpnet reads (%d)", model,
            (unsigned long)version, MLP_MODEL_FORMAT_VERSION);
    mlp_optimizer *opt = NULL;
    mlp_model *m = load_model(model, &opt);
    struct stat sb;
    long long bytes = stat(model, &sb) == 0 ? (long long)sb.st_size : -1;
    size_t len = 0;
    CHECK(mlp_model_summary(m, NULL, 0, &len), "summarising");
    char *sum = malloc(len + 1);
    if (!sum)
        die("out of memory");
    CHECK(mlp_model_summary(m, sum, len + 1, NULL), "summarising");
    printf("file %s (%lld bytes)\nformat version %lu\n%s", model, bytes,
           (unsigned long)version, sum);
    print_arch(m);
    double loss_param = 0.0;
    const mlp_loss_kind lk = mlp_model_get_loss(m, &loss_param);
    const char *lname = mlp_loss_kind_name(lk);
    printf("loss %s", lname ? lname : "unknown");
    if (lk == MLP_LOSS_HUBER)
        printf(" (delta %g)", loss_param);
    printf(" (task %s)\n",
           mlp_model_task(m) == MLP_TASK_REGRESS ? "regress" : "classify");
    print_names(m, "classes", mlp_model_class_count(m), mlp_model_class_name);
    print_names(m, "features", mlp_model_feature_count(m), mlp_model_feature_name);
    if (opt)
        printf("optimizer %s (state saved: training can resume)\n",
               rule_name(mlp_optimizer_rule(opt)));
    else
        printf("optimizer none\n");
    free(sum);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    return 0;
}

static int cmd_export(int argc, char **argv)
{
    const char *model = NULL, *onnx = NULL;
    const flag flags[] = {{"model", F_STR, &model, "FILE", "the model file"},
                          {"onnx", F_STR, &onnx, "OUT", "the ONNX file to write"},
                          {NULL, F_BOOL, NULL, NULL, NULL}};
    parse_flags(argc, argv, flags, "mlpnet export --model FILE --onnx OUT",
                "Write a model as ONNX (opset 14, dynamic batch; outputs logits, and\n"
                "probabilities for a classifier), for ONNX Runtime and other engines.\n"
                "See docs/deploy.md.");
    if (!model)
        usage_error("--model FILE is required");
    if (!onnx)
        usage_error("--onnx OUT is required");
    if (same_file(onnx, model))
        usage_error("--onnx %s is the model file of --model; writing it would replace "
                    "the model",
                    onnx);
    check_output("onnx", onnx);
    mlp_model *m = load_model(model, NULL);
    const double t0 = now();
    mlp_status st = mlp_model_export_onnx(m, onnx);
    if (st != MLP_STATUS_OK)
        mlp_model_destroy(m);
    CHECK(st, "exporting %s", model);
    printf("wrote %s (%lld parameters, %.1f ms)\n", onnx,
           (long long)mlp_model_param_count(m), 1000.0 * (now() - t0));
    mlp_model_destroy(m);
    return 0;
}

/* ---- main
 * ------------------------------------------------------------------------------------ */

static void main_help(void)
{
    printf(
        "Usage: mlpnet COMMAND [OPTIONS]\n\n"
        "Train, evaluate, inspect and run libmlpnet models.\n\n"
        "Commands:\n"
        "  train     train a model described by --arch SPEC on images or a CSV table\n"
        "            (--csv) and save the best epoch\n"
        "  eval      accuracy, error, per-class accuracy and confusions on labelled "
        "data\n"
        "  predict   one predicted label and probability per image or row (or a\n"
        "            regression's outputs)\n"
        "  info      format version, architecture and parameter count of a model file\n"
        "  export    write a model as ONNX (--onnx OUT)\n\n"
        "Run 'mlpnet COMMAND --help' for a command's options, 'man mlpnet' for the\n"
        "SPEC grammar. Data come from --data-dir or $MLPNET_DATA_DIR.\n");
}

static int run(int argc, char **argv)
{
    const char *cmd = argc < 2 ? NULL : argv[1];
    if (!cmd) /* argv[1] is not NULL when argc >= 2, which GCC's sanitizer builds miss */
        usage_error("a command is required (train, eval, predict, info or export)");
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 ||
        strcmp(cmd, "help") == 0) {
        main_help();
        return 0;
    }
    if (strcmp(cmd, "--version") == 0) {
        printf("mlpnet %s (model format %d)\n", MLPNET_VERSION_STRING,
               MLP_MODEL_FORMAT_VERSION);
        return 0;
    }
    static char name[64];
    snprintf(name, sizeof name, "mlpnet %s", cmd);
    command = name;
    const int train = strcmp(cmd, "train") == 0, eval = strcmp(cmd, "eval") == 0;
    if ((train || eval) && exd_requested(argc - 1, argv + 1)) {
        char err[256];
        if (!exd_available())
            usage_error("--distributed: this mlpnet was built without MPI");
        if (exd_start(&argc, &argv, err, sizeof err) != 0)
            die("%s", err);
        const int rc =
            train ? cmd_train(argc - 1, argv + 1) : cmd_eval(argc - 1, argv + 1);
        exd_finish();
        return rc;
    }
    if (strcmp(cmd, "train") == 0)
        return cmd_train(argc - 1, argv + 1);
    if (strcmp(cmd, "eval") == 0)
        return cmd_eval(argc - 1, argv + 1);
    if (strcmp(cmd, "predict") == 0)
        return cmd_predict(argc - 1, argv + 1);
    if (strcmp(cmd, "info") == 0)
        return cmd_info(argc - 1, argv + 1);
    if (strcmp(cmd, "export") == 0)
        return cmd_export(argc - 1, argv + 1);
    command = "mlpnet";
    usage_error("unknown command '%s'", cmd);
}

int main(int argc, char **argv)
{
    return output_checked(run(argc, argv));
}
