/* What session.c shares with the protocol files (proto_*.c): the session itself, its sticky
 * failure, and the framed moves every protocol is built from (send or receive packed ring
 * values, exchange them with the peer, receive dealer material). Private to the runtime; the
 * ABI is ezrt.h. */
#ifndef EZRT_SESSION_PRIVATE_H
#define EZRT_SESSION_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "ezrt.h"

#define EZRT_SEED_BYTES 16
/* Dealer material for comparisons goes in messages of about this size, so that neither side
 * holds the keys of a whole large batch at once. */
#define EZRT_DEALER_CHUNK_BYTES ((size_t)4 << 20)

/* The largest opening both parties send at once (see ezrt_sess_open_sum). The channels buffer
 * up to 64 KiB of sends, and socket buffers hold at least that much on common systems. */
#define EZRT_DUPLEX_BYTES ((size_t)32 << 10)

struct ezrt_session {
    uint8_t role;            /* EZRT_ROLE_SERVER, _CLIENT or _DEALER */
    unsigned bits;
    uint64_t mask;           /* 2^bits - 1 */
    ezrt_channel *peer;      /* a party's channel to the other party */
    ezrt_channel *dealer;    /* a party's channel to the dealer */
    ezrt_channel *party[2];  /* the dealer's channels to SERVER and CLIENT */
    /* PRG(k_S) and PRG(k_C): the dealer keeps both; a party only its own, at index role. */
    ezrt_prg seeded[2];
    ezrt_prg own;            /* the dealer's private randomness */
    ezrt_status failure;     /* sticky: EZRT_OK until a step with side effects failed */
    char error[384];
    struct ezrt_onesided_table *onesided; /* one-sided product slots; NULL until the first */
};

/* Wipes and frees the one-sided product slots of s (proto_onesided.c); for ezrt_session_free. */
void ezrt_onesided_free(ezrt_session *s);

/* EZRT_OK if s can run op: s is not NULL and has not failed (else the sticky status). */
ezrt_status ezrt_sess_begin(const ezrt_session *s);

/* Records an argument error of op (not sticky); returns status. */
ezrt_status ezrt_sess_reject(ezrt_session *s, const char *op, ezrt_status status,
                             const char *what);

/* Records a failure of op after side effects (sticky); the message comes from ch if the
 * channel failed, else from the status. Returns status. */
ezrt_status ezrt_sess_fail(ezrt_session *s, const char *op, ezrt_status status,
                           const ezrt_channel *ch);

/* count * size, or SIZE_MAX if it overflows (no allocation can then succeed). */
size_t ezrt_sess_mul_size(size_t count, size_t size);

/* malloc(count * size) (never NULL for a zero size); NULL on overflow or exhaustion. */
void *ezrt_sess_alloc(size_t count, size_t size);

/* Wipes and frees p (len bytes). NULL is a no-op. */
void ezrt_sess_free(void *p, size_t len);

/* Sends vals[0..count) (reduced) packed to `bits` bits as one message on ch. */
ezrt_status ezrt_sess_send_values(ezrt_session *s, const char *op, ezrt_channel *ch,
                                  const uint64_t *vals, size_t count);

/* Receives one message of count packed values from ch into vals. */
ezrt_status ezrt_sess_recv_values(ezrt_session *s, const char *op, ezrt_channel *ch,
                                  uint64_t *vals, size_t count);

/* A party's exchange with its peer: sends mine (len bytes), then receives theirs (len bytes),
 * so the exchange is one round. Above EZRT_DUPLEX_BYTES the CLIENT receives before it sends. */
ezrt_status ezrt_sess_exchange(ezrt_session *s, const char *op, const uint8_t *mine,
                               uint8_t *theirs, size_t len);

/* ezrt_sess_exchange of count packed values each way; then out[i] = mine[i] + theirs[i] (out
 * may be mine, which is not otherwise written). */
ezrt_status ezrt_sess_open_sum(ezrt_session *s, const char *op, uint64_t *mine, uint64_t *out,
                               size_t count);

/* Sends len bytes to channel ch (nothing if len = 0) and, on the dealer, flushes: the parties
 * wait for dealer material, and the dealer never receives, so nothing else would push it out. */
ezrt_status ezrt_sess_send_bytes(ezrt_session *s, const char *op, ezrt_channel *ch,
                                 const uint8_t *buf, size_t len);

/* Receives exactly len bytes from ch (nothing if len = 0). */
ezrt_status ezrt_sess_recv_bytes(ezrt_session *s, const char *op, ezrt_channel *ch,
                                 uint8_t *buf, size_t len);

/* Draws count values of Z_2^bits from prg, as a sticky failure of op if the PRG fails. */
ezrt_status ezrt_sess_draw(ezrt_session *s, const char *op, ezrt_prg *prg, uint64_t *out,
                           size_t count);

/* Draws len bytes from prg, likewise. */
ezrt_status ezrt_sess_draw_bytes(ezrt_session *s, const char *op, ezrt_prg *prg, uint8_t *out,
                                 size_t len);

/* out[i] = in[i] mod 2^bits. */
void ezrt_sess_reduce(const ezrt_session *s, const uint64_t *in, uint64_t *out, size_t count);

/* DCF keys of the protocols (proto_keys.c). Input width n_in, output group Z_2^m_out. The two
 * keys of a pair share their correction words; SERVER's root seed is drawn from PRG(k_S), so
 * SERVER receives only the correction words (key size - 16 bytes per key) and CLIENT whole keys
 * (root seeds from the dealer's own PRG). */

/* Dealer: count key pairs for f(x) = betas[k] if x < alphas[k]; writes the correction words of
 * key k to srv + k * (K - 16) and CLIENT's key to cli + k * K (K = ezrt_dcf_key_size). Draws
 * 16 count bytes of PRG(k_S) and of the dealer's PRG. */
ezrt_status ezrt_sess_deal_keys(ezrt_session *s, const char *op, unsigned n_in,
                                unsigned m_out, const uint64_t *alphas, const uint64_t *betas,
                                size_t count, uint8_t *srv, uint8_t *cli);

/* SERVER: its count keys from the correction words at cw (as the dealer wrote srv) and 16 count
 * bytes of PRG(k_S), into keys (count * K bytes). */
ezrt_status ezrt_sess_server_keys(ezrt_session *s, const char *op, unsigned n_in,
                                  unsigned m_out, size_t count, const uint8_t *cw,
                                  uint8_t *keys);

/* Branch-free [a < b] for unsigned 64-bit values (0 or 1). */
static inline uint64_t ezrt_sess_lt64(uint64_t a, uint64_t b)
{
    return ((~a & b) | (~(a ^ b) & (a - b))) >> 63;
}

#endif /* EZRT_SESSION_PRIVATE_H */
