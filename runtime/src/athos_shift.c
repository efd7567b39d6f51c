/* Shifts and rectification of the Athos library: ScaleUp (local), ScaleDown and Floor (exact,
 * from the bits of each wire: 1 round), Relu (ezrt_relu_rescale, with or without its
 * truncation: 2 rounds). A shift of masked wires is not local, because the carry of
 * x^ - r into the kept bits is unknown; ezrt_bits gives every bit of x as a wire, and any
 * combination of them with public coefficients is local on all three roles. */

#include "athos_internal.h"

ezrt_status ezrt_athos_shift(ezrt_session *s, const uint64_t *x, uint64_t *out, size_t n,
                             size_t sf, int floor)
{
    unsigned w = s->bits;
    uint64_t *bw = ezrt_sess_alloc(n, (size_t)w * sizeof *bw);
    if (bw == NULL)
        return ezrt_sess_fail(s, "ezrt_bits", EZRT_ENOMEM, NULL);
    ezrt_status st = ezrt_bits(s, x, bw, n);
    size_t low = sf < w ? sf : w - 1;
    /* Signed: x >> low = sum_{i >= low} 2^(i - low) b_i - 2^(w - low) b_(w-1). */
    uint64_t top = w - low >= 64 ? 0 : (uint64_t)1 << (w - low);
    for (size_t e = 0; e < n && st == EZRT_OK; e++) {
        const uint64_t *b = bw + e * w;
        uint64_t v = 0;
        if (floor) {
            for (size_t i = sf; i < w; i++)
                v += b[i] << i;
        } else {
            for (size_t i = low; i < w; i++)
                v += b[i] << (i - low);
            v -= top * b[w - 1];
        }
        out[e] = v & s->mask;
    }
    ezrt_sess_free(bw, n * w * sizeof *bw);
    return st;
}

static ezrt_status shift_size(ezrt_athos_args *g, int64_t sf, size_t *out)
{
    if (sf < 0)
        return ezrt_athos_reject(g, EZRT_EINVAL, "negative shift amount %lld (`sf`)",
                                 (long long)sf);
    *out = (size_t)sf;
    return EZRT_OK;
}

ezrt_status ezrt_athos_relu(ezrt_session *s, int64_t s1, const uint64_t *inp, size_t inp_len,
                            uint64_t *out, size_t out_len, int64_t sf, int64_t do_truncation)
{
    ezrt_athos_args g = {s, "Relu", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1), shift = 0;
    ezrt_athos_array(&g, "inArr", inp, inp_len, n);
    ezrt_athos_array(&g, "outArr", out, out_len, n);
    if (do_truncation)
        shift_size(&g, sf, &shift);
    if (g.st != EZRT_OK || n == 0)
        return g.st;
    /* max(x, 0) >> sf is the fused protocol's relu(x) >> sf; any sf >= bits gives 0 alike. */
    unsigned amount = shift < s->bits ? (unsigned)shift : s->bits;
    return ezrt_relu_rescale(s, amount, inp, out, n);
}

ezrt_status ezrt_athos_floor(ezrt_session *s, int64_t s1, const uint64_t *inp, size_t inp_len,
                             uint64_t *out, size_t out_len, int64_t sf)
{
    ezrt_athos_args g = {s, "Floor", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1), shift = 0;
    ezrt_athos_array(&g, "inArr", inp, inp_len, n);
    ezrt_athos_array(&g, "outArr", out, out_len, n);
    shift_size(&g, sf, &shift);
    if (g.st != EZRT_OK || n == 0)
        return g.st;
    if (shift == 0 || shift >= s->bits) {
        /* Nothing to clear, or everything: 0 is the wire 0 on every role. */
        for (size_t e = 0; e < n; e++)
            out[e] = shift == 0 ? inp[e] & s->mask : 0;
        return EZRT_OK;
    }
    return ezrt_athos_shift(s, inp, out, n, shift, 1);
}

ezrt_status ezrt_athos_scale_up(ezrt_session *s, int64_t s1, uint64_t *arr, size_t arr_len,
                                int64_t sf)
{
    ezrt_athos_args g = {s, "ScaleUp", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1), shift = 0;
    ezrt_athos_array(&g, "arr", arr, arr_len, n);
    shift_size(&g, sf, &shift);
    if (g.st != EZRT_OK)
        return g.st;
    /* c * x is local on every role; 2^sf is 0 in the ring once sf >= bits. */
    uint64_t factor = shift >= s->bits ? 0 : (uint64_t)1 << shift;
    for (size_t e = 0; e < n; e++)
        arr[e] = (arr[e] * factor) & s->mask;
    return EZRT_OK;
}

ezrt_status ezrt_athos_scale_down(ezrt_session *s, int64_t s1, uint64_t *arr, size_t arr_len,
                                  int64_t sf)
{
    ezrt_athos_args g = {s, "ScaleDown", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1), shift = 0;
    ezrt_athos_array(&g, "arr", arr, arr_len, n);
    shift_size(&g, sf, &shift);
    if (g.st != EZRT_OK || n == 0 || shift == 0)
        return g.st;
    return ezrt_athos_shift(s, arr, arr, n, shift, 0);
}
