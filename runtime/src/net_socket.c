/* Opening channels: listen, accept and connect over TCP, IPv4 or IPv6, each bounded by a
 * deadline. Why connect retries: the three roles are started by hand or by a script in any
 * order, so a refused connection usually means "not up yet", not "wrong address". */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "ezrt.h"
#include "net_private.h"

enum { RETRY_PAUSE_MS = 50, BACKLOG = 8 };

struct ezrt_listener {
    int fd;
    uint16_t port;
};

int64_t ezrt_net_now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

int ezrt_net_remaining_ms(int64_t deadline_ms)
{
    int64_t left = deadline_ms - ezrt_net_now_ms();
    if (left < 0) {
        return 0;
    }
    return left > INT32_MAX ? INT32_MAX : (int)left;
}

int ezrt_net_prepare_fd(int fd)
{
    int one = 1;
    int flags = fcntl(fd, F_GETFL, 0);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
        return -1;
    }
#ifdef SO_NOSIGPIPE
    setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
    return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

const char *ezrt_net_role_name(uint8_t role)
{
    switch (role) {
    case EZRT_ROLE_SERVER:
        return "server";
    case EZRT_ROLE_CLIENT:
        return "client";
    case EZRT_ROLE_DEALER:
        return "dealer";
    default:
        return "peer";
    }
}

static void report(char *err, size_t err_len, const char *what, const char *host, uint16_t port,
                   const char *why)
{
    if (err_len > 0) {
        snprintf(err, err_len, "%s %s port %u: %s", what, host, (unsigned)port, why);
    }
}

static int resolve(const char *host, uint16_t port, int passive, struct addrinfo **out)
{
    char service[8];
    struct addrinfo hints = {0};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(service, sizeof service, "%u", (unsigned)port);
    return getaddrinfo(host, service, &hints, out);
}

static int bind_first(const struct addrinfo *list, int *err_out)
{
    for (const struct addrinfo *a = list; a != NULL; a = a->ai_next) {
        int one = 1;
        int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) {
            *err_out = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, a->ai_addr, a->ai_addrlen) == 0 && listen(fd, BACKLOG) == 0) {
            return fd;
        }
        *err_out = errno;
        close(fd);
    }
    return -1;
}

static uint16_t bound_port(int fd)
{
    struct sockaddr_storage addr;
    socklen_t len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        return 0;
    }
    if (addr.ss_family == AF_INET6) {
        return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
    }
    return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

ezrt_status ezrt_listen(const char *host, uint16_t port, ezrt_listener **out, char *err,
                        size_t err_len)
{
    if (out == NULL || (err == NULL && err_len > 0)) {
        return EZRT_EINVAL;
    }
    *out = NULL;
    const char *name = host != NULL && host[0] != '\0' ? host : NULL;
    const char *shown = name != NULL ? name : "every address";
    struct addrinfo *list = NULL;
    int gai = resolve(name, port, 1, &list);
    if (gai != 0) {
        report(err, err_len, "cannot listen on", shown, port, gai_strerror(gai));
        return EZRT_EIO;
    }
    int why = 0;
    int fd = bind_first(list, &why);
    freeaddrinfo(list);
    if (fd < 0) {
        report(err, err_len, "cannot listen on", shown, port, strerror(why));
        return EZRT_EIO;
    }
    ezrt_listener *l = malloc(sizeof *l);
    if (l == NULL) {
        close(fd);
        return EZRT_ENOMEM;
    }
    l->fd = fd;
    l->port = bound_port(fd);
    *out = l;
    return EZRT_OK;
}

uint16_t ezrt_listener_port(const ezrt_listener *l)
{
    return l == NULL ? 0 : l->port;
}

void ezrt_listener_close(ezrt_listener *l)
{
    if (l != NULL) {
        close(l->fd);
        free(l);
    }
}

/* Waits for the listening socket to become readable; 1 when it did, 0 on timeout, -1 on error. */
static int wait_incoming(int fd, int64_t deadline)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    for (;;) {
        int n = poll(&p, 1, ezrt_net_remaining_ms(deadline));
        if (n != 0 && !(n < 0 && errno == EINTR)) {
            return n > 0 ? 1 : -1;
        }
        if (ezrt_net_remaining_ms(deadline) == 0) {
            return 0;
        }
    }
}

ezrt_status ezrt_accept(ezrt_listener *l, uint8_t peer_role, int timeout_ms, ezrt_channel **out,
                        char *err, size_t err_len)
{
    if (l == NULL || out == NULL || timeout_ms <= 0 || (err == NULL && err_len > 0)) {
        return EZRT_EINVAL;
    }
    *out = NULL;
    int64_t deadline = ezrt_net_now_ms() + timeout_ms;
    for (;;) {
        int ready = wait_incoming(l->fd, deadline);
        if (ready == 0 && err_len > 0) {
            snprintf(err, err_len, "no connection from %s on port %u within %.1f s",
                     ezrt_net_role_name(peer_role), (unsigned)l->port, timeout_ms / 1000.0);
        }
        if (ready == 0) {
            return EZRT_ETIMEOUT;
        }
        int fd = ready > 0 ? accept(l->fd, NULL, NULL) : -1;
        if (fd >= 0) {
            *out = ezrt_net_channel_new(fd, peer_role);
            return *out != NULL ? EZRT_OK : EZRT_ENOMEM;
        }
        /* The connection may have been reset between poll and accept: wait for the next one. */
        if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED) {
            report(err, err_len, "cannot accept on", "the listening", l->port, strerror(errno));
            return EZRT_EIO;
        }
    }
}

/* Loopback TCP can connect a socket to itself when its ephemeral port happens to be the target
 * port and nobody listens there (simultaneous open); that is no peer. */
static int connected_to_self(int fd)
{
    struct sockaddr_storage mine, theirs;
    socklen_t mine_len = sizeof mine, theirs_len = sizeof theirs;
    memset(&mine, 0, sizeof mine);
    memset(&theirs, 0, sizeof theirs);
    return getsockname(fd, (struct sockaddr *)&mine, &mine_len) == 0 &&
           getpeername(fd, (struct sockaddr *)&theirs, &theirs_len) == 0 &&
           mine_len == theirs_len && memcmp(&mine, &theirs, mine_len) == 0;
}

/* One non-blocking connection attempt to one address, waiting at most until deadline; returns a
 * connected socket, or -1 with the reason in *why. */
static int try_connect(const struct addrinfo *a, int64_t deadline, int *why)
{
    int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) {
        *why = errno;
        return -1;
    }
    int flags = fcntl(fd, F_GETFL, 0);
    int rc = fcntl(fd, F_SETFL, flags | O_NONBLOCK);
    rc = rc == 0 ? connect(fd, a->ai_addr, a->ai_addrlen) : -1;
    *why = errno;
    if (rc != 0 && errno == EINPROGRESS) {
        struct pollfd p = {.fd = fd, .events = POLLOUT};
        int n;
        do {
            n = poll(&p, 1, ezrt_net_remaining_ms(deadline));
        } while (n < 0 && errno == EINTR);
        socklen_t len = sizeof *why;
        *why = ETIMEDOUT;
        rc = n > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, why, &len) == 0 && *why == 0 ? 0 : -1;
    }
    if (rc == 0 && connected_to_self(fd)) {
        *why = ECONNREFUSED;
        rc = -1;
    }
    if (rc != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* Tries every address until one connects or the deadline passes, pausing between rounds. */
static int connect_any(const struct addrinfo *list, int64_t deadline, int *why)
{
    for (;;) {
        for (const struct addrinfo *a = list; a != NULL; a = a->ai_next) {
            int fd = try_connect(a, deadline, why);
            if (fd >= 0) {
                return fd;
            }
        }
        int left = ezrt_net_remaining_ms(deadline);
        if (left == 0) {
            return -1;
        }
        poll(NULL, 0, left < RETRY_PAUSE_MS ? left : RETRY_PAUSE_MS);
    }
}

ezrt_status ezrt_connect(const char *host, uint16_t port, uint8_t peer_role, int timeout_ms,
                         ezrt_channel **out, char *err, size_t err_len)
{
    if (host == NULL || out == NULL || timeout_ms <= 0 || (err == NULL && err_len > 0)) {
        return EZRT_EINVAL;
    }
    *out = NULL;
    struct addrinfo *list = NULL;
    int gai = resolve(host, port, 0, &list);
    if (gai != 0) {
        report(err, err_len, "cannot resolve", host, port, gai_strerror(gai));
        return EZRT_EIO;
    }
    int why = ETIMEDOUT;
    int fd = connect_any(list, ezrt_net_now_ms() + timeout_ms, &why);
    freeaddrinfo(list);
    if (fd < 0) {
        if (err_len > 0) {
            snprintf(err, err_len, "could not connect to %s at %s port %u within %.1f s: %s",
                     ezrt_net_role_name(peer_role), host, (unsigned)port, timeout_ms / 1000.0,
                     strerror(why));
        }
        return EZRT_ETIMEOUT;
    }
    *out = ezrt_net_channel_new(fd, peer_role);
    return *out != NULL ? EZRT_OK : EZRT_ENOMEM;
}
