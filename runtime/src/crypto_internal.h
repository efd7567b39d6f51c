/* Helpers shared by prg.c, ring.c and dcf.c (internal; not part of the ABI): AES-128 with
 * AES-NI, constant-time selection, and wiping. Everything here is constant time: AES-NI has
 * no table lookups and the code no branches on key or data. */
#ifndef EZRT_CRYPTO_INTERNAL_H
#define EZRT_CRYPTO_INTERNAL_H

#include <immintrin.h>
#include <stdint.h>
#include <string.h>

#define EZRT_AES_ROUNDS 10

typedef struct {
    __m128i rk[EZRT_AES_ROUNDS + 1];
} ezrt_aes_key;

static inline __m128i ezrt_aes_expand_step(__m128i key, __m128i assist)
{
    assist = _mm_shuffle_epi32(assist, 0xff);
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    key = _mm_xor_si128(key, _mm_slli_si128(key, 4));
    return _mm_xor_si128(key, assist);
}

/* aeskeygenassist takes its round constant as an immediate, hence a macro per round. */
#define EZRT_AES_EXPAND(k, i, rcon) \
    (k)->rk[i] = ezrt_aes_expand_step((k)->rk[(i) - 1], \
                                      _mm_aeskeygenassist_si128((k)->rk[(i) - 1], rcon))

/* FIPS-197 §5.2 key expansion. */
static inline void ezrt_aes_expand(ezrt_aes_key *k, __m128i key)
{
    k->rk[0] = key;
    EZRT_AES_EXPAND(k, 1, 0x01);
    EZRT_AES_EXPAND(k, 2, 0x02);
    EZRT_AES_EXPAND(k, 3, 0x04);
    EZRT_AES_EXPAND(k, 4, 0x08);
    EZRT_AES_EXPAND(k, 5, 0x10);
    EZRT_AES_EXPAND(k, 6, 0x20);
    EZRT_AES_EXPAND(k, 7, 0x40);
    EZRT_AES_EXPAND(k, 8, 0x80);
    EZRT_AES_EXPAND(k, 9, 0x1b);
    EZRT_AES_EXPAND(k, 10, 0x36);
}

static inline __m128i ezrt_aes_encrypt(const ezrt_aes_key *k, __m128i block)
{
    block = _mm_xor_si128(block, k->rk[0]);
    for (int r = 1; r < EZRT_AES_ROUNDS; r++)
        block = _mm_aesenc_si128(block, k->rk[r]);
    return _mm_aesenclast_si128(block, k->rk[EZRT_AES_ROUNDS]);
}

/* Counter block i of the PRG: the 128-bit big-endian integer i (high 64 bits zero), the
 * layout AES-CTR uses, so the stream can be checked against any AES-CTR implementation. */
static inline __m128i ezrt_aes_counter_block(uint64_t i)
{
    return _mm_set_epi64x((long long)__builtin_bswap64(i), 0);
}

static inline __m128i ezrt_load128(const uint8_t *p)
{
    return _mm_loadu_si128((const __m128i *)(const void *)p);
}

static inline void ezrt_store128(uint8_t *p, __m128i v)
{
    _mm_storeu_si128((__m128i *)(void *)p, v);
}

/* All ones if bit (0 or 1) is 1, else zero: turns a secret bit into a select mask. */
static inline uint64_t ezrt_mask64(uint64_t bit)
{
    return (uint64_t)0 - bit;
}

static inline __m128i ezrt_mask128(uint64_t bit)
{
    return _mm_set1_epi64x((long long)ezrt_mask64(bit));
}

/* bit ? b : a without a branch. */
static inline __m128i ezrt_select128(uint64_t bit, __m128i a, __m128i b)
{
    __m128i m = ezrt_mask128(bit);
    return _mm_or_si128(_mm_andnot_si128(m, a), _mm_and_si128(m, b));
}

static inline uint64_t ezrt_select64(uint64_t bit, uint64_t a, uint64_t b)
{
    uint64_t m = ezrt_mask64(bit);
    return (a & ~m) | (b & m);
}

/* bit ? -v : v mod 2^64 without a branch: (-1)^bit * v. */
static inline uint64_t ezrt_cond_neg(uint64_t bit, uint64_t v)
{
    return (v ^ ezrt_mask64(bit)) + bit;
}

/* Marks n bytes at p, derived from secrets, as public for valgrind's memcheck when the library
 * is built for tests/runtime/ct_driver.c (-DEZRT_CTGRIND), and does nothing otherwise. Used only
 * where the protocol makes the value public, e.g. a validity result the caller learns anyway. */
#ifdef EZRT_CTGRIND
#include <valgrind/memcheck.h>
#define ezrt_declassify(p, n) ((void)VALGRIND_MAKE_MEM_DEFINED((p), (n)))
#else
#define ezrt_declassify(p, n) ((void)(p), (void)(n))
#endif

/* memset that the compiler may not drop, for seeds and key schedules about to go out of
 * scope. */
static inline void ezrt_wipe(void *p, size_t n)
{
    memset(p, 0, n);
    __asm__ __volatile__("" : : "r"(p) : "memory");
}

#endif /* EZRT_CRYPTO_INTERNAL_H */
