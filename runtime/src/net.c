/* Channels between roles: framed messages over a connected TCP socket, with batching of sends,
 * a deadline on every blocking step, sticky failures whose messages name the peer and the
 * phase, and per-channel traffic counters. Why framing at all: the receiver always knows how
 * many bytes the protocol step needs, so a header carrying the length lets it tell a peer that
 * runs another protocol step (or is not an ezlang peer) from a slow one, instead of silently
 * mixing up messages. Lengths are public, so nothing here needs to be constant time. */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ezrt.h"
#include "net_private.h"

#ifndef MSG_NOSIGNAL
#define MSG_NOSIGNAL 0 /* platforms without it set SO_NOSIGPIPE on the socket instead */
#endif

enum {
    HEADER_BYTES = 8,
    SEND_QUEUE_BYTES = 64 * 1024,
    RECV_AHEAD_BYTES = 64 * 1024,
    PHASE_BYTES = 32,
    ERROR_BYTES = 320,
};
#define FRAME_MARKER 0x455Aull /* "EZ", in the header's two most significant bytes */
#define FRAME_MAX_LEN ((1ull << 48) - 1)

struct ezrt_channel {
    int fd;
    uint8_t peer_role;
    int timeout_ms;
    int failure;            /* the sticky error code; EZRT_OK while healthy */
    int received_last;      /* the next send starts a round */
    size_t frame_progress;  /* bytes of the current incoming frame consumed so far */
    ezrt_net_stats stats;
    char phase[PHASE_BYTES];
    char error[ERROR_BYTES];
    size_t queued;
    size_t ahead_pos, ahead_end;
    uint8_t queue[SEND_QUEUE_BYTES];
    uint8_t ahead[RECV_AHEAD_BYTES];
};

ezrt_channel *ezrt_net_channel_new(int fd, uint8_t peer_role)
{
    ezrt_channel *ch = calloc(1, sizeof *ch);
    if (ch == NULL || ezrt_net_prepare_fd(fd) != 0) {
        free(ch);
        close(fd);
        return NULL;
    }
    ch->fd = fd;
    ch->peer_role = peer_role;
    ch->timeout_ms = EZRT_NET_DEFAULT_TIMEOUT_MS;
    ch->received_last = 1;
    snprintf(ch->phase, sizeof ch->phase, "%s", "connection");
    return ch;
}

/* Records the channel's first failure; every later failure is a consequence of it. */
static int fail(ezrt_channel *ch, int code, const char *fmt, ...)
{
    if (ch->failure != EZRT_OK) {
        return ch->failure;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ch->error, sizeof ch->error, fmt, ap);
    va_end(ap);
    ch->failure = code;
    return code;
}

static const char *peer(const ezrt_channel *ch)
{
    return ezrt_net_role_name(ch->peer_role);
}

static int fail_closed(ezrt_channel *ch)
{
    const char *cut = ch->frame_progress > 0 ? " in the middle of a message" : "";
    return fail(ch, EZRT_EPEER, "%s disconnected%s during %s phase", peer(ch), cut, ch->phase);
}

static int fail_errno(ezrt_channel *ch, int err)
{
    if (err == ECONNRESET || err == EPIPE || err == ENOTCONN) {
        return fail_closed(ch);
    }
    return fail(ch, EZRT_EIO, "network error with %s during %s phase: %s", peer(ch), ch->phase,
                strerror(err));
}

/* Waits until the socket is ready for `events` or the channel's timeout passes without it. A
 * hang-up or socket error counts as ready: the next send or recv reports what happened. */
static int wait_ready(ezrt_channel *ch, short events)
{
    int64_t deadline = ezrt_net_now_ms() + ch->timeout_ms;
    struct pollfd p = {.fd = ch->fd, .events = events};
    for (;;) {
        int n = poll(&p, 1, ezrt_net_remaining_ms(deadline));
        if (n > 0) {
            return EZRT_OK;
        }
        if (n < 0 && errno != EINTR) {
            return fail_errno(ch, errno);
        }
        if (n == 0 || ezrt_net_remaining_ms(deadline) == 0) {
            double s = ch->timeout_ms / 1000.0;
            if (events == POLLIN) {
                return fail(ch, EZRT_ETIMEOUT, "no message from %s for %.1f s during %s phase",
                            peer(ch), s, ch->phase);
            }
            return fail(ch, EZRT_ETIMEOUT, "%s accepted no data for %.1f s during %s phase",
                        peer(ch), s, ch->phase);
        }
    }
}

/* Writes both pieces completely, as few TCP writes as the kernel allows. */
static int write_all(ezrt_channel *ch, const uint8_t *a, size_t a_len, const uint8_t *b,
                     size_t b_len)
{
    struct iovec iov[2] = {{(void *)a, a_len}, {(void *)b, b_len}};
    int first = 0;
    while (first < 2) {
        if (iov[first].iov_len == 0) {
            first++;
            continue;
        }
        struct msghdr msg = {.msg_iov = &iov[first], .msg_iovlen = (size_t)(2 - first)};
        ssize_t n = sendmsg(ch->fd, &msg, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            int rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? wait_ready(ch, POLLOUT)
                                                               : fail_errno(ch, errno);
            if (rc != EZRT_OK) {
                return rc;
            }
            continue;
        }
        for (size_t left = (size_t)n; left > 0;) {
            size_t step = left < iov[first].iov_len ? left : iov[first].iov_len;
            iov[first].iov_base = (uint8_t *)iov[first].iov_base + step;
            iov[first].iov_len -= step;
            left -= step;
            if (iov[first].iov_len == 0) {
                first++;
            }
        }
    }
    return EZRT_OK;
}

/* Reads what the socket has, at most cap bytes, waiting for at least one. */
static int read_some(ezrt_channel *ch, uint8_t *dst, size_t cap, size_t *got)
{
    for (;;) {
        ssize_t n = recv(ch->fd, dst, cap, 0);
        if (n > 0) {
            *got = (size_t)n;
            return EZRT_OK;
        }
        if (n == 0) {
            return fail_closed(ch);
        }
        if (errno == EINTR) {
            continue;
        }
        int rc = (errno == EAGAIN || errno == EWOULDBLOCK) ? wait_ready(ch, POLLIN)
                                                           : fail_errno(ch, errno);
        if (rc != EZRT_OK) {
            return rc;
        }
    }
}

/* Fills dst with exactly len bytes: first from the read-ahead buffer, then from the socket (a
 * large remainder straight into dst, a small one through the read-ahead buffer, so a batch of
 * small messages costs one system call). */
static int read_exact(ezrt_channel *ch, uint8_t *dst, size_t len)
{
    while (len > 0) {
        if (ch->ahead_pos == ch->ahead_end) {
            size_t got = 0;
            uint8_t *into = len >= RECV_AHEAD_BYTES ? dst : ch->ahead;
            int rc = read_some(ch, into, len >= RECV_AHEAD_BYTES ? len : RECV_AHEAD_BYTES, &got);
            if (rc != EZRT_OK) {
                return rc;
            }
            if (into == dst) {
                dst += got;
                len -= got;
                ch->frame_progress += got;
                continue;
            }
            ch->ahead_pos = 0;
            ch->ahead_end = got;
        }
        size_t have = ch->ahead_end - ch->ahead_pos;
        size_t step = have < len ? have : len;
        memcpy(dst, ch->ahead + ch->ahead_pos, step);
        ch->ahead_pos += step;
        dst += step;
        len -= step;
        ch->frame_progress += step;
    }
    return EZRT_OK;
}

static void put_header(uint8_t out[HEADER_BYTES], size_t len)
{
    uint64_t h = (FRAME_MARKER << 48) | (uint64_t)len;
    for (int i = 0; i < HEADER_BYTES; i++) {
        out[i] = (uint8_t)(h >> (8 * i));
    }
}

static int frame_flush(ezrt_channel *ch)
{
    if (ch->failure != EZRT_OK) {
        return ch->failure;
    }
    int rc = write_all(ch, ch->queue, ch->queued, NULL, 0);
    ch->queued = 0;
    return rc;
}

static int frame_send(ezrt_channel *ch, const uint8_t *buf, size_t len)
{
    uint8_t header[HEADER_BYTES];
    put_header(header, len);
    if (ch->queued + HEADER_BYTES > SEND_QUEUE_BYTES) {
        int rc = frame_flush(ch);
        if (rc != EZRT_OK) {
            return rc;
        }
    }
    memcpy(ch->queue + ch->queued, header, HEADER_BYTES);
    ch->queued += HEADER_BYTES;
    if (len <= SEND_QUEUE_BYTES - ch->queued) {
        if (len > 0) {
            memcpy(ch->queue + ch->queued, buf, len);
        }
        ch->queued += len;
        return EZRT_OK;
    }
    int rc = write_all(ch, ch->queue, ch->queued, buf, len);
    ch->queued = 0;
    return rc;
}

static int frame_recv(ezrt_channel *ch, uint8_t *buf, size_t len)
{
    int rc = frame_flush(ch);
    uint8_t header[HEADER_BYTES];
    ch->frame_progress = 0;
    if (rc == EZRT_OK) {
        rc = read_exact(ch, header, HEADER_BYTES);
    }
    if (rc != EZRT_OK) {
        return rc;
    }
    uint64_t h = 0;
    for (int i = HEADER_BYTES - 1; i >= 0; i--) {
        h = (h << 8) | header[i];
    }
    if (h >> 48 != FRAME_MARKER) {
        return fail(ch, EZRT_EPROTOCOL,
                    "malformed message from %s during %s phase: not an ezlang frame header",
                    peer(ch), ch->phase);
    }
    if ((h & FRAME_MAX_LEN) != (uint64_t)len) {
        return fail(ch, EZRT_EPROTOCOL,
                    "malformed message from %s during %s phase: %llu bytes, expected %llu",
                    peer(ch), ch->phase, (unsigned long long)(h & FRAME_MAX_LEN),
                    (unsigned long long)len);
    }
    rc = read_exact(ch, buf, len);
    ch->frame_progress = 0;
    return rc;
}

ezrt_status ezrt_send(ezrt_channel *ch, const uint8_t *buf, size_t len)
{
    if (ch == NULL || (buf == NULL && len > 0) || (uint64_t)len > FRAME_MAX_LEN) {
        return EZRT_EINVAL;
    }
    if (ch->failure != EZRT_OK) {
        return ch->failure;
    }
    ch->stats.rounds += (uint64_t)ch->received_last;
    ch->stats.messages_sent++;
    ch->stats.bytes_sent += HEADER_BYTES + (uint64_t)len;
    ch->received_last = 0;
    return frame_send(ch, buf, len);
}

ezrt_status ezrt_flush(ezrt_channel *ch)
{
    if (ch == NULL) {
        return EZRT_EINVAL;
    }
    return frame_flush(ch);
}

ezrt_status ezrt_recv(ezrt_channel *ch, uint8_t *buf, size_t len)
{
    if (ch == NULL || (buf == NULL && len > 0) || (uint64_t)len > FRAME_MAX_LEN) {
        return EZRT_EINVAL;
    }
    int rc = frame_recv(ch, buf, len);
    if (rc == EZRT_OK) {
        ch->stats.messages_received++;
        ch->stats.bytes_received += HEADER_BYTES + (uint64_t)len;
    }
    ch->received_last = 1;
    return rc;
}

ezrt_status ezrt_channel_set_timeout(ezrt_channel *ch, int timeout_ms)
{
    if (ch == NULL || timeout_ms <= 0) {
        return EZRT_EINVAL;
    }
    ch->timeout_ms = timeout_ms;
    return EZRT_OK;
}

ezrt_status ezrt_channel_set_phase(ezrt_channel *ch, const char *phase)
{
    if (ch == NULL || phase == NULL) {
        return EZRT_EINVAL;
    }
    snprintf(ch->phase, sizeof ch->phase, "%s", phase);
    return EZRT_OK;
}

ezrt_status ezrt_channel_stats(const ezrt_channel *ch, ezrt_net_stats *out)
{
    if (ch == NULL || out == NULL) {
        return EZRT_EINVAL;
    }
    *out = ch->stats;
    return EZRT_OK;
}

const char *ezrt_channel_error(const ezrt_channel *ch)
{
    return ch == NULL ? "" : ch->error;
}

ezrt_status ezrt_close(ezrt_channel *ch)
{
    if (ch == NULL) {
        return EZRT_OK;
    }
    int rc = ch->failure == EZRT_OK ? frame_flush(ch) : ch->failure;
    shutdown(ch->fd, SHUT_WR);
    close(ch->fd);
    free(ch);
    return rc;
}

/* The handshake uses the framing below the counters (ezrt_send and ezrt_recv count; frame_send
 * and frame_recv do not) and its own phase name, so a handshake failure reads "server
 * disconnected during handshake phase". */
int ezrt_net_exchange(ezrt_channel *ch, const uint8_t *mine, uint8_t *theirs, size_t len)
{
    char saved[PHASE_BYTES];
    memcpy(saved, ch->phase, sizeof saved);
    snprintf(ch->phase, sizeof ch->phase, "%s", "handshake");
    int rc = frame_send(ch, mine, len);
    if (rc == EZRT_OK) {
        rc = frame_recv(ch, theirs, len);
    }
    ch->received_last = 1;
    memcpy(ch->phase, saved, sizeof saved);
    return rc;
}

uint8_t ezrt_net_peer_role(const ezrt_channel *ch)
{
    return ch->peer_role;
}

void ezrt_net_set_peer_role(ezrt_channel *ch, uint8_t role)
{
    ch->peer_role = role;
}

int ezrt_net_fail_protocol(ezrt_channel *ch, const char *message)
{
    return fail(ch, EZRT_EPROTOCOL, "%s", message);
}
