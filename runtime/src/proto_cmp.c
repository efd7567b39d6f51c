/* Exact comparison of masked wires with three DCFs in one round (protocols.md §5.4). Over the
 * integers, x = x^ - r_x + N w_x with w_x = [x^ < r_x], likewise y and d = x - y mod N, so
 *   [x < y] = p - q + w_d - w_x + w_y,   p = [x^ < y^] (public), q = [r_x < r_y] (dealer).
 * Each w is a DCF with alpha = the mask and beta = 1 evaluated at the public hat value; the
 * dealer also shares -q + r_out, and the parties open [x < y] + r_out. Signed comparison adds
 * 2^(bits-1) to both hat values, which leaves the masks alone. Dealer material goes in chunks of
 * about EZRT_DEALER_CHUNK_BYTES; the parties' opening is one exchange for all n elements. */
#include <string.h>

#include "ezrt.h"
#include "session_private.h"

static const char OP[] = "ezrt_lt";

/* The sizes of one chunk of cnt elements: 3 cnt keys [x | y | d], then cnt shared values. */
typedef struct {
    size_t cnt, key, keys, srv_len, cli_len, vals_len;
} chunk_plan;

static chunk_plan plan_chunk(const ezrt_session *s, size_t cnt)
{
    chunk_plan c = {.cnt = cnt, .key = ezrt_dcf_key_size(s->bits, s->bits)};
    c.keys = 3 * cnt;
    c.srv_len = c.keys * (c.key - EZRT_SEED_BYTES);
    c.vals_len = ezrt_packed_size(cnt, s->bits);
    c.cli_len = c.keys * c.key + c.vals_len;
    return c;
}

/* Elements per chunk: the CLIENT's keys of a chunk stay near EZRT_DEALER_CHUNK_BYTES. */
static size_t chunk_elements(const ezrt_session *s)
{
    size_t per = 3 * ezrt_dcf_key_size(s->bits, s->bits);
    size_t cnt = EZRT_DEALER_CHUNK_BYTES / per;
    return cnt == 0 ? 1 : cnt;
}

static ezrt_status deal_chunk(ezrt_session *s, const uint64_t *x, const uint64_t *y,
                              uint64_t *z, const chunk_plan *c, uint64_t *tmp, uint8_t *srv,
                              uint8_t *cli)
{
    uint64_t *alphas = tmp, *betas = tmp + c->keys;
    for (size_t e = 0; e < c->cnt; e++) {
        uint64_t rx = x[e] & s->mask, ry = y[e] & s->mask;
        alphas[e] = rx;
        alphas[c->cnt + e] = ry;
        alphas[2 * c->cnt + e] = (rx - ry) & s->mask;
    }
    for (size_t k = 0; k < c->keys; k++)
        betas[k] = 1;
    ezrt_status st =
        ezrt_sess_deal_keys(s, OP, s->bits, s->bits, alphas, betas, c->keys, srv, cli);
    uint64_t *sh = betas, *r_out = betas + c->cnt;
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, c->cnt);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->own, r_out, c->cnt);
    if (st != EZRT_OK)
        return st;
    for (size_t e = 0; e < c->cnt; e++) {
        uint64_t q = ezrt_sess_lt64(alphas[e], alphas[c->cnt + e]);
        sh[e] = (r_out[e] - q - sh[e]) & s->mask;
        z[e] = r_out[e];
    }
    st = ezrt_pack(sh, c->cnt, s->bits, cli + c->keys * c->key, c->vals_len);
    if (st != EZRT_OK)
        return ezrt_sess_fail(s, OP, st, NULL);
    st = ezrt_sess_send_bytes(s, OP, s->party[0], srv, c->srv_len);
    return st == EZRT_OK ? ezrt_sess_send_bytes(s, OP, s->party[1], cli, c->cli_len) : st;
}

/* A party's opening shares mine[0..cnt) of [x < y] + r_out for one chunk. */
static ezrt_status party_chunk(ezrt_session *s, const uint64_t *x, const uint64_t *y,
                               uint64_t offset, uint64_t *mine, const chunk_plan *c,
                               uint64_t *tmp, uint8_t *msg, uint8_t *keys)
{
    int server = s->role == EZRT_ROLE_SERVER;
    uint64_t *points = tmp, *w = tmp + c->keys, *sh = tmp + 2 * c->keys;
    ezrt_status st = ezrt_sess_recv_bytes(s, OP, s->dealer, msg, server ? c->srv_len : c->cli_len);
    if (st == EZRT_OK && server)
        st = ezrt_sess_server_keys(s, OP, s->bits, s->bits, c->keys, msg, keys);
    if (st == EZRT_OK && server)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], sh, c->cnt);
    if (st == EZRT_OK && !server) {
        keys = msg;
        st = ezrt_unpack(msg + c->keys * c->key, c->vals_len, s->bits, sh, c->cnt);
    }
    for (size_t e = 0; e < c->cnt && st == EZRT_OK; e++) {
        points[e] = (x[e] + offset) & s->mask;
        points[c->cnt + e] = (y[e] + offset) & s->mask;
        points[2 * c->cnt + e] = (x[e] - y[e]) & s->mask;
    }
    if (st == EZRT_OK)
        st = ezrt_dcf_eval_batch(s->role, keys, c->keys * c->key, s->bits, s->bits, points, w,
                                 c->keys);
    if (st != EZRT_OK)
        return s->failure != EZRT_OK ? st : ezrt_sess_fail(s, OP, st, NULL);
    for (size_t e = 0; e < c->cnt; e++) {
        uint64_t p = ezrt_sess_lt64(points[e], points[c->cnt + e]);
        mine[e] = (uint64_t)server * p + sh[e] + w[2 * c->cnt + e] - w[e] + w[c->cnt + e];
    }
    return EZRT_OK;
}

/* Runs every chunk: the dealer deals into z, a party writes its opening shares to mine. */
static ezrt_status run_chunks(ezrt_session *s, const uint64_t *x, const uint64_t *y,
                              uint64_t offset, uint64_t *z, uint64_t *mine, size_t n)
{
    size_t per = chunk_elements(s);
    chunk_plan full = plan_chunk(s, per < n ? per : n);
    uint64_t *tmp = ezrt_sess_alloc(full.keys, 3 * sizeof *tmp);
    uint8_t *a = ezrt_sess_alloc(full.cli_len, 1);
    uint8_t *b = ezrt_sess_alloc(full.keys, full.key);
    ezrt_status st = EZRT_OK;
    if (tmp == NULL || a == NULL || b == NULL)
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    for (size_t j = 0; j < n && st == EZRT_OK; j += per) {
        chunk_plan c = plan_chunk(s, n - j < per ? n - j : per);
        if (s->role == EZRT_ROLE_DEALER)
            st = deal_chunk(s, x + j, y + j, z + j, &c, tmp, b, a);
        else
            st = party_chunk(s, x + j, y + j, offset, mine + j, &c, tmp, a, b);
    }
    ezrt_sess_free(tmp, full.keys * 3 * sizeof *tmp);
    ezrt_sess_free(a, full.cli_len);
    ezrt_sess_free(b, full.keys * full.key);
    return st;
}

ezrt_status ezrt_lt(ezrt_session *s, int is_signed, const uint64_t *x, const uint64_t *y,
                    uint64_t *z, size_t n)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || n == 0)
        return st;
    if (x == NULL || y == NULL || z == NULL)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    if (ezrt_sess_mul_size(n, sizeof(uint64_t)) == SIZE_MAX)
        return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    if (s->role == EZRT_ROLE_DEALER)
        return run_chunks(s, x, y, 0, z, NULL, n);
    uint64_t offset = is_signed ? (uint64_t)1 << (s->bits - 1) : 0;
    uint64_t *mine = ezrt_sess_alloc(n, sizeof *mine);
    if (mine == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    st = run_chunks(s, x, y, offset, z, mine, n);
    if (st == EZRT_OK)
        st = ezrt_sess_open_sum(s, OP, mine, z, n);
    ezrt_sess_free(mine, n * sizeof *mine);
    return st;
}
