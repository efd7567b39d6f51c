/* Memory-safety harness for the runtime's core (prg.c, ring.c, dcf.c, errors.c), compiled with
 * AddressSanitizer and UBSan by test_core_sanitizers.py. Buffers are allocated at exactly the
 * documented sizes, so any read or write past them aborts. Exit code 0 = all checks passed;
 * another code names the first failed check. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "ezrt.h"

int main(void)
{
    ezrt_prg prg;
    uint8_t seed[16] = {1};
    if (ezrt_prg_init(&prg, seed)) return 1;
    for (unsigned bits = 1; bits <= 64; bits++) {
        for (size_t count = 0; count < 70; count++) {
            uint64_t *v = malloc(count * 8 + 1), *w = malloc(count * 8 + 1);
            ezrt_prg_u64s(&prg, v, count, bits);
            size_t size = ezrt_packed_size(count, bits);
            uint8_t *buf = malloc(size + 1);
            if (ezrt_pack(v, count, bits, buf, size)) return 2;
            if (ezrt_unpack(buf, size, bits, w, count)) return 3;
            if (count && memcmp(v, w, count * 8)) return 4;
            free(v); free(w); free(buf);
        }
    }
    for (unsigned n = 1; n <= 64; n += 7) {
        for (unsigned m = 1; m <= 64; m += 9) {
            size_t count = 19, K = ezrt_dcf_key_size(n, m);
            uint8_t *k0 = malloc(count * K), *k1 = malloc(count * K);
            uint64_t a[19], b[19], x[19], o0[19], o1[19];
            ezrt_prg_u64s(&prg, a, count, n);
            ezrt_prg_u64s(&prg, b, count, m);
            ezrt_prg_u64s(&prg, x, count, n);
            if (ezrt_dcf_gen_batch(&prg, n, m, a, b, count, k0, count * K, k1, count * K)) return 5;
            if (ezrt_dcf_eval_batch(0, k0, count * K, n, m, x, o0, count)) return 6;
            if (ezrt_dcf_eval_batch(1, k1, count * K, n, m, x, o1, count)) return 7;
            for (size_t j = 0; j < count; j++)
                if (((o0[j] + o1[j]) & ezrt_ring_mask(m)) != (x[j] < a[j] ? b[j] : 0)) return 8;
            free(k0); free(k1);
        }
    }
    uint8_t big[100000];
    if (ezrt_random_bytes(big, sizeof big)) return 9;
    puts("ok");
    return 0;
}
