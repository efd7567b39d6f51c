/* DCF generation for the protocols (session code), private to the runtime; the ABI is ezrt.h.
 * The public batch draws both root seeds of a key from one PRG; a dealer that derives one
 * party's root seed from a seed it shares with that party needs to supply the roots itself. */
#ifndef EZRT_DCF_INTERNAL_H
#define EZRT_DCF_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "ezrt.h"

/* ezrt_dcf_gen_batch with the root seeds given: key j of party 0 starts from roots0[16j ..
 * 16j + 16), of party 1 from roots1[16j .. 16j + 16); no randomness is drawn. roots0 and roots1
 * hold 16 count bytes each; keys_len (of keys0 and of keys1) must be count *
 * ezrt_dcf_key_size(n_in, m_out). Same checks, constant-time claim and keys as the batch. */
ezrt_status ezrt_dcf_gen_roots(unsigned n_in, unsigned m_out, const uint64_t *alphas,
                               const uint64_t *betas, size_t count, const uint8_t *roots0,
                               const uint8_t *roots1, uint8_t *keys0, uint8_t *keys1,
                               size_t keys_len);

#endif /* EZRT_DCF_INTERNAL_H */
