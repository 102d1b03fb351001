/* fds.c - see fds.h. */
#define _GNU_SOURCE
#include "fds.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

int dap_fd_cloexec(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl < 0)
        return -errno;
    if (!(fl & FD_CLOEXEC) && fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -errno;
    return 0;
}

int dap_fds_cloexec(int from)
{
    DIR *d;
    struct dirent *e;

    /* One system call on Linux 5.11 and later. */
    if (close_range((unsigned)from, ~0U, CLOSE_RANGE_CLOEXEC) == 0)
        return 0;
    d = opendir("/proc/self/fd");
    if (d == NULL)
        return -errno;
    while ((e = readdir(d)) != NULL) {
        char *end;
        long fd = strtol(e->d_name, &end, 10);
        if (*end != '\0' || end == e->d_name || fd < from || fd == dirfd(d))
            continue;
        (void)dap_fd_cloexec((int)fd);
    }
    closedir(d);
    return 0;
}
