/* test_log.c - the log file: private, never through a symbolic link,
 * repeats rate-limited, and a destination that takes nothing never blocks
 * (the lines are counted and reported). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dap/log.h"
#include "tests/test.h"

static char *slurp(const char *path)
{
    static char buf[65536];
    int fd = open(path, O_RDONLY);
    ssize_t n;

    ASSERT(fd >= 0);
    n = read(fd, buf, sizeof(buf) - 1);
    ASSERT(n >= 0);
    buf[n] = '\0';
    close(fd);
    return buf;
}

static int count(const char *hay, const char *needle)
{
    int n = 0;

    for (const char *p = strstr(hay, needle); p != NULL;
         p = strstr(p + 1, needle))
        n++;
    return n;
}

int main(void)
{
    char dir[] = "/tmp/kdap-test-log-XXXXXX";
    char path[256], link[256], victim[256];
    struct stat st;
    const char *text;

    ASSERT(mkdtemp(dir) != NULL);
    snprintf(path, sizeof(path), "%s/kdap.log", dir);
    snprintf(link, sizeof(link), "%s/link.log", dir);
    snprintf(victim, sizeof(victim), "%s/victim", dir);

    /* Created private; repeats logged once with their count. */
    ASSERT_OK(dap_log_open(path, DAP_LOG_INFO));
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    for (int i = 0; i < 5; i++)
        DAP_LOGW("the same %s", "thing");
    DAP_LOGW("something else");
    dap_log_close();
    text = slurp(path);
    ASSERT_EQ(count(text, "the same thing"), 1);
    ASSERT(strstr(text, "came 4 more times") != NULL);
    ASSERT(strstr(text, "something else") != NULL);

    /* An old world-readable log is made private. */
    ASSERT_OK(chmod(path, 0644));
    ASSERT_OK(dap_log_open(path, DAP_LOG_INFO));
    ASSERT_OK(stat(path, &st));
    ASSERT_EQ(st.st_mode & 0777, 0600);
    dap_log_close();

    /* Never through a symbolic link. */
    ASSERT_OK(close(open(victim, O_WRONLY | O_CREAT, 0600)));
    ASSERT_OK(symlink(victim, link));
    ASSERT_EQ(dap_log_open(link, DAP_LOG_INFO), -ELOOP);
    dap_log_close();
    ASSERT_OK(stat(victim, &st));
    ASSERT_EQ(st.st_size, 0);

    /* stderr a pipe nobody reads: logging goes on without blocking, and
     * once the pipe is read the dropped lines are counted. */
    {
        int p[2];
        int saved = dup(STDERR_FILENO);
        char big[3000];
        ASSERT_OK(pipe(p));
        ASSERT(dup2(p[1], STDERR_FILENO) >= 0);
        ASSERT_OK(dap_log_open(NULL, DAP_LOG_INFO));
        memset(big, 'x', sizeof(big) - 1);
        big[sizeof(big) - 1] = '\0';
        for (int i = 0; i < 200; i++) /* 600 KB: far more than a pipe holds */
            DAP_LOGW("%d %s", i, big);
        {
            static char drain[1 << 20];
            int fl = fcntl(p[0], F_GETFL);
            ASSERT_OK(fcntl(p[0], F_SETFL, fl | O_NONBLOCK));
            while (read(p[0], drain, sizeof(drain)) > 0)
                ;
            DAP_LOGW("after the drain");
            ssize_t n = read(p[0], drain, sizeof(drain) - 1);
            ASSERT(n > 0);
            drain[n] = '\0';
            ASSERT(strstr(drain, "log lines dropped") != NULL);
            ASSERT(strstr(drain, "after the drain") != NULL);
        }
        dap_log_close();
        ASSERT(dup2(saved, STDERR_FILENO) >= 0);
        close(saved);
        close(p[0]);
        close(p[1]);
    }

    unlink(link);
    unlink(victim);
    unlink(path);
    rmdir(dir);
    printf("test_log: ok\n");
    return 0;
}
