/* What the Athos tensor functions (athos_*.c) share: checking their public size arguments, a
 * batch of matrix products opened in one round, exact shifts from the bits of a wire, and the
 * tournament maximum. Private to the runtime; the ABI is ezrt.h. */
#ifndef EZRT_ATHOS_INTERNAL_H
#define EZRT_ATHOS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ezrt.h"
#include "session_private.h"

/* The argument checks of one call: the first failure is kept (not sticky on the session, as
 * every role sees the same public arguments and rejects them before any communication). */
typedef struct {
    ezrt_session *s;
    const char *op;
    ezrt_status st;
} ezrt_athos_args;

/* v as a size; EZRT_EINVAL naming `name` if v < 0. */
size_t ezrt_athos_size(ezrt_athos_args *a, const char *name, int64_t v);

/* v as a positive count (kernel sizes, strides); EZRT_EINVAL if v < 1. */
size_t ezrt_athos_positive(ezrt_athos_args *a, const char *name, int64_t v);

/* a * b, or SIZE_MAX (and EZRT_ELENGTH) if it overflows. */
size_t ezrt_athos_mul(ezrt_athos_args *a, size_t x, size_t y);

/* EZRT_ELENGTH naming `name` unless the array arr has len == expected elements; EZRT_EINVAL if
 * it is NULL while expected > 0. */
void ezrt_athos_array(ezrt_athos_args *a, const char *name, const uint64_t *arr, size_t len,
                      size_t expected);

/* Records a failed check with a message; returns the status. */
ezrt_status ezrt_athos_reject(ezrt_athos_args *a, ezrt_status status, const char *fmt, ...);

/* One product C[i][k] = A[i][j] B[j][k] of wires (row-major; C must not overlap A or B). */
typedef struct {
    size_t i, j, k;
    const uint64_t *a, *b;
    uint64_t *c;
} ezrt_athos_matmul_job;

/* count products in one round (matrix Beaver correlations, one opening for all). */
ezrt_status ezrt_athos_matmul_jobs(ezrt_session *s, const char *op,
                                   const ezrt_athos_matmul_job *jobs, size_t count);

/* out[e] = x[e] >> sf (arithmetic, sf >= bits as bits - 1) if floor == 0, else
 * x[e] & -(2^sf) (0 for sf >= bits). One ezrt_bits call: 1 round. out may be x. */
ezrt_status ezrt_athos_shift(ezrt_session *s, const uint64_t *x, uint64_t *out, size_t n,
                             size_t sf, int floor);

/* Signed maximum of each of rows rows of cols >= 1 wires (vals, row-major; overwritten), by a
 * tournament: per level one comparison and one selection call (2 rounds), ceil(log2 cols)
 * levels. max[r] receives the maximum; if idx is not NULL it holds wires of the column
 * indices on entry (overwritten) and idx_out[r] the index of the first maximum. */
ezrt_status ezrt_athos_tournament(ezrt_session *s, uint64_t *vals, uint64_t *idx, size_t rows,
                                  size_t cols, uint64_t *max, uint64_t *idx_out);

/* Window positions along one axis: (size + pad_l + pad_r - k) / stride + 1, or 0 when the
 * kernel does not fit the padded size (a negative padding crops). */
int64_t ezrt_athos_windows(int64_t size, int64_t pad_l, int64_t pad_r, int64_t k,
                           int64_t stride);

#endif /* EZRT_ATHOS_INTERNAL_H */
