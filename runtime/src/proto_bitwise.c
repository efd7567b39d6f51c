/* Bitwise operators and right shifts of masked wires, built on the bit decomposition
 * (protocols.md §5.5). x & y = sum of 2^i x_i y_i: the bits of x and y in one ezrt_bits call,
 * their n * bits products in one ezrt_mul call, the recomposition local. x ^ y and x | y follow
 * from the ring identities x + y = (x ^ y) + 2 (x & y) = (x | y) + (x & y), so they cost what
 * & costs. x >> k recomposes bits k .. bits-1 of x (and, arithmetic, spreads the sign bit):
 * exact, one ezrt_bits call. Every step is the same code in the three roles (the dealer runs it
 * on masks), so a composite call keeps the roles' PRG streams in step like the primitives it is
 * made of; a failure inside is reported under the inner call's name. */
#include <string.h>

#include "ezrt.h"
#include "session_private.h"

enum bitwise_op { OP_AND, OP_OR, OP_XOR };

static const char *const NAMES[] = {"ezrt_and", "ezrt_or", "ezrt_xor"};

/* sum over i of 2^i b[i], for the `bits` bit wires of one element, reduced. */
static uint64_t recompose(const ezrt_session *s, const uint64_t *b, unsigned from)
{
    uint64_t v = 0;
    for (unsigned i = from; i < s->bits; i++)
        v += b[i] << (i - from);
    return v & s->mask;
}

/* z = x & y as wires: x and y are read before z is written (z may alias either). */
static ezrt_status and_wires(ezrt_session *s, const char *op, const uint64_t *x,
                             const uint64_t *y, uint64_t *z, size_t n)
{
    size_t outs = n * s->bits;
    uint64_t *xy = ezrt_sess_alloc(2 * n, sizeof *xy);
    uint64_t *b = ezrt_sess_alloc(2 * outs, sizeof *b);
    ezrt_status st = EZRT_OK;
    if (xy == NULL || b == NULL)
        st = ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    if (st == EZRT_OK) {
        memcpy(xy, x, n * sizeof *xy);
        memcpy(xy + n, y, n * sizeof *xy);
        st = ezrt_bits(s, xy, b, 2 * n);
    }
    if (st == EZRT_OK)
        st = ezrt_mul(s, b, b + outs, b, outs);
    for (size_t e = 0; e < n && st == EZRT_OK; e++)
        z[e] = recompose(s, b + e * s->bits, 0);
    ezrt_sess_free(xy, 2 * n * sizeof *xy);
    ezrt_sess_free(b, 2 * outs * sizeof *b);
    return st;
}

static ezrt_status bitwise(ezrt_session *s, enum bitwise_op which, const uint64_t *x,
                           const uint64_t *y, uint64_t *z, size_t n)
{
    const char *op = NAMES[which];
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || y == NULL || z == NULL)
        return ezrt_sess_reject(s, op, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, (size_t)s->bits * 6 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, op, EZRT_ELENGTH, "too many values");
    if (which == OP_AND)
        return and_wires(s, op, x, y, z, n);
    /* x + y is needed after z (which may alias x or y) receives x & y. */
    uint64_t *sum = ezrt_sess_alloc(n, sizeof *sum);
    if (sum == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    for (size_t e = 0; e < n; e++)
        sum[e] = x[e] + y[e];
    st = and_wires(s, op, x, y, z, n);
    uint64_t times = which == OP_XOR ? 2 : 1;
    for (size_t e = 0; e < n && st == EZRT_OK; e++)
        z[e] = (sum[e] - times * z[e]) & s->mask;
    ezrt_sess_free(sum, n * sizeof *sum);
    return st;
}

ezrt_status ezrt_and(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n)
{
    return bitwise(s, OP_AND, x, y, z, n);
}

ezrt_status ezrt_or(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                    size_t n)
{
    return bitwise(s, OP_OR, x, y, z, n);
}

ezrt_status ezrt_xor(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n)
{
    return bitwise(s, OP_XOR, x, y, z, n);
}

/* The shift needs no interaction: amount 0 is the wire itself; a logical shift by the width
 * or more is the wire of 0 (0 on the parties and 0 as the dealer's mask). */
static int shift_is_local(int arithmetic, unsigned amount, unsigned bits)
{
    return amount == 0 || (!arithmetic && amount >= bits);
}

ezrt_status ezrt_shr(ezrt_session *s, int arithmetic, unsigned amount, const uint64_t *x,
                     uint64_t *z, size_t n)
{
    static const char op[] = "ezrt_shr";
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || z == NULL)
        return ezrt_sess_reject(s, op, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, (size_t)s->bits * 3 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, op, EZRT_ELENGTH, "too many values");
    unsigned bits = s->bits;
    if (shift_is_local(arithmetic, amount, bits)) {
        uint64_t keep = amount == 0 ? s->mask : 0;
        for (size_t e = 0; e < n; e++)
            z[e] = x[e] & keep;
        return EZRT_OK;
    }
    unsigned k = amount < bits ? amount : bits;
    /* The sign bit fills positions bits-k .. bits-1: its weight is 2^bits - 2^(bits-k). */
    uint64_t fill = arithmetic ? (0 - ((uint64_t)1 << (bits - k))) & s->mask : 0;
    uint64_t *b = ezrt_sess_alloc(n * bits, sizeof *b);
    if (b == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    st = ezrt_bits(s, x, b, n);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        const uint64_t *own = b + e * bits;
        z[e] = (recompose(s, own, k) + fill * own[bits - 1]) & s->mask;
    }
    ezrt_sess_free(b, n * bits * sizeof *b);
    return st;
}
