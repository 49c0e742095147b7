/* pt_noise.h — the Noise Protocol Framework (revision 34) IK pattern:
 * Noise_IK_25519_ChaChaPoly_SHA256 (what Phantom Tunnel uses) and
 * Noise_IK_25519_ChaChaPoly_BLAKE2b, optionally with the psk1 / psk2
 * modifiers (supported so the standard public vectors can all be checked).
 *
 * Built on libsodium only: X25519, ChaCha20-Poly1305 (IETF), SHA-256,
 * BLAKE2b. The core does no I/O: messages go in and come out as bytes.
 * Every secret held here is wiped with sodium_memzero by
 * pt_noise_handshake_cleanup() / pt_noise_cipher_cleanup(), on success and
 * on every error path.
 *
 * IK:
 *   <- s
 *   ...
 *   -> e, es, s, ss
 *   <- e, ee, se
 */
#ifndef PT_CORE_NOISE_H
#define PT_CORE_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define PT_NOISE_KEY_LEN 32      /* X25519 keys and cipher keys */
#define PT_NOISE_TAG_LEN 16      /* Poly1305 tag */
#define PT_NOISE_MAX_HASH_LEN 64 /* BLAKE2b; SHA-256 uses 32 */
#define PT_NOISE_MAX_MSG_LEN 65535

typedef enum pt_noise_hash {
    PT_NOISE_HASH_SHA256 = 0,
    PT_NOISE_HASH_BLAKE2B = 1,
} pt_noise_hash;

typedef enum pt_noise_role {
    PT_NOISE_INITIATOR = 0,
    PT_NOISE_RESPONDER = 1,
} pt_noise_role;

/* pt_noise_hash_len returns HASHLEN for |h| (32 or 64). */
size_t pt_noise_hash_len(pt_noise_hash h);

/* pt_noise_hkdf is Noise's HKDF(chaining_key, input_key_material, n) with
 * n = 2 or 3 outputs of HASHLEN bytes each (HMAC-HASH based, rev. 34 §4.3).
 * |ck| is HASHLEN bytes. |out3| may be NULL for two outputs. Each output
 * buffer must hold pt_noise_hash_len(h) bytes. */
void pt_noise_hkdf(pt_noise_hash h, const uint8_t *ck, const uint8_t *ikm, size_t ikm_len,
                   uint8_t *out1, uint8_t *out2, uint8_t *out3);

/* ---- CipherState (rev. 34 §5.1) ------------------------------------- */

typedef struct pt_noise_cipher {
    uint8_t k[PT_NOISE_KEY_LEN];
    uint64_t n;
    int has_key;
} pt_noise_cipher;

/* pt_noise_cipher_init sets key |k| (may be NULL: no key) and n = 0. */
void pt_noise_cipher_init(pt_noise_cipher *cs, const uint8_t *k);

/* pt_noise_cipher_encrypt writes |in_len| + 16 bytes to |out| (|out| may
 * equal |in|; |out_cap| must be at least that) and sets |*out_len|. Without
 * a key it copies the plaintext. Returns PT_ERR_OK, PT_ERR_NOBUFS, or
 * PT_ERR_NONCE_EXHAUSTED when n would reach 2^64-1. */
int pt_noise_cipher_encrypt(pt_noise_cipher *cs, uint8_t *out, size_t out_cap, size_t *out_len,
                            const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len);

/* pt_noise_cipher_decrypt is the inverse; returns PT_ERR_DECRYPT on a bad
 * tag (n is then not advanced), PT_ERR_FRAME_SIZE if |in_len| < 16. */
int pt_noise_cipher_decrypt(pt_noise_cipher *cs, uint8_t *out, size_t out_cap, size_t *out_len,
                            const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len);

/* pt_noise_cipher_rekey is Noise's Rekey(): k = first 32 bytes of
 * ENCRYPT(k, 2^64-1, "", zeros[32]). n is unchanged. */
void pt_noise_cipher_rekey(pt_noise_cipher *cs);

void pt_noise_cipher_cleanup(pt_noise_cipher *cs);

/* ---- HandshakeState for IK (rev. 34 §5.3) ----------------------------- */

typedef struct pt_noise_config {
    pt_noise_hash hash;
    /* psk modifier position: -1 for none (what Phantom Tunnel uses), or 1 / 2
     * for IKpsk1 / IKpsk2. */
    int psk_pos;
    const uint8_t *psk; /* 32 bytes when psk_pos >= 0 */
    const uint8_t *prologue;
    size_t prologue_len;
    const uint8_t *local_static_priv; /* 32 bytes, required */
    /* Initiator: the responder's static public key (pre-message <- s),
     * required. Responder: must be NULL. */
    const uint8_t *remote_static_pub;
    /* Tests and vectors only: a fixed ephemeral private key. NULL means a
     * fresh key from the CSPRNG (always, outside tests). */
    const uint8_t *fixed_ephemeral_priv;
} pt_noise_config;

typedef enum pt_noise_hs_state {
    PT_NOISE_HS_INIT_SEND,   /* initiator: next is create_init */
    PT_NOISE_HS_INIT_RECV,   /* responder: next is consume_init */
    PT_NOISE_HS_RESP_SEND,   /* responder: next is create_resp */
    PT_NOISE_HS_RESP_RECV,   /* initiator: next is consume_resp */
    PT_NOISE_HS_DONE,        /* split may be called */
    PT_NOISE_HS_FAILED,      /* an error happened; only cleanup is allowed */
} pt_noise_hs_state;

typedef struct pt_noise_handshake {
    pt_noise_hash hash;
    pt_noise_role role;
    pt_noise_hs_state state;
    int psk_pos;
    uint8_t psk[32];
    uint8_t ck[PT_NOISE_MAX_HASH_LEN];
    uint8_t h[PT_NOISE_MAX_HASH_LEN];
    pt_noise_cipher cs;
    uint8_t s_priv[32], s_pub[32];
    uint8_t e_priv[32], e_pub[32];
    uint8_t rs[32], re[32];
    int has_fixed_e;
    uint8_t fixed_e[32];
} pt_noise_handshake;

/* pt_noise_handshake_init prepares |hs| (caller-owned storage) for |role|.
 * Returns PT_ERR_OK or PT_ERR_INVAL (missing key, bad psk_pos). */
int pt_noise_handshake_init(pt_noise_handshake *hs, pt_noise_role role, const pt_noise_config *cfg);

/* pt_noise_handshake_create_init (initiator): -> e, es, s, ss, payload.
 * Writes 32 + 48 + payload_len + 16 bytes to |out|. */
int pt_noise_handshake_create_init(pt_noise_handshake *hs, uint8_t *out, size_t out_cap,
                                   size_t *out_len, const uint8_t *payload, size_t payload_len);

/* pt_noise_handshake_consume_init (responder): reads message 1, writes the
 * decrypted payload to |payload_out|. Afterwards the initiator's static
 * public key is available from pt_noise_handshake_remote_static(). Returns
 * PT_ERR_OK, PT_ERR_FRAME_SIZE (too short), PT_ERR_DECRYPT (bad tag: not
 * made for our key), PT_ERR_HANDSHAKE (low-order point), PT_ERR_NOBUFS. On
 * any error the state becomes PT_NOISE_HS_FAILED. */
int pt_noise_handshake_consume_init(pt_noise_handshake *hs, uint8_t *payload_out,
                                    size_t payload_cap, size_t *payload_len, const uint8_t *msg,
                                    size_t msg_len);

/* pt_noise_handshake_create_resp (responder): <- e, ee, se, payload.
 * Writes 32 + payload_len + 16 bytes. */
int pt_noise_handshake_create_resp(pt_noise_handshake *hs, uint8_t *out, size_t out_cap,
                                   size_t *out_len, const uint8_t *payload, size_t payload_len);

/* pt_noise_handshake_consume_resp (initiator): reads message 2. */
int pt_noise_handshake_consume_resp(pt_noise_handshake *hs, uint8_t *payload_out,
                                    size_t payload_cap, size_t *payload_len, const uint8_t *msg,
                                    size_t msg_len);

/* pt_noise_handshake_remote_static returns the peer's static public key
 * (32 bytes) once known, else NULL. Borrowed from |hs|. */
const uint8_t *pt_noise_handshake_remote_static(const pt_noise_handshake *hs);

/* pt_noise_handshake_split (state DONE only): Split() per rev. 34 §5.2.
 * Writes the two 32-byte transport keys: |k_send| is the one this side
 * encrypts with (c1 for the initiator, c2 for the responder), |k_recv| the
 * other. If |h_out| is non-NULL, writes the handshake hash (HASHLEN bytes)
 * and sets |*h_len|. The caller must wipe the keys after use. */
int pt_noise_handshake_split(pt_noise_handshake *hs, uint8_t k_send[32], uint8_t k_recv[32],
                             uint8_t *h_out, size_t *h_len);

/* pt_noise_handshake_cleanup wipes every secret in |hs|. */
void pt_noise_handshake_cleanup(pt_noise_handshake *hs);

/* pt_noise_keypair generates an X25519 key pair from the CSPRNG.
 * pt_noise_pubkey derives the public key of |priv|. Return PT_ERR_OK or
 * PT_ERR_CRYPTO. */
int pt_noise_keypair(uint8_t priv[32], uint8_t pub[32]);
int pt_noise_pubkey(uint8_t pub[32], const uint8_t priv[32]);

#endif /* PT_CORE_NOISE_H */
