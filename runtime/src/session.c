/* Sessions: set-up (the dealer's seeds k_S and k_C), sticky failures with messages naming the
 * operation, the peer and the phase, and the framed moves the protocols are built from. Why a
 * failure is sticky: the three roles consume their PRG streams in lockstep, so after a step
 * that failed half-way the streams no longer agree and every later result would be garbage. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "crypto_internal.h"
#include "ezrt.h"
#include "session_private.h"

static ezrt_session *session_new(uint8_t role, unsigned bits)
{
    ezrt_session *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->role = role;
    s->bits = bits;
    s->mask = ezrt_ring_mask(bits);
    return s;
}

static void set_phase(ezrt_channel *a, ezrt_channel *b, const char *phase)
{
    ezrt_channel_set_phase(a, phase);
    ezrt_channel_set_phase(b, phase);
}

ezrt_status ezrt_session_open_party(ezrt_session **out, uint8_t role, unsigned bits,
                                    ezrt_channel *peer, ezrt_channel *dealer)
{
    if (out == NULL || peer == NULL || dealer == NULL || ezrt_ring_mask(bits) == 0 ||
        (role != EZRT_ROLE_SERVER && role != EZRT_ROLE_CLIENT))
        return EZRT_EINVAL;
    *out = NULL;
    ezrt_status st = ezrt_cpu_check();
    if (st != EZRT_OK)
        return st;
    ezrt_session *s = session_new(role, bits);
    if (s == NULL)
        return EZRT_ENOMEM;
    s->peer = peer;
    s->dealer = dealer;
    set_phase(peer, dealer, "setup");
    uint8_t seed[EZRT_SEED_BYTES];
    st = ezrt_sess_recv_bytes(s, "ezrt_session_open_party", dealer, seed, sizeof seed);
    if (st == EZRT_OK) {
        st = ezrt_prg_init(&s->seeded[role], seed);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, "ezrt_session_open_party", st, NULL);
    }
    ezrt_wipe(seed, sizeof seed);
    set_phase(peer, dealer, "online");
    *out = s;
    return st;
}

ezrt_status ezrt_session_open_dealer(ezrt_session **out, unsigned bits, ezrt_channel *server,
                                     ezrt_channel *client)
{
    if (out == NULL || server == NULL || client == NULL || ezrt_ring_mask(bits) == 0)
        return EZRT_EINVAL;
    *out = NULL;
    ezrt_status st = ezrt_cpu_check();
    if (st != EZRT_OK)
        return st;
    ezrt_session *s = session_new(EZRT_ROLE_DEALER, bits);
    if (s == NULL)
        return EZRT_ENOMEM;
    s->party[0] = server;
    s->party[1] = client;
    set_phase(server, client, "setup");
    const char *op = "ezrt_session_open_dealer";
    uint8_t seeds[2][EZRT_SEED_BYTES];
    st = ezrt_random_bytes(&seeds[0][0], sizeof seeds);
    for (int p = 0; p < 2 && st == EZRT_OK; p++)
        st = ezrt_prg_init(&s->seeded[p], seeds[p]);
    if (st == EZRT_OK)
        st = ezrt_prg_fresh(&s->own);
    if (st != EZRT_OK)
        ezrt_sess_fail(s, op, st, NULL);
    for (int p = 0; p < 2 && st == EZRT_OK; p++)
        st = ezrt_sess_send_bytes(s, op, s->party[p], seeds[p], EZRT_SEED_BYTES);
    ezrt_wipe(seeds, sizeof seeds);
    set_phase(server, client, "online");
    *out = s;
    return st;
}

void ezrt_session_free(ezrt_session *s)
{
    if (s == NULL)
        return;
    ezrt_onesided_free(s);
    ezrt_wipe(s, sizeof *s);
    free(s);
}

const char *ezrt_session_error(const ezrt_session *s)
{
    return s == NULL ? "" : s->error;
}

uint8_t ezrt_session_role(const ezrt_session *s)
{
    return s == NULL ? EZRT_ROLE_ANY : s->role;
}

ezrt_status ezrt_session_flush(ezrt_session *s)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK)
        return st;
    ezrt_channel *chans[2] = {s->peer, s->dealer};
    if (s->role == EZRT_ROLE_DEALER) {
        chans[0] = s->party[0];
        chans[1] = s->party[1];
    }
    for (int i = 0; i < 2 && st == EZRT_OK; i++) {
        st = ezrt_flush(chans[i]);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, "ezrt_session_flush", st, chans[i]);
    }
    return st;
}

/* ---- helpers for the protocol files ---- */

ezrt_status ezrt_sess_begin(const ezrt_session *s)
{
    if (s == NULL)
        return EZRT_EINVAL;
    return s->failure;
}

ezrt_status ezrt_sess_reject(ezrt_session *s, const char *op, ezrt_status status,
                             const char *what)
{
    snprintf(s->error, sizeof s->error, "%s: %s", op, what);
    return status;
}

ezrt_status ezrt_sess_fail(ezrt_session *s, const char *op, ezrt_status status,
                           const ezrt_channel *ch)
{
    const char *detail = ch != NULL ? ezrt_channel_error(ch) : "";
    if (detail[0] == '\0')
        detail = ezrt_strerror(status);
    snprintf(s->error, sizeof s->error, "%s: %s", op, detail);
    s->failure = status;
    return status;
}

size_t ezrt_sess_mul_size(size_t count, size_t size)
{
    if (size != 0 && count > SIZE_MAX / size)
        return SIZE_MAX;
    return count * size;
}

void *ezrt_sess_alloc(size_t count, size_t size)
{
    size_t total = ezrt_sess_mul_size(count, size);
    if (total == SIZE_MAX)
        return NULL;
    return malloc(total == 0 ? 1 : total);
}

void ezrt_sess_free(void *p, size_t len)
{
    if (p == NULL)
        return;
    ezrt_wipe(p, len);
    free(p);
}

void ezrt_sess_reduce(const ezrt_session *s, const uint64_t *in, uint64_t *out, size_t count)
{
    for (size_t i = 0; i < count; i++)
        out[i] = in[i] & s->mask;
}

ezrt_status ezrt_sess_send_bytes(ezrt_session *s, const char *op, ezrt_channel *ch,
                                 const uint8_t *buf, size_t len)
{
    if (len == 0)
        return EZRT_OK;
    ezrt_status st = ezrt_send(ch, buf, len);
    if (st == EZRT_OK && s->role == EZRT_ROLE_DEALER)
        st = ezrt_flush(ch);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, op, st, ch);
}

ezrt_status ezrt_sess_recv_bytes(ezrt_session *s, const char *op, ezrt_channel *ch,
                                 uint8_t *buf, size_t len)
{
    if (len == 0)
        return EZRT_OK;
    /* Sends to the peer wait in the queue for the next receive from the peer. Before a party
     * waits for the dealer (and then evaluates DCFs) they go out, so the peer need not wait
     * for that work to end to receive, say, an input. */
    if (ch == s->dealer) {
        ezrt_status st = ezrt_flush(s->peer);
        if (st != EZRT_OK)
            return ezrt_sess_fail(s, op, st, s->peer);
    }
    ezrt_status st = ezrt_recv(ch, buf, len);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, op, st, ch);
}

ezrt_status ezrt_sess_send_values(ezrt_session *s, const char *op, ezrt_channel *ch,
                                  const uint64_t *vals, size_t count)
{
    size_t len = ezrt_packed_size(count, s->bits);
    uint8_t *buf = ezrt_sess_alloc(len, 1);
    uint64_t *reduced = ezrt_sess_alloc(count, sizeof *reduced);
    ezrt_status st = EZRT_ENOMEM;
    if (buf != NULL && reduced != NULL) {
        ezrt_sess_reduce(s, vals, reduced, count);
        st = ezrt_pack(reduced, count, s->bits, buf, len);
    }
    if (st != EZRT_OK)
        ezrt_sess_fail(s, op, st, NULL);
    else
        st = ezrt_sess_send_bytes(s, op, ch, buf, len);
    ezrt_sess_free(reduced, ezrt_sess_mul_size(count, sizeof *reduced));
    ezrt_sess_free(buf, len);
    return st;
}

ezrt_status ezrt_sess_recv_values(ezrt_session *s, const char *op, ezrt_channel *ch,
                                  uint64_t *vals, size_t count)
{
    size_t len = ezrt_packed_size(count, s->bits);
    uint8_t *buf = ezrt_sess_alloc(len, 1);
    if (buf == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    ezrt_status st = ezrt_sess_recv_bytes(s, op, ch, buf, len);
    if (st == EZRT_OK) {
        st = ezrt_unpack(buf, len, s->bits, vals, count);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, op, st, NULL);
    }
    ezrt_sess_free(buf, len);
    return st;
}

ezrt_status ezrt_sess_exchange(ezrt_session *s, const char *op, const uint8_t *mine,
                               uint8_t *theirs, size_t len)
{
    /* Both parties send, then receive: one round. But while both write, neither reads, so a
     * payload larger than the sockets can buffer would stall both writers; above
     * EZRT_DUPLEX_BYTES the CLIENT therefore receives first (still one round on each side's
     * counter, at the price of transferring the two directions one after the other). */
    int client_waits = s->role == EZRT_ROLE_CLIENT && len > EZRT_DUPLEX_BYTES;
    ezrt_status st = EZRT_OK;
    if (client_waits)
        st = ezrt_sess_recv_bytes(s, op, s->peer, theirs, len);
    if (st == EZRT_OK)
        st = ezrt_sess_send_bytes(s, op, s->peer, mine, len);
    if (st == EZRT_OK && !client_waits)
        st = ezrt_sess_recv_bytes(s, op, s->peer, theirs, len);
    return st;
}

ezrt_status ezrt_sess_open_sum(ezrt_session *s, const char *op, uint64_t *mine, uint64_t *out,
                               size_t count)
{
    size_t len = ezrt_packed_size(count, s->bits);
    uint8_t *buf = ezrt_sess_alloc(len, 2);
    uint64_t *theirs = ezrt_sess_alloc(count, sizeof *theirs);
    if (buf == NULL || theirs == NULL) {
        ezrt_sess_free(buf, ezrt_sess_mul_size(len, 2));
        ezrt_sess_free(theirs, ezrt_sess_mul_size(count, sizeof *theirs));
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    }
    ezrt_sess_reduce(s, mine, theirs, count);
    ezrt_status st = ezrt_pack(theirs, count, s->bits, buf, len);
    if (st != EZRT_OK)
        ezrt_sess_fail(s, op, st, NULL);
    else
        st = ezrt_sess_exchange(s, op, buf, buf + len, len);
    if (st == EZRT_OK) {
        st = ezrt_unpack(buf + len, len, s->bits, theirs, count);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, op, st, NULL);
    }
    for (size_t i = 0; i < count && st == EZRT_OK; i++)
        out[i] = (mine[i] + theirs[i]) & s->mask;
    ezrt_sess_free(buf, 2 * len);
    ezrt_sess_free(theirs, count * sizeof *theirs);
    return st;
}

ezrt_status ezrt_sess_draw(ezrt_session *s, const char *op, ezrt_prg *prg, uint64_t *out,
                           size_t count)
{
    ezrt_status st = ezrt_prg_u64s(prg, out, count, s->bits);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, op, st, NULL);
}

ezrt_status ezrt_sess_draw_bytes(ezrt_session *s, const char *op, ezrt_prg *prg, uint8_t *out,
                                 size_t len)
{
    ezrt_status st = ezrt_prg_bytes(prg, out, len);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, op, st, NULL);
}
