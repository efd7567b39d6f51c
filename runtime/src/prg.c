/* Randomness for the dealer and the parties: OS CSPRNG seeds expanded by AES-128 in counter
 * mode (AES-NI). Seeds come only from getrandom(2); expansion is deterministic so a party can
 * regenerate from a 16-byte seed what the dealer would otherwise have to send. */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/random.h>

#include "crypto_internal.h"
#include "ezrt.h"

ezrt_status ezrt_random_bytes(uint8_t *buf, size_t n)
{
    size_t done = 0;
    while (done < n) {
        ssize_t got = getrandom(buf + done, n - done, 0);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            return EZRT_ERANDOM;
        done += (size_t)got;
    }
    return EZRT_OK;
}

/* The compiler's CPU model (cpuid leaf 1, read once by libgcc when the library loads) rather
 * than cpuid itself: cpuid traps to the hypervisor in a VM and costs microseconds per call,
 * while this runs on every DCF batch. */
ezrt_status ezrt_cpu_check(void)
{
    if (!__builtin_cpu_supports("aes") || !__builtin_cpu_supports("sse4.1"))
        return EZRT_ENOCPU;
    return EZRT_OK;
}

ezrt_status ezrt_aes128_encrypt(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t len)
{
    if (len % 16 != 0)
        return EZRT_ELENGTH;
    ezrt_status st = ezrt_cpu_check();
    if (st != EZRT_OK)
        return st;
    ezrt_aes_key k;
    ezrt_aes_expand(&k, ezrt_load128(key));
    for (size_t off = 0; off < len; off += 16)
        ezrt_store128(out + off, ezrt_aes_encrypt(&k, ezrt_load128(in + off)));
    return EZRT_OK;
}

size_t ezrt_prg_size(void)
{
    return sizeof(ezrt_prg);
}

static void prg_load_key(const ezrt_prg *prg, ezrt_aes_key *k)
{
    for (int r = 0; r <= EZRT_AES_ROUNDS; r++)
        k->rk[r] = ezrt_load128(prg->round_keys + 16 * r);
}

ezrt_status ezrt_prg_init(ezrt_prg *prg, const uint8_t seed[16])
{
    ezrt_status st = ezrt_cpu_check();
    if (st != EZRT_OK)
        return st;
    ezrt_aes_key k;
    ezrt_aes_expand(&k, ezrt_load128(seed));
    for (int r = 0; r <= EZRT_AES_ROUNDS; r++)
        ezrt_store128(prg->round_keys + 16 * r, k.rk[r]);
    memset(prg->block, 0, sizeof prg->block);
    prg->counter = 0;
    prg->used = sizeof prg->block;
    prg->magic = EZRT_PRG_MAGIC;
    return EZRT_OK;
}

ezrt_status ezrt_prg_fresh(ezrt_prg *prg)
{
    uint8_t seed[16];
    ezrt_status st = ezrt_random_bytes(seed, sizeof seed);
    if (st == EZRT_OK)
        st = ezrt_prg_init(prg, seed);
    ezrt_wipe(seed, sizeof seed);
    return st;
}

void ezrt_prg_wipe(ezrt_prg *prg)
{
    ezrt_wipe(prg, sizeof *prg);
}

/* Whole blocks straight into out, four at a time so the AES units stay busy. */
static void prg_blocks(ezrt_prg *prg, const ezrt_aes_key *k, uint8_t *out, size_t blocks)
{
    size_t b = 0;
    for (; b + 4 <= blocks; b += 4) {
        __m128i c[4];
        for (int j = 0; j < 4; j++)
            c[j] = _mm_xor_si128(ezrt_aes_counter_block(prg->counter + (uint64_t)j), k->rk[0]);
        for (int r = 1; r < EZRT_AES_ROUNDS; r++)
            for (int j = 0; j < 4; j++)
                c[j] = _mm_aesenc_si128(c[j], k->rk[r]);
        for (int j = 0; j < 4; j++)
            ezrt_store128(out + 16 * (b + (size_t)j),
                          _mm_aesenclast_si128(c[j], k->rk[EZRT_AES_ROUNDS]));
        prg->counter += 4;
    }
    for (; b < blocks; b++)
        ezrt_store128(out + 16 * b, ezrt_aes_encrypt(k, ezrt_aes_counter_block(prg->counter++)));
}

static size_t prg_take_buffered(ezrt_prg *prg, uint8_t *out, size_t n)
{
    size_t avail = sizeof prg->block - prg->used;
    size_t take = n < avail ? n : avail;
    memcpy(out, prg->block + prg->used, take);
    prg->used += (uint32_t)take;
    return take;
}

ezrt_status ezrt_prg_bytes(ezrt_prg *prg, uint8_t *out, size_t n)
{
    if (prg->magic != EZRT_PRG_MAGIC)
        return EZRT_EUNINIT;
    size_t done = prg_take_buffered(prg, out, n);
    if (done == n)
        return EZRT_OK;
    ezrt_aes_key k;
    prg_load_key(prg, &k);
    size_t whole = (n - done) / 16;
    prg_blocks(prg, &k, out + done, whole);
    done += 16 * whole;
    if (done < n) {
        prg_blocks(prg, &k, prg->block, 1);
        prg->used = 0;
        prg_take_buffered(prg, out + done, n - done);
    }
    return EZRT_OK;
}

ezrt_status ezrt_prg_u64s(ezrt_prg *prg, uint64_t *out, size_t n, unsigned bits)
{
    uint64_t mask = ezrt_ring_mask(bits);
    if (mask == 0)
        return EZRT_EINVAL;
    if (n > SIZE_MAX / sizeof *out)
        return EZRT_ELENGTH;
    ezrt_status st = ezrt_prg_bytes(prg, (uint8_t *)out, n * sizeof *out);
    if (st != EZRT_OK)
        return st;
    /* x86-64 is little-endian, so the bytes already read as the documented values. */
    for (size_t i = 0; i < n; i++)
        out[i] &= mask;
    return EZRT_OK;
}
