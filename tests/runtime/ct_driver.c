/* Constant-time harness for the runtime (ctgrind, after Adam Langley), run under valgrind's
 * memcheck by test_constant_time.py. Secrets are marked undefined with
 * VALGRIND_MAKE_MEM_UNDEFINED; memcheck then reports every conditional jump and every memory
 * address that depends on them. Results are marked defined again only to check their values.
 * The runtime is compiled with -DEZRT_CTGRIND, which turns ezrt_declassify (crypto_internal.h)
 * into VALGRIND_MAKE_MEM_DEFINED at the few places where a secret-derived value is public by
 * design (a validity check whose failure the caller learns anyway).
 *
 * What is secret: PRG seeds, key schedules and keystream; DCF alpha, beta, root seeds, key bytes
 * and (as the header claims) x; the dealer's PRG states and hence every mask, share, DCF key and
 * correlation of a full three-role session; a party's own PRG state, its clear inputs, and so
 * its masks and shares. Data sent on a socket is reported by memcheck as a "Param sendmsg"
 * error, suppressed by ct_driver.supp (sending is what the protocol does with it); data a party
 * receives is defined again, so a party's handling of dealer keys is covered by the direct DCF
 * calls here rather than through the session. Exit 0 = every value was right. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <valgrind/memcheck.h>

#include "ezrt.h"
#include "session_private.h"

#define N 3
#define BITS 32

static int failed;

static void expect(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "ct_driver: wrong value: %s\n", what);
        failed = 1;
    }
}

static void secret(const void *p, size_t len)
{
    VALGRIND_MAKE_MEM_UNDEFINED(p, len);
}

static void public(const void *p, size_t len)
{
    VALGRIND_MAKE_MEM_DEFINED(p, len);
}

/* The key schedule and keystream block are secret; counter, used and magic are positions and
 * an initialisation flag, public by design. */
static void secret_prg(ezrt_prg *prg)
{
    secret(prg->round_keys, sizeof prg->round_keys);
    secret(prg->block, sizeof prg->block);
}

static void check_prg(void)
{
    uint8_t seed[16] = {7, 1, 2}, key[16] = {9}, in[32] = {3}, out[32], bytes[45];
    uint64_t vals[5];
    ezrt_prg prg;
    secret(seed, sizeof seed);
    secret(key, sizeof key);
    secret(in, sizeof in);
    expect(ezrt_aes128_encrypt(key, in, out, sizeof in) == EZRT_OK, "aes");
    expect(ezrt_prg_init(&prg, seed) == EZRT_OK, "prg init");
    expect(ezrt_prg_bytes(&prg, bytes, 3) == EZRT_OK, "prg bytes 3");
    expect(ezrt_prg_bytes(&prg, bytes + 3, 42) == EZRT_OK, "prg bytes 42");
    expect(ezrt_prg_u64s(&prg, vals, 5, 13) == EZRT_OK, "prg u64s");
    public(vals, sizeof vals);
    expect((vals[0] >> 13) == 0, "prg u64s reduced");
    ezrt_prg_wipe(&prg);
}

static void check_ring(void)
{
    uint64_t a[9], b[9], c[9], d[9];
    uint8_t packed[80];
    for (size_t i = 0; i < 9; i++) {
        a[i] = 3 * i + 1;
        b[i] = 1000 * i + 7;
    }
    secret(a, sizeof a);
    secret(b, sizeof b);
    for (unsigned bits = 1; bits <= 64; bits += 7) {
        expect(ezrt_ring_add(bits, c, 9, a, 9, b, 9) == EZRT_OK, "add");
        expect(ezrt_ring_sub(bits, d, 9, c, 9, b, 9) == EZRT_OK, "sub");
        expect(ezrt_ring_mul(bits, c, 9, a, 9, d, 9) == EZRT_OK, "mul");
        expect(ezrt_ring_neg(bits, c, 9, c, 9) == EZRT_OK, "neg");
        expect(ezrt_pack(d, 9, bits, packed, sizeof packed) == EZRT_OK, "pack");
        expect(ezrt_unpack(packed, sizeof packed, bits, c, 9) == EZRT_OK, "unpack");
        public(c, sizeof c);
        public(d, sizeof d);
        expect(memcmp(c, d, sizeof c) == 0, "pack round trip");
    }
}

static void check_dcf(void)
{
    enum { n = 16, m = 16, count = 11 };
    size_t key = ezrt_dcf_key_size(n, m);
    uint8_t seed[16] = {5};
    uint64_t alphas[count], betas[count], xs[count], out0[count], out1[count];
    uint8_t *k0 = malloc(count * key), *k1 = malloc(count * key);
    ezrt_prg rng;
    ezrt_prg_init(&rng, seed);
    secret_prg(&rng);
    for (size_t j = 0; j < count; j++) {
        alphas[j] = 1000 * j + 13;
        betas[j] = j + 1;
        xs[j] = 500 * j + 17 * (j % 3);
    }
    secret(alphas, sizeof alphas);
    secret(betas, sizeof betas);
    expect(ezrt_dcf_gen_batch(&rng, n, m, alphas, betas, count, k0, count * key, k1,
                              count * key) == EZRT_OK, "dcf gen");
    /* Keys as received from the dealer are still secret to the evaluating party; so is x. */
    secret(k0, count * key);
    secret(k1, count * key);
    secret(xs, sizeof xs);
    expect(ezrt_dcf_eval_batch(0, k0, count * key, n, m, xs, out0, count) == EZRT_OK, "eval 0");
    expect(ezrt_dcf_eval_batch(1, k1, count * key, n, m, xs, out1, count) == EZRT_OK, "eval 1");
    public(out0, sizeof out0);
    public(out1, sizeof out1);
    public(alphas, sizeof alphas);
    public(betas, sizeof betas);
    public(xs, sizeof xs);
    for (size_t j = 0; j < count; j++)
        expect(((out0[j] + out1[j]) & 0xffff) == (xs[j] < alphas[j] ? betas[j] : 0), "dcf value");
    ezrt_prg_wipe(&rng);
    free(k0);
    free(k1);
}

/* ---- a full three-role session over loopback ------------------------------------------- */

typedef struct {
    uint8_t role;
    ezrt_channel *peer, *dealer, *srv, *cli;
    uint64_t result[13][N];  /* clear outputs on the parties */
    int status;
} role_run;

static const uint64_t XS[N] = {5, 0xfffffff0u, 1234567};
static const uint64_t YS[N] = {3, 7, 0x80000001u};

/* Checks a status, recording the first failure. */
static int ok(role_run *r, ezrt_session *s, ezrt_status st, const char *what)
{
    if (st != EZRT_OK && r->status == 0) {
        fprintf(stderr, "ct_driver: role %u: %s: %s\n", r->role, what, ezrt_session_error(s));
        r->status = 1;
    }
    return st == EZRT_OK;
}

static void reveal(role_run *r, ezrt_session *s, int slot, const uint64_t *wire, size_t n)
{
    uint64_t *clear = r->role == EZRT_ROLE_DEALER ? NULL : r->result[slot];
    ok(r, s, ezrt_output(s, EZRT_RECIPIENT_ALL, wire, clear, n), "output");
    if (clear != NULL)
        public(clear, n * sizeof *clear);
}

/* The same calls in every role; the dealer's arrays hold masks. */
static void run_ops(role_run *r, ezrt_session *s)
{
    uint64_t x[N], y[N], z[N], q[N], rem[N], bits[N * BITS], clear[N];
    int party = r->role != EZRT_ROLE_DEALER;
    memcpy(clear, r->role == EZRT_ROLE_SERVER ? XS : YS, sizeof clear);
    if (party)
        secret(clear, sizeof clear);
    ok(r, s, ezrt_input(s, EZRT_ROLE_SERVER, party ? clear : NULL, x, N), "input S");
    ok(r, s, ezrt_input(s, EZRT_ROLE_CLIENT, party ? clear : NULL, y, N), "input C");
    ok(r, s, ezrt_mul(s, x, y, z, N), "mul");
    reveal(r, s, 0, z, N);
    ok(r, s, ezrt_lt(s, 0, x, y, z, N), "lt");
    reveal(r, s, 1, z, N);
    ok(r, s, ezrt_lt(s, 1, x, y, z, N), "lt signed");
    reveal(r, s, 2, z, N);
    ok(r, s, ezrt_bits(s, x, bits, 1), "bits");
    reveal(r, s, 3, bits, N);
    ok(r, s, ezrt_and(s, x, y, z, N), "and");
    reveal(r, s, 4, z, N);
    ok(r, s, ezrt_xor(s, x, y, z, N), "xor");
    reveal(r, s, 5, z, N);
    ok(r, s, ezrt_shr(s, 1, 5, x, z, N), "shr");
    reveal(r, s, 6, z, N);
    ok(r, s, ezrt_divmod(s, 0, x, y, q, rem, N), "divmod");
    reveal(r, s, 7, q, N);
    reveal(r, s, 8, rem, N);
    ok(r, s, ezrt_divmod(s, 1, x, y, q, rem, N), "divmod signed");
    reveal(r, s, 9, q, N);
    reveal(r, s, 10, rem, N);
    ok(r, s, ezrt_athos_relu(s, N, x, N, z, N, 3, 1), "relu");
    reveal(r, s, 11, z, N);
    ok(r, s, ezrt_athos_argmax(s, 1, N, x, N, z, 1), "argmax");
    reveal(r, s, 12, z, 1);
    ok(r, s, ezrt_session_flush(s), "flush");
}

static void *role_main(void *arg)
{
    role_run *r = arg;
    ezrt_session *s = NULL;
    ezrt_status st;
    if (r->role == EZRT_ROLE_DEALER)
        st = ezrt_session_open_dealer(&s, BITS, r->srv, r->cli);
    else
        st = ezrt_session_open_party(&s, r->role, BITS, r->peer, r->dealer);
    if (!ok(r, s, st, "open"))
        return NULL;
    if (r->role == EZRT_ROLE_DEALER) {
        secret_prg(&s->seeded[0]);
        secret_prg(&s->seeded[1]);
        secret_prg(&s->own);
    } else {
        secret_prg(&s->seeded[r->role]);
    }
    run_ops(r, s);
    ezrt_session_free(s);
    return NULL;
}

static int pair(uint8_t role_a, uint8_t role_b, ezrt_channel **a, ezrt_channel **b)
{
    ezrt_listener *l;
    if (ezrt_listen("127.0.0.1", 0, &l, NULL, 0) != EZRT_OK)
        return 0;
    int good = ezrt_connect("127.0.0.1", ezrt_listener_port(l), role_b, 10000, a, NULL, 0) ==
                   EZRT_OK &&
               ezrt_accept(l, role_a, 10000, b, NULL, 0) == EZRT_OK;
    ezrt_listener_close(l);
    return good;
}

static uint32_t sdiv(uint32_t a, uint32_t b, int want_rem)
{
    int32_t x = (int32_t)a, y = (int32_t)b;
    if (y == 0)
        return want_rem ? a : 0xffffffffu;
    if (x == INT32_MIN && y == -1)
        return want_rem ? 0 : a;
    return want_rem ? (uint32_t)(x % y) : (uint32_t)(x / y);
}

static void check_results(const uint64_t res[13][N])
{
    for (size_t i = 0; i < N; i++) {
        uint32_t a = (uint32_t)XS[i], b = (uint32_t)YS[i];
        expect(res[0][i] == (uint32_t)(a * b), "mul");
        expect(res[1][i] == (a < b), "lt");
        expect(res[2][i] == ((int32_t)a < (int32_t)b), "lt signed");
        expect(res[4][i] == (a & b), "and");
        expect(res[5][i] == (a ^ b), "xor");
        expect(res[6][i] == (uint32_t)((int32_t)a >> 5), "shr");
        expect(res[7][i] == (b ? a / b : 0xffffffffu), "div");
        expect(res[8][i] == (b ? a % b : a), "rem");
        expect(res[9][i] == sdiv(a, b, 0), "div signed");
        expect(res[10][i] == sdiv(a, b, 1), "rem signed");
        expect(res[11][i] == ((int32_t)a > 0 ? (uint32_t)((int32_t)a >> 3) : 0), "relu");
    }
    for (size_t i = 0; i < N; i++)
        expect(res[3][i] == ((XS[0] >> i) & 1), "bits");
    expect(res[12][0] == 2, "argmax");
}

static void check_session(void)
{
    role_run r[3] = {{.role = EZRT_ROLE_SERVER}, {.role = EZRT_ROLE_CLIENT},
                     {.role = EZRT_ROLE_DEALER}};
    if (!pair(EZRT_ROLE_SERVER, EZRT_ROLE_CLIENT, &r[0].peer, &r[1].peer) ||
        !pair(EZRT_ROLE_SERVER, EZRT_ROLE_DEALER, &r[0].dealer, &r[2].srv) ||
        !pair(EZRT_ROLE_CLIENT, EZRT_ROLE_DEALER, &r[1].dealer, &r[2].cli)) {
        expect(0, "loopback channels");
        return;
    }
    pthread_t t[3];
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], NULL, role_main, &r[i]);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], NULL);
    expect(r[0].status == 0 && r[1].status == 0 && r[2].status == 0, "session status");
    check_results(r[0].result);
    expect(memcmp(r[0].result, r[1].result, sizeof r[0].result) == 0, "both parties agree");
    ezrt_close(r[0].peer);
    ezrt_close(r[1].peer);
    ezrt_close(r[0].dealer);
    ezrt_close(r[1].dealer);
    ezrt_close(r[2].srv);
    ezrt_close(r[2].cli);
}

int main(void)
{
    check_prg();
    check_ring();
    check_dcf();
    check_session();
    return failed;
}
