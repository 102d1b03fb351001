/* c-hello: the sample C service kdap's tests debug (gcc -g -O0 -pthread).
 * An HTTP/1.0-style server on :8080 (or $PORT): the main thread accepts, a worker thread
 * answers each request, and a "ticker" thread counts seconds, so a debugger sees several
 * threads. A breakpoint in handle() shows the request path and the hit counter. */
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int hits;
static volatile long ticks;

static void handle(int fd, const char *path)
{
    char msg[512], resp[768];
    pthread_mutex_lock(&lock);
    int n = ++hits;
    pthread_mutex_unlock(&lock);
    snprintf(msg, sizeof msg, "hello %s #%d\n", path, n);
    int len = snprintf(resp, sizeof resp,
                       "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s", strlen(msg), msg); /* breakpoint line */
    if (write(fd, resp, (size_t)len) < 0)
        perror("write");
}

static void *worker(void *arg)
{
    int fd = (int)(long)arg;
    char buf[2048], path[256] = "/";
    ssize_t r = read(fd, buf, sizeof buf - 1);
    if (r > 0) {
        buf[r] = 0;
        sscanf(buf, "%*s %255s", path);
        handle(fd, path);
    }
    close(fd);
    return NULL;
}

static void *ticker(void *arg)
{
    (void)arg;
    for (;;) {
        sleep(1);
        ticks++;
    }
    return NULL;
}

static void on_term(int sig)
{
    (void)sig;
    static const char m[] = "c-hello: SIGTERM, exiting\n";
    if (write(1, m, sizeof m - 1) < 0)
        _exit(1);
    _exit(0);
}

int main(int argc, char **argv)
{
    const char *p = argc > 1 ? argv[1] : getenv("PORT");
    int port = p ? atoi(p) : 8080;
    signal(SIGTERM, on_term);
    signal(SIGPIPE, SIG_IGN);
    int s = socket(AF_INET6, SOCK_STREAM, 0), one = 1, zero = 0;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_port = htons((unsigned short)port),
                             .sin6_addr = in6addr_any};
    if (bind(s, (struct sockaddr *)&a, sizeof a) < 0 || listen(s, 64) < 0) {
        perror("bind/listen");
        return 1;
    }
    pthread_t t;
    pthread_create(&t, NULL, ticker, NULL);
    printf("c-hello listening on :%d (pid %d)\n", port, (int)getpid());
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);
        if (c < 0)
            continue;
        pthread_t w;
        if (pthread_create(&w, NULL, worker, (void *)(long)c) == 0)
            pthread_detach(w);
        else
            close(c);
    }
}
