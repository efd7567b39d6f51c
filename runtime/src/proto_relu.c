/* Rectification fused with an exact truncation, in two rounds (protocols.md §5.8):
 * z = relu(x) >> s = [x >= 0] * floor(x / 2^s) on signed masked wires, which is
 * (x > 0 ? x : 0) >> s bit for bit (at x = 0 both are 0). Computed apart, the comparison, the
 * selection and the exact shift take three rounds; both factors here depend on x alone, so
 * they are opened in one exchange, and one product follows. Why it is worth a protocol: a
 * fixed-point network ends every layer with a ReLU and a truncation (the rewrite rule
 * rescale-past-relu puts them in this order).
 *
 * With x = x^ - r mod N, N = 2^n, and X, R the top bits of x^ and r:
 * - b = [x >= 0] = 1 ^ X ^ R ^ c, with c = [x^ mod 2^(n-1) < r mod 2^(n-1)] the borrow into the
 *   sign bit: one DCF on n - 1 input bits with output group Z_2. When -2^m <= x < 2^m is known
 *   (m < n - 1), y = x + 2^m lies in [0, 2^(m+1)), so y = (x^ + 2^m - r) mod 2^(m+1) and
 *   b = bit m of y = 1 ^ X_m ^ R_m ^ c_m with X_m, R_m bit m of x^ and r and c_m the borrow
 *   [x^ mod 2^m < r mod 2^m]: the DCF needs m input bits only (m = n - 1 is the case above).
 * - When x >= 0 the wrap w = [x^ < r] of x = x^ - r + N w is R (1 - X), so with H = x^ >> s,
 *   H' = r >> s and the borrow d = [x^ mod 2^s < r mod 2^s] (one DCF on s input bits, output
 *   group Z_N), floor(x / 2^s) = t = H - H' - d + 2^(n-s) R (1 - X). When x < 0, t is some ring
 *   element that the product with b = 0 discards.
 * Round one opens b^ = b ^ rho (rho a fresh bit) and t^ = t + r_t (r_t fresh) from the DCF
 * shares and dealer shares of k = R ^ rho, a = r_t - H' and e = 2^(n-s) R. Round two opens
 * z + r_z; with b = b^ + (1 - 2 b^) rho and t = t^ - r_t,
 *   z + r_z = b^ t^ + (1 - 2 b^) t^ rho + (r_z - rho r_t) + b^ (2 rho - 1) r_t,
 * linear in dealer shares of rho, u = r_z - rho r_t and q = (2 rho - 1) r_t. Dealer material
 * goes in chunks of about EZRT_DEALER_CHUNK_BYTES; each opening is one exchange for all n. */
#include <string.h>

#include "ezrt.h"
#include "session_private.h"

static const char OP[] = "ezrt_relu_rescale";

/* What the protocol ends with: the opened output wire, or the parties' additive shares of the
 * value (round two is then local: the dealer's r_z is 0 and nothing is opened). */
typedef enum { OUT_WIRE, OUT_SHARES } output_form;

/* The dealer's bits-bit values per element, as CLIENT receives them (chunk-major: value v of
 * element e at v * cnt + e); the bit k travels apart, packed to 1 bit. */
enum { V_A, V_E, V_RHO, V_U, V_Q, VALUES };

/* uint64_t scratch per element of a chunk: the values, k, and three more columns. */
#define TMP_PER_ELEMENT (VALUES + 4)

/* One chunk of cnt elements: cnt sign-borrow keys, then cnt low-borrow keys (either absent
 * when its input width is 0), then the values, then the bits k. */
typedef struct {
    size_t cnt, sign_key, low_key, keys_len, srv_len, vals_len, bits_len, cli_len;
} chunk_plan;

/* A party's shares kept until the openings: round one's (t, b), round two's (rho, u, q). */
typedef struct {
    uint64_t *t, *b, *rho, *u, *q;
} party_shares;

static size_t key_or_none(unsigned n_in, unsigned m_out)
{
    return n_in == 0 ? 0 : ezrt_dcf_key_size(n_in, m_out);
}

static chunk_plan plan_chunk(const ezrt_session *s, unsigned shift, unsigned sign_bits, size_t cnt)
{
    chunk_plan c = {.cnt = cnt};
    c.sign_key = key_or_none(sign_bits, 1);
    c.low_key = key_or_none(shift, s->bits);
    size_t roots = (size_t)(c.sign_key != 0) + (c.low_key != 0);
    c.keys_len = cnt * (c.sign_key + c.low_key);
    c.srv_len = c.keys_len - cnt * roots * EZRT_SEED_BYTES;
    c.vals_len = ezrt_packed_size(VALUES * cnt, s->bits);
    c.bits_len = ezrt_packed_size(cnt, 1);
    c.cli_len = c.keys_len + c.vals_len + c.bits_len;
    return c;
}

/* Elements per chunk: CLIENT's material of a chunk stays near EZRT_DEALER_CHUNK_BYTES. */
static size_t chunk_elements(const ezrt_session *s, unsigned shift, unsigned sign_bits)
{
    size_t cnt = EZRT_DEALER_CHUNK_BYTES / plan_chunk(s, shift, sign_bits, 1).cli_len;
    return cnt == 0 ? 1 : cnt;
}

static uint64_t low_bits(uint64_t v, unsigned i)
{
    return v & (((uint64_t)1 << i) - 1);
}

/* The dealer's two DCFs per element: alpha = the mask's low m bits (m = sign_bits, beta = 1 in
 * Z_2), and its low s bits (beta = 1 in Z_N). */
static ezrt_status deal_borrow_keys(ezrt_session *s, unsigned shift, unsigned sign_bits,
                                    const uint64_t *r, const chunk_plan *c, uint64_t *tmp,
                                    uint8_t *srv, uint8_t *cli)
{
    uint64_t *alphas = tmp, *betas = tmp + c->cnt;
    ezrt_status st = EZRT_OK;
    for (size_t e = 0; e < c->cnt; e++)
        betas[e] = 1;
    if (c->sign_key != 0) {
        for (size_t e = 0; e < c->cnt; e++)
            alphas[e] = low_bits(r[e], sign_bits);
        st = ezrt_sess_deal_keys(s, OP, sign_bits, 1, alphas, betas, c->cnt, srv, cli);
        srv += c->cnt * (c->sign_key - EZRT_SEED_BYTES);
        cli += c->cnt * c->sign_key;
    }
    if (st == EZRT_OK && c->low_key != 0) {
        for (size_t e = 0; e < c->cnt; e++)
            alphas[e] = low_bits(r[e], shift);
        st = ezrt_sess_deal_keys(s, OP, shift, s->bits, alphas, betas, c->cnt, srv, cli);
    }
    return st;
}

/* CLIENT's share of value v of element e: the value minus SERVER's, which sh holds. */
static void client_share(const ezrt_session *s, uint64_t *sh, size_t cnt, int v, size_t e,
                         uint64_t value)
{
    size_t at = (size_t)v * cnt + e;
    sh[at] = (value - sh[at]) & s->mask;
}

/* r holds the masks of x (reduced); the output masks r_z go to z. */
static ezrt_status deal_chunk(ezrt_session *s, unsigned shift, unsigned sign_bits,
                              output_form form, const uint64_t *r, uint64_t *z,
                              const chunk_plan *c, uint64_t *tmp, uint8_t *srv, uint8_t *cli)
{
    uint64_t keep_mask = form == OUT_WIRE ? ~(uint64_t)0 : 0;
    size_t cnt = c->cnt;
    uint64_t *sh = tmp, *k = tmp + VALUES * cnt, *fresh = k + cnt;
    ezrt_status st = deal_borrow_keys(s, shift, sign_bits, r, c, tmp, srv, cli);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, VALUES * cnt);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], k, cnt);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->own, fresh, 3 * cnt);
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < cnt; e++) {
        uint64_t rho = fresh[e] & 1, r_t = fresh[cnt + e], r_z = fresh[2 * cnt + e] & keep_mask;
        uint64_t top = r[e] >> (s->bits - 1);
        /* 2^(n-s) R, which is 0 in the ring for s = 0 (and the shift would be undefined). */
        uint64_t wrap = shift == 0 ? 0 : top << (s->bits - shift);
        client_share(s, sh, cnt, V_A, e, r_t - (r[e] >> shift));
        client_share(s, sh, cnt, V_E, e, wrap);
        client_share(s, sh, cnt, V_RHO, e, rho);
        client_share(s, sh, cnt, V_U, e, r_z - rho * r_t);
        client_share(s, sh, cnt, V_Q, e, (2 * rho - 1) * r_t);
        k[e] = ((r[e] >> sign_bits) ^ rho ^ k[e]) & 1; /* R_m: bit m of the mask */
        z[e] = r_z;
    }
    uint8_t *vals = cli + c->keys_len;
    st = ezrt_pack(sh, VALUES * cnt, s->bits, vals, c->vals_len);
    if (st == EZRT_OK)
        st = ezrt_pack(k, cnt, 1, vals + c->vals_len, c->bits_len);
    if (st != EZRT_OK)
        return ezrt_sess_fail(s, OP, st, NULL);
    st = ezrt_sess_send_bytes(s, OP, s->party[0], srv, c->srv_len);
    return st == EZRT_OK ? ezrt_sess_send_bytes(s, OP, s->party[1], cli, c->cli_len) : st;
}

/* One DCF per element at points[e] = the low n_in bits of x^: shares to out (0 if absent). */
static ezrt_status eval_borrow(ezrt_session *s, unsigned n_in, unsigned m_out, size_t key,
                               const uint64_t *x, size_t cnt, const uint8_t **msg,
                               uint8_t *keys, uint64_t *points, uint64_t *out)
{
    int server = s->role == EZRT_ROLE_SERVER;
    const uint8_t *these = *msg;
    ezrt_status st = EZRT_OK;
    if (key == 0) {
        memset(out, 0, cnt * sizeof *out);
        return EZRT_OK;
    }
    if (server) {
        st = ezrt_sess_server_keys(s, OP, n_in, m_out, cnt, *msg, keys);
        these = keys;
    }
    *msg += cnt * (server ? key - EZRT_SEED_BYTES : key);
    for (size_t e = 0; e < cnt; e++)
        points[e] = low_bits(x[e], n_in);
    if (st == EZRT_OK)
        st = ezrt_dcf_eval_batch(s->role, these, cnt * key, n_in, m_out, points, out, cnt);
    if (st != EZRT_OK && s->failure == EZRT_OK)
        ezrt_sess_fail(s, OP, st, NULL);
    return st;
}

/* The dealer's values of a chunk: SERVER's from PRG(k_S) (in the dealer's order), CLIENT's
 * from its message after the keys. */
static ezrt_status chunk_values(ezrt_session *s, const chunk_plan *c, const uint8_t *msg,
                                uint64_t *sh, uint64_t *k)
{
    ezrt_status st;
    if (s->role == EZRT_ROLE_SERVER) {
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, VALUES * c->cnt);
        return st == EZRT_OK ? ezrt_sess_draw(s, OP, &s->seeded[0], k, c->cnt) : st;
    }
    const uint8_t *vals = msg + c->keys_len;
    st = ezrt_unpack(vals, c->vals_len, s->bits, sh, VALUES * c->cnt);
    if (st == EZRT_OK)
        st = ezrt_unpack(vals + c->vals_len, c->bits_len, 1, k, c->cnt);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, OP, st, NULL);
}

/* A party's shares of one chunk, into p (already offset to the chunk's first element). */
static ezrt_status party_chunk(ezrt_session *s, unsigned shift, unsigned sign_bits,
                               const uint64_t *x, const chunk_plan *c, uint64_t *tmp,
                               uint8_t *msg, uint8_t *keys, const party_shares *p)
{
    uint64_t server = s->role == EZRT_ROLE_SERVER;
    size_t cnt = c->cnt;
    uint64_t *sh = tmp, *k = tmp + VALUES * cnt, *points = k + cnt, *sign = points + cnt;
    uint64_t *low = sign + cnt;
    const uint8_t *cursor = msg;
    ezrt_status st = ezrt_sess_recv_bytes(s, OP, s->dealer, msg, server ? c->srv_len : c->cli_len);
    if (st == EZRT_OK)
        st = eval_borrow(s, sign_bits, 1, c->sign_key, x, cnt, &cursor, keys, points, sign);
    if (st == EZRT_OK)
        st = eval_borrow(s, shift, s->bits, c->low_key, x, cnt, &cursor, keys, points, low);
    if (st == EZRT_OK)
        st = chunk_values(s, c, msg, sh, k);
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < cnt; e++) {
        uint64_t top = x[e] >> (s->bits - 1), y_m = 1 ^ ((x[e] >> sign_bits) & 1);
        p->b[e] = (server & y_m) ^ (k[e] & 1) ^ (sign[e] & 1);
        p->t[e] = (server * (x[e] >> shift) + sh[V_A * cnt + e] - low[e] +
                   (1 - top) * sh[V_E * cnt + e]) & s->mask;
        p->rho[e] = sh[V_RHO * cnt + e];
        p->u[e] = sh[V_U * cnt + e];
        p->q[e] = sh[V_Q * cnt + e];
    }
    return EZRT_OK;
}

/* Round one: opens t^ (bits bits each) and b^ (1 bit each) in one exchange, in place. */
static ezrt_status open_factors(ezrt_session *s, const party_shares *p, size_t n)
{
    size_t t_len = ezrt_packed_size(n, s->bits), b_len = ezrt_packed_size(n, 1);
    size_t len = t_len == SIZE_MAX ? SIZE_MAX : t_len + b_len;
    uint8_t *buf = ezrt_sess_alloc(len, 2);
    uint64_t *theirs = ezrt_sess_alloc(n, 2 * sizeof *theirs);
    ezrt_status st = EZRT_ENOMEM;
    if (buf != NULL && theirs != NULL) {
        st = ezrt_pack(p->t, n, s->bits, buf, t_len);
        if (st == EZRT_OK)
            st = ezrt_pack(p->b, n, 1, buf + t_len, b_len);
    }
    if (st != EZRT_OK)
        ezrt_sess_fail(s, OP, st, NULL);
    else
        st = ezrt_sess_exchange(s, OP, buf, buf + len, len);
    if (st == EZRT_OK) {
        st = ezrt_unpack(buf + len, t_len, s->bits, theirs, n);
        if (st == EZRT_OK)
            st = ezrt_unpack(buf + len + t_len, b_len, 1, theirs + n, n);
        if (st != EZRT_OK)
            ezrt_sess_fail(s, OP, st, NULL);
    }
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        p->t[e] = (p->t[e] + theirs[e]) & s->mask;
        p->b[e] = (p->b[e] ^ theirs[n + e]) & 1;
    }
    ezrt_sess_free(buf, ezrt_sess_mul_size(len, 2));
    ezrt_sess_free(theirs, ezrt_sess_mul_size(n, 2 * sizeof *theirs));
    return st;
}

/* Round two: the party's share of z + r_z from the opened factors and the kept shares; opened
 * into z (OUT_WIRE), or kept as the party's share of z (OUT_SHARES: r_z is 0), reduced. */
static ezrt_status open_product(ezrt_session *s, output_form form, const party_shares *p,
                                uint64_t *z, size_t n)
{
    uint64_t server = s->role == EZRT_ROLE_SERVER;
    for (size_t e = 0; e < n; e++) {
        uint64_t b = p->b[e], t = p->t[e];
        p->rho[e] = server * b * t + (1 - 2 * b) * t * p->rho[e] + p->u[e] + b * p->q[e];
    }
    if (form == OUT_SHARES) {
        ezrt_sess_reduce(s, p->rho, z, n);
        return EZRT_OK;
    }
    return ezrt_sess_open_sum(s, OP, p->rho, z, n);
}

static ezrt_status deal_all(ezrt_session *s, unsigned shift, unsigned sign_bits, output_form form,
                            const uint64_t *r, uint64_t *z, size_t n)
{
    size_t per = chunk_elements(s, shift, sign_bits);
    chunk_plan full = plan_chunk(s, shift, sign_bits, per < n ? per : n);
    uint64_t *tmp = ezrt_sess_alloc(full.cnt, TMP_PER_ELEMENT * sizeof *tmp);
    uint8_t *srv = ezrt_sess_alloc(full.srv_len, 1);
    uint8_t *cli = ezrt_sess_alloc(full.cli_len, 1);
    ezrt_status st = EZRT_OK;
    if (tmp == NULL || srv == NULL || cli == NULL)
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    for (size_t j = 0; j < n && st == EZRT_OK; j += per) {
        chunk_plan c = plan_chunk(s, shift, sign_bits, n - j < per ? n - j : per);
        st = deal_chunk(s, shift, sign_bits, form, r + j, z + j, &c, tmp, srv, cli);
    }
    ezrt_sess_free(tmp, full.cnt * TMP_PER_ELEMENT * sizeof *tmp);
    ezrt_sess_free(srv, full.srv_len);
    ezrt_sess_free(cli, full.cli_len);
    return st;
}

static ezrt_status play_all(ezrt_session *s, unsigned shift, unsigned sign_bits, output_form form,
                            const uint64_t *x, uint64_t *z, size_t n)
{
    size_t per = chunk_elements(s, shift, sign_bits);
    chunk_plan full = plan_chunk(s, shift, sign_bits, per < n ? per : n);
    size_t key = full.sign_key > full.low_key ? full.sign_key : full.low_key;
    uint64_t *tmp = ezrt_sess_alloc(full.cnt, TMP_PER_ELEMENT * sizeof *tmp);
    uint8_t *msg = ezrt_sess_alloc(full.cli_len, 1);
    uint8_t *keys = ezrt_sess_alloc(full.cnt, key);
    uint64_t *kept = ezrt_sess_alloc(n, 5 * sizeof *kept);
    ezrt_status st = EZRT_OK;
    if (tmp == NULL || msg == NULL || keys == NULL || kept == NULL)
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    for (size_t j = 0; j < n && st == EZRT_OK; j += per) {
        chunk_plan c = plan_chunk(s, shift, sign_bits, n - j < per ? n - j : per);
        party_shares at = {kept + j, kept + n + j, kept + 2 * n + j, kept + 3 * n + j,
                           kept + 4 * n + j};
        st = party_chunk(s, shift, sign_bits, x + j, &c, tmp, msg, keys, &at);
    }
    party_shares all = {kept, kept + n, kept + 2 * n, kept + 3 * n, kept + 4 * n};
    if (st == EZRT_OK)
        st = open_factors(s, &all, n);
    if (st == EZRT_OK)
        st = open_product(s, form, &all, z, n);
    ezrt_sess_free(tmp, full.cnt * TMP_PER_ELEMENT * sizeof *tmp);
    ezrt_sess_free(msg, full.cli_len);
    ezrt_sess_free(keys, full.cnt * key);
    ezrt_sess_free(kept, n * 5 * sizeof *kept);
    return st;
}

static ezrt_status relu_rescale(ezrt_session *s, unsigned shift, unsigned sign_bits,
                                output_form form, const uint64_t *x, uint64_t *z, size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || z == NULL)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    if (sign_bits > s->bits - 1 || (sign_bits == 0 && s->bits > 1))
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "the magnitude bits must be in 1 .. bits - 1");
    if (ezrt_sess_mul_size(n, 6 * sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    if (shift >= s->bits) {
        /* relu(x) >> shift is 0 for every x: the wire 0 (value 0, mask 0) in every role, which
         * is also the shares 0 and 0. */
        memset(z, 0, n * sizeof *z);
        return EZRT_OK;
    }
    /* x is copied because z may be the same array, and the dealer writes z chunk by chunk. */
    uint64_t *xs = ezrt_sess_alloc(n, sizeof *xs);
    if (xs == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    ezrt_sess_reduce(s, x, xs, n);
    st = s->role == EZRT_ROLE_DEALER ? deal_all(s, shift, sign_bits, form, xs, z, n)
                                     : play_all(s, shift, sign_bits, form, xs, z, n);
    ezrt_sess_free(xs, n * sizeof *xs);
    return st;
}

ezrt_status ezrt_relu_rescale(ezrt_session *s, unsigned shift, const uint64_t *x, uint64_t *z,
                              size_t n)
{
    return relu_rescale(s, shift, s == NULL ? 1 : s->bits - 1, OUT_WIRE, x, z, n);
}

ezrt_status ezrt_relu_rescale_shares(ezrt_session *s, unsigned shift, unsigned magnitude_bits,
                                     const uint64_t *x, uint64_t *z, size_t n)
{
    return relu_rescale(s, shift, magnitude_bits, OUT_SHARES, x, z, n);
}
