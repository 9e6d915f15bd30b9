/*
 * The CSV reader on wide tables: a list of feature columns named against
 * the same list by index, and a list of class names against the labels
 * found in the file, at 20,000 and 100,000 names. Each reference is the
 * load without the lookup the list adds, in the same run: a list looked up
 * in time linear in its length keeps the ratio near 1 at both sizes, where
 * one looked up name by name through the whole header (or checked for
 * repeats pair by pair) grows with the list (47 s against 0.13 s for
 * 100,000 feature names, 28 s against 0.5 s for 100,000 class names).
 * Prints the best of three loads of each; never fails on time.
 *
 * Then the memory of loading a file of a million rows of 20 numbers and a
 * label (143 MB), plain and gzip-compressed: the peak resident memory of a
 * process that loads it, less that of one that does not, against the size
 * of the dataset it returns (the reference: no load can need less). The
 * reader held the whole text and a copy of the rows before: 2.1 times the
 * file at the end of a load.
 *
 * Then the numbers: a load from memory of 200,000 rows of 20 numbers, in
 * ns a number, against strtod's conversion of the same numerals (what the
 * reader called for every number before), for numbers of 6 significant
 * digits (%.6g) and of 19 (%.18e, as data sets written from doubles have).
 */
#define _DEFAULT_SOURCE /* wait4 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset_impl.h"
#include "mlpnet/mlpnet.h"

#define BENCH_NAME "bench_csv"
#include "bench_util.h"

/* malloc(bytes), or exit 1: a benchmark without its data measures nothing. */
static void *alloc_or_exit(size_t bytes)
{
    void *p = malloc(bytes);
    if (!p) {
        fprintf(stderr, "%s: out of memory\n", BENCH_NAME);
        exit(1);
    }
    return p;
}

/* Seconds of the best of three loads of `len` bytes of text. */
static double best_load(const char *text, size_t len, const mlp_csv_options *o)
{
    double best = 1e30;
    for (int k = 0; k < 3; k++) {
        mlp_dataset *ds = NULL;
        const double t0 = bench_now();
        CHECK(mlp__dataset_load_csv_mem(&ds, text, len, "bench.csv", o));
        const double s = bench_now() - t0;
        mlp_dataset_destroy(ds);
        best = s < best ? s : best;
    }
    return best;
}

/* "<prefix><i>" for i = n - 1 down to 0, in one block (names[0] frees it). */
static const char **reversed_names(const char *prefix, int32_t n)
{
    const char **names = alloc_or_exit((size_t)n * sizeof *names);
    char *text = alloc_or_exit((size_t)n * 16);
    for (int32_t k = 0; k < n; k++) {
        names[k] = text + (size_t)k * 16;
        snprintf(text + (size_t)k * 16, 16, "%s%d", prefix, (int)(n - 1 - k));
    }
    return names;
}

/* A header of f feature columns f0.. and a label column y, two rows. */
static void features(int32_t f)
{
    const size_t cap = (size_t)f * 24 + 64;
    char *text = alloc_or_exit(cap);
    int32_t *idx = alloc_or_exit((size_t)f * sizeof *idx);
    size_t len = 0;
    for (int32_t j = 0; j < f; j++)
        len += (size_t)snprintf(text + len, cap - len, "f%d,", (int)j);
    len += (size_t)snprintf(text + len, cap - len, "y\n");
    for (int i = 0; i < 2; i++) {
        for (int32_t j = 0; j < f; j++)
            len += (size_t)snprintf(text + len, cap - len, "%d,", (int)(j + i));
        len += (size_t)snprintf(text + len, cap - len, "k%d\n", i);
    }
    const char **names = reversed_names("f", f);
    for (int32_t k = 0; k < f; k++)
        idx[k] = f - 1 - k;
    mlp_csv_options o;
    CHECK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    o.target_name = "y";
    o.feature_names = names;
    o.num_features = f;
    const double by_name = best_load(text, len, &o);
    o.feature_names = NULL;
    o.feature_indices = idx;
    const double by_index = best_load(text, len, &o);
    printf("%6d features by name:    %8.1f ms, by index %8.1f ms (%.2fx)\n", (int)f,
           by_name * 1e3, by_index * 1e3, by_name / by_index);
    free((void *)names[0]);
    free(names);
    free(idx);
    free(text);
}

/* k rows, each of its own class c0.., with the class list given or not. */
static void classes(int32_t k)
{
    const size_t cap = (size_t)k * 24 + 16;
    char *text = alloc_or_exit(cap);
    size_t len = (size_t)snprintf(text, cap, "a,y\n");
    for (int32_t i = 0; i < k; i++)
        len += (size_t)snprintf(text + len, cap - len, "%d,c%d\n", (int)i, (int)i);
    const char **names = reversed_names("c", k);
    mlp_csv_options o;
    CHECK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    o.class_names = names;
    o.num_class_names = k;
    const double listed = best_load(text, len, &o);
    o.class_names = NULL;
    o.num_class_names = 0;
    const double found = best_load(text, len, &o);
    printf("%6d classes listed:      %8.1f ms, found  %8.1f ms (%.2fx)\n", (int)k,
           listed * 1e3, found * 1e3, listed / found);
    free((void *)names[0]);
    free(names);
    free(text);
}

/* Peak resident KiB of a child process that loads `path` (or, with path
 * NULL, only starts); its load's seconds in *seconds. Exits 1 when the
 * child fails. */
static long child_peak_kib(const char *path, double *seconds)
{
    int fd[2];
    if (pipe(fd) != 0)
        exit(1);
    const pid_t pid = fork();
    if (pid < 0)
        exit(1);
    if (pid == 0) {
        close(fd[0]);
        double s = 0;
        if (path) {
            mlp_csv_options o;
            CHECK(mlp_csv_options_init(&o));
            o.task = MLP_CSV_CLASSIFY;
            mlp_dataset *ds = NULL;
            const double t0 = bench_now();
            CHECK(mlp_dataset_load_csv(&ds, path, &o));
            s = bench_now() - t0;
            mlp_dataset_destroy(ds);
        }
        _exit(write(fd[1], &s, sizeof s) == (ssize_t)sizeof s ? 0 : 1);
    }
    close(fd[1]);
    const ssize_t got = read(fd[0], seconds, sizeof *seconds);
    close(fd[0]);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || got != (ssize_t)sizeof *seconds) {
        fprintf(stderr, "%s: the load of %s failed\n", BENCH_NAME,
                path ? path : "nothing");
        exit(1);
    }
    return ru.ru_maxrss;
}

/* The memory of loading a file of `rows` rows of 20 numbers and a label,
 * plain and gzip. */
static void file_memory(int32_t rows)
{
    enum { F = 20 };
    char plain[] = "/tmp/mlpnet-bench-csv-XXXXXX";
    const int pfd = mkstemp(plain);
    if (pfd < 0)
        exit(1);
    FILE *f = fdopen(pfd, "w");
    char gz[sizeof plain + 3];
    snprintf(gz, sizeof gz, "%s.gz", plain);
    gzFile g = gzopen(gz, "wb1");
    if (!f || !g)
        exit(1);
    char line[F * 12 + 16];
    uint32_t s = 1;
    for (int j = 0; j < F; j++)
        fprintf(f, "f%d,", j), gzprintf(g, "f%d,", j);
    fputs("y\n", f);
    gzputs(g, "y\n");
    for (int32_t i = 0; i < rows; i++) {
        size_t len = 0;
        for (int j = 0; j < F; j++) {
            s = s * 1103515245u + 12345u;
            len += (size_t)snprintf(line + len, sizeof line - len, "%.4f,",
                                    (double)(s >> 8) / 16777216.0);
        }
        len += (size_t)snprintf(line + len, sizeof line - len, "c%d\n", (int)(i % 7));
        if (fwrite(line, 1, len, f) != len || gzwrite(g, line, (unsigned)len) != (int)len)
            exit(1);
    }
    const long bytes = ftell(f);
    if (fclose(f) != 0 || gzclose(g) != Z_OK)
        exit(1);
    const double dataset_mb = (double)rows * (F * 4 + 4) / 1e6;
    double seconds;
    const long base = child_peak_kib(NULL, &seconds);
    printf("load of %d rows x %d numbers and a label (%.0f MB of text), peak memory "
           "beyond a process's own (the dataset: %.0f MB):\n",
           (int)rows, F, (double)bytes / 1e6, dataset_mb);
    const char *paths[] = {plain, gz}, *names[] = {"plain", "gzip"};
    for (int k = 0; k < 2; k++) {
        const double mb =
            (double)(child_peak_kib(paths[k], &seconds) - base) * 1024 / 1e6;
        printf("  %-5s %7.0f MB (%.2fx the dataset, %.2fx the text), %.2f s\n", names[k],
               mb, mb / dataset_mb, mb * 1e6 / (double)bytes, seconds);
    }
    unlink(plain);
    unlink(gz);
}

/* ns a number: loading `rows` rows of F numerals printed with `fmt` from
 * memory, and strtod over the same numerals. */
static void numbers(const char *fmt, int32_t rows)
{
    enum { F = 20 };
    const size_t cap = (size_t)rows * F * 28 + 32; /* %.18e: 25 bytes and a separator */
    char *text = alloc_or_exit(cap);
    size_t len = 0;
    uint32_t s = 7;
    for (int32_t i = 0; i < rows; i++)
        for (int j = 0; j < F; j++) {
            s = s * 1103515245u + 12345u;
            const double v = ((double)(s >> 8) / 16777216.0 - 0.5) * 20.0;
            len += (size_t)snprintf(text + len, cap - len, fmt, v);
            text[len++] = j + 1 < F ? ',' : '\n';
        }
    mlp_csv_options o;
    CHECK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_FEATURES_ONLY;
    o.header = 0;
    double best = 1e30, ref = 1e30, sum = 0.0;
    for (int r = 0; r < 3; r++) {
        mlp_dataset *ds = NULL;
        double t0 = bench_now();
        CHECK(mlp__dataset_load_csv_mem(&ds, text, len, "numbers.csv", &o));
        const double t = bench_now() - t0;
        mlp_dataset_destroy(ds);
        best = t < best ? t : best;
        t0 = bench_now();
        for (char *p = text, *end = text + len; p < end; p++)
            sum += (float)strtod(p, &p); /* p: the separator after the numeral */
        const double tr = bench_now() - t0;
        ref = tr < ref ? tr : ref;
    }
    const double n = (double)rows * F;
    printf("numbers %-5s %6.1f ns a number loaded (%.0f MB/s); strtod alone %6.1f ns "
           "(%.2fx)%s\n",
           fmt, best / n * 1e9, (double)len / best / 1e6, ref / n * 1e9, ref / best,
           sum == 0.5 ? " " : ""); /* sum: the conversions are used */
    free(text);
}

int main(void)
{
    printf("bench_csv: the best of 3 loads each, %s\n",
           bench_cpu_clock() ? "CPU time" : "wall time");
    features(20000);
    features(100000);
    classes(20000);
    classes(100000);
    file_memory(1000000);
    numbers("%.6g", 200000);
    numbers("%.18e", 200000);
    return 0;
}
