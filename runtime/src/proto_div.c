/* Division and remainder of masked wires by masked wires (protocols.md §5.7): restoring long
 * division over the bits of the dividend, all n elements in lockstep.
 *
 * Unsigned core, for a divisor y > 0: R = 0; for i = bits-1 down to 0: S = 2R + x_i,
 * t_i = [S >= y], R = S - t_i y. S can exceed the ring, so the test is rewritten as
 * [R >= D] with D = y - R - x_i: since R < y, 0 <= D <= y, so both sides are ring elements and
 * one unsigned ezrt_lt is exact. Then t_i y is one ezrt_mul. The quotient is sum 2^i t_i, the
 * remainder the last R. For y = 0 the core's results are meaningless and are replaced:
 * unsigned q = all ones, r = x, by selecting with z = [y = 0] (its comparison [0 < y] rides in
 * the first step's ezrt_lt call).
 *
 * Signed: one signed ezrt_lt call gives s_x = [x < 0], s_y = [y < 0] and [0 < y], hence
 * z = [y = 0] = 1 - s_y - [0 < y]; one ezrt_mul call gives the products that the magnitudes
 * |x| = x - 2 s_x x, |y| = y - 2 s_y y and the sign factors need (s_x x, s_y y, s_x s_y, z s_x,
 * z x); the core divides the magnitudes (2^(bits-1) is the magnitude of MIN, an unsigned ring
 * element, so MIN / -1 comes out as MIN and MIN % -1 as 0); a last ezrt_mul applies the signs:
 *   q = c_q q_u - z,     c_q = (1 - z)(1 - 2 (s_x xor s_y)) = 1 - 2s_x - 2s_y + 4s_x s_y - z + 2z s_x
 *   r = c_r r_u + z x,   c_r = (1 - z)(1 - 2 s_x)           = 1 - 2s_x - z + 2z s_x
 * (z s_y = 0 because y = 0 is not negative), so q = -1 and r = x when y = 0, and truncation
 * toward zero otherwise. Every step is the same code in the three roles; public constants are
 * the value on the parties and 0 on the dealer (protocols.md §2). */
#include <string.h>

#include "ezrt.h"
#include "session_private.h"

static const char OP[] = "ezrt_divmod";

/* The public constant c as a wire: c on the parties, mask 0 on the dealer. */
static uint64_t pub(const ezrt_session *s, uint64_t c)
{
    return s->role == EZRT_ROLE_DEALER ? 0 : c & s->mask;
}

/* Working arrays, each of n elements (bits: n * bits). */
typedef struct {
    size_t n;
    uint64_t *bits, *rem, *quo, *pa, *pb, *lt, *prod;
} work;

static void work_free(work *w)
{
    size_t n = w->n;
    ezrt_sess_free(w->bits, ezrt_sess_mul_size(n, 64 * sizeof(uint64_t)));
    ezrt_sess_free(w->rem, n * sizeof(uint64_t));
    ezrt_sess_free(w->quo, n * sizeof(uint64_t));
    ezrt_sess_free(w->pa, 5 * n * sizeof(uint64_t));
    ezrt_sess_free(w->pb, 5 * n * sizeof(uint64_t));
    ezrt_sess_free(w->lt, 5 * n * sizeof(uint64_t));
    ezrt_sess_free(w->prod, 5 * n * sizeof(uint64_t));
}

static int work_alloc(work *w, size_t n)
{
    *w = (work){.n = n};
    w->bits = ezrt_sess_alloc(n, 64 * sizeof(uint64_t));
    w->rem = ezrt_sess_alloc(n, sizeof(uint64_t));
    w->quo = ezrt_sess_alloc(n, sizeof(uint64_t));
    w->pa = ezrt_sess_alloc(5 * n, sizeof(uint64_t));
    w->pb = ezrt_sess_alloc(5 * n, sizeof(uint64_t));
    w->lt = ezrt_sess_alloc(5 * n, sizeof(uint64_t));
    w->prod = ezrt_sess_alloc(5 * n, sizeof(uint64_t));
    return w->bits && w->rem && w->quo && w->pa && w->pb && w->lt && w->prod;
}

/* One step of the long division at bit i: t = [R >= y - R - x_i], R = 2R + x_i - t y. With
 * nonzero != NULL the same ezrt_lt call also writes [0 < y] there. */
static ezrt_status step(ezrt_session *s, work *w, const uint64_t *y, unsigned i,
                        uint64_t *nonzero)
{
    size_t n = w->n, pairs = nonzero != NULL ? 2 * n : n;
    for (size_t e = 0; e < n; e++) {
        uint64_t xi = w->bits[e * s->bits + i];
        w->pa[e] = w->rem[e];
        w->pb[e] = (y[e] - w->rem[e] - xi) & s->mask;
        w->pa[n + e] = 0; /* the public 0 is the same wire in every role */
        w->pb[n + e] = y[e];
    }
    ezrt_status st = ezrt_lt(s, 0, w->pa, w->pb, w->lt, pairs);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        uint64_t t = (pub(s, 1) - w->lt[e]) & s->mask;
        w->pa[e] = t;
        w->quo[e] += t << i;
    }
    if (st == EZRT_OK && nonzero != NULL)
        memcpy(nonzero, w->lt + n, n * sizeof *nonzero);
    if (st == EZRT_OK)
        st = ezrt_mul(s, w->pa, y, w->prod, n);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        uint64_t xi = w->bits[e * s->bits + i];
        w->rem[e] = (2 * w->rem[e] + xi - w->prod[e]) & s->mask;
    }
    return st;
}

/* quo, rem = x / y, x % y for unsigned x and y > 0 (anything for y = 0); x and y reduced. */
static ezrt_status long_division(ezrt_session *s, work *w, const uint64_t *x, const uint64_t *y,
                                 uint64_t *nonzero)
{
    memset(w->rem, 0, w->n * sizeof *w->rem);
    memset(w->quo, 0, w->n * sizeof *w->quo);
    ezrt_status st = ezrt_bits(s, x, w->bits, w->n);
    for (unsigned i = s->bits; i-- > 0 && st == EZRT_OK;)
        st = step(s, w, y, i, i == s->bits - 1 ? nonzero : NULL);
    for (size_t e = 0; e < w->n; e++)
        w->quo[e] &= s->mask;
    return st;
}

/* Unsigned: the core, then q = q_u + z (ones - q_u), r = r_u + z (x - r_u) in one ezrt_mul. */
static ezrt_status divide_unsigned(ezrt_session *s, work *w, const uint64_t *x,
                                   const uint64_t *y, uint64_t *q, uint64_t *r)
{
    size_t n = w->n;
    uint64_t *nonzero = w->prod + n; /* step() uses prod[0..n) only */
    ezrt_status st = long_division(s, w, x, y, nonzero);
    if (st != EZRT_OK)
        return st;
    uint64_t *zero = w->lt + 2 * n;
    for (size_t e = 0; e < n; e++) {
        zero[e] = (pub(s, 1) - nonzero[e]) & s->mask;
        w->pa[e] = zero[e];
        w->pa[n + e] = zero[e];
        w->pb[e] = (pub(s, s->mask) - w->quo[e]) & s->mask;
        w->pb[n + e] = (x[e] - w->rem[e]) & s->mask;
    }
    st = ezrt_mul(s, w->pa, w->pb, w->prod, 2 * n);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        q[e] = (w->quo[e] + w->prod[e]) & s->mask;
        r[e] = (w->rem[e] + w->prod[n + e]) & s->mask;
    }
    return st;
}

/* Signed: signs and [y = 0], magnitudes, the core on them, then the signs (see the top). */
static ezrt_status divide_signed(ezrt_session *s, work *w, const uint64_t *x, const uint64_t *y,
                                 uint64_t *q, uint64_t *r)
{
    size_t n = w->n;
    uint64_t *a = w->pa, *b = w->pb, *c = w->lt;
    for (size_t e = 0; e < n; e++) {
        a[e] = x[e];
        a[n + e] = y[e];
        a[2 * n + e] = 0;
        b[e] = 0;
        b[n + e] = 0;
        b[2 * n + e] = y[e];
    }
    ezrt_status st = ezrt_lt(s, 1, a, b, c, 3 * n);
    if (st != EZRT_OK)
        return st;
    /* c = [s_x | s_y | [0 < y]]; then c[2n..3n) becomes z = [y = 0]. */
    for (size_t e = 0; e < n; e++) {
        uint64_t sx = c[e], sy = c[n + e], z = (pub(s, 1) - sy - c[2 * n + e]) & s->mask;
        c[2 * n + e] = z;
        a[e] = sx, b[e] = x[e];
        a[n + e] = sy, b[n + e] = y[e];
        a[2 * n + e] = sx, b[2 * n + e] = sy;
        a[3 * n + e] = z, b[3 * n + e] = sx;
        a[4 * n + e] = z, b[4 * n + e] = x[e];
    }
    uint64_t *p = w->prod;
    st = ezrt_mul(s, a, b, p, 5 * n);
    if (st != EZRT_OK)
        return st;
    /* The core needs pa, pb and prod[0..2n); keep the magnitudes and factors in lt. */
    uint64_t *mag_x = c + 3 * n, *mag_y = c + 4 * n;
    uint64_t *cq = a + 3 * n, *cr = a + 4 * n, *zx = b + 4 * n;
    for (size_t e = 0; e < n; e++) {
        uint64_t sx = c[e], sy = c[n + e], z = c[2 * n + e];
        mag_x[e] = (x[e] - 2 * p[e]) & s->mask;
        mag_y[e] = (y[e] - 2 * p[n + e]) & s->mask;
        uint64_t sxsy = p[2 * n + e], zsx = p[3 * n + e], zxe = p[4 * n + e];
        cq[e] = (pub(s, 1) - 2 * sx - 2 * sy + 4 * sxsy - z + 2 * zsx) & s->mask;
        cr[e] = (pub(s, 1) - 2 * sx - z + 2 * zsx) & s->mask;
        zx[e] = zxe;
    }
    /* step() writes pa[0..2n), pb[0..2n), lt[0..n) (n pairs): the saved values sit above. */
    uint64_t *z_saved = c + 2 * n;
    st = long_division(s, w, mag_x, mag_y, NULL);
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < n; e++) {
        a[e] = cq[e], b[e] = w->quo[e];
        a[n + e] = cr[e], b[n + e] = w->rem[e];
    }
    st = ezrt_mul(s, a, b, p, 2 * n);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        q[e] = (p[e] - z_saved[e]) & s->mask;
        r[e] = (p[n + e] + zx[e]) & s->mask;
    }
    return st;
}

ezrt_status ezrt_divmod(ezrt_session *s, int is_signed, const uint64_t *x, const uint64_t *y,
                        uint64_t *q, uint64_t *r, size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || y == NULL)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, 96 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    work w;
    uint64_t *in = ezrt_sess_alloc(4 * n, sizeof *in);
    if (!work_alloc(&w, n) || in == NULL) {
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    } else {
        /* Copies: q and r may alias x or y, and may be NULL. */
        uint64_t *xs = in, *ys = in + n, *qs = in + 2 * n, *rs = in + 3 * n;
        ezrt_sess_reduce(s, x, xs, n);
        ezrt_sess_reduce(s, y, ys, n);
        st = is_signed ? divide_signed(s, &w, xs, ys, qs, rs)
                       : divide_unsigned(s, &w, xs, ys, qs, rs);
        if (st == EZRT_OK && q != NULL)
            memcpy(q, qs, n * sizeof *q);
        if (st == EZRT_OK && r != NULL)
            memcpy(r, rs, n * sizeof *r);
    }
    work_free(&w);
    ezrt_sess_free(in, ezrt_sess_mul_size(4 * n, sizeof *in));
    return st;
}
