/* Multiplication of masked wires with a masked Beaver triple (protocols.md §5.3). The dealer's
 * triple is a = r_x, b = r_y, c = r_x r_y + r_z with a fresh output mask r_z; SERVER's shares
 * of (a, b, c) come from PRG(k_S), CLIENT receives the differences. Party j opens
 * z^_j = [j = 0] x^ y^ - x^ b_j - y^ a_j + c_j, and z^_0 + z^_1 = (x^ - r_x)(y^ - r_y) + r_z. */
#include "ezrt.h"
#include "session_private.h"

static const char OP[] = "ezrt_mul";

/* abc = [a_0 | b_0 | c_0] from PRG(k_S); the CLIENT's differences go out, r_z becomes z. */
static ezrt_status deal(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                        uint64_t *abc, size_t n)
{
    ezrt_status st = ezrt_sess_draw(s, OP, &s->seeded[0], abc, 3 * n);
    for (size_t i = 0; i < n && st == EZRT_OK; i++) {
        uint64_t rx = x[i], ry = y[i];
        abc[i] = rx - abc[i];
        abc[n + i] = ry - abc[n + i];
        abc[2 * n + i] = rx * ry - abc[2 * n + i];
    }
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->own, z, n);
    for (size_t i = 0; i < n && st == EZRT_OK; i++)
        abc[2 * n + i] += z[i];
    return st == EZRT_OK ? ezrt_sess_send_values(s, OP, s->party[1], abc, 3 * n) : st;
}

static ezrt_status multiply(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                            uint64_t *abc, size_t n)
{
    ezrt_status st = s->role == EZRT_ROLE_SERVER
                         ? ezrt_sess_draw(s, OP, &s->seeded[0], abc, 3 * n)
                         : ezrt_sess_recv_values(s, OP, s->dealer, abc, 3 * n);
    if (st != EZRT_OK)
        return st;
    uint64_t first = s->role == EZRT_ROLE_SERVER;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = abc[i], b = abc[n + i], c = abc[2 * n + i];
        /* abc's first third is spent, so it holds this party's opening. */
        abc[i] = first * x[i] * y[i] - x[i] * b - y[i] * a + c;
    }
    return ezrt_sess_open_sum(s, OP, abc, z, n);
}

ezrt_status ezrt_mul(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || y == NULL || z == NULL)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, 3 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    size_t len = 3 * n * sizeof(uint64_t);
    uint64_t *abc = ezrt_sess_alloc(3 * n, sizeof *abc);
    if (abc == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    if (s->role == EZRT_ROLE_DEALER)
        st = deal(s, x, y, z, abc, n);
    else
        st = multiply(s, x, y, z, abc, n);
    ezrt_sess_free(abc, len);
    return st;
}
