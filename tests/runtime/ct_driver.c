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
 * calls here rather than through the session. The session calls every protocol and every
 * native Athos extern on small shapes, each result checked against plain C arithmetic; the
 * one-sided products also mark SERVER's clear model and CLIENT's clear operand secret (the
 * model's storage width is declassified: its choice is public by design). Exit 0 = every value
 * was right. */
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

/* One slot per revealed result, MAXOUT clear values each. */
enum {
    R_MUL, R_LT, R_LTS, R_BITS, R_AND, R_XOR, R_SHR, R_DIV, R_REM, R_DIVS, R_REMS, R_RELU,
    R_ARGMAX, R_OR, R_SHRL, R_SHRL_WIDE, R_EMUL, R_PDIV, R_FLOOR, R_UP, R_DOWN, R_MATMUL,
    R_MATMUL2D, R_MAXPOOL, R_AVGPOOL, R_CONV2D, R_GROUP, R_CONV3D, R_CT2D, R_CT3D, R_RELU0,
    R_MANY0, R_MANY1, R_ONE0, R_ONE1, R_ONE2, SLOTS
};
#define MAXOUT 32
#define TLEN 18 /* the tensors each party inputs */

typedef struct {
    uint8_t role;
    ezrt_channel *peer, *dealer, *srv, *cli;
    uint64_t result[SLOTS][MAXOUT]; /* clear outputs on the parties */
    int status;
} role_run;

static const uint64_t XS[N] = {5, 0xfffffff0u, 1234567};
static const uint64_t YS[N] = {3, 7, 0x80000001u};
/* The tensors' small signed values; inputs are their two's complements of BITS bits. */
static const int32_t TS[TLEN] = {-14, -6, 2,  10, -11, -3, 5,   13, -8,
                                 0,   8,  -13, -5, 3,  11, -10, -2, 6};
static const int32_t TC[TLEN] = {-6, 5, 3, 1, -1, -3, -5, 6, 4, 2, 0, -2, -4, -6, 5, 3, 1, -1};

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

/* Each party inputs its clear values (marked secret); the dealer's wires are the masks. */
static void input_both(role_run *r, ezrt_session *s, const uint64_t *srv, const uint64_t *cli,
                       uint64_t *x, uint64_t *y, size_t n)
{
    uint64_t clear[TLEN];
    int party = r->role != EZRT_ROLE_DEALER;
    memcpy(clear, r->role == EZRT_ROLE_SERVER ? srv : cli, n * sizeof *clear);
    if (party)
        secret(clear, n * sizeof *clear);
    ok(r, s, ezrt_input(s, EZRT_ROLE_SERVER, party ? clear : NULL, x, n), "input S");
    ok(r, s, ezrt_input(s, EZRT_ROLE_CLIENT, party ? clear : NULL, y, n), "input C");
}

/* The same calls in every role; the dealer's arrays hold masks. */
static void run_scalar_ops(role_run *r, ezrt_session *s, const uint64_t *x, const uint64_t *y)
{
    uint64_t z[N], q[N], rem[N], bits[N * BITS];
    ok(r, s, ezrt_mul(s, x, y, z, N), "mul");
    reveal(r, s, R_MUL, z, N);
    ok(r, s, ezrt_lt(s, 0, x, y, z, N), "lt");
    reveal(r, s, R_LT, z, N);
    ok(r, s, ezrt_lt(s, 1, x, y, z, N), "lt signed");
    reveal(r, s, R_LTS, z, N);
    ok(r, s, ezrt_bits(s, x, bits, 1), "bits");
    reveal(r, s, R_BITS, bits, N);
    ok(r, s, ezrt_and(s, x, y, z, N), "and");
    reveal(r, s, R_AND, z, N);
    ok(r, s, ezrt_xor(s, x, y, z, N), "xor");
    reveal(r, s, R_XOR, z, N);
    ok(r, s, ezrt_or(s, x, y, z, N), "or");
    reveal(r, s, R_OR, z, N);
    ok(r, s, ezrt_shr(s, 1, 5, x, z, N), "shr");
    reveal(r, s, R_SHR, z, N);
    ok(r, s, ezrt_shr(s, 0, 5, x, z, N), "shr logical");
    reveal(r, s, R_SHRL, z, N);
    ok(r, s, ezrt_shr(s, 0, BITS, x, z, N), "shr logical by the width");
    reveal(r, s, R_SHRL_WIDE, z, N);
    /* Relu with sf = 3 below runs ezrt_relu_rescale with both DCFs; shift 0 needs only one. */
    ok(r, s, ezrt_relu_rescale(s, 0, x, z, N), "relu rescale by 0");
    reveal(r, s, R_RELU0, z, N);
    ok(r, s, ezrt_divmod(s, 0, x, y, q, rem, N), "divmod");
    reveal(r, s, R_DIV, q, N);
    reveal(r, s, R_REM, rem, N);
    ok(r, s, ezrt_divmod(s, 1, x, y, q, rem, N), "divmod signed");
    reveal(r, s, R_DIVS, q, N);
    reveal(r, s, R_REMS, rem, N);
}

/* The element-wise Athos externs on the scalar inputs x (SERVER) and y (CLIENT). */
static void run_elementwise(role_run *r, ezrt_session *s, const uint64_t *x, const uint64_t *y)
{
    uint64_t z[N];
    ok(r, s, ezrt_athos_relu(s, N, x, N, z, N, 3, 1), "relu");
    reveal(r, s, R_RELU, z, N);
    ok(r, s, ezrt_athos_argmax(s, 1, N, x, N, z, 1), "argmax");
    reveal(r, s, R_ARGMAX, z, 1);
    ok(r, s, ezrt_athos_elemwise_mult(s, N, x, N, y, N, z, N), "elemwise mult");
    reveal(r, s, R_EMUL, z, N);
    ok(r, s, ezrt_athos_elemwise_public_div(s, N, x, N, 7, z, N), "public div");
    reveal(r, s, R_PDIV, z, N);
    ok(r, s, ezrt_athos_floor(s, N, x, N, z, N, 4), "floor");
    reveal(r, s, R_FLOOR, z, N);
    memcpy(z, x, sizeof z);
    ok(r, s, ezrt_athos_scale_up(s, N, z, N, 3), "scale up");
    reveal(r, s, R_UP, z, N);
    memcpy(z, x, sizeof z);
    ok(r, s, ezrt_athos_scale_down(s, N, z, N, 2), "scale down");
    reveal(r, s, R_DOWN, z, N);
}

/* One-sided products (proto_onesided.c), SERVER's clear K = TS and CLIENT's clear TC marked
 * secret. Slot 0: K (2 x 3) times CLIENT's wire b (3 x 2), registered, then again after a refill;
 * slot 1: CLIENT's clear TC (2 x 3) times K (3 x 2). */
static void run_onesided(role_run *r, ezrt_session *s, const uint64_t *b)
{
    uint64_t known[TLEN], clear[TLEN], c[4];
    for (size_t i = 0; i < TLEN; i++) {
        known[i] = (uint32_t)TS[i];
        clear[i] = (uint32_t)TC[i];
    }
    secret(known, sizeof known);
    secret(clear, sizeof clear);
    const uint64_t *k = r->role == EZRT_ROLE_SERVER ? known : NULL;
    const uint64_t *o = r->role == EZRT_ROLE_CLIENT ? clear : NULL;
    for (int call = 0; call < 2; call++) {
        ok(r, s, ezrt_onesided_refill(s), "onesided refill");
        ok(r, s, ezrt_onesided_matmul(s, 0, EZRT_KNOWN_LEFT, EZRT_OTHER_WIRE, 2, 3, 2, k, b, c),
           "onesided left");
        reveal(r, s, call == 0 ? R_ONE0 : R_ONE1, c, 4);
    }
    ok(r, s, ezrt_onesided_matmul(s, 1, EZRT_KNOWN_RIGHT, EZRT_OTHER_CLIENT_CLEAR, 2, 3, 2, k, o,
                                  c), "onesided right");
    reveal(r, s, R_ONE2, c, 4);
}

/* Tensors: the image from SERVER (a), the weights from CLIENT (b). */
static void run_tensor_ops(role_run *r, ezrt_session *s)
{
    uint64_t a[TLEN], b[TLEN], c[MAXOUT], ts[TLEN], tc[TLEN];
    for (size_t i = 0; i < TLEN; i++) {
        ts[i] = (uint32_t)TS[i];
        tc[i] = (uint32_t)TC[i];
    }
    input_both(r, s, ts, tc, a, b, TLEN);
    ok(r, s, ezrt_matmul(s, 2, 3, 2, a, b, c), "matmul");
    reveal(r, s, R_MATMUL, c, 4);
    ok(r, s, ezrt_athos_matmul2d(s, 3, 2, 3, a, 6, b, 6, c, 9, 1), "MatMul2D");
    reveal(r, s, R_MATMUL2D, c, 9);
    /* Both shapes in one call; the second product's C is its A (outputs may alias inputs). */
    uint64_t first[4], second[TLEN];
    memcpy(second, a, sizeof second);
    const size_t shapes[6] = {2, 3, 2, 3, 2, 3};
    const uint64_t *as[2] = {a, second}, *bs[2] = {b, b};
    uint64_t *cs[2] = {first, second};
    ok(r, s, ezrt_matmul_many(s, 2, shapes, as, bs, cs), "matmul many");
    reveal(r, s, R_MANY0, first, 4);
    reveal(r, s, R_MANY1, second, 9);
    /* 1 x 3 x 3 x 1 image, 2 x 2 windows, stride 2, padded right and below: 2 x 2 windows. */
    ok(r, s, ezrt_athos_maxpool(s, 1, 2, 2, 1, 2, 2, 0, 1, 0, 1, 2, 2, 1, 3, 3, 1, a, 9, c, 4),
       "maxpool");
    reveal(r, s, R_MAXPOOL, c, 4);
    ok(r, s, ezrt_athos_avgpool(s, 1, 2, 2, 1, 2, 2, 0, 1, 0, 1, 2, 2, 1, 3, 3, 1, a, 9, c, 4),
       "avgpool");
    reveal(r, s, R_AVGPOOL, c, 4);
    /* 1 x 3 x 3 x 2 input, 2 x 2 filter to 2 channels, padded left and above: 3 x 3 x 2. */
    ok(r, s, ezrt_athos_conv2d(s, 1, 3, 3, 2, 2, 2, 2, 1, 0, 1, 0, 1, 1, a, 18, b, 16, c, 18),
       "conv2d");
    reveal(r, s, R_CONV2D, c, 18);
    ok(r, s, ezrt_athos_conv2d_group(s, 1, 3, 3, 2, 2, 2, 2, 1, 0, 1, 0, 1, 1, 2, a, 18, b, 8,
                                     c, 18), "conv2d group");
    reveal(r, s, R_GROUP, c, 18);
    /* 1 x 2 x 2 x 2 x 1 input, 2 x 2 x 2 filter to 2 channels: D padded left, W both sides
     * with stride 2: 2 x 1 x 2 x 2. */
    ok(r, s, ezrt_athos_conv3d(s, 1, 2, 2, 2, 1, 2, 2, 2, 2, 1, 0, 0, 0, 1, 1, 1, 1, 2, a, 8, b,
                               16, c, 8), "conv3d");
    reveal(r, s, R_CONV3D, c, 8);
    /* 1 x 2 x 2 x 2 input, stride 2, 2 x 2 filter [F][CO][CI], padding 1: 1 x 4 x 4 x 2. */
    ok(r, s, ezrt_athos_conv_transpose2d(s, 1, 2, 2, 2, 2, 2, 2, 4, 4, 1, 1, 1, 1, 2, 2, a, 8, b,
                                         16, c, 32), "conv transpose 2d");
    reveal(r, s, R_CT2D, c, 32);
    /* 1 x 1 x 2 x 2 x 1 input, 1 x 2 x 2 filter, H stride 1 and W stride 2, padding 1:
     * 1 x 1 x 3 x 4 x 1. */
    ok(r, s, ezrt_athos_conv_transpose3d(s, 1, 1, 2, 2, 1, 1, 2, 2, 1, 1, 3, 4, 0, 0, 1, 1, 1,
                                         1, 1, 1, 2, a, 4, b, 4, c, 12), "conv transpose 3d");
    reveal(r, s, R_CT3D, c, 12);
    run_onesided(r, s, b);
}

static void run_ops(role_run *r, ezrt_session *s)
{
    uint64_t x[N], y[N];
    input_both(r, s, XS, YS, x, y, N);
    run_scalar_ops(r, s, x, y);
    run_elementwise(r, s, x, y);
    run_tensor_ops(r, s);
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

static void check_scalars(const uint64_t res[SLOTS][MAXOUT])
{
    for (size_t i = 0; i < N; i++) {
        uint32_t a = (uint32_t)XS[i], b = (uint32_t)YS[i];
        expect(res[R_MUL][i] == (uint32_t)(a * b), "mul");
        expect(res[R_LT][i] == (a < b), "lt");
        expect(res[R_LTS][i] == ((int32_t)a < (int32_t)b), "lt signed");
        expect(res[R_AND][i] == (a & b), "and");
        expect(res[R_XOR][i] == (a ^ b), "xor");
        expect(res[R_OR][i] == (a | b), "or");
        expect(res[R_SHR][i] == (uint32_t)((int32_t)a >> 5), "shr");
        expect(res[R_SHRL][i] == a >> 5, "shr logical");
        expect(res[R_SHRL_WIDE][i] == 0, "shr logical by the width");
        expect(res[R_DIV][i] == (b ? a / b : 0xffffffffu), "div");
        expect(res[R_REM][i] == (b ? a % b : a), "rem");
        expect(res[R_DIVS][i] == sdiv(a, b, 0), "div signed");
        expect(res[R_REMS][i] == sdiv(a, b, 1), "rem signed");
        expect(res[R_RELU][i] == ((int32_t)a > 0 ? (uint32_t)((int32_t)a >> 3) : 0), "relu");
        expect(res[R_RELU0][i] == ((int32_t)a > 0 ? a : 0), "relu rescale by 0");
        expect(res[R_EMUL][i] == (uint32_t)(a * b), "elemwise mult");
        expect(res[R_PDIV][i] == sdiv(a, 7, 0), "public div");
        expect(res[R_FLOOR][i] == (a & ~0xfu), "floor");
        expect(res[R_UP][i] == (uint32_t)(a << 3), "scale up");
        expect(res[R_DOWN][i] == (uint32_t)((int32_t)a >> 2), "scale down");
    }
    for (size_t i = 0; i < N; i++)
        expect(res[R_BITS][i] == ((XS[0] >> i) & 1), "bits");
    expect(res[R_ARGMAX][0] == 2, "argmax");
}

static void check_matmul(const uint64_t *res, size_t ni, size_t nj, size_t nk, const char *what)
{
    for (size_t i = 0; i < ni; i++)
        for (size_t k = 0; k < nk; k++) {
            uint32_t sum = 0;
            for (size_t j = 0; j < nj; j++)
                sum += (uint32_t)TS[i * nj + j] * (uint32_t)TC[j * nk + k];
            expect(res[i * nk + k] == sum, what);
        }
}

/* Max and floored mean of the 2 x 2 windows, stride 2, of the 3 x 3 image TS padded with a
 * zero row and column. */
static void check_pools(const uint64_t *max, const uint64_t *avg)
{
    for (int y = 0; y < 2; y++)
        for (int x = 0; x < 2; x++) {
            int32_t best = INT32_MIN, sum = 0;
            for (int ky = 0; ky < 2; ky++)
                for (int kx = 0; kx < 2; kx++) {
                    int iy = 2 * y + ky, ix = 2 * x + kx;
                    int32_t v = iy < 3 && ix < 3 ? TS[iy * 3 + ix] : 0;
                    best = v > best ? v : best;
                    sum += v;
                }
            int32_t floor = sum / 4 - (sum % 4 < 0);
            expect(max[y * 2 + x] == (uint32_t)best, "maxpool");
            expect(avg[y * 2 + x] == (uint32_t)floor, "avgpool");
        }
}

/* A convolution in the terms of docs/athos.md: input [1][size][ci], filter [kern][ci / g][co],
 * three spatial axes. */
typedef struct {
    int size[3], kern[3], pad[3], stride[3], out[3], ci, co, g;
} conv_ref;

static void check_conv(const conv_ref *c, const uint64_t *res, const char *what)
{
    int cig = c->ci / c->g, cog = c->co / c->g, at = 0;
    for (int o0 = 0; o0 < c->out[0]; o0++)
        for (int o1 = 0; o1 < c->out[1]; o1++)
            for (int o2 = 0; o2 < c->out[2]; o2++)
                for (int co = 0; co < c->co; co++) {
                    uint32_t sum = 0;
                    for (int f = 0; f < c->kern[0] * c->kern[1] * c->kern[2]; f++) {
                        int f2 = f % c->kern[2], f1 = f / c->kern[2] % c->kern[1];
                        int f0 = f / (c->kern[2] * c->kern[1]);
                        int i0 = o0 * c->stride[0] + f0 - c->pad[0];
                        int i1 = o1 * c->stride[1] + f1 - c->pad[1];
                        int i2 = o2 * c->stride[2] + f2 - c->pad[2];
                        if (i0 < 0 || i0 >= c->size[0] || i1 < 0 || i1 >= c->size[1] || i2 < 0 ||
                            i2 >= c->size[2])
                            continue;
                        int pos = (i0 * c->size[1] + i1) * c->size[2] + i2;
                        for (int ch = 0; ch < cig; ch++)
                            sum += (uint32_t)TS[pos * c->ci + co / cog * cig + ch] *
                                   (uint32_t)TC[(f * cig + ch) * c->co + co];
                    }
                    expect(res[at++] == sum, what);
                }
}

/* A transposed convolution as a scatter: input position i and filter position f reach output
 * i * stride + f - (kern - 1 - pad), with the filter [kern][co][ci] (docs/athos.md). */
static void check_transposed(const conv_ref *c, const uint64_t *res, const char *what)
{
    uint32_t out[MAXOUT] = {0};
    int nin = c->size[0] * c->size[1] * c->size[2], nk = c->kern[0] * c->kern[1] * c->kern[2];
    for (int i = 0; i < nin; i++)
        for (int f = 0; f < nk; f++) {
            int in_at[3] = {i / (c->size[2] * c->size[1]), i / c->size[2] % c->size[1],
                            i % c->size[2]};
            int f_at[3] = {f / (c->kern[2] * c->kern[1]), f / c->kern[2] % c->kern[1],
                           f % c->kern[2]};
            int o[3], inside = 1;
            for (int a = 0; a < 3; a++) {
                o[a] = in_at[a] * c->stride[a] + f_at[a] - (c->kern[a] - 1 - c->pad[a]);
                inside &= o[a] >= 0 && o[a] < c->out[a];
            }
            if (!inside)
                continue;
            int pos = (o[0] * c->out[1] + o[1]) * c->out[2] + o[2];
            for (int co = 0; co < c->co; co++)
                for (int ci = 0; ci < c->ci; ci++)
                    out[pos * c->co + co] += (uint32_t)TS[i * c->ci + ci] *
                                             (uint32_t)TC[(f * c->co + co) * c->ci + ci];
        }
    for (int e = 0; e < c->out[0] * c->out[1] * c->out[2] * c->co; e++)
        expect(res[e] == out[e], what);
}

/* The shapes run_tensor_ops uses. */
static void check_tensors(const uint64_t res[SLOTS][MAXOUT])
{
    static const conv_ref conv2d = {{1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, {1, 3, 3}, 2, 2,
                                    1};
    static const conv_ref group = {{1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}, {1, 3, 3}, 2, 2,
                                   2};
    static const conv_ref conv3d = {{2, 2, 2}, {2, 2, 2}, {1, 0, 1}, {1, 1, 2}, {2, 1, 2}, 1, 2,
                                    1};
    static const conv_ref ct2d = {{1, 2, 2}, {1, 2, 2}, {0, 1, 1}, {1, 2, 2}, {1, 4, 4}, 2, 2,
                                  1};
    static const conv_ref ct3d = {{1, 2, 2}, {1, 2, 2}, {0, 1, 1}, {1, 1, 2}, {1, 3, 4}, 1, 1,
                                  1};
    check_matmul(res[R_MATMUL], 2, 3, 2, "matmul");
    check_matmul(res[R_MATMUL2D], 3, 2, 3, "MatMul2D");
    check_matmul(res[R_MANY0], 2, 3, 2, "matmul many (first)");
    check_matmul(res[R_MANY1], 3, 2, 3, "matmul many (second)");
    check_pools(res[R_MAXPOOL], res[R_AVGPOOL]);
    check_conv(&conv2d, res[R_CONV2D], "conv2d");
    check_conv(&group, res[R_GROUP], "conv2d group");
    check_conv(&conv3d, res[R_CONV3D], "conv3d");
    check_transposed(&ct2d, res[R_CT2D], "conv transpose 2d");
    check_transposed(&ct3d, res[R_CT3D], "conv transpose 3d");
    check_matmul(res[R_ONE0], 2, 3, 2, "onesided left");
    check_matmul(res[R_ONE1], 2, 3, 2, "onesided left, refilled");
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < 2; k++) {
            uint32_t sum = 0;
            for (size_t j = 0; j < 3; j++)
                sum += (uint32_t)TC[i * 3 + j] * (uint32_t)TS[j * 2 + k];
            expect(res[R_ONE2][i * 2 + k] == sum, "onesided right");
        }
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
    check_scalars(r[0].result);
    check_tensors(r[0].result);
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
