/* ezrt: the ezlang two-party runtime. This header is its whole ABI: the JIT-compiled program
 * and the Python driver call only what is declared here. Every function takes an explicit
 * context (no globals shared between roles), checks every length it is given, returns an
 * error code (EZRT_OK = 0), and is constant time in secret values. */
#ifndef EZRT_H
#define EZRT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- errors ------------------------------------------------------------------------------ */

/* Every ezrt function that can fail returns an ezrt_status: EZRT_OK (0) or one of the codes
 * below. Codes are stable (they cross the ctypes and JIT boundaries); new ones are appended at
 * the end of the enum, never renumbered. */
typedef int ezrt_status;

enum {
    EZRT_OK = 0,
    EZRT_EINVAL = 1,    /* an argument is outside its documented range (bits, party, value) */
    EZRT_ELENGTH = 2,   /* a buffer length does not match what the call needs */
    EZRT_ERANDOM = 3,   /* the OS CSPRNG (getrandom) failed; there is no weaker fallback */
    EZRT_ENOCPU = 4,    /* the CPU lacks AES-NI or SSE4.1, which the PRG requires */
    EZRT_ENOMEM = 5,    /* an allocation failed */
    EZRT_EIO = 6,       /* a system call on a socket or file failed */
    EZRT_EPEER = 7,     /* the peer closed the connection or reset it */
    EZRT_ETIMEOUT = 8,  /* no progress before the deadline */
    EZRT_EPROTOCOL = 9, /* the peer sent something the protocol does not allow */
    EZRT_EUNINIT = 10,  /* a context (e.g. an ezrt_prg) was used before initialisation */
};

/* A static, human-readable description of a status code; never NULL, also for unknown codes.
 * No allocation, thread safe. */
const char *ezrt_strerror(ezrt_status status);

/* ---- randomness: OS CSPRNG seeds, AES-NI PRG (prg.c) -------------------------------------- */

/* Fills buf[0..n) from the kernel CSPRNG (getrandom(2), blocking until the pool is seeded),
 * retrying on EINTR and partial reads. EZRT_ERANDOM if the kernel refuses; never falls back
 * to a weaker source. n = 0 is allowed (buf may then be NULL). */
ezrt_status ezrt_random_bytes(uint8_t *buf, size_t n);

/* EZRT_OK if this CPU has AES-NI and SSE4.1 (cpuid leaf 1, read once at load by libgcc, so a
 * call costs nanoseconds), else EZRT_ENOCPU. Every function below that runs AES checks this
 * first, so an unsupported CPU gets an error, not SIGILL. */
ezrt_status ezrt_cpu_check(void);

/* AES-128 (FIPS-197) encryption of len / 16 independent blocks under key (ECB). Exists to
 * test the AES-NI core against the standard's vectors. len must be a multiple of 16
 * (EZRT_ELENGTH); in and out may be the same buffer. Constant time (AES-NI). */
ezrt_status ezrt_aes128_encrypt(const uint8_t key[16], const uint8_t *in, uint8_t *out, size_t len);

/* A PRG: AES-128 in counter mode keyed by a 16-byte seed. Keystream block i (i = 0, 1, ...)
 * is AES_seed(i as a 128-bit big-endian integer), i.e. AES-CTR with an all-zero initial
 * counter block; the stream is read sequentially across calls. Caller-allocated (the size is
 * ezrt_prg_size(), so ctypes and JIT code can allocate it) and owned by one thread; no state
 * is shared between instances. At most 2^64 blocks per seed. */
typedef struct ezrt_prg {
    uint8_t round_keys[176]; /* AES-128 key schedule of the seed */
    uint8_t block[16];       /* the current keystream block */
    uint64_t counter;        /* index of the next block to encrypt */
    uint32_t used;           /* bytes of block already handed out (16: none left) */
    uint32_t magic;          /* EZRT_PRG_MAGIC once initialised, 0 after ezrt_prg_wipe */
} ezrt_prg;

#define EZRT_PRG_MAGIC 0x657a7270u

/* sizeof(ezrt_prg), for callers that allocate it without this header. */
size_t ezrt_prg_size(void);

/* Keys prg with seed (expands the AES key schedule; no randomness consumed). EZRT_ENOCPU on a
 * CPU without AES-NI. Time independent of the seed. */
ezrt_status ezrt_prg_init(ezrt_prg *prg, const uint8_t seed[16]);

/* Keys prg with a fresh 16-byte seed from ezrt_random_bytes (EZRT_ERANDOM if that fails). */
ezrt_status ezrt_prg_fresh(ezrt_prg *prg);

/* Zeroes prg, seed schedule included; later use returns EZRT_EUNINIT until re-initialised. */
void ezrt_prg_wipe(ezrt_prg *prg);

/* Writes the next n keystream bytes to out. Cost: ceil(n / 16) AES blocks. Constant time in
 * the seed and the output. EZRT_EUNINIT if prg was not initialised. */
ezrt_status ezrt_prg_bytes(ezrt_prg *prg, uint8_t *out, size_t n);

/* Writes n values uniform in Z_2^bits (1 <= bits <= 64, else EZRT_EINVAL) to out: value j is
 * the next 8 keystream bytes read little-endian, reduced mod 2^bits. Consumes exactly 8n
 * keystream bytes whatever bits is. Constant time. */
ezrt_status ezrt_prg_u64s(ezrt_prg *prg, uint64_t *out, size_t n, unsigned bits);

/* ---- the ring Z_2^n and wire packing (ring.c) --------------------------------------------- */

/* Ring elements of Z_2^bits, 1 <= bits <= 64, are held in uint64_t. Arithmetic functions
 * accept any uint64_t (only the low bits bits matter, as reduction mod 2^bits is a ring
 * homomorphism) and always write reduced values. Every array argument comes with its own
 * length; all lengths must be equal (else EZRT_ELENGTH) and bits must be in 1..64 (else
 * EZRT_EINVAL). out may be the same array as an input, but must not partially overlap one.
 * All are branch-free in the values: constant time, one pass, no randomness. */

/* 2^bits - 1 for 1 <= bits <= 64; 0 for any other bits. */
uint64_t ezrt_ring_mask(unsigned bits);

/* out[i] = a[i] + b[i] mod 2^bits. */
ezrt_status ezrt_ring_add(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len);

/* out[i] = a[i] - b[i] mod 2^bits. */
ezrt_status ezrt_ring_sub(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len);

/* out[i] = a[i] * b[i] mod 2^bits. */
ezrt_status ezrt_ring_mul(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len, const uint64_t *b, size_t b_len);

/* out[i] = -a[i] mod 2^bits. */
ezrt_status ezrt_ring_neg(unsigned bits, uint64_t *out, size_t out_len, const uint64_t *a,
                          size_t a_len);

/* Wire packing: count values of bits bits each, value j in bits [j*bits, (j+1)*bits) of the
 * byte string read as one little-endian integer (bit k lives in byte k / 8 at position
 * k % 8). The packed size is ceil(count * bits / 8) bytes; the padding bits of the last
 * byte are written as zero and ignored when read. */

/* ceil(count * bits / 8); 0 if bits is not in 1..64; SIZE_MAX if the size overflows size_t
 * (no buffer can then be large enough). */
size_t ezrt_packed_size(size_t count, unsigned bits);

/* Packs vals[0..count) into out. EZRT_EINVAL if bits is not in 1..64 or some value has a bit
 * set at or above bits (checked before anything is written, branch-free over the values);
 * EZRT_ELENGTH if out_len < ezrt_packed_size(count, bits). Bytes of out past the packed size
 * are left alone. Constant time in the values. */
ezrt_status ezrt_pack(const uint64_t *vals, size_t count, unsigned bits, uint8_t *out,
                      size_t out_len);

/* Inverse of ezrt_pack: reads count values of bits bits each from in into vals[0..count).
 * EZRT_EINVAL if bits is not in 1..64; EZRT_ELENGTH if in_len < ezrt_packed_size(count,
 * bits). Bytes of in past the packed size are not read. Constant time in the values. */
ezrt_status ezrt_unpack(const uint8_t *in, size_t in_len, unsigned bits, uint64_t *vals,
                        size_t count);

/* ---- distributed comparison functions (dcf.c) --------------------------------------------- */

/* DCF: function secret sharing of f(x) = beta if x < alpha else 0, for unsigned n_in-bit
 * inputs (1 <= n_in <= 64) and outputs in Z_2^m_out (1 <= m_out <= 64), after Boyle,
 * Chandran, Gilboa, Gupta, Ishai, Kumar, Rathee, "Function Secret Sharing for Mixed-Mode and
 * Fixed-Point Secure Computation" (Eurocrypt 2021), Fig. 3, with lambda = 128 and
 * G(s) = the first 64 bytes of the ezrt_prg stream seeded with s (4 AES blocks under the
 * key schedule of s). For every x: eval(0, k0, x) + eval(1, k1, x) = f(x) mod 2^m_out, and
 * each key alone is pseudorandom, independent of alpha and beta.
 *
 * Key layout (both keys share all correction words; only the first 16 bytes differ), with
 * vb = ceil(m_out / 8):
 *   s0 (16 bytes: the party's root seed)
 *   n_in levels, MSB first, each: s_CW (16) | t_CW^L + 2 t_CW^R (1) | V_CW (vb, little-endian)
 *   CW_{n+1} (vb, little-endian)
 * so ezrt_dcf_key_size(n, m) = 16 + n * (17 + vb) + vb; e.g. 1624 bytes for n = m = 64 and
 * 692 for n = m = 32. */

/* The key size above, or 0 if n_in or m_out is outside 1..64. */
size_t ezrt_dcf_key_size(unsigned n_in, unsigned m_out);

/* Writes the two keys of f_{alpha,beta} to key0 and key1 (each key_len bytes, which must equal
 * ezrt_dcf_key_size(n_in, m_out), else EZRT_ELENGTH). EZRT_EINVAL if n_in or m_out is outside
 * 1..64, alpha >= 2^n_in or beta >= 2^m_out. Consumes 32 bytes of rng's stream (two root
 * seeds). Cost: 2 n_in PRG expansions = 2 n_in AES key schedules + 8 n_in AES blocks.
 * Constant time in alpha, beta and the seeds (only n_in and m_out shape the work). */
ezrt_status ezrt_dcf_gen(ezrt_prg *rng, unsigned n_in, unsigned m_out, uint64_t alpha,
                         uint64_t beta, uint8_t *key0, size_t key0_len, uint8_t *key1,
                         size_t key1_len);

/* Party party's (0 or 1, else EZRT_EINVAL) share of f(x), written to *out (in [0, 2^m_out)).
 * key_len must equal ezrt_dcf_key_size(n_in, m_out) (EZRT_ELENGTH); x >= 2^n_in is
 * EZRT_EINVAL. Cost: n_in PRG expansions (n_in AES key schedules + 4 n_in AES blocks). No
 * randomness. Constant time in x and in the key contents. */
ezrt_status ezrt_dcf_eval(int party, const uint8_t *key, size_t key_len, unsigned n_in,
                          unsigned m_out, uint64_t x, uint64_t *out);

/* count independent ezrt_dcf_gen calls: key j of party b is keys_b[j*K .. (j+1)*K) with
 * K = ezrt_dcf_key_size(n_in, m_out); keys0_len and keys1_len must be count * K, alphas and
 * betas hold count entries each. Consumes 32 count bytes of rng's stream; the result equals
 * count sequential ezrt_dcf_gen calls on the same rng. Checks every alpha and beta before
 * writing (EZRT_EINVAL, branch-free over the values). Interleaves keys for AES pipelining. */
ezrt_status ezrt_dcf_gen_batch(ezrt_prg *rng, unsigned n_in, unsigned m_out,
                               const uint64_t *alphas, const uint64_t *betas, size_t count,
                               uint8_t *keys0, size_t keys0_len, uint8_t *keys1,
                               size_t keys1_len);

/* count independent ezrt_dcf_eval calls of one party: key j (laid out as in
 * ezrt_dcf_gen_batch, keys_len = count * K) at xs[j], share to outs[j]. Checks every x before
 * writing (EZRT_EINVAL, branch-free). Same per-key cost, constant-time claim and results as
 * ezrt_dcf_eval; interleaves keys for AES pipelining. */
ezrt_status ezrt_dcf_eval_batch(int party, const uint8_t *keys, size_t keys_len,
                                unsigned n_in, unsigned m_out, const uint64_t *xs,
                                uint64_t *outs, size_t count);

/* ---- channels between roles: framing, handshake, failure detection, statistics (net.c) ---- */

/* A channel is one TCP connection between two roles carrying framed messages. On the wire each
 * message is an 8-byte little-endian header, (0x455A << 48) | payload length, then the payload;
 * the receiver always knows the length it expects, so a header with another length or without
 * the 0x455A ("EZ") marker is a protocol error. Sends are buffered: every send up to the next
 * receive or ezrt_flush leaves in one TCP write, which is what makes batched rounds cheap.
 * Every blocking step waits with poll() for at most the channel's timeout (10 s unless set) of
 * inactivity. The first failure is sticky: later calls on the channel return the same code
 * without touching the socket, and ezrt_channel_error() keeps its message, which names the peer
 * role and the phase the caller set. A channel belongs to one thread at a time. A NULL pointer
 * or an out-of-range argument is EZRT_EINVAL and leaves the channel as it was; a failed
 * allocation is EZRT_ENOMEM. */
typedef struct ezrt_channel ezrt_channel;
typedef struct ezrt_listener ezrt_listener;

#define EZRT_ROLE_SERVER 0
#define EZRT_ROLE_CLIENT 1
#define EZRT_ROLE_DEALER 2
/* As an expected peer role: whichever role the handshake announces, other than one's own. */
#define EZRT_ROLE_ANY 255

/* What each side announces at connection; the two must agree on all but the role. */
typedef struct {
    uint32_t protocol_version;
    uint8_t role;              /* EZRT_ROLE_SERVER, _CLIENT or _DEALER */
    uint8_t bitlen;            /* ring width of secret integers: 32 or 64 */
    uint8_t program_hash[32];  /* SHA-256 of the compiled program */
} ezrt_hello;

/* Traffic of one channel since its handshake (the handshake itself is not counted). */
typedef struct {
    uint64_t rounds;            /* sends that follow a receive, plus the first send */
    uint64_t messages_sent;
    uint64_t messages_received;
    uint64_t bytes_sent;        /* payloads plus 8 header bytes per message */
    uint64_t bytes_received;    /* payloads plus 8 header bytes per message */
} ezrt_net_stats;

/* Opens a TCP listening socket on host (NULL or "" = every local address; a name or an IPv4/IPv6
 * literal) and port (0 = a free port, see ezrt_listener_port). Returns EZRT_OK and *out, or
 * EZRT_EIO with a message in err (NUL-terminated, truncated to err_len; err may be NULL). */
ezrt_status ezrt_listen(const char *host, uint16_t port, ezrt_listener **out, char *err,
                        size_t err_len);

/* The port the listener is bound to (the chosen one when it was opened with port 0). */
uint16_t ezrt_listener_port(const ezrt_listener *l);

/* Waits up to timeout_ms (> 0) for one connection and wraps it in a channel to peer_role (or
 * EZRT_ROLE_ANY until the handshake names it). EZRT_ETIMEOUT if nobody connects in time; EZRT_EIO
 * on a socket error; message in err. */
ezrt_status ezrt_accept(ezrt_listener *l, uint8_t peer_role, int timeout_ms, ezrt_channel **out,
                        char *err, size_t err_len);

/* Closes the listening socket and frees l; channels already accepted stay open. NULL is a no-op. */
void ezrt_listener_close(ezrt_listener *l);

/* Connects to host:port (IPv4 or IPv6, every address the name resolves to), retrying every 50 ms
 * until timeout_ms (> 0) has passed, since the peer may start later. EZRT_ETIMEOUT with the last
 * socket error in err if no attempt succeeds; EZRT_EIO if host cannot be resolved. */
ezrt_status ezrt_connect(const char *host, uint16_t port, uint8_t peer_role, int timeout_ms,
                         ezrt_channel **out, char *err, size_t err_len);

/* Sets how long each later blocking step may wait without progress (timeout_ms > 0). */
ezrt_status ezrt_channel_set_timeout(ezrt_channel *ch, int timeout_ms);

/* Names the protocol phase ("setup", "online"...) for error messages; copied, at most 31 bytes
 * kept. The phase is "connection" until set. */
ezrt_status ezrt_channel_set_phase(ezrt_channel *ch, const char *phase);

/* Both sides send their hello, then receive the other's, then check, in this order: protocol
 * version, the peer's role (must be the expected one; with EZRT_ROLE_ANY, a valid role other
 * than mine->role, which then becomes the channel's peer role), bit width, program hash. On a
 * mismatch returns EZRT_EPROTOCOL and a message naming both sides' values, e.g. "bit width
 * differs: this server uses 64, the dealer uses 32". *theirs is filled whenever the hello
 * arrived. 1 round; 46 bytes each way, not counted in the statistics. */
ezrt_status ezrt_handshake(ezrt_channel *ch, const ezrt_hello *mine, ezrt_hello *theirs,
                           char *err, size_t err_len);

/* Queues one message of len bytes (len < 2^48; 0 is allowed). It leaves when the queue passes
 * 64 KiB, at the next receive or at ezrt_flush; a large message is written straight from buf.
 * Counts a round if the previous operation was a receive. */
ezrt_status ezrt_send(ezrt_channel *ch, const uint8_t *buf, size_t len);

/* Writes every queued message to the socket. */
ezrt_status ezrt_flush(ezrt_channel *ch);

/* Flushes queued sends, then receives one message of exactly len bytes into buf. EZRT_EPROTOCOL
 * if the frame header is malformed or announces another length, EZRT_EPEER if the peer closed the
 * connection, EZRT_ETIMEOUT if it sent nothing for the channel's timeout. */
ezrt_status ezrt_recv(ezrt_channel *ch, uint8_t *buf, size_t len);

/* Copies the channel's counters into *out. */
ezrt_status ezrt_channel_stats(const ezrt_channel *ch, ezrt_net_stats *out);

/* The message of the channel's first failure ("client disconnected during online phase", "no
 * message from dealer for 10.0 s during setup phase"), or "" while it is healthy. Owned by ch. */
const char *ezrt_channel_error(const ezrt_channel *ch);

/* Flushes queued sends if the channel is healthy, closes the connection and frees ch; returns
 * the flush's result. NULL is a no-op. */
ezrt_status ezrt_close(ezrt_channel *ch);

/* ---- sessions and protocols: masked wires with a dealer (session.c, proto_*.c) ------------ */

/* The secure protocols of docs/protocols.md. A secret value x of Z_2^bits lives as a masked
 * wire: both parties hold x^ = x + r_x mod 2^bits, and the dealer, which runs the same program
 * with every wire replaced by its mask, holds r_x. Linear operations are not calls: x^ + y^ on
 * the parties and r_x + r_y on the dealer, c * x^ and c * r_x, x^ + c and r_x (protocols.md §2).
 * Every operation is vectorised over n elements and called by all three roles in the same order
 * with the same n (n = 0 does nothing); on the dealer every wire array holds masks. Wire and
 * clear inputs may carry bits at or above `bits` (only the low bits count, as for the ring
 * functions); every output is reduced. Outputs may be the same arrays as inputs.
 *
 * Randomness: at set-up the dealer draws seeds k_S, k_C (16 bytes each, getrandom) and sends
 * k_P to party P; the dealer's own randomness comes from ezrt_prg_fresh. Each call consumes
 * fresh positions of PRG(k_S), PRG(k_C) and the dealer's PRG, in an order fixed by the call
 * sequence, so nothing is ever reused. Costs (rounds between the parties, bytes; every message
 * also has an 8-byte frame header): see each function and docs/runtime.md "Protocols
 * (implemented)". Exchanges send before they receive, so one exchange is one round (above
 * 32 KiB of packed values each way CLIENT receives first, so that two large writes cannot block
 * each other); the dealer flushes after every call that sends; a party's sends to its peer leave
 * at its next receive from the peer or the dealer, or at ezrt_session_flush. Constant time: no branch or memory index depends on a mask, share, seed
 * or DCF key (the parties' wires are public to them and may steer DCF evaluation points).
 *
 * Errors: NULL pointers, a bad role, owner, recipient or bits are EZRT_EINVAL; a size that
 * overflows is EZRT_ELENGTH; both leave the session usable. A channel, allocation or PRG failure
 * is sticky: later calls return the same status, and ezrt_session_error() names the operation,
 * the peer and the phase ("ezrt_mul: client disconnected during online phase"). */

#define EZRT_RECIPIENT_ALL 3 /* ezrt_output to both parties; 0 = SERVER, 1 = CLIENT */

typedef struct ezrt_session ezrt_session;

/* Opens a party's session: role EZRT_ROLE_SERVER or EZRT_ROLE_CLIENT, ring width bits (1..64),
 * peer = the channel to the other party, dealer = the channel to the dealer. The channels stay
 * owned by the caller and must outlive the session; their phases are set to "setup", then
 * "online". Set-up receives the party's 16-byte seed from the dealer (1 message). Unless the
 * status is EZRT_EINVAL, EZRT_ENOCPU or EZRT_ENOMEM, *out is a session even on failure, whose
 * ezrt_session_error() says what failed; free it with ezrt_session_free(). */
ezrt_status ezrt_session_open_party(ezrt_session **out, uint8_t role, unsigned bits,
                                    ezrt_channel *peer, ezrt_channel *dealer);

/* Opens the dealer's session (role EZRT_ROLE_DEALER) with channels to SERVER and CLIENT. Set-up
 * draws k_S and k_C from getrandom and sends each party its seed (16 bytes, 1 message each).
 * *out as for ezrt_session_open_party. */
ezrt_status ezrt_session_open_dealer(ezrt_session **out, unsigned bits, ezrt_channel *server,
                                     ezrt_channel *client);

/* Wipes the seeds and PRG states and frees s (the channels are not closed). NULL is a no-op. */
void ezrt_session_free(ezrt_session *s);

/* The last error ("" if none), naming the operation, the peer and the phase. Owned by s. */
const char *ezrt_session_error(const ezrt_session *s);

/* EZRT_ROLE_SERVER, EZRT_ROLE_CLIENT or EZRT_ROLE_DEALER. */
uint8_t ezrt_session_role(const ezrt_session *s);

/* Writes every buffered send of the session's channels (call at the end of the program). */
ezrt_status ezrt_session_flush(ezrt_session *s);

/* public -> secret: wire = clear on the parties (clear required), 0 on the dealer (clear
 * ignored, may be NULL). Local: no communication, no randomness. */
ezrt_status ezrt_share_public(ezrt_session *s, const uint64_t *clear, uint64_t *wire, size_t n);

/* owner's (0 or 1) values clear (read only on the owner; NULL elsewhere) become wires. The owner
 * draws r from PRG(k_owner) and sends x^ = x + r to the other party (1 message, n * bits bits);
 * the dealer draws the same r as the masks. 0 dealer bytes. */
ezrt_status ezrt_input(ezrt_session *s, uint8_t owner, const uint64_t *clear, uint64_t *wire,
                       size_t n);

/* Reveals wires to recipient (0, 1 or EZRT_RECIPIENT_ALL): the dealer sends the masks to each
 * recipient (n * bits bits each), which writes x = x^ - r_x to clear (NULL elsewhere). 0 rounds
 * between the parties. */
ezrt_status ezrt_output(ezrt_session *s, uint8_t recipient, const uint64_t *wire,
                        uint64_t *clear, size_t n);

/* z = x * y mod 2^bits (masked Beaver, protocols.md §5.3). 1 round, n * bits bits each way;
 * dealer: 3 n bits values to CLIENT, nothing to SERVER (expanded from k_S). */
ezrt_status ezrt_mul(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n);

/* z = [x < y] as a 0/1 wire, unsigned, or signed (two's complement of bits) if is_signed != 0
 * (protocols.md §5.4: three DCFs, exact). 1 round, n * bits bits each way; dealer: 3n DCF keys
 * of (bits, bits) that share their correction words: SERVER gets the correction words (its
 * root seeds come from k_S), CLIENT whole keys plus n bits-bit values. */
ezrt_status ezrt_lt(ezrt_session *s, int is_signed, const uint64_t *x, const uint64_t *y,
                    uint64_t *z, size_t n);

/* The bits of x: bits[e * `bits` + i] is bit i (LSB first) of element e, as a 0/1 wire; n *
 * `bits` outputs (protocols.md §5.5). 1 round, n * bits * bits bits each way; dealer: per
 * element one DCF key of (i, bits) for each bit i >= 1 (correction words to SERVER, whole keys to
 * CLIENT) plus 2 * bits values of bits bits to CLIENT. */
ezrt_status ezrt_bits(ezrt_session *s, const uint64_t *x, uint64_t *bits, size_t n);

/* z = relu(x) >> shift = [x > 0] * (x >> shift) for signed x (two's complement of bits) and the
 * exact arithmetic shift: bit for bit the value of (x > 0 ? x : 0) >> shift (protocols.md
 * §5.8). 2 rounds: n * (bits + 1) bits each way (the comparison's bit and the shift travel
 * together), then n * bits bits each way (one product); dealer: per element one DCF key of
 * (bits - 1, 1) and, for shift > 0, one of (shift, bits) (correction words to SERVER, whole keys
 * to CLIENT) plus 5 bits-bit values and 1 bit to CLIENT. shift >= bits gives 0: local, no
 * randomness. */
ezrt_status ezrt_relu_rescale(ezrt_session *s, unsigned shift, const uint64_t *x, uint64_t *z,
                              size_t n);

/* ezrt_relu_rescale ending with additive shares instead of a wire: z gets the party's share of
 * relu(x) >> shift (SERVER's + CLIENT's = the value mod 2^bits), the dealer's z gets 0. Round
 * two becomes local (the dealer's output mask is 0 and nothing is opened): 1 round, n * (bits +
 * 1) bits each way. For a value only read by the other factor of ezrt_onesided_matmul
 * (EZRT_OTHER_SHARED), whose round then opens it masked. The caller guarantees
 * -2^m <= x < 2^m for m = magnitude_bits (1 <= m <= bits - 1, else EZRT_EINVAL; bits - 1 is no
 * bound): the sign's DCF has m input bits, so the dealer sends per element a key of (m, 1)
 * instead of (bits - 1, 1) (correction words to SERVER, whole key to CLIENT), the (shift, bits)
 * key and the values of ezrt_relu_rescale. A value outside the bound gives a wrong result. */
ezrt_status ezrt_relu_rescale_shares(ezrt_session *s, unsigned shift, unsigned magnitude_bits,
                                     const uint64_t *x, uint64_t *z, size_t n);

/* ---- one-sided matrix products: one factor known to SERVER in the clear (proto_onesided.c) */

/* A product whose one factor K SERVER knows in the clear (a model's weights) and keeps for the
 * whole session (protocols.md §5.10). Normalised internally to the model M (rows x inner), the
 * other operand Y (inner x cols) and Z = M Y (rows x cols): EZRT_KNOWN_LEFT has M = K (rows = i,
 * inner = j), Y = O, cols = k, C = Z; EZRT_KNOWN_RIGHT has M = K^T (rows = k, inner = j),
 * Y = O^T, cols = i, C = Z^T. Each product lives in a slot (0 .. EZRT_ONESIDED_MAX_SLOTS - 1)
 * of the session. The first call of a slot registers it: SERVER sends M^ = M + R (R from
 * PRG(k_S), which the dealer draws too) to CLIENT once, in messages of at most 2^19 values;
 * CLIENT and the dealer draw the slot's seed sigma (16 bytes of PRG(k_C)); the transfer waits
 * for the slot's first call with rows, inner and cols all non-zero. Then every call t (0, 1,
 * ... per slot, equal on every role) uses rho_t, expanded from AES_sigma(t), fresh per call.
 * Per call: 1 round (the registering call: SERVER's M^ is one flight more); CLIENT -> SERVER
 * rows cols values (plus inner cols values of Y + rho_t, or Y_C + rho_t, for
 * EZRT_OTHER_CLIENT_CLEAR and EZRT_OTHER_SHARED); SERVER -> CLIENT rows cols values; dealer ->
 * CLIENT rows cols values; dealer -> SERVER inner cols values for EZRT_OTHER_WIRE, nothing for
 * the other kinds (one message each, headers apart). SERVER
 * computes M Y' with M in the narrowest of int8/16/32/64 holding its entries (signed, of `bits`):
 * the time of a call reveals that width, nothing else about M. Conventions and errors as for
 * the protocols above; a shape that differs from the slot's registration is EZRT_EINVAL (not
 * sticky). i, j or k = 0: no communication, C is the wire of the zero matrix, and the slot is
 * registered all the same. ezrt_session_free wipes and frees every slot. */
#define EZRT_KNOWN_LEFT 0          /* C[i][k] = K[i][j] O[j][k] */
#define EZRT_KNOWN_RIGHT 1         /* C[i][k] = O[i][j] K[j][k] */
#define EZRT_OTHER_WIRE 0          /* O is a masked wire on every role (masks on the dealer) */
#define EZRT_OTHER_CLIENT_CLEAR 1  /* O is CLIENT's clear value: CLIENT passes it, others NULL */
#define EZRT_OTHER_SHARED 2        /* O is additively shared: each party passes its share (their
                                    * sum mod 2^bits is O), the dealer NULL */
#define EZRT_ONESIDED_MAX_SLOTS 4096

/* 1 if `slot` of s holds a registered known matrix, else 0 (also for NULL s or slot out of
 * range). */
int ezrt_onesided_ready(const ezrt_session *s, uint32_t slot);

/* C = K O (EZRT_KNOWN_LEFT) or O K (EZRT_KNOWN_RIGHT) as masked wires c (i x k, row-major), K
 * (i x j or j x k) known to SERVER in the clear, O (j x k or i x j) of kind other_kind. The first
 * call of a slot registers it: SERVER passes `known` (K's entries, row-major, as ring elements),
 * CLIENT and the dealer NULL; later calls may pass NULL everywhere (`known` is then ignored) and
 * must use the registration's side and K shape (i x j for LEFT, j x k for RIGHT; the other
 * dimension may vary). EZRT_EINVAL: side or other_kind out of range, slot >= MAX_SLOTS, SERVER
 * registering a non-empty K without `known`, `other` NULL for EZRT_OTHER_WIRE, on CLIENT for
 * CLIENT_CLEAR or on a party for SHARED, c NULL, a shape other than the registration's; EZRT_ELENGTH: sizes that
 * overflow. */
ezrt_status ezrt_onesided_matmul(ezrt_session *s, uint32_t slot, int side, int other_kind,
                                 size_t i, size_t j, size_t k, const uint64_t *known,
                                 const uint64_t *other, uint64_t *c);

/* CLIENT and dealer: precompute the next call's offline values of every registered slot (rho_t
 * and M^ rho_t or R rho_t, for the cols of the slot's last call) so that the next call does no
 * big matrix product; a call with other cols wipes and ignores them. SERVER: no-op. Local: no
 * communication, no shared randomness. */
ezrt_status ezrt_onesided_refill(ezrt_session *s);

typedef struct {
    uint64_t slots;            /* registered slots */
    uint64_t setup_ns;         /* time spent registering (masking, sending/receiving the model) */
    uint64_t setup_bytes;      /* bytes this role sent for registrations (payload + headers) */
    uint64_t precompute_ns;    /* time spent in offline products (refill or on demand) */
    uint64_t precomputed_hits; /* calls served from a refilled pool entry */
} ezrt_onesided_stats;

/* This role's counters since the session opened (also after a failure). EZRT_EINVAL for NULL. */
ezrt_status ezrt_onesided_stats_get(const ezrt_session *s, ezrt_onesided_stats *out);

/* ---- bitwise operators, right shifts, division (proto_bitwise.c, proto_div.c) ------------- */

/* Composite protocols made of ezrt_bits, ezrt_mul and ezrt_lt calls plus local steps, with the
 * conventions of the section above (vectorised, same calls in every role, dealer on masks,
 * outputs may alias inputs, NULL arrays EZRT_EINVAL, overflowing sizes EZRT_ELENGTH). A
 * failure inside is sticky and ezrt_session_error() names the inner call ("ezrt_lt: ...").
 * Costs use B(m) = the cost of ezrt_bits on m elements, M(m) of ezrt_mul, L(m) of ezrt_lt
 * (rounds and bytes add up; docs/runtime.md tabulates them). Exact, constant time. */

/* z = x & y, z = x | y, z = x ^ y on the ring elements' bits (two's complement of `bits`).
 * & is sum 2^i x_i y_i; | and ^ are x + y - (x & y) and x + y - 2 (x & y), local after &.
 * 2 rounds: B(2n) then M(n * bits). ~x needs no call: it is -1 - x (a public constant minus a
 * wire). */
ezrt_status ezrt_and(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n);
ezrt_status ezrt_or(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                    size_t n);
ezrt_status ezrt_xor(ezrt_session *s, const uint64_t *x, const uint64_t *y, uint64_t *z,
                     size_t n);

/* z = x >> amount by a public amount, exact: arithmetic (the sign bit, bit bits-1, fills the
 * top) if arithmetic != 0, else logical. An amount >= bits gives all sign bits (arithmetic) or
 * 0 (logical). 1 round, B(n); amount 0 and logical amounts >= bits are local (0 rounds, no
 * randomness). << is local (multiplication by 2^amount) and needs no call. */
ezrt_status ezrt_shr(ezrt_session *s, int arithmetic, unsigned amount, const uint64_t *x,
                     uint64_t *z, size_t n);

/* q = x / y and r = x % y, truncating toward zero, unsigned or (is_signed != 0) two's
 * complement of bits, with the interpreter's total semantics: x / 0 = all ones, x % 0 = x,
 * MIN / -1 = MIN, MIN % -1 = 0. q or r may be NULL when not wanted (the work is the same).
 * Restoring long division over the bits of the dividend, all n elements per step
 * (protocols.md §5.7). Unsigned: 2 bits + 2 rounds, B(n) + L(2n) + (bits - 1) L(n) + bits M(n)
 * + M(2n). Signed: 2 bits + 4 rounds, L(3n) + M(5n) + B(n) + bits L(n) + bits M(n) + M(2n). */
ezrt_status ezrt_divmod(ezrt_session *s, int is_signed, const uint64_t *x, const uint64_t *y,
                        uint64_t *q, uint64_t *r, size_t n);

/* ---- the Athos tensor library on masked wires (athos_*.c) -------------------------------- */

/* Native implementations of the Athos externs (docs/athos.md gives their meaning, which these
 * match bit for bit; docs/runtime.md "Native Athos externs" their costs). Conventions as for
 * the protocols above: all three roles call the same function with the same public arguments,
 * the dealer's wire arrays hold masks; every array comes with its element count, which must be
 * what the size arguments give (EZRT_ELENGTH); a negative size, a kernel size or stride below
 * 1, a negative shift amount or sizes that disagree are EZRT_EINVAL. Argument errors are found
 * before anything is sent and leave the session usable. An output may be the same array as an
 * input. Public sizes are int64_t; flags are 0 or 1. */

/* C[i][k] = A[i][j] B[j][k] mod 2^bits, row-major, with a matrix Beaver correlation: the
 * dealer shares R_A, R_B and R_A R_B + R_C (fresh R_C), SERVER's shares from PRG(k_S). 1 round,
 * i k values each way; dealer: i j + j k + i k values to CLIENT. */
ezrt_status ezrt_matmul(ezrt_session *s, size_t i, size_t j, size_t k, const uint64_t *a,
                        const uint64_t *b, uint64_t *c);

/* count matrix products C_q[i_q][k_q] = A_q[i_q][j_q] B_q[j_q][k_q] mod 2^bits in ONE round:
 * ezrt_matmul's protocol for every q, all openings in one exchange. shapes holds (i_q, j_q, k_q)
 * for q = 0 .. count-1; a[q], b[q], c[q] point to i_q j_q, j_q k_q and i_q k_q wires (row-major;
 * NULL only where the count is 0; a C may be an A or a B). This is how compiled code computes
 * sums of products (docs/codegen.md "Sums of products"): only the sums are opened.
 * 1 round, sum_q i_q k_q values each way; dealer: sum_q (i_q j_q + j_q k_q + i_q k_q) values to
 * CLIENT, nothing to SERVER (expanded from k_S). count = 0 or no C element: nothing. */
ezrt_status ezrt_matmul_many(ezrt_session *s, size_t count, const size_t *shapes,
                             const uint64_t *const *a, const uint64_t *const *b,
                             uint64_t *const *c);

/* MatMul2D(i, j, k, A, B, C, modelIsA): ezrt_matmul; modelIsA has no effect. */
ezrt_status ezrt_athos_matmul2d(ezrt_session *s, int64_t i, int64_t j, int64_t k,
                                const uint64_t *a, size_t a_len, const uint64_t *b, size_t b_len,
                                uint64_t *c, size_t c_len, int64_t model_is_a);

/* ElemWiseSecretSharedVectorMult / ElemWiseActModelVectorMult(s1, arr1, arr2, out): ezrt_mul. */
ezrt_status ezrt_athos_elemwise_mult(ezrt_session *s, int64_t s1, const uint64_t *arr1,
                                     size_t arr1_len, const uint64_t *arr2, size_t arr2_len,
                                     uint64_t *out, size_t out_len);

/* ElemWiseVectorPublicDiv(s1, arr1, divisor, out): arr1 / divisor with EzPC's `/` (truncation
 * toward zero, x / 0 = -1, MIN / -1 = MIN): a signed ezrt_divmod by the public divisor. */
ezrt_status ezrt_athos_elemwise_public_div(ezrt_session *s, int64_t s1, const uint64_t *arr1,
                                           size_t arr1_len, int64_t divisor, uint64_t *out,
                                           size_t out_len);

/* Relu(s1, in, out, sf, doTruncation): max(in, 0), then >> sf (arithmetic) if doTruncation.
 * 2 rounds: ezrt_lt against 0 and ezrt_mul; with sf > 0, ezrt_bits (whose sign bit replaces
 * the comparison) and ezrt_mul. */
ezrt_status ezrt_athos_relu(ezrt_session *s, int64_t s1, const uint64_t *inp, size_t inp_len,
                            uint64_t *out, size_t out_len, int64_t sf, int64_t do_truncation);

/* Floor(s1, in, out, sf): in & -(2^sf) (0 for sf >= bits). 1 round (ezrt_bits); none for
 * sf = 0 or sf >= bits. */
ezrt_status ezrt_athos_floor(ezrt_session *s, int64_t s1, const uint64_t *inp, size_t inp_len,
                             uint64_t *out, size_t out_len, int64_t sf);

/* ScaleUp(s1, arr, sf): arr <<= sf in place; local. */
ezrt_status ezrt_athos_scale_up(ezrt_session *s, int64_t s1, uint64_t *arr, size_t arr_len,
                                int64_t sf);

/* ScaleDown(s1, arr, sf): arr >>= sf in place (arithmetic, exact). 1 round (ezrt_bits); none
 * for sf = 0. */
ezrt_status ezrt_athos_scale_down(ezrt_session *s, int64_t s1, uint64_t *arr, size_t arr_len,
                                  int64_t sf);

/* ArgMax(s1, s2, in[s1][s2], out[s1]): the first index of each row's signed maximum, by a
 * tournament: 2 rounds (ezrt_lt, ezrt_mul) per level, ceil(log2 s2) levels for all rows. */
ezrt_status ezrt_athos_argmax(ezrt_session *s, int64_t s1, int64_t s2, const uint64_t *inp,
                              size_t inp_len, uint64_t *out, size_t out_len);

/* MaxPool(N, H, W, C, kH, kW, pads, strides, N1, imgH, imgW, C1, in, out): the signed maximum
 * of each zero-padded window by a tournament, all windows together: 2 ceil(log2 (kH kW))
 * rounds. */
ezrt_status ezrt_athos_maxpool(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t C,
                               int64_t kH, int64_t kW, int64_t padHL, int64_t padHR,
                               int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                               int64_t N1, int64_t imgH, int64_t imgW, int64_t C1,
                               const uint64_t *inp, size_t inp_len, uint64_t *out,
                               size_t out_len);

/* AvgPool(same arguments as MaxPool): floor((window sum mod 2^bits, signed) / (kH kW)); the
 * sum is local, then ezrt_divmod by the public window size and ezrt_lt of the remainder with 0
 * (the truncating quotient minus [remainder < 0]): the rounds of a signed ezrt_divmod plus 1. */
ezrt_status ezrt_athos_avgpool(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t C,
                               int64_t kH, int64_t kW, int64_t padHL, int64_t padHR,
                               int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                               int64_t N1, int64_t imgH, int64_t imgW, int64_t C1,
                               const uint64_t *inp, size_t inp_len, uint64_t *out,
                               size_t out_len);

/* Conv2DWrapper, Conv2DGroupWrapper (G groups), Conv3DWrapper, ConvTranspose2DWrapper and
 * ConvTranspose3DWrapper: NHWC inputs, HWIO filters (transposed: [F][CO][CI]). The windows
 * become a patch matrix (im2col, local) multiplied with the filter: 1 round, one matrix product
 * per group, with positions x (kernel CI / G) + (kernel CI / G) x (CO / G) + positions x (CO / G)
 * dealer values per group. */
ezrt_status ezrt_athos_conv2d(ezrt_session *s, int64_t N, int64_t H, int64_t W, int64_t CI,
                              int64_t FH, int64_t FW, int64_t CO, int64_t padHL, int64_t padHR,
                              int64_t padWL, int64_t padWR, int64_t strideH, int64_t strideW,
                              const uint64_t *inp, size_t inp_len, const uint64_t *filt,
                              size_t filt_len, uint64_t *out, size_t out_len);

ezrt_status ezrt_athos_conv2d_group(ezrt_session *s, int64_t N, int64_t H, int64_t W,
                                    int64_t CI, int64_t FH, int64_t FW, int64_t CO,
                                    int64_t padHL, int64_t padHR, int64_t padWL, int64_t padWR,
                                    int64_t strideH, int64_t strideW, int64_t G,
                                    const uint64_t *inp, size_t inp_len, const uint64_t *filt,
                                    size_t filt_len, uint64_t *out, size_t out_len);

ezrt_status ezrt_athos_conv3d(ezrt_session *s, int64_t N, int64_t D, int64_t H, int64_t W,
                              int64_t CI, int64_t FD, int64_t FH, int64_t FW, int64_t CO,
                              int64_t padDL, int64_t padDR, int64_t padHL, int64_t padHR,
                              int64_t padWL, int64_t padWR, int64_t strideD, int64_t strideH,
                              int64_t strideW, const uint64_t *inp, size_t inp_len,
                              const uint64_t *filt, size_t filt_len, uint64_t *out,
                              size_t out_len);

ezrt_status ezrt_athos_conv_transpose2d(ezrt_session *s, int64_t N, int64_t HPrime,
                                        int64_t WPrime, int64_t CI, int64_t FH, int64_t FW,
                                        int64_t CO, int64_t H, int64_t W, int64_t padHL,
                                        int64_t padHR, int64_t padWL, int64_t padWR,
                                        int64_t strideH, int64_t strideW, const uint64_t *inp,
                                        size_t inp_len, const uint64_t *filt, size_t filt_len,
                                        uint64_t *out, size_t out_len);

ezrt_status ezrt_athos_conv_transpose3d(ezrt_session *s, int64_t N, int64_t DPrime,
                                        int64_t HPrime, int64_t WPrime, int64_t CI, int64_t FD,
                                        int64_t FH, int64_t FW, int64_t CO, int64_t D, int64_t H,
                                        int64_t W, int64_t padDL, int64_t padDR, int64_t padHL,
                                        int64_t padHR, int64_t padWL, int64_t padWR,
                                        int64_t strideD, int64_t strideH, int64_t strideW,
                                        const uint64_t *inp, size_t inp_len,
                                        const uint64_t *filt, size_t filt_len, uint64_t *out,
                                        size_t out_len);

/* ---- end of the Athos tensor library ---- */

#ifdef __cplusplus
}
#endif

#endif /* EZRT_H */
