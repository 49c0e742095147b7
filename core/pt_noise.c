/* pt_noise.c — Noise rev. 34 IK (25519, ChaChaPoly, SHA256 / BLAKE2b, with
 * optional psk1 / psk2) on libsodium; see pt_noise.h.
 *
 * Section numbers in comments refer to the Noise Protocol Framework,
 * revision 34 (2018-07-11).
 */
#include "pt_noise.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "pt_cbs.h"
#include "pt_err.h"

#define DH_LEN 32
#define MAX_BLOCK_LEN 128 /* BLAKE2b; SHA-256 uses 64 */

/* IK message sizes without payload: message 1 is e (32) + encrypted s
 * (32 + 16) + the payload's tag (16); message 2 is e (32) + the tag. */
#define MSG1_OVERHEAD (DH_LEN + DH_LEN + PT_NOISE_TAG_LEN + PT_NOISE_TAG_LEN)
#define MSG2_OVERHEAD (DH_LEN + PT_NOISE_TAG_LEN)

/* libsodium picks its implementations and seeds its RNG in sodium_init();
 * it is idempotent and thread-safe, so every entry point that may be the
 * first one to touch libsodium calls this. */
static int ensure_sodium(void)
{
    return sodium_init() < 0 ? PT_ERR_CRYPTO : PT_ERR_OK;
}

/* ---- HASH and HMAC-HASH (§4.3) ---------------------------------------- */

typedef union hash_ctx {
    crypto_hash_sha256_state sha256;
    crypto_generichash_blake2b_state blake2b;
} hash_ctx;

size_t pt_noise_hash_len(pt_noise_hash h)
{
    return h == PT_NOISE_HASH_BLAKE2B ? 64 : 32;
}

static size_t hash_block_len(pt_noise_hash h)
{
    return h == PT_NOISE_HASH_BLAKE2B ? 128 : 64;
}

static void hash_init(pt_noise_hash h, hash_ctx *ctx)
{
    if (h == PT_NOISE_HASH_BLAKE2B) {
        /* Unkeyed BLAKE2b-512: Noise's BLAKE2b hash function (§12.8). */
        crypto_generichash_blake2b_init(&ctx->blake2b, NULL, 0, 64);
    } else {
        crypto_hash_sha256_init(&ctx->sha256);
    }
}

static void hash_update(pt_noise_hash h, hash_ctx *ctx, const uint8_t *p, size_t len)
{
    if (len == 0) {
        return;
    }
    if (h == PT_NOISE_HASH_BLAKE2B) {
        crypto_generichash_blake2b_update(&ctx->blake2b, p, len);
    } else {
        crypto_hash_sha256_update(&ctx->sha256, p, len);
    }
}

static void hash_final(pt_noise_hash h, hash_ctx *ctx, uint8_t *out)
{
    if (h == PT_NOISE_HASH_BLAKE2B) {
        crypto_generichash_blake2b_final(&ctx->blake2b, out, 64);
    } else {
        crypto_hash_sha256_final(&ctx->sha256, out);
    }
    /* The context holds key-dependent state when hashing HMAC pads. */
    sodium_memzero(ctx, sizeof *ctx);
}

/* hash2 computes HASH(a || b). */
static void hash2(pt_noise_hash h, uint8_t *out, const uint8_t *a, size_t a_len,
                  const uint8_t *b, size_t b_len)
{
    hash_ctx ctx;
    hash_init(h, &ctx);
    hash_update(h, &ctx, a, a_len);
    hash_update(h, &ctx, b, b_len);
    hash_final(h, &ctx, out);
}

/* hmac computes HMAC-HASH(key, d1 || d2) per RFC 2104. This must be the
 * generic construction with ipad/opad even for BLAKE2b: Noise's HMAC-BLAKE2b
 * is not BLAKE2b's own keyed mode, and the two give different outputs. */
static void hmac(pt_noise_hash h, uint8_t *out, const uint8_t *key, size_t key_len,
                 const uint8_t *d1, size_t d1_len, const uint8_t *d2, size_t d2_len)
{
    size_t block_len = hash_block_len(h);
    size_t hash_len = pt_noise_hash_len(h);
    uint8_t k0[MAX_BLOCK_LEN] = {0};
    uint8_t pad[MAX_BLOCK_LEN];
    uint8_t inner[PT_NOISE_MAX_HASH_LEN];
    hash_ctx ctx;

    /* RFC 2104 §2: keys longer than a block are hashed first. Noise only
     * passes HASHLEN-byte keys, but keep the function general. */
    if (key_len > block_len) {
        hash2(h, k0, key, key_len, NULL, 0);
    } else if (key_len > 0) {
        memcpy(k0, key, key_len);
    }

    for (size_t i = 0; i < block_len; i++) {
        pad[i] = (uint8_t)(k0[i] ^ 0x36);
    }
    hash_init(h, &ctx);
    hash_update(h, &ctx, pad, block_len);
    hash_update(h, &ctx, d1, d1_len);
    hash_update(h, &ctx, d2, d2_len);
    hash_final(h, &ctx, inner);

    for (size_t i = 0; i < block_len; i++) {
        pad[i] = (uint8_t)(k0[i] ^ 0x5c);
    }
    hash_init(h, &ctx);
    hash_update(h, &ctx, pad, block_len);
    hash_update(h, &ctx, inner, hash_len);
    hash_final(h, &ctx, out);

    sodium_memzero(k0, sizeof k0);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner, sizeof inner);
}

void pt_noise_hkdf(pt_noise_hash h, const uint8_t *ck, const uint8_t *ikm, size_t ikm_len,
                   uint8_t *out1, uint8_t *out2, uint8_t *out3)
{
    static const uint8_t one = 0x01, two = 0x02, three = 0x03;
    size_t hash_len = pt_noise_hash_len(h);
    uint8_t temp_key[PT_NOISE_MAX_HASH_LEN];
    uint8_t o1[PT_NOISE_MAX_HASH_LEN], o2[PT_NOISE_MAX_HASH_LEN], o3[PT_NOISE_MAX_HASH_LEN];

    /* §4.3. Outputs go to locals first so that |out1| may alias |ck| (as in
     * MixKey: ck, temp_k = HKDF(ck, ...)). */
    hmac(h, temp_key, ck, hash_len, ikm, ikm_len, NULL, 0);
    hmac(h, o1, temp_key, hash_len, &one, 1, NULL, 0);
    hmac(h, o2, temp_key, hash_len, o1, hash_len, &two, 1);
    if (out3 != NULL) {
        hmac(h, o3, temp_key, hash_len, o2, hash_len, &three, 1);
    }

    memcpy(out1, o1, hash_len);
    memcpy(out2, o2, hash_len);
    if (out3 != NULL) {
        memcpy(out3, o3, hash_len);
    }
    sodium_memzero(temp_key, sizeof temp_key);
    sodium_memzero(o1, sizeof o1);
    sodium_memzero(o2, sizeof o2);
    sodium_memzero(o3, sizeof o3);
}

/* ---- CipherState (§5.1) ------------------------------------------------ */

/* has_key after pt_noise_cipher_cleanup(). A wiped cipher must not fall
 * back to Noise's "no key: pass the plaintext through" rule, so it gets a
 * value of its own and every operation on it fails with PT_ERR_STATE. */
#define CIPHER_WIPED (-1)

/* Noise rev. 34 §4 (25519 / ChaChaPoly): a 64-bit counter n, encoded as
 * 32 bits of zeros followed by little-endian n, is the 96-bit IETF nonce. */
static void make_nonce(uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES], uint64_t n)
{
    memset(nonce, 0, 4);
    for (size_t i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

/* cipher_set is InitializeKey(k) (§5.1); internal users skip the
 * sodium_init() call, which takes a lock. */
static void cipher_set(pt_noise_cipher *cs, const uint8_t *k)
{
    sodium_memzero(cs, sizeof *cs);
    if (k != NULL) {
        memcpy(cs->k, k, PT_NOISE_KEY_LEN);
        cs->has_key = 1;
    }
    cs->n = 0;
}

void pt_noise_cipher_init(pt_noise_cipher *cs, const uint8_t *k)
{
    if (cs == NULL) {
        return;
    }
    /* The cipher itself would run without it, but sodium_init() must have
     * run before a caller's first randombytes or optimised primitive. */
    (void)ensure_sodium();
    cipher_set(cs, k);
}

/* Without a key Noise passes bytes through (EncryptWithAd / DecryptWithAd,
 * §5.1); memmove because |out| may equal |in|. */
static int cipher_copy(uint8_t *out, size_t out_cap, size_t *out_len, const uint8_t *in,
                       size_t in_len)
{
    if (out_cap < in_len) {
        return PT_ERR_NOBUFS;
    }
    if (in_len > 0 && out != in) {
        memmove(out, in, in_len);
    }
    *out_len = in_len;
    return PT_ERR_OK;
}

int pt_noise_cipher_encrypt(pt_noise_cipher *cs, uint8_t *out, size_t out_cap, size_t *out_len,
                            const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    unsigned long long clen = 0;

    if (out_len != NULL) {
        *out_len = 0;
    }
    if (cs == NULL || out_len == NULL || (in == NULL && in_len > 0) ||
        (ad == NULL && ad_len > 0) || (out == NULL && out_cap > 0)) {
        return PT_ERR_INVAL;
    }
    if (cs->has_key == CIPHER_WIPED) {
        return PT_ERR_STATE;
    }
    /* §3: no Noise message exceeds 65535 bytes. */
    if (in_len > PT_NOISE_MAX_MSG_LEN - PT_NOISE_TAG_LEN) {
        return PT_ERR_FRAME_SIZE;
    }
    if (!cs->has_key) {
        return cipher_copy(out, out_cap, out_len, in, in_len);
    }
    /* §5.1: n = 2^64-1 is reserved for Rekey(). Refuse the message that
     * would leave n there, so a CipherState never reaches it. */
    if (cs->n >= UINT64_MAX - 1) {
        return PT_ERR_NONCE_EXHAUSTED;
    }
    if (out_cap < in_len + PT_NOISE_TAG_LEN) {
        return PT_ERR_NOBUFS;
    }
    make_nonce(nonce, cs->n);
    /* libsodium allows the ciphertext to overlap the plaintext exactly. */
    if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, in_len, ad, ad_len, NULL, nonce,
                                                  cs->k) != 0) {
        return PT_ERR_CRYPTO;
    }
    cs->n++;
    *out_len = (size_t)clen;
    return PT_ERR_OK;
}

int pt_noise_cipher_decrypt(pt_noise_cipher *cs, uint8_t *out, size_t out_cap, size_t *out_len,
                            const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    unsigned long long mlen = 0;

    if (out_len != NULL) {
        *out_len = 0;
    }
    if (cs == NULL || out_len == NULL || (in == NULL && in_len > 0) ||
        (ad == NULL && ad_len > 0) || (out == NULL && out_cap > 0)) {
        return PT_ERR_INVAL;
    }
    if (cs->has_key == CIPHER_WIPED) {
        return PT_ERR_STATE;
    }
    if (in_len > PT_NOISE_MAX_MSG_LEN) {
        return PT_ERR_FRAME_SIZE;
    }
    if (!cs->has_key) {
        return cipher_copy(out, out_cap, out_len, in, in_len);
    }
    if (cs->n >= UINT64_MAX - 1) {
        return PT_ERR_NONCE_EXHAUSTED;
    }
    if (in_len < PT_NOISE_TAG_LEN) {
        return PT_ERR_FRAME_SIZE;
    }
    if (out_cap < in_len - PT_NOISE_TAG_LEN) {
        return PT_ERR_NOBUFS;
    }
    make_nonce(nonce, cs->n);
    /* libsodium checks the tag before it writes any plaintext (and zeroes
     * |out| on failure), so a forged message never leaks unauthenticated
     * bytes; n only moves on success (§5.1: a failed decrypt must not). */
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, in_len, ad, ad_len, nonce,
                                                  cs->k) != 0) {
        return PT_ERR_DECRYPT;
    }
    cs->n++;
    *out_len = (size_t)mlen;
    return PT_ERR_OK;
}

void pt_noise_cipher_rekey(pt_noise_cipher *cs)
{
    static const uint8_t zeros[PT_NOISE_KEY_LEN] = {0};
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    uint8_t tmp[PT_NOISE_KEY_LEN + PT_NOISE_TAG_LEN];
    unsigned long long tmp_len = 0;

    if (cs == NULL || cs->has_key != 1) {
        return;
    }
    /* §4.2: REKEY(k) = first 32 bytes of ENCRYPT(k, maxnonce, zerolen, zeros). */
    make_nonce(nonce, UINT64_MAX);
    if (crypto_aead_chacha20poly1305_ietf_encrypt(tmp, &tmp_len, zeros, sizeof zeros, NULL, 0,
                                                  NULL, nonce, cs->k) == 0) {
        memcpy(cs->k, tmp, PT_NOISE_KEY_LEN);
    }
    sodium_memzero(tmp, sizeof tmp);
}

void pt_noise_cipher_cleanup(pt_noise_cipher *cs)
{
    if (cs == NULL) {
        return;
    }
    sodium_memzero(cs, sizeof *cs);
    cs->has_key = CIPHER_WIPED;
}

/* ---- SymmetricState (§5.2) --------------------------------------------- */

static void mix_hash(pt_noise_handshake *hs, const uint8_t *data, size_t len)
{
    hash2(hs->hash, hs->h, hs->h, pt_noise_hash_len(hs->hash), data, len);
}

static void mix_key(pt_noise_handshake *hs, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t temp_k[PT_NOISE_MAX_HASH_LEN];

    pt_noise_hkdf(hs->hash, hs->ck, ikm, ikm_len, hs->ck, temp_k, NULL);
    /* HASHLEN 64 (BLAKE2b): temp_k is truncated to 32 bytes. */
    cipher_set(&hs->cs, temp_k);
    sodium_memzero(temp_k, sizeof temp_k);
}

static void mix_key_and_hash(pt_noise_handshake *hs, const uint8_t *ikm, size_t ikm_len)
{
    uint8_t temp_h[PT_NOISE_MAX_HASH_LEN];
    uint8_t temp_k[PT_NOISE_MAX_HASH_LEN];

    pt_noise_hkdf(hs->hash, hs->ck, ikm, ikm_len, hs->ck, temp_h, temp_k);
    mix_hash(hs, temp_h, pt_noise_hash_len(hs->hash));
    cipher_set(&hs->cs, temp_k);
    sodium_memzero(temp_h, sizeof temp_h);
    sodium_memzero(temp_k, sizeof temp_k);
}

/* encrypt_and_hash writes ENCRYPT(k, n, h, in) to |out| (capacity
 * |out_cap|) and mixes the ciphertext into h. */
static int encrypt_and_hash(pt_noise_handshake *hs, uint8_t *out, size_t out_cap,
                            const uint8_t *in, size_t in_len)
{
    size_t out_len = 0;
    int rc = pt_noise_cipher_encrypt(&hs->cs, out, out_cap, &out_len, hs->h,
                                     pt_noise_hash_len(hs->hash), in, in_len);
    if (rc != PT_ERR_OK) {
        return rc;
    }
    mix_hash(hs, out, out_len);
    return PT_ERR_OK;
}

/* decrypt_and_hash is the inverse. The next h is computed from the
 * ciphertext before decrypting, because |out| may overlap |in|; it is kept
 * only if the tag verifies. */
static int decrypt_and_hash(pt_noise_handshake *hs, uint8_t *out, size_t out_cap, size_t *out_len,
                            const uint8_t *in, size_t in_len)
{
    size_t hash_len = pt_noise_hash_len(hs->hash);
    uint8_t next_h[PT_NOISE_MAX_HASH_LEN];
    int rc;

    hash2(hs->hash, next_h, hs->h, hash_len, in, in_len);
    rc = pt_noise_cipher_decrypt(&hs->cs, out, out_cap, out_len, hs->h, hash_len, in, in_len);
    if (rc == PT_ERR_OK) {
        memcpy(hs->h, next_h, hash_len);
    }
    sodium_memzero(next_h, sizeof next_h);
    return rc;
}

/* ---- DH (§4.1, §12.1) -------------------------------------------------- */

/* mix_dh does MixKey(DH(priv, pub)). An all-zero result means |pub| was a
 * low-order point: the peer chose it to force a known shared secret. */
static int mix_dh(pt_noise_handshake *hs, const uint8_t priv[DH_LEN], const uint8_t pub[DH_LEN])
{
    uint8_t shared[DH_LEN];
    int rc = PT_ERR_OK;

    /* crypto_scalarmult_curve25519 already fails on an all-zero output;
     * sodium_is_zero is the belt to its braces. */
    if (crypto_scalarmult_curve25519(shared, priv, pub) != 0 || sodium_is_zero(shared, DH_LEN)) {
        rc = PT_ERR_HANDSHAKE;
        goto out;
    }
    mix_key(hs, shared, DH_LEN);
out:
    sodium_memzero(shared, sizeof shared);
    return rc;
}

/* gen_ephemeral fills e_priv / e_pub: from the CSPRNG, or the fixed key a
 * test supplied. */
static int gen_ephemeral(pt_noise_handshake *hs)
{
    if (hs->has_fixed_e) {
        memcpy(hs->e_priv, hs->fixed_e, DH_LEN);
    } else {
        randombytes_buf(hs->e_priv, DH_LEN);
    }
    /* X25519 clamps the scalar itself (§12.1), so raw random bytes are a
     * valid private key. */
    if (crypto_scalarmult_curve25519_base(hs->e_pub, hs->e_priv) != 0) {
        return PT_ERR_CRYPTO;
    }
    return PT_ERR_OK;
}

/* ---- HandshakeState (§5.3) --------------------------------------------- */

/* fail wipes every secret and leaves |hs| in FAILED, where every operation
 * but cleanup is refused. */
static void fail(pt_noise_handshake *hs)
{
    pt_noise_hash hash = hs->hash;
    pt_noise_role role = hs->role;
    int psk_pos = hs->psk_pos;

    sodium_memzero(hs, sizeof *hs);
    hs->hash = hash;
    hs->role = role;
    hs->psk_pos = psk_pos;
    hs->cs.has_key = CIPHER_WIPED;
    hs->state = PT_NOISE_HS_FAILED;
}

/* done forgets what the transport phase does not need: only ck (for Split)
 * and h (the channel binding) stay. */
static void done(pt_noise_handshake *hs)
{
    sodium_memzero(hs->e_priv, sizeof hs->e_priv);
    sodium_memzero(hs->s_priv, sizeof hs->s_priv);
    sodium_memzero(hs->psk, sizeof hs->psk);
    sodium_memzero(hs->fixed_e, sizeof hs->fixed_e);
    pt_noise_cipher_cleanup(&hs->cs);
    hs->state = PT_NOISE_HS_DONE;
}

int pt_noise_handshake_init(pt_noise_handshake *hs, pt_noise_role role, const pt_noise_config *cfg)
{
    char name[64];
    size_t hash_len;
    int n;
    int rc;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    sodium_memzero(hs, sizeof *hs);
    hs->role = role;
    if (cfg == NULL || (role != PT_NOISE_INITIATOR && role != PT_NOISE_RESPONDER) ||
        (cfg->hash != PT_NOISE_HASH_SHA256 && cfg->hash != PT_NOISE_HASH_BLAKE2B) ||
        (cfg->psk_pos != -1 && cfg->psk_pos != 1 && cfg->psk_pos != 2) ||
        (cfg->psk_pos >= 0 && cfg->psk == NULL) || cfg->local_static_priv == NULL ||
        (cfg->prologue == NULL && cfg->prologue_len > 0) ||
        (role == PT_NOISE_INITIATOR && cfg->remote_static_pub == NULL) ||
        (role == PT_NOISE_RESPONDER && cfg->remote_static_pub != NULL)) {
        rc = PT_ERR_INVAL;
        goto out;
    }
    rc = ensure_sodium();
    if (rc != PT_ERR_OK) {
        goto out;
    }
    hs->hash = cfg->hash;
    hs->psk_pos = cfg->psk_pos;
    hash_len = pt_noise_hash_len(hs->hash);

    memcpy(hs->s_priv, cfg->local_static_priv, DH_LEN);
    if (crypto_scalarmult_curve25519_base(hs->s_pub, hs->s_priv) != 0) {
        rc = PT_ERR_CRYPTO;
        goto out;
    }
    if (cfg->psk_pos >= 0) {
        memcpy(hs->psk, cfg->psk, sizeof hs->psk);
    }
    if (cfg->fixed_ephemeral_priv != NULL) {
        memcpy(hs->fixed_e, cfg->fixed_ephemeral_priv, DH_LEN);
        hs->has_fixed_e = 1;
    }

    /* §5.2 InitializeSymmetric(protocol_name), §8.2 for the psk names. */
    n = snprintf(name, sizeof name, "Noise_IK%s_25519_ChaChaPoly_%s",
                 hs->psk_pos == 1 ? "psk1" : hs->psk_pos == 2 ? "psk2" : "",
                 hs->hash == PT_NOISE_HASH_BLAKE2B ? "BLAKE2b" : "SHA256");
    if (n < 0 || (size_t)n >= sizeof name) {
        rc = PT_ERR_CRYPTO; /* cannot happen: the name is at most 37 bytes */
        goto out;
    }
    if ((size_t)n <= hash_len) {
        memcpy(hs->h, name, (size_t)n); /* rest of h is already zero */
    } else {
        hash2(hs->hash, hs->h, (const uint8_t *)name, (size_t)n, NULL, 0);
    }
    memcpy(hs->ck, hs->h, hash_len);
    cipher_set(&hs->cs, NULL);

    mix_hash(hs, cfg->prologue, cfg->prologue_len);

    /* Pre-message pattern: <- s */
    if (role == PT_NOISE_INITIATOR) {
        memcpy(hs->rs, cfg->remote_static_pub, DH_LEN);
        mix_hash(hs, hs->rs, DH_LEN);
        hs->state = PT_NOISE_HS_INIT_SEND;
    } else {
        mix_hash(hs, hs->s_pub, DH_LEN);
        hs->state = PT_NOISE_HS_INIT_RECV;
    }
    rc = PT_ERR_OK;
out:
    if (rc != PT_ERR_OK) {
        fail(hs);
    }
    return rc;
}

/* check_create / check_consume validate what the message functions are
 * given. All size checks come before anything is written or computed, so a
 * too-small buffer is never written at all. */
static int check_create(const pt_noise_handshake *hs, pt_noise_role role, pt_noise_hs_state state,
                        const uint8_t *out, size_t out_cap, const size_t *out_len,
                        const uint8_t *payload, size_t payload_len, size_t overhead)
{
    if (out_len == NULL || (out == NULL && out_cap > 0) || (payload == NULL && payload_len > 0)) {
        return PT_ERR_INVAL;
    }
    if (hs->role != role || hs->state != state) {
        return PT_ERR_STATE;
    }
    if (payload_len > PT_NOISE_MAX_MSG_LEN - overhead) {
        return PT_ERR_FRAME_SIZE;
    }
    if (out_cap < overhead + payload_len) {
        return PT_ERR_NOBUFS;
    }
    return PT_ERR_OK;
}

static int check_consume(const pt_noise_handshake *hs, pt_noise_role role,
                         pt_noise_hs_state state, const uint8_t *payload_out, size_t payload_cap,
                         const size_t *payload_len, const uint8_t *msg, size_t msg_len,
                         size_t overhead)
{
    if (payload_len == NULL || (payload_out == NULL && payload_cap > 0) ||
        (msg == NULL && msg_len > 0)) {
        return PT_ERR_INVAL;
    }
    if (hs->role != role || hs->state != state) {
        return PT_ERR_STATE;
    }
    if (msg_len < overhead || msg_len > PT_NOISE_MAX_MSG_LEN) {
        return PT_ERR_FRAME_SIZE;
    }
    if (payload_cap < msg_len - overhead) {
        return PT_ERR_NOBUFS;
    }
    return PT_ERR_OK;
}

int pt_noise_handshake_create_init(pt_noise_handshake *hs, uint8_t *out, size_t out_cap,
                                   size_t *out_len, const uint8_t *payload, size_t payload_len)
{
    pt_cbb b;
    uint8_t *p;
    int rc;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    pt_cbb_init(&b, out, out_cap);
    if (out_len != NULL) {
        *out_len = 0;
    }
    rc = check_create(hs, PT_NOISE_INITIATOR, PT_NOISE_HS_INIT_SEND, out, out_cap, out_len,
                      payload, payload_len, MSG1_OVERHEAD);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> e */
    rc = gen_ephemeral(hs);
    if (rc != PT_ERR_OK || (p = pt_cbb_reserve(&b, DH_LEN)) == NULL) {
        rc = rc != PT_ERR_OK ? rc : PT_ERR_NOBUFS;
        goto out;
    }
    memcpy(p, hs->e_pub, DH_LEN);
    mix_hash(hs, hs->e_pub, DH_LEN);
    if (hs->psk_pos >= 0) {
        /* §9.2: with a psk, "e" also calls MixKey(e.public_key). */
        mix_key(hs, hs->e_pub, DH_LEN);
    }

    /* -> es */
    rc = mix_dh(hs, hs->e_priv, hs->rs);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> s */
    if ((p = pt_cbb_reserve(&b, DH_LEN + PT_NOISE_TAG_LEN)) == NULL) {
        rc = PT_ERR_NOBUFS;
        goto out;
    }
    rc = encrypt_and_hash(hs, p, DH_LEN + PT_NOISE_TAG_LEN, hs->s_pub, DH_LEN);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> ss */
    rc = mix_dh(hs, hs->s_priv, hs->rs);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> psk (IKpsk1) */
    if (hs->psk_pos == 1) {
        mix_key_and_hash(hs, hs->psk, sizeof hs->psk);
    }

    /* -> payload */
    if ((p = pt_cbb_reserve(&b, payload_len + PT_NOISE_TAG_LEN)) == NULL) {
        rc = PT_ERR_NOBUFS;
        goto out;
    }
    rc = encrypt_and_hash(hs, p, payload_len + PT_NOISE_TAG_LEN, payload, payload_len);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    *out_len = b.len;
    hs->state = PT_NOISE_HS_RESP_RECV;
out:
    if (rc != PT_ERR_OK) {
        /* Never leave half a message that a caller could send by mistake. */
        if (b.len > 0) {
            sodium_memzero(out, b.len);
        }
        fail(hs);
    }
    return rc;
}

int pt_noise_handshake_consume_init(pt_noise_handshake *hs, uint8_t *payload_out,
                                    size_t payload_cap, size_t *payload_len, const uint8_t *msg,
                                    size_t msg_len)
{
    pt_cbs c, enc_s, enc_payload;
    size_t s_len = 0;
    int rc;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    if (payload_len != NULL) {
        *payload_len = 0;
    }
    rc = check_consume(hs, PT_NOISE_RESPONDER, PT_NOISE_HS_INIT_RECV, payload_out, payload_cap,
                       payload_len, msg, msg_len, MSG1_OVERHEAD);
    if (rc != PT_ERR_OK) {
        goto out;
    }
    pt_cbs_init(&c, msg, msg_len);

    /* -> e */
    if (!pt_cbs_copy_bytes(&c, hs->re, DH_LEN)) {
        rc = PT_ERR_FRAME_SIZE;
        goto out;
    }
    mix_hash(hs, hs->re, DH_LEN);
    if (hs->psk_pos >= 0) {
        mix_key(hs, hs->re, DH_LEN);
    }

    /* -> es */
    rc = mix_dh(hs, hs->s_priv, hs->re);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> s */
    if (!pt_cbs_get_bytes(&c, &enc_s, DH_LEN + PT_NOISE_TAG_LEN)) {
        rc = PT_ERR_FRAME_SIZE;
        goto out;
    }
    rc = decrypt_and_hash(hs, hs->rs, sizeof hs->rs, &s_len, pt_cbs_data(&enc_s),
                          pt_cbs_len(&enc_s));
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> ss */
    rc = mix_dh(hs, hs->s_priv, hs->rs);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* -> psk (IKpsk1) */
    if (hs->psk_pos == 1) {
        mix_key_and_hash(hs, hs->psk, sizeof hs->psk);
    }

    /* -> payload: the rest of the message */
    if (!pt_cbs_get_bytes(&c, &enc_payload, pt_cbs_len(&c))) {
        rc = PT_ERR_FRAME_SIZE;
        goto out;
    }
    rc = decrypt_and_hash(hs, payload_out, payload_cap, payload_len, pt_cbs_data(&enc_payload),
                          pt_cbs_len(&enc_payload));
    if (rc != PT_ERR_OK) {
        goto out;
    }
    hs->state = PT_NOISE_HS_RESP_SEND;
out:
    if (rc != PT_ERR_OK) {
        if (payload_len != NULL) {
            *payload_len = 0;
        }
        fail(hs);
    }
    return rc;
}

int pt_noise_handshake_create_resp(pt_noise_handshake *hs, uint8_t *out, size_t out_cap,
                                   size_t *out_len, const uint8_t *payload, size_t payload_len)
{
    pt_cbb b;
    uint8_t *p;
    int rc;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    pt_cbb_init(&b, out, out_cap);
    if (out_len != NULL) {
        *out_len = 0;
    }
    rc = check_create(hs, PT_NOISE_RESPONDER, PT_NOISE_HS_RESP_SEND, out, out_cap, out_len,
                      payload, payload_len, MSG2_OVERHEAD);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* <- e */
    rc = gen_ephemeral(hs);
    if (rc != PT_ERR_OK || (p = pt_cbb_reserve(&b, DH_LEN)) == NULL) {
        rc = rc != PT_ERR_OK ? rc : PT_ERR_NOBUFS;
        goto out;
    }
    memcpy(p, hs->e_pub, DH_LEN);
    mix_hash(hs, hs->e_pub, DH_LEN);
    if (hs->psk_pos >= 0) {
        mix_key(hs, hs->e_pub, DH_LEN);
    }

    /* <- ee */
    rc = mix_dh(hs, hs->e_priv, hs->re);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* <- se (responder side: DH(e, rs)) */
    rc = mix_dh(hs, hs->e_priv, hs->rs);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* <- psk (IKpsk2) */
    if (hs->psk_pos == 2) {
        mix_key_and_hash(hs, hs->psk, sizeof hs->psk);
    }

    /* <- payload */
    if ((p = pt_cbb_reserve(&b, payload_len + PT_NOISE_TAG_LEN)) == NULL) {
        rc = PT_ERR_NOBUFS;
        goto out;
    }
    rc = encrypt_and_hash(hs, p, payload_len + PT_NOISE_TAG_LEN, payload, payload_len);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    *out_len = b.len;
    done(hs);
out:
    if (rc != PT_ERR_OK) {
        if (b.len > 0) {
            sodium_memzero(out, b.len);
        }
        fail(hs);
    }
    return rc;
}

int pt_noise_handshake_consume_resp(pt_noise_handshake *hs, uint8_t *payload_out,
                                    size_t payload_cap, size_t *payload_len, const uint8_t *msg,
                                    size_t msg_len)
{
    pt_cbs c, enc_payload;
    int rc;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    if (payload_len != NULL) {
        *payload_len = 0;
    }
    rc = check_consume(hs, PT_NOISE_INITIATOR, PT_NOISE_HS_RESP_RECV, payload_out, payload_cap,
                       payload_len, msg, msg_len, MSG2_OVERHEAD);
    if (rc != PT_ERR_OK) {
        goto out;
    }
    pt_cbs_init(&c, msg, msg_len);

    /* <- e */
    if (!pt_cbs_copy_bytes(&c, hs->re, DH_LEN)) {
        rc = PT_ERR_FRAME_SIZE;
        goto out;
    }
    mix_hash(hs, hs->re, DH_LEN);
    if (hs->psk_pos >= 0) {
        mix_key(hs, hs->re, DH_LEN);
    }

    /* <- ee */
    rc = mix_dh(hs, hs->e_priv, hs->re);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* <- se (initiator side: DH(s, re)) */
    rc = mix_dh(hs, hs->s_priv, hs->re);
    if (rc != PT_ERR_OK) {
        goto out;
    }

    /* <- psk (IKpsk2) */
    if (hs->psk_pos == 2) {
        mix_key_and_hash(hs, hs->psk, sizeof hs->psk);
    }

    /* <- payload: the rest of the message */
    if (!pt_cbs_get_bytes(&c, &enc_payload, pt_cbs_len(&c))) {
        rc = PT_ERR_FRAME_SIZE;
        goto out;
    }
    rc = decrypt_and_hash(hs, payload_out, payload_cap, payload_len, pt_cbs_data(&enc_payload),
                          pt_cbs_len(&enc_payload));
    if (rc != PT_ERR_OK) {
        goto out;
    }
    done(hs);
out:
    if (rc != PT_ERR_OK) {
        if (payload_len != NULL) {
            *payload_len = 0;
        }
        fail(hs);
    }
    return rc;
}

const uint8_t *pt_noise_handshake_remote_static(const pt_noise_handshake *hs)
{
    if (hs == NULL || hs->state == PT_NOISE_HS_FAILED) {
        return NULL;
    }
    /* The initiator knows rs from the start (<- s); the responder only once
     * message 1 has authenticated it. */
    if (hs->role == PT_NOISE_INITIATOR || hs->state == PT_NOISE_HS_RESP_SEND ||
        hs->state == PT_NOISE_HS_DONE) {
        return hs->rs;
    }
    return NULL;
}

int pt_noise_handshake_split(pt_noise_handshake *hs, uint8_t k_send[32], uint8_t k_recv[32],
                             uint8_t *h_out, size_t *h_len)
{
    uint8_t temp_k1[PT_NOISE_MAX_HASH_LEN], temp_k2[PT_NOISE_MAX_HASH_LEN];
    size_t hash_len;

    if (hs == NULL) {
        return PT_ERR_INVAL;
    }
    if (k_send == NULL || k_recv == NULL) {
        fail(hs);
        return PT_ERR_INVAL;
    }
    if (hs->state != PT_NOISE_HS_DONE) {
        fail(hs);
        return PT_ERR_STATE;
    }
    hash_len = pt_noise_hash_len(hs->hash);

    /* §5.2 Split(): temp_k1, temp_k2 = HKDF(ck, zerolen, 2), each truncated
     * to 32 bytes. c1 is initiator -> responder, c2 the other way. */
    pt_noise_hkdf(hs->hash, hs->ck, NULL, 0, temp_k1, temp_k2, NULL);
    if (hs->role == PT_NOISE_INITIATOR) {
        memcpy(k_send, temp_k1, PT_NOISE_KEY_LEN);
        memcpy(k_recv, temp_k2, PT_NOISE_KEY_LEN);
    } else {
        memcpy(k_send, temp_k2, PT_NOISE_KEY_LEN);
        memcpy(k_recv, temp_k1, PT_NOISE_KEY_LEN);
    }
    if (h_out != NULL) {
        memcpy(h_out, hs->h, hash_len);
        if (h_len != NULL) {
            *h_len = hash_len;
        }
    }
    sodium_memzero(temp_k1, sizeof temp_k1);
    sodium_memzero(temp_k2, sizeof temp_k2);
    return PT_ERR_OK;
}

void pt_noise_handshake_cleanup(pt_noise_handshake *hs)
{
    if (hs == NULL) {
        return;
    }
    sodium_memzero(hs, sizeof *hs);
    /* All-zero would read as a fresh initiator with keys of zeros. */
    hs->cs.has_key = CIPHER_WIPED;
    hs->state = PT_NOISE_HS_FAILED;
}

int pt_noise_keypair(uint8_t priv[32], uint8_t pub[32])
{
    if (priv == NULL || pub == NULL) {
        return PT_ERR_INVAL;
    }
    if (ensure_sodium() != PT_ERR_OK) {
        return PT_ERR_CRYPTO;
    }
    randombytes_buf(priv, 32);
    if (pt_noise_pubkey(pub, priv) != PT_ERR_OK) {
        sodium_memzero(priv, 32);
        return PT_ERR_CRYPTO;
    }
    return PT_ERR_OK;
}

int pt_noise_pubkey(uint8_t pub[32], const uint8_t priv[32])
{
    if (priv == NULL || pub == NULL) {
        return PT_ERR_INVAL;
    }
    if (ensure_sodium() != PT_ERR_OK) {
        return PT_ERR_CRYPTO;
    }
    /* X25519 clamps the scalar (§12.1), so any 32 bytes are a private key. */
    if (crypto_scalarmult_curve25519_base(pub, priv) != 0) {
        sodium_memzero(pub, 32);
        return PT_ERR_CRYPTO;
    }
    return PT_ERR_OK;
}
