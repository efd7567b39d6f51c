/* The local linear algebra of the one-sided matrix products (onesided_kernel.c): the model
 * matrix in the narrowest storage that holds it, and Z = M Y mod 2^64 over it. Private to the
 * runtime; the protocol is proto_onesided.c, the ABI ezrt.h. */
#ifndef EZRT_ONESIDED_INTERNAL_H
#define EZRT_ONESIDED_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ezrt.h"

/* A rows x inner matrix, row-major. width 1, 2 or 4: int8_t, int16_t or int32_t entries, each
 * the signed value of a ring element; width 8: uint64_t ring elements. */
typedef struct {
    size_t rows, inner;
    unsigned width;
    void *entries;
} ezrt_onesided_matrix;

/* m = the ring elements vals (mod 2^bits) in the narrowest width that holds every one of them
 * as a signed bits-bit value; entry (r, a) is vals[r * inner + a], or vals[a * rows + r] if
 * transposed. The width is the only thing about vals that a branch depends on (declassified
 * for ctgrind). EZRT_ENOMEM if the allocation fails (m is then empty). */
ezrt_status ezrt_onesided_matrix_narrow(ezrt_onesided_matrix *m, size_t rows, size_t inner,
                                        const uint64_t *vals, int transposed, unsigned bits);

/* m = a rows x inner matrix of width 8 whose entries the caller writes (m->entries, not
 * initialised). EZRT_ENOMEM if the allocation fails. */
ezrt_status ezrt_onesided_matrix_wide(ezrt_onesided_matrix *m, size_t rows, size_t inner);

/* out[e] = entry offset + e of m (row-major order) as a ring element mod 2^64, e < count. */
void ezrt_onesided_matrix_read(const ezrt_onesided_matrix *m, size_t offset, size_t count,
                               uint64_t *out);

/* Wipes and frees m's entries and zeroes m. An empty m is a no-op. */
void ezrt_onesided_matrix_free(ezrt_onesided_matrix *m);

/* zt[c * rows + r] = sum_a M[r][a] yt[c * inner + a] mod 2^64 for c < cols, r < rows: Z^T for
 * Y^T given as yt (cols x inner). Same time for any values of the same shape and width.
 * EZRT_ENOMEM if its scratch (8 bytes per element of yt, narrow widths only) fails. */
ezrt_status ezrt_onesided_product(const ezrt_onesided_matrix *m, size_t cols,
                                  const uint64_t *yt, uint64_t *zt);

#endif /* EZRT_ONESIDED_INTERNAL_H */
