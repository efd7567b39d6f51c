/* Maxima of the Athos library: ArgMax and MaxPool by a tournament. Each level compares
 * neighbours (ezrt_lt, signed) and keeps the larger with one selection b + c (a - b) =
 * a + c (b - a) (ezrt_mul): 2 rounds per level, ceil(log2 n) levels for n candidates, every
 * row and window of the call in the same two rounds. A tie keeps the left candidate, whose
 * indices are the smaller ones, so ArgMax returns the first maximum as the reference does. */
#include <string.h>

#include "athos_internal.h"

typedef struct {
    uint64_t *a, *b, *cond, *diff, *prod;
} level_buffers;

/* One level over m candidates per row (stride cols): the pairs (2p, 2p + 1) become p. */
static ezrt_status level(ezrt_session *s, uint64_t *vals, uint64_t *idx, size_t rows,
                         size_t cols, size_t m, const level_buffers *t)
{
    size_t h = m / 2, pairs = rows * h, k = idx != NULL ? 2 : 1;
    for (size_t r = 0; r < rows; r++)
        for (size_t p = 0; p < h; p++) {
            t->a[r * h + p] = vals[r * cols + 2 * p];
            t->b[r * h + p] = vals[r * cols + 2 * p + 1];
        }
    ezrt_status st = ezrt_lt(s, 1, t->a, t->b, t->cond, pairs);
    if (st != EZRT_OK)
        return st;
    for (size_t r = 0; r < rows; r++)
        for (size_t p = 0; p < h; p++) {
            size_t q = r * h + p;
            t->diff[q] = t->b[q] - t->a[q];
            if (idx != NULL) {
                t->cond[pairs + q] = t->cond[q];
                t->diff[pairs + q] = idx[r * cols + 2 * p + 1] - idx[r * cols + 2 * p];
            }
        }
    st = ezrt_mul(s, t->cond, t->diff, t->prod, k * pairs);
    for (size_t r = 0; r < rows && st == EZRT_OK; r++) {
        for (size_t p = 0; p < h; p++) {
            size_t q = r * h + p;
            vals[r * cols + p] = (t->a[q] + t->prod[q]) & s->mask;
            if (idx != NULL)
                idx[r * cols + p] = (idx[r * cols + 2 * p] + t->prod[pairs + q]) & s->mask;
        }
        if (m % 2 == 1) {
            vals[r * cols + h] = vals[r * cols + m - 1];
            if (idx != NULL)
                idx[r * cols + h] = idx[r * cols + m - 1];
        }
    }
    return st;
}

ezrt_status ezrt_athos_tournament(ezrt_session *s, uint64_t *vals, uint64_t *idx, size_t rows,
                                  size_t cols, uint64_t *max, uint64_t *idx_out)
{
    const char *op = "ezrt_athos_tournament";
    size_t pairs = rows * (cols / 2);
    uint64_t *buf = ezrt_sess_alloc(pairs, 7 * sizeof *buf);
    if (buf == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    level_buffers t = {buf, buf + pairs, buf + 2 * pairs, buf + 4 * pairs, buf + 5 * pairs};
    ezrt_status st = EZRT_OK;
    for (size_t m = cols; m > 1 && st == EZRT_OK; m = m / 2 + m % 2)
        st = level(s, vals, idx, rows, cols, m, &t);
    for (size_t r = 0; r < rows && st == EZRT_OK; r++) {
        if (max != NULL)
            max[r] = vals[r * cols];
        if (idx_out != NULL)
            idx_out[r] = idx[r * cols];
    }
    ezrt_sess_free(buf, pairs * 7 * sizeof *buf);
    return st;
}

ezrt_status ezrt_athos_argmax(ezrt_session *s, int64_t s1, int64_t s2, const uint64_t *inp,
                              size_t inp_len, uint64_t *out, size_t out_len)
{
    ezrt_athos_args g = {s, "ArgMax", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t rows = ezrt_athos_size(&g, "s1", s1), cols = ezrt_athos_size(&g, "s2", s2);
    ezrt_athos_array(&g, "inArr", inp, inp_len, ezrt_athos_mul(&g, rows, cols));
    ezrt_athos_array(&g, "outArr", out, out_len, rows);
    if (rows > 0 && cols == 0)
        ezrt_athos_reject(&g, EZRT_EINVAL, "the rows are empty (`s2` is 0), so they have no maximum");
    if (g.st != EZRT_OK || rows == 0)
        return g.st;
    uint64_t *vals = ezrt_sess_alloc(inp_len, 2 * sizeof *vals);
    if (vals == NULL)
        return ezrt_sess_fail(s, g.op, EZRT_ENOMEM, NULL);
    uint64_t *idx = vals + inp_len;
    memcpy(vals, inp, inp_len * sizeof *vals);
    /* The indices are public wires: the value on the parties, mask 0 on the dealer. */
    for (size_t e = 0; e < inp_len; e++)
        idx[e] = s->role == EZRT_ROLE_DEALER ? 0 : (e % cols) & s->mask;
    ezrt_status st = ezrt_athos_tournament(s, vals, idx, rows, cols, NULL, out);
    ezrt_sess_free(vals, 2 * inp_len * sizeof *vals);
    return st;
}

int64_t ezrt_athos_windows(int64_t size, int64_t pad_l, int64_t pad_r, int64_t k,
                           int64_t stride)
{
    int64_t room = size + pad_l + pad_r - k;
    return room < 0 ? 0 : room / stride + 1;
}

/* The windows of a pooling call, gathered into rows (one per output element, NHWC order) of
 * cols = kH kW wires each. */
typedef struct {
    size_t rows, cols;
} window_shape;

static ezrt_status gather_windows(ezrt_athos_args *g, window_shape *w, int64_t N, int64_t H,
                                  int64_t W, int64_t C, int64_t kH, int64_t kW, int64_t padHL,
                                  int64_t padHR, int64_t padWL, int64_t padWR, int64_t strideH,
                                  int64_t strideW, int64_t N1, int64_t imgH, int64_t imgW,
                                  int64_t C1, const uint64_t *inp, size_t inp_len,
                                  const uint64_t *out, size_t out_len, uint64_t **vals)
{
    w->rows = w->cols = 0;
    int64_t sizes[8] = {N, H, W, C, N1, imgH, imgW, C1};
    const char *names[8] = {"N", "H", "W", "C", "N1", "imgH", "imgW", "C1"};
    for (int m = 0; m < 8; m++)
        ezrt_athos_size(g, names[m], sizes[m]);
    ezrt_athos_positive(g, "ksizeH", kH);
    ezrt_athos_positive(g, "ksizeW", kW);
    ezrt_athos_positive(g, "strideH", strideH);
    ezrt_athos_positive(g, "strideW", strideW);
    if (g->st != EZRT_OK)
        return g->st;
    if (N1 != N || C1 != C)
        ezrt_athos_reject(g, EZRT_EINVAL, "the input has %lld images of %lld channels, the "
                          "output %lld of %lld", (long long)N1, (long long)C1, (long long)N,
                          (long long)C);
    int64_t oh = ezrt_athos_windows(imgH, padHL, padHR, kH, strideH);
    int64_t ow = ezrt_athos_windows(imgW, padWL, padWR, kW, strideW);
    if (oh != H || ow != W)
        ezrt_athos_reject(g, EZRT_EINVAL, "the padding, kernel and strides give %lld, %lld "
                          "output positions, but `H, W` are %lld, %lld", (long long)oh,
                          (long long)ow, (long long)H, (long long)W);
    size_t rows = ezrt_athos_mul(g, ezrt_athos_mul(g, (size_t)N, (size_t)H),
                                 ezrt_athos_mul(g, (size_t)W, (size_t)C));
    size_t cols = ezrt_athos_mul(g, (size_t)kH, (size_t)kW);
    size_t img = ezrt_athos_mul(g, ezrt_athos_mul(g, (size_t)N1, (size_t)imgH),
                                ezrt_athos_mul(g, (size_t)imgW, (size_t)C1));
    ezrt_athos_array(g, "inArr", inp, inp_len, img);
    ezrt_athos_array(g, "outArr", out, out_len, rows);
    size_t all = ezrt_athos_mul(g, rows, cols);
    if (g->st != EZRT_OK || rows == 0)
        return g->st;
    uint64_t *v = ezrt_sess_alloc(all, sizeof *v);
    if (v == NULL)
        return g->st = ezrt_sess_fail(g->s, g->op, EZRT_ENOMEM, NULL);
    size_t q = 0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t y = 0; y < H; y++)
            for (int64_t x = 0; x < W; x++)
                for (int64_t c = 0; c < C; c++)
                    for (int64_t ky = 0; ky < kH; ky++)
                        for (int64_t kx = 0; kx < kW; kx++) {
                            /* Padding is the wire 0 on every role (value 0, mask 0). */
                            int64_t iy = y * strideH + ky - padHL, ix = x * strideW + kx - padWL;
                            int inside = iy >= 0 && iy < imgH && ix >= 0 && ix < imgW;
                            v[q++] = inside ? inp[((n * imgH + iy) * imgW + ix) * C + c] : 0;
                        }
    w->rows = rows;
    w->cols = cols;
    *vals = v;
    return EZRT_OK;
}

ezrt_status ezrt_athos_maxpool(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t C,
                               int64_t kH, int64_t kW, int64_t padHL, int64_t padHR,
                               int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                               int64_t N1, int64_t imgH, int64_t imgW, int64_t C1,
                               const uint64_t *inp, size_t inp_len, uint64_t *out,
                               size_t out_len)
{
    ezrt_athos_args g = {s, "MaxPool", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    window_shape w;
    uint64_t *vals = NULL;
    if (gather_windows(&g, &w, N, H, W, C, kH, kW, padHL, padHR, padWL, padWR, strideH,
                       strideW, N1, imgH, imgW, C1, inp, inp_len, out, out_len, &vals) != EZRT_OK
        || w.rows == 0)
        return g.st;
    ezrt_status st = ezrt_athos_tournament(s, vals, NULL, w.rows, w.cols, out, NULL);
    ezrt_sess_free(vals, w.rows * w.cols * sizeof *vals);
    return st;
}

/* floor(x / d) for a public d > 0: the truncating quotient q and remainder r of ezrt_divmod,
 * then q - [r < 0]. */
static ezrt_status floor_divide(ezrt_session *s, const uint64_t *x, uint64_t d, uint64_t *out,
                                size_t n)
{
    uint64_t *buf = ezrt_sess_alloc(n, 4 * sizeof *buf);
    if (buf == NULL)
        return ezrt_sess_fail(s, "AvgPool", EZRT_ENOMEM, NULL);
    uint64_t *div = buf, *rem = buf + n, *zero = buf + 2 * n, *neg = buf + 3 * n;
    for (size_t e = 0; e < n; e++) {
        div[e] = s->role == EZRT_ROLE_DEALER ? 0 : d;
        zero[e] = 0;
    }
    ezrt_status st = ezrt_divmod(s, 1, x, div, out, rem, n);
    if (st == EZRT_OK)
        st = ezrt_lt(s, 1, rem, zero, neg, n);
    for (size_t e = 0; e < n && st == EZRT_OK; e++)
        out[e] = (out[e] - neg[e]) & s->mask;
    ezrt_sess_free(buf, 4 * n * sizeof *buf);
    return st;
}

ezrt_status ezrt_athos_avgpool(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t C,
                               int64_t kH, int64_t kW, int64_t padHL, int64_t padHR,
                               int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                               int64_t N1, int64_t imgH, int64_t imgW, int64_t C1,
                               const uint64_t *inp, size_t inp_len, uint64_t *out,
                               size_t out_len)
{
    ezrt_athos_args g = {s, "AvgPool", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    window_shape w;
    uint64_t *vals = NULL;
    if (gather_windows(&g, &w, N, H, W, C, kH, kW, padHL, padHR, padWL, padWR, strideH,
                       strideW, N1, imgH, imgW, C1, inp, inp_len, out, out_len, &vals) != EZRT_OK
        || w.rows == 0)
        return g.st;
    ezrt_status st = EZRT_OK;
    if ((uint64_t)w.cols >> (s->bits - 1) != 0)
        st = ezrt_athos_reject(&g, EZRT_EINVAL, "a window of %zu elements is too large a "
                               "divisor for %u-bit values", w.cols, s->bits);
    uint64_t *sums = ezrt_sess_alloc(w.rows, sizeof *sums);
    if (st == EZRT_OK && sums == NULL)
        st = ezrt_sess_fail(s, g.op, EZRT_ENOMEM, NULL);
    for (size_t r = 0; r < w.rows && st == EZRT_OK; r++) {
        uint64_t sum = 0;
        for (size_t k = 0; k < w.cols; k++)
            sum += vals[r * w.cols + k];
        sums[r] = sum & s->mask;
    }
    if (st == EZRT_OK)
        st = floor_divide(s, sums, w.cols, out, w.rows);
    ezrt_sess_free(sums, w.rows * sizeof *sums);
    ezrt_sess_free(vals, w.rows * w.cols * sizeof *vals);
    return st;
}
