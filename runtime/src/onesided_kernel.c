/* Matrix-vector products for the one-sided protocol (proto_onesided.c), where a query's cost is
 * one pass over a model of millions of entries: 200 x 109,350 for the rs-fMRI MLP's first layer.
 * That pass is memory-bound, so SERVER keeps its model in the narrowest signed type that holds it
 * (int16 for weights at scale 12) and each dot product streams one row once.
 *
 * Products mod 2^64 of a narrow entry m and a ring element y use y = lo + 2^32 hi with lo signed
 * 32-bit: m y = m lo + 2^32 (m hi mod 2^32), two products that AVX2 has (vpmuldq, vpmulld),
 * unlike a 64 x 64 bit one. Rows go 4 at a time, so each load of Y serves 4 rows, and the inner
 * loop runs over blocks of a fixed length, which gcc -O2 vectorises (its cheap cost model leaves
 * loops of unknown length scalar); target_clones adds an AVX2 version chosen at load time. For
 * a batch (cols > 1) the columns of M go in chunks that stay in cache while every column of Y
 * uses them, and a large batch product splits its rows between two threads.
 * No branch or index depends on an entry's value, except the choice of the width. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "crypto_internal.h"
#include "onesided_internal.h"

/* Elements per fixed-length inner loop. */
#define BLOCK 32

#define CLONES __attribute__((target_clones("avx2", "default")))

/* The sign-extended value of a bits-bit ring element, as the two's complement uint64_t. */
static uint64_t sign_extend(uint64_t v, unsigned bits)
{
    uint64_t sign = (uint64_t)1 << (bits - 1);
    return ((v & ezrt_ring_mask(bits)) ^ sign) - sign;
}

/* 1 if v != 0, else 0, without a branch or a conditional move. */
static uint64_t nonzero(uint64_t v)
{
    return (v | ((uint64_t)0 - v)) >> 63;
}

/* 1, 2, 4 or 8: the bytes of the narrowest signed type holding every value. */
static unsigned narrowest(const uint64_t *vals, size_t n, unsigned bits)
{
    uint64_t magnitudes = 0;
    for (size_t e = 0; e < n; e++) {
        uint64_t v = sign_extend(vals[e], bits);
        magnitudes |= v ^ ((uint64_t)0 - (v >> 63)); /* v, or ~v for a negative v */
    }
    unsigned width = 1 + (unsigned)nonzero(magnitudes >> 7) +
                     2 * (unsigned)nonzero(magnitudes >> 15) +
                     4 * (unsigned)nonzero(magnitudes >> 31);
    ezrt_declassify(&width, sizeof width);
    return width;
}

ezrt_status ezrt_onesided_matrix_wide(ezrt_onesided_matrix *m, size_t rows, size_t inner)
{
    *m = (ezrt_onesided_matrix){rows, inner, 8, NULL};
    size_t n = rows * inner;
    m->entries = malloc(n == 0 ? 1 : n * sizeof(uint64_t));
    return m->entries == NULL ? EZRT_ENOMEM : EZRT_OK;
}

ezrt_status ezrt_onesided_matrix_narrow(ezrt_onesided_matrix *m, size_t rows, size_t inner,
                                        const uint64_t *vals, int transposed, unsigned bits)
{
    size_t n = rows * inner;
    unsigned width = narrowest(vals, n, bits);
    *m = (ezrt_onesided_matrix){rows, inner, width, malloc(n == 0 ? 1 : n * width)};
    if (m->entries == NULL)
        return EZRT_ENOMEM;
    for (size_t r = 0; r < rows; r++)
        for (size_t a = 0; a < inner; a++) {
            size_t e = r * inner + a;
            uint64_t v = sign_extend(vals[transposed ? a * rows + r : e], bits);
            if (width == 1)
                ((int8_t *)m->entries)[e] = (int8_t)v;
            else if (width == 2)
                ((int16_t *)m->entries)[e] = (int16_t)v;
            else if (width == 4)
                ((int32_t *)m->entries)[e] = (int32_t)v;
            else
                ((uint64_t *)m->entries)[e] = v;
        }
    return EZRT_OK;
}

void ezrt_onesided_matrix_read(const ezrt_onesided_matrix *m, size_t offset, size_t count,
                               uint64_t *out)
{
    for (size_t e = 0; e < count; e++) {
        size_t at = offset + e;
        if (m->width == 1)
            out[e] = (uint64_t)(int64_t)((const int8_t *)m->entries)[at];
        else if (m->width == 2)
            out[e] = (uint64_t)(int64_t)((const int16_t *)m->entries)[at];
        else if (m->width == 4)
            out[e] = (uint64_t)(int64_t)((const int32_t *)m->entries)[at];
        else
            out[e] = ((const uint64_t *)m->entries)[at];
    }
}

void ezrt_onesided_matrix_free(ezrt_onesided_matrix *m)
{
    if (m->entries != NULL) {
        size_t n = m->rows * m->inner;
        ezrt_wipe(m->entries, n * m->width);
        free(m->entries);
    }
    *m = (ezrt_onesided_matrix){0, 0, 0, NULL};
}

/* The accumulation of element a of narrow rows r0 .. r3 into l0 .. l3 (m lo, exact) and h0 .. h3
 * (m hi mod 2^32). */
#define SPLIT_STEP(q)                                                                         \
    do {                                                                                      \
        int64_t mq = (int64_t)r##q[a];                                                        \
        l##q += (uint64_t)(mq * lo[a]);                                                       \
        h##q += (uint32_t)mq * hi[a];                                                         \
    } while (0)

#define SPLIT_STEPS()                                                                         \
    do {                                                                                      \
        SPLIT_STEP(0);                                                                        \
        SPLIT_STEP(1);                                                                        \
        SPLIT_STEP(2);                                                                        \
        SPLIT_STEP(3);                                                                        \
    } while (0)

/* out[q] = row q . (lo + 2^32 hi) mod 2^64 for q < 4, rows of type T. Each block's sums start
 * at zero so that the block is a loop of its own, which the vectoriser takes. */
#define DEFINE_SPLIT_DOTS(name, T)                                                            \
    CLONES static void name(const void *const rows[4], size_t inner, const int32_t *lo,       \
                            const uint32_t *hi, uint64_t out[4])                              \
    {                                                                                         \
        const T *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];                   \
        uint64_t sums[8] = {0};                                                               \
        size_t full = inner - inner % BLOCK;                                                  \
        for (size_t start = 0; start < full; start += BLOCK) {                                \
            uint64_t l0 = 0, l1 = 0, l2 = 0, l3 = 0;                                          \
            uint32_t h0 = 0, h1 = 0, h2 = 0, h3 = 0;                                          \
            for (size_t b = 0; b < BLOCK; b++) {                                              \
                size_t a = start + b;                                                         \
                SPLIT_STEPS();                                                                \
            }                                                                                 \
            sums[0] += l0, sums[1] += l1, sums[2] += l2, sums[3] += l3;                       \
            sums[4] += h0, sums[5] += h1, sums[6] += h2, sums[7] += h3;                       \
        }                                                                                     \
        uint64_t l0 = sums[0], l1 = sums[1], l2 = sums[2], l3 = sums[3];                      \
        uint32_t h0 = (uint32_t)sums[4], h1 = (uint32_t)sums[5], h2 = (uint32_t)sums[6],      \
                 h3 = (uint32_t)sums[7];                                                      \
        for (size_t a = full; a < inner; a++)                                                 \
            SPLIT_STEPS();                                                                    \
        out[0] = l0 + ((uint64_t)h0 << 32);                                                   \
        out[1] = l1 + ((uint64_t)h1 << 32);                                                   \
        out[2] = l2 + ((uint64_t)h2 << 32);                                                   \
        out[3] = l3 + ((uint64_t)h3 << 32);                                                   \
    }

DEFINE_SPLIT_DOTS(dots_int8, int8_t)
DEFINE_SPLIT_DOTS(dots_int16, int16_t)
DEFINE_SPLIT_DOTS(dots_int32, int32_t)

/* out[q] = row q . y mod 2^64 for q < 4, uint64_t rows; blocks as above. */
CLONES static void dots_wide(const void *const rows[4], size_t inner, const uint64_t *y,
                             uint64_t out[4])
{
    const uint64_t *r0 = rows[0], *r1 = rows[1], *r2 = rows[2], *r3 = rows[3];
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    size_t full = inner - inner % BLOCK;
    for (size_t start = 0; start < full; start += BLOCK) {
        uint64_t t0 = 0, t1 = 0, t2 = 0, t3 = 0;
        for (size_t b = 0; b < BLOCK; b++) {
            size_t a = start + b;
            t0 += r0[a] * y[a];
            t1 += r1[a] * y[a];
            t2 += r2[a] * y[a];
            t3 += r3[a] * y[a];
        }
        s0 += t0, s1 += t1, s2 += t2, s3 += t3;
    }
    for (size_t a = full; a < inner; a++) {
        s0 += r0[a] * y[a];
        s1 += r1[a] * y[a];
        s2 += r2[a] * y[a];
        s3 += r3[a] * y[a];
    }
    out[0] = s0, out[1] = s1, out[2] = s2, out[3] = s3;
}

typedef void split_dots_fn(const void *const rows[4], size_t inner, const int32_t *lo,
                           const uint32_t *hi, uint64_t out[4]);

/* The rows r .. r + 3 of m from column a0 on; rows at or past `end` are row end - 1 again (their
 * sums are dropped). */
static void four_rows(const ezrt_onesided_matrix *m, size_t r, size_t end, size_t a0,
                      const void *rows[4])
{
    for (size_t q = 0; q < 4; q++) {
        size_t row = r + q < end ? r + q : end - 1;
        rows[q] = (const uint8_t *)m->entries + (row * m->inner + a0) * m->width;
    }
}

/* Columns of M per pass: 4 rows of a chunk stay in the L1 cache while every column of Y uses
 * them, so M streams from memory once whatever cols is (a batch). */
#define CHUNK 4096

/* Batch products (cols > 1) above this many multiply-adds use a second thread: the other
 * party waits for this one in the protocol. A single column stays on one thread: that pass is
 * short and bound by memory, and a second thread only competed with the dealer's process (the
 * rs-fMRI query took 9.4 ms online instead of 13.2 ms; 100 columns took 836 instead of 979 ms
 * with the second thread). */
#define THREADED_WORK ((size_t)1 << 22)

/* Rows [begin, end) of Z^T = (M Y)^T; zt holds zeros there. */
typedef struct {
    const ezrt_onesided_matrix *m;
    size_t cols, begin, end;
    const int32_t *lo;
    const uint32_t *hi;
    const uint64_t *yt;
    uint64_t *zt;
} row_range;

static void product_rows(const row_range *p)
{
    const ezrt_onesided_matrix *m = p->m;
    size_t rows = m->rows, inner = m->inner;
    split_dots_fn *split = m->width == 1 ? dots_int8 : m->width == 2 ? dots_int16 : dots_int32;
    for (size_t a0 = 0; a0 < inner; a0 += CHUNK) {
        size_t len = inner - a0 < CHUNK ? inner - a0 : CHUNK;
        for (size_t r = p->begin; r < p->end; r += 4) {
            const void *four[4];
            four_rows(m, r, p->end, a0, four);
            for (size_t c = 0; c < p->cols; c++) {
                uint64_t sums[4];
                size_t at = c * inner + a0;
                if (m->width == 8)
                    dots_wide(four, len, p->yt + at, sums);
                else
                    split(four, len, p->lo + at, p->hi + at, sums);
                for (size_t q = 0; q < 4 && r + q < p->end; q++)
                    p->zt[c * rows + r + q] += sums[q];
            }
        }
    }
}

static void *product_rows_thread(void *arg)
{
    product_rows(arg);
    return NULL;
}

/* Rows split between this thread and one more for a large batch product; alone if the thread
 * cannot be started (the result is the same). */
static void product_all_rows(const row_range *all)
{
    size_t rows = all->end, work = rows * all->m->inner * all->cols;
    size_t half = (rows / 2 + 3) / 4 * 4;
    if (work < THREADED_WORK || all->cols == 1 || half == 0 || half >= rows) {
        product_rows(all);
        return;
    }
    row_range first = *all, second = *all;
    first.end = half;
    second.begin = half;
    pthread_t helper;
    if (pthread_create(&helper, NULL, product_rows_thread, &second) != 0) {
        product_rows(all);
        return;
    }
    product_rows(&first);
    pthread_join(helper, NULL);
}

ezrt_status ezrt_onesided_product(const ezrt_onesided_matrix *m, size_t cols,
                                  const uint64_t *yt, uint64_t *zt)
{
    size_t rows = m->rows, inner = m->inner, n = cols * inner;
    if (rows == 0 || cols == 0)
        return EZRT_OK;
    int32_t *lo = NULL;
    uint32_t *hi = NULL;
    if (m->width != 8) {
        lo = malloc(n == 0 ? 1 : n * sizeof *lo);
        hi = malloc(n == 0 ? 1 : n * sizeof *hi);
        if (lo == NULL || hi == NULL) {
            free(lo);
            free(hi);
            return EZRT_ENOMEM;
        }
        for (size_t e = 0; e < n; e++) {
            lo[e] = (int32_t)(uint32_t)yt[e];
            hi[e] = (uint32_t)((yt[e] - (uint64_t)(int64_t)lo[e]) >> 32);
        }
    }
    memset(zt, 0, rows * cols * sizeof *zt);
    row_range all = {m, cols, 0, rows, lo, hi, yt, zt};
    product_all_rows(&all);
    if (lo != NULL) {
        ezrt_wipe(lo, n * sizeof *lo);
        ezrt_wipe(hi, n * sizeof *hi);
    }
    free(lo);
    free(hi);
    return EZRT_OK;
}
