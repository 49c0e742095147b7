/* test_pt_aead.c — ChaCha20-Poly1305 through both backends.
 *
 * The two backends must give the same bytes (pt_aead.h promises it; frames
 * sealed by one side's BoringSSL are opened by a peer that may use either),
 * both must match RFC 8439 §2.8.2, in-place operation must work, and every
 * tampering must give PT_ERR_DECRYPT. Random inputs come from libsodium's
 * seeded generator, so every run sees the same bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "pt_aead.h"
#include "pt_err.h"

static const pt_aead_backend BACKENDS[] = {PT_AEAD_BORINGSSL, PT_AEAD_SODIUM};
#define N_BACKENDS 2

/* Deterministic pseudo-random bytes: |tag| selects an independent stream. */
static void det_bytes(uint8_t *out, size_t n, uint32_t tag)
{
    uint8_t seed[randombytes_SEEDBYTES] = {0};
    seed[0] = (uint8_t)tag;
    seed[1] = (uint8_t)(tag >> 8);
    seed[2] = (uint8_t)(tag >> 16);
    seed[3] = (uint8_t)(tag >> 24);
    seed[4] = 0xae;
    if (n) {
        randombytes_buf_deterministic(out, n, seed);
    }
}

static uint8_t *xmalloc(size_t n)
{
    uint8_t *p = malloc(n ? n : 1);
    assert_non_null(p);
    return p;
}

static int setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

/* ---- RFC 8439 §2.8.2 ------------------------------------------------- */

static const char RFC_PT[] = "Ladies and Gentlemen of the class of '99: If I could offer you only "
                             "one tip for the future, sunscreen would be it.";
static const uint8_t RFC_NONCE[12] = {0x07, 0x00, 0x00, 0x00, 0x40, 0x41,
                                      0x42, 0x43, 0x44, 0x45, 0x46, 0x47};
static const uint8_t RFC_AAD[12] = {0x50, 0x51, 0x52, 0x53, 0xc0, 0xc1,
                                    0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7};
static const uint8_t RFC_CT[114] = {
    0xd3, 0x1a, 0x8d, 0x34, 0x64, 0x8e, 0x60, 0xdb, 0x7b, 0x86, 0xaf, 0xbc, 0x53, 0xef, 0x7e,
    0xc2, 0xa4, 0xad, 0xed, 0x51, 0x29, 0x6e, 0x08, 0xfe, 0xa9, 0xe2, 0xb5, 0xa7, 0x36, 0xee,
    0x62, 0xd6, 0x3d, 0xbe, 0xa4, 0x5e, 0x8c, 0xa9, 0x67, 0x12, 0x82, 0xfa, 0xfb, 0x69, 0xda,
    0x92, 0x72, 0x8b, 0x1a, 0x71, 0xde, 0x0a, 0x9e, 0x06, 0x0b, 0x29, 0x05, 0xd6, 0xa5, 0xb6,
    0x7e, 0xcd, 0x3b, 0x36, 0x92, 0xdd, 0xbd, 0x7f, 0x2d, 0x77, 0x8b, 0x8c, 0x98, 0x03, 0xae,
    0xe3, 0x28, 0x09, 0x1b, 0x58, 0xfa, 0xb3, 0x24, 0xe4, 0xfa, 0xd6, 0x75, 0x94, 0x55, 0x85,
    0x80, 0x8b, 0x48, 0x31, 0xd7, 0xbc, 0x3f, 0xf4, 0xde, 0xf0, 0x8e, 0x4b, 0x7a, 0x9d, 0xe5,
    0x76, 0xd2, 0x65, 0x86, 0xce, 0xc6, 0x4b, 0x61, 0x16};
static const uint8_t RFC_TAG[16] = {0x1a, 0xe1, 0x0b, 0x59, 0x4f, 0x09, 0xe2, 0x6a,
                                    0x7e, 0x90, 0x2e, 0xcb, 0xd0, 0x60, 0x06, 0x91};

static void rfc_key(uint8_t key[32])
{
    for (int i = 0; i < 32; i++) {
        key[i] = (uint8_t)(0x80 + i);
    }
}

static void test_rfc8439_vector(void **state)
{
    (void)state;
    const size_t n = sizeof(RFC_PT) - 1;
    assert_int_equal(n, 114);
    uint8_t key[32];
    rfc_key(key);

    for (int b = 0; b < N_BACKENDS; b++) {
        pt_aead a;
        assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);

        /* Out of place. */
        uint8_t *out = xmalloc(n + 16);
        assert_int_equal(
            pt_aead_seal(&a, out, RFC_NONCE, RFC_AAD, sizeof(RFC_AAD), (const uint8_t *)RFC_PT, n),
            PT_ERR_OK);
        assert_memory_equal(out, RFC_CT, n);
        assert_memory_equal(out + n, RFC_TAG, 16);

        uint8_t *pt = xmalloc(n);
        assert_int_equal(pt_aead_open(&a, pt, RFC_NONCE, RFC_AAD, sizeof(RFC_AAD), out, n + 16),
                         PT_ERR_OK);
        assert_memory_equal(pt, RFC_PT, n);

        /* In place. */
        uint8_t *io = xmalloc(n + 16);
        memcpy(io, RFC_PT, n);
        assert_int_equal(pt_aead_seal(&a, io, RFC_NONCE, RFC_AAD, sizeof(RFC_AAD), io, n),
                         PT_ERR_OK);
        assert_memory_equal(io, RFC_CT, n);
        assert_memory_equal(io + n, RFC_TAG, 16);
        assert_int_equal(pt_aead_open(&a, io, RFC_NONCE, RFC_AAD, sizeof(RFC_AAD), io, n + 16),
                         PT_ERR_OK);
        assert_memory_equal(io, RFC_PT, n);

        free(io);
        free(pt);
        free(out);
        pt_aead_cleanup(&a);
    }
}

/* ---- the two backends agree ------------------------------------------ */

static void test_backends_agree(void **state)
{
    (void)state;
    static const size_t sizes[] = {0,     1,     15,    16,    17,    63,    64,    65,
                                   127,   128,   129,   255,   256,   1000,  4095,  4096,
                                   16383, 16384, 16385, 65534, 65535, 65536, 65537, 70000};
    static const size_t ad_lens[] = {0, 1, 2, 12, 13, 64, 300};
    const size_t n_sizes = sizeof(sizes) / sizeof(sizes[0]);

    for (size_t i = 0; i < n_sizes; i++) {
        size_t len = sizes[i];
        size_t ad_len = ad_lens[i % (sizeof(ad_lens) / sizeof(ad_lens[0]))];
        uint8_t key[32], nonce[12];
        uint8_t *ad = xmalloc(ad_len), *pt = xmalloc(len);
        uint8_t *ct[N_BACKENDS];
        det_bytes(key, 32, (uint32_t)(i * 4 + 0));
        det_bytes(nonce, 12, (uint32_t)(i * 4 + 1));
        det_bytes(ad, ad_len, (uint32_t)(i * 4 + 2));
        det_bytes(pt, len, (uint32_t)(i * 4 + 3));

        pt_aead a[N_BACKENDS];
        for (int b = 0; b < N_BACKENDS; b++) {
            assert_int_equal(pt_aead_init(&a[b], BACKENDS[b], key), PT_ERR_OK);
            ct[b] = xmalloc(len + 16);
            assert_int_equal(pt_aead_seal(&a[b], ct[b], nonce, ad, ad_len, pt, len), PT_ERR_OK);
        }
        if (memcmp(ct[0], ct[1], len + 16) != 0) {
            fail_msg("backends disagree at len=%zu ad_len=%zu", len, ad_len);
        }
        /* Cross-open: each backend opens the other's output. */
        for (int b = 0; b < N_BACKENDS; b++) {
            uint8_t *back = xmalloc(len);
            assert_int_equal(pt_aead_open(&a[b], back, nonce, ad, ad_len, ct[1 - b], len + 16),
                             PT_ERR_OK);
            if (len) {
                assert_memory_equal(back, pt, len);
            }
            free(back);
        }
        /* And libsodium's AEAD called directly says the same. */
        uint8_t *ref = xmalloc(len + 16);
        unsigned long long rlen = 0;
        assert_int_equal(crypto_aead_chacha20poly1305_ietf_encrypt(ref, &rlen, pt, len, ad, ad_len,
                                                                   NULL, nonce, key),
                         0);
        assert_int_equal(rlen, len + 16);
        assert_memory_equal(ref, ct[0], len + 16);

        free(ref);
        for (int b = 0; b < N_BACKENDS; b++) {
            pt_aead_cleanup(&a[b]);
            free(ct[b]);
        }
        free(ad);
        free(pt);
    }
}

/* Different nonces and keys give different ciphertexts (the nonce and key
 * are really used). */
static void test_nonce_and_key_matter(void **state)
{
    (void)state;
    uint8_t key[32], key2[32], nonce[12], nonce2[12], pt[64];
    uint8_t c1[80], c2[80], c3[80];
    det_bytes(key, 32, 900);
    memcpy(key2, key, 32);
    key2[31] ^= 1;
    det_bytes(pt, 64, 901);
    pt_aead_nonce(nonce, 5);
    pt_aead_nonce(nonce2, 6);
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_aead a, a2;
        assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);
        assert_int_equal(pt_aead_init(&a2, BACKENDS[b], key2), PT_ERR_OK);
        assert_int_equal(pt_aead_seal(&a, c1, nonce, NULL, 0, pt, 64), PT_ERR_OK);
        assert_int_equal(pt_aead_seal(&a, c2, nonce2, NULL, 0, pt, 64), PT_ERR_OK);
        assert_int_equal(pt_aead_seal(&a2, c3, nonce, NULL, 0, pt, 64), PT_ERR_OK);
        assert_memory_not_equal(c1, c2, 64);
        assert_memory_not_equal(c1, c3, 64);
        assert_memory_not_equal(c1, pt, 64);
        /* Wrong key / wrong nonce: DECRYPT. */
        uint8_t out[64];
        assert_int_equal(pt_aead_open(&a2, out, nonce, NULL, 0, c1, 80), PT_ERR_DECRYPT);
        assert_int_equal(pt_aead_open(&a, out, nonce2, NULL, 0, c1, 80), PT_ERR_DECRYPT);
        assert_int_equal(pt_aead_open(&a, out, nonce, NULL, 0, c1, 80), PT_ERR_OK);
        assert_memory_equal(out, pt, 64);
        pt_aead_cleanup(&a);
        pt_aead_cleanup(&a2);
    }
}

/* ---- in place -------------------------------------------------------- */

static void test_in_place(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 64, 1500, 16384, 65535};
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t len = sizes[i];
        uint8_t key[32], nonce[12], ad[7];
        det_bytes(key, 32, (uint32_t)(100 + i));
        pt_aead_nonce(nonce, i * 1000003u);
        det_bytes(ad, sizeof(ad), (uint32_t)(200 + i));
        uint8_t *pt = xmalloc(len), *ref = xmalloc(len + 16), *io = xmalloc(len + 16);
        det_bytes(pt, len, (uint32_t)(300 + i));
        for (int b = 0; b < N_BACKENDS; b++) {
            pt_aead a;
            assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);
            assert_int_equal(pt_aead_seal(&a, ref, nonce, ad, sizeof(ad), pt, len), PT_ERR_OK);
            if (len) {
                memcpy(io, pt, len);
            }
            assert_int_equal(pt_aead_seal(&a, io, nonce, ad, sizeof(ad), io, len), PT_ERR_OK);
            assert_memory_equal(io, ref, len + 16);
            assert_int_equal(pt_aead_open(&a, io, nonce, ad, sizeof(ad), io, len + 16), PT_ERR_OK);
            if (len) {
                assert_memory_equal(io, pt, len);
            }
            pt_aead_cleanup(&a);
        }
        free(io);
        free(ref);
        free(pt);
    }
}

/* ---- tampering ------------------------------------------------------- */

static void test_tamper(void **state)
{
    (void)state;
    enum { LEN = 100, ADL = 13 };
    uint8_t key[32], nonce[12], ad[ADL], pt[LEN];
    det_bytes(key, 32, 400);
    pt_aead_nonce(nonce, 77);
    det_bytes(ad, ADL, 401);
    memset(pt, 0xa5, LEN);

    for (int b = 0; b < N_BACKENDS; b++) {
        pt_aead a;
        uint8_t ct[LEN + 16], bad[LEN + 16], out[LEN], bad_ad[ADL], bad_nonce[12];
        assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);
        assert_int_equal(pt_aead_seal(&a, ct, nonce, ad, ADL, pt, LEN), PT_ERR_OK);

        /* Every byte of ciphertext and tag, one bit and all bits. */
        for (size_t i = 0; i < LEN + 16; i++) {
            static const uint8_t masks[] = {0x01, 0x80, 0xff};
            for (size_t m = 0; m < 3; m++) {
                memcpy(bad, ct, sizeof(ct));
                bad[i] ^= masks[m];
                memset(out, 0x5a, LEN);
                assert_int_equal(pt_aead_open(&a, out, nonce, ad, ADL, bad, LEN + 16),
                                 PT_ERR_DECRYPT);
                /* "on failure |out| holds no plaintext" */
                assert_memory_not_equal(out, pt, LEN);
                /* In place too. */
                assert_int_equal(pt_aead_open(&a, bad, nonce, ad, ADL, bad, LEN + 16),
                                 PT_ERR_DECRYPT);
                assert_memory_not_equal(bad, pt, LEN);
            }
        }
        /* Every byte of the AD. */
        for (size_t i = 0; i < ADL; i++) {
            memcpy(bad_ad, ad, ADL);
            bad_ad[i] ^= 0x10;
            assert_int_equal(pt_aead_open(&a, out, nonce, bad_ad, ADL, ct, LEN + 16),
                             PT_ERR_DECRYPT);
        }
        /* AD shortened, lengthened, dropped. */
        assert_int_equal(pt_aead_open(&a, out, nonce, ad, ADL - 1, ct, LEN + 16), PT_ERR_DECRYPT);
        assert_int_equal(pt_aead_open(&a, out, nonce, NULL, 0, ct, LEN + 16), PT_ERR_DECRYPT);
        /* Every byte of the nonce. */
        for (size_t i = 0; i < 12; i++) {
            memcpy(bad_nonce, nonce, 12);
            bad_nonce[i] ^= 0x01;
            assert_int_equal(pt_aead_open(&a, out, bad_nonce, ad, ADL, ct, LEN + 16),
                             PT_ERR_DECRYPT);
        }
        /* Truncated ciphertexts, down to below the tag length. */
        static const size_t cuts[] = {LEN + 15, LEN, 17, 16, 15, 1, 0};
        for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
            assert_int_equal(pt_aead_open(&a, out, nonce, ad, ADL, ct, cuts[i]), PT_ERR_DECRYPT);
        }
        /* Still fine untouched. */
        assert_int_equal(pt_aead_open(&a, out, nonce, ad, ADL, ct, LEN + 16), PT_ERR_OK);
        assert_memory_equal(out, pt, LEN);
        pt_aead_cleanup(&a);
    }
}

/* An empty message: the tag alone authenticates the AD. */
static void test_empty_message(void **state)
{
    (void)state;
    uint8_t key[32], nonce[12], ad[2] = {0x12, 0x34};
    det_bytes(key, 32, 500);
    pt_aead_nonce(nonce, 0);
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_aead a;
        uint8_t *tag = xmalloc(16), *out = xmalloc(1);
        assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);
        assert_int_equal(pt_aead_seal(&a, tag, nonce, ad, 2, out, 0), PT_ERR_OK);
        assert_int_equal(pt_aead_open(&a, out, nonce, ad, 2, tag, 16), PT_ERR_OK);
        ad[1] ^= 1;
        assert_int_equal(pt_aead_open(&a, out, nonce, ad, 2, tag, 16), PT_ERR_DECRYPT);
        ad[1] ^= 1;
        pt_aead_cleanup(&a);
        free(out);
        free(tag);
    }
}

/* ---- nonce layout, cleanup ------------------------------------------- */

static void test_nonce_layout(void **state)
{
    (void)state;
    uint8_t n[12];
    static const uint8_t zero[12] = {0};
    static const uint8_t one[12] = {0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0};
    static const uint8_t seq[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
    static const uint8_t max[12] = {0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    static const uint8_t hi[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80};

    memset(n, 0xee, sizeof(n));
    pt_aead_nonce(n, 0);
    assert_memory_equal(n, zero, 12);
    memset(n, 0xee, sizeof(n));
    pt_aead_nonce(n, 1);
    assert_memory_equal(n, one, 12);
    memset(n, 0xee, sizeof(n));
    pt_aead_nonce(n, 0x0102030405060708ULL);
    assert_memory_equal(n, seq, 12);
    memset(n, 0xee, sizeof(n));
    pt_aead_nonce(n, UINT64_MAX);
    assert_memory_equal(n, max, 12);
    memset(n, 0xee, sizeof(n));
    pt_aead_nonce(n, 1ULL << 63);
    assert_memory_equal(n, hi, 12);
}

static void test_cleanup(void **state)
{
    (void)state;
    uint8_t key[32], pt[8] = {0}, ct[24];
    static const uint8_t zero[32] = {0};
    uint8_t nonce[12];
    det_bytes(key, 32, 600);
    pt_aead_nonce(nonce, 0);
    for (int b = 0; b < N_BACKENDS; b++) {
        pt_aead a;
        assert_int_equal(pt_aead_init(&a, BACKENDS[b], key), PT_ERR_OK);
        assert_int_equal(a.ready, 1);
        pt_aead_cleanup(&a);
        assert_int_equal(a.ready, 0);
        assert_memory_equal(a.key, zero, 32); /* the sodium key is wiped */
        /* A cleaned-up AEAD refuses to work. */
        assert_int_not_equal(pt_aead_seal(&a, ct, nonce, NULL, 0, pt, sizeof(pt)), PT_ERR_OK);
        assert_int_not_equal(pt_aead_open(&a, pt, nonce, NULL, 0, ct, sizeof(ct)), PT_ERR_OK);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc8439_vector),
        cmocka_unit_test(test_backends_agree),
        cmocka_unit_test(test_nonce_and_key_matter),
        cmocka_unit_test(test_in_place),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_empty_message),
        cmocka_unit_test(test_nonce_layout),
        cmocka_unit_test(test_cleanup),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
