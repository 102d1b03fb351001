/* c-demo: the C program kdap's gdb tests debug (gcc -g -O0 -pthread).
 *
 * The main thread loops every TICK_MS calling tick() with a struct and
 * filling a global array of 1000 ints; two named threads ("worker-a",
 * "worker-b") idle in a loop.  Each tick prints "tick N" on stdout, so a
 * test sees that the program still runs after a debugger detached.
 * On demand, driven by signals so that no file or argument is needed:
 *   SIGUSR1: the next tick dereferences NULL (a SIGSEGV crash);
 *   SIGUSR2: the program exits with code 3.
 * Line numbers the tests use are marked with "LINE:" comments. */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TICK_MS 20

struct point {
    int x;
    int y;
    const char *label;
};

int numbers[1000];
volatile long counter;
static volatile sig_atomic_t crash_requested;
static volatile sig_atomic_t exit_requested;

static int tick(struct point *p, int n)
{
    int sq = n * n; /* LINE:tick */
    p->x = n;
    p->y = sq % 1000;
    numbers[n % 1000] = sq;
    int a = p->x + 1;
    int b = a * 2;
    int c = b + p->y;
    int d = c - a;
    int e = d ^ b;
    int f = e + 1;
    int g = f * 3;
    return sq + g - g; /* LINE:tick_end */
}

static void *idle(void *arg)
{
    volatile long spins = 0;

    (void)arg;
    for (;;) {
        spins++; /* LINE:idle */
        usleep(50000);
    }
    return NULL;
}

static void on_usr1(int sig)
{
    (void)sig;
    crash_requested = 1;
}

static void on_usr2(int sig)
{
    (void)sig;
    exit_requested = 1;
}

int main(void)
{
    struct point pt = {0, 0, "origin"};
    pthread_t ta, tb;

    for (int i = 0; i < 1000; i++)
        numbers[i] = i;
    pthread_create(&ta, NULL, idle, NULL);
    pthread_setname_np(ta, "worker-a");
    pthread_create(&tb, NULL, idle, NULL);
    pthread_setname_np(tb, "worker-b");
    signal(SIGUSR1, on_usr1);
    signal(SIGUSR2, on_usr2);
    setvbuf(stdout, NULL, _IOLBF, 0);
    printf("c-demo ready pid %d\n", (int)getpid());
    for (int n = 0;; n++) {
        int r = tick(&pt, n); /* LINE:call */
        counter = n;
        printf("tick %d %d\n", n, r);
        if (crash_requested) {
            int *volatile bad = NULL;
            *bad = 42; /* LINE:crash */
        }
        if (exit_requested)
            return 3;
        usleep(TICK_MS * 1000);
    }
}
