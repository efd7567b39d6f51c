/* The connection handshake: before any protocol message, the two roles swap an ezrt_hello and
 * refuse to go on unless they run the same protocol version, the same program and the same ring
 * width, and the peer is the role expected. Why here and not later: a mismatch found at the
 * first multiplication would surface as a garbled output or a framing error far from its cause;
 * found here it is one message naming both sides' values. */
#include <stdio.h>
#include <string.h>

#include "ezrt.h"
#include "net_private.h"

enum { HELLO_BYTES = 4 + 1 + 1 + 32, MESSAGE_BYTES = 256 };

/* Fixed little-endian layout, so the check does not depend on struct padding or host order. */
static void encode(const ezrt_hello *h, uint8_t out[HELLO_BYTES])
{
    for (int i = 0; i < 4; i++) {
        out[i] = (uint8_t)(h->protocol_version >> (8 * i));
    }
    out[4] = h->role;
    out[5] = h->bitlen;
    memcpy(out + 6, h->program_hash, 32);
}

static void decode(const uint8_t in[HELLO_BYTES], ezrt_hello *h)
{
    h->protocol_version = 0;
    for (int i = 3; i >= 0; i--) {
        h->protocol_version = (h->protocol_version << 8) | in[i];
    }
    h->role = in[4];
    h->bitlen = in[5];
    memcpy(h->program_hash, in + 6, 32);
}

static int valid_role(uint8_t role)
{
    return role <= EZRT_ROLE_DEALER;
}

/* "3f2a1b0c…77c1": enough of the hash to tell two programs apart at a glance; the whole hash
 * when the two short forms would read the same. */
static void short_hash(const uint8_t hash[32], const uint8_t other[32], char *out, size_t cap)
{
    static const char hex[] = "0123456789abcdef";
    char full[65];
    for (int i = 0; i < 32; i++) {
        full[2 * i] = hex[hash[i] >> 4];
        full[2 * i + 1] = hex[hash[i] & 15];
    }
    full[64] = '\0';
    int same_ends = memcmp(hash, other, 4) == 0 && memcmp(hash + 30, other + 30, 2) == 0;
    if (same_ends) {
        snprintf(out, cap, "%s", full);
    } else {
        snprintf(out, cap, "%.8s\xe2\x80\xa6%s", full, full + 60);
    }
}

static void role_mismatch(uint8_t mine, uint8_t expected, uint8_t got, char *msg, size_t cap)
{
    char want[32];
    if (expected != EZRT_ROLE_ANY) {
        snprintf(want, sizeof want, "%s", ezrt_net_role_name(expected));
    } else {
        int a = mine == EZRT_ROLE_SERVER ? EZRT_ROLE_CLIENT : EZRT_ROLE_SERVER;
        int b = mine == EZRT_ROLE_DEALER ? EZRT_ROLE_CLIENT : EZRT_ROLE_DEALER;
        snprintf(want, sizeof want, "%s or %s", ezrt_net_role_name((uint8_t)a),
                 ezrt_net_role_name((uint8_t)b));
    }
    if (valid_role(got)) {
        snprintf(msg, cap, "unexpected role: expected %s, got %s", want, ezrt_net_role_name(got));
    } else {
        snprintf(msg, cap, "unexpected role: expected %s, got role %u", want, (unsigned)got);
    }
}

/* Writes the first disagreement into msg; returns 0 when the hellos agree. */
static int compare(const ezrt_hello *mine, const ezrt_hello *theirs, uint8_t expected, char *msg,
                   size_t cap)
{
    const char *me = ezrt_net_role_name(mine->role);
    uint8_t named = expected != EZRT_ROLE_ANY ? expected : theirs->role;
    const char *them = ezrt_net_role_name(named);
    int role_ok = expected == EZRT_ROLE_ANY
                      ? valid_role(theirs->role) && theirs->role != mine->role
                      : theirs->role == expected;
    if (mine->protocol_version != theirs->protocol_version) {
        snprintf(msg, cap, "protocol version differs: this %s speaks %u, the %s speaks %u", me,
                 (unsigned)mine->protocol_version, them, (unsigned)theirs->protocol_version);
    } else if (!role_ok) {
        role_mismatch(mine->role, expected, theirs->role, msg, cap);
    } else if (mine->bitlen != theirs->bitlen) {
        snprintf(msg, cap, "bit width differs: this %s uses %u, the %s uses %u", me,
                 (unsigned)mine->bitlen, them, (unsigned)theirs->bitlen);
    } else if (memcmp(mine->program_hash, theirs->program_hash, 32) != 0) {
        char a[80], b[80];
        short_hash(mine->program_hash, theirs->program_hash, a, sizeof a);
        short_hash(theirs->program_hash, mine->program_hash, b, sizeof b);
        snprintf(msg, cap, "program hash differs: this %s runs %s, the %s runs %s", me, a, them, b);
    } else {
        return 0;
    }
    return 1;
}

ezrt_status ezrt_handshake(ezrt_channel *ch, const ezrt_hello *mine, ezrt_hello *theirs,
                           char *err, size_t err_len)
{
    if (ch == NULL || mine == NULL || theirs == NULL || !valid_role(mine->role) ||
        (err == NULL && err_len > 0)) {
        return EZRT_EINVAL;
    }
    uint8_t out[HELLO_BYTES], in[HELLO_BYTES];
    encode(mine, out);
    int rc = ezrt_net_exchange(ch, out, in, HELLO_BYTES);
    if (rc == EZRT_OK) {
        char msg[MESSAGE_BYTES];
        decode(in, theirs);
        uint8_t expected = ezrt_net_peer_role(ch);
        if (compare(mine, theirs, expected, msg, sizeof msg)) {
            rc = ezrt_net_fail_protocol(ch, msg);
        } else if (expected == EZRT_ROLE_ANY) {
            ezrt_net_set_peer_role(ch, theirs->role);
        }
    }
    if (rc != EZRT_OK && err_len > 0) {
        snprintf(err, err_len, "%s", ezrt_channel_error(ch));
    }
    return rc;
}
