/* Matrix products of masked wires with matrix Beaver correlations, in one round for any number
 * of products (docs/runtime.md "Native Athos externs"). The dealer, whose wires are the masks
 * R_A and R_B, draws a fresh output mask R_C and shares (R_A, R_B, R_A R_B + R_C): SERVER's
 * shares come from PRG(k_S), CLIENT receives the differences (i j + j k + i k values per
 * product). Party p opens
 *   C^_p = ([p = 0] A^ - [R_A]_p) B^ - A^ [R_B]_p + [R_A R_B + R_C]_p,
 * and C^_0 + C^_1 = (A^ - R_A)(B^ - R_B) + R_C = A B + R_C. ezrt_matmul_many opens several
 * products in the same round (compiled sums of products, docs/codegen.md); MatMul2D and the
 * element-wise products and public division of the Athos library are here too. */
#include <string.h>

#include "athos_internal.h"

/* C += sign * A B mod 2^64 (sign is 1 or 2^64 - 1), i-j-k order for locality. */
static void mm_acc(size_t ni, size_t nj, size_t nk, const uint64_t *a, const uint64_t *b,
                   uint64_t *c, uint64_t sign)
{
    for (size_t i = 0; i < ni; i++)
        for (size_t j = 0; j < nj; j++) {
            uint64_t x = sign * a[i * nj + j];
            const uint64_t *row = b + j * nk;
            uint64_t *out = c + i * nk;
            for (size_t k = 0; k < nk; k++)
                out[k] += x * row[k];
        }
}

/* The totals of A, B and C elements over the jobs; SIZE_MAX if they overflow. */
static size_t totals(const ezrt_athos_matmul_job *jobs, size_t count, size_t t[3])
{
    t[0] = t[1] = t[2] = 0;
    for (size_t q = 0; q < count; q++) {
        size_t dims[3] = {ezrt_sess_mul_size(jobs[q].i, jobs[q].j),
                          ezrt_sess_mul_size(jobs[q].j, jobs[q].k),
                          ezrt_sess_mul_size(jobs[q].i, jobs[q].k)};
        for (int m = 0; m < 3; m++) {
            if (dims[m] == SIZE_MAX || t[m] > SIZE_MAX / 8 - dims[m])
                return SIZE_MAX;
            t[m] += dims[m];
        }
    }
    if (t[0] > SIZE_MAX / 8 - t[1] || t[0] + t[1] > SIZE_MAX / 8 - t[2])
        return SIZE_MAX;
    return t[0] + t[1] + t[2];
}

/* sh = [a_0 | b_0 | c_0] from PRG(k_S) becomes CLIENT's [a - a_0 | b - b_0 | c - c_0]. */
static ezrt_status deal(ezrt_session *s, const char *op, const ezrt_athos_matmul_job *jobs,
                        size_t count, const size_t t[3], uint64_t *sh)
{
    ezrt_status st = ezrt_sess_draw(s, op, &s->seeded[0], sh, t[0] + t[1] + t[2]);
    uint64_t *sa = sh, *sb = sh + t[0], *sc = sh + t[0] + t[1];
    for (size_t q = 0; q < count && st == EZRT_OK; q++) {
        const ezrt_athos_matmul_job *jb = &jobs[q];
        size_t na = jb->i * jb->j, nb = jb->j * jb->k, nc = jb->i * jb->k;
        st = ezrt_sess_draw(s, op, &s->own, jb->c, nc);
        for (size_t e = 0; e < na; e++)
            sa[e] = jb->a[e] - sa[e];
        for (size_t e = 0; e < nb; e++)
            sb[e] = jb->b[e] - sb[e];
        for (size_t e = 0; e < nc; e++)
            sc[e] = jb->c[e] - sc[e];
        mm_acc(jb->i, jb->j, jb->k, jb->a, jb->b, sc, 1);
        sa += na, sb += nb, sc += nc;
    }
    return st == EZRT_OK ? ezrt_sess_send_values(s, op, s->party[1], sh, t[0] + t[1] + t[2])
                         : st;
}

/* This party's opening of every job into mine (t[2] values), from its shares sh. */
static ezrt_status open_share(ezrt_session *s, const char *op,
                              const ezrt_athos_matmul_job *jobs, size_t count, const size_t t[3],
                              uint64_t *sh, uint64_t *mine)
{
    ezrt_status st = s->role == EZRT_ROLE_SERVER
                         ? ezrt_sess_draw(s, op, &s->seeded[0], sh, t[0] + t[1] + t[2])
                         : ezrt_sess_recv_values(s, op, s->dealer, sh, t[0] + t[1] + t[2]);
    if (st != EZRT_OK)
        return st;
    uint64_t first = s->role == EZRT_ROLE_SERVER;
    uint64_t *sa = sh, *sb = sh + t[0], *sc = sh + t[0] + t[1];
    for (size_t q = 0; q < count; q++) {
        const ezrt_athos_matmul_job *jb = &jobs[q];
        size_t na = jb->i * jb->j, nb = jb->j * jb->k, nc = jb->i * jb->k;
        /* sa is spent after this: it holds [p = 0] A^ - [R_A]_p. */
        for (size_t e = 0; e < na; e++)
            sa[e] = first * jb->a[e] - sa[e];
        memcpy(mine, sc, nc * sizeof *mine);
        mm_acc(jb->i, jb->j, jb->k, sa, jb->b, mine, 1);
        mm_acc(jb->i, jb->j, jb->k, jb->a, sb, mine, (uint64_t)0 - 1);
        sa += na, sb += nb, sc += nc, mine += nc;
    }
    return EZRT_OK;
}

ezrt_status ezrt_athos_matmul_jobs(ezrt_session *s, const char *op,
                                   const ezrt_athos_matmul_job *jobs, size_t count)
{
    size_t t[3];
    size_t all = totals(jobs, count, t);
    if (all == SIZE_MAX)
        return ezrt_sess_reject(s, op, EZRT_ELENGTH, "too many values");
    if (t[2] == 0)
        return EZRT_OK;
    uint64_t *sh = ezrt_sess_alloc(all, sizeof *sh);
    uint64_t *mine = ezrt_sess_alloc(t[2], sizeof *mine);
    ezrt_status st = EZRT_OK;
    if (sh == NULL || mine == NULL)
        st = ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    else if (s->role == EZRT_ROLE_DEALER)
        st = deal(s, op, jobs, count, t, sh);
    else
        st = open_share(s, op, jobs, count, t, sh, mine);
    if (st == EZRT_OK && s->role != EZRT_ROLE_DEALER)
        st = ezrt_sess_open_sum(s, op, mine, mine, t[2]);
    for (size_t q = 0, off = 0; q < count && st == EZRT_OK && s->role != EZRT_ROLE_DEALER; q++) {
        size_t nc = jobs[q].i * jobs[q].k;
        memcpy(jobs[q].c, mine + off, nc * sizeof *mine);
        off += nc;
    }
    ezrt_sess_free(sh, all * sizeof *sh);
    ezrt_sess_free(mine, t[2] * sizeof *mine);
    return st;
}

/* The product into a fresh buffer, then copied to c: c may be a or b. */
static ezrt_status product(ezrt_session *s, const char *op, size_t i, size_t j, size_t k,
                           const uint64_t *a, const uint64_t *b, uint64_t *c)
{
    uint64_t *tmp = ezrt_sess_alloc(i * k, sizeof *tmp);
    if (tmp == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    ezrt_athos_matmul_job job = {i, j, k, a, b, tmp};
    ezrt_status st = ezrt_athos_matmul_jobs(s, op, &job, 1);
    if (st == EZRT_OK)
        memcpy(c, tmp, i * k * sizeof *tmp);
    ezrt_sess_free(tmp, i * k * sizeof *tmp);
    return st;
}

ezrt_status ezrt_matmul(ezrt_session *s, size_t i, size_t j, size_t k, const uint64_t *a,
                        const uint64_t *b, uint64_t *c)
{
    ezrt_athos_args g = {s, "ezrt_matmul", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t na = ezrt_athos_mul(&g, i, j), nb = ezrt_athos_mul(&g, j, k);
    size_t nc = ezrt_athos_mul(&g, i, k);
    ezrt_athos_array(&g, "A", a, na, na);
    ezrt_athos_array(&g, "B", b, nb, nb);
    ezrt_athos_array(&g, "C", c, nc, nc);
    if (g.st != EZRT_OK || nc == 0)
        return g.st;
    return product(s, g.op, i, j, k, a, b, c);
}

/* The checked shapes of ezrt_matmul_many into jobs (C into consecutive slices of out); the
 * total of C elements, or SIZE_MAX after a rejected argument. */
static size_t many_jobs(ezrt_athos_args *g, size_t count, const size_t *shapes,
                        const uint64_t *const *a, const uint64_t *const *b,
                        uint64_t *const *c, ezrt_athos_matmul_job *jobs, uint64_t *out)
{
    size_t total = 0;
    for (size_t q = 0; q < count && g->st == EZRT_OK; q++) {
        size_t i = shapes[3 * q], j = shapes[3 * q + 1], k = shapes[3 * q + 2];
        size_t na = ezrt_athos_mul(g, i, j), nb = ezrt_athos_mul(g, j, k);
        size_t nc = ezrt_athos_mul(g, i, k);
        ezrt_athos_array(g, "A", a[q], na, na);
        ezrt_athos_array(g, "B", b[q], nb, nb);
        ezrt_athos_array(g, "C", c[q], nc, nc);
        if (g->st == EZRT_OK && total > SIZE_MAX / 8 - nc)
            ezrt_athos_reject(g, EZRT_ELENGTH, "the sizes overflow");
        if (jobs != NULL && g->st == EZRT_OK)
            jobs[q] = (ezrt_athos_matmul_job){i, j, k, a[q], b[q], out + total};
        total += nc;
    }
    return g->st == EZRT_OK ? total : SIZE_MAX;
}

ezrt_status ezrt_matmul_many(ezrt_session *s, size_t count, const size_t *shapes,
                             const uint64_t *const *a, const uint64_t *const *b,
                             uint64_t *const *c)
{
    ezrt_athos_args g = {s, "ezrt_matmul_many", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK || count == 0)
        return g.st;
    if (shapes == NULL || a == NULL || b == NULL || c == NULL)
        return ezrt_athos_reject(&g, EZRT_EINVAL, "a NULL array of shapes or operands");
    size_t total = many_jobs(&g, count, shapes, a, b, c, NULL, NULL);
    if (total == SIZE_MAX || total == 0)
        return g.st;
    /* The products go to one buffer first, so that a C may be the same array as an A or a B. */
    ezrt_athos_matmul_job *jobs = ezrt_sess_alloc(count, sizeof *jobs);
    uint64_t *out = ezrt_sess_alloc(total, sizeof *out);
    ezrt_status st = EZRT_OK;
    if (jobs == NULL || out == NULL)
        st = ezrt_sess_fail(s, g.op, EZRT_ENOMEM, NULL);
    else {
        many_jobs(&g, count, shapes, a, b, c, jobs, out);
        st = ezrt_athos_matmul_jobs(s, g.op, jobs, count);
    }
    for (size_t q = 0; q < count && st == EZRT_OK; q++)
        memcpy(c[q], jobs[q].c, jobs[q].i * jobs[q].k * sizeof *out);
    ezrt_sess_free(jobs, count * sizeof *jobs);
    ezrt_sess_free(out, total * sizeof *out);
    return st;
}

ezrt_status ezrt_athos_matmul2d(ezrt_session *s, int64_t i, int64_t j, int64_t k,
                                const uint64_t *a, size_t a_len, const uint64_t *b, size_t b_len,
                                uint64_t *c, size_t c_len, int64_t model_is_a)
{
    (void)model_is_a; /* which operand is the model changes nothing in this protocol */
    ezrt_athos_args g = {s, "MatMul2D", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t ni = ezrt_athos_size(&g, "i", i), nj = ezrt_athos_size(&g, "j", j);
    size_t nk = ezrt_athos_size(&g, "k", k);
    ezrt_athos_array(&g, "A", a, a_len, ezrt_athos_mul(&g, ni, nj));
    ezrt_athos_array(&g, "B", b, b_len, ezrt_athos_mul(&g, nj, nk));
    ezrt_athos_array(&g, "C", c, c_len, ezrt_athos_mul(&g, ni, nk));
    if (g.st != EZRT_OK || c_len == 0)
        return g.st;
    return product(s, g.op, ni, nj, nk, a, b, c);
}

ezrt_status ezrt_athos_elemwise_mult(ezrt_session *s, int64_t s1, const uint64_t *arr1,
                                     size_t arr1_len, const uint64_t *arr2, size_t arr2_len,
                                     uint64_t *out, size_t out_len)
{
    ezrt_athos_args g = {s, "ElemWiseVectorMult", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1);
    ezrt_athos_array(&g, "arr1", arr1, arr1_len, n);
    ezrt_athos_array(&g, "arr2", arr2, arr2_len, n);
    ezrt_athos_array(&g, "outArr", out, out_len, n);
    return g.st != EZRT_OK ? g.st : ezrt_mul(s, arr1, arr2, out, n);
}

ezrt_status ezrt_athos_elemwise_public_div(ezrt_session *s, int64_t s1, const uint64_t *arr1,
                                           size_t arr1_len, int64_t divisor, uint64_t *out,
                                           size_t out_len)
{
    ezrt_athos_args g = {s, "ElemWiseVectorPublicDiv", ezrt_sess_begin(s)};
    if (g.st != EZRT_OK)
        return g.st;
    size_t n = ezrt_athos_size(&g, "s1", s1);
    ezrt_athos_array(&g, "arr1", arr1, arr1_len, n);
    ezrt_athos_array(&g, "outArr", out, out_len, n);
    if (g.st != EZRT_OK || n == 0)
        return g.st;
    uint64_t *div = ezrt_sess_alloc(n, sizeof *div);
    if (div == NULL)
        return ezrt_sess_fail(s, g.op, EZRT_ENOMEM, NULL);
    /* The divisor is a public wire: its value on the parties, mask 0 on the dealer. */
    for (size_t e = 0; e < n; e++)
        div[e] = s->role == EZRT_ROLE_DEALER ? 0 : (uint64_t)divisor & s->mask;
    ezrt_status st = ezrt_divmod(s, 1, arr1, div, out, NULL, n);
    ezrt_sess_free(div, n * sizeof *div);
    return st;
}
