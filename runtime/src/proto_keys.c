/* DCF key material for the comparison protocols: the dealer generates key pairs whose SERVER
 * root seed comes from PRG(k_S), so that only the correction words, which both keys share,
 * travel to SERVER; CLIENT receives whole keys. Why not expand CLIENT's root from k_C as well:
 * protocols.md §5.4 fixes the traffic, and a future protocol version can save those 16 bytes. */
#include <string.h>

#include "dcf_internal.h"
#include "ezrt.h"
#include "session_private.h"

ezrt_status ezrt_sess_deal_keys(ezrt_session *s, const char *op, unsigned n_in,
                                unsigned m_out, const uint64_t *alphas, const uint64_t *betas,
                                size_t count, uint8_t *srv, uint8_t *cli)
{
    size_t key = ezrt_dcf_key_size(n_in, m_out);
    size_t cw = key - EZRT_SEED_BYTES;
    uint8_t *roots0 = ezrt_sess_alloc(count, EZRT_SEED_BYTES);
    uint8_t *roots1 = ezrt_sess_alloc(count, EZRT_SEED_BYTES);
    uint8_t *keys0 = ezrt_sess_alloc(count, key);
    ezrt_status st = EZRT_ENOMEM;
    if (roots0 != NULL && roots1 != NULL && keys0 != NULL) {
        st = ezrt_sess_draw_bytes(s, op, &s->seeded[0], roots0, count * EZRT_SEED_BYTES);
        if (st == EZRT_OK)
            st = ezrt_sess_draw_bytes(s, op, &s->own, roots1, count * EZRT_SEED_BYTES);
        if (st == EZRT_OK)
            st = ezrt_dcf_gen_roots(n_in, m_out, alphas, betas, count, roots0, roots1, keys0,
                                    cli, count * key);
    }
    for (size_t k = 0; k < count && st == EZRT_OK; k++)
        memcpy(srv + k * cw, keys0 + k * key + EZRT_SEED_BYTES, cw);
    if (st != EZRT_OK && s->failure == EZRT_OK)
        ezrt_sess_fail(s, op, st, NULL);
    ezrt_sess_free(roots0, count * EZRT_SEED_BYTES);
    ezrt_sess_free(roots1, count * EZRT_SEED_BYTES);
    ezrt_sess_free(keys0, count * key);
    return st;
}

ezrt_status ezrt_sess_server_keys(ezrt_session *s, const char *op, unsigned n_in,
                                  unsigned m_out, size_t count, const uint8_t *cw,
                                  uint8_t *keys)
{
    size_t key = ezrt_dcf_key_size(n_in, m_out);
    size_t cw_len = key - EZRT_SEED_BYTES;
    uint8_t *roots = ezrt_sess_alloc(count, EZRT_SEED_BYTES);
    if (roots == NULL)
        return ezrt_sess_fail(s, op, EZRT_ENOMEM, NULL);
    ezrt_status st = ezrt_sess_draw_bytes(s, op, &s->seeded[0], roots, count * EZRT_SEED_BYTES);
    for (size_t k = 0; k < count && st == EZRT_OK; k++) {
        memcpy(keys + k * key, roots + k * EZRT_SEED_BYTES, EZRT_SEED_BYTES);
        memcpy(keys + k * key + EZRT_SEED_BYTES, cw + k * cw_len, cw_len);
    }
    ezrt_sess_free(roots, count * EZRT_SEED_BYTES);
    return st;
}
