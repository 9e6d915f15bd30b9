/*
 * Tests of the CSV reader (lib/data/csv.c): options, RFC 4180 quoting,
 * line endings, byte-order mark, gzip, separators, header or none, the
 * target by name or index, label orders and given class lists, feature
 * lists; every kind of bad input with the exact file:line:column of its
 * message; and the allocation-failure loops.
 *
 * Unit tests parse text from memory (mlp__dataset_load_csv_mem) or from
 * temporary files they write. Run with the argument `--tabular`, the
 * program instead reads the real data sets of MLPNET_TABULAR_DIR (or
 * MLPNET_DATA_DIR/../tabular) and exits 77 (skip) when there are none.
 * With `--large`, it reads more than 2 GiB of text from a pipe (test
 * csv_large, suite `large`: seconds natively, far longer under valgrind).
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* mkstemp */
#endif

#include <check.h>
#include <fcntl.h>
#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#if defined(__GLIBC__)
#include <malloc.h> /* malloc_usable_size */
#endif

#include <mlpnet/mlpnet.h>

#include "core/core.h"
#include "data/dataset_impl.h"
#include "testutil.h"

static mlp_csv_options classify(void)
{
    mlp_csv_options o;
    ck_assert_int_eq(mlp_csv_options_init(&o), MLP_STATUS_OK);
    o.task = MLP_CSV_CLASSIFY;
    return o;
}

static mlp_csv_options regress(void)
{
    mlp_csv_options o = classify();
    o.task = MLP_CSV_REGRESS;
    return o;
}

/* Parse `text` as the file "t.csv". */
static mlp_status load(mlp_dataset **ds, const char *text, const mlp_csv_options *o)
{
    return mlp__dataset_load_csv_mem(ds, text, strlen(text), "t.csv", o);
}

/* Load that must succeed. */
static mlp_dataset *load_ok(const char *text, const mlp_csv_options *o)
{
    mlp_dataset *ds = NULL;
    TU_OK(load(&ds, text, o));
    ck_assert_ptr_nonnull(ds);
    return ds;
}

/* Load that must fail with `st` and a message holding `where`. */
static void load_bad(const char *text, const mlp_csv_options *o, mlp_status st,
                     const char *where)
{
    mlp_dataset *ds = (mlp_dataset *)&ds;
    long live = mlp__alloc_live();
    mlp_status got = load(&ds, text, o);
    ck_assert_msg(got == st, "status %d, want %d, for [%s]: %s", (int)got, (int)st, text,
                  mlp_last_error());
    ck_assert_ptr_null(ds);
    TU_ERROR_HAS(where);
    ck_assert_int_eq(mlp__alloc_live(), live);
}

/* Feature j of sample i. */
static float feat(const mlp_dataset *ds, int32_t i, int32_t j)
{
    float buf[64];
    ck_assert_int_le(mlp_dataset_sample_size(ds), 64);
    TU_OK(mlp_dataset_sample(ds, i, buf));
    return buf[j];
}

/* A temporary file of `len` bytes, gzip-compressed when `gz`. */
static void temp_file(char *path, const char *text, size_t len, int gz)
{
    strcpy(path, "/tmp/mlpnet-csv-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    if (gz) {
        close(fd);
        gzFile g = gzopen(path, "wb6");
        ck_assert_ptr_nonnull(g);
        ck_assert_int_eq(gzwrite(g, text, (unsigned)len), (int)len);
        ck_assert_int_eq(gzclose(g), Z_OK);
    } else {
        ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
        close(fd);
    }
}

static const char IRIS[] = "sl,sw,pl,pw,species\n"
                           "6.7,3.3,5.7,2.5,virginica\n"
                           "5.1,3.5,1.4,0.2,setosa\n"
                           "6.4,3.2,4.5,1.5,versicolor\n"
                           "4.9,3,1.4,0.2,setosa\n";

/* IRIS as gzip members cut at `cuts` (ascending, each 0..len; equal cuts
 * give empty members), followed by `tail_len` raw bytes; malloc'd, its
 * length in *len, where the tail starts in *end and the first member ends
 * in *first. */
static unsigned char *iris_members(const size_t *cuts, int ncuts, const char *tail,
                                   size_t tail_len, size_t *len, size_t *end,
                                   size_t *first)
{
    unsigned char *file = NULL;
    size_t used = 0;
    for (int k = 0; k <= ncuts; k++) {
        size_t from = k == 0 ? 0 : cuts[k - 1], to = k == ncuts ? strlen(IRIS) : cuts[k];
        char path[64];
        temp_file(path, IRIS + from, to - from, 1);
        size_t glen = 0;
        unsigned char *gz = tu_read_file(path, &glen);
        ck_assert_ptr_nonnull(gz);
        unlink(path);
        file = realloc(file, used + glen + tail_len + 1);
        ck_assert_ptr_nonnull(file);
        memcpy(file + used, gz, glen);
        used += glen;
        free(gz);
        if (k == 0)
            *first = used;
    }
    if (tail_len > 0)
        memcpy(file + used, tail, tail_len);
    *end = used;
    *len = used + tail_len;
    return file;
}

/* Load the text that `writer`, in a child process, writes to a pipe (it
 * gets the pipe's end and `arg`), from the pipe's /dev/fd path. */
static mlp_status load_from_child(mlp_dataset **ds, const mlp_csv_options *o,
                                  void (*writer)(int fd, const void *arg),
                                  const void *arg)
{
    int fd[2];
    ck_assert_int_eq(pipe(fd), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        close(fd[0]);
        writer(fd[1], arg);
        _exit(0);
    }
    close(fd[1]);
    char path[64];
    snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
    mlp_status st = mlp_dataset_load_csv(ds, path, o);
    close(fd[0]); /* a writer still writing (after a refusal) gets EPIPE */
    int ws;
    ck_assert_int_eq(waitpid(pid, &ws, 0), pid);
    return st;
}

/* Bytes written in pieces: load_piped's. */
typedef struct pieces {
    const unsigned char *p;
    size_t n;
    const size_t *cuts;
    int ncuts;
} pieces;

static void write_pieces(int fd, const void *arg)
{
    const pieces *w = arg;
    size_t from = 0;
    for (int k = 0; k <= w->ncuts; k++) {
        size_t to = k == w->ncuts ? w->n : w->cuts[k];
        if (write(fd, w->p + from, to - from) != (ssize_t)(to - from))
            _exit(1);
        from = to;
        nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
    }
}

/* Load `n` bytes at `p` from a pipe that a child process writes in pieces
 * cut at `cuts` (ascending), 50 ms apart, so that the reader's reads
 * usually end at the cuts. */
static mlp_status load_piped(mlp_dataset **ds, const unsigned char *p, size_t n,
                             const size_t *cuts, int ncuts, const mlp_csv_options *o)
{
    const pieces w = {p, n, cuts, ncuts};
    return load_from_child(ds, o, write_pieces, &w);
}

/* The rows of IRIS, as files_plain_and_gzip reads them. */
static void assert_iris(const mlp_dataset *ds)
{
    ck_assert_int_eq(mlp_dataset_size(ds), 4);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert(feat(ds, 0, 0) == 6.7f && feat(ds, 1, 0) == 5.1f);
    ck_assert(feat(ds, 2, 3) == 1.5f && feat(ds, 3, 1) == 3.0f);
}

START_TEST(classify_sorted_and_first_seen)
{
    long live = mlp__alloc_live();
    mlp_csv_options o = classify();
    mlp_dataset *ds = load_ok(IRIS, &o);
    ck_assert_int_eq(mlp_dataset_size(ds), 4);
    ck_assert_int_eq(mlp_dataset_storage(ds), MLP_STORAGE_FLOAT32);
    ck_assert_int_eq(mlp_dataset_target_kind(ds), MLP_TARGET_CLASS);
    ck_assert_int_eq(mlp_dataset_sample_rank(ds), 1);
    ck_assert_int_eq(mlp_dataset_sample_dim(ds, 0), 4);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "setosa");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "versicolor");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 2), "virginica");
    ck_assert_int_eq(mlp_dataset_label(ds, 0), 2);
    ck_assert_int_eq(mlp_dataset_label(ds, 1), 0);
    ck_assert_int_eq(mlp_dataset_label(ds, 2), 1);
    ck_assert(feat(ds, 0, 0) == 6.7f && feat(ds, 3, 1) == 3.0f && feat(ds, 2, 3) == 1.5f);
    mlp_dataset_destroy(ds);

    o.label_order = MLP_LABELS_FIRST_SEEN;
    ds = load_ok(IRIS, &o);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "virginica");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "setosa");
    ck_assert_int_eq(mlp_dataset_label(ds, 3), 1);
    mlp_dataset_destroy(ds);

    /* Integer labels sort as numbers, not as text. */
    o.label_order = MLP_LABELS_SORTED;
    ds = load_ok("x,y\n1,10\n2,2\n3,-1\n4,2\n", &o);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "-1");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 2), "10");
    ck_assert_int_eq(mlp_dataset_label(ds, 0), 2);
    ck_assert_int_eq(mlp_dataset_label(ds, 1), 1);
    mlp_dataset_destroy(ds);

    /* Integers of any length too (beyond 64 bits, leading zeros), and
     * labels of one value in different spellings by their bytes. */
    ds = load_ok("x,y\n1,10\n2,-100000000000000000000\n3,2\n4,0000000000000000000003\n"
                 "5,99999999999999999999\n6,-7\n7,+2\n8,-0\n9,0\n",
                 &o);
    static const char *const want[] = {"-100000000000000000000",
                                       "-7",
                                       "-0",
                                       "0",
                                       "+2",
                                       "2",
                                       "0000000000000000000003",
                                       "10",
                                       "99999999999999999999"};
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 9);
    for (int32_t k = 0; k < 9; k++)
        ck_assert_str_eq(mlp_dataset_class_name(ds, k), want[k]);
    ck_assert_int_eq(mlp_dataset_label(ds, 3), 6);
    mlp_dataset_destroy(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(given_class_list)
{
    mlp_csv_options o = classify();
    const char *names[3] = {"virginica", "versicolor", "setosa"};
    o.class_names = names;
    o.num_class_names = 3;
    mlp_dataset *ds = load_ok("a,species\n1,setosa\n2,setosa\n", &o);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
    ck_assert_int_eq(mlp_dataset_label(ds, 0), 2);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "virginica");
    mlp_dataset_destroy(ds);
    load_bad("a,species\n1,setosa\n2,tulip\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:3:2 (species): label \"tulip\" is not one of the 3 classes given");
    /* a list of one class is a list too: any other label is refused */
    const char *one[1] = {"setosa"};
    o.class_names = one;
    o.num_class_names = 1;
    ds = load_ok("a,species\n1,setosa\n", &o);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 1);
    mlp_dataset_destroy(ds);
    load_bad("a,species\n1,setosa\n2,tulip\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:3:2 (species): label \"tulip\" is not the one class given");
    const char *twice[2] = {"a", "a"};
    o.class_names = twice;
    o.num_class_names = 2;
    load_bad("a,y\n1,a\n", &o, MLP_STATUS_INVALID_ARG, "class_names[0] and [1]");
    const char *empty[2] = {"a", ""};
    o.class_names = empty;
    load_bad("a,y\n1,a\n", &o, MLP_STATUS_INVALID_ARG, "class_names[1] is empty");
    o.num_class_names = 0;
    load_bad("a,y\n1,a\n", &o, MLP_STATUS_INVALID_ARG, "num_class_names");
}
END_TEST

START_TEST(regress_and_columns)
{
    mlp_csv_options o = regress();
    static const char text[] = "age,sex,bmi,progression,id\n"
                               "48,1,21.6,75,a\n"
                               "24,2,25.3,206,b\n";
    o.target_name = "progression";
    o.feature_names = (const char *const[]){"bmi", "age"};
    o.num_features = 2;
    mlp_dataset *ds = load_ok(text, &o);
    ck_assert_int_eq(mlp_dataset_target_kind(ds), MLP_TARGET_VALUES);
    ck_assert_int_eq(mlp_dataset_target_dim(ds), 1);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 2);
    ck_assert(feat(ds, 0, 0) == 21.6f && feat(ds, 0, 1) == 48.0f);
    ck_assert(mlp_dataset_target_values(ds, 1)[0] == 206.0f);
    ck_assert_ptr_null(mlp_dataset_class_name(ds, 0));
    mlp_dataset_destroy(ds);

    /* By index; a feature list by index. */
    o.target_name = NULL;
    o.target_index = 3;
    o.feature_names = NULL;
    o.feature_indices = (const int32_t[]){1, 0};
    ds = load_ok(text, &o);
    ck_assert(feat(ds, 1, 0) == 2.0f && feat(ds, 1, 1) == 24.0f);
    mlp_dataset_destroy(ds);

    /* The default: every column but the target (the last). */
    o = regress();
    ds = load_ok("a,b,c\n1,2,3\n4,5,6\n", &o);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 2);
    ck_assert(mlp_dataset_target_values(ds, 1)[0] == 6.0f);
    mlp_dataset_destroy(ds);
    /* Target in the middle by index, the rest in file order. */
    o.target_index = 1;
    ds = load_ok("a,b,c\n1,2,3\n4,5,6\n", &o);
    ck_assert(feat(ds, 1, 0) == 4.0f && feat(ds, 1, 1) == 6.0f);
    ck_assert(mlp_dataset_target_values(ds, 0)[0] == 2.0f);
    mlp_dataset_destroy(ds);

    /* Rows to predict: no target column. */
    o = classify();
    o.task = MLP_CSV_FEATURES_ONLY;
    ds = load_ok("a,b\n1,2\n3,4\n", &o);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 2);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 1);
    ck_assert_int_eq(mlp_dataset_label(ds, 1), 0);
    mlp_dataset_destroy(ds);
}
END_TEST

/* Rows read to be predicted have no targets: fit and evaluate refuse them,
 * and a subset of them, where the 0 labels would otherwise pass for
 * class 0; predicting them works. */
START_TEST(csv_rows_to_predict_are_not_trained_on)
{
    mlp_csv_options o = classify();
    o.task = MLP_CSV_FEATURES_ONLY;
    mlp_dataset *ds = load_ok("a,b\n1,2\n3,4\n5,6\n", &o);
    mlp_dataset *part = NULL;
    TU_OK(mlp_dataset_subset(ds, (const int32_t[]){2, 0}, 2, &part));
    mlp_model *m = tu_model(1, (const int32_t[]){2}, 1);
    tu_add(m, tu_dense(2));
    mlp_optimizer *opt = NULL;
    TU_OK(mlp_optimizer_create(&opt, MLP_RULE_SGD, m));
    TU_FAIL(mlp_model_fit(m, opt, ds, NULL, NULL), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("the training set has no targets");
    double acc = 0.0;
    TU_FAIL(mlp_model_evaluate(m, part, 10, NULL, &acc), MLP_STATUS_INVALID_ARG);
    TU_ERROR_HAS("the dataset has no targets");
    float x[2], p[2] = {0.0f, 0.0f};
    TU_OK(mlp_dataset_sample(part, 0, x));
    mlp_tensor *in = NULL, *out = NULL;
    TU_OK(mlp_tensor_wrap(&in, 2, (const int32_t[]){1, 2}, x));
    TU_OK(mlp_tensor_wrap(&out, 2, (const int32_t[]){1, 2}, p));
    TU_OK(mlp_model_predict_raw(m, in, out));
    mlp_tensor_destroy(in);
    mlp_tensor_destroy(out);
    mlp_optimizer_destroy(opt);
    mlp_model_destroy(m);
    mlp_dataset_destroy(part);
    mlp_dataset_destroy(ds);
}
END_TEST

/* A random numeral of the forms the reader takes: a sign or none, leading
 * zeros, 1 to 22 digits with a point anywhere or none, an exponent or none
 * (e or E, a sign or none, 1 to 5 digits with leading zeros). Up to 19
 * significant digits and exponents from -19 to 22 after the point's shift
 * are converted by the reader's integer arithmetic, the rest by strtod. */
static void random_numeral(tu_rng *g, char *p)
{
    const int sign = tu_rng_below(g, 4);
    if (sign < 2)
        *p++ = "-+"[sign];
    for (int i = tu_rng_below(g, 4) == 0 ? tu_rng_below(g, 4) : 0; i > 0; i--)
        *p++ = '0';
    const int nd = 1 + tu_rng_below(g, 22), pt = tu_rng_below(g, nd + 2) - 1;
    for (int i = 0; i < nd; i++) {
        if (i == pt)
            *p++ = '.';
        *p++ = (char)('0' + tu_rng_below(g, 10));
    }
    if (pt == nd)
        *p++ = '.';
    if (tu_rng_below(g, 3) == 0) {
        *p++ = "eE"[tu_rng_below(g, 2)];
        const int es = tu_rng_below(g, 3);
        if (es < 2)
            *p++ = "-+"[es];
        p += sprintf(p, "%0*d", 1 + tu_rng_below(g, 5), tu_rng_below(g, 31));
    }
    *p = '\0';
}

/* Every number as strtod reads it, converted to float: the bits of
 * (float)strtod(s), for 20,000 random numerals within float's range and
 * the edges of the reader's own conversion (ties to even between two
 * doubles, 2^53, 19 and 20 significant digits, 10^-19 and 10^22 scales,
 * negative zero). Then text that is no number, refused. */
START_TEST(numbers_as_strtod_reads_them)
{
    static const char *const edges[] = {
        "9007199254740993",    /* 2^53 + 1: a tie, to 2^53 (even) */
        "9007199254740995",    /* a tie, to 2^53 + 4 */
        "18014398509481986",   /* 2^54 + 2: a tie, to 2^54 */
        "18014398509481990",   /* 2^54 + 6: a tie, to 2^54 + 8 */
        "1152921573326323840", /* 2^60 + 2^36 + 2^7: a tie between two
                                * doubles, to even, which is 2^60 + 2^36,
                                * a tie between two floats, to even: 2^60;
                                * rounded up it would be the float above */
        "20809087686939769e3", /* (double)m before the scale: rounded */
        "16237526696100627e3", /* twice, a float off by one */
        "9007199254740991",    /* 2^53 - 1, exact */
        "9007199254740992",    /* 2^53 */
        "900719925474099.3e1", /* 2^53 + 1 again, a point and an exponent */
        "0.9007199254740993e16",
        "9999999999999999999", /* 19 nines */
        "9999999999999999999e19",
        "99999999999999999999",  /* 20 digits: strtod's way */
        "18446744073709551615",  /* 2^64 - 1 */
        "0.0000000000000000001", /* 10^-19 */
        "1.000000000000000111",  /* either side of 1 + 2^-53 */
        "1.000000000000000112",
        "16777217", /* 2^24 + 1: an exact double, a float tie */
        "16777217.000000001",
        "1e22",
        "1e23", /* past both exact ranges: strtod's way */
        "123456789012345e22",
        "3.4028234e38", /* float's range, strtod's way */
        "1.1754944e-38",
        "1e-45",
        "-0", /* negative zero */
        "-0.0e5",
        "+0.",
        ".5",
        "5.",
        "000000000000000000000000001",
        "1e0000",
        "1e00001",
        "1e-8888888888888888", /* an exponent beyond an int: strtod's, 0 */
    };
    enum { RANDOM = 20000, EDGES = sizeof edges / sizeof edges[0] };
    char(*num)[48] = malloc((RANDOM + EDGES) * sizeof *num);
    char *text = malloc((RANDOM + EDGES) * 52 + 1);
    ck_assert(num && text);
    tu_rng g;
    tu_rng_seed(&g, 2026);
    int n = 0;
    for (int i = 0; i < EDGES; i++)
        strcpy(num[n++], edges[i]);
    while (n < RANDOM + EDGES) {
        random_numeral(&g, num[n]);
        float f = (float)strtod(num[n], NULL);
        n += isfinite(f); /* beyond float's range: refused, tested elsewhere */
    }
    size_t len = 0;
    for (int i = 0; i < n; i++)
        len += (size_t)sprintf(text + len, "%s,%d\n", num[i], i);
    mlp_csv_options o = regress();
    o.header = 0;
    mlp_dataset *ds = NULL;
    TU_OK(mlp__dataset_load_csv_mem(&ds, text, len, "t.csv", &o));
    for (int i = 0; i < n; i++) {
        float want = (float)strtod(num[i], NULL), got;
        TU_OK(mlp_dataset_sample(ds, i, &got));
        ck_assert_msg(memcmp(&got, &want, sizeof got) == 0, "%s: %.9g, strtod %.9g",
                      num[i], (double)got, (double)want);
        ck_assert(mlp_dataset_target_values(ds, i)[0] == (float)i);
    }
    mlp_dataset_destroy(ds);
    free(text);
    free(num);
    static const char *const bad[] = {".",     "-",     "+",   "e5",   "1e",   "1e+",
                                      "1.2.3", "--1",   "1-2", "0x10", "1e5.", ".e1",
                                      "1 2",   "1e1e1", "nan", "-inf", "1d5"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char row[64];
        snprintf(row, sizeof row, "%s,1\n", bad[i]);
        load_bad(row, &o, MLP_STATUS_BAD_FORMAT, "t.csv:1:1: ");
    }
}
END_TEST

#if defined(__GLIBC__)
/* A locale named "comma" in dir whose decimal point is a comma: LC_NUMERIC
 * alone, made by glibc's localedef from a definition of that category and
 * a character map of that character, so that no locale need be installed
 * (localedef warns of the categories and characters left out; -c writes
 * the locale all the same). */
static void make_comma_locale(const char *dir)
{
    static const char def_text[] = "LC_NUMERIC\ndecimal_point \"<U002C>\"\n"
                                   "thousands_sep \"\"\ngrouping -1\nEND LC_NUMERIC\n";
    static const char map_text[] = "<code_set_name> COMMA\n<escape_char> /\n"
                                   "<mb_cur_max> 1\n<mb_cur_min> 1\n"
                                   "CHARMAP\n<U002C> /x2c COMMA\nEND CHARMAP\n";
    char def[256], map[256], out[256];
    snprintf(def, sizeof def, "%s/comma.def", dir);
    snprintf(map, sizeof map, "%s/comma.map", dir);
    snprintf(out, sizeof out, "%s/comma", dir);
    tu_write_file(def, def_text, sizeof def_text - 1);
    tu_write_file(map, map_text, sizeof map_text - 1);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        dup2(null, 2);
        execlp("localedef", "localedef", "-c", "-i", def, "-f", map, out, (char *)NULL);
        _exit(127);
    }
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) != 127,
                  "localedef (glibc's, Debian's package libc-bin) did not run");
}

/* A program whose locale (LC_NUMERIC) writes decimals with a comma: files
 * still use '.', and every number reads as in the C locale, those the
 * reader converts itself and those it hands to strtod (which follows the
 * locale) alike. A comma inside a number is not taken for a point. */
START_TEST(numbers_under_a_comma_locale)
{
    static const char *const nums[] = {
        "2.5",                      /* the reader's own conversion */
        "-0.75",                    /* likewise */
        "1e-3",                     /* likewise */
        "0.1234567890123456789012", /* more than 19 digits: strtod */
        "99999999999999999999.5",   /* likewise */
        "1e23",                     /* past the exact powers of ten: strtod */
        "2.5e00001",                /* an exponent of 5 digits: strtod */
        "-3.4028234e38",            /* float's range: strtod */
        "1.1754944e-38",            /* likewise */
    };
    enum { N = sizeof nums / sizeof nums[0] };
    float want[N];
    char text[1024];
    size_t len = 0;
    for (int i = 0; i < N; i++) {
        want[i] = (float)strtod(nums[i], NULL); /* the C locale's */
        len += (size_t)snprintf(text + len, sizeof text - len, "%s;%d\n", nums[i], i);
    }
    char dir[] = "/tmp/mlpnet-locale-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    make_comma_locale(dir);
    const char *was = getenv("LOCPATH");
    char *was_copy = was ? strdup(was) : NULL;
    char *numeric = strdup(setlocale(LC_NUMERIC, NULL));
    ck_assert_int_eq(setenv("LOCPATH", dir, 1), 0);
    const char *set = setlocale(LC_NUMERIC, "comma");
    ck_assert_msg(set != NULL, "localedef made no locale \"comma\" in %s", dir);
    ck_assert_str_eq(localeconv()->decimal_point, ",");
    ck_assert(strtod("0,5", NULL) == 0.5); /* the locale holds */

    mlp_csv_options o = regress();
    o.header = 0;
    o.separator = ';';
    mlp_dataset *ds = NULL;
    mlp_status st = mlp__dataset_load_csv_mem(&ds, text, len, "t.csv", &o);
    float got[N] = {0};
    for (int i = 0; st == MLP_STATUS_OK && i < N; i++)
        st = mlp_dataset_sample(ds, i, &got[i]);
    char why[512];
    snprintf(why, sizeof why, "%s", mlp_last_error());
    mlp_dataset_destroy(ds);
    mlp_status comma = load(&ds, "0,5;1\n", &o);
    /* the locale as it was, before any assertion can end the test */
    setlocale(LC_NUMERIC, numeric);
    if (was_copy)
        setenv("LOCPATH", was_copy, 1);
    else
        unsetenv("LOCPATH");
    free(was_copy);
    free(numeric);
    tu_rm_tree(dir);
    ck_assert_msg(st == MLP_STATUS_OK, "%s", why);
    for (int i = 0; i < N; i++)
        ck_assert_msg(memcmp(&got[i], &want[i], sizeof got[i]) == 0,
                      "%s: %.9g, want %.9g", nums[i], (double)got[i], (double)want[i]);
    ck_assert_int_eq(comma, MLP_STATUS_BAD_FORMAT);
    ck_assert_ptr_null(ds);
}
END_TEST
#endif

START_TEST(quoting_endings_bom_separators)
{
    mlp_csv_options o = classify();
    /* Quoted header names with separators, quotes and a line break; quoted
     * numbers; CRLF; a BOM; blank lines skipped. */
    static const char text[] = "\xEF\xBB\xBF\"a,1\",\"say \"\"b\"\"\",\"multi\nline\"\r\n"
                               "\"1.5\",2,\"x \"\"y\"\"\"\r\n"
                               "\r\n"
                               "3,\" 4 \",\"z,w\"\r\n";
    mlp_dataset *ds = load_ok(text, &o);
    ck_assert_int_eq(mlp_dataset_size(ds), 2);
    ck_assert(feat(ds, 0, 0) == 1.5f && feat(ds, 1, 1) == 4.0f);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 0), "x \"y\"");
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "z,w");
    mlp_dataset_destroy(ds);
    /* A line break inside quotes counts: the bad field is on line 4. */
    load_bad("\"h\na\",y\n1,c\n\"2\n\",c\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:4:1 (h?a): a control character (byte 0x0a, byte 2 of the field)");

    o.separator = ';';
    ds = load_ok("a;b;y\n1.5;2;k\n", &o);
    ck_assert_int_eq(mlp_dataset_size(ds), 1);
    mlp_dataset_destroy(ds);
    load_bad("a;b;y\n1,5;2;k\n", &o, MLP_STATUS_BAD_FORMAT, "\"1,5\" is not a number");
    o.separator = '\t';
    ds = load_ok("a\tb\ty\n1\t 2 \tk\n", &o);
    ck_assert(feat(ds, 0, 1) == 2.0f);
    mlp_dataset_destroy(ds);

    /* No header: the target by index, no trailing newline. */
    o = classify();
    o.header = 0;
    o.target_index = 0;
    ds = load_ok("cat,1,2\ndog,3,4", &o);
    ck_assert_int_eq(mlp_dataset_size(ds), 2);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "dog");
    ck_assert(feat(ds, 1, 1) == 4.0f);
    mlp_dataset_destroy(ds);
    /* Without a header, messages have no column names. */
    load_bad("cat,1,2\ndog,x,4", &o, MLP_STATUS_BAD_FORMAT, "t.csv:2:2: \"x\" is not");
}
END_TEST

START_TEST(files_plain_and_gzip)
{
    long live = mlp__alloc_live();
    char plain[64], gz[64];
    temp_file(plain, IRIS, strlen(IRIS), 0);
    temp_file(gz, IRIS, strlen(IRIS), 1);
    mlp_csv_options o = classify();
    o.target_name = "species";
    mlp_dataset *a = NULL, *b = NULL;
    TU_OK(mlp_dataset_load_csv(&a, plain, &o));
    TU_OK(mlp_dataset_load_csv(&b, gz, &o));
    ck_assert_int_eq(mlp_dataset_size(a), 4);
    ck_assert_int_eq(mlp_dataset_size(b), 4);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mlp_dataset_label(a, i), mlp_dataset_label(b, i));
        for (int j = 0; j < 4; j++)
            ck_assert(feat(a, i, j) == feat(b, i, j));
    }
    mlp_dataset_destroy(a);
    mlp_dataset_destroy(b);

    /* Messages name the path. */
    o.target_name = NULL;
    char bad[64];
    temp_file(bad, "a,y\n1,k\nq,k\n", 12, 1);
    a = (mlp_dataset *)&a;
    TU_FAIL(mlp_dataset_load_csv(&a, bad, &o), MLP_STATUS_BAD_FORMAT);
    ck_assert_ptr_null(a);
    TU_ERROR_HAS(bad);
    TU_ERROR_HAS(":3:1 (a)");

    /* A truncated and a corrupt gzip stream. */
    gzFile g = gzopen(bad, "wb");
    char big[4096];
    for (size_t i = 0; i < sizeof big; i++)
        big[i] = "0123456789,\n"[i % 12];
    gzwrite(g, big, sizeof big);
    gzclose(g);
    FILE *f = fopen(bad, "r+b");
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    ck_assert_int_eq(truncate(bad, size - 6), 0);
    fclose(f);
    TU_FAIL_MSG(mlp_dataset_load_csv(&a, bad, &o), MLP_STATUS_BAD_FORMAT, "gzip");
    /* the offset counts the data, not the smaller compressed file's bytes */
    TU_ERROR_HAS("truncated gzip stream after 4096 bytes of data (decompressed)");
    f = fopen(bad, "r+b");
    fseek(f, 20, SEEK_SET);
    fputc(0xFF, f);
    fputc(0x00, f);
    fclose(f);
    TU_FAIL(mlp_dataset_load_csv(&a, bad, &o), MLP_STATUS_BAD_FORMAT);
    TU_ERROR_HAS("corrupt gzip stream after 0 bytes of data (decompressed)");
    unlink(bad);
    TU_FAIL_MSG(mlp_dataset_load_csv(&a, "/nonexistent/x.csv", &o), MLP_STATUS_IO,
                "mlp_dataset_load_csv: cannot open /nonexistent/x.csv: ");
    TU_FAIL(mlp_dataset_load_csv(&a, NULL, &o), MLP_STATUS_INVALID_ARG);
    /* "" names no file: a bad argument, as for the savers, not an I/O error */
    a = (mlp_dataset *)&a;
    TU_FAIL_MSG(mlp_dataset_load_csv(&a, "", &o), MLP_STATUS_INVALID_ARG,
                "mlp_dataset_load_csv: path is empty");
    ck_assert_ptr_null(a);
    TU_FAIL(mlp_dataset_load_csv(NULL, plain, &o), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_dataset_load_csv(&a, plain, NULL), MLP_STATUS_INVALID_ARG);
    unlink(plain);
    unlink(gz);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* The last message refuses bytes after a gzip stream that ends at byte
 * `end` of the compressed file. */
static void assert_ends_at(size_t end)
{
    char want[96];
    snprintf(want, sizeof want, "at byte offset %zu of the compressed file", end);
    TU_ERROR_HAS(want);
    TU_ERROR_HAS("not a gzip member");
}

/* A gzip file is a series of members (RFC 1952 2.2), read on as one text as
 * gunzip does: cuts anywhere, empty members. Bytes after the last member
 * that do not start another are refused with the offset where the stream
 * ends in the compressed file (gzread skipped them without a word). */
START_TEST(files_gzip_members_and_tails)
{
    long live = mlp__alloc_live();
    mlp_csv_options o = classify();
    o.target_name = "species";
    static const size_t cuts[][3] = {{50, 0, 0}, {0, 7, 7}, {1, 60, 116}};
    static const int ncuts[] = {1, 3, 3};
    char path[64] = "/tmp/mlpnet-csv-XXXXXX";
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    close(fd);
    for (size_t c = 0; c < sizeof ncuts / sizeof *ncuts; c++) {
        size_t len, end, first;
        unsigned char *file =
            iris_members(cuts[c], ncuts[c], NULL, 0, &len, &end, &first);
        tu_write_file(path, file, len);
        mlp_dataset *ds = NULL;
        TU_OK(mlp_dataset_load_csv(&ds, path, &o));
        assert_iris(ds);
        mlp_dataset_destroy(ds);
        free(file);
    }
    static const struct {
        const char *bytes;
        size_t len;
    } tails[] = {{"garbage\n", 8}, {"\0", 1}, {"\x1f", 1}, {"\x8b\x1f", 2}};
    for (size_t k = 0; k < sizeof tails / sizeof *tails; k++)
        for (int nc = 0; nc < 2; nc++) {
            size_t len, end, first;
            unsigned char *file = iris_members(cuts[0], nc, tails[k].bytes, tails[k].len,
                                               &len, &end, &first);
            tu_write_file(path, file, len);
            mlp_dataset *ds = (mlp_dataset *)&ds;
            TU_FAIL_MSG(mlp_dataset_load_csv(&ds, path, &o), MLP_STATUS_BAD_FORMAT,
                        "not a gzip member");
            ck_assert_ptr_null(ds);
            TU_ERROR_HAS(path);
            assert_ends_at(end);
            free(file);
        }
    unlink(path);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* The same through a pipe, which gives its bytes once: the reader decides
 * whether another member follows from the bytes it holds, reading on when
 * a member ends at the end of what it read, or one byte into the next. */
START_TEST(files_gzip_members_from_pipes)
{
    long live = mlp__alloc_live();
    mlp_csv_options o = classify();
    o.target_name = "species";
    static const size_t cut[1] = {50};
    size_t len, end, first;
    unsigned char *file = iris_members(cut, 1, NULL, 0, &len, &end, &first);
    const size_t pieces[2] = {first, first + 1};
    mlp_dataset *ds = NULL;
    TU_OK(load_piped(&ds, file, len, pieces, 2, &o));
    assert_iris(ds);
    mlp_dataset_destroy(ds);
    free(file);

    file = iris_members(cut, 1, "garbage\n", 8, &len, &end, &first);
    const size_t at_tail[2] = {end, end + 1};
    for (int np = 0; np < 3; np++) {
        ds = (mlp_dataset *)&ds;
        TU_FAIL_MSG(load_piped(&ds, file, len, at_tail, np, &o), MLP_STATUS_BAD_FORMAT,
                    "not a gzip member");
        ck_assert_ptr_null(ds);
        assert_ends_at(end);
    }
    free(file);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* Text from a pipe, as a shell's <(zcat t.csv.gz) gives it (a path that
 * names no regular file and tells no size): plain and gzip. It was refused
 * as "more than 0 bytes of text". A directory is refused as one. */
START_TEST(files_from_pipes)
{
    long live = mlp__alloc_live();
    char gz[64];
    temp_file(gz, IRIS, strlen(IRIS), 1);
    size_t gz_len = 0;
    unsigned char *gz_bytes = tu_read_file(gz, &gz_len);
    unlink(gz);
    const struct {
        const void *p;
        size_t n;
    } texts[] = {{IRIS, strlen(IRIS)}, {gz_bytes, gz_len}};
    mlp_csv_options o = classify();
    o.target_name = "species";
    for (int t = 0; t < 2; t++) {
        int fd[2];
        ck_assert_int_eq(pipe(fd), 0);
        /* a pipe holds 64 KiB: the whole text goes in before the read */
        ck_assert_int_eq(write(fd[1], texts[t].p, texts[t].n), (ssize_t)texts[t].n);
        close(fd[1]);
        char path[64];
        snprintf(path, sizeof path, "/dev/fd/%d", fd[0]);
        mlp_dataset *ds = NULL;
        TU_OK(mlp_dataset_load_csv(&ds, path, &o));
        close(fd[0]);
        ck_assert_int_eq(mlp_dataset_size(ds), 4);
        ck_assert_int_eq(mlp_dataset_num_classes(ds), 3);
        ck_assert(feat(ds, 1, 0) == 5.1f && feat(ds, 3, 1) == 3.0f);
        mlp_dataset_destroy(ds);
    }
    free(gz_bytes);
    mlp_dataset *ds = (mlp_dataset *)&ds;
    TU_FAIL_MSG(mlp_dataset_load_csv(&ds, "/tmp", &o), MLP_STATUS_IO,
                "mlp_dataset_load_csv: cannot read /tmp: it is a directory");
    ck_assert_ptr_null(ds);
    /* a device of endless binary data: refused at its first chunk, not
     * read on without end */
    TU_FAIL_MSG(mlp_dataset_load_csv(&ds, "/dev/zero", &o), MLP_STATUS_BAD_FORMAT,
                "/dev/zero:1: a NUL byte (byte 1 of the line)");
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

START_TEST(bad_input_positions)
{
    mlp_csv_options o = classify();
    static const struct {
        const char *text, *where;
    } cases[] = {
        {"a,b,c\n1,2,x\n3,4\n", "t.csv:3:3 (c): 2 fields, but the first record has 3"},
        {"a,b,c\n1,2,x\n3,4,x,5\n", "t.csv:3:4: 4 fields, but the first record has 3"},
        {"a,b,y\n1,zz,0\n", "t.csv:2:2 (b): \"zz\" is not a number"},
        {"a,b,y\n1,,0\n", "t.csv:2:2 (b): empty field"},
        {"a,b,y\n1,  ,0\n", "t.csv:2:2 (b): empty field"},
        {"a,b,y\n1,nan,0\n", "t.csv:2:2 (b): \"nan\": NaN and infinity are not allowed"},
        {"a,b,y\n1,-Inf,0\n", "t.csv:2:2 (b): \"-Inf\": NaN and infinity"},
        {"a,b,y\n1,2,0\n1,INFINITY,0\n", "t.csv:3:2 (b): \"INFINITY\": NaN"},
        {"a,b,y\n1,1e39,0\n", "t.csv:2:2 (b): 1e39 is beyond the range of float"},
        {"a,b,y\n1,0x10,0\n", "t.csv:2:2 (b): \"0x10\" is not a number"},
        {"a,b,y\n1,1.5.2,0\n", "t.csv:2:2 (b): \"1.5.2\" is not a number"},
        {"a,b,y\n1,\v1,0\n",
         "t.csv:2:2 (b): a control character (byte 0x0b, byte 1 of the field) where"},
        {"a,b,y\n1,\"2\n3\",0\n",
         "t.csv:2:2 (b): a control character (byte 0x0a, byte 2"},
        {"a,b,y\n1,zz\x1b[31m,0\n",
         "t.csv:2:2 (b): a control character (byte 0x1b, byte 3"},
        /* a header name's control characters are not echoed either (a
         * line break: quoting_endings_bom_separators) */
        {"\"\x1b[2Jb\",y\nzz,c\n", "t.csv:2:1 (?[2Jb): \"zz\" is not a number"},
        {"a,b,y\n1,2,\n", "t.csv:2:3 (y): empty field"},
        {"a,b,y\n1,2,a\x01\n", "t.csv:2:3 (y): the label holds a control character"},
        /* a CR alone ends no line: the last line's, or old Mac text's */
        {"a,b,y\n1,2,a\r", "t.csv:2:3 (y): the label holds a control character (byte "
                           "0x0d is a carriage return not followed by a line feed: CSV "
                           "lines end in LF or CRLF)"},
        /* a CRLF inside quotes is a line break in the field, not a lone CR */
        {"a,b,y\r\n1,2,\"x\r\ny\"\r\n", "t.csv:2:3 (y): the label holds a control "
                                        "character (a line break inside quotes)"},
        {"a,b,y\n1,2\r,a\n", "t.csv:2:2 (b): a control character (byte 0x0d, byte 2 of "
                             "the field) where a number belongs (byte 0x0d is a carriage "
                             "return"},
        {"a,b,y\n1,2,\xC3\n", "t.csv:2:3 (y): the label is not valid UTF-8"},
        {"", "t.csv:1: empty file"},
        {"\n\r\n\n", "t.csv:1: empty file"},
        {"a,b,y\n", "t.csv:2: a header but no data rows"},
        {"a,b,y\n\n\n", "t.csv:4: a header but no data rows"},
        {"a,b,y\r1,2,a\r3,4,b\r", "t.csv:1: a header but no data rows (byte 0x0d is a "
                                  "carriage return not followed by a line feed"},
        /* the hint looks through the header's last field too */
        {"a,b,y\r", "t.csv:1: a header but no data rows (byte 0x0d is a carriage "
                    "return not followed by a line feed"},
        {"a,y\n\"1,0\n", "t.csv:2:1 (a): the quoted field never ends"},
        {"a,y\n\"1\"2,0\n", "t.csv:2:1 (a): text after the closing quote"},
        {"a,y\n1\"2,0\n", "t.csv:2:1 (a): a quote inside an unquoted field"},
        {"y\n1\n", "t.csv:1: no feature columns"},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        load_bad(cases[k].text, &o, MLP_STATUS_BAD_FORMAT, cases[k].where);

    /* A NUL byte: binary data (it cut the field short: "" is not a number,
     * said the parser before), here inside a number and at the end of a
     * field. */
    mlp_dataset *ds = (mlp_dataset *)&ds;
    TU_FAIL_MSG(mlp__dataset_load_csv_mem(&ds, "a,y\n1\0002,k\n", 11, "t.csv", &o),
                MLP_STATUS_BAD_FORMAT,
                "t.csv:2: a NUL byte (byte 2 of the line): binary");
    ck_assert_ptr_null(ds);
    TU_FAIL_MSG(mlp__dataset_load_csv_mem(&ds, "a,y\n1,k\n3,\000", 11, "t.csv", &o),
                MLP_STATUS_BAD_FORMAT, "t.csv:3: a NUL byte (byte 3 of the line)");
    ck_assert_ptr_null(ds);

    /* Missing columns. */
    o.target_name = "zz";
    load_bad("a,b,y\n1,2,0\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:1: no target column named \"zz\" (the header's: a, b, y)");
    /* old Mac text: its lines end in a CR alone, so the header is the file */
    o.target_name = "y";
    load_bad(
        "a,b,y\r1,2,a\r", &o, MLP_STATUS_BAD_FORMAT,
        "no target column named \"y\" (the header's: a, b, y?1, 2, a?) (byte 0x0d is "
        "a carriage return not followed by a line feed");
    o.target_name = "b";
    load_bad("a,b,b\n1,2,0\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:1: two columns are named");
    o.target_name = NULL;
    o.target_index = 5;
    load_bad("a,b,y\n1,2,0\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:1: no target column 5: the file has 3 columns");
    o.target_index = -1;
    o.feature_names = (const char *const[]){"a", "q"};
    o.num_features = 2;
    load_bad("a,b,y\n1,2,0\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:1: no feature column named \"q\"");
    o.feature_names = NULL;
    o.feature_indices = (const int32_t[]){0, 9};
    load_bad("a,b,y\n1,2,0\n", &o, MLP_STATUS_BAD_FORMAT, "t.csv:1: no feature column 9");
    /* A regression target must be a number. */
    o = regress();
    load_bad("a,y\n1,2\n3,big\n", &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:3:2 (y): \"big\" is not a number");
}
END_TEST

START_TEST(limits)
{
    mlp_csv_options o = classify();
    /* A field of MLP_CSV_MAX_FIELD bytes passes; one more does not. */
    size_t cap = MLP_CSV_MAX_RECORD + 4096;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    strcpy(text, "a,y\n");
    size_t len = strlen(text);
    memset(text + len, '1', MLP_CSV_MAX_FIELD);
    len += MLP_CSV_MAX_FIELD;
    strcpy(text + len, ",k\n");
    mlp_dataset *ds = NULL;
    TU_FAIL(load(&ds, text, &o), MLP_STATUS_BAD_FORMAT); /* 1111... is beyond float */
    TU_ERROR_HAS("beyond the range of float");
    text[4] = '0';
    text[5] = '.';
    ds = load_ok(text, &o);
    mlp_dataset_destroy(ds);
    memmove(text + 5, text + 4, strlen(text + 4) + 1);
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:2:1 (a): field longer than 4096 bytes");
    /* A quoted field beyond the limit too. */
    strcpy(text, "a,y\n\"");
    len = strlen(text);
    memset(text + len, '1', MLP_CSV_MAX_FIELD + 10);
    strcpy(text + len + MLP_CSV_MAX_FIELD + 10, "\",k\n");
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:2:1 (a): field longer than 4096 bytes");
    /* A quoted field of exactly MLP_CSV_MAX_FIELD bytes is one too: text
     * after its closing quote is named as such, not as a field too long. */
    strcpy(text, "a,y\n\"");
    len = strlen(text);
    memset(text + len, '1', MLP_CSV_MAX_FIELD);
    strcpy(text + len + MLP_CSV_MAX_FIELD, "\"x,k\n");
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:2:1 (a): text after the closing quote");
    /* A record of exactly MLP_CSV_MAX_RECORD bytes that ends in a quoted
     * field: 255 fields of 4095 bytes, 255 commas and a last field of 4096
     * (its quotes and 4094 bytes between them). */
    len = 0;
    for (int c = 0; c < 255; c++) {
        memset(text + len, ' ', 4094);
        text[len + 4094] = '1';
        text[len + 4095] = ',';
        len += 4096;
    }
    text[len++] = '"';
    memset(text + len, ' ', 4093);
    text[len + 4093] = '2';
    len += 4094;
    text[len++] = '"';
    ck_assert_uint_eq(len, MLP_CSV_MAX_RECORD);
    strcpy(text + len, "\n");
    mlp_csv_options r = regress();
    r.header = 0;
    ds = load_ok(text, &r);
    ck_assert_int_eq(mlp_dataset_size(ds), 1);
    ck_assert_int_eq(mlp_dataset_sample_dim(ds, 0), 255);
    ck_assert_float_eq(mlp_dataset_target_values(ds, 0)[0], 2.0f);
    mlp_dataset_destroy(ds);
    /* one byte more inside the quotes, and its closing quote is the byte
     * past the limit */
    memmove(text + len - 4094, text + len - 4095, 4095);
    text[len + 1] = '\n';
    text[len + 2] = '\0';
    load_bad(text, &r, MLP_STATUS_BAD_FORMAT, "record longer than 1048576 bytes");
    /* A record beyond MLP_CSV_MAX_RECORD: many short fields on one line. */
    len = 0;
    while (len < (size_t)MLP_CSV_MAX_RECORD + 10) {
        memcpy(text + len, "1,", 2);
        len += 2;
    }
    strcpy(text + len, "k\n");
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT, "record longer than 1048576 bytes");
    free(text);
}
END_TEST

START_TEST(bad_options)
{
    mlp_csv_options o;
    mlp_dataset *ds = NULL;
    TU_FAIL(mlp_csv_options_init_size(&o, 3), MLP_STATUS_INVALID_ARG);
    TU_FAIL(mlp_csv_options_init_size(NULL, sizeof o), MLP_STATUS_INVALID_ARG);
    TU_OK(mlp_csv_options_init(&o));
    ck_assert_int_eq(o.separator, ',');
    ck_assert_int_eq(o.header, 1);
    ck_assert_int_eq(o.target_index, -1);
    ck_assert_int_eq(o.label_order, MLP_LABELS_SORTED);
    ck_assert_int_eq(o.task, 0);
    const char *t = "a,y\n1,2\n";
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "opts->task = 0");
    TU_FAIL(load(&ds, t, NULL), MLP_STATUS_INVALID_ARG);
    o.task = MLP_CSV_CLASSIFY;
    o.struct_size = 8;
    char want[160]; /* this release's size: the last the library knows */
    snprintf(
        want, sizeof want,
        "struct_size 8 is not the size of mlp_csv_options in any release this library "
        "knows (this one's is %zu)",
        sizeof(mlp_csv_options));
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, want);
    o = classify();
    o.separator = '"';
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "separator");
    o.separator = 300;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "separator");
    o = classify();
    o.label_order = 9;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "label_order");
    o = classify();
    o.target_index = -2;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "target_index");
    o = classify();
    o.header = 0;
    o.target_name = "y";
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "target_name needs a header");
    o = classify();
    o.feature_names = (const char *const[]){"a"};
    o.feature_indices = (const int32_t[]){0};
    o.num_features = 1;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "not both");
    o.feature_names = NULL;
    o.feature_indices = (const int32_t[]){1};
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "is the target column");
    o.feature_indices = (const int32_t[]){0, 0};
    o.num_features = 2;
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG, "listed twice");
    /* A list entry is named as the caller wrote it, its index 0-based as
     * the options take it (the messages said "feature 1 is the target
     * column 3" and "column 2 is listed twice" for the indices 2 and 1). */
    o.feature_indices = (const int32_t[]){0, 2};
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG,
             "mlp_dataset_load_csv: feature_indices[1] = 2 is the target column");
    o.feature_indices = (const int32_t[]){1, 1};
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG,
             "mlp_dataset_load_csv: feature_indices[1] = 1 is listed twice as a feature "
             "(entry 0 names the same column)");
    o.feature_indices = NULL;
    o.feature_names = (const char *const[]){"b", "y"};
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG,
             "mlp_dataset_load_csv: feature_names[1] = \"y\" is the target column");
    o.feature_names = (const char *const[]){"b", "b"};
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG,
             "feature_names[1] = \"b\" is listed twice as a feature (entry 0");
    o.feature_names = (const char *const[]){"a", NULL};
    load_bad("a,b,y\n1,2,3\n", &o, MLP_STATUS_INVALID_ARG,
             "mlp_dataset_load_csv: feature_names[1] is NULL");
    o.feature_names = NULL;
    o.feature_indices = (const int32_t[]){-1};
    o.num_features = 1;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "feature_indices[0] = -1");
    o.num_features = 0;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "num_features");
    o = regress();
    o.class_names = (const char *const[]){"a"};
    o.num_class_names = 1;
    load_bad(t, &o, MLP_STATUS_INVALID_ARG, "regression");
    /* Rows to predict read no target: a target named, by name or index,
     * is left out unread, so its cells may be blank or any text (rows
     * still to label); by name it must exist. */
    o = classify();
    o.task = MLP_CSV_FEATURES_ONLY;
    o.target_name = "y";
    ds = load_ok("a,y,b\n1,,2\n3,?,4\n5,\"\",6\n", &o);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 2);
    ck_assert_int_eq(mlp_dataset_size(ds), 3);
    ck_assert(feat(ds, 1, 0) == 3.0f && feat(ds, 1, 1) == 4.0f);
    mlp_dataset_destroy(ds);
    o.target_name = "zz";
    load_bad(t, &o, MLP_STATUS_BAD_FORMAT, "no target column named \"zz\"");
    o.target_name = NULL;
    o.target_index = 0;
    ds = load_ok("a,y,b\n,1,2\n", &o);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 2);
    ck_assert(feat(ds, 0, 0) == 1.0f && feat(ds, 0, 1) == 2.0f);
    mlp_dataset_destroy(ds);
    /* Leaving the column out by listing the features works. */
    o.target_index = -1;
    o.feature_names = (const char *const[]){"a"};
    o.num_features = 1;
    ds = load_ok(t, &o);
    ck_assert_int_eq(mlp_dataset_sample_size(ds), 1);
    mlp_dataset_destroy(ds);
}
END_TEST

/* The load a tu_oom_loop attempts: `text` from memory as "t.csv" or, with
 * `path` set, that file. The result is poisoned first, so a failure that
 * does not reset it to NULL is caught. */
typedef struct oom_csv {
    const char *text, *path;
    size_t len;
    mlp_csv_options o;
    mlp_dataset *ds;
} oom_csv;

static mlp_status try_load(void *ctx)
{
    oom_csv *c = ctx;
    c->ds = (mlp_dataset *)c;
    if (c->path)
        return mlp_dataset_load_csv(&c->ds, c->path, &c->o);
    return mlp__dataset_load_csv_mem(&c->ds, c->text, c->len, "t.csv", &c->o);
}

static void load_failed_cleanly(void *ctx, mlp_status st)
{
    if (st != MLP_STATUS_OK)
        ck_assert_ptr_null(((oom_csv *)ctx)->ds);
}

START_TEST(oom_loops)
{
    long live = mlp__alloc_live();
    /* Enough distinct labels to grow the table and the arrays. */
    char text[8192];
    size_t len = (size_t)snprintf(text, sizeof text, "a,b,label\n");
    for (int i = 0; i < 150; i++)
        len += (size_t)snprintf(text + len, sizeof text - len, "%d,%d.5,c%d\n", i, i,
                                i % 90);
    oom_csv c = {.text = text, .len = len, .o = classify()};
    /* The dataset a success made stays in c.ds, for the checks below. */
    tu_oom_cfg cfg;
    tu_oom_cfg_init(&cfg);
    cfg.keep_on_ok = 1;
    cfg.after = load_failed_cleanly;
    tu_oom_loop("mlp__dataset_load_csv_mem", try_load, &c, &cfg);
    ck_assert_int_eq(mlp_dataset_num_classes(c.ds), 90);
    ck_assert_int_eq(mlp_dataset_size(c.ds), 150);
    ck_assert_str_eq(mlp_dataset_class_name(c.ds, 0), "c0");
    ck_assert_str_eq(mlp_dataset_class_name(c.ds, 1), "c1");
    ck_assert_str_eq(mlp_dataset_class_name(c.ds, 2), "c10");
    mlp_dataset_destroy(c.ds);

    char path[64];
    temp_file(path, text, len, 1);
    c.path = path;
    c.o = regress();
    c.o.target_index = 0;
    c.o.feature_indices = (const int32_t[]){1};
    c.o.num_features = 1;
    tu_oom_loop("mlp_dataset_load_csv", try_load, &c, &cfg);
    ck_assert(mlp_dataset_target_values(c.ds, 149)[0] == 149.0f);
    ck_assert(feat(c.ds, 149, 0) == 149.5f);
    mlp_dataset_destroy(c.ds);
    unlink(path);

    /* Columns by name (a table of the header's names) and the class names
     * given (a check that none repeats). */
    static const char *names[90];
    static char name_text[90][8];
    for (int i = 0; i < 90; i++) {
        snprintf(name_text[i], sizeof name_text[i], "c%d", 89 - i);
        names[i] = name_text[i];
    }
    c.path = NULL;
    c.o = classify();
    c.o.target_name = "label";
    c.o.feature_names = (const char *const[]){"b"};
    c.o.num_features = 1;
    c.o.class_names = names;
    c.o.num_class_names = 90;
    tu_oom_loop("mlp__dataset_load_csv_mem, columns and classes by name", try_load, &c,
                &cfg);
    ck_assert_str_eq(mlp_dataset_class_name(c.ds, 0), "c89");
    ck_assert(feat(c.ds, 149, 0) == 149.5f);
    ck_assert_int_eq(mlp_dataset_label(c.ds, 149), 89 - 149 % 90);
    mlp_dataset_destroy(c.ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* ---- scale: long headers and long class lists -------------------------- */

/* Names "<prefix><i>" for i = n-1 down to 0, their text in one malloc'd
 * block that names[0] points to (free_names frees both). */
static const char **reversed_names(const char *prefix, int32_t n)
{
    const char **names = malloc((size_t)n * sizeof *names);
    char *text = malloc((size_t)n * 16);
    ck_assert(names && text);
    for (int32_t k = 0; k < n; k++) {
        names[k] = text + (size_t)k * 16;
        snprintf(text + (size_t)k * 16, 16, "%s%d", prefix, (int)(n - 1 - k));
    }
    return names;
}

static void free_names(const char **names)
{
    free((void *)names[0]);
    free(names);
}

/* 2,000 features listed by name, in the reverse of the header's order,
 * each found in its column; a missing name and a repeated one still told
 * apart at either end of the header. (The lookup's speed, which was 47 s
 * for 100,000 names, is measured by bench_csv.) */
START_TEST(wide_header_by_name)
{
    enum { F = 2000 };
    long live = mlp__alloc_live();
    size_t cap = (size_t)F * 24 + 64, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    for (int j = 0; j < F; j++)
        len += (size_t)snprintf(text + len, cap - len, "f%d,", j);
    len += (size_t)snprintf(text + len, cap - len, "y\n");
    for (int i = 0; i < 2; i++) {
        for (int j = 0; j < F; j++)
            len += (size_t)snprintf(text + len, cap - len, "%d,", j + i);
        len += (size_t)snprintf(text + len, cap - len, "k%d\n", i);
    }
    const char **names = reversed_names("f", F);

    mlp_csv_options o = classify();
    o.target_name = "y";
    o.feature_names = names;
    o.num_features = F;
    mlp_dataset *ds = NULL;
    TU_OK(mlp__dataset_load_csv_mem(&ds, text, len, "t.csv", &o));
    ck_assert_int_eq(mlp_dataset_sample_size(ds), F);
    float *x = malloc(F * sizeof *x);
    ck_assert_ptr_nonnull(x);
    TU_OK(mlp_dataset_sample(ds, 1, x));
    for (int32_t k = 0; k < F; k++)
        TU_CHECK_MSG(x[k] == (float)(F - 1 - k + 1), "feature %d is %g", (int)k,
                     (double)x[k]);
    mlp_dataset_destroy(ds);
    /* The lookups still tell a missing name and a repeated one, at either
     * end of the header. */
    o.feature_indices = NULL;
    o.feature_names = (const char *const[]){"f0", "f1999", "f2000"};
    o.num_features = 3;
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT,
             "t.csv:1: no feature column named \"f2000\"");
    o.feature_names = (const char *const[]){"f1999", "f0", "e"};
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT, "t.csv:1: no feature column named \"e\"");
    memcpy(text, "f1,", 3); /* columns 0 and 1 are both "f1" */
    o.feature_names = (const char *const[]){"f1999", "f1"};
    o.num_features = 2;
    load_bad(text, &o, MLP_STATUS_BAD_FORMAT, "t.csv:1: two columns are named \"f1\"");
    o.feature_names = (const char *const[]){"f1999", "f2"};
    mlp_dataset_destroy(load_ok(text, &o));
    free(x);
    free_names(names);
    free(text);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* A list of 2,000 class names gives each row its class; a repeat in it is
 * named by its earliest pair. (The check's speed, which was 28 s for
 * 100,000 names, is measured by bench_csv.) */
START_TEST(long_class_list)
{
    enum { K = 2000 };
    long live = mlp__alloc_live();
    size_t cap = (size_t)K * 24 + 16, len = 0;
    char *text = malloc(cap);
    ck_assert_ptr_nonnull(text);
    len += (size_t)snprintf(text, cap, "a,y\n");
    for (int i = 0; i < K; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,c%d\n", i, i);
    const char **names = reversed_names("c", K);

    mlp_csv_options o = classify();
    o.class_names = names;
    o.num_class_names = K;
    mlp_dataset *ds = NULL;
    TU_OK(mlp__dataset_load_csv_mem(&ds, text, len, "t.csv", &o));
    ck_assert_int_eq(mlp_dataset_num_classes(ds), K);
    for (int32_t i = 0; i < K; i++)
        TU_CHECK_MSG(mlp_dataset_label(ds, i) == K - 1 - i, "row %d has label %d", (int)i,
                     (int)mlp_dataset_label(ds, i));
    mlp_dataset_destroy(ds);
    /* A repeat is still named by its first two places, the earliest pair. */
    o.class_names = names;
    o.num_class_names = K;
    names[K - 1] = names[3];     /* "c1996" at 3 and K - 1 */
    names[K - 2] = names[K - 5]; /* "c4" at K - 5 and K - 2: found first */
    load_bad(text, &o, MLP_STATUS_INVALID_ARG,
             "class_names[1995] and [1998] are both \"c4\"");
    names[K - 2] = "";
    load_bad(text, &o, MLP_STATUS_INVALID_ARG, "class_names[1998] is empty");
    names[K - 2] = "c1";
    load_bad(text, &o, MLP_STATUS_INVALID_ARG,
             "class_names[3] and [1999] are both \"c1996\"");
    free_names(names);
    free(text);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* A plain file longer than 2 GiB is read as any other: it was refused by
 * its size (the reader stopped at 2 GiB of text). The file here is sparse:
 * its text ends after one row and the rest reads as NUL bytes, which the
 * first window meets, so the test reads a few MiB, not 2 GiB. */
START_TEST(plain_file_beyond_2_gib)
{
    long live = mlp__alloc_live();
    char path[64];
    const char text[] = "a,y\n1,k\n";
    temp_file(path, text, sizeof text - 1, 0);
    /* The load runs before any assertion, so the file is removed when one
     * fails too. */
    mlp_csv_options o = classify();
    mlp_dataset *ds = (mlp_dataset *)&ds;
    mlp_status st = MLP_STATUS_IO;
    char msg[512] = "truncate failed";
    if (truncate(path, ((off_t)1 << 31) + 1) == 0) {
        st = mlp_dataset_load_csv(&ds, path, &o);
        snprintf(msg, sizeof msg, "%s", mlp_last_error());
    }
    unlink(path);
    ck_assert_msg(st == MLP_STATUS_BAD_FORMAT && ds == NULL, "%s", msg);
    ck_assert_msg(strstr(msg, ":3: a NUL byte (byte 1 of the line)") != NULL, "%s", msg);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

/* ---- the file's window -------------------------------------------------- */

/* Append printf text to the growing buffer b (its length in *len). */
static void MLP__PRINTF(3, 4) put(char *b, size_t *len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsprintf(b + *len, fmt, ap);
    va_end(ap);
    ck_assert_int_ge(n, 0);
    *len += (size_t)n;
}

/* About `size` bytes of a 3-column table (a, b, label) in every shape the
 * reader takes, in a pseudo-random mix: LF and CRLF endings, blank lines,
 * quoted numbers and labels with doubled quotes, numbers padded with up to
 * 4,000 spaces (so records start at every offset of the reader's window);
 * malloc'd, with room for 64 more bytes. */
static char *mixed_table(size_t size, size_t *len)
{
    char *b = malloc(size + 8192);
    ck_assert_ptr_nonnull(b);
    *len = 0;
    put(b, len, "a,\"b\",label\r\n");
    uint32_t s = 12345;
    for (int i = 0; *len < size; i++) {
        s = s * 1103515245u + 12345u;
        uint32_t k = (s >> 16) % 7;
        if (k == 0)
            put(b, len, "%d.25,%d,c%u\n", i, -i, (s >> 8) % 5);
        else if (k == 1)
            put(b, len, "%d,%d.5,c%u\r\n", i, i % 97, (s >> 8) % 5);
        else if (k == 2)
            put(b, len, "\n\r\n\n");
        else if (k == 3)
            put(b, len, "\" %d \",%d,\"q\"\"%u\"\n", i, i, (s >> 8) % 3);
        else
            put(b, len, "%*d,%d,c%u\n", (int)((s >> 4) % 4000) + 1, i, i, (s >> 8) % 5);
    }
    return b;
}

/* A regression table without a header: `blank` empty lines, then `rows`
 * records of exactly MLP_CSV_MAX_RECORD bytes before their CRLF (256
 * columns of numbers padded with spaces); malloc'd. */
static char *widest_records(size_t blank, int rows, size_t *len)
{
    const int cols = 256;
    char *b = malloc(blank + (size_t)rows * (MLP_CSV_MAX_RECORD + 2) + 1);
    ck_assert_ptr_nonnull(b);
    memset(b, '\n', blank);
    *len = blank;
    for (int i = 0; i < rows; i++) {
        size_t start = *len;
        /* 255 fields of 4095 bytes, one of 4096, 255 commas: 2^20 bytes */
        for (int c = 0; c < cols; c++)
            put(b, len, "%s%*d", c ? "," : "", c == cols - 1 ? 4096 : 4095, i * cols + c);
        ck_assert_uint_eq(*len - start, MLP_CSV_MAX_RECORD);
        put(b, len, "\r\n");
    }
    return b;
}

/* Whether two loaded datasets hold the same rows, targets and names. */
static void assert_same(const mlp_dataset *a, const mlp_dataset *b)
{
    int32_t n = mlp_dataset_size(a);
    int64_t f = mlp_dataset_sample_size(a);
    ck_assert_int_eq(mlp_dataset_size(b), n);
    ck_assert_int_eq(mlp_dataset_sample_size(b), f);
    ck_assert_int_eq(mlp_dataset_num_classes(b), mlp_dataset_num_classes(a));
    ck_assert_int_eq(mlp_dataset_target_dim(b), mlp_dataset_target_dim(a));
    float *x = malloc(2 * (size_t)f * sizeof *x);
    ck_assert_ptr_nonnull(x);
    for (int32_t i = 0; i < n; i++) {
        TU_OK(mlp_dataset_sample(a, i, x));
        TU_OK(mlp_dataset_sample(b, i, x + f));
        ck_assert_msg(memcmp(x, x + f, (size_t)f * sizeof *x) == 0, "row %d differs",
                      (int)i);
        if (mlp_dataset_target_dim(a) > 0)
            ck_assert(mlp_dataset_target_values(a, i)[0] ==
                      mlp_dataset_target_values(b, i)[0]);
        else
            ck_assert_int_eq(mlp_dataset_label(a, i), mlp_dataset_label(b, i));
    }
    for (int32_t k = 0; k < mlp_dataset_num_classes(a) && mlp_dataset_class_name(a, 0);
         k++)
        ck_assert_str_eq(mlp_dataset_class_name(a, k), mlp_dataset_class_name(b, k));
    free(x);
}

/* A file is read through a window of a few MiB, refilled between records
 * (plain files have their line breaks counted first, gzip files and pipes
 * do not): loaded from a plain file, a gzip file and a pipe, `text` gives
 * what it gives from memory, the same dataset or the same message. */
static void assert_window_reads(const char *text, size_t len, const mlp_csv_options *o)
{
    long live = mlp__alloc_live();
    char plain[64], gz[64];
    temp_file(plain, text, len, 0);
    temp_file(gz, text, len, 1);
    /* Messages from memory name the plain file, as its own do. */
    mlp_dataset *want = NULL;
    mlp_status want_st = mlp__dataset_load_csv_mem(&want, text, len, plain, o);
    char want_msg[512];
    snprintf(want_msg, sizeof want_msg, "%s", mlp_last_error());
    const size_t cuts[] = {1, 4096, len / 3, len / 3 + 1, len - 1};
    for (int w = 0; w < 3; w++) {
        mlp_dataset *got = (mlp_dataset *)&got;
        mlp_status st =
            w == 0   ? mlp_dataset_load_csv(&got, plain, o)
            : w == 1 ? mlp_dataset_load_csv(&got, gz, o)
                     : load_piped(&got, (const unsigned char *)text, len, cuts, 5, o);
        const char *how[] = {"plain", "gzip", "pipe"};
        ck_assert_msg(st == want_st, "%s: %s, from memory %s (%s)", how[w],
                      mlp_last_error(), mlp_status_str(want_st), want_msg);
        if (st == MLP_STATUS_OK) {
            assert_same(want, got);
            mlp_dataset_destroy(got);
        } else {
            ck_assert_ptr_null(got);
            const char *msg = mlp_last_error(), *tail = strchr(want_msg, ':');
            /* the other files' names differ; the rest (line, column, what)
             * must not */
            ck_assert_msg(strstr(msg, w == 0 ? want_msg : tail) != NULL,
                          "%s: \"%s\", from memory \"%s\"", how[w], msg, want_msg);
        }
    }
    mlp_dataset_destroy(want);
    unlink(plain);
    unlink(gz);
    ck_assert_int_eq(mlp__alloc_live(), live);
}

START_TEST(window_mixed_records)
{
    size_t len;
    char *text = mixed_table(MLP__CSV_WIN_SIZE + MLP__CSV_WIN_AHEAD, &len);
    mlp_csv_options o = classify();
    o.label_order = MLP_LABELS_FIRST_SEEN;
    assert_window_reads(text, len, &o);
    /* a bad field and a NUL byte in the last window: the same line */
    size_t end = len;
    put(text, &len, "1,2,c1\n1,x,c1\n");
    assert_window_reads(text, len, &o);
    len = end;
    put(text, &len, "1,2,c1\n1,2");
    text[len - 1] = '\0';
    put(text, &len, "3,c1\n");
    assert_window_reads(text, len, &o);
    free(text);
}
END_TEST

/* Text that ends in a closing quote, read through the window: after the
 * last refill, the bytes past the end of the text are those of an earlier
 * fill. Rows of 245 bytes whose label is 120 quotes put a quote there:
 * the last refill comes at the first row that starts less than
 * MLP__CSV_WIN_AHEAD bytes from the window's end, at p, and the text ends
 * at window byte len - p, which the first fill took from row byte
 * (len - p) mod 245 = 5 of a row. A reader that looked past the closing
 * quote for a second one (an escaped quote) would read on into them. */
START_TEST(window_ends_in_a_quote)
{
    const size_t row = 245, rows = MLP__CSV_WIN_SIZE / row + 1;
    char *text = malloc(rows * row + 8);
    ck_assert_ptr_nonnull(text);
    size_t len = 0;
    for (size_t i = 0; i < rows; i++) {
        memcpy(text + len, "1,\"", 3);
        memset(text + len + 3, '"', 240);
        memcpy(text + len + 243, "\"\n", 2);
        len += row;
    }
    memcpy(text + len, "2,\"x\"", 5);
    len += 5;
    text[len] = '\0';
    const size_t p = (MLP__CSV_WIN_SIZE - MLP__CSV_WIN_AHEAD) / row * row + row;
    ck_assert_uint_eq((len - p) % row, 5);
    ck_assert_int_eq(text[(len - p) + 0], '"'); /* the byte past the end */
    mlp_csv_options o = classify();
    o.header = 0;
    o.label_order = MLP_LABELS_FIRST_SEEN;
    /* a file, read through the window (text in memory is not) */
    char plain[64];
    temp_file(plain, text, len, 0);
    free(text);
    mlp_dataset *ds = NULL;
    TU_OK(mlp_dataset_load_csv(&ds, plain, &o));
    unlink(plain);
    ck_assert_int_eq(mlp_dataset_size(ds), (int)rows + 1);
    ck_assert_int_eq(mlp_dataset_num_classes(ds), 2);
    ck_assert_str_eq(mlp_dataset_class_name(ds, 1), "x");
    ck_assert_int_eq(mlp_dataset_label(ds, (int32_t)rows), 1);
    mlp_dataset_destroy(ds);
}
END_TEST

/* Records of the longest kind: the reader must refill its window before
 * each that does not fit in what is left of it, also when only its last
 * byte is missing. The blank lines put the start of the record that meets
 * the window's end one byte short of its length (with its CRLF) from
 * there: read without a refill, its CR would end the text. */
START_TEST(window_widest_records)
{
    const size_t rec = MLP_CSV_MAX_RECORD + 2, fit = MLP__CSV_WIN_SIZE / rec;
    size_t len, blank = MLP__CSV_WIN_SIZE - fit * rec + 1;
    char *text = widest_records(blank, (int)fit + 1, &len);
    mlp_csv_options o = regress();
    o.header = 0;
    assert_window_reads(text, len, &o);
    free(text);
}
END_TEST

/* The dataset keeps the blocks the reader filled, sized from the line
 * breaks it counted (a plain file) or saw in its first window (gzip): blank
 * lines and line breaks inside quoted fields are no rows, and a dataset of
 * 1,000 rows kept blocks for 10,000 (blank lines) or 101,000 (a skipped
 * column of text on 101 lines). It keeps no more than twice its rows. */
START_TEST(rows_kept_to_size)
{
#if defined(__GLIBC__)
    long live = mlp__alloc_live();
    const int rows = 1000;
    char *text = malloc((size_t)rows * 400 + 64);
    ck_assert_ptr_nonnull(text);
    for (int shape = 0; shape < 2; shape++) {
        size_t len = 0;
        put(text, &len, shape == 0 ? "a,b,c,d,y\n" : "a,comment,y\n");
        for (int i = 0; i < rows; i++) {
            if (shape == 0) {
                put(text, &len, "%d,2,3,4,%d\n", i, i % 3);
                memset(text + len, '\n', 40);
                len += 40;
            } else {
                put(text, &len, "%d,\"", i);
                for (int k = 0; k < 100; k++)
                    put(text, &len, "ab\n");
                put(text, &len, "\",k%d\n", i % 3);
            }
        }
        const int32_t first[] = {0};
        for (int file = 0; file < 4; file++) {
            /* plain, gzip, then both with a regression target */
            mlp_csv_options o = file < 2 ? classify() : regress();
            if (shape == 1) {
                if (file >= 2)
                    break;
                o.feature_indices = first;
                o.num_features = 1;
            }
            char path[64];
            temp_file(path, text, len, file % 2);
            mlp_dataset *ds = NULL;
            TU_OK(mlp_dataset_load_csv(&ds, path, &o));
            unlink(path);
            ck_assert_int_eq(mlp_dataset_size(ds), rows);
            int64_t f = mlp_dataset_sample_size(ds);
            ck_assert(feat(ds, rows - 1, 0) == (float)(rows - 1));
            if (file < 2)
                ck_assert_int_eq(mlp_dataset_label(ds, rows - 1), (rows - 1) % 3);
            else
                ck_assert(mlp_dataset_target_values(ds, rows - 1)[0] ==
                          (float)((rows - 1) % 3));
            size_t x = malloc_usable_size(ds->values_buf),
                   lab = malloc_usable_size(file < 2 ? (void *)ds->labels
                                                     : (void *)ds->targets_buf);
            ck_assert_msg(x <= 2 * (size_t)rows * (size_t)f * sizeof(float),
                          "shape %d, file %d: %zu bytes kept for %d rows of %d floats",
                          shape, file, x, rows, (int)f);
            ck_assert_msg(lab <= 2 * (size_t)rows * sizeof(int32_t),
                          "shape %d, file %d: %zu bytes of targets kept for %d rows",
                          shape, file, lab, rows);
            mlp_dataset_destroy(ds);
        }
    }
    free(text);
    ck_assert_int_eq(mlp__alloc_live(), live);
#endif
}
END_TEST

static Suite *csv_suite(void)
{
    Suite *s = suite_create("csv");
    TCase *tc = tcase_create("valid");
    tcase_add_test(tc, classify_sorted_and_first_seen);
    tcase_add_test(tc, given_class_list);
    tcase_add_test(tc, regress_and_columns);
    tcase_add_test(tc, csv_rows_to_predict_are_not_trained_on);
    tcase_add_test(tc, numbers_as_strtod_reads_them);
#if defined(__GLIBC__)
    tcase_add_test(tc, numbers_under_a_comma_locale);
#endif
    tcase_add_test(tc, quoting_endings_bom_separators);
    tcase_add_test(tc, files_plain_and_gzip);
    tcase_add_test(tc, files_from_pipes);
    tcase_add_test(tc, files_gzip_members_and_tails);
    tcase_add_test(tc, files_gzip_members_from_pipes);
    suite_add_tcase(s, tc);
    tc = tcase_create("bad");
    tcase_add_test(tc, bad_input_positions);
    tcase_add_test(tc, limits);
    tcase_add_test(tc, bad_options);
    tcase_add_test(tc, oom_loops);
    suite_add_tcase(s, tc);
    tc = tcase_create("scale");
    tcase_add_test(tc, wide_header_by_name);
    tcase_add_test(tc, long_class_list);
    tcase_add_test(tc, plain_file_beyond_2_gib);
    tcase_add_test(tc, window_mixed_records);
    tcase_add_test(tc, window_widest_records);
    tcase_add_test(tc, window_ends_in_a_quote);
    tcase_add_test(tc, rows_kept_to_size);
    suite_add_tcase(s, tc);
    return s;
}

/* ---- the real tabular data sets ---------------------------------------- */

static char tabular_dir[1024];

static mlp_dataset *load_real(const char *file, mlp_csv_options *o, double *seconds)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", tabular_dir, file);
    mlp_dataset *ds = NULL;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    TU_OK(mlp_dataset_load_csv(&ds, path, o));
    clock_gettime(CLOCK_MONOTONIC, &t1);
    *seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("csv: %s: %d rows, %lld features, %.2f ms\n", file, (int)mlp_dataset_size(ds),
           (long long)mlp_dataset_sample_size(ds), *seconds * 1e3);
    return ds;
}

START_TEST(real_tabular_sets)
{
    double s;
    mlp_csv_options o = classify();
    o.target_name = "species";
    mlp_dataset *tr = load_real("iris-train.csv", &o, &s);
    ck_assert_int_eq(mlp_dataset_size(tr), 120);
    ck_assert_int_eq(mlp_dataset_sample_size(tr), 4);
    ck_assert_int_eq(mlp_dataset_num_classes(tr), 3);
    ck_assert_str_eq(mlp_dataset_class_name(tr, 0), "setosa");
    ck_assert_str_eq(mlp_dataset_class_name(tr, 2), "virginica");
    const char *names[3];
    for (int k = 0; k < 3; k++)
        names[k] = mlp_dataset_class_name(tr, k);
    o.class_names = names;
    o.num_class_names = 3;
    mlp_dataset *te = load_real("iris-test.csv", &o, &s);
    ck_assert_int_eq(mlp_dataset_size(te), 30);
    mlp_dataset_destroy(te);
    mlp_dataset_destroy(tr);

    o = classify();
    o.target_name = "diagnosis";
    tr = load_real("breast-cancer-train.csv", &o, &s);
    ck_assert_int_eq(mlp_dataset_size(tr), 456);
    ck_assert_int_eq(mlp_dataset_sample_size(tr), 30);
    ck_assert_str_eq(mlp_dataset_class_name(tr, 0), "benign");
    ck_assert_str_eq(mlp_dataset_class_name(tr, 1), "malignant");
    mlp_dataset_destroy(tr);

    o = regress();
    o.target_name = "progression";
    tr = load_real("diabetes-train.csv", &o, &s);
    ck_assert_int_eq(mlp_dataset_size(tr), 354);
    ck_assert_int_eq(mlp_dataset_sample_size(tr), 10);
    ck_assert(mlp_dataset_target_values(tr, 0)[0] == 129.0f);
    ck_assert(feat(tr, 0, 4) == 182.0f);
    mlp_dataset_destroy(tr);
}
END_TEST

static int run_tabular(void)
{
    const char *dir = getenv("MLPNET_TABULAR_DIR");
    const char *data = getenv("MLPNET_DATA_DIR");
    if (dir && *dir)
        snprintf(tabular_dir, sizeof tabular_dir, "%s", dir);
    else if (data && *data)
        snprintf(tabular_dir, sizeof tabular_dir, "%s/../tabular", data);
    char probe[1200];
    snprintf(probe, sizeof probe, "%s/iris-train.csv", tabular_dir);
    if (!tabular_dir[0] || access(probe, R_OK) != 0) {
        printf("skip: no iris-train.csv in MLPNET_TABULAR_DIR or "
               "MLPNET_DATA_DIR/../tabular\n");
        return 77;
    }
    Suite *s = suite_create("csv_tabular");
    TCase *tc = tcase_create("real");
    tcase_add_test(tc, real_tabular_sets);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}

/* ---- text beyond 2 GiB (--large) ---------------------------------------- */

/* Records of LARGE_REC bytes: blanks, then "i mod 100003,i / 100003" and a
 * line break; enough of them for 2^31 bytes and 100 records more. */
enum { LARGE_REC = 4000, LARGE_MOD = 100003 };
#define LARGE_ROWS ((int32_t)((((int64_t)1 << 31) + LARGE_REC - 1) / LARGE_REC + 100))

/* Write the LARGE_ROWS records to fd, then the text `arg` (NULL: nothing). */
static void write_large(int fd, const void *arg)
{
    const char *tail = arg;
    enum { PER = 256 };
    char *buf = malloc((size_t)PER * LARGE_REC);
    if (!buf)
        _exit(1);
    memset(buf, ' ', (size_t)PER * LARGE_REC);
    for (int32_t i0 = 0; i0 < LARGE_ROWS; i0 += PER) {
        int32_t k = LARGE_ROWS - i0 < PER ? LARGE_ROWS - i0 : PER;
        for (int32_t i = i0; i < i0 + k; i++) {
            char *rec = buf + (size_t)(i - i0) * LARGE_REC, num[32];
            int len = snprintf(num, sizeof num, "%d,%d\n", (int)(i % LARGE_MOD),
                               (int)(i / LARGE_MOD));
            memset(rec, ' ', LARGE_REC - (size_t)len);
            memcpy(rec + LARGE_REC - len, num, (size_t)len);
        }
        for (size_t done = 0, n = (size_t)k * LARGE_REC; done < n;) {
            ssize_t w = write(fd, buf + done, n - done);
            if (w <= 0)
                _exit(1);
            done += (size_t)w;
        }
    }
    if (tail && write(fd, tail, strlen(tail)) != (ssize_t)strlen(tail))
        _exit(1);
    free(buf);
}

/* Load the large text, followed by `tail`, from a pipe a child writes. */
static mlp_status load_large(mlp_dataset **ds, const char *tail)
{
    mlp_csv_options o = regress();
    o.header = 0;
    return load_from_child(ds, &o, write_large, tail);
}

/* More than 2^31 bytes of text through a pipe: every row, with its value,
 * where the reader stopped at 2 GiB; and a bad record after them named by
 * its line. */
START_TEST(text_beyond_2_gib)
{
    long live = mlp__alloc_live();
    mlp_dataset *ds = NULL;
    TU_OK(load_large(&ds, NULL));
    ck_assert_int_eq(mlp_dataset_size(ds), LARGE_ROWS);
    const int32_t at[] = {0, LARGE_MOD, (int32_t)(((int64_t)1 << 31) / LARGE_REC),
                          LARGE_ROWS - 1};
    for (int k = 0; k < 4; k++) {
        float x;
        TU_OK(mlp_dataset_sample(ds, at[k], &x));
        const float y = mlp_dataset_target_values(ds, at[k])[0];
        ck_assert_msg(x == (float)(at[k] % LARGE_MOD) && y == (float)(at[k] / LARGE_MOD),
                      "row %d: %g,%g", (int)at[k], (double)x, (double)y);
    }
    mlp_dataset_destroy(ds);
    ds = (mlp_dataset *)&ds;
    char want[64];
    snprintf(want, sizeof want, ":%d:2: ", (int)LARGE_ROWS + 1);
    TU_FAIL_MSG(load_large(&ds, "1,x\n"), MLP_STATUS_BAD_FORMAT, want);
    ck_assert_ptr_null(ds);
    ck_assert_int_eq(mlp__alloc_live(), live);
}
END_TEST

static int run_large(void)
{
    Suite *s = suite_create("csv_large");
    TCase *tc = tcase_create("large");
    tcase_add_test(tc, text_beyond_2_gib);
    tcase_set_timeout(tc, 600);
    suite_add_tcase(s, tc);
    return tu_run_suite(s);
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--tabular") == 0)
        return run_tabular();
    if (argc > 1 && strcmp(argv[1], "--large") == 0)
        return run_large();
    return tu_run_suite(csv_suite());
}
