/* pt_aead.h — ChaCha20-Poly1305 (RFC 8439, 12-byte nonce) for the frame
 * layer, from the faster of our two libraries.
 *
 * The same bytes come out of libsodium and BoringSSL; we pick per job by
 * measurement. At 16 KiB on one core BoringSSL's EVP_aead_chacha20_poly1305
 * ran at 1169 MB/s and libsodium 1.0.18's crypto_aead_chacha20poly1305_ietf
 * at 581 MB/s on the reference machine, and 2515 vs 1797 MB/s on this
 * project's CI machine (bench/bench_aead prints both). BoringSSL wins
 * everywhere, so bulk frames use it (PT_AEAD_BORINGSSL, the default); the
 * handshake keeps libsodium (pt_noise.c), where speed does not matter. Both
 * backends stay built so a test can prove they agree byte for byte.
 */
#ifndef PT_CORE_AEAD_H
#define PT_CORE_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/aead.h>

#define PT_AEAD_KEY_LEN 32
#define PT_AEAD_NONCE_LEN 12
#define PT_AEAD_TAG_LEN 16

typedef enum pt_aead_backend {
    PT_AEAD_BORINGSSL = 0, /* default: measured faster (1.4-2x) */
    PT_AEAD_SODIUM = 1,
} pt_aead_backend;

typedef struct pt_aead {
    pt_aead_backend backend;
    int ready;
    uint8_t key[PT_AEAD_KEY_LEN]; /* sodium backend; wiped on cleanup */
    EVP_AEAD_CTX ctx;             /* BoringSSL backend; no heap for ChaCha */
} pt_aead;

/* pt_aead_init keys |a| (caller storage). Returns PT_ERR_OK or PT_ERR_CRYPTO. */
int pt_aead_init(pt_aead *a, pt_aead_backend backend, const uint8_t key[PT_AEAD_KEY_LEN]);

/* pt_aead_seal encrypts |in_len| bytes of |in| into |out| (which may equal
 * |in| exactly) and appends the 16-byte tag: |out| receives in_len + 16
 * bytes. Returns PT_ERR_OK, PT_ERR_CRYPTO, or PT_ERR_STATE if |a| is not
 * keyed (never initialised, or cleaned up). */
int pt_aead_seal(pt_aead *a, uint8_t *out, const uint8_t nonce[PT_AEAD_NONCE_LEN],
                 const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len);

/* pt_aead_open checks and decrypts |in_len| >= 16 bytes (ciphertext || tag)
 * into |out| (may equal |in|), writing in_len - 16 bytes. Returns PT_ERR_OK,
 * PT_ERR_DECRYPT (on which |out| holds no plaintext), or PT_ERR_STATE. */
int pt_aead_open(pt_aead *a, uint8_t *out, const uint8_t nonce[PT_AEAD_NONCE_LEN],
                 const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len);

void pt_aead_cleanup(pt_aead *a);

/* pt_aead_nonce writes the Noise ChaChaPoly nonce for counter |n|: four zero
 * bytes, then |n| as 64-bit little-endian (Noise rev. 34 §12.3). */
void pt_aead_nonce(uint8_t nonce[PT_AEAD_NONCE_LEN], uint64_t n);

#endif /* PT_CORE_AEAD_H */
