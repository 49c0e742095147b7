/* pt_aead.c — see pt_aead.h for why two backends and which one is used. */
#include "pt_aead.h"

#include <sodium.h>
#include <string.h>

#include "pt_err.h"

void pt_aead_nonce(uint8_t nonce[PT_AEAD_NONCE_LEN], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++) {
        nonce[4 + i] = (uint8_t)(n >> (8 * i));
    }
}

int pt_aead_init(pt_aead *a, pt_aead_backend backend, const uint8_t key[PT_AEAD_KEY_LEN])
{
    memset(a, 0, sizeof(*a));
    a->backend = backend;
    if (backend == PT_AEAD_SODIUM) {
        if (sodium_init() < 0) {
            return PT_ERR_CRYPTO;
        }
        memcpy(a->key, key, PT_AEAD_KEY_LEN);
    } else if (!EVP_AEAD_CTX_init(&a->ctx, EVP_aead_chacha20_poly1305(), key, PT_AEAD_KEY_LEN,
                                  PT_AEAD_TAG_LEN, NULL)) {
        return PT_ERR_CRYPTO;
    }
    a->ready = 1;
    return PT_ERR_OK;
}

int pt_aead_seal(pt_aead *a, uint8_t *out, const uint8_t nonce[PT_AEAD_NONCE_LEN],
                 const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len)
{
    if (!a->ready) {
        return PT_ERR_STATE;
    }
    if (a->backend == PT_AEAD_SODIUM) {
        unsigned long long clen = 0;
        if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, in_len, ad, ad_len, NULL,
                                                      nonce, a->key) != 0) {
            return PT_ERR_CRYPTO;
        }
        return PT_ERR_OK;
    }
    size_t out_len = 0;
    if (!EVP_AEAD_CTX_seal(&a->ctx, out, &out_len, in_len + PT_AEAD_TAG_LEN, nonce,
                           PT_AEAD_NONCE_LEN, in, in_len, ad, ad_len)) {
        return PT_ERR_CRYPTO;
    }
    return PT_ERR_OK;
}

int pt_aead_open(pt_aead *a, uint8_t *out, const uint8_t nonce[PT_AEAD_NONCE_LEN],
                 const uint8_t *ad, size_t ad_len, const uint8_t *in, size_t in_len)
{
    if (!a->ready) {
        return PT_ERR_STATE;
    }
    if (in_len < PT_AEAD_TAG_LEN) {
        return PT_ERR_DECRYPT;
    }
    if (a->backend == PT_AEAD_SODIUM) {
        unsigned long long mlen = 0;
        if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &mlen, NULL, in, in_len, ad, ad_len,
                                                      nonce, a->key) != 0) {
            return PT_ERR_DECRYPT;
        }
        return PT_ERR_OK;
    }
    size_t out_len = 0;
    if (!EVP_AEAD_CTX_open(&a->ctx, out, &out_len, in_len - PT_AEAD_TAG_LEN, nonce,
                           PT_AEAD_NONCE_LEN, in, in_len, ad, ad_len)) {
        return PT_ERR_DECRYPT;
    }
    return PT_ERR_OK;
}

void pt_aead_cleanup(pt_aead *a)
{
    if (a->ready && a->backend == PT_AEAD_BORINGSSL) {
        EVP_AEAD_CTX_cleanup(&a->ctx); /* wipes the key schedule */
    }
    sodium_memzero(a, sizeof(*a));
}
