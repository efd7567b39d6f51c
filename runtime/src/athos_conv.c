/* Convolutions of the Athos library as matrix products (im2col): the windows of the input
 * become the rows of a patch matrix P [positions][kernel * CI], the filter is already the
 * matrix [kernel * CI][CO] in row-major HWIO order, and out = P F is one ezrt_athos_matmul_jobs
 * call (1 round; one product per group, all in that round). Gathering patches, padding with
 * zeros, spreading a transposed convolution's input and mirroring its filter only move wires
 * or insert the wire 0 (value 0, mask 0 on every role), which is linear, so the dealer does
 * the same on the masks. 2-D shapes are 3-D shapes with a leading spatial axis of size 1. */
#include <string.h>

#include "athos_internal.h"

/* A convolution of input [n][size0][size1][size2][ci] with filter
 * [kern0][kern1][kern2][ci / g][co] into output [n][out0][out1][out2][co]. */
typedef struct {
    size_t n, ci, co, g;
    int64_t size[3], kern[3], pad_l[3], pad_r[3], stride[3], out[3];
} conv_shape;

static size_t prod3(const int64_t v[3])
{
    return (size_t)v[0] * (size_t)v[1] * (size_t)v[2];
}

/* Patch matrix of group gi: row m = (image, output position), column (kernel position, c). */
static void patches(const conv_shape *c, const uint64_t *inp, size_t gi, uint64_t *p)
{
    size_t cig = c->ci / c->g, q = 0;
    for (size_t im = 0; im < c->n; im++)
        for (int64_t o0 = 0; o0 < c->out[0]; o0++)
            for (int64_t o1 = 0; o1 < c->out[1]; o1++)
                for (int64_t o2 = 0; o2 < c->out[2]; o2++)
                    for (int64_t f0 = 0; f0 < c->kern[0]; f0++)
                        for (int64_t f1 = 0; f1 < c->kern[1]; f1++)
                            for (int64_t f2 = 0; f2 < c->kern[2]; f2++) {
                                int64_t i0 = o0 * c->stride[0] + f0 - c->pad_l[0];
                                int64_t i1 = o1 * c->stride[1] + f1 - c->pad_l[1];
                                int64_t i2 = o2 * c->stride[2] + f2 - c->pad_l[2];
                                int inside = i0 >= 0 && i0 < c->size[0] && i1 >= 0 &&
                                             i1 < c->size[1] && i2 >= 0 && i2 < c->size[2];
                                size_t at = inside ? ((((size_t)im * c->size[0] + i0) *
                                                          c->size[1] + i1) * c->size[2] + i2) *
                                                             c->ci + gi * cig
                                                   : 0;
                                for (size_t ch = 0; ch < cig; ch++)
                                    p[q++] = inside ? inp[at + ch] : 0;
                            }
}

static ezrt_status convolve(ezrt_session *s, const char *op, const conv_shape *c,
                            const uint64_t *inp, const uint64_t *filt, uint64_t *out)
{
    size_t rows = c->n * prod3(c->out), cig = c->ci / c->g, cog = c->co / c->g;
    size_t depth = prod3(c->kern) * cig;
    size_t p_len = rows * depth, f_len = depth * cog, o_len = rows * cog;
    uint64_t *buf = ezrt_sess_alloc(c->g, (p_len + f_len + o_len) * sizeof *buf);
    ezrt_athos_matmul_job *jobs = ezrt_sess_alloc(c->g, sizeof *jobs);
    ezrt_status st = EZRT_OK;
    if (buf == NULL || jobs == NULL)
        st = ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    for (size_t gi = 0; gi < c->g && st == EZRT_OK; gi++) {
        uint64_t *p = buf + gi * (p_len + f_len + o_len), *f = p + p_len;
        patches(c, inp, gi, p);
        for (size_t d = 0; d < depth; d++)
            memcpy(f + d * cog, filt + d * c->co + gi * cog, cog * sizeof *f);
        jobs[gi] = (ezrt_athos_matmul_job){rows, depth, cog, p, f, f + f_len};
    }
    if (st == EZRT_OK)
        st = ezrt_athos_matmul_jobs(s, op, jobs, c->g);
    for (size_t gi = 0; gi < c->g && st == EZRT_OK; gi++)
        for (size_t m = 0; m < rows; m++)
            memcpy(out + m * c->co + gi * cog, jobs[gi].c + m * cog, cog * sizeof *out);
    ezrt_sess_free(buf, c->g * (p_len + f_len + o_len) * sizeof *buf);
    ezrt_sess_free(jobs, c->g * sizeof *jobs);
    return st;
}

/* Checks the sizes of c (r spatial axes, the others already 1), computes the output
 * positions, and checks that the arrays have the lengths they give. */
static void check_shape(ezrt_athos_args *g, conv_shape *c, const int64_t *raw, int r,
                        const char *const *names)
{
    /* raw: n, size[r], ci, kern[r], co, (pad_l, pad_r)[r], stride[r], groups */
    c->n = ezrt_athos_size(g, "N", raw[0]);
    for (int d = 0; d < r; d++) {
        int a = 3 - r + d;
        c->size[a] = (int64_t)ezrt_athos_size(g, names[d], raw[1 + d]);
        c->kern[a] = (int64_t)ezrt_athos_positive(g, names[r + d], raw[2 + r + d]);
        c->pad_l[a] = raw[3 + 2 * r + 2 * d];
        c->pad_r[a] = raw[4 + 2 * r + 2 * d];
        c->stride[a] = (int64_t)ezrt_athos_positive(g, names[2 * r + d], raw[3 + 4 * r + d]);
    }
    c->ci = ezrt_athos_size(g, "CI", raw[1 + r]);
    c->co = ezrt_athos_size(g, "CO", raw[2 + 2 * r]);
    c->g = ezrt_athos_positive(g, "G", raw[3 + 5 * r]);
    if (g->st == EZRT_OK && (c->ci % c->g != 0 || c->co % c->g != 0))
        ezrt_athos_reject(g, EZRT_EINVAL, "%zu groups do not divide CI = %zu and CO = %zu input "
                          "and output channels", c->g, c->ci, c->co);
    for (int a = 0; a < 3; a++)
        c->out[a] = g->st != EZRT_OK ? 0 : ezrt_athos_windows(c->size[a], c->pad_l[a],
                                                              c->pad_r[a], c->kern[a],
                                                              c->stride[a]);
    /* Bound every product before anything is allocated or indexed. */
    size_t in = c->n, ker = c->ci / (c->g ? c->g : 1), out = c->n;
    for (int a = 0; a < 3; a++) {
        in = ezrt_athos_mul(g, in, (size_t)c->size[a]);
        ker = ezrt_athos_mul(g, ker, (size_t)c->kern[a]);
        out = ezrt_athos_mul(g, out, (size_t)c->out[a]);
    }
    ezrt_athos_mul(g, ezrt_athos_mul(g, out, ker), c->g);
    ezrt_athos_mul(g, in, c->ci);
    ezrt_athos_mul(g, ker, c->co);
    ezrt_athos_mul(g, out, c->co);
}

static const conv_shape UNIT = {.size = {1, 1, 1}, .kern = {1, 1, 1}, .stride = {1, 1, 1},
                                .out = {1, 1, 1}, .g = 1};

static ezrt_status conv(ezrt_session *s, const char *op, const int64_t *raw, int r,
                        const char *const *names, const uint64_t *inp, size_t inp_len,
                        const uint64_t *filt, size_t filt_len, uint64_t *out, size_t out_len)
{
    ezrt_athos_args g = {s, op, ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    conv_shape c = UNIT;
    check_shape(&g, &c, raw, r, names);
    if (g.st != EZRT_OK)
        return g.st;
    ezrt_athos_array(&g, "inputArr", inp, inp_len, c.n * prod3(c.size) * c.ci);
    ezrt_athos_array(&g, "filterArr", filt, filt_len, prod3(c.kern) * (c.ci / c.g) * c.co);
    ezrt_athos_array(&g, "outArr", out, out_len, c.n * prod3(c.out) * c.co);
    if (g.st != EZRT_OK || out_len == 0)
        return g.st;
    return convolve(s, op, &c, inp, filt, out);
}

static const char *const NAMES2[] = {"H", "W", "FH", "FW", "strideH", "strideW"};
static const char *const NAMES3[] = {"D", "H", "W", "FD", "FH", "FW", "strideD", "strideH",
                                     "strideW"};

ezrt_status ezrt_athos_conv2d_group(ezrt_session *s, int64_t N, int64_t H, int64_t W,
                                    int64_t CI, int64_t FH, int64_t FW, int64_t CO,
                                    int64_t padHL, int64_t padHR, int64_t padWL, int64_t padWR,
                                    int64_t strideH, int64_t strideW, int64_t G,
                                    const uint64_t *inp, size_t inp_len, const uint64_t *filt,
                                    size_t filt_len, uint64_t *out, size_t out_len)
{
    int64_t raw[] = {N, H, W, CI, FH, FW, CO, padHL, padHR, padWL, padWR, strideH, strideW, G};
    return conv(s, G == 1 ? "Conv2DWrapper" : "Conv2DGroupWrapper", raw, 2, NAMES2, inp,
                inp_len, filt, filt_len, out, out_len);
}

ezrt_status ezrt_athos_conv2d(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t CI,
                              int64_t FH, int64_t FW, int64_t CO, int64_t padHL, int64_t padHR,
                              int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                              const uint64_t *inp, size_t inp_len, const uint64_t *filt,
                              size_t filt_len, uint64_t *out, size_t out_len)
{
    return ezrt_athos_conv2d_group(s, N, H, W, CI, FH, FW, CO, padHL, padHR, padWL, padWR,
                                   strideH, strideW, 1, inp, inp_len, filt, filt_len, out,
                                   out_len);
}

ezrt_status ezrt_athos_conv3d(ezrt_session *s, int64_t N, int64_t D, int64_t H, int64_t W,
                              int64_t CI, int64_t FD, int64_t FH, int64_t FW, int64_t CO,
                              int64_t padDL, int64_t padDR, int64_t padHL, int64_t padHR,
                              int64_t padWL, int64_t padWR, int64_t strideD, int64_t strideH,
                              int64_t strideW, const uint64_t *inp, size_t inp_len,
                              const uint64_t *filt, size_t filt_len, uint64_t *out,
                              size_t out_len)
{
    int64_t raw[] = {N, D, H, W, CI, FD, FH, FW, CO, padDL, padDR, padHL, padHR, padWL, padWR,
                     strideD, strideH, strideW, 1};
    return conv(s, "Conv3DWrapper", raw, 3, NAMES3, inp, inp_len, filt, filt_len, out,
                out_len);
}

/* A transposed convolution's arguments, spatial axes 3 - r .. 2 (the others 1). */
typedef struct {
    int64_t n, ci, co, in[3], kern[3], out[3], pad_l[3], pad_r[3], stride[3];
} transposed_args;

/* The spread input: position p of axis a holds in[p / stride] where stride divides p, else 0. */
static void spread(const transposed_args *t, const conv_shape *c, const uint64_t *inp,
                   uint64_t *sp)
{
    size_t q = 0;
    for (int64_t im = 0; im < t->n; im++)
        for (int64_t p0 = 0; p0 < c->size[0]; p0++)
            for (int64_t p1 = 0; p1 < c->size[1]; p1++)
                for (int64_t p2 = 0; p2 < c->size[2]; p2++) {
                    int on = p0 % t->stride[0] == 0 && p1 % t->stride[1] == 0 &&
                             p2 % t->stride[2] == 0;
                    size_t at = on ? (size_t)((((im * t->in[0] + p0 / t->stride[0]) * t->in[1] +
                                                p1 / t->stride[1]) * t->in[2] +
                                               p2 / t->stride[2]) * t->ci)
                                   : 0;
                    for (int64_t ch = 0; ch < t->ci; ch++)
                        sp[q++] = on ? inp[at + (size_t)ch] : 0;
                }
}

/* The filter [F][CO][CI] mirrored in space with its channels swapped: [F][CI][CO]. */
static void mirror(const transposed_args *t, const uint64_t *filt, uint64_t *m)
{
    size_t q = 0;
    for (int64_t f0 = 0; f0 < t->kern[0]; f0++)
        for (int64_t f1 = 0; f1 < t->kern[1]; f1++)
            for (int64_t f2 = 0; f2 < t->kern[2]; f2++) {
                size_t base = (size_t)(((t->kern[0] - 1 - f0) * t->kern[1] + t->kern[1] - 1 - f1) *
                                           t->kern[2] + t->kern[2] - 1 - f2) *
                              (size_t)(t->co * t->ci);
                for (int64_t ci = 0; ci < t->ci; ci++)
                    for (int64_t co = 0; co < t->co; co++)
                        m[q++] = filt[base + (size_t)(co * t->ci + ci)];
            }
}

static ezrt_status transposed(ezrt_session *s, const char *op, const transposed_args *t,
                              const char *agree, const uint64_t *inp, size_t inp_len,
                              const uint64_t *filt, size_t filt_len, uint64_t *out,
                              size_t out_len)
{
    ezrt_athos_args g = {s, op, ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    conv_shape c = UNIT;
    c.n = ezrt_athos_size(&g, "N", t->n);
    c.ci = ezrt_athos_size(&g, "CI", t->ci);
    c.co = ezrt_athos_size(&g, "CO", t->co);
    size_t in = c.n * c.ci, ker = c.ci * c.co, res = c.n * c.co, big = in;
    for (int a = 0; a < 3; a++) {
        ezrt_athos_size(&g, "HPrime", t->in[a]);
        ezrt_athos_size(&g, "H", t->out[a]);
        ezrt_athos_positive(&g, "FH", t->kern[a]);
        ezrt_athos_positive(&g, "strideH", t->stride[a]);
        if (g.st != EZRT_OK)
            return g.st;
        c.size[a] = t->in[a] == 0 ? 0 : (t->in[a] - 1) * t->stride[a] + 1;
        c.kern[a] = t->kern[a];
        c.pad_l[a] = t->pad_l[a];
        c.pad_r[a] = t->pad_r[a];
        c.out[a] = ezrt_athos_windows(c.size[a], c.pad_l[a], c.pad_r[a], c.kern[a], 1);
        in = ezrt_athos_mul(&g, in, (size_t)t->in[a]);
        big = ezrt_athos_mul(&g, big, (size_t)c.size[a]);
        ker = ezrt_athos_mul(&g, ker, (size_t)t->kern[a]);
        res = ezrt_athos_mul(&g, res, (size_t)t->out[a]);
    }
    ezrt_athos_mul(&g, ezrt_athos_mul(&g, res, ker), 1);
    ezrt_athos_array(&g, "inputArr", inp, inp_len, in);
    ezrt_athos_array(&g, "filterArr", filt, filt_len, ker);
    ezrt_athos_array(&g, "outArr", out, out_len, res);
    if (g.st == EZRT_OK && (c.out[0] != t->out[0] || c.out[1] != t->out[1] ||
                            c.out[2] != t->out[2]))
        ezrt_athos_reject(&g, EZRT_EINVAL, "the padding, kernel and strides give other output "
                          "positions than `%s`", agree);
    if (g.st != EZRT_OK || res == 0)
        return g.st;
    uint64_t *sp = ezrt_sess_alloc(big + ker, sizeof *sp);
    if (sp == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    spread(t, &c, inp, sp);
    mirror(t, filt, sp + big);
    ezrt_status st = convolve(s, op, &c, sp, sp + big, out);
    ezrt_sess_free(sp, (big + ker) * sizeof *sp);
    return st;
}

ezrt_status ezrt_athos_conv_transpose2d(ezrt_session *s, int64_t N, int64_t HPrime,
                                        int64_t WPrime, int64_t CI, int64_t FH, int64_t FW,
                                        int64_t CO, int64_t H, int64_t W, int64_t padHL,
                                        int64_t padHR, int64_t padWL, int64_t padWR,
                                        int64_t strideH, int64_t strideW, const uint64_t *inp,
                                        size_t inp_len, const uint64_t *filt, size_t filt_len,
                                        uint64_t *out, size_t out_len)
{
    transposed_args t = {N, CI, CO, {1, HPrime, WPrime}, {1, FH, FW}, {1, H, W}, {0, padHL, padWL},
                         {0, padHR, padWR}, {1, strideH, strideW}};
    return transposed(s, "ConvTranspose2DWrapper", &t, "H, W", inp, inp_len, filt, filt_len,
                      out, out_len);
}

ezrt_status ezrt_athos_conv_transpose3d(ezrt_session *s, int64_t N, int64_t DPrime,
                                        int64_t HPrime, int64_t WPrime, int64_t CI, int64_t FD,
                                        int64_t FH, int64_t FW, int64_t CO, int64_t D, int64_t H,
                                        int64_t W, int64_t padDL, int64_t padDR, int64_t padHL,
                                        int64_t padHR, int64_t padWL, int64_t padWR,
                                        int64_t strideD, int64_t strideH, int64_t strideW,
                                        const uint64_t *inp, size_t inp_len,
                                        const uint64_t *filt, size_t filt_len, uint64_t *out,
                                        size_t out_len)
{
    transposed_args t = {N, CI, CO, {DPrime, HPrime, WPrime}, {FD, FH, FW}, {D, H, W},
                         {padDL, padHL, padWL}, {padDR, padHR, padWR}, {strideD, strideH, strideW}};
    return transposed(s, "ConvTranspose3DWrapper", &t, "D, H, W", inp, inp_len, filt, filt_len,
                      out, out_len);
}
