/* c-family: a C service with a helper child process, for the tests that pause
 * it under a debugger (gcc -g -O0).  A debugger interrupting the service must
 * stop the service alone: gdbserver's interrupt is kill(-pid, SIGINT), the
 * whole process group, and when the service is PID 1 of its namespace (a
 * container's main process) that is kill(-1, SIGINT), every process there.
 *
 * The parent loops every TICK_MS ("tick N" on stdout).  The child, forked at
 * the start and left in the parent's process group, records every signal it
 * receives as a line "NAME" (SIGINT, SIGTERM, ...) in the file given as the
 * first argument or $SIGNAL_LOG (default /tmp/c-family-child-signals), which
 * it creates empty at the start; it ends when the parent does.
 * Line numbers the tests use are marked with "LINE:" comments. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#define TICK_MS 20

volatile long ticks;
static int log_fd = -1;

static void record(int sig)
{
    const char *name = sigabbrev_np(sig);
    char line[32];
    int n = snprintf(line, sizeof line, "SIG%s\n", name ? name : "?");

    if (write(log_fd, line, (size_t)n) < 0)
        _exit(2);
}

static void child(pid_t parent)
{
    static const int sigs[] = {SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGUSR1, SIGUSR2, SIGCONT};
    struct sigaction sa;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = record;
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        sigaction(sigs[i], &sa, NULL);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    while (getppid() == parent)
        usleep(100 * 1000);
    _exit(0);
}

static void tick(long n)
{
    ticks = n; /* LINE:tick */
    printf("tick %ld\n", n);
}

int main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : getenv("SIGNAL_LOG");
    pid_t parent = getpid();
    pid_t pid;

    if (path == NULL)
        path = "/tmp/c-family-child-signals";
    setvbuf(stdout, NULL, _IOLBF, 0);
    log_fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) {
        perror(path);
        return 1;
    }
    pid = fork();
    if (pid < 0) {
        perror("fork");
        return 1;
    }
    if (pid == 0)
        child(parent);
    close(log_fd);
    printf("ready pid %d child %d\n", (int)parent, (int)pid);
    for (long n = 1;; n++) {
        tick(n);
        usleep(TICK_MS * 1000);
    }
}
