/* kdap-gate: the only way into a debugger in the pod (README "Security").
 *
 * Every container of a pod shares its network namespace, so a debugger
 * listening on the pod's 127.0.0.1 is reachable from all of them.  The gate
 * runs in kdap's debug container next to delve or gdbserver, which serve
 * one client each: it becomes that client as soon as the debugger listens
 * (and gives up if anyone else got there first), then listens itself on
 * the port kdap's tunnel reaches.  A connection there is relayed to the
 * debugger only if its first line is the session's secret, which kdap
 * puts in this container's environment (other containers of the pod can
 * read its command line, not its environment: that takes ptrace rights
 * over a process holding SYS_PTRACE) and sends first on its tunnel.
 * Anything else is closed with nothing forwarded.  The gate is also the
 * watchdog: no authenticated client within WAIT_S seconds, and it exits
 * non-zero so that the script ends the debugger (which then detaches).
 *
 *   KDAP_GATE_SECRET=... kdap-gate LISTEN_PORT DEBUGGER_PORT WAIT_S
 *
 * Static, libc only: it goes into every debugger image kdap assembles. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define GATE_MAX_PENDING 8
#define GATE_AUTH_MS 5000 /* a connection's deadline for its first line */
#define GATE_SECRET_MAX 128

struct gate_pending {
    int fd;
    long long deadline;
    size_t len;
    char line[GATE_SECRET_MAX + 2];
};

static long long gate_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int gate_port(const char *s)
{
    char *end;
    long v = strtol(s, &end, 10);

    return *end == '\0' && v > 0 && v < 65536 ? (int)v : -1;
}

static struct sockaddr_in gate_addr(int port)
{
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

/* Established connections whose local port is `port` (the debugger's
 * side of each of its clients), from the pod's /proc/net/tcp{,6}. */
static int gate_clients_of(int port)
{
    static const char *const files[] = {"/proc/net/tcp", "/proc/net/tcp6"};
    char want[16], line[512];
    int n = 0;

    snprintf(want, sizeof(want), ":%04X", port);
    for (size_t i = 0; i < 2; i++) {
        FILE *f = fopen(files[i], "re");
        if (f == NULL)
            continue;
        while (fgets(line, sizeof(line), f) != NULL) {
            char local[64], remote[64], state[8];
            if (sscanf(line, "%*s %63s %63s %7s", local, remote, state) != 3)
                continue;
            size_t l = strlen(local);
            if (strcmp(state, "01") == 0 && l > 5 &&
                strncmp(local + l - 5, want, 5) == 0)
                n++;
        }
        fclose(f);
    }
    return n;
}

static int gate_intruder(int port)
{
    fprintf(stderr, "kdap-gate: another process connected to the "
                    "debugger's port %d first; ending the debugger\n",
            port);
    return -1;
}

/* The debugger's one client: us.  Retries until it listens.  delve and
 * gdbserver --once stop listening after their first client, so a client
 * before us shows as an established connection to the port (and a
 * debugger that kept listening would show two). */
static int gate_hold_debugger(int port, long long deadline)
{
    struct sockaddr_in a = gate_addr(port);

    while (gate_now_ms() < deadline) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            return -1;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0) {
            if (gate_clients_of(port) != 1) {
                close(fd);
                return gate_intruder(port);
            }
            return fd;
        }
        close(fd);
        if (gate_clients_of(port) > 0)
            return gate_intruder(port);
        usleep(10000);
    }
    fprintf(stderr, "kdap-gate: the debugger did not listen on port %d\n",
            port);
    return -1;
}

static int gate_listen(int port)
{
    struct sockaddr_in a = gate_addr(port);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(fd, 8) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Compares all of it whatever differs, so timing says nothing. */
static int gate_secret_is(const char *line, size_t len, const char *secret)
{
    size_t sl = strlen(secret);
    unsigned char d = (unsigned char)(len != sl);

    for (size_t i = 0; i < sl; i++)
        d |= (unsigned char)(secret[i] ^ (i < len ? line[i] : 0));
    return d == 0;
}

static int gate_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        buf += w;
        len -= (size_t)w;
    }
    return 0;
}

/* Bytes both ways until either side ends. */
static void gate_relay(int a, int b)
{
    char buf[65536];
    struct pollfd p[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};

    for (;;) {
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        for (int i = 0; i < 2; i++) {
            ssize_t n;
            if (p[i].revents == 0)
                continue;
            n = read(p[i].fd, buf, sizeof(buf));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0 || gate_write_all(p[1 - i].fd, buf, (size_t)n) < 0)
                return;
        }
    }
}

/* The first authenticated connection, or -1 when none came in time. */
static int gate_authenticate(int lfd, int dbg, const char *secret,
                             long long deadline)
{
    struct gate_pending pend[GATE_MAX_PENDING];
    size_t np = 0;

    for (;;) {
        struct pollfd p[GATE_MAX_PENDING + 2];
        long long now = gate_now_ms(), wake = deadline;
        int rc;

        if (now >= deadline)
            break;
        for (size_t i = 0; i < np;) {
            if (pend[i].deadline <= now) {
                close(pend[i].fd);
                pend[i] = pend[--np];
                continue;
            }
            if (pend[i].deadline < wake)
                wake = pend[i].deadline;
            i++;
        }
        p[0] = (struct pollfd){lfd, POLLIN, 0};
        p[1] = (struct pollfd){dbg, POLLIN, 0}; /* the debugger ended */
        for (size_t i = 0; i < np; i++)
            p[i + 2] = (struct pollfd){pend[i].fd, POLLIN, 0};
        rc = poll(p, np + 2, (int)(wake - now));
        if (rc < 0 && errno != EINTR)
            break;
        if (rc <= 0)
            continue;
        if (p[1].revents != 0)
            break;
        for (size_t i = np; i-- > 0;) {
            struct gate_pending *q = &pend[i];
            char *nl;
            ssize_t n;
            if (p[i + 2].revents == 0)
                continue;
            n = read(q->fd, q->line + q->len, sizeof(q->line) - 1 - q->len);
            if (n > 0)
                q->len += (size_t)n;
            nl = memchr(q->line, '\n', q->len);
            if (nl != NULL &&
                gate_secret_is(q->line, (size_t)(nl - q->line), secret)) {
                int fd = q->fd;
                size_t rest = q->len - (size_t)(nl + 1 - q->line);
                if (rest > 0 && gate_write_all(dbg, nl + 1, rest) < 0)
                    fd = -1;
                memset(q->line, 0, sizeof(q->line));
                for (size_t k = 0; k < np; k++)
                    if (k != i)
                        close(pend[k].fd);
                return fd;
            }
            if (n <= 0 || nl != NULL || q->len >= sizeof(q->line) - 1) {
                close(q->fd); /* not kdap: nothing forwarded */
                *q = pend[--np];
            }
        }
        if (p[0].revents != 0) {
            int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0 && np == GATE_MAX_PENDING)
                close(fd);
            else if (fd >= 0)
                pend[np++] = (struct gate_pending){
                    fd, gate_now_ms() + GATE_AUTH_MS, 0, {0}};
        }
    }
    for (size_t i = 0; i < np; i++)
        close(pend[i].fd);
    return -1;
}

int main(int argc, char **argv)
{
    const char *secret = getenv("KDAP_GATE_SECRET");
    int lport, dport, wait_s;
    long long deadline;
    int dbg, lfd, cfd;

    if (argc != 4 || (lport = gate_port(argv[1])) < 0 ||
        (dport = gate_port(argv[2])) < 0 || (wait_s = atoi(argv[3])) <= 0) {
        fprintf(stderr, "usage: KDAP_GATE_SECRET=... kdap-gate LISTEN_PORT "
                        "DEBUGGER_PORT WAIT_S\n");
        return 2;
    }
    /* No secret: nobody gets in (fail closed), the watchdog still runs. */
    if (secret == NULL || strlen(secret) < 16 ||
        strlen(secret) > GATE_SECRET_MAX) {
        fprintf(stderr, "kdap-gate: no usable KDAP_GATE_SECRET; nobody "
                        "will be let in\n");
        secret = NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    deadline = gate_now_ms() + (long long)wait_s * 1000;
    dbg = gate_hold_debugger(dport, deadline);
    if (dbg < 0)
        return 3;
    lfd = gate_listen(lport);
    if (lfd < 0) {
        fprintf(stderr, "kdap-gate: cannot listen on 127.0.0.1:%d: %s\n",
                lport, strerror(errno));
        return 3;
    }
    cfd = gate_authenticate(lfd, dbg, secret ? secret : "", deadline);
    close(lfd);
    if (cfd < 0 || secret == NULL) {
        fprintf(stderr, "kdap: no debugger client came within %d s; "
                        "detaching\n",
                wait_s);
        return 4;
    }
    printf("kdap-gate: kdap's client connected\n");
    fflush(stdout);
    {
        int one = 1;
        setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        setsockopt(dbg, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    gate_relay(cfd, dbg);
    return 0;
}
