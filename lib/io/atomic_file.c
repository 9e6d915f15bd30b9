/*
 * Writing whole files atomically, for every writer of the io room (model
 * files, ONNX exports): the bytes are produced in memory first, then go
 * through a temporary file that is synced and renamed over the target.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* fsync, fchmod, strerror_r */
#endif
#ifndef _XOPEN_SOURCE
#define _XOPEN_SOURCE 700 /* realpath (an XSI function in POSIX.1-2008) */
#endif

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/atomic_file.h"

static const char *errno_text(int err, char *buf, size_t cap)
{
    if (strerror_r(err, buf, cap) != 0)
        snprintf(buf, cap, "error %d", err);
    return buf;
}

mlp_status mlp__io_error(const char *fn, const char *what, const char *path, int err)
{
    char e[128];
    return mlp__error(MLP_STATUS_IO, "%s: %s %s: %s", fn, what, path,
                      errno_text(err, e, sizeof e));
}

mlp_status mlp__check_save_path(const char *path, const char *fn)
{
    MLP_CHECK_ARG(path, fn, "path is NULL");
    MLP_CHECK_ARG(path[0] != '\0', fn, "path is empty; nothing was written");
    return MLP_STATUS_OK;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n > (1u << 30) ? (1u << 30) : n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* Sync the directory of the temporary file `tmp`, whose first `dir_len`
 * bytes (0, or up to and with the last slash) name it, so that the rename
 * itself is durable. `tmp` is cut to the directory's name. */
static int sync_dir(char *tmp, size_t dir_len)
{
    if (dir_len)
        tmp[dir_len] = '\0';
    int fd = open(dir_len ? tmp : ".", O_RDONLY);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int err = errno;
    close(fd);
    /* Some file systems cannot sync a directory; that is not a failure of
     * the save. */
    if (rc != 0 && (err == EINVAL || err == EROFS || err == EBADF))
        rc = 0;
    errno = err;
    return rc;
}

/* The temporary file: DIR/.mlpnet-tmp.XXXXXX, in the target's directory so
 * that the rename stays on one file system. Its name is fixed, not the
 * target's with a suffix: a target name of NAME_MAX bytes (255 on most
 * file systems) left no room for one, and such saves failed. */
static const char TMP_NAME[] = ".mlpnet-tmp.XXXXXX";

/*
 * Create the temporary file `tmp` (ending in TMP_NAME's six X), opened for
 * writing, as open(2) creates a file: mode 0666 less the process's umask,
 * which mkstemp's 0600 hid (a new model file was 0644 whatever the umask,
 * readable by all under umask 077). The X become six characters of
 * [A-Za-z0-9] drawn anew until the name is free (O_EXCL). Returns the
 * descriptor, or -1 with errno set.
 */
static int create_tmp(char *tmp)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    static _Atomic uint64_t calls;
    char *x = tmp + strlen(tmp) - 6;
    mlp_rng r;
    /* the time, the process, the call and the buffer's address: names of
     * concurrent writers, in or across processes, start apart */
    mlp__rng_seed(&r, (uint64_t)(mlp__now() * 1e9) ^ (uint64_t)getpid() << 32 ^
                          atomic_fetch_add(&calls, 1) * 0x9E3779B97F4A7C15ull ^
                          (uint64_t)(uintptr_t)tmp);
    for (int attempt = 0; attempt < 1000; attempt++) {
        uint64_t v = mlp__rng_u64(&r);
        for (int i = 0; i < 6; i++, v >>= 8)
            x[i] = alphabet[(v & 0xFF) % (sizeof alphabet - 1)];
        int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0 || errno != EEXIST)
            return fd;
    }
    errno = EEXIST;
    return -1;
}

/* Write `len` bytes to `path` atomically: DIR/.mlpnet-tmp.XXXXXX in the
 * same directory, write, fsync, close, rename, fsync the directory. Any
 * failure before the rename removes the temporary file and leaves PATH as it
 * was. Only a writer killed before the rename leaves the temporary behind;
 * its name says whose it is, so it can be recognised and deleted
 * (docs/file-format.md, "Saving"). */
static mlp_status write_atomic(const char *path, const void *data, size_t len,
                               const char *fn)
{
    const char *slash = strrchr(path, '/');
    const size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0; /* with the slash */
    char *tmp = mlp__alloc(dir_len + sizeof TMP_NAME);
    if (!tmp)
        return MLP_STATUS_NO_MEMORY;
    memcpy(tmp, path, dir_len);
    memcpy(tmp + dir_len, TMP_NAME, sizeof TMP_NAME);
    mlp_status st = MLP_STATUS_OK;
    int fd = create_tmp(tmp);
    if (fd < 0) {
        st = mlp__io_error(fn, "cannot create a temporary file next to", path, errno);
        goto done;
    }
    /* A replacement keeps its predecessor's permissions; a new file has
     * those create_tmp gave it. */
    struct stat old;
    const char *step = NULL;
    if (stat(path, &old) == 0 && fchmod(fd, old.st_mode & 07777) != 0)
        step = "cannot set the permissions of the temporary file for";
    else if (write_all(fd, (const unsigned char *)data, len) != 0)
        step = "cannot write";
    else if (fsync(fd) != 0)
        step = "cannot sync";
    if (step) {
        int err = errno;
        close(fd);
        unlink(tmp);
        st = mlp__io_error(fn, step, path, err);
        goto done;
    }
    if (close(fd) != 0) {
        int err = errno;
        unlink(tmp);
        st = mlp__io_error(fn, "cannot close the temporary file of", path, err);
        goto done;
    }
    if (rename(tmp, path) != 0) {
        int err = errno;
        unlink(tmp);
        st = mlp__io_error(fn, "cannot rename the temporary file over", path, err);
        goto done;
    }
    if (sync_dir(tmp, dir_len) != 0)
        st = mlp__io_error(fn, "saved, but cannot sync the directory of", path, errno);
done:
    mlp__free(tmp);
    return st;
}

/* The target must be a regular file or not exist yet: a rename over a
 * device, a FIFO or a directory's entry would replace that node (a save to
 * /dev/null by root replaced the device with a file). A symbolic link to a
 * regular file is followed: the file it names is replaced and the link
 * stays; a link to nothing is refused, as it is not clear what the caller
 * means by it. */
mlp_status mlp__write_atomic(const char *path, const void *data, size_t len,
                             const char *fn)
{
    struct stat to, link;
    if (stat(path, &to) == 0 && !S_ISREG(to.st_mode))
        return mlp__error(MLP_STATUS_IO,
                          "%s: %s is not a regular file; nothing was written", fn, path);
    if (lstat(path, &link) != 0 || !S_ISLNK(link.st_mode))
        return write_atomic(path, data, len, fn);
    char *target = realpath(path, NULL);
    if (!target)
        return mlp__io_error(fn, "cannot follow the symbolic link", path, errno);
    mlp_status st = write_atomic(target, data, len, fn);
    free(target);
    return st;
}
