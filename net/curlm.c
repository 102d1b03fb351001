/* curlm.c - see curlm.h: sockets as uv_poll_t, curl's timeout as one
 * uv_timer_t, completions read after every action. */
#define _GNU_SOURCE /* vasprintf */
#include "curlm.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "../dap/fds.h"

struct sock_ctx {
    uv_poll_t poll;
    curl_socket_t fd;
    net_curlm *m;
    struct sock_ctx *prev, *next; /* the multi's open sockets */
};

struct net_curlm {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct sock_ctx *socks;
};

static int curl_inited;

static void check_multi_info(net_curlm *m)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(m->multi, &left)) != NULL) {
        struct net_xfer *x = NULL;
        CURL *easy = msg->easy_handle;
        CURLcode cc = msg->data.result;

        if (msg->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(m->multi, easy);
        if (x != NULL && x->done != NULL)
            x->done(x->data, easy, cc);
    }
}

static void sock_closed(uv_handle_t *h)
{
    free(h->data);
}

static void sock_close(net_curlm *m, struct sock_ctx *sc)
{
    if (sc->prev != NULL)
        sc->prev->next = sc->next;
    else
        m->socks = sc->next;
    if (sc->next != NULL)
        sc->next->prev = sc->prev;
    uv_poll_stop(&sc->poll);
    uv_close((uv_handle_t *)&sc->poll, sock_closed);
}

static int socket_noop(CURL *easy, curl_socket_t s, int action, void *userp,
                       void *socketp)
{
    (void)easy;
    (void)s;
    (void)action;
    (void)userp;
    (void)socketp;
    return 0;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
    struct sock_ctx *sc = h->data;
    net_curlm *m = sc->m;
    int flags = 0;
    int running;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(m->multi, sc->fd, flags, &running);
    check_multi_info(m);
}

static int socket_cb(CURL *easy, curl_socket_t s, int action, void *userp,
                     void *socketp)
{
    net_curlm *m = userp;
    struct sock_ctx *sc = socketp;
    int events = 0;

    (void)easy;
    if (action == CURL_POLL_REMOVE) {
        if (sc != NULL) {
            curl_multi_assign(m->multi, s, NULL);
            sock_close(m, sc);
        }
        return 0;
    }
    if (sc == NULL) {
        sc = calloc(1, sizeof(*sc));
        if (sc == NULL)
            return -1;
        sc->fd = s;
        sc->m = m;
        if (uv_poll_init_socket(m->loop, &sc->poll, s) < 0) {
            free(sc);
            return -1;
        }
        sc->poll.data = sc;
        sc->next = m->socks;
        if (m->socks != NULL)
            m->socks->prev = sc;
        m->socks = sc;
        curl_multi_assign(m->multi, s, sc);
    }
    if (action & CURL_POLL_IN)
        events |= UV_READABLE;
    if (action & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&sc->poll, events, on_poll);
    return 0;
}

static void on_timeout(uv_timer_t *t)
{
    net_curlm *m = t->data;
    int running;

    curl_multi_socket_action(m->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(m);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    net_curlm *m = userp;

    (void)multi;
    if (timeout_ms < 0)
        uv_timer_stop(&m->timer);
    else
        uv_timer_start(&m->timer, on_timeout, (uint64_t)timeout_ms, 0);
    return 0;
}

int net_curlm_new(uv_loop_t *loop, net_curlm **out)
{
    net_curlm *m;

    *out = NULL;
    if (!curl_inited) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_inited = 1;
    }
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return DAP_ENOMEM;
    m->loop = loop;
    m->multi = curl_multi_init();
    if (m->multi == NULL) {
        free(m);
        return DAP_ENOMEM;
    }
    /* libcurl's wakeup socketpair is not close-on-exec: exec plugins and
     * gdb would inherit it. */
    (void)dap_fds_cloexec(STDERR_FILENO + 1);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETDATA, m);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(m->multi, CURLMOPT_TIMERDATA, m);
    uv_timer_init(loop, &m->timer);
    m->timer.data = m;
    *out = m;
    return 0;
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

void net_curlm_free(net_curlm *m)
{
    if (m == NULL)
        return;
    /* curl may still report sockets while cleaning up: ignore that and
     * close what is left ourselves. */
    curl_multi_setopt(m->multi, CURLMOPT_SOCKETFUNCTION, socket_noop);
    curl_multi_cleanup(m->multi);
    while (m->socks != NULL)
        sock_close(m, m->socks);
    uv_timer_stop(&m->timer);
    uv_close((uv_handle_t *)&m->timer, timer_closed);
}

/* Every connection libcurl opens is close-on-exec (libcurl does not ask
 * for it): an exec plugin or gdb spawned later must not hold the API
 * server's or a registry's connection. */
static int sockopt_cb(void *data, curl_socket_t fd, curlsocktype purpose)
{
    (void)data;
    (void)purpose;
    (void)dap_fd_cloexec(fd);
    return CURL_SOCKOPT_OK;
}

int net_curlm_add(net_curlm *m, CURL *easy, struct net_xfer *x)
{
    curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(easy, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
    if (curl_multi_add_handle(m->multi, easy) != CURLM_OK)
        return DAP_ENOMEM;
    return 0;
}

void net_curlm_remove(net_curlm *m, CURL *easy)
{
    curl_multi_remove_handle(m->multi, easy);
}

int net_header_add(struct curl_slist **list, const char *fmt, ...)
{
    char *line = NULL;
    struct curl_slist *l;
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&line, fmt, ap);
    va_end(ap);
    if (n < 0)
        return DAP_ENOMEM;
    l = curl_slist_append(*list, line);
    OPENSSL_cleanse(line, (size_t)n);
    free(line);
    if (l == NULL)
        return DAP_ENOMEM;
    *list = l;
    return 0;
}

void net_headers_wipe(struct curl_slist **list)
{
    for (struct curl_slist *h = *list; h != NULL; h = h->next)
        OPENSSL_cleanse(h->data, strlen(h->data));
    curl_slist_free_all(*list);
    *list = NULL;
}
