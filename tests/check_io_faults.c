/*
 * System calls that fail, or behave as they may, where no test can make a
 * real file system do so. The linker sends every call of fsync, close,
 * rename, fchmod, read, pread (pread64) and write in this executable to
 * the __wrap_ functions below (-Wl,--wrap=NAME, tests/meson.build), which
 * pass it on to libc unless a test has armed a fault.
 *
 * Saves: syncing the temporary file or its directory, closing it, renaming
 * it over the target, copying the target's permissions. Each failure
 * before the rename must leave the earlier file as it was and no temporary
 * file behind; a failure to sync the directory comes after the rename, so
 * the new file is in place and the status says so. Writes of a few bytes
 * at a time, or interrupted, must save the same bytes.
 *
 * Loads (model files, IDX files plain and gzipped, CSV tables plain and
 * gzipped, .npz archives): reads that return a few bytes at a time, or
 * that a signal interrupts (EINTR), must give what a plain load gives; a
 * read error must fail the load with MLP_STATUS_IO and the system's
 * reason, return nothing and keep no allocation.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "mlpnet/data.h"
#include "mlpnet/io.h"
#include "testutil.h"

/* ---- the wrapped calls --------------------------------------------------- */

enum { W_FSYNC, W_CLOSE, W_RENAME, W_FCHMOD, W_READ, W_PREAD, W_WRITE, W_COUNT };

static int calls[W_COUNT];     /* calls since the last arm_fault */
static int fail_call[W_COUNT]; /* the call that fails (1: the first), 0: none */
static int fail_errno[W_COUNT];

/* Counts the calls of every wrapped function from now on, and makes call
 * `nth` of `which` fail with `err` (nth 0: none fails). */
static void arm_fault(int which, int nth, int err)
{
    memset(calls, 0, sizeof calls);
    memset(fail_call, 0, sizeof fail_call);
    if (which >= 0) {
        fail_call[which] = nth;
        fail_errno[which] = err;
    }
}

static void disarm(void)
{
    memset(fail_call, 0, sizeof fail_call);
}

/* Reads (read and pread) and writes from now on: at most `cap` bytes a
 * call (0: as asked), EINTR on every other call when `interrupt`, and from
 * call `fail_from` on (0: never) a failure with EIO. */
static size_t transfer_cap;
static int transfer_interrupt, transfer_fail_from;

static void arm_transfers(size_t cap, int interrupt, int fail_from)
{
    arm_fault(-1, 0, 0);
    transfer_cap = cap;
    transfer_interrupt = interrupt;
    transfer_fail_from = fail_from;
}

static void disarm_transfers(void)
{
    transfer_cap = 0;
    transfer_interrupt = transfer_fail_from = 0;
}

/* 0 to pass the call on, with *len capped; else -1 with errno set. Reads
 * count read and pread calls together. */
static int transfer_fault(int which, size_t *len)
{
    const int n = which == W_WRITE
                      ? ++calls[which]
                      : ++calls[which] + calls[which == W_READ ? W_PREAD : W_READ];
    if (transfer_fail_from && n >= transfer_fail_from) {
        errno = EIO;
        return -1;
    }
    if (transfer_interrupt && n % 2 == 1) {
        errno = EINTR;
        return -1;
    }
    if (transfer_cap && *len > transfer_cap)
        *len = transfer_cap;
    return 0;
}

/* 1 when this call of `which` is the one to fail (errno set). */
static int fails(int which)
{
    calls[which]++;
    if (fail_call[which] == 0 || calls[which] != fail_call[which])
        return 0;
    errno = fail_errno[which];
    return 1;
}

int __real_fsync(int fd);
int __real_close(int fd);
int __real_rename(const char *from, const char *to);
int __real_fchmod(int fd, mode_t mode);
int __wrap_fsync(int fd);
int __wrap_close(int fd);
int __wrap_rename(const char *from, const char *to);
int __wrap_fchmod(int fd, mode_t mode);
ssize_t __real_read(int fd, void *buf, size_t len);
ssize_t __real_pread(int fd, void *buf, size_t len, off_t off);
ssize_t __real_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_read(int fd, void *buf, size_t len);
ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off);
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off);
ssize_t __real_write(int fd, const void *buf, size_t len);
ssize_t __wrap_write(int fd, const void *buf, size_t len);

int __wrap_fsync(int fd)
{
    return fails(W_FSYNC) ? -1 : __real_fsync(fd);
}

/* A failed close still releases the descriptor on Linux: close it, then
 * report the failure. */
int __wrap_close(int fd)
{
    if (!fails(W_CLOSE))
        return __real_close(fd);
    const int err = errno;
    __real_close(fd);
    errno = err;
    return -1;
}

int __wrap_rename(const char *from, const char *to)
{
    return fails(W_RENAME) ? -1 : __real_rename(from, to);
}

int __wrap_fchmod(int fd, mode_t mode)
{
    return fails(W_FCHMOD) ? -1 : __real_fchmod(fd, mode);
}

ssize_t __wrap_read(int fd, void *buf, size_t len)
{
    return transfer_fault(W_READ, &len) ? -1 : __real_read(fd, buf, len);
}

ssize_t __wrap_pread(int fd, void *buf, size_t len, off_t off)
{
    return transfer_fault(W_PREAD, &len) ? -1 : __real_pread(fd, buf, len, off);
}

/* With 64-bit file offsets (meson's default) glibc's headers name pread
 * pread64. */
ssize_t __wrap_pread64(int fd, void *buf, size_t len, off_t off)
{
    return transfer_fault(W_PREAD, &len) ? -1 : __real_pread64(fd, buf, len, off);
}

ssize_t __wrap_write(int fd, const void *buf, size_t len)
{
    return transfer_fault(W_WRITE, &len) ? -1 : __real_write(fd, buf, len);
}

/* ---- helpers ------------------------------------------------------------- */

static char tmp_dir[256];
static char path[512];

/* A model of `units` outputs on 4 inputs. */
static mlp_model *small_model(int32_t units)
{
    mlp_model *m = tu_model(1, (const int32_t[]){4}, 7);
    tu_add(m, tu_dense(units));
    return m;
}

/* A fresh directory holding model.mlpnet, a model of 3 outputs; its bytes
 * and length. */
static unsigned char *setup_earlier_file(size_t *len)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_io_faults");
    snprintf(path, sizeof path, "%s/model.mlpnet", tmp_dir);
    mlp_model *m = small_model(3);
    TU_OK(mlp_model_save(m, path));
    mlp_model_destroy(m);
    return tu_read_file(path, len);
}

/* The file at `path` is still `before` and nothing else is in its
 * directory (no temporary file left). */
static void assert_unchanged(const unsigned char *before, size_t len)
{
    size_t n = 0;
    unsigned char *now = tu_read_file(path, &n);
    ck_assert_uint_eq(n, len);
    ck_assert_msg(memcmp(now, before, len) == 0, "the earlier file changed");
    free(now);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
}

/* Saves a model of 5 outputs over the earlier file with call `nth` of
 * `which` failing with `err`: the save must fail with MLP_STATUS_IO and a
 * message holding `text`, leave the earlier file and allocate nothing it
 * keeps. */
static void expect_save_refused(int which, int nth, int err, const char *text)
{
    size_t len = 0;
    unsigned char *before = setup_earlier_file(&len);
    mlp_model *m = small_model(5);
    const long live = mlp__alloc_live();
    arm_fault(which, nth, err);
    const mlp_status st = mlp_model_save(m, path);
    disarm();
    ck_assert_msg(calls[which] >= nth,
                  "the save made %d calls of the wrapped function, "
                  "wanted at least %d: is the wrapper linked in?",
                  calls[which], nth);
    ck_assert_msg(st == MLP_STATUS_IO, "status %d (%s)", (int)st, mlp_last_error());
    ck_assert_msg(strstr(mlp_last_error(), text), "%s", mlp_last_error());
    ck_assert_msg(strstr(mlp_last_error(), strerror(err)), "%s", mlp_last_error());
    ck_assert_int_eq(mlp__alloc_live(), live);
    assert_unchanged(before, len);
    free(before);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}

/* ---- tests --------------------------------------------------------------- */

/* Without faults, a save over an existing file makes the calls the tests
 * below fail: the temporary file's permissions copied, it and its
 * directory synced, both closed, one rename. A save to a new name copies
 * no permissions. (So the wrappers are in the path: a test that armed a
 * call the save never makes would pass whatever the library did.) */
START_TEST(save_makes_the_wrapped_calls)
{
    size_t len = 0;
    free(setup_earlier_file(&len));
    mlp_model *m = small_model(5);
    arm_fault(-1, 0, 0);
    TU_OK(mlp_model_save(m, path));
    ck_assert_int_eq(calls[W_FCHMOD], 1);
    ck_assert_int_eq(calls[W_FSYNC], 2);
    ck_assert_int_eq(calls[W_CLOSE], 2);
    ck_assert_int_eq(calls[W_RENAME], 1);
    char other[600];
    snprintf(other, sizeof other, "%s/new.mlpnet", tmp_dir);
    arm_fault(-1, 0, 0);
    TU_OK(mlp_model_save(m, other));
    ck_assert_int_eq(calls[W_FCHMOD], 0);
    ck_assert_int_eq(calls[W_RENAME], 1);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

/* Each step before the rename, failed with the reasons a disk gives. */
START_TEST(failed_steps_keep_the_earlier_file)
{
    static const struct {
        int which, err;
        const char *text;
    } steps[] = {
        {W_FCHMOD, EPERM, "cannot set the permissions"},
        {W_FSYNC, EIO, "cannot sync"},
        {W_FSYNC, ENOSPC, "cannot sync"},
        {W_CLOSE, EIO, "cannot close the temporary file"},
        {W_RENAME, EXDEV, "cannot rename the temporary file"},
        {W_RENAME, EIO, "cannot rename the temporary file"},
    };
    for (size_t i = 0; i < sizeof steps / sizeof steps[0]; i++)
        expect_save_refused(steps[i].which, 1, steps[i].err, steps[i].text);
}
END_TEST

/* The directory is synced after the rename: when that fails the new file
 * is in place, and the status says the save happened but may not last a
 * crash. File systems that cannot sync a directory (EINVAL, EROFS) are no
 * failure of the save. */
START_TEST(directory_sync_failure_reports_the_saved_file)
{
    size_t len = 0;
    free(setup_earlier_file(&len));
    mlp_model *m = small_model(5);
    arm_fault(W_FSYNC, 2, EIO);
    TU_FAIL(mlp_model_save(m, path), MLP_STATUS_IO);
    disarm();
    ck_assert_msg(strstr(mlp_last_error(), "saved, but cannot sync the directory"), "%s",
                  mlp_last_error());
    mlp_model *back = NULL;
    TU_OK(mlp_model_load(&back, path));
    ck_assert_int_eq(mlp_model_param_count(back), mlp_model_param_count(m));
    mlp_model_destroy(back);
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);

    const int fine[] = {EINVAL, EROFS};
    for (int i = 0; i < 2; i++) {
        arm_fault(W_FSYNC, 2, fine[i]);
        const mlp_status st = mlp_model_save(m, path);
        disarm();
        ck_assert_msg(st == MLP_STATUS_OK, "%s: status %d (%s)", strerror(fine[i]),
                      (int)st, mlp_last_error());
    }
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

/* Writes of 1 or 3 bytes at a time, and EINTR on every other write, save
 * the same bytes as plain ones, by more writes. */
START_TEST(saves_survive_short_and_interrupted_writes)
{
    size_t len = 0;
    free(setup_earlier_file(&len));
    mlp_model *m = small_model(5);
    TU_OK(mlp_model_save(m, path));
    size_t n0 = 0;
    unsigned char *plain = tu_read_file(path, &n0);
    const struct {
        size_t cap;
        int interrupt;
    } ways[] = {{1, 0}, {3, 0}, {0, 1}};
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(unlink(path), 0);
        arm_transfers(ways[i].cap, ways[i].interrupt, 0);
        const mlp_status st = mlp_model_save(m, path);
        disarm_transfers();
        ck_assert_msg(st == MLP_STATUS_OK, "writes of %zu bytes, EINTR %d: %s",
                      ways[i].cap, ways[i].interrupt, mlp_last_error());
        ck_assert_msg(calls[W_WRITE] > 1, "%d writes", calls[W_WRITE]);
        size_t n1 = 0;
        unsigned char *now = tu_read_file(path, &n1);
        ck_assert_uint_eq(n1, n0);
        ck_assert_msg(memcmp(now, plain, n0) == 0,
                      "writes of %zu bytes, EINTR %d: other bytes", ways[i].cap,
                      ways[i].interrupt);
        free(now);
        ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    }
    free(plain);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

/* ONNX export writes through the same path: a failed rename leaves no
 * file at the new name and no temporary file. */
START_TEST(onnx_export_rename_failure_leaves_nothing)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_io_faults");
    snprintf(path, sizeof path, "%s/model.onnx", tmp_dir);
    mlp_model *m = small_model(5);
    arm_fault(W_RENAME, 1, EIO);
    TU_FAIL(mlp_model_export_onnx(m, path), MLP_STATUS_IO);
    disarm();
    ck_assert_int_eq(calls[W_RENAME], 1);
    ck_assert_msg(strstr(mlp_last_error(), "cannot rename"), "%s", mlp_last_error());
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 0);
    TU_OK(mlp_model_export_onnx(m, path));
    ck_assert_int_eq(tu_count_dir_entries(tmp_dir), 1);
    mlp_model_destroy(m);
    tu_rm_tree(tmp_dir);
}
END_TEST

/* ---- loads --------------------------------------------------------------- */

/* A hash of every byte of `n` bytes at p into h (FNV-1a). */
static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 0x100000001b3ull;
    return h;
}

/* What a dataset holds: its size, samples and targets, hashed. */
static uint64_t dataset_hash(const mlp_dataset *ds)
{
    const int32_t n = mlp_dataset_size(ds);
    const int64_t size = mlp_dataset_sample_size(ds);
    float *x = malloc((size_t)size * sizeof(float));
    ck_assert_ptr_nonnull(x);
    uint64_t h = hash_bytes(0xcbf29ce484222325ull, &n, sizeof n);
    for (int32_t i = 0; i < n; i++) {
        TU_OK(mlp_dataset_sample(ds, i, x));
        h = hash_bytes(h, x, (size_t)size * sizeof(float));
        if (mlp_dataset_target_kind(ds) == MLP_TARGET_CLASS) {
            const int32_t y = mlp_dataset_label(ds, i);
            h = hash_bytes(h, &y, sizeof y);
        } else {
            h = hash_bytes(h, mlp_dataset_target_values(ds, i),
                           (size_t)mlp_dataset_target_dim(ds) * sizeof(float));
        }
    }
    free(x);
    return h;
}

/* One loader of the test below: loads `path` (and `path2`), and on success
 * sets *hash to what it loaded and frees it. */
typedef struct loader {
    const char *name;
    mlp_status (*load)(const struct loader *l, uint64_t *hash);
    char path[600], path2[600];
} loader;

static mlp_status load_model(const loader *l, uint64_t *hash)
{
    mlp_model *m = (mlp_model *)l; /* poisoned: a failed load must set NULL */
    const mlp_status st = mlp_model_load(&m, l->path);
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(m);
        return st;
    }
    void *buf = NULL;
    size_t len = 0;
    TU_OK(mlp_model_save_mem(m, &buf, &len));
    *hash = hash_bytes(0xcbf29ce484222325ull, buf, len);
    mlp_buffer_free(buf);
    mlp_model_destroy(m);
    return st;
}

/* A dataset loader's result: the hash and the dataset freed, or on
 * failure a check that nothing came back. */
static mlp_status dataset_result(mlp_status st, mlp_dataset *ds, uint64_t *hash)
{
    if (st != MLP_STATUS_OK) {
        ck_assert_ptr_null(ds);
        return st;
    }
    *hash = dataset_hash(ds);
    mlp_dataset_destroy(ds);
    return st;
}

static mlp_status load_idx(const loader *l, uint64_t *hash)
{
    mlp_dataset *ds = (mlp_dataset *)l;
    const mlp_status st = mlp_dataset_load_idx(&ds, l->path, l->path2, 3);
    return dataset_result(st, ds, hash);
}

static mlp_status load_csv(const loader *l, uint64_t *hash)
{
    mlp_csv_options o;
    TU_OK(mlp_csv_options_init(&o));
    o.task = MLP_CSV_CLASSIFY;
    mlp_dataset *ds = (mlp_dataset *)l;
    const mlp_status st = mlp_dataset_load_csv(&ds, l->path, &o);
    return dataset_result(st, ds, hash);
}

static mlp_status load_npz(const loader *l, uint64_t *hash)
{
    mlp_dataset *ds = (mlp_dataset *)l;
    const mlp_status st = mlp_dataset_load_npz(&ds, l->path, 0);
    return dataset_result(st, ds, hash);
}

/* IDX images [6, 5, 4] and labels, and a CSV table of 40 rows, each plain
 * and gzipped; a model file; the .npz fixtures. */
static int make_loaders(loader *ls)
{
    int n = 0;
    unsigned char img[16 + 6 * 5 * 4], lab[8 + 6];
    const unsigned char ih[16] = {0, 0, 8, 3, 0, 0, 0, 6, 0, 0, 0, 5, 0, 0, 0, 4};
    const unsigned char lh[8] = {0, 0, 8, 1, 0, 0, 0, 6};
    memcpy(img, ih, sizeof ih);
    memcpy(lab, lh, sizeof lh);
    for (int i = 0; i < 6 * 5 * 4; i++)
        img[16 + i] = (unsigned char)(i * 37 + 11);
    for (int i = 0; i < 6; i++)
        lab[8 + i] = (unsigned char)(i % 3);
    /* Rows enough that the gzipped table (about 13 KB) takes more than one
     * of the stream's reads (MLP__GZ_IN_CHUNK, 8 KiB). */
    static char csv[64 * 1024];
    size_t len = (size_t)snprintf(csv, sizeof csv, "width,height,kind\n");
    uint32_t x = 1;
    for (int r = 0; r < 2000; r++) {
        x = x * 1664525u + 1013904223u;
        len += (size_t)snprintf(csv + len, sizeof csv - len, "%d.%u,%u,%s\n", r, x >> 12,
                                x % 17, r % 3 ? "oak" : "elm");
    }
    ck_assert(len < sizeof csv - 1);
    for (int gz = 0; gz <= 1; gz++) {
        loader *l = &ls[n++];
        l->name = gz ? "IDX, gzipped" : "IDX";
        l->load = load_idx;
        snprintf(l->path, sizeof l->path, "%s/images%s", tmp_dir, gz ? ".gz" : "");
        snprintf(l->path2, sizeof l->path2, "%s/labels%s", tmp_dir, gz ? ".gz" : "");
        tu_write_file_gz(l->path, img, sizeof img, gz);
        tu_write_file_gz(l->path2, lab, sizeof lab, gz);
        l = &ls[n++];
        l->name = gz ? "CSV, gzipped" : "CSV";
        l->load = load_csv;
        snprintf(l->path, sizeof l->path, "%s/trees.csv%s", tmp_dir, gz ? ".gz" : "");
        tu_write_file_gz(l->path, csv, len, gz);
    }
    loader *l = &ls[n++];
    l->name = "model file";
    l->load = load_model;
    snprintf(l->path, sizeof l->path, "%s/model.mlpnet", tmp_dir);
    mlp_model *m = small_model(5);
    TU_OK(mlp_model_save(m, l->path));
    mlp_model_destroy(m);
    static const char *const npz[] = {"stored-u8.npz", "deflated-f32.npz"};
    for (int i = 0; i < 2; i++) {
        l = &ls[n++];
        l->name = npz[i];
        l->load = load_npz;
        snprintf(l->path, sizeof l->path, "%s/fixtures/fuzz-corpus/npz/%s", TU_SOURCE_DIR,
                 npz[i]);
    }
    return n;
}

/* Every loader, plain; then with reads of 1 and 3 bytes at a time, and
 * with EINTR on every other read: the same result, by as many reads as
 * the bytes need; then with every read failing from the first, from the
 * second, and so on to the last a plain load makes (the one that finds the
 * end of the file too): MLP_STATUS_IO with the system's reason, nothing
 * returned and no allocation kept. */
START_TEST(loads_survive_short_and_interrupted_reads)
{
    tu_tmp_dir(tmp_dir, sizeof tmp_dir, "check_io_faults");
    loader ls[8];
    const int n = make_loaders(ls);
    for (int i = 0; i < n; i++) {
        const loader *l = &ls[i];
        uint64_t want = 0, got = 0;
        arm_transfers(0, 0, 0);
        const mlp_status st = l->load(l, &want);
        disarm_transfers();
        ck_assert_msg(st == MLP_STATUS_OK, "%s: %s", l->name, mlp_last_error());
        const int plain_reads = calls[W_READ] + calls[W_PREAD];
        ck_assert_msg(plain_reads >= 1, "%s: no read went through the wrapper", l->name);

        const size_t caps[] = {1, 3};
        for (int c = 0; c < 2; c++) {
            arm_transfers(caps[c], 0, 0);
            const mlp_status st2 = l->load(l, &got);
            disarm_transfers();
            ck_assert_msg(st2 == MLP_STATUS_OK, "%s, reads of %zu bytes: %s", l->name,
                          caps[c], mlp_last_error());
            ck_assert_msg(got == want, "%s, reads of %zu bytes: another result", l->name,
                          caps[c]);
            ck_assert_msg(calls[W_READ] + calls[W_PREAD] > plain_reads,
                          "%s, reads of %zu bytes: %d reads, as many as whole ones",
                          l->name, caps[c], calls[W_READ] + calls[W_PREAD]);
        }
        arm_transfers(0, 1, 0);
        const mlp_status st3 = l->load(l, &got);
        disarm_transfers();
        ck_assert_msg(st3 == MLP_STATUS_OK, "%s, interrupted reads: %s", l->name,
                      mlp_last_error());
        ck_assert_msg(got == want, "%s, interrupted reads: another result", l->name);

        for (int from = 1; from <= plain_reads; from++) {
            const long live = mlp__alloc_live();
            arm_transfers(0, 0, from);
            const mlp_status st4 = l->load(l, &got);
            disarm_transfers();
            ck_assert_msg(st4 == MLP_STATUS_IO,
                          "%s, reads failing from the %d of %d: status %d (%s)", l->name,
                          from, plain_reads, (int)st4, mlp_last_error());
            ck_assert_msg(strstr(mlp_last_error(), strerror(EIO)), "%s: %s", l->name,
                          mlp_last_error());
            ck_assert_int_eq(mlp__alloc_live(), live);
        }
    }
    tu_rm_tree(tmp_dir);
}
END_TEST

static Suite *io_faults_suite(void)
{
    Suite *s = suite_create("io_faults");
    TCase *t = tcase_create("failed system calls of a save");
    tcase_add_test(t, save_makes_the_wrapped_calls);
    tcase_add_test(t, failed_steps_keep_the_earlier_file);
    tcase_add_test(t, directory_sync_failure_reports_the_saved_file);
    tcase_add_test(t, onnx_export_rename_failure_leaves_nothing);
    tcase_add_test(t, saves_survive_short_and_interrupted_writes);
    suite_add_tcase(s, t);
    t = tcase_create("reads of a load");
    tcase_add_test(t, loads_survive_short_and_interrupted_reads);
    suite_add_tcase(s, t);
    return s;
}

TU_MAIN(io_faults_suite, 0)
