/* Bit decomposition of masked wires in one round (protocols.md §5.5). With x = x^ - r mod N,
 * bit i of x is bit i of x^ - r, i.e. X_i xor R_i xor w_i, where X_i, R_i are bit i of x^ and r
 * and w_i = [x^ mod 2^i < r mod 2^i] is the borrow into bit i. The dealer gives one DCF on i
 * input bits with alpha = r mod 2^i and beta = 1 - 2 R_i, whose shares sum to (1 - 2 R_i) w_i,
 * plus shares of R_i, so the parties hold shares of t_i = R_i xor w_i = R_i + (1 - 2 R_i) w_i;
 * bit 0 has no borrow and needs no key. X_i is public, so X_i xor t_i = X_i + (1 - 2 X_i) t_i is
 * local, and adding shares of a fresh r_out gives the opening. Dealer material goes in chunks of
 * about EZRT_DEALER_CHUNK_BYTES; the opening is one exchange for all n * bits outputs. */
#include <string.h>

#include "ezrt.h"
#include "session_private.h"

static const char OP[] = "ezrt_bits";

/* One chunk of cnt elements: for i = 1 .. bits-1, cnt keys of (i, bits); then 2 cnt bits
 * shared values: shares of R (element-major, cnt * bits), then of r_out (likewise). */
typedef struct {
    size_t cnt, outs, keys_len, srv_len, cli_len, vals_len;
} chunk_plan;

/* Sum over i = 1 .. bits-1 of ezrt_dcf_key_size(i, bits): one element's keys. */
static size_t element_key_bytes(const ezrt_session *s)
{
    size_t total = 0;
    for (unsigned i = 1; i < s->bits; i++)
        total += ezrt_dcf_key_size(i, s->bits);
    return total;
}

static chunk_plan plan_chunk(const ezrt_session *s, size_t cnt)
{
    chunk_plan c = {.cnt = cnt, .outs = cnt * s->bits};
    c.keys_len = cnt * element_key_bytes(s);
    c.srv_len = c.keys_len - cnt * (s->bits - 1) * EZRT_SEED_BYTES;
    c.vals_len = ezrt_packed_size(2 * c.outs, s->bits);
    c.cli_len = c.keys_len + c.vals_len;
    return c;
}

static size_t chunk_elements(const ezrt_session *s)
{
    size_t per = element_key_bytes(s);
    size_t cnt = per == 0 ? SIZE_MAX : EZRT_DEALER_CHUNK_BYTES / per;
    return cnt == 0 ? 1 : cnt;
}

static uint64_t low_bits(uint64_t v, unsigned i)
{
    return v & (((uint64_t)1 << i) - 1);
}

static ezrt_status deal_chunk(ezrt_session *s, const uint64_t *r, uint64_t *out,
                              const chunk_plan *c, uint64_t *tmp, uint8_t *srv, uint8_t *cli)
{
    uint64_t *alphas = tmp, *betas = tmp + c->cnt;
    ezrt_status st = EZRT_OK;
    for (unsigned i = 1; i < s->bits && st == EZRT_OK; i++) {
        for (size_t e = 0; e < c->cnt; e++) {
            alphas[e] = low_bits(r[e], i);
            betas[e] = (1 - 2 * ((r[e] >> i) & 1)) & s->mask;
        }
        st = ezrt_sess_deal_keys(s, OP, i, s->bits, alphas, betas, c->cnt, srv, cli);
        srv += c->cnt * (ezrt_dcf_key_size(i, s->bits) - EZRT_SEED_BYTES);
        cli += c->cnt * ezrt_dcf_key_size(i, s->bits);
    }
    uint64_t *sh = tmp, *r_out = tmp + 2 * c->outs;
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, 2 * c->outs);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->own, r_out, c->outs);
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < c->cnt; e++)
        for (unsigned i = 0; i < s->bits; i++) {
            size_t o = e * s->bits + i;
            sh[o] = (((r[e] >> i) & 1) - sh[o]) & s->mask;
            sh[c->outs + o] = (r_out[o] - sh[c->outs + o]) & s->mask;
            out[o] = r_out[o];
        }
    st = ezrt_pack(sh, 2 * c->outs, s->bits, cli, c->vals_len);
    if (st != EZRT_OK)
        return ezrt_sess_fail(s, OP, st, NULL);
    srv -= c->srv_len;
    cli -= c->keys_len;
    st = ezrt_sess_send_bytes(s, OP, s->party[0], srv, c->srv_len);
    return st == EZRT_OK ? ezrt_sess_send_bytes(s, OP, s->party[1], cli, c->cli_len) : st;
}

/* Shares w[e * bits + i] of (1 - 2 R_i) w_i for every bit i >= 1 (w[e * bits] = 0). */
static ezrt_status eval_keys(ezrt_session *s, const uint64_t *x, const chunk_plan *c,
                             const uint8_t *msg, uint8_t *keys, uint64_t *points,
                             uint64_t *w, uint64_t *col)
{
    int server = s->role == EZRT_ROLE_SERVER;
    ezrt_status st = EZRT_OK;
    for (size_t e = 0; e < c->cnt; e++)
        w[e * s->bits] = 0;
    for (unsigned i = 1; i < s->bits && st == EZRT_OK; i++) {
        size_t key = ezrt_dcf_key_size(i, s->bits);
        const uint8_t *these = msg;
        if (server) {
            st = ezrt_sess_server_keys(s, OP, i, s->bits, c->cnt, msg, keys);
            these = keys;
        }
        msg += c->cnt * (server ? key - EZRT_SEED_BYTES : key);
        for (size_t e = 0; e < c->cnt; e++)
            points[e] = low_bits(x[e], i);
        if (st == EZRT_OK)
            st = ezrt_dcf_eval_batch(s->role, these, c->cnt * key, i, s->bits, points, col,
                                     c->cnt);
        for (size_t e = 0; e < c->cnt && st == EZRT_OK; e++)
            w[e * s->bits + i] = col[e];
    }
    if (st != EZRT_OK && s->failure == EZRT_OK)
        ezrt_sess_fail(s, OP, st, NULL);
    return st;
}

/* A party's opening shares mine[0..cnt * bits) of the bits plus r_out for one chunk. */
static ezrt_status party_chunk(ezrt_session *s, const uint64_t *x, uint64_t *mine,
                               const chunk_plan *c, uint64_t *tmp, uint8_t *msg, uint8_t *keys)
{
    int server = s->role == EZRT_ROLE_SERVER;
    uint64_t *sh = tmp, *w = tmp + 2 * c->outs, *points = w + c->outs, *col = points + c->cnt;
    ezrt_status st = ezrt_sess_recv_bytes(s, OP, s->dealer, msg, server ? c->srv_len : c->cli_len);
    if (st == EZRT_OK)
        st = eval_keys(s, x, c, msg, keys, points, w, col);
    if (st == EZRT_OK && server)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, 2 * c->outs);
    if (st == EZRT_OK && !server) {
        st = ezrt_unpack(msg + c->keys_len, c->vals_len, s->bits, sh, 2 * c->outs);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, OP, st, NULL);
    }
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < c->cnt; e++)
        for (unsigned i = 0; i < s->bits; i++) {
            size_t o = e * s->bits + i;
            uint64_t xi = (x[e] >> i) & 1;
            uint64_t t = sh[o] + w[o];
            mine[o] = (uint64_t)server * xi + (1 - 2 * xi) * t + sh[c->outs + o];
        }
    return EZRT_OK;
}

static ezrt_status run_chunks(ezrt_session *s, const uint64_t *x, uint64_t *out, size_t n)
{
    size_t per = chunk_elements(s);
    chunk_plan full = plan_chunk(s, per < n ? per : n);
    /* tmp: 2 outs shares, then outs (dealer: r_out; party: w), then 2 cnt points and column. */
    size_t tmp_len = ezrt_sess_mul_size(3 * full.outs + 2 * full.cnt, sizeof(uint64_t));
    uint64_t *tmp = ezrt_sess_alloc(tmp_len, 1);
    uint8_t *a = ezrt_sess_alloc(full.cli_len, 1);
    uint8_t *b = ezrt_sess_alloc(full.keys_len, 1);
    ezrt_status st = EZRT_OK;
    if (tmp == NULL || a == NULL || b == NULL)
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    for (size_t j = 0; j < n && st == EZRT_OK; j += per) {
        chunk_plan c = plan_chunk(s, n - j < per ? n - j : per);
        if (s->role == EZRT_ROLE_DEALER)
            st = deal_chunk(s, x + j, out + j * s->bits, &c, tmp, b, a);
        else
            st = party_chunk(s, x + j, out + j * s->bits, &c, tmp, a, b);
    }
    ezrt_sess_free(tmp, tmp_len);
    ezrt_sess_free(a, full.cli_len);
    ezrt_sess_free(b, full.keys_len);
    return st;
}

ezrt_status ezrt_bits(ezrt_session *s, const uint64_t *x, uint64_t *bits, size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || bits == NULL)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, (size_t)s->bits * 3 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    size_t outs = n * s->bits;
    /* x is copied first because bits may overlap it; a party's shares go to bits and are
     * summed in place by the exchange. */
    uint64_t *xs = ezrt_sess_alloc(n, sizeof *xs);
    if (xs == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    ezrt_sess_reduce(s, x, xs, n);
    st = run_chunks(s, xs, bits, n);
    if (st == EZRT_OK && s->role != EZRT_ROLE_DEALER)
        st = ezrt_sess_open_sum(s, OP, bits, bits, outs);
    ezrt_sess_free(xs, n * sizeof *xs);
    return st;
}
