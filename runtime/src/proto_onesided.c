/* One-sided matrix products (protocols.md §5.10): Z = M Y where SERVER knows the model M in the
 * clear for the whole session. A masked product of wires (athos_matmul.c) costs the model's size
 * in dealer traffic on every run; here SERVER sends M^ = M + R once per slot (R from PRG(k_S),
 * which the dealer draws too), and each call t costs one round and messages of the size of Y and
 * Z only. With rho_t fresh per call (expanded from AES_sigma(t), sigma drawn from PRG(k_C) by
 * CLIENT and the dealer; SERVER never learns it):
 *   dealer:  u = R rho_t + r_c (fresh r_c), sends u_C = u - u_S (u_S from PRG(k_S)) to CLIENT and,
 *            for a wire Y with mask r_y, y_S = r_y - rho_t to SERVER; its output wire is r_c;
 *   SERVER:  Y' = Y^ - y_S (wire) or Y' = Y + rho_t (from CLIENT), sends z_S = M Y' + u_S;
 *   CLIENT:  sends Y + rho_t (clear Y, or its share Y_C of shared Y) and z_C = u_C - M^ rho_t;
 *   both:    C^ = z_S + z_C = M Y + r_c.
 * Layouts: rho_t, Y' and the inner x cols messages in the order of Y^T (cols x inner, the rows of
 * O^T for a known left factor, of O for a known right one); the rows x cols messages and r_c in
 * the order of C. CLIENT and the dealer may compute rho_t and M^ rho_t (R rho_t) ahead of the
 * call (ezrt_onesided_refill): the call's products are then all SERVER's. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto_internal.h"
#include "ezrt.h"
#include "onesided_internal.h"
#include "session_private.h"

#define OP "ezrt_onesided_matmul"
/* Values per message of M^ at registration, so that neither side holds a packed copy of a
 * whole model (2^19 values are 4 MiB at 64 bits). */
#define MODEL_CHUNK ((size_t)1 << 19)

/* rho_t and P_t = (M^ or R) rho_t of one call t, for cols columns; p NULL until computed. */
typedef struct {
    uint64_t t;
    size_t cols;
    uint64_t *rho; /* cols x inner, Y^T order */
    uint64_t *p;   /* cols x rows, Z^T order */
} offline;

typedef struct {
    int side;
    size_t rows, inner;
    uint64_t calls;          /* t of the next call */
    size_t last_cols;        /* cols of the last call (0 before the first) */
    int transferred;         /* M^ sent or received, R drawn, sigma drawn */
    ezrt_onesided_matrix m;  /* SERVER: M; CLIENT: M^; dealer: R (the last two once transferred) */
    ezrt_aes_key sigma;      /* CLIENT and dealer: sigma's key schedule */
    int pooled;              /* pool holds a refill */
    offline pool;
} slot_state;

struct ezrt_onesided_table {
    slot_state *slots[EZRT_ONESIDED_MAX_SLOTS];
    ezrt_onesided_stats stats;
};

/* One call's normalised shape (ezrt.h), from the ABI's i, j, k. */
typedef struct {
    int side, kind;
    size_t rows, inner, cols;
} shape;

static uint64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void offline_free(offline *o, const slot_state *slot)
{
    ezrt_sess_free(o->rho, o->cols * slot->inner * sizeof *o->rho);
    ezrt_sess_free(o->p, o->cols * slot->rows * sizeof *o->p);
    *o = (offline){0, 0, NULL, NULL};
}

static void slot_free(slot_state *slot)
{
    if (slot == NULL)
        return;
    offline_free(&slot->pool, slot);
    ezrt_onesided_matrix_free(&slot->m);
    ezrt_wipe(slot, sizeof *slot);
    free(slot);
}

void ezrt_onesided_free(ezrt_session *s)
{
    if (s->onesided == NULL)
        return;
    for (size_t q = 0; q < EZRT_ONESIDED_MAX_SLOTS; q++)
        slot_free(s->onesided->slots[q]);
    free(s->onesided);
    s->onesided = NULL;
}

int ezrt_onesided_ready(const ezrt_session *s, uint32_t slot)
{
    return s != NULL && s->onesided != NULL && slot < EZRT_ONESIDED_MAX_SLOTS &&
           s->onesided->slots[slot] != NULL;
}

ezrt_status ezrt_onesided_stats_get(const ezrt_session *s, ezrt_onesided_stats *out)
{
    if (s == NULL || out == NULL)
        return EZRT_EINVAL;
    *out = s->onesided == NULL ? (ezrt_onesided_stats){0, 0, 0, 0, 0} : s->onesided->stats;
    return EZRT_OK;
}

/* ---- layouts ---- */

/* yt = Y^T (cols x inner) from the operand o of the call's shape. */
static void gather_yt(const shape *sh, const uint64_t *o, uint64_t *yt)
{
    if (sh->side == EZRT_KNOWN_RIGHT) { /* o is i x j = cols x inner: already Y^T */
        memcpy(yt, o, sh->cols * sh->inner * sizeof *yt);
        return;
    }
    for (size_t c = 0; c < sh->cols; c++) /* o is j x k = inner x cols: Y itself */
        for (size_t a = 0; a < sh->inner; a++)
            yt[c * sh->inner + a] = o[a * sh->cols + c];
}

/* out = Z (rows x cols) in C's order, from zt = Z^T. */
static void c_order(const shape *sh, const uint64_t *zt, uint64_t *out)
{
    if (sh->side == EZRT_KNOWN_RIGHT) { /* C = Z^T */
        memcpy(out, zt, sh->rows * sh->cols * sizeof *out);
        return;
    }
    for (size_t r = 0; r < sh->rows; r++)
        for (size_t c = 0; c < sh->cols; c++)
            out[r * sh->cols + c] = zt[c * sh->rows + r];
}

/* ---- offline values: rho_t and P_t ---- */

/* o->rho = rho_t for o->t, o->cols: inner * cols values of a PRG keyed by AES_sigma(t). */
static ezrt_status draw_rho(ezrt_session *s, const char *op, const slot_state *slot, offline *o)
{
    size_t n = o->cols * slot->inner;
    o->rho = ezrt_sess_alloc(n, sizeof *o->rho);
    if (o->rho == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    uint8_t seed[16];
    ezrt_store128(seed, ezrt_aes_encrypt(&slot->sigma, ezrt_aes_counter_block(o->t)));
    ezrt_prg prg;
    ezrt_status st = ezrt_prg_init(&prg, seed);
    st = st == EZRT_OK ? ezrt_sess_draw(s, op, &prg, o->rho, n) : ezrt_sess_fail(s, op, st, NULL);
    ezrt_prg_wipe(&prg);
    ezrt_wipe(seed, sizeof seed);
    return st;
}

/* o->p = (M^ or R) o->rho, Z^T order. */
static ezrt_status compute_p(ezrt_session *s, const char *op, const slot_state *slot, offline *o)
{
    o->p = ezrt_sess_alloc(o->cols * slot->rows, sizeof *o->p);
    if (o->p == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    ezrt_status st = ezrt_onesided_product(&slot->m, o->cols, o->rho, o->p);
    return st == EZRT_OK ? st : ezrt_sess_fail(s, op, st, NULL);
}

/* 1 if the slot's pool holds the offline values of its next call with cols columns. */
static int pool_serves(const slot_state *slot, size_t cols)
{
    return slot->pooled && slot->pool.t == slot->calls && slot->pool.cols == cols;
}

/* Call t's offline values into o: the refilled pool if it holds (t, cols), else rho_t now (P_t
 * later, by ensure_p, once the call's first message is out). A pool for another (t, cols) is
 * wiped: its rho is never used for another call. */
static ezrt_status take_offline(ezrt_session *s, slot_state *slot, size_t cols, offline *o)
{
    if (pool_serves(slot, cols)) {
        *o = slot->pool;
        slot->pool = (offline){0, 0, NULL, NULL};
        slot->pooled = 0;
        s->onesided->stats.precomputed_hits++;
        return EZRT_OK;
    }
    offline_free(&slot->pool, slot);
    slot->pooled = 0;
    *o = (offline){slot->calls, cols, NULL, NULL};
    uint64_t start = now_ns();
    ezrt_status st = draw_rho(s, OP, slot, o);
    s->onesided->stats.precompute_ns += now_ns() - start;
    return st;
}

static ezrt_status ensure_p(ezrt_session *s, const slot_state *slot, offline *o)
{
    if (o->p != NULL)
        return EZRT_OK;
    uint64_t start = now_ns();
    ezrt_status st = compute_p(s, OP, slot, o);
    s->onesided->stats.precompute_ns += now_ns() - start;
    return st;
}

ezrt_status ezrt_onesided_refill(ezrt_session *s)
{
    ezrt_status st = ezrt_sess_begin(s);
    if (st != EZRT_OK || s->role == EZRT_ROLE_SERVER || s->onesided == NULL)
        return st;
    for (size_t q = 0; q < EZRT_ONESIDED_MAX_SLOTS && st == EZRT_OK; q++) {
        slot_state *slot = s->onesided->slots[q];
        if (slot == NULL || !slot->transferred || slot->last_cols == 0 ||
            pool_serves(slot, slot->last_cols))
            continue;
        offline_free(&slot->pool, slot);
        slot->pooled = 0;
        offline o = {slot->calls, slot->last_cols, NULL, NULL};
        uint64_t start = now_ns();
        st = draw_rho(s, "ezrt_onesided_refill", slot, &o);
        if (st == EZRT_OK)
            st = compute_p(s, "ezrt_onesided_refill", slot, &o);
        s->onesided->stats.precompute_ns += now_ns() - start;
        if (st == EZRT_OK) {
            slot->pool = o;
            slot->pooled = 1;
        } else {
            offline_free(&o, slot);
        }
    }
    return st;
}

/* ---- registration ---- */

/* The slot's state with the shape of its first call; SERVER keeps M = K or K^T. */
static ezrt_status register_slot(ezrt_session *s, const shape *sh, const uint64_t *known,
                                 slot_state **out)
{
    uint64_t start = now_ns();
    slot_state *slot = calloc(1, sizeof *slot);
    if (slot == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    slot->side = sh->side;
    slot->rows = sh->rows;
    slot->inner = sh->inner;
    if (s->role == EZRT_ROLE_SERVER &&
        ezrt_onesided_matrix_narrow(&slot->m, sh->rows, sh->inner, known,
                                    sh->side == EZRT_KNOWN_RIGHT, s->bits) != EZRT_OK) {
        free(slot);
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    }
    *out = slot;
    s->onesided->stats.slots++;
    s->onesided->stats.setup_ns += now_ns() - start;
    return EZRT_OK;
}

/* SERVER: M^ = M + R to CLIENT in messages of MODEL_CHUNK values, R from PRG(k_S). */
static ezrt_status send_model(ezrt_session *s, const slot_state *slot)
{
    size_t n = slot->rows * slot->inner, chunk = n < MODEL_CHUNK ? n : MODEL_CHUNK;
    uint64_t *buf = ezrt_sess_alloc(chunk, 2 * sizeof *buf);
    if (buf == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    uint64_t *r = buf + chunk;
    ezrt_status st = EZRT_OK;
    for (size_t off = 0; off < n && st == EZRT_OK; off += MODEL_CHUNK) {
        size_t count = n - off < MODEL_CHUNK ? n - off : MODEL_CHUNK;
        st = ezrt_sess_draw(s, OP, &s->seeded[0], r, count);
        ezrt_onesided_matrix_read(&slot->m, off, count, buf);
        for (size_t e = 0; e < count; e++)
            buf[e] += r[e];
        if (st == EZRT_OK)
            st = ezrt_sess_send_values(s, OP, s->peer, buf, count);
        s->onesided->stats.setup_bytes += 8 + ezrt_packed_size(count, s->bits);
    }
    ezrt_sess_free(buf, 2 * chunk * sizeof *buf);
    return st;
}

/* CLIENT receives M^, the dealer draws R, in the chunks SERVER sends; both draw sigma. */
static ezrt_status take_model(ezrt_session *s, slot_state *slot)
{
    if (ezrt_onesided_matrix_wide(&slot->m, slot->rows, slot->inner) != EZRT_OK)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    uint8_t sigma[16];
    ezrt_status st = ezrt_sess_draw_bytes(s, OP, &s->seeded[1], sigma, sizeof sigma);
    if (st == EZRT_OK)
        ezrt_aes_expand(&slot->sigma, ezrt_load128(sigma));
    ezrt_wipe(sigma, sizeof sigma);
    uint64_t *m = slot->m.entries;
    size_t n = slot->rows * slot->inner;
    for (size_t off = 0; off < n && st == EZRT_OK; off += MODEL_CHUNK) {
        size_t count = n - off < MODEL_CHUNK ? n - off : MODEL_CHUNK;
        st = s->role == EZRT_ROLE_CLIENT
                 ? ezrt_sess_recv_values(s, OP, s->peer, m + off, count)
                 : ezrt_sess_draw(s, OP, &s->seeded[0], m + off, count);
    }
    return st;
}

static ezrt_status transfer(ezrt_session *s, slot_state *slot)
{
    uint64_t start = now_ns();
    ezrt_status st = s->role == EZRT_ROLE_SERVER ? send_model(s, slot) : take_model(s, slot);
    slot->transferred = st == EZRT_OK;
    s->onesided->stats.setup_ns += now_ns() - start;
    return st;
}

/* ---- one call, per role ---- */

/* Scratch of one call: rows * cols values each. */
typedef struct {
    uint64_t *a, *b;
} pair;

/* The dealer sends y_S before it computes R rho_t (unless refilled), so SERVER can start. */
static ezrt_status dealer_call(ezrt_session *s, slot_state *slot, const shape *sh,
                               const uint64_t *other, uint64_t *c, pair w)
{
    size_t nz = sh->rows * sh->cols, ny = sh->inner * sh->cols;
    offline o;
    ezrt_status st = take_offline(s, slot, sh->cols, &o);
    uint64_t *ys = sh->kind == EZRT_OTHER_WIRE ? ezrt_sess_alloc(ny, sizeof *ys) : NULL;
    if (st == EZRT_OK && sh->kind == EZRT_OTHER_WIRE) {
        st = ys == NULL ? ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL) : EZRT_OK;
        if (st == EZRT_OK) {
            gather_yt(sh, other, ys);
            for (size_t e = 0; e < ny; e++)
                ys[e] -= o.rho[e];
            st = ezrt_sess_send_values(s, OP, s->party[0], ys, ny);
        }
    }
    ezrt_sess_free(ys, ny * sizeof *ys);
    if (st == EZRT_OK)
        st = ensure_p(s, slot, &o);
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->own, w.a, nz); /* r_c */
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], w.b, nz); /* u_S */
    if (st == EZRT_OK) {
        c_order(sh, o.p, c);
        for (size_t e = 0; e < nz; e++) {
            w.b[e] = c[e] + w.a[e] - w.b[e]; /* u_C = R rho_t + r_c - u_S */
            c[e] = w.a[e] & s->mask;
        }
        st = ezrt_sess_send_values(s, OP, s->party[1], w.b, nz);
    }
    offline_free(&o, slot);
    return st;
}

static ezrt_status server_call(ezrt_session *s, slot_state *slot, const shape *sh,
                               const uint64_t *other, uint64_t *c, pair w)
{
    size_t nz = sh->rows * sh->cols, ny = sh->inner * sh->cols;
    uint64_t *y = ezrt_sess_alloc(ny, sizeof *y), *zt = ezrt_sess_alloc(nz, sizeof *zt);
    ezrt_status st = y == NULL || zt == NULL ? ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL) : EZRT_OK;
    if (st == EZRT_OK)
        st = ezrt_sess_draw(s, OP, &s->seeded[0], w.a, nz); /* u_S */
    if (st == EZRT_OK && sh->kind == EZRT_OTHER_WIRE) {
        gather_yt(sh, other, y); /* Y^ */
        uint64_t *ys = ezrt_sess_alloc(ny, sizeof *ys);
        st = ys == NULL ? ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL)
                        : ezrt_sess_recv_values(s, OP, s->dealer, ys, ny);
        for (size_t e = 0; e < ny && st == EZRT_OK; e++)
            y[e] -= ys[e];
        ezrt_sess_free(ys, ny * sizeof *ys);
    } else if (st == EZRT_OK) {
        st = ezrt_sess_recv_values(s, OP, s->peer, y, ny); /* Y + rho_t, or Y_C + rho_t */
        if (st == EZRT_OK && sh->kind == EZRT_OTHER_SHARED) {
            uint64_t *own = ezrt_sess_alloc(ny, sizeof *own);
            st = own == NULL ? ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL) : EZRT_OK;
            if (st == EZRT_OK) {
                gather_yt(sh, other, own); /* Y_S */
                for (size_t e = 0; e < ny; e++)
                    y[e] += own[e];
            }
            ezrt_sess_free(own, ny * sizeof *own);
        }
    }
    if (st == EZRT_OK) {
        st = ezrt_onesided_product(&slot->m, sh->cols, y, zt);
        st = st == EZRT_OK ? st : ezrt_sess_fail(s, OP, st, NULL);
    }
    if (st == EZRT_OK) {
        c_order(sh, zt, w.b);
        for (size_t e = 0; e < nz; e++)
            w.a[e] += w.b[e]; /* z_S = M Y' + u_S */
        st = ezrt_sess_recv_values(s, OP, s->peer, w.b, nz); /* z_C */
    }
    if (st == EZRT_OK)
        st = ezrt_sess_send_values(s, OP, s->peer, w.a, nz);
    for (size_t e = 0; e < nz && st == EZRT_OK; e++)
        c[e] = (w.a[e] + w.b[e]) & s->mask;
    ezrt_sess_free(y, ny * sizeof *y);
    ezrt_sess_free(zt, nz * sizeof *zt);
    return st;
}

/* CLIENT sends Y + rho_t (clear Y) before it waits for the dealer, so SERVER's product overlaps
 * the dealer's work and CLIENT's own M^ rho_t if that was not refilled. */
static ezrt_status client_call(ezrt_session *s, slot_state *slot, const shape *sh,
                               const uint64_t *other, uint64_t *c, pair w)
{
    size_t nz = sh->rows * sh->cols, ny = sh->inner * sh->cols;
    offline o;
    ezrt_status st = take_offline(s, slot, sh->cols, &o);
    if (st == EZRT_OK && sh->kind != EZRT_OTHER_WIRE) {
        uint64_t *yt = ezrt_sess_alloc(ny, sizeof *yt);
        st = yt == NULL ? ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL) : EZRT_OK;
        if (st == EZRT_OK) {
            gather_yt(sh, other, yt);
            for (size_t e = 0; e < ny; e++)
                yt[e] += o.rho[e];
            st = ezrt_sess_send_values(s, OP, s->peer, yt, ny);
        }
        ezrt_sess_free(yt, ny * sizeof *yt);
    }
    if (st == EZRT_OK)
        st = ezrt_sess_recv_values(s, OP, s->dealer, w.a, nz); /* u_C */
    if (st == EZRT_OK)
        st = ensure_p(s, slot, &o);
    if (st == EZRT_OK) {
        c_order(sh, o.p, w.b);
        for (size_t e = 0; e < nz; e++)
            w.a[e] -= w.b[e]; /* z_C = u_C - M^ rho_t */
        st = ezrt_sess_send_values(s, OP, s->peer, w.a, nz);
    }
    if (st == EZRT_OK)
        st = ezrt_sess_recv_values(s, OP, s->peer, w.b, nz); /* z_S */
    for (size_t e = 0; e < nz && st == EZRT_OK; e++)
        c[e] = (w.a[e] + w.b[e]) & s->mask;
    offline_free(&o, slot);
    return st;
}

/* ---- the call ---- */

/* The normalised shape, or a rejection (not sticky) of arguments no role may run with. */
static ezrt_status check_args(ezrt_session *s, uint32_t slot, int side, int kind, size_t i,
                              size_t j, size_t k, const uint64_t *other, const uint64_t *c,
                              shape *sh)
{
    if (side != EZRT_KNOWN_LEFT && side != EZRT_KNOWN_RIGHT)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL,
                                "the side must be EZRT_KNOWN_LEFT or EZRT_KNOWN_RIGHT");
    if (kind != EZRT_OTHER_WIRE && kind != EZRT_OTHER_CLIENT_CLEAR && kind != EZRT_OTHER_SHARED)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL,
                                "the other operand must be EZRT_OTHER_WIRE, "
                                "EZRT_OTHER_CLIENT_CLEAR or EZRT_OTHER_SHARED");
    if (slot >= EZRT_ONESIDED_MAX_SLOTS)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL,
                                "the slot must be below EZRT_ONESIDED_MAX_SLOTS");
    int needs_other = kind == EZRT_OTHER_WIRE || s->role == EZRT_ROLE_CLIENT ||
                      (kind == EZRT_OTHER_SHARED && s->role == EZRT_ROLE_SERVER);
    if (c == NULL || (needs_other && other == NULL))
        return ezrt_sess_reject(s, OP, EZRT_EINVAL, "NULL array");
    *sh = (shape){side, kind, side == EZRT_KNOWN_LEFT ? i : k, j, side == EZRT_KNOWN_LEFT ? k : i};
    size_t sizes[3] = {ezrt_sess_mul_size(sh->rows, sh->inner),
                       ezrt_sess_mul_size(sh->inner, sh->cols),
                       ezrt_sess_mul_size(sh->rows, sh->cols)};
    for (int q = 0; q < 3; q++)
        if (ezrt_sess_mul_size(sizes[q], 2 * sizeof(uint64_t)) == SIZE_MAX)
            return ezrt_sess_reject(s, OP, EZRT_ELENGTH, "too many values");
    return EZRT_OK;
}

/* The registered slot for this call, after checking it against the call (or registering it). */
static ezrt_status find_slot(ezrt_session *s, uint32_t q, const shape *sh,
                             const uint64_t *known, slot_state **out)
{
    slot_state *slot = s->onesided == NULL ? NULL : s->onesided->slots[q];
    int empty = sh->rows == 0 || sh->inner == 0;
    if (slot == NULL && s->role == EZRT_ROLE_SERVER && known == NULL && !empty)
        return ezrt_sess_reject(s, OP, EZRT_EINVAL,
                                "SERVER must pass the known matrix to register a slot");
    if (slot != NULL && (slot->side != sh->side || slot->rows != sh->rows ||
                         slot->inner != sh->inner))
        return ezrt_sess_reject(s, OP, EZRT_EINVAL,
                                "the side or the known matrix's shape differs from the slot's "
                                "registration");
    if (slot != NULL) {
        *out = slot;
        return EZRT_OK;
    }
    if (s->onesided == NULL && (s->onesided = calloc(1, sizeof *s->onesided)) == NULL)
        return ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    ezrt_status st = register_slot(s, sh, known, out);
    if (st == EZRT_OK)
        s->onesided->slots[q] = *out;
    return st;
}

/* The call proper, once the slot is registered; rows, inner and cols are non-zero. */
static ezrt_status run_call(ezrt_session *s, slot_state *slot, const shape *sh,
                            const uint64_t *other, uint64_t *c)
{
    ezrt_status st = slot->transferred ? EZRT_OK : transfer(s, slot);
    if (st != EZRT_OK)
        return st;
    size_t nz = sh->rows * sh->cols;
    pair w = {ezrt_sess_alloc(nz, sizeof *w.a), ezrt_sess_alloc(nz, sizeof *w.b)};
    if (w.a == NULL || w.b == NULL)
        st = ezrt_sess_fail(s, OP, EZRT_ENOMEM, NULL);
    else if (s->role == EZRT_ROLE_DEALER)
        st = dealer_call(s, slot, sh, other, c, w);
    else if (s->role == EZRT_ROLE_SERVER)
        st = server_call(s, slot, sh, other, c, w);
    else
        st = client_call(s, slot, sh, other, c, w);
    ezrt_sess_free(w.a, nz * sizeof *w.a);
    ezrt_sess_free(w.b, nz * sizeof *w.b);
    return st;
}

ezrt_status ezrt_onesided_matmul(ezrt_session *s, uint32_t slot, int side, int other_kind,
                                 size_t i, size_t j, size_t k, const uint64_t *known,
                                 const uint64_t *other, uint64_t *c)
{
    shape sh;
    slot_state *state = NULL;
    ezrt_status st = ezrt_sess_begin(s);
    if (st == EZRT_OK)
        st = check_args(s, slot, side, other_kind, i, j, k, other, c, &sh);
    if (st == EZRT_OK)
        st = find_slot(s, slot, &sh, known, &state);
    if (st != EZRT_OK)
        return st;
    if (sh.rows != 0 && sh.inner != 0 && sh.cols != 0)
        st = run_call(s, state, &sh, other, c);
    else /* an empty inner dimension: C = 0, a public wire (mask 0 on the dealer) */
        memset(c, 0, sh.rows * sh.cols * sizeof *c);
    state->calls++;
    state->last_cols = sh.cols;
    return st;
}
