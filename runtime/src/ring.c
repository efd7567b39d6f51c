/* Arithmetic in Z_2^n (n <= 64) and the bit-packed wire format. Shares and masked wires are
 * ring elements; linear gates are these loops, and packing makes every value cost exactly n
 * bits on the wire instead of a whole uint64_t. */
#include <string.h>

#include "ezrt.h"

/* 64-bit values packed at 64 bits are their own little-endian bytes on such a host. */
#define LITTLE_ENDIAN_HOST (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

uint64_t ezrt_ring_mask(unsigned bits)
{
    if (bits == 0 || bits > 64)
        return 0;
    return UINT64_MAX >> (64 - bits);
}

static ezrt_status ring_check(unsigned bits, size_t out_len, size_t a_len, size_t b_len)
{
    if (ezrt_ring_mask(bits) == 0)
        return EZRT_EINVAL;
    if (a_len != out_len || b_len != out_len)
        return EZRT_ELENGTH;
    return EZRT_OK;
}

ezrt_status ezrt_ring_add(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len)
{
    ezrt_status st = ring_check(bits, out_len, a_len, b_len);
    if (st != EZRT_OK)
        return st;
    uint64_t mask = ezrt_ring_mask(bits);
    for (size_t i = 0; i < out_len; i++)
        out[i] = (a[i] + b[i]) & mask;
    return EZRT_OK;
}

ezrt_status ezrt_ring_sub(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len)
{
    ezrt_status st = ring_check(bits, out_len, a_len, b_len);
    if (st != EZRT_OK)
        return st;
    uint64_t mask = ezrt_ring_mask(bits);
    for (size_t i = 0; i < out_len; i++)
        out[i] = (a[i] - b[i]) & mask;
    return EZRT_OK;
}

ezrt_status ezrt_ring_mul(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len)
{
    ezrt_status st = ring_check(bits, out_len, a_len, b_len);
    if (st != EZRT_OK)
        return st;
    uint64_t mask = ezrt_ring_mask(bits);
    for (size_t i = 0; i < out_len; i++)
        out[i] = (a[i] * b[i]) & mask;
    return EZRT_OK;
}

ezrt_status ezrt_ring_neg(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len)
{
    ezrt_status st = ring_check(bits, out_len, a_len, out_len);
    if (st != EZRT_OK)
        return st;
    uint64_t mask = ezrt_ring_mask(bits);
    for (size_t i = 0; i < out_len; i++)
        out[i] = (0 - a[i]) & mask;
    return EZRT_OK;
}

size_t ezrt_packed_size(size_t count, unsigned bits)
{
    if (ezrt_ring_mask(bits) == 0)
        return 0;
    /* count * bits / 8 rounded up, without forming count * bits, which may overflow. */
    size_t whole = count / 8 * bits;
    size_t rest = (count % 8 * bits + 7) / 8;
    if (count / 8 > SIZE_MAX / bits || whole > SIZE_MAX - rest)
        return SIZE_MAX;
    return whole + rest;
}

static void store64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

ezrt_status ezrt_pack(const uint64_t *vals, size_t count, unsigned bits, uint8_t *out,
                      size_t out_len)
{
    uint64_t mask = ezrt_ring_mask(bits);
    if (mask == 0)
        return EZRT_EINVAL;
    size_t size = ezrt_packed_size(count, bits);
    if (size == SIZE_MAX || out_len < size)
        return EZRT_ELENGTH;
    uint64_t excess = 0;
    for (size_t i = 0; i < count; i++)
        excess |= vals[i] & ~mask;
    if (excess != 0)
        return EZRT_EINVAL;
    if (bits == 64 && LITTLE_ENDIAN_HOST) { /* the wire format is the values' memory layout */
        memcpy(out, vals, size);
        return EZRT_OK;
    }
    /* acc holds `have` pending bits (< 64 between values), flushed 64 at a time. */
    unsigned __int128 acc = 0;
    unsigned have = 0;
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        acc |= (unsigned __int128)vals[i] << have;
        have += bits;
        if (have >= 64) {
            store64le(out + pos, (uint64_t)acc);
            pos += 8;
            acc >>= 64;
            have -= 64;
        }
    }
    for (; pos < size; pos++, acc >>= 8)
        out[pos] = (uint8_t)acc;
    return EZRT_OK;
}

static uint64_t load64le(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

ezrt_status ezrt_unpack(const uint8_t *in, size_t in_len, unsigned bits, uint64_t *vals,
                        size_t count)
{
    uint64_t mask = ezrt_ring_mask(bits);
    if (mask == 0)
        return EZRT_EINVAL;
    size_t size = ezrt_packed_size(count, bits);
    if (size == SIZE_MAX || in_len < size)
        return EZRT_ELENGTH;
    if (bits == 64 && LITTLE_ENDIAN_HOST) {
        memcpy(vals, in, size);
        return EZRT_OK;
    }
    /* acc holds `have` unread bits; refilled 64 bits at a time while whole words remain, then
     * byte by byte, so nothing past the packed size is read. */
    unsigned __int128 acc = 0;
    unsigned have = 0;
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        if (have < bits && pos + 8 <= size) {
            acc |= (unsigned __int128)load64le(in + pos) << have;
            pos += 8;
            have += 64;
        }
        for (; have < bits; pos++, have += 8)
            acc |= (unsigned __int128)in[pos] << have;
        vals[i] = (uint64_t)acc & mask;
        acc >>= bits;
        have -= bits;
    }
    return EZRT_OK;
}
