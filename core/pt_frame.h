/* pt_frame.h — the Phantom Tunnel frame layer (docs/PROTOCOL.md §6):
 * 7-byte plaintext header, padding, an encrypted 2-byte length prefix and a
 * ChaCha20-Poly1305 tag.
 *
 * One frame on the wire (every frame is exactly this):
 *
 *   +-------------+------------------------------------------+---------+
 *   | enc_len (2) | AEAD ciphertext of: hdr(7) payload padding | tag(16) |
 *   +-------------+------------------------------------------+---------+
 *
 *   len      = 7 + payload_len + pad_len + 16     (bytes after the prefix)
 *   enc_len  = len XOR ChaCha20(K_len, nonce(n), block 0)[0..1]
 *   body     = ChaCha20-Poly1305(K_data, nonce(n), ad = enc_len, hdr|payload|padding)
 *
 * n counts the frames of one direction from 0; K_data / K_len come from the
 * Noise split (pt_frame_keys_derive). The sealer writes into one caller
 * buffer laid out as [2][7][payload][padding][16] so DATA can be read from
 * a socket straight into place (PT_FRAME_PAYLOAD_OFFSET) and encrypted
 * there: no copy of payload bytes. The opener decrypts in place too.
 */
#ifndef PT_CORE_FRAME_H
#define PT_CORE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pt_aead.h"

#define PT_FRAME_PREFIX_LEN 2
#define PT_FRAME_HDR_LEN 7
#define PT_FRAME_TAG_LEN 16
#define PT_FRAME_PAYLOAD_OFFSET (PT_FRAME_PREFIX_LEN + PT_FRAME_HDR_LEN) /* 9 */
#define PT_FRAME_OVERHEAD (PT_FRAME_PREFIX_LEN + PT_FRAME_HDR_LEN + PT_FRAME_TAG_LEN) /* 25 */
#define PT_FRAME_MAX_LEN 65535u                                                /* len field */
#define PT_FRAME_MIN_LEN (PT_FRAME_HDR_LEN + PT_FRAME_TAG_LEN)                  /* 23 */
#define PT_FRAME_MAX_BODY (PT_FRAME_MAX_LEN - PT_FRAME_HDR_LEN - PT_FRAME_TAG_LEN) /* 65512 */
#define PT_FRAME_MAX_PAD 255u
/* Largest payload any frame may carry: room is always left for 255 bytes of
 * padding, so every padding strategy applies to every frame. */
#define PT_FRAME_MAX_PAYLOAD (PT_FRAME_MAX_BODY - PT_FRAME_MAX_PAD) /* 65257 */
#define PT_FRAME_MAX_WIRE (PT_FRAME_PREFIX_LEN + PT_FRAME_MAX_LEN)   /* 65537 */
#define PT_STREAM_ID_MAX 0xffffffu

typedef enum pt_frame_type {
    PT_FRAME_DATA = 0x00,
    PT_FRAME_STREAM_OPEN = 0x01,
    PT_FRAME_STREAM_CLOSE = 0x02,
    PT_FRAME_WINDOW_UPDATE = 0x03,
    PT_FRAME_PING = 0x04,
    PT_FRAME_PONG = 0x05,
    PT_FRAME_GOAWAY = 0x06,
    PT_FRAME_PADDING = 0x07,
    PT_FRAME_KEY_UPDATE = 0x08,
} pt_frame_type;
#define PT_FRAME_TYPE_MAX PT_FRAME_KEY_UPDATE

/* Wire error codes (PROTOCOL.md §10), carried by STREAM_CLOSE and GOAWAY. */
#define PT_WIRE_ERR_MAP(X)                                                     \
    X(NO_ERROR, 0x00)                                                          \
    X(PROTOCOL_ERROR, 0x01)                                                    \
    X(INTERNAL_ERROR, 0x02)                                                    \
    X(FLOW_CONTROL_ERROR, 0x03)                                                \
    X(STREAM_CLOSED, 0x04)                                                     \
    X(FRAME_SIZE_ERROR, 0x05)                                                  \
    X(REFUSED_STREAM, 0x06)                                                    \
    X(CANCEL, 0x07)                                                            \
    X(CONNECT_ERROR, 0x08)                                                     \
    X(ENHANCE_YOUR_CALM, 0x09)                                                 \
    X(CONNECTION_REFUSED, 0x0a)                                                \
    X(HOST_UNREACHABLE, 0x0b)                                                  \
    X(NETWORK_UNREACHABLE, 0x0c)                                               \
    X(CONNECT_TIMEOUT, 0x0d)                                                   \
    X(NOT_ALLOWED, 0x0e)                                                       \
    X(NAME_NOT_RESOLVED, 0x0f)                                                 \
    X(ADDRESS_NOT_SUPPORTED, 0x10)                                             \
    X(IDLE_TIMEOUT, 0x11)

typedef enum pt_wire_err {
#define PT_WIRE_ERR_ENUM_(name, value) PT_WIRE_##name = (value),
    PT_WIRE_ERR_MAP(PT_WIRE_ERR_ENUM_)
#undef PT_WIRE_ERR_ENUM_
} pt_wire_err;

/* pt_wire_err_name returns "PROTOCOL_ERROR" etc., or "UNKNOWN". */
const char *pt_wire_err_name(uint32_t code);
/* pt_frame_type_name returns "DATA" etc., or "UNKNOWN". */
const char *pt_frame_type_name(unsigned type);

typedef struct pt_frame_hdr {
    uint8_t type;
    uint32_t stream_id; /* 24 bits */
    uint16_t payload_len;
    uint8_t pad_len;
} pt_frame_hdr;

/* ---- padding policy (PROTOCOL.md §9) ------------------------------------ */

typedef enum pt_pad_strategy {
    PT_PAD_NONE = 0,
    PT_PAD_BLOCK = 1,
    PT_PAD_RANDOM = 2,
    PT_PAD_POWER_OF_TWO = 3,
} pt_pad_strategy;

typedef struct pt_pad_policy {
    pt_pad_strategy strategy;
    uint16_t block;    /* BLOCK: 1..256, default 64 */
    uint16_t min_size; /* minimum plaintext frame size (hdr+payload+pad), default 64; 0..262 */
} pt_pad_policy;

/* pt_pad_policy_default: RANDOM with min_size 64, block 64. */
void pt_pad_policy_default(pt_pad_policy *p);

/* pt_frame_pad_len returns the padding length (0..255) the policy gives a
 * frame with |payload_len| bytes of payload. |rnd| is one uniformly random
 * byte, used by RANDOM only. Deterministic otherwise (vectors rely on it). */
unsigned pt_frame_pad_len(const pt_pad_policy *p, size_t payload_len, uint8_t rnd);

/* ---- keys --------------------------------------------------------------- */

/* One direction of a session: AEAD key, length key, frame counter. */
typedef struct pt_frame_dir {
    pt_aead aead;
    uint8_t k_data[32];
    uint8_t k_len[32];
    uint64_t n;
    /* Padding bytes and RANDOM lengths come from this pool, refilled from
     * the CSPRNG 1 KiB at a time: libsodium 1.0.18 makes one getrandom(2)
     * syscall per randombytes_buf call, and two per frame cost ~5% of CPU
     * in bench_session. */
    uint8_t rnd[1024];
    size_t rnd_pos;
} pt_frame_dir;

/* pt_frame_dir_init derives K_data and K_len from one Noise split key |k|
 * (PROTOCOL.md §5.9): (K_data, K_len) = HKDF-SHA256(ck = k, ikm =
 * "phantom-tunnel frame keys"). |k| is borrowed; the caller wipes it. */
int pt_frame_dir_init(pt_frame_dir *d, pt_aead_backend backend, const uint8_t k[32]);

/* pt_frame_dir_rekey replaces both keys with Noise Rekey() of themselves
 * (done by the sealer/opener right after a KEY_UPDATE frame). n continues. */
int pt_frame_dir_rekey(pt_frame_dir *d);

void pt_frame_dir_cleanup(pt_frame_dir *d);

/* ---- sealing ------------------------------------------------------------ */

/* pt_frame_seal_raw builds and encrypts one frame in |buf| (capacity |cap|):
 *   - the payload must already be at buf + PT_FRAME_PAYLOAD_OFFSET (if
 *     |payload| is NULL) or is copied from |payload| (memmove-safe);
 *   - |pad| holds |pad_len| padding bytes, or is NULL for CSPRNG bytes.
 * Sets |*wire_len| = PT_FRAME_OVERHEAD + payload_len + pad_len. After a
 * KEY_UPDATE frame the direction is rekeyed. Returns PT_ERR_OK,
 * PT_ERR_NOBUFS, PT_ERR_FRAME_SIZE (payload > PT_FRAME_MAX_PAYLOAD or pad >
 * 255), PT_ERR_INVAL (stream id > 24 bits or type unknown),
 * PT_ERR_NONCE_EXHAUSTED, PT_ERR_CRYPTO. */
int pt_frame_seal_raw(pt_frame_dir *d, uint8_t *buf, size_t cap, size_t *wire_len, uint8_t type,
                      uint32_t stream_id, const uint8_t *payload, size_t payload_len,
                      const uint8_t *pad, size_t pad_len);

/* pt_frame_seal is pt_frame_seal_raw with padding chosen by |policy| and
 * filled from the CSPRNG. */
int pt_frame_seal(pt_frame_dir *d, const pt_pad_policy *policy, uint8_t *buf, size_t cap,
                  size_t *wire_len, uint8_t type, uint32_t stream_id, const uint8_t *payload,
                  size_t payload_len);

/* ---- opening ------------------------------------------------------------ */

typedef struct pt_frame_opener {
    pt_frame_dir dir;
    int have_len;  /* the prefix of the frame at the head was decrypted */
    uint16_t len;  /* its value */
} pt_frame_opener;

int pt_frame_opener_init(pt_frame_opener *o, pt_aead_backend backend, const uint8_t k[32]);
void pt_frame_opener_cleanup(pt_frame_opener *o);

/* pt_frame_open decodes the frame at the head of |buf| (|len| bytes received
 * so far; |buf| is writable: the frame is decrypted in place). Results:
 *   PT_ERR_OK: |*consumed| wire bytes were used; |*hdr| is filled;
 *     |*payload| points to hdr->payload_len bytes inside |buf|. The frame is
 *     authenticated and its header and fixed-size payloads are valid
 *     (§6.3 rules: type known, stream-ID class, lengths).
 *   PT_ERR_AGAIN: more bytes are needed; |*consumed| is set to the total
 *     wire size of the head frame once the prefix is known, else to 2.
 *   PT_ERR_FRAME_SIZE: the length is impossible (< 23) or disagrees with
 *     the header; PT_ERR_DECRYPT: bad tag; PT_ERR_PROTO: unknown type, bad
 *     stream ID for the type, bad fixed payload length.
 * Every error is fatal for the session: the opener must not be used again.
 * Call again with the same head after PT_ERR_AGAIN. A KEY_UPDATE frame is
 * returned to the caller after the opener has rekeyed. */
int pt_frame_open(pt_frame_opener *o, uint8_t *buf, size_t len, size_t *consumed,
                  pt_frame_hdr *hdr, uint8_t **payload);

/* ---- fixed payloads (helpers for both directions) ------------------------ */

/* STREAM_CLOSE: empty (NO_ERROR: a half-close, like a FIN) or a 4-byte code
 * (an abort, like RST). pt_frame_close_code reads it from a payload already
 * validated by pt_frame_open. */
uint32_t pt_frame_close_code(const uint8_t *payload, size_t len);
/* WINDOW_UPDATE increment, GOAWAY fields: from validated payloads. */
uint32_t pt_frame_window_increment(const uint8_t *payload);
void pt_frame_goaway_fields(const uint8_t *payload, uint32_t *last_stream_id, uint32_t *code);
/* Builders: write the fixed payload into |out| (4 or 8 bytes). */
void pt_frame_put_u32(uint8_t out[4], uint32_t v);
void pt_frame_put_goaway(uint8_t out[8], uint32_t last_stream_id, uint32_t code);

#endif /* PT_CORE_FRAME_H */
