/* Distributed comparison functions: the FSS gate behind comparisons, ReLU and truncation in
 * the LLAMA-style protocol (one online round each). Construction: Boyle, Chandran, Gilboa,
 * Gupta, Ishai, Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and Fixed-Point Secure
 * Computation", Eurocrypt 2021, Fig. 3, in the paper's notation (s, t, v, V_alpha, s_CW, V_CW,
 * t_CW^L, t_CW^R, Keep/Lose). Group G = Z_2^m, Convert_G(r) = r mod 2^m; all group arithmetic
 * runs mod 2^64 and is reduced when stored, which is the same because reduction is a ring
 * homomorphism. Several keys go through the tree together (lanes) so that the AES rounds of
 * independent keys overlap in the pipeline. Nothing branches on or indexes by alpha, beta, x,
 * seeds or key bytes: the Keep/Lose and x_i choices are mask selects. */
#include "crypto_internal.h"
#include "dcf_internal.h"
#include "ezrt.h"

#define SEED_BYTES 16
#define EVAL_LANES 8
#define GEN_LANES 8
#define EXPAND_LANES (2 * GEN_LANES)

/* G(s) = s^L || v^L || t^L || s^R || v^R || t^R, from the first 4 blocks of AES-CTR under s:
 * block 0 = s^L, block 1 = s^R, block 2 = v^L (low 8 bytes) || v^R (high 8 bytes), and the
 * low bits of bytes 0 and 1 of block 3 are t^L and t^R. Index 0 is L, 1 is R. */
typedef struct {
    __m128i s[2];
    uint64_t v[2];
    uint64_t t[2];
} expansion;

#define EXPAND_ROUND(i, rcon)                                                              \
    for (size_t l = 0; l < lanes; l++)                                                    \
    k[l].rk[i] = ezrt_aes_expand_step(k[l].rk[(i) - 1],                                   \
                                      _mm_aeskeygenassist_si128(k[l].rk[(i) - 1], rcon))

/* Key schedules of all lanes, round by round so the lanes' dependency chains interleave. */
static void expand_keys(ezrt_aes_key *k, const __m128i *seeds, size_t lanes)
{
    for (size_t l = 0; l < lanes; l++)
        k[l].rk[0] = seeds[l];
    EXPAND_ROUND(1, 0x01);
    EXPAND_ROUND(2, 0x02);
    EXPAND_ROUND(3, 0x04);
    EXPAND_ROUND(4, 0x08);
    EXPAND_ROUND(5, 0x10);
    EXPAND_ROUND(6, 0x20);
    EXPAND_ROUND(7, 0x40);
    EXPAND_ROUND(8, 0x80);
    EXPAND_ROUND(9, 0x1b);
    EXPAND_ROUND(10, 0x36);
}

/* Working memory of prg_expand, owned by the caller so that it is wiped once per batch rather
 * than once per tree level: it holds key schedules of secret seeds. */
typedef struct {
    ezrt_aes_key k[EXPAND_LANES];
    __m128i c[EXPAND_LANES][4];
} expand_scratch;

/* G on lanes seeds at once (lanes <= EXPAND_LANES): 1 key schedule + 4 AES blocks each. */
static void prg_expand(expand_scratch *w, const __m128i *seeds, expansion *out, size_t lanes)
{
    ezrt_aes_key *k = w->k;
    __m128i(*c)[4] = w->c;
    expand_keys(k, seeds, lanes);
    for (size_t l = 0; l < lanes; l++)
        for (int j = 0; j < 4; j++)
            c[l][j] = _mm_xor_si128(ezrt_aes_counter_block((uint64_t)j), k[l].rk[0]);
    for (int r = 1; r < EZRT_AES_ROUNDS; r++)
        for (size_t l = 0; l < lanes; l++)
            for (int j = 0; j < 4; j++)
                c[l][j] = _mm_aesenc_si128(c[l][j], k[l].rk[r]);
    for (size_t l = 0; l < lanes; l++) {
        for (int j = 0; j < 4; j++)
            c[l][j] = _mm_aesenclast_si128(c[l][j], k[l].rk[EZRT_AES_ROUNDS]);
        uint64_t tbits = (uint64_t)_mm_cvtsi128_si64(c[l][3]);
        out[l].s[0] = c[l][0];
        out[l].s[1] = c[l][1];
        out[l].v[0] = (uint64_t)_mm_cvtsi128_si64(c[l][2]);
        out[l].v[1] = (uint64_t)_mm_extract_epi64(c[l][2], 1);
        out[l].t[0] = tbits & 1;
        out[l].t[1] = (tbits >> 8) & 1;
    }
}

static size_t value_bytes(unsigned m_out)
{
    return (m_out + 7) / 8;
}

static size_t level_bytes(unsigned m_out)
{
    return SEED_BYTES + 1 + value_bytes(m_out);
}

size_t ezrt_dcf_key_size(unsigned n_in, unsigned m_out)
{
    if (ezrt_ring_mask(n_in) == 0 || ezrt_ring_mask(m_out) == 0)
        return 0;
    return SEED_BYTES + n_in * level_bytes(m_out) + value_bytes(m_out);
}

/* Stores v mod 2^m_out in vb bytes, so the padding bits of a key are always zero. */
static void store_value(uint8_t *p, uint64_t v, unsigned m_out)
{
    v &= ezrt_ring_mask(m_out);
    for (size_t i = 0; i < value_bytes(m_out); i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t load_value(const uint8_t *p, unsigned m_out)
{
    uint64_t v = 0;
    for (size_t i = 0; i < value_bytes(m_out); i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

/* Bit i (1-based, MSB first, as alpha_i / x_i in the paper) of an n_in-bit value. */
static uint64_t input_bit(uint64_t v, unsigned n_in, unsigned i)
{
    return (v >> (n_in - i)) & 1;
}

/* One party's state along its path: s_b^(i), t_b^(i). */
typedef struct {
    __m128i s;
    uint64_t t;
} node;

/* Gen, lines 5-14 of Fig. 3, for one key at level i: writes CW^(i) to cw (of both keys) and
 * advances both parties' nodes and V_alpha. e[b] = G(s_b^(i-1)). */
static void gen_level(const expansion e[2], node nd[2], uint64_t *v_alpha, uint64_t a,
                      uint64_t beta, uint8_t *cw0, uint8_t *cw1, unsigned m_out)
{
    /* alpha_i = 0: Keep = L (index 0), Lose = R; alpha_i = 1: Keep = R, Lose = L. */
    __m128i s_lose[2], s_keep[2];
    uint64_t v_lose[2], v_keep[2], t_keep[2];
    for (int b = 0; b < 2; b++) {
        s_lose[b] = ezrt_select128(a, e[b].s[1], e[b].s[0]);
        s_keep[b] = ezrt_select128(a, e[b].s[0], e[b].s[1]);
        v_lose[b] = ezrt_select64(a, e[b].v[1], e[b].v[0]);
        v_keep[b] = ezrt_select64(a, e[b].v[0], e[b].v[1]);
        t_keep[b] = ezrt_select64(a, e[b].t[0], e[b].t[1]);
    }
    uint64_t t1 = nd[1].t;
    __m128i s_cw = _mm_xor_si128(s_lose[0], s_lose[1]);
    /* Lines 8-9: the beta term is added only when Lose = L, i.e. alpha_i = 1. */
    uint64_t v_cw = ezrt_cond_neg(t1, v_lose[1] - v_lose[0] - *v_alpha + (ezrt_mask64(a) & beta));
    *v_alpha = *v_alpha - v_keep[1] + v_keep[0] + ezrt_cond_neg(t1, v_cw);
    uint64_t t_cw_l = e[0].t[0] ^ e[1].t[0] ^ a ^ 1;
    uint64_t t_cw_r = e[0].t[1] ^ e[1].t[1] ^ a;
    uint64_t t_cw_keep = ezrt_select64(a, t_cw_l, t_cw_r);
    for (int b = 0; b < 2; b++) {
        nd[b].s = _mm_xor_si128(s_keep[b], _mm_and_si128(s_cw, ezrt_mask128(nd[b].t)));
        nd[b].t = t_keep[b] ^ (nd[b].t & t_cw_keep);
    }
    uint8_t *cws[2] = {cw0, cw1};
    for (int b = 0; b < 2; b++) {
        ezrt_store128(cws[b], s_cw);
        cws[b][SEED_BYTES] = (uint8_t)(t_cw_l | (t_cw_r << 1));
        store_value(cws[b] + SEED_BYTES + 1, v_cw, m_out);
    }
}

/* Gen for lanes keys (<= GEN_LANES) from 32 seed bytes each. */
static void gen_lanes(expand_scratch *w, const uint8_t *seeds, unsigned n_in, unsigned m_out,
                      const uint64_t *alphas, const uint64_t *betas, uint8_t *keys0,
                      uint8_t *keys1, size_t key_size, size_t lanes)
{
    node nd[GEN_LANES][2];
    uint64_t v_alpha[GEN_LANES];
    __m128i s[EXPAND_LANES];
    expansion e[EXPAND_LANES];
    for (size_t l = 0; l < lanes; l++) {
        for (int b = 0; b < 2; b++) {
            nd[l][b].s = ezrt_load128(seeds + 2 * SEED_BYTES * l + SEED_BYTES * (size_t)b);
            nd[l][b].t = (uint64_t)b;
        }
        ezrt_store128(keys0 + l * key_size, nd[l][0].s);
        ezrt_store128(keys1 + l * key_size, nd[l][1].s);
        v_alpha[l] = 0;
    }
    for (unsigned i = 1; i <= n_in; i++) {
        size_t off = SEED_BYTES + (i - 1) * level_bytes(m_out);
        for (size_t l = 0; l < lanes; l++) {
            s[2 * l] = nd[l][0].s;
            s[2 * l + 1] = nd[l][1].s;
        }
        prg_expand(w, s, e, 2 * lanes);
        for (size_t l = 0; l < lanes; l++)
            gen_level(&e[2 * l], nd[l], &v_alpha[l], input_bit(alphas[l], n_in, i), betas[l],
                      keys0 + l * key_size + off, keys1 + l * key_size + off, m_out);
    }
    size_t last = SEED_BYTES + n_in * level_bytes(m_out);
    for (size_t l = 0; l < lanes; l++) {
        /* Line 16: CW^(n+1) = (-1)^{t_1} [Convert(s_1) - Convert(s_0) - V_alpha]. */
        uint64_t s0 = (uint64_t)_mm_cvtsi128_si64(nd[l][0].s);
        uint64_t s1 = (uint64_t)_mm_cvtsi128_si64(nd[l][1].s);
        uint64_t cw = ezrt_cond_neg(nd[l][1].t, s1 - s0 - v_alpha[l]);
        store_value(keys0 + l * key_size + last, cw, m_out);
        store_value(keys1 + l * key_size + last, cw, m_out);
    }
    ezrt_wipe(nd, sizeof nd);
    ezrt_wipe(s, sizeof s);
    ezrt_wipe(e, sizeof e);
}

/* The checks shared by gen and eval batches: parameters, and count keys in keys_len bytes. */
static ezrt_status check_keys(unsigned n_in, unsigned m_out, size_t count, size_t keys_len)
{
    size_t key_size = ezrt_dcf_key_size(n_in, m_out);
    if (key_size == 0)
        return EZRT_EINVAL;
    if (count > SIZE_MAX / key_size || keys_len != count * key_size)
        return EZRT_ELENGTH;
    return ezrt_cpu_check();
}

/* Branch-free over the values: nonzero iff some vals[j] >= 2^bits. */
static uint64_t out_of_range(const uint64_t *vals, size_t count, unsigned bits)
{
    uint64_t excess = 0;
    uint64_t mask = ezrt_ring_mask(bits);
    for (size_t j = 0; j < count; j++)
        excess |= vals[j] & ~mask;
    return excess;
}

/* Whether some alpha >= 2^n_in or beta >= 2^m_out. Computed without a branch on the secrets;
 * only the one-bit answer is declassified: an out-of-range value is an argument error that the
 * caller learns from the status anyway (valgrind's memcheck flagged this branch otherwise). */
static int invalid_alphas_betas(const uint64_t *alphas, const uint64_t *betas, size_t count,
                                unsigned n_in, unsigned m_out)
{
    uint64_t excess = out_of_range(alphas, count, n_in) | out_of_range(betas, count, m_out);
    int invalid = excess != 0;
    ezrt_declassify(&invalid, sizeof invalid);
    return invalid;
}

ezrt_status ezrt_dcf_gen_batch(ezrt_prg *rng, unsigned n_in, unsigned m_out,
                               const uint64_t *alphas, const uint64_t *betas, size_t count,
                               uint8_t *keys0, size_t keys0_len, uint8_t *keys1,
                               size_t keys1_len)
{
    ezrt_status st = check_keys(n_in, m_out, count, keys0_len);
    if (st == EZRT_OK)
        st = check_keys(n_in, m_out, count, keys1_len);
    if (st != EZRT_OK)
        return st;
    if (invalid_alphas_betas(alphas, betas, count, n_in, m_out))
        return EZRT_EINVAL;
    size_t key_size = ezrt_dcf_key_size(n_in, m_out);
    uint8_t seeds[2 * SEED_BYTES * GEN_LANES];
    expand_scratch w;
    for (size_t j = 0; j < count && st == EZRT_OK; j += GEN_LANES) {
        size_t lanes = count - j < GEN_LANES ? count - j : GEN_LANES;
        st = ezrt_prg_bytes(rng, seeds, 2 * SEED_BYTES * lanes);
        if (st == EZRT_OK)
            gen_lanes(&w, seeds, n_in, m_out, alphas + j, betas + j, keys0 + j * key_size,
                      keys1 + j * key_size, key_size, lanes);
    }
    ezrt_wipe(seeds, sizeof seeds);
    ezrt_wipe(&w, sizeof w);
    return st;
}

ezrt_status ezrt_dcf_gen_roots(unsigned n_in, unsigned m_out, const uint64_t *alphas,
                               const uint64_t *betas, size_t count, const uint8_t *roots0,
                               const uint8_t *roots1, uint8_t *keys0, uint8_t *keys1,
                               size_t keys_len)
{
    ezrt_status st = check_keys(n_in, m_out, count, keys_len);
    if (st != EZRT_OK)
        return st;
    if (invalid_alphas_betas(alphas, betas, count, n_in, m_out))
        return EZRT_EINVAL;
    size_t key_size = ezrt_dcf_key_size(n_in, m_out);
    uint8_t seeds[2 * SEED_BYTES * GEN_LANES];
    expand_scratch w;
    for (size_t j = 0; j < count; j += GEN_LANES) {
        size_t lanes = count - j < GEN_LANES ? count - j : GEN_LANES;
        for (size_t l = 0; l < lanes; l++) {
            memcpy(seeds + 2 * SEED_BYTES * l, roots0 + SEED_BYTES * (j + l), SEED_BYTES);
            memcpy(seeds + 2 * SEED_BYTES * l + SEED_BYTES, roots1 + SEED_BYTES * (j + l),
                   SEED_BYTES);
        }
        gen_lanes(&w, seeds, n_in, m_out, alphas + j, betas + j, keys0 + j * key_size,
                  keys1 + j * key_size, key_size, lanes);
    }
    ezrt_wipe(seeds, sizeof seeds);
    ezrt_wipe(&w, sizeof w);
    return EZRT_OK;
}

ezrt_status ezrt_dcf_gen(ezrt_prg *rng, unsigned n_in, unsigned m_out, uint64_t alpha,
                         uint64_t beta, uint8_t *key0, size_t key0_len, uint8_t *key1,
                         size_t key1_len)
{
    return ezrt_dcf_gen_batch(rng, n_in, m_out, &alpha, &beta, 1, key0, key0_len, key1,
                              key1_len);
}

/* Eval, lines 4-6 of Fig. 3, for one key at level i: corrects tau = G(s^(i-1)) with CW^(i),
 * adds this level's share to V and follows x_i. */
static void eval_level(const expansion *e, node *nd, uint64_t *v, uint64_t party, uint64_t x_i,
                       const uint8_t *cw, unsigned m_out)
{
    __m128i s_cw = _mm_and_si128(ezrt_load128(cw), ezrt_mask128(nd->t));
    uint64_t t_cw_l = cw[SEED_BYTES] & 1;
    uint64_t t_cw_r = (cw[SEED_BYTES] >> 1) & 1;
    uint64_t v_cw = load_value(cw + SEED_BYTES + 1, m_out);
    __m128i s_l = _mm_xor_si128(e->s[0], s_cw);
    __m128i s_r = _mm_xor_si128(e->s[1], s_cw);
    uint64_t t_l = e->t[0] ^ (nd->t & t_cw_l);
    uint64_t t_r = e->t[1] ^ (nd->t & t_cw_r);
    uint64_t v_x = ezrt_select64(x_i, e->v[0], e->v[1]);
    *v += ezrt_cond_neg(party, v_x + (ezrt_mask64(nd->t) & v_cw));
    nd->s = ezrt_select128(x_i, s_l, s_r);
    nd->t = ezrt_select64(x_i, t_l, t_r);
}

/* Eval of lanes keys (<= EVAL_LANES) of one party. */
static void eval_lanes(expand_scratch *w, uint64_t party, const uint8_t *keys, size_t key_size,
                       unsigned n_in, unsigned m_out, const uint64_t *xs, uint64_t *outs,
                       size_t lanes)
{
    node nd[EVAL_LANES];
    uint64_t v[EVAL_LANES];
    __m128i s[EVAL_LANES];
    expansion e[EVAL_LANES];
    for (size_t l = 0; l < lanes; l++) {
        nd[l].s = ezrt_load128(keys + l * key_size);
        nd[l].t = party;
        v[l] = 0;
    }
    for (unsigned i = 1; i <= n_in; i++) {
        size_t off = SEED_BYTES + (i - 1) * level_bytes(m_out);
        for (size_t l = 0; l < lanes; l++)
            s[l] = nd[l].s;
        prg_expand(w, s, e, lanes);
        for (size_t l = 0; l < lanes; l++)
            eval_level(&e[l], &nd[l], &v[l], party, input_bit(xs[l], n_in, i),
                       keys + l * key_size + off, m_out);
    }
    size_t last = SEED_BYTES + n_in * level_bytes(m_out);
    for (size_t l = 0; l < lanes; l++) {
        /* Line 8: V += (-1)^b [Convert(s^(n)) + t^(n) CW^(n+1)]. */
        uint64_t cw = load_value(keys + l * key_size + last, m_out);
        uint64_t s_n = (uint64_t)_mm_cvtsi128_si64(nd[l].s);
        v[l] += ezrt_cond_neg(party, s_n + (ezrt_mask64(nd[l].t) & cw));
        outs[l] = v[l] & ezrt_ring_mask(m_out);
    }
    ezrt_wipe(nd, sizeof nd);
    ezrt_wipe(s, sizeof s);
    ezrt_wipe(e, sizeof e);
}

ezrt_status ezrt_dcf_eval_batch(int party, const uint8_t *keys, size_t keys_len,
                                unsigned n_in, unsigned m_out, const uint64_t *xs,
                                uint64_t *outs, size_t count)
{
    if (party != 0 && party != 1)
        return EZRT_EINVAL;
    ezrt_status st = check_keys(n_in, m_out, count, keys_len);
    if (st != EZRT_OK)
        return st;
    /* As invalid_alphas_betas: only whether some x is out of range becomes public. */
    int invalid = out_of_range(xs, count, n_in) != 0;
    ezrt_declassify(&invalid, sizeof invalid);
    if (invalid)
        return EZRT_EINVAL;
    size_t key_size = ezrt_dcf_key_size(n_in, m_out);
    expand_scratch w;
    for (size_t j = 0; j < count; j += EVAL_LANES) {
        size_t lanes = count - j < EVAL_LANES ? count - j : EVAL_LANES;
        eval_lanes(&w, (uint64_t)party, keys + j * key_size, key_size, n_in, m_out, xs + j,
                   outs + j, lanes);
    }
    ezrt_wipe(&w, sizeof w);
    return EZRT_OK;
}

ezrt_status ezrt_dcf_eval(int party, const uint8_t *key, size_t key_len, unsigned n_in,
                          unsigned m_out, uint64_t x, uint64_t *out)
{
    return ezrt_dcf_eval_batch(party, key, key_len, n_in, m_out, &x, out, 1);
}
