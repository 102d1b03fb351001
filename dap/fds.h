/* fds.h - descriptors kdap owns are never inherited.
 *
 * kdap spawns exec credential plugins and gdb; whatever descriptor they
 * inherit (the log file, libcurl's wakeup socketpair, a connection to the
 * API server) they could read or write.  libuv opens everything
 * close-on-exec; what other libraries open without it is marked here.
 */
#ifndef KDAP_FDS_H
#define KDAP_FDS_H

#include "err.h"

/* Mark every open descriptor >= from close-on-exec.  Returns 0 or
 * -errno. */
int dap_fds_cloexec(int from);
/* Mark one descriptor close-on-exec.  Returns 0 or -errno. */
int dap_fd_cloexec(int fd);

#endif
