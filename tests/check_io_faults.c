/*
 * Saves whose system calls fail where no test can make a real file system
 * fail: syncing the temporary file or its directory, closing it, renaming
 * it over the target, copying the target's permissions. The linker sends
 * every call of fsync, close, rename and fchmod in this executable to the
 * __wrap_ functions below (-Wl,--wrap=NAME, tests/meson.build), which pass
 * it on to libc unless a test has armed a failure. Each failure before the
 * rename must leave the earlier file as it was and no temporary file
 * behind; a failure to sync the directory comes after the rename, so the
 * new file is in place and the status says so.
 */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "mlpnet/io.h"
#include "testutil.h"

/* ---- the wrapped calls --------------------------------------------------- */

enum { W_FSYNC, W_CLOSE, W_RENAME, W_FCHMOD, W_COUNT };

static int calls[W_COUNT];     /* calls since the last arm_fault */
static int fail_call[W_COUNT]; /* the call that fails (1: the first), 0: none */
static int fail_errno[W_COUNT];

/* Counts the calls of all four from now on, and makes call `nth` of `which`
 * fail with `err` (nth 0: none fails). */
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

static Suite *io_faults_suite(void)
{
    Suite *s = suite_create("io_faults");
    TCase *t = tcase_create("failed system calls of a save");
    tcase_add_test(t, save_makes_the_wrapped_calls);
    tcase_add_test(t, failed_steps_keep_the_earlier_file);
    tcase_add_test(t, directory_sync_failure_reports_the_saved_file);
    tcase_add_test(t, onnx_export_rename_failure_leaves_nothing);
    suite_add_tcase(s, t);
    return s;
}

TU_MAIN(io_faults_suite, 0)
