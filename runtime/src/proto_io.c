/* Getting values onto and off masked wires (protocols.md §2, §5.1, §5.2): public constants,
 * input by one party, output to one or both parties. */
#include "crypto_internal.h"
#include "ezrt.h"
#include "session_private.h"

/* Masks are drawn in chunks of this many values, so input needs no allocation for them. */
#define MASK_CHUNK 256

ezrt_status ezrt_share_public(ezrt_session *s, const uint64_t *clear, uint64_t *wire, size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    int dealer = s->role == EZRT_ROLE_DEALER;
    if (wire == NULL || (!dealer && clear == NULL))
        return ezrt_sess_reject(s, "ezrt_share_public", EZRT_EINVAL, "NULL array");
    /* The dealer's mask of a public value is 0: the wire carries the value itself. */
    for (size_t i = 0; i < n; i++)
        wire[i] = dealer ? 0 : clear[i] & s->mask;
    return EZRT_OK;
}

/* The owner's x^ = x + r and the dealer's r, with r from PRG(k_owner), chunk by chunk. */
static ezrt_status mask_input(ezrt_session *s, ezrt_prg *prg, const uint64_t *clear,
                              uint64_t *wire, size_t n)
{
    uint64_t r[MASK_CHUNK];
    ezrt_status st = EZRT_OK;
    for (size_t j = 0; j < n && st == EZRT_OK; j += MASK_CHUNK) {
        size_t m = n - j < MASK_CHUNK ? n - j : MASK_CHUNK;
        st = ezrt_sess_draw(s, "ezrt_input", prg, r, m);
        for (size_t i = 0; i < m && st == EZRT_OK; i++)
            wire[j + i] = clear == NULL ? r[i] : (clear[j + i] + r[i]) & s->mask;
    }
    ezrt_wipe(r, sizeof r);
    return st;
}

ezrt_status ezrt_input(ezrt_session *s, uint8_t owner, const uint64_t *clear, uint64_t *wire,
                       size_t n)
{
    const char *op = "ezrt_input";
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (owner != EZRT_ROLE_SERVER && owner != EZRT_ROLE_CLIENT)
        return ezrt_sess_reject(s, op, EZRT_EINVAL, "the owner must be SERVER or CLIENT");
    if (wire == NULL || (s->role == owner && clear == NULL))
        return ezrt_sess_reject(s, op, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, op, EZRT_ELENGTH, "too many values");
    if (s->role == EZRT_ROLE_DEALER)
        return mask_input(s, &s->seeded[owner], NULL, wire, n);
    if (s->role != owner)
        return ezrt_sess_recv_values(s, op, s->peer, wire, n);
    st = mask_input(s, &s->seeded[owner], clear, wire, n);
    return st == EZRT_OK ? ezrt_sess_send_values(s, op, s->peer, wire, n) : st;
}

static int is_recipient(uint8_t recipient, uint8_t role)
{
    return role != EZRT_ROLE_DEALER && (recipient == role || recipient == EZRT_RECIPIENT_ALL);
}

ezrt_status ezrt_output(ezrt_session *s, uint8_t recipient, const uint64_t *wire,
                        uint64_t *clear, size_t n)
{
    const char *op = "ezrt_output";
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (recipient != EZRT_ROLE_SERVER && recipient != EZRT_ROLE_CLIENT &&
        recipient != EZRT_RECIPIENT_ALL)
        return ezrt_sess_reject(s, op, EZRT_EINVAL,
                                "the recipient must be SERVER, CLIENT or EZRT_RECIPIENT_ALL");
    if (wire == NULL || (is_recipient(recipient, s->role) && clear == NULL))
        return ezrt_sess_reject(s, op, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, op, EZRT_ELENGTH, "too many values");
    if (s->role == EZRT_ROLE_DEALER) {
        for (uint8_t p = 0; p < 2 && st == EZRT_OK; p++)
            if (is_recipient(recipient, p))
                st = ezrt_sess_send_values(s, op, s->party[p], wire, n);
        return st;
    }
    if (!is_recipient(recipient, s->role))
        return EZRT_OK;
    uint64_t *masks = ezrt_sess_alloc(n, sizeof *masks);
    if (masks == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    st = ezrt_sess_recv_values(s, op, s->dealer, masks, n);
    for (size_t i = 0; i < n && st == EZRT_OK; i++)
        clear[i] = (wire[i] - masks[i]) & s->mask;
    ezrt_sess_free(masks, n * sizeof *masks);
    return st;
}
