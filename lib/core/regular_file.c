/*
 * Opening a file that must be a regular one. open(2) of a FIFO waits until
 * some process opens the other end, forever when none does, and only a
 * descriptor can tell what the name is without a race (a second lookup of
 * the name may find another file). So the file is opened without waiting,
 * examined, and only then made an ordinary blocking descriptor.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L /* O_CLOEXEC, fstat */
#endif

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "regular_file.h"

int mlp__open_regular(const char *path, struct stat *sb)
{
    /* O_NONBLOCK makes the open of a FIFO return at once; O_NOCTTY keeps a
     * terminal named by mistake from becoming the controlling one. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int ok = fstat(fd, sb) == 0;
    if (ok && !S_ISREG(sb->st_mode)) {
        close(fd);
        return MLP__NOT_REGULAR;
    }
    /* Regular files ignore O_NONBLOCK on the systems we know, but POSIX
     * leaves it open (mandatory locks may make reads fail with EAGAIN), so
     * the readers get the descriptor they would have had from open(2). */
    int flags = ok ? fcntl(fd, F_GETFL) : -1;
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0) {
        int err = errno;
        close(fd);
        errno = err;
        return -1;
    }
    return fd;
}
