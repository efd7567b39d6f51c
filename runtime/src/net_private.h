/* What net.c (framing, handshake, statistics) and net_socket.c (listen, accept, connect) share:
 * the one way to wrap a connected socket in a channel and the deadline arithmetic. Private to
 * the runtime; the ABI is ezrt.h. */
#ifndef EZRT_NET_PRIVATE_H
#define EZRT_NET_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "ezrt.h"

/* Default patience of every blocking step: a silent peer is reported after this long. */
#define EZRT_NET_DEFAULT_TIMEOUT_MS 10000

/* Wraps a connected TCP socket (made non-blocking, TCP_NODELAY) in a new channel to a peer of
 * the given role. Takes ownership of fd; on failure closes it and returns NULL. */
ezrt_channel *ezrt_net_channel_new(int fd, uint8_t peer_role);

/* Sends mine and receives theirs (len bytes each) as one handshake round: framed like any
 * message, not counted in the statistics, failures reported in the "handshake" phase. */
int ezrt_net_exchange(ezrt_channel *ch, const uint8_t *mine, uint8_t *theirs, size_t len);

/* The role of the channel's peer; EZRT_ROLE_ANY until a handshake names it. */
uint8_t ezrt_net_peer_role(const ezrt_channel *ch);
void ezrt_net_set_peer_role(ezrt_channel *ch, uint8_t role);

/* Marks the channel failed with EZRT_EPROTOCOL and this message (unless it already failed). */
int ezrt_net_fail_protocol(ezrt_channel *ch, const char *message);

/* Milliseconds on the monotonic clock, for deadlines. */
int64_t ezrt_net_now_ms(void);

/* Milliseconds left until deadline_ms, never negative and never above INT32_MAX (poll's unit). */
int ezrt_net_remaining_ms(int64_t deadline_ms);

/* Makes fd non-blocking and disables Nagle's algorithm; returns 0 or -1 with errno set. */
int ezrt_net_prepare_fd(int fd);

/* "server", "client", "dealer", or "peer" for EZRT_ROLE_ANY and unknown values. */
const char *ezrt_net_role_name(uint8_t role);

#endif /* EZRT_NET_PRIVATE_H */
